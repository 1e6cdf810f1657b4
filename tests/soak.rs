//! The chaos soak: several writer processes appending numbered records (`flush`, `fsync`,
//! `buffered`, and `late` ones stamped 20 fake hours back, which append to yesterday while
//! it is compressed), `actlog maintain` every second or so on a fake clock that crosses a UTC
//! day every few seconds (so compression and retention really happen), `actlog query`
//! readers, `actlog tail -f` followers, and a killer sending SIGKILL to random writers and
//! maintainers and starting them again. At the end it checks, against the writers' own
//! logs of what was acknowledged:
//!
//! - every acknowledged record (in a day retention keeps) is present exactly once;
//! - the records of every writer (killed or not) are an unbroken run of its numbers;
//! - `actlog verify` finds nothing but torn lines left by killed writers;
//! - every follower printed each record appended while it ran (begun after it printed
//!   its start marker, acknowledged before its end markers), and none twice;
//! - no query ever printed a record twice.
//!
//! `cargo test --test soak` runs it for 15 s; `cargo test --release --test soak --
//! --seconds 600` for ten minutes (ACTLOG_SOAK_SECS works too). It prints one summary line
//! and exits non-zero on any failure.

use actlog::{Activity, Clock, Durability, Options, Store};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Virtual seconds per real second: a UTC day every five real seconds.
const SPEED: i64 = 86_400 / 5;
/// Days retention keeps: half the fake days the run crosses (at least 2), so retention
/// deletes days during the second half while half the records are still there to be
/// counted at the end (followers and queries check the others while they live).
fn keep_days(seconds: u64) -> i64 {
    (i64::try_from(seconds).unwrap_or(i64::MAX) * SPEED / 86_400 / 2).max(2)
}
/// Where the fake clock starts: just before a midnight.
const START_MS: i64 = 1_795_996_000_000; // 2026-11-30T21:46:40Z

fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC is shared by every process on the
    // machine, so all roles agree on the fake time.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The fake clock every role shares: START_MS at `origin_ns`, running SPEED times fast.
#[derive(Debug, Clone, Copy)]
struct FastClock {
    origin_ns: i64,
}

impl FastClock {
    fn ms(&self) -> i64 {
        START_MS + (monotonic_ns() - self.origin_ns) / 1_000 * SPEED / 1_000
    }
}

impl Clock for FastClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.ms())
            .single()
            .unwrap_or_default()
    }
}

fn day_of(ms: i64) -> NaiveDate {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .date_naive()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if get("--role").as_deref() == Some("writer") {
        return writer_role(&get);
    }
    let seconds: u64 = get("--seconds")
        .or_else(|| std::env::var("ACTLOG_SOAK_SECS").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    // `cargo test -- --list` and filters: this binary has one test, the soak.
    if args.iter().any(|a| a == "--list") {
        println!("soak: test");
        return;
    }
    match Soak::run(seconds) {
        Ok(summary) => println!("{summary}"),
        Err(failures) => {
            for f in &failures {
                eprintln!("soak: FAILED: {f}");
            }
            std::process::exit(1);
        }
    }
}

/// A writer process: appends records numbered from 0 until `stop` exists, logging each
/// acknowledged number with its timestamp and the moment of acknowledgement.
fn writer_role(get: &dyn Fn(&str) -> Option<String>) {
    let need = |k: &str| get(k).unwrap_or_else(|| panic!("writer: {k} missing"));
    let dir = PathBuf::from(need("--dir"));
    let id: u64 = need("--id").parse().unwrap();
    let origin_ns: i64 = need("--origin").parse().unwrap();
    let mode = need("--mode");
    // A late writer stamps its records 20 fake hours back (a replayed or delayed event),
    // so it appends to yesterday while maintenance compresses it.
    let late = mode == "late";
    let durability = match mode.as_str() {
        "fsync" => Durability::Fsync,
        "buffered" => Durability::Buffered,
        _ => Durability::Flush,
    };
    let stop = PathBuf::from(need("--stop"));
    let mut ack = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(need("--ack"))
        .unwrap();
    let clock = FastClock { origin_ns };
    let store = Store::open(
        &dir,
        Options {
            durability,
            flush_interval: Duration::from_millis(50),
            clock: Arc::new(clock),
            ..Options::default()
        },
    )
    .unwrap();
    let writer = store.writer();
    // (number, timestamp ms, when its append began)
    let mut pending: Vec<(u64, i64, i64)> = Vec::new();
    let mut n = 0u64;
    loop {
        if n.is_multiple_of(64) && stop.exists() {
            break;
        }
        let mut activity = Activity::new(format!("w{id}"), "soak.append")
            .with_details(serde_json::json!({"w": id, "n": n}))
            .unwrap();
        if late {
            activity = activity.at(clock.now() - chrono::Duration::hours(20));
        }
        let began = monotonic_ns();
        let stamp = match writer.append(&activity) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("writer {id}: append {n}: {e}");
                std::process::exit(3);
            }
        };
        pending.push((n, stamp.timestamp.timestamp_millis(), began));
        // Buffered records are acknowledged by a flush; the others when append returns.
        if durability != Durability::Buffered || pending.len() >= 32 {
            if durability == Durability::Buffered
                && let Err(e) = writer.flush()
            {
                eprintln!("writer {id}: flush: {e}");
                std::process::exit(3);
            }
            let at = monotonic_ns();
            let mut text = String::new();
            for (n, ts, began) in pending.drain(..) {
                text += &format!("{n} {ts} {began} {at}\n");
            }
            ack.write_all(text.as_bytes()).unwrap();
        }
        n += 1;
        if durability != Durability::Fsync {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    writer.close().unwrap();
    let at = monotonic_ns();
    let text: String = pending
        .drain(..)
        .map(|(n, ts, began)| format!("{n} {ts} {began} {at}\n"))
        .collect();
    ack.write_all(text.as_bytes()).unwrap();
}

/// One writer process, alive or ended.
struct WriterProc {
    id: u64,
    mode: &'static str,
    child: Child,
    killed: bool,
}

/// A `tail -f` process and what it printed, with when each line arrived.
struct Follower {
    child: Child,
    lines: Arc<Mutex<Vec<(i64, String)>>>,
    /// The markers among `lines`, kept apart so that waiting for one does not hold the
    /// lock over every line (which would stall the reader, and so the follower).
    markers: Arc<Mutex<Vec<(i64, u64)>>>,
    reader: std::thread::JoinHandle<()>,
}

/// One follower's run: it must have printed every record acknowledged in `(from, to)`.
struct FollowWindow {
    from_ns: i64,
    to_ns: i64,
    lines: Vec<(i64, String)>,
}

struct Soak {
    root: tempfile::TempDir,
    dir: PathBuf,
    origin_ns: i64,
    writers: Vec<WriterProc>,
    next_id: u64,
    failures: Vec<String>,
    kills_writers: u64,
    kills_maintainers: u64,
    maintain_runs: u64,
    queries: u64,
}

/// A soak that ends early (a panic in the test) must not leave its writers running: they
/// would append until the machine is rebooted, and slow everything after them.
impl Drop for Soak {
    fn drop(&mut self) {
        for w in &mut self.writers {
            if !w.killed {
                let _ = w.child.kill();
                let _ = w.child.wait();
            }
        }
    }
}

impl Soak {
    fn clock(&self) -> FastClock {
        FastClock {
            origin_ns: self.origin_ns,
        }
    }

    fn now_arg(&self) -> String {
        self.clock()
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn actlog(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_actlog"));
        c.env_remove("ACTLOG_DIR").arg("--dir").arg(&self.dir);
        c
    }

    fn spawn_writer(&mut self) {
        const MODES: [&str; 4] = ["flush", "fsync", "buffered", "late"];
        let id = self.next_id;
        self.next_id += 1;
        let mode = MODES[(id % 4) as usize];
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--role", "writer", "--mode", mode])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--id",
                &id.to_string(),
                "--origin",
                &self.origin_ns.to_string(),
            ])
            .arg("--ack")
            .arg(self.ack_path(id))
            .arg("--stop")
            .arg(self.root.path().join("stop"))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.writers.push(WriterProc {
            id,
            mode,
            child,
            killed: false,
        });
    }

    fn ack_path(&self, id: u64) -> PathBuf {
        self.root.path().join(format!("ack-{id}"))
    }

    /// Every other window polls (`--poll 2s`, as on a network volume) instead of
    /// waiting on file-system events: the two modes notice rollovers at different times.
    fn spawn_follower(&self, poll: bool) -> Follower {
        let mut cmd = self.actlog();
        cmd.args(["tail", "-f", "-n", "0", "-o", "json"]);
        if poll {
            cmd.args(["--poll", "2s"]);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let markers = Arc::new(Mutex::new(Vec::new()));
        let (sink, marker_sink) = (lines.clone(), markers.clone());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let at = monotonic_ns();
                if line.contains("\"soak.marker\"")
                    && let Some(m) = marker_in(&line)
                {
                    marker_sink.lock().unwrap().push((at, m));
                }
                sink.lock().unwrap().push((at, line));
            }
        });
        Follower {
            child,
            lines,
            markers,
            reader,
        }
    }

    fn run(seconds: u64) -> Result<String, Vec<String>> {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        let mut soak = Soak {
            dir,
            root,
            origin_ns: monotonic_ns(),
            writers: Vec::new(),
            next_id: 0,
            failures: Vec::new(),
            kills_writers: 0,
            kills_maintainers: 0,
            maintain_runs: 0,
            queries: 0,
        };
        let marker_store = Store::open(
            &soak.dir,
            Options {
                clock: Arc::new(soak.clock()),
                ..Options::default()
            },
        )
        .unwrap();
        let markers = marker_store.writer();
        for _ in 0..8 {
            soak.spawn_writer();
        }
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let mut maintainer: Option<Child> = None;
        let mut next_maintain = Instant::now();
        let mut next_query = Instant::now() + Duration::from_secs(1);
        let mut query: Option<std::thread::JoinHandle<Vec<String>>> = None;
        let window_len = Duration::from_secs((seconds / 4).clamp(5, 30));
        let mut follower: Option<(Follower, u64, Instant)> = None;
        let mut marker_no = 0u64;
        let mut windows: Vec<FollowWindow> = Vec::new();

        // The killer runs on its own thread, so nothing the loop waits for slows it. It
        // only kills pids still registered, under the lock the loop reaps under, so a
        // reaped pid (which the system may reuse) is never signalled.
        let targets: Arc<Mutex<Vec<(u32, bool)>>> = Arc::new(Mutex::new(Vec::new()));
        for w in &soak.writers {
            targets.lock().unwrap().push((w.child.id(), true));
        }
        let stop_killer = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let killer = start_killer(targets.clone(), stop_killer.clone(), seconds);

        while Instant::now() < deadline {
            let now = Instant::now();
            {
                let mut t = targets.lock().unwrap();
                soak.reap_writers(&mut t);
                soak.tend_maintainer(&mut maintainer, &mut next_maintain, now, seconds, &mut t);
            }
            // A reader, on its own thread: no record may come out of one query twice.
            if query.as_ref().is_none_or(|q| q.is_finished()) && now >= next_query {
                if let Some(q) = query.take() {
                    soak.failures.extend(q.join().unwrap());
                }
                next_query = now + Duration::from_millis(1000);
                let cmd = soak.query_command();
                soak.queries += 1;
                query = Some(std::thread::spawn(move || check_query(cmd)));
            }
            // Followers, one window after another.
            match &mut follower {
                None => {
                    let f = soak.spawn_follower(windows.len() % 2 == 1);
                    std::thread::sleep(Duration::from_millis(300));
                    marker_no += 1;
                    markers
                        .append(&marker(marker_no))
                        .expect("append a start marker");
                    follower = Some((f, marker_no, Instant::now()));
                }
                Some((_, start_marker, since)) if since.elapsed() >= window_len => {
                    let start_marker = *start_marker;
                    if let Some((f, _, _)) = follower.take() {
                        match soak.close_window(f, start_marker, &markers, &mut marker_no) {
                            Ok(w) => windows.push(w),
                            Err(e) => soak.failures.push(e),
                        }
                    }
                }
                Some(_) => {}
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stop_killer.store(true, std::sync::atomic::Ordering::Relaxed);
        let (kw, km) = killer.join().unwrap();
        soak.kills_writers = kw;
        soak.kills_maintainers = km;
        if let Some(q) = query.take() {
            soak.failures.extend(q.join().unwrap());
        }
        if let Some(mut child) = maintainer.take() {
            let _ = child.wait();
        }

        // Stop: followers first (their window ends now), then writers and maintenance.
        if let Some((f, start_marker, _)) = follower.take() {
            match soak.close_window(f, start_marker, &markers, &mut marker_no) {
                Ok(w) => windows.push(w),
                Err(e) => soak.failures.push(e),
            }
        }
        soak.stop_writers();
        markers.close().expect("close the marker writer");
        soak.finish(seconds, &windows)
    }

    /// Tells the writers to stop and waits for each; one that fails to end cleanly (and
    /// was not killed at the last moment) is a failure.
    fn stop_writers(&mut self) {
        std::fs::write(self.root.path().join("stop"), b"").unwrap();
        for w in &mut self.writers {
            if w.killed {
                continue;
            }
            match w.child.wait() {
                Ok(s) if s.success() => {}
                // Killed after the loop's last look.
                Ok(s)
                    if std::os::unix::process::ExitStatusExt::signal(&s) == Some(libc::SIGKILL) =>
                {
                    w.killed = true;
                }
                other => self
                    .failures
                    .push(format!("writer {} ({}) ended {other:?}", w.id, w.mode)),
            }
        }
    }

    /// Maintenance, one run at a time, as the CronJob would: reaps a finished run (one that
    /// failed is a failure) and starts the next when it is due.
    fn tend_maintainer(
        &mut self,
        maintainer: &mut Option<Child>,
        next_maintain: &mut Instant,
        now: Instant,
        seconds: u64,
        t: &mut Vec<(u32, bool)>,
    ) {
        if let Some(child) = maintainer.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            let pid = child.id();
            t.retain(|(p, _)| *p != pid);
            if let Some(mut child) = maintainer.take()
                && status.code().is_some_and(|c| c != 0)
            {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                self.failures
                    .push(format!("maintain exited {status}: {}", err.trim()));
            }
        }
        if maintainer.is_none() && now >= *next_maintain {
            let child = self
                .actlog()
                .args(["--now", &self.now_arg(), "maintain", "--grace-days", "0"])
                .args(["--keep-days", &keep_days(seconds).to_string()])
                .stderr(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            t.push((child.id(), false));
            self.maintain_runs += 1;
            *maintainer = Some(child);
            *next_maintain = now + Duration::from_millis(700);
        }
    }

    /// Starts a writer again, under a new number, for each one that was killed; one that
    /// ended by itself is a failure. `t` is the killer's list, kept in step.
    fn reap_writers(&mut self, t: &mut Vec<(u32, bool)>) {
        let mut respawn = 0;
        for w in &mut self.writers {
            if w.killed {
                continue;
            }
            if let Ok(Some(status)) = w.child.try_wait() {
                w.killed = true;
                t.retain(|(p, _)| *p != w.child.id());
                respawn += 1;
                if std::os::unix::process::ExitStatusExt::signal(&status) != Some(libc::SIGKILL) {
                    self.failures
                        .push(format!("writer {} ({}) ended {status}", w.id, w.mode));
                }
            }
        }
        for _ in 0..respawn {
            self.spawn_writer();
            let pid = self.writers.last().map(|w| w.child.id()).unwrap_or(0);
            t.push((pid, true));
        }
    }

    /// Appends an end marker, waits until the follower prints it (and one safety poll
    /// more), then stops the follower.
    fn close_window(
        &self,
        mut f: Follower,
        start_marker: u64,
        markers: &actlog::Writer,
        marker_no: &mut u64,
    ) -> Result<FollowWindow, String> {
        // One end marker in each day file records can go to (today, and yesterday for
        // the late writers): a follower reads each file in order, so once it printed
        // both, it printed every record appended to either before them.
        let to_ns = monotonic_ns();
        let now = self.clock().now();
        let yesterday_end = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| Utc.from_utc_datetime(&t) - chrono::Duration::milliseconds(1))
            .unwrap_or(now);
        let mut ends = Vec::new();
        for at in [now, yesterday_end] {
            *marker_no += 1;
            ends.push(*marker_no);
            markers
                .append(&marker(*marker_no).at(at))
                .map_err(|e| format!("append end marker: {e}"))?;
        }
        let seen = |markers: &Mutex<Vec<(i64, u64)>>, m: u64| {
            let markers = markers.lock().unwrap();
            markers.iter().find(|(_, n)| *n == m).map(|(t, _)| *t)
        };
        let waited = Instant::now();
        while ends.iter().any(|&m| seen(&f.markers, m).is_none())
            && waited.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let late = ends
            .iter()
            .any(|&m| seen(&f.markers, m).is_none())
            .then(|| {
                // Diagnosis only: is the follower slow or blind?
                while ends.iter().any(|&m| seen(&f.markers, m).is_none())
                    && waited.elapsed() < Duration::from_secs(60)
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                waited.elapsed()
            });
        let exited = f.child.try_wait().ok().flatten();
        let _ = f.child.kill();
        let _ = f.child.wait();
        let _ = f.reader.join();
        let from_ns = seen(&f.markers, start_marker)
            .ok_or(format!("follower never printed marker {start_marker}"))?;
        if let Some(late) = late {
            let printed: Vec<u64> = f.markers.lock().unwrap().iter().map(|(_, m)| *m).collect();
            let mut files: Vec<String> = std::fs::read_dir(&self.dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| {
                            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                            format!("{} {len}", e.file_name().to_string_lossy())
                        })
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            return Err(format!(
                "follower did not print end markers {ends:?} within 20 s (after {late:?}: printed \
                 {printed:?}; follower exited: {exited:?}; files {files:?})"
            ));
        }
        let lines = std::mem::take(&mut *f.lines.lock().unwrap());
        Ok(FollowWindow {
            from_ns,
            to_ns,
            lines,
        })
    }

    fn query_command(&self) -> Command {
        let mut c = self.actlog();
        c.args(["--now", &self.now_arg(), "query", "-o", "json"])
            .stderr(Stdio::null());
        c
    }

    /// Checks the store after the run: every acknowledged record kept by retention is
    /// there once, each writer's records are unbroken, each follower printed what was
    /// written while it ran, and `verify` finds nothing but torn lines.
    fn finish(mut self, seconds: u64, windows: &[FollowWindow]) -> Result<String, Vec<String>> {
        let final_ms = self.clock().ms();
        let kept_from = day_of(final_ms) - chrono::Duration::days(keep_days(seconds));
        let days_seen = day_of(final_ms) - day_of(START_MS);
        let found = self.final_store(seconds);
        let duplicated = found.values().filter(|&&c| c > 1).count();
        let acks = self.check_acks(&found, kept_from);
        let follow_checked = self.check_followers(windows, &acks.acked_at);
        let torn = self.check_verify();
        let (acked_total, checked) = (acks.total, acks.checked);
        let lost = &acks.lost;
        let summary = format!(
            "soak: {seconds} s, {days} fake days, records acknowledged {acked_total}, found {found}, \
             checked {checked}, lost {lost}, duplicated {duplicated}, kills {kills} ({kw} writers, {km} \
             maintainers), maintenance runs {mr}, queries {q}, follower windows {fw}, every other polling ({fc} records), \
             torn lines {torn}, days kept {kept}",
            days = days_seen.num_days(),
            found = found.len(),
            lost = lost.len(),
            kills = self.kills_writers + self.kills_maintainers,
            kw = self.kills_writers,
            km = self.kills_maintainers,
            mr = self.maintain_runs,
            q = self.queries,
            fw = windows.len(),
            fc = follow_checked,
            kept = keep_days(seconds),
        );
        if self.failures.is_empty() {
            Ok(summary)
        } else {
            self.failures.push(summary);
            Err(std::mem::take(&mut self.failures))
        }
    }

    /// Runs a last maintenance, then counts every record in the store by key.
    fn final_store(&mut self, seconds: u64) -> HashMap<(u64, u64), u32> {
        let out = self
            .actlog()
            .args(["--now", &self.now_arg(), "maintain", "--grace-days", "0"])
            .args(["--keep-days", &keep_days(seconds).to_string()])
            .output()
            .unwrap();
        if !out.status.success() {
            self.failures.push(format!(
                "final maintain: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        // Everything in the store.
        let mut found: HashMap<(u64, u64), u32> = HashMap::new();
        let outcome = actlog::query::run(
            &self.dir,
            &actlog::query::Query::default(),
            &mut |line, _| {
                if let Some(k) = key_of(line) {
                    *found.entry(k).or_default() += 1;
                }
                std::ops::ControlFlow::Continue(())
            },
        );
        if let Err(e) = outcome {
            self.failures.push(format!("final query: {e}"));
        }
        let duplicated = found.values().filter(|&&c| c > 1).count();
        if duplicated > 0 {
            self.failures
                .push(format!("{duplicated} records present more than once"));
        }

        found
    }

    /// Compares the store with the writers' acknowledgement logs.
    fn check_acks(
        &mut self,
        found: &HashMap<(u64, u64), u32>,
        kept_from: chrono::NaiveDate,
    ) -> Acks {
        // Against the acknowledgement logs.
        let mut acked_total = 0u64;
        let mut checked = 0u64;
        let mut lost = Vec::new();
        // When each acknowledged record's append began, and when it was acknowledged.
        let mut acked_at: HashMap<(u64, u64), (i64, i64)> = HashMap::new();
        let mut by_writer: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for &(w, n) in found.keys() {
            by_writer.entry(w).or_default().push(n);
        }
        for w in &self.writers {
            let acks = read_acks(&self.ack_path(w.id));
            acked_total += acks.len() as u64;
            let mut first_kept = None;
            for &(n, ts, began, at) in &acks {
                acked_at.insert((w.id, n), (began, at));
                if day_of(ts) >= kept_from {
                    checked += 1;
                    first_kept = Some(first_kept.map_or(n, |f: u64| f.min(n)));
                    if !found.contains_key(&(w.id, n)) {
                        lost.push(format!("w{} n{n} ({})", w.id, w.mode));
                    }
                }
            }
            // The writer's records: one unbroken run, starting where retention cut.
            let mut ns = by_writer.remove(&w.id).unwrap_or_default();
            ns.sort_unstable();
            if let (Some(&lo), Some(&hi)) = (ns.first(), ns.last())
                && hi - lo + 1 != ns.len() as u64
            {
                self.failures.push(format!(
                    "writer {} ({}, killed {}): records {lo}..={hi} have gaps ({} present)",
                    w.id,
                    w.mode,
                    w.killed,
                    ns.len()
                ));
            }
            if let (Some(first), Some(&lo)) = (first_kept, ns.first())
                && lo != first
            {
                self.failures.push(format!(
                    "writer {}: first record kept is {lo}, expected {first}",
                    w.id
                ));
            }
        }
        if !by_writer.is_empty() {
            self.failures.push(format!(
                "records from unknown writers: {:?}",
                by_writer.keys()
            ));
        }
        if !lost.is_empty() {
            self.failures.push(format!(
                "{} acknowledged records lost, e.g. {:?}",
                lost.len(),
                &lost[..lost.len().min(5)]
            ));
        }

        Acks {
            total: acked_total,
            checked,
            lost,
            acked_at,
        }
    }

    /// Checks each follower window printed every record written while it ran, once;
    /// returns how many records that checked.
    fn check_followers(
        &mut self,
        windows: &[FollowWindow],
        acked_at: &HashMap<(u64, u64), (i64, i64)>,
    ) -> u64 {
        // Followers.
        let mut follow_checked = 0u64;
        for (i, w) in windows.iter().enumerate() {
            let mut printed: HashMap<(u64, u64), u32> = HashMap::new();
            for (_, line) in &w.lines {
                if let Some(k) = key_of(line.as_bytes()) {
                    *printed.entry(k).or_default() += 1;
                }
            }
            if let Some((k, _)) = printed.iter().find(|(_, c)| **c > 1) {
                self.failures
                    .push(format!("follower {i} printed w{} n{} twice", k.0, k.1));
            }
            let missed: Vec<_> = acked_at
                .iter()
                // Appended wholly while the follower was following: begun after it
                // printed its start marker, acknowledged before the end markers.
                .filter(|(_, (began, at))| *began > w.from_ns && *at < w.to_ns)
                .inspect(|_| follow_checked += 1)
                .filter(|(k, _)| !printed.contains_key(k))
                .map(|(k, _)| *k)
                .collect();
            if !missed.is_empty() {
                self.failures.push(format!(
                    "follower {i} missed {} records acknowledged while it ran, e.g. {:?}",
                    missed.len(),
                    &missed[..missed.len().min(5)]
                ));
            }
        }

        follow_checked
    }

    /// Runs `verify`; returns the torn lines it found (anything else is a failure).
    fn check_verify(&mut self) -> u64 {
        // verify: nothing but torn lines and an unterminated last line.
        let out = self
            .actlog()
            .args(["verify", "-o", "json"])
            .output()
            .unwrap();
        let mut torn = 0;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            match v["problem"].as_str() {
                Some("torn line" | "unterminated last line") => torn += 1,
                _ => self.failures.push(format!("verify: {line}")),
            }
        }

        torn
    }
}

/// What the acknowledgement logs said, against the store.
struct Acks {
    /// Records acknowledged.
    total: u64,
    /// Acknowledged records retention keeps, and so checked.
    checked: u64,
    /// Checked records not found.
    lost: Vec<String>,
    /// When each acknowledged record's append began, and when it was acknowledged.
    acked_at: HashMap<(u64, u64), (i64, i64)>,
}

/// Starts the killer: every 100-400 ms it SIGKILLs one registered process (a running
/// maintainer one time in three), until `stop`; returns how many writers and
/// maintainers it killed. It only kills pids still in `targets`, under the lock the
/// loop reaps under, so a reaped pid (which the system may reuse) is never signalled.
fn start_killer(
    targets: Arc<Mutex<Vec<(u32, bool)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    seed: u64,
) -> std::thread::JoinHandle<(u64, u64)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    std::thread::spawn(move || {
        let (mut writers, mut maintainers) = (0u64, 0u64);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(rng.u64(100..400)));
            let mut t = targets.lock().unwrap();
            // A running maintainer is picked one time in three.
            let pick = match t.iter().position(|(_, w)| !w) {
                Some(m) if rng.u8(0..3) == 0 => Some(m),
                _ => {
                    let live: Vec<usize> = (0..t.len()).filter(|&i| t[i].1).collect();
                    (!live.is_empty()).then(|| live[rng.usize(0..live.len())])
                }
            };
            if let Some(i) = pick {
                let (pid, is_writer) = t.swap_remove(i);
                // SAFETY: kill(2) on a child not yet reaped (see above).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                if is_writer {
                    writers += 1;
                } else {
                    maintainers += 1;
                }
            }
        }
        (writers, maintainers)
    })
}

/// Runs one query; no record may come out of it twice.
fn check_query(mut cmd: Command) -> Vec<String> {
    let out = cmd.output().unwrap();
    if !matches!(out.status.code(), Some(0 | 1)) {
        return vec![format!("query exited {:?}", out.status.code())];
    }
    let mut failures = Vec::new();
    let mut seen = HashSet::new();
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Some(key) = key_of(line)
            && !seen.insert(key)
        {
            failures.push(format!("a query printed w{} n{} twice", key.0, key.1));
        }
    }
    failures
}

fn marker(n: u64) -> Activity {
    Activity::new("marker", "soak.marker")
        .with_details(serde_json::json!({"marker": n}))
        .unwrap()
}

fn marker_in(line: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    (v["username"] == "marker").then(|| v["details"]["marker"].as_u64())?
}

/// (writer, number) of a writer's record line.
fn key_of(line: &[u8]) -> Option<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let d = &v["details"];
    Some((d["w"].as_u64()?, d["n"].as_u64()?))
}

/// (number, timestamp ms, append began, acknowledged) from a writer's log; a line cut by
/// SIGKILL is not an acknowledgement.
fn read_acks(path: &Path) -> Vec<(u64, i64, i64, i64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
            ))
        })
        .collect()
}
