//! The one line splitter: plain files, gzip streams and followed files are all cut into
//! lines here, holding at most [`MAX_LINE`] bytes of one line in memory.

use super::{Damage, Loc, MAX_LINE, Sink};
use memchr::memchr;
use std::ops::ControlFlow;
use std::path::Path;

/// Splits a byte stream into lines, holding at most [`MAX_LINE`] bytes of one line.
#[derive(Debug)]
pub(crate) struct Lines {
    /// The current line's bytes so far, unless it is over the limit.
    buf: Vec<u8>,
    /// Bytes of the current line seen so far, kept or not.
    cur_len: u64,
    /// Line number of the current line, from 1.
    next_line: u64,
    /// Offset of the current line's start.
    next_offset: u64,
    numbered: bool,
}

/// Receives each piece of a split stream: the piece, its line number, its offset.
pub(crate) type PieceFn<'f> = dyn FnMut(Piece<'_>, Option<u64>, u64) -> ControlFlow<()> + 'f;

pub(crate) enum Piece<'a> {
    Line(&'a [u8]),
    TooLong,
}

impl Lines {
    /// A splitter whose first line starts at `start_offset`; lines are numbered from 1
    /// only when `numbered` (the stream starts at the top of its file).
    pub(crate) fn new(start_offset: u64, numbered: bool) -> Lines {
        Lines {
            buf: Vec::new(),
            cur_len: 0,
            next_line: 1,
            next_offset: start_offset,
            numbered,
        }
    }

    /// Where the line being split starts: every byte before it is handed over.
    pub(crate) fn line_start(&self) -> u64 {
        self.next_offset
    }

    /// Moves past `bytes` of the stream that are not fed (members skipped unread, or
    /// handed over whole), which hold `lines` whole lines; numbering stops when that is
    /// not known.
    pub(crate) fn skip(&mut self, bytes: u64, lines: Option<u64>) {
        self.next_offset += bytes;
        match lines {
            Some(n) => self.next_line += n,
            None => self.numbered = false,
        }
    }

    /// The number of the next line, when lines are numbered.
    pub(crate) fn next_line(&self) -> Option<u64> {
        self.numbered.then_some(self.next_line)
    }

    /// Where the next byte fed is in the stream.
    pub(crate) fn position(&self) -> u64 {
        self.next_offset + self.cur_len
    }

    /// Splits `data`, the stream's next bytes, handing each complete line (or a line
    /// over [`MAX_LINE`], as too long) to `f`; keeps the unfinished last line for the
    /// next call. Stops when `f` breaks; the stream then resumes at [`Lines::position`].
    pub(crate) fn feed(&mut self, mut data: &[u8], f: &mut PieceFn<'_>) -> ControlFlow<()> {
        while let Some(i) = memchr(b'\n', data) {
            let part = &data[..i];
            let line = self.numbered.then_some(self.next_line);
            let offset = self.next_offset;
            let total = self.cur_len + i as u64;
            let flow = if total > MAX_LINE as u64 {
                f(Piece::TooLong, line, offset)
            } else if self.buf.is_empty() {
                f(Piece::Line(part), line, offset)
            } else {
                self.buf.extend_from_slice(part);
                f(Piece::Line(&self.buf), line, offset)
            };
            self.next_offset = offset + total + 1;
            self.next_line += 1;
            self.buf.clear();
            self.cur_len = 0;
            flow?;
            data = &data[i + 1..];
        }
        self.cur_len += data.len() as u64;
        if self.cur_len <= MAX_LINE as u64 {
            self.buf.extend_from_slice(data);
        } else {
            self.buf.clear();
        }
        ControlFlow::Continue(())
    }

    /// The unterminated line left over, as damage.
    pub(crate) fn torn(&self, path: &Path, detail: &str) -> Damage {
        Damage::torn(
            path,
            self.numbered.then_some(self.next_line),
            self.next_offset,
            detail,
        )
    }

    /// Whether an unterminated line is left over.
    pub(crate) fn has_partial(&self) -> bool {
        self.cur_len > 0
    }
}

/// Hands a piece of a split stream to `sink`: a line, or the damage of one too long.
pub(crate) fn line_piece(
    path: &Path,
    sink: &mut dyn Sink,
    piece: Piece<'_>,
    line: Option<u64>,
    offset: u64,
) -> ControlFlow<()> {
    match piece {
        Piece::Line(bytes) => sink.line(bytes, Loc { path, line, offset }),
        Piece::TooLong => {
            sink.damage(Damage::too_long(path, line, offset));
            ControlFlow::Continue(())
        }
    }
}
