//! The `actlog` command: parses arguments, calls the library, prints.

use actlog::cli::{
    AppendArgs, Cli, Command, DEFAULT_DIR, DemoArgs, MaintainArgs, OutputArgs, QueryArgs,
    ReportFormat, ServeArgs, StatsArgs, TailArgs, VerifyArgs,
};
use actlog::filter::Filter;
use actlog::follow::{Follower, Waiter};
use actlog::maintain::{Action, Policy};
use actlog::output::{Format, Printer, print_counts};
use actlog::query::{self, CountBy, Outcome, Query};
use actlog::record::parse_ip;
use actlog::timeexpr::parse_interval;
use actlog::{Activity, Options, Record, Store, demo, ingest};
use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use clap::Parser;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("actlog: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// `--help` and `--version` as clap prints them; any other parse error as one line on
/// stderr (clap's own is several: the error, a usage line, a pointer to --help), exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
    }
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    let joined = parts.join(" ");
    let message = joined.strip_prefix("error: ").unwrap_or(&joined);
    eprintln!("actlog: {message} (see --help)");
    ExitCode::from(2)
}

/// The error and its causes on one line, each cause once: library errors already embed
/// their source in their own text (`{path}: {op}: {source}`), so a cause whose text the
/// line already holds is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    // A message from the operating system or a parser may hold a newline; the contract
    // promises one line.
    line.replace(['\n', '\r'], " ")
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let now = match &cli.now {
        Some(t) => time_flag("--now (ACTLOG_NOW)", t, Utc::now())?,
        None => Utc::now(),
    };
    match &cli.command {
        Command::Append(args) => append(&cli.dir_or(DEFAULT_DIR), args, now),
        Command::Query(args) => query_cmd(&cli.dir_or(DEFAULT_DIR), args, now),
        Command::Tail(args) => tail_cmd(&cli.dir_or(DEFAULT_DIR), args, now, cli.now.is_some()),
        Command::Maintain(args) => maintain_cmd(&cli.dir_or(DEFAULT_DIR), args, now),
        Command::Verify(args) => verify_cmd(&cli.dir_or(DEFAULT_DIR), args),
        Command::Stats(args) => stats_cmd(&cli.dir_or(DEFAULT_DIR), args),
        Command::Demo(args) => run_demo(&cli.dir_or(demo::DEFAULT_DEMO_DIR), args),
        Command::Serve(args) => serve_cmd(&cli.dir_or(DEFAULT_DIR), args),
    }
}

fn serve_cmd(dir: &Path, args: &ServeArgs) -> Result<ExitCode> {
    actlog::follow::raise_open_file_limit();
    let request_timeout = parse_interval(&args.request_timeout)
        .map_err(|e| anyhow!("--request-timeout {:?}: {e}", args.request_timeout))?;
    let header_timeout = parse_interval(&args.header_timeout)
        .map_err(|e| anyhow!("--header-timeout {:?}: {e}", args.header_timeout))?;
    let token = args
        .token_file
        .as_deref()
        .map(actlog::serve::read_token)
        .transpose()?;
    if !args.listen.ip().is_loopback() && token.is_none() {
        eprintln!(
            "actlog: warning: listening on {} without --token-file: anyone who can reach it can write and read activity",
            args.listen
        );
    }
    let store = Store::open(
        dir,
        Options {
            durability: args.durability,
            ..Options::default()
        },
    )?;
    let options = actlog::serve::ServeOptions {
        listen: args.listen,
        token,
        request_timeout,
        header_timeout,
        max_connections: args.max_connections as usize,
    };
    actlog::serve::run(&store, &options, |addr| {
        eprintln!("actlog: serving {} on http://{addr}", dir.display());
    })?;
    Ok(ExitCode::SUCCESS)
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

fn append(dir: &Path, args: &AppendArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let options = Options {
        durability: args.durability,
        max_line_bytes: usize::try_from(args.max_line_bytes)?,
        max_future_skew: args.max_future_skew,
        ..Options::default()
    };
    let store = Store::open(dir, options)?;
    let writer = store.writer();
    if args.stdin.is_some() {
        // Input may carry whitespace the stored line does not; the stored line's own limit
        // is checked by the writer.
        let max_input = usize::try_from(args.max_line_bytes)?.saturating_mul(2);
        let result =
            ingest::append_lines(io::stdin().lock(), &writer, args.batch as usize, max_input);
        let closed = writer.close();
        return match (result, closed) {
            (Ok(n), Ok(())) => {
                let records = if n == 1 { "record" } else { "records" };
                eprintln!("actlog: appended {n} {records}");
                Ok(ExitCode::SUCCESS)
            }
            (Ok(n), Err(e)) => {
                Err(anyhow!(e).context(format!("{n} records accepted, but some were not written")))
            }
            (Err(stop), _) => {
                eprintln!("actlog: standard input {stop}");
                eprintln!(
                    "actlog: {} record(s) written, from the input lines before line {}; rerun from line {}",
                    stop.written, stop.line, stop.line
                );
                Ok(ExitCode::from(2))
            }
        };
    }
    let (Some(user), Some(action)) = (&args.user, &args.action) else {
        return Err(anyhow!("--user and --action are required"));
    };
    let mut activity = Activity::new(user.as_str(), action.as_str());
    if let Some(details) = &args.details {
        let value: serde_json::Value =
            actlog::record::parse_json(details).context("--details is not valid JSON")?;
        actlog::record::check_unique_keys(details).context("--details")?;
        activity = activity.with_details(value).context("--details")?;
    }
    if let Some(ip) = &args.ip {
        activity = activity.with_ip(parse_ip(ip).context("--ip")?);
    }
    if let Some(ua) = &args.user_agent {
        activity = activity.with_user_agent(ua.as_str());
    }
    if let Some(at) = &args.at {
        activity = activity.at(time_flag("--at", at, now)?);
    }
    let stamp = writer.append(&activity)?;
    writer.close()?;
    let mut line = Vec::new();
    activity.write_json(stamp.id, stamp.timestamp, &mut line);
    line.push(b'\n');
    match write_stdout(&line) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow!(e).context("writing to standard output"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn verify_cmd(dir: &Path, args: &VerifyArgs) -> Result<ExitCode> {
    let problems = actlog::verify::verify(dir)?;
    let mut out = String::new();
    for p in &problems {
        match args.format {
            ReportFormat::Text => out += &format!("{p}\n"),
            ReportFormat::Json => out += &format!("{}\n", serde_json::to_string(p)?),
        }
    }
    if args.format == ReportFormat::Text {
        let total: u64 = problems.iter().map(|p| 1 + p.more).sum();
        eprintln!("actlog: {total} problem(s) in {}", dir.display());
    }
    if let Err(e) = write_stdout(out.as_bytes())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(anyhow!(e).context("writing to standard output"));
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn stats_cmd(dir: &Path, args: &StatsArgs) -> Result<ExitCode> {
    let stats = actlog::stats::stats(dir)?;
    let out = match args.format {
        ReportFormat::Json => format!("{}\n", serde_json::to_string(&stats)?),
        ReportFormat::Text => {
            let mut out = format!(
                "{:<10} {:>10} {:>8} {:>14} {:>14} {:>12} {:>6}  {:<24} {}\n",
                "day",
                "records",
                "damaged",
                "json bytes",
                "plain bytes",
                "gz bytes",
                "ratio",
                "first",
                "last"
            );
            let row = |label: String, d: &actlog::stats::DayStats| {
                let t = |t: Option<DateTime<Utc>>| {
                    t.map(actlog::record::format_timestamp).unwrap_or_default()
                };
                format!(
                    "{label:<10} {:>10} {:>8} {:>14} {:>14} {:>12} {:>6}  {:<24} {}\n",
                    d.records,
                    d.damaged,
                    d.json_bytes,
                    d.plain_bytes,
                    d.gz_bytes,
                    d.ratio.as_deref().unwrap_or("-"),
                    t(d.first),
                    t(d.last)
                )
            };
            for d in &stats.days {
                out += &row(d.day.map(|d| d.to_string()).unwrap_or_default(), d);
            }
            out += &row(format!("{} days", stats.days.len()), &stats.total);
            out
        }
    };
    if let Err(e) = write_stdout(out.as_bytes())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(anyhow!(e).context("writing to standard output"));
    }
    Ok(ExitCode::SUCCESS)
}

fn maintain_cmd(dir: &Path, args: &MaintainArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    if !dir.is_dir() {
        return Err(anyhow!("{}: no such log directory", dir.display()));
    }
    let policy = Policy {
        keep_days: args.keep_days,
        grace_days: args.grace_days,
        dry_run: args.dry_run,
        max_bytes: args.max_bytes,
    };
    let report = actlog::maintain::run(dir, now.date_naive(), &policy)?;
    if report.busy {
        eprintln!(
            "actlog: another maintenance run holds {}; nothing done",
            dir.join(actlog::maintain::LOCK_FILE).display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let would = if args.dry_run { "would " } else { "" };
    let mut out = String::new();
    let mut refused = false;
    for action in &report.actions {
        match action {
            Action::Compressed {
                day,
                plain_bytes,
                gz_bytes,
            } if args.dry_run => {
                out += &format!("would compress {day} ({plain_bytes} bytes)\n");
                let _ = gz_bytes;
            }
            Action::Compressed {
                day,
                plain_bytes,
                gz_bytes,
            } => {
                out += &format!("compressed {day}: {plain_bytes} bytes into {gz_bytes}\n");
            }
            Action::RemovedLeftover { day } => {
                out += &format!("removed {day}'s plain file, already in its .gz\n")
            }
            Action::Deleted { day, files } => {
                out += &format!("{would}delete {day}: {}\n", files.join(", "))
            }
            Action::RemovedTemp { name } => {
                out += &format!("{would}remove {name} (left by a crashed run)\n")
            }
            Action::Skipped { name, what } => {
                eprintln!("actlog: warning: left {name} alone: {what}, not followed or deleted");
            }
            Action::Refused { day, reason } => {
                refused = true;
                eprintln!("actlog: not compressing {day}: {reason}");
            }
            Action::NotDeleted { day, reason } => {
                refused = true;
                eprintln!("actlog: not deleting {day}: {reason}");
            }
            Action::Warned { day, message } => {
                eprintln!("actlog: warning: {day}: {message}");
            }
        }
    }
    if let Err(e) = write_stdout(out.as_bytes())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(anyhow!(e).context("writing to standard output"));
    }
    Ok(if refused {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// A printer on standard output for the chosen format, cut to the terminal's width there.
fn printer(o: &OutputArgs) -> Printer<BufWriter<io::StdoutLock<'static>>> {
    let (format, color, tty) = output_choice(o);
    Printer::new(BufWriter::new(io::stdout().lock()), format, color)
        .on_terminal(tty)
        .max_width(if tty { terminal_columns() } else { None })
        .csv_raw(o.csv_raw)
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

/// The output format and whether to colour, from the flags and the terminal.
fn output_choice(o: &OutputArgs) -> (Format, bool, bool) {
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

/// Names a day-named entry readers skip because it is not a regular file (a symlink,
/// say), so a missing day is never a silent surprise.
fn warn_strangers(dir: &Path) {
    if let Ok(strangers) = actlog::layout::list_strangers(dir) {
        for (name, what) in strangers {
            eprintln!("actlog: warning: skipped {name}: {what}, never followed or read");
        }
    }
    if let Ok(linked) = actlog::layout::list_hard_linked(dir) {
        for (name, links) in linked {
            eprintln!(
                "actlog: warning: {name} has {links} hard links (a hard-link backup such as `cp -al`?): read, but writers refuse to append to it and maintenance will not compress it; back up with `cp -a` or rsync without --link-dest"
            );
        }
    }
}

fn query_cmd(dir: &Path, args: &QueryArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    warn_strangers(dir);
    let filter = Filter::new(&args.filters.spec(), now)?;
    let count_by = args.count_by.as_deref().map(CountBy::new).transpose()?;
    let q = Query {
        filter,
        limit: args.limit,
        reverse: args.reverse,
        strict: args.filters.strict,
    };
    let (format, _, tty) = output_choice(&args.output);
    let mut write_error = None;
    let outcome = if args.count {
        let outcome = query::count(dir, &q)?;
        write_error = write_stdout(format!("{}\n", outcome.matched).as_bytes()).err();
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
        let mut printer = printer(&args.output);
        let outcome = query::run(dir, &q, &mut printing(&mut printer, &mut write_error))?;
        if write_error.is_none() {
            write_error = printer.finish().err();
        }
        outcome
    };
    finish(&outcome, write_error, args.filters.strict)
}

fn tail_cmd(dir: &Path, args: &TailArgs, now: DateTime<Utc>, fixed_now: bool) -> Result<ExitCode> {
    warn_strangers(dir);
    let filter = Filter::new(&args.filters.spec(), now)?;
    // `--now` stops the clock for following too: which days are current, and whether
    // `--until` has passed.
    let clock: std::sync::Arc<dyn actlog::clock::Clock> = if fixed_now {
        std::sync::Arc::new(actlog::clock::FixedClock::new(now))
    } else {
        std::sync::Arc::new(actlog::clock::SystemClock)
    };
    let until = filter.window().1;
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
    };
    let mut last: Vec<(Vec<u8>, Record)> = Vec::new();
    let mut outcome = Outcome::default();
    if args.lines > 0 {
        let mut keep = |line: &[u8], r: &Record| {
            last.push((line.to_vec(), r.clone()));
            ControlFlow::Continue(())
        };
        outcome = match &snapshot {
            Some(s) => query::run_snapshot(dir, &q, s, &mut keep)?,
            None => query::run(dir, &q, &mut keep)?,
        };
    }
    // The past is read: its descriptors are not needed any more.
    drop(snapshot);
    let mut printer = printer(&args.output);
    let mut write_error = None;
    for (line, r) in last.iter().rev() {
        if let Err(e) = printer.record(line, r) {
            write_error = Some(e);
            break;
        }
    }
    if write_error.is_none() {
        write_error = printer.finish().err();
    }
    let Some(mut follower) = follower else {
        return finish(&outcome, write_error, strict);
    };
    if write_error.is_some() {
        return finish(&outcome, write_error, strict);
    }
    report_damage(&outcome);
    if strict && outcome.damaged > 0 {
        return Ok(ExitCode::from(2));
    }
    let follow_query = Query {
        filter: q.filter,
        limit: None,
        reverse: false,
        strict,
    };
    let mut waiter = Waiter::new(dir, poll);
    let mut matched = outcome.matched;
    loop {
        // Once the clock is past `--until`, one last read gets every record before it
        // that is written by now; then stop, as `query` would.
        let last_read = until.is_some_and(|u| clock.now() >= u);
        let mut write_error = None;
        let (flow, seen) =
            follower.read_matching(&follow_query, &mut printing(&mut printer, &mut write_error))?;
        if write_error.is_none() {
            write_error = printer.finish().err();
        }
        report_damage(&seen);
        match write_error {
            Some(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Some(e) => return Err(anyhow!(e).context("writing to standard output")),
            None => {}
        }
        if flow.is_break() || (strict && seen.damaged > 0) {
            return Ok(ExitCode::from(if strict && seen.damaged > 0 {
                2
            } else {
                0
            }));
        }
        matched += seen.matched;
        if last_read {
            return Ok(ExitCode::from(if matched > 0 { 0 } else { 1 }));
        }
        // A wait ends within the poll interval (1 s by default), so `--until` is noticed.
        waiter.wait();
    }
}

/// An `emit` callback that prints each record and stops at the first write error.
fn printing<'a, W: Write>(
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

/// Damage summary on stderr, a write error, and the exit status: 0 something matched,
/// 1 nothing matched, 2 error (or damage under `--strict`).
fn finish(outcome: &Outcome, write_error: Option<io::Error>, strict: bool) -> Result<ExitCode> {
    match write_error {
        // The reader went away (`| head`): not an error.
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Some(e) => return Err(anyhow!(e).context("writing to standard output")),
        None => {}
    }
    report_damage(outcome);
    Ok(if strict && outcome.damaged > 0 {
        ExitCode::from(2)
    } else if outcome.matched > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Lists skipped damage on stderr, briefly.
fn report_damage(outcome: &Outcome) {
    const SHOWN: usize = 20;
    if outcome.damaged == 0 {
        return;
    }
    eprintln!(
        "actlog: skipped {} damaged line(s) or file(s):",
        outcome.damaged
    );
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

fn run_demo(dir: &Path, args: &DemoArgs) -> Result<ExitCode> {
    if let Some(days) = args.days {
        let started = std::time::Instant::now();
        let bytes = actlog::dataset::generate(dir, args.start, days, args.per_day)?;
        let msg = format!(
            "wrote {days} gzipped days of {} records ({:.2} GB of JSON) to {} in {:.1} s\n",
            args.per_day,
            bytes as f64 / 1e9,
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        write_stdout(msg.as_bytes()).ok();
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("cannot find the actlog executable")?;
    let report = demo::run(&exe, dir, args.processes, args.records)?;
    let secs = report.elapsed.as_secs_f64();
    let mut out = String::new();
    out += &format!(
        "{} processes appended {} records to {} in {:.2} s ({:.0} records/s, one locked write per record)\n",
        report.processes,
        report.appended,
        report.dir.display(),
        secs,
        report.appended as f64 / secs.max(1e-9),
    );
    out += &format!(
        "checked every line: {} valid records, {} bad lines, ids unique: {}, each process's order kept: {}\n",
        report.valid_lines, report.bad_lines, report.ids_unique, report.order_kept
    );
    out += "records per action:\n";
    for (action, n) in &report.by_action {
        out += &format!("  {action:<16} {n:>8}\n");
    }
    out += "first stored lines:\n";
    for line in &report.sample {
        out += &format!("  {line}\n");
    }
    match write_stdout(out.as_bytes()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(anyhow!(e).context("writing to standard output"));
        }
        _ => {}
    }
    let healthy = report.bad_lines == 0 && report.ids_unique && report.order_kept;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
