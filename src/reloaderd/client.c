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
};

/* Sets up the tables of registered paths. */
void
clients_init(void)
{
	wanted_init();
	rd->started = ev_time();
}

/* Says whether reloads are held now. */
static int
client_held(void)
{
	return rd->holds > 0;
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
	if (min > RELOADER_PROTO_VERSION || proto < RELOADER_PROTO_VERSION) {
		client_error(c, "version", "this reloaderd speaks protocol "
		    "version %d only; the client speaks %llu to %llu",
		    RELOADER_PROTO_VERSION, min, proto);
		log_warnx("%s: refused: it speaks protocol %llu to %llu, "
		    "not %d", c->label, min, proto, RELOADER_PROTO_VERSION);
		control_drop(c, "closed after a protocol version mismatch");
		return -1;
	}
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
	proto_addf(&o, "proto", "%d", RELOADER_PROTO_VERSION);
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
	const char *module, *path, *stamp, *prevs, *cond;
	char err[PROTO_ERR_MAX + PATH_MAX], clean[PATH_MAX];
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct stamp have, prev, dbuf;
	struct wpath *wp;
	struct reg *r;
	size_t n;

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
	memset(&prev, 0, sizeof(prev));
	if ((prevs = proto_get(m, "prev")) != NULL &&
	    proto_stamp_parse(prevs, &prev) == -1) {
		client_error(c, "bad-field", "prev \"%s\" is not KIND:VALUE",
		    prevs);
		return -1;
	}
	/* What the client may not see, it is not told about. */
	if (cred_can_read(&c->cred, path, err, sizeof(err)) == -1) {
		int e = errno;

		log_info("%s: not registering %s: %s", c->label,
		    log_esc(module), log_esc(err));
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
		log_info("%s registers %s again (was %s)", c->label,
		    log_esc(module), log_esc(r->given));
		reg_free(r);
	}
	wanted_clean(path, clean, sizeof(clean));
	wp = wanted_get(clean);
	cond = wanted_condition(wp, err, sizeof(err));
	if (wp->target == NULL || (cond != NULL &&
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
	    (r->given = strdup(path)) == NULL)
		fatal("client_register");
	r->c = c;
	r->wp = wp;
	r->next = c->regs;
	c->regs = r;
	r->pnext = wp->regs;
	wp->regs = r;
	/* Rebuilt while the client or the daemon was away? */
	reg_init(r, &have, &prev, reg_disk(r, &dbuf), client_held());
	reg_touch(r);

	n = wanted_count(wp);
	log_info("%s registered %s (%s)%s", c->label, log_esc(module),
	    log_esc(reg_display(r)), n > 1 ? " (loaded by several clients)" :
	    "");
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
	log_info("%s unregistered %s", c->label, log_esc(module));
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
    const char *reason)
{
	static const char *const keys[] = { "batch", "module", "stamp",
	    "load", "state", "test", "node", "failed" };
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
	ctl_event(&o);
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

/*
 * Handles "result": logs how one module's reload ended and feeds it to
 * the registration's state.  A result with node= is another node's,
 * which the client pushed the module to: logged and counted only.
 */
static int
client_result(struct client *c, struct proto_msg *m)
{
	const char *module, *status, *stamp, *reason, *node, *failed;
	unsigned long long batch;
	struct stamp now, dbuf;
	enum reg_outcome out;
	struct reg *r;
	char line[1536], where[256];
	double load = 0;
	int ok, kept, rollback, switched;

	if (client_need(c, m, "batch") == NULL ||
	    (module = client_need(c, m, "module")) == NULL ||
	    (status = client_need(c, m, "status")) == NULL ||
	    (stamp = client_need(c, m, "stamp")) == NULL)
		return -1;
	if (proto_get_uint(m, "batch", &batch) == -1 || c->batch == 0 ||
	    batch != c->batch) {
		client_error(c, "bad-result", "batch %s is not out (%s)",
		    proto_get(m, "batch"), c->batch ? "another one is" :
		    "none is");
		return -1;
	}
	node = proto_get(m, "node");
	if (node != NULL && *node == '\0')
		node = NULL;
	/* Another node's result may come after the client's own. */
	if ((r = client_reg(c, module)) == NULL ||
	    (r->state != REG_OFFERED && (node == NULL ||
	    r->batch != c->batch))) {
		client_error(c, "bad-result", "%s is not in batch %lu",
		    module, c->batch);
		return -1;
	}
	ok = strcmp(status, "ok") == 0;
	kept = strcmp(status, "test-failed") == 0;
	if (!ok && !kept && strcmp(status, "load-failed") != 0 &&
	    strcmp(status, "rolled-back") != 0) {
		client_error(c, "bad-field", "status \"%s\" is not ok, "
		    "load-failed, test-failed or rolled-back", status);
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
	rollback = r->state == REG_OFFERED && r->action == REG_ROLLBACK;

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
		c->inbatch--;
		switched = reg_result(r, out, &now, reg_disk(r, &dbuf),
		    client_held(), reason);
		reg_touch(r);
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
	if (ok && !kept)
		log_info("%s", line);
	else
		log_warnx("%s", line);
	notify_last_reload("%s in %s %s %.2f ms", module, where, status, load);
	result_event(c, m, status, reason);
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
	    batch != c->batch) {
		client_error(c, "bad-result", "batch %s is not out",
		    proto_get(m, "batch"));
		return -1;
	}
	for (r = c->regs; r != NULL; r = r->next) {
		if (r->state != REG_OFFERED)
			continue;
		log_warnx("%s %s (%s) in %s ... no result", r->action ==
		    REG_ROLLBACK ? "rolling back" : "reloading",
		    log_esc(r->module), log_esc(reg_display(r)), c->label);
		have = r->have;
		reg_result(r, REG_REFUSED, &have, reg_disk(r, &dbuf),
		    client_held(), "no result");
		reg_touch(r);
		missing++;
	}
	c->batch = 0;
	c->inbatch = 0;
	if (c->dirty)
		client_dirty(c);       /* what waited behind the batch */
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
	if (strcmp(unmapped, "yes") == 0)
		log_info("purged old %s (%s) in %s after %.2f ms", log_esc(module),
		    log_esc(stamp), c->label, after);
	else
		log_info("purged old %s (%s) in %s after %.2f ms, but its "
		    "image stays mapped%s%s", log_esc(module), log_esc(stamp),
		    c->label, after, reason ? ": " : "",
		    reason ? log_esc(reason) : "");
	/* The client refuses a whole batch for one module's old code, so
	 * whatever waits for a purge in it may go now. */
	for (r = c->regs; r != NULL; r = r->next) {
		reg_purged(r, reg_disk(r, &dbuf), client_held());
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

/* What the last permission check of client_send_batch found, valid for
 * one clients_flush: the disk does not change within it. */
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

/* Sends a client the batch of its pending modules, if none is out, in
 * one write: "reload", a "module" line each, "end".  Rollbacks go in a
 * batch of their own, before any load. */
static size_t
client_send_batch(struct client *c)
{
	static char *text;
	static size_t cap;
	char buf[PROTO_MAX_LINE], err[512];
	struct proto_out o;
	struct stamp dbuf;
	const struct stamp *disk;
	struct reg *r;
	size_t count = 0, len, need;
	unsigned long id;
	int rollbacks = 0, n;

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
			log_warnx("not offering %s to %s: %s",
			    log_esc(r->module), r->c->label, err);
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
	need = (count + 2) * PROTO_MAX_LINE;
	if (need > cap) {
		free(text);
		if ((text = malloc(need)) == NULL)
			fatal("client_send_batch");
		cap = need;
	}
	len = (size_t)snprintf(text, cap, "reload batch=%lu count=%zu\n", id,
	    count);
	for (r = c->regs; r != NULL; r = r->next) {
		if (r->state != REG_OFFERED || r->batch == id)
			continue;
		r->batch = id;
		if (log_getlevel() >= LOG_DEBUG)
			log_debug("offering %s (%s) to %s in batch %lu",
			    log_esc(r->module), log_esc(reg_display(r)),
			    c->label, id);
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
	return count;
}

/* Notes that a watched file was read: where it changed, the registrations
 * of every path leading to it compare the new stamp; where only its
 * condition changed (complete now, readable again), those waiting are
 * offered. */
void
client_file_checked(struct file *f, int changed)
{
	struct wtarget *t;
	struct wpath *wp;
	struct stamp dbuf;
	struct reg *r;

	const char *path;

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
					    client_held());
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
		reg_changed(r, disk, client_held());
		reg_touch(r);
		if (disk == NULL || stamp_equal(disk, &was))
			continue;
		differs = 1;
		proto_stamp_format(disk, stamp, sizeof(stamp));
		log_info("changed %s module=%s %s (through %s) for %s",
		    log_esc(wp->path), log_esc(r->module), stamp,
		    wp->target ? log_esc(wp->target->path) : "?", r->c->label);
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
	ctl_event(&o);
}

/* Applies f to every registration of every attached client. */
static void
clients_each(void (*f)(struct reg *, const struct stamp *, int), int arg)
{
	struct client *c;
	struct stamp dbuf;
	struct reg *r;

	for (c = rd->clients; c != NULL; c = c->next) {
		if (c->dead || c->name == NULL || c->control)
			continue;
		for (r = c->regs; r != NULL; r = r->next) {
			f(r, reg_disk(r, &dbuf), arg);
			reg_touch(r);
		}
	}
}

/* Holds what waits to be offered, when reloads become held. */
static void
clients_hold_one(struct reg *r, const struct stamp *disk, int arg)
{
	reg_hold(r);
}

/* Reloads are now held. */
void
clients_hold(void)
{
	clients_each(clients_hold_one, 0);
}

/* Counts the held loads a failed build discards. */
static size_t ndiscarded;

/* Discards one registration's held load. */
static void
clients_discard_one(struct reg *r, const struct stamp *disk, int arg)
{
	ndiscarded += (size_t)reg_discard(r, disk);
}

/* Discards every held load, as after a failed build; returns how many. */
size_t
clients_discard(void)
{
	ndiscarded = 0;
	clients_each(clients_discard_one, 0);
	return ndiscarded;
}

/* Releases one registration at the end of the last hold. */
static void
clients_release_one(struct reg *r, const struct stamp *disk, int deliver)
{
	reg_release(r, disk, deliver);
}

/* The last hold ended (a good build if deliver): what it held, and what
 * an earlier failed build discarded, is offered. */
void
clients_release(int deliver)
{
	clients_each(clients_release_one, deliver);
}

/* Ends a failed build's discard for one registration. */
static void
clients_build_ended_one(struct reg *r, const struct stamp *disk, int held)
{
	reg_build_ended(r, disk, held);
}

/* A batch settled with no hold: a build ended, so what a failed build
 * discarded is compared with the disk again. */
void
clients_build_ended(void)
{
	clients_each(clients_build_ended_one, 0);
}

/* Notes that a client may have a batch to send: clients_flush looks at
 * the clients so noted, not at every client, after every line. */
void
client_dirty(struct client *c)
{
	c->dirty = 1;
	if (c->dqueued)
		return;
	c->dqueued = 1;
	c->dnext = rd->dirtyq;
	rd->dirtyq = c;
}

/* Sends every client with changes waiting and no batch out its batch,
 * unless reloads are held.  A client with a batch out stays dirty and is
 * noted again when its batch ends.  After a control verb, which may mark
 * clients dirty directly, every client is looked at.  Clients it drops
 * are left for clients_reap. */
void
clients_flush(void)
{
	struct client *c;

	if (rd->holds > 0)
		return;
	client_flushgen++;
	if (rd->flush_all) {
		rd->flush_all = 0;
		for (c = rd->clients; c != NULL; c = c->next)
			if (c->dirty && !c->dead)
				client_dirty(c);
	}
	while ((c = rd->dirtyq) != NULL) {
		rd->dirtyq = c->dnext;
		c->dnext = NULL;
		c->dqueued = 0;
		if (c->dirty && c->batch == 0 && !c->dead && c->name != NULL)
			client_send_batch(c);
	}
}

/* Forgets what a dropped client registered. */
void
client_forget(struct client *c)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	ctl_forget(c);
	if (c->name != NULL && !c->control) {
		if (ctl_subscribers()) {
			client_event(c, "detach", &o, buf, sizeof(buf));
			ctl_event(&o);
		}
		notify_status_changed();
	}
	while (c->regs != NULL)
		reg_free(c->regs);
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
	wanted_free();
}
