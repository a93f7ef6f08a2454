//! Building the bare-metal guests: the Rust test and demo guests, and the C guests (one in the
//! seed's conventions, one built against `abi/include/ucall.h`).

use crate::shell::{Run, cargo, workspace_root};
use std::path::PathBuf;
use std::process::Command;

/// A guest architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The bare-metal Rust target.
    pub fn target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
        }
    }

    /// The name of the architecture, as in `target/guests/<name>/` and `std::env::consts::ARCH`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Whether the guest `name` exists for this architecture: the benchmark guests
    /// (`bench_*`) measure x86_64 exits with x86_64 instructions, and the benchmarks run on
    /// x86_64 only.
    fn has_guest(self, name: &str) -> bool {
        match self {
            Arch::X86_64 => true,
            Arch::Aarch64 => !name.starts_with("bench_"),
        }
    }

    /// The C compiler for bare-metal guests, the Debian package that has it, and the flags
    /// that only this architecture takes.
    fn c_compiler(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            // The kernel's rules for code without SSE state and a red zone.
            Arch::X86_64 => ("cc", "gcc", &["-mno-red-zone", "-mgeneral-regs-only"]),
            // A Linux cross compiler serves: -ffreestanding -nostdlib uses none of its libc.
            Arch::Aarch64 => (
                "aarch64-linux-gnu-gcc",
                "gcc-aarch64-linux-gnu",
                &["-mgeneral-regs-only", "-Wl,--no-warn-rwx-segments"],
            ),
        }
    }
}

/// Installs Debian `package` with apt-get if `program` is not on the PATH.
pub fn ensure_program(program: &str, package: &str) -> Result<(), String> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if found {
        return Ok(());
    }
    eprintln!("    installing {package} (for {program}) with apt-get");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
    };
    install().or_else(|_| {
        Command::new("apt-get").arg("update").run()?;
        install()
    })
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

    let entries = std::fs::read_dir(root.join("tests/guests/src/bin"))
        .map_err(|e| format!("cannot list the guests: {e}"))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| Some(entry.path().file_stem()?.to_str()?.to_string()))
        .filter(|name| arch.has_guest(name))
        .collect();
    names.sort();

    // Static relocation and the guest crate's linker script: loaded at its link address.
    let mut build = cargo();
    build
        .args(["build", "--quiet", "--release", "--target", arch.target()])
        .arg("--manifest-path")
        .arg(root.join("tests/guests/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Warnings fail the build: the guests are code under test like any other (registry
        // dependencies are capped by cargo and unaffected).
        .env(
            "RUSTFLAGS",
            "-C relocation-model=static -C link-arg=-Tucall-guest.ld -D warnings",
        );
    for name in &names {
        build.args(["--bin", name]);
    }
    build.run()?;
    let built = target_dir.join(arch.target()).join("release");
    for name in &names {
        std::fs::copy(built.join(name), out.join(name))
            .map_err(|e| format!("cannot copy guest {name}: {e}"))?;
    }
    build_c_guests(arch, &out)?;
    Ok(out)
}

/// Builds each C guest (`tests/guests/c/*.c`, which may include `ucall.h` from `abi/include/`)
/// twice with the C compiler, freestanding: as `<name>`, linked with the guest crate's linker
/// script like the Rust guests, and as `<name>_default_link`, with only the flags a freestanding
/// static program needs, so at the compiler's own link address (0x400000 with gcc, on both
/// architectures).
fn build_c_guests(arch: Arch, out: &std::path::Path) -> Result<(), String> {
    let root = workspace_root();
    let script = root.join(format!("guest/link/{}.ld", arch.name()));
    let include = root.join("abi/include");
    let sources = std::fs::read_dir(root.join("tests/guests/c"))
        .map_err(|e| format!("cannot list the C guests: {e}"))?;
    let (compiler, package, arch_flags) = arch.c_compiler();
    ensure_program(compiler, package)?;
    for source in sources.flatten().map(|entry| entry.path()) {
        if source.extension().is_none_or(|extension| extension != "c") {
            continue;
        }
        let Some(name) = source.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let compile = |output: String| {
            let mut command = Command::new(compiler);
            command
                .arg("-I")
                .arg(&include)
                .args(["-Wall", "-Werror", "-o"])
                .arg(out.join(output))
                .arg(&source);
            command
        };
        compile(name.to_string())
            .args(arch_flags)
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
                "-Wl,--build-id=none",
            ])
            .arg(format!("-Wl,-T,{}", script.display()))
            .run()?;
        // No SSE/FP registers, which the x86_64 CPL0 emulator here cannot run.
        compile(format!("{name}_default_link"))
            .args([
                "-static",
                "-nostdlib",
                "-ffreestanding",
                "-mgeneral-regs-only",
            ])
            .run()?;
    }
    Ok(())
}
