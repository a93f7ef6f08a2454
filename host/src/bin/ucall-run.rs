//! `ucall-run`: runs a bare-metal guest ELF under KVM and prints its ucalls as they happen.
//!
//! One line per ucall as it arrives (colored when stdout is a terminal; `NO_COLOR` and
//! `CLICOLOR_FORCE` are honoured), then a summary: the outcome, how many ucalls, from how many
//! vCPUs, in how long. With `--json`, one JSON object per line instead: `{"kind":"ucall",...}` for
//! each ucall and a final `{"kind":"summary",...}`.
//!
//! It also serves as a cargo `runner` for guest crates: cargo runs `ucall-run path/to/elf`.
//!
//! Exit status: 0 when every vCPU sent DONE, 1 when a guest sent ABORT, 2 on any other error
//! (bad guest input, timeout, setup failure), with a one-line reason on stderr.

use anstyle::{AnsiColor, Style};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use ucall_host::Ucall;
use ucall_host::vm::{RunError, TransportKind, Vcpu, VmBuilder};

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
    /// How the guest signals ucalls (port I/O is x86_64 only, SBI calls riscv64 only).
    #[arg(long, value_enum, default_value_t = Transport::default())]
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
    Pio,
    Mmio,
    Sbi,
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
    Failed(usize, RunError),
    /// The vCPU's thread panicked (a bug in this runner, reported like an error).
    Panicked,
}

/// Where lines go: people or machines.
#[derive(Clone, Copy)]
enum Output {
    Human,
    Json,
}

const DIM: Style = Style::new().dimmed();
const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const SYNC: Style = AnsiColor::Cyan.on_default();
const PRINTF: Style = AnsiColor::Yellow.on_default();

fn main() -> ExitCode {
    let args = Args::parse();
    let output = if args.json {
        Output::Json
    } else {
        Output::Human
    };
    let started = Instant::now();
    let elf = match std::fs::read(&args.elf) {
        Ok(elf) => elf,
        Err(e) => {
            return output.fatal(&format!("cannot read {}: {e}", args.elf.display()), started);
        }
    };
    let (transport, transport_name) = match args.transport {
        Transport::Pio => (TransportKind::Pio, "port I/O"),
        Transport::Mmio => (TransportKind::Mmio, "MMIO"),
        Transport::Sbi => (TransportKind::Sbi, "SBI"),
    };
    let built = VmBuilder::new(&elf)
        .vcpus(args.vcpus)
        .memory_size(args.memory_mib << 20)
        .transport(transport)
        .timeout(Duration::from_secs(args.timeout))
        .build();
    let mut vm = match built {
        Ok(vm) => vm,
        Err(e) => return output.fatal(&format!("cannot start the guest: {e}"), started),
    };
    if let Output::Human = output {
        anstream::eprintln!(
            "{DIM}running {} under KVM: {} vCPU(s), {} ucalls{DIM:#}",
            args.elf.display(),
            args.vcpus,
            transport_name
        );
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

/// Runs one vCPU to its end, printing each ucall as it arrives.
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
            Err(e) => return Outcome::Failed(count, e),
        }
    }
}

impl Output {
    fn ucall(self, vcpu: usize, ucall: &Ucall) {
        match self {
            Output::Human => {
                let style = match ucall {
                    Ucall::Sync { .. } => SYNC,
                    Ucall::Printf(_) => PRINTF,
                    Ucall::Abort(_) => BAD,
                    Ucall::Done => GOOD,
                };
                anstream::println!("{DIM}vcpu {vcpu}:{DIM:#} {style}{ucall}{style:#}");
            }
            Output::Json => println!("{}", ucall_json(vcpu, ucall)),
        }
    }

    /// Prints the summary and returns the exit status: the worst outcome of any vCPU.
    fn summary(self, outcomes: &[Outcome], started: Instant) -> ExitCode {
        let elapsed = started.elapsed();
        let mut ucalls = 0;
        let mut code = 0u8;
        let mut errors = Vec::new();
        for (vcpu, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Outcome::Done(n) => ucalls += n,
                Outcome::Abort(n) => {
                    ucalls += n;
                    code = code.max(1);
                }
                Outcome::Failed(n, e) => {
                    ucalls += n;
                    code = 2;
                    errors.push((vcpu, e.to_string()));
                }
                Outcome::Panicked => {
                    code = 2;
                    errors.push((vcpu, format!("vCPU {vcpu}'s thread panicked")));
                }
            }
        }
        let verdict = ["DONE", "ABORT", "ERROR"][usize::from(code)];
        match self {
            Output::Human => {
                for (_, error) in &errors {
                    anstream::eprintln!("{BAD}ucall-run:{BAD:#} {error}");
                }
                let style = if code == 0 { GOOD } else { BAD };
                anstream::println!(
                    "{style}{verdict}{style:#}: {ucalls} ucalls from {} vCPU(s) in {elapsed:.1?}",
                    outcomes.len(),
                );
            }
            Output::Json => {
                for (_, error) in &errors {
                    eprintln!("ucall-run: {error}");
                }
                let errors: Vec<Value> = errors
                    .iter()
                    .map(|(vcpu, message)| json!({ "vcpu": vcpu, "message": message }))
                    .collect();
                println!(
                    "{}",
                    json!({
                        "kind": "summary",
                        "outcome": verdict,
                        "ucalls": ucalls,
                        "vcpus": outcomes.len(),
                        "seconds": elapsed.as_secs_f64(),
                        "errors": errors,
                    })
                );
            }
        }
        ExitCode::from(code)
    }

    /// Reports an error that stops the run before any vCPU ran; exit status 2.
    fn fatal(self, reason: &str, started: Instant) -> ExitCode {
        match self {
            Output::Human => anstream::eprintln!("{BAD}ucall-run:{BAD:#} {reason}"),
            Output::Json => {
                eprintln!("ucall-run: {reason}");
                let summary = json!({
                    "kind": "summary",
                    "outcome": "ERROR",
                    "ucalls": 0,
                    "vcpus": 0,
                    "seconds": started.elapsed().as_secs_f64(),
                    "errors": [{ "vcpu": null, "message": reason }],
                });
                println!("{summary}");
            }
        }
        ExitCode::from(2)
    }
}

/// One ucall as a JSON object: `kind`, `vcpu`, `command`, and the command's own fields.
fn ucall_json(vcpu: usize, ucall: &Ucall) -> Value {
    let mut object = json!({ "kind": "ucall", "vcpu": vcpu });
    let fields = match ucall {
        Ucall::Sync { args } => json!({ "command": "SYNC", "args": args }),
        Ucall::Printf(text) => json!({ "command": "PRINTF", "text": text }),
        Ucall::Abort(abort) => json!({
            "command": "ABORT",
            "message": abort.message,
            "file": abort.file,
            "line": abort.line,
            "column": abort.column,
        }),
        Ucall::Done => json!({ "command": "DONE" }),
    };
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    object
}
