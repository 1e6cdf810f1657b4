//! Rows per second into PostgreSQL: `actlog export postgres` beside psql's `\copy` of the
//! same rows as CSV into a table of the same shape and indexes, in the same run, on a
//! throwaway cluster; and the export's peak memory. `cargo bench --bench export`
//! (1,000,000 records: 5 gzipped days of 200,000); `ACTLOG_BENCH_QUICK=1` for 50,000.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/pg.rs"]
mod pg;

use std::process::Command;
use std::time::Instant;

fn actlog(dir: &std::path::Path) -> Command {
    let mut c = common::actlog();
    c.arg("--dir").arg(dir);
    c
}

fn main() {
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let (days, per_day) = if quick { (1, 50_000) } else { (5, 200_000) };
    let rows = days * per_day;
    let Some(c) = pg::shared() else {
        eprintln!("SKIPPED: no PostgreSQL to benchmark against");
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("store");
    let out = actlog(&dir)
        .args([
            "demo",
            "--days",
            &days.to_string(),
            "--per-day",
            &per_day.to_string(),
        ])
        .output()
        .expect("generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.create_db("bench");
    let url = c.url("bench");
    // The tables, empty: the export's own, and a copy of its shape for \copy.
    let out = actlog(&dir)
        .args([
            "export",
            "postgres",
            "--url",
            &url,
            "--create-schema",
            "--until",
            "1970-01-02",
        ])
        .output()
        .expect("create schema");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.psql_ok("bench", "CREATE TABLE baseline (LIKE activity_logs INCLUDING ALL); GRANT ALL ON baseline TO exporter");

    let csv = work.path().join("rows.csv");
    let start = Instant::now();
    let out = actlog(&dir)
        .args(["export", "--format", "csv"])
        .output()
        .expect("csv");
    assert!(out.status.success());
    let csv_s = start.elapsed().as_secs_f64();
    std::fs::write(&csv, &out.stdout).expect("write csv");
    drop(out);

    c.psql_ok("bench", "CHECKPOINT");
    let start = Instant::now();
    c.psql_ok(
        "bench",
        &format!(
            "\\copy baseline (id, \"timestamp\", username, action, details, ip_address, user_agent, raw) FROM '{}' WITH (FORMAT csv, HEADER true)",
            csv.display()
        ),
    );
    let copy_s = start.elapsed().as_secs_f64();
    assert_eq!(
        c.psql_ok("bench", "SELECT count(*) FROM baseline"),
        rows.to_string()
    );

    c.psql_ok("bench", "CHECKPOINT");
    let start = Instant::now();
    let (code, peak_kib, err) =
        common::peak_rss_kib(actlog(&dir).args(["export", "postgres", "--url", &url]));
    let export_s = start.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        c.psql_ok("bench", "SELECT count(*) FROM activity_logs"),
        rows.to_string()
    );

    let rate = |s: f64| rows as f64 / s;
    println!(
        "export into PostgreSQL: {rows} records ({days} gzipped days of {per_day}), table with the seed's 3 indexes + primary key"
    );
    println!();
    println!("| case | rows | seconds | rows/s | vs \\copy |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| `psql \\copy … FROM rows.csv (FORMAT csv)` | {rows} | {copy_s:.2} | {:.0} | 100% |",
        rate(copy_s)
    );
    println!(
        "| `actlog export postgres` (COPY to staging + INSERT … ON CONFLICT, batches of 10,000) | {rows} | {export_s:.2} | {:.0} | {:.0}% |",
        rate(export_s),
        100.0 * copy_s / export_s
    );
    println!(
        "| (`actlog export --format csv` to a pipe, for scale) | {rows} | {csv_s:.2} | {:.0} | |",
        rate(csv_s)
    );
    println!();
    println!(
        "peak RSS of `actlog export postgres`: {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
}
