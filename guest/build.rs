//! Offers the linker script `ucall-guest.ld` for the target being built, on the library search
//! path of every crate that depends on this one (as `cortex-m-rt` does with `link.x`). A guest
//! program links with it by adding `-C link-arg=-Tucall-guest.ld` to its rustflags.

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
}
