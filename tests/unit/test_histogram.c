/*
 * Tests of bench/histogram.c, raftmq-bench's latency histogram: the bucket
 * layout, percentiles of known distributions against the exact
 * nearest-rank values (within the stated 1/256 relative precision), merge,
 * the empty histogram, exact min and max, values past the covered range.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/histogram.h"
#include "suites.h"

/* A deterministic generator (xorshift64*), so every run checks the same values. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The exact nearest-rank percentile of sorted v[0..n). */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
    double exact = p / 100.0 * (double)n;
    size_t rank = (size_t)ceil(exact);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static struct histogram *new_histogram(void)
{
    struct histogram *h = malloc(sizeof(*h));
    ck_assert_ptr_nonnull(h);
    histogram_init(h);
    return h;
}

/* Records v[0..n), then checks p50..p99.9 against the sorted values. */
static void check_distribution(uint64_t *v, size_t n)
{
    struct histogram *h = new_histogram();
    for (size_t i = 0; i < n; i++)
        histogram_record(h, v[i]);
    qsort(v, n, sizeof(*v), compare_u64);
    ck_assert_uint_eq(h->count, n);
    ck_assert_uint_eq(h->min, v[0]);
    ck_assert_uint_eq(h->max, v[n - 1]);
    static const double ps[] = {1, 10, 50, 90, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        uint64_t want = exact_percentile(v, n, ps[i]);
        uint64_t got = histogram_percentile(h, ps[i]);
        double error = fabs((double)got - (double)want);
        /* Half a bucket: at most want/256 (plus rounding of the middle). */
        ck_assert_msg(error <= (double)want / 256.0 + 1.0,
                      "p%g: histogram %llu, exact %llu (error %.3f %%)", ps[i],
                      (unsigned long long)got, (unsigned long long)want,
                      100.0 * error / (double)want);
    }
    ck_assert_uint_eq(histogram_percentile(h, 100), v[n - 1]);
    ck_assert_uint_eq(histogram_percentile(h, 0), v[0]);
    free(h);
}

START_TEST(empty_histogram_reports_zero)
{
    struct histogram *h = new_histogram();
    ck_assert_uint_eq(h->count, 0);
    ck_assert_uint_eq(histogram_percentile(h, 50), 0);
    ck_assert_uint_eq(histogram_percentile(h, 99.9), 0);
    ck_assert_uint_eq(histogram_percentile(h, 100), 0);
    ck_assert(histogram_mean(h) == 0.0);
    /* Merging an empty histogram keeps it empty (min stays "none"). */
    struct histogram *g = new_histogram();
    histogram_merge(g, h);
    ck_assert_uint_eq(g->count, 0);
    ck_assert_uint_eq(g->min, UINT64_MAX);
    ck_assert_uint_eq(histogram_percentile(g, 50), 0);
    free(g);
    free(h);
}
END_TEST

/* Buckets tile the covered range without gaps or overlaps, each at most 1/128 of its values wide. */
START_TEST(buckets_tile_the_range)
{
    uint64_t expect_low = 0;
    for (uint32_t b = 0; b < HISTOGRAM_BUCKETS; b++) {
        uint64_t low, high;
        histogram_bucket_range(b, &low, &high);
        ck_assert_uint_eq(low, expect_low);
        ck_assert_uint_ge(high, low);
        ck_assert_uint_eq(histogram_bucket_of(low), b);
        ck_assert_uint_eq(histogram_bucket_of(high), b);
        if (low >= HISTOGRAM_SUB_COUNT)
            ck_assert_uint_le((high - low + 1) * HISTOGRAM_SUB_COUNT, low);
        else
            ck_assert_uint_eq(high, low); /* the exact range */
        expect_low = high + 1;
    }
    ck_assert_uint_eq(expect_low - 1, HISTOGRAM_VALUE_MAX);
    ck_assert_uint_eq(histogram_bucket_of(UINT64_MAX), HISTOGRAM_BUCKETS - 1);
}
END_TEST

START_TEST(uniform_distribution_percentiles)
{
    /* 1 µs .. 1 s in ns, uniformly: every percentile is in the upper octaves. */
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof(*v));
    ck_assert_ptr_nonnull(v);
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++)
        v[i] = 1000 + rng_next(&s) % 1000000000u;
    check_distribution(v, n);
    free(v);
}
END_TEST

START_TEST(log_uniform_distribution_percentiles)
{
    /* 1 µs .. 100 s, uniform in the logarithm: every octave of the range is used. */
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof(*v));
    ck_assert_ptr_nonnull(v);
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(rng_next(&s) >> 11) / 9007199254740992.0; /* [0, 1) */
        v[i] = (uint64_t)exp(log(1e3) + u * (log(1e11) - log(1e3)));
    }
    check_distribution(v, n);
    free(v);
}
END_TEST

START_TEST(known_small_distribution_is_exact)
{
    /* 1..100: all in the exact range, so every percentile is the exact value. */
    struct histogram *h = new_histogram();
    for (uint64_t i = 100; i >= 1; i--)
        histogram_record(h, i);
    ck_assert_uint_eq(histogram_percentile(h, 50), 50);
    ck_assert_uint_eq(histogram_percentile(h, 90), 90);
    ck_assert_uint_eq(histogram_percentile(h, 99), 99);
    ck_assert_uint_eq(histogram_percentile(h, 99.9), 100);
    ck_assert_uint_eq(histogram_percentile(h, 100), 100);
    ck_assert_uint_eq(histogram_percentile(h, 0.5), 1);
    ck_assert(fabs(histogram_mean(h) - 50.5) < 1e-9);
    free(h);
}
END_TEST

START_TEST(max_and_min_are_exact)
{
    struct histogram *h = new_histogram();
    histogram_record(h, 123456789); /* mid-octave: its bucket is 2^20 wide */
    histogram_record(h, 5000);
    histogram_record(h, 1000001);
    ck_assert_uint_eq(h->max, 123456789);
    ck_assert_uint_eq(histogram_percentile(h, 100), 123456789);
    ck_assert_uint_eq(histogram_percentile(h, 0), 5000);
    /* The top value's rank reports within its bucket, never above max. */
    ck_assert_uint_le(histogram_percentile(h, 99.9), 123456789);
    ck_assert_uint_ge(histogram_percentile(h, 99.9), 123456789 - 123456789 / 256);
    /* A single value: every percentile is that value (kept within [min, max]). */
    struct histogram *one = new_histogram();
    histogram_record(one, 987654321);
    ck_assert_uint_eq(histogram_percentile(one, 50), 987654321);
    ck_assert_uint_eq(histogram_percentile(one, 99), 987654321);
    free(one);
    free(h);
}
END_TEST

START_TEST(values_past_the_range_keep_an_exact_max)
{
    struct histogram *h = new_histogram();
    uint64_t huge = HISTOGRAM_VALUE_MAX * 4;
    histogram_record(h, 10);
    histogram_record(h, huge);
    ck_assert_uint_eq(h->clamped, 1);
    ck_assert_uint_eq(h->count, 2);
    ck_assert_uint_eq(histogram_percentile(h, 100), huge);
    ck_assert_uint_eq(histogram_percentile(h, 50), 10);
    ck_assert_uint_le(histogram_percentile(h, 99), huge);
    free(h);
}
END_TEST

START_TEST(merge_equals_recording_everything_in_one)
{
    struct histogram *a = new_histogram(), *b = new_histogram(), *all = new_histogram();
    uint64_t s = 99;
    for (int i = 0; i < 50000; i++) {
        uint64_t v = rng_next(&s) % 50000000u;
        histogram_record(i % 3 == 0 ? a : b, v);
        histogram_record(all, v);
    }
    histogram_record(b, 0);
    histogram_record(all, 0);
    histogram_merge(a, b);
    ck_assert_uint_eq(a->count, all->count);
    ck_assert_uint_eq(a->min, 0);
    ck_assert_uint_eq(a->max, all->max);
    ck_assert_int_eq(memcmp(a->buckets, all->buckets, sizeof(a->buckets)), 0);
    static const double ps[] = {50, 90, 99, 99.9, 100};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        ck_assert_uint_eq(histogram_percentile(a, ps[i]), histogram_percentile(all, ps[i]));
    /* Merging into an empty histogram copies; b is unchanged by being merged. */
    struct histogram *empty = new_histogram();
    uint64_t b_count = b->count;
    histogram_merge(empty, b);
    ck_assert_uint_eq(empty->count, b_count);
    ck_assert_uint_eq(b->count, b_count);
    ck_assert_uint_eq(empty->min, b->min);
    free(empty);
    free(a);
    free(b);
    free(all);
}
END_TEST

Suite *histogram_suite(void)
{
    Suite *s = suite_create("histogram");
    TCase *tc = tcase_create("histogram");
    tcase_add_test(tc, empty_histogram_reports_zero);
    tcase_add_test(tc, buckets_tile_the_range);
    tcase_add_test(tc, uniform_distribution_percentiles);
    tcase_add_test(tc, log_uniform_distribution_percentiles);
    tcase_add_test(tc, known_small_distribution_is_exact);
    tcase_add_test(tc, max_and_min_are_exact);
    tcase_add_test(tc, values_past_the_range_keep_an_exact_max);
    tcase_add_test(tc, merge_equals_recording_everything_in_one);
    suite_add_tcase(s, tc);
    return s;
}
