//! `actlog maintain`: compression and retention, with writers, other maintainers and
//! SIGKILL at random instants.

mod common;

use actlog::filter::{Filter, FilterSpec};
use actlog::query::{self, Query};
use actlog::{Activity, Options, Store};
use chrono::{DateTime, Utc};
use common::actlog;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn maintain(dir: &Path, now: &str, extra: &[&str]) -> std::process::Output {
    actlog()
        .arg("--dir")
        .arg(dir)
        .args(["--now", now, "maintain"])
        .args(extra)
        .output()
        .unwrap()
}

/// record id -> how many times it is stored, over all days (plain and gzipped).
fn stored(dir: &Path) -> (HashMap<String, usize>, u64) {
    let q = Query {
        filter: Filter::new(&FilterSpec::default(), Utc::now()).unwrap(),
        limit: None,
        reverse: false,
        strict: false,
        ignore_summaries: false,
    };
    let mut seen = HashMap::new();
    let outcome = query::run(dir, &q, &mut |_, r| {
        *seen.entry(r.id.to_string()).or_default() += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    (seen, outcome.damaged)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn write_days(dir: &Path, days: &[&str], per_day: usize) {
    let w = Store::open(dir, Options::default()).unwrap().writer();
    for d in days {
        let batch: Vec<Activity> = (0..per_day)
            .map(|i| Activity::new("u", format!("{d}.{i}")).at(at(&format!("{d}T10:00:00Z"))))
            .collect();
        w.append_batch(&batch).unwrap();
    }
}

#[test]
fn retention_keeps_day_n_deletes_day_n_plus_one_never_today_or_future_or_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_days(
        d,
        &[
            "2026-08-26",
            "2026-08-27",
            "2026-08-28",
            "2026-11-24",
            "2026-11-25",
            "2026-11-26",
        ],
        2,
    );
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    std::fs::write(d.join("activity-2026-08-01.json.bak"), "mine").unwrap();
    // Today 2026-11-25, keep 90 days: 2026-08-27 is 90 days ago (kept), 2026-08-26 is 91.
    let before = names(d);
    let dry = maintain(d, "2026-11-25T12:00:00Z", &["--dry-run"]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("would delete 2026-08-26") && !text.contains("2026-08-27:"),
        "{text}"
    );
    assert_eq!(names(d), before, "--dry-run changes nothing");
    let out = maintain(d, "2026-11-25T12:00:00Z", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = names(d);
    assert!(!after.contains(&"activity-2026-08-26.json".to_owned()));
    assert!(
        after.contains(&"activity-2026-08-27.json.gz".to_owned()),
        "{after:?}"
    );
    for kept in [
        "activity-2026-11-24.json",
        "activity-2026-11-25.json",
        "activity-2026-11-26.json",
        "notes.txt",
        "activity-2026-08-01.json.bak",
    ] {
        assert!(
            after.contains(&kept.to_owned()),
            "{kept} missing from {after:?}"
        );
    }
    // Even keeping 0 days, today and the future stay.
    let out = maintain(d, "2026-11-25T12:00:00Z", &["--keep-days", "0"]);
    assert!(out.status.success());
    let after = names(d);
    assert!(
        after.contains(&"activity-2026-11-25.json".to_owned())
            && after.contains(&"activity-2026-11-26.json".to_owned()),
        "{after:?}"
    );
    assert!(!after.iter().any(|n| n.contains("2026-11-24")), "{after:?}");
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    names(dir)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap_or_default();
            (n, bytes)
        })
        .collect()
}

#[test]
fn rerunning_maintenance_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_days(
        dir.path(),
        &["2026-08-01", "2026-11-20", "2026-11-24", "2026-11-25"],
        100,
    );
    maintain(dir.path(), "2026-11-25T12:00:00Z", &[]);
    let once = snapshot(dir.path());
    let out = maintain(dir.path(), "2026-11-25T12:00:00Z", &[]);
    // Three days left (08-01 was deleted), none with anything to do: one line says so.
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nothing to do: 3 days checked, none to compress or delete\n"
    );
    assert_eq!(snapshot(dir.path()), once);
}

#[test]
fn max_bytes_deletes_the_oldest_days_first_but_never_today() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_days(
        d,
        &["2026-11-21", "2026-11-22", "2026-11-23", "2026-11-25"],
        1000,
    );
    let size = |n: &str| std::fs::metadata(d.join(n)).map_or(0, |m| m.len());
    let today = size("activity-2026-11-25.json");
    let newest_past = size("activity-2026-11-23.json");
    // Room for today and one more day: the two oldest go.
    let cap = (today + newest_past + 10).to_string();
    let out = maintain(
        d,
        "2026-11-25T12:00:00Z",
        &["--grace-days", "9", "--max-bytes", &cap],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names(d),
        [
            ".maintenance.lock",
            "activity-2026-11-23.json",
            "activity-2026-11-25.json"
        ]
    );
    // Even a cap of 0 keeps today.
    maintain(d, "2026-11-25T12:00:00Z", &["--max-bytes", "0"]);
    assert_eq!(names(d), [".maintenance.lock", "activity-2026-11-25.json"]);
}

#[test]
fn compression_keeps_every_record_once_in_order_and_makes_standard_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_days(d, &["2026-11-20", "2026-11-21"], 5000);
    let before = stored(d);
    let out = maintain(d, "2026-11-25T00:00:00Z", &[]);
    assert!(out.status.success());
    assert_eq!(stored(d), before);
    assert_eq!(
        names(d),
        [
            ".maintenance.lock",
            "activity-2026-11-20.json.gz",
            "activity-2026-11-21.json.gz"
        ]
    );
    let gz = d.join("activity-2026-11-20.json.gz");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&gz).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let index = actlog::gzmeta::member_index(&std::fs::File::open(&gz).unwrap())
        .unwrap()
        .unwrap();
    assert!(!index.is_empty() && index.iter().all(|m| m.covers.is_some()));
    if let Ok(out) = std::process::Command::new("gzip")
        .arg("-t")
        .arg(&gz)
        .output()
    {
        assert!(
            out.status.success(),
            "gzip -t: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Late records for a compressed day go to a new plain file and are folded in next time.
    write_days(d, &["2026-11-20"], 3);
    let out = maintain(d, "2026-11-25T00:00:00Z", &[]);
    assert!(out.status.success());
    let (seen, damaged) = stored(d);
    assert_eq!(damaged, 0);
    assert_eq!(seen.len(), 10_003);
    assert!(seen.values().all(|&n| n == 1));
}

#[test]
fn a_plain_file_partly_or_wholly_held_by_the_gz_is_folded_once() {
    for fixture in ["covered", "covered-indexed"] {
        let dir = tempfile::tempdir().unwrap();
        common::copy_fixture(fixture, dir.path());
        let before = stored(dir.path());
        let out = maintain(dir.path(), "2026-11-30T00:00:00Z", &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stored(dir.path()), before, "{fixture}");
        assert!(!dir.path().join("activity-2026-11-24.json").exists());
    }
    // Wholly held: a run crashed after the rename; the leftover is only removed.
    let dir = tempfile::tempdir().unwrap();
    common::copy_fixture("covered", dir.path());
    let plain = dir.path().join("activity-2026-11-24.json");
    let bytes = std::fs::read(&plain).unwrap();
    let head_end = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    std::fs::write(&plain, &bytes[..head_end]).unwrap();
    let gz_before = std::fs::read(dir.path().join("activity-2026-11-24.json.gz")).unwrap();
    let out = maintain(dir.path(), "2026-11-30T00:00:00Z", &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("already in its .gz"));
    assert_eq!(
        std::fs::read(dir.path().join("activity-2026-11-24.json.gz")).unwrap(),
        gz_before
    );
    assert!(!plain.exists());
}

#[test]
fn a_damaged_gz_is_not_added_to_and_both_files_are_kept() {
    for damaged in ["activity-2026-11-21.json.gz", "activity-2026-11-22.json.gz"] {
        let dir = tempfile::tempdir().unwrap();
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/damaged")
            .join(damaged);
        std::fs::copy(&src, dir.path().join(damaged)).unwrap();
        let plain = dir.path().join(damaged.trim_end_matches(".gz"));
        std::fs::write(&plain, "{\"id\":\"01937c3e-0000-7000-8000-000000000777\",\"timestamp\":\"2026-11-21T05:00:00.000Z\",\"username\":\"u\",\"action\":\"a\"}\n").unwrap();
        let out = maintain(dir.path(), "2026-11-30T00:00:00Z", &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("not compressing")
                && (err.contains("trailing garbage") || err.contains("damaged gzip member")),
            "{err}"
        );
        assert_eq!(
            std::fs::read(dir.path().join(damaged)).unwrap(),
            std::fs::read(&src).unwrap()
        );
        assert!(plain.exists());
    }
}

#[test]
fn eight_writers_appending_to_a_day_while_it_is_compressed_repeatedly_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let input: String = (0..3000).map(|i| format!("{{\"username\":\"w{w}\",\"action\":\"w{w}.{i}\",\"timestamp\":\"2026-11-20T10:00:00Z\"}}\n")).collect();
            let mut child = actlog().arg("--dir").arg(&d).args(["append", "-", "--batch", "1"]).stdin(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
            child
        })
        .collect();
    let mut runs = 0;
    let mut writers = writers;
    loop {
        let out = maintain(&d, "2026-11-25T00:00:00Z", &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        runs += 1;
        if writers.iter_mut().all(|c| c.try_wait().unwrap().is_some()) {
            break;
        }
    }
    for mut c in writers {
        assert!(c.wait().unwrap().success());
    }
    maintain(&d, "2026-11-25T00:00:00Z", &[]);
    let (seen, damaged) = stored(&d);
    assert_eq!(damaged, 0);
    assert_eq!(seen.len(), 24_000, "after {runs} maintenance runs");
    assert!(seen.values().all(|&n| n == 1), "a record stored twice");
    assert!(
        runs >= 3,
        "maintenance ran only {runs} times during the writes"
    );
}

#[test]
fn two_maintainers_at_once_compress_each_day_once() {
    for round in 0..15 {
        let dir = tempfile::tempdir().unwrap();
        write_days(
            dir.path(),
            &["2026-11-18", "2026-11-19", "2026-11-20"],
            3000,
        );
        let spawn = || {
            actlog()
                .arg("--dir")
                .arg(dir.path())
                .args(["--now", "2026-11-25T00:00:00Z", "maintain"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(a.status.success() && b.status.success());
        let compressed = [&a, &b]
            .iter()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .matches("compressed")
                    .count()
            })
            .sum::<usize>();
        assert_eq!(
            compressed, 3,
            "round {round}: each day compressed exactly once"
        );
        let (seen, damaged) = stored(dir.path());
        assert_eq!((seen.len(), damaged), (9000, 0));
        assert!(seen.values().all(|&n| n == 1));
    }
}

#[test]
fn maintain_killed_at_random_instants_never_loses_or_doubles_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = Store::open(d, Options::default()).unwrap().writer();
    let days = ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"];
    let mut expected = 0usize;
    let mut killed_mid_run = 0;
    for round in 0..100 {
        // New records for a past day, so every run has work to do.
        let day = days[round % days.len()];
        let batch: Vec<Activity> = (0..500)
            .map(|i| {
                Activity::new("u", format!("r{round}.{i}")).at(at(&format!("{day}T10:00:00Z")))
            })
            .collect();
        w.append_batch(&batch).unwrap();
        expected += 500;
        let mut child = actlog()
            .arg("--dir")
            .arg(d)
            .args(["--now", "2026-11-25T00:00:00Z", "maintain"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(fastrand::u64(0..15_000)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_run += 1;
        }
        let (seen, damaged) = stored(d);
        assert_eq!(damaged, 0, "round {round}");
        assert_eq!(seen.len(), expected, "round {round}: a record is missing");
        assert!(
            seen.values().all(|&n| n == 1),
            "round {round}: a record is stored twice"
        );
        // Only what a stopped run may leave: its temp file, or a plain file it had already
        // folded into the .gz.
        for p in actlog::verify::verify(d).unwrap() {
            assert!(
                p.problem == "stale temporary file" || p.problem == "leftover already in the .gz",
                "round {round}: {p}"
            );
        }
    }
    assert!(
        killed_mid_run >= 30,
        "only {killed_mid_run} of 100 runs were killed before finishing"
    );
    let out = maintain(d, "2026-11-25T00:00:00Z", &[]);
    assert!(out.status.success());
    assert!(
        !names(d).iter().any(|n| n.ends_with(".tmp")),
        "{:?}",
        names(d)
    );
    assert_eq!(
        actlog::verify::verify(d).unwrap(),
        Vec::new(),
        "verify after a clean run"
    );
    let (seen, _) = stored(d);
    assert_eq!(seen.len(), expected);
    assert!(
        names(d)
            .iter()
            .all(|n| !n.ends_with(".json") || n.starts_with('.')),
        "all past days compressed: {:?}",
        names(d)
    );
}

#[test]
fn a_writer_with_auto_maintenance_compresses_after_the_day_changes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(actlog::FixedClock::new(at("2026-11-20T23:59:59Z")));
    let store = Store::open(
        dir.path(),
        Options {
            clock: clock.clone(),
            auto_maintain: Some(actlog::maintain::Policy::default()),
            ..Options::default()
        },
    )
    .unwrap();
    let w = store.writer();
    w.append(&Activity::new("u", "day.20")).unwrap();
    assert!(w.wait_for_maintenance().is_none(), "no day change yet");
    clock.set(at("2026-11-21T00:00:01Z"));
    w.append(&Activity::new("u", "day.21")).unwrap();
    // Yesterday (the 20th) is not compressed yet: grace of one day.
    let report = w.wait_for_maintenance().expect("a run started").unwrap();
    assert!(report.actions.is_empty(), "{:?}", report.actions);
    clock.set(at("2026-11-22T00:00:01Z"));
    w.append(&Activity::new("u", "day.22")).unwrap();
    let report = w.wait_for_maintenance().expect("a run started").unwrap();
    assert_eq!(report.actions.len(), 1, "{:?}", report.actions);
    assert!(dir.path().join("activity-2026-11-20.json.gz").exists());
    assert!(!dir.path().join("activity-2026-11-20.json").exists());
    // Same day again: nothing started.
    w.append(&Activity::new("u", "day.22b")).unwrap();
    assert!(w.wait_for_maintenance().is_none());
    let (seen, _) = stored(dir.path());
    assert_eq!(seen.len(), 4);
}

#[test]
fn a_cp_a_backup_taken_while_writers_and_maintenance_run_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("logs");
    std::fs::create_dir(&d).unwrap();
    let days = ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-24"];
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let input: String = (0..4000)
                .map(|i| format!("{{\"username\":\"w{w}\",\"action\":\"w{w}.{i}\",\"timestamp\":\"{}T10:00:00Z\"}}\n", days[i % days.len()]))
                .collect();
            let mut child = actlog().arg("--dir").arg(&d).args(["append", "-", "--batch", "7"]).stdin(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
            child
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let maintainer = {
        let (d, stop) = (d.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                maintain(&d, "2026-11-25T00:00:00Z", &[]);
            }
        })
    };
    let mut copies = 0;
    let mut writers = writers;
    while copies < 12 || !writers.iter_mut().all(|c| c.try_wait().unwrap().is_some()) {
        let copy = dir.path().join(format!("copy{copies}"));
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&d)
            .arg(&copy)
            .status()
            .unwrap();
        // cp may race a rename or unlink; a complaint about a vanished file is expected.
        let _ = status;
        for p in actlog::verify::verify(&copy).unwrap() {
            let fine = matches!(
                p.problem.as_str(),
                "unterminated last line" | "stale temporary file" | "leftover already in the .gz"
            );
            assert!(fine, "copy {copies}: {p}");
        }
        std::fs::remove_dir_all(&copy).unwrap();
        copies += 1;
        if copies > 200 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    maintainer.join().unwrap();
    for mut c in writers {
        assert!(c.wait().unwrap().success());
    }
    let (seen, damaged) = stored(&d);
    assert_eq!((seen.len(), damaged), (12_000, 0));
}

#[test]
fn far_off_settings_neither_panic_nor_write_foreign_names() {
    let dir = tempfile::tempdir().unwrap();
    write_days(dir.path(), &["2026-11-20"], 3);
    let out = maintain(
        dir.path(),
        "2026-11-25T00:00:00Z",
        &["--keep-days", "4294967295", "--grace-days", "4294967295"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("activity-2026-11-20.json").exists(),
        "nothing compressed, nothing deleted"
    );
    // A demo dataset past the end of the calendar is refused, not silently cut short.
    let out = actlog()
        .arg("--dir")
        .arg(dir.path().join("far"))
        .args([
            "demo",
            "--days",
            "3",
            "--per-day",
            "2",
            "--start",
            "9999-12-30",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--days"));
}

/// A raw record line of `day` (a foreign writer's, so any length), `pad` bytes of details.
fn raw_record(day: &str, n: u32, pad: usize) -> Vec<u8> {
    let mut line = format!(
        "{{\"id\":\"01937c3e-0000-7000-8000-{n:012}\",\"timestamp\":\"{day}T{:02}:{:02}:00.000Z\",\"username\":\"ü{n}\",\"action\":\"a\"",
        (n / 60) % 24,
        n % 60
    )
    .into_bytes();
    if pad > 0 {
        line.extend_from_slice(b",\"details\":{\"pad\":\"");
        line.resize(line.len() + pad, b'x');
        line.extend_from_slice(b"\"}");
    }
    line.extend_from_slice(b"}\n");
    line
}

fn count(dir: &Path, args: &[&str]) -> (String, String) {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["query", "-c"])
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lines_over_the_reader_limit_get_members_of_their_own_so_no_readable_record_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = "2026-11-20";
    let plain = d.join(format!("activity-{day}.json"));
    let mut body = Vec::new();
    let mut n = 0;
    let mut normal = |body: &mut Vec<u8>, k: u32| {
        for _ in 0..k {
            body.extend(raw_record(day, n, 0));
            n += 1;
        }
    };
    normal(&mut body, 500);
    body.extend(raw_record(day, 90_001, 3 << 19)); // 1.5 MiB: readable
    normal(&mut body, 500);
    body.extend(raw_record(day, 90_002, 17 << 20)); // over the 16 MiB limit
    normal(&mut body, 500);
    body.extend(raw_record(day, 90_003, 70 << 20)); // over the readers' 64 MiB member cap
    normal(&mut body, 500);
    // A torn, overlong last line too.
    body.extend_from_slice(b"{\"id\":\"");
    body.resize(body.len() + (17 << 20), b'y');
    std::fs::write(&plain, &body).unwrap();

    let views: [&[&str]; 5] = [
        &[],
        &["-r"],
        &["-S", "2026-11-20T04:00:00Z"],
        &["-r", "-U", "2026-11-20T06:00:00Z"],
        &["--user", "ü90001"],
    ];
    let before: Vec<String> = views.iter().map(|v| count(d, v).0).collect();
    assert_eq!(before[0], "2001\n");
    assert_eq!(before[4], "1\n");

    let out = maintain(d, "2026-11-25T12:00:00Z", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!plain.exists());
    let gz_path = d.join(format!("activity-{day}.json.gz"));
    for (v, b) in views.iter().zip(&before) {
        let (after, stderr) = count(d, v);
        assert_eq!(&after, b, "query -c {v:?}: {stderr}");
        assert!(!stderr.contains("inflates to over"), "{v:?}: {stderr}");
    }
    // Every byte is still there for zcat, the torn tail ended with a newline.
    let mut all = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&gz_path).unwrap()),
        &mut all,
    )
    .unwrap();
    body.push(b'\n');
    assert!(all == body, "zcat differs from the plain file");
    // No member comes near the readers' cap.
    let gz = std::fs::File::open(&gz_path).unwrap();
    let members = actlog::gzmeta::member_index(&gz).unwrap().unwrap();
    let bytes = std::fs::read(&gz_path).unwrap();
    for m in &members {
        let at = (m.offset + m.len) as usize;
        let isize = u32::from_le_bytes(bytes[at - 4..at].try_into().unwrap());
        assert!(isize <= (17 << 20) + (1 << 20), "member of {isize} bytes");
    }
    // Maintenance again (nothing to do) and verify name exactly the overlong lines.
    let verify = actlog().arg("--dir").arg(d).arg("verify").output().unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(text.matches("line too long").count(), 3, "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn retention_goes_on_past_a_hard_linked_day_deleting_only_our_name_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let days = [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
        "2026-10-04",
        "2026-10-05",
    ];
    write_days(&logs, &days, 3);
    write_days(&logs, &["2026-11-20"], 3);
    // A `cp -al` backup of the second day.
    let backup = dir.path().join("backup-2026-10-02.json");
    std::fs::hard_link(logs.join("activity-2026-10-02.json"), &backup).unwrap();
    let kept = std::fs::read(&backup).unwrap();

    let out = maintain(&logs, "2026-11-25T12:00:00Z", &["--keep-days", "10"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("2026-10-02") && stderr.contains("hard-linked"),
        "{stderr}"
    );
    assert_eq!(
        names(&logs),
        [".maintenance.lock", "activity-2026-11-20.json.gz"]
    );
    assert_eq!(std::fs::read(&backup).unwrap(), kept, "the backup keeps it");
}

#[test]
fn a_foreign_object_at_a_temp_name_skips_that_day_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_days(
        d,
        &["2026-09-01", "2026-11-18", "2026-11-19", "2026-11-20"],
        4,
    );
    std::fs::create_dir(d.join(".activity-2026-11-18.json.gz.tmp")).unwrap();
    let fifo = d.join(".activity-2026-11-19.json.gz.tmp");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a plain libc call with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);

    let out = maintain(d, "2026-11-25T12:00:00Z", &["--keep-days", "30"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(".activity-2026-11-18.json.gz.tmp") && stderr.contains("a directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains(".activity-2026-11-19.json.gz.tmp")
            && stderr.contains("not a regular file"),
        "{stderr}"
    );
    assert_eq!(
        names(d),
        [
            ".activity-2026-11-18.json.gz.tmp",
            ".activity-2026-11-19.json.gz.tmp",
            ".maintenance.lock",
            "activity-2026-11-18.json",
            "activity-2026-11-19.json",
            "activity-2026-11-20.json.gz",
        ]
    );
    let (seen, damaged) = stored(d);
    assert_eq!((seen.len(), damaged), (12, 0));
}

#[test]
fn an_empty_gz_is_not_folded_into_and_the_other_days_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_days(d, &["2026-11-19", "2026-11-20"], 4);
    let empty = d.join("activity-2026-11-19.json.gz");
    std::fs::write(&empty, b"").unwrap();
    std::fs::set_permissions(&empty, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let out = maintain(d, "2026-11-25T12:00:00Z", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("activity-2026-11-19.json.gz") && stderr.contains("empty"),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    assert!(d.join("activity-2026-11-19.json").exists());
    assert!(d.join("activity-2026-11-20.json.gz").exists());
    let (seen, _) = stored(d);
    assert_eq!(seen.len(), 8);
    let verify = actlog().arg("--dir").arg(d).arg("verify").output().unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{text}");
    assert!(
        text.contains("activity-2026-11-19.json.gz: empty gzip file"),
        "{text}"
    );
}
