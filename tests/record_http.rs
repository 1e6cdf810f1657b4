//! The write-side record rules through `POST /v1/activity`: canonical addresses, numbers
//! kept as written, and the future-skew refusal naming the record and field.

mod common;

use common::{Server, all_lines};

fn post(url: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(format!("{url}/v1/activity"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

#[test]
fn post_stores_canonical_addresses_and_numbers_as_written_and_refuses_the_far_future() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let details = r#"{"n":1e2,"m":1.50,"b":100000000000000000001,"z":-0,"s":"é"}"#;
    let body = format!(
        r#"[{{"username":"ü","action":"a","ip_address":"::ffff:203.0.113.7","details":{details}}},{{"username":"ü","action":"b","ip_address":"2001:DB8::0:1"}}]"#
    );
    let (status, text) = post(&server.url, &body);
    assert_eq!(status, 201, "{text}");
    let stored: Vec<String> = all_lines(dir.path())
        .into_iter()
        .map(|(l, _)| String::from_utf8(l).unwrap())
        .collect();
    assert_eq!(stored.len(), 2);
    assert!(
        stored[0].contains(&format!(
            r#""details":{details},"ip_address":"203.0.113.7""#
        )),
        "{}",
        stored[0]
    );
    assert!(
        stored[1].contains(r#""ip_address":"2001:db8::1""#),
        "{}",
        stored[1]
    );
    let (status, text) = post(
        &server.url,
        r#"[{"username":"u","action":"a"},{"username":"u","action":"a","timestamp":"2999-01-01T00:00:00Z"}]"#,
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains(r#""index":1"#) && text.contains(r#""field":"timestamp""#),
        "{text}"
    );
    assert_eq!(all_lines(dir.path()).len(), 2, "all or nothing");
}
