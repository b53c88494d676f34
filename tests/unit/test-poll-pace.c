/*
 * test-poll-pace.c: unit tests of the poll sweep's pace (poll.c
 * poll_pace_next): sweeps are slow once one outlasts the interval, and
 * quick again only once one takes under half of it, so that sweeps near
 * the interval are said once, not at every sweep.
 */
#include <check.h>
#include <stdlib.h>

#include "reloaderd.h"

START_TEST(test_quick_to_slow)
{
	ck_assert_int_eq(poll_pace_next(PACE_QUICK, 0.2, 1.0), PACE_QUICK);
	ck_assert_int_eq(poll_pace_next(PACE_QUICK, 1.0, 1.0), PACE_QUICK);
	ck_assert_int_eq(poll_pace_next(PACE_QUICK, 1.01, 1.0), PACE_SLOW);
	ck_assert_int_eq(poll_pace_next(PACE_QUICK, 30.0, 1.0), PACE_SLOW);
}
END_TEST

START_TEST(test_slow_to_quick)
{
	ck_assert_int_eq(poll_pace_next(PACE_SLOW, 1.3, 1.0), PACE_SLOW);
	/* Near the interval, on either side: still slow. */
	ck_assert_int_eq(poll_pace_next(PACE_SLOW, 0.98, 1.0), PACE_SLOW);
	ck_assert_int_eq(poll_pace_next(PACE_SLOW, 0.5, 1.0), PACE_SLOW);
	ck_assert_int_eq(poll_pace_next(PACE_SLOW, 0.49, 1.0), PACE_QUICK);
	ck_assert_int_eq(poll_pace_next(PACE_SLOW, 0.001, 0.05), PACE_QUICK);
}
END_TEST

/* The sweeps of a million files measured against a 1 s interval
 * (1.01, 0.77, 1.04, 0.89, ...): slow once, and it stays so. */
START_TEST(test_near_the_interval)
{
	static const double took[] = { 0.95, 1.29, 0.77, 1.04, 0.89, 1.04,
	    0.98, 1.06, 0.96 };
	enum poll_pace p = PACE_QUICK;
	size_t i, changes = 0;
	enum poll_pace next;

	for (i = 0; i < sizeof(took) / sizeof(took[0]); i++) {
		next = poll_pace_next(p, took[i], 1.0);
		changes += next != p;
		p = next;
	}
	ck_assert_int_eq(p, PACE_SLOW);
	ck_assert_uint_eq(changes, 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("poll-pace");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_quick_to_slow);
	tcase_add_test(tc, test_slow_to_quick);
	tcase_add_test(tc, test_near_the_interval);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
