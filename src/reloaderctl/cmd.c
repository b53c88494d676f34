/*
 * cmd.c: the commands that ask and print: status, list, hold, release,
 * tail and subscribe.
 *
 * Each checks its arguments before it connects, so that a bad command
 * line is EX_USAGE whether or not a daemon runs.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Options a command that prints may take after its name: -j/--json and
 * -v/--verbose, like the global ones. */
static const struct option print_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 }
};

/* Parses -j and -v after a command's name; returns the index of its
 * first operand. */
static int
cmd_print_opts(int argc, char **argv)
{
	int ch, reset = 1;

	while ((ch = ctl_getopt(argc, argv, "+:jv", print_longopts,
	    reset)) != -1) {
		reset = 0;
		if (ch == 'j')
			opts.json = 1;
		else
			opts.verbose = 1;
	}
	return optind;
}

/* Returns a field's value, or "?" when the daemon did not send it. */
static const char *
cmd_get(const struct proto_msg *m, const char *key)
{
	const char *v = proto_get(m, key);

	return v != NULL ? v : "?";
}

/* Returns a field's value, or "-" when it is absent or empty. */
static const char *
cmd_dash(const struct proto_msg *m, const char *key)
{
	const char *v = proto_get(m, key);

	return v != NULL && *v != '\0' ? v : "-";
}

/* Returns "" or "s", for a count in a field. */
static const char *
cmd_plural(const struct proto_msg *m, const char *key)
{
	const char *v = proto_get(m, key);

	return v != NULL && strcmp(v, "1") == 0 ? "" : "s";
}

/* Adds a row of the status table for a daemon line. */
static void
status_daemon(struct table *t, const struct proto_msg *m)
{
	char up[64], hbuf[64];
	const char *held = cmd_get(m, "held");

	table_add(t, "daemon");
	table_add(t, "reloaderd %s, pid %s, up %s", cmd_get(m, "version"),
	    cmd_get(m, "pid"), out_uptime(proto_get(m, "uptime"), up,
	    sizeof(up)));
	table_add(t, "socket");
	table_add(t, "%s", cmd_get(m, "socket"));
	table_add(t, "config");
	table_add(t, "%s", proto_get(m, "config") == NULL ||
	    *proto_get(m, "config") == '\0' ? "none (built-in defaults)" :
	    proto_get(m, "config"));
	table_add(t, "settle");
	table_add(t, "%s ms (poll interval %s ms)", cmd_get(m, "settle"),
	    cmd_get(m, "interval"));
	table_add(t, "held");
	if (strcmp(held, "0") == 0)
		table_add(t, "no");
	else {
		snprintf(hbuf, sizeof(hbuf), "yes (%s hold%s)", held,
		    strcmp(held, "1") == 0 ? "" : "s");
		table_cell(t, "warn", hbuf);
	}
}

/* Adds the rows of the status table for the inotify and counts lines. */
static void
status_counts(struct table *t, const struct proto_msg *ino,
    const struct proto_msg *n)
{
	if (ino != NULL) {
		table_add(t, "inotify");
		table_add(t, "%s watch%s in use; limits %s watches, %s "
		    "instances, %s queued events", cmd_get(ino, "watches"),
		    strcmp(cmd_get(ino, "watches"), "1") == 0 ? "" : "es",
		    cmd_dash(ino, "max-user-watches"),
		    cmd_dash(ino, "max-user-instances"),
		    cmd_dash(ino, "max-queued-events"));
	}
	if (n == NULL)
		return;
	table_add(t, "clients");
	table_add(t, "%s attached, %s control connection%s",
	    cmd_get(n, "clients"), cmd_get(n, "controls"),
	    cmd_plural(n, "controls"));
	table_add(t, "modules");
	table_add(t, "%s registered", cmd_get(n, "modules"));
	table_add(t, "changes");
	table_add(t, "%s seen, %s batch%s sent", cmd_get(n, "changes"),
	    cmd_get(n, "batches"),
	    strcmp(cmd_get(n, "batches"), "1") == 0 ? "" : "es");
	table_add(t, "reloads");
	table_add(t, "%s ok, %s load failed, %s rolled back, %s test failed",
	    cmd_get(n, "ok"), cmd_get(n, "load-failed"),
	    cmd_get(n, "rolled-back"), cmd_get(n, "test-failed"));
	table_add(t, "");
	table_add(t, "%s from other nodes, %s rollback%s", cmd_get(n, "remote"),
	    cmd_get(n, "rollbacks"), cmd_plural(n, "rollbacks"));
}

/* Adds a row of the roots table. */
static void
status_root(struct table *t, const struct proto_msg *m)
{
	const char *state = cmd_get(m, "state");
	const char *implicit = proto_get(m, "implicit");
	const char *unread = proto_get(m, "unread");

	table_add(t, "%s", cmd_get(m, "path"));
	table_add(t, "%s", cmd_get(m, "backend"));
	table_add(t, "%s", cmd_get(m, "dirs"));
	table_add(t, "%s", cmd_get(m, "files"));
	if (strcmp(state, "watching") == 0 && unread != NULL &&
	    strcmp(unread, "0") != 0)
		/* Its first stamps are still being read. */
		table_add(t, "watching, %s stamps to read", unread);
	else
		table_cell(t, strcmp(state, "watching") == 0 ? NULL : "warn",
		    state);
	table_add(t, "%s", implicit != NULL && strcmp(implicit, "yes") == 0 ?
	    "for clients' modules" : "configured");
}

/* "status": the daemon, its watches and limits, its roots, clients,
 * modules and counters. */
int
cmd_status(struct conn *c, int argc, char **argv)
{
	struct table *kv, *roots;
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;
	int rc, nroots = 0;

	if (cmd_print_opts(argc, argv) != argc)
		ctl_usage_error("status takes no arguments");
	conn_connect(c);
	id = conn_start(c, &o, "status");
	conn_send_or_die(c, &o);
	kv = table_new(2);
	roots = table_new(6);
	table_cell(roots, "bold", "ROOT");
	table_cell(roots, "bold", "BACKEND");
	table_cell(roots, "bold", "DIRS");
	table_cell(roots, "bold", "FILES");
	table_cell(roots, "bold", "STATE");
	table_cell(roots, "bold", "WHY");
	while ((rc = conn_answer(c, id, &m)) == ANS_DATA) {
		if (opts.json)
			out_json(stdout, NULL, &m);
		else if (strcmp(m.verb, "daemon") == 0)
			status_daemon(kv, &m);
		else if (strcmp(m.verb, "inotify") == 0)
			status_counts(kv, &m, NULL);
		else if (strcmp(m.verb, "counts") == 0)
			status_counts(kv, NULL, &m);
		else if (strcmp(m.verb, "root") == 0) {
			status_root(roots, &m);
			nroots++;
		}
	}
	if (rc == ANS_ERROR)
		conn_error_die(c, &m, "status");
	if (!opts.json) {
		table_print(kv, stdout, "");
		if (nroots == 0)
			printf("no directory watched yet\n");
		else
			table_print(roots, stdout, "");
	}
	table_free(kv);
	table_free(roots);
	return 0;
}

/* Returns the STATE cell of a loaded line and its colour kind. */
static const char *
list_state(const struct proto_msg *m, char *buf, size_t len,
    const char **color)
{
	const char *state = cmd_get(m, "state"), *stale = proto_get(m,
	    "stale");

	*color = NULL;
	if (stale == NULL || strcmp(stale, "yes") != 0)
		return state;
	*color = strcmp(state, "failed") == 0 ||
	    strcmp(state, "invalid") == 0 ? "bad" : "warn";
	snprintf(buf, len, "stale (%s)", state);
	return buf;
}

/* Adds to a list of notes the reason a registration is not current. */
static void
list_note(char **notes, size_t *len, const char *label,
    const struct proto_msg *m)
{
	const char *reason = proto_get(m, "reason"), *state = cmd_get(m,
	    "state");
	char esc[2048], line[4096];
	char *nn;
	int n;

	if (strcmp(state, "current") == 0 || reason == NULL || *reason == '\0')
		return;
	n = snprintf(line, sizeof(line), "  %s %s: %s: %s\n", label,
	    cmd_get(m, "module"), state, out_vis(reason, esc, sizeof(esc)));
	if (n < 0)
		return;
	if ((nn = realloc(*notes, *len + (size_t)n + 1)) == NULL)
		return;
	*notes = nn;
	memcpy(*notes + *len, line, (size_t)n + 1);
	*len += (size_t)n;
}

/* What list shows: the clients and modules asked for, and the counts. */
struct list_filter {
	const char *client;              /* id, name prefix or glob; NULL */
	const char *module;              /* module glob; NULL: all */
	int all;                         /* OTP's own modules too */
};

/* Says whether pattern p has a glob character. */
static int
list_is_glob(const char *p)
{
	return strpbrk(p, "*?[") != NULL;
}

/* Says whether a client line is one the filter asks for: its id, or a
 * name the glob matches, or a name the word starts. */
static int
list_client_match(const struct list_filter *f, const struct proto_msg *m)
{
	const char *name = cmd_get(m, "name");

	if (f->client == NULL)
		return 1;
	if (strcmp(cmd_get(m, "client"), f->client) == 0)
		return 1;
	if (list_is_glob(f->client))
		return fnmatch(f->client, name, 0) == 0;
	return strncmp(name, f->client, strlen(f->client)) == 0;
}

/* Says whether a loaded line is shown: its module matches, and it is
 * not OTP's own unless -a.  Counts the OTP modules left out. */
static int
list_module_match(const struct list_filter *f, const struct proto_msg *m,
    unsigned long *hidden)
{
	const char *origin = proto_get(m, "origin");

	if (f->module != NULL && fnmatch(f->module, cmd_get(m, "module"),
	    0) != 0)
		return 0;
	if (!f->all && origin != NULL && strcmp(origin, "otp") == 0) {
		(*hidden)++;
		return 0;
	}
	return 1;
}

/* Reads list's options and operands: [-a] [-m glob] [client [glob]]. */
static void
list_args(int argc, char **argv, struct list_filter *f)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "module", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int ch, reset = 1;

	memset(f, 0, sizeof(*f));
	while ((ch = ctl_getopt(argc, argv, "+:ajm:v", longopts, reset)) !=
	    -1) {
		reset = 0;
		if (ch == 'a')
			f->all = 1;
		else if (ch == 'm')
			f->module = optarg;
		else if (ch == 'j')
			opts.json = 1;
		else
			opts.verbose = 1;
	}
	argc -= optind;
	argv += optind;
	if (argc > 2 || (argc == 2 && f->module != NULL))
		ctl_usage_error("list takes at most a client and a module "
		    "(or -m module)");
	if (argc >= 1)
		f->client = argv[0];
	if (argc == 2)
		f->module = argv[1];
	if ((f->client != NULL && *f->client == '\0') ||
	    (f->module != NULL && *f->module == '\0'))
		ctl_usage_error("list: the %s is empty",
		    f->module != NULL && *f->module == '\0' ? "module" :
		    "client name");
}

/* Adds the ID and CLIENT cells of a client's row. */
static void
list_client_cells(struct table *t, const char *id, const char *label)
{
	table_add(t, "%s", id);
	table_add(t, "%s", label);
}

/*
 * "list [-a] [-m glob] [client [glob]]": the attached clients and each
 * of their modules with the stamp it runs and the stamp on disk, stale
 * ones marked.  A client is picked by id, by the start of its name or by
 * a glob; modules by a glob; OTP's own (origin=otp) only with -a.
 */
int
cmd_list(struct conn *c, int argc, char **argv)
{
	char label[512], cid[32], have[512], disk[512], sbuf[64];
	char *notes = NULL, *cjson = NULL;
	const char *color, *state;
	struct list_filter f;
	struct table *t;
	struct proto_msg m;
	struct proto_out o;
	unsigned long id, stale = 0, hidden = 0, nmods = 0;
	size_t nlen = 0, cjlen = 0;
	int rc, cols, rows = 0, shown = 0, nclients = 0;
	FILE *cj;

	list_args(argc, argv, &f);
	conn_connect(c);
	id = conn_start(c, &o, "list");
	conn_send_or_die(c, &o);

	cols = opts.verbose ? 7 : 6;
	t = table_new((size_t)cols);
	table_cell(t, "bold", "ID");
	table_cell(t, "bold", "CLIENT");
	table_cell(t, "bold", "MODULE");
	table_cell(t, "bold", "LOADED");
	table_cell(t, "bold", "ON DISK");
	table_cell(t, "bold", "STATE");
	if (opts.verbose)
		table_cell(t, "bold", "PATH");
	label[0] = cid[0] = '\0';
	while ((rc = conn_answer(c, id, &m)) == ANS_DATA) {
		if (strcmp(m.verb, "client") == 0) {
			if (shown && rows == 0 && f.module == NULL) {
				/* The last client had no modules shown. */
				list_client_cells(t, cid, label);
				table_add(t, "-");
				table_row(t);
			}
			shown = list_client_match(&f, &m);
			rows = 0;
			if (!shown)
				continue;
			snprintf(label, sizeof(label), "%s[%s]",
			    cmd_get(&m, "name"), cmd_get(&m, "pid"));
			snprintf(cid, sizeof(cid), "%s", cmd_get(&m, "client"));
			/* Printed with its first module when -m picks them. */
			free(cjson);
			cjson = NULL;
			if ((cj = open_memstream(&cjson, &cjlen)) == NULL)
				ctl_die(EX_OSERR, "out of memory");
			out_json(cj, NULL, &m);
			fclose(cj);
			if (f.module == NULL) {
				nclients++;
				if (opts.json)
					fputs(cjson, stdout);
			}
			continue;
		}
		if (strcmp(m.verb, "loaded") != 0 || !shown ||
		    !list_module_match(&f, &m, &hidden))
			continue;
		if (rows == 0 && f.module != NULL) {
			nclients++;
			if (opts.json)
				fputs(cjson, stdout);
		}
		nmods++;
		rows++;
		if (opts.json) {
			out_json(stdout, NULL, &m);
			continue;
		}
		list_client_cells(t, cid, label);
		table_add(t, "%s", cmd_get(&m, "module"));
		table_add(t, "%s", out_stamp(proto_get(&m, "have"), have,
		    sizeof(have)));
		table_add(t, "%s", out_stamp(proto_get(&m, "disk"), disk,
		    sizeof(disk)));
		state = list_state(&m, sbuf, sizeof(sbuf), &color);
		table_cell(t, color, state);
		if (opts.verbose)
			table_add(t, "%s", cmd_get(&m, "path"));
		if (color != NULL)
			stale++;
		list_note(&notes, &nlen, label, &m);
	}
	free(cjson);
	if (rc == ANS_ERROR) {
		table_free(t);
		free(notes);
		conn_error_die(c, &m, "list");
	}
	if (shown && rows == 0 && f.module == NULL) {
		list_client_cells(t, cid, label);
		table_add(t, "-");
		table_row(t);
	}
	if (nclients == 0 && f.client != NULL) {
		table_free(t);
		free(notes);
		ctl_die(EX_DATAERR, "%s: no attached client has that id or "
		    "a name that matches%s", f.client, f.module != NULL ?
		    " with such a module" : "");
	}
	if (!opts.json) {
		if (nclients > 0)
			table_print(t, stdout, "");
		printf("%d client%s, %lu module%s, %lu stale", nclients,
		    nclients == 1 ? "" : "s", nmods, nmods == 1 ? "" : "s",
		    stale);
		if (hidden > 0)
			printf("; %lu of OTP's own module%s not shown (-a "
			    "shows them)", hidden, hidden == 1 ? "" : "s");
		printf("\n");
		/* Why each one is not current, and what ends it. */
		if (notes != NULL)
			printf("%s", notes);
	}
	free(notes);
	table_free(t);
	return 0;
}

/* "hold": holds reloads until a release, from this or any connection. */
int
cmd_hold(struct conn *c, int argc, char **argv)
{
	struct proto_msg m;

	struct proto_out o;
	unsigned long id;

	if (cmd_print_opts(argc, argv) != argc)
		ctl_usage_error("hold takes no arguments");
	conn_connect(c);
	/* reloaderctl exits at once: the hold must outlive the connection. */
	id = conn_start(c, &o, "hold");
	proto_add(&o, "scope", "daemon");
	conn_send_or_die(c, &o);
	conn_expect_ok(c, id, "hold", &m);
	if (opts.json)
		out_json(stdout, NULL, &m);
	else
		printf("reloads held for %s (%s hold%s in effect); "
		    "reloaderctl release delivers them\n",
		    proto_get(&m, "for") != NULL &&
		    strcmp(proto_get(&m, "for"), "uid") == 0 ?
		    "your processes" : "every process", cmd_get(&m, "held"),
		    cmd_plural(&m, "held"));
	return 0;
}

/* "release [--discard]": ends a hold; the changes it kept go out as one
 * batch per client, or are dropped with --discard. */
int
cmd_release(struct conn *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "discard", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;
	int ch, discard = 0, reset = 1;

	while ((ch = ctl_getopt(argc, argv, "+:djv", longopts, reset)) !=
	    -1) {
		reset = 0;
		if (ch == 'd')
			discard = 1;
		else if (ch == 'j')
			opts.json = 1;
		else
			opts.verbose = 1;
	}
	if (optind != argc)
		ctl_usage_error("release takes no arguments but --discard");
	conn_connect(c);
	id = conn_start(c, &o, "release");
	if (discard)
		proto_add(&o, "deliver", "no");
	conn_send_or_die(c, &o);
	conn_expect_ok(c, id, "release", &m);
	if (opts.json) {
		out_json(stdout, NULL, &m);
		return 0;
	}
	if (discard)
		printf("released: %s change%s discarded", cmd_get(&m,
		    "discarded"), cmd_plural(&m, "discarded"));
	else
		printf("released: %s module%s delivered to %s client%s",
		    cmd_get(&m, "delivered"), cmd_plural(&m, "delivered"),
		    cmd_get(&m, "clients"), cmd_plural(&m, "clients"));
	if (strcmp(cmd_get(&m, "held"), "0") != 0)
		printf("; still held by %s other hold%s", cmd_get(&m, "held"),
		    cmd_plural(&m, "held"));
	printf("\n");
	return 0;
}

/* Prints a log line as the daemon's own log does: TIME LEVEL MSG. */
static void
tail_print(const struct proto_msg *m)
{
	const char *level = cmd_get(m, "level"), *color = NULL;

	if (opts.json) {
		out_json(stdout, NULL, m);
		out_flush(stdout);
		return;
	}
	if (strcmp(level, "error") == 0)
		color = "bad";
	else if (strcmp(level, "warn") == 0)
		color = "warn";
	else if (strcmp(level, "debug") == 0)
		color = "dim";
	out_safe(stdout, cmd_get(m, "time"));
	printf(" %s", out_color(color));
	out_safe(stdout, level);
	printf("%s ", color != NULL ? out_reset() : "");
	out_safe(stdout, cmd_get(m, "msg"));
	putchar('\n');
	out_flush(stdout);
}

/* Reads a line count for tail -n: a decimal number. */
static unsigned long
tail_lines(const char *s)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    n > 1000000)
		ctl_usage_error("tail: -n %s: expected a number of lines", s);
	return n;
}

/* Follows the daemon's live lines after the answer: log lines for tail,
 * events for subscribe; ends quietly on SIGINT, SIGTERM or SIGHUP, and
 * with EX_UNAVAILABLE when the daemon goes away. */
static int
cmd_follow(struct conn *c, void (*print)(const struct proto_msg *))
{
	struct proto_msg m;
	int rc;

	c->deadline = 0;
	for (;;) {
		rc = conn_read(c, &m);
		if (rc == CONN_SIGNAL)
			return 0;
		if (rc == CONN_EOF)
			ctl_die(EX_UNAVAILABLE, "the daemon went away (%s "
			    "closed)", c->path);
		if (rc != CONN_LINE)
			conn_fail(c, rc);
		if (strcmp(m.verb, "error") == 0)
			conn_error_die(c, &m, NULL);
		print(&m);
	}
}

/* Prints a followed line if it is a log line. */
static void
tail_follow_print(const struct proto_msg *m)
{
	if (strcmp(m->verb, "log") == 0)
		tail_print(m);
}

/* "tail [-f] [-n lines]": the daemon's recent log lines from its memory,
 * then with -f every new one as it is logged. */
int
cmd_tail(struct conn *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct proto_msg m;
	struct proto_out o;
	unsigned long id, lines = 10;
	int ch, follow = 0, rc, reset = 1;

	while ((ch = ctl_getopt(argc, argv, "+:fjn:v", longopts, reset)) !=
	    -1) {
		reset = 0;
		if (ch == 'f')
			follow = 1;
		else if (ch == 'n')
			lines = tail_lines(optarg);
		else if (ch == 'j')
			opts.json = 1;
		else
			opts.verbose = 1;
	}
	if (optind != argc)
		ctl_usage_error("tail takes no arguments but -f and -n lines");
	if (follow)
		sig_catch();
	conn_connect(c);
	id = conn_start(c, &o, "log");
	proto_addf(&o, "lines", "%lu", lines);
	proto_add(&o, "follow", follow ? "yes" : "no");
	conn_send_or_die(c, &o);
	while ((rc = conn_answer(c, id, &m)) == ANS_DATA)
		if (strcmp(m.verb, "log") == 0)
			tail_print(&m);
	if (rc == ANS_ERROR)
		conn_error_die(c, &m, "tail");
	if (!follow)
		return 0;
	return cmd_follow(c, tail_follow_print);
}

/* Prints an event for humans: one line, its type first, values made
 * safe. */
static void
subscribe_human(const struct proto_msg *m)
{
	static char line[2 * PROTO_MAX_LINE];
	char a[512], b[512], label[512];
	const char *type = cmd_get(m, "type"), *how, *action;
	size_t i, o = 0;

	if (strcmp(type, "result") == 0) {
		result_print(stdout, "result ", m);
		return;
	}
	if (strcmp(type, "change") == 0) {
		how = proto_get(m, "how");
		snprintf(line, sizeof(line), "change %s %s %s was %s%s%s%s",
		    out_path(cmd_get(m, "path")), cmd_get(m, "module"),
		    out_stamp(proto_get(m, "stamp"), a, sizeof(a)),
		    out_stamp(proto_get(m, "was"), b, sizeof(b)),
		    how != NULL && strcmp(how, "changed") != 0 ? " (" : "",
		    how != NULL && strcmp(how, "changed") != 0 ? how : "",
		    how != NULL && strcmp(how, "changed") != 0 ? ")" : "");
	} else if (strcmp(type, "batch") == 0) {
		action = proto_get(m, "action");
		snprintf(line, sizeof(line), "batch %s to %s: %s module%s%s",
		    cmd_get(m, "batch"), names_label(proto_get(m, "client"),
		    proto_get(m, "name"), label, sizeof(label)),
		    cmd_get(m, "count"), cmd_plural(m, "count"),
		    action != NULL && strcmp(action, "rollback") == 0 ?
		    " (rollback)" : "");
	} else if (strcmp(type, "attach") == 0)
		snprintf(line, sizeof(line), "attach %s[%s] (client %s)",
		    cmd_get(m, "name"), cmd_get(m, "pid"),
		    cmd_get(m, "client"));
	else if (strcmp(type, "detach") == 0)
		snprintf(line, sizeof(line), "detach %s",
		    names_label(proto_get(m, "client"), proto_get(m, "name"),
		    label, sizeof(label)));
	else if (strcmp(type, "hold") == 0)
		snprintf(line, sizeof(line), "hold: %s in effect",
		    cmd_get(m, "held"));
	else if (strcmp(type, "release") == 0)
		snprintf(line, sizeof(line), "release: %s delivered, %s "
		    "discarded, %s hold%s left", cmd_get(m, "delivered"),
		    cmd_get(m, "discarded"), cmd_get(m, "held"),
		    cmd_plural(m, "held"));
	else {
		/* A type this reloaderctl does not know: every field. */
		o = (size_t)snprintf(line, sizeof(line), "%s", type);
		for (i = 0; i < m->n && o < sizeof(line); i++)
			if (strcmp(m->f[i].key, "type") != 0)
				o += (size_t)snprintf(line + o,
				    sizeof(line) - o, " %s=%s", m->f[i].key,
				    m->f[i].val);
	}
	out_safe(stdout, line);
	putchar('\n');
}

/* Prints one event line, as JSON or for humans, and flushes it. */
static void
subscribe_print(const struct proto_msg *m)
{
	if (strcmp(m->verb, "event") != 0)
		return;
	if (strcmp(cmd_get(m, "type"), "attach") == 0)
		names_add(proto_get(m, "client"), proto_get(m, "name"),
		    proto_get(m, "pid"));
	if (opts.json)
		out_json(stdout, cmd_get(m, "type"), m);
	else
		subscribe_human(m);
	out_flush(stdout);
}

/* "subscribe [--json]": one line per change, batch, result, attach,
 * detach, hold and release, as they happen, until interrupted. */
int
cmd_subscribe(struct conn *c, int argc, char **argv)
{
	struct proto_msg m;

	if (cmd_print_opts(argc, argv) != argc)
		ctl_usage_error("subscribe takes no arguments but --json");
	sig_catch();
	conn_connect(c);
	if (!opts.json)
		names_load(c);
	conn_simple(c, "subscribe", &m);
	return cmd_follow(c, subscribe_print);
}
