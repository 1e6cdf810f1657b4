//! `actlog probe`: exit 0 when the sidecar on loopback answers its health (or readiness)
//! check, 1 with the reason on one line when it does not.

use actlog::cli::ProbeArgs;
use actlog::timeexpr::parse_interval;
use anyhow::{Result, anyhow};
use std::process::ExitCode;

/// Probes the sidecar `args` names.
pub fn probe(args: &ProbeArgs) -> Result<ExitCode> {
    let timeout = parse_interval(&args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            anyhow!(
                "--timeout {:?}: expected a positive interval such as 2s or 500ms",
                args.timeout
            )
        })?;
    match actlog::probe::probe(args.listen, args.ready, timeout) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            let what = if args.ready {
                "not ready"
            } else {
                "not healthy"
            };
            eprintln!("actlog: probe: {what}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
