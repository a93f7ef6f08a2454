//! `cargo xtask`: builds the guests, runs the demo, and runs every check and test.

mod arch;
mod bench;
mod ecosystem;
mod fuzz;
mod guest_tests;
mod guests;
mod in_qemu;
mod install;
mod qemu;
mod shell;
mod toolchains;

use arch::{Arch, RISCV64_HOST_READY};
use clap::{Parser, Subcommand, ValueEnum};
use qemu::Machine;
use shell::{Run, Step, cargo, workspace_root};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Build, run and test ucall", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a guest under KVM and print its ucalls (the demo guest if no ELF is given).
    Run {
        /// Seconds a vCPU may run without a ucall before the run fails.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// How the guest signals ucalls (port I/O: x86_64 only; SBI calls: riscv64 only).
        #[arg(long, value_enum)]
        transport: Option<Transport>,
        /// The guest's architecture: aarch64 runs inside an arm64 Linux VM in QEMU, riscv64
        /// inside a riscv64 one.
        #[arg(long, value_enum, default_value_t = Arch::X86_64)]
        arch: Arch,
        /// A bare-metal ELF: x86_64 entered in 64-bit mode, aarch64 at EL1 with the MMU on,
        /// riscv64 in S-mode, identity-mapped with a stack, at the entry point.
        elf: Option<PathBuf>,
        /// After `--`: arguments for a guest with a test table (libtest's: a filter, --exact,
        /// --list, ...), passed to `ucall-run` after the ELF.
        #[arg(last = true)]
        test_args: Vec<String>,
    },
    /// Check formatting and lints, build the guests, run the unit and integration tests here,
    /// then the whole suite on arm64 KVM (VHE, nVHE), kvm_amd and riscv64 KVM inside QEMU.
    Test,
    /// Build the test and demo guests into `target/guests/<arch>/`.
    BuildGuests {
        /// The guests' architecture.
        #[arg(long, value_enum, default_value_t = Arch::X86_64)]
        arch: Arch,
    },
    /// Boot a QEMU machine and check that its KVM answers (/dev/kvm: API version, a new VM),
    /// installing QEMU and fetching the kernel first if needed.
    KvmCheck {
        /// The machine.
        #[arg(long, value_enum, default_value_t = Machine::Riscv64)]
        machine: Machine,
    },
    /// Measure ucalls beside raw KVM exits; writes target/bench/results.json.
    Bench,
    /// Fuzz the page walker and the decoder with cargo-fuzz on nightly (not part of `test`).
    Fuzz {
        /// Seconds to fuzz each target.
        #[arg(long, default_value_t = 60)]
        time: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Transport {
    Pio,
    Mmio,
    Sbi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            timeout,
            transport,
            arch,
            elf,
            test_args,
        } => return run(timeout, transport, arch, elf, &test_args),
        Command::Test => test(),
        Command::BuildGuests { arch } => guests::build(arch).map(drop),
        Command::KvmCheck { machine } => in_qemu::kvm_check(machine),
        Command::Bench => bench::run(),
        Command::Fuzz { time } => fuzz::run(time),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `elf` (or the demo) with the `ucall-run` runner; its exit code is the runner's.
fn run(
    timeout: u64,
    transport: Option<Transport>,
    arch: Arch,
    elf: Option<PathBuf>,
    test_args: &[String],
) -> ExitCode {
    if arch == Arch::Riscv64 && !RISCV64_HOST_READY {
        eprintln!(
            "xtask: riscv64 is not switched on yet: the host crate does not build for riscv64 \
             (RISCV64_HOST_READY in xtask/src/arch.rs); `cargo xtask kvm-check --machine \
             riscv64` checks the riscv64 machine itself"
        );
        return ExitCode::from(2);
    }
    let elf = match elf {
        Some(elf) => elf,
        None => match guests::build(arch) {
            Ok(dir) => dir.join("demo"),
            Err(e) => {
                eprintln!("xtask: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let transport = match transport {
        Some(Transport::Pio) => "pio",
        Some(Transport::Sbi) => "sbi",
        Some(Transport::Mmio) => "mmio",
        None => "auto",
    };
    if let Some(machine) = Machine::for_runner(arch) {
        let args = [
            "--timeout".to_string(),
            timeout.to_string(),
            "--transport".into(),
            transport.into(),
        ];
        return match in_qemu::run_elf(machine, &elf, &args, test_args) {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::from(2)
            }
        };
    }
    let status = cargo()
        .args(["run", "--quiet", "--release"])
        .args(shell::RUNNER_BIN)
        .arg("--")
        .args(["--timeout", &timeout.to_string(), "--transport", transport])
        .arg(elf)
        .args(test_args)
        .status();
    match status {
        Ok(status) => ExitCode::from(status.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xtask: cannot start cargo: {e}");
            ExitCode::from(2)
        }
    }
}

/// The architectures whose guests and host the checks lint, and whose suites run in QEMU:
/// riscv64 once [`RISCV64_HOST_READY`] says so.
fn checked_arches() -> Vec<Arch> {
    let mut arches = vec![Arch::X86_64, Arch::Aarch64];
    if RISCV64_HOST_READY {
        arches.push(Arch::Riscv64);
    }
    arches
}

fn test() -> Result<(), String> {
    let root = workspace_root();
    let guest_manifest = root.join("tests/guests/Cargo.toml");
    let riscv64 = RISCV64_HOST_READY;
    let mut step = Step::new(if riscv64 { 21 } else { 17 });

    step.start("checking /dev/kvm");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| {
            format!("/dev/kvm is not usable ({e}); the tests run real guests and need it")
        })?;

    step.start("cargo fmt --check");
    install::ensure_components()?;
    cargo().args(["fmt", "--all", "--check"]).run()?;
    // The crates with workspaces of their own: the guests, the fuzz targets, the external guest.
    for manifest in [
        guest_manifest.clone(),
        root.join("fuzz/Cargo.toml"),
        root.join("examples/external-guest/Cargo.toml"),
    ] {
        cargo()
            .args(["fmt", "--check", "--manifest-path"])
            .arg(manifest)
            .run()?;
    }

    step.start("cargo clippy -D warnings (host and bare-metal targets)");
    install::ensure_targets(&[Arch::X86_64.guest_target()])?;
    cargo()
        .args([
            "clippy",
            "--quiet",
            "--workspace",
            "--all-targets",
            // The runner binary and its dependencies are behind the `runner` feature.
            "--all-features",
            "--",
            "-D",
            "warnings",
        ])
        .run()?;
    // The host without its `vm` part, as a decode-only VMM builds it.
    cargo()
        .args(["clippy", "--quiet", "-p", "ucall-host", "--all-targets"])
        .args(["--no-default-features", "--", "-D", "warnings"])
        .run()?;
    for arch in checked_arches() {
        install::ensure_targets(&[arch.guest_target()])?;
        cargo()
            .args(["clippy", "--quiet", "-p", "ucall-guest", "--target"])
            .arg(arch.guest_target())
            .args([
                "--target-dir",
                "target/guests/clippy",
                "--",
                "-D",
                "warnings",
            ])
            .run()?;
    }
    // The host as it is built for the VMs: its arch modules only compile there.
    for arch in checked_arches().into_iter().skip(1) {
        install::ensure_targets(&[arch.linux_target()])?;
        let mut clippy = cargo();
        clippy
            .args(["clippy", "--quiet", "-p", "ucall-host", "-p", "ucall-tests"])
            // The bench runs in the VMs too (`cargo xtask bench`); examples drive x86_64 KVM
            // directly and are built for x86_64 only.
            .args([
                "--lib",
                "--bins",
                "--tests",
                "--benches",
                "--features",
                "ucall-host/runner",
            ])
            .args(["--target", arch.linux_target()]);
        for config in arch.linux_target_config() {
            clippy.args(["--config", config]);
        }
        clippy.args(["--", "-D", "warnings"]).run()?;
    }

    step.start("the library crates on their rust-version (cargo check, all features)");
    toolchains::msrv()?;

    step.start("docs as docs.rs builds them (nightly, --cfg docsrs, each target, -D warnings)");
    toolchains::docs_rs(&checked_arches())?;

    step.start("cargo package (ucall-abi, ucall-guest, ucall-host: metadata, files, build)");
    ecosystem::package()?;

    step.start("building the guests (Rust and C) into target/guests/");
    let guest_dir = guests::build(Arch::X86_64)?;

    step.start("cargo test (unit tests, then real guests under KVM)");
    // tests/tests/core_dump.rs opens cores with gdb (natively only; see in_qemu.rs).
    install::ensure_packages(&[install::DebianPackage::program("gdb", "gdb")])?;
    cargo()
        .args(["test", "--workspace"])
        .env("UCALL_GUEST_DIR", &guest_dir)
        .run()?;

    step.start("ucall-host decode only (--no-default-features): build and tests, no KVM crates");
    cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "ucall-host",
            "--no-default-features",
        ])
        .run()?;
    cargo()
        .args(["test", "-p", "ucall-host", "--no-default-features"])
        .run()?;

    step.start("examples/foreign_vmm.rs: a VMM of its own serves real guests (exit 0, 1, 2)");
    ecosystem::foreign_vmm(&guest_dir)?;

    step.start("examples/external-guest: `cargo run --target` with ucall-run as cargo runner");
    ecosystem::external_guest(Arch::X86_64.guest_target())?;

    step.start("examples/guest-tests: `cargo test --target` with ucall-run as the harness");
    guest_tests::native(Arch::X86_64.guest_target())?;

    step.start("building the aarch64 guests");
    let aarch64_guests = guests::build(Arch::Aarch64)?;

    step.start(
        "examples/external-guest for aarch64: built by cargo, run by ucall-run on arm64 KVM",
    );
    ecosystem::external_guest_in_qemu(Machine::Aarch64Vhe)?;

    step.start("examples/guest-tests for aarch64: `cargo xtask run --arch aarch64 ELF -- ARGS`");
    guest_tests::in_qemu(Arch::Aarch64)?;

    step.start("the aarch64 suite on arm64 KVM in QEMU (VHE, then nVHE)");
    in_qemu::test_suite(
        Arch::Aarch64,
        &aarch64_guests,
        &[(Machine::Aarch64Vhe, true), (Machine::Aarch64Nvhe, false)],
    )?;

    step.start("the x86_64 suite on kvm_amd in QEMU");
    in_qemu::test_suite(Arch::X86_64, &guest_dir, &[(Machine::X86_64KvmAmd, false)])?;

    if riscv64 {
        step.start("building the riscv64 guests");
        let riscv64_guests = guests::build(Arch::Riscv64)?;

        step.start(
            "examples/external-guest for riscv64: built by cargo, run by ucall-run on riscv64 KVM",
        );
        ecosystem::external_guest_in_qemu(Machine::Riscv64)?;

        step.start(
            "examples/guest-tests for riscv64: `cargo xtask run --arch riscv64 ELF -- ARGS`",
        );
        guest_tests::in_qemu(Arch::Riscv64)?;

        step.start("the riscv64 suite on riscv64 KVM in QEMU");
        in_qemu::test_suite(Arch::Riscv64, &riscv64_guests, &[(Machine::Riscv64, false)])?;
    }
    step.finish();
    Ok(())
}
