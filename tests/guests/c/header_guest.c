/*
 * A C guest that takes the protocol from ucall.h (abi/include/) instead of spelling it out: the
 * record, the command numbers, the argument indices, the port, the SBI call and the MMIO global.
 * On x86_64 it uses MMIO when the host published an address and port I/O otherwise, on riscv64
 * MMIO or the SBI call, as the Rust guests do.
 * It prints, makes a call with six arguments and syncs what came back, then fails a check on
 * purpose, so that each convention it uses shows in what the host decodes.
 */
#include "guest_ucall.h"

void _start(void)
{
	uint64_t args[UCALL_MAX_ARGS] = { 1, 2, 3, 4, 5, 6 };
	volatile int answer = 41;

	printf_text("hello from C, through ucall.h");
	call(UCALL_SYNC, args);
	call(UCALL_SYNC, args);
	CHECK(answer == 42);
	call(UCALL_DONE, args);
	halt();
}
