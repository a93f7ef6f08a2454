//! THE list of machines: every KVM that `cargo xtask` tests on, each one entry that says its
//! architecture, how it boots and what runs on it. `test`, `bench`, `build-guests`, `fuzz` and
//! `run --arch` iterate [`MACHINES`]; nothing else in xtask names a machine.
//!
//! Adding a machine is one entry here (and, for a new architecture, a variant of
//! [`Arch`] with the facts the compiler asks for). Adding something that runs on every machine
//! is one [`Work`] variant, implemented once for this machine and once for the VMs in
//! `test/work.rs`, and listed in [`EVERY_MACHINE`].

use crate::arch::Arch;
use anyhow::{Result, bail};
use std::fmt;

/// One KVM to test on: this machine's own, or one inside a QEMU VM.
#[derive(Debug, PartialEq, Eq)]
pub struct Machine {
    /// Short name for logs, `--machine` and file names.
    pub name: &'static str,
    /// The architecture of its guests and of the programs that run in it.
    pub arch: Arch,
    /// How QEMU boots it; `None`: this machine's own `/dev/kvm`.
    pub qemu: Option<Qemu>,
    /// What `cargo xtask test` runs on it, besides [`EVERY_MACHINE`].
    pub runs: &'static [Work],
    /// Its part of `cargo xtask bench`, if any.
    pub bench: Option<BenchRun>,
    /// Whether `cargo xtask run --arch <arch>` runs ELFs here: one machine per architecture.
    pub runs_elfs: bool,
}

/// The QEMU pieces of a machine; the common ones (console, memory, kernel, initramfs) are added
/// by `qemu::BootOptions`.
#[derive(Debug, PartialEq, Eq)]
pub struct Qemu {
    /// Machine and CPU arguments: the CPU model selects which KVM code path the VM's kernel uses.
    pub args: &'static [&'static str],
    /// The accelerator.
    pub accel: &'static str,
    /// vCPUs.
    pub cpus: u32,
}

impl Qemu {
    /// Host cores a boot keeps busy: one per vCPU with multi-threaded TCG, else one.
    pub fn host_threads(&self) -> u32 {
        if self.accel.contains("thread=multi") {
            self.cpus
        } else {
            1
        }
    }
}

/// A machine's benchmark run.
#[derive(Debug, PartialEq, Eq)]
pub struct BenchRun {
    /// What its figures are named for (`, <label>` ends their names); a VM's whole report goes
    /// under `architectures.<label>` of `target/bench/results.json`. This machine's own run is
    /// the top level of that file.
    pub label: &'static str,
    /// Whether a failure fails the whole command.
    pub required: bool,
}

/// One thing `cargo xtask test` runs on a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// The workspace's test binaries: `cargo test` here; in a VM every binary that needs no
    /// program the VM lacks, without the KVM-free tests (the property tests, and the host
    /// crate's unit tests outside its KVM layer: pure host logic). Those test logic that is the
    /// same on every host (each guest architecture's walker and decoder is built everywhere),
    /// so this machine runs them in full and the VMs, where they cost a quarter of a machine's
    /// time under TCG, do not.
    Tests,
    /// `examples/external-guest`, a guest crate of another project, built by cargo for the
    /// machine's bare-metal target and run by `ucall-run` (as `cargo run`'s runner here).
    ExternalGuest,
    /// `examples/foreign_vmm.rs`, a VMM of its own on the host crate's pieces (x86_64 KVM).
    ForeignVmm,
    /// `ucall-host --no-default-features`, as a decode-only VMM builds it: build and tests.
    DecodeOnly,
    /// `examples/guest-tests`, a test crate of bare-metal guest tests, built by cargo for the
    /// machine's bare-metal target and run by `ucall-run` as its libtest harness (`cargo test`
    /// here; `ucall-run ELF ARGS` in a VM), its exact outcome line asserted.
    GuestTests,
}

/// What runs on every machine, after its own [`Machine::runs`].
pub const EVERY_MACHINE: &[Work] = &[Work::GuestTests];

/// The machines, in the order `cargo xtask test` starts them.
pub const MACHINES: &[Machine] = &[
    Machine {
        name: "x86_64",
        arch: Arch::X86_64,
        qemu: None,
        runs: &[
            Work::Tests,
            Work::DecodeOnly,
            Work::ForeignVmm,
            Work::ExternalGuest,
        ],
        bench: Some(BenchRun {
            label: "x86_64",
            required: true,
        }),
        runs_elfs: true,
    },
    // The kernel runs at EL2 with VHE. `pauth=off`: emulated pointer authentication makes the
    // boot 6-7x slower. Multi-threaded TCG, one host thread per vCPU.
    Machine {
        name: "aarch64-vhe",
        arch: Arch::Aarch64,
        qemu: Some(Qemu {
            args: &["-M", "virt,virtualization=on", "-cpu", "max,pauth=off"],
            accel: "tcg,thread=multi",
            cpus: 2,
        }),
        runs: &[Work::Tests, Work::ExternalGuest],
        bench: Some(BenchRun {
            label: "aarch64",
            required: true,
        }),
        runs_elfs: true,
    },
    // No VHE, so KVM runs split (nVHE: an EL2 hypervisor stub and the EL1 kernel).
    Machine {
        name: "aarch64-nvhe",
        arch: Arch::Aarch64,
        qemu: Some(Qemu {
            args: &["-M", "virt,virtualization=on", "-cpu", "cortex-a57"],
            accel: "tcg,thread=multi",
            cpus: 2,
        }),
        runs: &[Work::Tests],
        bench: None,
        runs_elfs: false,
    },
    // AMD vendor (TCG emulates SVM, not VMX), nested paging on: kvm_amd, whose behaviour this
    // machine's own KVM (kvm_pvm) may not share. thread=single, because with multi-threaded TCG
    // QEMU 7.2's nested SVM hangs the whole VM now and then (about 1 boot in 12: a vCPU stuck
    // in the guest of the guest, no kernel message); 0 hangs in 35 boots with one thread, as
    // fast for this suite. Its benchmark is optional for the same hangs.
    Machine {
        name: "x86_64-kvm-amd",
        arch: Arch::X86_64,
        qemu: Some(Qemu {
            args: &["-M", "pc", "-cpu", "qemu64,+svm,+npt"],
            accel: "tcg,thread=single",
            cpus: 2,
        }),
        runs: &[Work::Tests],
        bench: Some(BenchRun {
            label: "x86_64 kvm_amd",
            required: false,
        }),
        runs_elfs: false,
    },
    // The hypervisor extension (QEMU 7.2 has it on by default for `rv64`; said anyway, since
    // without it `kvm.ko` fails to load with ENODEV). One vCPU: two with multi-threaded TCG made
    // the same work twice as slow here.
    Machine {
        name: "riscv64",
        arch: Arch::Riscv64,
        qemu: Some(Qemu {
            args: &["-M", "virt", "-cpu", "rv64,h=true"],
            accel: "tcg,thread=single",
            cpus: 1,
        }),
        runs: &[Work::Tests, Work::ExternalGuest],
        bench: Some(BenchRun {
            label: "riscv64",
            required: true,
        }),
        runs_elfs: true,
    },
];

impl Machine {
    /// Everything `cargo xtask test` runs on it: its own work, then [`EVERY_MACHINE`]'s.
    pub fn work(&self) -> impl Iterator<Item = Work> + '_ {
        self.runs.iter().chain(EVERY_MACHINE).copied()
    }

    /// Whether it runs `work`.
    pub fn runs(&self, work: Work) -> bool {
        self.work().any(|w| w == work)
    }

    /// Whether it runs `work` in any of its variants, e.g. any [`Work::Tests`].
    pub fn runs_any(&self, work: impl Fn(Work) -> bool) -> bool {
        self.work().any(work)
    }
}

/// What a `cargo xtask test` runs: everything, or the work of some machines.
#[derive(Debug, Default)]
pub struct Selection {
    /// The machines to run on, without the checks; empty: every machine and the checks.
    pub machines: Vec<&'static Machine>,
    /// Arguments for every test binary; when given, only [`Work::Tests`] runs.
    pub test_args: Vec<String>,
}

impl Selection {
    /// Whether this is the whole run, the one that must pass.
    pub fn is_everything(&self) -> bool {
        self.machines.is_empty() && self.test_args.is_empty()
    }

    /// Whether `machine` is selected.
    pub fn includes(&self, machine: &Machine) -> bool {
        self.machines.is_empty() || self.machines.contains(&machine)
    }

    /// What runs on `machine`: its work, or only its test binaries when a filter was given.
    pub fn work<'a>(&'a self, machine: &'a Machine) -> impl Iterator<Item = Work> + 'a {
        machine
            .work()
            .filter(|work| self.test_args.is_empty() || matches!(work, Work::Tests))
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name) // pad: honours `{:<16}`
    }
}

/// The machines inside QEMU.
pub fn vms() -> impl Iterator<Item = &'static Machine> {
    MACHINES.iter().filter(|machine| machine.qemu.is_some())
}

/// This machine's own KVM.
pub fn native() -> Result<&'static Machine> {
    match MACHINES.iter().find(|machine| machine.qemu.is_none()) {
        Some(machine) => Ok(machine),
        None => bail!("the machine list has no entry for this machine's own KVM"),
    }
}

/// Every architecture of the list, once each, in list order.
pub fn arches() -> Vec<Arch> {
    let mut arches = Vec::new();
    for machine in MACHINES {
        if !arches.contains(&machine.arch) {
            arches.push(machine.arch);
        }
    }
    arches
}

/// The machine named `name` (for `--machine`).
pub fn by_name(name: &str) -> Result<&'static Machine> {
    match MACHINES.iter().find(|machine| machine.name == name) {
        Some(machine) => Ok(machine),
        None => {
            let names: Vec<&str> = MACHINES.iter().map(|m| m.name).collect();
            bail!("no machine {name:?}; the machines: {}", names.join(", "))
        }
    }
}

/// The machine that runs single ELFs of `arch` (`cargo xtask run --arch`).
pub fn runner_for(arch: Arch) -> Result<&'static Machine> {
    match MACHINES.iter().find(|m| m.arch == arch && m.runs_elfs) {
        Some(machine) => Ok(machine),
        None => bail!("no machine runs {arch} ELFs (runs_elfs in xtask/src/machines.rs)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_architecture_has_exactly_one_machine_that_runs_its_elfs() {
        for arch in arches() {
            let runners = MACHINES
                .iter()
                .filter(|m| m.arch == arch && m.runs_elfs)
                .count();
            assert_eq!(runners, 1, "{arch}");
        }
    }

    #[test]
    fn machine_names_are_unique() {
        for (i, machine) in MACHINES.iter().enumerate() {
            assert_eq!(
                MACHINES[i + 1..]
                    .iter()
                    .filter(|m| m.name == machine.name)
                    .count(),
                0
            );
        }
    }

    #[test]
    fn the_native_machine_is_the_only_one_without_qemu() {
        let native: Vec<&str> = MACHINES
            .iter()
            .filter(|m| m.qemu.is_none())
            .map(|m| m.name)
            .collect();
        assert_eq!(native, ["x86_64"]);
    }
}
