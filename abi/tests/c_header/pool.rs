//! The pool convention's part of `ucall.h` (`ucall_abi::selftests`): its own names, so that a
//! guest sees both conventions side by side and cannot take one's numbers for the other's.

use super::{Define, define, section};
use ucall_abi::selftests::{
    self, BITMAP_SIZE, BUFFER_LEN, Command, FAILED, NO_RECORD, POOL_SIZE, POOL_SYMBOL, RECORDS,
    Record, SBI_UNEXPECTED_TRAP_FUNCTION, abort, unhandled,
};

/// What the header says about the pool convention, before the command numbers.
pub const INTRODUCTION: &str = "
/*
 * Two conventions. A guest whose ELF has the symbol ucall_pool (8 bytes) gets the POOL
 * convention of today's Linux KVM selftests (UCALL_POOL_*); every other guest gets the SEED
 * convention above (UCALL_*, struct ucall). A host may be told to use either.
 *
 *                    seed                          pool
 *   PRINTF, DONE     4, 3                          3, 4 (swapped!)
 *   record           56 bytes on the guest stack   1096 bytes in a host-allocated pool
 *   exit carries     the record's address          the record's token
 *   PRINTF text      string address in args[0]     the record's buffer, NUL-terminated
 *   ABORT            message, line, file, column   expression, file, line; message in buffer
 *   replies          args[] may be overwritten     none
 *   exits            x86_64 `in` port 0x1000 (rdi) or MMIO store; aarch64 MMIO store;
 *                    riscv64 ecall a7 = 0x08ffffff, a6 = 0, a0: the same in both conventions.
 *
 * The pool: UCALL_POOL_SIZE bytes, a UCALL_POOL_BITMAP_SIZE-byte in-use bitmap (the guest's
 * alone) then UCALL_POOL_RECORDS records. The host writes the pool's address into ucall_pool
 * and a token into each record before the guest runs. A ucall: claim a record with an atomic
 * test-and-set of its bit, zero args[], fill cmd, args[] and buffer, exit with the record's
 * token, then clear the bit. No pool or no free record: exit with UCALL_POOL_FAILED.
 */
";

/// The pool convention's constants.
pub fn constants(h: &mut String) {
    let commands: Vec<Define> = Command::ALL
        .iter()
        .map(|&c| {
            (
                format!("UCALL_POOL_{}", c.name()),
                (c as u64).to_string(),
                "",
            )
        })
        .collect();
    section(h, "Pool convention: commands.", &commands);
    section(
        h,
        "Pool convention: the pool and its records.",
        &[
            define(
                "UCALL_POOL_SYMBOL",
                format!("\"{POOL_SYMBOL}\""),
                "the host writes the pool's address",
            ),
            define("UCALL_POOL_RECORDS", RECORDS, ""),
            define("UCALL_POOL_BITMAP_SIZE", BITMAP_SIZE, "bytes, first"),
            define("UCALL_POOL_SIZE", POOL_SIZE, "bytes"),
            define("UCALL_POOL_MAX_ARGS", selftests::MAX_ARGS, ""),
            define("UCALL_POOL_BUFFER_LEN", BUFFER_LEN, "bytes, with the NUL"),
            define("UCALL_POOL_RECORD_SIZE", Record::SIZE, "bytes"),
            define(
                "UCALL_POOL_NO_RECORD",
                NO_RECORD,
                "token: a ucall without data",
            ),
            define(
                "UCALL_POOL_FAILED",
                format!("{FAILED:#x}"),
                "token: no pool or no free record",
            ),
            define(
                "UCALL_POOL_SBI_UNEXPECTED_TRAP",
                SBI_UNEXPECTED_TRAP_FUNCTION,
                "riscv64: a6 of a trap without a record",
            ),
        ],
    );
    section(
        h,
        "Pool convention: ABORT's arguments (the message is in the buffer).",
        &[
            define("UCALL_POOL_ABORT_EXPRESSION", abort::EXPRESSION, "string"),
            define("UCALL_POOL_ABORT_FILE", abort::FILE, "string"),
            define("UCALL_POOL_ABORT_LINE", abort::LINE, ""),
        ],
    );
    section(
        h,
        "Pool convention: UNHANDLED's arguments (x86_64 sends an ABORT instead).",
        &[
            define(
                "UCALL_POOL_UNHANDLED_AARCH64_VECTOR",
                unhandled::aarch64::VECTOR,
                "VBAR_EL1 entry",
            ),
            define(
                "UCALL_POOL_UNHANDLED_AARCH64_EC",
                unhandled::aarch64::EC,
                "ESR_EL1 bits 31:26",
            ),
            define(
                "UCALL_POOL_UNHANDLED_AARCH64_EC_VALID",
                unhandled::aarch64::EC_VALID,
                "",
            ),
            define(
                "UCALL_POOL_UNHANDLED_RISCV64_KIND",
                unhandled::riscv64::KIND,
                "0 exception, 1 interrupt",
            ),
            define(
                "UCALL_POOL_UNHANDLED_RISCV64_CAUSE",
                unhandled::riscv64::CAUSE,
                "exception code",
            ),
        ],
    );
}

/// The pool record's C declaration and its checks.
pub fn declarations(h: &mut String) {
    *h += "\n/* A record of the pool convention. */\n";
    *h += "struct ucall_pool_record {\n\tuint64_t cmd;\n\tuint64_t args[UCALL_POOL_MAX_ARGS];\n";
    *h += "\tchar buffer[UCALL_POOL_BUFFER_LEN];\n";
    *h += "\tuint64_t token; /* written by the host; sent back in the exit */\n};\n";
    for (check, what) in [
        (
            "sizeof(struct ucall_pool_record) == UCALL_POOL_RECORD_SIZE".to_string(),
            "the pool record's size",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_pool_record, buffer) == {}",
                Record::BUFFER_OFFSET
            ),
            "where the buffer is",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_pool_record, token) == {}",
                Record::TOKEN_OFFSET
            ),
            "where the token is",
        ),
    ] {
        *h += &format!("_Static_assert({check}, \"{what}\");\n");
    }
}
