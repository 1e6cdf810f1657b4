//! `actlog stats`: the per-day table (or JSON), with a total row.

use super::stdout;
use actlog::cli::{ReportFormat, StatsArgs};
use actlog::stats::{DayStats, Stats};
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::process::ExitCode;

/// Counts every day of `dir` and prints the report.
pub fn stats(dir: &Path, args: &StatsArgs) -> Result<ExitCode> {
    let stats = actlog::stats::stats(dir)?;
    let out = match args.format {
        ReportFormat::Json => format!("{}\n", serde_json::to_string(&stats)?),
        ReportFormat::Text => table(&stats),
    };
    stdout::write(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// One row per day, then the total.
fn table(stats: &Stats) -> String {
    let mut out = format!(
        "{:<10} {:>10} {:>8} {:>14} {:>14} {:>12} {:>6}  {:<24} {}\n",
        "day",
        "records",
        "damaged",
        "json bytes",
        "plain bytes",
        "gz bytes",
        "ratio",
        "first",
        "last"
    );
    for d in &stats.days {
        out += &row(d.day.map(|d| d.to_string()).unwrap_or_default(), d);
    }
    out += &row(format!("{} days", stats.days.len()), &stats.total);
    out
}

fn row(label: String, d: &DayStats) -> String {
    let t = |t: Option<DateTime<Utc>>| t.map(actlog::record::format_timestamp).unwrap_or_default();
    format!(
        "{label:<10} {:>10} {:>8} {:>14} {:>14} {:>12} {:>6}  {:<24} {}\n",
        d.records,
        d.damaged,
        d.json_bytes,
        d.plain_bytes,
        d.gz_bytes,
        d.ratio.as_deref().unwrap_or("-"),
        t(d.first),
        t(d.last)
    )
}
