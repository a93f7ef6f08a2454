//! The throughput benchmark: vCPUs making SYNC ucalls, each on its own thread.

use super::*;
use crate::exits::sync;
use crate::figure::Figure;

/// `vcpus` vCPUs making SYNC ucalls, each on its own thread.
pub(crate) struct ThroughputBench {
    pub(crate) figure: Figure,
    pub(crate) vcpus: Vec<Vcpu>,
    pub(crate) _vm: Vm,
}

impl ThroughputBench {
    pub(crate) fn new(vcpus: usize) -> Result<Self> {
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
    pub(crate) fn batch(&mut self, count: u32) -> Result<f64> {
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
