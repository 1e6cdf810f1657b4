//! Printing records: JSON Lines exactly as stored, an aligned coloured view, a table,
//! CSV; and counts. Every text field shown to a terminal is neutralised first.

use crate::record::{Record, format_timestamp};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

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

const COLUMNS: [&str; 7] = [
    "TIMESTAMP",
    "USER",
    "ACTION",
    "IP",
    "DETAILS",
    "USER AGENT",
    "OTHER FIELDS",
];

/// Columns a terminal shows for `s`: wide characters count two, combining and other
/// zero-width characters none (after [`neutralise`], no control character is left).
pub fn display_width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns, ending in `…` when anything was cut.
pub fn cut_to_width(s: &str, max: usize) -> Cow<'_, str> {
    if display_width(s) <= max {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(cut_with_ellipsis(s, max))
    }
}

/// The longest prefix of `s` narrower than `max` columns, then `…` (nothing if `max` is 0).
fn cut_with_ellipsis(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    // A prefix's width is not always the sum of its characters' widths (emoji sequences),
    // so prefixes are measured whole; the search is binary as values can be megabytes.
    let fits = |end: usize| display_width(&s[..end]) < max;
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let (mut lo, mut hi) = (0usize, bounds.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(bounds[mid]) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    // Widths are not monotonic over prefixes; step back until the prefix really fits.
    while lo > 0 && !fits(bounds[lo]) {
        lo -= 1;
    }
    format!("{}…", &s[..bounds[lo]])
}

/// The record's fields that CONTRACT section 2 does not name, as `key=value` pairs
/// (strings bare unless they hold a space, `=`, `"` or nothing; other values as JSON),
/// neutralised.
fn extra_text(r: &Record) -> String {
    let mut out = String::new();
    for (key, value) in &r.extra {
        if !out.is_empty() {
            out.push(' ');
        }
        let shown = match value {
            serde_json::Value::String(s)
                if !s.is_empty()
                    && !s.contains(|c: char| c.is_whitespace() || c == '=' || c == '"') =>
            {
                s.clone()
            }
            other => other.to_string(),
        };
        let _ = write!(out, "{}={}", neutralise(key), neutralise(&shown));
    }
    out
}

/// A record's cells for the pretty and table views, neutralised.
fn cells(r: &Record) -> [String; 7] {
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
        extra_text(r),
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
    /// Columns of the terminal: pretty and table lines are cut to it.
    max_width: Option<usize>,
    /// `--csv-raw`: CSV cells exactly as stored.
    csv_raw: bool,
    header_done: bool,
    table_rows: Vec<[String; 7]>,
    widths: Option<[usize; 7]>,
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

/// The CSV header: the contract's fields, then `extra` (the other fields as one JSON object).
const CSV_HEADER: [&str; 8] = [
    crate::record::FIELDS[0],
    crate::record::FIELDS[1],
    crate::record::FIELDS[2],
    crate::record::FIELDS[3],
    crate::record::FIELDS[4],
    crate::record::FIELDS[5],
    crate::record::FIELDS[6],
    "extra",
];

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

    /// Prints one record, given its stored line.
    pub fn record(&mut self, line: &[u8], r: &Record) -> io::Result<()> {
        match self.format {
            Format::Json => {
                self.out.write_all(line)?;
                self.out.write_all(b"\n")
            }
            Format::Pretty => {
                let c = cells(r);
                // (colour, text, column width): a value at or over its width is still
                // followed by one space, so columns never run together.
                let mut parts: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(14);
                for (i, (code, width)) in [("2", 25usize), ("1;36", 13), ("32", 21), ("33", 16)]
                    .into_iter()
                    .enumerate()
                {
                    let pad = width.saturating_sub(display_width(&c[i])).max(1);
                    parts.push((code, Cow::Borrowed(c[i].as_str())));
                    parts.push(("", Cow::Owned(" ".repeat(pad))));
                }
                parts.push(("", Cow::Borrowed(c[4].as_str())));
                for (code, text) in [("2", &c[5]), ("35", &c[6])] {
                    if !text.is_empty() {
                        parts.push(("", Cow::Borrowed("  ")));
                        parts.push((code, Cow::Borrowed(text.as_str())));
                    }
                }
                while parts.last().is_some_and(|p| p.1.trim().is_empty()) {
                    parts.pop();
                }
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
                let extra = if r.extra.is_empty() {
                    String::new()
                } else {
                    serde_json::Value::Object(r.extra.clone()).to_string()
                };
                if !self.header_done {
                    self.header_done = true;
                    self.out.write_all(&csv_line(&CSV_HEADER, false, true)?)?;
                }
                let fields = [
                    id.as_str(),
                    &ts,
                    &r.username,
                    &r.action,
                    &details,
                    &ip,
                    r.user_agent.as_deref().unwrap_or(""),
                    &extra,
                ];
                self.out
                    .write_all(&csv_line(&fields, self.terminal, self.csv_raw)?)
            }
        }
    }

    fn flush_table(&mut self) -> io::Result<()> {
        let widths = match self.widths {
            Some(w) => w,
            None => {
                let mut w = COLUMNS.map(display_width);
                for row in &self.table_rows {
                    for (i, cell) in row.iter().enumerate() {
                        w[i] = w[i].max(display_width(cell));
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

    fn write_row(&mut self, row: &[String; 7], widths: &[usize; 7]) -> io::Result<()> {
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
            Some(max) => writeln!(self.out, "{}", cut_to_width(s, max)),
            None => writeln!(self.out, "{s}"),
        }
    }

    /// Prints what is still buffered (a short table) and flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Table && (!self.table_rows.is_empty() || self.widths.is_none()) {
            self.flush_table()?;
        }
        self.out.flush()
    }
}

/// Coloured parts of a line cut to `max` columns in all, the last one kept ending in `…`.
fn cut_parts<'a>(
    parts: Vec<(&'a str, Cow<'a, str>)>,
    max: Option<usize>,
) -> Vec<(&'a str, Cow<'a, str>)> {
    let Some(max) = max else {
        return parts;
    };
    let mut used = 0;
    let mut out = Vec::with_capacity(parts.len());
    let total: usize = parts.iter().map(|p| display_width(&p.1)).sum();
    if total <= max {
        return parts;
    }
    for (code, text) in parts {
        let w = display_width(&text);
        // Room for the `…` is kept: the line is known to be too long.
        if used + w < max {
            used += w;
            out.push((code, text));
        } else {
            out.push((code, Cow::Owned(cut_with_ellipsis(&text, max - used))));
            break;
        }
    }
    out
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
