/*
 * fanclients.c: many clients with the same module, for the end-to-end
 * test of the daemon's fan-out (t-fanout.sh).
 *
 *	fanclients SOCKET N PATH STAMP <commands
 *
 * Opens N connections, each of which says hello and registers module m
 * at PATH with STAMP, then reads one command a line and answers each with
 * one line on standard output:
 *
 *	wait STAMP [hold]	waits (up to 20 s) until every connection has
 *				a batch out offering m at STAMP; answers
 *				each (result ok, done) at once unless hold;
 *				then answers "batches B offered O other X":
 *				B batches received since the last wait, O of
 *				them offering STAMP, X any other line that
 *				is not an answer the client expects
 *	answer			answers every batch held; "answered N"
 *	quit			exits; so does the end of input
 *
 * Exit status 1 when a wait times out or a connection closes, 2 on usage
 * errors.
 */
#include <sys/resource.h>
#include <sys/socket.h>
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

/* One connection. */
struct fan {
	int fd;
	char in[8192];
	size_t inlen;
	unsigned long batch;         /* out, not answered yet; 0: none */
	int offered;                 /* its batch offers the stamp waited for */
	int ended;                   /* its batch's end arrived */
	int registered;              /* "registered" arrived */
	char stamp[256];             /* what the batch offers */
};

static struct fan *fans;
static int nfans;
static unsigned long batches, offered, other;

/* Writes a whole line or dies. */
static void
fan_write(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "write");
		}
		s += w;
		n -= (size_t)w;
	}
}

/* Handles one line from the daemon. */
static void
fan_line(struct fan *f, char *line, const char *want)
{
	char *p;

	if (strncmp(line, "reload batch=", 13) == 0) {
		batches++;
		f->batch = strtoul(line + 13, NULL, 10);
		f->offered = 0;
		f->ended = 0;
	} else if (strncmp(line, "module ", 7) == 0) {
		if ((p = strstr(line, " stamp=")) != NULL) {
			snprintf(f->stamp, sizeof(f->stamp), "%.*s",
			    (int)strcspn(p + 7, " "), p + 7);
			if (want != NULL && strcmp(f->stamp, want) == 0) {
				f->offered = 1;
				offered++;
			}
		}
	} else if (strncmp(line, "end ", 4) == 0)
		f->ended = 1;
	else if (strncmp(line, "registered ", 11) == 0)
		f->registered = 1;
	else if (strncmp(line, "welcome ", 8) != 0)
		other++;
}

/* Reads what connection f has, without waiting. */
static void
fan_read(struct fan *f, const char *want)
{
	char *nl, *p;
	ssize_t r;

	r = read(f->fd, f->in + f->inlen, sizeof(f->in) - f->inlen - 1);
	if (r == 0)
		errx(1, "the daemon closed a connection");
	if (r == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		err(1, "read");
	}
	f->inlen += (size_t)r;
	f->in[f->inlen] = '\0';
	for (p = f->in; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		fan_line(f, p, want);
	}
	f->inlen -= (size_t)(p - f->in);
	memmove(f->in, p, f->inlen);
}

/* Answers connection f's batch as loaded. */
static void
fan_answer(struct fan *f)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "result batch=%lu module=m status=ok "
	    "stamp=%s\ndone batch=%lu\n", f->batch, f->stamp, f->batch);
	fan_write(f->fd, buf);
	f->batch = 0;
	f->ended = 0;
}

/* Reads every connection until each has a whole batch out offering
 * want, answering each at once unless hold. */
static int
fan_wait(const char *want, int hold)
{
	struct pollfd *pf = calloc((size_t)nfans, sizeof(*pf));
	struct timespec t0, t1;
	int i, ready;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ready = 0;
		for (i = 0; i < nfans; i++) {
			if (fans[i].batch != 0 && fans[i].ended &&
			    fans[i].offered) {
				ready++;
				if (!hold)
					fan_answer(&fans[i]);
			}
			pf[i].fd = fans[i].fd;
			pf[i].events = POLLIN;
		}
		/* Answered ones wait for the next batch; held ones count. */
		if (ready == nfans || (!hold && batches >= (unsigned)nfans &&
		    offered >= (unsigned)nfans))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 20) {
			free(pf);
			return -1;
		}
		if (poll(pf, (nfds_t)nfans, 100) > 0)
			for (i = 0; i < nfans; i++)
				if (pf[i].revents)
					fan_read(&fans[i], want);
	}
	/* Whatever else came already is counted too. */
	for (i = 0; i < nfans; i++) {
		pf[i].fd = fans[i].fd;
		pf[i].events = POLLIN;
	}
	if (poll(pf, (nfds_t)nfans, 0) > 0)
		for (i = 0; i < nfans; i++)
			if (pf[i].revents)
				fan_read(&fans[i], want);
	free(pf);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct rlimit rl;
	char line[512], buf[1024], want[256];
	int i, n, registered = 0;

	if (argc != 5)
		errx(2, "usage: fanclients SOCKET N PATH STAMP <commands");
	nfans = atoi(argv[2]);
	if (nfans < 1 || strlen(argv[1]) >= sizeof(sun.sun_path))
		errx(2, "bad arguments");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	fans = calloc((size_t)nfans, sizeof(*fans));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], strlen(argv[1]) + 1);
	for (i = 0; i < nfans; i++) {
		/* Blocking: a full backlog waits for the daemon to accept. */
		if ((fans[i].fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			err(1, "socket");
		if (connect(fans[i].fd, (struct sockaddr *)&sun,
		    sizeof(sun)) == -1)
			err(1, "connect %s", argv[1]);
		if (fcntl(fans[i].fd, F_SETFL, O_NONBLOCK) == -1)
			err(1, "fcntl");
		snprintf(buf, sizeof(buf), "hello proto=1 pid=%d name=fan%d\n"
		    "register module=m path=%s stamp=%s\n", (int)getpid(), i,
		    argv[3], argv[4]);
		fan_write(fans[i].fd, buf);
	}
	/* Every connection's "registered" before the first command. */
	while (registered < nfans) {
		registered = 0;
		for (i = 0; i < nfans; i++) {
			if (!fans[i].registered)
				fan_read(&fans[i], NULL);
			registered += fans[i].registered;
		}
		if (other > 0)
			errx(1, "a registration failed");
		usleep(1000);
	}
	printf("registered %d\n", nfans);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "wait %255s", want) == 1) {
			batches = offered = other = 0;
			if (fan_wait(want, strstr(line, " hold") != NULL) == -1)
				errx(1, "timed out: %lu batches, %lu offering "
				    "%s", batches, offered, want);
			printf("batches %lu offered %lu other %lu\n", batches,
			    offered, other);
		} else if (strcmp(line, "answer") == 0) {
			for (n = 0, i = 0; i < nfans; i++)
				if (fans[i].batch != 0 && fans[i].ended) {
					fan_answer(&fans[i]);
					n++;
				}
			printf("answered %d\n", n);
		} else if (strcmp(line, "quit") == 0)
			break;
		else
			errx(2, "unknown command: %s", line);
		fflush(stdout);
	}
	return 0;
}
