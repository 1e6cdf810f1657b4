//! Text safe and measured for a terminal: escaping what could drive it, display width,
//! and cutting to a width.

use std::borrow::Cow;
use std::fmt::Write as _;
use unicode_width::UnicodeWidthStr;

/// Shows `s` safe for a terminal: control characters (C0, DEL, C1, so also ESC),
/// U+2028/U+2029 and bidirectional overrides are written as escapes, so no field can
/// forge a line or drive the terminal.
pub fn neutralise(s: &str) -> Cow<'_, str> {
    let dangerous = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if dangerous(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{1b}' => out.push_str("\\e"),
                c => {
                    let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
                }
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Columns a terminal shows for `s`: wide characters count two, combining and other
/// zero-width characters none (after [`neutralise`], no control character is left).
pub fn display_width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns, ending in `…` when anything was cut.
pub fn cut_to_width(s: &str, max: usize) -> Cow<'_, str> {
    if display_width(s) <= max {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(cut_with_ellipsis(s, max))
    }
}

/// The longest prefix of `s` narrower than `max` columns, then `…` (nothing if `max` is 0).
fn cut_with_ellipsis(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    // A prefix's width is not always the sum of its characters' widths (emoji sequences),
    // so prefixes are measured whole; the search is binary as values can be megabytes.
    let fits = |end: usize| display_width(&s[..end]) < max;
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let (mut lo, mut hi) = (0usize, bounds.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(bounds[mid]) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    // Widths are not monotonic over prefixes; step back until the prefix really fits.
    while lo > 0 && !fits(bounds[lo]) {
        lo -= 1;
    }
    format!("{}…", &s[..bounds[lo]])
}

/// Coloured parts of a line cut to `max` columns in all, the last one kept ending in `…`.
pub fn cut_parts<'a>(
    parts: Vec<(&'a str, Cow<'a, str>)>,
    max: Option<usize>,
) -> Vec<(&'a str, Cow<'a, str>)> {
    let Some(max) = max else {
        return parts;
    };
    let mut used = 0;
    let mut out = Vec::with_capacity(parts.len());
    let total: usize = parts.iter().map(|p| display_width(&p.1)).sum();
    if total <= max {
        return parts;
    }
    for (code, text) in parts {
        let w = display_width(&text);
        // Room for the `…` is kept: the line is known to be too long.
        if used + w < max {
            used += w;
            out.push((code, text));
        } else {
            out.push((code, Cow::Owned(cut_with_ellipsis(&text, max - used))));
            break;
        }
    }
    out
}
