/*
 * Tests of the frame codec (wire/frame.c) on bad input: every truncation of
 * every example frame, wrong types, out-of-range values, oversized lengths
 * and counts, unknown versions and types, nesting abuse, arena exhaustion,
 * random corruption; plus forward compatibility (extra trailing fields),
 * several frames in one message, and the encoder's own limit checks.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "tests/vectors/examples.h"
#include "wire/frame.h"
#include "wire/validate.h"

static uint8_t buf[64 * 1024];
static uint8_t arena_mem[256 * 1024];

static size_t encode_example(size_t i, uint8_t *out, size_t cap)
{
    struct wire_frame f;
    struct wire_writer w;
    wire_examples[i].build(&f);
    wire_writer_init(&w, out, cap);
    ck_assert_int_eq(wire_frame_encode(&w, &f), WIRE_OK);
    return w.len;
}

static int decode(const void *data, size_t len, struct wire_frame *f, char *why, size_t why_cap)
{
    struct wire_arena arena;
    size_t consumed = 0;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    return wire_frame_decode(data, len, &arena, f, &consumed, why, why_cap);
}

START_TEST(every_truncation_is_reported_truncated)
{
    size_t len = encode_example((size_t)_i, buf, sizeof(buf));
    for (size_t cut = 0; cut < len; cut++) {
        /* A heap copy of exactly `cut` bytes, so ASan catches any read past it. */
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        struct wire_frame f;
        int rc = decode(copy, cut, &f, NULL, 0);
        ck_assert_msg(rc == WIRE_ERR_TRUNCATED, "%s cut at %zu: got %s",
                      wire_examples[_i].name, cut, wire_err_name(rc));
        free(copy);
    }
}
END_TEST

START_TEST(random_corruption_never_crashes)
{
    size_t len = encode_example((size_t)_i, buf, sizeof(buf));
    uint64_t x = 0x1234567ull + (uint64_t)_i;
    for (int round = 0; round < 2000; round++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        int flips = 1 + (int)(round % 4);
        for (int k = 0; k < flips; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            copy[(x >> 33) % len] ^= (uint8_t)(1u << ((x >> 20) % 8));
        }
        struct wire_frame f;
        char why[256];
        int rc = decode(copy, len, &f, why, sizeof(why));
        if (rc == WIRE_OK) {
            /* Whatever decodes must re-encode and decode again. */
            static uint8_t again[64 * 1024];
            struct wire_writer w;
            wire_writer_init(&w, again, sizeof(again));
            int enc = wire_frame_encode(&w, &f);
            ck_assert(enc == WIRE_OK || enc == WIRE_ERR_LIMIT_EXCEEDED);
            if (enc == WIRE_OK) {
                struct wire_frame g;
                ck_assert_int_eq(decode(again, w.len, &g, NULL, 0), WIRE_OK);
            }
        } else {
            ck_assert(wire_err_known(rc));
            ck_assert(strlen(why) > 0);
        }
        free(copy);
    }
}
END_TEST

START_TEST(garbage_is_rejected)
{
    uint64_t x = 42;
    for (int round = 0; round < 5000; round++) {
        size_t len = 1 + round % 64;
        uint8_t *g = malloc(len);
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            g[i] = (uint8_t)(x >> 56);
        }
        struct wire_frame f;
        int rc = decode(g, len, &f, NULL, 0);
        ck_assert(rc == WIRE_OK || wire_err_known(rc));
        free(g);
    }
}
END_TEST

/* Writes a request envelope [1, type, 77, <body follows>] and returns the writer. */
static void start_request(struct wire_writer *w, uint32_t elements, uint32_t type)
{
    wire_writer_init(w, buf, sizeof(buf));
    wire_write_array(w, elements);
    wire_write_uint(w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(w, type);
    wire_write_uint(w, 77);
}

START_TEST(wrong_field_types)
{
    struct wire_writer w;
    struct wire_frame f;
    char why[256];

    /* PRODUCE with the partition as a string. */
    start_request(&w, 4, WIRE_PRODUCE);
    wire_write_array(&w, 4);
    wire_write_str(&w, "orders", 6);
    wire_write_str(&w, "1", 1);
    wire_write_uint(&w, 1000);
    wire_write_array(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, why, sizeof(why)), WIRE_ERR_BAD_TYPE);
    ck_assert_str_eq(why, "field 'partition' at byte 12: a field has the wrong msgpack type");
    ck_assert_uint_eq(f.correlation_id, 77);

    /* Topic as bin instead of str. */
    start_request(&w, 4, WIRE_DELETE_TOPIC);
    wire_write_array(&w, 1);
    wire_write_bin(&w, "orders", 6);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_TYPE);

    /* A batch as str instead of bin. */
    start_request(&w, 4, WIRE_PRODUCE);
    wire_write_array(&w, 4);
    wire_write_str(&w, "orders", 6);
    wire_write_uint(&w, 0);
    wire_write_uint(&w, 1000);
    wire_write_array(&w, 1);
    wire_write_str(&w, "batch", 5);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_TYPE);

    /* Body is a map, not an array. */
    start_request(&w, 4, WIRE_DELETE_TOPIC);
    wire_write_map(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_TYPE);

    /* The envelope itself is not an array. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_str(&w, "hello", 5);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_TYPE);

    /* A bool where a bool belongs, an int where it does not. */
    start_request(&w, 4, WIRE_REQUEST_VOTE);
    wire_write_array(&w, 8);
    for (int i = 0; i < 6; i++)
        wire_write_uint(&w, 1);
    wire_write_uint(&w, 1); /* pre_vote as 1 */
    wire_write_bool(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, why, sizeof(why)), WIRE_ERR_BAD_TYPE);
    ck_assert_ptr_ne(strstr(why, "pre_vote"), NULL);
}
END_TEST

START_TEST(out_of_range_values)
{
    struct wire_writer w;
    struct wire_frame f;

    /* Partition 2^32 does not fit its uint32. */
    start_request(&w, 4, WIRE_FETCH);
    wire_write_array(&w, 5);
    wire_write_str(&w, "t", 1);
    wire_write_uint(&w, 1ull << 32);
    for (int i = 0; i < 3; i++)
        wire_write_uint(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_VALUE);

    /* Negative offset. */
    start_request(&w, 4, WIRE_FETCH);
    wire_write_array(&w, 5);
    wire_write_str(&w, "t", 1);
    wire_write_uint(&w, 0);
    wire_write_int(&w, -1);
    wire_write_uint(&w, 0);
    wire_write_uint(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_VALUE);

    /* Negative correlation id. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 4);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_CLUSTER_STATUS);
    wire_write_int(&w, -7);
    wire_write_array(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_VALUE);
}
END_TEST

START_TEST(oversized_lengths_and_counts)
{
    struct wire_writer w;
    struct wire_frame f;
    static uint8_t big[WIRE_BATCH_BYTES_MAX + 1];

    /* A topic name over WIRE_STRING_BYTES_MAX. */
    start_request(&w, 4, WIRE_DELETE_TOPIC);
    wire_write_array(&w, 1);
    wire_write_str(&w, big, WIRE_STRING_BYTES_MAX + 1);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_LIMIT_EXCEEDED);

    /* A batch over WIRE_BATCH_BYTES_MAX. */
    static uint8_t frame[WIRE_BATCH_BYTES_MAX + 1024];
    wire_writer_init(&w, frame, sizeof(frame));
    wire_write_array(&w, 4);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_PRODUCE);
    wire_write_uint(&w, 1);
    wire_write_array(&w, 4);
    wire_write_str(&w, "t", 1);
    wire_write_uint(&w, 0);
    wire_write_uint(&w, 1000);
    wire_write_array(&w, 1);
    wire_write_bin(&w, big, WIRE_BATCH_BYTES_MAX + 1);
    ck_assert_int_eq(w.err, WIRE_OK);
    ck_assert_int_eq(decode(frame, w.len, &f, NULL, 0), WIRE_ERR_LIMIT_EXCEEDED);

    /* Too many batches in one PRODUCE (each an empty bin: 2 bytes). */
    start_request(&w, 4, WIRE_PRODUCE);
    wire_write_array(&w, 4);
    wire_write_str(&w, "t", 1);
    wire_write_uint(&w, 0);
    wire_write_uint(&w, 1000);
    wire_write_array(&w, WIRE_PRODUCE_BATCHES_MAX + 1);
    for (uint32_t i = 0; i < WIRE_PRODUCE_BATCHES_MAX + 1; i++)
        wire_write_bin(&w, "", 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_LIMIT_EXCEEDED);

    /* An array32 claiming 4 billion topics in a short frame. */
    start_request(&w, 4, WIRE_METADATA);
    wire_write_array(&w, 1);
    wire_write_raw(&w, "\xdd\xff\xff\xff\xff", 5);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_LIMIT_EXCEEDED);

    /* An array claiming more elements than bytes remain. */
    start_request(&w, 4, WIRE_METADATA);
    wire_write_array(&w, 1);
    wire_write_raw(&w, "\xdc\x10\x00\xa1x", 5);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_TRUNCATED);

    /* Too many replicas for one partition. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 6);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_METADATA_RESP);
    wire_write_uint(&w, 1);
    wire_write_uint(&w, 0);
    wire_write_str(&w, "", 0);
    wire_write_array(&w, 3);
    wire_write_uint(&w, 1);
    wire_write_array(&w, 0);
    wire_write_array(&w, 1);
    wire_write_array(&w, 3);
    wire_write_str(&w, "t", 1);
    wire_write_uint(&w, 0);
    wire_write_array(&w, 1);
    wire_write_array(&w, 4);
    wire_write_uint(&w, 0);
    wire_write_uint(&w, 1);
    wire_write_uint(&w, 1);
    wire_write_array(&w, WIRE_REPLICAS_MAX + 1);
    for (uint32_t i = 0; i < WIRE_REPLICAS_MAX + 1; i++)
        wire_write_uint(&w, i);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_LIMIT_EXCEEDED);
}
END_TEST

START_TEST(frame_larger_than_the_frame_limit)
{
    /* A request whose trailing element is a 9 MiB bin: the decoder never
     * reads past WIRE_FRAME_BYTES_MAX and calls it FRAME_TOO_LARGE. */
    size_t cap = WIRE_FRAME_BYTES_MAX + WIRE_MIB + 64;
    uint8_t *frame = malloc(cap);
    uint8_t *payload = calloc(1, WIRE_FRAME_BYTES_MAX + WIRE_MIB);
    struct wire_writer w;
    wire_writer_init(&w, frame, cap);
    wire_write_array(&w, 5);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_CLUSTER_STATUS);
    wire_write_uint(&w, 9);
    wire_write_array(&w, 0);
    wire_write_bin(&w, payload, WIRE_FRAME_BYTES_MAX + WIRE_MIB);
    ck_assert_int_eq(w.err, WIRE_OK);
    struct wire_frame f;
    ck_assert_int_eq(decode(frame, w.len, &f, NULL, 0), WIRE_ERR_FRAME_TOO_LARGE);
    ck_assert_uint_eq(f.correlation_id, 9);
    free(payload);
    free(frame);
}
END_TEST

START_TEST(unknown_version_and_type_keep_the_correlation_id)
{
    struct wire_writer w;
    struct wire_frame f;
    char why[256];

    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 4);
    wire_write_uint(&w, 2);
    wire_write_uint(&w, WIRE_METADATA);
    wire_write_uint(&w, 31337);
    wire_write_array(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, why, sizeof(why)), WIRE_ERR_UNSUPPORTED_VERSION);
    ck_assert_uint_eq(f.correlation_id, 31337);
    ck_assert_uint_eq(f.version, 2);

    start_request(&w, 4, 30); /* unassigned client type */
    wire_write_array(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, why, sizeof(why)), WIRE_ERR_UNKNOWN_TYPE);
    ck_assert_uint_eq(f.correlation_id, 77);
    ck_assert_uint_eq(f.type, 30);

    /* Requests of unassigned peer types too. */
    start_request(&w, 4, 63);
    wire_write_array(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_UNKNOWN_TYPE);

    /* An envelope of fewer than three elements. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 2);
    wire_write_uint(&w, 1);
    wire_write_uint(&w, 1);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_TRUNCATED);

    /* A response envelope with only a request's four elements. */
    start_request(&w, 4, WIRE_METADATA_RESP);
    wire_write_uint(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_TRUNCATED);
}
END_TEST

/* A CLUSTER_STATUS request whose fifth (unknown, ignored) element is `depth` nested arrays. */
static size_t nested_request(size_t depth)
{
    struct wire_writer w;
    start_request(&w, 5, WIRE_CLUSTER_STATUS);
    wire_write_array(&w, 0);
    for (size_t i = 0; i < depth; i++)
        wire_write_array(&w, 1);
    wire_write_nil(&w);
    return w.len;
}

/* A response envelope [1, type, 5, error, "msg", body] with an empty-array body. */
static size_t response_frame(uint32_t type, uint32_t error)
{
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 6);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, type);
    wire_write_uint(&w, 5);
    wire_write_uint(&w, error);
    wire_write_str(&w, "msg", 3);
    if (error == WIRE_OK)
        wire_write_array(&w, 0);
    else
        wire_write_nil(&w);
    return w.len;
}

START_TEST(one_way_response_type_is_reserved)
{
    struct wire_frame f;
    ck_assert(!wire_type_known(WIRE_TIMEOUT_NOW_RESP));
    size_t len = response_frame(WIRE_TIMEOUT_NOW_RESP, WIRE_OK);
    ck_assert_int_eq(decode(buf, len, &f, NULL, 0), WIRE_ERR_UNKNOWN_TYPE);

    memset(&f, 0, sizeof(f));
    f.version = WIRE_PROTOCOL_VERSION;
    f.type = WIRE_TIMEOUT_NOW_RESP;
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(wire_frame_encode(&w, &f), WIRE_ERR_UNKNOWN_TYPE);
}
END_TEST

START_TEST(unknown_types_can_be_answered_with_an_error)
{
    /* A broker answers a request type it does not know (from a newer
     * client) with UNKNOWN_TYPE, keeping the correlation id. */
    struct wire_writer w;
    struct wire_frame req, resp, got;
    start_request(&w, 4, 30);
    wire_write_array(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &req, NULL, 0), WIRE_ERR_UNKNOWN_TYPE);
    wire_frame_init_response(&resp, &req, WIRE_ERR_UNKNOWN_TYPE, "unknown frame type 30");
    ck_assert_uint_eq(resp.type, 30 | WIRE_RESPONSE_BIT);
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(wire_frame_encode(&w, &resp), WIRE_OK);
    ck_assert_int_eq(decode(buf, w.len, &got, NULL, 0), WIRE_OK);
    ck_assert_uint_eq(got.type, 30 | WIRE_RESPONSE_BIT);
    ck_assert_uint_eq(got.correlation_id, 77);
    ck_assert_uint_eq(got.error, WIRE_ERR_UNKNOWN_TYPE);

    /* ... but an unknown response type claiming success is not readable. */
    size_t len = response_frame(30 | WIRE_RESPONSE_BIT, WIRE_OK);
    ck_assert_int_eq(decode(buf, len, &got, NULL, 0), WIRE_ERR_UNKNOWN_TYPE);
    resp.error = WIRE_OK;
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(wire_frame_encode(&w, &resp), WIRE_ERR_UNKNOWN_TYPE);
}
END_TEST

START_TEST(malformed_frame_followed_by_much_data_is_truncated_not_too_large)
{
    /* A DELETE_TOPIC whose body lacks its field, followed by 9 MiB of
     * other frames: the error is about this frame (TRUNCATED), not its size. */
    size_t cap = WIRE_FRAME_BYTES_MAX + WIRE_MIB + 64;
    uint8_t *message = calloc(1, cap);
    struct wire_writer w;
    wire_writer_init(&w, message, cap);
    wire_write_array(&w, 4);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_DELETE_TOPIC);
    wire_write_uint(&w, 1);
    wire_write_array(&w, 0);
    struct wire_frame f;
    ck_assert_int_eq(decode(message, cap, &f, NULL, 0), WIRE_ERR_TRUNCATED);
    free(message);
}
END_TEST

START_TEST(nesting_abuse)
{
    struct wire_frame f;
    size_t len = nested_request(WIRE_NESTING_MAX);
    ck_assert_int_eq(decode(buf, len, &f, NULL, 0), WIRE_OK);
    len = nested_request(WIRE_NESTING_MAX + 1);
    ck_assert_int_eq(decode(buf, len, &f, NULL, 0), WIRE_ERR_TOO_DEEP);
    len = nested_request(10000);
    ck_assert_int_eq(decode(buf, len, &f, NULL, 0), WIRE_ERR_TOO_DEEP);

    /* Nesting where the schema expects a scalar is just the wrong type. */
    struct wire_writer w;
    start_request(&w, 4, WIRE_DELETE_TOPIC);
    wire_write_array(&w, 1);
    for (int i = 0; i < 1000; i++)
        wire_write_array(&w, 1);
    wire_write_nil(&w);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_BAD_TYPE);
}
END_TEST

START_TEST(trailing_fields_are_skipped)
{
    /* A DELETE_TOPIC from a later minor revision: an extra body field, an
     * extra envelope element; both must be ignored. */
    struct wire_writer w;
    struct wire_frame f;
    start_request(&w, 5, WIRE_DELETE_TOPIC);
    wire_write_array(&w, 3);
    wire_write_str(&w, "orders", 6);
    wire_write_map(&w, 1);
    wire_write_str(&w, "k", 1);
    wire_write_bin(&w, "v", 1);
    wire_write_uint(&w, 5);
    wire_write_str(&w, "future", 6);
    size_t len = w.len;
    struct wire_arena arena;
    size_t consumed = 0;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    ck_assert_int_eq(wire_frame_decode(buf, len, &arena, &f, &consumed, NULL, 0), WIRE_OK);
    ck_assert_uint_eq(consumed, len);
    ck_assert_uint_eq(f.body.delete_topic_req.name.len, 6);

    /* Fewer fields than the schema has is an error. */
    start_request(&w, 4, WIRE_FETCH);
    wire_write_array(&w, 4);
    wire_write_str(&w, "orders", 6);
    wire_write_uint(&w, 0);
    wire_write_uint(&w, 0);
    wire_write_uint(&w, 0);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_ERR_TRUNCATED);
}
END_TEST

START_TEST(unknown_error_code_body_is_skipped)
{
    /* A response with an error code this build does not know, carrying a
     * detail body a newer broker defined: decode keeps the code. */
    struct wire_writer w;
    struct wire_frame f;
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 6);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_PRODUCE_RESP);
    wire_write_uint(&w, 3);
    wire_write_uint(&w, 199);
    wire_write_str(&w, "something new", 13);
    wire_write_array(&w, 2);
    wire_write_uint(&w, 1);
    wire_write_str(&w, "x", 1);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_OK);
    ck_assert_uint_eq(f.error, 199);

    /* A known error without a detail struct still has its body skipped. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 6);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_PRODUCE_RESP);
    wire_write_uint(&w, 3);
    wire_write_uint(&w, WIRE_ERR_TIMEOUT);
    wire_write_str(&w, "", 0);
    wire_write_nil(&w);
    ck_assert_int_eq(decode(buf, w.len, &f, NULL, 0), WIRE_OK);
    ck_assert_uint_eq(f.error, WIRE_ERR_TIMEOUT);
}
END_TEST

START_TEST(several_frames_in_one_message)
{
    size_t len = 0;
    for (size_t i = 0; i < wire_examples_count; i++)
        len += encode_example(i, buf + len, sizeof(buf) - len);
    size_t off = 0;
    for (size_t i = 0; i < wire_examples_count; i++) {
        struct wire_frame expected, got;
        struct wire_arena arena;
        size_t consumed = 0;
        wire_examples[i].build(&expected);
        wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
        ck_assert_int_eq(wire_frame_decode(buf + off, len - off, &arena, &got, &consumed, NULL, 0),
                         WIRE_OK);
        ck_assert_uint_eq(got.type, expected.type);
        ck_assert_uint_eq(got.correlation_id, expected.correlation_id);
        off += consumed;
    }
    ck_assert_uint_eq(off, len);
}
END_TEST

START_TEST(arena_exhaustion_is_a_limit_error)
{
    size_t i;
    for (i = 0; i < wire_examples_count; i++)
        if (strcmp(wire_examples[i].name, "metadata_resp") == 0)
            break;
    ck_assert(i < wire_examples_count);
    size_t len = encode_example(i, buf, sizeof(buf));
    for (size_t cap = 0; cap < 512; cap += 8) {
        static uint8_t small[512];
        struct wire_arena arena;
        struct wire_frame f;
        size_t consumed;
        wire_arena_init(&arena, small, cap);
        int rc = wire_frame_decode(buf, len, &arena, &f, &consumed, NULL, 0);
        ck_assert(rc == WIRE_OK || rc == WIRE_ERR_LIMIT_EXCEEDED);
        ck_assert(arena.used <= cap);
    }
}
END_TEST

START_TEST(arena_of_sixteen_times_the_input_suffices)
{
    /* The densest structs the schema allows, as many as fit: minimal
     * topic_meta and broker_status entries, each a few bytes on the wire. */
    size_t cap = 512 * 1024;
    uint8_t *frame = malloc(cap);
    struct wire_writer w;
    wire_writer_init(&w, frame, cap);
    wire_write_array(&w, 6);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_CLUSTER_STATUS_RESP);
    wire_write_uint(&w, 1);
    wire_write_uint(&w, 0);
    wire_write_str(&w, "", 0);
    wire_write_array(&w, 3);
    wire_write_uint(&w, 0);
    wire_write_array(&w, 30000);
    for (int i = 0; i < 30000; i++) {
        wire_write_array(&w, 4);
        wire_write_uint(&w, 0);
        wire_write_str(&w, "", 0);
        wire_write_str(&w, "", 0);
        wire_write_bool(&w, 0);
    }
    wire_write_array(&w, 20000);
    for (int i = 0; i < 20000; i++) {
        wire_write_array(&w, 7);
        wire_write_str(&w, "", 0);
        for (int k = 0; k < 5; k++)
            wire_write_uint(&w, 0);
        wire_write_array(&w, 0);
    }
    ck_assert_int_eq(w.err, WIRE_OK);
    size_t arena_cap = w.len * WIRE_ARENA_BYTES_PER_INPUT_BYTE;
    uint8_t *mem = malloc(arena_cap);
    struct wire_arena arena;
    struct wire_frame f;
    size_t consumed;
    wire_arena_init(&arena, mem, arena_cap);
    ck_assert_int_eq(wire_frame_decode(frame, w.len, &arena, &f, &consumed, NULL, 0), WIRE_OK);
    ck_assert(!arena.exhausted);
    ck_assert_uint_eq(f.body.cluster_status_resp.brokers.count, 30000);
    ck_assert_uint_eq(f.body.cluster_status_resp.groups.count, 20000);

    /* A quarter of that arena is not enough, and says so. */
    wire_arena_init(&arena, mem, arena_cap / 4);
    ck_assert_int_eq(wire_frame_decode(frame, w.len, &arena, &f, &consumed, NULL, 0),
                     WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert(arena.exhausted);
    ck_assert_uint_eq(arena.used, 0); /* a failed decode gives its arena space back */
    free(mem);
    free(frame);
}
END_TEST

START_TEST(encoder_enforces_the_decoder_limits)
{
    struct wire_frame req, resp;
    struct wire_writer w;
    static char long_message[WIRE_STRING_BYTES_MAX + 10];
    memset(long_message, 'x', sizeof(long_message) - 1);

    /* init_response clips the message to the limit. */
    memset(&req, 0, sizeof(req));
    req.type = WIRE_FETCH;
    req.correlation_id = 5;
    wire_frame_init_response(&resp, &req, WIRE_ERR_UNKNOWN_TOPIC, long_message);
    ck_assert_uint_eq(resp.type, WIRE_FETCH_RESP);
    ck_assert_uint_eq(resp.correlation_id, 5);
    ck_assert_uint_eq(resp.error_message.len, WIRE_STRING_BYTES_MAX);
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(wire_frame_encode(&w, &resp), WIRE_OK);

    /* A hand-made over-long message is refused, and the writer keeps what it had. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_nil(&w);
    resp.error_message.len = WIRE_STRING_BYTES_MAX + 1;
    ck_assert_int_eq(wire_frame_encode(&w, &resp), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_uint_eq(w.len, 1);
    ck_assert_int_eq(w.err, WIRE_OK);

    /* Too many replicas. */
    static uint32_t replicas[WIRE_REPLICAS_MAX + 1];
    struct wire_partition_meta pm = {.replicas = {WIRE_REPLICAS_MAX + 1, replicas}};
    struct wire_topic_meta tm = {.name = {(const uint8_t *)"t", 1}, .partitions = {1, &pm}};
    wire_frame_init_response(&resp, &req, WIRE_OK, NULL);
    resp.type = WIRE_METADATA_RESP;
    resp.body.metadata_resp.topics.count = 1;
    resp.body.metadata_resp.topics.items = &tm;
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(wire_frame_encode(&w, &resp), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_uint_eq(w.len, 0);

    /* Unknown type. */
    resp.type = 99;
    ck_assert_int_eq(wire_frame_encode(&w, &resp), WIRE_ERR_UNKNOWN_TYPE);

    /* Output buffer too small. */
    wire_writer_init(&w, buf, 3);
    wire_frame_init_response(&resp, &req, WIRE_ERR_UNKNOWN_TOPIC, "no such topic");
    ck_assert_int_eq(wire_frame_encode(&w, &resp), WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(w.len, 0);
}
END_TEST

/* Encodes f, decodes it, and checks the re-encoding is identical. */
static void assert_round_trip(const struct wire_frame *f, uint8_t *out, size_t cap)
{
    struct wire_writer w;
    wire_writer_init(&w, out, cap);
    ck_assert_int_eq(wire_frame_encode(&w, f), WIRE_OK);
    size_t len = w.len;
    struct wire_frame g;
    struct wire_arena arena;
    size_t consumed = 0;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    ck_assert_int_eq(wire_frame_decode(out, len, &arena, &g, &consumed, NULL, 0), WIRE_OK);
    ck_assert_uint_eq(consumed, len);
    uint8_t *again = malloc(cap);
    wire_writer_init(&w, again, cap);
    ck_assert_int_eq(wire_frame_encode(&w, &g), WIRE_OK);
    ck_assert_uint_eq(w.len, len);
    ck_assert_int_eq(memcmp(out, again, len), 0);
    free(again);
}

START_TEST(every_limit_is_inclusive)
{
    /* Values exactly at each limit encode, decode and round-trip. */
    size_t cap = WIRE_FRAME_BYTES_MAX;
    uint8_t *out = malloc(cap);
    static uint8_t blob[WIRE_BATCH_BYTES_MAX];
    memset(blob, 0xab, sizeof(blob));

    /* An error message of exactly WIRE_STRING_BYTES_MAX bytes. */
    struct wire_frame f;
    memset(&f, 0, sizeof(f));
    f.version = WIRE_PROTOCOL_VERSION;
    f.type = WIRE_DELETE_TOPIC_RESP;
    f.correlation_id = UINT64_MAX;
    f.error = WIRE_ERR_UNKNOWN_TOPIC;
    f.error_message = (struct wire_bytes){blob, WIRE_STRING_BYTES_MAX};
    assert_round_trip(&f, out, cap);

    /* A PRODUCE with WIRE_PRODUCE_BATCHES_MAX small batches. */
    static struct wire_bytes batches[WIRE_PRODUCE_BATCHES_MAX];
    for (size_t i = 0; i < WIRE_PRODUCE_BATCHES_MAX; i++)
        batches[i] = (struct wire_bytes){blob, 100};
    memset(&f, 0, sizeof(f));
    f.version = WIRE_PROTOCOL_VERSION;
    f.type = WIRE_PRODUCE;
    f.body.produce_req.topic = (struct wire_bytes){blob, WIRE_STRING_BYTES_MAX};
    f.body.produce_req.partition = UINT32_MAX;
    f.body.produce_req.timeout_ms = UINT32_MAX;
    f.body.produce_req.batches = (struct wire_bytes_array){WIRE_PRODUCE_BATCHES_MAX, batches};
    assert_round_trip(&f, out, cap);

    /* Seven batches of exactly WIRE_BATCH_BYTES_MAX: just under the 8 MiB frame. */
    for (size_t i = 0; i < 7; i++)
        batches[i] = (struct wire_bytes){blob, WIRE_BATCH_BYTES_MAX};
    f.body.produce_req.batches.count = 7;
    assert_round_trip(&f, out, cap);

    /* A partition with WIRE_REPLICAS_MAX replicas and extreme integers. */
    static uint32_t replicas[WIRE_REPLICAS_MAX] = {1, 2, 3, 4, 5, 6, UINT32_MAX};
    struct wire_partition_meta pm = {.partition = UINT32_MAX, .leader_id = UINT32_MAX,
                                     .leader_term = UINT64_MAX,
                                     .replicas = {WIRE_REPLICAS_MAX, replicas}};
    struct wire_topic_meta tm = {.name = {blob, 1}, .error = UINT32_MAX, .partitions = {1, &pm}};
    memset(&f, 0, sizeof(f));
    f.version = WIRE_PROTOCOL_VERSION;
    f.type = WIRE_METADATA_RESP;
    f.body.metadata_resp.topics = (typeof(f.body.metadata_resp.topics)){1, &tm};
    assert_round_trip(&f, out, cap);

    /* Signed extremes. */
    memset(&f, 0, sizeof(f));
    f.version = WIRE_PROTOCOL_VERSION;
    f.type = WIRE_LIST_OFFSETS;
    f.body.list_offsets_req.spec = INT64_MIN;
    assert_round_trip(&f, out, cap);
    f.body.list_offsets_req.spec = INT64_MAX;
    assert_round_trip(&f, out, cap);
    free(out);
}
END_TEST

START_TEST(topic_names)
{
    ck_assert(wire_topic_name_valid("orders", 6));
    ck_assert(wire_topic_name_valid("a.b_c-D9", 8));
    ck_assert(!wire_topic_name_valid("", 0));
    ck_assert(!wire_topic_name_valid(".", 1));
    ck_assert(!wire_topic_name_valid("..", 2));
    ck_assert(wire_topic_name_valid("...", 3));
    ck_assert(!wire_topic_name_valid("a b", 3));
    ck_assert(!wire_topic_name_valid("a/b", 3));
    ck_assert(!wire_topic_name_valid("caf\xc3\xa9", 5));
    ck_assert(!wire_topic_name_valid("a\0b", 3));
    static char name[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    memset(name, 'a', sizeof(name));
    ck_assert(wire_topic_name_valid(name, WIRE_TOPIC_NAME_BYTES_MAX));
    ck_assert(!wire_topic_name_valid(name, WIRE_TOPIC_NAME_BYTES_MAX + 1));
}
END_TEST

START_TEST(create_topic_validation)
{
    char why[160];
    struct wire_create_topic_req req = {
        .name = {(const uint8_t *)"orders", 6},
        .partitions = 3,
        .replication_factor = 3,
        .retention_ms = -1,
        .retention_bytes = -1,
    };
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)), WIRE_OK);
    ck_assert_str_eq(why, "");

    req.name = (struct wire_bytes){(const uint8_t *)"bad name", 8};
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)), WIRE_ERR_INVALID_TOPIC_NAME);
    ck_assert_ptr_ne(strstr(why, "249"), NULL);
    req.name = (struct wire_bytes){(const uint8_t *)"orders", 6};

    req.partitions = 0;
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)), WIRE_ERR_INVALID_PARTITIONS);
    req.partitions = WIRE_PARTITIONS_MAX + 1;
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)), WIRE_ERR_INVALID_PARTITIONS);
    ck_assert_str_eq(why, "partitions must be between 1 and 10000");
    req.partitions = WIRE_PARTITIONS_MAX;
    ck_assert_int_eq(wire_validate_create_topic(&req, NULL, 0), WIRE_OK);

    req.replication_factor = 0;
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)),
                     WIRE_ERR_INVALID_REPLICATION_FACTOR);
    req.replication_factor = WIRE_REPLICAS_MAX + 1;
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)),
                     WIRE_ERR_INVALID_REPLICATION_FACTOR);
    req.replication_factor = 1;

    req.retention_ms = 0;
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)), WIRE_ERR_INVALID_REQUEST);
    req.retention_ms = -2;
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)), WIRE_ERR_INVALID_REQUEST);
    req.retention_ms = 1000;
    req.retention_bytes = -5;
    ck_assert_int_eq(wire_validate_create_topic(&req, why, sizeof(why)), WIRE_ERR_INVALID_REQUEST);
    ck_assert_ptr_ne(strstr(why, "retention_bytes"), NULL);
}
END_TEST

START_TEST(type_names)
{
    ck_assert_str_eq(wire_type_name(WIRE_PRODUCE), "PRODUCE");
    ck_assert_str_eq(wire_type_name(WIRE_PRODUCE_RESP), "PRODUCE_RESP");
    ck_assert_str_eq(wire_type_name(0), "UNKNOWN");
    ck_assert(wire_type_is_response(WIRE_FETCH_RESP));
    ck_assert(!wire_type_is_response(WIRE_FETCH));
    ck_assert(!wire_type_known(0));
    ck_assert(wire_type_known(WIRE_APPEND_ENTRIES_RESP));
}
END_TEST

Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tm = tcase_create("malformed");
    tcase_set_timeout(tm, 60);
    tcase_add_loop_test(tm, every_truncation_is_reported_truncated, 0, (int)wire_examples_count);
    tcase_add_loop_test(tm, random_corruption_never_crashes, 0, (int)wire_examples_count);
    tcase_add_test(tm, garbage_is_rejected);
    tcase_add_test(tm, wrong_field_types);
    tcase_add_test(tm, out_of_range_values);
    tcase_add_test(tm, oversized_lengths_and_counts);
    tcase_add_test(tm, frame_larger_than_the_frame_limit);
    tcase_add_test(tm, unknown_version_and_type_keep_the_correlation_id);
    tcase_add_test(tm, nesting_abuse);
    tcase_add_test(tm, one_way_response_type_is_reserved);
    tcase_add_test(tm, unknown_types_can_be_answered_with_an_error);
    tcase_add_test(tm, malformed_frame_followed_by_much_data_is_truncated_not_too_large);
    tcase_add_test(tm, arena_exhaustion_is_a_limit_error);
    tcase_add_test(tm, arena_of_sixteen_times_the_input_suffices);
    suite_add_tcase(s, tm);
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, trailing_fields_are_skipped);
    tcase_add_test(tc, unknown_error_code_body_is_skipped);
    tcase_add_test(tc, several_frames_in_one_message);
    tcase_add_test(tc, every_limit_is_inclusive);
    tcase_add_test(tc, encoder_enforces_the_decoder_limits);
    tcase_add_test(tc, topic_names);
    tcase_add_test(tc, create_topic_validation);
    tcase_add_test(tc, type_names);
    suite_add_tcase(s, tc);
    return s;
}
