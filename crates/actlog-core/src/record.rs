//! The activity record of CONTRACT section 2: what callers give ([`Activity`]), what is
//! stored ([`Record`]), validation of every field, and the one-line JSON encoding.

use crate::error::ValidationError;
use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::net::IpAddr;
use uuid::Uuid;

/// Longest `username` and `action`, in characters (the seed's `VARCHAR(255)`).
pub const MAX_NAME_CHARS: usize = 255;
/// Longest textual `ip_address` accepted (the seed's `VARCHAR(45)`).
pub const MAX_IP_CHARS: usize = 45;
/// The one line limit: the longest record line (bytes, without its newline) any writer
/// may be configured to accept, and so the longest line every reader reads.
pub const MAX_LINE_LIMIT: usize = 16 << 20;
/// A field of a record (CONTRACT section 2): the one table of their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `id`, a UUID.
    Id,
    /// `timestamp`, UTC with milliseconds.
    Timestamp,
    /// `username`.
    Username,
    /// `action`.
    Action,
    /// `details`, an object (optional).
    Details,
    /// `ip_address` (optional).
    IpAddress,
    /// `user_agent` (optional).
    UserAgent,
}

impl Field {
    /// Every field, in stored order.
    pub const ALL: [Field; 7] = [
        Field::Id,
        Field::Timestamp,
        Field::Username,
        Field::Action,
        Field::Details,
        Field::IpAddress,
        Field::UserAgent,
    ];

    /// The field's name in a stored line.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Timestamp => "timestamp",
            Field::Username => "username",
            Field::Action => "action",
            Field::Details => "details",
            Field::IpAddress => "ip_address",
            Field::UserAgent => "user_agent",
        }
    }

    /// The field named `name`; `None` for a name the format does not define.
    pub fn named(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The names of a record's fields, in stored order.
pub const FIELDS: [&str; 7] = [
    Field::Id.name(),
    Field::Timestamp.name(),
    Field::Username.name(),
    Field::Action.name(),
    Field::Details.name(),
    Field::IpAddress.name(),
    Field::UserAgent.name(),
];

/// One activity as a caller gives it: `id` and `timestamp` are filled in by the writer
/// when absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Caller-chosen id; the writer makes a UUIDv7 when `None`.
    pub id: Option<Uuid>,
    /// When it happened; the writer stamps the current time when `None`.
    pub timestamp: Option<DateTime<Utc>>,
    /// Who did it (1–255 characters).
    pub username: String,
    /// What was done (1–255 characters), by convention dotted: `report.view`.
    pub action: String,
    /// Free-form details; always a JSON object.
    pub details: Option<Map<String, Value>>,
    /// The client's address.
    pub ip_address: Option<IpAddr>,
    /// The client's user agent.
    pub user_agent: Option<String>,
}

impl Activity {
    /// An activity with only the required fields.
    pub fn new(username: impl Into<String>, action: impl Into<String>) -> Self {
        Activity {
            id: None,
            timestamp: None,
            username: username.into(),
            action: action.into(),
            details: None,
            ip_address: None,
            user_agent: None,
        }
    }

    /// Sets `details`; fails unless `details` is a JSON object.
    pub fn with_details(mut self, details: Value) -> Result<Self, ValidationError> {
        self.details = details_from(details)?;
        Ok(self)
    }

    /// Sets `ip_address`, in canonical form (see [`canonical_ip`]).
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip_address = Some(canonical_ip(ip));
        self
    }

    /// Sets `user_agent`.
    pub fn with_user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Sets `timestamp`.
    pub fn at(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Parses one JSON object as given to `actlog append -` or the HTTP API.
    ///
    /// Unknown fields are refused (a typo such as `user` for `username` must not
    /// silently drop data); `null` counts as absent for the optional fields.
    pub fn from_json(line: &[u8]) -> Result<Self, ValidationError> {
        let mut map = parse_object(line)?;
        // A JSON object read into a map keeps one value per key; a record given with a
        // key twice would be stored changed, so it is refused. Counting keys in the text
        // is cheap; only when the map holds fewer is the text walked again for the name.
        if let Ok(text) = std::str::from_utf8(line)
            && text_keys(text) != map_keys(&map)
        {
            check_unique_keys(text)?;
        }
        if let Some(field) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ValidationError::new(
                field.clone(),
                format!("unknown field; a record has only {}", FIELDS.join(", ")),
            ));
        }
        let activity = take_fields(&mut map)?;
        activity.validate()?;
        Ok(activity)
    }

    /// Checks every rule of CONTRACT section 2 that the types do not already enforce.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_name("username", &self.username)?;
        check_name("action", &self.action)?;
        if let Some(ts) = self.timestamp {
            check_timestamp(ts)?;
        }
        Ok(())
    }

    /// Appends the JSON line (without newline) this activity is stored as, given the id
    /// and timestamp the writer assigned.
    pub fn write_json(&self, id: Uuid, timestamp: DateTime<Utc>, out: &mut Vec<u8>) {
        let empty = Map::new();
        encode(
            Line {
                id: &id,
                timestamp: TimestampText::new(timestamp),
                username: &self.username,
                action: &self.action,
                details: self.details.as_ref(),
                // The field is public, so a caller may have set a non-canonical address.
                ip_address: self.ip_address.map(canonical_ip),
                user_agent: self.user_agent.as_deref(),
                extra: &empty,
            },
            out,
        );
    }

    /// Completes the activity into a record, filling `id` and `timestamp` where absent and
    /// cutting the timestamp to milliseconds, the stored precision.
    pub fn into_record(self, now: DateTime<Utc>, new_id: impl FnOnce() -> Uuid) -> Record {
        Record {
            id: self.id.unwrap_or_else(new_id),
            timestamp: self.timestamp.unwrap_or(now).trunc_subsecs(3),
            username: self.username,
            action: self.action,
            details: self.details,
            ip_address: self.ip_address.map(canonical_ip),
            user_agent: self.user_agent,
            extra: Map::new(),
        }
    }
}

/// One stored record: every field known, plus any fields a newer writer added.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unique, time-ordered id (UUIDv7 when the writer made it).
    pub id: Uuid,
    /// When it happened, UTC, millisecond precision.
    pub timestamp: DateTime<Utc>,
    /// Who did it.
    pub username: String,
    /// What was done.
    pub action: String,
    /// Free-form details.
    pub details: Option<Map<String, Value>>,
    /// The client's address.
    pub ip_address: Option<IpAddr>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// Fields this version does not know, kept in order so they are printed back unchanged.
    pub extra: Map<String, Value>,
}

/// The wire shape of a line: field order is the struct order.
#[derive(Serialize)]
struct Line<'a> {
    id: &'a Uuid,
    timestamp: TimestampText,
    username: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl Record {
    /// The UTC day this record belongs to, which names its file.
    pub fn day(&self) -> NaiveDate {
        self.timestamp.date_naive()
    }

    /// Appends the record's JSON line (without the newline) to `out`.
    ///
    /// U+2028, U+2029 and U+0085 are written as `\u` escapes: JavaScript and Python's
    /// `splitlines` treat them as line breaks, and a record must never split.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        encode(
            Line {
                id: &self.id,
                timestamp: TimestampText::new(self.timestamp),
                username: &self.username,
                action: &self.action,
                details: self.details.as_ref(),
                ip_address: self.ip_address.map(canonical_ip),
                user_agent: self.user_agent.as_deref(),
                extra: &self.extra,
            },
            out,
        );
    }

    /// The record's JSON line, without the newline.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        // serde_json only emits UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Parses one stored line (without its newline). Fields this version does not know
    /// are kept in [`Record::extra`].
    pub fn parse_line(line: &[u8]) -> Result<Self, LineError> {
        let mut map = parse_object(line)?;
        let activity = take_fields(&mut map)?;
        activity.validate()?;
        let id = activity
            .id
            .ok_or_else(|| ValidationError::new("id", "missing"))?;
        let timestamp = activity
            .timestamp
            .ok_or_else(|| ValidationError::new("timestamp", "missing"))?;
        Ok(Record {
            id,
            timestamp,
            username: activity.username,
            action: activity.action,
            details: activity.details,
            ip_address: activity.ip_address,
            user_agent: activity.user_agent,
            extra: map,
        })
    }
}

/// Appends `line` as compact JSON, with the characters that other languages' line
/// splitters treat as line breaks (U+0085, U+2028, U+2029) escaped, so a record never
/// splits in JavaScript or Python's `splitlines`.
fn encode(line: Line<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    // Writing into a Vec cannot fail and every key is a string: an error here would be a
    // bug in serde_json, not something input can cause.
    if let Err(e) = serde_json::to_writer(&mut *out, &line) {
        unreachable!("serializing a record into memory failed: {e}");
    }
    escape_line_breakers(out, start);
}

/// A stored line parsed only as far as filters and counts need: strings borrowed from
/// the line, `details` left as raw JSON. Valid exactly when [`Record::parse_line`] would
/// accept the line, except for rare lines this leaves to it (duplicate keys, `\u`
/// surrogate escapes, nesting past the parser's limit).
#[derive(Debug)]
pub struct LiteRecord<'a> {
    /// `username`.
    pub username: std::borrow::Cow<'a, str>,
    /// `action`.
    pub action: std::borrow::Cow<'a, str>,
    /// `timestamp`, parsed.
    pub timestamp: DateTime<Utc>,
    /// `ip_address`, parsed.
    pub ip_address: Option<IpAddr>,
    /// `user_agent`.
    pub user_agent: Option<std::borrow::Cow<'a, str>>,
    /// `id`, as stored.
    pub id: std::borrow::Cow<'a, str>,
    /// `details`, as raw JSON (an object).
    pub details: Option<&'a serde_json::value::RawValue>,
}

/// The nesting (objects and arrays, the line's own object included) at which serde_json
/// refuses to build a value, and so the full parse refuses a line.
const MAX_DEPTH: usize = 128;

/// Whether valid JSON `line` holds a `\u` escape of a UTF-16 surrogate.
fn has_surrogate_escape(line: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = line.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let i = at + i;
        if line.get(i + 1) == Some(&b'u')
            && matches!(line.get(i + 2), Some(b'd' | b'D'))
            && matches!(
                line.get(i + 3),
                Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
            )
        {
            return true;
        }
        // Past the escaped character, so `\\ud800` (a backslash, then text) is no escape.
        at = i + 2;
    }
    false
}

/// How deep objects and arrays nest in `line`, outside strings.
fn nesting(line: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string) = (0usize, 0usize, false);
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        match (in_string, b) {
            (true, b'\\') => i += 1,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

#[derive(serde::Deserialize)]
struct LiteFields<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    timestamp: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    username: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    action: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    details: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    ip_address: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    user_agent: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> LiteRecord<'a> {
    /// Parses and validates a stored line; `None` when it is not a valid record or is one
    /// of the rare lines left to [`Record::parse_line`] (call it to learn which).
    pub fn parse(line: &'a [u8]) -> Option<LiteRecord<'a>> {
        // One UTF-8 check of the whole line is cheaper than serde_json's per string.
        let text = std::str::from_utf8(line).ok()?;
        // serde_json skips ignored and raw values without pairing `\u` surrogate escapes
        // or limiting how deep they nest, both of which the full parse checks; such lines
        // (rare, and never written by actlog) are left to it.
        if has_surrogate_escape(line)
            || (memchr::memchr2_iter(b'{', b'[', line)
                .nth(MAX_DEPTH - 1)
                .is_some()
                && nesting(line) >= MAX_DEPTH)
        {
            return None;
        }
        let f: LiteFields<'a> = serde_json::from_str(text).ok()?;
        Uuid::parse_str(&f.id).ok()?;
        let timestamp = parse_timestamp(&f.timestamp).ok()?;
        check_name("username", &f.username).ok()?;
        check_name("action", &f.action).ok()?;
        if let Some(d) = f.details
            && !d.get().starts_with('{')
            && d.get() != "null"
        {
            return None;
        }
        let details = f.details.filter(|d| d.get() != "null");
        let ip_address = match f.ip_address {
            Some(ip) => Some(parse_ip(&ip).ok()?),
            None => None,
        };
        Some(LiteRecord {
            username: f.username,
            action: f.action,
            timestamp,
            ip_address,
            user_agent: f.user_agent,
            id: f.id,
            details,
        })
    }
}

/// RFC 3339, UTC, milliseconds, `Z`: the only timestamp form actlog writes.
pub fn format_timestamp(ts: DateTime<Utc>) -> String {
    TimestampText::new(ts).as_str().to_owned()
}

/// A timestamp's stored text, built without the formatting machinery: it is written
/// once per record, on the append hot path.
enum TimestampText {
    Fast([u8; 24]),
    Other(String),
}

impl TimestampText {
    fn new(ts: DateTime<Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        // Fields from the naive UTC value: `DateTime`'s own accessors add a zero offset
        // on every call.
        let ts = ts.naive_utc();
        let year = ts.year();
        if !(0..=9999).contains(&year) {
            return TimestampText::Other(ts.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        // chrono keeps a leap second as nanoseconds past 1e9.
        let nanos = ts.nanosecond();
        let (second, millis) = if nanos >= 1_000_000_000 {
            (60, (nanos - 1_000_000_000) / 1_000_000)
        } else {
            (ts.second(), nanos / 1_000_000)
        };
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, ts.month());
        put(8, 2, ts.day());
        put(11, 2, ts.hour());
        put(14, 2, ts.minute());
        put(17, 2, second);
        put(20, 3, millis.min(999));
        TimestampText::Fast(b)
    }

    fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators were written.
            TimestampText::Fast(b) => std::str::from_utf8(b).unwrap_or_default(),
            TimestampText::Other(s) => s,
        }
    }
}

impl Serialize for TimestampText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn parse_object(line: &[u8]) -> Result<Map<String, Value>, LineError> {
    let text = std::str::from_utf8(line).map_err(|e| LineError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    match parse_json(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(LineError::NotObject { kind: kind(&other) }),
        Err(e) => Err(LineError::InvalidJson {
            ends_early: e.is_eof(),
            message: e.to_string(),
        }),
    }
}

/// Why a line is not a record, told apart where the line is parsed, so that a reader
/// names the damage (torn, invalid UTF-8 …) without reading an error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The bytes are not UTF-8.
    #[error("field `line`: not valid UTF-8 (bad byte at offset {offset})")]
    InvalidUtf8 {
        /// Where the first bad byte is.
        offset: usize,
    },
    /// The text is not JSON.
    #[error("field `line`: not valid JSON: {message}")]
    InvalidJson {
        /// serde_json's description, with the column.
        message: String,
        /// The text ends before the JSON does: the mark of a line cut short (torn).
        ends_early: bool,
    },
    /// The JSON is not an object.
    #[error("field `line`: expected a JSON object, got {kind}")]
    NotObject {
        /// What it is instead (`an array`, `a number` …).
        kind: &'static str,
    },
    /// An object that breaks the schema of CONTRACT section 2.
    #[error(transparent)]
    Schema(#[from] ValidationError),
}

impl From<LineError> for ValidationError {
    fn from(e: LineError) -> ValidationError {
        match e {
            LineError::Schema(v) => v,
            LineError::InvalidUtf8 { offset } => ValidationError::new(
                "line",
                format!("not valid UTF-8 (bad byte at offset {offset})"),
            ),
            LineError::InvalidJson { message, .. } => {
                ValidationError::new("line", format!("not valid JSON: {message}"))
            }
            LineError::NotObject { kind } => {
                ValidationError::new("line", format!("expected a JSON object, got {kind}"))
            }
        }
    }
}

/// Refuses JSON text in which one object names a key twice (`{"n":1,"n":2}`): parsed into
/// a map, all but the last value would be dropped without a word. The error names the
/// key.
pub fn check_unique_keys(text: &str) -> Result<(), ValidationError> {
    match serde_json::from_str::<UniqueKeys>(text) {
        Ok(UniqueKeys) => Ok(()),
        Err(e) => match e.to_string().split_once(DUPLICATE) {
            Some((_, rest)) => {
                let key = rest.split(" at line ").next().unwrap_or(rest);
                Err(ValidationError::new(
                    key.to_owned(),
                    "given twice in one object; a record keeps each key once",
                ))
            }
            // Not JSON at all: the caller's own parse says so.
            None => Ok(()),
        },
    }
}

/// How many object keys valid JSON `text` names (a string followed by `:`).
fn text_keys(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut i, mut keys) = (0, 0);
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        i += 1;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b':') {
            keys += 1;
        }
    }
    keys
}

/// How many keys `map` and the objects inside it hold.
fn map_keys(map: &Map<String, Value>) -> usize {
    fn value_keys(v: &Value) -> usize {
        match v {
            Value::Object(m) => map_keys(m),
            Value::Array(a) => a.iter().map(value_keys).sum(),
            _ => 0,
        }
    }
    map.len() + map.values().map(value_keys).sum::<usize>()
}

/// Marks the key in [`UniqueKeys`]' error, so the key can be told from other errors.
const DUPLICATE: &str = "duplicate key: ";

/// Walks any JSON value, failing on the first object with a key twice.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<UniqueKeys, A::Error> {
        while a.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = a.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            a.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// Parses JSON text into a [`Value`] whose numbers keep their spelling as given (`1e2`,
/// `1.50`, `-0`, `100000000000000000001`), so no record's value or spelling changes on
/// the way through the writer.
///
/// serde_json (with `arbitrary_precision`) keeps every digit but writes an exponent as
/// `e+`/`e-`; a value with an exponent is rebuilt from the text itself.
pub fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
    let value: Value = serde_json::from_str(text)?;
    if !has_exponent(&value) {
        return Ok(value);
    }
    // The text is valid JSON now, which the scanner relies on; should it still fail, the
    // value serde_json read is the best there is.
    let mut scan = Verbatim { text, at: 0 };
    Ok(scan.value().unwrap_or(value))
}

fn has_exponent(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_str().contains('e'),
        Value::Array(a) => a.iter().any(has_exponent),
        Value::Object(m) => m.values().any(has_exponent),
        _ => false,
    }
}

/// A reader of JSON text already known to be valid, building values token by token.
struct Verbatim<'a> {
    text: &'a str,
    at: usize,
}

impl Verbatim<'_> {
    fn peek(&mut self) -> Option<u8> {
        let b = self.text.as_bytes();
        while let Some(&c) = b.get(self.at) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(c);
            }
            self.at += 1;
        }
        None
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'{' => {
                self.at += 1;
                let mut map = Map::new();
                if self.eat(b'}').is_some() {
                    return Some(Value::Object(map));
                }
                loop {
                    let key = self.string()?;
                    self.eat(b':')?;
                    // As serde_json: a repeated key keeps its first place, its last value.
                    map.insert(key, self.value()?);
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(Value::Object(map));
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(Value::Array(items));
                    }
                }
            }
            b'"' => self.string().map(Value::String),
            b't' => self.word("true", Value::Bool(true)),
            b'f' => self.word("false", Value::Bool(false)),
            b'n' => self.word("null", Value::Null),
            _ => {
                let rest = &self.text.as_bytes()[self.at..];
                let len = rest
                    .iter()
                    .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                let token = self.text.get(self.at..self.at + len)?;
                self.at += len;
                if len == 0 {
                    return None;
                }
                // Kept exactly as written. serde_json validated the token; its own
                // parse would rewrite `1e2` as `1e+2`.
                Some(Value::Number(serde_json::Number::from_string_unchecked(
                    token.to_owned(),
                )))
            }
        }
    }

    fn word(&mut self, word: &str, v: Value) -> Option<Value> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            v
        })
    }

    fn string(&mut self) -> Option<String> {
        self.peek()?;
        let b = self.text.as_bytes();
        let start = self.at;
        if b.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        loop {
            match b.get(i)? {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        serde_json::from_str(self.text.get(start..=i)?).ok()
    }
}

/// Removes the known fields from `map`, checking each one's type.
fn take_fields(map: &mut Map<String, Value>) -> Result<Activity, ValidationError> {
    let id = match map.shift_remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            Uuid::parse_str(&s)
                .map_err(|e| ValidationError::new("id", format!("{s:?} is not a UUID ({e})")))?,
        ),
        Some(other) => return Err(wrong_type("id", "a UUID string", &other)),
    };
    let timestamp = match map.shift_remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_timestamp(&s)?),
        Some(other) => return Err(wrong_type("timestamp", "an RFC 3339 string", &other)),
    };
    let username = required_string(map, "username")?;
    let action = required_string(map, "action")?;
    let details = match map.shift_remove("details") {
        None => None,
        Some(v) => details_from(v)?,
    };
    let ip_address = match map.shift_remove("ip_address") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_ip(&s)?),
        Some(other) => return Err(wrong_type("ip_address", "a string", &other)),
    };
    let user_agent = match map.shift_remove("user_agent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(wrong_type("user_agent", "a string", &other)),
    };
    Ok(Activity {
        id,
        timestamp,
        username,
        action,
        details,
        ip_address,
        user_agent,
    })
}

fn required_string(map: &mut Map<String, Value>, field: &str) -> Result<String, ValidationError> {
    match map.shift_remove(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ValidationError::new(field, "missing (it is required)")),
        Some(other) => Err(wrong_type(field, "a string", &other)),
    }
}

fn details_from(v: Value) -> Result<Option<Map<String, Value>>, ValidationError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(wrong_type("details", "a JSON object", &other)),
    }
}

/// Parses an RFC 3339 timestamp with `Z` or an offset into UTC.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, ValidationError> {
    let ts = DateTime::parse_from_rfc3339(s)
        .map_err(|e| {
            ValidationError::new(
                "timestamp",
                format!("{s:?} is not RFC 3339 with Z or an offset ({e})"),
            )
        })?
        .with_timezone(&Utc);
    check_timestamp(ts)?;
    Ok(ts)
}

/// The canonical form of an address, the one actlog stores and compares: an IPv4-mapped
/// IPv6 address (`::ffff:203.0.113.7`, how Node.js reports an IPv4 client on a
/// dual-stack socket) becomes the IPv4 address it maps, so IPv4 filters find it. Every
/// other address is kept; its text form is RFC 5952 (lower case, shortest).
pub fn canonical_ip(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

/// Parses an IPv4 or IPv6 address in its usual text form, into canonical form
/// ([`canonical_ip`]).
pub fn parse_ip(s: &str) -> Result<IpAddr, ValidationError> {
    if s.chars().count() > MAX_IP_CHARS {
        return Err(ValidationError::new(
            "ip_address",
            format!("longer than {MAX_IP_CHARS} characters"),
        ));
    }
    s.parse::<IpAddr>().map(canonical_ip).map_err(|_| {
        ValidationError::new(
            "ip_address",
            format!("{s:?} is not a valid IPv4 or IPv6 address"),
        )
    })
}

fn check_name(field: &str, value: &str) -> Result<(), ValidationError> {
    let n = value.chars().count();
    if n == 0 {
        return Err(ValidationError::new(
            field,
            "is empty (1 to 255 characters)",
        ));
    }
    if n > MAX_NAME_CHARS {
        return Err(ValidationError::new(
            field,
            format!("is {n} characters long (at most {MAX_NAME_CHARS})"),
        ));
    }
    Ok(())
}

fn check_timestamp(ts: DateTime<Utc>) -> Result<(), ValidationError> {
    // File names carry a four-digit year.
    let year = chrono::Datelike::year(&ts);
    if !(0..=9999).contains(&year) {
        return Err(ValidationError::new(
            "timestamp",
            format!("year {year} is outside 0000–9999"),
        ));
    }
    Ok(())
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> ValidationError {
    ValidationError::new(field, format!("must be {expected}, got {}", kind(got)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Rewrites U+0085, U+2028 and U+2029 in `line` as `\u` escapes. Valid JSON holds them
/// only inside strings, so rewriting every occurrence keeps the JSON equal.
fn escape_line_breakers(line: &mut Vec<u8>, from: usize) {
    // U+0085 is C2 85; U+2028/U+2029 are E2 80 A8/A9.
    let Some(first) = memchr::memchr2(0xC2, 0xE2, &line[from..]) else {
        return;
    };
    let start = from + first;
    let tail = line.split_off(start);
    let mut i = 0;
    while i < tail.len() {
        let escaped: Option<&[u8]> = match &tail[i..] {
            [0xC2, 0x85, ..] => Some(b"\\u0085"),
            [0xE2, 0x80, 0xA8, ..] => Some(b"\\u2028"),
            [0xE2, 0x80, 0xA9, ..] => Some(b"\\u2029"),
            _ => None,
        };
        match escaped {
            Some(e) => {
                line.extend_from_slice(e);
                i += if tail[i] == 0xC2 { 2 } else { 3 };
            }
            None => {
                line.push(tail[i]);
                i += 1;
            }
        }
    }
}
