/* Hostile: `ucall_pool` in read-only data, where the host must not write. */
#define POOL_IN_RODATA
#include "pool.h"

void guest_main(void)
{
	GUEST_SYNC(1);
	GUEST_DONE();
	pool_halt();
}
