/*
 * A guest in the pool convention of today's KVM selftests (pool.h): a SYNC with a stage, a
 * PRINTF whose text has newlines, then a GUEST_ASSERT_EQ that fails, which is an ABORT.
 */
#include "pool.h"

void guest_main(void)
{
	volatile uint64_t answer = 41;

	GUEST_SYNC(1);
	GUEST_PRINTF("hello from the pool\nstage %d of %d\n", 2, 3);
	GUEST_ASSERT_EQ(answer, 42);
	GUEST_DONE();
	pool_halt();
}
