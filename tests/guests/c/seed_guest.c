/*
 * A guest written the way guests of the Linux 5.10-era KVM selftests are: the record on the stack,
 * zero-filled, up to six variadic arguments, and one 8-byte store of its address to the pointer the
 * host publishes in `ucall_exit_mmio_addr`. Strings are C strings. Written for this project.
 */
#include "freestanding.h"
#include <stdarg.h>
#include <stdint.h>

enum { UCALL_NONE, UCALL_SYNC, UCALL_ABORT, UCALL_DONE };

struct ucall_record {
	uint64_t cmd;
	uint64_t args[6];
};

/* Filled in by the host before the guest runs. */
uint64_t *ucall_exit_mmio_addr;
#if defined(__aarch64__) || defined(__riscv)
#define halt() __asm__ volatile("wfi")
#else
#define halt() __asm__ volatile("hlt")
#endif

static void send(uint64_t cmd, int nargs, ...)
{
	struct ucall_record record = { .cmd = cmd };
	va_list ap;

	va_start(ap, nargs);
	for (int i = 0; i < nargs && i < 6; i++)
		record.args[i] = va_arg(ap, uint64_t);
	va_end(ap);
	/* Only an integer leaves otherwise, and riscv64 gcc -O2 drops the args' stores as dead. */
	__asm__ volatile("" : : "r"(&record) : "memory");
	*(volatile uint64_t *)ucall_exit_mmio_addr = (uint64_t)&record;
}

#define SYNC(stage) send(UCALL_SYNC, 2, "hello", (uint64_t)(stage))
#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond))                                                              \
			send(UCALL_ABORT, 2, "Failed guest assert: " #cond, (uint64_t)__LINE__); \
	} while (0)

void _start(void)
{
	volatile int answer = 41;

	SYNC(1);
	SYNC(2);
	CHECK(answer == 42);
	send(UCALL_DONE, 0);
	for (;;)
		halt();
}
