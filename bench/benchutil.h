/*
 * benchutil.h: what the benchmarks that run their own reloaderd share
 * (latency.c, skew.c): the clock, sleeping, dying with the daemon
 * stopped, starting the daemon with a settle window of 0 and no watch
 * directories, and the rows of their tables.  Each benchmark is one
 * file, so these are static, and inline so that one that uses only some
 * of them compiles without warnings.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The benchmark's name (for its messages), its temporary directory and
 * its daemon. */
static struct {
	const char *name;
	char tmp[256];
	pid_t daemon;
} bench = { "bench", "", -1 };

/* Returns the monotonic clock in ms. */
static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sleeps ms milliseconds. */
static inline void
bench_sleep(double ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1e3);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1e3) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static inline void bench_die(const char *, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

/* Reports a fatal error, stops the daemon, keeps the temporary directory
 * for its log, and exits; what the benchmark forked dies with it. */
static inline void
bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench.name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (bench.daemon > 0) {
		kill(bench.daemon, SIGTERM);
		waitpid(bench.daemon, NULL, 0);
	}
	if (bench.tmp[0] != '\0')
		fprintf(stderr, "%s: the daemon's log is %s/reloaderd.log\n",
		    bench.name, bench.tmp);
	exit(1);
}

/* Starts reloaderd with a settle window of 0 and no watch directories,
 * its log in the temporary directory, and waits (timeout_ms at most) for
 * its socket. */
static inline void
bench_daemon_start(const char *reloaderd, const char *sock, double timeout_ms)
{
	char conf[PATH_MAX], log[PATH_MAX];
	struct stat st;
	double deadline;
	FILE *fp;
	int fd;

	snprintf(conf, sizeof(conf), "%s/reloader.conf", bench.tmp);
	snprintf(log, sizeof(log), "%s/reloaderd.log", bench.tmp);
	if ((fp = fopen(conf, "w")) == NULL)
		bench_die("%s: %s", conf, strerror(errno));
	fprintf(fp, "[reloaderd]\nsettle = 0\n");
	if (fclose(fp) == EOF)
		bench_die("%s: %s", conf, strerror(errno));
	if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		bench_die("%s: %s", log, strerror(errno));
	switch ((bench.daemon = fork())) {
	case -1:
		bench_die("fork: %s", strerror(errno));
	case 0:
		/* Dies with the benchmark, however that ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execl(reloaderd, "reloaderd", "-f", "-s", sock, "-c", conf,
		    (char *)NULL);
		fprintf(stderr, "%s: %s: %s\n", bench.name, reloaderd,
		    strerror(errno));
		_exit(127);
	}
	close(fd);
	deadline = bench_now() + timeout_ms;
	while (stat(sock, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		if (waitpid(bench.daemon, NULL, WNOHANG) == bench.daemon) {
			bench.daemon = -1;
			bench_die("%s exited at start", reloaderd);
		}
		if (bench_now() > deadline)
			bench_die("%s did not create %s", reloaderd, sock);
		bench_sleep(1);
	}
}

/* Orders doubles, for qsort. */
static inline int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Returns the q-quantile of n sorted values (nearest rank). */
static inline double
bench_quantile(const double *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);

	return v[i == 0 ? 0 : (i > n ? n : i) - 1];
}

/* Prints one row of a table, its name width wide: p50, p90, p99 (nearest
 * rank), mean and max of n values, which it sorts; returns the p50. */
static inline double
bench_row(const char *name, int width, double *v, size_t n)
{
	double sum = 0, p50;
	size_t i;

	qsort(v, n, sizeof(*v), bench_cmp);
	for (i = 0; i < n; i++)
		sum += v[i];
	p50 = bench_quantile(v, n, 0.50);
	printf("| %-*s | %7.3f | %7.3f | %7.3f | %7.3f | %7.3f |\n", width,
	    name, p50, bench_quantile(v, n, 0.90),
	    bench_quantile(v, n, 0.99), sum / (double)n, v[n - 1]);
	return p50;
}

/* Removes one entry of the temporary directory, for nftw. */
static inline int
bench_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) == -1)
		fprintf(stderr, "%s: remove %s: %s\n", bench.name, path,
		    strerror(errno));
	return 0;
}

#endif
