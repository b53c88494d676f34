/*
 * control.c: the daemon's Unix socket and the byte streams of its clients.
 *
 * Lines in are cut at LF and handed to client.c; a line longer than the
 * protocol's limit is skipped to its LF and answered with an error.
 * Lines out are written at once when the socket takes them, and queued
 * otherwise; the queue of one client is bounded, and a client that lets
 * it fill is dropped, so that no client can stall the daemon or the
 * others.  A client's buffers exist only while they hold something: a
 * line that arrived in pieces, output the socket did not take.
 *
 * Connections are bounded too: beyond max-clients a new one is answered
 * "busy" and closed.  When descriptors run out all the same, the daemon
 * stops watching the socket and tries again on a timer that backs off,
 * answering the connections that wait "busy" with a descriptor it keeps
 * in reserve, so that it never spins on a socket it cannot accept from,
 * and between tries one descriptor stays free for module files and the
 * log.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "reloaderd.h"

/* The most output queued for one client before it is dropped. */
#define CONTROL_OUT_MAX (256 * 1024)

/* The listening socket's backlog, and the most connections answered
 * busy at one try while descriptors are short. */
#define CONTROL_BACKLOG 64

/* Descriptors the daemon uses besides its clients' (standard streams,
 * the socket, inotify, the event loop, the log, the reserve, module
 * files being read), with room to spare; max-clients beyond the limit
 * less these is warned about. */
#define CONTROL_OWN_FDS 24

/* How the retries of accept back off while descriptors are short. */
#define CONTROL_RETRY_MIN 0.010
#define CONTROL_RETRY_MAX 1.0

/* Where the accepting side stands. */
static struct {
	int reserve;                     /* /dev/null held back, or -1 */
	unsigned long long nofile;       /* the soft descriptor limit */
	unsigned long attached;          /* connections, of every kind */
	unsigned long peak;              /* the most since the last trim */
	ev_timer retry;                  /* accepts again while starved */
	ev_tstamp delay;                 /* before the next retry */
	ev_tstamp since;                 /* when the starving began */
	int starved;                     /* out of descriptors (or memory) */
	unsigned long failed;            /* accepts failed meanwhile */
	unsigned long busy;              /* connections answered busy */
	int full;                        /* max-clients reached */
	unsigned long fullbusy;          /* connections answered busy then */
} acc = { .reserve = -1 };

/* The bytes of one read; one client is read at a time, so all share it. */
static char control_rbuf[PROTO_MAX_LINE];

static void control_accept_cb(struct ev_loop *, ev_io *, int);
static void control_retry_cb(struct ev_loop *, ev_timer *, int);
static void control_read_cb(struct ev_loop *, ev_io *, int);
static void control_write_cb(struct ev_loop *, ev_io *, int);
static void control_kill(struct client *);

/* Makes /run/reloader, where a system instance's socket lives, if it is
 * missing; other directories are the user's to make. */
static void
control_mkdir(const char *path)
{
	char *dir, *slash;

	if (strncmp(path, "/run/reloader/", 14) != 0)
		return;
	if ((dir = strdup(path)) == NULL)
		fatal("control_mkdir");
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0)
			log_debug("made %s for the socket", dir);
	}
	free(dir);
}

/* Clears a socket left by a daemon that died; -1 if one still listens
 * there, or the path holds something else. */
static int
control_clear(const char *path, const struct sockaddr_un *sun, char *err,
    size_t errlen)
{
	struct stat sb;
	int fd, rc;

	if (lstat(path, &sb) == -1)
		return 0;
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; "
		    "remove it or choose another path with -s", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s: another reloaderd is listening "
		    "there", path);
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale socket %s: %s",
		    path, strerror(errno));
		return -1;
	}
	log_debug("removed the stale socket %s", path);
	return 0;
}

/* Resolves the configured group, if any; -1 with a message. */
static int
control_group(char *err, size_t errlen)
{
	struct group *gr;
	char *end;
	unsigned long n;

	rd->has_group = 0;
	if (rd->conf.group == NULL)
		return 0;
	if ((gr = getgrnam(rd->conf.group)) != NULL)
		rd->group = gr->gr_gid;
	else {
		errno = 0;
		n = strtoul(rd->conf.group, &end, 10);
		if (*rd->conf.group == '\0' || *end != '\0' || errno != 0) {
			snprintf(err, errlen, "group \"%s\": no such group",
			    rd->conf.group);
			return -1;
		}
		rd->group = (gid_t)n;
	}
	rd->has_group = 1;
	return 0;
}

/* Takes the group of a passed socket's file as the group that may
 * attach, when none is configured and the socket unit deliberately let
 * the group in (SocketGroup=, SocketMode=0660): group-writable, and not
 * world-writable as systemd's default 0666 is; -1 with a message. */
static int
control_adopt_group(const char *path, char *err, size_t errlen)
{
	struct group *gr;
	struct stat sb;
	char num[32];

	if (rd->conf.group != NULL || path[0] != '/')
		return 0;
	if (stat(path, &sb) == -1) {
		snprintf(err, errlen, "%s (from systemd): %s", path,
		    strerror(errno));
		return -1;
	}
	if ((sb.st_mode & 0022) != 0020)
		return 0;
	if ((gr = getgrgid(sb.st_gid)) == NULL)
		snprintf(num, sizeof(num), "%lu", (unsigned long)sb.st_gid);
	if ((rd->conf.group = strdup(gr != NULL ? gr->gr_name : num)) == NULL)
		fatal("control_adopt_group");
	rd->group = sb.st_gid;
	rd->has_group = 1;
	return 0;
}

/* Starts accepting on the socket systemd passed, which keeps its path,
 * mode and group as the socket unit made them; -1 with a message. */
static int
control_adopt(int fd, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	char path[sizeof(sun.sun_path) + 1];
	size_t plen;

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d: getsockname: %s",
		    fd, strerror(errno));
		close(fd);
		return -1;
	}
	plen = len > offsetof(struct sockaddr_un, sun_path) ?
	    len - offsetof(struct sockaddr_un, sun_path) : 0;
	if (plen == 0) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d is a Unix socket "
		    "with no address", fd);
		close(fd);
		return -1;
	}
	if (sun.sun_path[0] == '\0') {
		/* An abstract name, shown the way systemd writes it. */
		path[0] = '@';
		memcpy(path + 1, sun.sun_path + 1, plen - 1);
		path[plen] = '\0';
	} else {
		memcpy(path, sun.sun_path, plen);
		path[plen] = '\0';
	}
	if (control_adopt_group(path, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	if (strcmp(path, rd->conf.socket) != 0)
		log_debug("not listening on %s: systemd passed %s",
		    log_esc(rd->conf.socket), log_esc(path));
	free(rd->conf.socket);
	if ((rd->conf.socket = strdup(path)) == NULL)
		fatal("control_adopt");
	rd->lfd = fd;
	ev_io_init(&rd->listen_ev, control_accept_cb, fd, EV_READ);
	ev_io_start(rd->loop, &rd->listen_ev);
	log_info("listening on %s (socket activation%s%s%s)", log_esc(path),
	    rd->has_group ? "; group " : "",
	    rd->has_group ? rd->conf.group : "",
	    rd->has_group ? " may attach" : "");
	return 0;
}

/* Writes a descriptor limit for the log. */
static const char *
control_limit_text(rlim_t n, char *buf, size_t len)
{
	if (n == RLIM_INFINITY)
		return "unlimited";
	snprintf(buf, len, "%llu", (unsigned long long)n);
	return buf;
}

/* Raises the soft descriptor limit to the hard one, so that only the
 * administrator's limit bounds the connections, and says both. */
static void
control_raise_nofile(void)
{
	struct rlimit rl;
	char a[32], b[32], c[32];
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("cannot raise the descriptor limit to the hard "
			    "limit %s", control_limit_text(rl.rlim_max, a,
			    sizeof(a)));
			rl.rlim_cur = was;
		}
	}
	acc.nofile = rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur;
	log_info("descriptor limit %s (soft limit was %s, hard limit %s)",
	    control_limit_text(rl.rlim_cur, a, sizeof(a)),
	    control_limit_text(was, b, sizeof(b)),
	    control_limit_text(rl.rlim_max, c, sizeof(c)));
}

/* Warns when max-clients would let clients take the descriptors the
 * daemon needs for itself: descriptors would then run out first. */
void
control_limits(void)
{
	if (acc.nofile != 0 &&
	    rd->conf.max_clients + CONTROL_OWN_FDS > acc.nofile)
		log_warnx("max-clients %lu is more than the descriptor limit "
		    "%llu leaves room for; when descriptors run out, new "
		    "connections are answered busy", rd->conf.max_clients,
		    acc.nofile);
}

/* Takes the reserve descriptor back, if it was given up. */
static void
control_reserve(void)
{
	if (acc.reserve == -1)
		acc.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Gives the reserve descriptor up, so that one is free. */
static void
control_unreserve(void)
{
	if (acc.reserve != -1)
		close(acc.reserve);
	acc.reserve = -1;
}

/* Creates the listening socket, mode 0600 (0660 and the configured
 * group's), or takes the one systemd passed, and starts accepting; -1
 * with a message. */
int
control_open(char *err, size_t errlen)
{
	struct sockaddr_un sun;
	const char *path = rd->conf.socket;
	mode_t mode, omask;
	int fd;

	rd->lfd = -1;
	control_raise_nofile();
	control_limits();
	control_reserve();
	if (acc.reserve == -1)
		log_warn("/dev/null: no descriptor kept in reserve");
	ev_init(&acc.retry, control_retry_cb);
	if (control_group(err, errlen) == -1)
		return -1;
	if ((fd = notify_listen_fd()) != -1)
		return control_adopt(fd, err, errlen);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes",
		    path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	control_mkdir(path);
	if (control_clear(path, &sun, err, errlen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Never, even for an instant, more open than it will be. */
	mode = rd->has_group ? 0660 : 0600;
	omask = umask(0777 & ~mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(omask);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(omask);
	if ((rd->has_group && chown(path, (uid_t)-1, rd->group) == -1) ||
	    chmod(path, mode) == -1) {
		snprintf(err, errlen, "%s: cannot give it group %s: %s", path,
		    rd->conf.group ? rd->conf.group : "", strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	if (listen(fd, CONTROL_BACKLOG) == -1) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	rd->lfd = fd;
	if ((rd->sockpath = strdup(path)) == NULL)
		fatal("control_open");
	ev_io_init(&rd->listen_ev, control_accept_cb, fd, EV_READ);
	ev_io_start(rd->loop, &rd->listen_ev);
	log_info("listening on %s (mode %04o%s%s)", log_esc(path),
	    (unsigned int)mode, rd->has_group ? ", group " : "",
	    rd->has_group ? rd->conf.group : "");
	return 0;
}

/* Drops every client and removes the socket, unless systemd made it. */
void
control_close(void)
{
	if (rd->lfd != -1) {
		ev_io_stop(rd->loop, &rd->listen_ev);
		close(rd->lfd);
		rd->lfd = -1;
	}
	ev_timer_stop(rd->loop, &acc.retry);
	control_unreserve();
	if (rd->sockpath != NULL) {
		unlink(rd->sockpath);
		free(rd->sockpath);
		rd->sockpath = NULL;
	}
	clients_free();
}

/* Answers a connection "busy" with one try, and closes it. */
static void
control_busy(int fd, const char *why)
{
	char buf[256];
	struct proto_out o;
	int len;

	proto_start(&o, buf, sizeof(buf), "error");
	proto_add(&o, "code", "busy");
	proto_add(&o, "msg", why);
	/* One try; a refused peer gets no queue. */
	if ((len = proto_end(&o)) != -1 && write(fd, buf, (size_t)len) == -1)
		log_debug("busy client: %s", strerror(errno));
	close(fd);
}

/* Takes a new connection: refuses the peers the credentials rule out,
 * answers "busy" beyond max-clients, and attaches the others. */
static void
control_take(int fd)
{
	static const char denied[] = "error code=denied msg=this\\x20user"
	    "\\x20may\\x20not\\x20attach\\x20to\\x20this\\x20reloaderd\n";
	struct client *c;
	struct cred cr;
	char why[128];

	if (cred_peer(fd, &cr) == -1) {
		log_warn("cannot read a client's credentials; closing it");
		close(fd);
		return;
	}
	if (!cred_allowed(&cr)) {
		log_warnx("refused a client: uid %lu gid %lu pid %ld may not "
		    "attach (only uid %lu%s%s)", (unsigned long)cr.uid,
		    (unsigned long)cr.gid, (long)cr.pid,
		    (unsigned long)geteuid(), rd->has_group ? " and group " :
		    "", rd->has_group ? rd->conf.group : "");
		/* One try; a refused peer gets no queue. */
		if (write(fd, denied, sizeof(denied) - 1) == -1)
			log_debug("refused client: %s", strerror(errno));
		cred_free(&cr);
		close(fd);
		return;
	}
	if (acc.attached >= rd->conf.max_clients) {
		cred_free(&cr);
		/* One line when it begins, one when it ends: never a flood. */
		if (!acc.full) {
			log_warnx("max-clients (%lu connections) reached: "
			    "answering new ones busy until some close",
			    acc.attached);
			acc.full = 1;
			acc.fullbusy = 0;
		}
		acc.fullbusy++;
		snprintf(why, sizeof(why), "reloaderd has %lu connections, "
		    "its max-clients; try again later", acc.attached);
		control_busy(fd, why);
		return;
	}
	if (acc.full)
		log_info("taking connections again: %lu answered busy at "
		    "max-clients (%lu)", acc.fullbusy, rd->conf.max_clients);
	acc.full = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("control_accept");
	c->fd = fd;
	c->cred = cr;
	c->id = ++rd->nextclient;
	snprintf(c->label, sizeof(c->label), "client %u", c->id);
	c->next = rd->clients;
	rd->clients = c;
	if (++acc.attached > acc.peak)
		acc.peak = acc.attached;
	ev_io_init(&c->rio, control_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, control_write_cb, fd, EV_WRITE);
	c->rio.data = c;
	c->wio.data = c;
	ev_io_start(rd->loop, &c->rio);
	log_debug("%s connected: uid %lu pid %ld", c->label,
	    (unsigned long)cr.uid, (long)cr.pid);
}

/* Accepts every connection that waits; -1 with errno when accept fails
 * otherwise than for want of connections. */
static int
control_accept_all(void)
{
	int fd;

	for (;;) {
		fd = accept4(rd->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1)
			control_take(fd);
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		else if (errno != EINTR && errno != ECONNABORTED)
			return -1;
	}
}

/* Says whether a descriptor is free beside the reserve; errno when not. */
static int
control_headroom(void)
{
	int fd;

	if ((fd = fcntl(rd->lfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return 0;
	close(fd);
	return 1;
}

/* Answers "busy" to the connections that wait, through the reserve
 * descriptor, which stays given up: until the next try one descriptor
 * is free for module files and the log. */
static void
control_shed(void)
{
	char why[128];
	int fd, n;

	snprintf(why, sizeof(why), "reloaderd is out of file descriptors "
	    "(limit %llu); try again later", acc.nofile);
	control_unreserve();
	for (n = 0; n < CONTROL_BACKLOG; n++) {
		fd = accept4(rd->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd == -1)
			break;
		control_busy(fd, why);
		acc.busy++;
	}
}

/* Stops accepting while descriptors (or memory) are short: the socket
 * is no longer watched, which would wake the loop at once, again and
 * again; a timer tries again, backing off; a log line says when it
 * begins.  failed counts an accept that failed. */
static void
control_starve(int error, int failed)
{
	if (!acc.starved) {
		acc.starved = 1;
		acc.since = ev_now(rd->loop);
		acc.failed = acc.busy = 0;
		acc.delay = CONTROL_RETRY_MIN;
		ev_io_stop(rd->loop, &rd->listen_ev);
		log_warnx("cannot accept connections: %s (%lu attached, "
		    "descriptor limit %llu); trying again every %.0f ms to "
		    "%.0f s, answering busy meanwhile", strerror(error),
		    acc.attached, acc.nofile, CONTROL_RETRY_MIN * 1000,
		    CONTROL_RETRY_MAX);
	} else if ((acc.delay *= 2) > CONTROL_RETRY_MAX)
		acc.delay = CONTROL_RETRY_MAX;
	acc.failed += (unsigned long)failed;
	if (error == EMFILE || error == ENFILE)
		control_shed();
	ev_timer_set(&acc.retry, acc.delay, 0.);
	ev_timer_start(rd->loop, &acc.retry);
}

/* Accepts what waits, unless descriptors run short; then starves. */
static void
control_accept(void)
{
	if (control_accept_all() == -1)
		control_starve(errno, 1);
	else if (!control_headroom())
		control_starve(errno, 0);
	else if (acc.starved) {
		acc.starved = 0;
		ev_io_start(rd->loop, &rd->listen_ev);
		log_info("accepting connections again after %.1f s: %lu "
		    "accepts failed, %lu connections answered busy",
		    ev_now(rd->loop) - acc.since, acc.failed, acc.busy);
	}
}

/* Accepts the connections waiting on the socket. */
static void
control_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	control_accept();
}

/* Tries again to accept, while descriptors are short: the reserve is
 * taken back first, so that a new client gets only a descriptor beyond
 * it. */
static void
control_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	control_reserve();
	control_accept();
}

/* Appends n bytes to a buffer that grows by doubling from min to at
 * most max bytes, which the caller makes sure is enough. */
static void
control_append(char **buf, size_t *len, size_t *cap, size_t min,
    size_t max, const char *p, size_t n)
{
	size_t ncap;
	char *nbuf;

	if (*len + n > *cap) {
		for (ncap = *cap ? *cap : min; ncap < *len + n;)
			ncap *= 2;
		if (ncap > max)
			ncap = max;
		if ((nbuf = realloc(*buf, ncap)) == NULL)
			fatal("control_append");
		*buf = nbuf;
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
}

/* Handles a line of len bytes, its LF at line[len]; NULL for a line
 * too long to keep. */
static void
control_line(struct client *c, char *line, size_t len)
{
	c->lineno++;
	if (line == NULL)
		client_too_long(c);
	else
		client_line(c, line, len);
}

/* Cuts what a client sent into lines (linebuf.c, the reader libreloader
 * and reloaderctl use too) and handles each; a line that arrived in
 * pieces is kept only until it is whole. */
static void
control_lines(struct client *c, char *p, size_t n)
{
	char *line;
	size_t len;
	int rc;

	if (linebuf_feed(&c->lines, p, n) == -1)
		fatal("control_lines");
	while (!c->dead &&
	    (rc = linebuf_next(&c->lines, &line, &len)) != LINEBUF_NONE) {
		if (rc == LINEBUF_NOMEM)
			fatal("control_lines");
		control_line(c, rc == LINEBUF_LINE ? line : NULL, len);
	}
}

/* Reads what a client sent. */
static void
control_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n;

	while (!c->dead) {
		n = read(c->fd, control_rbuf, PROTO_MAX_LINE);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				control_drop(c, "read: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			control_drop(c, "disconnected");
			break;
		}
		control_lines(c, control_rbuf, (size_t)n);
	}
	clients_reap();
}

/* Writes what the socket takes of n bytes; returns how many, or -1 if
 * the client is dropped. */
static ssize_t
control_write(struct client *c, const char *p, size_t n)
{
	size_t done = 0;
	ssize_t w;

	while (done < n) {
		if ((w = write(c->fd, p + done, n - done)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			control_drop(c, "write: %s", strerror(errno));
			return -1;
		}
		done += (size_t)w;
	}
	return (ssize_t)done;
}

/* Writes as much queued output as the socket takes; the queue's memory
 * goes once it is empty. */
static int
control_flush(struct client *c)
{
	ssize_t n;

	if ((n = control_write(c, c->out + c->outoff, c->outlen -
	    c->outoff)) == -1)
		return -1;
	c->outoff += (size_t)n;
	if (c->outoff == c->outlen) {
		free(c->out);
		c->out = NULL;
		c->outoff = c->outlen = c->outcap = 0;
		ev_io_stop(rd->loop, &c->wio);
	} else
		ev_io_start(rd->loop, &c->wio);
	return 0;
}

/* Writes queued output when the socket has room again. */
static void
control_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	control_flush(w->data);
	clients_reap();
}

/* Tells a client it is being dropped for leaving output unread, if its
 * socket has room for that, and drops it. */
static void
control_overload(struct client *c, size_t queued)
{
	static const char overload[] = "error code=overload "
	    "msg=dropped:\\x20too\\x20much\\x20output\\x20left\\x20unread\n";

	log_warnx("dropping %s: it left %zu bytes unread (the limit is %d "
	    "KiB)", c->label, queued, CONTROL_OUT_MAX / 1024);
	/* One try; never queued. */
	if (write(c->fd, overload, sizeof(overload) - 1) == -1)
		log_debug("%s: %s", c->label, strerror(errno));
	control_kill(c);
}

/* Sends a client a line (with its LF), queueing what the socket does not
 * take; -1 if the client is, or now is, dropped. */
int
control_send(struct client *c, const char *line, size_t len)
{
	size_t queued;
	ssize_t n;

	if (c->dead)
		return -1;
	queued = c->outlen - c->outoff;
	if (queued == 0) {
		/* Nothing waits: straight to the socket, no queue at all. */
		if ((n = control_write(c, line, len)) == -1)
			return -1;
		line += n;
		len -= (size_t)n;
	}
	if (len == 0)
		return 0;
	if (queued + len > CONTROL_OUT_MAX) {
		control_overload(c, queued);
		return -1;
	}
	if (c->outoff > 0) {
		memmove(c->out, c->out + c->outoff, queued);
		c->outlen = queued;
		c->outoff = 0;
	}
	control_append(&c->out, &c->outlen, &c->outcap, 4096, CONTROL_OUT_MAX,
	    line, len);
	if (!ev_is_active(&c->wio))
		ev_io_start(rd->loop, &c->wio);
	return 0;
}

/* Stops a client's I/O and forgets what it registered; the struct stays
 * until clients_reap, as callers up the stack may still hold it. */
static void
control_kill(struct client *c)
{
	c->dead = 1;
	rd->ndead++;
	acc.attached--;
	ev_io_stop(rd->loop, &c->rio);
	ev_io_stop(rd->loop, &c->wio);
	close(c->fd);
	c->fd = -1;
	client_forget(c);
}

/* Drops a client, saying why in the log. */
void
control_drop(struct client *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (c->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->batch != 0)
		log_warnx("%s %s during reload batch %lu", c->label, why,
		    c->batch);
	else if (c->control || c->name == NULL)
		/* As its attach was: none, before hello. */
		log_debug("%s %s", c->label, why);
	else
		log_info("%s %s", c->label, why);
	control_kill(c);
}

/* Frees the clients that were dropped, and hands the memory of many
 * back to the system. */
void
clients_reap(void)
{
	struct client **pp, *c;

	if (rd->ndead == 0)
		return;
	/* None of them may stay noted as dirty. */
	for (pp = &rd->dirtyq; (c = *pp) != NULL;)
		if (c->dead) {
			*pp = c->dnext;
			c->dqueued = 0;
		} else
			pp = &c->dnext;
	pp = &rd->clients;
	while ((c = *pp) != NULL) {
		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		rd->ndead--;
		cred_free(&c->cred);
		free(c->name);
		linebuf_reset(&c->lines);
		free(c->out);
		free(c);
	}
#ifdef __GLIBC__
	/*
	 * glibc keeps what is freed in its heap, and the small blocks of
	 * thousands of clients, scattered among what stays, keep their pages
	 * resident long after the clients left.  When half the connections
	 * of the last peak are gone, malloc_trim gives the free pages back:
	 * a few times for a burst of closes, never for a client or two.
	 */
	if (acc.peak >= 64 && acc.attached <= acc.peak / 2) {
		malloc_trim(0);
		acc.peak = acc.attached;
	}
#endif
}

/* Tells whether the timer that accepts again while starved runs. */
int
control_timing(void)
{
	return ev_is_active(&acc.retry);
}
