//! `actlog maintain --reindex` and `actlog verify`'s summary check, through the binary:
//! days written by plain gzip, by `cat a.gz b.gz` and by an older actlog are rewritten
//! into members with summaries without a byte of their content or an answer changing;
//! a reindexing killed at any instant loses and duplicates nothing; a lying summary is
//! caught.

mod common;

use actlog_core::gzmeta;
use actlog_core::summary::{Summary, Values};
use common::actlog;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const USERS: [&str; 6] = ["alice", "bob", "ålice", "用户", "a\\\"q", "\u{1F600}"];
const ACTIONS: [&str; 4] = ["report.view", "café.order", "x", "login"];

/// Lines of a day: records (some with unknown fields and odd addresses) and damage; the
/// model's count of valid records per user.
fn day_content(rng: &mut fastrand::Rng, day: &str, n: usize) -> (Vec<u8>, Vec<(String, u64)>) {
    let mut out = Vec::new();
    let mut per_user = std::collections::BTreeMap::<String, u64>::new();
    for i in 0..n {
        match rng.u8(..40) {
            0 => out.extend_from_slice(b"{\"id\":\"torn\n"),
            1 => out.extend_from_slice(b"\xff\xfe not utf8\n"),
            2 => out.extend_from_slice(b"\0\0\0\0\n"),
            _ => {
                let u = USERS[rng.usize(..USERS.len())];
                let a = ACTIONS[rng.usize(..ACTIONS.len())];
                let ip = match rng.u8(..3) {
                    0 => ",\"ip_address\":\"::ffff:203.0.113.7\"".to_owned(),
                    1 => format!(",\"ip_address\":\"10.0.0.{}\"", rng.u8(..)),
                    _ => String::new(),
                };
                let extra = if rng.bool() {
                    ",\"zz_unknown\":{\"k\":[1.50,1e2]}"
                } else {
                    ""
                };
                let pad = "p".repeat(rng.usize(..200));
                let line = format!(
                    "{{\"id\":\"01937c3e-{:04x}-7d4e-9b1c-{:012x}\",\"timestamp\":\"{day}T{:02}:{:02}:00.000Z\",\"username\":\"{u}\",\"action\":\"{a}\",\"details\":{{\"pad\":\"{pad}\"}}{ip},\"user_agent\":\"ü\"{extra}}}\n",
                    i % 65536,
                    rng.u64(..1 << 48),
                    (i * 24 / n.max(1)) % 24,
                    rng.u8(..60),
                );
                out.extend_from_slice(line.as_bytes());
                let key = serde_json::from_str::<String>(&format!("\"{u}\"")).unwrap();
                *per_user.entry(key).or_default() += 1;
            }
        }
    }
    (out, per_user.into_iter().collect())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zcat(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn write_gz(dir: &Path, day: &str, bytes: &[u8]) {
    let path = dir.join(format!("activity-{day}.json.gz"));
    std::fs::write(&path, bytes).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&path).unwrap().permissions(),
        0o640,
    );
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
}

/// Members of whole lines as an older actlog wrote them: length and time range, no
/// summary; a coverage marker on some.
fn old_actlog(data: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut at = 0u64;
    while !rest.is_empty() {
        let want = rng.usize(1..40_000).min(rest.len());
        let end = memchr::memchr(b'\n', &rest[want - 1..]).map_or(rest.len(), |i| want + i);
        let (chunk, next) = rest.split_at(end);
        let covers = rng.bool().then_some(gzmeta::Covers {
            head_crc32: 0x1234_5678,
            head_len: 4096,
            from: at,
            to: at + chunk.len() as u64,
        });
        out.extend(
            gzmeta::encode_member(
                chunk,
                flate2::Compression::fast(),
                covers.as_ref(),
                gzmeta::time_bounds(chunk),
            )
            .unwrap(),
        );
        at += chunk.len() as u64;
        rest = next;
    }
    out
}

fn run(dir: &Path, args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = actlog().arg("--dir").arg(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every answer the test compares before and after, with exit codes.
fn answers(dir: &Path) -> Vec<(i32, Vec<u8>)> {
    let mut args: Vec<Vec<&str>> = vec![
        vec!["query", "-o", "json"],
        vec!["query", "-c"],
        vec!["query", "--count-by", "action"],
        vec!["query", "--count-by", "username"],
        vec!["query", "-c", "--ip", "203.0.113.7"],
        vec!["query", "-o", "json", "--action", "caf?.order"],
        vec!["verify", "-o", "json"],
    ];
    for u in USERS {
        args.push(vec!["query", "-o", "json", "--user", u]);
    }
    args.iter()
        .map(|a| {
            let (code, out, _) = run(dir, a);
            (code, out)
        })
        .collect()
}

fn members(path: &Path) -> Vec<gzmeta::Member> {
    gzmeta::member_index(&std::fs::File::open(path).unwrap())
        .unwrap()
        .expect("indexed")
}

#[test]
fn gzip_cat_and_old_actlog_days_are_reindexed_without_a_byte_or_an_answer_changing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mut rng = fastrand::Rng::with_seed(14);
    let days = ["2026-10-01", "2026-10-02", "2026-10-03"];
    let mut contents = Vec::new();
    let mut models = Vec::new();
    for (k, day) in days.iter().enumerate() {
        let (mut data, model) = day_content(&mut rng, day, 3000);
        let bytes = match k {
            0 => {
                data.extend_from_slice(b"{\"torn\":"); // no final newline
                gzip(&data)
            }
            1 => {
                // cut mid-line, as `cat a.gz b.gz` of any two halves would be
                let cut = rng.usize(1..data.len());
                [gzip(&data[..cut]), gzip(&data[cut..])].concat()
            }
            _ => old_actlog(&data, &mut rng),
        };
        write_gz(dir, day, &bytes);
        contents.push(data);
        models.push(model);
    }
    let before = answers(dir);
    // The model: the per-user counts are what the content holds.
    for (k, day) in days.iter().enumerate() {
        for (u, n) in &models[k] {
            let (_, out, _) = run(
                dir,
                &[
                    "query",
                    "-c",
                    "--user",
                    u,
                    "--since",
                    day,
                    "--until",
                    &format!("{day}T23:59:59.999Z"),
                ],
            );
            assert_eq!(
                String::from_utf8_lossy(&out).trim(),
                n.to_string(),
                "{day} {u}"
            );
        }
    }
    let (code, out, err) = run(
        dir,
        &["maintain", "--reindex", "--dry-run", "--keep-days", "3650"],
    );
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("would reindex 2026-10-01 (no member index"),
        "{out}"
    );
    assert!(out.contains("would reindex 2026-10-03 ("), "{out}");
    let (code, out, err) = run(dir, &["maintain", "--reindex", "--keep-days", "3650"]);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{err}");
    for day in days {
        assert!(out.contains(&format!("reindexed {day}: ")), "{out}");
    }
    for (k, day) in days.iter().enumerate() {
        let path = dir.join(format!("activity-{day}.json.gz"));
        assert_eq!(zcat(&path), contents[k], "{day} inflates to the same bytes");
        let index = members(&path);
        assert!(!index.is_empty(), "{day}: indexed");
        for (i, m) in index.iter().enumerate() {
            let last_unterminated = k == 0 && i == index.len() - 1;
            assert_eq!(m.summary.is_some(), !last_unterminated, "{day} member {i}");
        }
    }
    // The old members' markers are all still there, in order.
    let old_covers: Vec<_> = gzmeta::check_members(
        &std::fs::File::open(dir.join("activity-2026-10-03.json.gz")).unwrap(),
    )
    .unwrap();
    assert!(!old_covers.is_empty());
    assert_eq!(
        answers(dir),
        before,
        "every answer and verify's report as before"
    );
    let (code, out, err) = run(dir, &["maintain", "--reindex", "--keep-days", "3650"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "nothing to do: 3 days checked, none to compress, reindex or delete\n"
    );
    // Without --reindex nothing is reindexed.
    write_gz(dir, "2026-10-01", &gzip(&contents[0]));
    let (_, out, _) = run(dir, &["maintain", "--keep-days", "3650"]);
    assert!(!String::from_utf8_lossy(&out).contains("reindex"));
}

#[test]
fn old_markers_survive_reindexing() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let (data, _) = day_content(&mut rng, "2026-10-05", 2000);
    let bytes = old_actlog(&data, &mut rng);
    let path = t.path().join("activity-2026-10-05.json.gz");
    write_gz(t.path(), "2026-10-05", &bytes);
    let before = gzmeta::check_members(&std::fs::File::open(&path).unwrap()).unwrap();
    let (code, _, err) = run(t.path(), &["maintain", "--reindex", "--keep-days", "3650"]);
    assert_eq!(code, 0, "{err}");
    let after = gzmeta::check_members(&std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(before, after);
}

#[test]
fn a_damaged_gz_is_refused_and_left_as_it_is() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    let (data, _) = day_content(&mut rng, "2026-10-06", 500);
    let mut bytes = gzip(&data);
    let n = bytes.len();
    bytes[n - 6] ^= 0xff; // the CRC
    write_gz(t.path(), "2026-10-06", &bytes);
    let (code, _, err) = run(t.path(), &["maintain", "--reindex", "--keep-days", "3650"]);
    assert_eq!(code, 2);
    assert!(err.contains("not reindexing 2026-10-06: "), "{err}");
    assert!(err.contains("a damaged gzip member"), "{err}");
    assert_eq!(
        std::fs::read(t.path().join("activity-2026-10-06.json.gz")).unwrap(),
        bytes
    );
}

#[test]
fn a_day_with_a_plain_file_is_compressed_first_then_reindexed() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    let (data, _) = day_content(&mut rng, "2026-10-07", 800);
    let (late, _) = day_content(&mut rng, "2026-10-07", 50);
    write_gz(t.path(), "2026-10-07", &old_actlog(&data, &mut rng));
    std::fs::write(t.path().join("activity-2026-10-07.json"), &late).unwrap();
    let (code, out, err) = run(t.path(), &["maintain", "--reindex", "--keep-days", "3650"]);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("compressed 2026-10-07") && out.contains("reindexed 2026-10-07"),
        "{out}"
    );
    let path = t.path().join("activity-2026-10-07.json.gz");
    assert_eq!(zcat(&path), [data, late].concat());
    assert!(members(&path).iter().all(|m| m.summary.is_some()));
}

/// The lines of a member with a torn line, alice twice and bob once.
fn small_member_lines() -> Vec<u8> {
    let mut data = Vec::new();
    for (i, u) in ["alice", "bob", "alice"].iter().enumerate() {
        data.extend_from_slice(format!("{{\"id\":\"01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c1{i}\",\"timestamp\":\"2026-10-08T10:00:0{i}.000Z\",\"username\":\"{u}\",\"action\":\"x\"}}\n").as_bytes());
    }
    data.extend_from_slice(b"{\"torn\n");
    data
}

fn verify_json(dir: &Path) -> (i32, Vec<serde_json::Value>) {
    let (code, out, _) = run(dir, &["verify", "-o", "json"]);
    let problems = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, problems)
}

fn lying_day(summary: &Summary) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let data = small_member_lines();
    let good = gzmeta::encode_lines(&data, flate2::Compression::fast(), None).unwrap();
    let liar = gzmeta::encode_member_with(
        &data,
        flate2::Compression::fast(),
        None,
        gzmeta::time_bounds(&data),
        Some(summary),
    )
    .unwrap();
    write_gz(t.path(), "2026-10-08", &[good, liar].concat());
    t
}

#[test]
fn a_summary_that_lies_is_caught_by_verify() {
    let data = small_member_lines();
    let (honest, _) = Summary::of_lines(&data);
    assert_eq!((honest.valid, honest.damaged), (3, 1));
    let clean = lying_day(&honest);
    assert_eq!(verify_json(clean.path()).0, 1, "the torn line only");
    assert!(
        verify_json(clean.path())
            .1
            .iter()
            .all(|p| p["kind"] != "member-summary")
    );

    // One more valid record, one less damaged: consistent, so readers trust it.
    let mut s = honest.clone();
    s.valid += 1;
    s.damaged -= 1;
    s.users = Some(Values::Exact(vec![("alice".into(), 2), ("bob".into(), 2)]));
    s.actions = Some(Values::Exact(vec![("x".into(), 4)]));
    assert!(
        Summary::decode(&{
            let mut e = Vec::new();
            s.encode_into(&mut e);
            e
        })
        .is_some()
    );
    let t = lying_day(&s);
    let (code, problems) = verify_json(t.path());
    assert_eq!(code, 1);
    let p = problems
        .iter()
        .find(|p| p["kind"] == "member-summary")
        .expect("caught");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.starts_with("member 2 (at byte "), "{detail}");
    assert!(
        detail.contains("summary says 4 valid records, the member holds 3"),
        "{detail}"
    );
    assert!(
        detail.contains("summary says 0 damaged lines, the member holds 1"),
        "{detail}"
    );

    // A user missing from the exact set, its count moved to another.
    let mut s = honest.clone();
    s.users = Some(Values::Exact(vec![("bob".into(), 3)]));
    let t = lying_day(&s);
    let (code, problems) = verify_json(t.path());
    assert_eq!(code, 1);
    let p = problems
        .iter()
        .find(|p| p["kind"] == "member-summary")
        .expect("caught");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("summary lacks username \"alice\""),
        "{detail}"
    );
    assert!(
        detail.contains("summary says username \"bob\" 3 times, the member holds 1"),
        "{detail}"
    );
    let (_, _, err) = run(t.path(), &["verify"]);
    assert!(err.contains("hint: member summary wrong: "), "{err}");

    // Counts that do not add up: readers drop it, verify reports it.
    let mut s = honest.clone();
    s.valid = 9;
    let t = lying_day(&s);
    let (code, problems) = verify_json(t.path());
    assert_eq!(code, 1);
    let p = problems
        .iter()
        .find(|p| p["kind"] == "member-summary")
        .expect("caught");
    assert!(
        p["detail"].as_str().unwrap().contains(
            "summary refused by readers: its lines are not its valid records plus its damaged lines"
        ),
        "{p}"
    );
    // ... and reindexing rewrites a refused summary.
    let (code, out, err) = run(t.path(), &["maintain", "--reindex", "--keep-days", "3650"]);
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&out).contains("reindexed 2026-10-08"));
    assert!(
        verify_json(t.path())
            .1
            .iter()
            .all(|p| p["kind"] != "member-summary")
    );
}

#[test]
fn a_bloom_filter_that_misses_a_value_is_caught() {
    let t = tempfile::tempdir().unwrap();
    let mut data = Vec::new();
    for i in 0..400 {
        data.extend_from_slice(format!("{{\"id\":\"01937c3e-5b7a-7d4e-9b1c-{i:012x}\",\"timestamp\":\"2026-10-09T10:00:00.000Z\",\"username\":\"user-{i:04}-ü\",\"action\":\"x\"}}\n").as_bytes());
    }
    let (mut s, bounds) = Summary::of_lines(&data);
    assert!(
        s.users.as_ref().unwrap().exact().is_none(),
        "a Bloom filter"
    );
    // The filter of other values: some of these are certainly absent from it.
    let mut other = Vec::new();
    for i in 0..400 {
        other.extend_from_slice(format!("{{\"id\":\"01937c3e-5b7a-7d4e-9b1c-{i:012x}\",\"timestamp\":\"2026-10-09T10:00:00.000Z\",\"username\":\"zz-{i}\",\"action\":\"x\"}}\n").as_bytes());
    }
    s.users = Summary::of_lines(&other).0.users;
    let liar =
        gzmeta::encode_member_with(&data, flate2::Compression::fast(), None, bounds, Some(&s))
            .unwrap();
    write_gz(t.path(), "2026-10-09", &liar);
    let (code, problems) = verify_json(t.path());
    assert_eq!(code, 1);
    let p = problems
        .iter()
        .find(|p| p["kind"] == "member-summary")
        .expect("caught");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("(its Bloom filter says absent)"),
        "{p}"
    );
}

#[test]
fn reindexing_killed_at_random_loses_and_duplicates_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_path_buf();
    let mut rng = fastrand::Rng::with_seed(1414);
    let (data, model) = day_content(&mut rng, "2026-10-10", 14_000);
    assert!(data.len() > 2 << 20, "a few MiB: {}", data.len());
    let total: u64 = model.iter().map(|(_, n)| n).sum();
    let original = gzip(&data);
    write_gz(&dir, "2026-10-10", &original);
    let path = dir.join("activity-2026-10-10.json.gz");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ok = actlog()
                    .arg("--dir")
                    .arg(&dir)
                    .args(["append", "--user", "wrïter", "--action", "w"])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap()
                    .success();
                assert!(ok);
                n += 1;
            }
            n
        })
    };
    let reader = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = actlog()
                    .arg("--dir")
                    .arg(&dir)
                    .args([
                        "query",
                        "-c",
                        "--since",
                        "2026-10-10",
                        "--until",
                        "2026-10-11",
                    ])
                    .stderr(Stdio::null())
                    .output()
                    .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout).trim(),
                    total.to_string()
                );
                reads += 1;
            }
            reads
        })
    };
    // One whole run under the same load sets the range of the kill delays, so kills land
    // before, during and after the rename whatever the machine's speed.
    let restore = || {
        let temp = dir.join(".restore");
        std::fs::write(&temp, &original).unwrap();
        std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        std::fs::rename(&temp, &path).unwrap();
    };
    let started = std::time::Instant::now();
    let (code, _, err) = run(&dir, &["maintain", "--reindex", "--keep-days", "3650"]);
    assert_eq!(code, 0, "{err}");
    let whole_run = started.elapsed().as_millis() as u64;
    restore();
    let mut got_through = 0;
    for round in 0..24 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_actlog"))
            .arg("--dir")
            .arg(&dir)
            .args(["-q", "maintain", "--reindex", "--keep-days", "3650"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rng.u64(0..whole_run * 5 / 4 + 1);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_eq!(
            zcat(&path),
            data,
            "round {round}: same bytes after the kill"
        );
        // Put the unindexed day back for the next round when this one got through.
        if gzmeta::member_index(&std::fs::File::open(&path).unwrap())
            .unwrap()
            .is_some()
        {
            got_through += 1;
            restore();
        }
    }
    eprintln!("{got_through} of 24 killed runs got through");
    let (code, out, err) = run(&dir, &["maintain", "--reindex", "--keep-days", "3650"]);
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&out).contains("reindexed 2026-10-10"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let appended = writer.join().unwrap();
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(zcat(&path), data);
    assert!(members(&path).iter().all(|m| m.summary.is_some()));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    let (_, out, _) = run(&dir, &["query", "-c", "--user", "wrïter"]);
    assert_eq!(String::from_utf8_lossy(&out).trim(), appended.to_string());
}
