/*
 * devserver.c: an example dev server whose request handlers are modules
 * that reload while it runs, and come and go.
 *
 *	devserver [-p port] [-s socket] [handlers]
 *
 * It serves HTTP on 127.0.0.1 (port 8080 by default; -p 0 picks a free
 * one and says which) with libmicrohttpd.  Each handler is a shared
 * object in the handlers directory (build/handlers by default) loaded
 * through libreloader (see handler.h): GET /NAME calls the handle() of
 * handlers/NAME.so.  The directory is a libreloader set, so a handler
 * that a build adds there is served at once, and one that leaves it is
 * no longer.  When a handler's file changes, reloaderd tells the server,
 * which loads the new version next to the old, moves the handler's
 * state over with its reloader_code_change hook, runs its reloader_test
 * hook, and sends new requests to it; a version that fails to load or
 * fails a hook changes nothing.  Handlers built together (a header they
 * share changed) switch together, or, if one fails, none does.  Each
 * reload is logged on standard error.
 *
 * It listens on a socket of its own and passes it to libmicrohttpd, so
 * that a port in use is told apart: the exit status is then 69
 * (EX_UNAVAILABLE), which `make run` turns into a hint.  Every answer
 * carries the header X-Devserver: PID, so that a script can tell this
 * server from another one on the same port.
 *
 * A handler that crashes while it answers a request (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL) takes no one down silently: the server says which
 * module and which version (its stamp) crashed, answers 500, and stops
 * cleanly, so that libreloader removes its private copies; it exits 70
 * (EX_SOFTWARE).  Its state may be corrupt, so it does not carry on.
 *
 * Everything runs on one libev loop: libmicrohttpd in its "external
 * epoll" mode (its epoll descriptor watched with an ev_io, MHD_run when
 * it is readable or when MHD_get_timeout says so) and libreloader
 * through the reloader-ev.h adapter.  So requests and reloads never run
 * at the same time and the handlers need no locks.  (MHD's own thread
 * plus reloader_start_thread() would work as well, since
 * reloader_enter() pins a version safely from any thread, but one loop
 * is simpler to reason about and to stop.)
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <ev.h>
#include <microhttpd.h>

#include "reloader.h"
#include "reloader-ev.h"

/* The symbols every version of a handler must have (handler.h). */
static const char *const devserver_required[] = { "handle", NULL };

/* The signature of a handler's handle(). */
typedef int devserver_handle_fn(void *, char *, size_t);

/* The signals a crashing handler dies of. */
static const int devserver_crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE,
    SIGILL };
#define DEVSERVER_NCRASH \
	(sizeof(devserver_crash_signals) / sizeof(devserver_crash_signals[0]))

/* The handler call under way, for the crash handler: where to jump back
 * to, and what to name. */
static struct {
	sigjmp_buf env;
	volatile sig_atomic_t active;
	volatile sig_atomic_t sig;
	char module[256];
	char stamp[256];
} devserver_calling;

/* The longest handler name served. */
#define DEVSERVER_NAME_MAX 64

/* A handler served at /NAME, NAME its file name without ".so". */
struct devserver_handler {
	char name[DEVSERVER_NAME_MAX];
	reloader_module_t *m;
};

/* The server: its loop, its HTTP daemon, and its handlers. */
struct devserver {
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	reloader_t *r;
	struct devserver_handler *handlers;
	int nhandlers;

	ev_io mhd_io;
	ev_timer mhd_timer;
	ev_prepare mhd_prepare;
	ev_signal sigint;
	ev_signal sigterm;
	struct reloader_ev rev;     /* the library's descriptor in the loop */
	int crashed;                /* a handler crashed: stop after answering */
};

static void devserver_usage(void) __attribute__((noreturn));

/* Prints the usage line and exits. */
static void
devserver_usage(void)
{
	fprintf(stderr, "usage: devserver [-p port] [-s socket] "
	    "[handlers]\n");
	exit(1);
}

/* Makes the name a handler file is served under: its file name without
 * ".so"; -1 if that does not make a name (too long, empty). */
static int
devserver_name(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if (len > 3 && strcmp(base + len - 3, ".so") == 0)
		len -= 3;
	if (len == 0 || len >= size)
		return -1;
	memcpy(name, base, len);
	name[len] = '\0';
	return 0;
}

/* Serves a handler the set added, at /NAME. */
static void
devserver_add(struct devserver *ds, reloader_module_t *m, const char *path)
{
	struct devserver_handler *h;

	h = reallocarray(ds->handlers, ds->nhandlers + 1, sizeof(*h));
	if (h == NULL)
		err(1, NULL);
	ds->handlers = h;
	h += ds->nhandlers;
	if (devserver_name(path, h->name, sizeof(h->name)) == -1) {
		fprintf(stderr, "devserver: %s: not served: its name is too "
		    "long\n", path);
		return;
	}
	h->m = m;
	ds->nhandlers++;
	fprintf(stderr, "devserver: serving /%s\n", h->name);
}

/* Stops serving a handler the set removed. */
static void
devserver_remove(struct devserver *ds, reloader_module_t *m)
{
	int i;

	for (i = 0; i < ds->nhandlers; i++) {
		if (ds->handlers[i].m != m)
			continue;
		fprintf(stderr, "devserver: no longer serving /%s\n",
		    ds->handlers[i].name);
		ds->handlers[i] = ds->handlers[--ds->nhandlers];
		return;
	}
}

/* Logs a library event: reloads and their outcome, handlers that come
 * and go, and the daemon coming and going. */
static void
devserver_event(reloader_t *r, const struct reloader_event *ev, void *arg)
{
	struct devserver *ds = arg;
	char at[48];
	double ms;

	switch (ev->type) {
	case RELOADER_EV_ADDED:
		devserver_add(ds, ev->module, ev->path);
		break;
	case RELOADER_EV_REMOVED:
		devserver_remove(ds, ev->module);
		break;
	case RELOADER_EV_CONNECTED:
		fprintf(stderr, "devserver: attached to reloaderd\n");
		break;
	case RELOADER_EV_DISCONNECTED:
		fprintf(stderr, "devserver: lost reloaderd; retrying\n");
		break;
	case RELOADER_EV_RELOAD:
		/* When it switched, on the clock of every process: handlers
		 * built together show the same instant. */
		ms = ev->load_ms + ev->state_ms + ev->test_ms;
		if (ev->at > 0)
			snprintf(at, sizeof(at), ", switched at %.6f", ev->at);
		else
			at[0] = '\0';
		if (ev->reason != NULL && *ev->reason != '\0')
			fprintf(stderr, "devserver: reloaded %s %s (%.1f ms%s): "
			    "%s\n", ev->name, reloader_status_name(ev->status),
			    ms, at, ev->reason);
		else
			fprintf(stderr, "devserver: reloaded %s %s (%.1f ms%s)\n",
			    ev->name, reloader_status_name(ev->status), ms, at);
		break;
	case RELOADER_EV_PURGE:
		break;
	}
}

/* Jumps back out of a handler that crashed; any other fault takes its
 * default action, as if we had not been there. */
static void
devserver_crash(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;

	if (devserver_calling.active) {
		devserver_calling.active = 0;
		devserver_calling.sig = sig;
		siglongjmp(devserver_calling.env, 1);
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (si == NULL || si->si_code <= 0)
		raise(sig);
}

/* Catches the crash signals on a stack of their own (a handler may have
 * overflowed its stack); libreloader chains its hook guard to this. */
static void
devserver_catch_crashes(void)
{
	static char altstack[64 * 1024];
	struct sigaction sa;
	stack_t ss;
	size_t i;

	ss.ss_sp = altstack;
	ss.ss_size = sizeof(altstack);
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) == -1)
		err(1, "sigaltstack");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = devserver_crash;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < DEVSERVER_NCRASH; i++)
		if (sigaction(devserver_crash_signals[i], &sa, NULL) == -1)
			err(1, "sigaction");
}

/* Returns the handler served at url ("/NAME"), or NULL. */
static reloader_module_t *
devserver_route(struct devserver *ds, const char *url)
{
	int i;

	if (url[0] != '/')
		return NULL;
	for (i = 0; i < ds->nhandlers; i++)
		if (strcmp(ds->handlers[i].name, url + 1) == 0)
			return ds->handlers[i].m;
	return NULL;
}

/* Calls the current version of the handler that serves url, if any;
 * fills body and returns the HTTP status, or 0 if none serves url.  A
 * handler that crashes is named with its version, answered 500, and the
 * server stops once the answer is out. */
static int
devserver_call(struct devserver *ds, const char *url, char *body,
    size_t size)
{
	reloader_module_t *m;
	reloader_image_t *img;
	devserver_handle_fn *handle;
	int status;

	if ((m = devserver_route(ds, url)) == NULL)
		return 0;
	img = reloader_enter(m);
	*(void **)&handle = reloader_sym(img, "handle");
	body[0] = '\0';
	/* One loop: the version pinned is the current one. */
	snprintf(devserver_calling.module, sizeof(devserver_calling.module),
	    "%s", reloader_module_name(m));
	snprintf(devserver_calling.stamp, sizeof(devserver_calling.stamp),
	    "%s", reloader_module_stamp(m));
	if (sigsetjmp(devserver_calling.env, 1) != 0) {
		reloader_leave(img);
		fprintf(stderr, "devserver: handler %s (%s) crashed with %s on "
		    "GET %s; stopping\n", devserver_calling.module,
		    devserver_calling.stamp, strsignal(devserver_calling.sig),
		    url);
		snprintf(body, size, "handler %s (%s) crashed with %s; the "
		    "devserver stops\n", devserver_calling.module,
		    devserver_calling.stamp, strsignal(devserver_calling.sig));
		ds->crashed = 1;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	devserver_calling.active = 1;
	status = handle(reloader_state(img), body, size);
	devserver_calling.active = 0;
	reloader_leave(img);
	return status;
}

/* Stops the loop once the answer to a crashed handler's request is out. */
static void
devserver_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct devserver *ds = cls;

	if (ds->crashed)
		ev_break(ds->loop, EVBREAK_ALL);
}

/* Lists the routes, for GET /. */
static void
devserver_index(struct devserver *ds, char *body, size_t size)
{
	size_t len = 0;
	int i, n;

	n = snprintf(body, size, "devserver: try");
	len = n > 0 ? (size_t)n : 0;
	for (i = 0; i < ds->nhandlers && len < size; i++) {
		n = snprintf(body + len, size - len, " /%s",
		    ds->handlers[i].name);
		len += n > 0 ? (size_t)n : 0;
	}
	if (len < size)
		snprintf(body + len, size - len, "\n");
}

/* Answers one HTTP request: a handler's route, the index, or 404. */
static enum MHD_Result
devserver_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct devserver *ds = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char body[4096];
	int status;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		snprintf(body, sizeof(body), "only GET\n");
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/") == 0) {
		devserver_index(ds, body, sizeof(body));
		status = MHD_HTTP_OK;
	} else if ((status = devserver_call(ds, url, body,
	    sizeof(body))) == 0) {
		snprintf(body, sizeof(body), "no handler for %s\n", url);
		status = MHD_HTTP_NOT_FOUND;
	}
	body[sizeof(body) - 1] = '\0';
	resp = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
	    "text/plain; charset=utf-8");
	snprintf(body, sizeof(body), "%ld", (long)getpid());
	MHD_add_response_header(resp, "X-Devserver", body);
	if (ds->crashed)
		MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Lets libmicrohttpd do whatever is due. */
static void
devserver_mhd_run(struct devserver *ds)
{
	if (MHD_run(ds->mhd) != MHD_YES)
		fprintf(stderr, "devserver: MHD_run failed\n");
}

/* Runs libmicrohttpd when its epoll descriptor is readable. */
static void
devserver_mhd_io(struct ev_loop *loop, ev_io *w, int revents)
{
	devserver_mhd_run(w->data);
}

/* Runs libmicrohttpd when its timeout is due. */
static void
devserver_mhd_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	devserver_mhd_run(w->data);
}

/* Before the loop blocks, arms the timer with libmicrohttpd's timeout,
 * as its external-polling mode requires. */
static void
devserver_mhd_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct devserver *ds = w->data;
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(loop, &ds->mhd_timer);
	if (MHD_get_timeout(ds->mhd, &ms) != MHD_YES)
		return;
	ev_timer_set(&ds->mhd_timer, ms / 1000.0, 0.);
	ev_timer_start(loop, &ds->mhd_timer);
}

/* Stops the loop on SIGINT or SIGTERM. */
static void
devserver_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

/* Starts libmicrohttpd on 127.0.0.1:port in external epoll mode and
 * hooks its descriptor into the loop; returns the port it listens on,
 * or exits (EX_UNAVAILABLE when another program has the port). */
static unsigned int
devserver_listen(struct devserver *ds, unsigned int port)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int epfd, fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Our own socket, so that the reason a bind fails is ours to say. */
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		err(1, "SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		if (errno == EADDRINUSE)
			errx(EX_UNAVAILABLE, "127.0.0.1:%u is taken by another "
			    "program; choose another port with -p", port);
		err(1, "cannot listen on 127.0.0.1:%u", port);
	}
	if (listen(fd, 64) == -1)
		err(1, "listen on 127.0.0.1:%u", port);
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	ds->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, port,
	    NULL, NULL, devserver_request, ds,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, devserver_completed, ds,
	    MHD_OPTION_END);
	if (ds->mhd == NULL)
		errx(1, "libmicrohttpd cannot serve 127.0.0.1:%u", port);
	info = MHD_get_daemon_info(ds->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL)
		errx(1, "libmicrohttpd has no epoll descriptor");
	epfd = info->epoll_fd;

	ev_io_init(&ds->mhd_io, devserver_mhd_io, epfd, EV_READ);
	ds->mhd_io.data = ds;
	ev_io_start(ds->loop, &ds->mhd_io);
	ev_init(&ds->mhd_timer, devserver_mhd_timer);
	ds->mhd_timer.data = ds;
	ev_prepare_init(&ds->mhd_prepare, devserver_mhd_prepare);
	ds->mhd_prepare.data = ds;
	ev_prepare_start(ds->loop, &ds->mhd_prepare);
	return port;
}

/* Serves every handler in dir, and each that appears there later (the
 * set tells devserver_event), or exits. */
static void
devserver_open(struct devserver *ds, const char *dir)
{
	if (reloader_open_set(ds->r, dir, "*.so", devserver_required) == NULL)
		errx(1, "%s: %s", dir, reloader_error(ds->r));
}

int
main(int argc, char **argv)
{
	struct devserver ds;
	const char *sock = NULL, *dir = "build/handlers";
	unsigned long port = 8080;
	char *end;
	int ch, i;

	while ((ch = getopt(argc, argv, "p:s:")) != -1) {
		switch (ch) {
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || port > 65535)
				errx(1, "-p %s: not a port number", optarg);
			break;
		case 's':
			sock = optarg;
			break;
		default:
			devserver_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		devserver_usage();
	if (argc == 1)
		dir = argv[0];

	memset(&ds, 0, sizeof(ds));
	signal(SIGPIPE, SIG_IGN);
	devserver_catch_crashes();
	if ((ds.loop = ev_default_loop(0)) == NULL)
		errx(1, "cannot start libev");
	if ((ds.r = reloader_new("devserver")) == NULL)
		err(1, NULL);
	if (sock != NULL && reloader_set_socket(ds.r, sock) == -1)
		errx(1, "-s %s: %s", sock, reloader_error(ds.r));
	reloader_set_event_cb(ds.r, devserver_event, &ds);
	/* The port first: taken, it is all there is to say. */
	port = devserver_listen(&ds, port);
	devserver_open(&ds, dir);
	if (reloader_connect(ds.r) == -1)
		errx(1, "%s", reloader_error(ds.r));
	reloader_ev_attach(ds.loop, &ds.rev, ds.r);

	ev_signal_init(&ds.sigint, devserver_signal, SIGINT);
	ev_signal_start(ds.loop, &ds.sigint);
	ev_signal_init(&ds.sigterm, devserver_signal, SIGTERM);
	ev_signal_start(ds.loop, &ds.sigterm);

	fprintf(stderr, "devserver: listening on http://127.0.0.1:%lu/ with",
	    port);
	for (i = 0; i < ds.nhandlers; i++)
		fprintf(stderr, " /%s", ds.handlers[i].name);
	fprintf(stderr, "\n");

	ev_run(ds.loop, 0);

	fprintf(stderr, "devserver: stopping\n");
	MHD_stop_daemon(ds.mhd);
	reloader_ev_detach(ds.loop, &ds.rev);
	reloader_free(ds.r);
	free(ds.handlers);
	return ds.crashed ? EX_SOFTWARE : 0;
}
