/*
 * A pool-convention guest whose host tries to answer its SYNC: the convention has no replies,
 * so nothing of the guest's may change. It keeps a value in rsi across its x86_64 port I/O
 * exit (where a seed reply's first word goes) and checks it after; on every architecture it
 * checks that the record's first argument is still 0.
 */
#include "pool.h"

#define KEPT 0x5eed5eedull

void guest_main(void)
{
	struct pool_record *record = pool_claim();
	uint64_t kept = KEPT;
	uint64_t first;

	record->cmd = UCALL_SYNC;
	record->args[1] = 1;
#if defined(__x86_64__)
	/* Port I/O whatever the host published: only that exit has a reply register. */
	register uint64_t rsi __asm__("rsi") = KEPT;

	__asm__ volatile("in %%dx, %%al"
			 : "+S"(rsi)
			 : "d"((uint16_t)0x1000), "D"(record->token)
			 : "rax", "memory");
	kept = rsi;
#else
	pool_exit(record->token);
#endif
	first = *(volatile uint64_t *)&record->args[0];
	pool_release(record);
	GUEST_ASSERT_EQ(first, 0);
	GUEST_ASSERT_EQ(kept, KEPT);
	GUEST_DONE();
	pool_halt();
}
