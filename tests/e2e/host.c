/*
 * host.c: a test host for the end-to-end tests, a process that loads
 * modules through libreloader and does what its standard input says.
 *
 *	host [-1kT] [-d purge_deadline_ms] [-n name] [-s socket] [-S dir]
 *	    [module.so...]
 *
 * It opens each module (every version must export "reply"), and with -S
 * the set of dir's *.so (reloader_open_set), attaches to the daemon,
 * then reads one command per line and prints one answer line per
 * command on standard output:
 *
 *	call MOD FN	the string FN(state) returns, called in the current
 *			version of MOD
 *	spawn MOD FN	"spawned N" at once; the same call on a thread of its
 *			own, whose result comes later as "async N: STRING"
 *	join		"joined" once every spawned call has returned
 *	stamp MOD	the stamp of MOD's current version
 *	stamps		"stamps NAME=STAMP ..." for every module
 *	quit		"bye", after joining; end of input does the same
 *
 * Every event of the library is printed as it happens, as one line:
 *
 *	event connected
 *	event disconnected
 *	event reload MOD STATUS stamp=S was=W [failed=STEP] at=T reason=R
 *	event reload MOD STATUS stamp=S was=W action=rollback [failed=STEP] at=T reason=R
 *	event purge MOD unmapped=0|1 forced=0|1 calls=N
 *	event added MOD stamp=S
 *	event removed MOD
 *
 * where STATUS is ok, load-failed, test-failed or rolled-back, the
 * second form is a rollback the daemon asked for, T is when the new
 * version became current (CLOCK_MONOTONIC seconds; 0 if none did: the
 * modules of one switch show the same T), and the reason
 * (possibly empty) runs to the end of the line.  Each line is written
 * whole and flushed.
 *
 * With -T the library dispatches on its own thread; without it the host
 * runs a poll(2) loop over reloader_fd() and standard input, and keeps
 * dispatching while a join waits.  -k keeps a version whose test hook
 * fails (RELOADER_TEST_KEEP); -d sets the hard-purge deadline; -1 speaks
 * protocol version 1 only (reloader_set_proto), as hosts did before
 * version 2.  A set's modules are called like the others from the moment
 * they are added until they are removed.  A bad
 * command line, a module that does not open, or a bad command is reported
 * on standard error and ends the host with a non-zero status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloader.h"

/* The signature of every function a command calls. */
typedef const char *host_fn(void *);

/* A call running on a thread of its own. */
struct host_spawn {
	pthread_t thread;
	unsigned int id;
	reloader_module_t *module;
	char *fn;
	int joined;
};

static reloader_t *host_r;
static reloader_module_t **host_modules;
static int host_nmodules;
static int host_threaded;
/* host_modules changes in the event callback, on the library's thread
 * with -T. */
static pthread_mutex_t host_modules_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t host_out_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t host_spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static struct host_spawn **host_spawns;
static unsigned int host_nspawns;
static unsigned int host_running;
static int host_donepipe[2] = { -1, -1 };
static unsigned long host_lineno;

static void host_usage(void) __attribute__((noreturn));
static void host_die(const char *, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
static void host_print(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Prints the usage line and exits. */
static void
host_usage(void)
{
	fprintf(stderr, "usage: host [-1kT] [-d purge_deadline_ms] [-n name] "
	    "[-s socket] [-S dir] [module.so...]\n");
	exit(1);
}

/* Reports a fatal error on standard error and exits with status 2. */
static void
host_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "host: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Prints one whole line on standard output and flushes it, so that lines
 * from the event callback and from spawned calls never mix. */
static void
host_print(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&host_out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&host_out_lock);
}

/* Returns s with every control byte replaced by a space, in buf, so that
 * a value can never break an output line. */
static const char *
host_clean(const char *s, char *buf, size_t len)
{
	size_t i;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ?
		    ' ' : s[i];
	buf[i] = '\0';
	return buf;
}

/* Returns a status as one word: the protocol's spelling. */
static const char *
host_status(enum reloader_status s)
{
	switch (s) {
	case RELOADER_OK:
		return "ok";
	case RELOADER_LOAD_FAILED:
		return "load-failed";
	case RELOADER_TEST_FAILED:
		return "test-failed";
	case RELOADER_ROLLED_BACK:
		return "rolled-back";
	}
	return "unknown";
}

/* Adds a module to those commands may name. */
static void
host_add(reloader_module_t *m)
{
	reloader_module_t **n;

	pthread_mutex_lock(&host_modules_lock);
	n = reallocarray(host_modules, host_nmodules + 1, sizeof(*n));
	if (n == NULL)
		host_die("out of memory");
	host_modules = n;
	host_modules[host_nmodules++] = m;
	pthread_mutex_unlock(&host_modules_lock);
}

/* Takes a module out of those commands may name. */
static void
host_drop(reloader_module_t *m)
{
	int i;

	pthread_mutex_lock(&host_modules_lock);
	for (i = 0; i < host_nmodules; i++) {
		if (host_modules[i] == m) {
			host_modules[i] = host_modules[--host_nmodules];
			break;
		}
	}
	pthread_mutex_unlock(&host_modules_lock);
}

/* Prints a library event as one line. */
static void
host_event(reloader_t *r, const struct reloader_event *ev, void *arg)
{
	char name[256], stamp[512], was[512], reason[1024];

	host_clean(ev->name, name, sizeof(name));
	switch (ev->type) {
	case RELOADER_EV_CONNECTED:
		host_print("event connected");
		break;
	case RELOADER_EV_DISCONNECTED:
		host_print("event disconnected");
		break;
	case RELOADER_EV_RELOAD:
		host_print("event reload %s %s stamp=%s was=%s %s%s%s%sat=%.6f "
		    "reason=%s", name, host_status(ev->status),
		    host_clean(ev->stamp, stamp, sizeof(stamp)),
		    host_clean(ev->was, was, sizeof(was)),
		    ev->rollback ? "action=rollback " : "",
		    *ev->failed ? "failed=" : "", *ev->failed ? ev->failed :
		    "", *ev->failed ? " " : "", ev->at,
		    host_clean(ev->reason, reason, sizeof(reason)));
		break;
	case RELOADER_EV_PURGE:
		host_print("event purge %s unmapped=%d forced=%d calls=%u",
		    name, ev->unmapped ? 1 : 0, ev->forced ? 1 : 0, ev->calls);
		break;
	case RELOADER_EV_ADDED:
		host_add(ev->module);
		host_print("event added %s stamp=%s", name,
		    host_clean(ev->stamp, stamp, sizeof(stamp)));
		break;
	case RELOADER_EV_REMOVED:
		host_drop(ev->module);
		host_print("event removed %s", name);
		break;
	default:
		host_print("event unknown type=%d", (int)ev->type);
		break;
	}
}

/* Prints "stamps" and NAME=STAMP for every module, in the order opened. */
static void
host_stamps(void)
{
	char line[8192];
	size_t o;
	int i;

	o = (size_t)snprintf(line, sizeof(line), "stamps");
	pthread_mutex_lock(&host_modules_lock);
	for (i = 0; i < host_nmodules && o < sizeof(line); i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%s",
		    reloader_module_name(host_modules[i]),
		    reloader_module_stamp(host_modules[i]));
	pthread_mutex_unlock(&host_modules_lock);
	host_print("%s", line);
}

/* Returns the module loaded under name, or NULL. */
static reloader_module_t *
host_find(const char *name)
{
	reloader_module_t *m = NULL;
	int i;

	pthread_mutex_lock(&host_modules_lock);
	for (i = 0; i < host_nmodules && m == NULL; i++)
		if (strcmp(reloader_module_name(host_modules[i]), name) == 0)
			m = host_modules[i];
	pthread_mutex_unlock(&host_modules_lock);
	return m;
}

/* Calls fn in the current version of m and prints its answer, with
 * prefix before it. */
static void
host_call(reloader_module_t *m, const char *fn, const char *prefix)
{
	reloader_image_t *img;
	host_fn *f;
	char buf[4096];
	void *sym;

	img = reloader_enter(m);
	if ((sym = reloader_sym(img, fn)) == NULL) {
		reloader_leave(img);
		host_die("%s: no function %s in the current version (%s)",
		    reloader_module_name(m), fn, reloader_module_stamp(m));
	}
	*(void **)&f = sym;
	host_clean(f(reloader_state(img)), buf, sizeof(buf));
	reloader_leave(img);
	host_print("%s%s", prefix, buf);
}

/* Runs one spawned call, then says it is done on the pipe. */
static void *
host_spawn_main(void *arg)
{
	struct host_spawn *sp = arg;
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "async %u: ", sp->id);
	host_call(sp->module, sp->fn, prefix);
	pthread_mutex_lock(&host_spawn_lock);
	host_running--;
	pthread_mutex_unlock(&host_spawn_lock);
	if (write(host_donepipe[1], "x", 1) == -1 && errno != EAGAIN)
		host_die("write: %s", strerror(errno));
	return NULL;
}

/* Starts fn of m on a thread of its own and prints its number. */
static void
host_spawn(reloader_module_t *m, const char *fn)
{
	struct host_spawn *sp, **n;
	int error;

	n = reallocarray(host_spawns, host_nspawns + 1, sizeof(*n));
	if (n == NULL || (sp = calloc(1, sizeof(*sp))) == NULL ||
	    (sp->fn = strdup(fn)) == NULL)
		host_die("out of memory");
	host_spawns = n;
	sp->id = host_nspawns + 1;
	sp->module = m;
	pthread_mutex_lock(&host_spawn_lock);
	host_spawns[host_nspawns++] = sp;
	host_running++;
	pthread_mutex_unlock(&host_spawn_lock);
	/* Printed before the thread starts, so it comes before its result. */
	host_print("spawned %u", sp->id);
	if ((error = pthread_create(&sp->thread, NULL, host_spawn_main,
	    sp)) != 0)
		host_die("pthread_create: %s", strerror(error));
}

/* Says whether every spawned call has returned. */
static int
host_all_done(void)
{
	unsigned int running;

	pthread_mutex_lock(&host_spawn_lock);
	running = host_running;
	pthread_mutex_unlock(&host_spawn_lock);
	return running == 0;
}

/* Joins every spawned thread; they must all have returned or be about
 * to. */
static void
host_join(void)
{
	unsigned int i;

	for (i = 0; i < host_nspawns; i++) {
		if (host_spawns[i]->joined)
			continue;
		pthread_join(host_spawns[i]->thread, NULL);
		host_spawns[i]->joined = 1;
	}
}

/* Runs one command line; returns 1 after quit, 2 when a join must wait
 * for spawned calls, else 0. */
static int
host_command(char *line)
{
	char *verb, *mod, *fn, *extra, *save;
	reloader_module_t *m = NULL;

	host_lineno++;
	if ((verb = strtok_r(line, " \t", &save)) == NULL)
		host_die("line %lu: empty command", host_lineno);
	mod = strtok_r(NULL, " \t", &save);
	fn = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (strcmp(verb, "call") == 0 || strcmp(verb, "spawn") == 0) {
		if (mod == NULL || fn == NULL || extra != NULL)
			host_die("line %lu: usage: %s MOD FN", host_lineno,
			    verb);
	} else if (strcmp(verb, "stamp") == 0) {
		if (mod == NULL || fn != NULL)
			host_die("line %lu: usage: stamp MOD", host_lineno);
	} else if (strcmp(verb, "join") == 0 || strcmp(verb, "quit") == 0 ||
	    strcmp(verb, "stamps") == 0) {
		if (mod != NULL)
			host_die("line %lu: %s takes no arguments",
			    host_lineno, verb);
	} else
		host_die("line %lu: unknown command \"%s\"; expected call, "
		    "spawn, join, stamp, stamps or quit", host_lineno, verb);
	if (mod != NULL && (m = host_find(mod)) == NULL)
		host_die("line %lu: no module named \"%s\" is loaded",
		    host_lineno, mod);

	if (strcmp(verb, "call") == 0)
		host_call(m, fn, "");
	else if (strcmp(verb, "spawn") == 0)
		host_spawn(m, fn);
	else if (strcmp(verb, "stamp") == 0)
		host_print("%s", reloader_module_stamp(m));
	else if (strcmp(verb, "stamps") == 0)
		host_stamps();
	else if (strcmp(verb, "join") == 0) {
		if (!host_all_done())
			return 2;
		host_join();
		host_print("joined");
	} else
		return 1;
	return 0;
}

/* Opens every module named on the command line, and the set of dir's
 * *.so if dir is not NULL. */
static void
host_open(int argc, char **argv, const char *dir)
{
	static const char *const required[] = { "reply", NULL };
	reloader_module_t *m;
	int i;

	/* As named, symlinks and all: that path is what the daemon watches. */
	for (i = 0; i < argc; i++) {
		if ((m = reloader_open(host_r, argv[i], required)) == NULL)
			host_die("%s: %s", argv[i], reloader_error(host_r));
		host_add(m);
	}
	if (dir != NULL && reloader_open_set(host_r, dir, "*.so",
	    required) == NULL)
		host_die("-S %s: %s", dir, reloader_error(host_r));
}

/* Reads commands and dispatches the library until quit or end of input. */
static void
host_loop(void)
{
	struct pollfd pfd[3];
	char buf[8192], drain[64], *nl;
	size_t len = 0;
	ssize_t n;
	int eof = 0, joining = 0, quit = 0, rc, in;
	nfds_t nfd;

	for (;;) {
		/* Run the complete lines we have, unless a join waits. */
		while (!joining && !quit &&
		    (nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			rc = host_command(buf);
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len);
			if (rc == 1)
				quit = 1;
			else if (rc == 2)
				joining = 1;
		}
		if (!joining && (quit || eof))
			break;
		if (len == sizeof(buf))
			host_die("line %lu: command too long", host_lineno + 1);

		nfd = 0;
		in = -1;
		pfd[nfd].fd = host_donepipe[0];
		pfd[nfd++].events = POLLIN;
		if (!joining && !eof) {
			in = nfd;
			pfd[nfd].fd = STDIN_FILENO;
			pfd[nfd++].events = POLLIN;
		}
		if (!host_threaded) {
			pfd[nfd].fd = reloader_fd(host_r);
			pfd[nfd++].events = POLLIN;
		}
		if (poll(pfd, nfd, -1) == -1) {
			if (errno == EINTR)
				continue;
			host_die("poll: %s", strerror(errno));
		}
		if (!host_threaded && reloader_dispatch(host_r) == -1)
			host_die("reloader_dispatch: %s",
			    reloader_error(host_r));
		if (pfd[0].revents & POLLIN)
			while (read(host_donepipe[0], drain, sizeof(drain)) > 0)
				;
		if (joining && host_all_done()) {
			host_join();
			host_print("joined");
			joining = 0;
		}
		if (in != -1 &&
		    (pfd[in].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
			if (n == -1 && errno != EINTR && errno != EAGAIN)
				host_die("read: %s", strerror(errno));
			if (n == 0) {
				eof = 1;
				if (len > 0 && len < sizeof(buf))
					buf[len++] = '\n';
			} else if (n > 0)
				len += n;
		}
	}
}

int
main(int argc, char **argv)
{
	const char *name = "host", *sock = NULL, *setdir = NULL;
	unsigned int deadline = 0;
	unsigned long ul;
	char *end;
	int ch, keep = 0, i, fl, v1 = 0;

	while ((ch = getopt(argc, argv, "1d:kn:s:S:T")) != -1) {
		switch (ch) {
		case '1':
			v1 = 1;
			break;
		case 'd':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || ul > UINT_MAX)
				host_die("-d %s: purge deadline must be a "
				    "number of milliseconds", optarg);
			deadline = ul;
			break;
		case 'k':
			keep = 1;
			break;
		case 'n':
			name = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'S':
			setdir = optarg;
			break;
		case 'T':
			host_threaded = 1;
			break;
		default:
			host_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 && setdir == NULL)
		host_usage();

	signal(SIGPIPE, SIG_IGN);
	if (pipe(host_donepipe) == -1)
		host_die("pipe: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		fl = fcntl(host_donepipe[i], F_GETFL);
		if (fl == -1 || fcntl(host_donepipe[i], F_SETFL,
		    fl | O_NONBLOCK) == -1)
			host_die("fcntl: %s", strerror(errno));
	}

	if ((host_r = reloader_new(name)) == NULL)
		host_die("reloader_new: out of memory");
	if (sock != NULL && reloader_set_socket(host_r, sock) == -1)
		host_die("-s %s: %s", sock, reloader_error(host_r));
	if (keep)
		reloader_set_test_policy(host_r, RELOADER_TEST_KEEP);
	if (v1 && reloader_set_proto(host_r, 1) == -1)
		host_die("-1: %s", reloader_error(host_r));
	reloader_set_purge_deadline(host_r, deadline);
	reloader_set_event_cb(host_r, host_event, NULL);
	host_open(argc, argv, setdir);
	if (reloader_connect(host_r) == -1)
		host_die("reloader_connect: %s", reloader_error(host_r));
	if (host_threaded && reloader_start_thread(host_r) == -1)
		host_die("reloader_start_thread: %s", reloader_error(host_r));

	host_loop();

	host_join();
	host_print("bye");
	reloader_free(host_r);
	return 0;
}
