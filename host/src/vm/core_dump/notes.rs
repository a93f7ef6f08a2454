//! The notes of a Linux core that gdb reads: `NT_PRSTATUS` (one per thread: its signal, its
//! id and its registers) and `NT_PRPSINFO` (the program's name), in the layouts of the
//! kernel's `struct elf_prstatus` and `struct elf_prpsinfo` on 64-bit architectures
//! (`include/linux/elfcore.h`, `include/uapi/linux/elfcore.h`). Only the registers differ
//! between architectures; they are given as bytes.

use zerocopy::{Immutable, IntoBytes};

/// `struct elf_siginfo`: `si_signo`, `si_code`, `si_errno`.
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
struct SignalInfo {
    signal: i32,
    code: i32,
    errno: i32,
}

/// `pr_pid`, `pr_ppid`, `pr_pgrp`, `pr_sid`: the run of ids both notes carry.
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
struct ProcessIds([i32; 4]);

impl ProcessIds {
    /// The ids of a process `id` that leads its own group and session and has no parent (the
    /// guest has no process tree for gdb to show).
    fn leader(id: i32) -> Self {
        Self([id, 0, id, id])
    }
}

/// `struct elf_prstatus` up to `pr_reg`: the same on every 64-bit architecture.
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
struct PrstatusHead {
    /// `pr_info`.
    info: SignalInfo,
    /// `pr_cursig`.
    current_signal: i16,
    _pad: u16,
    /// `pr_sigpend`, `pr_sighold`.
    signal_masks: [u64; 2],
    /// `pr_pid` to `pr_sid`.
    ids: ProcessIds,
    /// `pr_utime`, `pr_stime`, `pr_cutime`, `pr_cstime`: four `struct timeval`s.
    times: [u64; 8],
}

/// `struct elf_prstatus` after `pr_reg`: `pr_fpvalid` and the padding to 8 bytes.
const PRSTATUS_TAIL: [u8; 8] = [0; 8];

/// `struct elf_prpsinfo`.
#[derive(Clone, Copy, Debug, IntoBytes, Immutable)]
#[repr(C)]
struct Prpsinfo {
    /// `pr_state`, `pr_sname`, `pr_zomb`, `pr_nice`.
    state: [u8; 4],
    _pad: u32,
    /// `pr_flag`.
    flag: u64,
    /// `pr_uid`, `pr_gid`.
    owner: [u32; 2],
    /// `pr_pid` to `pr_sid`.
    ids: ProcessIds,
    /// `pr_fname`: the program's name, NUL-terminated.
    name: [u8; 16],
    /// `pr_psargs`: its command line, NUL-terminated.
    arguments: [u8; 80],
}

/// The `NT_PRSTATUS` descriptor of thread `thread_id` that stopped with `signal` (0 for none),
/// with `registers` as the architecture's `elf_gregset_t`.
pub(super) fn prstatus(thread_id: i32, signal: i32, registers: &[u8]) -> Vec<u8> {
    let head = PrstatusHead {
        info: SignalInfo {
            signal,
            ..SignalInfo::default()
        },
        current_signal: signal as i16,
        ids: ProcessIds::leader(thread_id),
        ..PrstatusHead::default()
    };
    let mut desc = head.as_bytes().to_vec();
    desc.extend_from_slice(registers);
    desc.extend_from_slice(&PRSTATUS_TAIL);
    desc
}

/// The `NT_PRPSINFO` descriptor of a program named `name` (cut to what fits), running.
pub(super) fn prpsinfo(name: &str) -> Vec<u8> {
    let mut info = Prpsinfo {
        // 'R': running, as the vCPUs were.
        state: [0, b'R', 0, 0],
        _pad: 0,
        flag: 0,
        owner: [0; 2],
        ids: ProcessIds::leader(1),
        name: [0; 16],
        arguments: [0; 80],
    };
    copy_cut(name, &mut info.name);
    copy_cut(name, &mut info.arguments);
    info.as_bytes().to_vec()
}

/// Copies as much of `text` into `field` as leaves room for a NUL.
fn copy_cut(text: &str, field: &mut [u8]) {
    let len = text.len().min(field.len() - 1);
    field[..len].copy_from_slice(&text.as_bytes()[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sizeof(struct elf_prstatus)` is 336 on x86_64 (216 bytes of registers) and 392 on
    /// aarch64 (272 bytes).
    #[test]
    fn prstatus_has_the_kernels_size_around_the_registers() {
        assert_eq!(prstatus(1, 0, &[0; 216]).len(), 336);
        assert_eq!(prstatus(1, 0, &[0; 272]).len(), 392);
    }

    #[test]
    fn prstatus_carries_signal_and_thread_id_at_the_kernels_offsets() {
        let desc = prstatus(3, 6, &[0xee; 8]);
        assert_eq!(desc[0..4], 6i32.to_le_bytes()); // pr_info.si_signo
        assert_eq!(desc[12..14], 6i16.to_le_bytes()); // pr_cursig
        assert_eq!(desc[32..36], 3i32.to_le_bytes()); // pr_pid
        assert_eq!(desc[112..120], [0xee; 8]); // pr_reg
    }

    #[test]
    fn prpsinfo_has_the_kernels_size_and_a_cut_nul_terminated_name() {
        let desc = prpsinfo("a_guest_with_a_long_name");
        assert_eq!(desc.len(), 136);
        assert_eq!(&desc[40..56], b"a_guest_with_a_\0");
    }
}
