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
//! It also serves as a cargo `runner` for guest crates: cargo runs `ucall-run path/to/elf`.
//!
//! Exit status: 0 when every vCPU sent DONE, 1 when a guest sent ABORT, 2 on any other error
//! (bad guest input, timeout, setup failure), with a one-line reason on stderr.

mod guest_file;
mod output;

use clap::{Parser, ValueEnum};
use output::{Outcome, Output};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use ucall_host::Ucall;
use ucall_host::vm::{TransportKind, Vcpu, VmBuilder};

#[derive(Parser)]
#[command(
    version,
    about = "Run a bare-metal guest under KVM and print its ucalls",
    after_help = "Exit status: 0 DONE, 1 ABORT, 2 error.\n\
                  As a cargo runner: [target.x86_64-unknown-none] runner = \"ucall-run\""
)]
struct Args {
    /// Seconds a vCPU may run without making a ucall.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// How the guest signals ucalls: `auto` serves port I/O (x86_64) and MMIO (when the guest
    /// has `ucall_exit_mmio_addr`) at once.
    #[arg(long, value_enum, default_value_t = Transport::Auto)]
    transport: Transport,
    /// Number of vCPUs; each enters the guest with its index as first argument.
    #[arg(long, default_value_t = 1)]
    vcpus: usize,
    /// Bytes of guest memory, in MiB (a multiple of 2).
    #[arg(long, default_value_t = 32)]
    memory_mib: u64,
    /// Print one JSON object per ucall and a final summary object, one per line.
    #[arg(long)]
    json: bool,
    /// The guest: a statically linked ELF for this machine's architecture.
    elf: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Transport {
    Auto,
    Pio,
    Mmio,
}

/// `--memory-mib` in bytes, or an error naming the value if that many bytes cannot be counted.
fn memory_bytes(mib: u64) -> Result<u64, String> {
    mib.checked_mul(1 << 20)
        .ok_or_else(|| format!("--memory-mib {mib}: {mib} MiB is more bytes than 64 bits count"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let output = if args.json {
        Output::Json
    } else {
        Output::Human
    };
    let started = Instant::now();
    let memory_size = match memory_bytes(args.memory_mib) {
        Ok(bytes) => bytes,
        Err(reason) => return output.fatal(&reason, started),
    };
    let elf = match guest_file::read_guest(&args.elf, guest_file::MAX_ELF_BYTES) {
        Ok(elf) => elf,
        Err(e) => return output.fatal(&e.to_string(), started),
    };
    let transport = match args.transport {
        Transport::Auto => TransportKind::Auto,
        Transport::Pio => TransportKind::Pio,
        Transport::Mmio => TransportKind::Mmio,
    };
    let built = VmBuilder::new(&elf)
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
        let transports = match (served.pio_port, served.mmio_gpa) {
            (Some(_), Some(_)) => "port I/O and MMIO",
            (Some(_), None) => "port I/O",
            _ => "MMIO",
        };
        let line = format!(
            "running {} under KVM: {} vCPU(s), {transports} ucalls",
            args.elf.display(),
            args.vcpus,
        );
        anstream::eprintln!("{}", output::dim(&output::visible(&line)));
    }
    let threads: Vec<_> = vm
        .take_vcpus()
        .into_iter()
        .map(|vcpu| std::thread::spawn(move || serve(vcpu, output)))
        .collect();
    let outcomes: Vec<Outcome> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap_or(Outcome::Panicked))
        .collect();
    output.summary(&outcomes, started)
}

/// Runs one vCPU to its end, printing each ucall as it arrives and its error when it happens.
fn serve(mut vcpu: Vcpu, output: Output) -> Outcome {
    let mut count = 0;
    loop {
        match vcpu.next_ucall() {
            Ok(ucall) => {
                count += 1;
                output.ucall(vcpu.index(), &ucall);
                match ucall {
                    Ucall::Done => return Outcome::Done(count),
                    Ucall::Abort(_) => return Outcome::Abort(count),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_size_in_bytes_is_the_mib_times_2_to_the_20() {
        assert_eq!(memory_bytes(32), Ok(32 << 20));
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
