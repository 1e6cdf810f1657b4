//! `actlog tail`: the last N matching records, oldest first, and with `-f` every new one
//! as it is written.

use super::reading::{self, end_output, finish, printer, printing, report_damage, warn_strangers};
use super::stdout::{self, Written};
use actlog::Record;
use actlog::cli::TailArgs;
use actlog::clock::{Clock, FixedClock, SystemClock};
use actlog::follow::{Follower, Waiter};
use actlog::output::Printer;
use actlog::query::{self, Outcome, Query};
use actlog::scan::Snapshot;
use actlog::timeexpr::parse_interval;
use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Prints the last `-n` records; with `-f`, then follows until `--until`, a closed pipe
/// or a signal.
pub fn tail(
    dir: &Path,
    args: &TailArgs,
    now: DateTime<Utc>,
    fixed_now: bool,
    quiet: bool,
) -> Result<ExitCode> {
    let filter = reading::filter(&args.filters, now)?;
    warn_strangers(dir, filter.days(), quiet);
    let poll = args
        .poll
        .as_deref()
        .map(parse_interval)
        .transpose()
        .map_err(|e| anyhow!("--poll {e}"))?;
    let strict = args.filters.strict;
    // Start following before reading the past, up to exactly where following begins.
    let (follower, snapshot) = if args.follow {
        actlog::follow::raise_open_file_limit();
        Follower::start(dir).map(|(f, s)| (Some(f), Some(s)))?
    } else {
        (None, None)
    };
    let q = Query {
        filter,
        limit: Some(args.lines),
        reverse: true,
        strict,
        ignore_summaries: reading::ignore_summaries(),
    };
    let (outcome, last) = read_past(dir, &q, snapshot)?;
    // Following never pages (as `journalctl -f`): a pager would hold new records back.
    let mut printer = printer(&args.output, !args.follow, quiet);
    let mut write_error = None;
    for (line, r) in last.iter().rev() {
        if let Err(e) = printer.record(line, r) {
            write_error = Some(e);
            break;
        }
    }
    let Some(follower) = follower else {
        let write_error = end_output(printer, write_error);
        return finish(&outcome, write_error, strict, quiet);
    };
    if write_error.is_none() {
        write_error = printer.finish().err();
    }
    if write_error.is_some() {
        return finish(&outcome, write_error, strict, quiet);
    }
    report_damage(&outcome, quiet);
    if strict && outcome.damaged > 0 {
        return Ok(ExitCode::from(2));
    }
    // `--now` stops the clock for following too: which days are current, and whether
    // `--until` has passed.
    let clock: Arc<dyn Clock> = if fixed_now {
        Arc::new(FixedClock::new(now))
    } else {
        Arc::new(SystemClock)
    };
    let follow_query = Query {
        limit: None,
        reverse: false,
        ..q
    };
    let following = Following {
        dir,
        query: follow_query,
        clock,
        poll,
        matched: outcome.matched,
        quiet,
    };
    following.run(follower, &mut printer)
}

/// A record kept for printing: its stored line and its parse.
type Kept = (Vec<u8>, Record);

/// The last `q.limit` matching records, newest first, read from the files the follower
/// opened (when following) so nothing is printed twice.
fn read_past(dir: &Path, q: &Query, snapshot: Option<Snapshot>) -> Result<(Outcome, Vec<Kept>)> {
    let mut last: Vec<Kept> = Vec::new();
    if q.limit == Some(0) {
        return Ok((Outcome::default(), last));
    }
    let mut keep = |line: &[u8], r: &Record| {
        last.push((line.to_vec(), r.clone()));
        ControlFlow::Continue(())
    };
    let outcome = match &snapshot {
        Some(s) => query::run_snapshot(dir, q, s, &mut keep)?,
        None => query::run(dir, q, &mut keep)?,
    };
    Ok((outcome, last))
}

/// `tail -f` once the past is printed.
struct Following<'a> {
    dir: &'a Path,
    query: Query,
    clock: Arc<dyn Clock>,
    poll: Option<std::time::Duration>,
    /// Records printed so far, for the exit status at `--until`.
    matched: u64,
    /// `-q`: no damage summaries.
    quiet: bool,
}

impl Following<'_> {
    /// Prints new records as they are written; exit 0 when something matched by
    /// `--until` (1 if nothing did), 2 on damage under `--strict`.
    fn run<W: Write>(
        mut self,
        mut follower: Follower,
        printer: &mut Printer<W>,
    ) -> Result<ExitCode> {
        let strict = self.query.strict;
        let until = self.query.filter.window().1;
        let mut waiter = Waiter::new(self.dir, self.poll);
        loop {
            // Once the clock is past `--until`, one last read gets every record before it
            // that is written by now; then stop, as `query` would.
            let last_read = until.is_some_and(|u| self.clock.now() >= u);
            let mut write_error = None;
            let (flow, seen) =
                follower.read_matching(&self.query, &mut printing(printer, &mut write_error))?;
            if write_error.is_none() {
                write_error = printer.finish().err();
            }
            report_damage(&seen, self.quiet);
            if stdout::settle(write_error)? == Written::ReaderGone {
                return Ok(ExitCode::SUCCESS);
            }
            if strict && seen.damaged > 0 {
                return Ok(ExitCode::from(2));
            }
            if flow.is_break() {
                return Ok(ExitCode::SUCCESS);
            }
            self.matched += seen.matched;
            if last_read {
                return Ok(ExitCode::from(if self.matched > 0 { 0 } else { 1 }));
            }
            // A wait ends within the poll interval (1 s by default), so `--until` is noticed.
            waiter.wait();
        }
    }
}
