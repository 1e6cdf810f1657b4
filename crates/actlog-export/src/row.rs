//! A record as the row PostgreSQL stores, and that row as `COPY` text or CSV fields.
//!
//! Columns, in order: `id`, `timestamp`, `username`, `action`, `details`, `ip_address`,
//! `user_agent`, `raw` ([`COLUMNS`]). Two things PostgreSQL cannot hold are changed in the
//! typed columns only, never in `raw`: the character U+0000 (no `text` or `jsonb` value
//! may contain it) becomes U+FFFD, and a number in `details` beyond `numeric`'s range
//! (more than 131,072 digits before the point or 16,383 after) becomes a JSON string of
//! its text. Timestamps keep microseconds, PostgreSQL's precision (finer digits are cut,
//! so no record moves to another day); the address is the canonical one filters compare.

use actlog_core::record::Record;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Map, Value};
use std::borrow::Cow;
use uuid::Uuid;

/// The columns a row fills, in order.
pub const COLUMNS: [&str; 8] = [
    "id",
    "timestamp",
    "username",
    "action",
    "details",
    "ip_address",
    "user_agent",
    "raw",
];

/// One record's row.
#[derive(Debug)]
pub struct Row<'a> {
    /// The record's id.
    pub id: Uuid,
    /// `timestamptz` input text.
    pub timestamp: String,
    /// `username`, U+0000 replaced.
    pub username: Cow<'a, str>,
    /// `action`, U+0000 replaced.
    pub action: Cow<'a, str>,
    /// `details` as `jsonb` input text.
    pub details: Option<String>,
    /// The canonical address.
    pub ip_address: Option<String>,
    /// `user_agent`, U+0000 replaced.
    pub user_agent: Option<Cow<'a, str>>,
    /// The stored line, unchanged.
    pub raw: Cow<'a, str>,
}

impl<'a> Row<'a> {
    /// The row of `record`, whose stored line is `line` (without its newline).
    pub fn new(line: &'a [u8], record: &'a Record) -> Row<'a> {
        Row {
            id: record.id,
            timestamp: timestamp_text(record.timestamp),
            username: no_nul(&record.username),
            action: no_nul(&record.action),
            details: record.details.as_ref().map(details_text),
            ip_address: record.ip_address.map(|ip| ip.to_canonical().to_string()),
            user_agent: record.user_agent.as_deref().map(no_nul),
            // A record's line parsed, so it is UTF-8.
            raw: String::from_utf8_lossy(line),
        }
    }

    /// The fields in [`COLUMNS`] order, `None` for SQL NULL.
    pub fn fields(&self) -> [Option<&str>; 8] {
        [
            None,
            Some(&self.timestamp),
            Some(&self.username),
            Some(&self.action),
            self.details.as_deref(),
            self.ip_address.as_deref(),
            self.user_agent.as_deref(),
            Some(&self.raw),
        ]
    }

    /// Appends the row as one line of `COPY … FROM STDIN` text format (tab-separated,
    /// `\N` for NULL, backslash, newline, carriage return and tab escaped).
    pub fn write_copy(&self, out: &mut Vec<u8>) {
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        out.extend_from_slice(self.id.hyphenated().encode_lower(&mut id).as_bytes());
        for field in &self.fields()[1..] {
            out.push(b'\t');
            match field {
                None => out.extend_from_slice(b"\\N"),
                Some(text) => copy_escape(text.as_bytes(), out),
            }
        }
        out.push(b'\n');
    }

    /// The id as text (the first CSV field).
    pub fn id_text(&self) -> String {
        self.id.hyphenated().to_string()
    }
}

/// Appends `bytes` escaped for `COPY` text format.
fn copy_escape(bytes: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn no_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// `timestamptz` input: ISO 8601 in UTC with microseconds; year 0000 (ISO's 1 BC) as
/// PostgreSQL writes it, `0001-… BC`.
pub fn timestamp_text(t: DateTime<Utc>) -> String {
    let (year, era) = match t.year() {
        y if y >= 1 => (y, ""),
        y => (1 - y, " BC"),
    };
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z{era}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        // A leap second's nanoseconds run past 10^9; keep within the second.
        (t.nanosecond() / 1000).min(999_999)
    )
}

/// `details` as `jsonb` input: the object as stored (numbers as written, keys in order),
/// with what `jsonb` cannot hold replaced.
fn details_text(details: &Map<String, Value>) -> String {
    let mut fits = true;
    check_value_map(details, &mut fits);
    let text = if fits {
        serde_json::to_string(details)
    } else {
        let mut copy = details.clone();
        fix_map(&mut copy);
        serde_json::to_string(&copy)
    };
    // Serializing a map of JSON values into a string cannot fail.
    text.unwrap_or_default()
}

fn check_value_map(m: &Map<String, Value>, fits: &mut bool) {
    for (k, v) in m {
        if k.contains('\0') {
            *fits = false;
        }
        check_value(v, fits);
    }
}

fn check_value(v: &Value, fits: &mut bool) {
    match v {
        Value::String(s) if s.contains('\0') => *fits = false,
        Value::Number(n) if !numeric_fits(&n.to_string()) => *fits = false,
        Value::Array(a) => a.iter().for_each(|v| check_value(v, fits)),
        Value::Object(m) => check_value_map(m, fits),
        _ => {}
    }
}

fn fix_map(m: &mut Map<String, Value>) {
    let old = std::mem::take(m);
    for (k, mut v) in old {
        fix_value(&mut v);
        m.insert(no_nul(&k).into_owned(), v);
    }
}

fn fix_value(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Number(n) => {
            let text = n.to_string();
            if !numeric_fits(&text) {
                *v = Value::String(text);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(fix_value),
        Value::Object(m) => fix_map(m),
        _ => {}
    }
}

/// Digits PostgreSQL's `numeric` holds before the decimal point, and after it.
const NUMERIC_INT_DIGITS: i64 = 131_072;
const NUMERIC_SCALE: i64 = 16_383;

/// Whether a JSON number's text fits `numeric` (as `jsonb` stores numbers).
fn numeric_fits(text: &str) -> bool {
    let body = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => match body[i + 1..].parse::<i64>() {
            Ok(e) => (&body[..i], e),
            // An exponent past i64: nothing PostgreSQL takes.
            Err(_) => return false,
        },
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int_digits = int.trim_start_matches('0').len() as i64;
    let frac_digits = frac.len() as i64;
    let before = int_digits.saturating_add(exponent);
    let after = frac_digits.saturating_sub(exponent);
    before <= NUMERIC_INT_DIGITS && after <= NUMERIC_SCALE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_exactly_what_copy_reads_specially() {
        let mut out = Vec::new();
        copy_escape("a\\b\tc\nd\re\u{2028}\u{1}\"".as_bytes(), &mut out);
        assert_eq!(out, "a\\\\b\\tc\\nd\\re\u{2028}\u{1}\"".as_bytes());
    }

    #[test]
    fn numbers_fit_numeric_up_to_its_limits() {
        for ok in [
            "0",
            "-0",
            "1.50",
            "1e2",
            "100000000000000000001",
            "1e131071",
            "1e-16383",
            "0.5e1",
        ] {
            assert!(numeric_fits(ok), "{ok}");
        }
        for bad in [
            "1e131072",
            "1e-16384",
            "1e99999999999999999999",
            "0.1e-16383",
        ] {
            assert!(!numeric_fits(bad), "{bad}");
        }
    }

    #[test]
    fn year_zero_is_one_bc() {
        let t = DateTime::parse_from_rfc3339("0000-03-01T00:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp_text(t), "0001-03-01T00:00:00.123456Z BC");
    }
}
