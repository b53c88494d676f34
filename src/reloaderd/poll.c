/*
 * poll.c: the polling backend, for roots inotify cannot serve.
 *
 * An interval after the last cycle ended, each polled directory and file
 * is stat'ed: a file whose
 * size, mtime, ctime (both to the nanosecond) or inode differ from what
 * was seen last is queued; a directory's entries are read again only
 * when its mtime moved.  So a tick costs one statx per watched file and
 * one open and fstat per directory, each relative to the directory's
 * descriptor, and nothing more.  Stat results younger than a second are
 * not trusted, since a second change within the same timestamp tick
 * would leave them equal; such files are read again on the next tick.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"

static void poll_timer_cb(struct ev_loop *, ev_timer *, int);

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

/* Stops the poll timer. */
void
poll_stop(void)
{
	if (rd->loop != NULL)
		ev_timer_stop(rd->loop, &rd->poll_ev);
}

/* Returns the last component of a path, its name in its directory. */
static const char *
poll_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

/* Says whether a file's stat, as statx gave it, differs from what was
 * seen last; -1 when there is nothing there. */
static int
poll_file_differs(const struct file *f, int dfd)
{
	struct statx sx;
	struct stat sb;

	if (statx(dfd, f->name, AT_STATX_SYNC_AS_STAT,
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

/*
 * Compares a directory and its files with what was seen last.  Each
 * directory is opened (O_PATH) relative to its parent's descriptor, and
 * its files are looked at relative to it, with statx asking only for the
 * fields compared: the kernel walks one component per look, not the
 * whole path, and a directory renamed meanwhile is found missing at its
 * own name, as a path would find it.  pfd is the parent's descriptor, or
 * AT_FDCWD for a root's top directory (d->path is absolute).
 */
static void
poll_dir(struct dir *d, int pfd)
{
	struct stat sb;
	struct dir *sub, *snext;
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
		return;
	}
	if (d->racy || tree_ns(&sb.st_mtim) != d->mtime)
		dir_scan(d, 1, 0);
	for (f = d->files; f != NULL; f = fnext) {
		fnext = f->dnext;
		if (f->queued)
			continue;
		if (f->state == FILE_GONE) {
			/* The grace timer reports it; only a return matters. */
			if (poll_file_differs(f, fd) != -1)
				batch_queue(f);
			continue;
		}
		if (f->racy || poll_file_differs(f, fd) != 0)
			batch_queue(f);
	}
	for (sub = d->child; sub != NULL; sub = snext) {
		snext = sub->snext;
		poll_dir(sub, fd);
	}
	close(fd);
}

/* Polls one root, arming it first if it has appeared. */
void
poll_root(struct root *r)
{
	if (r->top == NULL)
		root_arm(r, 1);
	else
		poll_dir(r->top, AT_FDCWD);
}

/* Polls every polled root, and looks for missing roots to appear. */
static void
poll_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct root *r;

	for (r = rd->roots; r != NULL; r = r->next) {
		if (r->shadowed)
			continue;
		if (r->top != NULL && r->backend == BACKEND_POLL)
			poll_dir(r->top, AT_FDCWD);
		else if (r->top == NULL &&
		    (r->backend == BACKEND_POLL || rd->ifd == -1))
			root_arm(r, 1);
	}
	wanted_poll_sites();
	poll_update();
	/* The next cycle an interval after this one ended, not after it
	 * began: a cycle longer than the interval must leave the loop time
	 * for events, clients and the stamps being read. */
	if (ev_is_active(w)) {
		ev_now_update(loop);    /* the loop's time is the cycle's start */
		ev_timer_again(loop, w);
	}
}
