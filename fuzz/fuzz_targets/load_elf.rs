//! Fuzz target: see `reference::loader::load_elf`.
#![no_main]

#[path = "../../tests/tests/reference/mod.rs"]
mod reference;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reference::loader::load_elf(data));
