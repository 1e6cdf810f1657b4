//! Folding a finished day's plain file into its `.gz`, in indexed members.

use super::{Action, MEMBER_BYTES, Policy, Report, remove, temp_name};
use actlog_core::dayfile::{create_or_open, lock_existing, open_error, sync_dir};
use actlog_core::error::{Error, Result};
use actlog_core::gzmeta::{self, Covers};
use actlog_core::layout::{FileKind, file_name};
use chrono::NaiveDate;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Plain bytes per gzip member of a line over [`actlog_core::record::MAX_LINE_LIMIT`]: such a line
/// (only a foreign writer makes one) is cut into members of its own, so no member
/// inflates past the readers' cap and its neighbours stay readable.
pub(super) const PIECE_BYTES: usize = 1 << 20;
/// Plain bytes read from a day file at a time.
const CHUNK: usize = 256 * 1024;

/// Folds a finished day's plain file into its `.gz` under the plain file's lock, as
/// CONTRACT section 5 orders: a new `.gz` (old members, then the new ones) is written
/// aside, synced and renamed over the old one, and only then is the plain file removed.
pub(super) fn compress_day(
    dir: &Path,
    day: NaiveDate,
    policy: &Policy,
    report: &mut Report,
) -> Result<()> {
    let plain_path = dir.join(file_name(day, FileKind::Plain));
    let gz_path = dir.join(file_name(day, FileKind::Gzip));
    if policy.dry_run {
        let len = std::fs::symlink_metadata(&plain_path)
            .map(|m| m.len())
            .unwrap_or(0);
        report.actions.push(Action::Compressed {
            day,
            plain_bytes: len,
            gz_bytes: 0,
        });
        return Ok(());
    }
    let Some(plain) = lock_existing(&plain_path, false)? else {
        return Ok(());
    };
    let (len, head) = gzmeta::read_head(&plain, &plain_path)?;
    // The existing .gz must be whole, or folding more into it would bury good records
    // behind damage; it is kept as it is and reported.
    let old_gz = match whole_gz(&gz_path)? {
        Ok(old) => old,
        Err(why) => {
            report.actions.push(Action::Refused {
                day,
                reason: format!(
                    "{}: {why}; left as it is (actlog verify lists its damage)",
                    gz_path.display()
                ),
            });
            return Ok(());
        }
    };
    let covered = old_gz
        .as_ref()
        .map_or(0, |(_, covers)| gzmeta::covered_prefix(covers, &head, len));
    if covered == len {
        // Everything is in the .gz already (a run crashed before removing the plain file).
        remove(&plain_path)?;
        sync_dir(dir)?;
        report.actions.push(Action::RemovedLeftover { day });
        return Ok(());
    }
    let folding = Folding {
        plain: &plain,
        path: &plain_path,
        from: covered,
        len,
        head_crc32: crc32fast::hash(&head),
        head_len: head.len() as u64,
    };
    let added = replace_gz(dir, day, old_gz.as_ref().map(|(f, _)| f), &folding)?;
    // Writers waiting for the lock see the plain file unlinked and start a new one.
    remove(&plain_path)?;
    sync_dir(dir)?;
    drop(plain);
    report.actions.push(Action::Compressed {
        day,
        plain_bytes: len - covered,
        gz_bytes: added,
    });
    Ok(())
}

/// A day's `.gz`, open, and the coverage markers of its members.
type OldGz = (File, Vec<Covers>);

/// The day's `.gz` and its members' coverage, if it exists; `Err(why)` inside when it
/// is damaged.
fn whole_gz(path: &Path) -> Result<std::result::Result<Option<OldGz>, String>> {
    Ok(match open_day_gz(path)? {
        Some(f) => gzmeta::check_members(&f).map(|covers| Some((f, covers))),
        None => Ok(None),
    })
}

/// Writes the day's new `.gz` aside (the old one's members, then `folding`'s), syncs it
/// and renames it into place; returns the compressed bytes added.
fn replace_gz(
    dir: &Path,
    day: NaiveDate,
    old: Option<&File>,
    folding: &Folding<'_>,
) -> Result<u64> {
    let gz_path = dir.join(file_name(day, FileKind::Gzip));
    let temp_path = dir.join(temp_name(day));
    remove(&temp_path)?;
    let temp = create_or_open(&temp_path, true)?;
    let mut out = io::BufWriter::new(&temp);
    if let Some(f) = old {
        // The old members first, from the start (checking them moved the file offset).
        let mut old = io::BufReader::new(f);
        old.seek(io::SeekFrom::Start(0))
            .map_err(|e| Error::io(&gz_path, "seek", e))?;
        io::copy(&mut old, &mut out).map_err(|e| Error::io(&gz_path, "copy", e))?;
    }
    let added = fold(folding, &mut out)?;
    out.flush().map_err(|e| Error::io(&temp_path, "write", e))?;
    drop(out);
    temp.sync_all()
        .map_err(|e| Error::io(&temp_path, "fsync", e))?;
    std::fs::rename(&temp_path, &gz_path).map_err(|e| Error::io(&gz_path, "rename", e))?;
    sync_dir(dir)?;
    Ok(added)
}

/// What is folded: `plain[from..len]`, and what its members' coverage markers record.
struct Folding<'a> {
    plain: &'a File,
    path: &'a Path,
    from: u64,
    len: u64,
    head_crc32: u32,
    head_len: u64,
}

/// Compresses `plain[from..len]` into members of about [`MEMBER_BYTES`] of whole lines;
/// returns the compressed bytes written. A torn last line is ended with a newline so it
/// stays one bad line and never joins the next member's first record.
///
/// A line over [`actlog_core::record::MAX_LINE_LIMIT`] (which readers skip unread) is never held whole
/// nor packed with other lines: it goes into members of its own of at most
/// [`PIECE_BYTES`], so every member inflates well under the readers' per-member cap and
/// the lines around it stay readable. Such members hold part of a line and carry no
/// time range, so readers read that day's `.gz` as one stream.
fn fold(folding: &Folding<'_>, out: &mut impl Write) -> Result<u64> {
    let &Folding {
        plain,
        path,
        from,
        len,
        head_crc32,
        head_len,
    } = folding;
    let mut sink = MemberSink {
        plain,
        path,
        len,
        head_crc32,
        head_len,
        out,
        written: 0,
    };
    // `buf` holds the file's bytes from `buf_from` (a line start) on; `buf[..whole]`
    // are whole lines.
    let mut buf: Vec<u8> = Vec::with_capacity(MEMBER_BYTES + CHUNK);
    let mut buf_from = from;
    let mut whole = 0usize;
    let mut read_to = from;
    loop {
        if whole >= MEMBER_BYTES {
            sink.lines(&buf[..whole], buf_from)?;
            buf.drain(..whole);
            buf_from += whole as u64;
            whole = 0;
        }
        if read_to >= len {
            break;
        }
        let want = usize::try_from(len - read_to).map_or(CHUNK, |n| n.min(CHUNK));
        let old = buf.len();
        buf.resize(old + want, 0);
        plain
            .read_exact_at(&mut buf[old..], read_to)
            .map_err(|e| Error::io(path, "read", e))?;
        read_to += want as u64;
        // Only the line that was open before this chunk can be long: a chunk is shorter
        // than the limit.
        let first_newline = memchr::memchr(b'\n', &buf[old..]).map(|i| old + i);
        if first_newline.unwrap_or(buf.len()) - whole > actlog_core::record::MAX_LINE_LIMIT {
            if whole > 0 {
                sink.lines(&buf[..whole], buf_from)?;
            }
            let end = sink.long_line(buf_from + whole as u64)?;
            buf.clear();
            buf_from = end;
            whole = 0;
            read_to = end;
            continue;
        }
        if first_newline.is_some() {
            whole = memchr::memrchr(b'\n', &buf[old..]).map_or(whole, |i| old + i + 1);
        }
    }
    if !buf.is_empty() {
        sink.lines(&buf, buf_from)?;
    }
    Ok(sink.written)
}

/// Where [`fold`] writes its members, and what each member's markers need.
struct MemberSink<'a, W: Write> {
    plain: &'a File,
    path: &'a Path,
    len: u64,
    head_crc32: u32,
    head_len: u64,
    out: &'a mut W,
    written: u64,
}

impl<W: Write> MemberSink<'_, W> {
    /// Writes one member of `data`, plain bytes from `at`; `covers_from` is the first
    /// plain byte its marker claims (the start of a long line for its last piece), `None`
    /// for a piece that ends inside a line (no marker: the plain bytes it holds are
    /// counted held only once the line's last piece is written). A time range is given
    /// only for whole lines.
    fn member(
        &mut self,
        data: &[u8],
        at: u64,
        covers_from: Option<u64>,
        whole: bool,
    ) -> Result<()> {
        let to = at + data.len() as u64;
        // Only the file's torn last line lacks its newline; it is ended so that it stays
        // one bad line.
        let ended;
        let data = if to == self.len && !data.ends_with(b"\n") {
            ended = [data, b"\n"].concat();
            &ended[..]
        } else {
            data
        };
        let covers = covers_from.map(|from| Covers {
            head_crc32: self.head_crc32,
            head_len: self.head_len,
            from,
            to,
        });
        let level = flate2::Compression::default();
        // Whole lines carry their time range and summary; a piece of a long line neither.
        let member = if whole {
            gzmeta::encode_lines(data, level, covers.as_ref())
        } else {
            gzmeta::encode_member(data, level, covers.as_ref(), None)
        }
        .map_err(|e| Error::io(self.path, "compress", e))?;
        self.out
            .write_all(&member)
            .map_err(|e| Error::io(self.path, "write", e))?;
        self.written += member.len() as u64;
        Ok(())
    }

    /// Whole lines (or the file's torn last line), from plain byte `at`.
    fn lines(&mut self, data: &[u8], at: u64) -> Result<()> {
        self.member(data, at, Some(at), true)
    }

    /// The line starting at `start`, longer than the readers' limit, streamed into
    /// members of its own; returns the plain offset just past it.
    fn long_line(&mut self, start: u64) -> Result<u64> {
        let mut piece = vec![0u8; PIECE_BYTES];
        let mut pos = start;
        while pos < self.len {
            let want = usize::try_from(self.len - pos).map_or(PIECE_BYTES, |n| n.min(PIECE_BYTES));
            self.plain
                .read_exact_at(&mut piece[..want], pos)
                .map_err(|e| Error::io(self.path, "read", e))?;
            let (n, last) = match memchr::memchr(b'\n', &piece[..want]) {
                Some(i) => (i + 1, true),
                None => (want, pos + want as u64 == self.len),
            };
            self.member(&piece[..n], pos, last.then_some(start), false)?;
            pos += n as u64;
            if last {
                break;
            }
        }
        Ok(pos)
    }
}

/// The day's `.gz`, open without following a link; `None` when there is none.
pub(super) fn open_day_gz(path: &Path) -> Result<Option<File>> {
    match actlog_core::dayfile::open_day_file(path) {
        Ok(Some(f)) => {
            let meta = f.metadata().map_err(|e| Error::io(path, "stat", e))?;
            if !meta.is_file() {
                return Err(Error::NotRegular { path: path.into() });
            }
            Ok(Some(f))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(open_error(path, e)),
    }
}
