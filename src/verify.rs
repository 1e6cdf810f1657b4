//! `actlog verify`: reads every file of the log directory and lists each problem with
//! its file and line: damaged lines, damaged gzip, unterminated last lines, plain files
//! already held by their `.gz`, stale temporary files, symlinks and wrong modes.

use crate::dayfile::FILE_MODE;
use crate::error::{Error, Result};
use crate::gzmeta;
use crate::layout::{FileKind, file_name, list_days, parse_file_name};
use crate::query::classify;
use crate::record::Record;
use crate::scan::{Damage, Loc, Sink, scan_day};
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
        }
    }
}

/// Every problem in `dir`, files in name order.
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
        };
        if name.starts_with('.') {
            let temp = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".tmp"))
                .and_then(parse_file_name)
                .is_some();
            if temp {
                problems.push(problem(
                    "stale temporary file",
                    "left by a maintenance run that stopped; the next run removes it".into(),
                ));
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
    };
    for (day, files) in list_days(dir)? {
        let _ = scan_day(dir, day, false, &mut sink)?;
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
    let Ok(Some(file)) = crate::scan::open_day_file(path) else {
        return Ok(());
    };
    let problem = |p: &str, detail: String| Problem {
        file: path.to_path_buf(),
        line: None,
        offset: None,
        problem: p.to_owned(),
        detail,
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
    for (i, m) in members.iter().enumerate() {
        let Some(recorded) = m.bounds else { continue };
        let mut compressed = vec![0u8; usize::try_from(m.len).unwrap_or(0)];
        file.read_exact_at(&mut compressed, m.offset)
            .map_err(|e| Error::io(path, "read", e))?;
        let mut content = Vec::new();
        if std::io::Read::read_to_end(
            &mut flate2::bufread::GzDecoder::new(&compressed[..]),
            &mut content,
        )
        .is_err()
        {
            continue; // reported as gzip damage already
        }
        let actual = crate::maintain::time_bounds(&content);
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
        }
    }
    Ok(())
}

/// Every line must be a record.
struct Check<'a> {
    problems: &'a mut Vec<Problem>,
}

impl Sink for Check<'_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        if let Err(e) = Record::parse_line(line) {
            self.problems.push(classify(line, &e, loc).into());
        }
        ControlFlow::Continue(())
    }

    fn damage(&mut self, damage: Damage) {
        self.problems.push(damage.into());
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
    let Ok(Some(file)) = crate::scan::open_day_file(&path) else {
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
            });
        }
    }
    if !has_gz {
        return Ok(());
    }
    let gz_path = dir.join(file_name(day, FileKind::Gzip));
    let Ok(Some(gz)) = crate::scan::open_day_file(&gz_path) else {
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
        });
    }
    Ok(())
}
