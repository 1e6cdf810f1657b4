//! Helpers shared by the integration tests.
#![allow(dead_code)]

use actlog::Record;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `actlog` binary under test.
pub fn actlog() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_actlog"));
    cmd.env_remove("ACTLOG_DIR");
    cmd
}

/// The raw bytes of one day file, or empty if it does not exist.
pub fn day_bytes(dir: &Path, day: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("activity-{day}.json"))).unwrap_or_default()
}

/// Every line of every plain day file in `dir`, oldest day first, without newlines,
/// with whether it parses as a record.
pub fn all_lines(dir: &Path) -> Vec<(Vec<u8>, Option<Record>)> {
    let mut out = Vec::new();
    for (day, files) in actlog::layout::list_days(dir).expect("list days") {
        if !files.plain {
            continue;
        }
        let name = actlog::layout::file_name(day, actlog::layout::FileKind::Plain);
        let bytes = std::fs::read(dir.join(name)).expect("read day file");
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let body = line.strip_suffix(b"\n").unwrap_or(line).to_vec();
            let parsed = Record::parse_line(&body).ok();
            out.push((body, parsed));
        }
    }
    out
}

/// A small tmpfs mounted for one test, unmounted on drop.
pub struct Tmpfs {
    path: PathBuf,
    _holder: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "256k") with extra `opts`, or prints why it cannot
    /// and returns `None` so the test can skip.
    pub fn mount(size: &str, opts: &str) -> Option<Tmpfs> {
        let holder = tempfile::tempdir().expect("tempdir");
        let path = holder.path().to_path_buf();
        let mut o = format!("size={size},mode=0755");
        if !opts.is_empty() {
            o = format!("{o},{opts}");
        }
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &o, "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs {
                path,
                _holder: holder,
            }),
            _ => {
                eprintln!("SKIPPED: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
                None
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Copies the fixture directory `fixtures/NAME` into `to`, giving each file the mode the
/// store gives its own (git does not keep 0640).
pub fn copy_fixture(name: &str, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let from = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    for e in std::fs::read_dir(from).expect("fixture dir") {
        let e = e.expect("fixture entry");
        let dest = to.join(e.file_name());
        std::fs::copy(e.path(), &dest).expect("copy fixture");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
}

/// A running `actlog serve` on a free loopback port, stopped on drop.
pub struct Server {
    /// The server process.
    pub child: std::process::Child,
    /// Its base address, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its log directory.
    pub dir: PathBuf,
}

impl Server {
    /// Starts `actlog --dir DIR serve --listen 127.0.0.1:0 EXTRA`.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut cmd = actlog();
        cmd.arg("--dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra);
        Server::spawn(cmd, dir)
    }

    /// Starts `cmd`, an `actlog serve` command line (perhaps behind prlimit or setpriv).
    pub fn spawn(mut cmd: std::process::Command, dir: &Path) -> Server {
        let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        // Warnings (a weak token file, say) may come before the line with the address.
        let mut seen = String::new();
        let url = loop {
            let mut line = String::new();
            let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
            seen.push_str(&line);
            assert!(n > 0, "no address in {seen:?}");
            if let Some(u) = line
                .split_whitespace()
                .last()
                .filter(|u| u.starts_with("http://"))
            {
                break u.to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        });
        Server {
            child,
            url,
            dir: dir.to_path_buf(),
        }
    }

    /// SIGTERM, then the exit status; fails if the server is not gone within 20 s.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak resident memory, in KiB, of a command run to its end (reaped by `wait4`, which
/// reports it; clippy cannot see that).
#[allow(clippy::zombie_processes)]
pub fn peak_rss_kib(cmd: &mut std::process::Command) -> (i32, i64, String) {
    // Linux charges a child, at exec, with the peak of the memory it was started from:
    // spawned by vfork that is this test process's own peak. A hook forces a real fork,
    // which charges only what this (small) test process holds right now.
    // SAFETY: the hook does nothing, so it is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || Ok(()));
    }
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    let mut status = 0;
    // SAFETY: plain libc call on our own child, with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    (
        libc::WEXITSTATUS(status),
        usage.ru_maxrss,
        reader.join().unwrap(),
    )
}
