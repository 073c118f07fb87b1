/* The metadata state machine: topics and partition assignments, changed only by committed ops. */
#ifndef RAFTMQ_BROKER_METADATA_H
#define RAFTMQ_BROKER_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/frame.h"

/*
 * The metadata Raft group (group id 0) spans every broker. Its leader turns
 * a CREATE_TOPIC or DELETE_TOPIC request into an op (md_encode_create,
 * md_encode_delete), proposes the op as a Raft entry and answers the client
 * once the entry commits. Every broker applies each committed op in log
 * order with md_apply; apply is deterministic (it reads nothing but the
 * state, the op bytes and the entry's Raft index), so every broker holds the
 * same topics with the same ids and the same replica assignments.
 *
 * The leader's checks run against the *applied* state, so two ops that both
 * passed them may still conflict (two creates of one name proposed before
 * the first committed, or by two successive leaders). md_apply settles this
 * in log order: the later op is refused (md_apply_result.error) and changes
 * nothing, identically on every broker.
 *
 * The op encoding is in docs/protocol.md, "Metadata operations (the metadata
 * Raft group)".
 */

/* Topic ids are Raft indexes below 2^48, so that md_group_id fits 64 bits. */
#define MD_TOPIC_ID_MAX ((UINT64_C(1) << 48) - 1)
/* Version of the op encoding this build writes and reads (element 0 of every op). */
#define MD_OP_FORMAT_VERSION 1u

static_assert(WIRE_PARTITIONS_MAX <= 0xffffu, "a partition fits the low 16 bits of a group id");

struct md_partition {
    uint32_t n_replicas;                   /* = the topic's replication_factor */
    uint32_t replicas[WIRE_REPLICAS_MAX]; /* broker ids, non-zero, distinct; [0]: preferred leader */
};

struct md_topic {
    uint64_t id; /* the Raft index of the op that created it: unique forever, never reused */
    char name[WIRE_TOPIC_NAME_BYTES_MAX + 1]; /* NUL-terminated; valid per wire_topic_name_valid */
    uint32_t name_len;
    uint32_t n_partitions;       /* 1..WIRE_PARTITIONS_MAX */
    uint32_t replication_factor; /* 1..WIRE_REPLICAS_MAX */
    int64_t retention_ms;        /* -1: broker default; else > 0 */
    int64_t retention_bytes;     /* -1: broker default; else > 0 */
    struct md_partition *partitions; /* n_partitions */
};

/*
 * Private fields: use the functions below. Topics are allocated one by one,
 * so a `const struct md_topic *` from md_find, md_find_id, md_topic_at or
 * md_apply stays valid until that topic is deleted or the state is freed.
 * Lookups are binary searches over two sorted arrays of pointers (by name
 * and by id); an insert or delete moves pointers, O(topics), which is
 * nothing next to a Raft commit even for tens of thousands of topics.
 */
/* One committed offset of a consumer group. */
struct md_committed {
    uint64_t topic_id;
    uint32_t partition;
    uint64_t offset; /* the next offset the group will read */
};

/* A consumer group's committed offsets (groups without any do not exist here). */
struct md_offset_group {
    char name[WIRE_GROUP_NAME_BYTES_MAX + 1]; /* NUL-terminated; valid like a topic name */
    uint32_t name_len;
    uint32_t count;
    uint32_t cap;
    struct md_committed *offsets; /* sorted by (topic_id, partition) */
};

/* Bounds of the replicated offset table (apply refuses with LIMIT_EXCEEDED beyond them). */
#define MD_OFFSET_GROUPS_MAX 65536u
#define MD_GROUP_OFFSETS_MAX WIRE_ARRAY_ITEMS_MAX

struct md_state {
    struct md_topic **by_name; /* sorted by name bytes (memcmp, then shorter first) */
    struct md_topic **by_id;   /* sorted by id; apply appends, as ids grow with the index */
    uint32_t count;
    uint32_t cap;
    struct md_offset_group **groups; /* sorted by name like by_name */
    uint32_t group_count;
    uint32_t group_cap;
    uint64_t applied_index; /* read-only: the last index given to md_apply or md_set_applied */
};

void md_init(struct md_state *s);
void md_free(struct md_state *s);

/* NULL if absent (also for a len no topic name can have). */
const struct md_topic *md_find(const struct md_state *s, const char *name, size_t len);
const struct md_topic *md_find_id(const struct md_state *s, uint64_t topic_id);
uint32_t md_topic_count(const struct md_state *s);
/* Iteration in name order, i in 0..count-1 (NULL beyond). Indexes shift when topics come or go. */
const struct md_topic *md_topic_at(const struct md_state *s, uint32_t i);

/* Group ids of partition Raft groups on the wire: topic_id << 16 | partition (0: metadata group). */
static inline uint64_t md_group_id(uint64_t topic_id, uint32_t partition)
{
    return topic_id << 16 | partition;
}
static inline uint64_t md_group_topic(uint64_t group)
{
    return group >> 16;
}
static inline uint32_t md_group_partition(uint64_t group)
{
    return (uint32_t)(group & 0xffff);
}

/*
 * Leader side: validates a create request and encodes the op, with the
 * replica assignment decided here (followers apply it as it is, so changing
 * the placement rule never makes brokers disagree).
 *
 * brokers: the ids of every broker in the cluster, strictly increasing,
 * non-zero, n_brokers >= 1 (asserted: the caller's configuration).
 *
 * Checks, in order: wire_validate_create_topic; replication_factor <=
 * n_brokers (INVALID_REPLICATION_FACTOR, "replication factor 4 exceeds the 3
 * brokers in the cluster"); the name is not taken (TOPIC_EXISTS); the op
 * fits `cap` (BUFFER_FULL; md_op_bytes_max always suffices). Returns WIRE_OK
 * with the op in out[0..*len), or an error with a sentence in `why`.
 *
 * Placement, with n = n_brokers, rf = replication_factor:
 *
 *   start = index in brokers[] of the broker that is preferred leader
 *           (replicas[0]) of the fewest partitions over all existing topics,
 *           ties to the lowest id; brokers not in the list are not counted
 *   partition p, replica j:  brokers[(start + p + floor(j * n / rf)) % n]
 *
 * Preferred leaders of one topic are consecutive brokers from `start`, so
 * starting at the least-loaded broker keeps the per-broker leader counts
 * within 1 of each other over any sequence of creates (deletes and changes
 * of the broker list can unbalance them; later creates then refill the
 * least-loaded first). The offsets floor(j * n / rf) are distinct (rf <= n),
 * so a partition's replicas are distinct, and spread evenly around the
 * ring, which keeps the replica counts of one topic within 1 per broker: a
 * full round of n partitions puts rf replicas on every broker, and the
 * remaining partitions lay rf blocks at evenly spaced offsets, which cover
 * every broker equally often give or take one. Cost: O(total partitions).
 */
int md_encode_create(const struct md_state *s, const struct wire_create_topic_req *req,
                     const uint32_t *brokers, uint32_t n_brokers, uint8_t *out, size_t cap,
                     size_t *len, char *why, size_t why_cap);

/*
 * Leader side: encodes the deletion of the topic now called `name`. The op
 * names the topic's id too, so it can only ever delete the topic the leader
 * saw, never a later topic of the same name. INVALID_TOPIC_NAME for a name
 * no topic can have, UNKNOWN_TOPIC if absent, BUFFER_FULL if cap is below
 * MD_DELETE_OP_BYTES_MAX.
 */
int md_encode_delete(const struct md_state *s, const void *name, size_t name_len, uint8_t *out,
                     size_t cap, size_t *len, char *why, size_t why_cap);

/* A capacity that always suffices for a create op of this shape (any name, retentions, ids). */
size_t md_op_bytes_max(uint32_t partitions, uint32_t replication_factor);
/* A capacity that always suffices for a delete op. */
#define MD_DELETE_OP_BYTES_MAX ((size_t)(1 + 5 + 5 + 2 + WIRE_TOPIC_NAME_BYTES_MAX + 9))

/*
 * Leader side: encodes a producer id allocation (INIT_PRODUCER_ID). The op
 * carries nothing: the id is the Raft index it commits at, unique forever
 * like a topic id. BUFFER_FULL if cap is below MD_ALLOC_PRODUCER_OP_BYTES.
 */
int md_encode_alloc_producer(uint8_t *out, size_t cap, size_t *len);
#define MD_ALLOC_PRODUCER_OP_BYTES ((size_t)3)

/*
 * Leader side: encodes a commit of offsets[0..n) (n >= 1, at most
 * MD_GROUP_OFFSETS_MAX, each offset <= INT64_MAX) for consumer group
 * `group`. With rewind false, apply refuses the whole op if any offset is
 * below the group's committed one (OFFSET_BACKWARDS); with rewind true an
 * offset may move back (an explicit seek, an admin reset). The caller has
 * checked membership and generation (those are not replicated).
 * INVALID_REQUEST for a bad group name or n, BUFFER_FULL if cap is below
 * md_commit_op_bytes_max(n).
 */
int md_encode_commit_offsets(const char *group, size_t group_len, bool rewind,
                             const struct md_committed *offsets, uint32_t n, uint8_t *out,
                             size_t cap, size_t *len, char *why, size_t why_cap);
size_t md_commit_op_bytes_max(uint32_t n);

/* The group's committed offsets, NULL if it has none. Valid until the next md_apply. */
const struct md_offset_group *md_offset_group_find(const struct md_state *s, const char *group,
                                                   size_t group_len);
/* Iteration in name order, i in 0..md_offset_group_count-1 (NULL beyond). */
uint32_t md_offset_group_count(const struct md_state *s);
const struct md_offset_group *md_offset_group_at(const struct md_state *s, uint32_t i);
/* The committed offset of one partition: true and *offset, or false when none. */
bool md_committed_offset(const struct md_state *s, const char *group, size_t group_len,
                         uint64_t topic_id, uint32_t partition, uint64_t *offset);

enum md_op_kind {
    MD_OP_CREATE_TOPIC = 1,
    MD_OP_DELETE_TOPIC = 2,
    MD_OP_ALLOC_PRODUCER = 3,
    MD_OP_COMMIT_OFFSETS = 4,
};

struct md_apply_result {
    int kind;  /* enum md_op_kind; 0 when md_apply returned an error */
    /*
     * WIRE_OK, or the op was refused at apply time and the state is
     * unchanged except applied_index: TOPIC_EXISTS (create of a taken name),
     * UNKNOWN_TOPIC (delete of a topic that is gone, or whose name now
     * belongs to a newer topic; a commit naming a topic id that is gone),
     * UNKNOWN_PARTITION (a commit beyond the topic's partitions),
     * OFFSET_BACKWARDS (a commit without rewind below a committed offset),
     * LIMIT_EXCEEDED (create at an index above MD_TOPIC_ID_MAX, which
     * cannot be a topic id; a commit beyond MD_OFFSET_GROUPS_MAX or
     * MD_GROUP_OFFSETS_MAX). A delete also drops the topic's committed
     * offsets from every group.
     */
    int error;
    const struct md_topic *created; /* create: the new topic (owned by the state); else NULL */
    struct md_topic *removed;       /* delete: the removed topic, now the caller's: md_topic_free */
    char why[160]; /* a sentence for the log when md_apply failed or res->error is set; else "" */
};

/*
 * Applies the committed op at Raft `index` (asserted > applied_index).
 * Returns WIRE_OK, with applied_index = index and the outcome in *res
 * (logical refusals are WIRE_OK with res->error set). Or returns an error and
 * changes nothing, not even applied_index:
 *   - a decode error (TRUNCATED, BAD_TYPE, BAD_VALUE, LIMIT_EXCEEDED,
 *     TOO_DEEP, UNKNOWN_TYPE for an unknown op kind, UNSUPPORTED_VERSION for
 *     another format version) for bytes that are not a valid op;
 *   - UNKNOWN when memory ran out.
 * Every broker sees the same bytes, so a decode error is the same
 * everywhere; the caller decides whether to stop or to skip the entry
 * (md_set_applied). Running out of memory is local to one broker: that one
 * must not skip the entry. Never aborts on bad input.
 */
int md_apply(struct md_state *s, uint64_t index, const void *payload, size_t len,
             struct md_apply_result *res);

/* Records a metadata-group entry that is not an op (no-op, configuration) as applied (asserted
 * index > applied_index). */
void md_set_applied(struct md_state *s, uint64_t index);

/* Frees a topic handed over by md_apply (res->removed). NULL is fine. */
void md_topic_free(struct md_topic *t);

#endif
