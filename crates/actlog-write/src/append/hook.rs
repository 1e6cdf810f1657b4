//! What a writer does when the UTC day changes: it calls a hook, so that the writer never
//! starts maintenance itself (automatic maintenance is such a hook, in `auto`).

use crate::maintain::Report;
use actlog_core::error::Result;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// Called by a writer on the first append of a new UTC day. Must not block the append.
pub(crate) trait DayChange: Send + Sync + std::fmt::Debug {
    /// The day of `dir` has become `today`.
    fn day_changed(&self, dir: &Path, today: NaiveDate);
    /// Waits for work the hook started, if any is running, and returns its outcome.
    fn wait(&self) -> Option<Result<Report>>;
}

/// A hook and the UTC day appends last saw, to call the hook once per change.
#[derive(Debug)]
pub(crate) struct DayWatch {
    hook: Box<dyn DayChange>,
    day: AtomicI32,
}

impl DayWatch {
    /// Watches from `now`'s day on: the hook is first called on the day after it.
    pub(crate) fn new(hook: Box<dyn DayChange>, now: DateTime<Utc>) -> DayWatch {
        DayWatch {
            hook,
            day: AtomicI32::new(now.date_naive().num_days_from_ce()),
        }
    }

    /// Calls the hook if `now` is on a later UTC day than appends saw so far (once, even
    /// when several threads append at the change).
    pub(crate) fn append_at(&self, dir: &Path, now: DateTime<Utc>) {
        let today = now.date_naive().num_days_from_ce();
        let seen = self.day.load(Ordering::Relaxed);
        if today > seen
            && self
                .day
                .compare_exchange(seen, today, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.hook.day_changed(dir, now.date_naive());
        }
    }

    /// See [`DayChange::wait`].
    pub(crate) fn wait(&self) -> Option<Result<Report>> {
        self.hook.wait()
    }
}
