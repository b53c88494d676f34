/*
 * cred.c: who is on the other end of a client connection, and what that
 * peer may read.
 *
 * The kernel tells the peer's uid, gid and groups (SO_PEERCRED and
 * SO_PEERGROUPS on Linux; getpeereid(3) on the BSDs).  A client may attach
 * when it runs as the daemon's own user or is a member of the configured
 * group, and the daemon tells it the stamp of a file only when the
 * permission bits would let it read that file itself.  ACLs are not
 * consulted: they can only narrow this for the daemon's own user, and a
 * group given access by ACL alone is refused (safe side).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"

/* Reads the credentials of the peer of a connected Unix socket. */
int
cred_peer(int fd, struct cred *c)
{
	memset(c, 0, sizeof(*c));
#ifdef SO_PEERCRED
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->pid = uc.pid;
#ifdef SO_PEERGROUPS
	{
		gid_t *g = NULL;
		socklen_t glen = 64 * sizeof(gid_t);

		for (;;) {
			gid_t *ng = realloc(g, glen);

			if (ng == NULL) {
				free(g);
				return -1;
			}
			g = ng;
			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g,
			    &glen) == 0)
				break;
			if (errno != ERANGE) {
				/* An old kernel: only the primary group. */
				glen = 0;
				break;
			}
		}
		c->groups = g;
		c->ngroups = (int)(glen / sizeof(gid_t));
	}
#endif
#else
	if (getpeereid(fd, &c->uid, &c->gid) == -1)
		return -1;
	c->pid = -1;
#endif
	return 0;
}

/* Frees what a cred owns. */
void
cred_free(struct cred *c)
{
	free(c->groups);
	c->groups = NULL;
	c->ngroups = 0;
}

/* Says whether the peer is a member of group g. */
static int
cred_in_group(const struct cred *c, gid_t g)
{
	int i;

	if (c->gid == g)
		return 1;
	for (i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return 1;
	return 0;
}

/* Says whether a peer may attach: the daemon's own user, or a member of
 * the configured group. */
int
cred_allowed(const struct cred *c)
{
	if (c->uid == geteuid())
		return 1;
	return rd->has_group && cred_in_group(c, rd->group);
}

/* Says whether the permission bits of sb grant the peer every access in
 * want (R_OK, X_OK). */
int
cred_may(const struct cred *c, const struct stat *sb, int want)
{
	mode_t bits;

	if (c->uid == 0)
		return !(want & X_OK) || S_ISDIR(sb->st_mode) ||
		    (sb->st_mode & 0111) != 0;
	if (sb->st_uid == c->uid)
		bits = (sb->st_mode >> 6) & 7;
	else if (cred_in_group(c, sb->st_gid))
		bits = (sb->st_mode >> 3) & 7;
	else
		bits = sb->st_mode & 7;
	return (bits & (mode_t)want) == (mode_t)want;
}

/*
 * Checks that the peer could read the file at an absolute path itself:
 * search permission on every directory on the way, those that symlinks
 * lead through included, and read permission on the file.  Returns 0; or
 * -1 with errno ENOENT (a component is missing, and the peer could have
 * seen that), EACCES (it could not), ENOTDIR or EINVAL (not a regular
 * file), and a message.
 */
int
cred_can_read(const struct cred *c, const char *path, char *err,
    size_t errlen)
{
	struct path_res res;
	int rc, e;

	rc = path_resolve(path, c, &res);
	e = res.err;
	if (rc == -1)
		snprintf(err, errlen, "%s", res.msg);
	path_res_free(&res);
	errno = e;
	return rc;
}

/* Resolves the configured admin-group, if any; -1 with a message. */
int
cred_resolve_admin(char *err, size_t errlen)
{
	struct group *gr;
	char *end;
	unsigned long n;

	rd->has_admin_group = 0;
	if (rd->conf.admin_group == NULL)
		return 0;
	if ((gr = getgrnam(rd->conf.admin_group)) != NULL)
		rd->admin_group = gr->gr_gid;
	else {
		errno = 0;
		n = strtoul(rd->conf.admin_group, &end, 10);
		if (*rd->conf.admin_group == '\0' || *end != '\0' ||
		    errno != 0) {
			snprintf(err, errlen, "admin-group \"%s\": no such "
			    "group", rd->conf.admin_group);
			return -1;
		}
		rd->admin_group = (gid_t)n;
	}
	rd->has_admin_group = 1;
	return 0;
}

/* Says whether a peer may steer every client (force reloads, roll back,
 * hold for everyone): the daemon's own user, root, or a member of the
 * configured admin-group.  Others steer their own uid's clients only. */
int
cred_admin(const struct cred *c)
{
	return c->uid == 0 || c->uid == geteuid() ||
	    (rd->has_admin_group && cred_in_group(c, rd->admin_group));
}

/* Says what a peer may be told about the file at path: everything if it
 * could read it itself (the daemon's own user always), its path but no
 * stamp if it may reach the file but not read it, nothing if a directory
 * on the way is shut to it. */
enum cred_sight
cred_sight(const struct cred *c, const char *path)
{
	struct path_res res;
	enum cred_sight s = CRED_SEES;

	if (c->uid == geteuid())
		return CRED_SEES;
	if (path_resolve(path, c, &res) == -1 && res.err == EACCES)
		s = res.denied == 1 ? CRED_BLIND : CRED_SEES_PATH;
	path_res_free(&res);
	return s;
}

/*
 * Checks that the peer may search the directory at an absolute path (and
 * every one on the way), following symlinks; fills in real with where it
 * leads.  Returns 0; or -1 with errno and a message.
 */
int
cred_can_search(const struct cred *c, const char *dir, char *real,
    size_t rlen, char *err, size_t errlen)
{
	struct path_res res;
	struct stat sb;
	int rc = -1, e;

	/* A directory is no regular file: resolution ends there with
	 * EINVAL, having checked the way to it. */
	if (path_resolve(dir, c, &res) == 0 || res.err != EINVAL ||
	    stat(res.real, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		e = res.err ? res.err : ENOTDIR;
		snprintf(err, errlen, "%s", res.err && res.err != EINVAL ?
		    res.msg : "not a directory");
	} else if (!cred_may(c, &sb, X_OK)) {
		e = EACCES;
		snprintf(err, errlen, "uid %lu may not search %s",
		    (unsigned long)c->uid, res.real);
	} else {
		snprintf(real, rlen, "%s", res.real);
		e = 0;
		rc = 0;
	}
	path_res_free(&res);
	errno = e;
	return rc;
}
