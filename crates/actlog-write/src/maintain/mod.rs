//! Maintenance (CONTRACT section 3): compress finished days into `.gz` and delete days
//! past retention, safely while writers, readers and other pods' maintenance run, and
//! after a crash at any instant.
//!
//! Compressing day D, under D's exclusive lock (writers wait): the existing `.gz` is
//! checked, the plain file's bytes not yet held by it are compressed into new gzip
//! members (each recording its length and which plain bytes it holds), old and new
//! members are written to a dot temp file, fsynced and renamed over the `.gz`, the
//! directory is fsynced, and only then is the plain file removed, still under the lock.
//! A crash before the rename leaves the old state (and a temp file the next run removes);
//! a crash after it leaves both files, and the members' marker tells readers and the next
//! run which plain bytes are already in the `.gz`, so none is returned or folded twice.

//!
//! Here: the run (`run`, its policy and report, the maintenance lock, temp files);
//! `compress` folds a day into its `.gz`; `reindex` rewrites a finished day's `.gz`
//! whose members lack summaries; `retention` deletes days past the policy.

mod compress;
mod reindex;
mod retention;

use compress::compress_day;
use reindex::reindex_day;
use retention::try_delete_day;

use actlog_core::dayfile::{create_or_open, open_error, sync_dir};
use actlog_core::error::{Error, Result};
use actlog_core::layout::{FileKind, file_name, list_days, parse_file_name};
use actlog_core::progress::{NoProgress, Progress};
use chrono::{Duration, NaiveDate};
use std::io;
use std::path::Path;

/// The lock file that keeps maintenance to one run at a time across pods.
pub const LOCK_FILE: &str = ".maintenance.lock";
/// Plain bytes per gzip member (whole lines; a longer line makes a larger member).
pub const MEMBER_BYTES: usize = 1 << 20;

/// What a maintenance run does.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Delete days older than this many days (by the date in the file name).
    pub keep_days: u32,
    /// Compress days more than this many days before today: 1 (the default) compresses
    /// every day before yesterday, 0 yesterday too. Today is never compressed.
    pub grace_days: u32,
    /// Report what would be done, change nothing.
    pub dry_run: bool,
    /// After retention, delete the oldest days (never today or a future one) until the
    /// day files take at most this many bytes.
    pub max_bytes: Option<u64>,
    /// After compressing, rewrite finished days' `.gz` files whose members lack summaries
    /// (older actlog, plain `gzip`, `cat`) into members with them; a day that still has a
    /// plain file is left for a run after it is compressed.
    pub reindex: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            keep_days: 90,
            grace_days: 1,
            dry_run: false,
            max_bytes: None,
            reindex: false,
        }
    }
}

/// One thing maintenance did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A day's plain bytes were folded into its `.gz`.
    Compressed {
        /// The day.
        day: NaiveDate,
        /// Plain bytes folded.
        plain_bytes: u64,
        /// Compressed bytes added.
        gz_bytes: u64,
    },
    /// A plain file already held whole by the `.gz` (a crash leftover) was removed.
    RemovedLeftover {
        /// The day.
        day: NaiveDate,
    },
    /// A day past retention was deleted.
    Deleted {
        /// The day.
        day: NaiveDate,
        /// The files removed.
        files: Vec<String>,
    },
    /// A crashed run's temporary file was removed.
    RemovedTemp {
        /// Its name.
        name: String,
    },
    /// An entry named like a day file that is not a regular file (a symbolic link, say):
    /// never followed, compressed or deleted.
    Skipped {
        /// Its name.
        name: String,
        /// What it is.
        what: &'static str,
    },
    /// A day could not be compressed; it was left as it was.
    Refused {
        /// The day.
        day: NaiveDate,
        /// Why.
        reason: String,
    },
    /// A day's `.gz` was rewritten into members with summaries, inflating to the same
    /// bytes.
    Reindexed {
        /// The day.
        day: NaiveDate,
        /// Members that lacked a summary they could have; `None` when the file had no
        /// member index at all (plain `gzip`, `cat`).
        lacking: Option<u64>,
        /// Bytes of content rewritten (0 in a dry run).
        plain_bytes: u64,
        /// Members written (0 in a dry run).
        members: u64,
    },
    /// A day's `.gz` could not be reindexed (damaged, or changed under the run); it was
    /// left as it was.
    NotReindexed {
        /// The day.
        day: NaiveDate,
        /// Why.
        reason: String,
    },
    /// A day past retention could not be deleted; it was left as it was.
    NotDeleted {
        /// The day.
        day: NaiveDate,
        /// Why.
        reason: String,
    },
    /// Something worth telling about a day that did not stop its work.
    Warned {
        /// The day.
        day: NaiveDate,
        /// What.
        message: String,
    },
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Another run held the maintenance lock; nothing was touched.
    pub busy: bool,
    /// What was done, in order.
    pub actions: Vec<Action>,
    /// Days looked at (every day in the directory when the run began).
    pub days: u64,
}

/// Runs maintenance on `dir` as of `today` (a UTC day).
pub fn run(dir: &Path, today: NaiveDate, policy: &Policy) -> Result<Report> {
    run_with(dir, today, policy, &NoProgress)
}

/// [`run`], telling `progress` of each day looked at and each compression begun.
pub fn run_with(
    dir: &Path,
    today: NaiveDate,
    policy: &Policy,
    progress: &dyn Progress,
) -> Result<Report> {
    let mut report = Report::default();
    let lock_path = dir.join(LOCK_FILE);
    // A dry run creates nothing, not even the lock file; it still respects a running one.
    let lock = if policy.dry_run {
        match actlog_core::dayfile::open_day_file(&lock_path) {
            Ok(Some(f)) => f,
            Ok(None) => return dry_run_unlocked(dir, today, policy, report, progress),
            Err(e) => return Err(open_error(&lock_path, e)),
        }
    } else {
        create_or_open(&lock_path, false)?
    };
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            report.busy = true;
            return Ok(report);
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(Error::Lock {
                path: lock_path,
                source,
            });
        }
    }
    plan(dir, today, policy, &mut report, progress)?;
    drop(lock);
    Ok(report)
}

fn dry_run_unlocked(
    dir: &Path,
    today: NaiveDate,
    policy: &Policy,
    mut report: Report,
    progress: &dyn Progress,
) -> Result<Report> {
    plan(dir, today, policy, &mut report, progress)?;
    Ok(report)
}

/// Does (or, in a dry run, lists) the run's work; the caller holds the maintenance lock.
///
/// One bad day (linked elsewhere, unreadable, a foreign object at its temp name, no
/// space) never stops the others: its trouble is reported as an action and the run goes
/// on. Only a problem with the directory itself ends the run.
fn plan(
    dir: &Path,
    today: NaiveDate,
    policy: &Policy,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<()> {
    let blocked = remove_stale_temps(dir, policy, report)?;
    for (name, what) in actlog_core::layout::list_strangers(dir)? {
        report.actions.push(Action::Skipped { name, what });
    }
    // Far-off settings saturate instead of overflowing the calendar.
    let days_before = |n: u32| {
        today
            .checked_sub_signed(Duration::days(i64::from(n)))
            .unwrap_or(NaiveDate::MIN)
    };
    let compress_before = days_before(policy.grace_days);
    // Retention never reaches today or a future day.
    let keep_from = days_before(policy.keep_days);
    let mut deleted = Vec::new();
    let days = list_days(dir)?;
    report.days = days.len() as u64;
    progress.begin("maintaining", report.days);
    for (day, files) in days {
        progress.working(&day.to_string());
        if day < keep_from {
            if try_delete_day(dir, day, policy, report) {
                deleted.push(day);
            }
        } else if files.plain && day < compress_before && day < today
            // A blocked day was reported when its temp name was found taken.
            && !blocked.contains(&day)
        {
            progress.working(&format!("compressing {day}"));
            if let Err(e) = compress_day(dir, day, policy, report) {
                if !policy.dry_run {
                    remove_our_temp(dir, day);
                }
                report.actions.push(Action::Refused {
                    day,
                    reason: e.to_string(),
                });
            }
        }
        if policy.reindex
            && (files.gzip || files.plain)
            && day < today
            && day >= keep_from
            && !blocked.contains(&day)
            && let Err(e) = reindex_day(dir, day, policy, report, progress, day < compress_before)
        {
            if !policy.dry_run {
                remove_our_temp(dir, day);
            }
            report.actions.push(Action::NotReindexed {
                day,
                reason: e.to_string(),
            });
        }
        progress.step();
    }
    progress.end();
    if let Some(cap) = policy.max_bytes {
        let sizes: Vec<(NaiveDate, u64)> = list_days(dir)?
            .into_keys()
            .filter(|d| !deleted.contains(d))
            .map(|d| {
                let size =
                    |k| std::fs::symlink_metadata(dir.join(file_name(d, k))).map_or(0, |m| m.len());
                (d, size(FileKind::Plain) + size(FileKind::Gzip))
            })
            .collect();
        let mut total: u64 = sizes.iter().map(|(_, n)| n).sum();
        for (day, size) in sizes {
            if total <= cap || day >= today {
                break;
            }
            if try_delete_day(dir, day, policy, report) {
                total -= size;
            }
        }
    }
    Ok(())
}

/// Removes a day's temp file after a failed compression, but only a regular file or a
/// symlink (unlinking it never touches its target), never a foreign directory.
fn remove_our_temp(dir: &Path, day: NaiveDate) {
    let path = dir.join(temp_name(day));
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() || m.is_symlink()) {
        let _ = std::fs::remove_file(path);
    }
}

/// The name of the temporary file a run writes a day's new `.gz` into.
fn temp_name(day: NaiveDate) -> String {
    format!(".{}.tmp", file_name(day, FileKind::Gzip))
}

/// Removes temp files of crashed runs: `.activity-YYYY-MM-DD.json.gz.tmp` only. A
/// foreign object at such a name (a directory, a FIFO, a file that will not go) is left
/// alone and its day is not compressed this run; those days are returned.
fn remove_stale_temps(dir: &Path, policy: &Policy, report: &mut Report) -> Result<Vec<NaiveDate>> {
    let mut blocked = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(day) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(parse_file_name)
            .filter(|(_, kind)| *kind == FileKind::Gzip)
            .map(|(day, _)| day)
        else {
            continue;
        };
        let path = dir.join(name);
        let refuse = |why: String| Action::Refused {
            day,
            reason: format!("{}: {why}; left alone", path.display()),
        };
        // Only what a run of ours could have left there (a file; a symlink is unlinked,
        // never followed) is removed.
        let what = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() || m.is_symlink() => None,
            Ok(m) if m.is_dir() => Some("a directory at maintenance's temporary name".into()),
            Ok(_) => Some("not a regular file, at maintenance's temporary name".into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => Some(format!("stat: {e}")),
        };
        if let Some(what) = what {
            blocked.push(day);
            report.actions.push(refuse(what));
            continue;
        }
        if !policy.dry_run
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            blocked.push(day);
            report.actions.push(refuse(format!("remove: {e}")));
            continue;
        }
        report.actions.push(Action::RemovedTemp {
            name: name.to_owned(),
        });
    }
    if !policy.dry_run {
        sync_dir(dir)?;
    }
    Ok(blocked)
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "remove", e)),
    }
}
