/* Every limit of partition storage in one place, with their relations checked at compile time. */
#ifndef RAFTMQ_STORAGE_LIMITS_H
#define RAFTMQ_STORAGE_LIMITS_H

#include <assert.h>

#include "wire/limits.h"

/*
 * One stored entry's payload (a record batch, a Raft configuration, a
 * no-op). A record batch is at most WIRE_BATCH_BYTES_MAX; the headroom is
 * for Raft configuration and metadata entries, which are small today.
 */
#define STORAGE_ENTRY_PAYLOAD_BYTES_MAX (2u * WIRE_MIB)

/* Bytes before the payload in every stored entry (see entry.h). */
#define STORAGE_ENTRY_HEADER_BYTES 48u
#define STORAGE_ENTRY_BYTES_MAX (STORAGE_ENTRY_HEADER_BYTES + STORAGE_ENTRY_PAYLOAD_BYTES_MAX)

/* Segment size: a new segment starts once the active one would exceed it. */
#define STORAGE_SEGMENT_BYTES_DEFAULT (128u * WIRE_MIB)
#define STORAGE_SEGMENT_BYTES_MIN (1u * WIRE_KIB) /* small values exist for tests */
#define STORAGE_SEGMENT_BYTES_MAX (1024u * WIRE_MIB)

/* One sparse-index entry per this many segment bytes (and one at byte 0). */
#define STORAGE_INDEX_INTERVAL_BYTES_DEFAULT (4u * WIRE_KIB)
#define STORAGE_INDEX_INTERVAL_BYTES_MIN 64u

/*
 * Appends of small entries collect in a per-log buffer and reach the file in
 * one write; an entry of at least STORAGE_WRITE_DIRECT_BYTES skips the
 * buffer (its payload goes from the caller's memory straight to the file).
 */
#define STORAGE_WRITE_BUFFER_BYTES (256u * WIRE_KIB)
#define STORAGE_WRITE_DIRECT_BYTES (STORAGE_WRITE_BUFFER_BYTES / 4u)

/*
 * Periodic checkpoints of the active segment (log.h): its .idx is rewritten
 * once the bytes known durable beyond what the last one covers reach
 * max(STORAGE_CHECKPOINT_BYTES_MIN, STORAGE_CHECKPOINT_IDX_FACTOR x the size
 * of the .idx to write). The factor bounds the cost: the index file written
 * is at most 1/8 of the new data (a 128 MiB segment's .idx is ~770 KiB at
 * the default interval, so it is rewritten every ~6 MiB near the end of the
 * segment); the minimum keeps small segments from rewriting on every sync.
 * A crash then leaves at most about that much (plus what was appended since
 * the last sync) for open to scan.
 */
#define STORAGE_CHECKPOINT_BYTES_MIN (256u * WIRE_KIB)
#define STORAGE_CHECKPOINT_IDX_FACTOR 8u

/* Opaque metadata saved with the hard state (snapshot metadata, configuration). */
#define STORAGE_HARDSTATE_META_BYTES_MAX (4u * WIRE_KIB)

/* Partition logs one syncer serves; bounds its request and completion queues. */
#define STORAGE_SYNCER_LOGS_MAX 65536u

/* How long a truncation, prefix drop, reset, retention pass, sync or close
 * waits for an fdatasync already running on the same log before it gives
 * up and fail-stops the partition (a hung disk must not hang the loop). */
#define STORAGE_SYNC_WAIT_MS 60000u

/* Paths inside a partition directory. */
#define STORAGE_PATH_BYTES_MAX 4096u

/* When recovery meets a bad entry in the last segment it looks for a valid
 * entry after it (a valid entry there means mid-log corruption, not a torn
 * tail); read the rest of the segment in chunks of this size. */
#define STORAGE_SCAN_CHUNK_BYTES (1u * WIRE_MIB)

static_assert(WIRE_BATCH_BYTES_MAX <= STORAGE_ENTRY_PAYLOAD_BYTES_MAX,
              "every record batch can be stored as one entry");
static_assert(STORAGE_ENTRY_BYTES_MAX <= STORAGE_SCAN_CHUNK_BYTES * 4u,
              "an entry spans a bounded number of scan chunks");
static_assert(STORAGE_SEGMENT_BYTES_MIN <= STORAGE_SEGMENT_BYTES_DEFAULT &&
                  STORAGE_SEGMENT_BYTES_DEFAULT <= STORAGE_SEGMENT_BYTES_MAX,
              "the default segment size is in range");
static_assert(STORAGE_SEGMENT_BYTES_MAX <= 0x7fffffffu,
              "segment positions fit a u32 and an off_t");
static_assert(STORAGE_INDEX_INTERVAL_BYTES_MIN <= STORAGE_INDEX_INTERVAL_BYTES_DEFAULT,
              "the default index interval is in range");
static_assert(STORAGE_WRITE_DIRECT_BYTES < STORAGE_WRITE_BUFFER_BYTES,
              "an entry below the direct-write size fits an empty write buffer");
static_assert(STORAGE_CHECKPOINT_BYTES_MIN <= STORAGE_SEGMENT_BYTES_DEFAULT / 8u,
              "a default segment gets several periodic checkpoints");
static_assert(STORAGE_CHECKPOINT_IDX_FACTOR * 24u * 8u <= STORAGE_INDEX_INTERVAL_BYTES_DEFAULT,
              "at the default interval the factor's threshold stays under 1/8 of the "
              "segment (24-byte index points), so a full segment is still checkpointed");
static_assert(STORAGE_HARDSTATE_META_BYTES_MAX <= 64u * WIRE_KIB, "hard state stays small");

#endif
