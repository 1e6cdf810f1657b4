//! `actlog demo`: several real processes append to one directory at once, then every
//! line is checked. Shows a newcomer the main job on a built-in default.

use crate::error::{Error, Result};
use crate::layout::{FileKind, file_name, list_days};
use crate::record::Record;
use crate::store::{Options, Store};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default directory of the demo, so it never mixes with real logs in `./logs`.
pub const DEFAULT_DEMO_DIR: &str = "./demo-logs";

const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const ACTIONS: [&str; 5] = [
    "report.view",
    "report.export",
    "auth.login",
    "auth.logout",
    "settings.update",
];

/// What the demo did and found.
#[derive(Debug)]
pub struct DemoReport {
    /// The directory written.
    pub dir: PathBuf,
    /// Writer processes run at once.
    pub processes: u32,
    /// Records the processes appended.
    pub appended: u64,
    /// How long the concurrent appends took.
    pub elapsed: Duration,
    /// Lines found in the day files that are valid records.
    pub valid_lines: u64,
    /// Lines that are not valid records (0 unless something is broken).
    pub bad_lines: u64,
    /// Whether every id is unique.
    pub ids_unique: bool,
    /// Whether each process's records appear in the order it wrote them.
    pub order_kept: bool,
    /// Records per action, from the demo's own records.
    pub by_action: BTreeMap<String, u64>,
    /// A few stored lines, as written.
    pub sample: Vec<String>,
}

/// Whether `dir` holds a record the demo did not write: every record the demo writes has
/// `"demo": true` in its details; a damaged line counts as foreign too. A missing
/// directory or one without day files holds none. `--days` datasets carry no such mark.
pub fn holds_foreign_records(dir: &Path) -> Result<bool> {
    if !dir.is_dir() || list_days(dir)?.is_empty() {
        return Ok(false);
    }
    let spec = crate::filter::FilterSpec {
        wheres: vec!["details.demo != true".into()],
        ..Default::default()
    };
    let filter = crate::filter::Filter::new(&spec, chrono::Utc::now())
        .map_err(|e| crate::error::ValidationError::new("demo", e.to_string()))?;
    let query = crate::query::Query {
        filter,
        limit: Some(1),
        ..Default::default()
    };
    let outcome = crate::query::count(dir, &query)?;
    Ok(outcome.matched > 0 || outcome.damaged > 0)
}

/// Runs `processes` copies of `exe append - --batch 1` on `dir` at once, each appending
/// `records` records, then reads every day file back.
pub fn run(exe: &Path, dir: &Path, processes: u32, records: u32) -> Result<DemoReport> {
    Store::open(dir, Options::default())?;
    let before = count_lines(dir)?;
    let started = Instant::now();
    let mut children = Vec::new();
    for p in 0..processes {
        let mut child = Command::new(exe)
            .arg("--dir")
            .arg(dir)
            .args(["append", "-", "--batch", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(exe, "start writer process", e))?;
        let stdin = child.stdin.take();
        let feeder = std::thread::spawn(move || -> std::io::Result<()> {
            let Some(stdin) = stdin else { return Ok(()) };
            let mut out = std::io::BufWriter::new(stdin);
            for seq in 0..records {
                let i = (p * 7 + seq) as usize;
                let line = json!({
                    "username": USERS[i % USERS.len()],
                    "action": ACTIONS[i % ACTIONS.len()],
                    "details": {"demo": true, "proc": p, "seq": seq, "reportId": format!("r-{}", 1000 + i % 50)},
                    "ip_address": format!("203.0.113.{}", 1 + i % 200),
                    "user_agent": "actlog-demo/1.0",
                });
                writeln!(out, "{line}")?;
            }
            out.flush()
        });
        children.push((child, feeder));
    }
    for (child, feeder) in children {
        let fed = feeder.join();
        let output = child
            .wait_with_output()
            .map_err(|e| Error::io(exe, "wait for writer process", e))?;
        if !output.status.success() || !matches!(fed, Ok(Ok(()))) {
            let said = String::from_utf8_lossy(&output.stderr);
            return Err(Error::io(
                exe,
                "demo writer process",
                std::io::Error::other(format!("{}: {}", output.status, said.trim())),
            ));
        }
    }
    let elapsed = started.elapsed();
    check(
        dir,
        processes,
        u64::from(processes) * u64::from(records),
        elapsed,
        before,
    )
}

fn count_lines(dir: &Path) -> Result<u64> {
    let mut n = 0;
    for_each_line(dir, |_| n += 1)?;
    Ok(n)
}

fn check(
    dir: &Path,
    processes: u32,
    appended: u64,
    elapsed: Duration,
    before: u64,
) -> Result<DemoReport> {
    let mut report = DemoReport {
        dir: dir.to_path_buf(),
        processes,
        appended,
        elapsed,
        valid_lines: 0,
        bad_lines: 0,
        ids_unique: true,
        order_kept: true,
        by_action: BTreeMap::new(),
        sample: Vec::new(),
    };
    let mut ids = HashSet::new();
    let mut last_seq: BTreeMap<u64, i64> = BTreeMap::new();
    let mut seen = 0u64;
    for_each_line(dir, |line| {
        seen += 1;
        let Ok(record) = Record::parse_line(line) else {
            report.bad_lines += 1;
            return;
        };
        report.valid_lines += 1;
        report.ids_unique &= ids.insert(record.id);
        // Only this run's records (earlier runs' lines are in the same files).
        if seen <= before {
            return;
        }
        let details = record.details.as_ref();
        let field = |k: &str| details.and_then(|d| d.get(k)).and_then(|v| v.as_u64());
        if let (Some(p), Some(seq)) = (field("proc"), field("seq")) {
            let last = last_seq.entry(p).or_insert(-1);
            report.order_kept &= i64::try_from(seq).is_ok_and(|s| s > *last);
            *last = i64::try_from(seq).unwrap_or(i64::MAX);
        }
        *report.by_action.entry(record.action.clone()).or_default() += 1;
        if report.sample.len() < 3 {
            report
                .sample
                .push(String::from_utf8_lossy(line).into_owned());
        }
    })?;
    Ok(report)
}

/// Calls `f` with every line of every plain day file, oldest day first.
fn for_each_line(dir: &Path, mut f: impl FnMut(&[u8])) -> Result<()> {
    for (day, files) in list_days(dir)? {
        if !files.plain {
            continue;
        }
        let path = dir.join(file_name(day, FileKind::Plain));
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, "open", e))?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::io(&path, "read", e))?;
            if n == 0 {
                break;
            }
            f(line.strip_suffix(b"\n").unwrap_or(&line));
        }
    }
    Ok(())
}
