/*
 * test-ctl-watch.c: unit tests of watch.c, the pure parts of
 * "reloaderctl build --watch": a pattern split into the directory the
 * daemon watches and the glob it matches, and the queue that makes the
 * saves arriving during a build exactly one more build.
 *
 * watch.c and out.c are linked alone; what they take from reloaderctl.c
 * is stood in for (ctlstub.h).
 */
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctlstub.h"
#include "testutil.h"

/* A pattern, its fixed prefix, and the glob after it (NULL: none). */
static const struct {
	const char *glob;
	const char *prefix;
	const char *match;
} splits[] = {
	{ "*.c", "", "*.c" },
	{ "src/**/*.c", "src", "**/*.c" },
	{ "src/*.c", "src", "*.c" },
	{ "src", "src", NULL },
	{ "src/", "src", NULL },
	{ "src//", "src", NULL },
	{ "src//*.c", "src", "*.c" },
	{ "src/a.c", "src/a.c", NULL },
	{ "a/b?/c.c", "a", "b?/c.c" },
	{ "a/b/[xy].c", "a/b", "[xy].c" },
	{ "a/x\\*.c", "a", "x\\*.c" },
	{ "./src/*.c", "./src", "*.c" },
	{ "../lib/**", "../lib", "**" },
	{ "/abs/dir/*.c", "/abs/dir", "*.c" },
	{ "/*.c", "/", "*.c" },
	{ "//*.c", "/", "*.c" },
	{ "/", "/", NULL },
	{ "**", "", "**" },
};

START_TEST(test_split)
{
	const char *glob = splits[_i].glob, *match;
	size_t n = watch_split(glob, &match);

	ck_assert_msg(n == strlen(splits[_i].prefix) &&
	    strncmp(glob, splits[_i].prefix, n) == 0,
	    "%s: prefix \"%.*s\", not \"%s\"", glob, (int)n, glob,
	    splits[_i].prefix);
	if (splits[_i].match == NULL)
		ck_assert_msg(match == NULL, "%s: match \"%s\", not none",
		    glob, match);
	else
		ck_assert_msg(match != NULL && strcmp(match,
		    splits[_i].match) == 0, "%s: match \"%s\", not \"%s\"",
		    glob, match != NULL ? match : "(none)", splits[_i].match);
}
END_TEST

static char *tmp, real[PATH_MAX];

/* Makes a project to resolve patterns in, and goes there: src/ with
 * a.c and sub/, and link, a symlink to src. */
static void
project_setup(void)
{
	int fd;

	ck_assert_ptr_nonnull(tmp = tu_tmpdir());
	ck_assert_ptr_nonnull(realpath(tmp, real));
	ck_assert_int_eq(chdir(real), 0);
	ck_assert_int_eq(mkdir("src", 0700), 0);
	ck_assert_int_eq(mkdir("src/sub", 0700), 0);
	ck_assert_int_ne(fd = open("src/a.c", O_WRONLY | O_CREAT, 0600), -1);
	close(fd);
	ck_assert_int_eq(symlink("src", "link"), 0);
	out_init();
}

/* Removes the project. */
static void
project_teardown(void)
{
	ck_assert_int_eq(chdir("/"), 0);
	tu_rmrf(tmp);
	tmp = NULL;
}

/* Resolves glob and checks the directory (under the project) and the
 * match it gives. */
static void
resolves(const char *glob, const char *dir, const char *match)
{
	struct watch_spec s;
	char err[PATH_MAX + 256], want[2 * PATH_MAX];

	ck_assert_msg(watch_resolve(&s, glob, err, sizeof(err)) == 0,
	    "%s: %s", glob, err);
	snprintf(want, sizeof(want), "%s%s", real, dir);
	ck_assert_str_eq(s.dir, want);
	if (match == NULL)
		ck_assert_ptr_null(s.match);
	else
		ck_assert_str_eq(s.match != NULL ? s.match : "(none)", match);
	ck_assert_str_eq(s.pattern, glob);
	watch_spec_free(&s);
}

/* Resolves glob, which must fail with a message holding words. */
static void
refused(const char *glob, const char *words)
{
	struct watch_spec s;
	char err[PATH_MAX + 256];

	ck_assert_msg(watch_resolve(&s, glob, err, sizeof(err)) == -1,
	    "%s resolved", glob);
	ck_assert_msg(strstr(err, words) != NULL, "%s: \"%s\" says no "
	    "\"%s\"", glob, err, words);
}

START_TEST(test_resolve)
{
	resolves("src/**/*.c", "/src", "**/*.c");
	resolves("*.c", "", "*.c");
	resolves("src", "/src", NULL);
	resolves("src/", "/src", NULL);
	resolves("./src/sub/../*.c", "/src", "*.c");
	resolves("link/*.c", "/src", "*.c");
	resolves("src/a.c", "/src", "a.c");
	resolves("link/a.c", "/src", "a.c");
	resolves(real, "", NULL);
	/* Relative to the working directory, wherever that is. */
	ck_assert_int_eq(chdir("src/sub"), 0);
	resolves("../*.c", "/src", "*.c");
	ck_assert_int_eq(chdir(real), 0);
}
END_TEST

START_TEST(test_refuse)
{
	refused("", "the pattern is empty");
	refused("nosuch/*.c", "--watch nosuch/*.c: nosuch: No such file");
	refused("src/nosuch/**", "src/nosuch: No such file");
	refused("nosuch", "nosuch: No such file");
	refused("src/a.c/*.c", "src/a.c: not a directory");
}
END_TEST

/* Says whether a build may start now, and why. */
static const char *
started(struct watch_queue *q)
{
	static char why[PATH_MAX + 64];

	return watch_start(q, why, sizeof(why)) ? why : NULL;
}

START_TEST(test_queue)
{
	struct watch_queue q;
	char p[4][PATH_MAX + 16];
	int i;

	memset(&q, 0, sizeof(q));
	for (i = 0; i < 4; i++)
		snprintf(p[i], sizeof(p[i]), "%s/src/%c.c", real, 'a' + i);
	/* Nothing changed: no build. */
	ck_assert_ptr_null(started(&q));
	/* Idle, one save: a build at once, named by the file. */
	watch_change(&q, p[0], "changed");
	ck_assert_str_eq(started(&q), "src/a.c changed");
	/* While it runs: three files saved, one twice, and nothing starts. */
	watch_change(&q, p[0], "changed");
	ck_assert_ptr_null(started(&q));
	watch_change(&q, p[1], "created");
	watch_change(&q, p[2], "changed");
	watch_change(&q, p[0], "changed");
	ck_assert_ptr_null(started(&q));
	/* It ends: exactly one more build, for all three. */
	watch_done(&q);
	ck_assert_str_eq(started(&q), "3 files changed");
	ck_assert_ptr_null(started(&q));
	watch_done(&q);
	ck_assert_ptr_null(started(&q));
	/* A file saved, then removed, during the same wait: its last word. */
	watch_change(&q, p[3], "changed");
	watch_change(&q, p[3], "removed");
	ck_assert_str_eq(started(&q), "src/d.c removed");
	watch_done(&q);
	/* Outside the working directory: the whole path. */
	watch_change(&q, "/elsewhere/x.c", NULL);
	ck_assert_str_eq(started(&q), "/elsewhere/x.c changed");
	watch_change(&q, p[1], "changed");
	watch_free(&q);
	ck_assert_int_eq(q.npaths, 0);
	ck_assert_ptr_null(started(&q));
}
END_TEST

static Suite *
watch_suite(void)
{
	Suite *s = suite_create("ctl-watch");
	TCase *tc;

	tc = tcase_create("split");
	tcase_add_loop_test(tc, test_split, 0,
	    sizeof(splits) / sizeof(splits[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("resolve");
	tcase_add_checked_fixture(tc, project_setup, project_teardown);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_refuse);
	tcase_add_test(tc, test_queue);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(watch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
