/* Hostile: a token just past the end of the pool. */
#include "pool.h"

void guest_main(void)
{
	pool_exit((uint64_t)(uintptr_t)(ucall_pool + 1));
	GUEST_DONE();
	pool_halt();
}
