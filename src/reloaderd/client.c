/*
 * client.c: what attached processes say and what they are told
 * (docs/PROTOCOL.md).
 *
 * A client registers the modules it has loaded with the stamp of what it
 * loaded.  The daemon watches each registered file, and whenever the
 * stamp on disk differs from the client's (at registration already, or
 * after a build), it sends the client a reload batch, one at a time per
 * client, and logs the client's answer for each module.  A stamp that
 * failed is not offered again until the file changes again or the client
 * registers the module anew.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Returns the hash of a wanted path's key. */
static uint64_t
wanted_hash(const void *n)
{
	return hash_str(((const struct wpath *)n)->path);
}

/* Sets up the table of paths clients have loaded. */
void
clients_init(void)
{
	htab_init(&rd->wanted, offsetof(struct wpath, hnext), wanted_hash);
	rd->started = ev_time();
}

/* Finds the wanted path entry for path. */
static struct wpath *
wanted_lookup(const char *path)
{
	struct wpath *wp;

	wp = htab_first(&rd->wanted, hash_str(path));
	for (; wp != NULL; wp = htab_next(&rd->wanted, wp))
		if (strcmp(wp->path, path) == 0)
			return wp;
	return NULL;
}

/* Returns the wanted path entry for path, making it if new. */
static struct wpath *
wanted_get(const char *path)
{
	struct wpath *wp;
	size_t n;

	if ((wp = wanted_lookup(path)) != NULL)
		return wp;
	n = strlen(path);
	if ((wp = calloc(1, sizeof(*wp) + n + 1)) == NULL)
		fatal("wanted_get");
	memcpy(wp->path, path, n + 1);
	htab_insert(&rd->wanted, wp);
	return wp;
}

/* Drops a wanted path no registration holds any more, and stops watching
 * it unless the configuration asks for it. */
static void
wanted_put(struct wpath *wp)
{
	if (wp->regs != NULL)
		return;
	htab_remove(&rd->wanted, wp);
	tree_untrack(wp->path);
	free(wp);
}

/* Says whether some client has a module loaded from path. */
int
client_wants(const char *path)
{
	return rd->wanted.count > 0 && wanted_lookup(path) != NULL;
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
	else if ((rc = ctl_line(c, m.verb, &m)) == 1) {
		client_error(c, "unknown-verb", "unknown verb \"%s\"", m.verb);
		rc = -1;
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
	struct file *f = file_lookup(r->wp->path);

	return f != NULL ? root_display(f->root, f->path) : r->given;
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
	if (r->inflight && r->c->inbatch > 0)
		r->c->inbatch--;
	wanted_put(wp);
	free(r->module);
	free(r->given);
	free(r);
}

/* Marks a registration pending if the file on disk is not what its client
 * runs, and has not already failed for it. */
static void
reg_compare(struct reg *r, struct file *f)
{
	struct stamp disk;

	if (f == NULL || f->state != FILE_OK || file_stamp(f, &disk) == -1)
		return;
	if (!r->forced && !r->rollback) {
		if (stamp_equal(&disk, &r->have)) {
			r->pending = 0;
			return;
		}
		if (r->failed.kind != STAMP_NONE &&
		    stamp_equal(&disk, &r->failed))
			return;
	}
	r->pending = 1;
	r->c->dirty = 1;
}

/* Reads the stamp of a registration's file as the tree knows it; -1 (and
 * kind STAMP_NONE) when it is gone or not a complete module. */
static int
reg_disk(const struct reg *r, struct stamp *disk)
{
	struct file *f = file_lookup(r->wp->path);

	if (f == NULL || f->state != FILE_OK) {
		memset(disk, 0, sizeof(*disk));
		return -1;
	}
	return file_stamp(f, disk);
}

/* Says what a registration is waiting for, as `list` shows it; fills in
 * the stamp on disk (kind STAMP_NONE if unreadable) and returns whether it
 * differs from what the client runs. */
int
reg_state(const struct reg *r, struct stamp *disk, const char **state)
{
	int stale;

	reg_disk(r, disk);
	stale = !stamp_equal(disk, &r->have);
	if (r->inflight)
		*state = "reloading";
	else if (disk->kind == STAMP_NONE)
		*state = "missing";
	else if (r->pending || r->forced || r->rollback)
		*state = rd->holds > 0 ? "held" : "pending";
	else if (!stale)
		*state = "current";
	else if (r->failed.kind != STAMP_NONE &&
	    stamp_equal(disk, &r->failed))
		*state = r->rolledback ? "rolled-back" : "failed";
	else
		*state = "pending";
	return stale;
}

/* Drops a registration's pending change, as a failed build's: it is not
 * offered until its file changes again. */
int
reg_discard(struct reg *r)
{
	struct stamp disk;

	if (r->inflight || !(r->pending || r->forced || r->rollback))
		return 0;
	if (reg_disk(r, &disk) == 0)
		r->failed = disk;
	r->pending = r->forced = r->rollback = 0;
	r->rolledback = 0;
	return 1;
}

/* Keeps the file on disk from being offered to a registration until it
 * changes, after the client rolled back from it. */
static void
reg_hold_back(struct reg *r)
{
	struct stamp disk;

	if (reg_disk(r, &disk) == -1)
		return;
	r->failed = disk;
	r->rolledback = 1;
}

/* Handles "register": checks the client may read the file, watches it,
 * and compares stamps at once. */
static int
client_register(struct client *c, struct proto_msg *m)
{
	const char *module, *path, *stamp, *prevs;
	char err[PROTO_ERR_MAX + PATH_MAX], real[PATH_MAX], buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct stamp have, prev;
	struct wpath *wp, *alias;
	struct file *f;
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
	if (realpath(path, real) == NULL) {
		client_error(c, "no-such-file", "%s: %s", path,
		    strerror(errno));
		return -1;
	}

	if ((r = client_reg(c, module)) != NULL) {
		log_info("%s registers %s again (was %s)", c->label,
		    log_esc(module), log_esc(r->given));
		reg_free(r);
	}
	/* Wanted before it is tracked, so that a new watch selects it. */
	wp = wanted_get(real);
	if ((f = tree_track(real)) != NULL && strcmp(f->path, real) != 0) {
		/* Its directory is watched under another name: use that. */
		alias = wp;
		wp = wanted_get(f->path);
		wanted_put(alias);
	}
	if (f == NULL || f->state == FILE_BAD) {
		client_error(c, f ? "not-a-module" : "no-such-file", "%s: %s",
		    path, f ? "not an ELF shared object or BEAM file the "
		    "daemon can read" : "gone before it could be read");
		wanted_put(wp);
		return -1;
	}

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->module = strdup(module)) == NULL ||
	    (r->given = strdup(path)) == NULL)
		fatal("client_register");
	r->c = c;
	r->wp = wp;
	r->have = have;
	r->prev = prev;
	r->next = c->regs;
	c->regs = r;
	r->pnext = wp->regs;
	wp->regs = r;

	n = wanted_count(wp);
	log_info("%s registered %s (%s)%s", c->label, log_esc(module),
	    log_esc(reg_display(r)), n > 1 ? " (loaded by several clients)" :
	    "");
	proto_start(&o, buf, sizeof(buf), "registered");
	proto_add(&o, "module", module);
	if (client_send(c, &o) == -1)
		return 0;
	/* Rebuilt while the client or the daemon was away? */
	if (f != NULL)
		reg_compare(r, f);
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

/* Appends " - STAGE ... ok N ms" for a stage the client timed. */
static void
result_stage(char *buf, size_t len, struct proto_msg *m, const char *key,
    const char *stage, const char *outcome)
{
	double ms;
	size_t used = strlen(buf);

	if (proto_get_ms(m, key, &ms) == -1 || used >= len)
		return;
	snprintf(buf + used, len - used, " - %s ... %s %.2f ms", stage,
	    outcome, ms);
}

/* Sends subscribers a "result" event: the client's result line, as is. */
static void
result_event(struct client *c, struct proto_msg *m)
{
	static const char *const keys[] = { "batch", "module", "status",
	    "stamp", "reason", "load", "state", "test", "node" };
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
	ctl_event(&o);
}

/* Counts a result by its status. */
static void
result_count(int ok, int testfailed, const char *status)
{
	if (ok)
		rd->stats.ok++;
	else if (testfailed)
		rd->stats.testfailed++;
	else if (strcmp(status, "load-failed") == 0)
		rd->stats.loadfailed++;
	else
		rd->stats.rolledback++;
}

/* Handles "result": logs how one module's reload ended and takes the
 * stamp the client now runs.  A result with node= is another node's,
 * which the client pushed the module to: logged and counted only. */
static int
client_result(struct client *c, struct proto_msg *m)
{
	const char *module, *status, *stamp, *reason, *node;
	unsigned long long batch;
	struct stamp now;
	struct reg *r;
	char line[1024], where[256];
	double load = 0;
	int ok, testfailed, rollback;

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
	    (!r->inflight && (node == NULL || r->batch != c->batch))) {
		client_error(c, "bad-result", "%s is not in batch %lu",
		    module, c->batch);
		return -1;
	}
	ok = strcmp(status, "ok") == 0;
	testfailed = strcmp(status, "test-failed") == 0;
	if (!ok && !testfailed && strcmp(status, "load-failed") != 0 &&
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
	reason = proto_get(m, "reason");
	if (reason != NULL && *reason == '\0')
		reason = NULL;
	proto_get_ms(m, "load", &load);
	rollback = r->rollback;

	if (node != NULL) {
		rd->stats.remote++;
		snprintf(where, sizeof(where), "node %s via %s",
		    log_esc(node), c->label);
	} else {
		snprintf(where, sizeof(where), "%s", c->label);
		result_count(ok, testfailed, status);
		r->inflight = 0;
		r->rollback = 0;
		c->inbatch--;
		if ((ok || testfailed) && !stamp_equal(&now, &r->have)) {
			r->prev = r->have;
			r->have = now;
		} else
			r->have = now;
		memset(&r->failed, 0, sizeof(r->failed));
		r->rolledback = 0;
		if (!ok && !testfailed && !rollback)
			r->failed = r->offered;
		else if (rollback && (ok || testfailed)) {
			/* Back on the older version: hold the newer back. */
			rd->stats.rollbacks++;
			reg_hold_back(r);
		}
	}

	snprintf(line, sizeof(line), "%s %s (%s) in %s ... ", rollback ?
	    "rolling back" : "reloading", log_esc(module),
	    log_esc(reg_display(r)), where);
	if (ok || testfailed) {
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		    "ok %.2f ms", load);
		result_stage(line, sizeof(line), m, "state", "code_change",
		    "ok");
		result_stage(line, sizeof(line), m, "test", "test",
		    ok ? "ok" : "failed");
		if (testfailed)
			snprintf(line + strlen(line), sizeof(line) -
			    strlen(line), " (kept)");
	} else {
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		    "%s", strcmp(status, "load-failed") == 0 ? "load failed" :
		    "rolled back");
		if (proto_get(m, "load") != NULL)
			snprintf(line + strlen(line), sizeof(line) -
			    strlen(line), " %.2f ms", load);
	}
	if (reason != NULL)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		    ": %s", log_esc(reason));
	if (ok)
		log_info("%s", line);
	else
		log_warnx("%s", line);
	notify_last_reload("%s in %s %s %.2f ms", module, where, status, load);
	result_event(c, m);
	/* Changed again while it was being reloaded? */
	if (node == NULL)
		reg_compare(r, file_lookup(r->wp->path));
	return 0;
}

/* Handles "done": ends the batch out, and sends the next if one waits. */
static int
client_done(struct client *c, struct proto_msg *m)
{
	unsigned long long batch;
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
		if (!r->inflight)
			continue;
		log_warnx("reloading %s (%s) in %s ... no result",
		    log_esc(r->module), log_esc(reg_display(r)), c->label);
		r->inflight = 0;
		if (!r->rollback)
			r->failed = r->offered;
		r->rollback = 0;
		missing++;
	}
	c->batch = 0;
	c->inbatch = 0;
	if (missing > 0) {
		client_error(c, "bad-result", "done before %d module%s of "
		    "batch %llu had a result", missing, missing == 1 ? "" :
		    "s", batch);
		return -1;
	}
	return 0;
}

/* Handles "purged": logs that an old version left (or stayed). */
static int
client_purged(struct client *c, struct proto_msg *m)
{
	const char *module, *stamp, *unmapped, *reason;
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

/* Picks what a registration's offer is, or says it has none: a rollback
 * to its previous stamp, or the stamp on disk. */
static int
reg_offer(struct reg *r, int rollbacks)
{
	char err[512];
	struct stamp disk;
	struct file *f;

	if (r->inflight || !(r->pending || r->forced || r->rollback) ||
	    (rollbacks != 0) != (r->rollback != 0))
		return 0;
	f = file_lookup(r->wp->path);
	if (f == NULL || f->state != FILE_OK ||
	    file_stamp(f, &disk) == -1) {
		r->pending = r->forced = r->rollback = 0;
		return 0;
	}
	/* Permissions may have changed since it registered. */
	if (cred_can_read(&r->c->cred, f->path, err, sizeof(err)) == -1) {
		log_warnx("not offering %s to %s: %s", log_esc(r->module),
		    r->c->label, err);
		r->pending = r->forced = r->rollback = 0;
		return 0;
	}
	r->offered = rollbacks ? r->prev : disk;
	r->inflight = 1;
	/* Forced, and the same stamp: the client must load it anyway. */
	r->force = !rollbacks && r->forced && stamp_equal(&disk, &r->have);
	r->pending = r->forced = 0;
	return 1;
}

/* Sends a client the batch of its pending modules, if none is out.
 * Rollbacks go in a batch of their own, before any load. */
static size_t
client_send_batch(struct client *c)
{
	char buf[PROTO_MAX_LINE], stamp[PROTO_STAMP_MAX];
	struct proto_out o;
	struct reg *r;
	size_t count = 0;
	unsigned long id;
	int rollbacks = 0;

	c->dirty = 0;
	for (r = c->regs; r != NULL && !rollbacks; r = r->next)
		rollbacks = r->rollback && !r->inflight;
	for (r = c->regs; r != NULL; r = r->next)
		count += reg_offer(r, rollbacks);
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
	proto_start(&o, buf, sizeof(buf), "reload");
	proto_addf(&o, "batch", "%lu", id);
	proto_addf(&o, "count", "%zu", count);
	if (client_send(c, &o) == -1)
		return count;
	for (r = c->regs; r != NULL; r = r->next) {
		if (!r->inflight)
			continue;
		r->batch = id;
		log_debug("offering %s (%s) to %s in batch %lu",
		    log_esc(r->module), log_esc(reg_display(r)), c->label, id);
		proto_start(&o, buf, sizeof(buf), "module");
		proto_addf(&o, "batch", "%lu", id);
		proto_add(&o, "module", r->module);
		proto_add(&o, "path", r->given);
		proto_stamp_format(&r->offered, stamp, sizeof(stamp));
		proto_add(&o, "stamp", stamp);
		proto_stamp_format(&r->have, stamp, sizeof(stamp));
		proto_add(&o, "was", stamp);
		if (rollbacks)
			proto_add(&o, "action", "rollback");
		else if (r->force)
			proto_add(&o, "force", "yes");
		if (client_send(c, &o) == -1)
			return count;
	}
	proto_start(&o, buf, sizeof(buf), "end");
	proto_addf(&o, "batch", "%lu", id);
	client_send(c, &o);
	return count;
}

/* Notes that a watched file changed; the clients that have it loaded get
 * it in their next batch. */
void
client_file_changed(struct file *f)
{
	struct wpath *wp;
	struct reg *r;

	if (rd->wanted.count == 0 || (wp = wanted_lookup(f->path)) == NULL)
		return;
	for (r = wp->regs; r != NULL; r = r->pnext) {
		/* A newer build clears an old failure or rollback. */
		memset(&r->failed, 0, sizeof(r->failed));
		r->rolledback = 0;
		reg_compare(r, f);
	}
}

/* Sends every client with changes waiting and no batch out its batch,
 * unless reloads are held.  Clients it drops are left for clients_reap. */
void
clients_flush(void)
{
	struct client *c;

	if (rd->holds > 0)
		return;
	for (c = rd->clients; c != NULL; c = c->next)
		if (c->dirty && c->batch == 0 && !c->dead && c->name != NULL)
			client_send_batch(c);
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
	htab_free(&rd->wanted);
}
