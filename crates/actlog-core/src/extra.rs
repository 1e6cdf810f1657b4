//! Subfields of a gzip member header's extra field (RFC 1952 section 2.3.1.1: two id
//! bytes, a little-endian 16-bit length, the data), which every gzip reader skips.

/// The body of subfield `id` in a gzip extra field.
pub fn subfield(extra: &[u8], id: [u8; 2]) -> Option<&[u8]> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let body = rest.get(4..4 + len)?;
        if rest[..2] == id {
            return Some(body);
        }
        rest = &rest[4 + len..];
    }
    None
}
