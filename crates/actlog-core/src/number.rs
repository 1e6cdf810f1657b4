//! Numbers compared exactly by value, whatever their spelling: `--where` and the record's
//! own checks see `1.50 = 1.5`, `-0 = 0` and `100000000000000000001 > 1e20`, which f64
//! cannot tell apart.

use std::cmp::Ordering;

/// A decimal number held exactly, so huge integers and long decimals compare right:
/// `0.DIGITS x 10^exp`, digits without leading or trailing zeros (none for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Decimal {
    /// A JSON-style number (`-12`, `1.50`, `1e2`, `.5`, `+3`), else `None` (`0x10`, `inf`).
    pub fn parse(s: &str) -> Option<Decimal> {
        let (negative, s) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let exp10: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                // Past 18 digits the exponent is out of any sensible range.
                if digits.is_empty()
                    || digits.len() > 18
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                e.parse().ok()?
            }
        };
        // One allocation: this runs on every line of a numeric `--where` scan.
        let all = || int.bytes().chain(frac.bytes());
        let lead = all().take_while(|&b| b == b'0').count();
        let trail = all().rev().take_while(|&b| b == b'0').count();
        let significant = (int.len() + frac.len()).saturating_sub(lead + trail);
        let digits: Vec<u8> = all()
            .skip(lead)
            .take(significant)
            .map(|b| b - b'0')
            .collect();
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits,
                exp: 0,
            });
        }
        let exp = exp10 + int.len() as i64 - lead as i64;
        Some(Decimal {
            negative,
            digits,
            exp,
        })
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two number texts exactly; `None` unless both are numbers.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(Decimal::parse(a)?.cmp(&Decimal::parse(b)?))
}
