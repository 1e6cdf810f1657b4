//! `actlog stats`: the per-day table (or JSON), with a total row.

use super::progress::Bar;
use super::stdout;
use actlog::cli::{ReportFormat, StatsArgs};
use actlog::stats::{DayStats, Stats};
use actlog::units::{count, human_bytes};
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// Counts every day of `dir` and prints the report.
pub fn stats(dir: &Path, args: &StatsArgs, quiet: bool) -> Result<ExitCode> {
    let stats = {
        let bar = Bar::new(quiet);
        actlog::stats::stats_with(dir, &bar)?
    };
    let out = match args.format {
        ReportFormat::Json => format!("{}\n", serde_json::to_string(&stats)?),
        ReportFormat::Text => {
            // Scripts reading the table get exact numbers, as with --bytes.
            let human = !args.bytes && std::io::stdout().is_terminal();
            table(&stats, human)
        }
    };
    stdout::write(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// One row per day, then the total.
fn table(stats: &Stats, human: bool) -> String {
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
        out += &row(d.day.map(|d| d.to_string()).unwrap_or_default(), d, human);
    }
    let label = count(stats.days.len() as u64, "day", "days");
    out += &row(label, &stats.total, human);
    out
}

fn row(label: String, d: &DayStats, human: bool) -> String {
    let t = |t: Option<DateTime<Utc>>| t.map(actlog::record::format_timestamp).unwrap_or_default();
    let size = |n: u64| {
        if human { human_bytes(n) } else { n.to_string() }
    };
    format!(
        "{label:<10} {:>10} {:>8} {:>14} {:>14} {:>12} {:>6}  {:<24} {}\n",
        d.records,
        d.damaged,
        size(d.json_bytes),
        size(d.plain_bytes),
        size(d.gz_bytes),
        d.ratio
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
        t(d.first),
        t(d.last)
    )
}
