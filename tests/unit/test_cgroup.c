/*
 * The coordinator's membership module (broker/cgroup.c), driven directly
 * with a fake topic table and a clock that is a plain integer: join, sync,
 * heartbeat and leave flows, generations, the incremental hand-over of
 * partitions, expiry, the failover hold, commit checks and limits. A
 * randomized run with a fixed seed plays simulated clients against the
 * module and checks after every step that no partition is consumed by two
 * clients at once, then that the group settles with every partition consumed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cgroup.h"
#include "wire/errors.h"
#include "suites.h"

/* ---- a fake topic table --------------------------------------------------------- */

struct fake_topic {
    const char *name;
    uint64_t id;
    uint32_t n_partitions;
    bool exists;
};

static struct fake_topic topics[] = {
    {"a", 10, 4, true},
    {"b", 20, 6, false}, /* created during some tests */
    {"c", 30, 8, true},
};

static bool fake_find(void *ctx, const char *name, size_t len, uint64_t *id, uint32_t *np)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (topics[i].exists && strlen(topics[i].name) == len && memcmp(topics[i].name, name, len) == 0) {
            *id = topics[i].id;
            *np = topics[i].n_partitions;
            return true;
        }
    return false;
}

static const char *fake_name_of(void *ctx, uint64_t id)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (topics[i].exists && topics[i].id == id)
            return topics[i].name;
    return NULL;
}

static uint64_t key(uint64_t topic_id, uint32_t p)
{
    return topic_id << 16 | p;
}

struct events {
    uint32_t joins, leaves, expiries, rebalances;
};

static void on_event(void *ctx, const struct cg_event *ev)
{
    struct events *e = ctx;
    if (ev->kind == CG_EVENT_JOIN)
        e->joins++;
    else if (ev->kind == CG_EVENT_LEAVE)
        e->leaves++;
    else if (ev->kind == CG_EVENT_EXPIRE)
        e->expiries++;
    else if (ev->kind == CG_EVENT_REBALANCE)
        e->rebalances++;
}

static struct events events;

static void setup_registry(struct cg_registry *r)
{
    topics[1].exists = false;
    struct cg_topics t = {NULL, fake_find, fake_name_of};
    cg_registry_init(r, 1, 300, &t);
    cg_registry_reset(r, 5, 0);
    memset(&events, 0, sizeof events);
    r->event_ctx = &events;
    r->on_event = on_event;
}

static const char *const sub_a[] = {"a"};
static const size_t sub_a_len[] = {1};
static const char *const sub_ab[] = {"a", "b"};
static const size_t sub_ab_len[] = {1, 1};

static struct cg_join join_req(const char *group, const uint64_t *owned, uint32_t n_owned)
{
    return (struct cg_join){.group = group, .group_len = strlen(group), .client_id = "host-1",
                            .client_id_len = 6, .topics = sub_a, .topic_lens = sub_a_len, .n_topics = 1,
                            .owned = owned, .n_owned = n_owned, .session_timeout_ms = 10000};
}

static struct cg_member *join(struct cg_registry *r, const char *group, uint64_t now)
{
    struct cg_join j = join_req(group, NULL, 0);
    struct cg_member *m = NULL;
    char why[256] = "";
    ck_assert_int_eq(cg_join(r, &j, now, &m, why, sizeof why), WIRE_OK);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* SYNC reporting `owned`; returns the effective count (keys in out if not NULL). */
static uint32_t sync_owned(struct cg_registry *r, const char *group, struct cg_member *m,
                           const uint64_t *owned, uint32_t n, uint64_t now, uint64_t *out)
{
    struct cg_member *got = NULL;
    char why[256] = "";
    char id[WIRE_MEMBER_ID_BYTES_MAX + 1];
    snprintf(id, sizeof id, "%s", m->id);
    ck_assert_int_eq(cg_sync(r, group, strlen(group), id, strlen(id), owned, n, now, &got, why, sizeof why),
                     WIRE_OK);
    ck_assert_ptr_eq(got, m);
    uint64_t eff[64];
    const struct cg_group *g = cg_group_find(r, group, strlen(group));
    uint32_t k = cg_effective(g, m, now, eff);
    if (out != NULL)
        memcpy(out, eff, k * sizeof(*eff));
    return k;
}

/* ---- flows ------------------------------------------------------------------------ */

/* A JOIN repeated with the same instance id (its answer was lost) gets the same member. */
START_TEST(test_repeated_join_gets_the_same_member)
{
    struct cg_registry r;
    setup_registry(&r);
    char why[256] = "";
    struct cg_join j = join_req("g", NULL, 0);
    j.instance_id = "c0ffee";
    j.instance_id_len = 6;
    struct cg_member *first = NULL, *again = NULL, *other = NULL;
    ck_assert_int_eq(cg_join(&r, &j, 0, &first, why, sizeof why), WIRE_OK);
    struct cg_group *g = cg_group_find(&r, "g", 1);
    uint64_t generation = g->generation;
    ck_assert_int_eq(cg_join(&r, &j, 50, &again, why, sizeof why), WIRE_OK);
    ck_assert_ptr_eq(again, first);
    ck_assert_uint_eq(g->n_members, 1);
    ck_assert_uint_eq(g->generation, generation);
    ck_assert_uint_eq(first->last_heard_ms, 50);
    ck_assert_uint_eq(first->generation_told, generation);
    ck_assert_uint_eq(cg_effective(g, first, 50, (uint64_t[8]){0}), 4);
    /* Another instance id, or none, is another member. */
    j.instance_id = "beef";
    j.instance_id_len = 4;
    ck_assert_int_eq(cg_join(&r, &j, 60, &other, why, sizeof why), WIRE_OK);
    ck_assert_ptr_ne(other, first);
    struct cg_join anonymous = join_req("g", NULL, 0);
    ck_assert_int_eq(cg_join(&r, &anonymous, 70, &other, why, sizeof why), WIRE_OK);
    ck_assert_int_eq(cg_join(&r, &anonymous, 80, &again, why, sizeof why), WIRE_OK);
    ck_assert_ptr_ne(again, other);
    ck_assert_uint_eq(g->n_members, 4);
    /* An instance id longer than a member id is refused. */
    char long_id[WIRE_MEMBER_ID_BYTES_MAX + 2];
    memset(long_id, 'x', sizeof long_id);
    j.instance_id = long_id;
    j.instance_id_len = sizeof long_id;
    ck_assert_int_eq(cg_join(&r, &j, 90, &other, why, sizeof why), WIRE_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(why, "instance_id"));
    cg_registry_free(&r);
}
END_TEST

START_TEST(test_join_sync_leave_flow)
{
    struct cg_registry r;
    setup_registry(&r);
    struct cg_member *a = join(&r, "g", 0);
    struct cg_group *g = cg_group_find(&r, "g", 1);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->generation, 2); /* created at 1, +1 for A's first target */
    ck_assert_uint_eq(a->generation_told, 2);
    ck_assert_uint_eq(a->n_target, 4);
    ck_assert_uint_eq(cg_pending(g, a, 0), 0);
    ck_assert_str_eq(a->id, "1-5-1");

    /* B joins: two partitions move, but A was told all four: B waits. */
    struct cg_member *b = join(&r, "g", 10);
    ck_assert_str_eq(b->id, "1-5-2");
    ck_assert_uint_eq(g->generation, 3);
    ck_assert_uint_eq(a->n_target, 2);
    ck_assert_uint_eq(b->n_target, 2);
    ck_assert_uint_eq(cg_pending(g, b, 10), 2);
    ck_assert_str_eq(cg_group_state(g, 10), "rebalancing");

    /* A's heartbeat shows the new generation; A syncs still owning all four. */
    uint64_t gen = 0;
    char why[256] = "";
    ck_assert_int_eq(cg_heartbeat(&r, "g", 1, a->id, strlen(a->id), 20, &gen, why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(gen, 3);
    uint64_t all[4] = {key(10, 0), key(10, 1), key(10, 2), key(10, 3)};
    uint64_t eff[4];
    ck_assert_uint_eq(sync_owned(&r, "g", a, all, 4, 20, eff), 2);
    ck_assert_uint_eq(a->n_owned, 4);
    ck_assert_uint_eq(cg_pending(g, b, 20), 2);
    ck_assert_str_eq(cg_group_state(g, 20), "rebalancing"); /* same generations, B still pending */
    /* A lets go of what it was not given; B then gets it. */
    ck_assert_uint_eq(sync_owned(&r, "g", a, eff, 2, 30, NULL), 2);
    ck_assert_uint_eq(cg_pending(g, b, 30), 0);
    uint64_t beff[4];
    ck_assert_uint_eq(sync_owned(&r, "g", b, NULL, 0, 40, beff), 2);
    ck_assert_uint_eq(sync_owned(&r, "g", b, beff, 2, 50, NULL), 2);
    ck_assert_str_eq(cg_group_state(g, 50), "stable");
    ck_assert_uint_eq(g->generation, 3); /* syncs and heartbeats change no target */

    /* B leaves: its partitions go back to A at once. */
    ck_assert_int_eq(cg_leave(&r, "g", 1, b->id, strlen(b->id), why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(g->n_members, 1);
    ck_assert_uint_eq(g->generation, 4);
    ck_assert_uint_eq(sync_owned(&r, "g", a, eff, 2, 60, NULL), 4);
    /* Leaving twice: unknown. */
    ck_assert_int_eq(cg_leave(&r, "g", 1, "1-5-2", 5, why, sizeof why), WIRE_ERR_UNKNOWN_MEMBER);
    ck_assert_ptr_nonnull(strstr(why, "join again"));
    ck_assert_int_eq(cg_leave(&r, "g", 1, a->id, strlen(a->id), why, sizeof why), WIRE_OK);
    ck_assert_ptr_null(cg_group_find(&r, "g", 1)); /* forgotten with its last member */
    ck_assert_int_eq(cg_heartbeat(&r, "g", 1, "1-5-1", 5, 70, &gen, why, sizeof why), WIRE_ERR_UNKNOWN_MEMBER);
    ck_assert_uint_eq(events.joins, 2);
    ck_assert_uint_eq(events.leaves, 2);
    ck_assert_uint_eq(events.rebalances, 3);
    cg_registry_free(&r);
}
END_TEST

START_TEST(test_sync_cannot_claim_what_was_not_given)
{
    struct cg_registry r;
    setup_registry(&r);
    struct cg_member *a = join(&r, "g", 0);
    struct cg_member *b = join(&r, "g", 0);
    /* B reports all of A's keys too: it keeps nothing it was not given. */
    uint64_t all[4] = {key(10, 0), key(10, 1), key(10, 2), key(10, 3)};
    ck_assert_uint_eq(sync_owned(&r, "g", b, all, 4, 1, NULL), 0);
    ck_assert_uint_eq(b->n_owned, 0);
    ck_assert_uint_eq(a->n_told, 4);
    cg_registry_free(&r);
}
END_TEST

START_TEST(test_join_claims_only_free_partitions)
{
    struct cg_registry r;
    setup_registry(&r);
    struct cg_member *a = join(&r, "g", 0); /* targets all four of a */
    uint64_t claims[3] = {key(10, 1), key(10, 1), key(99, 0)};
    struct cg_join j = join_req("g", claims, 3);
    struct cg_member *b = NULL;
    char why[256];
    ck_assert_int_eq(cg_join(&r, &j, 1, &b, why, sizeof why), WIRE_OK);
    /* a/1 belongs to A; the key of an unknown topic is free, and owned. */
    ck_assert_uint_eq(b->n_owned, 1);
    ck_assert_uint_eq(b->owned[0], key(99, 0));
    ck_assert_uint_eq(a->n_owned, 0);
    cg_registry_free(&r);
}
END_TEST

/* ---- incremental ----------------------------------------------------------------- */

START_TEST(test_join_takes_only_from_members_above_quota)
{
    struct cg_registry r;
    setup_registry(&r);
    const char *const sub_c[] = {"c"};
    const size_t sub_c_len[] = {1};
    struct cg_member *m[5];
    char why[256];
    for (int i = 0; i < 4; i++) {
        struct cg_join j = join_req("g", NULL, 0);
        j.topics = sub_c;
        j.topic_lens = sub_c_len;
        ck_assert_int_eq(cg_join(&r, &j, 0, &m[i], why, sizeof why), WIRE_OK);
    }
    uint64_t before[4][8];
    uint32_t n_before[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(m[i]->n_target, 2);
        n_before[i] = m[i]->n_target;
        memcpy(before[i], m[i]->target, n_before[i] * sizeof(uint64_t));
    }
    struct cg_group *g = cg_group_find(&r, "g", 1);
    uint64_t gen = g->generation;
    struct cg_join j = join_req("g", NULL, 0);
    j.topics = sub_c;
    j.topic_lens = sub_c_len;
    ck_assert_int_eq(cg_join(&r, &j, 0, &m[4], why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(g->generation, gen + 1);
    /* 8 partitions over 5: 1 or 2 each; every old member keeps a subset of what it had. */
    uint32_t total = m[4]->n_target, kept_whole = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert(m[i]->n_target == 1 || m[i]->n_target == 2);
        for (uint32_t k = 0; k < m[i]->n_target; k++) {
            bool had = false;
            for (uint32_t x = 0; x < n_before[i]; x++)
                had = had || before[i][x] == m[i]->target[k];
            ck_assert(had);
        }
        kept_whole += m[i]->n_target == n_before[i];
        total += m[i]->n_target;
    }
    ck_assert_uint_eq(total, 8);
    ck_assert(m[4]->n_target == 1 || m[4]->n_target == 2);
    ck_assert_uint_eq(kept_whole, 4 - m[4]->n_target); /* only what the newcomer got moved */
    cg_registry_free(&r);
}
END_TEST

/* ---- generations ------------------------------------------------------------------- */

START_TEST(test_generation_moves_only_when_a_target_changes)
{
    struct cg_registry r;
    setup_registry(&r);
    struct cg_member *a = join(&r, "g", 0);
    struct cg_group *g = cg_group_find(&r, "g", 1);
    ck_assert_uint_eq(g->generation, 2);
    /* A member subscribed to a topic that does not exist gets nothing: no change. */
    const char *const sub_x[] = {"x"};
    const size_t sub_x_len[] = {1};
    struct cg_join j = join_req("g", NULL, 0);
    j.topics = sub_x;
    j.topic_lens = sub_x_len;
    struct cg_member *x = NULL;
    char why[256];
    ck_assert_int_eq(cg_join(&r, &j, 1, &x, why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(x->n_target, 0);
    ck_assert_uint_eq(g->generation, 2);
    cg_rebalance_all(&r);
    ck_assert_uint_eq(g->generation, 2);
    uint64_t gen;
    ck_assert_int_eq(cg_heartbeat(&r, "g", 1, a->id, strlen(a->id), 2, &gen, why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(gen, 2);
    /* A topic appears that only A subscribes to as well: A's target grows. */
    struct cg_join jab = join_req("h", NULL, 0);
    jab.topics = sub_ab;
    jab.topic_lens = sub_ab_len;
    jab.n_topics = 2;
    struct cg_member *h = NULL;
    ck_assert_int_eq(cg_join(&r, &jab, 3, &h, why, sizeof why), WIRE_OK);
    struct cg_group *gh = cg_group_find(&r, "h", 1);
    ck_assert_uint_eq(h->n_target, 4);
    uint64_t hgen = gh->generation;
    topics[1].exists = true;
    cg_rebalance_all(&r);
    ck_assert_uint_eq(h->n_target, 10);
    ck_assert_uint_eq(gh->generation, hgen + 1);
    ck_assert_uint_eq(g->generation, 2); /* g does not subscribe to b */
    /* And a deletion shrinks it again. */
    topics[1].exists = false;
    cg_rebalance_all(&r);
    ck_assert_uint_eq(h->n_target, 4);
    ck_assert_uint_eq(gh->generation, hgen + 2);
    cg_registry_free(&r);
}
END_TEST

/* ---- expiry ------------------------------------------------------------------------ */

START_TEST(test_member_expires_after_session_timeout)
{
    struct cg_registry r;
    setup_registry(&r);
    struct cg_member *a = join(&r, "g", 0);
    struct cg_member *b = join(&r, "g", 0);
    struct cg_group *g = cg_group_find(&r, "g", 1);
    char why[256];
    uint64_t gen;
    char b_id[WIRE_MEMBER_ID_BYTES_MAX + 1];
    snprintf(b_id, sizeof b_id, "%s", b->id);
    /* A heartbeats, B does not. Exactly the timeout is not yet expiry. */
    ck_assert_int_eq(cg_heartbeat(&r, "g", 1, a->id, strlen(a->id), 6000, &gen, why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(cg_expire(&r, 10000), 0);
    ck_assert_uint_eq(g->n_members, 2);
    ck_assert_uint_eq(cg_expire(&r, 10001), 1);
    ck_assert_uint_eq(g->n_members, 1);
    ck_assert_uint_eq(events.expiries, 1);
    ck_assert_uint_eq(a->n_target, 4);
    ck_assert_int_eq(cg_heartbeat(&r, "g", 1, b_id, strlen(b_id), 10002, &gen, why, sizeof why),
                     WIRE_ERR_UNKNOWN_MEMBER);
    /* A's turn; the group goes with it. */
    ck_assert_uint_eq(cg_expire(&r, 16001), 1);
    ck_assert_ptr_null(cg_group_find(&r, "g", 1));
    ck_assert_uint_eq(r.n_groups, 0);
    cg_registry_free(&r);
}
END_TEST

/* ---- commits ----------------------------------------------------------------------- */

START_TEST(test_commit_checks)
{
    struct cg_registry r;
    setup_registry(&r);
    struct cg_member *a = join(&r, "g", 0);
    struct cg_member *b = join(&r, "g", 0);
    struct cg_group *g = cg_group_find(&r, "g", 1);
    char why[256] = "";
    /* A syncs releasing what moved to B. */
    uint64_t eff[4];
    uint32_t n = sync_owned(&r, "g", a, NULL, 0, 1, eff);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(a->generation_told, g->generation);
    uint64_t gen = g->generation;
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, a->id, strlen(a->id), gen, eff, 2, 2, why, sizeof why),
                     WIRE_OK);
    /* A stale generation is refused, with both numbers. */
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, a->id, strlen(a->id), gen - 1, eff, 2, 2, why, sizeof why),
                     WIRE_ERR_ILLEGAL_GENERATION);
    char expect[128];
    snprintf(expect, sizeof expect, "generation %llu is stale; the member is at %llu",
             (unsigned long long)(gen - 1), (unsigned long long)gen);
    ck_assert_str_eq(why, expect);
    /* A partition it does not own: B's. */
    uint64_t other = b->target[0];
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, a->id, strlen(a->id), gen, &other, 1, 2, why, sizeof why),
                     WIRE_ERR_ILLEGAL_GENERATION);
    snprintf(expect, sizeof expect, "a/%u is not owned by member %s in generation %llu",
             (unsigned)(other & 0xffff), a->id, (unsigned long long)gen);
    ck_assert_str_eq(why, expect);
    /* Unknown member. */
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, "9-9-9", 5, gen, eff, 1, 2, why, sizeof why),
                     WIRE_ERR_UNKNOWN_MEMBER);
    /* No member id: generation 0 only, and only while the group is empty. */
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, "", 0, 3, eff, 1, 2, why, sizeof why),
                     WIRE_ERR_INVALID_REQUEST);
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, "", 0, 0, eff, 1, 2, why, sizeof why),
                     WIRE_ERR_GROUP_NOT_EMPTY);
    ck_assert_ptr_nonnull(strstr(why, "2 active members"));
    ck_assert_int_eq(cg_check_commit(&r, "other", 5, "", 0, 0, eff, 1, 2, why, sizeof why), WIRE_OK);
    cg_registry_free(&r);
}
END_TEST

/* A member told a key may commit it before it reports it owned; once it moved
 * away and the member synced without it, the commit is refused. */
START_TEST(test_commit_after_revocation_refused)
{
    struct cg_registry r;
    setup_registry(&r);
    struct cg_member *a = join(&r, "g", 0);
    uint64_t all[4] = {key(10, 0), key(10, 1), key(10, 2), key(10, 3)};
    char why[256];
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, a->id, strlen(a->id), a->generation_told, all, 4, 1, why,
                                     sizeof why), WIRE_OK);
    struct cg_member *b = join(&r, "g", 2);
    (void)b;
    uint64_t eff[4];
    uint32_t n = sync_owned(&r, "g", a, all, 4, 3, eff);
    ck_assert_uint_eq(n, 2);
    /* Still owns all four (not released yet): a commit of all is fine. */
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, a->id, strlen(a->id), a->generation_told, all, 4, 4, why,
                                     sizeof why), WIRE_OK);
    ck_assert_uint_eq(sync_owned(&r, "g", a, eff, n, 5, NULL), 2);
    ck_assert_int_eq(cg_check_commit(&r, "g", 1, a->id, strlen(a->id), a->generation_told, all, 4, 6, why,
                                     sizeof why), WIRE_ERR_ILLEGAL_GENERATION);
    cg_registry_free(&r);
}
END_TEST

/* ---- failover hold --------------------------------------------------------------- */

START_TEST(test_failover_hold_withholds_unclaimed_partitions)
{
    struct cg_registry r;
    setup_registry(&r);
    cg_registry_reset(&r, 6, 1000); /* became coordinator at T0 = 1000 */
    uint64_t claim = key(10, 0);
    struct cg_join j = join_req("g", &claim, 1);
    j.group_has_offsets = true;
    struct cg_member *a = NULL;
    char why[256];
    ck_assert_int_eq(cg_join(&r, &j, 2000, &a, why, sizeof why), WIRE_OK);
    ck_assert_str_eq(a->id, "1-6-1");
    struct cg_group *g = cg_group_find(&r, "g", 1);
    ck_assert_uint_eq(g->handout_after_ms, 1000 + 10000 + 2 * 300);
    ck_assert_uint_eq(a->n_target, 4);
    uint64_t eff[4];
    ck_assert_uint_eq(cg_effective(g, a, 2000, eff), 1);
    ck_assert_uint_eq(eff[0], claim);
    ck_assert_uint_eq(cg_pending(g, a, 2000), 3);
    ck_assert_uint_eq(cg_pending(g, a, 11599), 3);
    ck_assert_uint_eq(sync_owned(&r, "g", a, &claim, 1, 11600, NULL), 4);
    ck_assert_uint_eq(cg_pending(g, a, 11600), 0);

    /* A group without committed offsets is not held. */
    struct cg_join j2 = join_req("fresh", NULL, 0);
    struct cg_member *f = NULL;
    ck_assert_int_eq(cg_join(&r, &j2, 2000, &f, why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(cg_group_find(&r, "fresh", 5)->handout_after_ms, 0);
    ck_assert_uint_eq(cg_pending(cg_group_find(&r, "fresh", 5), f, 2000), 0);
    /* Nor one created after the hold would have ended. */
    struct cg_join j3 = join_req("late", NULL, 0);
    j3.group_has_offsets = true;
    ck_assert_int_eq(cg_join(&r, &j3, 11600, &f, why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(cg_group_find(&r, "late", 4)->handout_after_ms, 0);
    cg_registry_free(&r);
}
END_TEST

/* After a coordinator change, members rejoin one by one claiming what they
 * consume: each keeps its partitions at once, even those the assignor had
 * meanwhile targeted at an earlier rejoiner (withheld from it by the hold). */
START_TEST(test_rejoining_members_keep_their_partitions)
{
    struct cg_registry r;
    setup_registry(&r);
    cg_registry_reset(&r, 6, 1000);
    uint64_t a_claims[2] = {key(10, 0), key(10, 1)};
    uint64_t b_claims[2] = {key(10, 2), key(10, 3)};
    struct cg_join ja = join_req("g", a_claims, 2);
    ja.group_has_offsets = true;
    struct cg_member *a = NULL, *b = NULL;
    char why[256];
    ck_assert_int_eq(cg_join(&r, &ja, 1100, &a, why, sizeof why), WIRE_OK);
    struct cg_group *g = cg_group_find(&r, "g", 1);
    ck_assert_uint_eq(a->n_target, 4);      /* the only member: everything */
    ck_assert_uint_eq(a->n_told, 2);        /* but b's two are held */
    ck_assert_uint_eq(cg_pending(g, a, 1100), 2);
    uint64_t gen = g->generation;
    struct cg_join jb = join_req("g", b_claims, 2);
    jb.group_has_offsets = true;
    ck_assert_int_eq(cg_join(&r, &jb, 1200, &b, why, sizeof why), WIRE_OK);
    ck_assert_uint_eq(b->n_owned, 2);
    ck_assert_uint_eq(b->n_told, 2);        /* b keeps t/2 and t/3 at once */
    ck_assert_uint_eq(a->n_target, 2);
    ck_assert_uint_eq(cg_pending(g, a, 1200), 0);
    ck_assert_uint_gt(g->generation, gen);  /* a's target changed */
    ck_assert_str_eq(cg_group_state(g, 1200), "rebalancing"); /* a was told an older generation */
    cg_registry_free(&r);
}
END_TEST

START_TEST(test_reset_forgets_everything)
{
    struct cg_registry r;
    setup_registry(&r);
    join(&r, "g", 0);
    join(&r, "h", 0);
    ck_assert_uint_eq(r.n_groups, 2);
    cg_registry_reset(&r, 7, 50);
    ck_assert_uint_eq(r.n_groups, 0);
    ck_assert_ptr_null(cg_group_find(&r, "g", 1));
    struct cg_member *m = join(&r, "g", 60);
    ck_assert_str_eq(m->id, "1-7-1"); /* a new term: ids never repeat */
    cg_registry_free(&r);
}
END_TEST

/* ---- validation and limits --------------------------------------------------------- */

START_TEST(test_join_validation_and_limits)
{
    struct cg_registry r;
    setup_registry(&r);
    r.groups_max = 2;
    r.members_max = 2;
    char why[256];
    struct cg_member *m;
    struct cg_join j = join_req("bad name", NULL, 0);
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(why, "group name"));
    j = join_req("g", NULL, 0);
    j.n_topics = 0;
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(why, "1..1024 topics"));
    const char *const bad_topic[] = {".."};
    const size_t bad_len[] = {2};
    j = join_req("g", NULL, 0);
    j.topics = bad_topic;
    j.topic_lens = bad_len;
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_INVALID_TOPIC_NAME);
    j = join_req("g", NULL, 0);
    j.session_timeout_ms = 999;
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_INVALID_REQUEST);
    ck_assert_str_eq(why, "session_timeout_ms 999 is outside 1000..300000");
    j.session_timeout_ms = 300001;
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_INVALID_REQUEST);
    j = join_req("g", NULL, 0);
    j.client_id = "a\nb";
    j.client_id_len = 3;
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_INVALID_REQUEST);
    ck_assert_uint_eq(r.n_groups, 0); /* nothing was created by refused joins */

    join(&r, "g", 0);
    join(&r, "g", 0);
    j = join_req("g", NULL, 0);
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_str_eq(why, "group g already has 2 members, its limit");
    join(&r, "h", 0);
    j = join_req("i", NULL, 0);
    ck_assert_int_eq(cg_join(&r, &j, 0, &m, why, sizeof why), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_str_eq(why, "this coordinator already has 2 groups, its limit");
    ck_assert_uint_eq(r.n_groups, 2);
    cg_registry_free(&r);
}
END_TEST

/* ---- randomized: never two consumers of one partition -------------------------------- */

#define SIM_CLIENTS 8
#define SIM_KEYS_MAX 64

struct sim_client {
    bool alive;
    bool orphan; /* its coordinator changed: still consuming, not a member until it rejoins */
    struct cg_member *m; /* valid while alive (the registry owns it) */
    char id[WIRE_MEMBER_ID_BYTES_MAX + 1];
    uint64_t consuming[SIM_KEYS_MAX];
    uint32_t n_consuming;
    uint64_t last_ok_ms;
};

static uint64_t sim_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A client takes its answer as it is: it stops consuming what is not in it, starts the rest. */
static void sim_take_answer(struct cg_registry *r, struct sim_client *c, uint64_t now)
{
    const struct cg_group *g = cg_group_find(r, "g", 1);
    c->n_consuming = cg_effective(g, c->m, now, c->consuming);
    /* What it was just told is exactly what the coordinator recorded. */
    ck_assert_uint_eq(c->n_consuming, c->m->n_told);
    c->last_ok_ms = now;
}

static void sim_check(const struct cg_registry *r, const struct sim_client *cl, uint64_t now)
{
    /* The state agrees with the per-member definition. */
    const struct cg_group *sg = cg_group_find(r, "g", 1);
    if (sg != NULL) {
        bool rebalancing = false;
        for (uint32_t i = 0; i < sg->n_members; i++)
            rebalancing = rebalancing || sg->members[i]->generation_told != sg->generation ||
                          cg_pending(sg, sg->members[i], now) != 0;
        ck_assert_str_eq(cg_group_state(sg, now), rebalancing ? "rebalancing" : "stable");
    }
    /* No key consumed by two clients. */
    for (int i = 0; i < SIM_CLIENTS; i++)
        for (int j = i + 1; j < SIM_CLIENTS; j++) {
            if ((!cl[i].alive && !cl[i].orphan) || (!cl[j].alive && !cl[j].orphan))
                continue;
            for (uint32_t x = 0; x < cl[i].n_consuming; x++)
                for (uint32_t y = 0; y < cl[j].n_consuming; y++)
                    ck_assert_msg(cl[i].consuming[x] != cl[j].consuming[y], "key %llx consumed twice",
                                  (unsigned long long)cl[i].consuming[x]);
        }
    /* Targets are disjoint. */
    const struct cg_group *g = cg_group_find(r, "g", 1);
    if (g == NULL)
        return;
    for (uint32_t i = 0; i < g->n_members; i++)
        for (uint32_t j = i + 1; j < g->n_members; j++)
            for (uint32_t x = 0; x < g->members[i]->n_target; x++)
                for (uint32_t y = 0; y < g->members[j]->n_target; y++)
                    ck_assert(g->members[i]->target[x] != g->members[j]->target[y]);
}

START_TEST(test_random_never_two_consumers)
{
    struct cg_registry r;
    setup_registry(&r);
    uint64_t seed = 0x5eed0001u + (uint64_t)_i * 7919u;
    uint32_t held_joins = 0;
    struct sim_client cl[SIM_CLIENTS];
    memset(cl, 0, sizeof cl);
    uint64_t now = 0;
    char why[256];
    for (int step = 0; step < 3000; step++) {
        now += 50;
        int i = (int)(sim_rand(&seed) % SIM_CLIENTS);
        struct sim_client *c = &cl[i];
        uint32_t action = (uint32_t)(sim_rand(&seed) % 100);
        if (!c->alive) {
            if (action < 30) {
                /* An orphan rejoins declaring what it consumes; others join with nothing. */
                struct cg_join j = join_req("g", c->consuming, c->orphan ? c->n_consuming : 0);
                c->orphan = false;
                j.topics = sub_ab;
                j.topic_lens = sub_ab_len;
                j.n_topics = 2;
                j.session_timeout_ms = 1000;
                /* Odd seeds: a group with committed offsets, held after each re-creation. */
                j.group_has_offsets = (_i & 1) != 0;
                ck_assert_int_eq(cg_join(&r, &j, now, &c->m, why, sizeof why), WIRE_OK);
                snprintf(c->id, sizeof c->id, "%s", c->m->id);
                c->alive = true;
                held_joins += now < cg_group_find(&r, "g", 1)->handout_after_ms;
                sim_take_answer(&r, c, now);
            }

        } else if (action < 60) {
            struct cg_member *got;
            ck_assert_int_eq(cg_sync(&r, "g", 1, c->id, strlen(c->id), c->consuming, c->n_consuming, now,
                                     &got, why, sizeof why), WIRE_OK);
            sim_take_answer(&r, c, now);
        } else if (action < 85) {
            uint64_t gen;
            ck_assert_int_eq(cg_heartbeat(&r, "g", 1, c->id, strlen(c->id), now, &gen, why, sizeof why),
                             WIRE_OK);
            c->last_ok_ms = now;
        } else if (action < 92) {
            /* A clean leave: it stops consuming first. */
            c->n_consuming = 0;
            ck_assert_int_eq(cg_leave(&r, "g", 1, c->id, strlen(c->id), why, sizeof why), WIRE_OK);
            c->alive = false;
        } else if (action < 96) {
            /* A crash: it stops consuming and goes silent; expiry removes it later. */
            c->n_consuming = 0;
            c->alive = false;
        } else if ((_i & 1) != 0 && action >= 98) {
            /* Odd seeds: the coordinator changes. Every member becomes an orphan
             * that keeps consuming until it rejoins or its session runs out. */
            cg_registry_reset(&r, r.term + 1, now);
            for (int k = 0; k < SIM_CLIENTS; k++)
                if (cl[k].alive) {
                    cl[k].alive = false;
                    cl[k].orphan = true;
                }
        } else {
            topics[1].exists = !topics[1].exists;
            cg_rebalance_all(&r);
        }
        /* An orphan that has not reached a coordinator for its session timeout stops. */
        for (int k = 0; k < SIM_CLIENTS; k++)
            if (cl[k].orphan && now - cl[k].last_ok_ms >= 1000) {
                cl[k].orphan = false;
                cl[k].n_consuming = 0;
            }
        /* Live clients that were silent too long lost their session on their own
         * side first (the client library does this), then the coordinator expires them. */
        for (int k = 0; k < SIM_CLIENTS; k++)
            if (cl[k].alive && now - cl[k].last_ok_ms >= 900) {
                uint64_t gen;
                ck_assert_int_eq(cg_heartbeat(&r, "g", 1, cl[k].id, strlen(cl[k].id), now, &gen, why,
                                              sizeof why), WIRE_OK);
                cl[k].last_ok_ms = now;
            }
        cg_expire(&r, now);
        sim_check(&r, cl, now);
    }
    if ((_i & 1) != 0)
        ck_assert_uint_gt(held_joins, 0); /* the hold was exercised */
    /* Liveness: once the crashed members expired, with everyone syncing, the
     * group settles and every partition is consumed exactly once. */
    for (int step = 0; step < 30; step++) {
        now += 50;
        for (int k = 0; k < SIM_CLIENTS; k++) {
            uint64_t gen;
            if (cl[k].alive)
                ck_assert_int_eq(cg_heartbeat(&r, "g", 1, cl[k].id, strlen(cl[k].id), now, &gen, why,
                                              sizeof why), WIRE_OK);
        }
        cg_expire(&r, now);
    }
    int live = 0;
    for (int k = 0; k < SIM_CLIENTS; k++)
        live += cl[k].alive;
    if (live == 0) {
        struct cg_join j = join_req("g", NULL, 0);
        j.topics = sub_ab;
        j.topic_lens = sub_ab_len;
        j.n_topics = 2;
        j.session_timeout_ms = 1000;
        ck_assert_int_eq(cg_join(&r, &j, now, &cl[0].m, why, sizeof why), WIRE_OK);
        snprintf(cl[0].id, sizeof cl[0].id, "%s", cl[0].m->id);
        cl[0].alive = true;
        sim_take_answer(&r, &cl[0], now);
    }
    for (int round = 0; round < 5; round++)
        for (int k = 0; k < SIM_CLIENTS; k++) {
            if (!cl[k].alive)
                continue;
            struct cg_member *got;
            now += 1;
            ck_assert_int_eq(cg_sync(&r, "g", 1, cl[k].id, strlen(cl[k].id), cl[k].consuming,
                                     cl[k].n_consuming, now, &got, why, sizeof why), WIRE_OK);
            sim_take_answer(&r, &cl[k], now);
            sim_check(&r, cl, now);
        }
    uint32_t consumed = 0;
    for (int k = 0; k < SIM_CLIENTS; k++)
        if (cl[k].alive)
            consumed += cl[k].n_consuming;
    ck_assert_uint_eq(consumed, 4 + (topics[1].exists ? 6 : 0));
    ck_assert_str_eq(cg_group_state(cg_group_find(&r, "g", 1), now), "stable");
    cg_registry_free(&r);
}
END_TEST

Suite *cgroup_suite(void)
{
    Suite *s = suite_create("cgroup");
    TCase *tc = tcase_create("cgroup");
    tcase_add_test(tc, test_join_sync_leave_flow);
    tcase_add_test(tc, test_repeated_join_gets_the_same_member);
    tcase_add_test(tc, test_sync_cannot_claim_what_was_not_given);
    tcase_add_test(tc, test_join_claims_only_free_partitions);
    tcase_add_test(tc, test_join_takes_only_from_members_above_quota);
    tcase_add_test(tc, test_generation_moves_only_when_a_target_changes);
    tcase_add_test(tc, test_member_expires_after_session_timeout);
    tcase_add_test(tc, test_commit_checks);
    tcase_add_test(tc, test_commit_after_revocation_refused);
    tcase_add_test(tc, test_failover_hold_withholds_unclaimed_partitions);
    tcase_add_test(tc, test_rejoining_members_keep_their_partitions);
    tcase_add_test(tc, test_reset_forgets_everything);
    tcase_add_test(tc, test_join_validation_and_limits);
    tcase_add_loop_test(tc, test_random_never_two_consumers, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}
