//! The `actlog` command: parses arguments and dispatches to the command's module in
//! `commands/`; errors become one line on stderr and exit status 2.

mod commands;

use actlog::cli::Cli;
use clap::Parser;
use std::process::ExitCode;

/// Variables clap reads for flags; set but empty means unset (`ACTLOG_DIR= actlog query`
/// reads ./logs), as shells and container specs often leave them.
const FLAG_VARIABLES: [&str; 3] = ["ACTLOG_DIR", "ACTLOG_NOW", "ACTLOG_LISTEN"];

fn main() -> ExitCode {
    for name in FLAG_VARIABLES {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            // SAFETY: first thing in main, before any thread exists that could read the
            // environment. Removed (not just ignored) so `demo`'s writer processes agree.
            unsafe { std::env::remove_var(name) };
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match commands::dispatch(&cli) {
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
