/*
 * counter.c: a test module with state that must survive reloads, the C
 * twin of a gen_server counter upgraded by code_change/3.
 *
 * The e2e scripts compile it with different -D flags:
 *
 *	-DV2		version 2: its state has a field more
 *	-DFAIL_CC	reloader_code_change returns -1 (also at the first load)
 *	-DCRASH_CC	reloader_code_change dereferences NULL
 *	-DNAME='"a"'	names the module a, not counter
 *	-DGEN=N		build N: the same code with another build-id
 *	-DWITH_TEST=N	a reloader_test hook returning N
 *	-DTEST_ENV	a reloader_test hook that, in a process whose
 *			$RL_STALL names a file, waits while that file exists
 *			(1 ms polls, at most 10 s), then fails in a process
 *			whose $RL_FAIL names a file that exists
 *
 * Both versions keep count first in their state, so each can read the
 * count out of the other's state: upgrades and downgrades keep it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "reloader.h"

#ifndef NAME
#define NAME "counter"
#endif

RELOADER_MODULE(NAME);

#ifdef GEN
/* Makes each build of another GEN another build. */
const int counter_gen = GEN;
#endif

#ifdef V2
#define VSN "v2"
/* Version 2's state: what version 1 had, and a new field that starts at
 * 0 on upgrade. */
struct counter {
	int count;
	int bumps_since_upgrade;
	char reply[64];
};
#else
#define VSN "v1"
/* Version 1's state. */
struct counter {
	int count;
	char reply[64];
};
#endif

/* What every version's state starts with. */
struct counter_any {
	int count;
};

const char *reply(void *);
int reloader_code_change(const char *, void *, void **);
int reloader_test(void *);
void reloader_unload(void *);

/* Counts a call; returns "count=N vV" in a buffer of the state, valid
 * until the next call. */
const char *
reply(void *state)
{
	struct counter *c = state;

	if (c == NULL)
		return "count=? " VSN " (no state)";
	c->count++;
#ifdef V2
	c->bumps_since_upgrade++;
#endif
	snprintf(c->reply, sizeof(c->reply), "count=%d %s", c->count, VSN);
	return c->reply;
}

/* Makes this version's state from the old one's count (0 at the first
 * load), leaving old_state as it was. */
int
reloader_code_change(const char *old_vsn, void *old_state, void **new_state)
{
	const struct counter_any *old = old_state;
	struct counter *c;

	(void)old_vsn;
#if defined(FAIL_CC)
	return -1;
#elif defined(CRASH_CC)
	{
		int *volatile p = NULL;

		*p = 1;
	}
#endif
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->count = old != NULL ? old->count : 0;
	*new_state = c;
	return 0;
}

#if defined(WITH_TEST)
/* Passes (0) or fails (anything else) as the build asked. */
int
reloader_test(void *state)
{
	(void)state;
	return WITH_TEST;
}
#elif defined(TEST_ENV)
/* Waits while the file $RL_STALL exists, so that a process can be
 * caught between a prepare and its answer; fails while the file $RL_FAIL
 * exists, so that one process of several can fail. */
int
reloader_test(void *state)
{
	struct timespec ts = { 0, 1000000 };
	const char *fail = getenv("RL_FAIL"), *stall = getenv("RL_STALL");
	int i;

	(void)state;
	for (i = 0; stall != NULL && i < 10000 && access(stall, F_OK) == 0;
	    i++)
		nanosleep(&ts, NULL);
	return fail != NULL && access(fail, F_OK) == 0;
}
#endif

/* Frees the state when this version is the last to hold it. */
void
reloader_unload(void *state)
{
	free(state);
}
