//! Reading a day's files line by line, forwards or backwards, with bounded memory:
//! the `.gz` (every gzip member) then the plain file, skipping the part of the plain file
//! that a member says it already holds, and reporting damage instead of stopping.

use actlog_core::error::{Error, Result};
use actlog_core::gzmeta::{self, Covers};
use actlog_core::layout::{FileKind, file_name};
use actlog_core::summary::Summary;
use chrono::{DateTime, NaiveDate, Utc};
use memchr::{memchr, memrchr};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

mod lines;

pub(crate) use lines::{Lines, line_piece};

/// Lines longer than this are skipped (and reported) without being held in memory: the
/// writers' own ceiling, so every line a writer may accept is read.
pub const MAX_LINE: usize = actlog_core::record::MAX_LINE_LIMIT;
const CHUNK: usize = 256 * 1024;

/// What is wrong with a line or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DamageKind {
    /// A line cut short (by a crash, or a truncated file).
    TornLine,
    /// Not JSON.
    InvalidJson,
    /// Not UTF-8.
    InvalidUtf8,
    /// Holds NUL bytes (a file system's zero-filled hole after a crash).
    NulBytes,
    /// JSON, but not a valid record.
    InvalidRecord,
    /// Longer than [`MAX_LINE`]; skipped unread.
    LineTooLong,
    /// A gzip member cut short.
    TruncatedGzip,
    /// A gzip member whose data or checksum is wrong.
    CorruptGzip,
    /// Bytes after the last gzip member that are not a gzip member.
    TrailingGarbage,
}

impl DamageKind {
    /// Short human name.
    pub fn describe(self) -> &'static str {
        match self {
            DamageKind::TornLine => "torn line",
            DamageKind::InvalidJson => "invalid JSON",
            DamageKind::InvalidUtf8 => "invalid UTF-8",
            DamageKind::NulBytes => "NUL bytes",
            DamageKind::InvalidRecord => "invalid record",
            DamageKind::LineTooLong => "line too long",
            DamageKind::TruncatedGzip => "truncated gzip",
            DamageKind::CorruptGzip => "corrupt gzip",
            DamageKind::TrailingGarbage => "trailing garbage",
        }
    }
}

/// One damaged line or file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The file.
    pub path: PathBuf,
    /// Line number (from 1) when known; reading backwards or after a skipped prefix
    /// only knows the byte offset.
    pub line: Option<u64>,
    /// Byte offset in the file's (decompressed) content.
    pub offset: u64,
    /// What kind of damage.
    pub kind: DamageKind,
    /// Details for a human.
    pub detail: String,
}

impl Damage {
    /// Damage found at `offset` of a file's (decompressed) content, not on a known line:
    /// a whole file or gzip member.
    pub(crate) fn in_file(
        path: &Path,
        offset: u64,
        kind: DamageKind,
        detail: impl Into<String>,
    ) -> Damage {
        Damage {
            path: path.into(),
            line: None,
            offset,
            kind,
            detail: detail.into(),
        }
    }

    /// A line cut short.
    pub(crate) fn torn(path: &Path, line: Option<u64>, offset: u64, detail: &str) -> Damage {
        Damage {
            path: path.into(),
            line,
            offset,
            kind: DamageKind::TornLine,
            detail: detail.to_owned(),
        }
    }

    /// A line over [`MAX_LINE`], skipped unread.
    pub(crate) fn too_long(path: &Path, line: Option<u64>, offset: u64) -> Damage {
        let detail = format!("over {MAX_LINE} bytes; skipped");
        Damage {
            path: path.into(),
            line,
            offset,
            kind: DamageKind::LineTooLong,
            detail,
        }
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{line}: {}",
                self.path.display(),
                self.kind.describe()
            )?,
            None => write!(
                f,
                "{} (byte {}): {}",
                self.path.display(),
                self.offset,
                self.kind.describe()
            )?,
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Where a line was found.
#[derive(Debug, Clone, Copy)]
pub struct Loc<'a> {
    /// The file.
    pub path: &'a Path,
    /// Line number from 1, when known.
    pub line: Option<u64>,
    /// Byte offset of the line's start in the (decompressed) content.
    pub offset: u64,
}

/// Receives lines and damage from a scan.
pub trait Sink {
    /// A complete line, without its newline. `Break` ends the scan.
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()>;
    /// Something that could not be read as lines.
    fn damage(&mut self, damage: Damage);
    /// A sink of the same kind that can take one whole-line gzip member on another thread,
    /// if this sink can be split so; its results come back through [`Sink::join`].
    fn fork(&self) -> Option<Box<dyn Fork>> {
        None
    }
    /// Takes back a fork's results, in member order. `Break` ends the scan.
    fn join(&mut self, _forked: Box<dyn std::any::Any + Send>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// What to do with a member whose header summarises it, decided before it is
    /// inflated, in member order (a sink that answers from the summary takes its
    /// counts here and returns [`Plan::Skip`]).
    fn plan(&mut self, _member: &MemberView<'_>) -> Plan {
        Plan::Read
    }
    /// A member planned [`Plan::Whole`]: all of its content, `lines` lines each ending
    /// with a newline and each a valid record (its summary says so and the line count
    /// was checked); `loc` is where its first line is. Given owned, so that it can be
    /// passed on without a copy.
    fn whole(&mut self, content: Vec<u8>, lines: u64, loc: Loc<'_>) -> ControlFlow<()> {
        let _ = lines;
        lines_forward(loc.path, &content, loc.offset, self)
    }
}

/// What a sink wants done with a summarised member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Inflate it and hand over its lines one by one.
    Read,
    /// Do not inflate it: nothing in it is wanted, or the sink took its answer from the
    /// summary. Only for members without damage, so no damage report is lost.
    Skip,
    /// Inflate it and hand over its content in one piece ([`Sink::whole`]).
    Whole,
}

/// A member as its header describes it, for [`Sink::plan`].
#[derive(Debug, Clone, Copy)]
pub struct MemberView<'a> {
    /// Its summary.
    pub summary: &'a Summary,
    /// Whether every record in it lies inside the scan's `since..until`, so that the
    /// window cuts none of it.
    pub inside: bool,
}

/// A [`Sink`] working on one member on another thread.
pub trait Fork: Sink + Send {
    /// Its results, for [`Sink::join`].
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// How to read a day.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Exactly the reverse of stored order.
    pub reverse: bool,
    /// Read the plain file only up to this many bytes (where a follower takes over).
    pub plain_end: Option<u64>,
    /// Threads inflating the members of an indexed `.gz` (0 or 1: on the calling thread).
    pub member_threads: usize,
    /// Only records at or after this are wanted: members that say they hold none are skipped.
    pub since: Option<DateTime<Utc>>,
    /// Only records before this are wanted.
    pub until: Option<DateTime<Utc>>,
    /// Read every member as if its header had no summary (`ACTLOG_IGNORE_SUMMARIES`, a
    /// debugging aid and the benchmarks' baseline).
    pub ignore_summaries: bool,
}

/// Reads one day: forwards, `.gz` then plain; backwards, exactly the reverse. A `.gz`
/// whose members record their lengths is inflated on as many threads as the thread
/// policy ([`actlog_core::threads::threads`]) allows.
pub fn scan_day(
    dir: &Path,
    day: NaiveDate,
    reverse: bool,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let opts = ScanOptions {
        reverse,
        member_threads: actlog_core::threads::threads()?,
        ..ScanOptions::default()
    };
    scan_day_with(dir, day, &opts, sink)
}

/// The files of one day, opened once: reading them later yields what the day held when
/// they were opened, whatever maintenance renamed or unlinked since (it replaces a `.gz`
/// by renaming a new file over it and never writes into one; only appends go to a plain
/// file, and a reader bounds those with [`ScanOptions::plain_end`]).
#[derive(Debug)]
pub struct DayFiles {
    /// The plain file, if there was one.
    pub plain: Option<File>,
    /// The `.gz`, if there was one.
    pub gz: Option<File>,
}

impl DayFiles {
    /// Opens both of `day`'s files, the plain file first.
    ///
    /// Whatever a directory listing said is stale by now: maintenance may have renamed a
    /// `.gz` into place and unlinked the plain file since. So both names are always
    /// opened, the plain file first: maintenance renames the `.gz` before it unlinks the
    /// plain file, so if the plain file is gone the `.gz` opened next holds its records,
    /// and if it is not, a `.gz` that appeared meanwhile says which of its bytes it holds.
    pub fn open(dir: &Path, day: NaiveDate) -> Result<DayFiles> {
        let plain = open_read(&dir.join(file_name(day, FileKind::Plain)))?;
        let gz = open_read(&dir.join(file_name(day, FileKind::Gzip)))?;
        Ok(DayFiles { plain, gz })
    }

    /// Second descriptors for the same open files, read from their start.
    pub fn reopen(&self, dir: &Path, day: NaiveDate) -> Result<DayFiles> {
        let again = |f: &Option<File>, kind: FileKind| -> Result<Option<File>> {
            let path = || dir.join(file_name(day, kind));
            f.as_ref()
                .map(|f| {
                    let mut f = f.try_clone().map_err(|e| Error::io(path(), "dup", e))?;
                    f.seek(SeekFrom::Start(0))
                        .map_err(|e| Error::io(path(), "seek", e))?;
                    Ok(f)
                })
                .transpose()
        };
        Ok(DayFiles {
            plain: again(&self.plain, FileKind::Plain)?,
            gz: again(&self.gz, FileKind::Gzip)?,
        })
    }

    /// How many leading bytes of the plain file the `.gz` already holds (a maintenance
    /// run that folded them and has not unlinked the plain file yet, or had not when
    /// these were opened).
    pub fn plain_covered(&self, dir: &Path, day: NaiveDate) -> Result<u64> {
        let (Some(plain), Some(gz)) = (&self.plain, &self.gz) else {
            return Ok(0);
        };
        let Some(members) = gzmeta::member_index(gz).ok().flatten() else {
            return Ok(0);
        };
        let covers: Vec<Covers> = members.iter().filter_map(|m| m.covers).collect();
        covered(&dir.join(file_name(day, FileKind::Plain)), plain, &covers)
    }
}

/// Every day of a directory with its files opened at one moment, and how far each plain
/// file is to be read: what [`crate::follow::Follower::start`] hands over, so that reading
/// it and then following prints each record once, whatever maintenance does in between.
#[derive(Debug, Default)]
pub struct Snapshot {
    days: std::collections::BTreeMap<NaiveDate, (DayFiles, u64)>,
}

impl Snapshot {
    /// Adds `day`, whose plain file is to be read up to `plain_end` bytes.
    pub(crate) fn insert(&mut self, day: NaiveDate, files: DayFiles, plain_end: u64) {
        self.days.insert(day, (files, plain_end));
    }

    /// The days held, oldest first.
    pub fn days(&self) -> impl DoubleEndedIterator<Item = NaiveDate> + '_ {
        self.days.keys().copied()
    }

    /// [`scan_day_with`] on the day as it was taken (nothing for a day not held).
    pub fn scan(
        &self,
        dir: &Path,
        day: NaiveDate,
        opts: &ScanOptions,
        sink: &mut dyn Sink,
    ) -> Result<ControlFlow<()>> {
        let Some((files, end)) = self.days.get(&day) else {
            return Ok(ControlFlow::Continue(()));
        };
        let opts = ScanOptions {
            plain_end: Some(*end),
            ..*opts
        };
        scan_files(dir, day, files.reopen(dir, day)?, &opts, sink)
    }
}

/// [`scan_day`] with every option.
///
/// A `.gz` whose members all record their length and time range (as maintenance writes
/// them, each holding whole lines) is read member by member: members outside
/// `since..until` are skipped without being inflated, and backwards reading inflates one
/// member at a time from the end. Any other `.gz` is read from its start.
pub fn scan_day_with(
    dir: &Path,
    day: NaiveDate,
    opts: &ScanOptions,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    scan_files(dir, day, DayFiles::open(dir, day)?, opts, sink)
}

/// [`scan_day_with`] on files already opened.
pub fn scan_files(
    dir: &Path,
    day: NaiveDate,
    files: DayFiles,
    opts: &ScanOptions,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let DayFiles { plain, gz } = files;
    let index = gz
        .as_ref()
        .and_then(|g| gzmeta::member_index(g).ok().flatten())
        .filter(|m| !m.is_empty());
    // Only time ranges make a file aligned, summaries or not: a summarised member with no
    // valid record has none, and so its file is read whole, the same with summaries used
    // or ignored (damage in members a window skips would otherwise go unreported in one
    // case only).
    let aligned = index
        .as_ref()
        .is_some_and(|m| m.iter().all(|m| m.bounds.is_some()));
    let opened = Opened {
        plain_path: dir.join(file_name(day, FileKind::Plain)),
        gz_path: dir.join(file_name(day, FileKind::Gzip)),
        plain,
        gz,
        index,
        aligned,
    };
    if opts.reverse {
        scan_backward(opened, opts, sink)
    } else {
        scan_forward(opened, opts, sink)
    }
}

/// A day's open files, and what the `.gz`'s member headers tell.
struct Opened {
    plain_path: PathBuf,
    gz_path: PathBuf,
    plain: Option<File>,
    gz: Option<File>,
    /// Every member, when each records its length.
    index: Option<Vec<gzmeta::Member>>,
    /// Every member holds whole lines and records their time range, so members can be
    /// skipped, read on several threads, or read from the last.
    aligned: bool,
}

/// The `.gz` (its members in parallel where it can), then the plain file past what
/// the members cover.
fn scan_forward(day: Opened, opts: &ScanOptions, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
    let Opened {
        plain_path,
        gz_path,
        plain,
        gz,
        index,
        aligned,
    } = day;
    let mut covers: Vec<Covers> = Vec::new();
    let threads = opts.member_threads.max(1);
    if let Some(gz) = gz {
        let flow = match &index {
            Some(members) => {
                covers.extend(members.iter().filter_map(|m| m.covers));
                let wanted = if aligned {
                    select(&gz_path, &gz, members, opts, sink)?
                } else {
                    members.iter().map(Wanted::every).collect()
                };
                if aligned && threads > 1 && sink.fork().is_some() {
                    read_members_forked(&gz_path, &gz, members, &wanted, threads, sink)?
                } else {
                    read_gz_members(&gz_path, &gz, &wanted, threads, sink)?
                }
            }
            None => read_gz(&gz_path, gz, &mut covers, sink)?,
        };
        if flow.is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    let Some(plain) = plain else {
        return Ok(ControlFlow::Continue(()));
    };
    let skip = covered(&plain_path, &plain, &covers)?;
    read_plain_forward(&plain_path, plain, skip, opts.plain_end, sink)
}

/// The plain file from its end (past what the members cover), then the `.gz` from its
/// last record: member by member when they are aligned, else inflated whole first.
fn scan_backward(day: Opened, opts: &ScanOptions, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
    let Opened {
        plain_path,
        gz_path,
        plain,
        gz,
        index,
        aligned,
    } = day;
    let mut covers: Vec<Covers> = Vec::new();
    if let (Some(gz), Some(members), true) = (&gz, &index, aligned) {
        // Coverage from the headers alone; then the plain file from its end, then the
        // wanted members from the last, one at a time.
        covers.extend(members.iter().filter_map(|m| m.covers));
        if let Some(plain) = &plain {
            let skip = covered(&plain_path, plain, &covers)?;
            if read_plain_backward(&plain_path, plain, skip, opts.plain_end, sink)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        return read_members_backward(&gz_path, gz, members, opts, sink);
    }
    // Otherwise the .gz must be inflated whole (its coverage is needed before the plain
    // file, and gzip cannot be read from the end); the plain file is read from its end.
    let mut inflated = Inflated::new(INFLATED_IN_MEMORY);
    if let Some(gz) = gz {
        // Collecting stops early only if the temporary file fails.
        let _ = read_gz(&gz_path, gz, &mut covers, &mut inflated)?;
        if let Some(e) = inflated.failed.take() {
            return Err(Error::Spill {
                path: gz_path.clone(),
                source: e,
            });
        }
        for d in inflated.damage.drain(..) {
            sink.damage(d);
        }
    }
    if let Some(plain) = plain {
        let skip = covered(&plain_path, &plain, &covers)?;
        if read_plain_backward(&plain_path, &plain, skip, opts.plain_end, sink)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    inflated.lines_backward(&gz_path, sink)
}

/// Damage detail for a whole-line member whose content does not end in a newline.
const UNTERMINATED_MEMBER: &str =
    "no newline at the end of a gzip member that should hold whole lines";

/// Hands out the lines of `content` (whole lines, starting at `base` in the file's
/// decompressed stream) from the last to the first.
fn lines_backward(path: &Path, content: &[u8], base: u64, sink: &mut dyn Sink) -> ControlFlow<()> {
    let mut end = content.len();
    if end > 0 && content[end - 1] != b'\n' {
        // Whole-line members end in a newline; anything else is a torn tail.
        let start = memrchr(b'\n', content).map_or(0, |i| i + 1);
        sink.damage(Damage::torn(
            path,
            None,
            base + start as u64,
            UNTERMINATED_MEMBER,
        ));
        end = start;
    }
    while end > 0 {
        let body_end = end - 1;
        let start = memrchr(b'\n', &content[..body_end]).map_or(0, |i| i + 1);
        let offset = base + start as u64;
        // The same limit as forwards, so both directions return the same records.
        if body_end - start > MAX_LINE {
            sink.damage(Damage::too_long(path, None, offset));
        } else {
            let loc = Loc {
                path,
                line: None,
                offset,
            };
            sink.line(&content[start..body_end], loc)?;
        }
        end = start;
    }
    ControlFlow::Continue(())
}

/// Where each member starts in the file's decompressed stream (by file offset of the
/// member), from the sizes in their trailers.
fn member_starts(
    path: &Path,
    file: &File,
    members: &[gzmeta::Member],
) -> Result<std::collections::HashMap<u64, u64>> {
    let mut starts = std::collections::HashMap::with_capacity(members.len());
    let mut at = 0u64;
    for m in members {
        starts.insert(m.offset, at);
        at += member_isize(file, m).map_err(|e| Error::io(path, "read", e))?;
    }
    Ok(starts)
}

/// The uncompressed size a member records in its trailer (ISIZE, modulo 2^32).
fn member_isize(file: &File, m: &gzmeta::Member) -> io::Result<u64> {
    let mut trailer = [0u8; 4];
    file.read_exact_at(&mut trailer, m.offset + m.len - 4)?;
    Ok(u64::from(u32::from_le_bytes(trailer)))
}

/// A member to inflate, and what was passed over just before it.
#[derive(Debug, Clone)]
struct Wanted {
    member: gzmeta::Member,
    /// Decompressed bytes of the members skipped just before it.
    gap: u64,
    /// Lines in those members, when each summary says.
    gap_lines: Option<u64>,
    /// Its content goes to the sink whole ([`Plan::Whole`]).
    whole: bool,
}

impl Wanted {
    /// A member read as it comes, nothing skipped before it.
    fn every(m: &gzmeta::Member) -> Wanted {
        Wanted {
            member: m.clone(),
            gap: 0,
            gap_lines: Some(0),
            whole: false,
        }
    }
}

/// The members that may hold records in the window and that the sink wants inflated
/// (asking it about each summarised member), each with what was skipped before it.
fn select(
    path: &Path,
    file: &File,
    members: &[gzmeta::Member],
    opts: &ScanOptions,
    sink: &mut dyn Sink,
) -> Result<Vec<Wanted>> {
    let since = opts.since.map(|t| t.timestamp_millis());
    // Bounds are whole milliseconds rounded down: a record just before `until` in the
    // same millisecond is never skipped.
    let until = opts.until.map(|t| t.timestamp_millis());
    let mut wanted = Vec::with_capacity(members.len());
    let (mut gap, mut gap_lines) = (0u64, Some(0u64));
    for m in members {
        let outside = m.bounds.is_some_and(|b| {
            since.is_some_and(|s| b.last_ms < s) || until.is_some_and(|u| b.first_ms > u)
        });
        let summary = m.summary.as_deref().filter(|_| !opts.ignore_summaries);
        let plan = match summary {
            _ if outside => Plan::Skip,
            Some(summary) => sink.plan(&MemberView {
                summary,
                inside: inside(m.bounds, opts),
            }),
            None => Plan::Read,
        };
        if plan == Plan::Skip {
            gap += member_isize(file, m).map_err(|e| Error::io(path, "read", e))?;
            gap_lines = gap_lines.zip(summary).map(|(n, s)| n + s.lines);
        } else {
            wanted.push(Wanted {
                member: m.clone(),
                gap,
                gap_lines,
                whole: plan == Plan::Whole,
            });
            (gap, gap_lines) = (0, Some(0));
        }
    }
    Ok(wanted)
}

/// Whether every record of a member with time range `bounds` lies in the scan's window
/// (records fall in it when `since <= t < until`).
fn inside(bounds: Option<gzmeta::TimeBounds>, opts: &ScanOptions) -> bool {
    let Some(b) = bounds else {
        // No valid record at all.
        return true;
    };
    let at = DateTime::<Utc>::from_timestamp_millis;
    opts.since
        .is_none_or(|s| at(b.first_ms).is_some_and(|t| t >= s))
        && opts
            .until
            .is_none_or(|u| at(b.last_ms).is_some_and(|t| t < u))
}

/// Whether a member's content may go to its sink whole: ending with a newline and
/// holding the number of lines its summary says.
fn whole_as_said(content: &[u8], member: &gzmeta::Member) -> Option<u64> {
    let lines = member.summary.as_ref()?.lines;
    let ends = content.last().is_none_or(|&b| b == b'\n');
    (ends && memchr::memchr_iter(b'\n', content).count() as u64 == lines).then_some(lines)
}

/// Reads whole-line members from the last wanted one to the first.
fn read_members_backward(
    path: &Path,
    file: &File,
    members: &[gzmeta::Member],
    opts: &ScanOptions,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let starts = member_starts(path, file, members)?;
    let wanted = select(path, file, members, opts, sink)?;
    for Wanted { member: m, .. } in wanted.iter().rev() {
        let base = starts.get(&m.offset).copied().unwrap_or(0);
        match inflate_whole(file, m) {
            Ok(content) => {
                if lines_backward(path, &content, base, sink).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Err(MemberError::Read(e)) => return Err(Error::io(path, "read", e)),
            Err(MemberError::Bad(e)) => {
                let kind = gzip_damage(&e);
                let detail = format!("member at byte {} of the file: {e}", m.offset);
                sink.damage(Damage::in_file(path, base, kind, detail));
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Inflated bytes of a day read backwards that are held in memory; beyond this they go to
/// an unnamed temporary file, so a hostile or huge `.gz` (gzip inflates up to ~1000x)
/// cannot exhaust memory.
const INFLATED_IN_MEMORY: usize = 64 << 20;

/// A whole unindexed `.gz` day, inflated for reading it backwards: in memory while small,
/// then spilled to a temporary file.
struct Inflated {
    /// Bytes kept in memory before spilling.
    limit: usize,
    content: Vec<u8>,
    spill: Option<io::BufWriter<File>>,
    failed: Option<io::Error>,
    damage: Vec<Damage>,
}

impl Inflated {
    fn new(limit: usize) -> Inflated {
        Inflated {
            limit,
            content: Vec::new(),
            spill: None,
            failed: None,
            damage: Vec::new(),
        }
    }

    /// Hands the kept lines to `sink` from the last to the first.
    fn lines_backward(self, path: &Path, sink: &mut dyn Sink) -> Result<ControlFlow<()>> {
        match self.spill {
            Some(spill) => {
                let spilled = spill.into_inner().map_err(|e| Error::Spill {
                    path: path.to_path_buf(),
                    source: e.into_error(),
                })?;
                read_plain_backward(path, &spilled, 0, None, sink)
            }
            None => Ok(lines_backward(path, &self.content, 0, sink)),
        }
    }

    fn keep(&mut self, line: &[u8]) -> io::Result<()> {
        if self.spill.is_none() && self.content.len() + line.len() < self.limit {
            self.content.extend_from_slice(line);
            self.content.push(b'\n');
            return Ok(());
        }
        let spill = match &mut self.spill {
            Some(s) => s,
            None => {
                let mut s = io::BufWriter::with_capacity(CHUNK, tempfile::tempfile()?);
                s.write_all(&self.content)?;
                self.content = Vec::new();
                self.spill.insert(s)
            }
        };
        spill.write_all(line)?;
        spill.write_all(b"\n")
    }
}

impl Sink for Inflated {
    fn line(&mut self, line: &[u8], _: Loc<'_>) -> ControlFlow<()> {
        match self.keep(line) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.failed = Some(e);
                ControlFlow::Break(())
            }
        }
    }
    fn damage(&mut self, damage: Damage) {
        self.damage.push(damage);
    }
}

/// Opens a day file for reading without following a symlink. `None` if it is not there
/// (retention, or maintenance folded it) or is not ours to read: a symbolic link, FIFO or
/// directory at a day's name is never followed, and commands that list the directory
/// name it. A file that is there but cannot be opened (permissions, I/O) is an error:
/// skipping it would answer "nothing matched" for records that exist.
pub fn open_read(path: &Path) -> Result<Option<File>> {
    let file = match actlog_core::dayfile::open_day_file(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        Err(e) => return Err(Error::io(path, "open", e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    Ok(meta.is_file().then_some(file))
}

/// Bytes at the start of `plain` already held by the `.gz`.
fn covered(path: &Path, plain: &File, covers: &[Covers]) -> Result<u64> {
    if covers.is_empty() {
        return Ok(0);
    }
    let (len, head) = gzmeta::read_head(plain, path)?;
    Ok(gzmeta::covered_prefix(covers, &head, len))
}

/// Reads every gzip member of `file` in order, as one stream of lines; records each
/// member's coverage marker. Damage ends the file but not the scan.
fn read_gz(
    path: &Path,
    file: File,
    covers: &mut Vec<Covers>,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let mut input = BufReader::with_capacity(CHUNK, Source { file, error: None });
    let mut lines = Lines::new(0, true);
    let mut buf = vec![0u8; CHUNK];
    let mut member = 0u32;
    loop {
        match input.fill_buf() {
            Ok([]) => break,
            Ok(_) => {}
            Err(e) => return Err(Error::io(path, "read", e)),
        }
        let mut decoder = flate2::bufread::GzDecoder::new(input);
        let mut produced = 0usize;
        let failure = loop {
            match decoder.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => {
                    produced += n;
                    let flow = lines.feed(&buf[..n], &mut |piece, line, offset| {
                        line_piece(path, sink, piece, line, offset)
                    });
                    if flow.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Some(e),
            }
        };
        if let Some(e) = failure {
            if let Some(e) = decoder.get_mut().get_mut().error.take() {
                return Err(Error::io(path, "read", e));
            }
            let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
                DamageKind::TruncatedGzip
            } else if member > 0 && produced == 0 && decoder.header().is_none() {
                DamageKind::TrailingGarbage
            } else {
                DamageKind::CorruptGzip
            };
            let detail = format!("member {}: {e}", member + 1);
            if lines.has_partial() {
                sink.damage(lines.torn(path, "cut off by the gzip damage below"));
            }
            sink.damage(Damage::in_file(path, lines.line_start(), kind, detail));
            return Ok(ControlFlow::Continue(()));
        }
        if let Some(c) = decoder
            .header()
            .and_then(|h| h.extra())
            .and_then(gzmeta::decode_extra)
        {
            covers.push(c);
        }
        input = decoder.into_inner();
        member += 1;
    }
    if lines.has_partial() {
        sink.damage(lines.torn(path, "no newline at the end of the compressed day"));
    }
    Ok(ControlFlow::Continue(()))
}

/// Inflates indexed members in order and feeds their contents through one line
/// splitter (so a line may span members). With more than one thread, member `i` is
/// inflated on helper `i % threads`, at most two members ahead per helper; with one, on
/// the calling thread. Each member comes with the decompressed bytes of skipped members
/// just before it, to keep offsets true.
fn read_gz_members(
    path: &Path,
    file: &File,
    members: &[Wanted],
    threads: usize,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    if threads <= 1 {
        return feed_members(
            path,
            members,
            &mut |i| inflate_whole(file, &members[i].member),
            sink,
        );
    }
    std::thread::scope(|s| {
        let receivers: Vec<_> = (0..threads)
            .map(|t| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>, MemberError>>(2);
                s.spawn(move || {
                    for Wanted { member: m, .. } in members.iter().skip(t).step_by(threads) {
                        let inflated = inflate_whole(file, m);
                        let failed = inflated.is_err();
                        // A closed channel means the reader stopped.
                        if tx.send(inflated).is_err() || failed {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        let mut next = |i: usize| {
            receivers[i % threads].recv().unwrap_or_else(|_| {
                Err(MemberError::Read(io::Error::other(
                    "inflating thread stopped",
                )))
            })
        };
        // Returning drops the receivers, which stops the helpers.
        feed_members(path, members, &mut next, sink)
    })
}

/// The loop of [`read_gz_members`]: `content(i)` gives member `i` inflated.
fn feed_members(
    path: &Path,
    members: &[Wanted],
    content: &mut dyn FnMut(usize) -> Result<Vec<u8>, MemberError>,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let mut lines = Lines::new(0, true);
    for (i, want) in members.iter().enumerate() {
        let member = &want.member;
        lines.skip(want.gap, want.gap_lines);
        let failure = match content(i) {
            Ok(content) => {
                let whole = want
                    .whole
                    .then(|| whole_as_said(&content, member))
                    .flatten()
                    .filter(|_| !lines.has_partial());
                if let Some(n) = whole {
                    let loc = Loc {
                        path,
                        line: lines.next_line(),
                        offset: lines.line_start(),
                    };
                    let len = content.len() as u64;
                    if sink.whole(content, n, loc).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                    lines.skip(len, Some(n));
                    continue;
                }
                let flow = lines.feed(&content, &mut |piece, line, offset| {
                    line_piece(path, sink, piece, line, offset)
                });
                if flow.is_break() {
                    return Ok(flow);
                }
                continue;
            }
            Err(MemberError::Read(e)) => return Err(Error::io(path, "read", e)),
            Err(MemberError::Bad(e)) => e,
        };
        let kind = gzip_damage(&failure);
        if lines.has_partial() {
            sink.damage(lines.torn(path, "cut off by the gzip damage below"));
        }
        let detail = format!(
            "member {} (at byte {} of the file): {failure}",
            i + 1,
            member.offset
        );
        sink.damage(Damage::in_file(path, lines.line_start(), kind, detail));
        return Ok(ControlFlow::Continue(()));
    }
    if lines.has_partial() {
        sink.damage(lines.torn(path, "no newline at the end of the compressed day"));
    }
    Ok(ControlFlow::Continue(()))
}

/// Reads whole-line members on `threads` helpers, each member through its own fork of
/// `sink` (filtering included), joined back in member order; at most two members per
/// helper wait to be joined.
fn read_members_forked(
    path: &Path,
    file: &File,
    all: &[gzmeta::Member],
    wanted: &[Wanted],
    threads: usize,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let starts = member_starts(path, file, all)?;
    let mut forks: Vec<Option<Box<dyn Fork>>> = Vec::with_capacity(wanted.len());
    for _ in wanted {
        forks.push(sink.fork());
    }
    let mut per_thread: Vec<Vec<(usize, Box<dyn Fork>)>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (i, f) in forks.into_iter().enumerate() {
        let Some(f) = f else {
            return feed_members(
                path,
                wanted,
                &mut |i| inflate_whole(file, &wanted[i].member),
                sink,
            );
        };
        per_thread[i % threads].push((i, f));
    }
    let starts = &starts;
    // A helper that cannot read the file stops and leaves its error here.
    let read_error: std::sync::Mutex<Option<io::Error>> = std::sync::Mutex::new(None);
    let read_error = &read_error;
    std::thread::scope(|s| {
        let receivers: Vec<_> = per_thread
            .into_iter()
            .map(|tasks| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Box<dyn std::any::Any + Send>>(2);
                let helper = Helper {
                    path,
                    file,
                    wanted,
                    starts,
                    read_error,
                };
                s.spawn(move || helper.run(tasks, &tx));
                rx
            })
            .collect();
        for i in 0..wanted.len() {
            let Ok(done) = receivers[i % threads].recv() else {
                let e = read_error.lock().ok().and_then(|mut e| e.take());
                return Err(Error::io(
                    path,
                    "read",
                    e.unwrap_or_else(|| io::Error::other("inflating thread stopped")),
                ));
            };
            if sink.join(done).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    })
}

/// What one inflating thread of [`read_members_forked`] works on.
struct Helper<'a> {
    path: &'a Path,
    file: &'a File,
    wanted: &'a [Wanted],
    /// Each member's first line's offset in the decompressed stream.
    starts: &'a std::collections::HashMap<u64, u64>,
    /// Where a helper that cannot read the file leaves its error before it stops.
    read_error: &'a std::sync::Mutex<Option<io::Error>>,
}

impl Helper<'_> {
    /// Reads each task's member into its fork, in task order, and sends the fork back;
    /// stops when the reader has gone (the channel is closed) or the file cannot be read.
    fn run(
        &self,
        tasks: Vec<(usize, Box<dyn Fork>)>,
        tx: &std::sync::mpsc::SyncSender<Box<dyn std::any::Any + Send>>,
    ) {
        let (mut compressed, mut content) = (Vec::new(), Vec::new());
        for (i, mut fork) in tasks {
            let want = &self.wanted[i];
            let m = &want.member;
            let base = self.starts.get(&m.offset).copied().unwrap_or(0);
            match inflate_member_into(self.file, m, &mut compressed, &mut content) {
                Ok(()) => {
                    let whole = want.whole.then(|| whole_as_said(&content, m)).flatten();
                    let _ = match whole {
                        Some(n) => {
                            let loc = Loc {
                                path: self.path,
                                line: None,
                                offset: base,
                            };
                            // Handed over; the next member inflates into a new buffer.
                            fork.whole(std::mem::take(&mut content), n, loc)
                        }
                        None => lines_forward(self.path, &content, base, fork.as_mut()),
                    };
                }
                Err(MemberError::Read(e)) => {
                    if let Ok(mut slot) = self.read_error.lock() {
                        *slot = Some(e);
                    }
                    return;
                }
                Err(MemberError::Bad(e)) => {
                    let kind = gzip_damage(&e);
                    let detail = format!("member at byte {} of the file: {e}", m.offset);
                    fork.damage(Damage::in_file(self.path, base, kind, detail));
                }
            }
            if tx.send(fork.into_any()).is_err() {
                return;
            }
        }
    }
}

/// Hands out the whole lines of `content` (starting at `base` in the decompressed
/// stream) in order; a line over [`MAX_LINE`] is reported, a missing last newline too.
pub(crate) fn lines_forward<S: Sink + ?Sized>(
    path: &Path,
    content: &[u8],
    base: u64,
    sink: &mut S,
) -> ControlFlow<()> {
    let mut start = 0;
    while start < content.len() {
        let Some(len) = memchr(b'\n', &content[start..]) else {
            sink.damage(Damage::torn(
                path,
                None,
                base + start as u64,
                UNTERMINATED_MEMBER,
            ));
            return ControlFlow::Continue(());
        };
        let offset = base + start as u64;
        if len > MAX_LINE {
            sink.damage(Damage::too_long(path, None, offset));
        } else {
            sink.line(
                &content[start..start + len],
                Loc {
                    path,
                    line: None,
                    offset,
                },
            )?;
        }
        start += len + 1;
    }
    ControlFlow::Continue(())
}

/// What an inflate error means: a member cut short, or one whose data or CRC is wrong.
fn gzip_damage(e: &io::Error) -> DamageKind {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        DamageKind::TruncatedGzip
    } else {
        DamageKind::CorruptGzip
    }
}

/// The most one indexed member may inflate to; maintenance writes members of ~1 MiB, so
/// only a forged index (a gzip bomb) comes near it.
const MAX_MEMBER_INFLATED: usize = 64 << 20;

/// Why an indexed member could not be had.
enum MemberError {
    /// The file could not be read: an error for the caller, since skipping would lose
    /// records that are there.
    Read(io::Error),
    /// Its bytes are not a valid member (cut short, corrupt, too big): damage.
    Bad(io::Error),
}

/// One member, inflated whole (about 1 MiB for members maintenance writes).
pub(crate) fn inflate_member(file: &File, m: &gzmeta::Member) -> io::Result<Vec<u8>> {
    inflate_whole(file, m).map_err(|(MemberError::Read(e) | MemberError::Bad(e))| e)
}

/// [`inflate_member`], telling a failed read from a damaged member.
fn inflate_whole(file: &File, m: &gzmeta::Member) -> Result<Vec<u8>, MemberError> {
    let mut out = Vec::new();
    inflate_member_into(file, m, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// A day file being inflated as a stream, remembering its own read errors, so that an
/// inflate error the file caused (EIO) is told apart from damage in its bytes.
struct Source {
    file: File,
    error: Option<io::Error>,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.error = Some(match e.raw_os_error() {
                    Some(code) => io::Error::from_raw_os_error(code),
                    None => io::Error::new(e.kind(), e.to_string()),
                });
            }
        })
    }
}

/// [`inflate_member`] into buffers the caller reuses: a thread inflating member after
/// member then allocates (and unmaps, which stalls every core running the process) only
/// once.
fn inflate_member_into(
    file: &File,
    m: &gzmeta::Member,
    compressed: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), MemberError> {
    let len = usize::try_from(m.len)
        .map_err(|_| MemberError::Bad(io::Error::other("member too large")))?;
    compressed.resize(len, 0);
    file.read_exact_at(compressed, m.offset)
        .map_err(|e| match e.kind() {
            // The file ends before the member its index names: cut short.
            io::ErrorKind::UnexpectedEof => MemberError::Bad(e),
            _ => MemberError::Read(e),
        })?;
    out.clear();
    inflate_gzip_member(compressed, out).map_err(|e| {
        out.clear();
        MemberError::Bad(e)
    })
}

/// Inflates one whole gzip member held in `member` into `out`, checking its CRC and
/// length. Deflate writes straight into `out`'s spare capacity: reading through an
/// `io::Read` would zero every buffer first, which costs more than a tenth of the
/// inflating itself. Cut short: `UnexpectedEof`; anything else wrong: `InvalidData`.
fn inflate_gzip_member(member: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    use flate2::{Decompress, FlushDecompress, Status};
    let cut = |what: &str| io::Error::new(io::ErrorKind::UnexpectedEof, what.to_owned());
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let start = gzip_body_start(member)?;
    let body = &member[start..];
    // The trailer's length (mod 2^32) sizes the buffer once, so it is never copied while
    // growing; deflate cannot inflate past 1032 times its size, whatever a damaged
    // trailer says.
    let said = member
        .len()
        .checked_sub(4)
        .and_then(|at| member.get(at..))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize);
    let room = said
        .min(body.len().saturating_mul(1032))
        .min(MAX_MEMBER_INFLATED);
    out.reserve(room.saturating_add(64));
    let mut d = Decompress::new(false);
    loop {
        if out.len() == out.capacity() {
            if out.len() > MAX_MEMBER_INFLATED {
                return Err(bad(format!(
                    "member inflates to over {MAX_MEMBER_INFLATED} bytes; not read"
                )));
            }
            out.reserve(out.capacity().max(64 << 10));
        }
        let (taken, had) = (d.total_in(), out.len());
        let rest = body
            .get(usize::try_from(taken).unwrap_or(usize::MAX)..)
            .unwrap_or(&[]);
        let status = d
            .decompress_vec(rest, out, FlushDecompress::None)
            .map_err(|e| bad(format!("corrupt deflate stream: {e}")))?;
        if status == Status::StreamEnd {
            break;
        }
        // There is room to write, so no progress means the input ran out.
        if d.total_in() == taken && out.len() == had {
            return Err(cut("gzip member cut short inside its compressed data"));
        }
    }
    if out.len() > MAX_MEMBER_INFLATED {
        return Err(bad(format!(
            "member inflates to over {MAX_MEMBER_INFLATED} bytes; not read"
        )));
    }
    let end = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
    let trailer = body
        .get(end..end.saturating_add(8))
        .ok_or_else(|| cut("gzip member cut short before its CRC and length"))?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc32fast::hash(out) != crc {
        return Err(bad("gzip member CRC mismatch".into()));
    }
    if size != out.len() as u32 {
        return Err(bad("gzip member length mismatch".into()));
    }
    Ok(())
}

/// Where a gzip member's compressed data starts, past its header (RFC 1952 2.3).
fn gzip_body_start(member: &[u8]) -> io::Result<usize> {
    let cut = || io::Error::new(io::ErrorKind::UnexpectedEof, "gzip member header cut short");
    let head = member.get(..10).ok_or_else(cut)?;
    if head[..3] != [0x1f, 0x8b, 8] || head[3] & 0xe0 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "invalid gzip header",
        ));
    }
    let flags = head[3];
    let mut at = 10usize;
    if flags & 0x04 != 0 {
        let xlen = member.get(at..at + 2).ok_or_else(cut)?;
        at += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    // FNAME, then FCOMMENT: zero-terminated.
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let rest = member.get(at..).ok_or_else(cut)?;
            at += memchr(0, rest).ok_or_else(cut)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    if at > member.len() {
        return Err(cut());
    }
    Ok(at)
}

/// Reads a plain day file from `skip`. A last line without a newline is being written
/// (or was torn by a crash): it is not returned; `verify` reports it if it stays.
fn read_plain_forward(
    path: &Path,
    file: File,
    skip: u64,
    end: Option<u64>,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let mut file = file.take(end.map_or(u64::MAX, |e| e.saturating_sub(skip)));
    file.get_mut()
        .seek(SeekFrom::Start(skip))
        .map_err(|e| Error::io(path, "seek", e))?;
    let mut lines = Lines::new(skip, skip == 0);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, "read", e)),
        };
        let flow = lines.feed(&buf[..n], &mut |piece, line, offset| {
            line_piece(path, sink, piece, line, offset)
        });
        if flow.is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Reads a plain day file backwards from its last complete line down to `skip`.
fn read_plain_backward(
    path: &Path,
    file: &File,
    skip: u64,
    end: Option<u64>,
    sink: &mut dyn Sink,
) -> Result<ControlFlow<()>> {
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat", e))?
        .len();
    let len = end.map_or(len, |e| e.min(len));
    let mut pos = len;
    // Bytes after the current chunk that belong to a line whose start is not read yet.
    let mut tail: Vec<u8> = Vec::new();
    let mut overlong = false;
    let mut seen_newline = false;
    while pos > skip {
        let take = (pos - skip).min(CHUNK as u64);
        let start = pos - take;
        let mut chunk = vec![0u8; take as usize];
        file.read_exact_at(&mut chunk, start)
            .map_err(|e| Error::io(path, "read", e))?;
        chunk.extend_from_slice(&tail);
        tail.clear();
        let mut end = chunk.len();
        while let Some(i) = memrchr(b'\n', &chunk[..end]) {
            if seen_newline {
                let body = &chunk[i + 1..end];
                let offset = start + i as u64 + 1;
                if hand_back(path, sink, body, overlong, None, offset).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                overlong = false;
            }
            // Bytes after the file's last newline are an unfinished line: not returned.
            seen_newline = true;
            end = i;
        }
        if seen_newline {
            if overlong || end > MAX_LINE {
                overlong = true;
            } else {
                tail.extend_from_slice(&chunk[..end]);
            }
        }
        pos = start;
    }
    if seen_newline && (overlong || !tail.is_empty() || skip < len) {
        // The first line of the range (it starts at `skip`, a line boundary); an empty
        // range holds no line at all.
        let line = Some(1).filter(|_| skip == 0);
        let empty = tail.is_empty() && skip == len && !overlong;
        if !empty && hand_back(path, sink, &tail, overlong, line, skip).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Hands one line found reading backwards to `sink`: as damage when it is too long
/// (`overlong`: its bytes were too many to keep), else as a line.
fn hand_back(
    path: &Path,
    sink: &mut dyn Sink,
    body: &[u8],
    overlong: bool,
    line: Option<u64>,
    offset: u64,
) -> ControlFlow<()> {
    if overlong || body.len() > MAX_LINE {
        sink.damage(Damage::too_long(path, line, offset));
        return ControlFlow::Continue(());
    }
    sink.line(body, Loc { path, line, offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<Vec<u8>>);

    impl Sink for Collect {
        fn line(&mut self, line: &[u8], _: Loc<'_>) -> ControlFlow<()> {
            self.0.push(line.to_vec());
            ControlFlow::Continue(())
        }
        fn damage(&mut self, damage: Damage) {
            panic!("unexpected damage: {damage}");
        }
    }

    #[test]
    fn an_inflated_day_spilled_to_a_temporary_file_reads_backwards_the_same() {
        let lines: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 7)).into_bytes())
            .collect();
        let read = |limit: usize| {
            let mut inflated = Inflated::new(limit);
            let loc = Loc {
                path: Path::new("t"),
                line: None,
                offset: 0,
            };
            for l in &lines {
                assert!(inflated.line(l, loc).is_continue());
            }
            let spilled = inflated.spill.is_some();
            let mut out = Collect::default();
            let flow = inflated.lines_backward(Path::new("t"), &mut out).unwrap();
            assert!(flow.is_continue());
            (spilled, out.0)
        };
        let (in_memory, expected) = read(usize::MAX);
        let (spilled, got) = read(100);
        assert!(!in_memory && spilled);
        let mut reversed = lines.clone();
        reversed.reverse();
        assert_eq!(expected, reversed);
        assert_eq!(got, reversed);
    }

    /// Lines and damage kinds, in the order seen.
    #[derive(Default)]
    struct Both(Vec<Result<usize, DamageKind>>);

    impl Sink for Both {
        fn line(&mut self, line: &[u8], _: Loc<'_>) -> ControlFlow<()> {
            self.0.push(Ok(line.len()));
            ControlFlow::Continue(())
        }
        fn damage(&mut self, damage: Damage) {
            self.0.push(Err(damage.kind));
        }
    }

    #[test]
    fn whole_line_content_read_backwards_applies_the_line_limit_as_forwards_does() {
        let mut content = b"{}\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', MAX_LINE + 1));
        content.extend_from_slice(b"\n{\"a\":1}\n");
        let path = Path::new("activity-2026-11-24.json.gz");
        let mut forwards = Both::default();
        let _ = lines_forward(path, &content, 0, &mut forwards);
        let mut backwards = Both::default();
        let _ = lines_backward(path, &content, 0, &mut backwards);
        backwards.0.reverse();
        assert_eq!(forwards.0, [Ok(2), Err(DamageKind::LineTooLong), Ok(7)]);
        assert_eq!(backwards.0, forwards.0);
    }
}
