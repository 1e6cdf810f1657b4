//! `actlog serve` against a real spawned server: concurrent writers, bad requests, the
//! token, paging while records arrive, the event stream, SIGTERM in flight, the OpenAPI
//! document, and the Node.js example client.

mod common;

use common::{Server, actlog};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Status and JSON body of a POST.
fn post(agent: &ureq::Agent, url: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = agent
        .post(format!("{url}/v1/activity"))
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, Value) {
    let mut resp = agent.get(url).call().unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Every stored line in the directory (plain and gzipped), parsed.
fn stored(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    actlog::query::run(dir, &actlog::query::Query::default(), &mut |line, _| {
        out.push(serde_json::from_slice(line).unwrap());
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    out
}

#[test]
fn sixteen_clients_posting_500_records_each_store_every_record_exactly_once() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let acked: Vec<(String, u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16u64)
            .map(|c| {
                let url = server.url.clone();
                s.spawn(move || {
                    let agent = agent();
                    let mut ids = Vec::new();
                    for n in 0..500u64 {
                        let body = json!({"username": format!("client{c}"), "action": "post", "details": {"c": c, "n": n}});
                        let (status, resp) = post(&agent, &url, &body.to_string(), None);
                        assert_eq!(status, 201, "{resp}");
                        ids.push((resp["records"][0]["id"].as_str().unwrap().to_owned(), c, n));
                    }
                    ids
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(acked.len(), 8000);
    let ids: HashSet<&str> = acked.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 8000, "ids are unique");
    let records = stored(t.path());
    assert_eq!(records.len(), 8000);
    let mut seen = HashMap::new();
    for r in &records {
        *seen
            .entry(r["id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    for (id, c, n) in &acked {
        assert_eq!(seen.get(id), Some(&1), "client {c} record {n}");
    }
    // Each client's records are in the order it sent them.
    let mut last: HashMap<u64, u64> = HashMap::new();
    for r in &records {
        let (c, n) = (
            r["details"]["c"].as_u64().unwrap(),
            r["details"]["n"].as_u64().unwrap(),
        );
        if let Some(prev) = last.insert(c, n) {
            assert!(n > prev);
        }
    }
}

#[test]
fn bad_requests_get_the_right_4xx_with_a_message_and_write_nothing() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let agent = agent();
    let one = json!({"username": "a", "action": "b"});
    // What, body, status, and the record index and field the answer must name.
    type Case<'a> = (&'a str, String, u16, Option<(u64, &'a str)>);
    let cases: Vec<Case> = vec![
        ("bad JSON", "{\"username\": ".into(), 400, None),
        ("not an object", "42".into(), 400, None),
        ("empty body", "".into(), 400, None),
        ("empty array", "[]".into(), 400, None),
        (
            "wrong type",
            json!({"username": 5, "action": "b"}).to_string(),
            400,
            Some((0, "username")),
        ),
        (
            "missing field",
            json!([one, one, one, {"username": "x"}]).to_string(),
            400,
            Some((3, "action")),
        ),
        (
            "bad address",
            json!([one, {"username": "x", "action": "y", "ip_address": "999.1.1.1"}]).to_string(),
            400,
            Some((1, "ip_address")),
        ),
        (
            "details not an object",
            json!([{"username": "x", "action": "y", "details": [1]}]).to_string(),
            400,
            Some((0, "details")),
        ),
        (
            "1,001 records",
            Value::Array(vec![one.clone(); 1001]).to_string(),
            413,
            None,
        ),
        (
            "body over 1 MiB",
            json!({"username": "a", "action": "b", "details": {"pad": "x".repeat(1 << 20)}})
                .to_string(),
            413,
            None,
        ),
    ];
    for (what, body, status, at) in cases {
        let (got, resp) = post(&agent, &server.url, &body, None);
        assert_eq!(got, status, "{what}: {resp}");
        let message = resp["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no message: {resp}"));
        assert!(!message.is_empty(), "{what}");
        if let Some((index, field)) = at {
            assert_eq!(resp["index"], index, "{what}: {resp}");
            assert_eq!(resp["field"], field, "{what}: {resp}");
            assert!(message.contains(field), "{what}: {message}");
        }
    }
    // A form post (what a browser page could send without asking) is refused too.
    let mut resp = agent
        .post(format!("{}/v1/activity", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(one.to_string())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let _ = resp.body_mut().read_to_string();
    // Bad filters get the command line's own message.
    let (status, resp) = get(&agent, &format!("{}/v1/activity?since=bogus", server.url));
    assert_eq!(status, 400);
    // ... in the words of the query string: the parameter, not the command-line flag.
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .starts_with("since \"bogus\""),
        "{resp}"
    );
    assert_eq!(resp["parameter"], "since", "{resp}");
    for q in [
        "limit=0",
        "limit=1001",
        "cursor=xyz",
        "order=sideways",
        "colour=red",
    ] {
        let (status, resp) = get(&agent, &format!("{}/v1/activity?{q}", server.url));
        assert_eq!(status, 400, "{q}: {resp}");
        let name = q.split('=').next().unwrap();
        assert_eq!(resp["parameter"], name, "{q}: {resp}");
    }
    for q in [
        "user=",
        "action=%5B",
        "ip=10.0.0.0/33",
        "where=details.a%3E",
        "grep=(?",
        "until=x",
    ] {
        let (status, resp) = get(&agent, &format!("{}/v1/activity?{q}", server.url));
        assert_eq!(status, 400, "{q}: {resp}");
        let name = q.split('=').next().unwrap();
        assert_eq!(resp["parameter"], name, "{q}: {resp}");
        assert!(
            !resp["error"].as_str().unwrap().contains("--"),
            "{q}: {resp}"
        );
    }
    // Nothing was written by any of it.
    let files: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("activity-"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn the_client_address_comes_from_the_body_never_from_x_forwarded_for() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let mut resp = agent()
        .post(format!("{}/v1/activity", server.url))
        .header("content-type", "application/json")
        .header("x-forwarded-for", "198.51.100.66")
        .header("user-agent", "proxy/1")
        .send(json!([{"username": "a", "action": "b"}, {"username": "c", "action": "d", "ip_address": "203.0.113.9"}]).to_string())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let _ = resp.body_mut().read_to_string();
    let records = stored(t.path());
    assert_eq!(records[0].get("ip_address"), None);
    assert_eq!(records[0].get("user_agent"), None);
    assert_eq!(records[1]["ip_address"], "203.0.113.9");
}

#[test]
fn a_token_is_required_when_configured_and_a_wrong_one_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let token_file = t.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let logs = t.path().join("logs");
    let server = Server::start(&logs, &["--token-file", token_file.to_str().unwrap()]);
    let agent = agent();
    let body = json!({"username": "a", "action": "b"}).to_string();
    for wrong in [
        None,
        Some(""),
        Some("s3cret-tokeX"),
        Some("s3cret-token-longer"),
        Some("s"),
    ] {
        let (status, resp) = post(&agent, &server.url, &body, wrong);
        assert_eq!(status, 401, "{wrong:?}: {resp}");
        assert!(resp["error"].is_string());
        let mut r = agent
            .get(format!("{}/v1/activity", server.url))
            .header("authorization", format!("Bearer {}", wrong.unwrap_or("")))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let _ = r.body_mut().read_to_string();
    }
    for route in ["/v1/stats", "/v1/activity/stream"] {
        let (status, _) = get(&agent, &format!("{}{route}", server.url));
        assert_eq!(status, 401, "{route}");
    }
    assert!(stored(&logs).is_empty());
    let (status, resp) = post(&agent, &server.url, &body, Some("s3cret-token"));
    assert_eq!(status, 201, "{resp}");
    // Probes never need it.
    assert_eq!(get(&agent, &format!("{}/healthz", server.url)).0, 200);
    assert_eq!(get(&agent, &format!("{}/readyz", server.url)).0, 200);
    // An empty token file is refused at start.
    std::fs::write(&token_file, "  \n").unwrap();
    let out = actlog()
        .arg("--dir")
        .arg(&logs)
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
}

#[test]
fn pages_newest_first_stay_correct_while_records_keep_arriving() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let agent = agent();
    let batch = |from: u64, to: u64| {
        let records: Vec<Value> = (from..to)
            .map(|n| json!({"username": "u", "action": "a", "details": {"n": n}}))
            .collect();
        let (status, resp) = post(
            &agent,
            &server.url,
            &Value::Array(records).to_string(),
            None,
        );
        assert_eq!(status, 201, "{resp}");
    };
    batch(0, 250);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{}/v1/activity?user=u&limit=60", server.url);
        if let Some(c) = &cursor {
            url += &format!("&cursor={c}");
        }
        let (status, page) = get(&agent, &url);
        assert_eq!(status, 200, "{page}");
        for r in page["records"].as_array().unwrap() {
            seen.push(r["details"]["n"].as_u64().unwrap());
        }
        pages += 1;
        if pages == 1 {
            // New records arrive between pages; they are newer than the first page.
            batch(250, 300);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..250).rev().collect::<Vec<_>>(), "{pages} pages");
    // Oldest first pages through everything, now 300.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/activity?order=oldest&limit=70", server.url);
        if let Some(c) = &cursor {
            url += &format!("&cursor={c}");
        }
        let (_, page) = get(&agent, &url);
        seen.extend(
            page["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["details"]["n"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
}

/// Reads server-sent events from `/v1/activity/stream` on a thread; returns the data of
/// each `activity` event as it comes.
fn subscribe(url: &str, query: &str) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .get(format!("{url}/v1/activity/stream?{query}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    std::thread::spawn(move || {
        let reader = BufReader::new(resp.into_body().into_reader());
        let mut event = String::new();
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                if event == "activity" && tx.send(data.trim_start().to_owned()).is_err() {
                    break;
                }
            } else if line.is_empty() {
                event.clear();
            }
        }
    });
    rx
}

#[test]
fn a_stream_client_receives_records_appended_by_another_process_once_each_across_midnight() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let events = subscribe(&server.url, "action=cli.*");
    // Another process: the command line, appending 60 records in three runs, some of
    // which do not match the stream's filter.
    // The last run's records are stamped tomorrow: a new day file, as after midnight.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d");
    for run in 0..3 {
        let input: String = (0..30)
            .map(|n| {
                let action = if n % 2 == 0 { "cli.append" } else { "other" };
                let at = if run == 2 {
                    format!(",\"timestamp\":\"{tomorrow}T00:00:01.000Z\"")
                } else {
                    String::new()
                };
                format!("{{\"username\":\"cli\",\"action\":\"{action}\",\"details\":{{\"run\":{run},\"n\":{n}}}{at}}}\n")
            })
            .collect();
        let mut child = actlog()
            .arg("--dir")
            .arg(t.path())
            .args(["append", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 45 && Instant::now() < deadline {
        if let Ok(data) = events.recv_timeout(Duration::from_millis(200)) {
            got.push(serde_json::from_str::<Value>(&data).unwrap());
        }
    }
    // Anything more that would come (a duplicate) has a second to show up.
    while let Ok(data) = events.recv_timeout(Duration::from_millis(1500)) {
        got.push(serde_json::from_str::<Value>(&data).unwrap());
    }
    let keys: Vec<(u64, u64)> = got
        .iter()
        .map(|r| {
            (
                r["details"]["run"].as_u64().unwrap(),
                r["details"]["n"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(u64, u64)> = (0..3)
        .flat_map(|run| (0..30).step_by(2).map(move |n| (run, n)))
        .collect();
    assert_eq!(keys, expected);
}

#[test]
fn a_stream_client_is_not_blinded_by_a_future_dated_day_file() {
    let t = tempfile::tempdir().unwrap();
    // A day file dated decades ahead, as a pod with a broken clock would leave behind.
    let future = actlog()
        .arg("--dir")
        .arg(t.path())
        .args([
            "append",
            "--at",
            "2062-12-02T00:00:00Z",
            "--max-future-skew",
            "20000d",
        ])
        .args(["--user", "skewed", "--action", "future.write"])
        .output()
        .unwrap();
    assert!(
        future.status.success(),
        "{}",
        String::from_utf8_lossy(&future.stderr)
    );
    let server = Server::start(t.path(), &[]);
    let events = subscribe(&server.url, "");
    for n in 0..3 {
        let out = actlog()
            .arg("--dir")
            .arg(t.path())
            .args(["append", "--user", "now", "--action", &format!("today.{n}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 3 && Instant::now() < deadline {
        if let Ok(data) = events.recv_timeout(Duration::from_millis(200)) {
            got.push(serde_json::from_str::<Value>(&data).unwrap()["action"].clone());
        }
    }
    while let Ok(data) = events.recv_timeout(Duration::from_millis(1500)) {
        got.push(serde_json::from_str::<Value>(&data).unwrap()["action"].clone());
    }
    assert_eq!(
        got,
        vec![json!("today.0"), json!("today.1"), json!("today.2")]
    );
}

#[test]
fn sigterm_with_requests_in_flight_loses_no_acknowledged_record_and_exits_0() {
    let t = tempfile::tempdir().unwrap();
    // Buffered: acknowledged records may still be in memory at SIGTERM; they must be
    // flushed before the exit.
    let mut server = Server::start(t.path(), &["--durability", "buffered"]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acked: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|c| {
                let (url, stop) = (server.url.clone(), &stop);
                s.spawn(move || {
                    let agent = agent();
                    let mut ids = Vec::new();
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let records: Vec<Value> = (0..10)
                            .map(|i| json!({"username": format!("c{c}"), "action": "a", "details": {"n": n * 10 + i}}))
                            .collect();
                        let resp = agent
                            .post(format!("{url}/v1/activity"))
                            .header("content-type", "application/json")
                            .send(Value::Array(records).to_string());
                        // After SIGTERM, connections are refused or closed: no answer, no ack.
                        let Ok(mut resp) = resp else { break };
                        let status = resp.status().as_u16();
                        let Ok(text) = resp.body_mut().read_to_string() else { break };
                        if status != 201 {
                            break;
                        }
                        let v: Value = serde_json::from_str(&text).unwrap();
                        ids.extend(v["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
                        n += 1;
                    }
                    ids
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        let status = server.terminate();
        assert!(status.success(), "exit status {status}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(acked.len() > 100, "only {} acknowledged", acked.len());
    let ids: HashSet<String> = stored(&server.dir)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let missing = acked.iter().filter(|id| !ids.contains(*id)).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged records missing",
        acked.len()
    );
}

#[test]
fn sigterm_ends_open_streams_and_the_server_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let mut server = Server::start(t.path(), &[]);
    let _events = subscribe(&server.url, "");
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The OpenAPI document and the server agree: every documented operation exists and
/// answers with a documented status whose required fields are present, and the server
/// has no undocumented route.
#[test]
fn every_route_in_the_openapi_document_exists_and_answers_as_documented() {
    use yaml_rust2::{Yaml, YamlLoader};
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml"))
            .unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let agent = agent();
    let record = json!({"username": "a", "action": "b"}).to_string();
    // A request for each documented operation, and the status it must get.
    let probes: Vec<(&str, &str, Option<String>, &str, u16)> = vec![
        ("post", "/v1/activity", Some(record.clone()), "", 201),
        ("post", "/v1/activity", Some("{}".into()), "", 400),
        (
            "post",
            "/v1/activity",
            Some(Value::Array(vec![json!({}); 1001]).to_string()),
            "",
            413,
        ),
        ("get", "/v1/activity", None, "?user=a&limit=5", 200),
        ("get", "/v1/activity", None, "?until=nonsense", 400),
        ("get", "/v1/activity/stream", None, "?user=a", 200),
        ("get", "/v1/activity/stream", None, "?where=nonsense", 400),
        (
            "get",
            "/v1/activity/histogram",
            None,
            "?user=a&buckets=4",
            200,
        ),
        ("get", "/v1/activity/histogram", None, "?buckets=0", 400),
        ("get", "/v1/stats", None, "", 200),
        ("get", "/ui", None, "", 200),
        ("get", "/ui/app.js", None, "", 200),
        ("get", "/ui/app.css", None, "", 200),
        ("get", "/ui/icon.svg", None, "", 200),
        ("get", "/healthz", None, "", 200),
        ("get", "/readyz", None, "", 200),
    ];
    let mut documented = HashSet::new();
    for (path, ops) in doc["paths"].as_hash().unwrap() {
        for (method, _) in ops.as_hash().unwrap() {
            documented.insert((
                method.as_str().unwrap().to_owned(),
                path.as_str().unwrap().to_owned(),
            ));
        }
    }
    let probed: HashSet<(String, String)> = probes
        .iter()
        .map(|(m, p, ..)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, probed,
        "documented operations vs the server's routes"
    );
    let resolve = |y: &Yaml| -> Yaml {
        match y["$ref"].as_str() {
            Some(r) => {
                let mut at = doc;
                for part in r.trim_start_matches("#/").split('/') {
                    at = &at[part];
                }
                at.clone()
            }
            None => y.clone(),
        }
    };
    for (method, path, body, query, expected) in probes {
        let url = format!("{}{path}{query}", server.url);
        let (status, json_body) = if path.ends_with("/stream") && expected == 200 {
            let resp = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent()
                .get(&url)
                .call()
                .unwrap();
            let kind = resp
                .headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert!(kind.starts_with("text/event-stream"), "{kind}");
            (resp.status().as_u16(), Value::Null)
        } else if method == "post" {
            let mut resp = agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.unwrap())
                .unwrap();
            let status = resp.status().as_u16();
            (
                status,
                serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap(),
            )
        } else {
            get(&agent, &url)
        };
        assert_eq!(status, expected, "{method} {url}: {json_body}");
        let op = &doc["paths"][path][method];
        let response = resolve(&op["responses"][expected.to_string().as_str()]);
        assert!(
            !response.is_badvalue(),
            "{method} {path}: {expected} is not documented"
        );
        let schema = resolve(&response["content"]["application/json"]["schema"]);
        if let Some(required) = schema["required"].as_vec() {
            for field in required {
                let field = field.as_str().unwrap();
                assert!(
                    json_body.get(field).is_some(),
                    "{method} {path} {expected}: documented field {field} missing in {json_body}"
                );
            }
        }
    }
    // An undocumented route is a JSON 404.
    let (status, resp) = get(&agent, &format!("{}/v2/nothing", server.url));
    assert_eq!(status, 404);
    assert!(resp["error"].is_string());
}

/// The Node.js example (examples/node, using the @actlog/client package), run under Node
/// against a real server: what it logs is in the day file, and its query finds it.
#[test]
fn the_node_example_client_logs_and_queries_through_the_sidecar() {
    let Ok(version) = std::process::Command::new("node").arg("--version").output() else {
        eprintln!("skipping: node is not installed (.ci/run installs it)");
        return;
    };
    let major: u32 = String::from_utf8_lossy(&version.stdout)
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 18,
        "Node {major}: the example needs fetch (Node 18+)"
    );
    // The example imports the package's build (clients/typescript/dist).
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/typescript");
    if !package.join("dist/index.js").exists() {
        let npm = |args: &[&str]| {
            std::process::Command::new("npm")
                .args(args)
                .current_dir(&package)
                .status()
        };
        let Ok(status) = npm(&["--version"]) else {
            eprintln!(
                "skipping: npm is not installed, so the package cannot be built (.ci/run installs it)"
            );
            return;
        };
        assert!(status.success());
        if !package.join("node_modules").exists() {
            assert!(npm(&["ci", "--no-audit", "--no-fund"]).unwrap().success());
        }
        assert!(npm(&["run", "build"]).unwrap().success());
    }
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node/example.mjs");
    let out = std::process::Command::new("node")
        .arg(&example)
        .env("ACTLOG_URL", &server.url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = stored(t.path());
    let users: Vec<&str> = records
        .iter()
        .map(|r| r["username"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "alice", "bob"], "{stdout}");
    assert_eq!(records[0]["action"], "login");
    assert_eq!(records[0]["ip_address"], "203.0.113.7");
    assert_eq!(records[1]["details"]["reportId"], "r-8812");
    // The records are in today's plain day file, as the contract says.
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let text = std::fs::read_to_string(t.path().join(format!("activity-{day}.json"))).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(
        stdout.contains("alice's recent activity: 2 records"),
        "{stdout}"
    );
}

/// Garbage bodies and query strings: never a 5xx, never a dead server.
#[test]
fn no_body_or_query_string_makes_the_server_fail() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let agent = agent();
    let mut rng = fastrand::Rng::with_seed(7);
    let valid = json!({"username": "a", "action": "b", "details": {"k": [1, 2.5, "x"]}, "ip_address": "::1"}).to_string();
    let mut bodies: Vec<Vec<u8>> = vec![
        "[".repeat(100_000).into_bytes(),
        format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000)).into_bytes(),
        b"{\"username\":\"a\",\"action\":\"b\",\"details\":{\"n\":1e999999}}".to_vec(),
        b"{\"username\":\"a\xff\",\"action\":\"b\"}".to_vec(),
        b"{\"username\":\"a\\u0000\",\"action\":\"b\\ud800\"}".to_vec(),
        b"{\"username\":\"a\",\"action\":\"b\",\"timestamp\":\"+275760-09-13T00:00:00Z\"}".to_vec(),
        b"{\"username\":\"a\",\"action\":\"b\",\"username\":\"c\"}".to_vec(),
        b"\xef\xbb\xbf{\"username\":\"a\",\"action\":\"b\"}".to_vec(),
    ];
    for _ in 0..300 {
        let mut b = valid.clone().into_bytes();
        for _ in 0..rng.usize(1..6) {
            let i = rng.usize(0..b.len());
            match rng.u8(0..3) {
                0 => b[i] = rng.u8(..),
                1 => b.insert(i, rng.u8(..)),
                _ => b.truncate(i.max(1)),
            }
        }
        bodies.push(b);
    }
    for body in &bodies {
        let resp = agent
            .post(format!("{}/v1/activity", server.url))
            .header("content-type", "application/json")
            .send(&body[..])
            .unwrap();
        assert!(
            resp.status().as_u16() < 500,
            "{} for {:?}",
            resp.status(),
            String::from_utf8_lossy(body)
        );
    }
    let keys = [
        "user", "action", "ip", "since", "until", "where", "grep", "limit", "cursor", "order", "x",
    ];
    // Already percent-encoded where a URI needs it: `[`, `{`, `\\`, `>`, a lone `%`.
    let pieces = [
        "",
        "a",
        "*",
        "%5B",
        "%7B",
        "%5C",
        "%00",
        "%ff",
        "10.0.0.0/33",
        "7d",
        "details.a%3E%25",
        "(?",
        "c1.20260101.zz",
        "9999999999999999999",
    ];
    for _ in 0..400 {
        let q: Vec<String> = (0..rng.usize(1..5))
            .map(|_| {
                let v: String = (0..rng.usize(1..4))
                    .map(|_| pieces[rng.usize(0..pieces.len())])
                    .collect();
                format!("{}={v}", keys[rng.usize(0..keys.len())])
            })
            .collect();
        let path = if rng.bool() {
            "/v1/activity"
        } else {
            "/v1/stats"
        };
        let (status, body) = get(&agent, &format!("{}{path}?{}", server.url, q.join("&")));
        assert!(status < 500, "{status} for {q:?}: {body}");
    }
    assert_eq!(get(&agent, &format!("{}/healthz", server.url)).0, 200);
}

#[test]
fn a_request_slower_than_the_timeout_is_answered_408() {
    let t = tempfile::tempdir().unwrap();
    let out = actlog()
        .arg("--dir")
        .arg(t.path())
        .args([
            "demo",
            "--days",
            "2",
            "--per-day",
            "20000",
            "--start",
            "2026-10-01",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(t.path(), &["--request-timeout", "1ms"]);
    let (status, _) = get(&agent(), &format!("{}/v1/stats", server.url));
    assert_eq!(status, 408);
    // Probes are never timed out.
    assert_eq!(get(&agent(), &format!("{}/healthz", server.url)).0, 200);
}

/// A full disk: the POST that does not fit is answered 503 with a message and `written`
/// 0, every record answered 201 is in the files whole, and once space is freed writes
/// work again. A read-only volume makes `/readyz` answer 503.
#[test]
fn a_full_disk_is_a_clear_503_that_loses_nothing_acknowledged() {
    let Some(fs) = common::Tmpfs::mount("256k", "") else {
        return;
    };
    let logs = fs.path().join("logs");
    let server = Server::start(&logs, &[]);
    let agent = agent();
    let pad = "x".repeat(2000);
    let mut acked = Vec::new();
    let mut refused = None;
    for n in 0..1000 {
        let body = json!({"username": "u", "action": "a", "details": {"n": n, "pad": pad}});
        let (status, resp) = post(&agent, &server.url, &body.to_string(), None);
        if status == 201 {
            acked.push(resp["records"][0]["id"].as_str().unwrap().to_owned());
        } else {
            refused = Some((status, resp));
            break;
        }
    }
    let (status, resp) = refused.expect("the 256 KiB volume never filled");
    assert_eq!(status, 503, "{resp}");
    assert_eq!(resp["written"], 0, "{resp}");
    assert!(
        resp["path"].as_str().unwrap().contains("activity-"),
        "{resp}"
    );
    // Readiness agrees with the POSTs: a full volume is not ready.
    let (status, ready) = get(&agent, &format!("{}/readyz", server.url));
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["error"].as_str().unwrap().contains("space"),
        "{ready}"
    );
    let message = resp["error"].as_str().unwrap();
    assert!(
        message.contains("activity-") && message.contains("space"),
        "{message}"
    );
    // Every acknowledged record is there, and nothing else: no fragment of the refused one.
    let lines = common::all_lines(&logs);
    assert!(
        lines.iter().all(|(_, r)| r.is_some()),
        "a fragment was left"
    );
    let stored: Vec<String> = lines
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().id.to_string())
        .collect();
    assert_eq!(stored, acked);
    // Space freed (the day file moved away, as a backup job might): writes work again.
    for e in std::fs::read_dir(&logs).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let (status, resp) = post(
        &agent,
        &server.url,
        &json!({"username": "u", "action": "again"}).to_string(),
        None,
    );
    assert_eq!(status, 201, "{resp}");
    assert_eq!(get(&agent, &format!("{}/readyz", server.url)).0, 200);
    drop(server);

    // Read-only: not ready, with the reason.
    let Some(ro) = common::Tmpfs::mount("64k", "ro") else {
        return;
    };
    let server = Server::start(ro.path(), &[]);
    let (status, resp) = get(&agent, &format!("{}/readyz", server.url));
    assert_eq!(status, 503, "{resp}");
    assert_eq!(resp["status"], "not ready");
    assert!(
        resp["error"].as_str().unwrap().contains(".readyz.lock"),
        "{resp}"
    );
}

/// Sends `request` on a fresh connection and returns everything the server answers
/// before it closes or goes quiet for `wait`.
fn raw(url: &str, request: &[u8], wait: Duration) -> String {
    use std::io::Write;
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of a raw answer.
fn raw_json(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|_| panic!("no JSON body in {answer:?}"))
}

/// 100 silent, header-dripping and idle connections under a 64-descriptor limit: they are
/// cut by the header timeout, and `/healthz` and POST are answered meanwhile or soon after.
#[test]
fn slow_and_idle_connections_are_cut_and_the_server_keeps_answering_under_fd_exhaustion() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nofile=64:64")
        .arg(env!("CARGO_BIN_EXE_actlog"))
        .env_remove("ACTLOG_DIR")
        .arg("--dir")
        .arg(t.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--header-timeout", "1s"]);
    let server = Server::spawn(cmd, t.path());
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut conns = Vec::new();
    for n in 0..100 {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        match n % 3 {
            // Silent.
            0 => {}
            // Headers begun, never finished.
            1 => c
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap(),
            // One request answered, then idle on keep-alive.
            _ => c
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap(),
        }
        conns.push(c);
    }
    // The drippers keep sending a header byte now and then: still cut at the timeout.
    let drip = std::thread::spawn(move || {
        for _ in 0..20 {
            for (n, c) in conns.iter_mut().enumerate() {
                if n % 3 == 1 {
                    let _ = c.write_all(b"X");
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        conns
    });
    let started = Instant::now();
    let agent = agent();
    let (status, _) = get(&agent, &format!("{}/healthz", server.url));
    assert_eq!(status, 200);
    let (status, resp) = post(
        &agent,
        &server.url,
        r#"{"username":"u","action":"a"}"#,
        None,
    );
    assert_eq!(status, 201, "{resp}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Every slow connection has been closed by the server.
    let mut conns = drip.join().unwrap();
    for (n, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let r = c.read_to_end(&mut buf);
        assert!(
            r.is_ok() || matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "connection {n} still open: {r:?}"
        );
    }
}

/// A Content-Length over 1 MiB is refused at once (no `100 Continue`, no waiting for the
/// body), and with a JSON body naming the header.
#[test]
fn an_oversized_content_length_is_refused_at_once_without_100_continue() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let started = Instant::now();
    let answer = raw(
        &server.url,
        b"POST /v1/activity HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(!answer.contains("100 Continue"), "{answer:?}");
    assert_eq!(raw_json(&answer)["header"], "content-length");
}

/// Every error answer has a JSON body: 415 for a missing or wrong Content-Type, 405, and
/// a lower-case `bearer` scheme is accepted.
#[test]
fn content_type_is_required_405_has_a_body_and_the_bearer_scheme_is_case_insensitive() {
    let t = tempfile::tempdir().unwrap();
    let token_file = t.path().join("token");
    std::fs::write(&token_file, "tøken\n").unwrap();
    let logs = t.path().join("logs");
    let server = Server::start(&logs, &["--token-file", token_file.to_str().unwrap()]);
    let one = r#"{"username":"ü","action":"a"}"#;
    let post_raw = |kind: Option<&str>, auth: &str| {
        let kind = kind
            .map(|k| format!("Content-Type: {k}\r\n"))
            .unwrap_or_default();
        raw(
            &server.url,
            format!(
                "POST /v1/activity HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {auth}\r\n{kind}Content-Length: {}\r\n\r\n{one}",
                one.len()
            )
            .as_bytes(),
            Duration::from_secs(10),
        )
    };
    for kind in [
        None,
        Some("application/jsonx"),
        Some("text/plain"),
        Some("application/json-seq"),
    ] {
        let answer = post_raw(kind, "Bearer tøken");
        assert!(answer.starts_with("HTTP/1.1 415"), "{kind:?}: {answer:?}");
        assert_eq!(raw_json(&answer)["header"], "content-type");
    }
    for (kind, auth) in [
        ("application/json", "bearer tøken"),
        ("Application/JSON; charset=utf-8", "BEARER   tøken"),
    ] {
        let answer = post_raw(Some(kind), auth);
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "{kind} {auth}: {answer:?}"
        );
    }
    let answer = post_raw(Some("application/json"), "Basic tøken");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    let answer = raw(
        &server.url,
        b"DELETE /v1/activity HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer t\xc3\xb8ken\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer:?}");
    assert!(
        raw_json(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("DELETE")
    );
    assert_eq!(stored(&logs).len(), 2);
}

/// `--listen` takes a host name.
#[test]
fn listen_takes_a_host_name() {
    let t = tempfile::tempdir().unwrap();
    let mut cmd = actlog();
    cmd.arg("--dir")
        .arg(t.path())
        .args(["serve", "--listen", "localhost:0"]);
    let server = Server::spawn(cmd, t.path());
    assert_eq!(get(&agent(), &format!("{}/healthz", server.url)).0, 200);
    let out = actlog()
        .args(["serve", "--listen", "localhost"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

/// A day file the server cannot read (EACCES) is a 500 naming the file, never a 200 with
/// "damaged". Needs root (to drop to nobody with setpriv) and the reader change that makes
/// an unreadable file an error instead of damage.
#[test]
fn an_unreadable_day_file_is_a_500_naming_it() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let line = |day: &str, n: u32| {
        format!(
            "{{\"id\":\"01937c3e-0000-7000-8000-{n:012}\",\"timestamp\":\"{day}T10:00:00.000Z\",\"username\":\"ü\",\"action\":\"a\"}}\n"
        )
    };
    std::fs::write(logs.join("activity-2026-11-24.json"), line("2026-11-24", 1)).unwrap();
    if chown(&logs, Some(65534), Some(65534)).is_err()
        || chown(
            logs.join("activity-2026-11-24.json"),
            Some(65534),
            Some(65534),
        )
        .is_err()
    {
        eprintln!("SKIPPED: needs root to give the store to nobody");
        return;
    }
    let hidden = logs.join("activity-2026-11-23.json");
    std::fs::write(&hidden, line("2026-11-23", 2)).unwrap();
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_actlog"))
        .env_remove("ACTLOG_DIR")
        .arg("--dir")
        .arg(&logs)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let server = Server::spawn(cmd, &logs);
    for route in ["/v1/activity", "/v1/activity?order=oldest", "/v1/stats"] {
        let (status, resp) = get(&agent(), &format!("{}{route}", server.url));
        assert_eq!(status, 500, "{route}: {resp}");
        assert!(
            resp["path"]
                .as_str()
                .unwrap()
                .ends_with("activity-2026-11-23.json"),
            "{route}: {resp}"
        );
        assert!(
            resp["error"].as_str().unwrap().contains("ermission"),
            "{route}: {resp}"
        );
    }
    // Writes go on: the retry check falls back to the ids this sidecar wrote itself.
    let body =
        json!({"id": "01937c3e-0000-7000-8000-0000000000ff", "username": "ü", "action": "w"});
    for _ in 0..2 {
        let (status, resp) = post(&agent(), &server.url, &body.to_string(), None);
        assert_eq!(status, 201, "{resp}");
    }
    let today = std::fs::read_to_string(logs.join(format!(
        "activity-{}.json",
        chrono::Utc::now().format("%Y-%m-%d")
    )))
    .unwrap();
    assert_eq!(today.matches("0000000000ff").count(), 1, "{today}");
}

/// A record stored twice with the same id (the server acknowledges a retry without
/// writing it, but another writer, here `actlog append`, may store a copy) is returned
/// twice and paging with `limit=1` moves past both copies to the older records, in both
/// orders.
#[test]
fn paging_moves_past_a_record_stored_twice_with_the_same_id() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let agent = agent();
    let id = "01937c3e-0000-7000-8000-00000000abcd";
    let copy = json!({"id": id, "username": "ü", "action": "a", "details": {"n": 1}});
    let bodies = [
        json!({"username": "ü", "action": "a", "details": {"n": 0}}),
        copy.clone(),
    ];
    for b in &bodies {
        let (status, resp) = post(&agent, &server.url, &b.to_string(), None);
        assert_eq!(status, 201, "{resp}");
    }
    let mut child = actlog()
        .arg("--dir")
        .arg(t.path())
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{copy}\n").as_bytes(),
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let last = json!({"username": "ü", "action": "a", "details": {"n": 2}});
    let (status, resp) = post(&agent, &server.url, &last.to_string(), None);
    assert_eq!(status, 201, "{resp}");
    let copies = stored(t.path()).iter().filter(|r| r["id"] == id).count();
    assert_eq!(copies, 2, "the retry was not stored with the same id");
    for (order, want) in [("newest", vec![2, 1, 1, 0]), ("oldest", vec![0, 1, 1, 2])] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut url = format!("{}/v1/activity?limit=1&order={order}", server.url);
            if let Some(c) = &cursor {
                url += &format!("&cursor={c}");
            }
            let (status, page) = get(&agent, &url);
            assert_eq!(status, 200, "{page}");
            for r in page["records"].as_array().unwrap() {
                seen.push(r["details"]["n"].as_u64().unwrap());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, want, "{order}");
    }
    // A cursor of the version that looped is refused, saying so.
    let (status, resp) = get(
        &agent,
        &format!(
            "{}/v1/activity?cursor=c1.20261124.01937c3e000070008000000000000010",
            server.url
        ),
    );
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["parameter"], "cursor");
    assert!(
        resp["error"].as_str().unwrap().contains("older version"),
        "{resp}"
    );
}

/// `where=details.durationMs>1990` typed raw into a URL (and raw `<`, `"`, non-ASCII)
/// works, on a keep-alive connection whose POST body holds the same bytes untouched.
#[test]
fn unencoded_operators_in_the_url_are_understood_and_bodies_are_left_alone() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    let addr = server.url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(c.try_clone().unwrap());
    let mut exchange = |request: &[u8]| -> (String, Value) {
        c.write_all(request).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    };
    let body = r#"[{"username":"ü <x>","action":"a","details":{"durationMs":2000,"s":"a>b \" {}"}},{"username":"v","action":"a","details":{"durationMs":10}}]"#;
    let (status, resp) = exchange(
        format!(
            "POST /v1/activity HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert!(status.starts_with("HTTP/1.1 201"), "{status} {resp}");
    for (query, want) in [
        ("where=details.durationMs>1990", "ü <x>"),
        ("where=details.durationMs<1990", "v"),
        ("grep=\"a>b", "ü <x>"),
        ("user=ü <x>", "ü <x>"),
    ] {
        // A raw space would end the target: it is the one byte a client must encode.
        let target = query.replace(' ', "%20");
        let (status, resp) =
            exchange(format!("GET /v1/activity?{target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{query}: {status} {resp}"
        );
        let records = resp["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{query}: {resp}");
        assert_eq!(records[0]["username"], want, "{query}: {resp}");
    }
    // The body went in byte for byte.
    let records = stored(t.path());
    assert_eq!(records[0]["details"]["s"], "a>b \" {}");
    assert_eq!(records[0]["username"], "ü <x>");
}

/// An empty range is refused over HTTP as on the command line, in the words of query
/// parameters, naming both ends.
#[test]
fn an_empty_range_is_a_400_in_query_parameter_words() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let agent = agent();
    let (status, body) = get(
        &agent,
        &format!("{}/v1/activity?since=tomorrow&until=today", server.url),
    );
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("since ") && error.contains("until \"today\"") && !error.contains("--"),
        "{body}"
    );
    assert_eq!(body["parameter"], "since", "{body}");
}

/// A POSTed record naming a key twice is refused (400 naming the record and the key),
/// and nothing of the batch is written.
#[test]
fn a_post_with_a_key_given_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let agent = agent();
    let body =
        r#"[{"username":"u","action":"a"},{"username":"u","action":"a","details":{"a":1,"a":2}}]"#;
    let (status, v) = post(&agent, &server.url, body, None);
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["index"], 1, "{v}");
    assert_eq!(v["field"], "a", "{v}");
    assert!(stored(dir.path()).is_empty());
}

/// SIGTERM the moment the address is printed is a clean shutdown (exit 0), never the
/// default kill: the handlers are installed before the address is given out.
#[test]
fn sigterm_right_after_start_is_a_clean_shutdown() {
    for _ in 0..20 {
        let t = tempfile::tempdir().unwrap();
        let mut server = Server::start(t.path(), &[]);
        let status = server.terminate();
        assert!(status.success(), "{status}");
    }
}
