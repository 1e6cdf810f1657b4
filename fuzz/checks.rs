//! What every fuzz target checks, shared (by `#[path]`) between the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and the replay test `tests/fuzz_regressions.rs`, so a crash kept
//! in `fixtures/fuzz/` is re-checked by `cargo test` with the very same code.
//!
//! Each function must never panic on any input; the `assert!`s inside state properties
//! that hold for every input, so a failure is a finding, not noise.

use actlog::filter::{Filter, FilterSpec};
use actlog::layout::{FileKind, file_name};
use actlog::query::{self, CountBy, Query};
use actlog::record::LiteRecord;
use actlog::{Activity, Record};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::ops::ControlFlow;
use std::path::Path;

/// The fixed "now" that relative times in fuzzed queries are measured from.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A stored line to run fuzzed filters against.
const SAMPLE: &[u8] = br#"{"id":"019abcde-0000-7000-8000-000000000001","timestamp":"2026-11-25T08:00:00.000Z","username":"alice","action":"login","details":{"a":{"b":[1,2.5,"x"]},"n":3},"ip_address":"203.0.113.7","user_agent":"curl/8"}"#;

/// Line parsers: the full record parser, the light borrowed one, and the input parser.
/// A line that parses re-encodes to a canonical line that is a fixed point (a foreign
/// line's sub-millisecond digits are not kept: stored timestamps are milliseconds), and
/// the light parser accepts it with the same user and action.
pub fn record_line(data: &[u8]) {
    if let Ok(r) = Record::parse_line(data) {
        let mut out = Vec::new();
        r.write_json(&mut out);
        let again = Record::parse_line(&out);
        assert!(again.is_ok(), "re-encoded line does not parse: {again:?}");
        if let Ok(again) = again {
            let mut twice = Vec::new();
            again.write_json(&mut twice);
            assert_eq!(out, twice, "canonical encoding is not a fixed point");
            assert_eq!(
                (&again.id, &again.username, &again.action),
                (&r.id, &r.username, &r.action)
            );
            assert_eq!((&again.details, &again.extra), (&r.details, &r.extra));
        }
        let lite = LiteRecord::parse(&out);
        assert!(
            lite.is_some_and(|l| l.username == r.username && l.action == r.action),
            "light parser disagrees on a canonical line"
        );
    }
    if let Some(lite) = LiteRecord::parse(data) {
        let _ = (lite.username, lite.action);
    }
    if let Ok(a) = Activity::from_json(data) {
        let _ = a.validate();
    }
}

/// Query text: time expressions, intervals, filter flags and `--count-by` fields, split
/// from the input at newlines. A filter that compiles is run on a sample line and on the
/// input; its byte prefilter may never reject a line the full match accepts.
pub fn query_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.split('\n').collect();
    let part = |i: usize| parts.get(i).map(|s| (*s).to_owned());
    for p in &parts {
        let _ = actlog::timeexpr::parse_time(p, now());
        let _ = actlog::timeexpr::parse_interval(p);
        let _ = CountBy::new(p);
    }
    let spec = FilterSpec {
        since: part(0).filter(|s| !s.is_empty()),
        until: part(1).filter(|s| !s.is_empty()),
        users: part(2).into_iter().filter(|s| !s.is_empty()).collect(),
        actions: part(3).into_iter().filter(|s| !s.is_empty()).collect(),
        ips: part(4).into_iter().filter(|s| !s.is_empty()).collect(),
        wheres: part(5).into_iter().filter(|s| !s.is_empty()).collect(),
        greps: part(6).into_iter().filter(|s| !s.is_empty()).collect(),
        ignore_case: part(8).is_some_and(|s| s.contains('i')),
        invert_grep: part(8).is_some_and(|s| s.contains('v')),
        fixed_strings: part(8).is_some_and(|s| s.contains('F')),
    };
    let Ok(filter) = Filter::new(&spec, now()) else {
        return;
    };
    // `-g` is checked on the line only; without it, the line check is a pure prefilter.
    let no_grep = FilterSpec {
        greps: Vec::new(),
        invert_grep: false,
        ..spec
    };
    let Ok(prefilter) = Filter::new(&no_grep, now()) else {
        panic!("the filter compiles with -g but not without it");
    };
    let _ = (filter.days(), filter.window(), filter.is_everything());
    let extra = part(7).unwrap_or_default();
    for line in [SAMPLE, extra.as_bytes()] {
        let Ok(r) = Record::parse_line(line) else {
            continue;
        };
        let full = filter.record_matches(&r);
        assert_eq!(prefilter.record_matches(&r), full);
        if full {
            assert!(
                prefilter.line_may_match(line),
                "prefilter rejected a matching line"
            );
        }
        let _ = filter.line_may_match(line);
        if let Some(lite) = LiteRecord::parse(line) {
            match filter.lite_matches(&lite) {
                Some(lite_match) => assert_eq!(lite_match, full, "light and full match differ"),
                None => assert!(
                    filter.needs_record(),
                    "the light match gave up on a filter it can evaluate"
                ),
            }
        }
    }
}

/// The day a fuzzed day file is stored as.
fn fuzz_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default()
}

/// Day files: the first byte says which of the plain and gzip files to write (bit 0: gzip,
/// bit 1: plain; both: the next two bytes say where to split the rest). Every reading path
/// runs on them: forwards, backwards, a time window, a limit, counts, verify and
/// maintenance. Without damage, backwards is exactly forwards reversed, and maintenance
/// changes no record (unless it ends an unterminated last line).
pub fn day_files(data: &[u8], scratch: &Path) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (gz, plain): (&[u8], &[u8]) = match mode & 3 {
        1 => (rest, &[]),
        2 => (&[], rest),
        3 if rest.len() >= 2 => {
            let body = &rest[2..];
            let at = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % (body.len() + 1);
            body.split_at(at)
        }
        _ => return,
    };
    let day = fuzz_day();
    let _ = std::fs::remove_dir_all(scratch);
    if std::fs::create_dir_all(scratch).is_err() {
        return;
    }
    if mode & 1 == 1 && std::fs::write(scratch.join(file_name(day, FileKind::Gzip)), gz).is_err() {
        return;
    }
    if mode & 2 == 2
        && std::fs::write(scratch.join(file_name(day, FileKind::Plain)), plain).is_err()
    {
        return;
    }
    let read = |q: &Query| {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let outcome = query::run(scratch, q, &mut |line, _| {
            lines.push(line.to_vec());
            ControlFlow::Continue(())
        });
        outcome.map(|o| (lines, o.damaged))
    };
    let forward = read(&Query::default());
    let backward = read(&Query {
        reverse: true,
        ..Query::default()
    });
    if let (Ok((f, 0)), Ok((mut b, 0))) = (&forward, backward) {
        b.reverse();
        assert_eq!(f, &b, "backwards is not forwards reversed");
    }
    let window = Filter::new(
        &FilterSpec {
            since: Some("2026-11-24T06:00:00Z".into()),
            until: Some("2026-11-24T18:00:00Z".into()),
            ..FilterSpec::default()
        },
        now(),
    );
    if let Ok(filter) = window {
        for reverse in [false, true] {
            let _ = read(&Query {
                filter: filter.clone(),
                reverse,
                limit: Some(3),
                strict: false,
                ignore_summaries: false,
            });
        }
    }
    let _ = query::count(scratch, &Query::default());
    if let Ok(by) = CountBy::new("details.a") {
        let _ = query::count_by(scratch, &Query::default(), &by);
    }
    let _ = actlog::verify::verify(scratch);
    let _ = actlog::stats::stats(scratch);
    let policy = actlog::maintain::Policy::default();
    let today = day.succ_opt().and_then(|d| d.succ_opt()).unwrap_or(day);
    // Maintenance ends an unterminated last line with a newline, as the next writer
    // would (MAINTENANCE.md): a last line cut just before its newline then reads as a
    // record. Only a plain file without such a line must read exactly the same after.
    let unterminated = !plain.is_empty() && !plain.ends_with(b"\n");
    if actlog::maintain::run(scratch, today, &policy).is_ok()
        && !unterminated
        && let (Ok((before, 0)), Ok((after, 0))) = (&forward, read(&Query::default()))
    {
        assert_eq!(before, &after, "maintenance changed what a clean day holds");
    }
}
