//! `actlog verify`: every problem found, one per line (text or JSON); on stderr what was
//! checked, the count, and what to do about each kind of problem found.

use super::progress::Bar;
use super::stdout;
use actlog::cli::{ReportFormat, VerifyArgs};
use actlog::units::count;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Checks `dir`; exit 0 when it is clean, 1 when a problem was found.
pub fn verify(dir: &Path, args: &VerifyArgs, quiet: bool) -> Result<ExitCode> {
    let report = {
        let bar = Bar::new(quiet);
        actlog::verify::verify_with(dir, &bar)?
    };
    let mut out = String::new();
    for p in &report.problems {
        match args.format {
            ReportFormat::Text => out += &format!("{p}\n"),
            ReportFormat::Json => out += &format!("{}\n", serde_json::to_string(p)?),
        }
    }
    stdout::write(out.as_bytes())?;
    if args.format == ReportFormat::Text {
        eprintln!(
            "actlog: checked {}, {} in {}: {}",
            count(report.days, "day", "days"),
            count(report.records, "record", "records"),
            dir.display(),
            count(report.total(), "problem", "problems"),
        );
        // One hint per kind, in the order the kinds first appear; -q keeps the summary.
        let mut kinds: Vec<&str> = Vec::new();
        for p in report.problems.iter().filter(|_| !quiet) {
            if !kinds.contains(&p.kind) {
                kinds.push(p.kind);
            }
        }
        for kind in kinds {
            if let Some(p) = report.problems.iter().find(|p| p.kind == kind) {
                eprintln!("hint: {}: {}", p.problem, p.hint);
            }
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
