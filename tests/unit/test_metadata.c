/*
 * Tests broker/metadata.c: the metadata state machine that every broker
 * runs over the committed log of the metadata Raft group.
 *
 * How: ops are made the way the leader makes them (md_encode_create /
 * md_encode_delete against a state) and applied with md_apply at explicit
 * Raft indexes; the state is then read back through the lookups. Placement
 * is checked as properties over many (brokers, partitions, replication
 * factor) shapes rather than as fixed tables, except for one op whose bytes
 * are pinned (it is the worked example in docs/protocol.md). Hostile ops are
 * made by hand with wire_writer, by cutting valid ops at every length and by
 * flipping random bytes; each sits in a heap block of exactly its size so
 * ASan sees any read past the end, and a textual dump of the whole state
 * (topics and every group's committed offsets) proves that a failed apply
 * changed nothing. Commit-offsets ops are made with md_encode_commit_offsets
 * and checked through md_committed_offset and the group iteration; their
 * refusals, limits, the cleanup on topic delete and determinism over a
 * random log of creates, deletes and commits have their own cases.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata.h"
#include "tests/unit/suites.h"
#include "wire/errors.h"
#include "wire/mp.h"
#include "wire/validate.h"

/* ---- helpers --------------------------------------------------------------- */

#define ck_assert_err(actual, expected)                                                    \
    do {                                                                                   \
        int actual_ = (actual);                                                            \
        int expected_ = (expected);                                                        \
        ck_assert_msg(actual_ == expected_, "%s: got %s (%d), want %s (%d)", #actual,      \
                      wire_err_name(actual_), actual_, wire_err_name(expected_), expected_); \
    } while (0)

/* An assertion for hot loops: silent when it holds (ck_assert records every passing check). */
#define quiet_check(cond)                                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond);                          \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void *xmemdup(const void *src, size_t n)
{
    void *p = xmalloc(n);
    if (n > 0)
        memcpy(p, src, n);
    return p;
}

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

static struct wire_create_topic_req create_req(const char *name, uint32_t partitions, uint32_t rf)
{
    struct wire_create_topic_req req;
    memset(&req, 0, sizeof(req));
    req.name.ptr = (const uint8_t *)name;
    req.name.len = (uint32_t)strlen(name);
    req.partitions = partitions;
    req.replication_factor = rf;
    req.retention_ms = -1;
    req.retention_bytes = -1;
    return req;
}

/* An encoded op in a heap block of exactly its size. */
struct op {
    uint8_t *bytes;
    size_t len;
};

static struct op encode_create_req(const struct md_state *s,
                                   const struct wire_create_topic_req *req,
                                   const uint32_t *brokers, uint32_t n_brokers)
{
    size_t cap = md_op_bytes_max(req->partitions, req->replication_factor);
    uint8_t *buf = xmalloc(cap);
    size_t len = 0;
    char why[256];
    int err = md_encode_create(s, req, brokers, n_brokers, buf, cap, &len, why, sizeof(why));
    ck_assert_msg(err == WIRE_OK, "encode create: %s: %s", wire_err_name(err), why);
    ck_assert_str_eq(why, "");
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_le(len, cap);
    struct op op = {xmemdup(buf, len), len};
    free(buf);
    return op;
}

static struct op encode_create(const struct md_state *s, const char *name, uint32_t partitions,
                               uint32_t rf, const uint32_t *brokers, uint32_t n_brokers)
{
    struct wire_create_topic_req req = create_req(name, partitions, rf);
    return encode_create_req(s, &req, brokers, n_brokers);
}

static struct op encode_delete(const struct md_state *s, const char *name)
{
    uint8_t buf[MD_DELETE_OP_BYTES_MAX];
    size_t len = 0;
    char why[256];
    int err = md_encode_delete(s, name, strlen(name), buf, sizeof(buf), &len, why, sizeof(why));
    ck_assert_msg(err == WIRE_OK, "encode delete: %s: %s", wire_err_name(err), why);
    struct op op = {xmemdup(buf, len), len};
    return op;
}

static void op_free(struct op *op)
{
    free(op->bytes);
    op->bytes = NULL;
}

/* Applies an op that must be accepted (WIRE_OK with no refusal); returns the result. */
static struct md_apply_result apply_ok(struct md_state *s, uint64_t index, const struct op *op)
{
    struct md_apply_result res;
    int err = md_apply(s, index, op->bytes, op->len, &res);
    ck_assert_msg(err == WIRE_OK, "apply at %llu: %s: %s", (unsigned long long)index,
                  wire_err_name(err), res.why);
    ck_assert_msg(res.error == WIRE_OK, "apply at %llu refused: %s: %s",
                  (unsigned long long)index, wire_err_name(res.error), res.why);
    ck_assert_str_eq(res.why, "");
    ck_assert_uint_eq(s->applied_index, index);
    return res;
}

/* Creates a topic the leader's way and applies it at `index`. */
static const struct md_topic *create_topic(struct md_state *s, uint64_t index, const char *name,
                                           uint32_t partitions, uint32_t rf,
                                           const uint32_t *brokers, uint32_t n_brokers)
{
    struct op op = encode_create(s, name, partitions, rf, brokers, n_brokers);
    struct md_apply_result res = apply_ok(s, index, &op);
    op_free(&op);
    ck_assert_int_eq(res.kind, MD_OP_CREATE_TOPIC);
    ck_assert_ptr_nonnull(res.created);
    ck_assert_ptr_null(res.removed);
    return res.created;
}

/*
 * Everything observable about a state, as text: applied index, then every
 * topic in name order with all its fields. Also checks that the two lookups
 * agree with the iteration. The caller frees the string.
 */
static char *state_dump(const struct md_state *s)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    fprintf(f, "applied=%llu count=%u\n", (unsigned long long)s->applied_index, md_topic_count(s));
    for (uint32_t i = 0; i < md_topic_count(s); i++) {
        const struct md_topic *t = md_topic_at(s, i);
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_eq(md_find(s, t->name, t->name_len), t);
        ck_assert_ptr_eq(md_find_id(s, t->id), t);
        fprintf(f, "%llu %s %u %u %lld %lld:", (unsigned long long)t->id, t->name, t->n_partitions,
                t->replication_factor, (long long)t->retention_ms, (long long)t->retention_bytes);
        for (uint32_t p = 0; p < t->n_partitions; p++) {
            fputc(' ', f);
            for (uint32_t j = 0; j < t->partitions[p].n_replicas; j++)
                fprintf(f, "%s%u", j ? "," : "", t->partitions[p].replicas[j]);
        }
        fputc('\n', f);
    }
    ck_assert_ptr_null(md_topic_at(s, md_topic_count(s)));
    /* Checked with quiet_check: a passing ck_assert costs a write, and tables can be large. */
    fprintf(f, "groups=%u\n", md_offset_group_count(s));
    for (uint32_t i = 0; i < md_offset_group_count(s); i++) {
        const struct md_offset_group *g = md_offset_group_at(s, i);
        quiet_check(g != NULL);
        quiet_check(md_offset_group_find(s, g->name, g->name_len) == g);
        quiet_check(i == 0 || strcmp(md_offset_group_at(s, i - 1)->name, g->name) < 0);
        quiet_check(g->count > 0 && g->count <= MD_GROUP_OFFSETS_MAX && g->count <= g->cap);
        fprintf(f, "%s:", g->name);
        for (uint32_t k = 0; k < g->count; k++) {
            const struct md_committed *c = &g->offsets[k];
            if (k > 0) /* sorted and distinct */
                quiet_check(c[-1].topic_id < c->topic_id ||
                            (c[-1].topic_id == c->topic_id && c[-1].partition < c->partition));
            const struct md_topic *t = md_find_id(s, c->topic_id);
            quiet_check(t != NULL); /* no offsets of deleted topics */
            quiet_check(c->partition < t->n_partitions);
            quiet_check(c->offset <= (uint64_t)INT64_MAX);
            fprintf(f, " %llu/%u=%llu", (unsigned long long)c->topic_id, c->partition,
                    (unsigned long long)c->offset);
        }
        fputc('\n', f);
    }
    ck_assert_ptr_null(md_offset_group_at(s, md_offset_group_count(s)));
    ck_assert_int_eq(fclose(f), 0);
    return text;
}

/* Well-formedness of a topic as md_apply promises it. */
static void check_topic_well_formed(const struct md_topic *t)
{
    ck_assert(wire_topic_name_valid(t->name, t->name_len));
    ck_assert_uint_eq(strlen(t->name), t->name_len);
    ck_assert_uint_ge(t->id, 1);
    ck_assert_uint_le(t->id, MD_TOPIC_ID_MAX);
    ck_assert_uint_ge(t->n_partitions, 1);
    ck_assert_uint_le(t->n_partitions, WIRE_PARTITIONS_MAX);
    ck_assert_uint_ge(t->replication_factor, 1);
    ck_assert_uint_le(t->replication_factor, WIRE_REPLICAS_MAX);
    ck_assert(t->retention_ms == -1 || t->retention_ms > 0);
    ck_assert(t->retention_bytes == -1 || t->retention_bytes > 0);
    ck_assert_ptr_nonnull(t->partitions);
    for (uint32_t p = 0; p < t->n_partitions; p++) {
        const struct md_partition *part = &t->partitions[p];
        ck_assert_uint_eq(part->n_replicas, t->replication_factor);
        for (uint32_t j = 0; j < part->n_replicas; j++) {
            ck_assert_uint_ne(part->replicas[j], 0);
            for (uint32_t k = 0; k < j; k++)
                ck_assert_uint_ne(part->replicas[k], part->replicas[j]);
        }
    }
}

static const uint32_t three_brokers[] = {1, 2, 3};

/* ---- round trips ----------------------------------------------------------- */

START_TEST(test_empty_state)
{
    struct md_state s;
    md_init(&s);
    ck_assert_uint_eq(md_topic_count(&s), 0);
    ck_assert_uint_eq(s.applied_index, 0);
    ck_assert_ptr_null(md_find(&s, "a", 1));
    ck_assert_ptr_null(md_find(&s, "", 0));
    ck_assert_ptr_null(md_find_id(&s, 1));
    ck_assert_ptr_null(md_topic_at(&s, 0));
    md_free(&s);
    md_free(&s); /* freeing twice is harmless: md_free leaves an empty state */
}
END_TEST

START_TEST(test_create_find_iterate_delete)
{
    struct md_state s;
    md_init(&s);
    const struct md_topic *orders = create_topic(&s, 5, "orders", 3, 2, three_brokers, 3);
    const struct md_topic *audit = create_topic(&s, 9, "audit", 1, 1, three_brokers, 3);
    const struct md_topic *zeta = create_topic(&s, 12, "zeta.v2", 6, 3, three_brokers, 3);
    const struct md_topic *ord = create_topic(&s, 13, "order", 2, 1, three_brokers, 3);

    /* Ids are the Raft indexes of the creating ops. */
    ck_assert_uint_eq(orders->id, 5);
    ck_assert_uint_eq(audit->id, 9);
    ck_assert_uint_eq(zeta->id, 12);
    ck_assert_uint_eq(ord->id, 13);
    ck_assert_uint_eq(s.applied_index, 13);

    ck_assert_uint_eq(md_topic_count(&s), 4);
    ck_assert_ptr_eq(md_find(&s, "orders", 6), orders);
    ck_assert_ptr_eq(md_find(&s, "order", 5), ord);
    ck_assert_ptr_eq(md_find(&s, "orders", 5), ord); /* the length counts, not a NUL */
    ck_assert_ptr_null(md_find(&s, "orders2", 7));
    ck_assert_ptr_null(md_find(&s, "Orders", 6));
    ck_assert_ptr_eq(md_find_id(&s, 9), audit);
    ck_assert_ptr_null(md_find_id(&s, 10));
    ck_assert_ptr_null(md_find_id(&s, 0));

    /* Name order: bytes, a prefix first. */
    ck_assert_str_eq(md_topic_at(&s, 0)->name, "audit");
    ck_assert_str_eq(md_topic_at(&s, 1)->name, "order");
    ck_assert_str_eq(md_topic_at(&s, 2)->name, "orders");
    ck_assert_str_eq(md_topic_at(&s, 3)->name, "zeta.v2");
    ck_assert_ptr_null(md_topic_at(&s, 4));

    ck_assert_uint_eq(orders->n_partitions, 3);
    ck_assert_uint_eq(orders->replication_factor, 2);
    ck_assert_int_eq(orders->retention_ms, -1);
    ck_assert_int_eq(orders->retention_bytes, -1);
    check_topic_well_formed(orders);
    check_topic_well_formed(zeta);

    struct op del = encode_delete(&s, "orders");
    struct md_apply_result res = apply_ok(&s, 20, &del);
    op_free(&del);
    ck_assert_int_eq(res.kind, MD_OP_DELETE_TOPIC);
    ck_assert_ptr_null(res.created);
    ck_assert_ptr_eq(res.removed, orders); /* the same object, handed over */
    ck_assert_str_eq(res.removed->name, "orders");
    ck_assert_uint_eq(res.removed->id, 5);
    ck_assert_uint_eq(res.removed->n_partitions, 3);
    md_topic_free(res.removed);

    ck_assert_uint_eq(md_topic_count(&s), 3);
    ck_assert_ptr_null(md_find(&s, "orders", 6));
    ck_assert_ptr_null(md_find_id(&s, 5));
    ck_assert_ptr_eq(md_find(&s, "order", 5), ord);
    ck_assert_str_eq(md_topic_at(&s, 2)->name, "zeta.v2");

    /* The name is free again; the new topic gets a new id, never the old one. */
    const struct md_topic *again = create_topic(&s, 21, "orders", 1, 1, three_brokers, 3);
    ck_assert_uint_eq(again->id, 21);
    ck_assert_ptr_null(md_find_id(&s, 5));
    md_free(&s);
}
END_TEST

START_TEST(test_fields_round_trip)
{
    struct md_state s;
    md_init(&s);
    char name[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    memset(name, 'x', WIRE_TOPIC_NAME_BYTES_MAX);
    name[WIRE_TOPIC_NAME_BYTES_MAX] = '\0';
    struct wire_create_topic_req req = create_req(name, 4, 3);
    req.retention_ms = 604800000;
    req.retention_bytes = INT64_MAX;
    const uint32_t brokers[] = {7, 100, 4000000000u, UINT32_MAX};
    struct op op = encode_create_req(&s, &req, brokers, 4);
    struct md_apply_result res = apply_ok(&s, 3, &op);
    const struct md_topic *t = res.created;
    ck_assert_str_eq(t->name, name);
    ck_assert_uint_eq(t->name_len, WIRE_TOPIC_NAME_BYTES_MAX);
    ck_assert_int_eq(t->retention_ms, 604800000);
    ck_assert_int_eq(t->retention_bytes, INT64_MAX);
    check_topic_well_formed(t);
    for (uint32_t p = 0; p < t->n_partitions; p++)
        for (uint32_t j = 0; j < t->replication_factor; j++) {
            uint32_t id = t->partitions[p].replicas[j];
            ck_assert(id == 7 || id == 100 || id == 4000000000u || id == UINT32_MAX);
        }
    op_free(&op);
    md_free(&s);
}
END_TEST

START_TEST(test_group_ids)
{
    ck_assert_uint_eq(md_group_id(5, 0), 5u << 16);
    ck_assert_uint_eq(md_group_id(5, 3), (5u << 16) | 3);
    ck_assert_uint_eq(md_group_topic(md_group_id(MD_TOPIC_ID_MAX, 9999)), MD_TOPIC_ID_MAX);
    ck_assert_uint_eq(md_group_partition(md_group_id(MD_TOPIC_ID_MAX, 9999)), 9999);
    ck_assert_uint_eq(md_group_partition(md_group_id(1, WIRE_PARTITIONS_MAX - 1)),
                      WIRE_PARTITIONS_MAX - 1);
    /* Topic ids start at 1 (a Raft index), so no partition group is the metadata group 0. */
    ck_assert_uint_ne(md_group_id(1, 0), 0);
}
END_TEST

/* The op bytes are part of the on-disk metadata log: docs/protocol.md shows exactly these. */
START_TEST(test_pinned_op_bytes)
{
    struct md_state s;
    md_init(&s);
    struct op create = encode_create(&s, "t", 2, 2, three_brokers, 3);
    /* [1, 1, "t", 2, 2, -1, -1, [[1, 2], [2, 3]]] */
    static const uint8_t want_create[] = {0x98, 0x01, 0x01, 0xa1, 0x74, 0x02, 0x02, 0xff,
                                          0xff, 0x92, 0x92, 0x01, 0x02, 0x92, 0x02, 0x03};
    ck_assert_uint_eq(create.len, sizeof(want_create));
    ck_assert_mem_eq(create.bytes, want_create, sizeof(want_create));
    apply_ok(&s, 300, &create);

    struct op del = encode_delete(&s, "t");
    /* [1, 2, "t", 300] */
    static const uint8_t want_delete[] = {0x94, 0x01, 0x02, 0xa1, 0x74, 0xcd, 0x01, 0x2c};
    ck_assert_uint_eq(del.len, sizeof(want_delete));
    ck_assert_mem_eq(del.bytes, want_delete, sizeof(want_delete));
    op_free(&create);
    op_free(&del);
    md_free(&s);
}
END_TEST

/* ---- leader-side refusals -------------------------------------------------- */

START_TEST(test_encode_create_refusals)
{
    struct md_state s;
    md_init(&s);
    create_topic(&s, 1, "taken", 1, 1, three_brokers, 3);
    uint8_t buf[4096];
    size_t len = 123;
    char why[256];

    struct wire_create_topic_req req = create_req("new", 3, 4);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_INVALID_REPLICATION_FACTOR);
    ck_assert_str_eq(why, "replication factor 4 exceeds the 3 brokers in the cluster");
    ck_assert_uint_eq(len, 0);
    req = create_req("new", 3, 2);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 1, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_INVALID_REPLICATION_FACTOR);
    ck_assert_str_eq(why, "replication factor 2 exceeds the 1 broker in the cluster");

    req = create_req("taken", 1, 1);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_TOPIC_EXISTS);
    ck_assert_str_eq(why, "topic 'taken' already exists");

    /* wire_validate_create_topic runs first: its codes come through. */
    req = create_req("bad/name", 1, 1);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_INVALID_TOPIC_NAME);
    ck_assert_uint_gt(strlen(why), 0);
    req = create_req("ok", 0, 1);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_INVALID_PARTITIONS);
    req = create_req("ok", WIRE_PARTITIONS_MAX + 1, 1);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_INVALID_PARTITIONS);
    req = create_req("ok", 1, 0);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_INVALID_REPLICATION_FACTOR);
    req = create_req("ok", 1, 1);
    req.retention_ms = 0;
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, sizeof(buf), &len, why,
                                   sizeof(why)),
                  WIRE_ERR_INVALID_REQUEST);

    /* Too small a buffer is BUFFER_FULL, never an overrun. */
    req = create_req("ok", 100, 3);
    ck_assert_err(md_encode_create(&s, &req, three_brokers, 3, buf, 50, &len, why, sizeof(why)),
                  WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_gt(strlen(why), 0);
    /* The refusals changed nothing. */
    ck_assert_uint_eq(md_topic_count(&s), 1);
    md_free(&s);
}
END_TEST

/* md_op_bytes_max suffices for the largest op: longest name, largest ids and retentions. */
START_TEST(test_op_bytes_max_suffices)
{
    struct md_state s;
    md_init(&s);
    char name[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    memset(name, 'n', WIRE_TOPIC_NAME_BYTES_MAX);
    name[WIRE_TOPIC_NAME_BYTES_MAX] = '\0';
    uint32_t brokers[WIRE_REPLICAS_MAX];
    for (uint32_t i = 0; i < WIRE_REPLICAS_MAX; i++)
        brokers[i] = UINT32_MAX - WIRE_REPLICAS_MAX + 1 + i;
    struct wire_create_topic_req req = create_req(name, WIRE_PARTITIONS_MAX, WIRE_REPLICAS_MAX);
    req.retention_ms = INT64_MAX;
    req.retention_bytes = INT64_MAX;
    size_t cap = md_op_bytes_max(WIRE_PARTITIONS_MAX, WIRE_REPLICAS_MAX);
    uint8_t *buf = xmalloc(cap);
    size_t len;
    char why[256];
    ck_assert_err(md_encode_create(&s, &req, brokers, WIRE_REPLICAS_MAX, buf, cap, &len, why,
                                   sizeof(why)),
                  WIRE_OK);
    ck_assert_uint_le(len, cap);
    /* One byte less than the op needs is refused. */
    ck_assert_err(md_encode_create(&s, &req, brokers, WIRE_REPLICAS_MAX, buf, len - 1, &len, why,
                                   sizeof(why)),
                  WIRE_ERR_BUFFER_FULL);
    ck_assert_err(md_encode_create(&s, &req, brokers, WIRE_REPLICAS_MAX, buf, cap, &len, why,
                                   sizeof(why)),
                  WIRE_OK);
    struct md_apply_result res;
    ck_assert_err(md_apply(&s, MD_TOPIC_ID_MAX, buf, len, &res), WIRE_OK);
    ck_assert_err(res.error, WIRE_OK);
    check_topic_well_formed(res.created);
    ck_assert_uint_eq(res.created->id, MD_TOPIC_ID_MAX);
    free(buf);

    /* The delete op of the longest name and largest id fits MD_DELETE_OP_BYTES_MAX. */
    uint8_t del[MD_DELETE_OP_BYTES_MAX];
    ck_assert_err(md_encode_delete(&s, name, strlen(name), del, sizeof(del), &len, why,
                                   sizeof(why)),
                  WIRE_OK);
    ck_assert_uint_le(len, sizeof(del));
    md_free(&s);
}
END_TEST

START_TEST(test_encode_delete_refusals)
{
    struct md_state s;
    md_init(&s);
    create_topic(&s, 1, "here", 1, 1, three_brokers, 3);
    uint8_t buf[MD_DELETE_OP_BYTES_MAX];
    size_t len = 1;
    char why[256];
    ck_assert_err(md_encode_delete(&s, "gone", 4, buf, sizeof(buf), &len, why, sizeof(why)),
                  WIRE_ERR_UNKNOWN_TOPIC);
    ck_assert_str_eq(why, "topic 'gone' does not exist");
    ck_assert_uint_eq(len, 0);
    ck_assert_err(md_encode_delete(&s, "a b", 3, buf, sizeof(buf), &len, why, sizeof(why)),
                  WIRE_ERR_INVALID_TOPIC_NAME);
    ck_assert_err(md_encode_delete(&s, "", 0, buf, sizeof(buf), &len, why, sizeof(why)),
                  WIRE_ERR_INVALID_TOPIC_NAME);
    ck_assert_err(md_encode_delete(&s, "here", 4, buf, 5, &len, why, sizeof(why)),
                  WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(md_topic_count(&s), 1);
    md_free(&s);
}
END_TEST

/* ---- apply-time refusals (races between the leader's checks) --------------- */

START_TEST(test_duplicate_create_refused_at_apply)
{
    struct md_state s;
    md_init(&s);
    /* Both passed the leader's check against the same applied state. */
    struct op first = encode_create(&s, "dup", 2, 1, three_brokers, 3);
    struct op second = encode_create(&s, "dup", 5, 3, three_brokers, 3);
    apply_ok(&s, 10, &first);
    char *before = state_dump(&s);

    struct md_apply_result res;
    ck_assert_err(md_apply(&s, 11, second.bytes, second.len, &res), WIRE_OK);
    ck_assert_int_eq(res.kind, MD_OP_CREATE_TOPIC);
    ck_assert_err(res.error, WIRE_ERR_TOPIC_EXISTS);
    ck_assert_str_eq(res.why, "topic 'dup' already exists");
    ck_assert_ptr_null(res.created);
    ck_assert_ptr_null(res.removed);
    ck_assert_uint_eq(s.applied_index, 11); /* a refusal is still an applied entry */
    ck_assert_uint_eq(md_find(&s, "dup", 3)->id, 10);
    ck_assert_uint_eq(md_find(&s, "dup", 3)->n_partitions, 2); /* the first one won */
    char *after = state_dump(&s);
    /* Only the applied index moved. */
    ck_assert_str_eq(strchr(after, '\n'), strchr(before, '\n'));
    free(before);
    free(after);
    op_free(&first);
    op_free(&second);
    md_free(&s);
}
END_TEST

START_TEST(test_delete_races)
{
    struct md_state s;
    md_init(&s);
    create_topic(&s, 1, "t", 1, 1, three_brokers, 3);
    struct op del_a = encode_delete(&s, "t");
    struct op del_b = encode_delete(&s, "t");
    struct md_apply_result res = apply_ok(&s, 2, &del_a);
    md_topic_free(res.removed);

    /* The second delete of the same topic finds it gone. */
    ck_assert_err(md_apply(&s, 3, del_b.bytes, del_b.len, &res), WIRE_OK);
    ck_assert_int_eq(res.kind, MD_OP_DELETE_TOPIC);
    ck_assert_err(res.error, WIRE_ERR_UNKNOWN_TOPIC);
    ck_assert_ptr_null(res.removed);
    ck_assert_uint_eq(s.applied_index, 3);

    /* A stale delete (for id 1) must not remove a newer topic that took the name. */
    create_topic(&s, 4, "t", 3, 1, three_brokers, 3);
    ck_assert_err(md_apply(&s, 5, del_b.bytes, del_b.len, &res), WIRE_OK);
    ck_assert_err(res.error, WIRE_ERR_UNKNOWN_TOPIC);
    ck_assert_ptr_null(res.removed);
    ck_assert_ptr_nonnull(md_find(&s, "t", 1));
    ck_assert_uint_eq(md_find(&s, "t", 1)->id, 4);
    op_free(&del_a);
    op_free(&del_b);
    md_free(&s);
}
END_TEST

START_TEST(test_create_at_index_beyond_topic_ids)
{
    struct md_state s;
    md_init(&s);
    struct op op = encode_create(&s, "late", 1, 1, three_brokers, 3);
    struct md_apply_result res;
    ck_assert_err(md_apply(&s, MD_TOPIC_ID_MAX + 1, op.bytes, op.len, &res), WIRE_OK);
    ck_assert_err(res.error, WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_ptr_null(res.created);
    ck_assert_uint_eq(md_topic_count(&s), 0);
    ck_assert_uint_eq(s.applied_index, MD_TOPIC_ID_MAX + 1);
    op_free(&op);
    md_free(&s);
}
END_TEST

START_TEST(test_set_applied)
{
    struct md_state s;
    md_init(&s);
    md_set_applied(&s, 4); /* e.g. the leader's no-op entry */
    ck_assert_uint_eq(s.applied_index, 4);
    create_topic(&s, 6, "x", 1, 1, three_brokers, 3);
    ck_assert_uint_eq(s.applied_index, 6);
    md_free(&s);
}
END_TEST

/* Applying an index at or below applied_index is a caller bug: asserted. */
START_TEST(test_apply_out_of_order_asserts)
{
    struct md_state s;
    md_init(&s);
    struct op op = encode_create(&s, "x", 1, 1, three_brokers, 3);
    apply_ok(&s, 7, &op);
    struct md_apply_result res;
    md_apply(&s, 7, op.bytes, op.len, &res);
}
END_TEST

/* ---- placement ------------------------------------------------------------- */

/* Broker ids with gaps, so that an index/id mix-up shows. */
static void make_brokers(uint32_t *brokers, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        brokers[i] = 3 + i * 7 + (i * i) % 5;
}

static uint32_t index_of(const uint32_t *brokers, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (brokers[i] == id)
            return i;
    ck_abort_msg("replica %u is not a broker", id);
    return n;
}

static uint32_t spread(const uint32_t *counts, uint32_t n)
{
    uint32_t lo = counts[0], hi = counts[0];
    for (uint32_t i = 1; i < n; i++) {
        lo = counts[i] < lo ? counts[i] : lo;
        hi = counts[i] > hi ? counts[i] : hi;
    }
    return hi - lo;
}

/*
 * For every cluster size 1..12, every replication factor it allows and
 * partition counts 1..3n+2: replicas distinct and from the cluster, replica
 * and leader counts per broker within one topic differ by at most 1.
 */
START_TEST(test_placement_within_topic)
{
    for (uint32_t n = 1; n <= 12; n++) {
        uint32_t brokers[12];
        make_brokers(brokers, n);
        for (uint32_t rf = 1; rf <= n && rf <= WIRE_REPLICAS_MAX; rf++) {
            for (uint32_t partitions = 1; partitions <= 3 * n + 2; partitions++) {
                struct md_state s;
                md_init(&s);
                const struct md_topic *t = create_topic(&s, 1, "p", partitions, rf, brokers, n);
                check_topic_well_formed(t);
                uint32_t replicas[12] = {0}, leaders[12] = {0};
                for (uint32_t p = 0; p < partitions; p++) {
                    for (uint32_t j = 0; j < rf; j++)
                        replicas[index_of(brokers, n, t->partitions[p].replicas[j])]++;
                    leaders[index_of(brokers, n, t->partitions[p].replicas[0])]++;
                }
                ck_assert_msg(spread(replicas, n) <= 1, "replicas n=%u rf=%u partitions=%u", n,
                              rf, partitions);
                ck_assert_msg(spread(leaders, n) <= 1, "leaders n=%u rf=%u partitions=%u", n, rf,
                              partitions);
                md_free(&s);
            }
        }
    }
}
END_TEST

/* Over a sequence of topics of mixed shapes, preferred-leader counts stay balanced. */
START_TEST(test_placement_leaders_across_topics)
{
    rng_state = 0x5eed0001;
    for (uint32_t n = 1; n <= 9; n++) {
        uint32_t brokers[9];
        make_brokers(brokers, n);
        struct md_state s;
        md_init(&s);
        uint32_t leaders[9] = {0};
        for (uint32_t k = 0; k < 60; k++) {
            char name[32];
            snprintf(name, sizeof(name), "topic-%u", k);
            uint32_t partitions = 1 + rng_below(2 * n + 3);
            uint32_t rf_max = n < WIRE_REPLICAS_MAX ? n : WIRE_REPLICAS_MAX;
            uint32_t rf = 1 + rng_below(rf_max);
            const struct md_topic *t =
                create_topic(&s, 1 + k, name, partitions, rf, brokers, n);
            for (uint32_t p = 0; p < partitions; p++)
                leaders[index_of(brokers, n, t->partitions[p].replicas[0])]++;
            ck_assert_msg(spread(leaders, n) <= 1, "n=%u after topic %u", n, k);
        }
        md_free(&s);
    }
}
END_TEST

/* A placement is a function of the state: the same state and brokers give the same bytes. */
START_TEST(test_placement_deterministic_and_state_dependent)
{
    const uint32_t brokers[] = {2, 4, 6, 8};
    struct md_state a, b;
    md_init(&a);
    md_init(&b);
    create_topic(&a, 1, "first", 3, 2, brokers, 4);
    create_topic(&b, 1, "first", 3, 2, brokers, 4);
    struct op oa = encode_create(&a, "second", 5, 3, brokers, 4);
    struct op ob = encode_create(&b, "second", 5, 3, brokers, 4);
    ck_assert_uint_eq(oa.len, ob.len);
    ck_assert_mem_eq(oa.bytes, ob.bytes, oa.len);
    /* "first" led on 2, 4, 6, so "second" starts at 8. */
    const struct md_topic *t = apply_ok(&a, 2, &oa).created;
    ck_assert_uint_eq(t->partitions[0].replicas[0], 8);
    ck_assert_uint_eq(t->partitions[1].replicas[0], 2);
    op_free(&oa);
    op_free(&ob);
    md_free(&a);
    md_free(&b);
}
END_TEST

/* Leaders on brokers no longer listed are not counted; placement uses listed brokers only. */
START_TEST(test_placement_after_broker_list_change)
{
    const uint32_t old_brokers[] = {1, 2, 3};
    const uint32_t new_brokers[] = {2, 3, 4, 5};
    struct md_state s;
    md_init(&s);
    create_topic(&s, 1, "old", 6, 3, old_brokers, 3);
    const struct md_topic *t = create_topic(&s, 2, "new", 4, 2, new_brokers, 4);
    check_topic_well_formed(t);
    for (uint32_t p = 0; p < 4; p++)
        for (uint32_t j = 0; j < 2; j++)
            index_of(new_brokers, 4, t->partitions[p].replicas[j]);
    /* 4 and 5 lead nothing yet: the new topic starts at 4. */
    ck_assert_uint_eq(t->partitions[0].replicas[0], 4);
    md_free(&s);
}
END_TEST

/* ---- hostile ops ----------------------------------------------------------- */

/* A state with some topics, for hostile-input tests. */
static void populate(struct md_state *s)
{
    md_init(s);
    create_topic(s, 2, "alpha", 3, 3, three_brokers, 3);
    create_topic(s, 3, "beta", 1, 1, three_brokers, 3);
    create_topic(s, 4, "gamma", 2, 2, three_brokers, 3);
}

/*
 * Applies bytes that may be anything. On an error the state must be exactly
 * as before; on success the result must be well formed. Returns the error.
 */
static int apply_hostile(struct md_state *s, uint64_t index, const void *bytes, size_t len)
{
    uint8_t *copy = xmemdup(bytes, len);
    char *before = state_dump(s);
    uint32_t count = md_topic_count(s);
    struct md_apply_result res;
    int err = md_apply(s, index, copy, len, &res);
    if (err != WIRE_OK) {
        ck_assert_msg(wire_err_known(err), "unknown code %d", err);
        ck_assert_int_eq(res.kind, 0);
        ck_assert_ptr_null(res.created);
        ck_assert_ptr_null(res.removed);
        ck_assert_uint_gt(strlen(res.why), 0);
        char *after = state_dump(s);
        ck_assert_str_eq(after, before);
        free(after);
    } else {
        ck_assert_uint_eq(s->applied_index, index);
        ck_assert(res.kind == MD_OP_CREATE_TOPIC || res.kind == MD_OP_DELETE_TOPIC ||
                  res.kind == MD_OP_ALLOC_PRODUCER || res.kind == MD_OP_COMMIT_OFFSETS);
        if (res.kind == MD_OP_COMMIT_OFFSETS) {
            ck_assert_ptr_null(res.created);
            ck_assert_ptr_null(res.removed);
            ck_assert_uint_eq(md_topic_count(s), count);
            if (res.error != WIRE_OK) {
                ck_assert(res.error == WIRE_ERR_UNKNOWN_TOPIC ||
                          res.error == WIRE_ERR_UNKNOWN_PARTITION ||
                          res.error == WIRE_ERR_OFFSET_BACKWARDS ||
                          res.error == WIRE_ERR_LIMIT_EXCEEDED);
                ck_assert_uint_gt(strlen(res.why), 0);
                char *after = state_dump(s);
                /* Only the applied index may differ: compare from the second line on. */
                ck_assert_str_eq(strchr(after, '\n'), strchr(before, '\n'));
                free(after);
            }
        } else if (res.kind == MD_OP_ALLOC_PRODUCER) {
            ck_assert_int_eq(res.error, WIRE_OK);
            ck_assert_ptr_null(res.created);
            ck_assert_ptr_null(res.removed);
            ck_assert_uint_eq(md_topic_count(s), count);
        } else if (res.error != WIRE_OK) {
            ck_assert(res.error == WIRE_ERR_TOPIC_EXISTS || res.error == WIRE_ERR_UNKNOWN_TOPIC);
            ck_assert_ptr_null(res.created);
            ck_assert_ptr_null(res.removed);
            ck_assert_uint_eq(md_topic_count(s), count);
        } else if (res.kind == MD_OP_CREATE_TOPIC) {
            ck_assert_ptr_nonnull(res.created);
            check_topic_well_formed(res.created);
            ck_assert_uint_eq(res.created->id, index);
            ck_assert_uint_eq(md_topic_count(s), count + 1);
        } else {
            ck_assert_ptr_nonnull(res.removed);
            check_topic_well_formed(res.removed);
            ck_assert_ptr_null(md_find_id(s, res.removed->id));
            ck_assert_uint_eq(md_topic_count(s), count - 1);
            md_topic_free(res.removed);
        }
        free(state_dump(s)); /* the lookups still agree */
    }
    free(before);
    free(copy);
    return err;
}

/* A producer id allocation changes nothing but applied_index; its cuts are refused. */
START_TEST(test_alloc_producer_op)
{
    struct md_state s;
    populate(&s);
    uint8_t op[MD_ALLOC_PRODUCER_OP_BYTES];
    size_t len = 0;
    ck_assert_int_eq(md_encode_alloc_producer(op, 2, &len), WIRE_ERR_BUFFER_FULL);
    ck_assert_int_eq(md_encode_alloc_producer(op, sizeof op, &len), WIRE_OK);
    ck_assert_uint_eq(len, MD_ALLOC_PRODUCER_OP_BYTES);
    ck_assert_int_eq(apply_hostile(&s, 20, op, len), WIRE_OK);
    ck_assert_uint_eq(s.applied_index, 20);
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_ne(apply_hostile(&s, 21 + cut, op, cut), WIRE_OK);
    md_free(&s);
}
END_TEST

START_TEST(test_every_truncation_refused)
{
    struct md_state s;
    populate(&s);
    struct op ops[2] = {encode_create(&s, "delta", 4, 3, three_brokers, 3),
                        encode_delete(&s, "gamma")};
    uint64_t index = 10;
    for (int k = 0; k < 2; k++) {
        for (size_t cut = 0; cut < ops[k].len; cut++) {
            int err = apply_hostile(&s, index++, ops[k].bytes, cut);
            ck_assert_msg(err != WIRE_OK, "op %d cut at %zu was accepted", k, cut);
        }
        /* The whole op still applies afterwards. */
        ck_assert_err(apply_hostile(&s, index++, ops[k].bytes, ops[k].len), WIRE_OK);
        op_free(&ops[k]);
    }
    ck_assert_ptr_nonnull(md_find(&s, "delta", 5));
    ck_assert_ptr_null(md_find(&s, "gamma", 5));
    md_free(&s);
}
END_TEST

START_TEST(test_random_byte_flips)
{
    rng_state = 0xf11b5eedull;
    struct md_state s;
    populate(&s);
    struct op ops[3] = {encode_create(&s, "delta", 5, 3, three_brokers, 3),
                        encode_create(&s, "e", 1, 2, three_brokers, 3),
                        encode_delete(&s, "alpha")};
    uint64_t index = 10;
    uint32_t accepted = 0, refused = 0;
    for (uint32_t round = 0; round < 3000; round++) {
        const struct op *op = &ops[round % 3];
        uint8_t *bytes = xmemdup(op->bytes, op->len);
        uint32_t flips = 1 + rng_below(3);
        for (uint32_t f = 0; f < flips; f++)
            bytes[rng_below((uint32_t)op->len)] = (uint8_t)rng_next();
        if (apply_hostile(&s, index++, bytes, op->len) == WIRE_OK)
            accepted++;
        else
            refused++;
        free(bytes);
        /* Keep the state small and varied: start over now and then. */
        if (round % 50 == 49) {
            md_free(&s);
            populate(&s);
            index = 10;
        }
    }
    /* Both outcomes were exercised. */
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_gt(refused, 0);
    for (int k = 0; k < 3; k++)
        op_free(&ops[k]);
    md_free(&s);
}
END_TEST

/* Hand-made ops: a writer per shape. */
struct craft {
    uint8_t buf[1024];
    struct wire_writer w;
};

static void craft_begin(struct craft *c, uint32_t fields)
{
    wire_writer_init(&c->w, c->buf, sizeof(c->buf));
    wire_write_array(&c->w, fields);
}

/* Fills the elements an early error leaves unread, so the array count matches the bytes. */
static void craft_pad(struct craft *c, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        wire_write_nil(&c->w);
}

static int craft_apply(struct craft *c, struct md_state *s, uint64_t index)
{
    ck_assert_err(c->w.err, WIRE_OK);
    return apply_hostile(s, index, c->buf, c->w.len);
}

/* The fields of a hand-made create op; good_create() is a valid one to edit. */
struct create_fields {
    uint64_t version, kind;
    const char *name;
    uint64_t partitions, rf;
    int64_t retention_ms, retention_bytes;
    uint32_t assigned;              /* outer array count */
    uint32_t per_partition;         /* inner array count */
    uint64_t replicas[WIRE_REPLICAS_MAX]; /* the same replica list for every partition */
};

static struct create_fields good_create(void)
{
    struct create_fields f = {1, 1, "fresh", 2, 2, -1, -1, 2, 2, {1, 2}};
    return f;
}

static int apply_create_fields(struct md_state *s, uint64_t index, const struct create_fields *f,
                               uint32_t fields)
{
    struct craft c;
    craft_begin(&c, fields);
    wire_write_uint(&c.w, f->version);
    wire_write_uint(&c.w, f->kind);
    wire_write_str(&c.w, f->name, (uint32_t)strlen(f->name));
    wire_write_uint(&c.w, f->partitions);
    wire_write_uint(&c.w, f->rf);
    wire_write_int(&c.w, f->retention_ms);
    wire_write_int(&c.w, f->retention_bytes);
    wire_write_array(&c.w, f->assigned);
    for (uint32_t p = 0; p < f->assigned; p++) {
        wire_write_array(&c.w, f->per_partition);
        for (uint32_t j = 0; j < f->per_partition; j++)
            wire_write_uint(&c.w, f->replicas[j]);
    }
    /* Extra elements of a later format revision: any type, skipped. */
    for (uint32_t i = 8; i < fields; i++) {
        if (i % 2 == 0) {
            wire_write_map(&c.w, 1);
            wire_write_str(&c.w, "k", 1);
            wire_write_bin(&c.w, "v", 1);
        } else {
            wire_write_nil(&c.w);
        }
    }
    return craft_apply(&c, s, index);
}

START_TEST(test_crafted_create_ops)
{
    struct md_state s;
    populate(&s);
    uint64_t index = 10;
    struct create_fields f;

    f = good_create();
    f.version = 2;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_UNSUPPORTED_VERSION);
    f = good_create();
    f.version = 0;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_UNSUPPORTED_VERSION);
    f = good_create();
    f.kind = 5;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_UNKNOWN_TYPE);
    f = good_create();
    f.kind = 0;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_UNKNOWN_TYPE);
    f = good_create();
    ck_assert_err(apply_create_fields(&s, index++, &f, 7), WIRE_ERR_TRUNCATED);
    f = good_create();
    f.name = "no spaces";
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f.name = "..";
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f.name = "";
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    char long_name[WIRE_TOPIC_NAME_BYTES_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    f.name = long_name;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_LIMIT_EXCEEDED);
    f = good_create();
    f.partitions = 0;
    f.assigned = 0;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.partitions = WIRE_PARTITIONS_MAX + 1;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.rf = 0;
    f.per_partition = 0;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.rf = WIRE_REPLICAS_MAX + 1;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.retention_ms = 0;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.retention_bytes = -2;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.assigned = 3; /* more partitions assigned than declared */
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.assigned = 1;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.per_partition = 3; /* more replicas than the replication factor */
    f.replicas[2] = 3;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.per_partition = 1;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.replicas[1] = 0;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.replicas[1] = f.replicas[0];
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    f = good_create();
    f.replicas[1] = (uint64_t)UINT32_MAX + 1;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_ERR_BAD_VALUE);
    ck_assert_uint_eq(md_topic_count(&s), 3);
    ck_assert_ptr_null(md_find(&s, "fresh", 5));

    /* Extra trailing elements are skipped: these ops are valid. */
    f = good_create();
    ck_assert_err(apply_create_fields(&s, index++, &f, 11), WIRE_OK);
    ck_assert_ptr_nonnull(md_find(&s, "fresh", 5));
    ck_assert_uint_eq(md_find(&s, "fresh", 5)->id, index - 1);
    /* Replica ids need not be known brokers: placement is the leader's business. */
    f = good_create();
    f.name = "far";
    f.replicas[0] = UINT32_MAX;
    f.replicas[1] = 77;
    ck_assert_err(apply_create_fields(&s, index++, &f, 8), WIRE_OK);
    ck_assert_uint_eq(md_find(&s, "far", 3)->partitions[1].replicas[0], UINT32_MAX);
    md_free(&s);
}
END_TEST

START_TEST(test_crafted_framing)
{
    struct md_state s;
    populate(&s);
    uint64_t index = 10;
    struct craft c;

    /* Not an array at all; an empty array; only a version. */
    static const uint8_t empty_map[] = {0x80};
    ck_assert_err(apply_hostile(&s, index++, empty_map, sizeof(empty_map)), WIRE_ERR_BAD_TYPE);
    craft_begin(&c, 0);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_TRUNCATED);
    craft_begin(&c, 1);
    wire_write_uint(&c.w, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_TRUNCATED);
    /* Nothing: zero bytes. */
    ck_assert_err(apply_hostile(&s, index++, "", 0), WIRE_ERR_TRUNCATED);

    /* A count claiming four billion elements is refused before anything is sized by it. */
    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01};
    ck_assert_err(apply_hostile(&s, index++, huge, sizeof(huge)), WIRE_ERR_LIMIT_EXCEEDED);
    static const uint8_t huge_assignment[] = {0x98, 0x01, 0x01, 0xa1, 0x74, 0x02, 0x02, 0xff,
                                              0xff, 0xdd, 0x7f, 0xff, 0xff, 0xff};
    ck_assert_err(apply_hostile(&s, index++, huge_assignment, sizeof(huge_assignment)),
                  WIRE_ERR_LIMIT_EXCEEDED);

    /* Wrong types: version as a str, name as bin, partitions as a bool. */
    craft_begin(&c, 8);
    wire_write_str(&c.w, "1", 1);
    craft_pad(&c, 7);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);
    craft_begin(&c, 8);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 1);
    wire_write_bin(&c.w, "t", 1);
    craft_pad(&c, 5);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);
    craft_begin(&c, 8);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 1);
    wire_write_str(&c.w, "t", 1);
    wire_write_bool(&c.w, 1);
    craft_pad(&c, 4);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);

    /* Bytes after the op. */
    static const uint8_t trailing[] = {0x94, 0x01, 0x02, 0xa4, 'b', 'e', 't', 'a', 0x03, 0xc0};
    ck_assert_err(apply_hostile(&s, index++, trailing, sizeof(trailing)), WIRE_ERR_BAD_VALUE);
    /* Without them, the same delete applies. */
    ck_assert_err(apply_hostile(&s, index++, trailing, sizeof(trailing) - 1), WIRE_OK);
    ck_assert_ptr_null(md_find(&s, "beta", 4));

    /* An extra element nested too deep is TOO_DEEP, not a crash. */
    craft_begin(&c, 5);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 2);
    wire_write_str(&c.w, "gamma", 5);
    wire_write_uint(&c.w, 4);
    for (int i = 0; i < 40; i++)
        wire_write_array(&c.w, 1);
    wire_write_nil(&c.w);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_TOO_DEEP);

    /* Delete ops: id 0 and an id above MD_TOPIC_ID_MAX are not ids; a bad name is not a name. */
    craft_begin(&c, 4);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 2);
    wire_write_str(&c.w, "gamma", 5);
    wire_write_uint(&c.w, 0);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_begin(&c, 4);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 2);
    wire_write_str(&c.w, "gamma", 5);
    wire_write_uint(&c.w, MD_TOPIC_ID_MAX + 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_begin(&c, 4);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 2);
    wire_write_str(&c.w, "gam ma", 6);
    wire_write_uint(&c.w, 4);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_begin(&c, 3);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 2);
    wire_write_str(&c.w, "gamma", 5);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_TRUNCATED);
    ck_assert_ptr_nonnull(md_find(&s, "gamma", 5));
    /* A delete with the right id and an extra element applies. */
    craft_begin(&c, 5);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 2);
    wire_write_str(&c.w, "gamma", 5);
    wire_write_uint(&c.w, 4);
    wire_write_str(&c.w, "later field", 11);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_OK);
    ck_assert_ptr_null(md_find(&s, "gamma", 5));
    md_free(&s);
}
END_TEST

/* ---- committed offsets ----------------------------------------------------- */

/* populate() makes alpha (id 2, 3 partitions), beta (id 3, 1) and gamma (id 4, 2). */
enum { ALPHA = 2, BETA = 3, GAMMA = 4 };

static struct op encode_commit(const char *group, bool rewind, const struct md_committed *offsets,
                               uint32_t n)
{
    size_t cap = md_commit_op_bytes_max(n);
    uint8_t *buf = xmalloc(cap);
    size_t len = 0;
    char why[256];
    int err = md_encode_commit_offsets(group, strlen(group), rewind, offsets, n, buf, cap, &len,
                                       why, sizeof(why));
    ck_assert_msg(err == WIRE_OK, "encode commit: %s: %s", wire_err_name(err), why);
    ck_assert_str_eq(why, "");
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_le(len, cap);
    struct op op = {xmemdup(buf, len), len};
    free(buf);
    return op;
}

/*
 * Encodes and applies a commit at `index`; returns the apply-time refusal
 * (WIRE_OK if it took effect). A refused commit must leave the whole state
 * but applied_index as it was; `why` receives the sentence if not NULL.
 */
static int commit_why(struct md_state *s, uint64_t index, const char *group, bool rewind,
                      const struct md_committed *offsets, uint32_t n, char *why, size_t why_cap)
{
    struct op op = encode_commit(group, rewind, offsets, n);
    char *before = state_dump(s);
    struct md_apply_result res;
    ck_assert_err(md_apply(s, index, op.bytes, op.len, &res), WIRE_OK);
    ck_assert_int_eq(res.kind, MD_OP_COMMIT_OFFSETS);
    ck_assert_ptr_null(res.created);
    ck_assert_ptr_null(res.removed);
    ck_assert_uint_eq(s->applied_index, index);
    char *after = state_dump(s);
    if (res.error != WIRE_OK) {
        ck_assert_uint_gt(strlen(res.why), 0);
        ck_assert_str_eq(strchr(after, '\n'), strchr(before, '\n'));
    } else {
        ck_assert_str_eq(res.why, "");
        for (uint32_t i = 0; i < n; i++) { /* every offset took effect */
            uint64_t got = UINT64_MAX;
            quiet_check(md_committed_offset(s, group, strlen(group), offsets[i].topic_id,
                                            offsets[i].partition, &got));
            quiet_check(got == offsets[i].offset);
        }
    }
    if (why != NULL)
        snprintf(why, why_cap, "%s", res.why);
    free(before);
    free(after);
    op_free(&op);
    return res.error;
}

static int commit(struct md_state *s, uint64_t index, const char *group, bool rewind,
                  const struct md_committed *offsets, uint32_t n)
{
    return commit_why(s, index, group, rewind, offsets, n, NULL, 0);
}

/* The committed offset, or -1 when none. */
static int64_t committed(const struct md_state *s, const char *group, uint64_t topic_id,
                         uint32_t partition)
{
    uint64_t offset = 0;
    if (!md_committed_offset(s, group, strlen(group), topic_id, partition, &offset))
        return -1;
    return (int64_t)offset;
}

START_TEST(test_commit_round_trip)
{
    struct md_state s;
    populate(&s);
    ck_assert_uint_eq(md_offset_group_count(&s), 0);
    ck_assert_ptr_null(md_offset_group_find(&s, "g", 1));
    ck_assert_int_eq(committed(&s, "g", ALPHA, 0), -1);

    /* Listed out of order; stored sorted by (topic id, partition). */
    const struct md_committed first[] = {{GAMMA, 1, 7}, {ALPHA, 2, 30}, {ALPHA, 0, 10}};
    ck_assert_err(commit(&s, 10, "g", false, first, 3), WIRE_OK);
    ck_assert_uint_eq(md_offset_group_count(&s), 1);
    const struct md_offset_group *g = md_offset_group_find(&s, "g", 1);
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_eq(md_offset_group_at(&s, 0), g);
    ck_assert_str_eq(g->name, "g");
    ck_assert_uint_eq(g->name_len, 1);
    ck_assert_uint_eq(g->count, 3);
    ck_assert_uint_eq(g->offsets[0].topic_id, ALPHA);
    ck_assert_uint_eq(g->offsets[0].partition, 0);
    ck_assert_uint_eq(g->offsets[0].offset, 10);
    ck_assert_uint_eq(g->offsets[1].partition, 2);
    ck_assert_uint_eq(g->offsets[2].topic_id, GAMMA);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 1), -1);
    ck_assert_int_eq(committed(&s, "g", BETA, 0), -1);
    ck_assert_int_eq(committed(&s, "other", ALPHA, 0), -1);

    /* Known and new partitions in one commit: merged, the rest untouched. */
    const struct md_committed second[] = {{ALPHA, 1, 0}, {ALPHA, 0, 11}, {BETA, 0, 5}};
    ck_assert_err(commit(&s, 11, "g", false, second, 3), WIRE_OK);
    g = md_offset_group_find(&s, "g", 1);
    ck_assert_uint_eq(g->count, 5);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 0), 11);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 1), 0);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 2), 30);
    ck_assert_int_eq(committed(&s, "g", BETA, 0), 5);
    ck_assert_int_eq(committed(&s, "g", GAMMA, 1), 7);

    /* The largest offset round-trips. */
    const struct md_committed top[] = {{GAMMA, 0, (uint64_t)INT64_MAX}};
    ck_assert_err(commit(&s, 12, "g", false, top, 1), WIRE_OK);
    ck_assert_int_eq(committed(&s, "g", GAMMA, 0), INT64_MAX);
    md_free(&s);
}
END_TEST

/* The op bytes of docs/protocol.md's example. */
START_TEST(test_pinned_commit_bytes)
{
    const struct md_committed offsets[] = {{300, 1, 1000}};
    uint8_t buf[64];
    size_t len = 0;
    char why[128];
    ck_assert_err(md_encode_commit_offsets("g", 1, false, offsets, 1, buf, sizeof buf, &len, why,
                                           sizeof why),
                  WIRE_OK);
    static const uint8_t want[] = {0x95, 0x01, 0x04, 0xa1, 0x67, 0xc2, 0x91,
                                   0x93, 0xcd, 0x01, 0x2c, 0x01, 0xcd, 0x03, 0xe8};
    ck_assert_uint_eq(len, sizeof want);
    ck_assert_mem_eq(buf, want, sizeof want);
    ck_assert_err(md_encode_commit_offsets("g", 1, true, offsets, 1, buf, sizeof buf, &len, why,
                                           sizeof why),
                  WIRE_OK);
    ck_assert_uint_eq(buf[5], 0xc3);
}
END_TEST

START_TEST(test_commit_forward_only)
{
    struct md_state s;
    populate(&s);
    char why[160];
    const struct md_committed at100[] = {{ALPHA, 0, 100}, {ALPHA, 1, 100}};
    ck_assert_err(commit(&s, 10, "g", false, at100, 2), WIRE_OK);

    /* Below the committed one, without rewind: refused, naming both offsets. */
    const struct md_committed back[] = {{ALPHA, 1, 90}};
    ck_assert_err(commit_why(&s, 11, "g", false, back, 1, why, sizeof why),
                  WIRE_ERR_OFFSET_BACKWARDS);
    ck_assert_str_eq(why, "alpha/1: 90 is below the committed 100");
    ck_assert_int_eq(committed(&s, "g", ALPHA, 1), 100);

    /* Equal: fine, a no-op. Forward: fine. */
    const struct md_committed same[] = {{ALPHA, 1, 100}};
    ck_assert_err(commit(&s, 12, "g", false, same, 1), WIRE_OK);
    const struct md_committed forward[] = {{ALPHA, 1, 150}};
    ck_assert_err(commit(&s, 13, "g", false, forward, 1), WIRE_OK);

    /* All or nothing: one offset forward and one backwards change neither. */
    const struct md_committed mixed[] = {{ALPHA, 0, 500}, {ALPHA, 1, 149}, {BETA, 0, 1}};
    ck_assert_err(commit(&s, 14, "g", false, mixed, 3), WIRE_ERR_OFFSET_BACKWARDS);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 0), 100);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 1), 150);
    ck_assert_int_eq(committed(&s, "g", BETA, 0), -1);

    /* With rewind the same op applies, back and forth alike. */
    ck_assert_err(commit(&s, 15, "g", true, mixed, 3), WIRE_OK);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 0), 500);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 1), 149);
    const struct md_committed to_zero[] = {{ALPHA, 0, 0}};
    ck_assert_err(commit(&s, 16, "g", true, to_zero, 1), WIRE_OK);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 0), 0);

    /* Another group's offsets are its own. */
    const struct md_committed low[] = {{ALPHA, 1, 1}};
    ck_assert_err(commit(&s, 17, "h", false, low, 1), WIRE_OK);
    ck_assert_int_eq(committed(&s, "h", ALPHA, 1), 1);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 1), 149);
    md_free(&s);
}
END_TEST

START_TEST(test_commit_unknown_topic_or_partition)
{
    struct md_state s;
    populate(&s);
    char why[160];
    const struct md_committed base[] = {{BETA, 0, 3}};
    ck_assert_err(commit(&s, 10, "g", false, base, 1), WIRE_OK);

    const struct md_committed no_topic[] = {{ALPHA, 0, 1}, {99, 0, 1}};
    ck_assert_err(commit_why(&s, 11, "g", false, no_topic, 2, why, sizeof why),
                  WIRE_ERR_UNKNOWN_TOPIC);
    ck_assert_str_eq(why, "topic id 99 does not exist");
    const struct md_committed no_partition[] = {{BETA, 0, 9}, {ALPHA, 3, 1}};
    ck_assert_err(commit_why(&s, 12, "g", false, no_partition, 2, why, sizeof why),
                  WIRE_ERR_UNKNOWN_PARTITION);
    ck_assert_str_eq(why, "topic 'alpha' has no partition 3");
    const struct md_committed far[] = {{GAMMA, UINT32_MAX, 1}};
    ck_assert_err(commit(&s, 13, "g", false, far, 1), WIRE_ERR_UNKNOWN_PARTITION);
    /* A refused first commit does not create the group. */
    ck_assert_err(commit(&s, 14, "new", true, no_topic, 2), WIRE_ERR_UNKNOWN_TOPIC);
    ck_assert_ptr_null(md_offset_group_find(&s, "new", 3));
    ck_assert_uint_eq(md_offset_group_count(&s), 1);
    ck_assert_int_eq(committed(&s, "g", BETA, 0), 3);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 0), -1);
    md_free(&s);
}
END_TEST

START_TEST(test_delete_topic_drops_offsets)
{
    struct md_state s;
    populate(&s);
    const struct md_committed both[] = {{ALPHA, 0, 1}, {ALPHA, 2, 2}, {BETA, 0, 3}, {GAMMA, 1, 4}};
    const struct md_committed alpha_only[] = {{ALPHA, 1, 5}};
    ck_assert_err(commit(&s, 10, "g1", false, both, 4), WIRE_OK);
    ck_assert_err(commit(&s, 11, "g2", false, alpha_only, 1), WIRE_OK);
    ck_assert_err(commit(&s, 12, "g3", false, both + 2, 1), WIRE_OK);

    struct op del = encode_delete(&s, "alpha");
    struct md_apply_result res = apply_ok(&s, 13, &del);
    md_topic_free(res.removed);
    op_free(&del);
    free(state_dump(&s)); /* checks that no offset names a topic that is gone */

    /* g2 had only alpha's offsets: it is gone. g1 and g3 keep the others. */
    ck_assert_uint_eq(md_offset_group_count(&s), 2);
    ck_assert_ptr_null(md_offset_group_find(&s, "g2", 2));
    ck_assert_str_eq(md_offset_group_at(&s, 0)->name, "g1");
    ck_assert_str_eq(md_offset_group_at(&s, 1)->name, "g3");
    ck_assert_uint_eq(md_offset_group_find(&s, "g1", 2)->count, 2);
    ck_assert_int_eq(committed(&s, "g1", ALPHA, 0), -1);
    ck_assert_int_eq(committed(&s, "g1", BETA, 0), 3);
    ck_assert_int_eq(committed(&s, "g1", GAMMA, 1), 4);
    ck_assert_int_eq(committed(&s, "g3", BETA, 0), 3);

    /* A new topic of the same name has a new id and starts with nothing committed. */
    const struct md_topic *again = create_topic(&s, 14, "alpha", 3, 1, three_brokers, 3);
    ck_assert_uint_eq(again->id, 14);
    ck_assert_int_eq(committed(&s, "g1", 14, 0), -1);
    /* The old id is refused; the new one works. */
    ck_assert_err(commit(&s, 15, "g2", false, alpha_only, 1), WIRE_ERR_UNKNOWN_TOPIC);
    const struct md_committed renewed[] = {{14, 1, 0}};
    ck_assert_err(commit(&s, 16, "g2", false, renewed, 1), WIRE_OK);

    /* Deleting every topic leaves no group. */
    const char *names[] = {"alpha", "beta", "gamma"};
    uint64_t index = 17;
    for (int i = 0; i < 3; i++) {
        del = encode_delete(&s, names[i]);
        res = apply_ok(&s, index++, &del);
        md_topic_free(res.removed);
        op_free(&del);
    }
    ck_assert_uint_eq(md_offset_group_count(&s), 0);
    ck_assert_ptr_null(md_offset_group_at(&s, 0));
    md_free(&s);
}
END_TEST

START_TEST(test_groups_in_name_order)
{
    struct md_state s;
    populate(&s);
    /* Byte order: upper case before lower, a prefix before its extensions. */
    const char *names[] = {"b", "ab", "a", "B", "a-", "a.b", "zz", "_"};
    const char *sorted[] = {"B", "_", "a", "a-", "a.b", "ab", "b", "zz"};
    enum { N = sizeof(names) / sizeof(names[0]) };
    uint64_t index = 10;
    for (uint32_t i = 0; i < N; i++) {
        const struct md_committed one[] = {{BETA, 0, i}};
        ck_assert_err(commit(&s, index++, names[i], false, one, 1), WIRE_OK);
    }
    ck_assert_uint_eq(md_offset_group_count(&s), N);
    for (uint32_t i = 0; i < N; i++) {
        const struct md_offset_group *g = md_offset_group_at(&s, i);
        ck_assert_str_eq(g->name, sorted[i]);
        ck_assert_ptr_eq(md_offset_group_find(&s, sorted[i], strlen(sorted[i])), g);
    }
    ck_assert_ptr_null(md_offset_group_at(&s, N));
    ck_assert_int_eq(committed(&s, "a.b", BETA, 0), 5);
    /* Lookups of names no group can have. */
    ck_assert_ptr_null(md_offset_group_find(&s, "a", 0));
    ck_assert_ptr_null(md_offset_group_find(&s, NULL, 1));
    ck_assert_ptr_null(md_offset_group_find(&s, "abc", 3));
    ck_assert_ptr_null(md_offset_group_find(&s, "a-", 1 + WIRE_GROUP_NAME_BYTES_MAX));
    md_free(&s);
}
END_TEST

START_TEST(test_encode_commit_refusals)
{
    uint8_t buf[256];
    size_t len = 99;
    char why[160];
    const struct md_committed good[] = {{ALPHA, 0, 1}, {ALPHA, 1, 1}};
#define REFUSED(code, group, glen, offsets, n, cap)                                              \
    do {                                                                                     \
        len = 99;                                                                            \
        ck_assert_err(md_encode_commit_offsets(group, glen, false, offsets, n, buf, cap, &len, \
                                               why, sizeof why),                             \
                      code);                                                                 \
        ck_assert_uint_eq(len, 0);                                                           \
        ck_assert_uint_gt(strlen(why), 0);                                                   \
    } while (0)
    REFUSED(WIRE_ERR_INVALID_REQUEST, "", 0, good, 2, sizeof buf);
    REFUSED(WIRE_ERR_INVALID_REQUEST, NULL, 1, good, 2, sizeof buf);
    REFUSED(WIRE_ERR_INVALID_REQUEST, "a b", 3, good, 2, sizeof buf);
    REFUSED(WIRE_ERR_INVALID_REQUEST, "..", 2, good, 2, sizeof buf);
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, good, 0, sizeof buf);
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, NULL, 1, sizeof buf);
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, good, MD_GROUP_OFFSETS_MAX + 1, sizeof buf);
    const struct md_committed id0[] = {{0, 0, 1}};
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, id0, 1, sizeof buf);
    const struct md_committed id_big[] = {{MD_TOPIC_ID_MAX + 1, 0, 1}};
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, id_big, 1, sizeof buf);
    const struct md_committed offset_big[] = {{ALPHA, 0, (uint64_t)INT64_MAX + 1}};
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, offset_big, 1, sizeof buf);
    /* The same partition twice, adjacent or not, sorted or not. */
    const struct md_committed twice[] = {{ALPHA, 1, 1}, {BETA, 0, 1}, {ALPHA, 1, 2}};
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, twice, 3, sizeof buf);
    const struct md_committed twice_adjacent[] = {{ALPHA, 1, 1}, {ALPHA, 1, 1}};
    REFUSED(WIRE_ERR_INVALID_REQUEST, "g", 1, twice_adjacent, 2, sizeof buf);
    /* Too small a buffer, down to none. */
    REFUSED(WIRE_ERR_BUFFER_FULL, "g", 1, good, 2, 10);
    REFUSED(WIRE_ERR_BUFFER_FULL, "g", 1, good, 2, 0);
#undef REFUSED
    ck_assert_err(md_encode_commit_offsets("g", 1, false, good, 2, buf, sizeof buf, &len, why,
                                           sizeof why),
                  WIRE_OK);
    ck_assert_str_eq(why, "");
}
END_TEST

/* md_commit_op_bytes_max holds for the largest values and the longest name. */
START_TEST(test_commit_op_bytes_max_suffices)
{
    char group[WIRE_GROUP_NAME_BYTES_MAX + 1];
    memset(group, 'g', WIRE_GROUP_NAME_BYTES_MAX);
    group[WIRE_GROUP_NAME_BYTES_MAX] = '\0';
    const uint32_t counts[] = {1, 2, 17, 1000, MD_GROUP_OFFSETS_MAX};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        uint32_t n = counts[k];
        struct md_committed *offsets = xmalloc(n * sizeof(*offsets));
        for (uint32_t i = 0; i < n; i++)
            offsets[i] = (struct md_committed){MD_TOPIC_ID_MAX - n + i, UINT32_MAX,
                                               (uint64_t)INT64_MAX};
        size_t cap = md_commit_op_bytes_max(n), len = 0;
        uint8_t *buf = xmalloc(cap);
        char why[160];
        ck_assert_err(md_encode_commit_offsets(group, WIRE_GROUP_NAME_BYTES_MAX, true, offsets, n,
                                               buf, cap, &len, why, sizeof why),
                      WIRE_OK);
        ck_assert_uint_le(len, cap);
        free(buf);
        free(offsets);
    }
}
END_TEST

START_TEST(test_commit_limits)
{
    /* Offsets per group: 7 topics of WIRE_PARTITIONS_MAX partitions exceed MD_GROUP_OFFSETS_MAX. */
    ck_assert_uint_lt(MD_GROUP_OFFSETS_MAX, 7 * WIRE_PARTITIONS_MAX);
    struct md_state s;
    md_init(&s);
    const uint32_t one_broker[] = {1};
    uint64_t ids[7];
    for (uint32_t t = 0; t < 7; t++) {
        char name[8];
        snprintf(name, sizeof name, "t%u", t);
        ids[t] = create_topic(&s, 1 + t, name, WIRE_PARTITIONS_MAX, 1, one_broker, 1)->id;
    }
    struct md_committed *offsets = xmalloc(MD_GROUP_OFFSETS_MAX * sizeof(*offsets));
    for (uint32_t i = 0; i < MD_GROUP_OFFSETS_MAX; i++)
        offsets[i] =
            (struct md_committed){ids[i / WIRE_PARTITIONS_MAX], i % WIRE_PARTITIONS_MAX, i};
    uint64_t index = 100;
    ck_assert_err(commit(&s, index++, "full", false, offsets, MD_GROUP_OFFSETS_MAX), WIRE_OK);
    ck_assert_uint_eq(md_offset_group_find(&s, "full", 4)->count, MD_GROUP_OFFSETS_MAX);
    /* One more partition is refused, alone or with known ones. */
    struct md_committed more[2] = {{ids[6], WIRE_PARTITIONS_MAX - 1, 1}, offsets[0]};
    more[1].offset = 1000000;
    ck_assert_err(commit(&s, index++, "full", false, more, 2), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_int_eq(committed(&s, "full", offsets[0].topic_id, 0), 0);
    /* Known partitions still move. */
    ck_assert_err(commit(&s, index++, "full", false, &more[1], 1), WIRE_OK);
    /* Deleting a topic makes room again. */
    struct op del = encode_delete(&s, "t0");
    md_topic_free(apply_ok(&s, index++, &del).removed);
    op_free(&del);
    ck_assert_uint_eq(md_offset_group_find(&s, "full", 4)->count,
                      MD_GROUP_OFFSETS_MAX - WIRE_PARTITIONS_MAX);
    ck_assert_err(commit(&s, index++, "full", false, more, 1), WIRE_OK);
    free(offsets);
    md_free(&s);

    /* Groups: MD_OFFSET_GROUPS_MAX of them, then a new one is refused (an existing one is not). */
    md_init(&s);
    create_topic(&s, 1, "t", 1, 1, one_broker, 1);
    const struct md_committed one[] = {{1, 0, 5}};
    uint8_t buf[64];
    size_t len;
    index = 2;
    for (uint32_t i = 0; i < MD_OFFSET_GROUPS_MAX; i++) {
        char name[16];
        int name_len = snprintf(name, sizeof name, "g%06u", i); /* increasing: appends */
        quiet_check(md_encode_commit_offsets(name, (size_t)name_len, false, one, 1, buf,
                                             sizeof buf, &len, NULL, 0) == WIRE_OK);
        struct md_apply_result res;
        quiet_check(md_apply(&s, index++, buf, len, &res) == WIRE_OK);
        quiet_check(res.error == WIRE_OK);
    }
    ck_assert_uint_eq(md_offset_group_count(&s), MD_OFFSET_GROUPS_MAX);
    char why[160];
    ck_assert_err(commit_why(&s, index++, "another", false, one, 1, why, sizeof why),
                  WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_ptr_null(md_offset_group_find(&s, "another", 7));
    const struct md_committed later[] = {{1, 0, 6}};
    ck_assert_err(commit(&s, index++, "g000123", false, later, 1), WIRE_OK);
    md_free(&s);
}
END_TEST

START_TEST(test_commit_truncations_refused)
{
    struct md_state s;
    populate(&s);
    const struct md_committed offsets[] = {{ALPHA, 2, 1u << 20}, {BETA, 0, 3}, {GAMMA, 1, 300}};
    struct op op = encode_commit("group-1", true, offsets, 3);
    uint64_t index = 10;
    for (size_t cut = 0; cut < op.len; cut++) {
        int err = apply_hostile(&s, index++, op.bytes, cut);
        ck_assert_msg(err != WIRE_OK, "commit cut at %zu was accepted", cut);
    }
    ck_assert_uint_eq(md_offset_group_count(&s), 0);
    ck_assert_err(apply_hostile(&s, index++, op.bytes, op.len), WIRE_OK);
    ck_assert_int_eq(committed(&s, "group-1", ALPHA, 2), 1 << 20);
    op_free(&op);

    /* Random byte flips over commit ops, against a state that has offsets. */
    rng_state = 0xc0ffee11ull;
    uint32_t accepted = 0, refused = 0;
    for (uint32_t round = 0; round < 2000; round++) {
        op = encode_commit(round % 2 ? "g" : "group-1", round % 3 == 0, offsets, 3);
        uint32_t flips = 1 + rng_below(3);
        for (uint32_t f = 0; f < flips; f++)
            op.bytes[rng_below((uint32_t)op.len)] = (uint8_t)rng_next();
        if (apply_hostile(&s, index++, op.bytes, op.len) == WIRE_OK)
            accepted++;
        else
            refused++;
        op_free(&op);
    }
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_gt(refused, 0);
    md_free(&s);
}
END_TEST

/* Writes [1, 4, group, rewind] and the offsets array header; the caller writes the rest. */
static void craft_commit_head(struct craft *c, uint32_t fields, uint32_t n)
{
    craft_begin(c, fields);
    wire_write_uint(&c->w, 1);
    wire_write_uint(&c->w, MD_OP_COMMIT_OFFSETS);
    wire_write_str(&c->w, "g", 1);
    wire_write_bool(&c->w, 0);
    wire_write_array(&c->w, n);
}

static void craft_entry(struct craft *c, uint64_t topic_id, uint64_t partition, uint64_t offset)
{
    wire_write_array(&c->w, 3);
    wire_write_uint(&c->w, topic_id);
    wire_write_uint(&c->w, partition);
    wire_write_uint(&c->w, offset);
}

START_TEST(test_crafted_commit_ops)
{
    struct md_state s;
    populate(&s);
    uint64_t index = 10;
    struct craft c;

    /* Wrong types: group as bin, rewind as an int, offsets as a map, an entry as an int,
     * topic id as a str, offset negative. */
    craft_begin(&c, 5);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 4);
    wire_write_bin(&c.w, "g", 1);
    craft_pad(&c, 2);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);
    craft_begin(&c, 5);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 4);
    wire_write_str(&c.w, "g", 1);
    wire_write_uint(&c.w, 0);
    craft_pad(&c, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);
    craft_begin(&c, 5);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 4);
    wire_write_str(&c.w, "g", 1);
    wire_write_bool(&c.w, 1);
    wire_write_map(&c.w, 0);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);
    craft_commit_head(&c, 5, 1);
    wire_write_uint(&c.w, 7);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);
    craft_commit_head(&c, 5, 1);
    wire_write_array(&c.w, 3);
    wire_write_str(&c.w, "2", 1);
    craft_pad(&c, 2);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_TYPE);
    craft_commit_head(&c, 5, 1);
    wire_write_array(&c.w, 3);
    wire_write_uint(&c.w, ALPHA);
    wire_write_uint(&c.w, 0);
    wire_write_int(&c.w, -1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);

    /* Values out of range: topic id 0 or above MD_TOPIC_ID_MAX, a partition above 32 bits, an
     * offset above INT64_MAX, an invalid group name, no offsets at all. */
    craft_commit_head(&c, 5, 1);
    craft_entry(&c, 0, 0, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_commit_head(&c, 5, 1);
    craft_entry(&c, MD_TOPIC_ID_MAX + 1, 0, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_commit_head(&c, 5, 1);
    craft_entry(&c, ALPHA, (uint64_t)UINT32_MAX + 1, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_commit_head(&c, 5, 1);
    craft_entry(&c, ALPHA, 0, (uint64_t)INT64_MAX + 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_begin(&c, 5);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 4);
    wire_write_str(&c.w, "g g", 3);
    wire_write_bool(&c.w, 0);
    wire_write_array(&c.w, 1);
    craft_entry(&c, ALPHA, 0, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    craft_commit_head(&c, 5, 0);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    /* The same partition twice. */
    craft_commit_head(&c, 5, 3);
    craft_entry(&c, ALPHA, 1, 1);
    craft_entry(&c, BETA, 0, 1);
    craft_entry(&c, ALPHA, 1, 2);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_BAD_VALUE);
    /* Too few elements in the op or in an entry. */
    craft_begin(&c, 4);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 4);
    wire_write_str(&c.w, "g", 1);
    wire_write_bool(&c.w, 0);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_TRUNCATED);
    craft_commit_head(&c, 5, 1);
    wire_write_array(&c.w, 2);
    wire_write_uint(&c.w, ALPHA);
    wire_write_uint(&c.w, 0);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_TRUNCATED);
    /* A count claiming more entries than there are bytes, or than a group may have. */
    craft_commit_head(&c, 5, 60000);
    craft_entry(&c, ALPHA, 0, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_TRUNCATED);
    craft_commit_head(&c, 5, MD_GROUP_OFFSETS_MAX + 1);
    craft_entry(&c, ALPHA, 0, 1);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_uint_eq(md_offset_group_count(&s), 0);

    /* Extra elements, in the op and in an entry, are skipped (a later format revision). */
    craft_commit_head(&c, 6, 1);
    wire_write_array(&c.w, 4);
    wire_write_uint(&c.w, ALPHA);
    wire_write_uint(&c.w, 1);
    wire_write_uint(&c.w, 77);
    wire_write_str(&c.w, "metadata", 8);
    wire_write_map(&c.w, 0);
    ck_assert_err(craft_apply(&c, &s, index++), WIRE_OK);
    ck_assert_int_eq(committed(&s, "g", ALPHA, 1), 77);
    md_free(&s);
}
END_TEST

/*
 * Two states apply the same random log of creates, deletes and commits
 * (forward, backwards, rewinds, unknown ids and partitions, many groups) and
 * must hold identical tables and give identical results at every step.
 */
START_TEST(test_same_commits_same_table)
{
    rng_state = 0x0ff5e75ull;
    struct md_state a, b;
    md_init(&a);
    md_init(&b);
    uint64_t index = 0;
    uint32_t applied = 0, refused = 0;
    for (uint32_t step = 0; step < 1500; step++) {
        index += 1 + rng_below(2);
        struct op op;
        uint32_t choice = rng_below(10);
        char name[16];
        if (choice < 2) {
            snprintf(name, sizeof name, "t%u", rng_below(6));
            if (md_find(&a, name, strlen(name)) == NULL)
                op = encode_create(&a, name, 1 + rng_below(5), 1, three_brokers, 3);
            else
                op = encode_delete(&a, name);
        } else {
            snprintf(name, sizeof name, "grp%u", rng_below(12));
            struct md_committed offsets[8];
            uint32_t n = 0, want = 1 + rng_below(8);
            for (uint32_t k = 0; k < want; k++) {
                /* Mostly ids that exist (or existed lately), now and then one that never did. */
                uint64_t topic_id = index > 3 ? 1 + rng_below((uint32_t)index - 1) : 1;
                if (md_topic_count(&a) > 0 && rng_below(4) != 0)
                    topic_id = md_topic_at(&a, rng_below(md_topic_count(&a)))->id;
                struct md_committed cand = {topic_id, rng_below(6), rng_below(1000)};
                bool dup = false;
                for (uint32_t j = 0; j < n; j++)
                    dup = dup || (offsets[j].topic_id == cand.topic_id &&
                                  offsets[j].partition == cand.partition);
                if (!dup)
                    offsets[n++] = cand;
            }
            op = encode_commit(name, rng_below(5) == 0, offsets, n);
        }
        struct md_apply_result ra, rb;
        ck_assert_err(md_apply(&a, index, op.bytes, op.len, &ra), WIRE_OK);
        ck_assert_err(md_apply(&b, index, op.bytes, op.len, &rb), WIRE_OK);
        ck_assert_int_eq(ra.kind, rb.kind);
        ck_assert_int_eq(ra.error, rb.error);
        ck_assert_str_eq(ra.why, rb.why);
        if (ra.kind == MD_OP_COMMIT_OFFSETS) {
            if (ra.error == WIRE_OK)
                applied++;
            else
                refused++;
        }
        md_topic_free(ra.removed);
        md_topic_free(rb.removed);
        op_free(&op);
        char *da = state_dump(&a), *db = state_dump(&b);
        ck_assert_str_eq(da, db);
        free(da);
        free(db);
    }
    ck_assert_uint_gt(applied, 50);
    ck_assert_uint_gt(refused, 50);
    ck_assert_uint_gt(md_offset_group_count(&a), 0);
    md_free(&a);
    md_free(&b);
}
END_TEST

/* ---- determinism and scale ------------------------------------------------- */

/*
 * A leader makes a random log of creates and deletes (some of them stale
 * or duplicate, as after a leader change), with the broker list changing on
 * the way; two followers apply the log and must end up, op by op, with the
 * same results and the same state as the leader.
 */
START_TEST(test_same_log_same_state)
{
    rng_state = 0xde7e4a11ull;
    struct md_state leader, f1, f2;
    md_init(&leader);
    md_init(&f1);
    md_init(&f2);
    const uint32_t brokers_a[] = {1, 2, 3, 4, 5};
    const uint32_t brokers_b[] = {2, 3, 5, 9};
    struct op stale[8];
    uint32_t n_stale = 0;
    uint64_t index = 0;
    for (uint32_t step = 0; step < 400; step++) {
        index += 1 + rng_below(3); /* gaps: no-ops and config entries */
        const uint32_t *brokers = step < 200 ? brokers_a : brokers_b;
        uint32_t n = step < 200 ? 5 : 4;
        char name[16];
        snprintf(name, sizeof(name), "t%u", rng_below(40));
        struct op op = {NULL, 0};
        uint32_t choice = rng_below(10);
        if (choice < 2 && n_stale > 0) {
            op = stale[--n_stale]; /* an op checked against an older state */
        } else if (md_find(&leader, name, strlen(name)) == NULL) {
            op = encode_create(&leader, name, 1 + rng_below(12), 1 + rng_below(n), brokers, n);
        } else {
            op = encode_delete(&leader, name);
        }
        if (n_stale < 8 && rng_below(4) == 0)
            stale[n_stale++] = (struct op){xmemdup(op.bytes, op.len), op.len};

        struct md_apply_result r0, r1, r2;
        ck_assert_err(md_apply(&leader, index, op.bytes, op.len, &r0), WIRE_OK);
        ck_assert_err(md_apply(&f1, index, op.bytes, op.len, &r1), WIRE_OK);
        ck_assert_err(md_apply(&f2, index, op.bytes, op.len, &r2), WIRE_OK);
        ck_assert_int_eq(r0.kind, r1.kind);
        ck_assert_int_eq(r0.kind, r2.kind);
        ck_assert_int_eq(r0.error, r1.error);
        ck_assert_int_eq(r0.error, r2.error);
        ck_assert_str_eq(r0.why, r1.why);
        ck_assert_int_eq(r0.created != NULL, r1.created != NULL);
        ck_assert_int_eq(r0.removed != NULL, r2.removed != NULL);
        if (r0.removed != NULL) {
            ck_assert_uint_eq(r0.removed->id, r1.removed->id);
            ck_assert_str_eq(r0.removed->name, r2.removed->name);
        }
        md_topic_free(r0.removed);
        md_topic_free(r1.removed);
        md_topic_free(r2.removed);
        op_free(&op);

        char *d0 = state_dump(&leader), *d1 = state_dump(&f1), *d2 = state_dump(&f2);
        ck_assert_str_eq(d0, d1);
        ck_assert_str_eq(d0, d2);
        free(d0);
        free(d1);
        free(d2);
    }
    while (n_stale > 0)
        op_free(&stale[--n_stale]);
    ck_assert_uint_gt(md_topic_count(&leader), 0);
    md_free(&leader);
    md_free(&f1);
    md_free(&f2);
}
END_TEST

/* Thousands of topics: lookups, order and deletes stay right (a sanity run, not a timing test). */
START_TEST(test_two_thousand_topics)
{
    enum { TOPICS = 2000 };
    const uint32_t brokers[] = {1, 2, 3, 4, 5};
    struct md_state s;
    md_init(&s);
    rng_state = 0x2000;
    /* Names in a scrambled order so inserts land all over the name table. */
    for (uint32_t k = 0; k < TOPICS; k++) {
        char name[32];
        snprintf(name, sizeof(name), "topic-%05u", (k * 7919u) % TOPICS);
        create_topic(&s, 100 + k, name, 1 + k % 4, 1 + k % 3, brokers, 5);
    }
    ck_assert_uint_eq(md_topic_count(&s), TOPICS);
    uint32_t leaders[5] = {0};
    for (uint32_t i = 0; i < TOPICS; i++) {
        const struct md_topic *t = md_topic_at(&s, i);
        char name[32];
        snprintf(name, sizeof(name), "topic-%05u", i);
        ck_assert_str_eq(t->name, name);
        ck_assert_ptr_eq(md_find_id(&s, t->id), t);
        for (uint32_t p = 0; p < t->n_partitions; p++)
            leaders[t->partitions[p].replicas[0] - 1]++;
    }
    ck_assert_uint_le(spread(leaders, 5), 1);
    /* Delete every other topic by name order. */
    uint64_t index = 100 + TOPICS;
    for (uint32_t i = 0; i < TOPICS; i += 2) {
        char name[32];
        snprintf(name, sizeof(name), "topic-%05u", i);
        struct op del = encode_delete(&s, name);
        md_topic_free(apply_ok(&s, index++, &del).removed);
        op_free(&del);
    }
    ck_assert_uint_eq(md_topic_count(&s), TOPICS / 2);
    for (uint32_t i = 0; i < TOPICS / 2; i++) {
        char name[32];
        snprintf(name, sizeof(name), "topic-%05u", 2 * i + 1);
        ck_assert_str_eq(md_topic_at(&s, i)->name, name);
    }
    free(state_dump(&s));
    md_free(&s);
}
END_TEST

Suite *metadata_suite(void)
{
    Suite *s = suite_create("metadata");

    TCase *basics = tcase_create("basics");
    tcase_add_test(basics, test_empty_state);
    tcase_add_test(basics, test_create_find_iterate_delete);
    tcase_add_test(basics, test_fields_round_trip);
    tcase_add_test(basics, test_group_ids);
    tcase_add_test(basics, test_pinned_op_bytes);
    tcase_add_test(basics, test_set_applied);
    tcase_add_test_raise_signal(basics, test_apply_out_of_order_asserts, SIGABRT);
    suite_add_tcase(s, basics);

    TCase *refusals = tcase_create("refusals");
    tcase_add_test(refusals, test_encode_create_refusals);
    tcase_add_test(refusals, test_op_bytes_max_suffices);
    tcase_add_test(refusals, test_encode_delete_refusals);
    tcase_add_test(refusals, test_duplicate_create_refused_at_apply);
    tcase_add_test(refusals, test_delete_races);
    tcase_add_test(refusals, test_create_at_index_beyond_topic_ids);
    suite_add_tcase(s, refusals);

    TCase *placement = tcase_create("placement");
    tcase_set_timeout(placement, 60);
    tcase_add_test(placement, test_placement_within_topic);
    tcase_add_test(placement, test_placement_leaders_across_topics);
    tcase_add_test(placement, test_placement_deterministic_and_state_dependent);
    tcase_add_test(placement, test_placement_after_broker_list_change);
    suite_add_tcase(s, placement);

    TCase *hostile = tcase_create("hostile");
    tcase_set_timeout(hostile, 60);
    tcase_add_test(hostile, test_every_truncation_refused);
    tcase_add_test(hostile, test_alloc_producer_op);
    tcase_add_test(hostile, test_random_byte_flips);
    tcase_add_test(hostile, test_crafted_create_ops);
    tcase_add_test(hostile, test_crafted_framing);
    suite_add_tcase(s, hostile);

    TCase *scale = tcase_create("determinism_and_scale");
    tcase_set_timeout(scale, 120);
    tcase_add_test(scale, test_same_log_same_state);
    tcase_add_test(scale, test_two_thousand_topics);
    suite_add_tcase(s, scale);

    TCase *offsets = tcase_create("committed_offsets");
    tcase_set_timeout(offsets, 120);
    tcase_add_test(offsets, test_commit_round_trip);
    tcase_add_test(offsets, test_pinned_commit_bytes);
    tcase_add_test(offsets, test_commit_forward_only);
    tcase_add_test(offsets, test_commit_unknown_topic_or_partition);
    tcase_add_test(offsets, test_delete_topic_drops_offsets);
    tcase_add_test(offsets, test_groups_in_name_order);
    tcase_add_test(offsets, test_encode_commit_refusals);
    tcase_add_test(offsets, test_commit_op_bytes_max_suffices);
    tcase_add_test(offsets, test_commit_limits);
    tcase_add_test(offsets, test_commit_truncations_refused);
    tcase_add_test(offsets, test_crafted_commit_ops);
    tcase_add_test(offsets, test_same_commits_same_table);
    suite_add_tcase(s, offsets);
    return s;
}
