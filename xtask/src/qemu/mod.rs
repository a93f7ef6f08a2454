//! Runs test binaries inside a throw-away Linux VM (QEMU, TCG) whose kernel offers `/dev/kvm`.
//!
//! Why: the machine that builds ucall has no hardware KVM for the architectures we support (its
//! own `/dev/kvm` is kvm_pvm, and there is no aarch64 or riscv64 host at all). A Debian kernel
//! booted in QEMU with emulated virtualization extensions gives a real upstream KVM:
//!
//! | [`Machine`]    | QEMU                                              | KVM in the VM   |
//! |----------------|---------------------------------------------------|-----------------|
//! | `Aarch64Vhe`   | `qemu-system-aarch64 -cpu max,pauth=off`          | arm64, VHE      |
//! | `Aarch64Nvhe`  | `qemu-system-aarch64 -cpu cortex-a57`             | arm64, nVHE     |
//! | `X86_64KvmAmd` | `qemu-system-x86_64 -cpu qemu64,+svm,+npt`        | kvm_amd, NPT    |
//! | `Riscv64`      | `qemu-system-riscv64 -M virt -cpu rv64,h=true`    | riscv64, H ext. |
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
//! External programs: `apt-get`, `apt-cache`, `dpkg-deb`, `tar`, `cargo`, `rustup` and
//! `qemu-system-*`.

pub mod apt;
pub mod boot;
pub mod initramfs;
pub mod kernel;
pub mod machine;
pub mod report;
pub mod static_build;

pub use boot::BootOptions;
pub use initramfs::Initramfs;
pub use kernel::{Kernel, kernel};
pub use machine::Machine;
pub use report::{RunReport, run};
pub use static_build::{build_static, build_static_bench, build_static_tests};

use std::fmt;

/// Error of this module: a message meant for a human, with context already included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

impl From<Error> for String {
    fn from(e: Error) -> Self {
        e.0
    }
}

/// The result of this module's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

/// Adds context to I/O errors: `fs::read(p).ctx(|| format!("reading {}", p.display()))?`.
trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

/// Progress lines go to stderr so that they never mix with the caller's stdout.
fn progress(msg: &str) {
    eprintln!("[qemu] {msg}");
}
