//! `actlog demo --days N --shape realistic`: the benchmark data set of a realistic store,
//! read back with flate2 and serde_json alone (not through actlog's readers) and checked
//! against what it promises: deterministic bytes, valid records in time order, sessions,
//! and a skewed user distribution.

mod common;

use common::actlog;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

const DAYS: [&str; 2] = ["2026-10-01", "2026-10-02"];

fn generate(dir: &Path, extra: &[&str]) {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["demo", "--days", "2", "--per-day", "5000"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn day_file(dir: &Path, day: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("activity-{day}.json.gz"))).unwrap()
}

fn inflate(gz: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// One record as this test reads it.
struct Rec {
    ms: i64,
    user: String,
    ip: String,
}

/// Every line of one day, checked to be a whole record of that day; in file order.
fn records_of(text: &str, day: &str) -> Vec<Rec> {
    let keys = [
        "id",
        "timestamp",
        "username",
        "action",
        "details",
        "ip_address",
        "user_agent",
    ];
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.keys().map(String::as_str).collect::<Vec<_>>(), keys);
        // And a record by actlog's own definition too.
        assert!(
            actlog::Record::parse_line(line.as_bytes()).is_ok(),
            "{line}"
        );
        let ts = chrono::DateTime::parse_from_rfc3339(obj["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(ts.date_naive().to_string(), day, "{line}");
        let user = obj["username"].as_str().unwrap();
        let rank: u32 = user.strip_prefix('u').unwrap().parse().unwrap();
        assert!(user.len() == 6 && rank < 20_000, "{user}");
        let d = &obj["details"];
        let ms = d["durationMs"].as_u64().unwrap();
        assert!((1..5000).contains(&ms), "{line}");
        assert!(d["reportId"].as_str().unwrap().starts_with("r-"));
        assert!(d["property"].as_str().unwrap().starts_with("properties/"));
        out.push(Rec {
            ms: ts.timestamp_millis(),
            user: user.to_owned(),
            ip: obj["ip_address"].as_str().unwrap().to_owned(),
        });
    }
    out
}

#[test]
fn realistic_dataset_is_deterministic_ordered_in_sessions_and_skewed() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    generate(a.path(), &["--shape", "realistic"]);
    generate(b.path(), &["--shape", "realistic"]);
    let mut per_user: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut ips: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut total = 0usize;
    for day in DAYS {
        let gz = day_file(a.path(), day);
        assert!(
            gz == day_file(b.path(), day),
            "{day}: two runs wrote different bytes"
        );
        // Written as maintenance writes: every member carries a summary of its lines.
        let file = std::fs::File::open(a.path().join(format!("activity-{day}.json.gz"))).unwrap();
        let members = actlog::gzmeta::member_index(&file).unwrap().unwrap();
        assert!(members.len() > 1, "{day}: one member");
        let summed: u64 = members
            .iter()
            .map(|m| m.summary.as_ref().expect("a summary").valid)
            .sum();
        assert_eq!(summed, 5000, "{day}");
        let recs = records_of(&inflate(&gz), day);
        assert_eq!(recs.len(), 5000, "{day}");
        assert!(
            recs.windows(2).all(|w| w[0].ms <= w[1].ms),
            "{day}: records out of time order"
        );
        for r in recs {
            per_user.entry(r.user.clone()).or_default().push(r.ms);
            ips.entry(r.user).or_default().insert(r.ip);
            total += 1;
        }
    }
    // Sessions: a user's next action mostly follows within minutes (a uniform set of
    // 500 users x 10 records a day has hours between them).
    let (mut close, mut pairs) = (0usize, 0usize);
    for times in per_user.values() {
        for w in times.windows(2) {
            pairs += 1;
            close += usize::from(w[1] - w[0] <= 5 * 60_000);
        }
    }
    assert!(
        close * 10 >= pairs * 8,
        "only {close} of {pairs} consecutive actions of one user within 5 minutes"
    );
    // Each user comes from their own 1-3 addresses.
    for (user, set) in &ips {
        assert!(set.len() <= 3, "{user} used {} addresses", set.len());
    }
    // Skew: the top 1% of the users seen do more than 20% of the actions, and the heavy
    // user named for benchmarks (rank 1) is the busiest.
    let mut counts: Vec<(usize, &String)> = per_user.iter().map(|(u, t)| (t.len(), u)).collect();
    counts.sort_by(|x, y| y.cmp(x));
    let top = counts.len().div_ceil(100);
    let top_share: usize = counts[..top].iter().map(|c| c.0).sum();
    assert!(
        top_share * 5 > total,
        "top {top} of {} users did {top_share} of {total} actions",
        counts.len()
    );
    assert_eq!(counts[0].1, "u00000");
}

#[test]
fn uniform_dataset_is_the_default_and_keeps_its_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    generate(a.path(), &[]);
    generate(b.path(), &["--shape", "uniform"]);
    for day in DAYS {
        assert!(day_file(a.path(), day) == day_file(b.path(), day), "{day}");
    }
    // The first record as the generator wrote it before shapes existed: benchmark results
    // measured on earlier runs stay comparable.
    let text = inflate(&day_file(a.path(), DAYS[0]));
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"id":"01a0f4c2-fedf-7624-875e-7b3116ac55d6","timestamp":"2026-10-01T00:00:15.071Z","username":"user229","action":"dashboard.view","details":{"reportId":"r-428203","durationMs":3310,"property":"properties/100002"},"ip_address":"2001:db8::8bef","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}"#
    );
    let users: BTreeSet<&str> = text
        .lines()
        .map(|l| &l[l.find("\"username\":\"").unwrap() + 12..][..7])
        .collect();
    assert!(users.iter().all(|u| u.starts_with("user")), "{users:?}");
}

#[test]
fn a_bad_shape_or_one_without_days_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (args, named) in [
        (
            &["demo", "--days", "1", "--shape", "zipf-ünïcode"][..],
            "--shape",
        ),
        (&["demo", "--shape", "realistic"][..], "--days"),
    ] {
        let out = actlog()
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
