/*
 * loop.c: the event loop's wait, which does not end by itself when idle.
 *
 * libev never waits longer than its compile-time EV_MAX_BLOCKTIME (59.743
 * s in Debian's libev4), even when no timer is running, so an idle daemon
 * would wake once a minute to do nothing.  libev calls a release hook
 * right before it waits, once its descriptors are up to date; when no
 * timer of the daemon's runs, the hook waits on libev's epoll descriptor
 * itself, without a timeout, and libev's own wait then returns at once
 * with what woke it.
 *
 * Two things make that exact.  Every timer the daemon starts is named in
 * loop_timing(): one left out would not fire until something else woke
 * the daemon.  Signals come through a signalfd (EVFLAG_SIGNALFD), an
 * ordinary descriptor in the epoll set: libev's other way, a handler that
 * writes to a pipe only while libev is about to wait, would leave a signal
 * that arrives during a callback to a wait that never ends.
 *
 * libev does not hand its epoll descriptor out; the daemon finds it among
 * its own in /proc/self/fd.  Where there is none, or more than one, or
 * the backend is not epoll, the daemon wakes once a minute as before.
 */
#include <sys/types.h>

#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"

static int loop_fd = -1;        /* libev's epoll descriptor, or -1 */

/* Tells whether a timer of the daemon's runs. */
static int
loop_timing(void)
{
	return ev_is_active(&rd->linger_ev) || ev_is_active(&rd->poll_ev) ||
	    ev_is_active(&rd->sweep_ev) ||
	    ev_is_active(&rd->settle_ev) || ev_is_active(&rd->gone_ev) ||
	    ev_is_active(&rd->read_ev) || ev_is_active(&rd->read_gate_ev) ||
	    ev_is_active(&rd->retry_ev) || ev_is_active(&rd->regsum_ev) ||
	    control_timing() || notify_timing() || relay_timing() ||
	    upgrade_timing();
}

/* Waits for libev's descriptor without a timeout when nothing is timed. */
static void
loop_release(struct ev_loop *loop) EV_NOEXCEPT
{
	struct pollfd pfd;

	(void)loop;
	if (loop_fd == -1 || loop_timing())
		return;
	pfd.fd = loop_fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	/* An interrupted or failed wait leaves the wait to libev. */
	(void)poll(&pfd, 1, -1);
}

/* Does nothing: the release hook holds nothing to take back. */
static void
loop_acquire(struct ev_loop *loop) EV_NOEXCEPT
{
	(void)loop;
}

/* Counts the process's descriptors /proc/self/fd links to what, and
 * stores the last in *fdp; 0 where /proc cannot be read. */
static int
loop_count_fds(const char *what, int *fdp)
{
	struct dirent *de;
	char path[64], link[64];
	ssize_t n;
	DIR *d;
	int fd, count = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (fd = atoi(de->d_name)) < 0 ||
		    fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((n = readlink(path, link, sizeof(link) - 1)) == -1)
			continue;
		link[n] = '\0';
		if (strcmp(link, what) == 0) {
			if (fdp != NULL)
				*fdp = fd;
			count++;
		}
	}
	closedir(d);
	return count;
}

/* Makes the default loop, its signals to come through a signalfd; NULL
 * if libev cannot. */
struct ev_loop *
loop_new(void)
{
	unsigned int flags = EVFLAG_AUTO;

#ifdef __linux__
	flags |= EVFLAG_SIGNALFD;
#endif
	return ev_default_loop(flags);
}

/* Lets the loop wait without a timeout when idle, once the signal
 * watchers run, if libev's descriptors allow it. */
void
loop_arm(void)
{
	if (ev_backend(rd->loop) == EVBACKEND_EPOLL &&
	    loop_count_fds("anon_inode:[signalfd]", NULL) >= 1 &&
	    loop_count_fds("anon_inode:[eventpoll]", &loop_fd) == 1) {
		ev_set_loop_release_cb(rd->loop, loop_release, loop_acquire);
		return;
	}
	loop_fd = -1;
	log_debug("event loop: libev's epoll and signal descriptors not "
	    "found; an idle daemon wakes once a minute");
}
