/*
 * thread.c: dispatching on a thread of the library's own, for hosts
 * without an event loop.
 *
 * The thread polls reloader_fd() and an eventfd that reloader_free()
 * writes to stop it, and calls reloader_dispatch() whenever there is
 * work; so the event callback runs on this thread, with no lock held.
 * It blocks every signal but the four a hook may crash with, so that the
 * host's asynchronous signals keep going to the host's threads.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "libreloader.h"

/* The thread's body: wait, dispatch, until told to stop. */
static void *
thread_main(void *arg)
{
	reloader_t *r = arg;
	struct pollfd pfd[2];

	pfd[0].fd = r->epfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = r->stopfd;
	pfd[1].events = POLLIN;
	hook_keep_stack();
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (pfd[0].revents != 0)
			reloader_dispatch(r);
	}
	hook_drop_stack();
	return NULL;
}

/* Starts the library's own dispatching thread. */
int
reloader_start_thread(reloader_t *r)
{
	sigset_t all, old;
	int rc;

	reloader_lock(r);
	if (r->threaded) {
		reloader_set_error(r, "the dispatching thread is already "
		    "running");
		goto fail;
	}
	if ((r->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		reloader_set_error(r, "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* The new thread starts with the mask it is created under. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->thread, NULL, thread_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		reloader_set_error(r, "cannot start the dispatching thread: "
		    "%s", strerror(rc));
		close(r->stopfd);
		r->stopfd = -1;
		goto fail;
	}
	r->threaded = 1;
	reloader_unlock(r);
	return 0;

fail:
	reloader_unlock(r);
	return -1;
}

/* Stops the dispatching thread, if there is one, and waits for it. */
void
thread_stop(reloader_t *r)
{
	uint64_t one = 1;

	if (!r->threaded)
		return;
	if (write(r->stopfd, &one, sizeof(one)) == -1) {
		/* Cannot happen with a counter this far from full. */
	}
	pthread_join(r->thread, NULL);
	close(r->stopfd);
	r->stopfd = -1;
	r->threaded = 0;
}
