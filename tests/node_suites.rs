//! The Node.js suites (the TypeScript client's, and the web page's in headless Chromium),
//! run by `cargo test` so that the one test command the README gives runs every test: each package installs its dependencies from its committed lockfile
//! (`npm ci`), builds where it has a build, and runs its `node --test` suites against the
//! `actlog` binary of this build (`ACTLOG_BIN`). Skipped, with the reason printed, only
//! where `npm` (or, for the page, Chromium) is not installed (`.ci/run` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The suites start sidecars and (for the page) a browser: one package at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn package(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

fn have_npm() -> bool {
    Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `npm ARGS` in `dir`, failing the test with npm's output when it fails.
fn npm(dir: &Path, args: &[&str]) {
    let out = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .env("ACTLOG_BIN", env!("CARGO_BIN_EXE_actlog"))
        .env_remove("ACTLOG_DIR")
        .output()
        .unwrap_or_else(|e| panic!("npm {args:?} in {}: {e}", dir.display()));
    assert!(
        out.status.success(),
        "npm {} in {} failed ({}):\n{}\n{}",
        args.join(" "),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the suites printed (test names, timings) goes to the test's own output.
    println!("{}", String::from_utf8_lossy(&out.stdout));
}

/// The `@actlog/client` package: build, `publint` and `attw` on the packed tarball, and
/// its suites (every call, retries across a frozen and a killed sidecar, the stream
/// across midnight and maintenance, the batching logger, Express and Fastify, the
/// tarball compiled under each module resolution).
#[test]
fn the_typescript_client_builds_lints_and_passes_its_suites() {
    if !have_npm() {
        eprintln!("skipping: npm is not installed (.ci/run installs nodejs and npm)");
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = package("clients/typescript");
    npm(&dir, &["ci", "--no-audit", "--no-fund"]);
    npm(&dir, &["run", "build"]);
    npm(&dir, &["run", "lint:package"]);
    npm(&dir, &["test"]);
}

/// The web page (`GET /ui`) in Debian's headless Chromium through playwright-core: the
/// list and every filter against `actlog query`, paging, live tail with pause and a
/// sidecar restart, hostile records as text with no console error or CSP violation, the
/// token, and the screenshot docs/ui.png. Skipped, with the reason, without Chromium.
#[test]
fn the_web_page_passes_its_browser_suite() {
    if !have_npm() {
        eprintln!("skipping: npm is not installed (.ci/run installs nodejs and npm)");
        return;
    }
    if !Path::new("/usr/bin/chromium").exists() {
        eprintln!(
            "skipping: /usr/bin/chromium is not installed (.ci/run installs Debian's chromium)"
        );
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = package("tests/browser");
    npm(&dir, &["ci", "--no-audit", "--no-fund"]);
    npm(&dir, &["test"]);
}
