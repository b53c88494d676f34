/*
 * wanted.c: the paths clients have loaded modules from, the files they
 * lead to, and the symlinks on the way.
 *
 * A registration's identity is the path its client named.  That path is
 * resolved to a file (its target), which the tree watches like any
 * other, and every symlink the resolution went through (and the first
 * name found missing) is a site: its directory is watched too, and any
 * event on a site's name, or a site found different by the poller,
 * resolves the path again.  So a link switched to another build is a
 * change of every path that goes through it, a link switched to an
 * identical build changes nothing, and a change of the target's contents
 * is seen through the target.  Several paths may lead to one target.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "reloaderd.h"

/* Hashes a wanted path by its path. */
static uint64_t
wpath_hash(const void *n)
{
	return hash_str(((const struct wpath *)n)->path);
}

/* Hashes a target by its path. */
static uint64_t
wtarget_hash(const void *n)
{
	return hash_str(((const struct wtarget *)n)->path);
}

/* Hashes a site by its path. */
static uint64_t
wsite_hash(const void *n)
{
	return hash_str(((const struct wsite *)n)->path);
}

/* Sets up the empty tables. */
void
wanted_init(void)
{
	htab_init(&rd->wanted, offsetof(struct wpath, hnext), wpath_hash);
	htab_init(&rd->targets, offsetof(struct wtarget, hnext),
	    wtarget_hash);
	htab_init(&rd->sites, offsetof(struct wsite, hnext), wsite_hash);
	rd->linked = NULL;
	rd->requeue = NULL;
}

/* Frees the tables, at shutdown, once every registration is gone. */
void
wanted_free(void)
{
	htab_free(&rd->wanted);
	htab_free(&rd->targets);
	htab_free(&rd->sites);
}

/* Writes path into buf with "//", "/./" and a trailing "/" taken out;
 * ".." stays, since only a resolution can say where it leads. */
void
wanted_clean(const char *path, char *buf, size_t len)
{
	size_t o = 0;
	const char *p = path;

	while (*p != '\0' && o + 1 < len) {
		if (*p == '/' && (p[1] == '/' || (p[1] == '.' &&
		    (p[2] == '/' || p[2] == '\0')))) {
			p += p[1] == '/' ? 1 : 2;
			continue;
		}
		buf[o++] = *p++;
	}
	while (o > 1 && buf[o - 1] == '/')
		o--;
	if (o == 0)
		buf[o++] = '/';
	buf[o] = '\0';
}

/* Finds the wanted path entry for a cleaned path. */
struct wpath *
wanted_lookup(const char *path)
{
	struct wpath *wp;

	wp = htab_first(&rd->wanted, hash_str(path));
	for (; wp != NULL; wp = htab_next(&rd->wanted, wp))
		if (strcmp(wp->path, path) == 0)
			return wp;
	return NULL;
}

/* Finds the target entry for a file's path. */
static struct wtarget *
wanted_target(const char *path)
{
	struct wtarget *t;

	t = htab_first(&rd->targets, hash_str(path));
	for (; t != NULL; t = htab_next(&rd->targets, t))
		if (strcmp(t->path, path) == 0)
			return t;
	return NULL;
}

/* Says whether some registered path leads to the file at path, so that
 * the tree selects it even where no glob does. */
int
wanted_file(const char *path)
{
	return rd->targets.count > 0 && wanted_target(path) != NULL;
}

/* Returns the target entry for path, making it if new. */
static struct wtarget *
wanted_target_get(const char *path)
{
	struct wtarget *t;
	size_t n;

	if ((t = wanted_target(path)) != NULL)
		return t;
	n = strlen(path);
	if ((t = calloc(1, sizeof(*t) + n + 1)) == NULL)
		fatal("wanted_target_get");
	memcpy(t->path, path, n + 1);
	htab_insert(&rd->targets, t);
	return t;
}

/* Drops a target no path leads to any more, and stops watching its file
 * unless the configuration selects it. */
static void
wanted_target_put(struct wtarget *t)
{
	if (t == NULL || t->paths != NULL)
		return;
	htab_remove(&rd->targets, t);
	tree_untrack(t->path);
	free(t);
}

/* Moves a wanted path to another target (NULL: none). */
static void
wanted_retarget(struct wpath *wp, struct wtarget *t)
{
	struct wtarget *old = wp->target;
	struct wpath **pp;

	if (old == t)
		return;
	if (old != NULL) {
		for (pp = &old->paths; *pp != NULL; pp = &(*pp)->tnext)
			if (*pp == wp) {
				*pp = wp->tnext;
				break;
			}
	}
	wp->tnext = NULL;
	wp->target = t;
	if (t != NULL) {
		wp->tnext = t->paths;
		t->paths = wp;
	}
	wanted_target_put(old);
}

/* Notes what is at a site now: its inode and change time, or nothing. */
static void
wanted_site_note(struct wsite *s, const struct stat *sb)
{
	if (sb == NULL) {
		s->dev = 0;
		s->ino = 0;
		memset(&s->ctime, 0, sizeof(s->ctime));
		return;
	}
	s->dev = sb->st_dev;
	s->ino = sb->st_ino;
	s->ctime = sb->st_ctim;
}

/* Makes a site for a wanted path and watches its directory. */
static struct wsite *
wanted_site_new(struct wpath *wp, const char *path)
{
	struct wsite *s;
	struct stat sb;
	size_t n = strlen(path);

	if ((s = calloc(1, sizeof(*s) + n + 1)) == NULL)
		fatal("wanted_site_new");
	memcpy(s->path, path, n + 1);
	s->wp = wp;
	wanted_site_note(s, lstat(path, &sb) == 0 ? &sb : NULL);
	s->root = tree_site_watch(path);
	htab_insert(&rd->sites, s);
	return s;
}

/* Frees a site, and lets its directory go if nothing else keeps it. */
static void
wanted_site_free(struct wsite *s)
{
	htab_remove(&rd->sites, s);
	tree_site_unwatch(s->root);
	free(s);
}

/* Frees a list of sites. */
static void
wanted_sites_free(struct wsite *s)
{
	struct wsite *next;

	for (; s != NULL; s = next) {
		next = s->next;
		wanted_site_free(s);
	}
}

/* Keeps rd->linked to the wanted paths that have sites. */
static void
wanted_link(struct wpath *wp)
{
	int in = wp->lprev != NULL;

	if (wp->sites != NULL && !in) {
		wp->lnext = rd->linked;
		if (rd->linked != NULL)
			rd->linked->lprev = &wp->lnext;
		rd->linked = wp;
		wp->lprev = &rd->linked;
	} else if (wp->sites == NULL && in) {
		*wp->lprev = wp->lnext;
		if (wp->lnext != NULL)
			wp->lnext->lprev = wp->lprev;
		wp->lnext = NULL;
		wp->lprev = NULL;
	}
}

/*
 * Resolves a wanted path (again) and watches what it leads through: the
 * target's file, and each site.  New watches are made before the old ones
 * are dropped, so that a directory both need is never let go in between.
 * Returns 1 if the path now leads to another file (or to none, or back).
 */
int
wanted_resolve(struct wpath *wp)
{
	struct path_res res;
	struct wsite *old = wp->sites, **tail;
	struct wtarget *t = NULL, *alias;
	struct file *f;
	size_t i;
	int changed;

	wp->err = 0;
	if (path_resolve(wp->path, NULL, &res) == -1)
		wp->err = res.err ? res.err : EINVAL;
	wp->sites = NULL;
	tail = &wp->sites;
	for (i = 0; i < res.nsites; i++) {
		*tail = wanted_site_new(wp, res.sites[i]);
		tail = &(*tail)->next;
	}
	if (wp->err == 0) {
		/* Wanted before it is tracked, so that a new watch selects
		 * it; under the name the tree knows its directory by. */
		t = wanted_target_get(res.real);
		if ((f = tree_track(res.real)) != NULL &&
		    strcmp(file_path(f), res.real) != 0) {
			alias = t;
			t = wanted_target_get(file_path(f));
			if (alias != wp->target && alias->paths == NULL) {
				htab_remove(&rd->targets, alias);
				free(alias);
			}
		}
	}
	changed = t != wp->target;
	wanted_retarget(wp, t);
	wanted_sites_free(old);
	wanted_link(wp);
	path_res_free(&res);
	return changed;
}

/* Returns the wanted path entry for a cleaned path, making and resolving
 * it if new. */
struct wpath *
wanted_get(const char *path)
{
	struct wpath *wp;
	size_t n;

	if ((wp = wanted_lookup(path)) != NULL)
		return wp;
	n = strlen(path);
	if ((wp = calloc(1, sizeof(*wp) + n + 1)) == NULL)
		fatal("wanted_get");
	memcpy(wp->path, path, n + 1);
	htab_insert(&rd->wanted, wp);
	wanted_resolve(wp);
	return wp;
}

/* Takes a wanted path out of the re-resolution queue. */
static void
wanted_unqueue(struct wpath *wp)
{
	struct wpath **pp;

	if (!wp->queued)
		return;
	for (pp = &rd->requeue; *pp != NULL; pp = &(*pp)->qnext)
		if (*pp == wp) {
			*pp = wp->qnext;
			break;
		}
	wp->queued = 0;
	wp->qnext = NULL;
}

/* Drops a wanted path no registration holds any more, and everything it
 * kept watched. */
void
wanted_put(struct wpath *wp)
{
	if (wp->regs != NULL)
		return;
	wanted_unqueue(wp);
	htab_remove(&rd->wanted, wp);
	wanted_retarget(wp, NULL);
	wanted_sites_free(wp->sites);
	wp->sites = NULL;
	wanted_link(wp);
	free(wp);
}

/* Gives the stamp of the module a wanted path leads to now, or NULL when
 * no complete module is there. */
const struct stamp *
wanted_disk(const struct wpath *wp, struct stamp *buf)
{
	struct file *f;

	if (wp->target == NULL ||
	    (f = file_lookup(wp->target->path)) == NULL ||
	    f->state != FILE_OK || file_stamp(f, buf) == -1)
		return NULL;
	return buf;
}

/* Reads the file a wanted path leads to again once the batch settles: a
 * client loaded another version from it than the one read. */
void
wanted_reread(const struct wpath *wp)
{
	struct file *f;

	if (wp->target != NULL &&
	    (f = file_lookup(wp->target->path)) != NULL)
		batch_queue(f);
}

/*
 * Says why a wanted path leads to no complete module now, as `list`
 * shows it: a condition name, and a reason that says what ends it.
 * Returns NULL when the module is there.
 */
const char *
wanted_condition(const struct wpath *wp, char *reason, size_t len)
{
	struct file *f;

	if (wp->target == NULL) {
		snprintf(reason, len, "%s; offered when it resolves again",
		    strerror(wp->err));
		return "missing";
	}
	if ((f = file_lookup(wp->target->path)) == NULL) {
		snprintf(reason, len, "%s is gone; offered when it returns",
		    wp->target->path);
		return "missing";
	}
	switch (f->state) {
	case FILE_OK:
		return NULL;
	case FILE_NEW:
		snprintf(reason, len, "not read yet");
		return "reading";
	case FILE_INCOMPLETE:
		snprintf(reason, len, "still being written; offered when it "
		    "is complete");
		return "incomplete";
	case FILE_BAD:
		if (f->outside) {
			snprintf(reason, len, "a symlink to a file outside "
			    "every configured root, not read "
			    "(follow-symlinks = no); read again when it "
			    "changes");
			return "unreadable";
		}
		if (f->err != 0) {
			snprintf(reason, len, "the daemon cannot read it: %s; "
			    "read again when it changes", strerror(f->err));
			return "unreadable";
		}
		snprintf(reason, len, "not a module the daemon can read; "
		    "read again when it changes");
		return "invalid";
	case FILE_RETRY:
		snprintf(reason, len, "could not be read (%s); trying again",
		    strerror(f->err));
		return "unreadable";
	case FILE_GONE:
		snprintf(reason, len, "vanished; offered when it returns");
		return "missing";
	}
	return NULL;
}

/* Queues a wanted path to be resolved again when the batch settles. */
static void
wanted_requeue(struct wpath *wp)
{
	if (wp->queued)
		return;
	wp->queued = 1;
	wp->qnext = rd->requeue;
	rd->requeue = wp;
	batch_arm();
}

/* Resolves again the paths that lead to the file at path, which has
 * become a symlink: they now go through it, as a site, to where it
 * leads, and the rules of path.c apply on the way. */
void
wanted_target_linked(const char *path)
{
	struct wtarget *t;
	struct wpath *wp;

	if ((t = wanted_target(path)) == NULL)
		return;
	for (wp = t->paths; wp != NULL; wp = wp->tnext)
		wanted_requeue(wp);
}

/* Acts on an event about path in a watched directory: the paths that
 * lead through it are resolved again. */
void
wanted_site_event(const char *path)
{
	struct wsite *s;

	if (rd->sites.count == 0)
		return;
	s = htab_first(&rd->sites, hash_str(path));
	for (; s != NULL; s = htab_next(&rd->sites, s))
		if (strcmp(s->path, path) == 0)
			wanted_requeue(s->wp);
}

/* Looks at every site with lstat, for directories that are polled (and
 * as a safety net for the others): one that changed resolves its path
 * again. */
void
wanted_poll_sites(void)
{
	struct wpath *wp;
	struct wsite *s;
	struct stat sb;
	int there;

	for (wp = rd->linked; wp != NULL; wp = wp->lnext) {
		for (s = wp->sites; s != NULL; s = s->next) {
			there = lstat(s->path, &sb) == 0;
			if (there != (s->ino != 0) || (there &&
			    (sb.st_dev != s->dev || sb.st_ino != s->ino ||
			    sb.st_ctim.tv_sec != s->ctime.tv_sec ||
			    sb.st_ctim.tv_nsec != s->ctime.tv_nsec))) {
				wanted_requeue(wp);
				break;
			}
		}
	}
}

/* Resolves every wanted path again, after watches were lost or the roots
 * changed. */
void
wanted_refresh(void)
{
	struct wpath *wp;
	size_t i;

	for (i = 0; i < rd->wanted.nbuckets; i++)
		for (wp = rd->wanted.buckets[i]; wp != NULL; wp = wp->hnext)
			wanted_requeue(wp);
}

/* Resolves again every wanted path that goes through a symlink, after a
 * directory came back or events were lost. */
void
wanted_refresh_linked(void)
{
	struct wpath *wp;

	for (wp = rd->linked; wp != NULL; wp = wp->lnext)
		wanted_requeue(wp);
}

/* Resolves again what is queued; each path that now leads elsewhere is
 * logged, and its registrations compare the new stamp.  Returns how
 * many did. */
size_t
wanted_run(void)
{
	struct wpath *wp;
	struct wtarget *was;
	char from[PATH_MAX];
	size_t n = 0;

	while ((wp = rd->requeue) != NULL) {
		rd->requeue = wp->qnext;
		wp->qnext = NULL;
		wp->queued = 0;
		was = wp->target;
		snprintf(from, sizeof(from), "%s", was ? was->path : "");
		if (!wanted_resolve(wp))
			continue;
		n++;
		log_about(wp->path);
		if (wp->target != NULL)
			log_info("%s now leads to %s%s%s%s", log_esc(wp->path),
			    log_esc(wp->target->path), *from ? " (was " : "",
			    *from ? log_esc(from) : "", *from ? ")" : "");
		else
			log_info("%s no longer leads to a file: %s",
			    log_esc(wp->path), strerror(wp->err));
		log_about(NULL);
		client_path_changed(wp, from);
	}
	return n;
}
