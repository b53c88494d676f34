/*
 * set.c: module sets, the modules of a directory that match a pattern,
 * opened as they appear and closed as they go (docs/PROTOCOL.md, "Module
 * sets").
 *
 * The modules there when the set is opened are opened at once, like
 * reloader_open() does.  Later the daemon says "set-added" for each
 * module that appears: the library registers it with no version
 * ("none:"), which makes the daemon offer it at once, in a batch, so
 * that a new module goes in through the same prepare and commit as any
 * other (its init is reloader_code_change(NULL, NULL, &state)) and
 * switches on together with whatever else its build changed.  A module
 * whose first load fails stays so, registered with no version: the
 * daemon offers it again when its file changes.  "set-removed" closes a
 * module: the host hears RELOADER_EV_REMOVED, and the module is closed
 * once that callback returned and no call is inside it (module_reap).
 *
 * A module belongs to its set by m->set; within the set it is known by
 * its file name, since the daemon names the directory as it resolves it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libreloader.h"

/* Returns the last component of a path. */
static const char *
set_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* Finds the module of s whose file is named base, not one that left. */
static reloader_module_t *
set_member(reloader_set_t *s, const char *base)
{
	reloader_module_t *m;

	for (m = s->r->modules; m != NULL; m = m->next)
		if (m->set == s && !m->removing &&
		    strcmp(set_base(m->path), base) == 0)
			return m;
	return NULL;
}

/* Finds a set by its name in the protocol. */
static reloader_set_t *
set_find(reloader_t *r, const char *name)
{
	reloader_set_t *s;
	char id[32];

	for (s = r->sets; s != NULL; s = s->next) {
		snprintf(id, sizeof(id), "%lu", s->id);
		if (strcmp(id, name) == 0)
			return s;
	}
	return NULL;
}

/* Tells the host that a module of s could not be taken in: no handle,
 * its name, path and why. */
static void
set_refused(reloader_set_t *s, const char *name, const char *path,
    const char *why)
{
	struct reloader_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = RELOADER_EV_RELOAD;
	ev.set = s;
	ev.name = name;
	ev.path = path;
	ev.status = RELOADER_LOAD_FAILED;
	ev.stamp = "none:";
	ev.was = "none:";
	ev.reason = why;
	ev.failed = "load";
	reloader_queue(s->r, &ev);
}

/* Makes a module of s for its file base, named name, with no version
 * yet; NULL (the host told) if the name is taken or memory short. */
static reloader_module_t *
set_module(reloader_set_t *s, const char *base, const char *name)
{
	reloader_t *r = s->r;
	reloader_module_t *m, *other;
	char *path, why[RL_ERR_MAX];

	if (asprintf(&path, "%s/%s", s->dir, base) == -1)
		return NULL;
	if ((other = module_find(r, name)) != NULL) {
		snprintf(why, sizeof(why), "a module named %s is already "
		    "open (from %s)", name, other->path);
		set_refused(s, name, path, why);
		free(path);
		return NULL;
	}
	m = module_new(r, path, (const char *const *)s->required);
	free(path);
	if (m == NULL)
		return NULL;
	if ((m->name = strdup(name)) == NULL) {
		module_destroy(m);
		return NULL;
	}
	m->set = s;
	return m;
}

/* Opens a module found in s's directory when the set is opened: its
 * first version loaded at once, or, if that fails, kept with no version
 * (the daemon offers it again when it changes).  A file that is not a
 * complete module is left for the daemon to announce. */
static void
set_open_file(reloader_set_t *s, const char *base)
{
	reloader_module_t *m;
	struct rl_result res;
	struct stamp st;
	char path[4096], name[STAMP_MODULE_MAX], err[STAMP_ERR_MAX];

	if (set_member(s, base) != NULL)
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", s->dir, base) >=
	    sizeof(path) || stamp_read_file(path, &st, err, sizeof(err)) !=
	    STAMP_OK || st.format != STAMP_FMT_ELF)
		return;
	stamp_module_name(path, &st, name, sizeof(name));
	if ((m = set_module(s, base, name)) == NULL)
		return;
	module_reload(m, &res, 0);
	module_link(m);
	if (m->cur != NULL)
		module_event(m, RELOADER_EV_ADDED, &res);
	else
		module_event(m, RELOADER_EV_RELOAD, &res);
}

/* Handles "set-added": registers a module that appeared, with no
 * version, so that the daemon offers it in a batch. */
void
set_added(reloader_t *r, const char *set, const char *path,
    const char *module)
{
	reloader_set_t *s;
	reloader_module_t *m;

	/* A set just closed may still hear of its files. */
	if ((s = set_find(r, set)) == NULL ||
	    set_member(s, set_base(path)) != NULL)
		return;
	if ((m = set_module(s, set_base(path), module)) != NULL)
		module_link(m);
}

/* Handles "set-removed": a module of the set is gone for good. */
void
set_removed(reloader_t *r, const char *set, const char *path)
{
	reloader_set_t *s;
	reloader_module_t *m;

	if ((s = set_find(r, set)) == NULL ||
	    (m = set_member(s, set_base(path))) == NULL)
		return;
	if (m->cur == NULL) {
		module_close(m);
		return;
	}
	/* A switch prepared for it goes with it. */
	module_giveup(m, NULL, NULL);
	conn_unregister(r, m);
	/* Closed once the host heard of it (module_reap). */
	m->removing = r->cb != NULL ? 1 : 2;
	r->removing++;
	module_event(m, RELOADER_EV_REMOVED, NULL);
}

/* Frees a set's own memory. */
static void
set_free(reloader_set_t *s)
{
	module_strv_free(s->required);
	free(s->dir);
	free(s->pattern);
	free(s);
}

/* Frees every set of r; their modules are r's to close. */
void
set_free_all(reloader_t *r)
{
	reloader_set_t *s;

	while ((s = r->sets) != NULL) {
		r->sets = s->next;
		set_free(s);
	}
}

/* Makes a set for dir and pattern, checked; NULL with r's error. */
static reloader_set_t *
set_new(reloader_t *r, const char *dir, const char *pattern,
    const char *const *required)
{
	reloader_set_t *s;

	if (dir == NULL || *dir == '\0' || pattern == NULL ||
	    *pattern == '\0' || strchr(pattern, '/') != NULL) {
		reloader_set_error(r, "reloader_open_set: %s", dir == NULL ||
		    *dir == '\0' ? "no directory" : "the pattern must be a "
		    "file name pattern, not empty and without '/'");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto oom;
	s->r = r;
	if ((s->dir = module_abspath(r, dir)) == NULL) {
		free(s);
		return NULL;
	}
	if ((s->pattern = strdup(pattern)) == NULL ||
	    module_strv_dup(&s->required, required) == -1)
		goto oom;
	return s;

oom:
	reloader_set_error(r, "out of memory");
	if (s != NULL)
		set_free(s);
	return NULL;
}

/* Opens a set: the modules there now, then those the daemon announces. */
reloader_set_t *
reloader_open_set(reloader_t *r, const char *dir, const char *pattern,
    const char *const *required)
{
	reloader_set_t *s;
	struct dirent *de;
	DIR *d;

	reloader_lock(r);
	if ((s = set_new(r, dir, pattern, required)) == NULL)
		goto fail;
	if ((d = opendir(s->dir)) == NULL) {
		reloader_set_error(r, "%s: %s", dir, strerror(errno));
		set_free(s);
		goto fail;
	}
	s->id = ++r->nextset;
	s->next = r->sets;
	r->sets = s;
	while ((de = readdir(d)) != NULL)
		if (de->d_type != DT_DIR && fnmatch(s->pattern, de->d_name,
		    0) == 0)
			set_open_file(s, de->d_name);
	closedir(d);
	conn_watch_set(r, s);
	reloader_unlock(r);
	return s;

fail:
	reloader_unlock(r);
	return NULL;
}

/* Closes a set and every module of it, unless a call is inside one. */
int
reloader_close_set(reloader_set_t *s)
{
	reloader_t *r;
	reloader_set_t **sp;
	reloader_module_t *m, *next;

	if (s == NULL)
		return 0;
	r = s->r;
	reloader_lock(r);
	for (m = r->modules; m != NULL; m = m->next) {
		if (m->set == s && module_pins(m) > 0) {
			reloader_set_error(r, "cannot close the set of %s: a "
			    "call is still inside %s", s->dir, m->name);
			reloader_unlock(r);
			return -1;
		}
	}
	conn_unwatch_set(r, s);
	for (m = r->modules; m != NULL; m = next) {
		next = m->next;
		if (m->set == s)
			module_close(m);
	}
	for (sp = &r->sets; *sp != NULL; sp = &(*sp)->next) {
		if (*sp == s) {
			*sp = s->next;
			break;
		}
	}
	set_free(s);
	reloader_unlock(r);
	return 0;
}
