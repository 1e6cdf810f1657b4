//! A day file the reader may not read is an error naming it (exit 2), never "damage" or
//! "nothing matched": the records are there, the answer would be wrong. The tests run as
//! root, which reads everything, so the readers run as `nobody` through `setpriv`.

mod common;

use common::actlog;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const NOBODY: &str = "65534";

/// Runs `actlog ARGS` as uid/gid 65534, or `None` (printing why) where that cannot be done.
fn as_nobody(dir: &Path, args: &[&str]) -> Option<Output> {
    let probe = Command::new("setpriv")
        .args([
            "--reuid",
            NOBODY,
            "--regid",
            NOBODY,
            "--clear-groups",
            "true",
        ])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        eprintln!("SKIPPED: cannot run a process as uid 65534 here (setpriv missing or not root)");
        return None;
    }
    Some(
        Command::new("setpriv")
            .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_actlog"))
            .env_remove("ACTLOG_DIR")
            .arg("--dir")
            .arg(dir)
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn a_day_file_nobody_may_read_fails_the_read_naming_the_file() {
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let logs = work.path().join("logs");
    for day in ["2026-11-23", "2026-11-24"] {
        let out = actlog()
            .arg("--dir")
            .arg(&logs)
            .args(["append", "--user", "alice", "--action", "a"])
            .args(["--at", &format!("{day}T12:00:00Z")])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let readable = logs.join("activity-2026-11-23.json");
    std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Created 0640 and owned by root: not readable by nobody.
    let locked = logs.join("activity-2026-11-24.json");
    for args in [
        &["query", "-c"][..],
        &["query", "-o", "json"],
        &["query", "-r", "-o", "json"],
        &["tail", "-n", "5"],
        &["tail", "-f", "-n", "5", "--until", "2030-01-01"],
        &[
            "tail",
            "-f",
            "-n",
            "1",
            "--since",
            "2026-11-23",
            "--until",
            "2026-11-24",
        ],
        &["query", "--count-by", "action"],
        &["stats"],
    ] {
        let Some(out) = as_nobody(&logs, args) else {
            return;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "`{}`: {err}", args.join(" "));
        assert!(
            err.contains(&locked.display().to_string()) && err.contains("Permission denied"),
            "`{}` must name the file and why: {err}",
            args.join(" ")
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!err.contains("damaged"), "not damage: {err}");
    }
    // A window that leaves the unreadable day out is answered.
    let Some(out) = as_nobody(&logs, &["query", "-c", "--until", "2026-11-24"]) else {
        return;
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    assert_eq!(out.status.code(), Some(0));
}
