//! The x86_64 figures beyond every architecture's: port I/O, the seed's extra ioctls, guest
//! instruction costs, decoding alone, throughput, and startup over port I/O.

use super::*;
use crate::decoding::{DecodeBench, FILE, TEXT};
use crate::throughput::ThroughputBench;

/// The probes of `bench_instructions`, on vCPU 0..=4: the cost of guest instructions on this
/// hypervisor.
const PROBES: [&str; 5] = [
    "probe: exit alone (PIO)",
    "probe: 16 register moves + exit",
    "probe: 16 stores + exit",
    "probe: rep stosq of 5 words (+3 setup) + exit",
    "probe: a SYNC record's 7 stores + exit (PIO floor)",
];

/// Where the x86_64 exit benches start in the list of exits, and the other benches.
pub(crate) struct Extra {
    first: usize,
    pub(crate) decodes: Vec<DecodeBench>,
    pub(crate) throughputs: Vec<ThroughputBench>,
}

// Offsets from `Extra::first`.
const RAW_PIO: usize = 0;
const SYNC_PIO: usize = 1;
const SYNC_PIO_COMPLETE_IO: usize = 2;
const SYNC_PIO_GET_REGS: usize = 3;
const SYNC_PIO_FIXED: usize = 4;
const REENTER_PIO: usize = 5;
const REENTER_MMIO: usize = 6;
const FIRST_PROBE: usize = 7;

impl Extra {
    /// Appends the x86_64 exit benches to `exits`.
    pub(crate) fn new(exits: &mut Vec<ExitBench>) -> Result<Self> {
        use HostLoop::*;
        use TransportKind::{Mmio, Pio};
        let first = exits.len();
        exits.extend([
            ExitBench::new("raw exit, PIO (in al, dx)", "bench_raw", Pio, Reenter)?,
            ExitBench::new("SYNC ucall, PIO", "bench_sync", Pio, Ucall)?,
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
        ]);
        for (index, name) in PROBES.iter().enumerate() {
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
        Ok(Extra {
            first,
            decodes: vec![
                DecodeBench::new("decode SYNC (host only)", sync_cmd, [1, 2, 3, 4, 5, 6])?,
                DecodeBench::new("decode PRINTF (host only)", printf, [TEXT, 0, 0, 0, 0, 0])?,
                DecodeBench::new("decode ABORT (host only)", abort, [TEXT, 42, FILE, 7, 0, 0])?,
            ],
            throughputs: vec![ThroughputBench::new(1)?, ThroughputBench::new(2)?],
        })
    }

    /// Adds the port I/O startup figures.
    pub(crate) fn add_startup(
        &self,
        first: &mut Vec<(TransportKind, Figure)>,
        allocations: &mut Vec<(ExitBench, Figure)>,
    ) -> Result<()> {
        use TransportKind::Pio;
        first.push((Pio, Figure::new("VM creation to first ucall, PIO", "ns")));
        allocations.push((
            ExitBench::new("", "bench_sync", Pio, HostLoop::Ucall)?,
            Figure::new("heap allocations per SYNC ucall, PIO", "count"),
        ));
        Ok(())
    }

    /// One round of the decode and throughput benches.
    pub(crate) fn round(&mut self, warm_up: bool) -> Result<()> {
        for bench in &mut self.decodes {
            let ns = bench.batch(DECODES)?;
            if !warm_up {
                bench.figure.samples.push(ns);
            }
        }
        for bench in &mut self.throughputs {
            let rate = bench.batch(THROUGHPUT_UCALLS)?;
            if !warm_up {
                bench.figure.samples.push(rate);
            }
        }
        Ok(())
    }

    /// The x86_64 ratios, per round, against the raw exit of the same kind.
    pub(crate) fn ratios(&self, exits: &[ExitBench]) -> Vec<Figure> {
        let at = |offset: usize| &exits[self.first + offset].figure;
        // Per instruction: the extra time of 16 of them, per round.
        let per_instruction = |name: &str, probe: usize| {
            let mut figure = Figure::new(name, "ns");
            figure.samples = at(FIRST_PROBE + probe)
                .samples
                .iter()
                .zip(&at(FIRST_PROBE).samples)
                .map(|(a, b)| (a - b) / 16.0)
                .collect();
            figure
        };
        vec![
            ratio("SYNC ucall, PIO / raw PIO exit", at(SYNC_PIO), at(RAW_PIO)),
            ratio(
                "SYNC ucall + complete-I/O KVM_RUN / raw PIO exit",
                at(SYNC_PIO_COMPLETE_IO),
                at(RAW_PIO),
            ),
            ratio(
                "SYNC ucall + KVM_GET_REGS / raw PIO exit",
                at(SYNC_PIO_GET_REGS),
                at(RAW_PIO),
            ),
            ratio(
                "SYNC ucall, PIO, fixed transport / raw PIO exit",
                at(SYNC_PIO_FIXED),
                at(RAW_PIO),
            ),
            ratio(
                "SYNC ucall, PIO / (record stores + raw PIO exit)",
                at(SYNC_PIO),
                at(FIRST_PROBE + 4),
            ),
            // The host's share: the same guest, served by `next_ucall` or by a bare re-entry.
            ratio(
                "SYNC ucall, PIO / same guest, host only re-enters",
                at(SYNC_PIO),
                at(REENTER_PIO),
            ),
            ratio(
                "SYNC ucall, MMIO / same guest, host only re-enters",
                &exits[1].figure,
                at(REENTER_MMIO),
            ),
            per_instruction("guest register move (each, of 16)", 1),
            per_instruction("guest 8-byte store (each, of 16)", 2),
        ]
    }
}
