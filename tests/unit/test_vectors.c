/*
 * Golden vectors: every example frame must encode to the bytes committed in
 * tests/vectors/<name>.hex, and those bytes must decode and re-encode to
 * themselves. A failure here means the wire format changed: if that was
 * intended, regenerate with build/bin/raftmq-wire-vectors, review the diff
 * and update docs/protocol.md.
 */
#include <check.h>
#include <msgpack.h>
#include <string.h>

#include "suites.h"
#include "tests/vectors/examples.h"
#include "wire/batch.h"
#include "wire/frame.h"

#define VECTORS_DIR RAFTMQ_SOURCE_DIR "/tests/vectors"

static uint8_t vector[64 * 1024];
static uint8_t encoded[64 * 1024];
static uint8_t reencoded[64 * 1024];
static uint8_t arena_mem[64 * 1024];

START_TEST(example_encodes_to_its_vector)
{
    const struct wire_example *ex = &wire_examples[_i];
    long len = wire_example_read_vector(VECTORS_DIR, ex->name, vector, sizeof(vector));
    ck_assert_msg(len > 0, "missing or unreadable vector %s/%s.hex", VECTORS_DIR, ex->name);

    struct wire_frame f;
    struct wire_writer w;
    ex->build(&f);
    wire_writer_init(&w, encoded, sizeof(encoded));
    ck_assert_int_eq(wire_frame_encode(&w, &f), WIRE_OK);
    ck_assert_msg(w.len == (size_t)len && memcmp(encoded, vector, w.len) == 0,
                  "%s: encoding differs from the golden vector", ex->name);
}
END_TEST

START_TEST(vector_decodes_and_reencodes_identically)
{
    const struct wire_example *ex = &wire_examples[_i];
    long len = wire_example_read_vector(VECTORS_DIR, ex->name, vector, sizeof(vector));
    ck_assert(len > 0);

    struct wire_frame expected, got;
    struct wire_arena arena;
    size_t consumed = 0;
    char why[256];
    ex->build(&expected);
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    int rc = wire_frame_decode(vector, (size_t)len, &arena, &got, &consumed, why, sizeof(why));
    ck_assert_msg(rc == WIRE_OK, "%s: %s", ex->name, why);
    ck_assert_uint_eq(consumed, (size_t)len);
    ck_assert_uint_eq(got.version, WIRE_PROTOCOL_VERSION);
    ck_assert_uint_eq(got.type, expected.type);
    ck_assert_uint_eq(got.correlation_id, expected.correlation_id);
    ck_assert_uint_eq(got.error, expected.error);
    ck_assert_uint_eq(got.error_message.len, expected.error_message.len);

    struct wire_writer w;
    wire_writer_init(&w, reencoded, sizeof(reencoded));
    ck_assert_int_eq(wire_frame_encode(&w, &got), WIRE_OK);
    ck_assert_uint_eq(w.len, (size_t)len);
    ck_assert_int_eq(memcmp(reencoded, vector, w.len), 0);
}
END_TEST

START_TEST(vector_is_one_msgpack_array_for_msgpack_c)
{
    const struct wire_example *ex = &wire_examples[_i];
    long len = wire_example_read_vector(VECTORS_DIR, ex->name, vector, sizeof(vector));
    ck_assert(len > 0);
    msgpack_unpacked result;
    msgpack_unpacked_init(&result);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&result, (const char *)vector, (size_t)len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, (size_t)len);
    ck_assert_int_eq(result.data.type, MSGPACK_OBJECT_ARRAY);
    uint32_t elements = result.data.via.array.size;
    ck_assert(elements == 4 || elements == 6);
    ck_assert_uint_eq(result.data.via.array.ptr[0].via.u64, WIRE_PROTOCOL_VERSION);
    msgpack_unpacked_destroy(&result);
}
END_TEST

static void decode_vector(const char *name, struct wire_frame *f, struct wire_arena *arena)
{
    long len = wire_example_read_vector(VECTORS_DIR, name, vector, sizeof(vector));
    ck_assert(len > 0);
    size_t consumed;
    wire_arena_init(arena, arena_mem, sizeof(arena_mem));
    ck_assert_int_eq(wire_frame_decode(vector, (size_t)len, arena, f, &consumed, NULL, 0), WIRE_OK);
}

static int bytes_eq(struct wire_bytes b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

START_TEST(decoded_fields_hold_the_example_values)
{
    struct wire_frame f;
    struct wire_arena arena;

    decode_vector("metadata_resp", &f, &arena);
    const struct wire_metadata_resp *m = &f.body.metadata_resp;
    ck_assert_uint_eq(m->controller_id, 1);
    ck_assert_uint_eq(m->brokers.count, 3);
    ck_assert(bytes_eq(m->brokers.items[2].client_address, "tcp://127.0.0.1:9094"));
    ck_assert_uint_eq(m->topics.count, 2);
    ck_assert(bytes_eq(m->topics.items[0].name, "orders"));
    ck_assert_uint_eq(m->topics.items[0].partitions.count, 2);
    ck_assert_uint_eq(m->topics.items[0].partitions.items[1].leader_term, 7);
    ck_assert_uint_eq(m->topics.items[0].partitions.items[1].replicas.items[0], 2);
    ck_assert_uint_eq(m->topics.items[1].error, WIRE_ERR_UNKNOWN_TOPIC);

    decode_vector("produce_resp_not_leader", &f, &arena);
    ck_assert_uint_eq(f.error, WIRE_ERR_NOT_LEADER);
    ck_assert_uint_eq(f.body.not_leader_detail.leader_id, 2);
    ck_assert(bytes_eq(f.body.not_leader_detail.leader_address, "tcp://127.0.0.1:9093"));

    decode_vector("fetch_resp_out_of_range", &f, &arena);
    ck_assert_uint_eq(f.body.offset_range_detail.high_watermark, 1100);

    decode_vector("create_topic_req", &f, &arena);
    ck_assert_int_eq(f.body.create_topic_req.retention_bytes, -1);
    ck_assert_int_eq(f.body.create_topic_req.retention_ms, 604800000LL);

    decode_vector("append_entries_req", &f, &arena);
    ck_assert_uint_eq(f.body.append_entries_req.entries.count, 2);
    ck_assert_uint_eq(f.body.append_entries_req.entries.items[0].type, 3);
    ck_assert_uint_eq(f.body.append_entries_req.entries.items[1].payload.len, 8);

    decode_vector("request_vote_req", &f, &arena);
    ck_assert(f.body.request_vote_req.pre_vote);
    ck_assert(!f.body.request_vote_req.leadership_transfer);

    decode_vector("install_snapshot_req", &f, &arena);
    ck_assert_uint_eq(f.body.install_snapshot_req.configuration.count, 4);
    ck_assert(!f.body.install_snapshot_req.configuration.items[3].voter);
    ck_assert(f.body.install_snapshot_req.done);
}
END_TEST

START_TEST(every_frame_type_has_an_example)
{
    static const uint32_t types[] = {
#define TYPE_(name, number, req, resp) WIRE_##name, WIRE_##name##_RESP,
        WIRE_MESSAGES(TYPE_)
#undef TYPE_
    };
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        if (!wire_type_known(types[t]))
            continue; /* reserved: the response of a one-way message */
        int found = 0;
        for (size_t i = 0; i < wire_examples_count && !found; i++) {
            struct wire_frame f;
            wire_examples[i].build(&f);
            found = f.type == types[t];
        }
        ck_assert_msg(found, "no example for %s", wire_type_name(types[t]));
    }
}
END_TEST

static int record_eq(const struct wire_record *a, const struct wire_record *b)
{
    if (a->offset != b->offset || a->timestamp != b->timestamp || a->has_key != b->has_key ||
        a->key.len != b->key.len || a->value.len != b->value.len ||
        a->header_count != b->header_count)
        return 0;
    if ((a->key.len && memcmp(a->key.ptr, b->key.ptr, a->key.len) != 0) ||
        (a->value.len && memcmp(a->value.ptr, b->value.ptr, a->value.len) != 0))
        return 0;
    for (uint32_t i = 0; i < a->header_count; i++) {
        const struct wire_header *x = &a->headers[i], *y = &b->headers[i];
        if (x->name.len != y->name.len || x->value.len != y->value.len ||
            memcmp(x->name.ptr, y->name.ptr, x->name.len) != 0 ||
            (x->value.len && memcmp(x->value.ptr, y->value.ptr, x->value.len) != 0))
            return 0;
    }
    return 1;
}

/* Same header fields (all but crc and stored size) and the same records. */
static void assert_same_batch_content(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    static uint8_t scratch_a[WIRE_BATCH_RECORDS_BYTES_MAX], scratch_b[WIRE_BATCH_RECORDS_BYTES_MAX];
    struct wire_batch_header ha, hb;
    ck_assert_int_eq(wire_batch_validate(a, a_len, &ha, NULL), WIRE_OK);
    ck_assert_int_eq(wire_batch_validate(b, b_len, &hb, NULL), WIRE_OK);
    ck_assert(ha.base_offset == hb.base_offset && ha.codec == hb.codec &&
              ha.record_count == hb.record_count && ha.first_timestamp == hb.first_timestamp &&
              ha.max_timestamp == hb.max_timestamp && ha.producer_id == hb.producer_id &&
              ha.producer_epoch == hb.producer_epoch && ha.base_sequence == hb.base_sequence &&
              ha.records_bytes == hb.records_bytes);
    struct wire_record_iter ia, ib;
    struct wire_record ra, rb;
    ck_assert_int_eq(wire_record_iter_init(&ia, &ha, scratch_a, sizeof(scratch_a), NULL), WIRE_OK);
    ck_assert_int_eq(wire_record_iter_init(&ib, &hb, scratch_b, sizeof(scratch_b), NULL), WIRE_OK);
    /* Decompressed, the records must be byte-identical too. */
    ck_assert_int_eq(memcmp(ia.reader.start, ib.reader.start, ha.records_bytes), 0);
    while (wire_record_iter_has_next(&ia)) {
        ck_assert_int_eq(wire_record_iter_next(&ia, &ra, NULL), WIRE_OK);
        ck_assert_int_eq(wire_record_iter_next(&ib, &rb, NULL), WIRE_OK);
        ck_assert(record_eq(&ra, &rb));
    }
}

START_TEST(batch_example_builds_its_vector)
{
    const struct wire_batch_example *ex = &wire_batch_examples[_i];
    long len = wire_example_read_vector(VECTORS_DIR, ex->name, vector, sizeof(vector));
    ck_assert_msg(len > 0, "missing or unreadable vector %s/%s.hex", VECTORS_DIR, ex->name);
    struct wire_bytes batch = ex->build(encoded, WIRE_EXAMPLE_BATCH_BYTES);
    ck_assert_ptr_nonnull(batch.ptr);
    if (ex->compressed)
        assert_same_batch_content(batch.ptr, batch.len, vector, (size_t)len);
    else
        ck_assert_msg(batch.len == (size_t)len && memcmp(batch.ptr, vector, batch.len) == 0,
                      "%s: the builder's batch differs from the golden vector", ex->name);
    /* The committed bytes validate and every record reads back. */
    struct wire_batch_header h;
    static uint8_t scratch[WIRE_BATCH_RECORDS_BYTES_MAX];
    ck_assert_int_eq(wire_batch_validate(vector, (size_t)len, &h, NULL), WIRE_OK);
    ck_assert_int_eq(wire_batch_verify_records(&h, scratch, sizeof(scratch), NULL), WIRE_OK);
}
END_TEST

START_TEST(batch_vectors_hold_the_example_values)
{
    struct wire_batch_header h;
    struct wire_record_iter it;
    struct wire_record rec;
    static uint8_t scratch[WIRE_BATCH_RECORDS_BYTES_MAX];

    long len = wire_example_read_vector(VECTORS_DIR, "batch_one_record", vector, sizeof(vector));
    ck_assert_int_eq(len, 82); /* the example in docs/protocol.md */
    ck_assert_int_eq(wire_batch_validate(vector, (size_t)len, &h, NULL), WIRE_OK);
    ck_assert_uint_eq(h.crc, 0xEEB541E0u);
    ck_assert_int_eq(h.first_timestamp, 1767225600000LL);

    len = wire_example_read_vector(VECTORS_DIR, "batch_lz4_headers", vector, sizeof(vector));
    ck_assert_int_eq(wire_batch_validate(vector, (size_t)len, &h, NULL), WIRE_OK);
    ck_assert_uint_eq(h.codec, WIRE_CODEC_LZ4);
    ck_assert_uint_eq(h.base_offset, 1000);
    ck_assert_int_eq(h.producer_id, 4242);
    ck_assert_int_eq(h.producer_epoch, 3);
    ck_assert_int_eq(h.base_sequence, 100);
    ck_assert_int_eq(h.max_timestamp, 1767225600005LL);
    ck_assert_int_eq(wire_record_iter_init(&it, &h, scratch, sizeof(scratch), NULL), WIRE_OK);
    ck_assert_int_eq(wire_record_iter_next(&it, &rec, NULL), WIRE_OK);
    ck_assert_uint_eq(rec.offset, 1000);
    ck_assert(!rec.has_key);
    ck_assert_int_eq(wire_record_iter_next(&it, &rec, NULL), WIRE_OK);
    ck_assert(rec.has_key);
    ck_assert_uint_eq(rec.key.len, 0);
    ck_assert_uint_eq(rec.header_count, 3);
    ck_assert(bytes_eq(rec.headers[1].name, "retry") && bytes_eq(rec.headers[1].value, "1"));
    ck_assert(bytes_eq(rec.headers[2].name, "retry") && bytes_eq(rec.headers[2].value, "2"));
    ck_assert_int_eq(wire_record_iter_next(&it, &rec, NULL), WIRE_OK);
    ck_assert_uint_eq(rec.offset, 1002);
    ck_assert_int_eq(rec.timestamp, 1767225599990LL);
    ck_assert(bytes_eq(rec.key, "customer-17"));
    ck_assert(!wire_record_iter_has_next(&it));
}
END_TEST

Suite *vectors_suite(void)
{
    Suite *s = suite_create("vectors");
    TCase *tc = tcase_create("golden");
    tcase_add_loop_test(tc, example_encodes_to_its_vector, 0, (int)wire_examples_count);
    tcase_add_loop_test(tc, vector_decodes_and_reencodes_identically, 0, (int)wire_examples_count);
    tcase_add_loop_test(tc, vector_is_one_msgpack_array_for_msgpack_c, 0, (int)wire_examples_count);
    tcase_add_test(tc, decoded_fields_hold_the_example_values);
    tcase_add_test(tc, every_frame_type_has_an_example);
    tcase_add_loop_test(tc, batch_example_builds_its_vector, 0, (int)wire_batch_examples_count);
    tcase_add_test(tc, batch_vectors_hold_the_example_values);
    suite_add_tcase(s, tc);
    return s;
}
