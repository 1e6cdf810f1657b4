//! grep habits through the binary: `-i/--ignore-case` (for `-g`, `--user`, `--action`),
//! `-v/--invert-grep` and `-F/--fixed-strings`, compared with a small model on a random
//! store big enough for every reading path (several days read in parallel, a day gzipped
//! in several members and then appended to, a plain-only day), with mixed-case and
//! non-ASCII names so a byte prefilter on the exact spelling would be caught.

mod common;

use common::actlog;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Output, Stdio};

/// Letters whose Unicode simple case folding is exactly `char::to_lowercase`, so the
/// model can fold with the standard library (no final-sigma `ς`, no `ſ` or Kelvin sign).
const LETTERS: [char; 10] = ['a', 'A', 'b', 'B', 'é', 'É', 'ж', 'Ж', 'σ', 'Σ'];
/// Characters regexes give a meaning, for `-F` (the backslash is stored as `\\`).
const META: [char; 5] = ['.', '(', '[', '\\', '+'];

fn run(dir: &Path, args: &[&str]) -> Output {
    actlog()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run actlog")
}

fn append(dir: &Path, lines: &[String]) {
    let mut child = actlog()
        .arg("--dir")
        .arg(dir)
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut input = lines.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed");
    assert!(child.wait().expect("wait").success());
}

fn word(rng: &mut fastrand::Rng, from: &[char], len: std::ops::Range<usize>) -> String {
    let n = rng.usize(len);
    (0..n).map(|_| from[rng.usize(0..from.len())]).collect()
}

fn input_line(k: usize, day: u32, user: &str, action: &str, text: &str, pad: &str) -> String {
    let secs = (k * 7) % 86_400;
    format!(
        r#"{{"timestamp":"2026-11-{:02}T{:02}:{:02}:{:02}.000Z","username":{},"action":{},"details":{{"k":{k},"t":{}{}}}}}"#,
        20 + day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        serde_json::json!(user),
        serde_json::json!(action),
        serde_json::json!(text),
        if pad.is_empty() {
            String::new()
        } else {
            format!(r#","pad":"{pad}""#)
        }
    )
}

// ---- the model -------------------------------------------------------------------

fn fold(c: char, ignore_case: bool) -> char {
    if ignore_case {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// One position of a `-g` pattern: a character, or `.` (any character but a newline).
#[derive(Clone, Copy)]
enum Tok {
    Ch(char),
    Any,
}

/// `-g` on the stored line: patterns are literals and `.` (or, with `-F`, all literal).
fn grep_matches(pattern: &str, line: &str, ignore_case: bool, fixed: bool) -> bool {
    let pat: Vec<Tok> = pattern
        .chars()
        .map(|c| {
            if c == '.' && !fixed {
                Tok::Any
            } else {
                Tok::Ch(fold(c, ignore_case))
            }
        })
        .collect();
    let hay: Vec<char> = line.chars().map(|c| fold(c, ignore_case)).collect();
    if pat.len() > hay.len() {
        return false;
    }
    (0..=hay.len() - pat.len()).any(|i| {
        pat.iter().zip(&hay[i..]).all(|(t, &h)| match t {
            Tok::Any => h != '\n',
            Tok::Ch(c) => *c == h,
        })
    })
}

/// `--action` globs of letters, `*`, `?` and `[set]`, on characters.
fn glob_matches(glob: &[char], s: &[char], ignore_case: bool) -> bool {
    match glob.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|i| glob_matches(rest, &s[i..], ignore_case)),
        Some(('?', rest)) => !s.is_empty() && glob_matches(rest, &s[1..], ignore_case),
        Some(('[', rest)) => {
            let end = rest.iter().position(|&c| c == ']').expect("closed set");
            let set = &rest[..end];
            match s.split_first() {
                Some((&c, more)) => {
                    set.iter()
                        .any(|&m| fold(m, ignore_case) == fold(c, ignore_case))
                        && glob_matches(&rest[end + 1..], more, ignore_case)
                }
                None => false,
            }
        }
        Some((&g, rest)) => match s.split_first() {
            Some((&c, more)) => {
                fold(g, ignore_case) == fold(c, ignore_case)
                    && glob_matches(rest, more, ignore_case)
            }
            None => false,
        },
    }
}

fn same(a: &str, b: &str, ignore_case: bool) -> bool {
    a.chars().count() == b.chars().count()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| fold(x, ignore_case) == fold(y, ignore_case))
}

#[derive(Debug, Default)]
struct Case {
    greps: Vec<String>,
    users: Vec<String>,
    actions: Vec<String>,
    since_day: Option<u32>,
    ignore_case: bool,
    invert: bool,
    fixed: bool,
}

struct Line {
    text: String,
    user: String,
    action: String,
    day: u32,
}

fn selects(c: &Case, l: &Line) -> bool {
    let hit = |g: &String| grep_matches(g, &l.text, c.ignore_case, c.fixed);
    let grep_ok = if c.invert {
        !c.greps.iter().any(hit)
    } else {
        c.greps.iter().all(hit)
    };
    let action: Vec<char> = l.action.chars().collect();
    grep_ok
        && (c.users.is_empty() || c.users.iter().any(|u| same(u, &l.user, c.ignore_case)))
        && (c.actions.is_empty()
            || c.actions.iter().any(|g| {
                let g: Vec<char> = g.chars().collect();
                glob_matches(&g, &action, c.ignore_case)
            }))
        && c.since_day.is_none_or(|d| l.day >= d)
}

fn case(rng: &mut fastrand::Rng, users: &[String], actions: &[String]) -> Case {
    let mut c = Case {
        ignore_case: rng.bool(),
        fixed: rng.u8(0..3) == 0,
        ..Case::default()
    };
    for _ in 0..rng.usize(0..3) {
        let mut g = word(rng, &LETTERS, 1..3);
        if c.fixed && rng.bool() {
            let mut chars: Vec<char> = g.chars().collect();
            chars.insert(rng.usize(0..=chars.len()), META[rng.usize(0..META.len())]);
            g = chars.into_iter().collect();
        } else if rng.u8(0..4) == 0 {
            g.push('.');
        }
        c.greps.push(g);
    }
    c.invert = !c.greps.is_empty() && rng.u8(0..3) == 0;
    if rng.u8(0..3) == 0 {
        // A stored name in another case, or a random one.
        let u = &users[rng.usize(0..users.len())];
        let u = if rng.bool() {
            u.to_uppercase()
        } else {
            u.clone()
        };
        c.users.push(u);
        if rng.bool() {
            c.users.push(word(rng, &LETTERS, 1..3));
        }
    }
    if rng.u8(0..3) == 0 {
        let a = &actions[rng.usize(0..actions.len())];
        let chars: Vec<char> = a.chars().collect();
        let glob: String = match rng.u8(0..4) {
            0 => format!("{}*", chars[0].to_uppercase()),
            1 => a.to_uppercase().replacen('.', "?", 1),
            2 => format!("[{}{}]*", chars[0], LETTERS[rng.usize(0..LETTERS.len())]),
            _ => a.clone(),
        };
        c.actions.push(glob);
    }
    if rng.u8(0..5) == 0 {
        c.since_day = Some(rng.u32(1..4));
    }
    c
}

fn args(c: &Case) -> Vec<String> {
    let mut a = Vec::new();
    for g in &c.greps {
        a.push(format!("--grep={g}"));
    }
    for u in &c.users {
        a.push(format!("--user={u}"));
    }
    for g in &c.actions {
        a.push(format!("--action={g}"));
    }
    if let Some(d) = c.since_day {
        a.push(format!("--since=2026-11-{:02}", 20 + d));
    }
    for (on, flag) in [(c.ignore_case, "-i"), (c.invert, "-v"), (c.fixed, "-F")] {
        if on {
            a.push(flag.to_owned());
        }
    }
    a
}

/// Day 2026-11-21 padded past 1 MiB and gzipped into several members, then appended
/// to; 11-20 and 11-22 gzipped; 11-23 plain only.
fn store(dir: &Path, rng: &mut fastrand::Rng) -> (Vec<String>, Vec<String>) {
    let mut users: Vec<String> = (0..6).map(|_| word(rng, &LETTERS, 1..4)).collect();
    users.push("alice".into());
    users.push("ALICE".into());
    let actions: Vec<String> = (0..6)
        .map(|_| {
            format!(
                "{}.{}",
                word(rng, &LETTERS, 1..3),
                word(rng, &LETTERS, 1..3)
            )
        })
        .collect();
    let pad = "p".repeat(3000);
    let mut phase = [Vec::new(), Vec::new()];
    for k in 0..1400 {
        let day = match k {
            0..200 => 0,
            200..1000 => 1,
            1000..1200 => 2,
            1200..1300 => 1,
            _ => 3,
        };
        let mut text = word(rng, &LETTERS, 0..6);
        if rng.u8(0..8) == 0 {
            text.push(META[rng.usize(0..META.len())]);
        }
        let user = &users[rng.usize(0..users.len())];
        let action = &actions[rng.usize(0..actions.len())];
        let p = if day == 1 && k < 1000 {
            pad.as_str()
        } else {
            ""
        };
        phase[usize::from(k >= 1200)].push(input_line(k, day, user, action, &text, p));
    }
    append(dir, &phase[0]);
    let o = run(
        dir,
        &[
            "--now",
            "2026-11-24T12:00:00Z",
            "maintain",
            "--keep-days",
            "100000",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let gz = dir.join("activity-2026-11-21.json.gz");
    assert!(gz.exists() && !dir.join("activity-2026-11-21.json").exists());
    append(dir, &phase[1]);
    assert!(gz.exists() && dir.join("activity-2026-11-21.json").exists());
    assert!(!dir.join("activity-2026-11-23.json.gz").exists());
    (users, actions)
}

fn stored(dir: &Path) -> Vec<Line> {
    let o = run(dir, &["query", "-o", "json"]);
    String::from_utf8(o.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let ts = v["timestamp"].as_str().expect("ts");
            Line {
                text: l.to_owned(),
                user: v["username"].as_str().expect("user").to_owned(),
                action: v["action"].as_str().expect("action").to_owned(),
                day: ts[8..10].parse::<u32>().expect("day") - 20,
            }
        })
        .collect()
}

#[test]
fn ignore_case_invert_and_fixed_strings_agree_with_a_model_on_every_reading_path() {
    let mut rng = fastrand::Rng::with_seed(0x6e5e_9a11);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (users, actions) = store(d, &mut rng);
    let lines = stored(d);
    assert_eq!(lines.len(), 1400);

    let mut seen = [0usize; 4]; // matched something, -i made a difference, -v, -F with a metachar
    for i in 0..100 {
        let c = case(&mut rng, &users, &actions);
        let picked: Vec<&Line> = lines.iter().filter(|l| selects(&c, l)).collect();
        let mode = i % 6;
        let mut a = args(&c);
        let n = rng.usize(1..40);
        let mut want: Vec<&str> = picked.iter().map(|l| l.text.as_str()).collect();
        match mode {
            0 => a.insert(0, "query".into()),
            1 => {
                a.splice(0..0, ["query".into(), "-r".into()]);
                want.reverse();
            }
            2 => {
                a.splice(0..0, ["query".into(), "-n".into(), n.to_string()]);
                want.truncate(n);
            }
            3 => {
                a.splice(0..0, ["tail".into(), "-n".into(), n.to_string()]);
                want.drain(..want.len().saturating_sub(n));
            }
            4 => a.splice(0..0, ["query".into(), "-c".into()]).for_each(drop),
            _ => a
                .splice(
                    0..0,
                    ["query".into(), "--count-by".into(), "username".into()],
                )
                .for_each(drop),
        }
        a.push("-o".into());
        a.push("json".into());
        let o = run(d, &a.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.is_empty(), "case {i} {a:?}: {err}");
        let out = String::from_utf8(o.stdout).expect("utf-8");
        match mode {
            4 => assert_eq!(out.trim(), picked.len().to_string(), "case {i} {a:?}"),
            5 => {
                let mut want: HashMap<String, u64> = HashMap::new();
                for l in &picked {
                    *want.entry(l.user.clone()).or_default() += 1;
                }
                let got: HashMap<String, u64> = out
                    .lines()
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).expect("json");
                        (
                            v["value"].as_str().expect("value").to_owned(),
                            v["count"].as_u64().expect("count"),
                        )
                    })
                    .collect();
                assert_eq!(got, want, "case {i} {a:?}");
            }
            _ => assert_eq!(out.lines().collect::<Vec<_>>(), want, "case {i} {a:?}"),
        }
        let code = if picked.is_empty() { 1 } else { 0 };
        assert_eq!(o.status.code(), Some(code), "case {i} {a:?}");
        seen[0] += usize::from(!picked.is_empty());
        if c.ignore_case {
            let exact = Case {
                ignore_case: false,
                greps: c.greps.clone(),
                users: c.users.clone(),
                actions: c.actions.clone(),
                ..c
            };
            let differs = lines.iter().any(|l| selects(&exact, l) != selects(&c, l));
            seen[1] += usize::from(differs);
        }
        seen[2] += usize::from(c.invert && !picked.is_empty());
        seen[3] +=
            usize::from(c.fixed && c.greps.iter().any(|g| g.contains(META)) && !picked.is_empty());
    }
    eprintln!("matched, -i mattered, -v matched, -F metachar matched: {seen:?}");
    assert!(
        seen[0] >= 40 && seen[1] >= 20 && seen[2] >= 8 && seen[3] >= 3,
        "{seen:?}"
    );
}

fn store_of(lines: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let input: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(k, (u, a, t))| input_line(k, 1, u, a, t, ""))
        .collect();
    append(dir.path(), &input);
    dir
}

fn ks(o: &Output) -> Vec<u64> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["details"]["k"].as_u64().expect("k")
        })
        .collect()
}

#[test]
fn each_option_does_what_its_help_says() {
    let dir = store_of(&[
        ("Émile", "Report.View", "café (1.5)"),
        ("émile", "report.view", "CAFÉ [x]"),
        ("ЖАННА", "ЖУРНАЛ.открыть", r"a\b"),
        ("Σοφία", "σ.x", "cafe"),
    ]);
    let d = dir.path();
    let q = |args: &[&str]| {
        let mut a = vec!["query", "-o", "json"];
        a.extend_from_slice(args);
        run(d, &a)
    };
    // -i for each of -g, --user and --action, non-ASCII included.
    assert_eq!(ks(&q(&["--user", "émile"])), [1]);
    assert_eq!(ks(&q(&["-i", "--user", "ÉMILE"])), [0, 1]);
    assert_eq!(ks(&q(&["--ignore-case", "--user", "жанна"])), [2]);
    assert_eq!(ks(&q(&["-i", "--action", "report.*"])), [0, 1]);
    assert_eq!(ks(&q(&["-i", "--action", "ж*.ОТКР?ТЬ"])), [2]);
    assert_eq!(ks(&q(&["-i", "--action", "[ς].X"])), [3]);
    assert_eq!(ks(&q(&["-i", "--action", "[!r]*"])), [2, 3]);
    assert_eq!(ks(&q(&["-g", "café"])), [0]);
    assert_eq!(ks(&q(&["-i", "-g", "café"])), [0, 1]);
    assert_eq!(ks(&q(&["-i", "-g", "ΣΟΦΊΑ"])), [3]);
    // -v: none of the patterns; other filters still apply.
    assert_eq!(ks(&q(&["-v", "-g", "émile"])), [0, 2, 3]);
    assert_eq!(ks(&q(&["-v", "-i", "-g", "émile", "-g", "cafe"])), [2]);
    assert_eq!(
        ks(&q(&["--invert-grep", "-g", "Ж", "-i", "--user", "ÉMILE"])),
        [0, 1]
    );
    let o = q(&["-v", "--user", "émile"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "actlog: -v/--invert-grep needs at least one -g/--grep PATTERN: it keeps the records whose line matches none of them\n"
    );
    assert!(o.stdout.is_empty());
    // -F: metacharacters are themselves; the backslash is the stored line's `\\`.
    assert_eq!(ks(&q(&["-F", "-g", "(1.5)"])), [0]);
    assert_eq!(ks(&q(&["-F", "-g", "1x5"])).len(), 0);
    assert_eq!(ks(&q(&["-F", "-g", "[x]"])), [1]);
    assert_eq!(ks(&q(&["--fixed-strings", "-g", r"a\\b"])), [2]);
    assert_eq!(ks(&q(&["-F", "-i", "-g", "[X]"])), [1]);
    assert_eq!(ks(&q(&["-F", "-i", "-v", "-g", "(", "-g", "[X"])), [2, 3]);
    let o = q(&["-g", "("]);
    assert_eq!(o.status.code(), Some(2), "an unclosed group is a bad regex");
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("actlog: --grep \"(\": "));
    // Exit status: 1 when -v leaves nothing.
    assert_eq!(q(&["-v", "-g", "k"]).status.code(), Some(1));
    // The help says what -i folds and what -v does with several -g.
    let help = String::from_utf8(run(d, &["query", "--help"]).stdout).expect("utf-8");
    for want in [
        "--ignore-case",
        "simple case folding",
        "--invert-grep",
        "none of the -g",
        "--fixed-strings",
    ] {
        assert!(help.contains(want), "{want} missing from query --help");
    }
    let help = String::from_utf8(run(d, &["tail", "--help"]).stdout).expect("utf-8");
    assert!(help.contains("--invert-grep"));
}

#[test]
fn tail_follow_honours_ignore_case_invert_and_fixed_strings() {
    let dir = store_of(&[("ALICE", "start", "seen (x)")]);
    let d = dir.path();
    let mut child = actlog()
        .arg("--dir")
        .arg(d)
        .args([
            "tail", "-f", "-o", "json", "-n", "5", "-i", "--user", "alice", "-F", "-v", "-g",
            "skip.(", "-g", "ΣKIP",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tail -f");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let _child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // A guard against hanging forever when a record is wrongly dropped, not a timing test.
    let next = || {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("tail -f printed the record within a minute");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        v["action"].as_str().expect("action").to_owned()
    };
    // The past first: following began before it was read, so nothing appended from
    // here on is missed.
    assert_eq!(next(), "start");
    let live = |user: &str, action: &str, text: &str| {
        let o = run(
            d,
            &[
                "append",
                "--user",
                user,
                "--action",
                action,
                "--details",
                &serde_json::json!({ "t": text }).to_string(),
            ],
        );
        assert!(o.status.success());
    };
    live("bob", "other user", "x");
    live("Alice", "one", "plain");
    live("alice", "grepped out", "SKIP.(");
    live("alice", "grepped out too", "σkip");
    live("alice", "regex would drop it", "skipx(");
    live("aLiCe", "last", "plain");
    assert_eq!(next(), "one");
    assert_eq!(next(), "regex would drop it");
    assert_eq!(next(), "last");
}

/// A child process killed and reaped when the test ends, passed or failed.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
