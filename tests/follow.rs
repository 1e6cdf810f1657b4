//! `actlog tail -f` with real writer processes: new records appear promptly, a new day's
//! file is picked up, a followed file replaced by maintenance is handled, nothing twice.

mod common;

use common::actlog;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

struct Tail {
    child: Child,
    lines: Receiver<String>,
}

impl Tail {
    fn start(dir: &Path, extra: &[&str]) -> Tail {
        let mut child = actlog()
            .arg("--dir")
            .arg(dir)
            .args(["tail", "-f", "-o", "json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Tail { child, lines }
    }

    /// The action of the next printed record, waiting at most `within`.
    fn next_action(&self, within: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(within).ok()?;
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        Some(v["action"].as_str().unwrap().to_owned())
    }

    /// Everything printed within `quiet`.
    fn rest(&self, quiet: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(a) = self.next_action(quiet) {
            out.push(a);
        }
        out
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(dir: &Path, action: &str, at: &str) {
    let status = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "--user", "u", "--action", action, "--at", at])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn follow_scenario(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    append(d, "old.1", "2026-11-24T10:00:00Z");
    append(d, "old.2", "2026-11-24T11:00:00Z");
    let tail = Tail::start(
        d,
        &["-n", "1"].iter().chain(extra).copied().collect::<Vec<_>>(),
    );
    assert_eq!(
        tail.next_action(Duration::from_secs(10)).as_deref(),
        Some("old.2"),
        "the last record first"
    );
    std::thread::sleep(Duration::from_millis(300));

    // Appended by other processes after tail started: each within 2 seconds.
    for i in 0..3 {
        let started = Instant::now();
        append(d, &format!("new.{i}"), "2026-11-24T12:00:00Z");
        assert_eq!(
            tail.next_action(Duration::from_secs(2)),
            Some(format!("new.{i}"))
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    // Midnight: a record dated the next day lands in a new file.
    append(d, "next.day", "2026-11-25T00:00:01Z");
    assert_eq!(
        tail.next_action(Duration::from_secs(2)).as_deref(),
        Some("next.day")
    );

    // Several writers at once.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let d = d.to_path_buf();
            std::thread::spawn(move || {
                for i in 0..5 {
                    append(&d, &format!("burst.{w}.{i}"), "2026-11-25T01:00:00Z");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let mut burst = tail.rest(Duration::from_secs(2));
    burst.sort();
    let mut expected: Vec<String> = (0..4)
        .flat_map(|w| (0..5).map(move |i| format!("burst.{w}.{i}")))
        .collect();
    expected.sort();
    assert_eq!(burst, expected, "every record once");

    // Maintenance replaces the followed file (as compression does): the old file is
    // unlinked after a last record, new records go to a new file of the same name.
    let path = d.join("activity-2026-11-25.json");
    // The last record of the old file is moved away before tail can have read it, so
    // only the final read of the replaced file can show it.
    append(d, "last.in.old", "2026-11-25T02:00:00Z");
    std::fs::rename(&path, d.join(".folded")).unwrap();
    append(d, "after.fold", "2026-11-25T03:00:00Z");
    assert_eq!(
        tail.next_action(Duration::from_secs(2)).as_deref(),
        Some("last.in.old")
    );
    assert_eq!(
        tail.next_action(Duration::from_secs(2)).as_deref(),
        Some("after.fold")
    );

    // Nothing more, nothing twice.
    assert_eq!(tail.rest(Duration::from_millis(1500)), Vec::<String>::new());
}

#[test]
fn follow_with_file_system_events() {
    follow_scenario(&[]);
}

#[test]
fn follow_by_polling() {
    follow_scenario(&["--poll", "200ms"]);
}

#[test]
fn follow_in_an_empty_directory_waits_for_the_first_file() {
    let dir = tempfile::tempdir().unwrap();
    let tail = Tail::start(dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(300));
    append(dir.path(), "first", "2026-11-24T10:00:00Z");
    assert_eq!(
        tail.next_action(Duration::from_secs(2)).as_deref(),
        Some("first")
    );
}

#[test]
fn follow_prints_nothing_twice_when_writes_race_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let writer = {
        let d = d.clone();
        std::thread::spawn(move || {
            for i in 0..40 {
                append(&d, &format!("race.{i:02}"), "2026-11-24T10:00:00Z");
            }
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let tail = Tail::start(&d, &["-n", "1000"]);
    writer.join().unwrap();
    let seen = tail.rest(Duration::from_secs(2));
    let expected: Vec<String> = (0..40).map(|i| format!("race.{i:02}")).collect();
    assert_eq!(seen, expected, "each record exactly once, in order");
}

/// A follower is not blinded by a future-dated day file (a pod whose clock ran decades
/// ahead), and still prints writes to a day older than the two newest: followed days are
/// every day with a plain file, not the two newest by name.
fn every_day_written_to_is_followed(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    append(d, "before", "2026-11-20T10:00:00Z");
    let status = actlog()
        .arg("--dir")
        .arg(d)
        .args(["append", "--user", "u", "--action", "future"])
        .args([
            "--at",
            "2062-12-02T00:00:00Z",
            "--max-future-skew",
            "20000d",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let tail = Tail::start(
        d,
        &["-n", "0"].iter().chain(extra).copied().collect::<Vec<_>>(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let wait = Duration::from_secs(5);
    // Now, by this machine's clock: today's file, which sorts before the future one.
    let status = actlog()
        .arg("--dir")
        .arg(d)
        .args(["append", "--user", "u", "--action", "now"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(tail.next_action(wait).as_deref(), Some("now"));
    // Newer days appear, then a late write to an old day (the rollover `--poll` missed).
    append(d, "day.21", "2026-11-21T10:00:00Z");
    assert_eq!(tail.next_action(wait).as_deref(), Some("day.21"));
    append(d, "day.22", "2026-11-22T10:00:00Z");
    assert_eq!(tail.next_action(wait).as_deref(), Some("day.22"));
    append(d, "late.20", "2026-11-20T23:00:00Z");
    assert_eq!(tail.next_action(wait).as_deref(), Some("late.20"));
    append(d, "late.21", "2026-11-21T23:00:00Z");
    assert_eq!(tail.next_action(wait).as_deref(), Some("late.21"));
    // A day that had no file when following started, older than all of them.
    append(d, "older", "2026-11-01T10:00:00Z");
    assert_eq!(tail.next_action(wait).as_deref(), Some("older"));
    assert_eq!(tail.rest(Duration::from_millis(1500)), Vec::<String>::new());
}

#[test]
fn every_day_written_to_is_followed_with_events() {
    every_day_written_to_is_followed(&[]);
}

#[test]
fn every_day_written_to_is_followed_by_polling() {
    every_day_written_to_is_followed(&["--poll", "2s"]);
}

/// Collects the `action` of every line a follower hands over.
#[derive(Default)]
struct Actions(Vec<String>);

impl actlog::scan::Sink for Actions {
    fn line(&mut self, line: &[u8], _: actlog::scan::Loc<'_>) -> std::ops::ControlFlow<()> {
        let r = actlog::Record::parse_line(line).unwrap();
        self.0.push(r.action);
        std::ops::ControlFlow::Continue(())
    }
    fn damage(&mut self, damage: actlog::scan::Damage) {
        panic!("unexpected damage: {damage}");
    }
}

/// A writer into `dir` whose clock says it is noon of `today` (a day of November 2026).
fn november_writer(dir: &Path, today: u32) -> actlog::Writer {
    use chrono::TimeZone;
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, today, 12, 0, 0)
        .unwrap();
    let options = actlog::Options {
        clock: std::sync::Arc::new(actlog::FixedClock::new(now)),
        ..actlog::Options::default()
    };
    actlog::Store::open(dir, options).unwrap().writer()
}

/// Appends a record with `action`, stamped 08:00 on `day` of November 2026.
fn append_on(w: &actlog::Writer, day: u32, action: &str) {
    use chrono::TimeZone;
    let ts = chrono::Utc
        .with_ymd_and_hms(2026, 11, day, 8, 0, 0)
        .unwrap();
    w.append(&actlog::Activity::new("u", action).at(ts))
        .unwrap();
}

/// Maintenance as of `today` (November 2026), folding every day before it.
fn fold(dir: &Path, today: u32) {
    let policy = actlog::maintain::Policy {
        grace_days: 0,
        ..Default::default()
    };
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, today).unwrap();
    actlog::maintain::run(dir, day, &policy).unwrap();
}

/// A day folded into its `.gz` twice between two looks of the follower: the records of
/// the plain file it never saw are read from the `.gz`, each once.
#[test]
fn a_day_folded_twice_between_two_looks_loses_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let w = november_writer(dir, 25);
    append_on(&w, 25, "today");
    append_on(&w, 24, "before");
    let (mut follower, _) = actlog::follow::Follower::start(dir).unwrap();
    append_on(&w, 24, "a1");
    fold(dir, 25); // a1's file folded away
    append_on(&w, 24, "b1"); // a new plain file, never looked at...
    fold(dir, 25); // ...folded away too
    append_on(&w, 24, "c1");
    let mut got = Actions::default();
    assert!(follower.read_new(&mut got).unwrap().is_continue());
    got.0.sort();
    assert_eq!(got.0, ["a1", "b1", "c1"]);
    append_on(&w, 24, "c2");
    append_on(&w, 25, "t2");
    let mut more = Actions::default();
    assert!(follower.read_new(&mut more).unwrap().is_continue());
    more.0.sort();
    assert_eq!(more.0, ["c2", "t2"]);
}

/// A day that was not there when following started appears, is folded, and appears again
/// before the follower looks: both files' records come, once.
#[test]
fn a_new_day_folded_before_the_first_look_loses_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let w = november_writer(dir, 26);
    append_on(&w, 24, "old");
    let (mut follower, _) = actlog::follow::Follower::start(dir).unwrap();
    append_on(&w, 25, "n1"); // a newer day than any at the start
    fold(dir, 26);
    append_on(&w, 25, "n2");
    let mut got = Actions::default();
    assert!(follower.read_new(&mut got).unwrap().is_continue());
    assert_eq!(got.0, ["n1", "n2"]);
}

/// A plain file created and folded in whole between two looks leaves no plain file to
/// follow: its records are read from the members it left in the `.gz`, each once, for a
/// new day and for a day already compressed when following began.
#[test]
fn a_plain_file_created_and_folded_between_two_looks_loses_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let w = november_writer(dir, 26);
    append_on(&w, 23, "before");
    fold(dir, 26);
    let (mut follower, _) = actlog::follow::Follower::start(dir).unwrap();
    append_on(&w, 23, "late"); // a day compressed before following began
    append_on(&w, 25, "new"); // a day with no file at all before
    fold(dir, 26);
    let mut got = Actions::default();
    assert!(follower.read_new(&mut got).unwrap().is_continue());
    got.0.sort();
    assert_eq!(got.0, ["late", "new"]);
    // Nothing more comes from a second look, nor after another record and fold.
    let mut again = Actions::default();
    assert!(follower.read_new(&mut again).unwrap().is_continue());
    assert!(again.0.is_empty(), "{:?}", again.0);
    append_on(&w, 25, "later");
    fold(dir, 26);
    assert!(follower.read_new(&mut again).unwrap().is_continue());
    assert_eq!(again.0, ["later"]);
}

/// 300 plain day files and a soft open-file limit of 100: `tail -f` raises its soft limit
/// to the hard one and follows them all; with no room to raise it, it says in one line
/// what is wrong and what to do, and exits 2.
#[test]
fn many_plain_days_are_followed_or_refused_in_one_clear_line() {
    use chrono::TimeZone;
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let today = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let w = actlog::Store::open(
        dir,
        actlog::Options {
            clock: std::sync::Arc::new(actlog::FixedClock::new(today)),
            ..actlog::Options::default()
        },
    )
    .unwrap()
    .writer();
    for back in 0..300 {
        let at = today - chrono::Duration::days(back);
        w.append(&actlog::Activity::new("u", "old").at(at)).unwrap();
    }
    drop(w);
    let tail = |limit: &str| {
        std::process::Command::new("prlimit")
            .arg(format!("--nofile={limit}"))
            .arg(env!("CARGO_BIN_EXE_actlog"))
            .arg("--dir")
            .arg(dir)
            .args(["tail", "-f", "-n", "0", "-o", "json", "--poll", "200ms"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut child = tail("100:4096");
    let out = child.stdout.take().unwrap();
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(800));
    let oldest = (today - chrono::Duration::days(299)).format("%Y-%m-%dT08:00:00Z");
    let appended = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "--user", "u", "--action", "late.to.the.oldest"])
        .args(["--at", &oldest.to_string()])
        .output()
        .unwrap();
    assert!(
        appended.status.success(),
        "{}",
        String::from_utf8_lossy(&appended.stderr)
    );
    let line = lines.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let line = line.unwrap_or_else(|_| panic!("nothing printed ({status}): {err}"));
    assert!(line.contains("late.to.the.oldest"), "{line}");

    let refused = tail("100:100").wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot follow 300 plain day files")
            && err.contains("actlog maintain")
            && err.contains("ulimit -n"),
        "{err}"
    );
    assert!(refused.stdout.is_empty());
}
