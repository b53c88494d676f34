/*
 * test-log.c: unit tests of the log's hold (log.c log_hold, log_release):
 * lines logged while a batch runs reach the log file only at the release,
 * whole and in order, each with the time it was logged; a hold that grows
 * past a pipe's atomic write writes what it holds so far, whole lines in
 * writes no longer than that; a hold inside a hold waits
 * for the outer release; and `reloaderctl tail` (the ring) sees each line
 * at once.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "reloaderd.h"
#include "testutil.h"

static char dir[] = "/tmp/reloader-test-log.XXXXXX";
static char path[64];

/* Makes a log file of its own for each test. */
static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	log_init(1, LOG_INFO);
	ck_assert_int_eq(log_open_file(path), 0);
}

/* Removes it. */
static void
teardown(void)
{
	log_close();
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/reloader-test-log.XXXXXX");
}

/* Returns the log file's bytes, NUL-terminated (static buffer). */
static const char *
slurp(void)
{
	static char buf[1 << 20];
	unsigned char *data;
	size_t n;

	ck_assert_ptr_nonnull(data = tu_slurp(path, &n));
	ck_assert_uint_lt(n, sizeof(buf));
	memcpy(buf, data, n);
	buf[n] = '\0';
	free(data);
	return buf;
}

/* Counts the lines of s. */
static size_t
lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The last line in the ring, the one `reloaderctl tail` would show last. */
static const char *
ring_last(void)
{
	struct timespec ts;
	const char *msg, *about;
	int pri;

	ck_assert_uint_gt(log_ring_count(), 0);
	ck_assert_int_eq(log_ring_get(log_ring_count() - 1, &ts, &pri, &msg,
	    &about), 0);
	return msg;
}

START_TEST(test_held_until_release)
{
	const char *s, *a, *b;

	log_info("before the hold");
	ck_assert_uint_eq(lines(slurp()), 1);
	log_hold();
	log_info("changed a.so");
	log_warnx("not offering b.so");
	/* Not in the file yet, but in the ring at once. */
	ck_assert_uint_eq(lines(slurp()), 1);
	ck_assert_str_eq(ring_last(), "not offering b.so");
	log_release();
	s = slurp();
	ck_assert_uint_eq(lines(s), 3);
	a = strstr(s, " info changed a.so\n");
	b = strstr(s, " warn not offering b.so\n");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(a < b);
	/* Not held any more. */
	log_info("after");
	ck_assert_uint_eq(lines(slurp()), 4);
}
END_TEST

START_TEST(test_nested)
{
	log_hold();
	log_info("outer");
	log_hold();
	log_info("inner");
	log_release();
	ck_assert_uint_eq(lines(slurp()), 0);
	log_release();
	ck_assert_uint_eq(lines(slurp()), 2);
	/* A release without a hold writes nothing twice. */
	log_release();
	ck_assert_uint_eq(lines(slurp()), 2);
}
END_TEST

START_TEST(test_overflow_writes_early)
{
	char big[1500];
	size_t i, n;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_hold();
	for (i = 0; i < 40; i++)
		log_info("%zu %s", i, big);
	/* 60 kB held would be more than a pipe takes whole: all but the
	 * last two or three are written already, whole. */
	n = lines(slurp());
	ck_assert_uint_ge(n, 36);
	ck_assert_uint_lt(n, 40);
	log_release();
	ck_assert_uint_eq(lines(slurp()), 40);
	/* A line longer than that is written on its own, whole. */
	log_hold();
	log_info("short");
	log_info("%s%s%s", big, big, big);
	ck_assert_uint_eq(lines(slurp()), 42);
	log_release();
	ck_assert_uint_eq(lines(slurp()), 42);
}
END_TEST

START_TEST(test_reopen_writes_held)
{
	log_hold();
	log_info("held across a reopen");
	ck_assert_int_eq(log_reopen(), 0);
	/* What was held went to the file it was logged for. */
	ck_assert_ptr_nonnull(strstr(slurp(), "held across a reopen\n"));
	log_release();
	ck_assert_uint_eq(lines(slurp()), 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_held_until_release);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_overflow_writes_early);
	tcase_add_test(tc, test_reopen_writes_held);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
