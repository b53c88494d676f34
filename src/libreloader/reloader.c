/*
 * reloader.c: the handle: creating and freeing it, its settings, its
 * error message, and delivering its events.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libreloader.h"

/* Handles alive, so the last one out can put the signal handlers back. */
static unsigned int reloader_handles;
static pthread_mutex_t reloader_handles_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Returns the library's version string. */
const char *
reloader_version(void)
{
	return RELOADER_VERSION_STRING;
}

/* Returns the library's version as a number. */
int
reloader_version_number(void)
{
	return RELOADER_VERSION_NUMBER;
}

/* Returns the printable name of a status. */
const char *
reloader_status_name(enum reloader_status s)
{
	switch (s) {
	case RELOADER_OK:
		return "ok";
	case RELOADER_LOAD_FAILED:
		return "load failed";
	case RELOADER_TEST_FAILED:
		return "test failed";
	case RELOADER_ROLLED_BACK:
		return "rolled back";
	}
	return "unknown";
}

/* Returns monotonic time in milliseconds. */
double
reloader_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Keeps a failure's message for reloader_error(). */
void
reloader_set_error(reloader_t *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

/* Returns the message of the last failure. */
const char *
reloader_error(const reloader_t *r)
{
	if (r == NULL)
		return "no reloader handle (out of memory?)";
	return r->err;
}

/* Creates a handle; NULL when out of memory or descriptors. */
reloader_t *
reloader_new(const char *name)
{
	reloader_t *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if (name == NULL)
		name = program_invocation_short_name;
	if (name == NULL || *name == '\0')
		name = "libreloader";
	if ((r->name = strdup(name)) == NULL) {
		free(r);
		return NULL;
	}
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r->name);
		free(r);
		return NULL;
	}
	r->events_tail = &r->events;
	r->batch_tail = &r->batch;
	r->drain_timeout = 1000;
	r->proto_max = RL_PROTO_MAX;
	r->stopfd = -1;
	if (conn_init(r) == -1) {
		pthread_mutex_destroy(&r->lock);
		free(r->name);
		free(r);
		return NULL;
	}
	pthread_mutex_lock(&reloader_handles_mutex);
	reloader_handles++;
	pthread_mutex_unlock(&reloader_handles_mutex);
	snprintf(r->err, sizeof(r->err), "no error");
	return r;
}

/* Frees the queued events. */
static void
reloader_free_events(struct rl_event *e)
{
	struct rl_event *next;

	for (; e != NULL; e = next) {
		next = e->next;
		free(e->name);
		free(e->path);
		free(e->stamp);
		free(e->was);
		free(e->reason);
		free(e);
	}
}

/* Closes everything and frees the handle; must not be called from the
 * event callback of a handle running its own thread. */
void
reloader_free(reloader_t *r)
{
	reloader_module_t *m;
	int last;

	if (r == NULL)
		return;
	thread_stop(r);
	pthread_mutex_lock(&r->lock);
	while ((m = r->modules) != NULL) {
		r->modules = m->next;
		module_destroy(m);
	}
	set_free_all(r);
	conn_free(r);
	copy_dir_remove(r);
	reloader_free_events(r->events);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_destroy(&r->lock);
	free(r->sockpath);
	free(r->name);
	free(r);

	pthread_mutex_lock(&reloader_handles_mutex);
	last = --reloader_handles == 0;
	pthread_mutex_unlock(&reloader_handles_mutex);
	if (last)
		hook_release();
}

/* Chooses what a failing test hook does. */
void
reloader_set_test_policy(reloader_t *r, enum reloader_test_policy p)
{
	reloader_lock(r);
	r->test_policy = p;
	reloader_unlock(r);
}

/* Sets the hard-purge deadline in ms; 0 means soft purge only. */
void
reloader_set_purge_deadline(reloader_t *r, unsigned int ms)
{
	reloader_lock(r);
	r->purge_deadline = ms;
	conn_timer_update(r);
	reloader_unlock(r);
}

/* Sets how long a state migration waits for calls to leave. */
void
reloader_set_drain_timeout(reloader_t *r, unsigned int ms)
{
	reloader_lock(r);
	r->drain_timeout = ms;
	reloader_unlock(r);
}

/* Sets the event callback. */
void
reloader_set_event_cb(reloader_t *r, reloader_event_fn *fn, void *arg)
{
	reloader_lock(r);
	r->cb = fn;
	r->cbarg = arg;
	reloader_unlock(r);
}

/* Takes the handle's lock. */
void
reloader_lock(reloader_t *r)
{
	pthread_mutex_lock(&r->lock);
}

/* Copies a string for a queued event; NULL stays NULL. */
static char *
reloader_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Queues an event for delivery when the lock is released; an event that
 * cannot be copied for want of memory is dropped. */
void
reloader_queue(reloader_t *r, const struct reloader_event *ev)
{
	struct rl_event *e;

	if (r->cb == NULL)
		return;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	e->ev = *ev;
	if (e->ev.failed == NULL)
		e->ev.failed = "";
	e->ev.name = e->name = reloader_strdup(ev->name);
	e->ev.path = e->path = reloader_strdup(ev->path);
	e->ev.stamp = e->stamp = reloader_strdup(ev->stamp);
	e->ev.was = e->was = reloader_strdup(ev->was);
	e->ev.reason = e->reason = reloader_strdup(ev->reason != NULL ?
	    ev->reason : "");
	if ((ev->name != NULL && e->name == NULL) ||
	    (ev->path != NULL && e->path == NULL) ||
	    (ev->stamp != NULL && e->stamp == NULL) ||
	    (ev->was != NULL && e->was == NULL) || e->reason == NULL) {
		e->next = NULL;
		reloader_free_events(e);
		return;
	}
	*r->events_tail = e;
	r->events_tail = &e->next;
}

/*
 * Releases the handle's lock and then delivers the events queued while
 * it was held, in order, with no lock held: the callback may call any
 * function of the library but reloader_free().  A module closed by an
 * earlier callback is passed as NULL.
 */
void
reloader_unlock(reloader_t *r)
{
	struct rl_event *list, *e, *next;
	reloader_event_fn *cb = r->cb;
	void *arg = r->cbarg;
	reloader_module_t *m;

	list = r->events;
	r->events = NULL;
	r->events_tail = &r->events;
	pthread_mutex_unlock(&r->lock);

	for (e = list; e != NULL; e = next) {
		next = e->next;
		if (e->ev.module != NULL) {
			/* The module may have been closed meanwhile. */
			pthread_mutex_lock(&r->lock);
			for (m = r->modules; m != NULL; m = m->next)
				if (m == e->ev.module)
					break;
			pthread_mutex_unlock(&r->lock);
			e->ev.module = m;
		}
		if (cb != NULL)
			cb(r, &e->ev, arg);
		/* The host heard that the module goes: it may go, unless
		 * the callback closed it already. */
		if (e->ev.type == RELOADER_EV_REMOVED &&
		    e->ev.module != NULL) {
			pthread_mutex_lock(&r->lock);
			for (m = r->modules; m != NULL; m = m->next)
				if (m == e->ev.module)
					m->removing = 2;
			module_reap(r);
			pthread_mutex_unlock(&r->lock);
		}
		e->next = NULL;
		reloader_free_events(e);
	}
}
