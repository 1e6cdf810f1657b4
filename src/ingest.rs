//! `actlog append -`: JSON Lines from a reader, validated and appended in batches, with
//! an exact account of what was stored when something goes wrong.

use crate::error::{Error, ValidationError};
use crate::record::Activity;
use crate::writer::Writer;
use std::io::{self, BufRead, Read};

/// Why an ingest run stopped early. Input lines before `line` are stored (exactly
/// `written` records); `line` and everything after it are not, so rerunning from `line`
/// neither loses nor repeats a record.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct IngestError {
    /// The input line at fault, counted from 1 (blank lines count).
    pub line: usize,
    /// Records stored before the run stopped.
    pub written: usize,
    /// What went wrong.
    #[source]
    pub error: Error,
}

/// Reads JSON Lines from `input` and appends them in batches of `batch` records.
///
/// Blank lines are skipped; a trailing `\r` is ignored. An input line longer than
/// `max_input_bytes` stops the run without being read into memory whole.
pub fn append_lines(
    input: impl BufRead,
    writer: &Writer,
    batch: usize,
    max_input_bytes: usize,
) -> Result<usize, IngestError> {
    let mut ingest = Ingest {
        writer,
        written: 0,
        pending: Vec::with_capacity(batch),
        lines: Vec::with_capacity(batch),
    };
    let batch = batch.max(1);
    let mut input = input;
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        line_no += 1;
        let limit = max_input_bytes as u64 + 1;
        let n = (&mut input)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| ingest.stop(line_no, read_error(e)))?;
        if n == 0 {
            break;
        }
        if buf.len() > max_input_bytes && buf.last() != Some(&b'\n') {
            let too_long = ValidationError::new(
                "line",
                format!("longer than {max_input_bytes} bytes; not read further"),
            );
            return Err(ingest.stop(line_no, too_long.into()));
        }
        let mut line = buf.as_slice();
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match Activity::from_json(line) {
            Ok(activity) => {
                ingest.pending.push(activity);
                ingest.lines.push(line_no);
            }
            Err(invalid) => return Err(ingest.stop(line_no, invalid.into())),
        }
        if ingest.pending.len() >= batch {
            ingest.write()?;
        }
    }
    ingest.write()?;
    Ok(ingest.written)
}

struct Ingest<'w> {
    writer: &'w Writer,
    written: usize,
    pending: Vec<Activity>,
    /// Input line number of each pending record.
    lines: Vec<usize>,
}

impl Ingest<'_> {
    /// Writes the pending batch.
    fn write(&mut self) -> Result<(), IngestError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = self.writer.append_batch(&self.pending);
        let outcome = match result {
            Ok(_) => {
                self.written += self.pending.len();
                Ok(())
            }
            Err(error) => {
                let stored = error.written();
                self.written += stored;
                let index = match &error {
                    Error::InvalidAt { index, .. } => *index,
                    _ => stored,
                };
                let line = self.lines.get(index).copied().unwrap_or(0);
                let error = match error {
                    Error::InvalidAt { source, .. } => *source,
                    Error::Partial { source, .. } => *source,
                    other => other,
                };
                Err(IngestError {
                    line,
                    written: self.written,
                    error,
                })
            }
        };
        self.pending.clear();
        self.lines.clear();
        outcome
    }

    /// Writes the valid records before `line`, then reports `error` at `line`.
    fn stop(&mut self, line: usize, error: Error) -> IngestError {
        match self.write() {
            Ok(()) => IngestError {
                line,
                written: self.written,
                error,
            },
            Err(earlier) => earlier,
        }
    }
}

fn read_error(e: io::Error) -> Error {
    Error::io("<standard input>", "read", e)
}
