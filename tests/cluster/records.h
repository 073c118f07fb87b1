/* The deterministic records and the ack file of raftmq-testclient, shared with its unit tests. */
#ifndef RAFTMQ_TESTS_CLUSTER_RECORDS_H
#define RAFTMQ_TESTS_CLUSTER_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wire/batch.h"

/*
 * Record `id` of a run with `seed` (docs: tests/cluster/README in run.sh):
 *   key      "k<id>"
 *   value    1..200 pseudo-random bytes; length and content derive from (seed, id) only
 *   headers  {"id": the decimal id as bytes, "h": 3 pseudo-random bytes}
 * It goes to partition id % partitions. The timestamp is whatever the
 * producer says (the checks do not compare it).
 */
#define TESTREC_VALUE_BYTES_MAX 200u
#define TESTREC_ID_TEXT_BYTES 24u
/* An upper bound of one encoded record, so a producer can size its batches. */
#define TESTREC_ENCODED_BYTES_MAX 320u

struct testrec {
    char key[TESTREC_ID_TEXT_BYTES + 1];
    uint8_t value[TESTREC_VALUE_BYTES_MAX];
    char id_text[TESTREC_ID_TEXT_BYTES];
    uint8_t h[3];
    struct wire_header headers[2];
    struct wire_record record; /* points into this struct: do not copy it */
};

void testrec_make(struct testrec *r, uint64_t seed, uint64_t id, int64_t timestamp_ms);

/*
 * The id a record read back claims (its "id" header, strict decimal).
 * false when it has none or it does not parse.
 */
bool testrec_read_id(const struct wire_record *got, uint64_t *id);

/* NULL when `got` has exactly the expected key, value and headers; else what differs. */
const char *testrec_compare(const struct testrec *expected, const struct wire_record *got);

/* A fast deterministic generator (splitmix64). */
uint64_t testrec_mix(uint64_t x);

/* ---- the ack file -------------------------------------------------------------
 *
 *   # produce topic=T partitions=P records=N seed=S     (first line)
 *   P O ID                                              one per acknowledged record
 *   # retry P FIRST_ID LAST_ID                          before a batch is sent again
 *
 * A retried batch holds ids FIRST_ID, FIRST_ID + P, ..., LAST_ID (all of one
 * partition). Other lines starting with '#' are comments.
 */
struct testack {
    uint32_t partition;
    uint64_t offset;
    uint64_t id;
};

struct testretry {
    uint32_t partition;
    uint64_t first_id;
    uint64_t last_id;
};

enum testacks_line {
    TESTACKS_BLANK,   /* empty or a comment */
    TESTACKS_HEADER,
    TESTACKS_ACK,
    TESTACKS_RETRY,
};

struct testacks_header {
    char topic[256];
    uint32_t partitions;
    uint64_t records;
    uint64_t seed;
};

/*
 * Parses one line (without or with its '\n'). Returns the kind, or -1 with
 * a reason in why for a malformed line.
 */
int testacks_parse_line(const char *line, struct testacks_header *header, struct testack *ack,
                        struct testretry *retry, char *why, size_t why_cap);

struct testacks {
    bool has_header;
    struct testacks_header header;
    struct testack *acks;
    size_t ack_count;
    struct testretry *retries;
    size_t retry_count;
};

/* Loads a whole ack file. 0, or -1 with "path:line: reason" in why. */
int testacks_load(const char *path, struct testacks *a, char *why, size_t why_cap);
void testacks_free(struct testacks *a);

#endif
