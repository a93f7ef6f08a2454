/*
 * A pool-convention guest that installs exception vectors of its own and then takes an
 * exception it has no handler for, reported as each architecture's selftests library reports
 * it: x86_64 fails with an ABORT naming the vector and RIP (GUEST_FAIL); aarch64 sends
 * UNHANDLED with the vector-table entry, the exception class and whether the class is valid;
 * riscv64 sends UNHANDLED with exception-or-interrupt and the cause code. The exception is at
 * the global label `pool_fault_here`: ud2 (#UD), udf #0, ebreak. Only vCPU 0 installs the
 * vectors: any other vCPU faults into the host's own handlers, whose reports the host reads
 * in any convention.
 */
#include "pool.h"

/* Called by the vectors below with what the CPU said; never returns. */
void pool_route_exception(uint64_t first, uint64_t second);

#if defined(__x86_64__)
/* 32 stubs of 16 bytes: a zero where the CPU pushes no error code, the vector, then common
 * code that passes the frame [vector, error code, rip, ...] to pool_route_exception. */
__asm__(".pushsection .text\n"
	".balign 16\n"
	"pool_vectors:\n"
	".irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	".balign 16\n"
	".if (\\vector != 8) && (\\vector < 10 || \\vector > 14) && (\\vector != 17) && (\\vector != 21) && (\\vector != 29) && (\\vector != 30)\n"
	"pushq $0\n"
	".endif\n"
	"pushq $\\vector\n"
	"jmp pool_vector_common\n"
	".endr\n"
	"pool_vector_common:\n"
	"movq %rsp, %rdi\n"
	"andq $-16, %rsp\n"
	"call pool_route_exception\n"
	"1: hlt\n"
	"jmp 1b\n"
	".popsection\n");

struct gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_middle;
	uint32_t offset_high;
	uint32_t reserved;
};

static struct gate idt[32];

static void install_vectors(void)
{
	extern char pool_vectors[];
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	for (int vector = 0; vector < 32; vector++) {
		uint64_t at = (uint64_t)(uintptr_t)pool_vectors + 16 * vector;

		idt[vector] = (struct gate){ (uint16_t)at, cs, 0, 0x8e, (uint16_t)(at >> 16),
					     (uint32_t)(at >> 32), 0 };
	}
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

void pool_route_exception(uint64_t first, uint64_t second)
{
	uint64_t *frame = (uint64_t *)(uintptr_t)first;

	(void)second;
	ucall_assert("Unconditional guest failure", __FILE_NAME__, __LINE__,
		     "Unhandled exception '%#lx' at guest RIP '%#lx'", frame[0], frame[2]);
	pool_halt();
}

#define FAULT "ud2"
#elif defined(__aarch64__)
/* 16 entries of 0x80 bytes: the entry's index in x0, ESR_EL1 in x1. */
__asm__(".pushsection .text\n"
	".balign 2048\n"
	"pool_vectors:\n"
	".irp entry, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	".balign 128\n"
	"mov x0, #\\entry\n"
	"mrs x1, esr_el1\n"
	"b pool_route_exception\n"
	".endr\n"
	".popsection\n");

static void install_vectors(void)
{
	uint64_t vectors;

	/* PC-relative, not through the GOT: gcc's default PIE code reaches a symbol through the
	 * GOT, and gas turns a GOT reference to the local label above into one to `.text`, whose
	 * GOT entry is .text's start (VBAR_EL1 then pointed at code, not at these vectors). */
	__asm__ volatile("adrp %0, pool_vectors\n\t"
			 "add %0, %0, :lo12:pool_vectors\n\t"
			 "msr vbar_el1, %0\n\t"
			 "isb"
			 : "=r"(vectors)
			 :
			 : "memory");
}

void pool_route_exception(uint64_t entry, uint64_t esr)
{
	/* The class means something for the synchronous entries: 0, 4, 8 and 12. */
	int synchronous = entry % 4 == 0;

	ucall(UCALL_UNHANDLED, 3, entry, synchronous ? esr >> 26 : 0, (uint64_t)synchronous);
	pool_halt();
}

#define FAULT "udf #0"
#elif defined(__riscv)
/* Direct mode: every trap comes here with scause in a0. */
__asm__(".pushsection .text\n"
	".balign 4\n"
	"pool_trap:\n"
	"csrr a0, scause\n"
	"j pool_route_exception\n"
	".popsection\n");

static void install_vectors(void)
{
	extern char pool_trap[];

	__asm__ volatile("csrw stvec, %0" : : "r"(pool_trap) : "memory");
}

void pool_route_exception(uint64_t scause, uint64_t unused)
{
	int interrupt = scause >> 63;

	(void)unused;
	ucall(UCALL_UNHANDLED, 2, (uint64_t)interrupt, interrupt ? 0 : scause & ~(1ull << 63));
	pool_halt();
}

#define FAULT "ebreak"
#endif

void guest_main(uint64_t vcpu)
{
	if (vcpu == 0)
		install_vectors();
	GUEST_SYNC(1);
	__asm__ volatile(".globl pool_fault_here\npool_fault_here:\n\t" FAULT ::: "memory");
	GUEST_DONE();
	pool_halt();
}
