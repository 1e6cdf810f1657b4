//! `actlog demo`: the concurrent-writers demonstration and its report, or (with `--days`)
//! benchmark data.

use super::stdout;
use actlog::cli::DemoArgs;
use actlog::demo::DemoReport;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;

/// Runs the demo in `dir`; exit 0 only when every line checked out.
pub fn demo(dir: &Path, args: &DemoArgs) -> Result<ExitCode> {
    // Before anything is created: `ACTLOG_DIR=/prod actlog demo` must not mix fake
    // records into a real store.
    if !args.force && actlog::demo::holds_foreign_records(dir)? {
        anyhow::bail!(
            "demo: {} already holds records the demo did not write; refusing to mix demo records into them (--force overrides)",
            dir.display()
        );
    }
    if let Some(days) = args.days {
        let started = std::time::Instant::now();
        let shape = args.shape.into();
        let bytes = actlog::dataset::generate(dir, args.start, days, args.per_day, shape)?;
        let of_whom = match shape {
            actlog::dataset::Shape::Uniform => "",
            actlog::dataset::Shape::Realistic => " by 20000 users in sessions",
        };
        let msg = format!(
            "wrote {} of {}{of_whom} ({:.2} GB of JSON) to {} in {:.1} s\n",
            super::count_of(u64::from(days), "gzipped day", "gzipped days"),
            super::count_of(u64::from(args.per_day), "record", "records"),
            bytes as f64 / 1e9,
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        stdout::write(msg.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("cannot find the actlog executable")?;
    let report = actlog::demo::run(&exe, dir, args.processes, args.records)?;
    stdout::write(describe(&report).as_bytes())?;
    let healthy = report.bad_lines == 0 && report.ids_unique && report.order_kept;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn describe(report: &DemoReport) -> String {
    let secs = report.elapsed.as_secs_f64();
    let mut out = format!(
        "{} appended {} to {} in {:.2} s ({:.0} records/s, one locked write per record)\n",
        super::count_of(u64::from(report.processes), "process", "processes"),
        super::count_of(report.appended, "record", "records"),
        report.dir.display(),
        secs,
        report.appended as f64 / secs.max(1e-9),
    );
    out += &format!(
        "checked every line: {}, {}, ids unique: {}, each process's order kept: {}\n",
        super::count_of(report.valid_lines, "valid record", "valid records"),
        super::count_of(report.bad_lines, "bad line", "bad lines"),
        report.ids_unique,
        report.order_kept
    );
    out += "records per action:\n";
    for (action, n) in &report.by_action {
        out += &format!("  {action:<16} {n:>8}\n");
    }
    out += "first stored lines:\n";
    for line in &report.sample {
        out += &format!("  {line}\n");
    }
    out
}
