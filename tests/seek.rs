//! Members that record their time range: time windows skip the others, `tail` reads only
//! the last ones, and every answer equals a full scan's.

mod common;

use actlog::filter::{Filter, FilterSpec};
use actlog::gzmeta::{TimeBounds, encode_member};
use actlog::query::{self, Query};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::ops::ControlFlow;
use std::path::Path;

fn line(i: usize, ts: DateTime<Utc>) -> String {
    format!(
        "{{\"id\":\"01937c3e-0000-7000-8000-{i:012}\",\"timestamp\":\"{}\",\"username\":\"u{}\",\"action\":\"a.{i}\"}}\n",
        actlog::record::format_timestamp(ts),
        i % 5
    )
}

/// Writes `records` (already serialized, whole lines) as members of `per` lines each,
/// with time ranges: the way maintenance writes a day.
fn write_indexed(dir: &Path, lines: &[String], per: usize) {
    let mut gz = Vec::new();
    for chunk in lines.chunks(per) {
        let data = chunk.concat().into_bytes();
        let bounds = actlog::gzmeta::time_bounds(&data);
        gz.extend(encode_member(&data, flate2::Compression::fast(), None, bounds).unwrap());
    }
    std::fs::write(dir.join("activity-2026-11-24.json.gz"), gz).unwrap();
}

fn ids(
    dir: &Path,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    reverse: bool,
) -> (Vec<String>, u64) {
    let spec = FilterSpec {
        since: since.map(|t| t.to_rfc3339()),
        until: until.map(|t| t.to_rfc3339()),
        ..FilterSpec::default()
    };
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        // An empty range is refused (CONTRACT section 4); it holds nothing.
        assert!(Filter::new(&spec, Utc::now()).is_err());
        return (Vec::new(), 0);
    }
    let q = Query {
        filter: Filter::new(&spec, Utc::now()).unwrap(),
        limit: None,
        reverse,
        strict: false,
        ignore_summaries: false,
    };
    let mut got = Vec::new();
    let outcome = query::run(dir, &q, &mut |_, r| {
        got.push(r.action.clone());
        ControlFlow::Continue(())
    })
    .unwrap();
    (got, outcome.damaged)
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 60,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/seek.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Out-of-order timestamps within a day, random members and windows: the indexed
    /// `.gz` answers exactly as the same records in a plain file (read whole).
    #[test]
    fn windows_over_indexed_members_equal_a_full_scan(
        // Whole hours, so records often sit exactly on a window's edge.
        minutes in prop::collection::vec((0i64..24).prop_map(|h| h * 60), 1..400),
        per in 1usize..40,
        windows in prop::collection::vec(
            (prop::option::of((0i64..25).prop_map(|h| h * 60)), prop::option::of((0i64..25).prop_map(|h| h * 60))),
            1..6,
        ),
        reverse in any::<bool>(),
    ) {
        let lines: Vec<String> = minutes.iter().enumerate().map(|(i, &m)| line(i, base() + Duration::minutes(m))).collect();
        let indexed = tempfile::tempdir().unwrap();
        write_indexed(indexed.path(), &lines, per);
        let plain = tempfile::tempdir().unwrap();
        std::fs::write(plain.path().join("activity-2026-11-24.json"), lines.concat()).unwrap();
        for (since, until) in windows {
            let since = since.map(|m| base() + Duration::minutes(m));
            let until = until.map(|m| base() + Duration::minutes(m));
            let got = ids(indexed.path(), since, until, reverse);
            let want = ids(plain.path(), since, until, reverse);
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn members_outside_the_window_are_never_inflated() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..1440)
        .map(|m| line(m, base() + Duration::minutes(m as i64)))
        .collect();
    // 24 members of one hour each; then break the morning ones.
    let mut gz = Vec::new();
    for (h, chunk) in lines.chunks(60).enumerate() {
        let data = chunk.concat().into_bytes();
        let mut member = encode_member(
            &data,
            flate2::Compression::fast(),
            None,
            actlog::gzmeta::time_bounds(&data),
        )
        .unwrap();
        if h < 6 {
            let mid = member.len() / 2;
            member[mid] ^= 0xff;
        }
        gz.extend(member);
    }
    std::fs::write(dir.path().join("activity-2026-11-24.json.gz"), gz).unwrap();
    let (got, damaged) = ids(
        dir.path(),
        Some(base() + Duration::hours(12)),
        Some(base() + Duration::hours(13)),
        false,
    );
    assert_eq!(got.len(), 60);
    assert_eq!(damaged, 0, "a skipped member was read");
    // The last 5 records: only the last member is read.
    let out = common::actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["tail", "-n", "5", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 5);
    // A full scan does meet the damage.
    let (_, damaged) = ids(dir.path(), None, None, false);
    assert!(damaged > 0);
}

#[test]
fn verify_checks_member_time_ranges_and_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..100)
        .map(|m| line(m, base() + Duration::minutes(m as i64)))
        .collect();
    let good = encode_member(
        lines[..50].concat().as_bytes(),
        flate2::Compression::fast(),
        None,
        actlog::gzmeta::time_bounds(lines[..50].concat().as_bytes()),
    )
    .unwrap();
    let lying = encode_member(
        lines[50..].concat().as_bytes(),
        flate2::Compression::fast(),
        None,
        Some(TimeBounds {
            first_ms: 0,
            last_ms: 1,
        }),
    )
    .unwrap();
    let path = dir.path().join("activity-2026-11-24.json.gz");
    std::fs::write(&path, [good.clone(), lying].concat()).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let problems = actlog::verify::verify(dir.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].problem, "member time range wrong");
    // Lengths that do not add up.
    let mut broken = good.clone();
    broken.extend_from_slice(&good[..good.len() - 5]);
    std::fs::write(&path, broken).unwrap();
    let problems = actlog::verify::verify(dir.path()).unwrap();
    assert!(
        problems.iter().any(|p| p.problem == "member index broken"),
        "{problems:?}"
    );
}
