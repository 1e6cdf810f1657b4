//! Retention: deleting the files of days past the policy.

use super::{Action, Policy, Report, remove};
use actlog_core::dayfile::{lock_existing, sync_dir};
use actlog_core::error::Result;
use actlog_core::layout::{FileKind, file_name};
use chrono::NaiveDate;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Deletes a day, reporting a failure as that day's action; whether it was deleted.
pub(super) fn try_delete_day(
    dir: &Path,
    day: NaiveDate,
    policy: &Policy,
    report: &mut Report,
) -> bool {
    match delete_day(dir, day, policy, report) {
        Ok(()) => true,
        Err(e) => {
            report.actions.push(Action::NotDeleted {
                day,
                reason: e.to_string(),
            });
            false
        }
    }
}

/// Deletes a day's files (only regular files: a symlink or directory at a day's name is
/// not ours). A file hard-linked elsewhere (a `cp -al` backup) loses only our name of it;
/// its other links keep the data, and a warning says so.
fn delete_day(dir: &Path, day: NaiveDate, policy: &Policy, report: &mut Report) -> Result<()> {
    let plain = dir.join(file_name(day, FileKind::Plain));
    let gz = dir.join(file_name(day, FileKind::Gzip));
    let mut files = Vec::new();
    let mut linked = Vec::new();
    for (path, kind) in [(&gz, FileKind::Gzip), (&plain, FileKind::Plain)] {
        if let Ok(m) = std::fs::symlink_metadata(path)
            && m.is_file()
        {
            files.push((path, kind));
            if m.nlink() > 1 {
                linked.push((file_name(day, kind), m.nlink() - 1));
            }
        }
    }
    if files.is_empty() {
        return Ok(());
    }
    if !policy.dry_run {
        // Hold the plain file's lock so no writer is appending to what is deleted.
        let lock = if files.iter().any(|(_, k)| *k == FileKind::Plain) {
            lock_existing(&plain, true)?
        } else {
            None
        };
        for (path, _) in &files {
            remove(path)?;
        }
        sync_dir(dir)?;
        drop(lock);
    }
    for (name, others) in linked {
        report.actions.push(Action::Warned {
            day,
            message: format!(
                "{name} is hard-linked elsewhere ({others} other link(s)); only its name in the log directory is deleted, the other links keep its data"
            ),
        });
    }
    report.actions.push(Action::Deleted {
        day,
        files: files.iter().map(|(_, k)| file_name(day, *k)).collect(),
    });
    Ok(())
}
