//! Paged queries with a cursor that stays correct while records keep arriving.
//!
//! A cursor names the last record a page returned: its UTC day and its id. The next page
//! reads that day (and the ones beyond it, in the page's direction) in stored order, skips
//! up to and including that record, and goes on. New records are only ever appended at
//! the newest end of a day, and maintenance keeps a day's stored order when it compresses
//! it, so no record is skipped or repeated between pages; a day deleted by retention in
//! between simply has nothing left to return.

use crate::error::Result;
use crate::filter::Filter;
use crate::query::{self, Outcome, Query};
use chrono::{NaiveDate, TimeZone, Utc};
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
}

/// Cursor text starts with this, so a cursor from another version is refused clearly.
const CURSOR_VERSION: &str = "c1";

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        format!(
            "{CURSOR_VERSION}.{}.{}",
            self.day.format("%Y%m%d"),
            self.id.simple()
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
        parts.next().is_none().then_some(Cursor { day, id })
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

/// Reads up to `limit` records matching `filter`, newest first unless `oldest_first`,
/// after `cursor` if given.
pub fn page(
    dir: &Path,
    filter: &Filter,
    oldest_first: bool,
    limit: usize,
    cursor: Option<Cursor>,
) -> Result<Page> {
    let mut filter = filter.clone();
    if let Some(c) = cursor {
        // Only the cursor's day and the days beyond it can hold the rest.
        let start = Utc.from_utc_datetime(&c.day.and_hms_opt(0, 0, 0).unwrap_or_default());
        filter = if oldest_first {
            filter.narrowed(Some(start), None)
        } else {
            let end = c
                .day
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| Utc.from_utc_datetime(&t));
            filter.narrowed(None, end)
        };
    }
    let q = Query {
        filter,
        limit: None,
        reverse: !oldest_first,
        strict: false,
    };
    let mut page = Page::default();
    let mut last: Option<Cursor> = None;
    // Skipping until the cursor's record has gone by.
    let mut skipping = cursor;
    let mut more = false;
    page.outcome = query::run(dir, &q, &mut |line, r| {
        if let Some(c) = skipping {
            if r.timestamp.date_naive() == c.day {
                if r.id == c.id {
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
        last = Some(Cursor {
            day: r.timestamp.date_naive(),
            id: r.id,
        });
        ControlFlow::Continue(())
    })?;
    if more {
        page.next = last;
    }
    Ok(page)
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
                let r = crate::Record::parse_line(l).unwrap();
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
            "c2.20261124.01937c3e000070008000000000000010",
            "c1.2026-11-24.x",
            "c1.20261124.01937c3e000070008000000000000010.x",
        ] {
            assert_eq!(Cursor::decode(text), None, "{text}");
        }
    }
}
