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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "reloaderd.h"

#define BATCH_HOLD 10

/* Files and directories that could not be read are tried again after
 * these many seconds at first, doubling up to the second. */
#define BATCH_RETRY_MIN 0.05
#define BATCH_RETRY_MAX 5.0

/* The background reader of first stamps reads at most this many files,
 * or for this long, at each turn of the loop, so that events and clients
 * wait for it no longer than that. */
#define READ_CHUNK 256
#define READ_SLICE 0.005

/* How long a vanished module may stay away and still count as changed
 * rather than removed; it is reported between one and two of these
 * after it vanished. */
#define GONE_GRACE 0.5

static void batch_timer_cb(struct ev_loop *, ev_timer *, int);
static size_t batch_read(void);
static void batch_gone_cb(struct ev_loop *, ev_timer *, int);
static void batch_retry_arm(void);
static void batch_retry_cb(struct ev_loop *, ev_timer *, int);
static void batch_read_cb(struct ev_loop *, ev_timer *, int);
static void batch_gate_cb(struct ev_loop *, ev_timer *, int);

/* Sets up the empty queues and the timers. */
void
batch_init(void)
{
	memset(&rd->queue, 0, sizeof(rd->queue));
	memset(&rd->unread, 0, sizeof(rd->unread));
	rd->nunread = 0;
	ev_init(&rd->read_ev, batch_read_cb);
	ev_init(&rd->read_gate_ev, batch_gate_cb);
	ev_init(&rd->settle_ev, batch_timer_cb);
	ev_init(&rd->gone_ev, batch_gone_cb);
	ev_init(&rd->retry_ev, batch_retry_cb);
	rd->retry_wait = BATCH_RETRY_MIN;
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
			if (stat(file_path(f), &sb) == 0)
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

/* Starts the settle timer at the first change of a batch, or restarts it
 * at a later one, but never past the batch's longest hold. */
void
batch_arm(void)
{
	ev_tstamp now = ev_now(rd->loop), left;

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

/* Runs the batch now if its settle window is zero: the loop would only
 * come round to it, a turn later, with nothing else to wait for. */
void
batch_due(void)
{
	if (rd->conf.settle > 0 || !ev_is_active(&rd->settle_ev))
		return;
	ev_timer_stop(rd->loop, &rd->settle_ev);
	batch_run();
}

/* Takes a file out of the queue of first stamps to read. */
static void
batch_unread_del(struct file *f)
{
	fq_del(&rd->unread, f);
	f->queued = 0;
	file_root(f)->nunread--;
	rd->nread++;
	if (--rd->nunread == 0 && rd->loop != NULL) {
		ev_timer_stop(rd->loop, &rd->read_ev);
		log_info("read the stamps of %zu files found at start in "
		    "%.2f s", rd->nread, ev_time() - rd->read_start);
		notify_status_changed();
	}
}

/*
 * Queues a file found by the first scan, whose stat is noted, to have
 * its first stamp read in the background, while the loop is idle: the
 * daemon is ready once its watches are armed, not once every module is
 * read.  A file an event points at meanwhile leaves this queue for the
 * batch's, and file_check keeps the promise: a file whose stat is still
 * the scan's holds what was there at the scan, and becomes known; one
 * whose stat moved was rewritten since, and is reported changed.
 */
void
batch_unread(struct file *f)
{
	if (f->queued)
		return;
	f->queued = QUEUED_UNREAD;
	fq_push(&rd->unread, f);
	file_root(f)->nunread++;
	if (rd->nunread++ == 0 && rd->loop != NULL) {
		rd->read_start = ev_time();
		rd->nread = 0;
		ev_timer_set(&rd->read_ev, 0., 0.);
		ev_timer_start(rd->loop, &rd->read_ev);
	}
}

/* Queues a file to be read when the batch settles. */
void
batch_queue(struct file *f)
{
	if (f->queued == QUEUED_BATCH)
		return;
	if (f->queued == QUEUED_UNREAD)
		batch_unread_del(f);
	f->queued = QUEUED_BATCH;
	fq_push(&rd->queue, f);
	batch_arm();
}

/* Takes a file out of the queue, if it is there. */
void
batch_unqueue(struct file *f)
{
	if (!f->queued)
		return;
	if (f->queued == QUEUED_UNREAD) {
		batch_unread_del(f);
		return;
	}
	fq_del(&rd->queue, f);
	f->queued = 0;
	if (rd->queue.n == 0 && rd->loop != NULL && rd->requeue == NULL)
		ev_timer_stop(rd->loop, &rd->settle_ev);
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
	if (how != CHECK_REMOVED && file_has_stamp(f))
		file_stamp(f, &now);
	proto_start(&o, buf, sizeof(buf), "event");
	proto_add(&o, "type", "change");
	proto_add(&o, "how", hows[how]);
	proto_add(&o, "path", file_path(f));
	file_module_name(f, name, sizeof(name));
	proto_add(&o, "module", name);
	proto_stamp_format(&now, stamp, sizeof(stamp));
	proto_add(&o, "stamp", stamp);
	proto_stamp_format(was, stamp, sizeof(stamp));
	proto_add(&o, "was", stamp);
	ctl_event_about(&o, file_path(f));
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
	wanted_poll_sites();
	batch_read();
	/* No clients_reap: the caller is handling a client's line. */
	clients_flush();
}

/* Reads a file's stamp and tells clients and subscribers what changed;
 * returns what file_check found.  May free f. */
int
batch_check(struct file *f, int initial)
{
	struct stamp was;
	int rc;

	memset(&was, 0, sizeof(was));
	if (file_has_stamp(f))
		file_stamp(f, &was);
	rc = file_check(f, initial);
	if (rc != CHECK_REMOVED && rc != CHECK_FORGOTTEN)
		client_file_checked(f, rc);
	if (rc != CHECK_NOTHING && rc != CHECK_FORGOTTEN) {
		rd->stats.changes++;
		batch_event(f, rc, &was);
	}
	return rc;
}

/* Says whether tests hold the background reader back: while the file
 * RELOADERD_TEST_READ_GATE names does not exist, nothing is read, so
 * that a test can act on files whose stamps are not read yet. */
static int
batch_gate_closed(void)
{
	const char *gate = getenv("RELOADERD_TEST_READ_GATE");

	return gate != NULL && access(gate, F_OK) == -1;
}

/* Looks again whether the tests' gate opened. */
static void
batch_gate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (rd->nunread > 0) {
		ev_timer_set(&rd->read_ev, 0., 0.);
		ev_timer_start(loop, &rd->read_ev);
	}
}

/* Reads first stamps a slice at a time, taking turns with whatever else
 * the loop has to do: a timer due at once, set again after each slice,
 * so that neither a busy poller nor a stream of events starves it, nor
 * it them.  batch_unread_del says when they are all read. */
static void
batch_read_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_tstamp until = ev_time() + READ_SLICE;
	struct file *f;
	int n;

	if (batch_gate_closed()) {
		ev_timer_set(&rd->read_gate_ev, 0.02, 0.);
		ev_timer_start(loop, &rd->read_gate_ev);
		return;
	}
	for (n = 0; n < READ_CHUNK && (f = fq_first(&rd->unread)) != NULL;
	    n++) {
		batch_unread_del(f);
		batch_check(f, 1);
		if ((n & 15) == 15 && ev_time() > until)
			break;
	}
	clients_flush();
	if (rd->nunread > 0) {
		ev_timer_set(w, 0., 0.);
		ev_timer_start(loop, w);
	}
}

/* Reads every queued file and reports what really changed; first the
 * registered paths whose symlinks moved are resolved again.  Returns how
 * many changes it found. */
static size_t
batch_read(void)
{
	struct file *f;
	size_t seen = 0, changes, counts[5] = { 0, 0, 0, 0, 0 };
	int rc;

	ev_timer_stop(rd->loop, &rd->settle_ev);
	changes = wanted_run();
	while ((f = fq_first(&rd->queue)) != NULL) {
		batch_unqueue(f);
		rc = batch_check(f, 0);
		if (rc != CHECK_NOTHING && rc != CHECK_FORGOTTEN)
			changes++;
		counts[rc]++;
		seen++;
	}
	if (seen > 0)
		log_debug("batch: %zu files looked at, %zu added, %zu "
		    "changed, %zu removed", seen, counts[CHECK_ADDED],
		    counts[CHECK_CHANGED], counts[CHECK_REMOVED]);
	return changes;
}

/* Reads the queued files and sends clients what changed for them.  With
 * no hold, changes that settled are a build that ended. */
void
batch_run(void)
{
	log_hold();
	if (batch_read() > 0)
		clients_build_ended();
	clients_flush();
	log_release();
	clients_reap();
}

/* Adds p to a set kept as an array, unless it is there. */
static void
batch_set_add(void ***v, size_t *n, void *p)
{
	void **nv;
	size_t i;

	for (i = 0; i < *n; i++)
		if ((*v)[i] == p)
			return;
	if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL)
		fatal("batch_set_add");
	*v = nv;
	(*v)[(*n)++] = p;
}

/* Takes p out of a set kept as an array, if it is there. */
static void
batch_set_del(void **v, size_t *n, void *p)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (v[i] == p) {
			v[i] = v[--*n];
			return;
		}
}

/* Reads a file again later, after it could not be read for now; the delay
 * doubles each round that something still fails, up to a limit. */
void
batch_retry(struct file *f)
{
	batch_set_add(&rd->retry, &rd->nretry, f);
	batch_retry_arm();
}

/* Forgets a file that is read again later. */
void
batch_unretry(struct file *f)
{
	batch_set_del(rd->retry, &rd->nretry, f);
}

/* Lists a directory again later, after it could not be read for now. */
void
batch_retry_dir(struct dir *d)
{
	batch_set_add(&rd->retry_dirs, &rd->nretry_dirs, d);
	batch_retry_arm();
}

/* Forgets a directory that is listed again later. */
void
batch_unretry_dir(struct dir *d)
{
	batch_set_del(rd->retry_dirs, &rd->nretry_dirs, d);
}

/* Starts the retry timer, unless it runs. */
static void
batch_retry_arm(void)
{
	if (rd->loop == NULL || ev_is_active(&rd->retry_ev))
		return;
	if (rd->retry_wait < BATCH_RETRY_MIN)
		rd->retry_wait = BATCH_RETRY_MIN;
	ev_timer_set(&rd->retry_ev, rd->retry_wait, 0.);
	ev_timer_start(rd->loop, &rd->retry_ev);
}

/* Reads again what could not be read: directories are listed, files
 * queued and the batch run at once.  What fails again waits longer. */
static void
batch_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dir *d;

	while (rd->nretry_dirs > 0) {
		d = rd->retry_dirs[--rd->nretry_dirs];
		dir_scan(d, 1, 0);
	}
	while (rd->nretry > 0)
		batch_queue(rd->retry[--rd->nretry]);
	rd->retry_wait *= 2;
	if (rd->retry_wait > BATCH_RETRY_MAX)
		rd->retry_wait = BATCH_RETRY_MAX;
	batch_run();
	if (rd->nretry == 0 && rd->nretry_dirs == 0)
		rd->retry_wait = BATCH_RETRY_MIN;
}

/* Runs the batch when the settle window closes. */
static void
batch_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	batch_run();
}
