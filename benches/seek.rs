//! Reading inside one gzipped day by its member index: a time window, a user filter on
//! all cores, `tail`, and the size cost of the index. `cargo bench --bench seek`
//! (200,000 records); `ACTLOG_BENCH_QUICK=1` for 20,000.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

fn time(args: &[&str], dir: &std::path::Path, threads: Option<usize>) -> (f64, String) {
    let mut runs = Vec::new();
    let mut out = String::new();
    for _ in 0..5 {
        let mut c = Command::new(env!("CARGO_BIN_EXE_actlog"));
        c.arg("--dir").arg(dir).args(args).stderr(Stdio::null());
        if let Some(t) = threads {
            c.env("ACTLOG_THREADS", t.to_string());
        }
        let start = Instant::now();
        let o = c.output().expect("run actlog");
        runs.push(start.elapsed().as_secs_f64());
        out = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    }
    runs.sort_by(f64::total_cmp);
    (runs[2], out)
}

fn main() {
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let per_day: u32 = if quick { 20_000 } else { 200_000 };
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("logs");
    let out = Command::new(env!("CARGO_BIN_EXE_actlog"))
        .arg("--dir")
        .arg(&dir)
        .args([
            "demo",
            "--days",
            "1",
            "--per-day",
            &per_day.to_string(),
            "--start",
            "2026-10-01",
        ])
        .output()
        .expect("generate");
    assert!(out.status.success());
    let gz = dir.join("activity-2026-10-01.json.gz");

    let day = [
        "query",
        "-c",
        "--since",
        "2026-10-01",
        "--until",
        "2026-10-02",
    ];
    let (full_1t, n_all) = time(&day, &dir, Some(1));
    let (window, n_window) = time(
        &[
            "query",
            "-c",
            "--since",
            "2026-10-01T12:00:00Z",
            "--until",
            "2026-10-01T13:00:00Z",
        ],
        &dir,
        None,
    );
    let user = ["query", "-c", "--user", "user042"];
    let (user_1t, n_user) = time(&user, &dir, Some(1));
    let (user_all, n_user2) = time(&user, &dir, None);
    let (tail, tail_out) = time(&["tail", "-n", "20", "-o", "json"], &dir, None);
    assert_eq!(n_user, n_user2);
    assert_eq!(tail_out.lines().count(), 20);

    let mut json = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&gz).expect("open"))
        .read_to_end(&mut json)
        .expect("inflate");
    let plain = work.path().join("day.json");
    std::fs::write(&plain, &json).expect("write");
    let gzip_out = Command::new("sh")
        .args(["-c", &format!("gzip -6 -c '{}' | wc -c", plain.display())])
        .output()
        .expect("gzip");
    let gzip_size: f64 = String::from_utf8_lossy(&gzip_out.stdout)
        .trim()
        .parse()
        .expect("size");
    let ours = std::fs::metadata(&gz).expect("gz").len() as f64;

    println!(
        "\none gzipped day of {per_day} records ({:.1} MB of JSON, {} members), median of 5",
        json.len() as f64 / 1e6,
        actlog::gzmeta::member_index(&std::fs::File::open(&gz).expect("open"))
            .ok()
            .flatten()
            .map_or(0, |m| m.len())
    );
    println!("| what | command | seconds | answer |");
    println!("| --- | --- | ---: | ---: |");
    println!(
        "| full scan, one thread | `ACTLOG_THREADS=1 actlog query -c --since D --until D+1` | {full_1t:.3} | {n_all} |"
    );
    println!(
        "| one-hour window | `actlog query -c --since D 12:00 --until D 13:00` | {window:.3} | {n_window} |"
    );
    println!(
        "| user, one thread | `ACTLOG_THREADS=1 actlog query -c --user user042` | {user_1t:.3} | {n_user} |"
    );
    println!("| user, all cores | `actlog query -c --user user042` | {user_all:.3} | {n_user2} |");
    println!("| tail | `actlog tail -n 20` | {tail:.3} | 20 lines |");
    println!(
        "| size | actlog members vs one `gzip -6` member | {:.0} vs {:.0} bytes | {:.3}x |",
        ours,
        gzip_size,
        ours / gzip_size
    );
    println!();
    let check = |ok: bool| if ok { "met" } else { "NOT MET" };
    println!(
        "one-hour window {:.1}x faster than a full one-thread scan (target >= 10x): {}",
        full_1t / window,
        check(full_1t / window >= 10.0)
    );
    println!(
        "user filter {:.2}x faster on all cores than one (target >= 1.7x): {}",
        user_1t / user_all,
        check(user_1t / user_all >= 1.7)
    );
    println!(
        "tail -n 20 {:.1}x faster than reading the day (target >= 10x): {}",
        full_1t / tail,
        check(full_1t / tail >= 10.0)
    );
    println!(
        "size {:.3}x one gzip -6 member (target <= 1.05x): {}",
        ours / gzip_size,
        check(ours / gzip_size <= 1.05)
    );
}
