//! `actlog verify`: clean directories pass; every kind of problem is named.

mod common;

use actlog::{Activity, Options, Store};
use common::actlog;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn verify(dir: &Path, extra: &[&str]) -> (i32, String) {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .arg("verify")
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn healthy(dir: &Path) {
    let w = Store::open(dir, Options::default()).unwrap().writer();
    for day in ["2026-11-20", "2026-11-21", "2026-11-24"] {
        let batch: Vec<Activity> = (0..50)
            .map(|i| {
                Activity::new("u", format!("a.{i}")).at(format!("{day}T10:00:00Z").parse().unwrap())
            })
            .collect();
        w.append_batch(&batch).unwrap();
    }
}

#[test]
fn a_directory_written_and_maintained_by_actlog_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    let out = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["--now", "2026-11-25T00:00:00Z", "maintain"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(verify(dir.path(), &[]), (0, String::new()));
}

#[test]
fn every_kind_of_damage_is_listed_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_fixture("damaged", dir.path());
    let (code, text) = verify(dir.path(), &[]);
    assert_eq!(code, 1);
    for needle in [
        "activity-2026-11-20.json:2: torn line",
        "activity-2026-11-20.json:3: invalid JSON",
        "activity-2026-11-20.json:4: invalid UTF-8",
        "activity-2026-11-20.json:5: NUL bytes",
        "activity-2026-11-20.json:6: invalid record: field `username`",
        "activity-2026-11-21.json.gz (byte 0): truncated gzip",
        "activity-2026-11-22.json.gz (byte 238): trailing garbage",
        "activity-2026-11-23.json.gz (byte 119): corrupt gzip",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("wrong mode"));
    let (_, json) = verify(dir.path(), &["-o", "json"]);
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["file"].is_string() && v["problem"].is_string());
    }
    assert_eq!(json.lines().count(), text.lines().count());
}

#[test]
fn files_out_of_place_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    healthy(d);
    let day = d.join("activity-2026-11-24.json");
    std::fs::set_permissions(&day, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", d.join("activity-2026-11-10.json")).unwrap();
    std::fs::write(d.join(".activity-2026-11-19.json.gz.tmp"), "half").unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("activity-2026-11-21.json"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"torn").unwrap();
    std::fs::write(d.join("notes.txt"), "not ours").unwrap();
    let torn_at = std::fs::metadata(d.join("activity-2026-11-21.json"))
        .unwrap()
        .len();
    let torn = format!("activity-2026-11-21.json (byte {torn_at}): unterminated last line");
    let (code, text) = verify(d, &[]);
    assert_eq!(code, 1);
    for needle in [
        "activity-2026-11-24.json: wrong mode: 0644, expected 0640",
        "activity-2026-11-10.json: symbolic link",
        ".activity-2026-11-19.json.gz.tmp: stale temporary file",
        torn.as_str(),
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("notes.txt"));
}

#[test]
fn a_leftover_already_in_the_gz_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_fixture("covered-indexed", dir.path());
    let (code, text) = verify(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("activity-2026-11-24.json: leftover already in the .gz: its first 299 bytes"),
        "{text}"
    );
}

#[test]
fn verify_of_a_missing_directory_is_an_error() {
    let out = actlog()
        .args(["--dir", "/nonexistent/actlog", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
