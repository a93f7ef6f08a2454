/*
 * Holds all but the last record of the pool (setting their bits as a claim does, a word at a
 * time: claiming them one by one scans the bitmap 511 times, which is slow where the CPU is
 * emulated) and makes a ucall, which gets the last; then holds that one too, so the next
 * ucall finds no free record and exits with all-ones.
 */
#include "pool.h"

void guest_main(void)
{
	struct pool *pool = ucall_pool;

	for (int word = 0; word < POOL_RECORDS / 64; word++) {
		for (int bit = 0; bit < 64; bit++) {
			if (word * 64 + bit != POOL_RECORDS - 1)
				pool_test_and_set(&pool->in_use[word], bit);
		}
	}
	GUEST_SYNC(POOL_RECORDS - 1);
	pool_test_and_set(&pool->in_use[POOL_RECORDS / 64 - 1], 63);
	GUEST_SYNC(POOL_RECORDS);
	GUEST_DONE();
	pool_halt();
}
