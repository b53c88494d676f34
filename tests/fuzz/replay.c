/*
 * replay.c: runs a fuzz target over files, without libFuzzer.
 *
 * Each argument is a file or a directory of files; every file is fed to
 * LLVMFuzzerTestOneInput once.  `make check` uses this to replay each
 * target's corpus as a regression test under the ordinary compiler.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int replayed;

/* Feeds one file to the target. */
static void
replay_file(const char *path)
{
	FILE *f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		err(1, "%s", path);
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap)) == NULL)
				err(1, "realloc");
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f))
		err(1, "%s", path);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	replayed++;
}

/* Feeds a file, or every file in a directory, to the target. */
static void
replay_path(const char *path)
{
	struct stat sb;
	struct dirent **ents;
	char sub[4096];
	int i, n;

	if (stat(path, &sb) == -1)
		err(1, "%s", path);
	if (!S_ISDIR(sb.st_mode)) {
		replay_file(path);
		return;
	}
	if ((n = scandir(path, &ents, NULL, alphasort)) == -1)
		err(1, "%s", path);
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			snprintf(sub, sizeof(sub), "%s/%s", path,
			    ents[i]->d_name);
			replay_path(sub);
		}
		free(ents[i]);
	}
	free(ents);
}

int
main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s file|dir ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		replay_path(argv[i]);
	printf("%s: replayed %d inputs\n", argv[0], replayed);
	return 0;
}
