//! Issue 13 items 7, 8 and 10: progress bars only on a terminal, reports a person can
//! read (stats sizes, maintain wording and sizes, verify's new checks and hints), and the
//! --help of verify, stats and maintain.

mod common;

use actlog::{Activity, Options, Store};
use common::actlog;
use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = actlog().arg("--dir").arg(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `actlog --dir DIR ARGS` under a pseudo-terminal (stdout and stderr both on it,
/// unless ARGS redirect one); `None` when util-linux `script` is missing.
fn on_terminal(dir: &Path, args: &str) -> Option<String> {
    let cmd = format!(
        "stty cols 120 rows 50; {} --dir {} {args}",
        env!("CARGO_BIN_EXE_actlog"),
        dir.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"))
}

fn write_days(dir: &Path, days: &[&str], per_day: usize) {
    let w = Store::open(dir, Options::default()).unwrap().writer();
    for d in days {
        let batch: Vec<Activity> = (0..per_day)
            .map(|i| {
                Activity::new("zoë 名前", format!("a.{i}"))
                    .at(format!("{d}T10:00:00Z").parse().unwrap())
            })
            .collect();
        w.append_batch(&batch).unwrap();
    }
}

/// What is left of a terminal's text once the bar's last clear-line is passed.
fn after_bar(text: &str) -> &str {
    text.rsplit_once("\u{1b}[2K").map_or(text, |(_, rest)| rest)
}

#[test]
fn progress_is_drawn_on_a_terminal_and_cleared_before_the_report() {
    let t = tempfile::tempdir().unwrap();
    write_days(t.path(), &["2026-11-20", "2026-11-21", "2026-11-24"], 20);
    for (args, label) in [
        ("verify", "verifying"),
        ("stats --bytes", "counting"),
        (
            "--now 2026-11-25T12:00:00Z maintain --dry-run",
            "maintaining",
        ),
    ] {
        let Some(shown) = on_terminal(t.path(), args) else {
            eprintln!("skipping: `script` is not available");
            return;
        };
        assert!(shown.contains(label), "{args}: {shown:?}");
        // With -q no bar at all, and the report is exactly what follows the cleared bar.
        let quiet = on_terminal(t.path(), &format!("-q {args}")).unwrap();
        assert!(
            !quiet.contains(label) && !quiet.contains("\u{1b}[2K"),
            "{quiet:?}"
        );
        let report = after_bar(&shown);
        if args.contains("maintain") {
            // -q drops maintain's "nothing to do" line; nothing else differs.
            assert!(report.starts_with("would compress"), "{report:?}");
        } else {
            assert_eq!(report, quiet, "{args}");
        }
        // stderr not a terminal (stdout still one): no bar in what stderr got.
        let err_file = t.path().join(".stderr");
        let out = on_terminal(t.path(), &format!("{args} 2>{}", err_file.display())).unwrap();
        let err = std::fs::read_to_string(&err_file).unwrap();
        assert!(
            !err.contains(label) && !out.contains(label),
            "{err:?} {out:?}"
        );
    }
    // Not a terminal at all: nothing on stderr but the report.
    let (code, _, err) = run(t.path(), &["verify"]);
    assert_eq!(code, 0);
    assert_eq!(
        err,
        format!(
            "actlog: checked 3 days, 60 records in {}: 0 problems\n",
            t.path().display()
        )
    );
}

#[test]
fn verify_says_what_it_checked_in_singular_and_plural() {
    let t = tempfile::tempdir().unwrap();
    write_days(t.path(), &["2026-11-20"], 1);
    let (code, out, err) = run(t.path(), &["verify"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        err,
        format!(
            "actlog: checked 1 day, 1 record in {}: 0 problems\n",
            t.path().display()
        )
    );
    let (code, _, _) = run(&t.path().join("missing"), &["verify"]);
    assert_eq!(code, 2);
}

/// The test's own model of a timestamp's canonical text.
fn canonical(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[test]
fn verify_finds_duplicates_wrong_days_and_odd_timestamps_as_a_model_does() {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    for seed in 0..12u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let t = tempfile::tempdir().unwrap();
        let days = ["2026-11-20", "2026-11-21", "2026-11-22"];
        // Expected (file, line, kind), and for duplicates where the first copy is.
        let mut expected = BTreeSet::new();
        let mut first_seen: HashMap<u32, (String, usize)> = HashMap::new();
        for (di, day) in days.iter().enumerate() {
            let name = format!("activity-{day}.json");
            let mut text = String::new();
            for line in 1..=rng.usize(0..30) {
                let id = rng.u32(0..40);
                // Mostly of this day; sometimes of another.
                let of_day = if rng.u8(0..6) == 0 {
                    rng.usize(0..3)
                } else {
                    di
                };
                let ms = base + of_day as i64 * 86_400_000 + rng.i64(0..86_400_000);
                let canon = canonical(ms);
                let stamp = match rng.u8(0..8) {
                    0 => {
                        canon
                            .replace(".", "@")
                            .split('@')
                            .next()
                            .unwrap()
                            .to_owned()
                            + "Z"
                    }
                    1 => chrono::DateTime::from_timestamp_millis(ms)
                        .unwrap()
                        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
                        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                        .to_string(),
                    2 => canon.replace('Z', "000Z"),
                    _ => canon.clone(),
                };
                text += &format!(
                    "{{\"id\":\"01937c3e-0000-7000-8000-{id:012}\",\"timestamp\":\"{stamp}\",\"username\":\"ü\\\"{line}\",\"action\":\"a\"}}\n"
                );
                if stamp != canon {
                    expected.insert((name.clone(), line, "non-canonical-timestamp", String::new()));
                }
                if of_day != di {
                    expected.insert((name.clone(), line, "wrong-day", String::new()));
                }
                match first_seen.get(&id) {
                    Some((f, l)) => {
                        expected.insert((name.clone(), line, "duplicate-id", format!("{f}:{l}")));
                    }
                    None => {
                        first_seen.insert(id, (name.clone(), line));
                    }
                }
            }
            let path = t.path().join(&name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let (code, out, _) = run(t.path(), &["verify", "-o", "json"]);
        let mut got = BTreeSet::new();
        for l in out.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let file = Path::new(v["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let kind = v["kind"].as_str().unwrap().to_owned();
            assert!(!v["hint"].as_str().unwrap().is_empty());
            let first = if kind == "duplicate-id" {
                let d = v["detail"].as_str().unwrap();
                let at = d.rsplit_once("the first copy is at ").unwrap().1;
                Path::new(at)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            } else {
                String::new()
            };
            let kind: &'static str = Box::leak(kind.into_boxed_str());
            got.insert((file, v["line"].as_u64().unwrap() as usize, kind, first));
        }
        assert_eq!(got, expected, "seed {seed}");
        assert_eq!(code, if expected.is_empty() { 0 } else { 1 });
    }
}

#[test]
fn verify_says_what_to_do_about_each_kind_and_readme_lists_every_kind() {
    let t = tempfile::tempdir().unwrap();
    let line = |id: u32, ts: &str| {
        format!(
            "{{\"id\":\"01937c3e-0000-7000-8000-{id:012}\",\"timestamp\":\"{ts}\",\"username\":\"u\",\"action\":\"a\"}}\n"
        )
    };
    let path = t.path().join("activity-2026-11-24.json");
    std::fs::write(
        &path,
        line(1, "2026-11-24T10:00:00.000Z")
            + &line(1, "2026-11-24T10:00:00.000Z")
            + &line(2, "2026-11-25T10:00:00.000Z")
            + &line(3, "2026-11-24T10:00:00Z"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, out, err) = run(t.path(), &["verify"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("activity-2026-11-24.json:2: duplicate id: 01937c3e-0000-7000-8000-000000000001; the first copy is at "), "{out}");
    assert!(
        out.contains("activity-2026-11-24.json:3: stored in the file of another day"),
        "{out}"
    );
    assert!(
        out.contains("activity-2026-11-24.json:4: timestamp not in canonical form"),
        "{out}"
    );
    assert!(err.contains(": 3 problems\n"), "{err}");
    for needle in [
        "hint: duplicate id: ",
        "delete the later line",
        "hint: stored in the file of another day: ",
        "restore its name",
        "hint: timestamp not in canonical form: ",
        "2026-11-24T13:45:12.123Z",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    let (_, _, quiet) = run(t.path(), &["-q", "verify"]);
    assert!(
        !quiet.contains("hint:") && quiet.contains("3 problems"),
        "{quiet}"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for kind in actlog::verify::KINDS {
        assert!(readme.contains(&format!("`{kind}`")), "README lacks {kind}");
        assert!(!actlog::verify::hint(kind).is_empty(), "{kind} has no hint");
    }
}

/// The test's own model of binary units.
fn model_human(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut i = 0;
    let mut div = 1024f64;
    while i + 1 < units.len() && (n as f64 / div * 10.0).round() / 10.0 >= 1024.0 {
        div *= 1024.0;
        i += 1;
    }
    format!("{:.1} {}", n as f64 / div, units[i])
}

#[test]
fn stats_prints_human_sizes_on_a_terminal_and_bytes_elsewhere() {
    let t = tempfile::tempdir().unwrap();
    write_days(t.path(), &["2026-11-20"], 3000);
    let size = std::fs::metadata(t.path().join("activity-2026-11-20.json"))
        .unwrap()
        .len();
    let (_, piped, _) = run(t.path(), &["stats"]);
    assert!(piped.contains(&format!(" {size} ")), "{piped}");
    assert!(
        piped.lines().last().unwrap().starts_with("1 day "),
        "{piped}"
    );
    let Some(term) = on_terminal(t.path(), "-q stats") else {
        return;
    };
    assert!(
        term.contains(&model_human(size)),
        "{} in {term}",
        model_human(size)
    );
    let exact = on_terminal(t.path(), "-q stats --bytes").unwrap();
    assert!(exact.contains(&format!(" {size} ")), "{exact}");
    let (_, json, _) = run(t.path(), &["stats", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["total"]["plain_bytes"], size);
    let (_, help, _) = run(t.path(), &["stats", "--help"]);
    for needle in [
        "json bytes",
        "ratio",
        "Exit status:",
        "Examples:",
        "--bytes",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[test]
fn maintain_speaks_in_one_tense_with_units_and_says_when_nothing_is_to_do() {
    let t = tempfile::tempdir().unwrap();
    write_days(t.path(), &["2026-08-01", "2026-11-20", "2026-11-24"], 500);
    std::fs::write(t.path().join(".activity-2026-11-19.json.gz.tmp"), "x").unwrap();
    let plain = std::fs::metadata(t.path().join("activity-2026-11-20.json"))
        .unwrap()
        .len();
    let now = ["--now", "2026-11-25T12:00:00Z", "maintain"];
    let (code, dry, err) = run(t.path(), &[&now[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        dry.lines().count() == 3 && dry.lines().all(|l| l.starts_with("would ")),
        "{dry}"
    );
    assert!(
        dry.contains(&format!(
            "would compress 2026-11-20 ({})",
            model_human(plain)
        )),
        "{dry}"
    );
    let (code, done, _) = run(t.path(), &now);
    assert_eq!(code, 0);
    for l in done.lines() {
        assert!(
            ["compressed ", "deleted ", "removed "]
                .iter()
                .any(|p| l.starts_with(p)),
            "{l}"
        );
    }
    let gz = std::fs::metadata(t.path().join("activity-2026-11-20.json.gz"))
        .unwrap()
        .len();
    assert!(
        done.contains(&format!(
            "compressed 2026-11-20: {} into {}",
            model_human(plain),
            model_human(gz)
        )),
        "{done}"
    );
    let (_, again, _) = run(t.path(), &now);
    assert_eq!(
        again,
        "nothing to do: 2 days checked, none to compress or delete\n"
    );
    let (_, again, _) = run(t.path(), &[&now[..], &["--dry-run"]].concat());
    assert_eq!(
        again,
        "nothing to do: 2 days checked, none would be compressed or deleted\n"
    );
    let (_, quiet, _) = run(t.path(), &[&["-q"], &now[..]].concat());
    assert_eq!(quiet, "");
}

#[test]
fn max_bytes_takes_units_as_powers_of_1024_like_the_model() {
    let t = tempfile::tempdir().unwrap();
    write_days(
        t.path(),
        &["2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13"],
        40,
    );
    let dry = |cap: &str| {
        run(
            t.path(),
            &[
                "--now",
                "2026-11-25T12:00:00Z",
                "maintain",
                "--dry-run",
                "--grace-days",
                "99",
                "--max-bytes",
                cap,
            ],
        )
    };
    let mut rng = fastrand::Rng::with_seed(13);
    for _ in 0..12 {
        let k = rng.u64(0..40);
        let (c1, a, _) = dry(&format!("{k}K"));
        let (c2, b, _) = dry(&(k * 1024).to_string());
        let (_, c, _) = dry(&format!("{k}kib"));
        assert_eq!((c1, c2), (0, 0));
        assert_eq!(a, b, "{k}K");
        assert_eq!(a, c, "{k}kib");
    }
    assert_eq!(dry("1.5K").1, dry("1536").1);
    for g in ["20G", "512M", "1.5GiB", "1000000", "2T"] {
        assert_eq!(dry(g).0, 0, "{g}");
    }
    for bad in ["12X", "1.5", "-1", "1GB", "", "99999999999T"] {
        let (code, _, err) = dry(bad);
        assert_eq!(code, 2, "{bad}");
        assert!(
            err.contains("--max-bytes")
                && err.contains(&format!("'{bad}'"))
                && err.lines().count() == 1,
            "{bad}: {err}"
        );
    }
}

#[test]
fn negative_or_fractional_days_are_refused_with_a_message_about_the_value() {
    let t = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--keep-days", "-1"),
        ("--grace-days", "-3"),
        ("--keep-days", "1.5"),
        ("--keep-days", "abc"),
    ] {
        let (code, _, err) = run(t.path(), &["maintain", flag, value]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!(
                "actlog: invalid value '{value}' for '{flag} <N>': must be a whole number of days, 0 or more (see --help)\n"
            )
        );
    }
}

#[test]
fn help_of_verify_stats_and_maintain_has_examples_and_the_exit_status() {
    let t = tempfile::tempdir().unwrap();
    for cmd in ["verify", "stats", "maintain"] {
        let (code, help, _) = run(t.path(), &[cmd, "--help"]);
        assert_eq!(code, 0);
        assert!(
            help.contains("Exit status: 0 ") && help.contains("Examples:\n  actlog "),
            "{cmd}: {help}"
        );
    }
}
