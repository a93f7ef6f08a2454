//! `cargo xtask`: builds the guests, runs the demo, and runs every check and test.

mod bench;
mod ecosystem;
mod fuzz;
mod guests;
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
        /// How the guest signals ucalls.
        #[arg(long, value_enum, default_value_t = Transport::Pio)]
        transport: Transport,
        /// A bare-metal x86_64 ELF, entered in 64-bit mode at its entry point.
        elf: Option<PathBuf>,
    },
    /// Check formatting and lints, build the guests, run the unit and integration tests.
    Test,
    /// Build the test and demo guests into target/guests/.
    BuildGuests,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            timeout,
            transport,
            elf,
        } => return run(timeout, transport, elf),
        Command::Test => test(),
        Command::BuildGuests => guests::build(guests::Arch::X86_64).map(drop),
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
fn run(timeout: u64, transport: Transport, elf: Option<PathBuf>) -> ExitCode {
    let elf = match elf {
        Some(elf) => elf,
        None => match guests::build(guests::Arch::X86_64) {
            Ok(dir) => dir.join("demo"),
            Err(e) => {
                eprintln!("xtask: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let transport = match transport {
        Transport::Pio => "pio",
        Transport::Mmio => "mmio",
    };
    let status = cargo()
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "ucall-host",
            "--features",
            "runner",
            "--bin",
            "ucall-run",
            "--",
        ])
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

fn test() -> Result<(), String> {
    let root = workspace_root();
    let guest_manifest = root.join("tests/guests/Cargo.toml");
    let mut step = Step::new(9);

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
    cargo()
        .args(["fmt", "--check", "--manifest-path"])
        .arg(&guest_manifest)
        .run()?;

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
    cargo()
        .args([
            "clippy",
            "--quiet",
            "-p",
            "ucall-guest",
            "--target",
            guests::Arch::X86_64.target(),
        ])
        .args([
            "--target-dir",
            "target/guests/clippy",
            "--",
            "-D",
            "warnings",
        ])
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
    step.finish();
    Ok(())
}
