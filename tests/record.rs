//! The record: every validation rule, the line encoding, and a byte-exact round trip.

use actlog::record::{Activity, Record, parse_ip, parse_timestamp};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};
use uuid::Uuid;

fn err_field(line: &str) -> String {
    Activity::from_json(line.as_bytes())
        .expect_err(&format!("should refuse {line}"))
        .field
}

#[test]
fn minimal_record_is_accepted_and_optional_fields_omitted() {
    let a = Activity::from_json(br#"{"username":"alice","action":"login"}"#).unwrap();
    let ts = Utc.with_ymd_and_hms(2026, 11, 24, 13, 45, 12).unwrap();
    let mut out = Vec::new();
    a.write_json(Uuid::nil(), ts, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"id":"00000000-0000-0000-0000-000000000000","timestamp":"2026-11-24T13:45:12.000Z","username":"alice","action":"login"}"#
    );
}

#[test]
fn fields_are_written_in_contract_order() {
    let line = br#"{"user_agent":"UA","ip_address":"203.0.113.7","details":{"b":1,"a":2},"action":"report.view","username":"alice","timestamp":"2026-11-24T13:45:12.123Z","id":"01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11"}"#;
    let a = Activity::from_json(line).unwrap();
    let mut out = Vec::new();
    a.write_json(a.id.unwrap(), a.timestamp.unwrap(), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"id":"01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11","timestamp":"2026-11-24T13:45:12.123Z","username":"alice","action":"report.view","details":{"b":1,"a":2},"ip_address":"203.0.113.7","user_agent":"UA"}"#
    );
}

#[test]
fn username_and_action_are_required_and_1_to_255_characters() {
    assert_eq!(err_field(r#"{"action":"a"}"#), "username");
    assert_eq!(err_field(r#"{"username":"u"}"#), "action");
    assert_eq!(err_field(r#"{"username":null,"action":"a"}"#), "username");
    assert_eq!(err_field(r#"{"username":"","action":"a"}"#), "username");
    assert_eq!(err_field(r#"{"username":"u","action":""}"#), "action");
    assert_eq!(err_field(r#"{"username":5,"action":"a"}"#), "username");
    let long = "é".repeat(256);
    assert_eq!(
        err_field(&format!(r#"{{"username":"{long}","action":"a"}}"#)),
        "username"
    );
    assert_eq!(
        err_field(&format!(r#"{{"username":"u","action":"{long}"}}"#)),
        "action"
    );
    // 255 characters are fine even when they take 510 bytes.
    let max = "é".repeat(255);
    assert!(
        Activity::from_json(format!(r#"{{"username":"{max}","action":"{max}"}}"#).as_bytes())
            .is_ok()
    );
}

#[test]
fn details_must_be_an_object() {
    for bad in ["[1]", "\"x\"", "3", "true"] {
        let line = format!(r#"{{"username":"u","action":"a","details":{bad}}}"#);
        let e = Activity::from_json(line.as_bytes()).unwrap_err();
        assert_eq!(e.field, "details");
        assert!(e.problem.contains("JSON object"), "{e}");
    }
    let a = Activity::from_json(br#"{"username":"u","action":"a","details":null}"#).unwrap();
    assert_eq!(a.details, None);
    assert!(Activity::new("u", "a").with_details(json!([1])).is_err());
}

#[test]
fn ip_address_must_be_a_real_address() {
    for bad in [
        "1.2.3",
        "256.1.1.1",
        "",
        "localhost",
        "1.2.3.4/24",
        "::g",
        "1.2.3.4 ",
    ] {
        let line = format!(r#"{{"username":"u","action":"a","ip_address":"{bad}"}}"#);
        assert_eq!(
            Activity::from_json(line.as_bytes()).unwrap_err().field,
            "ip_address",
            "{bad}"
        );
    }
    assert_eq!(
        err_field(r#"{"username":"u","action":"a","ip_address":7}"#),
        "ip_address"
    );
    let too_long = format!("{}1", "0:".repeat(23));
    assert!(parse_ip(&too_long).unwrap_err().problem.contains("45"));
    // IPv6 is stored in canonical form.
    assert_eq!(
        parse_ip("2001:DB8:0:0:0:0:0:1").unwrap().to_string(),
        "2001:db8::1"
    );
    assert_eq!(
        parse_ip("::FFFF:203.0.113.7").unwrap().to_string(),
        "203.0.113.7"
    );
}

#[test]
fn an_ipv4_mapped_address_is_stored_as_the_ipv4_address_it_maps() {
    use actlog::record::canonical_ip;
    use std::net::IpAddr;
    let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
    let v4: IpAddr = "203.0.113.7".parse().unwrap();
    assert_eq!(canonical_ip(mapped), v4);
    assert_eq!(canonical_ip(v4), v4);
    // Only the mapped prefix is IPv4; other IPv6 addresses, loopback included, stay IPv6.
    for v6 in ["::1", "2001:db8::1", "::203.0.113.7", "64:ff9b::cb00:7107"] {
        let a: IpAddr = v6.parse().unwrap();
        assert_eq!(canonical_ip(a), a, "{v6}");
    }
    // Every way in: the builder, the JSON input, a stored line, and the public field.
    let id = Uuid::from_u128(1);
    let ts = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
    let mut line = Vec::new();
    Activity::new("u", "a")
        .with_ip(mapped)
        .write_json(id, ts, &mut line);
    assert!(String::from_utf8_lossy(&line).contains(r#""ip_address":"203.0.113.7""#));
    let a =
        Activity::from_json(br#"{"username":"u","action":"a","ip_address":"::ffff:cb00:7107"}"#)
            .unwrap();
    assert_eq!(a.ip_address, Some(v4));
    let mut raw = Activity::new("u", "a");
    raw.ip_address = Some(mapped);
    let mut line = Vec::new();
    raw.write_json(id, ts, &mut line);
    assert!(String::from_utf8_lossy(&line).contains(r#""ip_address":"203.0.113.7""#));
    let r = raw.into_record(ts, || id);
    assert_eq!(r.ip_address, Some(v4));
    let stored = r#"{"id":"01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11","timestamp":"2026-11-24T13:45:12.123Z","username":"u","action":"a","ip_address":"2001:DB8:0::1"}"#;
    let r = Record::parse_line(stored.as_bytes()).unwrap();
    assert_eq!(r.ip_address.unwrap().to_string(), "2001:db8::1");
    let lite = actlog::record::LiteRecord::parse(
        br#"{"id":"01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11","timestamp":"2026-11-24T13:45:12.123Z","username":"u","action":"a","ip_address":"::ffff:203.0.113.7"}"#,
    )
    .unwrap();
    assert_eq!(lite.ip_address, Some(v4));
}

#[test]
fn numbers_in_details_keep_their_spelling() {
    let spellings = [
        "12345678901234567890123",
        "100000000000000000001",
        "1e2",
        "1E2",
        "1e+2",
        "1E-2",
        "1.50",
        "-0",
        "-0.0",
        "0.123456789012345678901234567890",
        "1e400",
        "-1.0e-400",
        "18446744073709551616",
        "-9223372036854775809",
    ];
    for n in spellings {
        let line = format!(
            r#"{{"username":"u","action":"a","details":{{"n": {n}, "deep":[{{"m":{n}}}]}}}}"#
        );
        let a = Activity::from_json(line.as_bytes()).unwrap();
        let mut out = Vec::new();
        a.write_json(
            Uuid::from_u128(7),
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap(),
            &mut out,
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains(&format!(r#""details":{{"n":{n},"deep":[{{"m":{n}}}]}}"#)),
            "{n}: {text}"
        );
        assert_eq!(Record::parse_line(&out).unwrap().to_json(), text, "{n}");
    }
    assert_eq!(
        actlog::record::parse_json(r#"{"a":1e2,"a":2E3}"#)
            .unwrap()
            .to_string(),
        r#"{"a":2E3}"#,
        "a repeated key keeps its last value, as serde_json does"
    );
}

#[test]
fn numbers_compare_exactly() {
    use actlog::number::compare as cmp;
    use std::cmp::Ordering::*;
    for (a, b, o) in [
        ("100000000000000000001", "1e20", Greater),
        ("100000000000000000001", "100000000000000000002", Less),
        ("1.50", "1.5", Equal),
        ("-0", "0", Equal),
        ("0.0e5", "-0", Equal),
        ("1e2", "100", Equal),
        ("1E+2", "99.999999999999999999999", Greater),
        ("-1e400", "-1e399", Less),
        ("1e-400", "0", Greater),
        ("0.05", "5e-2", Equal),
        ("120", "1.2e2", Equal),
        ("-3", "2", Less),
    ] {
        assert_eq!(cmp(a, b), Some(o), "{a} vs {b}");
        assert_eq!(cmp(b, a), Some(o.reverse()), "{b} vs {a}");
    }
    // A `--where` VALUE may be spelled as a person types it.
    for (typed, o) in [("+1", Equal), (".5", Less), ("1.", Equal), ("01", Equal)] {
        assert_eq!(cmp(typed, "1"), Some(o), "{typed:?}");
    }
    for not_number in [
        "", "1e", "--1", "0x10", "NaN", "inf", "1 ", "1e1e1", "1.2.3",
    ] {
        assert_eq!(cmp(not_number, "1"), None, "{not_number:?}");
    }
}

/// A JSON spelling of `m × 10^k` (`m` an integer): as digits with a decimal point,
/// or mantissa and exponent, with optional padding zeros and exponent forms.
fn spelling() -> impl Strategy<Value = (i64, i32, String)> {
    (
        -99_999i64..99_999,
        -6i32..6,
        0usize..3,
        0usize..4,
        any::<bool>(),
    )
        .prop_map(|(m, k, pad, style, upper)| {
            let sign = if m < 0 { "-" } else { "" };
            let digits = m.unsigned_abs().to_string();
            let e = if upper { "E" } else { "e" };
            let text = match style {
                // Mantissa and exponent: 123e-2, 123E+2, 123.00e2.
                0 => format!("{sign}{digits}{e}{k}"),
                1 => format!(
                    "{sign}{digits}.{}{e}{}{k}",
                    "0".repeat(pad + 1),
                    if k >= 0 { "+" } else { "" }
                ),
                // Plain decimal: the point moved k places.
                _ => {
                    // Zero is spelt `0` whatever k: `00` is not a JSON number.
                    let shifted = if m == 0 {
                        "0".to_owned()
                    } else if k >= 0 {
                        format!("{digits}{}", "0".repeat(k as usize))
                    } else {
                        let k = (-k) as usize;
                        let padded = format!("{}{digits}", "0".repeat(k));
                        let (int, frac) = padded.split_at(padded.len() - k);
                        let int = int.trim_start_matches('0');
                        format!("{}.{frac}", if int.is_empty() { "0" } else { int })
                    };
                    let zeros = if shifted.contains('.') {
                        "0".repeat(pad)
                    } else {
                        String::new()
                    };
                    format!("{sign}{shifted}{zeros}")
                }
            };
            (m, k, text)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/record.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Any number spelling comes back byte for byte, and compares as its value does.
    #[test]
    fn any_number_spelling_round_trips_and_compares_by_value(a in spelling(), b in spelling()) {
        let line = format!(r#"{{"username":"u","action":"a","details":{{"x":{},"y":[{}]}}}}"#, a.2, b.2);
        let act = Activity::from_json(line.as_bytes()).map_err(|e| TestCaseError::fail(format!("{}: {e}", a.2)))?;
        let mut out = Vec::new();
        act.write_json(Uuid::from_u128(7), Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap(), &mut out);
        let text = String::from_utf8(out).unwrap();
        let expected = format!(r#""details":{{"x":{},"y":[{}]}}"#, a.2, b.2);
        prop_assert!(text.contains(&expected), "{}", text);
        // The model: both values as integers in units of 10^-6.
        let value = |(m, k, _): &(i64, i32, String)| i128::from(*m) * 10i128.pow((k + 6) as u32);
        prop_assert_eq!(
            actlog::number::compare(&a.2, &b.2),
            Some(value(&a).cmp(&value(&b))),
            "{} vs {}", a.2, b.2
        );
    }
}

#[test]
fn id_must_be_a_uuid_and_timestamp_rfc3339() {
    assert_eq!(
        err_field(r#"{"username":"u","action":"a","id":"42"}"#),
        "id"
    );
    assert_eq!(err_field(r#"{"username":"u","action":"a","id":42}"#), "id");
    assert_eq!(
        err_field(r#"{"username":"u","action":"a","timestamp":"2026-11-24 10:00"}"#),
        "timestamp"
    );
    assert_eq!(
        err_field(r#"{"username":"u","action":"a","timestamp":"2026-11-24T10:00:00"}"#),
        "timestamp"
    );
    assert_eq!(
        err_field(r#"{"username":"u","action":"a","timestamp":1732400000}"#),
        "timestamp"
    );
    assert_eq!(
        err_field(r#"{"username":"u","action":"a","user_agent":["x"]}"#),
        "user_agent"
    );
    // An offset is converted to UTC.
    let ts = parse_timestamp("2026-11-25T01:30:00.5+02:00").unwrap();
    assert_eq!(
        actlog::record::format_timestamp(ts),
        "2026-11-24T23:30:00.500Z"
    );
}

#[test]
fn unknown_fields_and_non_objects_are_refused_by_the_writer_input() {
    let e = Activity::from_json(br#"{"user":"u","action":"a"}"#).unwrap_err();
    assert_eq!(e.field, "user");
    assert!(e.problem.contains("unknown field"));
    assert_eq!(err_field("[1,2]"), "line");
    assert_eq!(err_field("{\"username\":"), "line");
    let e = Activity::from_json(b"{\"username\":\"\xff\",\"action\":\"a\"}").unwrap_err();
    assert!(e.problem.contains("UTF-8"), "{e}");
}

#[test]
fn stored_lines_keep_unknown_fields_in_order() {
    let line = r#"{"id":"01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11","timestamp":"2026-11-24T13:45:12.123Z","username":"alice","action":"a","zeta":1,"alpha":{"x":[1,2]}}"#;
    let r = Record::parse_line(line.as_bytes()).unwrap();
    assert_eq!(r.extra.keys().collect::<Vec<_>>(), ["zeta", "alpha"]);
    assert_eq!(r.to_json(), line);
    let missing_id = Record::parse_line(
        br#"{"username":"u","action":"a","timestamp":"2026-11-24T13:45:12.123Z"}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&missing_id, actlog::record::LineError::Schema(v) if v.field == "id"),
        "{missing_id:?}"
    );
}

#[test]
fn line_separators_are_escaped_so_no_reader_splits_a_record() {
    let a = Activity::new("u\u{2028}v", "a\u{2029}b")
        .with_user_agent("x\u{85}y\nz\r")
        .with_details(json!({"k\u{2028}": "v\u{2029}"}))
        .unwrap();
    let mut out = Vec::new();
    a.write_json(Uuid::nil(), Utc::now(), &mut out);
    let text = String::from_utf8(out.clone()).unwrap();
    for c in ['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}'] {
        assert!(!text.contains(c), "raw {c:?} in {text}");
    }
    assert!(text.contains(r"u\u2028v") && text.contains(r"a\u2029b") && text.contains(r"x\u0085y"));
    let back = Record::parse_line(&out).unwrap();
    assert_eq!(back.username, "u\u{2028}v");
    assert_eq!(back.to_json(), text);
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn activity() -> impl Strategy<Value = Activity> {
    (
        "\\PC{1,40}|[\u{2028}\u{2029}\u{85}\n\t\"\\\\]{1,5}",
        "[a-z]{1,10}(\\.[a-z]{1,10}){0,2}|\\PC{1,20}",
        prop::option::of(prop::collection::vec((any::<String>(), json_value()), 0..5)),
        prop::option::of(any::<std::net::IpAddr>()),
        prop::option::of(any::<String>()),
        0i64..253_402_300_799_999,
    )
        .prop_map(|(user, action, details, ip, ua, ms)| Activity {
            id: None,
            timestamp: Some(Utc.timestamp_millis_opt(ms).unwrap()),
            username: user,
            action,
            details: details.map(|kv| kv.into_iter().collect()),
            ip_address: ip,
            user_agent: ua,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/record.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Any valid record is written as one line and parses back to the same bytes.
    #[test]
    fn any_valid_record_round_trips_byte_exact(a in activity(), id in any::<u128>()) {
        let id = Uuid::from_u128(id);
        let mut line = Vec::new();
        a.write_json(id, a.timestamp.unwrap(), &mut line);
        prop_assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
        let parsed = Record::parse_line(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.id, id);
        prop_assert_eq!(&parsed.username, &a.username);
        prop_assert_eq!(parsed.ip_address, a.ip_address.map(actlog::record::canonical_ip));
        prop_assert_eq!(parsed.to_json().into_bytes(), line);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 5000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/record.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// The hand-built timestamp text equals chrono's RFC 3339 rendering.
    #[test]
    fn timestamp_text_matches_chrono(ms in -62_135_596_800_000i64..253_402_300_799_999) {
        let ts = Utc.timestamp_millis_opt(ms).unwrap();
        prop_assert_eq!(
            actlog::record::format_timestamp(ts),
            ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }
}
