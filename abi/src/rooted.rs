//! Rooted ucalls: the exit carries the guest's page-table root along with the record, so the
//! host needs no register read to walk the guest's tables.
//!
//! On x86_64 KVM hands the host CR3 and `rdi` with every exit (synced registers), so a ucall is
//! one `KVM_RUN`. aarch64 and riscv64 have no synced registers: a host that walks the tables the
//! guest runs with would read TTBR0_EL1 or `satp` with a second vCPU ioctl per ucall. A rooted
//! ucall brings the root with it, so it stays one `KVM_RUN` and stays right for a guest that
//! switches tables:
//!
//! | arch    | rooted ucall |
//! |---------|--------------|
//! | aarch64 | the guest translates the address of a 16-byte aligned [`RootedCall`] on its stack with `AT S1E1R` and stores its *guest-physical* address (one plain 8-byte `str`) to the published MMIO address + [`MMIO_OFFSET`]. If the translation fails it makes a plain ucall instead |
//! | riscv64 | `ecall` with `a7` = 0x08FF_FFFF (the selftests' extension), `a6` = [`SBI_FUNCTION`], the record's guest-virtual address in `a0`, `satp` in `a1` |
//!
//! The record itself stays where it is (the guest's stack) and is read, strings included,
//! through the root the guest named, as with any ucall; the host's reply goes there too. The
//! root is untrusted like anything else the guest says: the host checks every address it walks
//! to. Plain ucalls (the seed's conventions) keep working and cost the register read.
//!
//! ```
//! use ucall_abi::rooted::{RootedCall, MMIO_OFFSET};
//! use zerocopy::IntoBytes;
//!
//! let call = RootedCall { record: 0x4020_1000, root: 0x4001_0000 };
//! assert_eq!(call.as_bytes().len(), RootedCall::SIZE);
//! assert_eq!(MMIO_OFFSET, 8);
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Where a rooted ucall's doorbell is, past the published MMIO address (the same page).
pub const MMIO_OFFSET: u64 = 8;

/// The riscv64 SBI function of the ucall extension that is a rooted ucall: the record's
/// guest-virtual address in `a0`, the guest's `satp` in `a1`.
pub const SBI_FUNCTION: u64 = 1;

/// What the aarch64 doorbell's guest-physical address points at: 16 bytes, 16-byte aligned (so
/// it never crosses a page), in guest RAM.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C, align(16))]
pub struct RootedCall {
    /// The record's guest-virtual address.
    pub record: u64,
    /// The root of the tables to read the record and its strings through: the guest's
    /// TTBR0_EL1 as it reads it (ASID and CnP bits included; the host ignores them).
    pub root: u64,
}

impl RootedCall {
    /// Its size in bytes, which is also its alignment.
    pub const SIZE: usize = core::mem::size_of::<RootedCall>();
}

const _: () = assert!(RootedCall::SIZE == 16);
const _: () = assert!(core::mem::align_of::<RootedCall>() == RootedCall::SIZE);
