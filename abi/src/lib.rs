//! The wire format of a ucall, shared by guests and hosts.
//!
//! A *ucall* is a call from a bare-metal guest to its host (a "hypercall to userspace") that rides
//! on a single KVM exit. The guest fills a [`Record`] on its own stack and then makes one exit that
//! carries the record's guest-virtual address. The host decodes the exit, translates the address
//! through the guest's page tables, reads the record, may write a reply into it, and resumes the
//! vCPU.
//!
//! This crate is the contract between both sides: `no_std`, no allocation, no `unsafe`, so that
//! firmware, C guests and any host agree on the same bytes. C guests get the same contract as
//! `include/ucall.h` (see [C guests](#c-guests)).
//!
//! # Record layout
//!
//! | offset | size | field      | meaning                                   |
//! |--------|------|------------|-------------------------------------------|
//! | 0      | 8    | `cmd`      | a [`Command`] number, or a user command   |
//! | 8      | 48   | `args[6]`  | command arguments, unused ones are zero; the host's reply after the exit |
//!
//! All fields are little-endian `u64` on both supported architectures. The layout is the one of
//! the Linux KVM selftests' `struct ucall` of the Linux 5.10 era, so guests written against those
//! selftests are understood unchanged (see [Against the Linux KVM
//! selftests](#against-the-linux-kvm-selftests) for which).
//!
//! # Commands
//!
//! | number | command            | arguments                                                   |
//! |--------|--------------------|-------------------------------------------------------------|
//! | 0      | [`Command::None`]  | none; never sent on purpose                                 |
//! | 1      | [`Command::Sync`]  | up to six free-form values                                  |
//! | 2      | [`Command::Abort`] | `args[0]` message string, `args[1]` line, `args[2]` file string or 0, `args[3]` column or 0 ([`abort`]) |
//! | 3      | [`Command::Done`]  | none                                                        |
//! | 4      | [`Command::Printf`]| `args[0]` text string ([`printf`])                          |
//! | 5      | [`Command::Unhandled`] | `args[0]` vector, `args[1]` instruction address, `args[2]` error code or syndrome, `args[3]` fault address ([`unhandled`], per architecture) |
//! | 6      | LOG_FLUSH ([`log_ring::FLUSH_COMMAND`]) | none; the guest's log ring is full: drain it ([`log_ring`]). Not a [`Command`] yet: a host that does not drain log rings reports it as unknown, and a guest sends it only to a host that said it drains them |
//! | 7 to 0xff | reserved        | the protocol's future commands; a host reports them as unknown |
//! | [`FIRST_USER_COMMAND`] (0x100) to [`LAST_USER_COMMAND`] (0xffff) | user commands | six values, meaning agreed between the guest program and its host |
//! | 0x10000 and up | none | never a command; a host reports them as unknown |
//!
//! Numbers 0 to 3 are those of the selftests of the seed's era (`UCALL_NONE`, `UCALL_SYNC`,
//! `UCALL_ABORT`, `UCALL_DONE`) and 5 is today's `UCALL_UNHANDLED`; 4 is this project's PRINTF.
//! After DONE, ABORT and UNHANDLED the host does not resume the vCPU.
//!
//! # Replies
//!
//! Before it resumes the vCPU, the host may answer a ucall by overwriting the six `args` of the
//! record (at [`Record::ARGS_OFFSET`], at the same guest-virtual address, through the same
//! translation it read them with). It never writes `cmd`, and it writes all six words or none. A
//! host that does not answer leaves the arguments as the guest wrote them, so a call to such a
//! host returns its own arguments. The guest reads the arguments back with volatile reads once
//! the exit returns (the compiler cannot know that the exit changed them); `ucall-guest`'s
//! `call` does that.
//!
//! The record is the reply, on every transport and architecture, so a reply looks the same over
//! port I/O and MMIO; it therefore has to be in memory the guest can write and read back, as its
//! stack is. A host writes it only where the guest's own page tables allow writing, and only
//! into guest RAM.
//!
//! Over x86_64 port I/O a register carries the first word too, for guests that would rather
//! not read memory back: a host that answers sets `rsi` to the reply's first word before it
//! resumes the vCPU, and one that does not leaves `rsi` alone (so a guest that puts `args[0]`
//! in `rsi` too, as `ucall-guest`'s `transport::pio_call` does, finds the first word there
//! either way). Not `rax`: KVM completes `in al, dx`
//! by writing `al` after it applies the registers a host changed. A guest may ignore `rsi`;
//! the record is authoritative. The byte that `in al, dx` reads stays unspecified.
//!
//! Which commands a host answers is up to the host; user commands are the ones meant for it.
//!
//! # Strings
//!
//! A string argument is the guest-virtual address of NUL-terminated UTF-8 text. Including its NUL,
//! a string occupies at most [`STRING_MAX_LEN`] bytes: a host stops looking for the NUL there and
//! reports the string as unterminated. A string may cross page boundaries.
//!
//! # Transports
//!
//! | arch    | transport | the exit                                                                     |
//! |---------|-----------|------------------------------------------------------------------------------|
//! | x86_64  | port I/O  | `in al, dx` with `dx` = [`PIO_PORT`], record address in `rdi` (`rsi`: see [replies](#replies)) |
//! | x86_64  | MMIO      | one 8-byte store of the record address to the address in [`MMIO_ADDR_SYMBOL`] |
//! | aarch64 | MMIO      | one 8-byte `str` of the record address to the address in [`MMIO_ADDR_SYMBOL`] |
//! | riscv64 | SBI       | `ecall` with `a7` = [`SBI_EXTENSION`], `a6` = [`SBI_UCALL_FUNCTION`], record address in `a0` |
//! | riscv64 | MMIO      | one 8-byte `sd` of the record address to the address in [`MMIO_ADDR_SYMBOL`] (after `fence`) |
//!
//! On aarch64 and riscv64 the guest crate makes *rooted* ucalls where it can: the exit also
//! carries the guest's page-table root, so the host reads no register ([`rooted`]).
//!
//! For MMIO, the host picks a guest-physical address that no memory slot covers, maps it in the
//! guest's page tables (identity-mapped) and publishes it by writing the guest global named
//! [`MMIO_ADDR_SYMBOL`], an 8-byte little-endian integer. A store to that address cannot be served
//! by KVM, so it exits to userspace with the stored value, which is the record's address.
//!
//! On x86_64 one guest binary serves both transports: it stores to the published address when
//! [`MMIO_ADDR_SYMBOL`] is non-zero and uses port I/O when it is zero; on riscv64 likewise with
//! the SBI call instead of port I/O. KVM forwards that call to the host as
//! `KVM_EXIT_RISCV_SBI` (only the experimental and vendor extension ranges reach userspace) and
//! the host answers it with SBI success (`a0` = `a1` = 0). The access sizes are in
//! [`access`]; any other access to the ucall address or port is a protocol error, not a ucall.
//!
//! ## Choosing and publishing the MMIO address
//!
//! The host chooses the address before the guest runs, as the Linux KVM selftests do:
//!
//! 1. Usable width: `min(virtual bits - 1, physical bits)`, where the virtual width is that of
//!    the paging mode the guest runs in (48 for x86_64 4-level paging, even on a CPU that could
//!    do 57) and the physical width is what KVM reports (CPUID `0x80000008` on x86_64, the IPA
//!    size on aarch64). An identity-mapped address must be valid both ways.
//! 2. Candidates: 5/8 of that space first (where nothing is likely to live), then alternately one
//!    1/16 step lower and higher.
//! 3. The first candidate page that no memory slot backs and that the guest's page tables do not
//!    map yet wins. The host maps it (identity, as device memory) and writes its address to
//!    [`MMIO_ADDR_SYMBOL`] in the loaded guest image, found through the ELF symbol table.
//!
//! `ucall-host`'s `probe` module implements this; any host that follows the same rules (or any
//! other rule giving an unbacked, mapped address) is compatible, since the guest only reads the
//! global.
//!
//! # A ucall, end to end
//!
//! 1. The guest fills a zeroed [`Record`] on its stack (string arguments point at NUL-terminated
//!    text it keeps alive until the host resumes it).
//! 2. It makes the exit of its transport, carrying the record's guest-virtual address.
//! 3. The host translates that address through the guest's page tables (the current CR3 or
//!    TTBR0), reads [`Record::SIZE`] bytes, then any strings, page by page.
//! 4. If it answers, the host writes its reply over the record's `args`.
//! 5. The host resumes the vCPU; a port I/O `in` reads an unspecified byte, ignored by the guest.
//!    After [`Command::Done`], [`Command::Abort`] or [`Command::Unhandled`] the host does not
//!    resume that vCPU.
//!
//! # C guests
//!
//! `include/ucall.h` in this crate is the same contract for C: `struct ucall` (56 bytes, checked
//! with `_Static_assert`), the command numbers (`UCALL_SYNC`, ...), the user range,
//! the argument indices (`UCALL_ABORT_FILE`, `UCALL_UNHANDLED_VECTOR`, ...), the port, the access
//! sizes, the MMIO global `ucall_exit_mmio_addr` and the string, ABORT and reply conventions. It
//! needs `<stdint.h>` only, so freestanding code can include it, and its constants also serve
//! assembly. It also declares tests for the [test table](test_table) (`UCALL_TEST(name) { ... }`)
//! and runs the selected one (`ucall_run_selected_test`). It is generated from this crate: the test `tests/c_header.rs` renders it from these
//! definitions and fails when the committed file differs (`UCALL_BLESS=1 cargo test -p ucall-abi
//! --test c_header` rewrites it).
//!
//! # Log ring
//!
//! A guest may also log lines into a ring in its memory that the host drains at every exit,
//! instead of one PRINTF exit per line; it is opt-in on both sides. [`log_ring`] describes the
//! ring, the two globals through which guest and host find each other, and the protocol.
//!
//! # Test programs
//!
//! A guest program may hold many tests, each run by the host in a fresh VM: the ELF section
//! [`TEST_TABLE_SECTION`] lists them ([`TestEntry`]: name, flags, timeout), the host selects one
//! through the guest global [`TEST_SELECTED_SYMBOL`] before the vCPU runs, and judges the test
//! by how its VM ends (DONE, ABORT, UNHANDLED, timeout). [`test_table`] describes the table,
//! the selection and the outcomes; `ucall.h` has the same for C, with macros that declare tests.
//!
//! # Against the Linux KVM selftests
//!
//! Two conventions, side by side in [`selftests`]: the *seed* convention above (the
//! selftests' of the Linux 5.10 era, with PRINTF = 4 and UNHANDLED = 5 added), which this
//! crate's guests use, and the *pool* convention of today's selftests ([`selftests`]: their
//! numbers, PRINTF = 3 and DONE = 4, a 1,096-byte record in a pool the host allocates, and a
//! token in the exit). A host serves a guest in the pool convention when its ELF has the symbol
//! `ucall_pool` ([`selftests::POOL_SYMBOL`]), and in the seed convention otherwise. Whether a
//! guest written to the selftests' conventions runs unchanged depends on its era:
//!
//! | guest code written for | runs unchanged? | why |
//! |---|---|---|
//! | 5.10-era `GUEST_SYNC`, `GUEST_SYNC_ARGS`, `GUEST_DONE`, `GUEST_ASSERT` | yes, on x86_64 (port I/O at 0x1000, record in `rdi`, or MMIO), aarch64 (MMIO through `ucall_exit_mmio_addr`) and riscv64 (the SBI call) | same record, numbers, transports and string convention; ABORT's `args[0]` message and `args[1]` line are ours, and `args[2]` = 0 means "no file" |
//! | 5.10-era `GUEST_ASSERT_1` to `GUEST_ASSERT_4` | only when the extra values are 0 | they put values in `args[2..6]`, where our ABORT keeps the file string and the column: a non-zero value is read as a string address |
//! | later 5.x `UCALL_UNHANDLED` (number 4, after DONE) | no | 4 is the seed convention's PRINTF, and these guests have no pool |
//! | 6.x `GUEST_ASSERT` with parameters, before the pool | no | our ABORT has the line in `args[1]` and the file in `args[2]` |
//! | today's selftests (`ucall_pool`, `UCALL_PRINTF` = 3, `UCALL_DONE` = 4, `UCALL_UNHANDLED` = 5) | yes, on x86_64, aarch64 and riscv64 | the pool convention ([`selftests`]), chosen by the `ucall_pool` symbol |
//!
//! # Example
//!
//! ```
//! use ucall_abi::{Command, Record};
//! use zerocopy::IntoBytes;
//!
//! let record = Record::new(Command::Sync, &[7, 42]);
//! assert_eq!(record.as_bytes().len(), Record::SIZE);
//! assert_eq!(record.command(), Ok(Command::Sync));
//! assert_eq!(record.args, [7, 42, 0, 0, 0, 0]);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod command;
pub mod log_ring;
mod record;
pub mod rooted;
pub mod selftests;
pub mod test_table;

pub use command::{
    Command, FIRST_USER_COMMAND, LAST_USER_COMMAND, abort, is_user_command, printf, unhandled,
};
pub use record::Record;
pub use test_table::{NO_TEST_SELECTED, TEST_SELECTED_SYMBOL, TEST_TABLE_SECTION, TestEntry};

/// How many `u64` arguments a [`Record`] carries.
pub const MAX_ARGS: usize = 6;

/// The most bytes a string argument occupies, including its terminating NUL.
pub const STRING_MAX_LEN: usize = 1024;

/// The name of the guest global (an 8-byte integer) in which the host publishes the MMIO address
/// that the guest stores record addresses to. Zero means "no MMIO address published".
pub const MMIO_ADDR_SYMBOL: &str = "ucall_exit_mmio_addr";

/// The x86_64 I/O port that the port I/O transport reads from (`in al, dx`).
pub const PIO_PORT: u16 = 0x1000;

/// The riscv64 SBI extension that a ucall `ecall` names in `a7`: the last of the experimental
/// range (0x0800_0000-0x08FF_FFFF), which KVM forwards to userspace, as the Linux KVM selftests
/// use it.
pub const SBI_EXTENSION: u64 = 0x08FF_FFFF;

/// The function of [`SBI_EXTENSION`] (in `a6`) that is a ucall, with the record's guest-virtual
/// address in `a0`.
pub const SBI_UCALL_FUNCTION: u64 = 0;

/// The size in bytes of the access that each transport makes.
pub mod access {
    /// Bytes stored by the MMIO transport: one guest-virtual address.
    pub const MMIO_LEN: usize = 8;
    /// Bytes read by the port I/O transport (`in al, dx`).
    pub const PIO_LEN: usize = 1;
}

const _: () = assert!(STRING_MAX_LEN >= 2);

/// The README's example, compiled and run as a doc test so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
