/*
 * skew.c: the switch skew.  Across P processes that have the same
 * modules loaded, the time between the first and the last of them
 * running a build's new code: today's one-phase reload (protocol version
 * 1) beside the two-phase switch of version 2 (prepare, then commit),
 * measured in the same run.
 *
 *	skew [-g gap_ms] [-n rounds] [-p processes] -d reloaderd moddir
 *
 * reloaderd runs with no watch directories and a settle window of 0.
 * Two chains of P processes each (forked from this one, libreloader
 * dispatching on its own thread in each) load the same two modules, a
 * and b (moddir/skew-a-1.so, moddir/skew-b-1.so; mk/bench.mk builds
 * four variants of each from skewmod.c), from a directory of their own:
 * the one-phase chain speaks protocol 1 (reloader_set_proto), the
 * two-phase chain protocol 2.  A round rebuilds both modules of one chain
 * as one build (reloads held over a control connection while the next
 * variants are renamed into place, then released, as `reloaderctl build`
 * does), and each process reports when it ran the new code: the `at` of
 * its reload events, the CLOCK_MONOTONIC time at which the library made
 * the new version current (for two-phase, the at= of its "committed"),
 * the later of its two modules.  The skew of the round is the latest of
 * the P times less the earliest.  The chains take turns round by round,
 * -g ms apart (default 20), so that the machine's noise falls on both;
 * the first 5 rounds of each are a warm-up and not counted.
 *
 * It prints a Markdown table of p50, p90, p99, mean and max in ms.  With
 * a daemon that speaks only protocol 1, it measures the one-phase chain
 * alone and says so.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reloader.h"
#include "benchutil.h"

#define SKEW_WARMUP 5
#define SKEW_TIMEOUT_MS 10000.0
#define SKEW_PROCS_MAX 64
#define SKEW_VARIANTS 4

/* The modules every process loads. */
static const char *const skew_mods[] = { "a", "b" };
#define SKEW_NMODS 2

/* What a process reports on the pipe, in one write (under PIPE_BUF). */
struct skew_rec {
	int chain;
	int proc;
	int kind;                   /* SKEW_READY, SKEW_SWITCHED, SKEW_FAILED */
	double at;                  /* SKEW_SWITCHED: seconds, monotonic */
	char why[256];              /* SKEW_FAILED */
};

#define SKEW_READY 1
#define SKEW_SWITCHED 2
#define SKEW_FAILED 3

/* A process of a chain, as its event callback sees it. */
struct skew_proc {
	int chain;
	int proc;
	int out;                    /* the records pipe */
	unsigned int seen;          /* modules switched this round, a bit each */
	double at;                  /* the latest of their at */
};

/* The control connection to the daemon. */
struct skew_ctl {
	int fd;
	char buf[4096];
	size_t len;
};

/* The benchmark's ends of the pipes, which a process of a chain closes:
 * the records' reading end and the writing end that keeps them alive. */
static int skew_ends[2] = { -1, -1 };

/* Copies the file src to dst as a build does: written aside, renamed
 * into place. */
static void
skew_install(const char *src, const char *dst)
{
	char tmp[PATH_MAX], buf[65536];
	ssize_t n;
	int in, out;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1)
		bench_die("%s: %s", src, strerror(errno));
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0755)) == -1)
		bench_die("%s: %s", tmp, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			bench_die("%s: %s", tmp, strerror(errno));
	if (n == -1 || close(out) == -1)
		bench_die("%s: %s", tmp, strerror(errno));
	close(in);
	if (rename(tmp, dst) == -1)
		bench_die("rename %s: %s", tmp, strerror(errno));
}

/* Sends a record to the benchmark. */
static void
skew_report(const struct skew_proc *p, int kind, double at, const char *why)
{
	struct skew_rec rec;

	memset(&rec, 0, sizeof(rec));
	rec.chain = p->chain;
	rec.proc = p->proc;
	rec.kind = kind;
	rec.at = at;
	snprintf(rec.why, sizeof(rec.why), "%s", why != NULL ? why : "");
	if (write(p->out, &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		_exit(3);
}

/* A process's event callback: once both modules switched, reports when
 * the later did; reports a failed reload at once. */
static void
skew_proc_event(reloader_t *r, const struct reloader_event *ev, void *arg)
{
	struct skew_proc *p = arg;
	int i;

	if (ev->type != RELOADER_EV_RELOAD)
		return;
	if (ev->status != RELOADER_OK) {
		skew_report(p, SKEW_FAILED, 0, ev->reason);
		return;
	}
	for (i = 0; i < SKEW_NMODS; i++)
		if (strcmp(ev->name, skew_mods[i]) == 0)
			p->seen |= 1u << i;
	if (ev->at > p->at)
		p->at = ev->at;
	if (p->seen == (1u << SKEW_NMODS) - 1) {
		skew_report(p, SKEW_SWITCHED, p->at, NULL);
		p->seen = 0;
		p->at = 0;
	}
}

/* The body of a process of a chain: loads the modules from dir, attaches
 * speaking protocol proto, says it is ready, and lives until the
 * benchmark closes in. */
static void __attribute__((noreturn))
skew_proc_main(struct skew_proc *p, int proto, const char *sock,
    const char *dir, int in)
{
	static const char *const required[] = { "reply", NULL };
	char name[64], path[PATH_MAX];
	reloader_t *r;
	double deadline;
	int i;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	close(skew_ends[0]);
	close(skew_ends[1]);
	snprintf(name, sizeof(name), "skew%d-%d", proto, p->proc);
	if ((r = reloader_new(name)) == NULL ||
	    reloader_set_socket(r, sock) == -1 ||
	    reloader_set_proto(r, proto) == -1)
		_exit(2);
	reloader_set_event_cb(r, skew_proc_event, p);
	for (i = 0; i < SKEW_NMODS; i++) {
		snprintf(path, sizeof(path), "%s/%s.so", dir, skew_mods[i]);
		if (reloader_open(r, path, required) == NULL) {
			skew_report(p, SKEW_FAILED, 0, reloader_error(r));
			_exit(2);
		}
	}
	if (reloader_connect(r) == -1 || reloader_start_thread(r) == -1)
		_exit(2);
	deadline = bench_now() + SKEW_TIMEOUT_MS;
	while (!reloader_is_connected(r) && bench_now() < deadline)
		bench_sleep(1);
	skew_report(p, SKEW_READY, 0, NULL);
	while (read(in, name, sizeof(name)) != 0)
		;
	reloader_free(r);
	_exit(0);
}

/* Reads the next line from the daemon into line (NUL for its LF). */
static void
skew_ctl_line(struct skew_ctl *c, char *line, size_t size)
{
	char *lf;
	ssize_t n;
	size_t len;

	while ((lf = memchr(c->buf, '\n', c->len)) == NULL) {
		if (c->len == sizeof(c->buf))
			bench_die("the daemon sent a line too long");
		if ((n = read(c->fd, c->buf + c->len,
		    sizeof(c->buf) - c->len)) <= 0)
			bench_die("the daemon closed the control connection");
		c->len += (size_t)n;
	}
	len = (size_t)(lf - c->buf);
	snprintf(line, size, "%.*s", (int)len, c->buf);
	memmove(c->buf, lf + 1, c->len - len - 1);
	c->len -= len + 1;
}

/* Sends a request and returns when the daemon answers ok; exits on an
 * error. */
static void
skew_ctl_do(struct skew_ctl *c, const char *request)
{
	char line[4096];

	if (dprintf(c->fd, "%s\n", request) < 0)
		bench_die("%s: %s", request, strerror(errno));
	for (;;) {
		skew_ctl_line(c, line, sizeof(line));
		if (strncmp(line, "ok ", 3) == 0)
			return;
		if (strncmp(line, "error ", 6) == 0)
			bench_die("%s: %s", request, line);
	}
}

/* Opens a control connection; returns the protocol version the daemon
 * chose, out of the 2 we offer. */
static int
skew_ctl_open(struct skew_ctl *c, const char *sock)
{
	struct sockaddr_un sun;
	char line[4096], *p;
	double deadline;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sun.sun_path))
		bench_die("%s: too long for a socket path", sock);
	memcpy(sun.sun_path, sock, strlen(sock));
	/* The socket exists a moment before the daemon listens on it. */
	deadline = bench_now() + SKEW_TIMEOUT_MS;
	for (;;) {
		if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1)
			bench_die("socket: %s", strerror(errno));
		if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno != ECONNREFUSED || bench_now() > deadline)
			bench_die("%s: %s", sock, strerror(errno));
		close(c->fd);
		bench_sleep(1);
	}
	c->len = 0;
	dprintf(c->fd, "hello proto=2 min=1 pid=%ld name=skew role=control\n",
	    (long)getpid());
	skew_ctl_line(c, line, sizeof(line));
	if (strncmp(line, "welcome ", 8) != 0 ||
	    (p = strstr(line, " proto=")) == NULL)
		bench_die("the daemon answered hello with: %s", line);
	return atoi(p + 7);
}

/* Waits for a record; exits after the deadline. */
static void
skew_read(int fd, struct skew_rec *rec, double deadline)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	double left;
	ssize_t n;

	for (;;) {
		if ((left = deadline - bench_now()) <= 0)
			bench_die("no word from a process within %.0f ms",
			    SKEW_TIMEOUT_MS);
		if (poll(&pfd, 1, (int)left + 1) == -1 && errno != EINTR)
			bench_die("poll: %s", strerror(errno));
		if (!(pfd.revents & POLLIN))
			continue;
		if ((n = read(fd, rec, sizeof(*rec))) != (ssize_t)sizeof(*rec))
			bench_die("a process of a chain died");
		if (rec->kind == SKEW_FAILED)
			bench_die("a reload failed in process %d of chain %d: "
			    "%s", rec->proc, rec->chain, rec->why);
		return;
	}
}

/*
 * Runs one round of chain: the next variant of both modules renamed into
 * place in its directory as one build, between a hold and a release;
 * returns the skew of the P processes' switches, in ms.
 */
static double
skew_round(struct skew_ctl *c, int in, const char *moddir, const char *dir,
    int chain, int nprocs, int variant)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct skew_rec rec;
	double first = 0, last = 0, deadline;
	int i;

	skew_ctl_do(c, "hold");
	for (i = 0; i < SKEW_NMODS; i++) {
		snprintf(src, sizeof(src), "%s/skew-%s-%d.so", moddir,
		    skew_mods[i], variant);
		snprintf(dst, sizeof(dst), "%s/%s.so", dir, skew_mods[i]);
		skew_install(src, dst);
	}
	skew_ctl_do(c, "release");
	deadline = bench_now() + SKEW_TIMEOUT_MS;
	for (i = 0; i < nprocs; i++) {
		skew_read(in, &rec, deadline);
		if (rec.chain != chain || rec.kind != SKEW_SWITCHED)
			bench_die("process %d of chain %d switched out of turn",
			    rec.proc, rec.chain);
		if (i == 0 || rec.at < first)
			first = rec.at;
		if (i == 0 || rec.at > last)
			last = rec.at;
	}
	return (last - first) * 1e3;
}

/* Prints the usage line and exits. */
static void __attribute__((noreturn))
skew_usage(void)
{
	fprintf(stderr, "usage: skew [-g gap_ms] [-n rounds] [-p processes] "
	    "-d reloaderd moddir\n");
	exit(1);
}

/* Forks the nprocs processes of chain, loading from dir; they write to
 * out and live until in's writer closes. */
static void
skew_chain_start(int chain, int nprocs, const char *sock, const char *dir,
    const char *moddir, int out, int in, pid_t *pids)
{
	struct skew_proc p;
	char src[PATH_MAX], dst[PATH_MAX];
	int i;

	if (mkdir(dir, 0700) == -1)
		bench_die("mkdir %s: %s", dir, strerror(errno));
	for (i = 0; i < SKEW_NMODS; i++) {
		snprintf(src, sizeof(src), "%s/skew-%s-1.so", moddir,
		    skew_mods[i]);
		snprintf(dst, sizeof(dst), "%s/%s.so", dir, skew_mods[i]);
		skew_install(src, dst);
	}
	for (i = 0; i < nprocs; i++) {
		memset(&p, 0, sizeof(p));
		p.chain = chain;
		p.proc = i;
		p.out = out;
		if ((pids[i] = fork()) == -1)
			bench_die("fork: %s", strerror(errno));
		if (pids[i] == 0)
			skew_proc_main(&p, chain == 0 ? 1 : 2, sock, dir, in);
	}
}

int
main(int argc, char **argv)
{
	struct skew_ctl ctl;
	struct skew_rec rec;
	pid_t pids[2][SKEW_PROCS_MAX];
	const char *reloaderd = NULL, *moddir, *tmpdir;
	char sock[PATH_MAX], dirs[2][PATH_MAX];
	double *skews[2], gap = 20, deadline;
	long n = 200, i;
	int ch, nprocs = 8, nchains, chain, recs[2], life[2], k;
	char *end;

	bench.name = "skew";
	while ((ch = getopt(argc, argv, "d:g:n:p:")) != -1) {
		switch (ch) {
		case 'd':
			reloaderd = optarg;
			break;
		case 'g':
			gap = strtod(optarg, &end);
			if (*end != '\0' || gap < 0 || gap > 10000)
				bench_die("-g %s: not a gap in ms from 0 to "
				    "10000", optarg);
			break;
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 100000)
				bench_die("-n %s: not a number of rounds from 1 "
				    "to 100000", optarg);
			break;
		case 'p':
			nprocs = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || nprocs < 2 ||
			    nprocs > SKEW_PROCS_MAX)
				bench_die("-p %s: not a number of processes "
				    "from 2 to %d", optarg, SKEW_PROCS_MAX);
			break;
		default:
			skew_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (reloaderd == NULL || argc != 1)
		skew_usage();
	moddir = argv[0];
	if (access(reloaderd, X_OK) == -1)
		bench_die("-d %s: %s", reloaderd, strerror(errno));
	if ((skews[0] = calloc(n, sizeof(double))) == NULL ||
	    (skews[1] = calloc(n, sizeof(double))) == NULL)
		bench_die("out of memory");

	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	if (strlen(tmpdir) > 128)
		bench_die("TMPDIR %s: longer than 128 bytes, too long for the "
		    "daemon's socket path", tmpdir);
	snprintf(bench.tmp, sizeof(bench.tmp), "%s/reloader-skew.XXXXXX",
	    tmpdir);
	if (mkdtemp(bench.tmp) == NULL)
		bench_die("mkdtemp %s: %s", bench.tmp, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/reloader.sock", bench.tmp);
	snprintf(dirs[0], sizeof(dirs[0]), "%s/one-phase", bench.tmp);
	snprintf(dirs[1], sizeof(dirs[1]), "%s/two-phase", bench.tmp);
	bench_daemon_start(reloaderd, sock, SKEW_TIMEOUT_MS);
	nchains = skew_ctl_open(&ctl, sock) >= 2 ? 2 : 1;

	/* Records come in on recs, from every process; they live while
	 * life's writer stays open. */
	if (pipe(recs) == -1 || pipe(life) == -1)
		bench_die("pipe: %s", strerror(errno));
	skew_ends[0] = recs[0];
	skew_ends[1] = life[1];
	for (chain = 0; chain < nchains; chain++)
		skew_chain_start(chain, nprocs, sock, dirs[chain], moddir,
		    recs[1], life[0], pids[chain]);
	close(recs[1]);
	close(life[0]);
	deadline = bench_now() + SKEW_TIMEOUT_MS;
	for (k = 0; k < nchains * nprocs; k++) {
		skew_read(recs[0], &rec, deadline);
		if (rec.kind != SKEW_READY)
			bench_die("process %d of chain %d switched before the "
			    "first round", rec.proc, rec.chain);
	}

	/* The chains take turns; variant k + 1 follows variant k. */
	for (i = -SKEW_WARMUP; i < n; i++) {
		k = (int)((i + SKEW_WARMUP + 1) % SKEW_VARIANTS) + 1;
		for (chain = 0; chain < nchains; chain++) {
			bench_sleep(gap);
			skews[chain][i < 0 ? 0 : i] = skew_round(&ctl,
			    recs[0], moddir, dirs[chain], chain, nprocs, k);
		}
	}

	close(life[1]);
	for (chain = 0; chain < nchains; chain++)
		for (k = 0; k < nprocs; k++)
			waitpid(pids[chain][k], NULL, 0);
	close(ctl.fd);
	kill(bench.daemon, SIGTERM);
	waitpid(bench.daemon, NULL, 0);
	bench.daemon = -1;

	printf("Switch skew: %d processes with the same two modules, the "
	    "time between the first\nand the last of them running a build's "
	    "new code; %ld builds each, the two\nchains taking turns (ms):\n\n",
	    nprocs, n);
	printf("| %-26s | %7s | %7s | %7s | %7s | %7s |\n", "switch", "p50",
	    "p90", "p99", "mean", "max");
	printf("|%s|--------:|--------:|--------:|--------:|--------:|\n",
	    "----------------------------");
	bench_row("one-phase (protocol 1)", 26, skews[0], (size_t)n);
	if (nchains == 2)
		bench_row("two-phase (protocol 2)", 26, skews[1], (size_t)n);
	else
		printf("\nThe daemon speaks only protocol 1: the two-phase "
		    "switch was not measured.\n");
	nftw(bench.tmp, bench_rm, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
