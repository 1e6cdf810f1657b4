//! Exports to a byte stream (standard output) for people who load data themselves:
//! CSV (RFC 4180, with a header), JSON Lines (the stored lines exactly) or `COPY` text
//! (what `COPY … FROM STDIN` and psql's `\copy` take, with `client_encoding` UTF8).

use crate::error::ExportError;
use crate::progress::Mark;
use crate::row::{COLUMNS, Row};
use crate::target::Target;
use actlog_core::record::Record;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::io::Write;

/// The formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV: a header of the column names, fields quoted where needed, CRLF-free
    /// (`\n` line ends, which RFC 4180 readers take); an absent field is empty.
    Csv,
    /// The stored lines, unchanged.
    Jsonl,
    /// PostgreSQL `COPY` text format, the columns of [`COLUMNS`].
    PgCopy,
}

/// A stream target: every selected record, no progress kept.
pub struct Stream<W: Write> {
    format: Format,
    csv: Option<csv::Writer<W>>,
    out: Option<W>,
    buf: Vec<u8>,
    pending: usize,
}

impl<W: Write> Stream<W> {
    /// Writes `format` to `out` (the CSV header at once).
    pub fn new(format: Format, out: W) -> Result<Stream<W>, ExportError> {
        let mut s = Stream {
            format,
            csv: None,
            out: None,
            buf: Vec::with_capacity(1 << 16),
            pending: 0,
        };
        if format == Format::Csv {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(out);
            w.write_record(COLUMNS).map_err(csv_error)?;
            s.csv = Some(w);
        } else {
            s.out = Some(out);
        }
        Ok(s)
    }

    /// The stream, flushed.
    pub fn into_inner(mut self) -> Result<W, ExportError> {
        self.commit(&[])?;
        match (self.csv.take(), self.out.take()) {
            (Some(w), _) => w
                .into_inner()
                .map_err(|e| ExportError::Output(std::io::Error::other(e.to_string()))),
            (None, Some(w)) => Ok(w),
            (None, None) => Err(ExportError::Output(std::io::Error::other("no stream"))),
        }
    }
}

fn csv_error(e: csv::Error) -> ExportError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => ExportError::Output(e),
        other => ExportError::Output(std::io::Error::other(format!("{other:?}"))),
    }
}

impl<W: Write> Target for Stream<W> {
    fn saved(&mut self) -> Result<HashMap<NaiveDate, Mark>, ExportError> {
        Ok(HashMap::new())
    }

    fn add(&mut self, line: &[u8], record: &Record) -> Result<(), ExportError> {
        self.pending += 1;
        match self.format {
            Format::Jsonl => {
                self.buf.extend_from_slice(line);
                self.buf.push(b'\n');
            }
            Format::PgCopy => Row::new(line, record).write_copy(&mut self.buf),
            Format::Csv => {
                let row = Row::new(line, record);
                let id = row.id_text();
                let mut fields = row.fields();
                fields[0] = Some(&id);
                if let Some(w) = &mut self.csv {
                    w.write_record(fields.iter().map(|f| f.unwrap_or("")))
                        .map_err(csv_error)?;
                }
            }
        }
        if self.buf.len() >= 1 << 16 {
            self.commit(&[])?;
        }
        Ok(())
    }

    fn pending(&self) -> usize {
        self.pending
    }

    fn finish(&mut self) -> Result<u64, ExportError> {
        self.commit(&[])
    }

    fn commit(&mut self, _: &[(NaiveDate, Mark)]) -> Result<u64, ExportError> {
        let n = std::mem::take(&mut self.pending) as u64;
        if let Some(w) = &mut self.csv {
            w.flush().map_err(ExportError::Output)?;
        }
        if let Some(out) = &mut self.out {
            out.write_all(&self.buf).map_err(ExportError::Output)?;
            self.buf.clear();
            out.flush().map_err(ExportError::Output)?;
        }
        Ok(n)
    }
}
