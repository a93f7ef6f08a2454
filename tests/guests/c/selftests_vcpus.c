/* Every vCPU makes ucalls at once, each from a record of its own. */
#include "pool.h"

void guest_main(uint64_t vcpu)
{
	for (int stage = 1; stage <= 3; stage++) {
		GUEST_SYNC(vcpu * 100 + stage);
		GUEST_PRINTF("vCPU %lu, stage %d", vcpu, stage);
	}
	GUEST_DONE();
	pool_halt();
}
