//! `actlog serve`'s page and chart from the outside: `GET /v1/activity/histogram`
//! against `actlog query -c` bucket by bucket on a store the CLI wrote (non-ASCII and
//! hostile values, a torn line, a compressed day), the page's headers and routes, the
//! rule that its script never parses record data as HTML, `--no-ui`, and the token.
//! The page itself is driven in Chromium by tests/browser (run by .ci/run).

mod common;

use common::{Server, actlog};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Status, headers and body text of a GET.
fn get(url: &str, token: Option<&str>) -> (u16, ureq::http::HeaderMap, String) {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.body_mut().read_to_string().unwrap())
}

/// `actlog query -c ARGS` on `dir`: the count it prints.
fn cli_count(dir: &Path, args: &[String]) -> u64 {
    let out = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["query", "-c"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "query -c {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Three days of records written by `actlog append -`, then the oldest day compressed
/// by `actlog maintain` and a torn line left at the end of the newest.
fn write_store(dir: &Path) {
    let users = [
        "alice",
        "café",
        "Bob",
        "<script>alert(1)</script>",
        "ユーザー",
    ];
    let actions = ["report.view", "report.export", "login", "caf\u{e9}.order"];
    let mut lines = String::new();
    for i in 0..600u32 {
        let day = 22 + i % 3;
        let (h, m, s, ms) = ((i * 7) % 24, (i * 13) % 60, (i * 17) % 60, (i * 37) % 1000);
        let rec = json!({
            "timestamp": format!("2026-11-{day}T{h:02}:{m:02}:{s:02}.{ms:03}Z"),
            "username": users[i as usize % users.len()],
            "action": actions[(i as usize / 2) % actions.len()],
            "ip_address": if i % 4 == 0 { format!("10.0.{}.{}", i % 3, i % 250) } else { format!("203.0.113.{}", i % 250) },
            "details": {"n": i % 11, "note": "\u{202e}\"><img src=x onerror=alert(1)>\u{1b}[31m"},
        });
        lines += &rec.to_string();
        lines.push('\n');
    }
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let status = actlog()
        .arg("--dir")
        .arg(dir)
        .args([
            "--now",
            "2026-11-24T12:00:00Z",
            "maintain",
            "--keep-days",
            "3650",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(dir.join("activity-2026-11-22.json.gz").exists());
    let mut torn = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("activity-2026-11-24.json"))
        .unwrap();
    torn.write_all(b"{\"id\":\"01937c3e-5b7a-7d4e").unwrap();
    // The next append starts on a fresh line: the torn one becomes a damaged line.
    let status = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "--user", "late", "--action", "login"])
        .args(["--at", "2026-11-24T23:59:59.999Z"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn every_histogram_bucket_counts_what_query_c_counts_for_its_range() {
    let t = tempfile::tempdir().unwrap();
    write_store(t.path());
    let server = Server::start(t.path(), &[]);
    let filters: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("user", "café")],
        vec![("user", "<script>alert(1)</script>"), ("user", "Bob")],
        vec![("action", "report.*")],
        vec![("action", "caf?.order")],
        vec![("ip", "10.0.0.0/8")],
        vec![("where", "details.n>5"), ("action", "report.*")],
        vec![("grep", "ユーザー")],
        vec![
            ("since", "2026-11-23 06:00"),
            ("until", "2026-11-24T18:30:00Z"),
        ],
    ];
    for filter in filters {
        for buckets in [1usize, 7, 60] {
            let query = format!("{filter:?} buckets={buckets}");
            let mut req = agent().get(format!("{}/v1/activity/histogram", server.url));
            for (k, v) in &filter {
                req = req.query(*k, *v);
            }
            let mut resp = req.query("buckets", buckets.to_string()).call().unwrap();
            let status = resp.status().as_u16();
            let body = resp.body_mut().read_to_string().unwrap();
            assert_eq!(status, 200, "{query}: {body}");
            let h: Value = serde_json::from_str(&body).unwrap();
            let list = h["buckets"].as_array().unwrap();
            assert!(!list.is_empty() && list.len() <= buckets, "{query}: {body}");
            assert_eq!(list[0]["start"], h["since"]);
            assert_eq!(list[list.len() - 1]["end"], h["until"]);
            // The filter's flags without its window; each bucket brings its own.
            let flags: Vec<String> = filter
                .iter()
                .filter(|(k, _)| *k != "since" && *k != "until")
                .map(|(k, v)| format!("--{k}={v}"))
                .collect();
            let mut sum = 0;
            for (i, b) in list.iter().enumerate() {
                if i > 0 {
                    assert_eq!(b["start"], list[i - 1]["end"], "{query}: buckets touch");
                }
                let mut args = flags.clone();
                args.push(format!("--since={}", b["start"].as_str().unwrap()));
                args.push(format!("--until={}", b["end"].as_str().unwrap()));
                let want = cli_count(t.path(), &args);
                assert_eq!(b["count"].as_u64(), Some(want), "{query}: bucket {b}");
                sum += want;
            }
            assert_eq!(h["total"].as_u64(), Some(sum));
            // Without a window the range runs from the oldest day: every match is in it.
            if !filter.iter().any(|(k, _)| *k == "since") {
                assert_eq!(h["since"], "2026-11-22T00:00:00.000Z");
                assert_eq!(sum, cli_count(t.path(), &flags), "{query}: whole store");
            }
            // The torn line, counted once (a filter's byte checks may pass over it
            // unread, as `actlog query` does).
            let damaged = h["damaged"].as_u64().unwrap();
            assert!(damaged <= 1, "{query}");
            if filter.is_empty() {
                assert_eq!(damaged, 1, "{query}");
            }
        }
    }
    for (query, parameter) in [
        ("buckets=0", "buckets"),
        ("buckets=501", "buckets"),
        ("buckets=x", "buckets"),
        ("since=2026-11-31", "since"),
        ("where=details.n==1", "where"),
        ("limit=5", "limit"),
        ("cursor=c2.x", "cursor"),
    ] {
        let (status, _, body) = get(
            &format!("{}/v1/activity/histogram?{query}", server.url),
            None,
        );
        assert_eq!(status, 400, "{query}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["parameter"], parameter, "{query}: {body}");
    }
}

#[test]
fn buckets_belong_to_the_histogram_alone() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    for path in ["/v1/activity", "/v1/activity/stream"] {
        let (status, _, body) = get(&format!("{}{path}?buckets=5", server.url), None);
        assert_eq!(status, 400, "{path}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["parameter"], "buckets", "{path}: {body}");
    }
}

#[test]
fn the_page_is_served_with_a_strict_policy_and_its_script_never_parses_data_as_html() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
        ("/v1/activity", "application/json"),
        ("/v2/nothing", "application/json"),
    ] {
        let (status, headers, _) = get(&format!("{}{path}", server.url), None);
        assert!(status == 200 || path == "/v2/nothing", "{path}: {status}");
        let h = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert!(h("content-type").starts_with(kind), "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        let csp = h("content-security-policy");
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
    }
    let (_, _, page) = get(&format!("{}/ui", server.url), None);
    let (_, _, script) = get(&format!("{}/ui/app.js", server.url), None);
    // Every script is a file of this server: no inline script, no inline handler, no
    // inline style, nothing from another origin.
    let lower = page.to_lowercase();
    assert_eq!(
        lower.matches("<script").count(),
        lower.matches("<script src=\"ui/app.js\"").count()
    );
    assert!(!regex::Regex::new(r"\son[a-z]+=").unwrap().is_match(&lower));
    assert!(!lower.contains("style="));
    assert!(!lower.contains("http://") && !lower.contains("https://") && !lower.contains("//cdn"));
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "setAttribute('style'",
        "DOMParser",
        "createContextualFragment",
    ] {
        assert!(!script.contains(sink), "app.js uses {sink}");
    }
    assert!(!script.contains("http://") && !script.contains("https://"));
}

#[test]
fn no_ui_turns_the_page_off_and_a_token_guards_the_data_not_the_empty_page() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &["--no-ui"]);
    for path in ["/ui", "/ui/app.js"] {
        let (status, _, body) = get(&format!("{}{path}", server.url), None);
        assert_eq!(status, 404, "{path}");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    }
    let (status, _, _) = get(&format!("{}/v1/activity/histogram", server.url), None);
    assert_eq!(status, 200);
    drop(server);

    let token = "a-long-random-token-of-32-bytes-or-more";
    let file = t.path().join(".token");
    std::fs::write(&file, token).unwrap();
    let server = Server::start(t.path(), &["--token-file", file.to_str().unwrap()]);
    let (status, _, page) = get(&format!("{}/ui", server.url), None);
    assert_eq!(status, 200);
    assert!(!page.contains(token));
    for path in ["/v1/activity", "/v1/activity/histogram"] {
        let url = format!("{}{path}", server.url);
        assert_eq!(get(&url, None).0, 401, "{path}");
        assert_eq!(get(&url, Some("wrong")).0, 401, "{path}");
        assert_eq!(get(&url, Some(token)).0, 200, "{path}");
    }
}
