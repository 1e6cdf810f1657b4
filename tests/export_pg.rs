//! `actlog export` against a real PostgreSQL server started for this test binary
//! (tests/common/pg.rs): what goes in is judged with psql, in SQL, against values the
//! test computes itself, and against the files as they lie on disk.

mod common;
#[path = "common/pg.rs"]
mod pg;

use common::actlog;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Output, Stdio};

fn cluster() -> Option<&'static pg::Cluster> {
    pg::shared()
}

/// `actlog --dir DIR ARGS`, run to its end.
fn run(dir: &Path, args: &[&str]) -> Output {
    actlog()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("ACTLOG_PG_URL")
        .output()
        .expect("run actlog")
}

fn export_pg(dir: &Path, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["export", "postgres", "--url", url];
    args.extend_from_slice(extra);
    run(dir, &args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Appends JSON lines through `actlog append -`.
fn append(dir: &Path, lines: &[String]) {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "-", "--max-future-skew", "1d"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn append");
    let mut stdin = child.stdin.take().expect("stdin");
    for l in lines {
        writeln!(stdin, "{l}").expect("write");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("append");
    assert!(out.status.success(), "append: {}", stderr(&out));
}

/// Every stored line of the store, read straight from its files (gzip inflated here).
fn stored_lines(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("activity-"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let mut bytes = Vec::new();
        let f = std::fs::File::open(dir.join(&n)).unwrap();
        if n.ends_with(".gz") {
            flate2::read::MultiGzDecoder::new(f)
                .read_to_end(&mut bytes)
                .unwrap();
        } else {
            std::io::BufReader::new(f).read_to_end(&mut bytes).unwrap();
        }
        out.extend(
            bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SQL text literal: dollar-quoted with a tag no test value holds.
fn lit(s: &str) -> String {
    assert!(!s.contains("$v$"));
    format!("$v${s}$v$")
}

/// One record the test writes, with the values PostgreSQL must end up holding.
struct Model {
    id: String,
    /// timestamptz input.
    ts: String,
    user: String,
    action: String,
    /// jsonb input, or None.
    details: Option<String>,
    /// inet input, canonical as actlog compares it.
    ip: Option<String>,
    ua: Option<String>,
}

fn id_of(n: u64) -> String {
    format!("01937c3e-5b7a-7d4e-9b1c-{n:012x}")
}

/// `n` ordinary records over three days, with the model of each.
fn ordinary(n: u64) -> (Vec<String>, Vec<Model>) {
    let mut lines = Vec::new();
    let mut models = Vec::new();
    for i in 0..n {
        let day = 10 + i % 3;
        let ts = format!(
            "2025-03-{day}T{:02}:{:02}:{:02}.{:03}Z",
            i % 24,
            i % 60,
            (i * 7) % 60,
            i % 1000
        );
        let (ip_in, ip) = match i % 4 {
            0 => (
                format!("203.0.113.{}", i % 256),
                format!("203.0.113.{}", i % 256),
            ),
            1 => (
                format!("::ffff:198.51.100.{}", i % 256),
                format!("198.51.100.{}", i % 256),
            ),
            2 => (format!("2001:DB8::{:X}", i), format!("2001:db8::{:x}", i)),
            _ => (String::new(), String::new()),
        };
        let details = format!(
            r#"{{"n":{i},"price":{}.50,"tags":["a","b{i}"],"big":1000000000000000000{i}}}"#,
            i % 100
        );
        let mut rec = serde_json::json!({
            "id": id_of(i),
            "timestamp": ts,
            "username": format!("user{}", i % 17),
            "action": format!("report.view{}", i % 5),
        });
        let m = rec.as_object_mut().unwrap();
        let with_details = i % 5 != 4;
        if with_details {
            m.insert("details".into(), serde_json::from_str(&details).unwrap());
        }
        if !ip_in.is_empty() {
            m.insert("ip_address".into(), ip_in.into());
        }
        if i % 3 != 2 {
            m.insert("user_agent".into(), format!("Mozilla/5.0 ({i})").into());
        }
        lines.push(rec.to_string());
        models.push(Model {
            id: id_of(i),
            ts,
            user: format!("user{}", i % 17),
            action: format!("report.view{}", i % 5),
            details: with_details.then_some(details),
            ip: (!ip.is_empty()).then_some(ip),
            ua: (i % 3 != 2).then(|| format!("Mozilla/5.0 ({i})")),
        });
    }
    (lines, models)
}

fn opt_lit(v: &Option<String>, ty: &str) -> String {
    match v {
        Some(s) => format!("{}::{ty}", lit(s)),
        None => format!("NULL::{ty}"),
    }
}

/// How many rows of `table` hold exactly the model's values (typed columns compared as
/// PostgreSQL compares its types).
fn matching_rows(c: &pg::Cluster, db: &str, table: &str, models: &[Model]) -> u64 {
    let mut total = 0;
    for chunk in models.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|m| {
                format!(
                    "({}::uuid, {}::timestamptz, {}, {}, {}, {}, {})",
                    lit(&m.id),
                    lit(&m.ts),
                    lit(&m.user),
                    lit(&m.action),
                    opt_lit(&m.details, "jsonb"),
                    opt_lit(&m.ip, "inet"),
                    opt_lit(&m.ua, "text"),
                )
            })
            .collect();
        let sql = format!(
            "SELECT count(*) FROM {table} t JOIN (VALUES {}) AS v(id, ts, u, a, d, ip, ua) ON t.id = v.id
             WHERE t.\"timestamp\" = v.ts AND t.username = v.u AND t.action = v.a
               AND t.details IS NOT DISTINCT FROM v.d AND t.ip_address IS NOT DISTINCT FROM v.ip
               AND family(t.ip_address) IS NOT DISTINCT FROM family(v.ip)
               AND t.user_agent IS NOT DISTINCT FROM v.ua",
            values.join(",")
        );
        total += c.psql_ok(db, &sql).parse::<u64>().unwrap();
    }
    total
}

/// `raw` of every row, by id.
fn raws(c: &pg::Cluster, db: &str, table: &str) -> HashMap<String, String> {
    c.psql_ok(
        db,
        &format!("SELECT id, encode(convert_to(raw, 'UTF8'), 'hex') FROM {table}"),
    )
    .lines()
    .filter(|l| !l.is_empty())
    .map(|l| {
        let (id, h) = l.split_once('|').unwrap();
        (id.to_owned(), h.to_owned())
    })
    .collect()
}

fn query_count(dir: &Path, extra: &[&str]) -> u64 {
    let mut args = vec!["query", "-c"];
    args.extend_from_slice(extra);
    let out = run(dir, &args);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn export_then_export_again_gives_the_same_rows_with_every_value_as_stored() {
    let Some(c) = cluster() else { return };
    c.create_db("roundtrip");
    let url = c.url("roundtrip");
    let dir = tempfile::tempdir().unwrap();
    let (lines, models) = ordinary(3000);
    append(dir.path(), &lines);
    // A compressed day, and a torn line the readers skip and count.
    let m = run(
        dir.path(),
        &[
            "--now",
            "2025-03-12T12:00:00Z",
            "maintain",
            "--grace-days",
            "0",
        ],
    );
    assert!(m.status.success(), "{}", stderr(&m));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("activity-2025-03-12.json"))
        .unwrap();
    f.write_all(b"{\"id\":\"01937c3e-torn\n").unwrap();
    drop(f);

    let first = export_pg(dir.path(), &url, &["--create-schema", "--batch", "700"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("3000 records sent into activity_logs: 3000 new rows"),
        "{}",
        stderr(&first)
    );
    assert!(
        stderr(&first).contains("1 damaged line skipped"),
        "{}",
        stderr(&first)
    );
    let count: u64 = c
        .psql_ok("roundtrip", "SELECT count(*) FROM activity_logs")
        .parse()
        .unwrap();
    assert_eq!(count, query_count(dir.path(), &[]));
    assert_eq!(count, 3000);
    assert_eq!(
        matching_rows(c, "roundtrip", "activity_logs", &models),
        3000
    );

    // raw is each stored line, byte for byte, as the files hold it.
    let stored = stored_lines(dir.path());
    let raw = raws(c, "roundtrip", "activity_logs");
    let mut compared = 0;
    for line in &stored {
        let Ok(r) = actlog::Record::parse_line(line) else {
            continue;
        };
        assert_eq!(
            raw.get(&r.id.to_string()),
            Some(&hex(line)),
            "raw of {}",
            r.id
        );
        compared += 1;
    }
    assert_eq!(compared, 3000);

    let fingerprint = "SELECT md5(string_agg(id::text || raw || coalesce(details::text, '') || created_at::text, ',' ORDER BY id)) FROM activity_logs";
    let before = c.psql_ok("roundtrip", fingerprint);
    let again = export_pg(dir.path(), &url, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("0 records sent into activity_logs: 0 new rows, 0 already there, 3000 exported by earlier runs"), "{}", stderr(&again));
    assert_eq!(c.psql_ok("roundtrip", fingerprint), before);
    // Progress and rows were committed together: the marks add up to the rows.
    assert_eq!(
        c.psql_ok(
            "roundtrip",
            "SELECT sum(records) FROM activity_logs_export_progress"
        ),
        "3000"
    );
}

#[test]
fn the_query_filters_choose_what_is_exported() {
    let Some(c) = cluster() else { return };
    c.create_db("filters");
    let url = c.url("filters");
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = ordinary(900);
    append(dir.path(), &lines);
    for (k, filter) in [
        vec![
            "--since",
            "2025-03-11T06:00:00Z",
            "--until",
            "2025-03-12 12:00",
        ],
        vec!["--user", "user3", "--user", "user4"],
        vec!["--where", "details.n>=450", "--action", "report.view[12]"],
        vec!["--ip", "2001:db8::/32"],
    ]
    .into_iter()
    .enumerate()
    {
        let table = format!("t{k}");
        let mut args = vec!["--create-schema", "--table", &table];
        args.extend(filter.iter().copied());
        let out = export_pg(dir.path(), &url, &args);
        assert!(out.status.success(), "{filter:?}: {}", stderr(&out));
        let n: u64 = c
            .psql_ok("filters", &format!("SELECT count(*) FROM {table}"))
            .parse()
            .unwrap();
        assert_eq!(n, query_count(dir.path(), &filter), "{filter:?}");
        assert!(n > 0, "{filter:?}");
    }
    // A narrow window first, then everything: the window's edge days are completed, and
    // nothing is there twice.
    let out = export_pg(
        dir.path(),
        &url,
        &[
            "--create-schema",
            "--table",
            "widening",
            "--since",
            "2025-03-11 13:00",
            "--until",
            "2025-03-11 14:00",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let narrow: u64 = c
        .psql_ok("filters", "SELECT count(*) FROM widening")
        .parse()
        .unwrap();
    assert_eq!(
        narrow,
        query_count(
            dir.path(),
            &["--since", "2025-03-11 13:00", "--until", "2025-03-11 14:00"]
        )
    );
    let out = export_pg(dir.path(), &url, &["--table", "widening"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.psql_ok("filters", "SELECT count(*) FROM widening"), "900");
}

/// Records no sane client sends, written straight into a day file as another program
/// (or a newer writer) might: each value must arrive as the test says it should.
fn hostile() -> (String, Vec<Model>) {
    let long_ua = "Mozilla/5.0 ".repeat(4000);
    let mut file = String::new();
    let mut models = Vec::new();
    let mut add = |n: u64, json: String, m: Model| {
        file.push_str(&json);
        file.push('\n');
        let _ = n;
        models.push(m);
    };
    let base = |n: u64, user: &str, ts: &str| Model {
        id: id_of(0xa000 + n),
        ts: ts.into(),
        user: user.into(),
        action: "x".into(),
        details: None,
        ip: None,
        ua: None,
    };
    // Backslashes, quotes, tabs, newlines, U+2028, control characters, non-ASCII.
    add(1, format!(r#"{{"id":"{}","timestamp":"2025-04-01T00:00:00.001Z","username":"back\\slash \"quoted\" \t tab \n nl \r cr","action":"x","details":{{"path":"C:\\temp\\new","sep":"a\u2028b\u2029c\u0085d","ctl":"\u0001\u0002\u001b[31m\u007f","lit":"\\N \\. end"}},"user_agent":"ua\\"}}"#, id_of(0xa001)),
        Model { details: Some("{\"path\":\"C:\\\\temp\\\\new\",\"sep\":\"a\u{2028}b\u{2029}c\u{85}d\",\"ctl\":\"\\u0001\\u0002\\u001b[31m\u{7f}\",\"lit\":\"\\\\N \\\\. end\"}".into()), ua: Some("ua\\".into()), ..base(1, "back\\slash \"quoted\" \t tab \n nl \r cr", "2025-04-01T00:00:00.001Z") });
    // A very long user agent, and names of 255 characters (non-ASCII).
    let name = "é".repeat(255);
    add(
        2,
        format!(
            r#"{{"id":"{}","timestamp":"2025-04-01T00:00:00.002Z","username":"{name}","action":"{name}","user_agent":"{long_ua}"}}"#,
            id_of(0xa002)
        ),
        Model {
            action: name.clone(),
            ua: Some(long_ua.clone()),
            ..base(2, &name, "2025-04-01T00:00:00.002Z")
        },
    );
    // Huge and precise numbers; one past numeric's range becomes a string.
    add(3, format!(r#"{{"id":"{}","timestamp":"2025-04-01T00:00:00.003Z","username":"n","action":"x","details":{{"big":100000000000000000000000000000001,"pi":3.14159265358979323846264338327950288,"price":1.50,"e":1e2,"neg":-0,"tiny":1e-300,"huge":1e400,"past":1e131072}}}}"#, id_of(0xa003)),
        Model { details: Some(r#"{"big":100000000000000000000000000000001,"pi":3.14159265358979323846264338327950288,"price":1.50,"e":100,"neg":0,"tiny":1e-300,"huge":1e400,"past":"1e131072"}"#.into()), ..base(3, "n", "2025-04-01T00:00:00.003Z") });
    // IPv4-mapped (as Node.js reports IPv4 clients), IPv6 in capitals, a full IPv6.
    add(
        4,
        format!(
            r#"{{"id":"{}","timestamp":"2025-04-01T00:00:00.004Z","username":"ip","action":"x","ip_address":"::ffff:203.0.113.7"}}"#,
            id_of(0xa004)
        ),
        Model {
            ip: Some("203.0.113.7".into()),
            ..base(4, "ip", "2025-04-01T00:00:00.004Z")
        },
    );
    add(
        5,
        format!(
            r#"{{"id":"{}","timestamp":"2025-04-01T00:00:00.005Z","username":"ip","action":"x","ip_address":"2001:DB8:0:0:0:0:0:1"}}"#,
            id_of(0xa005)
        ),
        Model {
            ip: Some("2001:db8::1".into()),
            ..base(5, "ip", "2025-04-01T00:00:00.005Z")
        },
    );
    add(
        6,
        format!(
            r#"{{"id":"{}","timestamp":"2025-04-01T00:00:00.006Z","username":"ip","action":"x","ip_address":"fe80:1:2:3:4:5:6:7"}}"#,
            id_of(0xa006)
        ),
        Model {
            ip: Some("fe80:1:2:3:4:5:6:7".into()),
            ..base(6, "ip", "2025-04-01T00:00:00.006Z")
        },
    );
    // Unknown fields (raw keeps them), an offset and nanoseconds in the timestamp
    // (timestamptz keeps microseconds), a NUL (U+FFFD in the typed columns).
    add(
        7,
        format!(
            r#"{{"id":"{}","timestamp":"2025-04-01T02:00:00.123456789+02:00","username":"nul\u0000here","action":"x","details":{{"k\u0000":"v\u0000"}},"tenant":{{"id":7,"tags":["a"]}},"schema":2}}"#,
            id_of(0xa007)
        ),
        Model {
            details: Some("{\"k\u{fffd}\":\"v\u{fffd}\"}".into()),
            ..base(7, "nul\u{fffd}here", "2025-04-01T00:00:00.123456Z")
        },
    );
    (file, models)
}

#[test]
fn hostile_values_arrive_exactly_also_through_csv_and_pg_copy() {
    let Some(c) = cluster() else { return };
    c.create_db("hostile");
    let url = c.url("hostile");
    let dir = tempfile::tempdir().unwrap();
    let (file, models) = hostile();
    std::fs::write(dir.path().join("activity-2025-04-01.json"), &file).unwrap();
    assert_eq!(
        query_count(dir.path(), &[]),
        models.len() as u64,
        "every hostile line is a valid record"
    );

    let out = export_pg(dir.path(), &url, &["--create-schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        matching_rows(c, "hostile", "activity_logs", &models),
        models.len() as u64
    );
    let raw = raws(c, "hostile", "activity_logs");
    for line in file.lines() {
        let r = actlog::Record::parse_line(line.as_bytes()).unwrap();
        assert_eq!(raw.get(&r.id.to_string()), Some(&hex(line.as_bytes())));
    }

    // The same rows through pg-copy and CSV files, loaded by psql's \copy (PostgreSQL's
    // own COPY text and CSV parsers), equal the rows the export wrote.
    let cols = "(id, \"timestamp\", username, action, details, ip_address, user_agent, raw)";
    for (format, table, options) in [
        ("pg-copy", "via_copy", ""),
        ("csv", "via_csv", "WITH (FORMAT csv, HEADER true)"),
    ] {
        let out = run(dir.path(), &["export", "--format", format]);
        assert!(out.status.success(), "{}", stderr(&out));
        let path = dir.path().join(format!(".{format}"));
        std::fs::write(&path, &out.stdout).unwrap();
        c.psql_ok(
            "hostile",
            &format!("CREATE TABLE {table} (LIKE activity_logs INCLUDING ALL)"),
        );
        c.psql_ok(
            "hostile",
            &format!("\\copy {table} {cols} FROM '{}' {options}", path.display()),
        );
        let differing = c.psql_ok(
            "hostile",
            &format!(
                "SELECT count(*) FROM activity_logs a FULL JOIN {table} b USING (id)
                 WHERE a.id IS NULL OR b.id IS NULL OR (a.\"timestamp\", a.username, a.action, a.raw)
                   IS DISTINCT FROM (b.\"timestamp\", b.username, b.action, b.raw)
                   OR a.details IS DISTINCT FROM b.details OR a.ip_address IS DISTINCT FROM b.ip_address
                   OR a.user_agent IS DISTINCT FROM b.user_agent"
            ),
        );
        assert_eq!(differing, "0", "{format}");
    }

    // CSV read back by a CSV reader: a header, then the same fields.
    let out = run(dir.path(), &["export", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "timestamp",
            "username",
            "action",
            "details",
            "ip_address",
            "user_agent",
            "raw"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), models.len());
    for (row, line) in rows.iter().zip(file.lines()) {
        assert_eq!(&row[7], line);
    }
    assert_eq!(&rows[0][2], "back\\slash \"quoted\" \t tab \n nl \r cr");

    // JSON Lines: the stored lines exactly.
    let out = run(dir.path(), &["export", "--format", "jsonl"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), file);
}

#[test]
fn a_retried_id_keeps_the_first_record() {
    let Some(c) = cluster() else { return };
    c.create_db("retry");
    let dir = tempfile::tempdir().unwrap();
    let id = id_of(0xbeef);
    let lines: Vec<String> = (0..3)
        .map(|k| format!(r#"{{"id":"{id}","timestamp":"2025-05-0{}T10:00:00.000Z","username":"u","action":"try{k}"}}"#, 1 + k % 2))
        .collect();
    append(dir.path(), &lines);
    let out = export_pg(dir.path(), &c.url("retry"), &["--create-schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        c.psql_ok("retry", "SELECT action FROM activity_logs"),
        "try0"
    );
}

/// Every fault: one line on stderr naming what is wrong, exit 2, never the password.
fn assert_fault(out: &Output, expect: &str, password: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(expect), "{expect:?} in {err}");
    assert!(
        !password.is_empty() && !err.contains(password),
        "password in {err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn each_bad_setting_and_fault_is_one_clear_line_and_exit_2() {
    let Some(c) = cluster() else { return };
    c.create_db("faults");
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = ordinary(50);
    append(dir.path(), &lines);
    let pw = pg::EXPORTER_PASSWORD;

    assert_fault(
        &export_pg(
            dir.path(),
            &format!("http://exporter:{pw}@localhost/x"),
            &[],
        ),
        "--url (ACTLOG_PG_URL)",
        pw,
    );
    assert_fault(
        &export_pg(
            dir.path(),
            &format!("postgres://exporter:{pw}@localhost:99999/x"),
            &[],
        ),
        "--url (ACTLOG_PG_URL)",
        pw,
    );
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_fault(
        &export_pg(
            dir.path(),
            &format!("postgres://exporter:{pw}@127.0.0.1:{closed}/faults"),
            &[],
        ),
        &format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{closed} (database faults, user exporter)"
        ),
        pw,
    );
    assert_fault(
        &export_pg(
            dir.path(),
            &c.url_as("exporter", "wrong-Password-123", "faults"),
            &[],
        ),
        "refused the login: password authentication failed for user \"exporter\"",
        "wrong-Password-123",
    );
    assert_fault(
        &export_pg(dir.path(), &c.url("no_such_db"), &[]),
        "database \"no_such_db\" does not exist",
        pw,
    );
    let help = actlog()
        .args(["export", "postgres", "--help"])
        .env(
            "ACTLOG_PG_URL",
            format!("postgres://exporter:{pw}@localhost/x"),
        )
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(
        !String::from_utf8_lossy(&help.stdout).contains(pw),
        "--help shows no password"
    );
    let none = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["export", "postgres"])
        .env_remove("ACTLOG_PG_URL")
        .env_remove("POSTGRES_HOST")
        .output()
        .unwrap();
    assert_fault(&none, "no PostgreSQL database given", "unused-password");
    assert_fault(
        &export_pg(dir.path(), &c.url("faults"), &[]),
        "table activity_logs does not exist in database faults: run with --create-schema",
        pw,
    );
    assert_fault(
        &export_pg(dir.path(), &c.url("faults"), &["--table", "x;drop"]),
        "--table \"x;drop\"",
        pw,
    );

    // The seed's own table: SERIAL ids.
    c.psql_ok("faults", "CREATE TABLE seed (id SERIAL PRIMARY KEY, timestamp TIMESTAMP NOT NULL DEFAULT NOW(), username VARCHAR(255) NOT NULL, action VARCHAR(255) NOT NULL, details JSONB, ip_address VARCHAR(45), user_agent TEXT, created_at TIMESTAMP DEFAULT NOW()); GRANT ALL ON seed TO exporter");
    assert_fault(
        &export_pg(
            dir.path(),
            &c.url("faults"),
            &["--table", "seed", "--create-schema"],
        ),
        "table seed cannot take actlog records: column id is integer (the seed's SERIAL id: actlog ids are UUIDs), the export needs uuid",
        pw,
    );
    // Right columns, a name too short for 255 characters.
    c.psql_ok("faults", "CREATE TABLE short (id uuid PRIMARY KEY, \"timestamp\" timestamptz NOT NULL, username varchar(50) NOT NULL, action text NOT NULL, details jsonb, ip_address inet, user_agent text, raw text NOT NULL); GRANT ALL ON short TO exporter");
    assert_fault(
        &export_pg(
            dir.path(),
            &c.url("faults"),
            &["--table", "short", "--create-schema"],
        ),
        "column username is character varying(50)",
        pw,
    );
    // No key for ON CONFLICT.
    c.psql_ok("faults", "CREATE TABLE nokey (id uuid, \"timestamp\" timestamptz NOT NULL, username text NOT NULL, action text NOT NULL, details jsonb, ip_address inet, user_agent text, raw text NOT NULL); GRANT ALL ON nokey TO exporter");
    assert_fault(
        &export_pg(
            dir.path(),
            &c.url("faults"),
            &["--table", "nokey", "--create-schema"],
        ),
        "no primary key or unique index on id",
        pw,
    );

    // A role that may read but not insert.
    c.psql_ok(
        "faults",
        &format!("CREATE ROLE reader LOGIN PASSWORD '{pw}'"),
    );
    let ok = export_pg(dir.path(), &c.url("faults"), &["--create-schema"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    c.psql_ok(
        "faults",
        "GRANT SELECT ON activity_logs, activity_logs_export_progress TO reader",
    );
    assert_fault(
        &export_pg(dir.path(), &c.url_as("reader", pw, "faults"), &[]),
        "permission denied: no INSERT privilege on activity_logs",
        pw,
    );
    // No CREATE on the schema for --create-schema.
    c.psql_ok("faults", "CREATE SCHEMA locked");
    assert_fault(
        &export_pg(
            dir.path(),
            &c.url("faults"),
            &["--create-schema", "--table", "locked.logs"],
        ),
        "permission denied",
        pw,
    );
    assert_eq!(
        c.psql_ok("faults", "SELECT count(*) FROM activity_logs"),
        "50"
    );
}

#[test]
fn the_seeds_postgres_variables_name_the_database() {
    let Some(c) = cluster() else { return };
    c.create_db("seedvars");
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = ordinary(20);
    append(dir.path(), &lines);
    let out = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["export", "postgres", "--create-schema"])
        .env_remove("ACTLOG_PG_URL")
        .env("POSTGRES_HOST", c.socket_dir())
        .env("POSTGRES_PORT", "5432")
        .env("POSTGRES_DB", "seedvars")
        .env("POSTGRES_USER", "exporter")
        .env("POSTGRES_PASSWORD", pg::EXPORTER_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains(pg::EXPORTER_PASSWORD));
    assert_eq!(
        c.psql_ok("seedvars", "SELECT count(*) FROM activity_logs"),
        "20"
    );
    // ACTLOG_PG_URL without a password takes POSTGRES_PASSWORD.
    let url = c
        .url("seedvars")
        .replace(&format!(":{}@", pg::EXPORTER_PASSWORD), "@");
    let out = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args(["export", "postgres"])
        .env("ACTLOG_PG_URL", url)
        .env("POSTGRES_PASSWORD", pg::EXPORTER_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("20 exported by earlier runs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_database_going_away_mid_export_commits_whole_batches_only_and_a_rerun_completes() {
    let Some(c) = cluster() else { return };
    c.create_db("goaway");
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = ordinary(60_000);
    append(dir.path(), &lines);
    let url = c.url("goaway");
    let out = export_pg(
        dir.path(),
        &url,
        &[
            "--create-schema",
            "--table",
            "warmup",
            "--until",
            "2025-03-09",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let child = actlog()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "export",
            "postgres",
            "--url",
            &url,
            "--create-schema",
            "--batch",
            "500",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cut the export's connection once some batches are in.
    loop {
        // The export creates the progress table: until then psql fails, which is 0.
        let out = c.psql(
            "goaway",
            "SELECT coalesce(sum(records), 0) FROM activity_logs_export_progress",
        );
        let n: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if n >= 1000 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    c.psql_ok("goaway", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'actlog export' AND datname = 'goaway'");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    if out.status.success() {
        // It finished before the cut landed: nothing to judge but the totals below.
        eprintln!("note: the export finished before its connection was cut");
    } else {
        assert_fault(
            &out,
            "lost the connection to PostgreSQL",
            pg::EXPORTER_PASSWORD,
        );
        assert!(err.contains("running the export again resumes"), "{err}");
    }
    // Whole batches only: the rows are exactly what the saved progress says.
    let rows = c.psql_ok("goaway", "SELECT count(*) FROM activity_logs");
    assert_eq!(
        rows,
        c.psql_ok(
            "goaway",
            "SELECT sum(records) FROM activity_logs_export_progress"
        )
    );
    let again = export_pg(dir.path(), &url, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        c.psql_ok("goaway", "SELECT count(*) FROM activity_logs"),
        "60000"
    );
}

fn rows(c: &pg::Cluster, db: &str, table: &str) -> u64 {
    c.psql_ok(db, &format!("SELECT count(*) FROM {table}"))
        .parse()
        .unwrap()
}

/// docs/EXPORT.md: what happens when the directory and the database disagree.
#[test]
fn when_the_store_and_the_database_disagree_nothing_is_lost_or_doubled() {
    let Some(c) = cluster() else { return };
    c.create_db("disagree");
    let url = c.url("disagree");
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = ordinary(300);
    append(dir.path(), &lines);
    let out = export_pg(dir.path(), &url, &["--create-schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let day10 = dir.path().join("activity-2025-03-10.json");

    // A record edited in place: the day is sent again, the database keeps what it had.
    let text = std::fs::read_to_string(&day10).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    let edited = first.replacen("\"username\":\"user0\"", "\"username\":\"mallory\"", 1);
    assert_ne!(edited, first);
    std::fs::write(&day10, text.replacen(&first, &edited, 1)).unwrap();
    let out = export_pg(dir.path(), &url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2025-03-10: the store no longer holds the records exported before"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(" 0 new rows, 100 already there"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        c.psql_ok(
            "disagree",
            &format!(
                "SELECT username FROM activity_logs WHERE id = '{}'",
                id_of(0)
            )
        ),
        "user0"
    );
    // The new position is saved: the next run sends nothing.
    let out = export_pg(dir.path(), &url, &[]);
    assert!(stderr(&out).contains("0 records sent"), "{}", stderr(&out));

    // Lines removed, and a record appended after them: the new one arrives, none is lost.
    let text = std::fs::read_to_string(&day10).unwrap();
    let kept: String = text.lines().skip(10).map(|l| format!("{l}\n")).collect();
    std::fs::write(&day10, kept).unwrap();
    append(
        dir.path(),
        &[format!(
            r#"{{"id":"{}","timestamp":"2025-03-10T23:00:00.000Z","username":"late","action":"x"}}"#,
            id_of(0xfff0)
        )],
    );
    let out = export_pg(dir.path(), &url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(" 1 new rows"), "{}", stderr(&out));
    assert_eq!(rows(c, "disagree", "activity_logs"), 301);

    // A day deleted by retention: its rows stay in PostgreSQL, nothing is re-sent.
    std::fs::remove_file(&day10).unwrap();
    let out = export_pg(dir.path(), &url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 records sent"), "{}", stderr(&out));
    assert_eq!(rows(c, "disagree", "activity_logs"), 301);

    // Another store exporting under the same --source: its records are added, the first
    // store's are kept.
    let other = tempfile::tempdir().unwrap();
    append(
        other.path(),
        &[format!(
            r#"{{"id":"{}","timestamp":"2025-03-11T08:00:00.000Z","username":"other","action":"x"}}"#,
            id_of(0xeee0)
        )],
    );
    let source = dir.path().canonicalize().unwrap().display().to_string();
    let out = export_pg(other.path(), &url, &["--source", &source]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 new rows"), "{}", stderr(&out));
    assert_eq!(rows(c, "disagree", "activity_logs"), 302);
    let out = export_pg(dir.path(), &url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 new rows"), "{}", stderr(&out));
    assert_eq!(rows(c, "disagree", "activity_logs"), 302);
}

/// README: a table partitioned by month (the SQL docs/EXPORT.md gives), with an old month
/// dropped on the database's side while the store still has it.
#[test]
fn a_table_partitioned_by_month_takes_the_export_and_a_dropped_month_stays_dropped() {
    let Some(c) = cluster() else { return };
    c.create_db("monthly");
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/EXPORT.md")).unwrap();
    let sql = docs
        .split("```sql partitioned\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/EXPORT.md has the partitioned table's SQL");
    c.psql_ok("monthly", sql);
    c.psql_ok("monthly", "GRANT ALL ON ALL TABLES IN SCHEMA public TO exporter; CREATE TABLE activity_logs_2025_03 PARTITION OF activity_logs FOR VALUES FROM ('2025-03-01') TO ('2025-04-01'); CREATE TABLE activity_logs_2025_04 PARTITION OF activity_logs FOR VALUES FROM ('2025-04-01') TO ('2025-05-01'); GRANT ALL ON ALL TABLES IN SCHEMA public TO exporter");
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = ordinary(200);
    append(dir.path(), &lines);
    append(
        dir.path(),
        &[format!(
            r#"{{"id":"{}","timestamp":"2025-04-02T08:00:00.000Z","username":"april","action":"x"}}"#,
            id_of(0xa9a9)
        )],
    );
    let url = c.url("monthly");
    let out = export_pg(dir.path(), &url, &["--create-schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rows(c, "monthly", "activity_logs_2025_03"), 200);
    // Retention on the database's side: the month is dropped; the export does not bring it back.
    c.psql_ok("monthly", "DROP TABLE activity_logs_2025_03");
    let out = export_pg(dir.path(), &url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rows(c, "monthly", "activity_logs"), 1);
    // A record for a month without a partition: one line naming it, nothing committed.
    append(
        dir.path(),
        &[format!(
            r#"{{"id":"{}","timestamp":"2025-06-02T08:00:00.000Z","username":"june","action":"x"}}"#,
            id_of(0xa6a6)
        )],
    );
    let out = export_pg(dir.path(), &url, &[]);
    assert_fault(
        &out,
        &format!(
            "PostgreSQL refused the batch holding record {} of 2025-06-02: no partition of relation",
            id_of(0xa6a6)
        ),
        pg::EXPORTER_PASSWORD,
    );
    assert_eq!(rows(c, "monthly", "activity_logs"), 1);
}
