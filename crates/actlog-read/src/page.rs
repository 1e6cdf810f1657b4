//! Paged queries with a cursor that stays correct while records keep arriving.
//!
//! A cursor names the last record a page returned by position: its UTC day, its id, and
//! how many matching records of that day with the same id are stored before it. Ids are
//! not unique (a client retrying a POST with its own id stores the record twice), so the
//! id alone cannot say where a page ended; the count can, and it does not change when
//! records are appended (only ever at the newest end of a day) or when maintenance
//! compresses a day (which keeps its stored order). A day deleted by retention in between
//! simply has nothing left to return.

use crate::filter::Filter;
use crate::query::{self, Outcome, Query};
use actlog_core::error::Result;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::path::Path;
use uuid::Uuid;

/// Where a page ended: the last record it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The record's UTC day.
    pub day: NaiveDate,
    /// The record's id.
    pub id: Uuid,
    /// Matching records of that day with the same id stored before it.
    pub before: u32,
}

/// Cursor text starts with this, so a cursor from another version is refused clearly.
const CURSOR_VERSION: &str = "c2";

/// The version of cursors that named a record by day and id only (which loops on a
/// repeated id); they are refused with their own message.
pub const OLD_CURSOR_VERSION: &str = "c1";

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        format!(
            "{CURSOR_VERSION}.{}.{}.{}",
            self.day.format("%Y%m%d"),
            self.id.simple(),
            self.before
        )
    }

    /// Parses text made by [`Cursor::encode`]; `None` for anything else.
    pub fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.');
        if parts.next()? != CURSOR_VERSION {
            return None;
        }
        let day = NaiveDate::parse_from_str(parts.next()?, "%Y%m%d").ok()?;
        let id = Uuid::try_parse(parts.next()?).ok()?;
        let before = parts.next()?;
        // Only the digits `encode` writes: no sign, no spaces.
        if !before.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let before = before.parse().ok()?;
        parts.next().is_none().then_some(Cursor { day, id, before })
    }
}

/// One page of matching records, as their stored lines.
#[derive(Debug, Default)]
pub struct Page {
    /// The records, in the page's order.
    pub lines: Vec<Vec<u8>>,
    /// Where the next page starts, if there may be more.
    pub next: Option<Cursor>,
    /// Damaged lines or files skipped while reading.
    pub outcome: Outcome,
}

/// Counts, per day, how many records of each id have been seen in stored order.
#[derive(Default)]
struct Occurrences {
    day: Option<NaiveDate>,
    seen: HashMap<Uuid, u32>,
}

impl Occurrences {
    /// The record's position among its day's records with its id, counting it.
    fn next(&mut self, day: NaiveDate, id: Uuid) -> u32 {
        if self.day != Some(day) {
            self.day = Some(day);
            self.seen.clear();
        }
        let n = self.seen.entry(id).or_insert(0);
        let before = *n;
        *n = n.saturating_add(1);
        before
    }
}

fn day_start(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t))
}

fn merge(into: &mut Outcome, more: Outcome) {
    into.matched += more.matched;
    into.damaged += more.damaged;
    into.damage.extend(more.damage);
}

/// Reads up to `limit` records matching `filter`, newest first unless `oldest_first`,
/// after `cursor` if given.
pub fn page(
    dir: &Path,
    filter: &Filter,
    oldest_first: bool,
    limit: usize,
    cursor: Option<Cursor>,
) -> Result<Page> {
    if oldest_first {
        oldest_page(dir, filter, limit, cursor)
    } else {
        newest_page(dir, filter, limit, cursor)
    }
}

fn oldest_page(dir: &Path, filter: &Filter, limit: usize, cursor: Option<Cursor>) -> Result<Page> {
    let mut filter = filter.clone();
    if let Some(c) = cursor {
        // Only the cursor's day and the days after it can hold the rest.
        filter = filter.narrowed(day_start(c.day), None);
    }
    let q = Query {
        filter,
        limit: None,
        reverse: false,
        strict: false,
        ignore_summaries: false,
    };
    let mut page = Page::default();
    let mut counts = Occurrences::default();
    let mut skipping = cursor;
    let mut more = false;
    page.outcome = query::run(dir, &q, &mut |line, r| {
        let day = r.timestamp.date_naive();
        let before = counts.next(day, r.id);
        if let Some(c) = skipping {
            if day == c.day {
                if r.id == c.id && before == c.before {
                    skipping = None;
                }
                return ControlFlow::Continue(());
            }
            // Past the cursor's day without meeting it: retention removed it.
            skipping = None;
        }
        if page.lines.len() == limit {
            more = true;
            return ControlFlow::Break(());
        }
        page.lines.push(line.to_vec());
        page.next = Some(Cursor {
            day,
            id: r.id,
            before,
        });
        ControlFlow::Continue(())
    })?;
    if !more {
        page.next = None;
    }
    Ok(page)
}

/// A record read ahead in stored order, waiting to be returned newest first.
struct Held {
    line: Vec<u8>,
    cursor: Cursor,
}

fn newest_page(dir: &Path, filter: &Filter, limit: usize, cursor: Option<Cursor>) -> Result<Page> {
    let mut page = Page::default();
    let mut older_than = None;
    if let Some(c) = cursor {
        let end = c.day.succ_opt().and_then(day_start);
        let day_filter = filter.clone().narrowed(day_start(c.day), end);
        if let Some(before) = before_cursor(dir, &day_filter, c, limit)? {
            page.outcome = before.outcome;
            page.lines = before.lines;
            page.next = before.next;
            if before.more {
                return Ok(page);
            }
            return older_days(dir, filter, limit, page, day_start(c.day));
        }
        // The cursor's record is not where its count says (the day changed in a way
        // appends never change it): the day is read in stored order up to the cursor's
        // record, so its position is counted as it was given; the `limit + 1` records
        // just before it are kept, newest last.
        let q = Query {
            filter: filter.clone().narrowed(day_start(c.day), end),
            limit: None,
            reverse: false,
            strict: false,
            ignore_summaries: false,
        };
        let mut counts = Occurrences::default();
        let mut held: VecDeque<Held> = VecDeque::with_capacity(limit + 1);
        page.outcome = query::run(dir, &q, &mut |line, r| {
            let day = r.timestamp.date_naive();
            let before = counts.next(day, r.id);
            if r.id == c.id && before == c.before {
                return ControlFlow::Break(());
            }
            if held.len() == limit + 1 {
                held.pop_front();
            }
            held.push_back(Held {
                line: line.to_vec(),
                cursor: Cursor {
                    day,
                    id: r.id,
                    before,
                },
            });
            ControlFlow::Continue(())
        })?;
        if held.len() > limit {
            for h in held.iter().skip(1).rev() {
                page.lines.push(h.line.clone());
                page.next = Some(h.cursor);
            }
            return Ok(page);
        }
        for h in held.into_iter().rev() {
            page.lines.push(h.line);
            page.next = Some(h.cursor);
        }
        older_than = Some(day_start(c.day));
    }
    match older_than {
        Some(until) => older_days(dir, filter, limit, page, until),
        None => older_days(dir, filter, limit, page, None),
    }
}

/// What [`before_cursor`] found in the cursor's day.
struct InDay {
    /// Up to `limit` records stored before the cursor's, newest first.
    lines: Vec<Vec<u8>>,
    /// The cursor of the last of them.
    next: Option<Cursor>,
    /// Whether the day holds more before them.
    more: bool,
    outcome: Outcome,
}

/// The matching records of the cursor's day stored before its record, newest first, read
/// from the day's newest end on one snapshot of the day (so that the counts below and the
/// read agree while records are appended). The cursor's record is the one with
/// `c.before` matching copies of its id before it: with `n` copies in the day, the
/// `n - c.before`-th met from the end. `None` when the day has no such copy.
fn before_cursor(
    dir: &Path,
    day_filter: &Filter,
    c: Cursor,
    limit: usize,
) -> Result<Option<InDay>> {
    let snapshot = crate::follow::Follower::snapshot_day(dir, c.day)?;
    let copies = |id: Uuid| -> Result<u32> {
        let q = Query {
            filter: day_filter.clone().with_id(id),
            limit: None,
            reverse: false,
            strict: false,
            ignore_summaries: false,
        };
        let mut n = 0u32;
        query::run_snapshot(dir, &q, &snapshot, &mut |_, r| {
            if r.timestamp.date_naive() == c.day {
                n = n.saturating_add(1);
            }
            ControlFlow::Continue(())
        })?;
        Ok(n)
    };
    let total = copies(c.id)?;
    if total <= c.before {
        return Ok(None);
    }
    let q = Query {
        filter: day_filter.clone(),
        limit: None,
        reverse: true,
        strict: false,
        ignore_summaries: false,
    };
    // Copies of each id met so far from the day's end.
    let mut met: HashMap<Uuid, u32> = HashMap::new();
    let mut found = false;
    let mut lines = Vec::new();
    let mut last: Option<(Uuid, u32)> = None;
    let mut more = false;
    let outcome = query::run_snapshot(dir, &q, &snapshot, &mut |line, r| {
        if r.timestamp.date_naive() != c.day {
            return ControlFlow::Continue(());
        }
        let n = met.entry(r.id).or_insert(0);
        *n = n.saturating_add(1);
        let after = *n;
        if !found {
            found = r.id == c.id && total - after == c.before;
            return ControlFlow::Continue(());
        }
        if lines.len() == limit {
            more = true;
            return ControlFlow::Break(());
        }
        lines.push(line.to_vec());
        last = Some((r.id, after));
        ControlFlow::Continue(())
    })?;
    if !found {
        return Ok(None);
    }
    let next = match last {
        Some((id, after)) => {
            let all = if id == c.id { total } else { copies(id)? };
            Some(Cursor {
                day: c.day,
                id,
                before: all.saturating_sub(after),
            })
        }
        None => None,
    };
    Ok(Some(InDay {
        lines,
        next,
        more,
        outcome,
    }))
}

/// Fills `page` up to `limit` with the records before `until` (all days if `None`),
/// newest first.
fn older_days(
    dir: &Path,
    filter: &Filter,
    limit: usize,
    mut page: Page,
    until: Option<DateTime<Utc>>,
) -> Result<Page> {
    let mut filter = filter.clone();
    if let Some(until) = until {
        filter = filter.narrowed(None, Some(until));
    }
    let q = Query {
        filter: filter.clone(),
        limit: None,
        reverse: true,
        strict: false,
        ignore_summaries: false,
    };
    // The page's records newest first, each with its day and id; reading stops at the
    // first record past the page.
    let mut keys: Vec<(NaiveDate, Uuid)> = Vec::new();
    let mut more = false;
    let mut day_goes_on = false;
    let outcome = query::run(dir, &q, &mut |line, r| {
        let day = r.timestamp.date_naive();
        if page.lines.len() == limit {
            more = true;
            day_goes_on = keys.last().is_some_and(|(d, _)| *d == day);
            return ControlFlow::Break(());
        }
        page.lines.push(line.to_vec());
        keys.push((day, r.id));
        ControlFlow::Continue(())
    })?;
    merge(&mut page.outcome, outcome);
    let from = page.lines.len() - keys.len();
    page.next = match keys.last() {
        Some(&(day, id)) if more => {
            let before = if day_goes_on {
                // The copies of this page's lines with the last record's id, newest first.
                let mine: Vec<&[u8]> = keys
                    .iter()
                    .zip(&page.lines[from..])
                    .filter(|((d, i), _)| *d == day && *i == id)
                    .map(|(_, l)| l.as_slice())
                    .collect();
                before_in_day(dir, &filter, day, id, &mine)?
            } else {
                0
            };
            Some(Cursor { day, id, before })
        }
        // The page was filled from the cursor's day alone and nothing is older.
        _ if more => page.next,
        _ => None,
    };
    Ok(page)
}

/// How many records of `day` matching `filter` with `id` are stored before the page's
/// last record, whose copies in the page (those of that day with that id, newest first,
/// the last record last) are `mine`.
///
/// Only lines that can hold the id are parsed ([`Filter::with_id`]), so this costs a
/// read of the day, not a parse of it. The day is read again newest first: its copies
/// of the id are those stored after the page was read (appended since, at the newest
/// end), then `mine`, then the ones before. Where `mine` starts among them tells how
/// many came before; a copy appended meanwhile is told from `mine` by its bytes, so only
/// a byte-identical copy appended in that instant could be taken for the page's.
fn before_in_day(
    dir: &Path,
    filter: &Filter,
    day: NaiveDate,
    id: Uuid,
    mine: &[&[u8]],
) -> Result<u32> {
    let end = day.succ_opt().and_then(day_start);
    let q = Query {
        filter: filter.clone().narrowed(day_start(day), end).with_id(id),
        limit: None,
        reverse: true,
        strict: false,
        ignore_summaries: false,
    };
    let mut copies: Vec<Vec<u8>> = Vec::new();
    query::run(dir, &q, &mut |line, r| {
        if r.timestamp.date_naive() == day {
            copies.push(line.to_vec());
        }
        ControlFlow::Continue(())
    })?;
    let s = mine.len();
    let at = (0..=copies.len().saturating_sub(s))
        .find(|&k| {
            copies[k..]
                .iter()
                .zip(mine)
                .all(|(c, m)| c.as_slice() == *m)
        })
        .unwrap_or(0);
    Ok(u32::try_from(copies.len().saturating_sub(at + s)).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::FilterSpec;

    fn write_day(dir: &Path, day: &str, ids: std::ops::Range<u32>) {
        let text: String = ids
            .map(|n| {
                format!(
                    "{{\"id\":\"01937c3e-0000-7000-8000-{n:012}\",\"timestamp\":\"{day}T10:00:00.000Z\",\"username\":\"u\",\"action\":\"a\"}}\n"
                )
            })
            .collect();
        std::fs::write(dir.join(format!("activity-{day}.json")), text).unwrap();
    }

    fn ids(page: &Page) -> Vec<u32> {
        page.lines
            .iter()
            .map(|l| {
                let r = actlog_core::Record::parse_line(l).unwrap();
                let simple = r.id.simple().to_string();
                simple[20..].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn a_cursor_whose_day_retention_deleted_goes_on_with_the_older_days() {
        let t = tempfile::tempdir().unwrap();
        write_day(t.path(), "2026-11-23", 0..3);
        write_day(t.path(), "2026-11-24", 10..14);
        let filter = Filter::new(&FilterSpec::default(), Utc::now()).unwrap();
        let first = page(t.path(), &filter, false, 2, None).unwrap();
        assert_eq!(ids(&first), [13, 12]);
        let cursor = first.next.unwrap();
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        std::fs::remove_file(t.path().join("activity-2026-11-24.json")).unwrap();
        let second = page(t.path(), &filter, false, 10, Some(cursor)).unwrap();
        assert_eq!(ids(&second), [2, 1, 0]);
        assert_eq!(second.next, None);
    }

    #[test]
    fn cursors_from_elsewhere_are_refused() {
        for text in [
            "",
            "c1",
            "c3.20261124.01937c3e000070008000000000000010.0",
            "c2.20261124.01937c3e000070008000000000000010",
            "c2.20261124.01937c3e000070008000000000000010.+1",
            "c2.20261124.01937c3e000070008000000000000010.-1",
            "c1.2026-11-24.x",
            "c1.20261124.01937c3e000070008000000000000010",
            "c2.20261124.01937c3e000070008000000000000010.x",
            "c2.20261124.01937c3e000070008000000000000010.0.0",
        ] {
            assert_eq!(Cursor::decode(text), None, "{text}");
        }
    }

    /// A copy of the last record's id appended between the page's read and the count of
    /// earlier copies is told apart by its bytes: the count is of copies before it.
    #[test]
    fn a_copy_appended_meanwhile_does_not_shift_the_count() {
        let t = tempfile::tempdir().unwrap();
        let line = |id: u32, k: u32| {
            format!(
                "{{\"id\":\"01937C3E-0000-7000-8000-{id:012}\",\"timestamp\":\"2026-11-24T10:00:00.000Z\",\"username\":\"u\",\"action\":\"a\",\"details\":{{\"k\":{k}}}}}\n"
            )
        };
        // Stored order: a copy, another record, the page's copy, and one appended since.
        let text = [line(7, 1), line(9, 2), line(7, 3), line(7, 4)].concat();
        std::fs::write(t.path().join("activity-2026-11-24.json"), text).unwrap();
        let filter = Filter::new(&FilterSpec::default(), Utc::now()).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let id = Uuid::try_parse("01937c3e-0000-7000-8000-000000000007").unwrap();
        let mine = line(7, 3);
        let mine = mine.trim_end().as_bytes();
        assert_eq!(
            before_in_day(t.path(), &filter, day, id, &[mine]).unwrap(),
            1
        );
        // Upper-case hex in the stored id is the same id.
        let last = line(7, 4);
        assert_eq!(
            before_in_day(t.path(), &filter, day, id, &[last.trim_end().as_bytes()]).unwrap(),
            2
        );
    }

    /// Byte-identical copies of one line (a retry stored twice, whole) are paged through
    /// one by one, newest first, for every page size.
    #[test]
    fn identical_copies_of_a_line_are_each_returned_once() {
        let t = tempfile::tempdir().unwrap();
        let same = "{\"id\":\"01937c3e-0000-7000-8000-000000000007\",\"timestamp\":\"2026-11-24T10:00:00.000Z\",\"username\":\"u\",\"action\":\"a\"}\n";
        let other = "{\"id\":\"01937c3e-0000-7000-8000-000000000009\",\"timestamp\":\"2026-11-24T10:00:00.000Z\",\"username\":\"u\",\"action\":\"a\"}\n";
        let text = [same, other, same, same, other, same].concat();
        std::fs::write(t.path().join("activity-2026-11-24.json"), text).unwrap();
        let filter = Filter::new(&FilterSpec::default(), Utc::now()).unwrap();
        for limit in 1..=7 {
            let mut got = Vec::new();
            let mut cursor = None;
            loop {
                let p = page(t.path(), &filter, false, limit, cursor).unwrap();
                got.extend(ids(&p));
                cursor = p.next;
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(got, [7, 9, 7, 7, 9, 7], "limit {limit}");
        }
    }

    /// Pages concatenated are one full query, in both orders, for every limit, with ids
    /// repeated (retries) within and across days: the cursor never loops or skips.
    #[test]
    fn pages_concatenated_are_the_full_query_even_with_repeated_ids() {
        let mut rng = fastrand::Rng::with_seed(19);
        for round in 0..30 {
            let t = tempfile::tempdir().unwrap();
            let mut all = Vec::new();
            for day in ["2026-11-22", "2026-11-23", "2026-11-24"] {
                let n = rng.usize(0..8);
                let mut text = String::new();
                for k in 0..n {
                    // Few distinct ids, so most repeat; `k` tells the copies apart.
                    let id = rng.u32(0..3);
                    text += &format!(
                        "{{\"id\":\"01937c3e-0000-7000-8000-{id:012}\",\"timestamp\":\"{day}T10:00:00.000Z\",\"username\":\"u\",\"action\":\"a\",\"details\":{{\"k\":{k}}}}}\n"
                    );
                    all.push(format!("{day}/{k}"));
                }
                if round % 2 == 1 && !text.is_empty() {
                    // Gzipped with summaries, as maintenance writes it: counting copies of
                    // an id must not be answered from them.
                    let gz = actlog_core::gzmeta::encode_lines(
                        text.as_bytes(),
                        flate2::Compression::fast(),
                        None,
                    )
                    .unwrap();
                    std::fs::write(t.path().join(format!("activity-{day}.json.gz")), gz).unwrap();
                } else {
                    std::fs::write(t.path().join(format!("activity-{day}.json")), text).unwrap();
                }
            }
            // Odd rounds: a `--where` on `details` that every record meets, which a
            // summarised member would answer by reading `details` alone.
            let spec = FilterSpec {
                wheres: if round % 2 == 1 {
                    vec!["details.k>=0".to_owned()]
                } else {
                    Vec::new()
                },
                ..FilterSpec::default()
            };
            let filter = Filter::new(&spec, Utc::now()).unwrap();
            let key = |l: &Vec<u8>| {
                let r = actlog_core::Record::parse_line(l).unwrap();
                let k = &r.details.as_ref().unwrap()["k"];
                format!("{}/{k}", r.timestamp.date_naive())
            };
            for oldest_first in [true, false] {
                let mut want = all.clone();
                if !oldest_first {
                    want.reverse();
                }
                for limit in 1..=all.len().max(1) {
                    let mut got = Vec::new();
                    let mut cursor = None;
                    for _ in 0..=all.len() + 1 {
                        let p = page(t.path(), &filter, oldest_first, limit, cursor).unwrap();
                        assert!(p.lines.len() <= limit);
                        got.extend(p.lines.iter().map(key));
                        cursor = p.next.map(|c| Cursor::decode(&c.encode()).unwrap());
                        if cursor.is_none() {
                            break;
                        }
                    }
                    assert_eq!(
                        got, want,
                        "round {round}, oldest_first {oldest_first}, limit {limit}"
                    );
                }
            }
        }
    }
}
