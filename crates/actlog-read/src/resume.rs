//! Following that can be resumed: every record handed over carries the [`Cursor`] of its
//! place in stored order (the paging cursor, exact with repeated ids), and following can
//! start right after such a cursor, with no record missed or repeated.
//!
//! The hand-over between the past and the new is the one `tail -f -n N` uses: the
//! follower starts first and the past is read from the very files it opened at that
//! moment ([`Snapshot`]), so a record appended, a day compressed or a new UTC day begun
//! in between is read exactly once, by one side or the other.
//!
//! A cursor counts the matching records of its day with the same id stored before it, so
//! numbering a day needs that day from its start: the days after the resume cursor are
//! read whole anyway; a day a new record arrives for that was not (a fresh stream's
//! today) is counted once from the snapshot. Counts are kept for the [`KEPT_DAYS`]
//! newest days numbered; a record for an older day is counted from the snapshot again,
//! without the records of that day this follower handed over itself (so a record stored
//! again with the same id on a day that old, while the stream runs, would be numbered
//! as its earlier copy).

use crate::filter::Filter;
use crate::follow::Follower;
use crate::page::Cursor;
use crate::query::{self, Outcome, Query};
use crate::scan::Snapshot;
use actlog_core::error::Result;
use actlog_core::record::Record;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Days whose counts a follower keeps; older ones are dropped as newer ones come.
pub const KEPT_DAYS: usize = 3;

/// Where a matching record goes: its stored line, its parse and its cursor.
pub type EmitNumbered<'a> = dyn FnMut(&[u8], &Record, Cursor) -> ControlFlow<()> + 'a;

/// A follower whose records carry cursors.
#[derive(Debug)]
pub struct Resumable {
    dir: PathBuf,
    follower: Follower,
    snapshot: Snapshot,
    query: Query,
    /// Per day, how many matching records of each id are stored before the next one.
    counts: BTreeMap<NaiveDate, HashMap<Uuid, u32>>,
}

fn day_start(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t))
}

impl Resumable {
    /// Starts following `dir` now, for records matching `filter`.
    pub fn start(dir: &Path, filter: Filter) -> Result<Resumable> {
        let (follower, snapshot) = Follower::start(dir)?;
        Ok(Resumable {
            dir: dir.to_path_buf(),
            follower,
            snapshot,
            query: Query {
                filter,
                ..Query::default()
            },
            counts: BTreeMap::new(),
        })
    }

    /// Hands `emit` every matching record stored after `after` and before following
    /// started, in stored order. A cursor whose record is not there (its day deleted by
    /// retention, or a cursor of another filter) resumes with the days after its day.
    pub fn resume_after(
        &mut self,
        after: Cursor,
        emit: &mut EmitNumbered<'_>,
    ) -> Result<(ControlFlow<()>, Outcome)> {
        let q = Query {
            filter: self
                .query
                .filter
                .clone()
                .narrowed(day_start(after.day), None),
            ..self.query.clone()
        };
        // Every day from the cursor's on is read from its start, so its counts are whole.
        for day in self.snapshot.days().filter(|d| *d >= after.day) {
            self.counts.entry(day).or_default();
        }
        let mut skipping = true;
        let mut flow = ControlFlow::Continue(());
        let counts = &mut self.counts;
        let outcome = query::run_snapshot(&self.dir, &q, &self.snapshot, &mut |line, r| {
            let day = r.timestamp.date_naive();
            let before = next(counts.entry(day).or_default(), r.id);
            if skipping {
                if day == after.day {
                    if r.id == after.id && before == after.before {
                        skipping = false;
                    }
                    return ControlFlow::Continue(());
                }
                skipping = false;
            }
            flow = emit(
                line,
                r,
                Cursor {
                    day,
                    id: r.id,
                    before,
                },
            );
            flow
        })?;
        self.prune();
        Ok((flow, outcome))
    }

    /// Hands `emit` every matching record appended since the last call (or since
    /// following started), in stored order within each day.
    pub fn read_new(&mut self, emit: &mut EmitNumbered<'_>) -> Result<(ControlFlow<()>, Outcome)> {
        let Resumable {
            dir,
            follower,
            snapshot,
            query,
            counts,
        } = self;
        let mut failed = None;
        let read = follower.read_matching(query, &mut |line, r| {
            let day = r.timestamp.date_naive();
            let seen = match counts.entry(day) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    match count_day(dir, snapshot, &query.filter, day) {
                        Ok(c) => v.insert(c),
                        Err(e) => {
                            failed = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
            };
            let before = next(seen, r.id);
            emit(
                line,
                r,
                Cursor {
                    day,
                    id: r.id,
                    before,
                },
            )
        });
        if let Some(e) = failed {
            return Err(e);
        }
        self.prune();
        read
    }

    /// Drops the counts of all but the [`KEPT_DAYS`] newest days.
    fn prune(&mut self) {
        while self.counts.len() > KEPT_DAYS {
            self.counts.pop_first();
        }
    }
}

/// The record's position among the day's records with its id, counting it.
fn next(seen: &mut HashMap<Uuid, u32>, id: Uuid) -> u32 {
    let n = seen.entry(id).or_insert(0);
    let before = *n;
    *n = n.saturating_add(1);
    before
}

/// How many records matching `filter` of each id `day` held when following started.
fn count_day(
    dir: &Path,
    snapshot: &Snapshot,
    filter: &Filter,
    day: NaiveDate,
) -> Result<HashMap<Uuid, u32>> {
    let q = Query {
        filter: filter
            .clone()
            .narrowed(day_start(day), day.succ_opt().and_then(day_start)),
        ..Query::default()
    };
    let mut seen = HashMap::new();
    query::run_snapshot(dir, &q, snapshot, &mut |_, r| {
        next(&mut seen, r.id);
        ControlFlow::Continue(())
    })?;
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::FilterSpec;
    use std::io::Write;

    fn line(day: &str, id: u32, k: u32) -> String {
        format!(
            "{{\"id\":\"01937c3e-0000-7000-8000-{id:012}\",\"timestamp\":\"{day}T10:00:00.000Z\",\"username\":\"u\",\"action\":\"a\",\"details\":{{\"k\":{k}}}}}\n"
        )
    }

    fn append(dir: &Path, day: &str, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("activity-{day}.json")))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn collect(
        out: &mut Vec<(u64, Cursor)>,
    ) -> impl FnMut(&[u8], &Record, Cursor) -> ControlFlow<()> + '_ {
        |_, r, c| {
            out.push((r.details.as_ref().unwrap()["k"].as_u64().unwrap(), c));
            ControlFlow::Continue(())
        }
    }

    /// Records with ids repeated within a day: every split point of a stream, resumed
    /// from the cursor of the last record seen, gives each record once, in order.
    #[test]
    fn resuming_from_any_record_gives_exactly_the_rest_with_repeated_ids() {
        let t = tempfile::tempdir().unwrap();
        let filter = Filter::new(&FilterSpec::default(), Utc::now()).unwrap();
        // A stream started on an empty store sees all 12 records arrive.
        let mut first = Resumable::start(t.path(), filter.clone()).unwrap();
        let mut k = 0;
        for day in ["2026-11-23", "2026-11-24"] {
            for id in [1, 2, 1, 1, 3, 2] {
                append(t.path(), day, &line(day, id, k));
                k += 1;
            }
        }
        let mut all = Vec::new();
        assert!(
            first
                .read_new(&mut collect(&mut all))
                .unwrap()
                .0
                .is_continue()
        );
        assert_eq!(
            all.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            (0..12).collect::<Vec<_>>()
        );
        for split in 0..all.len() {
            let mut r = Resumable::start(t.path(), filter.clone()).unwrap();
            let mut rest = Vec::new();
            let (flow, _) = r
                .resume_after(all[split].1, &mut collect(&mut rest))
                .unwrap();
            assert!(flow.is_continue());
            assert_eq!(rest, all[split + 1..], "after {split}");
        }
        // A fresh follower numbers a new record of a day it never read as the first did.
        let mut fresh = Resumable::start(t.path(), filter).unwrap();
        append(t.path(), "2026-11-24", &line("2026-11-24", 1, 12));
        let mut new = Vec::new();
        assert!(
            fresh
                .read_new(&mut collect(&mut new))
                .unwrap()
                .0
                .is_continue()
        );
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].1.before, 3);
    }
}
