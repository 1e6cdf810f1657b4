//! Query filters of CONTRACT section 4, built once from the flags and applied to each
//! line: first cheap byte checks on the stored line, then the parsed record.

use crate::record::{Record, format_timestamp};
use crate::timeexpr::parse_time;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use globset::{Glob, GlobSet, GlobSetBuilder};
use ipnet::IpNet;
use memchr::memmem;
use regex::Regex;
use serde_json::Value;
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
    /// `-g REGEX` on the stored line, all of them.
    pub greps: Vec<String>,
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
    actions: Option<GlobSet>,
    ips: Vec<IpNet>,
    wheres: Vec<Where>,
    greps: Vec<regex::bytes::Regex>,
    /// Byte strings one of which a line must contain to match `--user` (or else hold a
    /// backslash, since JSON may escape any character). Empty: no such check.
    user_needles: Vec<memmem::Finder<'static>>,
    /// The same for the literal prefixes of `--action` globs.
    action_needles: Vec<memmem::Finder<'static>>,
}

/// One `--where` condition.
#[derive(Debug, Clone)]
struct Where {
    path: Vec<String>,
    op: Op,
    value: String,
    number: Option<f64>,
    regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Re,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Filter {
    /// Compiles the flags; `now` anchors relative times.
    pub fn new(spec: &FilterSpec, now: DateTime<Utc>) -> Result<Filter, FilterError> {
        let time = |flag, v: &Option<String>| match v {
            Some(v) => parse_time(v, now).map(Some).map_err(|e| bad(flag, v, e)),
            None => Ok(None),
        };
        let since = time("--since", &spec.since)?;
        let until = time("--until", &spec.until)?;
        for user in &spec.users {
            if user.is_empty() {
                return Err(bad("--user", user, "is empty"));
            }
        }
        let actions = if spec.actions.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for a in &spec.actions {
                let glob = Glob::new(a).map_err(|e| bad("--action", a, e.kind().to_string()))?;
                set.add(glob);
            }
            Some(
                set.build()
                    .map_err(|e| bad("--action", &spec.actions.join(" "), e.to_string()))?,
            )
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
        let greps = spec
            .greps
            .iter()
            .map(|g| {
                regex::bytes::Regex::new(g).map_err(|e| bad("--grep", g, one_line(&e.to_string())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let user_needles = needles(spec.users.iter().map(String::as_str));
        let action_needles = needles(spec.actions.iter().map(|a| literal_prefix(a)));
        Ok(Filter {
            since,
            until,
            users: spec.users.clone(),
            actions,
            ips,
            wheres,
            greps,
            user_needles,
            action_needles,
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

    /// Whether the filter selects every record (no condition at all).
    pub fn is_everything(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.users.is_empty()
            && self.actions.is_none()
            && self.ips.is_empty()
            && self.wheres.is_empty()
            && self.greps.is_empty()
    }

    /// Checks on the stored line's bytes, before parsing: `-g` exactly, and byte searches
    /// that can only reject lines that cannot match.
    pub fn line_may_match(&self, line: &[u8]) -> bool {
        if !self.greps.iter().all(|g| g.is_match(line)) {
            return false;
        }
        let escaped = || memchr::memchr(b'\\', line).is_some();
        let has = |needles: &[memmem::Finder<'static>]| {
            needles.is_empty() || needles.iter().any(|n| n.find(line).is_some())
        };
        (has(&self.user_needles) || escaped()) && (has(&self.action_needles) || escaped())
    }

    /// Whether the parsed record matches every condition except `-g` (see
    /// [`Filter::line_may_match`]).
    pub fn record_matches(&self, r: &Record) -> bool {
        self.fields_match(&r.username, &r.action, r.timestamp, r.ip_address)
            && self.wheres.iter().all(|w| w.matches(r))
    }

    /// Whether `--where` conditions need the whole parsed record.
    pub fn needs_record(&self) -> bool {
        !self.wheres.is_empty()
    }

    /// [`Filter::record_matches`] on a lightly parsed record; only when
    /// [`Filter::needs_record`] is false.
    pub fn lite_matches(&self, r: &crate::record::LiteRecord<'_>) -> bool {
        self.fields_match(&r.username, &r.action, r.timestamp, r.ip_address)
    }

    fn fields_match(
        &self,
        username: &str,
        action: &str,
        ts: DateTime<Utc>,
        ip: Option<IpAddr>,
    ) -> bool {
        if !self.users.is_empty() && !self.users.iter().any(|u| u == username) {
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
                Some(ip) if self.ips.iter().any(|n| n.contains(&ip)) => {}
                _ => return false,
            }
        }
        true
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An address (as a one-address network) or a CIDR network.
fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
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

fn parse_where(text: &str) -> Result<Where, FilterError> {
    let fail = |p: &str| bad("--where", text, p.to_owned());
    let Some(at) = text.find(['=', '!', '~', '<', '>']) else {
        return Err(fail(
            "expected FIELD OP VALUE with OP one of = != ~ > >= < <=",
        ));
    };
    let field = text[..at].trim();
    let rest = &text[at..];
    let (op, len) = match rest.as_bytes() {
        [b'!', b'=', ..] => (Op::Ne, 2),
        [b'>', b'=', ..] => (Op::Ge, 2),
        [b'<', b'=', ..] => (Op::Le, 2),
        [b'=', ..] => (Op::Eq, 1),
        [b'~', ..] => (Op::Re, 1),
        [b'>', ..] => (Op::Gt, 1),
        [b'<', ..] => (Op::Lt, 1),
        _ => {
            return Err(fail(
                "expected FIELD OP VALUE with OP one of = != ~ > >= < <=",
            ));
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
    let value = match raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if raw.len() >= 2 => inner.to_owned(),
        _ => raw.to_owned(),
    };
    let number = value.parse::<f64>().ok().filter(|n| n.is_finite());
    if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) && value.is_empty() {
        return Err(fail("nothing to compare with after the operator"));
    }
    let regex = if op == Op::Re {
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
    let top = match head.as_str() {
        "id" => Value::String(r.id.to_string()),
        "timestamp" => Value::String(format_timestamp(r.timestamp)),
        "username" => Value::String(r.username.clone()),
        "action" => Value::String(r.action.clone()),
        "ip_address" => Value::String(r.ip_address?.to_string()),
        "user_agent" => Value::String(r.user_agent.clone()?),
        "details" => {
            let details = r.details.as_ref()?;
            return match rest.split_first() {
                None => Some(Value::Object(details.clone())),
                Some((key, more)) => descend(details.get(key)?, more).cloned(),
            };
        }
        other => {
            return descend(r.extra.get(other)?, rest).cloned();
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

/// A field value as text, for `=`, `~` and `--count-by`.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Where {
    /// JSON numbers compare as numbers with a numeric VALUE; everything else compares
    /// as text. A missing field matches only `!=`.
    fn matches(&self, r: &Record) -> bool {
        let Some(v) = field_value(r, &self.path) else {
            return self.op == Op::Ne;
        };
        let numeric = match (&v, self.number) {
            // Exactly where both are JSON numbers: f64 cannot tell 1e20 from 1e20 + 1.
            (Value::Number(n), b) => crate::record::compare_numbers(n.as_str(), &self.value)
                .map(Some)
                .or_else(|| Some(n.as_f64()?.partial_cmp(&b?))),
            _ => None,
        };
        let text = value_text(&v);
        let ordering = match numeric {
            Some(o) => o,
            None => Some(text.as_str().cmp(self.value.as_str())),
        };
        use std::cmp::Ordering::*;
        match self.op {
            Op::Eq => ordering == Some(Equal),
            Op::Ne => ordering != Some(Equal),
            Op::Re => self.regex.as_ref().is_some_and(|re| re.is_match(&text)),
            Op::Gt => ordering == Some(Greater),
            Op::Ge => matches!(ordering, Some(Greater | Equal)),
            Op::Lt => ordering == Some(Less),
            Op::Le => matches!(ordering, Some(Less | Equal)),
        }
    }
}
