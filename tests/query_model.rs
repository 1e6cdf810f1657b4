//! Property test: for random records (spread over plain and gzipped days) and random
//! filters, a query returns exactly what a straightforward model selects, in stored order.

use actlog::filter::{Filter, FilterSpec};
use actlog::query::{self, Query};
use actlog::{Activity, Options, Record, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;
use std::io::Write;
use std::net::IpAddr;
use std::ops::ControlFlow;

const USERS: [&str; 4] = ["alice", "bob", "Carol", "d\"q"];
const ACTIONS: [&str; 5] = [
    "report.view",
    "report.export",
    "auth.login",
    "auth.logout",
    "x",
];
const IPS: [&str; 4] = [
    "203.0.113.7",
    "203.0.113.200",
    "198.51.100.1",
    "2001:db8::5",
];

#[derive(Debug, Clone)]
struct Rec {
    user: usize,
    action: usize,
    ip: Option<usize>,
    n: i64,
    /// Minutes after the start of 2026-11-20.
    minute: i64,
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

/// A time on a 6-hour grid over four days (midnights included), so that records often
/// sit exactly on a --since/--until boundary.
fn grid() -> impl Strategy<Value = i64> {
    (0i64..17).prop_map(|k| k * 360)
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        0..USERS.len(),
        0..ACTIONS.len(),
        prop::option::of(0..IPS.len()),
        -5i64..20,
        grid(),
    )
        .prop_map(|(user, action, ip, n, minute)| Rec {
            user,
            action,
            ip,
            n,
            minute,
        })
}

#[derive(Debug, Clone)]
struct Spec {
    users: Vec<usize>,
    action: Option<usize>, // 0: report.*, 1: auth.log*, 2: exact "x"
    ip: Option<usize>,     // 0: 203.0.113.0/24, 1: exact 2001:db8::5
    n_over: Option<i64>,
    since: Option<i64>,
    until: Option<i64>,
    grep_n: Option<i64>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(0..USERS.len(), 0..3),
        prop::option::of(0usize..3),
        prop::option::of(0usize..2),
        prop::option::of(-5i64..20),
        prop::option::of(grid()),
        prop::option::of(grid()),
        prop::option::of(-5i64..20),
    )
        .prop_map(|(users, action, ip, n_over, since, until, grep_n)| Spec {
            users,
            action,
            ip,
            n_over,
            since,
            until,
            grep_n,
        })
}

/// The model: each condition written out plainly.
fn model(r: &Rec, s: &Spec) -> bool {
    let ts = r.minute;
    let action = ACTIONS[r.action];
    (s.users.is_empty() || s.users.contains(&r.user))
        && match s.action {
            None => true,
            Some(0) => action.starts_with("report."),
            Some(1) => action.starts_with("auth.log"),
            Some(_) => action == "x",
        }
        && match (s.ip, r.ip) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(0), Some(i)) => IPS[i].starts_with("203.0.113."),
            (Some(_), Some(i)) => IPS[i] == "2001:db8::5",
        }
        && s.n_over.is_none_or(|k| r.n > k)
        && s.since.is_none_or(|m| ts >= m)
        && s.until.is_none_or(|m| ts < m)
        && s.grep_n.is_none_or(|k| r.n == k)
}

fn filter_spec(s: &Spec) -> FilterSpec {
    let minute = |m: i64| (base() + Duration::minutes(m)).to_rfc3339();
    FilterSpec {
        since: s.since.map(minute),
        until: s.until.map(minute),
        users: s.users.iter().map(|&u| USERS[u].to_owned()).collect(),
        actions: s
            .action
            .map(|a| ["report.*", "auth.log*", "x"][a].to_owned())
            .into_iter()
            .collect(),
        ips: s
            .ip
            .map(|i| ["203.0.113.0/24", "2001:db8::5"][i].to_owned())
            .into_iter()
            .collect(),
        wheres: s
            .n_over
            .map(|k| format!("details.n > {k}"))
            .into_iter()
            .collect(),
        greps: s
            .grep_n
            .map(|k| format!(r#""n":{k}[,}}]"#))
            .into_iter()
            .collect(),
        ..FilterSpec::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/query_model.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn query_returns_exactly_what_the_model_selects_in_order(
        recs in prop::collection::vec(rec(), 0..120),
        gz_days in prop::collection::vec(any::<bool>(), 4),
        specs in prop::collection::vec(spec(), 1..6),
        reverse in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // Written in the given order, so within a day stored order is input order.
        let w = Store::open(dir.path(), Options::default()).unwrap().writer();
        for (i, r) in recs.iter().enumerate() {
            let mut a = Activity::new(USERS[r.user], ACTIONS[r.action])
                .with_details(json!({"i": i, "n": r.n})).unwrap()
                .at(base() + Duration::minutes(r.minute));
            if let Some(ip) = r.ip {
                a = a.with_ip(IPS[ip].parse::<IpAddr>().unwrap());
            }
            w.append(&a).unwrap();
        }
        drop(w);
        // Gzip some days whole (two members each), as maintenance will.
        for (day, gz) in gz_days.iter().enumerate() {
            let name = format!("activity-2026-11-{:02}.json", 20 + day);
            let plain = dir.path().join(&name);
            if !*gz || !plain.exists() {
                continue;
            }
            let data = std::fs::read(&plain).unwrap();
            let cut = data.iter().position(|&b| b == b'\n').map_or(data.len(), |i| i + 1);
            let mut out = Vec::new();
            for part in [&data[..cut], &data[cut..]] {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(part).unwrap();
                out.extend(e.finish().unwrap());
            }
            std::fs::write(dir.path().join(format!("{name}.gz")), out).unwrap();
            std::fs::remove_file(plain).unwrap();
        }
        // Stored order: by day, then input order within the day.
        let mut order: Vec<usize> = (0..recs.len()).collect();
        order.sort_by_key(|&i| (recs[i].minute / 1440, i));
        for s in &specs {
            let mut expected: Vec<usize> = order.iter().copied().filter(|&i| model(&recs[i], s)).collect();
            if reverse {
                expected.reverse();
            }
            // An empty range is refused (CONTRACT section 4), never an empty answer.
            if let (Some(a), Some(b)) = (s.since, s.until) && a >= b {
                prop_assert!(Filter::new(&filter_spec(s), base()).is_err());
                continue;
            }
            let filter = Filter::new(&filter_spec(s), base()).unwrap();
            let q = Query { filter, limit: None, reverse, strict: false, ignore_summaries: false };
            let mut got = Vec::new();
            let outcome = query::run(dir.path(), &q, &mut |_, r: &Record| {
                got.push(r.details.as_ref().unwrap()["i"].as_u64().unwrap() as usize);
                ControlFlow::Continue(())
            }).unwrap();
            prop_assert_eq!(outcome.damaged, 0);
            prop_assert_eq!(&got, &expected, "spec {:?}", s);
        }
    }
}
