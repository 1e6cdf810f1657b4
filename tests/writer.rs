//! The appender through the library API: day selection, reopening a replaced file,
//! durability modes, group commit, sharing between threads.

mod common;

use actlog::{Activity, Durability, Error, FixedClock, Options, Store, Writer};
use chrono::{DateTime, TimeZone, Utc};
use common::{all_lines, day_bytes};
use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn open(dir: &std::path::Path, durability: Durability) -> Store {
    Store::open(
        dir,
        Options {
            durability,
            ..Options::default()
        },
    )
    .unwrap()
}

/// Appends `each` records named `t{thread}`/`a{i}` from each of `threads` threads at once.
fn append_from_threads(w: &Arc<Writer>, threads: usize, each: usize) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let w = Arc::clone(w);
            std::thread::spawn(move || {
                for i in 0..each {
                    let a = Activity::new(format!("t{t}"), format!("a{i}"));
                    w.append(&a.at(at("2026-11-24T01:00:00Z"))).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn writer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Writer>();
    check::<Store>();
}

#[test]
fn id_and_timestamp_are_filled_in_from_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(at("2026-11-24T23:59:59.9999Z")));
    let store = Store::open(
        dir.path(),
        Options {
            clock: clock.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    let w = store.writer();
    let a = w.append(&Activity::new("alice", "login")).unwrap();
    let b = w.append(&Activity::new("alice", "login")).unwrap();
    assert_eq!(
        a.timestamp,
        at("2026-11-24T23:59:59.999Z"),
        "cut to milliseconds"
    );
    assert_eq!(a.id.get_version_num(), 7);
    assert!(b.id > a.id, "ids from one writer increase");
    clock.set(at("2026-11-25T00:00:00Z"));
    w.append(&Activity::new("alice", "logout")).unwrap();
    let lines = all_lines(dir.path());
    assert_eq!(lines.len(), 3);
    assert_eq!(
        day_bytes(dir.path(), "2026-11-24")
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        2
    );
    assert_eq!(lines[2].1.as_ref().unwrap().action, "logout");
    assert!(
        String::from_utf8_lossy(&day_bytes(dir.path(), "2026-11-25"))
            .contains("\"timestamp\":\"2026-11-25T00:00:00.000Z\"")
    );
}

#[test]
fn a_batch_spanning_midnight_goes_to_two_files_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), Durability::Flush).writer();
    let batch: Vec<Activity> = [
        "2026-11-24T23:59:59.998Z",
        "2026-11-24T23:59:59.999Z",
        "2026-11-25T00:00:00.000Z",
        "2026-11-25T00:00:00.001Z",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| Activity::new("u", format!("a{i}")).at(at(t)))
    .collect();
    w.append_batch(&batch).unwrap();
    let d24 = String::from_utf8(day_bytes(dir.path(), "2026-11-24")).unwrap();
    let d25 = String::from_utf8(day_bytes(dir.path(), "2026-11-25")).unwrap();
    assert_eq!(d24.lines().count(), 2);
    assert_eq!(d25.lines().count(), 2);
    assert!(d24.find("\"a0\"").unwrap() < d24.find("\"a1\"").unwrap());
    assert!(d25.find("\"a2\"").unwrap() < d25.find("\"a3\"").unwrap());
}

#[test]
fn one_invalid_record_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), Durability::Flush).writer();
    let batch = vec![
        Activity::new("u", "ok"),
        Activity::new("", "bad"),
        Activity::new("u", "ok"),
    ];
    match w.append_batch(&batch) {
        Err(Error::InvalidAt { index: 1, source }) => {
            assert!(source.to_string().contains("username"))
        }
        other => panic!("expected InvalidAt, got {other:?}"),
    }
    assert!(all_lines(dir.path()).is_empty());
}

#[test]
fn lines_over_the_limit_are_refused_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), Durability::Flush).writer();
    let big = Activity::new("u", "a").with_user_agent("x".repeat(70_000));
    match w.append(&big) {
        Err(Error::LineTooLong { len, max: 65536 }) => assert!(len > 70_000),
        other => panic!("expected LineTooLong, got {other:?}"),
    }
    assert!(all_lines(dir.path()).is_empty());
    let roomy = Store::open(
        dir.path(),
        Options {
            max_line_bytes: 1 << 20,
            ..Options::default()
        },
    )
    .unwrap();
    roomy.writer().append(&big).unwrap();
    assert_eq!(all_lines(dir.path()).len(), 1);
}

#[test]
fn a_day_file_replaced_under_an_open_writer_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), Durability::Flush).writer();
    let t = at("2026-11-24T12:00:00Z");
    let path = dir.path().join("activity-2026-11-24.json");
    w.append(&Activity::new("u", "first").at(t)).unwrap();
    // Maintenance-style replacement: the file the writer holds open leaves the path...
    fs::rename(&path, dir.path().join(".moved")).unwrap();
    w.append(&Activity::new("u", "second").at(t)).unwrap();
    // ...and outright deletion.
    fs::remove_file(&path).unwrap();
    w.append(&Activity::new("u", "third").at(t)).unwrap();
    let moved = fs::read_to_string(dir.path().join(".moved")).unwrap();
    assert!(moved.contains("first") && !moved.contains("second"));
    let now = fs::read_to_string(&path).unwrap();
    assert!(now.contains("third") && !now.contains("second") && !now.contains("first"));
}

#[test]
fn a_writer_waits_for_the_lock_and_then_checks_the_file_is_still_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("activity-2026-11-24.json");
    let store = open(dir.path(), Durability::Flush);
    let w = store.writer();
    w.append(&Activity::new("u", "before").at(at("2026-11-24T01:00:00Z")))
        .unwrap();
    // Someone else (as maintenance does) holds the day's lock.
    let held = fs::File::open(&path).unwrap();
    held.lock().unwrap();
    let appender = std::thread::spawn(move || {
        w.append(&Activity::new("u", "waited").at(at("2026-11-24T02:00:00Z")))
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!appender.is_finished(), "append must wait for the lock");
    // While holding the lock, replace the file, then let go.
    fs::remove_file(&path).unwrap();
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    held.unlock().unwrap();
    appender.join().unwrap();
    let now = fs::read_to_string(&path).unwrap();
    assert_eq!(now.lines().count(), 1);
    assert!(now.contains("waited"));
}

#[test]
fn flush_mode_writes_before_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), Durability::Flush).writer();
    w.append(&Activity::new("u", "a").at(at("2026-11-24T01:00:00Z")))
        .unwrap();
    // Seen by another open file right away, writer still alive.
    assert_eq!(all_lines(dir.path()).len(), 1);
    drop(w);
}

#[test]
fn buffered_mode_writes_within_the_interval_without_being_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            durability: Durability::Buffered,
            flush_interval: Duration::from_millis(200),
            ..Options::default()
        },
    )
    .unwrap();
    let w = store.writer();
    w.append(&Activity::new("u", "a").at(at("2026-11-24T01:00:00Z")))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while all_lines(dir.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "buffered record never written while the writer lived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(w);
}

fn lazy_buffered(dir: &std::path::Path, capacity_bytes: usize) -> Writer {
    Store::open(
        dir,
        Options {
            durability: Durability::Buffered,
            flush_interval: Duration::from_secs(3600),
            queue_capacity_bytes: capacity_bytes,
            ..Options::default()
        },
    )
    .unwrap()
    .writer()
}

#[test]
fn buffered_mode_holds_records_until_flush_close_or_drop() {
    let dir = tempfile::tempdir().unwrap();
    let t = at("2026-11-24T01:00:00Z");
    let w = lazy_buffered(dir.path(), 1 << 20);
    w.append(&Activity::new("u", "a").at(t)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        all_lines(dir.path()).is_empty(),
        "nothing written before the interval"
    );
    w.flush().unwrap();
    assert_eq!(all_lines(dir.path()).len(), 1, "flush writes");
    w.append(&Activity::new("u", "b").at(t)).unwrap();
    w.close().unwrap();
    assert_eq!(all_lines(dir.path()).len(), 2, "close writes");
    let w = lazy_buffered(dir.path(), 1 << 20);
    w.append(&Activity::new("u", "c").at(t)).unwrap();
    drop(w);
    assert_eq!(all_lines(dir.path()).len(), 3, "drop writes");
}

#[test]
fn buffered_mode_applies_back_pressure_instead_of_dropping() {
    let dir = tempfile::tempdir().unwrap();
    // A one-byte queue and a one-hour interval: callers block on the full queue, and a
    // full queue must wake the thread rather than wait for the timer.
    let w = Arc::new(lazy_buffered(dir.path(), 1));
    append_from_threads(&w, 4, 5000);
    Arc::try_unwrap(w).unwrap().close().unwrap();
    assert_eq!(
        all_lines(dir.path())
            .iter()
            .filter(|l| l.1.is_some())
            .count(),
        20_000
    );
}

#[test]
fn fsync_mode_groups_concurrent_appends_into_fewer_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(open(dir.path(), Durability::Fsync).writer());
    append_from_threads(&w, 8, 150);
    let lines = all_lines(dir.path());
    assert_eq!(lines.len(), 1200);
    assert!(lines.iter().all(|l| l.1.is_some()));
    // Per thread, order is kept.
    for t in 0..8 {
        let mine: Vec<_> = lines
            .iter()
            .filter_map(|l| l.1.as_ref())
            .filter(|r| r.username == format!("t{t}"))
            .map(|r| r.action.clone())
            .collect();
        assert_eq!(mine, (0..150).map(|i| format!("a{i}")).collect::<Vec<_>>());
    }
    let syncs = w.fsyncs();
    assert!(
        syncs > 0 && syncs < 1200,
        "8 threads should share syncs: {syncs} fsyncs for 1200 records"
    );
}

#[test]
fn fsync_mode_single_thread_syncs_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), Durability::Fsync).writer();
    for i in 0..5 {
        w.append(
            &Activity::new("u", format!("a{i}"))
                .at(Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap()),
        )
        .unwrap();
    }
    assert_eq!(w.fsyncs(), 5);
    assert_eq!(all_lines(dir.path()).len(), 5);
}

#[test]
fn store_creates_a_missing_directory_and_refuses_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/logs");
    Store::open(&nested, Options::default()).unwrap();
    let mode = fs::metadata(&nested).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o750
    );
    let file = dir.path().join("plain-file");
    fs::write(&file, "").unwrap();
    let e = Store::open(&file, Options::default()).unwrap_err();
    assert!(
        e.to_string().contains("plain-file") && e.to_string().contains("Not a directory"),
        "{e}"
    );
}

#[test]
fn a_thread_waiting_for_one_days_lock_does_not_hold_up_another_day() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(open(dir.path(), Durability::Flush).writer());
    let yesterday = at("2026-11-24T23:00:00Z");
    let today = at("2026-11-25T01:00:00Z");
    w.append(&Activity::new("u", "a").at(yesterday)).unwrap();
    // Maintenance holds yesterday's lock (say, compressing it).
    let held = fs::File::open(dir.path().join("activity-2026-11-24.json")).unwrap();
    held.lock().unwrap();
    let late = {
        let w = Arc::clone(&w);
        std::thread::spawn(move || w.append(&Activity::new("u", "late").at(yesterday)).unwrap())
    };
    std::thread::sleep(Duration::from_millis(200));
    let (tx, rx) = std::sync::mpsc::channel();
    let current = {
        let w = Arc::clone(&w);
        std::thread::spawn(move || {
            w.append(&Activity::new("u", "today").at(today)).unwrap();
            tx.send(()).unwrap();
        })
    };
    let done = rx.recv_timeout(Duration::from_secs(10));
    assert!(
        !late.is_finished(),
        "the late record must still wait for yesterday's lock"
    );
    held.unlock().unwrap();
    late.join().unwrap();
    current.join().unwrap();
    assert!(
        done.is_ok(),
        "today's append was held up by yesterday's lock"
    );
    assert_eq!(all_lines(dir.path()).len(), 3);
}

fn store_at(dir: &std::path::Path, now: &str, skew: Option<Duration>) -> Store {
    let mut options = Options {
        clock: Arc::new(FixedClock::new(at(now))),
        ..Options::default()
    };
    if let Some(skew) = skew {
        options.max_future_skew = skew;
    }
    Store::open(dir, options).unwrap()
}

fn refused_field(e: &Error) -> Option<&str> {
    match e {
        Error::Invalid(v) => Some(&v.field),
        Error::InvalidAt { source, .. } => refused_field(source),
        _ => None,
    }
}

#[test]
fn a_timestamp_further_ahead_than_the_skew_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        Options::default().max_future_skew,
        Duration::from_secs(86_400)
    );
    let w = store_at(dir.path(), "2026-11-24T12:00:00Z", None).writer();
    w.append(&Activity::new("u", "edge").at(at("2026-11-25T12:00:00.000Z")))
        .unwrap();
    let e = w
        .append(&Activity::new("u", "late").at(at("2026-11-25T12:00:00.001Z")))
        .unwrap_err();
    assert_eq!(refused_field(&e), Some("timestamp"), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("2026-11-25T12:00:00.001Z")
            && text.contains("1d")
            && text.contains("max-future-skew"),
        "{text}"
    );
    // In a batch: refused before anything of it is written.
    let batch = [
        Activity::new("u", "ok").at(at("2026-11-24T11:00:00Z")),
        Activity::new("u", "skewed").at(at("2027-01-01T00:00:00Z")),
    ];
    match w.append_batch(&batch).unwrap_err() {
        Error::InvalidAt { index: 1, source } => {
            assert_eq!(refused_field(&source), Some("timestamp"))
        }
        other => panic!("{other}"),
    }
    let actions: Vec<String> = all_lines(dir.path())
        .into_iter()
        .map(|(_, r)| r.unwrap().action)
        .collect();
    assert_eq!(actions, ["edge"]);
}

#[test]
fn the_skew_is_configurable_from_zero_to_unlimited() {
    let dir = tempfile::tempdir().unwrap();
    let w = store_at(dir.path(), "2026-11-24T12:00:00Z", Some(Duration::ZERO)).writer();
    w.append(&Activity::new("u", "now").at(at("2026-11-24T12:00:00Z")))
        .unwrap();
    w.append(&Activity::new("u", "stamped")).unwrap();
    let e = w
        .append(&Activity::new("u", "ahead").at(at("2026-11-24T12:00:00.001Z")))
        .unwrap_err();
    assert_eq!(refused_field(&e), Some("timestamp"), "{e}");
    let w = store_at(dir.path(), "2026-11-24T12:00:00Z", Some(Duration::MAX)).writer();
    w.append(&Activity::new("u", "far").at(at("9999-12-31T23:59:59.999Z")))
        .unwrap();
    let w = store_at(
        dir.path(),
        "2026-11-24T12:00:00Z",
        Some(Duration::from_secs(7200)),
    )
    .writer();
    w.append(&Activity::new("u", "2h").at(at("2026-11-24T14:00:00Z")))
        .unwrap();
    assert!(
        w.append(&Activity::new("u", "2h1s").at(at("2026-11-24T14:00:01Z")))
            .is_err()
    );
}

#[test]
fn a_line_limit_over_what_readers_read_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let max = actlog::record::MAX_LINE_LIMIT;
    let open = |n: usize| {
        Store::open(
            dir.path(),
            Options {
                max_line_bytes: n,
                ..Options::default()
            },
        )
    };
    assert!(open(max).is_ok());
    match open(max + 1) {
        Err(
            e @ Error::BadOption {
                option: "max_line_bytes",
                ..
            },
        ) => {
            assert!(e.to_string().contains("max_line_bytes"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn skews_parse_as_documented() {
    use actlog::timeexpr::parse_skew;
    assert_eq!(parse_skew("1d").unwrap(), Duration::from_secs(86_400));
    assert_eq!(parse_skew("2h").unwrap(), Duration::from_secs(7200));
    assert_eq!(parse_skew("30m").unwrap(), Duration::from_secs(1800));
    assert_eq!(parse_skew("1h30m").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_skew("0").unwrap(), Duration::ZERO);
    assert_eq!(parse_skew("0s").unwrap(), Duration::ZERO);
    for bad in [
        "",
        "-1d",
        "1d ago",
        "1x",
        "d",
        "1.5h",
        "99999999999999999999w",
        "١d",
    ] {
        assert!(parse_skew(bad).is_err(), "{bad}");
    }
}
