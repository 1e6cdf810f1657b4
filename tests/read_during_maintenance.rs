//! Every reader returns every record exactly once while `actlog maintain` compresses the
//! very days it is reading: real reader processes (and an `actlog serve` being paged)
//! race a real maintenance process, round after round, with no writer and no kill.
//!
//! Maintenance renames a day's `.gz` into place and then unlinks its plain file; a reader
//! may list the directory, open the `.gz` and open the plain file with either step landing
//! between any two of its own. Each check compares the reader's output with the stored
//! lines of an untouched copy of the store, so a skipped day, a record returned twice or a
//! changed order all fail.

mod common;

use actlog::{Activity, Options, Store};
use chrono::{DateTime, Utc};
use common::{Server, actlog};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DAYS: [&str; 6] = [
    "2026-11-20",
    "2026-11-21",
    "2026-11-22",
    "2026-11-23",
    "2026-11-24",
    "2026-11-25",
];
const PER_DAY: usize = 2000;
/// Late enough that maintenance compresses every day and deletes none.
const NOW: &str = "2026-11-30T12:00:00Z";
const ROUNDS: usize = 4;
const MARKER: &str = "follow.marker";

/// A store of plain days only, and its lines in stored order.
fn pristine(dir: &Path) -> Vec<String> {
    let w = Store::open(dir, Options::default()).unwrap().writer();
    for (d, day) in DAYS.iter().enumerate() {
        let batch: Vec<Activity> = (0..PER_DAY)
            .map(|i| {
                let at: DateTime<Utc> = format!("{day}T{:02}:{:02}:00Z", i % 24, i % 60)
                    .parse()
                    .unwrap();
                Activity::new(format!("user{}", i % 17), format!("act.{d}.{i}"))
                    .at(at)
                    .with_details(serde_json::json!({"n": i, "pad": "é".repeat(i % 40)}))
                    .unwrap()
            })
            .collect();
        w.append_batch(&batch).unwrap();
    }
    w.close().unwrap();
    let mut lines = Vec::new();
    for day in DAYS {
        let text = std::fs::read_to_string(dir.join(format!("activity-{day}.json"))).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

fn copy_store(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// One reader: its arguments and what its standard output must be.
struct Reader {
    args: Vec<String>,
    want: String,
}

/// What `actlog ARGS` prints on the store before maintenance touches it.
fn static_output(dir: &Path, args: &[&str]) -> String {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["--now", NOW])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn readers(src: &Path, lines: &[String]) -> Vec<Reader> {
    let joined = |ls: &mut dyn Iterator<Item = &String>| {
        let mut s = String::new();
        for l in ls {
            s.push_str(l);
            s.push('\n');
        }
        s
    };
    let all = joined(&mut lines.iter());
    let reversed = joined(&mut lines.iter().rev());
    let window: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.contains("\"timestamp\":\"2026-11-22") || l.contains("\"timestamp\":\"2026-11-23")
        })
        .collect();
    let user7 = lines
        .iter()
        .filter(|l| l.contains("\"username\":\"user7\""))
        .count();
    let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        Reader {
            args: a(&["query", "-o", "json"]),
            want: all.clone(),
        },
        Reader {
            args: a(&["query", "-r", "-o", "json"]),
            want: reversed,
        },
        Reader {
            args: a(&["tail", "-n", "100000", "-o", "json"]),
            want: all,
        },
        Reader {
            args: a(&["query", "-c"]),
            want: format!("{}\n", lines.len()),
        },
        Reader {
            args: a(&["query", "-c", "--user", "user7"]),
            want: format!("{user7}\n"),
        },
        Reader {
            args: a(&[
                "query",
                "-o",
                "json",
                "--since",
                "2026-11-22",
                "--until",
                "2026-11-24",
            ]),
            want: joined(&mut window.into_iter()),
        },
        Reader {
            args: a(&["query", "-r", "-o", "json", "-n", "4500"]),
            want: joined(&mut lines.iter().rev().take(4500)),
        },
        Reader {
            args: a(&["query", "--count-by", "username", "-o", "json"]),
            want: static_output(src, &["query", "--count-by", "username", "-o", "json"]),
        },
    ]
}

fn run_reader(dir: &Path, r: &Reader) -> Result<(), String> {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["--now", NOW])
        .args(&r.args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() != Some(0) || stdout != r.want {
        return Err(format!(
            "`actlog {}` exit {:?}: {} lines, want {}; stderr: {}",
            r.args.join(" "),
            out.status.code(),
            stdout.lines().count(),
            r.want.lines().count(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn stats_total(dir: &Path) -> Result<u64, String> {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["stats", "-o", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "stats output: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    v["total"]["records"]
        .as_u64()
        .ok_or_else(|| format!("stats output has no total: {v}"))
}

/// Pages through `GET /v1/activity` in both orders, 700 records a page.
fn pages(url: &str, oldest: bool) -> Result<Vec<String>, String> {
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = format!("{url}/v1/activity?limit=700");
        if oldest {
            req.push_str("&order=oldest");
        }
        if let Some(c) = &cursor {
            req.push_str(&format!("&cursor={c}"));
        }
        let body = ureq::get(&req)
            .call()
            .map_err(|e| format!("GET {req}: {e}"))?
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("GET {req}: {e}"))?;
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        for r in v["records"].as_array().into_iter().flatten() {
            got.push(r["id"].as_str().unwrap_or_default().to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(got),
        }
        if got.len() > 10 * DAYS.len() * PER_DAY {
            return Err("paging does not end".into());
        }
    }
}

fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn readers_racing_maintenance_return_every_record_once() {
    let src = tempfile::tempdir().unwrap();
    let lines = pristine(src.path());
    let want_ids = ids(&lines);
    let readers = Arc::new(readers(src.path(), &lines));
    let mut failures: Vec<String> = Vec::new();
    let mut reads = 0usize;
    let started = Instant::now();
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let d: PathBuf = dir.path().to_path_buf();
        copy_store(src.path(), &d);
        let server = Server::start(&d, &[]);
        let done = Arc::new(AtomicBool::new(false));
        // Each reader loops until maintenance has finished, and runs at least once.
        let mut handles = Vec::new();
        for i in 0..readers.len() {
            let (d, readers, done) = (d.clone(), readers.clone(), done.clone());
            handles.push(std::thread::spawn(move || {
                let mut errs = Vec::new();
                let mut n = 0;
                loop {
                    if let Err(e) = run_reader(&d, &readers[i]) {
                        errs.push(e);
                    }
                    n += 1;
                    if done.load(Ordering::SeqCst) {
                        return (n, errs);
                    }
                }
            }));
        }
        {
            let (d, done, total) = (d.clone(), done.clone(), lines.len() as u64);
            handles.push(std::thread::spawn(move || {
                let mut errs = Vec::new();
                let mut n = 0;
                loop {
                    match stats_total(&d) {
                        Ok(t) if t == total => {}
                        Ok(t) => errs.push(format!("stats: {t} records, want {total}")),
                        Err(e) => errs.push(e),
                    }
                    n += 1;
                    if done.load(Ordering::SeqCst) {
                        return (n, errs);
                    }
                }
            }));
        }
        for oldest in [false, true] {
            let (url, done, want) = (server.url.clone(), done.clone(), want_ids.clone());
            handles.push(std::thread::spawn(move || {
                let mut errs = Vec::new();
                let mut n = 0;
                let want: Vec<String> = if oldest {
                    want
                } else {
                    want.into_iter().rev().collect()
                };
                loop {
                    match pages(&url, oldest) {
                        Ok(got) if got == want => {}
                        Ok(got) => errs.push(format!(
                            "paging (oldest first: {oldest}): {} ids, want {}",
                            got.len(),
                            want.len()
                        )),
                        Err(e) => errs.push(e),
                    }
                    n += 1;
                    if done.load(Ordering::SeqCst) {
                        return (n, errs);
                    }
                }
            }));
        }
        // A follower prints the whole store, then what is appended after maintenance.
        let mut follower = actlog()
            .arg("--dir")
            .arg(&d)
            .args(["--now", NOW, "tail", "-f", "-n", "100000", "-o", "json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let followed = {
            let out = follower.stdout.take().unwrap();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let end = line.contains(MARKER);
                    got.push(line);
                    if end {
                        break;
                    }
                }
                got
            })
        };
        // Let the readers start listing, then compress every day under them.
        std::thread::sleep(Duration::from_millis(30 + 20 * round as u64));
        let m = Command::new(env!("CARGO_BIN_EXE_actlog"))
            .env_remove("ACTLOG_DIR")
            .arg("--dir")
            .arg(&d)
            .args(["--now", NOW, "maintain", "--keep-days", "100000"])
            .output()
            .unwrap();
        assert!(
            m.status.success(),
            "maintain: {}",
            String::from_utf8_lossy(&m.stderr)
        );
        done.store(true, Ordering::SeqCst);
        for h in handles {
            let (n, errs) = h.join().unwrap();
            reads += n;
            failures.extend(errs.into_iter().map(|e| format!("round {round}: {e}")));
        }
        // Only now that no reader runs: one record more for the follower to see.
        let marker = actlog()
            .arg("--dir")
            .arg(&d)
            .args(["append", "--user", "marker", "--action", MARKER])
            .args(["--at", "2026-11-25T23:59:59Z"])
            .output()
            .unwrap();
        assert!(marker.status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !followed.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = follower.kill();
        let _ = follower.wait();
        let got = followed.join().unwrap();
        let last = got.last().cloned().unwrap_or_default();
        if !last.contains(MARKER) || got[..got.len() - 1] != lines[..] {
            failures.push(format!(
                "round {round}: tail -f printed {} lines before the marker (found: {}), want {}",
                got.len().saturating_sub(1),
                last.contains(MARKER),
                lines.len()
            ));
        }
        drop(server);
        // Maintenance did its work: every day is now gzipped only.
        for day in &DAYS[..DAYS.len() - 1] {
            assert!(d.join(format!("activity-{day}.json.gz")).exists());
            assert!(!d.join(format!("activity-{day}.json")).exists());
        }
    }
    eprintln!(
        "{reads} reads in {ROUNDS} rounds, {} wrong, {:.1} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {reads} reads wrong while maintenance ran:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `tail -f -n N` reads the past up to where following begins, then follows: with a
/// writer adding to old days and maintenance folding them again and again, each start
/// prints every record stored before it once, and none twice, whatever maintenance did
/// between the follower's first look and the read of the past.
#[test]
fn tail_f_started_while_maintenance_folds_prints_each_record_once() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_path_buf();
    pristine(&d);
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (d, stop) = (d.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let day = DAYS[n % (DAYS.len() - 1)];
                let input: String = (0..40)
                    .map(|i| {
                        format!(
                            "{{\"username\":\"late\",\"action\":\"late.{n}.{i}\",\"timestamp\":\"{day}T23:00:00Z\"}}\n"
                        )
                    })
                    .collect();
                let mut child = actlog()
                    .arg("--dir")
                    .arg(&d)
                    .args(["append", "-"])
                    .stdin(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes())
                    .unwrap();
                assert!(child.wait().unwrap().success());
                let m = actlog()
                    .arg("--dir")
                    .arg(&d)
                    .args([
                        "--now",
                        NOW,
                        "maintain",
                        "--grace-days",
                        "0",
                        "--keep-days",
                        "100000",
                    ])
                    .output()
                    .unwrap();
                assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
                n += 1;
            }
        })
    };
    let count = || -> usize {
        let out = actlog()
            .arg("--dir")
            .arg(&d)
            .args(["query", "-c"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let mut failures = Vec::new();
    let runs = 12;
    for run in 0..runs {
        let before = count();
        // `--until` a time already past: print the past, read once more, exit.
        let out = actlog()
            .arg("--dir")
            .arg(&d)
            .args([
                "--now", NOW, "tail", "-f", "-n", "1000000", "--until", NOW, "-o", "json",
            ])
            .output()
            .unwrap();
        let after = count();
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let printed = ids(&lines);
        let unique: std::collections::HashSet<&String> = printed.iter().collect();
        if out.status.code() != Some(0)
            || unique.len() != printed.len()
            || printed.len() < before
            || printed.len() > after
        {
            failures.push(format!(
                "run {run}: exit {:?}, printed {} ({} distinct), stored {before} before and {after} after; {}",
                out.status.code(),
                printed.len(),
                unique.len(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    stop.store(true, Ordering::SeqCst);
    churn.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {runs} starts wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
