//! What a gzip member of a day records about itself, in its header's extra field
//! (subfield `AL`, ignored by `zcat`): which bytes of which plain day file it holds.
//!
//! Maintenance folds a plain file into the day's `.gz` and then removes the plain file.
//! Between the two steps (or after a crash there) both exist; readers and the next run use
//! this marker to skip the part of the plain file already in the `.gz`, so no record is
//! returned twice. The plain file is identified by the CRC-32 of its first bytes, which
//! start with a record holding a unique id.

use serde::{Deserialize, Serialize};

/// The extra-field subfield id: `A`, `L`.
pub const SUBFIELD_ID: [u8; 2] = *b"AL";

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
    let mut rest = extra;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let body = rest.get(4..4 + len)?;
        if rest[..2] == SUBFIELD_ID {
            return serde_json::from_slice(body).ok();
        }
        rest = &rest[4 + len..];
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

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
