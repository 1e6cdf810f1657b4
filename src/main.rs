//! The `actlog` command: parses arguments, calls the library, prints.

use actlog::cli::{AppendArgs, Cli, Command, DEFAULT_DIR, DemoArgs};
use actlog::record::{parse_ip, parse_timestamp};
use actlog::{Activity, Options, Store, demo, ingest};
use anyhow::{Context, Result, anyhow};
use clap::Parser;
use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("actlog: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Append(args) => append(&cli.dir_or(DEFAULT_DIR), args),
        Command::Demo(args) => run_demo(&cli.dir_or(demo::DEFAULT_DEMO_DIR), args),
    }
}

fn append(dir: &std::path::Path, args: &AppendArgs) -> Result<ExitCode> {
    let options = Options {
        durability: args.durability,
        max_line_bytes: usize::try_from(args.max_line_bytes)?,
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
                eprintln!("actlog: appended {n} records");
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
            serde_json::from_str(details).context("--details is not valid JSON")?;
        activity = activity.with_details(value).context("--details")?;
    }
    if let Some(ip) = &args.ip {
        activity = activity.with_ip(parse_ip(ip).context("--ip")?);
    }
    if let Some(ua) = &args.user_agent {
        activity = activity.with_user_agent(ua.as_str());
    }
    if let Some(at) = &args.at {
        activity = activity.at(parse_timestamp(at).context("--at")?);
    }
    let stamp = writer.append(&activity)?;
    writer.close()?;
    let mut line = Vec::new();
    activity.write_json(stamp.id, stamp.timestamp, &mut line);
    line.push(b'\n');
    print_ignoring_closed_pipe(&line)?;
    Ok(ExitCode::SUCCESS)
}

fn run_demo(dir: &std::path::Path, args: &DemoArgs) -> Result<ExitCode> {
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
    print_ignoring_closed_pipe(out.as_bytes())?;
    let healthy = report.bad_lines == 0 && report.ids_unique && report.order_kept;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Prints to stdout; a reader that went away (`| head`) is not an error.
fn print_ignoring_closed_pipe(bytes: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("writing to standard output")?),
    }
}
