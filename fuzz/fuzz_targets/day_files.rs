#![no_main]
//! Fuzz target: see `checks::day_files`. Each input is written to one scratch directory,
//! reused for the whole run.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

use std::sync::OnceLock;

static SCRATCH: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(dir) = SCRATCH.get_or_init(|| tempfile::tempdir().ok()) {
        checks::day_files(data, &dir.path().join("logs"));
    }
});
