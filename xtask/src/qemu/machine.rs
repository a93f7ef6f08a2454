//! The QEMU machines: an architecture plus the CPU model that selects which KVM code path the
//! VM's kernel uses.

use crate::arch::Arch;
use std::fmt;

/// One kind of VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Machine {
    /// `-cpu max,pauth=off`: the kernel runs at EL2 with VHE. `pauth=off` because emulated
    /// pointer authentication makes the boot 6-7x slower.
    #[value(name = "aarch64-vhe")]
    Aarch64Vhe,
    /// `-cpu cortex-a57`: no VHE, so KVM runs split (nVHE, EL2 hypervisor stub + EL1 kernel).
    #[value(name = "aarch64-nvhe")]
    Aarch64Nvhe,
    /// `-cpu qemu64,+svm,+npt`: AMD vendor (TCG emulates SVM, not VMX), nested paging on.
    #[value(name = "x86_64-kvm-amd")]
    X86_64KvmAmd,
    /// `-cpu rv64,h=true`: the hypervisor extension (QEMU 7.2 has it on by default for `rv64`;
    /// said anyway, since without it `kvm.ko` fails to load with ENODEV).
    #[value(name = "riscv64")]
    Riscv64,
}

impl Machine {
    /// The architecture of the VM and of the programs that run in it.
    pub fn arch(self) -> Arch {
        match self {
            Machine::Aarch64Vhe | Machine::Aarch64Nvhe => Arch::Aarch64,
            Machine::X86_64KvmAmd => Arch::X86_64,
            Machine::Riscv64 => Arch::Riscv64,
        }
    }

    /// The machine that runs a single ELF of `arch` (`cargo xtask run --arch`); `None` for
    /// x86_64, which runs on this machine's own KVM.
    pub fn for_runner(arch: Arch) -> Option<Machine> {
        match arch {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some(Machine::Aarch64Vhe),
            Arch::Riscv64 => Some(Machine::Riscv64),
        }
    }

    /// Short name for logs and command-line selection.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Aarch64Vhe => "aarch64-vhe",
            Machine::Aarch64Nvhe => "aarch64-nvhe",
            Machine::X86_64KvmAmd => "x86_64-kvm-amd",
            Machine::Riscv64 => "riscv64",
        }
    }

    /// The accelerator. aarch64: thread=multi, one host thread per vCPU (both host cores used).
    /// x86_64: thread=single, because with multi-threaded TCG, QEMU 7.2's nested SVM hangs the
    /// whole VM now and then (about 1 boot in 12 here: a vCPU stuck in the guest of the guest,
    /// no kernel message, the watchdog inside never fires); 0 hangs in 35 boots with one
    /// thread, which is as fast for this suite. riscv64 has one vCPU (see [`Machine::cpus`]).
    pub(super) fn accel(self) -> &'static str {
        match self {
            Machine::Aarch64Vhe | Machine::Aarch64Nvhe => "tcg,thread=multi",
            Machine::X86_64KvmAmd | Machine::Riscv64 => "tcg,thread=single",
        }
    }

    /// vCPUs. riscv64: one, because two with multi-threaded TCG made the same work twice as
    /// slow here.
    pub(super) fn cpus(self) -> u32 {
        match self {
            Machine::Riscv64 => 1,
            _ => 2,
        }
    }

    /// Machine and CPU arguments; the common ones are added by [`super::BootOptions`].
    pub(super) fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Machine::Aarch64Vhe => &["-M", "virt,virtualization=on", "-cpu", "max,pauth=off"],
            Machine::Aarch64Nvhe => &["-M", "virt,virtualization=on", "-cpu", "cortex-a57"],
            Machine::X86_64KvmAmd => &["-M", "pc", "-cpu", "qemu64,+svm,+npt"],
            Machine::Riscv64 => &["-M", "virt", "-cpu", "rv64,h=true"],
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name()) // pad: honours `{:<16}`
    }
}
