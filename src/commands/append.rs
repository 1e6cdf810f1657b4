//! `actlog append`: one record from flags, or many from standard input (`append -`).

use super::stdout;
use super::time_flag;
use actlog::cli::AppendArgs;
use actlog::record::parse_ip;
use actlog::{Activity, Options, Store, Writer, ingest};
use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use std::io;
use std::path::Path;
use std::process::ExitCode;

/// Appends, then prints the stored line (one record) or a summary on stderr (`-`).
pub fn append(dir: &Path, args: &AppendArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let options = Options {
        durability: args.durability.into(),
        max_line_bytes: usize::try_from(args.max_line_bytes)?,
        max_future_skew: args.max_future_skew,
        ..Options::default()
    };
    let store = Store::open(dir, options)?;
    let writer = store.writer();
    if args.stdin.is_some() {
        return from_stdin(writer, args);
    }
    let activity = from_flags(args, now)?;
    let stamp = writer.append(&activity)?;
    writer.close()?;
    let mut line = Vec::new();
    activity.write_json(stamp.id, stamp.timestamp, &mut line);
    line.push(b'\n');
    stdout::write(&line)?;
    Ok(ExitCode::SUCCESS)
}

/// `append -`: every line of standard input; on a bad line, says exactly what was
/// written and where to resume.
fn from_stdin(writer: Writer, args: &AppendArgs) -> Result<ExitCode> {
    // Input may carry whitespace the stored line does not; the stored line's own limit
    // is checked by the writer.
    let max_input = usize::try_from(args.max_line_bytes)?.saturating_mul(2);
    let result = ingest::append_lines(io::stdin().lock(), &writer, args.batch as usize, max_input);
    let closed = writer.close();
    match (result, closed) {
        (Ok(n), Ok(())) => {
            eprintln!(
                "actlog: appended {}",
                super::count_of(n as u64, "record", "records")
            );
            Ok(ExitCode::SUCCESS)
        }
        (Ok(n), Err(e)) => Err(anyhow!(e).context(format!(
            "{} accepted, but some were not written",
            super::count_of(n as u64, "record", "records")
        ))),
        (Err(stop), _) => {
            eprintln!("actlog: standard input {stop}");
            eprintln!(
                "actlog: {} written, from the input lines before line {}; rerun from line {}",
                super::count_of(stop.written as u64, "record", "records"),
                stop.line,
                stop.line
            );
            Ok(ExitCode::from(2))
        }
    }
}

/// The record `--user`, `--action`, `--details`, `--ip`, `--user-agent` and `--at` give.
fn from_flags(args: &AppendArgs, now: DateTime<Utc>) -> Result<Activity> {
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
    Ok(activity)
}
