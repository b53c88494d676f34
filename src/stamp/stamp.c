/*
 * stamp.c: reading a module file's stamp, whatever its format.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <md5.h>

#include "stamp.h"

/* Larger files are refused rather than read into memory. */
#define STAMP_FILE_MAX (1024UL * 1024 * 1024)

/* Tells from the first bytes which reader a file needs. */
enum stamp_format
stamp_sniff(const unsigned char *buf, size_t len)
{
	static const unsigned char elf[] = { 0x7f, 'E', 'L', 'F' };
	static const unsigned char for1[] = { 'F', 'O', 'R', '1' };
	static const unsigned char gz[] = { 0x1f, 0x8b };

	if (len >= sizeof(elf) && memcmp(buf, elf, sizeof(elf)) == 0)
		return STAMP_FMT_ELF;
	if (len >= sizeof(for1) && memcmp(buf, for1, sizeof(for1)) == 0)
		return STAMP_FMT_BEAM;
	if (len >= sizeof(gz) && memcmp(buf, gz, sizeof(gz)) == 0)
		return STAMP_FMT_BEAM;
	return STAMP_FMT_UNKNOWN;
}

/* Says whether buf could be the start of a file some reader understands. */
static int
stamp_could_grow(const unsigned char *buf, size_t len)
{
	static const char *magics[] = { "\177ELF", "FOR1", "\037\213" };
	size_t i;

	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (len < strlen(magics[i]) &&
		    memcmp(buf, magics[i], len) == 0)
			return 1;
	return 0;
}

/* Reads the stamp of a module file held in memory. */
int
stamp_read_buf(const unsigned char *buf, size_t len, struct stamp *st,
    char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	switch (stamp_sniff(buf, len)) {
	case STAMP_FMT_ELF:
		return stamp_read_elf(buf, len, st, err, errlen);
	case STAMP_FMT_BEAM:
		return stamp_read_beam(buf, len, st, err, errlen);
	default:
		break;
	}
	/* An empty file or a partial magic is a file being written. */
	if (stamp_could_grow(buf, len)) {
		snprintf(err, errlen, "%s", len == 0 ? "empty file" :
		    "shorter than its magic number");
		return STAMP_INCOMPLETE;
	}
	/* GNU ld writes the ELF header last: a file whose magic is still
	 * zero bytes is being written, not a bad module. */
	if (len >= 4 && memcmp(buf, "\0\0\0\0", 4) == 0) {
		snprintf(err, errlen, "starts with zero bytes, its header "
		    "not written yet");
		return STAMP_INCOMPLETE;
	}
	snprintf(err, errlen, "neither an ELF shared object nor a BEAM file");
	return STAMP_INVALID;
}

/* Reads a whole regular file into a malloc'd buffer; never maps it, so a
 * writer truncating it under us cannot fault the reader.  Returns 0,
 * STAMP_INVALID, or STAMP_UNREADABLE with errno set. */
int
stamp_slurp(int fd, unsigned char **bufp, size_t *lenp, char *err,
    size_t errlen)
{
	int e;

	struct stat sb;
	unsigned char *buf, *nbuf;
	size_t len = 0, cap;
	ssize_t n;

	if (fstat(fd, &sb) == -1) {
		e = errno;
		snprintf(err, errlen, "fstat: %s", strerror(e));
		errno = e;
		return STAMP_UNREADABLE;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return STAMP_INVALID;
	}
	if ((unsigned long long)sb.st_size > STAMP_FILE_MAX) {
		snprintf(err, errlen, "file of %lld bytes is larger than %lu",
		    (long long)sb.st_size, STAMP_FILE_MAX);
		return STAMP_INVALID;
	}
	/* One byte spare, so that a file which grew shows it at once. */
	cap = (size_t)sb.st_size + 1;
	if ((buf = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return STAMP_UNREADABLE;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= STAMP_FILE_MAX) {
				free(buf);
				snprintf(err, errlen, "file grew past %lu bytes",
				    STAMP_FILE_MAX);
				return STAMP_INVALID;
			}
			cap *= 2;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				free(buf);
				snprintf(err, errlen, "out of memory");
				errno = ENOMEM;
				return STAMP_UNREADABLE;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			e = errno;
			free(buf);
			snprintf(err, errlen, "read: %s", strerror(e));
			errno = e;
			return STAMP_UNREADABLE;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		/* Less than asked, and all that fstat said: the end, with
		 * no read more to be told so. */
		if (len < cap && len == (size_t)sb.st_size)
			break;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

/* Says whether a file name is an Erlang application's resource file,
 * whose stamp is the MD5 of its bytes: NAME.app or NAME.appup. */
static int
stamp_is_app_file(const char *path)
{
	size_t n = strlen(path);

	return (n > 4 && strcmp(path + n - 4, ".app") == 0) ||
	    (n > 6 && strcmp(path + n - 6, ".appup") == 0);
}

/*
 * Reads the stamp of an application resource file (.app, .appup): the
 * MD5 of its bytes.  The file is one Erlang term: whole once its last
 * byte that is not white space is the term's full stop.
 */
static int
stamp_read_app(const unsigned char *buf, size_t len, struct stamp *st,
    char *err, size_t errlen)
{
	MD5_CTX ctx;
	size_t i = len;

	while (i > 0 && (buf[i - 1] == ' ' || buf[i - 1] == '\t' ||
	    buf[i - 1] == '\n' || buf[i - 1] == '\r'))
		i--;
	if (i == 0 || buf[i - 1] != '.') {
		snprintf(err, errlen, "%s", len == 0 ? "empty file" :
		    "no full stop at the end of its term yet");
		return STAMP_INCOMPLETE;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "a NUL byte: not an Erlang term file");
		return STAMP_INVALID;
	}
	MD5Init(&ctx);
	MD5Update(&ctx, buf, len);
	MD5Final(st->bytes, &ctx);
	st->kind = STAMP_CONTENT;
	st->len = 16;
	st->format = STAMP_FMT_UNKNOWN;
	return STAMP_OK;
}

/* Reads the stamp of the module file at path.  A file that cannot be
 * opened or read is STAMP_UNREADABLE, with errno saying why, so that the
 * caller can tell a missing file from a transient failure. */
int
stamp_read_file(const char *path, struct stamp *st, char *err, size_t errlen)
{
	int fd, rc, e;

	memset(st, 0, sizeof(*st));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		e = errno;
		snprintf(err, errlen, "%s", strerror(e));
		errno = e;
		return STAMP_UNREADABLE;
	}
	rc = stamp_read_fd(fd, path, st, err, errlen);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* Reads the stamp of the file open on fd, which the caller opened (and
 * closes) from path: the daemon decides itself how a module file may be
 * opened; path's name tells an application file from a module. */
int
stamp_read_fd(int fd, const char *path, struct stamp *st, char *err,
    size_t errlen)
{
	unsigned char *buf;
	size_t len;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = stamp_slurp(fd, &buf, &len, err, errlen)) != 0)
		return rc;
	if (stamp_is_app_file(path))
		rc = stamp_read_app(buf, len, st, err, errlen);
	else
		rc = stamp_read_buf(buf, len, st, err, errlen);
	free(buf);
	return rc;
}

/*
 * Names the module in the file at path: the name the file gives itself
 * (an ELF note, a BEAM's module), else the file name without its suffix:
 * ".beam", ".so", or ".so." and a version ("libfoo.so.1.2"), whichever
 * ends the name; a name that would be empty keeps the whole file name.
 * The daemon, its events and libreloader all name modules by this rule.
 */
void
stamp_module_name(const char *path, const struct stamp *st, char *buf,
    size_t len)
{
	const char *base, *so, *p;
	size_t n;

	if (len == 0)
		return;
	if (st != NULL && st->module[0] != '\0') {
		snprintf(buf, len, "%s", st->module);
		return;
	}
	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".beam") == 0)
		n -= 5;
	else if (n > 3 && strcmp(base + n - 3, ".so") == 0)
		n -= 3;
	else {
		/* The last ".so." followed only by digits and dots. */
		for (so = NULL, p = base; (p = strstr(p, ".so.")) != NULL; p++)
			so = p;
		if (so != NULL && so > base && so[4] != '\0' &&
		    strspn(so + 4, "0123456789.") == strlen(so + 4))
			n = (size_t)(so - base);
	}
	snprintf(buf, len, "%.*s", (int)n, base);
}

/* Says whether two stamps name the same code. */
int
stamp_equal(const struct stamp *a, const struct stamp *b)
{
	return a->kind == b->kind && a->len == b->len &&
	    memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* Returns the name under which a stamp kind is logged. */
const char *
stamp_kind_name(enum stamp_kind kind)
{
	switch (kind) {
	case STAMP_BUILD_ID:
		return "build-id";
	case STAMP_VERSION:
		return "version";
	case STAMP_CONTENT:
		return "content-md5";
	case STAMP_BEAM_MD5:
		return "md5";
	default:
		return "none";
	}
}

/* Writes a stamp's value as text: hex, or the version as it stands. */
void
stamp_format_value(const struct stamp *st, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (len == 0)
		return;
	if (st->kind == STAMP_VERSION) {
		for (i = 0; i < st->len && o + 1 < len; i++)
			buf[o++] = (char)st->bytes[i];
	} else {
		for (i = 0; i < st->len && o + 2 < len; i++) {
			buf[o++] = hex[st->bytes[i] >> 4];
			buf[o++] = hex[st->bytes[i] & 0xf];
		}
	}
	buf[o] = '\0';
}
