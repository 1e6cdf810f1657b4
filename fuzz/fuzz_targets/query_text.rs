#![no_main]
//! Fuzz target: see `checks::query_text`.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::query_text(data));
