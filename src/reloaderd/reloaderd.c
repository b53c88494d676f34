/*
 * reloaderd.c: the daemon's command line, configuration and event loop.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "reloaderd.h"

/* What the command line asked for; applied over every configuration
 * read, at start and on SIGHUP, so that it always wins over the file. */
struct opts {
	int foreground;
	int check;
	int verbose;
	const char *conffile;
	const char *socket;
	const char *backend;
	const char *interval;
	const char *logfile;
	const char **watch;
	size_t nwatch;
};

static struct opts opts;

/* Prints the usage line and exits: on standard output with status 0
 * when asked for (-h), else on standard error with status 1. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr, "usage: reloaderd [-fhnvV] "
	    "[-c file] [-s socket] [-w dir]... [-b auto|inotify|poll]\n"
	    "                 [-i interval] [-l logfile]\n");
	exit(status);
}

/* Builds a configuration from the file and the command line; -1 with a
 * message naming what is wrong. */
static int
build_config(struct config *c, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	enum backend b;
	char msg[512];
	size_t i;
	double v;

	config_init(c);
	if (opts.conffile != NULL &&
	    config_load(c, opts.conffile, err, errlen) == -1)
		return -1;
	if (opts.socket != NULL) {
		if (strlen(opts.socket) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen, "-s %s: socket path longer than "
			    "%zu bytes", opts.socket, sizeof(sun.sun_path) - 1);
			return -1;
		}
		free(c->socket);
		if ((c->socket = strdup(opts.socket)) == NULL)
			fatal("strdup");
	}
	if (opts.backend != NULL) {
		if (config_parse_backend(opts.backend, &b) == -1) {
			snprintf(err, errlen, "-b %s: unknown backend; expected "
			    "auto, inotify or poll", opts.backend);
			return -1;
		}
		c->backend = b;
		for (i = 0; i < c->nroots; i++)
			c->roots[i].backend = b;
	}
	if (opts.interval != NULL) {
		if (config_parse_duration(opts.interval, &v, msg,
		    sizeof(msg)) == -1) {
			snprintf(err, errlen, "-i: %s", msg);
			return -1;
		}
		if (v < 0.001 || v > 3600) {
			snprintf(err, errlen, "-i %s: interval must be between "
			    "1ms and 1h", opts.interval);
			return -1;
		}
		c->interval = v;
	}
	if (opts.logfile != NULL) {
		free(c->logfile);
		if ((c->logfile = config_abspath(opts.logfile, NULL)) == NULL) {
			snprintf(err, errlen, "-l: empty log file name");
			return -1;
		}
	}
	if (opts.verbose)
		c->loglevel = LOG_DEBUG;
	for (i = 0; i < opts.nwatch; i++)
		if (config_add_root(c, opts.watch[i], NULL, "-w", err,
		    errlen) == -1)
			return -1;
	return 0;
}

/* Says whether two glob lists are the same. */
static int
strv_equal(char **a, char **b)
{
	size_t i;

	for (i = 0; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return a[i] == NULL && b[i] == NULL;
}

/* Says whether a live root is watched the way a configured one asks. */
static int
root_same(const struct root *r, const struct root_conf *rc)
{
	return strcmp(r->conf.path, rc->path) == 0 &&
	    strcmp(r->conf.display, rc->display) == 0 &&
	    r->conf.backend == rc->backend &&
	    strv_equal(r->conf.include, rc->include) &&
	    strv_equal(r->conf.exclude, rc->exclude);
}

/* Orders roots deepest path first, so a root nested in another owns its
 * own directories. */
static int
root_cmp(const void *a, const void *b)
{
	const struct root *ra = *(struct root *const *)a;
	const struct root *rb = *(struct root *const *)b;
	size_t la = strlen(ra->conf.path), lb = strlen(rb->conf.path);

	return la < lb ? 1 : la > lb ? -1 : strcmp(ra->conf.path,
	    rb->conf.path);
}

/* Makes the live roots match a configuration: roots that stay are left
 * alone, others are dropped or added (new ones read as a baseline). */
static void
roots_apply(const struct config *c)
{
	struct root **keep, **nk, *r, *next, **pp;
	size_t i, n = 0;

	if ((keep = calloc(c->nroots + 1, sizeof(*keep))) == NULL)
		fatal("roots_apply");
	for (i = 0; i < c->nroots; i++) {
		for (pp = &rd->roots; *pp != NULL; pp = &(*pp)->next)
			if (root_same(*pp, &c->roots[i]))
				break;
		if ((r = *pp) != NULL)
			*pp = r->next;
		else
			r = root_new(&c->roots[i]);
		keep[n++] = r;
	}
	for (r = rd->roots; r != NULL; r = next) {
		next = r->next;
		if (r->implicit) {
			/* Clients' directories stay while clients need them. */
			if ((nk = reallocarray(keep, n + 2, sizeof(*keep))) ==
			    NULL)
				fatal("roots_apply");
			keep = nk;
			keep[n++] = r;
			continue;
		}
		log_info("no longer watching %s", log_esc(r->conf.display));
		root_disarm(r);
		root_free(r);
	}
	qsort(keep, n, sizeof(*keep), root_cmp);
	rd->roots = NULL;
	for (i = n; i-- > 0;) {
		keep[i]->next = rd->roots;
		rd->roots = keep[i];
	}
	free(keep);
	for (r = rd->roots; r != NULL; r = r->next)
		if (r->top == NULL && !r->missing_logged)
			root_arm(r, 0);
	roots_retry();
	poll_update();
}

/* Keeps the socket and its group the daemon started with, which only a
 * restart changes, warning when the new configuration asks otherwise. */
static void
keep_socket(struct config *nc)
{
	char *t;

	if (!notify_activated() && (strcmp(nc->socket, rd->conf.socket) != 0 ||
	    (nc->group == NULL) != (rd->conf.group == NULL) ||
	    (nc->group != NULL && strcmp(nc->group, rd->conf.group) != 0)))
		log_warnx("SIGHUP: the socket and its group change only when "
		    "reloaderd restarts; still on %s", rd->conf.socket);
	t = nc->socket;
	nc->socket = rd->conf.socket;
	rd->conf.socket = t;
	t = nc->group;
	nc->group = rd->conf.group;
	rd->conf.group = t;
}

/* Re-reads the configuration on SIGHUP; a bad file changes nothing, and
 * the status systemd shows says why. */
static void
reload_config(void)
{
	struct config nc, old;
	char err[1024];

	if (opts.conffile == NULL) {
		log_info("SIGHUP: no configuration file (-c) to re-read");
		return;
	}
	if (build_config(&nc, err, sizeof(err)) == -1) {
		log_errorx("%s; keeping the old configuration", err);
		notify_config_failed(err);
		config_free(&nc);
		return;
	}
	notify_config_failed(NULL);
	if (nc.logfile != NULL && (rd->conf.logfile == NULL ||
	    strcmp(nc.logfile, rd->conf.logfile) != 0)) {
		if (log_open_file(nc.logfile) == -1)
			log_warn("%s; logging where I did", nc.logfile);
	} else if (nc.logfile == NULL && rd->conf.logfile != NULL)
		log_close();
	log_setlevel(nc.loglevel);
	keep_socket(&nc);
	old = rd->conf;
	rd->conf = nc;
	if (cred_resolve_admin(err, sizeof(err)) == -1)
		log_errorx("%s; no admin-group until it is fixed", err);
	roots_apply(&rd->conf);
	/* Registered files under a root that went are watched anew. */
	wanted_refresh();
	tree_links_recheck();
	config_free(&old);
	log_info("configuration reloaded from %s", opts.conffile);
	control_limits();
}

/* Handles SIGHUP, SIGUSR1, SIGTERM and SIGINT inside the loop. */
static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	switch (w->signum) {
	case SIGHUP:
		notify_reloading();
		reload_config();
		notify_status_changed();
		notify_ready();
		break;
	case SIGUSR1:
		if (log_reopen() == -1)
			log_warn("cannot reopen the log file");
		else
			log_info("log file reopened");
		break;
	default:
		log_info("%s: stopping", strsignal(w->signum));
		notify_stopping();
		ev_break(loop, EVBREAK_ALL);
		break;
	}
}

/* Counts the modules known under every root. */
static size_t
count_modules(size_t *nroots)
{
	struct root *r;
	size_t n = 0;

	*nroots = 0;
	for (r = rd->roots; r != NULL; r = r->next) {
		n += r->nfiles;
		(*nroots)++;
	}
	return n;
}

/* Frees everything, so leak checkers see a clean exit. */
static void
shutdown_daemon(void)
{
	struct root *r, *next;

	control_close();
	notify_stop();
	for (r = rd->roots; r != NULL; r = next) {
		next = r->next;
		root_disarm(r);
		root_free(r);
	}
	rd->roots = NULL;
	poll_stop();
	ev_timer_stop(rd->loop, &rd->settle_ev);
	ev_timer_stop(rd->loop, &rd->gone_ev);
	ev_timer_stop(rd->loop, &rd->linger_ev);
	ev_timer_stop(rd->loop, &rd->read_ev);
	ev_timer_stop(rd->loop, &rd->read_gate_ev);
	inotify_stop();
	fq_free(&rd->queue);
	fq_free(&rd->unread);
	htab_free(&rd->files);
	htab_free(&rd->dirs_wd);
	htab_free(&rd->dirs_ino);
	tree_free();
	config_free(&rd->conf);
	free(opts.watch);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGHUP, SIGUSR1, SIGTERM, SIGINT };
	ev_signal sigev[sizeof(sigs) / sizeof(sigs[0])];
	char msg[1024];
	size_t i, nroots, nmods;
	const char **nw;
	int ch;

	while ((ch = getopt(argc, argv, "fhnvVc:s:w:b:i:l:")) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 'f':
			opts.foreground = 1;
			break;
		case 'n':
			opts.check = 1;
			break;
		case 'v':
			opts.verbose = 1;
			break;
		case 'V':
			printf("reloaderd %s\n", RELOADER_VERSION);
			return 0;
		case 'c':
			opts.conffile = optarg;
			break;
		case 's':
			opts.socket = optarg;
			break;
		case 'w':
			nw = reallocarray(opts.watch, opts.nwatch + 1,
			    sizeof(*nw));
			if (nw == NULL)
				err(1, NULL);
			opts.watch = nw;
			opts.watch[opts.nwatch++] = optarg;
			break;
		case 'b':
			opts.backend = optarg;
			break;
		case 'i':
			opts.interval = optarg;
			break;
		case 'l':
			opts.logfile = optarg;
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	rd->ifd = -1;
	if (build_config(&rd->conf, msg, sizeof(msg)) == -1) {
		fprintf(stderr, "reloaderd: %s\n", msg);
		return 1;
	}
	if (opts.check) {
		fprintf(stderr, "configuration OK\n");
		config_free(&rd->conf);
		free(opts.watch);
		return 0;
	}

	log_init(opts.foreground, rd->conf.loglevel);
	if (rd->conf.logfile != NULL && log_open_file(rd->conf.logfile) == -1)
		err(1, "%s", rd->conf.logfile);
	/* Before daemon(): LISTEN_PID names the process systemd started. */
	if (notify_init(msg, sizeof(msg)) == -1) {
		if (opts.foreground)
			fatalx("%s", msg);
		errx(1, "%s", msg);
	}
	if (!opts.foreground && daemon(0, 0) == -1)
		err(1, "daemon");
	signal(SIGPIPE, SIG_IGN);

	if ((rd->loop = loop_new()) == NULL)
		errx(1, "cannot start the event loop (libev)");
	htab_init(&rd->files, offsetof(struct file, hnext), file_hash);
	htab_init(&rd->dirs_wd, offsetof(struct dir, wnext), dir_hash_wd);
	htab_init(&rd->dirs_ino, offsetof(struct dir, inext), dir_hash_ino);
	tree_init();
	clients_init();
	batch_init();
	ev_init(&rd->poll_ev, NULL);
	ev_init(&rd->sweep_ev, NULL);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ev_signal_init(&sigev[i], signal_cb, sigs[i]);
		ev_signal_start(rd->loop, &sigev[i]);
	}
	loop_arm();

	log_info("reloaderd %s starting (pid %ld)", RELOADER_VERSION,
	    (long)getpid());
	if (cred_resolve_admin(msg, sizeof(msg)) == -1)
		fatalx("%s", msg);
	if (control_open(msg, sizeof(msg)) == -1)
		fatalx("%s", msg);
	inotify_start();
	roots_apply(&rd->conf);
	nmods = count_modules(&nroots);
	if (nroots == 0)
		log_info("ready: no directories configured; watching the "
		    "modules clients load");
	else if (rd->nunread > 0)
		log_info("ready: %zu director%s, %zu module%s (%zu stamps "
		    "being read)", nroots, nroots == 1 ? "y" : "ies", nmods,
		    nmods == 1 ? "" : "s", rd->nunread);
	else
		log_info("ready: %zu director%s, %zu module%s", nroots,
		    nroots == 1 ? "y" : "ies", nmods, nmods == 1 ? "" : "s");
	notify_status_changed();
	notify_ready();
	notify_start();

	ev_run(rd->loop, 0);

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		ev_signal_stop(rd->loop, &sigev[i]);
	shutdown_daemon();
	ev_loop_destroy(rd->loop);
	log_close();
	return 0;
}
