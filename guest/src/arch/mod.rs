//! The one place that differs per architecture: how the exit is made and how a vCPU stops.
//!
//! Each module offers `signal(record, mmio_address)` and `halt()`, and with the `pool` feature
//! `signal_token(token, mmio_address)`.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::halt;
#[cfg(all(target_arch = "aarch64", not(feature = "pool")))]
pub(crate) use aarch64::signal;
#[cfg(all(target_arch = "aarch64", feature = "pool"))]
pub(crate) use aarch64::signal_token;

#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "riscv64")]
pub(crate) use riscv64::halt;
#[cfg(all(target_arch = "riscv64", not(feature = "pool")))]
pub(crate) use riscv64::signal;
#[cfg(all(target_arch = "riscv64", feature = "pool"))]
pub(crate) use riscv64::signal_token;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::halt;
#[cfg(all(target_arch = "x86_64", not(feature = "pool")))]
pub(crate) use x86_64::signal;
#[cfg(all(target_arch = "x86_64", feature = "pool"))]
pub(crate) use x86_64::signal_token;

#[cfg(target_arch = "aarch64")]
pub use self::aarch64::transport;
#[cfg(target_arch = "riscv64")]
pub use self::riscv64::transport;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::transport;
