/* The idempotent-producer table: sequence checks, duplicates, wrap-around, rebuilding backwards, bounds. */
#include <check.h>
#include <stdlib.h>

#include "broker/pstate.h"
#include "suites.h"

static struct pstate_batch batch(int32_t seq, uint32_t count, uint64_t offset, uint64_t index)
{
    return (struct pstate_batch){seq, count, offset, index, 1};
}

START_TEST(test_new_producer_starts_at_zero)
{
    struct pstate_table t;
    pstate_init(&t);
    struct pstate_batch dup;
    ck_assert_ptr_null(pstate_find(&t, 7));
    ck_assert_int_eq(pstate_check(NULL, 0, 0, 10, -1, &dup), PSTATE_APPEND);
    ck_assert_int_eq(pstate_check(NULL, 0, 3, 10, -1, &dup), PSTATE_UNKNOWN_PRODUCER);
    struct pstate_batch b = batch(0, 10, 100, 5);
    ck_assert(pstate_apply(&t, 7, 0, &b));
    const struct pstate_producer *p = pstate_find(&t, 7);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(pstate_expected(p), 10);
    ck_assert_int_eq(pstate_check(p, 0, 10, 4, -1, &dup), PSTATE_APPEND);
    ck_assert_int_eq(pstate_check(p, 0, 11, 4, -1, &dup), PSTATE_OUT_OF_ORDER);
    pstate_free(&t);
}
END_TEST

START_TEST(test_duplicates_return_the_original)
{
    struct pstate_table t;
    pstate_init(&t);
    for (int i = 0; i < 7; i++) {
        struct pstate_batch b = batch(i * 10, 10, 1000 + (uint64_t)i * 10, 50 + (uint64_t)i);
        ck_assert(pstate_apply(&t, 9, 0, &b));
    }
    const struct pstate_producer *p = pstate_find(&t, 9);
    struct pstate_batch dup = {0};
    /* The last PSTATE_BATCHES_KEPT batches (20..60) are recognised with their offsets. */
    ck_assert_int_eq(pstate_check(p, 0, 60, 10, -1, &dup), PSTATE_DUPLICATE);
    ck_assert_uint_eq(dup.base_offset, 1060);
    ck_assert_uint_eq(dup.index, 56);
    ck_assert_int_eq(pstate_check(p, 0, 20, 10, -1, &dup), PSTATE_DUPLICATE);
    ck_assert_uint_eq(dup.base_offset, 1020);
    /* Older ones are known to be duplicates, without offsets. */
    ck_assert_int_eq(pstate_check(p, 0, 10, 10, -1, &dup), PSTATE_DUPLICATE_OLD);
    /* Same start, different size: not the same batch. */
    ck_assert_int_eq(pstate_check(p, 0, 60, 5, -1, &dup), PSTATE_DUPLICATE_OLD);
    ck_assert_int_eq(pstate_check(p, 0, 70, 1, -1, &dup), PSTATE_APPEND);
    /* An expectation from earlier batches of the same request overrides the table. */
    ck_assert_int_eq(pstate_check(p, 0, 80, 1, 80, &dup), PSTATE_APPEND);
    ck_assert_int_eq(pstate_check(p, 0, 70, 1, 80, &dup), PSTATE_DUPLICATE_OLD);
    pstate_free(&t);
}
END_TEST

START_TEST(test_sequence_wraps)
{
    struct pstate_table t;
    pstate_init(&t);
    ck_assert_int_eq(pstate_next_sequence(INT32_MAX, 1), 0);
    ck_assert_int_eq(pstate_next_sequence(INT32_MAX - 1, 5), 3);
    struct pstate_batch b = batch(INT32_MAX - 1, 5, 0, 1);
    pstate_apply(&t, 3, 0, &b);
    const struct pstate_producer *p = pstate_find(&t, 3);
    struct pstate_batch dup;
    ck_assert_int_eq(pstate_check(p, 0, 3, 1, -1, &dup), PSTATE_APPEND);
    ck_assert_int_eq(pstate_check(p, 0, INT32_MAX - 10, 1, -1, &dup), PSTATE_DUPLICATE_OLD);
    ck_assert_int_eq(pstate_check(p, 0, 4, 1, -1, &dup), PSTATE_OUT_OF_ORDER);
    pstate_free(&t);
}
END_TEST

START_TEST(test_epochs)
{
    struct pstate_table t;
    pstate_init(&t);
    struct pstate_batch b = batch(0, 4, 0, 1);
    pstate_apply(&t, 3, 1, &b);
    const struct pstate_producer *p = pstate_find(&t, 3);
    struct pstate_batch dup;
    ck_assert_int_eq(pstate_check(p, 0, 4, 1, -1, &dup), PSTATE_UNKNOWN_PRODUCER); /* fenced */
    ck_assert_int_eq(pstate_check(p, 2, 0, 1, -1, &dup), PSTATE_APPEND);           /* new epoch */
    ck_assert_int_eq(pstate_check(p, 2, 4, 1, -1, &dup), PSTATE_UNKNOWN_PRODUCER);
    struct pstate_batch b2 = batch(0, 1, 4, 2);
    pstate_apply(&t, 3, 2, &b2);
    ck_assert_int_eq(pstate_expected(pstate_find(&t, 3)), 1);
    pstate_free(&t);
}
END_TEST

/* Rebuilding newest-first gives the same table as applying oldest-first. */
START_TEST(test_rebuild_backwards_matches_forwards)
{
    struct pstate_table fwd, back;
    pstate_init(&fwd);
    pstate_init(&back);
    /* Producers 1..4 get 10 batches each (full rings), 5..7 fewer than kept. */
    enum { N = 46 };
    struct { int64_t pid; struct pstate_batch b; } log[N];
    int32_t next[7] = {0};
    for (int i = 0; i < N; i++) {
        int64_t pid = i < 40 ? 1 + (i * 7) % 4 : 5 + (i - 40) % 3;
        uint32_t count = 1 + (uint32_t)(i % 3);
        log[i].pid = pid;
        log[i].b = batch(next[pid - 1], count, (uint64_t)i * 3, (uint64_t)i + 1);
        next[pid - 1] = pstate_next_sequence(next[pid - 1], count);
        pstate_apply(&fwd, pid, 0, &log[i].b);
    }
    for (int i = N - 1; i >= 0; i--)
        pstate_apply_older(&back, log[i].pid, 0, &log[i].b);
    ck_assert_uint_eq(fwd.count, back.count);
    for (int64_t pid = 1; pid <= 7; pid++) {
        const struct pstate_producer *a = pstate_find(&fwd, pid), *b = pstate_find(&back, pid);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(pstate_expected(a), pstate_expected(b));
        ck_assert_uint_eq(a->n_batches, b->n_batches);
        /* Every batch one table recognises, the other does too, with the same offsets. */
        for (int i = 0; i < N; i++) {
            if (log[i].pid != pid)
                continue;
            struct pstate_batch da = {0}, db = {0};
            int va = pstate_check(a, 0, log[i].b.first_sequence, log[i].b.record_count, -1, &da);
            int vb = pstate_check(b, 0, log[i].b.first_sequence, log[i].b.record_count, -1, &db);
            ck_assert_int_eq(va, vb);
            ck_assert_uint_eq(da.base_offset, db.base_offset);
            if (pid > 4) /* fewer batches than kept: every one is recognised */
                ck_assert_int_eq(vb, PSTATE_DUPLICATE);
        }
    }
    pstate_free(&fwd);
    pstate_free(&back);
}
END_TEST

/* The table is bounded: the producer idle longest is forgotten; lookups stay right across removals. */
START_TEST(test_bounded_eviction)
{
    struct pstate_table t;
    pstate_init(&t);
    for (int64_t pid = 1; pid <= PSTATE_PRODUCERS_MAX; pid++) {
        struct pstate_batch b = batch(0, 1, 0, (uint64_t)pid);
        ck_assert(pstate_apply(&t, pid, 0, &b));
    }
    ck_assert_uint_eq(t.count, PSTATE_PRODUCERS_MAX);
    struct pstate_batch b = batch(0, 1, 0, PSTATE_PRODUCERS_MAX + 1);
    ck_assert(pstate_apply(&t, PSTATE_PRODUCERS_MAX + 1, 0, &b));
    ck_assert_uint_eq(t.count, PSTATE_PRODUCERS_MAX);
    ck_assert_ptr_null(pstate_find(&t, 1)); /* the oldest */
    for (int64_t pid = 2; pid <= PSTATE_PRODUCERS_MAX + 1; pid++)
        ck_assert_ptr_nonnull(pstate_find(&t, pid));
    /* Rebuilding does not evict: a full table ignores older producers. */
    struct pstate_batch old = batch(0, 1, 0, 0);
    pstate_apply_older(&t, 1, 0, &old);
    ck_assert_ptr_null(pstate_find(&t, 1));
    pstate_clear(&t);
    ck_assert_ptr_null(pstate_find(&t, 2));
    ck_assert_uint_eq(t.count, 0);
    pstate_free(&t);
}
END_TEST

Suite *pstate_suite(void)
{
    Suite *s = suite_create("pstate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_new_producer_starts_at_zero);
    tcase_add_test(tc, test_duplicates_return_the_original);
    tcase_add_test(tc, test_sequence_wraps);
    tcase_add_test(tc, test_epochs);
    tcase_add_test(tc, test_rebuild_backwards_matches_forwards);
    tcase_add_test(tc, test_bounded_eviction);
    suite_add_tcase(s, tc);
    return s;
}
