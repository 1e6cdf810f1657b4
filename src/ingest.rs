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
        // Room for the limit plus `\r\n`: the line ending does not count against it.
        let limit = (max_input_bytes as u64).saturating_add(2);
        let n = (&mut input)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| ingest.stop(line_no, read_error(e)))?;
        if n == 0 {
            break;
        }
        let ended = buf.last() == Some(&b'\n');
        let mut line = buf.as_slice();
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > max_input_bytes {
            let how = if ended { "" } else { "; not read further" };
            let too_long = ValidationError::new(
                "line",
                format!(
                    "longer than {max_input_bytes} bytes (twice the line limit, room for whitespace a stored line drops){how}"
                ),
            );
            return Err(ingest.stop(line_no, too_long.into()));
        }
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
    /// Writes the pending batch. When the writer refuses one of its records, the records
    /// before it are written first, so the error's line is the first one not stored.
    fn write(&mut self) -> Result<(), IngestError> {
        let result = self.write_prefix(self.pending.len());
        self.pending.clear();
        self.lines.clear();
        result
    }

    /// Writes the first `count` pending records, then any refusal among them.
    fn write_prefix(&mut self, count: usize) -> Result<(), IngestError> {
        let mut count = count.min(self.pending.len());
        // The refusal to report once the records before it are stored.
        let mut refused: Option<(usize, Error)> = None;
        loop {
            if count == 0 {
                break;
            }
            match self.append(&self.pending[..count]) {
                Ok(()) => {
                    self.written += count;
                    break;
                }
                Err(Error::InvalidAt { index, source }) if index < count => {
                    // Nothing of this attempt was written: retry with the records before
                    // the refused one. The earliest refusal is the one to report.
                    refused = Some((index, *source));
                    count = index;
                }
                Err(error) => {
                    let stored = error.written().min(count);
                    self.written += stored;
                    let error = match error {
                        Error::Partial { source, .. } => *source,
                        other => other,
                    };
                    return Err(self.at(stored, error));
                }
            }
        }
        match refused {
            Some((index, error)) => Err(self.at(index, error)),
            None => Ok(()),
        }
    }

    /// Appends `batch` so that, whatever the durability, it is written (or has failed)
    /// when this returns: only then is the count of records written exact.
    fn append(&self, batch: &[Activity]) -> Result<(), Error> {
        self.writer.append_batch_now(batch)
    }

    /// The error for pending record `index`.
    fn at(&self, index: usize, error: Error) -> IngestError {
        IngestError {
            line: self.lines.get(index).copied().unwrap_or(0),
            written: self.written,
            error,
        }
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
    Error::Stdin { source: e }
}
