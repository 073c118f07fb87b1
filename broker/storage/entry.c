/* Encoding and checking of stored entry frames (layout in entry.h). */
#include "entry.h"

#include <assert.h>
#include <string.h>

#include "wire/byteorder.h"
#include "wire/crc32c.h"

/*
 * Fixed-width big-endian loads for the read path (one bswap each, where
 * wire_load_be's byte loop costs a fifth of a 100-byte entry's decode).
 */
static inline uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return v;
#else
    return __builtin_bswap64(v);
#endif
}

static inline uint32_t be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return v;
#else
    return __builtin_bswap32(v);
#endif
}

static uint32_t frame_crc(const uint8_t *prefix, const uint8_t *body_fixed, const void *payload,
                          uint32_t payload_len)
{
    uint32_t crc = wire_crc32c(0, prefix, 4);
    crc = wire_crc32c(crc, body_fixed, STORAGE_ENTRY_BODY_FIXED_BYTES);
    return wire_crc32c(crc, payload, payload_len);
}

void storage_entry_encode_header(const struct storage_entry *e,
                                 uint8_t header[STORAGE_ENTRY_HEADER_BYTES])
{
    assert(e->payload_len <= STORAGE_ENTRY_PAYLOAD_BYTES_MAX);
    assert(e->payload != NULL || e->payload_len == 0);
    uint8_t *h = header;
    wire_store_be(h + 0, STORAGE_ENTRY_BODY_FIXED_BYTES + (uint64_t)e->payload_len, 4);
    h[8] = 0x96;
    h[9] = 0xcf;
    wire_store_be(h + 10, e->index, 8);
    h[18] = 0xcf;
    wire_store_be(h + 19, e->term, 8);
    h[27] = 0xcc;
    h[28] = e->type;
    h[29] = 0xcf;
    wire_store_be(h + 30, e->first_offset, 8);
    h[38] = 0xce;
    wire_store_be(h + 39, e->offset_count, 4);
    h[43] = 0xc6;
    wire_store_be(h + 44, e->payload_len, 4);
    wire_store_be(h + 4, frame_crc(h, h + 8, e->payload, e->payload_len), 4);
}

int storage_entry_decode(const uint8_t *p, size_t avail, struct storage_entry *out,
                         size_t *frame_bytes, const char **why)
{
    if (avail < STORAGE_ENTRY_PREFIX_BYTES) {
        *frame_bytes = STORAGE_ENTRY_PREFIX_BYTES;
        return STORAGE_ENTRY_NEED_MORE;
    }
    uint64_t length = be32(p);
    if (length < STORAGE_ENTRY_BODY_FIXED_BYTES ||
        length > STORAGE_ENTRY_BODY_FIXED_BYTES + (uint64_t)STORAGE_ENTRY_PAYLOAD_BYTES_MAX) {
        *why = "length out of range";
        return STORAGE_ENTRY_INVALID;
    }
    *frame_bytes = (size_t)length + STORAGE_ENTRY_PREFIX_BYTES;
    if (avail < *frame_bytes)
        return STORAGE_ENTRY_NEED_MORE;
    /* Markers first: they reject most garbage without a CRC over 2 MiB. */
    struct storage_entry e;
    size_t frame;
    if (storage_entry_peek(p, &e, &frame) != 0) {
        *why = "msgpack markers or payload length do not fit the layout";
        return STORAGE_ENTRY_INVALID;
    }
    e.payload = p + STORAGE_ENTRY_HEADER_BYTES;
    /* Bytes [8, end) are contiguous here: two CRC calls, not three. */
    uint32_t crc = wire_crc32c(wire_crc32c(0, p, 4), p + 8, (size_t)length);
    if (be32(p + 4) != crc) {
        *why = "CRC-32C mismatch";
        return STORAGE_ENTRY_INVALID;
    }
    *out = e;
    return STORAGE_ENTRY_DECODED;
}

int storage_entry_peek(const uint8_t header[STORAGE_ENTRY_HEADER_BYTES], struct storage_entry *out,
                       size_t *frame_bytes)
{
    const uint8_t *p = header;
    uint64_t length = be32(p);
    if (length < STORAGE_ENTRY_BODY_FIXED_BYTES ||
        length > STORAGE_ENTRY_BODY_FIXED_BYTES + (uint64_t)STORAGE_ENTRY_PAYLOAD_BYTES_MAX ||
        p[8] != 0x96 || p[9] != 0xcf || p[18] != 0xcf || p[27] != 0xcc || p[29] != 0xcf ||
        p[38] != 0xce || p[43] != 0xc6 ||
        be32(p + 44) != length - STORAGE_ENTRY_BODY_FIXED_BYTES)
        return -1;
    out->index = be64(p + 10);
    out->term = be64(p + 19);
    out->type = p[28];
    out->first_offset = be64(p + 30);
    out->offset_count = be32(p + 39);
    out->payload = NULL;
    out->payload_len = (uint32_t)(length - STORAGE_ENTRY_BODY_FIXED_BYTES);
    *frame_bytes = (size_t)length + STORAGE_ENTRY_PREFIX_BYTES;
    return 0;
}
