//! Printing records: JSON Lines exactly as stored (or just the chosen fields), pretty
//! JSON, an aligned coloured view, a table, CSV; and counts. Every text field shown to a
//! terminal is neutralised first.

mod columns;
mod text;

pub use columns::{Columns, Zone, parse_zone};
pub use text::{cut_to_width, display_width, neutralise};

use crate::record::Record;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use text::{cut_parts, cut_to_width as cut};

/// How records are printed (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON Lines, exactly the stored lines (with --fields: objects of just those fields).
    Json,
    /// Indented JSON, one object after another, for reading.
    JsonPretty,
    /// Aligned, coloured columns for people.
    Pretty,
    /// A table with a header.
    Table,
    /// CSV (RFC 4180) with a header.
    Csv,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether stdout is a terminal and the environment.
    pub fn enabled(self, is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
            }
        }
    }
}

/// Rows buffered to size the table's columns before the first is printed.
const TABLE_SAMPLE: usize = 500;

/// Prints records one at a time in the chosen format.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    color: bool,
    /// Output goes to a terminal: CSV fields are neutralised too.
    terminal: bool,
    /// Columns of the terminal: pretty and table lines are cut to it.
    max_width: Option<usize>,
    /// `--csv-raw`: CSV cells exactly as stored.
    csv_raw: bool,
    columns: Columns,
    /// CSV's columns when `--fields` chose none: every field, not the pretty set.
    csv_columns: Columns,
    zone: Zone,
    header_done: bool,
    table_rows: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
}

/// Whether a spreadsheet would read a cell starting so as a formula (OWASP CSV injection).
fn formula_leading(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// One CSV record (RFC 4180 quoting), with its line ending. Unless `raw`, each cell a
/// spreadsheet would run as a formula gets a leading `'` (as OWASP recommends) and control
/// characters, U+2028/U+2029 and bidi overrides are escaped as on a terminal. On a
/// terminal they are always escaped: shown on a screen, CSV must not drive the terminal.
fn csv_line(fields: &[&str], terminal: bool, raw: bool) -> io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields.iter().map(|f| {
        let mut cell = String::with_capacity(f.len() + 1);
        if !raw && formula_leading(f) {
            cell.push('\'');
        }
        if !raw || terminal {
            cell.push_str(&neutralise(f));
        } else {
            cell.push_str(f);
        }
        cell
    }))?;
    w.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, format: Format, color: bool) -> Self {
        Printer {
            out,
            format,
            color,
            terminal: false,
            max_width: None,
            csv_raw: false,
            columns: Columns::default(),
            csv_columns: Columns::csv_default(),
            zone: Zone::Utc,
            header_done: false,
            table_rows: Vec::new(),
            widths: None,
        }
    }

    /// Marks the output as a terminal (CSV is then neutralised like the other formats).
    pub fn on_terminal(mut self, terminal: bool) -> Self {
        self.terminal = terminal;
        self
    }

    /// Cuts pretty and table lines to `columns` (the terminal's width), ending in `…`.
    pub fn max_width(mut self, columns: Option<usize>) -> Self {
        self.max_width = columns.filter(|&c| c > 0);
        self
    }

    /// `--csv-raw`: CSV cells exactly as stored, no formula guard, no escapes (except on a
    /// terminal, where control characters are still escaped).
    pub fn csv_raw(mut self, raw: bool) -> Self {
        self.csv_raw = raw;
        self
    }

    /// `--fields`: what each record shows.
    pub fn columns(mut self, columns: Columns) -> Self {
        if columns.is_chosen() {
            self.csv_columns = columns.clone();
        }
        self.columns = columns;
        self
    }

    /// `--local`, `-Z`: the zone pretty and table output show timestamps in.
    pub fn zone(mut self, zone: Zone) -> Self {
        self.zone = zone;
        self
    }

    /// Whether records print as their stored lines, unchanged, so that stored lines can
    /// be printed without parsing them ([`Printer::lines`]).
    pub fn takes_lines(&self) -> bool {
        self.format == Format::Json && !self.columns.is_chosen()
    }

    /// Prints stored lines as they are, each ending with a newline (only when
    /// [`Printer::takes_lines`]: what [`Printer::record`] prints for each).
    pub fn lines(&mut self, block: &[u8]) -> io::Result<()> {
        self.out.write_all(block)
    }

    /// Prints one record, given its stored line.
    pub fn record(&mut self, line: &[u8], r: &Record) -> io::Result<()> {
        match self.format {
            Format::Json if !self.columns.is_chosen() => {
                self.out.write_all(line)?;
                self.out.write_all(b"\n")
            }
            Format::Json | Format::JsonPretty => {
                let value = self.json_value(line)?;
                let text = if self.format == Format::Json {
                    serde_json::to_string(&value)
                } else {
                    serde_json::to_string_pretty(&value)
                };
                let text = text.map_err(io::Error::other)?;
                self.out.write_all(text.as_bytes())?;
                self.out.write_all(b"\n")
            }
            Format::Pretty => {
                let cells = self.shown_cells(r);
                let parts: Vec<(&str, Cow<'_, str>)> = self
                    .columns
                    .pretty_parts(cells, self.zone)
                    .into_iter()
                    .map(|(code, text)| (code, Cow::Owned(text)))
                    .collect();
                let parts = cut_parts(parts, self.max_width);
                let mut s = String::with_capacity(256);
                for (code, text) in &parts {
                    if self.color && !code.is_empty() && !text.is_empty() {
                        let _ = write!(s, "\x1b[{code}m{text}\x1b[0m");
                    } else {
                        s.push_str(text);
                    }
                }
                writeln!(self.out, "{s}")
            }
            Format::Table => {
                let cells = self.shown_cells(r);
                self.table_rows.push(cells);
                if self.widths.is_some() || self.table_rows.len() >= TABLE_SAMPLE {
                    self.flush_table()?;
                }
                Ok(())
            }
            Format::Csv => {
                if !self.header_done {
                    self.header_done = true;
                    let header = self.csv_columns.csv_headers();
                    let header: Vec<&str> = header.iter().map(String::as_str).collect();
                    self.out.write_all(&csv_line(&header, false, true)?)?;
                }
                let cells = self.csv_columns.csv_cells(r);
                let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                self.out
                    .write_all(&csv_line(&cells, self.terminal, self.csv_raw)?)
            }
        }
    }

    /// The record's cells for pretty and table output, neutralised.
    fn shown_cells(&self, r: &Record) -> Vec<String> {
        self.columns
            .cells(r, self.zone)
            .into_iter()
            .map(|c| match neutralise(&c) {
                Cow::Borrowed(_) => c,
                Cow::Owned(escaped) => escaped,
            })
            .collect()
    }

    /// The JSON a record prints as: the stored line's object, or just the chosen fields.
    fn json_value(&self, line: &[u8]) -> io::Result<serde_json::Value> {
        // A line reaches a printer only once it parsed as a record, so it is JSON.
        let stored = columns::stored_value(line)
            .ok_or_else(|| io::Error::other("a printed line is not JSON"))?;
        Ok(if self.columns.is_chosen() {
            self.columns.pick(&stored)
        } else {
            stored
        })
    }

    fn flush_table(&mut self) -> io::Result<()> {
        let widths = match self.widths.take() {
            Some(w) => w,
            None => {
                let header = self.columns.headers(self.zone);
                let mut w: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
                for row in &self.table_rows {
                    for (i, cell) in row.iter().enumerate() {
                        w[i] = w[i].max(display_width(cell));
                    }
                }
                self.write_row(&header, &w)?;
                w
            }
        };
        for row in std::mem::take(&mut self.table_rows) {
            self.write_row(&row, &widths)?;
        }
        self.widths = Some(widths);
        Ok(())
    }

    fn write_row(&mut self, row: &[String], widths: &[usize]) -> io::Result<()> {
        let mut s = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            s.push_str(cell);
            if i + 1 < row.len() {
                s.extend(std::iter::repeat_n(
                    ' ',
                    widths[i].saturating_sub(display_width(cell)),
                ));
            }
        }
        let s = s.trim_end();
        match self.max_width {
            Some(max) => writeln!(self.out, "{}", cut(s, max)),
            None => writeln!(self.out, "{s}"),
        }
    }

    /// The writer, for closing what it writes to (a pager).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Prints what is still buffered (a short table) and flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Table && (!self.table_rows.is_empty() || self.widths.is_none()) {
            self.flush_table()?;
        }
        self.out.flush()
    }
}

/// Prints `--count-by` results, most frequent first (ties by value).
pub fn print_counts(
    out: &mut dyn Write,
    counts: Vec<(Option<String>, u64)>,
    format: Format,
    terminal: bool,
    csv_raw: bool,
) -> io::Result<()> {
    let mut counts = counts;
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let width = counts
        .iter()
        .map(|c| c.1.to_string().len())
        .max()
        .unwrap_or(1);
    for (value, n) in counts {
        match format {
            Format::Json => {
                let v = serde_json::json!({"value": value, "count": n});
                writeln!(out, "{v}")?;
            }
            Format::JsonPretty => {
                let v = serde_json::json!({"value": value, "count": n});
                let text = serde_json::to_string_pretty(&v).map_err(io::Error::other)?;
                writeln!(out, "{text}")?;
            }
            Format::Csv => out.write_all(&csv_line(
                &[value.as_deref().unwrap_or(""), &n.to_string()],
                terminal,
                csv_raw,
            )?)?,
            Format::Pretty | Format::Table => {
                let shown = value
                    .as_deref()
                    .map(neutralise)
                    .unwrap_or(Cow::Borrowed("(none)"));
                writeln!(out, "{n:>width$}  {shown}")?;
            }
        }
    }
    out.flush()
}
