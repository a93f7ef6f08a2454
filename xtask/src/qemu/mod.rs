//! Runs test binaries inside a throw-away Linux VM (QEMU, TCG) whose kernel offers `/dev/kvm`.
//!
//! Why: the machine that builds ucall has no hardware KVM for the architectures we support (its
//! own `/dev/kvm` is kvm_pvm, and there is no aarch64 or riscv64 host at all). A Debian kernel
//! booted in QEMU with emulated virtualization extensions gives a real upstream KVM:
//!
//! | machine          | QEMU                                              | KVM in the VM   |
//! |------------------|---------------------------------------------------|-----------------|
//! | `aarch64-vhe`    | `qemu-system-aarch64 -cpu max,pauth=off`          | arm64, VHE      |
//! | `aarch64-nvhe`   | `qemu-system-aarch64 -cpu cortex-a57`             | arm64, nVHE     |
//! | `x86_64-kvm-amd` | `qemu-system-x86_64 -cpu qemu64,+svm,+npt`        | kvm_amd, NPT    |
//! | `riscv64`        | `qemu-system-riscv64 -M virt -cpu rv64,h=true`    | riscv64, H ext. |
//!
//! (Each is an entry of [`crate::machines::MACHINES`], which holds these arguments.)
//!
//! The pieces, one module each, in the order an xtask uses them:
//!
//! 1. [`crate::install::ensure_packages`] installs QEMU (from [`crate::arch::Arch`]'s list).
//! 2. [`static_build`] builds `/init` (`xtask/qemu-init`) and the test binaries as static
//!    executables for the VM's architecture.
//! 3. [`kernel`](mod@kernel) downloads and unpacks the Debian kernel once (cached in `target/qemu/`), with
//!    the kvm modules to load, through a private apt state ([`apt`]).
//! 4. [`initramfs`] packs `/init`, the modules, the binaries and the `/init` config (the
//!    `ucall-init-protocol` crate, shared with `/init`) into a newc cpio archive.
//! 5. [`boot`] boots it with a hard timeout and streams the console to a callback; [`report`]
//!    parses the markers `/init` printed and turns them into pass/fail, with the console tail
//!    on failure.
//!
//! On top of them, what runs in the VMs, one module each: [`image`] (what every boot packs),
//! [`suite`] (the test binaries and the work of `cargo xtask test`), [`runner`] (`ucall-run` on
//! one ELF), [`bench`] (the benchmark) and [`kvm_check`].
//!
//! External programs: `apt-get`, `apt-cache`, `dpkg-deb`, `tar`, `cargo`, `rustup` and
//! `qemu-system-*`.

pub mod apt;
pub mod bench;
pub mod boot;
pub mod image;
pub mod initramfs;
pub mod kernel;
pub mod kvm_check;
pub mod report;
pub mod runner;
pub mod static_build;
pub mod suite;

pub use boot::BootOptions;
pub use initramfs::Initramfs;
pub use kernel::{Kernel, kernel};
pub use report::{RunReport, run};
pub use static_build::{StaticPrograms, build_static};

/// Progress lines go to stderr so that they never mix with the caller's stdout.
fn progress(msg: &str) {
    crate::shell::say(msg);
}
