/*
 * failopen.c: a preloaded shim for the end-to-end tests that makes the
 * kernel's transient failures happen on demand, since no test can make
 * the daemon run out of descriptors at exactly the moment it opens one
 * module.
 *
 *	LD_PRELOAD=failopen.so FAILOPEN_PATH=greet.so \
 *	FAILOPEN_WHILE=/tmp/flag FAILOPEN_ERRNO=24 reloaderd ...
 *
 * While the file FAILOPEN_WHILE exists, every open(2) of a path that
 * contains FAILOPEN_PATH fails with FAILOPEN_ERRNO (default EMFILE);
 * everything else goes to the real call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int open(const char *, int, ...);
int open64(const char *, int, ...);
int openat(int, const char *, int, ...);
int openat64(int, const char *, int, ...);

/* Says whether an open of path is to fail now, setting errno if so. */
static int
failopen_now(const char *path)
{
	const char *want = getenv("FAILOPEN_PATH");
	const char *flag = getenv("FAILOPEN_WHILE");
	const char *e = getenv("FAILOPEN_ERRNO");

	if (want == NULL || flag == NULL || path == NULL ||
	    strstr(path, want) == NULL || access(flag, F_OK) != 0)
		return 0;
	errno = e != NULL ? atoi(e) : EMFILE;
	return 1;
}

/* Reads the mode argument of an open that creates. */
#define FAILOPEN_MODE(flags, mode) do {					\
	va_list ap;							\
	mode = 0;							\
	if ((flags) & (O_CREAT | O_TMPFILE)) {				\
		va_start(ap, flags);					\
		mode = va_arg(ap, int);					\
		va_end(ap);						\
	}								\
} while (0)

/* open(2), failing on demand. */
int
open(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	int mode;

	FAILOPEN_MODE(flags, mode);
	if (failopen_now(path))
		return -1;
	if (real == NULL)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT,
		    "open");
	return real(path, flags, mode);
}

/* open64(2), the same. */
int
open64(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	int mode;

	FAILOPEN_MODE(flags, mode);
	if (failopen_now(path))
		return -1;
	if (real == NULL)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT,
		    "open64");
	return real(path, flags, mode);
}

/* openat(2), the same. */
int
openat(int dfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	int mode;

	FAILOPEN_MODE(flags, mode);
	if (failopen_now(path))
		return -1;
	if (real == NULL)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT,
		    "openat");
	return real(dfd, path, flags, mode);
}

/* openat64(2), the same. */
int
openat64(int dfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	int mode;

	FAILOPEN_MODE(flags, mode);
	if (failopen_now(path))
		return -1;
	if (real == NULL)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT,
		    "openat64");
	return real(dfd, path, flags, mode);
}
