//! Replays every kept fuzz finding (`fixtures/fuzz/<target>/`) and every seed
//! (`fuzz/seeds/<target>/`) through the same checks the cargo-fuzz targets run, then a
//! short stable-Rust campaign: arbitrary bytes and mutated seeds through each check.
//! The long campaign is `cargo fuzz` (see docs/RELIABILITY.md).

#[allow(dead_code)]
#[path = "../fuzz/checks.rs"]
mod checks;

use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        root.join("fixtures/fuzz").join(target),
        root.join("fuzz/seeds").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

#[test]
fn kept_findings_and_seeds_pass_every_check() {
    let scratch = tempfile::tempdir().unwrap();
    let mut n = 0;
    for (path, data) in inputs("record_line") {
        eprintln!("record_line {}", path.display());
        checks::record_line(&data);
        n += 1;
    }
    for (path, data) in inputs("query_text") {
        eprintln!("query_text {}", path.display());
        checks::query_text(&data);
        n += 1;
    }
    for (path, data) in inputs("day_files") {
        eprintln!("day_files {}", path.display());
        checks::day_files(&data, &scratch.path().join("logs"));
        n += 1;
    }
    assert!(n >= 30, "only {n} inputs found");
}

/// A seed with a few bytes overwritten, inserted or cut.
fn mutated(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = inputs(target).into_iter().map(|(_, d)| d).collect();
    (
        prop::sample::select(seeds),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(|(mut data, edits)| {
            for (at, byte, how) in edits {
                if data.is_empty() {
                    data.push(byte);
                    continue;
                }
                let i = at.index(data.len());
                match how {
                    0 => data[i] = byte,
                    1 => data.insert(i, byte),
                    _ => data.truncate(i.max(1)),
                }
            }
            data
        })
}

/// A fixed seed, so CI runs the same cases every time (exploring is the cargo-fuzz
/// campaign's job); `PROPTEST_RNG_SEED=N` runs others.
fn config(cases: u32) -> ProptestConfig {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_126);
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_bytes_through_the_line_parsers(data in prop::collection::vec(any::<u8>(), 0..400)) {
        checks::record_line(&data);
    }

    #[test]
    fn mutated_lines_through_the_line_parsers(data in mutated("record_line")) {
        checks::record_line(&data);
    }

    #[test]
    fn mutated_queries_through_the_query_parsers(data in mutated("query_text")) {
        checks::query_text(&data);
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn mutated_day_files_through_every_reading_path(data in mutated("day_files")) {
        let scratch = tempfile::tempdir().unwrap();
        checks::day_files(&data, &scratch.path().join("logs"));
    }
}
