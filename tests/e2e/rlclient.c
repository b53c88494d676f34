/*
 * rlclient.c: a scripted line client for the end-to-end tests, a socat
 * that knows what it expects.
 *
 *	rlclient [-w] [-t timeout_ms] SOCKET <script
 *
 * Connects to the Unix stream socket (with -w, retrying until it accepts
 * connections or the timeout passes), then runs the script on stdin, one
 * directive a line, as each line arrives (so a test may feed it through a
 * FIFO while it acts on the files):
 *
 *   > TEXT        send TEXT and LF (TEXT raw, as written)
 *   >n TEXT       send TEXT without LF
 *   >x HEX        send the bytes given in hex (blanks allowed), no LF
 *   >big N        send N 'a' bytes and LF
 *   >rep N TEXT   send TEXT and LF, N times, without reading meanwhile
 *   < SUBSTRING   wait (up to the timeout, counted from this directive)
 *                 for a received line containing SUBSTRING; consumes the
 *                 received lines up to and including it
 *   <! SUBSTRING  no line received since the last match (read so far,
 *                 without waiting) contains SUBSTRING
 *   !sleep MS     wait MS milliseconds, reading
 *   !close        shut down the write side
 *   !eof          wait until the daemon closes the connection
 *   # ...         a comment; blank lines are skipped too
 *
 * Every received line is printed as it arrives, as "< LINE", flushed.  The
 * socket is read only while waiting (for a line, for EOF, for the next
 * directive, or in !sleep), never while sending, so a client that sends a
 * lot without reading is a slow client.  Exit status: 0 when the script
 * ends with every wait satisfied; 1 on a timeout, an unexpected EOF or a
 * failed "<!", with a message naming the directive and what was received;
 * 2 on usage and connect errors.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXLINE   65536   /* longest received line kept whole */
#define SHOWN     20      /* received lines shown in a failure message */

static const char *sockpath;
static long timeout_ms = 5000;
static int fd = -1;

static char rbuf[MAXLINE];     /* a received line being assembled */
static size_t rlen;
static int skipping;           /* dropping the rest of an overlong line */
static int peer_eof;           /* the daemon closed the connection */
static int wr_closed;          /* our write side is shut or broken */

static char **pend;            /* lines received since the last match */
static size_t npend, cappend;

static int scriptline;         /* the directive being run */
static const char *directive;

/* Prints usage and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: rlclient [-w] [-t timeout_ms] SOCKET "
	    "<script\n");
	exit(2);
}

/* Returns a monotonic clock in milliseconds. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints a message about the current directive, the lines received
 * since the last match, and exits with status. */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	fflush(stdout);
	if (directive != NULL)
		fprintf(stderr, "rlclient: script line %d `%s': ", scriptline,
		    directive);
	else
		fprintf(stderr, "rlclient: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (status == 1) {
		if (npend == 0)
			fprintf(stderr, "rlclient: received since the last "
			    "match: nothing%s\n", peer_eof ? " (connection "
			    "closed)" : "");
		else {
			fprintf(stderr, "rlclient: received since the last "
			    "match (%zu lines%s):\n", npend, npend > SHOWN ?
			    ", the last ones" : "");
			for (i = npend > SHOWN ? npend - SHOWN : 0; i < npend;
			    i++)
				fprintf(stderr, "rlclient:   < %s\n", pend[i]);
			if (peer_eof)
				fprintf(stderr, "rlclient: then the "
				    "connection was closed\n");
		}
	}
	exit(status);
}

/* Takes a received line: prints it and keeps it for the waits. */
static void
got_line(const char *s, size_t len)
{
	char *copy;

	fputs("< ", stdout);
	fwrite(s, 1, len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	if (npend == cappend) {
		cappend = cappend ? cappend * 2 : 64;
		if ((pend = realloc(pend, cappend * sizeof(*pend))) == NULL)
			die(2, "out of memory");
	}
	if ((copy = malloc(len + 1)) == NULL)
		die(2, "out of memory");
	memcpy(copy, s, len);
	copy[len] = '\0';
	pend[npend++] = copy;
}

/* Splits n received bytes into lines. */
static void
got_bytes(const char *p, size_t n)
{
	const char *lf;
	size_t take;

	while (n > 0) {
		lf = memchr(p, '\n', n);
		take = lf != NULL ? (size_t)(lf - p) : n;
		if (skipping) {
			if (lf != NULL)
				skipping = 0;
		} else {
			if (take > sizeof(rbuf) - rlen) {
				memcpy(rbuf + rlen, p, sizeof(rbuf) - rlen);
				rlen = sizeof(rbuf);
			} else {
				memcpy(rbuf + rlen, p, take);
				rlen += take;
			}
			if (lf != NULL) {
				got_line(rbuf, rlen);
				rlen = 0;
			} else if (rlen == sizeof(rbuf)) {
				fprintf(stderr, "rlclient: a received line is "
				    "longer than %d bytes; kept its start\n",
				    MAXLINE);
				got_line(rbuf, rlen);
				rlen = 0;
				skipping = 1;
			}
		}
		if (lf == NULL)
			break;
		n -= take + 1;
		p += take + 1;
	}
}

/* Notes that the daemon closed the connection. */
static void
got_eof(const char *how)
{
	if (rlen > 0) {
		fprintf(stderr, "rlclient: the last line has no LF\n");
		got_line(rbuf, rlen);
		rlen = 0;
	}
	if (how != NULL)
		fprintf(stderr, "rlclient: %s\n", how);
	peer_eof = 1;
}

/* Reads what the socket has, waiting up to wait ms for the first bytes;
 * returns whether anything (bytes or EOF) arrived. */
static int
pump(long wait)
{
	struct pollfd pfd;
	char buf[65536];
	ssize_t n;
	int any = 0;

	if (peer_eof)
		return 0;
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, wait < 0 ? 0 : wait > INT_MAX ? INT_MAX :
	    (int)wait) == -1) {
		if (errno == EINTR)
			return 0;
		die(2, "poll: %s", strerror(errno));
	}
	if (pfd.revents == 0)
		return 0;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			got_bytes(buf, (size_t)n);
			any = 1;
			continue;
		}
		if (n == 0) {
			got_eof(NULL);
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return any;
		if (errno == ECONNRESET) {
			got_eof("connection reset by the daemon (it closed "
			    "with our bytes unread)");
			return 1;
		}
		die(1, "recv: %s", strerror(errno));
	}
}

/* Sends len bytes, within the timeout; a connection the daemon closed
 * is noted, not fatal: the next wait says what that means. */
static void
send_all(const char *p, size_t len)
{
	long long deadline = now_ms() + timeout_ms, left;
	struct pollfd pfd;
	ssize_t n;

	while (len > 0 && !wr_closed) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET)) {
			fprintf(stderr, "rlclient: script line %d: the daemon "
			    "closed the connection: %s (%zu bytes not "
			    "sent)\n", scriptline, strerror(errno), len);
			wr_closed = 1;
			return;
		}
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			die(1, "send: %s", strerror(errno));
		if ((left = deadline - now_ms()) <= 0)
			die(1, "timed out after %ld ms sending (%zu bytes "
			    "left): the daemon does not read", timeout_ms,
			    len);
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			die(2, "poll: %s", strerror(errno));
	}
	if (len > 0)
		fprintf(stderr, "rlclient: script line %d: not sent, the "
		    "write side is closed\n", scriptline);
}

/* Frees the first n received lines. */
static void
consume(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(pend[i]);
	memmove(pend, pend + n, (npend - n) * sizeof(*pend));
	npend -= n;
}

/* Waits for a received line containing sub and consumes up to it. */
static void
expect(const char *sub)
{
	long long deadline = now_ms() + timeout_ms;
	size_t i, seen = 0;

	for (;;) {
		for (i = seen; i < npend; i++) {
			if (strstr(pend[i], sub) != NULL) {
				consume(i + 1);
				return;
			}
		}
		seen = npend;
		if (peer_eof)
			die(1, "the daemon closed the connection before a "
			    "line containing \"%s\"", sub);
		if (now_ms() >= deadline)
			die(1, "timed out after %ld ms waiting for a line "
			    "containing \"%s\"", timeout_ms, sub);
		pump(deadline - now_ms());
	}
}

/* Asserts that no line received since the last match contains sub. */
static void
expect_not(const char *sub)
{
	size_t i;

	while (pump(0))
		;
	for (i = 0; i < npend; i++)
		if (strstr(pend[i], sub) != NULL)
			die(1, "received a line containing \"%s\": %s", sub,
			    pend[i]);
}

/* Reads what arrives for ms milliseconds. */
static void
sleep_reading(long ms)
{
	long long deadline = now_ms() + ms, left;

	while ((left = deadline - now_ms()) > 0) {
		if (peer_eof) {
			struct timespec ts = { left / 1000,
			    (left % 1000) * 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		pump(left);
	}
}

/* Waits until the daemon closes the connection. */
static void
expect_eof(void)
{
	long long deadline = now_ms() + timeout_ms;

	while (!peer_eof) {
		if (now_ms() >= deadline)
			die(1, "timed out after %ld ms waiting for the daemon "
			    "to close the connection", timeout_ms);
		pump(deadline - now_ms());
	}
}

/* Parses a count for a directive; exits 2 if it is not one. */
static long
count(const char *s, const char **rest)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || errno != 0 || n < 0 || (*end != '\0' && *end != ' '))
		die(2, "bad count \"%s\"", s);
	if (rest != NULL)
		*rest = *end == ' ' ? end + 1 : end;
	return n;
}

/* Sends the bytes a string of hex digits (blanks allowed) names. */
static void
send_hex(const char *s)
{
	static const char digits[] = "0123456789abcdef0123456789ABCDEF";
	unsigned char *buf;
	size_t n = 0;
	const char *d;
	int half = -1;

	if ((buf = malloc(strlen(s) / 2 + 1)) == NULL)
		die(2, "out of memory");
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t')
			continue;
		if ((d = strchr(digits, *s)) == NULL)
			die(2, "bad hex digit '%c'", *s);
		if (half < 0)
			half = (int)((d - digits) % 16);
		else {
			buf[n++] = (unsigned char)(half << 4 |
			    (int)((d - digits) % 16));
			half = -1;
		}
	}
	if (half >= 0)
		die(2, "odd number of hex digits");
	send_all((const char *)buf, n);
	free(buf);
}

/* Sends text and LF n times, in chunks. */
static void
send_rep(long n, const char *text)
{
	size_t tlen = strlen(text) + 1, per, k, i;
	char *buf;

	per = 65536 / tlen + 1;
	if ((buf = malloc(per * tlen)) == NULL)
		die(2, "out of memory");
	for (i = 0; i < per; i++) {
		memcpy(buf + i * tlen, text, tlen - 1);
		buf[i * tlen + tlen - 1] = '\n';
	}
	while (n > 0 && !wr_closed) {
		k = (size_t)n < per ? (size_t)n : per;
		send_all(buf, k * tlen);
		n -= (long)k;
	}
	free(buf);
}

/* Sends n 'a' bytes and LF. */
static void
send_big(long n)
{
	char *buf;

	if ((buf = malloc((size_t)n + 1)) == NULL)
		die(2, "out of memory");
	memset(buf, 'a', (size_t)n);
	buf[n] = '\n';
	send_all(buf, (size_t)n + 1);
	free(buf);
}

/* Runs one directive. */
static void
run(char *d)
{
	size_t len;
	const char *rest;
	char *text;
	long n;

	directive = d;
	if (d[0] == '\0' || d[0] == '#')
		return;
	if (strcmp(d, ">") == 0)
		send_all("\n", 1);
	else if (strncmp(d, "> ", 2) == 0) {
		len = strlen(d + 2);
		if ((text = malloc(len + 1)) == NULL)
			die(2, "out of memory");
		memcpy(text, d + 2, len);
		text[len] = '\n';
		send_all(text, len + 1);
		free(text);
	} else if (strncmp(d, ">n ", 3) == 0)
		send_all(d + 3, strlen(d + 3));
	else if (strncmp(d, ">x ", 3) == 0)
		send_hex(d + 3);
	else if (strncmp(d, ">big ", 5) == 0)
		send_big(count(d + 5, NULL));
	else if (strncmp(d, ">rep ", 5) == 0) {
		n = count(d + 5, &rest);
		send_rep(n, rest);
	} else if (strncmp(d, "<! ", 3) == 0)
		expect_not(d + 3);
	else if (strncmp(d, "< ", 2) == 0)
		expect(d + 2);
	else if (strncmp(d, "!sleep ", 7) == 0)
		sleep_reading(count(d + 7, NULL));
	else if (strcmp(d, "!close") == 0) {
		if (shutdown(fd, SHUT_WR) == -1 && errno != ENOTCONN)
			die(1, "shutdown: %s", strerror(errno));
		wr_closed = 1;
	} else if (strcmp(d, "!eof") == 0)
		expect_eof();
	else
		die(2, "unknown directive (see the top of rlclient.c)");
}

/* Connects to the socket, retrying until the timeout if wait is set. */
static void
connect_socket(int wait)
{
	struct sockaddr_un sun;
	long long deadline = now_ms() + timeout_ms;
	struct timespec ts = { 0, 10 * 1000000 };

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sockpath) >= sizeof(sun.sun_path))
		die(2, "%s: socket path too long", sockpath);
	memcpy(sun.sun_path, sockpath, strlen(sockpath));
	for (;;) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			die(2, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return;
		if (!wait || (errno != ENOENT && errno != ECONNREFUSED &&
		    errno != EAGAIN))
			die(2, "connect %s: %s", sockpath, strerror(errno));
		if (now_ms() >= deadline)
			die(2, "connect %s: %s (still, after %ld ms)",
			    sockpath, strerror(errno), timeout_ms);
		close(fd);
		nanosleep(&ts, NULL);
	}
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[2];
	char *sbuf = NULL, *lf = NULL;
	size_t slen = 0, scap = 0;
	ssize_t n;
	int ch, wait = 0, script_eof = 0;

	while ((ch = getopt(argc, argv, "t:w")) != -1) {
		switch (ch) {
		case 't':
			timeout_ms = strtol(optarg, NULL, 10);
			if (timeout_ms <= 0)
				usage();
			break;
		case 'w':
			wait = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	sockpath = argv[optind];
	signal(SIGPIPE, SIG_IGN);
	connect_socket(wait);

	for (;;) {
		/* Run every whole directive that has arrived. */
		while ((slen > 0 && (lf = memchr(sbuf, '\n', slen)) != NULL) ||
		    (script_eof && slen > 0)) {
			size_t dlen = lf != NULL ? (size_t)(lf - sbuf) : slen;
			char *d = malloc(dlen + 1);

			if (d == NULL)
				die(2, "out of memory");
			memcpy(d, sbuf, dlen);
			d[dlen] = '\0';
			dlen = lf != NULL ? dlen + 1 : dlen;
			memmove(sbuf, sbuf + dlen, slen - dlen);
			slen -= dlen;
			scriptline++;
			run(d);
			directive = NULL;
			free(d);
		}
		if (script_eof)
			break;

		/* Wait for more script, printing what arrives meanwhile. */
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[1].fd = peer_eof ? -1 : fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			die(2, "poll: %s", strerror(errno));
		}
		if (pfd[1].revents != 0)
			pump(0);
		if (pfd[0].revents == 0)
			continue;
		if (slen == scap) {
			scap = scap ? scap * 2 : 4096;
			if ((sbuf = realloc(sbuf, scap)) == NULL)
				die(2, "out of memory");
		}
		n = read(STDIN_FILENO, sbuf + slen, scap - slen);
		if (n == -1 && errno != EINTR)
			die(2, "reading the script: %s", strerror(errno));
		if (n == 0)
			script_eof = 1;
		else if (n > 0)
			slen += (size_t)n;
	}
	/* Print what has arrived by now. */
	while (pump(0))
		;
	free(sbuf);
	return 0;
}
