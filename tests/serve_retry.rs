//! Retries that never duplicate, against a real `actlog serve`: a record POSTed again with
//! the id it was stored under is acknowledged as it was the first time and not written
//! again — after a sidecar restart, when another process wrote it, when many requests
//! send it at once — and an id outside the documented window is written again. Judged by
//! counting lines in the day files, not by asking the server.

mod common;

use common::{Server, actlog};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, Value) {
    let mut resp = agent
        .post(format!("{url}/v1/activity"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The stored lines holding `id`, counted in the raw day files (plain and gzipped) with
/// no actlog code: `zcat -f` and a substring count.
fn copies(dir: &Path, id: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("activity-") {
            continue;
        }
        let out = std::process::Command::new("zcat")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "zcat {name}");
        let text = String::from_utf8(out.stdout).unwrap();
        n += text
            .lines()
            .filter(|l| l.contains(&format!("\"id\":\"{id}\"")))
            .count();
    }
    n
}

fn lines(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.to_string_lossy().contains("activity-") {
            n += std::fs::read_to_string(&path).unwrap().lines().count();
        }
    }
    n
}

const ID: &str = "01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11";

#[test]
fn the_same_id_posted_twice_is_stored_once_and_answered_identically() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let agent = agent();
    // No timestamp: the server stamps it; the retry, later, must get the first stamp.
    let body = json!({"id": ID, "username": "zoë", "action": "report.view", "details": {"n": 1}});
    let (s1, first) = post(&agent, &server.url, &body.to_string());
    assert_eq!(s1, 201, "{first}");
    std::thread::sleep(Duration::from_millis(5));
    let (s2, second) = post(&agent, &server.url, &body.to_string());
    assert_eq!(s2, 201, "{second}");
    assert_eq!(first, second);
    assert_eq!(first["records"][0]["id"], ID);
    assert_eq!(copies(t.path(), ID), 1);

    // In a batch: the stored one is acknowledged, the new ones written, a repeat inside
    // the batch written once; answers in batch order.
    let other = "01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c12";
    let batch = json!([
        {"username": "zoë", "action": "a", "details": {"n": 2}},
        body,
        {"id": other, "username": "zoë", "action": "a"},
        {"id": other, "username": "zoë", "action": "a"},
    ]);
    let (s3, answer) = post(&agent, &server.url, &batch.to_string());
    assert_eq!(s3, 201, "{answer}");
    let records = answer["records"].as_array().unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[1], first["records"][0]);
    assert_eq!(records[2], records[3]);
    assert_eq!(records[2]["id"], other);
    assert_eq!(copies(t.path(), ID), 1);
    assert_eq!(copies(t.path(), other), 1);
    assert_eq!(lines(t.path()), 3);

    // An invalid record is named by its index in the batch as sent, and nothing is
    // written.
    let bad = json!([body, {"username": "zoë", "action": "a"}, {"username": "", "action": "a"}]);
    let (s4, refused) = post(&agent, &server.url, &bad.to_string());
    assert_eq!(s4, 400, "{refused}");
    assert_eq!(refused["index"], 2, "{refused}");
    assert_eq!(refused["field"], "username", "{refused}");
    assert_eq!(lines(t.path()), 3);
}

#[test]
fn a_retry_after_the_sidecar_was_killed_and_restarted_is_not_written_again() {
    let t = tempfile::tempdir().unwrap();
    let agent = agent();
    // One record stamped yesterday, one now: the restarted sidecar reads both days.
    let yesterday =
        (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT12:00:00.000Z");
    let old_id = "01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c20";
    let old =
        json!({"id": old_id, "timestamp": yesterday.to_string(), "username": "ü", "action": "a"});
    let now = json!({"id": ID, "username": "ü", "action": "a"});
    let mut server = Server::start(t.path(), &[]);
    let (_, first_old) = post(&agent, &server.url, &old.to_string());
    let (_, first_now) = post(&agent, &server.url, &now.to_string());
    // SIGKILL: nothing is saved on the way out; the window is rebuilt from the files.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = Server::start(t.path(), &[]);
    let (s1, again_now) = post(&agent, &server.url, &now.to_string());
    let (s2, again_old) = post(&agent, &server.url, &old.to_string());
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(again_now, first_now);
    assert_eq!(again_old, first_old);
    assert_eq!(copies(t.path(), ID), 1);
    assert_eq!(copies(t.path(), old_id), 1);
}

/// Appends JSON Lines with `actlog append -`, another process than the server.
fn append_cli(dir: &Path, input: &str) {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_record_another_process_stored_after_the_sidecar_started_is_seen() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let agent = agent();
    // The server has looked at the files (a first POST) before the other process writes.
    let (s, _) = post(
        &agent,
        &server.url,
        &json!({"username": "x", "action": "warm"}).to_string(),
    );
    assert_eq!(s, 201);
    // Three days ago: a day that maintenance compresses (and does not delete).
    let day = (chrono::Utc::now() - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let stamp = format!("{day}T03:04:05.678Z");
    append_cli(
        t.path(),
        &format!(
            "{{\"id\":\"{ID}\",\"timestamp\":\"{stamp}\",\"username\":\"cli\",\"action\":\"a\"}}\n"
        ),
    );
    // Sent with another timestamp and body: the stored record's stamp is the answer.
    let body = json!({"id": ID, "username": "http", "action": "b"});
    let (s, answer) = post(&agent, &server.url, &body.to_string());
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["records"][0]["timestamp"], stamp.as_str());
    assert_eq!(copies(t.path(), ID), 1);
    // And maintenance compressing that day in between changes nothing: it is still known.
    let out = actlog()
        .arg("--dir")
        .arg(t.path())
        .args(["maintain"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.path().join(format!("activity-{day}.json.gz")).exists());
    let (s, answer) = post(&agent, &server.url, &body.to_string());
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["records"][0]["timestamp"], stamp.as_str());
    assert_eq!(copies(t.path(), ID), 1);
}

#[test]
fn many_requests_sending_the_same_id_at_once_store_it_once() {
    let t = tempfile::tempdir().unwrap();
    // fsync: each write takes long enough for the requests to overlap.
    let server = Server::start(t.path(), &["--durability", "fsync"]);
    for round in 0..5u32 {
        let id = format!("01937c3e-5b7a-7d4e-9b1c-2f4a8e6d{round:04}");
        let barrier = std::sync::Barrier::new(24);
        let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..24u32)
                .map(|c| {
                    let (url, id, barrier) = (&server.url, &id, &barrier);
                    s.spawn(move || {
                        let agent = agent();
                        // Each client sends its own body: only the id says they are one.
                        let body = json!([
                            {"id": id, "username": format!("c{c}"), "action": "same"},
                            {"username": format!("c{c}"), "action": "own"},
                        ]);
                        barrier.wait();
                        post(&agent, url, &body.to_string())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (status, answer) in &answers {
            assert_eq!(*status, 201, "{answer}");
            assert_eq!(answer["records"][0], answers[0].1["records"][0]);
        }
        assert_eq!(copies(t.path(), &id), 1, "round {round}");
    }
    // Every client's own record is there, once: 24 per round, plus the 5 shared ones.
    assert_eq!(lines(t.path()), 5 * 25);
}

#[test]
fn an_id_outside_the_window_is_written_again_as_documented() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &["--dedupe-window", "2"]);
    let agent = agent();
    let ids: Vec<String> = (0..3)
        .map(|n| format!("01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0d0{n}"))
        .collect();
    for id in &ids {
        let (s, _) = post(
            &agent,
            &server.url,
            &json!({"id": id, "username": "u", "action": "a"}).to_string(),
        );
        assert_eq!(s, 201);
    }
    // The window holds the last two: the newest is still known, the first is not.
    for id in [&ids[2], &ids[0]] {
        let (s, _) = post(
            &agent,
            &server.url,
            &json!({"id": id, "username": "u", "action": "a"}).to_string(),
        );
        assert_eq!(s, 201);
    }
    assert_eq!(copies(t.path(), &ids[2]), 1);
    assert_eq!(copies(t.path(), &ids[0]), 2);
    // And 0 turns the check off.
    drop(server);
    let server = Server::start(t.path(), &["--dedupe-window", "0"]);
    let (s, _) = post(
        &agent,
        &server.url,
        &json!({"id": &ids[2], "username": "u", "action": "a"}).to_string(),
    );
    assert_eq!(s, 201);
    assert_eq!(copies(t.path(), &ids[2]), 2);
}

/// Resident memory of a process, in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The README's "under 100 bytes each": a full window of 100,000 ids, rebuilt from the
/// day file at start, against the same server with the check off.
#[test]
fn a_full_window_costs_under_100_bytes_an_id() {
    let t = tempfile::tempdir().unwrap();
    let n = 100_000;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{{\"username\":\"u{}\",\"action\":\"a\",\"details\":{{\"n\":{i}}}}}",
                i % 50
            )
        })
        .collect();
    append_cli(t.path(), &(lines.join("\n") + "\n"));
    let window = n.to_string();
    let with = Server::start(t.path(), &["--dedupe-window", &window]);
    let without = Server::start(t.path(), &["--dedupe-window", "0"]);
    let extra = rss_kib(with.child.id()).saturating_sub(rss_kib(without.child.id())) * 1024;
    let per_id = extra / n as u64;
    eprintln!("a window of {n} ids: {extra} bytes, {per_id} an id");
    assert!(
        (20..=100).contains(&per_id),
        "{per_id} bytes an id ({extra} bytes)"
    );
}
