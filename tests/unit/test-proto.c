/*
 * test-proto.c: unit tests of the protocol's line codec (src/proto),
 * written against docs/PROTOCOL.md: parsing, escaping, building lines up
 * to the line limit, and stamps as the protocol writes them.
 *
 * Every parsed line is copied into a buffer of exactly its length plus
 * the one writable byte proto_parse may use, so that a sanitizer build
 * (make check-sanitize) catches a read or write past it.  The line reader
 * (linebuf.c) is fed streams in every way a socket may cut them.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto.h"
#include "testutil.h"

#define LIMIT PROTO_MAX_LINE

static char *held;               /* the line the last parse points into */
static const char *code;         /* the error code of the last parse */
static char err[PROTO_ERR_MAX];  /* its message */

/* Frees the line of the last parse. */
static void
release(void)
{
	free(held);
	held = NULL;
}

/* Renders len bytes printable, for failure messages; a static buffer. */
static const char *
shown(const char *s, size_t len)
{
	static char buf[512];
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < len && o + 8 < sizeof(buf); i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o,
			    "\\x%02x", c);
	}
	if (i < len)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "...");
	buf[o] = '\0';
	return buf;
}

/* Parses len bytes of text from a copy with one writable byte after it. */
static int
parse_len(struct proto_msg *m, const char *text, size_t len)
{
	release();
	held = malloc(len + 1);
	ck_assert_ptr_nonnull(held);
	memcpy(held, text, len);
	held[len] = '\n';
	code = NULL;
	memset(err, 'X', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	return proto_parse(held, len, m, &code, err, sizeof(err));
}

/* Parses a NUL-terminated line. */
static int
parse(struct proto_msg *m, const char *text)
{
	return parse_len(m, text, strlen(text));
}

/* Parses a line that must be accepted. */
static void
accepted(struct proto_msg *m, const char *text)
{
	int rc = parse(m, text);

	ck_assert_msg(rc == 0, "\"%s\" refused: %s: %s",
	    shown(text, strlen(text)), code, err);
}

/* Asserts that a line of len bytes is refused with a message and, if
 * want is not NULL, with that code (else "syntax" or "bad-field"). */
static void
refused_len(const char *text, size_t len, const char *want)
{
	struct proto_msg m;
	int rc = parse_len(&m, text, len);

	ck_assert_msg(rc == -1, "\"%s\" was accepted", shown(text, len));
	ck_assert_ptr_nonnull(code);
	if (want != NULL)
		ck_assert_msg(strcmp(code, want) == 0, "\"%s\": code %s, "
		    "want %s", shown(text, len), code, want);
	else
		ck_assert_msg(strcmp(code, "syntax") == 0 ||
		    strcmp(code, "bad-field") == 0, "\"%s\": code %s",
		    shown(text, len), code);
	ck_assert_msg(err[0] != '\0' && err[0] != 'X' &&
	    strlen(err) < sizeof(err), "\"%s\": no message",
	    shown(text, len));
}

/* Asserts that a NUL-terminated line is refused. */
static void
refused(const char *text, const char *want)
{
	refused_len(text, strlen(text), want);
}

/* Asserts that field i of m is key=val (val of vlen bytes). */
static void
assert_field(const struct proto_msg *m, size_t i, const char *key,
    const char *val, size_t vlen)
{
	ck_assert_uint_lt(i, m->n);
	ck_assert_str_eq(m->f[i].key, key);
	ck_assert_msg(m->f[i].len == vlen && memcmp(m->f[i].val, val,
	    vlen) == 0 && m->f[i].val[vlen] == '\0',
	    "field %s: got \"%s\" (%zu bytes), want \"%s\" (%zu)", key,
	    shown(m->f[i].val, m->f[i].len), m->f[i].len,
	    shown(val, vlen), vlen);
}

/* Asserts that a built line of n bytes is one line: LF at its end and
 * nowhere else, no NUL, no byte below 0x20, at most LIMIT bytes. */
static void
assert_one_line(const char *buf, int n)
{
	int i;

	ck_assert_int_gt(n, 0);
	ck_assert_int_le(n, LIMIT);
	ck_assert_msg(buf[n - 1] == '\n', "line does not end with LF");
	/* One assertion, not one per byte: each is a write to Check's pipe,
	 * and lines run to 16 KiB. */
	for (i = 0; i < n - 1; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			break;
	ck_assert_msg(i == n - 1, "byte 0x%02x at %d of a built line",
	    (unsigned char)buf[i], i);
}

/* Builds "verb k=val\n" into buf (cap bytes); returns proto_end's
 * answer. */
static int
build1(char *buf, size_t cap, const char *verb, const char *key,
    const char *val)
{
	struct proto_out o;

	proto_start(&o, buf, cap, verb);
	proto_add(&o, key, val);
	return proto_end(&o);
}

/* Builds "v k=VAL\n" and parses it back; val must come back whole. */
static void
roundtrip(const char *val)
{
	static char buf[LIMIT];
	struct proto_msg m;
	size_t vlen = strlen(val);
	int n;

	n = build1(buf, sizeof(buf), "v", "k", val);
	ck_assert_msg(n > 0, "\"%s\" did not build", shown(val, vlen));
	assert_one_line(buf, n);
	ck_assert_msg(parse_len(&m, buf, (size_t)n - 1) == 0,
	    "built \"%s\" refused: %s", shown(buf, (size_t)n), err);
	ck_assert_str_eq(m.verb, "v");
	ck_assert_uint_eq(m.n, 1);
	assert_field(&m, 0, "k", val, vlen);
}

/* Says whether s is the escape "\xHH" (either case) of byte c. */
static int
is_hex_escape(const char *s, size_t len, unsigned char c)
{
	char want[5];

	snprintf(want, sizeof(want), "\\x%02x", c);
	return len == 4 && strncasecmp(s, want, 4) == 0 &&
	    s[0] == '\\' && s[1] == 'x';
}

/* Tears down each test. */
static void
teardown(void)
{
	release();
}

/*
 * Parsing.
 */

START_TEST(test_verb_only)
{
	static const char *const verbs[] = { "ping", "hello-again", "-", "a",
	    "done", "z-z-", NULL };
	struct proto_msg m;
	size_t i;

	for (i = 0; verbs[i] != NULL; i++) {
		accepted(&m, verbs[i]);
		ck_assert_str_eq(m.verb, verbs[i]);
		ck_assert_uint_eq(m.n, 0);
		ck_assert_ptr_null(proto_get(&m, "id"));
	}
}
END_TEST

START_TEST(test_fields)
{
	struct proto_msg m;

	accepted(&m, "hello proto=1 pid=4242 name=devserver "
	    "lib=libreloader/0.1.0");
	ck_assert_str_eq(m.verb, "hello");
	ck_assert_uint_eq(m.n, 4);
	assert_field(&m, 0, "proto", "1", 1);
	assert_field(&m, 1, "pid", "4242", 4);
	assert_field(&m, 2, "name", "devserver", 9);
	assert_field(&m, 3, "lib", "libreloader/0.1.0", 17);
	ck_assert_str_eq(proto_get(&m, "lib"), "libreloader/0.1.0");
	ck_assert_str_eq(proto_get(&m, "proto"), "1");
	ck_assert_ptr_null(proto_get(&m, "min"));
	ck_assert_ptr_null(proto_get(&m, "pro"));
	ck_assert_ptr_null(proto_get(&m, "hello"));

	/* Order does not matter; unknown fields are kept for the caller
	 * to ignore. */
	accepted(&m, "pong zz-future=1 id=7");
	ck_assert_str_eq(proto_get(&m, "id"), "7");
	ck_assert_str_eq(proto_get(&m, "zz-future"), "1");

	/* Keys may hold digits and '-', and start with either. */
	accepted(&m, "v k1=a 2=b -=c a-b-9=d");
	ck_assert_uint_eq(m.n, 4);
	ck_assert_str_eq(proto_get(&m, "2"), "b");
	ck_assert_str_eq(proto_get(&m, "-"), "c");
	ck_assert_str_eq(proto_get(&m, "a-b-9"), "d");

	/* A whole module line from the spec. */
	accepted(&m, "module batch=12 module=hello "
	    "path=/home/u/app/build/hello.so stamp=build-id:77c0 "
	    "was=build-id:5e2a");
	ck_assert_str_eq(m.verb, "module");
	ck_assert_str_eq(proto_get(&m, "path"), "/home/u/app/build/hello.so");
	ck_assert_str_eq(proto_get(&m, "was"), "build-id:5e2a");
}
END_TEST

START_TEST(test_escapes)
{
	static const struct {
		const char *in, *out;
		size_t outlen;
	} t[] = {
		{ "a\\\\b", "a\\b", 3 },
		{ "\\\\\\\\", "\\\\", 2 },
		{ "\\\\", "\\", 1 },
		{ "\\x41\\x4a\\x4A\\x6b\\x6B", "AJJkk", 5 },
		{ "\\x20\\x0a\\x0d\\x09\\x7f\\xff\\x80\\x01",
		    " \n\r\t\x7f\xff\x80\x01", 8 },
		{ "\\xFF\\xfF\\xFf", "\xff\xff\xff", 3 },
		{ "\\x5c", "\\", 1 },
		{ "\\x5cx41", "\\x41", 4 },
		{ "x\\\\x41", "x\\x41", 5 },
		{ "\\x3d\\x3D=", "===", 3 },
		{ "\\xc3\\xa9t\\xc3\\xa9", "\xc3\xa9t\xc3\xa9", 5 },
		{ "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9", 5 },
		{ "\\x41", "A", 1 },
		{ "end\\x0a", "end\n", 4 },
	};
	struct proto_msg m;
	char line[128];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(line, sizeof(line), "v k=%s j=1", t[i].in);
		accepted(&m, line);
		ck_assert_uint_eq(m.n, 2);
		assert_field(&m, 0, "k", t[i].out, t[i].outlen);
		assert_field(&m, 1, "j", "1", 1);
		/* As the last field too. */
		snprintf(line, sizeof(line), "v k=%s", t[i].in);
		accepted(&m, line);
		assert_field(&m, 0, "k", t[i].out, t[i].outlen);
	}
}
END_TEST

START_TEST(test_escape_nul_refused)
{
	static const char *const t[] = { "v path=\\x00", "v path=a\\x00b",
	    "v a=1 path=\\x00 b=2", "v path=\\x00\\x00", NULL };
	size_t i;

	for (i = 0; t[i] != NULL; i++) {
		refused(t[i], "bad-field");
		ck_assert_msg(strstr(err, "path") != NULL,
		    "message does not name the field: %s", err);
	}
}
END_TEST

START_TEST(test_bad_escapes)
{
	static const char *const t[] = { "\\", "a\\", "\\x", "\\x4", "\\xg1",
	    "\\x1g", "\\q", "\\X41", "\\\\\\", "\\u0041", "\\n", "\\0",
	    "ab\\x4", "\\x-1", "\\x 1", "\\ ", NULL };
	char line[64];
	size_t i;

	for (i = 0; t[i] != NULL; i++) {
		/* "\x 1" and "\ " split the field: a syntax error then. */
		snprintf(line, sizeof(line), "v path=%s", t[i]);
		refused(line, NULL);
		snprintf(line, sizeof(line), "v path=%s j=1", t[i]);
		refused(line, NULL);
		if (strchr(t[i], ' ') != NULL)
			continue;
		ck_assert_str_eq(code, "bad-field");
		ck_assert_msg(strstr(err, "path") != NULL,
		    "message does not name the field: %s", err);
	}
}
END_TEST

START_TEST(test_unescaped_bytes)
{
	char line[32];
	int c, n;

	/* Control bytes and DEL must be escaped in values, keys and
	 * verbs. */
	for (c = 0x01; c <= 0x1f; c++) {
		n = snprintf(line, sizeof(line), "v k=a%cb", c);
		refused_len(line, (size_t)n, NULL);
		n = snprintf(line, sizeof(line), "v k=%c", c);
		refused_len(line, (size_t)n, NULL);
		n = snprintf(line, sizeof(line), "v k%c=1", c);
		refused_len(line, (size_t)n, "syntax");
		n = snprintf(line, sizeof(line), "pi%cng", c);
		refused_len(line, (size_t)n, "syntax");
	}
	refused("v k=a\x7f" "b", NULL);
	refused("v k=\x7f", NULL);
	refused("pi\x7fng", "syntax");
	/* A space ends a field, so a bare space in a value is a field
	 * without '=' after it. */
	refused("v k=a b", "syntax");
	refused("register module=my module path=/x stamp=none:", "syntax");
	/* A CR before the LF is part of the line and makes it malformed. */
	refused("ping\r", "syntax");
	refused("ping id=1\r", NULL);
	/* Bytes 0x80-0xFF stand as they are in values, not in verbs or
	 * keys. */
	for (c = 0x80; c <= 0xff; c++) {
		struct proto_msg m;
		char want[2] = { (char)c, '\0' };

		n = snprintf(line, sizeof(line), "v k=%c", c);
		ck_assert_msg(parse_len(&m, line, (size_t)n) == 0,
		    "byte 0x%02x refused: %s", c, err);
		assert_field(&m, 0, "k", want, 1);
		n = snprintf(line, sizeof(line), "v%c", c);
		refused_len(line, (size_t)n, "syntax");
		n = snprintf(line, sizeof(line), "v k%c=1", c);
		refused_len(line, (size_t)n, "syntax");
	}
}
END_TEST

START_TEST(test_empty_values)
{
	struct proto_msg m;

	accepted(&m, "v k=");
	ck_assert_uint_eq(m.n, 1);
	assert_field(&m, 0, "k", "", 0);
	ck_assert_ptr_nonnull(proto_get(&m, "k"));
	ck_assert_str_eq(proto_get(&m, "k"), "");

	accepted(&m, "v k= j= l=x");
	ck_assert_uint_eq(m.n, 3);
	assert_field(&m, 0, "k", "", 0);
	assert_field(&m, 1, "j", "", 0);
	assert_field(&m, 2, "l", "x", 1);

	accepted(&m, "none-stamp stamp=none:");
	assert_field(&m, 0, "stamp", "none:", 5);
}
END_TEST

START_TEST(test_equals_in_value)
{
	struct proto_msg m;

	accepted(&m, "v k==");
	assert_field(&m, 0, "k", "=", 1);
	accepted(&m, "v k=a=b=c j==x");
	assert_field(&m, 0, "k", "a=b=c", 5);
	assert_field(&m, 1, "j", "=x", 2);
	accepted(&m, "v k===");
	assert_field(&m, 0, "k", "==", 2);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	struct proto_msg m;

	refused("v k=1 k=2", NULL);
	refused("v k=1 j=2 k=3", NULL);
	refused("v k= k=", NULL);
	refused("v k=1 k=1", NULL);
	/* Keys that share a prefix are different keys. */
	accepted(&m, "v k=1 kk=2 k-=3 k1=4");
	ck_assert_uint_eq(m.n, 4);
	ck_assert_str_eq(proto_get(&m, "k"), "1");
	ck_assert_str_eq(proto_get(&m, "kk"), "2");
}
END_TEST

START_TEST(test_field_count)
{
	struct proto_msg m;
	char line[512];
	size_t i, o;

	o = (size_t)snprintf(line, sizeof(line), "v");
	for (i = 0; i < PROTO_MAX_FIELDS; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o,
		    " k%zu=%zu", i, i);
	accepted(&m, line);
	ck_assert_uint_eq(m.n, PROTO_MAX_FIELDS);
	ck_assert_str_eq(proto_get(&m, "k15"), "15");
	/* One more is an error, not a silently dropped field. */
	snprintf(line + o, sizeof(line) - o, " k%d=x", PROTO_MAX_FIELDS);
	refused(line, NULL);
}
END_TEST

START_TEST(test_bad_verbs)
{
	static const char *const t[] = { "Ping", "PING", "p1ng", "ping!",
	    "pi_ng", " ping", "\xc3\xa9", "k=v", "=", "ping=1", "ping.",
	    "1", "ping/x", "pinG id=1", " ", "  ", "\\x70ing", NULL };
	size_t i;

	refused("", "syntax");
	for (i = 0; t[i] != NULL; i++)
		refused(t[i], "syntax");
}
END_TEST

START_TEST(test_bad_keys)
{
	static const char *const t[] = { "v K=1", "v =1", "v k", "v k.x=1",
	    "v k_x=1", "v k\xc3\xa9=1", "v \\x6b=1", "v k:=1", "v kK=1",
	    "v k=1 J=2", "v k=1 j", "v k=1 =", NULL };
	size_t i;

	for (i = 0; t[i] != NULL; i++)
		refused(t[i], "syntax");
}
END_TEST

START_TEST(test_empty_fields)
{
	static const char *const t[] = { "v  k=1", "v k=1 ", "v ",
	    "v k=1  j=2", "v k=1 j=2 ", "ping  ", "v k= ", NULL };
	size_t i;

	for (i = 0; t[i] != NULL; i++)
		refused(t[i], "syntax");
}
END_TEST

START_TEST(test_nul_in_line)
{
	refused_len("ping\0", 5, "syntax");
	refused_len("\0ping", 5, "syntax");
	refused_len("\0", 1, "syntax");
	refused_len("v k=a\0b", 7, "syntax");
	refused_len("v k=\0", 5, "syntax");
	refused_len("v k=1 j\0=2", 10, "syntax");
}
END_TEST

START_TEST(test_long_line)
{
	struct proto_msg m;
	char *line;
	size_t len = LIMIT - 1, i;

	/* The codec parses a line of the limit (the reader enforces it). */
	line = malloc(len);
	ck_assert_ptr_nonnull(line);
	memcpy(line, "v k=", 4);
	for (i = 4; i < len; i++)
		line[i] = (char)('a' + i % 26);
	ck_assert_int_eq(parse_len(&m, line, len), 0);
	ck_assert_uint_eq(m.f[0].len, len - 4);
	free(line);
}
END_TEST

START_TEST(test_need)
{
	struct proto_msg m;
	const char *v, *c = NULL;
	char e[PROTO_ERR_MAX];

	accepted(&m, "register module=hello path=/x.so");
	ck_assert_int_eq(proto_need(&m, "module", &v, &c, e, sizeof(e)), 0);
	ck_assert_str_eq(v, "hello");
	ck_assert_int_eq(proto_need(&m, "stamp", &v, &c, e, sizeof(e)), -1);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c, "missing-field");
	ck_assert_msg(strstr(e, "stamp") != NULL, "msg: %s", e);
	ck_assert_msg(strstr(e, "register") != NULL, "msg: %s", e);
}
END_TEST

/*
 * Numbers.
 */

/* Makes a message of one field n=val, without parsing. */
static void
one_field(struct proto_msg *m, const char *val)
{
	memset(m, 0, sizeof(*m));
	m->verb = "v";
	m->f[0].key = "n";
	m->f[0].val = val;
	m->f[0].len = strlen(val);
	m->n = 1;
}

START_TEST(test_get_uint)
{
	static const struct {
		const char *val;
		unsigned long long want;
	} good[] = {
		{ "0", 0 },
		{ "4242", 4242 },
		{ "007", 7 },
		{ "1000000000000000000", 1000000000000000000ULL },
		{ "9999999999999999999", 9999999999999999999ULL },
		{ "0000000000000000001", 1 },
	};
	static const char *const bad[] = { "", "10000000000000000000",
	    "00000000000000000000", "18446744073709551615",
	    "18446744073709551616", "99999999999999999999999", "+1", "-1",
	    "-0", "+0", "1a", "a1", "0x10", "1.0", "1.", " 1", "1 ", "1e3",
	    "\xd9\xa1", NULL };
	struct proto_msg m;
	unsigned long long n;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		one_field(&m, good[i].val);
		n = 12345;
		ck_assert_msg(proto_get_uint(&m, "n", &n) == 0, "\"%s\" "
		    "refused", good[i].val);
		ck_assert_msg(n == good[i].want, "\"%s\" read as %llu",
		    good[i].val, n);
	}
	for (i = 0; bad[i] != NULL; i++) {
		one_field(&m, bad[i]);
		ck_assert_msg(proto_get_uint(&m, "n", &n) == -1, "\"%s\" "
		    "accepted as %llu", bad[i], n);
	}
	one_field(&m, "1");
	ck_assert_int_eq(proto_get_uint(&m, "absent", &n), -1);
}
END_TEST

START_TEST(test_get_ms)
{
	static const struct {
		const char *val;
		double want;
	} good[] = {
		{ "0", 0 },
		{ "0.0", 0 },
		{ "0.41", 0.41 },
		{ "12", 12 },
		{ "12.50", 12.5 },
		{ "3.14159", 3.14159 },
		{ "1000000", 1e6 },
		{ "0.001", 0.001 },
		{ "12345678901234567890", 12345678901234567890.0 },
	};
	static const char *const bad[] = { "", ".", "-1", "+1", "-0.5",
	    "1.2.3", "1..2", "1e3", "1E3", "nan", "NAN", "inf", "infinity",
	    "0x1", "1,5", " 1", "1 ", "1ms", "..", NULL };
	struct proto_msg m;
	double d;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		one_field(&m, good[i].val);
		ck_assert_msg(proto_get_ms(&m, "n", &d) == 0, "\"%s\" "
		    "refused", good[i].val);
		ck_assert_msg(d >= good[i].want * (1 - 1e-12) &&
		    d <= good[i].want * (1 + 1e-12) + 1e-12,
		    "\"%s\" read as %.17g", good[i].val, d);
	}
	for (i = 0; bad[i] != NULL; i++) {
		one_field(&m, bad[i]);
		ck_assert_msg(proto_get_ms(&m, "n", &d) == -1, "\"%s\" "
		    "accepted as %g", bad[i], d);
	}
	one_field(&m, "1");
	ck_assert_int_eq(proto_get_ms(&m, "absent", &d), -1);
}
END_TEST

/*
 * Escaping and building.
 */

START_TEST(test_escape_each_byte)
{
	char src[2], dst[8];
	size_t n;
	int c;

	for (c = 1; c <= 255; c++) {
		src[0] = (char)c;
		src[1] = '\0';
		n = proto_escape(dst, sizeof(dst), src, 1);
		ck_assert_uint_eq(n, strlen(dst));
		ck_assert_uint_eq(proto_escape(NULL, 0, src, 1), n);
		if (c <= 0x20 || c == 0x7f)
			ck_assert_msg(is_hex_escape(dst, n,
			    (unsigned char)c), "0x%02x escaped as \"%s\"", c,
			    shown(dst, n));
		else if (c == '\\')
			ck_assert_str_eq(dst, "\\\\");
		else
			/* Visible ASCII and 0x80-0xFF pass as they are. */
			ck_assert_msg(n == 1 && dst[0] == (char)c,
			    "0x%02x escaped as \"%s\"", c, shown(dst, n));
		roundtrip(src);
	}
}
END_TEST

START_TEST(test_roundtrip_all_bytes)
{
	char val[256], rev[256];
	int c;

	for (c = 1; c <= 255; c++) {
		val[c - 1] = (char)c;
		rev[255 - c] = (char)c;
	}
	val[255] = rev[255] = '\0';
	roundtrip(val);
	roundtrip(rev);
	roundtrip("");
	roundtrip("\\\\x41\\");
	roundtrip("\\x00");
}
END_TEST

START_TEST(test_escape_truncation)
{
	static const char src[] = "a\nb\\c\xff d";
	char full[64], dst[64], cut[64] = { 0 };
	size_t need, cap, got, i, o;

	need = proto_escape(full, sizeof(full), src, sizeof(src) - 1);
	ck_assert_uint_eq(need, strlen(full));
	/* The places where one byte's escape ends and the next begins. */
	cut[0] = 1;
	for (i = 0, o = 0; i < sizeof(src) - 1; i++) {
		o += proto_escape(NULL, 0, src + i, 1);
		cut[o] = 1;
	}
	ck_assert_uint_eq(o, need);
	/* Too small a buffer: the answer is still the length needed, and
	 * the buffer holds a NUL-terminated prefix made of whole escapes. */
	for (cap = 1; cap <= need + 1; cap++) {
		memset(dst, 'Q', sizeof(dst));
		ck_assert_uint_eq(proto_escape(dst, cap, src,
		    sizeof(src) - 1), need);
		got = strnlen(dst, cap);
		ck_assert_msg(got < cap, "cap %zu: not terminated", cap);
		ck_assert_msg(memcmp(dst, full, got) == 0, "cap %zu: \"%s\" "
		    "is not a prefix", cap, dst);
		ck_assert_msg(cut[got], "cap %zu: \"%s\" splits an escape",
		    cap, dst);
		ck_assert_msg(dst[cap] == 'Q', "cap %zu: wrote past it", cap);
		if (cap > need)
			ck_assert_str_eq(dst, full);
	}
	/* Whole escapes only: "a" fits in 3 bytes, "a\x0a" does not. */
	ck_assert_uint_eq(proto_escape(dst, 3, "a\nb", 3), 6);
	ck_assert_str_eq(dst, "a");
	ck_assert_uint_eq(proto_escape(dst, 5, "a\nb", 3), 6);
	ck_assert_str_eq(dst, "a");
	ck_assert_uint_eq(proto_escape(dst, 6, "a\nb", 3), 6);
	ck_assert_str_eq(dst, "a\\x0a");
	ck_assert_uint_eq(proto_escape(NULL, 0, "a\nb", 3), 6);
}
END_TEST

START_TEST(test_roundtrip_names)
{
	static const char *const names[] = { "my module", "two  spaces",
	    "a\nregister module=evil path=/etc/passwd stamp=none:",
	    "\nerror code=denied", "tab\there", "cr\r\n", "\r", "\n\n",
	    "\\x41 literal", "=eq=", "back\\slash\\", "\xc3\xa9 \xc3\xbc",
	    " leading and trailing ", "\x7f", "\x01\x02\x1f", "ping",
	    "k=v j=w", "%s%n%x", NULL };
	static char buf[LIMIT];
	struct proto_msg m;
	struct proto_out o;
	char path[256];
	size_t i;
	int n;

	for (i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof(path), "/home/u/%s/b uild/%s.so",
		    names[i], names[i]);
		proto_start(&o, buf, sizeof(buf), "register");
		proto_add(&o, "module", names[i]);
		proto_add(&o, "path", path);
		proto_add(&o, "stamp", "none:");
		n = proto_end(&o);
		ck_assert_int_gt(n, 0);
		assert_one_line(buf, n);
		ck_assert_msg(parse_len(&m, buf, (size_t)n - 1) == 0,
		    "\"%s\" refused: %s", shown(buf, (size_t)n), err);
		ck_assert_str_eq(m.verb, "register");
		ck_assert_uint_eq(m.n, 3);
		assert_field(&m, 0, "module", names[i], strlen(names[i]));
		assert_field(&m, 1, "path", path, strlen(path));
		assert_field(&m, 2, "stamp", "none:", 5);
	}
}
END_TEST

START_TEST(test_build_line)
{
	static char buf[LIMIT];
	struct proto_out o;
	const char *want;
	int n;

	proto_start(&o, buf, sizeof(buf), "hello");
	proto_addf(&o, "proto", "%d", RELOADER_PROTO_VERSION);
	proto_addf(&o, "pid", "%ld", 4242L);
	proto_add(&o, "name", "dev server");
	proto_add(&o, "lib", "");
	n = proto_end(&o);
	want = "hello proto=1 pid=4242 name=dev\\x20server lib=\n";
	ck_assert_int_eq(n, (int)strlen(want));
	ck_assert_msg(strncasecmp(buf, want, (size_t)n) == 0, "built "
	    "\"%s\"", shown(buf, (size_t)n));

	proto_start(&o, buf, sizeof(buf), "ping");
	ck_assert_int_eq(proto_end(&o), 5);
	ck_assert_int_eq(memcmp(buf, "ping\n", 5), 0);

	/* An escaped value through addf too. */
	proto_start(&o, buf, sizeof(buf), "error");
	proto_addf(&o, "msg", "unknown verb \"%s\"", "frob");
	proto_addf(&o, "line", "%u", 3u);
	n = proto_end(&o);
	want = "error msg=unknown\\x20verb\\x20\"frob\" line=3\n";
	ck_assert_int_eq(n, (int)strlen(want));
	ck_assert(strncasecmp(buf, want, (size_t)n) == 0);
}
END_TEST

/* Builds "v k=" + a value of vlen bytes of c, in a buffer of cap bytes
 * followed by a canary; asserts the canary holds and returns proto_end's
 * answer. */
static int
build_len(size_t cap, size_t vlen, char c)
{
	struct proto_out o;
	char *buf, *val;
	size_t i;
	int n;

	buf = malloc(cap + 64);
	val = malloc(vlen + 1);
	ck_assert(buf != NULL && val != NULL);
	memset(buf, 'Q', cap + 64);
	memset(val, c, vlen);
	val[vlen] = '\0';
	proto_start(&o, buf, cap, "v");
	proto_add(&o, "k", val);
	n = proto_end(&o);
	for (i = cap < LIMIT ? cap : LIMIT; i < cap + 64; i++)
		ck_assert_msg(buf[i] == 'Q', "cap %zu, value %zu: byte %zu "
		    "written", cap, vlen, i);
	if (n >= 0) {
		assert_one_line(buf, n);
		ck_assert_int_eq(n, (int)(4 + vlen * (c == '\n' ? 4 : 1) + 1));
	}
	free(buf);
	free(val);
	return n;
}

START_TEST(test_end_overflow)
{
	static char buf[LIMIT];
	struct proto_out o;
	char *big;
	size_t v;

	/* "v k=" + value + LF: LIMIT - 5 bytes of value make a line of
	 * exactly LIMIT (see test_end_exact_limit); one more overflows. */
	ck_assert_int_eq(build_len(LIMIT, LIMIT - 4, 'a'), -1);
	ck_assert_int_eq(build_len(LIMIT + 4096, LIMIT - 4, 'a'), -1);
	ck_assert_int_eq(build_len(LIMIT * 4, LIMIT * 2, 'a'), -1);
	ck_assert_int_eq(build_len(LIMIT, LIMIT - 6, 'a'), LIMIT - 1);
	ck_assert_int_eq(build_len(LIMIT * 2, LIMIT - 6, 'a'), LIMIT - 1);

	/* Escapes count as what they take on the wire. */
	v = (LIMIT - 5) / 4 + 1;       /* 4095 LFs: 16380 bytes escaped */
	ck_assert_int_eq(build_len(LIMIT, v, '\n'), -1);
	ck_assert_int_eq(build_len(LIMIT, v - 1, '\n'), LIMIT - 3);

	/* A small buffer is a limit too, and nothing is written past it. */
	ck_assert_int_eq(build_len(16, 40, 'a'), -1);
	ck_assert_int_eq(build_len(16, 12, '\n'), -1);
	ck_assert_int_eq(build_len(16, 8, 'a'), 13);
	ck_assert_int_eq(build_len(0, 1, 'a'), -1);
	ck_assert_int_eq(build_len(1, 0, 'a'), -1);

	/* After an overflow the line stays refused: a later field that
	 * would fit does not make a line with a field missing. */
	big = malloc(LIMIT + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'b', LIMIT);
	big[LIMIT] = '\0';
	proto_start(&o, buf, sizeof(buf), "result");
	proto_add(&o, "batch", "1");
	proto_add(&o, "reason", big);
	proto_add(&o, "status", "ok");
	ck_assert_int_eq(proto_end(&o), -1);
	ck_assert_int_eq(proto_end(&o), -1);

	/* Likewise for a formatted field, and a verb alone. */
	proto_start(&o, buf, sizeof(buf), "result");
	proto_addf(&o, "reason", "%s%s", big, big);
	proto_add(&o, "status", "ok");
	ck_assert_int_eq(proto_end(&o), -1);
	proto_start(&o, buf, sizeof(buf), big);
	ck_assert_int_eq(proto_end(&o), -1);
	free(big);
}
END_TEST

START_TEST(test_end_around_limit)
{
	static char buf[LIMIT + 64];
	struct proto_msg m;
	char *val;
	size_t vlen, want;
	int n, k;

	/* Values whose line is around the limit, with escapes at every
	 * phase: either a whole line within the limit that parses back, or
	 * -1; never a truncated line. */
	val = malloc(LIMIT + 64);
	ck_assert_ptr_nonnull(val);
	for (k = 0; k < 5; k++) {
		want = 4 + 1;
		for (vlen = 0; want <= LIMIT + 8; vlen++) {
			val[vlen] = '\0';
			if (want + 48 >= LIMIT) {
				n = build1(buf, sizeof(buf), "v", "k", val);
				if (want > LIMIT)
					ck_assert_msg(n == -1, "%zu bytes "
					    "built as %d", want, n);
				else if (want < LIMIT)
					ck_assert_msg(n == (int)want, "%zu "
					    "bytes built as %d", want, n);
				if (n >= 0) {
					assert_one_line(buf, n);
					ck_assert_int_eq(parse_len(&m, buf,
					    (size_t)n - 1), 0);
					assert_field(&m, 0, "k", val, vlen);
				}
			}
			val[vlen] = (vlen + (size_t)k) % 5 == 0 ? ' ' : 'x';
			want += val[vlen] == ' ' ? 4 : 1;
		}
	}
	free(val);
}
END_TEST

/* The builder makes a line of exactly RELOADER_PROTO_MAX_LINE bytes, LF
 * included, as PROTOCOL.md allows and the reader accepts (it once
 * stopped one byte short). */
START_TEST(test_end_exact_limit)
{
	static char buf[LIMIT];
	struct proto_out o;
	char *verb;

	/* "v k=" + (LIMIT - 5) bytes + LF = LIMIT bytes. */
	ck_assert_int_eq(build_len(LIMIT, LIMIT - 5, 'a'), LIMIT);
	/* A verb alone of LIMIT - 1 bytes, then its LF. */
	verb = malloc(LIMIT);
	ck_assert_ptr_nonnull(verb);
	memset(verb, 'v', LIMIT - 1);
	verb[LIMIT - 1] = '\0';
	proto_start(&o, buf, sizeof(buf), verb);
	ck_assert_int_eq(proto_end(&o), LIMIT);
	free(verb);
}
END_TEST

/*
 * Stamps.
 */

/* Makes a stamp of a kind from len bytes. */
static struct stamp
mkstamp(enum stamp_kind kind, const void *bytes, size_t len)
{
	struct stamp st;

	memset(&st, 0, sizeof(st));
	st.kind = kind;
	st.len = len;
	if (len > 0)
		memcpy(st.bytes, bytes, len);
	return st;
}

/* Checks that st formats as text, parses back equal, and survives a
 * protocol line as a field. */
static void
stamp_roundtrip(const struct stamp *st, const char *text)
{
	static char line[LIMIT];
	char buf[PROTO_STAMP_MAX];
	struct stamp back;
	struct proto_msg m;
	int n;

	proto_stamp_format(st, buf, sizeof(buf));
	ck_assert_str_eq(buf, text);
	ck_assert_msg(proto_stamp_parse(text, &back) == 0, "\"%s\" refused",
	    text);
	ck_assert_int_eq(back.kind, st->kind);
	ck_assert_uint_eq(back.len, st->len);
	ck_assert_mem_eq(back.bytes, st->bytes, st->len);
	ck_assert(stamp_equal(&back, st));

	n = build1(line, sizeof(line), "registered", "stamp", buf);
	ck_assert_int_gt(n, 0);
	assert_one_line(line, n);
	ck_assert_int_eq(parse_len(&m, line, (size_t)n - 1), 0);
	ck_assert_str_eq(proto_get(&m, "stamp"), text);
	ck_assert_int_eq(proto_stamp_parse(proto_get(&m, "stamp"), &back),
	    0);
	ck_assert(stamp_equal(&back, st));
}

START_TEST(test_stamp_roundtrip)
{
	static const unsigned char id[20] = { 0x5e, 0x2a, 0x00, 0xff, 0x10,
	    0x01, 0x77, 0xc0, 0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0x56, 0x78,
	    0x9a, 0xbc, 0xde, 0xf0 };
	static const unsigned char md5[16] = { 0xd4, 0x1d, 0x8c, 0xd9, 0x8f,
	    0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e };
	static const enum stamp_kind k[] = { STAMP_BUILD_ID, STAMP_CONTENT,
	    STAMP_BEAM_MD5 };
	unsigned char max[STAMP_MAX];
	char text[2 * STAMP_MAX + 32], ver[STAMP_MAX + 1];
	struct stamp st;
	size_t i;

	st = mkstamp(STAMP_BUILD_ID, id, sizeof(id));
	stamp_roundtrip(&st,
	    "build-id:5e2a00ff100177c0deadbeef123456789abcdef0");
	st = mkstamp(STAMP_BUILD_ID, "\x01", 1);
	stamp_roundtrip(&st, "build-id:01");
	st = mkstamp(STAMP_CONTENT, md5, sizeof(md5));
	stamp_roundtrip(&st, "content-md5:d41d8cd98f00b204e9800998ecf8427e");
	st = mkstamp(STAMP_BEAM_MD5, md5, sizeof(md5));
	stamp_roundtrip(&st, "md5:d41d8cd98f00b204e9800998ecf8427e");
	st = mkstamp(STAMP_VERSION, "1.0", 3);
	stamp_roundtrip(&st, "version:1.0");
	st = mkstamp(STAMP_VERSION, "1.0 beta:2\\\xc3\xa9\n", 14);
	stamp_roundtrip(&st, "version:1.0 beta:2\\\xc3\xa9\n");
	st = mkstamp(STAMP_NONE, NULL, 0);
	stamp_roundtrip(&st, "none:");

	/* The longest of each kind. */
	for (i = 0; i < STAMP_MAX; i++) {
		max[i] = (unsigned char)(0xff - i);
		ver[i] = (char)('0' + i % 10);
	}
	ver[STAMP_MAX] = '\0';
	for (i = 0; i < 3; i++) {
		size_t j, o;

		st = mkstamp(k[i], max, sizeof(max));
		o = (size_t)snprintf(text, sizeof(text), "%s:",
		    stamp_kind_name(k[i]));
		for (j = 0; j < STAMP_MAX; j++)
			o += (size_t)snprintf(text + o, sizeof(text) - o,
			    "%02x", max[j]);
		stamp_roundtrip(&st, text);
	}
	st = mkstamp(STAMP_VERSION, ver, STAMP_MAX);
	snprintf(text, sizeof(text), "version:%s", ver);
	stamp_roundtrip(&st, text);

	/* A version may hold ':' after the kind's. */
	ck_assert_int_eq(proto_stamp_parse("version:a:b:", &st), 0);
	ck_assert_int_eq(st.kind, STAMP_VERSION);
	ck_assert_uint_eq(st.len, 4);
	ck_assert_mem_eq(st.bytes, "a:b:", 4);
}
END_TEST

START_TEST(test_stamp_bad)
{
	static const char *const bad[] = { "", ":", ":ab", "build-id",
	    "build-id:", "build-id:abc", "build-id:0", "build-id:zz",
	    "build-id:0g", "build-id: ab", "build-id:ab ", "build-id:+1ab",
	    "build-id:-1", "build-id:0x12", "sha1:abcd", "Build-id:ab",
	    "BUILD-ID:ab", "buildid:ab", "build_id:ab", " build-id:ab",
	    "build-id :ab", "none:x", "none:00", "None:", "none", "NONE:",
	    "version:", "version", "md5:", "md5:abc", "md5:xy",
	    "content-md5:", "content-md5:xyz0", "content:ab", "beam:ab",
	    "build-id:ab:cd", NULL };
	char hex[2 * STAMP_MAX + 32], ver[STAMP_MAX + 32];
	struct stamp st;
	size_t i, o;

	for (i = 0; bad[i] != NULL; i++)
		ck_assert_msg(proto_stamp_parse(bad[i], &st) == -1,
		    "\"%s\" accepted", bad[i]);
	/* One byte over the longest stamp kept. */
	o = (size_t)snprintf(hex, sizeof(hex), "build-id:");
	for (i = 0; i < STAMP_MAX + 1; i++)
		o += (size_t)snprintf(hex + o, sizeof(hex) - o, "ab");
	ck_assert_int_eq(proto_stamp_parse(hex, &st), -1);
	memcpy(hex + 5, "md5:", 4);
	ck_assert_int_eq(proto_stamp_parse(hex + 5, &st), -1);
	o = (size_t)snprintf(ver, sizeof(ver), "version:");
	memset(ver + o, 'v', STAMP_MAX + 1);
	ver[o + STAMP_MAX + 1] = '\0';
	ck_assert_int_eq(proto_stamp_parse(ver, &st), -1);
}
END_TEST

START_TEST(test_stamp_format_small)
{
	struct stamp st = mkstamp(STAMP_BUILD_ID, "\xab\xcd\xef", 3);
	char buf[32];

	memset(buf, 'Q', sizeof(buf));
	proto_stamp_format(&st, buf, 8);
	ck_assert_uint_lt(strlen(buf), 8);
	ck_assert_int_eq(strncmp(buf, "build-id:abcdef", strlen(buf)), 0);
	ck_assert_int_eq(buf[8], 'Q');
}
END_TEST

/* The default socket path: one rule, in order, for every program. */
START_TEST(test_default_socket)
{
	char buf[256], want[64], small[16];

	if (geteuid() == 0)
		snprintf(want, sizeof(want), "/run/reloader/reloader.sock");
	else
		snprintf(want, sizeof(want), "/tmp/reloader-%lu.sock",
		    (unsigned long)geteuid());
	ck_assert_int_eq(unsetenv("RELOADER_SOCKET"), 0);
	ck_assert_int_eq(unsetenv("XDG_RUNTIME_DIR"), 0);
	ck_assert_int_eq(proto_default_socket(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
	/* Empty is unset. */
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "", 1), 0);
	ck_assert_int_eq(setenv("RELOADER_SOCKET", "", 1), 0);
	ck_assert_int_eq(proto_default_socket(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);

	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "/run/user/7", 1), 0);
	ck_assert_int_eq(proto_default_socket(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/run/user/7/reloader.sock");
	/* Trailing slashes do not double; inner ones stay as written. */
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "/run//user/7//", 1), 0);
	ck_assert_int_eq(proto_default_socket(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/run//user/7/reloader.sock");
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "/", 1), 0);
	ck_assert_int_eq(proto_default_socket(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/reloader.sock");

	/* RELOADER_SOCKET comes first, exactly as given. */
	ck_assert_int_eq(setenv("RELOADER_SOCKET", "/srv/r.sock/", 1), 0);
	ck_assert_int_eq(proto_default_socket(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/srv/r.sock/");

	/* Too long for the buffer: -1, and what fits is terminated. */
	memset(small, 'Q', sizeof(small));
	ck_assert_int_eq(proto_default_socket(small, sizeof(small)), 0);
	ck_assert_str_eq(small, "/srv/r.sock/");
	ck_assert_int_eq(setenv("RELOADER_SOCKET", "/a/long/path/r.sock", 1),
	    0);
	ck_assert_int_eq(proto_default_socket(small, sizeof(small)), -1);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(unsetenv("RELOADER_SOCKET"), 0);
	ck_assert_int_eq(unsetenv("XDG_RUNTIME_DIR"), 0);
}
END_TEST

/*
 * The line reader (linebuf.c).  Each stream is fed in chunks of a given
 * size, each chunk in a buffer of exactly its size (so a sanitizer build
 * catches a read past it), and what the reader hands out is written down
 * as a transcript: "L<len>:<line>" per line (a line longer than 12 bytes
 * shown by its first 12), "T" per line too long, one per chunk fed.
 */
static char *
lines_run(const char *stream, size_t len, size_t chunk, size_t *maxcap)
{
	struct linebuf lb;
	char *out, *buf, *line;
	size_t off = 0, n, llen, o = 0, cap = 1 << 20;
	int rc;

	out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	out[0] = '\0';
	memset(&lb, 0, sizeof(lb));
	*maxcap = 0;
	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		buf = malloc(n);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, stream + off, n);
		ck_assert_int_eq(linebuf_feed(&lb, buf, n), 0);
		while ((rc = linebuf_next(&lb, &line, &llen)) != LINEBUF_NONE) {
			ck_assert_int_ne(rc, LINEBUF_NOMEM);
			ck_assert_uint_lt(o + 64, cap);
			if (rc == LINEBUF_TOO_LONG) {
				o += (size_t)snprintf(out + o, cap - o, "T ");
				continue;
			}
			ck_assert_int_eq(line[llen], '\0');
			ck_assert_uint_lt(llen, LIMIT);
			o += (size_t)snprintf(out + o, cap - o, "L%zu:%.*s ",
			    llen, (int)(llen < 12 ? llen : 12), line);
		}
		if (lb.cap > *maxcap)
			*maxcap = lb.cap;
		/* Bytes fed are all taken: the next feed is accepted. */
		ck_assert_uint_eq(lb.n, 0);
		free(buf);
		off += n;
	}
	if (linebuf_pending(&lb))
		o += (size_t)snprintf(out + o, cap - o, "P");
	linebuf_reset(&lb);
	return out;
}

/* Runs a stream through the reader in chunks of 1, 2, 7, 4096, the limit
 * and all at once, and checks each transcript against want; checks that
 * what the reader kept never outgrew the limit. */
static void
lines_check(const char *stream, size_t len, const char *want)
{
	static const size_t chunks[] = { 1, 2, 7, 4096, LIMIT, 1 << 20 };
	size_t i, maxcap;
	char *got;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		got = lines_run(stream, len, chunks[i], &maxcap);
		ck_assert_msg(strcmp(got, want) == 0, "in chunks of %zu: "
		    "got \"%.200s\", want \"%.200s\"", chunks[i], got, want);
		ck_assert_uint_le(maxcap, LIMIT);
		free(got);
	}
}

/* Whole lines come out in order, empty ones too, LF made NUL. */
START_TEST(test_lines_plain)
{
	static const char s[] = "ping id=1\n\nwelcome proto=2\nx\n";

	lines_check(s, sizeof(s) - 1, "L9:ping id=1 L0: L15:welcome prot "
	    "L1:x ");
}
END_TEST

/* Bytes after the last LF wait for the rest of their line; a stream that
 * ends there ends mid-line. */
START_TEST(test_lines_partial)
{
	static const char s[] = "pong\nreg";

	lines_check(s, sizeof(s) - 1, "L4:pong P");
}
END_TEST

/* A line of exactly the limit, LF included, is taken, however it is cut;
 * one byte more and it is dropped and reported once, at its LF, and the
 * next line is read as usual. */
START_TEST(test_lines_limit)
{
	char *s = malloc(3 * LIMIT), want[128];
	size_t n = 0;

	ck_assert_ptr_nonnull(s);
	memset(s, 'a', LIMIT - 1);
	n = LIMIT - 1;
	s[n++] = '\n';
	memset(s + n, 'b', LIMIT);
	n += LIMIT;
	s[n++] = '\n';
	memcpy(s + n, "ok\n", 3);
	n += 3;
	snprintf(want, sizeof(want), "L%d:aaaaaaaaaaaa T L2:ok ", LIMIT - 1);
	lines_check(s, n, want);
	free(s);
}
END_TEST

/* A line far over the limit, fed in many reads, is never kept whole:
 * dropped as it comes, reported once when its LF arrives, not before. */
START_TEST(test_lines_overlong)
{
	size_t len = 5 * LIMIT + 17, maxcap;
	char *s = malloc(len + 16), *got;

	ck_assert_ptr_nonnull(s);
	memset(s, 'x', len);
	got = lines_run(s, len, 4096, &maxcap);
	ck_assert_str_eq(got, "P");
	ck_assert_uint_le(maxcap, LIMIT);
	free(got);
	memcpy(s + len, "\nping\n", 6);
	lines_check(s, len + 6, "T L4:ping ");
	free(s);
}
END_TEST

/* Nothing is kept once a line cut in two is whole, and bytes fed must
 * all be taken before the next feed. */
START_TEST(test_lines_memory)
{
	struct linebuf lb;
	char a[] = "hel", b[] = "lo\nwor", *line;
	size_t len;

	linebuf_init(&lb);
	ck_assert_int_eq(linebuf_feed(&lb, a, 3), 0);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	ck_assert_ptr_nonnull(lb.buf);
	ck_assert(linebuf_pending(&lb));
	ck_assert_int_eq(linebuf_feed(&lb, b, 6), 0);
	ck_assert_int_eq(linebuf_feed(&lb, a, 3), -1);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_LINE);
	ck_assert_str_eq(line, "hello");
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	ck_assert(linebuf_pending(&lb));
	linebuf_reset(&lb);
	ck_assert_ptr_null(lb.buf);
	ck_assert(!linebuf_pending(&lb));

	/* The copy of a line cut in two goes once it was handed out. */
	strcpy(a, "hel");
	strcpy(b, "lo\nwor");
	ck_assert_int_eq(linebuf_feed(&lb, a, 3), 0);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	ck_assert_int_eq(linebuf_feed(&lb, b, 3), 0);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_LINE);
	ck_assert_str_eq(line, "hello");
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	ck_assert_ptr_null(lb.buf);
	ck_assert(!linebuf_pending(&lb));

	/* A whole line is handed out in place, and nothing is kept. */
	ck_assert_int_eq(linebuf_feed(&lb, b + 3, 3), 0);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	ck_assert_int_eq(linebuf_feed(&lb, a + 2, 1), 0);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	linebuf_reset(&lb);
	strcpy(b, "lo\nwor");
	ck_assert_int_eq(linebuf_feed(&lb, b, 6), 0);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_LINE);
	ck_assert_ptr_eq(line, b);
	ck_assert_ptr_null(lb.buf);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	ck_assert_ptr_nonnull(lb.buf);
	ck_assert_int_eq(linebuf_feed(&lb, a + 2, 1), 0);
	ck_assert_int_eq(linebuf_next(&lb, &line, &len), LINEBUF_NONE);
	ck_assert_uint_eq(lb.len, 4);
	ck_assert_int_eq(memcmp(lb.buf, "worl", 4), 0);
	linebuf_reset(&lb);
}
END_TEST

/* Builds the suite. */
static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_verb_only);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_escape_nul_refused);
	tcase_add_test(tc, test_bad_escapes);
	tcase_add_test(tc, test_unescaped_bytes);
	tcase_add_test(tc, test_empty_values);
	tcase_add_test(tc, test_equals_in_value);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_field_count);
	tcase_add_test(tc, test_bad_verbs);
	tcase_add_test(tc, test_bad_keys);
	tcase_add_test(tc, test_empty_fields);
	tcase_add_test(tc, test_nul_in_line);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_need);
	suite_add_tcase(s, tc);

	tc = tcase_create("numbers");
	tcase_add_test(tc, test_get_uint);
	tcase_add_test(tc, test_get_ms);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_escape_each_byte);
	tcase_add_test(tc, test_roundtrip_all_bytes);
	tcase_add_test(tc, test_escape_truncation);
	tcase_add_test(tc, test_roundtrip_names);
	tcase_add_test(tc, test_build_line);
	tcase_add_test(tc, test_end_overflow);
	tcase_add_test(tc, test_end_around_limit);
	tcase_add_test(tc, test_end_exact_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("stamp");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_stamp_roundtrip);
	tcase_add_test(tc, test_stamp_bad);
	tcase_add_test(tc, test_stamp_format_small);
	suite_add_tcase(s, tc);

	tc = tcase_create("socket");
	tcase_add_test(tc, test_default_socket);
	suite_add_tcase(s, tc);

	tc = tcase_create("lines");
	tcase_add_test(tc, test_lines_plain);
	tcase_add_test(tc, test_lines_partial);
	tcase_add_test(tc, test_lines_limit);
	tcase_add_test(tc, test_lines_overlong);
	tcase_add_test(tc, test_lines_memory);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
