/*
 * test-sources.c: unit tests of what a source watch selects (sources.c):
 * the globs of `reloaderctl build --watch`, "**" and all, and the
 * editors' temp and swap files that never start a build.
 */
#include <check.h>
#include <stdlib.h>

#include "reloaderd.h"

/* "*" and "?" stay within a component and skip hidden names. */
START_TEST(test_glob_component)
{
	ck_assert(sources_glob("*.c", "a.c"));
	ck_assert(!sources_glob("*.c", "a.h"));
	ck_assert(!sources_glob("*.c", "sub/a.c"));
	ck_assert(!sources_glob("*.c", ".a.c"));
	ck_assert(sources_glob("?.c", "a.c"));
	ck_assert(!sources_glob("?.c", "ab.c"));
	ck_assert(sources_glob("*/*.c", "sub/a.c"));
	ck_assert(!sources_glob("*/*.c", "a.c"));
	ck_assert(!sources_glob("*/*.c", "x/y/a.c"));
	ck_assert(sources_glob("src/[ab].c", "src/b.c"));
	ck_assert(!sources_glob("src/[ab].c", "src/c.c"));
}
END_TEST

/* "**" matches any number of directories, none included, but not hidden
 * ones. */
START_TEST(test_glob_deep)
{
	ck_assert(sources_glob("**/*.c", "a.c"));
	ck_assert(sources_glob("**/*.c", "x/a.c"));
	ck_assert(sources_glob("**/*.c", "x/y/z/a.c"));
	ck_assert(!sources_glob("**/*.c", "x/y/z/a.h"));
	ck_assert(!sources_glob("**/*.c", ".git/a.c"));
	ck_assert(!sources_glob("**/*.c", "x/.cache/a.c"));
	ck_assert(sources_glob("x/**/a.c", "x/a.c"));
	ck_assert(sources_glob("x/**/a.c", "x/y/a.c"));
	ck_assert(!sources_glob("x/**/a.c", "y/a.c"));
	ck_assert(sources_glob("**", "x/y/a.c"));
	ck_assert(!sources_glob("**", "x/.y/a.c"));
	ck_assert(sources_glob("**/lib/*.c", "a/b/lib/m.c"));
	ck_assert(!sources_glob("**/lib/*.c", "a/b/lib/sub/m.c"));
}
END_TEST

/* vim, emacs, JetBrains, GNOME, Kate and LibreOffice's files. */
START_TEST(test_temp_names)
{
	static const char *const temp[] = { ".a.c.swp", ".a.c.swo",
	    ".a.c.swx", "a.c~", ".#a.c", "#a.c#", "4913", "x.tmp",
	    ".goutputstream-X1Y2", "a.c___jb_tmp___", "a.c___jb_old___",
	    ".~lock.a.odt#", ".a.c.kate-swp" };
	static const char *const real[] = { "a.c", "swap.c", "a.swift",
	    "main.rs", "4914", "tmp.c", "Makefile" };
	size_t i;

	for (i = 0; i < sizeof(temp) / sizeof(temp[0]); i++)
		ck_assert_msg(sources_temp_name(temp[i]), "%s", temp[i]);
	for (i = 0; i < sizeof(real) / sizeof(real[0]); i++)
		ck_assert_msg(!sources_temp_name(real[i]), "%s", real[i]);
}
END_TEST

/* The suite. */
static Suite *
sources_suite(void)
{
	Suite *s = suite_create("sources");
	TCase *tc = tcase_create("globs");

	tcase_add_test(tc, test_glob_component);
	tcase_add_test(tc, test_glob_deep);
	tcase_add_test(tc, test_temp_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sources_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
