/*
 * greet.c: a test module for the end-to-end tests.
 *
 * The e2e scripts compile it with different -D flags to make each
 * version they need:
 *
 *	-DGREETING='"v2"'	what reply() and slow() say (default "v1")
 *	-DNONOTE		no RELOADER_MODULE note: named by its file
 *	-DWITH_TEST=N		a reloader_test hook returning N
 *	-DCRASH_TEST		a reloader_test hook that dereferences NULL
 *	-DFPE_TEST		a reloader_test hook that divides by zero
 *
 * slow() is for calls that must still be inside a version while it is
 * replaced: it returns only once the file named by $GATE exists.
 */
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "reloader.h"

#ifndef GREETING
#define GREETING "v1"
#endif

#ifndef NONOTE
RELOADER_MODULE("greet");
#endif

const char *reply(void *);
const char *slow(void *);
int reloader_test(void *);

/* Says which version this is. */
const char *
reply(void *state)
{
	(void)state;
	return "greet " GREETING;
}

/* Waits (1 ms polls, at most 10 s) for the file $GATE, then says which
 * version it ran in; returns at once if GATE is unset. */
const char *
slow(void *state)
{
	struct timespec ts = { 0, 1000000 };
	const char *gate;
	int i;

	(void)state;
	if ((gate = getenv("GATE")) == NULL)
		return "slow " GREETING " (no GATE)";
	for (i = 0; i < 10000; i++) {
		if (access(gate, F_OK) == 0)
			return "slow " GREETING;
		nanosleep(&ts, NULL);
	}
	return "slow " GREETING " (timed out waiting for GATE)";
}

#if defined(CRASH_TEST)
/* Crashes with SIGSEGV, to check that the library catches it. */
int
reloader_test(void *state)
{
	int *volatile p = NULL;

	(void)state;
	return *p;
}
#elif defined(FPE_TEST)
/* Crashes with SIGFPE, to check that the library catches it. */
int
reloader_test(void *state)
{
	/* Both volatile: with a constant 1 / x, gcc computes the quotient
	 * without dividing. */
	volatile int one = 1, zero = 0;

	(void)state;
	return one / zero;
}
#elif defined(WITH_TEST)
/* Passes (0) or fails (anything else) as the build asked. */
int
reloader_test(void *state)
{
	(void)state;
	return WITH_TEST;
}
#endif
