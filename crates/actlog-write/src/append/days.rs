//! The day files a writer keeps open, and writing encoded runs to them in order, each
//! under its day file's lock.

use super::encode::Run;
use actlog_core::dayfile::Slot;
use actlog_core::error::Error;
use actlog_core::layout::{FileKind, file_name};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Day files kept open by one writer; a handful at most (today, perhaps yesterday).
const OPEN_DAYS: usize = 3;

/// A writer's open day files, shared by its modes and its background thread.
#[derive(Debug)]
pub(crate) struct OpenDays {
    dir: PathBuf,
    /// Each day file behind its own mutex. The per-day mutex keeps two threads off one
    /// descriptor (flock locks belong to the open file, so threads sharing it would not
    /// exclude each other); being per day, a thread waiting for one day's lock (held by
    /// maintenance, say) does not hold up appends to another.
    files: Mutex<Vec<(NaiveDate, Arc<Mutex<Slot>>)>>,
    fsyncs: AtomicU64,
}

impl OpenDays {
    pub(crate) fn new(dir: PathBuf) -> OpenDays {
        OpenDays {
            dir,
            files: Mutex::new(Vec::new()),
            fsyncs: AtomicU64::new(0),
        }
    }

    /// The log directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many fsyncs have been made through these files.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Writes runs in order, each under its day file's lock. On failure returns how many
    /// records (a prefix) were written.
    pub(crate) fn write_runs(&self, runs: &[Run], sync: bool) -> Result<(), (usize, Error)> {
        let mut written = 0;
        for run in runs {
            let slot = self.slot(run.day);
            slot.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&run.bytes, sync)
                .map_err(|e| (written, e))?;
            if sync {
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            written += run.count;
        }
        Ok(())
    }

    /// The slot of `day`, opened lazily; keeps at most [`OPEN_DAYS`] days.
    fn slot(&self, day: NaiveDate) -> Arc<Mutex<Slot>> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, slot)) = files.iter().find(|(d, _)| *d == day) {
            return Arc::clone(slot);
        }
        if files.len() >= OPEN_DAYS {
            // Drop the oldest day: writes to it are rare once a day is over. A thread still
            // using it keeps its own reference until done.
            if let Some(oldest) = (0..files.len()).min_by_key(|&i| files[i].0) {
                files.swap_remove(oldest);
            }
        }
        let path = self.dir.join(file_name(day, FileKind::Plain));
        let slot = Arc::new(Mutex::new(Slot::new(path)));
        files.push((day, Arc::clone(&slot)));
        slot
    }
}

/// Turns a failure after `written` of `total` records into the error the caller sees.
pub(crate) fn partial(written: usize, total: usize, e: Error) -> Error {
    if written == 0 {
        e
    } else {
        Error::Partial {
            written,
            total,
            source: Box::new(e),
        }
    }
}
