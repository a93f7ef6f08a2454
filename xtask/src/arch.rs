//! The architectures xtask builds guests for and boots QEMU machines of: every fact about one
//! architecture is here, so adding one is a new variant and the match arms the compiler asks for.

use crate::install::DebianPackage;
use std::fmt;

/// An architecture of guests, and of the Linux VM that runs them under KVM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Arch {
    /// x86_64: this machine's own KVM, and kvm_amd in QEMU.
    #[value(name = "x86_64")]
    X86_64,
    /// aarch64: arm64 KVM in QEMU.
    Aarch64,
    /// riscv64: riscv64 KVM (the hypervisor extension) in QEMU.
    Riscv64,
}

impl Arch {
    /// The name, as in `target/guests/<name>/` and `std::env::consts::ARCH`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The bare-metal Rust target of the guests.
    pub fn guest_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
            Arch::Riscv64 => "riscv64gc-unknown-none-elf",
        }
    }

    /// The Rust target of static Linux programs that run inside the VM (`/init`, the tests,
    /// `ucall-run`). riscv64 has no musl target in rustup, so glibc, linked statically.
    pub fn linux_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// The Linux target with glibc: what docs.rs documents the host crate for, and what the
    /// lints and docs of other architectures check (which link nothing, so need no static C
    /// library and share one build of the dependencies).
    pub fn linux_gnu_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// `cargo --config` values that make [`Arch::linux_target`] programs static and linkable
    /// here. x86_64 musl links with the host's linker; aarch64 with `rust-lld` (no cross gcc
    /// needed); riscv64 with the cross gcc and its static glibc.
    pub fn linux_target_config(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &[],
            Arch::Aarch64 => &["target.aarch64-unknown-linux-musl.linker=\"rust-lld\""],
            Arch::Riscv64 => &[
                "target.riscv64gc-unknown-linux-gnu.linker=\"riscv64-linux-gnu-gcc\"",
                "target.riscv64gc-unknown-linux-gnu.rustflags=[\"-C\", \"target-feature=+crt-static\"]",
            ],
        }
    }

    /// The Debian packages the VM of this architecture needs here: QEMU, and for riscv64 the
    /// cross gcc and static glibc that link [`Arch::linux_target`] programs.
    pub fn host_packages(self) -> &'static [DebianPackage] {
        const X86_64: &[DebianPackage] = &[DebianPackage::program(
            "qemu-system-x86_64",
            "qemu-system-x86",
        )];
        const AARCH64: &[DebianPackage] = &[DebianPackage::program(
            "qemu-system-aarch64",
            "qemu-system-arm",
        )];
        const RISCV64: &[DebianPackage] = &[
            DebianPackage::program("qemu-system-riscv64", "qemu-system-misc"),
            DebianPackage::program("riscv64-linux-gnu-gcc", "gcc-riscv64-linux-gnu"),
            DebianPackage::file(
                "/usr/riscv64-linux-gnu/lib/libc.a",
                "libc6-dev-riscv64-cross",
            ),
        ];
        match self {
            Arch::X86_64 => X86_64,
            Arch::Aarch64 => AARCH64,
            Arch::Riscv64 => RISCV64,
        }
    }

    /// The QEMU program.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
            Arch::Riscv64 => "qemu-system-riscv64",
        }
    }

    /// The serial console the kernel writes to.
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 | Arch::Riscv64 => "ttyS0",
            Arch::Aarch64 => "ttyAMA0",
        }
    }

    /// Debian's name, used for packages and the cache folders.
    pub fn deb_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Where the VM's kernel comes from, and what of it is needed.
    pub fn kernel_source(self) -> KernelSource {
        match self {
            Arch::X86_64 | Arch::Aarch64 => KernelSource {
                suite: Suite::System,
                metapackage: match self {
                    Arch::X86_64 => "linux-image-cloud-amd64",
                    _ => "linux-image-cloud-arm64",
                },
                image_prefix: "vmlinuz-",
                modules_root: "lib/modules",
                // Dependency order; the package has no modules.dep, the order was read from
                // the modules' `.modinfo` sections. arm64 has `CONFIG_KVM=y`.
                modules: match self {
                    Arch::X86_64 => &[
                        "kernel/virt/lib/irqbypass.ko",
                        "kernel/arch/x86/kvm/kvm.ko",
                        "kernel/arch/x86/kvm/kvm-amd.ko",
                    ],
                    _ => &[],
                },
                required_config: match self {
                    Arch::X86_64 => &["CONFIG_KVM=m", "CONFIG_KVM_AMD=m"],
                    _ => &["CONFIG_KVM=y"],
                },
            },
            // Debian 12 has no riscv64 and no cloud flavour for it; Debian 13's kernel boots
            // in Debian 12's QEMU 7.2.
            Arch::Riscv64 => KernelSource {
                suite: Suite::Trixie,
                metapackage: "linux-image-riscv64",
                // An uncompressed Image, which `-kernel` takes as it is.
                image_prefix: "vmlinux-",
                // Merged /usr.
                modules_root: "usr/lib/modules",
                // No dependencies; the kernel decompresses it (CONFIG_MODULE_DECOMPRESS).
                modules: &["kernel/arch/riscv/kvm/kvm.ko.xz"],
                required_config: &["CONFIG_KVM=m", "CONFIG_MODULE_DECOMPRESS=y"],
            },
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Where a Debian kernel package is fetched from, and the parts of it that a VM needs.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    /// The package sources.
    pub suite: Suite,
    /// The metapackage that depends on the current kernel package.
    pub metapackage: &'static str,
    /// `boot/<image_prefix><release>` is what QEMU's `-kernel` takes.
    pub image_prefix: &'static str,
    /// The folder that holds `<release>/kernel/...`.
    pub modules_root: &'static str,
    /// Modules `/init` loads, in order, relative to `<modules_root>/<release>/`.
    pub modules: &'static [&'static str],
    /// Config lines that must be present for KVM to work the way `modules` expects; checked
    /// when the kernel is unpacked, so that a changed Debian config gives a clear error
    /// instead of a VM without `/dev/kvm`.
    pub required_config: &'static [&'static str],
}

/// Which Debian release's packages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// The system's own Debian sources.
    System,
    /// Debian 13, from deb.debian.org.
    Trixie,
}
