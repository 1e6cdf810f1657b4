//! `actlog tail -f`: print each new complete line as any process appends it, across
//! midnight (a newer day file appearing) and across maintenance replacing a followed file.
//!
//! The newest day and the one before it are followed, so late records of a pod whose clock
//! lags still show. Waiting uses file-system events where available, with a poll as a
//! safety net; on network volumes other machines' writes raise no events, so `--poll`
//! (or a failed watcher) polls only.

use crate::error::{Error, Result};
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
    /// Bytes of the file consumed (up to and including the last complete line read).
    offset: u64,
    /// The start of a line whose end has not been written yet (empty once the line is
    /// over [`MAX_LINE`]: its bytes are then only counted).
    partial: Vec<u8>,
    /// Bytes read past `offset`: the unfinished line so far.
    consumed: u64,
}

/// Follows a log directory.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    days: BTreeMap<NaiveDate, Tracked>,
    newest: Option<NaiveDate>,
}

impl Follower {
    /// Starts following at the current end of every followed file (after its last complete
    /// line). Returns those positions, so that reading the past up to exactly them and then
    /// following prints every record once.
    pub fn start(dir: &Path) -> Result<(Follower, HashMap<NaiveDate, u64>)> {
        let mut f = Follower {
            dir: dir.to_path_buf(),
            days: BTreeMap::new(),
            newest: None,
        };
        let mut ends = HashMap::new();
        for day in f.days_to_follow()? {
            if let Some(mut t) = open_tracked(&dir.join(file_name(day, FileKind::Plain)))? {
                t.offset = complete_len(&t)?;
                ends.insert(day, t.offset);
                f.days.insert(day, t);
            }
        }
        Ok((f, ends))
    }

    /// The days to follow now: the newest plain day and the one before.
    fn days_to_follow(&mut self) -> Result<Vec<NaiveDate>> {
        let present = list_days(&self.dir)?;
        let newest_plain = present
            .iter()
            .filter(|(_, f)| f.plain)
            .map(|(d, _)| *d)
            .max();
        self.newest = self.newest.max(newest_plain);
        let Some(newest) = self.newest else {
            return Ok(Vec::new());
        };
        let oldest = newest.pred_opt().unwrap_or(newest);
        Ok(present
            .into_iter()
            .filter(|(d, f)| f.plain && *d >= oldest)
            .map(|(d, _)| d)
            .collect())
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

    /// Reads everything appended since the last call and hands complete lines to `sink`.
    pub fn read_new(&mut self, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
        for day in self.days_to_follow()? {
            if !self.days.contains_key(&day) {
                // A file that appeared after we started: all of it is new.
                if let Some(t) = open_tracked(&self.dir.join(file_name(day, FileKind::Plain)))? {
                    self.days.insert(day, t);
                }
            }
        }
        let oldest = self.newest.and_then(|n| n.pred_opt());
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
                let path = t.path.clone();
                self.days.remove(&day);
                if let Some(fresh) = open_tracked(&path)? {
                    self.days.insert(day, fresh);
                    if let Some(t) = self.days.get_mut(&day)
                        && drain(t, sink)?.is_break()
                    {
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
            if oldest.is_some_and(|o| day < o) {
                self.days.remove(&day);
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

fn open_tracked(path: &Path) -> Result<Option<Tracked>> {
    let file = match crate::scan::open_day_file(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Error::io(path, "open", e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if !meta.is_file() {
        return Ok(None);
    }
    Ok(Some(Tracked {
        path: path.to_path_buf(),
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        offset: 0,
        partial: Vec::new(),
        consumed: 0,
    }))
}

/// The length of `t`'s file up to and including its last newline.
fn complete_len(t: &Tracked) -> Result<u64> {
    let len = t
        .file
        .metadata()
        .map_err(|e| Error::io(&t.path, "stat", e))?
        .len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        t.file
            .read_exact_at(chunk, start)
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
/// the sink wants no more.
fn drain(t: &mut Tracked, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let pos = t.offset + t.consumed;
        let n = match t.file.read_at(&mut buf, pos) {
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
