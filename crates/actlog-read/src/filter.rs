//! Query filters of CONTRACT section 4, built once from the flags and applied to each
//! line: first cheap byte checks on the stored line, then the parsed record.

use crate::jsonscan;
use actlog_core::number::Decimal;
use actlog_core::record::{Field, LiteRecord, Record, canonical_ip, format_timestamp, parse_json};
use actlog_core::summary::{Summary, Values};
use actlog_core::timeexpr::parse_time;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use ipnet::{IpNet, Ipv4Net};
use memchr::memmem;
use regex::Regex;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::cmp::Ordering;
use std::net::IpAddr;

/// The filter flags as given on the command line (or the HTTP query string).
#[derive(Debug, Clone, Default)]
pub struct FilterSpec {
    /// `--since TIME` (inclusive).
    pub since: Option<String>,
    /// `--until TIME` (exclusive).
    pub until: Option<String>,
    /// `--user NAME`, any of them (exact, case-sensitive).
    pub users: Vec<String>,
    /// `--action GLOB`, any of them.
    pub actions: Vec<String>,
    /// `--ip ADDR-or-CIDR`, any of them.
    pub ips: Vec<String>,
    /// `--where 'FIELD OP VALUE'`, all of them.
    pub wheres: Vec<String>,
    /// `-g REGEX` on the stored line, all of them (none of them with `invert_grep`).
    pub greps: Vec<String>,
    /// `-i`: `-g`, `--user` and `--action` ignore case by Unicode simple case folding
    /// (the regex crate's `(?i)`), so `é` matches `É` and `σ` matches `Σ` and `ς`.
    pub ignore_case: bool,
    /// `-v`: a line must match none of the `-g` patterns (needs at least one).
    pub invert_grep: bool,
    /// `-F`: each `-g` pattern is literal text, not a regex.
    pub fixed_strings: bool,
}

/// A filter flag that cannot be understood; never silently matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {value:?}: {problem}")]
pub struct FilterError {
    /// The flag at fault, e.g. `--where`.
    pub flag: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(flag: &'static str, value: &str, problem: impl Into<String>) -> FilterError {
    FilterError {
        flag,
        value: value.to_owned(),
        problem: problem.into(),
    }
}

/// A compiled filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    users: Vec<String>,
    /// With `-i`: the `--user` names as one anchored case-insensitive regex, so names
    /// compare by the same case folding as `-g` and `--action`.
    users_folded: Option<Regex>,
    /// The `--action` globs translated to one anchored Unicode regex.
    actions: Option<Regex>,
    ips: Vec<IpNet>,
    wheres: Vec<Where>,
    greps: Vec<regex::bytes::Regex>,
    /// `-v`: the line must match none of `greps`.
    invert_grep: bool,
    /// Byte strings one of which a line must contain to match `--user` (or else hold a
    /// backslash, since JSON may escape any character). Empty: no such check.
    user_needles: Vec<memmem::Finder<'static>>,
    /// The same for the literal prefixes of `--action` globs.
    action_needles: Vec<memmem::Finder<'static>>,
    /// Only the record with this id ([`Filter::with_id`]), and the bytes its line must
    /// hold (or else a backslash).
    id: Option<(uuid::Uuid, regex::bytes::Regex)>,
}

/// One `--where` condition.
#[derive(Debug, Clone)]
struct Where {
    path: Vec<String>,
    op: Op,
    value: String,
    /// VALUE as an exact decimal, when it is a number.
    number: Option<Decimal>,
    regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Filter {
    /// Compiles the flags; `now` anchors relative times.
    pub fn new(spec: &FilterSpec, now: DateTime<Utc>) -> Result<Filter, FilterError> {
        let time = |flag, v: &Option<String>| match v {
            Some(v) => parse_time(v, now)
                .map(Some)
                .map_err(|e| bad(flag, v, e.to_string())),
            None => Ok(None),
        };
        let since = time("--since", &spec.since)?;
        let until = time("--until", &spec.until)?;
        // journalctl refuses such a range too: it can only ever print nothing.
        if let (Some(s), Some(u), Some(s_text), Some(u_text)) =
            (since, until, &spec.since, &spec.until)
            && s >= u
        {
            return Err(bad(
                "--since",
                s_text,
                format!(
                    "is at or after --until {u_text:?} ({} >= {}): the range is empty",
                    format_timestamp(s),
                    format_timestamp(u)
                ),
            ));
        }
        for user in &spec.users {
            if user.is_empty() {
                return Err(bad("--user", user, "is empty"));
            }
        }
        let actions = if spec.actions.is_empty() {
            None
        } else {
            let parts = spec
                .actions
                .iter()
                .map(|a| glob_regex(a).map_err(|p| bad("--action", a, p)))
                .collect::<Result<Vec<_>, _>>()?;
            let fold = if spec.ignore_case { "(?i)" } else { "" };
            let joined = format!(r"{fold}\A(?s:{})\z", parts.join("|"));
            Some(Regex::new(&joined).map_err(|e| {
                bad(
                    "--action",
                    &spec.actions.join(" "),
                    one_line(&e.to_string()),
                )
            })?)
        };
        let ips = spec
            .ips
            .iter()
            .map(|s| {
                parse_net(s).ok_or_else(|| {
                    bad(
                        "--ip",
                        s,
                        "expected an IPv4 or IPv6 address or a CIDR network such as 203.0.113.0/24",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let wheres = spec
            .wheres
            .iter()
            .map(|w| parse_where(w))
            .collect::<Result<Vec<_>, _>>()?;
        if spec.invert_grep && spec.greps.is_empty() {
            return Err(bad(
                "--invert-grep",
                "",
                "needs at least one -g/--grep PATTERN (it keeps the records whose line matches none of them)",
            ));
        }
        let greps = spec
            .greps
            .iter()
            .map(|g| {
                let pattern = if spec.fixed_strings {
                    regex::escape(g)
                } else {
                    g.clone()
                };
                regex::bytes::RegexBuilder::new(&pattern)
                    .case_insensitive(spec.ignore_case)
                    .build()
                    .map_err(|e| bad("--grep", g, one_line(&e.to_string())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let users_folded = if spec.ignore_case && !spec.users.is_empty() {
            let names: Vec<String> = spec.users.iter().map(|u| regex::escape(u)).collect();
            let joined = format!(r"(?i)\A(?:{})\z", names.join("|"));
            Some(
                Regex::new(&joined)
                    .map_err(|e| bad("--user", &spec.users.join(" "), one_line(&e.to_string())))?,
            )
        } else {
            None
        };
        // A byte search for the exact spelling would drop lines whose case differs (and
        // folding is not byte-wise: `K` folds with the Kelvin sign), so -i goes without.
        let (user_needles, action_needles) = if spec.ignore_case {
            (Vec::new(), Vec::new())
        } else {
            (
                needles(spec.users.iter().map(String::as_str)),
                needles(spec.actions.iter().map(|a| literal_prefix(a))),
            )
        };
        Ok(Filter {
            since,
            until,
            users: spec.users.clone(),
            users_folded,
            actions,
            ips,
            wheres,
            greps,
            invert_grep: spec.invert_grep,
            user_needles,
            action_needles,
            id: None,
        })
    }

    /// The UTC days that can hold matching records (inclusive), from `--since/--until`.
    pub fn days(&self) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let first = self.since.map(|t| t.date_naive());
        // `until` is exclusive: a record at exactly midnight belongs to the next day.
        let last = self
            .until
            .map(|t| (t - Duration::nanoseconds(1)).date_naive());
        (first, last)
    }

    /// The time window `[since, until)`.
    pub fn window(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (self.since, self.until)
    }

    /// The same filter, its window narrowed to `[since, until)` as well.
    pub fn narrowed(
        mut self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Filter {
        self.since = self.since.max(since);
        self.until = match (self.until, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// The same filter, also requiring the record's `id` to be `id`: for counting copies
    /// of one record (a retried id) without parsing every other line. A line is parsed
    /// only if it holds the id's hex digits in any letter case and hyphenation (every
    /// spelling a UUID parses from does) or a backslash (JSON may escape any character).
    pub fn with_id(mut self, id: uuid::Uuid) -> Filter {
        let hex = id.simple().to_string();
        let pattern = format!(
            "(?i){}-?{}-?{}-?{}-?{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        // The pattern is built from hex digits alone, so it always compiles.
        if let Ok(re) = regex::bytes::Regex::new(&pattern) {
            self.id = Some((id, re));
        }
        self
    }

    /// Whether the filter selects every record (no condition at all).
    pub fn is_everything(&self) -> bool {
        self.id.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.users.is_empty()
            && self.actions.is_none()
            && self.ips.is_empty()
            && self.wheres.is_empty()
            && self.greps.is_empty()
    }

    /// Checks on the stored line's bytes, before parsing: `-g` exactly (all must match,
    /// or with `-v` none), and byte searches that can only reject lines that cannot match.
    pub fn line_may_match(&self, line: &[u8]) -> bool {
        let grep_ok = if self.invert_grep {
            !self.greps.iter().any(|g| g.is_match(line))
        } else {
            self.greps.iter().all(|g| g.is_match(line))
        };
        if !grep_ok {
            return false;
        }
        let escaped = || memchr::memchr(b'\\', line).is_some();
        if let Some((_, re)) = &self.id
            && !re.is_match(line)
            && !escaped()
        {
            return false;
        }
        let has = |needles: &[memmem::Finder<'static>]| {
            needles.is_empty() || needles.iter().any(|n| n.find(line).is_some())
        };
        (has(&self.user_needles) || escaped()) && (has(&self.action_needles) || escaped())
    }

    /// Whether the parsed record matches every condition except `-g` (see
    /// [`Filter::line_may_match`]).
    pub fn record_matches(&self, r: &Record) -> bool {
        self.id.as_ref().is_none_or(|(id, _)| r.id == *id)
            && self.fields_match(&r.username, &r.action, r.timestamp, r.ip_address)
            && self
                .wheres
                .iter()
                .all(|w| w.test(field_value(r, &w.path).as_ref()))
    }

    /// Whether a `--where` reads a field the format does not define: such fields are
    /// kept only by the full parse (in [`Record::extra`]), the light parse skips them.
    pub fn needs_record(&self) -> bool {
        self.wheres.iter().any(|w| needs_record(&w.path))
    }

    /// [`Filter::record_matches`] on a lightly parsed record, `--where` read from the
    /// raw `details` without building the rest; `None` when only the full record can
    /// tell (always so when [`Filter::needs_record`]).
    pub fn lite_matches(&self, r: &LiteRecord<'_>) -> Option<bool> {
        if self.id.is_some() {
            // The light parse keeps the id as written; the full parse reads it.
            return None;
        }
        if !self.fields_match(&r.username, &r.action, r.timestamp, r.ip_address) {
            return Some(false);
        }
        for w in &self.wheres {
            let v = lite_field_value(r, &w.path).ok()?;
            if !w.test(v.as_ref()) {
                return Some(false);
            }
        }
        Some(true)
    }

    fn fields_match(
        &self,
        username: &str,
        action: &str,
        ts: DateTime<Utc>,
        ip: Option<IpAddr>,
    ) -> bool {
        if let Some(folded) = &self.users_folded {
            if !folded.is_match(username) {
                return false;
            }
        } else if !self.users.is_empty() && !self.users.iter().any(|u| u == username) {
            return false;
        }
        if let Some(actions) = &self.actions
            && !actions.is_match(action)
        {
            return false;
        }
        if self.since.is_some_and(|s| ts < s) || self.until.is_some_and(|u| ts >= u) {
            return false;
        }
        if !self.ips.is_empty() {
            match ip {
                Some(ip) if self.ips.iter().any(|n| n.contains(&canonical_ip(ip))) => {}
                _ => return false,
            }
        }
        true
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An address (as a one-address network) or a CIDR network, in canonical form: a
/// network inside `::ffff:0:0/96` is the IPv4 network it maps, so that
/// `::ffff:203.0.113.0/120` means `203.0.113.0/24`. Wider IPv6 networks (`::/0`) stay
/// IPv6 and match IPv6 addresses only, as stored IPv4-mapped addresses are IPv4.
fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
    };
    Some(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?),
            None => net,
        },
        other => other,
    })
}

/// Translates one glob to regex syntax working on characters: `*` any run, `?` one
/// character, `[abc]`, `[a-z]`, `[!x]` (or `[^x]`) one character of (not of) a set,
/// `{a,b}` alternatives (nestable), and `\` making the next character literal.
fn glob_regex(glob: &str) -> Result<String, String> {
    let mut out = String::from("(?:");
    let mut chars = glob.chars().peekable();
    let mut depth = 0usize;
    let lit = |c: char| regex::escape(c.encode_utf8(&mut [0; 4]));
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '\\' => match chars.next() {
                Some(n) => out.push_str(&lit(n)),
                None => return Err("ends with a lone backslash".into()),
            },
            '{' => {
                depth += 1;
                out.push_str("(?:");
            }
            '}' if depth > 0 => {
                depth -= 1;
                out.push(')');
            }
            ',' if depth > 0 => out.push('|'),
            '[' => {
                out.push('[');
                if matches!(chars.peek(), Some('!' | '^')) {
                    chars.next();
                    out.push('^');
                }
                let mut first = true;
                loop {
                    let Some(c) = chars.next() else {
                        return Err("a [ is never closed by ]".into());
                    };
                    // A `]` right after `[` or `[!` is a member, as in shell globs.
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let c = if c == '\\' {
                        chars
                            .next()
                            .ok_or_else(|| "ends with a lone backslash".to_string())?
                    } else {
                        c
                    };
                    out.push_str(&class_char(c));
                    if chars.peek() == Some(&'-') {
                        let mut ahead = chars.clone();
                        ahead.next();
                        match ahead.peek() {
                            Some(&']') | None => {}
                            Some(&end) => {
                                chars.next();
                                chars.next();
                                if end < c {
                                    return Err(format!("the range {c}-{end} is reversed"));
                                }
                                out.push('-');
                                out.push_str(&class_char(end));
                            }
                        }
                    }
                }
                out.push(']');
            }
            other => out.push_str(&lit(other)),
        }
    }
    if depth > 0 {
        return Err("a { is never closed by }".into());
    }
    out.push(')');
    Ok(out)
}

/// One character inside a regex class, escaped when the class syntax gives it a meaning.
fn class_char(c: char) -> String {
    if c.is_ascii_punctuation() {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

/// The part of a glob before its first special character.
fn literal_prefix(glob: &str) -> &str {
    let end = glob.find(['*', '?', '[', '{', '\\']).unwrap_or(glob.len());
    &glob[..end]
}

/// Byte searches for values, or none when any value could be stored escaped (then a
/// search could miss a match) or is empty (then it proves nothing).
fn needles<'a>(values: impl Iterator<Item = &'a str>) -> Vec<memmem::Finder<'static>> {
    let mut out = Vec::new();
    for v in values {
        let plain = !v.is_empty()
            && !v.chars().any(|c| {
                c == '"' || c == '\\' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
            });
        if !plain {
            return Vec::new();
        }
        out.push(memmem::Finder::new(v.as_bytes()).into_owned());
    }
    out
}

const WHERE_SYNTAX: &str = "expected FIELD OP VALUE with OP one of = != ~ !~ > >= < <=";

/// Characters operators are made of; a run of them must be exactly one operator.
const OP_CHARS: [char; 5] = ['=', '!', '~', '<', '>'];

fn parse_where(text: &str) -> Result<Where, FilterError> {
    let fail = |p: &str| bad("--where", text, p.to_owned());
    let Some(at) = text.find(OP_CHARS) else {
        return Err(fail(WHERE_SYNTAX));
    };
    let field = text[..at].trim();
    let rest = &text[at..];
    // The whole run of operator characters is the operator, so a typo such as `==`
    // or `<>` is refused instead of read as `=` with a value starting `=`.
    let len = rest.find(|c| !OP_CHARS.contains(&c)).unwrap_or(rest.len());
    let op = match &rest[..len] {
        "=" => Op::Eq,
        "!=" => Op::Ne,
        "~" => Op::Re,
        "!~" => Op::NotRe,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "<" => Op::Lt,
        "<=" => Op::Le,
        other => {
            return Err(fail(&format!(
                "unknown operator {other:?}: {WHERE_SYNTAX} (quote a VALUE that starts with one of = ! ~ < >)"
            )));
        }
    };
    if field.is_empty() {
        return Err(fail("no FIELD before the operator"));
    }
    let path: Vec<String> = field.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(fail("FIELD has an empty part (write details.reportId)"));
    }
    let raw = rest[len..].trim();
    let mut value = match raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if raw.len() >= 2 => inner.to_owned(),
        _ => raw.to_owned(),
    };
    if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) && value.is_empty() {
        return Err(fail("nothing to compare with after the operator"));
    }
    // ip_address compares in canonical form, so the VALUE is written the same way.
    if path == [Field::IpAddress.name()]
        && matches!(op, Op::Eq | Op::Ne)
        && let Ok(ip) = value.parse::<IpAddr>()
    {
        value = canonical_ip(ip).to_string();
    }
    let number = Decimal::parse(&value);
    let regex = if matches!(op, Op::Re | Op::NotRe) {
        Some(Regex::new(&value).map_err(|e| fail(&one_line(&e.to_string())))?)
    } else {
        None
    };
    Ok(Where {
        path,
        op,
        value,
        number,
        regex,
    })
}

/// A record's field by dotted path: top-level fields, then into `details` or unknown
/// fields, objects by key and arrays by index.
pub fn field_value(r: &Record, path: &[String]) -> Option<Value> {
    let (head, rest) = path.split_first()?;
    let Some(field) = Field::named(head) else {
        return descend(r.extra.get(head)?, rest).cloned();
    };
    let top = match field {
        Field::Id => Value::String(r.id.to_string()),
        Field::Timestamp => Value::String(format_timestamp(r.timestamp)),
        Field::Username => Value::String(r.username.clone()),
        Field::Action => Value::String(r.action.clone()),
        Field::IpAddress => Value::String(canonical_ip(r.ip_address?).to_string()),
        Field::UserAgent => Value::String(r.user_agent.clone()?),
        Field::Details => {
            let details = r.details.as_ref()?;
            return match rest.split_first() {
                None => Some(Value::Object(details.clone())),
                Some((key, more)) => descend(details.get(key)?, more).cloned(),
            };
        }
    };
    if rest.is_empty() { Some(top) } else { None }
}

/// Follows a dotted path into a JSON value: objects by key, arrays by index.
pub fn descend_value<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    descend(v, path)
}

fn descend<'v>(mut v: &'v Value, path: &[String]) -> Option<&'v Value> {
    for key in path {
        v = match v {
            Value::Object(m) => m.get(key)?,
            Value::Array(a) => a.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// The value of a field only the full parse has: see [`lite_field_value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsRecord;

/// Whether a dotted path names a field the light parse skips (one the format does not
/// define, kept in [`Record::extra`]).
pub fn needs_record(path: &[String]) -> bool {
    path.first()
        .is_some_and(|head| Field::named(head).is_none())
}

/// [`field_value`] on a lightly parsed record, the same value for every path the light
/// parse keeps: a `details` path reads only the addressed member from the raw JSON,
/// skipping the rest unbuilt. `Err` for the paths of [`needs_record`].
pub fn lite_field_value(r: &LiteRecord<'_>, path: &[String]) -> Result<Option<Value>, NeedsRecord> {
    let (head, rest) = path.split_first().ok_or(NeedsRecord)?;
    let top = match Field::named(head).ok_or(NeedsRecord)? {
        // The stored text may be any form the UUID parser takes (upper case, braces);
        // the full record prints it canonical.
        Field::Id => Value::String(
            uuid::Uuid::parse_str(&r.id)
                .map_err(|_| NeedsRecord)?
                .to_string(),
        ),
        Field::Timestamp => Value::String(format_timestamp(r.timestamp)),
        Field::Username => Value::String(r.username.to_string()),
        Field::Action => Value::String(r.action.to_string()),
        Field::IpAddress => match r.ip_address {
            Some(ip) => Value::String(canonical_ip(ip).to_string()),
            None => return Ok(None),
        },
        Field::UserAgent => match &r.user_agent {
            Some(ua) => Value::String(ua.to_string()),
            None => return Ok(None),
        },
        Field::Details => return details_value(r.details, rest),
    };
    Ok(rest.is_empty().then_some(top))
}

/// The value at `rest` inside raw `details` (`details` itself when `rest` is empty), as
/// [`field_value`] gives it; `Err` where only the full parse can tell.
fn details_value(
    details: Option<&RawValue>,
    rest: &[String],
) -> Result<Option<Value>, NeedsRecord> {
    let Some(mut raw) = details else {
        return Ok(None);
    };
    for key in rest {
        match pick(raw, key).map_err(|_| NeedsRecord)? {
            Some(inner) => raw = inner,
            None => return Ok(None),
        }
    }
    raw_value(raw).map(Some).map_err(|_| NeedsRecord)
}

/// The text of the value at `rest` inside `details` (text starting with the value of
/// `details`, as [`jsonscan::find`] finds it in a line known to be valid): `Some(None)`
/// when absent, as [`details_value`] tells it; `None` where the walk cannot tell.
fn scanned_text<'a>(details: Option<&'a [u8]>, rest: &[String]) -> Option<Option<&'a [u8]>> {
    // `"details":null` is no details, as the light parse reads it.
    let Some(mut raw) = details.filter(|d| !d.starts_with(b"null")) else {
        return Some(None);
    };
    for key in rest {
        match raw.first() {
            Some(b'{') => match jsonscan::find(raw, key).ok()? {
                Some(at) => raw = raw.get(at..)?,
                None => return Some(None),
            },
            // An element by its index: left to the parser.
            Some(b'[') => return None,
            _ => return Some(None),
        }
    }
    jsonscan::value(raw).ok().map(Some)
}

/// The member `key` of a raw JSON object (the last one, as a parsed map keeps it), or
/// the element at index `key` of an array; `None` in anything else.
fn pick<'a>(raw: &'a RawValue, key: &str) -> Result<Option<&'a RawValue>, serde_json::Error> {
    // Only containers are walked: serde_json hands a number to `deserialize_any` as a
    // map with a private key, which a hostile path could name.
    if !matches!(raw.get().as_bytes().first(), Some(b'{' | b'[')) {
        return Ok(None);
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let found = Pick { key }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// A raw JSON value as the full parse builds it: numbers keep their spelling.
fn raw_value(raw: &RawValue) -> Result<Value, serde_json::Error> {
    raw_value_text(raw.get())
}

/// [`raw_value`] of a value's JSON text.
fn raw_value_text(text: &str) -> Result<Value, serde_json::Error> {
    match text.as_bytes().first() {
        Some(b'{' | b'[') => parse_json(text),
        Some(b'"') => serde_json::from_str::<String>(text).map(Value::String),
        Some(b't' | b'f' | b'n') => serde_json::from_str(text),
        // A number, valid (the line parsed): kept as written, as `parse_json` keeps it.
        _ => Ok(Value::Number(serde_json::Number::from_string_unchecked(
            text.to_owned(),
        ))),
    }
}

/// Walks one JSON object or array, keeping the raw text of one member and skipping the
/// others without building them.
struct Pick<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = a.next_key_seed(KeyIs(self.key))? {
            if hit {
                // A later duplicate replaces it, as in a parsed map.
                found = Some(a.next_value::<&'de RawValue>()?);
            } else {
                a.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        // The same index rule as `descend`.
        let index = self.key.parse::<usize>().ok();
        let mut found = None;
        let mut i = 0usize;
        loop {
            if index == Some(i) {
                match a.next_element::<&'de RawValue>()? {
                    Some(v) => found = Some(v),
                    None => break,
                }
            } else if a.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i = i.saturating_add(1);
        }
        Ok(found)
    }
}

/// An object key, compared with the wanted one after unescaping, without allocating
/// for keys that hold no escape.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// A field value as text, for `=`, `~` and `--count-by`.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The canonical text of an `ip_address` (see [`canonical_ip`]), for `--count-by`.
pub fn ip_text(ip: IpAddr) -> String {
    canonical_ip(ip).to_string()
}

impl Where {
    /// CONTRACT section 4: `=` and `!=` compare a JSON number with a numeric VALUE as
    /// numbers (`1.0` equals `1`), anything else as text; ordering never matches null,
    /// booleans, objects or arrays, orders numbers (and strings holding one) with a
    /// numeric VALUE and strings as text with any other. A missing field matches only
    /// the negations `!=` and `!~`.
    /// [`Where::test`] on the value at `rest` inside `details` found by walking a line
    /// known to be valid (see [`scanned_text`]); a number is compared without building a
    /// value, as it runs on every line of a `--where details.durationMs>400` count.
    fn test_scanned(&self, details: Option<&[u8]>, rest: &[String]) -> Option<bool> {
        let Some(text) = scanned_text(details, rest)? else {
            return Some(self.test(None));
        };
        let text = std::str::from_utf8(text).ok()?;
        if let (Some(b'-' | b'0'..=b'9'), Some(b)) = (text.as_bytes().first(), &self.number) {
            use Ordering::*;
            let ordering = || Decimal::text_cmp(text, b);
            match self.op {
                Op::Eq => return Some(ordering() == Some(Equal)),
                Op::Ne => return Some(ordering() != Some(Equal)),
                Op::Gt => return Some(ordering() == Some(Greater)),
                Op::Ge => return Some(matches!(ordering(), Some(Greater | Equal))),
                Op::Lt => return Some(ordering() == Some(Less)),
                Op::Le => return Some(matches!(ordering(), Some(Less | Equal))),
                Op::Re | Op::NotRe => {}
            }
        }
        let v = raw_value_text(text).ok()?;
        Some(self.test(Some(&v)))
    }

    fn test(&self, v: Option<&Value>) -> bool {
        let Some(v) = v else {
            return matches!(self.op, Op::Ne | Op::NotRe);
        };
        // Built only for the operators that compare text: ordering a number runs on
        // every line of a `--where details.durationMs>400` scan.
        let text = || match v {
            Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            other => std::borrow::Cow::Owned(value_text(other)),
        };
        let equal = || match (v, &self.number) {
            (Value::Number(n), Some(b)) => Decimal::parse(n.as_str()).is_some_and(|a| a == *b),
            _ => text() == self.value.as_str(),
        };
        let ordering = || match (v, &self.number) {
            (Value::Number(n), Some(b)) => Decimal::parse(n.as_str()).map(|a| a.cmp(b)),
            (Value::String(s), Some(b)) => Decimal::parse(s).map(|a| a.cmp(b)),
            (Value::String(s), None) => Some(s.as_str().cmp(self.value.as_str())),
            _ => None,
        };
        use Ordering::*;
        match self.op {
            Op::Eq => equal(),
            Op::Ne => !equal(),
            Op::Re => self.regex.as_ref().is_some_and(|re| re.is_match(&text())),
            Op::NotRe => self.regex.as_ref().is_some_and(|re| !re.is_match(&text())),
            Op::Gt => ordering() == Some(Greater),
            Op::Ge => matches!(ordering(), Some(Greater | Equal)),
            Op::Lt => ordering() == Some(Less),
            Op::Le => matches!(ordering(), Some(Less | Equal)),
        }
    }
}

/// Member summaries: what a filter can tell from a gzip member's header alone.
impl Filter {
    /// Whether a record described by `summary` may match: false only when a value set
    /// proves that no record of the member satisfies `--user`, `--action` or `--ip`.
    pub fn summary_may_match(&self, summary: &Summary) -> bool {
        if summary.valid == 0 {
            return false;
        }
        let users = || match &self.users_folded {
            Some(folded) => Self::any_value(&summary.users, |v| folded.is_match(v), None),
            None => Self::any_value(
                &summary.users,
                |v| self.users.iter().any(|u| u == v),
                Some(&self.users),
            ),
        };
        let actions = |re: &Regex| Self::any_value(&summary.actions, |v| re.is_match(v), None);
        // A Bloom filter can be asked about single addresses only.
        let single: Option<Vec<String>> = self
            .ips
            .iter()
            .map(|n| (n.prefix_len() == n.max_prefix_len()).then(|| n.addr().to_string()))
            .collect();
        let ips = || {
            let in_nets = |v: &str| {
                v.parse::<IpAddr>()
                    .is_ok_and(|ip| self.ips.iter().any(|n| n.contains(&ip)))
            };
            Self::any_value(&summary.ips, in_nets, single.as_deref())
        };
        (self.users.is_empty() || users())
            && self.actions.as_ref().is_none_or(actions)
            && (self.ips.is_empty() || ips())
    }

    /// How many records described by `summary` match, when the summary alone says: the
    /// filter's only conditions (besides the time window, which the caller has checked
    /// holds the whole member) are on one field whose value set is exact.
    pub fn count_from_summary(&self, summary: &Summary) -> Option<u64> {
        if !self.wheres.is_empty() || !self.greps.is_empty() || self.id.is_some() {
            return None;
        }
        fn exact(values: &Option<Values>) -> Option<&[(String, u64)]> {
            values.as_ref().and_then(Values::exact)
        }
        let count = |set: &[(String, u64)], keep: &dyn Fn(&str) -> bool| {
            set.iter().filter(|(v, _)| keep(v)).map(|(_, n)| n).sum()
        };
        match (
            !self.users.is_empty(),
            self.actions.as_ref(),
            !self.ips.is_empty(),
        ) {
            (false, None, false) => Some(summary.valid),
            (true, None, false) => {
                let set = exact(&summary.users)?;
                Some(match &self.users_folded {
                    Some(folded) => count(set, &|v| folded.is_match(v)),
                    None => count(set, &|v| self.users.iter().any(|u| u == v)),
                })
            }
            (false, Some(re), false) => Some(count(exact(&summary.actions)?, &|v| re.is_match(v))),
            (false, None, true) => Some(count(exact(&summary.ips)?, &|v| {
                v.parse::<IpAddr>()
                    .is_ok_and(|ip| self.ips.iter().any(|n| n.contains(&ip)))
            })),
            _ => None,
        }
    }

    /// Whether some value of a field may satisfy a condition: every value tested when
    /// the set is exact; the Bloom filter asked for `candidates` when the condition is
    /// equality with one of them; else (unknown, or a pattern against a Bloom filter) yes.
    fn any_value(
        values: &Option<Values>,
        test: impl Fn(&str) -> bool,
        candidates: Option<&[String]>,
    ) -> bool {
        match values {
            Some(Values::Exact(set)) => set.iter().any(|(v, _)| test(v)),
            Some(bloom @ Values::Bloom(_)) => {
                candidates.is_none_or(|c| c.iter().any(|v| bloom.may_contain(v)))
            }
            None => true,
        }
    }

    /// Whether the filter's conditions, besides a time window, are all `--where` on
    /// paths inside `details`.
    pub fn is_details_where_only(&self) -> bool {
        self.id.is_none()
            && !self.wheres.is_empty()
            && self.users.is_empty()
            && self.actions.is_none()
            && self.ips.is_empty()
            && self.greps.is_empty()
            && self
                .wheres
                .iter()
                .all(|w| w.path.first().is_some_and(|head| head == "details"))
    }

    /// On a line known to be a valid record inside the window (its member's summary
    /// says so): whether it matches a filter of [`Filter::is_details_where_only`],
    /// reading nothing but `details`. `None` where only the full check can tell (an
    /// escaped key, an array on the path).
    pub fn valid_line_matches(&self, line: &[u8]) -> Option<bool> {
        let details = jsonscan::find(line, "details").ok()?;
        let details = details.and_then(|at| line.get(at..));
        for w in &self.wheres {
            let rest = w.path.get(1..).unwrap_or_default();
            if !w.test_scanned(details, rest)? {
                return Some(false);
            }
        }
        Some(true)
    }

    /// Whether the filter's only condition is the time window.
    pub fn is_window_only(&self) -> bool {
        self.id.is_none()
            && self.users.is_empty()
            && self.actions.is_none()
            && self.ips.is_empty()
            && self.wheres.is_empty()
            && self.greps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap_or_else(|| panic!("{s} is a number"))
    }

    /// Which filters a member's summary may answer, or let a reader walk to `details`
    /// alone: never one that also asks for an id, which neither reads.
    #[test]
    fn only_filters_of_details_alone_take_the_details_walk() {
        let spec = |wheres: &[&str], users: &[&str]| FilterSpec {
            wheres: wheres.iter().map(|w| (*w).to_owned()).collect(),
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            ..FilterSpec::default()
        };
        let f = |s: FilterSpec| Filter::new(&s, Utc::now()).unwrap();
        assert!(f(spec(&["details.n>4"], &[])).is_details_where_only());
        assert!(f(spec(&["details.n>4", "details.s=x"], &[])).is_details_where_only());
        assert!(!f(spec(&[], &[])).is_details_where_only());
        assert!(!f(spec(&["username=a"], &[])).is_details_where_only());
        assert!(!f(spec(&["details.n>4"], &["alice"])).is_details_where_only());
        let id = uuid::Uuid::from_u128(7);
        let with_id = f(spec(&["details.n>4"], &[])).with_id(id);
        assert!(!with_id.is_details_where_only());
        assert!(!f(spec(&[], &[])).with_id(id).is_window_only());
        assert!(f(spec(&[], &[])).is_window_only());
    }

    #[test]
    fn decimals_compare_exactly_past_f64_precision() {
        let ascending = [
            "-1e400",
            "-18446744073709551616",
            "-18446744073709551615",
            "-2.25",
            "-0.0000000000000000000001",
            "0",
            "0.1",
            "0.10000000000000000000000000001",
            "1",
            "9007199254740992",
            "9007199254740993",
            "100000000000000000000",
            "100000000000000000001",
            "1e400",
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(d(a).cmp(&d(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
        for (a, b) in [
            ("1", "1.0"),
            ("1.50", "1.5"),
            ("1e2", "100"),
            ("100E-2", "1"),
            ("007", "7"),
            ("-0", "0"),
            ("0.000", "+0"),
            (".5", "0.5"),
            ("5.", "5"),
        ] {
            assert_eq!(d(a), d(b), "{a} = {b}");
        }
        for not in [
            "",
            "-",
            "+",
            ".",
            "e5",
            "1e",
            "1e+",
            "0x10",
            "inf",
            "NaN",
            "1,5",
            "1 ",
            "١٢",
            "1e1234567890123456789",
        ] {
            assert!(Decimal::parse(not).is_none(), "{not:?}");
        }
    }

    #[test]
    fn globs_translate_to_character_regexes() {
        let m = |g: &str, s: &str| {
            let re =
                Regex::new(&format!(r"\A(?s:{})\z", glob_regex(g).expect("glob"))).expect("regex");
            re.is_match(s)
        };
        assert!(m("caf?.order", "café.order"));
        assert!(!m("caf?.order", "caf.order"));
        assert!(m("[]]x", "]x"));
        assert!(m("[!]]x", "ax"));
        assert!(m("[a-]", "-"));
        assert!(m("[&&~]", "~"));
        assert!(m("a{b,{c,d}}e", "ade"));
        assert!(m("a,b}", "a,b}"));
        assert!(m("*", "line\nbreak"));
        assert!(m(r"\{x\}", "{x}"));
        assert!(m(".+()|^$", ".+()|^$"));
        assert!(!m(".+", "ab"));
        for bad in ["[a", "{a,b", "a\\", "[z-a]"] {
            assert!(glob_regex(bad).is_err(), "{bad}");
        }
    }
}
