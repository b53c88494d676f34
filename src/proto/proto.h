/*
 * proto.h: the line codec of the reloader protocol (docs/PROTOCOL.md),
 * and the reader that cuts a stream into its lines, shared by reloaderd,
 * libreloader and reloaderctl; and the one rule for the default socket
 * path, so that every C program of reloader looks in the same place.
 *
 * Pure code: it never prints and never exits; it is safe on arbitrary
 * bytes.  Only the reader allocates, to keep a line that arrived in
 * pieces.  A parsed message points into the line it came from, which is
 * unescaped in place.
 */
#ifndef PROTO_H
#define PROTO_H

#include <stdarg.h>
#include <stddef.h>

#include "reloader.h"
#include "stamp.h"

#define PROTO_MAX_LINE RELOADER_PROTO_MAX_LINE
#define PROTO_MAX_FIELDS 16   /* fields kept per line; more is an error */
#define PROTO_ERR_MAX 160     /* a buffer this big holds any message */
#define PROTO_STAMP_MAX (16 + 2 * STAMP_MAX)  /* "kind:value" and NUL */

/* One key=value field; both NUL-terminated, val unescaped. */
struct proto_field {
	const char *key;
	const char *val;
	size_t len;                 /* of val, which holds no NUL */
};

/* One parsed line. */
struct proto_msg {
	const char *verb;
	struct proto_field f[PROTO_MAX_FIELDS];
	size_t n;
};

/* A line being built into a caller's buffer. */
struct proto_out {
	char *buf;
	size_t cap;
	size_t len;
	int overflow;               /* the line outgrew cap or the limit */
};

/* Cuts a byte stream into lines (linebuf.c); a zeroed struct is empty. */
struct linebuf {
	char *buf;                  /* a line begun in an earlier feed, or NULL */
	size_t len, cap;
	char *p;                    /* bytes fed and not cut into lines yet */
	size_t n;
	int discarding;             /* inside a line longer than the limit */
};

/* What linebuf_next() found. */
#define LINEBUF_NOMEM (-1)          /* a piece could not be kept */
#define LINEBUF_NONE 0              /* no whole line: feed more */
#define LINEBUF_LINE 1              /* a line */
#define LINEBUF_TOO_LONG 2          /* a line over the limit, dropped */

/* linebuf.c */
void linebuf_init(struct linebuf *);
void linebuf_reset(struct linebuf *);
int linebuf_feed(struct linebuf *, char *, size_t);
int linebuf_pending(const struct linebuf *);
int linebuf_next(struct linebuf *, char **, size_t *);

/* proto.c */
int proto_parse(char *, size_t, struct proto_msg *, const char **, char *,
    size_t);
const char *proto_get(const struct proto_msg *, const char *);
int proto_need(const struct proto_msg *, const char *, const char **,
    const char **, char *, size_t);
int proto_get_uint(const struct proto_msg *, const char *,
    unsigned long long *);
int proto_get_ms(const struct proto_msg *, const char *, double *);
size_t proto_escape(char *, size_t, const char *, size_t);
size_t proto_utf8_len(const char *);
size_t proto_vis_len(const char *);
char *proto_vis(char *, size_t, const char *, int);
void proto_start(struct proto_out *, char *, size_t, const char *);
void proto_add(struct proto_out *, const char *, const char *);
void proto_addf(struct proto_out *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
int proto_end(struct proto_out *);
void proto_stamp_format(const struct stamp *, char *, size_t);
int proto_stamp_parse(const char *, struct stamp *);
int proto_default_socket(char *, size_t);

#endif /* PROTO_H */
