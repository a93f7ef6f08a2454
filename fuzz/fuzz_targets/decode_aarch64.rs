//! Fuzz target: see `reference::fuzz::decode_aarch64`.
#![no_main]

#[path = "../../tests/tests/reference/mod.rs"]
mod reference;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reference::fuzz::decode_aarch64(data));
