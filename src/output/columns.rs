//! What a printed record shows: its columns (the default set, or `--fields`), each
//! cell's text, the zone timestamps are shown in, and the objects `-o json --fields`
//! prints.

use crate::filter::{descend_value, field_value, value_text};
use crate::record::{Field, Record, format_timestamp, parse_json};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// The zone pretty and table output show timestamps in (`--local`, `-Z`). JSON and CSV
/// are data and stay in UTC as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Zone {
    /// UTC, written as stored: `2026-11-24T13:45:12.123Z`.
    #[default]
    Utc,
    /// This machine's zone (`TZ`, else `/etc/localtime`), with its offset.
    Local,
    /// An IANA zone, with its offset: `2026-11-24T14:45:12.123+01:00`.
    Named(chrono_tz::Tz),
}

/// Timestamps in another zone carry their offset (RFC 3339), so no reader can take them
/// for UTC, which alone ends in `Z`.
const WITH_OFFSET: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";

impl Zone {
    /// `ts` as shown in this zone.
    pub fn show(self, ts: DateTime<Utc>) -> String {
        match self {
            Zone::Utc => format_timestamp(ts),
            Zone::Local => ts
                .with_timezone(&chrono::Local)
                .format(WITH_OFFSET)
                .to_string(),
            Zone::Named(tz) => ts.with_timezone(&tz).format(WITH_OFFSET).to_string(),
        }
    }

    /// The zone's name for a table header: `UTC`, `local` or the IANA name.
    pub fn label(self) -> &'static str {
        match self {
            Zone::Utc => "UTC",
            Zone::Local => "local",
            Zone::Named(tz) => tz.name(),
        }
    }

    /// Columns a shown timestamp takes: 24 in UTC, 29 with an offset.
    fn width(self) -> usize {
        if self == Zone::Utc { 24 } else { 29 }
    }
}

/// Parses `-Z/--timezone`: an IANA name such as `Europe/Berlin`, or `UTC`.
pub fn parse_zone(text: &str) -> Result<Zone, String> {
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(Zone::Utc);
    }
    text.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
        "unknown time zone: give an IANA name such as Europe/Berlin, America/New_York or UTC"
            .to_owned()
    })
}

/// One column of pretty, table and CSV output.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    /// A field by dotted path (`username`, `details.reportId`, an unknown field).
    Path(Vec<String>),
    /// Every field CONTRACT section 2 does not name, as `key=value` pairs.
    Other,
}

/// The columns a printer shows: the default set (every field) or those `--fields` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    columns: Vec<Column>,
    /// Chosen with `--fields`: JSON output picks these fields, CSV heads them by path.
    chosen: bool,
}

impl Default for Columns {
    fn default() -> Self {
        Columns::fields_then_other(&[
            Field::Timestamp,
            Field::Username,
            Field::Action,
            Field::IpAddress,
            Field::Details,
            Field::UserAgent,
        ])
    }
}

impl Columns {
    /// CSV's default set: every field of CONTRACT section 2 in stored order, then `extra`.
    pub fn csv_default() -> Columns {
        Columns::fields_then_other(&Field::ALL)
    }

    /// A default set: these fields, then the fields the contract does not name.
    fn fields_then_other(fields: &[Field]) -> Columns {
        let columns = fields
            .iter()
            .map(|f| Column::Path(vec![f.name().to_owned()]))
            .chain([Column::Other])
            .collect();
        Columns {
            columns,
            chosen: false,
        }
    }
}

/// How a column looks in pretty output: its colour and the width it is padded to.
struct Style {
    colour: &'static str,
    pad: Option<usize>,
}

impl Columns {
    /// Parses `--fields`: comma-separated names in the order to show them; top-level
    /// fields, dotted paths into `details` or unknown fields (objects by key, arrays by
    /// index).
    pub fn parse(list: &str) -> Result<Columns, String> {
        let mut columns = Vec::new();
        for field in list.split(',') {
            let field = field.trim();
            if field.is_empty() {
                return Err(
                    "an empty field name (write e.g. --fields timestamp,username,details.reportId)"
                        .into(),
                );
            }
            let path: Vec<String> = field.split('.').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                return Err(format!(
                    "{field:?} has an empty part (write e.g. details.reportId)"
                ));
            }
            columns.push(Column::Path(path));
        }
        if columns.is_empty() {
            return Err("no field named".into());
        }
        Ok(Columns {
            columns,
            chosen: true,
        })
    }

    /// Whether `--fields` chose them (JSON output then prints only these fields).
    pub fn is_chosen(&self) -> bool {
        self.chosen
    }

    /// How many columns there are.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are none (never: parsing refuses an empty list).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Table headers: the contract's field names in capitals for the default set, the
    /// paths as written for chosen fields; the timestamp's names its zone.
    pub fn headers(&self, zone: Zone) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| {
                let name = match c {
                    Column::Other => "OTHER FIELDS".to_owned(),
                    Column::Path(p) if self.chosen => p.join("."),
                    Column::Path(p) => match Field::named(&p[0]) {
                        Some(Field::Username) => "USER".to_owned(),
                        Some(Field::IpAddress) => "IP".to_owned(),
                        _ => p.join(".").replace('_', " ").to_uppercase(),
                    },
                };
                if is_timestamp(c) {
                    format!("{name} ({})", zone.label())
                } else {
                    name
                }
            })
            .collect()
    }

    /// CSV headers: the paths as written; for the default set the contract's fields and
    /// `extra` (the other fields as one JSON object).
    pub fn csv_headers(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| match c {
                Column::Other => "extra".to_owned(),
                Column::Path(p) => p.join("."),
            })
            .collect()
    }

    /// A record's cells as text, not yet neutralised: strings as they are, other values
    /// as compact JSON, a missing field empty; the timestamp shown in `zone`.
    pub fn cells(&self, r: &Record, zone: Zone) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| match c {
                Column::Other => extra_text(r),
                Column::Path(_) if is_timestamp(c) => zone.show(r.timestamp),
                Column::Path(p) => field_value(r, p)
                    .map(|v| value_text(&v))
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// CSV cells: as [`Columns::cells`], in UTC, with `extra` as one JSON object.
    pub fn csv_cells(&self, r: &Record) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| match c {
                Column::Other if r.extra.is_empty() => String::new(),
                Column::Other => Value::Object(r.extra.clone()).to_string(),
                Column::Path(p) => field_value(r, p)
                    .map(|v| value_text(&v))
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Pretty output's colour and padding per column: the four short fields padded so
    /// that they align, the others as long as they are.
    fn styles(&self, zone: Zone) -> Vec<Style> {
        self.columns
            .iter()
            .map(|c| {
                let (colour, pad) = match c {
                    Column::Other => ("35", None),
                    Column::Path(p) if p.len() > 1 => ("", None),
                    Column::Path(p) => match Field::named(&p[0]) {
                        Some(Field::Timestamp) => ("2", Some(zone.width() + 1)),
                        Some(Field::Username) => ("1;36", Some(13)),
                        Some(Field::Action) => ("32", Some(21)),
                        Some(Field::IpAddress) => ("33", Some(16)),
                        Some(Field::UserAgent) => ("2", None),
                        _ => ("", None),
                    },
                };
                Style { colour, pad }
            })
            .collect()
    }

    /// The parts of one pretty line, (colour, text): padded columns are followed by
    /// spaces up to their width (at least one, so columns never run together); the
    /// others by two spaces, and left out when empty (but for the first).
    pub fn pretty_parts(&self, cells: Vec<String>, zone: Zone) -> Vec<(&'static str, String)> {
        let styles = self.styles(zone);
        let last = cells.len().saturating_sub(1);
        let mut parts: Vec<(&'static str, String)> = Vec::with_capacity(cells.len() * 2);
        let mut after_unpadded = false;
        let mut seen_unpadded = false;
        for (i, (text, style)) in cells.into_iter().zip(styles).enumerate() {
            match style.pad {
                Some(width) if i < last => {
                    if after_unpadded {
                        parts.push(("", "  ".to_owned()));
                    }
                    let pad = width
                        .saturating_sub(super::text::display_width(&text))
                        .max(1);
                    parts.push((style.colour, text));
                    parts.push(("", " ".repeat(pad)));
                    after_unpadded = false;
                }
                _ => {
                    // The first unpadded column keeps its place even when empty, so
                    // what follows it starts at the same column on every line.
                    if text.is_empty() && seen_unpadded {
                        continue;
                    }
                    if after_unpadded {
                        parts.push(("", "  ".to_owned()));
                    }
                    parts.push((style.colour, text));
                    after_unpadded = true;
                    seen_unpadded = true;
                }
            }
        }
        while parts.last().is_some_and(|p| p.1.trim().is_empty()) {
            parts.pop();
        }
        parts
    }

    /// `-o json --fields`: the stored line's object with only the chosen fields, nested
    /// as stored (`details.reportId` gives `{"details":{"reportId":…}}`), in the order
    /// named; values exactly as stored (numbers, the address's spelling); a field the
    /// record lacks is left out. An array element comes out keyed by its index.
    pub fn pick(&self, stored: &Value) -> Value {
        let mut out = Map::new();
        for c in &self.columns {
            if let Column::Path(p) = c
                && let Some(v) = descend_value(stored, p)
            {
                insert(&mut out, p, v.clone());
            }
        }
        Value::Object(out)
    }
}

/// The stored line as a JSON value, numbers and key order exactly as written.
pub fn stored_value(line: &[u8]) -> Option<Value> {
    parse_json(std::str::from_utf8(line).ok()?).ok()
}

fn is_timestamp(c: &Column) -> bool {
    matches!(c, Column::Path(p) if p.len() == 1 && p[0] == Field::Timestamp.name())
}

/// Puts `v` at `path` in `out`, making the objects on the way; a whole object already
/// there (`details` named before `details.reportId`) already holds it.
fn insert(out: &mut Map<String, Value>, path: &[String], v: Value) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        out.insert(head.clone(), v);
        return;
    }
    let slot = out
        .entry(head.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = slot {
        insert(inner, rest, v);
    }
}

/// The record's fields that CONTRACT section 2 does not name, as `key=value` pairs
/// (strings bare unless they hold a space, `=`, `"` or nothing; other values as JSON).
fn extra_text(r: &Record) -> String {
    let mut out = String::new();
    for (key, value) in &r.extra {
        if !out.is_empty() {
            out.push(' ');
        }
        let shown = match value {
            Value::String(s)
                if !s.is_empty()
                    && !s.contains(|c: char| c.is_whitespace() || c == '=' || c == '"') =>
            {
                s.clone()
            }
            other => other.to_string(),
        };
        let _ = write!(out, "{key}={shown}");
    }
    out
}
