/*
 * test-globs.c: unit tests of a root's include and exclude globs
 * (tree.c root_globs).  The scan compares the ends of a name for globs of
 * the form prefix-'*'-suffix instead of calling fnmatch(3); here every
 * glob of a table, the defaults among them, is checked against fnmatch
 * itself over names chosen to catch an end compared wrongly.
 */
#include <check.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reloaderd.h"

/* Globs: simple ones (the defaults, prefix only, suffix only, both, a
 * lone '*'), and ones that must go to fnmatch. */
static const char *const globs[] = {
	"*.so", "*.beam", "*.bea#", "*.tmp", ".#*", "*~", "#*#", "*.swp",
	"*", "lib*", "ab*ba", "a*a", "x.so*", "*.so.*", "?*.so", "[ab]*.so",
	"\\*.so", "**.so", "*.s[o]", "sub/*.so", "*/*.beam", NULL
};

/* File names, relative to the root. */
static const char *const names[] = {
	"a.so", ".so", "so", "a.so~", ".a.so", "a.beam", "a.bea#", "x.tmp",
	".#a.c", "#a.c#", "#", "##", "a.swp", "liba.so", "lib", "li",
	"abba", "aba", "abxba", "a", "aa", "x.so", "x.so.1", "a.so.1.2",
	"*.so", "ab.so", "b.so", "sub/a.so", "sub/a.beam", "deep/sub/a.so",
	"", NULL
};

/* The root's path, writable as struct root_conf has it. */
static char rpath[] = "/r";

/* Makes a root over /r whose only include glob is g (excludes none). */
static struct root *
root_with(const char *g)
{
	struct root_conf rc;
	char *inc[2], *exc[1], gbuf[64];

	ck_assert_uint_lt(strlen(g), sizeof(gbuf));
	strcpy(gbuf, g);
	memset(&rc, 0, sizeof(rc));
	rc.path = rpath;
	rc.display = rpath;
	inc[0] = gbuf;
	inc[1] = NULL;
	exc[0] = NULL;
	rc.include = inc;
	rc.exclude = exc;
	return root_new(&rc);
}

/* What root_globs must say: fnmatch on the name, or with a slash in the
 * glob on the whole relative path. */
static int
reference(const char *g, const char *rel)
{
	const char *base = strrchr(rel, '/');

	if (strchr(g, '/') != NULL)
		return fnmatch(g, rel, FNM_PATHNAME) == 0;
	return fnmatch(g, base ? base + 1 : rel, 0) == 0;
}

START_TEST(test_globs_as_fnmatch)
{
	char path[256];
	struct root *r;
	size_t i, j, yes = 0;
	int want, got;

	for (i = 0; globs[i] != NULL; i++) {
		r = root_with(globs[i]);
		for (j = 0; names[j] != NULL; j++) {
			snprintf(path, sizeof(path), "/r/%s", names[j]);
			want = reference(globs[i], names[j]);
			got = root_globs(r, path);
			ck_assert_msg(got == want, "glob \"%s\", name \"%s\": "
			    "%d, fnmatch says %d", globs[i], names[j], got,
			    want);
			yes += (size_t)want;
		}
		root_free(r);
	}
	/* The table is not one where everything or nothing matches. */
	ck_assert_uint_gt(yes, 40);
	ck_assert_uint_lt(yes, i * j / 2);
}
END_TEST

/* An exclude wins over an include, with both kinds of glob. */
START_TEST(test_exclude_first)
{
	struct root_conf rc;
	char i1[] = "*.so", i2[] = "[ab]*.beam", e1[] = ".#*", e2[] = "b?.beam";
	char *inc[] = { i1, i2, NULL };
	char *exc[] = { e1, e2, NULL };
	struct root *r;

	memset(&rc, 0, sizeof(rc));
	rc.path = rpath;
	rc.display = rpath;
	rc.include = inc;
	rc.exclude = exc;
	r = root_new(&rc);
	ck_assert(root_globs(r, "/r/x.so"));
	ck_assert(root_globs(r, "/r/d/x.so"));
	ck_assert(!root_globs(r, "/r/.#x.so"));
	ck_assert(root_globs(r, "/r/a1.beam"));
	ck_assert(!root_globs(r, "/r/b1.beam"));
	ck_assert(!root_globs(r, "/r/c1.beam"));
	/* Not under the root at all. */
	ck_assert(!root_globs(r, "/q/x.so"));
	root_free(r);
}
END_TEST

/* The suite. */
static Suite *
globs_suite(void)
{
	Suite *s = suite_create("globs");
	TCase *tc = tcase_create("globs");

	tcase_add_test(tc, test_globs_as_fnmatch);
	tcase_add_test(tc, test_exclude_first);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(globs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
