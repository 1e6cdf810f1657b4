//! A log directory and how it is written: [`Store`] opens (or creates) it with its
//! [`Options`] and hands out [`Writer`]s; automatic maintenance is wired in here, as the
//! writer's day-change hook.

use crate::append::encode::Encoder;
use crate::append::hook::DayWatch;
use crate::append::writer::{Durability, Writer, WriterMode};
use crate::auto::AutoMaintain;
use crate::maintain::{self, Policy, Report};
use actlog_core::clock::{Clock, SystemClock};
use actlog_core::dayfile::sync_dir;
use actlog_core::error::{Error, Result};
use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Mode of a log directory that actlog creates.
pub const DIR_MODE: u32 = 0o750;
/// Default longest line, in bytes without the newline (CONTRACT section 2).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
/// Default for [`Options::max_future_skew`]: one day.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(24 * 60 * 60);

/// How a [`Store`] writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// When `append` returns.
    pub durability: Durability,
    /// Longest accepted line in bytes, without its newline; longer records are refused.
    /// At most [`actlog_core::record::MAX_LINE_LIMIT`], the longest line readers read.
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
    pub auto_maintain: Option<Policy>,
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
    /// Refuses [`Options::max_line_bytes`] over [`actlog_core::record::MAX_LINE_LIMIT`]: readers
    /// would skip such lines as damaged.
    pub fn open(dir: impl Into<PathBuf>, options: Options) -> Result<Store> {
        let dir = dir.into();
        if options.max_line_bytes > actlog_core::record::MAX_LINE_LIMIT {
            return Err(Error::BadOption {
                option: "max_line_bytes",
                problem: format!(
                    "{} is over {}, the longest line readers read",
                    options.max_line_bytes,
                    actlog_core::record::MAX_LINE_LIMIT
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
    pub fn maintain(&self, policy: &Policy) -> Result<Report> {
        maintain::run(&self.dir, self.options.clock.now().date_naive(), policy)
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// A writer appending to this store. Share one per process: it is `Send + Sync`, keeps
    /// day files open between appends, and in `fsync` mode groups concurrent syncs.
    pub fn writer(&self) -> Writer {
        let o = &self.options;
        let on_new_day = o
            .auto_maintain
            .clone()
            .map(|policy| DayWatch::new(Box::new(AutoMaintain::new(policy)), o.clock.now()));
        Writer::new(
            self.dir.clone(),
            Encoder::new(o.max_line_bytes, o.max_future_skew, Arc::clone(&o.clock)),
            on_new_day,
            WriterMode {
                durability: o.durability,
                queue_capacity_bytes: o.queue_capacity_bytes,
                flush_interval: o.flush_interval,
            },
        )
    }
}
