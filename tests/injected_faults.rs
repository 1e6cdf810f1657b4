//! Failures a test cannot make a real file system produce on demand (EIO from fdatasync,
//! ENOLCK from flock), injected into a real `actlog` process through an LD_PRELOAD shim
//! compiled at test time. Skipped with a printed reason where no C compiler is available.

mod common;

use common::{actlog, all_lines};
use std::path::{Path, PathBuf};
use std::process::Command;

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* ACTLOG_FAIL=read:SUFFIX: every read or pread of a file whose path ends in SUFFIX fails
   with EIO (after ACTLOG_FAIL_AFTER successful ones, default 0), as a failing disk does.
   ACTLOG_FAIL=fdatasync-once: the first fdatasync fails with EIO, later ones succeed,
   so a writer that retried the sync would wrongly report success.
   ACTLOG_FAIL=flock: every flock fails with ENOLCK, as on a mount without lock support.
   ACTLOG_FAIL=write: every write of a record line fails with EIO. */
static int fails(const char *what) {
    const char *f = getenv("ACTLOG_FAIL");
    return f && strcmp(f, what) == 0;
}
static int syncs;
int fdatasync(int fd) {
    if (fails("fdatasync-once") && syncs++ == 0) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
int flock(int fd, int op) {
    if (fails("flock")) { errno = ENOLCK; return -1; }
    int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
    return real(fd, op);
}
static int reads_ok = -1;
static int read_fails(int fd) {
    const char *f = getenv("ACTLOG_FAIL");
    if (!f || strncmp(f, "read:", 5) != 0) return 0;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t (*real_readlink)(const char *, char *, size_t) =
        (ssize_t (*)(const char *, char *, size_t))dlsym(RTLD_NEXT, "readlink");
    ssize_t len = real_readlink(link, target, sizeof target - 1);
    if (len < 0) return 0;
    target[len] = 0;
    size_t sl = strlen(f + 5);
    if ((size_t)len < sl || strcmp(target + len - sl, f + 5) != 0) return 0;
    if (reads_ok < 0) {
        const char *after = getenv("ACTLOG_FAIL_AFTER");
        reads_ok = after ? atoi(after) : 0;
    }
    if (reads_ok > 0) { reads_ok--; return 0; }
    return 1;
}
ssize_t read(int fd, void *buf, size_t n) {
    if (read_fails(fd)) { errno = EIO; return -1; }
    ssize_t (*real)(int, void *, size_t) = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    return real(fd, buf, n);
}
ssize_t pread64(int fd, void *buf, size_t n, off_t off) {
    if (read_fails(fd)) { errno = EIO; return -1; }
    ssize_t (*real)(int, void *, size_t, off_t) = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread64");
    return real(fd, buf, n, off);
}
ssize_t write(int fd, const void *buf, size_t n) {
    if (fails("write") && n > 0 && ((const char *)buf)[0] == '{') { errno = EIO; return -1; }
    ssize_t (*real)(int, const void *, size_t) = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    return real(fd, buf, n);
}
"#;

/// Builds the shim, or returns `None` (printing why) where there is no C compiler.
fn shim(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("shim.c");
    let lib = dir.join("shim.so");
    std::fs::write(&src, SHIM).unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .status();
    match built {
        Ok(s) if s.success() => Some(lib),
        _ => {
            eprintln!("SKIPPED: no working C compiler (cc) to build the fault-injection shim");
            None
        }
    }
}

fn append_with_fault(logs: &Path, lib: &Path, fault: &str, extra: &[&str]) -> (i32, String) {
    let out = actlog()
        .env("LD_PRELOAD", lib)
        .env("ACTLOG_FAIL", fault)
        .arg("--dir")
        .arg(logs)
        .args([
            "append",
            "--user",
            "alice",
            "--action",
            "a",
            "--at",
            "2026-11-24T12:00:00Z",
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_fsync_error_is_reported_not_retried_and_the_record_is_taken_back() {
    let work = tempfile::tempdir().unwrap();
    let Some(lib) = shim(work.path()) else { return };
    let logs = work.path().join("logs");
    // One good record first, so the file has content that must survive.
    let (code, err) = append_with_fault(&logs, &lib, "none", &["--durability", "fsync"]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = append_with_fault(&logs, &lib, "fdatasync-once", &["--durability", "fsync"]);
    assert_eq!(
        code, 2,
        "a failed fsync must not be reported as success: {err}"
    );
    assert!(
        err.contains("fsync") && err.contains("Input/output error"),
        "{err}"
    );
    let lines = all_lines(&logs);
    assert_eq!(
        lines.len(),
        1,
        "the unacknowledged record is cut back out of the file"
    );
    assert!(lines[0].1.is_some());
}

#[test]
fn a_file_system_without_locks_is_refused_instead_of_written_unlocked() {
    let work = tempfile::tempdir().unwrap();
    let Some(lib) = shim(work.path()) else { return };
    let logs = work.path().join("logs");
    let (code, err) = append_with_fault(&logs, &lib, "flock", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("refused the lock") && err.contains("No locks available"),
        "{err}"
    );
    assert!(
        all_lines(&logs).is_empty(),
        "nothing written without the lock"
    );
}

#[test]
fn an_io_error_on_write_is_reported_and_leaves_the_file_whole() {
    let work = tempfile::tempdir().unwrap();
    let Some(lib) = shim(work.path()) else { return };
    let logs = work.path().join("logs");
    assert_eq!(append_with_fault(&logs, &lib, "none", &[]).0, 0);
    let (code, err) = append_with_fault(&logs, &lib, "write", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("write") && err.contains("Input/output error"),
        "{err}"
    );
    let bytes = std::fs::read(logs.join("activity-2026-11-24.json")).unwrap();
    assert!(bytes.ends_with(b"\n"));
    assert_eq!(all_lines(&logs).len(), 1);
}

/// A store of three days: one plain, one gzipped by maintenance (indexed members), one
/// gzipped by plain `gzip` (no index), 3,000 records each.
fn three_days(logs: &Path) {
    let w = actlog::Store::open(logs, actlog::Options::default())
        .unwrap()
        .writer();
    for day in ["2026-11-20", "2026-11-21", "2026-11-22"] {
        let at: chrono::DateTime<chrono::Utc> = format!("{day}T12:00:00Z").parse().unwrap();
        let batch: Vec<actlog::Activity> = (0..3000)
            .map(|i| actlog::Activity::new("u", format!("a.{i}")).at(at))
            .collect();
        w.append_batch(&batch).unwrap();
    }
    w.close().unwrap();
    let out = actlog()
        .arg("--dir")
        .arg(logs)
        .args([
            "--now",
            "2026-11-23T12:00:00Z",
            "maintain",
            "--grace-days",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    // 11-20 and 11-21 are gzipped (indexed); make 11-20 an unindexed plain-gzip file.
    let plain = std::fs::read(logs.join("activity-2026-11-20.json.gz")).unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&plain[..]),
        &mut text,
    )
    .unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &text).unwrap();
    std::fs::write(
        logs.join("activity-2026-11-20.json.gz"),
        enc.finish().unwrap(),
    )
    .unwrap();
    assert!(logs.join("activity-2026-11-22.json").exists());
}

#[test]
fn a_day_file_that_cannot_be_read_is_an_error_naming_it_not_damage_or_no_match() {
    let work = tempfile::tempdir().unwrap();
    let Some(lib) = shim(work.path()) else { return };
    let logs = work.path().join("logs");
    three_days(&logs);
    let cases: &[(&str, &str, &[&str])] = &[
        ("2026-11-22.json", "", &["query", "-c"]),
        ("2026-11-22.json", "", &["query", "-r", "-o", "json"]),
        ("2026-11-22.json", "", &["tail", "-n", "5"]),
        ("2026-11-21.json.gz", "", &["query", "-c"]),
        ("2026-11-21.json.gz", "", &["query", "-o", "json"]),
        ("2026-11-21.json.gz", "", &["query", "-r", "-o", "json"]),
        ("2026-11-21.json.gz", "2", &["query", "-o", "json"]),
        ("2026-11-21.json.gz", "", &["query", "--user", "u", "-c"]),
        ("2026-11-20.json.gz", "", &["query", "-c"]),
        ("2026-11-20.json.gz", "1", &["query", "-r", "-o", "json"]),
        ("2026-11-20.json.gz", "", &["stats"]),
        ("2026-11-21.json.gz", "", &["stats"]),
        ("2026-11-22.json", "", &["stats"]),
    ];
    for threads in ["1", "2"] {
        for (file, after, args) in cases {
            let out = actlog()
                .env("LD_PRELOAD", &lib)
                .env("ACTLOG_FAIL", format!("read:{file}"))
                .env("ACTLOG_FAIL_AFTER", after)
                .env("ACTLOG_THREADS", threads)
                .arg("--dir")
                .arg(&logs)
                .args(*args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let what = format!(
                "EIO on {file} (after {after:?}), `{}`, {threads} threads",
                args.join(" ")
            );
            assert_eq!(
                out.status.code(),
                Some(2),
                "{what}: must fail, not answer; stderr: {err}"
            );
            assert!(
                err.contains(&format!("activity-{file}")) && err.contains("Input/output error"),
                "{what}: the error must name the file and the cause: {err}"
            );
            assert!(
                !err.contains("damaged"),
                "{what}: an unreadable file is not damage: {err}"
            );
        }
    }
    // Without the fault every record is there.
    let out = actlog()
        .arg("--dir")
        .arg(&logs)
        .args(["query", "-c"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "9000\n");
}
