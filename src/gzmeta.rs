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
