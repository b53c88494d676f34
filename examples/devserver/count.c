/*
 * count.c: the devserver's GET /count, a counter that survives reloads.
 *
 * It is the C twin of this Erlang gen_server:
 *
 *	-record(state, {count = 0}).
 *	init([]) -> {ok, #state{}}.
 *	handle_call(count, _From, S = #state{count = N}) ->
 *	    {reply, N + 1, S#state{count = N + 1}}.
 *	code_change(_OldVsn, S, _Extra) -> {ok, S}.
 *
 * The state lives in memory that the module allocates; the library hands
 * it to every call and, on a reload, to the new version's
 * reloader_code_change, which returns the state the new version will
 * use.  Edit the reply text below, run `make`, and
 * the count carries on where it was.
 *
 * A version 2 that adds a field does it the way code_change/3 does:
 *
 *	struct counter {
 *		int count;
 *		time_t since;		the new field
 *	};
 *
 *	int
 *	reloader_code_change(const char *old_vsn, void *old_state,
 *	    void **new_state)
 *	{
 *		const struct counter_v1 *old = old_state;
 *		struct counter *c;
 *
 *		if ((c = calloc(1, sizeof(*c))) == NULL)
 *			return -1;
 *		c->count = old != NULL ? old->count : 0;
 *		c->since = time(NULL);
 *		*new_state = c;
 *		return 0;
 *	}
 *
 * with struct counter_v1 the old layout kept under that name.  It must
 * not change or free old_state: if the reload fails at a later step, the
 * old version carries on with it, and the library frees it through the
 * old version's reloader_unload otherwise.  A version that fails here
 * (returns -1, or crashes) is rolled back and the old one keeps serving.
 */
#include <stdio.h>
#include <stdlib.h>

#include "handler.h"

RELOADER_MODULE("count");

/* This version's state. */
struct counter {
	int count;
};

/* Counts the request and says how many there have been. */
int
handle(void *state, char *body, size_t size)
{
	struct counter *c = state;

	c->count++;
	snprintf(body, size, "count=%d\n", c->count);
	return 200;
}

/* Makes this version's state: a fresh counter at the first load (old_state
 * NULL, like init/1), else a copy of the old count (like code_change/3). */
int
reloader_code_change(const char *old_vsn, void *old_state, void **new_state)
{
	const struct counter *old = old_state;
	struct counter *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->count = old != NULL ? old->count : 0;
	*new_state = c;
	return 0;
}

/* Frees the state when the module is closed or a new version abandoned;
 * state is NULL when it has passed to a newer version. */
void
reloader_unload(void *state)
{
	free(state);
}
