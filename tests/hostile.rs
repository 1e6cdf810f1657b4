//! The security pass: files planted by someone hostile (symlinks, hard links, a symlink
//! swapped in while maintenance runs, a 100 MiB line, a gzip bomb), `--dir` forms, and
//! control sequences in every field of terminal output.

mod common;

use common::{actlog, peak_rss_kib};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::fs::symlink;
use std::path::Path;

const TODAY: &str = "2026-11-25T12:00:00Z";

fn line(day: &str, n: u32) -> String {
    format!(
        "{{\"id\":\"01937c3e-0000-7000-8000-{n:012}\",\"timestamp\":\"{day}T10:00:00.000Z\",\"username\":\"u{n}\",\"action\":\"a\"}}\n"
    )
}

fn write_day(dir: &Path, day: &str, lines: u32) {
    let body: String = (0..lines).map(|n| line(day, n)).collect();
    std::fs::write(dir.join(format!("activity-{day}.json")), body).unwrap();
}

fn maintain(dir: &Path) -> std::process::Output {
    actlog()
        .arg("--dir")
        .arg(dir)
        .args(["--now", TODAY, "maintain"])
        .output()
        .unwrap()
}

/// A log directory `logs` and, beside it, a file `secret.txt` an attacker wants reached.
fn planted_scene() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let secret = t.path().join("secret.txt");
    std::fs::write(&secret, "do not touch\n").unwrap();
    (t, dir, secret)
}

#[test]
fn maintenance_and_retention_leave_symlinked_and_hard_linked_days_alone_and_go_on() {
    let (t, dir, secret) = planted_scene();
    // Past retention, due for compression, and a .gz: all symlinks to the secret.
    symlink(&secret, dir.join("activity-2025-01-01.json")).unwrap();
    symlink(&secret, dir.join("activity-2026-11-20.json")).unwrap();
    symlink(&secret, dir.join("activity-2026-11-19.json.gz")).unwrap();
    // A day hard-linked from outside.
    write_day(&dir, "2026-11-21", 3);
    std::fs::hard_link(
        dir.join("activity-2026-11-21.json"),
        t.path().join("outside"),
    )
    .unwrap();
    // An ordinary day to compress and one to delete: maintenance goes on past the others.
    write_day(&dir, "2026-11-22", 3);
    write_day(&dir, "2025-02-01", 1);

    let out = maintain(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a refused day is reported: {stderr}"
    );
    for name in [
        "activity-2025-01-01.json",
        "activity-2026-11-20.json",
        "activity-2026-11-19.json.gz",
    ] {
        assert!(
            stderr.contains(&format!("left {name} alone: a symbolic link")),
            "{stderr}"
        );
        assert!(dir.join(name).symlink_metadata().unwrap().is_symlink());
    }
    assert!(
        stderr.contains("2026-11-21") && stderr.contains("hard links"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "do not touch\n");
    assert_eq!(
        std::fs::read(t.path().join("outside")).unwrap(),
        std::fs::read(dir.join("activity-2026-11-21.json")).unwrap()
    );
    assert!(dir.join("activity-2026-11-22.json.gz").exists());
    assert!(!dir.join("activity-2026-11-22.json").exists());
    assert!(!dir.join("activity-2025-02-01.json").exists());

    // Readers do not follow a symlinked day either, even to a file of valid records.
    let planted = t.path().join("planted.json");
    std::fs::write(&planted, line("2026-11-18", 777)).unwrap();
    symlink(&planted, dir.join("activity-2026-11-18.json")).unwrap();
    for args in [
        &["query", "-o", "json"][..],
        &["tail", "-n", "50", "-o", "json"],
    ] {
        let out = actlog().arg("--dir").arg(&dir).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stdout.contains("000000000777"), "{args:?}: {stdout}");
        assert!(
            stderr.contains("activity-2026-11-18.json") && stderr.contains("symbolic link"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_symlink_planted_at_the_temp_name_is_removed_not_followed() {
    let (_t, dir, secret) = planted_scene();
    write_day(&dir, "2026-11-20", 5);
    symlink(&secret, dir.join(".activity-2026-11-20.json.gz.tmp")).unwrap();
    let out = maintain(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "do not touch\n");
    assert!(!dir.join(".activity-2026-11-20.json.gz.tmp").exists());
    let q = actlog()
        .arg("--dir")
        .arg(&dir)
        .args(["query", "-c"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout), "5\n");
}

/// An attacker swaps the day file for a symlink and back, as fast as it can, while
/// maintenance compresses it: whatever interleaving happens, the target is never read
/// into the store, written or removed.
#[test]
fn a_day_file_swapped_for_a_symlink_during_maintenance_never_touches_the_target() {
    let (_t, dir, secret) = planted_scene();
    let secret_text = "{\"id\":\"01937c3e-0000-7000-8000-999999999999\",\"timestamp\":\"2026-11-20T10:00:00.000Z\",\"username\":\"SECRET\",\"action\":\"a\"}\n";
    std::fs::write(&secret, secret_text).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let policy = actlog::maintain::Policy::default();
    for round in 0..60 {
        let day = format!("2026-11-{:02}", 10 + round % 12);
        write_day(&dir, &day, 50);
        let path = dir.join(format!("activity-{day}.json"));
        let link = dir.join(".planted");
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                // Move the real file aside, put the symlink in its place, then restore.
                let aside = dir.join(".aside");
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::remove_file(&link);
                    let _ = symlink(&secret, &link);
                    if std::fs::rename(&path, &aside).is_ok() {
                        let _ = std::fs::rename(&link, &path);
                        std::thread::yield_now();
                        let _ = std::fs::rename(&aside, &path);
                    }
                }
            });
            let _ = actlog::maintain::run(&dir, today, &policy);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_text);
        // Nothing in the store ever holds the secret's record.
        let q = actlog::query::Query::default();
        let mut leaked = 0;
        let _ = actlog::query::run(&dir, &q, &mut |_, r| {
            if r.username == "SECRET" {
                leaked += 1;
            }
            ControlFlow::Continue(())
        });
        assert_eq!(leaked, 0, "round {round}: a symlink was followed");
        // Leave no symlink behind for the next round.
        if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            std::fs::remove_file(&path).unwrap();
        }
        let _ = std::fs::remove_file(dir.join(".aside"));
        let _ = std::fs::remove_file(dir.join(".planted"));
    }
}

/// README: `--dir` is an ordinary path. Relative paths start at the working directory,
/// `..` is resolved as usual, and a symlink to a directory is followed to it; inside the
/// directory, no day file is ever reached through a symlink.
#[test]
fn dir_given_relative_with_dotdot_or_as_a_symlink_behaves_as_documented() {
    let t = tempfile::tempdir().unwrap();
    let real = t.path().join("volume/logs");
    std::fs::create_dir_all(t.path().join("work")).unwrap();
    let append = |dir: &str, user: &str| {
        let mut child = actlog()
            .current_dir(t.path().join("work"))
            .args(["--dir", dir, "append", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(
            child.stdin.take().unwrap(),
            "{{\"username\":\"{user}\",\"action\":\"a\"}}"
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Relative with `..`: creates ../volume/logs (mode 0750) from the working directory.
    append("../volume/logs", "rel");
    assert!(real.is_dir());
    // Through a symlink to the directory.
    symlink(&real, t.path().join("link")).unwrap();
    append("../link", "via-link");
    assert!(
        t.path()
            .join("link")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
    let users = |dir: &Path| {
        let out = actlog()
            .arg("--dir")
            .arg(dir)
            .args(["query", "-o", "csv"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut v: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(users(&real), ["rel", "via-link"]);
    assert_eq!(users(&t.path().join("link")), ["rel", "via-link"]);
    // Only real files are in the directory.
    for e in std::fs::read_dir(&real).unwrap() {
        assert!(e.unwrap().file_type().unwrap().is_file());
    }
}

/// A record whose every text field carries terminal control sequences, bidi overrides
/// and line separators.
const HOSTILE: &str = r#"{"id":"01937c3e-0000-7000-8000-000000000001","timestamp":"2026-11-20T10:00:00.000Z","username":"ev\u001b[31me\r\u0007","action":"lo\u001b]0;title\u0007gin\u009b2J","details":{"k\u001b[2J":"v\u202e\u0000\n"},"ip_address":"203.0.113.7","user_agent":"x\u0085y\u2028z\u001bc"}"#;

/// Runs `actlog` on a pseudo-terminal (util-linux `script`), so it sees a terminal.
fn on_terminal(dir: &Path, args: &str) -> Option<String> {
    let cmd = format!(
        "{} --dir {} {args}",
        env!("CARGO_BIN_EXE_actlog"),
        dir.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        // A pager would hold the terminal; tests/cli_ux.rs tests paging itself.
        .env("ACTLOG_PAGER", "cat")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn terminal_output_neutralises_control_sequences_in_every_field() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("activity-2026-11-20.json"),
        format!("{HOSTILE}\n"),
    )
    .unwrap();
    let mut outputs = Vec::new();
    for format in ["pretty", "table", "csv"] {
        for color in ["never", "always"] {
            let args = format!("query -o {format} --color {color}");
            let out = actlog()
                .arg("--dir")
                .arg(t.path())
                .args(args.split(' '))
                .output()
                .unwrap();
            if format != "csv" {
                outputs.push((args.clone(), String::from_utf8(out.stdout).unwrap()));
            }
            match on_terminal(t.path(), &args) {
                Some(text) => outputs.push((format!("{args} on a terminal"), text)),
                None => eprintln!("skipping the terminal run: `script` is not available"),
            }
        }
    }
    for field in ["user", "action", "details.k\u{1b}[2J", "user_agent"] {
        let args = ["query", "--count-by", field, "-o", "pretty"];
        let out = actlog()
            .arg("--dir")
            .arg(t.path())
            .args(args)
            .output()
            .unwrap();
        outputs.push((args.join(" "), String::from_utf8(out.stdout).unwrap()));
    }
    assert!(outputs.len() >= 8);
    for (what, text) in outputs {
        // The pty turns \n into \r\n; any other CR, and every other control character,
        // would be the record's own.
        let text = text.replace("\r\n", "\n");
        let bad: Vec<char> = text
            .chars()
            .filter(|&c| {
                (c.is_control() && c != '\n')
                    || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202e}' | '\u{0085}')
            })
            // Our own colour codes are ESC followed by `[` and digits; check them apart.
            .filter(|&c| c != '\u{1b}')
            .collect();
        assert!(bad.is_empty(), "{what}: raw {bad:?} in {text:?}");
        let foreign_escapes = text
            .match_indices('\u{1b}')
            .filter(|(i, _)| {
                let rest = &text[i + 1..];
                let code: String = rest.chars().take_while(|c| *c != 'm').collect();
                !(rest.starts_with('[')
                    && code.len() < 8
                    && code[1..].chars().all(|c| c.is_ascii_digit() || c == ';'))
            })
            .count();
        assert_eq!(foreign_escapes, 0, "{what}: {text:?}");
        assert!(
            !text.contains("\u{1b}[2J") && !text.contains("\u{1b}]0"),
            "{what}"
        );
        let rows = text.lines().filter(|l| l.contains("203.0.113.7")).count();
        if what.starts_with("query -o") {
            assert_eq!(rows, 1, "{what}: one record, one line: {text:?}");
        }
    }
}

#[test]
fn a_100_mib_line_from_a_foreign_writer_is_skipped_with_a_warning_without_holding_it() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("activity-2026-11-20.json");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(line("2026-11-20", 1).as_bytes()).unwrap();
        f.write_all(b"{\"id\":\"").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"}\n").unwrap();
        f.write_all(line("2026-11-20", 3).as_bytes()).unwrap();
    }
    for reverse in [false, true] {
        let mut cmd = actlog();
        cmd.arg("--dir").arg(t.path()).args(["query", "-c"]);
        if reverse {
            cmd.arg("-r");
        }
        let (code, rss_kib, stderr) = peak_rss_kib(&mut cmd);
        // Exit 0: records matched; the damage is reported on stderr (README, exit codes).
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("activity-2026-11-20.json") && stderr.contains("skipped"),
            "{stderr}"
        );
        // Bounded by the line limit (a reader may hold up to a limit's worth of a line
        // twice over while reading backwards), not by the line.
        let bound_kib = (3 * actlog::scan::MAX_LINE as i64) / 1024;
        assert!(
            rss_kib < bound_kib,
            "reverse={reverse}: peak RSS {rss_kib} KiB for a 100 MiB line (bound {bound_kib} KiB)"
        );
    }
    let out = actlog()
        .arg("--dir")
        .arg(t.path())
        .args(["query", "-o", "json"])
        .output()
        .unwrap();
    let users: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .lines()
        .map(|l| if l.contains("\"u1\"") { "u1" } else { "u3" })
        .collect();
    assert_eq!(users, ["u1", "u3"]);
}

/// A forged index: one member that claims to be an ordinary member but inflates to far
/// more than any member maintenance writes. It is reported, never inflated whole; the
/// members around it are read.
#[test]
fn a_gzip_bomb_member_is_reported_not_inflated_whole() {
    let t = tempfile::tempdir().unwrap();
    let day = "2026-11-20";
    let first = line(day, 1);
    let mut bomb = Vec::with_capacity(80 << 20);
    while bomb.len() < (80 << 20) {
        bomb.extend_from_slice(line(day, 2).as_bytes());
    }
    let last = line(day, 3);
    let mut gz = Vec::new();
    for data in [first.as_bytes(), &bomb, last.as_bytes()] {
        let bounds = actlog::gzmeta::time_bounds(data);
        gz.extend(
            actlog::gzmeta::encode_member(data, flate2::Compression::best(), None, bounds).unwrap(),
        );
    }
    drop(bomb);
    assert!(gz.len() < 2 << 20, "{} bytes", gz.len());
    std::fs::write(t.path().join(format!("activity-{day}.json.gz")), &gz).unwrap();
    for reverse in [false, true] {
        let mut cmd = actlog();
        cmd.arg("--dir")
            .arg(t.path())
            .args(["query", "--user", "u3"]);
        if reverse {
            cmd.arg("-r");
        }
        let (code, rss_kib, stderr) = peak_rss_kib(&mut cmd);
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("inflates to over"), "{stderr}");
        // The cap is 64 MiB of one member; far below the 80 MiB the member holds, with
        // two threads' buffers.
        assert!(rss_kib < 200 * 1024, "reverse={reverse}: {rss_kib} KiB");
    }
    let q = actlog::query::Query::default();
    let mut users = Vec::new();
    let outcome = actlog::query::run(t.path(), &q, &mut |_, r| {
        users.push(r.username.clone());
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(users, ["u1", "u3"]);
    assert_eq!(outcome.damaged, 1);
}

/// README: a hard-linked day file is "reported by readers": it is read, and named.
#[test]
fn readers_read_a_hard_linked_day_and_say_so() {
    let work = tempfile::tempdir().unwrap();
    let logs = work.path().join("logs");
    let out = actlog()
        .arg("--dir")
        .arg(&logs)
        .args(["append", "--user", "ünïcode", "--action", "a"])
        .args(["--at", "2026-11-24T12:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::hard_link(
        logs.join("activity-2026-11-24.json"),
        work.path().join("backup.json"),
    )
    .unwrap();
    for args in [&["query", "-c"][..], &["tail", "-n", "1", "-o", "json"]] {
        let out = actlog()
            .arg("--dir")
            .arg(&logs)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!out.stdout.is_empty());
        assert!(
            err.contains("activity-2026-11-24.json has 2 hard links") && err.contains("cp -al"),
            "{args:?}: {err}"
        );
    }
}
