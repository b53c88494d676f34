/*
 * mktree.c: makes a build tree for the scale benchmarks, once.
 *
 *	mktree DIR FILES MODULE_PERCENT PER_DIR TEMPLATE.so
 *
 * Writes FILES files under DIR, PER_DIR to a directory, in two levels
 * of directories (DIR/aNNN/bNNNN), MODULE_PERCENT of them modules: copies
 * of TEMPLATE.so, each with a build-id of its own (the template's build-id
 * note overwritten with the file's number), the others small source files
 * that no glob selects.  A file DIR/.mktree holding the arguments says
 * the tree is whole: a second run with the same arguments does nothing,
 * so that `make bench` makes each tree once and reuses it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes a whole buffer to a new file. */
static void
mktree_write(const char *path, const void *p, size_t n)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, p, n) != (ssize_t)n || close(fd) == -1) {
		fprintf(stderr, "mktree: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* Finds the 20 bytes of a GNU build-id note in an ELF image. */
static unsigned char *
mktree_buildid(unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 16 + 20 <= len; i++)
		/* namesz 4, descsz 20, type NT_GNU_BUILD_ID (3), "GNU". */
		if (memcmp(buf + i, "\4\0\0\0\24\0\0\0\3\0\0\0GNU\0", 16) == 0)
			return buf + i + 16;
	return NULL;
}

int
main(int argc, char **argv)
{
	char path[4096], stamp[512], have[512], src[128];
	unsigned char *tmpl, *bid;
	long files, pct, per, i, d;
	size_t tlen;
	FILE *fp;
	struct stat sb;

	if (argc != 6) {
		fprintf(stderr, "usage: mktree DIR FILES MODULE_PERCENT "
		    "PER_DIR TEMPLATE.so\n");
		return 2;
	}
	files = atol(argv[2]);
	pct = atol(argv[3]);
	per = atol(argv[4]);
	if (files < 1 || pct < 0 || pct > 100 || per < 1) {
		fprintf(stderr, "mktree: bad numbers\n");
		return 2;
	}
	snprintf(stamp, sizeof(stamp), "%ld %ld %ld\n", files, pct, per);
	snprintf(path, sizeof(path), "%s/.mktree", argv[1]);
	if ((fp = fopen(path, "r")) != NULL) {
		if (fgets(have, sizeof(have), fp) != NULL &&
		    strcmp(have, stamp) == 0) {
			fclose(fp);
			return 0;
		}
		fclose(fp);
	}
	if ((fp = fopen(argv[5], "rb")) == NULL || stat(argv[5], &sb) == -1) {
		fprintf(stderr, "mktree: %s: %s\n", argv[5], strerror(errno));
		return 1;
	}
	tlen = (size_t)sb.st_size;
	if ((tmpl = malloc(tlen)) == NULL || fread(tmpl, 1, tlen, fp) != tlen)
		return 1;
	fclose(fp);
	if ((bid = mktree_buildid(tmpl, tlen)) == NULL) {
		fprintf(stderr, "mktree: %s has no build-id note\n", argv[5]);
		return 1;
	}
	mkdir(argv[1], 0755);
	for (i = 0; i < files; i++) {
		d = i / per;
		if (i % per == 0) {
			snprintf(path, sizeof(path), "%s/a%03ld", argv[1],
			    d / 1000);
			mkdir(path, 0755);
			snprintf(path, sizeof(path), "%s/a%03ld/b%04ld", argv[1],
			    d / 1000, d % 1000);
			if (mkdir(path, 0755) == -1 && errno != EEXIST) {
				fprintf(stderr, "mktree: %s: %s\n", path,
				    strerror(errno));
				return 1;
			}
		}
		/* Spread the modules evenly: file i is one when the count
		 * of modules up to it goes up. */
		if ((i + 1) * pct / 100 != i * pct / 100) {
			snprintf(path, sizeof(path), "%s/a%03ld/b%04ld/m%ld.so",
			    argv[1], d / 1000, d % 1000, i);
			memset(bid, 0, 20);
			memcpy(bid, &i, sizeof(i));
			mktree_write(path, tmpl, tlen);
		} else {
			snprintf(path, sizeof(path), "%s/a%03ld/b%04ld/f%ld.c",
			    argv[1], d / 1000, d % 1000, i);
			snprintf(src, sizeof(src), "int f%ld(void) { return "
			    "%ld; }\n", i, i);
			mktree_write(path, src, strlen(src));
		}
	}
	snprintf(path, sizeof(path), "%s/.mktree", argv[1]);
	mktree_write(path, stamp, strlen(stamp));
	return 0;
}
