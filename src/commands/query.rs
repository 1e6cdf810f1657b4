//! `actlog query`: matching records, their count (`-c`), or counts by a field.

use super::reading::{self, Printing, end_output, finish, output_choice, printer, warn_strangers};
use super::stdout;
use actlog::cli::QueryArgs;
use actlog::output::print_counts;
use actlog::query::{self, CountBy, Query};
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::io;
use std::path::Path;
use std::process::ExitCode;

/// Reads `dir` for the records the flags select and prints them as asked.
pub fn query(dir: &Path, args: &QueryArgs, now: DateTime<Utc>, quiet: bool) -> Result<ExitCode> {
    let filter = reading::filter(&args.filters, now)?;
    warn_strangers(dir, filter.days(), quiet);
    let count_by = args.count_by.as_deref().map(CountBy::new).transpose()?;
    let q = Query {
        filter,
        limit: args.limit,
        reverse: args.reverse,
        strict: args.filters.strict,
        ignore_summaries: reading::ignore_summaries(),
    };
    let (format, _, tty) = output_choice(&args.output);
    let mut write_error = None;
    let outcome = if args.count {
        let outcome = query::count(dir, &q)?;
        write_error = stdout::write_raw(format!("{}\n", outcome.matched).as_bytes()).err();
        outcome
    } else if let Some(by) = &count_by {
        let (outcome, counts) = query::count_by(dir, &q, by)?;
        write_error = print_counts(
            &mut io::stdout().lock(),
            counts.into_vec(),
            format,
            tty,
            args.output.csv_raw,
        )
        .err();
        outcome
    } else {
        let mut printer = printer(&args.output, true, quiet);
        let outcome = query::run_to(dir, &q, &mut Printing::new(&mut printer, &mut write_error))?;
        write_error = end_output(printer, write_error);
        outcome
    };
    finish(&outcome, write_error, args.filters.strict, quiet)
}
