//! Matching records per time bucket: the chart of `GET /v1/activity/histogram`.
//!
//! Each bucket is counted by the same counting query as `actlog query -c` with the
//! bucket's `[start, end)` as `--since`/`--until`, so a bucket's figure is by
//! construction what the command line says for it (member summaries answer whole
//! compressed members without inflating them where the filter allows).

use crate::filter::Filter;
use crate::query::{self, Query};
use actlog_core::error::Result;
use actlog_core::layout::list_days;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::path::Path;

/// Most buckets one histogram may have.
pub const MAX_BUCKETS: usize = 500;

/// One bucket: `[start, end)` and how many matching records it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// Matching records with a timestamp in `[start, end)`.
    pub count: u64,
}

/// Counts per bucket over a range, oldest bucket first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// Start of the first bucket.
    pub since: DateTime<Utc>,
    /// End of the last bucket.
    pub until: DateTime<Utc>,
    /// Width of every bucket but possibly the last, which ends at `until`.
    pub bucket_ms: i64,
    /// The buckets, oldest first; together they cover `[since, until)` exactly.
    pub buckets: Vec<Bucket>,
    /// Damaged lines or files skipped while reading the range.
    pub damaged: u64,
}

impl Histogram {
    /// All matching records in the range (the sum of the buckets).
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|b| b.count).sum()
    }
}

/// The range a histogram of `filter` covers: the filter's `since`/`until` where given;
/// otherwise from the start (UTC midnight) of the oldest stored day, and up to `now`.
/// An empty store without `since` gets the day before `until`. Both ends are whole
/// milliseconds (`since` rounded down, `until` up), as timestamps are stored, so that
/// the bucket bounds written out are exactly the bounds counted.
pub fn range(
    dir: &Path,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let whole_ms = |t: DateTime<Utc>, up: bool| {
        let exact = Utc
            .timestamp_millis_opt(t.timestamp_millis())
            .single()
            .unwrap_or(t);
        if up && exact < t {
            exact + Duration::milliseconds(1)
        } else {
            exact
        }
    };
    let (since, until) = filter.window();
    let until = whole_ms(until.unwrap_or(now), true);
    let since = match since {
        Some(s) => whole_ms(s, false),
        None => list_days(dir)?
            .into_keys()
            .next()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| Utc.from_utc_datetime(&t))
            .filter(|s| *s < until)
            .unwrap_or(until - Duration::days(1)),
    };
    Ok((since, until))
}

/// A bucket's `[start, end)`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// Splits `[since, until)` into at most `buckets` buckets of whole milliseconds (at
/// least one millisecond wide), the last one ending at `until`; none if the range is
/// empty.
pub fn bounds(since: DateTime<Utc>, until: DateTime<Utc>, buckets: usize) -> (i64, Vec<Span>) {
    let span = (until - since).num_milliseconds();
    let n = i64::try_from(buckets.clamp(1, MAX_BUCKETS)).unwrap_or(1);
    if span <= 0 {
        return (0, Vec::new());
    }
    let width = ((span + n - 1) / n).max(1);
    let mut out = Vec::new();
    let mut start = since;
    while start < until {
        let end = (start + Duration::milliseconds(width)).min(until);
        out.push((start, end));
        start = end;
    }
    (width, out)
}

/// Counts the records matching `filter` in each of at most `buckets` buckets over
/// `[since, until)` (see [`range`]); the filter's own window still applies.
pub fn histogram(
    dir: &Path,
    filter: &Filter,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    buckets: usize,
) -> Result<Histogram> {
    let (bucket_ms, spans) = bounds(since, until, buckets);
    let mut out = Vec::with_capacity(spans.len());
    let mut damaged = 0;
    for (start, end) in spans {
        let q = Query {
            filter: filter.clone().narrowed(Some(start), Some(end)),
            ..Query::default()
        };
        let outcome = query::count(dir, &q)?;
        // A damaged line has no timestamp, so every bucket reading its day sees it: the
        // most any bucket saw is a floor for the range that never counts one twice.
        damaged = damaged.max(outcome.damaged);
        out.push(Bucket {
            start,
            end,
            count: outcome.matched,
        });
    }
    Ok(Histogram {
        since,
        until,
        bucket_ms,
        buckets: out,
        damaged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn buckets_cover_the_range_exactly_without_overlap() {
        for (since, until, n) in [
            ("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z", 24),
            ("2026-11-24T00:00:00Z", "2026-11-24T00:00:00.007Z", 3),
            ("2026-11-24T00:00:00Z", "2026-11-24T00:00:00.002Z", 60),
            ("2026-11-01T00:00:00Z", "2026-11-24T13:45:12.123Z", 60),
        ] {
            let (since, until) = (t(since), t(until));
            let (width, spans) = bounds(since, until, n);
            assert!(width >= 1);
            assert!(spans.len() <= n);
            assert_eq!(spans.first().unwrap().0, since);
            assert_eq!(spans.last().unwrap().1, until);
            for pair in spans.windows(2) {
                assert_eq!(pair[0].1, pair[1].0);
            }
        }
        assert!(
            bounds(t("2026-11-24T00:00:00Z"), t("2026-11-24T00:00:00Z"), 5)
                .1
                .is_empty()
        );
    }
}
