//! What `query` and `tail` share: the printer on standard output, warnings about entries
//! readers skip, the damage summary and the exit status.

use super::pager::Out;
use super::stdout::{self, Written};
use actlog::Record;
use actlog::cli::{FilterArgs, OutputArgs};
use actlog::filter::Filter;
use actlog::output::{Format, Printer};
use actlog::query::Outcome;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;

/// Where `query` and `tail` print records.
pub type RecordPrinter = Printer<BufWriter<Out>>;

/// A printer on standard output for the chosen format, cut to the terminal's width
/// there, and through a pager when `page` and standard output is a terminal.
pub fn printer(o: &OutputArgs, page: bool, quiet: bool) -> RecordPrinter {
    let (format, color, tty) = output_choice(o);
    let out = Out::open(page && tty && !o.no_pager, quiet);
    Printer::new(BufWriter::new(out), format, color)
        .on_terminal(tty)
        .max_width(if tty { terminal_columns() } else { None })
        .csv_raw(o.csv_raw)
        .columns(o.fields.clone().unwrap_or_default())
        .zone(o.zone())
}

/// Ends a printer's output: prints what it holds, then waits for the pager, if any, to
/// be quit; the first write error, to be settled by [`finish`].
pub fn end_output(mut printer: RecordPrinter, write_error: Option<io::Error>) -> Option<io::Error> {
    let finished = printer.finish().err();
    let closed = match printer.into_inner().into_inner() {
        Ok(out) => out.close().err(),
        Err(e) => Some(e.into_error()),
    };
    write_error.or(finished).or(closed)
}

/// The terminal's width in columns: from the terminal itself, else `COLUMNS`.
fn terminal_columns() -> Option<usize> {
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the struct we pass.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    if rc == 0 && size.ws_col > 0 {
        return Some(usize::from(size.ws_col));
    }
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

/// The output format, whether to colour, and whether standard output is a terminal.
pub fn output_choice(o: &OutputArgs) -> (Format, bool, bool) {
    let tty = io::stdout().is_terminal();
    let format = o
        .format
        .unwrap_or(if tty { Format::Pretty } else { Format::Json });
    let no_color = std::env::var("NO_COLOR").ok();
    let term = std::env::var("TERM").ok();
    (
        format,
        o.color.enabled(tty, no_color.as_deref(), term.as_deref()),
        tty,
    )
}

/// The filter of `query` and `tail`; `-v` without `-g` is refused here, in the flags'
/// own words (the library's refusal names only the field).
pub fn filter(args: &FilterArgs, now: DateTime<Utc>) -> Result<Filter> {
    if args.invert_grep && args.greps.is_empty() {
        anyhow::bail!(
            "-v/--invert-grep needs at least one -g/--grep PATTERN: it keeps the records whose line matches none of them"
        );
    }
    Ok(Filter::new(&args.spec(), now)?)
}

/// Names each day-named entry readers skip because it is not a regular file (a symlink,
/// say), and each hard-linked day file, when its day is in `days` (the query's range,
/// inclusive), so a missing day is never a silent surprise; nothing when `quiet`.
pub fn warn_strangers(dir: &Path, days: (Option<NaiveDate>, Option<NaiveDate>), quiet: bool) {
    if quiet {
        return;
    }
    let in_range = |name: &str| {
        actlog::layout::parse_file_name(name).is_none_or(|(day, _)| {
            days.0.is_none_or(|first| day >= first) && days.1.is_none_or(|last| day <= last)
        })
    };
    if let Ok(strangers) = actlog::layout::list_strangers(dir) {
        for (name, what) in strangers.into_iter().filter(|(n, _)| in_range(n)) {
            eprintln!("actlog: warning: skipped {name}: {what}, never followed or read");
        }
    }
    if let Ok(linked) = actlog::layout::list_hard_linked(dir) {
        for (name, links) in linked.into_iter().filter(|(n, _)| in_range(n)) {
            eprintln!(
                "actlog: warning: {name} has {links} hard links (a hard-link backup such as `cp -al`?): read, but writers refuse to append to it and maintenance will not compress it; back up with `cp -a` or rsync without --link-dest"
            );
        }
    }
}

/// An `emit` callback that prints each record and stops at the first write error.
pub fn printing<'a, W: Write>(
    printer: &'a mut Printer<W>,
    error: &'a mut Option<io::Error>,
) -> impl FnMut(&[u8], &Record) -> ControlFlow<()> + 'a {
    move |line, r| match printer.record(line, r) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            *error = Some(e);
            ControlFlow::Break(())
        }
    }
}

/// [`printing`] as a query's [`actlog::query::Emit`]: stored lines that print unchanged
/// (`-o json`) may come whole members at a time, unparsed.
pub struct Printing<'a, W: Write> {
    printer: &'a mut Printer<W>,
    error: &'a mut Option<io::Error>,
}

impl<'a, W: Write> Printing<'a, W> {
    /// Prints into `printer`; the first write error stops the query and lands in `error`.
    pub fn new(printer: &'a mut Printer<W>, error: &'a mut Option<io::Error>) -> Self {
        Printing { printer, error }
    }

    fn settle(&mut self, written: io::Result<()>) -> ControlFlow<()> {
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                *self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

impl<W: Write> actlog::query::Emit for Printing<'_, W> {
    fn record(&mut self, line: &[u8], record: &Record) -> ControlFlow<()> {
        let written = self.printer.record(line, record);
        self.settle(written)
    }

    fn takes_lines(&self) -> bool {
        self.printer.takes_lines()
    }

    fn lines(&mut self, block: &[u8]) -> ControlFlow<()> {
        let written = self.printer.lines(block);
        self.settle(written)
    }
}

/// Damage summary on stderr, a write error, and the exit status: 0 something matched,
/// 1 nothing matched, 2 error (or damage under `--strict`).
pub fn finish(
    outcome: &Outcome,
    write_error: Option<io::Error>,
    strict: bool,
    quiet: bool,
) -> Result<ExitCode> {
    if stdout::settle(write_error)? == Written::ReaderGone {
        return Ok(ExitCode::SUCCESS);
    }
    report_damage(outcome, quiet);
    Ok(if strict && outcome.damaged > 0 {
        ExitCode::from(2)
    } else if outcome.matched > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Lists skipped damage on stderr, briefly (nothing when `quiet`: the exit status under
/// `--strict` still tells).
pub fn report_damage(outcome: &Outcome, quiet: bool) {
    const SHOWN: usize = 20;
    if outcome.damaged == 0 || quiet {
        return;
    }
    let what = if outcome.damaged == 1 {
        "damaged line or file"
    } else {
        "damaged lines or files"
    };
    eprintln!("actlog: skipped {} {what}:", outcome.damaged);
    for d in outcome.damage.iter().take(SHOWN) {
        eprintln!("  {d}");
    }
    if outcome.damaged > SHOWN as u64 {
        eprintln!(
            "  ... and {} more (use --strict to stop at damage)",
            outcome.damaged - SHOWN as u64
        );
    }
}

/// `ACTLOG_IGNORE_SUMMARIES` set (and not `0`): read every gzip member as if its header
/// had no summary. A debugging aid (answers must not change) and the benchmarks' baseline.
pub fn ignore_summaries() -> bool {
    std::env::var_os("ACTLOG_IGNORE_SUMMARIES").is_some_and(|v| !v.is_empty() && v != "0")
}
