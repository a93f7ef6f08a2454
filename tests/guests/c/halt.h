/*
 * How a C guest stops for good once it has nothing left to send: the host ends the vCPU at the
 * last ucall, so this loop is only reached if it does not. Shared by the guests of both
 * conventions (guest_ucall.h and pool.h).
 */
#ifndef HALT_H
#define HALT_H

static __attribute__((noreturn, unused)) void halt(void)
{
	for (;;) {
#if defined(__aarch64__) || defined(__riscv)
		__asm__ volatile("wfi");
#else
		__asm__ volatile("cli; hlt");
#endif
	}
}

#endif
