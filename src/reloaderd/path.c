/*
 * path.c: following a registered path to the file it names, one
 * component at a time, the way the kernel does.
 *
 * The daemon needs more than realpath(3) gives: every symlink on the way
 * (and the first name that is missing), since a change of any of them
 * sends the path to another file; and, for a peer, whether the peer
 * itself may search every directory on the way and read the file, so
 * that no peer learns about a file it could not read.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"

/* Symlinks followed at most, as the kernel's MAXSYMLINKS. */
#define PATH_MAX_LINKS 40

/* Remembers a site: a symlink, or a name found missing. */
static void
path_add_site(struct path_res *res, const char *site)
{
	char **ns;

	if ((ns = reallocarray(res->sites, res->nsites + 1,
	    sizeof(*ns))) == NULL)
		fatal("path_add_site");
	res->sites = ns;
	if ((ns[res->nsites] = strdup(site)) == NULL)
		fatal("path_add_site");
	res->nsites++;
}

/* Fails a resolution with errno e and a message. */
static int
path_fail(struct path_res *res, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
path_fail(struct path_res *res, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	res->err = e;
	if (e != EACCES)
		res->denied = 0;
	errno = e;
	return -1;
}

/* Drops the last component of a resolved path ("/" stays "/"). */
static void
path_up(char *real)
{
	char *slash = strrchr(real, '/');

	if (slash == NULL || slash == real)
		strcpy(real, "/");
	else
		*slash = '\0';
}

/*
 * Resolves an absolute path to the regular file it names.  res->real is
 * the result; res->sites the symlinks followed and, on ENOENT, the name
 * that is missing.  With a peer's credentials, each directory searched
 * must grant the peer search permission, and the file read permission.
 * Returns 0, or -1 with errno (and res->err) ENOENT, ENOTDIR, ELOOP,
 * EACCES (the peer may not), EINVAL (not a regular file) or
 * ENAMETOOLONG, and res->msg saying what.
 */
int
path_resolve(const char *given, const struct cred *c, struct path_res *res)
{
	char todo[PATH_MAX * 2], link[PATH_MAX], next[PATH_MAX * 2];
	char *real = res->real, *comp, *rest;
	struct stat sb, dsb;
	size_t len;
	ssize_t n;
	int links = 0;

	memset(res, 0, sizeof(*res));
	if (given[0] != '/')
		return path_fail(res, EINVAL, "%s: not an absolute path",
		    given);
	if (strlen(given) >= PATH_MAX)
		return path_fail(res, ENAMETOOLONG, "path too long");
	snprintf(todo, sizeof(todo), "%s", given);
	strcpy(real, "/");
	if (stat("/", &dsb) == -1)
		return path_fail(res, errno, "/: %s", strerror(errno));
	rest = todo;
	for (;;) {
		while (*rest == '/')
			rest++;
		if (*rest == '\0')
			break;
		comp = rest;
		if ((rest = strchr(comp, '/')) != NULL)
			*rest++ = '\0';
		else
			rest = comp + strlen(comp);
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			path_up(real);
			if (stat(real, &dsb) == -1)
				return path_fail(res, errno, "%s: %s", real,
				    strerror(errno));
			continue;
		}
		/* Looking a name up in real needs search permission. */
		if (c != NULL && !cred_may(c, &dsb, X_OK)) {
			res->denied = 1;
			return path_fail(res, EACCES, "uid %lu may not search "
			    "%s", (unsigned long)c->uid, real);
		}
		len = strlen(real);
		if (len + 1 + strlen(comp) >= PATH_MAX)
			return path_fail(res, ENAMETOOLONG, "path too long");
		if (len > 1)
			real[len++] = '/';
		strcpy(real + len, comp);
		if (lstat(real, &sb) == -1) {
			int e = errno;

			if (e == ENOENT)
				path_add_site(res, real);
			return path_fail(res, e, "%s: %s", real, strerror(e));
		}
		if (S_ISLNK(sb.st_mode)) {
			if (++links > PATH_MAX_LINKS)
				return path_fail(res, ELOOP, "%s: %s", given,
				    strerror(ELOOP));
			path_add_site(res, real);
			if ((n = readlink(real, link, sizeof(link) - 1)) == -1)
				return path_fail(res, errno, "%s: %s", real,
				    strerror(errno));
			link[n] = '\0';
			/* Go on with the link's text, then what was left. */
			if (snprintf(next, sizeof(next), "%s/%s", link,
			    rest) >= (int)sizeof(next))
				return path_fail(res, ENAMETOOLONG,
				    "path too long");
			snprintf(todo, sizeof(todo), "%s", next);
			rest = todo;
			if (link[0] == '/')
				strcpy(real, "/");
			else
				path_up(real);
			if (stat(real, &dsb) == -1)
				return path_fail(res, errno, "%s: %s", real,
				    strerror(errno));
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			dsb = sb;
			continue;
		}
		/* Anything else ends the path. */
		while (*rest == '/')
			rest++;
		if (*rest != '\0')
			return path_fail(res, ENOTDIR, "%s: %s", real,
			    strerror(ENOTDIR));
		if (!S_ISREG(sb.st_mode))
			return path_fail(res, EINVAL, "%s: not a regular file",
			    real);
		if (c != NULL && !cred_may(c, &sb, R_OK)) {
			res->denied = 2;
			return path_fail(res, EACCES, "uid %lu may not read "
			    "%s", (unsigned long)c->uid, real);
		}
		return 0;
	}
	return path_fail(res, EINVAL, "%s: not a regular file", real);
}

/* Frees what a resolution holds. */
void
path_res_free(struct path_res *res)
{
	size_t i;

	for (i = 0; i < res->nsites; i++)
		free(res->sites[i]);
	free(res->sites);
	res->sites = NULL;
	res->nsites = 0;
}
