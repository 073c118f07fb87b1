/* A Raft log entry as partition storage keeps it, and its on-disk encoding (one self-checking frame per entry). */
#ifndef RAFTMQ_STORAGE_ENTRY_H
#define RAFTMQ_STORAGE_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

/*
 * An entry as the broker hands it to storage and gets it back. Storage does
 * not parse payloads: the message-offset range [first_offset, first_offset +
 * offset_count) comes from the caller (offset_count is 0 for entries that
 * carry no records, such as a Raft configuration or no-op; first_offset is
 * then the next offset to be assigned). Within one log, indexes are dense
 * and increasing, and first_offset never decreases.
 */
struct storage_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;
    uint64_t first_offset;
    uint32_t offset_count;
    const void *payload; /* owned by whoever filled the struct (see storage_log_read_*) */
    uint32_t payload_len;
};

/*
 * The stored frame (all integers big-endian; docs/protocol.md, "On-disk
 * format (partition storage)"):
 *
 *   [0]  u32 length: bytes after this 8-byte prefix (40 + payload_len)
 *   [4]  u32 CRC-32C of bytes [0, 4) followed by bytes [8, 8 + length)
 *   [8]  0x96                       msgpack array of 6
 *   [9]  0xcf u64 index
 *   [18] 0xcf u64 term
 *   [27] 0xcc u8  type
 *   [29] 0xcf u64 first_offset
 *   [38] 0xce u32 offset_count
 *   [43] 0xc6 u32 payload_len       msgpack bin 32
 *   [48] payload
 *
 * Fixed-width encodings put the payload at byte 48 of every frame, so a
 * reader finds it without decoding and the stored batch bytes can go to a
 * consumer as they are. The CRC covers the length too, so a flipped length
 * bit is caught like any other.
 */
#define STORAGE_ENTRY_PREFIX_BYTES 8u
#define STORAGE_ENTRY_BODY_FIXED_BYTES (STORAGE_ENTRY_HEADER_BYTES - STORAGE_ENTRY_PREFIX_BYTES)

static inline uint64_t storage_entry_frame_bytes(uint32_t payload_len)
{
    return (uint64_t)STORAGE_ENTRY_HEADER_BYTES + payload_len;
}

/* Writes the 48 header bytes of e's frame (the CRC covers e->payload too). */
void storage_entry_encode_header(const struct storage_entry *e,
                                 uint8_t header[STORAGE_ENTRY_HEADER_BYTES]);

enum storage_entry_decode_result {
    STORAGE_ENTRY_DECODED = 0,
    STORAGE_ENTRY_NEED_MORE = 1, /* *frame_bytes says how many bytes the frame needs */
    STORAGE_ENTRY_INVALID = -1,  /* *why says what is wrong */
};

/*
 * Decodes the frame at p[0..avail). On STORAGE_ENTRY_DECODED, *out's payload
 * points into p and *frame_bytes is the frame's length. A frame is invalid
 * when its length is out of range, its CRC does not match, or its msgpack
 * markers or payload length disagree with the layout above.
 */
int storage_entry_decode(const uint8_t *p, size_t avail, struct storage_entry *out,
                         size_t *frame_bytes, const char **why);

/*
 * Reads the header fields of a frame from its first 48 bytes without the
 * CRC (for walking frames this process wrote or already verified): 0, or -1
 * if the markers or lengths do not fit the layout. payload is set to NULL.
 */
int storage_entry_peek(const uint8_t header[STORAGE_ENTRY_HEADER_BYTES], struct storage_entry *out,
                       size_t *frame_bytes);

#endif
