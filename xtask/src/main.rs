//! `cargo xtask`: builds the guests, runs the demo, and runs every check and test.

mod bench;
mod ecosystem;
mod fuzz;
mod guests;
mod in_qemu;
mod qemu;
mod shell;

use clap::{Parser, Subcommand, ValueEnum};
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
        /// How the guest signals ucalls (aarch64 has MMIO only).
        #[arg(long, value_enum)]
        transport: Option<Transport>,
        /// The guest's architecture: aarch64 runs inside an arm64 Linux VM in QEMU.
        #[arg(long, value_enum, default_value_t = GuestArch::X86_64)]
        arch: GuestArch,
        /// A bare-metal ELF: x86_64 entered in 64-bit mode, aarch64 at EL1 with the MMU on,
        /// both identity-mapped with a stack, at the entry point.
        elf: Option<PathBuf>,
    },
    /// Check formatting and lints, build the guests, run the unit and integration tests here,
    /// then the whole suite on arm64 KVM (VHE, nVHE) and kvm_amd inside QEMU.
    Test,
    /// Build the test and demo guests into `target/guests/<arch>/`.
    BuildGuests {
        /// The guests' architecture.
        #[arg(long, value_enum, default_value_t = GuestArch::X86_64)]
        arch: GuestArch,
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
enum GuestArch {
    #[value(name = "x86_64")]
    X86_64,
    Aarch64,
}

impl GuestArch {
    fn guests(self) -> guests::Arch {
        match self {
            GuestArch::X86_64 => guests::Arch::X86_64,
            GuestArch::Aarch64 => guests::Arch::Aarch64,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Transport {
    Pio,
    Mmio,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            timeout,
            transport,
            arch,
            elf,
        } => return run(timeout, transport, arch, elf),
        Command::Test => test(),
        Command::BuildGuests { arch } => guests::build(arch.guests()).map(drop),
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
    arch: GuestArch,
    elf: Option<PathBuf>,
) -> ExitCode {
    let elf = match elf {
        Some(elf) => elf,
        None => match guests::build(arch.guests()) {
            Ok(dir) => dir.join("demo"),
            Err(e) => {
                eprintln!("xtask: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let transport = match (transport, arch) {
        (Some(Transport::Pio), _) => "pio",
        (Some(Transport::Mmio), _) | (None, GuestArch::Aarch64) => "mmio",
        (None, GuestArch::X86_64) => "pio",
    };
    if let GuestArch::Aarch64 = arch {
        let args = [
            "--timeout".to_string(),
            timeout.to_string(),
            "--transport".into(),
            transport.into(),
        ];
        return match in_qemu::run_elf(qemu::Machine::Aarch64Vhe, &elf, &args) {
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
        .status();
    match status {
        Ok(status) => ExitCode::from(status.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xtask: cannot start cargo: {e}");
            ExitCode::from(2)
        }
    }
}

/// The target of the aarch64 host side, and how to link it without a cross toolchain.
const AARCH64_HOST: &str = "aarch64-unknown-linux-musl";
const AARCH64_LINKER: &str = "target.aarch64-unknown-linux-musl.linker=\"rust-lld\"";

fn test() -> Result<(), String> {
    let root = workspace_root();
    let guest_manifest = root.join("tests/guests/Cargo.toml");
    let mut step = Step::new(13);

    step.start("checking /dev/kvm");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| {
            format!("/dev/kvm is not usable ({e}); the tests run real guests and need it")
        })?;

    step.start("cargo fmt --check");
    guests::ensure_components()?;
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
    guests::ensure_target(guests::Arch::X86_64.target())?;
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
    for arch in [guests::Arch::X86_64, guests::Arch::Aarch64] {
        guests::ensure_target(arch.target())?;
        cargo()
            .args(["clippy", "--quiet", "-p", "ucall-guest", "--target"])
            .arg(arch.target())
            .args([
                "--target-dir",
                "target/guests/clippy",
                "--",
                "-D",
                "warnings",
            ])
            .run()?;
    }
    // The host as it is built for the arm64 VMs: its aarch64 modules only compile there.
    guests::ensure_target(AARCH64_HOST)?;
    cargo()
        .args(["clippy", "--quiet", "-p", "ucall-host", "-p", "ucall-tests"])
        // Benches and examples drive x86_64 KVM directly; they are built for x86_64 only.
        .args([
            "--lib",
            "--bins",
            "--tests",
            "--features",
            "ucall-host/runner",
        ])
        .args(["--target", AARCH64_HOST, "--config", AARCH64_LINKER])
        .args(["--", "-D", "warnings"])
        .run()?;

    step.start("cargo doc --no-deps -D warnings (every public item documented, links resolve)");
    ecosystem::docs()?;

    step.start("cargo package (ucall-abi, ucall-guest, ucall-host: metadata, files, build)");
    ecosystem::package()?;

    step.start("building the guests (Rust and C) into target/guests/");
    let guest_dir = guests::build(guests::Arch::X86_64)?;

    step.start("cargo test (unit tests, then real guests under KVM)");
    cargo()
        .args(["test", "--workspace"])
        .env("UCALL_GUEST_DIR", &guest_dir)
        .run()?;

    step.start("examples/foreign_vmm.rs: a VMM of its own serves real guests (exit 0, 1, 2)");
    ecosystem::foreign_vmm(&guest_dir)?;

    step.start("examples/external-guest: `cargo run --target` with ucall-run as cargo runner");
    ecosystem::external_guest(guests::Arch::X86_64.target())?;

    step.start("building the aarch64 guests");
    let aarch64_guests = guests::build(guests::Arch::Aarch64)?;

    step.start(
        "examples/external-guest for aarch64: built by cargo, run by ucall-run on arm64 KVM",
    );
    ecosystem::external_guest_on_arm64()?;

    step.start("the aarch64 suite on arm64 KVM in QEMU (VHE, then nVHE)");
    in_qemu::test_suite(
        guests::Arch::Aarch64,
        &aarch64_guests,
        &[
            (qemu::Machine::Aarch64Vhe, true),
            (qemu::Machine::Aarch64Nvhe, false),
        ],
    )?;

    step.start("the x86_64 suite on kvm_amd in QEMU");
    in_qemu::test_suite(
        guests::Arch::X86_64,
        &guest_dir,
        &[(qemu::Machine::X86_64KvmAmd, false)],
    )?;
    step.finish();
    Ok(())
}
