/* A log-bucketed latency histogram (see histogram.h for the layout). */
#include "histogram.h"

#include <assert.h>
#include <string.h>

_Static_assert(HISTOGRAM_TOP_BITS > HISTOGRAM_SUB_BITS, "the top must lie above the exact range");
_Static_assert(HISTOGRAM_TOP_BITS < 64, "values are 64-bit");

void histogram_init(struct histogram *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/*
 * Values below 2^SUB_BITS map to themselves. A value with its highest set
 * bit e (>= SUB_BITS) keeps its SUB_BITS bits below that one: the bucket is
 * (e - SUB_BITS + 1) * SUB_COUNT plus those bits, which continues the exact
 * range without a gap (e = SUB_BITS gives the values themselves again).
 */
uint32_t histogram_bucket_of(uint64_t value)
{
    if (value > HISTOGRAM_VALUE_MAX)
        value = HISTOGRAM_VALUE_MAX;
    if (value < HISTOGRAM_SUB_COUNT)
        return (uint32_t)value;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(value);
    uint32_t shift = e - HISTOGRAM_SUB_BITS;
    uint32_t sub = (uint32_t)(value >> shift) - HISTOGRAM_SUB_COUNT;
    uint32_t bucket = (shift + 1u) * HISTOGRAM_SUB_COUNT + sub;
    assert(bucket < HISTOGRAM_BUCKETS);
    return bucket;
}

void histogram_bucket_range(uint32_t bucket, uint64_t *low, uint64_t *high)
{
    assert(bucket < HISTOGRAM_BUCKETS);
    if (bucket < HISTOGRAM_SUB_COUNT) {
        *low = *high = bucket;
        return;
    }
    uint32_t shift = bucket / HISTOGRAM_SUB_COUNT - 1u;
    uint64_t sub = bucket % HISTOGRAM_SUB_COUNT;
    *low = (HISTOGRAM_SUB_COUNT + sub) << shift;
    *high = *low + ((UINT64_C(1) << shift) - 1u);
}

void histogram_record(struct histogram *h, uint64_t value)
{
    h->buckets[histogram_bucket_of(value)]++;
    h->count++;
    h->sum += (double)value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
    if (value > HISTOGRAM_VALUE_MAX)
        h->clamped++;
}

void histogram_merge(struct histogram *into, const struct histogram *from)
{
    if (from->count == 0)
        return;
    for (uint32_t i = 0; i < HISTOGRAM_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    into->clamped += from->clamped;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t histogram_percentile(const struct histogram *h, double percentile)
{
    if (h->count == 0)
        return 0;
    if (!(percentile > 0.0)) /* also NaN */
        return h->min;
    if (percentile >= 100.0)
        return h->max;
    /* Nearest rank: the rank-th smallest value, rank = ceil(p/100 * count). */
    double exact = percentile / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t low, high;
            histogram_bucket_range(i, &low, &high);
            uint64_t mid = low + (high - low) / 2u;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max; /* not reached: the buckets add up to count */
}

double histogram_mean(const struct histogram *h)
{
    return h->count == 0 ? 0.0 : h->sum / (double)h->count;
}
