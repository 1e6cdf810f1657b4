//! Finding one member of a JSON object by walking its bytes, building nothing: how a
//! `--where` on `details` reads lines that a member's summary says are valid records.
//!
//! The walk trusts the text to be a valid record's (valid JSON whose objects hold each
//! key once, as the record parser requires), so it stops at the first member named
//! `key`, and gives up with [`Undecided`] on anything it does not read the way a parser
//! would, such as a key holding an escape. Callers then check the line in full, so
//! giving up is always safe.

/// The walk cannot tell; the line needs the full check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undecided;

/// Where the value of member `key` starts in `object`, text that starts with an object
/// (its keys unique) and may go on past its end; `Ok(None)` when absent. The walk stops
/// there, so what follows is never read.
pub fn find(object: &[u8], key: &str) -> Result<Option<usize>, Undecided> {
    let mut at = skip_ws(object, 0);
    if object.get(at) != Some(&b'{') {
        return Err(Undecided);
    }
    at = skip_ws(object, at + 1);
    if object.get(at) == Some(&b'}') {
        return Ok(None);
    }
    loop {
        if object.get(at) != Some(&b'"') {
            return Err(Undecided);
        }
        let end = string_end(object, at)?;
        let name = object.get(at + 1..end - 1).ok_or(Undecided)?;
        // An escaped key may spell `key` another way: only a parser can tell.
        if memchr::memchr(b'\\', name).is_some() {
            return Err(Undecided);
        }
        at = skip_ws(object, end);
        if object.get(at) != Some(&b':') {
            return Err(Undecided);
        }
        let start = skip_ws(object, at + 1);
        if name == key.as_bytes() {
            return Ok(Some(start));
        }
        at = skip_ws(object, value_end(object, start)?);
        match object.get(at) {
            Some(b',') => at = skip_ws(object, at + 1),
            Some(b'}') => return Ok(None),
            _ => return Err(Undecided),
        }
    }
}

/// The JSON value that `text` starts with.
pub fn value(text: &[u8]) -> Result<&[u8], Undecided> {
    text.get(..value_end(text, 0)?).ok_or(Undecided)
}

fn skip_ws(text: &[u8], mut at: usize) -> usize {
    while matches!(text.get(at), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        at += 1;
    }
    at
}

/// Just past the closing quote of the string opening at `at`.
fn string_end(text: &[u8], at: usize) -> Result<usize, Undecided> {
    let mut i = at + 1;
    loop {
        let rest = text.get(i..).ok_or(Undecided)?;
        let j = memchr::memchr2(b'"', b'\\', rest).ok_or(Undecided)?;
        i += j;
        if text.get(i) == Some(&b'"') {
            return Ok(i + 1);
        }
        // A backslash and the byte it escapes (a `\u` escape's hex digits hold no quote).
        i += 2;
    }
}

/// Just past the value starting at `at`.
fn value_end(text: &[u8], at: usize) -> Result<usize, Undecided> {
    match text.get(at) {
        Some(b'"') => string_end(text, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match text.get(i) {
                    Some(b'"') => {
                        i = string_end(text, i)?;
                        continue;
                    }
                    Some(b'{' | b'[') => depth += 1,
                    Some(b'}' | b']') => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    Some(_) => {}
                    None => return Err(Undecided),
                }
                i += 1;
            }
        }
        Some(_) => {
            // A number or a literal: up to the next delimiter.
            let mut i = at;
            while let Some(&b) = text.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                    break;
                }
                i += 1;
            }
            if i == at { Err(Undecided) } else { Ok(i) }
        }
        None => Err(Undecided),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(obj: &'a str, key: &str) -> Result<Option<&'a str>, Undecided> {
        let Some(at) = find(obj.as_bytes(), key)? else {
            return Ok(None);
        };
        let v = value(&obj.as_bytes()[at..])?;
        Ok(Some(std::str::from_utf8(v).unwrap_or("<not UTF-8>")))
    }

    #[test]
    fn finds_members_of_every_kind_past_nested_values_and_escapes() {
        let obj =
            r#"{"a":"x\"}{,","b" : [1,{"c":"]"}], "d":{"e":{}},"n":-1.5e3,"t":true ,"z":null}"#;
        assert_eq!(get(obj, "a"), Ok(Some(r#""x\"}{,""#)));
        assert_eq!(get(obj, "b"), Ok(Some(r#"[1,{"c":"]"}]"#)));
        assert_eq!(get(obj, "d"), Ok(Some(r#"{"e":{}}"#)));
        assert_eq!(get(obj, "n"), Ok(Some("-1.5e3")));
        assert_eq!(get(obj, "t"), Ok(Some("true")));
        assert_eq!(get(obj, "z"), Ok(Some("null")));
        // Keys are only those of the object itself.
        assert_eq!(get(obj, "c"), Ok(None));
        assert_eq!(get(obj, "e"), Ok(None));
        assert_eq!(get("{}", "a"), Ok(None));
        assert_eq!(get(" { } ", "a"), Ok(None));
        // What follows the object is never read.
        assert_eq!(get(r#"{"a":1}"b":2}"#, "b"), Ok(None));
        assert_eq!(get(r#"{"a":[1,2] ,"b":2}garbage"#, "b"), Ok(Some("2")));
    }

    #[test]
    fn escaped_keys_and_what_is_not_an_object_give_up() {
        assert_eq!(get(r#"{"\u0061":1}"#, "a"), Err(Undecided));
        assert_eq!(get(r#"{"b\\":1}"#, "a"), Err(Undecided));
        assert_eq!(get("[1]", "a"), Err(Undecided));
        assert_eq!(get(r#"{"b":1"#, "a"), Err(Undecided));
    }
}
