/*
 * set.c: module sets, the modules that appear in and leave a directory
 * (docs/PROTOCOL.md, "Module sets").
 *
 * A client asks to hear of the files a glob selects in one directory: the
 * daemon watches that directory (the tree selects those files as if a
 * root's globs did), says "set-added" for each complete module there and
 * each that appears, and "set-removed" for each that stays gone past the
 * grace period.  While reloads are held for the client its notices wait
 * for the release, and a removal and a return of the same file cancel
 * out: `make clean && make` under `reloaderctl build` removes nothing.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "reloaderd.h"

/* A notice held back while reloads are held for the set's client. */
struct set_notice {
	struct set_notice *next;
	int added;                       /* set-added, else set-removed */
	char *path;
	char *module;
	struct stamp stamp;
};

/* One client's module set. */
struct set {
	struct set *next;
	struct client *c;
	char *name;
	char *dir;                       /* absolute, symlinks resolved */
	char *pattern;
	struct root *root;               /* implicit root kept, or NULL */
	struct set_notice *held;         /* waiting for the release */
};

static struct set *sets;

/* Says whether some set selects the file at path, so that the tree
 * watches it even where no glob of its root does. */
int
set_selects(const char *path)
{
	const struct set *s;
	const char *slash = strrchr(path, '/');
	size_t dlen;

	if (sets == NULL || slash == NULL)
		return 0;
	dlen = slash == path ? 1 : (size_t)(slash - path);
	for (s = sets; s != NULL; s = s->next)
		if (strlen(s->dir) == dlen && strncmp(s->dir, path, dlen) == 0 &&
		    fnmatch(s->pattern, slash + 1, 0) == 0)
			return 1;
	return 0;
}

/* Sends a set notice to its client now. */
static void
set_send(struct set *s, int added, const char *path, const char *module,
    const struct stamp *st)
{
	char buf[PROTO_MAX_LINE], stamp[PROTO_STAMP_MAX];
	struct proto_out o;

	proto_start(&o, buf, sizeof(buf), added ? "set-added" : "set-removed");
	proto_add(&o, "set", s->name);
	proto_add(&o, "path", path);
	proto_add(&o, "module", module);
	if (added) {
		proto_stamp_format(st, stamp, sizeof(stamp));
		proto_add(&o, "stamp", stamp);
	}
	client_send(s->c, &o);
}

/* Frees a held notice. */
static void
set_notice_free(struct set_notice *n)
{
	free(n->path);
	free(n->module);
	free(n);
}

/* Tells a set's client of a file that appeared or left; while reloads
 * are held for it, keeps the notice, and a removal and a return of the
 * same file cancel each other. */
static void
set_notify(struct set *s, int added, const char *path, const char *module,
    const struct stamp *st)
{
	struct set_notice *n, **pp;

	if (s->c->dead)
		return;
	if (!client_held(s->c)) {
		set_send(s, added, path, module, st);
		return;
	}
	for (pp = &s->held; (n = *pp) != NULL; pp = &n->next)
		if (n->added != added && strcmp(n->path, path) == 0) {
			*pp = n->next;
			set_notice_free(n);
			return;
		}
	if ((n = calloc(1, sizeof(*n))) == NULL ||
	    (n->path = strdup(path)) == NULL ||
	    (n->module = strdup(module)) == NULL)
		fatal("set_notify");
	n->added = added;
	if (st != NULL)
		n->stamp = *st;
	for (pp = &s->held; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = n;
}

/* Sends the notices held for client c, once reloads are not held for it
 * any more. */
void
set_flush(struct client *c)
{
	struct set *s;
	struct set_notice *n;

	for (s = sets; s != NULL; s = s->next) {
		if (s->c != c || s->held == NULL || client_held(c))
			continue;
		while ((n = s->held) != NULL) {
			s->held = n->next;
			set_send(s, n->added, n->path, n->module, &n->stamp);
			set_notice_free(n);
		}
	}
}

/* Says whether set s selects the file at path. */
static int
set_has(const struct set *s, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen;

	if (slash == NULL)
		return 0;
	dlen = slash == path ? 1 : (size_t)(slash - path);
	return strlen(s->dir) == dlen && strncmp(s->dir, path, dlen) == 0 &&
	    fnmatch(s->pattern, slash + 1, 0) == 0;
}

/* Tells the sets that select it that a module file appeared (complete:
 * its first stamp was just read). */
void
set_file_added(const struct file *f)
{
	char name[STAMP_MODULE_MAX];
	struct stamp st;
	struct set *s;

	if (sets == NULL || file_stamp(f, &st) == -1)
		return;
	file_module_name(f, name, sizeof(name));
	for (s = sets; s != NULL; s = s->next)
		if (set_has(s, file_path(f)) &&
		    cred_sight(&s->c->cred, file_path(f)) == CRED_SEES)
			set_notify(s, 1, file_path(f), name, &st);
}

/* Tells the sets that select it that a module file stayed gone. */
void
set_file_removed(const struct file *f)
{
	char name[STAMP_MODULE_MAX];
	struct set *s;

	if (sets == NULL)
		return;
	file_module_name(f, name, sizeof(name));
	for (s = sets; s != NULL; s = s->next)
		if (set_has(s, file_path(f)))
			set_notify(s, 0, file_path(f), name, NULL);
}

/* Finds client c's set called name. */
static struct set *
set_find(const struct client *c, const char *name)
{
	struct set *s;

	for (s = sets; s != NULL; s = s->next)
		if (s->c == c && strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* Ends a set: its files that nothing else selects are not watched any
 * more, nor is its directory if only it needed it. */
static void
set_free(struct set *s)
{
	struct set **pp;
	struct set_notice *n;
	struct stat sb;
	struct dir *d;
	struct file *f, *next;

	for (pp = &sets; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	if (stat(s->dir, &sb) == 0 &&
	    (d = dir_by_ino(sb.st_dev, sb.st_ino)) != NULL)
		for (f = d->files; f != NULL; f = next) {
			next = f->dnext;
			if (!root_matches(file_root(f), file_path(f)))
				tree_untrack(file_path(f));
		}
	tree_list_unwatch(s->root);
	while ((n = s->held) != NULL) {
		s->held = n->next;
		set_notice_free(n);
	}
	free(s->name);
	free(s->dir);
	free(s->pattern);
	free(s);
}

/* Ends every set of a client that goes away. */
void
set_forget(struct client *c)
{
	struct set *s, *next;

	for (s = sets; s != NULL; s = next) {
		next = s->next;
		if (s->c == c)
			set_free(s);
	}
}

/* Handles "watch-set set=S dir=D pattern=P": watches D for the modules P
 * selects, answers "set", and tells of each complete one there now. */
int
set_watch(struct client *c, struct proto_msg *m)
{
	const char *name = proto_get(m, "set"), *dir = proto_get(m, "dir");
	const char *pattern = proto_get(m, "pattern");
	char buf[PROTO_MAX_LINE], real[PATH_MAX];
	char err[PATH_MAX + 128];
	struct proto_out o;
	struct stat sb;
	struct dir *d;
	struct file *f;
	struct set *s;

	if (name == NULL || dir == NULL || pattern == NULL) {
		client_error(c, "missing-field", "watch-set needs set=, dir= "
		    "and pattern=");
		return -1;
	}
	if (*name == '\0' || strlen(name) > 64 || *pattern == '\0' ||
	    strchr(pattern, '/') != NULL || dir[0] != '/') {
		client_error(c, "bad-field", "watch-set: set must be 1 to 64 "
		    "bytes, dir absolute, pattern a glob on file names (no /)");
		return -1;
	}
	if (cred_can_search(&c->cred, dir, real, sizeof(real), err,
	    sizeof(err)) == -1) {
		client_error(c, errno == EACCES ? "denied" : "no-such-file",
		    "%s", err);
		return -1;
	}
	if ((s = set_find(c, name)) != NULL)
		set_free(s);
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->name = strdup(name)) == NULL ||
	    (s->dir = strdup(real)) == NULL ||
	    (s->pattern = strdup(pattern)) == NULL)
		fatal("set_watch");
	s->c = c;
	s->next = sets;
	sets = s;
	/* Its directory watched, every entry listed. */
	s->root = tree_list_watch(real);
	log_info("%s watches %s for %s (set %s)", c->label, log_esc(real),
	    log_esc(pattern), log_esc(name));
	proto_start(&o, buf, sizeof(buf), "set");
	proto_add(&o, "set", name);
	proto_add(&o, "dir", real);
	proto_add(&o, "pattern", pattern);
	if (client_send(c, &o) == -1)
		return 0;
	/* What is there now: the modules known are told of at once, those
	 * not read yet once they are. */
	if (stat(real, &sb) == 0 &&
	    (d = dir_by_ino(sb.st_dev, sb.st_ino)) != NULL) {
		dir_scan(d, 1, 0);
		for (f = d->files; f != NULL; f = f->dnext)
			if (f->state == FILE_OK && set_has(s, file_path(f)))
				set_file_added(f);
	}
	return 0;
}

/* Handles "unwatch-set set=S". */
int
set_unwatch(struct client *c, struct proto_msg *m)
{
	const char *name = proto_get(m, "set");
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct set *s;

	if (name == NULL) {
		client_error(c, "missing-field", "unwatch-set needs set=");
		return -1;
	}
	if ((s = set_find(c, name)) == NULL) {
		client_error(c, "not-registered", "%s has no set \"%s\"",
		    c->label, name);
		return -1;
	}
	set_free(s);
	proto_start(&o, buf, sizeof(buf), "unwatched-set");
	proto_add(&o, "set", name);
	client_send(c, &o);
	return 0;
}
