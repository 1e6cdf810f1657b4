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

/// A number text taken apart without allocating: what [`Decimal`] holds, its digits
/// still in the text.
struct Parts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    /// Leading zeros of `int` then `frac`, skipped.
    lead: usize,
    /// Digits after `lead` up to the trailing zeros.
    significant: usize,
    exp: i64,
}

impl<'a> Parts<'a> {
    fn of(s: &'a str) -> Option<Parts<'a>> {
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
        let all = int.bytes().chain(frac.bytes());
        let lead = all.clone().take_while(|&b| b == b'0').count();
        let trail = all.rev().take_while(|&b| b == b'0').count();
        let significant = (int.len() + frac.len()).saturating_sub(lead + trail);
        if significant == 0 {
            // Zero, whatever its sign or spelling.
            return Some(Parts {
                negative: false,
                int,
                frac,
                lead,
                significant,
                exp: 0,
            });
        }
        Some(Parts {
            negative,
            int,
            frac,
            lead,
            significant,
            exp: exp10 + int.len() as i64 - lead as i64,
        })
    }

    fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.int
            .bytes()
            .chain(self.frac.bytes())
            .skip(self.lead)
            .take(self.significant)
            .map(|b| b - b'0')
    }
}

impl Decimal {
    /// A JSON-style number (`-12`, `1.50`, `1e2`, `.5`, `+3`), else `None` (`0x10`, `inf`).
    pub fn parse(s: &str) -> Option<Decimal> {
        let parts = Parts::of(s)?;
        Some(Decimal {
            negative: parts.negative,
            digits: parts.digits().collect(),
            exp: parts.exp,
        })
    }

    /// How number text `s` orders against `self`, as `Decimal::parse(s)?.cmp(self)`
    /// would say, without allocating (it runs on every line of a numeric `--where`).
    pub fn text_cmp(s: &str, other: &Decimal) -> Option<Ordering> {
        let a = Parts::of(s)?;
        let magnitude = || match (a.significant == 0, other.digits.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => a
                .exp
                .cmp(&other.exp)
                .then_with(|| a.digits().cmp(other.digits.iter().copied())),
        };
        Some(match (a.negative, other.negative) {
            (false, false) => magnitude(),
            (true, true) => magnitude().reverse(),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cmp_orders_as_parse_then_cmp_for_every_pair_of_spellings() {
        let texts = [
            "0",
            "-0",
            "+0",
            "0.000",
            "00",
            "1",
            "1.0",
            "1.50",
            "1.5",
            "-1.5",
            "15e-1",
            "1e2",
            "100",
            "100.0000",
            "0.1",
            ".1",
            "-.1",
            "1e-1",
            "99999999999999999999",
            "100000000000000000001",
            "1e20",
            "-1e20",
            "-100000000000000000001",
            "7",
            "-7",
            "0.5",
            "5e-1",
            "4.0000000000000000001",
            "x",
            "",
            "1e",
            "--1",
            "1.2.3",
        ];
        for a in texts {
            for b in texts {
                let Some(bd) = Decimal::parse(b) else {
                    continue;
                };
                let expected = Decimal::parse(a).map(|ad| ad.cmp(&bd));
                assert_eq!(Decimal::text_cmp(a, &bd), expected, "{a} against {b}");
            }
        }
        assert_eq!(compare("1.50", "1.5"), Some(Ordering::Equal));
        assert_eq!(compare("-0", "0"), Some(Ordering::Equal));
        assert_eq!(
            compare("100000000000000000001", "1e20"),
            Some(Ordering::Greater)
        );
    }
}
