//! The reports a person reads, through the binary: verify's new problem kinds and its
//! summary, stats' sizes, maintain's wording and refusals, and the progress bar only on
//! a terminal.

mod common;

use common::actlog;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn run(dir: &Path, args: &[&str]) -> Output {
    actlog().arg("--dir").arg(dir).args(args).output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn line(n: u32, ts: &str) -> String {
    format!(
        r#"{{"id":"01937c3e-0000-7000-8000-{n:012}","timestamp":"{ts}","username":"u{n}","action":"a"}}"#
    )
}

fn write_day(dir: &Path, day: &str, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    let path = dir.join(format!("activity-{day}.json"));
    std::fs::write(&path, text).unwrap();
    // The mode writers create day files with, so verify finds nothing else to report.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
}

#[test]
fn verify_names_duplicate_ids_records_of_another_day_and_non_canonical_timestamps() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write_day(
        d,
        "2026-11-20",
        &[
            line(1, "2026-11-20T10:00:00.000Z"),
            line(2, "2026-11-20T11:00:00.000Z"),
        ],
    );
    let clean = run(d, &["verify"]);
    assert_eq!(clean.status.code(), Some(0), "{}", err(&clean));
    assert!(
        err(&clean).contains("1 day, 2 records") && err(&clean).contains("0 problems"),
        "{}",
        err(&clean)
    );
    write_day(
        d,
        "2026-11-21",
        &[
            line(1, "2026-11-21T09:00:00.000Z"), // id of 2026-11-20's first line
            line(3, "2026-11-20T23:00:00.000Z"), // stamped the day before its file
            line(4, "2026-11-21T09:30:00Z"),     // no milliseconds
            line(5, "2026-11-21T10:30:00.000+00:00"), // an offset, not Z
            line(6, "2026-11-21T11:00:00.000Z"),
        ],
    );
    let bad = run(d, &["verify", "-o", "json"]);
    assert_eq!(bad.status.code(), Some(1), "{}", err(&bad));
    let problems: Vec<Value> = out(&bad)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, u64)> = problems
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["line"].as_u64().unwrap_or(0)))
        .collect();
    for want in [
        ("duplicate-id", 1),
        ("wrong-day", 2),
        ("non-canonical-timestamp", 3),
        ("non-canonical-timestamp", 4),
    ] {
        assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
    }
    assert!(!kinds.iter().any(|k| k.1 == 5), "line 5 is fine: {kinds:?}");
    assert_eq!(problems.len(), 4, "{kinds:?}");
    let text = run(d, &["verify"]);
    assert_eq!(text.status.code(), Some(1));
    let stdout = out(&text);
    assert!(
        stdout.contains("activity-2026-11-20.json:1"),
        "the first copy is named: {stdout}"
    );
    // Each kind found comes with what to do about it.
    for kind in ["duplicate id", "another day"] {
        assert!(
            err(&text)
                .lines()
                .any(|l| l.starts_with("hint:") && l.contains(kind)),
            "{kind}: {}",
            err(&text)
        );
    }
}

#[test]
fn stats_and_maintain_speak_in_units_and_refuse_bad_values_about_the_value() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write_day(d, "2026-11-20", &[line(1, "2026-11-20T10:00:00.000Z")]);
    let stats = run(d, &["stats"]);
    assert!(out(&stats).contains("1 day "), "{}", out(&stats));
    let json: Value = serde_json::from_str(&out(&run(d, &["stats", "-o", "json"]))).unwrap();
    let json_bytes = json["total"]["json_bytes"].as_u64().unwrap();
    assert_eq!(
        json_bytes,
        std::fs::metadata(d.join("activity-2026-11-20.json"))
            .unwrap()
            .len()
    );
    for bad in ["-1", "x", "1.5"] {
        let o = run(d, &["maintain", "--keep-days", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            err(&o).contains("whole number of days"),
            "{bad}: {}",
            err(&o)
        );
        assert!(!err(&o).contains("unexpected argument"), "{}", err(&o));
    }
    for bad in ["20X", "-5G", "G", ""] {
        let o = run(d, &["maintain", "--max-bytes", bad, "--dry-run"]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", err(&o));
        assert!(err(&o).contains("--max-bytes"), "{bad:?}: {}", err(&o));
    }
    let nothing = run(
        d,
        &[
            "--now",
            "2026-11-20T12:00:00Z",
            "maintain",
            "--max-bytes",
            "20G",
        ],
    );
    assert_eq!(nothing.status.code(), Some(0), "{}", err(&nothing));
    assert!(
        out(&nothing).starts_with("nothing to do"),
        "{}",
        out(&nothing)
    );
    // 100 bytes is less than the day holds: an old day would be deleted, in the future tense.
    let dry = run(
        d,
        &[
            "--now",
            "2026-11-25T12:00:00Z",
            "maintain",
            "--max-bytes",
            "0.0001K",
            "--dry-run",
        ],
    );
    assert!(out(&dry).contains("would "), "{}{}", out(&dry), err(&dry));
    assert!(d.join("activity-2026-11-20.json").exists());
    let done = run(d, &["--now", "2026-11-25T12:00:00Z", "maintain"]);
    assert!(out(&done).contains("compressed"), "{}", out(&done));
    assert!(!out(&done).contains("would"), "{}", out(&done));
}

/// Runs `actlog` with stderr on a pseudo-terminal and stdout to a file, so the bar (on
/// stderr) and the report can be told apart; `None` where `script` is missing.
fn with_terminal_stderr(dir: &Path, args: &str) -> Option<(String, String)> {
    let report = dir
        .join("..")
        .join(format!("report-{}.txt", std::process::id()));
    let cmd = format!(
        "{} --dir {} {args} > {}",
        env!("CARGO_BIN_EXE_actlog"),
        dir.display(),
        report.display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .ok()?;
    let stdout = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    Some((String::from_utf8_lossy(&o.stdout).into_owned(), stdout))
}

#[test]
fn progress_is_drawn_on_a_terminal_only_and_never_changes_the_report() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("logs");
    std::fs::create_dir(&d).unwrap();
    for day in 1..=9 {
        write_day(
            &d,
            &format!("2026-11-0{day}"),
            &[line(day, &format!("2026-11-0{day}T10:00:00.000Z"))],
        );
    }
    for cmd in ["verify", "stats --bytes"] {
        let Some((terminal, report)) = with_terminal_stderr(&d, cmd) else {
            println!("skipped: util-linux script is not installed");
            return;
        };
        assert!(terminal.contains("days"), "{cmd}: no bar in {terminal:?}");
        assert!(
            terminal.contains('\u{1b}'),
            "{cmd}: the bar is drawn: {terminal:?}"
        );
        let piped = run(&d, &cmd.split(' ').collect::<Vec<_>>());
        assert_eq!(
            out(&piped),
            report,
            "{cmd}: the report is the same with a bar"
        );
        assert!(!err(&piped).contains('\u{1b}'), "{cmd}: no bar when piped");
        let (quiet, _) = with_terminal_stderr(&d, &format!("-q {cmd}")).unwrap();
        assert!(!quiet.contains("[="), "{cmd} -q: {quiet:?}");
    }
}
