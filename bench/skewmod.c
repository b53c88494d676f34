/*
 * skewmod.c: the modules the switch-skew benchmark reloads.  mk/bench.mk
 * builds it as module a and module b (-DNAME), four builds of each
 * (-DVARIANT=1 to 4: four build-ids), so that every round of the
 * benchmark is a new build of both.  With -DTEST_US=N its test hook
 * works N microseconds, as a test that does something would.
 */
#include <time.h>

#include "reloader.h"

#ifndef NAME
#define NAME "a"
#endif
#ifndef VARIANT
#define VARIANT 1
#endif

RELOADER_MODULE(NAME);

int reply(void *);
int reloader_test(void *);

/* Says which variant this is. */
int
reply(void *state)
{
	return VARIANT;
}

/* Checks the new version, as a real test hook would: a small call (and
 * with TEST_US, that much work on the processor). */
int
reloader_test(void *state)
{
#ifdef TEST_US
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L +
	    (t.tv_nsec - t0.tv_nsec) / 1000 < TEST_US);
#endif
	return reply(state) == VARIANT ? 0 : 1;
}
