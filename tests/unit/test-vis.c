/*
 * test-vis.c: unit tests of what is made safe for a terminal: the
 * protocol codec's UTF-8 and visibility helpers, the daemon's log_esc,
 * and its log lines, in the file and in the ring that `tail` reads.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "proto.h"
#include "reloaderd.h"
#include "testutil.h"

/* A byte sequence and how many bytes of it proto_vis_len shows as is. */
static const struct {
	const char *s;
	size_t vis;
	size_t utf8;
} lens[] = {
	{ "a", 1, 1 },
	{ " ", 1, 1 },
	{ "~", 1, 1 },
	{ "\x1b", 0, 1 },           /* ESC */
	{ "\t", 0, 1 },
	{ "\n", 0, 1 },
	{ "\x7f", 0, 1 },           /* DEL */
	{ "\x80", 0, 0 },           /* raw C1, a lone continuation byte */
	{ "\x9b", 0, 0 },           /* raw CSI */
	{ "\x9f", 0, 0 },
	{ "\xc2\x80", 0, 2 },       /* U+0080, C1 in UTF-8 */
	{ "\xc2\x9b", 0, 2 },       /* U+009B, CSI in UTF-8 */
	{ "\xc2\x9f", 0, 2 },       /* U+009F */
	{ "\xc2\xa0", 2, 2 },       /* U+00A0, no-break space */
	{ "\xc3\xa9", 2, 2 },       /* é */
	{ "\xe4\xb8\xad", 3, 3 },   /* 中 */
	{ "\xf0\x9f\x98\x80", 4, 4 }, /* U+1F600 */
	{ "\xf4\x8f\xbf\xbf", 4, 4 }, /* U+10FFFF */
	{ "\xc0\xaf", 0, 0 },       /* overlong '/' */
	{ "\xc1\xbf", 0, 0 },
	{ "\xe0\x80\xaf", 0, 0 },   /* overlong */
	{ "\xf0\x80\x80\xaf", 0, 0 },
	{ "\xed\xa0\x80", 0, 0 },   /* a surrogate */
	{ "\xf4\x90\x80\x80", 0, 0 }, /* past U+10FFFF */
	{ "\xf5\x80\x80\x80", 0, 0 },
	{ "\xff", 0, 0 },
	{ "\xe4\xb8", 0, 0 },       /* cut short by the end */
	{ "\xe4\xb8" "a", 0, 0 },   /* cut short by ASCII */
	{ "\xc3", 0, 0 },
};

START_TEST(test_lengths)
{
	ck_assert_msg(proto_utf8_len(lens[_i].s) == lens[_i].utf8,
	    "case %d: utf8_len %zu", _i, proto_utf8_len(lens[_i].s));
	ck_assert_msg(proto_vis_len(lens[_i].s) == lens[_i].vis,
	    "case %d: vis_len %zu", _i, proto_vis_len(lens[_i].s));
}
END_TEST

/* Input, whether quotes are escaped, and what proto_vis makes of it. */
static const struct {
	const char *in;
	int quote;
	const char *out;
} vis[] = {
	{ "", 0, "" },
	{ "plain name.so", 0, "plain name.so" },
	{ "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87.so", 0,
	    "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87.so" },
	{ "a\x1b[31mred\x1b[0m", 0, "a\\x1b[31mred\\x1b[0m" },
	{ "x\x9b" "31my", 0, "x\\x9b31my" },
	{ "x\xc2\x9b" "31my", 0, "x\\xc2\\x9b31my" },
	{ "\xc2\xa0nbsp", 0, "\xc2\xa0nbsp" },
	{ "bad\xff\xfe", 0, "bad\\xff\\xfe" },
	{ "cut\xe4\xb8", 0, "cut\\xe4\\xb8" },
	{ "over\xc0\xaf", 0, "over\\xc0\\xaf" },
	{ "line\nfake", 0, "line\\x0afake" },
	{ "del\x7f", 0, "del\\x7f" },
	{ "q\"b\\s", 0, "q\"b\\s" },
	{ "q\"b\\s", 1, "q\\\"b\\\\s" },
	{ "\x1b\xc2\x9b\"", 1, "\\x1b\\xc2\\x9b\\\"" },
};

START_TEST(test_vis)
{
	char buf[256];

	ck_assert_str_eq(proto_vis(buf, sizeof(buf), vis[_i].in,
	    vis[_i].quote), vis[_i].out);
}
END_TEST

START_TEST(test_vis_truncation)
{
	char buf[8];

	/* Cut before what does not fit whole: no half escape, no half
	 * character. */
	ck_assert_str_eq(proto_vis(buf, 8, "abc\x1b" "def", 0), "abc\\x1b");
	ck_assert_str_eq(proto_vis(buf, 7, "abc\x1b" "def", 0), "abc");
	ck_assert_str_eq(proto_vis(buf, 5, "ab\xe4\xb8\xad", 0), "ab");
	ck_assert_str_eq(proto_vis(buf, 6, "ab\xe4\xb8\xad", 0),
	    "ab\xe4\xb8\xad");
	ck_assert_str_eq(proto_vis(buf, 3, "a\"", 1), "a");
	ck_assert_str_eq(proto_vis(buf, 1, "abc", 0), "");
	buf[0] = 'x';
	ck_assert_ptr_eq(proto_vis(buf, 0, "abc", 0), buf);
	ck_assert_int_eq(buf[0], 'x');
}
END_TEST

START_TEST(test_log_esc)
{
	const char *s;

	/* Nothing to escape: the string itself. */
	s = "build/hello.so";
	ck_assert_ptr_eq(log_esc(s), s);
	s = "caf\xc3\xa9/\xe4\xb8\xad.so";
	ck_assert_ptr_eq(log_esc(s), s);
	/* Quoted, with what a terminal must not see escaped. */
	ck_assert_str_eq(log_esc(""), "\"\"");
	ck_assert_str_eq(log_esc("a b"), "\"a b\"");
	ck_assert_str_eq(log_esc("a\"b"), "\"a\\\"b\"");
	ck_assert_str_eq(log_esc("a\\b"), "\"a\\\\b\"");
	ck_assert_str_eq(log_esc("e\x1b[2Jx.so"), "\"e\\x1b[2Jx.so\"");
	ck_assert_str_eq(log_esc("c\x9b" "2Jx.so"), "\"c\\x9b2Jx.so\"");
	ck_assert_str_eq(log_esc("u\xc2\x9b" "2J.so"), "\"u\\xc2\\x9b2J.so\"");
	ck_assert_str_eq(log_esc("\xff.so"), "\"\\xff.so\"");
	ck_assert_str_eq(log_esc("caf\xc3\xa9 \x9b"),
	    "\"caf\xc3\xa9 \\x9b\"");
}
END_TEST

START_TEST(test_log_esc_long)
{
	char *s = malloc(10001);
	const char *e;

	ck_assert_ptr_nonnull(s);
	memset(s, '\x9b', 10000);
	s[10000] = '\0';
	e = log_esc(s);
	/* Cut to its buffer, still quoted, no half escape. */
	ck_assert_uint_lt(strlen(e), 4096);
	ck_assert_int_eq(e[0], '"');
	ck_assert_int_eq(e[strlen(e) - 1], '"');
	ck_assert_uint_eq((strlen(e) - 2) % 4, 0);
	ck_assert_ptr_null(strchr(e, '\x9b'));
	free(s);
}
END_TEST

START_TEST(test_log_lines)
{
	char *dir = tu_tmpdir(), *path, *text;
	const char *msg, *about;
	struct timespec ts;
	size_t len, n;
	int pri;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ne(asprintf(&path, "%s/log", dir), -1);
	log_init(1, LOG_DEBUG);
	ck_assert_int_eq(log_open_file(path), 0);
	/* A message that bypasses log_esc still reaches no terminal raw;
	 * what log_esc made is left as it is; valid UTF-8 passes. */
	log_info("raw %s and %s, caf\xc3\xa9", "\x1b]0;x\a\x9b" "1m\xc2\x9b",
	    log_esc("a b\x9b"));
	log_close();
	text = (char *)tu_slurp(path, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(memchr(text, '\x1b', len));
	ck_assert_ptr_null(memchr(text, '\x9b', len));
	ck_assert_ptr_null(memchr(text, '\a', len));
	ck_assert_msg(strstr(text, " info raw \\x1b]0;x\\x07\\x9b1m\\xc2\\x9b "
	    "and \"a b\\x9b\", caf\xc3\xa9\n") != NULL, "%s", text);
	n = log_ring_count();
	ck_assert_uint_ge(n, 1);
	ck_assert_int_eq(log_ring_get(n - 1, &ts, &pri, &msg, &about), 0);
	ck_assert_int_eq(pri, LOG_INFO);
	ck_assert_str_eq(msg, "raw \\x1b]0;x\\x07\\x9b1m\\xc2\\x9b and "
	    "\"a b\\x9b\", caf\xc3\xa9");
	free(text);
	free(path);
	tu_rmrf(dir);
}
END_TEST

static Suite *
vis_suite(void)
{
	Suite *s = suite_create("vis");
	TCase *tc;

	tc = tcase_create("proto");
	tcase_add_loop_test(tc, test_lengths, 0,
	    sizeof(lens) / sizeof(lens[0]));
	tcase_add_loop_test(tc, test_vis, 0, sizeof(vis) / sizeof(vis[0]));
	tcase_add_test(tc, test_vis_truncation);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_add_test(tc, test_log_esc);
	tcase_add_test(tc, test_log_esc_long);
	tcase_add_test(tc, test_log_lines);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(vis_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
