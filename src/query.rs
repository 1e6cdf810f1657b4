//! Queries over the log directory: the days the time range allows, every line of each in
//! stored order (or exactly reversed), filtered, with damaged lines counted and skipped.

use crate::error::{Result, ValidationError};
use crate::filter::Filter;
use crate::layout::list_days;
use crate::record::Record;
use crate::scan::{Damage, DamageKind, Loc, Sink, scan_day_upto};
use std::ops::ControlFlow;
use std::path::Path;

/// Damage reports kept for the summary; more are only counted.
pub const DAMAGE_KEPT: usize = 100;

/// What to read and how.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Which records.
    pub filter: Filter,
    /// Stop after this many matches.
    pub limit: Option<u64>,
    /// Newest first: exactly the reverse of stored order.
    pub reverse: bool,
    /// Validate every line fully (no byte prefilter), so all damage is seen.
    pub strict: bool,
}

/// What a query saw besides its matches.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Records that matched (and were handed out).
    pub matched: u64,
    /// Damaged lines or files skipped.
    pub damaged: u64,
    /// The first [`DAMAGE_KEPT`] of them.
    pub damage: Vec<Damage>,
}

/// Runs `query` on `dir`, handing each match (stored line, parsed record) to `emit`, which
/// may stop the run.
pub fn run(
    dir: &Path,
    query: &Query,
    emit: &mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>,
) -> Result<Outcome> {
    run_upto(dir, query, &std::collections::HashMap::new(), emit)
}

/// [`run`], reading the plain file of each day in `plain_ends` only up to that length.
pub fn run_upto(
    dir: &Path,
    query: &Query,
    plain_ends: &std::collections::HashMap<chrono::NaiveDate, u64>,
    emit: &mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>,
) -> Result<Outcome> {
    let (first, last) = query.filter.days();
    let mut days: Vec<_> = list_days(dir)?
        .into_iter()
        .filter(|(day, _)| first.is_none_or(|f| *day >= f) && last.is_none_or(|l| *day <= l))
        .collect();
    if query.reverse {
        days.reverse();
    }
    let mut matcher = Matcher {
        query,
        emit,
        outcome: Outcome::default(),
    };
    for (day, files) in days {
        if scan_day_upto(
            dir,
            day,
            files,
            query.reverse,
            plain_ends.get(&day).copied(),
            &mut matcher,
        )?
        .is_break()
        {
            break;
        }
    }
    Ok(matcher.outcome)
}

/// Applies a query's filter to lines, counting damage; also used by the follower.
pub(crate) struct Matcher<'a> {
    pub(crate) query: &'a Query,
    pub(crate) emit: &'a mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>,
    pub(crate) outcome: Outcome,
}

impl Sink for Matcher<'_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        let filter = &self.query.filter;
        if !self.query.strict && !filter.line_may_match(line) {
            return ControlFlow::Continue(());
        }
        let record = match Record::parse_line(line) {
            Ok(r) => r,
            Err(e) => {
                self.damage(classify(line, &e, loc));
                return ControlFlow::Continue(());
            }
        };
        if (self.query.strict && !filter.line_may_match(line)) || !filter.record_matches(&record) {
            return ControlFlow::Continue(());
        }
        self.outcome.matched += 1;
        (self.emit)(line, &record)?;
        if self.query.limit.is_some_and(|n| self.outcome.matched >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn damage(&mut self, damage: Damage) {
        self.outcome.damaged += 1;
        if self.outcome.damage.len() < DAMAGE_KEPT {
            self.outcome.damage.push(damage);
        }
    }
}

/// Names what is wrong with a line that did not parse as a record.
pub fn classify(line: &[u8], e: &ValidationError, loc: Loc<'_>) -> Damage {
    let kind = if memchr::memchr(0, line).is_some() {
        DamageKind::NulBytes
    } else if e.field != "line" {
        DamageKind::InvalidRecord
    } else if e.problem.starts_with("not valid UTF-8") {
        DamageKind::InvalidUtf8
    } else if e.problem.contains("EOF while parsing") {
        DamageKind::TornLine
    } else {
        DamageKind::InvalidJson
    };
    Damage {
        path: loc.path.into(),
        line: loc.line,
        offset: loc.offset,
        kind,
        detail: e.to_string(),
    }
}

/// `--count-by FIELD`: how often each value of a field occurs.
#[derive(Debug)]
pub struct CountBy {
    path: Vec<String>,
    counts: std::collections::HashMap<Option<String>, u64>,
}

impl CountBy {
    /// Counts by a top-level or dotted field such as `action` or `details.property`.
    pub fn new(field: &str) -> std::result::Result<CountBy, crate::filter::FilterError> {
        let path: Vec<String> = field.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(crate::filter::FilterError {
                flag: "--count-by",
                value: field.to_owned(),
                problem: "expected a field such as action or details.property".into(),
            });
        }
        Ok(CountBy {
            path,
            counts: Default::default(),
        })
    }

    /// Counts one record; a missing field counts as `None`.
    pub fn add(&mut self, r: &Record) {
        let value =
            crate::filter::field_value(r, &self.path).map(|v| crate::filter::value_text(&v));
        *self.counts.entry(value).or_default() += 1;
    }

    /// The counts, unordered.
    pub fn into_counts(self) -> Vec<(Option<String>, u64)> {
        self.counts.into_iter().collect()
    }
}
