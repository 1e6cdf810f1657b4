//! Filter regressions, driven through the binary: character globs, canonical IP
//! addresses on lines any program wrote, strict `--where` operators and ordering,
//! `-c`/`--count-by` with `-n`, the `ACTLOG_THREADS` policy, and TIME forms.

mod common;

use common::actlog;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

fn run_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = actlog();
    cmd.arg("--dir").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run actlog")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    run_env(dir, &[("ACTLOG_THREADS", "2")], args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `query ARGS -c` as a number, asserting exit 0 or 1 agrees with it.
fn count(dir: &Path, args: &[&str]) -> u64 {
    let mut all = vec!["query", "-c"];
    all.extend_from_slice(args);
    let o = run(dir, &all);
    let n: u64 = stdout(&o)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{args:?}: {}", stderr(&o)));
    assert_eq!(o.status.code(), Some(if n > 0 { 0 } else { 1 }), "{args:?}");
    n
}

/// The `details.k` of each record `query ARGS` prints, in order.
fn keys(dir: &Path, args: &[&str]) -> Vec<i64> {
    let mut all = vec!["query", "-o", "json"];
    all.extend_from_slice(args);
    let o = run(dir, &all);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        stderr(&o)
    );
    stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            v["details"]["k"].as_i64().expect("details.k")
        })
        .collect()
}

/// Writes raw lines, as another program might, into the plain file of 2026-11-20.
fn raw_store(lines: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = std::fs::File::create(dir.path().join("activity-2026-11-20.json")).expect("day");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
    dir
}

fn line(k: i64, action: &str, ip: Option<&str>, details: &str) -> String {
    let ip = ip.map_or(String::new(), |ip| format!(r#","ip_address":"{ip}""#));
    format!(
        r#"{{"id":"01a2373c-b106-704e-89ee-3ce25e8ff1{k:02}","timestamp":"2026-11-20T10:00:{k:02}.000Z","username":"u","action":"{action}","details":{{"k":{k},{details}}}{ip}}}"#
    )
}

#[test]
fn globs_work_on_characters_not_bytes() {
    let actions = [
        "café.order",
        "naïve.op",
        "ünïcode.ÄCTION",
        "cafe.order",
        "caf.order",
        "xnxcode.a",
        "auth.login",
        "auth.logout",
        "a*b",
        "日本語.x",
    ];
    let lines: Vec<String> = actions
        .iter()
        .enumerate()
        .map(|(k, a)| line(k as i64, a, None, r#""x":1"#))
        .collect();
    let dir = raw_store(&lines);
    let d = dir.path();
    let cases: [(&str, &[i64]); 14] = [
        ("caf?.order", &[0, 3]),
        ("n[éa][ï]ve*", &[1]),
        ("[üx]n?code.*", &[2, 5]),
        ("caf[!e].order", &[0]),
        ("caf[^é].order", &[3]),
        ("caf[a-z].order", &[3]),
        ("caf[à-ÿ].order", &[0]),
        ("auth.log{in,out}", &[6, 7]),
        ("{café,naïve}.*", &[0, 1]),
        (r"a\*b", &[8]),
        ("a*b", &[8]),
        ("???.x", &[9]),
        ("日本?.?", &[9]),
        ("*.ÄCTION", &[2]),
    ];
    for (glob, want) in cases {
        assert_eq!(keys(d, &["--action", glob]), want, "--action {glob}");
    }
    // A `?` is one character: four of them never match a three-character name.
    assert!(keys(d, &["--action", "????.x"]).is_empty());
    for bad in ["caf[é", "auth.log{in", r"x\"] {
        let o = run(d, &["query", "--action", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("--action"), "{bad}: {}", stderr(&o));
    }
}

#[test]
fn ip_filters_compare_canonical_forms_while_grep_and_json_see_the_stored_text() {
    let ips = [
        "::ffff:203.0.113.7",
        "203.0.113.8",
        "2001:DB8::1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
        "::FFFF:198.51.100.1",
        "2001:db8::2",
    ];
    let lines: Vec<String> = ips
        .iter()
        .enumerate()
        .map(|(k, ip)| line(k as i64, "a", Some(ip), r#""x":1"#))
        .collect();
    let dir = raw_store(&lines);
    let d = dir.path();
    let cases: [(&str, &[i64]); 8] = [
        ("203.0.113.0/24", &[0, 1]),
        ("203.0.113.7", &[0]),
        ("::ffff:203.0.113.7", &[0]),
        ("::ffff:203.0.113.0/120", &[0, 1]),
        ("2001:db8::1", &[2, 3]),
        ("2001:db8::/32", &[2, 3, 5]),
        ("198.51.100.1", &[4]),
        // IPv6 networks wider than ::ffff:0:0/96 hold IPv6 addresses only.
        ("::/0", &[2, 3, 5]),
    ];
    for (ip, want) in cases {
        assert_eq!(keys(d, &["--ip", ip]), want, "--ip {ip}");
    }
    for (w, want) in [
        ("ip_address=203.0.113.7", &[0][..]),
        ("ip_address=::ffff:203.0.113.7", &[0]),
        ("ip_address=2001:db8::1", &[2, 3]),
        ("ip_address=2001:DB8:0::1", &[2, 3]),
        ("ip_address~^203\\.", &[0, 1]),
        ("ip_address!=198.51.100.1", &[0, 1, 2, 3, 5]),
    ] {
        assert_eq!(keys(d, &["--where", w]), want, "--where {w}");
    }
    let o = run(d, &["query", "--count-by", "ip_address"]);
    let mut got: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    got.sort();
    assert_eq!(
        got,
        [
            r#"{"value":"198.51.100.1","count":1}"#,
            r#"{"value":"2001:db8::1","count":2}"#,
            r#"{"value":"2001:db8::2","count":1}"#,
            r#"{"value":"203.0.113.7","count":1}"#,
            r#"{"value":"203.0.113.8","count":1}"#,
        ]
    );
    // -g and -o json see the stored spelling.
    assert_eq!(keys(d, &["-g", "::ffff:203"]), [0]);
    assert_eq!(keys(d, &["-g", "2001:DB8::1"]), [2]);
    let o = run(d, &["query", "-o", "json", "--ip", "203.0.113.7"]);
    assert_eq!(stdout(&o).trim_end(), lines[0]);
}

#[test]
fn where_refuses_unknown_operators_and_orders_as_the_contract_says() {
    let details = [
        r#""d":999,"v":"dark""#,
        r#""d":400,"v":true"#,
        r#""d":"401","v":null"#,
        r#""d":1,"v":3"#,
        r#""d":1.0,"v":{"a":1}"#,
        r#""d":9007199254740993,"v":[1]"#,
        r#""d":9007199254740992,"v":"2026-11-24""#,
        r#""d":-18446744073709551615,"v":"2026-11-03T10:00:00Z""#,
        r#""d":"0x10","v":"Ünï""#,
    ];
    let lines: Vec<String> = details
        .iter()
        .enumerate()
        .map(|(k, x)| line(k as i64, "a", None, x))
        .collect();
    let dir = raw_store(&lines);
    let d = dir.path();
    for bad in [
        "details.d==999",
        "details.d<>400",
        "details.d=>400",
        "details.d=~9",
        "details.d=!9",
        "details.d~~9",
        "details.d!!9",
        "details.d<<9",
        "details.d>=",
        "=9",
        "details..d=9",
        "details.d",
    ] {
        let o = run(d, &["query", "--where", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stdout(&o));
        let e = stderr(&o);
        assert!(
            e.contains("--where") && e.lines().count() == 1,
            "{bad}: {e}"
        );
    }
    assert!(
        stderr(&run(d, &["query", "--where", "details.d==999"]))
            .contains("unknown operator \"==\"")
    );
    let cases: [(&str, &[i64]); 22] = [
        ("details.d=999", &[0]),
        ("details.d = 999", &[0]),
        // Numeric equality on JSON numbers: 1.0 equals 1.
        ("details.d=1.0", &[3, 4]),
        ("details.d=1", &[3, 4]),
        ("details.d=\"=1\"", &[]),
        ("details.d>400", &[0, 2, 5, 6]),
        ("details.d>=400", &[0, 1, 2, 5, 6]),
        ("details.d<2", &[3, 4, 7]),
        // Exact, not via f64: 2^53 + 1 is more than 2^53.
        ("details.d>9007199254740992", &[5]),
        ("details.d=9007199254740993", &[5]),
        ("details.d<-18446744073709551614", &[7]),
        // A non-numeric VALUE orders strings as text and never numbers.
        ("details.d>0x10", &[2]),
        ("details.d>=0x10", &[2, 8]),
        ("details.v>3", &[]),
        ("details.v>=3", &[3]),
        ("details.v>a", &[0, 8]),
        ("details.v<2026-11-10", &[7]),
        ("details.v>=2026-11-10", &[0, 6, 8]),
        ("details.v!~^d", &[1, 2, 3, 4, 5, 6, 7, 8]),
        ("details.v~^d", &[0]),
        ("details.missing!~x", &[0, 1, 2, 3, 4, 5, 6, 7, 8]),
        ("details.v=true", &[1]),
    ];
    for (w, want) in cases {
        assert_eq!(keys(d, &["--where", w]), want, "--where {w}");
    }
}

/// Appends `n` padded records a second apart from 2026-11-20T00:00 (1 KB each), then
/// compresses every day, so a day spans several gzip members.
fn big_store(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let pad = "p".repeat(1000);
    let mut input = String::new();
    for k in 0..n {
        let user = if k % 3 == 0 { "zoë" } else { "bob" };
        input.push_str(&format!(
            r#"{{"timestamp":"2026-11-20T{:02}:{:02}:{:02}.000Z","username":"{user}","action":"a{}","details":{{"k":{k},"pad":"{pad}"}}}}"#,
            k / 3600 % 24,
            k / 60 % 60,
            k % 60,
            k % 4,
        ));
        input.push('\n');
    }
    let mut child = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed");
    assert!(child.wait().expect("wait").success());
    let o = run(
        dir.path(),
        &[
            "--now",
            "2026-12-30T00:00:00Z",
            "maintain",
            "--keep-days",
            "100000",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("activity-2026-11-20.json.gz").exists());
    dir
}

#[test]
fn count_and_count_by_with_a_limit_count_the_first_n_matches_whatever_the_threads() {
    let dir = big_store(4000);
    let d = dir.path();
    for threads in ["1", "2", "4"] {
        let env = [("ACTLOG_THREADS", threads)];
        let c = |args: &[&str]| stdout(&run_env(d, &env, args)).trim().to_owned();
        assert_eq!(c(&["query", "-c", "-n", "3"]), "3", "threads {threads}");
        assert_eq!(
            c(&["query", "-c", "-n", "3", "-r"]),
            "3",
            "threads {threads}"
        );
        assert_eq!(
            c(&["query", "-c", "-n", "2500"]),
            "2500",
            "threads {threads}"
        );
        assert_eq!(
            c(&["query", "-c", "-n", "9999"]),
            "4000",
            "threads {threads}"
        );
        assert_eq!(c(&["query", "--user", "zoë", "-c", "-n", "10"]), "10");
        // The first 6 records in stored order are a0 a1 a2 a3 a0 a1.
        let by = c(&["query", "--count-by", "action", "-n", "6"]);
        let mut by: Vec<&str> = by.lines().collect();
        by.sort();
        assert_eq!(
            by,
            [
                r#"{"value":"a0","count":2}"#,
                r#"{"value":"a1","count":2}"#,
                r#"{"value":"a2","count":1}"#,
                r#"{"value":"a3","count":1}"#,
            ],
            "threads {threads}"
        );
        // Newest first: k = 3999 (a3), 3998 (a2), 3997 (a1).
        let by = c(&["query", "--count-by", "action", "-n", "3", "-r"]);
        let mut by: Vec<&str> = by.lines().collect();
        by.sort();
        assert_eq!(
            by,
            [
                r#"{"value":"a1","count":1}"#,
                r#"{"value":"a2","count":1}"#,
                r#"{"value":"a3","count":1}"#,
            ]
        );
        let by = c(&[
            "query",
            "--count-by",
            "details.k",
            "-n",
            "1000",
            "--user",
            "zoë",
        ]);
        assert_eq!(by.lines().count(), 1000, "threads {threads}");
    }
}

#[test]
fn actlog_threads_is_checked_and_one_thread_spawns_none() {
    let dir = big_store(3000);
    let d = dir.path();
    // Set but empty is the same as unset, as for every ACTLOG_* variable.
    let empty = run_env(d, &[("ACTLOG_THREADS", "")], &["query", "-c"]);
    assert_eq!(empty.status.code(), Some(0), "{}", stderr(&empty));
    for bad in ["0", "abc", "-1", "99999999999999999999", "2x"] {
        let o = run_env(d, &[("ACTLOG_THREADS", bad)], &["query", "-c"]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        let e = stderr(&o);
        assert!(
            e.contains("ACTLOG_THREADS") && e.lines().count() == 1,
            "{bad:?}: {e}"
        );
        assert!(o.stdout.is_empty());
    }
    // A plain day after the compressed one, so more than one day is read.
    let o = run(
        d,
        &[
            "append",
            "--user",
            "u",
            "--action",
            "b",
            "--at",
            "2026-11-21T00:00:00Z",
        ],
    );
    assert!(o.status.success());
    let o = run(
        d,
        &[
            "append",
            "--user",
            "u",
            "--action",
            "b",
            "--at",
            "2026-11-22T00:00:00Z",
        ],
    );
    assert!(o.status.success());
    let strace = std::process::Command::new("strace").arg("-V").output();
    if !strace.is_ok_and(|o| o.status.success()) {
        eprintln!("strace is not installed: thread spawning not checked");
        return;
    }
    let clones = |threads: &str, args: &[&str]| {
        let log = d.join(format!("strace-{threads}.log"));
        let o = std::process::Command::new("strace")
            .args(["-f", "-e", "trace=clone,clone3", "-o"])
            .arg(&log)
            .arg(env!("CARGO_BIN_EXE_actlog"))
            .arg("--dir")
            .arg(d)
            .args(args)
            .env("ACTLOG_THREADS", threads)
            .output()
            .expect("strace");
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(&log).expect("strace log");
        std::fs::remove_file(&log).expect("remove log");
        text.lines().filter(|l| l.contains("clone")).count()
    };
    for args in [
        &["query", "-c"][..],
        &["query", "-o", "json"],
        &["query", "--count-by", "action"],
        &["query", "-c", "-n", "5"],
        &["query", "-r", "-n", "5"],
        &["tail", "-n", "3"],
        &["stats"],
        &["verify"],
    ] {
        assert_eq!(clones("1", args), 0, "{args:?}");
    }
    // The check can see threads at all.
    assert!(clones("4", &["query", "-c"]) > 0);
}

#[test]
fn time_ranges_refuse_empty_ranges_and_impossible_dates_and_take_every_form() {
    let lines: Vec<String> = (0..5).map(|k| line(k, "a", None, r#""x":1"#)).collect();
    let dir = raw_store(&lines);
    let d = dir.path();
    let now = ["--now", "2026-11-20T12:00:00Z"];
    for (since, until) in [
        ("today", "yesterday"),
        ("2026-11-20", "2026-11-20"),
        ("now", "1h"),
        ("2026-11-20 10:00:03", "2026-11-20T10:00:02Z"),
    ] {
        let o = run(
            d,
            &[&now[..], &["query", "--since", since, "--until", until]].concat(),
        );
        assert_eq!(o.status.code(), Some(2), "{since} {until}");
        let e = stderr(&o);
        assert!(
            e.contains("--since") && e.contains("--until") && e.contains("empty"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }
    for bad in ["2026-11-31", "2026-02-29 10:00", "2026-04-31T00:00:00Z"] {
        let o = run(d, &[&now[..], &["query", "--since", bad]].concat());
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("no such date"), "{bad}: {}", stderr(&o));
    }
    let q = |since: &str, until: &str| {
        keys(
            d,
            &[&now[..], &["--since", since, "--until", until]].concat(),
        )
    };
    assert_eq!(q("2026-11-20 10:00:01", "2026-11-20 10:00:03"), [1, 2]);
    assert_eq!(q("2026-11-20 10:00", "2026-11-20T10:00:02+00:00"), [0, 1]);
    assert_eq!(q("@1795168801", "tomorrow"), [1, 2, 3, 4]);
    assert_eq!(q("today", "tomorrow"), [0, 1, 2, 3, 4]);
    assert_eq!(q("yesterday", "today"), Vec::<i64>::new());
    assert_eq!(q("2h ago", "119m"), [0, 1, 2, 3, 4]);
    assert_eq!(q("-3h", "-2h"), Vec::<i64>::new());
    assert_eq!(
        count(d, &["--since", "2026-11-20", "--until", "2026-11-21"]),
        5
    );
}
