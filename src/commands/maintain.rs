//! `actlog maintain`: what was compressed or deleted on stdout, refusals and warnings on
//! stderr.

use super::stdout;
use actlog::cli::MaintainArgs;
use actlog::maintain::{Action, Policy};
use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::process::ExitCode;

/// Runs maintenance as of `now`'s UTC day; exit 2 when a day was refused.
pub fn maintain(dir: &Path, args: &MaintainArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    if !dir.is_dir() {
        return Err(anyhow!("{}: no such log directory", dir.display()));
    }
    let policy = Policy {
        keep_days: args.keep_days,
        grace_days: args.grace_days,
        dry_run: args.dry_run,
        max_bytes: args.max_bytes,
    };
    let report = actlog::maintain::run(dir, now.date_naive(), &policy)?;
    if report.busy {
        eprintln!(
            "actlog: another maintenance run holds {}; nothing done",
            dir.join(actlog::maintain::LOCK_FILE).display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let mut refused = false;
    for action in &report.actions {
        match describe(action, args.dry_run) {
            Line::Done(text) => out += &format!("{text}\n"),
            Line::Note(text) => eprintln!("actlog: {text}"),
            Line::Refused(text) => {
                refused = true;
                eprintln!("actlog: {text}");
            }
        }
    }
    stdout::write(out.as_bytes())?;
    Ok(if refused {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Where a line of the report goes.
enum Line {
    /// Something done (or, in a dry run, to be done): standard output.
    Done(String),
    /// A warning: standard error.
    Note(String),
    /// A day left as it was for a reason: standard error, and exit 2.
    Refused(String),
}

fn describe(action: &Action, dry_run: bool) -> Line {
    let would = if dry_run { "would " } else { "" };
    match action {
        Action::Compressed {
            day, plain_bytes, ..
        } if dry_run => Line::Done(format!("would compress {day} ({plain_bytes} bytes)")),
        Action::Compressed {
            day,
            plain_bytes,
            gz_bytes,
        } => Line::Done(format!(
            "compressed {day}: {plain_bytes} bytes into {gz_bytes}"
        )),
        Action::RemovedLeftover { day } => {
            Line::Done(format!("removed {day}'s plain file, already in its .gz"))
        }
        Action::Deleted { day, files } => {
            Line::Done(format!("{would}delete {day}: {}", files.join(", ")))
        }
        Action::RemovedTemp { name } => {
            Line::Done(format!("{would}remove {name} (left by a crashed run)"))
        }
        Action::Skipped { name, what } => Line::Note(format!(
            "warning: left {name} alone: {what}, not followed or deleted"
        )),
        Action::Refused { day, reason } => {
            Line::Refused(format!("not compressing {day}: {reason}"))
        }
        Action::NotDeleted { day, reason } => {
            Line::Refused(format!("not deleting {day}: {reason}"))
        }
        Action::Warned { day, message } => Line::Note(format!("warning: {day}: {message}")),
    }
}
