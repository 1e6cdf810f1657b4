//! Query speed against the tools people would otherwise reach for, on the same data.
//!
//! `cargo bench --bench query` generates (once, cached under target/bench-data) 30 gzipped
//! days of 200,000 records (~2 GB of JSON) with `actlog demo --days`, then times, median
//! of 3 runs: the floor (inflate every file in-process with zlib-rs on 2 threads and count
//! a byte pattern with memchr::memmem), `zcat | grep -c`, `rg -z -c` (where installed), and
//! actlog for (a) a user filter over all days, (b) a one-day window, (c) `--count-by
//! action`, with each actlog run's peak RSS. `ACTLOG_BENCH_QUICK=1`: 6 days of 20,000.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const NEEDLE: &str = "\"username\":\"user042\"";

fn actlog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_actlog"))
}

/// Runs `cmd` to completion; returns (seconds, peak RSS in KiB, stdout).
// The child is reaped by wait4 (which also reports its peak RSS), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn measure(mut cmd: Command) -> (f64, u64, String) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        so.read_to_string(&mut out).expect("read stdout");
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4 failed");
    (start.elapsed().as_secs_f64(), usage.ru_maxrss as u64, out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times a command 3 times; returns (median seconds, max peak RSS KiB, last stdout).
fn bench(make: impl Fn() -> Command) -> (f64, u64, String) {
    let mut times = Vec::new();
    let mut rss = 0;
    let mut out = String::new();
    for _ in 0..3 {
        let (t, r, o) = measure(make());
        times.push(t);
        rss = rss.max(r);
        out = o;
    }
    (median(times), rss, out)
}

/// The floor: every file inflated in-process on 2 threads, the pattern counted.
fn floor(files: &[PathBuf]) -> (f64, u64) {
    let finder = memchr::memmem::Finder::new(NEEDLE.as_bytes());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut count = 0u64;
                    let mut buf = vec![0u8; 1 << 20];
                    let mut carry = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = files.get(i) else {
                            return count;
                        };
                        let file = std::fs::File::open(path).expect("open");
                        let mut gz = flate2::read::MultiGzDecoder::new(
                            std::io::BufReader::with_capacity(1 << 18, file),
                        );
                        carry.clear();
                        loop {
                            let n = gz.read(&mut buf).expect("inflate");
                            if n == 0 {
                                break;
                            }
                            // Count in whole lines so a match never straddles two reads.
                            let cut = memchr::memrchr(b'\n', &buf[..n]).map_or(0, |i| i + 1);
                            carry.extend_from_slice(&buf[..cut]);
                            count += finder.find_iter(&carry).count() as u64;
                            carry.clear();
                            carry.extend_from_slice(&buf[cut..n]);
                        }
                        count += finder.find_iter(&carry).count() as u64;
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    (start.elapsed().as_secs_f64(), total)
}

fn main() {
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let (days, per_day) = if quick {
        (6u32, 20_000u32)
    } else {
        (30, 200_000)
    };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-data/ds2-{days}x{per_day}"));
    let last_day = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).expect("date")
        + chrono::Duration::days(i64::from(days) - 1);
    if !data.join(format!("activity-{last_day}.json.gz")).exists() {
        let _ = std::fs::remove_dir_all(&data);
        let out = actlog()
            .arg("--dir")
            .arg(&data)
            .args([
                "demo",
                "--days",
                &days.to_string(),
                "--per-day",
                &per_day.to_string(),
            ])
            .output()
            .expect("generate dataset");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .expect("data dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .collect();
    files.sort();
    let gz_bytes: u64 = files
        .iter()
        .map(|f| f.metadata().map_or(0, |m| m.len()))
        .sum();
    let dir = data.to_str().expect("utf-8 path").to_owned();
    let middle = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).expect("date")
        + chrono::Duration::days(i64::from(days / 2));
    let one_day = middle.to_string();
    let next_day = (middle + chrono::Duration::days(1)).to_string();

    let (floor_t, floor_n) = median_floor(&files);
    let sh = |script: String| {
        move || {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        }
    };
    let (zgrep_t, _, zgrep_out) = bench(sh(format!("zcat {dir}/*.gz | grep -c '{NEEDLE}'")));
    let have_rg = Command::new("rg")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let rg = have_rg.then(|| {
        bench(sh(format!(
            "rg -z -c '{NEEDLE}' {dir} | awk -F: '{{s+=$NF}} END {{print s}}'"
        )))
    });
    let q = |args: &'static [&'static str]| {
        let dir = dir.clone();
        move || {
            let mut c = actlog();
            c.arg("--dir").arg(&dir).arg("query").args(args);
            c
        }
    };
    let (a_t, a_rss, a_out) = bench(q(&["--user", "user042", "-c"]));
    let (ar_t, ar_rss, ar_out) = bench(q(&["--user", "user042", "-o", "json"]));
    let (b_t, b_rss, b_out) = bench({
        let (dir, one_day, next_day) = (dir.clone(), one_day.clone(), next_day.clone());
        move || {
            let mut c = actlog();
            c.arg("--dir").arg(&dir).args([
                "query", "--user", "user042", "-c", "--since", &one_day, "--until", &next_day,
            ]);
            c
        }
    });
    let (c_t, c_rss, c_out) = bench(q(&["--count-by", "action", "-o", "json"]));

    // Every tool must give the same answer.
    let n_a: u64 = a_out.trim().parse().expect("count");
    assert_eq!(n_a, floor_n, "actlog and the floor disagree");
    assert_eq!(
        zgrep_out.trim().parse::<u64>().expect("zgrep count"),
        floor_n
    );
    if let Some((_, _, out)) = &rg {
        assert_eq!(out.trim().parse::<u64>().expect("rg count"), floor_n);
    }
    assert_eq!(
        ar_out.lines().count() as u64,
        floor_n,
        "records output differs from the count"
    );
    let c_total: u64 = c_out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["count"]
                .as_u64()
                .expect("count")
        })
        .sum();
    assert_eq!(
        c_total,
        u64::from(days) * u64::from(per_day),
        "count-by must see every record"
    );
    let _ = b_out;

    println!(
        "\nactlog query benchmark: {days} gzipped days x {per_day} records ({:.0} MB compressed), median of 3",
        gz_bytes as f64 / 1e6
    );
    println!("| what | command | seconds | peak RSS | answer |");
    println!("| --- | --- | ---: | ---: | ---: |");
    println!(
        "| floor | inflate in-process (zlib-rs, 2 threads) + memmem count | {floor_t:.2} | | {floor_n} |"
    );
    println!(
        "| zcat + grep | `zcat *.gz \\| grep -c '{NEEDLE}'` | {zgrep_t:.2} | | {} |",
        zgrep_out.trim()
    );
    match &rg {
        Some((t, _, out)) => println!(
            "| ripgrep | `rg -z -c '{NEEDLE}'` (summed) | {t:.2} | | {} |",
            out.trim()
        ),
        None => println!("| ripgrep | not installed | | | |"),
    }
    println!(
        "| (a) user, all days, count | `actlog query --user user042 -c` | {a_t:.2} | {} MB | {n_a} |",
        a_rss / 1024
    );
    println!(
        "| (a) user, all days, records | `actlog query --user user042 -o json` | {ar_t:.2} | {} MB | {} lines |",
        ar_rss / 1024,
        ar_out.lines().count()
    );
    println!(
        "| (b) one day | `actlog query --user user042 -c --since {one_day} --until {next_day}` | {b_t:.3} | {} MB | {} |",
        b_rss / 1024,
        b_out.trim()
    );
    println!(
        "| (c) count by action | `actlog query --count-by action -o json` | {c_t:.2} | {} MB | {c_total} records |",
        c_rss / 1024
    );
    println!();
    let check = |ok: bool| if ok { "met" } else { "NOT MET" };
    if let Some((rg_t, _, _)) = &rg {
        println!(
            "(a) {:.2}x faster than rg -z -c (target >= 2.5x): {}",
            rg_t / a_t,
            check(rg_t / a_t >= 2.5)
        );
    }
    println!(
        "(a) {:.2}x the floor (target <= 1.5x): {}",
        a_t / floor_t,
        check(a_t / floor_t <= 1.5)
    );
    println!(
        "(b) {:.0}x faster than (a) (target >= 20x): {}",
        a_t / b_t,
        check(a_t / b_t >= 20.0)
    );
    println!(
        "(c) {:.2}x (a) (target <= 2x): {}",
        c_t / a_t,
        check(c_t / a_t <= 2.0)
    );
    println!(
        "peak RSS (a) {} MB, (c) {} MB (target < 64 MB): {}",
        a_rss.max(ar_rss) / 1024,
        c_rss / 1024,
        check(a_rss.max(ar_rss).max(c_rss) < 64 * 1024)
    );
}

fn median_floor(files: &[PathBuf]) -> (f64, u64) {
    let runs: Vec<(f64, u64)> = (0..3).map(|_| floor(files)).collect();
    let n = runs[0].1;
    (median(runs.iter().map(|r| r.0).collect()), n)
}
