//! `ucall-run`: runs a bare-metal guest ELF under KVM and prints its ucalls as they happen.
//!
//! One line per ucall as it arrives (colored when stdout is a terminal; `NO_COLOR` and
//! `CLICOLOR_FORCE` are honoured), then a summary: the outcome, how many ucalls, from how many
//! vCPUs, in how long. With `--json`, one JSON object per line instead: `{"kind":"ucall",...}` for
//! each ucall and a final `{"kind":"summary",...}`.
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
//! Exit status: 0 when every vCPU sent DONE, 1 when a guest sent ABORT, 2 when a vCPU took an
//! unhandled exception or on any other error (bad guest input, timeout, setup failure), with a
//! one-line reason on stderr.

use anstream::AutoStream;
use anstyle::{AnsiColor, Style};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use std::io::{Stderr, Stdout, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};
use ucall_host::Ucall;
use ucall_host::vm::core_dump::{CoreDump, CoreThread, Signal};
use ucall_host::vm::{RunError, TransportKind, Vcpu, VmBuilder};
use vm_memory::GuestMemoryMmap;

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
    /// How the guest signals ucalls (port I/O is x86_64 only).
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
    /// Write an ELF core of the guest to FILE unless every vCPU sent DONE: each vCPU's registers
    /// at its end and the guest's memory, for `gdb guest.elf FILE`.
    #[arg(long, value_name = "FILE")]
    core: Option<PathBuf>,
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
    /// The vCPU took an exception it had no handler for.
    Unhandled(usize),
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

/// stdout for people, colored or not as decided once, at its first line (`anstream::println!`
/// asks the terminal at every line: an ioctl per ucall).
static STDOUT: LazyLock<Mutex<AutoStream<Stdout>>> =
    LazyLock::new(|| Mutex::new(AutoStream::auto(std::io::stdout())));
/// stderr for people, likewise.
static STDERR: LazyLock<Mutex<AutoStream<Stderr>>> =
    LazyLock::new(|| Mutex::new(AutoStream::auto(std::io::stderr())));

/// `println!` to [`STDOUT`]. A closed stdout does not stop the guests: the exit status still
/// tells how they ended.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(STDOUT.lock().unwrap_or_else(PoisonError::into_inner), $($arg)*);
    }};
}

/// `eprintln!` to [`STDERR`].
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = writeln!(STDERR.lock().unwrap_or_else(PoisonError::into_inner), $($arg)*);
    }};
}

const DIM: Style = Style::new().dimmed();
const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const SYNC: Style = AnsiColor::Cyan.on_default();
const PRINTF: Style = AnsiColor::Yellow.on_default();
const CALL: Style = AnsiColor::Blue.on_default();

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
        err!(
            "{DIM}running {} under KVM: {} vCPU(s), {} ucalls{DIM:#}",
            args.elf.display(),
            args.vcpus,
            transport_name
        );
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
    if let Some(path) = &args.core {
        if !outcomes.iter().all(|o| matches!(o, Outcome::Done(_))) {
            write_core(
                path,
                &args.elf,
                vm.memory(),
                registers.into_iter().flatten(),
            );
        }
    }
    output.summary(&outcomes, started)
}

/// Runs one vCPU to its end, printing each ucall as it arrives.
fn serve(vcpu: &mut Vcpu, output: Output) -> Outcome {
    let mut count = 0;
    loop {
        match vcpu.next_ucall() {
            Ok(ucall) => {
                count += 1;
                output.ucall(vcpu.index(), &ucall);
                match ucall {
                    Ucall::Done => return Outcome::Done(count),
                    Ucall::Abort(_) => return Outcome::Abort(count),
                    Ucall::Unhandled(_) => return Outcome::Unhandled(count),
                    _ => {}
                }
            }
            Err(e) => return Outcome::Failed(count, e),
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

/// Writes the core of the guest `elf` to `path`, with the registers of the vCPUs that could be
/// read, and says so (or why not) on stderr.
fn write_core(
    path: &Path,
    elf: &Path,
    memory: &GuestMemoryMmap,
    threads: impl Iterator<Item = Result<CoreThread, RunError>>,
) {
    let name = elf.file_name().unwrap_or(elf.as_os_str()).to_string_lossy();
    let mut core = CoreDump::new(&name);
    for thread in threads {
        match thread {
            Ok(thread) => core.add_thread(thread),
            Err(e) => err!("ucall-run: the core lacks a vCPU's registers: {e}"),
        }
    }
    let written = std::fs::File::create(path)
        .map_err(|e| e.to_string())
        .and_then(|file| {
            core.write(memory, std::io::BufWriter::new(file))
                .map_err(|e| e.to_string())
        });
    match written {
        Ok(()) => err!("core written to {}", path.display()),
        Err(e) => err!(
            "ucall-run: cannot write the core to {}: {e}",
            path.display()
        ),
    }
}

impl Output {
    fn ucall(self, vcpu: usize, ucall: &Ucall) {
        match self {
            Output::Human => {
                let style = match ucall {
                    Ucall::Sync { .. } => SYNC,
                    Ucall::Printf(_) => PRINTF,
                    Ucall::Abort(_) | Ucall::Unhandled(_) => BAD,
                    Ucall::Done => GOOD,
                    Ucall::Call { .. } => CALL,
                };
                out!("{DIM}vcpu {vcpu}:{DIM:#} {style}{ucall}{style:#}");
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
        let mut unhandled = false;
        for (vcpu, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Outcome::Done(n) => ucalls += n,
                Outcome::Abort(n) => {
                    ucalls += n;
                    code = code.max(1);
                }
                Outcome::Unhandled(n) => {
                    ucalls += n;
                    code = 2;
                    unhandled = true;
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
        let verdict = match ["DONE", "ABORT", "ERROR"][usize::from(code)] {
            "ERROR" if unhandled && errors.is_empty() => "UNHANDLED",
            verdict => verdict,
        };
        match self {
            Output::Human => {
                for (_, error) in &errors {
                    err!("{BAD}ucall-run:{BAD:#} {error}");
                }
                let style = if code == 0 { GOOD } else { BAD };
                out!(
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
            Output::Human => err!("{BAD}ucall-run:{BAD:#} {reason}"),
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
        Ucall::Call { number, args } => json!({
            "command": "CALL",
            "number": number,
            "args": args,
        }),
        Ucall::Unhandled(exception) => json!({
            "command": "UNHANDLED",
            "exception": exception.name(),
            "vector": exception.vector,
            "instruction_address": exception.instruction_address,
            "error_code": exception.error_code,
            "fault_address": exception.fault_address,
        }),
    };
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    object
}
