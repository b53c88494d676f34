/*
 * log.c: the daemon's log: stderr, a file, the journal, or syslog.
 *
 * One line per event.  On stderr and in a file each line starts with an
 * ISO 8601 UTC timestamp and the level; when stderr is the systemd
 * journal's stream it starts with a <N> priority prefix instead, and the
 * journal adds the time.  A daemon without a terminal or a file logs to
 * syslog.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "reloaderd.h"

enum log_dest { LOG_DEST_STDERR, LOG_DEST_FILE, LOG_DEST_SYSLOG };

static enum log_dest log_dest = LOG_DEST_STDERR;
static int log_level = LOG_INFO;
static int log_journal;        /* stderr is the journal's stream */
static int log_fd = -1;        /* the log file, if any */
static char *log_path;         /* its path, for reopening */

/* The most recent lines, kept in memory for `reloaderctl tail`. */
#define LOG_RING 1000
struct log_entry {
	struct timespec ts;
	int pri;
	char *msg;
	char *about;            /* the file the line tells of, or NULL */
};
static struct log_entry log_ring[LOG_RING];
static size_t log_ring_next;   /* where the next line goes */
static size_t log_ring_n;      /* lines held, at most LOG_RING */
static void (*log_tap)(const struct timespec *, int, const char *,
    const char *);
static int log_tapping;        /* in the tap: no recursion */
static char *log_subject;      /* what the lines logged now tell of */

/* Lines written while held (log_hold): they go out at the release, after
 * the work they tell of, in writes of whole lines of at most PIPE_BUF
 * bytes, which a pipe never splits or mixes with another writer's; so a
 * long batch also shows its progress as it goes. */
#define LOG_HELD_MAX PIPE_BUF
static char log_held[LOG_HELD_MAX];
static size_t log_held_len;
static int log_holding;

/* Says whether stderr is the stream systemd named in JOURNAL_STREAM. */
static int
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &sb) == -1)
		return 0;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

/* Starts logging to stderr (foreground) or syslog, at a level. */
void
log_init(int foreground, int level)
{
	log_level = level;
	log_journal = log_stderr_is_journal();
	if (foreground || log_journal)
		log_dest = LOG_DEST_STDERR;
	else {
		log_dest = LOG_DEST_SYSLOG;
		openlog("reloaderd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
}

/* Sets the most detailed level that is logged. */
void
log_setlevel(int level)
{
	log_level = level;
}

/* Returns the most detailed level that is logged. */
int
log_getlevel(void)
{
	return log_level;
}

/* Writes n bytes to the log's descriptor, whatever EINTR or a short
 * write does; a line the log cannot take is lost, as syslog loses it. */
static void
log_out(const char *buf, size_t n)
{
	int fd = log_dest == LOG_DEST_FILE ? log_fd : STDERR_FILENO;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, buf, n)) == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

/* Writes the held lines out. */
static void
log_flush(void)
{
	int saved = errno;

	if (log_held_len > 0)
		log_out(log_held, log_held_len);
	log_held_len = 0;
	errno = saved;
}

/* Holds the lines logged from now until log_release(), so that writing
 * them does not delay what they tell of (a batch: a client waits for it,
 * and the log's destination, a file or the journal, can be slow).  Each
 * line keeps the time it was logged at, and `reloaderctl tail` sees it
 * at once. */
void
log_hold(void)
{
	log_holding++;
}

/* Writes the lines held since the matching log_hold(). */
void
log_release(void)
{
	if (log_holding > 0 && --log_holding == 0)
		log_flush();
}

/* Opens path for appending and makes it the log; keeps the old on error. */
int
log_open_file(const char *path)
{
	char *copy;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	log_flush();
	if ((copy = strdup(path)) == NULL) {
		close(fd);
		return -1;
	}
	if (log_fd != -1)
		close(log_fd);
	free(log_path);
	log_fd = fd;
	log_path = copy;
	log_dest = LOG_DEST_FILE;
	return 0;
}

/* Reopens the log file under its name, after logrotate moved it. */
int
log_reopen(void)
{
	char *path;
	int rc;

	if (log_path == NULL)
		return 0;
	if ((path = strdup(log_path)) == NULL)
		return -1;
	rc = log_open_file(path);
	free(path);
	return rc;
}

/* Stops logging to a file; later lines go to stderr. */
void
log_close(void)
{
	log_flush();
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	if (log_dest == LOG_DEST_FILE)
		log_dest = LOG_DEST_STDERR;
}

/* Returns the word a level is written as. */
const char *
log_level_name(int pri)
{
	switch (pri) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warn";
	case LOG_NOTICE:
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* Formats a time as the log writes it: ISO 8601 UTC with milliseconds. */
void
log_format_time(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
}

/* Says which file the lines logged from now on tell of (NULL: none), so
 * that they reach only the peers that may read it (ctl.c). */
void
log_about(const char *path)
{
	free(log_subject);
	log_subject = NULL;
	if (path != NULL && (log_subject = strdup(path)) == NULL)
		log_subject = NULL;
}

/* Keeps a line in the ring and hands it to the tap, if one is set. */
static void
log_keep(const struct timespec *ts, int pri, const char *msg)
{
	struct log_entry *e = &log_ring[log_ring_next];
	char *copy, *about = NULL;

	if ((copy = strdup(msg)) != NULL && (log_subject == NULL ||
	    (about = strdup(log_subject)) != NULL)) {
		free(e->msg);
		free(e->about);
		e->ts = *ts;
		e->pri = pri;
		e->msg = copy;
		e->about = about;
		log_ring_next = (log_ring_next + 1) % LOG_RING;
		if (log_ring_n < LOG_RING)
			log_ring_n++;
	} else
		free(copy);
	if (log_tap != NULL && !log_tapping) {
		log_tapping = 1;
		log_tap(ts, pri, msg, log_subject);
		log_tapping = 0;
	}
}

/* Sets the function that sees every line logged, or none. */
void
log_set_tap(void (*fn)(const struct timespec *, int, const char *,
    const char *))
{
	log_tap = fn;
}

/* Returns how many lines the ring holds. */
size_t
log_ring_count(void)
{
	return log_ring_n;
}

/* Gets the i-th oldest line the ring holds, and the file it tells of
 * (NULL if none); -1 past the end. */
int
log_ring_get(size_t i, struct timespec *ts, int *pri, const char **msg,
    const char **about)
{
	const struct log_entry *e;

	if (i >= log_ring_n)
		return -1;
	e = &log_ring[(log_ring_next + LOG_RING - log_ring_n + i) % LOG_RING];
	*ts = e->ts;
	*pri = e->pri;
	*msg = e->msg;
	*about = e->about;
	return 0;
}

/* Writes one formatted line at priority pri, with errno's text if asked. */
static void
log_vwrite(int pri, int with_errno, const char *fmt, va_list ap)
{
	char raw[8192], msg[8192], line[8300], stamp[32];
	struct timespec ts;
	int saved = errno, n;
	size_t len;

	if (pri > log_level)
		return;
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n < 0)
		return;
	if (with_errno) {
		len = strlen(raw);
		snprintf(raw + len, sizeof(raw) - len, ": %s", strerror(saved));
	}
	/* What no log_esc made safe, no terminal sees either. */
	proto_vis(msg, sizeof(msg), raw, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	if (log_dest == LOG_DEST_SYSLOG)
		syslog(pri, "%s", msg);
	else {
		if (log_dest == LOG_DEST_STDERR && log_journal)
			n = snprintf(line, sizeof(line), "<%d>%s\n", pri, msg);
		else {
			log_format_time(&ts, stamp, sizeof(stamp));
			n = snprintf(line, sizeof(line), "%s %s %s\n", stamp,
			    log_level_name(pri), msg);
		}
		if (n >= 0 && (size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		/* Whole lines per write, so that lines from a rotating
		 * logger never mix. */
		if (n > 0 && log_holding &&
		    log_held_len + (size_t)n > sizeof(log_held))
			log_flush();
		if (n > 0 && log_holding && (size_t)n <= sizeof(log_held)) {
			memcpy(log_held + log_held_len, line, (size_t)n);
			log_held_len += (size_t)n;
		} else if (n > 0)
			log_out(line, (size_t)n);
	}
	/* Last, so that whatever the tap logs comes after this line. */
	log_keep(&ts, pri, msg);
	errno = saved;
}

/* Logs a warning followed by errno's text. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, 1, fmt, ap);
	va_end(ap);
}

/* Logs a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, 0, fmt, ap);
	va_end(ap);
}

/* Logs an error the daemon survives. */
void
log_errorx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, 0, fmt, ap);
	va_end(ap);
}

/* Logs an event a user wants to see. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

/* Logs detail shown with -v. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/* Logs an error with errno's text and exits. */
void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, 1, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}

/* Logs an error and exits. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, 0, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}

/* Returns s made safe for a log line: quoted if it holds blanks, quotes,
 * backslashes or anything a terminal must not see as it is, which is
 * escaped (see proto_vis); valid UTF-8 stays as it is.  The result lives
 * until the fourth call after this one. */
const char *
log_esc(const char *s)
{
	static char ring[4][4096];
	static int next;
	char *out = ring[next++ % 4];
	const char *p;
	size_t n;

	for (p = s; *p != '\0'; p += n)
		if (*p == ' ' || *p == '"' || *p == '\\' ||
		    (n = proto_vis_len(p)) == 0)
			break;
	if (*s != '\0' && *p == '\0')
		return s;
	out[0] = '"';
	proto_vis(out + 1, sizeof(ring[0]) - 2, s, 1);
	strcat(out, "\"");
	return out;
}
