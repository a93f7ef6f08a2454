//! Running a guest to its end and writing its core, for the post-mortem tests.

use std::path::PathBuf;
use std::time::Duration;
use ucall_host::Ucall;
use ucall_host::vm::core_dump::{CoreDump, CoreThread, Signal};
use ucall_host::vm::{RunError, TransportKind, VmBuilder};

/// Bytes of guest memory in the VMs of [`dump_guest`].
pub const MEMORY_SIZE: u64 = 4 << 20;
/// Bytes of stack per vCPU in the VMs of [`dump_guest`], from the top of memory down.
pub const STACK_SIZE: u64 = 64 << 10;

/// A guest's core, written to a file of its own.
#[derive(Debug)]
pub struct DumpedGuest {
    /// How each vCPU ended: its last ucall, or the error that stopped it.
    pub ends: Vec<Result<Ucall, RunError>>,
    /// What went into the core.
    pub core: CoreDump,
    /// The core file.
    pub file: PathBuf,
    /// The guest's ELF.
    pub elf: PathBuf,
    /// The guest's memory: the bytes the core's memory must hold.
    pub memory: Vec<(u64, Vec<u8>)>,
}

/// Runs guest `name` on `vcpus` vCPUs (one after the other) until each ends (DONE, ABORT, an
/// error, or no ucall within `timeout`), takes each vCPU's registers at its end, and writes
/// the core to a file under the system's temporary folder.
pub fn dump_guest(name: &str, vcpus: usize, timeout: Duration) -> DumpedGuest {
    let elf = crate::guest(name);
    let mut vm = VmBuilder::new(&elf)
        .transport(TransportKind::Mmio)
        .vcpus(vcpus)
        .memory_size(MEMORY_SIZE)
        .stack_size(STACK_SIZE)
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a VM for {name}: {e}"));
    let mut core = CoreDump::new(name);
    let mut ends = Vec::new();
    for mut vcpu in vm.take_vcpus() {
        let end = loop {
            match vcpu.next_ucall() {
                Ok(Ucall::Sync { .. } | Ucall::Printf(_)) => continue,
                end => break end,
            }
        };
        let registers = vcpu
            .core_registers()
            .unwrap_or_else(|e| panic!("cannot read the registers of {name}: {e}"));
        core.add_thread(CoreThread {
            vcpu: vcpu.index(),
            signal: Signal::of_end(end.as_ref()),
            registers,
        });
        ends.push(end);
    }
    let file =
        std::env::temp_dir().join(format!("ucall-{name}-{vcpus}-{}.core", std::process::id()));
    let out = std::fs::File::create(&file)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", file.display()));
    core.write(vm.memory(), std::io::BufWriter::new(out))
        .unwrap_or_else(|e| panic!("cannot write the core of {name}: {e}"));
    DumpedGuest {
        ends,
        core,
        file,
        elf: crate::guest_dir().join(name),
        memory: memory_of(vm.memory()),
    }
}

fn memory_of(memory: &vm_memory::GuestMemoryMmap) -> Vec<(u64, Vec<u8>)> {
    use vm_memory::{Bytes, GuestMemoryBackend, GuestMemoryRegion, MemoryRegionAddress};
    memory
        .iter()
        .map(|region| {
            let mut bytes = vec![0; region.len() as usize];
            region
                .read_slice(&mut bytes, MemoryRegionAddress(0))
                .expect("a region reads whole");
            (region.start_addr().0, bytes)
        })
        .collect()
}

impl Drop for DumpedGuest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}
