//! `ucall-run`: runs a bare-metal guest ELF under KVM and prints its ucalls as they happen.
//!
//! Exit status: 0 when every vCPU sent DONE, 1 when a guest sent ABORT, 2 on any other error
//! (bad guest input, timeout, setup failure), with a one-line reason.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use ucall_host::vm::{TransportKind, Vcpu, VmBuilder};
use ucall_host::{Error, Ucall};

#[derive(Parser)]
#[command(
    version,
    about = "Run a bare-metal guest under KVM and print its ucalls"
)]
struct Args {
    /// Seconds a vCPU may run without making a ucall.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// How the guest signals ucalls (port I/O is x86_64 only).
    #[arg(long, value_enum, default_value_t = Transport::default())]
    transport: Transport,
    /// Number of vCPUs; each enters the guest with its index as first argument.
    #[arg(long, default_value_t = 1)]
    vcpus: usize,
    /// Bytes of guest memory, in MiB (a multiple of 2).
    #[arg(long, default_value_t = 32)]
    memory_mib: u64,
    /// The guest: a statically linked ELF for this machine's architecture.
    elf: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Transport {
    Pio,
    Mmio,
}

impl Default for Transport {
    fn default() -> Self {
        if cfg!(target_arch = "x86_64") {
            Transport::Pio
        } else {
            Transport::Mmio
        }
    }
}

/// How one vCPU's run ended.
enum Outcome {
    Done(usize),
    Abort(usize),
    Failed(Error),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let elf = match std::fs::read(&args.elf) {
        Ok(elf) => elf,
        Err(e) => return fatal(&format!("cannot read {}: {e}", args.elf.display())),
    };
    let transport = match args.transport {
        Transport::Pio => TransportKind::Pio,
        Transport::Mmio => TransportKind::Mmio,
    };
    let built = VmBuilder::new(&elf)
        .vcpus(args.vcpus)
        .memory_size(args.memory_mib << 20)
        .transport(transport)
        .timeout(Duration::from_secs(args.timeout))
        .build();
    let mut vm = match built {
        Ok(vm) => vm,
        Err(e) => return fatal(&format!("cannot start the guest: {e}")),
    };
    let threads: Vec<_> = vm
        .take_vcpus()
        .into_iter()
        .map(|vcpu| std::thread::spawn(move || serve(vcpu)))
        .collect();
    let outcomes: Vec<Outcome> = threads
        .into_iter()
        .map(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| Outcome::Failed(Error::Watchdog("vCPU thread panicked".into())))
        })
        .collect();

    let mut ucalls = 0;
    let mut code = 0;
    for outcome in &outcomes {
        match outcome {
            Outcome::Done(n) => ucalls += n,
            Outcome::Abort(n) => {
                ucalls += n;
                code = code.max(1);
            }
            Outcome::Failed(e) => {
                eprintln!("ucall-run: {e}");
                code = 2;
            }
        }
    }
    let verdict = ["DONE", "ABORT", "ERROR"][code as usize];
    println!(
        "{verdict}: {ucalls} ucalls from {} vCPU(s) in {:.1?}",
        outcomes.len(),
        started.elapsed()
    );
    ExitCode::from(code)
}

/// Runs one vCPU to its end, printing each ucall.
fn serve(mut vcpu: Vcpu) -> Outcome {
    let mut count = 0;
    loop {
        match vcpu.next_ucall() {
            Ok(ucall) => {
                count += 1;
                println!("vcpu {}: {ucall}", vcpu.index());
                match ucall {
                    Ucall::Done => return Outcome::Done(count),
                    Ucall::Abort(_) => return Outcome::Abort(count),
                    _ => {}
                }
            }
            Err(e) => return Outcome::Failed(e),
        }
    }
}

fn fatal(reason: &str) -> ExitCode {
    eprintln!("ucall-run: {reason}");
    ExitCode::from(2)
}
