//! The layout: day file names both ways, and listing only our own files.

use actlog::layout::{DayFiles, FileKind, file_name, list_days, parse_file_name};
use chrono::NaiveDate;
use std::fs;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn names_round_trip() {
    let d = day("2026-11-24");
    assert_eq!(file_name(d, FileKind::Plain), "activity-2026-11-24.json");
    assert_eq!(file_name(d, FileKind::Gzip), "activity-2026-11-24.json.gz");
    assert_eq!(
        parse_file_name("activity-2026-11-24.json"),
        Some((d, FileKind::Plain))
    );
    assert_eq!(
        parse_file_name("activity-2026-11-24.json.gz"),
        Some((d, FileKind::Gzip))
    );
    assert_eq!(
        parse_file_name("activity-0001-01-01.json"),
        Some((day("0001-01-01"), FileKind::Plain))
    );
}

#[test]
fn foreign_names_are_not_ours() {
    for name in [
        "activity-2026-1-24.json",
        "activity-2026-11-4.json",
        "activity-2026-02-30.json",
        "activity-2026-11-24.json.bak",
        "activity-2026-11-24.jsonl",
        "activity-2026-11-24.json.gz.tmp",
        ".activity-2026-11-24.json",
        "xactivity-2026-11-24.json",
        "activity-+2026-11-24.json",
        "activity-2026-11-2a.json",
        "activity-2026-11-24",
        "activity-２０２６-11-24.json",
        "notes.txt",
    ] {
        assert_eq!(parse_file_name(name), None, "{name}");
    }
}

#[test]
fn listing_finds_plain_and_gzip_days_and_ignores_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::write(p.join("activity-2026-11-24.json"), "").unwrap();
    fs::write(p.join("activity-2026-11-24.json.gz"), "").unwrap();
    fs::write(p.join("activity-2026-11-23.json.gz"), "").unwrap();
    fs::write(p.join("activity-2026-11-25.json"), "").unwrap();
    fs::write(p.join(".activity-2026-11-20.json.tmp"), "").unwrap();
    fs::write(p.join("README"), "").unwrap();
    fs::write(p.join("activity-2026-11-21.json.bak"), "").unwrap();
    fs::create_dir(p.join("activity-2026-11-22.json")).unwrap();
    std::os::unix::fs::symlink(
        "activity-2026-11-25.json",
        p.join("activity-2026-11-26.json"),
    )
    .unwrap();
    let days = list_days(p).unwrap();
    let got: Vec<_> = days.into_iter().collect();
    assert_eq!(
        got,
        [
            (
                day("2026-11-23"),
                DayFiles {
                    plain: false,
                    gzip: true
                }
            ),
            (
                day("2026-11-24"),
                DayFiles {
                    plain: true,
                    gzip: true
                }
            ),
            (
                day("2026-11-25"),
                DayFiles {
                    plain: true,
                    gzip: false
                }
            ),
        ]
    );
}

#[test]
fn listing_a_missing_directory_names_it() {
    let e = list_days(std::path::Path::new("/nonexistent/actlog-dir")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/actlog-dir"), "{e}");
}
