//! The benchmarks' instruction cost probe: a bare port I/O exit after a fixed run of simple
//! instructions, chosen by the vCPU index, forever. The host runs one vCPU of its choice.
//!
//! - vCPU 0: the exit alone (as `bench_raw`);
//! - vCPU 1: 16 register moves, then the exit;
//! - vCPU 2: 16 8-byte stores of zero to the stack, then the exit;
//! - vCPU 3: `rep stosq` of 5 zero words to the stack (with its 3 setup moves), then the exit;
//! - vCPU 4: the 7 stores of a SYNC record with one argument, then the exit: the floor of a
//!   SYNC ucall over port I/O with the record format of the selftests.
#![no_std]
#![no_main]

use core::arch::asm;

ucall_guest::entry!(main);

macro_rules! repeat16 {
    ($text:literal) => {
        concat!(
            $text, "\n", $text, "\n", $text, "\n", $text, "\n", $text, "\n", $text, "\n", $text,
            "\n", $text, "\n", $text, "\n", $text, "\n", $text, "\n", $text, "\n", $text, "\n",
            $text, "\n", $text, "\n", $text, "\n"
        )
    };
}

fn main(vcpu: usize) {
    let mut buffer = [0u64; 16];
    let buffer = buffer.as_mut_ptr();
    let port = ucall_abi::PIO_PORT;
    // One loop per variant, so that every loop is its instructions plus the same `jmp`.
    match vcpu {
        0 => loop {
            // SAFETY: the `in` only exits to the host.
            unsafe { asm!("in al, dx", in("dx") port, out("al") _) }
        },
        1 => loop {
            // SAFETY: any stores stay inside `buffer`; the `in` only exits to the host.
            unsafe {
                asm!(
                    repeat16!("mov rcx, rsi"),
                    "in al, dx",
                    in("dx") port,
                    in("rsi") buffer,
                    out("al") _,
                    out("rcx") _,
                )
            }
        },
        2 => loop {
            // SAFETY: any stores stay inside `buffer`; the `in` only exits to the host.
            unsafe {
                asm!(
                    repeat16!("mov qword ptr [rsi], 0"),
                    "in al, dx",
                    in("dx") port,
                    in("rsi") buffer,
                    out("al") _,
                )
            }
        },
        4 => loop {
            // SAFETY: any stores stay inside `buffer`; the `in` only exits to the host.
            unsafe {
                asm!(
                    "mov qword ptr [rdi], 1",
                    "mov qword ptr [rdi + 8], rsi",
                    "mov qword ptr [rdi + 16], 0",
                    "mov qword ptr [rdi + 24], 0",
                    "mov qword ptr [rdi + 32], 0",
                    "mov qword ptr [rdi + 40], 0",
                    "mov qword ptr [rdi + 48], 0",
                    "in al, dx",
                    in("dx") port,
                    in("rdi") buffer,
                    in("rsi") 7u64,
                    out("al") _,
                )
            }
        },
        _ => loop {
            // SAFETY: any stores stay inside `buffer`; the `in` only exits to the host.
            unsafe {
                asm!(
                    "mov rcx, 5",
                    "xor eax, eax",
                    "mov rdi, rsi",
                    "rep stosq",
                    "in al, dx",
                    in("dx") port,
                    in("rsi") buffer,
                    out("rax") _,
                    out("rcx") _,
                    out("rdi") _,
                )
            }
        },
    }
}
