//! `actlog verify`: clean directories pass; every kind of problem is named.

mod common;

use actlog::{Activity, Options, Store};
use common::{actlog, peak_rss_kib};
use std::io::Write;
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

/// A valid record line of 2026-11-20.
fn hostile_line(n: u32) -> String {
    format!(
        "{{\"id\":\"01937c3e-0000-7000-8000-{n:012}\",\"timestamp\":\"2026-11-20T10:00:00.000Z\",\"username\":\"u{n}\",\"action\":\"a\"}}\n"
    )
}

#[test]
fn maintenance_of_a_100_mib_foreign_line_streams_it_without_holding_it() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("activity-2026-11-20.json");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(hostile_line(1).as_bytes()).unwrap();
        f.write_all(b"{\"id\":\"").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"}\n").unwrap();
        f.write_all(hostile_line(3).as_bytes()).unwrap();
    }
    let mut cmd = actlog();
    cmd.arg("--dir")
        .arg(t.path())
        .args(["--now", "2026-11-25T12:00:00Z", "maintain"]);
    let (code, rss_kib, stderr) = peak_rss_kib(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    // At most the 16 MiB of the line read before it is known to be overlong, plus
    // buffers; never the 100 MiB line.
    assert!(rss_kib < 48 * 1024, "peak RSS {rss_kib} KiB");
    assert!(!path.exists());
    let out = actlog()
        .arg("--dir")
        .arg(t.path())
        .args(["query", "-c"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n");
}

#[test]
fn verify_of_millions_of_bad_lines_stays_small_in_memory_and_output() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("activity-2026-11-20.json"),
        vec![b'\n'; 3_000_000],
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b'\n'; 4 << 20]).unwrap();
    std::fs::write(
        t.path().join("activity-2026-11-21.json.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    for name in ["activity-2026-11-20.json", "activity-2026-11-21.json.gz"] {
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o640);
        std::fs::set_permissions(t.path().join(name), mode).unwrap();
    }
    let mut cmd = actlog();
    cmd.arg("--dir").arg(t.path()).arg("verify");
    let (code, rss_kib, stderr) = peak_rss_kib(&mut cmd);
    assert_eq!(code, 1, "{stderr}");
    assert!(rss_kib < 32 * 1024, "peak RSS {rss_kib} KiB");
    let out = actlog()
        .arg("--dir")
        .arg(t.path())
        .arg("verify")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.len() < 1 << 20, "{} bytes of output", text.len());
    // 1000 listed per file, then one line that counts the rest of that file.
    assert_eq!(text.lines().count(), 2 * 1001);
    assert!(
        text.contains("activity-2026-11-20.json:1001: more problems: 2999000 more not listed"),
        "{}",
        &text[text.len().saturating_sub(2000)..]
    );
    assert!(
        text.contains("activity-2026-11-21.json.gz:1001: more problems: 4193304 more not listed"),
        "{}",
        &text[text.len().saturating_sub(2000)..]
    );
}

/// The headline counts every problem, also those past the per-file listing cap; and a
/// directory at a temporary name is not called a stale file that maintenance removes
/// (maintenance leaves it alone).
#[test]
fn the_total_counts_unlisted_problems_and_a_foreign_temp_name_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("activity-2026-11-20.json"), "\n".repeat(2500)).unwrap();
    std::fs::create_dir(d.join(".activity-2026-11-21.json.gz.tmp")).unwrap();
    let out = common::actlog()
        .arg("--dir")
        .arg(d)
        .arg("verify")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // 2,500 empty lines, the temporary name, and the file's mode (0644, not 0640).
    assert!(err.contains(": 2,502 problems"), "{err}");
    assert!(
        stdout.contains("foreign object at a temporary name")
            && !stdout.contains("stale temporary file"),
        "{stdout}"
    );
}
