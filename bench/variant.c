/*
 * variant.c: the module the latency benchmark reloads.  mk/bench.mk
 * builds it four times, with -DVARIANT=1 to 4, so that every copy into
 * the watched directory is a new build-id and the benchmark can tell by
 * calling reply() which version runs.
 */
#include "reloader.h"

#ifndef VARIANT
#define VARIANT 1
#endif

RELOADER_MODULE("variant");

int reply(void *);
int reloader_test(void *);

/* Says which variant this is. */
int
reply(void *state)
{
	return VARIANT;
}

/* Checks the new version, as a real test hook would: a small call. */
int
reloader_test(void *state)
{
	return reply(state) == VARIANT ? 0 : 1;
}
