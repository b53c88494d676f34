/*
 * writehalves.c: copies a file the way a slow linker writes it: the
 * first half, a pause, then the rest.  With -r it closes the file after
 * the first half and reopens it for the rest, as a tool that writes in
 * two passes does, so that a watcher acting on close sees a partial file.
 *
 * usage: writehalves [-r] src dst pause-ms
 */
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Writes all of buf to fd. */
static void
writeall(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1)
			err(1, "write");
		buf += n;
		len -= (size_t)n;
	}
}

int
main(int argc, char **argv)
{
	struct timespec ts;
	char *buf;
	size_t len, half;
	long ms;
	int fd, reopen = 0;
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "-r") == 0) {
		reopen = 1;
		argv++;
		argc--;
	}
	if (argc != 4)
		errx(2, "usage: writehalves [-r] src dst pause-ms");
	if ((f = fopen(argv[1], "rb")) == NULL)
		err(1, "%s", argv[1]);
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	rewind(f);
	if ((buf = malloc(len)) == NULL || fread(buf, 1, len, f) != len)
		err(1, "%s", argv[1]);
	fclose(f);
	ms = strtol(argv[3], NULL, 10);
	half = len / 2;

	if ((fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0755)) == -1)
		err(1, "%s", argv[2]);
	writeall(fd, buf, half);
	if (reopen && close(fd) == -1)
		err(1, "close");
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	if (reopen && (fd = open(argv[2], O_WRONLY | O_APPEND)) == -1)
		err(1, "%s", argv[2]);
	writeall(fd, buf + half, len - half);
	if (close(fd) == -1)
		err(1, "close");
	free(buf);
	return 0;
}
