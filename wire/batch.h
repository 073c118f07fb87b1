/* Record batches: the unit produced, replicated, stored and fetched, built and checked without re-encoding. */
#ifndef RAFTMQ_WIRE_BATCH_H
#define RAFTMQ_WIRE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "limits.h"
#include "mp.h"

/*
 * A batch is one msgpack array of 12 elements whose header elements use
 * fixed-width encodings, so every header field sits at a fixed byte offset
 * (docs/protocol.md, "Record batch"):
 *
 *   off  bytes  msgpack         field
 *     0      1  0x9c            fixarray(12)
 *     1      1  0x01            batch format version (positive fixint)
 *     2      9  0xcf + u64      base_offset      (stamped by the leader; not in the CRC)
 *    11      5  0xce + u32      crc              CRC-32C of bytes [16, end)
 *    16      2  0xcc + u8       codec            0 none, 1 lz4 (block format)
 *    18      5  0xce + u32      record_count     >= 1
 *    23      9  0xd3 + i64      first_timestamp  ms, the first record's timestamp
 *    32      9  0xd3 + i64      max_timestamp    ms, the largest record timestamp
 *    41      9  0xd3 + i64      producer_id      -1 if not idempotent
 *    50      3  0xd1 + i16      producer_epoch   -1 if not idempotent
 *    53      5  0xd2 + i32      base_sequence    -1 if not idempotent
 *    58      5  0xce + u32      records_bytes    size of the records uncompressed
 *    63      5  0xc6 + u32      records          bin32: the records, LZ4-compressed if codec = 1
 *    68                         (records bytes follow; the batch ends with them)
 *
 * The records are `record_count` msgpack arrays back to back, each
 *   [offset_delta, timestamp_delta, key, value, headers]
 * with offset_delta = 0, 1, 2, ... (uint), timestamp_delta = timestamp -
 * first_timestamp (int), key a bin or nil, value a bin, headers a map of
 * str -> bin (order kept, duplicates allowed). A record array may carry
 * more elements (later revisions); readers skip them.
 *
 * So the broker validates a batch (markers, sizes, codec, count, CRC) and
 * stamps its base offset without decoding or re-encoding a record, and the
 * CRC stays valid after stamping.
 */

#define WIRE_BATCH_HEADER_BYTES 68u
#define WIRE_BATCH_CRC_START 16u

static_assert(WIRE_RECORD_BYTES_MAX + WIRE_BATCH_HEADER_BYTES <= WIRE_BATCH_BYTES_MAX,
              "a record within its limit always fits one uncompressed batch");

enum wire_codec {
    WIRE_CODEC_NONE = 0,
    WIRE_CODEC_LZ4 = 1,
};

/* The decoded header of a batch; `records` points into the batch. */
struct wire_batch_header {
    uint64_t base_offset;
    uint32_t crc;
    uint8_t codec; /* enum wire_codec */
    uint32_t record_count;
    int64_t first_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    uint32_t records_bytes; /* uncompressed */
    struct wire_bytes records; /* as stored: compressed if codec is LZ4 */
};

struct wire_header {
    struct wire_bytes name;  /* str, at most WIRE_HEADER_NAME_BYTES_MAX */
    struct wire_bytes value; /* bin, at most WIRE_HEADER_VALUE_BYTES_MAX */
};

/* A record to add to a batch, or one read back from a batch. */
struct wire_record {
    uint64_t offset;   /* read back: base_offset + offset_delta; ignored when adding */
    int64_t timestamp; /* ms since the epoch */
    bool has_key;      /* false: the key is nil (not the same as an empty key) */
    struct wire_bytes key;
    struct wire_bytes value;
    uint32_t header_count;
    const struct wire_header *headers;
};

/*
 * Checks a whole batch as the broker receives it: size within
 * WIRE_BATCH_BYTES_MAX, every header marker and value, that the records bin
 * ends exactly where the batch ends, record_count and records_bytes within
 * their limits, a known codec, and the CRC. Does not look inside the
 * records. On success fills *h (if not NULL).
 *
 * Errors: BATCH_TOO_LARGE (the batch, or records_bytes over
 * WIRE_BATCH_RECORDS_BYTES_MAX), UNSUPPORTED_VERSION, UNSUPPORTED_CODEC,
 * CORRUPT_BATCH (anything else, CRC mismatch included). *why, if not NULL,
 * is set to a static sentence saying what failed.
 */
int wire_batch_validate(const void *batch, size_t len, struct wire_batch_header *h,
                        const char **why);

/* The same checks without the CRC (for callers that verified it already). */
int wire_batch_parse_header(const void *batch, size_t len, struct wire_batch_header *h,
                            const char **why);

/* Overwrites the base offset in place; the CRC does not cover it. */
void wire_batch_stamp_base_offset(void *batch, uint64_t base_offset);

/* ---- building ------------------------------------------------------------ */

/*
 * Builds one batch in caller-owned memory. Records are encoded straight into
 * buf + WIRE_BATCH_HEADER_BYTES; finish writes the header. With LZ4 the
 * records are compressed into a second caller buffer on finish; when that
 * does not make the batch smaller the batch is stored uncompressed.
 */
struct wire_batch_builder {
    uint8_t *buf; /* caller-owned */
    size_t cap;
    struct wire_writer records; /* private */
    /* The batch so far: codec as requested, count, timestamps, producer
     * fields. finish fills in the sizes and the codec actually used. */
    struct wire_batch_header header;
};

/*
 * cap is clamped to WIRE_BATCH_HEADER_BYTES + WIRE_BATCH_RECORDS_BYTES_MAX,
 * and to WIRE_BATCH_BYTES_MAX for WIRE_CODEC_NONE (uncompressed records
 * cannot shrink, so more could never be finished). The builder points into
 * itself (the writer's packer): do not copy or move it after init.
 */
void wire_batch_builder_init(struct wire_batch_builder *b, void *buf, size_t cap,
                             enum wire_codec codec);
void wire_batch_builder_set_producer(struct wire_batch_builder *b, int64_t producer_id,
                                     int16_t producer_epoch, int32_t base_sequence);

/*
 * Appends one record. Errors (the builder is unchanged by a failed add):
 * BUFFER_FULL (finish this batch and start another), RECORD_TOO_LARGE (the
 * record alone exceeds WIRE_RECORD_BYTES_MAX, or its key or a header exceeds
 * its limit), LIMIT_EXCEEDED (WIRE_BATCH_RECORDS_MAX records, or more than
 * WIRE_HEADERS_MAX headers), BAD_VALUE (the record's timestamp minus the
 * first record's does not fit in an int64).
 */
int wire_batch_builder_add(struct wire_batch_builder *b, const struct wire_record *rec);

static inline uint32_t wire_batch_builder_count(const struct wire_batch_builder *b)
{
    return b->header.record_count;
}

/*
 * Writes the header (base offset 0) and returns the finished batch in *out.
 * For LZ4, lz4_buf must hold WIRE_BATCH_HEADER_BYTES +
 * LZ4_compressBound(records) bytes (wire_batch_lz4_buf_bytes); the batch may
 * then live in lz4_buf. Errors: INVALID_REQUEST (no records), BATCH_TOO_LARGE
 * (over WIRE_BATCH_BYTES_MAX after compression), BUFFER_FULL (lz4_buf too small).
 */
int wire_batch_builder_finish(struct wire_batch_builder *b, void *lz4_buf, size_t lz4_cap,
                              struct wire_bytes *out);

/* Size of an LZ4 output buffer that always suffices for records of `records_bytes`. */
size_t wire_batch_lz4_buf_bytes(size_t records_bytes);

/* ---- reading ------------------------------------------------------------- */

/*
 * Iterates the records of a batch whose header was validated. For LZ4 the
 * records are first decompressed (bounds-checked, LZ4_decompress_safe) into
 * scratch, which must hold h->records_bytes (WIRE_BATCH_RECORDS_BYTES_MAX
 * always does). Keys, values and headers point into the batch or scratch.
 */
struct wire_record_iter {
    struct wire_batch_header header;
    struct wire_reader reader; /* private */
    uint32_t index;            /* next record's offset delta */
    int64_t timestamp_max_seen;
    struct wire_header headers[WIRE_HEADERS_MAX]; /* the current record's headers */
};

/*
 * Errors: CORRUPT_BATCH (decompression failed or gave the wrong size),
 * BUFFER_FULL (scratch too small), and for a header that did not come from
 * wire_batch_validate the header checks' UNSUPPORTED_CODEC and BATCH_TOO_LARGE.
 */
int wire_record_iter_init(struct wire_record_iter *it, const struct wire_batch_header *h,
                          void *scratch, size_t scratch_cap, const char **why);

static inline bool wire_record_iter_has_next(const struct wire_record_iter *it)
{
    return it->index < it->header.record_count;
}

/*
 * Decodes the next record into *rec (valid until the next call). Checks the
 * offset delta, every limit, and after the last record that no bytes remain
 * and that max_timestamp is the largest timestamp. Errors: CORRUPT_BATCH,
 * RECORD_TOO_LARGE, LIMIT_EXCEEDED.
 */
int wire_record_iter_next(struct wire_record_iter *it, struct wire_record *rec, const char **why);

/* Validates every record of a batch (header already validated): the deep check. */
int wire_batch_verify_records(const struct wire_batch_header *h, void *scratch,
                              size_t scratch_cap, const char **why);

#endif
