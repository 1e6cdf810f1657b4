//! Days larger than one read chunk, forwards and backwards, plain and gzipped, with a
//! line too long to hold in the middle.

mod common;

use actlog::filter::{Filter, FilterSpec};
use actlog::query::{self, Query};
use actlog::scan::DamageKind;
use std::io::Write;
use std::ops::ControlFlow;

fn line(i: usize) -> String {
    format!(
        "{{\"id\":\"01937c3e-0000-7000-8000-{i:012}\",\"timestamp\":\"2026-11-24T{:02}:{:02}:{:02}.000Z\",\"username\":\"u{}\",\"action\":\"a.{i}\",\"details\":{{\"pad\":\"{}\"}}}}\n",
        i / 3600 % 24,
        i / 60 % 60,
        i % 60,
        i % 7,
        "p".repeat(i % 300)
    )
}

/// 30,000 records (about 6 MB) with a 3 MiB line after record 15,000.
fn content() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..30_000 {
        out.extend_from_slice(line(i).as_bytes());
        if i == 15_000 {
            out.extend(std::iter::repeat_n(
                b'x',
                actlog::scan::MAX_LINE + (1 << 20),
            ));
            out.push(b'\n');
        }
    }
    out
}

fn actions(dir: &std::path::Path, reverse: bool) -> (Vec<usize>, Vec<DamageKind>) {
    let q = Query {
        filter: Filter::new(&FilterSpec::default(), chrono::Utc::now()).unwrap(),
        limit: None,
        reverse,
        strict: false,
        ignore_summaries: false,
    };
    let mut got = Vec::new();
    let outcome = query::run(dir, &q, &mut |_, r| {
        got.push(r.action[2..].parse().unwrap());
        ControlFlow::Continue(())
    })
    .unwrap();
    (got, outcome.damage.iter().map(|d| d.kind).collect())
}

#[test]
fn a_large_plain_day_reads_the_same_forwards_and_backwards() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("activity-2026-11-24.json"), content()).unwrap();
    let (forward, damage) = actions(dir.path(), false);
    assert_eq!(forward, (0..30_000).collect::<Vec<_>>());
    assert_eq!(damage, [DamageKind::LineTooLong]);
    let (backward, damage) = actions(dir.path(), true);
    assert_eq!(backward, (0..30_000).rev().collect::<Vec<_>>());
    assert_eq!(damage, [DamageKind::LineTooLong]);
}

#[test]
fn a_large_gzipped_day_in_many_members_reads_the_same_forwards_and_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let data = content();
    let mut gz = Vec::new();
    // Members cut at arbitrary bytes, even inside lines: the content is one stream.
    for part in data.chunks(777_777) {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        gz.extend(e.finish().unwrap());
    }
    std::fs::write(dir.path().join("activity-2026-11-24.json.gz"), gz).unwrap();
    let (forward, damage) = actions(dir.path(), false);
    assert_eq!(forward, (0..30_000).collect::<Vec<_>>());
    assert_eq!(damage, [DamageKind::LineTooLong]);
    let (backward, _) = actions(dir.path(), true);
    assert_eq!(backward, (0..30_000).rev().collect::<Vec<_>>());
}

#[test]
fn tail_of_a_large_day_reads_only_its_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("activity-2026-11-24.json"), content()).unwrap();
    let out = common::actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["tail", "-n", "3", "-o", "json"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = text
        .lines()
        .map(|l| &l[l.find("\"a.").unwrap() + 3..l.find("\",\"details").unwrap()])
        .collect();
    assert_eq!(got, ["29997", "29998", "29999"]);
    // The long line lies before the last 3 records: never reached, never reported.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The day as indexed gzip members (each records its length), cut every `every` bytes,
/// even inside lines.
fn indexed_members(data: &[u8], every: usize) -> Vec<u8> {
    let mut gz = Vec::new();
    for part in data.chunks(every) {
        gz.extend(
            actlog::gzmeta::encode_member(part, flate2::Compression::fast(), None, None).unwrap(),
        );
    }
    gz
}

#[test]
fn an_indexed_gzipped_day_is_inflated_in_parallel_with_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let data = content();
    let path = dir.path().join("activity-2026-11-24.json.gz");
    std::fs::write(&path, indexed_members(&data, 333_333)).unwrap();
    let index = actlog::gzmeta::member_index(&std::fs::File::open(&path).unwrap())
        .unwrap()
        .unwrap();
    assert!(index.len() > 20, "{} members", index.len());
    let (forward, damage) = actions(dir.path(), false);
    assert_eq!(forward, (0..30_000).collect::<Vec<_>>());
    assert_eq!(damage, [DamageKind::LineTooLong]);
    let (backward, _) = actions(dir.path(), true);
    assert_eq!(backward, (0..30_000).rev().collect::<Vec<_>>());
    // zcat agrees.
    if let Ok(out) = std::process::Command::new("zcat").arg(&path).output() {
        assert_eq!(out.stdout, data);
    }
}

#[test]
fn a_corrupt_member_in_an_indexed_day_is_reported_and_what_precedes_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = content();
    // Members end at line ends here, so the records before the bad member are whole.
    let mut gz = Vec::new();
    let mut members = 0;
    let mut bad_at = 0;
    let mut lines_before_bad = 0;
    for (n, chunk) in data
        .split_inclusive(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .chunks(1000)
        .enumerate()
    {
        let part: Vec<u8> = chunk.concat();
        let mut member =
            actlog::gzmeta::encode_member(&part, flate2::Compression::fast(), None, None).unwrap();
        if n == 5 {
            let mid = member.len() / 2;
            member[mid] ^= 0xff;
            bad_at = gz.len();
        }
        if n < 5 {
            lines_before_bad += chunk.len();
        }
        gz.extend(member);
        members += 1;
    }
    assert!(members > 10 && bad_at > 0);
    std::fs::write(dir.path().join("activity-2026-11-24.json.gz"), gz).unwrap();
    let (forward, damage) = actions(dir.path(), false);
    assert_eq!(forward, (0..lines_before_bad).collect::<Vec<_>>());
    assert_eq!(damage, [DamageKind::CorruptGzip]);
}
