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

use actlog_core::dayfile::{create_or_open, lock_existing, open_error, sync_dir};
use actlog_core::error::{Error, Result};
use actlog_core::gzmeta::{self, Covers};
use actlog_core::layout::{FileKind, file_name, list_days, parse_file_name};
use chrono::{Duration, NaiveDate};
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

/// The lock file that keeps maintenance to one run at a time across pods.
pub const LOCK_FILE: &str = ".maintenance.lock";
/// Plain bytes per gzip member (whole lines; a longer line makes a larger member).
pub const MEMBER_BYTES: usize = 1 << 20;
/// Plain bytes per gzip member of a line over [`actlog_core::record::MAX_LINE_LIMIT`]: such a line
/// (only a foreign writer makes one) is cut into members of its own, so no member
/// inflates past the readers' cap and its neighbours stay readable.
const PIECE_BYTES: usize = 1 << 20;
/// Plain bytes read from a day file at a time.
const CHUNK: usize = 256 * 1024;

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
}

/// Runs maintenance on `dir` as of `today` (a UTC day).
pub fn run(dir: &Path, today: NaiveDate, policy: &Policy) -> Result<Report> {
    let mut report = Report::default();
    let lock_path = dir.join(LOCK_FILE);
    // A dry run creates nothing, not even the lock file; it still respects a running one.
    let lock = if policy.dry_run {
        match actlog_core::dayfile::open_day_file(&lock_path) {
            Ok(Some(f)) => f,
            Ok(None) => return dry_run_unlocked(dir, today, policy, report),
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
///
/// One bad day (linked elsewhere, unreadable, a foreign object at its temp name, no
/// space) never stops the others: its trouble is reported as an action and the run goes
/// on. Only a problem with the directory itself ends the run.
fn plan(dir: &Path, today: NaiveDate, policy: &Policy, report: &mut Report) -> Result<()> {
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
    for (day, files) in list_days(dir)? {
        if day < keep_from {
            if try_delete_day(dir, day, policy, report) {
                deleted.push(day);
            }
        } else if files.plain && day < compress_before && day < today {
            if blocked.contains(&day) {
                continue; // reported when the temp name was found taken
            }
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
    }
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

/// Deletes a day, reporting a failure as that day's action; whether it was deleted.
fn try_delete_day(dir: &Path, day: NaiveDate, policy: &Policy, report: &mut Report) -> bool {
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
    let Some(plain) = lock_existing(&plain_path, false)? else {
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
    let temp = create_or_open(&temp_path, true)?;
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
///
/// A line over [`actlog_core::record::MAX_LINE_LIMIT`] (which readers skip unread) is never held whole
/// nor packed with other lines: it goes into members of its own of at most
/// [`PIECE_BYTES`], so every member inflates well under the readers' per-member cap and
/// the lines around it stay readable. Such members hold part of a line and carry no
/// time range, so readers read that day's `.gz` as one stream.
fn fold(
    plain: &File,
    path: &Path,
    from: u64,
    len: u64,
    head_crc32: u32,
    head_len: u64,
    out: &mut impl Write,
) -> Result<u64> {
    let mut sink = MemberSink {
        plain,
        path,
        len,
        head_crc32,
        head_len,
        out,
        written: 0,
    };
    // `buf` holds the file's bytes from `buf_from` (a line start) on; `buf[..whole]`
    // are whole lines.
    let mut buf: Vec<u8> = Vec::with_capacity(MEMBER_BYTES + CHUNK);
    let mut buf_from = from;
    let mut whole = 0usize;
    let mut read_to = from;
    loop {
        if whole >= MEMBER_BYTES {
            sink.lines(&buf[..whole], buf_from)?;
            buf.drain(..whole);
            buf_from += whole as u64;
            whole = 0;
        }
        if read_to >= len {
            break;
        }
        let want = usize::try_from(len - read_to).map_or(CHUNK, |n| n.min(CHUNK));
        let old = buf.len();
        buf.resize(old + want, 0);
        plain
            .read_exact_at(&mut buf[old..], read_to)
            .map_err(|e| Error::io(path, "read", e))?;
        read_to += want as u64;
        // Only the line that was open before this chunk can be long: a chunk is shorter
        // than the limit.
        let first_newline = memchr::memchr(b'\n', &buf[old..]).map(|i| old + i);
        if first_newline.unwrap_or(buf.len()) - whole > actlog_core::record::MAX_LINE_LIMIT {
            if whole > 0 {
                sink.lines(&buf[..whole], buf_from)?;
            }
            let end = sink.long_line(buf_from + whole as u64)?;
            buf.clear();
            buf_from = end;
            whole = 0;
            read_to = end;
            continue;
        }
        if first_newline.is_some() {
            whole = memchr::memrchr(b'\n', &buf[old..]).map_or(whole, |i| old + i + 1);
        }
    }
    if !buf.is_empty() {
        sink.lines(&buf, buf_from)?;
    }
    Ok(sink.written)
}

/// Where [`fold`] writes its members, and what each member's markers need.
struct MemberSink<'a, W: Write> {
    plain: &'a File,
    path: &'a Path,
    len: u64,
    head_crc32: u32,
    head_len: u64,
    out: &'a mut W,
    written: u64,
}

impl<W: Write> MemberSink<'_, W> {
    /// Writes one member of `data`, plain bytes from `at`; `covers_from` is the first
    /// plain byte its marker claims (the start of a long line for its last piece), `None`
    /// for a piece that ends inside a line (no marker: the plain bytes it holds are
    /// counted held only once the line's last piece is written). A time range is given
    /// only for whole lines.
    fn member(
        &mut self,
        data: &[u8],
        at: u64,
        covers_from: Option<u64>,
        whole: bool,
    ) -> Result<()> {
        let to = at + data.len() as u64;
        // Only the file's torn last line lacks its newline; it is ended so that it stays
        // one bad line.
        let ended;
        let data = if to == self.len && !data.ends_with(b"\n") {
            ended = [data, b"\n"].concat();
            &ended[..]
        } else {
            data
        };
        let covers = covers_from.map(|from| Covers {
            head_crc32: self.head_crc32,
            head_len: self.head_len,
            from,
            to,
        });
        let bounds = if whole {
            gzmeta::time_bounds(data)
        } else {
            None
        };
        let member = gzmeta::encode_member(
            data,
            flate2::Compression::default(),
            covers.as_ref(),
            bounds,
        )
        .map_err(|e| Error::io(self.path, "compress", e))?;
        self.out
            .write_all(&member)
            .map_err(|e| Error::io(self.path, "write", e))?;
        self.written += member.len() as u64;
        Ok(())
    }

    /// Whole lines (or the file's torn last line), from plain byte `at`.
    fn lines(&mut self, data: &[u8], at: u64) -> Result<()> {
        self.member(data, at, Some(at), true)
    }

    /// The line starting at `start`, longer than the readers' limit, streamed into
    /// members of its own; returns the plain offset just past it.
    fn long_line(&mut self, start: u64) -> Result<u64> {
        let mut piece = vec![0u8; PIECE_BYTES];
        let mut pos = start;
        while pos < self.len {
            let want = usize::try_from(self.len - pos).map_or(PIECE_BYTES, |n| n.min(PIECE_BYTES));
            self.plain
                .read_exact_at(&mut piece[..want], pos)
                .map_err(|e| Error::io(self.path, "read", e))?;
            let (n, last) = match memchr::memchr(b'\n', &piece[..want]) {
                Some(i) => (i + 1, true),
                None => (want, pos + want as u64 == self.len),
            };
            self.member(&piece[..n], pos, last.then_some(start), false)?;
            pos += n as u64;
            if last {
                break;
            }
        }
        Ok(pos)
    }
}

fn open_day_gz(path: &Path) -> Result<Option<File>> {
    match actlog_core::dayfile::open_day_file(path) {
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
