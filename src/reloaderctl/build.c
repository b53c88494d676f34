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
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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
	pid_t pid;
};

/* Sends a request (verb, with key=val if key is given) and reads its
 * answer, noting the clients a list names; 0 on ok, else -1 with c->err
 * saying why.  Nothing here may exit: a build runs whatever the daemon
 * says. */
static int
build_ask(struct conn *c, const char *verb, const char *key,
    const char *val)
{
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;
	int rc;

	id = conn_start(c, &o, verb);
	if (key != NULL)
		proto_add(&o, key, val);
	if (conn_send(c, &o) == -1)
		return -1;
	while ((rc = conn_answer_try(c, id, &m)) == ANS_DATA)
		if (strcmp(m.verb, "client") == 0)
			names_add(proto_get(&m, "client"), proto_get(&m, "name"),
			    proto_get(&m, "pid"));
	if (rc == ANS_OK)
		return 0;
	if (rc == ANS_ERROR)
		conn_error_text(&m, verb, c->err, sizeof(c->err));
	else if (rc == CONN_EOF)
		snprintf(c->err, sizeof(c->err), "%s: the daemon closed the "
		    "connection", c->path);
	else if (rc == CONN_TIMEOUT)
		snprintf(c->err, sizeof(c->err), "%s: no answer from the "
		    "daemon to %s", c->path, verb);
	else if (rc == CONN_SIGNAL)
		snprintf(c->err, sizeof(c->err), "interrupted");
	return -1;
}

/* Connects, subscribes, learns the clients' names and holds reloads for
 * this connection; 0, or -1 with c->err saying why not. */
static int
build_attach(struct conn *c, struct wait *w)
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
	c->on_event = wait_event;
	c->arg = w;
	if (build_ask(c, "subscribe", NULL, NULL) == -1 ||
	    build_ask(c, "list", NULL, NULL) == -1 ||
	    build_ask(c, "hold", "scope", "connection") == -1)
		goto fail;
	return 0;
fail:
	conn_close(c);
	return -1;
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
		if (rc == CONN_LINE) {
			if (strcmp(m.verb, "error") != 0)
				continue;
			conn_error_text(&m, NULL, c->err, sizeof(c->err));
		} else if (rc == CONN_SIGNAL)
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
 * everything it kept, or discards it. */
static void
build_release(struct conn *c, struct wait *w, int deliver, const char *why)
{
	unsigned long long clients = 0, discarded = 0, held = 0, delivered = 0;
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;

	w->armed = 1;
	conn_set_timeout(c, opts.timeout);
	id = conn_start(c, &o, "release");
	if (!deliver)
		proto_add(&o, "deliver", "no");
	conn_send_or_die(c, &o);
	conn_expect_ok(c, id, "release", &m);
	proto_get_uint(&m, "clients", &clients);
	proto_get_uint(&m, "delivered", &delivered);
	proto_get_uint(&m, "discarded", &discarded);
	proto_get_uint(&m, "held", &held);
	if (!deliver) {
		ctl_warnx("%s: nothing delivered (%llu change%s discarded)",
		    why, discarded, discarded == 1 ? "" : "s");
		return;
	}
	if (held > 0) {
		ctl_warnx("%s; reloads stay held by %llu other hold%s", why,
		    held, held == 1 ? "" : "s");
		return;
	}
	if (delivered == 0) {
		ctl_warnx("%s: no module changed", why);
		return;
	}
	ctl_warnx("%s: %llu module%s delivered to %llu process%s", why,
	    delivered, delivered == 1 ? "" : "s", clients,
	    clients == 1 ? "" : "es");
	w->wantbatches = (unsigned long)clients;
	/* Failures are printed; the exit status stays the command's. */
	(void)wait_run(c, w);
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

/* "build [--always] -- CMD...": runs CMD with reloads held; delivers
 * them as one batch per client if it succeeds (or always with
 * --always), discards them if it fails; exits with CMD's status. */
int
cmd_build(struct conn *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "always", no_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct build b;
	struct wait w;
	char why[128];
	int ch, always = 0, reset = 1, code, e;

	while ((ch = ctl_getopt(argc, argv, "+:av", longopts, reset)) != -1) {
		reset = 0;
		if (ch == 'a')
			always = 1;
		else
			opts.verbose = 1;
	}
	if (optind == argc)
		ctl_usage_error("build: no command given; e.g. reloaderctl "
		    "build -- make");
	argv += optind;
	memset(&b, 0, sizeof(b));
	wait_init(&w, stderr, "reloaderctl: ");
	/* Before the fork, so that no SIGCHLD can be missed. */
	sig_catch();
	if (build_attach(c, &w) == 0)
		b.connected = 1;
	else
		ctl_warnx("%s; running the build without holding reloads",
		    c->err);
	fflush(stdout);
	if ((b.pid = build_spawn(argv)) == -1) {
		e = errno;
		code = e == ENOENT ? 127 : 126;
		ctl_warnx("%s: %s", argv[0], e == ENOENT ?
		    "command not found" : strerror(e));
		sig_restore();
		if (b.connected)
			build_release(c, &w, 0, "the build did not start");
		wait_free(&w);
		return code;
	}
	build_wait(c, &b);
	build_signal(&b);
	sig_restore();
	code = build_status(b.status);
	if (b.interrupted != 0 && code == 0)
		code = 128 + b.interrupted;
	if (b.connected) {
		if (b.interrupted != 0)
			snprintf(why, sizeof(why), "build interrupted (%s)",
			    strsignal(b.interrupted));
		else if (WIFSIGNALED(b.status))
			snprintf(why, sizeof(why), "build killed by %s",
			    strsignal(WTERMSIG(b.status)));
		else if (code != 0)
			snprintf(why, sizeof(why), "build failed (exit %d)%s",
			    code, always ? ", delivering anyway (--always)" :
			    "");
		else
			snprintf(why, sizeof(why), "build done");
		build_release(c, &w, b.interrupted == 0 &&
		    (code == 0 || always), why);
	}
	wait_free(&w);
	return code;
}
