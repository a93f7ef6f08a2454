/*
 * The ucalls of the C guests that take the protocol from ucall.h: the exit on each transport
 * (MMIO when the host published an address, else port I/O on x86_64 and the SBI call on
 * riscv64), a call that reads the reply back, PRINTF and a CHECK that sends ABORT. Each C guest
 * is one translation unit, so the definitions live in this header.
 */
#ifndef GUEST_UCALL_H
#define GUEST_UCALL_H

#include "freestanding.h"
#include "halt.h"
#include "start.h"
#include "ucall.h"

uint64_t ucall_exit_mmio_addr;

static void exit_to_host(struct ucall *record)
{
#if defined(__x86_64__)
	if (!ucall_exit_mmio_addr) {
		__asm__ volatile("in %%dx, %%al"
				 :
				 : "d"((uint16_t)UCALL_PIO_PORT), "D"(record)
				 : "rax", "memory");
		return;
	}
	/* The record is in memory before the store that exits. */
	__asm__ volatile("" : : : "memory");
#elif defined(__riscv)
	if (!ucall_exit_mmio_addr) {
		register uint64_t a0 __asm__("a0") = (uint64_t)(uintptr_t)record;
		register uint64_t a1 __asm__("a1");
		register uint64_t a6 __asm__("a6") = UCALL_SBI_FUNCTION;
		register uint64_t a7 __asm__("a7") = UCALL_SBI_EXTENSION;

		/* The host answers a0 = a1 = 0 (SBI success). */
		__asm__ volatile("ecall" : "+r"(a0), "=r"(a1) : "r"(a6), "r"(a7) : "memory");
		return;
	}
	/* The record's stores are ordered before the store to the ucall page. */
	__asm__ volatile("fence" : : : "memory");
#else
	/* The record (Normal memory) is written before the store to the ucall page (Device). */
	__asm__ volatile("dmb sy" : : : "memory");
#endif
	*(volatile uint64_t *)(uintptr_t)ucall_exit_mmio_addr = (uint64_t)(uintptr_t)record;
}

/* Sends cmd with args[], and leaves the host's answer in args[]: as sent, if it gave none. */
static void call(uint64_t cmd, uint64_t args[UCALL_MAX_ARGS])
{
	struct ucall record = { .cmd = cmd };
	volatile struct ucall *answer = &record;

	for (int i = 0; i < UCALL_MAX_ARGS; i++)
		record.args[i] = args[i];
	exit_to_host(&record);
	for (int i = 0; i < UCALL_MAX_ARGS; i++)
		args[i] = answer->args[i];
}

static void printf_text(const char *text)
{
	uint64_t args[UCALL_MAX_ARGS] = { 0 };

	args[UCALL_PRINTF_TEXT] = (uint64_t)(uintptr_t)text;
	call(UCALL_PRINTF, args);
}

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			uint64_t args[UCALL_MAX_ARGS] = { 0 };                                 \
			args[UCALL_ABORT_MESSAGE] = (uint64_t)(uintptr_t)"Failed guest assert: " #cond; \
			args[UCALL_ABORT_LINE] = __LINE__;                                   \
			args[UCALL_ABORT_FILE] = (uint64_t)(uintptr_t)__FILE_NAME__;         \
			call(UCALL_ABORT, args);                                             \
			halt();                                                              \
		}                                                                            \
	} while (0)

#endif
