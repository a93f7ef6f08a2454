//! What a ucall costs next to the KVM exit it rides on, run by `cargo xtask bench`.
//!
//! Every exit figure is measured in the same rounds, one batch of each per round in a rotating
//! order, so that noise from other processes on the machine hits all of them alike. A batch's
//! figure is the median time of its exits (each timed), a figure is the median of its rounds, and
//! a ratio is the median of the per-round ratios. Results go to
//! stdout as a table and to `target/bench/results.json` (or `$UCALL_BENCH_JSON`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kvm_ioctls::VcpuExit;
use ucall_host::Ucall;
use ucall_host::decode::decode;
use ucall_host::paging::x86_64::X86_64;
use ucall_host::paging::{MemoryKind, PageTables};
use ucall_host::vm::{TransportKind, Vcpu, Vm, VmBuilder, complete_pending_io};
use ucall_tests::guest;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Counts every heap allocation of the process, to show that a SYNC ucall makes none.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which we forward as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout, through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is, as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is, as in `alloc`; `ptr` came from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Rounds of every interleaved figure (the first, a warm-up, is not counted). Many short rounds
/// rather than a few long ones: on a shared machine, bursts of load then hit all figures of a
/// round alike, and the median skips the rounds they spoil.
const ROUNDS: usize = 51;
/// Exits (or ucalls) per batch: a batch takes 5 to 15 ms.
const EXITS: u32 = 500;
/// Decodes per batch.
const DECODES: u32 = 5000;
/// Ucalls per vCPU per throughput batch.
const THROUGHPUT_UCALLS: u32 = 1000;
/// A generous watchdog: this machine's KVM is slow, and the bench never waits on a stuck guest.
const TIMEOUT: Duration = Duration::from_secs(30);

type Result<T> = std::result::Result<T, String>;

/// One figure's samples, one per round.
struct Figure {
    name: String,
    unit: &'static str,
    samples: Vec<f64>,
}

impl Figure {
    fn new(name: impl Into<String>, unit: &'static str) -> Self {
        Figure {
            name: name.into(),
            unit,
            samples: Vec::new(),
        }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    fn median(&self) -> f64 {
        median(&mut self.sorted())
    }

    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

/// What the host does per exit in an exit benchmark.
#[derive(Clone, Copy, PartialEq)]
enum HostLoop {
    /// `KVM_RUN` again, nothing else: the raw exit.
    Reenter,
    /// `Vcpu::next_ucall`, our ucall.
    Ucall,
    /// `next_ucall`, then the seed's extra `KVM_RUN` that completes the I/O.
    UcallCompleteIo,
    /// `next_ucall`, then `KVM_GET_REGS` as a host without synced registers reads `rdi`.
    UcallGetRegs,
}

/// A guest that makes exits forever, and how the host answers them.
struct ExitBench {
    figure: Figure,
    host: HostLoop,
    vcpu: Vcpu,
    _vm: Vm,
    /// Each exit's time in the batch being measured, kept to reuse its allocation.
    times: Vec<f64>,
}

impl ExitBench {
    fn new(name: &str, guest_name: &str, transport: TransportKind, host: HostLoop) -> Result<Self> {
        Self::on_vcpu(name, guest_name, transport, host, 0)
    }

    /// The same, running only vCPU `index` of the guest (which picks its loop by index).
    fn on_vcpu(
        name: &str,
        guest_name: &str,
        transport: TransportKind,
        host: HostLoop,
        index: usize,
    ) -> Result<Self> {
        let elf = guest(guest_name);
        let mut vm = VmBuilder::new(&elf)
            .transport(transport)
            .vcpus(index + 1)
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("{name}: {e}"))?;
        let vcpu = vm.take_vcpus().remove(index);
        Ok(ExitBench {
            figure: Figure::new(name, "ns"),
            host,
            vcpu,
            _vm: vm,
            times: Vec::with_capacity(EXITS as usize),
        })
    }

    /// Runs `count` exits and returns the median nanoseconds of one: an exit during which
    /// another process ran on this CPU is an outlier that the median skips.
    fn batch(&mut self, count: u32) -> Result<f64> {
        self.times.clear();
        let mut last = Instant::now();
        for _ in 0..count {
            match self.host {
                HostLoop::Reenter => reenter(&mut self.vcpu)?,
                HostLoop::Ucall => sync(&mut self.vcpu)?,
                HostLoop::UcallCompleteIo => {
                    sync(&mut self.vcpu)?;
                    complete_pending_io(self.vcpu.fd()).map_err(|e| e.to_string())?;
                }
                HostLoop::UcallGetRegs => {
                    sync(&mut self.vcpu)?;
                    self.vcpu
                        .fd()
                        .get_regs()
                        .map_err(|e| format!("KVM_GET_REGS: {e}"))?;
                }
            }
            // One clock read per exit, the same for every figure.
            let now = Instant::now();
            self.times.push((now - last).as_nanos() as f64);
            last = now;
        }
        Ok(median(&mut self.times))
    }
}

/// The median of `values`, which it sorts.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Re-enters the guest until its next exit, which must be the bare exit of `bench_raw`.
fn reenter(vcpu: &mut Vcpu) -> Result<()> {
    loop {
        match vcpu.fd().run() {
            Ok(VcpuExit::IoIn(..) | VcpuExit::MmioWrite(..)) => return Ok(()),
            Ok(other) => return Err(format!("unexpected exit {other:?}")),
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(e) => return Err(format!("KVM_RUN: {e}")),
        }
    }
}

/// The next ucall, which must be a SYNC.
fn sync(vcpu: &mut Vcpu) -> Result<()> {
    match vcpu.next_ucall() {
        Ok(Ucall::Sync { .. }) => Ok(()),
        Ok(other) => Err(format!("expected SYNC, got {other}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A guest's memory with a record prepared for `decode`.
struct DecodeBench {
    figure: Figure,
    memory: GuestMemoryMmap,
    tables: PageTables<X86_64>,
}

const RECORD: u64 = 0x1_0000;
const TEXT: u64 = 0x2_0000;
const FILE: u64 = 0x3_0000;

impl DecodeBench {
    /// Memory holding the record `cmd, args` at `RECORD`, a message at `TEXT`, a file name at
    /// `FILE`.
    fn new(name: &str, cmd: u64, args: [u64; 6]) -> Result<Self> {
        let memory = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x20_0000)])
            .map_err(|e| e.to_string())?;
        let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)
            .map_err(|e| e.to_string())?;
        tables
            .identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)
            .map_err(|e| e.to_string())?;
        let write = |value: u64, at: u64| {
            memory
                .write_obj(value, GuestAddress(at))
                .map_err(|e| e.to_string())
        };
        write(cmd, RECORD)?;
        for (i, arg) in args.iter().enumerate() {
            write(*arg, RECORD + 8 + 8 * i as u64)?;
        }
        let put = |text: &[u8], at: u64| {
            memory
                .write_slice(text, GuestAddress(at))
                .map_err(|e| e.to_string())
        };
        put(b"stage 3 of 5: 42 values checked, all as expected\0", TEXT)?;
        put(b"tests/guests/src/bin/assert_fails.rs\0", FILE)?;
        Ok(DecodeBench {
            figure: Figure::new(name, "ns"),
            memory,
            tables,
        })
    }

    /// Decodes the record `count` times and returns the nanoseconds per decode.
    fn batch(&mut self, count: u32) -> Result<f64> {
        let start = Instant::now();
        for _ in 0..count {
            let ucall = decode(
                &self.tables.view(&self.memory),
                std::hint::black_box(RECORD),
            )
            .map_err(|e| e.to_string())?;
            std::hint::black_box(ucall);
        }
        Ok(start.elapsed().as_nanos() as f64 / f64::from(count))
    }
}

/// `vcpus` vCPUs making SYNC ucalls, each on its own thread.
struct ThroughputBench {
    figure: Figure,
    vcpus: Vec<Vcpu>,
    _vm: Vm,
}

impl ThroughputBench {
    fn new(vcpus: usize) -> Result<Self> {
        let elf = guest("bench_sync");
        let mut vm = VmBuilder::new(&elf)
            .transport(TransportKind::Pio)
            .vcpus(vcpus)
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(ThroughputBench {
            figure: Figure::new(
                format!("throughput, {vcpus} vCPU(s), SYNC over PIO"),
                "ucalls/s",
            ),
            vcpus: vm.take_vcpus(),
            _vm: vm,
        })
    }

    /// Runs `count` ucalls on every vCPU at once and returns ucalls per second, all vCPUs
    /// together.
    fn batch(&mut self, count: u32) -> Result<f64> {
        let start = Instant::now();
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let threads: Vec<_> = self
                .vcpus
                .iter_mut()
                .map(|vcpu| scope.spawn(move || (0..count).try_for_each(|_| sync(vcpu))))
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|_| Err("thread panicked".into())))
                .collect()
        });
        let elapsed = start.elapsed().as_secs_f64();
        results.into_iter().collect::<Result<()>>()?;
        Ok(f64::from(count) * self.vcpus.len() as f64 / elapsed)
    }
}

/// Nanoseconds from nothing to the first ucall: VM, memory, ELF, page tables, vCPU, run.
fn first_ucall(transport: TransportKind, elf: &[u8]) -> Result<f64> {
    let start = Instant::now();
    let mut vm = VmBuilder::new(elf)
        .transport(transport)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut vcpu = vm.take_vcpus().remove(0);
    sync(&mut vcpu)?;
    let elapsed = start.elapsed().as_nanos() as f64;
    drop((vcpu, vm));
    Ok(elapsed)
}

/// Heap allocations per SYNC ucall over `count` ucalls.
fn allocations_per_sync(vcpu: &mut Vcpu, count: u32) -> Result<f64> {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..count {
        sync(vcpu)?;
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    Ok((after - before) as f64 / f64::from(count))
}

fn progress(text: &str) {
    eprint!("\r{text:<70}");
    let _ = std::io::stderr().flush();
}

fn main() -> std::process::ExitCode {
    match bench() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nbench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<()> {
    use HostLoop::*;
    use TransportKind::{Mmio, Pio};
    let started = Instant::now();
    progress("setting up the VMs");
    let mut exits = vec![
        ExitBench::new("raw exit, PIO (in al, dx)", "bench_raw", Pio, Reenter)?,
        ExitBench::new("raw exit, MMIO (8-byte store)", "bench_raw", Mmio, Reenter)?,
        ExitBench::new("SYNC ucall, PIO", "bench_sync", Pio, Ucall)?,
        ExitBench::new("SYNC ucall, MMIO", "bench_sync", Mmio, Ucall)?,
        ExitBench::new(
            "SYNC ucall, PIO + complete-I/O KVM_RUN (seed)",
            "bench_sync",
            Pio,
            UcallCompleteIo,
        )?,
        ExitBench::new(
            "SYNC ucall, PIO + KVM_GET_REGS",
            "bench_sync",
            Pio,
            UcallGetRegs,
        )?,
        ExitBench::new(
            "SYNC ucall, PIO, transport fixed in the guest",
            "bench_sync_pio",
            Pio,
            Ucall,
        )?,
        ExitBench::new(
            "SYNC guest, PIO, host only re-enters",
            "bench_sync",
            Pio,
            Reenter,
        )?,
        ExitBench::new(
            "SYNC guest, MMIO, host only re-enters",
            "bench_sync",
            Mmio,
            Reenter,
        )?,
    ];
    // The cost of guest instructions on this hypervisor: `bench_instructions` on vCPU 0..=3.
    let probes = [
        "probe: exit alone (PIO)",
        "probe: 16 register moves + exit",
        "probe: 16 stores + exit",
        "probe: rep stosq of 5 words (+3 setup) + exit",
        "probe: a SYNC record's 7 stores + exit (PIO floor)",
    ];
    let first_probe = exits.len();
    for (index, name) in probes.iter().enumerate() {
        exits.push(ExitBench::on_vcpu(
            name,
            "bench_instructions",
            Pio,
            Reenter,
            index,
        )?);
    }
    let printf = ucall_abi::Command::Printf as u64;
    let abort = ucall_abi::Command::Abort as u64;
    let sync_cmd = ucall_abi::Command::Sync as u64;
    let mut decodes = vec![
        DecodeBench::new("decode SYNC (host only)", sync_cmd, [1, 2, 3, 4, 5, 6])?,
        DecodeBench::new("decode PRINTF (host only)", printf, [TEXT, 0, 0, 0, 0, 0])?,
        DecodeBench::new("decode ABORT (host only)", abort, [TEXT, 42, FILE, 7, 0, 0])?,
    ];
    let mut throughputs = vec![ThroughputBench::new(1)?, ThroughputBench::new(2)?];
    let sync_elf = guest("bench_sync");
    let mut first = [
        (Pio, Figure::new("VM creation to first ucall, PIO", "ns")),
        (Mmio, Figure::new("VM creation to first ucall, MMIO", "ns")),
    ];
    let mut allocations = [
        (
            ExitBench::new("", "bench_sync", Pio, Ucall)?,
            Figure::new("heap allocations per SYNC ucall, PIO", "count"),
        ),
        (
            ExitBench::new("", "bench_sync", Mmio, Ucall)?,
            Figure::new("heap allocations per SYNC ucall, MMIO", "count"),
        ),
    ];

    for round in 0..=ROUNDS {
        let warm_up = round == 0;
        progress(&format!(
            "round {round}/{ROUNDS}{} ({:.0?} so far)",
            if warm_up { " (warm-up)" } else { "" },
            started.elapsed()
        ));
        // Rotate the order so that no figure always runs right after the same one.
        let n = exits.len();
        for i in 0..n {
            let bench = &mut exits[(i + round) % n];
            let ns = bench.batch(EXITS)?;
            if !warm_up {
                bench.figure.samples.push(ns);
            }
        }
        for bench in &mut decodes {
            let ns = bench.batch(DECODES)?;
            if !warm_up {
                bench.figure.samples.push(ns);
            }
        }
        for bench in &mut throughputs {
            let rate = bench.batch(THROUGHPUT_UCALLS)?;
            if !warm_up {
                bench.figure.samples.push(rate);
            }
        }
        for (transport, figure) in &mut first {
            let ns = first_ucall(*transport, &sync_elf)?;
            if !warm_up {
                figure.samples.push(ns);
            }
        }
        for (bench, figure) in &mut allocations {
            let count = allocations_per_sync(&mut bench.vcpu, EXITS)?;
            if !warm_up {
                figure.samples.push(count);
            }
        }
    }
    progress(&format!("done in {:.1?}", started.elapsed()));
    eprintln!();

    // Ratios per round, against the raw exit of the same kind.
    let ratio = |name: &str, of: usize, to: usize| {
        let mut figure = Figure::new(name, "ratio");
        figure.samples = exits[of]
            .figure
            .samples
            .iter()
            .zip(&exits[to].figure.samples)
            .map(|(a, b)| a / b)
            .collect();
        figure
    };
    // Per instruction: the extra time of 16 of them, per round.
    let per_instruction = |name: &str, of: usize| {
        let mut figure = Figure::new(name, "ns");
        figure.samples = exits[first_probe + of]
            .figure
            .samples
            .iter()
            .zip(&exits[first_probe].figure.samples)
            .map(|(a, b)| (a - b) / 16.0)
            .collect();
        figure
    };
    let mut figures = vec![
        ratio("SYNC ucall, PIO / raw PIO exit", 2, 0),
        ratio("SYNC ucall, MMIO / raw MMIO exit", 3, 1),
        ratio("SYNC ucall + complete-I/O KVM_RUN / raw PIO exit", 4, 0),
        ratio("SYNC ucall + KVM_GET_REGS / raw PIO exit", 5, 0),
        ratio("SYNC ucall, PIO, fixed transport / raw PIO exit", 6, 0),
        ratio(
            "SYNC ucall, PIO / (record stores + raw PIO exit)",
            2,
            first_probe + 4,
        ),
        // The host's share: the same guest, served by `next_ucall` or by a bare re-entry.
        ratio("SYNC ucall, PIO / same guest, host only re-enters", 2, 7),
        ratio("SYNC ucall, MMIO / same guest, host only re-enters", 3, 8),
        per_instruction("guest register move (each, of 16)", 1),
        per_instruction("guest 8-byte store (each, of 16)", 2),
    ];
    figures.extend(exits.into_iter().map(|b| b.figure));
    figures.extend(decodes.into_iter().map(|b| b.figure));
    figures.extend(first.into_iter().map(|(_, f)| f));
    figures.extend(throughputs.into_iter().map(|b| b.figure));
    figures.extend(allocations.into_iter().map(|(_, f)| f));

    let machine = machine();
    println!("{}", table(&figures, &machine));
    let path = std::env::var_os("UCALL_BENCH_JSON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/results.json")
        });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, json(&figures, &machine))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("results: {}", path.display());
    Ok(())
}

/// The machine, as far as the figures depend on it.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kvm = if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        "kvm_pvm (software hypervisor)"
    } else if std::path::Path::new("/sys/module/kvm_intel").exists() {
        "kvm_intel"
    } else if std::path::Path::new("/sys/module/kvm_amd").exists() {
        "kvm_amd"
    } else {
        "unknown KVM"
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{kvm}, {cores} cores, {cpu}, Linux {kernel}")
}

fn human(value: f64, unit: &str) -> String {
    match unit {
        "ns" if value >= 1e6 => format!("{:.2} ms", value / 1e6),
        "ns" if value >= 1e3 => format!("{:.2} us", value / 1e3),
        "ns" => format!("{value:.1} ns"),
        "ratio" => format!("{value:.2}x"),
        "ucalls/s" => format!("{value:.0}/s"),
        _ => format!("{value:.2}"),
    }
}

fn table(figures: &[Figure], machine: &str) -> String {
    let mut out = format!(
        "ucall benchmarks on {machine}\n{ROUNDS} interleaved rounds; median, then min and max\n\n"
    );
    let _ = writeln!(
        out,
        "{:<52} {:>11} {:>11} {:>11}",
        "figure", "median", "min", "max"
    );
    for figure in figures {
        let _ = writeln!(
            out,
            "{:<52} {:>11} {:>11} {:>11}",
            figure.name,
            human(figure.median(), figure.unit),
            human(figure.min(), figure.unit),
            human(figure.max(), figure.unit),
        );
    }
    out
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json(figures: &[Figure], machine: &str) -> String {
    let mut out = format!(
        "{{\n  \"machine\": {},\n  \"rounds\": {ROUNDS},\n  \"figures\": [\n",
        json_string(machine)
    );
    for (i, figure) in figures.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {{\"name\": {}, \"unit\": {}, \"median\": {:.3}, \"min\": {:.3}, \"max\": {:.3}, \"rounds\": {}}}{}",
            json_string(&figure.name),
            json_string(figure.unit),
            figure.median(),
            figure.min(),
            figure.max(),
            figure.samples.len(),
            if i + 1 < figures.len() { "," } else { "" },
        );
    }
    out.push_str("  ]\n}\n");
    out
}
