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
