//! `ucall-run`: runs a bare-metal guest ELF under KVM and prints its ucalls as they happen.
//!
//! One line per ucall as it arrives (colored when stdout is a terminal; `NO_COLOR` and
//! `CLICOLOR_FORCE` are honoured), with the guest's control characters written out (`\n`,
//! `\e`, ...) so that a guest cannot print a line of the runner's; a vCPU's error on stderr when
//! it happens; then a summary: the outcome, how many ucalls, from how many vCPUs, in how long.
//! With `--json`, one JSON object per line instead: `{"kind":"ucall",...}` for each ucall (the
//! text exact) and a final `{"kind":"summary",...}`. (`output.rs`)
//!
//! The guest must be a regular file of at most 64 MiB (`guest_file.rs`).
//!
//! A guest's log-ring lines (`guest_log!`) are drained and printed as `vcpu N: LOG text` or
//! `{"kind":"ucall","command":"LOG",...}`, in order with its ucalls; the summary's count of
//! ucalls leaves them out.
//!
//! It also serves as a cargo `runner` for guest crates: cargo runs `ucall-run path/to/elf`.
//!
//! A user command (CALL) gets no answer: the guest's `call` returns the arguments it sent. An
//! UNHANDLED ucall (an exception the guest had no handler for) is one line naming the
//! exception, the instruction address and the fault address; that vCPU stops, the others go
//! on.
//!
//! With `--core FILE`, a guest that did not end in DONE on every vCPU (ABORT, UNHANDLED,
//! timeout, shutdown, any other error) leaves an ELF core in FILE: `gdb guest.elf FILE` shows
//! where each vCPU was (see `ucall_host::vm::core_dump`).
//!
//! A guest with a test table (`ucall_abi::test_table`, as `#[ucall_guest::tests]` makes) is
//! run as a libtest harness instead (`harness.rs`, tested by `tests/runner_harness.rs`):
//! `ucall-run [OPTIONS] ELF [LIBTEST ARGS]`, the runner's options before the ELF, libtest's
//! after it, as cargo passes them to a runner.
//! `--timeout` is then each test's time unless the test names its own.
//!
//! Exit status: 0 when every vCPU sent DONE, 1 when a guest sent ABORT, 2 when a vCPU took an
//! unhandled exception or on any other error (bad guest input, timeout, setup failure), with a
//! one-line reason on stderr.

mod core_file;
mod guest_file;
mod harness;
mod output;
mod streams;

use clap::{Parser, ValueEnum};
use output::{Outcome, Output, err};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use ucall_host::Ucall;
use ucall_host::convention::ConventionKind;
use ucall_host::harness::{HarnessError, TestOptions, TestProgram};
use ucall_host::vm::core_dump::{CoreDump, CoreThread, Signal};
use ucall_host::vm::{RunError, TransportKind, Vcpu, VmBuilder};
use vm_memory::GuestMemoryMmap;

#[derive(Parser)]
#[command(
    name = "ucall-run",
    version,
    about = "Run a bare-metal guest under KVM and print its ucalls",
    after_help = "Exit status: 0 DONE, 1 ABORT, 2 error.\n\
                  As a cargo runner: [target.x86_64-unknown-none] runner = \"ucall-run\""
)]
struct Args {
    /// Seconds a vCPU may run without making a ucall; for a guest with a test table, the
    /// seconds of a test that names no timeout of its own.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// How the guest signals ucalls: `auto` serves port I/O (x86_64) or SBI calls (riscv64) and
    /// MMIO (when the guest has `ucall_exit_mmio_addr`) at once.
    #[arg(long, value_enum, default_value_t = Transport::Auto)]
    transport: Transport,
    /// Which wire convention the guest's ucalls follow: `auto` reads a guest whose ELF has
    /// `ucall_pool` in the pool convention of today's KVM selftests, any other in the seed's.
    #[arg(long, value_enum, default_value_t = AbiArg::Auto)]
    abi: AbiArg,
    /// Number of vCPUs (at least 1); each enters the guest with its index as first argument.
    #[arg(long, default_value_t = 1)]
    vcpus: usize,
    /// Guest memory in MiB: a positive multiple of 2 (RAM is mapped with 2 MiB pages).
    #[arg(long, default_value_t = 32)]
    memory_mib: u64,
    /// Print one JSON object per ucall and a final summary object, one per line.
    #[arg(long)]
    json: bool,
    /// Write an ELF core of the guest to FILE unless every vCPU sent DONE: each vCPU's registers
    /// at its end and the guest's memory, for `gdb guest.elf FILE`.
    #[arg(long, value_name = "FILE")]
    core: Option<PathBuf>,
    /// For a guest with a test table: write an ELF core of each failed test to
    /// `DIR/<test name>.core`.
    #[arg(long, value_name = "DIR")]
    core_dir: Option<PathBuf>,
    /// The guest: a statically linked ELF for this machine's architecture.
    elf: PathBuf,
    /// For a guest with a test table: libtest's arguments (a filter, --exact, --list, ...).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "LIBTEST ARGS"
    )]
    test_args: Vec<OsString>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Transport {
    Auto,
    Pio,
    Mmio,
    Sbi,
}

#[derive(Clone, Copy, ValueEnum)]
enum AbiArg {
    Auto,
    Seed,
    Selftests,
}

/// `--memory-mib` in bytes, or an error naming the option: the rule it breaks, or the value if
/// that many bytes cannot be counted.
fn memory_bytes(mib: u64) -> Result<u64, String> {
    if mib == 0 || mib % 2 != 0 {
        return Err("--memory-mib must be a positive multiple of 2".into());
    }
    mib.checked_mul(1 << 20)
        .ok_or_else(|| format!("--memory-mib {mib}: {mib} MiB is more bytes than 64 bits count"))
}

/// The options' values that no guest could run with, named by option.
fn check_options(args: &Args) -> Result<u64, String> {
    if args.vcpus == 0 {
        return Err("--vcpus must be at least 1".into());
    }
    memory_bytes(args.memory_mib)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let output = if args.json {
        Output::Json
    } else {
        Output::Human
    };
    let started = Instant::now();
    let memory_size = match check_options(&args) {
        Ok(bytes) => bytes,
        Err(reason) => return output.fatal(&reason, started),
    };
    // Before anything runs: a core that cannot go where asked is refused at once.
    if let Some(core) = &args.core {
        if let Err(reason) = core_file::check(core, &args.elf) {
            return output.fatal(&reason, started);
        }
    }
    let elf = match guest_file::read_guest(&args.elf, guest_file::MAX_ELF_BYTES) {
        // The tests of a test program run on threads until the process ends.
        Ok(elf) => &*elf.leak(),
        Err(e) => return output.fatal(&e.to_string(), started),
    };
    let transport = match args.transport {
        Transport::Auto => TransportKind::Auto,
        Transport::Pio => TransportKind::Pio,
        Transport::Mmio => TransportKind::Mmio,
        Transport::Sbi => TransportKind::Sbi,
    };
    let abi = match args.abi {
        AbiArg::Auto => ConventionKind::Auto,
        AbiArg::Seed => ConventionKind::Seed,
        AbiArg::Selftests => ConventionKind::Selftests,
    };
    match TestProgram::parse(elf) {
        Ok(Some(program)) => {
            if args.json || args.core.is_some() {
                let reason = "--json and --core are for guests without a test table \
                              (libtest's --format and --core-dir are for tests)";
                return output.fatal(reason, started);
            }
            let options = TestOptions {
                memory_size,
                vcpus: args.vcpus,
                transport,
                default_timeout: Duration::from_secs(args.timeout),
                core: false,
            };
            return harness::main(program, &args.test_args, options, args.core_dir);
        }
        // A guest that does not load is reported as always, by the builder below.
        Ok(None) | Err(HarnessError::Image(_)) => {
            if !args.test_args.is_empty() || args.core_dir.is_some() {
                let reason = format!(
                    "{} has no test table: arguments after it and --core-dir are for test programs",
                    args.elf.display()
                );
                return output.fatal(&reason, started);
            }
        }
        Err(e) => return output.fatal(&e.to_string(), started),
    }
    let built = VmBuilder::new(elf)
        .convention(abi)
        .vcpus(args.vcpus)
        .memory_size(memory_size)
        .transport(transport)
        .timeout(Duration::from_secs(args.timeout))
        .build();
    let mut vm = match built {
        Ok(vm) => vm,
        Err(e) => return output.fatal(&format!("cannot start the guest: {e}"), started),
    };
    if let Output::Human = output {
        let served = vm.transport();
        let transports = match (served.pio_port, served.sbi_extension, served.mmio_gpa) {
            (Some(_), _, Some(_)) => "port I/O and MMIO",
            (Some(_), _, None) => "port I/O",
            (_, Some(_), Some(_)) => "SBI and MMIO",
            (_, Some(_), None) => "SBI",
            _ => "MMIO",
        };
        let line = format!(
            "running {} under KVM: {}, {transports} ucalls ({} convention)",
            args.elf.display(),
            output::counted(args.vcpus, "vCPU"),
            vm.convention(),
        );
        err!("{}", output::dim(&output::visible(&line)));
    }
    let core = args.core.is_some();
    let threads: Vec<_> = vm
        .take_vcpus()
        .into_iter()
        .map(|mut vcpu| {
            std::thread::spawn(move || {
                let outcome = serve(&mut vcpu, output);
                // In the vCPU's thread, at its end: the registers are as the vCPU left them.
                let registers = core.then(|| core_thread(&mut vcpu, &outcome));
                (outcome, registers)
            })
        })
        .collect();
    let (outcomes, registers): (Vec<Outcome>, Vec<_>) = threads
        .into_iter()
        .map(|thread| thread.join().unwrap_or((Outcome::Panicked, None)))
        .unzip();
    let mut failures = Vec::new();
    if let Some(path) = &args.core {
        if !outcomes.iter().all(|o| matches!(o, Outcome::Done(_))) {
            let threads = registers.into_iter().flatten();
            if let Err(e) = write_core(path, &args.elf, vm.memory(), threads) {
                output.error(&e);
                failures.push(e);
            }
        }
    }
    output.summary(&outcomes, vm.convention(), &failures, started)
}

/// Runs one vCPU to its end, printing each ucall as it arrives and its error when it happens.
fn serve(vcpu: &mut Vcpu, output: Output) -> Outcome {
    let mut count = 0;
    loop {
        match vcpu.next_ucall() {
            Ok(ucall) => {
                // Log-ring lines are not ucalls: the guest made no exit for them.
                count += usize::from(!matches!(ucall, Ucall::Log(_)));
                output.ucall(vcpu.index(), &ucall);
                match ucall {
                    Ucall::Done => return Outcome::Done(count),
                    Ucall::Abort(_) => return Outcome::Abort(count),
                    Ucall::Unhandled(_) => return Outcome::Unhandled(count),
                    _ => {}
                }
            }
            Err(e) => {
                output.error(&e.to_string());
                return Outcome::Failed(count, e);
            }
        }
    }
}

/// What the core says of `vcpu`, which ended with `outcome`.
fn core_thread(vcpu: &mut Vcpu, outcome: &Outcome) -> Result<CoreThread, RunError> {
    let signal = match outcome {
        Outcome::Done(_) | Outcome::Panicked => Signal::NONE,
        Outcome::Abort(_) => Signal::ABORT,
        Outcome::Unhandled(_) => Signal::FAULT,
        Outcome::Failed(_, error) => Signal::of(error),
    };
    Ok(CoreThread {
        vcpu: vcpu.index(),
        signal,
        registers: vcpu.core_registers()?,
    })
}

/// Writes the core of the guest `elf` to `path` (sparse, whole or not at all: `core_file.rs`),
/// with the registers of the vCPUs that could be read, and says so on stderr; or why not.
fn write_core(
    path: &Path,
    elf: &Path,
    memory: &GuestMemoryMmap,
    threads: impl Iterator<Item = Result<CoreThread, RunError>>,
) -> Result<(), String> {
    let name = elf.file_name().unwrap_or(elf.as_os_str()).to_string_lossy();
    let mut core = CoreDump::new(&name);
    for thread in threads {
        match thread {
            Ok(thread) => core.add_thread(thread),
            Err(e) => err!("ucall-run: the core lacks a vCPU's registers: {e}"),
        }
    }
    core_file::write_whole(path, |out| {
        core.write_sparse(memory, out).map_err(|e| e.to_string())
    })
    .map_err(|e| format!("the core was not written to {}: {e}", path.display()))?;
    err!("core written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_size_in_bytes_is_the_mib_times_2_to_the_20() {
        assert_eq!(memory_bytes(32), Ok(32 << 20));
    }

    #[test]
    fn an_odd_memory_size_is_an_error_naming_the_option_and_its_rule() {
        assert_eq!(
            memory_bytes(3),
            Err("--memory-mib must be a positive multiple of 2".into())
        );
        assert_eq!(memory_bytes(0), memory_bytes(3));
    }

    #[test]
    fn memory_size_that_overflows_is_an_error_naming_the_value() {
        assert_eq!(
            memory_bytes(1 << 44),
            Err(
                "--memory-mib 17592186044416: 17592186044416 MiB is more bytes than 64 bits count"
                    .into()
            )
        );
    }
}
