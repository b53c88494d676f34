/*
 * copy.c: the private copies each version of a module is loaded from.
 *
 * dlopen(3) hands back the image it already has for a path or an inode,
 * so every version is loaded from a copy of its own, with a fresh name,
 * in a private directory: reloader-<pid>-XXXXXX under $XDG_RUNTIME_DIR,
 * $TMPDIR or /tmp.  The source file is read once; the stamp is taken
 * from exactly the bytes written to the copy, so it names what was
 * loaded even if the file changes again meanwhile.  Directories left by
 * processes that died are removed the next time one is made.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libreloader.h"

/* Says whether dir is a directory we may make ours in. */
static int
copy_usable(const char *dir)
{
	struct stat sb;

	return dir != NULL && *dir == '/' && stat(dir, &sb) == 0 &&
	    S_ISDIR(sb.st_mode) && access(dir, W_OK | X_OK) == 0;
}

/* Empties and removes one directory of copies, by descriptor. */
static void
copy_rmdir_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Removes the directories of copies that processes of this user left
 * behind when they died without reloader_free(). */
static void
copy_clean_stale(const char *base)
{
	struct dirent *de;
	struct stat sb;
	DIR *d;
	char *end;
	long pid;

	if ((d = opendir(base)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "reloader-", 9) != 0)
			continue;
		errno = 0;
		pid = strtol(de->d_name + 9, &end, 10);
		if (errno != 0 || end == de->d_name + 9 || *end != '-' ||
		    pid <= 0 || pid == (long)getpid())
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISDIR(sb.st_mode) ||
		    sb.st_uid != getuid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		copy_rmdir_at(dirfd(d), de->d_name);
	}
	closedir(d);
}

/* Makes the private directory if it is not made yet. */
int
copy_dir(reloader_t *r)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char *dir;

	if (r->dir != NULL)
		return 0;
	if (!copy_usable(base))
		base = getenv("TMPDIR");
	if (!copy_usable(base))
		base = "/tmp";
	copy_clean_stale(base);
	if (asprintf(&dir, "%s/reloader-%ld-XXXXXX", base,
	    (long)getpid()) == -1) {
		reloader_set_error(r, "out of memory");
		return -1;
	}
	if (mkdtemp(dir) == NULL) {
		reloader_set_error(r, "cannot make a private directory %s: %s",
		    dir, strerror(errno));
		free(dir);
		return -1;
	}
	r->dir = dir;
	return 0;
}

/* Removes the private directory and whatever is left in it. */
void
copy_dir_remove(reloader_t *r)
{
	if (r->dir == NULL)
		return;
	copy_rmdir_at(AT_FDCWD, r->dir);
	free(r->dir);
	r->dir = NULL;
}

/* Reads a whole module file; the caller frees *bufp. */
static int
copy_read(reloader_t *r, const char *path, unsigned char **bufp,
    size_t *lenp)
{
	char err[STAMP_ERR_MAX];
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		reloader_set_error(r, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = stamp_slurp(fd, bufp, lenp, err, sizeof(err));
	close(fd);
	if (rc != 0) {
		reloader_set_error(r, "%s: %s", path, err);
		return -1;
	}
	return 0;
}

/* Writes len bytes to a new file at path. */
static int
copy_write(reloader_t *r, const char *path, const unsigned char *buf,
    size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (fd == -1) {
		reloader_set_error(r, "cannot create the copy %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (off < len) {
		n = write(fd, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			reloader_set_error(r, "cannot write the copy %s: %s",
			    path, strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
		off += (size_t)n;
	}
	if (close(fd) == -1) {
		reloader_set_error(r, "cannot write the copy %s: %s", path,
		    strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/*
 * Copies the module file at path to a fresh file <name>.<gen>.so in the
 * private directory and reads the stamp of the bytes copied.  name may
 * be NULL at the first load (then it comes from the file).  On success
 * *copyp is the copy's path, owned by the caller.
 */
int
copy_make(reloader_t *r, const char *path, const char *name,
    unsigned long gen, char **copyp, struct stamp *st, double *ms)
{
	unsigned char *buf = NULL;
	char err[STAMP_ERR_MAX], modname[STAMP_MODULE_MAX], *copy = NULL;
	double t0 = reloader_now();
	size_t len, i;
	int rc;

	*copyp = NULL;
	if (copy_dir(r) == -1)
		return -1;
	if (copy_read(r, path, &buf, &len) == -1)
		return -1;
	rc = stamp_read_buf(buf, len, st, err, sizeof(err));
	if (rc == STAMP_INCOMPLETE) {
		reloader_set_error(r, "%s is still being written (%s)", path,
		    err);
		goto fail;
	}
	if (rc != STAMP_OK) {
		reloader_set_error(r, "%s: %s", path, err);
		goto fail;
	}
	if (st->format != STAMP_FMT_ELF) {
		reloader_set_error(r, "%s is not an ELF shared object", path);
		goto fail;
	}
	if (name == NULL) {
		stamp_module_name(path, st, modname, sizeof(modname));
		name = modname;
	} else
		snprintf(modname, sizeof(modname), "%s", name);
	/* The name becomes part of a file name: keep it to safe bytes. */
	for (i = 0; modname[i] != '\0'; i++) {
		unsigned char c = (unsigned char)modname[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    (c == '.' && i > 0)))
			modname[i] = '_';
	}
	if (asprintf(&copy, "%s/%s.%lu.so", r->dir, modname, gen) == -1) {
		copy = NULL;
		reloader_set_error(r, "out of memory");
		goto fail;
	}
	if (copy_write(r, copy, buf, len) == -1)
		goto fail;
	free(buf);
	*copyp = copy;
	*ms = reloader_now() - t0;
	return 0;

fail:
	free(copy);
	free(buf);
	return -1;
}

/* Removes a copy and forgets its name. */
void
copy_remove(char **copyp)
{
	if (*copyp == NULL)
		return;
	unlink(*copyp);
	free(*copyp);
	*copyp = NULL;
}
