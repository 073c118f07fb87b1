/*
 * Tests wire/batch.c: the record-batch layout, the builder, the record
 * iterator and the validator's answer to hostile input.
 *
 * How: batches are built with the builder and read back field by field; the
 * layout is pinned byte by byte and cross-checked with msgpack-c's unpacker
 * as an independent decoder. Malformed batches are made three ways: by
 * cutting or bit-flipping a built batch (the CRC must catch it), by editing
 * a built batch and recomputing the CRC (batch_fix_crc), and by assembling
 * a batch around hand-written records (batch_craft), so the record checks
 * are reached with a valid CRC. Every batch under test sits in a heap block
 * of exactly its size, so ASan reports any read past the end.
 */
#include <limits.h>
#include <lz4.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/suites.h"
#include "wire/batch.h"
#include "wire/crc32c.h"
#include "wire/errors.h"
#include "wire/limits.h"
#include "wire/mp.h"

/* ---- helpers --------------------------------------------------------------- */

#define ck_assert_err(actual, expected)                                                    \
    do {                                                                                   \
        int actual_ = (actual);                                                            \
        int expected_ = (expected);                                                        \
        ck_assert_msg(actual_ == expected_, "%s: got %s (%d), want %s (%d)", #actual,      \
                      wire_err_name(actual_), actual_, wire_err_name(expected_), expected_); \
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
    memcpy(p, src, n);
    return p;
}

static struct wire_bytes bytes_of(const char *s)
{
    struct wire_bytes b = {(const uint8_t *)s, (uint32_t)strlen(s)};
    return b;
}

static struct wire_bytes bytes_n(const void *p, size_t n)
{
    struct wire_bytes b = {p, (uint32_t)n};
    return b;
}

static bool bytes_eq(struct wire_bytes a, struct wire_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng_next() >> 56);
}

static void put_be(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned i = width; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Recomputes the CRC after a test edited a batch, so the edit reaches the later checks. */
static void batch_fix_crc(uint8_t *batch, size_t len)
{
    uint32_t crc = wire_crc32c(0, batch + WIRE_BATCH_CRC_START, len - WIRE_BATCH_CRC_START);
    put_be(batch + 12, crc, 4);
}

/* Builder storage for one batch: the records buffer and the LZ4 output buffer. */
struct build_ctx {
    struct wire_batch_builder b;
    uint8_t *buf;
    uint8_t *lz4;
    size_t lz4_cap;
};

static void build_begin(struct build_ctx *c, size_t cap, enum wire_codec codec)
{
    c->buf = xmalloc(cap);
    c->lz4_cap = wire_batch_lz4_buf_bytes(cap);
    c->lz4 = xmalloc(c->lz4_cap);
    wire_batch_builder_init(&c->b, c->buf, cap, codec);
}

/* Finishes and returns a heap copy of exactly the batch; frees the builder's buffers. */
static uint8_t *build_end(struct build_ctx *c, size_t *len)
{
    struct wire_bytes out;
    ck_assert_err(wire_batch_builder_finish(&c->b, c->lz4, c->lz4_cap, &out), WIRE_OK);
    uint8_t *copy = xmemdup(out.ptr, out.len);
    *len = out.len;
    free(c->buf);
    free(c->lz4);
    return copy;
}

static uint8_t *build_batch(enum wire_codec codec, const struct wire_record *recs, size_t n,
                            size_t *len)
{
    struct build_ctx c;
    build_begin(&c, WIRE_BATCH_HEADER_BYTES + WIRE_BATCH_RECORDS_BYTES_MAX, codec);
    for (size_t i = 0; i < n; i++)
        ck_assert_err(wire_batch_builder_add(&c.b, &recs[i]), WIRE_OK);
    return build_end(&c, len);
}

/* Validates, then reads every record back and compares it with recs. */
static void check_round_trip(const uint8_t *batch, size_t len, const struct wire_record *recs,
                             size_t n, uint64_t base_offset)
{
    struct wire_batch_header h;
    const char *why = NULL;
    ck_assert_err(wire_batch_validate(batch, len, &h, &why), WIRE_OK);
    ck_assert_uint_eq(h.base_offset, base_offset);
    ck_assert_uint_eq(h.record_count, n);

    int64_t ts_max = recs[0].timestamp;
    for (size_t i = 0; i < n; i++)
        if (recs[i].timestamp > ts_max)
            ts_max = recs[i].timestamp;
    ck_assert_int_eq(h.first_timestamp, recs[0].timestamp);
    ck_assert_int_eq(h.max_timestamp, ts_max);

    uint8_t *scratch = xmalloc(h.records_bytes);
    ck_assert_err(wire_batch_verify_records(&h, scratch, h.records_bytes, &why), WIRE_OK);

    struct wire_record_iter it;
    ck_assert_err(wire_record_iter_init(&it, &h, scratch, h.records_bytes, &why), WIRE_OK);
    for (size_t i = 0; i < n; i++) {
        struct wire_record got;
        ck_assert(wire_record_iter_has_next(&it));
        ck_assert_err(wire_record_iter_next(&it, &got, &why), WIRE_OK);
        ck_assert_uint_eq(got.offset, base_offset + i);
        ck_assert_int_eq(got.timestamp, recs[i].timestamp);
        ck_assert_int_eq(got.has_key, recs[i].has_key);
        if (recs[i].has_key)
            ck_assert(bytes_eq(got.key, recs[i].key));
        ck_assert(bytes_eq(got.value, recs[i].value));
        ck_assert_uint_eq(got.header_count, recs[i].header_count);
        for (uint32_t j = 0; j < got.header_count; j++) {
            ck_assert(bytes_eq(got.headers[j].name, recs[i].headers[j].name));
            ck_assert(bytes_eq(got.headers[j].value, recs[i].headers[j].value));
        }
    }
    ck_assert(!wire_record_iter_has_next(&it));
    free(scratch);
}

/*
 * Assembles a batch around `stored` (records as they are stored: compressed
 * when codec is LZ4) with a valid CRC, in a heap block of exactly its size.
 */
struct craft {
    uint8_t codec;
    uint32_t record_count;
    int64_t first_timestamp;
    int64_t max_timestamp;
    uint32_t records_bytes;
};

static uint8_t *batch_craft(const struct craft *c, const void *stored, size_t stored_len,
                            size_t *len)
{
    *len = WIRE_BATCH_HEADER_BYTES + stored_len;
    uint8_t *p = xmalloc(*len);
    p[0] = 0x9c;
    p[1] = WIRE_BATCH_VERSION;
    p[2] = 0xcf;
    put_be(p + 3, 0, 8);
    p[11] = 0xce;
    p[16] = 0xcc;
    p[17] = c->codec;
    p[18] = 0xce;
    put_be(p + 19, c->record_count, 4);
    p[23] = 0xd3;
    put_be(p + 24, (uint64_t)c->first_timestamp, 8);
    p[32] = 0xd3;
    put_be(p + 33, (uint64_t)c->max_timestamp, 8);
    p[41] = 0xd3;
    put_be(p + 42, (uint64_t)-1, 8);
    p[50] = 0xd1;
    put_be(p + 51, 0xffff, 2);
    p[53] = 0xd2;
    put_be(p + 54, 0xffffffffu, 4);
    p[58] = 0xce;
    put_be(p + 59, c->records_bytes, 4);
    p[63] = 0xc6;
    put_be(p + 64, stored_len, 4);
    if (stored_len > 0)
        memcpy(p + WIRE_BATCH_HEADER_BYTES, stored, stored_len);
    batch_fix_crc(p, *len);
    return p;
}

/* An uncompressed batch around raw records, timestamps 0. */
static uint8_t *craft_none(const struct wire_writer *records, uint32_t count, size_t *len)
{
    struct craft c = {WIRE_CODEC_NONE, count, 0, 0, (uint32_t)records->len};
    return batch_craft(&c, records->buf, records->len, len);
}

/* An LZ4 batch around raw records (compressed here), timestamps 0. */
static uint8_t *craft_lz4(const void *records, size_t records_len, uint32_t count, size_t *len)
{
    int bound = LZ4_compressBound((int)records_len);
    char *z = xmalloc((size_t)bound);
    int zlen = LZ4_compress_default(records, z, (int)records_len, bound);
    ck_assert_int_gt(zlen, 0);
    struct craft c = {WIRE_CODEC_LZ4, count, 0, 0, (uint32_t)records_len};
    uint8_t *batch = batch_craft(&c, z, (size_t)zlen, len);
    free(z);
    return batch;
}

/* Writes a standard record [offset_delta, ts_delta, key, value, {}]. */
static void raw_record(struct wire_writer *w, uint64_t offset_delta, int64_t ts_delta,
                       const char *key, const char *value)
{
    wire_write_array(w, 5);
    wire_write_uint(w, offset_delta);
    wire_write_int(w, ts_delta);
    if (key != NULL)
        wire_write_bin(w, key, (uint32_t)strlen(key));
    else
        wire_write_nil(w);
    wire_write_bin(w, value, (uint32_t)strlen(value));
    wire_write_map(w, 0);
    ck_assert_err(w->err, WIRE_OK);
}

/* Validate must pass; returns what the deep record check says. */
static int verify_crafted(const uint8_t *batch, size_t len)
{
    struct wire_batch_header h;
    const char *why = NULL;
    ck_assert_err(wire_batch_validate(batch, len, &h, &why), WIRE_OK);
    uint8_t *scratch = xmalloc(h.records_bytes);
    why = NULL;
    int rc = wire_batch_verify_records(&h, scratch, h.records_bytes, &why);
    if (rc != WIRE_OK)
        ck_assert_ptr_nonnull(why);
    free(scratch);
    return rc;
}

static int verify_none(const struct wire_writer *records, uint32_t count)
{
    size_t len;
    uint8_t *batch = craft_none(records, count, &len);
    int rc = verify_crafted(batch, len);
    free(batch);
    return rc;
}

static struct wire_record simple_record(const char *key, const char *value, int64_t ts)
{
    struct wire_record r = {0};
    r.timestamp = ts;
    r.has_key = key != NULL;
    if (key != NULL)
        r.key = bytes_of(key);
    r.value = bytes_of(value);
    return r;
}

/* A small valid batch (2 records, a header, a nil key) used by the corruption tests. */
static uint8_t *small_batch(enum wire_codec codec, size_t *len)
{
    static const struct wire_header hdrs[] = {{{(const uint8_t *)"h", 1}, {(const uint8_t *)"v", 1}}};
    struct wire_record recs[2] = {simple_record("key", "value", 1700000000000),
                                  simple_record(NULL, "value value value value value value value value value value value",
                                                1700000000005)};
    recs[0].header_count = 1;
    recs[0].headers = hdrs;
    return build_batch(codec, recs, 2, len);
}

/* ---- layout ----------------------------------------------------------------- */

START_TEST(test_layout_golden)
{
    struct build_ctx c;
    build_begin(&c, 4096, WIRE_CODEC_NONE);
    wire_batch_builder_set_producer(&c.b, 7, 3, 42);
    struct wire_record r = simple_record("k", "v", 1000);
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_OK);
    size_t len;
    uint8_t *p = build_end(&c, &len);

    /* [0x95, 0, 0, bin "k", bin "v", {}] */
    static const uint8_t records[] = {0x95, 0x00, 0x00, 0xc4, 0x01, 'k', 0xc4, 0x01, 'v', 0x80};
    ck_assert_uint_eq(len, WIRE_BATCH_HEADER_BYTES + sizeof(records));
    ck_assert_mem_eq(p + WIRE_BATCH_HEADER_BYTES, records, sizeof(records));

    ck_assert_uint_eq(p[0], 0x9c);
    ck_assert_uint_eq(p[1], 0x01);
    ck_assert_uint_eq(p[2], 0xcf);
    ck_assert_uint_eq(get_be(p + 3, 8), 0);
    ck_assert_uint_eq(p[11], 0xce);
    ck_assert_uint_eq(get_be(p + 12, 4), wire_crc32c(0, p + 16, len - 16));
    ck_assert_uint_eq(p[16], 0xcc);
    ck_assert_uint_eq(p[17], WIRE_CODEC_NONE);
    ck_assert_uint_eq(p[18], 0xce);
    ck_assert_uint_eq(get_be(p + 19, 4), 1);
    ck_assert_uint_eq(p[23], 0xd3);
    ck_assert_uint_eq(get_be(p + 24, 8), 1000);
    ck_assert_uint_eq(p[32], 0xd3);
    ck_assert_uint_eq(get_be(p + 33, 8), 1000);
    ck_assert_uint_eq(p[41], 0xd3);
    ck_assert_uint_eq(get_be(p + 42, 8), 7);
    ck_assert_uint_eq(p[50], 0xd1);
    ck_assert_uint_eq(get_be(p + 51, 2), 3);
    ck_assert_uint_eq(p[53], 0xd2);
    ck_assert_uint_eq(get_be(p + 54, 4), 42);
    ck_assert_uint_eq(p[58], 0xce);
    ck_assert_uint_eq(get_be(p + 59, 4), sizeof(records));
    ck_assert_uint_eq(p[63], 0xc6);
    ck_assert_uint_eq(get_be(p + 64, 4), sizeof(records));

    /* msgpack-c, an independent decoder, reads the same 12 fields. */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&u, (const char *)p, len, &off), MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, len);
    msgpack_object o = u.data;
    ck_assert_int_eq(o.type, MSGPACK_OBJECT_ARRAY);
    ck_assert_uint_eq(o.via.array.size, 12);
    msgpack_object *e = o.via.array.ptr;
    ck_assert_uint_eq(e[0].via.u64, 1);
    ck_assert_uint_eq(e[1].via.u64, 0);
    ck_assert_uint_eq(e[2].via.u64, get_be(p + 12, 4));
    ck_assert_uint_eq(e[3].via.u64, WIRE_CODEC_NONE);
    ck_assert_uint_eq(e[4].via.u64, 1);
    ck_assert_int_eq(e[5].via.i64, 1000);
    ck_assert_int_eq(e[6].via.i64, 1000);
    ck_assert_int_eq(e[7].via.i64, 7);
    ck_assert_int_eq(e[8].via.i64, 3);
    ck_assert_int_eq(e[9].via.i64, 42);
    ck_assert_uint_eq(e[10].via.u64, sizeof(records));
    ck_assert_int_eq(e[11].type, MSGPACK_OBJECT_BIN);
    ck_assert_uint_eq(e[11].via.bin.size, sizeof(records));
    msgpack_unpacked_destroy(&u);

    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    ck_assert_int_eq(h.producer_id, 7);
    ck_assert_int_eq(h.producer_epoch, 3);
    ck_assert_int_eq(h.base_sequence, 42);
    ck_assert_uint_eq(h.codec, WIRE_CODEC_NONE);
    ck_assert_ptr_eq(h.records.ptr, p + WIRE_BATCH_HEADER_BYTES);
    free(p);
}
END_TEST

START_TEST(test_producer_defaults)
{
    struct wire_record r = simple_record(NULL, "x", -5);
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, &r, 1, &len);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    ck_assert_int_eq(h.producer_id, -1);
    ck_assert_int_eq(h.producer_epoch, -1);
    ck_assert_int_eq(h.base_sequence, -1);
    ck_assert_int_eq(h.first_timestamp, -5);
    check_round_trip(p, len, &r, 1, 0);
    free(p);
}
END_TEST

/* Builder output decoded record by record by msgpack-c agrees with the iterator. */
START_TEST(test_records_msgpack_oracle)
{
    static const struct wire_header hdrs[] = {{{(const uint8_t *)"trace", 5}, {(const uint8_t *)"abc", 3}}};
    struct wire_record recs[3] = {simple_record("a", "1", 10), simple_record(NULL, "22", 5),
                                  simple_record("", "", 300000)};
    recs[1].header_count = 1;
    recs[1].headers = hdrs;
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, recs, 3, &len);
    const char *body = (const char *)p + WIRE_BATCH_HEADER_BYTES;
    size_t body_len = len - WIRE_BATCH_HEADER_BYTES, off = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(msgpack_unpack_next(&u, body, body_len, &off), MSGPACK_UNPACK_SUCCESS);
        msgpack_object *e = u.data.via.array.ptr;
        ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
        ck_assert_uint_eq(u.data.via.array.size, 5);
        ck_assert_uint_eq(e[0].via.u64, (uint64_t)i);
        ck_assert_int_eq(e[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? e[1].via.i64
                                                                      : (int64_t)e[1].via.u64,
                         recs[i].timestamp - 10);
        ck_assert_int_eq(e[2].type, recs[i].has_key ? MSGPACK_OBJECT_BIN : MSGPACK_OBJECT_NIL);
        ck_assert_int_eq(e[3].type, MSGPACK_OBJECT_BIN);
        ck_assert_int_eq(e[4].type, MSGPACK_OBJECT_MAP);
        ck_assert_uint_eq(e[4].via.map.size, recs[i].header_count);
    }
    ck_assert_uint_eq(off, body_len);
    msgpack_unpacked_destroy(&u);
    check_round_trip(p, len, recs, 3, 0);
    free(p);
}
END_TEST

/* ---- round trips ------------------------------------------------------------- */

START_TEST(test_round_trip_none)
{
    enum { N = 50 };
    struct wire_record recs[N];
    uint8_t values[N][100];
    static const struct wire_header hdrs[] = {
        {{(const uint8_t *)"content-type", 12}, {(const uint8_t *)"json", 4}},
        {{(const uint8_t *)"x", 1}, {(const uint8_t *)"", 0}},
    };
    for (int i = 0; i < N; i++) {
        fill_random(values[i], sizeof(values[i]));
        recs[i] = (struct wire_record){0};
        recs[i].timestamp = 1700000000000 + (i * 37) % 11 - 5;
        recs[i].has_key = i % 3 != 0;
        recs[i].key = bytes_n(values[i], (size_t)i % 17);
        recs[i].value = bytes_n(values[i], (size_t)(i * 7) % 100);
        recs[i].header_count = (uint32_t)i % 3;
        recs[i].headers = hdrs;
    }
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, recs, N, &len);
    ck_assert_uint_eq(p[17], WIRE_CODEC_NONE);
    check_round_trip(p, len, recs, N, 0);
    free(p);
}
END_TEST

START_TEST(test_round_trip_lz4_compressible)
{
    enum { N = 200 };
    struct wire_record recs[N];
    static const char text[] = "the quick brown fox jumps over the lazy dog; the quick brown fox jumps";
    for (int i = 0; i < N; i++)
        recs[i] = simple_record(i % 2 ? "user-42" : NULL, text, 1000 + i);
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_LZ4, recs, N, &len);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    ck_assert_uint_eq(h.codec, WIRE_CODEC_LZ4);
    ck_assert_uint_lt(h.records.len, h.records_bytes / 4);
    check_round_trip(p, len, recs, N, 0);
    free(p);
}
END_TEST

/* Random values do not compress: the builder stores them uncompressed, in its own buffer. */
START_TEST(test_lz4_incompressible_falls_back)
{
    enum { N = 20 };
    struct wire_record recs[N];
    uint8_t values[N][100];
    for (int i = 0; i < N; i++) {
        fill_random(values[i], sizeof(values[i]));
        recs[i] = simple_record(NULL, "", 5);
        recs[i].value = bytes_n(values[i], sizeof(values[i]));
    }
    struct build_ctx c;
    build_begin(&c, 1 << 16, WIRE_CODEC_LZ4);
    for (int i = 0; i < N; i++)
        ck_assert_err(wire_batch_builder_add(&c.b, &recs[i]), WIRE_OK);
    struct wire_bytes out;
    ck_assert_err(wire_batch_builder_finish(&c.b, c.lz4, c.lz4_cap, &out), WIRE_OK);
    ck_assert_ptr_eq(out.ptr, c.buf);
    ck_assert_uint_eq(out.ptr[17], WIRE_CODEC_NONE);
    uint8_t *p = xmemdup(out.ptr, out.len);
    size_t len = out.len;
    free(c.buf);
    free(c.lz4);
    check_round_trip(p, len, recs, N, 0);
    free(p);
}
END_TEST

START_TEST(test_nil_key_vs_empty_key)
{
    struct wire_record recs[3] = {simple_record(NULL, "a", 1), simple_record("", "b", 1),
                                  simple_record(NULL, "c", 1)};
    /* has_key false ignores whatever key says. */
    recs[2].key = bytes_of("ignored");
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, recs, 3, &len);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    struct wire_record_iter it;
    struct wire_record got;
    ck_assert_err(wire_record_iter_init(&it, &h, NULL, 0, NULL), WIRE_OK);
    ck_assert_err(wire_record_iter_next(&it, &got, NULL), WIRE_OK);
    ck_assert(!got.has_key);
    ck_assert_uint_eq(got.key.len, 0);
    ck_assert_err(wire_record_iter_next(&it, &got, NULL), WIRE_OK);
    ck_assert(got.has_key);
    ck_assert_uint_eq(got.key.len, 0);
    ck_assert_err(wire_record_iter_next(&it, &got, NULL), WIRE_OK);
    ck_assert(!got.has_key);
    ck_assert(!wire_record_iter_has_next(&it));
    free(p);
}
END_TEST

START_TEST(test_headers_duplicates_keep_order)
{
    static const struct wire_header hdrs[] = {
        {{(const uint8_t *)"b", 1}, {(const uint8_t *)"1", 1}},
        {{(const uint8_t *)"a", 1}, {(const uint8_t *)"2", 1}},
        {{(const uint8_t *)"b", 1}, {(const uint8_t *)"3", 1}},
        {{(const uint8_t *)"", 0}, {(const uint8_t *)"", 0}},
    };
    struct wire_record r = simple_record("k", "v", 9);
    r.header_count = 4;
    r.headers = hdrs;
    for (int codec = WIRE_CODEC_NONE; codec <= WIRE_CODEC_LZ4; codec++) {
        size_t len;
        uint8_t *p = build_batch((enum wire_codec)codec, &r, 1, &len);
        check_round_trip(p, len, &r, 1, 0);
        free(p);
    }
}
END_TEST

START_TEST(test_empty_value)
{
    struct wire_record recs[2] = {simple_record(NULL, "", 1), simple_record("k", "", 2)};
    /* An empty view may carry a NULL pointer. */
    recs[0].value.ptr = NULL;
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, recs, 2, &len);
    /* The smallest record: 7 bytes. */
    ck_assert_uint_eq(get_be(p + 59, 4), 7 + 9);
    check_round_trip(p, len, recs, 2, 0);
    free(p);
}
END_TEST

/* ---- builder limits ------------------------------------------------------------ */

START_TEST(test_key_limit)
{
    uint8_t *key = xmalloc(WIRE_KEY_BYTES_MAX + 1);
    memset(key, 'k', WIRE_KEY_BYTES_MAX + 1);
    struct build_ctx c;
    build_begin(&c, 1 << 20, WIRE_CODEC_NONE);
    struct wire_record r = simple_record(NULL, "v", 1);
    r.has_key = true;
    r.key = bytes_n(key, WIRE_KEY_BYTES_MAX + 1);
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_ERR_RECORD_TOO_LARGE);
    ck_assert_uint_eq(wire_batch_builder_count(&c.b), 0);
    ck_assert_uint_eq(c.b.records.len, 0);
    r.key.len = WIRE_KEY_BYTES_MAX;
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_OK);
    size_t len;
    uint8_t *p = build_end(&c, &len);
    check_round_trip(p, len, &r, 1, 0);
    free(p);
    free(key);
}
END_TEST

START_TEST(test_header_limits)
{
    struct wire_header *hdrs = xmalloc(sizeof(*hdrs) * (WIRE_HEADERS_MAX + 1));
    uint8_t *big = xmalloc(WIRE_HEADER_VALUE_BYTES_MAX + 1);
    memset(big, 'x', WIRE_HEADER_VALUE_BYTES_MAX + 1);
    for (uint32_t i = 0; i <= WIRE_HEADERS_MAX; i++) {
        hdrs[i].name = bytes_of("n");
        hdrs[i].value = bytes_of("v");
    }
    struct build_ctx c;
    build_begin(&c, 1 << 20, WIRE_CODEC_NONE);
    struct wire_record r = simple_record("k", "v", 1);
    r.headers = hdrs;

    r.header_count = WIRE_HEADERS_MAX + 1;
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_ERR_LIMIT_EXCEEDED);
    r.header_count = WIRE_HEADERS_MAX;
    hdrs[3].name = bytes_n(big, WIRE_HEADER_NAME_BYTES_MAX + 1);
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_ERR_RECORD_TOO_LARGE);
    hdrs[3].name = bytes_n(big, WIRE_HEADER_NAME_BYTES_MAX);
    hdrs[5].value = bytes_n(big, WIRE_HEADER_VALUE_BYTES_MAX + 1);
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_ERR_RECORD_TOO_LARGE);
    ck_assert_uint_eq(wire_batch_builder_count(&c.b), 0);
    ck_assert_uint_eq(c.b.records.len, 0);

    hdrs[5].value = bytes_n(big, WIRE_HEADER_VALUE_BYTES_MAX);
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_OK);
    size_t len;
    uint8_t *p = build_end(&c, &len);
    check_round_trip(p, len, &r, 1, 0);
    free(p);
    free(big);
    free(hdrs);
}
END_TEST

/*
 * [0x95, 0, 0, nil, bin32 V, {}] takes V + 10 bytes, so V = 1 MiB - 10 is the
 * largest record. It fits an LZ4 batch (zeros compress); one byte more does
 * not, and the answer is RECORD_TOO_LARGE although the buffer could hold it.
 */
START_TEST(test_record_size_limit)
{
    size_t v = WIRE_RECORD_BYTES_MAX - 10;
    uint8_t *value = xmalloc(v + 1);
    memset(value, 0, v + 1);
    struct build_ctx c;
    build_begin(&c, WIRE_BATCH_HEADER_BYTES + WIRE_BATCH_RECORDS_BYTES_MAX, WIRE_CODEC_LZ4);
    struct wire_record r = simple_record(NULL, "", 3);
    r.value = bytes_n(value, v + 1);
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_ERR_RECORD_TOO_LARGE);
    ck_assert_uint_eq(wire_batch_builder_count(&c.b), 0);
    r.value = bytes_n(value, v);
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_OK);
    ck_assert_uint_eq(c.b.records.len, WIRE_RECORD_BYTES_MAX);
    size_t len;
    uint8_t *p = build_end(&c, &len);
    ck_assert_uint_eq(p[17], WIRE_CODEC_LZ4);
    check_round_trip(p, len, &r, 1, 0);
    free(p);
    free(value);
}
END_TEST

/* A failed add because of space leaves the builder as it was: later records still go in. */
START_TEST(test_buffer_full_keeps_builder_usable)
{
    struct build_ctx c;
    build_begin(&c, WIRE_BATCH_HEADER_BYTES + 100, WIRE_CODEC_NONE);
    struct wire_record recs[8];
    size_t n = 0;
    /* 41 bytes encoded: two fit in 100, a third does not, an 8-byte one does. */
    struct wire_record big = simple_record("key", "012345678901234567890123456789", 1);
    int rc;
    while ((rc = wire_batch_builder_add(&c.b, &big)) == WIRE_OK)
        recs[n++] = big;
    ck_assert_err(rc, WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(n, 2);
    size_t len_before = c.b.records.len;
    ck_assert_uint_eq(wire_batch_builder_count(&c.b), n);
    ck_assert_err(c.b.records.err, WIRE_OK);
    /* Fails again identically, still without touching anything. */
    ck_assert_err(wire_batch_builder_add(&c.b, &big), WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(c.b.records.len, len_before);
    struct wire_record small = simple_record(NULL, "s", 0);
    ck_assert_err(wire_batch_builder_add(&c.b, &small), WIRE_OK);
    recs[n++] = small;
    size_t len;
    uint8_t *p = build_end(&c, &len);
    check_round_trip(p, len, recs, n, 0);
    free(p);

    /* A buffer smaller than the header takes nothing and crashes nothing. */
    uint8_t tiny[10];
    struct wire_batch_builder b;
    wire_batch_builder_init(&b, tiny, sizeof(tiny), WIRE_CODEC_NONE);
    ck_assert_err(wire_batch_builder_add(&b, &small), WIRE_ERR_BUFFER_FULL);
    struct wire_bytes out;
    ck_assert_err(wire_batch_builder_finish(&b, NULL, 0, &out), WIRE_ERR_INVALID_REQUEST);
}
END_TEST

/*
 * The most records a batch may hold. Their offset deltas grow to 5 bytes, so
 * they take ~1.3 MB and only fit compressed.
 */
START_TEST(test_records_max)
{
    struct build_ctx c;
    build_begin(&c, WIRE_BATCH_HEADER_BYTES + WIRE_BATCH_RECORDS_BYTES_MAX, WIRE_CODEC_LZ4);
    struct wire_record r = simple_record(NULL, "", 0);
    for (uint32_t i = 0; i < WIRE_BATCH_RECORDS_MAX; i++)
        ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_OK);
    size_t len_before = c.b.records.len;
    ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_ERR_LIMIT_EXCEEDED);
    ck_assert_uint_eq(c.b.records.len, len_before);
    ck_assert_uint_eq(wire_batch_builder_count(&c.b), WIRE_BATCH_RECORDS_MAX);
    size_t len;
    uint8_t *p = build_end(&c, &len);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    ck_assert_uint_eq(h.record_count, WIRE_BATCH_RECORDS_MAX);
    ck_assert_uint_eq(h.codec, WIRE_CODEC_LZ4);
    uint8_t *scratch = xmalloc(h.records_bytes);
    ck_assert_err(wire_batch_verify_records(&h, scratch, h.records_bytes, NULL), WIRE_OK);
    free(scratch);
    free(p);
}
END_TEST

/* Uncompressed batches stop at WIRE_BATCH_BYTES_MAX, so finish never refuses them. */
START_TEST(test_none_clamped_to_batch_max)
{
    uint8_t value[1000];
    fill_random(value, sizeof(value));
    struct build_ctx c;
    build_begin(&c, 4u * WIRE_MIB, WIRE_CODEC_NONE);
    struct wire_record r = simple_record(NULL, "", 0);
    r.value = bytes_n(value, sizeof(value));
    int rc;
    while ((rc = wire_batch_builder_add(&c.b, &r)) == WIRE_OK)
        ;
    ck_assert_err(rc, WIRE_ERR_BUFFER_FULL);
    size_t len;
    uint8_t *p = build_end(&c, &len);
    ck_assert_uint_le(len, WIRE_BATCH_BYTES_MAX);
    ck_assert_uint_gt(len, WIRE_BATCH_BYTES_MAX - 1100);
    ck_assert_err(wire_batch_validate(p, len, NULL, NULL), WIRE_OK);
    free(p);
}
END_TEST

/* With LZ4, records that stay incompressible past WIRE_BATCH_BYTES_MAX cannot be finished. */
START_TEST(test_lz4_fallback_too_large)
{
    /* Distinct random values: a repeated one would compress across records. */
    uint8_t *value = xmalloc(20 * 60000);
    fill_random(value, 20 * 60000);
    struct build_ctx c;
    build_begin(&c, WIRE_BATCH_HEADER_BYTES + 2u * WIRE_MIB, WIRE_CODEC_LZ4);
    struct wire_record r = simple_record(NULL, "", 0);
    for (int i = 0; i < 20; i++) {
        r.value = bytes_n(value + i * 60000, 60000);
        ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_OK);
    }
    struct wire_bytes out;
    ck_assert_err(wire_batch_builder_finish(&c.b, c.lz4, c.lz4_cap, &out), WIRE_ERR_BATCH_TOO_LARGE);
    free(c.buf);
    free(c.lz4);
    free(value);
}
END_TEST

START_TEST(test_finish_errors)
{
    struct build_ctx c;
    build_begin(&c, 4096, WIRE_CODEC_LZ4);
    struct wire_bytes out, again;
    ck_assert_err(wire_batch_builder_finish(&c.b, c.lz4, c.lz4_cap, &out), WIRE_ERR_INVALID_REQUEST);
    struct wire_record r = simple_record("k", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
    for (int i = 0; i < 10; i++)
        ck_assert_err(wire_batch_builder_add(&c.b, &r), WIRE_OK);
    size_t need = wire_batch_lz4_buf_bytes(c.b.records.len);
    ck_assert_uint_eq(need, WIRE_BATCH_HEADER_BYTES + (size_t)LZ4_compressBound((int)c.b.records.len));
    ck_assert_err(wire_batch_builder_finish(&c.b, c.lz4, need - 1, &out), WIRE_ERR_BUFFER_FULL);
    ck_assert_err(wire_batch_builder_finish(&c.b, NULL, 0, &out), WIRE_ERR_BUFFER_FULL);
    ck_assert_err(wire_batch_builder_finish(&c.b, c.lz4, need, &out), WIRE_OK);
    ck_assert_ptr_eq(out.ptr, c.lz4);
    ck_assert_uint_eq(out.ptr[17], WIRE_CODEC_LZ4);
    /* finish leaves the records alone: a second call gives the same batch. */
    uint8_t *first = xmemdup(out.ptr, out.len);
    ck_assert_err(wire_batch_builder_finish(&c.b, c.lz4, need, &again), WIRE_OK);
    ck_assert_uint_eq(again.len, out.len);
    ck_assert_mem_eq(again.ptr, first, out.len);
    ck_assert_uint_eq(wire_batch_lz4_buf_bytes(SIZE_MAX), SIZE_MAX);
    free(first);
    free(c.buf);
    free(c.lz4);
}
END_TEST

/*
 * The builder computes each record's encoded size before writing it (and
 * asserts that msgpack-c wrote exactly that much): cross every width boundary
 * of every field it encodes.
 */
START_TEST(test_encoding_widths)
{
    static const int64_t deltas[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295ll,
                                     4294967296ll, -1, -32, -33, -128, -129, -32768, -32769,
                                     INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MAX / 2, INT64_MIN / 2};
    static const uint32_t bin_lens[] = {0, 1, 255, 256, 65535, 65536, 70000};
    static const uint32_t name_lens[] = {0, 31, 32, 255};
    static const uint32_t header_counts[] = {0, 15, 16, WIRE_HEADERS_MAX};
    enum { N = 64 };
    /* Periodic bytes: the values overlap and compress, so the batch stays small. */
    size_t blob_len = 70000 + 2 * WIRE_HEADERS_MAX;
    uint8_t *blob = xmalloc(blob_len);
    for (size_t i = 0; i < blob_len; i++)
        blob[i] = (uint8_t)(i * 7 % 251);
    struct wire_header *hdrs = xmalloc(sizeof(*hdrs) * WIRE_HEADERS_MAX);
    for (uint32_t i = 0; i < WIRE_HEADERS_MAX; i++) {
        hdrs[i].name = bytes_n(blob + i, name_lens[i % 4]);
        hdrs[i].value = bytes_n(blob + 2 * i, i % 3 == 0 ? 256 : i);
    }
    struct wire_record recs[N];
    for (int i = 0; i < N; i++) {
        recs[i] = simple_record(NULL, "", 0);
        recs[i].timestamp = i == 0 ? 0 : deltas[(size_t)i % (sizeof(deltas) / sizeof(deltas[0]))];
        recs[i].has_key = i % 2 == 0;
        recs[i].key = bytes_n(blob + 1, bin_lens[(size_t)i % 5]);
        recs[i].value = bytes_n(blob + 3, bin_lens[(size_t)(i / 2) % 7]);
        recs[i].header_count = header_counts[(size_t)(i / 3) % 4];
        recs[i].headers = hdrs;
    }
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_LZ4, recs, N, &len);
    check_round_trip(p, len, recs, N, 0);
    free(p);
    free(hdrs);
    free(blob);
}
END_TEST

START_TEST(test_builder_timestamps)
{
    struct wire_record recs[4] = {simple_record(NULL, "a", 100), simple_record(NULL, "b", 50),
                                  simple_record(NULL, "c", 400), simple_record(NULL, "d", -7)};
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, recs, 4, &len);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    ck_assert_int_eq(h.first_timestamp, 100);
    ck_assert_int_eq(h.max_timestamp, 400);
    check_round_trip(p, len, recs, 4, 0);
    free(p);

    /* A delta that does not fit in int64 is refused, and the builder is unchanged. */
    struct build_ctx c;
    build_begin(&c, 4096, WIRE_CODEC_NONE);
    struct wire_record lo = simple_record(NULL, "a", INT64_MIN);
    struct wire_record hi = simple_record(NULL, "b", INT64_MAX);
    ck_assert_err(wire_batch_builder_add(&c.b, &lo), WIRE_OK);
    ck_assert_err(wire_batch_builder_add(&c.b, &hi), WIRE_ERR_BAD_VALUE);
    ck_assert_uint_eq(wire_batch_builder_count(&c.b), 1);
    struct wire_record lo2 = simple_record(NULL, "c", -1);
    ck_assert_err(wire_batch_builder_add(&c.b, &lo2), WIRE_OK);
    struct wire_record both[2] = {lo, lo2};
    p = build_end(&c, &len);
    check_round_trip(p, len, both, 2, 0);
    free(p);
}
END_TEST

START_TEST(test_stamp_base_offset)
{
    enum { N = 5 };
    struct wire_record recs[N];
    for (int i = 0; i < N; i++)
        recs[i] = simple_record("k", "v", i);
    for (int codec = WIRE_CODEC_NONE; codec <= WIRE_CODEC_LZ4; codec++) {
        size_t len;
        uint8_t *p = build_batch((enum wire_codec)codec, recs, N, &len);
        uint32_t crc_before = (uint32_t)get_be(p + 12, 4);
        wire_batch_stamp_base_offset(p, 1000000000123ull);
        ck_assert_uint_eq(get_be(p + 12, 4), crc_before);
        ck_assert_uint_eq(get_be(p + 3, 8), 1000000000123ull);
        check_round_trip(p, len, recs, N, 1000000000123ull);
        free(p);
    }

    /* An offset that would wrap past UINT64_MAX is refused by the iterator. */
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, recs, N, &len);
    wire_batch_stamp_base_offset(p, UINT64_MAX - 2);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    ck_assert_err(wire_batch_verify_records(&h, NULL, 0, NULL), WIRE_ERR_CORRUPT_BATCH);
    free(p);
}
END_TEST

/* ---- hostile headers ------------------------------------------------------------ */

/* Every prefix of a batch is refused (each in a block of exactly its size). */
START_TEST(test_truncated_every_position)
{
    for (int codec = WIRE_CODEC_NONE; codec <= WIRE_CODEC_LZ4; codec++) {
        size_t len;
        uint8_t *p = small_batch((enum wire_codec)codec, &len);
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *q = xmemdup(p, cut);
            const char *why = NULL;
            ck_assert_err(wire_batch_validate(q, cut, NULL, &why), WIRE_ERR_CORRUPT_BATCH);
            ck_assert_ptr_nonnull(why);
            ck_assert_err(wire_batch_parse_header(q, cut, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
            free(q);
        }
        ck_assert_err(wire_batch_validate(p, len, NULL, NULL), WIRE_OK);
        /* And a byte too many. */
        uint8_t *longer = xmalloc(len + 1);
        memcpy(longer, p, len);
        longer[len] = 0;
        ck_assert_err(wire_batch_validate(longer, len + 1, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
        free(longer);
        free(p);
    }
}
END_TEST

/*
 * Every single-bit flip is caught by a header check or the CRC, except in
 * base_offset (bytes 3..10), which the CRC deliberately leaves out so the
 * leader can stamp it.
 */
START_TEST(test_every_bit_flip_detected)
{
    for (int codec = WIRE_CODEC_NONE; codec <= WIRE_CODEC_LZ4; codec++) {
        size_t len;
        uint8_t *p = small_batch((enum wire_codec)codec, &len);
        ck_assert_uint_eq(p[17], (unsigned)codec);
        uint8_t *q = xmalloc(len);
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                memcpy(q, p, len);
                q[i] ^= (uint8_t)(1u << bit);
                struct wire_batch_header h;
                int rc = wire_batch_validate(q, len, &h, NULL);
                if (i >= 3 && i <= 10) {
                    ck_assert_err(rc, WIRE_OK);
                    ck_assert_uint_eq(h.base_offset, 1ull << (8 * (10 - i) + (unsigned)bit));
                    continue;
                }
                ck_assert_msg(rc == WIRE_ERR_CORRUPT_BATCH || rc == WIRE_ERR_UNSUPPORTED_VERSION ||
                                  rc == WIRE_ERR_UNSUPPORTED_CODEC || rc == WIRE_ERR_BATCH_TOO_LARGE,
                              "flip of byte %zu bit %d: %s", i, bit, wire_err_name(rc));
            }
        }
        free(q);
        free(p);
    }
}
END_TEST

START_TEST(test_bad_markers)
{
    static const size_t marker_offsets[] = {0, 2, 11, 16, 18, 23, 32, 41, 50, 53, 58, 63};
    size_t len;
    uint8_t *p = small_batch(WIRE_CODEC_NONE, &len);
    for (size_t i = 0; i < sizeof(marker_offsets) / sizeof(marker_offsets[0]); i++) {
        uint8_t *q = xmemdup(p, len);
        /* A different but plausible encoding of the same kind of value. */
        q[marker_offsets[i]] = marker_offsets[i] == 0 ? 0x9b : (uint8_t)(q[marker_offsets[i]] - 1);
        batch_fix_crc(q, len);
        const char *why = NULL;
        ck_assert_err(wire_batch_validate(q, len, NULL, &why), WIRE_ERR_CORRUPT_BATCH);
        ck_assert_ptr_nonnull(why);
        free(q);
    }
    /* Not an array at all. */
    uint8_t *q = xmemdup(p, len);
    q[0] = 0xdc;
    ck_assert_err(wire_batch_validate(q, len, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
    free(q);
    free(p);
}
END_TEST

START_TEST(test_bad_version)
{
    size_t len;
    uint8_t *p = small_batch(WIRE_CODEC_NONE, &len);
    static const uint8_t versions[] = {0x00, 0x02, 0x7f, 0xcc};
    for (size_t i = 0; i < sizeof(versions); i++) {
        uint8_t *q = xmemdup(p, len);
        q[1] = versions[i];
        ck_assert_err(wire_batch_validate(q, len, NULL, NULL), WIRE_ERR_UNSUPPORTED_VERSION);
        /* Even when the rest of the batch is not what version 1 expects. */
        ck_assert_err(wire_batch_validate(q, 2, NULL, NULL), WIRE_ERR_UNSUPPORTED_VERSION);
        free(q);
    }
    free(p);
}
END_TEST

START_TEST(test_bad_codec)
{
    size_t len;
    uint8_t *p = small_batch(WIRE_CODEC_NONE, &len);
    static const uint8_t codecs[] = {2, 3, 0x80, 0xff};
    for (size_t i = 0; i < sizeof(codecs); i++) {
        uint8_t *q = xmemdup(p, len);
        q[17] = codecs[i];
        batch_fix_crc(q, len);
        const char *why = NULL;
        ck_assert_err(wire_batch_validate(q, len, NULL, &why), WIRE_ERR_UNSUPPORTED_CODEC);
        ck_assert_ptr_nonnull(why);
        free(q);
    }
    free(p);
}
END_TEST

START_TEST(test_record_count_bounds)
{
    size_t len;
    uint8_t *p = small_batch(WIRE_CODEC_NONE, &len);
    uint32_t records_bytes = (uint32_t)get_be(p + 59, 4);
    const uint32_t counts[] = {0, WIRE_BATCH_RECORDS_MAX + 1, UINT32_MAX, records_bytes / 7 + 1};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        uint8_t *q = xmemdup(p, len);
        put_be(q + 19, counts[i], 4);
        batch_fix_crc(q, len);
        ck_assert_err(wire_batch_validate(q, len, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
        free(q);
    }
    /* Plausible but larger than the records present: only the deep check can tell. */
    for (uint32_t count = 1; count <= records_bytes / 7; count++) {
        if (count == 2)
            continue;
        uint8_t *q = xmemdup(p, len);
        put_be(q + 19, count, 4);
        batch_fix_crc(q, len);
        ck_assert_err(verify_crafted(q, len), WIRE_ERR_CORRUPT_BATCH);
        free(q);
    }
    free(p);
}
END_TEST

START_TEST(test_size_fields_mismatch)
{
    size_t len;
    uint8_t *p = small_batch(WIRE_CODEC_NONE, &len);
    uint32_t stored = (uint32_t)get_be(p + 64, 4);
    const uint32_t bins[] = {stored - 1, stored + 1, 0, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
        uint8_t *q = xmemdup(p, len);
        put_be(q + 64, bins[i], 4);
        batch_fix_crc(q, len);
        ck_assert_err(wire_batch_validate(q, len, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
        free(q);
    }
    /* Uncompressed: records_bytes must equal the bin's length. */
    const uint32_t sizes[] = {stored - 1, stored + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *q = xmemdup(p, len);
        put_be(q + 59, sizes[i], 4);
        batch_fix_crc(q, len);
        ck_assert_err(wire_batch_validate(q, len, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
        free(q);
    }
    free(p);
}
END_TEST

START_TEST(test_batch_too_large)
{
    /* A well-formed header around records one byte over the batch limit. */
    size_t stored = WIRE_BATCH_BYTES_MAX - WIRE_BATCH_HEADER_BYTES + 1;
    uint8_t *records = xmalloc(stored);
    memset(records, 0xc0, stored);
    struct craft c = {WIRE_CODEC_NONE, 1, 0, 0, (uint32_t)stored};
    size_t len;
    uint8_t *p = batch_craft(&c, records, stored, &len);
    ck_assert_uint_eq(len, WIRE_BATCH_BYTES_MAX + 1);
    ck_assert_err(wire_batch_validate(p, len, NULL, NULL), WIRE_ERR_BATCH_TOO_LARGE);
    ck_assert_err(wire_batch_parse_header(p, len, NULL, NULL), WIRE_ERR_BATCH_TOO_LARGE);
    free(p);
    free(records);
}
END_TEST

START_TEST(test_timestamp_header_order)
{
    size_t len;
    uint8_t *p = small_batch(WIRE_CODEC_NONE, &len);
    put_be(p + 33, get_be(p + 24, 8) - 1, 8);
    batch_fix_crc(p, len);
    ck_assert_err(wire_batch_validate(p, len, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
    free(p);
}
END_TEST

/* ---- LZ4 ----------------------------------------------------------------------- */

/*
 * A few KiB of LZ4 that really expand to 64 MiB, claimed as such: refused
 * from the header alone, before a byte is decompressed or a buffer sized.
 */
START_TEST(test_lz4_bomb)
{
    size_t huge = 64u * WIRE_MIB;
    uint8_t *zeros = calloc(1, huge);
    ck_assert_ptr_nonnull(zeros);
    int bound = LZ4_compressBound((int)huge);
    char *z = xmalloc((size_t)bound);
    int zlen = LZ4_compress_default((const char *)zeros, z, (int)huge, bound);
    free(zeros);
    ck_assert_int_gt(zlen, 0);
    ck_assert_int_lt(zlen, 512 * 1024);

    const uint32_t claims[] = {UINT32_MAX, (uint32_t)huge, WIRE_BATCH_RECORDS_BYTES_MAX + 1};
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        struct craft c = {WIRE_CODEC_LZ4, 1, 0, 0, claims[i]};
        size_t len;
        uint8_t *p = batch_craft(&c, z, (size_t)zlen, &len);
        const char *why = NULL;
        ck_assert_err(wire_batch_validate(p, len, NULL, &why), WIRE_ERR_BATCH_TOO_LARGE);
        ck_assert_ptr_nonnull(why);
        ck_assert_err(wire_batch_parse_header(p, len, NULL, NULL), WIRE_ERR_BATCH_TOO_LARGE);

        /* The iterator repeats the check for headers that did not come from validate. */
        struct wire_batch_header h = {0};
        h.codec = WIRE_CODEC_LZ4;
        h.record_count = 1;
        h.records_bytes = claims[i];
        h.records = bytes_n(p + WIRE_BATCH_HEADER_BYTES, (size_t)zlen);
        struct wire_record_iter it;
        ck_assert_err(wire_record_iter_init(&it, &h, NULL, SIZE_MAX, NULL), WIRE_ERR_BATCH_TOO_LARGE);
        free(p);
    }
    free(z);
}
END_TEST

START_TEST(test_lz4_decompressed_size_mismatch)
{
    size_t len;
    uint8_t *p = small_batch(WIRE_CODEC_LZ4, &len);
    ck_assert_uint_eq(p[17], WIRE_CODEC_LZ4);
    uint32_t records_bytes = (uint32_t)get_be(p + 59, 4);
    const uint32_t claims[] = {records_bytes - 1, records_bytes + 1, records_bytes * 2};
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        uint8_t *q = xmemdup(p, len);
        put_be(q + 59, claims[i], 4);
        batch_fix_crc(q, len);
        struct wire_batch_header h;
        ck_assert_err(wire_batch_validate(q, len, &h, NULL), WIRE_OK);
        uint8_t *scratch = xmalloc(WIRE_BATCH_RECORDS_BYTES_MAX);
        struct wire_record_iter it;
        const char *why = NULL;
        ck_assert_err(wire_record_iter_init(&it, &h, scratch, WIRE_BATCH_RECORDS_BYTES_MAX, &why),
                      WIRE_ERR_CORRUPT_BATCH);
        ck_assert_ptr_nonnull(why);
        /* The iterator refuses to go on after a failed init. */
        struct wire_record rec;
        ck_assert_err(wire_record_iter_next(&it, &rec, NULL), WIRE_ERR_CORRUPT_BATCH);
        ck_assert_err(wire_batch_verify_records(&h, scratch, WIRE_BATCH_RECORDS_BYTES_MAX, NULL),
                      WIRE_ERR_CORRUPT_BATCH);
        free(scratch);
        free(q);
    }

    /* Scratch smaller than records_bytes: BUFFER_FULL, nothing written. */
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    uint8_t *scratch = xmalloc(records_bytes - 1);
    ck_assert_err(wire_batch_verify_records(&h, scratch, records_bytes - 1, NULL),
                  WIRE_ERR_BUFFER_FULL);
    free(scratch);
    free(p);
}
END_TEST

START_TEST(test_lz4_garbage_payload)
{
    uint8_t junk[64];
    for (int round = 0; round < 200; round++) {
        fill_random(junk, sizeof(junk));
        struct craft c = {WIRE_CODEC_LZ4, 1, 0, 0, 100};
        size_t len;
        uint8_t *p = batch_craft(&c, junk, 1 + (size_t)round % sizeof(junk), &len);
        struct wire_batch_header h;
        ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
        uint8_t *scratch = xmalloc(h.records_bytes);
        int rc = wire_batch_verify_records(&h, scratch, h.records_bytes, NULL);
        ck_assert_err(rc, WIRE_ERR_CORRUPT_BATCH);
        free(scratch);
        free(p);
    }
    /* An empty LZ4 payload, and one longer than LZ4 could ever produce. */
    struct craft c = {WIRE_CODEC_LZ4, 1, 0, 0, 16};
    size_t len;
    uint8_t *p = batch_craft(&c, junk, 0, &len);
    ck_assert_err(wire_batch_validate(p, len, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
    free(p);
    c.records_bytes = 7;
    p = batch_craft(&c, junk, (size_t)LZ4_compressBound(7) + 1, &len);
    ck_assert_err(wire_batch_validate(p, len, NULL, NULL), WIRE_ERR_CORRUPT_BATCH);
    free(p);
}
END_TEST

/* ---- hostile records (CRC valid) ------------------------------------------------- */

START_TEST(test_crafted_valid_baseline)
{
    uint8_t buf[256];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    raw_record(&w, 0, 0, "k", "v");
    raw_record(&w, 1, 0, NULL, "w");
    ck_assert_err(verify_none(&w, 2), WIRE_OK);
    size_t len;
    uint8_t *p = craft_lz4(w.buf, w.len, 2, &len);
    ck_assert_err(verify_crafted(p, len), WIRE_OK);
    free(p);
}
END_TEST

START_TEST(test_wrong_offset_delta)
{
    static const uint64_t deltas[][2] = {{0, 0}, {0, 2}, {1, 1}, {1, 0}, {0, 1ull << 40}};
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
        uint8_t buf[256];
        struct wire_writer w;
        wire_writer_init(&w, buf, sizeof(buf));
        raw_record(&w, deltas[i][0], 0, "k", "v");
        raw_record(&w, deltas[i][1], 0, "k", "v");
        ck_assert_err(verify_none(&w, 2), WIRE_ERR_CORRUPT_BATCH);
    }
    /* A negative offset delta. */
    uint8_t buf[64];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 5);
    wire_write_int(&w, -1);
    wire_write_int(&w, 0);
    wire_write_nil(&w);
    wire_write_bin(&w, "v", 1);
    wire_write_map(&w, 0);
    ck_assert_err(verify_none(&w, 1), WIRE_ERR_CORRUPT_BATCH);
}
END_TEST

START_TEST(test_trailing_bytes)
{
    static const uint8_t tails[][3] = {{1, 0xc0}, {1, 0x00}, {2, 0xc4, 0x00}};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        uint8_t buf[256];
        struct wire_writer w;
        wire_writer_init(&w, buf, sizeof(buf));
        raw_record(&w, 0, 0, "k", "v");
        raw_record(&w, 1, 0, "k", "v");
        wire_write_raw(&w, tails[i] + 1, tails[i][0]);
        ck_assert_err(verify_none(&w, 2), WIRE_ERR_CORRUPT_BATCH);
        size_t len;
        uint8_t *p = craft_lz4(w.buf, w.len, 2, &len);
        ck_assert_err(verify_crafted(p, len), WIRE_ERR_CORRUPT_BATCH);
        free(p);
    }
    /* A whole extra record beyond record_count is trailing bytes too. */
    uint8_t buf[256];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    raw_record(&w, 0, 0, "k", "v");
    raw_record(&w, 1, 0, "k", "v");
    raw_record(&w, 2, 0, "k", "v");
    ck_assert_err(verify_none(&w, 2), WIRE_ERR_CORRUPT_BATCH);
}
END_TEST

/* Each variant writes one record with one field of the wrong type. */
enum bad_type {
    BAD_RECORD_MAP,
    BAD_RECORD_SHORT,
    BAD_OFFSET_STR,
    BAD_TIMESTAMP_FLOAT,
    BAD_KEY_STR,
    BAD_KEY_INT,
    BAD_VALUE_NIL,
    BAD_VALUE_STR,
    BAD_HEADERS_ARRAY,
    BAD_HEADERS_NIL,
    BAD_HEADER_NAME_BIN,
    BAD_HEADER_VALUE_STR,
    BAD_HEADER_VALUE_NIL,
    BAD_RECORD_NIL,
    BAD_TYPE_COUNT,
};

static void write_bad_record(struct wire_writer *w, enum bad_type t)
{
    static const uint8_t float32_zero[] = {0xca, 0, 0, 0, 0};
    if (t == BAD_RECORD_NIL) {
        wire_write_nil(w);
        return;
    }
    if (t == BAD_RECORD_MAP) {
        wire_write_map(w, 3);
        wire_write_uint(w, 0);
        wire_write_uint(w, 0);
        wire_write_uint(w, 1);
        wire_write_nil(w);
        wire_write_uint(w, 2);
        wire_write_bin(w, "v", 1);
        return;
    }
    /* The second record of its batch: offset_delta 1, so the bad field is what fails. */
    wire_write_array(w, t == BAD_RECORD_SHORT ? 4 : 5);
    if (t == BAD_OFFSET_STR)
        wire_write_str(w, "1", 1);
    else
        wire_write_uint(w, 1);
    if (t == BAD_TIMESTAMP_FLOAT)
        wire_write_raw(w, float32_zero, sizeof(float32_zero));
    else
        wire_write_int(w, 0);
    if (t == BAD_KEY_STR)
        wire_write_str(w, "k", 1);
    else if (t == BAD_KEY_INT)
        wire_write_uint(w, 7);
    else
        wire_write_bin(w, "k", 1);
    if (t == BAD_VALUE_NIL)
        wire_write_nil(w);
    else if (t == BAD_VALUE_STR)
        wire_write_str(w, "v", 1);
    else
        wire_write_bin(w, "v", 1);
    if (t == BAD_RECORD_SHORT)
        return;
    if (t == BAD_HEADERS_ARRAY) {
        wire_write_array(w, 2);
        wire_write_str(w, "n", 1);
        wire_write_bin(w, "v", 1);
        return;
    }
    if (t == BAD_HEADERS_NIL) {
        wire_write_nil(w);
        return;
    }
    wire_write_map(w, 1);
    if (t == BAD_HEADER_NAME_BIN)
        wire_write_bin(w, "n", 1);
    else
        wire_write_str(w, "n", 1);
    if (t == BAD_HEADER_VALUE_STR)
        wire_write_str(w, "v", 1);
    else if (t == BAD_HEADER_VALUE_NIL)
        wire_write_nil(w);
    else
        wire_write_bin(w, "v", 1);
}

START_TEST(test_wrong_types_in_record)
{
    for (int t = 0; t < BAD_TYPE_COUNT; t++) {
        uint8_t buf[256];
        struct wire_writer w;
        wire_writer_init(&w, buf, sizeof(buf));
        /* A long first value keeps records_bytes >= 7 * record_count whatever follows. */
        raw_record(&w, 0, 0, "k", "vvvvvvvv");
        write_bad_record(&w, (enum bad_type)t);
        ck_assert_err(w.err, WIRE_OK);
        size_t len;
        uint8_t *p = craft_none(&w, 2, &len);
        struct wire_batch_header h;
        ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
        struct wire_record_iter it;
        struct wire_record rec;
        const char *why = NULL;
        ck_assert_err(wire_record_iter_init(&it, &h, NULL, 0, NULL), WIRE_OK);
        ck_assert_err(wire_record_iter_next(&it, &rec, NULL), WIRE_OK);
        ck_assert_msg(wire_record_iter_next(&it, &rec, &why) == WIRE_ERR_CORRUPT_BATCH,
                      "bad type variant %d accepted", t);
        ck_assert_ptr_nonnull(why);
        /* The failure sticks. */
        ck_assert_err(wire_record_iter_next(&it, &rec, NULL), WIRE_ERR_CORRUPT_BATCH);
        free(p);
    }
}
END_TEST

/* Writes `depth` nested single-element arrays around a nil. */
static void write_nested(struct wire_writer *w, unsigned depth)
{
    for (unsigned i = 0; i < depth; i++)
        wire_write_array(w, 1);
    wire_write_nil(w);
}

START_TEST(test_deep_nesting)
{
    /* A header value that is a nested structure instead of a bin. */
    uint8_t buf[512];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 5);
    wire_write_uint(&w, 0);
    wire_write_int(&w, 0);
    wire_write_nil(&w);
    wire_write_bin(&w, "v", 1);
    wire_write_map(&w, 1);
    wire_write_str(&w, "n", 1);
    for (int i = 0; i < 100; i++)
        wire_write_map(&w, 1), wire_write_str(&w, "n", 1);
    wire_write_bin(&w, "v", 1);
    ck_assert_err(w.err, WIRE_OK);
    ck_assert_err(verify_none(&w, 1), WIRE_ERR_CORRUPT_BATCH);

    /* Extra record elements (a later revision) are skipped while shallow... */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 7);
    wire_write_uint(&w, 0);
    wire_write_int(&w, 0);
    wire_write_nil(&w);
    wire_write_bin(&w, "v", 1);
    wire_write_map(&w, 0);
    wire_write_str(&w, "future", 6);
    write_nested(&w, WIRE_NESTING_MAX);
    ck_assert_err(verify_none(&w, 1), WIRE_OK);

    /* ...and refused when nested too deeply. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 6);
    wire_write_uint(&w, 0);
    wire_write_int(&w, 0);
    wire_write_nil(&w);
    wire_write_bin(&w, "v", 1);
    wire_write_map(&w, 0);
    write_nested(&w, 200);
    ck_assert_err(w.err, WIRE_OK);
    ck_assert_err(verify_none(&w, 1), WIRE_ERR_CORRUPT_BATCH);

    /* An extra element that claims more bytes than remain. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 6);
    wire_write_uint(&w, 0);
    wire_write_int(&w, 0);
    wire_write_nil(&w);
    wire_write_bin(&w, "v", 1);
    wire_write_map(&w, 0);
    static const uint8_t bin32_huge[] = {0xc6, 0xff, 0xff, 0xff, 0xf0, 0};
    wire_write_raw(&w, bin32_huge, sizeof(bin32_huge));
    ck_assert_err(verify_none(&w, 1), WIRE_ERR_CORRUPT_BATCH);
}
END_TEST

START_TEST(test_record_timestamps)
{
    struct {
        int64_t first, max, delta0, delta1;
        int want;
    } cases[] = {
        {100, 110, 0, 10, WIRE_OK},
        {100, 100, 0, -50, WIRE_OK},
        {100, 110, 1, 10, WIRE_ERR_CORRUPT_BATCH},   /* first record's delta is not 0 */
        {100, 110, 0, 11, WIRE_ERR_CORRUPT_BATCH},   /* above max_timestamp */
        {100, 120, 0, 10, WIRE_ERR_CORRUPT_BATCH},   /* max_timestamp never reached */
        {INT64_MAX - 1, INT64_MAX, 0, 5, WIRE_ERR_CORRUPT_BATCH}, /* overflow */
        {INT64_MIN + 1, INT64_MIN + 1, 0, INT64_MIN, WIRE_ERR_CORRUPT_BATCH},
        {INT64_MIN, INT64_MAX, 0, INT64_MAX, WIRE_ERR_CORRUPT_BATCH}, /* INT64_MIN + INT64_MAX = -1 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[256];
        struct wire_writer w;
        wire_writer_init(&w, buf, sizeof(buf));
        raw_record(&w, 0, cases[i].delta0, "k", "v");
        raw_record(&w, 1, cases[i].delta1, "k", "v");
        struct craft c = {WIRE_CODEC_NONE, 2, cases[i].first, cases[i].max, (uint32_t)w.len};
        size_t len;
        uint8_t *p = batch_craft(&c, w.buf, w.len, &len);
        ck_assert_msg(verify_crafted(p, len) == cases[i].want, "case %zu", i);
        free(p);
    }

    /* A timestamp above max_timestamp is refused at that record, not only at the end. */
    uint8_t buf[256];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    raw_record(&w, 0, 0, "k", "v");
    raw_record(&w, 1, 20, "k", "v");
    raw_record(&w, 2, 10, "k", "v");
    struct craft c = {WIRE_CODEC_NONE, 3, 100, 110, (uint32_t)w.len};
    size_t len;
    uint8_t *p = batch_craft(&c, w.buf, w.len, &len);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    struct wire_record_iter it;
    struct wire_record rec;
    ck_assert_err(wire_record_iter_init(&it, &h, NULL, 0, NULL), WIRE_OK);
    ck_assert_err(wire_record_iter_next(&it, &rec, NULL), WIRE_OK);
    ck_assert_err(wire_record_iter_next(&it, &rec, NULL), WIRE_ERR_CORRUPT_BATCH);
    ck_assert_uint_eq(it.index, 1);
    free(p);
}
END_TEST

START_TEST(test_record_limits_on_read)
{
    /* A key one byte over its limit. */
    size_t big_len = WIRE_RECORD_BYTES_MAX + 16;
    uint8_t *big = xmalloc(big_len);
    memset(big, 'x', big_len);
    size_t cap = 2u * WIRE_MIB;
    uint8_t *buf = xmalloc(cap);
    struct wire_writer w;

    wire_writer_init(&w, buf, cap);
    wire_write_array(&w, 5);
    wire_write_uint(&w, 0);
    wire_write_int(&w, 0);
    wire_write_bin(&w, big, WIRE_KEY_BYTES_MAX + 1);
    wire_write_bin(&w, "v", 1);
    wire_write_map(&w, 0);
    ck_assert_err(verify_none(&w, 1), WIRE_ERR_RECORD_TOO_LARGE);

    /* 65 headers. */
    wire_writer_init(&w, buf, cap);
    wire_write_array(&w, 5);
    wire_write_uint(&w, 0);
    wire_write_int(&w, 0);
    wire_write_nil(&w);
    wire_write_bin(&w, "v", 1);
    wire_write_map(&w, WIRE_HEADERS_MAX + 1);
    for (uint32_t i = 0; i <= WIRE_HEADERS_MAX; i++) {
        wire_write_str(&w, "n", 1);
        wire_write_bin(&w, "v", 1);
    }
    ck_assert_err(verify_none(&w, 1), WIRE_ERR_LIMIT_EXCEEDED);

    /* A header name and a header value over their limits. */
    for (int which = 0; which < 2; which++) {
        wire_writer_init(&w, buf, cap);
        wire_write_array(&w, 5);
        wire_write_uint(&w, 0);
        wire_write_int(&w, 0);
        wire_write_nil(&w);
        wire_write_bin(&w, "v", 1);
        wire_write_map(&w, 1);
        wire_write_str(&w, big, which == 0 ? WIRE_HEADER_NAME_BYTES_MAX + 1 : 1);
        wire_write_bin(&w, big, which == 1 ? WIRE_HEADER_VALUE_BYTES_MAX + 1 : 1);
        ck_assert_err(verify_none(&w, 1), WIRE_ERR_RECORD_TOO_LARGE);
    }

    /*
     * Records over WIRE_RECORD_BYTES_MAX fit only compressed: a value over the
     * limit, and a value within it that the other fields push over.
     */
    for (int which = 0; which < 2; which++) {
        wire_writer_init(&w, buf, cap);
        wire_write_array(&w, 5);
        wire_write_uint(&w, 0);
        wire_write_int(&w, 0);
        wire_write_bin(&w, big, 100);
        wire_write_bin(&w, big, which == 0 ? WIRE_RECORD_BYTES_MAX + 1 : WIRE_RECORD_BYTES_MAX);
        wire_write_map(&w, 0);
        ck_assert_err(w.err, WIRE_OK);
        size_t len;
        uint8_t *p = craft_lz4(w.buf, w.len, 1, &len);
        ck_assert_uint_le(len, WIRE_BATCH_BYTES_MAX);
        ck_assert_err(verify_crafted(p, len), WIRE_ERR_RECORD_TOO_LARGE);
        free(p);
    }
    free(buf);
    free(big);
}
END_TEST

START_TEST(test_iter_past_end)
{
    struct wire_record r = simple_record("k", "v", 1);
    size_t len;
    uint8_t *p = build_batch(WIRE_CODEC_NONE, &r, 1, &len);
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(p, len, &h, NULL), WIRE_OK);
    struct wire_record_iter it;
    struct wire_record got;
    ck_assert_err(wire_record_iter_init(&it, &h, NULL, 0, NULL), WIRE_OK);
    ck_assert_err(wire_record_iter_next(&it, &got, NULL), WIRE_OK);
    ck_assert(!wire_record_iter_has_next(&it));
    const char *why = NULL;
    ck_assert_err(wire_record_iter_next(&it, &got, &why), WIRE_ERR_CORRUPT_BATCH);
    ck_assert_ptr_nonnull(why);

    /* A header that never went through validate is checked again by init. */
    struct wire_batch_header bad = h;
    bad.records_bytes = h.records_bytes + 1;
    ck_assert_err(wire_record_iter_init(&it, &bad, NULL, 0, NULL), WIRE_ERR_CORRUPT_BATCH);
    bad = h;
    bad.codec = 9;
    ck_assert_err(wire_record_iter_init(&it, &bad, NULL, 0, NULL), WIRE_ERR_UNSUPPORTED_CODEC);
    bad = h;
    bad.record_count = 0;
    ck_assert_err(wire_record_iter_init(&it, &bad, NULL, 0, NULL), WIRE_ERR_CORRUPT_BATCH);
    free(p);
}
END_TEST

Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");

    TCase *layout = tcase_create("layout");
    tcase_add_test(layout, test_layout_golden);
    tcase_add_test(layout, test_producer_defaults);
    tcase_add_test(layout, test_records_msgpack_oracle);
    suite_add_tcase(s, layout);

    TCase *round_trip = tcase_create("round_trip");
    tcase_add_test(round_trip, test_round_trip_none);
    tcase_add_test(round_trip, test_round_trip_lz4_compressible);
    tcase_add_test(round_trip, test_lz4_incompressible_falls_back);
    tcase_add_test(round_trip, test_nil_key_vs_empty_key);
    tcase_add_test(round_trip, test_headers_duplicates_keep_order);
    tcase_add_test(round_trip, test_empty_value);
    tcase_add_test(round_trip, test_stamp_base_offset);
    tcase_add_test(round_trip, test_iter_past_end);
    suite_add_tcase(s, round_trip);

    TCase *builder = tcase_create("builder");
    tcase_set_timeout(builder, 60);
    tcase_add_test(builder, test_key_limit);
    tcase_add_test(builder, test_header_limits);
    tcase_add_test(builder, test_record_size_limit);
    tcase_add_test(builder, test_buffer_full_keeps_builder_usable);
    tcase_add_test(builder, test_records_max);
    tcase_add_test(builder, test_none_clamped_to_batch_max);
    tcase_add_test(builder, test_lz4_fallback_too_large);
    tcase_add_test(builder, test_finish_errors);
    tcase_add_test(builder, test_encoding_widths);
    tcase_add_test(builder, test_builder_timestamps);
    suite_add_tcase(s, builder);

    TCase *header = tcase_create("hostile_header");
    tcase_set_timeout(header, 60);
    tcase_add_test(header, test_truncated_every_position);
    tcase_add_test(header, test_every_bit_flip_detected);
    tcase_add_test(header, test_bad_markers);
    tcase_add_test(header, test_bad_version);
    tcase_add_test(header, test_bad_codec);
    tcase_add_test(header, test_record_count_bounds);
    tcase_add_test(header, test_size_fields_mismatch);
    tcase_add_test(header, test_batch_too_large);
    tcase_add_test(header, test_timestamp_header_order);
    tcase_add_test(header, test_lz4_bomb);
    tcase_add_test(header, test_lz4_decompressed_size_mismatch);
    tcase_add_test(header, test_lz4_garbage_payload);
    suite_add_tcase(s, header);

    TCase *records = tcase_create("hostile_records");
    tcase_set_timeout(records, 60);
    tcase_add_test(records, test_crafted_valid_baseline);
    tcase_add_test(records, test_wrong_offset_delta);
    tcase_add_test(records, test_trailing_bytes);
    tcase_add_test(records, test_wrong_types_in_record);
    tcase_add_test(records, test_deep_nesting);
    tcase_add_test(records, test_record_timestamps);
    tcase_add_test(records, test_record_limits_on_read);
    suite_add_tcase(s, records);

    return s;
}
