/*
 * watch.c: the parts of "build --watch" that need neither the daemon nor
 * a child: a --watch pattern split into the directory the daemon watches
 * and the glob it matches there, and the queue that turns the saves that
 * arrive while a build runs into exactly one more build after it
 * (watchexec's on-busy-update).
 *
 * The watching itself is the daemon's (watch-sources, docs/PROTOCOL.md):
 * reloaderctl never reads a directory or matches a name.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Says whether a path component holds a character that globs. */
static int
watch_globs(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (strchr("*?[\\", s[i]) != NULL)
			return 1;
	return 0;
}

/*
 * Splits a pattern at the end of its longest fixed directory prefix:
 * returns that prefix's length (0 for none, 1 for the root) and points
 * *match at the rest, from the first component that globs, or at NULL
 * when none does.  "*.c" is "" and "*.c"; "src/" is "src" and NULL; "src"
 * followed by "**", a slash and "*.c" is "src" and the rest.
 */
size_t
watch_split(const char *glob, const char **match)
{
	const char *p = glob, *slash;
	size_t fixed = 0, len;

	*match = NULL;
	for (;;) {
		while (*p == '/')
			p++;
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (watch_globs(p, len)) {
			*match = p;
			/* The root keeps its slash; any other prefix loses
			 * the ones that end it. */
			if (fixed == 0 && *glob == '/')
				fixed = 1;
			return fixed;
		}
		if (slash == NULL)
			break;
		fixed = (size_t)(slash - glob);
		p = slash;
	}
	len = strlen(glob);
	while (len > 1 && glob[len - 1] == '/')
		len--;
	return len;
}

/*
 * Resolves a --watch pattern into s: the absolute, symlink-free
 * directory, and the glob relative to it (NULL: every file).  A pattern
 * with no glob names a directory, or a file (watched as its directory
 * and its name).  Returns 0, or -1 with err naming what is wrong.
 */
int
watch_resolve(struct watch_spec *s, const char *glob, char *err,
    size_t errlen)
{
	char prefix[PATH_MAX], real[PATH_MAX], *name;
	const char *match, *dir;
	struct stat sb;
	size_t n;

	memset(s, 0, sizeof(*s));
	s->pattern = glob;
	if (*glob == '\0') {
		snprintf(err, errlen, "--watch: the pattern is empty");
		return -1;
	}
	n = watch_split(glob, &match);
	if (n >= sizeof(prefix)) {
		snprintf(err, errlen, "--watch %s: the directory is longer "
		    "than %zu bytes", glob, sizeof(prefix) - 1);
		return -1;
	}
	memcpy(prefix, n > 0 ? glob : ".", n > 0 ? n : 1);
	prefix[n > 0 ? n : 1] = '\0';
	if (realpath(prefix, real) == NULL || stat(real, &sb) == -1) {
		snprintf(err, errlen, "--watch %s: %s: %s", glob, prefix,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode) && match != NULL) {
		snprintf(err, errlen, "--watch %s: %s: not a directory", glob,
		    prefix);
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		/* A file: its directory, and its own name as the glob. */
		dir = ".";
		match = glob;
		if ((name = strrchr(prefix, '/')) != NULL) {
			match = glob + (name + 1 - prefix);
			dir = name == prefix ? "/" : prefix;
			*name = '\0';
		}
		if (realpath(dir, real) == NULL) {
			snprintf(err, errlen, "--watch %s: %s: %s", glob, dir,
			    strerror(errno));
			return -1;
		}
	}
	if ((s->dir = strdup(real)) == NULL || (match != NULL &&
	    (s->match = strdup(match)) == NULL))
		ctl_die(EX_OSERR, "out of memory");
	return 0;
}

/* Frees what a resolved pattern holds. */
void
watch_spec_free(struct watch_spec *s)
{
	free(s->dir);
	free(s->match);
	memset(s, 0, sizeof(*s));
}

/* Notes that path changed (what: changed, created or removed); a path
 * already noted since the last build began counts once, with its last
 * word. */
void
watch_change(struct watch_queue *q, const char *path, const char *what)
{
	char **p;
	size_t i;

	for (i = 0; i < q->npaths; i++)
		if (strcmp(q->paths[i], path) == 0)
			break;
	if (i == q->npaths) {
		if ((p = reallocarray(q->paths, q->npaths + 1,
		    sizeof(*p))) == NULL ||
		    (p[q->npaths] = strdup(path)) == NULL)
			ctl_die(EX_OSERR, "out of memory");
		q->paths = p;
		q->npaths++;
	}
	snprintf(q->what, sizeof(q->what), "%s", what != NULL &&
	    *what != '\0' ? what : "changed");
}

/* Forgets the changes noted. */
static void
watch_clear(struct watch_queue *q)
{
	size_t i;

	for (i = 0; i < q->npaths; i++)
		free(q->paths[i]);
	free(q->paths);
	q->paths = NULL;
	q->npaths = 0;
}

/*
 * Starts the next build if one is due: none runs and something changed
 * since the last one began.  Then every change noted so far goes into
 * that one build, why says which ("src/a.c changed", "3 files changed"),
 * and 1 is returned; else 0.
 */
int
watch_start(struct watch_queue *q, char *why, size_t len)
{
	if (q->busy || q->npaths == 0)
		return 0;
	if (q->npaths == 1)
		snprintf(why, len, "%s %s", out_path(q->paths[0]), q->what);
	else
		snprintf(why, len, "%zu files changed", q->npaths);
	watch_clear(q);
	q->busy = 1;
	return 1;
}

/* Notes that the build has ended, its results printed. */
void
watch_done(struct watch_queue *q)
{
	q->busy = 0;
}

/* Frees what the queue holds. */
void
watch_free(struct watch_queue *q)
{
	watch_clear(q);
	q->busy = 0;
}
