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
#include <stddef.h>

#include "reloaderd.h"

#define BATCH_HOLD 10

static void batch_timer_cb(struct ev_loop *, ev_timer *, int);

/* Sets up the empty queue and the settle timer. */
void
batch_init(void)
{
	rd->queue = NULL;
	rd->queue_tail = &rd->queue;
	rd->nqueued = 0;
	ev_init(&rd->settle_ev, batch_timer_cb);
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
		counts[rc]++;
		seen++;
	}
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
