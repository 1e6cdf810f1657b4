//! `actlog maintain`: what was compressed or deleted on stdout, refusals and warnings on
//! stderr.

use super::progress::Bar;
use super::stdout;
use actlog::cli::MaintainArgs;
use actlog::maintain::{Action, Policy};
use actlog::units::{count, human_bytes};
use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::process::ExitCode;

/// Runs maintenance as of `now`'s UTC day; exit 2 when a day was refused.
pub fn maintain(
    dir: &Path,
    args: &MaintainArgs,
    now: DateTime<Utc>,
    quiet: bool,
) -> Result<ExitCode> {
    if !dir.is_dir() {
        return Err(anyhow!("{}: no such log directory", dir.display()));
    }
    let policy = Policy {
        keep_days: args.keep_days,
        grace_days: args.grace_days,
        dry_run: args.dry_run,
        max_bytes: args.max_bytes,
        reindex: args.reindex,
    };
    let report = {
        let bar = Bar::new(quiet);
        actlog::maintain::run_with(dir, now.date_naive(), &policy, &bar)?
    };
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
            Line::Note(text) if !quiet => eprintln!("actlog: {text}"),
            Line::Note(_) => {}
            Line::Refused(text) => {
                refused = true;
                eprintln!("actlog: {text}");
            }
        }
    }
    if out.is_empty() && !refused && !quiet {
        let what = match (args.dry_run, args.reindex) {
            (true, false) => "none would be compressed or deleted",
            (true, true) => "none would be compressed, reindexed or deleted",
            (false, false) => "none to compress or delete",
            (false, true) => "none to compress, reindex or delete",
        };
        out = format!(
            "nothing to do: {} checked, {what}\n",
            count(report.days, "day", "days")
        );
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
    // One tense: what was done, or with --dry-run what would be.
    let done = |past: &str, verb: &str| {
        if dry_run {
            format!("would {verb}")
        } else {
            past.to_owned()
        }
    };
    match action {
        Action::Compressed {
            day, plain_bytes, ..
        } if dry_run => Line::Done(format!(
            "would compress {day} ({})",
            human_bytes(*plain_bytes)
        )),
        Action::Compressed {
            day,
            plain_bytes,
            gz_bytes,
        } => Line::Done(format!(
            "compressed {day}: {} into {}",
            human_bytes(*plain_bytes),
            human_bytes(*gz_bytes)
        )),
        Action::RemovedLeftover { day } => Line::Done(format!(
            "{} {day}'s plain file, already in its .gz",
            done("removed", "remove")
        )),
        Action::Deleted { day, files } => Line::Done(format!(
            "{} {day}: {}",
            done("deleted", "delete"),
            files.join(", ")
        )),
        Action::RemovedTemp { name } => Line::Done(format!(
            "{} {name} (left by a crashed run)",
            done("removed", "remove")
        )),
        Action::Skipped { name, what } => Line::Note(format!(
            "warning: left {name} alone: {what}, not followed or deleted"
        )),
        Action::Refused { day, reason } => {
            Line::Refused(format!("not compressing {day}: {reason}"))
        }
        Action::Reindexed { day, lacking, .. } if dry_run => Line::Done(match lacking {
            Some(n) => format!(
                "would reindex {day} ({} without a summary)",
                count(*n, "member", "members")
            ),
            None => format!(
                "would reindex {day} (no member index: written by gzip, cat or an older actlog)"
            ),
        }),
        Action::Reindexed {
            day,
            plain_bytes,
            members,
            ..
        } => Line::Done(format!(
            "reindexed {day}: {} into {} with summaries",
            human_bytes(*plain_bytes),
            count(*members, "member", "members")
        )),
        Action::NotReindexed { day, reason } => {
            Line::Refused(format!("not reindexing {day}: {reason}"))
        }
        Action::NotDeleted { day, reason } => {
            Line::Refused(format!("not deleting {day}: {reason}"))
        }
        Action::Warned { day, message } => Line::Note(format!("warning: {day}: {message}")),
    }
}
