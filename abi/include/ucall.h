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
#ifndef UCALL_H
#define UCALL_H

/* Commands: the record's cmd. Numbers below the user range belong to the protocol. */
#define UCALL_NONE               0      /* never sent on purpose */
#define UCALL_SYNC               1      /* up to six free-form values */
#define UCALL_ABORT              2      /* the guest failed: UCALL_ABORT_*; not resumed */
#define UCALL_DONE               3      /* the guest finished; not resumed */
#define UCALL_PRINTF             4      /* text: UCALL_PRINTF_TEXT */
#define UCALL_UNHANDLED          5      /* an unhandled exception: UCALL_UNHANDLED_*; not resumed */
#define UCALL_FIRST_USER_COMMAND 0x100  /* to UCALL_LAST_USER_COMMAND: the program's own */
#define UCALL_LAST_USER_COMMAND  0xffff /* above it: no command at all */

/* The record. */
#define UCALL_MAX_ARGS       6
#define UCALL_RECORD_SIZE    56   /* bytes */
#define UCALL_ARGS_OFFSET    8    /* where args[] start */
#define UCALL_STRING_MAX_LEN 1024 /* bytes, with the NUL */

/* Argument indices of ABORT. */
#define UCALL_ABORT_MESSAGE 0 /* string */
#define UCALL_ABORT_LINE    1
#define UCALL_ABORT_FILE    2 /* string, or 0 */
#define UCALL_ABORT_COLUMN  3 /* or 0 */

/* Argument index of PRINTF. */
#define UCALL_PRINTF_TEXT 0 /* string */

/* Argument indices of UNHANDLED; the values are x86_64; aarch64; riscv64. */
#define UCALL_UNHANDLED_VECTOR              0 /* vector; VBAR_EL1 entry (offset / 0x80); scause */
#define UCALL_UNHANDLED_INSTRUCTION_ADDRESS 1 /* RIP; ELR_EL1; sepc */
#define UCALL_UNHANDLED_ERROR_CODE          2 /* error code or 0; ESR_EL1; 0 */
#define UCALL_UNHANDLED_FAULT_ADDRESS       3 /* CR2; FAR_EL1; stval */

/* Transports. */
#define UCALL_PIO_PORT            0x1000                 /* x86_64 only */
#define UCALL_PIO_ACCESS_LEN      1                      /* bytes: `in al, dx` */
#define UCALL_MMIO_ACCESS_LEN     8                      /* bytes: the record's address */
#define UCALL_MMIO_ADDR_SYMBOL    "ucall_exit_mmio_addr" /* the global the host publishes in */
#define UCALL_ROOTED_MMIO_OFFSET  8                      /* aarch64: doorbell of struct ucall_rooted's GPA */
#define UCALL_ROOTED_SBI_FUNCTION 1                      /* riscv64: a0 record, a1 satp */
#define UCALL_ROOTED_CALL_SIZE    16                     /* bytes, and its alignment */
#define UCALL_SBI_EXTENSION       0x8ffffff              /* riscv64 only: a7 */
#define UCALL_SBI_FUNCTION        0                      /* riscv64 only: a6; the address in a0 */

/* The opt-in log ring: see ucall-abi's log_ring module for the protocol. */
#define UCALL_LOG_FLUSH               6                        /* command: the ring is full, drain it */
#define UCALL_LOG_RING_ENABLED_SYMBOL "ucall_log_ring_enabled" /* the host writes UCALL_LOG_RING_ENABLED */
#define UCALL_LOG_RING_ENABLED        1                        /* the host drains log rings */
#define UCALL_LOG_RING_ADDRESS_SYMBOL "ucall_log_ring"         /* the guest writes its ring's physical address */
#define UCALL_LOG_RING_MAGIC          0x474f4c55               /* "ULOG" */
#define UCALL_LOG_RING_VERSION        1
#define UCALL_LOG_RING_MIN_CAPACITY   16                       /* bytes, a power of two */
#define UCALL_LOG_RING_MAX_CAPACITY   0x100000                 /* bytes, a power of two */
#define UCALL_LOG_RING_HEADER_SIZE    24                       /* bytes; the data area follows */
#define UCALL_LOG_RING_LENGTH_LEN     2                        /* bytes of a record's little-endian length */
#define UCALL_LOG_RING_LINE_MAX_LEN   1023                     /* bytes of a record's text */

/* Pool convention: commands. */
#define UCALL_POOL_NONE      0
#define UCALL_POOL_SYNC      1
#define UCALL_POOL_ABORT     2
#define UCALL_POOL_PRINTF    3
#define UCALL_POOL_DONE      4
#define UCALL_POOL_UNHANDLED 5

/* Pool convention: the pool and its records. */
#define UCALL_POOL_SYMBOL              "ucall_pool"       /* the host writes the pool's address */
#define UCALL_POOL_RECORDS             512
#define UCALL_POOL_BITMAP_SIZE         64                 /* bytes, first */
#define UCALL_POOL_SIZE                561216             /* bytes */
#define UCALL_POOL_MAX_ARGS            7
#define UCALL_POOL_BUFFER_LEN          1024               /* bytes, with the NUL */
#define UCALL_POOL_RECORD_SIZE         1096               /* bytes */
#define UCALL_POOL_NO_RECORD           0                  /* token: a ucall without data */
#define UCALL_POOL_FAILED              0xffffffffffffffff /* token: no pool or no free record */
#define UCALL_POOL_SBI_UNEXPECTED_TRAP 1                  /* riscv64: a6 of a trap without a record */

/* Pool convention: ABORT's arguments (the message is in the buffer). */
#define UCALL_POOL_ABORT_EXPRESSION 0 /* string */
#define UCALL_POOL_ABORT_FILE       1 /* string */
#define UCALL_POOL_ABORT_LINE       2

/* Pool convention: UNHANDLED's arguments (x86_64 sends an ABORT instead). */
#define UCALL_POOL_UNHANDLED_AARCH64_VECTOR   0 /* VBAR_EL1 entry */
#define UCALL_POOL_UNHANDLED_AARCH64_EC       1 /* ESR_EL1 bits 31:26 */
#define UCALL_POOL_UNHANDLED_AARCH64_EC_VALID 2
#define UCALL_POOL_UNHANDLED_RISCV64_KIND     0 /* 0 exception, 1 interrupt */
#define UCALL_POOL_UNHANDLED_RISCV64_CAUSE    1 /* exception code */

/* The test table: see ucall-abi's test_table module, and the macros below. */
#define UCALL_TEST_TABLE_SECTION     "ucall_tests"         /* the ELF section of the entries */
#define UCALL_TEST_SELECTED_SYMBOL   "ucall_test_selected" /* the host writes the selected index */
#define UCALL_NO_TEST_SELECTED       0xffffffffffffffff    /* its initial value */
#define UCALL_TEST_ENTRY_SIZE        64                    /* bytes */
#define UCALL_TEST_MAX_ENTRIES       4096
#define UCALL_TEST_MAX_NAME_LEN      256                   /* bytes */
#define UCALL_TEST_MAX_TEXT_LEN      1023                  /* bytes of expected and ignore_reason */
#define UCALL_TEST_FLAG_IGNORE       1                     /* run only when asked for */
#define UCALL_TEST_FLAG_SHOULD_PANIC 2                     /* passes by ABORT, fails by DONE */
#define UCALL_TEST_FLAG_EXPECTED     4                     /* the ABORT message contains expected */

/* ABORT messages of a test program that was not given one of its tests. */
#define UCALL_NO_TEST_SELECTED_MESSAGE  "no test selected: run this guest with a runner that reads its test table"
#define UCALL_TEST_OUT_OF_RANGE_MESSAGE "selected test index out of range"

#ifndef __ASSEMBLER__
#include <stdint.h>

struct ucall {
	uint64_t cmd;
	uint64_t args[UCALL_MAX_ARGS];
};

_Static_assert(sizeof(struct ucall) == UCALL_RECORD_SIZE, "the record's size");
_Static_assert(_Alignof(struct ucall) == 8, "the record's alignment");
_Static_assert(__builtin_offsetof(struct ucall, cmd) == 0, "where cmd is");
_Static_assert(__builtin_offsetof(struct ucall, args) == UCALL_ARGS_OFFSET, "where args are");

/* A log ring's header; the data area of `capacity` bytes follows it. */
struct ucall_log_ring {
	uint32_t magic;
	uint32_t version;
	uint32_t capacity;
	uint32_t head; /* written by the guest only, with release semantics */
	uint32_t tail; /* written by the host only */
	uint32_t reserved;
};

_Static_assert(sizeof(struct ucall_log_ring) == UCALL_LOG_RING_HEADER_SIZE, "the ring header's size");
_Static_assert(__builtin_offsetof(struct ucall_log_ring, head) == 12, "where head is");
_Static_assert(__builtin_offsetof(struct ucall_log_ring, tail) == 16, "where tail is");

/* A rooted ucall (aarch64): its GPA goes to the MMIO address + UCALL_ROOTED_MMIO_OFFSET. */
struct ucall_rooted {
	uint64_t record; /* the record's guest-virtual address */
	uint64_t root; /* TTBR0_EL1 */
} __attribute__((aligned(16)));
_Static_assert(sizeof(struct ucall_rooted) == UCALL_ROOTED_CALL_SIZE, "its size");

/* The MMIO address the host publishes, or 0; the guest defines it. */
extern uint64_t ucall_exit_mmio_addr;

/* A record of the pool convention. */
struct ucall_pool_record {
	uint64_t cmd;
	uint64_t args[UCALL_POOL_MAX_ARGS];
	char buffer[UCALL_POOL_BUFFER_LEN];
	uint64_t token; /* written by the host; sent back in the exit */
};
_Static_assert(sizeof(struct ucall_pool_record) == UCALL_POOL_RECORD_SIZE, "the pool record's size");
_Static_assert(__builtin_offsetof(struct ucall_pool_record, buffer) == 64, "where the buffer is");
_Static_assert(__builtin_offsetof(struct ucall_pool_record, token) == 1088, "where the token is");

/*
 * The test table (ucall-abi's test_table module has the whole protocol). A test program holds
 * tests declared with the macros below, each a `static void name(void)`:
 *
 *     uint64_t ucall_test_selected = UCALL_NO_TEST_SELECTED;  (in one translation unit)
 *
 *     UCALL_TEST(adds) { CHECK(1 + 1 == 2); }
 *     UCALL_TEST_SHOULD_PANIC(overflows, "overflow") { CHECK_MSG(0, "overflow"); }
 *     UCALL_TEST_IGNORE(slow, "takes a minute") { ... }
 *     UCALL_TEST_TIMEOUT(spins, 2000) { ... }  (milliseconds)
 *
 *     void _start(void) { ucall_run_selected_test(exit_to_host); halt(); }
 *
 * Each puts one struct ucall_test_entry into the section ucall_tests, which the host reads from
 * the ELF, and one struct ucall_test_fn into ucall_test_fns, which only the guest reads. A test
 * passes by returning and fails by sending ABORT (a failed check), an unhandled exception or its
 * timeout; the host judges. Test names are the C names and must be unique in the program. The
 * linker defines __start_ and __stop_ of both sections; a linker script must KEEP them in a
 * loaded, read-only segment. ucall_run_selected_test zeroes a record, which gcc may do with a
 * call to memset, as for any record.
 */
struct ucall_test_entry {
	const char *name; /* UTF-8, name_len bytes, no NUL needed */
	uint64_t name_len;
	uint64_t flags; /* UCALL_TEST_FLAG_* */
	uint64_t timeout_ms; /* 0: the runner's default */
	const char *expected; /* or 0 */
	uint64_t expected_len;
	const char *ignore_reason; /* or 0 */
	uint64_t ignore_reason_len;
};

_Static_assert(sizeof(void *) == 8, "addresses are 64-bit");
_Static_assert(sizeof(struct ucall_test_entry) == UCALL_TEST_ENTRY_SIZE, "an entry's size");
_Static_assert(__builtin_offsetof(struct ucall_test_entry, flags) == 16, "where flags are");
_Static_assert(__builtin_offsetof(struct ucall_test_entry, timeout_ms) == 24, "where timeout_ms is");
_Static_assert(__builtin_offsetof(struct ucall_test_entry, expected) == 32, "where expected is");
_Static_assert(__builtin_offsetof(struct ucall_test_entry, ignore_reason) == 48, "where ignore_reason is");

/* Pairs an entry with the test's function: the guest's own, never read by the host. */
struct ucall_test_fn {
	const struct ucall_test_entry *entry;
	void (*run)(void);
};

/* Weak: a program without tests links, and has none. */
extern const struct ucall_test_entry __start_ucall_tests[] __attribute__((weak));
extern const struct ucall_test_entry __stop_ucall_tests[] __attribute__((weak));
extern const struct ucall_test_fn __start_ucall_test_fns[] __attribute__((weak));
extern const struct ucall_test_fn __stop_ucall_test_fns[] __attribute__((weak));

/* The selected test's index, written by the host; the guest defines it, initially
 * UCALL_NO_TEST_SELECTED, in writable data. */
extern uint64_t ucall_test_selected;

/*
 * A test with every attribute: flags UCALL_TEST_FLAG_*, timeout_ms (0: the runner's default),
 * expected and ignore_reason string literals ("" for none). The function's body follows.
 */
#define UCALL_TEST_WITH(test_, flags_, timeout_ms_, expected_, ignore_reason_)                   \
	static void test_(void);                                                                 \
	static const struct ucall_test_entry ucall_test_entry_##test_                            \
		__attribute__((section(UCALL_TEST_TABLE_SECTION), used, aligned(8))) = {         \
			.name = #test_,                                                          \
			.name_len = sizeof(#test_) - 1,                                          \
			.flags = (flags_),                                                       \
			.timeout_ms = (timeout_ms_),                                             \
			.expected = sizeof(expected_) > 1 ? (expected_) : 0,                     \
			.expected_len = sizeof(expected_) - 1,                                   \
			.ignore_reason = sizeof(ignore_reason_) > 1 ? (ignore_reason_) : 0,      \
			.ignore_reason_len = sizeof(ignore_reason_) - 1,                         \
		};                                                                               \
	static const struct ucall_test_fn ucall_test_fn_##test_                                  \
		__attribute__((section("ucall_test_fns"), used, aligned(8))) = {                 \
			&ucall_test_entry_##test_, test_                                         \
		};                                                                               \
	static void test_(void)

/* A test that passes by returning. */
#define UCALL_TEST(test_) UCALL_TEST_WITH(test_, 0, 0, "", "")
/* A test that passes by sending ABORT whose message contains expected ("": any ABORT). */
#define UCALL_TEST_SHOULD_PANIC(test_, expected_)                                                \
	UCALL_TEST_WITH(test_,                                                                   \
			UCALL_TEST_FLAG_SHOULD_PANIC |                                           \
				(sizeof(expected_) > 1 ? UCALL_TEST_FLAG_EXPECTED : 0),          \
			0, expected_, "")
/* A test that runs only when the runner is asked for ignored tests. */
#define UCALL_TEST_IGNORE(test_, reason_) UCALL_TEST_WITH(test_, UCALL_TEST_FLAG_IGNORE, 0, "", reason_)
/* A test with its own timeout in milliseconds. */
#define UCALL_TEST_TIMEOUT(test_, timeout_ms_) UCALL_TEST_WITH(test_, 0, timeout_ms_, "", "")

/*
 * Runs the test the host selected and reports through exit_to_host, the program's own ucall
 * exit (see the transports above): DONE when the test returns; ABORT when no test, or no test
 * of this program, is selected. Returns once the host has the report; the caller halts.
 */
static inline void ucall_run_selected_test(void (*exit_to_host)(struct ucall *record))
{
	uint64_t selected = *(volatile uint64_t *)&ucall_test_selected;
	uint64_t count = (uint64_t)(__stop_ucall_tests - __start_ucall_tests);
	struct ucall record = { .cmd = UCALL_ABORT };
	const char *message = UCALL_TEST_OUT_OF_RANGE_MESSAGE;

	if (selected == UCALL_NO_TEST_SELECTED) {
		message = UCALL_NO_TEST_SELECTED_MESSAGE;
	} else if (selected < count) {
		const struct ucall_test_fn *fn;

		message = "the selected test has no function in ucall_test_fns";
		for (fn = __start_ucall_test_fns; fn < __stop_ucall_test_fns; fn++) {
			if (fn->entry == &__start_ucall_tests[selected]) {
				fn->run();
				record.cmd = UCALL_DONE;
				message = 0;
				break;
			}
		}
	}
	record.args[UCALL_ABORT_MESSAGE] = (uint64_t)(uintptr_t)message;
	/* The record is in memory for the exit, whatever exit_to_host tells the compiler. */
	__asm__ volatile("" : : "r"(&record) : "memory");
	exit_to_host(&record);
}
#endif /* __ASSEMBLER__ */

#endif /* UCALL_H */
