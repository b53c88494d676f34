/*
 * ctl.c: the control verbs that reloaderctl speaks (docs/PROTOCOL.md,
 * "Control"): status, list, reload, rollback, log, subscribe, hold and
 * release; and the event and log lines sent to the connections that asked
 * for them.
 *
 * Every answer is zero or more data lines and one "ok verb=VERB" line, each
 * carrying the request's id= when it had one; a request that cannot be met
 * gets one error line instead and changes nothing.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "reloaderd.h"

/* The most log lines one "log" request may ask for: the whole ring. */
#define CTL_LOG_MAX 1000

/* A control verb and the function that handles it. */
struct ctl_verb {
	const char *name;
	int (*fn)(struct client *, struct proto_msg *);
};

static int ctl_status(struct client *, struct proto_msg *);
static int ctl_list(struct client *, struct proto_msg *);
static int ctl_reload(struct client *, struct proto_msg *);
static int ctl_rollback(struct client *, struct proto_msg *);
static int ctl_rollback_of(struct client *, const char *, int);
static int ctl_log(struct client *, struct proto_msg *);
static int ctl_subscribe(struct client *, struct proto_msg *);
static int ctl_hold(struct client *, struct proto_msg *);
static int ctl_release(struct client *, struct proto_msg *);

static const struct ctl_verb ctl_verbs[] = {
	{ "status", ctl_status },
	{ "list", ctl_list },
	{ "reload", ctl_reload },
	{ "rollback", ctl_rollback },
	{ "log", ctl_log },
	{ "subscribe", ctl_subscribe },
	{ "hold", ctl_hold },
	{ "release", ctl_release },
	{ "releases", relay_releases },
};

static int nsubscribers;       /* connections that get events */
static int nfollowers;         /* connections that get log lines */

/* Handles a control verb; 1 if verb is not one. */
int
ctl_line(struct client *c, const char *verb, struct proto_msg *m)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_verbs) / sizeof(ctl_verbs[0]); i++)
		if (strcmp(ctl_verbs[i].name, verb) == 0)
			return ctl_verbs[i].fn(c, m);
	return 1;
}

/* Starts an answer line, with the request's id if it had one. */
static void
ctl_start(struct client *c, struct proto_out *o, char *buf, size_t len,
    const char *verb)
{
	proto_start(o, buf, len, verb);
	if (c->reqid != NULL)
		proto_add(o, "id", c->reqid);
}

/* Starts the "ok" line that ends an answer. */
static void
ctl_ok(struct client *c, struct proto_out *o, char *buf, size_t len,
    const char *verb)
{
	ctl_start(c, o, buf, len, "ok");
	proto_add(o, "verb", verb);
}

/* Says whether a connection is an attached process rather than a control
 * connection or one that never said hello. */
static int
ctl_is_client(const struct client *c)
{
	return !c->dead && c->name != NULL && !c->control;
}

/* Says whether connection c may steer client k (force its reloads, roll
 * it back): its own uid's clients, or every client for an admin. */
static int
ctl_may_steer(const struct client *c, const struct client *k)
{
	return c->cred.uid == k->cred.uid || cred_admin(&c->cred);
}

/* Reads a number from a file under /proc into buf; empty if it cannot. */
static void
ctl_proc_number(const char *path, char *buf, size_t len)
{
	FILE *fp;
	unsigned long long v;

	buf[0] = '\0';
	if ((fp = fopen(path, "re")) == NULL)
		return;
	if (fscanf(fp, "%llu", &v) == 1)
		snprintf(buf, len, "%llu", v);
	fclose(fp);
}

/* Counts the directories of a tree. */
static size_t
ctl_count_dirs(const struct dir *d)
{
	size_t n = 1;

	for (d = d->child; d != NULL; d = d->snext)
		n += ctl_count_dirs(d);
	return n;
}

/* Handles "status": the daemon, inotify, each root, and the counters. */
static int
ctl_status(struct client *c, struct proto_msg *m)
{
	static const char *const limits[] = { "max_user_watches",
	    "max_user_instances", "max_queued_events" };
	char buf[PROTO_MAX_LINE], num[32], path[64], key[32];
	struct proto_out o;
	struct client *k;
	struct root *r;
	struct reg *g;
	size_t clients = 0, controls = 0, modules = 0, i;

	ctl_start(c, &o, buf, sizeof(buf), "daemon");
	proto_add(&o, "version", RELOADER_VERSION);
	proto_addf(&o, "pid", "%ld", (long)getpid());
	proto_addf(&o, "uptime", "%.2f", ev_time() - rd->started);
	proto_add(&o, "socket", rd->conf.socket ? rd->conf.socket : "");
	proto_add(&o, "config", rd->conf.file ? rd->conf.file : "");
	proto_addf(&o, "settle", "%.0f", rd->conf.settle * 1000);
	proto_addf(&o, "interval", "%.0f", rd->conf.interval * 1000);
	proto_addf(&o, "held", "%d", rd->holds);
	if (client_send(c, &o) == -1)
		return 0;

	ctl_start(c, &o, buf, sizeof(buf), "inotify");
	proto_addf(&o, "watches", "%ld", inotify_watches());
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		snprintf(path, sizeof(path), "/proc/sys/fs/inotify/%s",
		    limits[i]);
		ctl_proc_number(path, num, sizeof(num));
		/* max_user_watches is sent as max-user-watches. */
		snprintf(key, sizeof(key), "%s", limits[i]);
		for (char *p = key; *p != '\0'; p++)
			if (*p == '_')
				*p = '-';
		proto_add(&o, key, num);
	}
	if (client_send(c, &o) == -1)
		return 0;

	for (r = rd->roots; r != NULL; r = r->next) {
		ctl_start(c, &o, buf, sizeof(buf), "root");
		proto_add(&o, "path", r->conf.path);
		proto_add(&o, "backend", r->backend == BACKEND_POLL ? "poll" :
		    "inotify");
		proto_addf(&o, "dirs", "%zu", r->top ? ctl_count_dirs(r->top) :
		    0);
		proto_addf(&o, "files", "%zu", r->nfiles);
		proto_addf(&o, "unread", "%zu", r->nunread);
		proto_add(&o, "implicit", r->implicit ? "yes" : "no");
		proto_add(&o, "state", r->shadowed ? "shadowed" :
		    r->top == NULL ? "missing" : "watching");
		if (client_send(c, &o) == -1)
			return 0;
	}

	for (k = rd->clients; k != NULL; k = k->next) {
		if (k->dead || k->name == NULL)
			continue;
		if (k->control) {
			controls++;
			continue;
		}
		clients++;
		for (g = k->regs; g != NULL; g = g->next)
			modules++;
	}
	ctl_start(c, &o, buf, sizeof(buf), "counts");
	proto_addf(&o, "clients", "%zu", clients);
	proto_addf(&o, "controls", "%zu", controls);
	proto_addf(&o, "modules", "%zu", modules);
	proto_addf(&o, "changes", "%lu", rd->stats.changes);
	proto_addf(&o, "batches", "%lu", rd->stats.batches);
	proto_addf(&o, "ok", "%lu", rd->stats.ok);
	proto_addf(&o, "load-failed", "%lu", rd->stats.loadfailed);
	proto_addf(&o, "rolled-back", "%lu", rd->stats.rolledback);
	proto_addf(&o, "test-failed", "%lu", rd->stats.testfailed);
	proto_addf(&o, "remote", "%lu", rd->stats.remote);
	proto_addf(&o, "rollbacks", "%lu", rd->stats.rollbacks);
	if (client_send(c, &o) == -1)
		return 0;

	ctl_ok(c, &o, buf, sizeof(buf), "status");
	client_send(c, &o);
	return 0;
}

/* Says whether a client is the one "client=" names, by id or name. */
int
ctl_names(const struct client *k, const char *which)
{
	char id[16];

	if (which == NULL)
		return 1;
	snprintf(id, sizeof(id), "%u", k->id);
	return strcmp(which, id) == 0 || strcmp(which, k->name) == 0;
}

/* Sends the "loaded" line of one registration. */
static int
ctl_list_reg(struct client *c, const struct reg *g)
{
	char buf[PROTO_MAX_LINE], stamp[PROTO_STAMP_MAX], reason[1024];
	struct proto_out o;
	struct stamp disk;
	const char *state;

	enum cred_sight sight = cred_sight(&c->cred, g->wp->path);

	state = client_reg_view(g, &disk, reason, sizeof(reason));
	ctl_start(c, &o, buf, sizeof(buf), "loaded");
	proto_addf(&o, "client", "%u", g->c->id);
	proto_add(&o, "module", g->module);
	/* Of a file its peer could not read, a peer learns no stamp; of
	 * one behind a shut directory, not even where it is. */
	proto_add(&o, "path", sight == CRED_BLIND ? "hidden" : g->given);
	proto_stamp_format(&g->have, stamp, sizeof(stamp));
	proto_add(&o, "have", sight == CRED_SEES ? stamp : "hidden");
	proto_stamp_format(&disk, stamp, sizeof(stamp));
	proto_add(&o, "disk", sight == CRED_SEES ? stamp : "hidden");
	proto_add(&o, "stale", stamp_equal(&disk, &g->have) ? "no" : "yes");
	proto_add(&o, "state", state);
	proto_add(&o, "reason", sight == CRED_BLIND ? "hidden" : reason);
	if (g->origin != NULL)
		proto_add(&o, "origin", g->origin);
	if (g->wp->target != NULL && sight != CRED_BLIND &&
	    strcmp(g->wp->target->path, g->wp->path) != 0)
		proto_add(&o, "target", g->wp->target->path);
	return client_send(c, &o);
}

/* Handles "list": attached clients and what each has loaded. */
static int
ctl_list(struct client *c, struct proto_msg *m)
{
	const char *which = proto_get(m, "client");
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct client *k;
	struct reg *g;
	size_t clients = 0, modules = 0, n;

	for (k = rd->clients; k != NULL; k = k->next) {
		if (!ctl_is_client(k) || !ctl_names(k, which))
			continue;
		for (n = 0, g = k->regs; g != NULL; g = g->next)
			n++;
		ctl_start(c, &o, buf, sizeof(buf), "client");
		proto_addf(&o, "client", "%u", k->id);
		proto_add(&o, "name", k->name);
		proto_addf(&o, "pid", "%ld", k->pid);
		proto_addf(&o, "uid", "%lu", (unsigned long)k->cred.uid);
		proto_addf(&o, "modules", "%zu", n);
		proto_addf(&o, "batch", "%lu", k->batch);
		proto_addf(&o, "attached", "%.2f", ev_now(rd->loop) -
		    k->since);
		if (client_send(c, &o) == -1)
			return 0;
		for (g = k->regs; g != NULL; g = g->next)
			if (ctl_list_reg(c, g) == -1)
				return 0;
		clients++;
		modules += n;
	}
	if (which != NULL && clients == 0) {
		client_error(c, "no-such-client", "no attached client has "
		    "id or name \"%s\"", which);
		return -1;
	}
	ctl_ok(c, &o, buf, sizeof(buf), "list");
	proto_addf(&o, "clients", "%zu", clients);
	proto_addf(&o, "modules", "%zu", modules);
	client_send(c, &o);
	return 0;
}

/* Handles "reload module=M" or "reload all=yes": offers modules again
 * even where the stamps match.  Registrations with a reload already out
 * or no complete file on disk are skipped and counted. */
static int
ctl_reload(struct client *c, struct proto_msg *m)
{
	const char *module = proto_get(m, "module"), *all = proto_get(m, "all");
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct stamp dbuf;
	struct client *k;
	struct reg *g;
	size_t clients = 0, modules = 0, skipped = 0, denied = 0, mine;

	if ((module == NULL) == (all == NULL || strcmp(all, "yes") != 0)) {
		client_error(c, module ? "bad-field" : "missing-field",
		    "reload takes module=NAME or all=yes, one of them");
		return -1;
	}
	for (k = rd->clients; k != NULL; k = k->next) {
		if (!ctl_is_client(k))
			continue;
		for (mine = 0, g = k->regs; g != NULL; g = g->next) {
			if (module != NULL && strcmp(g->module, module) != 0)
				continue;
			if (!ctl_may_steer(c, k)) {
				denied++;
				continue;
			}
			if (!reg_force(g, wanted_disk(g->wp, &dbuf),
			    client_held(k))) {
				skipped++;
				continue;
			}
			if (g->state == REG_PENDING)
				client_dirty(k);
			mine++;
		}
		if (mine > 0) {
			clients++;
			modules += mine;
		}
	}
	if (modules == 0 && skipped == 0 && denied == 0 && module != NULL) {
		client_error(c, "not-loaded", "%s is not loaded in any "
		    "attached process", module);
		return -1;
	}
	if (modules == 0 && skipped == 0 && denied > 0) {
		client_error(c, "denied", "uid %lu may reload only its own "
		    "processes' modules", (unsigned long)c->cred.uid);
		return -1;
	}
	log_info("%s: reload of %s forced in %zu client%s%s", c->label,
	    module ? log_esc(module) : "every module", clients,
	    clients == 1 ? "" : "s", skipped ? " (some skipped: reloading "
	    "already, or no complete file)" : "");
	ctl_ok(c, &o, buf, sizeof(buf), "reload");
	if (module != NULL)
		proto_add(&o, "module", module);
	proto_addf(&o, "clients", "%zu", clients);
	proto_addf(&o, "modules", "%zu", modules);
	proto_addf(&o, "skipped", "%zu", skipped);
	proto_addf(&o, "denied", "%zu", denied);
	proto_add(&o, "held", rd->holds > 0 ? "yes" : "no");
	client_send(c, &o);
	return 0;
}

/* Handles "rollback module=M": every client that has a previous version
 * of M goes back to it. */
static int
ctl_rollback(struct client *c, struct proto_msg *m)
{
	const char *module, *code;
	char err[PROTO_ERR_MAX];

	if (proto_need(m, "module", &module, &code, err, sizeof(err)) == -1) {
		client_error(c, code, "%s", err);
		return -1;
	}
	return ctl_rollback_of(c, module, 1);
}

/* Rolls module back in every client that has a previous version of it;
 * with alias, a name nobody registered may be an Erlang application's,
 * registered as app:NAME. */
static int
ctl_rollback_of(struct client *c, const char *module, int alias)
{
	char buf[PROTO_MAX_LINE], err[PROTO_ERR_MAX + 256];
	struct proto_out o;
	struct client *k;
	struct reg *g;
	size_t clients = 0, skipped = 0, denied = 0;

	for (k = rd->clients; k != NULL; k = k->next) {
		if (!ctl_is_client(k))
			continue;
		for (g = k->regs; g != NULL; g = g->next) {
			if (strcmp(g->module, module) != 0)
				continue;
			if (!ctl_may_steer(c, k)) {
				denied++;
				continue;
			}
			if (!reg_rollback(g, client_held(k))) {
				skipped++;
				continue;
			}
			if (g->state == REG_PENDING)
				client_dirty(k);
			clients++;
		}
	}
	if (clients == 0 && skipped == 0 && denied == 0) {
		/* An Erlang application goes by its .app: rollback nine9s
		 * means rollback app:nine9s. */
		if (alias && strncmp(module, "app:", 4) != 0 &&
		    strlen(module) < 200) {
			snprintf(err, sizeof(err), "app:%s", module);
			for (k = rd->clients; k != NULL; k = k->next)
				for (g = k->regs; ctl_is_client(k) && g != NULL;
				    g = g->next)
					if (strcmp(g->module, err) == 0)
						return ctl_rollback_of(c, err,
						    0);
		}
		client_error(c, "not-loaded", "%s is not loaded in any "
		    "attached process", module);
		return -1;
	}
	if (clients == 0 && skipped == 0) {
		client_error(c, "denied", "uid %lu may roll back only its own "
		    "processes' modules", (unsigned long)c->cred.uid);
		return -1;
	}
	if (clients == 0) {
		client_error(c, "no-previous", "no attached process has a "
		    "previous version of %s to go back to (none kept, or a "
		    "reload of it is under way)", module);
		return -1;
	}
	log_info("%s: rollback of %s asked of %zu client%s", c->label,
	    log_esc(module), clients, clients == 1 ? "" : "s");
	ctl_ok(c, &o, buf, sizeof(buf), "rollback");
	proto_add(&o, "module", module);
	proto_addf(&o, "clients", "%zu", clients);
	proto_addf(&o, "skipped", "%zu", skipped);
	proto_addf(&o, "denied", "%zu", denied);
	proto_add(&o, "held", rd->holds > 0 ? "yes" : "no");
	client_send(c, &o);
	return 0;
}

/* Sends one log line to a connection; id is the request's, for the lines
 * that answer it, NULL for those that follow.  A line about a file the
 * connection's peer could not read is sent without its text. */
static int
ctl_send_log(struct client *c, const char *id, const struct timespec *ts,
    int pri, const char *msg, const char *about)
{
	char buf[PROTO_MAX_LINE], when[32], hidden[128];
	struct proto_out o;

	if (about != NULL && cred_sight(&c->cred, about) != CRED_SEES) {
		snprintf(hidden, sizeof(hidden), "(hidden: a line about a file "
		    "uid %lu may not read)", (unsigned long)c->cred.uid);
		msg = hidden;
	}
	log_format_time(ts, when, sizeof(when));
	proto_start(&o, buf, sizeof(buf), "log");
	if (id != NULL)
		proto_add(&o, "id", id);
	proto_add(&o, "time", when);
	proto_add(&o, "level", log_level_name(pri));
	proto_add(&o, "msg", msg);
	return client_send(c, &o);
}

/* Handles "log [lines=N] [follow=yes]": the last lines from memory, then
 * new ones as they are logged. */
static int
ctl_log(struct client *c, struct proto_msg *m)
{
	const char *follow = proto_get(m, "follow");
	char buf[PROTO_MAX_LINE];
	unsigned long long lines = 10;
	struct proto_out o;
	struct timespec ts;
	const char *msg, *about;
	size_t have, i;
	int pri;

	if (proto_get(m, "lines") != NULL &&
	    proto_get_uint(m, "lines", &lines) == -1) {
		client_error(c, "bad-field", "lines must be a number");
		return -1;
	}
	if (follow != NULL && strcmp(follow, "yes") != 0 &&
	    strcmp(follow, "no") != 0) {
		client_error(c, "bad-field", "follow must be yes or no");
		return -1;
	}
	if (lines > CTL_LOG_MAX)
		lines = CTL_LOG_MAX;
	have = log_ring_count();
	i = have > lines ? have - (size_t)lines : 0;
	for (; log_ring_get(i, &ts, &pri, &msg, &about) == 0; i++)
		if (ctl_send_log(c, c->reqid, &ts, pri, msg, about) == -1)
			return 0;
	if (follow != NULL && strcmp(follow, "yes") == 0 && !c->following) {
		c->following = 1;
		nfollowers++;
		log_set_tap(ctl_log_line);
	}
	ctl_ok(c, &o, buf, sizeof(buf), "log");
	proto_addf(&o, "lines", "%zu", have < lines ? have : (size_t)lines);
	proto_add(&o, "follow", c->following ? "yes" : "no");
	client_send(c, &o);
	return 0;
}

/* Sends a line just logged to every connection that follows the log. */
void
ctl_log_line(const struct timespec *ts, int pri, const char *msg,
    const char *about)
{
	struct client *k;

	if (nfollowers == 0)
		return;
	for (k = rd->clients; k != NULL; k = k->next)
		if (k->following && !k->dead)
			ctl_send_log(k, NULL, ts, pri, msg, about);
}

/* Handles "subscribe": event lines from now on. */
static int
ctl_subscribe(struct client *c, struct proto_msg *m)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (!c->subscribed) {
		c->subscribed = 1;
		nsubscribers++;
	}
	ctl_ok(c, &o, buf, sizeof(buf), "subscribe");
	client_send(c, &o);
	return 0;
}

/* Says whether anyone has subscribed to events. */
int
ctl_subscribers(void)
{
	return nsubscribers;
}

/* Sends an event line, built by the caller, to every subscriber. */
void
ctl_event(struct proto_out *o)
{
	ctl_event_about(o, NULL);
}

/* Writes into out the line in (len bytes, with its LF) with what sight
 * forbids replaced by "hidden": the stamps, and for CRED_BLIND the paths
 * too; returns its length, or -1. */
static int
ctl_redact(const char *in, size_t len, enum cred_sight sight, char *out,
    size_t cap)
{
	static const char *const stamps[] = { "stamp", "was", "have", "disk" };
	static const char *const paths[] = { "path", "target", "was-target",
	    "reason" };
	char copy[PROTO_MAX_LINE + 1], err[PROTO_ERR_MAX];
	struct proto_msg m;
	struct proto_out o;
	const char *code, *v;
	size_t i, j;
	int hide;

	if (len == 0 || len > sizeof(copy))
		return -1;
	memcpy(copy, in, len - 1);
	copy[len - 1] = '\0';
	if (proto_parse(copy, len - 1, &m, &code, err, sizeof(err)) == -1)
		return -1;
	proto_start(&o, out, cap, m.verb);
	for (i = 0; i < m.n; i++) {
		hide = 0;
		for (j = 0; j < sizeof(stamps) / sizeof(stamps[0]); j++)
			hide |= strcmp(m.f[i].key, stamps[j]) == 0;
		for (j = 0; sight == CRED_BLIND &&
		    j < sizeof(paths) / sizeof(paths[0]); j++)
			hide |= strcmp(m.f[i].key, paths[j]) == 0;
		v = hide ? "hidden" : m.f[i].val;
		proto_add(&o, m.f[i].key, v);
	}
	return proto_end(&o);
}

/* Sends an event line to every subscriber; where it tells of the file at
 * about (not NULL), a subscriber that could not read that file gets it
 * without stamps (and without paths where a directory is shut to it). */
void
ctl_event_about(struct proto_out *o, const char *about)
{
	char red[PROTO_MAX_LINE];
	struct client *k;
	enum cred_sight sight;
	int len, rlen;

	if ((len = proto_end(o)) == -1)
		return;
	for (k = rd->clients; k != NULL; k = k->next) {
		if (!k->subscribed || k->dead)
			continue;
		sight = about != NULL ? cred_sight(&k->cred, about) : CRED_SEES;
		if (sight == CRED_SEES)
			control_send(k, o->buf, (size_t)len);
		else if ((rlen = ctl_redact(o->buf, (size_t)len, sight, red,
		    sizeof(red))) != -1)
			control_send(k, red, (size_t)rlen);
	}
}

/* Tells subscribers that holds changed. */
static void
ctl_hold_event(const char *type, size_t delivered, size_t discarded)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (nsubscribers == 0)
		return;
	proto_start(&o, buf, sizeof(buf), "event");
	proto_add(&o, "type", type);
	proto_addf(&o, "held", "%d", rd->holds);
	if (strcmp(type, "release") == 0) {
		proto_addf(&o, "delivered", "%zu", delivered);
		proto_addf(&o, "discarded", "%zu", discarded);
	}
	ctl_event(&o);
}

/* Names whom a hold keeps reloads from, for the log and the answer. */
static const char *
ctl_hold_whom(const struct hold *h, char *buf, size_t len)
{
	if (h->reach == HOLD_EVERYONE)
		snprintf(buf, len, "everyone");
	else
		snprintf(buf, len, "uid %lu", (unsigned long)h->uid);
	return buf;
}

/* Handles "hold [scope=connection|daemon]": no batches until release, for
 * every client if the peer is an admin, else for its own uid's clients;
 * the hold ends with the connection unless scope=daemon. */
static int
ctl_hold(struct client *c, struct proto_msg *m)
{
	const char *scope = proto_get(m, "scope");
	char buf[PROTO_MAX_LINE], whom[64];
	struct proto_out o;
	struct hold *h;

	if (scope != NULL && strcmp(scope, "connection") != 0 &&
	    strcmp(scope, "daemon") != 0) {
		client_error(c, "bad-field", "scope must be connection or "
		    "daemon, not \"%s\"", scope);
		return -1;
	}
	h = hold_take(c, scope != NULL && strcmp(scope, "daemon") == 0 ?
	    HOLD_DAEMON : HOLD_CONNECTION);
	clients_hold(h);
	log_info("reloads held for %s by %s%s (%d hold%s)",
	    ctl_hold_whom(h, whom, sizeof(whom)), c->label,
	    h->scope == HOLD_CONNECTION ? " until it releases or disconnects" :
	    " until released", rd->holds, rd->holds == 1 ? "" : "s");
	ctl_hold_event("hold", 0, 0);
	ctl_ok(c, &o, buf, sizeof(buf), "hold");
	proto_addf(&o, "held", "%d", rd->holds);
	proto_add(&o, "for", h->reach == HOLD_EVERYONE ? "all" : "uid");
	proto_add(&o, "scope", h->scope == HOLD_DAEMON ? "daemon" :
	    "connection");
	client_send(c, &o);
	return 0;
}

/* Ends hold h: what it held is discarded unless deliver, then offered to
 * the clients no other hold keeps.  Returns the changes discarded. */
static size_t
ctl_unhold(struct hold *h, int deliver)
{
	struct hold copy = *h;
	size_t discarded = 0;

	if (!deliver)
		discarded = clients_discard(h);
	hold_drop(h);
	clients_release(&copy, deliver);
	return discarded;
}

/* Handles "release [deliver=no]": ends this connection's hold, or one
 * that outlives its connection and that this peer may end; every client
 * it held, and no other hold keeps, gets one batch with all that changed,
 * or nothing at all. */
static int
ctl_release(struct client *c, struct proto_msg *m)
{
	const char *deliver = proto_get(m, "deliver");
	char buf[PROTO_MAX_LINE], whom[64];
	struct proto_out o;
	struct hold *h;
	unsigned long offered, batches;
	size_t delivered, clients, discarded;
	int keep;

	if (deliver != NULL && strcmp(deliver, "yes") != 0 &&
	    strcmp(deliver, "no") != 0) {
		client_error(c, "bad-field", "deliver must be yes or no");
		return -1;
	}
	/* A process's row of a releases answer is a release with req=. */
	if (proto_get(m, "req") != NULL)
		return relay_row(c, m);
	keep = deliver == NULL || strcmp(deliver, "yes") == 0;
	if (rd->holds == 0) {
		client_error(c, "not-held", "reloads are not held");
		return -1;
	}
	if ((h = hold_find(c)) == NULL) {
		client_error(c, "not-held", "the holds in effect belong to "
		    "other connections or users, who release them themselves");
		return -1;
	}
	ctl_hold_whom(h, whom, sizeof(whom));
	/* Read what the build wrote: to deliver it, or to drop it too. */
	batch_catch_up();
	offered = rd->stats.offered;
	batches = rd->stats.batches;
	discarded = ctl_unhold(h, keep);
	clients_flush();
	delivered = rd->stats.offered - offered;
	clients = rd->stats.batches - batches;
	if (!keep)
		log_info("reloads released for %s by %s: %zu change%s "
		    "discarded%s", whom, c->label, discarded, discarded == 1 ?
		    "" : "s", rd->holds ? " (other holds remain)" : "");
	else
		log_info("reloads released for %s by %s: %zu module%s "
		    "delivered to %zu client%s%s", whom, c->label, delivered,
		    delivered == 1 ? "" : "s", clients, clients == 1 ? "" : "s",
		    rd->holds ? " (other holds remain)" : "");
	ctl_hold_event("release", delivered, discarded);
	ctl_ok(c, &o, buf, sizeof(buf), "release");
	proto_addf(&o, "held", "%d", rd->holds);
	proto_addf(&o, "delivered", "%zu", delivered);
	proto_addf(&o, "clients", "%zu", clients);
	proto_addf(&o, "discarded", "%zu", discarded);
	client_send(c, &o);
	return 0;
}

/* Forgets what a closing connection asked of the control verbs; the holds
 * tied to it end, and what changed under them is discarded, since
 * whatever it held for (a build) did not finish; those asked to outlive
 * it stay. */
void
ctl_forget(struct client *c)
{
	struct hold *h, *next;
	size_t discarded = 0;
	int ended = 0;

	if (c->subscribed) {
		c->subscribed = 0;
		nsubscribers--;
	}
	if (c->following) {
		c->following = 0;
		if (--nfollowers == 0)
			log_set_tap(NULL);
	}
	for (h = hold_next_of(c, NULL); h != NULL; h = next) {
		next = hold_next_of(c, h);
		if (h->scope == HOLD_DAEMON) {
			h->owner = NULL;
			continue;
		}
		discarded += ctl_unhold(h, 0);
		ended++;
	}
	if (ended == 0)
		return;
	/* What stays held (forced reloads, rollbacks) goes out with the
	 * next batch, run at once. */
	batch_arm();
	log_warnx("%s went away holding reloads: %zu change%s discarded%s",
	    c->label, discarded, discarded == 1 ? "" : "s",
	    rd->holds ? " (other holds remain)" : "");
	ctl_hold_event("release", 0, discarded);
}
