//! Compressing one day: `actlog maintain` beside `gzip -6` on the same plain file, in the
//! same run. `cargo bench --bench maintain` (200,000 records, ~67 MB of JSON);
//! `ACTLOG_BENCH_QUICK=1` for 20,000.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let per_day: u32 = if quick { 20_000 } else { 200_000 };
    let work = tempfile::tempdir().expect("temp dir");
    let gen_dir = work.path().join("gen");
    let out = Command::new(env!("CARGO_BIN_EXE_actlog"))
        .arg("--dir")
        .arg(&gen_dir)
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
    // The same records as a plain day file, as writers leave it.
    let mut json = Vec::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(gen_dir.join("activity-2026-10-01.json.gz")).expect("open"),
    )
    .read_to_end(&mut json)
    .expect("inflate");
    let plain = work.path().join("plain.json");
    std::fs::write(&plain, &json).expect("write plain");

    let mut actlog_t = Vec::new();
    let mut actlog_size = 0;
    for round in 0..3 {
        let dir = work.path().join(format!("m{round}"));
        std::fs::create_dir(&dir).expect("dir");
        std::fs::copy(&plain, dir.join("activity-2026-10-01.json")).expect("copy");
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        let start = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_actlog"))
            .arg("--dir")
            .arg(&dir)
            .args(["--now", "2026-11-01T00:00:00Z", "maintain"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("maintain");
        actlog_t.push(start.elapsed().as_secs_f64());
        assert!(status.success());
        actlog_size = size(&dir.join("activity-2026-10-01.json.gz"));
    }
    let mut gzip_t = Vec::new();
    let mut gzip_size = 0;
    for round in 0..3 {
        let out = work.path().join(format!("g{round}.gz"));
        unsafe { libc::sync() };
        let start = Instant::now();
        let status = Command::new("sh")
            .args([
                "-c",
                &format!("gzip -6 -c '{}' > '{}'", plain.display(), out.display()),
            ])
            .status()
            .expect("gzip");
        gzip_t.push(start.elapsed().as_secs_f64());
        assert!(status.success());
        gzip_size = size(&out);
    }
    let (a, g) = (median(actlog_t), median(gzip_t));
    let mb = json.len() as f64 / 1e6;
    println!("\ncompressing one day: {per_day} records, {mb:.1} MB of JSON, median of 3");
    println!("| tool | command | seconds | MB/s | compressed bytes | ratio |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    println!(
        "| gzip | `gzip -6 -c day.json > day.json.gz` | {g:.2} | {:.0} | {gzip_size} | {:.2} |",
        mb / g,
        json.len() as f64 / gzip_size as f64
    );
    println!(
        "| actlog | `actlog maintain` (1 MiB members, fsync, rename) | {a:.2} | {:.0} | {actlog_size} | {:.2} |",
        mb / a,
        json.len() as f64 / actlog_size as f64
    );
    println!();
    let check = |ok: bool| if ok { "met" } else { "NOT MET" };
    println!(
        "time {:.2}x gzip -6 (target <= 1.2x): {}",
        a / g,
        check(a / g <= 1.2)
    );
    println!(
        "size {:.3}x gzip -6 (target <= 1.10x): {}",
        actlog_size as f64 / gzip_size as f64,
        check(actlog_size as f64 <= 1.10 * gzip_size as f64)
    );
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}
