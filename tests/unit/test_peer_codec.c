/*
 * Tests of the peer codec (broker/peer_codec.c): every Raft message type,
 * with entries of every type in both group kinds, goes raft_msg -> peer_encode
 * -> wire_frame_decode -> peer_decode and must come back equal, also many
 * frames to one buffer; the hand-written APPEND encoder must produce the
 * same bytes as the generic frame encoder. Then bad input: entry types that
 * do not fit the group, zero ids, garbage configurations, more entries than
 * the caller's array, error responses, index overflow, every truncation of an
 * APPEND, and random bit flips (which must fail cleanly under ASan, or decode
 * into a message that re-encodes to itself). Then the encoder's own
 * refusals, PEER_STATUS, and four real Raft cores that elect, replicate,
 * install a snapshot and transfer leadership with every message crossing
 * the codec.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/peer_codec.h"
#include "suites.h"

#define ENTRIES_MAX 8192u

static uint8_t buf[4 * 1024 * 1024];
static uint8_t arena_mem[4 * 1024 * 1024];
static struct raft_entry decoded_entries[ENTRIES_MAX];

/* ---- helpers ------------------------------------------------------------------ */

static const uint8_t config_payload[] = {
    0, 0, 0, 3,                   /* three servers */
    0, 0, 0, 0, 0, 0, 0, 1, 0,    /* 1 voter */
    0, 0, 0, 0, 0, 0, 0, 2, 0,    /* 2 voter */
    0, 0, 0, 0, 0, 0, 0, 3, 1,    /* 3 learner */
};
static const char batch_payload[] = "\x9c\x01 a record batch stand-in";
static const char metadata_op_payload[] = "create topic orders";

/* An APPEND of one entry of each type the group kind allows, at index 11.., term 4. */
static struct raft_entry mixed_entries[3];

static struct raft_msg append_with_entries(void)
{
    mixed_entries[0] = (struct raft_entry){.term = 3, .index = 11, .type = RAFT_ENTRY_NOOP, .len = 0, .data = NULL};
    mixed_entries[1] = (struct raft_entry){.term = 4, .index = 12, .type = RAFT_ENTRY_CONFIG,
                                           .len = sizeof(config_payload), .data = config_payload};
    mixed_entries[2] = (struct raft_entry){.term = 4, .index = 13, .type = RAFT_ENTRY_DATA,
                                           .len = sizeof(batch_payload) - 1, .data = batch_payload};
    return (struct raft_msg){.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 4, .index = 10,
                             .log_term = 3, .commit = 9, .n_entries = 3, .entries = mixed_entries};
}

static void expect_msg_eq(const struct raft_msg *got, const struct raft_msg *want)
{
    ck_assert_uint_eq(got->type, want->type);
    ck_assert_int_eq(got->reject, want->reject);
    ck_assert_int_eq(got->transfer, want->transfer);
    ck_assert_uint_eq(got->from, want->from);
    ck_assert_uint_eq(got->to, want->to);
    ck_assert_uint_eq(got->term, want->term);
    ck_assert_uint_eq(got->index, want->index);
    ck_assert_uint_eq(got->log_term, want->log_term);
    ck_assert_uint_eq(got->commit, want->commit);
    ck_assert_uint_eq(got->hint_index, want->hint_index);
    ck_assert_uint_eq(got->hint_term, want->hint_term);
    ck_assert_uint_eq(got->n_entries, want->n_entries);
    for (uint32_t i = 0; i < want->n_entries; i++) {
        const struct raft_entry *g = &got->entries[i], *w = &want->entries[i];
        ck_assert_uint_eq(g->term, w->term);
        ck_assert_uint_eq(g->index, w->index);
        ck_assert_uint_eq(g->type, w->type);
        ck_assert_uint_eq(g->len, w->len);
        if (w->len > 0)
            ck_assert_int_eq(memcmp(g->data, w->data, w->len), 0);
    }
    ck_assert_uint_eq(got->snapshot.last_index, want->snapshot.last_index);
    ck_assert_uint_eq(got->snapshot.last_term, want->snapshot.last_term);
    ck_assert_uint_eq(got->snapshot.config.n, want->snapshot.config.n);
    for (uint32_t i = 0; i < want->snapshot.config.n; i++) {
        ck_assert_uint_eq(got->snapshot.config.servers[i].id, want->snapshot.config.servers[i].id);
        ck_assert_uint_eq(got->snapshot.config.servers[i].role, want->snapshot.config.servers[i].role);
    }
}

static size_t encode_one(uint64_t group, const struct raft_msg *m, const struct peer_snapshot_chunk *chunk)
{
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(peer_encode(&w, group, group == 0, m, chunk), WIRE_OK);
    ck_assert_uint_gt(w.len, 0);
    return w.len;
}

static void wire_decode_ok(const uint8_t *data, size_t len, struct wire_arena *arena, struct wire_frame *f,
                           size_t *consumed)
{
    char why[256];
    int rc = wire_frame_decode(data, len, arena, f, consumed, why, sizeof(why));
    ck_assert_msg(rc == WIRE_OK, "wire_frame_decode: %s", why);
}

/* Decodes buf[0..len) as one frame; returns peer_decode's result. */
static int decode_one(size_t len, struct wire_frame *f, struct raft_msg *m, uint64_t *group,
                      struct peer_snapshot_chunk *chunk, char *why, size_t why_cap)
{
    struct wire_arena arena;
    size_t consumed = 0;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    wire_decode_ok(buf, len, &arena, f, &consumed);
    ck_assert_uint_eq(consumed, len);
    return peer_decode(f, m, decoded_entries, ENTRIES_MAX, group, chunk, why, why_cap);
}

/* Encodes a hand-made frame into buf (for inputs peer_encode refuses to make). */
static size_t encode_frame(const struct wire_frame *f)
{
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(wire_frame_encode(&w, f), WIRE_OK);
    return w.len;
}

static void request_frame(struct wire_frame *f, uint32_t type)
{
    memset(f, 0, sizeof(*f));
    f->version = WIRE_PROTOCOL_VERSION;
    f->type = type;
}

/* ---- round trips ------------------------------------------------------------------ */

struct case_msg {
    uint64_t group;
    struct raft_msg m;
    const struct peer_snapshot_chunk *chunk;
    uint32_t wire_type;
};

static const struct peer_snapshot_chunk some_chunk = {
    .offset = 4096, .data = {(const uint8_t *)"snapshot bytes", 14}, .done = false};

/* One message of every type (and variant), in both group kinds where it matters. */
static size_t build_cases(struct case_msg *c)
{
    size_t n = 0;
    struct raft_msg app = append_with_entries();
    c[n++] = (struct case_msg){7, app, NULL, WIRE_APPEND_ENTRIES};
    /* In the metadata group, DATA is a metadata operation. */
    static struct raft_entry meta_entries[2];
    meta_entries[0] = (struct raft_entry){.term = 2, .index = 6, .type = RAFT_ENTRY_DATA,
                                          .len = sizeof(metadata_op_payload) - 1, .data = metadata_op_payload};
    meta_entries[1] = (struct raft_entry){.term = 2, .index = 7, .type = RAFT_ENTRY_CONFIG,
                                          .len = sizeof(config_payload), .data = config_payload};
    c[n++] = (struct case_msg){0,
                               {.type = RAFT_MSG_APPEND, .from = 3, .to = 1, .term = 2, .index = 5,
                                .log_term = 1, .commit = 5, .n_entries = 2, .entries = meta_entries},
                               NULL, WIRE_APPEND_ENTRIES};
    /* A heartbeat: no entries, prev 0. */
    c[n++] = (struct case_msg){9, {.type = RAFT_MSG_APPEND, .from = 1, .to = 3, .term = 1}, NULL,
                               WIRE_APPEND_ENTRIES};
    c[n++] = (struct case_msg){7, {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = 4, .index = 13},
                               NULL, WIRE_APPEND_ENTRIES_RESP};
    c[n++] = (struct case_msg){7,
                               {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = 4, .reject = true,
                                .index = 10, .hint_index = 8, .hint_term = 2},
                               NULL, WIRE_APPEND_ENTRIES_RESP};
    c[n++] = (struct case_msg){0, {.type = RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 5, .index = 12, .log_term = 4},
                               NULL, WIRE_REQUEST_VOTE};
    c[n++] = (struct case_msg){7,
                               {.type = RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 5, .index = 12, .log_term = 4,
                                .transfer = true},
                               NULL, WIRE_REQUEST_VOTE};
    c[n++] = (struct case_msg){7, {.type = RAFT_MSG_PREVOTE, .from = 3, .to = 2, .term = 6, .index = 12, .log_term = 4},
                               NULL, WIRE_REQUEST_VOTE};
    c[n++] = (struct case_msg){7, {.type = RAFT_MSG_VOTE_RESP, .from = 1, .to = 3, .term = 5}, NULL,
                               WIRE_REQUEST_VOTE_RESP};
    c[n++] = (struct case_msg){7, {.type = RAFT_MSG_VOTE_RESP, .from = 1, .to = 3, .term = 6, .reject = true}, NULL,
                               WIRE_REQUEST_VOTE_RESP};
    c[n++] = (struct case_msg){7, {.type = RAFT_MSG_PREVOTE_RESP, .from = 2, .to = 3, .term = 6}, NULL,
                               WIRE_REQUEST_VOTE_RESP};
    c[n++] = (struct case_msg){7, {.type = RAFT_MSG_PREVOTE_RESP, .from = 2, .to = 3, .term = 5, .reject = true},
                               NULL, WIRE_REQUEST_VOTE_RESP};
    struct raft_msg snap = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 4, .term = 4,
                            .snapshot = {.last_index = 500, .last_term = 4}};
    snap.snapshot.config.n = 4;
    snap.snapshot.config.servers[0] = (struct raft_server){1, RAFT_VOTER};
    snap.snapshot.config.servers[1] = (struct raft_server){2, RAFT_VOTER};
    snap.snapshot.config.servers[2] = (struct raft_server){3, RAFT_VOTER};
    snap.snapshot.config.servers[3] = (struct raft_server){4, RAFT_LEARNER};
    c[n++] = (struct case_msg){7, snap, &some_chunk, WIRE_INSTALL_SNAPSHOT};
    c[n++] = (struct case_msg){0, snap, NULL, WIRE_INSTALL_SNAPSHOT};
    c[n++] = (struct case_msg){7, {.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = 4}, NULL,
                               WIRE_TIMEOUT_NOW};
    /* The largest node id the wire carries. */
    c[n++] = (struct case_msg){UINT64_MAX,
                               {.type = RAFT_MSG_TIMEOUT_NOW, .from = UINT32_MAX, .to = 1, .term = UINT64_MAX},
                               NULL, WIRE_TIMEOUT_NOW};
    return n;
}

static void expect_chunk(const struct case_msg *c, const struct peer_snapshot_chunk *got)
{
    if (c->m.type != RAFT_MSG_SNAPSHOT)
        return;
    if (c->chunk == NULL) {
        ck_assert_uint_eq(got->offset, 0);
        ck_assert_uint_eq(got->data.len, 0);
        ck_assert(got->done);
        return;
    }
    ck_assert_uint_eq(got->offset, c->chunk->offset);
    ck_assert_uint_eq(got->data.len, c->chunk->data.len);
    ck_assert_int_eq(memcmp(got->data.ptr, c->chunk->data.ptr, c->chunk->data.len), 0);
    ck_assert_int_eq(got->done, c->chunk->done);
}

START_TEST(every_message_type_round_trips)
{
    struct case_msg cases[32];
    size_t n = build_cases(cases);
    for (size_t i = 0; i < n; i++) {
        size_t len = encode_one(cases[i].group, &cases[i].m, cases[i].chunk);
        struct wire_frame f;
        struct raft_msg m;
        uint64_t group = 12345;
        struct peer_snapshot_chunk chunk = {99, {NULL, 0}, false};
        char why[256] = "unset";
        int rc = decode_one(len, &f, &m, &group, &chunk, why, sizeof(why));
        ck_assert_msg(rc == WIRE_OK, "case %zu: %s", i, why);
        ck_assert_str_eq(why, "");
        ck_assert_uint_eq(f.type, cases[i].wire_type);
        ck_assert_uint_eq(f.correlation_id, 0);
        ck_assert_uint_eq(f.error, WIRE_OK);
        ck_assert_uint_eq(f.error_message.len, 0);
        ck_assert(peer_frame_is_raft(f.type));
        ck_assert_uint_eq(group, cases[i].group);
        expect_msg_eq(&m, &cases[i].m);
        expect_chunk(&cases[i], &chunk);
    }
}
END_TEST

START_TEST(data_entries_get_the_wire_type_of_their_group)
{
    struct raft_msg m = append_with_entries();
    struct wire_frame f;
    struct raft_msg got;
    uint64_t group;

    size_t len = encode_one(7, &m, NULL);
    ck_assert_int_eq(decode_one(len, &f, &got, &group, NULL, NULL, 0), WIRE_OK);
    ck_assert_uint_eq(f.body.append_entries_req.entries.items[0].type, PEER_ENTRY_NOOP);
    ck_assert_uint_eq(f.body.append_entries_req.entries.items[1].type, PEER_ENTRY_CONFIG);
    ck_assert_uint_eq(f.body.append_entries_req.entries.items[2].type, PEER_ENTRY_BATCH);

    len = encode_one(0, &m, NULL);
    ck_assert_int_eq(decode_one(len, &f, &got, &group, NULL, NULL, 0), WIRE_OK);
    ck_assert_uint_eq(f.body.append_entries_req.entries.items[2].type, PEER_ENTRY_METADATA_OP);
    ck_assert_uint_eq(got.entries[2].type, RAFT_ENTRY_DATA);
    ck_assert_uint_eq(group, 0);

    /* Payloads point into the decoded buffer, not copies. */
    ck_assert(got.entries[2].data >= (const void *)buf && got.entries[2].data < (const void *)(buf + len));
}
END_TEST

START_TEST(many_frames_share_one_buffer)
{
    struct case_msg cases[32];
    size_t n = build_cases(cases);
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    /* Three rounds of everything, as one coalesced peer message. */
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(peer_encode(&w, cases[i].group, cases[i].group == 0, &cases[i].m, cases[i].chunk),
                             WIRE_OK);

    struct wire_arena arena;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    size_t pos = 0, frames = 0;
    while (pos < w.len) {
        struct wire_frame f;
        struct raft_msg m;
        struct peer_snapshot_chunk chunk;
        uint64_t group;
        size_t consumed = 0;
        char why[256];
        wire_decode_ok(buf + pos, w.len - pos, &arena, &f, &consumed);
        const struct case_msg *c = &cases[frames % n];
        int rc = peer_decode(&f, &m, decoded_entries, ENTRIES_MAX, &group, &chunk, why, sizeof(why));
        ck_assert_msg(rc == WIRE_OK, "frame %zu: %s", frames, why);
        ck_assert_uint_eq(group, c->group);
        expect_msg_eq(&m, &c->m);
        expect_chunk(c, &chunk);
        pos += consumed;
        frames++;
    }
    ck_assert_uint_eq(pos, w.len);
    ck_assert_uint_eq(frames, 3 * n);
}
END_TEST

/* The hand-written APPEND writer must agree byte for byte with the generic encoder. */
START_TEST(append_bytes_match_the_generic_encoder)
{
    struct raft_msg m = append_with_entries();
    for (int metadata = 0; metadata <= 1; metadata++) {
        uint64_t group = metadata ? 0 : 77777;
        size_t len = encode_one(group, &m, NULL);

        static uint8_t generic[4096];
        struct wire_entry wire_entries[3] = {
            {3, PEER_ENTRY_NOOP, {NULL, 0}},
            {4, PEER_ENTRY_CONFIG, {config_payload, sizeof(config_payload)}},
            {4, metadata ? PEER_ENTRY_METADATA_OP : PEER_ENTRY_BATCH,
             {(const uint8_t *)batch_payload, sizeof(batch_payload) - 1}},
        };
        struct wire_frame f;
        request_frame(&f, WIRE_APPEND_ENTRIES);
        f.body.append_entries_req = (struct wire_append_entries_req){
            .group = group, .from = 1, .to = 2, .term = 4, .prev_log_index = 10, .prev_log_term = 3,
            .leader_commit = 9, .entries = {3, wire_entries}};
        struct wire_writer w;
        wire_writer_init(&w, generic, sizeof(generic));
        ck_assert_int_eq(wire_frame_encode(&w, &f), WIRE_OK);
        ck_assert_uint_eq(w.len, len);
        ck_assert_int_eq(memcmp(generic, buf, len), 0);
    }
}
END_TEST

START_TEST(append_with_many_entries_and_maximal_payloads)
{
    /* 4096 entries (the core's default max_msg_entries) of assorted sizes, two of them a
     * maximal record batch (what the broker lets the core accept), then a config and a no-op. */
    enum { N = 4096 };
    static struct raft_entry es[N];
    uint8_t *big = malloc(WIRE_BATCH_BYTES_MAX);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < WIRE_BATCH_BYTES_MAX; i++)
        big[i] = (uint8_t)(i * 31u + 7u);
    for (uint32_t i = 0; i < N; i++) {
        es[i] = (struct raft_entry){.term = 8 + i / 1000, .index = 1001 + i, .type = RAFT_ENTRY_DATA,
                                    .len = i % 300, .data = big + i};
    }
    es[17].len = WIRE_BATCH_BYTES_MAX;
    es[17].data = big;
    es[N - 3].len = WIRE_BATCH_BYTES_MAX;
    es[N - 3].data = big;
    es[N - 2] = (struct raft_entry){.term = 12, .index = 1001 + N - 2, .type = RAFT_ENTRY_CONFIG,
                                    .len = sizeof(config_payload), .data = config_payload};
    es[N - 1] = (struct raft_entry){.term = 12, .index = 1001 + N - 1, .type = RAFT_ENTRY_NOOP};
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 2, .to = 5, .term = 12, .index = 1000,
                         .log_term = 8, .commit = 990, .n_entries = N, .entries = es};

    size_t len = encode_one(3, &m, NULL);
    ck_assert_uint_gt(len, 2 * WIRE_BATCH_BYTES_MAX);
    ck_assert_uint_le(len, WIRE_FRAME_BYTES_MAX);
    struct wire_frame f;
    struct raft_msg got;
    uint64_t group;
    char why[256];
    int rc = decode_one(len, &f, &got, &group, NULL, why, sizeof(why));
    ck_assert_msg(rc == WIRE_OK, "%s", why);
    expect_msg_eq(&got, &m);

    /* The caller's array one short: refused, with a reason. */
    struct wire_arena arena;
    size_t consumed;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    wire_decode_ok(buf, len, &arena, &f, &consumed);
    ck_assert_int_eq(peer_decode(&f, &got, decoded_entries, N - 1, &group, NULL, why, sizeof(why)),
                     WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_ptr_nonnull(strstr(why, "4096 entries"));
    ck_assert_int_eq(peer_decode(&f, &got, decoded_entries, N, &group, NULL, why, sizeof(why)), WIRE_OK);
    free(big);
}
END_TEST

/* ---- malformed input ------------------------------------------------------------------ */

/* Encodes the mixed APPEND for `group` and decodes it into f (entries editable in the arena). */
static void decoded_append(uint64_t group, struct wire_frame *f)
{
    struct raft_msg m = append_with_entries();
    size_t len = encode_one(group, &m, NULL);
    struct wire_arena arena;
    size_t consumed;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    wire_decode_ok(buf, len, &arena, f, &consumed);
}

static int peer_decode_why(const struct wire_frame *f, char *why, size_t why_cap)
{
    struct raft_msg m;
    struct peer_snapshot_chunk chunk;
    uint64_t group;
    return peer_decode(f, &m, decoded_entries, ENTRIES_MAX, &group, &chunk, why, why_cap);
}

START_TEST(entry_types_must_fit_the_group)
{
    struct wire_frame f;
    char why[256];

    /* A metadata operation in a partition's group. */
    decoded_append(7, &f);
    f.body.append_entries_req.entries.items[2].type = PEER_ENTRY_METADATA_OP;
    ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
    ck_assert_ptr_nonnull(strstr(why, "entry 2 has type 4"));
    ck_assert_ptr_nonnull(strstr(why, "partition group"));

    /* A record batch in the metadata group. */
    decoded_append(0, &f);
    f.body.append_entries_req.entries.items[2].type = PEER_ENTRY_BATCH;
    ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
    ck_assert_ptr_nonnull(strstr(why, "metadata group"));

    /* Types the protocol does not define, in either kind. */
    static const uint32_t unknown[] = {0, 5, 255, UINT32_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        decoded_append(i % 2 ? 0 : 7, &f);
        f.body.append_entries_req.entries.items[1].type = unknown[i];
        ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
        ck_assert_ptr_nonnull(strstr(why, "unknown type"));
    }

    /* A no-op carries nothing. */
    decoded_append(7, &f);
    f.body.append_entries_req.entries.items[0].payload = (struct wire_bytes){(const uint8_t *)"x", 1};
    ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
    ck_assert_ptr_nonnull(strstr(why, "no-op"));

    /* Config and no-op fit both kinds (the unmodified frames). */
    decoded_append(0, &f);
    ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_OK);
    decoded_append(7, &f);
    ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_OK);
}
END_TEST

START_TEST(config_payload_must_decode)
{
    static const uint8_t garbage[][14] = {
        {0, 0, 0, 1, 0, 0, 0},                               /* short */
        {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},             /* server id 0 */
        {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2},             /* role 2 */
        {0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1, 0},            /* ten servers claimed */
        {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0},          /* a trailing byte */
    };
    static const uint32_t lens[] = {7, 13, 13, 13, 14};
    struct wire_frame f;
    char why[256];
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        decoded_append(7, &f);
        f.body.append_entries_req.entries.items[1].payload = (struct wire_bytes){garbage[i], lens[i]};
        ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
        ck_assert_ptr_nonnull(strstr(why, "configuration entry 1"));
    }
    /* An empty payload is not a configuration either. */
    decoded_append(0, &f);
    f.body.append_entries_req.entries.items[1].payload = (struct wire_bytes){NULL, 0};
    ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
}
END_TEST

START_TEST(node_ids_must_be_non_zero)
{
    struct case_msg cases[32];
    size_t n = build_cases(cases);
    char why[256];
    for (size_t i = 0; i < n; i++) {
        for (int which = 0; which < 2; which++) {
            size_t len = encode_one(cases[i].group, &cases[i].m, cases[i].chunk);
            struct wire_frame f;
            struct wire_arena arena;
            size_t consumed;
            wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
            wire_decode_ok(buf, len, &arena, &f, &consumed);
            /* Every Raft body starts with the same header, whichever member of the union it is. */
            switch (f.type) {
            case WIRE_APPEND_ENTRIES: *(which ? &f.body.append_entries_req.to : &f.body.append_entries_req.from) = 0; break;
            case WIRE_APPEND_ENTRIES_RESP: *(which ? &f.body.append_entries_resp.to : &f.body.append_entries_resp.from) = 0; break;
            case WIRE_REQUEST_VOTE: *(which ? &f.body.request_vote_req.to : &f.body.request_vote_req.from) = 0; break;
            case WIRE_REQUEST_VOTE_RESP: *(which ? &f.body.request_vote_resp.to : &f.body.request_vote_resp.from) = 0; break;
            case WIRE_INSTALL_SNAPSHOT: *(which ? &f.body.install_snapshot_req.to : &f.body.install_snapshot_req.from) = 0; break;
            case WIRE_TIMEOUT_NOW: *(which ? &f.body.timeout_now_req.to : &f.body.timeout_now_req.from) = 0; break;
            default: ck_abort_msg("unexpected frame type %u", f.type);
            }
            ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
            ck_assert_ptr_nonnull(strstr(why, which ? "to 0" : "from 0"));
        }
    }
}
END_TEST

START_TEST(error_responses_are_refused)
{
    static const uint32_t types[] = {WIRE_APPEND_ENTRIES, WIRE_REQUEST_VOTE};
    static const int errors[] = {WIRE_ERR_UNKNOWN, WIRE_ERR_NOT_LEADER, WIRE_ERR_SHUTTING_DOWN, 999};
    char why[256];
    for (size_t t = 0; t < 2; t++) {
        for (size_t e = 0; e < sizeof(errors) / sizeof(errors[0]); e++) {
            struct wire_frame req, f, got;
            request_frame(&req, types[t]);
            wire_frame_init_response(&f, &req, errors[e], "no");
            size_t len = encode_frame(&f);
            struct wire_arena arena;
            size_t consumed;
            wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
            wire_decode_ok(buf, len, &arena, &got, &consumed);
            ck_assert_int_eq(peer_decode_why(&got, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
            ck_assert_ptr_nonnull(strstr(why, "with error"));
        }
    }
}
END_TEST

START_TEST(frames_that_are_not_raft_messages_are_refused)
{
    static const uint32_t types[] = {WIRE_METADATA, WIRE_PRODUCE_RESP, WIRE_INSTALL_SNAPSHOT_RESP,
                                     WIRE_PEER_STATUS, WIRE_TIMEOUT_NOW_RESP, 0, 63};
    char why[256];
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct wire_frame f;
        request_frame(&f, types[i]);
        ck_assert(!peer_frame_is_raft(types[i]));
        ck_assert_int_eq(peer_decode_why(&f, why, sizeof(why)), WIRE_ERR_UNKNOWN_TYPE);
        ck_assert_ptr_nonnull(strstr(why, "not a Raft message"));
    }
    ck_assert(peer_frame_is_raft(WIRE_APPEND_ENTRIES));
    ck_assert(peer_frame_is_raft(WIRE_APPEND_ENTRIES_RESP));
    ck_assert(peer_frame_is_raft(WIRE_REQUEST_VOTE));
    ck_assert(peer_frame_is_raft(WIRE_REQUEST_VOTE_RESP));
    ck_assert(peer_frame_is_raft(WIRE_INSTALL_SNAPSHOT));
    ck_assert(peer_frame_is_raft(WIRE_TIMEOUT_NOW));
}
END_TEST

START_TEST(index_arithmetic_must_not_overflow)
{
    struct wire_entry one = {1, PEER_ENTRY_NOOP, {NULL, 0}};
    struct wire_entry two[2] = {{1, PEER_ENTRY_NOOP, {NULL, 0}}, {1, PEER_ENTRY_NOOP, {NULL, 0}}};
    struct wire_frame f, got;
    char why[256];
    struct raft_msg m;
    uint64_t group;

    request_frame(&f, WIRE_APPEND_ENTRIES);
    f.body.append_entries_req = (struct wire_append_entries_req){
        .group = 1, .from = 1, .to = 2, .term = 1, .prev_log_index = UINT64_MAX, .entries = {1, &one}};
    size_t len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, NULL, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
    ck_assert_ptr_nonnull(strstr(why, "overflows"));

    f.body.append_entries_req.prev_log_index = UINT64_MAX - 1;
    f.body.append_entries_req.entries.count = 2;
    f.body.append_entries_req.entries.items = two;
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, NULL, why, sizeof(why)), WIRE_ERR_BAD_VALUE);

    /* The last index that exists is fine. */
    f.body.append_entries_req.entries.count = 1;
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, NULL, why, sizeof(why)), WIRE_OK);
    ck_assert_uint_eq(m.entries[0].index, UINT64_MAX);

    /* A heartbeat at the top index carries no entries: nothing to overflow. */
    f.body.append_entries_req.prev_log_index = UINT64_MAX;
    f.body.append_entries_req.entries.count = 0;
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, NULL, why, sizeof(why)), WIRE_OK);
    ck_assert_ptr_null(m.entries);

    /* A snapshot chunk whose end is past 2^64. */
    struct wire_member member = {1, true};
    request_frame(&f, WIRE_INSTALL_SNAPSHOT);
    f.body.install_snapshot_req = (struct wire_install_snapshot_req){
        .group = 1, .from = 1, .to = 2, .term = 1, .last_index = 5, .last_term = 1,
        .configuration = {1, &member}, .offset = UINT64_MAX - 2, .data = {(const uint8_t *)"abc", 3}};
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, NULL, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
}
END_TEST

START_TEST(snapshot_configuration_is_checked)
{
    struct wire_member members[RAFT_SERVERS_MAX + 1];
    for (uint32_t i = 0; i <= RAFT_SERVERS_MAX; i++)
        members[i] = (struct wire_member){i + 1, i % 2 == 0};
    struct wire_frame f, got;
    struct raft_msg m;
    struct peer_snapshot_chunk chunk;
    uint64_t group;
    char why[256];

    request_frame(&f, WIRE_INSTALL_SNAPSHOT);
    f.body.install_snapshot_req = (struct wire_install_snapshot_req){
        .group = 3, .from = 1, .to = 2, .term = 4, .last_index = 50, .last_term = 3,
        .configuration = {RAFT_SERVERS_MAX + 1, members}, .offset = 0, .done = true};
    size_t len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, &chunk, why, sizeof(why)), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_ptr_nonnull(strstr(why, "10 members"));

    f.body.install_snapshot_req.configuration.count = RAFT_SERVERS_MAX;
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, &chunk, why, sizeof(why)), WIRE_OK);
    ck_assert_uint_eq(m.snapshot.config.n, RAFT_SERVERS_MAX);
    ck_assert_uint_eq(m.snapshot.config.servers[1].role, RAFT_LEARNER);
    ck_assert_uint_eq(m.snapshot.config.servers[8].id, 9);

    members[4].node_id = 0;
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, &chunk, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
    ck_assert_ptr_nonnull(strstr(why, "node id 0"));

    members[4].node_id = 2;
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, &chunk, why, sizeof(why)), WIRE_ERR_BAD_VALUE);
    ck_assert_ptr_nonnull(strstr(why, "node 2 appears twice"));

    /* No chunk wanted: NULL is fine. */
    members[4].node_id = 5;
    len = encode_frame(&f);
    ck_assert_int_eq(decode_one(len, &got, &m, &group, NULL, why, sizeof(why)), WIRE_OK);
}
END_TEST

START_TEST(every_truncation_of_an_append_fails_cleanly)
{
    struct raft_msg m = append_with_entries();
    size_t len = encode_one(7, &m, NULL);
    for (size_t cut = 0; cut < len; cut++) {
        /* A heap copy of exactly `cut` bytes, so ASan catches any read past it. */
        uint8_t *copy = malloc(cut ? cut : 1);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, buf, cut);
        struct wire_arena arena;
        struct wire_frame f;
        size_t consumed = 0;
        char why[256] = "";
        wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
        int rc = wire_frame_decode(copy, cut, &arena, &f, &consumed, why, sizeof(why));
        ck_assert_msg(rc == WIRE_ERR_TRUNCATED, "cut at %zu: %s", cut, wire_err_name(rc));
        ck_assert_uint_gt(strlen(why), 0);
        free(copy);
    }
}
END_TEST

/* Bit flips in a coalesced message: no crash; what decodes re-encodes to an equal message. */
START_TEST(random_bit_flips_fail_cleanly_or_round_trip)
{
    struct case_msg cases[32];
    size_t n = build_cases(cases);
    static uint8_t original[64 * 1024];
    static uint8_t again[64 * 1024];
    struct wire_writer w;
    wire_writer_init(&w, original, sizeof(original));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(peer_encode(&w, cases[i].group, cases[i].group == 0, &cases[i].m, cases[i].chunk),
                         WIRE_OK);
    size_t len = w.len;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t decoded_ok = 0, refused = 0;
    for (int round = 0; round < 3000; round++) {
        uint8_t *copy = malloc(len);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, original, len);
        int flips = 1 + round % 3;
        for (int k = 0; k < flips; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            copy[(x >> 33) % len] ^= (uint8_t)(1u << ((x >> 20) % 8));
        }
        struct wire_arena arena;
        wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
        size_t pos = 0;
        while (pos < len) {
            struct wire_frame f;
            size_t consumed = 0;
            char why[256] = "";
            if (wire_frame_decode(copy + pos, len - pos, &arena, &f, &consumed, why, sizeof(why)) != WIRE_OK)
                break; /* the rest of the message is lost, as in the broker */
            pos += consumed;
            if (!peer_frame_is_raft(f.type))
                continue;
            struct raft_msg m, m2;
            struct peer_snapshot_chunk chunk, chunk2;
            uint64_t group, group2;
            int rc = peer_decode(&f, &m, decoded_entries, ENTRIES_MAX, &group, &chunk, why, sizeof(why));
            if (rc != WIRE_OK) {
                ck_assert(wire_err_known(rc));
                ck_assert_uint_gt(strlen(why), 0);
                refused++;
                continue;
            }
            decoded_ok++;
            /* Whatever peer_decode accepts, peer_encode can say, and it says the same. */
            struct wire_writer w2;
            wire_writer_init(&w2, again, sizeof(again));
            rc = peer_encode(&w2, group, group == 0, &m, m.type == RAFT_MSG_SNAPSHOT ? &chunk : NULL);
            ck_assert_int_eq(rc, WIRE_OK);
            struct wire_arena arena2;
            static uint8_t arena2_mem[256 * 1024];
            static struct raft_entry entries2[ENTRIES_MAX];
            struct wire_frame f2;
            size_t consumed2;
            wire_arena_init(&arena2, arena2_mem, sizeof(arena2_mem));
            wire_decode_ok(again, w2.len, &arena2, &f2, &consumed2);
            ck_assert_int_eq(peer_decode(&f2, &m2, entries2, ENTRIES_MAX, &group2, &chunk2, NULL, 0), WIRE_OK);
            ck_assert_uint_eq(group2, group);
            expect_msg_eq(&m2, &m);
        }
        free(copy);
    }
    /* Both outcomes were exercised. */
    ck_assert_uint_gt(decoded_ok, 0);
    ck_assert_uint_gt(refused, 0);
}
END_TEST

/* ---- the real Raft core over the codec ------------------------------------------------------------ */

/*
 * Four Raft cores whose every message travels as frames: peer_encode into a
 * per-destination buffer (coalesced), wire_frame_decode, peer_decode,
 * raft_step. Servers 1..3 elect a leader (pre-vote and vote), replicate and
 * commit entries, the leader compacts its log, adds server 4 as a learner
 * (which needs a snapshot and a configuration entry) and hands leadership
 * over (TIMEOUT_NOW). Storage is instant: entries count as durable at once.
 * The loop is bounded in ticks, not in time.
 */
enum { CL_SERVERS = 4, CL_OUTBOX_BYTES = 256 * 1024 };

struct cluster {
    uint64_t group;
    struct raft *r[CL_SERVERS + 1];
    uint8_t outbox_mem[CL_SERVERS + 1][CL_OUTBOX_BYTES];
    struct wire_writer outbox[CL_SERVERS + 1];
    uint32_t seen[RAFT_MSG_TIMEOUT_NOW + 1]; /* messages delivered, by type */
};

static void cl_send_all(struct cluster *c, const struct raft_msg *msgs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        ck_assert(msgs[i].to >= 1 && msgs[i].to <= CL_SERVERS);
        int rc = peer_encode(&c->outbox[msgs[i].to], c->group, c->group == 0, &msgs[i], NULL);
        ck_assert_int_eq(rc, WIRE_OK);
    }
}

/* The host's side of the contract, with storage that is durable at once. */
static void cl_drain(struct cluster *c, int id)
{
    struct raft *r = c->r[id];
    while (raft_has_update(r)) {
        struct raft_update u;
        raft_update_get(r, &u);
        raft_index_t durable_index = 0;
        raft_term_t durable_term = 0;
        if (u.snapshot != NULL) {
            durable_index = u.snapshot->last_index;
            durable_term = u.snapshot->last_term;
        }
        if (u.n_entries > 0) {
            durable_index = u.entries[u.n_entries - 1].index;
            durable_term = u.entries[u.n_entries - 1].term;
        }
        cl_send_all(c, u.msgs, u.n_msgs);
        cl_send_all(c, u.msgs_after_persist, u.n_msgs_after_persist);
        if (durable_index > 0)
            raft_persisted(r, durable_index, durable_term);
    }
}

/* Delivers everything in flight, and what that causes, until the network is quiet. */
static void cl_deliver(struct cluster *c)
{
    static uint8_t inbox[CL_OUTBOX_BYTES];
    static uint8_t arena_buf[16 * CL_OUTBOX_BYTES];
    for (int rounds = 0; rounds < 1000; rounds++) {
        bool any = false;
        for (int to = 1; to <= CL_SERVERS; to++) {
            size_t len = c->outbox[to].len;
            if (len == 0)
                continue;
            any = true;
            memcpy(inbox, c->outbox_mem[to], len);
            wire_writer_init(&c->outbox[to], c->outbox_mem[to], CL_OUTBOX_BYTES);
            struct wire_arena arena;
            wire_arena_init(&arena, arena_buf, sizeof(arena_buf));
            for (size_t pos = 0; pos < len;) {
                struct wire_frame f;
                struct raft_msg m;
                struct peer_snapshot_chunk chunk;
                uint64_t group;
                size_t consumed;
                char why[256];
                wire_decode_ok(inbox + pos, len - pos, &arena, &f, &consumed);
                pos += consumed;
                int rc = peer_decode(&f, &m, decoded_entries, ENTRIES_MAX, &group, &chunk, why, sizeof(why));
                ck_assert_msg(rc == WIRE_OK, "%s", why);
                ck_assert_uint_eq(group, c->group);
                ck_assert_uint_eq(m.to, (uint64_t)to);
                if (m.type == RAFT_MSG_SNAPSHOT)
                    ck_assert(chunk.done); /* the whole (empty) content in one chunk */
                c->seen[m.type]++;
                ck_assert_int_eq(raft_step(c->r[to], &m), 0);
                cl_drain(c, to);
            }
        }
        if (!any)
            return;
    }
    ck_abort_msg("the network never went quiet");
}

static void cl_tick(struct cluster *c)
{
    for (int id = 1; id <= CL_SERVERS; id++) {
        raft_tick(c->r[id]);
        cl_drain(c, id);
    }
    cl_deliver(c);
}

static int cl_leader(struct cluster *c)
{
    for (int id = 1; id <= CL_SERVERS; id++) {
        struct raft_status st;
        raft_status(c->r[id], &st);
        if (st.role == RAFT_LEADER)
            return id;
    }
    return 0;
}

static raft_index_t cl_commit(struct cluster *c, int id)
{
    struct raft_status st;
    raft_status(c->r[id], &st);
    return st.commit;
}

START_TEST(raft_cores_agree_over_the_codec)
{
    static struct cluster cluster;
    struct cluster *c = &cluster;
    memset(c, 0, sizeof(*c));
    c->group = _i == 0 ? 0 : 42; /* the metadata group and a partition's group */
    for (int id = 1; id <= CL_SERVERS; id++) {
        struct raft_options o;
        raft_options_default(&o, (raft_id_t)id, 1000 + (uint64_t)id);
        struct raft_restore restore;
        memset(&restore, 0, sizeof(restore));
        if (id <= 3) { /* the bootstrap configuration; server 4 joins later, empty */
            restore.snapshot.config.n = 3;
            for (uint32_t k = 0; k < 3; k++)
                restore.snapshot.config.servers[k] = (struct raft_server){k + 1, RAFT_VOTER};
        }
        ck_assert_int_eq(raft_create(&c->r[id], &o, &restore), 0);
        wire_writer_init(&c->outbox[id], c->outbox_mem[id], CL_OUTBOX_BYTES);
    }

    int leader = 0;
    for (int t = 0; t < 5000 && leader == 0; t++) {
        cl_tick(c);
        leader = cl_leader(c);
    }
    ck_assert_int_ne(leader, 0);

    raft_index_t last = 0;
    for (int k = 0; k < 5; k++) {
        char payload[32];
        int n = snprintf(payload, sizeof(payload), "entry %d", k);
        ck_assert_int_eq(raft_propose(c->r[leader], payload, (uint32_t)n, &last), 0);
        cl_drain(c, leader);
    }
    cl_deliver(c);
    for (int t = 0; t < 100 && (cl_commit(c, 1) < last || cl_commit(c, 2) < last || cl_commit(c, 3) < last); t++)
        cl_tick(c);
    for (int id = 1; id <= 3; id++) {
        ck_assert_uint_ge(cl_commit(c, id), last);
        const struct raft_entry *e = raft_entry_get(c->r[id], last);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->len, 7);
        ck_assert_int_eq(memcmp(e->data, "entry 4", 7), 0);
    }

    /* Compact, then add server 4: it can only catch up through a snapshot. */
    ck_assert_int_eq(raft_compact(c->r[leader], last), 0);
    cl_drain(c, leader);
    raft_index_t change = 0;
    ck_assert_int_eq(raft_change_membership(c->r[leader], RAFT_ADD_LEARNER, 4, &change), 0);
    cl_drain(c, leader);
    for (int t = 0; t < 2000 && cl_commit(c, 4) < change; t++)
        cl_tick(c);
    ck_assert_uint_ge(cl_commit(c, 4), change);
    ck_assert_uint_gt(c->seen[RAFT_MSG_SNAPSHOT], 0);

    /* Hand leadership to another voter. */
    int next = leader % 3 + 1;
    ck_assert_int_eq(raft_transfer_leadership(c->r[leader], (raft_id_t)next), 0);
    cl_drain(c, leader);
    for (int t = 0; t < 2000 && cl_leader(c) != next; t++)
        cl_tick(c);
    ck_assert_int_eq(cl_leader(c), next);

    /* Every message type crossed the wire. */
    for (int type = RAFT_MSG_APPEND; type <= RAFT_MSG_TIMEOUT_NOW; type++)
        ck_assert_msg(c->seen[type] > 0, "no message of type %d was delivered", type);
    for (int id = 1; id <= CL_SERVERS; id++)
        raft_destroy(c->r[id]);
}
END_TEST

/* ---- the encoder's refusals ------------------------------------------------------------------ */

START_TEST(encoder_refuses_what_the_wire_cannot_carry)
{
    static uint8_t small[4096];
    struct wire_writer w;
    wire_writer_init(&w, small, sizeof(small));
    struct raft_msg ok = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = 3};
    ck_assert_int_eq(peer_encode(&w, 5, false, &ok, NULL), WIRE_OK);
    size_t first = w.len;
    uint8_t before[64];
    memcpy(before, small, first);

    struct raft_msg m = ok;
    m.from = 0;
    ck_assert_int_eq(peer_encode(&w, 5, false, &m, NULL), WIRE_ERR_BAD_VALUE);
    m.from = (raft_id_t)UINT32_MAX + 1;
    ck_assert_int_eq(peer_encode(&w, 5, false, &m, NULL), WIRE_ERR_BAD_VALUE);
    m = ok;
    m.to = 0;
    ck_assert_int_eq(peer_encode(&w, 5, false, &m, NULL), WIRE_ERR_BAD_VALUE);
    m = ok;
    m.type = 0;
    ck_assert_int_eq(peer_encode(&w, 5, false, &m, NULL), WIRE_ERR_BAD_VALUE);
    m.type = RAFT_MSG_TIMEOUT_NOW + 1;
    ck_assert_int_eq(peer_encode(&w, 5, false, &m, NULL), WIRE_ERR_BAD_VALUE);
    /* The group kind and the flag disagree. */
    ck_assert_int_eq(peer_encode(&w, 0, false, &ok, NULL), WIRE_ERR_BAD_VALUE);
    ck_assert_int_eq(peer_encode(&w, 5, true, &ok, NULL), WIRE_ERR_BAD_VALUE);

    /* Entries: an unknown core type, a gap in the indexes, data missing. */
    struct raft_msg app = append_with_entries();
    mixed_entries[2].type = 3;
    ck_assert_int_eq(peer_encode(&w, 5, false, &app, NULL), WIRE_ERR_BAD_VALUE);
    app = append_with_entries();
    mixed_entries[2].index = 14;
    ck_assert_int_eq(peer_encode(&w, 5, false, &app, NULL), WIRE_ERR_BAD_VALUE);
    app = append_with_entries();
    mixed_entries[2].data = NULL;
    ck_assert_int_eq(peer_encode(&w, 5, false, &app, NULL), WIRE_ERR_BAD_VALUE);
    app = append_with_entries();
    app.entries = NULL;
    ck_assert_int_eq(peer_encode(&w, 5, false, &app, NULL), WIRE_ERR_BAD_VALUE);

    /* Snapshot: a member id the wire cannot hold, too many members, an oversized chunk. */
    struct raft_msg snap = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 3,
                            .snapshot = {.last_index = 9, .last_term = 2}};
    snap.snapshot.config.n = 1;
    snap.snapshot.config.servers[0] = (struct raft_server){(raft_id_t)1 << 40, RAFT_VOTER};
    ck_assert_int_eq(peer_encode(&w, 5, false, &snap, NULL), WIRE_ERR_BAD_VALUE);
    snap.snapshot.config.servers[0].id = 1;
    snap.snapshot.config.n = RAFT_SERVERS_MAX + 1;
    ck_assert_int_eq(peer_encode(&w, 5, false, &snap, NULL), WIRE_ERR_BAD_VALUE);
    snap.snapshot.config.n = 1;
    uint8_t *too_big = calloc(1, WIRE_SNAPSHOT_CHUNK_BYTES_MAX + 1);
    ck_assert_ptr_nonnull(too_big);
    struct peer_snapshot_chunk huge = {0, {too_big, WIRE_SNAPSHOT_CHUNK_BYTES_MAX + 1}, true};
    ck_assert_int_eq(peer_encode(&w, 5, false, &snap, &huge), WIRE_ERR_LIMIT_EXCEEDED);
    free(too_big);

    /* Nothing of the refused frames reached the buffer. */
    ck_assert_uint_eq(w.len, first);
    ck_assert_int_eq(w.err, WIRE_OK);
    ck_assert_int_eq(memcmp(small, before, first), 0);
}
END_TEST

START_TEST(buffer_full_leaves_the_writer_unchanged)
{
    struct raft_msg app = append_with_entries();
    struct raft_msg snap = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 3,
                            .snapshot = {.last_index = 9, .last_term = 2}};
    size_t app_len = encode_one(5, &app, NULL);
    size_t snap_len = encode_one(5, &snap, &some_chunk);
    static uint8_t small[1024];
    /* Room for one frame and every shorter amount for the second: never a partial frame. */
    for (int which = 0; which < 2; which++) {
        const struct raft_msg *m = which ? &snap : &app;
        const struct peer_snapshot_chunk *chunk = which ? &some_chunk : NULL;
        size_t len = which ? snap_len : app_len;
        for (size_t cap = app_len; cap < app_len + len; cap++) {
            struct wire_writer w;
            wire_writer_init(&w, small, cap);
            ck_assert_int_eq(peer_encode(&w, 5, false, &app, NULL), WIRE_OK);
            ck_assert_int_eq(peer_encode(&w, 5, false, m, chunk), WIRE_ERR_BUFFER_FULL);
            ck_assert_uint_eq(w.len, app_len);
            ck_assert_int_eq(w.err, WIRE_OK);
            /* The first frame still decodes. */
            struct wire_arena arena;
            struct wire_frame f;
            size_t consumed;
            wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
            wire_decode_ok(small, w.len, &arena, &f, &consumed);
            ck_assert_uint_eq(consumed, app_len);
        }
    }
}
END_TEST

START_TEST(append_larger_than_a_frame_is_refused)
{
    /* Two 4 MiB entries pass the core's own limit but not the frame limit. */
    uint8_t *big = calloc(1, 4 * WIRE_MIB);
    ck_assert_ptr_nonnull(big);
    struct raft_entry es[2] = {
        {.term = 1, .index = 1, .type = RAFT_ENTRY_DATA, .len = 4 * WIRE_MIB, .data = big},
        {.term = 1, .index = 2, .type = RAFT_ENTRY_DATA, .len = 4 * WIRE_MIB, .data = big},
    };
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1, .n_entries = 2, .entries = es};
    uint8_t *out = malloc(12 * WIRE_MIB);
    ck_assert_ptr_nonnull(out);
    struct wire_writer w;
    wire_writer_init(&w, out, 12 * WIRE_MIB);
    ck_assert_int_eq(peer_encode(&w, 1, false, &m, NULL), WIRE_ERR_FRAME_TOO_LARGE);
    ck_assert_uint_eq(w.len, 0);
    ck_assert_int_eq(w.err, WIRE_OK);
    m.n_entries = 1;
    ck_assert_int_eq(peer_encode(&w, 1, false, &m, NULL), WIRE_OK);
    ck_assert_uint_gt(w.len, 4 * WIRE_MIB);
    free(out);
    free(big);
}
END_TEST

/* ---- PEER_STATUS ------------------------------------------------------------------ */

START_TEST(peer_status_round_trips)
{
    struct wire_group_leader leaders[300];
    for (uint32_t i = 0; i < 300; i++)
        leaders[i] = (struct wire_group_leader){.group = i * 7919ull, .term = 1 + i % 5};
    leaders[299].group = UINT64_MAX;
    leaders[299].term = UINT64_MAX;
    static const uint32_t counts[] = {0, 1, 300};
    for (size_t c = 0; c < 3; c++) {
        struct wire_writer w;
        wire_writer_init(&w, buf, sizeof(buf));
        ck_assert_int_eq(peer_encode_status(&w, 3, 12345678901ull, leaders, counts[c], c == 1), WIRE_OK);
        struct wire_arena arena;
        struct wire_frame f;
        size_t consumed;
        wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
        wire_decode_ok(buf, w.len, &arena, &f, &consumed);
        ck_assert_uint_eq(consumed, w.len);
        ck_assert_uint_eq(f.type, WIRE_PEER_STATUS);
        ck_assert_uint_eq(f.correlation_id, 0);
        ck_assert(!peer_frame_is_raft(f.type));
        const struct wire_peer_status_req *s = &f.body.peer_status_req;
        ck_assert_uint_eq(s->from, 3);
        ck_assert_uint_eq(s->metadata_applied, 12345678901ull);
        ck_assert_uint_eq(s->leaders.count, counts[c]);
        ck_assert(s->stopping == (c == 1));
        for (uint32_t i = 0; i < counts[c]; i++) {
            ck_assert_uint_eq(s->leaders.items[i].group, leaders[i].group);
            ck_assert_uint_eq(s->leaders.items[i].term, leaders[i].term);
        }
    }
    /* It is one-way: its response type is reserved. */
    ck_assert(!wire_type_known(WIRE_PEER_STATUS_RESP));
    ck_assert(wire_type_known(WIRE_PEER_STATUS));

    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(peer_encode_status(&w, 0, 1, leaders, 1, false), WIRE_ERR_BAD_VALUE);
    ck_assert_int_eq(peer_encode_status(&w, 1, 1, NULL, 1, false), WIRE_ERR_BAD_VALUE);
    ck_assert_int_eq(peer_encode_status(&w, 1, 1, leaders, WIRE_ARRAY_ITEMS_MAX + 1, false), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_uint_eq(w.len, 0);
    wire_writer_init(&w, buf, 10);
    ck_assert_int_eq(peer_encode_status(&w, 1, 1, leaders, 3, false), WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(w.len, 0);
}
END_TEST

Suite *peer_codec_suite(void)
{
    Suite *s = suite_create("peer_codec");
    TCase *rt = tcase_create("round_trip");
    tcase_set_timeout(rt, 60);
    tcase_add_test(rt, every_message_type_round_trips);
    tcase_add_test(rt, data_entries_get_the_wire_type_of_their_group);
    tcase_add_test(rt, many_frames_share_one_buffer);
    tcase_add_test(rt, append_bytes_match_the_generic_encoder);
    tcase_add_test(rt, append_with_many_entries_and_maximal_payloads);
    tcase_add_test(rt, peer_status_round_trips);
    suite_add_tcase(s, rt);

    TCase *bad = tcase_create("malformed");
    tcase_set_timeout(bad, 60);
    tcase_add_test(bad, entry_types_must_fit_the_group);
    tcase_add_test(bad, config_payload_must_decode);
    tcase_add_test(bad, node_ids_must_be_non_zero);
    tcase_add_test(bad, error_responses_are_refused);
    tcase_add_test(bad, frames_that_are_not_raft_messages_are_refused);
    tcase_add_test(bad, index_arithmetic_must_not_overflow);
    tcase_add_test(bad, snapshot_configuration_is_checked);
    tcase_add_test(bad, every_truncation_of_an_append_fails_cleanly);
    tcase_add_test(bad, random_bit_flips_fail_cleanly_or_round_trip);
    suite_add_tcase(s, bad);

    TCase *enc = tcase_create("encoder");
    tcase_set_timeout(enc, 60);
    tcase_add_test(enc, encoder_refuses_what_the_wire_cannot_carry);
    tcase_add_test(enc, buffer_full_leaves_the_writer_unchanged);
    tcase_add_test(enc, append_larger_than_a_frame_is_refused);
    suite_add_tcase(s, enc);

    TCase *core = tcase_create("raft_core");
    tcase_set_timeout(core, 60);
    tcase_add_loop_test(core, raft_cores_agree_over_the_codec, 0, 2);
    suite_add_tcase(s, core);
    return s;
}
