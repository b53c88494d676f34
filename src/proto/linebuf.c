/*
 * linebuf.c: cutting a byte stream into protocol lines, the one reader
 * of the daemon, libreloader and reloaderctl.
 *
 * The caller reads what the socket has into a buffer of its own and
 * feeds it; linebuf_next() then hands out each whole line in place (its
 * LF made a NUL), without copying.  Only a line that a read cut in two
 * is copied, into a buffer of the linebuf's own that exists only while
 * it holds such a piece, so that an idle connection keeps no memory.  A
 * line longer than the limit (PROTO_MAX_LINE, LF included) is dropped as
 * it comes, never kept, and reported once, at its LF, as the protocol
 * says (docs/PROTOCOL.md, "Transport").
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* The first size of the buffer of a line cut in two. */
#define LINEBUF_MIN 256

/* Makes an empty reader; a zeroed struct is one too. */
void
linebuf_init(struct linebuf *lb)
{
	memset(lb, 0, sizeof(*lb));
}

/* Frees what the reader keeps and makes it empty again, as for a new
 * connection. */
void
linebuf_reset(struct linebuf *lb)
{
	free(lb->buf);
	linebuf_init(lb);
}

/*
 * Gives the reader n bytes just read, which linebuf_next() cuts into
 * lines in place: they must stay where they are, and writable, until it
 * returns LINEBUF_NONE.  Returns 0, or -1 if the bytes fed before were
 * not all taken yet (nothing is fed then).
 */
int
linebuf_feed(struct linebuf *lb, char *p, size_t n)
{
	if (lb->n > 0)
		return -1;
	lb->p = p;
	lb->n = n;
	return 0;
}

/* Says whether a line has begun and not ended: bytes kept, or a line too
 * long being dropped.  A connection that ends then ended mid-line. */
int
linebuf_pending(const struct linebuf *lb)
{
	return lb->len > 0 || lb->discarding;
}

/* Adds n bytes to the piece of a line kept; -1 when out of memory. */
static int
linebuf_keep(struct linebuf *lb, const char *p, size_t n)
{
	size_t ncap;
	char *nbuf;

	if (lb->len + n > lb->cap) {
		for (ncap = lb->cap ? lb->cap : LINEBUF_MIN; ncap < lb->len + n;)
			ncap *= 2;
		if (ncap > PROTO_MAX_LINE)
			ncap = PROTO_MAX_LINE;
		if ((nbuf = realloc(lb->buf, ncap)) == NULL)
			return -1;
		lb->buf = nbuf;
		lb->cap = ncap;
	}
	memcpy(lb->buf + lb->len, p, n);
	lb->len += n;
	return 0;
}

/*
 * Takes the next line out of what was fed.  Returns LINEBUF_LINE with
 * *line and *len set (the line without its LF, NUL-terminated where the
 * LF was, valid until the next call or feed), LINEBUF_TOO_LONG for a
 * line over the limit that was dropped, LINEBUF_NONE when no whole line
 * is left (feed more), or LINEBUF_NOMEM when a piece could not be kept:
 * that line is lost, and the caller should drop the connection.
 */
int
linebuf_next(struct linebuf *lb, char **line, size_t *len)
{
	char *nl, *p;
	size_t n;

	/* A line handed out from the buffer last time is done with. */
	if (lb->len == 0 && lb->buf != NULL) {
		free(lb->buf);
		lb->buf = NULL;
		lb->cap = 0;
	}
	if (lb->n == 0)
		return LINEBUF_NONE;
	p = lb->p;
	if ((nl = memchr(p, '\n', lb->n)) == NULL) {
		/* No LF yet: keep the piece, unless even an LF right after
		 * it would make the line too long. */
		if (!lb->discarding && lb->len + lb->n >= PROTO_MAX_LINE) {
			lb->discarding = 1;
			lb->len = 0;
		}
		n = lb->n;
		lb->n = 0;
		if (!lb->discarding && linebuf_keep(lb, p, n) == -1) {
			lb->discarding = 1;
			lb->len = 0;
			return LINEBUF_NOMEM;
		}
		return LINEBUF_NONE;
	}
	n = (size_t)(nl - p);
	lb->p = nl + 1;
	lb->n -= n + 1;
	if (lb->discarding) {
		lb->discarding = 0;
		return LINEBUF_TOO_LONG;
	}
	if (lb->len > 0) {
		if (lb->len + n >= PROTO_MAX_LINE) {
			lb->len = 0;
			return LINEBUF_TOO_LONG;
		}
		if (linebuf_keep(lb, p, n + 1) == -1) {
			lb->len = 0;
			return LINEBUF_NOMEM;
		}
		*line = lb->buf;
		*len = lb->len - 1;
		lb->buf[*len] = '\0';
		lb->len = 0;
		return LINEBUF_LINE;
	}
	if (n >= PROTO_MAX_LINE)
		return LINEBUF_TOO_LONG;
	*nl = '\0';
	*line = p;
	*len = n;
	return LINEBUF_LINE;
}
