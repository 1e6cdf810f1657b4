//! Printing records: JSON Lines exactly as stored, an aligned coloured view, a table,
//! CSV; and counts. Every text field shown to a terminal is neutralised first.

use crate::record::{Record, format_timestamp};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// How records are printed (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON Lines, exactly the stored lines.
    Json,
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

/// Shows `s` safe for a terminal: control characters (C0, DEL, C1, so also ESC),
/// U+2028/U+2029 and bidirectional overrides are written as escapes, so no field can
/// forge a line or drive the terminal.
pub fn neutralise(s: &str) -> Cow<'_, str> {
    let dangerous = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if dangerous(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{1b}' => out.push_str("\\e"),
                c => {
                    let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
                }
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

const COLUMNS: [&str; 6] = ["TIMESTAMP", "USER", "ACTION", "IP", "DETAILS", "USER AGENT"];

/// A record's cells for the pretty and table views, neutralised.
fn cells(r: &Record) -> [String; 6] {
    let details = r
        .details
        .as_ref()
        .map(|d| serde_json::Value::Object(d.clone()).to_string())
        .unwrap_or_default();
    [
        format_timestamp(r.timestamp),
        neutralise(&r.username).into_owned(),
        neutralise(&r.action).into_owned(),
        r.ip_address.map(|ip| ip.to_string()).unwrap_or_default(),
        neutralise(&details).into_owned(),
        neutralise(r.user_agent.as_deref().unwrap_or("")).into_owned(),
    ]
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
    header_done: bool,
    table_rows: Vec<[String; 6]>,
    widths: Option<[usize; 6]>,
}

/// One CSV record (RFC 4180 quoting), with its line ending. On a terminal each field is
/// neutralised first: CSV is data for programs, but shown on a screen it must not be able
/// to drive the terminal.
fn csv_line(fields: &[&str], terminal: bool) -> io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if terminal {
        w.write_record(fields.iter().map(|f| neutralise(f).into_owned()))?;
    } else {
        w.write_record(fields)?;
    }
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

    /// Prints one record, given its stored line.
    pub fn record(&mut self, line: &[u8], r: &Record) -> io::Result<()> {
        match self.format {
            Format::Json => {
                self.out.write_all(line)?;
                self.out.write_all(b"\n")
            }
            Format::Pretty => {
                let c = cells(r);
                let mut s = String::with_capacity(256);
                let paint = |s: &mut String, code: &str, text: &str, width: usize, color: bool| {
                    let pad = width.saturating_sub(text.chars().count());
                    if color && !text.is_empty() {
                        let _ = write!(s, "\x1b[{code}m{text}\x1b[0m");
                    } else {
                        s.push_str(text);
                    }
                    s.extend(std::iter::repeat_n(' ', pad));
                };
                paint(&mut s, "2", &c[0], 25, self.color);
                paint(&mut s, "1;36", &c[1], 13, self.color);
                paint(&mut s, "32", &c[2], 21, self.color);
                paint(&mut s, "33", &c[3], 16, self.color);
                paint(&mut s, "0", &c[4], 0, false);
                if !c[5].is_empty() {
                    s.push_str("  ");
                    paint(&mut s, "2", &c[5], 0, self.color);
                }
                writeln!(self.out, "{}", s.trim_end())
            }
            Format::Table => {
                self.table_rows.push(cells(r));
                if self.widths.is_some() || self.table_rows.len() >= TABLE_SAMPLE {
                    self.flush_table()?;
                }
                Ok(())
            }
            Format::Csv => {
                let details = r
                    .details
                    .as_ref()
                    .map(|d| serde_json::Value::Object(d.clone()).to_string())
                    .unwrap_or_default();
                let ip = r.ip_address.map(|ip| ip.to_string()).unwrap_or_default();
                let id = r.id.to_string();
                let ts = format_timestamp(r.timestamp);
                if !self.header_done {
                    self.header_done = true;
                    self.out
                        .write_all(&csv_line(&crate::record::FIELDS, false)?)?;
                }
                let fields = [
                    id.as_str(),
                    &ts,
                    &r.username,
                    &r.action,
                    &details,
                    &ip,
                    r.user_agent.as_deref().unwrap_or(""),
                ];
                self.out.write_all(&csv_line(&fields, self.terminal)?)
            }
        }
    }

    fn flush_table(&mut self) -> io::Result<()> {
        let widths = match self.widths {
            Some(w) => w,
            None => {
                let mut w = COLUMNS.map(str::len);
                for row in &self.table_rows {
                    for (i, cell) in row.iter().enumerate() {
                        w[i] = w[i].max(cell.chars().count());
                    }
                }
                self.widths = Some(w);
                let header = COLUMNS.map(str::to_owned);
                self.write_row(&header, &w)?;
                w
            }
        };
        for row in std::mem::take(&mut self.table_rows) {
            self.write_row(&row, &widths)?;
        }
        Ok(())
    }

    fn write_row(&mut self, row: &[String; 6], widths: &[usize; 6]) -> io::Result<()> {
        let mut s = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            s.push_str(cell);
            if i + 1 < row.len() {
                s.extend(std::iter::repeat_n(
                    ' ',
                    widths[i].saturating_sub(cell.chars().count()),
                ));
            }
        }
        writeln!(self.out, "{}", s.trim_end())
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
            Format::Csv => out.write_all(&csv_line(
                &[value.as_deref().unwrap_or(""), &n.to_string()],
                terminal,
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
