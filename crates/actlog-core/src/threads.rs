//! The one thread policy for reading: how many threads a query, `stats` or `verify` may
//! use, decided here and nowhere else.

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// Most threads `ACTLOG_THREADS` may ask for.
pub const MAX_THREADS: usize = 64;
/// Threads used when `ACTLOG_THREADS` is not set: one per core, at most this many.
pub const DEFAULT_MAX: usize = 4;

/// `ACTLOG_THREADS` when set (1 to [`MAX_THREADS`]; 1 reads on the calling thread only,
/// starting no thread at all), else one per core, at most [`DEFAULT_MAX`]. Anything else
/// in `ACTLOG_THREADS` is an error, never silently ignored; set but empty is unset, as
/// for every `ACTLOG_` variable. The variable is read once per process.
pub fn threads() -> Result<usize> {
    static POLICY: OnceLock<Result<usize, String>> = OnceLock::new();
    POLICY
        .get_or_init(|| match std::env::var_os("ACTLOG_THREADS") {
            Some(raw) if !raw.is_empty() => {
                let text = raw.to_string_lossy();
                match text.trim().parse::<usize>() {
                    Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
                    _ => Err(text.into_owned()),
                }
            }
            _ => Ok(std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(DEFAULT_MAX)),
        })
        .clone()
        .map_err(|value| Error::Threads {
            value,
            max: MAX_THREADS,
        })
}
