#![no_main]
//! Fuzz target: see `checks::day_files`. Each input is written to one scratch directory
//! (on tmpfs where there is one), reused for the whole run.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

use std::sync::OnceLock;

static SCRATCH: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // On tmpfs where there is one: maintenance's fsyncs cost nothing there.
    let scratch = || {
        tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .ok()
    };
    if let Some(dir) = SCRATCH.get_or_init(scratch) {
        checks::day_files(data, &dir.path().join("logs"));
    }
});
