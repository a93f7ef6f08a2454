//! The test table's part of `ucall.h`: its constants, the entry struct, the macros that declare
//! tests and `ucall_run_selected_test`.

use super::{Define, define};
use ucall_abi::test_table::{
    self, EXPECTED, IGNORE, MAX_ENTRIES, MAX_NAME_LEN, MAX_TEXT_LEN, NO_TEST_SELECTED,
    NO_TEST_SELECTED_MESSAGE, OUT_OF_RANGE_MESSAGE, SHOULD_PANIC, TEST_SELECTED_SYMBOL,
    TEST_TABLE_SECTION, TestEntry,
};

/// The constants, for the header's list of defines.
pub fn defines() -> Vec<Define> {
    vec![
        define(
            "UCALL_TEST_TABLE_SECTION",
            format!("\"{TEST_TABLE_SECTION}\""),
            "the ELF section of the entries",
        ),
        define(
            "UCALL_TEST_SELECTED_SYMBOL",
            format!("\"{TEST_SELECTED_SYMBOL}\""),
            "the host writes the selected index",
        ),
        define(
            "UCALL_NO_TEST_SELECTED",
            format!("{NO_TEST_SELECTED:#x}"),
            "its initial value",
        ),
        define("UCALL_TEST_ENTRY_SIZE", TestEntry::SIZE, "bytes"),
        define("UCALL_TEST_MAX_ENTRIES", MAX_ENTRIES, ""),
        define("UCALL_TEST_MAX_NAME_LEN", MAX_NAME_LEN, "bytes"),
        define(
            "UCALL_TEST_MAX_TEXT_LEN",
            MAX_TEXT_LEN,
            "bytes of expected and ignore_reason",
        ),
        define("UCALL_TEST_FLAG_IGNORE", IGNORE, "run only when asked for"),
        define(
            "UCALL_TEST_FLAG_SHOULD_PANIC",
            SHOULD_PANIC,
            "passes by ABORT, fails by DONE",
        ),
        define(
            "UCALL_TEST_FLAG_EXPECTED",
            EXPECTED,
            "the ABORT message contains expected",
        ),
    ]
}

/// The ABORT messages of a test program that was given none of its tests.
pub fn messages() -> Vec<Define> {
    vec![
        define(
            "UCALL_NO_TEST_SELECTED_MESSAGE",
            format!("\"{NO_TEST_SELECTED_MESSAGE}\""),
            "",
        ),
        define(
            "UCALL_TEST_OUT_OF_RANGE_MESSAGE",
            format!("\"{OUT_OF_RANGE_MESSAGE}\""),
            "",
        ),
    ]
}

const DECLARATIONS: &str = r#"
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

"#;

const FUNCTIONS: &str = r#"
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
"#;

/// The C declarations, after the other structs.
pub fn declarations() -> String {
    let mut h = String::from(DECLARATIONS);
    h += "_Static_assert(sizeof(void *) == 8, \"addresses are 64-bit\");\n";
    for (check, what) in [
        (
            "sizeof(struct ucall_test_entry) == UCALL_TEST_ENTRY_SIZE".to_string(),
            "an entry's size",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_test_entry, flags) == {}",
                TestEntry::FLAGS_OFFSET
            ),
            "where flags are",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_test_entry, timeout_ms) == {}",
                TestEntry::TIMEOUT_OFFSET
            ),
            "where timeout_ms is",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_test_entry, expected) == {}",
                TestEntry::EXPECTED_OFFSET
            ),
            "where expected is",
        ),
        (
            format!(
                "__builtin_offsetof(struct ucall_test_entry, ignore_reason) == {}",
                TestEntry::IGNORE_REASON_OFFSET
            ),
            "where ignore_reason is",
        ),
    ] {
        h += &format!("_Static_assert({check}, \"{what}\");\n");
    }
    h += FUNCTIONS;
    h
}

/// The flag constants are the header's: a new flag fails here until the header has it.
#[test]
fn every_flag_is_in_the_header() {
    assert_eq!(test_table::KNOWN_FLAGS, IGNORE | SHOULD_PANIC | EXPECTED);
}
