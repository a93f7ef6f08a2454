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

    // The README for its doc tests (src/lib.rs). Its bare-metal code (```rust,guest)
    // becomes plain text: it cannot be a doc test on the host; `cargo xtask test` builds it for
    // the guest targets, and tests/tests/readme_guest.rs compares the program with the test guest.
    let readme = fs::read_to_string("README.md").expect("the README is readable");
    fs::write(
        out.join("README.md"),
        readme.replace("```rust,guest", "```text"),
    )
    .expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=README.md");
}
