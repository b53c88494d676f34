/*
 * onechange.c: how long one change in a big tree takes to be reported,
 * by reloaderd and by the kernel's own event, in the same run.
 *
 *	onechange [-l] [-r rounds] SOCKET MODULE.so
 *
 * Subscribes to reloaderd's events on SOCKET and watches MODULE's
 * directory with inotify itself; with -l it also registers MODULE on a
 * second connection, as a process that has it loaded does (and leaves
 * the offers that follow unanswered: only the event is timed).  Then,
 * each round, it writes a copy of
 * MODULE with another build-id beside it and renames it into place (t0
 * right before rename(2)).  It prints the median ms until its own
 * inotify event (what inotifywait would print) and until reloaderd's
 * "event type=change" for the module.  MODULE is left changed.
 */
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Milliseconds on the monotonic clock. */
static double
one_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Says what failed, and exits. */
static void
one_die(const char *what)
{
	fprintf(stderr, "onechange: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Compares doubles, for qsort. */
static int
one_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct pollfd pf[2];
	struct stat sb;
	char buf[65536] __attribute__((aligned(8)));
	char dir[4096], tmp[4200], *slash, *img;
	double t0, *tk, *td;
	size_t len, have = 0;
	ssize_t n;
	int s, h = -1, ifd, fd, r, rounds = 5, ch, gotk, gotd, loaded = 0;
	unsigned char *bid;
	char hex[41], name[256], *dot;

	while ((ch = getopt(argc, argv, "lr:")) != -1) {
		if (ch == 'l')
			loaded = 1;
		else if (ch == 'r')
			rounds = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 2 || rounds < 1) {
		fprintf(stderr, "usage: onechange [-l] [-r rounds] SOCKET "
		    "MODULE.so\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[optind + 1]);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 2;
	*slash = '\0';
	snprintf(tmp, sizeof(tmp), "%s/.onechange.tmp", dir);
	if ((fd = open(argv[optind + 1], O_RDONLY)) == -1 ||
	    fstat(fd, &sb) == -1)
		one_die(argv[optind + 1]);
	len = (size_t)sb.st_size;
	img = malloc(len);
	if (read(fd, img, len) != (ssize_t)len)
		one_die("read");
	close(fd);
	bid = NULL;
	for (size_t i = 0; i + 36 <= len; i++)
		if (memcmp(img + i, "\4\0\0\0\24\0\0\0\3\0\0\0GNU\0", 16) == 0)
			bid = (unsigned char *)img + i + 16;
	if (bid == NULL) {
		fprintf(stderr, "onechange: no build-id in the module\n");
		return 1;
	}

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[optind]);
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		one_die(argv[optind]);
	dprintf(s, "hello proto=1 pid=%d name=onechange role=control\n"
	    "subscribe id=1\n", (int)getpid());
	/* Until the subscription is acknowledged. */
	buf[0] = '\0';
	while (strstr(buf, "verb=subscribe") == NULL) {
		if ((n = read(s, buf + have, sizeof(buf) - have - 1)) <= 0)
			one_die("subscribe");
		have += (size_t)n;
		buf[have] = '\0';
	}
	if (loaded) {
		for (int i = 0; i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", bid[i]);
		snprintf(name, sizeof(name), "%s", slash + 1);
		if ((dot = strstr(name, ".so")) != NULL)
			*dot = '\0';
		if ((h = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(h, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			one_die(argv[optind]);
		dprintf(h, "hello proto=1 pid=%d name=onechange-host\n"
		    "register module=%s path=%s stamp=build-id:%s\n",
		    (int)getpid(), name, argv[optind + 1], hex);
		/* Until the registration is answered. */
		have = 0;
		buf[0] = '\0';
		while (strstr(buf, "registered") == NULL &&
		    strstr(buf, "error") == NULL) {
			if ((n = read(h, buf + have, sizeof(buf) - have - 1)) <= 0)
				one_die("register");
			have += (size_t)n;
			buf[have] = '\0';
		}
		if (strstr(buf, "registered") == NULL) {
			fprintf(stderr, "onechange: register: %s", buf);
			return 1;
		}
		have = 0;
	}
	if ((ifd = inotify_init1(IN_NONBLOCK)) == -1 ||
	    inotify_add_watch(ifd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) == -1)
		one_die("inotify");
	tk = calloc((size_t)rounds, sizeof(*tk));
	td = calloc((size_t)rounds, sizeof(*td));
	for (r = 0; r < rounds; r++) {
		bid[19] ^= (unsigned char)(r + 1);
		bid[18] ^= 0x5a;
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) ==
		    -1 || write(fd, img, len) != (ssize_t)len)
			one_die(tmp);
		close(fd);
		usleep(20000);
		while (read(ifd, buf, sizeof(buf)) > 0)
			;
		t0 = one_now();
		if (rename(tmp, argv[optind + 1]) == -1)
			one_die("rename");
		gotk = gotd = 0;
		have = 0;
		while (!gotk || !gotd) {
			pf[0].fd = ifd;
			pf[0].events = POLLIN;
			pf[1].fd = s;
			pf[1].events = POLLIN;
			if (poll(pf, 2, 20000) <= 0) {
				fprintf(stderr, "onechange: no event in 20 s\n");
				return 1;
			}
			if (pf[0].revents && !gotk) {
				while (read(ifd, buf, sizeof(buf)) > 0)
					;
				tk[r] = one_now() - t0;
				gotk = 1;
			}
			if (pf[1].revents) {
				char line[65536];

				if ((n = read(s, line, sizeof(line) - 1)) <= 0)
					one_die("daemon");
				line[n] = '\0';
				if (strstr(line, "event ") != NULL &&
				    strstr(line, "type=change") != NULL &&
				    !gotd) {
					td[r] = one_now() - t0;
					gotd = 1;
				}
			}
		}
		usleep(50000);
		/* Drop what else the change brought. */
		while (recv(s, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		while (h != -1 && recv(h, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	qsort(tk, (size_t)rounds, sizeof(*tk), one_cmp);
	qsort(td, (size_t)rounds, sizeof(*td), one_cmp);
	printf("%.3f %.3f\n", tk[rounds / 2], td[rounds / 2]);
	return 0;
}
