//! Safer defaults through the binary: `demo` refuses a store it did not write, a
//! hard-linked day names its cause and remedy, `serve` warns about a weak token file,
//! an empty `ACTLOG_*` variable is unset, count messages are singular for one, and
//! `append`, `demo` and `serve` have examples and an exit-status line in `--help`.

mod common;

use common::actlog;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};

fn run(dir: &Path, args: &[&str]) -> Output {
    actlog()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run actlog")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file in `dir` with its bytes, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn demo_refuses_a_store_holding_records_it_did_not_write() {
    let t = tempfile::tempdir().expect("tempdir");
    let demo = ["demo", "--processes", "2", "--records", "3"];
    // A missing directory, then one holding only demo records: fine.
    let fresh = t.path().join("new");
    assert!(run(&fresh, &demo).status.success());
    let o = run(&fresh, &demo);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 processes appended 6 records"));

    // A real store (a gzipped day and a plain one, a non-ASCII name): refused, untouched.
    let prod = t.path().join("prød");
    let o = run(
        &prod,
        &[
            "append",
            "--user",
            "zoë",
            "--action",
            "login",
            "--at",
            "2026-11-01",
        ],
    );
    assert!(o.status.success());
    let o = run(&prod, &["--now", "2026-11-20", "maintain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(prod.join("activity-2026-11-01.json.gz").exists());
    // A record that looks like the demo's but lacks its mark is still foreign.
    let o = run(
        &prod,
        &[
            "append",
            "--user",
            "alice",
            "--action",
            "report.view",
            "--details",
            r#"{"demo":false}"#,
        ],
    );
    assert!(o.status.success());
    let before = snapshot(&prod);
    for env_dir in [false, true] {
        let mut cmd = actlog();
        if env_dir {
            cmd.env("ACTLOG_DIR", &prod);
        } else {
            cmd.arg("--dir").arg(&prod);
        }
        let o = cmd.args(demo).output().expect("run");
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(
            stderr(&o),
            format!(
                "actlog: demo: {} already holds records the demo did not write; refusing to mix demo records into them (--force overrides)\n",
                prod.display()
            )
        );
        assert!(o.stdout.is_empty());
        assert_eq!(snapshot(&prod), before, "nothing written");
    }
    // The same for --days, which would replace gzipped days.
    let o = run(
        &prod,
        &[
            "demo",
            "--days",
            "1",
            "--per-day",
            "5",
            "--start",
            "2026-11-01",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(snapshot(&prod), before, "nothing written");
    // --force writes all the same.
    let o = run(
        &prod,
        &["demo", "--processes", "1", "--records", "1", "--force"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 process appended 1 record to"));
    assert_ne!(snapshot(&prod), before);

    // A directory with only files that are not ours holds no records: fine.
    let other = t.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("notes.txt"), "x").expect("write");
    assert!(run(&other, &demo).status.success());
}

#[test]
fn a_hard_linked_day_names_the_backup_that_causes_it_and_what_to_use_instead() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path().join("logs");
    let at = ["--at", "2026-11-24T10:00:00Z"];
    let mut append = vec!["append", "--user", "ü", "--action", "a"];
    append.extend_from_slice(&at);
    assert!(run(&d, &append).status.success());
    std::fs::hard_link(
        d.join("activity-2026-11-24.json"),
        t.path().join("backup-activity-2026-11-24.json"),
    )
    .expect("link");
    let o = run(&d, &append);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    for want in [
        "has 2 hard links",
        "`cp -al`",
        "rsnapshot",
        "`cp -a`",
        "`rsync -a` without `--link-dest`",
    ] {
        assert!(err.contains(want), "{want:?} missing: {err}");
    }
    // The same record from standard input, and the reader's warning.
    let mut child = actlog()
        .arg("--dir")
        .arg(&d)
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"{\"timestamp\":\"2026-11-24T11:00:00.000Z\",\"username\":\"u\",\"action\":\"a\"}\n",
        )
        .expect("feed");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("`rsync -a` without `--link-dest`"), "{err}");
    assert!(err.contains("actlog: 0 records written"), "{err}");
    let o = run(&d, &["query"]);
    assert!(stderr(&o).contains("cp -al") && stderr(&o).contains("--link-dest"));
}

/// Starts `actlog serve` on a free loopback port and returns what it printed on stderr
/// before it began serving, then stops it with SIGTERM (it must exit 0).
fn serve_warnings(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let mut cmd = actlog();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .arg("--dir")
        .arg(dir)
        .arg("serve")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut before = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        if line.starts_with("actlog: serving ") {
            before.push(line);
            break;
        }
        before.push(line);
    }
    // SAFETY: signals our own child, whose pid we hold and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(
        before
            .last()
            .is_none_or(|l| !l.starts_with("actlog: serving"))
            || status.success(),
        "{before:?}"
    );
    before
}

#[test]
fn serve_warns_about_a_token_file_others_can_read_or_a_short_token() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path().join("logs");
    let file = t.path().join("tøken");
    let listen = ["--listen", "127.0.0.1:0", "--token-file"];
    let with = |mode: u32, token: &str, quiet: bool| {
        std::fs::write(&file, token).expect("write token");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let mut args: Vec<&str> = listen.to_vec();
        args.push(file.to_str().expect("utf-8 path"));
        if quiet {
            args.push("-q");
        }
        let mut lines = serve_warnings(&d, &[], &args);
        let serving = lines.pop().expect("a serving line");
        assert!(serving.starts_with("actlog: serving "), "{serving}");
        lines
    };
    let strong = "k".repeat(32);
    assert_eq!(
        with(0o600, &format!("{strong}\n"), false),
        Vec::<String>::new()
    );
    assert_eq!(
        with(0o640, &strong, false),
        [format!(
            "actlog: warning: token file {} is readable by group or others (mode 0640); chmod 600 it",
            file.display()
        )]
    );
    // 31 bytes once the trailing newline is trimmed.
    assert_eq!(
        with(0o604, &format!("{}\n", &strong[..31]), false),
        [
            format!(
                "actlog: warning: token file {} is readable by group or others (mode 0604); chmod 600 it",
                file.display()
            ),
            format!(
                "actlog: warning: the token in {} is 31 bytes, shorter than 32; use a long random one (openssl rand -hex 32)",
                file.display()
            )
        ]
    );
    assert_eq!(
        with(0o644, "short", true),
        Vec::<String>::new(),
        "-q silences both"
    );
}

#[test]
fn empty_actlog_variables_are_the_same_as_unset() {
    let t = tempfile::tempdir().expect("tempdir");
    let work = t.path();
    let in_work = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = actlog();
        cmd.current_dir(work);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args).output().expect("run")
    };
    let empty = [
        ("ACTLOG_DIR", ""),
        ("ACTLOG_NOW", ""),
        ("ACTLOG_THREADS", ""),
    ];
    let o = in_work(&["append", "--user", "ü", "--action", "a"], &empty);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(work.join("logs").is_dir(), "ACTLOG_DIR= means ./logs");
    for sub in [
        &["query", "-c"][..],
        &["tail", "-n", "1"],
        &["stats"],
        &["verify"],
    ] {
        let o = in_work(sub, &empty);
        assert!(o.status.success(), "{sub:?}: {}", stderr(&o));
    }
    let o = in_work(&["query", "-c"], &empty);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1\n");
    let o = in_work(&["maintain", "--dry-run"], &empty);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = in_work(&["demo", "--processes", "1", "--records", "1"], &empty);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        work.join("demo-logs").is_dir(),
        "ACTLOG_DIR= means ./demo-logs for demo"
    );
    // A non-empty value still counts.
    let o = in_work(&["query", "-c"], &[("ACTLOG_NOW", "not a time")]);
    assert_eq!(o.status.code(), Some(2));
    // ACTLOG_LISTEN= is the default address: serving there, or refused because another
    // program holds it; never an invalid empty address.
    let lines = serve_warnings(&work.join("logs"), &[("ACTLOG_LISTEN", "")], &[]);
    let all = lines.join("\n");
    assert!(all.contains("127.0.0.1:8417"), "{all}");
    assert!(!all.contains("invalid value"), "{all}");
}

#[test]
fn counts_are_singular_for_one() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path();
    let feed = |input: &str| {
        let mut child = actlog()
            .arg("--dir")
            .arg(d)
            .args(["append", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("feed");
        let o = child.wait_with_output().expect("wait");
        stderr(&o)
    };
    let good = "{\"username\":\"ü\",\"action\":\"a\"}\n";
    assert_eq!(feed(good), "actlog: appended 1 record\n");
    assert_eq!(feed(&good.repeat(2)), "actlog: appended 2 records\n");
    assert_eq!(feed(""), "actlog: appended 0 records\n");
    let err = feed(&format!("{good}{{\"username\":\"\"}}\n"));
    assert!(
        err.contains(
            "actlog: 1 record written, from the input lines before line 2; rerun from line 2"
        ),
        "{err}"
    );
    let err = feed(&format!("{good}{good}x\n"));
    assert!(err.contains("actlog: 2 records written"), "{err}");
    let o = run(
        &d.join("one"),
        &["demo", "--processes", "1", "--records", "1"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("1 process appended 1 record to "), "{out}");
    assert!(
        out.contains("checked every line: 1 valid record, 0 bad lines,"),
        "{out}"
    );
    // The damage summary of query and tail.
    let dmg = d.join("damaged");
    std::fs::create_dir(&dmg).expect("mkdir");
    let day = dmg.join("activity-2026-11-24.json");
    let rec = "{\"id\":\"01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11\",\"timestamp\":\"2026-11-24T13:45:12.123Z\",\"username\":\"ü\",\"action\":\"a\"}\n";
    std::fs::write(&day, format!("{rec}not json\n")).expect("write");
    for sub in ["query", "tail"] {
        let err = stderr(&run(&dmg, &[sub]));
        assert!(
            err.starts_with("actlog: skipped 1 damaged line or file:\n"),
            "{err}"
        );
    }
    std::fs::write(&day, format!("{rec}not json\nnor this\n")).expect("write");
    let err = stderr(&run(&dmg, &["query"]));
    assert!(
        err.starts_with("actlog: skipped 2 damaged lines or files:\n"),
        "{err}"
    );
    let o = run(
        &d.join("set"),
        &[
            "demo",
            "--days",
            "1",
            "--per-day",
            "1",
            "--start",
            "2026-11-01",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("wrote 1 gzipped day of 1 record "), "{out}");
}

#[test]
fn append_demo_and_serve_help_have_examples_and_the_exit_status() {
    let t = tempfile::tempdir().expect("tempdir");
    for sub in ["append", "demo", "serve", "query"] {
        let o = run(t.path(), &[sub, "--help"]);
        assert!(o.status.success());
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(help.contains("Exit status: 0 "), "{sub}: {help}");
        let examples = help.split("Examples:\n").nth(1).unwrap_or("");
        let n = examples
            .lines()
            .take_while(|l| l.starts_with("  "))
            .filter(|l| {
                l.trim_start().starts_with("actlog ")
                    || l.contains("| actlog ")
                    || l.contains(" actlog ")
            })
            .count();
        assert!(n >= 2, "{sub}: fewer than two examples: {help}");
    }
    let help = String::from_utf8_lossy(&run(t.path(), &["demo", "--help"]).stdout).into_owned();
    assert!(help.contains("--force"), "{help}");
    assert!(help.contains("did not write"), "{help}");
    let help = String::from_utf8_lossy(&run(t.path(), &["serve", "--help"]).stdout).into_owned();
    assert!(help.contains("shorter than 32 bytes"), "{help}");
}
