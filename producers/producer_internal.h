/* The producer's in-tree extras, not in raftmq.h: statistics for the tools and hooks for tests. */
#ifndef RAFTMQ_PRODUCERS_PRODUCER_INTERNAL_H
#define RAFTMQ_PRODUCERS_PRODUCER_INTERNAL_H

#include <stdint.h>

#include "wire/raftmq.h"

/*
 * These calls are for raftmq's own tools and tests (raftmq-produce,
 * tests/cluster/producer_check.c, tests/unit/test_producer.c). They are
 * not part of the public API and may change with any commit.
 */

/* Counters since the producer was created. */
struct raftmq_producer_stats {
    uint64_t records_acked;  /* delivery reports with RAFTMQ_OK */
    uint64_t records_failed; /* delivery reports with an error (CLOSED included) */
    uint64_t kv_bytes_acked; /* keys and values of the acknowledged records */
    uint64_t batches_sent;   /* PRODUCE requests sent, retries included */
    uint64_t retries;        /* of those, resends of a batch already sent */
    uint64_t producer_id_resets; /* new producer ids after UNKNOWN_PRODUCER or a sequence gap */
    /* PRODUCE requests given up on unanswered because their leader stalled
     * and the metadata named another (each batch is then resent: retries) */
    uint64_t requests_abandoned;
};

void raftmq_producer_get_stats(const raftmq_producer *p, struct raftmq_producer_stats *out);

/*
 * Looks `topic` up in the cluster (METADATA, with the half second of grace
 * a just-created topic needs) and gives its partition count. For tools that
 * must know the cluster is reachable and the topic exists before the first
 * record. Errors: INVALID_REQUEST (bad name), UNKNOWN_TOPIC, TIMEOUT (no
 * broker answered within timeout_ms); last_error says more.
 */
int raftmq_producer_partition_count(raftmq_producer *p, const char *topic, uint32_t timeout_ms,
                                    uint32_t *count);

/* The producer id in use (idempotence), -1 before the first one was obtained. */
int64_t raftmq_producer_test_producer_id(const raftmq_producer *p);

/*
 * Test hook: the next `count` PRODUCE responses are thrown away as if the
 * connection had lost them, so their batches are retried with the outcome
 * unknown (the broker did commit them). Adds to a count already pending.
 */
void raftmq_producer_test_drop_responses(raftmq_producer *p, uint32_t count);
/* Responses still to be dropped. */
uint32_t raftmq_producer_test_drops_pending(const raftmq_producer *p);

/*
 * Test hook: makes the producer believe `topic` exists with `partitions`
 * partitions and no leader, without asking a broker, so the partitioner,
 * batching and the buffer bound can be tested offline (records stay queued
 * until close reports them CLOSED). With idempotence it also sets a made-up
 * producer id so that no INIT_PRODUCER_ID is attempted.
 */
int raftmq_producer_test_add_topic(raftmq_producer *p, const char *topic, uint32_t partitions);

#endif
