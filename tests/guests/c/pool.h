/*
 * The guest side of the pool convention (ucall_abi::selftests; ucall.h's UCALL_POOL_*), written
 * for this project from the wire facts alone, so that our tests have guests that behave on the
 * wire as guests built with today's Linux KVM selftests do:
 *
 * - the host writes the pool's address into the static `ucall_pool` and a token into each
 *   record before the guest runs;
 * - a ucall claims a free record with an atomic test-and-set of its bit in the pool's bitmap,
 *   zeroes its arguments, fills cmd, args and the text buffer, exits with the record's token
 *   (x86_64: `in` from port 0x1000 with the token in rdi, or an 8-byte store to
 *   ucall_exit_mmio_addr when the host published one; aarch64: that store; riscv64: ecall
 *   a7 = 0x08ffffff, a6 = 0, token in a0), then clears its bit;
 * - with no pool or no free record, it exits with all-ones instead.
 *
 * GUEST_SYNC, GUEST_PRINTF, GUEST_ASSERT_EQ and GUEST_DONE send what the selftests' macros of
 * those names send. Each guest is one translation unit that includes this header.
 * WITHOUT_POOL names the pool variable otherwise, so the host finds no `ucall_pool`.
 */
#ifndef POOL_H
#define POOL_H

#include "freestanding.h"
#include "halt.h"
#include "start.h"
#include <stdarg.h>
#include <stdint.h>

/* Every guest uses a part of this header only. */
#define POOL_FN static __attribute__((unused))

enum { UCALL_NONE, UCALL_SYNC, UCALL_ABORT, UCALL_PRINTF, UCALL_DONE, UCALL_UNHANDLED };

#define POOL_RECORDS 512
#define POOL_ARGS 7
#define POOL_BUFFER_LEN 1024
#define POOL_FAILED (~(uint64_t)0)

struct pool_record {
	uint64_t cmd;
	uint64_t args[POOL_ARGS];
	char buffer[POOL_BUFFER_LEN];
	uint64_t token;
};

struct pool {
	uint64_t in_use[POOL_RECORDS / 64];
	struct pool_record records[POOL_RECORDS];
};

_Static_assert(sizeof(struct pool_record) == 1096, "a record is 1096 bytes");
_Static_assert(sizeof(struct pool) == 561216, "a pool is 561216 bytes");

/* Volatile: nothing in the guest writes it, and the compiler must still read what the host
 * wrote. Static, as in the selftests' library: a local symbol of 8 bytes in .bss. */
#if defined(WITHOUT_POOL)
static struct pool *volatile guest_has_no_pool;
#define POOL_VARIABLE guest_has_no_pool
#elif defined(POOL_IN_RODATA)
/* Read-only: the host must refuse to write it (the guest reads it as 0 and gets no pool). */
static struct pool *const ucall_pool __attribute__((used)) = 0;
#define POOL_VARIABLE ucall_pool
#else
static struct pool *volatile ucall_pool;
#define POOL_VARIABLE ucall_pool
#endif

#if defined(__x86_64__) || defined(__aarch64__)
/* The host publishes the MMIO address here (aarch64 always; x86_64 when it serves MMIO). */
uint64_t ucall_exit_mmio_addr;
#endif

/*
 * The entry point. Each guest writes `guest_main(vcpu)`. On riscv64 start.h's _start sets up gp
 * first (the selftests' host copies its own gp into the guest for the same reason).
 */
#if defined(__riscv)
RISCV_START(guest_main);
#else
#define guest_main _start
#endif

/* The pool guests' name for halt.h's halt(). */
#define pool_halt halt

/* One exit that carries `token`. The record's stores are in memory before it. */
POOL_FN void pool_exit(uint64_t token)
{
#if defined(__x86_64__)
	if (ucall_exit_mmio_addr) {
		__asm__ volatile("movq %0, (%1)" : : "r"(token), "r"(ucall_exit_mmio_addr) : "memory");
		return;
	}
	__asm__ volatile("in %%dx, %%al" : : "d"((uint16_t)0x1000), "D"(token) : "rax", "memory");
#elif defined(__aarch64__)
	/* The record is Normal memory, the ucall page Device memory: order them. */
	__asm__ volatile("dmb sy\n\tstr %0, [%1]" : : "r"(token), "r"(ucall_exit_mmio_addr)
			 : "memory");
#elif defined(__riscv)
	register uint64_t a0 __asm__("a0") = token;
	register uint64_t a1 __asm__("a1") = 0;
	register uint64_t a2 __asm__("a2") = 0;
	register uint64_t a3 __asm__("a3") = 0;
	register uint64_t a4 __asm__("a4") = 0;
	register uint64_t a5 __asm__("a5") = 0;
	register uint64_t a6 __asm__("a6") = 0;
	register uint64_t a7 __asm__("a7") = 0x08ffffff;

	__asm__ volatile("ecall"
			 : "+r"(a0), "+r"(a1)
			 : "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a6), "r"(a7)
			 : "memory");
#endif
}

/*
 * Atomically sets bit `bit` of `*word` and says whether it was set already. (On aarch64 the
 * guests are built with -mno-outline-atomics: gcc's default would call libgcc.)
 */
POOL_FN int pool_test_and_set(uint64_t *word, unsigned int bit)
{
	uint64_t mask = (uint64_t)1 << bit;

	return (__atomic_fetch_or(word, mask, __ATOMIC_ACQUIRE) & mask) != 0;
}

POOL_FN void pool_clear(uint64_t *word, unsigned int bit)
{
	__atomic_fetch_and(word, ~((uint64_t)1 << bit), __ATOMIC_RELEASE);
}

/* A free record, claimed, its arguments zeroed; or 0 after an all-ones exit. */
POOL_FN struct pool_record *pool_claim(void)
{
	struct pool *pool = POOL_VARIABLE;

	if (pool) {
		for (unsigned int i = 0; i < POOL_RECORDS; i++) {
			if (!pool_test_and_set(&pool->in_use[i / 64], i % 64)) {
				struct pool_record *record = &pool->records[i];

				for (int a = 0; a < POOL_ARGS; a++)
					record->args[a] = 0;
				record->buffer[0] = 0;
				return record;
			}
		}
	}
	pool_exit(POOL_FAILED);
	return 0;
}

POOL_FN void pool_release(struct pool_record *record)
{
	struct pool *pool = POOL_VARIABLE;
	unsigned int i = record - pool->records;

	pool_clear(&pool->in_use[i / 64], i % 64);
}

/* Sends the claimed record and gives it back. */
POOL_FN void pool_send(struct pool_record *record)
{
	pool_exit(*(volatile uint64_t *)&record->token);
	pool_release(record);
}

POOL_FN void ucall(uint64_t cmd, int nargs, ...)
{
	struct pool_record *record = pool_claim();
	va_list ap;

	if (!record)
		return;
	record->cmd = cmd;
	va_start(ap, nargs);
	for (int i = 0; i < nargs && i < POOL_ARGS; i++)
		record->args[i] = va_arg(ap, uint64_t);
	va_end(ap);
	pool_send(record);
}

/* A small formatter: %s, %c, %d, %u, %x with an `l` and a `#`, and %%. */
struct text {
	char *at;
	char *end;
};

POOL_FN void text_put(struct text *text, char c)
{
	if (text->at < text->end - 1)
		*text->at++ = c;
	*text->at = 0;
}

POOL_FN void text_number(struct text *text, uint64_t value, unsigned int base,
			 int alternate)
{
	char digits[24];
	int n = 0;

	if (alternate && base == 16)
		text_put(text, '0'), text_put(text, 'x');
	do {
		digits[n++] = "0123456789abcdef"[value % base];
		value /= base;
	} while (value);
	while (n)
		text_put(text, digits[--n]);
}

POOL_FN void text_format(char *buffer, const char *format, va_list ap)
{
	struct text text = { buffer, buffer + POOL_BUFFER_LEN };

	*buffer = 0;
	for (; *format; format++) {
		int alternate = 0, wide = 0;

		if (*format != '%') {
			text_put(&text, *format);
			continue;
		}
		if (*++format == '#')
			alternate = 1, format++;
		if (*format == 'l')
			wide = 1, format++;
		switch (*format) {
		case 's':
			for (const char *s = va_arg(ap, const char *); *s; s++)
				text_put(&text, *s);
			break;
		case 'c':
			text_put(&text, (char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = wide ? va_arg(ap, int64_t) : va_arg(ap, int);

			if (v < 0)
				text_put(&text, '-'), v = -v;
			text_number(&text, (uint64_t)v, 10, 0);
			break;
		}
		case 'u':
		case 'x':
			text_number(&text, wide ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int),
				    *format == 'x' ? 16 : 10, alternate);
			break;
		case '%':
			text_put(&text, '%');
			break;
		default:
			return;
		}
	}
}

POOL_FN void ucall_format(uint64_t cmd, const char *format, ...)
{
	struct pool_record *record = pool_claim();
	va_list ap;

	if (!record)
		return;
	record->cmd = cmd;
	va_start(ap, format);
	text_format(record->buffer, format, ap);
	va_end(ap);
	pool_send(record);
}

POOL_FN void ucall_assert(const char *expression, const char *file, unsigned int line,
			  const char *format, ...)
{
	struct pool_record *record = pool_claim();
	va_list ap;

	if (!record)
		return;
	record->cmd = UCALL_ABORT;
	record->args[0] = (uint64_t)(uintptr_t)expression;
	record->args[1] = (uint64_t)(uintptr_t)file;
	record->args[2] = line;
	va_start(ap, format);
	text_format(record->buffer, format, ap);
	va_end(ap);
	pool_send(record);
}

#define GUEST_SYNC(stage) ucall(UCALL_SYNC, 2, "hello", (uint64_t)(stage))
#define GUEST_PRINTF(format, ...) ucall_format(UCALL_PRINTF, format, ##__VA_ARGS__)
#define GUEST_DONE() ucall(UCALL_DONE, 0)
#define GUEST_ASSERT_EQ(a, b)                                                               \
	do {                                                                                \
		uint64_t left_ = (a), right_ = (b);                                         \
		if (left_ != right_)                                                        \
			ucall_assert(#a " == " #b, __FILE_NAME__, __LINE__,                 \
				     "%#lx != %#lx (%s != %s)", left_, right_, #a, #b);     \
	} while (0)

#endif
