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
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* ACTLOG_FAIL=fdatasync-once: the first fdatasync fails with EIO, later ones succeed,
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
