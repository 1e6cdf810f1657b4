//! Time expressions of CONTRACT section 4 (`--since`, `--until`, and everywhere else a
//! time is taken): RFC 3339 with `Z` or an offset, a date, a date and time in UTC,
//! `@EPOCH`, `now`, `today`, `yesterday`, `tomorrow`, or a relative time such as `15m`,
//! `-2h` or `7d ago`. All in UTC, relative to a `now` that is passed in.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

const EXPECTED: &str = "expected RFC 3339 (2026-11-24T13:45:00Z or with an offset), a date (2026-11-24), a UTC date and time (2026-11-24 13:45, seconds optional), @EPOCH, now, today, yesterday, tomorrow, or a relative time (15m, -2h, 7d ago)";

/// A text that is not a time of CONTRACT section 4; the message names the problem, the
/// caller names the flag and the text (`--since "2026-11-31": no such date 2026-11-31`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not any of the forms (the text is kept for callers; the message leaves it to them).
    #[error("is not a time: {EXPECTED}")]
    Unknown(String),
    /// Shaped as a date, but the calendar has no such day (`2026-11-31`).
    #[error("no such date {date}")]
    NoSuchDate {
        /// The text given.
        text: String,
        /// Its date part.
        date: String,
    },
}

/// Parses any TIME form of CONTRACT section 4; a bare relative time means that long
/// before `now`. The one parser for `--since`, `--until`, `--at`, `--now` and HTTP.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let s = text.trim();
    let fail = || TimeError::Unknown(text.to_owned());
    let today = now.date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    match s.to_ascii_lowercase().as_str() {
        "now" => return Ok(now),
        "today" => return today.ok_or_else(fail),
        "yesterday" => {
            return today
                .and_then(|t| t.checked_sub_signed(Duration::days(1)))
                .ok_or_else(fail);
        }
        "tomorrow" => {
            return today
                .and_then(|t| t.checked_add_signed(Duration::days(1)))
                .ok_or_else(fail);
        }
        _ => {}
    }
    if let Some(epoch) = s.strip_prefix('@') {
        return parse_epoch(epoch).ok_or_else(fail);
    }
    if let Some(date) = date_shaped(s) {
        if NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            return Err(TimeError::NoSuchDate {
                text: text.to_owned(),
                date: date.to_owned(),
            });
        }
        return parse_dated(s).ok_or_else(fail);
    }
    let ago = parse_relative(s).ok_or_else(fail)?;
    now.checked_sub_signed(ago).ok_or_else(fail)
}

/// The `YYYY-MM-DD` a text starts with (digits in those places), if it does.
fn date_shaped(s: &str) -> Option<&str> {
    let date = s.get(..10)?;
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)).then_some(date)
}

/// A text starting with a valid date: the date alone, RFC 3339, or a UTC date and time
/// with a space (or `T`) and no offset, as journalctl takes it.
fn parse_dated(s: &str) -> Option<DateTime<Utc>> {
    if s.len() == 10 {
        let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    if let Ok(ts) = DateTime::parse_from_rfc3339(s) {
        return Some(ts.with_timezone(&Utc));
    }
    let rest = s.get(10..)?;
    if !rest.starts_with(' ') {
        return None;
    }
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(|t| t.and_utc())
}

/// `1732456712` or `1732456712.5` seconds since 1970 (negative allowed).
fn parse_epoch(s: &str) -> Option<DateTime<Utc>> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = whole.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let nanos = secs
        .checked_mul(1_000_000_000)?
        .checked_add(sign * frac_nanos)?;
    Some(Utc.timestamp_nanos(nanos))
}

/// `15m`, `-2h`, `7d ago`, `1h30m`: a duration into the past.
fn parse_relative(s: &str) -> Option<Duration> {
    let s = s.strip_suffix("ago").map(str::trim_end).unwrap_or(s);
    sum_amounts(s.strip_prefix('-').unwrap_or(s).trim())
}

/// `1h30m`, `2 days`: the sum of whole amounts with a unit (s, m, h, d, w and their
/// spelled-out names); `None` for anything else, an empty text included.
fn sum_amounts(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::zero();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let step = match unit {
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::try_seconds(n)?,
            "m" | "min" | "mins" | "minute" | "minutes" => Duration::try_minutes(n)?,
            "h" | "hr" | "hrs" | "hour" | "hours" => Duration::try_hours(n)?,
            "d" | "day" | "days" => Duration::try_days(n)?,
            "w" | "week" | "weeks" => Duration::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&step)?;
    }
    Some(total)
}

/// A skew such as `1d`, `2h`, `30m`, `90s`, `1h30m` or `0` (`--max-future-skew`): the
/// amounts of a relative time, without its sign or `ago`, which mean nothing for a skew.
pub fn parse_skew(text: &str) -> Result<std::time::Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    sum_amounts(s).and_then(|d| d.to_std().ok()).ok_or_else(|| {
        format!("{text:?} is not a skew: expected e.g. 1d, 2h, 30m, 90s, 1h30m or 0")
    })
}

/// An interval such as `500ms`, `2s`, `1.5s` or `1m` (`--poll`).
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let s = text.trim();
    let fail = || format!("{text:?} is not an interval: expected e.g. 500ms, 2s, 1m");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..split].parse().map_err(|_| fail())?;
    let secs = match s[split..].trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        _ => return Err(fail()),
    };
    if !(0.001..=3600.0).contains(&secs) {
        return Err(format!("{text:?}: the interval must be between 1ms and 1h"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T10:30:00Z".parse().unwrap()
    }

    fn t(s: &str) -> String {
        crate::record::format_timestamp(parse_time(s, now()).unwrap())
    }

    #[test]
    fn every_form_of_the_contract() {
        assert_eq!(t("2026-11-24T13:45:12.5+01:00"), "2026-11-24T12:45:12.500Z");
        assert_eq!(t("2026-11-24T13:45:12Z"), "2026-11-24T13:45:12.000Z");
        assert_eq!(t("2026-11-24"), "2026-11-24T00:00:00.000Z");
        assert_eq!(t("@1795602600"), "2026-11-25T10:30:00.000Z");
        assert_eq!(t("@1795602600.25"), "2026-11-25T10:30:00.250Z");
        assert_eq!(t("@-1.5"), "1969-12-31T23:59:58.500Z");
        assert_eq!(t("now"), "2026-11-25T10:30:00.000Z");
        assert_eq!(t("today"), "2026-11-25T00:00:00.000Z");
        assert_eq!(t("Yesterday"), "2026-11-24T00:00:00.000Z");
        assert_eq!(t("15m"), "2026-11-25T10:15:00.000Z");
        assert_eq!(t("-2h"), "2026-11-25T08:30:00.000Z");
        assert_eq!(t("7d ago"), "2026-11-18T10:30:00.000Z");
        assert_eq!(t("1h30m"), "2026-11-25T09:00:00.000Z");
        assert_eq!(t("2 weeks ago"), "2026-11-11T10:30:00.000Z");
        assert_eq!(t("tomorrow"), "2026-11-26T00:00:00.000Z");
        assert_eq!(t("2026-11-24 13:45"), "2026-11-24T13:45:00.000Z");
        assert_eq!(t("2026-11-24 13:45:12"), "2026-11-24T13:45:12.000Z");
        assert_eq!(t("2026-11-24 13:45:12.25"), "2026-11-24T13:45:12.250Z");
        assert_eq!(t("2024-02-29"), "2024-02-29T00:00:00.000Z");
    }

    #[test]
    fn impossible_dates_are_refused_as_such() {
        for bad in [
            "2026-11-31",
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-11-31 10:00",
            "2026-11-31T10:00:00Z",
        ] {
            let e = parse_time(bad, now()).unwrap_err().to_string();
            assert!(e.contains("no such date"), "{bad}: {e}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_interval("2s").unwrap().as_millis(), 2000);
        assert_eq!(parse_interval("1.5").unwrap().as_millis(), 1500);
        assert_eq!(parse_interval("1m").unwrap().as_secs(), 60);
        for bad in ["", "fast", "0ms", "2h", "-1s", "1x"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_times_are_errors_that_say_what_is_expected() {
        for bad in [
            "",
            "soon",
            "15",
            "15x",
            "2026-11-24T10:00:00",
            "2026-11-24 25:00",
            "2026-11-24 13:45 +01:00",
            "2026-11-24x",
            "２０２６-11-24",
            "@",
            "@12.3.4",
            "@1.1234567891",
            "m",
            "-",
            "ago",
            "99999999999999d",
        ] {
            let e = parse_time(bad, now()).unwrap_err().to_string();
            assert!(
                e.contains("is not a time") && e.contains("RFC 3339"),
                "{bad}: {e}"
            );
        }
    }
}
