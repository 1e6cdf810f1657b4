//! What a gzip member of a day records about itself, in its header's extra field (which
//! `zcat` ignores): its own total length (subfield `AS`, as BGZF does), so readers can hop
//! from member to member and inflate them on several cores; and which bytes of which plain
//! day file it holds (subfield `AL`).
//!
//! Maintenance folds a plain file into the day's `.gz` and then removes the plain file.
//! Between the two steps (or after a crash there) both exist; readers and the next run use
//! this marker to skip the part of the plain file already in the `.gz`, so no record is
//! returned twice. The plain file is identified by the CRC-32 of its first bytes, which
//! start with a record holding a unique id.

use crate::summary::Summary;
use serde::{Deserialize, Serialize};

/// The extra-field subfield id of [`Covers`]: `A`, `L`.
pub const SUBFIELD_ID: [u8; 2] = *b"AL";

/// The extra-field subfield id of a member's total length in bytes (u32, little-endian):
/// `A`, `S`.
pub const SIZE_ID: [u8; 2] = *b"AS";

/// The extra-field subfield id of the earliest and latest record timestamp in a member
/// (two i64 little-endian, milliseconds since 1970): `A`, `T`. Only written on members
/// that hold whole lines, so a reader may skip such a member or read it alone.
pub const TIME_ID: [u8; 2] = *b"AT";

pub use crate::summary::TimeBounds;

/// Longest head of a plain file that identifies it.
pub const HEAD_LEN: u64 = 4096;

/// The plain-file bytes a gzip member holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Covers {
    /// CRC-32 of the plain file's first `head_len` bytes.
    pub head_crc32: u32,
    /// How many leading bytes the CRC covers: `min(HEAD_LEN, file length)` at fold time.
    pub head_len: u64,
    /// First byte of the plain file held by this member.
    pub from: u64,
    /// One past the last byte held (always just after a newline).
    pub to: u64,
}

/// Encodes `covers` as a gzip extra field (one `AL` subfield).
pub fn encode_extra(covers: &Covers) -> Vec<u8> {
    let payload = serde_json::to_vec(covers).unwrap_or_default();
    let mut extra = Vec::with_capacity(4 + payload.len());
    extra.extend_from_slice(&SUBFIELD_ID);
    extra.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    extra.extend_from_slice(&payload);
    extra
}

/// Finds the `AL` subfield in a gzip extra field; `None` when absent or malformed.
pub fn decode_extra(extra: &[u8]) -> Option<Covers> {
    serde_json::from_slice(crate::extra::subfield(extra, SUBFIELD_ID)?).ok()
}

/// Compresses `data` into one complete gzip member whose header records the member's
/// total length (and `covers`, when given), without a summary: how files were written
/// before summaries existed.
pub fn encode_member(
    data: &[u8],
    level: flate2::Compression,
    covers: Option<&Covers>,
    bounds: Option<TimeBounds>,
) -> std::io::Result<Vec<u8>> {
    encode_member_with(data, level, covers, bounds, None)
}

/// Compresses whole lines `data` (ending with a newline) into one member that records
/// their time range and [`Summary`]: what maintenance writes.
pub fn encode_lines(
    data: &[u8],
    level: flate2::Compression,
    covers: Option<&Covers>,
) -> std::io::Result<Vec<u8>> {
    let (summary, bounds) = Summary::of_lines(data);
    encode_member_with(data, level, covers, bounds, Some(&summary))
}

/// [`encode_member`] with a summary in the header.
pub fn encode_member_with(
    data: &[u8],
    level: flate2::Compression,
    covers: Option<&Covers>,
    bounds: Option<TimeBounds>,
    summary: Option<&Summary>,
) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::with_capacity(data.len() / 4), level);
    deflate.write_all(data)?;
    let body = deflate.finish()?;
    let mut extra = Vec::with_capacity(64);
    extra.extend_from_slice(&SIZE_ID);
    extra.extend_from_slice(&4u16.to_le_bytes());
    extra.extend_from_slice(&[0; 4]); // patched below
    if let Some(b) = bounds {
        extra.extend_from_slice(&TIME_ID);
        extra.extend_from_slice(&16u16.to_le_bytes());
        extra.extend_from_slice(&b.first_ms.to_le_bytes());
        extra.extend_from_slice(&b.last_ms.to_le_bytes());
    }
    if let Some(c) = covers {
        extra.extend(encode_extra(c));
    }
    if let Some(s) = summary {
        s.encode_into(&mut extra);
    }
    let xlen = u16::try_from(extra.len())
        .map_err(|_| std::io::Error::other("gzip extra field over 64 KiB"))?;
    // ID1 ID2 CM FLG(FEXTRA) MTIME(4) XFL OS(unknown) XLEN
    let mut member = vec![0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 255];
    member.extend_from_slice(&xlen.to_le_bytes());
    member.extend_from_slice(&extra);
    member.extend_from_slice(&body);
    member.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    member.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let total =
        u32::try_from(member.len()).map_err(|_| std::io::Error::other("gzip member over 4 GiB"))?;
    member[16..20].copy_from_slice(&total.to_le_bytes());
    Ok(member)
}

/// One gzip member found by its header alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Where it starts in the file.
    pub offset: u64,
    /// Its total length.
    pub len: u64,
    /// What plain-file bytes it holds, if it says.
    pub covers: Option<Covers>,
    /// Its records' time range, if it says (then it holds whole lines).
    pub bounds: Option<TimeBounds>,
    /// What its records are, if it says and the summary is consistent in itself.
    pub summary: Option<std::sync::Arc<Summary>>,
}

/// Every member of a gzip file, found by hopping from header to header, when every member
/// records its length and together they fill the file exactly; otherwise `None` (read the
/// file from the start instead).
pub fn member_index(file: &std::fs::File) -> std::io::Result<Option<Vec<Member>>> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut members = Vec::new();
    let mut offset = 0u64;
    while offset < len {
        let mut head = [0u8; 12];
        if file.read_exact_at(&mut head, offset).is_err()
            || head[..3] != [0x1f, 0x8b, 8]
            || head[3] & 0x04 == 0
        {
            return Ok(None);
        }
        let xlen = u64::from(u16::from_le_bytes([head[10], head[11]]));
        let mut extra = vec![0u8; xlen as usize];
        if file.read_exact_at(&mut extra, offset + 12).is_err() {
            return Ok(None);
        }
        let Some(size) = crate::extra::subfield(&extra, SIZE_ID).filter(|b| b.len() == 4) else {
            return Ok(None);
        };
        let size = u64::from(u32::from_le_bytes([size[0], size[1], size[2], size[3]]));
        if size < 12 + xlen + 8 || offset + size > len {
            return Ok(None);
        }
        let bounds = crate::extra::subfield(&extra, TIME_ID)
            .filter(|b| b.len() == 16)
            .map(|b| {
                let num = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
                TimeBounds {
                    first_ms: num(0),
                    last_ms: num(8),
                }
            });
        members.push(Member {
            offset,
            len: size,
            covers: decode_extra(&extra),
            bounds,
            summary: Summary::decode(&extra).map(std::sync::Arc::new),
        });
        offset += size;
    }
    Ok(Some(members))
}

/// The extra field of the member whose header starts at `offset` (empty when it has
/// none): what [`member_index`] reads, for a check that needs more than it keeps, such as
/// a summary it refused.
pub fn member_extra(file: &std::fs::File, offset: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 12];
    file.read_exact_at(&mut head, offset)?;
    if head[..3] != [0x1f, 0x8b, 8] || head[3] & 0x04 == 0 {
        return Ok(Vec::new());
    }
    let mut extra = vec![0u8; usize::from(u16::from_le_bytes([head[10], head[11]]))];
    file.read_exact_at(&mut extra, offset + 12)?;
    Ok(extra)
}

/// Whether the first member's header records a length (so the file is meant to be indexed).
pub fn first_member_indexed(file: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 12];
    if file.read_exact_at(&mut head, 0).is_err()
        || head[..3] != [0x1f, 0x8b, 8]
        || head[3] & 0x04 == 0
    {
        return false;
    }
    let mut extra = vec![0u8; usize::from(u16::from_le_bytes([head[10], head[11]]))];
    file.read_exact_at(&mut extra, 12).is_ok() && crate::extra::subfield(&extra, SIZE_ID).is_some()
}

/// A plain day file's length and its first bytes: what coverage markers' CRC is of. The
/// one reading of it, for maintenance (to write markers) and every reader (to match them).
pub fn read_head(
    plain: &std::fs::File,
    path: &std::path::Path,
) -> crate::error::Result<(u64, Vec<u8>)> {
    use std::os::unix::fs::FileExt;
    let io = |op, e| crate::error::Error::io(path, op, e);
    let len = plain.metadata().map_err(|e| io("stat", e))?.len();
    let mut head = vec![0u8; usize::try_from(HEAD_LEN.min(len)).unwrap_or(0)];
    plain
        .read_exact_at(&mut head, 0)
        .map_err(|e| io("read", e))?;
    Ok((len, head))
}

/// How many leading bytes of a plain file (whose first bytes are `head`, and whose length
/// is `len`) are already held by members marked `covers`, in member order.
pub fn covered_prefix(covers: &[Covers], head: &[u8], len: u64) -> u64 {
    let mut end = 0;
    for c in covers {
        let Ok(n) = usize::try_from(c.head_len) else {
            continue;
        };
        if head.len() < n || crc32fast::hash(&head[..n]) != c.head_crc32 {
            continue;
        }
        if c.from <= end && c.to > end && c.to <= len {
            end = c.to;
        }
    }
    end
}

/// Inflates every member of a `.gz` (checking CRCs and that nothing follows the last
/// member) and collects their coverage markers. An empty file is not gzip.
pub fn check_members(file: &std::fs::File) -> std::result::Result<Vec<Covers>, String> {
    let mut input = std::io::BufReader::with_capacity(256 * 1024, file);
    let mut covers = Vec::new();
    let mut sink = vec![0u8; 256 * 1024];
    let mut member = 0;
    loop {
        match std::io::BufRead::fill_buf(&mut input) {
            Ok([]) if member == 0 => return Err("an empty file (0 bytes), not gzip".into()),
            Ok([]) => return Ok(covers),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        let mut d = flate2::bufread::GzDecoder::new(input);
        loop {
            match std::io::Read::read(&mut d, &mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let what = if member > 0 && d.header().is_none() {
                        "trailing garbage after the last gzip member"
                    } else {
                        "a damaged gzip member"
                    };
                    return Err(format!("{what} (member {}): {e}", member + 1));
                }
            }
        }
        if let Some(c) = d.header().and_then(|h| h.extra()).and_then(decode_extra) {
            covers.push(c);
        }
        input = d.into_inner();
        member += 1;
    }
}

/// The earliest and latest timestamp of the valid records in whole lines `data`; `None`
/// when there is none (such a member is always read).
pub fn time_bounds(data: &[u8]) -> Option<TimeBounds> {
    let mut bounds: Option<TimeBounds> = None;
    for line in data.split(|&b| b == b'\n') {
        // A line the light parse refuses may still be a record (duplicate keys), as
        // readers count it.
        let t = match crate::record::LiteRecord::parse(line) {
            Some(r) => r.timestamp,
            None if line.len() <= crate::record::MAX_LINE_LIMIT => {
                match crate::record::Record::parse_line(line) {
                    Ok(r) => r.timestamp,
                    Err(_) => continue,
                }
            }
            None => continue,
        }
        .timestamp_millis();
        bounds = Some(match bounds {
            None => TimeBounds {
                first_ms: t,
                last_ms: t,
            },
            Some(b) => TimeBounds {
                first_ms: b.first_ms.min(t),
                last_ms: b.last_ms.max(t),
            },
        });
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_record_their_length_and_are_found_without_inflating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gz");
        let c = Covers {
            head_crc32: 7,
            head_len: 10,
            from: 0,
            to: 10,
        };
        let t = TimeBounds {
            first_ms: -5,
            last_ms: 1_795_000_000_000,
        };
        let mut file =
            encode_member(b"one\ntwo\n", flate2::Compression::default(), None, Some(t)).unwrap();
        file.extend(
            encode_member(b"three\n", flate2::Compression::fast(), Some(&c), None).unwrap(),
        );
        file.extend(encode_member(b"", flate2::Compression::default(), None, None).unwrap());
        std::fs::write(&path, &file).unwrap();
        let index = member_index(&std::fs::File::open(&path).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(index.len(), 3);
        assert_eq!(index[0].offset, 0);
        assert_eq!(index[1].offset, index[0].len);
        assert_eq!(index[1].covers, Some(c));
        assert_eq!((index[0].bounds, index[1].bounds), (Some(t), None));
        assert_eq!(index.iter().map(|m| m.len).sum::<u64>(), file.len() as u64);
        // Standard gzip for everyone else.
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&file[..]), &mut text)
            .unwrap();
        assert_eq!(text, "one\ntwo\nthree\n");
        // Anything else: no index, read from the start.
        std::fs::write(&path, &file[..file.len() - 3]).unwrap();
        assert_eq!(
            member_index(&std::fs::File::open(&path).unwrap()).unwrap(),
            None
        );
        let mut plain = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut plain, b"x\n").unwrap();
        std::fs::write(&path, plain.finish().unwrap()).unwrap();
        assert_eq!(
            member_index(&std::fs::File::open(&path).unwrap()).unwrap(),
            None
        );
    }

    #[test]
    fn extra_field_round_trips_among_other_subfields() {
        let c = Covers {
            head_crc32: 0xdead_beef,
            head_len: 4096,
            from: 0,
            to: 123_456,
        };
        let mut extra = b"BC\x02\x00\x10\x00".to_vec();
        extra.extend(encode_extra(&c));
        assert_eq!(decode_extra(&extra), Some(c));
        assert_eq!(decode_extra(b"BC\x02\x00\x10\x00"), None);
        assert_eq!(decode_extra(b"AL\x05\x00{bad}"), None);
        assert_eq!(decode_extra(b"AL\xff\x00{}"), None, "length past the end");
        assert_eq!(decode_extra(b""), None);
    }

    #[test]
    fn only_matching_contiguous_ranges_count() {
        let head = b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n";
        let crc = crc32fast::hash(&head[..10]);
        let at = |from, to| Covers {
            head_crc32: crc,
            head_len: 10,
            from,
            to,
        };
        assert_eq!(covered_prefix(&[at(0, 12)], head, 24), 12);
        assert_eq!(covered_prefix(&[at(0, 12), at(12, 24)], head, 24), 24);
        assert_eq!(
            covered_prefix(&[at(12, 24)], head, 24),
            0,
            "must start at 0"
        );
        assert_eq!(
            covered_prefix(&[at(0, 30)], head, 24),
            0,
            "more than the file holds"
        );
        let other = Covers {
            head_crc32: crc ^ 1,
            ..at(0, 12)
        };
        assert_eq!(covered_prefix(&[other], head, 24), 0, "another plain file");
        assert_eq!(
            covered_prefix(&[at(0, 12)], &head[..5], 24),
            0,
            "head too short to check"
        );
    }
}
