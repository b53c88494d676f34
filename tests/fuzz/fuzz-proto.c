/*
 * fuzz-proto.c: fuzz target for the protocol's line codec.
 *
 * Splits the input at LF and parses each line as a receiver would, with
 * one writable byte after it.  A line that parses must be well formed by
 * docs/PROTOCOL.md and must survive being built again and parsed back;
 * every line's bytes, taken as a value, must come back byte-identical
 * from proto_add and proto_parse, in a line with one LF, at its end.
 * Numbers and stamps that parse must mean what they say.  A broken
 * property traps; sanitizers catch the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static char out[PROTO_MAX_LINE + 64];  /* built lines */
static char back[PROTO_MAX_LINE + 64]; /* built lines, parsed again */

/* Says whether s is a verb (digits = 0) or key (digits = 1). */
static int
word(const char *s, int digits)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '-' ||
		    (digits && *s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

/* Checks that n bytes of out are one line: a single LF, at the end, no
 * NUL or other control byte, at most the limit. */
static void
check_line(int n)
{
	int i;

	CHECK(n > 0 && n <= PROTO_MAX_LINE);
	CHECK(out[n - 1] == '\n');
	for (i = 0; i < n - 1; i++)
		CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
}

/* Parses the n-byte line in out (LF included) into back; 0 or -1. */
static int
reparse(int n, struct proto_msg *m)
{
	const char *code;
	char err[PROTO_ERR_MAX];

	memcpy(back, out, (size_t)n);
	return proto_parse(back, (size_t)n - 1, m, &code, err, sizeof(err));
}

/* Checks what the number readers make of a value. */
static void
check_numbers(const struct proto_msg *m, const char *key, const char *val)
{
	unsigned long long u, w = 0;
	double d;
	size_t i, len = strlen(val);

	if (proto_get_uint(m, key, &u) == 0) {
		CHECK(len >= 1 && len <= 19);
		for (i = 0; i < len; i++) {
			CHECK(val[i] >= '0' && val[i] <= '9');
			w = w * 10 + (unsigned long long)(val[i] - '0');
		}
		CHECK(u == w);
	}
	if (proto_get_ms(m, key, &d) == 0) {
		CHECK(d >= 0 && d == d);
		CHECK(strspn(val, "0123456789.") == len);
		CHECK(strchr(val, '.') == strrchr(val, '.'));
	}
}

/* Checks that a stamp that parses formats and parses back equal. */
static void
check_stamp(const char *val)
{
	struct stamp st, st2;
	char buf[PROTO_STAMP_MAX];

	if (proto_stamp_parse(val, &st) != 0)
		return;
	CHECK(st.len <= STAMP_MAX);
	CHECK(st.kind != STAMP_NONE || st.len == 0);
	proto_stamp_format(&st, buf, sizeof(buf));
	CHECK(strlen(buf) < sizeof(buf) - 1);
	CHECK(proto_stamp_parse(buf, &st2) == 0);
	CHECK(stamp_equal(&st, &st2));
}

/* Checks a line that parsed, then builds it again and parses it back. */
static void
check_parsed(const struct proto_msg *m, size_t linelen)
{
	struct proto_msg m2;
	struct proto_out o;
	size_t i, j;
	int n;

	CHECK(m->verb != NULL && word(m->verb, 0));
	CHECK(m->n <= PROTO_MAX_FIELDS);
	for (i = 0; i < m->n; i++) {
		CHECK(word(m->f[i].key, 1));
		CHECK(strlen(m->f[i].val) == m->f[i].len);
		CHECK(m->f[i].len < linelen);
		CHECK(proto_get(m, m->f[i].key) == m->f[i].val);
		for (j = 0; j < i; j++)
			CHECK(strcmp(m->f[i].key, m->f[j].key) != 0);
		check_numbers(m, m->f[i].key, m->f[i].val);
		check_stamp(m->f[i].val);
	}

	/* The canonical form is never longer than what was received, so
	 * it builds whenever the line was within the limit. */
	proto_start(&o, out, sizeof(out), m->verb);
	for (i = 0; i < m->n; i++)
		proto_add(&o, m->f[i].key, m->f[i].val);
	n = proto_end(&o);
	if (linelen + 1 < PROTO_MAX_LINE)
		CHECK(n > 0);
	if (n < 0)
		return;
	CHECK((size_t)n <= linelen + 1);
	check_line(n);
	CHECK(reparse(n, &m2) == 0);
	CHECK(strcmp(m2.verb, m->verb) == 0);
	CHECK(m2.n == m->n);
	for (i = 0; i < m->n; i++) {
		CHECK(strcmp(m2.f[i].key, m->f[i].key) == 0);
		CHECK(m2.f[i].len == m->f[i].len);
		CHECK(memcmp(m2.f[i].val, m->f[i].val, m->f[i].len) == 0);
	}
}

/* Escapes len bytes (no NUL among them) as a value, builds a line with
 * it, and checks it comes back byte-identical. */
static void
check_value(const char *val, size_t len)
{
	struct proto_msg m;
	struct proto_out o;
	char small[32];
	size_t need, got;
	int n;

	need = proto_escape(NULL, 0, val, len);
	CHECK(need >= len && need <= 4 * len);
	got = proto_escape(small, sizeof(small), val, len);
	CHECK(got == need);
	CHECK(strlen(small) <= need && strlen(small) < sizeof(small));
	if (need < sizeof(small))
		CHECK(strlen(small) == need);

	proto_start(&o, out, sizeof(out), "v");
	proto_add(&o, "k", val);
	proto_add(&o, "j", "");
	n = proto_end(&o);
	/* "v k=" VALUE " j=" LF */
	if (4 + need + 3 + 1 < PROTO_MAX_LINE)
		CHECK(n == (int)(4 + need + 3 + 1));
	else if (4 + need + 3 + 1 > PROTO_MAX_LINE)
		CHECK(n == -1);
	if (n < 0)
		return;
	check_line(n);
	CHECK(reparse(n, &m) == 0);
	CHECK(strcmp(m.verb, "v") == 0 && m.n == 2);
	CHECK(m.f[0].len == len && memcmp(m.f[0].val, val, len) == 0);
	CHECK(m.f[1].len == 0 && strcmp(m.f[1].key, "j") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m;
	const char *code;
	char err[PROTO_ERR_MAX], *line, *val;
	const uint8_t *p = data, *end = data + size, *lf;
	size_t len;

	while (p < end) {
		if ((lf = memchr(p, '\n', (size_t)(end - p))) == NULL)
			lf = end;
		len = (size_t)(lf - p);
		/* Exactly the line and the writable byte where its LF was. */
		if ((line = malloc(len + 1)) == NULL ||
		    (val = malloc(len + 1)) == NULL)
			abort();
		memcpy(line, p, len);
		line[len] = '\n';
		memcpy(val, p, len);
		val[len] = '\0';

		code = NULL;
		err[0] = '\0';
		if (proto_parse(line, len, &m, &code, err, sizeof(err)) == 0)
			check_parsed(&m, len);
		else {
			CHECK(code != NULL && (strcmp(code, "syntax") == 0 ||
			    strcmp(code, "bad-field") == 0));
			CHECK(err[0] != '\0' && strlen(err) < sizeof(err));
		}

		/* The line's bytes up to any NUL, as a value. */
		check_value(val, strlen(val));
		free(line);
		free(val);
		p = lf + 1;
	}
	return 0;
}
