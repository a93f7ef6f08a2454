//! What a ucall costs next to the KVM exit it rides on, run by `cargo xtask bench`.
//!
//! Every exit figure is measured in the same rounds, one batch of each per round in a rotating
//! order, so that noise from other processes on the machine hits all of them alike. A batch's
//! figure is the median time of its exits (each timed), a figure is the median of its rounds, and
//! a ratio is the median of the per-round ratios. Results go to
//! stdout as a table and to `target/bench/results.json` (or `$UCALL_BENCH_JSON`).

mod decoding;
mod exits;
mod figure;
mod log_ring;
mod report;
mod startup;
mod throughput;

use decoding::{DecodeBench, FILE, TEXT};
use exits::{ExitBench, HostLoop};
use figure::Figure;
use log_ring::{LogRingBench, RING_EVERY};
use report::{json, machine, table};
use startup::{allocations_per_sync, first_ucall};
use std::io::Write as _;
use std::time::{Duration, Instant};
use throughput::ThroughputBench;
use ucall_host::Ucall;
use ucall_host::vm::{TransportKind, Vcpu, Vm, VmBuilder};
use ucall_tests::guest;

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
    let mut log_rings = [LogRingBench::new(true)?, LogRingBench::new(false)?];
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
        for bench in &mut log_rings {
            if bench.exits.is_some() && round % RING_EVERY != 1 {
                continue;
            }
            let (rate, exits) = bench.batch()?;
            if !warm_up {
                bench.figure.samples.push(rate);
                if let Some(figure) = &mut bench.exits {
                    figure.samples.push(exits);
                }
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
    let [ring, printf] = log_rings;
    figures.extend(ring.figures());
    figures.extend(printf.figures());

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
