/*
 * reloader-ev.h: runs a libreloader handle inside a libev loop.
 *
 * Header only, like hiredis' adapters/libev.h:
 *
 *	static struct reloader_ev rev;
 *	reloader_ev_attach(EV_DEFAULT, &rev, r);
 *	...
 *	reloader_ev_detach(EV_DEFAULT, &rev);
 *
 * The watcher calls reloader_dispatch() whenever reloader_fd() is
 * readable, so the event callback runs on the loop's thread.  The
 * struct belongs to the caller and must outlive the attachment; detach
 * before reloader_free().
 */
#ifndef RELOADER_EV_H
#define RELOADER_EV_H

#include <ev.h>

#include "reloader.h"

/* A handle attached to a loop. */
struct reloader_ev {
	ev_io io;          /* first, so the watcher is the struct */
	reloader_t *r;
};

/* Dispatches the handle's work when its descriptor is readable. */
static inline void
reloader_ev_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct reloader_ev *e = (struct reloader_ev *)w;

	(void)loop;
	(void)revents;
	reloader_dispatch(e->r);
}

/* Attaches r to loop through e, which must not be attached already;
 * returns 0. */
static inline int
reloader_ev_attach(struct ev_loop *loop, struct reloader_ev *e,
    reloader_t *r)
{
	e->r = r;
	ev_io_init(&e->io, reloader_ev_read_cb, reloader_fd(r), EV_READ);
	ev_io_start(loop, &e->io);
	/* Work may be due already (a connect that finished at once). */
	ev_feed_event(loop, &e->io, EV_READ);
	return 0;
}

/* Detaches the handle from the loop. */
static inline void
reloader_ev_detach(struct ev_loop *loop, struct reloader_ev *e)
{
	ev_io_stop(loop, &e->io);
	e->r = NULL;
}

#endif /* RELOADER_EV_H */
