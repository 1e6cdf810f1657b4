//! Append throughput against floors measured in the same run.
//!
//! `cargo bench --bench append` runs every case 5 times on a fresh directory at a volume
//! the page cache absorbs (at most ~70 MB) and reports the median; one extra row writes
//! 1.4 GB to show the sustained, disk-bound rate. `ACTLOG_BENCH_QUICK=1` is a one-round
//! smoke run at a tenth of the volume. `ACTLOG_BENCH_DIR` picks the file system (default:
//! the temp dir).

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

fn store(dir: &Path, durability: Durability) -> Store {
    Store::open(
        dir,
        Options {
            durability,
            ..Options::default()
        },
    )
    .expect("open store")
}

fn append_file(dir: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("floor.json"))
        .expect("open floor file")
}

/// A re-executed copy of this binary appending `n` records: the "4 processes" case.
fn worker(spec: &str) {
    let (dir, n) = spec.split_once(':').expect("worker spec DIR:N");
    let n: u64 = n.parse().expect("worker count");
    let w = store(Path::new(dir), Durability::Flush).writer();
    for i in 0..n {
        w.append(&activity(i)).expect("append");
    }
}

struct Bench {
    base: PathBuf,
    rounds: usize,
    line_len: usize,
    rows: Vec<(String, u64, f64)>,
}

impl Bench {
    /// Runs `case` on a fresh, empty directory `rounds` times; records the median rate.
    /// Dirty pages are written back before each round, so one case's writeback does not
    /// slow the next on a 2-core machine.
    fn case(&mut self, name: &str, records: u64, mut case: impl FnMut(&Path)) -> f64 {
        let mut secs = Vec::new();
        for round in 0..self.rounds {
            let dir = self.base.join(format!("case-{}-{round}", self.rows.len()));
            std::fs::create_dir_all(&dir).expect("case dir");
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
            let start = Instant::now();
            case(&dir);
            secs.push(start.elapsed().as_secs_f64());
            std::fs::remove_dir_all(&dir).expect("remove case dir");
        }
        secs.sort_by(f64::total_cmp);
        let median = secs[secs.len() / 2];
        let rate = records as f64 / median;
        self.rows.push((name.to_owned(), records, rate));
        rate
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
        .tempdir_in(
            std::env::var_os("ACTLOG_BENCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
        )
        .expect("bench dir");
    let acts: Vec<Activity> = (0..1000).map(activity).collect();
    let mut line = Vec::new();
    acts[1].write_json(uuid::Uuid::now_v7(), chrono::Utc::now(), &mut line);
    line.push(b'\n');
    let block: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 1000)
        .collect();
    let mut b = Bench {
        base: holder.path().to_path_buf(),
        rounds: if quick { 1 } else { 5 },
        line_len: line.len(),
        rows: Vec::new(),
    };

    let n = 200_000 / scale;
    let floor = b.case("floor: lock + write + unlock per line", n, |dir| {
        let f = append_file(dir);
        for _ in 0..n {
            f.lock().expect("lock");
            (&f).write_all(&line).expect("write");
            f.unlock().expect("unlock");
        }
    });
    let floor_stat = b.case("floor: lock + lstat + write + unlock per line", n, |dir| {
        let f = append_file(dir);
        let path = dir.join("floor.json");
        for _ in 0..n {
            f.lock().expect("lock");
            std::hint::black_box(std::fs::symlink_metadata(&path).expect("lstat"));
            (&f).write_all(&line).expect("write");
            f.unlock().expect("unlock");
        }
    });
    let batches = 200 / scale;
    b.case(
        "floor: lock + write of 1,000 lines + unlock",
        batches * 1000,
        |dir| {
            let f = append_file(dir);
            for _ in 0..batches {
                f.lock().expect("lock");
                (&f).write_all(&block).expect("write");
                f.unlock().expect("unlock");
            }
        },
    );
    b.case(
        "naive: open + lock + write + unlock + close per line",
        n,
        |dir| {
            for _ in 0..n {
                let f = append_file(dir);
                f.lock().expect("lock");
                (&f).write_all(&line).expect("write");
                f.unlock().expect("unlock");
            }
        },
    );
    let per_record = b.case("append, flush, per record", n, |dir| {
        let w = store(dir, Durability::Flush).writer();
        for i in 0..n as usize {
            w.append(&acts[i % 1000]).expect("append");
        }
    });
    let batched = b.case("append_batch of 1,000, flush", batches * 1000, |dir| {
        let w = store(dir, Durability::Flush).writer();
        for _ in 0..batches {
            w.append_batch(&acts).expect("append batch");
        }
    });
    let buffered = b.case(
        "append, buffered, per record (incl. close)",
        batches * 1000,
        |dir| {
            let w = store(dir, Durability::Buffered).writer();
            for i in 0..(batches * 1000) as usize {
                w.append(&acts[i % 1000]).expect("append");
            }
            w.close().expect("close");
        },
    );
    let ns = 2000 / scale;
    b.case(
        "floor: lock + write + fdatasync + unlock per line",
        ns,
        |dir| {
            let f = append_file(dir);
            for _ in 0..ns {
                f.lock().expect("lock");
                (&f).write_all(&line).expect("write");
                f.sync_data().expect("fdatasync");
                f.unlock().expect("unlock");
            }
        },
    );
    let fsync_single = b.case("append, fsync, per record", ns, |dir| {
        let w = store(dir, Durability::Fsync).writer();
        for i in 0..ns as usize {
            w.append(&acts[i % 1000]).expect("append");
        }
    });
    let fb = 100 / scale;
    b.case("append_batch of 1,000, fsync", fb * 1000, |dir| {
        let w = store(dir, Durability::Fsync).writer();
        for _ in 0..fb {
            w.append_batch(&acts).expect("append batch");
        }
    });
    let per_thread = 2000 / scale;
    let mut per_sync = 0.0;
    let fsync_threads = b.case(
        "append, fsync, 8 threads sharing one Writer",
        per_thread * 8,
        |dir| {
            let w = Arc::new(store(dir, Durability::Fsync).writer());
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
            per_sync = (per_thread * 8) as f64 / w.fsyncs() as f64;
        },
    );
    let per_proc = 50_000 / scale;
    let exe = std::env::current_exe().expect("bench exe");
    b.case("append, flush, 4 processes at once", per_proc * 4, |dir| {
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
    });
    b.rounds = 1;
    let sustained = 4000 / scale;
    b.case(
        "sustained: append_batch of 1,000, flush, 1.4 GB (disk-bound)",
        sustained * 1000,
        |dir| {
            let w = store(dir, Durability::Flush).writer();
            for _ in 0..sustained {
                w.append_batch(&acts).expect("append batch");
            }
        },
    );

    let len = b.line_len;
    println!(
        "\nactlog append benchmark: {len}-byte lines, {} round(s) per case, median",
        if quick { 1 } else { 5 }
    );
    println!("| case | records | records/s | MB/s |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, records, rate) in &b.rows {
        println!(
            "| {name} | {records} | {rate:.0} | {:.1} |",
            rate * len as f64 / 1e6
        );
    }
    println!();
    let check = |ok: bool| if ok { "met" } else { "NOT MET" };
    println!(
        "per-record flush = {:.0}% of the lock+write+unlock floor (target >= 60%): {}",
        100.0 * per_record / floor,
        check(per_record >= 0.6 * floor)
    );
    println!(
        "per-record flush = {:.0}% of the floor including the one lstat the per-append identity check needs",
        100.0 * per_record / floor_stat
    );
    println!(
        "batches of 1,000 = {batched:.0}/s (target >= 1,000,000/s): {}",
        check(batched >= 1e6)
    );
    println!(
        "buffered = {buffered:.0}/s (target >= 1,000,000/s): {}",
        check(buffered >= 1e6)
    );
    println!(
        "fsync, 8 threads = {:.1}x the single-thread fsync rate, {per_sync:.1} records per fsync (target >= 10x): {}",
        fsync_threads / fsync_single,
        check(fsync_threads >= 10.0 * fsync_single)
    );
}
