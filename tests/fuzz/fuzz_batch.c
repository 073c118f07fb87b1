/*
 * libFuzzer target for record batches (wire/batch.c).
 *
 * The first input byte picks a mode; the rest is the mode's input.
 *
 *   even: the rest is a raw batch. It goes through wire_batch_validate and,
 *         when valid, the deep record check; and, since random bytes almost
 *         never carry a matching CRC, also through wire_batch_parse_header
 *         (the same checks without the CRC) and the record iterator, so the
 *         fuzzer reaches record decoding and LZ4 decompression. Properties:
 *         never a crash, a leak or a read outside the input; every error
 *         comes with a reason; a batch that validates also parses, verifies
 *         the same way with and without the CRC, and stays valid after its
 *         base offset is stamped.
 *   odd:  the rest describes records (see build_mode). They are added to a
 *         builder; each failed add must leave the builder unchanged, and
 *         the finished batch must validate and read back exactly the records
 *         that were accepted. Violations trap.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "wire/batch.h"
#include "wire/errors.h"
#include "wire/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                  \
    do {                             \
        if (!(cond))                 \
            __builtin_trap();        \
    } while (0)

/* Static so that neither mode allocates per input beyond one exact-size copy. */
static uint8_t scratch[WIRE_BATCH_RECORDS_BYTES_MAX];

/* ---- raw mode ------------------------------------------------------------------- */

/* Reads every byte a record points at, so ASan sees any view that leaves its buffer. */
static uint32_t touch(struct wire_bytes b)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < b.len; i++)
        sum += b.ptr[i];
    return sum;
}

/* Iterates all records; returns what the iterator said, like wire_batch_verify_records. */
static int iterate_records(const struct wire_batch_header *h)
{
    struct wire_record_iter it;
    struct wire_record rec;
    const char *why = NULL;
    volatile uint32_t sink = 0;
    int rc = wire_record_iter_init(&it, h, scratch, sizeof(scratch), &why);
    if (rc != WIRE_OK) {
        CHECK(why != NULL);
        return rc;
    }
    uint64_t expected_offset = h->base_offset;
    while (wire_record_iter_has_next(&it)) {
        why = NULL;
        rc = wire_record_iter_next(&it, &rec, &why);
        if (rc != WIRE_OK) {
            CHECK(why != NULL);
            CHECK(rc == WIRE_ERR_CORRUPT_BATCH || rc == WIRE_ERR_RECORD_TOO_LARGE ||
                  rc == WIRE_ERR_LIMIT_EXCEEDED);
            /* Errors stick. */
            CHECK(wire_record_iter_next(&it, &rec, NULL) != WIRE_OK);
            return rc;
        }
        CHECK(rec.offset == expected_offset++);
        CHECK(rec.timestamp <= h->max_timestamp);
        CHECK(rec.header_count <= WIRE_HEADERS_MAX);
        CHECK(rec.key.len <= WIRE_KEY_BYTES_MAX);
        sink += touch(rec.key) + touch(rec.value);
        for (uint32_t i = 0; i < rec.header_count; i++)
            sink += touch(rec.headers[i].name) + touch(rec.headers[i].value);
    }
    (void)sink;
    return WIRE_OK;
}

static bool same_header(const struct wire_batch_header *a, const struct wire_batch_header *b)
{
    return a->base_offset == b->base_offset && a->crc == b->crc && a->codec == b->codec &&
           a->record_count == b->record_count && a->first_timestamp == b->first_timestamp &&
           a->max_timestamp == b->max_timestamp && a->producer_id == b->producer_id &&
           a->producer_epoch == b->producer_epoch && a->base_sequence == b->base_sequence &&
           a->records_bytes == b->records_bytes && a->records.ptr == b->records.ptr &&
           a->records.len == b->records.len;
}

static void raw_mode(const uint8_t *batch, size_t len)
{
    struct wire_batch_header h, h_nocrc;
    const char *why = NULL;
    int rc = wire_batch_validate(batch, len, &h, &why);
    if (rc != WIRE_OK) {
        CHECK(why != NULL);
        CHECK(rc == WIRE_ERR_CORRUPT_BATCH || rc == WIRE_ERR_UNSUPPORTED_VERSION ||
              rc == WIRE_ERR_UNSUPPORTED_CODEC || rc == WIRE_ERR_BATCH_TOO_LARGE);
    }

    why = NULL;
    int rc_nocrc = wire_batch_parse_header(batch, len, &h_nocrc, &why);
    if (rc_nocrc != WIRE_OK)
        CHECK(why != NULL);
    /* Only the CRC separates the two. */
    if (rc == WIRE_OK)
        CHECK(rc_nocrc == WIRE_OK && same_header(&h, &h_nocrc));
    else if (rc_nocrc == WIRE_OK)
        CHECK(rc == WIRE_ERR_CORRUPT_BATCH);
    if (rc_nocrc != WIRE_OK)
        return;

    int deep = iterate_records(&h_nocrc);
    if (rc != WIRE_OK)
        return;

    CHECK(wire_batch_verify_records(&h, scratch, sizeof(scratch), NULL) == deep);

    /* Stamping a base offset keeps the batch valid and changes nothing else. */
    uint8_t *copy = malloc(len);
    CHECK(copy != NULL);
    memcpy(copy, batch, len);
    wire_batch_stamp_base_offset(copy, 0x0102030405060708ull);
    struct wire_batch_header stamped;
    CHECK(wire_batch_validate(copy, len, &stamped, NULL) == WIRE_OK);
    CHECK(stamped.base_offset == 0x0102030405060708ull);
    CHECK(stamped.crc == h.crc && stamped.record_count == h.record_count);
    free(copy);
}

/* ---- build mode ----------------------------------------------------------------- */

#define FUZZ_RECORDS_MAX 2048u
#define FUZZ_HEADERS_MAX 7u
#define FUZZ_RECORDS_CAP 65536u

static uint8_t build_buf[WIRE_BATCH_HEADER_BYTES + FUZZ_RECORDS_CAP];
static uint8_t lz4_buf[WIRE_BATCH_HEADER_BYTES + LZ4_COMPRESSBOUND(FUZZ_RECORDS_CAP)];
static struct wire_record expected[FUZZ_RECORDS_MAX];
static struct wire_header expected_headers[FUZZ_RECORDS_MAX][FUZZ_HEADERS_MAX];

struct cursor {
    const uint8_t *p;
    size_t n;
};

static uint64_t take_be(struct cursor *c, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width && c->n > 0; i++) {
        v = (v << 8) | *c->p++;
        c->n--;
    }
    return v;
}

/* Up to `want` bytes (fewer when the input runs out), as a view into the input. */
static struct wire_bytes take_bytes(struct cursor *c, size_t want)
{
    struct wire_bytes b;
    if (want > c->n)
        want = c->n;
    b.ptr = c->p;
    b.len = (uint32_t)want;
    c->p += want;
    c->n -= want;
    return b;
}

static bool same_bytes(struct wire_bytes a, struct wire_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/*
 * Input: codec/producer flags (1 byte), records-buffer capacity (2 bytes),
 * then per record: flags (bit 0 key present, bits 1-3 header count, bit 4
 * 8-byte absolute timestamp instead of a 2-byte delta), timestamp, key length
 * (1), key, value length (2), value, and per header name length (1), name,
 * value length (1), value. Lengths are cut to what the input still has.
 */
static void build_mode(const uint8_t *in, size_t n)
{
    struct cursor c = {in, n};
    uint8_t config = (uint8_t)take_be(&c, 1);
    enum wire_codec codec = (config & 1) ? WIRE_CODEC_LZ4 : WIRE_CODEC_NONE;
    size_t cap = WIRE_BATCH_HEADER_BYTES + (size_t)take_be(&c, 2);

    struct wire_batch_builder b;
    wire_batch_builder_init(&b, build_buf, cap, codec);
    if (config & 2)
        wire_batch_builder_set_producer(&b, (int64_t)config << 40, (int16_t)config, -(int32_t)config);

    uint32_t accepted = 0;
    int64_t ts_first = 0, ts_max = 0;
    for (uint32_t attempt = 0; c.n > 0 && attempt < FUZZ_RECORDS_MAX; attempt++) {
        struct wire_record *r = &expected[accepted];
        struct wire_header *hdrs = expected_headers[accepted];
        uint8_t flags = (uint8_t)take_be(&c, 1);
        memset(r, 0, sizeof(*r));
        if (flags & 0x10)
            r->timestamp = (int64_t)take_be(&c, 8);
        else
            r->timestamp = 1700000000000 + (int16_t)take_be(&c, 2);
        r->has_key = flags & 1;
        r->key = take_bytes(&c, (size_t)take_be(&c, 1));
        r->value = take_bytes(&c, (size_t)take_be(&c, 2));
        r->header_count = (flags >> 1) & 7u;
        r->headers = hdrs;
        for (uint32_t i = 0; i < r->header_count; i++) {
            hdrs[i].name = take_bytes(&c, (size_t)take_be(&c, 1));
            hdrs[i].value = take_bytes(&c, (size_t)take_be(&c, 1));
        }

        uint32_t count_before = wire_batch_builder_count(&b);
        size_t len_before = b.records.len;
        int rc = wire_batch_builder_add(&b, r);
        if (rc != WIRE_OK) {
            CHECK(rc == WIRE_ERR_BUFFER_FULL || rc == WIRE_ERR_BAD_VALUE);
            CHECK(wire_batch_builder_count(&b) == count_before);
            CHECK(b.records.len == len_before && b.records.err == WIRE_OK);
            continue;
        }
        CHECK(wire_batch_builder_count(&b) == count_before + 1);
        if (accepted == 0)
            ts_first = ts_max = r->timestamp;
        else if (r->timestamp > ts_max)
            ts_max = r->timestamp;
        accepted++;
    }

    struct wire_bytes out;
    int rc = wire_batch_builder_finish(&b, lz4_buf, sizeof(lz4_buf), &out);
    if (accepted == 0) {
        CHECK(rc == WIRE_ERR_INVALID_REQUEST);
        return;
    }
    /* Records stay under 64 KiB here, so no batch can be too large. */
    CHECK(rc == WIRE_OK);
    CHECK(out.len <= WIRE_BATCH_BYTES_MAX);

    /* Read it back from an exact-size copy, so ASan sees any over-read. */
    uint8_t *copy = malloc(out.len);
    CHECK(copy != NULL);
    memcpy(copy, out.ptr, out.len);
    struct wire_batch_header h;
    CHECK(wire_batch_validate(copy, out.len, &h, NULL) == WIRE_OK);
    CHECK(h.base_offset == 0 && h.record_count == accepted);
    CHECK(h.first_timestamp == ts_first && h.max_timestamp == ts_max);
    CHECK(h.producer_id == b.header.producer_id && h.producer_epoch == b.header.producer_epoch &&
          h.base_sequence == b.header.base_sequence);
    CHECK(h.records_bytes == b.records.len);
    CHECK(h.codec == WIRE_CODEC_NONE || (codec == WIRE_CODEC_LZ4 && h.records.len < h.records_bytes));

    wire_batch_stamp_base_offset(copy, 1000);
    CHECK(wire_batch_validate(copy, out.len, &h, NULL) == WIRE_OK);
    CHECK(wire_batch_verify_records(&h, scratch, sizeof(scratch), NULL) == WIRE_OK);

    struct wire_record_iter it;
    struct wire_record got;
    CHECK(wire_record_iter_init(&it, &h, scratch, sizeof(scratch), NULL) == WIRE_OK);
    for (uint32_t i = 0; i < accepted; i++) {
        const struct wire_record *want = &expected[i];
        CHECK(wire_record_iter_has_next(&it));
        CHECK(wire_record_iter_next(&it, &got, NULL) == WIRE_OK);
        CHECK(got.offset == 1000u + i);
        CHECK(got.timestamp == want->timestamp);
        CHECK(got.has_key == want->has_key);
        CHECK(!want->has_key || same_bytes(got.key, want->key));
        CHECK(same_bytes(got.value, want->value));
        CHECK(got.header_count == want->header_count);
        for (uint32_t j = 0; j < got.header_count; j++) {
            CHECK(same_bytes(got.headers[j].name, want->headers[j].name));
            CHECK(same_bytes(got.headers[j].value, want->headers[j].value));
        }
    }
    CHECK(!wire_record_iter_has_next(&it));
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0)
        raw_mode(data + 1, size - 1);
    else
        build_mode(data + 1, size - 1);
    return 0;
}
