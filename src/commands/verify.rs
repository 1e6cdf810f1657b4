//! `actlog verify`: every problem found, one per line (text or JSON), and the count.

use super::stdout;
use actlog::cli::{ReportFormat, VerifyArgs};
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Checks `dir`; exit 0 when it is clean, 1 when a problem was found.
pub fn verify(dir: &Path, args: &VerifyArgs) -> Result<ExitCode> {
    let problems = actlog::verify::verify(dir)?;
    let mut out = String::new();
    for p in &problems {
        match args.format {
            ReportFormat::Text => out += &format!("{p}\n"),
            ReportFormat::Json => out += &format!("{}\n", serde_json::to_string(p)?),
        }
    }
    if args.format == ReportFormat::Text {
        let total: u64 = problems.iter().map(|p| 1 + p.more).sum();
        eprintln!("actlog: {total} problem(s) in {}", dir.display());
    }
    stdout::write(out.as_bytes())?;
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
