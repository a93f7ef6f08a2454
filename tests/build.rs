//! The README as doc tests: its Rust examples compile and run, and its bare-metal guest snippets
//! (```rust,ignore in the README, for highlighting) become plain text, since a `#![no_main]`
//! program cannot be a doc test: each names the built guest that is its test instead.

use std::{env, fs, path::PathBuf};

fn main() {
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = fs::read_to_string(&readme).expect("the README is readable");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(
        out.join("README.md"),
        text.replace("```rust,ignore", "```text"),
    )
    .expect("OUT_DIR is writable");
}
