//! Differential test: random records (non-ASCII names, IPv4-mapped and upper-case IPv6
//! addresses, numbers past f64 precision) written with the binary, some days gzipped in
//! several members and then appended to, and random filters run through the binary,
//! compared with a plain model written from CONTRACT section 4 (not from the code).

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::actlog;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Output, Stdio};

const USERS: [&str; 5] = ["alice", "zoë", "Ünïcode", "bob", "日本"];
const ACTIONS: [&str; 9] = [
    "café.order",
    "cafe.order",
    "naïve.op",
    "report.view",
    "report.export",
    "auth.login",
    "auth.logout",
    "ünïcode.ÄCTION",
    "x",
];
const IPS: [&str; 7] = [
    "203.0.113.7",
    "::ffff:203.0.113.7",
    "::ffff:203.0.113.200",
    "198.51.100.1",
    "2001:db8::5",
    "2001:DB8::1",
    "::FFFF:198.51.100.9",
];
/// Spelled as the writer keeps them (no exponent, no trailing zeros).
const NUMS: [&str; 11] = [
    "0",
    "1",
    "-1",
    "400",
    "401",
    "1.5",
    "-2.25",
    "9007199254740992",
    "9007199254740993",
    "18446744073709551615",
    "-9223372036854775808",
];
const STRS: [&str; 10] = [
    "dark",
    "401",
    "-2.25",
    "2026-11-24",
    "2026-11-03T10:00:00Z",
    "Ünï",
    "0x10",
    "007",
    "",
    "café",
];
const MIXED: [&str; 8] = [
    "null",
    "true",
    "false",
    r#"{"a":1}"#,
    "[1,2]",
    "3",
    r#""3""#,
    r#""dark""#,
];
const GLOBS: [&str; 11] = [
    "caf?.order",
    "n[éa][ï]ve*",
    "[üx]n?code.*",
    "report.*",
    "auth.log{in,out}",
    "*.order",
    "[!r]*",
    "x",
    "{café,naïve}.*",
    "??????????????",
    "[a-d]*",
];
const IP_ARGS: [&str; 8] = [
    "203.0.113.0/24",
    "::ffff:203.0.113.7",
    "::ffff:203.0.113.0/120",
    "198.51.100.0/24",
    "2001:db8::/32",
    "2001:db8::1",
    "203.0.113.200",
    "::/0",
];
const FIELDS: [&str; 7] = [
    "details.n",
    "details.s",
    "details.v",
    "username",
    "action",
    "details.missing",
    "ip_address",
];
const OPS: [&str; 8] = ["=", "!=", "~", "!~", ">", ">=", "<", "<="];
const VALUES: [&str; 20] = [
    "0",
    "1",
    "1.50",
    "400.0",
    "401",
    "-3",
    "9007199254740992",
    "18446744073709551615",
    "dark",
    "2026-11-10",
    "a",
    "0x10",
    "Ünï",
    "true",
    "null",
    "007",
    "203.0.113.7",
    "::ffff:203.0.113.7",
    "2001:DB8::1",
    "zoë",
];
const REGEXES: [&str; 8] = ["^d", r"\d", "é", "^2026", "^$", ".", r"^203\.", "ï"];
const GREPS: [&str; 5] = ["zoë", "café", r#""n":1[,}]"#, "Ünï", "ffff"];

/// One generated record.
#[derive(Debug, Clone)]
struct Rec {
    user: usize,
    action: usize,
    ip: Option<usize>,
    n: usize,
    s: Option<usize>,
    v: Option<usize>,
    ts: DateTime<Utc>,
    /// 0: written before maintenance, 1: after (plain file after the .gz).
    phase: u8,
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

fn input_line(k: usize, r: &Rec, pad: &str) -> String {
    let mut details = format!(r#""k":{k},"n":{}"#, NUMS[r.n]);
    if let Some(s) = r.s {
        details.push_str(&format!(r#","s":{}"#, serde_json::json!(STRS[s])));
    }
    if let Some(v) = r.v {
        details.push_str(&format!(r#","v":{}"#, MIXED[v]));
    }
    if !pad.is_empty() {
        details.push_str(&format!(r#","pad":"{pad}""#));
    }
    let ip =
        r.ip.map_or(String::new(), |i| format!(r#","ip_address":"{}""#, IPS[i]));
    format!(
        r#"{{"timestamp":"{}","username":"{}","action":"{}","details":{{{details}}}{ip}}}"#,
        r.ts.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        USERS[r.user],
        ACTIONS[r.action],
    )
}

fn run(dir: &Path, args: &[&str]) -> Output {
    actlog()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run actlog")
}

fn append(dir: &Path, lines: &[String]) {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut input = lines.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed");
    assert!(child.wait().expect("wait").success());
}

// ---- the model -------------------------------------------------------------------

/// A glob on characters: `*`, `?`, `[set]`, `[!set]`, ranges, `{a,b}` (one level).
fn glob_matches(glob: &str, s: &str) -> bool {
    if let (Some(open), Some(close)) = (glob.find('{'), glob.find('}')) {
        return glob[open + 1..close]
            .split(',')
            .any(|alt| glob_matches(&format!("{}{alt}{}", &glob[..open], &glob[close + 1..]), s));
    }
    let p: Vec<char> = glob.chars().collect();
    let s: Vec<char> = s.chars().collect();
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && m(&p[1..], &s[1..]),
            Some('[') => {
                let close = 1 + p[1..].iter().position(|&c| c == ']').expect("closed");
                let mut set = &p[1..close];
                let negate = set.first() == Some(&'!');
                if negate {
                    set = &set[1..];
                }
                let Some(&c) = s.first() else {
                    return false;
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && m(&p[close + 1..], &s[1..])
            }
            Some(&c) => s.first() == Some(&c) && m(&p[1..], &s[1..]),
        }
    }
    m(&p, &s)
}

/// The canonical address: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(text: &str) -> IpAddr {
    let ip: IpAddr = text.parse().expect("test address");
    if let IpAddr::V6(v6) = ip {
        let s = v6.segments();
        if s[..5] == [0; 5] && s[5] == 0xffff {
            let o = v6.octets();
            return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
        }
    }
    ip
}

/// Whether `--ip ARG` matches a stored address (in canonical form).
fn ip_arg_matches(arg: &str, ip: IpAddr) -> bool {
    let (addr, prefix) = match arg.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u32>().expect("prefix"))),
        None => (arg, None),
    };
    let raw: IpAddr = addr.parse().expect("test address");
    let mapped = canonical(addr);
    // A mapped network (prefix at least 96) is the IPv4 network it maps.
    let (net, prefix) = match (raw, mapped, prefix) {
        (IpAddr::V6(_), IpAddr::V4(_), Some(p)) if p >= 96 => (mapped, Some(p - 96)),
        (IpAddr::V6(_), IpAddr::V4(_), Some(p)) => (raw, Some(p)),
        _ => (mapped, prefix),
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let p = prefix.unwrap_or(32);
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let p = prefix.unwrap_or(128);
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// A field's value as the model sees it.
#[derive(Debug, Clone, PartialEq)]
enum Mv {
    Missing,
    Str(String),
    Num(String),
    /// null, booleans, objects, arrays: their JSON text.
    Other(String),
}

fn field(r: &Rec, f: &str) -> Mv {
    match f {
        "details.n" => Mv::Num(NUMS[r.n].into()),
        "details.s" => r.s.map_or(Mv::Missing, |s| Mv::Str(STRS[s].into())),
        "details.v" => match r.v.map(|v| MIXED[v]) {
            None => Mv::Missing,
            Some(t) if t.starts_with('"') => Mv::Str(t.trim_matches('"').into()),
            Some("3") => Mv::Num("3".into()),
            Some(t) => Mv::Other(t.into()),
        },
        "username" => Mv::Str(USERS[r.user].into()),
        "action" => Mv::Str(ACTIONS[r.action].into()),
        "ip_address" => {
            r.ip.map_or(Mv::Missing, |i| Mv::Str(canonical(IPS[i]).to_string()))
        }
        _ => Mv::Missing,
    }
}

fn text(v: &Mv) -> Option<String> {
    match v {
        Mv::Missing => None,
        Mv::Str(s) | Mv::Num(s) | Mv::Other(s) => Some(s.clone()),
    }
}

/// A decimal with at most two fraction digits, times 100.
fn num(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || frac.len() > 2
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let v = int.parse::<i128>().ok()? * 100 + format!("{frac:0<2}").parse::<i128>().ok()?;
    Some(if neg { -v } else { v })
}

fn where_matches(r: &Rec, f: &str, op: &str, value: &str) -> bool {
    let v = field(r, f);
    let value = match (f, op) {
        ("ip_address", "=" | "!=") => value
            .parse::<IpAddr>()
            .map_or(value.to_owned(), |_| canonical(value).to_string()),
        _ => value.to_owned(),
    };
    let equal = || match (&v, num(&value)) {
        (Mv::Missing, _) => false,
        (Mv::Num(t), Some(b)) => num(t) == Some(b),
        (other, _) => text(other).as_deref() == Some(value.as_str()),
    };
    let order = || match (&v, num(&value)) {
        (Mv::Num(t), Some(b)) => num(t).map(|a| a.cmp(&b)),
        (Mv::Str(s), Some(b)) => num(s).map(|a| a.cmp(&b)),
        (Mv::Str(s), None) => Some(s.as_str().cmp(value.as_str())),
        _ => None,
    };
    let re = || regex::Regex::new(&value).expect("test regex");
    use std::cmp::Ordering::*;
    match op {
        "=" => equal(),
        "!=" => !equal(),
        "~" => text(&v).is_some_and(|t| re().is_match(&t)),
        "!~" => text(&v).is_none_or(|t| !re().is_match(&t)),
        ">" => order() == Some(Greater),
        ">=" => matches!(order(), Some(Greater | Equal)),
        "<" => order() == Some(Less),
        "<=" => matches!(order(), Some(Less | Equal)),
        _ => unreachable!(),
    }
}

/// One random query.
#[derive(Debug)]
struct Case {
    users: Vec<&'static str>,
    globs: Vec<&'static str>,
    ips: Vec<&'static str>,
    wheres: Vec<(&'static str, &'static str, &'static str, bool)>,
    greps: Vec<&'static str>,
    since: Option<(DateTime<Utc>, String)>,
    until: Option<(DateTime<Utc>, String)>,
    limit: Option<u64>,
    reverse: bool,
    /// None: records; Some(None): -c; Some(Some(F)): --count-by F.
    count: Option<Option<&'static str>>,
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, xs: &[T], most: usize) -> Vec<T> {
    let n = rng.usize(0..=most);
    (0..n).map(|_| xs[rng.usize(0..xs.len())]).collect()
}

/// A time on a three-hour grid over the four days, written in one of the TIME forms.
fn time(rng: &mut fastrand::Rng) -> (DateTime<Utc>, String) {
    let t = base() + Duration::hours(3 * rng.i64(0..=33));
    let text = match rng.u8(0..5) {
        0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        1 => (t + Duration::hours(1))
            .format("%Y-%m-%dT%H:%M:%S+01:00")
            .to_string(),
        2 => t.format("%Y-%m-%d %H:%M").to_string(),
        3 => format!("@{}", t.timestamp()),
        _ if t.format("%H").to_string() == "00" => t.format("%Y-%m-%d").to_string(),
        _ => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    };
    (t, text)
}

fn case(rng: &mut fastrand::Rng) -> Case {
    let wheres = (0..rng.usize(0..=2))
        .map(|_| {
            let f = FIELDS[rng.usize(0..FIELDS.len())];
            let op = OPS[rng.usize(0..OPS.len())];
            let v = if op.contains('~') {
                REGEXES[rng.usize(0..REGEXES.len())]
            } else {
                VALUES[rng.usize(0..VALUES.len())]
            };
            (f, op, v, rng.bool())
        })
        .collect();
    Case {
        users: pick(rng, &[USERS[0], USERS[1], USERS[2], "nobody"], 2),
        globs: pick(rng, &GLOBS, 2),
        ips: pick(rng, &IP_ARGS, 2),
        wheres,
        greps: pick(rng, &GREPS, 1),
        since: rng.bool().then(|| time(rng)),
        until: rng.bool().then(|| time(rng)),
        limit: match rng.u8(0..4) {
            0 => Some(rng.u64(0..5)),
            1 => Some(rng.u64(5..400)),
            _ => None,
        },
        reverse: rng.bool(),
        count: match rng.u8(0..4) {
            0 => Some(None),
            1 => Some(Some(
                [
                    "action",
                    "username",
                    "ip_address",
                    "details.s",
                    "details.n",
                    "details.v",
                    "details.missing",
                ][rng.usize(0..7)],
            )),
            _ => None,
        },
    }
}

fn args(c: &Case) -> Vec<String> {
    let mut a: Vec<String> = vec!["query".into(), "-o".into(), "json".into()];
    let mut flag = |f: &str, v: &str| {
        a.push(f.into());
        a.push(v.into());
    };
    for u in &c.users {
        flag("--user", u);
    }
    for g in &c.globs {
        flag("--action", g);
    }
    for i in &c.ips {
        flag("--ip", i);
    }
    for (f, op, v, spaced) in &c.wheres {
        let sp = if *spaced { " " } else { "" };
        flag("--where", &format!("{f}{sp}{op}{sp}{v}"));
    }
    for g in &c.greps {
        flag("-g", g);
    }
    if let Some((_, t)) = &c.since {
        flag("--since", t);
    }
    if let Some((_, t)) = &c.until {
        flag("--until", t);
    }
    if let Some(n) = c.limit {
        flag("-n", &n.to_string());
    }
    match c.count {
        Some(None) => a.push("-c".into()),
        Some(Some(f)) => flag("--count-by", f),
        None => {}
    }
    if c.reverse {
        a.push("-r".into());
    }
    a
}

fn selects(c: &Case, r: &Rec, line: &str) -> bool {
    (c.users.is_empty() || c.users.contains(&USERS[r.user]))
        && (c.globs.is_empty() || c.globs.iter().any(|g| glob_matches(g, ACTIONS[r.action])))
        && (c.ips.is_empty()
            || r.ip
                .is_some_and(|i| c.ips.iter().any(|a| ip_arg_matches(a, canonical(IPS[i])))))
        && c.wheres
            .iter()
            .all(|(f, op, v, _)| where_matches(r, f, op, v))
        && c.greps
            .iter()
            .all(|g| regex::Regex::new(g).expect("grep").is_match(line))
        && c.since.as_ref().is_none_or(|(t, _)| r.ts >= *t)
        && c.until.as_ref().is_none_or(|(t, _)| r.ts < *t)
}

#[test]
fn the_binary_agrees_with_a_model_of_the_contract() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_ac71);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut recs: Vec<Rec> = Vec::new();
    for k in 0..420 {
        // Day 2026-11-21 gets 250 records padded to about 10 KB, so its .gz has members
        // enough to be inflated on helper threads.
        let day = if (100..350).contains(&k) {
            1
        } else {
            [0, 2, 3][k % 3]
        };
        let secs = if rng.u8(0..4) == 0 {
            3 * 3600 * rng.i64(0..8)
        } else {
            rng.i64(0..86_400)
        };
        recs.push(Rec {
            user: rng.usize(0..USERS.len()),
            action: rng.usize(0..ACTIONS.len()),
            ip: rng.bool().then(|| rng.usize(0..IPS.len())),
            n: rng.usize(0..NUMS.len()),
            s: (rng.u8(0..4) > 0).then(|| rng.usize(0..STRS.len())),
            v: (rng.u8(0..4) > 0).then(|| rng.usize(0..MIXED.len())),
            ts: base() + Duration::days(day) + Duration::seconds(secs),
            phase: u8::from(k >= 380),
        });
    }
    let pad = "p".repeat(10_000);
    let lines = |phase: u8| -> Vec<String> {
        let mut ks: Vec<usize> = (0..recs.len())
            .filter(|&k| recs[k].phase == phase)
            .collect();
        ks.sort_by_key(|&k| (recs[k].ts, k));
        ks.iter()
            .map(|&k| {
                let day = (recs[k].ts - base()).num_days();
                input_line(k, &recs[k], if day == 1 { &pad } else { "" })
            })
            .collect()
    };
    append(d, &lines(0));
    let o = run(
        d,
        &[
            "--now",
            "2026-12-30T00:00:00Z",
            "maintain",
            "--keep-days",
            "100000",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.join("activity-2026-11-21.json.gz").exists());
    // Late records: these days now have a .gz and then a plain file.
    append(d, &lines(1));

    // Stored order: days ascending, the .gz then the plain file, line order.
    let mut order: Vec<usize> = (0..recs.len()).collect();
    order.sort_by_key(|&k| {
        (
            (recs[k].ts - base()).num_days(),
            recs[k].phase,
            recs[k].ts,
            k,
        )
    });
    let all = run(d, &["query", "-o", "json"]);
    let stored: Vec<String> = String::from_utf8(all.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect();
    let mut line_of: HashMap<usize, String> = HashMap::new();
    let got_order: Vec<usize> = stored
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let k = v["details"]["k"].as_u64().expect("k") as usize;
            line_of.insert(k, l.clone());
            k
        })
        .collect();
    assert_eq!(got_order, order, "stored order");

    // (cases that matched something, -c or --count-by with -n, empty ranges)
    let mut seen = (0, 0, 0);
    for i in 0..150 {
        let c = case(&mut rng);
        let a = args(&c);
        let o = run(d, &a.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        if let (Some((s, _)), Some((u, _))) = (&c.since, &c.until)
            && s >= u
        {
            assert_eq!(
                o.status.code(),
                Some(2),
                "case {i} {a:?}: empty range accepted"
            );
            assert!(err.contains("--until"), "{err}");
            seen.2 += 1;
            continue;
        }
        let mut picked: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&k| selects(&c, &recs[k], &line_of[&k]))
            .collect();
        if c.reverse {
            picked.reverse();
        }
        if let Some(n) = c.limit {
            picked.truncate(n as usize);
        }
        let out = String::from_utf8(o.stdout).expect("utf-8");
        assert!(err.is_empty(), "case {i} {a:?}: {err}");
        match c.count {
            None => {
                let want: Vec<&str> = picked.iter().map(|k| line_of[k].as_str()).collect();
                assert_eq!(out.lines().collect::<Vec<_>>(), want, "case {i} {a:?}");
            }
            Some(None) => assert_eq!(out.trim(), picked.len().to_string(), "case {i} {a:?}"),
            Some(Some(f)) => {
                let mut want: HashMap<Option<String>, u64> = HashMap::new();
                for k in &picked {
                    *want.entry(text(&field(&recs[*k], f))).or_default() += 1;
                }
                let got: HashMap<Option<String>, u64> = out
                    .lines()
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).expect("json");
                        (
                            v["value"].as_str().map(str::to_owned),
                            v["count"].as_u64().expect("count"),
                        )
                    })
                    .collect();
                assert_eq!(got, want, "case {i} {a:?}");
            }
        }
        seen.0 += usize::from(!picked.is_empty());
        seen.1 += usize::from(c.count.is_some() && c.limit.is_some());
        let code = if picked.is_empty() { 1 } else { 0 };
        assert_eq!(o.status.code(), Some(code), "case {i} {a:?}");
    }
    eprintln!("cases matching something, counting with -n, empty ranges: {seen:?}");
    assert!(seen.0 >= 30 && seen.1 >= 10 && seen.2 >= 3, "{seen:?}");
}
