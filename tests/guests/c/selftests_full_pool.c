/*
 * Holds all but one record of the pool and makes a ucall with the last; then holds that one
 * too, so the next ucall finds no free record and exits with all-ones.
 */
#include "pool.h"

void _start(void)
{
	for (int i = 0; i < POOL_RECORDS - 1; i++)
		pool_claim();
	GUEST_SYNC(POOL_RECORDS - 1);
	pool_claim();
	GUEST_SYNC(POOL_RECORDS);
	GUEST_DONE();
	pool_halt();
}
