/*
 * proto.c: parsing and building protocol lines.
 *
 * A line is a verb and space-separated key=value fields; values escape
 * '\' as "\\" and any byte as "\xHH", and must so escape every byte up to
 * the space and DEL, so no name or path can split a line or forge one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

/* Says whether a byte may stand unescaped in a value. */
static int
proto_plain(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '\\';
}

/* Returns the value of a hex digit, or -1. */
static int
proto_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Says whether s (of len bytes) is a verb or key: lowercase letters,
 * digits if allowed, and '-', at least one byte. */
static int
proto_word(const char *s, size_t len, int digits)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-')
			continue;
		if (digits && s[i] >= '0' && s[i] <= '9')
			continue;
		return 0;
	}
	return 1;
}

/* Unescapes a value in place; returns its new length, or -1 with a
 * message. */
static long
proto_unescape(char *v, size_t len, const char *key, char *err,
    size_t errlen)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c != '\\') {
			if (!proto_plain(c)) {
				snprintf(err, errlen, "field \"%s\": byte "
				    "0x%02x must be escaped", key, c);
				return -1;
			}
			v[o++] = (char)c;
			continue;
		}
		if (i + 1 < len && v[i + 1] == '\\') {
			v[o++] = '\\';
			i++;
			continue;
		}
		if (i + 3 < len && v[i + 1] == 'x' &&
		    (hi = proto_hexval((unsigned char)v[i + 2])) >= 0 &&
		    (lo = proto_hexval((unsigned char)v[i + 3])) >= 0) {
			if (hi == 0 && lo == 0) {
				snprintf(err, errlen, "field \"%s\": \\x00 "
				    "is not allowed", key);
				return -1;
			}
			v[o++] = (char)(hi << 4 | lo);
			i += 3;
			continue;
		}
		snprintf(err, errlen, "field \"%s\": bad escape at byte %zu "
		    "(only \\\\ and \\xHH)", key, i);
		return -1;
	}
	v[o] = '\0';
	return (long)o;
}

/*
 * Parses one line of len bytes, without its LF, in place; line[len] (where
 * the LF was) must be writable.  On failure returns -1,
 * points *code at the error code to answer with ("syntax" or
 * "bad-field") and writes a message naming what was wrong.
 */
int
proto_parse(char *line, size_t len, struct proto_msg *m, const char **code,
    char *err, size_t errlen)
{
	char *p = line, *end = line + len, *sp, *eq;
	size_t i;
	long vlen;

	*code = "syntax";
	memset(m, 0, sizeof(*m));
	if (len == 0) {
		snprintf(err, errlen, "empty line");
		return -1;
	}
	if (memchr(line, '\0', len) != NULL) {
		snprintf(err, errlen, "NUL byte in line");
		return -1;
	}
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL)
		sp = end;
	if (!proto_word(p, (size_t)(sp - p), 0)) {
		snprintf(err, errlen, "a line must start with a verb of "
		    "lowercase letters and '-'");
		return -1;
	}
	m->verb = p;
	while (sp != end) {
		*sp = '\0';
		p = sp + 1;
		if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
			sp = end;
		if (sp == p) {
			snprintf(err, errlen, "empty field (two spaces, or "
			    "a space at the end)");
			return -1;
		}
		if ((eq = memchr(p, '=', (size_t)(sp - p))) == NULL ||
		    !proto_word(p, (size_t)(eq - p), 1)) {
			snprintf(err, errlen, "field %zu is not key=value "
			    "with a lowercase key", m->n + 1);
			return -1;
		}
		*eq = '\0';
		for (i = 0; i < m->n; i++) {
			if (strcmp(m->f[i].key, p) == 0) {
				snprintf(err, errlen, "field \"%s\" given "
				    "twice", p);
				return -1;
			}
		}
		if (m->n == PROTO_MAX_FIELDS) {
			snprintf(err, errlen, "more than %d fields",
			    PROTO_MAX_FIELDS);
			return -1;
		}
		vlen = proto_unescape(eq + 1, (size_t)(sp - eq - 1), p, err,
		    errlen);
		if (vlen < 0) {
			*code = "bad-field";
			return -1;
		}
		m->f[m->n].key = p;
		m->f[m->n].val = eq + 1;
		m->f[m->n].len = (size_t)vlen;
		m->n++;
	}
	*end = '\0';
	return 0;
}

/* Returns the value of a field, or NULL if the line has none. */
const char *
proto_get(const struct proto_msg *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->f[i].key, key) == 0)
			return m->f[i].val;
	return NULL;
}

/* Fetches a required field; on failure returns -1, with *code set to
 * "missing-field" and a message naming it. */
int
proto_need(const struct proto_msg *m, const char *key, const char **val,
    const char **code, char *err, size_t errlen)
{
	if ((*val = proto_get(m, key)) == NULL) {
		*code = "missing-field";
		snprintf(err, errlen, "\"%s\" needs a field \"%s\"", m->verb,
		    key);
		return -1;
	}
	return 0;
}

/* Reads an unsigned decimal field of at most 19 digits; 0, or -1 if it
 * is absent or malformed. */
int
proto_get_uint(const struct proto_msg *m, const char *key,
    unsigned long long *out)
{
	const char *v = proto_get(m, key);
	unsigned long long n = 0;
	size_t i;

	if (v == NULL || *v == '\0' || strlen(v) > 19)
		return -1;
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (unsigned long long)(v[i] - '0');
	}
	*out = n;
	return 0;
}

/* Reads a milliseconds field, decimal with an optional fraction; 0, or
 * -1 if it is absent or malformed. */
int
proto_get_ms(const struct proto_msg *m, const char *key, double *out)
{
	const char *v = proto_get(m, key);
	double n = 0, scale = 0.1;
	int digits = 0, dot = 0;

	if (v == NULL || strlen(v) > 24)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (*v < '0' || *v > '9')
			return -1;
		digits++;
		if (!dot)
			n = n * 10 + (*v - '0');
		else {
			n += (*v - '0') * scale;
			scale /= 10;
		}
	}
	if (digits == 0)
		return -1;
	*out = n;
	return 0;
}

/* Returns the length of the well-formed UTF-8 sequence that starts at
 * s (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF),
 * or 0 if none does; s is NUL-terminated. */
size_t
proto_utf8_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2;
	else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		n = 3;
		if (u[0] == 0xe0)
			lo = 0xa0;
		else if (u[0] == 0xed)
			hi = 0x9f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		n = 4;
		if (u[0] == 0xf0)
			lo = 0x90;
		else if (u[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	/* A NUL is no continuation byte: nothing past the end is read. */
	for (i = 1; i < n; i++) {
		if (u[i] < lo || u[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/* Returns how many bytes at s make one character that a terminal may be
 * shown as it is: printable ASCII (the space too), or well-formed UTF-8
 * from U+00A0 on; 0 when the byte at s must be escaped: a C0 control,
 * DEL, a C1 control (U+0080 to U+009F, raw or in UTF-8, CSI among them),
 * or a byte that is not part of well-formed UTF-8. */
size_t
proto_vis_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;

	if (u[0] < 0x80)
		return u[0] >= 0x20 && u[0] != 0x7f;
	n = proto_utf8_len(s);
	/* U+0080..U+009F is C2 80..C2 9F. */
	if (n == 2 && u[0] == 0xc2 && u[1] < 0xa0)
		return 0;
	return n;
}

/* Writes s into dst for a terminal: each byte of what proto_vis_len says
 * to escape as \xHH, and with quote also '"' and '\' after a backslash;
 * NUL-terminated, cut before an escape or a character that does not fit.
 * Returns dst. */
char *
proto_vis(char *dst, size_t dstlen, const char *s, int quote)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, n;

	if (dstlen == 0)
		return dst;
	for (; *s != '\0'; s += n) {
		if (quote && (*s == '"' || *s == '\\')) {
			if (o + 2 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = *s;
			n = 1;
		} else if ((n = proto_vis_len(s)) > 0) {
			if (o + n >= dstlen)
				break;
			memcpy(dst + o, s, n);
			o += n;
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[(unsigned char)*s >> 4];
			dst[o++] = hex[(unsigned char)*s & 0xf];
			n = 1;
		}
	}
	dst[o] = '\0';
	return dst;
}

/* Escapes len bytes of src into dst (NUL-terminated, truncated to fit
 * whole escapes); returns the length the escaped form needs, so that a
 * result >= dstlen means it did not fit. */
size_t
proto_escape(char *dst, size_t dstlen, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0, w;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		w = proto_plain(c) ? 1 : c == '\\' ? 2 : 4;
		if (dst != NULL && o + w < dstlen) {
			if (w == 1)
				dst[o] = (char)c;
			else if (w == 2) {
				dst[o] = '\\';
				dst[o + 1] = '\\';
			} else {
				dst[o] = '\\';
				dst[o + 1] = 'x';
				dst[o + 2] = hex[c >> 4];
				dst[o + 3] = hex[c & 0xf];
			}
		} else if (dst != NULL && dstlen > 0) {
			dst[o < dstlen ? o : dstlen - 1] = '\0';
			dst = NULL;
		}
		o += w;
	}
	if (dst != NULL && dstlen > 0)
		dst[o] = '\0';
	return o;
}

/* Begins a line with its verb in buf; the line never exceeds the
 * protocol's limit, whatever cap is. */
void
proto_start(struct proto_out *o, char *buf, size_t cap, const char *verb)
{
	o->buf = buf;
	o->cap = cap < PROTO_MAX_LINE ? cap : PROTO_MAX_LINE;
	o->len = 0;
	o->overflow = 0;
	o->len = strlen(verb);
	if (o->len + 1 > o->cap) {
		o->overflow = 1;
		o->len = 0;
		return;
	}
	memcpy(buf, verb, o->len);
}

/* Appends key=value, escaping the value. */
void
proto_add(struct proto_out *o, const char *key, const char *val)
{
	size_t klen = strlen(key), need;

	if (o->overflow)
		return;
	/* " key=" + escaped value, leaving room for the LF. */
	if (o->len + 2 + klen + 1 > o->cap) {
		o->overflow = 1;
		return;
	}
	o->buf[o->len] = ' ';
	memcpy(o->buf + o->len + 1, key, klen);
	o->buf[o->len + 1 + klen] = '=';
	need = proto_escape(o->buf + o->len + 2 + klen,
	    o->cap - o->len - 2 - klen, val, strlen(val));
	if (o->len + 2 + klen + need + 1 > o->cap) {
		o->overflow = 1;
		return;
	}
	o->len += 2 + klen + need;
}

/* Appends key=value with the value formatted, then escaped. */
void
proto_addf(struct proto_out *o, const char *key, const char *fmt, ...)
{
	char val[PROTO_MAX_LINE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val)) {
		o->overflow = 1;
		return;
	}
	proto_add(o, key, val);
}

/* Ends the line with its LF; returns its length, or -1 if it overflowed. */
int
proto_end(struct proto_out *o)
{
	if (o->overflow || o->len + 1 > o->cap)
		return -1;
	o->buf[o->len++] = '\n';
	return (int)o->len;
}

/* Writes a stamp as the protocol's "kind:value". */
void
proto_stamp_format(const struct stamp *st, char *buf, size_t len)
{
	char val[2 * STAMP_MAX + 1];
	const char *kind = st->kind == STAMP_NONE ? "none" :
	    stamp_kind_name(st->kind);

	stamp_format_value(st, val, sizeof(val));
	snprintf(buf, len, "%s:%s", kind, val);
}

/* Parses "kind:value" into a stamp; 0, or -1 if it is malformed. */
int
proto_stamp_parse(const char *s, struct stamp *st)
{
	static const enum stamp_kind kinds[] = { STAMP_BUILD_ID,
	    STAMP_VERSION, STAMP_CONTENT, STAMP_BEAM_MD5 };
	const char *colon = strchr(s, ':'), *v;
	size_t i, klen, vlen;
	int hi, lo;

	memset(st, 0, sizeof(*st));
	if (colon == NULL)
		return -1;
	klen = (size_t)(colon - s);
	v = colon + 1;
	vlen = strlen(v);
	if (klen == 4 && memcmp(s, "none", 4) == 0)
		return vlen == 0 ? 0 : -1;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *name = stamp_kind_name(kinds[i]);

		if (strlen(name) == klen && memcmp(s, name, klen) == 0)
			break;
	}
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return -1;
	st->kind = kinds[i];
	if (st->kind == STAMP_VERSION) {
		if (vlen == 0 || vlen > STAMP_MAX)
			return -1;
		memcpy(st->bytes, v, vlen);
		st->len = vlen;
		return 0;
	}
	if (vlen == 0 || vlen % 2 != 0 || vlen / 2 > STAMP_MAX)
		return -1;
	for (i = 0; i < vlen / 2; i++) {
		if ((hi = proto_hexval((unsigned char)v[2 * i])) < 0 ||
		    (lo = proto_hexval((unsigned char)v[2 * i + 1])) < 0)
			return -1;
		st->bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	st->len = vlen / 2;
	return 0;
}

/* Writes into buf the socket path that the daemon, libreloader and
 * reloaderctl use when none is named, the one rule all of them follow:
 * $RELOADER_SOCKET; else $XDG_RUNTIME_DIR/reloader.sock, its trailing
 * slashes dropped; else /run/reloader/reloader.sock when the effective
 * uid is 0; else /tmp/reloader-EUID.sock.  Returns 0, or -1 when the path
 * does not fit in len bytes (buf then holds as much as fits). */
int
proto_default_socket(char *buf, size_t len)
{
	const char *env;
	size_t n;
	int rc;

	if ((env = getenv("RELOADER_SOCKET")) != NULL && *env != '\0')
		rc = snprintf(buf, len, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env != '\0') {
		n = strlen(env);
		while (n > 0 && env[n - 1] == '/')
			n--;
		rc = snprintf(buf, len, "%.*s/reloader.sock", (int)n, env);
	} else if (geteuid() == 0)
		rc = snprintf(buf, len, "/run/reloader/reloader.sock");
	else
		rc = snprintf(buf, len, "/tmp/reloader-%lu.sock",
		    (unsigned long)geteuid());
	return rc < 0 || (size_t)rc >= len ? -1 : 0;
}
