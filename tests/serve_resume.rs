//! Resumable server-sent events against a real `actlog serve`: every event carries an
//! `id`, and a client reconnecting with `Last-Event-ID` gets exactly the records it
//! missed, in stored order — while another process keeps appending, across a new UTC day
//! and across `actlog maintain` compressing the day in between. The records are written
//! by `actlog append` processes, and the expected order is what `zcat` shows of the day
//! files.

mod common;

use common::{Server, actlog};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// One event of the stream: its `id` and its record.
#[derive(Debug, Clone)]
struct Ev {
    id: String,
    record: Value,
}

/// An open `/v1/activity/stream`, read on a thread. Dropping it stops taking events (the
/// client has disconnected as far as what it received is concerned).
struct Stream {
    events: Receiver<Ev>,
}

/// Opens the stream; the status and, for an error, the JSON body.
fn open(url: &str, query: &str, last_id: Option<&str>) -> Result<Stream, (u16, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(format!("{url}/v1/activity/stream?{query}"));
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id);
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    if status != 200 {
        let text = resp.body_mut().read_to_string().unwrap();
        return Err((status, serde_json::from_str(&text).unwrap_or(Value::Null)));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(resp.into_body().into_reader());
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim_start().to_owned());
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data = v.trim_start().to_owned();
            } else if line.is_empty() {
                if event == "activity" {
                    let ev = Ev {
                        id: id.take().expect("an activity event without an id"),
                        record: serde_json::from_str(&data).unwrap(),
                    };
                    if tx.send(ev).is_err() {
                        break;
                    }
                }
                event.clear();
                data.clear();
            }
        }
    });
    Ok(Stream { events: rx })
}

impl Stream {
    /// The next `n` events (fails after 20 s without one).
    fn take(&self, n: usize) -> Vec<Ev> {
        (0..n)
            .map(|_| {
                self.events
                    .recv_timeout(Duration::from_secs(20))
                    .expect("an event within 20 s")
            })
            .collect()
    }

    /// Fails if an event comes within a second and a half (one would be a repeat).
    fn nothing_more(&self) {
        match self.events.recv_timeout(Duration::from_millis(1500)) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(ev) => panic!("an event more than expected: {ev:?}"),
            Err(e) => panic!("the stream ended: {e}"),
        }
    }
}

/// Appends JSON Lines with `actlog append -`, another process than the server.
fn append_cli(dir: &Path, extra: &[&str], lines: &[String]) {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = lines.join("\n");
    input.push('\n');
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

fn rec(n: u64, at: Option<&str>) -> String {
    let mut r = serde_json::json!({"username": "zoë", "action": "sse.test", "details": {"n": n}});
    if let Some(t) = at {
        r["timestamp"] = t.into();
    }
    r.to_string()
}

fn ns(events: &[Ev]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.record["details"]["n"].as_u64().unwrap())
        .collect()
}

/// `details.n` of every stored record in stored order, read with `zcat -f` over the day
/// files in name order, `.gz` before plain (no actlog code).
fn stored_ns(dir: &Path) -> Vec<u64> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("activity-"))
        .collect();
    // `activity-D.json.gz` before `activity-D.json`.
    names.sort_by_key(|n| (n[9..19].to_owned(), !n.ends_with(".gz")));
    let mut out = Vec::new();
    for name in names {
        let text = std::process::Command::new("zcat")
            .arg("-f")
            .arg(dir.join(&name))
            .output()
            .unwrap()
            .stdout;
        for line in String::from_utf8(text).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            out.push(v["details"]["n"].as_u64().unwrap());
        }
    }
    out
}

#[test]
fn a_client_reconnecting_with_last_event_id_gets_exactly_what_it_missed_across_midnight_and_maintenance()
 {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let first = open(&server.url, "action=sse.*", None).unwrap();
    append_cli(
        t.path(),
        &[],
        &(0..10).map(|n| rec(n, None)).collect::<Vec<_>>(),
    );
    let seen = first.take(10);
    assert_eq!(ns(&seen), (0..10).collect::<Vec<_>>());
    drop(first);

    // Missed while disconnected: more of today (and a record the filter leaves out).
    let mut missed: Vec<String> = (10..15).map(|n| rec(n, None)).collect();
    missed.push(r#"{"username":"x","action":"other","details":{"n":999}}"#.to_owned());
    append_cli(t.path(), &[], &missed);
    let again = open(&server.url, "action=sse.*", Some(&seen[9].id)).unwrap();
    let got = again.take(5);
    assert_eq!(ns(&got), (10..15).collect::<Vec<_>>());
    again.nothing_more();
    // Resuming from the middle gives the rest, the same events with the same ids.
    let middle = open(&server.url, "action=sse.*", Some(&seen[4].id)).unwrap();
    let rest = middle.take(10);
    assert_eq!(ns(&rest), (5..15).collect::<Vec<_>>());
    assert_eq!(rest[5].id, got[0].id);
    middle.nothing_more();
    let last = got[4].id.clone();
    drop((again, middle));

    // While disconnected: records of tomorrow (a new UTC day file) and more of today,
    // then maintenance, run as of two days on, compresses today's file.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let at = format!("{tomorrow}T00:00:01.000Z");
    append_cli(
        t.path(),
        &[],
        &(15..20).map(|n| rec(n, Some(&at))).collect::<Vec<_>>(),
    );
    append_cli(
        t.path(),
        &[],
        &(20..25).map(|n| rec(n, None)).collect::<Vec<_>>(),
    );
    let two_days_on = format!("{}", tomorrow.succ_opt().unwrap());
    let out = actlog()
        .arg("--dir")
        .arg(t.path())
        .args(["--now", &two_days_on, "maintain"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.path().join(format!("activity-{today}.json.gz")).exists());
    assert!(!t.path().join(format!("activity-{today}.json")).exists());

    let stored = stored_ns(t.path());
    let expected: Vec<u64> = stored
        .iter()
        .copied()
        .skip_while(|&n| n != 14)
        .skip(1)
        .filter(|&n| n != 999)
        .collect();
    // Stored order: all of today (now in the .gz), then tomorrow.
    assert_eq!(expected, [20, 21, 22, 23, 24, 15, 16, 17, 18, 19]);
    let resumed = open(&server.url, "action=sse.*", Some(&last)).unwrap();
    let got = resumed.take(10);
    assert_eq!(ns(&got), expected);
    // And new records keep coming after the catching up, once each.
    append_cli(t.path(), &[], &[rec(25, Some(&at))]);
    assert_eq!(ns(&resumed.take(1)), [25]);
    resumed.nothing_more();
}

#[test]
fn reconnecting_again_and_again_while_another_process_appends_misses_and_repeats_nothing() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let total = 300u64;
    let first = open(&server.url, "", None).unwrap();
    // One process appending a record at a time, a little apart, for the whole test.
    let mut writer = actlog()
        .arg("--dir")
        .arg(t.path())
        .args(["append", "-", "--batch", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = writer.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for n in 0..total {
            std::io::Write::write_all(&mut stdin, format!("{}\n", rec(n, None)).as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut got: Vec<Ev> = Vec::new();
    let mut stream = first;
    let mut rng = fastrand::Rng::with_seed(15);
    let mut reconnects = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while (got.len() as u64) < total {
        assert!(Instant::now() < deadline, "only {} events", got.len());
        // Take a few events, then hang up and come back with the last one's id.
        let want = rng.usize(1..25).min(total as usize - got.len());
        got.extend(stream.take(want));
        stream = open(&server.url, "", Some(&got.last().unwrap().id)).unwrap();
        reconnects += 1;
    }
    feeder.join().unwrap();
    assert!(writer.wait().unwrap().success());
    stream.nothing_more();
    assert!(reconnects > 10, "{reconnects}");
    assert_eq!(ns(&got), (0..total).collect::<Vec<_>>());
    assert_eq!(stored_ns(t.path()), (0..total).collect::<Vec<_>>());
}

#[test]
fn a_bad_last_event_id_is_a_400_naming_the_header_and_an_empty_one_starts_from_now() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    for bad in [
        "nope",
        "c2.20261124.xyz.0",
        "c1.20261124.01937c3e000070008000000000000010",
        "c2.20261124.01937c3e000070008000000000000010.-1",
    ] {
        let Err((status, body)) = open(&server.url, "", Some(bad)) else {
            panic!("{bad}: accepted");
        };
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["header"], "last-event-id", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("Last-Event-ID"),
            "{body}"
        );
    }
    append_cli(t.path(), &[], &[rec(0, None)]);
    let stream = open(&server.url, "", Some("")).unwrap();
    append_cli(t.path(), &[], &[rec(1, None)]);
    assert_eq!(ns(&stream.take(1)), [1]);
    stream.nothing_more();
}
