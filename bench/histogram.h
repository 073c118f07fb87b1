/* A log-bucketed latency histogram: fixed memory, O(1) record, merge, percentiles within 0.4 %. */
#ifndef RAFTMQ_BENCH_HISTOGRAM_H
#define RAFTMQ_BENCH_HISTOGRAM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Layout (the idea of HdrHistogram, our own arrangement): values below
 * 2^HISTOGRAM_SUB_BITS each have their own bucket (exact). Above that,
 * every power-of-two range [2^e, 2^(e+1)) is split into
 * 2^HISTOGRAM_SUB_BITS equal buckets, so a bucket is at most 1/128 of the
 * values it holds wide, and the value reported for it (its middle) is
 * within 1/256 (0.4 %) of any value recorded in it.
 *
 * Units are the caller's; raftmq-bench records nanoseconds, so the exact
 * range is 0..127 ns and the covered range reaches HISTOGRAM_VALUE_MAX
 * (2^37 - 1 ns, about 137 s). Larger values are counted in the top bucket
 * (and in `clamped`); min and max are kept exactly whatever the value.
 *
 * A histogram is a plain struct of fixed size (about 32 KiB): allocate it
 * anywhere, histogram_init it, and use it from one thread at a time.
 */

#define HISTOGRAM_SUB_BITS 7
#define HISTOGRAM_SUB_COUNT (1u << HISTOGRAM_SUB_BITS)
/* Exponent of the first value past the covered range. */
#define HISTOGRAM_TOP_BITS 37
#define HISTOGRAM_VALUE_MAX ((UINT64_C(1) << HISTOGRAM_TOP_BITS) - 1u)
/* Buckets: the exact ones, then HISTOGRAM_SUB_COUNT per power of two up to the top. */
#define HISTOGRAM_BUCKETS ((HISTOGRAM_TOP_BITS - HISTOGRAM_SUB_BITS + 1) * HISTOGRAM_SUB_COUNT)

struct histogram {
    uint64_t count;
    uint64_t min;     /* exact; UINT64_MAX while empty */
    uint64_t max;     /* exact; 0 while empty */
    uint64_t clamped; /* values above HISTOGRAM_VALUE_MAX, counted in the top bucket */
    double sum;       /* for the mean */
    uint64_t buckets[HISTOGRAM_BUCKETS];
};

/* Empties h. */
void histogram_init(struct histogram *h);

/* Adds one value. */
void histogram_record(struct histogram *h, uint64_t value);

/* Adds every value of `from` to `into`. */
void histogram_merge(struct histogram *into, const struct histogram *from);

/*
 * The value at `percentile` (0..100; clamped to that range): the smallest
 * bucket value v such that at least percentile % of the values are <= v's
 * bucket, reported as the bucket's middle and kept within [min, max]. So
 * percentile 100 is the exact max, 0 the exact min. 0 when empty.
 */
uint64_t histogram_percentile(const struct histogram *h, double percentile);

/* Mean of the recorded values; 0 when empty. */
double histogram_mean(const struct histogram *h);

/* The bucket a value falls into, and the range [*low, *high] of that bucket (for tests). */
uint32_t histogram_bucket_of(uint64_t value);
void histogram_bucket_range(uint32_t bucket, uint64_t *low, uint64_t *high);

#endif
