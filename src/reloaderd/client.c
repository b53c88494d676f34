/*
 * client.c: what attached processes say and what they are told
 * (docs/PROTOCOL.md).
 *
 * A client registers the modules it has loaded with the stamp of what it
 * loaded.  The daemon watches each registered path (wanted.c), and
 * whenever the stamp on disk differs from the client's (at registration
 * already, or after a build), it sends the client a reload batch, one at
 * a time per client, and logs the client's answer for each module.  What
 * each registration waits for is its state (reg.c); this file feeds the
 * state machine what clients say and what the disk shows.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "proto.h"
#include "reloaderd.h"

/* Erroneous lines in a row after which a client is dropped. */
#define CLIENT_MAX_ERRORS 64

/* A verb and the function that handles it. */
struct verb {
	const char *name;
	int (*fn)(struct client *, struct proto_msg *);
	int before_hello;                /* allowed before the handshake */
};

static int client_hello(struct client *, struct proto_msg *);
static int client_register(struct client *, struct proto_msg *);
static int client_unregister(struct client *, struct proto_msg *);
static int client_result(struct client *, struct proto_msg *);
static int client_done(struct client *, struct proto_msg *);
static int client_purged(struct client *, struct proto_msg *);
static int client_ping(struct client *, struct proto_msg *);
static int client_pong(struct client *, struct proto_msg *);
static int client_peer_error(struct client *, struct proto_msg *);
static int client_committed(struct client *, struct proto_msg *);
static int client_aborted(struct client *, struct proto_msg *);
static int client_moved(struct client *, struct proto_msg *, const char *,
    const char *, const char *, const char *);

static const struct verb verbs[] = {
	{ "hello", client_hello, 1 },
	{ "register", client_register, 0 },
	{ "unregister", client_unregister, 0 },
	{ "result", client_result, 0 },
	{ "done", client_done, 0 },
	{ "purged", client_purged, 0 },
	{ "ping", client_ping, 0 },
	{ "pong", client_pong, 0 },
	{ "error", client_peer_error, 1 },
	{ "committed", client_committed, 0 },
	{ "watch-set", set_watch, 0 },
	{ "releases-done", relay_done, 0 },
	{ "unwatch-set", set_unwatch, 0 },
	{ "aborted", client_aborted, 0 },
	{ "watch-sources", sources_watch, 0 },
	{ "unwatch-sources", sources_unwatch, 0 },
};

static void client_regsum_cb(struct ev_loop *, ev_timer *, int);

/* How long registrations must pause before their summaries are logged,
 * and how long they are summed at most: a BEAM node's client registers
 * what it loaded at each of its polls (100 ms apart at the least), and a
 * loaded machine spreads a big load over many of them. */
#define CLIENT_REGSUM_DELAY 0.25
#define CLIENT_REGSUM_MAX 2.0

static ev_tstamp regsum_since;  /* the first registration not summed */

/* Sets up the tables of registered paths. */
void
clients_init(void)
{
	wanted_init();
	rd->started = ev_time();
	ev_init(&rd->regsum_ev, client_regsum_cb);
}

/* Forgets what a client's registration summary would say. */
static void
client_regsum_clear(struct client *c)
{
	free(c->regnote);
	free(c->regpath);
	c->regnote = c->regpath = NULL;
	c->newregs = 0;
}

/* Logs one line per client for the registrations it made since the last
 * one: a BEAM node registers hundreds of modules at once, and each is
 * logged at debug level only. */
static void
client_regsum_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c;
	size_t n;
	struct reg *r;

	for (c = rd->clients; c != NULL; c = c->next) {
		if (c->newregs == 0 || c->dead)
			continue;
		for (n = 0, r = c->regs; r != NULL; r = r->next)
			n++;
		if (c->newregs == 1 && c->regnote != NULL) {
			log_about(c->regpath);
			log_info("%s registered %s", c->label, c->regnote);
			log_about(NULL);
		} else
			log_info("%s registered %zu modules (%zu in all)",
			    c->label, c->newregs, n);
		client_regsum_clear(c);
	}
}

/* Counts a registration into its client's next summary line. */
static void
client_regsum_add(struct client *c, const char *note, const char *path)
{
	ev_tstamp left;

	if (c->newregs++ == 0 && (c->regnote = strdup(note)) != NULL)
		c->regpath = strdup(path);
	if (!ev_is_active(&rd->regsum_ev))
		regsum_since = ev_now(rd->loop);
	left = regsum_since + CLIENT_REGSUM_MAX - ev_now(rd->loop);
	ev_timer_stop(rd->loop, &rd->regsum_ev);
	ev_timer_set(&rd->regsum_ev, left < CLIENT_REGSUM_DELAY ?
	    (left > 0 ? left : 0.) : CLIENT_REGSUM_DELAY, 0.);
	ev_timer_start(rd->loop, &rd->regsum_ev);
}

/* Says whether reloads are held for client c now. */
int
client_held(const struct client *c)
{
	return rd->holds > 0 && hold_client_held(c);
}

/* Sends a client one line built with proto_out; -1 if it is dropped. */
int
client_send(struct client *c, struct proto_out *o)
{
	int len = proto_end(o);

	if (len == -1) {
		/* Only paths near PATH_MAX with every byte escaped get here. */
		log_warnx("%s: a \"%s\" line would exceed %d bytes; not sent",
		    c->label, o->buf, PROTO_MAX_LINE);
		return 0;
	}
	return control_send(c, o->buf, (size_t)len);
}

/* Answers the line just received with an error naming what was wrong. */
void
client_error(struct client *c, const char *code, const char *fmt, ...)
{
	char buf[PROTO_MAX_LINE], msg[1024];
	struct proto_out o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("%s line %lu: %s: %s", c->label, c->lineno, code, msg);
	proto_start(&o, buf, sizeof(buf), "error");
	proto_add(&o, "code", code);
	proto_add(&o, "msg", msg);
	proto_addf(&o, "line", "%lu", c->lineno);
	if (c->reqid != NULL)
		proto_add(&o, "id", c->reqid);
	client_send(c, &o);
	if (++c->errors >= CLIENT_MAX_ERRORS && !c->dead)
		control_drop(c, "dropped: %d erroneous lines in a row; it "
		    "does not speak the reloader protocol", c->errors);
}

/* Answers a line that was longer than the protocol allows. */
void
client_too_long(struct client *c)
{
	client_error(c, "too-long", "line longer than %d bytes (LF "
	    "included); discarded", PROTO_MAX_LINE);
}

/* Handles one line a client sent (without its LF; line[len] is
 * writable). */
void
client_line(struct client *c, char *line, size_t len)
{
	struct proto_msg m;
	const char *code;
	char err[PROTO_ERR_MAX];
	size_t i;
	int rc;

	if (proto_parse(line, len, &m, &code, err, sizeof(err)) == -1) {
		client_error(c, code, "%s", err);
		return;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, m.verb) == 0)
			break;
	if (c->name == NULL && (i == sizeof(verbs) / sizeof(verbs[0]) ||
	    !verbs[i].before_hello)) {
		client_error(c, "hello-first", "say hello first (\"%s\" "
		    "before the handshake)", m.verb);
		return;
	}
	c->reqid = proto_get(&m, "id");
	if (i < sizeof(verbs) / sizeof(verbs[0]))
		rc = verbs[i].fn(c, &m);
	else {
		/* Control verbs may mark clients dirty directly. */
		rd->flush_all = 1;
		if ((rc = ctl_line(c, m.verb, &m)) == 1) {
			client_error(c, "unknown-verb", "unknown verb \"%s\"",
			    m.verb);
			rc = -1;
		}
	}
	c->reqid = NULL;
	if (rc == 0)
		c->errors = 0;
	clients_flush();
}

/* Fetches a required field, answering an error if it is missing. */
static const char *
client_need(struct client *c, struct proto_msg *m, const char *key)
{
	const char *v, *code;
	char err[PROTO_ERR_MAX];

	if (proto_need(m, key, &v, &code, err, sizeof(err)) == -1) {
		client_error(c, code, "%s", err);
		return NULL;
	}
	return v;
}

/* Starts an event line about a client for subscribers. */
static void
client_event(struct client *c, const char *type, struct proto_out *o,
    char *buf, size_t len)
{
	proto_start(o, buf, len, "event");
	proto_add(o, "type", type);
	proto_addf(o, "client", "%u", c->id);
	proto_add(o, "name", c->name);
	proto_addf(o, "pid", "%ld", c->pid);
}

/* Handles "hello": picks the protocol version and says welcome. */
static int
client_hello(struct client *c, struct proto_msg *m)
{
	unsigned long long proto, min, pid;
	const char *name, *lib, *role;
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (c->name != NULL) {
		client_error(c, "hello-again", "already said hello as %s",
		    c->label);
		return -1;
	}
	if (client_need(c, m, "proto") == NULL ||
	    client_need(c, m, "pid") == NULL ||
	    (name = client_need(c, m, "name")) == NULL)
		return -1;
	if (proto_get_uint(m, "proto", &proto) == -1) {
		client_error(c, "bad-field", "proto must be a number");
		return -1;
	}
	min = proto;
	if (proto_get(m, "min") != NULL &&
	    (proto_get_uint(m, "min", &min) == -1 || min > proto)) {
		client_error(c, "bad-field", "min must be a number no "
		    "greater than proto");
		return -1;
	}
	if (proto_get_uint(m, "pid", &pid) == -1 || pid > INT_MAX) {
		client_error(c, "bad-field", "pid must be a process id");
		return -1;
	}
	if (strlen(name) == 0 || strlen(name) > 64) {
		client_error(c, "bad-field", "name must be 1 to 64 bytes");
		return -1;
	}
	role = proto_get(m, "role");
	if (role != NULL && strcmp(role, "client") != 0 &&
	    strcmp(role, "control") != 0) {
		client_error(c, "bad-field", "role must be client or control, "
		    "not \"%s\"", role);
		return -1;
	}
	if (min > RELOADERD_PROTO_MAX || proto < 1) {
		client_error(c, "version", "this reloaderd speaks protocol "
		    "versions 1 to %d; the client speaks %llu to %llu",
		    RELOADERD_PROTO_MAX, min, proto);
		log_warnx("%s: refused: it speaks protocol %llu to %llu, "
		    "not 1 to %d", c->label, min, proto, RELOADERD_PROTO_MAX);
		control_drop(c, "closed after a protocol version mismatch");
		return -1;
	}
	/* The highest version both speak. */
	c->proto = proto > RELOADERD_PROTO_MAX ? RELOADERD_PROTO_MAX :
	    (int)proto;
	if ((c->name = strdup(name)) == NULL)
		fatal("client_hello");
	c->pid = (long)pid;
	snprintf(c->label, sizeof(c->label), "%s[%ld]", log_esc(name),
	    c->pid);
	c->control = role != NULL && strcmp(role, "control") == 0;
	c->since = ev_now(rd->loop);
	lib = proto_get(m, "lib");
	if (c->control)
		log_debug("%s: control connection %u, uid %lu", c->label,
		    c->id, (unsigned long)c->cred.uid);
	else {
		log_info("%s attached (client %u, uid %lu%s%s)", c->label,
		    c->id, (unsigned long)c->cred.uid, lib ? ", " : "",
		    lib ? log_esc(lib) : "");
		if (ctl_subscribers()) {
			client_event(c, "attach", &o, buf, sizeof(buf));
			ctl_event(&o);
		}
		notify_status_changed();
	}
	proto_start(&o, buf, sizeof(buf), "welcome");
	proto_addf(&o, "proto", "%d", c->proto);
	proto_addf(&o, "server", "reloaderd/%s", RELOADER_VERSION);
	proto_addf(&o, "client", "%u", c->id);
	proto_addf(&o, "max-line", "%d", PROTO_MAX_LINE);
	client_send(c, &o);
	return 0;
}

/* Finds a client's registration of a module. */
static struct reg *
client_reg(struct client *c, const char *module)
{
	struct reg *r;

	for (r = c->regs; r != NULL; r = r->next)
		if (strcmp(r->module, module) == 0)
			return r;
	return NULL;
}

/* Counts the clients that have a path's module loaded. */
static size_t
wanted_count(const struct wpath *wp)
{
	const struct reg *r;
	size_t n = 0;

	for (r = wp->regs; r != NULL; r = r->pnext)
		n++;
	return n;
}

/* Returns the path of a registration as the log shows it. */
static const char *
reg_display(const struct reg *r)
{
	struct file *f;

	if (r->wp->target != NULL && strcmp(r->wp->target->path,
	    r->wp->path) == 0 && (f = file_lookup(r->wp->path)) != NULL)
		return root_display(file_root(f), file_path(f));
	return r->wp->path;
}

/* Takes a registration out of its client's list and its path's, and
 * stops watching a path nobody has loaded any more. */
static void
reg_free(struct reg *r)
{
	struct reg **pp;
	struct wpath *wp = r->wp;

	for (pp = &r->c->regs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	for (pp = &wp->regs; *pp != NULL; pp = &(*pp)->pnext)
		if (*pp == r) {
			*pp = r->pnext;
			break;
		}
	if (r->state == REG_OFFERED && r->c->inbatch > 0)
		r->c->inbatch--;
	wanted_put(wp);
	reg_clear(r);
	free(r->module);
	free(r->given);
	free(r->origin);
	free(r->note);
	free(r);
}

/* Gives the stamp of the module a registration's path leads to now, or
 * NULL when no complete module is there. */
static const struct stamp *
reg_disk(const struct reg *r, struct stamp *buf)
{
	return wanted_disk(r->wp, buf);
}

/* Marks a registration's client to be sent a batch if it waits for one. */
static void
reg_touch(struct reg *r)
{
	if (r->state == REG_PENDING)
		client_dirty(r->c);
}

/*
 * Says what a registration is waiting for, as `list` shows it: its state,
 * or, when no complete module is on disk now, why not.  Fills in the
 * stamp on disk (kind STAMP_NONE if there is none) and a reason that
 * says what ends the state.
 */
const char *
client_reg_view(const struct reg *r, struct stamp *disk, char *reason,
    size_t len)
{
	const char *cond;

	memset(disk, 0, sizeof(*disk));
	if (reg_disk(r, disk) == NULL)
		memset(disk, 0, sizeof(*disk));
	reason[0] = '\0';
	if (r->state == REG_OFFERED) {
		snprintf(reason, len, "in batch %lu", r->batch);
		return reg_state_name(r->state);
	}
	if ((cond = wanted_condition(r->wp, reason, len)) != NULL)
		return cond;
	if (r->reason != NULL)
		snprintf(reason, len, "%s; %s", r->reason,
		    reg_state_ends(r->state));
	else
		snprintf(reason, len, "%s", reg_state_ends(r->state));
	return reg_state_name(r->state);
}

/* Handles "register": checks the client may read the file, watches the
 * path, and compares stamps at once. */
static int
client_register(struct client *c, struct proto_msg *m)
{
	const char *module, *path, *stamp, *prevs, *cond, *origin;
	char err[PROTO_ERR_MAX + PATH_MAX], clean[PATH_MAX], note[2 * PATH_MAX];
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct stamp have, prev, dbuf;
	struct wpath *wp;
	struct reg *r;
	size_t n;
	int gone = 0;

	if ((module = client_need(c, m, "module")) == NULL ||
	    (path = client_need(c, m, "path")) == NULL ||
	    (stamp = client_need(c, m, "stamp")) == NULL)
		return -1;
	if (*module == '\0' || strlen(module) >= STAMP_MODULE_MAX) {
		client_error(c, "bad-field", "module must be 1 to %d bytes",
		    STAMP_MODULE_MAX - 1);
		return -1;
	}
	if (path[0] != '/') {
		client_error(c, "bad-field", "path must be absolute: %s",
		    path);
		return -1;
	}
	if (strlen(path) >= PATH_MAX) {
		client_error(c, "bad-field", "path longer than %d bytes",
		    PATH_MAX - 1);
		return -1;
	}
	if (proto_stamp_parse(stamp, &have) == -1) {
		client_error(c, "bad-field", "stamp \"%s\" is not KIND:VALUE "
		    "(build-id, version, content-md5, md5 or none)", stamp);
		return -1;
	}
	origin = proto_get(m, "origin");
	if (origin != NULL && (*origin == '\0' || strlen(origin) > 32)) {
		client_error(c, "bad-field", "origin must be 1 to 32 bytes");
		return -1;
	}
	memset(&prev, 0, sizeof(prev));
	if ((prevs = proto_get(m, "prev")) != NULL &&
	    proto_stamp_parse(prevs, &prev) == -1) {
		client_error(c, "bad-field", "prev \"%s\" is not KIND:VALUE",
		    prevs);
		return -1;
	}
	/*
	 * What the client may not see, it is not told about.  A file that
	 * is not there, of which the client runs a version, was deleted
	 * after it loaded it (while it or the daemon was away, as it comes
	 * back): registered all the same, so that `list` names what it runs
	 * and that the file is missing, until a file is there again.
	 */
	if (cred_can_read(&c->cred, path, err, sizeof(err)) == -1 &&
	    !(gone = errno == ENOENT && have.kind != STAMP_NONE)) {
		int e = errno;

		log_about(path);
		log_info("%s: not registering %s: %s", c->label,
		    log_esc(module), log_esc(err));
		log_about(NULL);
		if (e == ENOENT)
			client_error(c, "no-such-file", "%s: no such file",
			    path);
		else if (e == EACCES)
			client_error(c, "denied", "%s", err);
		else
			client_error(c, "not-a-module", "%s: %s", path, err);
		return -1;
	}

	if ((r = client_reg(c, module)) != NULL) {
		log_about(r->wp->path);
		log_info("%s registers %s again (was %s)", c->label,
		    log_esc(module), log_esc(r->given));
		log_about(NULL);
		reg_free(r);
	}
	wanted_clean(path, clean, sizeof(clean));
	wp = wanted_get(clean);
	cond = wanted_condition(wp, err, sizeof(err));
	/* There after all (made meanwhile): what the client may read. */
	if (gone && wp->target != NULL &&
	    cred_can_read(&c->cred, path, err, sizeof(err)) == -1) {
		client_error(c, errno == EACCES ? "denied" : "no-such-file",
		    "%s", err);
		wanted_put(wp);
		return -1;
	}
	if ((wp->target == NULL && !gone) || (cond != NULL &&
	    strcmp(cond, "invalid") == 0)) {
		client_error(c, wp->target ? "not-a-module" : "no-such-file",
		    "%s: %s", path, wp->target ? "not an ELF shared object "
		    "or BEAM file the daemon can read" : "gone before it could "
		    "be read");
		wanted_put(wp);
		return -1;
	}

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->module = strdup(module)) == NULL ||
	    (r->given = strdup(path)) == NULL ||
	    (origin != NULL && (r->origin = strdup(origin)) == NULL))
		fatal("client_register");
	r->c = c;
	r->wp = wp;
	r->next = c->regs;
	c->regs = r;
	r->pnext = wp->regs;
	wp->regs = r;
	/* Rebuilt while the client or the daemon was away? */
	reg_init(r, &have, &prev, reg_disk(r, &dbuf), client_held(r->c));
	reg_touch(r);

	n = wanted_count(wp);
	snprintf(note, sizeof(note), "%s (%s)%s", log_esc(module),
	    log_esc(reg_display(r)), n > 1 ? " (loaded by several clients)" :
	    "");
	log_about(wp->path);
	if (wp->target == NULL) {
		proto_stamp_format(&have, err, sizeof(err));
		log_info("%s registered %s, which it runs (%s) but whose file "
		    "is missing: %s; offered when a file is there again",
		    c->label, note, err, strerror(wp->err));
	} else
		log_debug("%s registered %s", c->label, note);
	log_about(NULL);
	client_regsum_add(c, note, wp->path);
	proto_start(&o, buf, sizeof(buf), "registered");
	proto_add(&o, "module", module);
	client_send(c, &o);
	return 0;
}

/* Handles "unregister". */
static int
client_unregister(struct client *c, struct proto_msg *m)
{
	const char *module;
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct reg *r;

	if ((module = client_need(c, m, "module")) == NULL)
		return -1;
	if ((r = client_reg(c, module)) == NULL) {
		client_error(c, "not-registered", "%s has not registered "
		    "\"%s\"", c->label, module);
		return -1;
	}
	log_about(r->wp->path);
	log_info("%s unregistered %s", c->label, log_esc(module));
	log_about(NULL);
	reg_free(r);
	proto_start(&o, buf, sizeof(buf), "unregistered");
	proto_add(&o, "module", module);
	client_send(c, &o);
	return 0;
}

/* Appends text to a log line being built. */
static void
result_add(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
result_add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Appends " - STAGE ... OUTCOME N ms" for a stage the client timed, or
 * that failed. */
static void
result_stage(char *buf, size_t len, struct proto_msg *m, const char *key,
    const char *stage, const char *failed)
{
	int bad = failed != NULL && strcmp(failed, key) == 0;
	double ms;

	if (proto_get_ms(m, key, &ms) == 0)
		result_add(buf, len, " - %s ... %s %.2f ms", stage,
		    bad ? "failed" : "ok", ms);
	else if (bad)
		result_add(buf, len, " - %s ... failed", stage);
}

/* Sends subscribers a "result" event: the client's result line, with
 * the status as the daemon reads it (a rollback that changed nothing is
 * not ok). */
static void
result_event(struct client *c, struct proto_msg *m, const char *status,
    const char *reason, const char *path)
{
	static const char *const keys[] = { "batch", "module", "stamp",
	    "load", "state", "test", "node", "failed", "with" };
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	const char *v;
	size_t i;

	if (!ctl_subscribers())
		return;
	client_event(c, "result", &o, buf, sizeof(buf));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((v = proto_get(m, keys[i])) != NULL)
			proto_add(&o, keys[i], v);
	proto_add(&o, "status", status);
	if (reason != NULL)
		proto_add(&o, "reason", reason);
	ctl_event_about(&o, path);
}

/* Counts a result by its status. */
static void
result_count(const char *status)
{
	if (strcmp(status, "ok") == 0)
		rd->stats.ok++;
	else if (strcmp(status, "test-failed") == 0)
		rd->stats.testfailed++;
	else if (strcmp(status, "load-failed") == 0)
		rd->stats.loadfailed++;
	else
		rd->stats.rolledback++;
}

/* The steps a result's failed= may name. */
static int
result_step_known(const char *step)
{
	return strcmp(step, "load") == 0 || strcmp(step, "purge") == 0 ||
	    strcmp(step, "code-change") == 0 || strcmp(step, "test") == 0;
}

/* Takes a module's "prepared" in a two-phase batch, and logs it. */
static int
client_prepared(struct client *c, struct reg *r, struct proto_msg *m,
    const char *status, const char *reason)
{
	static const char *const keys[3] = { "load", "state", "test" };
	char line[1536];
	double load = 0;
	size_t i;

	reg_prepared(r);
	c->inbatch--;
	c->nprepared++;
	proto_get_ms(m, "load", &load);
	for (i = 0; i < 3; i++)
		if (proto_get_ms(m, keys[i], &r->times[i]) == -1)
			r->times[i] = -1;
	/* The times and warnings, for the line logged at the switch. */
	line[0] = '\0';
	if (proto_get(m, "load") != NULL)
		result_add(line, sizeof(line), " %.2f ms", load);
	result_stage(line, sizeof(line), m, "state", "code_change", NULL);
	result_stage(line, sizeof(line), m, "test", "test",
	    strcmp(status, "test-failed") == 0 ? "test" : NULL);
	if (strcmp(status, "test-failed") == 0)
		result_add(line, sizeof(line), " (kept)");
	if (reason != NULL)
		result_add(line, sizeof(line), ": %s", log_esc(reason));
	free(r->note);
	if ((r->note = strdup(line)) == NULL)
		fatal("client_prepared");
	log_about(r->wp->path);
	log_debug("%s %s (%s) in %s ... prepared%s",
	    r->action == REG_ROLLBACK ? "rolling back" : "reloading",
	    log_esc(r->module), log_esc(reg_display(r)), c->label, line);
	log_about(NULL);
	result_event(c, m, "prepared", reason, r->wp->path);
	return 0;
}

/* Tells subscribers how a module that prepared came out of its switch:
 * ok, or rolled back since the switch aborted. */
static void
client_switch_event(struct client *c, struct reg *r, int committed,
    const char *why)
{
	static const char *const keys[3] = { "load", "state", "test" };
	char buf[PROTO_MAX_LINE], stamp[PROTO_STAMP_MAX];
	struct proto_out o;
	size_t i;

	if (!ctl_subscribers())
		return;
	client_event(c, "result", &o, buf, sizeof(buf));
	proto_addf(&o, "batch", "%lu", c->batch);
	proto_add(&o, "module", r->module);
	proto_add(&o, "status", committed ? "ok" : "rolled-back");
	proto_stamp_format(committed ? &r->offered : &r->have, stamp,
	    sizeof(stamp));
	proto_add(&o, "stamp", stamp);
	for (i = 0; i < 3; i++)
		if (r->times[i] >= 0)
			proto_addf(&o, keys[i], "%.2f", r->times[i]);
	if (!committed) {
		proto_add(&o, "failed", "abort");
		proto_add(&o, "reason", why);
	}
	ctl_event_about(&o, r->wp->path);
}

/* Ends the batch a client has out; what waited behind it is noted for
 * clients_flush. */
static void
client_batch_over(struct client *c)
{
	c->lastbatch = c->batch;
	c->batch = 0;
	c->inbatch = 0;
	c->phase = PHASE_IDLE;
	if (c->dirty)
		client_dirty(c);
}

/* Ends a client's part in a switch: each module it prepared is current
 * (committed) or back on its old version (not), its batch is over. */
static void
client_switched(struct client *c, int committed, const char *why)
{
	struct stamp dbuf, now;
	struct reg *r;

	for (r = c->regs; r != NULL; r = r->next) {
		if (r->state != REG_PREPARED || r->batch != c->batch)
			continue;
		now = committed ? r->offered : r->have;
		log_about(r->wp->path);
		if (committed) {
			log_info("%s %s (%s) in %s ... ok%s%s%s",
			    r->action == REG_ROLLBACK ? "rolling back" :
			    "reloading", log_esc(r->module),
			    log_esc(reg_display(r)), c->label,
			    r->note ? r->note : "", *why ? ", with " : "",
			    why);
			rd->stats.ok++;
			if (r->action == REG_ROLLBACK)
				rd->stats.rollbacks++;
			notify_last_reload("%s in %s ok %.2f ms", r->module,
			    c->label, r->times[0] >= 0 ? r->times[0] : 0);
		} else {
			log_warnx("%s %s (%s) in %s ... aborted: %s",
			    r->action == REG_ROLLBACK ? "rolling back" :
			    "reloading", log_esc(r->module),
			    log_esc(reg_display(r)), c->label, log_esc(why));
			rd->stats.rolledback++;
		}
		log_about(NULL);
		free(r->note);
		r->note = NULL;
		client_switch_event(c, r, committed, why);
		reg_result(r, committed ? REG_OK : REG_ABORTED, &now,
		    reg_disk(r, &dbuf), client_held(c), committed ? NULL :
		    why);
		reg_touch(r);
	}
	free(c->failure);
	c->failure = NULL;
	client_batch_over(c);
}

/* Handles "committed": the client switched everything it prepared. */
static int
client_committed(struct client *c, struct proto_msg *m)
{
	unsigned long long batch;
	char why[64];
	double at = 0;

	if (client_need(c, m, "batch") == NULL)
		return -1;
	if (proto_get_uint(m, "batch", &batch) == -1 || c->batch == 0 ||
	    batch != c->batch || c->phase != PHASE_COMMIT) {
		client_error(c, "bad-result", "batch %s was not told to commit",
		    proto_get(m, "batch"));
		return -1;
	}
	if (proto_get(m, "at") != NULL && proto_get_ms(m, "at", &at) == -1) {
		client_error(c, "bad-field", "at must be a time in seconds");
		return -1;
	}
	/* Alone, it switched as a version-1 client does: no need to say. */
	if (c->upgrade->nmembers > 1)
		snprintf(why, sizeof(why), "switch %lu", c->upgrade->id);
	else
		why[0] = '\0';
	client_switched(c, 1, why);
	upgrade_acked(c, 1, at);
	return 0;
}

/* Handles "aborted": the client gave up what it prepared, when told to
 * abort; or, told to commit, it could not switch after all (an Erlang
 * node whose code_change failed after finish_loading) and runs its old
 * code again. */
static int
client_aborted(struct client *c, struct proto_msg *m)
{
	const char *reason = proto_get(m, "reason");
	unsigned long long batch;
	char why[1024];

	if (client_need(c, m, "batch") == NULL)
		return -1;
	if (proto_get_uint(m, "batch", &batch) == -1 || c->batch == 0 ||
	    batch != c->batch || (c->phase != PHASE_ABORT &&
	    c->phase != PHASE_COMMIT)) {
		client_error(c, "bad-result", "batch %s was not told to abort",
		    proto_get(m, "batch"));
		return -1;
	}
	if (c->phase == PHASE_COMMIT)
		snprintf(why, sizeof(why), "switch %lu: %s could not switch "
		    "and runs its old code%s%s", c->upgrade->id, c->label,
		    reason ? ": " : "", reason ? reason : "");
	else
		snprintf(why, sizeof(why), "switch %lu aborted: %s",
		    c->upgrade->id, c->upgrade->reason ? c->upgrade->reason :
		    "?");
	client_switched(c, 0, why);
	upgrade_acked(c, 0, 0);
	return 0;
}

/*
 * Handles "result": logs how one module's reload ended and feeds it to
 * the registration's state.  A result with node= is another node's,
 * which the client pushed the module to: logged and counted only.
 */
/*
 * Handles a result with with=W: the module was not in the batch, but the
 * client switched it along with W, which was (an Erlang application's
 * downgrade loads the old code of the application's modules).  Its
 * registration takes the stamp it runs now, so that `list` says what
 * runs: rolled back, after a rollback.
 */
static int
client_moved(struct client *c, struct proto_msg *m, const char *module,
    const char *status, const char *stamp, const char *with)
{
	struct stamp now, dbuf;
	struct reg *r, *w;

	if ((w = client_reg(c, with)) == NULL || w->batch != c->batch) {
		client_error(c, "bad-result", "%s (with=) is not in batch %lu",
		    with, c->batch);
		return -1;
	}
	if ((r = client_reg(c, module)) == NULL) {
		client_error(c, "bad-result", "%s is not registered", module);
		return -1;
	}
	if (r->batch == c->batch && (r->state == REG_OFFERED ||
	    r->state == REG_PREPARED)) {
		client_error(c, "bad-result", "%s is in batch %lu itself; its "
		    "result has no with=", module, c->batch);
		return -1;
	}
	if (strcmp(status, "ok") != 0) {
		client_error(c, "bad-field", "status \"%s\" with with=: a "
		    "module switched along with another is ok", status);
		return -1;
	}
	if (proto_stamp_parse(stamp, &now) == -1) {
		client_error(c, "bad-field", "stamp \"%s\" is not KIND:VALUE",
		    stamp);
		return -1;
	}
	if (!reg_moved(r, &now, reg_disk(r, &dbuf), client_held(c),
	    w->action == REG_ROLLBACK))
		return 0;
	reg_touch(r);
	log_about(r->wp->path);
	log_info("%s %s (%s) in %s with %s ... ok",
	    w->action == REG_ROLLBACK ? "rolling back" : "reloading",
	    log_esc(module), log_esc(reg_display(r)), c->label,
	    log_esc(with));
	log_about(NULL);
	result_event(c, m, status, NULL, r->wp->path);
	return 0;
}

static int
client_result(struct client *c, struct proto_msg *m)
{
	const char *module, *status, *stamp, *reason, *node, *failed;
	const struct stamp *disk;
	unsigned long long batch;
	struct stamp now, dbuf;
	enum reg_outcome out;
	struct reg *r;
	char line[1536], where[256];
	double load = 0;
	int ok, kept, prepared, alone, rollback, switched;
	enum reg_ok how = REG_OK_AS_OFFERED;

	if (client_need(c, m, "batch") == NULL ||
	    (module = client_need(c, m, "module")) == NULL ||
	    (status = client_need(c, m, "status")) == NULL ||
	    (stamp = client_need(c, m, "stamp")) == NULL)
		return -1;
	node = proto_get(m, "node");
	if (node != NULL && *node == '\0')
		node = NULL;
	/* Another node's result may come after the batch ended too (the
	 * client pushes a switch to other nodes once it committed). */
	if (proto_get_uint(m, "batch", &batch) == -1 || batch == 0 ||
	    (batch != c->batch && (node == NULL || batch != c->lastbatch))) {
		client_error(c, "bad-result", "batch %s is not out (%s)",
		    proto_get(m, "batch"), c->batch ? "another one is" :
		    "none is");
		return -1;
	}
	if (node == NULL && c->phase != PHASE_LOAD &&
	    c->phase != PHASE_PREPARE && c->phase != PHASE_COMMIT) {
		client_error(c, "bad-result", "batch %lu is done; no more "
		    "results for it", c->batch);
		return -1;
	}
	if (node == NULL && proto_get(m, "with") != NULL)
		return client_moved(c, m, module, status, stamp,
		    proto_get(m, "with"));
	/* Another node's result may come after the client's own. */
	if ((r = client_reg(c, module)) == NULL ||
	    (r->state != REG_OFFERED && !(r->state == REG_PREPARED &&
	    c->phase == PHASE_COMMIT) && (node == NULL ||
	    r->batch != batch))) {
		client_error(c, "bad-result", "%s is not in batch %llu",
		    module, batch);
		return -1;
	}
	ok = strcmp(status, "ok") == 0;
	kept = strcmp(status, "test-failed") == 0;
	prepared = strcmp(status, "prepared") == 0;
	if (prepared && c->phase != PHASE_PREPARE) {
		client_error(c, "bad-field", "status \"prepared\" answers a "
		    "prepare, and batch %lu is not one", c->batch);
		return -1;
	}
	if (!ok && !kept && !prepared && strcmp(status, "load-failed") != 0 &&
	    strcmp(status, "rolled-back") != 0) {
		client_error(c, "bad-field", "status \"%s\" is not ok, "
		    "prepared, load-failed, test-failed or rolled-back", status);
		return -1;
	}
	if (proto_stamp_parse(stamp, &now) == -1) {
		client_error(c, "bad-field", "stamp \"%s\" is not KIND:VALUE",
		    stamp);
		return -1;
	}
	failed = proto_get(m, "failed");
	if (failed != NULL && !result_step_known(failed)) {
		client_error(c, "bad-field", "failed \"%s\" is not load, "
		    "purge, code-change or test", failed);
		return -1;
	}
	if (failed == NULL && kept)
		failed = "test";
	reason = proto_get(m, "reason");
	if (reason != NULL && *reason == '\0')
		reason = NULL;
	proto_get_ms(m, "load", &load);
	rollback = (r->state == REG_OFFERED || r->state == REG_PREPARED) &&
	    r->action == REG_ROLLBACK;
	/* Prepared (a kept test failure counts): it waits for the switch. */
	/* A module switched on its own (alone=yes) is answered as in
	 * version 1; it takes no part in the switch. */
	alone = proto_get(m, "alone") != NULL &&
	    strcmp(proto_get(m, "alone"), "yes") == 0;
	if (node == NULL && c->phase == PHASE_PREPARE &&
	    (prepared || (kept && !alone)))
		return client_prepared(c, r, m, status, reason);
	if (prepared) {
		client_error(c, "bad-field", "status \"prepared\" is for the "
		    "client's own result, not node=");
		return -1;
	}

	if (node != NULL) {
		rd->stats.remote++;
		snprintf(where, sizeof(where), "node %s via %s",
		    log_esc(node), c->label);
		switched = ok || kept;
	} else {
		snprintf(where, sizeof(where), "%s", c->label);
		if (ok || kept)
			out = REG_OK;
		else if (failed != NULL && strcmp(failed, "purge") == 0)
			out = REG_NOT_PURGED;
		else
			out = REG_REFUSED;
		if (c->phase != PHASE_COMMIT)
			c->inbatch--;
		if (c->phase == PHASE_PREPARE && !alone && !ok && !kept &&
		    c->failure == NULL && asprintf(&c->failure, "%s failed in %s%s%s", module,
		    c->label, reason ? ": " : "", reason ? reason : "") == -1)
			fatal("client_result");
		disk = reg_disk(r, &dbuf);
		if (out == REG_OK)
			how = reg_ok_check(r, &now, disk);
		switched = reg_result(r, out, &now, disk, client_held(r->c),
		    reason);
		reg_touch(r);
		/* It loaded a file that changed after it was read. */
		if (how == REG_OK_OTHER)
			wanted_reread(r->wp);
		/* A rollback that left the same version running failed. */
		if (rollback && (ok || kept) && !switched) {
			status = "load-failed";
			ok = kept = 0;
			if (reason == NULL)
				reason = "nothing changed";
		}
		result_count(status);
		if (rollback && switched)
			rd->stats.rollbacks++;
	}

	snprintf(line, sizeof(line), "%s %s (%s) in %s ... ", rollback ?
	    "rolling back" : "reloading", log_esc(module),
	    log_esc(reg_display(r)), where);
	if (ok || kept) {
		result_add(line, sizeof(line), "ok");
		if (proto_get(m, "load") != NULL)
			result_add(line, sizeof(line), " %.2f ms", load);
		result_stage(line, sizeof(line), m, "state", "code_change",
		    failed != NULL && strcmp(failed, "code-change") == 0 ?
		    "state" : NULL);
		result_stage(line, sizeof(line), m, "test", "test",
		    kept ? "test" : NULL);
		if (kept)
			result_add(line, sizeof(line), " (kept)");
		if (how == REG_OK_OTHER)
			result_add(line, sizeof(line), ", but the file "
			    "changed after it was read: it runs %s; reading "
			    "the file again", stamp);
		else if (how == REG_OK_UNCHANGED)
			result_add(line, sizeof(line), ", but it still runs "
			    "%s; not offered again until the file changes",
			    stamp);
	} else if (rollback) {
		result_add(line, sizeof(line), "failed");
		if (proto_get(m, "load") != NULL)
			result_add(line, sizeof(line), " %.2f ms", load);
	} else if (failed != NULL && strcmp(failed, "purge") == 0) {
		result_add(line, sizeof(line), "not loaded: old code still "
		    "runs; offered again once it is purged");
	} else if (strcmp(status, "load-failed") == 0) {
		result_add(line, sizeof(line), "load failed");
		if (proto_get(m, "load") != NULL)
			result_add(line, sizeof(line), " %.2f ms", load);
	} else {
		result_add(line, sizeof(line), "rolled back %.2f ms", load);
		/* Which stage failed is known only from failed=. */
		if (failed != NULL && strcmp(failed, "code-change") == 0)
			result_stage(line, sizeof(line), m, "state",
			    "code_change", "state");
		else if (failed != NULL && strcmp(failed, "test") == 0) {
			result_stage(line, sizeof(line), m, "state",
			    "code_change", NULL);
			result_stage(line, sizeof(line), m, "test", "test",
			    "test");
		}
	}
	if (reason != NULL)
		result_add(line, sizeof(line), ": %s", log_esc(reason));
	if (rollback && !ok && !kept && node == NULL)
		result_add(line, sizeof(line), " (still on %s)", stamp);
	log_about(r->wp->path);
	if (ok && !kept)
		log_info("%s", line);
	else
		log_warnx("%s", line);
	log_about(NULL);
	notify_last_reload("%s in %s %s %.2f ms", module, where, status, load);
	result_event(c, m, status, reason, r->wp->path);
	return 0;
}

/* Handles "done": ends the batch out, and sends the next if one waits.
 * A module left unanswered failed. */
static int
client_done(struct client *c, struct proto_msg *m)
{
	unsigned long long batch;
	struct stamp dbuf, have;
	struct reg *r;
	int missing = 0;

	if (client_need(c, m, "batch") == NULL)
		return -1;
	if (proto_get_uint(m, "batch", &batch) == -1 || c->batch == 0 ||
	    batch != c->batch || (c->phase != PHASE_LOAD &&
	    c->phase != PHASE_PREPARE)) {
		client_error(c, "bad-result", "batch %s is not out",
		    proto_get(m, "batch"));
		return -1;
	}
	for (r = c->regs; r != NULL; r = r->next) {
		if (r->state != REG_OFFERED)
			continue;
		log_about(r->wp->path);
		log_warnx("%s %s (%s) in %s ... no result", r->action ==
		    REG_ROLLBACK ? "rolling back" : "reloading",
		    log_esc(r->module), log_esc(reg_display(r)), c->label);
		log_about(NULL);
		have = r->have;
		reg_result(r, REG_REFUSED, &have, reg_disk(r, &dbuf),
		    client_held(r->c), "no result");
		reg_touch(r);
		if (c->failure == NULL && asprintf(&c->failure, "%s gave no "
		    "result for %s", c->label, r->module) == -1)
			fatal("client_done");
		missing++;
	}
	if (c->phase == PHASE_PREPARE) {
		/* All prepared: wait for the others.  Else it gave up what
		 * it prepared, and the whole switch aborts. */
		if (c->failure == NULL && c->nprepared == 0) {
			/* Every module switched on its own: nothing waits. */
			client_batch_over(c);
			upgrade_skip(c);
		} else if (c->failure == NULL)
			upgrade_ready(c);
		else {
			char *why = c->failure;

			c->failure = NULL;
			client_switched(c, 0, why);
			upgrade_failed(c, why);
			free(why);
		}
	} else
		client_batch_over(c);
	if (missing > 0) {
		client_error(c, "bad-result", "done before %d module%s of "
		    "batch %llu had a result", missing, missing == 1 ? "" :
		    "s", batch);
		return -1;
	}
	return 0;
}

/* Handles "purged": logs that an old version left (or stayed), and offers
 * what its presence held up. */
static int
client_purged(struct client *c, struct proto_msg *m)
{
	const char *module, *stamp, *unmapped, *reason;
	struct stamp dbuf;
	struct reg *r;
	double after = 0;

	if ((module = client_need(c, m, "module")) == NULL ||
	    (stamp = client_need(c, m, "stamp")) == NULL ||
	    (unmapped = client_need(c, m, "unmapped")) == NULL)
		return -1;
	proto_get_ms(m, "after", &after);
	reason = proto_get(m, "reason");
	r = client_reg(c, module);
	log_about(r != NULL ? r->wp->path : NULL);
	if (strcmp(unmapped, "yes") == 0)
		log_info("purged old %s (%s) in %s after %.2f ms", log_esc(module),
		    log_esc(stamp), c->label, after);
	else
		log_info("purged old %s (%s) in %s after %.2f ms, but its "
		    "image stays mapped%s%s", log_esc(module), log_esc(stamp),
		    c->label, after, reason ? ": " : "",
		    reason ? log_esc(reason) : "");
	log_about(NULL);
	/* The client refuses a whole batch for one module's old code, so
	 * whatever waits for a purge in it may go now. */
	for (r = c->regs; r != NULL; r = r->next) {
		reg_purged(r, reg_disk(r, &dbuf), client_held(r->c));
		reg_touch(r);
	}
	return 0;
}

/* Handles "ping": answers pong with the same id. */
static int
client_ping(struct client *c, struct proto_msg *m)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	const char *id = proto_get(m, "id");

	proto_start(&o, buf, sizeof(buf), "pong");
	if (id != NULL)
		proto_add(&o, "id", id);
	client_send(c, &o);
	return 0;
}

/* Handles "pong"; the daemon sends no pings yet, so there is nothing to
 * match it with. */
static int
client_pong(struct client *c, struct proto_msg *m)
{
	return 0;
}

/* Handles an "error" a client reports about what the daemon sent; never
 * answered, so that two sides cannot trade errors forever. */
static int
client_peer_error(struct client *c, struct proto_msg *m)
{
	const char *code = proto_get(m, "code"), *msg = proto_get(m, "msg");

	log_warnx("%s reports an error: %s: %s", c->label,
	    code ? log_esc(code) : "?", msg ? log_esc(msg) : "");
	if (code != NULL && strcmp(code, "unknown-verb") == 0)
		relay_unknown(c);
	return 0;
}

/* The text of the last "module" line built, after its batch id: clients
 * offered the same registered path at the same stamps share it. */
static struct {
	const struct wpath *wp;
	char module[STAMP_MODULE_MAX];
	char given[PATH_MAX];
	struct stamp offered, have;
	int flags;
	char tail[PROTO_MAX_LINE];
	size_t len;
} client_tail;

/* What the last permission check of client_pick found, valid for one
 * clients_flush: the disk does not change within it. */
static struct {
	unsigned long gen;
	uid_t uid;
	gid_t gid;
	const struct wpath *wp;
	int rc;
	char err[512];
} client_perm;
static unsigned long client_flushgen;

/* Says whether a registration's client may still read its path, asking
 * path.c once per flush for clients of the same uid and group without
 * supplementary groups (the usual case: many processes of one user). */
static int
client_may_read(const struct reg *r, char *err, size_t len)
{
	const struct cred *cr = &r->c->cred;
	int cache = cr->ngroups == 0;

	if (cache && client_perm.gen == client_flushgen &&
	    client_perm.wp == r->wp && client_perm.uid == cr->uid &&
	    client_perm.gid == cr->gid) {
		snprintf(err, len, "%s", client_perm.err);
		return client_perm.rc;
	}
	client_perm.rc = cred_can_read(cr, r->wp->path, client_perm.err,
	    sizeof(client_perm.err));
	client_perm.gen = cache ? client_flushgen : 0;
	client_perm.wp = r->wp;
	client_perm.uid = cr->uid;
	client_perm.gid = cr->gid;
	snprintf(err, len, "%s", client_perm.err);
	return client_perm.rc;
}

/* Appends a registration's "module" line for batch id to out, built once
 * for every client offered the same path at the same stamps. */
static int
client_module_line(const struct reg *r, unsigned long id, int rollbacks,
    char *out, size_t len)
{
	char buf[PROTO_MAX_LINE], stamp[PROTO_STAMP_MAX], *sp;
	struct proto_out o;
	int flags = rollbacks ? 1 : reg_offer_forced(r) ? 2 : 0, n;

	if (client_tail.wp != r->wp || client_tail.flags != flags ||
	    !stamp_equal(&client_tail.offered, &r->offered) ||
	    !stamp_equal(&client_tail.have, &r->have) ||
	    strcmp(client_tail.module, r->module) != 0 ||
	    strcmp(client_tail.given, r->given) != 0) {
		proto_start(&o, buf, sizeof(buf), "module");
		proto_add(&o, "batch", "0");
		proto_add(&o, "module", r->module);
		proto_add(&o, "path", r->given);
		proto_stamp_format(&r->offered, stamp, sizeof(stamp));
		proto_add(&o, "stamp", stamp);
		proto_stamp_format(&r->have, stamp, sizeof(stamp));
		proto_add(&o, "was", stamp);
		if (rollbacks)
			proto_add(&o, "action", "rollback");
		else if (flags == 2)
			proto_add(&o, "force", "yes");
		if ((n = proto_end(&o)) == -1)
			return -1;
		/* What follows "module batch=0". */
		sp = buf + strlen("module batch=0");
		client_tail.len = (size_t)n - (size_t)(sp - buf);
		memcpy(client_tail.tail, sp, client_tail.len);
		client_tail.wp = r->wp;
		client_tail.flags = flags;
		client_tail.offered = r->offered;
		client_tail.have = r->have;
		snprintf(client_tail.module, sizeof(client_tail.module), "%s",
		    r->module);
		snprintf(client_tail.given, sizeof(client_tail.given), "%s",
		    r->given);
	}
	n = snprintf(out, len, "module batch=%lu", id);
	if (n < 0 || (size_t)n + client_tail.len > len)
		return -1;
	memcpy(out + n, client_tail.tail, client_tail.len);
	return n + (int)client_tail.len;
}

/* Picks a client's batch out of its pending modules, if none is out:
 * each goes to state reloading, and the client gets a batch id.
 * Rollbacks go in a batch of their own, before any load.  Returns how
 * many modules it holds. */
static size_t
client_pick(struct client *c)
{
	char buf[PROTO_MAX_LINE], err[512];
	struct proto_out o;
	struct stamp dbuf;
	const struct stamp *disk;
	struct reg *r;
	size_t count = 0;
	unsigned long id;
	int rollbacks = 0;

	c->dirty = 0;
	for (r = c->regs; r != NULL && !rollbacks; r = r->next)
		rollbacks = r->state == REG_PENDING &&
		    r->action == REG_ROLLBACK;
	for (r = c->regs; r != NULL; r = r->next) {
		if (r->state != REG_PENDING)
			continue;
		disk = reg_disk(r, &dbuf);
		/* Permissions may have changed since it registered. */
		if (disk != NULL && !rollbacks &&
		    client_may_read(r, err, sizeof(err)) == -1) {
			log_about(r->wp->path);
			log_warnx("not offering %s to %s: %s",
			    log_esc(r->module), r->c->label, err);
			log_about(NULL);
			reg_denied(r, disk, err);
			continue;
		}
		count += (size_t)reg_offer(r, disk, rollbacks);
	}
	if (rollbacks)
		c->dirty = 1;     /* loads may wait behind them */
	if (count == 0)
		return 0;
	id = ++rd->nextbatch;
	c->batch = id;
	c->inbatch = count;
	rd->stats.batches++;
	rd->stats.offered += count;
	log_debug("batch %lu to %s: %zu module%s%s", id, c->label, count,
	    count == 1 ? "" : "s", rollbacks ? " (rollback)" : "");
	if (ctl_subscribers()) {
		client_event(c, "batch", &o, buf, sizeof(buf));
		proto_addf(&o, "batch", "%lu", id);
		proto_addf(&o, "count", "%zu", count);
		proto_add(&o, "action", rollbacks ? "rollback" : "load");
		ctl_event(&o);
	}
	for (r = c->regs; r != NULL; r = r->next)
		if (r->state == REG_OFFERED)
			r->batch = id;
	c->nprepared = 0;
	return count;
}

/* Sends a client the batch picked for it in one write: "reload" for
 * version 1, "prepare" in group g for version 2, a "module" line each,
 * "end". */
static void
client_send_lines(struct client *c, struct upgrade *g)
{
	static char *text;
	static size_t cap;
	struct reg *r;
	unsigned long id = c->batch;
	size_t len, need;
	int rollbacks = 0, n;

	for (r = c->regs; r != NULL && !rollbacks; r = r->next)
		rollbacks = r->state == REG_OFFERED && r->batch == id &&
		    r->action == REG_ROLLBACK;
	need = (c->inbatch + 2) * PROTO_MAX_LINE;
	if (need > cap) {
		free(text);
		if ((text = malloc(need)) == NULL)
			fatal("client_send_lines");
		cap = need;
	}
	if (g != NULL)
		len = (size_t)snprintf(text, cap, "prepare batch=%lu count=%zu "
		    "group=%lu clients=%zu\n", id, c->inbatch, g->id,
		    g->nmembers);
	else
		len = (size_t)snprintf(text, cap, "reload batch=%lu "
		    "count=%zu\n", id, c->inbatch);
	for (r = c->regs; r != NULL; r = r->next) {
		if (r->state != REG_OFFERED || r->batch != id)
			continue;
		if (log_getlevel() >= LOG_DEBUG) {
			log_about(r->wp->path);
			log_debug("offering %s (%s) to %s in batch %lu",
			    log_esc(r->module), log_esc(reg_display(r)),
			    c->label, id);
			log_about(NULL);
		}
		if ((n = client_module_line(r, id, rollbacks, text + len,
		    cap - len)) == -1) {
			/* Only paths near PATH_MAX, every byte escaped. */
			log_warnx("%s: a \"module\" line would exceed %d "
			    "bytes; not sent", c->label, PROTO_MAX_LINE);
			continue;
		}
		len += (size_t)n;
	}
	len += (size_t)snprintf(text + len, cap - len, "end batch=%lu\n", id);
	control_send(c, text, len);
}

/* Notes that a watched file was read: where it changed, the registrations
 * of every path leading to it compare the new stamp; where only its
 * condition changed (complete now, readable again), those waiting are
 * offered. */
void
client_file_checked(struct file *f, int rc)
{
	int changed = rc == CHECK_ADDED || rc == CHECK_CHANGED;
	struct wtarget *t;
	struct wpath *wp;
	struct stamp dbuf;
	struct reg *r;

	const char *path;

	if (rc == CHECK_ADDED)
		set_file_added(f);
	if (rd->targets.count == 0)
		return;
	path = file_path(f);
	t = htab_first(&rd->targets, hash_str(path));
	for (; t != NULL; t = htab_next(&rd->targets, t)) {
		if (strcmp(t->path, path) != 0)
			continue;
		for (wp = t->paths; wp != NULL; wp = wp->tnext)
			for (r = wp->regs; r != NULL; r = r->pnext) {
				if (changed)
					reg_changed(r, reg_disk(r, &dbuf),
					    client_held(r->c));
				reg_touch(r);
			}
	}
}

/* Notes that a registered path now leads to another file (from was the
 * old one, "" if none): for its registrations that is a change when the
 * stamps differ, and nothing when the new file holds the same code. */
void
client_path_changed(struct wpath *wp, const char *from)
{
	char buf[PROTO_MAX_LINE], stamp[PROTO_STAMP_MAX];
	const struct stamp *disk;
	struct stamp dbuf, was;
	struct proto_out o;
	struct reg *r;
	int differs = 0;

	disk = wanted_disk(wp, &dbuf);
	for (r = wp->regs; r != NULL; r = r->pnext) {
		was = r->have;
		reg_changed(r, disk, client_held(r->c));
		reg_touch(r);
		if (disk == NULL || stamp_equal(disk, &was))
			continue;
		differs = 1;
		proto_stamp_format(disk, stamp, sizeof(stamp));
		log_about(wp->path);
		log_info("changed %s module=%s %s (through %s) for %s",
		    log_esc(wp->path), log_esc(r->module), stamp,
		    wp->target ? log_esc(wp->target->path) : "?", r->c->label);
		log_about(NULL);
	}
	if (!differs)
		return;
	rd->stats.changes++;
	if (!ctl_subscribers())
		return;
	proto_start(&o, buf, sizeof(buf), "event");
	proto_add(&o, "type", "change");
	proto_add(&o, "how", "changed");
	proto_add(&o, "path", wp->path);
	proto_add(&o, "module", wp->regs->module);
	proto_stamp_format(disk, stamp, sizeof(stamp));
	proto_add(&o, "stamp", stamp);
	proto_add(&o, "target", wp->target ? wp->target->path : "");
	proto_add(&o, "was-target", from);
	ctl_event_about(&o, wp->path);
}

/* Applies f to every registration of every attached client that hold h
 * covers (NULL: every client); f gets whether its client is held. */
static void
clients_each(const struct hold *h,
    void (*f)(struct reg *, const struct stamp *, int, int), int arg)
{
	struct client *c;
	struct stamp dbuf;
	struct reg *r;
	int held;

	for (c = rd->clients; c != NULL; c = c->next) {
		if (c->dead || c->name == NULL || c->control ||
		    (h != NULL && !hold_covers(h, c)))
			continue;
		held = client_held(c);
		for (r = c->regs; r != NULL; r = r->next) {
			f(r, reg_disk(r, &dbuf), held, arg);
			reg_touch(r);
		}
	}
}

/* Holds what waits to be offered, when reloads become held. */
static void
clients_hold_one(struct reg *r, const struct stamp *disk, int held, int arg)
{
	reg_hold(r);
}

/* Reloads are now held for the clients h covers. */
void
clients_hold(const struct hold *h)
{
	clients_each(h, clients_hold_one, 0);
}

/* Counts the held loads a failed build discards. */
static size_t ndiscarded;

/* Discards one registration's held load. */
static void
clients_discard_one(struct reg *r, const struct stamp *disk, int held,
    int arg)
{
	ndiscarded += (size_t)reg_discard(r, disk);
}

/* Discards the held loads of the clients h covers, as after a failed
 * build; returns how many. */
size_t
clients_discard(const struct hold *h)
{
	ndiscarded = 0;
	clients_each(h, clients_discard_one, 0);
	return ndiscarded;
}

/* Releases one registration whose client is no longer held. */
static void
clients_release_one(struct reg *r, const struct stamp *disk, int held,
    int deliver)
{
	if (!held)
		reg_release(r, disk, deliver);
}

/* Hold h ended (a good build if deliver): for the clients it covered
 * that no other hold keeps, what it held, and what an earlier failed
 * build discarded, is offered. */
void
clients_release(const struct hold *h, int deliver)
{
	clients_each(h, clients_release_one, deliver);
}

/* Ends a failed build's discard for one registration not held. */
static void
clients_build_ended_one(struct reg *r, const struct stamp *disk, int held,
    int arg)
{
	if (!held)
		reg_build_ended(r, disk, held);
}

/* A batch settled: a build ended, so what a failed build discarded is
 * compared with the disk again, for the clients no hold keeps. */
void
clients_build_ended(void)
{
	clients_each(NULL, clients_build_ended_one, 0);
}

/* Notes a client for clients_flush to look at: it may have notices held
 * for its sets, or a hold on it ended.  clients_flush looks at the
 * clients so noted, not at every client after every line. */
void
client_note(struct client *c)
{
	if (c->dqueued || c->dead)
		return;
	c->dqueued = 1;
	c->dnext = rd->dirtyq;
	rd->dirtyq = c;
}

/* Notes that a client may have a batch to send. */
void
client_dirty(struct client *c)
{
	c->dirty = 1;
	client_note(c);
}

/* Sends every client with changes waiting and no batch out its batch,
 * unless reloads are held for it.  The version-2 clients among them
 * prepare, in one upgrade per user that switches together (or each in
 * its own with switch = per-process): one user's failing module does
 * not hold another's processes back.  Version-1 clients reload at once,
 * on their own.  Only the clients noted (client_dirty, client_note) are
 * looked at, not every client after every line; a client with a batch
 * out is noted again when its batch ends.  Clients it drops are left
 * for clients_reap. */
void
clients_flush(void)
{
	struct client *c, **picked = NULL, **np;
	struct upgrade **ups = NULL, **nu, *g;
	size_t n = 0, cap = 0, nups = 0, i, j, v1 = 0;

	client_flushgen++;
	if (rd->flush_all) {
		rd->flush_all = 0;
		for (c = rd->clients; c != NULL; c = c->next)
			client_note(c);
	}
	while ((c = rd->dirtyq) != NULL) {
		rd->dirtyq = c->dnext;
		c->dnext = NULL;
		c->dqueued = 0;
		if (c->dead || c->name == NULL || client_held(c))
			continue;
		set_flush(c);
		if (!c->dirty || c->batch != 0 || client_pick(c) == 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((np = reallocarray(picked, cap,
			    sizeof(*np))) == NULL)
				fatal("clients_flush");
			picked = np;
		}
		picked[n++] = c;
		if (c->proto < 2) {
			c->phase = PHASE_LOAD;
			v1++;
			continue;
		}
		c->phase = PHASE_PREPARE;
		/* The upgrade of its user, or a new one. */
		g = NULL;
		for (j = 0; rd->conf.switch_mode == SWITCH_TOGETHER &&
		    j < nups && g == NULL; j++)
			if (ups[j]->members[0]->cred.uid == c->cred.uid)
				g = ups[j];
		if (g == NULL) {
			if ((nu = reallocarray(ups, nups + 1,
			    sizeof(*nu))) == NULL)
				fatal("clients_flush");
			ups = nu;
			g = ups[nups++] = upgrade_new();
			g->busy = 1;
		}
		upgrade_add(g, c);
	}
	/* A group of one process with one module has nothing to switch
	 * with: it goes at once, as version 1's reload. */
	for (j = 0; j < nups;)
		if (upgrade_alone(ups[j]))
			ups[j] = ups[--nups];
		else
			j++;
	if (nups > 0 && v1 > 0)
		log_info("%zu process%s speak%s protocol 1: reloaded on %s "
		    "own, not in step with the others", v1, v1 == 1 ? "" :
		    "es", v1 == 1 ? "s" : "", v1 == 1 ? "its" : "their");
	for (i = 0; i < n; i++) {
		c = picked[i];
		if (c->dead)
			continue;
		client_send_lines(c, c->proto < 2 ? NULL : c->upgrade);
	}
	/* With every prepare out, each upgrade's clock starts. */
	for (j = 0; j < nups; j++)
		upgrade_start(ups[j]);
	free(picked);
	free(ups);
}

/* Forgets what a dropped client registered. */
void
client_forget(struct client *c)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	ctl_forget(c);
	relay_forget(c);
	if (c->name != NULL && !c->control) {
		if (ctl_subscribers()) {
			client_event(c, "detach", &o, buf, sizeof(buf));
			ctl_event(&o);
		}
		notify_status_changed();
	}
	upgrade_leave(c);
	set_forget(c);
	sources_forget(c);
	while (c->regs != NULL)
		reg_free(c->regs);
	client_regsum_clear(c);
	free(c->failure);
	c->failure = NULL;
	c->phase = PHASE_IDLE;
	c->batch = 0;
	c->inbatch = 0;
}

/* Drops every client, at shutdown. */
void
clients_free(void)
{
	struct client *c;

	for (c = rd->clients; c != NULL; c = c->next)
		if (!c->dead)
			control_drop(c, "dropped: the daemon is stopping");
	clients_reap();
	ev_timer_stop(rd->loop, &rd->regsum_ev);
	hold_free_all();
	wanted_free();
}
