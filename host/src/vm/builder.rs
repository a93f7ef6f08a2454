//! Building a VM for one guest ELF.

use super::arch::{KvmArch, Native, VcpuStart};
use super::log_drain::{self, VcpuLog};
use super::vcpu::{Tables, Vcpu};
use super::watchdog::Watchdog;
use super::{
    GuestImage, KvmError, Layout, LayoutRequest, LoadError, SetupError, TableRoot, TransportKind,
    Vm, WatchdogSignal, register_memory,
};
use crate::arch::{self, Arch};
use crate::convention::{self, ConventionKind, VmSetup};
use crate::decode::Transport;
use crate::paging::{MemoryKind, PAGE_SIZE, PageSize, PageTables};
use crate::probe::install_mmio_page;
use kvm_ioctls::Kvm;
use std::sync::Arc;
use std::time::Duration;
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// Builds a [`Vm`] that runs one guest ELF.
///
/// ```no_run
/// use std::time::Duration;
/// use ucall_host::vm::{TransportKind, VmBuilder};
///
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let mut vm = VmBuilder::new(&elf)
///     .vcpus(2)
///     .memory_size(64 << 20)
///     .transport(TransportKind::Auto)
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// for mut vcpu in vm.take_vcpus() {
///     std::thread::spawn(move || vcpu.next_ucall());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct VmBuilder<'a> {
    elf: &'a [u8],
    vcpus: usize,
    memory_size: u64,
    stack_size: u64,
    transport: TransportKind,
    timeout: Duration,
    watchdog_signal: WatchdogSignal,
    table_root: TableRoot,
    log_ring: bool,
    convention: ConventionKind,
}

impl<'a> VmBuilder<'a> {
    /// A VM for the guest `elf`: one vCPU, 32 MiB of memory, 64 KiB of stack per vCPU, every
    /// ucall transport the guest and architecture offer ([`TransportKind::Auto`]), a 10-second
    /// watchdog per ucall, and records found through the live tables.
    pub fn new(elf: &'a [u8]) -> Self {
        VmBuilder {
            elf,
            vcpus: 1,
            memory_size: 32 << 20,
            stack_size: 64 << 10,
            transport: TransportKind::Auto,
            timeout: Duration::from_secs(10),
            watchdog_signal: WatchdogSignal::default(),
            table_root: TableRoot::Live,
            log_ring: true,
            convention: ConventionKind::Auto,
        }
    }

    /// How many vCPUs; each starts at the entry point with its index as first argument.
    pub fn vcpus(mut self, count: usize) -> Self {
        self.vcpus = count;
        self
    }

    /// Bytes of guest memory, a multiple of 2 MiB.
    pub fn memory_size(mut self, bytes: u64) -> Self {
        self.memory_size = bytes;
        self
    }

    /// Bytes of stack per vCPU, a multiple of 4 KiB; its top [`Arch::VCPU_AREA`] bytes hold
    /// the vCPU's exception stack (and on x86_64 its GDT and TSS).
    pub fn stack_size(mut self, bytes: u64) -> Self {
        self.stack_size = bytes;
        self
    }

    /// How the guest signals ucalls.
    pub fn transport(mut self, transport: TransportKind) -> Self {
        self.transport = transport;
        self
    }

    /// How long a vCPU may run without making a ucall before
    /// [`RunError::Timeout`](super::RunError::Timeout). A watcher thread kicks the vCPU's thread
    /// out of `KVM_RUN` with the [`watchdog_signal`](Self::watchdog_signal).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The signal that kicks a vCPU thread out of `KVM_RUN` at the timeout: `SIGRTMIN` unless
    /// chosen here. Its handler is installed for the whole process (see [`WatchdogSignal`]);
    /// [`build`](Self::build) fails with [`WatchdogError::InUse`](super::WatchdogError::InUse)
    /// if the process already has a handler of its own for it.
    ///
    /// ```no_run
    /// use ucall_host::vm::{VmBuilder, WatchdogSignal};
    ///
    /// let elf = std::fs::read("target/guests/x86_64/demo")?;
    /// // This program uses SIGRTMIN itself: the watchdog takes the next one.
    /// let signal = WatchdogSignal::new(libc::SIGRTMIN() + 1)?;
    /// let vm = VmBuilder::new(&elf).watchdog_signal(signal).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watchdog_signal(mut self, signal: WatchdogSignal) -> Self {
        self.watchdog_signal = signal;
        self
    }

    /// Which page tables the host walks for records and strings.
    pub fn table_root(mut self, table_root: TableRoot) -> Self {
        self.table_root = table_root;
        self
    }

    /// Which wire convention the guest speaks ([`crate::convention`]): by default
    /// [`ConventionKind::Auto`], resolved from the guest's symbols (a guest whose ELF has
    /// `ucall_pool` gets the pool convention of today's Linux KVM selftests, a pool in the
    /// host's part of RAM with its address written into `ucall_pool`; any other guest the seed
    /// convention); [`ConventionKind::Seed`] and [`ConventionKind::Selftests`] override that.
    /// `ucall-run --abi auto|seed|selftests` is this choice.
    ///
    /// ```no_run
    /// use ucall_host::convention::ConventionKind;
    /// use ucall_host::vm::VmBuilder;
    ///
    /// let elf = std::fs::read("target/guests/x86_64/selftests_guest")?;
    /// let vm = VmBuilder::new(&elf).convention(ConventionKind::Selftests).build()?;
    /// assert_eq!(vm.convention(), ConventionKind::Selftests);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn convention(mut self, convention: ConventionKind) -> Self {
        self.convention = convention;
        self
    }

    /// Whether the host drains the guest's log ring (on by default). The guest opts in: only a
    /// guest whose ELF has the globals `ucall_log_ring_enabled` and `ucall_log_ring` (that is,
    /// one linking `ucall_guest::log_ring`) is told that the host drains, and its
    /// `guest_log!` lines then arrive as [`Ucall::Log`](crate::Ucall::Log) without an exit each.
    /// Off, the guest is not told, and its `guest_log!` lines arrive as PRINTF ucalls.
    pub fn log_ring(mut self, drain: bool) -> Self {
        self.log_ring = drain;
        self
    }

    /// Checks the guest ELF, creates the VM, places RAM and the host's structures around the
    /// image ([`Layout`]), loads the guest, builds its page tables, probes and publishes the
    /// ucall address (for MMIO), and sets up the vCPUs.
    pub fn build(self) -> Result<Vm, SetupError> {
        let stack_bytes = self.stack_size.checked_mul(self.vcpus as u64);
        if self.memory_size % PageSize::Size2M.bytes() != 0
            || self.stack_size % PAGE_SIZE != 0
            || self.vcpus == 0
            || self.stack_size <= <Native as KvmArch>::Arch::VCPU_AREA
            || stack_bytes.is_none_or(|s| s >= self.memory_size)
        {
            return Err(SetupError::DoesNotFit {
                vcpus: self.vcpus,
                stack_size: self.stack_size,
                memory_size: self.memory_size,
            });
        }
        let stack_bytes = stack_bytes.unwrap_or(self.memory_size);
        let offered = match self.transport {
            TransportKind::Auto | TransportKind::Mmio => true,
            TransportKind::Pio => arch::Native::PORT_IO,
            TransportKind::Sbi => arch::Native::SBI_CALLS,
        };
        if !offered {
            return Err(SetupError::UnsupportedTransport {
                transport: self.transport,
                arch: arch::Native::NAME,
            });
        }
        // Everything about the ELF is checked before KVM is asked for anything.
        let image = GuestImage::parse(self.elf, arch::Native::ELF_MACHINE)?;
        image.check_size(self.memory_size)?;
        let published_at = self.published_at(&image)?;
        let symbol = |name: &str, size: u64| image.writable_object_gpa(name, size).ok();
        let kind = self
            .convention
            .resolve(|name| image.symbol_gpa(name).is_ok());
        let mut convention = convention::for_kind(kind);
        for &(name, len) in convention.written_symbols() {
            if image.symbol_gpa(name).is_ok() {
                image.writable_object_gpa(name, len)?;
            }
        }
        let convention_bytes = convention
            .guest_bytes(self.vcpus)
            .next_multiple_of(PAGE_SIZE);

        let kvm = Kvm::new().map_err(KvmError::with("open /dev/kvm"))?;
        let (arch, vm_fd) = Native::create_vm(&kvm)?;
        let widths = arch.address_widths();
        let format = arch.page_table_format();
        let segments: Vec<_> = image.segments().iter().map(|s| s.gpa.clone()).collect();
        // The convention's area goes after the architecture's structures, in the host area.
        let mut request = LayoutRequest::new::<arch::Native>(widths, self.memory_size, stack_bytes);
        request.host_area += convention_bytes;
        let layout = Layout::plan(&segments, &request)?;
        // A planned layout leaves the segments alone; checked anyway, as it is cheap.
        layout.check(image.segments())?;

        let ram = layout.ram.clone();
        let memory = GuestMemoryMmap::<()>::from_ranges(&[(
            GuestAddress(ram.start),
            self.memory_size as usize,
        )])
        .map_err(|source| SetupError::Allocate {
            size: self.memory_size,
            source,
        })?;
        // SAFETY: `memory` goes into an Arc that the Vm (after its VmFd) and every Vcpu hold,
        // so it outlives the VM and every KVM_RUN.
        unsafe { register_memory(&vm_fd, &memory)? };
        image.load(&memory)?;

        let log_ring = if self.log_ring {
            log_drain::enable(&image, &memory)?
        } else {
            None
        };

        let mut tables = PageTables::new(
            &memory,
            format,
            GuestAddress(layout.tables.start),
            layout.tables.end - layout.tables.start,
        )?;
        tables.identity_map(&memory, ram.clone(), MemoryKind::Normal)?;
        let host_area = GuestAddress(layout.host_area.start);
        arch.setup_memory(&memory, host_area)?;
        let area_start = layout.host_area.end - convention_bytes;
        convention.setup(&mut VmSetup {
            memory: &memory,
            tables: &mut tables,
            area: area_start..layout.host_area.end,
            vcpus: self.vcpus,
            host_reports: vec![
                host_area.0..host_area.0 + arch::Native::HOST_AREA,
                layout.stacks.clone(),
            ],
            elf_machine: arch::Native::ELF_MACHINE,
            symbol: &symbol,
        })?;
        let convention: Arc<dyn convention::Convention<GuestMemoryMmap, _>> = Arc::from(convention);

        let transport = match published_at {
            // The VM's only memory slot is `memory`: no other slot can be in the way.
            Some(global) => install_mmio_page(&memory, &mut tables, widths, |_| false, global)?,
            None => Transport {
                mmio_gpa: None,
                pio_port: None,
                sbi_extension: None,
            },
        };
        // Port I/O (x86_64) and SBI calls (riscv64) are served where they exist, whatever the
        // guest's ucalls use, as the host's exception handlers report through them; on aarch64
        // the handlers need the MMIO address.
        let transport = Transport {
            pio_port: arch::Native::PORT_IO.then_some(ucall_abi::PIO_PORT),
            sbi_extension: arch::Native::SBI_CALLS.then_some(ucall_abi::SBI_EXTENSION),
            ..transport
        };
        arch.publish_exception_doorbell(&memory, host_area, &transport)?;

        let memory = Arc::new(memory);
        let mut vcpus = Vec::with_capacity(self.vcpus);
        for index in 0..self.vcpus {
            let mut fd = vm_fd
                .create_vcpu(index as u64)
                .map_err(KvmError::with("KVM_CREATE_VCPU"))?;
            let start = VcpuStart {
                index,
                entry: image.entry(),
                stack_top: ram.end - self.stack_size * index as u64,
                root: tables.root(),
                host_area,
            };
            arch.setup_vcpu_memory(&*memory, &start)?;
            arch.setup_vcpu(&mut fd, &start)?;
            vcpus.push(Vcpu {
                index,
                fd,
                memory: Arc::clone(&memory),
                built: Tables {
                    format,
                    root: tables.root(),
                },
                table_root: self.table_root,
                transport,
                convention: Arc::clone(&convention),
                timeout: self.timeout,
                watchdog: Watchdog::new(self.watchdog_signal)?,
                finished: false,
                ioctls: 0,
                pending_read: None,
                pending_call: None,
                log: log_ring.clone().map(VcpuLog::new),
                handler_code: <Native as KvmArch>::Arch::handler_code(Native::handler_table(
                    host_area,
                )),
            });
        }
        Ok(Vm {
            kvm,
            fd: vm_fd,
            memory,
            vcpus,
            transport,
            widths,
            tables,
            layout,
            convention: kind,
        })
    }

    /// Where the host publishes the ucall MMIO address, if it uses MMIO: always for
    /// [`TransportKind::Mmio`], when the guest has the symbol for [`TransportKind::Auto`] (or
    /// always, where port I/O does not exist), never for [`TransportKind::Pio`]. The symbol must
    /// be the guest's own writable data.
    fn published_at(&self, image: &GuestImage<'_>) -> Result<Option<GuestAddress>, LoadError> {
        let symbol =
            image.writable_symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL, size_of::<u64>() as u64);
        match (self.transport, symbol) {
            (TransportKind::Pio | TransportKind::Sbi, _) => Ok(None),
            (TransportKind::Auto, Err(LoadError::SymbolNotFound(_)))
                if arch::Native::PORT_IO || arch::Native::SBI_CALLS =>
            {
                Ok(None)
            }
            (_, symbol) => symbol.map(|gpa| Some(GuestAddress(gpa))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::elf::test_elf::{TestElf, TestSegment};

    /// A test ELF for this host's machine.
    fn native(elf: TestElf) -> Vec<u8> {
        TestElf {
            machine: arch::Native::ELF_MACHINE,
            ..elf
        }
        .build()
    }

    #[test]
    fn mmio_symbol_in_the_guests_code_is_refused_before_the_vm_exists() {
        let elf =
            native(TestElf::new(0x20_0000, 0x1000).symbol(ucall_abi::MMIO_ADDR_SYMBOL, 0x20_0010));
        let err = VmBuilder::new(&elf)
            .transport(TransportKind::Mmio)
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, SetupError::Load(LoadError::SymbolNotWritable { name, vaddr: 0x20_0010, len: 8 }) if name == ucall_abi::MMIO_ADDR_SYMBOL),
            "{err}"
        );
    }

    #[test]
    fn pool_symbol_of_another_size_is_refused_before_the_vm_exists() {
        let elf = native(
            TestElf::new(0x20_0000, 0x1000)
                .segment(TestSegment::data(0x20_1000, 0x1000))
                .sized_symbol(ucall_abi::selftests::POOL_SYMBOL, 0x20_1008, 4)
                .symbol(ucall_abi::MMIO_ADDR_SYMBOL, 0x20_1010),
        );
        let err = VmBuilder::new(&elf).build().unwrap_err();
        assert!(
            matches!(&err, SetupError::Load(LoadError::SymbolWrongSize { name, size: 4, expected: 8 }) if name == ucall_abi::selftests::POOL_SYMBOL),
            "{err}"
        );
    }

    /// The error building a VM for a guest whose log-ring flag is at `enabled`, with a data
    /// segment at 0x20_1000 of 0x1000 bytes holding the ring's address and the MMIO global
    /// (which aarch64, without port I/O, needs first).
    fn log_ring_enabled_at(enabled: u64) -> SetupError {
        use ucall_abi::log_ring::{ADDRESS_SYMBOL, ENABLED_SYMBOL};
        let elf = native(
            TestElf::new(0x20_0000, 0x1000)
                .segment(TestSegment::data(0x20_1000, 0x1000))
                .symbol(ENABLED_SYMBOL, enabled)
                .symbol(ADDRESS_SYMBOL, 0x20_1008)
                .symbol(ucall_abi::MMIO_ADDR_SYMBOL, 0x20_1010),
        );
        VmBuilder::new(&elf).build().unwrap_err()
    }

    fn is_not_writable(err: &SetupError, at: u64) -> bool {
        matches!(err, SetupError::Load(LoadError::SymbolNotWritable { name, vaddr, len: 8 })
            if name == ucall_abi::log_ring::ENABLED_SYMBOL && *vaddr == at)
    }

    #[test]
    fn log_ring_flag_in_the_guests_code_is_refused_naming_it() {
        let err = log_ring_enabled_at(0x20_0010);
        assert!(is_not_writable(&err, 0x20_0010), "{err}");
    }

    #[test]
    fn log_ring_flag_straddling_the_end_of_its_segment_is_refused_naming_it() {
        let err = log_ring_enabled_at(0x20_1ffc);
        assert!(is_not_writable(&err, 0x20_1ffc), "{err}");
    }

    #[test]
    fn image_larger_than_the_memory_size_is_refused_before_the_vm_exists() {
        let elf =
            native(TestElf::new(0x20_0000, 0x1000).segment(TestSegment::data(0x20_1000, 64 << 20)));
        let err = VmBuilder::new(&elf).build().unwrap_err();
        assert!(
            matches!(
                err,
                SetupError::Load(LoadError::TooLarge {
                    needed: 0x400_1000,
                    memory_size: 0x200_0000
                })
            ),
            "{err}"
        );
    }
}
