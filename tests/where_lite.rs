//! `--where` and `--count-by` read from the light parse (only the addressed value of
//! `details` extracted) must answer exactly as the full parse does. Random records
//! written as raw text (odd number spellings, duplicate and escaped keys, unknown
//! top-level fields, non-ASCII) and random conditions are run through the binary and
//! compared with a model kept here, and with the full-parse path, which a condition on
//! a field the format does not define forces.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::actlog;
use std::cmp::Ordering;
use std::path::Path;

/// A JSON value as the generator builds it, so the model knows every value exactly.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    /// Spelling as written, and the value in units of 10^-4.
    Num(&'static str, i128),
    Str(String),
    Arr(Vec<J>),
    /// Pairs in written order; a key may repeat (the last one counts).
    Obj(Vec<(String, J)>),
}

/// Number spellings with their exact values (x 10^4), far past f64 precision too.
const NUMBERS: [(&str, i128); 23] = [
    ("1e2", 1_000_000),
    ("0", 0),
    ("-0", 0),
    ("0.0", 0),
    ("400", 4_000_000),
    ("4e2", 4_000_000),
    ("4E+2", 4_000_000),
    ("400.00", 4_000_000),
    ("40000e-2", 4_000_000),
    ("401", 4_010_000),
    ("399.9999", 3_999_999),
    ("400.0001", 4_000_001),
    ("1.50", 15_000),
    ("1.5", 15_000),
    ("-1.5", -15_000),
    ("-7", -70_000),
    ("12", 120_000),
    ("2.5e-3", 25),
    ("100000000000000000001", 1_000_000_000_000_000_000_010_000),
    ("100000000000000000000", 1_000_000_000_000_000_000_000_000),
    ("1e20", 1_000_000_000_000_000_000_000_000),
    ("9007199254740993", 90_071_992_547_409_930_000),
    ("9007199254740992", 90_071_992_547_409_920_000),
];

/// Texts that are no number to `--where` (nor start with an operator character).
const WORDS: [&str; 10] = [
    "abc", "é", "r-1", "true", "null", "Zebra", "日本", "0x10", "1,5", "inf",
];

const KEYS: [&str; 6] = ["durationMs", "a", "é", "nested", "arr", "k-1"];

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

fn scalar(rng: &mut fastrand::Rng) -> J {
    match rng.u8(..10) {
        0 => J::Null,
        1 => J::Bool(rng.bool()),
        2..=5 => {
            let (s, v) = pick(rng, &NUMBERS);
            J::Num(s, v)
        }
        6 | 7 => J::Str(pick(rng, &NUMBERS).0.to_owned()),
        _ => J::Str(pick(rng, &WORDS).to_owned()),
    }
}

fn value(rng: &mut fastrand::Rng, depth: u32) -> J {
    if depth >= 3 || rng.u8(..3) > 0 {
        return scalar(rng);
    }
    if rng.bool() {
        J::Arr(
            (0..rng.usize(0..4))
                .map(|_| value(rng, depth + 1))
                .collect(),
        )
    } else {
        object(rng, depth + 1)
    }
}

fn object(rng: &mut fastrand::Rng, depth: u32) -> J {
    let mut pairs = Vec::new();
    for _ in 0..rng.usize(0..5) {
        pairs.push((pick(rng, &KEYS).to_owned(), value(rng, depth)));
    }
    J::Obj(pairs)
}

/// A string literal, now and then with an ASCII letter written as a `\u` escape.
fn lit(rng: &mut fastrand::Rng, s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_alphabetic() && rng.u8(..6) == 0 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn ws(rng: &mut fastrand::Rng) -> &'static str {
    if rng.u8(..5) == 0 { " " } else { "" }
}

fn render(rng: &mut fastrand::Rng, j: &J) -> String {
    match j {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Num(s, _) => (*s).to_owned(),
        J::Str(s) => lit(rng, s),
        J::Arr(items) => {
            let parts: Vec<String> = items.iter().map(|i| render(rng, i)).collect();
            format!("[{}]", parts.join(&format!(",{}", ws(rng))))
        }
        J::Obj(pairs) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}{}", lit(rng, k), ws(rng), render(rng, v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

/// The model's text of a value, as `--where =`/`~` and `--count-by` see it: strings
/// as they are, numbers as spelled, containers compact with each key once (its first
/// place, its last value).
fn text(j: &J) -> String {
    match j {
        J::Str(s) => s.clone(),
        other => canon(other),
    }
}

fn canon(j: &J) -> String {
    match j {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Num(s, _) => (*s).to_owned(),
        J::Str(s) => serde_json::to_string(s).expect("a string serializes"),
        J::Arr(items) => format!(
            "[{}]",
            items.iter().map(canon).collect::<Vec<_>>().join(",")
        ),
        J::Obj(_) => {
            let parts: Vec<String> = unique(j)
                .iter()
                .map(|(k, v)| format!("{}:{}", canon(&J::Str(k.clone())), canon(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

/// An object's keys once each, in first-seen order, with their last value.
fn unique(j: &J) -> Vec<(String, J)> {
    let J::Obj(pairs) = j else {
        return Vec::new();
    };
    let mut out: Vec<(String, J)> = Vec::new();
    for (k, v) in pairs {
        match out.iter_mut().find(|(have, _)| have == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

fn get<'j>(j: &'j J, key: &str) -> Option<&'j J> {
    match j {
        J::Obj(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
        J::Arr(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    }
}

/// One generated record and what the model knows of it.
struct Rec {
    line: String,
    /// Top-level fields by name, as the model's values (canonical texts).
    fields: Vec<(String, J)>,
    valid: bool,
    day: usize,
}

const IPS: [(&str, &str); 5] = [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("::FFFF:198.51.100.1", "198.51.100.1"),
    ("2001:DB8:0::1", "2001:db8::1"),
    ("2001:db8::5", "2001:db8::5"),
];
const USERS: [&str; 5] = ["user042", "José", "日本", "400", "d\"q"];
const ACTIONS: [&str; 3] = ["report.view", "x", "1e2"];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

fn record(rng: &mut fastrand::Rng) -> Rec {
    let mut parts: Vec<String> = Vec::new();
    let mut fields: Vec<(String, J)> = Vec::new();
    let id = uuid::Uuid::from_u128(rng.u128(..));
    let id_text = if rng.bool() {
        id.to_string().to_uppercase()
    } else {
        id.to_string()
    };
    parts.push(format!("\"id\":\"{id_text}\""));
    fields.push(("id".into(), J::Str(id.to_string())));
    let ts = base() + Duration::milliseconds(rng.i64(0..2 * 86_400_000));
    let ts_text = match rng.u8(..3) {
        0 => (ts + Duration::hours(2))
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.3f+02:00")
            .to_string(),
        _ => ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    };
    parts.push(format!("\"timestamp\":\"{ts_text}\""));
    fields.push((
        "timestamp".into(),
        J::Str(ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
    ));
    let user = pick(rng, &USERS);
    let user_text = format!("\"username\":{}", lit(rng, user));
    parts.push(user_text.clone());
    fields.push(("username".into(), J::Str(user.into())));
    let action = pick(rng, &ACTIONS);
    parts.push(format!("\"action\":{}", lit(rng, action)));
    fields.push(("action".into(), J::Str(action.into())));
    match rng.u8(..6) {
        0 => {}
        1 => parts.push("\"details\":null".into()),
        _ => {
            let mut d = object(rng, 1);
            if let J::Obj(pairs) = &mut d
                && rng.u8(..3) > 0
            {
                let n = scalar(rng);
                pairs.insert(rng.usize(..=pairs.len()), ("durationMs".into(), n));
            }
            parts.push(format!("\"details\":{}", render(rng, &d)));
            fields.push(("details".into(), d));
        }
    }
    match rng.u8(..4) {
        0 => {}
        1 => parts.push("\"ip_address\":null".into()),
        _ => {
            let (stored, canonical) = pick(rng, &IPS);
            parts.push(format!("\"ip_address\":\"{stored}\""));
            fields.push(("ip_address".into(), J::Str(canonical.into())));
        }
    }
    if rng.bool() {
        let ua = pick(rng, &WORDS);
        parts.push(format!("\"user_agent\":{}", lit(rng, ua)));
        fields.push(("user_agent".into(), J::Str(ua.into())));
    }
    if rng.u8(..3) == 0 {
        let z = value(rng, 1);
        parts.push(format!("\"zz\":{}", render(rng, &z)));
        fields.push(("zz".into(), z));
    }
    let mut valid = true;
    match rng.u8(..25) {
        // Lines only the full parse judges right: a lone surrogate (damaged), nesting
        // past the parser's limit (damaged), an escaped surrogate pair (valid).
        0 => {
            parts.push(r#""zz2":"\ud800""#.into());
            valid = false;
        }
        1 => {
            parts.push(format!("\"zz2\":{}{}", "[".repeat(130), "]".repeat(130)));
            valid = false;
        }
        2 => parts.push(r#""zz2":"\ud83d\ude42""#.into()),
        _ => {}
    }
    rng.shuffle(&mut parts);
    if rng.u8(..8) == 0
        && let Some(at) = parts.iter().position(|p| *p == user_text)
    {
        // A key given twice: the full parse keeps the last, the light one declines.
        parts.insert(at, format!("\"username\":{}", lit(rng, "first")));
    }
    let day = usize::from(ts >= base() + Duration::days(1));
    Rec {
        line: format!("{{{}}}", parts.join(",")),
        fields,
        valid,
        day,
    }
}

/// The model's value at a dotted path.
fn lookup<'r>(r: &'r Rec, path: &[&str]) -> Option<&'r J> {
    let (head, rest) = path.split_first()?;
    let mut v = r.fields.iter().find(|(k, _)| k == head).map(|(_, v)| v)?;
    let container = matches!(*head, "details" | "zz");
    if !container && !rest.is_empty() {
        return None;
    }
    for key in rest {
        v = get(v, key)?;
    }
    Some(v)
}

fn number_of(s: &str) -> Option<i128> {
    NUMBERS.iter().find(|(t, _)| *t == s).map(|&(_, v)| v)
}

/// CONTRACT section 4 on the model's values.
fn holds(r: &Rec, path: &[&str], op: &str, value: &str) -> bool {
    let Some(v) = lookup(r, path) else {
        return matches!(op, "!=" | "!~");
    };
    let mut value = value.to_owned();
    if path == ["ip_address"]
        && matches!(op, "=" | "!=")
        && let Some(&(_, c)) = IPS.iter().find(|(s, _)| *s == value)
    {
        value = c.to_owned();
    }
    let t = text(v);
    let want = number_of(&value);
    let equal = match (v, want) {
        (J::Num(_, a), Some(b)) => *a == b,
        _ => t == value,
    };
    let ordering = match (v, want) {
        (J::Num(_, a), Some(b)) => Some(a.cmp(&b)),
        (J::Str(s), Some(b)) => number_of(s).map(|a| a.cmp(&b)),
        (J::Str(s), None) => Some(s.as_str().cmp(value.as_str())),
        _ => None,
    };
    let re = |pat: &str| match (pat.strip_prefix('^'), pat.strip_suffix('$')) {
        (Some(p), _) => t.starts_with(p),
        (_, Some(p)) => t.ends_with(p),
        _ => t.contains(pat),
    };
    use Ordering::*;
    match op {
        "=" => equal,
        "!=" => !equal,
        "~" => re(&value),
        "!~" => !re(&value),
        ">" => ordering == Some(Greater),
        ">=" => matches!(ordering, Some(Greater | Equal)),
        "<" => ordering == Some(Less),
        "<=" => matches!(ordering, Some(Less | Equal)),
        other => panic!("no operator {other}"),
    }
}

const PATHS: [&str; 20] = [
    "details",
    "details.durationMs",
    "details.durationMs",
    "details.a",
    "details.é",
    "details.nested.a",
    "details.nested.durationMs",
    "details.arr.0",
    "details.arr.1",
    "details.arr.+0",
    "details.nested.arr.01",
    "details.missing",
    "username",
    "username.x",
    "action",
    "id",
    "timestamp",
    "ip_address",
    "user_agent",
    "zz.a",
];
const OPS: [&str; 8] = ["=", "!=", "~", "!~", ">", ">=", "<", "<="];
const PATTERNS: [&str; 8] = ["4", "^4", "0$", "é", "r-", "^-", "a", "日"];

fn condition(rng: &mut fastrand::Rng, recs: &[Rec]) -> (String, String, String) {
    let path = if rng.u8(..10) == 0 {
        "zz"
    } else {
        pick(rng, &PATHS)
    };
    let op = pick(rng, &OPS);
    let value = if op.contains('~') {
        pick(rng, &PATTERNS).to_owned()
    } else {
        match rng.u8(..6) {
            0 => pick(rng, &WORDS).to_owned(),
            // A value some record has, so = and the bounds often hit.
            1 | 2 => {
                let parts: Vec<&str> = path.split('.').collect();
                let r = &recs[rng.usize(..recs.len())];
                match lookup(r, &parts) {
                    Some(J::Str(s))
                        if !s.is_empty() && !s.starts_with(['=', '!', '~', '<', '>']) =>
                    {
                        s.clone()
                    }
                    Some(J::Num(s, _)) => (*s).to_owned(),
                    _ => pick(rng, &NUMBERS).0.to_owned(),
                }
            }
            3 if path == "ip_address" => pick(rng, &IPS).0.to_owned(),
            _ => pick(rng, &NUMBERS).0.to_owned(),
        }
    };
    (path.to_owned(), op.to_owned(), value)
}

fn run(dir: &Path, args: &[String], threads: &str) -> (String, String) {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .arg("query")
        .args(args)
        .env("ACTLOG_THREADS", threads)
        .env("ACTLOG_IGNORE_SUMMARIES", "1")
        .output()
        .expect("run actlog");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {:?} {stderr}",
        out.status
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// The first line of the damage summary (the count), or nothing.
fn damage_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains("damaged"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn where_and_count_by_on_the_light_parse_agree_with_a_model_and_the_full_parse() {
    let mut rng = fastrand::Rng::with_seed(0x14_77e1);
    for round in 0..12 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let recs: Vec<Rec> = (0..rng.usize(20..60)).map(|_| record(&mut rng)).collect();
        let mut files = [String::new(), String::new()];
        for r in &recs {
            files[r.day].push_str(&r.line);
            files[r.day].push('\n');
        }
        for (i, f) in files.iter().enumerate() {
            std::fs::write(dir.join(format!("activity-2026-11-2{i}.json")), f).expect("write");
        }
        let damaged = recs.iter().filter(|r| !r.valid).count();
        for case in 0..12 {
            let conds: Vec<(String, String, String)> = (0..rng.usize(1..=2))
                .map(|_| condition(&mut rng, &recs))
                .collect();
            let mut args: Vec<String> = Vec::new();
            for (p, o, v) in &conds {
                args.push("--where".into());
                args.push(format!("{p}{o}{v}"));
            }
            // Stored order is file order: day 0 then day 1.
            let want: Vec<&str> = [0, 1]
                .iter()
                .flat_map(|&d| recs.iter().filter(move |r| r.day == d))
                .filter(|r| {
                    r.valid
                        && conds
                            .iter()
                            .all(|(p, o, v)| holds(r, &p.split('.').collect::<Vec<_>>(), o, v))
                })
                .map(|r| r.line.as_str())
                .collect();
            // A condition on an undefined field that every record meets forces the
            // full parse: the reference path.
            let mut full = args.clone();
            full.extend(["--where".into(), "nosuch!=x".into()]);
            let threads = if case % 2 == 0 { "1" } else { "2" };
            let ctx = format!("round {round} case {case} {args:?}");
            for a in [&args, &full] {
                let mut counted = a.clone();
                counted.push("-c".into());
                let (out, err) = run(dir, &counted, threads);
                assert_eq!(out.trim(), want.len().to_string(), "{ctx} count");
                if damaged > 0 {
                    assert!(
                        damage_line(&err).contains(&format!("skipped {damaged} damaged")),
                        "{ctx}: {err}"
                    );
                }
                let mut listed = a.clone();
                listed.extend(["-o".into(), "json".into()]);
                let (out, _) = run(dir, &listed, threads);
                assert_eq!(out.lines().collect::<Vec<_>>(), want, "{ctx} -o json");
            }
        }
        for by in [
            "details.durationMs",
            "details",
            "details.nested.a",
            "details.arr.0",
            "id",
            "timestamp",
            "ip_address",
            "user_agent",
            "zz",
        ] {
            let path: Vec<&str> = by.split('.').collect();
            let mut want: Vec<(Option<String>, u64)> = Vec::new();
            for r in recs.iter().filter(|r| r.valid) {
                let key = lookup(r, &path).map(text);
                match want.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 += 1,
                    None => want.push((key, 1)),
                }
            }
            want.sort();
            for extra in [&[][..], &["--where".to_owned(), "nosuch!=x".to_owned()][..]] {
                let mut a: Vec<String> =
                    vec!["--count-by".into(), by.into(), "-o".into(), "json".into()];
                a.extend(extra.iter().cloned());
                let (out, _) = run(dir, &a, "2");
                let mut got: Vec<(Option<String>, u64)> = out
                    .lines()
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                        (
                            v["value"].as_str().map(str::to_owned),
                            v["count"].as_u64().expect("a count"),
                        )
                    })
                    .collect();
                got.sort();
                assert_eq!(got, want, "round {round} --count-by {by} {extra:?}");
            }
        }
    }
}
