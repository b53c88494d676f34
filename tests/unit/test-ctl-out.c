/*
 * test-ctl-out.c: unit tests of what reloaderctl prints (out.c): values
 * from the daemon made safe for a terminal, and JSON that stays valid
 * UTF-8 with no control character a terminal would act on.
 *
 * out.c is linked alone; the two things it takes from reloaderctl.c are
 * stood in for (ctlstub.h).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctlstub.h"

/* What one of out.c's printers writes, as a string the caller frees. */
static char *
printed(void (*fn)(FILE *, const char *), const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(fp);
	fn(fp, s);
	ck_assert_int_eq(fclose(fp), 0);
	return buf;
}

/* Says whether s is well-formed UTF-8 with no C0 or C1 control and no
 * DEL, as proto_vis_len judges every character. */
static int
all_visible(const char *s)
{
	size_t n;

	for (; *s != '\0'; s += n)
		if ((n = proto_vis_len(s)) == 0)
			return 0;
	return 1;
}

/* A value and how it prints for humans and as JSON. */
static const struct {
	const char *in;
	const char *human;
	const char *json;
} cases[] = {
	{ "plain", "plain", "\"plain\"" },
	{ "caf\xc3\xa9 \xe4\xb8\xad", "caf\xc3\xa9 \xe4\xb8\xad",
	    "\"caf\xc3\xa9 \xe4\xb8\xad\"" },
	{ "e\x1b[31mred", "e\\x1b[31mred", "\"e\\u001b[31mred\"" },
	{ "c\x9b" "31m", "c\\x9b31m", "\"c\\u009b31m\"" },
	{ "u\xc2\x9b" "31m", "u\\xc2\\x9b31m", "\"u\\u009b31m\"" },
	{ "\xc2\x80\xc2\x9f", "\\xc2\\x80\\xc2\\x9f", "\"\\u0080\\u009f\"" },
	{ "\xc2\xa0", "\xc2\xa0", "\"\xc2\xa0\"" },
	{ "bad\xff", "bad\\xff", "\"bad\\u00ff\"" },
	{ "cut\xe4\xb8", "cut\\xe4\\xb8", "\"cut\\u00e4\\u00b8\"" },
	{ "l1\nl2\tx\r", "l1\\x0al2\\x09x\\x0d", "\"l1\\nl2\\tx\\r\"" },
	{ "del\x7f", "del\\x7f", "\"del\\u007f\"" },
	{ "q\"b\\s", "q\"b\\s", "\"q\\\"b\\\\s\"" },
};

START_TEST(test_human)
{
	char *got = printed(out_safe, cases[_i].in);

	ck_assert_str_eq(got, cases[_i].human);
	free(got);
}
END_TEST

START_TEST(test_json)
{
	char *got = printed(out_json_string, cases[_i].in);

	ck_assert_str_eq(got, cases[_i].json);
	free(got);
}
END_TEST

/* Every string of one and two bytes: the human form and the JSON form
 * are visible UTF-8 throughout. */
START_TEST(test_all_pairs)
{
	char in[3], *h, *j;
	int a, b;

	for (a = 1; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			in[0] = (char)a;
			in[1] = (char)b;
			in[2] = '\0';
			h = printed(out_safe, in);
			j = printed(out_json_string, in);
			ck_assert_msg(all_visible(h), "human %02x %02x: %s", a,
			    b, h);
			ck_assert_msg(all_visible(j), "json %02x %02x: %s", a,
			    b, j);
			free(h);
			free(j);
		}
	}
}
END_TEST

START_TEST(test_table)
{
	struct table *t = table_new(2);
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(fp);
	table_cell(t, NULL, "caf\xc3\xa9");
	table_cell(t, NULL, "x");
	table_cell(t, NULL, "e\x1b[2J\x9b");
	table_cell(t, NULL, "y");
	table_print(t, fp, "");
	table_free(t);
	ck_assert_int_eq(fclose(fp), 0);
	/* Escaped, and the columns still line up. */
	ck_assert_str_eq(buf, "caf\xc3\xa9          x\n"
	    "e\\x1b[2J\\x9b  y\n");
	free(buf);
}
END_TEST

static Suite *
out_suite(void)
{
	Suite *s = suite_create("ctl-out");
	TCase *tc;

	tc = tcase_create("values");
	tcase_add_loop_test(tc, test_human, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_json, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_all_pairs);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(out_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
