/*
 * The riscv64 entry point of a C guest: _start points gp at __global_pointer$, as a C runtime
 * would, then jumps to the guest's own entry. Where gcc links with its default script, its
 * linker relaxation reads data near that symbol through gp, and a gp of 0 faults. The load
 * itself must not be relaxed into a gp-relative one. Shared by the guests of both conventions
 * (guest_ucall.h and pool.h); other architectures name their entry _start.
 */
#ifndef START_H
#define START_H

#define START_STRING(name) #name
#define RISCV_START(entry)                      \
	__asm__(".pushsection .text\n"          \
		".globl _start\n"               \
		".weak __global_pointer$\n"     \
		"_start:\n"                     \
		".option push\n"                \
		".option norelax\n"             \
		"lla gp, __global_pointer$\n"   \
		".option pop\n"                 \
		"j " START_STRING(entry) "\n"   \
		".popsection\n")

#endif
