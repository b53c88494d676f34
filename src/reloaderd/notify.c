/*
 * notify.c: what systemd hands the daemon and what the daemon tells it.
 *
 * The service manager's notification protocol is spoken directly, without
 * libsystemd: NOTIFY_SOCKET names a Unix datagram socket (a path, or an
 * abstract name written with a leading '@'), and each message is one
 * datagram of NEWLINE-separated VAR=value assignments (sd_notify(3)).
 * Without NOTIFY_SOCKET every function here does nothing.  A message is
 * sent without blocking; one the manager's queue has no room for is lost
 * and logged, never waited for.
 *
 * Socket activation (sd_listen_fds(3)): LISTEN_PID and LISTEN_FDS say
 * that descriptors from 3 on are listening sockets for this process, and
 * LISTEN_FDNAMES may name them.  The daemon takes one Unix stream socket.
 *
 * The watchdog (WATCHDOG_USEC) is served only when the unit asks for it:
 * the timer wakes the daemon, and idle should mean idle.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reloaderd.h"

/* The first descriptor systemd passes (SD_LISTEN_FDS_START). */
#define NOTIFY_FDS_START 3

/* The names a passed socket may carry for the daemon to pick it out of
 * several: one set with FileDescriptorName=, or systemd's default, the
 * name of the socket unit. */
static const char *const notify_fdnames[] = { "control", "reloaderd.socket" };

static int notify_fd = -1;              /* datagram socket to systemd */
static struct sockaddr_un notify_sun;   /* where NOTIFY_SOCKET points */
static socklen_t notify_sunlen;
static int notify_lost;                 /* a message was lost; logged */
static int notify_isready;              /* READY=1 sent, not reloading */
static char notify_last[512];           /* the STATUS= text sent last */
static int notify_listen = -1;          /* the passed socket, not yet taken */
static int notify_passed;               /* systemd passed the socket */
static char notify_lastrl[160];         /* the last reload, for STATUS= */
static char notify_conferr[320];        /* why SIGHUP's config was bad */
static ev_tstamp notify_wd_interval;    /* seconds; 0: no watchdog */
static ev_timer notify_wd_ev;

/* Reads an environment variable as a non-negative integer; -1 with a
 * message when it is set but not one. */
static int
notify_env_ulong(const char *name, unsigned long long *v, int *set,
    char *err, size_t errlen)
{
	const char *s = getenv(name);
	char *end;

	*set = s != NULL;
	if (s == NULL)
		return 0;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0) {
		snprintf(err, errlen, "%s=%s: not a non-negative integer",
		    name, s);
		return -1;
	}
	return 0;
}

/* Prepares the socket NOTIFY_SOCKET names; a bad value is logged and
 * leaves notification off, as the daemon works without it. */
static void
notify_open(void)
{
	const char *s = getenv("NOTIFY_SOCKET");
	size_t len;

	if (s == NULL || *s == '\0')
		return;
	len = strlen(s);
	if ((s[0] != '/' && s[0] != '@') || len < 2 ||
	    len > sizeof(notify_sun.sun_path) - (s[0] == '/')) {
		log_warnx("NOTIFY_SOCKET=%s: not an absolute path or an "
		    "@abstract name of at most %zu bytes; not telling systemd "
		    "anything", log_esc(s), sizeof(notify_sun.sun_path) - 1);
		return;
	}
	memset(&notify_sun, 0, sizeof(notify_sun));
	notify_sun.sun_family = AF_UNIX;
	memcpy(notify_sun.sun_path, s, len);
	if (s[0] == '@')
		notify_sun.sun_path[0] = '\0';
	notify_sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len + (s[0] == '/'));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (notify_fd == -1)
		log_warn("NOTIFY_SOCKET: socket");
	else
		log_debug("telling systemd through %s", log_esc(s));
}

/* Decides whether the watchdog is ours to serve: WATCHDOG_USEC set and,
 * if WATCHDOG_PID is, naming this process; -1 with a message if either
 * is malformed. */
static int
notify_watchdog_env(char *err, size_t errlen)
{
	unsigned long long usec, pid;
	int uset, pset;

	if (notify_env_ulong("WATCHDOG_USEC", &usec, &uset, err, errlen) ==
	    -1 || notify_env_ulong("WATCHDOG_PID", &pid, &pset, err,
	    errlen) == -1)
		return -1;
	if (uset && usec > 0 && (!pset || pid == (unsigned long long)getpid()))
		notify_wd_interval = (ev_tstamp)usec / 2e6;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
}

/* Says whether a passed descriptor's name is one the daemon answers to. */
static int
notify_fdname_ours(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(notify_fdnames) / sizeof(notify_fdnames[0]);
	    i++)
		if (strlen(notify_fdnames[i]) == len &&
		    memcmp(notify_fdnames[i], name, len) == 0)
			return 1;
	return 0;
}

/* Picks which of n passed descriptors is the control socket: the only
 * one, or the one LISTEN_FDNAMES names as ours; -1 with a message. */
static int
notify_pick(int n, char *err, size_t errlen)
{
	const char *names = getenv("LISTEN_FDNAMES"), *p, *colon;
	int i, pick = -1;

	if (n == 1)
		return NOTIFY_FDS_START;
	for (i = 0, p = names; p != NULL && i < n; i++, p = colon + 1) {
		colon = strchr(p, ':');
		if (notify_fdname_ours(p, colon ? (size_t)(colon - p) :
		    strlen(p))) {
			if (pick != -1) {
				snprintf(err, errlen, "LISTEN_FDS=%d: fds %d "
				    "and %d are both named for reloaderd in "
				    "LISTEN_FDNAMES=%s; pass one", n, pick,
				    NOTIFY_FDS_START + i, names);
				return -1;
			}
			pick = NOTIFY_FDS_START + i;
		}
		if (colon == NULL)
			break;
	}
	if (pick == -1)
		snprintf(err, errlen, "LISTEN_FDS=%d: systemd passed %d sockets "
		    "and LISTEN_FDNAMES=%s names none \"control\" or "
		    "\"reloaderd.socket\"; pass one, or name it with "
		    "FileDescriptorName=control", n, n, names ? names : "(unset)");
	return pick;
}

/* Returns what a socket of a family other than AF_UNIX is, for
 * messages. */
static const char *
notify_family_name(int family)
{
	switch (family) {
	case AF_INET:
		return "an IPv4";
	case AF_INET6:
		return "an IPv6";
	default:
		return "a non-Unix";
	}
}

/* Returns the name of a socket type, for messages. */
static const char *
notify_type_name(int type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "datagram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	default:
		return "non-stream";
	}
}

/* Checks that fd is a listening Unix stream socket; -1 with a message
 * naming what it is instead. */
static int
notify_check_fd(int fd, char *err, size_t errlen)
{
	int family, type, acc;
	socklen_t len;
	struct stat sb;

	if (fstat(fd, &sb) == -1) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d: %s", fd,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d is not a socket; "
		    "reloaderd needs a listening Unix stream socket "
		    "(ListenStream=/path)", fd);
		return -1;
	}
	len = sizeof(family);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) == -1 ||
	    (len = sizeof(type), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type,
	    &len)) == -1 ||
	    (len = sizeof(acc), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	    &acc, &len)) == -1) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d: getsockopt: %s", fd,
		    strerror(errno));
		return -1;
	}
	if (family != AF_UNIX) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d is %s socket; "
		    "reloaderd needs a Unix stream socket (ListenStream=/path)",
		    fd, notify_family_name(family));
		return -1;
	}
	if (type != SOCK_STREAM) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d is a Unix %s socket; "
		    "reloaderd needs a Unix stream socket (ListenStream=/path)",
		    fd, notify_type_name(type));
		return -1;
	}
	if (!acc) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d is a Unix stream "
		    "socket that is not listening (Accept=yes is not "
		    "supported)", fd);
		return -1;
	}
	return 0;
}

/* Closes the passed descriptors the daemon does not use. */
static void
notify_close_others(int n, int keep)
{
	int fd;

	for (fd = NOTIFY_FDS_START; fd < NOTIFY_FDS_START + n; fd++)
		if (fd != keep) {
			log_warnx("LISTEN_FDS: closing fd %d, not for "
			    "reloaderd", fd);
			close(fd);
		}
}

/* Takes the listening socket systemd passed, if it passed one for this
 * process; -1 with a message when LISTEN_FDS is set but wrong. */
static int
notify_listen_env(char *err, size_t errlen)
{
	unsigned long long n, pid;
	int nset, pset, fd, flags;

	if (notify_env_ulong("LISTEN_FDS", &n, &nset, err, errlen) == -1 ||
	    notify_env_ulong("LISTEN_PID", &pid, &pset, err, errlen) == -1)
		return -1;
	if (nset && !pset) {
		snprintf(err, errlen, "LISTEN_FDS is set but LISTEN_PID is "
		    "not; both come from systemd");
		return -1;
	}
	if (nset && pid != (unsigned long long)getpid())
		log_debug("LISTEN_FDS is for pid %llu, not this one; ignored",
		    pid);
	else if (nset && n > 64) {
		snprintf(err, errlen, "LISTEN_FDS=%llu: too many", n);
		return -1;
	} else if (nset && n > 0) {
		if ((fd = notify_pick((int)n, err, errlen)) == -1 ||
		    notify_check_fd(fd, err, errlen) == -1)
			return -1;
		notify_close_others((int)n, fd);
		if ((flags = fcntl(fd, F_GETFL)) == -1 ||
		    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			snprintf(err, errlen, "LISTEN_FDS: fd %d: fcntl: %s",
			    fd, strerror(errno));
			return -1;
		}
		notify_listen = fd;
		notify_passed = 1;
	}
	/* Not for whatever the daemon might start. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 0;
}

/* Reads what systemd passed in the environment: the notify socket, the
 * watchdog, a listening socket; -1 with a message if any is malformed.
 * Call once, before the loop, in the process systemd started. */
int
notify_init(char *err, size_t errlen)
{
	notify_open();
	unsetenv("NOTIFY_SOCKET");
	if (notify_watchdog_env(err, errlen) == -1)
		return -1;
	return notify_listen_env(err, errlen);
}

/* Returns the listening socket systemd passed, once, or -1 if none;
 * the caller owns it. */
int
notify_listen_fd(void)
{
	int fd = notify_listen;

	notify_listen = -1;
	return fd;
}

/* Says whether the listening socket came from systemd. */
int
notify_activated(void)
{
	return notify_passed;
}

/* Sends one message as one datagram, without waiting. */
static void
notify_send(const char *msg, size_t len)
{
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	if (notify_fd == -1)
		return;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)msg;
	iov.iov_len = len;
	mh.msg_name = &notify_sun;
	mh.msg_namelen = notify_sunlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	do
		n = sendmsg(notify_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && !notify_lost) {
		notify_lost = 1;
		log_warn("cannot tell systemd \"%.*s\"", (int)strcspn(msg,
		    "\n"), msg);
	} else if (n != -1)
		notify_lost = 0;
}

/* Sends a message built from a format. */
static void __attribute__((format(printf, 1, 2)))
notify_sendf(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	notify_send(msg, (size_t)n < sizeof(msg) ? (size_t)n :
	    sizeof(msg) - 1);
}

/* Says the daemon is ready: its first scan is done, or a reload is; the
 * status set last goes in the same message. */
void
notify_ready(void)
{
	notify_isready = 1;
	if (notify_last[0] != '\0')
		notify_sendf("READY=1\nSTATUS=%s", notify_last);
	else
		notify_sendf("READY=1");
}

/* Says the daemon is re-reading its configuration, with the time the
 * manager's Type=notify-reload matches against its SIGHUP. */
void
notify_reloading(void)
{
	struct timespec ts;

	notify_isready = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
}

/* Says the daemon is stopping. */
void
notify_stopping(void)
{
	notify_sendf("STOPPING=1");
}

/* Sets the one-line status systemctl status shows; the same text twice
 * in a row is sent once, and until READY=1 (at start, or while
 * reloading) it waits to go with it.  Newlines would end the assignment:
 * they become blanks. */
void
notify_status(const char *fmt, ...)
{
	char text[sizeof(notify_last)];
	va_list ap;
	char *p;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		*p = ' ';
	if (strcmp(text, notify_last) == 0)
		return;
	memcpy(notify_last, text, sizeof(text));
	if (notify_isready)
		notify_sendf("STATUS=%s", text);
}

/* Says whether systemd is listening, so callers can skip building a
 * status nobody reads. */
int
notify_enabled(void)
{
	return notify_fd != -1;
}

/* Refreshes the status systemctl status shows: what is watched, who is
 * attached, the last reload, a bad configuration; call it when any of
 * these changes.  Costs nothing when systemd is not listening. */
void
notify_status_changed(void)
{
	struct client *c;
	struct root *r;
	size_t nroots = 0, nmods = 0, nclients = 0;

	if (notify_fd == -1)
		return;
	for (r = rd->roots; r != NULL; r = r->next) {
		nmods += r->nfiles;
		nroots++;
	}
	/* Attached processes; reloaderctl's connections are not clients. */
	for (c = rd->clients; c != NULL; c = c->next)
		if (!c->dead && c->name != NULL && !c->control)
			nclients++;
	notify_status("%s%swatching %zu director%s, %zu module%s; %zu "
	    "client%s%s%s", notify_conferr, notify_conferr[0] ? "; " : "",
	    nroots, nroots == 1 ? "y" : "ies", nmods, nmods == 1 ? "" : "s",
	    nclients, nclients == 1 ? "" : "s",
	    notify_lastrl[0] ? "; last: " : "", notify_lastrl);
}

/* Sets the last reload the status shows, such as "hello in
 * devserver[42] ok 0.41 ms", and refreshes the status. */
void
notify_last_reload(const char *fmt, ...)
{
	va_list ap;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(notify_lastrl, sizeof(notify_lastrl), fmt, ap);
	va_end(ap);
	notify_status_changed();
}

/* Records why the configuration SIGHUP read was bad, for the status
 * until a good one is read; NULL clears it. */
void
notify_config_failed(const char *err)
{
	if (err == NULL)
		notify_conferr[0] = '\0';
	else
		snprintf(notify_conferr, sizeof(notify_conferr), "reload "
		    "failed, old configuration kept: %s", err);
}

/* Pets the watchdog. */
static void
notify_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	notify_sendf("WATCHDOG=1");
}

/* Starts petting the watchdog at half its interval, if systemd set one
 * for this process. */
void
notify_start(void)
{
	if (notify_wd_interval <= 0 || notify_fd == -1)
		return;
	ev_timer_init(&notify_wd_ev, notify_watchdog_cb, notify_wd_interval,
	    notify_wd_interval);
	ev_timer_start(rd->loop, &notify_wd_ev);
	log_debug("watchdog: telling systemd every %.3f s",
	    (double)notify_wd_interval);
}

/* Stops the watchdog and closes the socket to systemd. */
void
notify_stop(void)
{
	if (ev_is_active(&notify_wd_ev))
		ev_timer_stop(rd->loop, &notify_wd_ev);
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
	if (notify_listen != -1)
		close(notify_listen);
	notify_listen = -1;
}

/* Tells whether the watchdog's timer runs. */
int
notify_timing(void)
{
	return ev_is_active(&notify_wd_ev);
}
