//! Exit benchmarks: a guest that exits forever, answered by the host loop under test.

use super::*;
use crate::figure::{Figure, median};
use ucall_host::decode::Exit;
#[cfg(target_arch = "x86_64")]
use ucall_host::vm::complete_pending_io;

/// What the host does per exit in an exit benchmark.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum HostLoop {
    /// `KVM_RUN` again, nothing else: the raw exit.
    Reenter,
    /// `Vcpu::next_ucall`, our ucall.
    Ucall,
    /// `next_ucall`, then the seed's extra `KVM_RUN` that completes the I/O.
    #[cfg(target_arch = "x86_64")]
    UcallCompleteIo,
    /// `next_ucall`, then `KVM_GET_REGS` as a host without synced registers reads `rdi`.
    #[cfg(target_arch = "x86_64")]
    UcallGetRegs,
}

/// A guest that makes exits forever, and how the host answers them.
pub(crate) struct ExitBench {
    pub(crate) figure: Figure,
    /// The vCPU ioctls per exit, counted by the host (`Vcpu::ioctl_count`), one sample per batch.
    pub(crate) ioctls: Figure,
    pub(crate) host: HostLoop,
    pub(crate) vcpu: Vcpu,
    pub(crate) _vm: Vm,
    /// Each exit's time in the batch being measured, kept to reuse its allocation.
    pub(crate) times: Vec<f64>,
}

impl ExitBench {
    pub(crate) fn new(
        name: &str,
        guest_name: &str,
        transport: TransportKind,
        host: HostLoop,
    ) -> Result<Self> {
        Self::on_vcpu(name, guest_name, transport, host, 0)
    }

    /// The same, running only vCPU `index` of the guest (which picks its loop by index).
    pub(crate) fn on_vcpu(
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
            ioctls: Figure::new(name, "count"),
            host,
            vcpu,
            _vm: vm,
            times: Vec::with_capacity(EXITS as usize),
        })
    }

    /// Runs `count` exits and returns the median nanoseconds of one: an exit during which
    /// another process ran on this CPU is an outlier that the median skips.
    pub(crate) fn batch(&mut self, count: u32) -> Result<f64> {
        self.times.clear();
        let ioctls_before = self.vcpu.ioctl_count();
        let mut last = Instant::now();
        for _ in 0..count {
            match self.host {
                HostLoop::Reenter => reenter(&mut self.vcpu)?,
                HostLoop::Ucall => sync(&mut self.vcpu)?,
                #[cfg(target_arch = "x86_64")]
                HostLoop::UcallCompleteIo => {
                    sync(&mut self.vcpu)?;
                    complete_pending_io(self.vcpu.fd()).map_err(|e| e.to_string())?;
                }
                #[cfg(target_arch = "x86_64")]
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
        let ioctls = self.vcpu.ioctl_count() - ioctls_before;
        self.ioctls.samples.push(ioctls as f64 / f64::from(count));
        Ok(median(&mut self.times))
    }
}

/// Re-enters the guest until its next exit, which must be the bare exit of `bench_raw`.
pub(crate) fn reenter(vcpu: &mut Vcpu) -> Result<()> {
    loop {
        match vcpu.fd().run() {
            Ok(exit) => {
                return match Exit::from_kvm(&exit) {
                    Some(Exit::PioIn { .. } | Exit::MmioWrite { .. }) => Ok(()),
                    _ => Err(format!("unexpected exit {exit:?}")),
                };
            }
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(e) => return Err(format!("KVM_RUN: {e}")),
        }
    }
}

/// The next ucall, which must be a SYNC.
pub(crate) fn sync(vcpu: &mut Vcpu) -> Result<()> {
    match vcpu.next_ucall() {
        Ok(Ucall::Sync { .. }) => Ok(()),
        Ok(other) => Err(format!("expected SYNC, got {other}")),
        Err(e) => Err(e.to_string()),
    }
}
