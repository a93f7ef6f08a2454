//! Fuzz target: see `reference::fuzz::walk`.
#![no_main]

#[path = "../../tests/tests/reference/mod.rs"]
mod reference;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reference::fuzz::walk(data));
