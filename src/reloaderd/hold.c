/*
 * hold.c: who is holding reloads, for whom, and for how long.
 *
 * A hold keeps the daemon from sending reload batches to the clients it
 * covers: every client, when an admin took it (the daemon's own user,
 * root, or a member of admin-group), else only the clients of the uid
 * that took it, so that one member of the group cannot stall another's
 * processes.  It ends with the connection that took it, unless it was
 * asked to outlive it (scope=daemon); such a hold is released by any
 * connection that may: of the same uid, or an admin.
 */
#include <stdlib.h>
#include <string.h>

#include "reloaderd.h"

static struct hold *holds;

/* Says whether a hold keeps reloads from client k. */
int
hold_covers(const struct hold *h, const struct client *k)
{
	return h->reach == HOLD_EVERYONE || h->uid == k->cred.uid;
}

/* Says whether any hold keeps reloads from client k. */
int
hold_client_held(const struct client *k)
{
	const struct hold *h;

	for (h = holds; h != NULL; h = h->next)
		if (hold_covers(h, k))
			return 1;
	return 0;
}

/* Takes a hold for connection c: for everyone if c is an admin, else for
 * its own uid; tied to c unless scope says it outlives it. */
struct hold *
hold_take(struct client *c, enum hold_scope scope)
{
	struct hold *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("hold_take");
	h->owner = c;
	h->scope = scope;
	h->reach = cred_admin(&c->cred) ? HOLD_EVERYONE : HOLD_UID;
	h->uid = c->cred.uid;
	h->next = holds;
	holds = h;
	rd->holds++;
	return h;
}

/* Finds the hold a release from c ends: its own connection's, newest
 * first, else one that outlives its connection and that c may release
 * (its uid's, or any for an admin); NULL if none. */
struct hold *
hold_find(const struct client *c)
{
	struct hold *h;

	for (h = holds; h != NULL; h = h->next)
		if (h->owner == c)
			return h;
	for (h = holds; h != NULL; h = h->next)
		if (h->scope == HOLD_DAEMON && (h->uid == c->cred.uid ||
		    cred_admin(&c->cred)))
			return h;
	return NULL;
}

/* Ends a hold. */
void
hold_drop(struct hold *h)
{
	struct hold **pp;

	for (pp = &holds; *pp != NULL; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			rd->holds--;
			free(h);
			rd->flush_all = 1;   /* who it held may have work */
			return;
		}
}

/* Returns the next hold connection c took, after h (NULL: the first). */
struct hold *
hold_next_of(const struct client *c, struct hold *h)
{
	for (h = h != NULL ? h->next : holds; h != NULL; h = h->next)
		if (h->owner == c)
			return h;
	return NULL;
}

/* Ends every hold, at shutdown. */
void
hold_free_all(void)
{
	while (holds != NULL)
		hold_drop(holds);
}
