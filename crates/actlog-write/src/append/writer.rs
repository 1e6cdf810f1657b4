//! The appender: a [`Writer`] validates and encodes each batch, then writes it to the day
//! files of its records with the durability the store was opened with (each call, group
//! commit, or a background thread), calling its day-change hook on a new UTC day.

use super::buffered::Background;
use super::days::{OpenDays, partial};
use super::encode::{Encoder, Run, Stamp};
use super::group::GroupCommit;
use super::hook::DayWatch;
use crate::maintain::Report;
use actlog_core::error::Result;
use actlog_core::record::Activity;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// When `append` returns, relative to the records reaching storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Written to the operating system (survives the process, not a power cut).
    #[default]
    Flush,
    /// On disk (fdatasync); concurrent appends share one sync (group commit).
    Fsync,
    /// Queued in memory; a background thread writes at least every second and on close.
    Buffered,
}

/// How a writer hands its records to storage, from the store's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterMode {
    pub(crate) durability: Durability,
    pub(crate) queue_capacity_bytes: usize,
    pub(crate) flush_interval: Duration,
}

/// Appends records to a [`crate::Store`]. `Send + Sync`: share it between threads.
#[derive(Debug)]
pub struct Writer {
    encoder: Encoder,
    days: Arc<OpenDays>,
    on_new_day: Option<DayWatch>,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    Flush,
    Fsync(GroupCommit),
    Buffered(Background),
}

impl Writer {
    pub(crate) fn new(
        dir: PathBuf,
        encoder: Encoder,
        on_new_day: Option<DayWatch>,
        how: WriterMode,
    ) -> Writer {
        let days = Arc::new(OpenDays::new(dir));
        let mode = match how.durability {
            Durability::Flush => Mode::Flush,
            Durability::Fsync => Mode::Fsync(GroupCommit::default()),
            Durability::Buffered => Mode::Buffered(Background::start(
                Arc::clone(&days),
                how.queue_capacity_bytes,
                how.flush_interval,
            )),
        };
        Writer {
            encoder,
            days,
            on_new_day,
            mode,
        }
    }

    /// Appends one record; see [`Writer::append_batch`]. A refused record is reported as
    /// itself, not as record 0 of a batch.
    pub fn append(&self, activity: &Activity) -> Result<Stamp> {
        let mut runs = Vec::with_capacity(1);
        let stamp = self.encoder.encode_one(activity, self.start(), &mut runs)?;
        self.write(runs, 1)?;
        Ok(stamp)
    }

    /// Appends records in order, each to the file of its own UTC day, and returns what was
    /// assigned to each.
    ///
    /// Every record is validated before anything is written: one bad record refuses the
    /// whole batch ([`Error::InvalidAt`](actlog_core::error::Error::InvalidAt)). Each day's records go in one locked write. If a
    /// write fails after an earlier day of the batch was written, the error is
    /// [`Error::Partial`](actlog_core::error::Error::Partial) and the records written are a prefix of the batch
    /// ([`Error::written`](actlog_core::error::Error::written)), so a retry from the first unwritten record neither loses
    /// nor repeats any.
    pub fn append_batch(&self, batch: &[Activity]) -> Result<Vec<Stamp>> {
        let mut stamps = Vec::with_capacity(batch.len());
        let runs = self
            .encoder
            .encode(batch, self.start(), |s| stamps.push(s))?;
        self.write(runs, batch.len())?;
        Ok(stamps)
    }

    /// Like [`Writer::append_batch`], but the batch is written (or has failed) when this
    /// returns, whatever the durability: buffered mode writes what is queued, then this
    /// batch directly. Only so can a failure say exactly which records are stored.
    pub fn append_batch_now(&self, batch: &[Activity]) -> Result<()> {
        if let Mode::Buffered(bg) = &self.mode {
            bg.flush()?;
        }
        let runs = self.encoder.encode(batch, self.start(), |_| {})?;
        match &self.mode {
            Mode::Buffered(_) => self.write_direct(&runs, batch.len()),
            _ => self.write(runs, batch.len()),
        }
    }

    /// The time of an append: the clock, read once, after telling the day-change hook.
    fn start(&self) -> chrono::DateTime<chrono::Utc> {
        let now = self.encoder.now();
        if let Some(watch) = &self.on_new_day {
            watch.append_at(self.days.dir(), now);
        }
        now
    }

    /// Hands encoded runs of `total` records to storage the way the durability says.
    fn write(&self, runs: Vec<Run>, total: usize) -> Result<()> {
        match &self.mode {
            Mode::Flush => self.write_direct(&runs, total),
            Mode::Fsync(group) => group.commit(&self.days, runs, total),
            Mode::Buffered(bg) => bg.send(runs),
        }
    }

    /// Writes runs now, on this thread, without a sync.
    fn write_direct(&self, runs: &[Run], total: usize) -> Result<()> {
        self.days
            .write_runs(runs, false)
            .map_err(|(written, e)| partial(written, total, e))
    }

    /// Buffered mode: writes everything queued so far and reports any write error. In the
    /// other modes records are already written and this does nothing.
    pub fn flush(&self) -> Result<()> {
        match &self.mode {
            Mode::Buffered(bg) => bg.flush(),
            _ => Ok(()),
        }
    }

    /// Writes anything still buffered and closes the writer, reporting records that could
    /// not be written ([`Error::Lost`](actlog_core::error::Error::Lost)). Dropping a writer does the same but can only print
    /// such a loss to standard error.
    pub fn close(self) -> Result<()> {
        match self.mode {
            Mode::Buffered(bg) => bg.close(),
            _ => Ok(()),
        }
    }

    /// Waits for a maintenance run started by [`crate::Options::auto_maintain`], if one
    /// is running, and returns its outcome.
    pub fn wait_for_maintenance(&self) -> Option<Result<Report>> {
        self.on_new_day.as_ref()?.wait()
    }

    /// How many fsyncs this writer has made (in `fsync` mode, fewer than records when
    /// concurrent appends were grouped).
    pub fn fsyncs(&self) -> u64 {
        self.days.fsyncs()
    }
}
