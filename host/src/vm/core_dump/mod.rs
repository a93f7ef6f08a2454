//! Post-mortem: an ELF core file of a guest, which `gdb guest.elf core` opens like a Linux
//! process's core, one thread per vCPU.
//!
//! A [`CoreDump`] holds each vCPU's registers, taken with [`Vcpu::core_registers`] in the
//! vCPU's own thread when it ended (nothing is read unless a core is asked for), and
//! [`CoreDump::write`] writes them with the guest's memory:
//!
//! - an `ET_CORE` ELF64 file for the host's machine ([`Arch::ELF_MACHINE`]);
//! - one `PT_NOTE` segment with an `NT_PRPSINFO` note (the program's name) and one
//!   `NT_PRSTATUS` note per vCPU (thread id = vCPU index + 1, the signal it ended with, and its
//!   registers as the architecture's `elf_gregset_t`: [`UserRegs`] on x86_64, [`UserPtRegs`] on
//!   aarch64, [`RiscvUserRegs`] on riscv64, see [`CoreArch`]); the first vCPU that ended with a signal comes first, so it is
//!   gdb's current thread;
//! - one `PT_LOAD` segment per region of guest memory, whose virtual (and physical) address is
//!   its guest-physical address. That is right for the guests [`VmBuilder`](super::VmBuilder)
//!   runs, which run on identity-mapped tables (virtual address = physical address); memory a
//!   guest maps elsewhere with tables of its own shows in gdb at its physical address only.
//!
//! ```no_run
//! use ucall_host::vm::core_dump::{CoreDump, CoreThread, Signal};
//! use ucall_host::vm::VmBuilder;
//!
//! let elf = std::fs::read("guest.elf")?;
//! let mut vm = VmBuilder::new(&elf).build()?;
//! let mut vcpu = vm.take_vcpus().remove(0);
//! let ended = vcpu.next_ucall();
//! let mut core = CoreDump::new("guest.elf");
//! core.add_thread(CoreThread {
//!     vcpu: vcpu.index(),
//!     signal: Signal::of_end(ended.as_ref()),
//!     registers: vcpu.core_registers()?,
//! });
//! core.write(vm.memory(), std::fs::File::create("guest.core")?)?;
//! // Then: gdb guest.elf guest.core
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aarch64;
mod elf;
mod notes;
mod riscv64;
mod sink;
mod x86_64;

pub use aarch64::UserPtRegs;
pub use riscv64::RiscvUserRegs;
pub use x86_64::UserRegs;

use super::arch::{Arch, Native};
use super::{KvmError, RunError, Vcpu};
use crate::decode::Ucall;
use elf::{FILE_HEADER_SIZE, FileHeader, PROGRAM_HEADER_SIZE, ProgramHeader};
use goblin::elf::note::{NT_PRPSINFO, NT_PRSTATUS};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE};
use kvm_ioctls::VcpuFd;
use sink::{Dense, Sink, Sparse};
use std::fmt::Debug;
use std::io::{Seek, Write};
use vm_memory::{
    GuestMemoryBackend, GuestMemoryError, GuestMemoryMmap, GuestMemoryRegion, MemoryRegionAddress,
};
use zerocopy::{Immutable, IntoBytes};

/// The part of the [`Arch`] seam a core needs: the registers of a vCPU in the layout of the
/// architecture's Linux cores.
pub trait CoreArch: Arch {
    /// The kernel's `elf_gregset_t` for the architecture, which `NT_PRSTATUS` carries.
    type Registers: IntoBytes + Immutable + Clone + Debug + Send + Sync + 'static;

    /// Reads the registers of `vcpu` (which must not be running); `memory` is the guest's, for
    /// what the host's exception handlers saved there.
    fn core_registers(
        vcpu: &mut VcpuFd,
        memory: &GuestMemoryMmap,
    ) -> Result<Self::Registers, KvmError>;
}

/// The registers of a vCPU of this host's architecture, as a core carries them.
pub type Registers = <Native as CoreArch>::Registers;

/// What a core file says of one vCPU: a thread of the dumped "process".
#[derive(Clone, Debug)]
pub struct CoreThread {
    /// The vCPU's index; its thread id in the core is one more (gdb shows `LWP 1` for vCPU 0).
    pub vcpu: usize,
    /// The signal the vCPU ended with.
    pub signal: Signal,
    /// Its registers when it ended.
    pub registers: Registers,
}

/// A core file of a guest being put together: its name and its vCPUs' registers.
#[derive(Clone, Debug, Default)]
pub struct CoreDump {
    program: String,
    threads: Vec<CoreThread>,
}

/// Why a core file could not be written.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum CoreDumpError {
    /// Guest memory could not be read.
    #[error("cannot read guest memory at {gpa:#x} for the core: {source}")]
    ReadMemory {
        /// Where.
        gpa: u64,
        /// What vm-memory said.
        #[cfg_attr(
            feature = "serde",
            serde(serialize_with = "crate::serde_display::message")
        )]
        source: GuestMemoryError,
    },
    /// The memory has more regions than an ELF file has program headers.
    #[error("{regions} memory regions do not fit the core's program headers")]
    TooManyRegions {
        /// How many regions.
        regions: usize,
    },
    /// The core could not be written.
    #[error("cannot write the core: {0}")]
    Write(
        #[from]
        #[cfg_attr(
            feature = "serde",
            serde(serialize_with = "crate::serde_display::message")
        )]
        std::io::Error,
    ),
}

/// Bytes of memory copied at a time.
const CHUNK: usize = 1 << 20;
/// `e_phnum` at and above this means "see section header 0" (gABI): more than a core needs.
const PN_XNUM: u16 = 0xffff;
/// Where segment contents start in the file: page-aligned, as the kernel aligns them.
const SEGMENT_ALIGN: u64 = 0x1000;
/// The owner of Linux core notes.
const CORE_OWNER: &str = "CORE";

impl CoreDump {
    /// An empty core of the program `name` (gdb shows it as "generated by `name`").
    pub fn new(name: &str) -> Self {
        CoreDump {
            program: name.to_owned(),
            threads: Vec::new(),
        }
    }

    /// Adds a vCPU.
    pub fn add_thread(&mut self, thread: CoreThread) {
        self.threads.push(thread);
    }

    /// The vCPUs added so far.
    pub fn threads(&self) -> &[CoreThread] {
        &self.threads
    }

    /// Writes the core of `memory` (the guest's, with its registers as added) to `out`, every
    /// byte of it: for a stream. A file takes [`write_sparse`](Self::write_sparse).
    pub fn write<M, W>(&self, memory: &M, out: W) -> Result<(), CoreDumpError>
    where
        M: GuestMemoryBackend + ?Sized,
        W: Write,
    {
        self.write_to(memory, &mut Dense(out))
    }

    /// Writes the core as [`write`](Self::write) does, but seeks over every page of guest
    /// memory that holds only zeros instead of writing it, as Linux leaves untouched pages out
    /// of a process's core: on a file system with holes, a core takes about the memory the
    /// guest used, not the memory it was given. The bytes read back are the same.
    ///
    /// ```no_run
    /// # use ucall_host::vm::core_dump::CoreDump;
    /// # let (core, memory) = (CoreDump::new("guest"), vm_memory::GuestMemoryMmap::<()>::default());
    /// let file = std::fs::File::create("guest.core")?;
    /// core.write_sparse(&memory, std::io::BufWriter::new(file))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_sparse<M, W>(&self, memory: &M, out: W) -> Result<(), CoreDumpError>
    where
        M: GuestMemoryBackend + ?Sized,
        W: Write + Seek,
    {
        self.write_to(memory, &mut Sparse { out, pending: 0 })
    }

    fn write_to<M, S>(&self, memory: &M, out: &mut S) -> Result<(), CoreDumpError>
    where
        M: GuestMemoryBackend + ?Sized,
        S: Sink,
    {
        let notes = self.notes();
        let regions = memory.num_regions();
        let headers = u16::try_from(regions + 1)
            .ok()
            .filter(|&n| n < PN_XNUM)
            .ok_or(CoreDumpError::TooManyRegions { regions })?;
        let notes_at = FILE_HEADER_SIZE + PROGRAM_HEADER_SIZE * u64::from(headers);
        let mut program_headers = vec![ProgramHeader {
            kind: PT_NOTE,
            offset: notes_at,
            file_size: notes.len() as u64,
            align: 4,
            ..ProgramHeader::default()
        }];
        let mut offset = (notes_at + notes.len() as u64).next_multiple_of(SEGMENT_ALIGN);
        for region in memory.iter() {
            program_headers.push(ProgramHeader {
                kind: PT_LOAD,
                flags: PF_R | PF_W | PF_X,
                offset,
                vaddr: region.start_addr().0,
                paddr: region.start_addr().0,
                file_size: region.len(),
                memory_size: region.len(),
                align: SEGMENT_ALIGN,
            });
            offset = (offset + region.len()).next_multiple_of(SEGMENT_ALIGN);
        }

        let mut written = FILE_HEADER_SIZE;
        out.write_all(FileHeader::core(Native::ELF_MACHINE, headers).as_bytes())?;
        for header in &program_headers {
            out.write_all(header.as_bytes())?;
            written += PROGRAM_HEADER_SIZE;
        }
        out.write_all(&notes)?;
        written += notes.len() as u64;
        let mut chunk = vec![0; CHUNK];
        for (region, header) in memory.iter().zip(&program_headers[1..]) {
            out.hole(header.offset - written)?;
            copy_region(region, out, &mut chunk)?;
            written = header.offset + region.len();
        }
        out.finish()?;
        Ok(())
    }

    /// The `PT_NOTE` segment's contents: the program, then the threads, signalled first.
    fn notes(&self) -> Vec<u8> {
        let mut notes = Vec::new();
        elf::push_note(
            &mut notes,
            CORE_OWNER,
            NT_PRPSINFO,
            &notes::prpsinfo(&self.program),
        );
        let signalled = self.threads.iter().filter(|t| t.signal != Signal::NONE);
        let quiet = self.threads.iter().filter(|t| t.signal == Signal::NONE);
        for thread in signalled.chain(quiet) {
            let id = i32::try_from(thread.vcpu + 1).unwrap_or(i32::MAX);
            let status = notes::prstatus(id, thread.signal.0, thread.registers.as_bytes());
            elf::push_note(&mut notes, CORE_OWNER, NT_PRSTATUS, &status);
        }
        notes
    }
}

/// Copies all of `region` to `out`, a chunk at a time, each page of zeros as a hole.
fn copy_region<R: GuestMemoryRegion>(
    region: &R,
    out: &mut impl Sink,
    chunk: &mut [u8],
) -> Result<(), CoreDumpError> {
    const ZEROS: [u8; SEGMENT_ALIGN as usize] = [0; SEGMENT_ALIGN as usize];
    let mut at = 0;
    while at < region.len() {
        let len = chunk.len().min((region.len() - at) as usize);
        region
            .read_slice(&mut chunk[..len], MemoryRegionAddress(at))
            .map_err(|source| CoreDumpError::ReadMemory {
                gpa: region.start_addr().0 + at,
                source,
            })?;
        for page in chunk[..len].chunks(ZEROS.len()) {
            if page == &ZEROS[..page.len()] {
                out.hole(page.len() as u64)?;
            } else {
                out.write_all(page)?;
            }
        }
        at += len as u64;
    }
    Ok(())
}

/// The signal a core says a vCPU ended with, as if it were a thread of a Linux process (gdb:
/// "Program terminated with signal ..."): what the vCPU's end would have been to a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Signal {
    /// No signal: the vCPU sent DONE, or was still running.
    pub const NONE: Signal = Signal(0);
    /// ABORT: `SIGABRT`, as `abort()` raises.
    pub const ABORT: Signal = Signal(libc::SIGABRT);
    /// No ucall within the timeout: `SIGALRM`, as an alarm would end it.
    pub const TIMEOUT: Signal = Signal(libc::SIGALRM);
    /// A shutdown or an exception the guest did not handle: `SIGSEGV`.
    pub const FAULT: Signal = Signal(libc::SIGSEGV);
    /// A ucall the host could not decode: `SIGSYS`, a bad system call.
    pub const BAD_CALL: Signal = Signal(libc::SIGSYS);
    /// Any other exit that stopped the vCPU: `SIGILL`.
    pub const OTHER: Signal = Signal(libc::SIGILL);

    /// The signal of a vCPU that `error` stopped.
    pub fn of(error: &RunError) -> Signal {
        match error {
            RunError::Timeout { .. } => Signal::TIMEOUT,
            RunError::Shutdown { .. } | RunError::GuestException { .. } => Signal::FAULT,
            RunError::Decode(_) => Signal::BAD_CALL,
            _ => Signal::OTHER,
        }
    }

    /// The signal of a vCPU that ended with `end`: its last ucall, or the error that stopped it.
    pub fn of_end(end: Result<&Ucall, &RunError>) -> Signal {
        match end {
            Ok(Ucall::Abort(_)) => Signal::ABORT,
            Ok(Ucall::Unhandled(_)) => Signal::FAULT,
            Ok(_) => Signal::NONE,
            Err(error) => Signal::of(error),
        }
    }
}

impl Vcpu {
    /// The vCPU's registers for a [`CoreDump`]; read them after the vCPU's last exit, in the
    /// thread that ran it.
    pub fn core_registers(&mut self) -> Result<Registers, RunError> {
        Native::core_registers(&mut self.fd, &self.memory).map_err(|source| RunError::Kvm {
            vcpu: self.index,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::elf::Elf;
    use goblin::elf::header::ET_CORE;
    use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

    const RAM: u64 = 0x4000_0000;

    fn memory() -> GuestMemoryMmap {
        let memory = GuestMemoryMmap::<()>::from_ranges(&[
            (GuestAddress(RAM), 0x2000),
            (GuestAddress(RAM + 0x10_0000), 0x1000),
        ])
        .unwrap();
        memory
            .write_obj(0x1122_3344u32, GuestAddress(RAM + 0x10))
            .unwrap();
        memory
            .write_obj(0x5566_7788u32, GuestAddress(RAM + 0x10_0ff0))
            .unwrap();
        memory
    }

    fn thread(vcpu: usize, signal: Signal) -> CoreThread {
        CoreThread {
            vcpu,
            signal,
            registers: Registers::default(),
        }
    }

    fn core_of(dump: &CoreDump, memory: &GuestMemoryMmap) -> Vec<u8> {
        let mut file = Vec::new();
        dump.write(memory, &mut file).unwrap();
        file
    }

    #[test]
    fn a_core_is_an_et_core_file_for_the_hosts_machine() {
        let file = core_of(&CoreDump::new("guest"), &memory());
        let elf = Elf::parse(&file).unwrap();
        assert_eq!(elf.header.e_type, ET_CORE);
        assert_eq!(elf.header.e_machine, Native::ELF_MACHINE);
    }

    #[test]
    fn each_memory_region_is_a_loadable_segment_at_its_guest_physical_address() {
        let memory = memory();
        let file = core_of(&CoreDump::new("guest"), &memory);
        let elf = Elf::parse(&file).unwrap();
        let loads: Vec<_> = elf
            .program_headers
            .iter()
            .filter(|p| p.p_type == PT_LOAD)
            .map(|p| (p.p_vaddr, p.p_paddr, p.p_memsz, p.p_offset % SEGMENT_ALIGN))
            .collect();
        assert_eq!(
            loads,
            [
                (RAM, RAM, 0x2000, 0),
                (RAM + 0x10_0000, RAM + 0x10_0000, 0x1000, 0)
            ]
        );
        for (region, header) in memory.iter().zip(elf.program_headers.iter().skip(1)) {
            let mut bytes = vec![0; region.len() as usize];
            region
                .read_slice(&mut bytes, MemoryRegionAddress(0))
                .unwrap();
            assert_eq!(file[header.file_range()], bytes[..]);
        }
    }

    #[test]
    fn a_sparse_core_reads_back_as_the_dense_one() {
        let memory = memory();
        let mut dump = CoreDump::new("guest");
        dump.add_thread(thread(0, Signal::FAULT));
        let mut sparse = std::io::Cursor::new(Vec::new());
        dump.write_sparse(&memory, &mut sparse).unwrap();
        assert_eq!(sparse.into_inner(), core_of(&dump, &memory));
    }

    #[test]
    fn notes_name_the_program_then_the_threads_that_ended_with_a_signal_first() {
        let mut dump = CoreDump::new("guest");
        dump.add_thread(thread(0, Signal::NONE));
        dump.add_thread(thread(1, Signal::ABORT));
        dump.add_thread(thread(2, Signal::TIMEOUT));
        let file = core_of(&dump, &memory());
        let elf = Elf::parse(&file).unwrap();
        let notes: Vec<(u32, i32, i32)> = elf
            .iter_note_headers(&file)
            .unwrap()
            .map(|note| note.unwrap())
            .map(|note| {
                let word =
                    |at: usize| i32::from_le_bytes(note.desc[at..at + 4].try_into().unwrap());
                match note.n_type {
                    // pr_info.si_signo and pr_pid
                    NT_PRSTATUS => (note.n_type, word(0), word(32)),
                    _ => (note.n_type, 0, 0),
                }
            })
            .collect();
        assert_eq!(
            notes,
            [
                (NT_PRPSINFO, 0, 0),
                (NT_PRSTATUS, libc::SIGABRT, 2),
                (NT_PRSTATUS, libc::SIGALRM, 3),
                (NT_PRSTATUS, 0, 1),
            ]
        );
    }

    #[test]
    fn a_vcpu_stopped_by_an_error_ends_with_the_signal_a_process_would_get() {
        use std::time::Duration;
        let timeout = RunError::Timeout {
            vcpu: 0,
            after: Duration::from_secs(1),
        };
        let shutdown = RunError::Shutdown {
            vcpu: 0,
            reason: super::super::ShutdownReason::PowerOff,
        };
        assert_eq!(Signal::of(&timeout), Signal(libc::SIGALRM));
        assert_eq!(Signal::of(&shutdown), Signal(libc::SIGSEGV));
        assert_eq!(
            Signal::of(&RunError::Halted { vcpu: 0 }),
            Signal(libc::SIGILL)
        );
        assert_eq!(Signal::of_end(Ok(&Ucall::Done)), Signal::NONE);
    }
}
