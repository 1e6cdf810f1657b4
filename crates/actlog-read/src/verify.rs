//! `actlog verify`: reads every file of the log directory and lists each problem with
//! its file and line: damaged lines, damaged gzip, unterminated last lines, plain files
//! already held by their `.gz`, gzip member headers (index, time range and summary)
//! that do not match their content, stale temporary files, symlinks and wrong modes, and in
//! valid records: duplicate ids (across days too), records in the file of another day,
//! and timestamps not in the canonical form.
//!
//! Duplicate ids are found with one set of every id seen (16 bytes each, about 30 with
//! the table's slack: some 180 MiB for 6 million records); only when a duplicate turns
//! up is the store read a second time, as far as needed, to name where each first copy
//! is, so a clean store is read once and no location is held per record.

use crate::query::classify;
use crate::scan::{Damage, DamageKind, Loc, Sink, scan_day};
use actlog_core::dayfile::FILE_MODE;
use actlog_core::error::{Error, Result};
use actlog_core::gzmeta;
use actlog_core::layout::{FileKind, file_name, list_days, parse_file_name};
use actlog_core::progress::{NoProgress, Progress};
use actlog_core::record::{Record, format_timestamp};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One thing wrong in the log directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Line number, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Byte offset (in the decompressed content for a `.gz`), when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What kind of problem, as a stable name for scripts (README lists them all).
    pub kind: &'static str,
    /// What kind of problem, in a few words.
    pub problem: String,
    /// Details.
    pub detail: String,
    /// How many problems this one stands for beyond itself: the count a "more problems"
    /// summary holds (0 for every other problem).
    #[serde(skip_serializing_if = "is_zero")]
    pub more: u64,
    /// What to do about a problem of this kind.
    pub hint: &'static str,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        match (self.line, self.offset) {
            (Some(line), _) => write!(f, ":{line}")?,
            (None, Some(offset)) => write!(f, " (byte {offset})")?,
            _ => {}
        }
        write!(f, ": {}", self.problem)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl From<Damage> for Problem {
    fn from(d: Damage) -> Problem {
        let kind = damage_kind(d.kind);
        Problem {
            file: d.path,
            line: d.line,
            offset: Some(d.offset),
            kind,
            problem: d.kind.describe().to_owned(),
            detail: d.detail,
            more: 0,
            hint: hint(kind),
        }
    }
}

/// The stable name of a kind of damage the scan reports.
fn damage_kind(kind: DamageKind) -> &'static str {
    match kind {
        DamageKind::TornLine => "torn-line",
        DamageKind::InvalidJson => "invalid-json",
        DamageKind::InvalidUtf8 => "invalid-utf8",
        DamageKind::NulBytes => "nul-bytes",
        DamageKind::InvalidRecord => "invalid-record",
        DamageKind::LineTooLong => "line-too-long",
        DamageKind::TruncatedGzip => "truncated-gzip",
        DamageKind::CorruptGzip => "corrupt-gzip",
        DamageKind::TrailingGarbage => "trailing-garbage",
    }
}

/// Every kind of problem `verify` reports, by its stable name.
pub const KINDS: &[&str] = &[
    "torn-line",
    "invalid-json",
    "invalid-utf8",
    "nul-bytes",
    "invalid-record",
    "line-too-long",
    "truncated-gzip",
    "corrupt-gzip",
    "trailing-garbage",
    "stale-temp-file",
    "foreign-temp-object",
    "symlink",
    "not-a-regular-file",
    "empty-gzip",
    "wrong-mode",
    "member-index-broken",
    "member-time-range",
    "member-summary",
    "unterminated-last-line",
    "leftover-in-gz",
    "duplicate-id",
    "wrong-day",
    "non-canonical-timestamp",
    "more-problems",
];

/// What to do about a problem of `kind` (one of [`KINDS`]), in one sentence.
pub fn hint(kind: &str) -> &'static str {
    match kind {
        "torn-line" => {
            "a writer was stopped mid-line (a crash or kill); readers skip the line and there is nothing to recover"
        }
        "invalid-json" | "invalid-utf8" | "invalid-record" | "line-too-long" => {
            "written by another program or edited by hand; readers skip the line: fix or remove it by hand"
        }
        "nul-bytes" => {
            "a zero-filled hole left by a crash or power cut; readers skip it and there is nothing to recover"
        }
        "truncated-gzip" | "corrupt-gzip" | "trailing-garbage" => {
            "the .gz was damaged (a copy cut short, a disk error): restore it from a backup; readers read what comes before the damage"
        }
        "stale-temp-file" => {
            "left by a maintenance run that stopped: run `actlog maintain`, which removes it"
        }
        "foreign-temp-object" => "move it away: maintenance will not compress that day until then",
        "symlink" => {
            "replace the link by the file it points to, or remove it: actlog never follows it"
        }
        "not-a-regular-file" => "move it out of the log directory: actlog never reads it",
        "empty-gzip" => {
            "remove the empty file (it holds nothing); maintenance leaves the day alone until then"
        }
        "wrong-mode" => {
            "chmod 0640 the file, so that it is readable by the group and not by everyone"
        }
        "member-index-broken" | "member-time-range" => {
            "readers skip members by this index and may miss records: restore the .gz from a backup, or rebuild it (zcat it into a new file, gzip that)"
        }
        "member-summary" => {
            "readers count and skip members by their summaries, so counts and filtered queries may be wrong: restore the .gz from a backup, or rebuild it (zcat it into a plain gzip file in its place, then run `actlog maintain --reindex`)"
        }
        "unterminated-last-line" => {
            "if no writer is running, a crash tore it: readers skip it, and the next append starts on a fresh line"
        }
        "leftover-in-gz" => {
            "left by a maintenance run that stopped: readers skip those bytes, and `actlog maintain` removes them"
        }
        "duplicate-id" => {
            "the record was stored twice (a day file copied or restored over another, or a writer reusing ids): if both copies are the same event, delete the later line"
        }
        "wrong-day" => {
            "the file was renamed or copied from another day: restore its name, or move the line to the file of its timestamp's UTC day; time filters read only the files of the days they cover and may miss it"
        }
        "non-canonical-timestamp" => {
            "written by another program: actlog reads it, but text tools and -g see the odd form; rewrite it as RFC 3339 UTC with milliseconds and Z, e.g. 2026-11-24T13:45:12.123Z"
        }
        "more-problems" => {
            "only the first 1000 problems of a file are listed: fix those and run verify again"
        }
        _ => "",
    }
}

/// Problems listed one by one per file; past this many, the rest of that file's are
/// counted and summed up in one closing problem, so memory and output stay bounded
/// however many bad lines a file holds.
pub const LISTED_PER_FILE: u64 = 1000;

/// Every problem in `dir`, files in name order; at most [`LISTED_PER_FILE`] of one
/// file's lines and members, then one problem that counts the rest.
pub fn verify(dir: &Path) -> Result<Vec<Problem>> {
    Ok(verify_with(dir, &NoProgress)?.problems)
}

/// What a [`verify_with`] run checked and found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every problem, as [`verify`] returns them.
    pub problems: Vec<Problem>,
    /// Days read.
    pub days: u64,
    /// Valid records read.
    pub records: u64,
}

impl Report {
    /// Problems in all, counting those a "more problems" summary stands for.
    pub fn total(&self) -> u64 {
        self.problems.iter().map(|p| 1 + p.more).sum()
    }
}

/// [`verify`], telling `progress` of each day read, and what was checked.
pub fn verify_with(dir: &Path, progress: &dyn Progress) -> Result<Report> {
    let mut problems = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "list directory", e))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    names.sort();
    for name in &names {
        let path = dir.join(name);
        let problem = |kind: &'static str, p: &str, detail: String| Problem {
            file: path.clone(),
            line: None,
            offset: None,
            kind,
            problem: p.to_owned(),
            detail,
            more: 0,
            hint: hint(kind),
        };
        if name.starts_with('.') {
            let temp = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".tmp"))
                .and_then(parse_file_name)
                .is_some();
            if temp {
                // Maintenance removes a file or symlink left at its temporary name, and
                // leaves anything else there alone (and that day uncompressed).
                let removable = std::fs::symlink_metadata(&path)
                    .is_ok_and(|m| m.is_file() || m.file_type().is_symlink());
                problems.push(if removable {
                    problem(
                        "stale-temp-file",
                        "stale temporary file",
                        "left by a maintenance run that stopped; the next run removes it".into(),
                    )
                } else {
                    problem(
                        "foreign-temp-object",
                        "foreign object at a temporary name",
                        "maintenance leaves it alone and does not compress that day until it is removed".into(),
                    )
                });
            }
            continue;
        }
        if parse_file_name(name).is_none() {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, "stat", e))?;
        if meta.file_type().is_symlink() {
            problems.push(problem(
                "symlink",
                "symbolic link",
                "a day file must be a regular file; actlog never follows it".into(),
            ));
        } else if !meta.is_file() {
            problems.push(problem(
                "not-a-regular-file",
                "not a regular file",
                String::new(),
            ));
        } else if meta.len() == 0 && name.ends_with(".gz") {
            // Gzip has no empty form; readers would read nothing from it, and
            // maintenance will not fold into it.
            problems.push(problem(
                "empty-gzip",
                "empty gzip file",
                "0 bytes, not a gzip file; maintenance leaves this day alone until it is moved away".into(),
            ));
        } else if meta.permissions().mode() & 0o777 != FILE_MODE {
            problems.push(problem(
                "wrong-mode",
                "wrong mode",
                format!(
                    "{:04o}, expected {FILE_MODE:04o}",
                    meta.permissions().mode() & 0o777
                ),
            ));
        }
    }
    let days = list_days(dir)?;
    progress.begin("verifying", days.len() as u64);
    let mut sink = Check {
        problems: &mut problems,
        file: None,
        day: NaiveDate::MIN,
        seen: HashSet::new(),
        duplicates: HashMap::new(),
        records: 0,
    };
    for (&day, files) in &days {
        progress.working(&day.to_string());
        sink.day = day;
        let _ = scan_day(dir, day, false, &mut sink)?;
        sink.close_file();
        if files.plain {
            check_plain(dir, day, files.gzip, sink.problems)?;
        }
        if files.gzip {
            check_index(&dir.join(file_name(day, FileKind::Gzip)), sink.problems)?;
        }
        progress.step();
    }
    let records = sink.records;
    let duplicates = std::mem::take(&mut sink.duplicates);
    drop(sink);
    if !duplicates.is_empty() {
        locate_first_copies(dir, &days, duplicates, &mut problems, progress)?;
    }
    progress.end();
    Ok(Report {
        problems,
        days: days.len() as u64,
        records,
    })
}

/// Names in each duplicate's problem where the first copy of its id is: the store is
/// read again from the start until every such id has been met once.
fn locate_first_copies(
    dir: &Path,
    days: &std::collections::BTreeMap<NaiveDate, actlog_core::layout::DayFiles>,
    mut duplicates: HashMap<u128, Vec<usize>>,
    problems: &mut [Problem],
    progress: &dyn Progress,
) -> Result<()> {
    progress.begin("finding first copies", days.len() as u64);
    let mut find = FirstCopy {
        wanted: &mut duplicates,
        problems,
    };
    for &day in days.keys() {
        progress.working(&day.to_string());
        let done = scan_day(dir, day, false, &mut find)?;
        progress.step();
        if done.is_break() {
            break;
        }
    }
    Ok(())
}

/// The id of a line already known to be a valid record, and its timestamp as stored.
#[derive(serde::Deserialize)]
struct IdStamp<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    timestamp: std::borrow::Cow<'a, str>,
}

/// The second read: fills each duplicate's problem with its first copy's place.
struct FirstCopy<'a> {
    /// Ids still looked for, with the indices of the problems that name them.
    wanted: &'a mut HashMap<u128, Vec<usize>>,
    problems: &'a mut [Problem],
}

impl Sink for FirstCopy<'_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        let Some(id) = serde_json::from_slice::<IdStamp<'_>>(line)
            .ok()
            .and_then(|r| uuid::Uuid::parse_str(&r.id).ok())
        else {
            return ControlFlow::Continue(());
        };
        if let Some(indices) = self.wanted.remove(&id.as_u128()) {
            let at = place(loc.path, loc.line, loc.offset);
            for i in indices {
                if let Some(p) = self.problems.get_mut(i) {
                    p.detail = format!("{}; the first copy is at {at}", p.detail);
                }
            }
        }
        if self.wanted.is_empty() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn damage(&mut self, _: Damage) {}
}

/// `FILE:LINE`, or `FILE (byte N)` where the line number is not known.
fn place(path: &Path, line: Option<u64>, offset: u64) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => format!("{} (byte {offset})", path.display()),
    }
}

/// Members that record their length must tile the file, and their recorded time range
/// must be their records' (readers skip members by it).
fn check_index(path: &Path, problems: &mut Vec<Problem>) -> Result<()> {
    let Ok(Some(file)) = actlog_core::dayfile::open_day_file(path) else {
        return Ok(());
    };
    let problem = |kind: &'static str, p: &str, detail: String| Problem {
        file: path.to_path_buf(),
        line: None,
        offset: None,
        kind,
        problem: p.to_owned(),
        detail,
        more: 0,
        hint: hint(kind),
    };
    let index = gzmeta::member_index(&file).map_err(|e| Error::io(path, "read", e))?;
    let Some(members) = index else {
        if gzmeta::first_member_indexed(&file) {
            problems.push(problem(
                "member-index-broken",
                "member index broken",
                "the lengths recorded in member headers do not add up to the file".into(),
            ));
        }
        return Ok(());
    };
    let mut wrong = 0u64;
    for (i, m) in members.iter().enumerate() {
        if wrong >= LISTED_PER_FILE {
            break; // a forged index could list millions; enough is said
        }
        // `member_index` drops a summary readers refuse; the raw header still has it.
        let extra =
            gzmeta::member_extra(&file, m.offset).map_err(|e| Error::io(path, "read", e))?;
        let summary = actlog_core::summary::Summary::decode_raw(&extra);
        if m.bounds.is_none() && summary.is_none() {
            continue;
        }
        let at = format!("member {} (at byte {})", i + 1, m.offset);
        // Read through a bounded window: a forged index may claim anything, and a
        // member inflating past the readers' cap is reported by the scan already.
        let window = std::io::BufReader::with_capacity(
            64 * 1024,
            std::io::Read::take(At::new(&file, m.offset), m.len),
        );
        let mut content = Vec::new();
        let read = std::io::Read::read_to_end(
            &mut std::io::Read::take(
                flate2::bufread::GzDecoder::new(window),
                MAX_CHECKED_MEMBER + 1,
            ),
            &mut content,
        );
        if read.is_err() || content.len() as u64 > MAX_CHECKED_MEMBER {
            continue; // reported as gzip damage already
        }
        if let Some(recorded) = m.bounds {
            let actual = actlog_core::gzmeta::time_bounds(&content);
            if actual != Some(recorded) || !content.ends_with(b"\n") {
                let detail = format!(
                    "{at}: header says {}..{} ms, records hold {:?}",
                    recorded.first_ms,
                    recorded.last_ms,
                    actual.map(|b| (b.first_ms, b.last_ms))
                );
                problems.push(problem(
                    "member-time-range",
                    "member time range wrong",
                    detail,
                ));
                wrong += 1;
            }
        }
        let differences = match summary {
            None => continue,
            Some(Err(why)) => vec![format!("summary refused by readers: {why}")],
            Some(Ok(recorded)) => summary_differences(&recorded, &content),
        };
        if !differences.is_empty() {
            problems.push(problem(
                "member-summary",
                "member summary wrong",
                format!("{at}: {}", differences.join("; ")),
            ));
            wrong += 1;
        }
    }
    Ok(())
}

/// The most differences named for one member's summary; the rest are counted.
const NAMED_DIFFERENCES: usize = 5;

/// How a member's recorded summary differs from what its content `data` holds, in
/// words, at most [`NAMED_DIFFERENCES`] of them and a count of the rest: the counts,
/// then each field's values (an exact set must hold every value with its count; a
/// Bloom filter must not say absent of a value that is there).
fn summary_differences(recorded: &actlog_core::summary::Summary, data: &[u8]) -> Vec<String> {
    use actlog_core::summary::{Summary, Values};
    let mut out = Vec::new();
    if !data.ends_with(b"\n") {
        out.push("summary on a member that does not end with a newline (not whole lines)".into());
    }
    let (actual, _) = Summary::of_lines(data);
    for (what, says, holds) in [
        ("lines", recorded.lines, actual.lines),
        ("valid records", recorded.valid, actual.valid),
        ("damaged lines", recorded.damaged, actual.damaged),
    ] {
        if says != holds {
            out.push(format!(
                "summary says {says} {what}, the member holds {holds}"
            ));
        }
    }
    let counts = Summary::count_values(data);
    for (field, values, held) in [
        ("username", &recorded.users, &counts.users),
        ("action", &recorded.actions, &counts.actions),
        ("ip_address", &recorded.ips, &counts.ips),
    ] {
        let mut held: Vec<(&String, &u64)> = held.iter().collect();
        held.sort_unstable();
        match values {
            None => {}
            Some(Values::Exact(set)) => {
                for (v, n) in &held {
                    match set.binary_search_by(|(s, _)| s.as_str().cmp(v)) {
                        Err(_) => out.push(format!("summary lacks {field} {v:?}")),
                        Ok(i) if set[i].1 != **n => out.push(format!(
                            "summary says {field} {v:?} {} times, the member holds {n}",
                            set[i].1
                        )),
                        Ok(_) => {}
                    }
                }
                for (v, n) in set {
                    if held.binary_search_by(|(h, _)| h.as_str().cmp(v)).is_err() {
                        out.push(format!(
                            "summary says {field} {v:?} {n} times, the member holds none"
                        ));
                    }
                }
            }
            Some(bloom @ Values::Bloom(_)) => {
                for (v, _) in &held {
                    if !bloom.may_contain(v) {
                        out.push(format!(
                            "summary lacks {field} {v:?} (its Bloom filter says absent)"
                        ));
                    }
                }
            }
        }
    }
    if out.len() > NAMED_DIFFERENCES {
        let rest = out.len() - NAMED_DIFFERENCES;
        out.truncate(NAMED_DIFFERENCES);
        out.push(format!("and {rest} more differences"));
    }
    out
}

/// The most of one member's content `verify` holds to check its time range: readers
/// refuse a member inflating to more than 64 MiB.
const MAX_CHECKED_MEMBER: u64 = 64 << 20;

/// Reads a file from an offset on, without moving the file's own offset.
struct At<'a> {
    file: &'a std::fs::File,
    pos: u64,
}

impl<'a> At<'a> {
    fn new(file: &'a std::fs::File, pos: u64) -> At<'a> {
        At { file, pos }
    }
}

impl std::io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Every line must be a record, of its file's day, with an id not seen before and a
/// timestamp in the canonical form.
struct Check<'a> {
    problems: &'a mut Vec<Problem>,
    /// The file whose problems are coming in, with how many were listed and how many
    /// were only counted.
    file: Option<FileCount>,
    /// The day being read.
    day: NaiveDate,
    /// Every id read so far.
    seen: HashSet<u128>,
    /// Ids read more than once and listed, with the indices of their problems.
    duplicates: HashMap<u128, Vec<usize>>,
    /// Valid records read.
    records: u64,
}

/// Problems of one file so far.
struct FileCount {
    path: PathBuf,
    listed: u64,
    unlisted: u64,
    /// The first unlisted problem: its kind and place.
    first: Option<(String, Option<u64>, Option<u64>)>,
    /// The place of the last unlisted one.
    last: Option<(Option<u64>, Option<u64>)>,
}

impl Check<'_> {
    /// Whether a problem of `path` would be listed, starting a new count if it is
    /// another file than the last one's.
    fn listing(&mut self, path: &Path) -> bool {
        if self.file.as_ref().is_none_or(|f| f.path != path) {
            self.close_file();
            self.file = Some(FileCount {
                path: path.to_path_buf(),
                listed: 0,
                unlisted: 0,
                first: None,
                last: None,
            });
        }
        self.file
            .as_ref()
            .is_some_and(|f| f.listed < LISTED_PER_FILE)
    }

    /// Lists a problem, or only counts it once its file has listed enough; the index of
    /// a listed one.
    fn push(&mut self, p: Problem) -> Option<usize> {
        if self.listing(&p.file) {
            if let Some(f) = self.file.as_mut() {
                f.listed += 1;
            }
            self.problems.push(p);
            Some(self.problems.len() - 1)
        } else {
            self.count(|| p.problem, p.line, p.offset);
            None
        }
    }

    /// The checks of a valid record's line.
    fn record(&mut self, record: &Record, line: &[u8], loc: Loc<'_>) {
        self.records += 1;
        let problem = |kind: &'static str, p: &str, detail: String| Problem {
            file: loc.path.to_path_buf(),
            line: loc.line,
            offset: Some(loc.offset),
            kind,
            problem: p.to_owned(),
            detail,
            more: 0,
            hint: hint(kind),
        };
        let id = record.id.as_u128();
        if !self.seen.insert(id) {
            let p = problem("duplicate-id", "duplicate id", format!("{}", record.id));
            if let Some(i) = self.push(p) {
                self.duplicates.entry(id).or_default().push(i);
            }
        }
        if record.day() != self.day {
            let detail = format!(
                "stamped {} (day {}), stored in the file of {}",
                format_timestamp(record.timestamp),
                record.day(),
                self.day
            );
            self.push(problem(
                "wrong-day",
                "stored in the file of another day",
                detail,
            ));
        }
        let canonical = format_timestamp(record.timestamp);
        if let Ok(stored) = serde_json::from_slice::<IdStamp<'_>>(line)
            && stored.timestamp != canonical
        {
            let detail = format!("{:?}, canonical {canonical:?}", stored.timestamp);
            self.push(problem(
                "non-canonical-timestamp",
                "timestamp not in canonical form",
                detail,
            ));
        }
    }

    /// Counts an unlisted problem of the current file; `kind` is asked only for the first.
    fn count(&mut self, kind: impl FnOnce() -> String, line: Option<u64>, offset: Option<u64>) {
        let Some(f) = self.file.as_mut() else { return };
        f.unlisted += 1;
        if f.first.is_none() {
            f.first = Some((kind(), line, offset));
        } else {
            f.last = Some((line, offset));
        }
    }

    /// Sums up the current file's unlisted problems, if any.
    fn close_file(&mut self) {
        let Some(f) = self.file.take() else { return };
        let Some((kind, line, offset)) = f.first else {
            return;
        };
        let at = |line: Option<u64>, offset: Option<u64>| match (line, offset) {
            (Some(l), _) => format!("line {l}"),
            (None, Some(o)) => format!("byte {o}"),
            (None, None) => "?".to_owned(),
        };
        let range = match f.last {
            Some((l, o)) => format!("from {} to {}", at(line, offset), at(l, o)),
            None => format!("at {}", at(line, offset)),
        };
        self.problems.push(Problem {
            file: f.path,
            line,
            offset,
            kind: "more-problems",
            hint: hint("more-problems"),
            problem: "more problems".into(),
            detail: format!(
                "{} more not listed (only the first {LISTED_PER_FILE} of a file are), {range}; the first of them: {kind}",
                f.unlisted
            ),
            more: f.unlisted.saturating_sub(1),
        });
    }
}

impl Sink for Check<'_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        match Record::parse_line(line) {
            Ok(record) => self.record(&record, line, loc),
            Err(e) if self.listing(loc.path) => {
                self.push(classify(line, &e, loc).into());
            }
            Err(e) => {
                // Past the cap only the count and place are kept: no detail is built.
                let kind = || classify(line, &e, loc).kind.describe().to_owned();
                self.count(kind, loc.line, Some(loc.offset));
            }
        }
        ControlFlow::Continue(())
    }

    fn damage(&mut self, damage: Damage) {
        self.push(damage.into());
    }
}

/// A plain file's last line without a newline, and a prefix already held by the `.gz`.
fn check_plain(
    dir: &Path,
    day: chrono::NaiveDate,
    has_gz: bool,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let path = dir.join(file_name(day, FileKind::Plain));
    let Ok(Some(file)) = actlog_core::dayfile::open_day_file(&path) else {
        return Ok(());
    };
    let len = file
        .metadata()
        .map_err(|e| Error::io(&path, "stat", e))?
        .len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1)
            .map_err(|e| Error::io(&path, "read", e))?;
        if last[0] != b'\n' {
            problems.push(Problem {
                file: path.clone(),
                line: None,
                offset: Some(len),
                kind: "unterminated-last-line",
                hint: hint("unterminated-last-line"),
                problem: "unterminated last line".into(),
                detail: "torn by a crash, or being written right now".into(),
                more: 0,
            });
        }
    }
    if !has_gz {
        return Ok(());
    }
    let gz_path = dir.join(file_name(day, FileKind::Gzip));
    let Ok(Some(gz)) = actlog_core::dayfile::open_day_file(&gz_path) else {
        return Ok(());
    };
    let Ok(covers) = gzmeta::check_members(&gz) else {
        return Ok(());
    };
    let mut head = vec![0u8; usize::try_from(gzmeta::HEAD_LEN.min(len)).unwrap_or(0)];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io(&path, "read", e))?;
    let covered = gzmeta::covered_prefix(&covers, &head, len);
    if covered > 0 {
        problems.push(Problem {
            file: path,
            line: None,
            offset: None,
            kind: "leftover-in-gz",
            hint: hint("leftover-in-gz"),
            problem: "leftover already in the .gz".into(),
            detail: format!("its first {covered} bytes are held by the .gz (readers skip them; the next maintenance run removes them)"),
            more: 0,
        });
    }
    Ok(())
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
