/*
 * latency.c: how long from "the build finished writing the module" to
 * "the process runs the new code", for reloader and for a hand-written
 * floor chain, measured in the same run.
 *
 *	latency [-R] [-g gap_ms] [-n changes] -d reloaderd variant.so...
 *
 * reloader: reloaderd runs with no watch directories and a settle window
 * of 0 (a config file with "settle = 0"); this process loads the module
 * through libreloader, whose own thread talks to the daemon, so the
 * daemon watches the module's directory because the module is loaded
 * there.  floor: the same steps by hand, with nothing else: a thread
 * reading inotify (IN_CLOSE_WRITE, IN_MOVED_TO) sends the file name over a
 * Unix socket to a loader thread, which copies the file to a private
 * path, dlopens it (RTLD_NOW | RTLD_LOCAL), calls its reloader_test hook
 * and swaps an atomic pointer to the new reply().
 *
 * Each change writes the next variant (each a different build of
 * variant.c, returning its number) as a new file in place of the module,
 * as a linker does (unlink(2), then one write(2) and close(2); with -R: to
 * a temporary name, then rename(2) into place); t0 is taken right before
 * the close or rename, because the event goes out inside that call and
 * the threads it wakes may run before it returns.  The main thread then
 * sleeps until the chain says it has swapped (the library's reload
 * event, or the floor's loader), calls reply() through the chain as a
 * host does (for reloader: reloader_enter, reloader_sym, reloader_leave)
 * and takes t1 once it returns the new variant.  The two chains take
 * turns change by change, each in a directory of its own, so that the
 * machine's noise falls on both alike; a short gap (-g, default 5 ms)
 * separates changes so that each one starts from idle, as an edit does.
 * The first 10 changes of each are a warm-up and not counted.
 *
 * It prints a Markdown table of p50, p90, p99, mean and max in ms, and the
 * ratio of the p50s; with -o, every change's time to a file, for plots.
 */
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reloader.h"
#include "benchutil.h"

#define LATENCY_WARMUP 10
#define LATENCY_TIMEOUT_MS 5000.0
#define LATENCY_FILE "mod.so"
#define LATENCY_DIR_MAX 512     /* a directory in it */

/* The signature of reply() and of the test hook in variant.c. */
typedef int latency_fn(void *);

/* One variant's bytes, read once so that a change is a single write. */
struct latency_blob {
	const char *path;
	char *data;
	size_t len;
	int variant;
};

/* The hand-written floor chain. */
struct latency_floor {
	char dir[LATENCY_DIR_MAX];  /* watched */
	char copies[LATENCY_DIR_MAX];/* private copies */
	int ifd;                    /* inotify */
	int sv[2];                  /* watcher -> loader */
	int done;                   /* eventfd: a new version is current */
	pthread_t watcher;
	pthread_t loader;
	void *handle;               /* the current image */
	_Atomic(latency_fn *) cur;  /* its reply() */
	unsigned long gen;
	int failed;
};

/* The reloader chain, in this process. */
struct latency_rl {
	char dir[LATENCY_DIR_MAX];
	reloader_t *r;
	reloader_module_t *m;
	int done;                   /* eventfd: a reload ended */
	atomic_int status;          /* of the last reload */
	char reason[512];
};


/* Reads a whole file into b; exits on failure. */
static void
latency_blob_read(struct latency_blob *b, const char *path, int variant)
{
	struct stat st;
	ssize_t n;
	size_t off = 0;
	int fd;

	b->path = path;
	b->variant = variant;
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		bench_die("%s: %s", path, strerror(errno));
	b->len = st.st_size;
	if ((b->data = malloc(b->len)) == NULL)
		bench_die("out of memory");
	while (off < b->len) {
		if ((n = read(fd, b->data + off, b->len - off)) <= 0)
			bench_die("%s: %s", path,
			    n == 0 ? "shorter than it was" : strerror(errno));
		off += n;
	}
	close(fd);
}

/* Writes all of buf to fd; -1 on failure. */
static int
latency_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/* Puts a variant in place as a build would, and returns the time just
 * before the close (or, renaming, the rename) that finishes it: the
 * event goes out inside that call, and the threads it wakes may well run
 * before the call returns to us. */
static double
latency_install(const char *dir, const struct latency_blob *b, int rename_)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	const char *out;
	double t0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, LATENCY_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, LATENCY_FILE);
	out = rename_ ? tmp : path;
	/* A new file, as ld makes one, not the old one truncated. */
	if (unlink(out) == -1 && errno != ENOENT)
		bench_die("unlink %s: %s", out, strerror(errno));
	if ((fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0755)) == -1)
		bench_die("%s: %s", out, strerror(errno));
	if (latency_write_all(fd, b->data, b->len) == -1)
		bench_die("%s: %s", out, strerror(errno));
	t0 = bench_now();
	if (close(fd) == -1)
		bench_die("%s: close: %s", out, strerror(errno));
	if (rename_) {
		t0 = bench_now();
		if (rename(tmp, path) == -1)
			bench_die("rename %s: %s", tmp, strerror(errno));
	}
	return t0;
}

/* The protocol version the library speaks (-P), 0 for its highest. */
static int latency_proto;

/* Adds one to an eventfd. */
static void
latency_signal(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) == -1)
		abort();
}

/* Waits until an eventfd is signalled or the deadline passes; returns
 * 0, or -1 on timeout. */
static int
latency_wait(int efd, double deadline)
{
	struct pollfd pfd = { efd, POLLIN, 0 };
	uint64_t v;
	double left;

	for (;;) {
		left = deadline - bench_now();
		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left + 1) == -1 && errno != EINTR)
			bench_die("poll: %s", strerror(errno));
		if (pfd.revents & POLLIN) {
			if (read(efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
				bench_die("read: %s", strerror(errno));
			return 0;
		}
	}
}

/* The floor's first step: turns inotify events for the module into a
 * message on the socket. */
static void *
latency_floor_watch(void *arg)
{
	struct latency_floor *f = arg;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	for (;;) {
		if ((n = read(f->ifd, buf, sizeof(buf))) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			bench_die("inotify read: %s", n == 0 ? "end of file" :
			    strerror(errno));
		}
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->len == 0 || strcmp(ev->name, LATENCY_FILE) != 0)
				continue;
			if (latency_write_all(f->sv[0], LATENCY_FILE "\n",
			    sizeof(LATENCY_FILE)) == -1)
				bench_die("floor socket: %s",
				    strerror(errno));
		}
	}
	return NULL;
}

/* Copies src to a new file dst; -1 on failure. */
static int
latency_copy(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n;
	int in, out;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0700)) == -1) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (latency_write_all(out, buf, n) == -1) {
			n = -1;
			break;
		}
	close(in);
	if (close(out) == -1 || n == -1) {
		unlink(dst);
		return -1;
	}
	return 0;
}

/* Loads the module's file as a new current version: private copy,
 * dlopen, test hook, swap, then unload the old one. */
static void
latency_floor_load(struct latency_floor *f)
{
	char src[PATH_MAX], dst[PATH_MAX];
	latency_fn *reply, *test;
	void *h, *old;

	snprintf(src, sizeof(src), "%s/%s", f->dir, LATENCY_FILE);
	snprintf(dst, sizeof(dst), "%s/%lu.so", f->copies, ++f->gen);
	if (latency_copy(src, dst) == -1)
		bench_die("floor copy %s: %s", src, strerror(errno));
	h = dlopen(dst, RTLD_NOW | RTLD_LOCAL);
	unlink(dst);
	if (h == NULL)
		bench_die("floor dlopen: %s", dlerror());
	*(void **)&reply = dlsym(h, "reply");
	*(void **)&test = dlsym(h, "reloader_test");
	if (reply == NULL || (test != NULL && test(NULL) != 0)) {
		dlclose(h);
		f->failed = 1;
		latency_signal(f->done);
		return;
	}
	old = f->handle;
	f->handle = h;
	atomic_store_explicit(&f->cur, reply, memory_order_release);
	latency_signal(f->done);
	if (old != NULL)
		dlclose(old);
}

/* The floor's second step: loads the module on every message. */
static void *
latency_floor_loader(void *arg)
{
	struct latency_floor *f = arg;
	char buf[256];
	ssize_t n, i;

	for (;;) {
		if ((n = read(f->sv[1], buf, sizeof(buf))) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			bench_die("floor socket read: %s", n == 0 ?
			    "end of file" : strerror(errno));
		}
		for (i = 0; i < n; i++)
			if (buf[i] == '\n')
				latency_floor_load(f);
	}
	return NULL;
}

/* Sets up the floor chain in its own directory with the first variant. */
static void
latency_floor_start(struct latency_floor *f, const struct latency_blob *b)
{
	snprintf(f->dir, sizeof(f->dir), "%s/floor", bench.tmp);
	snprintf(f->copies, sizeof(f->copies), "%s/floor-copies",
	    bench.tmp);
	if (mkdir(f->dir, 0700) == -1 || mkdir(f->copies, 0700) == -1)
		bench_die("mkdir: %s", strerror(errno));
	latency_install(f->dir, b, 0);
	if ((f->ifd = inotify_init1(IN_CLOEXEC)) == -1)
		bench_die("inotify_init1: %s", strerror(errno));
	if (inotify_add_watch(f->ifd, f->dir, IN_CLOSE_WRITE | IN_MOVED_TO) ==
	    -1)
		bench_die("inotify_add_watch %s: %s", f->dir,
		    strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv) == -1)
		bench_die("socketpair: %s", strerror(errno));
	if ((f->done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		bench_die("eventfd: %s", strerror(errno));
	latency_floor_load(f);
	latency_wait(f->done, bench_now() + LATENCY_TIMEOUT_MS);
	if (f->failed)
		bench_die("floor: %s does not load", b->path);
	if (pthread_create(&f->watcher, NULL, latency_floor_watch, f) != 0 ||
	    pthread_create(&f->loader, NULL, latency_floor_loader, f) != 0)
		bench_die("pthread_create failed");
}

/* Stops the floor's threads and unloads its module. */
static void
latency_floor_stop(struct latency_floor *f)
{
	pthread_cancel(f->watcher);
	pthread_cancel(f->loader);
	pthread_join(f->watcher, NULL);
	pthread_join(f->loader, NULL);
	close(f->ifd);
	close(f->sv[0]);
	close(f->sv[1]);
	close(f->done);
	if (f->handle != NULL)
		dlclose(f->handle);
}

/* Calls the floor's current reply(). */
static int
latency_floor_call(struct latency_floor *f)
{
	return atomic_load_explicit(&f->cur, memory_order_acquire)(NULL);
}

/* Hears the library's events: a reload's end wakes the main thread. */
static void
latency_rl_event(reloader_t *r, const struct reloader_event *ev, void *arg)
{
	struct latency_rl *rl = arg;

	if (ev->type != RELOADER_EV_RELOAD)
		return;
	if (ev->status != RELOADER_OK)
		snprintf(rl->reason, sizeof(rl->reason), "%s: %s",
		    reloader_status_name(ev->status), ev->reason);
	atomic_store(&rl->status, (int)ev->status);
	latency_signal(rl->done);
}

/* Calls the module's current reply() through the library. */
static int
latency_rl_call(struct latency_rl *rl)
{
	reloader_image_t *img;
	latency_fn *reply;
	int v;

	img = reloader_enter(rl->m);
	*(void **)&reply = reloader_sym(img, "reply");
	v = reply(reloader_state(img));
	reloader_leave(img);
	return v;
}

/* Sets up the reloader chain: the daemon, and the module loaded through
 * the library in its own directory; waits until attached. */
static void
latency_rl_start(struct latency_rl *rl, const char *reloaderd,
    const struct latency_blob *b)
{
	static const char *const required[] = { "reply", NULL };
	char sock[PATH_MAX], path[PATH_MAX];
	double deadline;

	snprintf(rl->dir, sizeof(rl->dir), "%s/watch", bench.tmp);
	snprintf(sock, sizeof(sock), "%s/reloader.sock", bench.tmp);
	snprintf(path, sizeof(path), "%s/%s", rl->dir, LATENCY_FILE);
	if (mkdir(rl->dir, 0700) == -1)
		bench_die("mkdir %s: %s", rl->dir, strerror(errno));
	latency_install(rl->dir, b, 0);
	if ((rl->done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		bench_die("eventfd: %s", strerror(errno));
	bench_daemon_start(reloaderd, sock, LATENCY_TIMEOUT_MS);

	if ((rl->r = reloader_new("latency")) == NULL)
		bench_die("reloader_new: out of memory");
	if (reloader_set_socket(rl->r, sock) == -1)
		bench_die("%s: %s", sock, reloader_error(rl->r));
	reloader_set_event_cb(rl->r, latency_rl_event, rl);
	if (latency_proto != 0 &&
	    reloader_set_proto(rl->r, latency_proto) == -1)
		bench_die("%s", reloader_error(rl->r));
	if ((rl->m = reloader_open(rl->r, path, required)) == NULL)
		bench_die("%s: %s", b->path, reloader_error(rl->r));
	if (reloader_connect(rl->r) == -1 ||
	    reloader_start_thread(rl->r) == -1)
		bench_die("%s", reloader_error(rl->r));
	deadline = bench_now() + LATENCY_TIMEOUT_MS;
	while (!reloader_is_connected(rl->r)) {
		if (bench_now() > deadline)
			bench_die("the library did not attach to %s: %s",
			    sock, reloader_error(rl->r));
		bench_sleep(1);
	}
}

/* Stops the reloader chain: the library, then the daemon. */
static void
latency_rl_stop(struct latency_rl *rl)
{
	int status;

	reloader_free(rl->r);
	close(rl->done);
	kill(bench.daemon, SIGTERM);
	if (waitpid(bench.daemon, &status, 0) == bench.daemon &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		fprintf(stderr, "latency: reloaderd did not exit cleanly "
		    "(status 0x%x)\n", status);
	bench.daemon = -1;
}

/* One change through the reloader chain; returns its latency in ms. */
static double
latency_rl_change(struct latency_rl *rl, const struct latency_blob *b,
    int rename_)
{
	double t0, deadline;

	t0 = latency_install(rl->dir, b, rename_);
	deadline = t0 + LATENCY_TIMEOUT_MS;
	for (;;) {
		if (latency_wait(rl->done, deadline) == -1)
			bench_die("reloader: variant %d was not loaded "
			    "within %.0f ms", b->variant, LATENCY_TIMEOUT_MS);
		if (atomic_load(&rl->status) != RELOADER_OK)
			bench_die("reloader: variant %d: %s", b->variant,
			    rl->reason);
		if (latency_rl_call(rl) == b->variant)
			return bench_now() - t0;
	}
}

/* One change through the floor chain; returns its latency in ms. */
static double
latency_floor_change(struct latency_floor *f, const struct latency_blob *b,
    int rename_)
{
	double t0, deadline;

	t0 = latency_install(f->dir, b, rename_);
	deadline = t0 + LATENCY_TIMEOUT_MS;
	for (;;) {
		if (latency_wait(f->done, deadline) == -1)
			bench_die("floor: variant %d was not loaded within "
			    "%.0f ms", b->variant, LATENCY_TIMEOUT_MS);
		if (f->failed)
			bench_die("floor: variant %d failed its test",
			    b->variant);
		if (latency_floor_call(f) == b->variant)
			return bench_now() - t0;
	}
}

/* Prints the usage line and exits. */
static void __attribute__((noreturn))
latency_usage(void)
{
	fprintf(stderr, "usage: latency [-R] [-g gap_ms] [-n changes] "
	    "[-o samples] [-P 1|2] -d reloaderd variant.so...\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct latency_blob *blobs;
	struct latency_floor floor_;
	struct latency_rl rl;
	const char *reloaderd = NULL, *tmpdir, *samples = NULL;
	FILE *fp;
	double *trl, *tfl, gap = 5, p50rl, p50fl;
	long n = 300, i, k;
	int ch, nblobs, rename_ = 0;
	char *end;

	bench.name = "latency";
	while ((ch = getopt(argc, argv, "d:g:n:o:P:R")) != -1) {
		switch (ch) {
		case 'P':
			latency_proto = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || latency_proto < 1 ||
			    latency_proto > 2)
				bench_die("-P %s: not a protocol version, 1 "
				    "or 2", optarg);
			break;
		case 'o':
			samples = optarg;
			break;
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
			if (*end != '\0' || n < 1 || n > 1000000)
				bench_die("-n %s: not a number of changes "
				    "from 1 to 1000000", optarg);
			break;
		case 'R':
			rename_ = 1;
			break;
		default:
			latency_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (reloaderd == NULL || argc < 2)
		latency_usage();
	if (access(reloaderd, X_OK) == -1)
		bench_die("-d %s: %s", reloaderd, strerror(errno));

	nblobs = argc;
	if ((blobs = calloc(nblobs, sizeof(*blobs))) == NULL ||
	    (trl = calloc(n, sizeof(*trl))) == NULL ||
	    (tfl = calloc(n, sizeof(*tfl))) == NULL)
		bench_die("out of memory");
	for (k = 0; k < nblobs; k++)
		latency_blob_read(&blobs[k], argv[k], (int)k + 1);

	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	if (strlen(tmpdir) > 128)
		bench_die("TMPDIR %s: longer than 128 bytes, too long for "
		    "the daemon's socket path", tmpdir);
	snprintf(bench.tmp, sizeof(bench.tmp), "%s/reloader-bench.XXXXXX",
	    tmpdir);
	if (mkdtemp(bench.tmp) == NULL)
		bench_die("mkdtemp %s: %s", bench.tmp, strerror(errno));

	memset(&floor_, 0, sizeof(floor_));
	memset(&rl, 0, sizeof(rl));
	latency_floor_start(&floor_, &blobs[0]);
	latency_rl_start(&rl, reloaderd, &blobs[0]);
	if (latency_rl_call(&rl) != 1 || latency_floor_call(&floor_) != 1)
		bench_die("%s does not return 1: is it variant 1?",
		    blobs[0].path);

	/* The chains take turns; variant k + 1 follows variant k. */
	for (i = -LATENCY_WARMUP; i < n; i++) {
		k = (i + LATENCY_WARMUP + 1) % nblobs;
		bench_sleep(gap);
		trl[i < 0 ? 0 : i] = latency_rl_change(&rl, &blobs[k],
		    rename_);
		bench_sleep(gap);
		tfl[i < 0 ? 0 : i] = latency_floor_change(&floor_, &blobs[k],
		    rename_);
	}

	latency_rl_stop(&rl);
	latency_floor_stop(&floor_);

	/* Every change's time, for the plots: "chain ms" a line. */
	if (samples != NULL) {
		if ((fp = fopen(samples, "w")) == NULL)
			bench_die("%s: %s", samples, strerror(errno));
		for (i = 0; i < n; i++)
			fprintf(fp, "reloader %.4f\nfloor %.4f\n", trl[i],
			    tfl[i]);
		fclose(fp);
	}
	printf("Reload latency, from the %s that finishes the module file to "
	    "the new code\nanswering a call; %ld changes each, the two chains "
	    "taking turns (ms):\n\n", rename_ ? "rename(2)" : "close(2)", n);
	printf("| %-24s | %7s | %7s | %7s | %7s | %7s |\n", "chain", "p50",
	    "p90", "p99", "mean", "max");
	printf("|%s|--------:|--------:|--------:|--------:|--------:|\n",
	    "--------------------------");
	p50rl = bench_row("reloader (settle = 0)", 24, trl, n);
	p50fl = bench_row("floor (by hand)", 24, tfl, n);
	printf("\np50 ratio reloader / floor: %.2f (target: at most 1.20)\n",
	    p50rl / p50fl);

	nftw(bench.tmp, bench_rm, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
