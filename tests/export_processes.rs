//! `actlog export postgres` as real processes against a real PostgreSQL server
//! (tests/common/pg.rs): killed with SIGKILL at random moments and resumed, and
//! following writer processes across a day change and a maintenance run until SIGTERM.

mod common;
#[path = "common/pg.rs"]
mod pg;

use common::actlog;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn ids_in_store(dir: &Path) -> Vec<String> {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["query", "-o", "json", "--fields", "id"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn ids_in_table(c: &pg::Cluster, db: &str) -> Vec<String> {
    let text = c.psql_ok(db, "SELECT id FROM activity_logs ORDER BY id");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn record_line(n: u64, ts: &str) -> String {
    format!(
        r#"{{"id":"01937c3e-5b7a-7d4e-9b1c-{n:012x}","timestamp":"{ts}","username":"w{}","action":"job.step","details":{{"n":{n}}}}}"#,
        n % 7
    )
}

fn append_lines(dir: &Path, lines: &[String]) {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

fn export_cmd(dir: &Path, url: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = actlog();
    cmd.arg("--dir")
        .arg(dir)
        .args(["export", "postgres", "--url", url])
        .args(extra);
    cmd
}

#[test]
fn kill_9_at_random_moments_then_resume_loses_nothing_and_repeats_nothing() {
    let Some(c) = pg::shared() else { return };
    c.create_db("killed");
    c.create_db("timing");
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..40_000u64)
        .map(|n| {
            record_line(
                n,
                &format!(
                    "2025-06-{:02}T{:02}:00:00.{:03}Z",
                    1 + n % 4,
                    n % 24,
                    n % 1000
                ),
            )
        })
        .collect();
    append_lines(dir.path(), &lines);
    // A compressed day among the plain ones.
    let m = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "--now",
            "2025-06-03T12:00:00Z",
            "maintain",
            "--grace-days",
            "0",
        ])
        .output()
        .unwrap();
    assert!(m.status.success());
    let url = c.url("killed");
    // How long a whole run takes here, so the kills land before, during and near its end.
    let start = Instant::now();
    let full = export_cmd(
        dir.path(),
        &c.url("timing"),
        &["--create-schema", "--batch", "1000"],
    )
    .output()
    .unwrap();
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    let whole = start.elapsed();
    let mut rng = fastrand::Rng::with_seed(16);
    let mut killed = 0;
    for round in 0..10 {
        let batch = rng.u32(200..3000).to_string();
        let mut args = vec!["--batch", batch.as_str()];
        if round == 0 {
            args.push("--create-schema");
        }
        let mut child = export_cmd(dir.path(), &url, &args)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = whole.mul_f64(rng.f64() * 1.1);
        std::thread::sleep(delay);
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed += 1;
        }
    }
    assert!(killed > 0, "no run was killed before its end");
    let last = export_cmd(dir.path(), &url, &[]).output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    let mut want = ids_in_store(dir.path());
    want.sort();
    let got = ids_in_table(c, "killed");
    assert_eq!(got.len(), 40_000);
    assert_eq!(got, want, "every record once");
    let distinct = c.psql_ok("killed", "SELECT count(DISTINCT raw) FROM activity_logs");
    assert_eq!(distinct, "40000");
    // Progress and rows were always committed together.
    assert_eq!(
        c.psql_ok(
            "killed",
            "SELECT sum(records) FROM activity_logs_export_progress"
        ),
        "40000"
    );
    let again = export_cmd(dir.path(), &url, &[]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 new rows"));
}

/// A writer process fed records slowly through its standard input.
struct Writer {
    child: Child,
}

impl Writer {
    fn start(dir: &Path) -> Writer {
        let child = actlog()
            .arg("--dir")
            .arg(dir)
            .args(["append", "-", "--batch", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Writer { child }
    }

    fn write(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn follow_exports_every_record_of_every_writer_once_across_midnight_and_maintenance_until_sigterm()
{
    let Some(c) = pg::shared() else { return };
    c.create_db("following");
    let dir = tempfile::tempdir().unwrap();
    let url = c.url("following");
    // Records from before the export starts.
    let past: Vec<String> = (0..500u64)
        .map(|n| record_line(n, &format!("2025-07-01T22:{:02}:00.000Z", n % 60)))
        .collect();
    append_lines(dir.path(), &past);
    let mut exporter = export_cmd(
        dir.path(),
        &url,
        &["--create-schema", "--follow", "--batch", "50"],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut writers: Vec<Writer> = (0..3).map(|_| Writer::start(dir.path())).collect();
    let mut n = 1000u64;
    // Three writers interleaved, their records crossing midnight of 2025-07-01.
    for step in 0..600u64 {
        let ts = if step < 300 {
            format!("2025-07-01T23:59:{:02}.{:03}Z", step % 60, step)
        } else {
            format!("2025-07-02T00:00:{:02}.{:03}Z", step % 60, step)
        };
        writers[(step % 3) as usize].write(&record_line(n, &ts));
        n += 1;
        if step == 400 {
            // Maintenance compresses 2025-07-01 while writers may still add to it.
            let m = actlog()
                .arg("--dir")
                .arg(dir.path())
                .args([
                    "--now",
                    "2025-07-02T12:00:00Z",
                    "maintain",
                    "--grace-days",
                    "0",
                ])
                .output()
                .unwrap();
            assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
        }
        if step % 50 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    // Late records for the compressed day, after maintenance.
    for k in 0..30u64 {
        writers[(k % 3) as usize].write(&record_line(n, "2025-07-01T23:59:59.999Z"));
        n += 1;
    }
    for w in writers {
        w.finish();
    }
    let expected = 500 + 600 + 30;
    // Wait (a hang guard, not a timing claim) until the exporter has everything.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got: usize = c
            .psql_ok("following", "SELECT count(*) FROM activity_logs")
            .parse()
            .unwrap();
        if got >= expected || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(exporter.id() as libc::pid_t, libc::SIGTERM) };
    let status = exporter.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(exporter.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    let mut want = ids_in_store(dir.path());
    want.sort();
    assert_eq!(want.len(), expected);
    assert_eq!(want.iter().collect::<BTreeSet<_>>().len(), expected);
    assert_eq!(ids_in_table(c, "following"), want, "every record once");
    // What was followed was saved as progress: a one-off run afterwards sends nothing new.
    let again = export_cmd(dir.path(), &url, &[]).output().unwrap();
    let again_err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{again_err}");
    assert!(again_err.contains(" 0 new rows"), "{again_err}");
    // Following saved every day's position as it went: nothing is even sent again.
    assert!(
        again_err.contains(&format!("{expected} exported by earlier runs")),
        "{again_err}"
    );
}

#[test]
fn export_to_standard_output_follows_new_records_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    append_lines(dir.path(), &[record_line(1, "2025-08-01T10:00:00.000Z")]);
    let mut child = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["export", "--format", "jsonl", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim_end(), record_line(1, "2025-08-01T10:00:00.000Z"));
    // A new day's file, written while it follows.
    append_lines(dir.path(), &[record_line(2, "2025-08-02T00:00:01.000Z")]);
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim_end(), record_line(2, "2025-08-02T00:00:01.000Z"));
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_second_export_of_the_same_store_waits_for_the_first_then_says_it_is_running() {
    let Some(c) = pg::shared() else { return };
    c.create_db("locked");
    let dir = tempfile::tempdir().unwrap();
    append_lines(dir.path(), &[record_line(7, "2025-09-01T10:00:00.000Z")]);
    let url = c.url("locked");
    let mut first = export_cmd(dir.path(), &url, &["--create-schema", "--follow"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until the first one holds its lock (a hang guard, not a timing claim).
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.psql_ok(
        "locked",
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    ) == "0"
    {
        assert!(
            Instant::now() < deadline,
            "the first export never took its lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = export_cmd(dir.path(), &url, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another actlog export into activity_logs from"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(first.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(
        c.psql_ok("locked", "SELECT count(*) FROM activity_logs"),
        "1"
    );
}
