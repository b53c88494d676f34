/*
 * batch.c: running the daemon's batches.
 *
 * Version 1's "reload" switches each module of a batch at once, on its
 * own.  Version 2's "prepare" makes every module of the batch ready
 * without making any current (module_prepare), answers each, and then
 * waits for the daemon: "commit" makes them all current at once
 * (module_commit), "abort" gives them all up.  When one module fails to
 * prepare, the client gives up every other at once, before its "done":
 * each stays on its old version with its old state, and its result names
 * the module that made it give up.  A module the host opted out of batch
 * atomicity (reloader_set_atomic) is switched at once inside a prepare,
 * as in version 1, and answered alone=yes.
 *
 * The batch's entries (r->batch) hold each module's result; they live
 * from the batch's "end" until its "done", or, prepared, until the
 * commit or the abort.  Modules are found again by name at each step,
 * since the host may close one meanwhile.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libreloader.h"

/* Forgets the batch's entries. */
void
batch_free(reloader_t *r)
{
	struct conn_entry *e, *next;

	for (e = r->batch; e != NULL; e = next) {
		next = e->next;
		free(e->module);
		free(e->stamp);
		free(e->bad);
		free(e);
	}
	r->batch = NULL;
	r->batch_tail = &r->batch;
	r->batch_open = 0;
	r->batch_prepare = 0;
	r->prepared = 0;
	r->batch_n = 0;
}

/* Makes the result of a module line that nothing was tried for. */
static void
batch_refuse(struct rl_result *, const reloader_module_t *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
batch_refuse(struct rl_result *res, const reloader_module_t *m,
    const char *fmt, ...)
{
	va_list ap;

	memset(res, 0, sizeof(*res));
	res->status = RELOADER_LOAD_FAILED;
	res->load_ms = res->copied_ms = res->state_ms = res->test_ms =
	    res->purge_ms = -1;
	snprintf(res->stamp, sizeof(res->stamp), "%s", m != NULL ? m->stamp :
	    "none:");
	snprintf(res->was, sizeof(res->was), "%s", res->stamp);
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

/* Tells the host how a module's switch ended: a set's module that got
 * its first version is added; any other, reloaded. */
static void
batch_event(reloader_module_t *m, const struct rl_result *res, int first)
{
	if (first && m->cur != NULL)
		module_event(m, RELOADER_EV_ADDED, res);
	else
		module_event(m, RELOADER_EV_RELOAD, res);
}

/* Switches one module of a batch at once, as version 1 does, or refuses
 * an entry that cannot be tried. */
static void
batch_now(reloader_t *r, struct conn_entry *e, reloader_module_t *m)
{
	int first;

	if (e->action == CONN_UNKNOWN) {
		batch_refuse(&e->res, m, "unknown action \"%.64s\"", e->bad);
		return;
	}
	if (m == NULL) {
		batch_refuse(&e->res, m, "not loaded here");
		return;
	}
	first = m->cur == NULL;
	if (e->action == CONN_ROLLBACK)
		module_rollback(m, e->stamp, &e->res);
	else
		module_reload(m, &e->res, e->force);
	if (e->res.changed)
		batch_event(m, &e->res, first);
}

/* Ends the batch with its done line; the lines held meanwhile follow. */
static void
batch_done(reloader_t *r)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	proto_start(&o, buf, sizeof(buf), "done");
	proto_addf(&o, "batch", "%llu", r->batch_id);
	r->in_batch = 0;
	conn_send(r, &o);               /* with the results held */
	conn_send_held(r);
}

/* Reloads or rolls back every module of a version-1 batch, each at
 * once, answers each, then ends the batch. */
void
batch_run(reloader_t *r)
{
	struct conn_entry *e;

	r->in_batch = 1;
	for (e = r->batch; e != NULL; e = e->next) {
		batch_now(r, e, module_find(r, e->module));
		conn_result(r, r->batch_id, e->module, &e->res);
	}
	batch_done(r);
	batch_free(r);
}

/* Prepares one module of a prepare batch; 0 if it is ready (or has
 * nothing to do), -1 if it failed. */
static int
batch_prepare_one(reloader_t *r, struct conn_entry *e, reloader_module_t *m)
{
	if (e->action == CONN_UNKNOWN) {
		batch_refuse(&e->res, m, "unknown action \"%.64s\"", e->bad);
		return -1;
	}
	if (m == NULL) {
		batch_refuse(&e->res, m, "not loaded here");
		return -1;
	}
	e->first = m->cur == NULL;
	if (module_prepare(m, &e->res, e->force, e->action == CONN_ROLLBACK ?
	    e->stamp : NULL) == -1) {
		batch_event(m, &e->res, e->first);
		return -1;
	}
	e->res.prepared = 1;
	return 0;
}

/* Gives up every module of the batch still prepared, and tells the host
 * so, with why as the reason. */
static void
batch_giveup_prepared(reloader_t *r, const char *why)
{
	struct conn_entry *e;
	reloader_module_t *m;

	for (e = r->batch; e != NULL; e = e->next) {
		if (!e->res.prepared || (m = module_find(r, e->module)) ==
		    NULL || m->prep == NULL)
			continue;
		module_giveup(m, &e->res, why);
		batch_event(m, &e->res, e->first);
	}
}

/*
 * Prepares every module of a version-2 batch, answers each and ends it.
 * If one failed, the others are given up at once: their results (still
 * "prepared": they were) say which module made them give up, the batch
 * is over, and the daemon takes the failure as this client's abort.
 * Otherwise the batch waits for the daemon's commit or abort.
 */
void
batch_prepare(reloader_t *r)
{
	struct conn_entry *e, *bad = NULL;
	struct rl_result res;
	reloader_module_t *m;
	char why[RL_ERR_MAX];
	int prepared = 0;

	r->in_batch = 1;
	for (e = r->batch; e != NULL; e = e->next) {
		m = module_find(r, e->module);
		if (m != NULL && !m->atomic && e->action != CONN_UNKNOWN) {
			batch_now(r, e, m);
			e->res.alone = 1;
		} else if (batch_prepare_one(r, e, m) == 0)
			prepared++;
		else if (bad == NULL)
			bad = e;
	}
	if (bad != NULL)
		snprintf(why, sizeof(why), "given up: %.100s failed: %.380s",
		    bad->module, bad->res.reason);
	for (e = r->batch; e != NULL; e = e->next) {
		if (bad == NULL || !e->res.prepared) {
			conn_result(r, r->batch_id, e->module, &e->res);
			continue;
		}
		res = e->res;
		snprintf(res.reason, sizeof(res.reason), "%s", why);
		conn_result(r, r->batch_id, e->module, &res);
	}
	batch_done(r);
	/* The daemon commits or aborts only once it has every answer. */
	conn_send_now(r);
	if (bad != NULL)
		batch_giveup_prepared(r, why);
	else if (prepared > 0) {
		r->prepared = 1;
		r->prepared_at = reloader_now();
		return;
	}
	batch_free(r);
}

/* Says whether calls are held for the batch prepared: some module of it
 * migrated its state, and waits for the commit or abort. */
int
batch_holding(reloader_t *r)
{
	struct conn_entry *e;
	reloader_module_t *m;

	if (!r->prepared)
		return 0;
	for (e = r->batch; e != NULL; e = e->next)
		if ((m = module_find(r, e->module)) != NULL && m->prep_held)
			return 1;
	return 0;
}

/*
 * Commits the batch prepared: every module of it becomes current at once
 * (module_commit), the daemon hears "committed" with the time of the
 * switch, the host an event per module, and the old versions are purged
 * as after any switch.
 */
void
batch_commit(reloader_t *r)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct conn_entry *e;
	reloader_module_t **ms;
	struct rl_result **res;
	size_t n = 0;
	double at;

	ms = calloc(r->batch_n + 1, sizeof(*ms));
	res = calloc(r->batch_n + 1, sizeof(*res));
	for (e = r->batch; e != NULL && ms != NULL && res != NULL;
	    e = e->next) {
		if (!e->res.prepared || (ms[n] = module_find(r, e->module)) ==
		    NULL || ms[n]->prep == NULL)
			continue;
		res[n++] = &e->res;
	}
	if (ms != NULL && res != NULL)
		at = module_commit(ms, res, n);
	else {
		/* Out of memory: one at a time, still at once for each. */
		at = reloader_now();
		for (e = r->batch; e != NULL; e = e->next) {
			struct rl_result *rp = &e->res;
			reloader_module_t *m = module_find(r, e->module);

			if (e->res.prepared && m != NULL && m->prep != NULL)
				module_commit(&m, &rp, 1);
		}
	}
	free(ms);
	free(res);

	proto_start(&o, buf, sizeof(buf), "committed");
	proto_addf(&o, "batch", "%llu", r->batch_id);
	proto_addf(&o, "at", "%.6f", at / 1000);
	conn_send(r, &o);
	for (e = r->batch; e != NULL; e = e->next) {
		reloader_module_t *m = module_find(r, e->module);

		if (e->res.prepared && e->res.at > 0 && m != NULL)
			batch_event(m, &e->res, e->first);
	}
	batch_free(r);
	module_purge_due(r);
}

/* Gives up the batch prepared, because of why; the daemon hears
 * "aborted" if it asked for the abort (tell). */
void
batch_abort(reloader_t *r, const char *why, int tell)
{
	char buf[PROTO_MAX_LINE], reason[RL_ERR_MAX];
	struct proto_out o;

	if (!r->prepared)
		return;
	snprintf(reason, sizeof(reason), "%s", why);
	batch_giveup_prepared(r, reason);
	if (tell) {
		proto_start(&o, buf, sizeof(buf), "aborted");
		proto_addf(&o, "batch", "%llu", r->batch_id);
		conn_send(r, &o);
	}
	batch_free(r);
}
