/*
 * A riscv64 pool-convention guest whose trap vector reports a trap it has no handler for the
 * way the selftests' default vector does: the ucall SBI call with a6 = 1 and no record (a0 to
 * a5 zero). It syncs, points stvec at that vector and takes an ebreak. Only riscv64 has that
 * exit: elsewhere the guest syncs and is done.
 */
#include "pool.h"

#if defined(__riscv)
/* The SBI function of the ucall extension (a7) that says "a trap without a handler". */
#define POOL_SBI_UNEXPECTED_TRAP 1
#define POOL_STRING(x) #x
#define POOL_EXPAND(x) POOL_STRING(x)

__asm__(".pushsection .text\n"
	".balign 4\n"
	"pool_unexpected_trap:\n"
	"li a0, 0\n"
	"li a1, 0\n"
	"li a2, 0\n"
	"li a3, 0\n"
	"li a4, 0\n"
	"li a5, 0\n"
	"li a6, " POOL_EXPAND(POOL_SBI_UNEXPECTED_TRAP) "\n"
	"li a7, 0x08ffffff\n"
	"ecall\n"
	"1: wfi\n"
	"j 1b\n"
	".popsection\n");
#endif

void guest_main(void)
{
	GUEST_SYNC(1);
#if defined(__riscv)
	extern char pool_unexpected_trap[];

	__asm__ volatile("csrw stvec, %0\n\t"
			 "ebreak"
			 :
			 : "r"(pool_unexpected_trap)
			 : "memory");
#endif
	GUEST_DONE();
	pool_halt();
}
