/*
 * build.c: "reloaderctl build -- CMD...": hold reloads while a build
 * runs, then deliver everything it changed as one batch per client, or
 * nothing if it failed.
 *
 * The hold is tied to the connection (scope=connection), so that if
 * reloaderctl dies the daemon drops the hold and what it kept.  The
 * command runs in reloaderctl's process group with its standard input,
 * output and error, and its exit status is reloaderctl's.  While it runs
 * reloaderctl keeps reading the socket (a subscriber that does not read
 * is dropped), and waits for SIGCHLD in the same ppoll.
 *
 * A developer's build must never fail because the reloader is down: with
 * no daemon the command runs all the same, after one line saying so.
 *
 * "build --watch GLOB -- CMD" keeps the connection and builds again each
 * time the daemon reports that sources matching a GLOB changed
 * (watch-sources): once at the start, then at once when a save arrives
 * while idle, and exactly once more after a build during which saves
 * arrived, however many (watch.c keeps that rule).  Without the daemon
 * there is nothing to watch with, so --watch, unlike a single build,
 * stops when the daemon is not there or goes away.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* How the build went, as far as delivering goes. */
struct build {
	int connected;                   /* the hold is in effect */
	int interrupted;                 /* the signal that interrupted it */
	int status;                      /* from waitpid */
	pid_t pid;                       /* -1: it did not start */
};

/* What "build --watch" keeps from one build to the next. */
struct session {
	struct wait w;                   /* the results of the last release */
	struct watch_queue q;            /* the sources changed since */
};

/* Exit status of "build --watch" when it cannot watch (no daemon, one
 * too old, one that refuses or goes away), as the issue asks. */
#define BUILD_NOWATCH 2
#define BUILD_GONE "the daemon went away; build --watch stops, since it " \
	"watches the sources through the daemon"

/* Sends a request (verb, then key and value pairs up to a NULL key, so
 * that an optional field may go last) and reads its answer into m,
 * noting the clients a list names.  Returns 0 on ok; else, with c->err
 * saying why, 1 for an error line (in m), -1 when the daemon went away
 * or a signal came.  Nothing here may exit: a build runs whatever the
 * daemon says. */
static int
build_ask(struct conn *c, struct proto_msg *m, const char *verb, ...)
{
	struct proto_out o;
	unsigned long id;
	const char *key;
	va_list ap;
	int rc;

	id = conn_start(c, &o, verb);
	va_start(ap, verb);
	while ((key = va_arg(ap, const char *)) != NULL)
		proto_add(&o, key, va_arg(ap, const char *));
	va_end(ap);
	if (conn_send(c, &o) == -1)
		return -1;
	while ((rc = conn_answer_try(c, id, m)) == ANS_DATA)
		if (strcmp(m->verb, "client") == 0)
			names_add(proto_get(m, "client"), proto_get(m, "name"),
			    proto_get(m, "pid"));
	if (rc == ANS_OK)
		return 0;
	if (rc == ANS_ERROR) {
		conn_error_text(m, verb, c->err, sizeof(c->err));
		return 1;
	}
	if (rc == CONN_EOF)
		snprintf(c->err, sizeof(c->err), "%s: the daemon closed the "
		    "connection", c->path);
	else if (rc == CONN_TIMEOUT)
		snprintf(c->err, sizeof(c->err), "%s: no answer from the "
		    "daemon to %s", c->path, verb);
	else if (rc == CONN_SIGNAL)
		snprintf(c->err, sizeof(c->err), "interrupted");
	return -1;
}

/* Connects, subscribes, learns the clients' names, and sends the lines
 * that answer no request to on_event with arg; 0, or -1 with c->err
 * saying why not. */
static int
build_connect(struct conn *c, conn_event_fn *on_event, void *arg)
{
	struct proto_msg m;
	int rc;

	if (conn_open(c) == -1)
		return -1;
	if ((rc = conn_hello(c, &m)) == ANS_ERROR) {
		conn_error_text(&m, c->path, c->err, sizeof(c->err));
		goto fail;
	}
	if (rc != CONN_LINE) {
		if (rc != CONN_ERROR)
			snprintf(c->err, sizeof(c->err), "%s: no welcome from "
			    "the daemon", c->path);
		goto fail;
	}
	c->on_event = on_event;
	c->arg = arg;
	if (build_ask(c, &m, "subscribe", NULL) != 0 ||
	    build_ask(c, &m, "list", NULL) != 0)
		goto fail;
	return 0;
fail:
	conn_close(c);
	return -1;
}

/* Holds reloads for this connection alone, so that they end with it;
 * 0, or -1 with c->err saying why not. */
static int
build_hold(struct conn *c)
{
	struct proto_msg m;

	return build_ask(c, &m, "hold", "scope", "connection", NULL) == 0 ?
	    0 : -1;
}

/* Starts the command with reloaderctl's standard streams and signal
 * state from before sig_catch; returns its pid, or -1 with errno from a
 * failed fork or exec (the child, if any, is reaped). */
static pid_t
build_spawn(char **argv)
{
	int p[2], e = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		sig_restore();
		execvp(argv[0], argv);
		e = errno;
		(void)!write(p[1], &e, sizeof(e));
		_exit(127);
	}
	close(p[1]);
	/* Closed by the exec (O_CLOEXEC), or the exec's errno. */
	while ((n = read(p[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	close(p[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		errno = e;
		return -1;
	}
	return pid;
}

/* Handles a signal that arrived while the command runs: SIGINT, SIGTERM
 * or SIGHUP from the terminal already reached the command (same process
 * group); one sent to reloaderctl alone is passed on.  Either way the
 * build counts as interrupted. */
static void
build_signal(struct build *b)
{
	int sig = sig_pending;

	sig_pending = 0;
	if (sig == 0)
		return;
	if (sig_from_user)
		kill(b->pid, sig);
	if (b->interrupted == 0)
		b->interrupted = sig;
}

/* Says whether the command has ended, reaping it. */
static int
build_reaped(struct build *b)
{
	pid_t r;

	sig_child = 0;
	while ((r = waitpid(b->pid, &b->status, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	return r == b->pid;
}

/* Waits for the command to end, reading the socket meanwhile so that
 * the daemon never drops us; a lost daemon is said once, and the build
 * goes on. */
static void
build_wait(struct conn *c, struct build *b)
{
	struct proto_msg m;
	int rc;

	c->deadline = 0;
	for (;;) {
		if (build_reaped(b))
			return;
		build_signal(b);
		if (!b->connected) {
			/* Nothing to read: sleep until a signal. */
			if (!sig_pending && !sig_child)
				ppoll(NULL, 0, NULL, sig_waitmask());
			continue;
		}
		rc = conn_read(c, &m);
		if (rc == CONN_LINE && strcmp(m.verb, "error") != 0) {
			if (c->on_event != NULL)
				c->on_event(c, &m, c->arg);
			continue;
		}
		if (rc == CONN_LINE)
			conn_error_text(&m, NULL, c->err, sizeof(c->err));
		else if (rc == CONN_SIGNAL)
			continue;
		else if (rc == CONN_EOF)
			snprintf(c->err, sizeof(c->err), "the daemon closed "
			    "the connection");
		ctl_warnx("lost the daemon during the build (%s); reloads are "
		    "no longer held", c->err);
		conn_close(c);
		b->connected = 0;
	}
}

/* Ends the hold after a build: delivers (and prints the results of)
 * everything it kept, or discards it.  Returns 0, or -1 with c->err
 * when the daemon went away or a signal came first. */
static int
build_release(struct conn *c, struct wait *w, int deliver, const char *why)
{
	unsigned long long clients = 0, discarded = 0, held = 0, delivered = 0;
	struct proto_msg m;

	w->armed = 1;
	conn_set_timeout(c, opts.timeout);
	if (build_ask(c, &m, "release", deliver ? NULL : "deliver", "no",
	    NULL) != 0)
		return -1;
	proto_get_uint(&m, "clients", &clients);
	proto_get_uint(&m, "delivered", &delivered);
	proto_get_uint(&m, "discarded", &discarded);
	proto_get_uint(&m, "held", &held);
	if (!deliver) {
		ctl_warnx("%s: nothing delivered (%llu change%s discarded)",
		    why, discarded, discarded == 1 ? "" : "s");
		return 0;
	}
	if (held > 0) {
		ctl_warnx("%s; reloads stay held by %llu other hold%s", why,
		    held, held == 1 ? "" : "s");
		return 0;
	}
	if (delivered == 0) {
		ctl_warnx("%s: no module changed", why);
		return 0;
	}
	ctl_warnx("%s: %llu module%s delivered to %llu process%s", why,
	    delivered, delivered == 1 ? "" : "s", clients,
	    clients == 1 ? "" : "es");
	w->wantbatches = (unsigned long)clients;
	/* Failures are printed; the exit status stays the command's. */
	(void)wait_run(c, w);
	return 0;
}

/* Returns the shell's exit status for how the command ended. */
static int
build_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EX_SOFTWARE;
}

/*
 * Runs the command, with the hold in effect if b->connected, then ends
 * the hold: delivers what it changed if it succeeded (or always), else
 * discards it, and prints the results.  Returns the command's exit
 * status (128 plus the signal if one interrupted it and it exited 0).
 * The caught signals are let go before the release unless keep is set
 * and the command ran to its end uninterrupted.
 */
static int
build_run(struct conn *c, struct wait *w, struct build *b, char **argv,
    int always, int keep)
{
	char why[128];
	int code, e;

	b->interrupted = 0;
	fflush(stdout);
	if ((b->pid = build_spawn(argv)) == -1) {
		e = errno;
		code = e == ENOENT ? 127 : 126;
		ctl_warnx("%s: %s", argv[0], e == ENOENT ?
		    "command not found" : strerror(e));
		sig_restore();
		if (b->connected && build_release(c, w, 0,
		    "the build did not start") == -1)
			b->connected = 0;
		return code;
	}
	build_wait(c, b);
	build_signal(b);
	sig_forget_child();
	if (!keep || b->interrupted != 0)
		sig_restore();
	code = build_status(b->status);
	if (b->interrupted != 0 && code == 0)
		code = 128 + b->interrupted;
	if (!b->connected)
		return code;
	if (b->interrupted != 0)
		snprintf(why, sizeof(why), "build interrupted (%s)",
		    strsignal(b->interrupted));
	else if (WIFSIGNALED(b->status))
		snprintf(why, sizeof(why), "build killed by %s",
		    strsignal(WTERMSIG(b->status)));
	else if (code != 0)
		snprintf(why, sizeof(why), "build failed (exit %d)%s", code,
		    always ? ", delivering anyway (--always)" : "");
	else
		snprintf(why, sizeof(why), "build done");
	if (build_release(c, w, b->interrupted == 0 && (code == 0 ||
	    always), why) == -1) {
		if (!sig_pending)
			ctl_warnx("lost the daemon at the end of the build "
			    "(%s)", c->err);
		conn_close(c);
		b->connected = 0;
	}
	return code;
}

/* Handles a line that answers no request during "build --watch": a
 * change of a source is noted for the next build (and said with -v),
 * events go to the wait of the build being delivered. */
static void
build_notice(struct conn *c, struct proto_msg *m, void *arg)
{
	struct session *s = arg;
	const char *path, *what;

	if (strcmp(m->verb, "sources-changed") != 0) {
		wait_event(c, m, &s->w);
		return;
	}
	if ((path = proto_get(m, "path")) == NULL || *path == '\0')
		return;
	if ((what = proto_get(m, "what")) == NULL || *what == '\0')
		what = "changed";
	if (opts.verbose)
		ctl_warnx("%s %s%s", out_path(path), what, s->q.busy ?
		    " (during the build)" : "");
	watch_change(&s->q, path, what);
}

/* Stops "build --watch" for good when no build runs: quietly with 0 on
 * SIGINT, SIGTERM or SIGHUP, else with BUILD_NOWATCH, saying why. */
static void __attribute__((noreturn, format(printf, 2, 3)))
build_stop(struct conn *c, const char *fmt, ...)
{
	char msg[PROTO_MAX_LINE + 512];
	va_list ap;

	conn_close(c);
	if (sig_pending)
		exit(0);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_die(BUILD_NOWATCH, "%s", msg);
}

/* Handles what conn_read returned while no build runs: a line goes to
 * build_notice, an error line, the daemon going away or a signal stop
 * the watch.  Returns whether it was a line. */
static int
build_idle_line(struct conn *c, struct proto_msg *m, int rc)
{
	char err[PROTO_MAX_LINE + 256];

	switch (rc) {
	case CONN_LINE:
		if (strcmp(m->verb, "error") == 0) {
			conn_error_text(m, NULL, err, sizeof(err));
			build_stop(c, "%s; build --watch stops", err);
		}
		c->on_event(c, m, c->arg);
		return 1;
	case CONN_SIGNAL:
		if (sig_pending)
			build_stop(c, "interrupted");
		sig_child = 0;
		return 0;
	case CONN_EOF:
		build_stop(c, "%s", BUILD_GONE);
	case CONN_TIMEOUT:
		return 0;
	default:
		build_stop(c, "%s; build --watch stops", c->err);
	}
}

/* Waits, while no build runs, until a source changes; then takes what
 * else has already come, so that a burst of saves is one build. */
static void
build_idle(struct conn *c, struct session *s)
{
	struct proto_msg m;

	c->deadline = 0;
	while (s->q.npaths == 0)
		build_idle_line(c, &m, conn_read(c, &m));
	c->deadline = CONN_NOWAIT;
	while (build_idle_line(c, &m, conn_read(c, &m)))
		;
}

/* Asks the daemon to watch each pattern's sources for this connection,
 * and says what it watches; exits when it cannot. */
static void
build_sources(struct conn *c, struct watch_spec *specs, size_t n)
{
	char line[1024], err[PROTO_MAX_LINE + 256];
	const char *code, *files;
	struct proto_msg m;
	size_t i, o = 0;
	int rc;

	for (i = 0; i < n; i++) {
		rc = build_ask(c, &m, "watch-sources", "dir", specs[i].dir,
		    specs[i].match != NULL ? "match" : NULL, specs[i].match,
		    NULL);
		code = rc == 1 ? proto_get(&m, "code") : NULL;
		if (code != NULL && strcmp(code, "unknown-verb") == 0)
			build_stop(c, "the daemon at %s is too old for build "
			    "--watch: it does not know watch-sources",
			    c->path);
		if (rc == 1) {
			conn_error_text(&m, specs[i].pattern, err,
			    sizeof(err));
			build_stop(c, "%s", err);
		}
		if (rc == -1)
			build_stop(c, "%s", c->err);
		files = proto_get(&m, "files");
		if (o < sizeof(line))
			o += (size_t)snprintf(line + o, sizeof(line) - o,
			    "%s%s (%s file%s)", i > 0 ? ", " : "",
			    specs[i].pattern, files != NULL ? files : "?",
			    files != NULL && strcmp(files, "1") == 0 ? "" :
			    "s");
	}
	ctl_warnx("watching %s; building", line);
}

/*
 * "build --watch GLOB... -- CMD": builds once, then again whenever the
 * daemon reports that sources matching a GLOB changed, each build as
 * "build" runs it; saves that come during a build make one more build
 * after it.  Ends by a signal: 128+N if it interrupted a build, else 0.
 */
static int
build_watch(struct conn *c, char **argv, int always, char **globs,
    size_t nglobs)
{
	char why[PATH_MAX + 64], err[PATH_MAX + 256];
	struct watch_spec *specs;
	struct session s;
	struct build b;
	size_t i;
	int code;

	if ((specs = calloc(nglobs, sizeof(*specs))) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	for (i = 0; i < nglobs; i++)
		if (watch_resolve(&specs[i], globs[i], err, sizeof(err)) == -1)
			ctl_usage_error("%s", err);
	memset(&s, 0, sizeof(s));
	memset(&b, 0, sizeof(b));
	wait_init(&s.w, stderr, "reloaderctl: ");
	sig_catch();
	if (build_connect(c, build_notice, &s) == -1) {
		conn_close(c);
		ctl_die(BUILD_NOWATCH, "%s; build --watch needs the daemon, "
		    "which watches the sources", c->err);
	}
	build_sources(c, specs, nglobs);
	/* The first build runs at once, as entr and watchexec do. */
	s.q.busy = 1;
	for (;;) {
		conn_set_timeout(c, opts.timeout);
		if (build_hold(c) == -1)
			build_stop(c, "%s; build --watch stops", c->err);
		b.connected = 1;
		code = build_run(c, &s.w, &b, argv, always, 1);
		if (b.interrupted != 0 || b.pid == -1)
			break;
		if (!b.connected)
			build_stop(c, "%s", BUILD_GONE);
		if (sig_pending)
			build_stop(c, "interrupted");
		/* Results are counted again from the next release. */
		wait_free(&s.w);
		wait_init(&s.w, stderr, "reloaderctl: ");
		watch_done(&s.q);
		if (!watch_start(&s.q, why, sizeof(why))) {
			build_idle(c, &s);
			watch_start(&s.q, why, sizeof(why));
		}
		ctl_warnx("%s, building", why);
	}
	for (i = 0; i < nglobs; i++)
		watch_spec_free(&specs[i]);
	free(specs);
	watch_free(&s.q);
	wait_free(&s.w);
	return code;
}

/* "build [--always] [--watch glob]... -- CMD...": runs CMD with reloads
 * held; delivers them as one batch per client if it succeeds (or always
 * with --always), discards them if it fails; exits with CMD's status.
 * With --watch, again each time the sources change. */
int
cmd_build(struct conn *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "always", no_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "watch", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct build b;
	struct wait w;
	char **globs;
	size_t nglobs = 0;
	int ch, always = 0, reset = 1, code;

	if ((globs = calloc((size_t)argc, sizeof(*globs))) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	while ((ch = ctl_getopt(argc, argv, "+:avw:", longopts, reset)) !=
	    -1) {
		reset = 0;
		if (ch == 'a')
			always = 1;
		else if (ch == 'w')
			globs[nglobs++] = optarg;
		else
			opts.verbose = 1;
	}
	if (optind == argc)
		ctl_usage_error("build: no command given; e.g. reloaderctl "
		    "build -- make");
	argv += optind;
	if (nglobs > 0) {
		code = build_watch(c, argv, always, globs, nglobs);
		free(globs);
		return code;
	}
	free(globs);
	memset(&b, 0, sizeof(b));
	wait_init(&w, stderr, "reloaderctl: ");
	/* Before the fork, so that no SIGCHLD can be missed. */
	sig_catch();
	if (build_connect(c, wait_event, &w) == 0 && build_hold(c) == 0)
		b.connected = 1;
	else {
		conn_close(c);
		ctl_warnx("%s; running the build without holding reloads",
		    c->err);
	}
	code = build_run(c, &w, &b, argv, always, 0);
	wait_free(&w);
	return code;
}
