/*
 * statloop.c: the floor of a poll cycle: a bare fstatat(dirfd, name) loop
 * over the same files reloaderd polls, timed in the same run.
 *
 *	statloop [-r rounds] [-g gap_ms] DIR
 *
 * Lists DIR once, keeping every directory and every file named *.so (the
 * default globs' modules; the benchmark trees hold no .beam), then runs
 * rounds cycles: each opens every directory with O_PATH relative to its
 * parent's descriptor and fstatat(2)s each kept file relative to it, with
 * gap_ms between cycles (0 by default), as a poller's interval leaves
 * them: the caches a cycle finds are those a poll cycle finds.  It prints
 * the median CPU time of a cycle (user and system, getrusage(2)), in ms,
 * and how many files and directories a cycle looks at.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A directory with its modules and subdirectories. */
struct sdir {
	char *name;
	char **files;
	size_t nfiles;
	struct sdir **subs;
	size_t nsubs;
};

static size_t total_files, total_dirs;

/* Lists a directory, recursively, keeping its *.so files. */
static struct sdir *
statloop_list(int pfd, const char *name)
{
	struct sdir *d = calloc(1, sizeof(*d));
	struct dirent *de;
	DIR *dp;
	int fd;

	d->name = strdup(name);
	total_dirs++;
	if ((fd = openat(pfd, name, O_RDONLY | O_DIRECTORY)) == -1 ||
	    (dp = fdopendir(fd)) == NULL)
		return d;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type == DT_DIR) {
			d->subs = realloc(d->subs, (d->nsubs + 1) *
			    sizeof(*d->subs));
			d->subs[d->nsubs++] = statloop_list(dirfd(dp),
			    de->d_name);
		} else if (fnmatch("*.so", de->d_name, 0) == 0) {
			d->files = realloc(d->files, (d->nfiles + 1) *
			    sizeof(*d->files));
			d->files[d->nfiles++] = strdup(de->d_name);
			total_files++;
		}
	}
	closedir(dp);
	return d;
}

/* One cycle over a directory and what is below it. */
static void
statloop_cycle(int pfd, const struct sdir *d)
{
	struct stat sb;
	size_t i;
	int fd;

	if ((fd = openat(pfd, d->name, O_PATH | O_DIRECTORY)) == -1)
		return;
	for (i = 0; i < d->nfiles; i++)
		fstatat(fd, d->files[i], &sb, 0);
	for (i = 0; i < d->nsubs; i++)
		statloop_cycle(fd, d->subs[i]);
	close(fd);
}

/* CPU seconds this process has used. */
static double
statloop_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Compares doubles, for qsort. */
static int
statloop_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct sdir *top;
	double *v, c0;
	int ch, rounds = 9, i, gap = 0;

	while ((ch = getopt(argc, argv, "g:r:")) != -1) {
		if (ch == 'g')
			gap = atoi(optarg);
		else if (ch == 'r')
			rounds = atoi(optarg);
		else {
			fprintf(stderr, "usage: statloop [-r rounds] "
			    "[-g gap_ms] DIR\n");
			return 2;
		}
	}
	if (optind != argc - 1 || rounds < 1 || gap < 0) {
		fprintf(stderr, "usage: statloop [-r rounds] [-g gap_ms] DIR\n");
		return 2;
	}
	top = statloop_list(AT_FDCWD, argv[optind]);
	v = calloc((size_t)rounds, sizeof(*v));
	statloop_cycle(AT_FDCWD, top);          /* warm */
	for (i = 0; i < rounds; i++) {
		if (gap > 0)
			usleep((useconds_t)gap * 1000);
		c0 = statloop_cpu();
		statloop_cycle(AT_FDCWD, top);
		v[i] = (statloop_cpu() - c0) * 1e3;
	}
	qsort(v, (size_t)rounds, sizeof(*v), statloop_cmp);
	printf("%.2f %zu %zu\n", v[rounds / 2], total_files, total_dirs);
	return 0;
}
