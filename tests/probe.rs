//! `actlog probe` against real servers: a healthy `actlog serve` (exit 0, silent), no
//! server at all, a server that accepts but never answers, and a sidecar whose volume
//! turned read-only (alive but not ready): exit 1 with one line saying why.

mod common;

use common::{Server, Tmpfs, actlog};
use std::process::Output;

fn probe(args: &[&str]) -> Output {
    actlog()
        .arg("probe")
        .args(args)
        .env_remove("ACTLOG_LISTEN")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `host:port` of a server's URL.
fn addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[test]
fn a_healthy_sidecar_exits_0_and_prints_nothing() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(t.path(), &[]);
    for extra in [&[][..], &["--ready"][..]] {
        let mut args = vec!["--listen", addr(&server.url)];
        args.extend_from_slice(extra);
        let out = probe(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{}",
            stderr(&out)
        );
    }
    // The address also comes from ACTLOG_LISTEN, as serve's does; a wildcard is probed
    // on loopback.
    let port = addr(&server.url).rsplit(':').next().unwrap().to_owned();
    let out = actlog()
        .args(["probe", "--ready"])
        .env("ACTLOG_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn nothing_listening_or_no_answer_exits_1_with_one_line_naming_why() {
    // A port that was free a moment ago.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let listen = format!("127.0.0.1:{port}");
    let out = probe(&["--listen", &listen]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("not healthy")
            && text.contains("nothing is listening")
            && text.contains(&listen),
        "{text}"
    );

    // A server that accepts connections and never answers (a hung sidecar).
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = hung.local_addr().unwrap().to_string();
    let out = probe(&["--listen", &listen, "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("no answer within"), "{text}");
    drop(hung);

    // Bad flags are usage errors, exit 2.
    for bad in [&["--timeout", "soon"][..], &["--listen", "nowhere:x"][..]] {
        let out = probe(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
}

#[test]
fn a_sidecar_on_a_read_only_volume_is_alive_but_not_ready() {
    let Some(fs) = Tmpfs::mount("1m", "") else {
        return;
    };
    let server = Server::start(fs.path(), &[]);
    let listen = addr(&server.url).to_owned();
    assert_eq!(
        probe(&["--listen", &listen, "--ready"]).status.code(),
        Some(0)
    );
    let remount = |mode: &str| {
        std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(fs.path())
            .status()
            .unwrap()
            .success()
    };
    if !remount("ro") {
        eprintln!("SKIPPED: cannot remount the tmpfs read-only");
        return;
    }
    let ready = probe(&["--listen", &listen, "--ready"]);
    let alive = probe(&["--listen", &listen]);
    assert!(remount("rw"));
    assert_eq!(ready.status.code(), Some(1));
    let text = stderr(&ready);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("not ready")
            && text.contains("/readyz answered 503")
            && text.contains("Read-only"),
        "{text}"
    );
    assert_eq!(alive.status.code(), Some(0), "{}", stderr(&alive));
}
