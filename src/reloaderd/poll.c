/*
 * poll.c: the polling backend, for roots inotify cannot serve.
 *
 * Every interval each polled directory and file is stat'ed: a file whose
 * size, mtime, ctime (both to the nanosecond) or inode differ from what
 * was seen last is queued; a directory's entries are read again only
 * when its mtime moved.  So a tick costs one stat per watched file and
 * directory, and nothing more.  Stat results younger than a second are
 * not trusted, since a second change within the same timestamp tick
 * would leave them equal; such files are read again on the next tick.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>

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

/* Compares a directory and its files with what was seen last. */
static void
poll_dir(struct dir *d)
{
	struct stat sb;
	struct dir *sub, *snext;
	struct file *f, *fnext;

	if (lstat(d->path, &sb) == -1 || !S_ISDIR(sb.st_mode) ||
	    sb.st_dev != d->dev || sb.st_ino != d->ino) {
		if (d == d->root->top) {
			log_info("%s was removed; waiting for it to come back",
			    log_esc(d->root->conf.display));
			d->root->missing_logged = 1;
		}
		dir_remove(d);
		return;
	}
	if (d->racy || sb.st_mtim.tv_sec != d->mtime.tv_sec ||
	    sb.st_mtim.tv_nsec != d->mtime.tv_nsec)
		dir_scan(d, 1, 0);
	for (f = d->files; f != NULL; f = fnext) {
		fnext = f->dnext;
		if (f->queued)
			continue;
		if (f->state == FILE_GONE) {
			/* The grace timer reports it; only a return matters. */
			if (stat(f->path, &sb) == 0)
				batch_queue(f);
			continue;
		}
		if (f->racy || stat(f->path, &sb) == -1 ||
		    file_stat_differs(f, &sb))
			batch_queue(f);
	}
	for (sub = d->child; sub != NULL; sub = snext) {
		snext = sub->snext;
		poll_dir(sub);
	}
}

/* Polls one root, arming it first if it has appeared. */
void
poll_root(struct root *r)
{
	if (r->top == NULL)
		root_arm(r, 1);
	else
		poll_dir(r->top);
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
			poll_dir(r->top);
		else if (r->top == NULL &&
		    (r->backend == BACKEND_POLL || rd->ifd == -1))
			root_arm(r, 1);
	}
	wanted_poll_sites();
	poll_update();
}
