//! One module per subcommand: each turns its parsed arguments into library calls and
//! prints what they return. `reading` holds what `query` and `tail` share; `stdout` the
//! rule for writing to standard output.

mod append;
mod demo;
mod export;
mod maintain;
mod manual;
mod pager;
mod probe;
mod progress;
mod query;
mod reading;
mod serve;
mod stats;
mod stdout;
mod tail;
mod verify;

use actlog::cli::{Cli, Command, DEFAULT_DIR};
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::process::ExitCode;

/// Runs the command `cli` names, with "now" from `--now` (or `ACTLOG_NOW`) or the clock.
pub fn dispatch(cli: &Cli) -> Result<ExitCode> {
    let now = match &cli.now {
        Some(t) => time_flag("--now (ACTLOG_NOW)", t, Utc::now())?,
        None => Utc::now(),
    };
    match &cli.command {
        Command::Append(args) => append::append(&cli.dir_or(DEFAULT_DIR), args, now),
        Command::Query(args) => query::query(&cli.dir_or(DEFAULT_DIR), args, now, cli.quiet),
        Command::Tail(args) => tail::tail(
            &cli.dir_or(DEFAULT_DIR),
            args,
            now,
            cli.now.is_some(),
            cli.quiet,
        ),
        Command::Maintain(args) => {
            maintain::maintain(&cli.dir_or(DEFAULT_DIR), args, now, cli.quiet)
        }
        Command::Verify(args) => verify::verify(&cli.dir_or(DEFAULT_DIR), args, cli.quiet),
        Command::Stats(args) => stats::stats(&cli.dir_or(DEFAULT_DIR), args, cli.quiet),
        Command::Demo(args) => demo::demo(&cli.dir_or(actlog::demo::DEFAULT_DEMO_DIR), args),
        Command::Serve(args) => serve::serve(&cli.dir_or(DEFAULT_DIR), args, cli.quiet),
        Command::Probe(args) => probe::probe(args),
        Command::Export(args) => export::export(
            &cli.dir_or(DEFAULT_DIR),
            args,
            now,
            cli.now.is_some(),
            cli.quiet,
        ),
        Command::Completions(args) => manual::completions(args),
        Command::Man(args) => manual::man(args),
    }
}

/// `n` and the noun, singular for exactly one: "1 record", "2 records", "0 records".
fn count_of(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A TIME of CONTRACT section 4 given to `flag` (the same forms `--since` takes),
/// relative to `now`, within the years a day file's name can hold.
fn time_flag(flag: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = actlog::timeexpr::parse_time(text, now)
        .map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e}"))?;
    let year = chrono::Datelike::year(&t);
    if !(0..=9999).contains(&year) {
        anyhow::bail!("{flag} {text:?}: year {year} is outside 0000-9999");
    }
    Ok(t)
}
