/*
 * batch.c: the settle window that turns changes arriving together into
 * one batch.
 *
 * A file an event points at is queued, not read: the settle timer starts
 * at the first one and restarts with each further one, so a `make -j`
 * writing many modules becomes one batch, and a file written twice in
 * quick succession is read once.  So that a build that never pauses
 * cannot starve the log, a batch is cut at most BATCH_HOLD settle
 * windows after its first change (and never later than one second).
 */
#include <sys/stat.h>

#include <stddef.h>

#include "reloaderd.h"

#define BATCH_HOLD 10

/* How long a vanished module may stay away and still count as changed
 * rather than removed; it is reported between one and two of these
 * after it vanished. */
#define GONE_GRACE 0.5

static void batch_timer_cb(struct ev_loop *, ev_timer *, int);
static void batch_gone_cb(struct ev_loop *, ev_timer *, int);

/* Sets up the empty queue and the settle timer. */
void
batch_init(void)
{
	rd->queue = NULL;
	rd->queue_tail = &rd->queue;
	rd->nqueued = 0;
	ev_init(&rd->settle_ev, batch_timer_cb);
	ev_init(&rd->gone_ev, batch_gone_cb);
}

/* Starts the grace period of a module that vanished. */
void
batch_gone(struct file *f)
{
	f->gonegen = rd->gonegen;
	rd->ngone++;
	if (!ev_is_active(&rd->gone_ev)) {
		ev_timer_set(&rd->gone_ev, GONE_GRACE, 0.);
		ev_timer_start(rd->loop, &rd->gone_ev);
	}
}

/* Reports the modules that stayed away a whole grace period; those that
 * vanished in the current one wait for the next. */
static void
batch_gone_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct file *f, *next;
	struct stat sb;
	size_t i;

	for (i = 0; i < rd->files.nbuckets && rd->ngone > 0; i++) {
		for (f = rd->files.buckets[i]; f != NULL; f = next) {
			next = f->hnext;
			if (f->state != FILE_GONE || f->gonegen == rd->gonegen)
				continue;
			/* Back without an event we saw (a hard link): read it. */
			if (stat(f->path, &sb) == 0)
				batch_queue(f);
			else
				file_gone(f);
		}
	}
	rd->gonegen++;
	if (rd->ngone > 0) {
		ev_timer_set(&rd->gone_ev, GONE_GRACE, 0.);
		ev_timer_start(loop, &rd->gone_ev);
	}
}

/* Returns the longest a batch may be held open, in seconds. */
static ev_tstamp
batch_hold(void)
{
	ev_tstamp hold = rd->conf.settle * BATCH_HOLD;

	if (hold > 1.0)
		hold = rd->conf.settle > 1.0 ? rd->conf.settle : 1.0;
	return hold;
}

/* Queues a file to be read when the batch settles. */
void
batch_queue(struct file *f)
{
	ev_tstamp now = ev_now(rd->loop), left;

	if (f->queued)
		return;
	f->queued = 1;
	f->qnext = NULL;
	f->qprev = rd->queue_tail;
	*rd->queue_tail = f;
	rd->queue_tail = &f->qnext;
	rd->nqueued++;

	if (!ev_is_active(&rd->settle_ev)) {
		rd->batch_start = now;
		left = rd->conf.settle;
	} else {
		left = rd->batch_start + batch_hold() - now;
		if (left > rd->conf.settle)
			left = rd->conf.settle;
		if (left < 0)
			left = 0;
		ev_timer_stop(rd->loop, &rd->settle_ev);
	}
	ev_timer_set(&rd->settle_ev, left, 0.);
	ev_timer_start(rd->loop, &rd->settle_ev);
}

/* Takes a file out of the queue, if it is there. */
void
batch_unqueue(struct file *f)
{
	if (!f->queued)
		return;
	*f->qprev = f->qnext;
	if (f->qnext != NULL)
		f->qnext->qprev = f->qprev;
	else
		rd->queue_tail = f->qprev;
	f->queued = 0;
	f->qnext = NULL;
	f->qprev = NULL;
	if (--rd->nqueued == 0 && rd->loop != NULL)
		ev_timer_stop(rd->loop, &rd->settle_ev);
}

/* Reads every queued file and reports what really changed. */
void
batch_run(void)
{
	struct file *f;
	size_t seen = 0, counts[4] = { 0, 0, 0, 0 };
	int rc;

	ev_timer_stop(rd->loop, &rd->settle_ev);
	while ((f = rd->queue) != NULL) {
		batch_unqueue(f);
		rc = file_check(f, 0);
		if (rc == CHECK_ADDED || rc == CHECK_CHANGED)
			client_file_changed(f);
		counts[rc]++;
		seen++;
	}
	clients_flush();
	clients_reap();
	log_debug("batch: %zu files looked at, %zu added, %zu changed, "
	    "%zu removed", seen, counts[CHECK_ADDED], counts[CHECK_CHANGED],
	    counts[CHECK_REMOVED]);
}

/* Runs the batch when the settle window closes. */
static void
batch_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	batch_run();
}
