/* Consumer-group membership on the coordinator: groups, members, generations and the effective assignment, without sockets or clocks. */
#ifndef RAFTMQ_BROKER_CGROUP_H
#define RAFTMQ_BROKER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/limits.h"

/*
 * The soft state of docs/protocol.md, "Consumer groups": it lives in the
 * coordinator's memory only (the controller), and is dropped whole when the
 * broker stops being metadata leader (cg_registry_reset). Committed offsets
 * are not here: they are replicated metadata (broker/metadata.h).
 *
 * A partition is a key, md_group_id(topic_id, partition): topic = key >> 16,
 * partition = key & 0xffff. Time comes in as `now_ms` (monotonic).
 *
 * Per member:
 *   target    what the assignor gave it (sorted keys)
 *   owned     what it last said it consumes (sorted keys)
 *   told      the keys of its last JOIN/SYNC answer (it may be consuming them
 *             before it reports them owned)
 *   claimed(m) = owned(m) ∪ told(m)
 *   effective(m) = target(m) - keys in another member's claimed
 *                  - (while now < group.handout_after_ms) keys in no member's claimed
 *   pending(m)   = |target(m)| - |effective(m)|
 * Invariant: a key is in at most one member's target (the assignor's rule 2)
 * and in at most one member's claimed set, and a key claimed by one member
 * is in nobody else's effective, so a partition is never handed to a second
 * member before its holder released it (reported it no longer owned in a
 * SYNC, left, or expired). `told` closes the window between an answer and
 * the member's next SYNC, in which a move of the key would otherwise hand
 * it out twice.
 */

/* Per coordinator and per group (LIMIT_EXCEEDED beyond). */
#define CG_GROUPS_MAX 4096u
#define CG_MEMBERS_MAX 1024u
/* Accepted session timeouts (INVALID_REQUEST outside). */
#define CG_SESSION_TIMEOUT_MS_MIN 1000u
#define CG_SESSION_TIMEOUT_MS_MAX 300000u
/* Keys one member may own or claim (INVALID_REQUEST beyond). */
#define CG_OWNED_MAX WIRE_ARRAY_ITEMS_MAX

/* Topic names and partition counts, as the applied metadata knows them. */
struct cg_topics {
    void *ctx;
    /* true with the topic's id and partition count, false if there is no such topic */
    bool (*find)(void *ctx, const char *name, size_t len, uint64_t *topic_id, uint32_t *n_partitions);
    /* the name of topic `topic_id`, or NULL once it is gone */
    const char *(*name_of)(void *ctx, uint64_t topic_id);
};

struct cg_member {
    char id[WIRE_MEMBER_ID_BYTES_MAX + 1];
    char client_id[WIRE_CLIENT_ID_BYTES_MAX + 1];
    char instance_id[WIRE_MEMBER_ID_BYTES_MAX + 1]; /* the client's, from JOIN; "" if none */
    char **topics; /* subscription: n_topics NUL-terminated names, as joined */
    uint32_t n_topics;
    uint32_t session_timeout_ms;
    uint64_t last_heard_ms;
    uint64_t generation_told; /* the group generation in its last JOIN/SYNC answer */
    uint64_t *target;
    uint32_t n_target;
    uint32_t target_cap;
    uint64_t *owned;
    uint32_t n_owned;
    uint64_t *told;
    uint32_t n_told;
};

struct cg_group {
    char name[WIRE_GROUP_NAME_BYTES_MAX + 1];
    uint32_t name_len;
    uint64_t generation;       /* starts at 1; +1 whenever any member's target changes */
    uint64_t handout_after_ms; /* failover hold: unclaimed keys withheld before this */
    struct cg_member **members; /* join order */
    uint32_t n_members;
    uint32_t members_cap;
};

/* What happened, for the log (the coordinator writes it with blog). */
enum cg_event_kind {
    CG_EVENT_JOIN = 1,
    CG_EVENT_LEAVE,
    CG_EVENT_EXPIRE,
    CG_EVENT_REBALANCE, /* a target changed: generation is the new one, moved counts keys */
};

struct cg_event {
    int kind;
    const struct cg_group *group;
    const char *member_id; /* JOIN, LEAVE, EXPIRE */
    uint64_t generation;
    uint32_t moved;
};

struct cg_registry {
    struct cg_group **groups; /* sorted by name */
    uint32_t n_groups;
    uint32_t groups_cap;
    uint32_t groups_max;  /* CG_GROUPS_MAX; tests lower it */
    uint32_t members_max; /* CG_MEMBERS_MAX; tests lower it */
    uint32_t node_id;
    uint64_t term;        /* the metadata term this registry belongs to */
    uint64_t member_counter;
    uint64_t started_ms;  /* T0: when this broker became coordinator */
    uint32_t election_timeout_max_ms;
    struct cg_topics topics;
    void *event_ctx;
    void (*on_event)(void *ctx, const struct cg_event *ev); /* may be NULL */
};

void cg_registry_init(struct cg_registry *r, uint32_t node_id, uint32_t election_timeout_max_ms,
                      const struct cg_topics *topics);
/* Forgets every group and member; the registry now belongs to `term`, started at now_ms. */
void cg_registry_reset(struct cg_registry *r, uint64_t term, uint64_t now_ms);
void cg_registry_free(struct cg_registry *r);

struct cg_group *cg_group_find(const struct cg_registry *r, const char *name, size_t len);
struct cg_member *cg_member_find(const struct cg_group *g, const char *member_id, size_t len);

struct cg_join {
    const char *group;
    size_t group_len;
    const char *client_id;
    size_t client_id_len;
    const char *instance_id; /* "" or the client's random id for its subscription */
    size_t instance_id_len;
    const char *const *topics; /* names, each topic_lens[i] bytes */
    const size_t *topic_lens;
    uint32_t n_topics;
    const uint64_t *owned; /* claimed keys, any order, duplicates allowed */
    uint32_t n_owned;
    uint32_t session_timeout_ms;
    bool group_has_offsets; /* the group has committed offsets (failover hold) */
};

/*
 * JOIN: validates (group and topic names, counts, session timeout, limits),
 * and, when a member of the group already has this non-empty instance_id (a
 * JOIN repeated because its answer was lost), answers with that member as
 * it is (last_heard := now) instead of creating a second one. Otherwise creates the member, accepts the claims no other member holds (owned or
 * told; they become its owned and initial target, and leave any other
 * member's target), rebalances. Returns WIRE_OK
 * with *out the new member, or INVALID_REQUEST / INVALID_TOPIC_NAME /
 * LIMIT_EXCEEDED (or UNKNOWN: out of memory) with a sentence in why.
 */
int cg_join(struct cg_registry *r, const struct cg_join *j, uint64_t now_ms, struct cg_member **out,
            char *why, size_t why_cap);

/* SYNC: owned := reported ∩ (old owned ∪ effective); generation_told := generation.
 * UNKNOWN_MEMBER if the group or member is unknown. */
int cg_sync(struct cg_registry *r, const char *group, size_t group_len, const char *member_id,
            size_t member_id_len, const uint64_t *reported, uint32_t n_reported, uint64_t now_ms,
            struct cg_member **out, char *why, size_t why_cap);

/* HEARTBEAT: last_heard := now; *generation := the group's. UNKNOWN_MEMBER if unknown. */
int cg_heartbeat(struct cg_registry *r, const char *group, size_t group_len, const char *member_id,
                 size_t member_id_len, uint64_t now_ms, uint64_t *generation, char *why,
                 size_t why_cap);

/* LEAVE: removes the member (its owned keys are free at once) and rebalances; the
 * group is forgotten with its last member. UNKNOWN_MEMBER if unknown. */
int cg_leave(struct cg_registry *r, const char *group, size_t group_len, const char *member_id,
             size_t member_id_len, char *why, size_t why_cap);

/* Removes every member not heard from for more than its session timeout. Returns how many. */
uint32_t cg_expire(struct cg_registry *r, uint64_t now_ms);

/* Rebalances every group (topics were created or deleted). */
void cg_rebalance_all(struct cg_registry *r);

/*
 * May this commit go ahead, membership-wise? member_id "": generation must be
 * 0 (INVALID_REQUEST) and the group must have no members here
 * (GROUP_NOT_EMPTY). Otherwise: member known (UNKNOWN_MEMBER), generation ==
 * its generation_told (ILLEGAL_GENERATION), every key in owned ∪ effective
 * (ILLEGAL_GENERATION). Changes nothing.
 */
int cg_check_commit(const struct cg_registry *r, const char *group, size_t group_len,
                    const char *member_id, size_t member_id_len, uint64_t generation,
                    const uint64_t *keys, uint32_t n_keys, uint64_t now_ms, char *why, size_t why_cap);

/* effective(m) into out (cap >= m->n_target), sorted; returns its count. */
uint32_t cg_effective(const struct cg_group *g, const struct cg_member *m, uint64_t now_ms,
                      uint64_t *out);
/* pending(m) */
uint32_t cg_pending(const struct cg_group *g, const struct cg_member *m, uint64_t now_ms);
/* "empty", "rebalancing" (a member has pending > 0 or an old generation_told) or "stable". */
const char *cg_group_state(const struct cg_group *g, uint64_t now_ms);

#endif
