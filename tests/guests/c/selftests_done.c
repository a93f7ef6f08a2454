/*
 * A PRINTF (3 in the pool convention) and then DONE (4): a host that read the seed's numbers
 * would see DONE first and stop.
 */
#include "pool.h"

void guest_main(void)
{
	GUEST_PRINTF("printf, then done");
	GUEST_DONE();
	pool_halt();
}
