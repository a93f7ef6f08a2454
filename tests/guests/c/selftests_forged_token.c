/* Hostile: a token inside the pool that is no record's: the first record's, plus 8. */
#include "pool.h"

void guest_main(void)
{
	struct pool_record *record = pool_claim();

	record->cmd = UCALL_SYNC;
	pool_exit(record->token + 8);
	GUEST_DONE();
	pool_halt();
}
