/* Record batches: fixed-offset header checks, the builder and the record iterator (see batch.h). */
#include "batch.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include <lz4.h>

#include "byteorder.h"
#include "crc32c.h"

/* ---- layout ------------------------------------------------------------------ */

/*
 * Byte offsets of the header markers (batch.h has the table). Each field's
 * value follows its marker, so a field at offset `o` has its value at o + 1.
 */
enum {
    BATCH_OFF_ARRAY = 0,
    BATCH_OFF_VERSION = 1,
    BATCH_OFF_BASE_OFFSET = 2,
    BATCH_OFF_CRC = 11,
    BATCH_OFF_CODEC = 16,
    BATCH_OFF_RECORD_COUNT = 18,
    BATCH_OFF_FIRST_TIMESTAMP = 23,
    BATCH_OFF_MAX_TIMESTAMP = 32,
    BATCH_OFF_PRODUCER_ID = 41,
    BATCH_OFF_PRODUCER_EPOCH = 50,
    BATCH_OFF_BASE_SEQUENCE = 53,
    BATCH_OFF_RECORDS_BYTES = 58,
    BATCH_OFF_RECORDS = 63,
};

#define BATCH_MARKER_ARRAY12 0x9cu

/* Every header field's marker, checked in this order by parse_header. */
static const struct {
    uint8_t offset;
    uint8_t marker;
} batch_markers[] = {
    {BATCH_OFF_BASE_OFFSET, 0xcf},     {BATCH_OFF_CRC, 0xce},
    {BATCH_OFF_CODEC, 0xcc},           {BATCH_OFF_RECORD_COUNT, 0xce},
    {BATCH_OFF_FIRST_TIMESTAMP, 0xd3}, {BATCH_OFF_MAX_TIMESTAMP, 0xd3},
    {BATCH_OFF_PRODUCER_ID, 0xd3},     {BATCH_OFF_PRODUCER_EPOCH, 0xd1},
    {BATCH_OFF_BASE_SEQUENCE, 0xd2},   {BATCH_OFF_RECORDS_BYTES, 0xce},
    {BATCH_OFF_RECORDS, 0xc6},
};

/* The five elements every record array has; later revisions may append more. */
#define RECORD_FIELDS_MIN 5u

/*
 * The smallest record: [0, 0, nil, bin8 "", {}] = 1 + 1 + 1 + 1 + 2 + 1 bytes
 * (limits.h relies on the same number). parse_header uses it to reject a
 * record_count the records could not possibly hold, before any decoding.
 */
#define RECORD_BYTES_MIN 7u

static_assert(BATCH_OFF_RECORDS + 5 == WIRE_BATCH_HEADER_BYTES, "records follow the bin32 header");
static_assert(BATCH_OFF_CODEC == WIRE_BATCH_CRC_START, "the CRC covers everything from codec on");
static_assert((uint64_t)WIRE_BATCH_RECORDS_MAX * RECORD_BYTES_MIN <= WIRE_BATCH_RECORDS_BYTES_MAX,
              "a batch of the most records of the smallest size can be stored");
static_assert(WIRE_BATCH_RECORDS_BYTES_MAX <= LZ4_MAX_INPUT_SIZE, "LZ4 takes the records in one call");
static_assert(WIRE_BATCH_RECORDS_BYTES_MAX <= INT_MAX, "LZ4 sizes are int");

/* ---- validation ---------------------------------------------------------------- */

static int batch_fail(const char **why, const char *sentence, int err)
{
    if (why != NULL)
        *why = sentence;
    return err;
}

/*
 * The order of the checks matters to what a sender is told: the version
 * comes first (a newer format may lay out everything after it differently),
 * then the overall size (so an oversized batch is refused before anything
 * else is read), then the markers, then the values.
 */
int wire_batch_parse_header(const void *batch, size_t len, struct wire_batch_header *h,
                            const char **why)
{
    const uint8_t *p = batch;

    if (len < 2 || (p[BATCH_OFF_ARRAY] & 0xf0u) != 0x90u)
        return batch_fail(why, "a batch starts with a fixarray and a version byte", WIRE_ERR_CORRUPT_BATCH);
    if (p[BATCH_OFF_VERSION] != WIRE_BATCH_VERSION)
        return batch_fail(why, "unsupported batch format version", WIRE_ERR_UNSUPPORTED_VERSION);
    if (p[BATCH_OFF_ARRAY] != BATCH_MARKER_ARRAY12)
        return batch_fail(why, "a version 1 batch is an array of 12 elements", WIRE_ERR_CORRUPT_BATCH);
    if (len > WIRE_BATCH_BYTES_MAX)
        return batch_fail(why, "the batch exceeds the maximum batch size", WIRE_ERR_BATCH_TOO_LARGE);
    if (len < WIRE_BATCH_HEADER_BYTES)
        return batch_fail(why, "the batch is shorter than its header", WIRE_ERR_CORRUPT_BATCH);
    for (size_t i = 0; i < sizeof(batch_markers) / sizeof(batch_markers[0]); i++)
        if (p[batch_markers[i].offset] != batch_markers[i].marker)
            return batch_fail(why, "a batch header field has the wrong msgpack marker",
                              WIRE_ERR_CORRUPT_BATCH);

    uint8_t codec = p[BATCH_OFF_CODEC + 1];
    uint64_t record_count = wire_load_be(p + BATCH_OFF_RECORD_COUNT + 1, 4);
    int64_t first_timestamp = (int64_t)wire_load_be(p + BATCH_OFF_FIRST_TIMESTAMP + 1, 8);
    int64_t max_timestamp = (int64_t)wire_load_be(p + BATCH_OFF_MAX_TIMESTAMP + 1, 8);
    uint64_t records_bytes = wire_load_be(p + BATCH_OFF_RECORDS_BYTES + 1, 4);
    uint64_t stored_bytes = wire_load_be(p + BATCH_OFF_RECORDS + 1, 4);

    if (codec != WIRE_CODEC_NONE && codec != WIRE_CODEC_LZ4)
        return batch_fail(why, "unknown compression codec", WIRE_ERR_UNSUPPORTED_CODEC);
    /*
     * records_bytes sizes the decompression buffer, so it is bounded here,
     * before anyone allocates or decompresses: a few KiB of LZ4 may claim
     * to expand to gigabytes (an "LZ4 bomb").
     */
    if (records_bytes > WIRE_BATCH_RECORDS_BYTES_MAX)
        return batch_fail(why, "the records' uncompressed size exceeds its limit",
                          WIRE_ERR_BATCH_TOO_LARGE);
    if (stored_bytes != len - WIRE_BATCH_HEADER_BYTES)
        return batch_fail(why, "the records do not end where the batch ends", WIRE_ERR_CORRUPT_BATCH);
    if (record_count == 0 || record_count > WIRE_BATCH_RECORDS_MAX)
        return batch_fail(why, "record_count is outside 1..WIRE_BATCH_RECORDS_MAX",
                          WIRE_ERR_CORRUPT_BATCH);
    if (record_count * RECORD_BYTES_MIN > records_bytes)
        return batch_fail(why, "records_bytes is too small for record_count records",
                          WIRE_ERR_CORRUPT_BATCH);
    if (codec == WIRE_CODEC_NONE && stored_bytes != records_bytes)
        return batch_fail(why, "uncompressed records differ from records_bytes in size",
                          WIRE_ERR_CORRUPT_BATCH);
    /* LZ4 never expands input beyond LZ4_compressBound, so more is not LZ4 output. */
    if (codec == WIRE_CODEC_LZ4 &&
        (stored_bytes == 0 || stored_bytes > (uint64_t)LZ4_compressBound((int)records_bytes)))
        return batch_fail(why, "the compressed records have an impossible size", WIRE_ERR_CORRUPT_BATCH);
    if (max_timestamp < first_timestamp)
        return batch_fail(why, "max_timestamp is below first_timestamp", WIRE_ERR_CORRUPT_BATCH);

    if (h != NULL) {
        h->base_offset = wire_load_be(p + BATCH_OFF_BASE_OFFSET + 1, 8);
        h->crc = (uint32_t)wire_load_be(p + BATCH_OFF_CRC + 1, 4);
        h->codec = codec;
        h->record_count = (uint32_t)record_count;
        h->first_timestamp = first_timestamp;
        h->max_timestamp = max_timestamp;
        h->producer_id = (int64_t)wire_load_be(p + BATCH_OFF_PRODUCER_ID + 1, 8);
        h->producer_epoch = (int16_t)wire_load_be(p + BATCH_OFF_PRODUCER_EPOCH + 1, 2);
        h->base_sequence = (int32_t)wire_load_be(p + BATCH_OFF_BASE_SEQUENCE + 1, 4);
        h->records_bytes = (uint32_t)records_bytes;
        h->records.ptr = p + WIRE_BATCH_HEADER_BYTES;
        h->records.len = (uint32_t)stored_bytes;
    }
    return WIRE_OK;
}

int wire_batch_validate(const void *batch, size_t len, struct wire_batch_header *h,
                        const char **why)
{
    struct wire_batch_header local;
    int rc = wire_batch_parse_header(batch, len, &local, why);
    if (rc != WIRE_OK)
        return rc;
    /* parse_header guarantees len >= WIRE_BATCH_HEADER_BYTES > WIRE_BATCH_CRC_START. */
    const uint8_t *p = batch;
    uint32_t crc = wire_crc32c(0, p + WIRE_BATCH_CRC_START, len - WIRE_BATCH_CRC_START);
    if (crc != local.crc)
        return batch_fail(why, "the batch CRC does not match its contents", WIRE_ERR_CORRUPT_BATCH);
    if (h != NULL)
        *h = local;
    return WIRE_OK;
}

void wire_batch_stamp_base_offset(void *batch, uint64_t base_offset)
{
    wire_store_be((uint8_t *)batch + BATCH_OFF_BASE_OFFSET + 1, base_offset, 8);
}

/* ---- building ------------------------------------------------------------------ */

/* Encoded sizes, matching the encodings msgpack-c's packer chooses (smallest form). */
static size_t mp_uint_bytes(uint64_t v)
{
    if (v < 128u)
        return 1;
    if (v < 256u)
        return 2;
    if (v < 65536u)
        return 3;
    if (v <= UINT32_MAX)
        return 5;
    return 9;
}

static size_t mp_int_bytes(int64_t v)
{
    if (v >= 0)
        return mp_uint_bytes((uint64_t)v);
    if (v >= -32)
        return 1;
    if (v >= INT8_MIN)
        return 2;
    if (v >= INT16_MIN)
        return 3;
    if (v >= INT32_MIN)
        return 5;
    return 9;
}

static size_t mp_container_bytes(uint32_t count)
{
    return count < 16u ? 1 : count < 65536u ? 3 : 5;
}

static size_t mp_bin_bytes(uint32_t len)
{
    return (len < 256u ? 2 : len < 65536u ? 3 : 5) + (size_t)len;
}

static size_t mp_str_bytes(uint32_t len)
{
    return (len < 32u ? 1 : len < 256u ? 2 : len < 65536u ? 3 : 5) + (size_t)len;
}

/*
 * WIRE_CODEC_NONE batches are additionally clamped to WIRE_BATCH_BYTES_MAX:
 * uncompressed records can never shrink, so accepting more than that would
 * only produce a batch that finish must refuse. Reporting BUFFER_FULL at the
 * add instead lets the caller start the next batch with that record.
 */
void wire_batch_builder_init(struct wire_batch_builder *b, void *buf, size_t cap,
                             enum wire_codec codec)
{
    assert(buf != NULL || cap == 0);
    assert(codec == WIRE_CODEC_NONE || codec == WIRE_CODEC_LZ4);
    size_t cap_max = codec == WIRE_CODEC_NONE
                         ? WIRE_BATCH_BYTES_MAX
                         : WIRE_BATCH_HEADER_BYTES + WIRE_BATCH_RECORDS_BYTES_MAX;
    if (cap > cap_max)
        cap = cap_max;
    b->buf = buf;
    b->cap = cap;
    /* A buffer too small for the header takes no record: every add says BUFFER_FULL. */
    if (cap >= WIRE_BATCH_HEADER_BYTES)
        wire_writer_init(&b->records, b->buf + WIRE_BATCH_HEADER_BYTES, cap - WIRE_BATCH_HEADER_BYTES);
    else
        wire_writer_init(&b->records, b->buf, 0);
    b->header = (struct wire_batch_header){
        .codec = (uint8_t)codec,
        .producer_id = -1,
        .producer_epoch = -1,
        .base_sequence = -1,
    };
}

void wire_batch_builder_set_producer(struct wire_batch_builder *b, int64_t producer_id,
                                     int16_t producer_epoch, int32_t base_sequence)
{
    b->header.producer_id = producer_id;
    b->header.producer_epoch = producer_epoch;
    b->header.base_sequence = base_sequence;
}

/*
 * msgpack-c hands a zero-length body to the writer as (ptr, 0); memcpy with a
 * NULL source is undefined even for zero bytes, so empty views never pass on
 * a NULL pointer.
 */
static const uint8_t *nonnull_ptr(struct wire_bytes b)
{
    static const uint8_t empty[1];
    return b.ptr != NULL ? b.ptr : empty;
}

/*
 * Everything is checked and the record's exact encoded size computed before
 * a byte is written, so the limits are enforced independently of the buffer
 * (a record over WIRE_RECORD_BYTES_MAX is RECORD_TOO_LARGE even in a buffer
 * that could hold it, never BUFFER_FULL, which would make a producer retry
 * it forever) and a failed add usually writes nothing. The rollback below
 * only matters if the size computation and msgpack-c ever disagree.
 */
int wire_batch_builder_add(struct wire_batch_builder *b, const struct wire_record *rec)
{
    assert(rec->header_count == 0 || rec->headers != NULL);
    if (b->header.record_count >= WIRE_BATCH_RECORDS_MAX)
        return WIRE_ERR_LIMIT_EXCEEDED;
    if (rec->header_count > WIRE_HEADERS_MAX)
        return WIRE_ERR_LIMIT_EXCEEDED;

    int64_t timestamp_delta = 0;
    if (b->header.record_count > 0 &&
        __builtin_sub_overflow(rec->timestamp, b->header.first_timestamp, &timestamp_delta))
        return WIRE_ERR_BAD_VALUE;

    uint32_t key_len = rec->has_key ? rec->key.len : 0;
    if (key_len > WIRE_KEY_BYTES_MAX)
        return WIRE_ERR_RECORD_TOO_LARGE;
    /* Sizes add up in 64 bits: 64 headers of 4 GiB claimed lengths cannot wrap. */
    uint64_t size = 1 + mp_uint_bytes(b->header.record_count) + mp_int_bytes(timestamp_delta) +
                    (rec->has_key ? mp_bin_bytes(key_len) : 1) + mp_bin_bytes(rec->value.len) +
                    mp_container_bytes(rec->header_count);
    for (uint32_t i = 0; i < rec->header_count; i++) {
        const struct wire_header *hd = &rec->headers[i];
        if (hd->name.len > WIRE_HEADER_NAME_BYTES_MAX || hd->value.len > WIRE_HEADER_VALUE_BYTES_MAX)
            return WIRE_ERR_RECORD_TOO_LARGE;
        size += mp_str_bytes(hd->name.len) + mp_bin_bytes(hd->value.len);
    }
    if (size > WIRE_RECORD_BYTES_MAX)
        return WIRE_ERR_RECORD_TOO_LARGE;

    struct wire_writer *w = &b->records;
    assert(w->err == WIRE_OK);
    if (size > w->cap - w->len)
        return WIRE_ERR_BUFFER_FULL;

    size_t len_before = w->len;
    wire_write_array(w, RECORD_FIELDS_MIN);
    wire_write_uint(w, b->header.record_count);
    wire_write_int(w, timestamp_delta);
    if (rec->has_key)
        wire_write_bin(w, nonnull_ptr(rec->key), key_len);
    else
        wire_write_nil(w);
    wire_write_bin(w, nonnull_ptr(rec->value), rec->value.len);
    wire_write_map(w, rec->header_count);
    for (uint32_t i = 0; i < rec->header_count; i++) {
        wire_write_str(w, nonnull_ptr(rec->headers[i].name), rec->headers[i].name.len);
        wire_write_bin(w, nonnull_ptr(rec->headers[i].value), rec->headers[i].value.len);
    }
    if (w->err != WIRE_OK || w->len - len_before != size) {
        /* The writer's errors are sticky: clear it, or every later add would fail too. */
        int err = w->err != WIRE_OK ? w->err : WIRE_ERR_UNKNOWN;
        w->len = len_before;
        w->err = WIRE_OK;
        assert(!"record size computed differently from msgpack-c's encoding");
        return err;
    }

    if (b->header.record_count == 0) {
        b->header.first_timestamp = rec->timestamp;
        b->header.max_timestamp = rec->timestamp;
    } else if (rec->timestamp > b->header.max_timestamp) {
        b->header.max_timestamp = rec->timestamp;
    }
    b->header.record_count++;
    return WIRE_OK;
}

size_t wire_batch_lz4_buf_bytes(size_t records_bytes)
{
    /* LZ4_COMPRESSBOUND's formula in size_t, saturating instead of wrapping. */
    size_t extra = records_bytes / 255u + 16u + WIRE_BATCH_HEADER_BYTES;
    if (records_bytes > SIZE_MAX - extra)
        return SIZE_MAX;
    return records_bytes + extra;
}

/* Writes the fixed-width header of `h` in front of its records, CRC last. */
static void batch_write_header(uint8_t *p, const struct wire_batch_header *h)
{
    p[BATCH_OFF_ARRAY] = BATCH_MARKER_ARRAY12;
    p[BATCH_OFF_VERSION] = WIRE_BATCH_VERSION;
    for (size_t i = 0; i < sizeof(batch_markers) / sizeof(batch_markers[0]); i++)
        p[batch_markers[i].offset] = batch_markers[i].marker;
    wire_store_be(p + BATCH_OFF_BASE_OFFSET + 1, h->base_offset, 8);
    p[BATCH_OFF_CODEC + 1] = h->codec;
    wire_store_be(p + BATCH_OFF_RECORD_COUNT + 1, h->record_count, 4);
    wire_store_be(p + BATCH_OFF_FIRST_TIMESTAMP + 1, (uint64_t)h->first_timestamp, 8);
    wire_store_be(p + BATCH_OFF_MAX_TIMESTAMP + 1, (uint64_t)h->max_timestamp, 8);
    wire_store_be(p + BATCH_OFF_PRODUCER_ID + 1, (uint64_t)h->producer_id, 8);
    wire_store_be(p + BATCH_OFF_PRODUCER_EPOCH + 1, (uint16_t)h->producer_epoch, 2);
    wire_store_be(p + BATCH_OFF_BASE_SEQUENCE + 1, (uint32_t)h->base_sequence, 4);
    wire_store_be(p + BATCH_OFF_RECORDS_BYTES + 1, h->records_bytes, 4);
    wire_store_be(p + BATCH_OFF_RECORDS + 1, h->records.len, 4);
    /* Last: the CRC covers every byte written above from the codec on. */
    size_t len = WIRE_BATCH_HEADER_BYTES + (size_t)h->records.len;
    uint32_t crc = wire_crc32c(0, p + WIRE_BATCH_CRC_START, len - WIRE_BATCH_CRC_START);
    wire_store_be(p + BATCH_OFF_CRC + 1, crc, 4);
}

/* Writes b's header for records stored at p + WIRE_BATCH_HEADER_BYTES, and returns the batch. */
static struct wire_bytes batch_seal(const struct wire_batch_builder *b, uint8_t *p, uint8_t codec,
                                    uint32_t records_bytes, uint32_t stored_bytes)
{
    struct wire_batch_header h = b->header;
    h.base_offset = 0;
    h.codec = codec;
    h.records_bytes = records_bytes;
    h.records = (struct wire_bytes){p + WIRE_BATCH_HEADER_BYTES, stored_bytes};
    batch_write_header(p, &h);
    return (struct wire_bytes){p, WIRE_BATCH_HEADER_BYTES + stored_bytes};
}

/*
 * Compression only pays when it shrinks the records, so LZ4 gets an output
 * bound of one byte less than the records (and no more than a batch may
 * carry): when the result would not fit, LZ4_compress_default gives up and
 * the batch goes out uncompressed. finish does not change the builder's
 * records, so calling it again gives the same batch.
 */
int wire_batch_builder_finish(struct wire_batch_builder *b, void *lz4_buf, size_t lz4_cap,
                              struct wire_bytes *out)
{
    if (b->header.record_count == 0)
        return WIRE_ERR_INVALID_REQUEST;
    size_t records_len = b->records.len;
    assert(b->records.err == WIRE_OK);
    assert(records_len <= WIRE_BATCH_RECORDS_BYTES_MAX);
    assert(records_len >= (size_t)b->header.record_count * RECORD_BYTES_MIN);

    if (b->header.codec == WIRE_CODEC_LZ4) {
        if (lz4_buf == NULL || lz4_cap < wire_batch_lz4_buf_bytes(records_len))
            return WIRE_ERR_BUFFER_FULL;
        size_t bound = records_len - 1;
        if (bound > WIRE_BATCH_BYTES_MAX - WIRE_BATCH_HEADER_BYTES)
            bound = WIRE_BATCH_BYTES_MAX - WIRE_BATCH_HEADER_BYTES;
        uint8_t *dst = lz4_buf;
        int stored = LZ4_compress_default((const char *)b->records.buf,
                                          (char *)dst + WIRE_BATCH_HEADER_BYTES, (int)records_len,
                                          (int)bound);
        if (stored > 0) {
            assert((size_t)stored < records_len);
            *out = batch_seal(b, dst, WIRE_CODEC_LZ4, (uint32_t)records_len, (uint32_t)stored);
            return WIRE_OK;
        }
    }

    if (records_len > WIRE_BATCH_BYTES_MAX - WIRE_BATCH_HEADER_BYTES)
        return WIRE_ERR_BATCH_TOO_LARGE;
    *out = batch_seal(b, b->buf, WIRE_CODEC_NONE, (uint32_t)records_len, (uint32_t)records_len);
    return WIRE_OK;
}

/* ---- reading ------------------------------------------------------------------- */

int wire_record_iter_init(struct wire_record_iter *it, const struct wire_batch_header *h,
                          void *scratch, size_t scratch_cap, const char **why)
{
    it->header = *h;
    it->index = 0;
    it->timestamp_max_seen = INT64_MIN;
    /* Until the records are in place the reader is empty and failed, so next() refuses. */
    wire_reader_init(&it->reader, it->headers, 0);
    it->reader.field = "records";
    wire_reader_fail(&it->reader, WIRE_ERR_CORRUPT_BATCH);

    if (h->record_count == 0 || h->record_count > WIRE_BATCH_RECORDS_MAX)
        return batch_fail(why, "record_count is outside 1..WIRE_BATCH_RECORDS_MAX",
                          WIRE_ERR_CORRUPT_BATCH);
    if (h->codec == WIRE_CODEC_NONE) {
        if (h->records.len != h->records_bytes)
            return batch_fail(why, "uncompressed records differ from records_bytes in size",
                              WIRE_ERR_CORRUPT_BATCH);
        wire_reader_init(&it->reader, h->records.ptr, h->records.len);
        return WIRE_OK;
    }
    if (h->codec != WIRE_CODEC_LZ4)
        return batch_fail(why, "unknown compression codec", WIRE_ERR_UNSUPPORTED_CODEC);
    /* Repeated from parse_header: this bound is what keeps LZ4 inside scratch. */
    if (h->records_bytes > WIRE_BATCH_RECORDS_BYTES_MAX)
        return batch_fail(why, "the records' uncompressed size exceeds its limit",
                          WIRE_ERR_BATCH_TOO_LARGE);
    if (h->records_bytes > scratch_cap)
        return batch_fail(why, "the decompression buffer is smaller than records_bytes",
                          WIRE_ERR_BUFFER_FULL);
    if (h->records.len == 0 || h->records.len > WIRE_BATCH_BYTES_MAX)
        return batch_fail(why, "the compressed records have an impossible size", WIRE_ERR_CORRUPT_BATCH);
    /*
     * The output capacity is exactly records_bytes: a stream that would
     * produce more fails inside LZ4 instead of writing past it, and one that
     * produces less is caught by the size comparison.
     */
    int n = LZ4_decompress_safe((const char *)h->records.ptr, scratch, (int)h->records.len,
                                (int)h->records_bytes);
    if (n < 0 || (uint32_t)n != h->records_bytes)
        return batch_fail(why, "the LZ4 records do not decompress to records_bytes bytes",
                          WIRE_ERR_CORRUPT_BATCH);
    wire_reader_init(&it->reader, scratch, h->records_bytes);
    return WIRE_OK;
}

/*
 * Records the failure in the reader so it sticks: after a bad record the
 * position is meaningless, and every later next() must fail too.
 */
static int iter_fail(struct wire_record_iter *it, const char **why, const char *sentence, int err)
{
    wire_reader_fail(&it->reader, err);
    return batch_fail(why, sentence, err);
}

/* A reader error inside a record: a limit keeps its meaning, anything else is corruption. */
static int iter_fail_read(struct wire_record_iter *it, const char **why, const char *sentence,
                          int read_err, int limit_err)
{
    return iter_fail(it, why, sentence,
                     read_err == WIRE_ERR_LIMIT_EXCEEDED ? limit_err : WIRE_ERR_CORRUPT_BATCH);
}

int wire_record_iter_next(struct wire_record_iter *it, struct wire_record *rec, const char **why)
{
    struct wire_reader *r = &it->reader;
    if (r->err != WIRE_OK)
        return batch_fail(why, "an earlier record of this batch was bad", WIRE_ERR_CORRUPT_BATCH);
    if (it->index >= it->header.record_count)
        return batch_fail(why, "the batch has no more records", WIRE_ERR_CORRUPT_BATCH);

    const uint8_t *record_start = r->pos;
    uint32_t fields;
    uint64_t offset_delta;
    int64_t timestamp_delta, timestamp;
    int rc;

    r->field = "record";
    if ((rc = wire_read_array(r, UINT32_MAX, &fields)) != WIRE_OK)
        return iter_fail(it, why, "a record is not a msgpack array", WIRE_ERR_CORRUPT_BATCH);
    if (fields < RECORD_FIELDS_MIN)
        return iter_fail(it, why, "a record has fewer than 5 elements", WIRE_ERR_CORRUPT_BATCH);

    r->field = "offset_delta";
    if ((rc = wire_read_uint(r, UINT32_MAX, &offset_delta)) != WIRE_OK || offset_delta != it->index)
        return iter_fail(it, why, "a record's offset_delta is not its position in the batch",
                         WIRE_ERR_CORRUPT_BATCH);

    r->field = "timestamp_delta";
    if ((rc = wire_read_int(r, INT64_MIN, INT64_MAX, &timestamp_delta)) != WIRE_OK)
        return iter_fail(it, why, "a record's timestamp_delta is not an integer", WIRE_ERR_CORRUPT_BATCH);
    if (__builtin_add_overflow(it->header.first_timestamp, timestamp_delta, &timestamp))
        return iter_fail(it, why, "a record's timestamp overflows", WIRE_ERR_CORRUPT_BATCH);
    if (it->index == 0 && timestamp_delta != 0)
        return iter_fail(it, why, "the first record's timestamp is not first_timestamp",
                         WIRE_ERR_CORRUPT_BATCH);
    if (timestamp > it->header.max_timestamp)
        return iter_fail(it, why, "a record's timestamp exceeds max_timestamp", WIRE_ERR_CORRUPT_BATCH);

    r->field = "key";
    rec->has_key = !wire_peek_nil(r);
    rec->key.ptr = NULL;
    rec->key.len = 0;
    if (!rec->has_key)
        rc = wire_read_nil(r);
    else
        rc = wire_read_bin(r, WIRE_KEY_BYTES_MAX, &rec->key);
    if (rc != WIRE_OK)
        return iter_fail_read(it, why, "a record's key is not a bin or nil within its limit", rc,
                              WIRE_ERR_RECORD_TOO_LARGE);

    r->field = "value";
    if ((rc = wire_read_bin(r, WIRE_RECORD_BYTES_MAX, &rec->value)) != WIRE_OK)
        return iter_fail_read(it, why, "a record's value is not a bin within its limit", rc,
                              WIRE_ERR_RECORD_TOO_LARGE);

    r->field = "headers";
    uint32_t header_count;
    if ((rc = wire_read_map(r, WIRE_HEADERS_MAX, &header_count)) != WIRE_OK)
        return iter_fail_read(it, why, "a record's headers are not a map of at most 64 entries", rc,
                              WIRE_ERR_LIMIT_EXCEEDED);
    for (uint32_t i = 0; i < header_count; i++) {
        r->field = "header name";
        if ((rc = wire_read_str(r, WIRE_HEADER_NAME_BYTES_MAX, &it->headers[i].name)) != WIRE_OK)
            return iter_fail_read(it, why, "a header name is not a str within its limit", rc,
                                  WIRE_ERR_RECORD_TOO_LARGE);
        r->field = "header value";
        if ((rc = wire_read_bin(r, WIRE_HEADER_VALUE_BYTES_MAX, &it->headers[i].value)) != WIRE_OK)
            return iter_fail_read(it, why, "a header value is not a bin within its limit", rc,
                                  WIRE_ERR_RECORD_TOO_LARGE);
    }

    /* Elements a later format revision added: skipped, but they must be well formed. */
    r->field = "record extension";
    for (uint32_t i = RECORD_FIELDS_MIN; i < fields; i++)
        if ((rc = wire_skip(r)) != WIRE_OK)
            return iter_fail(it, why, "a record's extra element is malformed or nested too deeply",
                             WIRE_ERR_CORRUPT_BATCH);

    if ((size_t)(r->pos - record_start) > WIRE_RECORD_BYTES_MAX)
        return iter_fail(it, why, "a record exceeds the maximum record size", WIRE_ERR_RECORD_TOO_LARGE);

    uint64_t offset;
    if (__builtin_add_overflow(it->header.base_offset, offset_delta, &offset))
        return iter_fail(it, why, "a record's offset overflows", WIRE_ERR_CORRUPT_BATCH);

    if (timestamp > it->timestamp_max_seen)
        it->timestamp_max_seen = timestamp;
    it->index++;
    if (it->index == it->header.record_count) {
        r->field = "records";
        if (wire_reader_remaining(r) != 0)
            return iter_fail(it, why, "bytes follow the last record", WIRE_ERR_CORRUPT_BATCH);
        if (it->timestamp_max_seen != it->header.max_timestamp)
            return iter_fail(it, why, "max_timestamp is not the largest record timestamp",
                             WIRE_ERR_CORRUPT_BATCH);
    }

    rec->offset = offset;
    rec->timestamp = timestamp;
    rec->header_count = header_count;
    rec->headers = it->headers;
    return WIRE_OK;
}

int wire_batch_verify_records(const struct wire_batch_header *h, void *scratch,
                              size_t scratch_cap, const char **why)
{
    struct wire_record_iter it;
    struct wire_record rec;
    int rc = wire_record_iter_init(&it, h, scratch, scratch_cap, why);
    if (rc != WIRE_OK)
        return rc;
    while (wire_record_iter_has_next(&it))
        if ((rc = wire_record_iter_next(&it, &rec, why)) != WIRE_OK)
            return rc;
    return WIRE_OK;
}
