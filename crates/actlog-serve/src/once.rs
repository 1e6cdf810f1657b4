//! Retries that never duplicate: a record whose `id` is already stored is acknowledged
//! with the stored record's id and timestamp instead of being written again.
//!
//! The window is the ids of the last [`Window::capacity`] records the sidecar knows to
//! be stored, with their stored timestamps, in memory. At start they are the newest of
//! the previous and the current UTC day (by the sidecar's clock), whoever wrote them;
//! from then on every record any process on any pod appends to a plain day file joins
//! them, read from the files just before each batch is decided (a follower, as
//! `tail -f`, so maintenance compressing a day in between loses none). The oldest leave
//! first. An id outside the window (older, or stored in a day compressed before the
//! sidecar started) is written again as a new record.
//!
//! Within one sidecar, a batch holding an id that another request is writing at that
//! moment waits for that write to finish, so concurrent requests with the same id store
//! it once. Between processes the check is made from the files, not under their lock: a
//! record with the same id written by another process in the instant between this
//! sidecar's look and its write is not seen (a client talks to its own pod's sidecar, so
//! only a record sent to two sidecars at once could do that).
//!
//! A store that cannot be read (a day file without read permission) does not stop
//! writes: the window then holds the ids this sidecar wrote itself, the problem is
//! reported at start, and following is tried again once a second.

use actlog_core::clock::Clock;
use actlog_core::error::{Error, Result};
use actlog_core::record::{Activity, LiteRecord, Record};
use actlog_read::filter::Filter;
use actlog_read::follow::Follower;
use actlog_read::query::{self, Query};
use actlog_read::scan::{Damage, Loc, Sink};
use actlog_write::{Stamp, Writer};
use chrono::{DateTime, Days, TimeZone, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use uuid::Uuid;

/// Ids remembered unless configured otherwise: under 100 bytes each in memory (35 MB when
/// full, measured); with 1,000 records a second stored across all pods, the last 8 minutes.
pub const DEFAULT_WINDOW: usize = 500_000;

/// What became of one record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    /// The stored record's id and timestamp.
    pub stamp: Stamp,
    /// Whether this call wrote it (false: it was stored already, or earlier in the batch).
    pub written: bool,
}

/// The ids of recently stored records, and the appends in progress.
#[derive(Debug)]
pub struct Window {
    state: Mutex<State>,
    /// Signalled whenever appends in progress finish.
    settled: Condvar,
    capacity: usize,
}

#[derive(Debug)]
struct State {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    /// `None` until the store could be read.
    follower: Option<Follower>,
    /// When following was last tried and failed.
    tried: Option<Instant>,
    known: Known,
    /// Ids being written by a call right now.
    in_flight: HashSet<Uuid>,
    /// When the last look at the files began: a call that arrived before it need not look
    /// again, since every record stored before it arrived has been read.
    looked: Option<Instant>,
}

/// Stored ids and timestamps (milliseconds since the epoch), the oldest evicted first.
#[derive(Debug, Default)]
struct Known {
    stamps: HashMap<Uuid, i64>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl Known {
    /// Remembers a stored record; the first copy's timestamp is kept.
    fn insert(&mut self, id: Uuid, timestamp: DateTime<Utc>) {
        if self.capacity == 0 || self.stamps.contains_key(&id) {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.stamps.remove(&oldest);
        }
        self.stamps.insert(id, timestamp.timestamp_millis());
        self.order.push_back(id);
    }

    fn get(&self, id: &Uuid) -> Option<Stamp> {
        let ms = *self.stamps.get(id)?;
        let timestamp = Utc.timestamp_millis_opt(ms).single()?;
        Some(Stamp { id: *id, timestamp })
    }
}

/// Takes every valid record's id and timestamp from the lines a follower hands over.
struct Ids<'a>(&'a mut Known);

/// The id of a line as actlog writes it (`{"id":"…",` first), without parsing the rest.
fn leading_id(line: &[u8]) -> Option<Uuid> {
    let rest = line.strip_prefix(b"{\"id\":\"")?;
    let (id, after) = (rest.get(..36)?, rest.get(36)?);
    (*after == b'"').then(|| Uuid::try_parse_ascii(id).ok())?
}

impl Sink for Ids<'_> {
    fn line(&mut self, line: &[u8], _: Loc<'_>) -> ControlFlow<()> {
        // Most lines read back are this sidecar's own, known already: a known id changes
        // nothing, so its line need not be parsed.
        if leading_id(line).is_some_and(|id| self.0.stamps.contains_key(&id)) {
            return ControlFlow::Continue(());
        }
        // Only what readers return counts as stored: a torn or damaged line is not.
        let parsed = match LiteRecord::parse(line) {
            Some(lite) => Uuid::try_parse(&lite.id)
                .ok()
                .map(|id| (id, lite.timestamp)),
            None => Record::parse_line(line).ok().map(|r| (r.id, r.timestamp)),
        };
        if let Some((id, timestamp)) = parsed {
            self.0.insert(id, timestamp);
        }
        ControlFlow::Continue(())
    }

    fn damage(&mut self, _: Damage) {}
}

/// Where a record of a batch stands once the window has been consulted.
enum Plan {
    /// Stored before this call.
    Stored(Stamp),
    /// To be written: its index among the records written.
    Fresh(usize),
    /// The same id as the batch's record at this index.
    Repeat(usize),
}

impl State {
    /// Starts following the store and reads the ids of the newest records from the day
    /// before the clock's on.
    fn follow(&mut self) -> Result<()> {
        let now = self.clock.now();
        self.tried = Some(Instant::now());
        // Following starts first, so that a record stored while the past is read is read
        // by one or the other (twice does no harm).
        let (follower, snapshot) = Follower::start(&self.dir)?;
        let capacity = self.known.capacity;
        let since = now
            .date_naive()
            .checked_sub_days(Days::new(1))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| Utc.from_utc_datetime(&t));
        let q = Query {
            filter: Filter::default().narrowed(since, None),
            limit: Some(capacity as u64),
            reverse: true,
            ..Query::default()
        };
        let mut newest_first = Vec::new();
        query::run_snapshot(&self.dir, &q, &snapshot, &mut |_, r| {
            newest_first.push((r.id, r.timestamp));
            ControlFlow::Continue(())
        })?;
        for (id, timestamp) in newest_first.into_iter().rev() {
            self.known.insert(id, timestamp);
        }
        self.follower = Some(follower);
        self.looked = Some(self.tried.unwrap_or_else(Instant::now));
        Ok(())
    }

    /// Reads the records stored since the last look, if `arrived` is before it began;
    /// while the store cannot be read, tries to follow it again once a second.
    fn look(&mut self, arrived: Instant) {
        let Some(follower) = &mut self.follower else {
            if self.tried.is_none_or(|t| t.elapsed() >= RETRY_FOLLOW) {
                let _ = self.follow();
            }
            return;
        };
        if self.looked.is_some_and(|t| t >= arrived) {
            return;
        }
        let started = Instant::now();
        // `Ids` never stops a read; a store that cannot be read now is followed afresh.
        match follower.read_new(&mut Ids(&mut self.known)) {
            Ok(_) => self.looked = Some(started),
            Err(_) => self.follower = None,
        }
    }
}

/// How often a window whose store could not be read tries again.
const RETRY_FOLLOW: std::time::Duration = std::time::Duration::from_secs(1);

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Window {
    /// Starts following `dir` and remembers the ids of the newest `capacity` records of
    /// the UTC day before the clock's and after (0 turns the check off: every record is
    /// written). When the store cannot be read (a day file without read permission), the
    /// window still works with the ids this sidecar writes, tries again at most once a
    /// second, and the error is returned beside it, to be reported.
    pub fn open(dir: &Path, capacity: usize, clock: Arc<dyn Clock>) -> (Window, Option<Error>) {
        let mut state = State {
            dir: dir.to_path_buf(),
            clock,
            follower: None,
            tried: None,
            known: Known {
                capacity,
                ..Known::default()
            },
            in_flight: HashSet::new(),
            looked: None,
        };
        let problem = if capacity > 0 {
            state.follow().err()
        } else {
            None
        };
        let window = Window {
            state: Mutex::new(state),
            settled: Condvar::new(),
            capacity,
        };
        (window, problem)
    }

    /// How many ids the window holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many ids it holds now.
    pub fn len(&self) -> usize {
        lock(&self.state).known.stamps.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the records of `batch` whose ids are not stored yet (all or nothing, as
    /// [`Writer::append_batch`]) and acknowledges every record, in batch order, with the
    /// id and timestamp it is stored with. A record without an id is always new; an id
    /// given twice in the batch is written once. Errors count records in `batch`: an
    /// [`Error::InvalidAt`] names its index, an [`Error::Partial`] says how many of its
    /// first records are stored.
    pub fn append(&self, writer: &Writer, batch: &[Activity]) -> Result<Vec<Acked>> {
        if self.capacity == 0 {
            let stamps = writer.append_batch(batch)?;
            return Ok(stamps
                .into_iter()
                .map(|stamp| Acked {
                    stamp,
                    written: true,
                })
                .collect());
        }
        let arrived = Instant::now();
        let mut state = lock(&self.state);
        loop {
            state.look(arrived);
            let busy = batch
                .iter()
                .any(|a| a.id.is_some_and(|id| state.in_flight.contains(&id)));
            if !busy {
                break;
            }
            state = self
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let mut plans = Vec::with_capacity(batch.len());
        let mut fresh = Vec::with_capacity(batch.len());
        let mut first: HashMap<Uuid, usize> = HashMap::with_capacity(batch.len());
        let mut reserved = Vec::new();
        for (i, a) in batch.iter().enumerate() {
            let plan = match a.id {
                Some(id) => {
                    if let Some(stamp) = state.known.get(&id) {
                        Plan::Stored(stamp)
                    } else if let Some(&j) = first.get(&id) {
                        Plan::Repeat(j)
                    } else {
                        first.insert(id, i);
                        state.in_flight.insert(id);
                        reserved.push(id);
                        fresh.push(i);
                        Plan::Fresh(fresh.len() - 1)
                    }
                }
                None => {
                    fresh.push(i);
                    Plan::Fresh(fresh.len() - 1)
                }
            };
            plans.push(plan);
        }
        drop(state);
        // Written outside the lock, so that concurrent calls share fsyncs (group commit).
        let written = match fresh.len() {
            0 => Ok(Vec::new()),
            n if n == batch.len() => writer.append_batch(batch),
            _ => {
                let subset: Vec<Activity> = fresh.iter().map(|&i| batch[i].clone()).collect();
                writer.append_batch(&subset)
            }
        };
        let mut state = lock(&self.state);
        if let Ok(stamps) = &written {
            for s in stamps {
                state.known.insert(s.id, s.timestamp);
            }
        }
        // On failure, a prefix may be stored all the same: the next look reads it back.
        for id in &reserved {
            state.in_flight.remove(id);
        }
        drop(state);
        self.settled.notify_all();
        let stamps = written.map_err(|e| in_batch_terms(e, &fresh, batch.len()))?;
        let mut acked: Vec<Acked> = Vec::with_capacity(batch.len());
        for plan in plans {
            let a = match plan {
                Plan::Stored(stamp) => Acked {
                    stamp,
                    written: false,
                },
                Plan::Fresh(k) => Acked {
                    stamp: stamps[k],
                    written: true,
                },
                Plan::Repeat(j) => Acked {
                    written: false,
                    ..acked[j]
                },
            };
            acked.push(a);
        }
        Ok(acked)
    }
}

/// A writer's error about the records `fresh` (indexes into a batch of `total`) restated
/// about the batch.
fn in_batch_terms(e: Error, fresh: &[usize], total: usize) -> Error {
    match e {
        Error::InvalidAt { index, source } => Error::InvalidAt {
            index: fresh.get(index).copied().unwrap_or(index),
            source,
        },
        Error::Partial {
            written, source, ..
        } => Error::Partial {
            // Every record before the first unwritten fresh one is stored.
            written: fresh.get(written).copied().unwrap_or(total),
            total,
            source,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actlog_write::{Options, Store};

    fn with_id(n: u128) -> Activity {
        let mut a = Activity::new("ü", "a");
        a.id = Some(Uuid::from_u128(0x01937c3e_0000_7000_8000_000000000000 + n));
        a
    }

    #[test]
    fn a_known_id_is_acknowledged_with_its_stored_stamp_and_a_repeat_in_the_batch_once() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path(), Options::default()).unwrap();
        let writer = store.writer();
        let w = Window::open(t.path(), 100, Arc::new(actlog_core::clock::SystemClock)).0;
        let first = w.append(&writer, &[with_id(1)]).unwrap();
        assert!(first[0].written);
        let again = w
            .append(&writer, &[with_id(2), with_id(1), with_id(2)])
            .unwrap();
        assert_eq!(
            again[1],
            Acked {
                written: false,
                ..first[0]
            }
        );
        assert!(again[0].written);
        assert_eq!(
            again[2],
            Acked {
                written: false,
                ..again[0]
            }
        );
        let lines = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<String>();
        assert_eq!(lines.lines().count(), 2, "{lines}");
    }

    #[test]
    fn an_invalid_record_is_named_by_its_index_in_the_batch() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path(), Options::default()).unwrap();
        let writer = store.writer();
        let w = Window::open(t.path(), 100, Arc::new(actlog_core::clock::SystemClock)).0;
        w.append(&writer, &[with_id(1)]).unwrap();
        let mut bad = with_id(3);
        bad.action = String::new();
        match w.append(&writer, &[with_id(1), with_id(2), bad]) {
            Err(Error::InvalidAt { index, .. }) => assert_eq!(index, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_leading_id_is_read_only_from_lines_that_start_with_it() {
        let id = "01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11";
        let line = format!("{{\"id\":\"{id}\",\"timestamp\":\"2026-11-24T13:45:12.123Z\"}}");
        assert_eq!(leading_id(line.as_bytes()), Uuid::try_parse(id).ok());
        for other in [
            format!("{{ \"id\":\"{id}\"}}"),
            format!("{{\"id\":\"{id}x\"}}"),
            format!("{{\"id\":\"{}\"}}", &id[..35]),
            "{\"id\":\"".to_owned(),
        ] {
            assert_eq!(leading_id(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn the_oldest_ids_leave_first_and_a_zero_window_writes_everything() {
        let mut k = Known {
            capacity: 2,
            ..Known::default()
        };
        let now = Utc::now();
        for n in 0..3 {
            k.insert(Uuid::from_u128(n), now);
        }
        assert!(k.get(&Uuid::from_u128(0)).is_none());
        assert!(k.get(&Uuid::from_u128(2)).is_some());
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path(), Options::default()).unwrap();
        let writer = store.writer();
        let w = Window::open(t.path(), 0, Arc::new(actlog_core::clock::SystemClock)).0;
        for _ in 0..2 {
            assert!(w.append(&writer, &[with_id(1)]).unwrap()[0].written);
        }
    }
}
