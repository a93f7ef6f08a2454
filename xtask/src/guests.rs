//! Building the bare-metal guests: the Rust test and demo guests, and the C guest that follows
//! the seed's conventions.

use crate::shell::{Run, cargo, workspace_root};
use std::path::PathBuf;
use std::process::Command;

/// A guest architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
}

impl Arch {
    /// The bare-metal Rust target.
    pub fn target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
        }
    }
}

/// Installs a rustup target if it is missing.
pub fn ensure_target(target: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output_text()?;
    if installed.lines().any(|line| line.trim() == target) {
        return Ok(());
    }
    eprintln!("    installing the Rust target {target}");
    Command::new("rustup").args(["target", "add", target]).run()
}

/// Installs the rustup components that the checks use (rustfmt, clippy) if they are missing.
pub fn ensure_components() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output_text()?;
    for component in ["rustfmt", "clippy"] {
        if !installed.lines().any(|line| line.starts_with(component)) {
            eprintln!("    installing the Rust component {component}");
            Command::new("rustup")
                .args(["component", "add", component])
                .run()?;
        }
    }
    Ok(())
}

/// Builds every guest for `arch` and returns the folder that holds them, one ELF per guest
/// named after it (`target/guests/<arch>/`).
pub fn build(arch: Arch) -> Result<PathBuf, String> {
    ensure_target(arch.target())?;
    let root = workspace_root();
    let target_dir = root.join("target/guests/build");
    let out = root.join("target/guests").join(arch.name());
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    // Static relocation and the guest crate's linker script: loaded at its link address.
    cargo()
        .args([
            "build",
            "--quiet",
            "--release",
            "--bins",
            "--target",
            arch.target(),
        ])
        .arg("--manifest-path")
        .arg(root.join("tests/guests/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env(
            "RUSTFLAGS",
            "-C relocation-model=static -C link-arg=-Tucall-guest.ld",
        )
        .run()?;
    let built = target_dir.join(arch.target()).join("release");
    let entries = std::fs::read_dir(root.join("tests/guests/src/bin"))
        .map_err(|e| format!("cannot list the guests: {e}"))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        std::fs::copy(built.join(name), out.join(name))
            .map_err(|e| format!("cannot copy guest {name}: {e}"))?;
    }
    build_c_guests(arch, &out)?;
    Ok(out)
}

/// Builds the C guests with the system's C compiler, freestanding, with the same linker script.
fn build_c_guests(arch: Arch, out: &std::path::Path) -> Result<(), String> {
    let root = workspace_root();
    let script = root.join(format!("guest/link/{}.ld", arch.name()));
    let sources = std::fs::read_dir(root.join("tests/guests/c"))
        .map_err(|e| format!("cannot list the C guests: {e}"))?;
    for source in sources.flatten().map(|entry| entry.path()) {
        let Some(name) = source.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        Command::new("cc")
            .args([
                "-O2",
                "-g",
                "-ffreestanding",
                "-nostdlib",
                "-static",
                "-fno-pic",
                "-no-pie",
                "-fno-stack-protector",
                "-fno-asynchronous-unwind-tables",
                "-mno-red-zone",
                "-mgeneral-regs-only",
                "-Wall",
                "-Werror",
                "-Wl,--build-id=none",
            ])
            .arg(format!("-Wl,-T,{}", script.display()))
            .arg("-o")
            .arg(out.join(name))
            .arg(&source)
            .run()?;
    }
    Ok(())
}
