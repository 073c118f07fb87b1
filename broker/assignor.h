/* The consumer-group assignor: spreads partitions evenly over members, moving as few as it can. */
#ifndef RAFTMQ_BROKER_ASSIGNOR_H
#define RAFTMQ_BROKER_ASSIGNOR_H

#include <stdint.h>

/*
 * Pure: no I/O, no clock, deterministic for a given input. A partition is a
 * key, md_group_id(topic_id, partition) (broker/metadata.h), so its topic is
 * key >> 16.
 *
 * Input: every member's subscription (topic ids) and current target
 * assignment, and every partition of every topic some member subscribes to
 * (any order, no duplicates). Output: every member's new target, in place.
 *
 * Rules, in order:
 *   1. A member keeps only partitions that exist and whose topic it subscribes to.
 *   2. A partition in two members' targets stays with the earlier member.
 *   3. Sticky and even: a member keeps what it has up to its quota. With
 *      identical subscriptions, every member ends with floor(P/M) or
 *      ceil(P/M) partitions (P partitions, M members), and only the
 *      partitions taken from members above their quota, or unassigned
 *      before, change hands. With different subscriptions the same greedy
 *      rule applies per partition (it goes to the eligible member with the
 *      fewest), which is even as far as the subscriptions allow.
 *   4. Every partition some member subscribes to ends in exactly one target.
 *   Ties go to the lower member index, then to the lower key, so the result
 *   does not depend on the order of `partitions`.
 *
 * target arrays are sorted by key on return. A member's target_cap must be
 * at least n_partitions (or the count it can possibly receive).
 */
struct assignor_member {
    const uint64_t *topics; /* subscribed topic ids */
    uint32_t n_topics;
    uint64_t *target;       /* in: current target; out: new target */
    uint32_t n_target;
    uint32_t target_cap;
};

/* Returns how many partitions changed member (or went from none to one). -1: a target_cap too
 * small, or memory ran out; the targets are then unchanged. */
int assignor_rebalance(struct assignor_member *members, uint32_t n_members,
                       const uint64_t *partitions, uint32_t n_partitions);

#endif
