//! The command line as a person lives with it, driven through the binary: completions and
//! manual pages that list every flag `--help` lists, `--fields` against a model,
//! `-o json-pretty`, time zones against `date(1)`, the pager on a pseudo-terminal, and
//! `-q`.

mod common;

use common::actlog;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

fn run(dir: &Path, args: &[&str]) -> Output {
    actlog().arg("--dir").arg(dir).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    text(&out)
}

/// Writes `lines` as they are into the day files their timestamps name.
fn store(lines: &[String]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let day = &v["timestamp"].as_str().unwrap()[..10];
        let path = t.path().join(format!("activity-{day}.json"));
        let mut old = std::fs::read_to_string(&path).unwrap_or_default();
        old.push_str(line);
        old.push('\n');
        std::fs::write(path, old).unwrap();
    }
    t
}

/// The subcommands `actlog --help` lists (but `help`).
fn subcommands() -> Vec<String> {
    let help = ok(Path::new("."), &["--help"]);
    let section = help.split("Commands:").nth(1).unwrap();
    let section = section.split("\n\n").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|&w| w != "help")
        .map(str::to_owned)
        .collect()
}

/// The long flags (`since`) and short ones (`S`) a subcommand's `--help` lists.
fn flags(sub: &str) -> (BTreeSet<String>, BTreeSet<char>) {
    let help = ok(Path::new("."), &[sub, "--help"]);
    let re = regex::Regex::new(r"(?m)^\s+(?:-([A-Za-z]), )?--([a-z][a-z0-9-]*)").unwrap();
    let mut long = BTreeSet::new();
    let mut short = BTreeSet::new();
    for c in re.captures_iter(&help) {
        long.insert(c[2].to_owned());
        if let Some(s) = c.get(1) {
            short.insert(s.as_str().chars().next().unwrap());
        }
    }
    assert!(
        long.contains("help") && long.contains("dir"),
        "{sub}: {help}"
    );
    (long, short)
}

#[test]
fn every_subcommand_and_flag_is_in_the_man_pages_and_every_completion_script() {
    let subs = subcommands();
    for wanted in [
        "append",
        "query",
        "tail",
        "maintain",
        "verify",
        "stats",
        "demo",
        "serve",
        "probe",
        "completions",
        "man",
        "export",
    ] {
        assert!(subs.iter().any(|s| s == wanted), "{wanted} not in --help");
    }
    let here = Path::new(".");
    let main_page = ok(here, &["man"]).replace("\\-", "-");
    let scripts: Vec<(&str, String)> = ["bash", "zsh", "fish", "elvish", "powershell"]
        .into_iter()
        .map(|shell| (shell, ok(here, &["completions", shell])))
        .collect();
    for sub in &subs {
        assert!(
            main_page.contains(&format!("actlog-{sub}")),
            "{sub} not on the main page"
        );
        let page = ok(here, &["man", sub]).replace("\\-", "-");
        assert!(
            page.contains(&format!(".TH actlog-{sub} 1")),
            "{sub}: {page}"
        );
        let (long, short) = flags(sub);
        for flag in &long {
            assert!(
                page.contains(&format!("--{flag}")),
                "man {sub}: no --{flag}"
            );
        }
        for s in &short {
            assert!(page.contains(&format!("-{s}")), "man {sub}: no -{s}");
        }
        // fish and bash are checked per subcommand, the others for each flag at all.
        let fish = &scripts[2].1;
        let fish_sub: String = fish
            .lines()
            // A subcommand with subcommands of its own (export) has `; and not …` after it.
            .filter(|l| {
                l.contains(&format!("__fish_actlog_using_subcommand {sub}\""))
                    || l.contains(&format!("__fish_actlog_using_subcommand {sub};"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let bash = &scripts[0].1;
        let bash_opts = bash
            .split(&format!("actlog__subcmd__{sub})"))
            .nth(1)
            .and_then(|rest| rest.lines().find(|l| l.trim_start().starts_with("opts=")))
            .unwrap_or_else(|| panic!("bash: no options for {sub}"));
        for flag in long.iter().filter(|f| *f != "help") {
            assert!(
                fish_sub.contains(&format!("-l {flag}")),
                "fish {sub}: no --{flag}"
            );
            assert!(
                bash_opts.contains(&format!("--{flag} "))
                    || bash_opts.contains(&format!("--{flag}\"")),
                "bash {sub}: no --{flag} in {bash_opts}"
            );
            for (shell, script) in scripts
                .iter()
                .filter(|s| ["zsh", "elvish", "powershell"].contains(&s.0))
            {
                assert!(
                    script.contains(&format!("--{flag}")),
                    "{shell}: no --{flag}"
                );
            }
        }
        for s in &short {
            assert!(fish_sub.contains(&format!("-s {s}")), "fish {sub}: no -{s}");
            assert!(bash_opts.contains(&format!("-{s} ")), "bash {sub}: no -{s}");
        }
    }
    let t = tempfile::tempdir().unwrap();
    let out = run(here, &["man", "--out-dir", t.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut written: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let mut expected: Vec<String> = subs.iter().map(|s| format!("actlog-{s}.1")).collect();
    expected.push("actlog.1".into());
    // A nested subcommand has its own page, with its own flags.
    expected.push("actlog-export-postgres.1".into());
    expected.sort();
    assert_eq!(written, expected);
    let nested = ok(here, &["man", "export-postgres"]).replace("\\-", "-");
    for flag in [
        "--url",
        "--create-schema",
        "--table",
        "--batch",
        "--source",
        "--follow",
        "--since",
    ] {
        assert!(nested.contains(flag), "man export-postgres: no {flag}");
    }
    let bad = run(here, &["man", "nosuch"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("no such subcommand"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(stderr(&bad).lines().count(), 1);
}

/// The UTC day a record line's timestamp names.
fn day_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["timestamp"].as_str().unwrap()[..10].to_owned()
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Numbers spelled as no serializer would: they must come back exactly so.
const NUMBERS: [&str; 6] = ["1.50", "1e2", "-0", "100000000000000000001", "7", "0.1"];
const USERS: [&str; 6] = ["alice", "zoë", "李小龙", "a,b\"c", "=cmd", "tab\there"];
const IPS: [&str; 5] = [
    "203.0.113.7",
    "::ffff:203.0.113.9",
    "2001:DB8::1",
    "2001:0db8:0:0:0:0:0:2",
    "10.0.0.1",
];

/// Random record lines written as text, with odd number and address spellings,
/// non-ASCII, nested and unknown fields.
fn random_lines(rng: &mut fastrand::Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut line = format!(
                "{{\"id\":\"01937c3e-0000-7000-8000-{i:012}\",\"timestamp\":\"2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"username\":{},\"action\":{}",
                20 + rng.usize(0..3),
                rng.usize(0..24),
                rng.usize(0..60),
                rng.usize(0..60),
                rng.usize(0..1000),
                js(USERS[rng.usize(0..USERS.len())]),
                js(["report.view", "auth.login", "café.order"][rng.usize(0..3)]),
            );
            if rng.bool() {
                let mut members = Vec::new();
                if rng.bool() {
                    members.push(format!("\"reportId\":{}", js(&format!("r-{}", rng.u32(0..99)))));
                }
                if rng.bool() {
                    members.push(format!("\"n\":{}", NUMBERS[rng.usize(0..NUMBERS.len())]));
                }
                if rng.bool() {
                    members.push(format!(
                        "\"deep\":{{\"a\":{},\"b\":[1,{}]}}",
                        NUMBERS[rng.usize(0..NUMBERS.len())],
                        js("x")
                    ));
                }
                if rng.bool() {
                    members.push(format!("\"ключ\":{}", js("значение")));
                }
                line.push_str(&format!(",\"details\":{{{}}}", members.join(",")));
            }
            if rng.bool() {
                line.push_str(&format!(",\"ip_address\":{}", js(IPS[rng.usize(0..IPS.len())])));
            }
            if rng.bool() {
                line.push_str(&format!(",\"user_agent\":{}", js("Mozilla/5.0 (X11; Linux)")));
            }
            if rng.bool() {
                line.push_str(&format!(
                    ",\"tenant\":{{\"x\":{},\"y\":null}}",
                    NUMBERS[rng.usize(0..NUMBERS.len())]
                ));
            }
            line.push('}');
            line
        })
        .collect()
}

const PATHS: [&str; 16] = [
    "id",
    "timestamp",
    "username",
    "action",
    "details",
    "details.reportId",
    "details.n",
    "details.deep",
    "details.deep.a",
    "details.ключ",
    "ip_address",
    "user_agent",
    "tenant",
    "tenant.x",
    "nope",
    "details.nope.deeper",
];

/// The model of `-o json --fields`: the stored object with just the named paths, nested
/// as stored, in the order named, a whole object winning over its parts.
fn model_pick(stored: &Value, paths: &[&str]) -> Value {
    let mut out = Value::Object(Map::new());
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        let Some(found) = parts.iter().try_fold(stored, |v, k| v.get(*k)) else {
            continue;
        };
        let mut slot = &mut out;
        for (i, key) in parts.iter().enumerate() {
            let Value::Object(map) = slot else { break };
            if i + 1 == parts.len() {
                map.insert((*key).to_owned(), found.clone());
                break;
            }
            slot = map
                .entry((*key).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    out
}

/// The canonical text of an address, as `--count-by` and CSV show it.
fn canonical(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        v4 => v4.to_string(),
    }
}

/// The model of a CSV cell: strings as they are, other values as compact JSON, the
/// address canonical, a missing field empty.
fn model_cell(stored: &Value, path: &str) -> String {
    let found = path.split('.').try_fold(stored, |v, k| v.get(k));
    match (path, found) {
        (_, None) => String::new(),
        ("ip_address", Some(Value::String(s))) => canonical(s),
        (_, Some(Value::String(s))) => s.clone(),
        (_, Some(other)) => other.to_string(),
    }
}

#[test]
fn fields_print_exactly_what_a_model_picks_in_json_and_csv() {
    let mut rng = fastrand::Rng::with_seed(13);
    let lines = random_lines(&mut rng, 300);
    let t = store(&lines);
    let stored: Vec<Value> = {
        // Stored order: days ascending, then line order; the test's lines are sorted so.
        let mut by_day: Vec<(String, usize)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (day_of(l), i))
            .collect();
        by_day.sort();
        by_day
            .into_iter()
            // The store's own exact parser: serde_json alone respells `1e2` as `1e+2`.
            .map(|(_, i)| actlog::record::parse_json(&lines[i]).unwrap())
            .collect()
    };
    for round in 0..12 {
        let n = 1 + rng.usize(0..6);
        let paths: Vec<&str> = (0..n).map(|_| PATHS[rng.usize(0..PATHS.len())]).collect();
        let list = paths.join(",");
        let json = ok(t.path(), &["query", "-o", "json", "--fields", &list]);
        let got: Vec<&str> = json.lines().collect();
        assert_eq!(got.len(), stored.len(), "round {round}");
        for (got, v) in got.iter().zip(&stored) {
            let expected = serde_json::to_string(&model_pick(v, &paths)).unwrap();
            assert_eq!(*got, expected, "round {round}: --fields {list}");
        }

        let csv = ok(
            t.path(),
            &["query", "-o", "csv", "--csv-raw", "--fields", &list],
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, paths, "round {round}");
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        let expected: Vec<Vec<String>> = stored
            .iter()
            .map(|v| paths.iter().map(|p| model_cell(v, p)).collect())
            .collect();
        for (row, want) in rows.iter().zip(&expected) {
            assert_eq!(row, want, "round {round}: --fields {list}");
        }
        assert_eq!(rows.len(), expected.len());
    }
    // Without --fields, -o json is the stored lines, byte for byte.
    let all = ok(t.path(), &["query", "-o", "json"]);
    let mut sorted = lines.clone();
    sorted.sort_by_key(|l| day_of(l));
    assert_eq!(all.lines().collect::<Vec<_>>(), sorted);
}

#[test]
fn fields_choose_the_columns_of_pretty_and_table_in_order() {
    let line = r#"{"id":"01937c3e-0000-7000-8000-000000000001","timestamp":"2026-11-20T10:00:00.000Z","username":"zoë","action":"report.view","details":{"reportId":"r-1","n":1.50},"ip_address":"::ffff:203.0.113.7","tenant":"acme"}"#;
    let t = store(&[line.to_owned()]);
    let list = "details.n,username,tenant,ip_address,details.missing";
    let table = ok(t.path(), &["query", "-o", "table", "--fields", list]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec![
                "details.n",
                "username",
                "tenant",
                "ip_address",
                "details.missing"
            ],
            vec!["1.50", "zoë", "acme", "203.0.113.7", ""],
        ]
    );
    let pretty = ok(
        t.path(),
        &[
            "query", "-o", "pretty", "--color", "never", "--fields", list,
        ],
    );
    let words: Vec<&str> = pretty.split_whitespace().collect();
    assert_eq!(words, ["1.50", "zoë", "acme", "203.0.113.7"], "{pretty:?}");
    // The default table names the zone of its timestamps.
    let table = ok(t.path(), &["query", "-o", "table"]);
    assert!(table.starts_with("TIMESTAMP (UTC) "), "{table}");
    for bad in ["", "a,,b", "details.", ".x"] {
        let out = run(t.path(), &["query", "--fields", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            stderr(&out).contains("--fields"),
            "{bad:?}: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1);
    }
}

#[test]
fn json_pretty_is_the_stored_objects_indented_with_numbers_as_written() {
    let mut rng = fastrand::Rng::with_seed(7);
    let lines = random_lines(&mut rng, 40);
    let t = store(&lines);
    let out = ok(t.path(), &["query", "-o", "json-pretty"]);
    assert!(out.lines().count() > 40 * 4, "{out}");
    let values: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    let compact = ok(t.path(), &["query", "-o", "json"]);
    let stored: Vec<Value> = compact
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Same objects, same key order, same number spellings.
    let a: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    let b: Vec<String> = stored.iter().map(|v| v.to_string()).collect();
    assert_eq!(a, b);
    assert!(out.contains("1.50") || out.contains("1e2") || out.contains("100000000000000000001"));
    let picked = ok(
        t.path(),
        &["query", "-o", "json-pretty", "--fields", "username"],
    );
    assert!(picked.starts_with("{\n  \"username\": "), "{picked}");
    let counts = ok(
        t.path(),
        &["query", "-o", "json-pretty", "--count-by", "action"],
    );
    let counts: Vec<Value> = serde_json::Deserializer::from_str(&counts)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        counts
            .iter()
            .map(|c| c["count"].as_u64().unwrap())
            .sum::<u64>(),
        40
    );
}

/// `ts` (RFC 3339 UTC with milliseconds) as `date(1)` shows it in `zone`, with offset.
fn date_in(zone: &str, ts: &str) -> String {
    let out = std::process::Command::new("date")
        .env("TZ", zone)
        .args(["-d", &ts[..19].replace('T', " "), "-u", "+%s"])
        .output()
        .unwrap();
    let secs = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = std::process::Command::new("date")
        .env("TZ", zone)
        .args(["-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S.MS%:z"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .replace("MS", &ts[20..23])
}

#[test]
fn timezones_show_pretty_and_table_times_with_their_offset_as_date_does_and_leave_json_in_utc() {
    if date_in("Europe/Berlin", "2026-07-01T12:00:00.000Z") != "2026-07-01T14:00:00.000+02:00" {
        println!("skipped: date(1) has no time zone data here (install tzdata)");
        return;
    }
    let mut rng = fastrand::Rng::with_seed(3);
    // Around both of Europe's 2026 clock changes, and anywhere else.
    let stamps: Vec<String> = (0..60)
        .map(|i| {
            let day = match i % 3 {
                0 => "2026-03-29",
                1 => "2026-10-25",
                _ => ["2026-01-15", "2026-06-30", "2026-12-31"][rng.usize(0..3)],
            };
            format!(
                "{day}T{:02}:{:02}:{:02}.{:03}Z",
                rng.usize(0..4),
                rng.usize(0..60),
                rng.usize(0..60),
                rng.usize(0..1000)
            )
        })
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    let lines: Vec<String> = sorted
        .iter()
        .enumerate()
        .map(|(i, ts)| {
            format!(
                r#"{{"id":"01937c3e-0000-7000-8000-{i:012}","timestamp":"{ts}","username":"u","action":"a"}}"#
            )
        })
        .collect();
    let t = store(&lines);
    for zone in [
        "Europe/Berlin",
        "America/St_Johns",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
    ] {
        let expected: Vec<String> = sorted.iter().map(|ts| date_in(zone, ts)).collect();
        let table = ok(
            t.path(),
            &["query", "-o", "table", "--fields", "timestamp", "-Z", zone],
        );
        let mut rows = table.lines();
        assert_eq!(rows.next().unwrap().trim(), format!("timestamp ({zone})"));
        assert_eq!(rows.map(str::trim).collect::<Vec<_>>(), expected, "{zone}");
        // --local takes the machine's zone from TZ.
        let local = actlog()
            .env("TZ", zone)
            .arg("--dir")
            .arg(t.path())
            .args([
                "query",
                "-o",
                "pretty",
                "--color",
                "never",
                "--fields",
                "timestamp",
                "--local",
            ])
            .output()
            .unwrap();
        let shown: Vec<String> = text(&local).lines().map(|l| l.trim().to_owned()).collect();
        assert_eq!(shown, expected, "--local with TZ={zone}");
        // JSON and CSV are data: UTC as stored.
        let json = ok(t.path(), &["query", "-o", "json", "-Z", zone]);
        assert_eq!(json.lines().collect::<Vec<_>>(), lines);
        let csv = ok(
            t.path(),
            &["query", "-o", "csv", "--fields", "timestamp", "-Z", zone],
        );
        assert_eq!(csv.lines().skip(1).collect::<Vec<_>>(), sorted);
    }
    // TIME arguments stay UTC whatever zone the output is shown in.
    let window = [
        "query",
        "-o",
        "json",
        "-S",
        "2026-03-29 01:00",
        "-U",
        "2026-03-29 02:00",
    ];
    let in_utc = ok(t.path(), &window);
    let mut zoned = window.to_vec();
    zoned.extend(["-Z", "Asia/Kathmandu"]);
    assert_eq!(ok(t.path(), &zoned), in_utc);
    assert!(
        in_utc
            .lines()
            .all(|l| l.contains("\"timestamp\":\"2026-03-29T01:")),
        "{in_utc}"
    );
    // UTC stays marked by its Z.
    let utc = ok(
        t.path(),
        &[
            "query",
            "-o",
            "pretty",
            "--fields",
            "timestamp",
            "-Z",
            "UTC",
        ],
    );
    assert_eq!(utc.lines().map(str::trim).collect::<Vec<_>>(), sorted);
    let bad = run(t.path(), &["query", "-Z", "Mars/Olympus_Mons"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown time zone"),
        "{}",
        stderr(&bad)
    );
    let both = run(t.path(), &["query", "-Z", "UTC", "--local"]);
    assert_eq!(both.status.code(), Some(2));
}

/// Runs `actlog` on a pseudo-terminal (util-linux `script`) with `env` set, or `None`
/// where `script` is missing.
fn on_terminal(dir: &Path, env: &[(&str, &str)], args: &str) -> Option<(String, i32)> {
    let cmd = format!(
        "stty cols 200 rows 50; {} --dir {} {args}",
        env!("CARGO_BIN_EXE_actlog"),
        dir.display()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("PAGER")
        .env_remove("ACTLOG_PAGER")
        .env_remove("LESS");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().ok()?;
    Some((
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        out.status.code().unwrap_or(-1),
    ))
}

fn three_records() -> tempfile::TempDir {
    let lines: Vec<String> = (1..=3)
        .map(|i| {
            format!(
                r#"{{"id":"01937c3e-0000-7000-8000-{i:012}","timestamp":"2026-11-20T10:00:0{i}.000Z","username":"user{i}","action":"a"}}"#
            )
        })
        .collect();
    store(&lines)
}

#[test]
fn on_a_terminal_output_goes_through_the_pager_and_nowhere_else() {
    let t = three_records();
    let pager = ("ACTLOG_PAGER", "sed s/^/PAGED:/");
    let Some((paged, code)) = on_terminal(t.path(), &[pager], "query -o json") else {
        println!("skipped: util-linux script is not installed");
        return;
    };
    assert_eq!(code, 0);
    let paged_lines: Vec<&str> = paged.lines().filter(|l| l.starts_with("PAGED:{")).collect();
    assert_eq!(paged_lines.len(), 3, "{paged}");
    // tail pages too; ACTLOG_PAGER wins over PAGER.
    let (tail, _) = on_terminal(
        t.path(),
        &[pager, ("PAGER", "sed s/^/OTHER:/")],
        "tail -n 2 -o json",
    )
    .unwrap();
    assert_eq!(
        tail.lines().filter(|l| l.starts_with("PAGED:{")).count(),
        2,
        "{tail}"
    );
    let (from_pager_var, _) =
        on_terminal(t.path(), &[("PAGER", "sed s/^/OTHER:/")], "query -o json").unwrap();
    assert_eq!(
        from_pager_var
            .lines()
            .filter(|l| l.starts_with("OTHER:{"))
            .count(),
        3
    );
    // Not paged: --no-pager, ACTLOG_PAGER=cat or empty, tail -f, and not on a terminal.
    for (env, args) in [
        (vec![pager], "query -o json --no-pager"),
        (vec![("ACTLOG_PAGER", "cat")], "query -o json"),
        (vec![("ACTLOG_PAGER", "")], "query -o json"),
        (
            vec![pager],
            "--now 2026-11-21 tail -f -U 2026-11-20T12:00:00Z -o json",
        ),
    ] {
        let (plain, code) = on_terminal(t.path(), &env, args).unwrap();
        assert_eq!(code, 0, "{args}: {plain}");
        assert!(!plain.contains("PAGED:"), "{args}: {plain}");
        assert_eq!(
            plain.lines().filter(|l| l.starts_with("{\"id\"")).count(),
            3,
            "{args}: {plain}"
        );
    }
    let piped = actlog()
        .env("ACTLOG_PAGER", "sed s/^/PAGED:/")
        .env("PAGER", "sed s/^/PAGED:/")
        .arg("--dir")
        .arg(t.path())
        .args(["query", "-o", "json"])
        .output()
        .unwrap();
    assert!(!text(&piped).contains("PAGED:"));
    assert_eq!(text(&piped).lines().count(), 3);
    // A pager that cannot start: one warning, and the records still printed.
    let (missing, code) = on_terminal(
        t.path(),
        &[("ACTLOG_PAGER", "no-such-pager-actlog")],
        "query -o json",
    )
    .unwrap();
    assert_eq!(code, 0);
    assert!(
        missing.contains("cannot start the pager \"no-such-pager-actlog\""),
        "{missing}"
    );
    assert_eq!(
        missing.lines().filter(|l| l.starts_with("{\"id\"")).count(),
        3,
        "{missing}"
    );
    // The default, less -FRX, prints a screenful and exits by itself.
    if std::process::Command::new("less")
        .arg("--version")
        .output()
        .is_ok()
    {
        let (less, code) = on_terminal(t.path(), &[], "query -o json").unwrap();
        assert_eq!(code, 0);
        assert_eq!(less.matches("\"username\":\"user").count(), 3, "{less}");
    } else {
        println!("less is not installed: the default pager is not tried");
    }
}

#[test]
fn quiet_silences_warnings_but_not_the_exit_status_and_warnings_name_only_files_in_range() {
    let t = three_records();
    let dir = t.path();
    // A day file that is a symbolic link (skipped by readers), and a damaged line.
    std::os::unix::fs::symlink("/etc/hostname", dir.join("activity-2026-11-10.json")).unwrap();
    let day = dir.join("activity-2026-11-20.json");
    let mut bytes = std::fs::read(&day).unwrap();
    bytes.extend_from_slice(b"{torn\n");
    std::fs::write(&day, bytes).unwrap();

    let loud = run(dir, &["query", "-o", "json"]);
    assert_eq!(loud.status.code(), Some(0));
    assert!(
        stderr(&loud).contains("skipped activity-2026-11-10.json"),
        "{}",
        stderr(&loud)
    );
    assert!(stderr(&loud).contains("damaged"), "{}", stderr(&loud));

    let quiet = run(dir, &["-q", "query", "-o", "json"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stderr(&quiet), "");
    assert_eq!(text(&quiet), text(&loud));
    for args in [
        vec!["query", "--quiet", "--strict"],
        vec!["tail", "-q", "--strict"],
    ] {
        let strict = run(dir, &args);
        assert_eq!(strict.status.code(), Some(2), "{args:?}");
    }
    let none = run(dir, &["-q", "query", "--user", "nobody"]);
    assert_eq!(none.status.code(), Some(1));
    assert_eq!(stderr(&none), "");
    // Outside the queried range, the skipped file is not worth a warning.
    for range in [["-S", "2026-11-15"], ["-U", "2026-11-10"]] {
        let out = run(dir, &["query", range[0], range[1], "-o", "json"]);
        assert!(
            !stderr(&out).contains("2026-11-10"),
            "{range:?}: {}",
            stderr(&out)
        );
    }
    let inside = run(dir, &["query", "-S", "2026-11-10", "-U", "2026-11-11"]);
    assert!(
        stderr(&inside).contains("skipped activity-2026-11-10.json"),
        "{}",
        stderr(&inside)
    );
    let tail = run(dir, &["tail", "-S", "2026-11-09"]);
    assert!(
        stderr(&tail).contains("skipped activity-2026-11-10.json"),
        "{}",
        stderr(&tail)
    );
}
