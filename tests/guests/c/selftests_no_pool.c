/* A pool-convention guest without a `ucall_pool` symbol: its first ucall exits with all-ones. */
#define WITHOUT_POOL
#include "pool.h"

void guest_main(void)
{
	GUEST_SYNC(1);
	GUEST_DONE();
	pool_halt();
}
