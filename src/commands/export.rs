//! `actlog export`: into PostgreSQL, or to standard output, from its flags.

use super::reading::{self, report_damage, warn_strangers};
use actlog::cli::{ExportArgs, ExportFormat, ExportTarget, FilterArgs, FollowArgs, PostgresArgs};
use actlog::clock::{Clock, FixedClock, SystemClock};
use actlog::export::connect::{Database, Settings};
use actlog::export::run::{self, Follow, Options, Report};
use actlog::export::select::Selection;
use actlog::export::stdout::{Format, Stream};
use actlog::export::target::{PgOptions, Postgres};
use actlog::timeexpr::parse_interval;
use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Runs the export the flags describe.
pub fn export(
    dir: &Path,
    args: &ExportArgs,
    now: DateTime<Utc>,
    fixed_now: bool,
    quiet: bool,
) -> Result<ExitCode> {
    match &args.target {
        Some(ExportTarget::Postgres(pg)) => postgres(dir, pg, now, fixed_now, quiet),
        None => stream(dir, args, now, fixed_now, quiet),
    }
}

/// The selection, following and stop flag both kinds share.
struct Common {
    selection: Selection,
    follow: Option<Follow>,
    stop: Arc<AtomicBool>,
}

fn common(
    dir: &Path,
    filters: &FilterArgs,
    follow: &FollowArgs,
    now: DateTime<Utc>,
    fixed_now: bool,
    quiet: bool,
) -> Result<Common> {
    // `query`'s own checks and messages for the filter flags.
    let filter = reading::filter(filters, now)?;
    warn_strangers(dir, filter.days(), quiet);
    let selection = Selection::new(&filters.spec(), now, filters.strict)?;
    let poll = follow
        .poll
        .as_deref()
        .map(parse_interval)
        .transpose()
        .map_err(|e| anyhow!("--poll {e}"))?;
    let clock: Arc<dyn Clock> = if fixed_now {
        Arc::new(FixedClock::new(now))
    } else {
        Arc::new(SystemClock)
    };
    let stop = Arc::new(AtomicBool::new(false));
    // SIGTERM (Kubernetes stopping a pod) and SIGINT finish the batch in flight.
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| anyhow!("installing the signal handler: {e}"))?;
    }
    Ok(Common {
        selection,
        follow: follow.follow.then_some(Follow { poll, clock }),
        stop,
    })
}

fn postgres(
    dir: &Path,
    args: &PostgresArgs,
    now: DateTime<Utc>,
    fixed_now: bool,
    quiet: bool,
) -> Result<ExitCode> {
    let c = common(dir, &args.filters, &args.follow, now, fixed_now, quiet)?;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let settings = Settings {
        url: args.url.clone().filter(|u| !u.is_empty()),
        host: var("POSTGRES_HOST"),
        port: var("POSTGRES_PORT"),
        db: var("POSTGRES_DB"),
        user: var("POSTGRES_USER"),
        password: var("POSTGRES_PASSWORD"),
    };
    let db = Database::new(&settings)?;
    let source = match &args.source {
        Some(s) => s.clone(),
        None => std::path::absolute(dir)
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .map_err(|e| anyhow!("{}: {e}", dir.display()))?
            .display()
            .to_string(),
    };
    let mut target = Postgres::open(
        db,
        PgOptions {
            table: args.table.clone(),
            create_schema: args.create_schema,
            source,
            selection: c.selection.key.clone(),
        },
    )?;
    let following = c.follow.is_some();
    let report = run::export(
        &Options {
            dir,
            selection: &c.selection,
            batch: args.batch as usize,
            follow: c.follow,
            stop: &c.stop,
        },
        &mut target,
    )?;
    if !quiet {
        for day in &report.resent {
            eprintln!(
                "actlog: warning: {day}: the store no longer holds the records exported before (lines removed or edited, the day deleted and written again, or another store exporting under the same --source): sent the whole day again; rows already in {} were kept as they were",
                target.table_name()
            );
        }
        eprintln!(
            "actlog: {} into {}: {} new rows, {} already there, {} exported by earlier runs{}",
            super::count_of(report.sent, "record sent", "records sent"),
            target.table_name(),
            report.inserted,
            report.sent - report.inserted,
            report.done_before,
            damage_note(&report),
        );
    }
    settle(&report, following, args.filters.strict, quiet)
}

fn damage_note(report: &Report) -> String {
    match report.outcome.damaged {
        0 => String::new(),
        n => format!(
            ", {}",
            super::count_of(n, "damaged line skipped", "damaged lines skipped")
        ),
    }
}

/// The exit status: 0 done; 2 stopped by a signal before the end of a one-off export, or
/// damage under `--strict`.
fn settle(report: &Report, following: bool, strict: bool, quiet: bool) -> Result<ExitCode> {
    report_damage(&report.outcome, quiet);
    if strict && report.outcome.damaged > 0 {
        return Ok(ExitCode::from(2));
    }
    if report.stopped && !following {
        eprintln!(
            "actlog: stopped by a signal after {}; run the export again for the rest",
            super::count_of(report.batches, "batch", "batches")
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn stream(
    dir: &Path,
    args: &ExportArgs,
    now: DateTime<Utc>,
    fixed_now: bool,
    quiet: bool,
) -> Result<ExitCode> {
    let c = common(dir, &args.filters, &args.follow, now, fixed_now, quiet)?;
    let format = match args.format {
        Some(ExportFormat::Csv) => Format::Csv,
        Some(ExportFormat::Jsonl) | None => Format::Jsonl,
        Some(ExportFormat::PgCopy) => Format::PgCopy,
    };
    let following = c.follow.is_some();
    let result = Stream::new(format, std::io::stdout().lock()).and_then(|mut target| {
        let report = run::export(
            &Options {
                dir,
                selection: &c.selection,
                batch: run::DEFAULT_BATCH,
                follow: c.follow,
                stop: &c.stop,
            },
            &mut target,
        )?;
        drop(target.into_inner()?);
        Ok(report)
    });
    match result {
        Ok(report) => settle(&report, following, args.filters.strict, quiet),
        // `| head`: the reader has what it wanted.
        Err(e) if e.is_broken_pipe() => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}
