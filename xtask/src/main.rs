//! `cargo xtask`: builds the guests, runs the demo, and runs every check and test on every
//! machine of the list in `machines.rs`.

mod arch;
mod bench;
mod docs;
mod ecosystem;
mod fuzz;
mod guest_tests;
mod guests;
mod install;
mod machines;
mod performance_doc;
mod qemu;
mod run;
mod shell;
mod test;
mod timing;
mod toolchains;

use arch::Arch;
use clap::{Parser, Subcommand};
use machines::Machine;
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
        /// Seconds a vCPU may run without a ucall before the run fails (the runner's default:
        /// 10).
        #[arg(long)]
        timeout: Option<u64>,
        /// How the guest signals ucalls (port I/O: x86_64 only; SBI calls: riscv64 only; auto,
        /// the runner's default: what the architecture offers, and MMIO).
        #[arg(long, value_parser = ["auto", "pio", "mmio", "sbi"])]
        transport: Option<String>,
        /// The guest's architecture: x86_64 runs on this machine's KVM, the others inside the
        /// QEMU machine of the list that runs their ELFs.
        #[arg(long, value_enum, default_value_t = Arch::X86_64)]
        arch: Arch,
        /// A bare-metal ELF: x86_64 entered in 64-bit mode, aarch64 at EL1 with the MMU on,
        /// riscv64 in S-mode, identity-mapped with a stack, at the entry point.
        elf: Option<PathBuf>,
        /// Passed to `ucall-run` as they are, after the ELF (`-- --json`).
        #[arg(last = true)]
        runner_args: Vec<String>,
    },
    /// Check formatting and lints, build the guests, run the unit and integration tests here,
    /// then the whole suite on every QEMU machine of the list (arm64 KVM VHE and nVHE, kvm_amd,
    /// riscv64 KVM), builds and boots overlapping; prints where the time went.
    Test {
        /// Only this machine's work, without the checks (repeat for more machines; the names
        /// are in xtask/src/machines.rs). For trying a change on one architecture; the full run
        /// is what passes.
        #[arg(long = "machine", value_parser = machine)]
        machines: Vec<&'static Machine>,
        /// Passed to every test binary after `--` (a name filter, `--exact`, ...); then only the
        /// test binaries run, not the examples.
        #[arg(last = true)]
        test_args: Vec<String>,
    },
    /// Build the test and demo guests into `target/guests/<arch>/`.
    BuildGuests {
        /// The guests' architecture; without it, every architecture of the machine list.
        #[arg(long, value_enum)]
        arch: Option<Arch>,
    },
    /// Boot a QEMU machine and check that its KVM answers (/dev/kvm: API version, a new VM),
    /// installing QEMU and fetching the kernel first if needed.
    KvmCheck {
        /// The machine (a name from xtask/src/machines.rs).
        #[arg(long, default_value = "riscv64", value_parser = machine)]
        machine: &'static Machine,
    },
    /// Check the Markdown files (a step of `test`): the paths they name exist, their Rust blocks
    /// build (and run) in the configuration each names.
    Docs,
    /// Measure ucalls beside raw KVM exits on every machine with a benchmark run; writes
    /// target/bench/results.json, docs/performance.md and the README's figures.
    Bench {
        /// Measure nothing: write docs/performance.md and the README's figures from the
        /// target/bench/results.json of an earlier run (after changing how they are shown).
        #[arg(long)]
        pages_only: bool,
    },
    /// Fuzz every target of fuzz/Cargo.toml with cargo-fuzz on nightly (not part of `test`).
    Fuzz {
        /// Seconds to fuzz each target.
        #[arg(long, default_value_t = 60)]
        time: u64,
    },
}

/// `--machine`'s parser: a name from the machine list.
fn machine(name: &str) -> anyhow::Result<&'static Machine> {
    machines::by_name(name)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            timeout,
            transport,
            arch,
            elf,
            runner_args,
        } => {
            let request = run::RunRequest {
                timeout,
                transport,
                arch,
                elf,
                runner_args,
            };
            // The runner's exit status is ours; 2 (its "error") when it could not run.
            return match run::run(request) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(e) => {
                    eprintln!("xtask: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Test {
            machines,
            test_args,
        } => test::run(&machines::Selection {
            machines,
            test_args,
        }),
        Command::BuildGuests { arch } => {
            let arches = arch.map_or_else(machines::arches, |arch| vec![arch]);
            arches
                .into_iter()
                .try_for_each(|arch| guests::build(arch).map(drop))
        }
        Command::KvmCheck { machine } => qemu::kvm_check::kvm_check(machine),
        Command::Docs => docs::check(),
        Command::Bench { pages_only: false } => bench::run(),
        Command::Bench { pages_only: true } => bench::write_pages(),
        Command::Fuzz { time } => fuzz::run(time),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
