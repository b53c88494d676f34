/*
 * upgrade.c: processes that switch to their new code together
 * (docs/PROTOCOL.md, "Version 2: upgrades").
 *
 * A batch sent to version-2 clients goes out as "prepare"; the clients
 * that got theirs in the same flush form a group (or each its own, with
 * switch = per-process).  When every member has prepared every module,
 * the group commits: each switches at once and says when.  When one
 * fails, goes away or does not answer within prepare-timeout, the group
 * aborts: each member that prepared gives it up, and every process keeps
 * its old code.  Its state is enum upgrade_state; a member's is its
 * client_phase.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "reloaderd.h"

static unsigned long nextupgrade;
static size_t nlive;             /* groups not freed yet */

static void upgrade_timeout_cb(struct ev_loop *, ev_timer *, int);
static void upgrade_abort(struct upgrade *, const char *);
static void upgrade_free(struct upgrade *);

/* Makes an empty group. */
struct upgrade *
upgrade_new(void)
{
	struct upgrade *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		fatal("upgrade_new");
	g->id = ++nextupgrade;
	nlive++;
	g->state = UPGRADE_PREPARING;
	ev_timer_init(&g->timer, upgrade_timeout_cb, 0., 0.);
	g->timer.data = g;
	return g;
}

/* Adds a client whose prepare is about to go out. */
void
upgrade_add(struct upgrade *g, struct client *c)
{
	struct client **nm;

	if ((nm = reallocarray(g->members, g->nmembers + 1,
	    sizeof(*nm))) == NULL)
		fatal("upgrade_add");
	g->members = nm;
	g->members[g->nmembers++] = c;
	c->upgrade = g;
}

static void upgrade_maybe_done(struct upgrade *);

/* Starts the group's clock once every prepare is out (the group was busy
 * meanwhile: a member dropped while told left it, and may have been the
 * last). */
void
upgrade_start(struct upgrade *g)
{
	g->busy = 0;
	if (g->state == UPGRADE_PREPARING && g->nacked < g->nmembers) {
		ev_timer_set(&g->timer, rd->conf.prepare_timeout, 0.);
		ev_timer_start(rd->loop, &g->timer);
	}
	upgrade_maybe_done(g);
}

/* Lets a group of one process with one module to switch go as version
 * 1's reload, which switches it at once: with nothing to switch together
 * with, the second phase would only add a round trip.  Returns 1 if so,
 * and the group is freed; the client's batch then goes out as "reload". */
int
upgrade_alone(struct upgrade *g)
{
	struct client *c;

	if (g->nmembers != 1 || (c = g->members[0]) == NULL ||
	    c->inbatch != 1 || g->state != UPGRADE_PREPARING)
		return 0;
	c->phase = PHASE_LOAD;
	upgrade_free(g);
	return 1;
}

/* Takes a member out of its group, which it is done with. */
static void
upgrade_detach(struct upgrade *g, struct client *c)
{
	size_t i;

	for (i = 0; i < g->nmembers; i++)
		if (g->members[i] == c)
			g->members[i] = NULL;
	c->upgrade = NULL;
	g->nacked++;
}

/* Frees a group every member of which is done with it. */
static void
upgrade_free(struct upgrade *g)
{
	size_t i;

	ev_timer_stop(rd->loop, &g->timer);
	for (i = 0; i < g->nmembers; i++)
		if (g->members[i] != NULL)
			g->members[i]->upgrade = NULL;
	free(g->members);
	free(g->reason);
	free(g);
	nlive--;
}

/* Sends a member "commit" or "abort" for its batch. */
static void
upgrade_tell(struct client *c, const char *verb, const char *reason)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	proto_start(&o, buf, sizeof(buf), verb);
	proto_addf(&o, "batch", "%lu", c->batch);
	if (reason != NULL)
		proto_add(&o, "reason", reason);
	c->phase = strcmp(verb, "commit") == 0 ? PHASE_COMMIT : PHASE_ABORT;
	client_send(c, &o);
}

/* Tells subscribers how a group ended. */
static void
upgrade_event(struct upgrade *g, const char *status)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (!ctl_subscribers())
		return;
	proto_start(&o, buf, sizeof(buf), "event");
	proto_add(&o, "type", "switch");
	proto_addf(&o, "group", "%lu", g->id);
	proto_addf(&o, "clients", "%zu", g->nmembers);
	proto_add(&o, "status", status);
	if (g->state == UPGRADE_COMMITTING && g->last_at >= g->first_at)
		proto_addf(&o, "skew", "%.3f", (g->last_at - g->first_at) *
		    1000);
	if (g->reason != NULL)
		proto_add(&o, "reason", g->reason);
	ctl_event(&o);
}

/* Says whether every member has acknowledged (or gone), and if so logs
 * how the group ended and frees it. */
static void
upgrade_maybe_done(struct upgrade *g)
{
	if (g->busy || g->nacked < g->nmembers)
		return;
	if (g->state == UPGRADE_COMMITTING) {
		if (g->nmembers > 1)
			log_info("switch %lu: %zu processes switched together, "
			    "%.3f ms apart", g->id, g->nmembers,
			    (g->last_at - g->first_at) * 1000);
		upgrade_event(g, "committed");
	} else
		upgrade_event(g, "aborted");
	upgrade_free(g);
}

/* Commits the group: every member has prepared. */
static void
upgrade_commit(struct upgrade *g)
{
	size_t i;

	g->state = UPGRADE_COMMITTING;
	ev_timer_stop(rd->loop, &g->timer);
	g->first_at = 1e300;
	g->last_at = -1;
	/* A member dropped while told (its output full) leaves meanwhile. */
	g->busy = 1;
	for (i = 0; i < g->nmembers; i++)
		if (g->members[i] != NULL)
			upgrade_tell(g->members[i], "commit", NULL);
	g->busy = 0;
	upgrade_maybe_done(g);
}

/* Aborts the group, once, saying why: the members that prepared are told
 * to give it up; those still preparing are told when they are done. */
static void
upgrade_abort(struct upgrade *g, const char *reason)
{
	size_t i;

	if (g->state != UPGRADE_PREPARING)
		return;
	g->state = UPGRADE_ABORTING;
	ev_timer_stop(rd->loop, &g->timer);
	if ((g->reason = strdup(reason)) == NULL)
		fatal("upgrade_abort");
	log_warnx("switch %lu of %zu process%s aborted: %s; every process "
	    "keeps its old code", g->id, g->nmembers, g->nmembers == 1 ?
	    "" : "es", log_esc(reason));
	g->busy = 1;
	for (i = 0; i < g->nmembers; i++)
		if (g->members[i] != NULL &&
		    g->members[i]->phase == PHASE_PREPARED)
			upgrade_tell(g->members[i], "abort", reason);
	g->busy = 0;
	upgrade_maybe_done(g);
}

/* A member prepared every module of its batch. */
void
upgrade_ready(struct client *c)
{
	struct upgrade *g = c->upgrade;

	c->phase = PHASE_PREPARED;
	if (g->state == UPGRADE_ABORTING) {
		upgrade_tell(c, "abort", g->reason);
		return;
	}
	if (++g->nready == g->nmembers)
		upgrade_commit(g);
}

/* A member has nothing to switch (each of its modules switched on its
 * own): the others need not wait for it. */
void
upgrade_skip(struct client *c)
{
	struct upgrade *g = c->upgrade;

	g->nready++;
	upgrade_detach(g, c);
	if (g->state == UPGRADE_PREPARING && g->nready == g->nmembers)
		upgrade_commit(g);
	else
		upgrade_maybe_done(g);
}

/* A member could not prepare (it gave its batch up by itself): the whole
 * group aborts. */
void
upgrade_failed(struct client *c, const char *why)
{
	struct upgrade *g = c->upgrade;

	upgrade_detach(g, c);
	if (g->state == UPGRADE_PREPARING)
		upgrade_abort(g, why);
	else
		upgrade_maybe_done(g);
}

/* A member committed (at its clock's time at) or aborted. */
void
upgrade_acked(struct client *c, int committed, double at)
{
	struct upgrade *g = c->upgrade;

	if (committed) {
		if (at < g->first_at)
			g->first_at = at;
		if (at > g->last_at)
			g->last_at = at;
	}
	upgrade_detach(g, c);
	upgrade_maybe_done(g);
}

/* A member went away, or ends its part: while the group prepares, it
 * aborts the others. */
void
upgrade_leave(struct client *c)
{
	struct upgrade *g = c->upgrade;
	char why[256];

	if (g == NULL)
		return;
	upgrade_detach(g, c);
	if (g->state == UPGRADE_PREPARING) {
		snprintf(why, sizeof(why), "%s went away before it committed",
		    c->label);
		upgrade_abort(g, why);
	} else
		upgrade_maybe_done(g);
}

/* Aborts a group some members of which did not answer in time. */
static void
upgrade_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct upgrade *g = w->data;
	char why[512];
	size_t i, o = 0;

	o = (size_t)snprintf(why, sizeof(why), "no answer within %gs from",
	    rd->conf.prepare_timeout);
	for (i = 0; i < g->nmembers && o < sizeof(why); i++)
		if (g->members[i] != NULL &&
		    g->members[i]->phase == PHASE_PREPARE)
			o += (size_t)snprintf(why + o, sizeof(why) - o, " %s",
			    g->members[i]->label);
	upgrade_abort(g, why);
}

/* Tells whether a group's timer may run: one may while any group lives. */
int
upgrade_timing(void)
{
	return nlive > 0;
}
