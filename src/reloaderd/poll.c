/*
 * poll.c: the polling backend, for roots inotify cannot serve.
 *
 * Every interval, two things happen.  The files of modules that clients
 * have loaded are stat'ed at once, so that an edit to one is seen within
 * the interval however big the tree.  And, unless one is under way, a
 * sweep of the whole tree begins: each polled directory and file is
 * stat'ed, a slice of directories at a time, taking turns with events and
 * clients; a file whose size, mtime, ctime (both to the nanosecond) or
 * inode differ from what was seen last is queued, and a directory's
 * entries are read again only when its mtime moved.  So a sweep costs one
 * statx per watched file and one open and fstat per directory, and
 * nothing more; after a sweep longer than the interval, the next begins
 * at the first tick after it ended.  Missing roots and the symlinks on
 * registered paths are looked at every interval too.  Stat results younger than
 * a second are not trusted, since a second change within the same
 * timestamp tick would leave them equal; such files are read again on the
 * next sweep.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"

/* A sweep looks at directories for this long, at most, in one turn of
 * the loop. */
#define POLL_SLICE 0.01

static void poll_timer_cb(struct ev_loop *, ev_timer *, int);
static void poll_sweep_cb(struct ev_loop *, ev_timer *, int);
static void poll_sweep_end(void);

/* The sweep under way: the polled directories as it began, in the order
 * of a walk of each tree; a directory removed meanwhile leaves a NULL
 * (poll_forget_dir). */
static struct dir **sweep;
static size_t sweep_n, sweep_at;
static ev_tstamp sweep_began;
static enum poll_pace sweep_pace = PACE_QUICK;

/* Says whether any root is polled, or missing without inotify to wait. */
static int
poll_needed(void)
{
	struct root *r;

	for (r = rd->roots; r != NULL; r = r->next) {
		if (r->shadowed)
			continue;
		if (r->top != NULL && r->backend == BACKEND_POLL)
			return 1;
		if (r->top == NULL &&
		    (r->backend == BACKEND_POLL || rd->ifd == -1))
			return 1;
	}
	return 0;
}

/* Runs the poll timer exactly while something needs polling, so that an
 * inotify-only daemon never wakes up while nothing changes. */
void
poll_update(void)
{
	if (rd->loop == NULL)
		return;
	if (!poll_needed()) {
		ev_timer_stop(rd->loop, &rd->poll_ev);
		poll_sweep_end();
		return;
	}
	if (ev_is_active(&rd->poll_ev) &&
	    rd->poll_ev.repeat == rd->conf.interval)
		return;
	ev_timer_stop(rd->loop, &rd->poll_ev);
	ev_timer_init(&rd->poll_ev, poll_timer_cb, rd->conf.interval,
	    rd->conf.interval);
	ev_timer_start(rd->loop, &rd->poll_ev);
}

/* Stops the poll timer, and the sweep under way. */
void
poll_stop(void)
{
	if (rd->loop != NULL)
		ev_timer_stop(rd->loop, &rd->poll_ev);
	poll_sweep_end();
}

/* Returns the last component of a path, its name in its directory. */
static const char *
poll_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

/* Says whether a file's stat, as statx gave it at name relative to dfd,
 * differs from what was seen last; -1 when there is nothing there. */
static int
poll_file_differs(const struct file *f, int dfd, const char *name)
{
	struct statx sx;
	struct stat sb;

	if (statx(dfd, name, AT_STATX_SYNC_AS_STAT,
	    STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME, &sx) == -1)
		return -1;
	memset(&sb, 0, sizeof(sb));
	sb.st_ino = sx.stx_ino;
	sb.st_size = (off_t)sx.stx_size;
	sb.st_mtim.tv_sec = sx.stx_mtime.tv_sec;
	sb.st_mtim.tv_nsec = sx.stx_mtime.tv_nsec;
	sb.st_ctim.tv_sec = sx.stx_ctime.tv_sec;
	sb.st_ctim.tv_nsec = sx.stx_ctime.tv_nsec;
	return file_stat_differs(f, &sb);
}

/* Queues a file whose stat moved, or that came back while it was
 * counted gone. */
static void
poll_file(struct file *f, int dfd, const char *name)
{
	if (f->queued)
		return;
	if (f->state == FILE_GONE) {
		/* The grace timer reports it; only a return matters. */
		if (poll_file_differs(f, dfd, name) != -1)
			batch_queue(f);
		return;
	}
	if (f->racy || poll_file_differs(f, dfd, name) != 0)
		batch_queue(f);
}

/*
 * Compares a directory's own files with what was seen last, and returns
 * its descriptor (-1 if it is gone, and forgotten).  The directory is
 * opened (O_PATH) relative to its parent's descriptor, and its files are
 * looked at relative to it, with statx asking only for the fields
 * compared: the kernel walks one component per look, not the whole path,
 * and a directory renamed meanwhile is found missing at its own name, as
 * a path would find it.  pfd is the parent's descriptor, or AT_FDCWD for
 * an absolute d->path.
 */
static int
poll_dir_files(struct dir *d, int pfd)
{
	struct stat sb;
	struct file *f, *fnext;
	int fd;

	fd = openat(pfd, pfd == AT_FDCWD ? d->path : poll_name(d->path),
	    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISDIR(sb.st_mode) ||
	    sb.st_dev != d->dev || sb.st_ino != d->ino) {
		if (fd != -1)
			close(fd);
		if (d == d->root->top) {
			log_info("%s was removed; waiting for it to come back",
			    log_esc(d->root->conf.display));
			d->root->missing_logged = 1;
		}
		dir_remove(d);
		return -1;
	}
	if (d->racy || tree_ns(&sb.st_mtim) != d->mtime)
		dir_scan(d, 1, 0);
	for (f = d->files; f != NULL; f = fnext) {
		fnext = f->dnext;
		poll_file(f, fd, f->name);
	}
	return fd;
}

/* Compares a directory and everything under it with what was seen last,
 * at once. */
static void
poll_dir(struct dir *d, int pfd)
{
	struct dir *sub, *snext;
	int fd;

	if ((fd = poll_dir_files(d, pfd)) == -1)
		return;
	for (sub = d->child; sub != NULL; sub = snext) {
		snext = sub->snext;
		poll_dir(sub, fd);
	}
	close(fd);
}

/* Polls one root at once, arming it first if it has appeared. */
void
poll_root(struct root *r)
{
	if (r->top == NULL)
		root_arm(r, 1);
	else
		poll_dir(r->top, AT_FDCWD);
}

/* Queues a loaded module's file that is there again after its node went
 * with it (gone past the grace period), as the sweep would find it in
 * its polled directory: a new file, compared with what the client runs. */
static void
poll_loaded_back(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat sb;
	struct dir *d;

	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir) ||
	    lstat(path, &sb) == -1)
		return;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (stat(slash == path ? "/" : dir, &sb) == -1 ||
	    (d = dir_by_ino(sb.st_dev, sb.st_ino)) == NULL ||
	    d->root->backend != BACKEND_POLL || d->root->shadowed ||
	    !root_matches(d->root, path))
		return;
	batch_queue(file_get(d->root, d, path));
}

/* Stats the file of every module a client has loaded from a polled
 * root, so that its edit is seen within the interval whatever the sweep
 * is doing. */
static void
poll_loaded(void)
{
	struct wtarget *t;
	struct file *f;
	size_t i;

	for (i = 0; i < rd->targets.nbuckets; i++)
		for (t = rd->targets.buckets[i]; t != NULL; t = t->hnext) {
			if ((f = file_lookup(t->path)) == NULL)
				poll_loaded_back(t->path);
			else if (file_root(f)->backend == BACKEND_POLL &&
			    !file_root(f)->shadowed)
				poll_file(f, AT_FDCWD, t->path);
		}
}

/* Adds d and every directory under it to the sweep, in walk order. */
static void
poll_sweep_add(struct dir *d, size_t *cap)
{
	struct dir **nv, *sub;

	if (sweep_n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		if ((nv = reallocarray(sweep, *cap, sizeof(*nv))) == NULL)
			fatal("poll_sweep_add");
		sweep = nv;
	}
	sweep[sweep_n++] = d;
	d->sweep_slot = (unsigned int)sweep_n;
	for (sub = d->child; sub != NULL; sub = sub->snext)
		poll_sweep_add(sub, cap);
}

/* Arms every root that is missing and that polling waits for, if it has
 * appeared. */
static void
poll_arm_missing(void)
{
	struct root *r;

	for (r = rd->roots; r != NULL; r = r->next)
		if (!r->shadowed && r->top == NULL &&
		    (r->backend == BACKEND_POLL || rd->ifd == -1))
			root_arm(r, 1);
}

/* Begins a sweep of every polled root. */
static void
poll_sweep_begin(void)
{
	struct root *r;
	size_t cap = 0;

	for (r = rd->roots; r != NULL; r = r->next)
		if (!r->shadowed && r->top != NULL &&
		    r->backend == BACKEND_POLL)
			poll_sweep_add(r->top, &cap);
	if (sweep_n == 0) {
		poll_sweep_end();
		return;
	}
	sweep_at = 0;
	sweep_began = ev_time();
	ev_timer_stop(rd->loop, &rd->sweep_ev);
	ev_init(&rd->sweep_ev, poll_sweep_cb);
	ev_timer_set(&rd->sweep_ev, 0., 0.);
	ev_timer_start(rd->loop, &rd->sweep_ev);
}

/* Ends the sweep under way, if any, where it is. */
static void
poll_sweep_end(void)
{
	size_t i;

	if (rd->loop != NULL)
		ev_timer_stop(rd->loop, &rd->sweep_ev);
	for (i = sweep_at; i < sweep_n; i++)
		if (sweep[i] != NULL)
			sweep[i]->sweep_slot = 0;
	free(sweep);
	sweep = NULL;
	sweep_n = sweep_at = 0;
}

/* Takes a directory out of the sweep under way, as it goes away. */
void
poll_forget_dir(struct dir *d)
{
	if (d->sweep_slot != 0 && d->sweep_slot <= sweep_n)
		sweep[d->sweep_slot - 1] = NULL;
	d->sweep_slot = 0;
}

/* Says whether tests hold the sweep back after its first directory:
 * while the file RELOADERD_TEST_SWEEP_GATE names does not exist. */
static int
poll_gate_closed(void)
{
	const char *gate = getenv("RELOADERD_TEST_SWEEP_GATE");

	return gate != NULL && sweep_at > 0 && access(gate, F_OK) == -1;
}

/* The pace of sweeps after one that took took seconds: slow once one
 * outlasts the interval, quick again once one takes under half of it,
 * so that sweeps near the interval do not fill the log with each way. */
enum poll_pace
poll_pace_next(enum poll_pace p, double took, double interval)
{
	switch (p) {
	case PACE_QUICK:
		return took > interval ? PACE_SLOW : PACE_QUICK;
	case PACE_SLOW:
		return took < interval / 2 ? PACE_QUICK : PACE_SLOW;
	}
	return p;
}

/* Sweeps the next slice of directories; at the end, notes how long the
 * whole sweep took, and says so when sweeps come to outlast the interval
 * or stop doing so. */
static void
poll_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_tstamp until = ev_time() + POLL_SLICE, took;
	enum poll_pace pace;
	struct dir *d;
	size_t n = 0;
	int fd;

	while (sweep_at < sweep_n) {
		if (poll_gate_closed()) {
			ev_timer_set(w, 0.02, 0.);
			ev_timer_start(loop, w);
			return;
		}
		if ((d = sweep[sweep_at++]) == NULL)
			continue;
		d->sweep_slot = 0;
		/* Its parent's descriptor is long closed: from its path. */
		if ((fd = poll_dir_files(d, AT_FDCWD)) != -1)
			close(fd);
		if ((++n & 7) == 0 && ev_time() > until)
			break;
	}
	if (sweep_at < sweep_n) {
		ev_timer_set(w, 0., 0.);
		ev_timer_start(loop, w);
		return;
	}
	took = ev_time() - sweep_began;
	poll_sweep_end();
	pace = poll_pace_next(sweep_pace, took, rd->conf.interval);
	if (pace == sweep_pace)
		return;
	sweep_pace = pace;
	if (pace == PACE_SLOW)
		log_info("a poll sweep of every watched file takes %.2f s, "
		    "longer than the interval (%.2f s): the modules clients "
		    "have loaded are looked at every interval, the rest once "
		    "a sweep", took, rd->conf.interval);
	else
		log_info("a poll sweep takes %.2f s again, under half the "
		    "interval", took);
}

/* Every interval: looks at the modules clients have loaded, at missing
 * roots and at the symlinks on registered paths, and begins a sweep of
 * the polled roots unless one is under way. */
static void
poll_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	poll_loaded();
	poll_arm_missing();
	wanted_poll_sites();
	if (sweep == NULL)
		poll_sweep_begin();
	poll_update();
}
