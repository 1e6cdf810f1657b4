//! `tail -f --until TIME` ends once the clock is past TIME (issue 11, item 9): exit 0 when
//! something matched, 1 when nothing did.

mod common;

use common::actlog;
use std::time::{Duration, Instant};

fn tail_until(dir: &std::path::Path, until: &str) -> (Option<i32>, String) {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["tail", "-f", "-n", "5", "-o", "json", "--until", until])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
            return (status.code(), out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tail -f --until {until} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tail_f_until_a_past_time_prints_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "append",
            "--user",
            "ü",
            "--action",
            "a",
            "--at",
            "2026-11-24T12:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, printed) = tail_until(dir.path(), "2026-11-25");
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(printed.lines().count(), 1, "{printed}");
    let (code, printed) = tail_until(dir.path(), "2026-11-24T06:00:00Z");
    assert_eq!(code, Some(1), "nothing before 06:00: {printed}");
    assert!(printed.is_empty());
}
