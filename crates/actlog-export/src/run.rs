//! The export loop: reads the selected records in stored order (the readers' query, or
//! the files the follower opened), decides with the [`Tracker`] which to send, hands
//! them to a [`Target`] in batches, and with `follow` goes on with every record appended
//! afterwards until told to stop.

use crate::error::ExportError;
use crate::progress::{Tracker, Verdict};
use crate::select::Selection;
use crate::target::Target;
use actlog_core::clock::Clock;
use actlog_core::record::Record;
use actlog_read::follow::{Follower, Waiter};
use actlog_read::query::{self, Outcome};
use actlog_read::scan::Snapshot;
use chrono::NaiveDate;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Records per batch by default: one transaction each.
pub const DEFAULT_BATCH: usize = 10_000;

/// How to export.
pub struct Options<'a> {
    /// The store.
    pub dir: &'a Path,
    /// The records.
    pub selection: &'a Selection,
    /// Records per batch.
    pub batch: usize,
    /// Keep exporting new records.
    pub follow: Option<Follow>,
    /// Set (by a signal handler) to stop after the current batch.
    pub stop: &'a AtomicBool,
}

/// How to follow.
pub struct Follow {
    /// Look every this long instead of waiting for file-system events.
    pub poll: Option<Duration>,
    /// Tells when `--until` has passed.
    pub clock: Arc<dyn Clock>,
}

/// What an export did.
#[derive(Debug, Default)]
pub struct Report {
    /// Records sent to the target.
    pub sent: u64,
    /// Rows the target did not have before.
    pub inserted: u64,
    /// Records passed over as exported by an earlier run.
    pub done_before: u64,
    /// Batches committed.
    pub batches: u64,
    /// Days sent again in full because the store no longer held what was exported.
    pub resent: BTreeSet<NaiveDate>,
    /// Damaged lines and files skipped (as the readers count them).
    pub outcome: Outcome,
    /// Stopped by [`Options::stop`] rather than at the end.
    pub stopped: bool,
}

/// Exports as `opts` says into `target`.
pub fn export(opts: &Options<'_>, target: &mut dyn Target) -> Result<Report, ExportError> {
    let mut run = Run {
        opts,
        tracker: Tracker::new(target.saved()?),
        target,
        report: Report::default(),
        error: None,
    };
    let started = match &opts.follow {
        Some(_) => {
            actlog_read::follow::raise_open_file_limit();
            Some(Follower::start(opts.dir)?)
        }
        None => None,
    };
    let snapshot = started.as_ref().map(|(_, s)| s);
    let outcome = run.pass(None, snapshot)?;
    merge(&mut run.report.outcome, outcome);
    if !run.report.stopped {
        let redo = run.tracker.end_pass();
        if !redo.is_empty() {
            run.pass(Some(&redo), snapshot)?;
            run.tracker.end_pass();
            run.report.resent = redo;
        }
    }
    run.commit()?;
    run.finish()?;
    if let (Some(follow), Some((follower, _))) = (&opts.follow, started)
        && !run.report.stopped
    {
        run.follow(follow, follower)?;
    }
    Ok(run.report)
}

fn merge(into: &mut Outcome, more: Outcome) {
    into.damaged += more.damaged;
    let room = query::DAMAGE_KEPT.saturating_sub(into.damage.len());
    into.damage.extend(more.damage.into_iter().take(room));
}

struct Run<'a, 'o> {
    opts: &'a Options<'o>,
    target: &'a mut dyn Target,
    tracker: Tracker,
    report: Report,
    /// The error that stopped a read, kept until the reader returns.
    error: Option<ExportError>,
}

impl Run<'_, '_> {
    /// One record in stored order: sent if it is due; `Break` to stop reading.
    fn take(
        &mut self,
        line: &[u8],
        r: &Record,
        fresh: bool,
        only: Option<&BTreeSet<NaiveDate>>,
    ) -> ControlFlow<()> {
        let day = r.day();
        if only.is_some_and(|days| !days.contains(&day)) {
            return ControlFlow::Continue(());
        }
        let in_window = self.opts.selection.in_window(r.timestamp);
        match self.tracker.next(day, line, in_window, fresh) {
            Verdict::Send => {}
            Verdict::Done => {
                self.report.done_before += 1;
                return ControlFlow::Continue(());
            }
            Verdict::Outside => return ControlFlow::Continue(()),
        }
        let result = self.target.add(line, r).and_then(|()| {
            self.report.sent += 1;
            if self.target.pending() >= self.opts.batch {
                self.commit()
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        if self.opts.stop.load(Ordering::Relaxed) {
            self.report.stopped = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn commit(&mut self) -> Result<(), ExportError> {
        if self.target.pending() == 0 {
            return Ok(());
        }
        let marks = self.tracker.take_marks();
        self.report.inserted += self.target.commit(&marks)?;
        self.report.batches += 1;
        Ok(())
    }

    /// Waits until every batch sent is confirmed.
    fn finish(&mut self) -> Result<(), ExportError> {
        self.report.inserted += self.target.finish()?;
        Ok(())
    }

    /// Reads the store (as `snapshot` holds it, when following), only the days `only`
    /// names if given.
    fn pass(
        &mut self,
        only: Option<&BTreeSet<NaiveDate>>,
        snapshot: Option<&Snapshot>,
    ) -> Result<Outcome, ExportError> {
        let query = &self.opts.selection.query;
        let dir = self.opts.dir;
        let mut emit = |line: &[u8], r: &Record| self.take(line, r, false, only);
        let outcome = match snapshot {
            Some(s) => query::run_snapshot(dir, query, s, &mut emit),
            None => query::run(dir, query, &mut emit),
        };
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(outcome?)
    }

    /// Exports each record appended from now on until stopped, or until `--until` has
    /// passed (after a last read).
    fn follow(&mut self, follow: &Follow, mut follower: Follower) -> Result<(), ExportError> {
        let query = self.opts.selection.query.clone();
        let until = self.opts.selection.window.1;
        let mut waiter = Waiter::new(self.opts.dir, follow.poll);
        loop {
            let stopping = self.opts.stop.load(Ordering::Relaxed);
            let last = until.is_some_and(|u| follow.clock.now() >= u);
            let read =
                follower.read_matching(&query, &mut |line, r| self.take(line, r, true, None));
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            let (_, seen) = read?;
            merge(&mut self.report.outcome, seen);
            self.commit()?;
            self.finish()?;
            if stopping || self.report.stopped {
                self.report.stopped = true;
                return Ok(());
            }
            if last {
                return Ok(());
            }
            waiter.wait();
        }
    }
}
