//! `actlog append` from the command line: both forms, exit codes, and the exact account
//! of what was written when standard input holds a bad line.

mod common;

use common::{actlog, all_lines};
use std::io::Write;
use std::process::{Output, Stdio};

fn run_stdin(dir: &std::path::Path, input: &str, extra: &[&str]) -> Output {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // actlog stops reading at a bad line, so the rest of the input may meet a closed pipe.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

fn numbered(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| format!("{{\"username\":\"u\",\"action\":\"n.{i}\",\"timestamp\":\"2026-11-24T10:00:00Z\"}}\n"))
        .collect()
}

fn actions(dir: &std::path::Path) -> Vec<String> {
    all_lines(dir)
        .into_iter()
        .map(|(_, r)| r.unwrap().action)
        .collect()
}

#[test]
fn a_bad_line_stops_the_run_names_line_and_field_and_a_rerun_from_it_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = numbered(0..3000).lines().map(String::from).collect();
    lines[1499] = r#"{"username":"u","action":"n.1499","ip_address":"999.1.1.1","timestamp":"2026-11-24T10:00:00Z"}"#.into();
    let input = lines.join("\n") + "\n";
    let out = run_stdin(dir.path(), &input, &["--batch", "1000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 1500") && err.contains("ip_address") && err.contains("999.1.1.1"),
        "{err}"
    );
    assert!(err.contains("1499 records written"), "{err}");
    assert_eq!(actions(dir.path()).len(), 1499);
    // Fix the line and rerun from it: every record exactly once, in order.
    lines[1499] = r#"{"username":"u","action":"n.1499","timestamp":"2026-11-24T10:00:00Z"}"#.into();
    let rest = lines[1499..].join("\n") + "\n";
    let out = run_stdin(dir.path(), &rest, &["--batch", "1000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        actions(dir.path()),
        (0..3000).map(|i| format!("n.{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn stdin_mode_skips_blank_lines_accepts_crlf_and_counts_lines_physically() {
    let dir = tempfile::tempdir().unwrap();
    let input = "\n{\"username\":\"a\",\"action\":\"x\"}\r\n   \n{\"username\":\"b\",\"action\":\"y\"}\n{\"username\":\"c\"}\n";
    let out = run_stdin(dir.path(), input, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("line 5") && err.contains("`action`") && err.contains("2 records written"),
        "{err}"
    );
    assert_eq!(actions(dir.path()), ["x", "y"]);
}

#[test]
fn stdin_mode_reports_invalid_json_and_a_final_line_without_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_stdin(dir.path(), "{\"username\":\"a\",\"action\":\"x\"}", &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("appended 1 record\n"));
    let out = run_stdin(
        dir.path(),
        "{\"username\":\"a\",\"action\":\"y\"}\n{\"username\":\n",
        &["--batch", "1"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("line 2") && err.contains("not valid JSON"),
        "{err}"
    );
    assert_eq!(actions(dir.path()), ["x", "y"]);
}

#[test]
fn stdin_lines_far_over_the_limit_stop_the_run_without_being_stored() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!(
        "{{\"username\":\"a\",\"action\":\"x\",\"user_agent\":\"{}\"}}\n",
        "u".repeat(300_000)
    );
    let out = run_stdin(dir.path(), &(numbered(0..2) + &huge + &numbered(2..3)), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("line 3") && err.contains("longer than"),
        "{err}"
    );
    assert_eq!(actions(dir.path()), ["n.0", "n.1"]);
    // Just over the record limit (but within the input allowance): the writer refuses it.
    let over = format!(
        "{{\"username\":\"a\",\"action\":\"x\",\"user_agent\":\"{}\"}}\n",
        "u".repeat(70_000)
    );
    let out = run_stdin(dir.path(), &over, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("line 1") && err.contains("65536-byte line limit"),
        "{err}"
    );
    let out = run_stdin(dir.path(), &over, &["--max-line-bytes", "100000"]);
    assert!(out.status.success());
}

#[test]
fn single_append_prints_the_stored_line_and_uses_actlog_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = actlog()
        .env("ACTLOG_DIR", dir.path())
        .args([
            "append",
            "--user",
            "alice",
            "--action",
            "report.view",
            "--details",
            r#"{"reportId":"r-8812"}"#,
        ])
        .args([
            "--ip",
            "203.0.113.7",
            "--user-agent",
            "Mozilla/5.0",
            "--at",
            "2026-11-24T14:45:12.123+01:00",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let stored = std::fs::read_to_string(dir.path().join("activity-2026-11-24.json")).unwrap();
    assert_eq!(printed, stored);
    assert!(stored.contains(r#""timestamp":"2026-11-24T13:45:12.123Z","username":"alice","action":"report.view","details":{"reportId":"r-8812"},"ip_address":"203.0.113.7","user_agent":"Mozilla/5.0"}"#), "{stored}");
}

#[test]
fn bad_arguments_exit_2_with_a_message_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (
            vec!["--user", "u", "--action", "a", "--details", "[1]"],
            "details",
        ),
        (
            vec!["--user", "u", "--action", "a", "--details", "{"],
            "--details",
        ),
        (
            vec!["--user", "u", "--action", "a", "--ip", "1.2.3"],
            "--ip",
        ),
        (
            vec!["--user", "u", "--action", "a", "--at", "yesterday-ish"],
            "--at",
        ),
        (vec!["--user", "", "--action", "a"], "username"),
        (vec!["--user", "u"], "--action"),
        (vec!["-", "--user", "u"], "--user"),
        (vec!["-", "--batch", "0"], "--batch"),
        (vec!["x"], "possible values"),
    ] {
        let out = actlog()
            .arg("--dir")
            .arg(dir.path())
            .arg("append")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(all_lines(dir.path()).is_empty());
}

#[test]
fn fsync_and_buffered_durability_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    for mode in ["fsync", "buffered", "flush"] {
        let out = run_stdin(
            dir.path(),
            &numbered(0..500),
            &["--durability", mode, "--batch", "7"],
        );
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(actions(dir.path()).len(), 1500);
}

/// A line the writer refuses for its encoded length (70 KB: within the input allowance,
/// over the 64 KiB record limit).
fn over_the_line_limit(i: usize) -> String {
    format!(
        "{{\"username\":\"u\",\"action\":\"n.{i}\",\"timestamp\":\"2026-11-24T10:00:00Z\",\"user_agent\":\"{}\"}}",
        "é".repeat(35_000)
    )
}

/// Runs `input` (lines, without newlines) and checks the account: exit 2, the records
/// before `bad_line` (1-based) written and said so, rerun from `bad_line` advised.
fn stops_exactly_at(input: &[String], bad_line: usize, extra: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = run_stdin(dir.path(), &(input.join("\n") + "\n"), extra);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
    let before = bad_line - 1;
    assert!(
        err.contains(&format!("line {bad_line}:")) && err.contains(needle),
        "{extra:?}: {err}"
    );
    assert!(
        err.contains(&format!(
            "{} written, from the input lines before line {bad_line}; rerun from line {bad_line}",
            if before == 1 {
                "1 record".to_owned()
            } else {
                format!("{before} records")
            }
        )),
        "{extra:?}: {err}"
    );
    let expected: Vec<String> = (0..before).map(|i| format!("n.{i}")).collect();
    assert_eq!(actions(dir.path()), expected, "{extra:?}");
}

#[test]
fn a_record_over_the_line_limit_stops_the_run_after_writing_every_line_before_it() {
    let mut lines: Vec<String> = numbered(0..1499).lines().map(String::from).collect();
    lines.push(over_the_line_limit(1499));
    lines.extend(numbered(1500..1600).lines().map(String::from));
    for mode in ["flush", "fsync", "buffered"] {
        let args = ["--batch", "1000", "--durability", mode];
        stops_exactly_at(&lines, 1500, &args, "line limit");
    }
    // Line 2 of 3, and two refused lines in one batch: the first is the one reported.
    let three = vec![
        numbered(0..1).trim_end().to_owned(),
        over_the_line_limit(1),
        numbered(2..3).trim_end().to_owned(),
    ];
    stops_exactly_at(&three, 2, &[], "line limit");
    let mut two_bad: Vec<String> = numbered(0..5).lines().map(String::from).collect();
    two_bad[3] = over_the_line_limit(3);
    two_bad[4] = over_the_line_limit(4);
    stops_exactly_at(&two_bad, 4, &["--batch", "10"], "line limit");
}

#[test]
fn every_way_a_run_stops_writes_exactly_the_lines_before_it() {
    let base = || -> Vec<String> { numbered(0..7).lines().map(String::from).collect() };
    let future = r#"{"username":"u","action":"n.4","timestamp":"2999-01-01T00:00:00Z"}"#;
    let cases: Vec<(usize, String, &str)> = vec![
        (
            5,
            r#"{"username":"u","action":"n.4","ip_address":"1.2.3"}"#.into(),
            "ip_address",
        ),
        (
            5,
            r#"{"username":"u","action":"n.4","#.into(),
            "not valid JSON",
        ),
        (5, future.into(), "`timestamp`"),
        (
            5,
            format!(
                "{{\"username\":\"{}\",\"action\":\"n.4\"}}",
                "ü".repeat(256)
            ),
            "username",
        ),
        (5, over_the_line_limit(4), "line limit"),
    ];
    for (bad, text, needle) in cases {
        let mut lines = base();
        lines[bad - 1] = text;
        for batch in ["1", "3", "1000"] {
            stops_exactly_at(&lines, bad, &["--batch", batch], needle);
        }
    }
    // Bad UTF-8 and a line far over the input allowance are checked before parsing.
    let dir = tempfile::tempdir().unwrap();
    let mut input = numbered(0..2).into_bytes();
    input.extend_from_slice(b"{\"username\":\"\xff\",\"action\":\"x\"}\n");
    input.extend_from_slice(numbered(3..4).as_bytes());
    let mut child = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["append", "-", "--batch", "1000"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(&input);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3:") && err.contains("UTF-8"), "{err}");
    assert!(err.contains("2 records written"), "{err}");
    assert_eq!(actions(dir.path()), ["n.0", "n.1"]);
}

#[test]
fn a_batch_over_two_days_whose_second_day_fails_reports_the_first_unwritten_line() {
    for mode in ["flush", "fsync", "buffered"] {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the second day's file should be: its write fails.
        std::fs::create_dir(dir.path().join("activity-2026-11-25.json")).unwrap();
        let input: String = (0..6)
            .map(|i| {
                let day = if i < 3 { 24 } else { 25 };
                format!("{{\"username\":\"u\",\"action\":\"n.{i}\",\"timestamp\":\"2026-11-{day}T10:00:00Z\"}}\n")
            })
            .collect();
        let out = run_stdin(dir.path(), &input, &["--durability", mode]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{mode}: {err}");
        assert!(
            err.contains(
                "3 records written, from the input lines before line 4; rerun from line 4"
            ),
            "{mode}: {err}"
        );
        assert_eq!(actions(dir.path()), ["n.0", "n.1", "n.2"], "{mode}");
    }
}

#[test]
fn a_line_of_exactly_the_input_allowance_with_crlf_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // --max-line-bytes 128 allows input lines of 256 bytes, line ending not counted.
    let head = r#"{"username":"u","action":"x","details":{"p":""#;
    let tail = r#""}}"#;
    let line = format!("{head}{}{tail}", " ".repeat(256 - head.len() - tail.len()));
    assert_eq!(line.len(), 256);
    let out = run_stdin(
        dir.path(),
        &format!("{line}\r\n"),
        &["--max-line-bytes", "4096"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_stdin(
        dir.path(),
        &format!("{line}\r\n"),
        &["--max-line-bytes", "128"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // Read whole (not cut by the allowance), then refused by the record limit.
    assert!(
        err.contains("line 1:") && err.contains("128-byte line limit"),
        "{err}"
    );
}

fn append_one(dir: &std::path::Path, args: &[&str]) -> Output {
    actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "--user", "ü", "--action", "a"])
        .args(args)
        .output()
        .unwrap()
}

fn query(dir: &std::path::Path, args: &[&str]) -> String {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .arg("query")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_ipv4_mapped_address_is_stored_as_ipv4_and_found_by_ipv4_filters() {
    let dir = tempfile::tempdir().unwrap();
    let out = append_one(dir.path(), &["--ip", "::ffff:203.0.113.7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""ip_address":"203.0.113.7""#));
    let out = append_one(dir.path(), &["--ip", "2001:DB8:0:0:0:0:0:1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""ip_address":"2001:db8::1""#));
    let out = run_stdin(
        dir.path(),
        "{\"username\":\"ü\",\"action\":\"b\",\"ip_address\":\"::FFFF:CB00:7107\"}\n",
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: String = all_lines(dir.path())
        .into_iter()
        .map(|(l, _)| String::from_utf8(l).unwrap())
        .collect();
    assert_eq!(
        stored.matches(r#""ip_address":"203.0.113.7""#).count(),
        2,
        "{stored}"
    );
    assert!(!stored.to_ascii_lowercase().contains("ffff"), "{stored}");
    assert_eq!(
        query(dir.path(), &["--ip", "203.0.113.0/24", "-c"]).trim(),
        "2"
    );
}

#[test]
fn numbers_in_details_come_back_as_written_through_both_forms_of_append() {
    let dir = tempfile::tempdir().unwrap();
    let details = r#"{"big":12345678901234567890123,"b2":100000000000000000001,"e":1e2,"E":1E-2,"d":1.50,"z":-0,"long":0.123456789012345678901234567890,"s":"1e2 é"}"#;
    let out = append_one(
        dir.path(),
        &["--details", details, "--at", "2026-11-24T10:00:00Z"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_stdin(
        dir.path(),
        &format!(
            "{{\"username\":\"ü\",\"action\":\"b\",\"timestamp\":\"2026-11-24T10:00:01Z\",\"details\": {details} }}\n"
        ),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = query(dir.path(), &["-o", "json"]);
    assert_eq!(
        printed.matches(&format!(r#""details":{details}"#)).count(),
        2,
        "{printed}"
    );
    // --where still compares numerically, and exactly.
    for (cond, n) in [
        ("details.b2>100000000000000000000", "2"),
        ("details.b2=100000000000000000001", "2"),
        ("details.big>1.2345678901234567890122e22", "2"),
        ("details.e=100", "2"),
        ("details.d=1.5", "2"),
        ("details.z=0", "2"),
        ("details.long<0.1234567890123456789012345679", "2"),
    ] {
        assert_eq!(
            query(dir.path(), &["--where", cond, "-c"]).trim(),
            n,
            "{cond}"
        );
    }
    assert_eq!(
        query(
            dir.path(),
            &["--where", "details.b2>100000000000000000001", "-c"]
        )
        .trim(),
        "0"
    );
}

#[test]
fn a_record_far_in_the_future_is_refused_naming_timestamp_and_the_skew_is_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = append_one(dir.path(), &["--at", "2999-01-01T00:00:00Z"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`timestamp`") && err.contains("2999-01-01T00:00:00.000Z"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let out = append_one(
        dir.path(),
        &["--at", &in_an_hour, "--max-future-skew", "30m"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("30m"));
    let out = append_one(
        dir.path(),
        &["--at", &in_an_hour, "--max-future-skew", "2h"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = append_one(
        dir.path(),
        &[
            "--at",
            "2999-01-01T00:00:00Z",
            "--max-future-skew",
            "400000d",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = append_one(dir.path(), &["--max-future-skew", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-future-skew"));
    assert_eq!(all_lines(dir.path()).len(), 2);
}

#[test]
fn a_record_of_one_and_a_half_megabytes_is_written_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    // Through standard input: one argument cannot be this long.
    let ua = "ж".repeat(750_000);
    let line = format!("{{\"username\":\"u\",\"action\":\"b\",\"user_agent\":\"{ua}\"}}\n");
    let out = run_stdin(dir.path(), &line, &["--max-line-bytes", "2000000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(query(dir.path(), &["-c"]).trim(), "1");
    assert!(query(dir.path(), &["-o", "json"]).contains(&ua));
}

/// Yields `data`, then fails every read.
struct FailingInput {
    data: std::io::Cursor<Vec<u8>>,
}

impl std::io::Read for FailingInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match std::io::Read::read(&mut self.data, buf)? {
            0 => Err(std::io::Error::other("device gone")),
            n => Ok(n),
        }
    }
}

#[test]
fn a_read_error_mid_batch_writes_the_lines_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = actlog::Store::open(dir.path(), actlog::Options::default()).unwrap();
    let w = store.writer();
    // Five whole lines and half of the sixth, then the read fails.
    let mut data = numbered(0..5).into_bytes();
    data.extend_from_slice(br#"{"username":"u","#);
    let input = std::io::BufReader::with_capacity(
        7,
        FailingInput {
            data: std::io::Cursor::new(data),
        },
    );
    let stop = actlog::ingest::append_lines(input, &w, 1000, 1 << 17).unwrap_err();
    assert_eq!((stop.line, stop.written), (6, 5), "{stop}");
    assert!(stop.to_string().contains("device gone"), "{stop}");
    assert_eq!(
        actions(dir.path()),
        (0..5).map(|i| format!("n.{i}")).collect::<Vec<_>>()
    );
}

/// A random JSON number spelling: sign, integer digits, fraction, exponent of any case
/// and sign, including long runs of digits no machine number holds.
fn random_number(rng: &mut fastrand::Rng) -> String {
    let digits = |rng: &mut fastrand::Rng, n: usize| -> String {
        (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
    };
    let mut s = String::new();
    if rng.bool() {
        s.push('-');
    }
    if rng.u8(0..4) == 0 {
        s.push('0');
    } else {
        s.push(char::from(b'1' + rng.u8(0..9)));
        let n = rng.usize(0..40);
        s += &digits(rng, n);
    }
    if rng.bool() {
        s.push('.');
        let n = rng.usize(1..40);
        s += &digits(rng, n);
    }
    if rng.bool() {
        s.push(if rng.bool() { 'e' } else { 'E' });
        match rng.u8(0..3) {
            0 => s.push('+'),
            1 => s.push('-'),
            _ => {}
        }
        let n = rng.usize(1..5);
        s += &digits(rng, n);
    }
    s
}

#[test]
fn random_number_spellings_survive_append_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(20261202);
    let numbers: Vec<String> = (0..400).map(|_| random_number(&mut rng)).collect();
    let input: String = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!("{{\"username\":\"u\",\"action\":\"n.{i}\",\"timestamp\":\"2026-11-24T10:00:00Z\",\"details\":{{ \"n\" : {n} , \"a\":[{n}]}}}}\n")
        })
        .collect();
    let out = run_stdin(dir.path(), &input, &["--batch", "64"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in numbers.iter().take(20) {
        let out = append_one(
            dir.path(),
            &[
                "--details",
                &format!("{{\"n\":{n},\"a\":[{n}]}}"),
                "--at",
                "2026-11-24T11:00:00Z",
            ],
        );
        assert!(
            out.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stored = all_lines(dir.path());
    assert_eq!(stored.len(), 420);
    let expected = numbers.iter().chain(numbers.iter().take(20));
    for ((line, _), n) in stored.iter().zip(expected) {
        let line = String::from_utf8_lossy(line);
        assert!(
            line.contains(&format!(r#""details":{{"n":{n},"a":[{n}]}}"#)),
            "{n}: {line}"
        );
    }
}

/// CONTRACT section 4: `--at` and `--now` take every TIME form `--since` takes, and an
/// impossible date is refused as such.
#[test]
fn at_and_now_take_every_time_form() {
    let dir = tempfile::tempdir().unwrap();
    let now = "2026-11-24 13:45";
    for (at, want) in [
        ("2026-11-24 10:00:12", "2026-11-24T10:00:12.000Z"),
        ("2h", "2026-11-24T11:45:00.000Z"),
        ("yesterday", "2026-11-23T00:00:00.000Z"),
        ("today", "2026-11-24T00:00:00.000Z"),
        ("@1764000000", "2025-11-24T16:00:00.000Z"),
        ("2026-11-24T15:45:00+02:00", "2026-11-24T13:45:00.000Z"),
        ("2026-11-20", "2026-11-20T00:00:00.000Z"),
    ] {
        let out = actlog()
            .arg("--dir")
            .arg(dir.path())
            .args([
                "--now", now, "append", "--user", "a", "--action", "b", "--at", at,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "--at {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("\"timestamp\":\"{want}\"")),
            "--at {at}: {text}"
        );
    }
    for (flag, bad) in [("--at", "2026-11-31"), ("--now", "2026-02-30 10:00")] {
        let mut cmd = actlog();
        cmd.arg("--dir").arg(dir.path());
        if flag == "--now" {
            cmd.args(["--now", bad, "query", "-c"]);
        } else {
            cmd.args(["append", "--user", "a", "--action", "b", "--at", bad]);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}: {err}");
        assert!(
            err.contains("no such date") && err.contains(flag),
            "{flag} {bad}: {err}"
        );
    }
}

/// A key given twice in one object would be stored changed (a map keeps the last), so
/// it is refused, naming the key, on every way in; distinct keys differing only in case,
/// or equal keys in different objects, are fine.
#[test]
fn a_key_given_twice_is_refused_not_silently_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = "{\"username\":\"u\",\"action\":\"ok\"}\n{\"username\":\"u\",\"action\":\"a\",\"username\":\"v\"}\n";
    let out = run_stdin(d, input, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 2") && err.contains("`username`") && err.contains("twice"),
        "{err}"
    );
    assert!(err.contains("1 record written"), "{err}");
    for details in [r#"{"n":1,"n":2}"#, r#"{"x":{"a":[{"é":1,"é":2}]}}"#] {
        let out = actlog()
            .arg("--dir")
            .arg(d)
            .args([
                "append",
                "--user",
                "u",
                "--action",
                "a",
                "--details",
                details,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{details}: {err}");
        assert!(err.contains("twice") && err.lines().count() == 1, "{err}");
    }
    let fine = r#"{"k":1,"K":2,"x":{"k":3},"y":[{"k":4},{"k":5}]}"#;
    let out = actlog()
        .arg("--dir")
        .arg(d)
        .args(["append", "--user", "u", "--action", "a", "--details", fine])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(fine));
}
