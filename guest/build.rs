//! Offers the linker script `ucall-guest.ld` for the target being built, on the library search
//! path of every crate that depends on this one (as `cortex-m-rt` does with `link.x`). A guest
//! program links with it by adding `-C link-arg=-Tucall-guest.ld` to its rustflags. Also writes
//! the README as the doc tests see it.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let script = match arch.as_str() {
        "aarch64" => include_str!("link/aarch64.ld"),
        "riscv64" => include_str!("link/riscv64.ld"),
        _ => include_str!("link/x86_64.ld"),
    };
    fs::write(out.join("ucall-guest.ld"), script).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=link");

    // The README for its doc tests (src/lib.rs). Its bare-metal program (```rust,ignore, for
    // highlighting) becomes plain text: a `#![no_main]` program cannot be a doc test, and an
    // ignored one checks nothing; tests/tests/readme_guest.rs compares it with the test guest.
    let readme = fs::read_to_string("README.md").expect("the README is readable");
    fs::write(
        out.join("README.md"),
        readme.replace("```rust,ignore", "```text"),
    )
    .expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=README.md");
}
