//! `actlog stats` against the hand-checked fixtures.

mod common;

use std::path::PathBuf;

#[test]
fn per_day_and_total_figures() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/basic");
    let out = common::actlog()
        .arg("--dir")
        .arg(&dir)
        .args(["stats", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let days: Vec<(String, u64)> = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["records"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-22".to_owned(), 3),
            ("2026-11-23".into(), 4),
            ("2026-11-24".into(), 4),
            ("2026-11-25".into(), 3)
        ]
    );
    let total = &v["total"];
    assert_eq!(total["records"], 14);
    assert_eq!(total["damaged"], 0);
    assert_eq!(total["first"], "2026-11-22T08:00:00.000Z");
    assert_eq!(total["last"], "2026-11-25T23:59:59.999Z");
    let day24 = &v["days"][2];
    assert_eq!(
        day24["plain_bytes"],
        std::fs::metadata(dir.join("activity-2026-11-24.json"))
            .unwrap()
            .len()
    );
    assert_eq!(
        day24["gz_bytes"],
        std::fs::metadata(dir.join("activity-2026-11-24.json.gz"))
            .unwrap()
            .len()
    );
    assert!(day24["ratio"].is_f64(), "ratio is a number in JSON");
    let text = common::actlog()
        .arg("--dir")
        .arg(&dir)
        .arg("stats")
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.lines().last().unwrap().starts_with("4 days") && text.contains("2026-11-23"),
        "{text}"
    );
}

#[test]
fn stats_counts_damage_without_failing() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/damaged");
    let out = common::actlog()
        .arg("--dir")
        .arg(&dir)
        .args(["stats", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"]["records"], 6);
    assert_eq!(v["total"]["damaged"], 10);
}
