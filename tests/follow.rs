//! `actlog tail -f` with real writer processes: new records appear promptly, a new day's
//! file is picked up, a followed file replaced by maintenance is handled, nothing twice.

mod common;

use common::actlog;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
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
        // Stands for pods whose clocks are far ahead, whose records exist all the same.
        .args(["--max-future-skew", "100000d"])
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

/// Noon of `today`, a day of November 2026.
fn november_noon(today: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, 11, today, 12, 0, 0)
        .unwrap()
}

/// A clock stopped at noon of `today` (November 2026).
fn november_clock(today: u32) -> Arc<actlog::FixedClock> {
    Arc::new(actlog::FixedClock::new(november_noon(today)))
}

/// A writer into `dir` whose clock says it is noon of `today` (a day of November 2026).
fn november_writer(dir: &Path, today: u32) -> actlog::Writer {
    let options = actlog::Options {
        clock: november_clock(today),
        // These tests plant records from pods whose clocks are far ahead.
        max_future_skew: std::time::Duration::MAX,
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
    let (mut follower, _) = actlog::follow::Follower::start(dir, november_clock(25)).unwrap();
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
    let (mut follower, _) = actlog::follow::Follower::start(dir, november_clock(26)).unwrap();
    append_on(&w, 25, "n1"); // a newer day than any at the start
    fold(dir, 26);
    append_on(&w, 25, "n2");
    let mut got = Actions::default();
    assert!(follower.read_new(&mut got).unwrap().is_continue());
    assert_eq!(got.0, ["n1", "n2"]);
}

/// Appends a record with `action` stamped `at` (RFC 3339).
fn append_at(w: &actlog::Writer, at: &str, action: &str) {
    let ts = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc();
    w.append(&actlog::Activity::new("u", action).at(ts))
        .unwrap();
}

/// Everything `follower` hands over in one look.
fn look(follower: &mut actlog::follow::Follower) -> Vec<String> {
    let mut got = Actions::default();
    assert!(follower.read_new(&mut got).unwrap().is_continue());
    got.0
}

/// A future-dated file (a pod whose clock is decades ahead) must not move the followed
/// days away from the clock's: today's records keep showing, and so do the future's.
#[test]
fn a_future_dated_day_does_not_hide_today() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let w = november_writer(dir, 25);
    append_on(&w, 25, "t0");
    append_at(&w, "2062-12-02T00:00:00Z", "future.0");
    let (mut follower, _) = actlog::follow::Follower::start(dir, november_clock(25)).unwrap();
    append_on(&w, 25, "t1");
    assert_eq!(look(&mut follower), ["t1"]);
    append_at(&w, "2062-12-03T00:00:00Z", "future.1");
    append_on(&w, 25, "t2");
    let mut got = look(&mut follower);
    got.sort();
    assert_eq!(got, ["future.1", "t2"]);
    append_on(&w, 25, "t3");
    append_at(&w, "2062-12-02T01:00:00Z", "future.2");
    let mut got = look(&mut follower);
    got.sort();
    assert_eq!(got, ["future.2", "t3"]);
}

/// Late writes to days long past: to a day file that existed at the start (big enough to
/// be closed while quiet), to one that did not, to one folded before the follower looked,
/// and to one that appeared and was folded between two looks. Each record once.
#[test]
fn late_writes_to_old_days_show_once_even_when_folded_before_a_look() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let w = november_writer(dir, 25);
    // Past the 4 KiB head, so the follower closes it while it is quiet.
    for i in 0..80 {
        append_on(&w, 20, &format!("old.{i:02}.{}", "é".repeat(20)));
    }
    append_on(&w, 25, "today");
    let (mut follower, ends) = actlog::follow::Follower::start(dir, november_clock(25)).unwrap();
    assert_eq!(ends.len(), 2, "every plain day is followed: {ends:?}");
    assert_eq!(look(&mut follower), Vec::<String>::new());
    assert_eq!(look(&mut follower), Vec::<String>::new());
    append_on(&w, 20, "late.1");
    assert_eq!(look(&mut follower), ["late.1"]);
    assert_eq!(look(&mut follower), Vec::<String>::new());
    // Written and folded before the follower looks again: only the `.gz` holds it.
    append_on(&w, 20, "late.2");
    fold(dir, 25);
    assert_eq!(look(&mut follower), ["late.2"]);
    // The folded day written again: a new plain file.
    append_on(&w, 20, "late.3");
    assert_eq!(look(&mut follower), ["late.3"]);
    // A day that had no file at the start.
    append_on(&w, 21, "late.4");
    assert_eq!(look(&mut follower), ["late.4"]);
    // A day whose file appears and is folded between two looks.
    append_on(&w, 22, "late.5");
    append_on(&w, 20, "late.6");
    fold(dir, 25);
    let mut got = look(&mut follower);
    got.sort();
    assert_eq!(got, ["late.5", "late.6"]);
    assert_eq!(look(&mut follower), Vec::<String>::new());
}

/// When the clock moves on, the day that stops being current keeps being followed: a
/// late write to it after the rollover still shows.
#[test]
fn a_day_that_stops_being_current_is_still_followed() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let w = november_writer(dir, 24);
    append_on(&w, 23, "d23");
    append_on(&w, 24, "d24");
    let clock = november_clock(24);
    let (mut follower, _) = actlog::follow::Follower::start(dir, clock.clone()).unwrap();
    clock.set(november_noon(27));
    append_on(&w, 27, "d27");
    append_on(&w, 23, "late.23");
    let mut got = look(&mut follower);
    got.sort();
    assert_eq!(got, ["d27", "late.23"]);
    append_on(&w, 23, "later.23");
    append_on(&w, 24, "later.24");
    let mut got = look(&mut follower);
    got.sort();
    assert_eq!(got, ["later.23", "later.24"]);
}

/// `actlog append` stamped now (the real clock).
fn append_now(dir: &Path, action: &str) {
    let status = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "--user", "u", "--action", action])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn follows_the_clock(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    append(d, "future.0", "2062-12-02T00:00:00Z");
    let tail = Tail::start(d, &[&["-n", "0"], extra].concat());
    std::thread::sleep(Duration::from_millis(300));
    append_now(d, "now.1");
    assert_eq!(
        tail.next_action(Duration::from_secs(3)).as_deref(),
        Some("now.1"),
        "a record stamped now, after a future-dated file"
    );
    let three_days_ago = rfc3339(chrono::Utc::now() - chrono::Duration::days(3));
    append(d, "late.0", &three_days_ago);
    assert_eq!(
        tail.next_action(Duration::from_secs(3)).as_deref(),
        Some("late.0")
    );
    append(d, "future.1", "2062-12-02T00:00:01Z");
    assert_eq!(
        tail.next_action(Duration::from_secs(3)).as_deref(),
        Some("future.1")
    );
    append_now(d, "now.2");
    assert_eq!(
        tail.next_action(Duration::from_secs(3)).as_deref(),
        Some("now.2")
    );
    assert_eq!(tail.rest(Duration::from_millis(1200)), Vec::<String>::new());
}

#[test]
fn tail_f_follows_the_clock_not_the_newest_file_name() {
    follows_the_clock(&[]);
}

#[test]
fn tail_f_poll_follows_the_clock_not_the_newest_file_name() {
    follows_the_clock(&["--poll", "200ms"]);
}

/// Waits for `child` to exit, at most `within`; `None` if it is still running.
fn exit_within(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn tail_f_until_a_past_time_prints_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    append(d, "before", "2026-11-24T10:00:00Z");
    append(d, "after", "2026-11-24T12:00:00Z");
    for extra in [&[][..], &["--poll", "200ms"][..]] {
        let mut tail = Tail::start(d, &[&["--until", "2026-11-24T11:00:00Z"], extra].concat());
        assert_eq!(
            exit_within(&mut tail.child, Duration::from_secs(5)),
            Some(0),
            "something matched {extra:?}"
        );
        assert_eq!(tail.rest(Duration::from_millis(500)), ["before"]);
        // Nothing before the bound: exit 1, as grep.
        let mut tail = Tail::start(d, &[&["--until", "2026-11-24T09:00:00Z"], extra].concat());
        assert_eq!(
            exit_within(&mut tail.child, Duration::from_secs(5)),
            Some(1)
        );
        assert_eq!(tail.rest(Duration::from_millis(300)), Vec::<String>::new());
    }
    // The stopped clock of ACTLOG_NOW is past the bound too.
    let mut tail = Tail::start(
        d,
        &[
            "--now",
            "2026-11-24T11:30:00Z",
            "--until",
            "2026-11-24T11:15:00Z",
        ],
    );
    assert_eq!(
        exit_within(&mut tail.child, Duration::from_secs(5)),
        Some(0)
    );
    assert_eq!(tail.rest(Duration::from_millis(500)), ["before"]);
}

#[test]
fn tail_f_until_a_near_time_follows_until_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let until = rfc3339(chrono::Utc::now() + chrono::Duration::seconds(3));
    let mut tail = Tail::start(d, &["-n", "0", "--until", &until]);
    std::thread::sleep(Duration::from_millis(300));
    append_now(d, "in.time");
    assert_eq!(
        tail.next_action(Duration::from_secs(3)).as_deref(),
        Some("in.time")
    );
    assert_eq!(
        exit_within(&mut tail.child, Duration::from_secs(6)),
        Some(0)
    );
}

#[test]
fn tail_f_poll_misses_no_late_write_at_rollover_during_maintenance() {
    rollover_during_maintenance(&["--poll", "150ms"]);
}

#[test]
fn tail_f_misses_no_late_write_at_rollover_during_maintenance() {
    rollover_during_maintenance(&[]);
}

/// Fast fake days: writers stamp records with the current fake day or one or two days
/// before it (pods whose clocks lag), maintenance folds every day before the fake today
/// while they write, and `tail -f` must print every record exactly once.
fn rollover_during_maintenance(extra: &[&str]) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day0 = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let tail = Tail::start(d, &[&["-n", "0"], extra].concat());
    std::thread::sleep(Duration::from_millis(300));
    let mut writers: Vec<Child> = (0..3)
        .map(|_| {
            actlog()
                .arg("--dir")
                .arg(d)
                .args(["append", "-", "--batch", "1"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut expected = Vec::new();
    let mut maintainer: Option<Child> = None;
    for k in 0..8i64 {
        let today = day0 + chrono::Duration::days(k);
        for i in 0..30i64 {
            let lag = (i % 3).min(k);
            let day = today - chrono::Duration::days(lag);
            let action = format!("r.{k}.{i:02}.ü");
            let line = serde_json::json!({
                "username": "w",
                "action": action,
                "timestamp": format!("{day}T{:02}:00:00Z", i % 24),
            });
            let w = &mut writers[(i % 3) as usize];
            writeln!(w.stdin.as_mut().unwrap(), "{line}").unwrap();
            w.stdin.as_mut().unwrap().flush().unwrap();
            expected.push(action);
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            if i == 15 {
                if let Some(mut m) = maintainer.take() {
                    assert!(m.wait().unwrap().success());
                }
                maintainer = Some(
                    actlog()
                        .arg("--dir")
                        .arg(d)
                        .args(["--now", &format!("{today}T12:00:00Z")])
                        .args(["maintain", "--grace-days", "0"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
            }
        }
    }
    for mut w in writers {
        drop(w.stdin.take());
        assert!(w.wait().unwrap().success());
    }
    if let Some(mut m) = maintainer.take() {
        assert!(m.wait().unwrap().success());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while seen.len() < expected.len() && Instant::now() < deadline {
        if let Some(a) = tail.next_action(Duration::from_millis(500)) {
            seen.push(a);
        }
    }
    seen.extend(tail.rest(Duration::from_millis(800)));
    seen.sort();
    expected.sort();
    let missing: Vec<_> = expected.iter().filter(|a| !seen.contains(a)).collect();
    assert!(missing.is_empty(), "never printed: {missing:?}");
    assert_eq!(seen, expected, "each record exactly once");
}

/// `actlog serve`'s `/v1/activity/stream` uses the same follower: after a future-dated
/// record, records stamped now still stream.
#[test]
fn the_stream_follows_the_clock_not_the_newest_file_name() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    append(d, "future.0", "2062-12-02T00:00:00Z");
    let mut server = actlog()
        .arg("--dir")
        .arg(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    let url = first
        .split_whitespace()
        .last()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    let resp = ureq::get(format!("{url}/v1/activity/stream"))
        .call()
        .unwrap();
    let (tx, events) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(resp.into_body().into_reader()).lines() {
            let Ok(line) = line else { break };
            if let Some(data) = line.strip_prefix("data:") {
                let v: serde_json::Value = serde_json::from_str(data.trim_start()).unwrap();
                let action = v["action"].as_str().unwrap().to_owned();
                if tx.send(action).is_err() {
                    break;
                }
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    append_now(d, "now.1");
    let three_days_ago = rfc3339(chrono::Utc::now() - chrono::Duration::days(3));
    append(d, "late.0", &three_days_ago);
    let mut got = Vec::new();
    while got.len() < 2 {
        match events.recv_timeout(Duration::from_secs(5)) {
            Ok(a) => got.push(a),
            Err(_) => break,
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    got.sort();
    assert_eq!(got, ["late.0", "now.1"]);
}
