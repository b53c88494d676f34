/*
 * sources.c: source watches, the files a build reads (docs/PROTOCOL.md,
 * "watch-sources"), for `reloaderctl build --watch`.
 *
 * A connection asks to hear of the files a glob selects under a
 * directory.  The daemon's own tree watches them, as it watches modules:
 * the roots that cover the directory select them too, and where no root
 * does, each directory is watched as an implicit root that lists every
 * entry.  A source is not a module: it compares by stat (inode, size,
 * mtime), is never read, and a change goes to the connections that
 * watch it as "sources-changed", once the batch settles, never to the
 * attached processes.  Editors' temp and swap files are never sources.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "reloaderd.h"

/* One connection's source watch. */
struct source {
	struct source *next;
	struct client *c;
	unsigned long id;                /* sources=ID in its lines */
	char *dir;                       /* absolute, symlinks resolved */
	size_t dlen;
	char *match;                     /* glob under dir; NULL: every file */
	int deep;                        /* it may select below dir */
	struct root **roots;             /* implicit roots it keeps */
	size_t nroots;
};

static struct source *sources;
static unsigned long sources_nextid;

/* The names editors write beside a file while saving it, and their swap,
 * backup and lock files: never a source, whatever the glob. */
static const char *const sources_temp[] = {
	".*.sw?", ".*.sw??", "*.swp", "*~", ".#*", "#*#", "4913", "*.tmp",
	".goutputstream-*", "*___jb_tmp___", "*___jb_old___", ".~lock.*",
	".*.kate-swp", "*.orig.tmp"
};

/* Says whether a file name is an editor's temp or swap file. */
int
sources_temp_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(sources_temp) / sizeof(sources_temp[0]); i++)
		if (fnmatch(sources_temp[i], name, 0) == 0)
			return 1;
	return 0;
}

/*
 * Matches a path relative to a watch's directory against its glob, one
 * component at a time: "*" and "?" stay within a component and match no
 * leading dot, and a "**" component matches any number of directories
 * that are not hidden, none included.
 */
int
sources_glob(const char *glob, const char *rel)
{
	const char *gs, *rs;
	char g[NAME_MAX + 1], r[NAME_MAX + 1];
	size_t gl, rl;

	for (;;) {
		gs = strchr(glob, '/');
		gl = gs != NULL ? (size_t)(gs - glob) : strlen(glob);
		if (gl == 2 && strncmp(glob, "**", 2) == 0) {
			if (gs == NULL)
				return rel[0] != '.' &&
				    strstr(rel, "/.") == NULL;
			/* None, or one more directory, then the rest. */
			if (sources_glob(gs + 1, rel))
				return 1;
			if ((rs = strchr(rel, '/')) == NULL || rel[0] == '.')
				return 0;
			rel = rs + 1;
			continue;
		}
		rs = strchr(rel, '/');
		rl = rs != NULL ? (size_t)(rs - rel) : strlen(rel);
		if (gl > NAME_MAX || rl > NAME_MAX)
			return 0;
		memcpy(g, glob, gl);
		g[gl] = '\0';
		memcpy(r, rel, rl);
		r[rl] = '\0';
		if (fnmatch(g, r, FNM_PERIOD) != 0)
			return 0;
		if (gs == NULL || rs == NULL)
			return gs == NULL && rs == NULL;
		glob = gs + 1;
		rel = rs + 1;
	}
}

/* Says whether watch s selects the file at path. */
static int
sources_has(const struct source *s, const char *path)
{
	const char *rel, *base;

	if (strncmp(path, s->dir, s->dlen) != 0 ||
	    (s->dlen > 1 && path[s->dlen] != '/'))
		return 0;
	rel = path + s->dlen + (s->dlen > 1);
	base = strrchr(rel, '/');
	if (sources_temp_name(base != NULL ? base + 1 : rel))
		return 0;
	if (s->match == NULL)
		return rel[0] != '.' && strstr(rel, "/.") == NULL;
	return sources_glob(s->match, rel);
}

/* Says whether some watch selects the file at path, so that the tree
 * watches it even where no glob of its root does. */
int
sources_selects(const char *path)
{
	const struct source *s;

	for (s = sources; s != NULL; s = s->next)
		if (sources_has(s, path))
			return 1;
	return 0;
}

/* Tells every connection watching the file at path that it was created,
 * changed or removed (what). */
void
sources_changed(const char *path, const char *what)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct source *s;

	for (s = sources; s != NULL; s = s->next) {
		if (s->c->dead || !sources_has(s, path) ||
		    cred_sight(&s->c->cred, path) == CRED_BLIND)
			continue;
		proto_start(&o, buf, sizeof(buf), "sources-changed");
		proto_addf(&o, "sources", "%lu", s->id);
		proto_add(&o, "path", path);
		proto_add(&o, "what", what);
		client_send(s->c, &o);
	}
}

/* Keeps directory path watched for watch s, every entry listed. */
static void
sources_keep(struct source *s, const char *path)
{
	struct root *r, **nr;

	if ((r = tree_list_watch(path)) == NULL)
		return;                 /* a configured root has it */
	if ((nr = reallocarray(s->roots, s->nroots + 1,
	    sizeof(*nr))) == NULL)
		fatal("sources_keep");
	s->roots = nr;
	s->roots[s->nroots++] = r;
}

/*
 * Watches directory path for s and notes the files s selects in it, and,
 * for a deep watch, in the directories below that are not hidden and
 * that s's peer may search.  With created, each file noted is new, and
 * told of.  Returns how many files it noted.
 */
static size_t
sources_walk(struct source *s, const char *path, int created, int depth)
{
	char sub[PATH_MAX], err[256], real[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	size_t n = 0;
	DIR *dp;
	int seen;

	sources_keep(s, path);
	if ((dp = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", path,
		    strcmp(path, "/") ? "/" : "", de->d_name) >=
		    (int)sizeof(sub) || lstat(sub, &sb) == -1)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (s->deep && de->d_name[0] != '.' && depth < 64 &&
			    cred_can_search(&s->c->cred, sub, real,
			    sizeof(real), err, sizeof(err)) == 0)
				n += sources_walk(s, sub, created, depth + 1);
		} else if (sources_has(s, sub) &&
		    (seen = tree_source_seen(sub)) >= 0) {
			n++;
			if (created && seen == 1)
				sources_changed(sub, "created");
		}
	}
	closedir(dp);
	return n;
}

/* A directory appeared at path inside a directory an implicit root
 * watches: the deep watches that cover it watch it too, and tell of the
 * files it brought. */
void
sources_dir_appeared(const char *path)
{
	struct source *s;
	struct stat sb;
	const char *rel;

	/* Only one the tree does not watch yet is new. */
	if (sources == NULL || stat(path, &sb) == -1 ||
	    !S_ISDIR(sb.st_mode) || dir_by_ino(sb.st_dev, sb.st_ino) != NULL)
		return;
	for (s = sources; s != NULL; s = s->next) {
		if (!s->deep || strncmp(path, s->dir, s->dlen) != 0 ||
		    (s->dlen > 1 && path[s->dlen] != '/'))
			continue;
		rel = path + s->dlen + (s->dlen > 1);
		if (rel[0] == '.' || strstr(rel, "/.") != NULL)
			continue;
		sources_walk(s, path, 1, 0);
	}
}

/* Finds watch id of connection c. */
static struct source *
sources_find(const struct client *c, unsigned long id)
{
	struct source *s;

	for (s = sources; s != NULL; s = s->next)
		if (s->c == c && s->id == id)
			return s;
	return NULL;
}

/* Ends a watch: the files only it selected are forgotten, and the
 * directories watched only for it let go. */
static void
sources_free(struct source *s)
{
	struct source **pp;
	size_t i;

	for (pp = &sources; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	tree_sources_forget(s->dir);
	for (i = 0; i < s->nroots; i++)
		tree_list_unwatch(s->roots[i]);
	free(s->roots);
	free(s->dir);
	free(s->match);
	free(s);
}

/* Ends the watches of a connection that is going. */
void
sources_forget(struct client *c)
{
	struct source *s, *next;

	for (s = sources; s != NULL; s = next) {
		next = s->next;
		if (s->c == c)
			sources_free(s);
	}
}

/* Handles "watch-sources dir=D [match=GLOB]": watches the files GLOB
 * selects under D, answers with the watch's id and how many there are. */
int
sources_watch(struct client *c, struct proto_msg *m)
{
	const char *dir = proto_get(m, "dir"), *match = proto_get(m, "match");
	char buf[PROTO_MAX_LINE], real[PATH_MAX], err[PATH_MAX + 128];
	struct proto_out o;
	struct source *s;
	size_t n;

	if (dir == NULL) {
		client_error(c, "missing-field", "watch-sources needs dir=");
		return -1;
	}
	if (dir[0] != '/' || (match != NULL && (*match == '\0' ||
	    match[0] == '/' || strstr(match, "..") != NULL))) {
		client_error(c, "bad-field", "watch-sources: dir must be "
		    "absolute, match a glob under it (not absolute, no ..)");
		return -1;
	}
	if (cred_can_search(&c->cred, dir, real, sizeof(real), err,
	    sizeof(err)) == -1) {
		client_error(c, errno == EACCES ? "denied" : "no-such-dir",
		    "%s", err);
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->dir = strdup(real)) == NULL ||
	    (match != NULL && (s->match = strdup(match)) == NULL))
		fatal("sources_watch");
	s->c = c;
	s->id = ++sources_nextid;
	s->dlen = strlen(s->dir);
	s->deep = match == NULL || strchr(match, '/') != NULL ||
	    strstr(match, "**") != NULL;
	s->next = sources;
	sources = s;
	n = sources_walk(s, s->dir, 0, 0);
	log_info("%s watches %s for %s (sources %lu, %zu file%s)", c->label,
	    log_esc(s->dir), match != NULL ? log_esc(match) : "every file",
	    s->id, n, n == 1 ? "" : "s");
	proto_start(&o, buf, sizeof(buf), "ok");
	if (c->reqid != NULL)
		proto_add(&o, "id", c->reqid);
	proto_add(&o, "verb", "watch-sources");
	proto_addf(&o, "sources", "%lu", s->id);
	proto_addf(&o, "files", "%zu", n);
	client_send(c, &o);
	return 0;
}

/* Handles "unwatch-sources sources=ID". */
int
sources_unwatch(struct client *c, struct proto_msg *m)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;
	struct source *s;
	unsigned long long id;

	if (proto_get(m, "sources") == NULL) {
		client_error(c, "missing-field", "unwatch-sources needs "
		    "sources=");
		return -1;
	}
	if (proto_get_uint(m, "sources", &id) == -1 ||
	    (s = sources_find(c, (unsigned long)id)) == NULL) {
		client_error(c, "no-such-sources", "no source watch %s on "
		    "this connection", proto_get(m, "sources"));
		return -1;
	}
	sources_free(s);
	proto_start(&o, buf, sizeof(buf), "ok");
	if (c->reqid != NULL)
		proto_add(&o, "id", c->reqid);
	proto_add(&o, "verb", "unwatch-sources");
	proto_addf(&o, "sources", "%llu", id);
	client_send(c, &o);
	return 0;
}
