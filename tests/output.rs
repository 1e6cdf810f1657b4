//! Printing from the user's side: pretty and table alignment by display width, lines cut
//! to the terminal, unknown fields shown, CSV neutralised for spreadsheets, one-line errors
//! and the help sentences that used to be wrong.

mod common;

use common::actlog;
use std::path::Path;
use std::process::Output;

/// A record line with the given user, action and extra JSON members (`"k":"v",…` or "").
fn line(n: u32, user: &str, action: &str, extra: &str) -> String {
    let mut v = serde_json::json!({
        "id": format!("01937c3e-0000-7000-8000-{n:012}"),
        "timestamp": format!("2026-11-20T10:00:{:02}.000Z", n % 60),
        "username": user,
        "action": action,
    });
    if !extra.is_empty() {
        let more: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&format!("{{{extra}}}")).unwrap();
        v.as_object_mut().unwrap().extend(more);
    }
    v.to_string()
}

fn store(lines: &[String]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(t.path().join("activity-2026-11-20.json"), text).unwrap();
    t
}

fn run(dir: &Path, args: &[&str]) -> Output {
    actlog()
        .env_remove("NO_COLOR")
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `actlog` on a pseudo-terminal `cols` wide (util-linux `script`), or `None` if
/// `script` is not available.
fn on_terminal(dir: &Path, cols: u32, args: &str) -> Option<String> {
    let cmd = format!(
        "stty cols {cols} rows 50; {} --dir {} {args}",
        env!("CARGO_BIN_EXE_actlog"),
        dir.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        // A pager would hold the terminal; tests/cli_ux.rs tests paging itself.
        .env("ACTLOG_PAGER", "cat")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"))
}

/// The test's own model of display width, for exactly the characters these tests use:
/// CJK and emoji two columns, combining marks and zero-width characters none.
fn model_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '\u{0300}'..='\u{036f}' | '\u{200b}' | '\u{200d}' | '\u{fe0f}' => 0,
            '\u{4e00}'..='\u{9fff}' | '\u{1f600}'..='\u{1f64f}' | '\u{1f680}' => 2,
            _ => 1,
        })
        .sum()
}

/// Users of known display width: CJK, combining accents, zero-width space, emoji, a tab.
const USERS: [(&str, usize); 7] = [
    ("bob", 3),
    ("李小龙", 6),
    ("e\u{301}le\u{300}ve", 5),
    ("a\u{200b}b", 2),
    ("\u{1f600}x", 3),
    ("tab\there", 9), // shown as `tab\there`
    ("jane.doe@example.com", 20),
];

#[test]
fn pretty_pads_by_display_width_and_never_runs_columns_together() {
    let lines: Vec<String> = USERS
        .iter()
        .enumerate()
        .map(|(i, (u, _))| line(i as u32 + 1, u, "auth.login", ""))
        .chain([line(9, "bob", "billing.subscription.cancelled", "")])
        .collect();
    let mut with_ip: serde_json::Value = serde_json::from_str(&lines[7]).unwrap();
    with_ip["ip_address"] = "2001:db8::1".into();
    let mut lines = lines;
    lines[7] = with_ip.to_string();
    let t = store(&lines);
    let text = stdout(t.path(), &["query", "-o", "pretty", "--color", "never"]);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 8, "{text}");
    for (row, (user, width)) in rows.iter().zip(USERS) {
        let shown = user.replace('\t', "\\t");
        assert_eq!(model_width(&shown), width);
        let rest = row
            .strip_prefix("2026-11-20T10:00:0")
            .and_then(|r| r.get(1..))
            .and_then(|r| r.strip_prefix(".000Z "))
            .unwrap_or_else(|| panic!("{row:?}"));
        let rest = rest
            .strip_prefix(shown.as_str())
            .unwrap_or_else(|| panic!("{row:?}"));
        // USER is 13 columns wide including its separator; a wider value keeps one space.
        let pad = 13usize.saturating_sub(width).max(1);
        assert_eq!(
            rest,
            format!("{}auth.login", " ".repeat(pad)),
            "{user:?} in {row:?}"
        );
    }
    assert!(
        rows[7].contains("billing.subscription.cancelled 2001:db8::1"),
        "{}",
        rows[7]
    );
}

/// Display columns at which each ` | ` separator of a table row starts.
fn separator_columns(row: &str) -> Vec<usize> {
    let mut cols = Vec::new();
    let mut rest = row;
    let mut col = 0;
    while let Some(i) = rest.find(" | ") {
        col += model_width(&rest[..i]);
        cols.push(col);
        col += 3;
        rest = &rest[i + 3..];
    }
    cols
}

#[test]
fn table_columns_line_up_by_display_width_for_every_kind_of_character() {
    let lines: Vec<String> = USERS
        .iter()
        .enumerate()
        .map(|(i, (u, _))| line(i as u32 + 1, u, u, r#""tenant":"李""#))
        .collect();
    let t = store(&lines);
    let text = stdout(t.path(), &["query", "-o", "table", "--color", "never"]);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 1 + USERS.len(), "{text}");
    let header = separator_columns(rows[0]);
    assert_eq!(header.len(), 6, "{}", rows[0]);
    for row in &rows[1..] {
        assert_eq!(separator_columns(row), header, "{text}");
    }
}

#[test]
fn on_a_terminal_long_lines_are_cut_to_its_width_and_json_stays_whole() {
    let long = "x".repeat(300);
    let lines = vec![
        line(1, "李小龙", "auth.login", &format!(r#""note":"{long}""#)),
        line(2, "bob", "auth.login", ""),
    ];
    let t = store(&lines);
    for args in [
        "query -o pretty --color never",
        "query -o pretty --color always",
        "query -o table",
        "tail -o pretty",
    ] {
        let Some(text) = on_terminal(t.path(), 60, args) else {
            eprintln!("skipping: `script` is not available");
            return;
        };
        let plain = strip_ansi(&text);
        assert!(plain.lines().count() >= 2, "{args}: {text:?}");
        for row in plain.lines() {
            assert!(model_width(row) <= 60, "{args}: {row:?} is wider than 60");
        }
        assert!(
            plain
                .lines()
                .any(|l| l.ends_with('…') && model_width(l) == 60),
            "{args}: {plain:?}"
        );
        // Every colour that was opened is closed again, even on a cut line.
        assert_eq!(
            text.matches("\u{1b}[").count(),
            2 * text.matches("\u{1b}[0m").count(),
            "{args}: {text:?}"
        );
    }
    let json = on_terminal(t.path(), 60, "query -o json").unwrap_or_default();
    assert!(json.contains(&long), "{json:?}");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn unknown_fields_are_shown_in_pretty_table_and_csv() {
    let lines = vec![
        line(1, "alice", "auth.login", r#""tenant":"acme","n":3"#),
        line(2, "bob", "auth.login", r#""tenant":"other org""#),
    ];
    let t = store(&lines);
    let pretty = stdout(
        t.path(),
        &[
            "query",
            "--where",
            "tenant=acme",
            "-o",
            "pretty",
            "--color",
            "never",
        ],
    );
    assert_eq!(pretty.lines().count(), 1, "{pretty}");
    assert!(pretty.trim_end().ends_with("tenant=acme n=3"), "{pretty}");
    let table = stdout(t.path(), &["query", "-o", "table"]);
    assert!(
        table.lines().next().unwrap().ends_with("| OTHER FIELDS"),
        "{table}"
    );
    assert!(table.contains("| tenant=acme n=3\n"), "{table}");
    assert!(table.contains(r#"| tenant="other org""#), "{table}");
    let csv = stdout(t.path(), &["query", "-o", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.iter().next_back(), Some("extra"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][7], r#"{"tenant":"acme","n":3}"#);
    assert_eq!(&rows[1][7], r#"{"tenant":"other org"}"#);
}

/// Control characters, ESC sequences, C1, line separators and bidi overrides in every
/// field, the unknown ones (key and value) included.
const HOSTILE: &str = r#"{"id":"01937c3e-0000-7000-8000-000000000001","timestamp":"2026-11-20T10:00:00.000Z","username":"ev\u001b[31me\r\u0007","action":"lo\u001b]0;title\u0007gin\u009b2J","details":{"k\u001b[2J":"v\u202e\u0000\n"},"ip_address":"203.0.113.7","user_agent":"x\u0085y\u2028z\u001bc","te\u001b[2Jnant\u202e":"a\u001b]52;c;aGk=\u0007\u2029b\u0085\t\u2066","x":{"y":"\u001b[5m\u009b"}}"#;

fn has_dangerous(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[test]
fn pretty_and_table_neutralise_unknown_fields_too() {
    let t = store(&[HOSTILE.to_owned()]);
    for format in ["pretty", "table"] {
        let out = stdout(t.path(), &["query", "-o", format, "--color", "never"]);
        assert_eq!(has_dangerous(&out), Vec::<char>::new(), "{format}: {out:?}");
        assert_eq!(out.lines().count(), if format == "table" { 2 } else { 1 });
        assert!(out.contains(r"te\e[2Jnant\u{202e}="), "{format}: {out:?}");
        let coloured = stdout(t.path(), &["query", "-o", format, "--color", "always"]);
        let bad: Vec<char> = has_dangerous(&coloured)
            .into_iter()
            .filter(|&c| c != '\u{1b}')
            .collect();
        assert!(bad.is_empty(), "{format}: {coloured:?}");
        assert_eq!(
            coloured.matches('\u{1b}').count(),
            coloured.matches("\u{1b}[").count(),
            "only colour escapes: {coloured:?}"
        );
        if let Some(text) = on_terminal(t.path(), 400, &format!("query -o {format}")) {
            let bad: Vec<char> = has_dangerous(&text)
                .into_iter()
                .filter(|&c| c != '\u{1b}')
                .collect();
            assert!(bad.is_empty(), "{format} on a terminal: {text:?}");
            assert!(strip_ansi(&text).contains(r"te\e[2Jnant"), "{text:?}");
        }
    }
}

#[test]
fn csv_to_a_file_is_safe_for_spreadsheets_unless_csv_raw() {
    let cells = [
        "=1+2",
        "+cmd",
        "-2+3",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "a\u{1b}[31mb\u{202e}c",
    ];
    let lines: Vec<String> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| line(i as u32 + 1, c, c, &format!("{}:1", serde_json::json!(c))))
        .collect();
    let t = store(&lines);
    let parse = |text: &str| -> Vec<csv::StringRecord> {
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect()
    };
    let safe = parse(&stdout(t.path(), &["query", "-o", "csv"]));
    let raw = parse(&stdout(t.path(), &["query", "-o", "csv", "--csv-raw"]));
    assert_eq!(safe.len(), cells.len());
    for ((cell, safe), raw) in cells.iter().zip(&safe).zip(&raw) {
        let expected = match *cell {
            "\tx" => "'\\tx".to_owned(),
            "\rx" => "'\\rx".to_owned(),
            "a\u{1b}[31mb\u{202e}c" => "a\\e[31mb\\u{202e}c".to_owned(),
            other => format!("'{other}"),
        };
        assert_eq!(&safe[2], expected, "username");
        assert_eq!(&safe[3], expected, "action");
        assert!(!safe[7].starts_with(['=', '+', '-', '@']), "{:?}", &safe[7]);
        assert_eq!(&raw[2], *cell);
        assert_eq!(&raw[3], *cell);
        let extra: serde_json::Value = serde_json::from_str(&raw[7]).unwrap();
        assert_eq!(extra[*cell], 1);
    }
    let counts = stdout(t.path(), &["query", "--count-by", "username", "-o", "csv"]);
    assert!(counts.contains("'=1+2,1"), "{counts:?}");
    assert!(!counts.contains('\u{1b}'), "{counts:?}");
    let raw_counts = stdout(
        t.path(),
        &["query", "--count-by", "username", "-o", "csv", "--csv-raw"],
    );
    assert!(raw_counts.contains("\n=1+2,1") || raw_counts.starts_with("=1+2,1"));
}

/// Runs a failing command and returns its stderr, checking exit 2, exactly one line and
/// no phrase said twice.
fn one_error(cmd: &mut std::process::Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{what}: {err:?}");
    assert_eq!(err.lines().count(), 1, "{what}: one line: {err:?}");
    assert!(
        err.starts_with("actlog: ") && err.ends_with('\n'),
        "{what}: {err:?}"
    );
    let msg = err.trim_end();
    let parts: Vec<&str> = msg.split(": ").map(str::trim).collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(p),
            "{what}: {p:?} twice in {err:?}"
        );
    }
    let chars: Vec<char> = msg.chars().collect();
    const RUN: usize = 16;
    for i in 0..chars.len().saturating_sub(RUN) {
        let needle: String = chars[i..i + RUN].iter().collect();
        let after: String = chars[i + RUN..].iter().collect();
        assert!(
            !after.contains(&needle),
            "{what}: {needle:?} twice in {err:?}"
        );
    }
    err
}

#[test]
fn every_error_is_one_line_naming_its_cause_once() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let empty_token = t.path().join("empty-token");
    std::fs::write(&empty_token, "  \n").unwrap();
    let long_user = "u".repeat(300);
    let a = || actlog();
    let cases: Vec<(&str, std::process::Command, &str)> = vec![
        (
            "missing dir",
            {
                let mut c = a();
                c.args(["--dir", "/nonexistent/actlog", "query"]);
                c
            },
            "No such file or directory",
        ),
        (
            "file as dir",
            {
                let mut c = a();
                c.arg("--dir").arg(&file).arg("query");
                c
            },
            "Not a directory",
        ),
        (
            "file as dir, stats",
            {
                let mut c = a();
                c.arg("--dir").arg(&file).arg("stats");
                c
            },
            "Not a directory",
        ),
        (
            "file as dir, verify",
            {
                let mut c = a();
                c.arg("--dir").arg(&file).arg("verify");
                c
            },
            "Not a directory",
        ),
        (
            "bad --limit",
            {
                let mut c = a();
                c.args(["query", "--limit", "x"]);
                c
            },
            "--limit",
        ),
        (
            "unknown flag",
            {
                let mut c = a();
                c.args(["query", "--bogus"]);
                c
            },
            "--bogus",
        ),
        (
            "bad -o",
            {
                let mut c = a();
                c.args(["query", "-o", "xml"]);
                c
            },
            "xml",
        ),
        (
            "missing --action",
            {
                let mut c = a();
                c.arg("--dir").arg(t.path()).args(["append", "--user", "a"]);
                c
            },
            "--action",
        ),
        (
            "bad --keep-days",
            {
                let mut c = a();
                c.args(["maintain", "--keep-days", "lots"]);
                c
            },
            "--keep-days",
        ),
        (
            "bad --since",
            {
                let mut c = a();
                c.arg("--dir")
                    .arg(t.path())
                    .args(["query", "--since", "garbage"]);
                c
            },
            "--since",
        ),
        (
            "bad --poll",
            {
                let mut c = a();
                c.arg("--dir")
                    .arg(t.path())
                    .args(["tail", "-f", "--poll", "x"]);
                c
            },
            "--poll",
        ),
        (
            "bad --details",
            {
                let mut c = a();
                c.arg("--dir").arg(t.path()).args([
                    "append",
                    "--user",
                    "a",
                    "--action",
                    "b",
                    "--details",
                    "{",
                ]);
                c
            },
            "--details",
        ),
        (
            "array --details",
            {
                let mut c = a();
                c.arg("--dir").arg(t.path()).args([
                    "append",
                    "--user",
                    "a",
                    "--action",
                    "b",
                    "--details",
                    "[1]",
                ]);
                c
            },
            "details",
        ),
        (
            "bad --ip",
            {
                let mut c = a();
                c.arg("--dir")
                    .arg(t.path())
                    .args(["append", "--user", "a", "--action", "b", "--ip", "1.2.3"]);
                c
            },
            "--ip",
        ),
        (
            "too-long username",
            {
                let mut c = a();
                c.arg("--dir")
                    .arg(t.path())
                    .args(["append", "--user", &long_user, "--action", "b"]);
                c
            },
            "username",
        ),
        (
            "bad --now",
            {
                let mut c = a();
                c.args(["--now", "soon", "query"]);
                c
            },
            "--now",
        ),
        (
            "empty token file",
            {
                let mut c = a();
                c.arg("--dir")
                    .arg(t.path())
                    .arg("serve")
                    .arg("--token-file")
                    .arg(&empty_token);
                c
            },
            "the token file is empty",
        ),
        (
            "missing token file",
            {
                let mut c = a();
                c.arg("--dir")
                    .arg(t.path())
                    .arg("serve")
                    .arg("--token-file")
                    .arg(t.path().join("none"));
                c
            },
            "No such file or directory",
        ),
    ];
    for (what, mut cmd, names) in cases {
        let err = one_error(&mut cmd, what);
        assert!(err.contains(names), "{what}: {err:?} should name {names:?}");
    }
    // A store the user may not read (the tests run as root; drop to nobody).
    let locked = t.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(
        locked.join("activity-2026-11-20.json"),
        line(1, "a", "b", "") + "\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_actlog"))
            .arg("--dir")
            .arg(&locked)
            .args(args)
            .env_remove("ACTLOG_DIR");
        c
    };
    let probe = as_nobody(&["stats"]).output();
    if probe.is_err() || unsafe_is_not_root() {
        eprintln!("skipping the unreadable-store case: cannot run as nobody");
        return;
    }
    for args in [&["query"][..], &["stats"], &["verify"], &["tail"]] {
        let err = one_error(&mut as_nobody(args), &format!("unreadable store, {args:?}"));
        assert!(err.contains("Permission denied"), "{err:?}");
    }
}

/// Whether the tests run as someone other than root (then `setpriv` cannot switch user).
fn unsafe_is_not_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() != "0")
        .unwrap_or(true)
}

fn help(args: &[&str]) -> String {
    let out = actlog().args(args).arg("--help").output().unwrap();
    assert!(out.status.success());
    // clap wraps long help; compare words, not line breaks.
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn help_says_what_is_true() {
    let stats = help(&["stats"]);
    assert!(
        stats.contains("json (one object: days and total)"),
        "{stats}"
    );
    assert!(!stats.contains("one object per line"), "{stats}");
    assert!(help(&["verify"]).contains("json (one object per line)"));
    let maintain = help(&["maintain"]);
    assert!(maintain.contains("--now <TIME>"), "{maintain}");
    let query = help(&["query"]);
    assert!(!query.contains("oldest first"), "{query}");
    assert!(
        query.contains(
            "stored order: days ascending; within a day the compressed file first, then the plain file; within a file, line order"
        ),
        "{query}"
    );
    assert!(query.contains("--csv-raw"), "{query}");
    let tail = help(&["tail"]);
    assert!(
        tail.contains("last N matching records, in stored order"),
        "{tail}"
    );
    assert!(tail.contains("--csv-raw"), "{tail}");
    let demo = help(&["demo"]);
    assert!(demo.contains("for demo: ./demo-logs"), "{demo}");
}

/// The order `query --help` promises, checked: a late append for 12:00 prints after 23:55.
#[test]
fn query_prints_in_stored_order_as_its_help_says() {
    let mut late: serde_json::Value = serde_json::from_str(&line(2, "b", "late", "")).unwrap();
    late["timestamp"] = "2026-11-20T12:00:00.000Z".into();
    let mut first: serde_json::Value = serde_json::from_str(&line(1, "a", "first", "")).unwrap();
    first["timestamp"] = "2026-11-20T23:55:00.000Z".into();
    let t = store(&[first.to_string(), late.to_string()]);
    let text = stdout(t.path(), &["query", "-o", "json"]);
    let actions: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(actions, [r#""first""#, r#""late""#]);
}
