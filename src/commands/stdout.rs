//! Standard output, and the one rule for writing to it: a reader that went away
//! (`actlog query | head`) ends the command quietly with success; any other write error
//! is an error.

use anyhow::{Result, anyhow};
use std::io::{self, Write};

/// How writing to standard output went, once the broken-pipe rule is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Everything was written.
    All,
    /// The reader closed the pipe: stop, and exit 0.
    ReaderGone,
}

/// Applies the rule to the first write error of a command, if any.
pub fn settle(error: Option<io::Error>) -> Result<Written> {
    match error {
        None => Ok(Written::All),
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Written::ReaderGone),
        Some(e) => Err(anyhow!(e).context("writing to standard output")),
    }
}

/// Writes `bytes` to standard output and flushes, under the rule.
pub fn write(bytes: &[u8]) -> Result<Written> {
    settle(write_raw(bytes).err())
}

/// Writes and flushes, reporting the error as it is.
pub fn write_raw(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
