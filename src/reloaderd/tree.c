/*
 * tree.c: watched roots, their directories and module files.
 *
 * Every directory under a root has a node, found by its watch descriptor
 * and by its device and inode; every file the root's globs select has a
 * node, found by its path, holding the stamp it had when last read.  A
 * file is "changed" only when a complete read gives a different stamp:
 * events and stat results only say when to look.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"

/* How long the directory of modules no client needs any more stays
 * watched: a process that restarts registers the same modules again,
 * and watching a directory costs the kernel a walk of all its entries,
 * while an idle watch costs nothing. */
#define IMPLICIT_LINGER 60.0

/* A file or directory changed less than this long ago may change again
 * within the same timestamp tick, so its stat cannot be trusted yet. */
#define RACY_NSEC 1000000000LL

static struct daemon daemon_state;
struct daemon *rd = &daemon_state;

static struct file *file_get_as(struct root *, struct dir *, const char *,
    int);
static struct rglob *glob_compile(char *const *);
static void dir_scan_in(struct dir *, int, int, char *);

/* Hashes a file node by its path: its name, hashed on from its
 * directory's path, as hash_str would hash the whole. */
uint64_t
file_hash(const void *n)
{
	const struct file *f = n;

	return hash_bytes(f->name, strlen(f->name), f->dir->phash);
}

/* Returns a file's absolute path, made from its directory's and its
 * name; it stays valid for the next seven calls. */
const char *
file_path(const struct file *f)
{
	static char bufs[8][PATH_MAX];
	static unsigned int next;
	char *buf = bufs[next++ % 8];

	snprintf(buf, PATH_MAX, "%s%s%s", f->dir->path,
	    f->dir->plen > 1 ? "/" : "", f->name);
	return buf;
}

/* Says whether a file is the one at path. */
static int
file_is(const struct file *f, const char *path)
{
	const struct dir *d = f->dir;

	return strncmp(path, d->path, d->plen) == 0 &&
	    (d->plen == 1 || path[d->plen] == '/') &&
	    strcmp(path + d->plen + (d->plen > 1), f->name) == 0;
}

/* Hashes a directory node by its watch descriptor. */
uint64_t
dir_hash_wd(const void *n)
{
	int wd = ((const struct dir *)n)->wd;

	return hash_bytes(&wd, sizeof(wd), 0xcbf29ce484222325ULL);
}

/* Hashes a device and inode pair. */
static uint64_t
ino_hash(dev_t dev, ino_t ino)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = hash_bytes(&dev, sizeof(dev), h);
	return hash_bytes(&ino, sizeof(ino), h);
}

/* Hashes a directory node by its device and inode. */
uint64_t
dir_hash_ino(const void *n)
{
	const struct dir *d = n;

	return ino_hash(d->dev, d->ino);
}

/* Finds the directory watched with descriptor wd. */
struct dir *
dir_by_wd(int wd)
{
	struct dir *d;

	d = htab_first(&rd->dirs_wd, hash_bytes(&wd, sizeof(wd),
	    0xcbf29ce484222325ULL));
	for (; d != NULL; d = htab_next(&rd->dirs_wd, d))
		if (d->wd == wd)
			return d;
	return NULL;
}

/* Finds the directory node for a device and inode. */
struct dir *
dir_by_ino(dev_t dev, ino_t ino)
{
	struct dir *d;

	d = htab_first(&rd->dirs_ino, ino_hash(dev, ino));
	for (; d != NULL; d = htab_next(&rd->dirs_ino, d))
		if (d->dev == dev && d->ino == ino)
			return d;
	return NULL;
}

/* Hashes an implicit root by its directory's path. */
static uint64_t
root_hash(const void *n)
{
	return hash_str(((const struct root *)n)->conf.path);
}

/* Hashes a tracked name by its path. */
static uint64_t
tname_hash(const void *n)
{
	return hash_str(((const struct tname *)n)->path);
}

/* What a file's stamp holds beyond its node (struct fstamp): the stamp's
 * bytes when longer than a build-id, then the module it names when that
 * is not the one its file's name gives.  Few files have one, so it is
 * kept aside, by file, and a file's node saves the pointer. */
struct fxtra {
	struct fxtra *hnext;             /* in xtras */
	const struct file *f;
	unsigned char data[];
};

static struct htab xtras;

static void root_linger_cb(struct ev_loop *, ev_timer *, int);
static void fstamp_clear(struct file *);
static uint64_t mix64(uint64_t);

/* Hashes the file an aside block belongs to. */
static uint64_t
fxtra_hash(const void *n)
{
	return mix64((uint64_t)(uintptr_t)((const struct fxtra *)n)->f);
}

/* Sets up the tables of implicit roots, the names they are for, and the
 * stamps' aside blocks. */
void
tree_init(void)
{
	htab_init(&rd->implicits, offsetof(struct root, inext), root_hash);
	htab_init(&rd->tnames, offsetof(struct tname, hnext), tname_hash);
	htab_init(&xtras, offsetof(struct fxtra, hnext), fxtra_hash);
	ev_init(&rd->linger_ev, root_linger_cb);
}

/* Frees those tables, once every root is gone. */
void
tree_free(void)
{
	htab_free(&rd->implicits);
	htab_free(&rd->tnames);
	htab_free(&xtras);
}

/* Finds the name a client needs at path in an implicit root. */
static struct tname *
tname_lookup(const char *path)
{
	struct tname *t;

	t = htab_first(&rd->tnames, hash_str(path));
	for (; t != NULL; t = htab_next(&rd->tnames, t))
		if (strcmp(t->path, path) == 0)
			return t;
	return NULL;
}

/* Notes that a client needs the file at path in implicit root r, so
 * that listing r means looking at its names, not at every entry. */
static void
tname_add(struct root *r, const char *path)
{
	struct tname *t;
	size_t n;

	if ((t = tname_lookup(path)) != NULL)
		return;
	n = strlen(path);
	if ((t = calloc(1, sizeof(*t) + n + 1)) == NULL)
		fatal("tname_add");
	memcpy(t->path, path, n + 1);
	t->root = r;
	r->lingering = 0;
	t->next = r->names;
	if (r->names != NULL)
		r->names->prev = &t->next;
	r->names = t;
	t->prev = &r->names;
	htab_insert(&rd->tnames, t);
}

/* Forgets a name of an implicit root. */
static void
tname_del(struct tname *t)
{
	*t->prev = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	htab_remove(&rd->tnames, t);
	free(t);
}

/* Makes a live root from its configuration; nothing is watched yet. */
struct root *
root_new(const struct root_conf *rc)
{
	struct root *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("root_new");
	if ((r->conf.path = strdup(rc->path)) == NULL ||
	    (r->conf.display = strdup(rc->display)) == NULL ||
	    (r->conf.where = strdup(rc->where ? rc->where : "")) == NULL)
		fatal("root_new");
	r->conf.include = config_strv_dup((const char *const *)rc->include);
	r->conf.exclude = config_strv_dup((const char *const *)rc->exclude);
	if (r->conf.include == NULL || r->conf.exclude == NULL)
		fatal("root_new");
	r->include = glob_compile(r->conf.include);
	r->exclude = glob_compile(r->conf.exclude);
	r->conf.backend = rc->backend;
	r->backend = rc->backend == BACKEND_POLL ? BACKEND_POLL :
	    BACKEND_INOTIFY;
	return r;
}

/* Frees a root that is no longer watched. */
void
root_free(struct root *r)
{
	if (r == NULL)
		return;
	while (r->names != NULL)
		tname_del(r->names);
	if (r->implicit)
		htab_remove(&rd->implicits, r);
	free(r->conf.path);
	free(r->conf.display);
	free(r->conf.where);
	config_strv_free(r->conf.include);
	config_strv_free(r->conf.exclude);
	free(r->include);
	free(r->exclude);
	free(r);
}

/* Returns a path as the user knows it: under the root's name as given. */
const char *
root_display(const struct root *r, const char *path)
{
	static char buf[8192];
	size_t plen = strlen(r->conf.path);

	if (strncmp(path, r->conf.path, plen) != 0 ||
	    (path[plen] != '/' && path[plen] != '\0'))
		return path;
	snprintf(buf, sizeof(buf), "%s%s", r->conf.display, path + plen);
	return buf;
}

/*
 * Compiles a NULL-terminated glob list for glob_match: a glob that is a
 * literal prefix, one '*' and a literal suffix ("*.so", ".#*", "#*#"), as
 * every default one is, is matched by comparing its ends, which gives
 * what fnmatch(3) would with no flags: its '*' matches anything,
 * leading dots included.  The globs point into the root's own list.
 */
static struct rglob *
glob_compile(char *const *globs)
{
	struct rglob *g;
	const char *star;
	size_t n, i;

	for (n = 0; globs[n] != NULL; n++)
		;
	if ((g = calloc(n + 1, sizeof(*g))) == NULL)
		fatal("glob_compile");
	for (i = 0; i < n; i++) {
		g[i].glob = globs[i];
		g[i].len = strlen(globs[i]);
		g[i].slash = strchr(globs[i], '/') != NULL;
		star = strchr(globs[i], '*');
		if (g[i].slash || star == NULL ||
		    strpbrk(globs[i], "?[\\") != NULL ||
		    strchr(star + 1, '*') != NULL)
			continue;
		g[i].simple = 1;
		g[i].pre = (size_t)(star - globs[i]);
	}
	return g;
}

/* Says whether a compiled glob matches a path relative to the root (rel,
 * its file name at base, nlen bytes): globs with a slash match the whole
 * relative path, the others the file name. */
static int
glob_match(const struct rglob *g, const char *rel, const char *base,
    size_t nlen)
{
	size_t suf;

	if (g->slash)
		return fnmatch(g->glob, rel, FNM_PATHNAME) == 0;
	if (!g->simple)
		return fnmatch(g->glob, base, 0) == 0;
	suf = g->len - g->pre - 1;
	return nlen >= g->pre + suf && memcmp(base, g->glob, g->pre) == 0 &&
	    memcmp(base + nlen - suf, g->glob + g->pre + 1, suf) == 0;
}

/* Says whether the root's globs select the file at absolute path. */
int
root_globs(const struct root *r, const char *path)
{
	size_t plen = strlen(r->conf.path), nlen;
	const char *rel = path + plen, *base;
	const struct rglob *g;

	if (strncmp(path, r->conf.path, plen) != 0)
		return 0;
	while (*rel == '/')
		rel++;
	base = strrchr(rel, '/');
	base = base != NULL ? base + 1 : rel;
	nlen = strlen(base);
	for (g = r->exclude; g->glob != NULL; g++)
		if (glob_match(g, rel, base, nlen))
			return 0;
	for (g = r->include; g->glob != NULL; g++)
		if (glob_match(g, rel, base, nlen))
			return 1;
	return 0;
}

/* Says whether the root watches the file at absolute path as a module:
 * its globs select it, a client has it loaded, or a module set selects
 * it. */
static int
root_modules(const struct root *r, const char *path)
{
	size_t plen = strlen(r->conf.path);

	if (strncmp(path, r->conf.path, plen) != 0 ||
	    (path[plen] != '/' && plen > 1))
		return 0;
	return wanted_file(path) || root_globs(r, path) || set_selects(path);
}

/* Says whether the root watches the file at absolute path: as a module,
 * or as a source a build reads (sources.c). */
int
root_matches(const struct root *r, const char *path)
{
	size_t plen = strlen(r->conf.path);

	if (strncmp(path, r->conf.path, plen) != 0 ||
	    (path[plen] != '/' && plen > 1))
		return 0;
	return root_modules(r, path) || sources_selects(path);
}

/* Joins a directory and a name into a malloc'd path. */
static char *
path_join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
	    name) == -1)
		fatal("path_join");
	return p;
}

/* Makes a node for a directory and watches it; NULL if it is already
 * watched (through another root, a bind mount) or cannot be watched. */
struct dir *
dir_add(struct root *r, struct dir *parent, const char *path,
    const struct stat *sb)
{
	struct dir *d;
	char err[256];
	size_t len = strlen(path);

	if (dir_by_ino(sb->st_dev, sb->st_ino) != NULL)
		return NULL;
	if ((d = calloc(1, sizeof(*d) + len + 1)) == NULL)
		fatal("dir_add");
	memcpy(d->path, path, len + 1);
	d->plen = len;
	d->phash = hash_str(path);
	if (len > 1)
		d->phash = hash_bytes("/", 1, d->phash);
	d->root = r;
	d->dev = sb->st_dev;
	d->ino = sb->st_ino;
	d->wd = -1;
	d->parent = parent;
	if (parent != NULL) {
		d->snext = parent->child;
		if (parent->child != NULL)
			parent->child->sprev = &d->snext;
		parent->child = d;
		d->sprev = &parent->child;
	}
	htab_insert(&rd->dirs_ino, d);
	if (r->backend == BACKEND_INOTIFY && !r->nospace &&
	    inotify_arm_dir(d, err, sizeof(err)) == -1) {
		if (errno == ENOSPC)
			r->nospace = 1;
		else if (errno == ENOENT || errno == ENOTDIR)
			log_debug("%s: gone before it could be watched",
			    log_esc(root_display(r, path)));
		else
			log_warnx("%s: cannot watch: %s",
			    log_esc(root_display(r, path)), err);
	}
	return d;
}

/* Forgets a directory and everything below it; its files are queued so
 * that the batch reports those that are really gone.  A directory that
 * still has files stays as a ghost, out of every table, holding the path
 * its files' names are in, until the last of them goes. */
void
dir_remove(struct dir *d)
{
	struct file *f;

	while (d->child != NULL)
		dir_remove(d->child);
	poll_forget_dir(d);
	inotify_disarm_dir(d);
	batch_unretry_dir(d);
	htab_remove(&rd->dirs_ino, d);
	if (d->sprev != NULL) {
		*d->sprev = d->snext;
		if (d->snext != NULL)
			d->snext->sprev = d->sprev;
		d->sprev = NULL;
		d->snext = NULL;
	}
	if (d->root->top == d)
		d->root->top = NULL;
	d->ghost = 1;
	for (f = d->files; f != NULL; f = f->dnext)
		batch_queue(f);
	if (d->files == NULL)
		free(d);
}

/* Finds the subdirectory of d called name. */
struct dir *
dir_child(struct dir *d, const char *name)
{
	struct dir *c;
	size_t dlen = strlen(d->path);

	for (c = d->child; c != NULL; c = c->snext)
		if (strncmp(c->path, d->path, dlen) == 0 &&
		    strcmp(c->path + dlen + (dlen > 1), name) == 0)
			return c;
	return NULL;
}

/* Finds the node of the file at path. */
struct file *
file_lookup(const char *path)
{
	struct file *f;

	f = htab_first(&rd->files, hash_str(path));
	for (; f != NULL; f = htab_next(&rd->files, f))
		if (file_is(f, path))
			return f;
	return NULL;
}

/* Links a file into a directory's list. */
static void
file_attach(struct file *f, struct dir *d)
{
	f->dir = d;
	f->dnext = d->files;
	if (d->files != NULL)
		d->files->dprev = &f->dnext;
	d->files = f;
	f->dprev = &d->files;
}

/* Unlinks a file from its directory; a ghost directory goes with its
 * last file. */
void
file_detach(struct file *f)
{
	struct dir *d = f->dir;

	*f->dprev = f->dnext;
	if (f->dnext != NULL)
		f->dnext->dprev = f->dprev;
	f->dnext = NULL;
	f->dprev = NULL;
	f->dir = NULL;
	if (d->ghost && d->files == NULL)
		free(d);
}

/* Returns the node of the file at path in d, making it if new; path is
 * d's path and the file's name. */
struct file *
file_get(struct root *r, struct dir *d, const char *path)
{
	return file_get_as(r, d, path, -1);
}

/* Does file_get's work; source says whether the root watches the file
 * only as a source (1) or as a module (0), when the caller knows, or -1
 * to ask its globs. */
static struct file *
file_get_as(struct root *r, struct dir *d, const char *path, int source)
{
	struct file *f;
	const char *name = path + d->plen + (d->plen > 1);
	size_t len;
	int unread;

	if ((f = file_lookup(path)) != NULL) {
		if (f->dir != d) {
			/* Its directory came back, perhaps under another
			 * root: same path, same hash. */
			unread = f->queued == QUEUED_UNREAD;
			file_root(f)->nfiles--;
			file_root(f)->nunread -= (size_t)unread;
			file_detach(f);
			file_attach(f, d);
			f->source = source != -1 ? (unsigned int)source :
			    !root_modules(r, path);
			r->nfiles++;
			r->nunread += (size_t)unread;
		}
		return f;
	}
	len = strlen(name);
	if ((f = calloc(1, FILE_SIZE(len))) == NULL)
		fatal("file_get");
	memcpy(f->name, name, len + 1);
	f->state = FILE_NEW;
	f->source = source != -1 ? (unsigned int)source :
	    !root_modules(r, path);
	file_attach(f, d);
	htab_insert(&rd->files, f);
	r->nfiles++;
	return f;
}

/* Frees a file node and takes it out of every list. */
void
file_free(struct file *f)
{
	batch_unqueue(f);
	if (f->state == FILE_RETRY)
		batch_unretry(f);
	if (f->state == FILE_GONE)
		rd->ngone--;
	htab_remove(&rd->files, f);
	file_root(f)->nfiles--;
	file_detach(f);
	fstamp_clear(f);
	free(f);
}

/* Returns a file's aside block, which it has when its stamp is long or
 * names a module of its own; else NULL. */
static struct fxtra *
fxtra_find(const struct file *f)
{
	struct fxtra *x;

	if (!(f->sbuf.has & FSTAMP_MODULE) && f->sbuf.len <= FSTAMP_INLINE)
		return NULL;
	x = htab_first(&xtras, mix64((uint64_t)(uintptr_t)f));
	for (; x != NULL; x = htab_next(&xtras, x))
		if (x->f == f)
			return x;
	fatalx("fxtra_find: %s: its stamp's aside block is missing", f->name);
}

/* Returns the module a file's stamp names itself, if not the one its
 * file's name gives; else NULL. */
static const char *
fstamp_module(const struct file *f)
{
	if (!(f->sbuf.has & FSTAMP_MODULE))
		return NULL;
	return (const char *)fxtra_find(f)->data +
	    (f->sbuf.len > FSTAMP_INLINE ? f->sbuf.len : 0);
}

/* Names the module in a file whose stamp names own (NULL: none), as
 * stamp_module_name does, the rule every part of the daemon uses. */
static void
file_module_as(const struct file *f, const char *own, char *buf, size_t len)
{
	struct stamp st;

	memset(&st, 0, sizeof(st));
	if (own != NULL)
		snprintf(st.module, sizeof(st.module), "%s", own);
	stamp_module_name(file_path(f), &st, buf, len);
}

/* Names the module in a file: as its stamp says, else after the file. */
void
file_module_name(const struct file *f, char *buf, size_t len)
{
	file_module_as(f, fstamp_module(f), buf, len);
}

/* Says whether a read of the file completed, so that its stamp is known. */
int
file_has_stamp(const struct file *f)
{
	return (f->sbuf.has & FSTAMP_KNOWN) != 0;
}

/* Returns the bytes of a file's kept stamp. */
static const unsigned char *
fstamp_bytes(const struct file *f)
{
	return f->sbuf.len <= FSTAMP_INLINE ? f->sbuf.in :
	    fxtra_find(f)->data;
}

/* Forgets the stamp a file kept, if any. */
static void
fstamp_clear(struct file *f)
{
	struct fxtra *x;

	if ((x = fxtra_find(f)) != NULL) {
		htab_remove(&xtras, x);
		free(x);
	}
	memset(&f->sbuf, 0, sizeof(f->sbuf));
}

/* Writes "kind=value" for a file's kept stamp. */
static void
fstamp_text(const struct file *f, char *buf, size_t len)
{
	struct stamp st;
	char val[2 * STAMP_MAX + 1];

	memset(&st, 0, sizeof(st));
	st.kind = f->sbuf.kind;
	st.len = f->sbuf.len;
	memcpy(st.bytes, fstamp_bytes(f), st.len);
	stamp_format_value(&st, val, sizeof(val));
	snprintf(buf, len, "%s=%s", stamp_kind_name(st.kind),
	    st.kind == STAMP_VERSION ? log_esc(val) : val);
}

/* Keeps a stamp just read as the file's: in its node, with an aside
 * block only when it is longer than a build-id or names a module other
 * than the one the file's name gives (a BEAM or an ELF note naming its
 * own file's module, the usual case, keeps none). */
static void
fstamp_set(struct file *f, const struct stamp *st)
{
	struct fstamp *fs = &f->sbuf;
	struct fxtra *x;
	char byname[STAMP_MODULE_MAX];
	size_t ext = st->len > FSTAMP_INLINE ? st->len : 0, mod = 0;

	if (st->module[0] != '\0') {
		stamp_module_name(f->name, NULL, byname, sizeof(byname));
		if (strcmp(byname, st->module) != 0)
			mod = strlen(st->module) + 1;
	}
	fstamp_clear(f);
	fs->kind = (unsigned char)st->kind;
	fs->len = (unsigned char)st->len;
	fs->has = FSTAMP_KNOWN | (mod > 0 ? FSTAMP_MODULE : 0);
	if (ext == 0)
		memcpy(fs->in, st->bytes, st->len);
	if (ext + mod == 0)
		return;
	if ((x = malloc(sizeof(*x) + ext + mod)) == NULL)
		fatal("fstamp_set");
	x->f = f;
	memcpy(x->data, st->bytes, ext);
	memcpy(x->data + ext, st->module, mod);
	htab_insert(&xtras, x);
}

/* Says whether a file's kept stamp is the one just read. */
static int
fstamp_same(const struct file *f, const struct stamp *st)
{
	return file_has_stamp(f) && f->sbuf.kind == st->kind &&
	    f->sbuf.len == st->len &&
	    memcmp(fstamp_bytes(f), st->bytes, st->len) == 0;
}

/* Says whether a timestamp is so recent that a further change within the
 * same timestamp tick would leave it unchanged. */
static int
too_recent(const struct timespec *ts)
{
	struct timespec now;
	long long age;

	/* The coarse clock costs less, and lags: that only makes more
	 * files count as recent. */
#ifdef CLOCK_REALTIME_COARSE
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
#else
	clock_gettime(CLOCK_REALTIME, &now);
#endif
	age = (long long)(now.tv_sec - ts->tv_sec) * 1000000000LL +
	    (now.tv_nsec - ts->tv_nsec);
	return age < RACY_NSEC;
}

/* Returns a timestamp in nanoseconds, as the tree keeps them. */
int64_t
tree_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Mixes 64 bits thoroughly (splitmix64's finaliser). */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Returns the signature of a stat's inode, size and mtime: a file's node
 * keeps 8 bytes, not 24, and two different stats share one with odds of
 * 2^-64 (the stamp decides in any case; the stat only says when to read). */
static uint64_t
stat_sig(const struct stat *sb)
{
	return mix64(mix64(mix64((uint64_t)sb->st_ino) ^
	    (uint64_t)sb->st_size) ^ (uint64_t)tree_ns(&sb->st_mtim));
}

/* Returns the signature a file keeps of a stat: a module's includes the
 * ctime, which a rewrite that puts its mtime back still moves; a source's
 * leaves it out, so that a chmod or a new hard link is not a change. */
static uint64_t
file_sig(const struct file *f, const struct stat *sb)
{
	if (f->source)
		return stat_sig(sb);
	return mix64(stat_sig(sb) ^ (uint64_t)tree_ns(&sb->st_ctim));
}

/* Records a stat result on a file, for the next poll to compare. */
static void
file_note_stat(struct file *f, const struct stat *sb)
{
	f->sig = file_sig(f, sb);
	f->racy = too_recent(&sb->st_mtim);
}

/* Says whether a stat result differs from the one a file last had. */
int
file_stat_differs(const struct file *f, const struct stat *sb)
{
	return f->sig != file_sig(f, sb);
}

/* Logs that a file is gone, if it ever held a module, and frees it. */
int
file_gone(struct file *f)
{
	char was[2 * STAMP_MAX + 32], mod[STAMP_MODULE_MAX];
	int rc = CHECK_NOTHING;

	if (file_has_stamp(f)) {
		fstamp_text(f, was, sizeof(was));
		file_module_name(f, mod, sizeof(mod));
		log_about(file_path(f));
		log_info("removed %s module=%s was=%s",
		    log_esc(root_display(file_root(f), file_path(f))),
		    log_esc(mod),
		    strchr(was, '=') + 1);
		log_about(NULL);
		set_file_removed(f);
		rc = CHECK_REMOVED;
	}
	file_free(f);
	return rc;
}

/* Handles a file found missing.  A module is reported removed only when
 * it stays gone for a grace period: erlc, for one, deletes the old beam
 * before renaming the new one into place, and that is a change, not a
 * removal.  A file that never held a module is just forgotten. */
static int
file_missing(struct file *f)
{
	if (!file_has_stamp(f)) {
		file_gone(f);
		return CHECK_FORGOTTEN;
	}
	if (f->state != FILE_GONE) {
		f->state = FILE_GONE;
		batch_gone(f);
	}
	return CHECK_NOTHING;
}

/* Says whether a failure to open or read a file may pass by itself:
 * out of descriptors or memory, or an I/O error of a network filesystem. */
static int
file_transient(int e)
{
	switch (e) {
	case EMFILE:
	case ENFILE:
	case ENOMEM:
	case ENOBUFS:
	case EAGAIN:
	case EINTR:
	case EIO:
	case ETIMEDOUT:
	case ESTALE:
		return 1;
	default:
		return 0;
	}
}

/* Handles a file that is there but could not be read: read again with a
 * growing delay if that may pass, else left until it changes (a chmod
 * included).  Either is logged once, not per try. */
static int
file_unreadable(struct file *f, int e, const char *err)
{
	const char *path = root_display(file_root(f), file_path(f));

	if (file_transient(e)) {
		if (f->state != FILE_RETRY) {
			log_warnx("cannot read %s: %s; trying again",
			    log_esc(path), err);
			f->state = FILE_RETRY;
			f->tries = 0;
		}
		if (f->tries < 255)
			f->tries++;
		f->err = (unsigned char)e;
		batch_retry(f);
		return CHECK_NOTHING;
	}
	if (f->state == FILE_RETRY)
		batch_unretry(f);
	if (f->state != FILE_BAD || f->err != e)
		log_warnx("cannot read %s: %s", log_esc(path), err);
	f->state = FILE_BAD;
	f->err = (unsigned char)e;
	return CHECK_NOTHING;
}

/* Returns a malloc'd copy of the directory part of an absolute path. */
static char *
path_dir(const char *path)
{
	char *dir, *slash;

	if ((dir = strdup(path)) == NULL)
		fatal("path_dir");
	slash = strrchr(dir, '/');
	*(slash == dir ? slash + 1 : slash) = '\0';
	return dir;
}

/* Says whether the file at real (a path with no symlink in it) is in a
 * directory that a configured root watches: implicit roots, made for
 * what clients registered, do not count. */
static int
tree_in_root(const char *real)
{
	struct stat sb;
	struct dir *d;
	char *dir = path_dir(real);
	int in;

	in = stat(dir, &sb) == 0 &&
	    (d = dir_by_ino(sb.st_dev, sb.st_ino)) != NULL &&
	    !d->root->implicit;
	free(dir);
	return in;
}

/* Opens path for reading with no symlink anywhere on the way (openat2's
 * RESOLVE_NO_SYMLINKS), or, on a kernel without openat2, none as its
 * last component; -1 with errno (ELOOP: a symlink was met). */
static int
tree_open_nolinks(const char *path)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
	how.resolve = RESOLVE_NO_SYMLINKS;
	fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	if (fd == -1 && (errno == ENOSYS || errno == EPERM))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	return fd;
}

/* What file_open found. */
#define OPEN_OK        0      /* *fd is open on the file */
#define OPEN_MISSING   1      /* not there, or not a regular file */
#define OPEN_FAILED    2      /* cannot be opened: errno, err */
#define OPEN_REFUSED   3      /* a symlink out of every configured root */
#define OPEN_RELINKED  4      /* a registered file became a symlink */

/*
 * Opens a module file to read its stamp.  The daemon may run as root, and
 * anyone who can write in a watched directory can plant a symlink there,
 * so a file is never opened through a link unless the link leads into a
 * configured root, or follow-symlinks = yes: a file that is no link is
 * opened with O_NOFOLLOW, and a link is resolved, its target checked, and
 * the target opened with no symlink allowed on the way; what changes in
 * between makes the open fail, and it is tried again.  real receives
 * what a link leads to.
 */
static int
file_open(struct file *f, int *fd, struct stat *sb, char *real, char *err,
    size_t errlen)
{
	struct stat lsb;
	const char *path = file_path(f);
	int tries;

	for (tries = 0; tries < 3; tries++) {
		real[0] = '\0';
		if (lstat(path, &lsb) == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return errno == ENOENT || errno == ENOTDIR ?
			    OPEN_MISSING : OPEN_FAILED;
		}
		if (S_ISLNK(lsb.st_mode)) {
			if (wanted_file(path)) {
				/* Registered paths go through it now. */
				wanted_target_linked(path);
				if (file_root(f)->implicit)
					return OPEN_RELINKED;
			}
			if (realpath(path, real) == NULL) {
				snprintf(err, errlen, "%s", strerror(errno));
				return errno == ENOENT || errno == ENOTDIR ||
				    errno == ELOOP ? OPEN_MISSING : OPEN_FAILED;
			}
			if (!rd->conf.follow_symlinks && !tree_in_root(real))
				return OPEN_REFUSED;
			*fd = tree_open_nolinks(real);
		} else if (!S_ISREG(lsb.st_mode))
			return OPEN_MISSING;
		else
			*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
			    O_NOFOLLOW);
		if (*fd == -1 && errno == ELOOP)
			continue;            /* swapped for a link meanwhile */
		if (*fd == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return errno == ENOENT || errno == ENOTDIR ?
			    OPEN_MISSING : OPEN_FAILED;
		}
		if (fstat(*fd, sb) == -1 || !S_ISREG(sb->st_mode)) {
			close(*fd);
			*fd = -1;
			return OPEN_MISSING;
		}
		return OPEN_OK;
	}
	snprintf(err, errlen, "it keeps changing between a symlink and a "
	    "file");
	errno = EAGAIN;
	return OPEN_FAILED;
}

/*
 * Checks a file watched only as a source: its stat decides, and nothing
 * is read.  In the initial scan (or when a watch begins) the stat is only
 * noted; later a new file, a stat that moved or a file gone is told to
 * the connections watching it.  May free f.
 */
static int
file_check_source(struct file *f, int initial)
{
	struct stat sb;
	const char *path = file_path(f);
	int known = f->state != FILE_NEW || f->scanned;

	if (stat(path, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		if (stat(path, &sb) == -1 && file_transient(errno))
			return CHECK_NOTHING;
		if (known && !initial)
			sources_changed(path, "removed");
		file_free(f);
		return CHECK_FORGOTTEN;
	}
	if (!initial && (!known || file_stat_differs(f, &sb)))
		sources_changed(path, known ? "changed" : "created");
	file_note_stat(f, &sb);
	f->scanned = 0;
	f->state = FILE_OK;
	return CHECK_NOTHING;
}

/* Notes a file a source watch selects, found when the watch began or
 * when its directory appeared: the tree watches it from now on.  Returns 1 if it is new to the tree, 0 if it was known, or -1
 * if its directory is not watched or it is not a file. */
int
tree_source_seen(const char *path)
{
	struct stat sb;
	struct dir *d;
	struct file *f;
	char *dir;

	if (file_lookup(path) != NULL)
		return 0;
	dir = path_dir(path);
	d = stat(dir, &sb) == 0 ? dir_by_ino(sb.st_dev, sb.st_ino) : NULL;
	free(dir);
	if (d == NULL)
		return -1;
	f = file_get(d->root, d, path);
	return file_check_source(f, 1) == CHECK_FORGOTTEN ? -1 : 1;
}

/* Forgets the files under dir that nothing selects any more, once a
 * source watch ended. */
void
tree_sources_forget(const char *dir)
{
	struct file *f, *next;
	size_t i, dlen = strlen(dir);
	const char *path;

	for (i = 0; i < rd->files.nbuckets; i++) {
		for (f = rd->files.buckets[i]; f != NULL; f = next) {
			next = f->hnext;
			path = file_path(f);
			if (strncmp(path, dir, dlen) == 0 &&
			    (dlen == 1 || path[dlen] == '/') &&
			    !root_matches(file_root(f), path))
				file_free(f);
		}
	}
}

static int file_check_read(struct file *, int);

/* Reads a file's stamp and logs what it means: added, changed, removed,
 * or nothing at all when the code is the same.  In the initial scan a
 * first stamp is only noted.  May free f.  Its log lines tell of f's
 * path, so that only peers who may read it see them. */
int
file_check(struct file *f, int initial)
{
	int rc;

	log_about(file_path(f));
	rc = file_check_read(f, initial);
	log_about(NULL);
	return rc;
}

/* Does file_check's work. */
static int
file_check_read(struct file *f, int initial)
{
	struct stamp st;
	struct stat sb;
	char err[STAMP_ERR_MAX], now[2 * STAMP_MAX + 32];
	char was[2 * STAMP_MAX + 32], real[PATH_MAX], mod[STAMP_MODULE_MAX];
	const char *path = root_display(file_root(f), file_path(f));
	int rc, e, fd = -1, scanned, rewritten, had, oldkind;

	/* file_get set source by the same rule; roots never change their
	 * globs in place, so this only keeps it so. */
	f->source = !root_modules(file_root(f), file_path(f));
	if (f->source)
		return file_check_source(f, initial);

	switch (file_open(f, &fd, &sb, real, err, sizeof(err))) {
	case OPEN_MISSING:
		return file_missing(f);
	case OPEN_FAILED:
		e = errno;
		if (f->state == FILE_GONE) {
			rd->ngone--;
			f->state = FILE_NEW;
		}
		return file_unreadable(f, e, err);
	case OPEN_RELINKED:
		log_debug("%s is a symlink now; its registered paths are "
		    "followed again", log_esc(path));
		return CHECK_NOTHING;
	case OPEN_REFUSED:
		if (f->state == FILE_GONE)
			rd->ngone--;
		if (f->state == FILE_RETRY)
			batch_unretry(f);
		if (!f->outside)
			log_warnx("not reading %s: it is a symlink to %s, "
			    "outside every configured root "
			    "(follow-symlinks = no)", log_esc(path),
			    log_esc(real));
		f->outside = 1;
		f->state = FILE_BAD;
		f->err = 0;
		return CHECK_NOTHING;
	}
	if (f->outside && real[0] != '\0')
		log_info("reading %s: its symlink leads to %s now",
		    log_esc(path), log_esc(real));
	f->outside = 0;
	/* Rewritten since the first scan noted it, before its stamp was
	 * read: what it held then is not known. */
	if (f->scanned && file_stat_differs(f, &sb))
		f->rewritten = 1;
	if (f->state == FILE_GONE) {
		/* Back within the grace period: compare stamps as usual. */
		rd->ngone--;
		f->state = FILE_OK;
	}
	file_note_stat(f, &sb);

	rc = stamp_read_fd(fd, file_path(f), &st, err, sizeof(err));
	e = errno;
	/* Written while it was being read: not what the scan saw either. */
	if (f->scanned && fstat(fd, &sb) == 0 && file_stat_differs(f, &sb))
		f->rewritten = 1;
	close(fd);
	if (rc == STAMP_UNREADABLE)
		return file_unreadable(f, e, err);
	if (f->state == FILE_RETRY) {
		batch_unretry(f);
		log_info("read %s again, after %u failed tr%s", log_esc(path),
		    f->tries, f->tries == 1 ? "y" : "ies");
	}
	f->err = 0;
	if (rc == STAMP_INCOMPLETE) {
		f->state = FILE_INCOMPLETE;
		log_debug("incomplete %s: %s; waiting for the rest",
		    log_esc(path), err);
		return CHECK_NOTHING;
	}
	if (rc != STAMP_OK) {
		f->state = FILE_BAD;
		log_warnx("%s: %s", log_esc(path), err);
		return CHECK_NOTHING;
	}
	f->state = FILE_OK;
	file_module_as(f, st.module, mod, sizeof(mod));
	if (fstamp_same(f, &st)) {
		log_debug("unchanged %s module=%s", log_esc(path),
		    log_esc(mod));
		return CHECK_NOTHING;
	}
	had = file_has_stamp(f);
	oldkind = had ? f->sbuf.kind : STAMP_NONE;
	if (had)
		fstamp_text(f, was, sizeof(was));
	fstamp_set(f, &st);
	fstamp_text(f, now, sizeof(now));
	scanned = f->scanned;
	rewritten = f->rewritten;
	f->scanned = f->rewritten = 0;
	if (!had && scanned && rewritten) {
		log_info("changed %s module=%s %s was=unknown (rewritten "
		    "after the first scan, before its stamp was read)",
		    log_esc(path), log_esc(mod), now);
		return CHECK_CHANGED;
	}
	if (!had) {
		if (initial || scanned)
			log_debug("known %s module=%s %s", log_esc(path),
			    log_esc(mod), now);
		else
			log_info("added %s module=%s %s", log_esc(path),
			    log_esc(mod), now);
		return initial || scanned ? CHECK_NOTHING : CHECK_ADDED;
	}
	log_info("changed %s module=%s %s was=%s", log_esc(path),
	    log_esc(mod), now,
	    oldkind == (int)st.kind ? strchr(was, '=') + 1 : was);
	return CHECK_CHANGED;
}

/* Notes a directory's mtime, and whether it is too recent to trust. */
static void
dir_note_mtime(struct dir *d, const struct stat *sb)
{
	d->mtime = tree_ns(&sb->st_mtim);
	d->racy = too_recent(&sb->st_mtim);
}

/* Looks at what is new or gone in a directory (whatever the listing did
 * not see in scan generation gen is queued). */
static void
dir_scan_gone(struct dir *d, unsigned int gen)
{
	struct dir *sub, *snext;
	struct file *f, *fnext;

	for (f = d->files; f != NULL; f = fnext) {
		fnext = f->dnext;
		if (f->seen != gen)
			batch_queue(f);
	}
	for (sub = d->child; sub != NULL; sub = snext) {
		snext = sub->snext;
		if (sub->seen != gen)
			dir_remove(sub);
	}
}

/* Notes a selected file the scan of generation gen found.  In a first
 * scan (not live) a new file's stat is noted and its stamp read in the
 * background, unless it changed so recently that its stat cannot be
 * trusted, or a client needs it (an implicit root): those are read at
 * once.  In a live scan it is queued when new or changed.  sb is its
 * stat, or NULL when the caller has none. */
static void
dir_scan_file(struct dir *d, const char *path, const struct stat *sb,
    int live, unsigned int gen, int source)
{
	struct file *f;
	struct stat own;

	f = file_get_as(d->root, d, path, source);
	f->seen = gen;
	if (sb == NULL && stat(path, &own) == 0)
		sb = &own;
	if (!live) {
		if (f->state == FILE_NEW && !file_has_stamp(f) &&
		    !d->root->implicit && sb != NULL &&
		    S_ISREG(sb->st_mode) && !too_recent(&sb->st_mtim) &&
		    !too_recent(&sb->st_ctim)) {
			file_note_stat(f, sb);
			f->scanned = 1;
			batch_unread(f);
		} else
			file_check(f, 1);
	} else if ((f->state == FILE_NEW && !f->scanned) || f->racy ||
	    sb == NULL || file_stat_differs(f, sb))
		/* One left to the background reader stays there while its
		 * stat is the scan's. */
		batch_queue(f);
}

/* Scans the directory of an implicit root: it selects only the files
 * clients need there, so only their names are looked at, however many
 * entries the directory has. */
static void
dir_scan_names(struct dir *d, int live, unsigned int gen)
{
	struct tname *t;
	struct stat sb;

	if (stat(d->path, &sb) == 0)
		dir_note_mtime(d, &sb);
	for (t = d->root->names; t != NULL; t = t->next)
		if (lstat(t->path, &sb) == 0 && !S_ISDIR(sb.st_mode) &&
		    root_matches(d->root, t->path))
			dir_scan_file(d, t->path, NULL, live, gen, -1);
	dir_scan_gone(d, gen);
}

/* Reads a directory's entries: new subdirectories are watched and then
 * scanned; selected files are read at once (initial) or queued when new
 * or changed (live); files and subdirectories no longer there are
 * queued or forgotten.  With recurse, known subdirectories are rescanned
 * too (after an inotify overflow). */
void
dir_scan(struct dir *d, int live, int recurse)
{
	char buf[PATH_MAX];

	dir_scan_in(d, live, recurse, buf);
}

/* Does dir_scan's work, building entries' paths in buf (PATH_MAX bytes),
 * which its subdirectories' scans share: an entry's path is not used once
 * its subdirectory's scan returns, and a deep tree costs no buffer a
 * level. */
static void
dir_scan_in(struct dir *d, int live, int recurse, char *buf)
{
	struct root *r = d->root;
	struct dirent *de;
	struct stat sb;
	struct dir *sub;
	unsigned int gen = ++rd->scangen;
	DIR *dp;
	char *path;
	size_t nlen;
	int isdir, havesb, module;

	if (r->implicit && r->nlisted == 0) {
		dir_scan_names(d, live, gen);
		return;
	}
	if ((dp = opendir(d->path)) == NULL) {
		if (file_transient(errno)) {
			/* Listed again soon; until then polling looks too. */
			d->racy = 1;
			batch_retry_dir(d);
		} else if (errno != ENOENT && errno != ENOTDIR)
			log_warn("%s", log_esc(root_display(r, d->path)));
		return;
	}
	if (fstat(dirfd(dp), &sb) == 0)
		dir_note_mtime(d, &sb);
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		isdir = de->d_type == DT_DIR;
		havesb = 0;
		if (de->d_type == DT_UNKNOWN || isdir) {
			if (fstatat(dirfd(dp), de->d_name, &sb,
			    AT_SYMLINK_NOFOLLOW) == -1)
				continue;
			isdir = S_ISDIR(sb.st_mode);
			havesb = !S_ISLNK(sb.st_mode);
		}
		if (isdir && r->implicit) {
			/* Not its own, but a source watch's, maybe. */
			if (live) {
				path = path_join(d->path, de->d_name);
				sources_dir_appeared(path);
				free(path);
			}
			continue;
		}
		/* Most paths fit the buffer: no allocation per entry. */
		nlen = strlen(de->d_name);
		if (d->plen + 1 + nlen < PATH_MAX) {
			memcpy(buf, d->path, d->plen);
			buf[d->plen] = '/';
			memcpy(buf + d->plen + (d->plen > 1), de->d_name,
			    nlen + 1);
			path = buf;
		} else
			path = path_join(d->path, de->d_name);
		if (isdir) {
			if ((sub = dir_child(d, de->d_name)) != NULL) {
				sub->seen = gen;
				if (recurse)
					dir_scan_in(sub, live, recurse, buf);
			} else if ((sub = dir_add(r, d, path, &sb)) != NULL) {
				sub->seen = gen;
				dir_scan_in(sub, live, 1, buf);
			}
		} else if ((module = root_modules(r, path)) ||
		    sources_selects(path)) {
			/* Its stat, as polling compares it (links followed). */
			if (!havesb)
				havesb = fstatat(dirfd(dp), de->d_name, &sb,
				    0) == 0;
			dir_scan_file(d, path, havesb ? &sb : NULL, live, gen,
			    !module);
		}
		if (path != buf)
			free(path);
	}
	closedir(dp);
	/* Whatever the listing did not show is gone, or about to be. */
	dir_scan_gone(d, gen);
}

/* Reads /proc/sys/fs/inotify/name, for telling users about limits. */
static long
inotify_limit(const char *name)
{
	char path[128];
	long v = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/sys/fs/inotify/%s", name);
	if ((fp = fopen(path, "r")) != NULL) {
		if (fscanf(fp, "%ld", &v) != 1)
			v = -1;
		fclose(fp);
	}
	return v;
}

/* Gives back the inotify watches of a directory tree. */
static void
dir_disarm_tree(struct dir *d)
{
	struct dir *c;

	inotify_disarm_dir(d);
	for (c = d->child; c != NULL; c = c->snext)
		dir_disarm_tree(c);
}

/* Moves a root from inotify to polling, saying why; why NULL means the
 * watch limit was reached. */
void
root_fallback(struct root *r, const char *why)
{
	if (r->backend == BACKEND_POLL)
		return;
	if (why == NULL)
		log_warnx("%s: inotify watch limit reached "
		    "(fs.inotify.max_user_watches=%ld, max_user_instances=%ld); "
		    "polling every %gs instead",
		    log_esc(r->conf.display), inotify_limit("max_user_watches"),
		    inotify_limit("max_user_instances"), rd->conf.interval);
	else
		log_info("%s: %s; polling every %gs", log_esc(r->conf.display),
		    why, rd->conf.interval);
	r->backend = BACKEND_POLL;
	r->nospace = 0;
	if (r->top != NULL)
		dir_disarm_tree(r->top);
	poll_update();
}

/* Decides how a root that exists is to be watched. */
static void
root_pick_backend(struct root *r)
{
	const char *fs;
	char why[128];

	if (r->conf.backend == BACKEND_POLL) {
		r->backend = BACKEND_POLL;
		return;
	}
	r->backend = BACKEND_INOTIFY;
	if (rd->ifd == -1) {
		r->backend = BACKEND_POLL;
		if (r->conf.backend == BACKEND_INOTIFY)
			log_warnx("%s: inotify is not available; polling every "
			    "%gs", log_esc(r->conf.display), rd->conf.interval);
		return;
	}
	if (r->conf.backend == BACKEND_AUTO &&
	    !inotify_fs_works(r->conf.path, &fs)) {
		snprintf(why, sizeof(why), "on %s, which gives no inotify "
		    "events for changes made elsewhere", fs);
		r->backend = BACKEND_INOTIFY;
		root_fallback(r, why);
	}
}

/* Starts watching a root whose directory exists; logs it missing (once)
 * otherwise.  Files found by a live arm are new, and reported as added. */
void
root_arm(struct root *r, int live)
{
	struct stat sb;
	struct dir *owner;
	const char *why = NULL;

	if (r->top != NULL || r->shadowed)
		return;
	if (stat(r->conf.path, &sb) == -1)
		why = strerror(errno);
	else if (!S_ISDIR(sb.st_mode))
		why = "not a directory";
	if (why != NULL) {
		if (!r->missing_logged)
			log_warnx("%s: %s; watching for it to appear",
			    log_esc(r->conf.display), why);
		r->missing_logged = 1;
		return;
	}
	if ((owner = dir_by_ino(sb.st_dev, sb.st_ino)) != NULL) {
		log_warnx("%s is already watched as part of %s; its own "
		    "settings do not apply", log_esc(r->conf.display),
		    log_esc(owner->root->conf.display));
		r->shadowed = 1;
		return;
	}
	root_pick_backend(r);
	if ((r->top = dir_add(r, NULL, r->conf.path, &sb)) == NULL)
		return;
	dir_scan(r->top, live, 1);
	if (r->nospace)
		root_fallback(r, NULL);
	if (r->missing_logged)
		log_info("%s appeared; watching it (%s, %zu module%s)",
		    log_esc(r->conf.display), config_backend_name(r->backend),
		    r->nfiles, r->nfiles == 1 ? "" : "s");
	else
		log_info("watching %s (%s, %zu module%s)",
		    log_esc(r->conf.display), config_backend_name(r->backend),
		    r->nfiles, r->nfiles == 1 ? "" : "s");
	r->missing_logged = 0;
	/* Symlinks in it may lead elsewhere now. */
	if (live)
		wanted_refresh_linked();
	poll_update();
}

/* Stops watching a root and forgets its files without reporting them. */
void
root_disarm(struct root *r)
{
	struct file *f, *next;
	size_t i;

	/* Files can be detached from their directory, so walk the table. */
	for (i = 0; i < rd->files.nbuckets; i++) {
		for (f = rd->files.buckets[i]; f != NULL; f = next) {
			next = f->hnext;
			if (file_root(f) == r)
				file_free(f);
		}
	}
	if (r->top != NULL)
		dir_remove(r->top);
	r->top = NULL;
}

/* Arms every root that is missing but may have appeared, then sets up
 * the watches that tell when the others appear. */
void
roots_retry(void)
{
	struct root *r;
	int tries, missing, appeared;

	for (tries = 0; tries < 8; tries++) {
		missing = 0;
		for (r = rd->roots; r != NULL; r = r->next) {
			if (r->top == NULL && !r->shadowed)
				root_arm(r, 1);
			if (r->top == NULL && !r->shadowed)
				missing++;
		}
		if (missing == 0 || rd->ifd == -1)
			break;
		inotify_wait_missing();
		/* A root made while the ancestor watches were being set up
		 * raised no event for them: look once more. */
		appeared = 0;
		for (r = rd->roots; r != NULL; r = r->next)
			if (r->top == NULL && !r->shadowed &&
			    access(r->conf.path, F_OK) == 0)
				appeared++;
		if (appeared == 0)
			break;
	}
	poll_update();
}

/* Finds the live root made for clients' modules in directory path. */
static struct root *
root_implicit(const char *path)
{
	struct root *r;

	r = htab_first(&rd->implicits, hash_str(path));
	for (; r != NULL; r = htab_next(&rd->implicits, r))
		if (strcmp(r->conf.path, path) == 0)
			return r;
	return NULL;
}

/* Returns the implicit root for directory dir, making and arming it if
 * there is none: one directory, no subdirectories, watched for as long as
 * a client needs a file or a site in it.  name, unless NULL, is the path
 * of a file a client needs there. */
static struct root *
root_implicit_get(const char *dir, const char *name)
{
	static const char *const none[] = { NULL };
	static char where[] = "a client";
	struct root_conf rc;
	struct root *r, **pp;

	if ((r = root_implicit(dir)) != NULL) {
		r->lingering = 0;
		if (name != NULL)
			tname_add(r, name);
		root_arm(r, 0);
		return r;
	}
	memset(&rc, 0, sizeof(rc));
	rc.path = (char *)dir;
	rc.display = (char *)dir;
	rc.include = (char **)none;
	rc.exclude = (char **)none;
	rc.backend = rd->conf.backend;
	rc.where = where;
	r = root_new(&rc);
	r->implicit = 1;
	htab_insert(&rd->implicits, r);
	for (pp = &rd->roots; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	if (name != NULL)
		tname_add(r, name);
	root_arm(r, 0);
	return r;
}

/* Stops watching an implicit root. */
static void
root_implicit_drop(struct root *r)
{
	struct root **pp;

	for (pp = &rd->roots; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	log_info("no longer watching %s: no client has a module there",
	    log_esc(r->conf.display));
	root_disarm(r);
	root_free(r);
	poll_update();
}

/* Drops the implicit roots that lingered long enough unneeded. */
static void
root_linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct root *r, *next;
	ev_tstamp now = ev_now(loop), first = 0;

	for (r = rd->roots; r != NULL; r = next) {
		next = r->next;
		if (!r->lingering)
			continue;
		if (now - r->idle_since >= IMPLICIT_LINGER)
			root_implicit_drop(r);
		else if (first == 0 || r->idle_since < first)
			first = r->idle_since;
	}
	if (first != 0) {
		ev_timer_set(&rd->linger_ev, first + IMPLICIT_LINGER - now,
		    0.);
		ev_timer_start(loop, &rd->linger_ev);
	}
}

/* Lets an implicit root that no file or site needs any more go, after
 * it lingered a while in case it is needed again. */
static void
root_implicit_put(struct root *r)
{
	if (!r->implicit || r->nfiles > 0 || r->nsites > 0 ||
	    r->names != NULL || r->lingering)
		return;
	if (rd->loop == NULL) {
		root_implicit_drop(r);
		return;
	}
	r->lingering = 1;
	r->idle_since = ev_now(rd->loop);
	if (!ev_is_active(&rd->linger_ev)) {
		ev_timer_set(&rd->linger_ev, IMPLICIT_LINGER, 0.);
		ev_timer_start(rd->loop, &rd->linger_ev);
	}
}

/* Reads the stamp of a file a client needs, if it is not known yet (new,
 * or left to the background reader); returns the file, or NULL if
 * reading found it gone. */
static struct file *
tree_read_now(struct file *f)
{
	char *path;

	if (f->state != FILE_NEW)
		return f;
	if (f->queued == QUEUED_UNREAD)
		batch_unqueue(f);
	if ((path = strdup(file_path(f))) == NULL)
		fatal("tree_read_now");
	batch_check(f, 1);
	/* Reading it may find it gone, and free it. */
	f = file_lookup(path);
	free(path);
	return f;
}

/*
 * Makes sure the file at path (absolute, symlinks resolved), which a
 * client has loaded, is watched and its stamp known.  A file under a
 * watched directory joins that directory; otherwise its directory is
 * watched on its own (not its subdirectories) for as long as a client
 * has a module there.  Returns the file, or NULL if it is not there.
 */
struct file *
tree_track(const char *path)
{
	struct stat sb;
	struct dir *d;
	struct file *f;
	char *dir, *fpath;

	if ((f = file_lookup(path)) != NULL) {
		if (file_root(f)->implicit)
			tname_add(file_root(f), path);
		return tree_read_now(f);
	}
	dir = path_dir(path);
	if (stat(dir, &sb) == -1) {
		free(dir);
		return NULL;
	}
	if ((d = dir_by_ino(sb.st_dev, sb.st_ino)) != NULL) {
		/* Known under the name its root gives it. */
		fpath = path_join(d->path, strrchr(path, '/') + 1);
		if (d->root->implicit)
			tname_add(d->root, fpath);
		f = tree_read_now(file_get(d->root, d, fpath));
		free(dir);
		free(fpath);
		return f;
	}
	root_implicit_get(dir, path);
	free(dir);
	return file_lookup(path);
}

/* Stops watching a file no client has loaded any more, unless the
 * configuration selects it, and a directory watched only for it. */
void
tree_untrack(const char *path)
{
	struct file *f;
	struct root *r = NULL;
	struct tname *t;

	if ((t = tname_lookup(path)) != NULL) {
		r = t->root;
		tname_del(t);
	}
	if ((f = file_lookup(path)) != NULL) {
		r = file_root(f);
		if (root_globs(r, path))
			return;
		file_free(f);
	}
	if (r != NULL)
		root_implicit_put(r);
}

/* Makes sure the directory holding a site (a symlink or a missing name a
 * registered path goes through) is watched; returns the implicit root
 * kept for it, or NULL where a configured root watches it. */
struct root *
tree_site_watch(const char *site)
{
	struct stat sb;
	struct dir *d;
	struct root *r;
	char *dir = path_dir(site);

	if (stat(dir, &sb) == 0 &&
	    (d = dir_by_ino(sb.st_dev, sb.st_ino)) != NULL) {
		r = d->root;
		if (!r->implicit) {
			free(dir);
			return NULL;
		}
	} else
		r = root_implicit_get(dir, NULL);
	free(dir);
	r->lingering = 0;
	r->nsites++;
	return r;
}

/* Lets a site's directory go, if nothing else needs it watched. */
void
tree_site_unwatch(struct root *r)
{
	if (r == NULL)
		return;
	r->nsites--;
	root_implicit_put(r);
}

/* Makes sure directory dir is watched with every entry in it listed, not
 * only the names clients need (a module set's directory: the caller scans
 * it); returns the implicit root kept for it, or NULL where a configured
 * root watches it. */
struct root *
tree_list_watch(const char *dir)
{
	char site[PATH_MAX];
	struct root *r;

	snprintf(site, sizeof(site), "%s/*", strcmp(dir, "/") ? dir : "");
	if ((r = tree_site_watch(site)) != NULL)
		r->nlisted++;
	return r;
}

/* Lets a listed directory go, if nothing else needs it watched. */
void
tree_list_unwatch(struct root *r)
{
	if (r == NULL)
		return;
	r->nlisted--;
	tree_site_unwatch(r);
}

/* Gives a file's stamp as a struct stamp; -1 if none is known. */
int
file_stamp(const struct file *f, struct stamp *st)
{
	memset(st, 0, sizeof(*st));
	if (!file_has_stamp(f) || f->state == FILE_BAD)
		return -1;
	st->kind = f->sbuf.kind;
	st->len = f->sbuf.len;
	memcpy(st->bytes, fstamp_bytes(f), st->len);
	return 0;
}

/* Reads again every file refused as a symlink out of the roots, after a
 * new configuration may allow it (follow-symlinks, a new root). */
void
tree_links_recheck(void)
{
	struct file *f;
	size_t i;

	for (i = 0; i < rd->files.nbuckets; i++)
		for (f = rd->files.buckets[i]; f != NULL; f = f->hnext)
			if (f->outside)
				batch_queue(f);
}
