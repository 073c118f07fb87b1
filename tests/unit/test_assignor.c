/*
 * Tests broker/assignor.c: the consumer-group assignor.
 *
 * How: groups of members with subscriptions and targets are built in
 * memory, assignor_rebalance runs on them, and the result is checked
 * against the rules of assignor.h: every check_result() call verifies that
 * targets are sorted, valid (existing, subscribed) and disjoint, that every
 * subscribed partition is assigned, and that the return value counts
 * exactly the partitions that changed owner. Evenness and stickiness are
 * checked against the minimum number of moves computed independently here
 * (with identical subscriptions: P minus what the members can keep under
 * floor/ceil quotas). A randomized run with a fixed seed drives thousands of
 * join/leave/topic-change sequences through the same checks, and reruns
 * every step with shuffled inputs to prove the result does not depend on
 * their order.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/assignor.h"
#include "broker/metadata.h"
#include "tests/unit/suites.h"

/* A passing ck_assert records a checkpoint; loops over many keys use this silent one. */
#define quiet_check(cond)                                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond);                          \
    } while (0)

#define MEMBERS_MAX 32u
#define TOPICS_MAX 8u
#define KEYS_MAX 256u

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(rng_next() % n);
}

static uint64_t key(uint64_t topic, uint32_t partition)
{
    return md_group_id(topic, partition);
}

/* ---- a group of members ------------------------------------------------------- */

struct group {
    uint32_t n;
    struct assignor_member m[MEMBERS_MAX];
    uint64_t topics[MEMBERS_MAX][TOPICS_MAX];
    uint64_t targets[MEMBERS_MAX][KEYS_MAX];
};

static struct group *group_new(void)
{
    struct group *g = calloc(1, sizeof(*g));
    ck_assert_ptr_nonnull(g);
    return g;
}

/* Re-points every member at its own rows (after a copy or a shift). */
static void group_fix_pointers(struct group *g)
{
    for (uint32_t i = 0; i < g->n; i++) {
        g->m[i].topics = g->topics[i];
        g->m[i].target = g->targets[i];
        g->m[i].target_cap = KEYS_MAX;
    }
}

static uint32_t group_join(struct group *g, const uint64_t *topics, uint32_t n_topics)
{
    ck_assert_uint_lt(g->n, MEMBERS_MAX);
    ck_assert_uint_le(n_topics, TOPICS_MAX);
    uint32_t i = g->n++;
    if (n_topics > 0)
        memcpy(g->topics[i], topics, n_topics * sizeof(*topics));
    g->m[i] = (struct assignor_member){.n_topics = n_topics, .n_target = 0};
    group_fix_pointers(g);
    return i;
}

static void group_leave(struct group *g, uint32_t i)
{
    ck_assert_uint_lt(i, g->n);
    for (uint32_t j = i; j + 1 < g->n; j++) {
        memcpy(g->topics[j], g->topics[j + 1], sizeof(g->topics[j]));
        memcpy(g->targets[j], g->targets[j + 1], sizeof(g->targets[j]));
        g->m[j] = g->m[j + 1];
    }
    g->n--;
    group_fix_pointers(g);
}

static struct group *group_copy(const struct group *g)
{
    struct group *c = group_new();
    memcpy(c, g, sizeof(*c));
    group_fix_pointers(c);
    return c;
}

static bool subscribes(const struct assignor_member *m, uint64_t topic)
{
    for (uint32_t k = 0; k < m->n_topics; k++)
        if (m->topics[k] == topic)
            return true;
    return false;
}

static bool listed(const uint64_t *keys, uint32_t n, uint64_t k)
{
    for (uint32_t i = 0; i < n; i++)
        if (keys[i] == k)
            return true;
    return false;
}

/* Rule 1 and 2 applied here independently: the owner each partition has before any move. */
static void filtered_owners(const struct group *g, const uint64_t *parts, uint32_t n_parts,
                            int32_t *owner)
{
    for (uint32_t p = 0; p < n_parts; p++) {
        owner[p] = -1;
        for (uint32_t i = 0; i < g->n && owner[p] < 0; i++)
            if (subscribes(&g->m[i], parts[p] >> 16) &&
                listed(g->m[i].target, g->m[i].n_target, parts[p]))
                owner[p] = (int32_t)i;
    }
}

/* Each partition's owner in the targets (-1: none), checking that no partition has two. */
static void current_owners(const struct group *g, const uint64_t *parts, uint32_t n_parts,
                           int32_t *owner)
{
    for (uint32_t p = 0; p < n_parts; p++) {
        owner[p] = -1;
        for (uint32_t i = 0; i < g->n; i++)
            if (listed(g->m[i].target, g->m[i].n_target, parts[p])) {
                quiet_check(owner[p] < 0); /* never in two targets */
                owner[p] = (int32_t)i;
            }
    }
}

/*
 * The invariants every result must meet. before: the filtered owners of the
 * input; returns how many partitions changed owner, which must equal what
 * the assignor returned (rc).
 */
static uint32_t check_result(const struct group *g, const uint64_t *parts, uint32_t n_parts,
                             const int32_t *before, int rc)
{
    ck_assert_int_ge(rc, 0);
    for (uint32_t i = 0; i < g->n; i++) {
        const struct assignor_member *m = &g->m[i];
        quiet_check(m->n_target <= m->target_cap);
        for (uint32_t k = 0; k < m->n_target; k++) {
            quiet_check(k == 0 || m->target[k - 1] < m->target[k]); /* sorted, distinct */
            quiet_check(listed(parts, n_parts, m->target[k]));      /* exists */
            quiet_check(subscribes(m, m->target[k] >> 16));          /* subscribed */
        }
    }
    int32_t *after = malloc((n_parts ? n_parts : 1) * sizeof(*after));
    ck_assert_ptr_nonnull(after);
    current_owners(g, parts, n_parts, after);
    uint32_t moved = 0;
    for (uint32_t p = 0; p < n_parts; p++) {
        bool wanted = false;
        for (uint32_t i = 0; i < g->n && !wanted; i++)
            wanted = subscribes(&g->m[i], parts[p] >> 16);
        quiet_check(wanted == (after[p] >= 0)); /* every subscribed partition, nothing else */
        if (after[p] >= 0 && after[p] != before[p])
            moved++;
    }
    free(after);
    ck_assert_int_eq(rc, (int)moved);
    return moved;
}

/* Runs the assignor and checks the invariants; returns its result. */
static int rebalance(struct group *g, const uint64_t *parts, uint32_t n_parts)
{
    int32_t *before = malloc((n_parts ? n_parts : 1) * sizeof(*before));
    ck_assert_ptr_nonnull(before);
    filtered_owners(g, parts, n_parts, before);
    int rc = assignor_rebalance(g->m, g->n, parts, n_parts);
    check_result(g, parts, n_parts, before, rc);
    free(before);
    return rc;
}

/*
 * With identical subscriptions: the fewest moves that reach a floor/ceil
 * spread, given what each member validly holds now (kept): every partition
 * not kept moves, and a member keeps at most its quota, the ceil quotas
 * going to the members holding the most.
 */
static uint32_t min_moves(const uint32_t *kept, uint32_t n_members, uint32_t n_parts)
{
    if (n_members == 0)
        return 0;
    uint32_t sorted[MEMBERS_MAX];
    memcpy(sorted, kept, n_members * sizeof(*kept));
    for (uint32_t i = 1; i < n_members; i++) /* descending */
        for (uint32_t j = i; j > 0 && sorted[j - 1] < sorted[j]; j--) {
            uint32_t t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    uint32_t floor = n_parts / n_members, ceils = n_parts % n_members, keep = 0;
    for (uint32_t i = 0; i < n_members; i++) {
        uint32_t quota = floor + (i < ceils ? 1 : 0);
        keep += sorted[i] < quota ? sorted[i] : quota;
    }
    return n_parts - keep;
}

static void kept_counts(const struct group *g, const uint64_t *parts, uint32_t n_parts,
                        uint32_t *kept)
{
    int32_t owner[KEYS_MAX];
    ck_assert_uint_le(n_parts, KEYS_MAX);
    filtered_owners(g, parts, n_parts, owner);
    memset(kept, 0, g->n * sizeof(*kept));
    for (uint32_t p = 0; p < n_parts; p++)
        if (owner[p] >= 0)
            kept[owner[p]]++;
}

static void check_even(const struct group *g, uint32_t n_parts)
{
    if (g->n == 0)
        return;
    uint32_t floor = n_parts / g->n, ceil = floor + (n_parts % g->n != 0);
    for (uint32_t i = 0; i < g->n; i++)
        quiet_check(g->m[i].n_target == floor || g->m[i].n_target == ceil);
}

/* No partition could move to an eligible member with two fewer (the general-case balance). */
static void check_no_improving_move(const struct group *g)
{
    for (uint32_t a = 0; a < g->n; a++)
        for (uint32_t k = 0; k < g->m[a].n_target; k++)
            for (uint32_t b = 0; b < g->n; b++)
                if (subscribes(&g->m[b], g->m[a].target[k] >> 16))
                    quiet_check(g->m[a].n_target < g->m[b].n_target + 2);
}

static uint32_t make_parts(uint64_t *parts, const uint64_t *topics, const uint32_t *counts,
                           uint32_t n_topics)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < n_topics; t++)
        for (uint32_t p = 0; p < counts[t]; p++)
            parts[n++] = key(topics[t], p);
    return n;
}

static bool same_targets(const struct group *a, const struct group *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (a->m[i].n_target != b->m[i].n_target ||
            memcmp(a->m[i].target, b->m[i].target, a->m[i].n_target * sizeof(uint64_t)) != 0)
            return false;
    return true;
}

/* ---- tests -------------------------------------------------------------------- */

/* From nothing, identical subscriptions spread within one, for many shapes, and are stable. */
START_TEST(test_even_spread)
{
    const uint64_t topics[] = {7, 9, 300};
    uint64_t parts[KEYS_MAX];
    for (uint32_t members = 1; members <= 12; members++)
        for (uint32_t per_topic = 0; per_topic <= 25; per_topic++) {
            const uint32_t counts[] = {per_topic, per_topic / 2, (per_topic * 7) % 5};
            uint32_t n = make_parts(parts, topics, counts, 3);
            struct group *g = group_new();
            for (uint32_t i = 0; i < members; i++)
                group_join(g, topics, 3);
            ck_assert_int_eq(rebalance(g, parts, n), (int)n); /* all from none */
            check_even(g, n);
            /* Running again changes nothing. */
            struct group *same = group_copy(g);
            ck_assert_int_eq(rebalance(g, parts, n), 0);
            ck_assert(same_targets(g, same));
            free(same);
            free(g);
        }
}
END_TEST

/* Adding a member takes only what the others hold beyond their new quotas. */
START_TEST(test_join_moves_the_minimum)
{
    const uint64_t topics[] = {1, 2};
    uint64_t parts[KEYS_MAX];
    for (uint32_t members = 1; members <= 10; members++)
        for (uint32_t per_topic = 0; per_topic <= 30; per_topic += 3) {
            const uint32_t counts[] = {per_topic, per_topic + 1};
            uint32_t n = make_parts(parts, topics, counts, 2);
            struct group *g = group_new();
            for (uint32_t i = 0; i < members; i++)
                group_join(g, topics, 2);
            rebalance(g, parts, n);
            struct group *old = group_copy(g);
            uint32_t joined = group_join(g, topics, 2);
            uint32_t kept[MEMBERS_MAX];
            kept_counts(g, parts, n, kept);
            int moved = rebalance(g, parts, n);
            ck_assert_int_eq(moved, (int)min_moves(kept, g->n, n));
            /* The new member got exactly the moved partitions; the others only lost some. */
            ck_assert_uint_eq(g->m[joined].n_target, (uint32_t)moved);
            for (uint32_t i = 0; i < members; i++)
                for (uint32_t k = 0; k < g->m[i].n_target; k++)
                    quiet_check(listed(old->m[i].target, old->m[i].n_target, g->m[i].target[k]));
            check_even(g, n);
            free(old);
            free(g);
        }
}
END_TEST

/* Removing a member moves only its partitions; everyone else keeps all of theirs. */
START_TEST(test_leave_moves_only_its_partitions)
{
    const uint64_t topics[] = {4};
    uint64_t parts[KEYS_MAX];
    for (uint32_t members = 2; members <= 10; members++)
        for (uint32_t n_parts = 0; n_parts <= 40; n_parts += 1) {
            const uint32_t counts[] = {n_parts};
            uint32_t n = make_parts(parts, topics, counts, 1);
            for (uint32_t gone = 0; gone < members; gone += 3) {
                struct group *g = group_new();
                for (uint32_t i = 0; i < members; i++)
                    group_join(g, topics, 1);
                rebalance(g, parts, n);
                uint32_t lost = g->m[gone].n_target;
                group_leave(g, gone);
                struct group *old = group_copy(g);
                ck_assert_int_eq(rebalance(g, parts, n), (int)lost);
                for (uint32_t i = 0; i < g->n; i++)
                    for (uint32_t k = 0; k < old->m[i].n_target; k++)
                        quiet_check(listed(g->m[i].target, g->m[i].n_target,
                                           old->m[i].target[k]));
                check_even(g, n);
                free(old);
                free(g);
            }
        }
}
END_TEST

/* Keys of unsubscribed topics, of partitions not listed, and repeats are dropped. */
START_TEST(test_invalid_keys_dropped)
{
    const uint64_t topics[] = {10, 11};
    const uint32_t counts[] = {2, 2};
    uint64_t parts[4];
    uint32_t n = make_parts(parts, topics, counts, 2);
    struct group *g = group_new();
    const uint64_t only_10[] = {10};
    group_join(g, only_10, 1);
    group_join(g, topics, 2);
    /* Member 0: topic 11 is not its; partition 5 does not exist; topic 12 is nobody's. */
    const uint64_t bad[] = {key(11, 0), key(10, 5), key(12, 0), key(10, 1), key(10, 1)};
    memcpy(g->m[0].target, bad, sizeof bad);
    g->m[0].n_target = 5;
    /* Member 1 claims 10/1 too (member 0 listed it first) and 11/1. */
    const uint64_t claims[] = {key(10, 1), key(11, 1)};
    memcpy(g->m[1].target, claims, sizeof claims);
    g->m[1].n_target = 2;
    int moved = rebalance(g, parts, n);
    /* 10/1 stays with member 0; 10/0 joins it (the fewest), 11/0 goes to member 1. */
    ck_assert_uint_eq(g->m[0].n_target, 2);
    ck_assert_uint_eq(g->m[0].target[0], key(10, 0));
    ck_assert_uint_eq(g->m[0].target[1], key(10, 1));
    ck_assert_uint_eq(g->m[1].n_target, 2);
    ck_assert_uint_eq(g->m[1].target[0], key(11, 0));
    ck_assert_uint_eq(g->m[1].target[1], key(11, 1));
    ck_assert_int_eq(moved, 2);
    free(g);
}
END_TEST

/* A partition in two targets stays with the earlier member, with identical subscriptions too. */
START_TEST(test_duplicates_resolved_to_the_earlier_member)
{
    const uint64_t topics[] = {3};
    const uint32_t counts[] = {4};
    uint64_t parts[4];
    uint32_t n = make_parts(parts, topics, counts, 1);
    struct group *g = group_new();
    group_join(g, topics, 1);
    group_join(g, topics, 1);
    const uint64_t first[] = {key(3, 2), key(3, 0)};
    const uint64_t second[] = {key(3, 0), key(3, 2), key(3, 1), key(3, 3)};
    memcpy(g->m[0].target, first, sizeof first);
    g->m[0].n_target = 2;
    memcpy(g->m[1].target, second, sizeof second);
    g->m[1].n_target = 4;
    ck_assert_int_eq(rebalance(g, parts, n), 0); /* each keeps its valid share: nothing moves */
    ck_assert_uint_eq(g->m[0].n_target, 2);
    ck_assert_uint_eq(g->m[0].target[0], key(3, 0));
    ck_assert_uint_eq(g->m[0].target[1], key(3, 2));
    ck_assert_uint_eq(g->m[1].target[0], key(3, 1));
    ck_assert_uint_eq(g->m[1].target[1], key(3, 3));
    free(g);
}
END_TEST

/* Shuffling the partitions, a member's topics or its target changes nothing in the result. */
START_TEST(test_order_independent)
{
    rng_state = 0x0dde12ull;
    const uint64_t topics[] = {5, 6, 8};
    const uint32_t counts[] = {13, 7, 9};
    uint64_t parts[64];
    uint32_t n = make_parts(parts, topics, counts, 3);
    for (uint32_t round = 0; round < 200; round++) {
        struct group *g = group_new();
        uint32_t members = 1 + rng_below(6);
        for (uint32_t i = 0; i < members; i++) {
            uint64_t sub[3];
            uint32_t n_sub = 0;
            for (uint32_t t = 0; t < 3; t++)
                if (round % 2 == 0 || rng_below(2) == 0)
                    sub[n_sub++] = topics[t];
            group_join(g, sub, n_sub);
            for (uint32_t k = 0; k < n; k++) /* a random current target, maybe invalid */
                if (rng_below(4) == 0)
                    g->targets[i][g->m[i].n_target++] = parts[k];
        }
        struct group *shuffled = group_copy(g);
        uint64_t order[64];
        memcpy(order, parts, n * sizeof(*parts));
        for (uint32_t k = n; k > 1; k--) {
            uint32_t j = rng_below(k);
            uint64_t t = order[k - 1];
            order[k - 1] = order[j];
            order[j] = t;
        }
        for (uint32_t i = 0; i < members; i++) {
            struct assignor_member *m = &shuffled->m[i];
            for (uint32_t k = m->n_topics; k > 1; k--) {
                uint32_t j = rng_below(k);
                uint64_t t = m->topics[k - 1];
                shuffled->topics[i][k - 1] = m->topics[j];
                shuffled->topics[i][j] = t;
            }
            for (uint32_t k = m->n_target; k > 1; k--) {
                uint32_t j = rng_below(k);
                uint64_t t = m->target[k - 1];
                shuffled->targets[i][k - 1] = m->target[j];
                shuffled->targets[i][j] = t;
            }
        }
        int a = rebalance(g, parts, n);
        int b = rebalance(shuffled, order, n);
        ck_assert_int_eq(a, b);
        ck_assert(same_targets(g, shuffled));
        free(shuffled);
        free(g);
    }
}
END_TEST

/* Different subscriptions: every partition goes to an eligible member, as evenly as possible. */
START_TEST(test_different_subscriptions)
{
    const uint64_t t1 = 1, t2 = 2, t3 = 3;
    const uint64_t all[] = {t1, t2, t3};
    const uint32_t counts[] = {4, 4, 2};
    uint64_t parts[16];
    uint32_t n = make_parts(parts, all, counts, 3);

    /* A: t1; B: t1, t2; C: t3 only. C gets t3's two; A and B split the other eight 4/4. */
    struct group *g = group_new();
    const uint64_t a_sub[] = {t1}, b_sub[] = {t1, t2}, c_sub[] = {t3};
    group_join(g, a_sub, 1);
    group_join(g, b_sub, 2);
    group_join(g, c_sub, 1);
    ck_assert_int_eq(rebalance(g, parts, n), (int)n);
    ck_assert_uint_eq(g->m[0].n_target, 4);
    ck_assert_uint_eq(g->m[1].n_target, 4);
    ck_assert_uint_eq(g->m[2].n_target, 2);
    for (uint32_t k = 0; k < 4; k++)
        ck_assert_uint_eq(g->m[1].target[k] >> 16, t2); /* B holds all of t2, which only it can */
    check_no_improving_move(g);
    ck_assert_int_eq(rebalance(g, parts, n), 0); /* stable */

    /* B held everything it can before A came: it gives A the t1 partitions. */
    struct group *h = group_new();
    group_join(h, b_sub, 2);
    group_join(h, c_sub, 1);
    rebalance(h, parts, n);
    ck_assert_uint_eq(h->m[0].n_target, 8);
    group_join(h, a_sub, 1);
    ck_assert_int_eq(rebalance(h, parts, n), 4);
    ck_assert_uint_eq(h->m[2].n_target, 4);
    for (uint32_t k = 0; k < 4; k++)
        ck_assert_uint_eq(h->m[2].target[k] >> 16, t1);

    /* A topic nobody subscribes to stays unassigned; a subscription to an unlisted topic is
     * harmless; a member with no topics gets nothing. */
    struct group *e = group_new();
    group_join(e, a_sub, 1);
    const uint64_t ghost[] = {99};
    group_join(e, ghost, 1);
    group_join(e, NULL, 0);
    ck_assert_int_eq(rebalance(e, parts, n), 4);
    ck_assert_uint_eq(e->m[0].n_target, 4);
    ck_assert_uint_eq(e->m[1].n_target, 0);
    ck_assert_uint_eq(e->m[2].n_target, 0);
    free(e);
    free(h);
    free(g);
}
END_TEST

/* Topics coming and going: dropped partitions vanish, new ones spread, the rest stay. */
START_TEST(test_topics_change)
{
    const uint64_t topics[] = {20, 21};
    const uint32_t before_counts[] = {6, 0};
    const uint32_t after_counts[] = {0, 6};
    uint64_t parts[16], parts2[16];
    uint32_t n = make_parts(parts, topics, before_counts, 2);
    uint32_t n2 = make_parts(parts2, topics, after_counts, 2);
    struct group *g = group_new();
    for (int i = 0; i < 3; i++)
        group_join(g, topics, 2);
    rebalance(g, parts, n);
    /* Topic 20 deleted, 21 created: six new partitions, two each. */
    ck_assert_int_eq(rebalance(g, parts2, n2), 6);
    check_even(g, n2);
    for (uint32_t i = 0; i < 3; i++)
        for (uint32_t k = 0; k < g->m[i].n_target; k++)
            ck_assert_uint_eq(g->m[i].target[k] >> 16, 21);
    /* No partitions at all: every target empties, nothing "moves". */
    ck_assert_int_eq(rebalance(g, NULL, 0), 0);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_uint_eq(g->m[i].n_target, 0);
    /* No members: fine. */
    ck_assert_int_eq(assignor_rebalance(NULL, 0, parts, n), 0);
    free(g);
}
END_TEST

START_TEST(test_target_cap_too_small)
{
    const uint64_t topics[] = {1};
    const uint32_t counts[] = {10};
    uint64_t parts[10];
    uint32_t n = make_parts(parts, topics, counts, 1);
    struct group *g = group_new();
    group_join(g, topics, 1);
    group_join(g, topics, 1);
    g->m[0].target[0] = key(1, 3);
    g->m[0].n_target = 1;
    g->m[1].target_cap = 4; /* it would get 5 */
    ck_assert_int_eq(assignor_rebalance(g->m, g->n, parts, n), -1);
    /* Nothing was written. */
    ck_assert_uint_eq(g->m[0].n_target, 1);
    ck_assert_uint_eq(g->m[0].target[0], key(1, 3));
    ck_assert_uint_eq(g->m[1].n_target, 0);
    /* Exactly enough is fine. */
    g->m[1].target_cap = 5;
    ck_assert_int_eq(assignor_rebalance(g->m, g->n, parts, n), 9);
    ck_assert_uint_eq(g->m[1].n_target, 5);
    /* A current target longer than its cap is refused too. */
    g->m[0].target_cap = 2;
    g->m[0].n_target = 3;
    ck_assert_int_eq(assignor_rebalance(g->m, g->n, parts, n), -1);
    free(g);
}
END_TEST

/* Thousands of partitions and hundreds of members in one go (a sanity run, not a timing test). */
START_TEST(test_large_group)
{
    enum { MEMBERS = 500, TOPICS = 20, PER_TOPIC = 1000, P = TOPICS * PER_TOPIC, CAP = 1100 };
    uint64_t *parts = malloc(P * sizeof(*parts));
    uint64_t *topics = malloc(TOPICS * sizeof(*topics));
    uint64_t *targets = malloc(((size_t)P + (size_t)(MEMBERS - 1) * CAP) * sizeof(*targets));
    struct assignor_member *m = calloc(MEMBERS, sizeof(*m));
    ck_assert(parts && topics && targets && m);
    for (uint32_t t = 0; t < TOPICS; t++) {
        topics[t] = 1000 + t;
        for (uint32_t p = 0; p < PER_TOPIC; p++)
            parts[t * PER_TOPIC + p] = key(topics[t], p);
    }
    m[0] = (struct assignor_member){topics, TOPICS, targets, 0, P};
    for (uint32_t i = 1; i < MEMBERS; i++)
        m[i] = (struct assignor_member){topics, TOPICS, targets + P + (size_t)(i - 1) * CAP, 0,
                                        CAP};
    /* One member first (it takes all), then everyone. */
    ck_assert_int_eq(assignor_rebalance(m, 1, parts, P), P);
    ck_assert_uint_eq(m[0].n_target, P);
    int moved = assignor_rebalance(m, MEMBERS, parts, P);
    ck_assert_int_eq(moved, P - P / MEMBERS);
    for (uint32_t i = 0; i < MEMBERS; i++)
        quiet_check(m[i].n_target == P / MEMBERS);
    /* All but member 0 drop the last topic: the different-subscriptions path. Member 0 takes
     * that whole topic and gives its other partitions away; everyone else stays within one. */
    for (uint32_t i = 1; i < MEMBERS; i++)
        m[i].n_topics = TOPICS - 1;
    moved = assignor_rebalance(m, MEMBERS, parts, P);
    ck_assert_int_gt(moved, 0);
    uint32_t total = 0, low = UINT32_MAX, high = 0;
    for (uint32_t i = 0; i < MEMBERS; i++) {
        total += m[i].n_target;
        if (i > 0) {
            low = m[i].n_target < low ? m[i].n_target : low;
            high = m[i].n_target > high ? m[i].n_target : high;
        }
    }
    ck_assert_uint_eq(total, P);
    ck_assert_uint_eq(m[0].n_target, PER_TOPIC);
    ck_assert_uint_eq(m[0].target[0], key(1000 + TOPICS - 1, 0));
    ck_assert_uint_le(high - low, 1);
    ck_assert_int_eq(assignor_rebalance(m, MEMBERS, parts, P), 0);
    free(m);
    free(targets);
    free(topics);
    free(parts);
}
END_TEST

/*
 * Random join/leave/topic sequences, fixed seed: after every step the
 * invariants hold, the result is stable, the return value counts the moves,
 * shuffled inputs give the same result, and with identical subscriptions
 * the spread is within one and the moves are the minimum; with different
 * subscriptions no single move could even things out further.
 */
START_TEST(test_random_sequences)
{
    rng_state = 0x5eed0a55ull;
    uint32_t identical_steps = 0, different_steps = 0, moves_total = 0;
    for (uint32_t seq = 0; seq < 2500; seq++) {
        bool identical = seq % 2 == 0;
        uint32_t n_topics = 1 + rng_below(3);
        uint64_t topics[3];
        uint32_t counts[3];
        for (uint32_t t = 0; t < n_topics; t++) {
            topics[t] = 1 + t * 5 + rng_below(5);
            counts[t] = rng_below(13);
        }
        struct group *g = group_new();
        uint32_t steps = 4 + rng_below(8);
        for (uint32_t step = 0; step < steps; step++) {
            uint32_t action = rng_below(10);
            if (g->n == 0 || (action < 5 && g->n < 12)) {
                uint64_t sub[3];
                uint32_t n_sub = 0;
                for (uint32_t t = 0; t < n_topics; t++)
                    if (identical || rng_below(2) == 0)
                        sub[n_sub++] = topics[t];
                group_join(g, sub, n_sub);
            } else if (action < 9) {
                group_leave(g, rng_below(g->n));
            } else {
                counts[rng_below(n_topics)] = rng_below(13); /* partitions come or go */
            }
            uint64_t parts[64];
            uint32_t n = make_parts(parts, topics, counts, n_topics);
            uint32_t kept[MEMBERS_MAX];
            kept_counts(g, parts, n, kept);

            struct group *shuffled = group_copy(g);
            uint64_t order[64];
            memcpy(order, parts, n * sizeof(*parts));
            for (uint32_t k = n; k > 1; k--) {
                uint32_t j = rng_below(k);
                uint64_t t = order[k - 1];
                order[k - 1] = order[j];
                order[j] = t;
            }
            int moved = rebalance(g, parts, n);
            ck_assert_int_eq(rebalance(shuffled, order, n), moved);
            ck_assert(same_targets(g, shuffled));
            free(shuffled);
            moves_total += (uint32_t)moved;

            if (identical) {
                check_even(g, n);
                ck_assert_int_eq(moved, (int)min_moves(kept, g->n, n));
                identical_steps++;
            } else {
                check_no_improving_move(g);
                different_steps++;
            }
            struct group *same = group_copy(g);
            ck_assert_int_eq(rebalance(g, parts, n), 0);
            ck_assert(same_targets(g, same));
            free(same);
        }
        free(g);
    }
    ck_assert_uint_gt(identical_steps, 5000);
    ck_assert_uint_gt(different_steps, 5000);
    ck_assert_uint_gt(moves_total, 0);
}
END_TEST

Suite *assignor_suite(void)
{
    Suite *s = suite_create("assignor");
    TCase *rules = tcase_create("rules");
    tcase_set_timeout(rules, 60);
    tcase_add_test(rules, test_even_spread);
    tcase_add_test(rules, test_join_moves_the_minimum);
    tcase_add_test(rules, test_leave_moves_only_its_partitions);
    tcase_add_test(rules, test_invalid_keys_dropped);
    tcase_add_test(rules, test_duplicates_resolved_to_the_earlier_member);
    tcase_add_test(rules, test_order_independent);
    tcase_add_test(rules, test_different_subscriptions);
    tcase_add_test(rules, test_topics_change);
    tcase_add_test(rules, test_target_cap_too_small);
    suite_add_tcase(s, rules);

    TCase *properties = tcase_create("properties");
    tcase_set_timeout(properties, 120);
    tcase_add_test(properties, test_large_group);
    tcase_add_test(properties, test_random_sequences);
    suite_add_tcase(s, properties);
    return s;
}
