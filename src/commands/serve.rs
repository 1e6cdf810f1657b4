//! `actlog serve`: the HTTP sidecar, started from its flags.

use actlog::cli::ServeArgs;
use actlog::timeexpr::parse_interval;
use actlog::{Options, Store};
use anyhow::{Result, anyhow};
use std::path::Path;
use std::process::ExitCode;

/// Serves `dir` until SIGTERM or SIGINT; warns when it listens beyond loopback unguarded.
pub fn serve(dir: &Path, args: &ServeArgs, quiet: bool) -> Result<ExitCode> {
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
    if let (Some(path), Some(token), false) = (&args.token_file, &token, quiet) {
        warn_weak_token(path, token);
    }
    if !quiet && !args.listen.ip().is_loopback() && token.is_none() {
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
        dedupe_window: args.dedupe_window,
        ui: !args.no_ui,
    };
    actlog::serve::run(&store, &options, |addr| {
        eprintln!("actlog: serving {} on http://{addr}", dir.display());
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Shortest token not warned about: 32 bytes, as `openssl rand -hex 16` gives.
const MIN_TOKEN_BYTES: usize = 32;

/// Warns about a token others may read or guess; the server still starts.
fn warn_weak_token(path: &Path, token: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o044 != 0 {
            eprintln!(
                "actlog: warning: token file {} is readable by group or others (mode {mode:04o}); chmod 600 it",
                path.display()
            );
        }
    }
    if token.len() < MIN_TOKEN_BYTES {
        eprintln!(
            "actlog: warning: the token in {} is {} bytes, shorter than {MIN_TOKEN_BYTES}; use a long random one (openssl rand -hex 32)",
            path.display(),
            token.len()
        );
    }
}
