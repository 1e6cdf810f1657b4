//! `actlog tail -f`: print each new complete line as any process appends it, across
//! midnight (a newer day file appearing) and across maintenance replacing a followed file.
//!
//! Every plain day file in the directory is followed, whatever its date: today's, the
//! late records of a pod whose clock lags (yesterday's, or an older day appended to after
//! it was compressed), and a future-dated file left by a pod whose clock ran ahead. A day
//! is let go only once its plain file is gone (compressed or deleted), never because a
//! newer day appeared, so a write to any day is printed however late it comes. Maintenance
//! keeps plain files few (finished days are compressed), so this costs one open file and
//! one read per plain day and look. Waiting uses file-system events where available, with
//! a poll as a safety net; on network volumes other machines' writes raise no events, so
//! `--poll` (or a failed watcher) polls only.

use crate::scan::{Damage, DayFiles, Lines, Loc, Sink, Snapshot, line_piece};
use actlog_core::error::{Error, Result};
use actlog_core::gzmeta;
use actlog_core::layout::{FileKind, file_name, list_days};
use chrono::NaiveDate;
use memchr::memrchr;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// How often the follower looks even when file-system events are available: a safety net
/// for events that never come (network volumes, overflowed queues).
pub const SAFETY_POLL: Duration = Duration::from_secs(1);

/// One followed plain day file.
#[derive(Debug)]
struct Tracked {
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    /// The file split into lines; its line start is how far the file is consumed (up to
    /// and including the last complete line read).
    lines: Lines,
}

/// Follows a log directory.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    days: BTreeMap<NaiveDate, Tracked>,
    /// Per day, the bytes of its `.gz` already accounted for: there when following
    /// started, or read since. Maintenance only ever appends members to a `.gz`, so
    /// members past this hold records this follower has not seen in a plain file, unless
    /// they cover one it read.
    gz_seen: HashMap<NaiveDate, u64>,
}

impl Follower {
    /// Starts following at the current end of every plain day file (after its last
    /// complete line). Returns, with the follower, every day's files opened at that
    /// moment ([`Snapshot`]): reading the past from it and then following prints every
    /// record once, whatever maintenance folds, renames or unlinks in between.
    pub fn start(dir: &Path) -> Result<(Follower, Snapshot)> {
        let mut f = Follower {
            dir: dir.to_path_buf(),
            days: BTreeMap::new(),
            gz_seen: HashMap::new(),
        };
        let mut snapshot = Snapshot::default();
        let listed = list_days(dir)?;
        let plain_days = listed.values().filter(|files| files.plain).count();
        for &day in listed.keys() {
            let files = DayFiles::open(dir, day).map_err(|e| too_many(e, plain_days))?;
            if let Some(gz) = &files.gz {
                let path = dir.join(file_name(day, FileKind::Gzip));
                let len = gz
                    .metadata()
                    .map_err(|e| Error::io(&path, "stat", e))?
                    .len();
                f.gz_seen.insert(day, len);
            }
            let mut end = 0;
            if let Some(plain) = &files.plain {
                let path = dir.join(file_name(day, FileKind::Plain));
                let file = plain
                    .try_clone()
                    .map_err(|e| too_many(Error::io(&path, "open", e), plain_days))?;
                let mut t = tracked(path, file)?;
                // A fold between opening the plain file and the `.gz` may have put more
                // of the plain file in the `.gz` than it had complete lines a moment ago:
                // the past is read from the `.gz`, so following starts past it.
                end = complete_len(&t)?.max(files.plain_covered(dir, day)?);
                t.lines = Lines::new(end, false);
                f.days.insert(day, t);
            }
            snapshot.insert(day, files, end);
        }
        Ok((f, snapshot))
    }

    /// One day's files opened now, its plain file up to its last complete line: what
    /// several reads of the day must see alike while records are appended to it.
    pub fn snapshot_day(dir: &Path, day: NaiveDate) -> Result<Snapshot> {
        let files = DayFiles::open(dir, day)?;
        let mut end = 0;
        if let Some(plain) = &files.plain {
            let path = dir.join(file_name(day, FileKind::Plain));
            end = complete_len_of(&path, plain)?.max(files.plain_covered(dir, day)?);
        }
        let mut snapshot = Snapshot::default();
        snapshot.insert(day, files, end);
        Ok(snapshot)
    }

    /// The days to follow now: every day with a plain file.
    fn days_to_follow(&self) -> Result<Vec<NaiveDate>> {
        Ok(list_days(&self.dir)?
            .into_iter()
            .filter(|(_, f)| f.plain)
            .map(|(d, _)| d)
            .collect())
    }

    /// Days with no followed plain file whose `.gz` grew since it was accounted for: a
    /// plain file was created and folded in between two looks, so its records are only
    /// in the new members.
    fn grown_untracked_gz(&self) -> Result<Vec<NaiveDate>> {
        Ok(gz_sizes(&self.dir)?
            .into_iter()
            .filter(|(day, size)| {
                !self.days.contains_key(day) && *size > self.gz_seen.get(day).copied().unwrap_or(0)
            })
            .map(|(day, _)| day)
            .collect())
    }

    /// Reads everything appended since the last call and hands each complete line that
    /// matches `query`'s filter to `emit`; damage is counted in the outcome.
    pub fn read_matching(
        &mut self,
        query: &crate::query::Query,
        emit: &mut dyn FnMut(&[u8], &actlog_core::record::Record) -> ControlFlow<()>,
    ) -> Result<(ControlFlow<()>, crate::query::Outcome)> {
        let mut matcher = crate::query::Matcher {
            query,
            emit,
            outcome: Default::default(),
        };
        let flow = self.read_new(&mut matcher)?;
        Ok((flow, matcher.outcome))
    }

    /// Reads everything appended since the last call and hands complete lines to `sink`.
    pub fn read_new(&mut self, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
        let plain_days = self.days_to_follow()?;
        for &day in &plain_days {
            if !self.days.contains_key(&day) {
                // A file that appeared after we started: all of it is new, but for what
                // the `.gz` already holds (then read from the `.gz`, with any other
                // records folded there since).
                if self.catch_up_gz(day, None, sink)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                if let Some(t) = self
                    .open_fresh(day)
                    .map_err(|e| too_many(e, plain_days.len()))?
                {
                    self.days.insert(day, t);
                }
            }
        }
        for day in self.grown_untracked_gz()? {
            if self.catch_up_gz(day, None, sink)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        let days: Vec<NaiveDate> = self.days.keys().copied().collect();
        for day in days {
            let Some(t) = self.days.get_mut(&day) else {
                continue;
            };
            if drain(t, sink)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if !still_at_path(t)? {
                // Replaced or removed (maintenance compressed it). Nothing more can be
                // appended to the old file once it is unlinked, so one last drain gets
                // all of it; then follow whatever file now has the name, from its start.
                if drain(t, sink)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                // If the day was folded more than once since the last look, records
                // went into plain files this follower never saw: they are in the `.gz`.
                let Some(old) = self.days.remove(&day) else {
                    continue;
                };
                if self.catch_up_gz(day, Some(&old), sink)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                if let Some(fresh) = self.open_fresh(day)? {
                    self.days.insert(day, fresh);
                    if let Some(t) = self.days.get_mut(&day)
                        && drain(t, sink)?.is_break()
                    {
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

impl Follower {
    /// Hands over the records of `day`'s `.gz` members not accounted for yet, except the
    /// bytes of `read` (the plain file just followed to its end) that they hold.
    fn catch_up_gz(
        &mut self,
        day: NaiveDate,
        read: Option<&Tracked>,
        sink: &mut dyn Sink,
    ) -> Result<ControlFlow<()>> {
        let path = self.dir.join(file_name(day, FileKind::Gzip));
        let Ok(Some(gz)) = actlog_core::dayfile::open_day_file(&path) else {
            return Ok(ControlFlow::Continue(()));
        };
        let seen = self.gz_seen.get(&day).copied().unwrap_or(0);
        // Without an index (a `.gz` not written by maintenance) nothing tells which
        // members are new; those records are not caught up.
        let Some(members) = gzmeta::member_index(&gz).ok().flatten() else {
            return Ok(ControlFlow::Continue(()));
        };
        let mut end = seen;
        for m in members.iter().filter(|m| m.offset >= seen) {
            end = m.offset + m.len;
            let from = match (&m.covers, read) {
                (Some(c), Some(t)) if holds_head_of(c, t) => {
                    if c.to <= t.lines.line_start() {
                        continue;
                    }
                    t.lines.line_start().saturating_sub(c.from)
                }
                _ => 0,
            };
            let content = match crate::scan::inflate_member(&gz, m) {
                Ok(c) => c,
                Err(e) => {
                    let detail = format!("member at byte {} of the file: {e}", m.offset);
                    let kind = crate::scan::DamageKind::CorruptGzip;
                    sink.damage(Damage::in_file(&path, 0, kind, detail));
                    continue;
                }
            };
            let rest = content.get(usize::try_from(from).unwrap_or(usize::MAX)..);
            for line in rest.unwrap_or_default().split_inclusive(|&b| b == b'\n') {
                let Some(line) = line.strip_suffix(b"\n") else {
                    continue;
                };
                let loc = Loc {
                    path: &path,
                    line: None,
                    offset: m.offset,
                };
                if sink.line(line, loc).is_break() {
                    self.gz_seen.insert(day, end);
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        self.gz_seen.insert(day, end);
        Ok(ControlFlow::Continue(()))
    }

    /// Opens `day`'s plain file to follow from its start, past any prefix the `.gz`
    /// already holds (a maintenance run that stopped before removing it).
    fn open_fresh(&self, day: NaiveDate) -> Result<Option<Tracked>> {
        let Some(mut t) = open_tracked(&self.dir.join(file_name(day, FileKind::Plain)))? else {
            return Ok(None);
        };
        let gz_path = self.dir.join(file_name(day, FileKind::Gzip));
        if let Ok(Some(gz)) = actlog_core::dayfile::open_day_file(&gz_path)
            && let Ok(Some(members)) = gzmeta::member_index(&gz)
        {
            let covers: Vec<gzmeta::Covers> = members.iter().filter_map(|m| m.covers).collect();
            let (len, head) = gzmeta::read_head(&t.file, &t.path)?;
            t.lines = Lines::new(gzmeta::covered_prefix(&covers, &head, len), false);
        }
        Ok(Some(t))
    }
}

/// Whether `c` describes bytes of the plain file `t` (same leading bytes).
fn holds_head_of(c: &gzmeta::Covers, t: &Tracked) -> bool {
    let Ok(n) = usize::try_from(c.head_len) else {
        return false;
    };
    let mut head = vec![0u8; n];
    t.file.read_exact_at(&mut head, 0).is_ok() && crc32fast::hash(&head) == c.head_crc32
}

/// The size of every day's `.gz` in `dir`.
fn gz_sizes(dir: &Path) -> Result<HashMap<NaiveDate, u64>> {
    let mut sizes = HashMap::new();
    for (day, files) in list_days(dir)? {
        if files.gzip {
            let path = dir.join(file_name(day, FileKind::Gzip));
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                sizes.insert(day, meta.len());
            }
        }
    }
    Ok(sizes)
}

/// `e`, or [`Error::TooManyDays`] when it is an open that hit the open-file limit.
fn too_many(e: Error, days: usize) -> Error {
    match e {
        Error::Io {
            path,
            op: "open",
            source,
        } if matches!(source.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
            Error::TooManyDays { path, days, source }
        }
        e => e,
    }
}

/// Raises this process's soft limit on open files to its hard limit. A follower holds one
/// descriptor per plain day file, and a store nobody maintains can have hundreds; the
/// usual soft limit of 1024 is a default, not a decision. Failure leaves the limit as it
/// was (opens past it are then reported as [`Error::TooManyDays`]).
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) and setrlimit(2) read or write only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn open_tracked(path: &Path) -> Result<Option<Tracked>> {
    match crate::scan::open_read(path)? {
        Some(file) => tracked(path.to_path_buf(), file).map(Some),
        None => Ok(None),
    }
}

/// Follows `file`, open at `path`, from its start.
fn tracked(path: PathBuf, file: File) -> Result<Tracked> {
    let meta = file.metadata().map_err(|e| Error::io(&path, "stat", e))?;
    Ok(Tracked {
        path,
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        lines: Lines::new(0, false),
    })
}

/// The length of `t`'s file up to and including its last newline.
fn complete_len(t: &Tracked) -> Result<u64> {
    complete_len_of(&t.path, &t.file)
}

/// [`complete_len`] of an open file at `path`.
fn complete_len_of(path: &Path, file: &File) -> Result<u64> {
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat", e))?
        .len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)
            .map_err(|e| Error::io(path, "read", e))?;
        if let Some(i) = memrchr(b'\n', chunk) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn still_at_path(t: &Tracked) -> Result<bool> {
    match std::fs::symlink_metadata(&t.path) {
        Ok(m) => Ok(m.dev() == t.dev && m.ino() == t.ino),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&t.path, "stat", e)),
    }
}

/// Reads `t` from where it stopped to the end, handing over complete lines; `Break` when
/// the sink wants no more.
fn drain(t: &mut Tracked, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match t.file.read_at(&mut buf, t.lines.position()) {
            Ok(0) => return Ok(ControlFlow::Continue(())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&t.path, "read", e)),
        };
        let path = &t.path;
        let flow = t.lines.feed(&buf[..n], &mut |piece, line, offset| {
            line_piece(path, sink, piece, line, offset)
        });
        if flow.is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
}

/// How the follower waits between reads.
pub enum Waiter {
    /// File-system events, with [`SAFETY_POLL`] as a net.
    Events(
        notify::RecommendedWatcher,
        Receiver<notify::Result<notify::Event>>,
    ),
    /// A fixed interval.
    Poll(Duration),
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiter::Events(..) => write!(f, "Events"),
            Waiter::Poll(d) => write!(f, "Poll({d:?})"),
        }
    }
}

impl Waiter {
    /// Events on `dir` if `poll` is `None` and the platform provides them, else polling
    /// every `poll` (or [`SAFETY_POLL`]).
    pub fn new(dir: &Path, poll: Option<Duration>) -> Waiter {
        if let Some(every) = poll {
            return Waiter::Poll(every);
        }
        use notify::Watcher;
        let (tx, rx) = channel();
        match notify::recommended_watcher(tx) {
            Ok(mut w) => match w.watch(dir, notify::RecursiveMode::NonRecursive) {
                Ok(()) => Waiter::Events(w, rx),
                Err(_) => Waiter::Poll(SAFETY_POLL),
            },
            Err(_) => Waiter::Poll(SAFETY_POLL),
        }
    }

    /// Blocks until something may have changed.
    pub fn wait(&mut self) {
        match self {
            Waiter::Poll(every) => std::thread::sleep(*every),
            Waiter::Events(_, rx) => {
                match rx.recv_timeout(SAFETY_POLL) {
                    Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                    // The watcher is gone: fall back to polling.
                    Err(RecvTimeoutError::Disconnected) => std::thread::sleep(SAFETY_POLL),
                }
                // Coalesce a burst of events into one read.
                while rx.try_recv().is_ok() {}
            }
        }
    }
}
