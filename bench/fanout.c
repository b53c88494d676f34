/*
 * fanout.c: one change, many attached clients: how long until every
 * client has its batch, and until the daemon has taken every answer, for
 * reloaderd and for a hand-written floor server, in the same run.
 *
 *	fanout [-n clients] [-r rounds] -d reloaderd variant1.so variant2.so
 *
 * Both servers are driven by the same code here: n connections each say
 * hello and register the module (timed: "register"), then each round
 * renames the other variant into place (t0 right before rename(2)), reads
 * every client's batch as it comes ("sent": the last client's "end"),
 * answers it at once (result, done, ping) and waits for every pong
 * ("processed").  The server's CPU time over a round, from
 * /proc/PID/stat, divided by n is its cost per client.
 *
 * The floor is what a server must do and nothing more: an epoll loop, an
 * inotify watch on the directory, the new file's stamp read once, one
 * batch text built once and written to each client with one write(2),
 * and each answer line read and parsed just enough to answer the ping.
 *
 * It prints a Markdown table: medians over the rounds, and ratios.
 */
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "stamp.h"

#define FANOUT_MAX_ROUNDS 64
#define FANOUT_BUF 65536

/* One connection of the driver. */
struct fconn {
	int fd;
	char in[4096];
	size_t inlen;
	unsigned long batch;         /* the batch being answered */
	int state;                   /* 0 idle, 1 in batch, 2 answered */
};

/* A server under test. */
struct fserver {
	const char *name;
	pid_t pid;
	char sock[96];
	double reg_ms;
	double sent[FANOUT_MAX_ROUNDS], proc[FANOUT_MAX_ROUNDS];
	double cpu[FANOUT_MAX_ROUNDS];
};

static char fanout_dir[64];
static int nclients = 1000, nrounds = 7;
static const char *variants[2];
static char stamps[2][PROTO_STAMP_MAX];

static void fanout_die(const char *, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

/* Says what failed, and exits. */
static void
fanout_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fanout: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* Milliseconds on the monotonic clock. */
static double
fanout_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU milliseconds a process's main thread has run, to the nanosecond
 * (/proc/PID/schedstat; /proc/PID/stat counts in 10 ms ticks). */
static double
fanout_cpu(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/schedstat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(fp, "%llu", &ns) != 1)
		ns = 0;
	fclose(fp);
	return ns / 1e6;
}

/* Writes all of a buffer. */
static void
fanout_write(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fanout_die("write: %s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Copies a variant into the directory under a temporary name and
 * renames it into place; returns the time right before the rename. */
static double
fanout_change(const char *src)
{
	char tmp[512], dst[512], buf[FANOUT_BUF];
	int in, out;
	ssize_t n;
	double t0;

	snprintf(tmp, sizeof(tmp), "%s/.m.so.tmp", fanout_dir);
	snprintf(dst, sizeof(dst), "%s/m.so", fanout_dir);
	if ((in = open(src, O_RDONLY)) == -1 ||
	    (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		fanout_die("%s: %s", src, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		fanout_write(out, buf, (size_t)n);
	close(in);
	close(out);
	t0 = fanout_now();
	if (rename(tmp, dst) == -1)
		fanout_die("rename: %s", strerror(errno));
	return t0;
}

/* ---- the floor server ------------------------------------------------ */

/* A connection of the floor server. */
struct floor_conn {
	int fd;
	char in[4096];
	size_t inlen;
};

/* Answers one line a client sent the floor. */
static void
floor_line(struct floor_conn *c, const char *line)
{
	static const char welcome[] = "welcome proto=1 server=floor\n";
	static const char registered[] = "registered module=m\n";
	static const char pong[] = "pong\n";

	if (strncmp(line, "hello ", 6) == 0)
		fanout_write(c->fd, welcome, sizeof(welcome) - 1);
	else if (strncmp(line, "register ", 9) == 0)
		fanout_write(c->fd, registered, sizeof(registered) - 1);
	else if (strncmp(line, "ping", 4) == 0)
		fanout_write(c->fd, pong, sizeof(pong) - 1);
	/* result and done need no answer. */
}

/* The floor: accepts clients, answers their lines, and on a new module
 * file sends every client one batch built once. */
static void
floor_main(const char *sockpath)
{
	struct sockaddr_un sun;
	struct epoll_event ev, evs[256];
	struct floor_conn **conns = NULL;
	struct stamp st;
	char buf[8192] __attribute__((aligned(8)));
	char err[256], path[512], text[2048], stamp[PROTO_STAMP_MAX];
	size_t nconns = 0, tlen;
	unsigned long batch = 0;
	int lfd, ifd, ep, n, i, fd;
	char *nl, *p;
	ssize_t r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sockpath, strlen(sockpath) + 1);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 1024) == -1)
		fanout_die("floor: %s", strerror(errno));
	if ((ifd = inotify_init1(IN_NONBLOCK)) == -1 ||
	    inotify_add_watch(ifd, fanout_dir, IN_CLOSE_WRITE |
	    IN_MOVED_TO) == -1)
		fanout_die("floor: inotify: %s", strerror(errno));
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &ifd;
	epoll_ctl(ep, EPOLL_CTL_ADD, ifd, &ev);
	for (;;) {
		if ((n = epoll_wait(ep, evs, 256, -1)) == -1) {
			if (errno == EINTR)
				continue;
			fanout_die("floor: epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					struct floor_conn *c = calloc(1,
					    sizeof(*c));

					conns = realloc(conns, (nconns + 1) *
					    sizeof(*conns));
					c->fd = fd;
					conns[nconns++] = c;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (evs[i].data.ptr == &ifd) {
				ssize_t got;
				int ours = 0;

				while ((got = read(ifd, buf, sizeof(buf))) > 0)
					for (p = buf; p < buf + got; p +=
					    sizeof(struct inotify_event) +
					    ((struct inotify_event *)p)->len)
						ours |= strcmp(((struct
						    inotify_event *)p)->name,
						    "m.so") == 0;
				if (!ours)
					continue;
				snprintf(path, sizeof(path), "%s/m.so",
				    fanout_dir);
				if (stamp_read_file(path, &st, err,
				    sizeof(err)) != STAMP_OK)
					continue;
				proto_stamp_format(&st, stamp, sizeof(stamp));
				batch++;
				tlen = (size_t)snprintf(text, sizeof(text),
				    "reload batch=%lu count=1\nmodule batch=%lu "
				    "module=m path=%s stamp=%s was=x\n"
				    "end batch=%lu\n", batch, batch, path,
				    stamp, batch);
				for (size_t k = 0; k < nconns; k++)
					fanout_write(conns[k]->fd, text, tlen);
				continue;
			}
			struct floor_conn *c = evs[i].data.ptr;

			while ((r = read(c->fd, c->in + c->inlen,
			    sizeof(c->in) - c->inlen - 1)) > 0) {
				c->inlen += (size_t)r;
				c->in[c->inlen] = '\0';
				p = c->in;
				while ((nl = strchr(p, '\n')) != NULL) {
					*nl = '\0';
					floor_line(c, p);
					p = nl + 1;
				}
				c->inlen -= (size_t)(p - c->in);
				memmove(c->in, p, c->inlen);
			}
			if (r == 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
			}
		}
	}
}

/* ---- the driver ------------------------------------------------------ */

/* Connects to a server's socket, trying for up to 10 s while it starts. */
static int
fanout_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, tries;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	for (tries = 0; tries < 1000; tries++) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			fanout_die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		close(fd);
		usleep(10000);
	}
	fanout_die("cannot connect to %s", path);
}

/* Reads what a connection has; calls fn on each whole line. */
static int
fanout_read(struct fconn *c, int (*fn)(struct fconn *, char *))
{
	char *nl, *p;
	ssize_t r;
	int done = 0;

	for (;;) {
		r = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			break;
		if (r <= 0)
			fanout_die("a server closed a client (%s)",
			    r == 0 ? "EOF" : strerror(errno));
		c->inlen += (size_t)r;
		c->in[c->inlen] = '\0';
		p = c->in;
		while ((nl = strchr(p, '\n')) != NULL) {
			*nl = '\0';
			done += fn(c, p);
			p = nl + 1;
		}
		c->inlen -= (size_t)(p - c->in);
		memmove(c->in, p, c->inlen);
	}
	return done;
}

/* A line while registering: 1 when it is "registered". */
static int
fanout_on_reg(struct fconn *c, char *line)
{
	if (strncmp(line, "error", 5) == 0)
		fanout_die("server: %s", line);
	return strncmp(line, "registered", 10) == 0;
}

static int fanout_cur;         /* the variant now on disk */
static double fanout_t_sent;   /* when the last batch end arrived */
static int fanout_nend;        /* batch ends seen this round */

/* A line in a round: answers a batch's end at once; 1 on a pong. */
static int
fanout_on_round(struct fconn *c, char *line)
{
	char buf[512];
	int n;

	if (strncmp(line, "reload batch=", 13) == 0)
		c->batch = strtoul(line + 13, NULL, 10);
	else if (strncmp(line, "end ", 4) == 0) {
		if (++fanout_nend == nclients)
			fanout_t_sent = fanout_now();
		n = snprintf(buf, sizeof(buf), "result batch=%lu module=m "
		    "status=ok stamp=%s\ndone batch=%lu\nping id=1\n",
		    c->batch, stamps[fanout_cur], c->batch);
		fanout_write(c->fd, buf, (size_t)n);
	} else if (strncmp(line, "pong", 4) == 0)
		return 1;
	else if (strncmp(line, "error", 5) == 0)
		fanout_die("server: %s", line);
	return 0;
}

/* Waits on every connection until fn has counted n lines. */
static void
fanout_wait(int ep, int n, int (*fn)(struct fconn *, char *))
{
	struct epoll_event evs[256];
	int got = 0, k, i;

	while (got < n) {
		if ((k = epoll_wait(ep, evs, 256, 20000)) <= 0) {
			if (k == -1 && errno == EINTR)
				continue;
			fanout_die("timed out: %d of %d answers", got, n);
		}
		for (i = 0; i < k; i++)
			got += fanout_read(evs[i].data.ptr, fn);
	}
}

/* Runs the register step and the rounds against one server. */
static void
fanout_drive(struct fserver *s)
{
	struct fconn *cs = calloc((size_t)nclients, sizeof(*cs));
	struct epoll_event ev;
	char buf[1024], path[512];
	double t0, c0;
	int ep = epoll_create1(0), i, r, n;

	snprintf(path, sizeof(path), "%s/m.so", fanout_dir);
	t0 = fanout_now();
	for (i = 0; i < nclients; i++) {
		cs[i].fd = fanout_connect(s->sock);
		fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
		n = snprintf(buf, sizeof(buf), "hello proto=1 pid=%d "
		    "name=fan%d\nregister module=m path=%s stamp=%s\n",
		    getpid(), i, path, stamps[fanout_cur]);
		fanout_write(cs[i].fd, buf, (size_t)n);
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	fanout_wait(ep, nclients, fanout_on_reg);
	s->reg_ms = fanout_now() - t0;
	for (r = 0; r < nrounds; r++) {
		fanout_cur = !fanout_cur;
		fanout_nend = 0;
		c0 = fanout_cpu(s->pid);
		t0 = fanout_change(variants[fanout_cur]);
		fanout_wait(ep, nclients, fanout_on_round);
		s->proc[r] = fanout_now() - t0;
		s->sent[r] = fanout_t_sent - t0;
		s->cpu[r] = (fanout_cpu(s->pid) - c0) * 1000.0 / nclients;
		usleep(50000);
	}
	for (i = 0; i < nclients; i++)
		close(cs[i].fd);
	close(ep);
	free(cs);
}

/* Compares doubles, for qsort. */
static int
fanout_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n values (sorted in place). */
static double
fanout_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), fanout_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Stops a server and waits for it. */
static void
fanout_stop(struct fserver *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
}

/* Starts reloaderd with conf on sock, logging to logp. */
static pid_t
fanout_spawn(const char *daemon, const char *sock, const char *conf,
    const char *logp, const char *watch)
{
	pid_t pid;

	if ((pid = fork()) == 0) {
		if (watch != NULL)
			execl(daemon, daemon, "-f", "-s", sock, "-c", conf,
			    "-l", logp, "-w", watch, (char *)NULL);
		else
			execl(daemon, daemon, "-f", "-s", sock, "-c", conf,
			    "-l", logp, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The median ms of registering one module of a directory of many
 * entries, each from a client that connects, registers and closes (as
 * processes that restart do); with watch, the directory is configured,
 * else watched only for the clients (zero configuration). */
static double
fanout_implicit(const char *daemon, const char *dir, int regs,
    const char *watch)
{
	char sock[128], conf[128], logp[128], buf[1024], line[4096];
	double *v = calloc((size_t)regs, sizeof(*v)), t0;
	struct fconn c;
	pid_t pid;
	FILE *fp;
	int i, n;

	snprintf(sock, sizeof(sock), "%s/impl.sock", fanout_dir);
	snprintf(conf, sizeof(conf), "%s/impl.conf", fanout_dir);
	snprintf(logp, sizeof(logp), "%s/impl.log", fanout_dir);
	unlink(sock);
	if ((fp = fopen(conf, "w")) == NULL)
		fanout_die("%s: %s", conf, strerror(errno));
	fprintf(fp, "[reloaderd]\nsettle = 0\n");
	fclose(fp);
	pid = fanout_spawn(daemon, sock, conf, logp, watch);
	for (i = 0; i < regs; i++) {
		memset(&c, 0, sizeof(c));
		c.fd = fanout_connect(sock);
		n = snprintf(buf, sizeof(buf), "hello proto=1 pid=%d name=r%d\n",
		    getpid(), i);
		fanout_write(c.fd, buf, (size_t)n);
		if (read(c.fd, line, sizeof(line)) <= 0)
			fanout_die("no welcome");
		n = snprintf(buf, sizeof(buf), "register module=m%d "
		    "path=%s/m%d.so stamp=%s\n", i, dir, i, stamps[0]);
		t0 = fanout_now();
		fanout_write(c.fd, buf, (size_t)n);
		if (read(c.fd, line, sizeof(line)) <= 0 ||
		    strncmp(line, "registered", 10) != 0)
			fanout_die("register: %.200s", line);
		v[i] = fanout_now() - t0;
		close(c.fd);
		usleep(2000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	t0 = fanout_median(v, regs);
	free(v);
	return t0;
}

int
main(int argc, char **argv)
{
	struct fserver rl = { .name = "reloaderd" }, fl = { .name = "floor" };
	const char *daemon = NULL;
	char conf[600], logp[512], path[512], cmd[1024], err[256];
	struct rlimit rlim;
	struct stamp st;
	FILE *fp;
	int ch, i, entries = 0;
	double a, b;

	while ((ch = getopt(argc, argv, "I:n:r:d:")) != -1) {
		switch (ch) {
		case 'I':
			entries = atoi(optarg);
			break;
		case 'n':
			nclients = atoi(optarg);
			break;
		case 'r':
			nrounds = atoi(optarg);
			if (nrounds < 1 || nrounds > FANOUT_MAX_ROUNDS)
				fanout_die("-r: 1 to %d", FANOUT_MAX_ROUNDS);
			break;
		case 'd':
			daemon = optarg;
			break;
		default:
			fanout_die("usage: fanout [-n clients] [-r rounds] "
			    "-d reloaderd variant1.so variant2.so");
		}
	}
	if (daemon == NULL || argc - optind != 2)
		fanout_die("usage: fanout [-n clients] [-r rounds] -d "
		    "reloaderd variant1.so variant2.so");
	variants[0] = argv[optind];
	variants[1] = argv[optind + 1];
	for (i = 0; i < 2; i++) {
		if (stamp_read_file(variants[i], &st, err, sizeof(err)) !=
		    STAMP_OK)
			fanout_die("%s: %s", variants[i], err);
		proto_stamp_format(&st, stamps[i], sizeof(stamps[i]));
	}
	/* Room for the clients' descriptors, here and in the servers. */
	if (getrlimit(RLIMIT_NOFILE, &rlim) == 0) {
		rlim.rlim_cur = rlim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rlim);
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(fanout_dir, sizeof(fanout_dir), "/tmp/fanout.XXXXXX");
	if (mkdtemp(fanout_dir) == NULL)
		fanout_die("mkdtemp: %s", strerror(errno));

	/* Each server in turn, on the same module. */
	fanout_cur = 0;
	snprintf(path, sizeof(path), "%s/m.so", fanout_dir);
	fanout_change(variants[0]);
	snprintf(conf, sizeof(conf), "%s/conf", fanout_dir);
	snprintf(logp, sizeof(logp), "%s/log", fanout_dir);
	if ((fp = fopen(conf, "w")) == NULL)
		fanout_die("%s: %s", conf, strerror(errno));
	fprintf(fp, "[reloaderd]\nsettle = 0\nmax-clients = %d\n",
	    nclients + 16);
	fclose(fp);
	snprintf(rl.sock, sizeof(rl.sock), "%s/rl.sock", fanout_dir);
	if ((rl.pid = fork()) == 0) {
		execl(daemon, daemon, "-f", "-s", rl.sock, "-c", conf, "-l",
		    logp, (char *)NULL);
		_exit(127);
	}
	fanout_drive(&rl);
	fanout_stop(&rl);

	fanout_cur = 0;
	fanout_change(variants[0]);
	snprintf(fl.sock, sizeof(fl.sock), "%s/fl.sock", fanout_dir);
	if ((fl.pid = fork()) == 0) {
		floor_main(fl.sock);
		_exit(0);
	}
	fanout_drive(&fl);
	fanout_stop(&fl);

	printf("| fan-out, %d clients, one change (median of %d) | "
	    "reloaderd | floor | ratio |\n|---|---|---|---|\n", nclients,
	    nrounds);
	printf("| register %d clients, ms | %.1f | %.1f | %.2f |\n", nclients,
	    rl.reg_ms, fl.reg_ms, rl.reg_ms / fl.reg_ms);
	a = fanout_median(rl.sent, nrounds);
	b = fanout_median(fl.sent, nrounds);
	printf("| every batch sent, ms | %.1f | %.1f | %.2f |\n", a, b, a / b);
	a = fanout_median(rl.proc, nrounds);
	b = fanout_median(fl.proc, nrounds);
	printf("| every answer processed, ms | %.1f | %.1f | %.2f |\n", a, b,
	    a / b);
	a = fanout_median(rl.cpu, nrounds);
	b = fanout_median(fl.cpu, nrounds);
	printf("| server CPU per client, us | %.1f | %.1f | %.2f |\n", a, b,
	    a / b);
	/* Registering in a directory of many entries. */
	if (entries > 0) {
		snprintf(path, sizeof(path), "%s/many", fanout_dir);
		mkdir(path, 0755);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s/m0.so'", variants[0],
		    path);
		if (system(cmd) != 0)
			fanout_die("%s failed", cmd);
		snprintf(conf, sizeof(conf), "%s/m0.so", path);
		for (i = 1; i < entries; i++) {
			snprintf(cmd, sizeof(cmd), "%s/m%d.so", path, i);
			if (link(conf, cmd) == -1)
				fanout_die("link %s: %s", cmd, strerror(errno));
		}
		a = fanout_implicit(daemon, path, 100, NULL);
		b = fanout_implicit(daemon, path, 100, path);
		printf("| register one module in a directory of %d files, "
		    "ms (configured root beside it) | %.3f | %.3f | %.2f |\n",
		    entries, a, b, a / b);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fanout_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fanout: could not remove %s\n", fanout_dir);
	return 0;
}
