/*
 * relay.c: requests a control connection makes of one attached process,
 * passed on and answered through the daemon (docs/PROTOCOL.md,
 * "releases"): an Erlang node's release_handler, driven by
 * `reloaderctl releases NODE ...`.
 *
 * The daemon sends the process "releases req=R op=OP [arg=X]"; the
 * process answers zero or more "release req=R ..." rows and one
 * "releases-done req=R status=ok|error [reason=...]"; the rows go to the
 * requester as "release id=I ..." and the end as "ok verb=releases" or an
 * error.  A request ends also when either side goes away, when the
 * process does not know the verb, or after RELAY_TIMEOUT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "reloaderd.h"

/* How long a release operation may take, in seconds: an install runs the
 * relup, which may migrate many processes. */
#define RELAY_TIMEOUT 120.0

/* One request out. */
struct relay {
	struct relay *next;
	unsigned long req;
	struct client *from;             /* the control connection */
	char *id;                        /* its request's id=, or NULL */
	struct client *to;               /* the process */
	size_t rows;
	ev_timer timer;
};

static struct relay *relays;
static unsigned long nextreq;

/* The operations release_handler offers, and whether each takes arg=. */
static const struct {
	const char *op;
	int arg;
} relay_ops[] = {
	{ "list", 0 }, { "unpack", 1 }, { "install", 1 }, { "permanent", 1 },
	{ "remove", 1 },
};

/* Frees a request. */
static void
relay_free(struct relay *r)
{
	struct relay **pp;

	for (pp = &relays; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	ev_timer_stop(rd->loop, &r->timer);
	free(r->id);
	free(r);
}

/* Ends a request with an error to its requester. */
static void
relay_fail(struct relay *r, const char *code, const char *msg)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (r->from != NULL && !r->from->dead) {
		proto_start(&o, buf, sizeof(buf), "error");
		proto_add(&o, "code", code);
		proto_add(&o, "msg", msg);
		if (r->id != NULL)
			proto_add(&o, "id", r->id);
		client_send(r->from, &o);
	}
	relay_free(r);
}

/* Ends a request that took too long. */
static void
relay_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct relay *r = w->data;
	char msg[256];

	snprintf(msg, sizeof(msg), "%s did not answer within %.0fs",
	    r->to->label, RELAY_TIMEOUT);
	relay_fail(r, "timeout", msg);
	clients_reap();
}

/* Handles "releases client=NAME|ID op=OP [arg=X]": asks that process's
 * release_handler, answering with its rows. */
int
relay_releases(struct client *c, struct proto_msg *m)
{
	const char *which = proto_get(m, "client"), *op = proto_get(m, "op");
	const char *arg = proto_get(m, "arg");
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct client *k, *to = NULL;
	struct relay *r;
	size_t i, n = sizeof(relay_ops) / sizeof(relay_ops[0]);

	if (which == NULL || op == NULL) {
		client_error(c, "missing-field", "releases needs client= and "
		    "op=");
		return -1;
	}
	for (i = 0; i < n && strcmp(relay_ops[i].op, op) != 0; i++)
		;
	if (i == n) {
		client_error(c, "bad-field", "op must be list, unpack, install, "
		    "permanent or remove, not \"%s\"", op);
		return -1;
	}
	if (relay_ops[i].arg != (arg != NULL && *arg != '\0')) {
		client_error(c, "bad-field", "releases op=%s %s arg=", op,
		    relay_ops[i].arg ? "needs" : "takes no");
		return -1;
	}
	for (k = rd->clients; k != NULL && to == NULL; k = k->next)
		if (!k->dead && k->name != NULL && !k->control &&
		    ctl_names(k, which))
			to = k;
	if (to == NULL) {
		client_error(c, "no-such-client", "no attached client has id "
		    "or name \"%s\"", which);
		return -1;
	}
	if (to->cred.uid != c->cred.uid && !cred_admin(&c->cred)) {
		client_error(c, "denied", "uid %lu may steer only its own "
		    "processes' releases", (unsigned long)c->cred.uid);
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (c->reqid != NULL && (r->id = strdup(c->reqid)) == NULL))
		fatal("relay_releases");
	r->req = ++nextreq;
	r->from = c;
	r->to = to;
	r->next = relays;
	relays = r;
	ev_timer_init(&r->timer, relay_timeout_cb, RELAY_TIMEOUT, 0.);
	r->timer.data = r;
	ev_timer_start(rd->loop, &r->timer);
	log_info("%s: releases %s%s%s asked of %s", c->label, log_esc(op),
	    arg ? " " : "", arg ? log_esc(arg) : "", to->label);
	proto_start(&o, buf, sizeof(buf), "releases");
	proto_addf(&o, "req", "%lu", r->req);
	proto_add(&o, "op", op);
	if (arg != NULL && *arg != '\0')
		proto_add(&o, "arg", arg);
	client_send(to, &o);
	return 0;
}

/* Finds the request req out to process c. */
static struct relay *
relay_find(const struct client *c, struct proto_msg *m)
{
	unsigned long long req;
	struct relay *r;

	if (proto_get_uint(m, "req", &req) == -1)
		return NULL;
	for (r = relays; r != NULL; r = r->next)
		if (r->req == req && r->to == c)
			return r;
	return NULL;
}

/* Handles a "release req=R ..." row from a process: to its requester,
 * as "release id=I ...". */
int
relay_row(struct client *c, struct proto_msg *m)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct relay *r;
	size_t i;

	if ((r = relay_find(c, m)) == NULL) {
		client_error(c, "bad-result", "no releases request %s is out",
		    proto_get(m, "req") ? proto_get(m, "req") : "(none)");
		return -1;
	}
	r->rows++;
	if (r->from == NULL || r->from->dead)
		return 0;
	proto_start(&o, buf, sizeof(buf), "release");
	if (r->id != NULL)
		proto_add(&o, "id", r->id);
	for (i = 0; i < m->n; i++)
		if (strcmp(m->f[i].key, "req") != 0 &&
		    strcmp(m->f[i].key, "id") != 0)
			proto_add(&o, m->f[i].key, m->f[i].val);
	client_send(r->from, &o);
	return 0;
}

/* Handles "releases-done req=R status=ok|error [reason=...]". */
int
relay_done(struct client *c, struct proto_msg *m)
{
	const char *status = proto_get(m, "status"), *reason;
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct relay *r;

	if ((r = relay_find(c, m)) == NULL) {
		client_error(c, "bad-result", "no releases request %s is out",
		    proto_get(m, "req") ? proto_get(m, "req") : "(none)");
		return -1;
	}
	reason = proto_get(m, "reason");
	if (status == NULL || strcmp(status, "ok") != 0) {
		log_warnx("releases in %s failed: %s", c->label,
		    reason ? log_esc(reason) : "no reason given");
		relay_fail(r, "release-failed", reason ? reason :
		    "the release operation failed");
		return 0;
	}
	log_info("releases in %s: ok, %zu row%s", c->label, r->rows,
	    r->rows == 1 ? "" : "s");
	if (r->from != NULL && !r->from->dead) {
		proto_start(&o, buf, sizeof(buf), "ok");
		if (r->id != NULL)
			proto_add(&o, "id", r->id);
		proto_add(&o, "verb", "releases");
		proto_addf(&o, "rows", "%zu", r->rows);
		if (reason != NULL)
			proto_add(&o, "reason", reason);
		client_send(r->from, &o);
	}
	relay_free(r);
	return 0;
}

/* A process said it does not know a verb: a request out to it cannot be
 * answered. */
void
relay_unknown(struct client *c)
{
	struct relay *r, *next;

	for (r = relays; r != NULL; r = next) {
		next = r->next;
		if (r->to == c)
			relay_fail(r, "not-supported", "that process does not "
			    "know releases (not an Erlang node, or an older "
			    "reloader_client)");
	}
}

/* Forgets the requests of, or to, a connection that goes away. */
void
relay_forget(struct client *c)
{
	struct relay *r, *next;
	char msg[256];

	for (r = relays; r != NULL; r = next) {
		next = r->next;
		/* The process's answer, when it comes, goes nowhere. */
		if (r->from == c)
			r->from = NULL;
		if (r->to == c) {
			snprintf(msg, sizeof(msg), "%s went away before it "
			    "answered", c->label);
			relay_fail(r, "release-failed", msg);
		}
	}
}

/* Tells whether a relay's timer runs: one does while any relay waits. */
int
relay_timing(void)
{
	return relays != NULL;
}
