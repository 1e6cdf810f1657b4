//! Queries over the log directory: the days the time range allows, every line of each in
//! stored order (or exactly reversed), filtered, with damaged lines counted and skipped.
//!
//! Without a limit, days are read in parallel (as many threads as
//! [`actlog_core::threads::threads`] allows) and handed out in stored order; a day may run at most [`CHUNKS_AHEAD`]
//! chunks of matches ahead of the caller, so memory stays bounded. Counts are kept by
//! the readers themselves and only totals cross threads.

use crate::filter::{Filter, FilterError, value_text};
use crate::scan::{
    Damage, DamageKind, Fork, Loc, MemberView, Plan, ScanOptions, Sink, Snapshot, lines_forward,
    scan_day_with,
};
use actlog_core::error::Result;
use actlog_core::layout::list_days;
use actlog_core::record::{LineError, LiteRecord, Record};
use actlog_core::summary::{Summary, Values};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Damage reports kept for the summary; more are only counted.
pub const DAMAGE_KEPT: usize = 100;
/// Chunks of matches a day may have waiting for the caller.
pub const CHUNKS_AHEAD: usize = 4;
/// Bytes of matching lines per chunk.
const CHUNK_BYTES: usize = 256 * 1024;

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
    /// Read every member as if its header had no summary (see
    /// [`ScanOptions::ignore_summaries`]).
    pub ignore_summaries: bool,
}

/// What a query saw besides its matches.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Records that matched.
    pub matched: u64,
    /// Damaged lines or files skipped.
    pub damaged: u64,
    /// The first [`DAMAGE_KEPT`] of them.
    pub damage: Vec<Damage>,
}

impl Outcome {
    fn add_damage(&mut self, d: Damage) {
        self.damaged += 1;
        if self.damage.len() < DAMAGE_KEPT {
            self.damage.push(d);
        }
    }
}

/// `--count-by FIELD`: how often each value of a field occurs.
#[derive(Debug, Clone)]
pub struct CountBy {
    path: Vec<String>,
}

/// Counts per value of a field, and of records without it.
#[derive(Debug, Default)]
pub struct Counts {
    values: HashMap<String, u64>,
    missing: u64,
}

impl Counts {
    /// Counts one value; allocates only for a value not seen before.
    pub fn add(&mut self, value: Option<&str>) {
        self.add_n(value, 1);
    }

    /// Counts `n` records of one value.
    fn add_n(&mut self, value: Option<&str>, n: u64) {
        match value {
            None => self.missing += n,
            Some(v) => match self.values.get_mut(v) {
                Some(count) => *count += n,
                None => {
                    self.values.insert(v.to_owned(), n);
                }
            },
        }
    }

    fn merge(&mut self, other: Counts) {
        self.missing += other.missing;
        for (v, n) in other.values {
            *self.values.entry(v).or_default() += n;
        }
    }

    /// Every value with its count (`None`: records without the field), unordered.
    pub fn into_vec(self) -> Vec<(Option<String>, u64)> {
        let missing = (self.missing > 0).then_some((None, self.missing));
        self.values
            .into_iter()
            .map(|(v, n)| (Some(v), n))
            .chain(missing)
            .collect()
    }
}

impl CountBy {
    /// Counts by a top-level or dotted field such as `action` or `details.property`.
    pub fn new(field: &str) -> std::result::Result<CountBy, FilterError> {
        let path: Vec<String> = field.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(FilterError {
                flag: "--count-by",
                value: field.to_owned(),
                problem: "expected a field such as action or details.property".into(),
            });
        }
        Ok(CountBy { path })
    }

    fn of_record(&self, r: &Record) -> Option<String> {
        crate::filter::field_value(r, &self.path).map(|v| value_text(&v))
    }

    /// The value from a lightly parsed record, or `Err` when the full record is needed.
    fn of_lite(&self, r: &LiteRecord<'_>) -> std::result::Result<Option<String>, ()> {
        crate::filter::lite_field_value(r, &self.path)
            .map(|v| v.as_ref().map(value_text))
            .map_err(|_| ())
    }

    /// Adds the counts of a member's records to `counts` from its summary, when the
    /// summary has the exact value set of the counted field; false when it does not.
    fn add_from_summary(&self, summary: &Summary, counts: &mut Counts) -> bool {
        let (values, every) = match self.path.as_slice() {
            [f] if f == "username" => (&summary.users, true),
            [f] if f == "action" => (&summary.actions, true),
            // Records without an address are counted as missing.
            [f] if f == "ip_address" => (&summary.ips, false),
            _ => return false,
        };
        let Some(set) = values.as_ref().and_then(Values::exact) else {
            return false;
        };
        let mut total = 0;
        for (v, n) in set {
            counts.add_n(Some(v), *n);
            total += n;
        }
        if !every {
            counts.add_n(None, summary.valid - total);
        }
        true
    }

    /// Whether the value is only in a fully parsed record: a field the format does not
    /// define sits among the unknown fields, which the light parse skips.
    fn needs_record(&self) -> bool {
        crate::filter::needs_record(&self.path)
    }
}

fn scan_options(query: &Query, member_threads: usize) -> ScanOptions {
    let (since, until) = query.filter.window();
    ScanOptions {
        reverse: query.reverse,
        plain_end: None,
        member_threads,
        since,
        until,
        ignore_summaries: query.ignore_summaries,
    }
}

/// What to do with matches.
#[derive(Clone, Copy)]
enum Mode<'a> {
    Records,
    Count,
    CountBy(&'a CountBy),
}

/// Where a query's matches go.
pub trait Emit {
    /// One match: its stored line (without the newline) and its parse. `Break` stops
    /// the run.
    fn record(&mut self, line: &[u8], record: &Record) -> ControlFlow<()>;
    /// Whether matches may come as [`Emit::lines`] instead: stored lines, not parsed.
    fn takes_lines(&self) -> bool {
        false
    }
    /// Consecutive matches as their stored lines, each ending with a newline (only when
    /// [`Emit::takes_lines`]): a gzip member whose summary says every line is a valid
    /// record, with no record condition but a window holding the whole member.
    fn lines(&mut self, _block: &[u8]) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// A closure taking each match.
struct EachRecord<'f>(&'f mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>);

impl Emit for EachRecord<'_> {
    fn record(&mut self, line: &[u8], record: &Record) -> ControlFlow<()> {
        (self.0)(line, record)
    }
}

/// Runs `query` on `dir`, handing each match (stored line, parsed record) to `emit`, which
/// may stop the run.
pub fn run(
    dir: &Path,
    query: &Query,
    emit: &mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>,
) -> Result<Outcome> {
    run_to(dir, query, &mut EachRecord(emit))
}

/// [`run`] into an [`Emit`], which may take whole members' lines unparsed.
pub fn run_to(dir: &Path, query: &Query, emit: &mut dyn Emit) -> Result<Outcome> {
    let (outcome, _) = execute(dir, query, Source::Dir, Mode::Records, Some(emit))?;
    Ok(outcome)
}

/// [`run`] over the days of `snapshot` as they were when it was taken.
pub fn run_snapshot(
    dir: &Path,
    query: &Query,
    snapshot: &Snapshot,
    emit: &mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>,
) -> Result<Outcome> {
    let (outcome, _) = execute(
        dir,
        query,
        Source::Snapshot(snapshot),
        Mode::Records,
        Some(&mut EachRecord(emit)),
    )?;
    Ok(outcome)
}

/// Where a query's days come from.
#[derive(Clone, Copy)]
enum Source<'s> {
    /// The directory now: days listed, then each opened as it is read.
    Dir,
    /// Files opened earlier, at one moment.
    Snapshot(&'s Snapshot),
}

impl Source<'_> {
    fn days(self, dir: &Path) -> Result<Vec<NaiveDate>> {
        Ok(match self {
            Source::Dir => list_days(dir)?.into_keys().collect(),
            Source::Snapshot(s) => s.days().collect(),
        })
    }

    fn scan(
        self,
        dir: &Path,
        day: NaiveDate,
        opts: &ScanOptions,
        sink: &mut dyn Sink,
    ) -> Result<ControlFlow<()>> {
        match self {
            Source::Dir => scan_day_with(dir, day, opts, sink),
            Source::Snapshot(s) => s.scan(dir, day, opts, sink),
        }
    }
}

/// Counts the matches of `query` (in [`Outcome::matched`]).
pub fn count(dir: &Path, query: &Query) -> Result<Outcome> {
    Ok(execute(dir, query, Source::Dir, Mode::Count, None)?.0)
}

/// Counts the matches of `query` per value of a field.
pub fn count_by(dir: &Path, query: &Query, by: &CountBy) -> Result<(Outcome, Counts)> {
    execute(dir, query, Source::Dir, Mode::CountBy(by), None)
}

type EmitTo<'e> = &'e mut dyn Emit;

/// Takes nothing.
struct Nowhere;

impl Emit for Nowhere {
    fn record(&mut self, _: &[u8], _: &Record) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// What a query does with a summarised member (see [`Sink::plan`]); a count the
/// summary answers is added to `matched` and `counts` here. `raw`: whole members'
/// lines may be emitted unparsed.
fn plan_member(
    query: &Query,
    mode: Mode<'_>,
    raw: bool,
    member: &MemberView<'_>,
    matched: &mut u64,
    counts: &mut Counts,
) -> Plan {
    let s = member.summary;
    // A member with damage is read, so that its damage is reported as a full scan would.
    if s.damaged > 0 {
        return Plan::Read;
    }
    let filter = &query.filter;
    if !filter.summary_may_match(s) {
        return Plan::Skip;
    }
    // Counts cut by a limit, or by a window inside the member, need the records.
    if !member.inside || query.limit.is_some() {
        return Plan::Read;
    }
    match mode {
        Mode::Count => {
            if let Some(n) = filter.count_from_summary(s) {
                *matched += n;
                return Plan::Skip;
            }
            // Every line a valid record: a `--where` on `details` reads only that.
            if !query.strict && s.lines == s.valid && filter.is_details_where_only() {
                return Plan::Whole;
            }
        }
        Mode::CountBy(by) => {
            if filter.is_window_only() && by.add_from_summary(s, counts) {
                *matched += s.valid;
                return Plan::Skip;
            }
        }
        Mode::Records => {
            if raw && filter.is_window_only() && !query.reverse && s.lines == s.valid {
                return Plan::Whole;
            }
        }
    }
    Plan::Read
}

fn execute(
    dir: &Path,
    query: &Query,
    source: Source<'_>,
    mode: Mode<'_>,
    emit: Option<EmitTo<'_>>,
) -> Result<(Outcome, Counts)> {
    // Refuse a bad ACTLOG_THREADS whatever the query, never only on some.
    let threads = actlog_core::threads::threads()?;
    if query.limit == Some(0) {
        return Ok((Outcome::default(), Counts::default()));
    }
    let (first, last) = query.filter.days();
    let mut days: Vec<NaiveDate> = source
        .days(dir)?
        .into_iter()
        .filter(|day| first.is_none_or(|f| *day >= f) && last.is_none_or(|l| *day <= l))
        .collect();
    if query.reverse {
        days.reverse();
    }
    let workers = threads.min(days.len());
    let mut nowhere = Nowhere;
    let emit: EmitTo<'_> = match emit {
        Some(e) => e,
        None => &mut nowhere,
    };
    let raw = matches!(mode, Mode::Records) && emit.takes_lines();
    // Whole members written out unparsed are all inflating: reading days in parallel
    // would hold every day but the first behind it, [`CHUNKS_AHEAD`] members ahead, so
    // days are read one by one with their members inflated on every thread instead.
    let unparsed = raw && query.filter.is_window_only() && !query.reverse;
    if query.limit.is_some() || workers < 2 || unparsed {
        // A limit usually needs only the first days: read them one by one.
        let shared = std::sync::Arc::new(query.clone());
        let mut sink = Direct {
            query,
            mode,
            raw,
            emit,
            outcome: Outcome::default(),
            counts: Counts::default(),
            shared,
        };
        for day in days {
            let opts = scan_options(query, threads);
            if source.scan(dir, day, &opts, &mut sink)?.is_break() {
                break;
            }
        }
        return Ok((sink.outcome, sink.counts));
    }
    parallel(dir, query, source, &days, workers, (mode, raw), emit)
}

/// What one line is to a query.
enum Checked<'l> {
    Record(Record),
    Lite(LiteRecord<'l>),
    Damaged(Damage),
    No,
}

/// Filters one line: byte checks first, then a light parse, and the full parse only where
/// the filter, the count or the output needs it (or to name what is wrong with a line).
fn check<'l>(query: &Query, mode: Mode<'_>, line: &'l [u8], loc: Loc<'_>) -> Checked<'l> {
    let filter = &query.filter;
    if !query.strict && !filter.line_may_match(line) {
        return Checked::No;
    }
    let full = |line: &[u8]| Record::parse_line(line).map_err(|e| classify(line, &e, loc));
    if filter.needs_record() {
        let record = match full(line) {
            Ok(r) => r,
            Err(d) => return Checked::Damaged(d),
        };
        if (query.strict && !filter.line_may_match(line)) || !filter.record_matches(&record) {
            return Checked::No;
        }
        return Checked::Record(record);
    }
    let Some(lite) = LiteRecord::parse(line) else {
        return match full(line) {
            Err(d) => Checked::Damaged(d),
            // Valid after all (duplicate keys): filter the full record.
            Ok(record)
                if filter.record_matches(&record)
                    && (!query.strict || filter.line_may_match(line)) =>
            {
                Checked::Record(record)
            }
            Ok(_) => Checked::No,
        };
    };
    if query.strict && !filter.line_may_match(line) {
        return Checked::No;
    }
    match filter.lite_matches(&lite) {
        Some(true) => {}
        Some(false) => return Checked::No,
        // Only the full record can tell: the same verdict `needs_record` gives above.
        None => {
            return match full(line) {
                Ok(record) if filter.record_matches(&record) => Checked::Record(record),
                Ok(_) => Checked::No,
                Err(d) => Checked::Damaged(d),
            };
        }
    }
    match mode {
        Mode::Records => full(line).map_or_else(Checked::Damaged, Checked::Record),
        Mode::CountBy(by) if by.needs_record() => {
            full(line).map_or_else(Checked::Damaged, Checked::Record)
        }
        Mode::Count | Mode::CountBy(_) => Checked::Lite(lite),
    }
}

fn count_into(counts: &mut Counts, by: &CountBy, checked: &Checked<'_>) {
    match checked {
        Checked::Record(r) => counts.add(by.of_record(r).as_deref()),
        Checked::Lite(l) => match by.path.as_slice() {
            [f] if f == "action" => counts.add(Some(&l.action)),
            [f] if f == "username" => counts.add(Some(&l.username)),
            _ => counts.add(by.of_lite(l).unwrap_or(None).as_deref()),
        },
        _ => {}
    }
}

/// The `--count-by` value of one match.
fn key_of(by: &CountBy, checked: &Checked<'_>) -> Option<String> {
    match checked {
        Checked::Record(r) => by.of_record(r),
        Checked::Lite(l) => by.of_lite(l).unwrap_or(None),
        _ => None,
    }
}

/// Matches counted in a whole member planned for a `--where` on `details` alone
/// ([`plan_member`]), and the damage of lines only the full check could decide.
#[derive(Default)]
struct ValidCount {
    matched: u64,
    damage: Vec<Damage>,
}

/// Counts a whole member's matches: each line is read for `details` alone, and the rare
/// line that read cannot decide is checked as any line is.
fn count_valid(query: &Query, content: &[u8], loc: Loc<'_>) -> ValidCount {
    struct Counting<'q> {
        query: &'q Query,
        counted: ValidCount,
    }
    impl Sink for Counting<'_> {
        fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
            match self.query.filter.valid_line_matches(line) {
                Some(m) => self.counted.matched += u64::from(m),
                None => match check(self.query, Mode::Count, line, loc) {
                    Checked::No => {}
                    Checked::Damaged(d) => self.counted.damage.push(d),
                    Checked::Record(_) | Checked::Lite(_) => self.counted.matched += 1,
                },
            }
            ControlFlow::Continue(())
        }

        fn damage(&mut self, damage: Damage) {
            self.counted.damage.push(damage);
        }
    }
    let mut counting = Counting {
        query,
        counted: ValidCount::default(),
    };
    let _ = lines_forward(loc.path, content, loc.offset, &mut counting);
    counting.counted
}

/// Reads days one by one on the calling thread (a day's members may be read on helper
/// threads through forks).
struct Direct<'a, 'e> {
    query: &'a Query,
    mode: Mode<'a>,
    /// Whole members' lines may go to `emit` unparsed.
    raw: bool,
    emit: EmitTo<'e>,
    outcome: Outcome,
    counts: Counts,
    /// The query for forks, shared with their threads.
    shared: std::sync::Arc<Query>,
}

impl Sink for Direct<'_, '_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        let checked = check(self.query, self.mode, line, loc);
        match &checked {
            Checked::No => return ControlFlow::Continue(()),
            Checked::Damaged(_) => {
                if let Checked::Damaged(d) = checked {
                    self.outcome.add_damage(d);
                }
                return ControlFlow::Continue(());
            }
            _ => {}
        }
        self.outcome.matched += 1;
        match self.mode {
            Mode::Records => {
                if let Checked::Record(r) = &checked {
                    self.emit.record(line, r)?;
                }
            }
            Mode::Count => {}
            Mode::CountBy(by) => count_into(&mut self.counts, by, &checked),
        }
        if self.query.limit.is_some_and(|n| self.outcome.matched >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn damage(&mut self, damage: Damage) {
        self.outcome.add_damage(damage);
    }

    fn fork(&self) -> Option<Box<dyn Fork>> {
        Some(Box::new(MemberWork {
            query: std::sync::Arc::clone(&self.shared),
            records: matches!(self.mode, Mode::Records),
            count_by: match self.mode {
                Mode::CountBy(by) => Some(by.clone()),
                _ => None,
            },
            hits: Vec::new(),
            block: Vec::new(),
            block_lines: 0,
            matched: 0,
            counts: Counts::default(),
            keys: Vec::new(),
            damage: Vec::new(),
        }))
    }

    fn plan(&mut self, member: &MemberView<'_>) -> Plan {
        plan_member(
            self.query,
            self.mode,
            self.raw,
            member,
            &mut self.outcome.matched,
            &mut self.counts,
        )
    }

    fn whole(&mut self, content: Vec<u8>, lines: u64, loc: Loc<'_>) -> ControlFlow<()> {
        if matches!(self.mode, Mode::Count) {
            let counted = count_valid(self.query, &content, loc);
            self.outcome.matched += counted.matched;
            for d in counted.damage {
                self.outcome.add_damage(d);
            }
            return ControlFlow::Continue(());
        }
        if !self.raw {
            return lines_forward(loc.path, &content, loc.offset, self);
        }
        self.outcome.matched += lines;
        self.emit.lines(&content)
    }

    fn join(&mut self, forked: Box<dyn std::any::Any + Send>) -> ControlFlow<()> {
        let Ok(work) = forked.downcast::<MemberWork>() else {
            return ControlFlow::Continue(());
        };
        let work = *work;
        for d in work.damage {
            self.outcome.add_damage(d);
        }
        match self.query.limit {
            // Only the first matches up to the limit count, in stored order.
            Some(n) => {
                let room = n.saturating_sub(self.outcome.matched);
                let take = work.matched.min(room);
                self.outcome.matched += take;
                for key in work
                    .keys
                    .iter()
                    .take(usize::try_from(take).unwrap_or(usize::MAX))
                {
                    self.counts.add(key.as_deref());
                }
            }
            None => {
                self.counts.merge(work.counts);
                self.outcome.matched += work.matched;
            }
        }
        if work.block_lines > 0 {
            self.outcome.matched += work.block_lines;
            self.emit.lines(&work.block)?;
        }
        for (line, record) in work.hits {
            self.outcome.matched += 1;
            self.emit.record(&line, &record)?;
            if self.query.limit.is_some_and(|n| self.outcome.matched >= n) {
                return ControlFlow::Break(());
            }
        }
        if self.query.limit.is_some_and(|n| self.outcome.matched >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// One gzip member's share of a [`Direct`] read, on a helper thread: filters and parses
/// there, and keeps what the caller will emit or add up.
struct MemberWork {
    query: std::sync::Arc<Query>,
    records: bool,
    count_by: Option<CountBy>,
    hits: Vec<(Vec<u8>, Record)>,
    /// A whole member's lines, unparsed ([`Sink::whole`]), and how many.
    block: Vec<u8>,
    block_lines: u64,
    matched: u64,
    counts: Counts,
    /// With a limit, each match's `--count-by` value in order, for the caller to cut.
    keys: Vec<Option<String>>,
    damage: Vec<Damage>,
}

impl Sink for MemberWork {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        let mode = match (&self.count_by, self.records) {
            (_, true) => Mode::Records,
            (Some(by), false) => Mode::CountBy(by),
            (None, false) => Mode::Count,
        };
        let limit = self.query.limit;
        match check(&self.query, mode, line, loc) {
            Checked::No => {}
            Checked::Damaged(d) => self.damage.push(d),
            Checked::Record(r) if self.records => {
                self.hits.push((line.to_vec(), r));
                // No member can contribute more than the limit.
                if limit.is_some_and(|n| self.hits.len() as u64 >= n) {
                    return ControlFlow::Break(());
                }
            }
            other => {
                self.matched += 1;
                if let Some(by) = &self.count_by {
                    if limit.is_some() {
                        self.keys.push(key_of(by, &other));
                    } else {
                        count_into(&mut self.counts, by, &other);
                    }
                }
                if limit.is_some_and(|n| self.matched >= n) {
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn damage(&mut self, damage: Damage) {
        self.damage.push(damage);
    }

    fn whole(&mut self, content: Vec<u8>, lines: u64, loc: Loc<'_>) -> ControlFlow<()> {
        if !self.records && self.count_by.is_none() {
            let counted = count_valid(&self.query, &content, loc);
            self.matched += counted.matched;
            self.damage.extend(counted.damage);
            return ControlFlow::Continue(());
        }
        // Else only planned for a raw query (see `plan_member`).
        self.block = content;
        self.block_lines = lines;
        ControlFlow::Continue(())
    }
}

impl Fork for MemberWork {
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// Applies a query's filter to lines, counting damage; used by the follower.
pub(crate) struct Matcher<'a> {
    pub(crate) query: &'a Query,
    pub(crate) emit: &'a mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>,
    pub(crate) outcome: Outcome,
}

impl Sink for Matcher<'_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        match check(self.query, Mode::Records, line, loc) {
            Checked::Record(record) => {
                self.outcome.matched += 1;
                (self.emit)(line, &record)
            }
            Checked::Damaged(d) => {
                self.outcome.add_damage(d);
                ControlFlow::Continue(())
            }
            Checked::Lite(_) | Checked::No => ControlFlow::Continue(()),
        }
    }

    fn damage(&mut self, damage: Damage) {
        self.outcome.add_damage(damage);
    }
}

enum Msg {
    Hits(Vec<(Vec<u8>, Record)>),
    /// A whole member's stored lines and how many.
    Block(Vec<u8>, u64),
    Damage(Damage),
    Done(Result<(u64, Counts)>),
}

fn parallel(
    dir: &Path,
    query: &Query,
    source: Source<'_>,
    days: &[NaiveDate],
    workers: usize,
    (mode, raw): (Mode<'_>, bool),
    emit: EmitTo<'_>,
) -> Result<(Outcome, Counts)> {
    let (senders, receivers): (Vec<_>, Vec<_>) = days
        .iter()
        .map(|_| {
            let (tx, rx) = sync_channel::<Msg>(CHUNKS_AHEAD);
            (std::sync::Mutex::new(Some(tx)), rx)
        })
        .unzip();
    // Days are taken in order, so the day the caller waits for is always being read or
    // done; a day's sender goes with the worker that reads it.
    let next = AtomicUsize::new(0);
    let mut outcome = Outcome::default();
    let mut counts = Counts::default();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let reader = DayReader {
                dir,
                query,
                source,
                days,
                mode,
                raw,
                next: &next,
                senders: &senders,
            };
            s.spawn(move || reader.run());
        }
        // Dropping the receivers when `consume` returns unblocks and stops the workers.
        consume(receivers, &mut outcome, &mut counts, emit)
    })?;
    Ok((outcome, counts))
}

/// One reading thread of [`parallel`]: takes the next unread day, reads it into that
/// day's channel, and goes on until no day is left or the caller stopped.
struct DayReader<'a> {
    dir: &'a Path,
    query: &'a Query,
    source: Source<'a>,
    days: &'a [NaiveDate],
    mode: Mode<'a>,
    raw: bool,
    /// The index of the next day to read, shared by the threads.
    next: &'a AtomicUsize,
    /// Each day's sender, taken by the thread that reads the day.
    senders: &'a [std::sync::Mutex<Option<SyncSender<Msg>>>],
}

impl DayReader<'_> {
    fn run(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(day) = self.days.get(i) else {
                return;
            };
            let Some(tx) = self
                .senders
                .get(i)
                .and_then(|m| m.lock().ok().and_then(|mut o| o.take()))
            else {
                return;
            };
            let mut sink = Worker {
                tx: &tx,
                query: self.query,
                mode: self.mode,
                raw: self.raw,
                chunk: Vec::new(),
                bytes: 0,
                matched: 0,
                counts: Counts::default(),
            };
            // Days already keep every core busy: one inflating thread per day.
            let opts = scan_options(self.query, 1);
            let done = match self.source.scan(self.dir, *day, &opts, &mut sink) {
                Ok(flow) if flow.is_continue() && sink.flush().is_continue() => {
                    Ok((sink.matched, sink.counts))
                }
                Ok(_) => return,
                Err(e) => Err(e),
            };
            let failed = done.is_err();
            // A closed channel means the caller stopped: no more days.
            if tx.send(Msg::Done(done)).is_err() || failed {
                return;
            }
        }
    }
}

/// Hands out each day's matches in day order.
fn consume(
    receivers: Vec<Receiver<Msg>>,
    outcome: &mut Outcome,
    counts: &mut Counts,
    emit: EmitTo<'_>,
) -> Result<()> {
    for rx in &receivers {
        for msg in rx.iter() {
            match msg {
                Msg::Hits(hits) => {
                    for (line, record) in hits {
                        outcome.matched += 1;
                        if emit.record(&line, &record).is_break() {
                            return Ok(());
                        }
                    }
                }
                Msg::Block(block, lines) => {
                    outcome.matched += lines;
                    if emit.lines(&block).is_break() {
                        return Ok(());
                    }
                }
                Msg::Damage(d) => outcome.add_damage(d),
                Msg::Done(Ok((matched, day_counts))) => {
                    outcome.matched += matched;
                    counts.merge(day_counts);
                    break;
                }
                Msg::Done(Err(e)) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A worker's sink: filters lines, sends matches in chunks or counts them.
struct Worker<'a> {
    tx: &'a SyncSender<Msg>,
    query: &'a Query,
    mode: Mode<'a>,
    raw: bool,
    chunk: Vec<(Vec<u8>, Record)>,
    bytes: usize,
    /// Matches counted here (in the count modes).
    matched: u64,
    counts: Counts,
}

impl Worker<'_> {
    fn flush(&mut self) -> ControlFlow<()> {
        if self.chunk.is_empty() {
            return ControlFlow::Continue(());
        }
        self.bytes = 0;
        match self.tx.send(Msg::Hits(std::mem::take(&mut self.chunk))) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    fn send_damage(&mut self, d: Damage) -> ControlFlow<()> {
        // After the matches before it, keeping the order of reports.
        self.flush()?;
        match self.tx.send(Msg::Damage(d)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}

impl Sink for Worker<'_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        let checked = check(self.query, self.mode, line, loc);
        match checked {
            Checked::No => ControlFlow::Continue(()),
            Checked::Damaged(d) => self.send_damage(d),
            Checked::Record(record) if matches!(self.mode, Mode::Records) => {
                self.bytes += line.len();
                self.chunk.push((line.to_vec(), record));
                if self.bytes >= CHUNK_BYTES {
                    return self.flush();
                }
                ControlFlow::Continue(())
            }
            other => {
                self.matched += 1;
                if let Mode::CountBy(by) = self.mode {
                    count_into(&mut self.counts, by, &other);
                }
                ControlFlow::Continue(())
            }
        }
    }

    fn damage(&mut self, damage: Damage) {
        let _ = self.send_damage(damage);
    }

    fn plan(&mut self, member: &MemberView<'_>) -> Plan {
        plan_member(
            self.query,
            self.mode,
            self.raw,
            member,
            &mut self.matched,
            &mut self.counts,
        )
    }

    fn whole(&mut self, content: Vec<u8>, lines: u64, loc: Loc<'_>) -> ControlFlow<()> {
        if matches!(self.mode, Mode::Count) {
            let counted = count_valid(self.query, &content, loc);
            self.matched += counted.matched;
            for d in counted.damage {
                self.send_damage(d)?;
            }
            return ControlFlow::Continue(());
        }
        if !self.raw {
            return lines_forward(loc.path, &content, loc.offset, self);
        }
        // After the matches before it, keeping the order of records.
        self.flush()?;
        match self.tx.send(Msg::Block(content, lines)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}

/// Names what is wrong with a line that did not parse as a record.
pub fn classify(line: &[u8], e: &LineError, loc: Loc<'_>) -> Damage {
    // A run of NUL bytes (a file extended past its data by a crash) is told by the
    // bytes themselves, whatever the parser tripped on first.
    let kind = if memchr::memchr(0, line).is_some() {
        DamageKind::NulBytes
    } else {
        match e {
            LineError::InvalidUtf8 { .. } => DamageKind::InvalidUtf8,
            LineError::InvalidJson {
                ends_early: true, ..
            } => DamageKind::TornLine,
            LineError::InvalidJson { .. } | LineError::NotObject { .. } => DamageKind::InvalidJson,
            LineError::Schema(_) => DamageKind::InvalidRecord,
        }
    };
    Damage {
        path: loc.path.into(),
        line: loc.line,
        offset: loc.offset,
        kind,
        detail: e.to_string(),
    }
}
