//! What a ucall costs next to the KVM exit it rides on, run by `cargo xtask bench`.
//!
//! Every exit figure is measured in the same rounds, one batch of each per round in a rotating
//! order, so that noise from other processes on the machine hits all of them alike. A batch's
//! figure is the median time of its exits (each timed), a figure is the median of its rounds, and
//! a ratio is the median of the per-round ratios. Results go to
//! stdout as a table and to `target/bench/results.json` (or `$UCALL_BENCH_JSON`).

#[cfg(target_arch = "x86_64")]
mod decoding;
mod exits;
mod figure;
mod harness;
#[cfg(target_arch = "x86_64")]
mod log_ring;
mod report;
mod startup;
#[cfg(target_arch = "x86_64")]
mod throughput;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use exits::{ExitBench, HostLoop};
use figure::{Figure, ratio};
#[cfg(target_arch = "x86_64")]
use log_ring::{LogRingBench, RING_EVERY};
use report::{json, machine, table};
use startup::{allocations_per_sync, first_ucall};
use std::io::Write as _;
use std::time::{Duration, Instant};
use ucall_host::Ucall;
use ucall_host::vm::{TransportKind, Vcpu, Vm, VmBuilder};
use ucall_tests::{ARCH, guest};

/// Rounds of every interleaved figure (the first, a warm-up, is not counted). Many short rounds
/// rather than a few long ones: on a shared machine, bursts of load then hit all figures of a
/// round alike, and the median skips the rounds they spoil.
#[cfg(target_arch = "x86_64")]
const ROUNDS: usize = 51;
/// Fewer where KVM itself runs emulated (aarch64 and riscv64 under QEMU here): an exit costs
/// tens of times more, and the figures are ratios and counts.
#[cfg(not(target_arch = "x86_64"))]
const ROUNDS: usize = 21;
/// Exits (or ucalls) per batch: a batch takes 5 to 15 ms.
const EXITS: u32 = 500;
/// Decodes per batch.
#[cfg(target_arch = "x86_64")]
const DECODES: u32 = 5000;
/// Ucalls per vCPU per throughput batch.
#[cfg(target_arch = "x86_64")]
const THROUGHPUT_UCALLS: u32 = 1000;
/// Whole runs of `bench_tests_200` (after a warm-up): each is 200 VMs.
const HARNESS_RUNS: usize = 5;
/// A generous watchdog: this machine's KVM is slow, and the bench never waits on a stuck guest.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The number of rounds: `$UCALL_BENCH_ROUNDS`, else [`ROUNDS`].
fn rounds() -> usize {
    std::env::var("UCALL_BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(ROUNDS)
}

/// What the figures of every architecture are named for: `$UCALL_BENCH_ARCH`, else the
/// architecture (`cargo xtask bench` names the x86_64 run in the kvm_amd machine so).
fn arch_label() -> String {
    std::env::var("UCALL_BENCH_ARCH").unwrap_or_else(|_| ARCH.into())
}

/// The line before the JSON when it goes to stdout (`UCALL_BENCH_JSON=-`).
const JSON_MARKER: &str = "ucall-bench-json:";

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
    use TransportKind::Mmio;
    let started = Instant::now();
    let rounds = rounds();
    let arch = arch_label();
    progress("setting up the VMs");
    // Every architecture's figures, over its default transport (MMIO): the raw exit (index
    // 0), the SYNC ucall (index 1) and the plain one (index 2), then this architecture's own.
    let mut exits = vec![
        ExitBench::new("raw exit, MMIO (8-byte store)", "bench_raw", Mmio, Reenter)?,
        ExitBench::new("SYNC ucall, MMIO", "bench_sync", Mmio, Ucall)?,
        ExitBench::new(
            "plain SYNC ucall (seed's conventions), MMIO",
            "bench_sync_plain",
            Mmio,
            Ucall,
        )?,
    ];
    #[cfg(target_arch = "x86_64")]
    let mut x86 = x86_64::Extra::new(&mut exits)?;
    // Lines per second through the log ring against PRINTF: natively only (under TCG one ring
    // cycle of formatting takes minutes).
    #[cfg(target_arch = "x86_64")]
    let mut log_rings = [LogRingBench::new(true)?, LogRingBench::new(false)?];
    let sync_elf = guest("bench_sync");
    let mut first = vec![(
        Mmio,
        Figure::new(format!("VM creation to first ucall, {arch}"), "ns"),
    )];
    let mut allocations = vec![(
        ExitBench::new("", "bench_sync", Mmio, Ucall)?,
        Figure::new("heap allocations per SYNC ucall, MMIO", "count"),
    )];
    #[cfg(target_arch = "x86_64")]
    x86.add_startup(&mut first, &mut allocations)?;

    for round in 0..=rounds {
        let warm_up = round == 0;
        progress(&format!(
            "round {round}/{rounds}{} ({:.0?} so far)",
            if warm_up { " (warm-up)" } else { "" },
            started.elapsed()
        ));
        // Rotate the order so that no figure always runs right after the same one.
        let n = exits.len();
        for i in 0..n {
            let bench = &mut exits[(i + round) % n];
            let ns = bench.batch(EXITS)?;
            if warm_up {
                bench.ioctls.samples.clear();
            } else {
                bench.figure.samples.push(ns);
            }
        }
        #[cfg(target_arch = "x86_64")]
        x86.round(warm_up)?;
        #[cfg(target_arch = "x86_64")]
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
    progress("running bench_tests_200's tests");
    let tests_per_second = harness::tests_per_second(&arch, HARNESS_RUNS, TIMEOUT)?;
    progress(&format!("done in {:.1?}", started.elapsed()));
    eprintln!();

    // The figures every architecture reports under the same names.
    let ioctls = |name: &str, of: &ExitBench| {
        let mut figure = Figure::new(name, "count");
        figure.samples = of.ioctls.samples.clone();
        figure
    };
    let mut figures = vec![
        ioctls(&format!("vCPU ioctls per SYNC ucall, {arch}"), &exits[1]),
        ratio(
            &format!("SYNC ucall / raw exit, {arch}"),
            &exits[1].figure,
            &exits[0].figure,
        ),
        ioctls(
            &format!("vCPU ioctls per plain SYNC ucall, {arch}"),
            &exits[2],
        ),
        ratio(
            &format!("plain SYNC ucall / raw exit, {arch}"),
            &exits[2].figure,
            &exits[0].figure,
        ),
    ];
    #[cfg(target_arch = "x86_64")]
    figures.extend(x86.ratios(&exits));
    figures.extend(exits.into_iter().map(|b| b.figure));
    #[cfg(target_arch = "x86_64")]
    figures.extend(x86.decodes.into_iter().map(|b| b.figure));
    figures.extend(first.into_iter().map(|(_, f)| f));
    figures.push(tests_per_second);
    #[cfg(target_arch = "x86_64")]
    figures.extend(x86.throughputs.into_iter().map(|b| b.figure));
    figures.extend(allocations.into_iter().map(|(_, f)| f));
    #[cfg(target_arch = "x86_64")]
    for bench in log_rings {
        figures.extend(bench.figures());
    }

    let machine = machine();
    println!("{}", table(&figures, &machine, rounds));
    let report = json(&figures, &machine, rounds);
    // `-`: the JSON goes to stdout after the table, for a run whose files nobody reads (the
    // QEMU machines of `cargo xtask bench`, which read their console).
    let path = std::env::var_os("UCALL_BENCH_JSON");
    if path.as_deref() == Some(std::ffi::OsStr::new("-")) {
        // On one line, so that no console message can land inside it.
        let line: serde_json::Value = serde_json::from_str(&report).map_err(|e| e.to_string())?;
        println!("{JSON_MARKER} {line}");
        return Ok(());
    }
    let path = path.map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/results.json")
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("results: {}", path.display());
    Ok(())
}
