//! Automatic maintenance: a day-change hook that runs [`crate::maintain::run`] on a
//! background thread, one run at a time per writer (across pods the maintenance lock
//! keeps it to one).

use crate::append::hook::DayChange;
use crate::maintain::{self, Policy, Report};
use actlog_core::error::{Error, Result};
use chrono::NaiveDate;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

/// Starts maintenance with its policy when the day changes.
#[derive(Debug)]
pub(crate) struct AutoMaintain {
    policy: Policy,
    running: Mutex<Option<JoinHandle<Result<Report>>>>,
}

impl AutoMaintain {
    pub(crate) fn new(policy: Policy) -> AutoMaintain {
        AutoMaintain {
            policy,
            running: Mutex::new(None),
        }
    }
}

impl DayChange for AutoMaintain {
    fn day_changed(&self, dir: &Path, today: NaiveDate) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let (dir, policy) = (dir.to_path_buf(), self.policy.clone());
        let spawned = std::thread::Builder::new()
            .name("actlog-maintain".into())
            .spawn(move || maintain::run(&dir, today, &policy));
        // No thread: try again on the next day change rather than delay the append.
        *running = spawned.ok();
    }

    fn wait(&self) -> Option<Result<Report>> {
        let handle = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        Some(handle.join().unwrap_or(Err(Error::Panicked {
            what: "automatic maintenance",
        })))
    }
}
