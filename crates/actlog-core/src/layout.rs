//! The log directory's layout (CONTRACT section 1): which file holds which UTC day, and
//! which files are ours at all.

use crate::error::{Error, Result};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const PREFIX: &str = "activity-";
const PLAIN_SUFFIX: &str = ".json";
const GZ_SUFFIX: &str = ".json.gz";

/// The two forms a day can be stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `activity-YYYY-MM-DD.json`, JSON Lines being appended to.
    Plain,
    /// `activity-YYYY-MM-DD.json.gz`, the day compressed.
    Gzip,
}

/// Which files of one day are present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayFiles {
    /// `activity-D.json` exists.
    pub plain: bool,
    /// `activity-D.json.gz` exists.
    pub gzip: bool,
}

/// The file name holding `day` in the given form.
pub fn file_name(day: NaiveDate, kind: FileKind) -> String {
    let suffix = match kind {
        FileKind::Plain => PLAIN_SUFFIX,
        FileKind::Gzip => GZ_SUFFIX,
    };
    format!("{PREFIX}{}{suffix}", day.format("%Y-%m-%d"))
}

/// The day and form a file name stands for, or `None` if the file is not ours.
///
/// Only the exact pattern counts: `activity-2026-1-5.json`, `activity-2026-02-30.json`
/// or `activity-2026-11-24.json.bak` are someone else's files.
pub fn parse_file_name(name: &str) -> Option<(NaiveDate, FileKind)> {
    let rest = name.strip_prefix(PREFIX)?;
    let (date, kind) = if let Some(d) = rest.strip_suffix(GZ_SUFFIX) {
        (d, FileKind::Gzip)
    } else {
        (rest.strip_suffix(PLAIN_SUFFIX)?, FileKind::Plain)
    };
    let b = date.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some((day, kind))
}

/// Entries named like day files that are not regular files (symbolic links, FIFOs,
/// directories…), with what each is. Nothing in the store ever follows or deletes them.
pub fn list_strangers(dir: &Path) -> Result<Vec<(String, &'static str)>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| parse_file_name(n).is_some()) else {
            continue;
        };
        let kind = match entry.file_type() {
            Ok(kind) => kind,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(entry.path(), "stat", e)),
        };
        let what = if kind.is_file() {
            continue;
        } else if kind.is_symlink() {
            "a symbolic link"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        out.push((name.to_owned(), what));
    }
    out.sort();
    Ok(out)
}

/// Day files with more than one hard link, with their link count. Readers read them (the
/// records are ours) but name them, since writers and maintenance refuse such a file: a
/// hard-link backup (`cp -al`) shares its inode, so an append or a compression there
/// would change the backup too.
pub fn list_hard_linked(dir: &Path) -> Result<Vec<(String, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for (day, files) in list_days(dir)? {
        for (kind, present) in [(FileKind::Plain, files.plain), (FileKind::Gzip, files.gzip)] {
            let name = file_name(day, kind);
            let links = match fs::symlink_metadata(dir.join(&name)) {
                Ok(m) if present && m.is_file() => m.nlink(),
                _ => continue,
            };
            if links > 1 {
                out.push((name, links));
            }
        }
    }
    Ok(out)
}

/// Every day with at least one file in `dir`, oldest first.
///
/// Names not matching the day pattern, names starting with `.`, and entries that are not
/// regular files (directories, symlinks, FIFOs) are ignored: they are not ours.
///
/// The directory is read twice and the days of both readings kept. POSIX leaves open
/// whether a reading sees a name added or removed while it runs, so one reading can miss
/// a day whose `.gz` maintenance renamed into place behind it and whose plain file it
/// then unlinked ahead of it. Only a day's first compression makes its only name change
/// (later folds rename over an existing `.gz`), and a reading that misses a day saw that
/// whole change happen within itself, so the second reading, started after, sees it.
pub fn list_days(dir: &Path) -> Result<BTreeMap<NaiveDate, DayFiles>> {
    let mut days = BTreeMap::<NaiveDate, DayFiles>::new();
    read_days(dir, &mut days)?;
    read_days(dir, &mut days)?;
    Ok(days)
}

/// One reading of the directory for [`list_days`], added to `days`.
fn read_days(dir: &Path, days: &mut BTreeMap<NaiveDate, DayFiles>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name();
        let Some((day, kind)) = name.to_str().and_then(parse_file_name) else {
            continue;
        };
        // `file_type` does not follow symlinks. Where the directory entry does not say,
        // it is an `lstat`, and a name unlinked since was simply not there.
        match entry.file_type() {
            Ok(t) if t.is_file() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(entry.path(), "stat", e)),
        }
        let files = days.entry(day).or_default();
        match kind {
            FileKind::Plain => files.plain = true,
            FileKind::Gzip => files.gzip = true,
        }
    }
    Ok(())
}
