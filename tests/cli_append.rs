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
    assert!(err.contains("1499 record(s) written"), "{err}");
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
        err.contains("line 5") && err.contains("`action`") && err.contains("2 record(s) written"),
        "{err}"
    );
    assert_eq!(actions(dir.path()), ["x", "y"]);
}

#[test]
fn stdin_mode_reports_invalid_json_and_a_final_line_without_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_stdin(dir.path(), "{\"username\":\"a\",\"action\":\"x\"}", &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("appended 1 records"));
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
