//! `actlog serve` under load: keep-alive clients on loopback posting single records or
//! batches, with `flush` and `fsync` durability, each case side by side with the same
//! case against a sidecar whose retry check is off (`--dedupe-window 0`), the baseline
//! that shows what recognising retried ids costs; and `GET /v1/activity` pages.
//!
//! The "1 client, batches of N with ids" rows are the shape of one app process sending
//! through a batching client that gives every record its own UUIDv7 id: the numbers to
//! quote beside a client library's own benchmark. `ACTLOG_BENCH_JSON=FILE` also writes
//! every row as a JSON line to FILE, for such a benchmark to print beside its own.
//!
//! `cargo bench --bench serve`; `ACTLOG_BENCH_QUICK=1` for a smoke run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(durability: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_actlog"))
        .arg("--dir")
        .arg(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--durability",
            durability,
        ])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start actlog serve");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("read address");
    let url = line.split_whitespace().last().expect("address").to_owned();
    Server {
        child,
        url,
        _dir: dir,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// What one row measures.
#[derive(Clone, Copy)]
struct Case {
    clients: usize,
    /// POSTs per client.
    requests: usize,
    /// Records per POST.
    batch: usize,
    /// Whether each record carries a client-made id (as a retrying client sends).
    ids: bool,
}

impl Case {
    fn name(&self, durability: &str) -> String {
        let per = if self.batch == 1 {
            "1 record per POST".to_owned()
        } else {
            format!("batches of {}", self.batch)
        };
        let ids = if self.ids { " with ids" } else { "" };
        let clients = if self.clients == 1 {
            "1 client".to_owned()
        } else {
            format!("{} clients", self.clients)
        };
        format!("{clients}, {per}{ids}, `{durability}`")
    }

    /// The request bodies of each client, made before the clock starts.
    fn bodies(&self) -> Vec<Vec<String>> {
        (0..self.clients)
            .map(|c| {
                (0..self.requests)
                    .map(|n| {
                        let records: Vec<serde_json::Value> = (0..self.batch)
                            .map(|i| {
                                let mut r = serde_json::json!({
                                    "username": format!("user{c:03}"),
                                    "action": "report.view",
                                    "details": {"reportId": format!("r-{n}-{i}"), "durationMs": 412},
                                    "ip_address": "203.0.113.7",
                                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                                });
                                if self.ids {
                                    r["id"] = uuid::Uuid::now_v7().to_string().into();
                                }
                                r
                            })
                            .collect();
                        if self.batch == 1 {
                            records[0].to_string()
                        } else {
                            serde_json::Value::Array(records).to_string()
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Records per second posting every body, each client on its own connection.
    fn run(&self, url: &str) -> f64 {
        let bodies = self.bodies();
        let started = Instant::now();
        std::thread::scope(|s| {
            for mine in &bodies {
                s.spawn(move || {
                    let agent = agent();
                    for body in mine {
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
        (self.clients * self.requests * self.batch) as f64 / started.elapsed().as_secs_f64()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    let rounds = if quick { 1 } else { 3 };
    let mut json = std::env::var_os("ACTLOG_BENCH_JSON")
        .map(|path| std::fs::File::create(path).expect("create ACTLOG_BENCH_JSON file"));
    println!(
        "Median of {rounds} round(s), the two servers taking turns; records/s, 352-byte records."
    );
    println!();
    println!("| case | records/s | with `--dedupe-window 0` | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    let case = |clients, requests: usize, batch, ids| Case {
        clients,
        requests: (requests / scale).max(1),
        batch,
        ids,
    };
    for (durability, cases) in [
        (
            "flush",
            vec![
                case(1, 2000, 1, false),
                case(16, 2000, 1, false),
                case(16, 100, 100, false),
                case(1, 500, 100, true),
                case(1, 100, 1000, true),
            ],
        ),
        (
            "fsync",
            vec![
                case(1, 100, 1, false),
                case(16, 100, 1, false),
                case(16, 20, 100, false),
                case(1, 200, 100, true),
                case(1, 40, 1000, true),
            ],
        ),
    ] {
        for c in cases {
            // A fresh pair of servers per case, so no case reads the files of another.
            let checked = start(durability, &[]);
            let baseline = start(durability, &["--dedupe-window", "0"]);
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                with.push(c.run(&checked.url));
                without.push(c.run(&baseline.url));
            }
            let (with, without) = (median(with), median(without));
            let name = c.name(durability);
            println!(
                "| {name} | {with:.0} | {without:.0} | {:.2} |",
                with / without
            );
            if let Some(f) = &mut json {
                let row = serde_json::json!({
                    "bench": "serve",
                    "case": name.replace('`', ""),
                    "durability": durability,
                    "clients": c.clients,
                    "records_per_post": c.batch,
                    "ids": c.ids,
                    "records_per_s": with.round(),
                    "records_per_s_dedupe_off": without.round(),
                    "rounds": rounds,
                });
                writeln!(f, "{row}").expect("write ACTLOG_BENCH_JSON");
            }
        }
    }
    // Reading: pages of 100, newest first, from a day of 20,000 records.
    let server = start("flush", &[]);
    case(4, 50 * scale, 100, false).run(&server.url);
    let agent = agent();
    let pages = if quick { 20 } else { 200 };
    let started = Instant::now();
    for _ in 0..pages {
        let mut resp = agent
            .get(format!("{}/v1/activity?user=user001&limit=100", server.url))
            .call()
            .expect("get");
        let _ = resp.body_mut().read_to_string();
    }
    let per = started.elapsed().as_secs_f64() / f64::from(pages) * 1000.0;
    println!();
    println!("| read | ms per page |");
    println!("| --- | ---: |");
    println!("| GET /v1/activity?user=...&limit=100 on 20,000 records | {per:.2} |");
}
