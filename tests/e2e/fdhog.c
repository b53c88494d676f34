/*
 * fdhog.c: many connections to the daemon at once, for the end-to-end
 * tests of its limits (descriptors, max-clients, memory).
 *
 *	fdhog SOCKET <commands
 *
 * Raises its own soft descriptor limit to the hard one, then reads one
 * command a line and answers each with one line on standard output:
 *
 *	open N [hello]	opens N more connections, with "hello" sending a
 *			client's hello on each; answers "opened OK failed
 *			F [first error]".  A connect waits up to 100 ms
 *			for room in the daemon's backlog; after three
 *			such waits in vain in a row the rest fail at once
 *	sync		waits (up to 20 s) until every connection that said
 *			hello has received a line or was closed, then
 *			answers as check does
 *	check		looks at what each connection has received so far,
 *			without waiting, and answers "open O welcome W
 *			busy B denied D other X eof E": O connections, W
 *			of them answered welcome, B "error code=busy", D
 *			"error code=denied", X something else, and E closed
 *			by the daemon
 *	close		closes every connection; answers "closed N"
 *	quit		exits; so does the end of input
 *
 * Exit status 2 on usage errors, 1 when a command fails.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What a connection has received, judged by its first line. */
enum got { GOT_NOTHING, GOT_WELCOME, GOT_BUSY, GOT_DENIED, GOT_OTHER };

/* One connection to the daemon. */
struct hog {
	int fd;
	int hello;                       /* said hello */
	int eof;                         /* the daemon closed it */
	enum got got;
	char buf[256];                   /* its first line, as far as read */
	size_t len;
};

static struct sockaddr_un sun;
static struct hog *hogs;
static size_t nhogs, caphogs;

/* Returns a monotonic clock in milliseconds. */
static long long
hog_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens n connections, with hello if asked, and says how many took. */
static void
hog_open(long n, int hello)
{
	struct timeval tv = { 0, 100000 };
	char line[128];
	int fd, len, first = 0, failed = 0, ok = 0, vain = 0;

	for (; n > 0; n--) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    (vain >= 3 ? SOCK_NONBLOCK : 0), 0)) == -1)
			err(1, "socket");
		/* A blocking connect waits for room in the backlog this long. */
		if (vain < 3 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
		    sizeof(tv)) == -1)
			err(1, "setsockopt");
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			if (failed++ == 0)
				first = errno;
			if (errno == EAGAIN || errno == EINPROGRESS)
				vain++;
			close(fd);
			continue;
		}
		vain = 0;
		if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
			err(1, "fcntl");
		if (nhogs == caphogs) {
			caphogs = caphogs ? caphogs * 2 : 1024;
			if ((hogs = realloc(hogs, caphogs * sizeof(*hogs))) ==
			    NULL)
				err(1, NULL);
		}
		memset(&hogs[nhogs], 0, sizeof(hogs[nhogs]));
		hogs[nhogs].fd = fd;
		if (hello) {
			len = snprintf(line, sizeof(line), "hello proto=1 "
			    "pid=%ld name=hog%zu\n", (long)getpid(), nhogs);
			/* A fresh socket's buffer takes a short line whole. */
			if (write(fd, line, (size_t)len) == len)
				hogs[nhogs].hello = 1;
		}
		nhogs++;
		ok++;
	}
	if (failed > 0)
		printf("opened %d failed %d %s\n", ok, failed,
		    strerror(first));
	else
		printf("opened %d failed 0\n", ok);
}

/* Reads what a connection has for us; its first line decides its kind. */
static void
hog_read(struct hog *h)
{
	char tmp[4096];
	ssize_t n;
	size_t take;

	for (;;) {
		n = read(h->fd, tmp, sizeof(tmp));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			h->eof = 1;
		if (n == 0)
			h->eof = 1;
		if (n <= 0)
			break;
		if (h->got != GOT_NOTHING)
			continue;
		take = (size_t)n < sizeof(h->buf) - 1 - h->len ? (size_t)n :
		    sizeof(h->buf) - 1 - h->len;
		memcpy(h->buf + h->len, tmp, take);
		h->len += take;
		h->buf[h->len] = '\0';
		if (memchr(tmp, '\n', (size_t)n) == NULL)
			continue;
		if (strncmp(h->buf, "welcome ", 8) == 0)
			h->got = GOT_WELCOME;
		else if (strncmp(h->buf, "error code=busy ", 16) == 0)
			h->got = GOT_BUSY;
		else if (strncmp(h->buf, "error code=denied ", 18) == 0)
			h->got = GOT_DENIED;
		else
			h->got = GOT_OTHER;
	}
}

/* Says whether a connection still waits for its answer to hello. */
static int
hog_waiting(const struct hog *h)
{
	return h->hello && !h->eof && h->got == GOT_NOTHING;
}

/* Reads every connection, waiting up to ms for those that said hello
 * and have no answer yet; then prints what they received. */
static void
hog_check(long ms)
{
	struct pollfd *pfd;
	long long end = hog_now() + ms;
	size_t i, n, cnt[5] = { 0 }, eof = 0;

	if ((pfd = calloc(nhogs + 1, sizeof(*pfd))) == NULL)
		err(1, NULL);
	for (i = 0; i < nhogs; i++)
		hog_read(&hogs[i]);
	while (ms > 0 && hog_now() < end) {
		for (i = n = 0; i < nhogs; i++)
			if (hog_waiting(&hogs[i])) {
				pfd[n].fd = hogs[i].fd;
				pfd[n++].events = POLLIN;
			}
		if (n == 0)
			break;
		if (poll(pfd, n, (int)(end - hog_now())) == -1 &&
		    errno != EINTR)
			err(1, "poll");
		for (i = 0; i < nhogs; i++)
			if (hog_waiting(&hogs[i]))
				hog_read(&hogs[i]);
	}
	free(pfd);
	for (i = 0; i < nhogs; i++) {
		cnt[hogs[i].got]++;
		eof += hogs[i].eof;
	}
	printf("open %zu welcome %zu busy %zu denied %zu other %zu eof %zu\n",
	    nhogs, cnt[GOT_WELCOME], cnt[GOT_BUSY], cnt[GOT_DENIED],
	    cnt[GOT_OTHER], eof);
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	char line[256], word[32];
	long n;
	size_t i;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: fdhog SOCKET <commands\n");
		return 2;
	}
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], strlen(argv[1]) + 1);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			warn("setrlimit");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		word[0] = '\0';
		if (sscanf(line, "open %ld %31s", &n, word) >= 1 && n >= 0)
			hog_open(n, strcmp(word, "hello") == 0);
		else if (strcmp(line, "sync\n") == 0)
			hog_check(20000);
		else if (strcmp(line, "check\n") == 0)
			hog_check(0);
		else if (strcmp(line, "close\n") == 0) {
			for (i = 0; i < nhogs; i++)
				close(hogs[i].fd);
			printf("closed %zu\n", nhogs);
			nhogs = 0;
		} else if (strcmp(line, "quit\n") == 0)
			break;
		else
			errx(1, "unknown command: %s", line);
	}
	free(hogs);
	return 0;
}
