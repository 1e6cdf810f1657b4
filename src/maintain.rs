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

use crate::dayfile::{FILE_MODE, sync_dir};
use crate::error::{Error, Result};
use crate::gzmeta::{self, Covers};
use crate::layout::{FileKind, file_name, list_days, parse_file_name};
use chrono::{Duration, NaiveDate};
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            keep_days: 90,
            grace_days: 1,
            dry_run: false,
            max_bytes: None,
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
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Another run held the maintenance lock; nothing was touched.
    pub busy: bool,
    /// What was done, in order.
    pub actions: Vec<Action>,
}

/// Runs maintenance on `dir` as of `today` (a UTC day).
pub fn run(dir: &Path, today: NaiveDate, policy: &Policy) -> Result<Report> {
    let mut report = Report::default();
    let lock_path = dir.join(LOCK_FILE);
    // A dry run creates nothing, not even the lock file; it still respects a running one.
    let lock = if policy.dry_run {
        match crate::scan::open_day_file(&lock_path) {
            Ok(Some(f)) => f,
            Ok(None) => return dry_run_unlocked(dir, today, policy, report),
            Err(e) => return Err(open_error(&lock_path, e)),
        }
    } else {
        open_new_or_existing(&lock_path, false)?
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
    plan(dir, today, policy, &mut report)?;
    drop(lock);
    Ok(report)
}

fn dry_run_unlocked(
    dir: &Path,
    today: NaiveDate,
    policy: &Policy,
    mut report: Report,
) -> Result<Report> {
    plan(dir, today, policy, &mut report)?;
    Ok(report)
}

/// Does (or, in a dry run, lists) the run's work; the caller holds the maintenance lock.
fn plan(dir: &Path, today: NaiveDate, policy: &Policy, report: &mut Report) -> Result<()> {
    remove_stale_temps(dir, policy, report)?;
    for (name, what) in crate::layout::list_strangers(dir)? {
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
    for (day, files) in list_days(dir)? {
        if day < keep_from {
            delete_day(dir, day, policy, report)?;
        } else if files.plain && day < compress_before && day < today {
            // One bad day (linked elsewhere, unreadable, no space) must not stop the
            // others' compression or retention: it is reported and left as it was.
            if let Err(e) = compress_day(dir, day, policy, report) {
                if !policy.dry_run {
                    let _ = std::fs::remove_file(dir.join(temp_name(day)));
                }
                report.actions.push(Action::Refused {
                    day,
                    reason: e.to_string(),
                });
            }
        }
    }
    if let Some(cap) = policy.max_bytes {
        let deleted: Vec<NaiveDate> = report
            .actions
            .iter()
            .filter_map(|a| {
                if let Action::Deleted { day, .. } = a {
                    Some(*day)
                } else {
                    None
                }
            })
            .collect();
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
            delete_day(dir, day, policy, report)?;
            total -= size;
        }
    }
    Ok(())
}

/// The name of the temporary file a run writes a day's new `.gz` into.
fn temp_name(day: NaiveDate) -> String {
    format!(".{}.tmp", file_name(day, FileKind::Gzip))
}

/// Removes temp files of crashed runs: `.activity-YYYY-MM-DD.json.gz.tmp` only.
fn remove_stale_temps(dir: &Path, policy: &Policy, report: &mut Report) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(parse_file_name)
            .is_some_and(|(_, kind)| kind == FileKind::Gzip);
        if !ours {
            continue;
        }
        if !policy.dry_run {
            remove(&dir.join(name))?;
        }
        report.actions.push(Action::RemovedTemp {
            name: name.to_owned(),
        });
    }
    if !policy.dry_run {
        sync_dir(dir)?;
    }
    Ok(())
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "remove", e)),
    }
}

/// Opens (creating, mode 0640) a file without following a symlink.
fn open_new_or_existing(path: &Path, write: bool) -> Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(flags)
        .open(path);
    match created {
        Ok(f) => {
            f.set_permissions(Permissions::from_mode(FILE_MODE))
                .map_err(|e| Error::io(path, "chmod", e))?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(flags)
            .open(path)
            .map_err(|e| open_error(path, e)),
        Err(e) => Err(open_error(path, e)),
    }
}

fn open_error(path: &Path, e: io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        Error::Symlink { path: path.into() }
    } else {
        Error::io(path, "open", e)
    }
}

/// Opens a day's plain file and takes its exclusive lock, as writers do; `None` if it is
/// gone. Refuses symlinks and files linked elsewhere.
fn lock_plain(path: &Path) -> Result<Option<File>> {
    for _ in 0..64 {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(open_error(path, e)),
        };
        loop {
            match file.lock() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Lock {
                        path: path.into(),
                        source,
                    });
                }
            }
        }
        let mine = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        match std::fs::symlink_metadata(path) {
            Ok(at) if at.dev() == mine.dev() && at.ino() == mine.ino() => {
                if !mine.is_file() {
                    return Err(Error::NotRegular { path: path.into() });
                }
                if mine.nlink() > 1 {
                    return Err(Error::HardLinked {
                        path: path.into(),
                        links: mine.nlink(),
                    });
                }
                return Ok(Some(file));
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, "stat", e)),
        }
    }
    Err(Error::Unstable {
        path: path.into(),
        attempts: 64,
    })
}

fn delete_day(dir: &Path, day: NaiveDate, policy: &Policy, report: &mut Report) -> Result<()> {
    let plain = dir.join(file_name(day, FileKind::Plain));
    let gz = dir.join(file_name(day, FileKind::Gzip));
    let mut files = Vec::new();
    for (path, kind) in [(&gz, FileKind::Gzip), (&plain, FileKind::Plain)] {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            files.push(file_name(day, kind));
        }
    }
    if files.is_empty() {
        return Ok(());
    }
    if !policy.dry_run {
        // Hold the plain file's lock so no writer is appending to what is deleted.
        let lock = lock_plain(&plain)?;
        remove(&gz)?;
        remove(&plain)?;
        sync_dir(dir)?;
        drop(lock);
    }
    report.actions.push(Action::Deleted { day, files });
    Ok(())
}

fn compress_day(dir: &Path, day: NaiveDate, policy: &Policy, report: &mut Report) -> Result<()> {
    let plain_path = dir.join(file_name(day, FileKind::Plain));
    let gz_path = dir.join(file_name(day, FileKind::Gzip));
    if policy.dry_run {
        let len = std::fs::symlink_metadata(&plain_path)
            .map(|m| m.len())
            .unwrap_or(0);
        report.actions.push(Action::Compressed {
            day,
            plain_bytes: len,
            gz_bytes: 0,
        });
        return Ok(());
    }
    let Some(plain) = lock_plain(&plain_path)? else {
        return Ok(());
    };
    let len = plain
        .metadata()
        .map_err(|e| Error::io(&plain_path, "stat", e))?
        .len();
    let mut head = vec![0u8; usize::try_from(gzmeta::HEAD_LEN.min(len)).unwrap_or(0)];
    plain
        .read_exact_at(&mut head, 0)
        .map_err(|e| Error::io(&plain_path, "read", e))?;
    let head_crc32 = crc32fast::hash(&head);

    // The existing .gz must be whole, or folding more into it would bury good records
    // behind damage; it is kept as it is and reported.
    let old_gz = match open_day_gz(&gz_path)? {
        Some(f) => match gzmeta::check_members(&f) {
            Ok(covers) => Some((f, covers)),
            Err(why) => {
                report.actions.push(Action::Refused {
                    day,
                    reason: format!(
                        "{}: {why}; left as it is (actlog verify lists its damage)",
                        gz_path.display()
                    ),
                });
                return Ok(());
            }
        },
        None => None,
    };
    let covered = old_gz
        .as_ref()
        .map_or(0, |(_, covers)| gzmeta::covered_prefix(covers, &head, len));
    if covered == len {
        // Everything is in the .gz already (a run crashed before removing the plain file).
        remove(&plain_path)?;
        sync_dir(dir)?;
        report.actions.push(Action::RemovedLeftover { day });
        return Ok(());
    }

    let temp_path = dir.join(temp_name(day));
    remove(&temp_path)?;
    let temp = open_new_or_existing(&temp_path, true)?;
    let mut out = io::BufWriter::new(&temp);
    if let Some((f, _)) = old_gz {
        // The old members first, from the start (checking them moved the file offset).
        let mut old = io::BufReader::new(&f);
        old.seek(io::SeekFrom::Start(0))
            .map_err(|e| Error::io(&gz_path, "seek", e))?;
        io::copy(&mut old, &mut out).map_err(|e| Error::io(&gz_path, "copy", e))?;
    }
    let added = fold(
        &plain,
        &plain_path,
        covered,
        len,
        head_crc32,
        head.len() as u64,
        &mut out,
    )?;
    out.flush().map_err(|e| Error::io(&temp_path, "write", e))?;
    drop(out);
    temp.sync_all()
        .map_err(|e| Error::io(&temp_path, "fsync", e))?;
    std::fs::rename(&temp_path, &gz_path).map_err(|e| Error::io(&gz_path, "rename", e))?;
    sync_dir(dir)?;
    // Writers waiting for the lock see the plain file unlinked and start a new one.
    remove(&plain_path)?;
    sync_dir(dir)?;
    drop(plain);
    report.actions.push(Action::Compressed {
        day,
        plain_bytes: len - covered,
        gz_bytes: added,
    });
    Ok(())
}

/// Compresses `plain[from..len]` into members of about [`MEMBER_BYTES`] of whole lines;
/// returns the compressed bytes written. A torn last line is ended with a newline so it
/// stays one bad line and never joins the next member's first record.
fn fold(
    plain: &File,
    path: &Path,
    from: u64,
    len: u64,
    head_crc32: u32,
    head_len: u64,
    out: &mut impl Write,
) -> Result<u64> {
    let mut written = 0u64;
    let mut pos = from;
    let mut buf = Vec::with_capacity(MEMBER_BYTES + 64 * 1024);
    let mut chunk = vec![0u8; 256 * 1024];
    while pos < len {
        // Fill about a member's worth, then cut at the last newline.
        buf.clear();
        let mut end = pos;
        loop {
            let want = ((len - end) as usize).min(chunk.len());
            if want == 0 {
                break;
            }
            plain
                .read_exact_at(&mut chunk[..want], end)
                .map_err(|e| Error::io(path, "read", e))?;
            buf.extend_from_slice(&chunk[..want]);
            end += want as u64;
            if buf.len() >= MEMBER_BYTES && memchr::memrchr(b'\n', &buf).is_some() {
                break;
            }
        }
        let cut = match memchr::memrchr(b'\n', &buf) {
            Some(i) => i + 1,
            None => buf.len(),
        };
        let mut data = buf[..cut].to_vec();
        let to = pos + cut as u64;
        if to == len && !data.ends_with(b"\n") {
            data.push(b'\n');
        }
        let covers = Covers {
            head_crc32,
            head_len,
            from: pos,
            to,
        };
        let bounds = time_bounds(&data);
        let member =
            gzmeta::encode_member(&data, flate2::Compression::default(), Some(&covers), bounds)
                .map_err(|e| Error::io(path, "compress", e))?;
        out.write_all(&member)
            .map_err(|e| Error::io(path, "write", e))?;
        written += member.len() as u64;
        pos = to;
    }
    Ok(written)
}

/// The earliest and latest timestamp of the valid records in whole lines `data`; `None`
/// when there is none (such a member is always read).
pub fn time_bounds(data: &[u8]) -> Option<gzmeta::TimeBounds> {
    let mut bounds: Option<gzmeta::TimeBounds> = None;
    for line in data.split(|&b| b == b'\n') {
        let Some(t) =
            crate::record::LiteRecord::parse(line).map(|r| r.timestamp.timestamp_millis())
        else {
            continue;
        };
        bounds = Some(match bounds {
            None => gzmeta::TimeBounds {
                first_ms: t,
                last_ms: t,
            },
            Some(b) => gzmeta::TimeBounds {
                first_ms: b.first_ms.min(t),
                last_ms: b.last_ms.max(t),
            },
        });
    }
    bounds
}

fn open_day_gz(path: &Path) -> Result<Option<File>> {
    match crate::scan::open_day_file(path) {
        Ok(Some(f)) => {
            let meta = f.metadata().map_err(|e| Error::io(path, "stat", e))?;
            if !meta.is_file() {
                return Err(Error::NotRegular { path: path.into() });
            }
            Ok(Some(f))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(open_error(path, e)),
    }
}
