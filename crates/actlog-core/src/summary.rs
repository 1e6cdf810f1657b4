//! What a gzip member's header says about the records inside it, so readers can answer
//! counts without inflating it and skip it when no record in it can match.
//!
//! Maintenance computes a [`Summary`] of every member of whole lines it writes and stores
//! it in the member header's extra field next to `AS`/`AT`/`AL` (see `docs/FORMAT.md`):
//! subfield `AN` holds the line counts, `AU`, `AA` and `AP` the values of `username`,
//! `action` and `ip_address` (canonical form). A value set is exact, with each value's
//! count, while its encoding fits [`EXACT_BUDGET`] bytes; beyond that it is a Bloom filter
//! of [`BLOOM_BITS_PER_VALUE`] bits per distinct value ([`BLOOM_HASHES`] hashes, a false
//! positive rate of about 0.8%), never over [`BLOOM_MAX_BYTES`], so the whole extra field
//! stays under gzip's 64 KiB.
//!
//! Readers trust a summary only as far as they can check it cheaply ([`Summary::decode`]
//! refuses one whose counts do not add up), and `actlog verify` checks every summary
//! against the member's content.

use crate::record::{LiteRecord, MAX_LINE_LIMIT, Record, canonical_ip};
use std::collections::HashMap;

/// Subfield id of the line counts: `lines`, `valid`, `damaged`, three u64 LE.
pub const COUNTS_ID: [u8; 2] = *b"AN";
/// Subfield id of the `username` values.
pub const USERS_ID: [u8; 2] = *b"AU";
/// Subfield id of the `action` values.
pub const ACTIONS_ID: [u8; 2] = *b"AA";
/// Subfield id of the `ip_address` values, in canonical text (`::ffff:a.b.c.d` as `a.b.c.d`).
pub const IPS_ID: [u8; 2] = *b"AP";

/// Largest encoding of an exact value set; a larger set is stored as a Bloom filter.
pub const EXACT_BUDGET: usize = 1024;
/// Bloom filter bits per distinct value.
pub const BLOOM_BITS_PER_VALUE: usize = 10;
/// Bloom filter hash functions: optimal for 10 bits per value (false positives ≈ 0.82%).
pub const BLOOM_HASHES: u8 = 7;
/// Largest Bloom filter, in bytes: three of them and the other subfields stay under the
/// extra field's 65,535 bytes whatever a member holds.
pub const BLOOM_MAX_BYTES: usize = 16 * 1024;

/// Set tag: an exact set with counts.
const EXACT: u8 = b'E';
/// Set tag: a Bloom filter.
const BLOOM: u8 = b'B';

/// Earliest and latest record timestamp of a member, in milliseconds since 1970.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// Earliest.
    pub first_ms: i64,
    /// Latest.
    pub last_ms: i64,
}

/// What one member holds, by its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Lines in the member (each ends with a newline).
    pub lines: u64,
    /// Lines that are valid records.
    pub valid: u64,
    /// Lines that are not (torn, not JSON, not a record, over the line limit).
    pub damaged: u64,
    /// `username` of the valid records.
    pub users: Option<Values>,
    /// `action` of the valid records.
    pub actions: Option<Values>,
    /// `ip_address` of the valid records that have one, canonical.
    pub ips: Option<Values>,
}

/// The values one field takes in a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    /// Every value with its count (each at least 1), sorted by value, no value twice.
    Exact(Vec<(String, u64)>),
    /// Values that may occur: a value not in it certainly does not.
    Bloom(Bloom),
}

/// A Bloom filter over strings: bit `(h1 + i·h2) mod m` for `i < k`, where `h1`/`h2` are
/// the low and high halves of the value's XXH3-64 hash (`h2` made odd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    hashes: u8,
    bits: Vec<u8>,
}

impl Bloom {
    /// An empty filter sized for `n` values.
    fn with_capacity(n: usize) -> Bloom {
        let bytes = (n * BLOOM_BITS_PER_VALUE)
            .div_ceil(8)
            .clamp(8, BLOOM_MAX_BYTES);
        Bloom {
            hashes: BLOOM_HASHES,
            bits: vec![0; bytes],
        }
    }

    fn positions(&self, value: &str) -> impl Iterator<Item = usize> + use<> {
        let h = xxhash_rust::xxh3::xxh3_64(value.as_bytes());
        let (h1, h2) = (h as u32 as u64, (h >> 32) | 1);
        let m = (self.bits.len() * 8) as u64;
        (0..u64::from(self.hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn insert(&mut self, value: &str) {
        for p in self.positions(value) {
            self.bits[p / 8] |= 1 << (p % 8);
        }
    }

    /// Whether `value` may be in the set (false: it certainly is not).
    pub fn may_contain(&self, value: &str) -> bool {
        self.positions(value)
            .all(|p| self.bits[p / 8] & (1 << (p % 8)) != 0)
    }
}

impl Values {
    /// Whether `value` may occur (false: it certainly does not).
    pub fn may_contain(&self, value: &str) -> bool {
        match self {
            Values::Exact(set) => set.binary_search_by(|(v, _)| v.as_str().cmp(value)).is_ok(),
            Values::Bloom(b) => b.may_contain(value),
        }
    }

    /// The values with their counts, when the set is exact.
    pub fn exact(&self) -> Option<&[(String, u64)]> {
        match self {
            Values::Exact(set) => Some(set),
            Values::Bloom(_) => None,
        }
    }

    /// The exact set when it fits [`EXACT_BUDGET`], else a Bloom filter of its values.
    fn of(counts: HashMap<String, u64>) -> Values {
        let size = 2 + counts.keys().map(|v| 2 + v.len() + 4).sum::<usize>();
        let fits = size <= EXACT_BUDGET
            && counts
                .iter()
                .all(|(v, &n)| v.len() <= usize::from(u16::MAX) && n <= u64::from(u32::MAX));
        if fits {
            let mut set: Vec<(String, u64)> = counts.into_iter().collect();
            set.sort_unstable();
            return Values::Exact(set);
        }
        let mut bloom = Bloom::with_capacity(counts.len());
        for v in counts.keys() {
            bloom.insert(v);
        }
        Values::Bloom(bloom)
    }

    fn encode(&self, id: [u8; 2], extra: &mut Vec<u8>) {
        let mut body = Vec::new();
        match self {
            Values::Exact(set) => {
                body.push(EXACT);
                body.extend_from_slice(&(set.len() as u16).to_le_bytes());
                for (v, n) in set {
                    body.extend_from_slice(&(v.len() as u16).to_le_bytes());
                    body.extend_from_slice(v.as_bytes());
                    body.extend_from_slice(&(*n as u32).to_le_bytes());
                }
            }
            Values::Bloom(b) => {
                body.push(BLOOM);
                body.push(b.hashes);
                body.extend_from_slice(&b.bits);
            }
        }
        extra.extend_from_slice(&id);
        extra.extend_from_slice(&(body.len() as u16).to_le_bytes());
        extra.extend_from_slice(&body);
    }

    fn decode(body: &[u8]) -> Option<Values> {
        let (&tag, rest) = body.split_first()?;
        match tag {
            EXACT => {
                let n = usize::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?));
                let mut at = 2;
                let mut set = Vec::with_capacity(n);
                for _ in 0..n {
                    let len =
                        usize::from(u16::from_le_bytes(rest.get(at..at + 2)?.try_into().ok()?));
                    let v = std::str::from_utf8(rest.get(at + 2..at + 2 + len)?).ok()?;
                    at += 2 + len;
                    let count = u32::from_le_bytes(rest.get(at..at + 4)?.try_into().ok()?);
                    at += 4;
                    set.push((v.to_owned(), u64::from(count)));
                }
                let sorted = set.windows(2).all(|w| w[0].0 < w[1].0);
                (at == rest.len() && sorted && set.iter().all(|(_, n)| *n > 0))
                    .then_some(Values::Exact(set))
            }
            BLOOM => {
                let (&hashes, bits) = rest.split_first()?;
                ((1..=32).contains(&hashes) && !bits.is_empty()).then(|| {
                    Values::Bloom(Bloom {
                        hashes,
                        bits: bits.to_vec(),
                    })
                })
            }
            _ => None,
        }
    }

    fn total(&self) -> Option<u64> {
        self.exact().map(|s| s.iter().map(|(_, n)| n).sum())
    }
}

impl Summary {
    /// Appends the summary's subfields to a gzip extra field.
    pub fn encode_into(&self, extra: &mut Vec<u8>) {
        extra.extend_from_slice(&COUNTS_ID);
        extra.extend_from_slice(&24u16.to_le_bytes());
        for n in [self.lines, self.valid, self.damaged] {
            extra.extend_from_slice(&n.to_le_bytes());
        }
        for (id, values) in [
            (USERS_ID, &self.users),
            (ACTIONS_ID, &self.actions),
            (IPS_ID, &self.ips),
        ] {
            if let Some(v) = values {
                v.encode(id, extra);
            }
        }
    }

    /// The summary in a gzip extra field, if it has one that is consistent in itself
    /// (lines = valid + damaged; an exact `username` or `action` set counts every valid
    /// record, an exact `ip_address` set at most that many); a value set that cannot be
    /// decoded is left out (unknown), as are subfields this version does not know.
    pub fn decode(extra: &[u8]) -> Option<Summary> {
        Summary::decode_raw(extra)?.ok()
    }

    /// [`Summary::decode`], telling a refused summary from none: `None` without an `AN`
    /// subfield, `Some(Err(why))` when there is one that readers refuse (what `actlog
    /// verify` reports).
    pub fn decode_raw(extra: &[u8]) -> Option<std::result::Result<Summary, &'static str>> {
        let counts = crate::extra::subfield(extra, COUNTS_ID)?;
        if counts.len() != 24 {
            return Some(Err("its counts subfield AN is not 24 bytes long"));
        }
        let num = |i: usize| u64::from_le_bytes(counts[i..i + 8].try_into().unwrap_or([0; 8]));
        let set = |id| crate::extra::subfield(extra, id).and_then(Values::decode);
        let s = Summary {
            lines: num(0),
            valid: num(8),
            damaged: num(16),
            users: set(USERS_ID),
            actions: set(ACTIONS_ID),
            ips: set(IPS_ID),
        };
        let whole = |v: &Option<Values>| {
            v.as_ref()
                .and_then(Values::total)
                .is_none_or(|t| t == s.valid)
        };
        Some(if s.valid.checked_add(s.damaged) != Some(s.lines) {
            Err("its lines are not its valid records plus its damaged lines")
        } else if !whole(&s.users) {
            Err("its username counts do not add up to its valid records")
        } else if !whole(&s.actions) {
            Err("its action counts do not add up to its valid records")
        } else if s
            .ips
            .as_ref()
            .and_then(Values::total)
            .is_some_and(|t| t > s.valid)
        {
            Err("its ip_address counts add up to more than its valid records")
        } else {
            Ok(s)
        })
    }

    /// Every `username`, `action` and `ip_address` value of whole lines `data` with its
    /// count, exactly (however many), by the same rules as [`Summary::of_lines`]: what a
    /// summary is checked against.
    pub fn count_values(data: &[u8]) -> ValueCounts {
        let tally = Tally::of(data);
        ValueCounts {
            users: tally.users,
            actions: tally.actions,
            ips: tally.ips,
        }
    }

    /// Summarises whole lines `data` (every line ends with a newline, the last one
    /// included), and returns their records' time range too: one pass for both.
    ///
    /// A line is valid exactly when readers count it as a record: at most
    /// [`MAX_LINE_LIMIT`] bytes and accepted by [`Record::parse_line`] (tried only when
    /// the light parse refuses it, as readers do).
    pub fn of_lines(data: &[u8]) -> (Summary, Option<TimeBounds>) {
        Tally::of(data).finish()
    }
}

/// The values of a member's valid records, each with its count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueCounts {
    /// `username` values.
    pub users: HashMap<String, u64>,
    /// `action` values.
    pub actions: HashMap<String, u64>,
    /// `ip_address` values, canonical.
    pub ips: HashMap<String, u64>,
}

/// Counts and values gathered line by line.
#[derive(Default)]
struct Tally {
    lines: u64,
    valid: u64,
    users: HashMap<String, u64>,
    actions: HashMap<String, u64>,
    ips: HashMap<String, u64>,
    bounds: Option<TimeBounds>,
}

impl Tally {
    fn of(data: &[u8]) -> Tally {
        let mut tally = Tally::default();
        let mut rest = data;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            tally.line(line);
            rest = next;
        }
        tally
    }

    fn line(&mut self, line: &[u8]) {
        self.lines += 1;
        if line.len() > MAX_LINE_LIMIT {
            return;
        }
        let (username, action, ip, ts) = if let Some(r) = LiteRecord::parse(line) {
            (
                r.username.into_owned(),
                r.action.into_owned(),
                r.ip_address,
                r.timestamp,
            )
        } else if let Ok(r) = Record::parse_line(line) {
            (r.username, r.action, r.ip_address, r.timestamp)
        } else {
            return;
        };
        self.valid += 1;
        *self.users.entry(username).or_default() += 1;
        *self.actions.entry(action).or_default() += 1;
        if let Some(ip) = ip {
            *self.ips.entry(canonical_ip(ip).to_string()).or_default() += 1;
        }
        let t = ts.timestamp_millis();
        self.bounds = Some(match self.bounds {
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

    fn finish(self) -> (Summary, Option<TimeBounds>) {
        let summary = Summary {
            lines: self.lines,
            valid: self.valid,
            damaged: self.lines - self.valid,
            users: Some(Values::of(self.users)),
            actions: Some(Values::of(self.actions)),
            ips: Some(Values::of(self.ips)),
        };
        (summary, self.bounds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(user: &str, action: &str, ip: Option<&str>) -> String {
        let ip = ip.map_or(String::new(), |ip| format!(",\"ip_address\":\"{ip}\""));
        format!(
            "{{\"id\":\"01900000-0000-7000-8000-000000000000\",\"timestamp\":\"2026-11-01T00:00:00.000Z\",\"username\":\"{user}\",\"action\":\"{action}\"{ip}}}\n"
        )
    }

    #[test]
    fn counts_values_and_damage_round_trip() {
        let mut data = String::new();
        data += &line("alice", "a.b", Some("::ffff:203.0.113.7"));
        data += &line("bob", "a.b", None);
        data += "{torn\n";
        data += &line("alice", "c", Some("203.0.113.7"));
        let (s, bounds) = Summary::of_lines(data.as_bytes());
        assert_eq!((s.lines, s.valid, s.damaged), (4, 3, 1));
        assert!(bounds.is_some());
        assert_eq!(
            s.users.as_ref().and_then(Values::exact),
            Some(&[("alice".to_owned(), 2), ("bob".to_owned(), 1)][..])
        );
        assert_eq!(
            s.ips.as_ref().and_then(Values::exact),
            Some(&[("203.0.113.7".to_owned(), 2)][..])
        );
        let mut extra = b"XY\x01\x00z".to_vec();
        s.encode_into(&mut extra);
        assert_eq!(Summary::decode(&extra), Some(s));
    }

    #[test]
    fn a_large_set_becomes_a_bloom_filter_without_false_negatives() {
        let mut data = String::new();
        for i in 0..3000 {
            data += &line(&format!("user{i:05}"), "x", None);
        }
        let (s, _) = Summary::of_lines(data.as_bytes());
        let users = s.users.clone().unwrap();
        assert!(users.exact().is_none());
        assert!((0..3000).all(|i| users.may_contain(&format!("user{i:05}"))));
        let false_positives = (3000..103_000)
            .filter(|i| users.may_contain(&format!("user{i:05}")))
            .count();
        assert!(false_positives < 1500, "{false_positives} of 100,000");
        let mut extra = Vec::new();
        s.encode_into(&mut extra);
        assert!(extra.len() < 65_535);
        assert_eq!(Summary::decode(&extra), Some(s));
    }

    #[test]
    fn inconsistent_summaries_are_refused() {
        let (mut s, _) = Summary::of_lines(line("alice", "x", None).as_bytes());
        s.valid = 2;
        let mut extra = Vec::new();
        s.encode_into(&mut extra);
        assert_eq!(Summary::decode(&extra), None, "lines != valid + damaged");
        s.lines = 2;
        let mut extra = Vec::new();
        s.encode_into(&mut extra);
        assert_eq!(Summary::decode(&extra), None, "exact counts do not add up");
        assert_eq!(Summary::decode(b"AN\x03\x00abc"), None);
    }
}
