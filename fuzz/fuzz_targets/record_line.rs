#![no_main]
//! Fuzz target: see `checks::record_line`.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::record_line(data));
