/*
 * conn.c: the connection to reloaderd, and the dispatching of the
 * handle's work.
 *
 * reloader_fd() is an epoll descriptor that lives as long as the handle.
 * It holds a timerfd (the next connection attempt, the next hard-purge
 * deadline), an eventfd (reloader_leave() on any thread writes it when
 * an old version's last call leaves, so the purge happens at the next
 * dispatch), and the socket while there is one: EPOLLIN always, EPOLLOUT
 * while a connect is in progress or output is queued.  Nothing here ever
 * blocks: lines are read as they come and output is queued and flushed
 * as the socket takes it.  A socket that fails is only marked dead and
 * dropped at a safe point, so that the batch being worked on is never
 * freed under its feet.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libreloader.h"

#define CONN_TAG_SOCK 1
#define CONN_TAG_TIMER 2
#define CONN_TAG_WAKE 3

static void conn_line(reloader_t *, char *, size_t);

/* Adds a descriptor to the epoll set. */
static int
conn_watch(reloader_t *r, int op, int fd, uint32_t events, uint32_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u32 = tag;
	return epoll_ctl(r->epfd, op, fd, &ev);
}

/* Makes the handle's descriptors; -1 when out of them. */
int
conn_init(reloader_t *r)
{
	r->sock = r->tfd = r->efd = -1;
	if ((r->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->tfd == -1 || r->efd == -1 ||
	    conn_watch(r, EPOLL_CTL_ADD, r->tfd, EPOLLIN, CONN_TAG_TIMER) ||
	    conn_watch(r, EPOLL_CTL_ADD, r->efd, EPOLLIN, CONN_TAG_WAKE)) {
		if (r->tfd != -1)
			close(r->tfd);
		if (r->efd != -1)
			close(r->efd);
		close(r->epfd);
		return -1;
	}
	return 0;
}

/* Closes the socket, if any, and forgets what was in flight on it. */
static void
conn_close(reloader_t *r)
{
	if (r->sock != -1) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->sock, NULL);
		close(r->sock);
		r->sock = -1;
	}
	r->outlen = 0;
	r->laterlen = 0;
	r->in_batch = 0;
	linebuf_reset(&r->lines);
	r->pollout = 0;
	r->dead = 0;
	/* No commit or abort can come any more: the daemon takes a client
	 * that went away as one that gave its switch up. */
	batch_abort(r, r->daemon_err[0] != '\0' ? r->daemon_err :
	    "lost the daemon before it said commit or abort", 0);
	batch_free(r);
}

/* Closes the connection and the handle's descriptors. */
void
conn_free(reloader_t *r)
{
	conn_close(r);
	free(r->out);
	free(r->later);
	r->out = r->later = NULL;
	close(r->tfd);
	close(r->efd);
	close(r->epfd);
}

/* Arms the timer for the next thing due: a connection attempt or a
 * hard purge; disarms it when nothing is. */
void
conn_timer_update(reloader_t *r)
{
	struct itimerspec its;
	double next = -1, d;

	if (r->state == CONN_WAIT)
		next = r->retry_at;
	if (r->prepared && (next < 0 || r->prepared_at + RL_COMMIT_WAIT < next))
		next = r->prepared_at + RL_COMMIT_WAIT;
	d = module_next_deadline(r);
	if (d >= 0 && (next < 0 || d < next))
		next = d;
	memset(&its, 0, sizeof(its));
	if (next >= 0) {
		/* Round up to the microsecond, so it never fires early. */
		next += 0.001;
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)((next -
		    (double)its.it_value.tv_sec * 1000) * 1e6);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Schedules the next connection attempt, backing off. */
static void
conn_backoff(reloader_t *r)
{
	r->state = CONN_WAIT;
	r->retry_at = reloader_now() + r->backoff;
	r->backoff *= 2;
	if (r->backoff > RL_BACKOFF_MAX)
		r->backoff = RL_BACKOFF_MAX;
}

/* Drops the connection and schedules the next attempt. */
static void
conn_drop(reloader_t *r)
{
	struct reloader_event ev;
	int was_ready = r->state == CONN_READY;

	conn_close(r);
	conn_backoff(r);
	if (was_ready) {
		memset(&ev, 0, sizeof(ev));
		ev.type = RELOADER_EV_DISCONNECTED;
		ev.reason = r->daemon_err;
		reloader_queue(r, &ev);
	}
}

/* Writes as much queued output as the socket takes, and watches for
 * EPOLLOUT exactly while some is left. */
static void
conn_flush(reloader_t *r)
{
	size_t off = 0;
	ssize_t n;
	int want;

	if (r->sock == -1 || r->dead || r->state < CONN_HELLO)
		return;
	while (off < r->outlen) {
		n = send(r->sock, r->out + off, r->outlen - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1) {
			r->dead = 1;
			return;
		}
		off += (size_t)n;
	}
	memmove(r->out, r->out + off, r->outlen - off);
	r->outlen -= off;
	want = r->outlen > 0;
	if (want != r->pollout) {
		conn_watch(r, EPOLL_CTL_MOD, r->sock,
		    EPOLLIN | (want ? EPOLLOUT : 0), CONN_TAG_SOCK);
		r->pollout = want;
	}
}

/* Appends n bytes to a growing buffer; -1 when out of memory. */
static int
conn_append(char **buf, size_t *len, size_t *cap, const char *data,
    size_t n)
{
	size_t ncap;
	char *p;

	if (*len + n > *cap) {
		ncap = *cap > 0 ? *cap : 4096;
		while (ncap < *len + n)
			ncap *= 2;
		if ((p = realloc(*buf, ncap)) == NULL)
			return -1;
		*buf = p;
		*cap = ncap;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	return 0;
}

/* Queues n bytes of whole lines for the daemon and writes what it takes. */
static void
conn_write(reloader_t *r, const char *data, size_t n)
{
	if (r->sock == -1 || r->dead || r->state < CONN_HELLO)
		return;
	/* The daemon has not read for a long time: start again. */
	if (r->outlen + n > RL_OUT_MAX ||
	    conn_append(&r->out, &r->outlen, &r->outcap, data, n) == -1) {
		r->dead = 1;
		return;
	}
	/* A batch's results go out with its done line, and what
	 * reloader_dispatch says goes once the host heard its events: in
	 * one write, and the daemon, woken by it, does not run before the
	 * host has heard. */
	if ((!r->in_batch && !r->events_first) || r->outlen >= RL_OUT_BATCH)
		conn_flush(r);
}

/* Writes what waits at once: an answer the daemon must have before the
 * library can go on. */
void
conn_send_now(reloader_t *r)
{
	conn_flush(r);
}

/* Ends a line and queues it for the daemon; a line that outgrew the
 * protocol's limit is not sent. */
void
conn_send(reloader_t *r, struct proto_out *o)
{
	int n;

	if ((n = proto_end(o)) == -1)
		return;
	conn_write(r, o->buf, (size_t)n);
}

/* Like conn_send, but while a batch is being answered the line waits
 * until after its done line, so that results come first. */
static void
conn_send_later(reloader_t *r, struct proto_out *o)
{
	int n;

	if (!r->in_batch) {
		conn_send(r, o);
		return;
	}
	if ((n = proto_end(o)) == -1)
		return;
	if (conn_append(&r->later, &r->laterlen, &r->latercap, o->buf,
	    (size_t)n) == -1)
		r->dead = 1;
}

/* Sends the lines held while a batch was answered, after its done. */
void
conn_send_held(reloader_t *r)
{
	if (r->laterlen > 0)
		conn_write(r, r->later, r->laterlen);
	r->laterlen = 0;
}

/* Answers a daemon line that was wrong. */
static void
conn_error(reloader_t *r, const char *code, const char *msg)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	proto_start(&o, buf, sizeof(buf), "error");
	proto_add(&o, "code", code);
	proto_add(&o, "msg", msg);
	proto_addf(&o, "line", "%llu", r->lineno);
	conn_send(r, &o);
}

/* Tells the daemon about a module and the stamp of its current version. */
void
conn_register(reloader_t *r, reloader_module_t *m)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (r->state != CONN_READY)
		return;
	proto_start(&o, buf, sizeof(buf), "register");
	proto_add(&o, "module", m->name);
	proto_add(&o, "path", m->path);
	proto_add(&o, "stamp", m->stamp);
	/* The version a rollback would go back to, so that the daemon
	 * knows it after a reconnect too. */
	if (m->old != NULL)
		proto_add(&o, "prev", m->old->stamp);
	else if (m->kept != NULL)
		proto_add(&o, "prev", m->kept_stamp);
	conn_send_later(r, &o);
}

/* Tells the daemon a module is closed. */
void
conn_unregister(reloader_t *r, reloader_module_t *m)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (r->state != CONN_READY)
		return;
	proto_start(&o, buf, sizeof(buf), "unregister");
	proto_add(&o, "module", m->name);
	conn_send(r, &o);
}

/* Tells the daemon an old version was purged. */
void
conn_purged(reloader_t *r, reloader_module_t *m, const char *stamp,
    int unmapped, double after, const char *reason)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (r->state != CONN_READY)
		return;
	proto_start(&o, buf, sizeof(buf), "purged");
	proto_add(&o, "module", m->name);
	proto_add(&o, "stamp", stamp);
	proto_add(&o, "unmapped", unmapped ? "yes" : "no");
	proto_addf(&o, "after", "%.2f", after > 0 ? after : 0);
	if (reason != NULL && *reason != '\0')
		proto_add(&o, "reason", reason);
	conn_send_later(r, &o);
}

/* Returns a status as the protocol spells it. */
static const char *
conn_status(enum reloader_status s)
{
	switch (s) {
	case RELOADER_OK:
		return "ok";
	case RELOADER_LOAD_FAILED:
		return "load-failed";
	case RELOADER_TEST_FAILED:
		return "test-failed";
	case RELOADER_ROLLED_BACK:
		return "rolled-back";
	}
	return "load-failed";
}

/* Answers one module of a batch. */
void
conn_result(reloader_t *r, unsigned long long batch, const char *module,
    const struct rl_result *res)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	proto_start(&o, buf, sizeof(buf), "result");
	proto_addf(&o, "batch", "%llu", batch);
	proto_add(&o, "module", module);
	/* A kept test failure is prepared too, and says so. */
	proto_add(&o, "status", res->prepared && res->status == RELOADER_OK ?
	    "prepared" : conn_status(res->status));
	proto_add(&o, "stamp", res->stamp);
	if (res->alone)
		proto_add(&o, "alone", "yes");
	if (res->load_ms >= 0)
		proto_addf(&o, "load", "%.2f", res->load_ms);
	if (res->copied_ms >= 0)
		proto_addf(&o, "copied", "%.2f", res->copied_ms);
	if (res->state_ms >= 0)
		proto_addf(&o, "state", "%.2f", res->state_ms);
	if (res->test_ms >= 0)
		proto_addf(&o, "test", "%.2f", res->test_ms);
	if (res->purge_ms >= 0)
		proto_addf(&o, "purge", "%.2f", res->purge_ms);
	if (res->failed != NULL && res->failed[0] != '\0')
		proto_add(&o, "failed", res->failed);
	if (res->reason[0] != '\0')
		proto_add(&o, "reason", res->reason);
	conn_send(r, &o);
}

/* Sends hello on a socket that just connected. */
static void
conn_up(reloader_t *r)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	r->state = CONN_HELLO;
	r->lineno = 0;
	r->daemon_err[0] = '\0';
	conn_watch(r, EPOLL_CTL_MOD, r->sock, EPOLLIN, CONN_TAG_SOCK);
	r->pollout = 0;
	proto_start(&o, buf, sizeof(buf), "hello");
	proto_addf(&o, "proto", "%d", r->proto_max);
	proto_addf(&o, "min", "%d", 1);
	proto_addf(&o, "pid", "%ld", (long)getpid());
	proto_add(&o, "name", r->name);
	proto_add(&o, "lib", "libreloader/" RELOADER_VERSION_STRING);
	conn_send(r, &o);
}

/* Starts one connection attempt. */
static void
conn_try(reloader_t *r)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, r->sockpath, strlen(r->sockpath));
	r->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (r->sock == -1) {
		conn_backoff(r);
		return;
	}
	if (conn_watch(r, EPOLL_CTL_ADD, r->sock, EPOLLIN | EPOLLOUT,
	    CONN_TAG_SOCK) == -1) {
		close(r->sock);
		r->sock = -1;
		conn_backoff(r);
		return;
	}
	r->pollout = 1;
	if (connect(r->sock, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		conn_up(r);
		return;
	}
	if (errno == EINPROGRESS || errno == EINTR) {
		r->state = CONN_CONNECTING;
		return;
	}
	conn_close(r);
	conn_backoff(r);
}

/* Sets the daemon's socket path. */
int
reloader_set_socket(reloader_t *r, const char *path)
{
	struct sockaddr_un sun;
	char *p;

	if (path == NULL || *path == '\0') {
		reloader_set_error(r, "empty socket path");
		return -1;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		reloader_set_error(r, "socket path is %zu bytes, longer than "
		    "the %zu a Unix socket allows: %s", strlen(path),
		    sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	if ((p = strdup(path)) == NULL) {
		reloader_set_error(r, "out of memory");
		return -1;
	}
	reloader_lock(r);
	free(r->sockpath);
	r->sockpath = p;
	reloader_unlock(r);
	return 0;
}

/* Starts attaching; retries with backoff until it works. */
int
reloader_connect(reloader_t *r)
{
	char path[PATH_MAX];
	int rc;

	reloader_lock(r);
	if (r->state != CONN_OFF) {
		reloader_unlock(r);
		return 0;
	}
	if (r->sockpath == NULL) {
		if (proto_default_socket(path, sizeof(path)) == -1) {
			reloader_set_error(r, "the default socket path is "
			    "longer than %zu bytes", sizeof(path) - 1);
			reloader_unlock(r);
			return -1;
		}
		reloader_unlock(r);
		rc = reloader_set_socket(r, path);
		if (rc == -1)
			return -1;
		reloader_lock(r);
	}
	r->backoff = RL_BACKOFF_MIN;
	conn_try(r);
	conn_timer_update(r);
	reloader_unlock(r);
	return 0;
}

/* Says whether the handle is attached. */
int
reloader_is_connected(const reloader_t *r)
{
	reloader_t *w = (reloader_t *)(uintptr_t)r;
	int ready;

	pthread_mutex_lock(&w->lock);
	ready = r->state == CONN_READY;
	pthread_mutex_unlock(&w->lock);
	return ready;
}

/* Returns the descriptor to watch for reading. */
int
reloader_fd(const reloader_t *r)
{
	return r->epfd;
}

/* Reads what the daemon sent and handles each complete line. */
static void
conn_read(reloader_t *r)
{
	char *line;
	size_t len;
	ssize_t n;
	int rc;

	while (r->sock != -1 && !r->dead) {
		n = read(r->sock, r->in, sizeof(r->in));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			r->dead = 1;
			return;
		}
		linebuf_feed(&r->lines, r->in, (size_t)n);
		while ((rc = linebuf_next(&r->lines, &line, &len)) !=
		    LINEBUF_NONE) {
			if (rc == LINEBUF_NOMEM) {
				r->dead = 1;
				return;
			}
			r->lineno++;
			if (rc == LINEBUF_TOO_LONG)
				conn_error(r, "too-long", "line longer than "
				    "16384 bytes; discarded");
			else
				conn_line(r, line, len);
			/* What is left of the read goes with the socket. */
			if (r->dead)
				return;
		}
		/* The socket held less than a buffer: it is empty, and epoll
		 * (level-triggered) says when more comes, so the host hears
		 * of this batch without waiting for another read. */
		if ((size_t)n < sizeof(r->in))
			return;
	}
}

/* Handles welcome: attached; registers every module again. */
static void
conn_welcome(reloader_t *r, const struct proto_msg *msg)
{
	struct reloader_event ev;
	struct reloader_set *s;
	reloader_module_t *m;
	unsigned long long v;

	if (r->state != CONN_HELLO) {
		conn_error(r, "syntax", "welcome after the handshake");
		return;
	}
	if (proto_get_uint(msg, "proto", &v) == -1 || v < 1 ||
	    v > (unsigned long long)r->proto_max) {
		snprintf(r->daemon_err, sizeof(r->daemon_err), "the daemon "
		    "chose protocol \"%s\"; libreloader speaks 1 to %d",
		    proto_get(msg, "proto") != NULL ? proto_get(msg, "proto") :
		    "", r->proto_max);
		r->dead = 1;
		return;
	}
	r->proto = (int)v;
	r->state = CONN_READY;
	r->backoff = RL_BACKOFF_MIN;
	for (m = r->modules; m != NULL; m = m->next)
		if (!m->removing)
			conn_register(r, m);
	for (s = r->sets; s != NULL; s = s->next)
		conn_watch_set(r, s);
	memset(&ev, 0, sizeof(ev));
	ev.type = RELOADER_EV_CONNECTED;
	reloader_queue(r, &ev);
}

/* Reads a required unsigned field; answers the daemon if it is bad. */
static int
conn_need_uint(reloader_t *r, const struct proto_msg *msg, const char *key,
    unsigned long long *v)
{
	char err[PROTO_ERR_MAX];
	const char *val, *code;

	if (proto_need(msg, key, &val, &code, err, sizeof(err)) == -1) {
		conn_error(r, code, err);
		return -1;
	}
	if (proto_get_uint(msg, key, v) == -1) {
		snprintf(err, sizeof(err), "field \"%s\" of \"%s\" is not a "
		    "decimal number", key, msg->verb);
		conn_error(r, "bad-field", err);
		return -1;
	}
	return 0;
}

/* Reads a required field; answers the daemon if it is missing. */
static const char *
conn_need(reloader_t *r, const struct proto_msg *msg, const char *key)
{
	char err[PROTO_ERR_MAX];
	const char *val, *code;

	if (proto_need(msg, key, &val, &code, err, sizeof(err)) == -1) {
		conn_error(r, code, err);
		return NULL;
	}
	return val;
}

/* Handles the lines of a batch: reload (or, in version 2, prepare),
 * module..., end. */
static void
conn_batch_line(reloader_t *r, const struct proto_msg *msg)
{
	char err[PROTO_ERR_MAX];
	unsigned long long id, count;
	struct conn_entry *e;
	const char *name, *stamp, *action;
	int prepare = strcmp(msg->verb, "prepare") == 0;

	if (conn_need_uint(r, msg, "batch", &id) == -1)
		return;
	if (prepare || strcmp(msg->verb, "reload") == 0) {
		if (conn_need_uint(r, msg, "count", &count) == -1)
			return;
		if (prepare && r->proto < 2) {
			snprintf(err, sizeof(err), "prepare batch=%llu on a "
			    "protocol 1 connection; dropped", id);
			conn_error(r, "unknown-verb", err);
			return;
		}
		if (r->prepared) {
			snprintf(err, sizeof(err), "%s batch=%llu while batch "
			    "%llu is prepared and waits for commit or abort; "
			    "dropped", msg->verb, id, r->batch_id);
			conn_error(r, "bad-field", err);
			return;
		}
		if (r->batch_open) {
			snprintf(err, sizeof(err), "%s batch=%llu while "
			    "batch %llu is still open; dropped that one",
			    msg->verb, id, r->batch_id);
			conn_error(r, "bad-field", err);
			batch_free(r);
		}
		r->batch_open = 1;
		r->batch_prepare = prepare;
		r->batch_id = id;
		r->batch_count = count;
		return;
	}
	if (!r->batch_open || r->prepared || id != r->batch_id) {
		snprintf(err, sizeof(err), "\"%s\" for batch %llu, which is "
		    "not open", msg->verb, id);
		conn_error(r, "bad-field", err);
		return;
	}
	if (strcmp(msg->verb, "end") == 0) {
		r->batch_open = 0;
		if (r->batch_prepare)
			batch_prepare(r);
		else
			batch_run(r);
		return;
	}
	if ((name = conn_need(r, msg, "module")) == NULL ||
	    conn_need(r, msg, "path") == NULL ||
	    (stamp = conn_need(r, msg, "stamp")) == NULL)
		return;
	if (r->batch_n >= r->batch_count) {
		snprintf(err, sizeof(err), "batch %llu has more than the "
		    "%llu modules it announced", id, r->batch_count);
		conn_error(r, "bad-field", err);
		return;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->module = strdup(name)) == NULL)
		goto oom;
	/* The action is checked here but refused only in the answer, so
	 * that the daemon hears of it as a result. */
	e->force = proto_get(msg, "force") != NULL &&
	    strcmp(proto_get(msg, "force"), "yes") == 0;
	action = proto_get(msg, "action");
	if (action == NULL || strcmp(action, "load") == 0)
		e->action = CONN_LOAD;
	else if (strcmp(action, "rollback") == 0) {
		e->action = CONN_ROLLBACK;
		if ((e->stamp = strdup(stamp)) == NULL)
			goto oom;
	} else {
		e->action = CONN_UNKNOWN;
		if ((e->bad = strdup(action)) == NULL)
			goto oom;
	}
	*r->batch_tail = e;
	r->batch_tail = &e->next;
	r->batch_n++;
	return;

oom:
	/* The daemon sees no result for it. */
	if (e != NULL) {
		free(e->module);
		free(e->stamp);
		free(e->bad);
		free(e);
	}
}

/* Handles commit and abort: the end of the batch prepared. */
static void
conn_switch_line(reloader_t *r, const struct proto_msg *msg)
{
	char err[PROTO_ERR_MAX], why[RL_ERR_MAX];
	unsigned long long id;
	const char *reason;

	if (conn_need_uint(r, msg, "batch", &id) == -1)
		return;
	if (!r->prepared || id != r->batch_id) {
		snprintf(err, sizeof(err), "\"%s\" for batch %llu, which is "
		    "not prepared", msg->verb, id);
		conn_error(r, "bad-result", err);
		return;
	}
	if (strcmp(msg->verb, "commit") == 0) {
		batch_commit(r);
		return;
	}
	reason = proto_get(msg, "reason");
	snprintf(why, sizeof(why), "aborted: %s", reason != NULL &&
	    *reason != '\0' ? reason : "(the daemon gave no reason)");
	batch_abort(r, why, 1);
}

/* Handles what the daemon says of a set: its files that appear and
 * leave; the acknowledgements need nothing. */
static void
conn_set_line(reloader_t *r, const struct proto_msg *msg)
{
	const char *set, *path, *module;

	if ((set = conn_need(r, msg, "set")) == NULL)
		return;
	if (strcmp(msg->verb, "set") == 0 ||
	    strcmp(msg->verb, "unwatched-set") == 0)
		return;
	if ((path = conn_need(r, msg, "path")) == NULL ||
	    (module = conn_need(r, msg, "module")) == NULL)
		return;
	if (strcmp(msg->verb, "set-added") == 0)
		set_added(r, set, path, module);
	else
		set_removed(r, set, path);
}

/* Handles one line from the daemon. */
static void
conn_line(reloader_t *r, char *line, size_t len)
{
	char err[PROTO_ERR_MAX], buf[PROTO_MAX_LINE], msgbuf[RL_ERR_MAX];
	struct proto_msg msg;
	struct proto_out o;
	const char *code, *v;

	if (proto_parse(line, len, &msg, &code, err, sizeof(err)) == -1) {
		/* Never answer an error with an error. */
		if (len >= 5 && memcmp(line, "error", 5) == 0 &&
		    (len == 5 || line[5] == ' ' || line[5] == '\0'))
			return;
		conn_error(r, code, err);
		return;
	}
	if (strcmp(msg.verb, "error") == 0) {
		v = proto_get(&msg, "msg");
		snprintf(msgbuf, sizeof(msgbuf), "%s: %s",
		    proto_get(&msg, "code") != NULL ? proto_get(&msg, "code") :
		    "error", v != NULL ? v : "(no message)");
		memcpy(r->daemon_err, msgbuf, sizeof(r->daemon_err));
		return;
	}
	if (strcmp(msg.verb, "welcome") == 0) {
		conn_welcome(r, &msg);
		return;
	}
	if (strcmp(msg.verb, "ping") == 0) {
		proto_start(&o, buf, sizeof(buf), "pong");
		if ((v = proto_get(&msg, "id")) != NULL)
			proto_add(&o, "id", v);
		conn_send(r, &o);
		return;
	}
	if (strcmp(msg.verb, "pong") == 0 ||
	    strcmp(msg.verb, "registered") == 0 ||
	    strcmp(msg.verb, "unregistered") == 0)
		return;
	if (strcmp(msg.verb, "reload") == 0 ||
	    strcmp(msg.verb, "prepare") == 0 ||
	    strcmp(msg.verb, "module") == 0 || strcmp(msg.verb, "end") == 0) {
		conn_batch_line(r, &msg);
		return;
	}
	if (r->proto >= 2 && (strcmp(msg.verb, "commit") == 0 ||
	    strcmp(msg.verb, "abort") == 0)) {
		conn_switch_line(r, &msg);
		return;
	}
	if (r->proto >= 2 && (strcmp(msg.verb, "set") == 0 ||
	    strcmp(msg.verb, "unwatched-set") == 0 ||
	    strcmp(msg.verb, "set-added") == 0 ||
	    strcmp(msg.verb, "set-removed") == 0)) {
		conn_set_line(r, &msg);
		return;
	}
	snprintf(err, sizeof(err), "unknown verb \"%.64s\"", msg.verb);
	conn_error(r, "unknown-verb", err);
}

/* Finishes a non-blocking connect. */
static void
conn_connected(reloader_t *r)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(r->sock, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		conn_close(r);
		conn_backoff(r);
		return;
	}
	conn_up(r);
}

/* Does the work that is due, waiting up to ms for some (0: none);
 * -1 with a message if epoll fails. */
static int
conn_dispatch_once(reloader_t *r, int ms)
{
	struct epoll_event evs[8];
	uint64_t v;
	int i, n;

	n = epoll_wait(r->epfd, evs, 8, ms);
	if (n == -1 && errno != EINTR) {
		reloader_set_error(r, "epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		switch (evs[i].data.u32) {
		case CONN_TAG_TIMER:
			if (read(r->tfd, &v, sizeof(v)) == -1) {
				/* Not expired after all: nothing to clear. */
			}
			break;
		case CONN_TAG_WAKE:
			if (read(r->efd, &v, sizeof(v)) == -1) {
				/* Already cleared. */
			}
			break;
		case CONN_TAG_SOCK:
			if (r->sock == -1)
				break;
			if (r->state == CONN_CONNECTING) {
				conn_connected(r);
				break;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(r);
			if (evs[i].events & EPOLLOUT)
				conn_flush(r);
			break;
		}
	}
	if (r->dead)
		conn_drop(r);
	if (r->state == CONN_WAIT && reloader_now() >= r->retry_at)
		conn_try(r);
	/* A daemon that neither commits nor aborts is given up on: the
	 * switch is abandoned and the connection made again. */
	if (r->prepared && reloader_now() >= r->prepared_at + RL_COMMIT_WAIT) {
		snprintf(r->daemon_err, sizeof(r->daemon_err), "no commit or "
		    "abort of batch %llu within %d ms of its prepare; gave it "
		    "up", r->batch_id, RL_COMMIT_WAIT);
		r->dead = 1;
	}
	module_purge_due(r);
	if (r->dead)
		conn_drop(r);
	return 0;
}

/*
 * Does the work that is due, without blocking; but while calls are held
 * for a prepared batch (a module of it migrated its state) and the host
 * dispatches on a thread of its own, waits for the daemon's commit or
 * abort (RL_COMMIT_WAIT at most): that thread's calls must not reach the
 * old version, whose state was migrated, and cannot wait in
 * reloader_enter for a commit that only this thread can read.
 */
int
reloader_dispatch(reloader_t *r)
{
	double left;
	int rc;

	reloader_lock(r);
	r->events_first = 1;
	rc = conn_dispatch_once(r, 0);
	while (rc == 0 && !r->threaded && batch_holding(r)) {
		left = r->prepared_at + RL_COMMIT_WAIT - reloader_now();
		rc = conn_dispatch_once(r, left > 0 ? (int)left + 1 : 0);
	}
	r->events_first = 0;
	/* The host hears of every switch first; then the old versions go,
	 * and the daemon hears the results, then the purges. */
	reloader_unlock(r);
	reloader_lock(r);
	module_purge_due(r);
	conn_flush(r);
	if (r->dead)
		conn_drop(r);
	conn_timer_update(r);
	reloader_unlock(r);
	return rc;
}

/* Tells the daemon of a set to watch, once attached with version 2. */
void
conn_watch_set(reloader_t *r, const struct reloader_set *s)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (r->state != CONN_READY || r->proto < 2)
		return;
	proto_start(&o, buf, sizeof(buf), "watch-set");
	proto_addf(&o, "set", "%lu", s->id);
	proto_add(&o, "dir", s->dir);
	proto_add(&o, "pattern", s->pattern);
	conn_send_later(r, &o);
}

/* Tells the daemon a set is closed. */
void
conn_unwatch_set(reloader_t *r, const struct reloader_set *s)
{
	char buf[PROTO_MAX_LINE];
	struct proto_out o;

	if (r->state != CONN_READY || r->proto < 2)
		return;
	proto_start(&o, buf, sizeof(buf), "unwatch-set");
	proto_addf(&o, "set", "%lu", s->id);
	conn_send_later(r, &o);
}

/* Chooses the highest protocol version to speak from the next
 * connection on. */
int
reloader_set_proto(reloader_t *r, int version)
{
	if (version < 1 || version > RL_PROTO_MAX) {
		reloader_set_error(r, "protocol version %d: libreloader "
		    "speaks 1 to %d", version, RL_PROTO_MAX);
		return -1;
	}
	reloader_lock(r);
	r->proto_max = version;
	reloader_unlock(r);
	return 0;
}
