//! `actlog verify`: reads every file of the log directory and lists each problem with
//! its file and line: damaged lines, damaged gzip, unterminated last lines, plain files
//! already held by their `.gz`, stale temporary files, symlinks and wrong modes.

use crate::query::classify;
use crate::scan::{Damage, Loc, Sink, scan_day};
use actlog_core::dayfile::FILE_MODE;
use actlog_core::error::{Error, Result};
use actlog_core::gzmeta;
use actlog_core::layout::{FileKind, file_name, list_days, parse_file_name};
use actlog_core::record::Record;
use serde::Serialize;
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
    /// What kind of problem, in a few words.
    pub problem: String,
    /// Details.
    pub detail: String,
    /// How many problems this one stands for beyond itself: the count a "more problems"
    /// summary holds (0 for every other problem).
    #[serde(skip_serializing_if = "is_zero")]
    pub more: u64,
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
        Problem {
            file: d.path,
            line: d.line,
            offset: Some(d.offset),
            problem: d.kind.describe().to_owned(),
            detail: d.detail,
            more: 0,
        }
    }
}

/// Problems listed one by one per file; past this many, the rest of that file's are
/// counted and summed up in one closing problem, so memory and output stay bounded
/// however many bad lines a file holds.
pub const LISTED_PER_FILE: u64 = 1000;

/// Every problem in `dir`, files in name order; at most [`LISTED_PER_FILE`] of one
/// file's lines and members, then one problem that counts the rest.
pub fn verify(dir: &Path) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "list directory", e))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    names.sort();
    for name in &names {
        let path = dir.join(name);
        let problem = |p: &str, detail: String| Problem {
            file: path.clone(),
            line: None,
            offset: None,
            problem: p.to_owned(),
            detail,
            more: 0,
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
                        "stale temporary file",
                        "left by a maintenance run that stopped; the next run removes it".into(),
                    )
                } else {
                    problem(
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
                "symbolic link",
                "a day file must be a regular file; actlog never follows it".into(),
            ));
        } else if !meta.is_file() {
            problems.push(problem("not a regular file", String::new()));
        } else if meta.len() == 0 && name.ends_with(".gz") {
            // Gzip has no empty form; readers would read nothing from it, and
            // maintenance will not fold into it.
            problems.push(problem(
                "empty gzip file",
                "0 bytes, not a gzip file; maintenance leaves this day alone until it is moved away".into(),
            ));
        } else if meta.permissions().mode() & 0o777 != FILE_MODE {
            problems.push(problem(
                "wrong mode",
                format!(
                    "{:04o}, expected {FILE_MODE:04o}",
                    meta.permissions().mode() & 0o777
                ),
            ));
        }
    }
    let mut sink = Check {
        problems: &mut problems,
        file: None,
    };
    for (day, files) in list_days(dir)? {
        let _ = scan_day(dir, day, false, &mut sink)?;
        sink.close_file();
        if files.plain {
            check_plain(dir, day, files.gzip, sink.problems)?;
        }
        if files.gzip {
            check_index(&dir.join(file_name(day, FileKind::Gzip)), sink.problems)?;
        }
    }
    Ok(problems)
}

/// Members that record their length must tile the file, and their recorded time range
/// must be their records' (readers skip members by it).
fn check_index(path: &Path, problems: &mut Vec<Problem>) -> Result<()> {
    let Ok(Some(file)) = actlog_core::dayfile::open_day_file(path) else {
        return Ok(());
    };
    let problem = |p: &str, detail: String| Problem {
        file: path.to_path_buf(),
        line: None,
        offset: None,
        problem: p.to_owned(),
        detail,
        more: 0,
    };
    let index = gzmeta::member_index(&file).map_err(|e| Error::io(path, "read", e))?;
    let Some(members) = index else {
        if gzmeta::first_member_indexed(&file) {
            problems.push(problem(
                "member index broken",
                "the lengths recorded in member headers do not add up to the file".into(),
            ));
        }
        return Ok(());
    };
    let mut wrong = 0u64;
    for (i, m) in members.iter().enumerate() {
        let Some(recorded) = m.bounds else { continue };
        if wrong >= LISTED_PER_FILE {
            break; // a forged index could list millions; enough is said
        }
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
        let actual = actlog_core::gzmeta::time_bounds(&content);
        if actual != Some(recorded) || !content.ends_with(b"\n") {
            let detail = format!(
                "member {} (at byte {}): header says {}..{} ms, records hold {:?}",
                i + 1,
                m.offset,
                recorded.first_ms,
                recorded.last_ms,
                actual.map(|b| (b.first_ms, b.last_ms))
            );
            problems.push(problem("member time range wrong", detail));
            wrong += 1;
        }
    }
    Ok(())
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

/// Every line must be a record.
struct Check<'a> {
    problems: &'a mut Vec<Problem>,
    /// The file whose problems are coming in, with how many were listed and how many
    /// were only counted.
    file: Option<FileCount>,
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

    /// Lists a problem, or only counts it once its file has listed enough.
    fn push(&mut self, p: Problem) {
        if self.listing(&p.file) {
            if let Some(f) = self.file.as_mut() {
                f.listed += 1;
            }
            self.problems.push(p);
        } else {
            self.count(|| p.problem, p.line, p.offset);
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
        if let Err(e) = Record::parse_line(line) {
            if self.listing(loc.path) {
                self.push(classify(line, &e, loc).into());
            } else {
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
