//! The KVM half of the architecture seam: one module per architecture implements [`KvmArch`]
//! (registers, system registers, vCPU init, the exception handlers' installation), on the
//! KVM-free facts of [`crate::arch`]; [`Native`] names this host's (the only `cfg` that chooses
//! one). The per-architecture modules are private: KVM runs guests of the host's architecture
//! only, so `Native` is the one a VMM can use.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

/// This host's architecture's KVM setup: use it through [`KvmArch`].
#[cfg(target_arch = "aarch64")]
pub type Native = aarch64::KvmAarch64;
/// This host's architecture's KVM setup: use it through [`KvmArch`].
#[cfg(target_arch = "riscv64")]
pub type Native = riscv64::KvmRiscv64;
/// This host's architecture's KVM setup: use it through [`KvmArch`].
#[cfg(target_arch = "x86_64")]
pub type Native = x86_64::KvmX86_64;

use super::error::{KvmError, PagingMode, SetupError, ShutdownReason};
use crate::arch::Arch;
use crate::decode::{Exit, Transport};
use crate::probe::AddressWidths;
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use std::fmt::Debug;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};

/// The page-table format of `A`'s architecture.
pub type FormatOf<A> = <<A as KvmArch>::Arch as Arch>::Format;

/// Writes the 64-bit register `id` with `KVM_SET_ONE_REG`; `what` names it in errors.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
pub(in crate::vm) fn set_one_reg(
    vcpu: &VcpuFd,
    id: u64,
    value: u64,
    what: &'static str,
) -> Result<(), KvmError> {
    super::ioctl_count::counted(|| vcpu.set_one_reg(id, &value.to_le_bytes()))
        .map(drop)
        .map_err(KvmError::with(what))
}

/// Reads the 64-bit register `id` with `KVM_GET_ONE_REG`; `what` names it in errors.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
pub(in crate::vm) fn get_one_reg(
    vcpu: &VcpuFd,
    id: u64,
    what: &'static str,
) -> Result<u64, KvmError> {
    let mut bytes = [0; 8];
    super::ioctl_count::counted(|| vcpu.get_one_reg(id, &mut bytes))
        .map_err(KvmError::with(what))?;
    Ok(u64::from_le_bytes(bytes))
}

/// What a system event means where the host's exception handlers end a faulting guest with a
/// system reset (aarch64, riscv64): a shutdown is a power-off, a reset the exception that the
/// registers `[syndrome, at, fault address]` (ids and names) describe, anything else itself.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
fn reset_is_an_exception(
    vcpu: &VcpuFd,
    kind: u32,
    data: &[u64],
    registers: [(u64, &'static str); 3],
) -> SystemStop {
    use kvm_bindings::{KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN};
    match kind {
        KVM_SYSTEM_EVENT_SHUTDOWN => SystemStop::Shutdown(ShutdownReason::PowerOff),
        KVM_SYSTEM_EVENT_RESET => {
            let [syndrome, at, fault_address] =
                registers.map(|(id, what)| get_one_reg(vcpu, id, what).unwrap_or(u64::MAX));
            SystemStop::Exception {
                syndrome,
                at,
                fault_address,
            }
        }
        _ => SystemStop::Shutdown(ShutdownReason::SystemEvent {
            kind,
            data: data.to_vec(),
        }),
    }
}

/// Where a vCPU starts: what [`KvmArch::setup_vcpu`] puts in its registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuStart {
    /// The vCPU's index, the guest entry's first argument.
    pub index: usize,
    /// The entry point.
    pub entry: u64,
    /// The top of its stack, where the architecture's own structures for the vCPU are
    /// ([`Arch::VCPU_AREA`] bytes); the guest's stack starts below them.
    pub stack_top: u64,
    /// The root of the page tables it starts with.
    pub root: GuestAddress,
    /// Where [`KvmArch::setup_memory`] wrote the architecture's structures (the layout's
    /// [`host_area`](super::Layout::host_area)).
    pub host_area: GuestAddress,
}

/// How a system event ended the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemStop {
    /// The guest shut down.
    Shutdown(ShutdownReason),
    /// The guest took an exception that the host's handlers turned into the event.
    Exception {
        /// The exception syndrome.
        syndrome: u64,
        /// Where it happened.
        at: u64,
        /// The faulting address, for aborts.
        fault_address: u64,
    },
}

/// Why the table root could not be found.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum RootError {
    /// Reading the register failed.
    #[error(transparent)]
    Kvm(#[from] KvmError),
    /// The guest runs a paging mode the host cannot walk.
    #[error("the guest runs {0}")]
    Unsupported(PagingMode),
}

/// What one guest architecture does with KVM: opens the VM, writes the host's structures of
/// [`crate::arch`] into guest memory, puts its vCPUs in their start state, and at an exit
/// finds the table root and the record register and reads the registers of a core. The
/// facts (page-table format, names, ELF machine) are its [`Arch`](KvmArch::Arch)'s.
///
/// A VMM of its own can use it too (see `tests/tests/own_vmm.rs`):
///
/// ```no_run
/// use kvm_ioctls::Kvm;
/// use ucall_host::paging::{MemoryKind, PageTables};
/// use ucall_host::arch::Arch;
/// use ucall_host::vm::arch::{KvmArch, Native, VcpuStart};
/// use ucall_host::vm::{register_memory, GuestImage, Layout, LayoutRequest};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let kvm = Kvm::new()?;
/// let (arch, vm) = Native::create_vm(&kvm)?;
/// let elf = std::fs::read("guest.elf")?;
/// let image = GuestImage::parse(&elf, <Native as KvmArch>::Arch::ELF_MACHINE)?;
/// // RAM and the host's structures where the image leaves room (see `Layout`).
/// let segments: Vec<_> = image.segments().iter().map(|s| s.gpa.clone()).collect();
/// let request = LayoutRequest::new::<<Native as KvmArch>::Arch>(arch.address_widths(), 32 << 20, 64 << 10);
/// let layout = Layout::plan(&segments, &request)?;
/// let ram = layout.ram.clone();
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(ram.start), 32 << 20)])?;
/// // SAFETY: `memory` outlives `vm` (declared before it, dropped after it).
/// unsafe { register_memory(&vm, &memory)? };
/// image.load(&memory)?;
/// let space = layout.tables.clone();
/// let mut tables = PageTables::new(&memory, arch.page_table_format(), GuestAddress(space.start), space.end - space.start)?;
/// tables.identity_map(&memory, ram.clone(), MemoryKind::Normal)?;
/// let host_area = GuestAddress(layout.host_area.start);
/// arch.setup_memory(&memory, host_area)?;
/// let mut vcpu = vm.create_vcpu(0)?;
/// let start = VcpuStart { index: 0, entry: image.entry(), stack_top: ram.end, root: tables.root(), host_area };
/// arch.setup_vcpu_memory(&memory, &start)?;
/// arch.setup_vcpu(&mut vcpu, &start)?;
/// // ... then the VMM's own loop: vcpu.run(), Exit::from_kvm, decode.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait KvmArch: Sized + Debug + Send + Sync + 'static {
    /// The architecture's KVM-free facts.
    type Arch: Arch;

    /// Opens a VM on `kvm`, with what its vCPUs will need learnt on the way.
    fn create_vm(kvm: &Kvm) -> Result<(Self, VmFd), SetupError>;

    /// The guest's address widths.
    fn address_widths(&self) -> AddressWidths;

    /// The page-table format for this VM's physical address width.
    fn page_table_format(&self) -> FormatOf<Self>;

    /// Writes what every vCPU's state points into (descriptor tables, exception vectors) in the
    /// [`Arch::HOST_AREA`] bytes at `host_area`.
    fn setup_memory<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        host_area: GuestAddress,
    ) -> Result<(), SetupError>;

    /// Where, in the host area at `host_area`, the exception handlers that
    /// [`setup_memory`](Self::setup_memory) wrote read the ucall MMIO address they report
    /// through (aarch64); `None` where they need none (the default).
    fn exception_doorbell(&self, host_area: GuestAddress) -> Option<GuestAddress> {
        let _ = host_area;
        None
    }

    /// Tells the exception handlers how to reach the host, once the transport is known: the
    /// ucall MMIO address at the [`exception_doorbell`](Self::exception_doorbell). Without it
    /// (no doorbell, or no MMIO transport), handlers that need it fall back to what they did
    /// before (aarch64: a PSCI reset).
    fn publish_exception_doorbell<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        host_area: GuestAddress,
        transport: &Transport,
    ) -> Result<(), SetupError> {
        let (Some(doorbell), Some(gpa)) = (self.exception_doorbell(host_area), transport.mmio_gpa)
        else {
            return Ok(());
        };
        memory
            .write_obj(gpa, doorbell)
            .map_err(SetupError::write_memory("exception doorbell", doorbell.0))
    }

    /// Writes vCPU `start.index`'s own structures in the
    /// [`VCPU_AREA`](crate::arch::Arch::VCPU_AREA) bytes below `start.stack_top` (x86_64: its
    /// GDT and TSS); before [`setup_vcpu`](Self::setup_vcpu). Nothing where the registers alone
    /// do.
    fn setup_vcpu_memory<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        start: &VcpuStart,
    ) -> Result<(), SetupError> {
        let _ = (memory, start);
        Ok(())
    }

    /// Puts `vcpu` at `start.entry` with paging on through `start.root`, its stack below the
    /// [`VCPU_AREA`](crate::arch::Arch::VCPU_AREA) at `start.stack_top` and `start.index` as
    /// the entry's first argument.
    fn setup_vcpu(&self, vcpu: &mut VcpuFd, start: &VcpuStart) -> Result<(), SetupError>;

    /// The root of the page tables the vCPU runs with now. The run loop asks only when it
    /// walks the live tables.
    fn page_table_root(vcpu: &mut VcpuFd) -> Result<GuestAddress, RootError>;

    /// The format and root of the tables that a rooted ucall named (`ucall_abi::rooted`), from
    /// the register value the guest sent (TTBR0_EL1, `satp`), or why they cannot be walked;
    /// `built` is the format the host built the tables in. Untrusted: the walk checks every
    /// address it reaches.
    fn carried_tables(
        root: u64,
        built: FormatOf<Self>,
    ) -> Result<(FormatOf<Self>, GuestAddress), RootError> {
        Ok((built, GuestAddress(root)))
    }

    /// The format and root of the page tables the vCPU runs with now, for an architecture
    /// whose guests may change format at run time (riscv64: Sv48 or Sv39, from `satp.MODE`);
    /// `built` is the format the host built the tables in. The run loop asks only when it walks
    /// the live tables.
    fn live_tables(
        vcpu: &mut VcpuFd,
        built: FormatOf<Self>,
    ) -> Result<(FormatOf<Self>, GuestAddress), RootError> {
        Ok((built, Self::page_table_root(vcpu)?))
    }

    /// The exit behind a `KVM_EXIT_*` that kvm-ioctls does not decode
    /// (`VcpuExit::Unsupported(reason)`), if the architecture knows it as one of the exits
    /// ucalls use (riscv64: `KVM_EXIT_RISCV_SBI`). Where KVM takes an answer on the next
    /// `KVM_RUN`, this gives the neutral one (for an SBI call: success, 0).
    fn other_exit(vcpu: &mut VcpuFd, reason: u32) -> Option<Exit> {
        let _ = (vcpu, reason);
        None
    }

    /// The register that carries a ucall's record address for transports that do not carry it
    /// themselves (port I/O's `rdi`), if the architecture has such a transport.
    fn record_register(vcpu: &mut VcpuFd) -> Option<u64> {
        let _ = vcpu;
        None
    }

    /// Puts the first word of a reply to a port I/O ucall in the register the ABI names for it
    /// (x86_64: `rsi`, through the synced registers, so that it costs no ioctl). Nothing on
    /// architectures without such a transport.
    fn set_reply_register(vcpu: &mut VcpuFd, value: u64) {
        let _ = (vcpu, value);
    }

    /// The program counter, for reports.
    fn program_counter(vcpu: &mut VcpuFd) -> Result<u64, KvmError>;

    /// Where the host's handler table (the register [`Arch::handler_code`] takes) is for the
    /// host area at `host_area`: an UNHANDLED ucall from a vCPU stopped outside that code was
    /// sent by the guest itself.
    fn handler_table(host_area: GuestAddress) -> u64;

    /// Reads the registers of `vcpu` (which must not be running) for a core, as
    /// [`Arch::CoreRegisters`] lays them out; a vCPU stopped in the host's exception handlers
    /// shows where the exception was taken instead (the architecture's crash frame), so that
    /// gdb unwinds the guest's own frames. `memory` is the guest's, for what the handlers
    /// saved there.
    fn core_registers(
        vcpu: &mut VcpuFd,
        memory: &GuestMemoryMmap,
    ) -> Result<<Self::Arch as Arch>::CoreRegisters, KvmError>;

    /// What a `KVM_EXIT_SYSTEM_EVENT` of `kind` with `data` means.
    fn system_event(vcpu: &mut VcpuFd, kind: u32, data: &[u64]) -> SystemStop {
        let _ = vcpu;
        SystemStop::Shutdown(ShutdownReason::SystemEvent {
            kind,
            data: data.to_vec(),
        })
    }
}
