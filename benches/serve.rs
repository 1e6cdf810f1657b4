//! `actlog serve` under load: 16 keep-alive clients on loopback posting single records or
//! batches of 100, with `flush` and `fsync` durability; how many records per fsync the
//! shared Writer's group commit reaches across requests; `GET /v1/activity` pages.
//! `cargo bench --bench serve`; `ACTLOG_BENCH_QUICK=1` for a smoke run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, durability: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_actlog"))
        .arg("--dir")
        .arg(dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--durability",
            durability,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start actlog serve");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("read address");
    let url = line.split_whitespace().last().expect("address").to_owned();
    Server { child, url }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Records per second with `clients` clients each sending `requests` POSTs of `batch`.
fn post_rate(url: &str, clients: usize, requests: usize, batch: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..clients {
            s.spawn(move || {
                let agent = agent();
                for n in 0..requests {
                    let records: Vec<serde_json::Value> = (0..batch)
                        .map(|i| {
                            serde_json::json!({
                                "username": format!("user{c:03}"),
                                "action": "report.view",
                                "details": {"reportId": format!("r-{n}-{i}"), "durationMs": 412},
                                "ip_address": "203.0.113.7",
                                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                            })
                        })
                        .collect();
                    let body = if batch == 1 {
                        records[0].to_string()
                    } else {
                        serde_json::Value::Array(records).to_string()
                    };
                    let mut resp = agent
                        .post(format!("{url}/v1/activity"))
                        .header("content-type", "application/json")
                        .send(body)
                        .expect("post");
                    assert_eq!(resp.status().as_u16(), 201);
                    let _ = resp.body_mut().read_to_string();
                }
            });
        }
    });
    (clients * requests * batch) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    println!("| case | records/s |");
    println!("| --- | ---: |");
    for (durability, single_requests, batch_requests) in [
        ("flush", 2000 / scale, 100 / scale),
        ("fsync", 100 / scale, 20 / scale),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = start(dir.path(), durability);
        let alone = post_rate(&server.url, 1, single_requests, 1);
        println!("| 1 client, 1 record per POST, `{durability}` | {alone:.0} |");
        let single = post_rate(&server.url, 16, single_requests, 1);
        println!("| 16 clients, 1 record per POST, `{durability}` | {single:.0} |");
        let batched = post_rate(&server.url, 16, batch_requests, 100);
        println!("| 16 clients, 100 records per POST, `{durability}` | {batched:.0} |");
    }
    // Reading: pages of 100, newest first, from a day of 20,000 records.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), "flush");
    post_rate(&server.url, 4, 50, 100);
    let agent = agent();
    let rounds = if quick { 20 } else { 200 };
    let started = Instant::now();
    for _ in 0..rounds {
        let mut resp = agent
            .get(format!("{}/v1/activity?user=user001&limit=100", server.url))
            .call()
            .expect("get");
        let _ = resp.body_mut().read_to_string();
    }
    let per = started.elapsed().as_secs_f64() / f64::from(rounds) * 1000.0;
    println!("| GET /v1/activity?user=...&limit=100 on 20,000 records | {per:.2} ms per page |");
}
