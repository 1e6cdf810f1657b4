//! `actlog query` and `actlog tail` (without -f) against the hand-checked fixtures in
//! `fixtures/` (see fixtures/make.py for every record).

mod common;

use common::actlog;
use std::path::PathBuf;
use std::process::{Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn run(dir: &str, args: &[&str]) -> Output {
    actlog()
        .env_remove("NO_COLOR")
        .arg("--dir")
        .arg(fixture(dir))
        .args(args)
        .output()
        .unwrap()
}

/// The fixture record numbers (last digits of the id) that a JSON query prints.
fn ids(dir: &str, args: &[&str]) -> Vec<u64> {
    let mut all = vec!["query", "-o", "json"];
    all.extend_from_slice(args);
    let out = run(dir, &all);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap()[24..].parse::<u64>().unwrap()
        })
        .collect()
}

#[test]
fn everything_in_stored_order_across_gzip_multi_member_and_mixed_days() {
    assert_eq!(ids("basic", &[]), (1..=14).collect::<Vec<_>>());
    assert_eq!(ids("basic", &["-r"]), (1..=14).rev().collect::<Vec<_>>());
}

#[test]
fn user_filter_is_exact_case_sensitive_and_repeatable() {
    assert_eq!(ids("basic", &["--user", "alice"]), [1, 3, 5, 8, 12, 14]);
    assert_eq!(ids("basic", &["--user", "Alice"]), [9]);
    assert_eq!(
        ids("basic", &["--user", "alice", "--user", "bob"]),
        [1, 2, 3, 5, 6, 8, 10, 12, 14]
    );
    assert_eq!(ids("basic", &["--user", "ali"]), Vec::<u64>::new());
}

#[test]
fn action_globs() {
    assert_eq!(
        ids("basic", &["--action", "report.*"]),
        [1, 3, 4, 6, 8, 9, 10, 12, 13]
    );
    assert_eq!(ids("basic", &["--action", "auth.log*"]), [2, 7, 11, 14]);
    assert_eq!(
        ids(
            "basic",
            &["--action", "auth.login", "--action", "settings.*"]
        ),
        [2, 5, 11]
    );
}

#[test]
fn ip_addresses_and_networks() {
    assert_eq!(ids("basic", &["--ip", "203.0.113.0/24"]), [1, 3, 6, 10, 13]);
    assert_eq!(ids("basic", &["--ip", "2001:db8::/32"]), [4]);
    assert_eq!(ids("basic", &["--ip", "2001:DB8:0::1"]), [4]);
    assert_eq!(
        ids("basic", &["--ip", "10.0.0.5", "--ip", "198.51.100.23"]),
        [2, 7]
    );
}

#[test]
fn where_conditions_on_top_level_dotted_and_unknown_fields() {
    assert_eq!(
        ids("basic", &["--where", "details.durationMs>400"]),
        [3, 6, 8]
    );
    assert_eq!(
        ids("basic", &["--where", "details.durationMs >= 450"]),
        [3, 6]
    );
    assert_eq!(ids("basic", &["--where", "details.durationMs<100"]), [4]);
    assert_eq!(
        ids("basic", &["--where", "details.durationMs<=120"]),
        [1, 4]
    );
    assert_eq!(ids("basic", &["--where", "details.property=p1"]), [3, 6, 8]);
    assert_eq!(
        ids("basic", &["--where", "details.property != p1"]),
        [1, 2, 4, 5, 7, 9, 10, 11, 12, 13, 14]
    );
    assert_eq!(ids("basic", &["--where", "details.nested.level=2"]), [5]);
    assert_eq!(ids("basic", &["--where", "details.tags.1=b"]), [5]);
    assert_eq!(ids("basic", &["--where", "tenant=acme"]), [11]);
    assert_eq!(ids("basic", &["--where", "user_agent~^curl/"]), [11]);
    assert_eq!(
        ids(
            "basic",
            &[
                "--where",
                "username=alice",
                "--where",
                "details.reportId=r-1"
            ]
        ),
        [1, 12]
    );
    assert_eq!(ids("basic", &["--where", "details.reportId=\"r-2\""]), [3]);
}

#[test]
fn grep_searches_the_stored_line_and_all_patterns_must_match() {
    assert_eq!(ids("basic", &["-g", r#""r-[12]""#]), [1, 3, 12]);
    assert_eq!(
        ids("basic", &["-g", "alice", "-g", "report"]),
        [1, 3, 8, 12]
    );
    assert_eq!(
        ids("basic", &["--grep", "(?i)ALICE", "--action", "report.view"]),
        [1, 8, 9, 12]
    );
}

#[test]
fn time_ranges_since_inclusive_until_exclusive() {
    assert_eq!(
        ids("basic", &["--since", "2026-11-24", "--until", "2026-11-25"]),
        [8, 9, 10, 11]
    );
    assert_eq!(
        ids("basic", &["--since", "2026-11-25T00:00:00Z"]),
        [12, 13, 14]
    );
    assert_eq!(
        ids("basic", &["--until", "2026-11-23T00:00:00Z"]),
        [1, 2, 3]
    );
    assert_eq!(
        ids(
            "basic",
            &[
                "-S",
                "2026-11-23T01:00:00+01:00",
                "-U",
                "2026-11-23T10:00:00.001Z"
            ]
        ),
        [4, 5]
    );
    assert_eq!(ids("basic", &["--since", "@1795564800"]), [12, 13, 14]);
    assert_eq!(
        ids(
            "basic",
            &[
                "--now",
                "2026-11-26T06:00:00Z",
                "--since",
                "yesterday",
                "--until",
                "today"
            ]
        ),
        [12, 13, 14]
    );
    assert_eq!(
        ids(
            "basic",
            &["--now", "2026-11-26T00:00:00Z", "--since", "12h"]
        ),
        [13, 14]
    );
    assert_eq!(
        ids(
            "basic",
            &[
                "--now",
                "2026-11-26T00:00:00Z",
                "--since",
                "2d ago",
                "--until",
                "-1d"
            ]
        ),
        [8, 9, 10, 11]
    );
}

#[test]
fn days_outside_the_range_are_not_opened() {
    // A copy of the fixtures plus a day full of garbage: a query for another day must
    // not even open it (no damage reported).
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture("basic")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    std::fs::write(dir.path().join("activity-2026-11-20.json"), "garbage\n").unwrap();
    let query = |args: &[&str]| {
        actlog()
            .arg("--dir")
            .arg(dir.path())
            .args(["query", "-o", "json"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = query(&["--since", "2026-11-24", "--until", "2026-11-25"]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = query(&[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("activity-2026-11-20.json:1: invalid JSON")
    );
}

#[test]
fn limit_and_reverse() {
    assert_eq!(ids("basic", &["-n", "2"]), [1, 2]);
    assert_eq!(ids("basic", &["-n", "0"]), Vec::<u64>::new());
    assert_eq!(ids("basic", &["-r", "-n", "2"]), [14, 13]);
    assert_eq!(
        ids("basic", &["--user", "alice", "-r", "--limit", "3"]),
        [14, 12, 8]
    );
}

#[test]
fn json_output_is_exactly_the_stored_lines_with_unknown_fields() {
    let out = run(
        "basic",
        &[
            "query",
            "-o",
            "json",
            "--since",
            "2026-11-24T12:00:00Z",
            "--until",
            "2026-11-25",
        ],
    );
    let stored = std::fs::read_to_string(fixture("basic/activity-2026-11-24.json")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), stored);
    assert!(stored.contains(r#""tenant":"acme""#));
}

#[test]
fn a_day_both_gzipped_and_plain_whose_gz_already_holds_the_plain_prefix_returns_each_record_once() {
    assert_eq!(ids("covered", &[]), [4, 8, 9, 10]);
    assert_eq!(ids("covered", &["-r"]), [10, 9, 8, 4]);
    assert_eq!(ids("covered", &["--user", "alice"]), [8]);
    // Members that record their length are inflated in parallel; the marker still holds.
    assert_eq!(ids("covered-indexed", &[]), [4, 8, 9, 10]);
    assert_eq!(ids("covered-indexed", &["-r"]), [10, 9, 8, 4]);
}

#[test]
fn count_and_count_by() {
    let out = run("basic", &["query", "-c", "--user", "alice"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "6\n");
    assert_eq!(out.status.code(), Some(0));
    let out = run("basic", &["query", "-c", "--user", "nobody"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "0\n");
    assert_eq!(out.status.code(), Some(1));
    let out = run("basic", &["query", "--count-by", "action", "-o", "pretty"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "8  report.view\n2  auth.login\n2  auth.logout\n1  report.export\n1  settings.update\n"
    );
    let out = run(
        "basic",
        &["query", "--count-by", "details.property", "-o", "json"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            r#"{"value":null,"count":9}"#,
            r#"{"value":"p1","count":3}"#,
            r#"{"value":"p2","count":2}"#
        ]
    );
}

#[test]
fn csv_quotes_as_rfc_4180() {
    let out = run(
        "basic",
        &["query", "-o", "csv", "--user", "alice", "-n", "1"],
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "id,timestamp,username,action,details,ip_address,user_agent,extra\n\
         01937c3e-0000-7000-8000-000000000001,2026-11-22T08:00:00.000Z,alice,report.view,\"{\"\"reportId\"\":\"\"r-1\"\",\"\"durationMs\"\":120}\",203.0.113.7,Mozilla/5.0,\n"
    );
    let out = run(
        "basic",
        &["query", "-o", "csv", "--csv-raw", "--user", "eve"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\"\u{1b}[31mRED\u{1b}[0m\nFAKE 2026 line\u{2028}x\u{7}\""),
        "--csv-raw keeps data as is, quoted: {text:?}"
    );
    let out = run("basic", &["query", "-o", "csv", "--user", "eve"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(r"\e[31mRED\e[0m\nFAKE 2026 line\u{2028}x\u{0007}"),
        "CSV to a file is escaped as on a terminal: {text:?}"
    );
}

#[test]
fn pretty_and_table_neutralise_a_hostile_user_agent() {
    for format in ["pretty", "table"] {
        for color in ["never", "always"] {
            let out = run(
                "basic",
                &["query", "--user", "eve", "-o", format, "--color", color],
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let expected_lines = if format == "table" { 2 } else { 1 };
            assert_eq!(
                text.lines().count(),
                expected_lines,
                "{format}: no forged line: {text:?}"
            );
            assert!(
                !text.contains('\u{2028}') && !text.contains('\u{7}'),
                "{text:?}"
            );
            assert!(
                text.contains(r"\e[31mRED\e[0m\nFAKE 2026 line\u{2028}x\u{0007}"),
                "{format}: {text:?}"
            );
            // The only ESC bytes are our own colour codes.
            let escapes = text.matches('\u{1b}').count();
            if color == "never" {
                assert_eq!(escapes, 0, "{text:?}");
            } else {
                assert!(text.matches("\u{1b}[31m").count() == 0, "{text:?}");
            }
        }
    }
}

#[test]
fn color_auto_is_off_when_not_a_terminal_and_default_output_is_json() {
    let out = run("basic", &["query", "-n", "1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("{\"id\":") && !text.contains('\u{1b}'),
        "{text}"
    );
}

#[test]
fn exit_status_zero_matched_one_none_two_error() {
    assert_eq!(
        run("basic", &["query", "--user", "alice"]).status.code(),
        Some(0)
    );
    assert_eq!(
        run("basic", &["query", "--user", "nobody"]).status.code(),
        Some(1)
    );
    for (args, needle) in [
        (vec!["query", "--since", "soon"], "--since"),
        (vec!["query", "--until", "2026-13-01"], "--until"),
        (vec!["query", "--where", "details.x"], "--where"),
        (vec!["query", "--where", "=5"], "--where"),
        (vec!["query", "--where", "details..x=1"], "--where"),
        (vec!["query", "--where", "x~("], "--where"),
        (vec!["query", "-g", "("], "--grep"),
        (vec!["query", "--ip", "300.1.1.1"], "--ip"),
        (vec!["query", "--ip", "10.0.0.0/40"], "--ip"),
        (vec!["query", "--action", "report.[a"], "--action"),
        (vec!["query", "--count-by", "details."], "--count-by"),
        (vec!["query", "-o", "xml"], "-o"),
        (vec!["tail", "--poll", "2s"], "--follow"),
    ] {
        let out = run("basic", &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    let missing = actlog()
        .args(["--dir", "/nonexistent/actlog", "query"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/actlog"));
}

#[test]
fn damaged_lines_and_files_are_skipped_counted_and_named_and_strict_fails() {
    assert_eq!(ids("damaged", &[]), [101, 102, 103, 121, 122, 123]);
    let out = run("damaged", &["query", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "skipped 10 damaged",
        "activity-2026-11-20.json:2: torn line",
        "activity-2026-11-20.json:3: invalid JSON",
        "activity-2026-11-20.json:4: invalid UTF-8",
        "activity-2026-11-20.json:5: NUL bytes",
        "activity-2026-11-20.json:6: invalid record: field `username`",
        "activity-2026-11-20.json:8: invalid record: field `details`",
        "activity-2026-11-21.json.gz (byte 0): truncated gzip",
        "activity-2026-11-22.json.gz (byte 238): trailing garbage",
        "activity-2026-11-23.json.gz (byte 119): corrupt gzip",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let strict = run("damaged", &["query", "--strict", "-o", "json"]);
    assert_eq!(strict.status.code(), Some(2));
    // Backwards, the same records and the same damage.
    assert_eq!(ids("damaged", &["-r"]), [123, 122, 121, 103, 102, 101]);
}

#[test]
fn tail_prints_the_last_n_oldest_first_reading_only_the_newest_days() {
    let tail = |args: &[&str]| {
        let mut all = vec!["tail", "-o", "json"];
        all.extend_from_slice(args);
        let out = run("basic", &all);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                l[l.find("8000-").unwrap() + 5..][..12]
                    .parse::<u64>()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&[]), (5..=14).collect::<Vec<_>>());
    assert_eq!(tail(&["-n", "3"]), [12, 13, 14]);
    assert_eq!(tail(&["-n", "2", "--user", "bob"]), [6, 10]);
    // The damaged days are older than what is asked for: never opened.
    let out = run("damaged", &["tail", "-n", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("activity-2026-11-20.json"), "{err}");
}

#[test]
fn a_closed_pipe_ends_quietly_with_status_zero() {
    let dir = tempfile::tempdir().unwrap();
    let w = actlog::Store::open(dir.path(), actlog::Options::default())
        .unwrap()
        .writer();
    let batch: Vec<actlog::Activity> = (0..20_000)
        .map(|i| {
            actlog::Activity::new("u", format!("a.{i}")).at("2026-11-24T10:00:00Z".parse().unwrap())
        })
        .collect();
    w.append_batch(&batch).unwrap();
    for format in ["json", "pretty", "csv"] {
        let mut child = actlog()
            .arg("--dir")
            .arg(dir.path())
            .args(["query", "-o", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
