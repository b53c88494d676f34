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
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "reloaderd.h"

#define BATCH_HOLD 10

/* How long a vanished module may stay away and still count as changed
 * rather than removed; it is reported between one and two of these
 * after it vanished. */
#define GONE_GRACE 0.5

static void batch_timer_cb(struct ev_loop *, ev_timer *, int);
static void batch_read(void);
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

/* Names the module in a file: as its stamp says, else after the file. */
static void
batch_module_name(const struct file *f, char *buf, size_t len)
{
	const char *base = strrchr(f->path, '/'), *dot;

	if (f->stamp != NULL && f->stamp->module != NULL) {
		snprintf(buf, len, "%s", f->stamp->module);
		return;
	}
	base = base ? base + 1 : f->path;
	dot = strchr(base, '.');
	snprintf(buf, len, "%.*s", dot ? (int)(dot - base) : (int)len, base);
}

/* Tells subscribers that a module was added, changed or removed. */
static void
batch_event(struct file *f, int how, const struct stamp *was)
{
	static const char *const hows[] = { "", "added", "changed",
	    "removed" };
	char buf[PROTO_MAX_LINE], stamp[PROTO_STAMP_MAX], name[256];
	struct proto_out o;
	struct stamp now;

	if (!ctl_subscribers())
		return;
	memset(&now, 0, sizeof(now));
	if (how != CHECK_REMOVED && f->stamp != NULL)
		file_stamp(f, &now);
	proto_start(&o, buf, sizeof(buf), "event");
	proto_add(&o, "type", "change");
	proto_add(&o, "how", hows[how]);
	proto_add(&o, "path", f->path);
	batch_module_name(f, name, sizeof(name));
	proto_add(&o, "module", name);
	proto_stamp_format(&now, stamp, sizeof(stamp));
	proto_add(&o, "stamp", stamp);
	proto_stamp_format(was, stamp, sizeof(stamp));
	proto_add(&o, "was", stamp);
	ctl_event(&o);
}

/* Cuts the settle window short: handles every change the kernel or a
 * poll pass can see now and runs the batch at once. */
void
batch_catch_up(void)
{
	struct root *r;

	inotify_drain();
	for (r = rd->roots; r != NULL; r = r->next)
		if (!r->shadowed && r->backend == BACKEND_POLL)
			poll_root(r);
	batch_read();
	/* No clients_reap: the caller is handling a client's line. */
	clients_flush();
}

/* Reads every queued file and reports what really changed. */
static void
batch_read(void)
{
	struct file *f;
	struct stamp was;
	size_t seen = 0, counts[4] = { 0, 0, 0, 0 };
	int rc;

	ev_timer_stop(rd->loop, &rd->settle_ev);
	while ((f = rd->queue) != NULL) {
		batch_unqueue(f);
		memset(&was, 0, sizeof(was));
		if (f->stamp != NULL)
			file_stamp(f, &was);
		rc = file_check(f, 0);
		if (rc == CHECK_ADDED || rc == CHECK_CHANGED)
			client_file_changed(f);
		if (rc != CHECK_NOTHING) {
			rd->stats.changes++;
			batch_event(f, rc, &was);
		}
		counts[rc]++;
		seen++;
	}
	if (seen > 0)
		log_debug("batch: %zu files looked at, %zu added, %zu "
		    "changed, %zu removed", seen, counts[CHECK_ADDED],
		    counts[CHECK_CHANGED], counts[CHECK_REMOVED]);
}

/* Reads the queued files and sends clients what changed for them. */
void
batch_run(void)
{
	batch_read();
	clients_flush();
	clients_reap();
}

/* Runs the batch when the settle window closes. */
static void
batch_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	batch_run();
}
