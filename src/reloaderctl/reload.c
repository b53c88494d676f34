/*
 * reload.c: reload and rollback, and waiting for the results they (and a
 * build's release) bring.
 *
 * The results of a reload come as subscription events, one per client
 * that has the module, so reloaderctl subscribes before it asks; it then
 * counts the "result" events of the modules it asked for against the
 * clients= of each "ok" line.  A release waits by batches instead: one
 * "batch" event per client it counted, and every result of each.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* An attached client as "name[pid]", by its id. */
struct name {
	char *id;
	char *label;
};

static struct name *names;
static size_t nnames;

/* Notes that client id is name[pid]. */
void
names_add(const char *id, const char *name, const char *pid)
{
	struct name *n;
	size_t i;
	char *label;

	if (id == NULL || name == NULL || pid == NULL)
		return;
	if (asprintf(&label, "%s[%s]", name, pid) == -1)
		ctl_die(EX_OSERR, "out of memory");
	for (i = 0; i < nnames; i++) {
		if (strcmp(names[i].id, id) == 0) {
			free(names[i].label);
			names[i].label = label;
			return;
		}
	}
	if ((n = reallocarray(names, nnames + 1, sizeof(*n))) == NULL ||
	    (n[nnames].id = strdup(id)) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	n[nnames++].label = label;
	names = n;
}

/* Learns the name and pid of every attached client with a "list", so
 * that results can say "devserver[4242]". */
void
names_load(struct conn *c)
{
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;
	int rc;

	id = conn_start(c, &o, "list");
	conn_send_or_die(c, &o);
	while ((rc = conn_answer(c, id, &m)) == ANS_DATA)
		if (strcmp(m.verb, "client") == 0)
			names_add(proto_get(&m, "client"), proto_get(&m, "name"),
			    proto_get(&m, "pid"));
	if (rc == ANS_ERROR)
		conn_error_die(c, &m, "list");
}

/* Returns how to call client id in buf: "name[pid]" when known, else
 * "name (client id)". */
const char *
names_label(const char *id, const char *name, char *buf, size_t len)
{
	size_t i;

	for (i = 0; id != NULL && i < nnames; i++)
		if (strcmp(names[i].id, id) == 0)
			return names[i].label;
	snprintf(buf, len, "%s (client %s)", name != NULL ? name : "?",
	    id != NULL ? id : "?");
	return buf;
}

/* Returns a result's status for humans, with the step that failed, and
 * its colour kind: the same words as the daemon's log. */
static const char *
result_status(const struct proto_msg *m, const char **color)
{
	const char *status = proto_get(m, "status");
	const char *failed = proto_get(m, "failed");

	*color = "bad";
	if (failed == NULL)
		failed = "";
	if (status == NULL)
		return "?";
	if (strcmp(status, "ok") == 0) {
		*color = "ok";
		return "ok";
	}
	if (strcmp(status, "load-failed") == 0)
		return strcmp(failed, "purge") == 0 ? "not loaded: old code "
		    "still runs (offered again once it is purged)" :
		    "load failed";
	if (strcmp(status, "test-failed") == 0)
		return "test failed (kept)";
	if (strcmp(status, "rolled-back") == 0)
		return strcmp(failed, "test") == 0 ? "test failed (rolled "
		    "back)" : strcmp(failed, "code-change") == 0 ?
		    "code_change failed (rolled back)" : "rolled back";
	return status;
}

/* Appends " LOAD ms", ", state N ms", ", test N ms" to buf at *o. */
static void
result_times(const struct proto_msg *m, char *buf, size_t len, size_t *o)
{
	static const char *const keys[] = { "load", "state", "test" };
	double ms;
	size_t i;

	for (i = 0; i < 3 && *o < len; i++) {
		if (proto_get_ms(m, keys[i], &ms) == -1)
			continue;
		if (i == 0)
			*o += (size_t)snprintf(buf + *o, len - *o, " %.2f ms",
			    ms);
		else
			*o += (size_t)snprintf(buf + *o, len - *o,
			    ", %s %.2f ms", keys[i], ms);
	}
}

/*
 * Prints a result event as one line after prefix, e.g.
 * "hello in devserver[4242]: ok 0.41 ms, test 0.05 ms", or with -j as
 * JSON.  A result from another node says "in NODE via name[pid]".
 */
void
result_print(FILE *fp, const char *prefix, const struct proto_msg *m)
{
	static char line[2 * PROTO_MAX_LINE];
	char label[512];
	const char *color, *text, *reason, *node;
	size_t o;

	if (opts.json) {
		out_json(fp, "result", m);
		out_flush(fp);
		return;
	}
	text = result_status(m, &color);
	node = proto_get(m, "node");
	if (node != NULL)
		o = (size_t)snprintf(line, sizeof(line), "%s in %s via %s: ",
		    proto_get(m, "module") ? proto_get(m, "module") : "?", node,
		    names_label(proto_get(m, "client"), proto_get(m, "name"),
		    label, sizeof(label)));
	else
		o = (size_t)snprintf(line, sizeof(line), "%s in %s: ",
		    proto_get(m, "module") ? proto_get(m, "module") : "?",
		    names_label(proto_get(m, "client"), proto_get(m, "name"),
		    label, sizeof(label)));
	fputs(prefix, fp);
	out_safe(fp, line);
	/* Colour only on standard output, and only on a terminal. */
	fputs(fp == stdout ? out_color(color) : "", fp);
	fputs(text, fp);
	fputs(fp == stdout && *out_color(color) ? out_reset() : "", fp);
	o = 0;
	line[0] = '\0';
	result_times(m, line, sizeof(line), &o);
	if ((reason = proto_get(m, "reason")) != NULL && *reason != '\0' &&
	    o < sizeof(line))
		snprintf(line + o, sizeof(line) - o, ": %s", reason);
	out_safe(fp, line);
	fputc('\n', fp);
	out_flush(fp);
}

/* Starts an empty wait, printing results on fp after prefix. */
void
wait_init(struct wait *w, FILE *fp, const char *prefix)
{
	memset(w, 0, sizeof(*w));
	w->fp = fp;
	w->prefix = prefix;
}

/* Adds a module whose results to wait for: want of them, or ULONG_MAX
 * while the daemon has not said how many. */
void
wait_module(struct wait *w, const char *module, unsigned long want)
{
	size_t n = w->nmodules + 1;

	w->modules = reallocarray(w->modules, n, sizeof(*w->modules));
	w->want = reallocarray(w->want, n, sizeof(*w->want));
	w->got = reallocarray(w->got, n, sizeof(*w->got));
	if (w->modules == NULL || w->want == NULL || w->got == NULL ||
	    (w->modules[n - 1] = strdup(module)) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	w->want[n - 1] = want;
	w->got[n - 1] = 0;
	w->nmodules = n;
}

/* Frees what a wait holds. */
void
wait_free(struct wait *w)
{
	size_t i;

	for (i = 0; i < w->nmodules; i++)
		free((char *)w->modules[i]);
	free(w->modules);
	free(w->want);
	free(w->got);
	free(w->batch);
	free(w->count);
	free(w->bgot);
	memset(w, 0, sizeof(*w));
}

/* Notes a batch event: one of the batches a wait by batches counts. */
static void
wait_batch(struct wait *w, const struct proto_msg *m)
{
	unsigned long long id, count;
	size_t n = w->nbatches + 1;

	if (proto_get_uint(m, "batch", &id) == -1 ||
	    proto_get_uint(m, "count", &count) == -1)
		return;
	w->batch = reallocarray(w->batch, n, sizeof(*w->batch));
	w->count = reallocarray(w->count, n, sizeof(*w->count));
	w->bgot = reallocarray(w->bgot, n, sizeof(*w->bgot));
	if (w->batch == NULL || w->count == NULL || w->bgot == NULL)
		ctl_die(EX_OSERR, "out of memory");
	w->batch[n - 1] = (unsigned long)id;
	w->count[n - 1] = (unsigned long)count;
	w->bgot[n - 1] = 0;
	w->nbatches = n;
}

/* Counts and prints a result event if the wait is for it. */
static void
wait_result(struct wait *w, const struct proto_msg *m)
{
	const char *module = proto_get(m, "module"), *status;
	unsigned long long id;
	int node = proto_get(m, "node") != NULL;
	size_t i;

	/* A module prepared (protocol 2) has not switched yet: its result
	 * comes when its switch commits or aborts. */
	status = proto_get(m, "status");
	if (module == NULL || (status != NULL && strcmp(status,
	    "prepared") == 0))
		return;
	if (w->modules != NULL) {
		for (i = 0; i < w->nmodules; i++)
			if (strcmp(w->modules[i], module) == 0)
				break;
		if (i == w->nmodules)
			return;
		if (!node) {
			if (w->got[i] >= w->want[i])
				return;
			w->got[i]++;
		}
	} else {
		if (proto_get_uint(m, "batch", &id) == -1)
			return;
		for (i = 0; i < w->nbatches; i++)
			if (w->batch[i] == id)
				break;
		if (i == w->nbatches)
			return;
		if (!node)
			w->bgot[i]++;
	}
	status = proto_get(m, "status");
	if (status == NULL || strcmp(status, "ok") != 0)
		w->failed = 1;
	w->results++;
	result_print(w->fp, w->prefix, m);
}

/* Handles a line that answers no request while a wait is set up: events
 * are counted and printed, anything else is left alone (wait_run sees
 * error lines first). */
void
wait_event(struct conn *c, struct proto_msg *m, void *arg)
{
	struct wait *w = arg;
	const char *type;

	if (strcmp(m->verb, "event") != 0 ||
	    (type = proto_get(m, "type")) == NULL)
		return;
	if (strcmp(type, "attach") == 0)
		names_add(proto_get(m, "client"), proto_get(m, "name"),
		    proto_get(m, "pid"));
	if (w == NULL || !w->armed)
		return;
	if (strcmp(type, "batch") == 0 && w->modules == NULL)
		wait_batch(w, m);
	else if (strcmp(type, "result") == 0)
		wait_result(w, m);
}

/* Says whether every result waited for has come. */
int
wait_done(const struct wait *w)
{
	size_t i;

	if (w->modules != NULL) {
		for (i = 0; i < w->nmodules; i++)
			if (w->got[i] < w->want[i])
				return 0;
		return 1;
	}
	if (w->nbatches < w->wantbatches)
		return 0;
	for (i = 0; i < w->nbatches; i++)
		if (w->bgot[i] < w->count[i])
			return 0;
	return 1;
}

/* Says on standard error what a wait still lacks. */
static void
wait_missing(const struct wait *w)
{
	unsigned long n = 0;
	size_t i;

	if (w->modules != NULL) {
		for (i = 0; i < w->nmodules; i++)
			if (w->got[i] < w->want[i])
				ctl_warnx("%s: %lu of %lu result%s missing",
				    w->modules[i], w->want[i] - w->got[i],
				    w->want[i], w->want[i] == 1 ? "" : "s");
		return;
	}
	if (w->nbatches < w->wantbatches)
		ctl_warnx("%lu of %lu batch%s never sent",
		    w->wantbatches - w->nbatches, w->wantbatches,
		    w->wantbatches == 1 ? "" : "es");
	for (i = 0; i < w->nbatches; i++)
		n += w->count[i] - (w->bgot[i] < w->count[i] ? w->bgot[i] :
		    w->count[i]);
	if (n > 0)
		ctl_warnx("%lu result%s missing", n, n == 1 ? "" : "s");
}

/*
 * Reads events until every result waited for has come: 0, EX_SOFTWARE
 * if some module failed or was rolled back, EX_TEMPFAIL when the
 * timeout passed first, EX_UNAVAILABLE if the daemon went away.
 */
int
wait_run(struct conn *c, struct wait *w)
{
	struct proto_msg m;
	int rc;

	while (!wait_done(w)) {
		rc = conn_read(c, &m);
		if (rc == CONN_LINE && strcmp(m.verb, "error") == 0) {
			conn_error_text(&m, NULL, c->err, sizeof(c->err));
			ctl_warnx("%s", c->err);
			wait_missing(w);
			return conn_error_status(proto_get(&m, "code"));
		}
		if (rc == CONN_LINE) {
			/* The connection's own handler, if any, passes events
			 * on to this wait (build --watch notes its sources). */
			if (c->on_event != NULL)
				c->on_event(c, &m, c->arg);
			else
				wait_event(c, &m, w);
			continue;
		}
		if (rc == CONN_TIMEOUT) {
			ctl_warnx("timed out waiting for results (-t)");
			wait_missing(w);
			return EX_TEMPFAIL;
		}
		if (rc == CONN_SIGNAL)
			return EX_TEMPFAIL;
		if (rc == CONN_EOF) {
			ctl_warnx("the daemon went away before every result "
			    "came");
			wait_missing(w);
			return EX_UNAVAILABLE;
		}
		ctl_warnx("%s", c->err);
		return c->errcode != 0 ? c->errcode : EX_PROTOCOL;
	}
	return w->failed ? EX_SOFTWARE : 0;
}

/* Subscribes, learns the clients' names, and sets the wait up for the
 * events to come. */
static void
reload_setup(struct conn *c, struct wait *w)
{
	struct proto_msg m;

	wait_init(w, stdout, "");
	c->on_event = wait_event;
	c->arg = w;
	conn_simple(c, "subscribe", &m);
	names_load(c);
	w->armed = 1;
}

/* Says whether the ok line of a reload or rollback says held=yes. */
static int
reload_held(const struct proto_msg *m)
{
	const char *held = proto_get(m, "held");

	return held != NULL && strcmp(held, "yes") == 0;
}

/* Asks for the reload (or rollback, verb) of one module and notes how
 * many results to wait for; returns 0, or the exit status of an error
 * the daemon answered. */
static int
reload_one(struct conn *c, struct wait *w, const char *verb,
    const char *module)
{
	char buf[PROTO_MAX_LINE + 256];
	unsigned long long clients, skipped;
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;
	int rc;

	id = conn_start(c, &o, verb);
	proto_add(&o, "module", module);
	conn_send_or_die(c, &o);
	wait_module(w, module, ULONG_MAX);
	rc = conn_answer(c, id, &m);
	if (rc == ANS_ERROR) {
		w->want[w->nmodules - 1] = 0;
		conn_error_text(&m, module, buf, sizeof(buf));
		ctl_warnx("%s", buf);
		return conn_error_status(proto_get(&m, "code"));
	}
	if (rc != ANS_OK)
		ctl_die(EX_PROTOCOL, "%s: the daemon answered with an "
		    "unexpected \"%s\" line", verb, m.verb);
	if (proto_get_uint(&m, "clients", &clients) == -1)
		ctl_die(EX_PROTOCOL, "%s %s: the daemon's ok has no clients=",
		    verb, module);
	if (proto_get_uint(&m, "skipped", &skipped) == 0 && skipped > 0)
		printf("%s: skipped in %llu process%s without a previous "
		    "version\n", module, skipped, skipped == 1 ? "" : "es");
	if (reload_held(&m)) {
		printf("%s: held; %llu process%s will reload it at release\n",
		    module, clients, clients == 1 ? "" : "es");
		clients = 0;
	}
	/* Results may have come before the ok. */
	w->want[w->nmodules - 1] = (unsigned long)clients;
	return 0;
}

/* Asks every client to reload everything it has; the wait is by
 * batches. */
static int
reload_all(struct conn *c, struct wait *w)
{
	unsigned long long clients;
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;

	id = conn_start(c, &o, "reload");
	proto_add(&o, "all", "yes");
	conn_send_or_die(c, &o);
	conn_expect_ok(c, id, "reload", &m);
	if (proto_get_uint(&m, "clients", &clients) == -1)
		ctl_die(EX_PROTOCOL, "reload --all: the daemon's ok has no "
		    "clients=");
	if (clients == 0)
		printf("no attached process has a module loaded\n");
	else if (reload_held(&m)) {
		printf("held; %llu process%s will reload at release\n",
		    clients, clients == 1 ? "" : "es");
		clients = 0;
	}
	w->wantbatches = (unsigned long)clients;
	return 0;
}

/* "reload module... | --all": forces a reload of the modules in every
 * process that has them, and prints each process's result. */
int
cmd_reload(struct conn *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct wait w;
	int ch, all = 0, i, rc, first = 0, reset = 1;

	while ((ch = ctl_getopt(argc, argv, "+:ajv", longopts, reset)) !=
	    -1) {
		reset = 0;
		if (ch == 'a')
			all = 1;
		else if (ch == 'j')
			opts.json = 1;
		else
			opts.verbose = 1;
	}
	if (all && optind != argc)
		ctl_usage_error("reload: --all and module names exclude each "
		    "other");
	if (!all && optind == argc)
		ctl_usage_error("reload: name the modules, or --all");
	for (i = optind; i < argc; i++)
		if (*argv[i] == '\0')
			ctl_usage_error("reload: a module name is empty");
	conn_connect(c);
	reload_setup(c, &w);
	if (all)
		reload_all(c, &w);
	else
		for (i = optind; i < argc; i++)
			if ((rc = reload_one(c, &w, "reload", argv[i])) != 0 &&
			    first == 0)
				first = rc;
	rc = wait_run(c, &w);
	wait_free(&w);
	return first != 0 ? first : rc;
}

/* "rollback module": takes every process that has the module back to
 * the version it ran before its last reload. */
int
cmd_rollback(struct conn *c, int argc, char **argv)
{
	struct wait w;
	int i, rc;

	i = ctl_getopt(argc, argv, "+:jv", NULL, 1);
	for (; i != -1; i = ctl_getopt(argc, argv, "+:jv", NULL, 0)) {
		if (i == 'j')
			opts.json = 1;
		else
			opts.verbose = 1;
	}
	if (argc - optind != 1 || *argv[optind] == '\0')
		ctl_usage_error("rollback takes one module name");
	conn_connect(c);
	reload_setup(c, &w);
	if ((rc = reload_one(c, &w, "rollback", argv[optind])) != 0) {
		wait_free(&w);
		return rc;
	}
	rc = wait_run(c, &w);
	wait_free(&w);
	return rc;
}
