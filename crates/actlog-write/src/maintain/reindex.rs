//! Rewriting a finished day's `.gz` whose members lack summaries (written by an older
//! actlog, by plain `gzip`, by `cat a.gz b.gz`) into members of whole lines with their
//! time range and summary, as compression writes them: `maintain --reindex`.
//!
//! Only a day without a plain file is reindexed. Its coverage markers then describe
//! plain files that are gone (compression removed them; a new plain file starts with a
//! record of a new id, so no old marker matches it), and no writer or reader depends on
//! where members begin. A day whose plain file still exists is compressed first (the
//! run compresses before it reindexes) or, within the grace days, left for a later run.
//! Markers are still carried over where they were: every old member end that carries
//! one stays a member end, carrying it, so the marker list readers see is the same.
//!
//! Safety is compression's: the run holds the maintenance lock (the only other writer
//! of a `.gz` is maintenance, which takes it too; appends touch only the plain file), the
//! new file is written to the day's temporary name, fsynced, checked to inflate to the
//! very bytes of the old one (CRC-32 and length), renamed over it and the directory
//! fsynced. A crash leaves the old file or the new one, and a temporary file the next
//! run removes. A damaged `.gz` is refused, never rewritten.

use super::compress::{PIECE_BYTES, open_day_gz};
use super::{Action, MEMBER_BYTES, Policy, Report, remove, temp_name};
use actlog_core::dayfile::{create_or_open, sync_dir};
use actlog_core::error::{Error, Result};
use actlog_core::gzmeta::{self, Covers};
use actlog_core::layout::{FileKind, file_name};
use actlog_core::progress::Progress;
use actlog_core::record::MAX_LINE_LIMIT;
use chrono::NaiveDate;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;

/// Inflated bytes between two progress reports.
const TICK_BYTES: u64 = 64 << 20;

/// Reindexes `day`'s `.gz` if some member lacks a summary it could have; `compressing`:
/// this run compresses the day first.
pub(super) fn reindex_day(
    dir: &Path,
    day: NaiveDate,
    policy: &Policy,
    report: &mut Report,
    progress: &dyn Progress,
    compressing: bool,
) -> Result<()> {
    let gz_path = dir.join(file_name(day, FileKind::Gzip));
    let Some(gz) = open_day_gz(&gz_path)? else {
        return Ok(());
    };
    let Some(lacking) = needs_reindex(&gz).map_err(|e| Error::io(&gz_path, "read", e))? else {
        return Ok(());
    };
    let plain_path = dir.join(file_name(day, FileKind::Plain));
    // A dry run has not compressed the day it says it would: it would be reindexed next.
    if std::fs::symlink_metadata(&plain_path).is_ok() && !(policy.dry_run && compressing) {
        report.actions.push(Action::Warned {
            day,
            message: "members without summaries not reindexed while the day has a plain file; a run after it is compressed reindexes them".into(),
        });
        return Ok(());
    }
    if let Err(why) = gzmeta::check_members(&gz) {
        report.actions.push(Action::NotReindexed {
            day,
            reason: format!(
                "{}: {why}; left as it is (actlog verify lists its damage)",
                gz_path.display()
            ),
        });
        return Ok(());
    }
    if policy.dry_run {
        report.actions.push(Action::Reindexed {
            day,
            lacking,
            plain_bytes: 0,
            members: 0,
        });
        return Ok(());
    }
    progress.working(&format!("reindexing {day}"));
    let temp_path = dir.join(temp_name(day));
    remove(&temp_path)?;
    let temp = create_or_open(&temp_path, true)?;
    let written = {
        let mut out = io::BufWriter::new(&temp);
        let outcome = rewrite(&gz, &gz_path, &mut out, day, progress)?;
        out.flush().map_err(|e| Error::io(&temp_path, "write", e))?;
        outcome
    };
    let (old, members) = match written {
        Ok(done) => done,
        Err(why) => {
            remove(&temp_path)?;
            report.actions.push(Action::NotReindexed {
                day,
                reason: format!("{}: {why}; left as it is", gz_path.display()),
            });
            return Ok(());
        }
    };
    temp.sync_all()
        .map_err(|e| Error::io(&temp_path, "fsync", e))?;
    // What is renamed into place is what was read back from the disk, not what was meant
    // to be written.
    let new = inflated(&temp).map_err(|e| Error::io(&temp_path, "read back", e))?;
    let indexed = gzmeta::member_index(&temp)
        .map_err(|e| Error::io(&temp_path, "read back", e))?
        .is_some();
    if new != old || !indexed {
        remove(&temp_path)?;
        report.actions.push(Action::NotReindexed {
            day,
            reason: format!(
                "{}: the rewritten file would not inflate to the same bytes ({} bytes, CRC-32 {:08x}, against {} bytes, {:08x}); left as it is",
                gz_path.display(),
                new.1,
                new.0,
                old.1,
                old.0
            ),
        });
        return Ok(());
    }
    std::fs::rename(&temp_path, &gz_path).map_err(|e| Error::io(&gz_path, "rename", e))?;
    sync_dir(dir)?;
    report.actions.push(Action::Reindexed {
        day,
        lacking,
        plain_bytes: old.1,
        members,
    });
    Ok(())
}

/// Whether a `.gz` has a member without a summary that could have one (whole lines,
/// none over the readers' limit, starting where a line starts): `Some(None)` when the
/// file has no member index at all, `Some(Some(n))` for `n` such members, `None` when
/// there is nothing to do. Only members without a summary are inflated.
///
/// What reindexing writes without a summary (pieces of an over-long line, an
/// unterminated last line, the part of a line cut by a coverage marker) is never such a
/// member, so a second run finds nothing to do.
fn needs_reindex(file: &File) -> io::Result<Option<Option<u64>>> {
    let Some(members) = gzmeta::member_index(file)? else {
        return Ok(Some(None));
    };
    let mut lacking = 0;
    // Members with a summary hold whole lines, so the next one starts a line.
    let mut at_line_start = true;
    for m in &members {
        if m.summary.is_some() {
            at_line_start = true;
            continue;
        }
        let window = io::BufReader::new(Read::take(
            At {
                file,
                pos: m.offset,
            },
            m.len,
        ));
        let mut member = flate2::bufread::GzDecoder::new(window);
        let mut buf = vec![0u8; 256 * 1024];
        let (mut line, mut longest, mut last) = (0usize, 0usize, None);
        loop {
            let n = match member.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Damage: the reindexing is refused with the reason, by the full check.
                Err(_) => return Ok(Some(Some(lacking + 1))),
            };
            for &b in &buf[..n] {
                if b == b'\n' {
                    longest = longest.max(line);
                    line = 0;
                } else {
                    line += 1;
                }
            }
            last = buf[..n].last().copied();
        }
        let ends_line = last == Some(b'\n');
        if at_line_start && ends_line && longest <= MAX_LINE_LIMIT {
            lacking += 1;
        }
        at_line_start = match last {
            Some(b) => b == b'\n',
            None => at_line_start,
        };
    }
    Ok((lacking > 0).then_some(Some(lacking)))
}

/// CRC-32 and length of a file's content, every gzip member inflated.
type Content = (u32, u64);

/// Inflates every member of `gz` and writes its lines anew into `out`; returns what the
/// old file inflates to and how many members were written, or `Err(why)` inside when a
/// member is damaged (after the full check, only a file changed under the run).
fn rewrite(
    gz: &File,
    path: &Path,
    out: &mut impl Write,
    day: NaiveDate,
    progress: &dyn Progress,
) -> Result<std::result::Result<(Content, u64), String>> {
    let mut input = io::BufReader::with_capacity(256 * 1024, At { file: gz, pos: 0 });
    let mut cut = Cutter {
        out,
        path,
        buf: Vec::with_capacity(MEMBER_BYTES + 256 * 1024),
        mid_line: false,
        ready: None,
        members: 0,
    };
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut chunk = vec![0u8; 256 * 1024];
    let mut member = 0;
    loop {
        match input.fill_buf() {
            Ok([]) => break,
            Ok(_) => {}
            Err(e) => return Err(Error::io(path, "read", e)),
        }
        let mut d = flate2::bufread::GzDecoder::new(input);
        loop {
            let n = match d.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Ok(Err(format!(
                        "a damaged gzip member (member {}): {e}",
                        member + 1
                    )));
                }
            };
            crc.update(&chunk[..n]);
            if (len + n as u64) / TICK_BYTES != len / TICK_BYTES {
                progress.working(&format!("reindexing {day}: {} MiB", (len + n as u64) >> 20));
            }
            len += n as u64;
            cut.feed(&chunk[..n])?;
        }
        let covers = d
            .header()
            .and_then(|h| h.extra())
            .and_then(gzmeta::decode_extra);
        if let Some(c) = covers {
            cut.boundary(c)?;
        }
        input = d.into_inner();
        member += 1;
    }
    let members = cut.finish()?;
    Ok(Ok(((crc.finalize(), len), members)))
}

/// The CRC-32 and length of what `file` inflates to.
fn inflated(file: &File) -> io::Result<Content> {
    let mut d = flate2::read::MultiGzDecoder::new(io::BufReader::new(At { file, pos: 0 }));
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        match d.read(&mut chunk) {
            Ok(0) => return Ok((crc.finalize(), len)),
            Ok(n) => {
                crc.update(&chunk[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What a held-back member is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Whole lines: written with time range and summary.
    Lines,
    /// Part of a line (or an unterminated last line): written without either.
    Piece,
}

/// Cuts a day's content, fed in order, into members: whole lines of about
/// [`MEMBER_BYTES`], an over-long line in pieces of [`PIECE_BYTES`] as compression cuts
/// it, and a member end wherever an old member with a coverage marker ended.
struct Cutter<'a, W: Write> {
    out: &'a mut W,
    path: &'a Path,
    /// Content not yet cut; starts a line unless `mid_line`.
    buf: Vec<u8>,
    /// The line open at `buf`'s start was partly written already.
    mid_line: bool,
    /// The last member cut, held back so a marker coming next can be put on it.
    ready: Option<(Vec<u8>, Kind)>,
    members: u64,
}

impl<W: Write> Cutter<'_, W> {
    fn feed(&mut self, data: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(data);
        loop {
            if self.mid_line {
                if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                    self.take(i + 1, Kind::Piece)?;
                    self.mid_line = false;
                } else if self.buf.len() >= PIECE_BYTES {
                    self.take(PIECE_BYTES, Kind::Piece)?;
                } else {
                    return Ok(());
                }
                continue;
            }
            let whole = memchr::memrchr(b'\n', &self.buf).map_or(0, |i| i + 1);
            if self.buf.len() - whole > MAX_LINE_LIMIT {
                if whole > 0 {
                    self.take(whole, Kind::Lines)?;
                }
                self.take(PIECE_BYTES, Kind::Piece)?;
                self.mid_line = true;
            } else if whole >= MEMBER_BYTES {
                self.take(whole, Kind::Lines)?;
            } else {
                return Ok(());
            }
        }
    }

    /// Cuts `buf[..n]` off as the next member, held back.
    fn take(&mut self, n: usize, kind: Kind) -> Result<()> {
        self.write_ready(None)?;
        let data: Vec<u8> = self.buf.drain(..n).collect();
        self.ready = Some((data, kind));
        Ok(())
    }

    /// An old member carrying `covers` ended here: what is pending ends a member too,
    /// and carries it.
    fn boundary(&mut self, covers: Covers) -> Result<()> {
        if !self.buf.is_empty() {
            if self.mid_line {
                let n = self.buf.len();
                self.take(n, Kind::Piece)?;
            } else {
                let whole = memchr::memrchr(b'\n', &self.buf).map_or(0, |i| i + 1);
                if whole > 0 {
                    self.take(whole, Kind::Lines)?;
                }
                if !self.buf.is_empty() {
                    let n = self.buf.len();
                    self.take(n, Kind::Piece)?;
                    self.mid_line = true;
                }
            }
        }
        if self.ready.is_none() {
            // An old member of no content with a marker: kept as one.
            self.ready = Some((Vec::new(), Kind::Piece));
        }
        self.write_ready(Some(&covers))
    }

    fn write_ready(&mut self, covers: Option<&Covers>) -> Result<()> {
        let Some((data, kind)) = self.ready.take() else {
            return Ok(());
        };
        let level = flate2::Compression::default();
        let member = match kind {
            Kind::Lines => gzmeta::encode_lines(&data, level, covers),
            Kind::Piece => gzmeta::encode_member(&data, level, covers, None),
        }
        .map_err(|e| Error::io(self.path, "compress", e))?;
        self.out
            .write_all(&member)
            .map_err(|e| Error::io(self.path, "write", e))?;
        self.members += 1;
        Ok(())
    }

    /// Writes what is left; returns how many members were written.
    fn finish(mut self) -> Result<u64> {
        if !self.buf.is_empty() {
            if self.mid_line {
                let n = self.buf.len();
                self.take(n, Kind::Piece)?;
            } else {
                let whole = memchr::memrchr(b'\n', &self.buf).map_or(0, |i| i + 1);
                if whole > 0 {
                    self.take(whole, Kind::Lines)?;
                }
                if !self.buf.is_empty() {
                    // The unterminated last line stays unterminated: the content must
                    // not change by a byte.
                    let n = self.buf.len();
                    self.take(n, Kind::Piece)?;
                }
            }
        }
        self.write_ready(None)?;
        Ok(self.members)
    }
}

/// Reads a file from an offset on, without moving the file's own offset.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
