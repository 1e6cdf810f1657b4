//! The appender: [`Store`] opens a log directory, [`Writer`] appends records to its day
//! files under the locking protocol of [`crate::dayfile`], with the durability the caller
//! chose.

use crate::buffered::Background;
use crate::clock::{Clock, SystemClock};
use crate::dayfile::{Slot, sync_dir};
use crate::error::{Error, Result};
use crate::group::GroupCommit;
use crate::layout::{FileKind, file_name};
use crate::record::Activity;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use uuid::{ContextV7, Timestamp, Uuid};

/// Mode of a log directory that actlog creates.
pub const DIR_MODE: u32 = 0o750;
/// Default longest line, in bytes without the newline (CONTRACT section 2).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
/// Default for [`Options::max_future_skew`]: one day.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(24 * 60 * 60);

/// When `append` returns, relative to the records reaching storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Written to the operating system (survives the process, not a power cut).
    #[default]
    Flush,
    /// On disk (fdatasync); concurrent appends share one sync (group commit).
    Fsync,
    /// Queued in memory; a background thread writes at least every second and on close.
    Buffered,
}

/// How a [`Store`] writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// When `append` returns.
    pub durability: Durability,
    /// Longest accepted line in bytes, without its newline; longer records are refused.
    /// At most [`crate::record::MAX_LINE_LIMIT`], the longest line readers read.
    pub max_line_bytes: usize,
    /// How far ahead of the writer's clock a record's `timestamp` may be; a later one is
    /// refused: a record stamped far ahead would stand last in every `tail -n` and keep its
    /// day file from ever being compressed. One day by default
    /// ([`DEFAULT_MAX_FUTURE_SKEW`]); `Duration::MAX` turns the check off.
    pub max_future_skew: Duration,
    /// Buffered mode: bytes queued in memory before `append` blocks (back-pressure).
    pub queue_capacity_bytes: usize,
    /// Buffered mode: the longest a record waits in memory.
    pub flush_interval: Duration,
    /// Where "now" comes from, for records without a timestamp.
    pub clock: Arc<dyn Clock>,
    /// When set, the first append after the UTC day changes starts maintenance with this
    /// policy on a background thread (appends never wait for it). Off by default.
    pub auto_maintain: Option<crate::maintain::Policy>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Flush,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_future_skew: DEFAULT_MAX_FUTURE_SKEW,
            queue_capacity_bytes: 16 << 20,
            flush_interval: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
            auto_maintain: None,
        }
    }
}

/// A log directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    options: Options,
}

impl Store {
    /// Opens the log directory `dir`, creating it (mode 0750) if it does not exist.
    ///
    /// `dir` itself may be a symbolic link to a directory; the files inside never are.
    /// Refuses [`Options::max_line_bytes`] over [`crate::record::MAX_LINE_LIMIT`]: readers
    /// would skip such lines as damaged.
    pub fn open(dir: impl Into<PathBuf>, options: Options) -> Result<Store> {
        let dir = dir.into();
        if options.max_line_bytes > crate::record::MAX_LINE_LIMIT {
            return Err(Error::BadOption {
                option: "max_line_bytes",
                problem: format!(
                    "{} is over {}, the longest line readers read",
                    options.max_line_bytes,
                    crate::record::MAX_LINE_LIMIT
                ),
            });
        }
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                let not_dir = std::io::Error::from_raw_os_error(libc::ENOTDIR);
                return Err(Error::io(&dir, "open log directory", not_dir));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(&dir)
                    .map_err(|e| Error::io(&dir, "create directory", e))?;
                // The umask may have taken bits away.
                fs::set_permissions(&dir, Permissions::from_mode(DIR_MODE))
                    .map_err(|e| Error::io(&dir, "chmod", e))?;
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    sync_dir(parent)?;
                }
            }
            Err(e) => return Err(Error::io(&dir, "stat", e)),
        }
        Ok(Store { dir, options })
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Compresses finished days and deletes days past retention, as of the clock's UTC
    /// day (see [`crate::maintain`]).
    pub fn maintain(&self, policy: &crate::maintain::Policy) -> Result<crate::maintain::Report> {
        crate::maintain::run(&self.dir, self.options.clock.now().date_naive(), policy)
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// A writer appending to this store. Share one per process: it is `Send + Sync`, keeps
    /// day files open between appends, and in `fsync` mode groups concurrent syncs.
    pub fn writer(&self) -> Writer {
        let shared = Arc::new(Shared {
            dir: self.dir.clone(),
            max_line_bytes: self.options.max_line_bytes,
            max_future_skew: chrono::TimeDelta::from_std(self.options.max_future_skew).ok(),
            clock: Arc::clone(&self.options.clock),
            ids: Mutex::new(ContextV7::new()),
            files: Mutex::new(Vec::new()),
            fsyncs: AtomicU64::new(0),
            auto: self
                .options
                .auto_maintain
                .clone()
                .map(|policy| AutoMaintain {
                    policy,
                    day: std::sync::atomic::AtomicI32::new(day_number(self.options.clock.now())),
                    running: Mutex::new(None),
                }),
        });
        let mode = match self.options.durability {
            Durability::Flush => Mode::Flush,
            Durability::Fsync => Mode::Fsync(GroupCommit::default()),
            Durability::Buffered => Mode::Buffered(Background::start(
                Arc::clone(&shared),
                self.options.queue_capacity_bytes,
                self.options.flush_interval,
            )),
        };
        Writer { shared, mode }
    }
}

/// What the writer assigned to an appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The record's id.
    pub id: Uuid,
    /// The record's timestamp, as stored (UTC, milliseconds).
    pub timestamp: DateTime<Utc>,
}

/// Appends records to a [`Store`]. `Send + Sync`: share it between threads.
#[derive(Debug)]
pub struct Writer {
    shared: Arc<Shared>,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    Flush,
    Fsync(GroupCommit),
    Buffered(Background),
}

impl Writer {
    /// Appends one record; see [`Writer::append_batch`].
    pub fn append(&self, activity: &Activity) -> Result<Stamp> {
        let mut stamp = None;
        self.append_with(std::slice::from_ref(activity), |s| stamp = Some(s))
            .map_err(|e| match e {
                Error::InvalidAt { source, .. } => *source,
                other => other,
            })?;
        // `append_with` reports one stamp per record on success.
        stamp.ok_or(Error::Closed)
    }

    /// Appends records in order, each to the file of its own UTC day, and returns what was
    /// assigned to each.
    ///
    /// Every record is validated before anything is written: one bad record refuses the
    /// whole batch ([`Error::InvalidAt`]). Each day's records go in one locked write. If a
    /// write fails after an earlier day of the batch was written, the error is
    /// [`Error::Partial`] and the records written are a prefix of the batch
    /// ([`Error::written`]), so a retry from the first unwritten record neither loses
    /// nor repeats any.
    pub fn append_batch(&self, batch: &[Activity]) -> Result<Vec<Stamp>> {
        let mut stamps = Vec::with_capacity(batch.len());
        self.append_with(batch, |s| stamps.push(s))?;
        Ok(stamps)
    }

    /// Like [`Writer::append_batch`], but the batch is written (or has failed) when this
    /// returns, whatever the durability: buffered mode writes what is queued, then this
    /// batch directly. Only so can a failure say exactly which records are stored.
    pub(crate) fn append_batch_now(&self, batch: &[Activity]) -> Result<()> {
        let Mode::Buffered(bg) = &self.mode else {
            return self.append_with(batch, |_| {});
        };
        bg.flush()?;
        self.shared.maybe_maintain();
        let runs = self.shared.prepare(batch, |_| {})?;
        self.shared
            .write_runs(&runs, false)
            .map_err(|(written, e)| partial(written, batch.len(), e))
    }

    /// Appends `batch`, handing each record's stamp to `stamped` before anything is
    /// written; the stamps count only if this returns `Ok`.
    fn append_with(&self, batch: &[Activity], stamped: impl FnMut(Stamp)) -> Result<()> {
        self.shared.maybe_maintain();
        let runs = self.shared.prepare(batch, stamped)?;
        let total = batch.len();
        match &self.mode {
            Mode::Flush => self
                .shared
                .write_runs(&runs, false)
                .map_err(|(written, e)| partial(written, total, e))?,
            Mode::Fsync(group) => group.commit(&self.shared, runs, total)?,
            Mode::Buffered(bg) => bg.send(runs)?,
        }
        Ok(())
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
    /// not be written ([`Error::Lost`]). Dropping a writer does the same but can only print
    /// such a loss to standard error.
    pub fn close(self) -> Result<()> {
        match self.mode {
            Mode::Buffered(bg) => bg.close(),
            _ => Ok(()),
        }
    }

    /// Waits for a maintenance run started by [`Options::auto_maintain`], if one is
    /// running, and returns its outcome.
    pub fn wait_for_maintenance(&self) -> Option<Result<crate::maintain::Report>> {
        let auto = self.shared.auto.as_ref()?;
        let handle = auto
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        Some(handle.join().unwrap_or(Err(Error::Closed)))
    }

    /// How many fsyncs this writer has made (in `fsync` mode, fewer than records when
    /// concurrent appends were grouped).
    pub fn fsyncs(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }
}

/// Turns a failure after `written` records into the error the caller sees.
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

/// Serialized records of one day, in batch order, each line ending in `\n`.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) day: NaiveDate,
    pub(crate) bytes: Vec<u8>,
    pub(crate) count: usize,
}

impl Run {
    /// Adds `other` to this run if it is for the same day; otherwise hands it back.
    pub(crate) fn absorb(&mut self, other: Run) -> Option<Run> {
        if other.day == self.day {
            self.bytes.extend_from_slice(&other.bytes);
            self.count += other.count;
            None
        } else {
            Some(other)
        }
    }
}

/// Parses a skew such as `1d`, `2h`, `30m`, `90s`, `1h30m` or `0` (`--max-future-skew`).
///
/// The relative times of [`crate::timeexpr`] also take a sign and `ago`, which mean
/// nothing for a skew, so this takes only unsigned amounts with a unit.
pub fn parse_skew(text: &str) -> std::result::Result<Duration, String> {
    let s = text.trim();
    let fail = || format!("{text:?} is not a skew: expected e.g. 1d, 2h, 30m, 90s, 1h30m or 0");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(fail());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest[..digits].parse().map_err(|_| fail())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_secs: u64 = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 7 * 86_400,
            _ => return Err(fail()),
        };
        rest = rest[unit_len..].trim_start();
        let step = n.checked_mul(unit_secs).ok_or_else(fail)?;
        total = total
            .checked_add(Duration::from_secs(step))
            .ok_or_else(fail)?;
    }
    Ok(total)
}

/// The refusal of a timestamp more than `skew` ahead of the writer's clock `now`.
fn too_far_ahead(
    timestamp: DateTime<Utc>,
    now: DateTime<Utc>,
    skew: chrono::TimeDelta,
) -> crate::error::ValidationError {
    crate::error::ValidationError::new(
        "timestamp",
        format!(
            "{} is more than {} ahead of this writer's clock ({}); refusing a record from the future (max_future_skew, --max-future-skew)",
            crate::record::format_timestamp(timestamp),
            skew_text(skew),
            crate::record::format_timestamp(now),
        ),
    )
}

/// `1d`, `2h`, `30m`, `45s` or `0`, as the skew was most likely given.
fn skew_text(skew: chrono::TimeDelta) -> String {
    let secs = skew.num_seconds();
    let ms = skew.num_milliseconds();
    match secs {
        _ if ms % 1000 != 0 => format!("{ms}ms"),
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The UTC day of `t` as a number, for a cheap atomic comparison.
fn day_number(t: DateTime<Utc>) -> i32 {
    chrono::Datelike::num_days_from_ce(&t.date_naive())
}

/// Automatic maintenance state.
#[derive(Debug)]
struct AutoMaintain {
    policy: crate::maintain::Policy,
    /// The UTC day last seen by an append.
    day: std::sync::atomic::AtomicI32,
    running: Mutex<Option<std::thread::JoinHandle<Result<crate::maintain::Report>>>>,
}

/// Day files kept open by one writer; a handful at most (today, perhaps yesterday).
const OPEN_DAYS: usize = 3;

/// State shared by a writer's modes and its background thread.
#[derive(Debug)]
pub(crate) struct Shared {
    dir: PathBuf,
    max_line_bytes: usize,
    /// `None` when the configured skew is too large to add to a time: no limit.
    max_future_skew: Option<chrono::TimeDelta>,
    clock: Arc<dyn Clock>,
    ids: Mutex<ContextV7>,
    /// Open day files, each behind its own mutex. The per-day mutex keeps two threads off
    /// one descriptor (flock locks belong to the open file, so threads sharing it would
    /// not exclude each other); being per day, a thread waiting for one day's lock (held
    /// by maintenance, say) does not hold up appends to another.
    files: Mutex<Vec<(NaiveDate, Arc<Mutex<Slot>>)>>,
    pub(crate) fsyncs: AtomicU64,
    auto: Option<AutoMaintain>,
}

impl Shared {
    /// Starts maintenance in the background when the UTC day has changed since the last
    /// append (one thread per change; across pods the maintenance lock keeps it to one run).
    fn maybe_maintain(&self) {
        let Some(auto) = &self.auto else { return };
        let now = self.clock.now();
        let today = day_number(now);
        let seen = auto.day.load(Ordering::Relaxed);
        if today <= seen
            || auto
                .day
                .compare_exchange(seen, today, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mut running = auto.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let (dir, policy, day) = (self.dir.clone(), auto.policy.clone(), now.date_naive());
        let spawned = std::thread::Builder::new()
            .name("actlog-maintain".into())
            .spawn(move || crate::maintain::run(&dir, day, &policy));
        // No thread: try again on the next day change rather than delay the append.
        *running = spawned.ok();
    }

    /// Validates, stamps and serializes a batch into per-day runs, in batch order.
    fn prepare(&self, batch: &[Activity], mut stamped: impl FnMut(Stamp)) -> Result<Vec<Run>> {
        let now = self.clock.now();
        let latest = self
            .max_future_skew
            .and_then(|skew| now.checked_add_signed(skew));
        let mut runs: Vec<Run> = Vec::with_capacity(1);
        for (index, activity) in batch.iter().enumerate() {
            let at = |e: Error| Error::InvalidAt {
                index,
                source: Box::new(e),
            };
            activity.validate().map_err(|e| at(e.into()))?;
            let id = match activity.id {
                Some(id) => id,
                None => self.new_id(now),
            };
            let timestamp = activity.timestamp.unwrap_or(now).trunc_subsecs(3);
            if let Some(latest) = latest
                && timestamp > latest
            {
                return Err(at(too_far_ahead(timestamp, now, latest - now).into()));
            }
            let day = timestamp.naive_utc().date();
            if runs.last().is_none_or(|run| run.day != day) {
                runs.push(Run {
                    day,
                    // About one typical line per remaining record, to spare regrowth.
                    bytes: Vec::with_capacity(384 * (batch.len() - index)),
                    count: 0,
                });
            }
            let last = runs.len() - 1;
            let run = &mut runs[last];
            let start = run.bytes.len();
            activity.write_json(id, timestamp, &mut run.bytes);
            let len = run.bytes.len() - start;
            if len > self.max_line_bytes {
                return Err(at(Error::LineTooLong {
                    len,
                    max: self.max_line_bytes,
                }));
            }
            run.bytes.push(b'\n');
            run.count += 1;
            stamped(Stamp { id, timestamp });
        }
        Ok(runs)
    }

    /// A UUIDv7 from the injected clock; the shared context keeps ids from one writer
    /// strictly increasing even within a millisecond.
    fn new_id(&self, now: DateTime<Utc>) -> Uuid {
        let ctx = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        Uuid::new_v7(Timestamp::from_unix(
            &*ctx,
            secs,
            now.timestamp_subsec_nanos(),
        ))
    }

    /// Writes runs in order, each under its day file's lock. On failure returns how many
    /// records (a prefix) were written.
    pub(crate) fn write_runs(
        &self,
        runs: &[Run],
        sync: bool,
    ) -> std::result::Result<(), (usize, Error)> {
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
