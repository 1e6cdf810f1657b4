//! Member summaries change how fast answers come, never what they are: random days
//! (damaged lines, duplicate keys, unknown fields, non-ASCII, addresses in every
//! spelling; members with and without summaries, small and large value sets) are
//! queried with random filters and every output format, once using the summaries and
//! once with `ACTLOG_IGNORE_SUMMARIES=1`, through the real binary.

mod common;

use actlog::gzmeta;
use common::actlog;
use std::path::Path;
use std::process::Output;

const USERS: [&str; 9] = [
    "alice", "bob", "Zoë", "用户", "a\\\"b", "K", "\u{212a}", "carol", "dave",
];
const ACTIONS: [&str; 7] = [
    "auth.login",
    "auth.logout",
    "report.view",
    "report.export",
    "x*y",
    "Änderung",
    "chat.message",
];
const IPS: [&str; 6] = [
    "203.0.113.7",
    "::ffff:203.0.113.7",
    "203.0.113.200",
    "2001:db8::1",
    "2001:DB8:0:0::2",
    "198.51.100.1",
];

/// One random stored line: mostly records, some damaged.
fn line(rng: &mut fastrand::Rng, day: &str, many_users: bool, damage: bool) -> String {
    let ms = rng.u32(0..86_400_000);
    let ts = format!(
        "{day}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    );
    let id = format!(
        "01900000-0000-7000-8000-{:012x}",
        rng.u64(0..0xffff_ffff_ffff)
    );
    let user = if many_users {
        format!("user{}", rng.u32(0..600))
    } else {
        USERS[rng.usize(0..USERS.len())].to_owned()
    };
    let action = ACTIONS[rng.usize(0..ACTIONS.len())];
    let ip = match rng.u8(0..8) {
        0 | 1 => String::new(),
        _ => format!(",\"ip_address\":\"{}\"", IPS[rng.usize(0..IPS.len())]),
    };
    let details = match rng.u8(0..4) {
        0 => String::new(),
        1 => format!(",\"details\":{{\"n\":{}}}", rng.u32(0..10)),
        2 => format!(",\"details\":{{\"n\":{}.50,\"s\":\"ü\"}}", rng.u32(0..10)),
        _ => ",\"details\":null".to_owned(),
    };
    let extra = if rng.u8(0..6) == 0 {
        ",\"tenant\":{\"id\":7}"
    } else {
        ""
    };
    let record = format!(
        "{{\"id\":\"{id}\",\"timestamp\":\"{ts}\",\"username\":\"{user}\",\"action\":\"{action}\"{details}{ip}{extra}}}"
    );
    match if damage { rng.u8(0..25) } else { 99 } {
        0 => record[..record.len() / 2].to_owned(),
        1 => "{\"not\":\"a record\"}".to_owned(),
        2 => "\0\0\0".to_owned(),
        // Duplicate keys: valid for the full parse, refused by the light one.
        3 => record.replacen('{', &format!("{{\"username\":\"{user}\","), 1),
        _ => record,
    }
}

/// Writes one day's `.gz` of random members; returns nothing, the file is the fixture.
fn write_day(dir: &Path, day: &str, rng: &mut fastrand::Rng, many_users: bool) {
    let mut gz = Vec::new();
    let members = rng.usize(1..8);
    for _ in 0..members {
        let mut data = String::new();
        let damaged_only = rng.u8(0..20) == 0;
        // Most members hold no damage: only those are answered from or skipped by
        // their summaries.
        let damage = rng.u8(0..3) == 0;
        for _ in 0..rng.usize(1..60) {
            let l = if damaged_only {
                "{torn".to_owned()
            } else {
                line(rng, day, many_users, damage)
            };
            data.push_str(&l);
            data.push('\n');
        }
        let level = flate2::Compression::fast();
        let member = if rng.u8(0..5) == 0 {
            // As written before summaries existed.
            let bounds = gzmeta::time_bounds(data.as_bytes());
            gzmeta::encode_member(data.as_bytes(), level, None, bounds)
        } else {
            gzmeta::encode_lines(data.as_bytes(), level, None)
        };
        gz.extend(member.unwrap());
    }
    std::fs::write(dir.join(format!("activity-{day}.json.gz")), gz).unwrap();
}

fn random_args(rng: &mut fastrand::Rng) -> Vec<String> {
    let mut args: Vec<String> = vec!["query".into()];
    let pick = |rng: &mut fastrand::Rng, xs: &[&str]| xs[rng.usize(0..xs.len())].to_owned();
    if rng.bool() {
        args.push("--user".into());
        args.push(match rng.u8(0..4) {
            0 => "nobody".into(),
            1 => format!("user{}", rng.u32(0..700)),
            _ => pick(rng, &USERS).replace("\\\"", "\""),
        });
    }
    if rng.u8(0..3) == 0 {
        args.push("--action".into());
        args.push(pick(
            rng,
            &["auth.*", "report.view", "x\\*y", "*export", "Ä*", "none"],
        ));
    }
    if rng.u8(0..4) == 0 {
        args.push("--ip".into());
        args.push(pick(
            rng,
            &[
                "203.0.113.7",
                "::ffff:203.0.113.7",
                "203.0.113.0/24",
                "2001:db8::2",
                "2001:db8::/32",
                "192.0.2.1",
            ],
        ));
    }
    if rng.u8(0..4) == 0 {
        args.push("--since".into());
        args.push(format!(
            "2026-11-0{} {:02}:{:02}",
            rng.u8(1..7),
            rng.u8(0..24),
            rng.u8(0..60)
        ));
    }
    if rng.u8(0..4) == 0 {
        args.push("--until".into());
        args.push(format!(
            "2026-11-0{} {:02}:{:02}",
            rng.u8(2..8),
            rng.u8(0..24),
            rng.u8(0..60)
        ));
    }
    if rng.u8(0..6) == 0 {
        args.push("--where".into());
        args.push("details.n>4".into());
    }
    if rng.u8(0..8) == 0 {
        args.push("-g".into());
        args.push("ü".into());
        if rng.bool() {
            args.push("-v".into());
        }
    }
    if rng.u8(0..5) == 0 {
        args.push("-i".into());
    }
    match rng.u8(0..10) {
        0 | 1 => args.push("-c".into()),
        2 | 3 => {
            args.push("--count-by".into());
            args.push(pick(
                rng,
                &["username", "action", "ip_address", "details.n"],
            ));
            args.extend(["-o".into(), "json".into()]);
        }
        4 => args.extend(["-o".into(), "csv".into()]),
        5 => args.extend(["-o".into(), "table".into()]),
        6 => args.extend(["-o".into(), "pretty".into()]),
        _ => args.extend(["-o".into(), "json".into()]),
    }
    if rng.u8(0..5) == 0 {
        args.push("--limit".into());
        args.push(rng.u8(0..40).to_string());
    }
    if rng.u8(0..5) == 0 {
        args.push("-r".into());
    }
    args
}

fn run(dir: &Path, args: &[String], ignore: bool) -> Output {
    let mut cmd = actlog();
    cmd.arg("--dir").arg(dir).args(args).env("NO_COLOR", "1");
    if ignore {
        cmd.env("ACTLOG_IGNORE_SUMMARIES", "1");
    } else {
        cmd.env_remove("ACTLOG_IGNORE_SUMMARIES");
    }
    cmd.output().unwrap()
}

/// The damage count line of a run's stderr (line numbers in the reports may appear
/// where summaries let a reader count the lines of members it skipped).
fn damage_count(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with("actlog: skipped"))
        .collect()
}

#[test]
fn every_answer_is_the_same_with_summaries_used_and_ignored() {
    let mut rng = fastrand::Rng::with_seed(0x5a11_0001);
    let mut compared = 0;
    let mut printed = 0;
    for dataset in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let many = dataset % 3 == 2;
        for day in ["2026-11-01", "2026-11-02", "2026-11-03"] {
            write_day(dir.path(), day, &mut rng, many);
        }
        // `cat a.gz b.gz` of two days actlog wrote (the index still tiles the file),
        // and the same bytes behind one member written by plain gzip (no index).
        let other = tempfile::tempdir().unwrap();
        write_day(other.path(), "2026-11-05", &mut rng, many);
        write_day(dir.path(), "2026-11-05", &mut rng, many);
        let name = "activity-2026-11-05.json.gz";
        let mut joined = std::fs::read(dir.path().join(name)).unwrap();
        joined.extend(std::fs::read(other.path().join(name)).unwrap());
        std::fs::write(dir.path().join(name), &joined).unwrap();
        let mut text = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&joined[..]),
            &mut text,
        )
        .unwrap();
        let mut plain_gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut plain_gzip, &text).unwrap();
        let mut mixed = plain_gzip.finish().unwrap();
        mixed.extend(std::fs::read(other.path().join(name)).unwrap());
        std::fs::write(dir.path().join("activity-2026-11-06.json.gz"), mixed).unwrap();
        // A plain day too: summaries never apply to it.
        let mut plain = String::new();
        for _ in 0..30 {
            plain += &line(&mut rng, "2026-11-04", many, true);
            plain.push('\n');
        }
        std::fs::write(dir.path().join("activity-2026-11-04.json"), plain).unwrap();
        for _ in 0..30 {
            let args = random_args(&mut rng);
            let used = run(dir.path(), &args, false);
            let ignored = run(dir.path(), &args, true);
            let shown = args.join(" ");
            assert_eq!(
                String::from_utf8_lossy(&used.stdout),
                String::from_utf8_lossy(&ignored.stdout),
                "stdout of `actlog {shown}` differs (dataset {dataset})"
            );
            assert_eq!(used.status.code(), ignored.status.code(), "exit of {shown}");
            assert_eq!(
                damage_count(&used.stderr),
                damage_count(&ignored.stderr),
                "damage of {shown}: {}",
                String::from_utf8_lossy(&used.stderr)
            );
            let windowed = args.iter().any(|a| a == "--since" || a == "--until");
            if !windowed {
                assert_eq!(
                    String::from_utf8_lossy(&used.stderr),
                    String::from_utf8_lossy(&ignored.stderr),
                    "stderr of {shown}"
                );
            }
            compared += 1;
            printed += usize::from(!used.stdout.is_empty());
        }
    }
    assert_eq!(compared, 240);
    assert!(
        printed > compared / 2,
        "only {printed} of {compared} queries printed anything"
    );
}

/// Summaries are used at all: a count over a member whose summary says it holds no
/// damage is answered without inflating it. The price, documented in docs/FORMAT.md: a
/// member whose compressed body is destroyed behind an intact header is not noticed by
/// such a count (the summary still says what the member held); `actlog verify` finds it,
/// and ignoring summaries reads and reports it.
#[test]
fn counts_come_from_headers_without_inflating() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut data = String::new();
    let mut n = 0;
    while n < 40 {
        let l = line(&mut rng, "2026-11-01", false, false);
        if actlog::record::LiteRecord::parse(l.as_bytes()).is_some() {
            data += &l;
            data.push('\n');
            n += 1;
        }
    }
    let mut member =
        gzmeta::encode_lines(data.as_bytes(), flate2::Compression::fast(), None).unwrap();
    let xlen = usize::from(u16::from_le_bytes([member[10], member[11]]));
    // Zero the deflate body, keep header and trailer.
    let body = 12 + xlen..member.len() - 8;
    member[body].fill(0);
    std::fs::write(dir.path().join("activity-2026-11-01.json.gz"), &member).unwrap();
    let args: Vec<String> = ["query", "-c"].map(String::from).to_vec();
    let used = run(dir.path(), &args, false);
    assert_eq!(String::from_utf8_lossy(&used.stdout), "40\n");
    let ignored = run(dir.path(), &args, true);
    assert_eq!(String::from_utf8_lossy(&ignored.stdout), "0\n");
    assert!(
        String::from_utf8_lossy(&ignored.stderr).contains("damaged"),
        "{}",
        String::from_utf8_lossy(&ignored.stderr)
    );
}

/// The checks a reader makes cheaply (docs/FORMAT.md): a summary whose counts do not add
/// up is not believed, and a member written out whole must hold the number of lines its
/// summary says, or it is read line by line.
#[test]
fn summaries_that_fail_the_cheap_checks_are_not_believed() {
    use actlog::summary::{Summary, Values};
    let mut rng = fastrand::Rng::with_seed(11);
    let mut data = String::new();
    while data.lines().count() < 20 {
        let l = line(&mut rng, "2026-11-01", false, false);
        if actlog::record::LiteRecord::parse(l.as_bytes()).is_some() {
            data += &l;
            data.push('\n');
        }
    }
    let (truth, bounds) = Summary::of_lines(data.as_bytes());
    let lies: Vec<(&str, Summary)> = vec![
        (
            "lines != valid + damaged",
            Summary {
                valid: 25,
                ..truth.clone()
            },
        ),
        (
            "usernames count fewer records than are valid",
            Summary {
                users: Some(Values::Exact(vec![("alice".into(), 1)])),
                ..truth.clone()
            },
        ),
        (
            "a line more than the member holds, consistently",
            Summary {
                lines: 21,
                valid: 21,
                users: None,
                actions: None,
                ips: None,
                ..truth.clone()
            },
        ),
    ];
    let expected_json = data.clone();
    for (what, lie) in lies {
        let dir = tempfile::tempdir().unwrap();
        let member = gzmeta::encode_member_with(
            data.as_bytes(),
            flate2::Compression::fast(),
            None,
            bounds,
            Some(&lie),
        )
        .unwrap();
        std::fs::write(dir.path().join("activity-2026-11-01.json.gz"), member).unwrap();
        let json: Vec<String> = ["query", "-o", "json"].map(String::from).to_vec();
        let out = run(dir.path(), &json, false);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected_json,
            "{what}: -o json"
        );
        if what.starts_with("a line more") {
            // Consistent in itself: only `actlog verify` can tell (it inflates).
            continue;
        }
        let count: Vec<String> = ["query", "-c"].map(String::from).to_vec();
        let out = run(dir.path(), &count, false);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "20\n", "{what}: -c");
        let by: Vec<String> = ["query", "--count-by", "username", "-o", "json"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            run(dir.path(), &by, false).stdout,
            run(dir.path(), &by, true).stdout,
            "{what}: --count-by"
        );
    }
}

/// A random `details` value for [`rich_line`]: every JSON kind, numbers in every
/// spelling, strings holding quotes, braces, escapes and numbers, nesting and arrays.
fn rich_value(rng: &mut fastrand::Rng, depth: u8) -> String {
    let scalars = [
        "4",
        "5",
        "-0",
        "1.50",
        "1e2",
        "4.0000000000000000001",
        "100000000000000000001",
        "-7",
        "0.5",
        "\"7\"",
        "\"x\\\"}{,\"",
        "\"\\u00e9t\u{e9}\"",
        "\"ü\"",
        "true",
        "false",
        "null",
        "\"\"",
        "\"5e0\"",
    ];
    match rng.u8(0..if depth > 1 { 1 } else { 4 }) {
        0 => scalars[rng.usize(0..scalars.len())].to_owned(),
        1 => format!(
            "[{},{}]",
            rich_value(rng, depth + 1),
            rich_value(rng, depth + 1)
        ),
        _ => rich_object(rng, depth + 1),
    }
}

fn rich_object(rng: &mut fastrand::Rng, depth: u8) -> String {
    // `\u006e` is `n` spelled with an escape; `n ` is another key.
    let keys = ["n", "s", "o", "a", "déjà", "\\u006e", "n ", "x"];
    let mut used = Vec::new();
    let mut members = Vec::new();
    for _ in 0..rng.usize(0..4) {
        let key = keys[rng.usize(0..keys.len())];
        // Keys are unique (a valid record's are); `\u006e` counts as `n`.
        let name = if key == "\\u006e" { "n" } else { key };
        if used.contains(&name) {
            continue;
        }
        used.push(name);
        let sep = if rng.u8(0..4) == 0 { " : " } else { ":" };
        members.push(format!("\"{key}\"{sep}{}", rich_value(rng, depth)));
    }
    let comma = if rng.u8(0..4) == 0 { " , " } else { "," };
    format!("{{{}}}", members.join(comma))
}

/// A valid record whose `details` is [`rich_object`] (or absent, or null), sometimes
/// with spaces between tokens as another program might write it.
fn rich_line(rng: &mut fastrand::Rng, day: &str) -> String {
    let details = match rng.u8(0..6) {
        0 => String::new(),
        1 => ",\"details\":null".to_owned(),
        _ => format!(",\"details\":{}", rich_object(rng, 0)),
    };
    let ua = if rng.bool() {
        ",\"user_agent\":\"Mozilla \\\"details\\\":{\\\"n\\\":9}\""
    } else {
        ""
    };
    let colon = if rng.u8(0..5) == 0 { "\t: " } else { ":" };
    format!(
        "{{\"id\"{colon}\"01900000-0000-7000-8000-{:012x}\",\"timestamp\":\"{day}T{:02}:00:00.000Z\",\"username\":\"u\",\"action\":\"a\"{details}{ua}}}",
        rng.u64(0..0xffff_ffff_ffff),
        rng.u8(0..24)
    )
}

/// `-c --where` on `details` reads valid members' lines for `details` alone (see
/// `Filter::valid_line_matches`): every count equals the full scan's, on values of every
/// kind and spelling, escaped keys, arrays on the path, spaces between tokens, members
/// cut by a window, and members with damage (read as always).
#[test]
fn where_counts_on_details_match_the_full_scan() {
    let mut rng = fastrand::Rng::with_seed(0x5a11_0002);
    let dir = tempfile::tempdir().unwrap();
    for day in ["2026-11-01", "2026-11-02"] {
        let mut gz = Vec::new();
        for m in 0..6 {
            let mut data = String::new();
            for _ in 0..rng.usize(20..120) {
                let l = rich_line(&mut rng, day);
                assert!(
                    actlog::record::Record::parse_line(l.as_bytes()).is_ok(),
                    "the generator wrote an invalid record: {l}"
                );
                data += &l;
                data.push('\n');
            }
            if m == 5 {
                data += "{torn\n";
            }
            let member = gzmeta::encode_lines(data.as_bytes(), flate2::Compression::fast(), None);
            gz.extend(member.unwrap());
        }
        std::fs::write(dir.path().join(format!("activity-{day}.json.gz")), gz).unwrap();
    }
    let wheres = [
        "details.n>4",
        "details.n>=1e1",
        "details.n=1.5",
        "details.n=5",
        "details.n!=4",
        "details.n<0.5",
        "details.n<=-0",
        "details.n~^1",
        "details.n!~e",
        "details.s=7",
        "details.s~\"",
        "details.s=x\"}{,",
        "details.s=ét\u{e9}",
        "details.s>4",
        "details.s<b",
        "details.o.n>4",
        "details.o.s=ü",
        "details.o.o.n!=5",
        "details.a.0>1",
        "details.a.1.n<5",
        "details.déjà=true",
        "details.n =null",
        "details.x!=1",
        "details=x",
        "details!~^\\{\\}$",
        "details.missing!=1",
    ];
    let mut nonzero = 0;
    for (i, w) in wheres.iter().enumerate() {
        let mut args: Vec<String> =
            vec!["query".into(), "-c".into(), "--where".into(), (*w).into()];
        if i % 3 == 1 {
            args.extend(["--where".into(), wheres[(i * 7) % wheres.len()].into()]);
        }
        if i % 4 == 2 {
            args.extend(["--since".into(), "2026-11-01 11:00".into()]);
        }
        // Each way a count is read: days on parallel workers (the default), one day
        // with its members inflated on helper threads (`--since` the last day), and
        // one thread reading everything in turn (ACTLOG_THREADS=1).
        for (extra, threads) in [(None, None), (Some("2026-11-02"), None), (None, Some("1"))] {
            let mut args = args.clone();
            if let Some(day) = extra {
                args.extend(["--since".into(), day.into()]);
            }
            let with = |ignore: bool| {
                let mut cmd = actlog();
                cmd.arg("--dir").arg(dir.path()).args(&args);
                if ignore {
                    cmd.env("ACTLOG_IGNORE_SUMMARIES", "1");
                } else {
                    cmd.env_remove("ACTLOG_IGNORE_SUMMARIES");
                }
                match threads {
                    Some(n) => cmd.env("ACTLOG_THREADS", n),
                    None => cmd.env_remove("ACTLOG_THREADS"),
                };
                cmd.output().unwrap()
            };
            let (used, ignored) = (with(false), with(true));
            let shown = format!("{} (ACTLOG_THREADS={threads:?})", args.join(" "));
            assert_eq!(
                String::from_utf8_lossy(&used.stdout),
                String::from_utf8_lossy(&ignored.stdout),
                "`actlog {shown}`: counts differ with summaries used and ignored"
            );
            assert_eq!(used.status.code(), ignored.status.code(), "exit of {shown}");
            assert_eq!(
                String::from_utf8_lossy(&used.stderr),
                String::from_utf8_lossy(&ignored.stderr),
                "stderr of {shown}"
            );
            nonzero += usize::from(used.stdout != b"0\n");
        }
    }
    assert!(
        nonzero > 3 * wheres.len() / 2,
        "only {nonzero} of {} counts matched anything",
        3 * wheres.len()
    );
}
