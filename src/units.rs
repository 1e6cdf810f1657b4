//! Sizes and counts as people read and type them: `1.2 GiB`, `6,000,000`, `1 day`, and
//! the `--max-bytes` forms `20G`, `512M`, `1.5GiB`, `1000000`.

/// The suffixes a size may carry, each a power of 1024 as `du -h` and `sort -h` mean them.
const UNITS: [(&str, u32); 4] = [("K", 1), ("M", 2), ("G", 3), ("T", 4)];

/// Parses a size: a whole number of bytes (`1000000`, `1000000B`), or a number (a
/// fraction allowed) with K, M, G or T, optionally followed by `iB` (`512M`, `1.5GiB`),
/// each a power of 1024; the letter's case does not matter. Fractions of a byte are
/// dropped.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        "expected bytes (1000000) or a number with K, M, G or T (powers of 1024), e.g. 512M, 20G, 1.5GiB".to_owned()
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let power = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        s => {
            let letter = s.strip_suffix("IB").unwrap_or(s);
            UNITS
                .iter()
                .find(|(u, _)| *u == letter)
                .map(|(_, p)| *p)
                .ok_or_else(bad)?
        }
    };
    let valid_number = !number.is_empty()
        && number.matches('.').count() <= 1
        && !number.starts_with('.')
        && !number.ends_with('.');
    if !valid_number {
        return Err(bad());
    }
    let scale = 1u128 << (10 * power);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if power == 0 && !frac.is_empty() {
        return Err("a number of bytes must be whole (a fraction needs K, M, G or T)".to_owned());
    }
    let too_big = || format!("more than the most, {} bytes", u64::MAX);
    let whole: u128 = whole.parse().map_err(|_| too_big())?;
    let mut bytes = whole.checked_mul(scale).ok_or_else(too_big)?;
    // The fraction in exact integers, so that 1.5G is exactly 1610612736; digits past
    // the 18th cannot change a u64 count of bytes by a whole byte.
    let frac = &frac[..frac.len().min(18)];
    if !frac.is_empty() {
        let numerator: u128 = frac.parse().map_err(|_| bad())?;
        bytes += numerator * scale / 10u128.pow(frac.len() as u32);
    }
    u64::try_from(bytes).map_err(|_| too_big())
}

/// A size in binary units with one decimal (`1.2 GiB`), exact below 1 KiB (`512 B`).
pub fn human_bytes(n: u64) -> String {
    const NAMES: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // Round first, so that 1023.96 KiB reads 1.0 MiB and never 1024.0 KiB.
    while (value * 10.0).round() / 10.0 >= 1024.0 && unit + 1 < NAMES.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", NAMES[unit])
}

/// A count with thousands separators: `6,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and the noun, singular for exactly one: `1 day`, `2 days`, `6,000,000 records`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_du_users_expect() {
        assert_eq!(parse_size("1000000"), Ok(1_000_000));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("20g"), Ok(20 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in [
            "", "G", "1.2.3G", ".5G", "5.G", "12X", "1.5", "-1", "1 GB", "16E",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1_288_490_189), "1.2 GiB");
        assert_eq!(human_bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(thousands(6_000_000), "6,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(count(1, "day", "days"), "1 day");
    }
}
