/*
 * conn.c: the connection to reloaderd: connect, handshake, send a
 * request, read its answer line by line.
 *
 * Lines are read with ppoll(2) against a deadline (-t) and with the
 * caught signals let through, so that a follow can end on SIGINT and a
 * build can notice its command's end.  Every line is parsed with the
 * shared codec (src/proto); lines that answer no request (events,
 * followed log lines) go to the caller's on_event.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* An error code of the protocol, what it means to a user of
 * reloaderctl, and the exit status it gives. */
struct errmap {
	const char *code;
	const char *text;
	int status;
};

static const struct errmap errmap[] = {
	{ "not-loaded", "not loaded in any attached process", EX_DATAERR },
	{ "no-previous", "no attached process has a previous version to go "
	    "back to", EX_DATAERR },
	{ "no-such-client", "no attached client has that id or name",
	    EX_DATAERR },
	{ "not-held", "reloads are not held (no hold to release)", EX_USAGE },
	{ "denied", "the daemon does not let this user attach", EX_NOPERM },
	{ "overload", "the daemon dropped this connection (overload)",
	    EX_TEMPFAIL },
	{ "unknown-verb", "the daemon does not know this request (an older "
	    "reloaderd?)", EX_PROTOCOL },
	{ "version", "the daemon speaks no protocol version reloaderctl "
	    "speaks", EX_PROTOCOL },
	/* NULL: the daemon's own message says it best. */
	{ "release-failed", NULL, EX_SOFTWARE },
};

/* Returns the monotonic clock in milliseconds. */
long long
conn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets the deadline for the answers to come: seconds from now, or none
 * for 0. */
void
conn_set_timeout(struct conn *c, double seconds)
{
	c->deadline = seconds > 0 ? conn_now() + (long long)(seconds * 1000) +
	    (seconds * 1000 < 1 ? 1 : 0) : 0;
}

/* Returns the exit status that goes with a protocol error code. */
int
conn_error_status(const char *code)
{
	size_t i;

	for (i = 0; code != NULL && i < sizeof(errmap) / sizeof(errmap[0]);
	    i++)
		if (strcmp(errmap[i].code, code) == 0)
			return errmap[i].status;
	return EX_PROTOCOL;
}

/* Writes what an error line means into buf: the meaning of its code
 * where reloaderctl knows one, else the daemon's own message; subject
 * (the module, client or command concerned) leads when given. */
const char *
conn_error_text(const struct proto_msg *m, const char *subject, char *buf,
    size_t len)
{
	const char *code = proto_get(m, "code"), *msg = proto_get(m, "msg");
	const char *text = NULL;
	size_t i, o;

	for (i = 0; code != NULL && i < sizeof(errmap) / sizeof(errmap[0]);
	    i++)
		if (strcmp(errmap[i].code, code) == 0)
			text = errmap[i].text != NULL ? errmap[i].text : msg;
	o = 0;
	if (subject != NULL)
		o = (size_t)snprintf(buf, len, "%s: ", subject);
	if (o >= len)
		return buf;
	/* A request (it has an id) refused to this user says why: show
	 * that; a refusal to attach at all has no id. */
	if (code != NULL && strcmp(code, "denied") == 0 && msg != NULL &&
	    *msg != '\0' && proto_get(m, "id") != NULL)
		snprintf(buf + o, len - o, "denied: %s", msg);
	else if (text != NULL)
		snprintf(buf + o, len - o, "%s", text);
	else
		snprintf(buf + o, len - o, "the daemon answered: %s%s%s",
		    code != NULL && *code != '\0' ? code : "error",
		    msg != NULL && *msg != '\0' ? ": " : "",
		    msg != NULL ? msg : "");
	return buf;
}

/* Prints what an error line means and exits with its status. */
void
conn_error_die(struct conn *c, const struct proto_msg *m,
    const char *subject)
{
	char buf[PROTO_MAX_LINE + 256];

	conn_error_text(m, subject, buf, sizeof(buf));
	ctl_die(conn_error_status(proto_get(m, "code")), "%s", buf);
}

/* Prints what went wrong with the connection (c->err) and exits: the
 * timeout, the daemon going away, or a bad line.  what is CONN_EOF,
 * CONN_TIMEOUT or CONN_ERROR. */
void
conn_fail(struct conn *c, int what)
{
	switch (what) {
	case CONN_EOF:
		ctl_die(EX_UNAVAILABLE, "the daemon closed the connection "
		    "(%s)", c->path);
	case CONN_TIMEOUT:
		ctl_die(EX_TEMPFAIL, "no answer from the daemon within the "
		    "timeout (-t)");
	default:
		ctl_die(c->errcode != 0 ? c->errcode : EX_PROTOCOL, "%s",
		    c->err);
	}
}

/* Connects to the socket at c->path; 0, or -1 with c->err and
 * c->errcode saying why (EX_UNAVAILABLE when no daemon is there). */
int
conn_open(struct conn *c)
{
	struct sockaddr_un sun;
	struct stat sb;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(c->path) >= sizeof(sun.sun_path)) {
		snprintf(c->err, sizeof(c->err), "%s: socket path longer "
		    "than %zu bytes", c->path, sizeof(sun.sun_path) - 1);
		c->errcode = EX_USAGE;
		return -1;
	}
	memcpy(sun.sun_path, c->path, strlen(c->path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(c->err, sizeof(c->err), "socket: %s",
		    strerror(errno));
		c->errcode = EX_OSERR;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		c->fd = fd;
		linebuf_reset(&c->lines);
		return 0;
	}
	e = errno;
	close(fd);
	c->errcode = EX_UNAVAILABLE;
	if (e == ENOENT)
		snprintf(c->err, sizeof(c->err), "%s: no such socket (is "
		    "reloaderd running?)", c->path);
	else if (e == EACCES || e == EPERM) {
		snprintf(c->err, sizeof(c->err), "%s: %s", c->path,
		    strerror(e));
		c->errcode = EX_NOPERM;
	} else if (stat(c->path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
		snprintf(c->err, sizeof(c->err), "%s: not a socket (is the "
		    "path right?)", c->path);
	else if (e == ECONNREFUSED)
		snprintf(c->err, sizeof(c->err), "%s: connection refused: "
		    "no reloaderd listens there", c->path);
	else
		snprintf(c->err, sizeof(c->err), "%s: %s", c->path,
		    strerror(e));
	return -1;
}

/* Connects and says hello; exits with a message if the daemon is not
 * there or does not welcome us. */
void
conn_connect(struct conn *c)
{
	struct proto_msg m;
	int rc;

	if (conn_open(c) == -1)
		ctl_die(c->errcode, "%s", c->err);
	rc = conn_hello(c, &m);
	if (rc == CONN_LINE)
		return;
	if (rc == ANS_ERROR)
		conn_error_die(c, &m, NULL);
	conn_fail(c, rc);
}

/* Says hello as a control connection and reads the welcome: CONN_LINE
 * when welcomed, ANS_ERROR with the error line in m, or what conn_read
 * returned. */
int
conn_hello(struct conn *c, struct proto_msg *m)
{
	struct proto_out o;
	int rc;

	proto_start(&o, c->out, sizeof(c->out), "hello");
	proto_add(&o, "proto", "1");
	proto_addf(&o, "pid", "%ld", (long)getpid());
	proto_add(&o, "name", "reloaderctl");
	proto_add(&o, "lib", "reloaderctl/" RELOADER_VERSION);
	proto_add(&o, "role", "control");
	if (conn_send(c, &o) == -1)
		return CONN_ERROR;
	for (;;) {
		if ((rc = conn_read(c, m)) != CONN_LINE)
			return rc;
		if (strcmp(m->verb, "error") == 0)
			return ANS_ERROR;
		if (strcmp(m->verb, "welcome") == 0)
			break;
		/* Nothing else may come before welcome. */
		snprintf(c->err, sizeof(c->err), "the daemon answered hello "
		    "with \"%s\", not welcome", m->verb);
		c->errcode = EX_PROTOCOL;
		return CONN_ERROR;
	}
	return CONN_LINE;
}

/* Closes the connection, if open. */
void
conn_close(struct conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/* Begins a request line with its verb and a fresh id=; returns the id. */
unsigned long
conn_start(struct conn *c, struct proto_out *o, const char *verb)
{
	unsigned long id = ++c->nextid;

	proto_start(o, c->out, sizeof(c->out), verb);
	proto_addf(o, "id", "%lu", id);
	return id;
}

/* Ends a line and sends it whole; 0, or -1 with c->err (the daemon
 * went away, or the line is too long). */
int
conn_send(struct conn *c, struct proto_out *o)
{
	size_t off = 0;
	ssize_t n;
	int len;

	if ((len = proto_end(o)) == -1) {
		snprintf(c->err, sizeof(c->err), "a request would be longer "
		    "than %d bytes; a name or path is too long",
		    PROTO_MAX_LINE);
		c->errcode = EX_USAGE;
		return -1;
	}
	if (c->fd == -1) {
		snprintf(c->err, sizeof(c->err), "not connected");
		c->errcode = EX_UNAVAILABLE;
		return -1;
	}
	while (off < (size_t)len) {
		n = send(c->fd, o->buf + off, (size_t)len - off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(c->err, sizeof(c->err), "%s: lost the "
			    "daemon: %s", c->path, strerror(errno));
			c->errcode = EX_UNAVAILABLE;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Sends a line, or exits saying why it could not be sent. */
void
conn_send_or_die(struct conn *c, struct proto_out *o)
{
	if (conn_send(c, o) == -1)
		ctl_die(c->errcode, "%s", c->err);
}

/* Answers the daemon's ping with a pong carrying the same id. */
static void
conn_pong(struct conn *c, const struct proto_msg *m)
{
	struct proto_out o;
	const char *id = proto_get(m, "id");

	proto_start(&o, c->out, sizeof(c->out), "pong");
	if (id != NULL)
		proto_add(&o, "id", id);
	(void)conn_send(c, &o);
}

/* Takes the next whole line of what was read into c->line and parses
 * it into m: CONN_LINE, CONN_ERROR for a bad or overlong line, or -1
 * when no whole line is there yet. */
static int
conn_take(struct conn *c, struct proto_msg *m)
{
	const char *code;
	char *line, err[PROTO_ERR_MAX], raw[4 * 60 + 1];
	size_t len;

	switch (linebuf_next(&c->lines, &line, &len)) {
	case LINEBUF_NONE:
		return -1;
	case LINEBUF_LINE:
		break;
	case LINEBUF_TOO_LONG:
		snprintf(c->err, sizeof(c->err), "the daemon sent a line "
		    "longer than %d bytes", PROTO_MAX_LINE);
		c->errcode = EX_PROTOCOL;
		return CONN_ERROR;
	default:
		snprintf(c->err, sizeof(c->err), "out of memory");
		c->errcode = EX_OSERR;
		return CONN_ERROR;
	}
	memcpy(c->line, line, len + 1);
	/* Kept for the message: the parser cuts the line up. */
	proto_escape(raw, sizeof(raw), line, len < 60 ? len : 60);
	if (proto_parse(c->line, len, m, &code, err, sizeof(err)) == 0)
		return CONN_LINE;
	snprintf(c->err, sizeof(c->err), "the daemon sent a line "
	    "reloaderctl cannot read: %s (\"%s%s\")", err, raw,
	    len > 60 ? "..." : "");
	c->errcode = EX_PROTOCOL;
	return CONN_ERROR;
}

/*
 * Reads the next line from the daemon into m, answering its pings by
 * the way: CONN_LINE, CONN_EOF, CONN_TIMEOUT (c->deadline passed, or
 * with CONN_NOWAIT no whole line had come), CONN_SIGNAL (a caught signal
 * is pending), or CONN_ERROR (c->err).
 */
int
conn_read(struct conn *c, struct proto_msg *m)
{
	struct pollfd pfd;
	struct timespec ts, *tsp;
	long long left;
	ssize_t n;
	int rc;

	for (;;) {
		while ((rc = conn_take(c, m)) != -1) {
			if (rc == CONN_LINE && strcmp(m->verb, "ping") == 0) {
				conn_pong(c, m);
				continue;
			}
			return rc;
		}
		if (sig_pending || sig_child)
			return CONN_SIGNAL;
		if (c->fd == -1)
			return CONN_EOF;
		tsp = NULL;
		if (c->deadline == CONN_NOWAIT) {
			/* Only what has already come. */
			ts.tv_sec = 0;
			ts.tv_nsec = 0;
			tsp = &ts;
		} else if (c->deadline != 0) {
			if ((left = c->deadline - conn_now()) <= 0)
				return CONN_TIMEOUT;
			ts.tv_sec = (time_t)(left / 1000);
			ts.tv_nsec = (long)(left % 1000) * 1000000;
			tsp = &ts;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		rc = ppoll(&pfd, 1, tsp, sig_waitmask());
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1) {
			snprintf(c->err, sizeof(c->err), "poll: %s",
			    strerror(errno));
			c->errcode = EX_OSERR;
			return CONN_ERROR;
		}
		if (rc == 0 && c->deadline == CONN_NOWAIT)
			return CONN_TIMEOUT;
		if (rc == 0)
			continue;
		n = read(c->fd, c->in, sizeof(c->in));
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1 && errno != ECONNRESET) {
			snprintf(c->err, sizeof(c->err), "%s: read: %s",
			    c->path, strerror(errno));
			c->errcode = EX_UNAVAILABLE;
			return CONN_ERROR;
		}
		if (n <= 0) {
			conn_close(c);
			if (linebuf_pending(&c->lines)) {
				snprintf(c->err, sizeof(c->err), "the daemon "
				    "closed the connection in the middle of "
				    "a line");
				c->errcode = EX_UNAVAILABLE;
				linebuf_reset(&c->lines);
				return CONN_ERROR;
			}
			return CONN_EOF;
		}
		linebuf_feed(&c->lines, c->in, (size_t)n);
	}
}

/*
 * Reads the next line of the answer to the request out into m: ANS_DATA,
 * ANS_OK or ANS_ERROR, or what conn_read returned when it failed.
 * "event" and "sources-changed" lines go to c->on_event; every other
 * line answers the request, since there is only ever one out.  The id is not matched, so that an
 * answer line the daemon sent without it (an error about a line it could
 * not read, say) still ends the request.
 */
int
conn_answer_try(struct conn *c, unsigned long id, struct proto_msg *m)
{
	int rc;

	(void)id;
	for (;;) {
		if ((rc = conn_read(c, m)) != CONN_LINE)
			return rc;
		if (strcmp(m->verb, "event") == 0 ||
		    strcmp(m->verb, "sources-changed") == 0) {
			if (c->on_event != NULL)
				c->on_event(c, m, c->arg);
			continue;
		}
		if (strcmp(m->verb, "ok") == 0)
			return ANS_OK;
		if (strcmp(m->verb, "error") == 0)
			return ANS_ERROR;
		return ANS_DATA;
	}
}

/* Like conn_answer_try, but exits on a timeout, the daemon going away
 * or a bad line, and quietly on a caught signal. */
int
conn_answer(struct conn *c, unsigned long id, struct proto_msg *m)
{
	int rc = conn_answer_try(c, id, m);

	if (rc == CONN_SIGNAL)
		exit(0);
	if (rc != ANS_DATA && rc != ANS_OK && rc != ANS_ERROR)
		conn_fail(c, rc);
	return rc;
}

/* Reads the answer to request id, which must be a lone ok for verb;
 * exits with a message on an error or anything else. */
void
conn_expect_ok(struct conn *c, unsigned long id, const char *verb,
    struct proto_msg *m)
{
	switch (conn_answer(c, id, m)) {
	case ANS_OK:
		return;
	case ANS_ERROR:
		conn_error_die(c, m, verb);
	default:
		ctl_die(EX_PROTOCOL, "%s: the daemon answered with an "
		    "unexpected \"%s\" line", verb, m->verb);
	}
}

/* Sends a request with no fields but its id and reads its lone ok. */
void
conn_simple(struct conn *c, const char *verb, struct proto_msg *m)
{
	struct proto_out o;
	unsigned long id;

	id = conn_start(c, &o, verb);
	conn_send_or_die(c, &o);
	conn_expect_ok(c, id, verb, m);
}
