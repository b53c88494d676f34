/*
 * test-fqueue.c: unit tests of the file queue (fqueue.c): oldest first,
 * a file taken out anywhere leaves the others in order, slots are reused
 * by compaction rather than by growth, and an emptied big queue gives its
 * array back.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reloaderd.h"
#include "testutil.h"

#define NF 5000

static struct file *files[NF];

/* Makes NF file nodes, named by number. */
static void
setup(void)
{
	size_t i;

	for (i = 0; i < NF; i++) {
		files[i] = calloc(1, FILE_SIZE(8));
		ck_assert_ptr_nonnull(files[i]);
		snprintf(files[i]->name, 9, "f%zu", i);
	}
}

/* Frees them. */
static void
teardown(void)
{
	size_t i;

	for (i = 0; i < NF; i++)
		free(files[i]);
}

/* Pops every file, checking that they come in the order of want[]. */
static void
drain(struct fqueue *q, const size_t *want, size_t n)
{
	struct file *f;
	size_t i;

	for (i = 0; i < n; i++) {
		f = fq_first(q);
		ck_assert_msg(f == files[want[i]], "pop %zu: got %s, want f%zu",
		    i, f != NULL ? f->name : "nothing", want[i]);
		fq_del(q, f);
	}
	ck_assert_ptr_null(fq_first(q));
	ck_assert_uint_eq(q->n, 0);
}

START_TEST(test_fifo)
{
	struct fqueue q;
	size_t want[NF], i;

	memset(&q, 0, sizeof(q));
	ck_assert_ptr_null(fq_first(&q));
	for (i = 0; i < NF; i++) {
		fq_push(&q, files[i]);
		want[i] = i;
	}
	ck_assert_uint_eq(q.n, NF);
	drain(&q, want, NF);
	/* Emptied, a queue bigger than it keeps gives its array back. */
	ck_assert_ptr_null(q.v);
	ck_assert_uint_eq(q.cap, 0);
	fq_free(&q);
}
END_TEST

START_TEST(test_del_anywhere)
{
	struct fqueue q;
	size_t want[NF], n = 0, i;

	memset(&q, 0, sizeof(q));
	for (i = 0; i < NF; i++)
		fq_push(&q, files[i]);
	/* Out: every third, the last, and the first. */
	for (i = 0; i < NF; i += 3)
		fq_del(&q, files[i]);
	fq_del(&q, files[NF - 1]);
	for (i = 0; i < NF - 1; i++)
		if (i % 3 != 0)
			want[n++] = i;
	ck_assert_uint_eq(q.n, n);
	drain(&q, want, n);
	fq_free(&q);
}
END_TEST

START_TEST(test_compacts)
{
	struct fqueue q;
	size_t want[NF], n = 0, i, round;
	uint32_t cap;

	memset(&q, 0, sizeof(q));
	for (i = 0; i < 100; i++)
		fq_push(&q, files[i]);
	/* A steady queue of 100, popped and pushed many times over: once
	 * its array has room for twice that, it compacts within it. */
	cap = 0;
	for (round = 0; round < 40; round++) {
		for (i = 0; i < 100; i++) {
			fq_del(&q, fq_first(&q));
			fq_push(&q, files[100 + (round * 100 + i) %
			    (NF - 100)]);
		}
		if (round == 1)
			cap = q.cap;
	}
	ck_assert_uint_eq(q.cap, cap);
	ck_assert_uint_le(q.cap, 256);
	ck_assert_uint_eq(q.n, 100);
	/* Every file still knows its slot: taking the middle ones out by
	 * their slot leaves the rest in order. */
	for (i = 0; i < 100; i++) {
		size_t k = 100 + (39 * 100 + i) % (NF - 100);

		if (i >= 25 && i < 75)
			fq_del(&q, files[k]);
		else
			want[n++] = k;
	}
	drain(&q, want, n);
	fq_free(&q);
}
END_TEST

START_TEST(test_del_stranger)
{
	struct fqueue q;

	memset(&q, 0, sizeof(q));
	fq_push(&q, files[0]);
	files[1]->qidx = 0;
	fq_del(&q, files[1]);   /* not in the queue: the daemon stops */
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fqueue");
	TCase *tc = tcase_create("fqueue");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_del_anywhere);
	tcase_add_test(tc, test_compacts);
	tcase_add_exit_test(tc, test_del_stranger, 1);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
