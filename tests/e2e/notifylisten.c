/*
 * notifylisten.c: a stand-in for systemd's end of the notify protocol,
 * for the end-to-end tests.
 *
 *	notifylisten SOCKET
 *
 * Binds a Unix datagram socket at SOCKET (a path, or an abstract name
 * written with a leading '@'), then prints every datagram it receives as
 * one line, flushed:
 *
 *	USEC pid=PID ASSIGNMENT ASSIGNMENT...
 *
 * where USEC is CLOCK_MONOTONIC in microseconds when the datagram arrived,
 * PID the sender's (from SCM_CREDENTIALS), and the datagram's newlines
 * are printed as blanks.  It runs until killed; the socket file is the
 * caller's to remove.  Exit status 2 on usage and socket errors.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Binds the datagram socket at path, with credentials passed. */
static int
listen_at(const char *path)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd, on = 1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		errx(2, "%s: too long", path);
	memcpy(sun.sun_path, path, strlen(path));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path) + 1);
	if (path[0] == '@') {
		sun.sun_path[0] = '\0';
		len--;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		err(2, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == -1)
		err(2, "SO_PASSCRED");
	if (bind(fd, (struct sockaddr *)&sun, len) == -1)
		err(2, "bind %s", path);
	return fd;
}

/* Prints one datagram as one line. */
static void
print_dgram(char *buf, size_t n, long pid)
{
	struct timespec ts;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\0')
			buf[i] = ' ';
	printf("%llu pid=%ld %.*s\n", (unsigned long long)ts.tv_sec *
	    1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL, pid,
	    (int)n, buf);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} cm;
	char buf[65536];
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	struct ucred uc;
	ssize_t n;
	long pid;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: notifylisten SOCKET\n");
		return 2;
	}
	fd = listen_at(argv[1]);
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		if ((n = recvmsg(fd, &mh, 0)) == -1)
			err(2, "recvmsg");
		pid = -1;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_CREDENTIALS) {
				memcpy(&uc, CMSG_DATA(c), sizeof(uc));
				pid = (long)uc.pid;
			}
		print_dgram(buf, (size_t)n, pid);
	}
}
