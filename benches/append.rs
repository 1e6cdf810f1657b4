//! Append throughput against the floor measured in the same run.
//!
//! `cargo bench --bench append` (full, ~1 min) or `ACTLOG_BENCH_QUICK=1 cargo bench --bench
//! append` (a smoke run). `ACTLOG_BENCH_DIR` picks the file system (default: the temp dir).

use actlog::{Activity, Durability, Options, Store};
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const WORKER_ENV: &str = "ACTLOG_BENCH_WORKER";

fn activity(i: u64) -> Activity {
    Activity::new(format!("user{:03}", i % 500), "report.view")
        .with_details(json!({"reportId": format!("r-{:06}", i % 100_000), "durationMs": i % 977, "property": "properties/123456789"}))
        .expect("details is an object")
        .with_ip(format!("203.0.113.{}", i % 250).parse().expect("valid ip"))
        .with_user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
}

/// One serialized record line, as the floor loops write it.
fn sample_line() -> Vec<u8> {
    let mut line = Vec::new();
    activity(1).write_json(uuid::Uuid::now_v7(), chrono::Utc::now(), &mut line);
    line.push(b'\n');
    line
}

struct Row {
    name: &'static str,
    records: u64,
    secs: f64,
    bytes: u64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }
}

/// Times `f`. Dirty pages of earlier cases are written back first, so that kernel
/// writeback of one case does not slow the next on a 2-core machine.
fn timed(name: &'static str, records: u64, line_len: usize, f: impl FnOnce()) -> Row {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let start = Instant::now();
    f();
    let secs = start.elapsed().as_secs_f64();
    Row { name, records, secs, bytes: records * line_len as u64 }
}

/// An empty directory for one case; earlier cases' files are deleted.
fn fresh(base: &Path, name: &str) -> PathBuf {
    if let Ok(entries) = std::fs::read_dir(base) {
        for e in entries.flatten() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).expect("create bench dir");
    dir
}

fn store(dir: &Path, durability: Durability) -> Store {
    Store::open(dir, Options { durability, ..Options::default() }).expect("open store")
}

fn append_file(dir: &Path) -> File {
    OpenOptions::new().create(true).append(true).open(dir.join("floor.json")).expect("open floor file")
}

fn worker(spec: &str) {
    let (dir, n) = spec.split_once(':').expect("worker spec DIR:N");
    let n: u64 = n.parse().expect("worker count");
    let w = store(Path::new(dir), Durability::Flush).writer();
    for i in 0..n {
        w.append(&activity(i)).expect("append");
    }
}

fn main() {
    if let Ok(spec) = std::env::var(WORKER_ENV) {
        return worker(&spec);
    }
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    let holder = tempfile::Builder::new()
        .prefix("actlog-bench")
        .tempdir_in(std::env::var_os("ACTLOG_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir))
        .expect("bench dir");
    let base = holder.path();
    let line = sample_line();
    let len = line.len();
    let acts: Vec<Activity> = (0..1000).map(activity).collect();
    let mut rows = Vec::new();

    let n = 400_000 / scale;
    let dir = fresh(base, "floor");
    let f = append_file(&dir);
    rows.push(timed("floor: lock + write + unlock per line", n, len, || {
        for _ in 0..n {
            f.lock().expect("lock");
            (&f).write_all(&line).expect("write");
            f.unlock().expect("unlock");
        }
    }));
    let floor = rows[0].rate();

    let dir = fresh(base, "floor-stat");
    let f = append_file(&dir);
    let path = dir.join("floor.json");
    rows.push(timed("floor: lock + lstat + write + unlock per line", n, len, || {
        for _ in 0..n {
            f.lock().expect("lock");
            std::hint::black_box(std::fs::symlink_metadata(&path).expect("lstat"));
            (&f).write_all(&line).expect("write");
            f.unlock().expect("unlock");
        }
    }));
    let floor_stat = rows[1].rate();

    let dir = fresh(base, "floor-batch");
    let f = append_file(&dir);
    let block: Vec<u8> = line.iter().copied().cycle().take(line.len() * 1000).collect();
    let fbn = 2000 / scale;
    rows.push(timed("floor: lock + write of 1,000 lines + unlock", fbn * 1000, len, || {
        for _ in 0..fbn {
            f.lock().expect("lock");
            (&f).write_all(&block).expect("write");
            f.unlock().expect("unlock");
        }
    }));

    let dir = fresh(base, "naive");
    rows.push(timed("naive: open + lock + write + unlock + close", n / 2, len, || {
        for _ in 0..n / 2 {
            let f = append_file(&dir);
            f.lock().expect("lock");
            (&f).write_all(&line).expect("write");
            f.unlock().expect("unlock");
        }
    }));

    let dir = fresh(base, "flush");
    let w = store(&dir, Durability::Flush).writer();
    rows.push(timed("append, flush, per record", n, len, || {
        for i in 0..n as usize {
            w.append(&acts[i % 1000]).expect("append");
        }
    }));
    let per_record = rows.last().map(Row::rate).unwrap_or(0.0);

    let dir = fresh(base, "batch");
    let w = store(&dir, Durability::Flush).writer();
    let batches = 2000 / scale;
    rows.push(timed("append_batch of 1,000, flush", batches * 1000, len, || {
        for _ in 0..batches {
            w.append_batch(&acts).expect("append batch");
        }
    }));
    let batched = rows.last().map(Row::rate).unwrap_or(0.0);

    let dir = fresh(base, "buffered");
    let w = store(&dir, Durability::Buffered).writer();
    let nb = 2_000_000 / scale;
    rows.push(timed("append, buffered, per record (incl. close)", nb, len, || {
        for i in 0..nb as usize {
            w.append(&acts[i % 1000]).expect("append");
        }
        w.close().expect("close");
    }));
    let buffered = rows.last().map(Row::rate).unwrap_or(0.0);

    let ns = 3000 / scale;
    let dir = fresh(base, "fdatasync-floor");
    let f = append_file(&dir);
    rows.push(timed("floor: lock + write + fdatasync + unlock", ns, len, || {
        for _ in 0..ns {
            f.lock().expect("lock");
            (&f).write_all(&line).expect("write");
            f.sync_data().expect("fdatasync");
            f.unlock().expect("unlock");
        }
    }));

    let dir = fresh(base, "fsync");
    let w = store(&dir, Durability::Fsync).writer();
    rows.push(timed("append, fsync, per record", ns, len, || {
        for i in 0..ns as usize {
            w.append(&acts[i % 1000]).expect("append");
        }
    }));
    let fsync_single = rows.last().map(Row::rate).unwrap_or(0.0);

    let dir = fresh(base, "fsync-batch");
    let w = store(&dir, Durability::Fsync).writer();
    let fb = 200 / scale;
    rows.push(timed("append_batch of 1,000, fsync", fb * 1000, len, || {
        for _ in 0..fb {
            w.append_batch(&acts).expect("append batch");
        }
    }));

    let dir = fresh(base, "fsync-threads");
    let w = Arc::new(store(&dir, Durability::Fsync).writer());
    let per_thread = 3000 / scale;
    let mut fsyncs = 0;
    rows.push(timed("append, fsync, 8 threads sharing one Writer", per_thread * 8, len, || {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let w = Arc::clone(&w);
                let acts = acts.clone();
                std::thread::spawn(move || {
                    for i in 0..per_thread as usize {
                        w.append(&acts[i % 1000]).expect("append");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        fsyncs = w.fsyncs();
    }));
    let fsync_threads = rows.last().map(Row::rate).unwrap_or(0.0);

    let dir = fresh(base, "processes");
    let per_proc = 200_000 / scale;
    let exe = std::env::current_exe().expect("bench exe");
    rows.push(timed("append, flush, 4 processes at once", per_proc * 4, len, || {
        let children: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(&exe)
                    .env(WORKER_ENV, format!("{}:{per_proc}", dir.display()))
                    .spawn()
                    .expect("spawn worker")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("wait").success());
        }
    }));

    println!("\nactlog append benchmark ({len}-byte lines, {})", if quick { "quick" } else { "full" });
    println!("| case | records | seconds | records/s | MB/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {:.3} | {:.0} | {:.1} |",
            r.name,
            r.records,
            r.secs,
            r.rate(),
            r.bytes as f64 / r.secs / 1e6
        );
    }
    println!();
    let check = |ok: bool| if ok { "met" } else { "NOT MET" };
    println!("per-record flush = {:.0}% of the lock+write+unlock floor (target >= 60%): {}", 100.0 * per_record / floor, check(per_record >= 0.6 * floor));
    println!("per-record flush = {:.0}% of the floor with the one lstat the contract's per-append identity check needs", 100.0 * per_record / floor_stat);
    println!("batches of 1,000 = {batched:.0}/s (target >= 1,000,000/s): {}", check(batched >= 1e6));
    println!("buffered = {buffered:.0}/s (target >= 1,000,000/s): {}", check(buffered >= 1e6));
    println!(
        "fsync, 8 threads = {:.1}x the single-thread fsync rate with {fsyncs} fsyncs for {} records (target >= 10x): {}",
        fsync_threads / fsync_single,
        per_thread * 8,
        check(fsync_threads >= 10.0 * fsync_single)
    );
}
