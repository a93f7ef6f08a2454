//! `include/ucall.h` is the Rust definitions, rendered for C: this test renders the header from
//! the crate's constants and fails when the committed file differs, so the two cannot drift.
//! `UCALL_BLESS=1 cargo test -p ucall-abi --test c_header` rewrites the file instead.

#[path = "c_header/pool.rs"]
mod pool;
#[path = "c_header/test_table.rs"]
mod test_table;

use log_ring::RingHeader;
use std::path::PathBuf;
use ucall_abi::{
    Command, FIRST_USER_COMMAND, LAST_USER_COMMAND, MAX_ARGS, MMIO_ADDR_SYMBOL, PIO_PORT, Record,
    SBI_EXTENSION, SBI_UCALL_FUNCTION, STRING_MAX_LEN, abort, access, log_ring, printf, rooted,
    unhandled,
};

/// What each command is for, as the header's comment says it. A new command fails to compile
/// here until it is described.
fn summary(command: Command) -> &'static str {
    match command {
        Command::None => "never sent on purpose",
        Command::Sync => "up to six free-form values",
        Command::Abort => "the guest failed: UCALL_ABORT_*; not resumed",
        Command::Done => "the guest finished; not resumed",
        Command::Printf => "text: UCALL_PRINTF_TEXT",
        Command::Unhandled => "an unhandled exception: UCALL_UNHANDLED_*; not resumed",
    }
}

const PREAMBLE: &str = "\
/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ucall.h: the ucall wire format for guests and firmware written in C.
 *
 * Generated from the Rust definitions of the ucall-abi crate, and checked against them, by
 * abi/tests/c_header.rs: do not edit; change the crate and run
 *     UCALL_BLESS=1 cargo test -p ucall-abi --test c_header
 * The crate documentation of ucall-abi describes the protocol in full.
 *
 * Freestanding: needs <stdint.h> only. The constants also serve assembly sources; the C
 * declarations are skipped under __ASSEMBLER__.
 *
 * A ucall: fill a struct ucall, zeroed, in memory the guest can write (its stack), with cmd and
 * up to UCALL_MAX_ARGS arguments, then make one exit that carries its guest-virtual address:
 *   x86_64, port I/O  `in al, dx` with dx = UCALL_PIO_PORT and the address in rdi;
 *   x86_64, MMIO      one 8-byte store of the address to the address in ucall_exit_mmio_addr;
 *   aarch64, MMIO     the same store, a plain `str` (after `dmb sy`, so the record is written
 *                     before the store that exits);
 *   riscv64, SBI      `ecall` with a7 = UCALL_SBI_EXTENSION, a6 = UCALL_SBI_FUNCTION and the
 *                     address in a0 (a0 and a1 come back 0);
 *   riscv64, MMIO     the store, a plain `sd` (after `fence`).
 * The host publishes the MMIO address in the guest global ucall_exit_mmio_addr before the guest
 * runs, and leaves it 0 when it wants port I/O (x86_64) or the SBI call (riscv64). One
 * translation unit defines it:
 *     uint64_t ucall_exit_mmio_addr;
 *
 * Strings: a string argument is the guest-virtual address of NUL-terminated UTF-8 text of at
 * most UCALL_STRING_MAX_LEN bytes including the NUL. It may cross pages and must stay in place
 * until the host resumes the guest.
 *
 * Replies: before it resumes the guest, the host may overwrite args[] of the record with its
 * answer (all six words); it never writes cmd. A host that does not answer leaves args[] as the
 * guest wrote them. Read them back through a volatile lvalue: the compiler cannot know that the
 * exit changed them. The record is the reply; over x86_64 port I/O a host that answers also
 * sets rsi to the reply's first word, and one that does not leaves rsi alone (a guest that
 * puts args[0] in rsi finds the first word there either way; it may ignore rsi). The byte `in`
 * reads is unspecified.
 */
";

/// The header as the crate's definitions say it.
fn render() -> String {
    let mut h = String::from(PREAMBLE);
    h += pool::INTRODUCTION;
    h += "#ifndef UCALL_H\n#define UCALL_H\n";

    let commands: Vec<Define> = Command::ALL
        .iter()
        .map(|&c| {
            (
                format!("UCALL_{}", c.name()),
                u64::from(c).to_string(),
                summary(c),
            )
        })
        .chain([(
            "UCALL_FIRST_USER_COMMAND".into(),
            format!("{FIRST_USER_COMMAND:#x}"),
            "to UCALL_LAST_USER_COMMAND: the program's own",
        )])
        .chain([(
            "UCALL_LAST_USER_COMMAND".into(),
            format!("{LAST_USER_COMMAND:#x}"),
            "above it: no command at all",
        )])
        .collect();
    section(
        &mut h,
        "Commands: the record's cmd. Numbers below the user range belong to the protocol.",
        &commands,
    );
    section(
        &mut h,
        "The record.",
        &[
            define("UCALL_MAX_ARGS", MAX_ARGS, ""),
            define("UCALL_RECORD_SIZE", Record::SIZE, "bytes"),
            define(
                "UCALL_ARGS_OFFSET",
                Record::ARGS_OFFSET,
                "where args[] start",
            ),
            define(
                "UCALL_STRING_MAX_LEN",
                STRING_MAX_LEN,
                "bytes, with the NUL",
            ),
        ],
    );
    section(
        &mut h,
        "Argument indices of ABORT.",
        &[
            define("UCALL_ABORT_MESSAGE", abort::MESSAGE, "string"),
            define("UCALL_ABORT_LINE", abort::LINE, ""),
            define("UCALL_ABORT_FILE", abort::FILE, "string, or 0"),
            define("UCALL_ABORT_COLUMN", abort::COLUMN, "or 0"),
        ],
    );
    section(
        &mut h,
        "Argument index of PRINTF.",
        &[define("UCALL_PRINTF_TEXT", printf::TEXT, "string")],
    );
    section(
        &mut h,
        "Argument indices of UNHANDLED; the values are x86_64; aarch64; riscv64.",
        &[
            define(
                "UCALL_UNHANDLED_VECTOR",
                unhandled::VECTOR,
                "vector; VBAR_EL1 entry (offset / 0x80); scause",
            ),
            define(
                "UCALL_UNHANDLED_INSTRUCTION_ADDRESS",
                unhandled::INSTRUCTION_ADDRESS,
                "RIP; ELR_EL1; sepc",
            ),
            define(
                "UCALL_UNHANDLED_ERROR_CODE",
                unhandled::ERROR_CODE,
                "error code or 0; ESR_EL1; 0",
            ),
            define(
                "UCALL_UNHANDLED_FAULT_ADDRESS",
                unhandled::FAULT_ADDRESS,
                "CR2; FAR_EL1; stval",
            ),
        ],
    );
    section(
        &mut h,
        "Transports.",
        &[
            define("UCALL_PIO_PORT", format!("{PIO_PORT:#x}"), "x86_64 only"),
            define(
                "UCALL_PIO_ACCESS_LEN",
                access::PIO_LEN,
                "bytes: `in al, dx`",
            ),
            define(
                "UCALL_MMIO_ACCESS_LEN",
                access::MMIO_LEN,
                "bytes: the record's address",
            ),
            define(
                "UCALL_MMIO_ADDR_SYMBOL",
                format!("\"{MMIO_ADDR_SYMBOL}\""),
                "the global the host publishes in",
            ),
            define(
                "UCALL_ROOTED_MMIO_OFFSET",
                rooted::MMIO_OFFSET,
                "aarch64: doorbell of struct ucall_rooted's GPA",
            ),
            define(
                "UCALL_ROOTED_SBI_FUNCTION",
                rooted::SBI_FUNCTION,
                "riscv64: a0 record, a1 satp",
            ),
            define(
                "UCALL_ROOTED_CALL_SIZE",
                rooted::RootedCall::SIZE,
                "bytes, and its alignment",
            ),
            define(
                "UCALL_SBI_EXTENSION",
                format!("{SBI_EXTENSION:#x}"),
                "riscv64 only: a7",
            ),
            define(
                "UCALL_SBI_FUNCTION",
                SBI_UCALL_FUNCTION,
                "riscv64 only: a6; the address in a0",
            ),
        ],
    );

    section(
        &mut h,
        "The opt-in log ring: see ucall-abi's log_ring module for the protocol.",
        &[
            define(
                "UCALL_LOG_FLUSH",
                log_ring::FLUSH_COMMAND,
                "command: the ring is full, drain it",
            ),
            define(
                "UCALL_LOG_RING_ENABLED_SYMBOL",
                format!("\"{}\"", log_ring::ENABLED_SYMBOL),
                "the host writes UCALL_LOG_RING_ENABLED",
            ),
            define(
                "UCALL_LOG_RING_ENABLED",
                log_ring::ENABLED,
                "the host drains log rings",
            ),
            define(
                "UCALL_LOG_RING_ADDRESS_SYMBOL",
                format!("\"{}\"", log_ring::ADDRESS_SYMBOL),
                "the guest writes its ring's physical address",
            ),
            define(
                "UCALL_LOG_RING_MAGIC",
                format!("{:#x}", log_ring::MAGIC),
                "\"ULOG\"",
            ),
            define("UCALL_LOG_RING_VERSION", log_ring::VERSION, ""),
            define(
                "UCALL_LOG_RING_MIN_CAPACITY",
                log_ring::MIN_CAPACITY,
                "bytes, a power of two",
            ),
            define(
                "UCALL_LOG_RING_MAX_CAPACITY",
                format!("{:#x}", log_ring::MAX_CAPACITY),
                "bytes, a power of two",
            ),
            define(
                "UCALL_LOG_RING_HEADER_SIZE",
                RingHeader::SIZE,
                "bytes; the data area follows",
            ),
            define(
                "UCALL_LOG_RING_LENGTH_LEN",
                log_ring::LENGTH_LEN,
                "bytes of a record's little-endian length",
            ),
            define(
                "UCALL_LOG_RING_LINE_MAX_LEN",
                log_ring::LINE_MAX_LEN,
                "bytes of a record's text",
            ),
        ],
    );

    pool::constants(&mut h);
    section(
        &mut h,
        "The test table: see ucall-abi's test_table module, and the macros below.",
        &test_table::defines(),
    );
    section(
        &mut h,
        "ABORT messages of a test program that was not given one of its tests.",
        &test_table::messages(),
    );

    h += "\n#ifndef __ASSEMBLER__\n#include <stdint.h>\n\n";
    h += "struct ucall {\n\tuint64_t cmd;\n\tuint64_t args[UCALL_MAX_ARGS];\n};\n\n";
    for (check, what) in [
        (
            "sizeof(struct ucall) == UCALL_RECORD_SIZE",
            "the record's size",
        ),
        ("_Alignof(struct ucall) == 8", "the record's alignment"),
        ("__builtin_offsetof(struct ucall, cmd) == 0", "where cmd is"),
        (
            "__builtin_offsetof(struct ucall, args) == UCALL_ARGS_OFFSET",
            "where args are",
        ),
    ] {
        h += &format!("_Static_assert({check}, \"{what}\");\n");
    }
    h += "\n/* A log ring's header; the data area of `capacity` bytes follows it. */\n";
    h += "struct ucall_log_ring {\n\tuint32_t magic;\n\tuint32_t version;\n\tuint32_t capacity;\n";
    h += "\tuint32_t head; /* written by the guest only, with release semantics */\n";
    h += "\tuint32_t tail; /* written by the host only */\n\tuint32_t reserved;\n};\n\n";
    for (check, what) in [
        (
            "sizeof(struct ucall_log_ring) == UCALL_LOG_RING_HEADER_SIZE".to_string(),
            "the ring header's size",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_log_ring, head) == {}",
                RingHeader::HEAD_OFFSET
            ),
            "where head is",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_log_ring, tail) == {}",
                RingHeader::TAIL_OFFSET
            ),
            "where tail is",
        ),
    ] {
        h += &format!("_Static_assert({check}, \"{what}\");\n");
    }
    h += "\n/* A rooted ucall (aarch64): its GPA goes to the MMIO address + UCALL_ROOTED_MMIO_OFFSET. */\n";
    h += "struct ucall_rooted {\n\tuint64_t record; /* the record's guest-virtual address */\n";
    h += "\tuint64_t root; /* TTBR0_EL1 */\n} __attribute__((aligned(16)));\n";
    h += "_Static_assert(sizeof(struct ucall_rooted) == UCALL_ROOTED_CALL_SIZE, \"its size\");\n";
    h += "\n/* The MMIO address the host publishes, or 0; the guest defines it. */\n";
    h += &format!("extern uint64_t {MMIO_ADDR_SYMBOL};\n");
    pool::declarations(&mut h);
    h += &test_table::declarations();
    h += "#endif /* __ASSEMBLER__ */\n\n#endif /* UCALL_H */\n";
    h
}

/// A `#define`: name, value and what it is (or nothing).
type Define = (String, String, &'static str);

fn define(name: &str, value: impl std::fmt::Display, what: &'static str) -> Define {
    (name.into(), value.to_string(), what)
}

/// A comment line, then the defines, their values and comments aligned.
fn section(h: &mut String, title: &str, defines: &[Define]) {
    let name_width = defines.iter().map(|d| d.0.len()).max().unwrap_or(0);
    let value_width = defines.iter().map(|d| d.1.len()).max().unwrap_or(0);
    *h += &format!("\n/* {title} */\n");
    for (name, value, what) in defines {
        let line = if what.is_empty() {
            format!("#define {name:<name_width$} {value}")
        } else {
            format!("#define {name:<name_width$} {value:<value_width$} /* {what} */")
        };
        *h += &line;
        h.push('\n');
    }
}

fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/ucall.h")
}

#[test]
fn committed_header_is_the_rendered_rust_definitions() {
    let rendered = render();
    let path = header_path();
    if std::env::var_os("UCALL_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &rendered).expect("include/ucall.h is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let first_difference = committed
        .lines()
        .zip(rendered.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(committed.lines().count().min(rendered.lines().count()));
    assert!(
        committed == rendered,
        "{} differs from the Rust definitions from line {}; rerun with UCALL_BLESS=1 to rewrite it",
        path.display(),
        first_difference + 1
    );
}

/// The header lists `Command::ALL`: it must be every command there is.
#[test]
fn every_protocol_number_below_the_user_range_is_a_listed_command_or_reserved() {
    let named: Vec<u64> = (0..FIRST_USER_COMMAND)
        .filter(|&n| Command::try_from(n).is_ok())
        .collect();
    let listed: Vec<u64> = Command::ALL.iter().map(|&c| u64::from(c)).collect();
    assert_eq!(named, listed);
}
