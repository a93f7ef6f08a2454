//! The log-ring benchmark: lines per second that the host receives from `bench_log_ring`, whose
//! `guest_log!` lines go through its 64 KiB ring (an exit only when the ring is full) or, with
//! the host not draining, one PRINTF exit each.

use super::*;
use crate::figure::Figure;

/// Lines per PRINTF batch. Few: on kvm_pvm the guest formats a line in about 500 us (emulated
/// instructions), so a batch takes about 0.1 s.
pub(crate) const PRINTF_LINES: u32 = 200;
/// The ring is measured in every tenth round only: a batch is one whole cycle of the ring (the
/// lines from one LOG_FLUSH to the next, about 4700), which takes seconds here.
pub(crate) const RING_EVERY: usize = 10;

/// The `bench_log_ring` guest, its ring drained or not.
pub(crate) struct LogRingBench {
    pub(crate) figure: Figure,
    /// With the ring: exits per 1000 lines, per cycle.
    pub(crate) exits: Option<Figure>,
    vcpu: Vcpu,
    _vm: Vm,
}

impl LogRingBench {
    pub(crate) fn new(drain: bool) -> Result<Self> {
        let elf = guest("bench_log_ring");
        let mut vm = VmBuilder::new(&elf)
            .transport(TransportKind::Mmio)
            .log_ring(drain)
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let (name, exits) = if drain {
            let exits = Figure::new("exits per 1000 log lines, ring", "count");
            ("log lines/s, ring", Some(exits))
        } else {
            ("log lines/s, PRINTF", None)
        };
        Ok(LogRingBench {
            figure: Figure::new(name, "lines/s"),
            exits,
            vcpu: vm.take_vcpus().remove(0),
            _vm: vm,
        })
    }

    /// One batch: with the ring, one cycle of it; without, [`PRINTF_LINES`] lines. Returns
    /// lines per second and, with the ring, exits per 1000 lines.
    pub(crate) fn batch(&mut self) -> Result<(f64, f64)> {
        if self.exits.is_none() {
            let start = Instant::now();
            for _ in 0..PRINTF_LINES {
                self.line()?;
            }
            let rate = f64::from(PRINTF_LINES) / start.elapsed().as_secs_f64();
            return Ok((rate, 1000.0));
        }
        // From the first line of one flush's drain to the first of the next: the lines of one
        // drain, and the time the guest took to log as many again.
        let next = self.vcpu.log_flushes() + 1;
        while self.vcpu.log_flushes() < next {
            self.line()?;
        }
        let start = Instant::now();
        let mut lines = 0u32;
        while self.vcpu.log_flushes() == next {
            self.line()?;
            lines += 1;
        }
        let rate = f64::from(lines) / start.elapsed().as_secs_f64();
        Ok((rate, 1000.0 / f64::from(lines)))
    }

    /// The next line, which must be one.
    fn line(&mut self) -> Result<()> {
        match self.vcpu.next_ucall() {
            Ok(Ucall::Log(_) | Ucall::Printf(_)) => Ok(()),
            Ok(other) => Err(format!("expected a line, got {other}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The figures: lines per second, and exits per 1000 lines with the ring.
    pub(crate) fn figures(self) -> impl Iterator<Item = Figure> {
        std::iter::once(self.figure).chain(self.exits)
    }
}
