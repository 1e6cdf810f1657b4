//! `actlog tail -f`: print each new complete line as any process appends it, across
//! midnight (a newer day file appearing) and across maintenance replacing a followed file.
//!
//! Every plain day file is followed, whatever its date: a pod whose clock lags or runs
//! ahead, or a late write to a day long past, still shows. The current UTC day and the
//! one before (by the clock passed in, never by file names, so one future-dated file
//! cannot move the followed days away from now) are kept open; any other day file is
//! closed once it has been quiet for one look and is then only `stat`ed each look,
//! reopened when it grows or is replaced, so a directory of many unfolded days does not
//! use a descriptor each. A day is given up only once its plain file is gone, after a
//! last read to its end and of what maintenance folded into its `.gz`. Waiting uses
//! file-system events where available, with a poll as a safety net; on network volumes
//! other machines' writes raise no events, so `--poll` (or a failed watcher) polls only.

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::gzmeta;
use crate::layout::{FileKind, file_name, list_days};
use crate::scan::{Damage, Loc, MAX_LINE, Sink};
use chrono::NaiveDate;
use memchr::{memchr, memrchr};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// How often the follower looks even when file-system events are available: a safety net
/// for events that never come (network volumes, overflowed queues).
pub const SAFETY_POLL: Duration = Duration::from_secs(1);

/// One followed plain day file.
#[derive(Debug)]
struct Tracked {
    path: PathBuf,
    /// `None` while the day is quiet and not one of the clock's two days: then only its
    /// size is looked at.
    file: Option<File>,
    dev: u64,
    ino: u64,
    /// Bytes of the file consumed (up to and including the last complete line read).
    offset: u64,
    /// The start of a line whose end has not been written yet (empty once the line is
    /// over [`MAX_LINE`]: its bytes are then only counted).
    partial: Vec<u8>,
    /// Bytes read past `offset`: the unfinished line so far.
    consumed: u64,
    /// The file's first [`gzmeta::HEAD_LEN`] bytes, kept when it is closed, so that the
    /// `.gz` members holding it can still be told once maintenance has replaced it.
    head: Vec<u8>,
}

impl Tracked {
    /// Bytes of the file accounted for: read, complete or not.
    fn seen(&self) -> u64 {
        self.offset + self.consumed
    }
}

/// Follows a log directory.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    days: BTreeMap<NaiveDate, Tracked>,
    /// Per day, the bytes of its `.gz` already accounted for: there when following
    /// started, or read since. Maintenance only ever appends members to a `.gz`, so
    /// members past this hold records this follower has not seen in a plain file, unless
    /// they cover one it read.
    gz_seen: HashMap<NaiveDate, u64>,
}

/// What opening a plain day file found.
enum Opened {
    File(Tracked),
    /// Not there (any more), or not ours to read (a symlink, FIFO, directory).
    Absent,
}

impl Follower {
    /// Starts following at the current end of every plain day file (after its last
    /// complete line), with `clock` telling which days are current. Returns those
    /// positions, so that reading the past up to exactly them and then following prints
    /// every record once.
    pub fn start(dir: &Path, clock: Arc<dyn Clock>) -> Result<(Follower, HashMap<NaiveDate, u64>)> {
        // The `.gz` sizes must belong with the plain files' ends: if maintenance folded
        // something in between, look again.
        for _ in 0..8 {
            let before = gz_sizes(dir)?;
            let (f, ends) = Follower::start_at(dir, clock.clone(), before.clone())?;
            if gz_sizes(dir)? == before {
                return Ok((f, ends));
            }
        }
        let sizes = gz_sizes(dir)?;
        Follower::start_at(dir, clock, sizes)
    }

    fn start_at(
        dir: &Path,
        clock: Arc<dyn Clock>,
        gz_seen: HashMap<NaiveDate, u64>,
    ) -> Result<(Follower, HashMap<NaiveDate, u64>)> {
        let mut f = Follower {
            dir: dir.to_path_buf(),
            clock,
            days: BTreeMap::new(),
            gz_seen,
        };
        let current = f.current_days();
        let mut ends = HashMap::new();
        for (day, files) in list_days(dir)? {
            if !files.plain {
                continue;
            }
            let path = dir.join(file_name(day, FileKind::Plain));
            match open_tracked(&path)? {
                Opened::File(mut t) => {
                    t.offset = complete_len(&t)?;
                    ends.insert(day, t.offset);
                    if !current.contains(&day) {
                        rest(&mut t)?;
                    }
                    f.days.insert(day, t);
                }
                Opened::Absent => {}
            }
        }
        Ok((f, ends))
    }

    /// The days kept open: the clock's UTC day and the one before.
    fn current_days(&self) -> [NaiveDate; 2] {
        let today = self.clock.now().date_naive();
        [today, today.pred_opt().unwrap_or(today)]
    }

    /// Reads everything appended since the last call and hands each complete line that
    /// matches `query`'s filter to `emit`; damage is counted in the outcome.
    pub fn read_matching(
        &mut self,
        query: &crate::query::Query,
        emit: &mut dyn FnMut(&[u8], &crate::record::Record) -> ControlFlow<()>,
    ) -> Result<(ControlFlow<()>, crate::query::Outcome)> {
        let mut matcher = crate::query::Matcher {
            query,
            emit,
            outcome: Default::default(),
        };
        let flow = self.read_new(&mut matcher)?;
        Ok((flow, matcher.outcome))
    }

    /// Reads everything appended since the last call, to any day file, and hands complete
    /// lines to `sink`.
    pub fn read_new(&mut self, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
        let present = list_days(&self.dir)?;
        for (&day, files) in &present {
            if self.days.contains_key(&day) {
                continue;
            }
            if files.plain {
                // A file that appeared after we started: all of it is new, but for what
                // the `.gz` already holds (then read from the `.gz`, with any other
                // records folded there since).
                if self.catch_up_gz(day, None, sink)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                if let Some(t) = self.open_plain(day)? {
                    self.days.insert(day, t);
                }
            } else if files.gzip && self.gz_grew(day) {
                // A plain file that appeared and was folded between two looks: its
                // records are only in the `.gz`.
                if self.catch_up_gz(day, None, sink)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        let current = self.current_days();
        let days: Vec<NaiveDate> = self.days.keys().copied().collect();
        for day in days {
            let Some(t) = self.days.get_mut(&day) else {
                continue;
            };
            let before = t.seen();
            if t.file.is_none() && !wake(t)? {
                continue;
            }
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
                if let Some(fresh) = self.open_plain(day)? {
                    self.days.insert(day, fresh);
                    if let Some(t) = self.days.get_mut(&day)
                        && drain(t, sink)?.is_break()
                    {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                continue;
            }
            // Quiet for a whole look and not a current day: stop holding it open.
            if t.seen() == before && !current.contains(&day) {
                rest(t)?;
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// [`Follower::open_fresh`]: the day's plain file if it is there.
    fn open_plain(&mut self, day: NaiveDate) -> Result<Option<Tracked>> {
        match self.open_fresh(day)? {
            Opened::File(t) => Ok(Some(t)),
            Opened::Absent => Ok(None),
        }
    }

    /// Whether `day`'s `.gz` is not the size last accounted for.
    fn gz_grew(&self, day: NaiveDate) -> bool {
        let path = self.dir.join(file_name(day, FileKind::Gzip));
        let seen = self.gz_seen.get(&day).copied().unwrap_or(0);
        std::fs::symlink_metadata(&path).is_ok_and(|m| m.len() != seen)
    }
}

/// Reopens a closed `t` if its file changed since it was closed; `false` when nothing
/// needs reading. A file now of another identity (or none) leaves `t` closed and
/// returns `true`, for the caller to see it replaced.
fn wake(t: &mut Tracked) -> Result<bool> {
    let meta = match std::fs::symlink_metadata(&t.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(Error::io(&t.path, "stat", e)),
    };
    if meta.dev() != t.dev || meta.ino() != t.ino {
        return Ok(true);
    }
    if meta.len() == t.seen() {
        return Ok(false);
    }
    match open_tracked(&t.path)? {
        Opened::File(fresh) if fresh.dev == t.dev && fresh.ino == t.ino => {
            t.file = fresh.file;
        }
        _ => {}
    }
    Ok(true)
}

/// Closes `t`'s file if its head is complete, keeping the head; a shorter file stays open
/// (its head still grows, and the `.gz` check needs all of it).
fn rest(t: &mut Tracked) -> Result<()> {
    let Some(file) = &t.file else {
        return Ok(());
    };
    let len = file
        .metadata()
        .map_err(|e| Error::io(&t.path, "stat", e))?
        .len();
    if len < gzmeta::HEAD_LEN {
        return Ok(());
    }
    let mut head = vec![0u8; usize::try_from(gzmeta::HEAD_LEN).unwrap_or(0)];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io(&t.path, "read", e))?;
    t.head = head;
    t.file = None;
    Ok(())
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
        let Ok(Some(gz)) = crate::scan::open_day_file(&path) else {
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
                    if c.to <= t.offset {
                        continue;
                    }
                    t.offset.saturating_sub(c.from)
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
    fn open_fresh(&self, day: NaiveDate) -> Result<Opened> {
        let mut t = match open_tracked(&self.dir.join(file_name(day, FileKind::Plain)))? {
            Opened::File(t) => t,
            other => return Ok(other),
        };
        let gz_path = self.dir.join(file_name(day, FileKind::Gzip));
        if let Some(file) = &t.file
            && let Ok(Some(gz)) = crate::scan::open_day_file(&gz_path)
            && let Ok(Some(members)) = gzmeta::member_index(&gz)
        {
            let covers: Vec<gzmeta::Covers> = members.iter().filter_map(|m| m.covers).collect();
            let len = file
                .metadata()
                .map_err(|e| Error::io(&t.path, "stat", e))?
                .len();
            let mut head = vec![0u8; usize::try_from(gzmeta::HEAD_LEN.min(len)).unwrap_or(0)];
            file.read_exact_at(&mut head, 0)
                .map_err(|e| Error::io(&t.path, "read", e))?;
            t.offset = gzmeta::covered_prefix(&covers, &head, len);
        }
        Ok(Opened::File(t))
    }
}

/// Whether `c` describes bytes of the plain file `t` (same leading bytes), read from the
/// file while it is open, else from the head kept when it was closed.
fn holds_head_of(c: &gzmeta::Covers, t: &Tracked) -> bool {
    let Ok(n) = usize::try_from(c.head_len) else {
        return false;
    };
    match &t.file {
        Some(file) => {
            let mut head = vec![0u8; n];
            file.read_exact_at(&mut head, 0).is_ok() && crc32fast::hash(&head) == c.head_crc32
        }
        None => t
            .head
            .get(..n)
            .is_some_and(|h| crc32fast::hash(h) == c.head_crc32),
    }
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

/// Opens a plain day file without following a symlink.
fn open_tracked(path: &Path) -> Result<Opened> {
    let file = match crate::scan::open_day_file(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(Opened::Absent),
        // Never followed; commands that list the directory name it.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Opened::Absent),
        // Like every reader: a day file that is there but cannot be read is an error,
        // since following on without it would silently miss its records.
        Err(e) => return Err(Error::io(path, "open", e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if !meta.is_file() {
        return Ok(Opened::Absent);
    }
    Ok(Opened::File(Tracked {
        path: path.to_path_buf(),
        file: Some(file),
        dev: meta.dev(),
        ino: meta.ino(),
        offset: 0,
        partial: Vec::new(),
        consumed: 0,
        head: Vec::new(),
    }))
}

/// The length of `t`'s file up to and including its last newline.
fn complete_len(t: &Tracked) -> Result<u64> {
    let Some(file) = &t.file else {
        return Ok(t.offset);
    };
    let len = file
        .metadata()
        .map_err(|e| Error::io(&t.path, "stat", e))?
        .len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)
            .map_err(|e| Error::io(&t.path, "read", e))?;
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
/// the sink wants no more. A closed `t` has nothing to read.
fn drain(t: &mut Tracked, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
    let Some(file) = t.file.take() else {
        return Ok(ControlFlow::Continue(()));
    };
    let flow = drain_open(t, &file, sink);
    t.file = Some(file);
    flow
}

fn drain_open(t: &mut Tracked, file: &File, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let pos = t.offset + t.consumed;
        let n = match file.read_at(&mut buf, pos) {
            Ok(0) => return Ok(ControlFlow::Continue(())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&t.path, "read", e)),
        };
        let mut data = &buf[..n];
        while let Some(i) = memchr(b'\n', data) {
            let start = t.offset;
            let line_len = t.consumed + i as u64;
            let flow = if line_len > MAX_LINE as u64 {
                sink.damage(Damage::too_long(&t.path, None, start));
                ControlFlow::Continue(())
            } else if t.partial.is_empty() {
                sink.line(
                    &data[..i],
                    Loc {
                        path: &t.path,
                        line: None,
                        offset: start,
                    },
                )
            } else {
                t.partial.extend_from_slice(&data[..i]);
                sink.line(
                    &t.partial,
                    Loc {
                        path: &t.path,
                        line: None,
                        offset: start,
                    },
                )
            };
            t.offset = start + line_len + 1;
            t.consumed = 0;
            t.partial.clear();
            data = &data[i + 1..];
            if flow.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        t.consumed += data.len() as u64;
        if t.consumed <= MAX_LINE as u64 {
            t.partial.extend_from_slice(data);
        } else {
            t.partial.clear();
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
        self.wait_at_most(Duration::MAX);
    }

    /// Blocks until something may have changed, or `most` has passed (a deadline such as
    /// `--until` must not wait a whole interval).
    pub fn wait_at_most(&mut self, most: Duration) {
        match self {
            Waiter::Poll(every) => std::thread::sleep((*every).min(most)),
            Waiter::Events(_, rx) => {
                let most = SAFETY_POLL.min(most);
                match rx.recv_timeout(most) {
                    Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                    // The watcher is gone: fall back to polling.
                    Err(RecvTimeoutError::Disconnected) => std::thread::sleep(most),
                }
                // Coalesce a burst of events into one read.
                while rx.try_recv().is_ok() {}
            }
        }
    }
}
