//! Building the bare-metal guests: the Rust test and demo guests, and the C guests (one in the
//! seed's conventions, one built against `abi/include/ucall.h`).

use crate::arch::Arch;
use crate::install::{self, DebianPackage};
use crate::shell::{Run, cargo, in_lane, say, workspace_root};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The benchmark guests that every architecture has: the raw exit, the SYNC loops and a test
/// program of 200 tests. The other `bench_*` guests measure x86_64 exits with x86_64
/// instructions.
const PORTABLE_BENCH_GUESTS: [&str; 4] = [
    "bench_raw",
    "bench_sync",
    "bench_sync_plain",
    "bench_tests_200",
];

/// The guests built with the guest crate's `pool` feature (the pool convention of today's KVM
/// selftests), in a cargo run of their own so that the feature reaches only them.
const POOL_GUESTS: [&str; 1] = ["pool_guest"];

/// Whether the guest `name` exists for `arch`.
fn has_guest(arch: Arch, name: &str) -> bool {
    match arch {
        Arch::X86_64 => true,
        Arch::Aarch64 | Arch::Riscv64 => {
            !name.starts_with("bench_") || PORTABLE_BENCH_GUESTS.contains(&name)
        }
    }
}

/// The C compiler for bare-metal guests of an architecture.
struct CCompiler {
    program: &'static str,
    /// The Debian package that has it.
    package: &'static str,
    /// Flags that keep the code off the floating-point and vector registers, for every build:
    /// the x86_64 CPL0 emulator here cannot run SSE, and the guests run without FP state.
    no_fp: &'static [&'static str],
    /// Flags that keep every build free of libgcc, which `-nostdlib` leaves out (aarch64: the
    /// `__atomic` builtins as inline exclusives, not calls to libgcc's out-of-line atomics).
    no_libgcc: &'static [&'static str],
    /// Further flags for the build with the guest crate's linker script.
    scripted: &'static [&'static str],
}

/// The C compiler for bare-metal guests of `arch`. A Linux cross compiler serves: with
/// `-ffreestanding -nostdlib` none of its libc is used.
fn c_compiler(arch: Arch) -> CCompiler {
    match arch {
        // The kernel's rules for code without SSE state and a red zone.
        Arch::X86_64 => CCompiler {
            program: "cc",
            package: "gcc",
            no_fp: &["-mgeneral-regs-only"],
            no_libgcc: &[],
            scripted: &["-mno-red-zone"],
        },
        Arch::Aarch64 => CCompiler {
            program: "aarch64-linux-gnu-gcc",
            package: "gcc-aarch64-linux-gnu",
            no_fp: &["-mgeneral-regs-only"],
            no_libgcc: &["-mno-outline-atomics"],
            scripted: &["-Wl,--no-warn-rwx-segments"],
        },
        // riscv has no -mgeneral-regs-only: an ISA and ABI without F and D instead. medany:
        // the linker script's address (0x8020_0000) is out of the default model's reach.
        Arch::Riscv64 => CCompiler {
            program: "riscv64-linux-gnu-gcc",
            package: "gcc-riscv64-linux-gnu",
            no_fp: &["-march=rv64imac_zicsr", "-mabi=lp64"],
            no_libgcc: &[],
            scripted: &["-mcmodel=medany", "-Wl,--no-warn-rwx-segments"],
        },
    }
}

/// The architectures whose guests this run of xtask built: each is built once, whoever asks
/// first (this machine's tests and the kvm_amd VM both want the x86_64 guests, and a rebuild
/// would rewrite them under a running test).
static BUILT: Mutex<Vec<(Arch, PathBuf)>> = Mutex::new(Vec::new());

/// The Debian package of the C compiler of `arch`'s guests.
pub fn c_compiler_package(arch: Arch) -> DebianPackage {
    let compiler = c_compiler(arch);
    DebianPackage::program(compiler.program, compiler.package)
}

/// Builds every guest for `arch` (once per run of xtask) and returns the folder that holds them,
/// one ELF per guest named after it (`target/guests/<arch>/`).
pub fn build(arch: Arch) -> Result<PathBuf> {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, dir)) = built.iter().find(|(done, _)| *done == arch) {
        return Ok(dir.clone());
    }
    let root = workspace_root();
    let entries =
        std::fs::read_dir(root.join("tests/guests/src/bin")).context("cannot list the guests")?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| Some(entry.path().file_stem()?.to_str()?.to_string()))
        .filter(|name| has_guest(arch, name))
        .collect();
    names.sort();
    let out = build_rust(arch, &names)?;
    build_c_guests(arch, &out)?;
    built.push((arch, out.clone()));
    Ok(out)
}

/// The target folder of the guest crates built in cargo's dev profile outside the workspace:
/// the example crates and the Markdown files' guest blocks, each a workspace of its own. One
/// folder, so that their proc macros (and `syn` under them) are built once, not once each.
/// (The guest crate's lints and docs are the workspace's, in its `target/`.)
pub fn dev_target_dir() -> PathBuf {
    workspace_root().join("target/guests/dev")
}

/// Builds the demo guest alone for `arch` (`cargo xtask run` without an ELF) and returns its
/// path.
pub fn demo(arch: Arch) -> Result<PathBuf> {
    say(&format!("building the demo guest for {arch}"));
    Ok(build_rust(arch, &["demo".to_string()])?.join("demo"))
}

/// Builds the Rust guests `names` for `arch` into `target/guests/<arch>/` and returns it.
fn build_rust(arch: Arch, names: &[String]) -> Result<PathBuf> {
    install::ensure_targets(&[arch.guest_target()])?;
    let root = workspace_root();
    let target_dir = root.join("target/guests/build");
    let out = root.join("target/guests").join(arch.name());
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let (pool, plain): (Vec<&String>, Vec<&String>) = names
        .iter()
        .partition(|name| POOL_GUESTS.contains(&name.as_str()));
    build_rust_guests(arch, &target_dir, &plain, &[])?;
    build_rust_guests(arch, &target_dir, &pool, &["--features", "pool"])?;
    let built = target_dir.join(arch.guest_target()).join("release");
    for name in names {
        std::fs::copy(built.join(name), out.join(name))
            .with_context(|| format!("cannot copy guest {name}"))?;
    }
    Ok(out)
}

/// Builds the Rust guests `names` for `arch` in one cargo run, with `features` (cargo flags).
fn build_rust_guests(
    arch: Arch,
    target_dir: &Path,
    names: &[&String],
    features: &[&str],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let root = workspace_root();
    // Static relocation and the guest crate's linker script: loaded at its link address.
    let mut build = cargo();
    build.args(["build", "--release", "--target", arch.guest_target()]);
    if in_lane() {
        build.arg("--quiet");
    }
    build
        .args(features)
        .arg("--manifest-path")
        .arg(root.join("tests/guests/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        // Warnings fail the build: the guests are code under test like any other (registry
        // dependencies are capped by cargo and unaffected). Frame information goes to
        // `.debug_frame` (not loaded) so that gdb unwinds a core's stacks: aarch64-unknown-none
        // emits none by default, and the linker script discards `.eh_frame`.
        .env(
            "RUSTFLAGS",
            "-C relocation-model=static -C link-arg=-Tucall-guest.ld -D warnings \
             -C llvm-args=-force-dwarf-frame-section",
        );
    for name in names {
        build.args(["--bin", name.as_str()]);
    }
    build.run()
}

/// Builds each C guest (`tests/guests/c/*.c`, which may include `ucall.h` from `abi/include/`)
/// twice with the C compiler, freestanding: as `<name>`, linked with the guest crate's linker
/// script like the Rust guests, and as `<name>_default_link`, with only the flags a freestanding
/// static program needs, so at the compiler's own link address (0x400000 with gcc on x86_64
/// and aarch64, 0x10000 on riscv64).
fn build_c_guests(arch: Arch, out: &Path) -> Result<()> {
    let root = workspace_root();
    let script = root.join(format!("guest/link/{}.ld", arch.name()));
    let include = root.join("abi/include");
    let sources =
        std::fs::read_dir(root.join("tests/guests/c")).context("cannot list the C guests")?;
    let compiler = c_compiler(arch);
    install::ensure_packages(&[DebianPackage::program(compiler.program, compiler.package)])?;
    for source in sources.flatten().map(|entry| entry.path()) {
        if source.extension().is_none_or(|extension| extension != "c") {
            continue;
        }
        let Some(name) = source.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let compile = |output: String| {
            let mut command = Command::new(compiler.program);
            command
                .arg("-I")
                .arg(&include)
                .args(compiler.no_fp)
                .args(compiler.no_libgcc)
                .args(["-Wall", "-Werror", "-o"])
                .arg(out.join(output))
                .arg(&source);
            command
        };
        compile(name.to_string())
            .args(compiler.scripted)
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
        compile(format!("{name}_default_link"))
            .args(["-static", "-nostdlib", "-ffreestanding"])
            .run()?;
    }
    Ok(())
}
