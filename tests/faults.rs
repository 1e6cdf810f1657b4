//! What the writer does when the directory is hostile or the file system fails: torn
//! tails, planted links, a full disk, a read-only mount, a restrictive umask.

mod common;

use actlog::{Activity, Durability, Error, Options, Store};
use chrono::{DateTime, Utc};
use common::{Tmpfs, actlog, all_lines};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DAY: &str = "2026-11-24";
const AT: &str = "2026-11-24T12:00:00Z";

fn at() -> DateTime<Utc> {
    AT.parse().unwrap()
}

fn day_path(dir: &Path) -> std::path::PathBuf {
    dir.join(format!("activity-{DAY}.json"))
}

/// Runs `actlog append` for one record on `dir`; returns (exit code, stderr).
fn append_cli(dir: &Path) -> (i32, String) {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args([
            "append",
            "--user",
            "alice",
            "--action",
            "report.view",
            "--at",
            AT,
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_torn_tail_is_ended_and_the_new_record_starts_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(day_path(dir.path()), "{\"user").unwrap();
    let (code, err) = append_cli(dir.path());
    assert_eq!(code, 0, "{err}");
    let text = fs::read_to_string(day_path(dir.path())).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert_eq!(lines[0], "{\"user\n");
    assert!(
        actlog::Record::parse_line(lines[1].trim_end().as_bytes()).is_ok(),
        "{text:?}"
    );
    // A second append needs no repair.
    append_cli(dir.path());
    let records = all_lines(dir.path())
        .into_iter()
        .filter(|l| l.1.is_some())
        .count();
    assert_eq!(records, 2);
}

#[test]
fn a_symlink_at_the_day_file_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("precious.txt");
    fs::write(&target, "do not touch\n").unwrap();
    std::os::unix::fs::symlink(&target, day_path(dir.path())).unwrap();
    let (code, err) = append_cli(dir.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("symbolic link") && err.contains(&format!("activity-{DAY}.json")),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "do not touch\n");
    // A dangling symlink is refused too, and nothing is created at its target.
    let dangling = dir.path().join("nowhere.json");
    fs::remove_file(day_path(dir.path())).unwrap();
    std::os::unix::fs::symlink(&dangling, day_path(dir.path())).unwrap();
    assert_eq!(append_cli(dir.path()).0, 2);
    assert!(!dangling.exists());
}

#[test]
fn a_hard_link_at_the_day_file_is_refused_and_the_other_name_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("elsewhere.json");
    fs::write(&other, "mine\n").unwrap();
    fs::hard_link(&other, day_path(dir.path())).unwrap();
    let (code, err) = append_cli(dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("hard links"), "{err}");
    assert_eq!(fs::read_to_string(&other).unwrap(), "mine\n");
}

#[test]
fn a_hard_link_made_after_the_writer_opened_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = Store::open(dir.path(), Options::default())
        .unwrap()
        .writer();
    w.append(&Activity::new("u", "a").at(at())).unwrap();
    fs::hard_link(day_path(dir.path()), dir.path().join("copy")).unwrap();
    assert!(matches!(
        w.append(&Activity::new("u", "b").at(at())),
        Err(Error::HardLinked { links: 2, .. })
    ));
    assert_eq!(
        fs::read_to_string(dir.path().join("copy"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[test]
fn a_fifo_or_directory_at_the_day_file_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let path = day_path(dir.path());
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let (code, err) = append_cli(dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("not a regular file"), "{err}");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let (code, err) = append_cli(dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn new_files_and_directories_get_their_modes_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let script = format!(
        "umask 077; exec '{}' --dir '{}' append --user u --action a --at {AT}",
        env!("CARGO_BIN_EXE_actlog"),
        logs.display()
    );
    let status = std::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&logs), 0o750);
    assert_eq!(mode(&day_path(&logs)), 0o640);
}

fn fill(dir: &Path, leave: usize) {
    // tmpfs accounts in pages: fill until a write fails, then free `leave` bytes.
    let filler = dir.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![b'.'; 4096];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave as u64)).unwrap();
}

#[test]
fn disk_full_gives_a_clear_error_leaves_no_fragment_and_recovers() {
    let Some(fs_) = Tmpfs::mount("512k", "") else {
        return;
    };
    let dir = fs_.path();
    let w = Store::open(dir, Options::default()).unwrap().writer();
    w.append(&Activity::new("u", "before").at(at())).unwrap();
    fill(dir, 16 * 1024);
    // A 1,000-record batch (~100 KiB) cannot fit in the 16 KiB left.
    let batch: Vec<Activity> = (0..1000)
        .map(|i| Activity::new("u", format!("big-{i:04}-{}", "y".repeat(60))).at(at()))
        .collect();
    let e = w.append_batch(&batch).unwrap_err();
    match &e {
        Error::Io {
            source,
            op: "write",
            ..
        } => assert_eq!(source.raw_os_error(), Some(libc::ENOSPC), "{e}"),
        other => panic!("expected ENOSPC, got {other:?}"),
    }
    assert!(e.to_string().contains("No space left"), "{e}");
    let bytes = fs::read(day_path(dir)).unwrap();
    assert!(bytes.ends_with(b"\n"), "a fragment was left behind");
    assert_eq!(
        all_lines(dir).len(),
        1,
        "only the record before the failure"
    );
    // The CLI says so too, with exit 2.
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args([
            "append",
            "--user",
            "u",
            "--action",
            "a",
            "--at",
            AT,
            "--details",
        ])
        .arg(format!("{{\"pad\":\"{}\"}}", "z".repeat(60_000)))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left"));
    assert!(fs::read(day_path(dir)).unwrap().ends_with(b"\n"));
    // Free the space: appends work again, on a clean line.
    fs::remove_file(dir.join("filler")).unwrap();
    w.append_batch(&batch).unwrap();
    let lines = all_lines(dir);
    assert_eq!(lines.len(), 1001);
    assert!(lines.iter().all(|l| l.1.is_some()));
}

#[test]
fn buffered_mode_on_a_full_disk_refuses_new_records_and_loses_none_it_accepted() {
    let Some(fs_) = Tmpfs::mount("512k", "") else {
        return;
    };
    let dir = fs_.path();
    let store = Store::open(
        dir,
        Options {
            durability: Durability::Buffered,
            flush_interval: std::time::Duration::from_secs(3600),
            ..Options::default()
        },
    )
    .unwrap();
    let w = store.writer();
    fill(dir, 8 * 1024);
    let mut accepted = 0;
    for i in 0..400 {
        match w.append(&Activity::new("u", format!("r-{i:04}-{}", "q".repeat(100))).at(at())) {
            Ok(_) => accepted += 1,
            Err(_) => break,
        }
    }
    let flushed = w.flush();
    assert!(flushed.is_err(), "the disk is full: flush must say so");
    assert!(
        w.append(&Activity::new("u", "refused").at(at())).is_err(),
        "appends are refused while writes fail"
    );
    fs::remove_file(dir.join("filler")).unwrap();
    w.flush().unwrap();
    w.append(&Activity::new("u", "after").at(at())).unwrap();
    w.close().unwrap();
    let lines = all_lines(dir);
    assert!(lines.iter().all(|l| l.1.is_some()));
    assert_eq!(
        lines.len(),
        accepted + 1,
        "every accepted record written once"
    );
}

#[test]
fn a_read_only_directory_is_a_clear_error_with_exit_2() {
    let Some(fs_) = Tmpfs::mount("64k", "ro") else {
        return;
    };
    let (code, err) = append_cli(fs_.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("Read-only file system") && err.contains(&format!("activity-{DAY}.json")),
        "{err}"
    );
}
