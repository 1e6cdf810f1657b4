//! `actlog serve`: the HTTP sidecar, started from its flags.

use actlog::cli::ServeArgs;
use actlog::timeexpr::parse_interval;
use actlog::{Options, Store};
use anyhow::{Result, anyhow};
use std::path::Path;
use std::process::ExitCode;

/// Serves `dir` until SIGTERM or SIGINT; warns when it listens beyond loopback unguarded.
pub fn serve(dir: &Path, args: &ServeArgs) -> Result<ExitCode> {
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
            durability: args.durability.into(),
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
