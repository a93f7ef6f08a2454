//! Building a VM for one guest ELF.

use super::arch::{Arch, Native, VcpuStart};
use super::vcpu::Vcpu;
use super::watchdog::Watchdog;
use super::{GuestImage, KvmError, SetupError, TableRoot, TransportKind, Vm, register_memory};
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
///     .transport(TransportKind::Mmio)
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
    table_root: TableRoot,
}

impl<'a> VmBuilder<'a> {
    /// A VM for the guest `elf`: one vCPU, 32 MiB of memory, 64 KiB of stack per vCPU, MMIO
    /// ucalls, a 10-second watchdog per ucall, and records found through the live tables.
    pub fn new(elf: &'a [u8]) -> Self {
        VmBuilder {
            elf,
            vcpus: 1,
            memory_size: 32 << 20,
            stack_size: 64 << 10,
            transport: TransportKind::Mmio,
            timeout: Duration::from_secs(10),
            table_root: TableRoot::Live,
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

    /// Bytes of stack per vCPU, a multiple of 4 KiB.
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
    /// [`RunError::Timeout`](super::RunError::Timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Which page tables the host walks for records and strings.
    pub fn table_root(mut self, table_root: TableRoot) -> Self {
        self.table_root = table_root;
        self
    }

    /// Creates the VM, loads the guest, builds its page tables, probes and publishes the ucall
    /// address (for MMIO), and sets up the vCPUs.
    pub fn build(self) -> Result<Vm, SetupError> {
        let layout = Native::LAYOUT;
        let stacks = self.stack_size.checked_mul(self.vcpus as u64);
        if self.memory_size % PageSize::Size2M.bytes() != 0
            || self.stack_size % PAGE_SIZE != 0
            || self.vcpus == 0
            || stacks.is_none_or(|s| s >= self.memory_size)
        {
            return Err(SetupError::DoesNotFit {
                vcpus: self.vcpus,
                stack_size: self.stack_size,
                memory_size: self.memory_size,
            });
        }
        let offered = match self.transport {
            TransportKind::Mmio => true,
            TransportKind::Pio => Native::PORT_IO,
            TransportKind::Sbi => Native::SBI_CALLS,
        };
        if !offered {
            return Err(SetupError::UnsupportedTransport {
                transport: self.transport,
                arch: Native::NAME,
            });
        }
        let kvm = Kvm::new().map_err(KvmError::with("open /dev/kvm"))?;
        let (arch, vm_fd) = Native::create_vm(&kvm)?;
        let widths = arch.address_widths();
        let format = arch.page_table_format();

        let ram = layout.ram_base..layout.ram_base + self.memory_size;
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

        let image = GuestImage::parse(self.elf, Native::ELF_MACHINE)?;
        let image_end = image.load(&memory)?;
        let stack_floor = ram.end - self.stack_size * self.vcpus as u64;
        if image_end > stack_floor {
            return Err(SetupError::ImageOverlapsStacks {
                image_end,
                stack_floor,
            });
        }

        let mut tables = PageTables::new(
            &memory,
            format,
            GuestAddress(layout.tables.start),
            layout.tables.end - layout.tables.start,
        )?;
        tables.identity_map(&memory, ram.clone(), MemoryKind::Normal)?;
        arch.setup_memory(&memory)?;

        let transport = match self.transport {
            TransportKind::Pio => Transport::pio(),
            TransportKind::Sbi => Transport::sbi(),
            TransportKind::Mmio => {
                let global = image.symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL)?;
                // The VM's only memory slot is `memory`: no other slot can be in the way.
                install_mmio_page(
                    &memory,
                    &mut tables,
                    widths,
                    |_| false,
                    GuestAddress(global),
                )?
            }
        };

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
            };
            arch.setup_vcpu(&mut fd, &start)?;
            vcpus.push(Vcpu {
                index,
                fd,
                memory: Arc::clone(&memory),
                format,
                root: tables.root(),
                table_root: self.table_root,
                transport,
                timeout: self.timeout,
                watchdog: Watchdog::new()?,
                finished: false,
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
        })
    }
}
