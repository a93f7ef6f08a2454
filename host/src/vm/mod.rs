//! A small VM for ucall guests: guest memory, an ELF, page tables, vCPUs and a run loop that
//! returns the next ucall or a typed error.
//!
//! This is what the tests and the `ucall-run` runner use; a VMM of its own needs none of it and
//! can use [`probe`](crate::probe), [`paging`](crate::paging) and [`decode`](crate::decode)
//! directly.
//!
//! ```no_run
//! use ucall_host::vm::{TransportKind, VmBuilder};
//! use ucall_host::Ucall;
//!
//! let elf = std::fs::read("guest.elf")?;
//! let mut vm = VmBuilder::new(&elf).transport(TransportKind::Mmio).build()?;
//! let mut vcpu = vm.take_vcpus().remove(0);
//! loop {
//!     match vcpu.next_ucall()? {
//!         Ucall::Done => break,
//!         ucall => println!("{ucall}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod elf;
mod watchdog;

#[cfg(target_arch = "aarch64")]
#[path = "aarch64.rs"]
mod arch;
#[cfg(target_arch = "x86_64")]
#[path = "x86_64.rs"]
mod arch;

pub use elf::GuestImage;

use crate::Error;
use crate::decode::{Exit, Transport, Ucall, decode};
use crate::paging::{Mapping, MemoryKind, PAGE_SIZE, PageSize, PageTables};
use crate::probe::{AddressWidths, find_mmio_address};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use watchdog::Watchdog;

/// The page-table format of this host's architecture.
pub use arch::Format;

/// The ELF machine (`EM_*` number) of this host's guests, for [`GuestImage::parse`].
pub use arch::ELF_MACHINE;

/// The x86_64 guest setup that [`VmBuilder`] does, for a VMM that owns its VM, memory and run
/// loop but wants the same guest state without writing it: 64-bit long mode with 4-level paging
/// through the tables at a root it gives, flat segments, SSE on, `KVM_CAP_SYNC_REGS` syncing the
/// registers that ucalls need.
///
/// The contract, in the guest-physical layout of [`LAYOUT`](x86_64::LAYOUT): RAM starts at 0,
/// [`setup_memory`](x86_64::setup_memory) writes the GDT and TSS in the page at `0x1000` and
/// `0x2000`, page tables are expected in `LAYOUT.tables`, and guests load from
/// `LAYOUT.image_floor` (2 MiB, where `ucall-guest.ld` links them). After
/// [`setup_vcpu`](x86_64::setup_vcpu), [`record_register`](x86_64::record_register) and
/// [`page_table_root`](x86_64::page_table_root) read `rdi` and CR3 from the registers KVM syncs
/// on every exit, with no ioctl.
///
/// ```no_run
/// use kvm_ioctls::Kvm;
/// use ucall_host::paging::{MemoryKind, PageTables};
/// use ucall_host::vm::{register_memory, x86_64, GuestImage, ELF_MACHINE};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let kvm = Kvm::new()?;
/// let vm = kvm.create_vm()?;
/// let ram = 32 << 20;
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), ram)])?;
/// register_memory(&vm, &memory)?;
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let image = GuestImage::parse(&elf, ELF_MACHINE)?;
/// image.load(&memory)?;
/// let (_widths, format) = x86_64::address_widths(&kvm)?;
/// let tables_at = x86_64::LAYOUT.tables;
/// let mut tables = PageTables::new(&memory, format, GuestAddress(tables_at.start), tables_at.end - tables_at.start)?;
/// tables.identity_map(&memory, 0..ram as u64, MemoryKind::Normal)?;
/// x86_64::setup_memory(&memory)?;
/// let mut vcpu = vm.create_vcpu(0)?;
/// x86_64::setup_vcpu(&kvm, &vm, &mut vcpu, 0, image.entry(), ram as u64, tables.root())?;
/// // ... then the VMM's own loop: vcpu.run(), its exit match, ucall_host::decode.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(target_arch = "x86_64")]
pub mod x86_64 {
    pub use super::arch::{
        ELF_MACHINE, LAYOUT, address_widths, create_vm, page_table_root, record_register,
        setup_memory, setup_vcpu,
    };
}

/// The aarch64 guest setup that [`VmBuilder`] does, for a VMM that owns its VM, memory and run
/// loop: the same functions as `vm::x86_64` offers there, for EL1 with the MMU on.
///
/// The contract, in the guest-physical layout of [`LAYOUT`](aarch64::LAYOUT): RAM starts at
/// 1 GiB, [`create_vm`](aarch64::create_vm) asks for KVM's largest IPA size (the physical width
/// [`address_widths`](aarch64::address_widths) reports),
/// [`setup_memory`](aarch64::setup_memory) writes exception vectors at the start of RAM that
/// turn a guest fault into a PSCI reset (reported as `Error::GuestException` by the run loop),
/// page tables are expected in `LAYOUT.tables`, and guests load from `LAYOUT.image_floor`.
/// [`page_table_root`](aarch64::page_table_root) reads TTBR0_EL1 (one `KVM_GET_ONE_REG`).
#[cfg(target_arch = "aarch64")]
pub mod aarch64 {
    pub use super::arch::{
        ELF_MACHINE, LAYOUT, address_widths, create_vm, page_table_root, setup_memory, setup_vcpu,
    };
}

/// Where things live in guest-physical memory, per architecture.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Where RAM starts.
    pub ram_base: u64,
    /// The range that page tables come from.
    pub tables: Range<u64>,
    /// The lowest address a guest image may load at.
    pub image_floor: u64,
}

/// How the guest signals ucalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// An 8-byte store to a probed address published in `ucall_exit_mmio_addr`.
    Mmio,
    /// `in al, dx` on port 0x1000 with the record address in `rdi` (x86_64 only).
    Pio,
}

/// Which page tables the host walks to find a ucall's record and strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableRoot {
    /// The root the vCPU runs with at the exit: CR3 on x86_64 (from the synced registers, no
    /// ioctl), TTBR0_EL1 on aarch64 (one `KVM_GET_ONE_REG` per ucall). Right even for a guest
    /// that switches to tables of its own.
    #[default]
    Live,
    /// The tables the builder made, as the Linux KVM selftests assume: saves the register read
    /// on aarch64, but decodes a guest that switched tables through the wrong ones.
    Built,
}

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

    /// How long a vCPU may run without making a ucall before [`Error::Timeout`].
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
    pub fn build(self) -> Result<Vm, Error> {
        let layout = arch::LAYOUT;
        let stacks = self.stack_size.checked_mul(self.vcpus as u64);
        if self.memory_size % PageSize::Size2M.bytes() != 0
            || self.stack_size % PAGE_SIZE != 0
            || self.vcpus == 0
            || stacks.is_none_or(|s| s >= self.memory_size)
        {
            return Err(Error::Memory(format!(
                "{} vCPUs with {:#x} bytes of stack each do not fit {:#x} bytes of memory (a multiple of 2 MiB)",
                self.vcpus, self.stack_size, self.memory_size
            )));
        }
        let kvm = Kvm::new().map_err(Error::kvm("open /dev/kvm"))?;
        let vm_fd = arch::create_vm(&kvm)?;
        let (widths, format) = arch::address_widths(&kvm)?;

        let ram = layout.ram_base..layout.ram_base + self.memory_size;
        let memory = GuestMemoryMmap::<()>::from_ranges(&[(
            GuestAddress(ram.start),
            self.memory_size as usize,
        )])
        .map_err(|e| {
            Error::Memory(format!(
                "cannot allocate {:#x} bytes: {e}",
                self.memory_size
            ))
        })?;
        register_memory(&vm_fd, &memory)?;

        let image = GuestImage::parse(self.elf, arch::ELF_MACHINE)?;
        let image_end = image.load(&memory)?;
        let stack_floor = ram.end - self.stack_size * self.vcpus as u64;
        if image_end > stack_floor {
            return Err(Error::Memory(format!(
                "the guest image ends at {image_end:#x}, in the vCPU stacks from {stack_floor:#x}"
            )));
        }

        let mut tables = PageTables::new(
            &memory,
            format,
            GuestAddress(layout.tables.start),
            layout.tables.end - layout.tables.start,
        )?;
        tables.identity_map(&memory, ram.clone(), MemoryKind::Normal)?;
        arch::setup_memory(&memory)?;

        let transport = match self.transport {
            TransportKind::Pio if !arch::HAS_PORT_IO => {
                return Err(Error::Unsupported {
                    what: "port I/O ucalls",
                    arch: std::env::consts::ARCH,
                });
            }
            TransportKind::Pio => Transport::pio(),
            TransportKind::Mmio => {
                let gpa =
                    find_mmio_address(&memory, tables.format(), tables.root(), widths, |_| false)?;
                let mapping = Mapping {
                    gva: gpa,
                    gpa,
                    size: PageSize::Size4K,
                    kind: MemoryKind::Device,
                };
                tables.map(&memory, mapping)?;
                write_global(&memory, &image, ucall_abi::MMIO_ADDR_SYMBOL, gpa)?;
                Transport::mmio(gpa)
            }
        };

        let memory = Arc::new(memory);
        let mut vcpus = Vec::with_capacity(self.vcpus);
        for index in 0..self.vcpus {
            let mut fd = vm_fd
                .create_vcpu(index as u64)
                .map_err(Error::kvm("KVM_CREATE_VCPU"))?;
            let stack_top = ram.end - self.stack_size * index as u64;
            arch::setup_vcpu(
                &kvm,
                &vm_fd,
                &mut fd,
                index,
                image.entry(),
                stack_top,
                tables.root(),
            )?;
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
            _kvm: kvm,
            fd: vm_fd,
            memory,
            vcpus,
            transport,
            widths,
            tables,
        })
    }
}

/// Tells KVM about each region of `memory`, one memory slot per region.
pub fn register_memory(vm: &VmFd, memory: &GuestMemoryMmap) -> Result<(), Error> {
    for (slot, region) in memory.iter().enumerate() {
        let userspace_addr = region
            .get_host_address(vm_memory::MemoryRegionAddress(0))
            .map_err(|e| Error::Memory(e.to_string()))? as u64;
        let region = kvm_bindings::kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr,
        };
        // SAFETY: the region is a live mapping of `memory_size` bytes that `memory` owns; the
        // caller keeps `memory` alive for as long as the VM can run (Vcpu holds an Arc of it).
        unsafe { vm.set_user_memory_region(region) }
            .map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION"))?;
    }
    Ok(())
}

/// A VM built by [`VmBuilder`].
pub struct Vm {
    _kvm: Kvm,
    fd: VmFd,
    memory: Arc<GuestMemoryMmap>,
    vcpus: Vec<Vcpu>,
    transport: Transport,
    widths: AddressWidths,
    tables: PageTables<Format>,
}

impl Vm {
    /// Hands over the vCPUs (once), to run them here or each on its own thread.
    pub fn take_vcpus(&mut self) -> Vec<Vcpu> {
        std::mem::take(&mut self.vcpus)
    }

    /// The VM's file descriptor.
    pub fn fd(&self) -> &VmFd {
        &self.fd
    }

    /// The guest's memory.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.memory
    }

    /// Which exits are ucalls (for MMIO, the probed address is in it).
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The address widths KVM reported for the guest.
    pub fn address_widths(&self) -> AddressWidths {
        self.widths
    }

    /// The guest's page tables as the host built them.
    pub fn page_tables(&self) -> &PageTables<Format> {
        &self.tables
    }
}

/// One vCPU of a [`Vm`], ready to run on any thread.
pub struct Vcpu {
    index: usize,
    fd: VcpuFd,
    memory: Arc<GuestMemoryMmap>,
    format: Format,
    root: GuestAddress,
    table_root: TableRoot,
    transport: Transport,
    timeout: Duration,
    watchdog: Watchdog,
    finished: bool,
}

/// An exit, copied out of `kvm_run` so that the vCPU can be asked for registers while deciding.
enum Stop {
    Mmio {
        gpa: u64,
        data: [u8; 8],
        len: usize,
        is_write: bool,
    },
    Pio {
        port: u16,
        size: usize,
        is_in: bool,
    },
    Ended(Ended),
}

/// An exit that ends the guest's run, copied out of `kvm_run`.
enum Ended {
    Halted,
    Shutdown,
    SystemEvent(u32, Vec<u64>),
    FailEntry(u64),
    InternalError(u32),
    Other(String),
}

impl Vcpu {
    /// The vCPU's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The vCPU's file descriptor, for anything this type does not offer.
    pub fn fd(&mut self) -> &mut VcpuFd {
        &mut self.fd
    }

    /// Runs the guest until its next ucall and returns it; any other exit, and a guest that makes
    /// no ucall within the timeout, is an error. After DONE or ABORT the vCPU does not run again.
    pub fn next_ucall(&mut self) -> Result<Ucall, Error> {
        let vcpu = self.index;
        if self.finished {
            return Err(Error::Finished { vcpu });
        }
        let _armed = self.watchdog.arm(self.timeout);
        let stop = loop {
            if self.watchdog.fired() {
                return Err(Error::Timeout {
                    vcpu,
                    after: self.timeout,
                });
            }
            let exit = match self.fd.run() {
                Ok(exit) => exit,
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
                Err(source) => {
                    return Err(Error::Kvm {
                        what: "KVM_RUN",
                        source,
                    });
                }
            };
            break match exit {
                VcpuExit::MmioWrite(gpa, data) => {
                    let mut copy = [0; 8];
                    let len = data.len().min(8);
                    copy[..len].copy_from_slice(&data[..len]);
                    Stop::Mmio {
                        gpa,
                        data: copy,
                        len: data.len(),
                        is_write: true,
                    }
                }
                VcpuExit::MmioRead(gpa, data) => {
                    data.fill(0);
                    Stop::Mmio {
                        gpa,
                        data: [0; 8],
                        len: data.len(),
                        is_write: false,
                    }
                }
                VcpuExit::IoIn(port, data) => {
                    data.fill(0);
                    Stop::Pio {
                        port,
                        size: data.len(),
                        is_in: true,
                    }
                }
                VcpuExit::IoOut(port, data) => Stop::Pio {
                    port,
                    size: data.len(),
                    is_in: false,
                },
                VcpuExit::Intr => continue,
                VcpuExit::Hlt => Stop::Ended(Ended::Halted),
                VcpuExit::Shutdown => Stop::Ended(Ended::Shutdown),
                VcpuExit::SystemEvent(kind, data) => {
                    Stop::Ended(Ended::SystemEvent(kind, data.to_vec()))
                }
                VcpuExit::FailEntry(reason, _) => Stop::Ended(Ended::FailEntry(reason)),
                // SAFETY: KVM filled the `internal` member of the exit union for this exit.
                VcpuExit::InternalError => Stop::Ended(Ended::InternalError(unsafe {
                    self.fd.get_kvm_run().__bindgen_anon_1.internal.suberror
                })),
                other => Stop::Ended(Ended::Other(format!("{other:x?}"))),
            };
        };
        let exit = match &stop {
            Stop::Mmio {
                gpa,
                data,
                len,
                is_write: true,
            } => Exit::MmioWrite {
                gpa: *gpa,
                data: &data[..(*len).min(8)],
            },
            Stop::Mmio { gpa, len, .. } => Exit::MmioRead {
                gpa: *gpa,
                len: *len,
            },
            Stop::Pio {
                port,
                size,
                is_in: true,
            } => Exit::PioIn {
                port: *port,
                size: *size,
            },
            Stop::Pio { port, size, .. } => Exit::PioOut {
                port: *port,
                size: *size,
            },
            Stop::Ended(ended) => {
                return Err(ended.to_error(
                    vcpu,
                    &mut self.fd,
                    &self.memory,
                    &self.format,
                    self.root,
                ));
            }
        };
        // A wider MMIO write than 8 bytes cannot be a ucall; say so with its real length.
        if let Stop::Mmio {
            gpa,
            len,
            is_write: true,
            ..
        } = stop
        {
            if Some(gpa) == self.transport.mmio_gpa && len != 8 {
                return Err(Error::BadMmioAccess {
                    gpa,
                    len,
                    is_write: true,
                });
            }
        }
        let record = self
            .transport
            .record_address(&exit, || arch::record_register(&mut self.fd))?;
        let Some(record) = record else {
            return Err(Error::UnexpectedExit {
                vcpu,
                exit: format!("{exit:x?}"),
            });
        };
        let root = match self.table_root {
            TableRoot::Live => arch::page_table_root(&mut self.fd, vcpu)?,
            TableRoot::Built => self.root,
        };
        let ucall = decode(&*self.memory, &self.format, root, record)?;
        self.finished = matches!(ucall, Ucall::Done | Ucall::Abort(_));
        Ok(ucall)
    }
}

impl Ended {
    /// The error for an exit that ends the guest's run.
    fn to_error(
        &self,
        vcpu: usize,
        fd: &mut VcpuFd,
        memory: &GuestMemoryMmap,
        format: &Format,
        root: GuestAddress,
    ) -> Error {
        match self {
            Ended::Halted => Error::Halted { vcpu },
            Ended::Shutdown => Error::Shutdown {
                vcpu,
                why: "triple fault or shutdown".into(),
            },
            Ended::SystemEvent(kind, data) => arch::system_event_error(fd, vcpu, *kind, data),
            Ended::FailEntry(reason) => Error::FailEntry {
                vcpu,
                reason: *reason,
            },
            Ended::InternalError(suberror) => {
                let detail = arch::describe_position(fd, memory, format, root);
                Error::InternalError {
                    vcpu,
                    suberror: *suberror,
                    detail,
                }
            }
            Ended::Other(exit) => Error::UnexpectedExit {
                vcpu,
                exit: exit.clone(),
            },
        }
    }
}

/// Finishes an exit that KVM completes on the next `KVM_RUN` (the data of an `in` or MMIO read)
/// without running the guest further, so that registers read next (say with `KVM_GET_REGS`)
/// show the instruction as completed, as the seed's `vcpu_run_complete_io` does. The ucall run
/// loop never needs it: it resumes with `KVM_RUN` anyway. Offered for VMMs that inspect a vCPU
/// between exits.
pub fn complete_pending_io(vcpu: &mut VcpuFd) -> Result<(), Error> {
    vcpu.set_kvm_immediate_exit(1);
    let result = vcpu.run().map(drop);
    vcpu.set_kvm_immediate_exit(0);
    match result {
        Err(e) if e.errno() == libc::EINTR => Ok(()),
        Ok(()) => Ok(()),
        Err(source) => Err(Error::Kvm {
            what: "KVM_RUN (complete pending I/O)",
            source,
        }),
    }
}

/// Writes `value` to the 8-byte guest global `name` of `image`, loaded in `memory`: how the
/// host publishes the ucall address in `ucall_exit_mmio_addr`.
///
/// ```no_run
/// use ucall_host::vm::{write_global, GuestImage, ELF_MACHINE};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 32 << 20)])?;
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let image = GuestImage::parse(&elf, ELF_MACHINE)?;
/// image.load(&memory)?;
/// write_global(&memory, &image, ucall_abi::MMIO_ADDR_SYMBOL, 0x2800_0000_0000)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_global<M: vm_memory::GuestMemory + ?Sized>(
    memory: &M,
    image: &GuestImage<'_>,
    name: &str,
    value: u64,
) -> Result<(), Error> {
    let gpa = image.symbol_gpa(name)?;
    memory
        .write_obj(value, GuestAddress(gpa))
        .map_err(|e| Error::Memory(format!("cannot write guest global {name} at {gpa:#x}: {e}")))
}

/// Runs a single-vCPU guest to DONE or ABORT, handing each ucall to `on_ucall`, and returns the
/// last one.
///
/// ```no_run
/// use ucall_host::vm::{run_to_end, VmBuilder};
/// use ucall_host::Ucall;
///
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let mut vcpu = VmBuilder::new(&elf).build()?.take_vcpus().remove(0);
/// let last = run_to_end(&mut vcpu, |ucall| println!("{ucall}"))?;
/// assert_eq!(last, Ucall::Done);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_to_end(vcpu: &mut Vcpu, mut on_ucall: impl FnMut(&Ucall)) -> Result<Ucall, Error> {
    loop {
        let ucall = vcpu.next_ucall()?;
        on_ucall(&ucall);
        if matches!(ucall, Ucall::Done | Ucall::Abort(_)) {
            return Ok(ucall);
        }
    }
}
