/*
 * What a freestanding C guest provides itself: gcc may call memset to zero an aggregate even
 * with -ffreestanding (it does for the record at -O0 on aarch64). Each C guest is one
 * translation unit, so the definition can live in this header.
 */
#ifndef FREESTANDING_H
#define FREESTANDING_H

void *memset(void *dest, int byte, __SIZE_TYPE__ len)
{
	/* Volatile, so that gcc cannot turn the loop back into a call to memset. */
	volatile unsigned char *p = dest;

	while (len--)
		*p++ = (unsigned char)byte;
	return dest;
}

#endif
