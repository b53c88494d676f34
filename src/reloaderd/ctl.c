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
static int
ctl_client_matches(const struct client *k, const char *which)
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

	state = client_reg_view(g, &disk, reason, sizeof(reason));
	ctl_start(c, &o, buf, sizeof(buf), "loaded");
	proto_addf(&o, "client", "%u", g->c->id);
	proto_add(&o, "module", g->module);
	proto_add(&o, "path", g->given);
	proto_stamp_format(&g->have, stamp, sizeof(stamp));
	proto_add(&o, "have", stamp);
	proto_stamp_format(&disk, stamp, sizeof(stamp));
	proto_add(&o, "disk", stamp);
	proto_add(&o, "stale", stamp_equal(&disk, &g->have) ? "no" : "yes");
	proto_add(&o, "state", state);
	proto_add(&o, "reason", reason);
	if (g->wp->target != NULL && strcmp(g->wp->target->path,
	    g->wp->path) != 0)
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
		if (!ctl_is_client(k) || !ctl_client_matches(k, which))
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
	size_t clients = 0, modules = 0, skipped = 0, mine;

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
			if (!reg_force(g, wanted_disk(g->wp, &dbuf),
			    rd->holds > 0)) {
				skipped++;
				continue;
			}
			if (g->state == REG_PENDING)
				k->dirty = 1;
			mine++;
		}
		if (mine > 0) {
			clients++;
			modules += mine;
		}
	}
	if (modules == 0 && skipped == 0 && module != NULL) {
		client_error(c, "not-loaded", "%s is not loaded in any "
		    "attached process", module);
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
	char buf[PROTO_MAX_LINE], err[PROTO_ERR_MAX];
	struct proto_out o;
	struct client *k;
	struct reg *g;
	size_t clients = 0, skipped = 0;

	if (proto_need(m, "module", &module, &code, err, sizeof(err)) == -1) {
		client_error(c, code, "%s", err);
		return -1;
	}
	for (k = rd->clients; k != NULL; k = k->next) {
		if (!ctl_is_client(k))
			continue;
		for (g = k->regs; g != NULL; g = g->next) {
			if (strcmp(g->module, module) != 0)
				continue;
			if (!reg_rollback(g, rd->holds > 0)) {
				skipped++;
				continue;
			}
			if (g->state == REG_PENDING)
				k->dirty = 1;
			clients++;
		}
	}
	if (clients == 0 && skipped == 0) {
		client_error(c, "not-loaded", "%s is not loaded in any "
		    "attached process", module);
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
	proto_add(&o, "held", rd->holds > 0 ? "yes" : "no");
	client_send(c, &o);
	return 0;
}

/* Sends one log line to a connection; id is the request's, for the lines
 * that answer it, NULL for those that follow. */
static int
ctl_send_log(struct client *c, const char *id, const struct timespec *ts,
    int pri, const char *msg)
{
	char buf[PROTO_MAX_LINE], when[32];
	struct proto_out o;

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
	const char *msg;
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
	for (; log_ring_get(i, &ts, &pri, &msg) == 0; i++)
		if (ctl_send_log(c, c->reqid, &ts, pri, msg) == -1)
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
ctl_log_line(const struct timespec *ts, int pri, const char *msg)
{
	struct client *k;

	if (nfollowers == 0)
		return;
	for (k = rd->clients; k != NULL; k = k->next)
		if (k->following && !k->dead)
			ctl_send_log(k, NULL, ts, pri, msg);
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
	struct client *k;
	int len;

	if ((len = proto_end(o)) == -1)
		return;
	for (k = rd->clients; k != NULL; k = k->next)
		if (k->subscribed && !k->dead)
			control_send(k, o->buf, (size_t)len);
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

/* Handles "hold [scope=connection]": no batches until release. */
static int
ctl_hold(struct client *c, struct proto_msg *m)
{
	const char *scope = proto_get(m, "scope");
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (scope != NULL && strcmp(scope, "connection") != 0) {
		client_error(c, "bad-field", "scope must be connection, not "
		    "\"%s\"", scope);
		return -1;
	}
	if (rd->holds++ == 0)
		clients_hold();
	if (scope != NULL)
		c->holds++;
	log_info("reloads held by %s%s (%d hold%s)", c->label,
	    scope ? " until it releases or disconnects" : "", rd->holds,
	    rd->holds == 1 ? "" : "s");
	ctl_hold_event("hold", 0, 0);
	ctl_ok(c, &o, buf, sizeof(buf), "hold");
	proto_addf(&o, "held", "%d", rd->holds);
	client_send(c, &o);
	return 0;
}

/* Counts the holds that no connection owns. */
static int
ctl_free_holds(void)
{
	struct client *k;
	int owned = 0;

	for (k = rd->clients; k != NULL; k = k->next)
		if (!k->dead)
			owned += k->holds;
	return rd->holds - owned;
}

/* Handles "release [deliver=no]": ends a hold; when the last ends, every
 * client gets one batch with all that changed, or nothing at all. */
static int
ctl_release(struct client *c, struct proto_msg *m)
{
	const char *deliver = proto_get(m, "deliver");
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	unsigned long offered, batches;
	size_t delivered = 0, clients = 0, discarded = 0;
	int keep;

	if (deliver != NULL && strcmp(deliver, "yes") != 0 &&
	    strcmp(deliver, "no") != 0) {
		client_error(c, "bad-field", "deliver must be yes or no");
		return -1;
	}
	keep = deliver == NULL || strcmp(deliver, "yes") == 0;
	if (rd->holds == 0) {
		client_error(c, "not-held", "reloads are not held");
		return -1;
	}
	if (c->holds == 0 && ctl_free_holds() == 0) {
		client_error(c, "not-held", "the holds in effect belong to "
		    "other connections, which release them themselves");
		return -1;
	}
	/* Read what the build wrote: to deliver it, or to drop it too. */
	if (!keep || rd->holds == 1)
		batch_catch_up();
	if (!keep)
		discarded = clients_discard();
	if (c->holds > 0)
		c->holds--;
	rd->holds--;
	if (rd->holds == 0) {
		offered = rd->stats.offered;
		batches = rd->stats.batches;
		clients_release(keep);
		clients_flush();
		delivered = rd->stats.offered - offered;
		clients = rd->stats.batches - batches;
	}
	if (!keep)
		log_info("reloads released by %s: %zu change%s discarded%s",
		    c->label, discarded, discarded == 1 ? "" : "s",
		    rd->holds ? " (still held by others)" : "");
	else if (rd->holds > 0)
		log_info("reloads released by %s; still held (%d hold%s)",
		    c->label, rd->holds, rd->holds == 1 ? "" : "s");
	else
		log_info("reloads released by %s: %zu module%s delivered to "
		    "%zu client%s", c->label, delivered, delivered == 1 ? "" :
		    "s", clients, clients == 1 ? "" : "s");
	ctl_hold_event("release", delivered, discarded);
	ctl_ok(c, &o, buf, sizeof(buf), "release");
	proto_addf(&o, "held", "%d", rd->holds);
	proto_addf(&o, "delivered", "%zu", delivered);
	proto_addf(&o, "clients", "%zu", clients);
	proto_addf(&o, "discarded", "%zu", discarded);
	client_send(c, &o);
	return 0;
}

/* Forgets what a closing connection asked of the control verbs; its own
 * holds end, and what changed under them is discarded, since whatever it
 * held for (a build) did not finish. */
void
ctl_forget(struct client *c)
{
	size_t discarded;

	if (c->subscribed) {
		c->subscribed = 0;
		nsubscribers--;
	}
	if (c->following) {
		c->following = 0;
		if (--nfollowers == 0)
			log_set_tap(NULL);
	}
	if (c->holds == 0)
		return;
	discarded = clients_discard();
	rd->holds -= c->holds;
	c->holds = 0;
	if (rd->holds == 0) {
		/* What stays held (forced reloads, rollbacks) goes out with
		 * the next batch, run at once. */
		clients_release(0);
		batch_arm();
	}
	log_warnx("%s went away holding reloads: %zu change%s discarded%s",
	    c->label, discarded, discarded == 1 ? "" : "s",
	    rd->holds ? " (still held by others)" : "");
	ctl_hold_event("release", 0, discarded);
}
