/* Idempotent producers: per partition, each producer's last sequence number and last batches, derived from the log. */
#ifndef RAFTMQ_BROKER_PSTATE_H
#define RAFTMQ_BROKER_PSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The table is a function of the partition's log: every replica builds it
 * from the batches in its own log (pstate_apply as entries are appended,
 * pstate_apply_older when rebuilding from storage backwards), so a new
 * leader has the same table as the old one for the entries they share, and
 * a retry that reaches it after a failover is still recognised.
 *
 * Sequences (docs/protocol.md, "Idempotent producers"): per (producer,
 * partition), from 0; a batch of n records with base_sequence s is
 * followed by base_sequence s + n, modulo 2^31 (int32 non-negative values
 * wrap from INT32_MAX to 0).
 *
 * Bounds: PSTATE_BATCHES_KEPT batches per producer (a producer keeps at
 * most that many requests in flight per partition), PSTATE_PRODUCERS_MAX
 * producers per partition; when full, the producer whose last batch is
 * oldest is forgotten (its next batch gets UNKNOWN_PRODUCER unless it
 * starts a new sequence at 0).
 */
#define PSTATE_BATCHES_KEPT 5u
#define PSTATE_PRODUCERS_MAX 8192u
#define PSTATE_SEQUENCE_MOD (UINT32_C(1) << 31)

/* One appended batch of a producer. */
struct pstate_batch {
    int32_t first_sequence;
    uint32_t record_count;
    uint64_t base_offset;
    uint64_t index; /* Raft index and term of its entry */
    uint64_t term;
};

struct pstate_producer {
    int64_t id; /* 0: free slot (producer ids are >= 1) */
    int16_t epoch;
    uint8_t n_batches;
    uint8_t newest; /* slot of the newest batch in batches[] */
    struct pstate_batch batches[PSTATE_BATCHES_KEPT];
};

struct pstate_table {
    struct pstate_producer *slots; /* open addressing, linear probing */
    uint32_t cap;                  /* power of two, or 0 */
    uint32_t count;
};

void pstate_init(struct pstate_table *t);
void pstate_free(struct pstate_table *t);
void pstate_clear(struct pstate_table *t);

const struct pstate_producer *pstate_find(const struct pstate_table *t, int64_t producer_id);

/* The sequence that follows a batch of `count` records from `first`. */
int32_t pstate_next_sequence(int32_t first, uint32_t count);

/* The producer's next expected sequence (after its newest batch). */
int32_t pstate_expected(const struct pstate_producer *p);

/*
 * Records a batch appended to the log (producer_id >= 1; other batches
 * are not idempotent and are not recorded). A newer epoch starts the
 * producer afresh. Returns false only when memory ran out (the producer is
 * then forgotten, which costs deduplication, never correctness of offsets).
 */
bool pstate_apply(struct pstate_table *t, int64_t producer_id, int16_t epoch,
                  const struct pstate_batch *batch);

/*
 * Rebuilding backwards: records a batch OLDER than everything recorded so
 * far. Kept only if the producer has fewer than PSTATE_BATCHES_KEPT
 * batches and the same epoch; a producer not yet known is added with it as
 * its newest batch (unless the table is full).
 */
void pstate_apply_older(struct pstate_table *t, int64_t producer_id, int16_t epoch,
                        const struct pstate_batch *batch);

/* What a leader does with an idempotent batch. */
enum pstate_verdict {
    PSTATE_APPEND,          /* the next batch in sequence */
    PSTATE_DUPLICATE,       /* one of the kept batches again: *dup describes the original */
    PSTATE_DUPLICATE_OLD,   /* before the expected sequence but not a kept batch: DUPLICATE_SEQUENCE */
    PSTATE_OUT_OF_ORDER,    /* a gap: an earlier batch is missing: OUT_OF_ORDER_SEQUENCE */
    PSTATE_UNKNOWN_PRODUCER,/* not known and not starting at 0, or an older epoch */
};

/*
 * Classifies a batch of `count` records starting at `first_sequence`: a
 * kept batch with the same first sequence and count is a DUPLICATE; else
 * it must start at the expected sequence. `expected` >= 0 overrides the
 * table's expectation (after batches of the same request that will be
 * appended); -1 uses the table.
 */
enum pstate_verdict pstate_check(const struct pstate_producer *p, int16_t epoch,
                                 int32_t first_sequence, uint32_t count, int32_t expected,
                                 struct pstate_batch *dup);

#endif
