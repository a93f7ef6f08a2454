/*
 * A C test program: tests declared with ucall.h's macros, one of them run per VM as the host
 * selects it through ucall_test_selected. One passes, one fails a CHECK after a PRINTF (the
 * output a harness shows with the failure), two should panic (one must ABORT with a given
 * text), one is ignored and one has its own timeout.
 */
#include "guest_ucall.h"

uint64_t ucall_test_selected = UCALL_NO_TEST_SELECTED;

UCALL_TEST(adds)
{
	volatile int two = 2;

	CHECK(two + 2 == 4);
}

UCALL_TEST(fails_after_printing)
{
	volatile int two = 2;

	printf_text("about to compare 2 + 2 with 5");
	CHECK(two + 2 == 5);
}

UCALL_TEST_SHOULD_PANIC(aborts, "")
{
	volatile int answer = 41;

	CHECK(answer == 42);
}

UCALL_TEST_SHOULD_PANIC(aborts_with_the_expected_text, "answer == 42")
{
	volatile int answer = 41;

	CHECK(answer == 42);
}

UCALL_TEST_IGNORE(ignored, "shows the reason in the list")
{
}

UCALL_TEST_TIMEOUT(has_its_own_timeout, 1500)
{
}

/* The entry point; on riscv64 start.h's _start sets up gp first. */
#if defined(__riscv)
RISCV_START(run_tests);
#else
#define run_tests _start
#endif

void run_tests(void)
{
	ucall_run_selected_test(exit_to_host);
	halt();
}
