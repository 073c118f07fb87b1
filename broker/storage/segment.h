/* One segment of a partition log: its file, what it holds, and its sparse index (internal to broker/storage). */
#ifndef RAFTMQ_STORAGE_SEGMENT_H
#define RAFTMQ_STORAGE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "file.h"

/*
 * One sparse-index point: the frame at byte `pos` holds entry `index`, whose
 * first_offset is `offset`. Both columns grow with pos, so one table answers
 * lookups by index and by offset.
 */
struct storage_index_entry {
    uint64_t index;
    uint64_t offset;
    uint64_t pos;
};

/*
 * Invariants: last_index + 1 - base_index entries; size >= flushed >=
 * synced; idx[0].pos == 0 when non-empty; idx sorted by pos, index and
 * offset. flushed and synced are shared with the syncer thread and change
 * only under the log's lock.
 */
struct storage_segment {
    uint64_t base_index;
    uint64_t last_index;   /* base_index - 1 when empty */
    uint64_t last_term;
    uint64_t first_offset; /* of the first entry; valid when non-empty */
    uint64_t end_offset;   /* first_offset + offset_count of the last entry */
    uint64_t last_pos;     /* frame position of the last entry */
    uint32_t last_crc;     /* CRC field of the last entry's frame */
    uint64_t size;         /* bytes appended, in the file or the write buffer */
    uint64_t flushed;      /* bytes in the file */
    uint64_t synced;       /* bytes known durable */
    int64_t mtime_ms;
    int fd;
    struct storage_index_entry *idx;
    size_t idx_count, idx_cap;
    uint64_t idx_next_pos; /* the next entry at or after this byte gets an index point */
    /* Owner thread only: bytes covered by the .idx this process last wrote
     * or loaded for this segment (0 if none), and the position of the last
     * periodic checkpoint attempt (log.c throttles on it). */
    uint64_t ckpt;
    uint64_t ckpt_at;
};

/* What an index file says about the prefix [0, covered) of a segment. */
struct storage_segment_summary {
    uint64_t covered;      /* end of the last covered frame */
    uint64_t last_index;
    uint64_t last_term;
    uint64_t end_offset;
    uint64_t last_pos;     /* position of the last covered frame */
    uint32_t last_crc;     /* its CRC field */
};

static inline int storage_segment_empty(const struct storage_segment *s)
{
    return s->last_index + 1 == s->base_index;
}

/* "<dir>/<20-digit base>.log" or ".idx". 0, or -1 if it does not fit. */
int storage_segment_path(char *out, size_t cap, const char *dir, uint64_t base, const char *ext);

/* Records an entry that starts at pos; adds an index point every interval bytes. 0 or -ENOMEM. */
int storage_segment_note(struct storage_segment *s, uint64_t index, uint64_t term,
                         uint64_t first_offset, uint32_t offset_count, uint64_t pos,
                         uint32_t crc, uint32_t interval);

/* Position of the last index point at or before entry `index` / offset `offset`. */
uint64_t storage_segment_seek_index(const struct storage_segment *s, uint64_t index);
uint64_t storage_segment_seek_offset(const struct storage_segment *s, uint64_t offset);

/* Forgets index points at or beyond pos (after a truncation). */
void storage_segment_forget_from(struct storage_segment *s, uint64_t pos);

/*
 * Reads the segment entry by entry from byte `from` to file_size, verifying
 * every frame, that indexes go base, base+1, ... and that offsets do not go
 * back (first_offset >= offset_floor for the first entry), and rebuilds its
 * summary and index. from is 0 (a full scan: the summary starts empty) or
 * the end of the prefix the summary already describes (a checkpoint loaded
 * with storage_segment_load_index; the scan continues it). Returns 0 if
 * [from, file_size) is valid; 1 if it stops at an invalid or unexpected
 * entry (*bad_pos, *why say where and why; the summary describes the valid
 * prefix); a negative errno on a read error.
 */
int storage_segment_scan(const struct storage_fs *fs, struct storage_segment *s, uint64_t from,
                         uint64_t file_size, uint64_t offset_floor, uint32_t interval,
                         uint64_t *bad_pos, const char **why);

/*
 * Looks for a valid frame at any byte after `from` (up to file_size) whose
 * index is above `min_index`: a torn tail has none, mid-log corruption has
 * one. Returns 1 (and its position in *found), 0, or a negative errno.
 */
int storage_segment_find_valid_after(const struct storage_fs *fs, int fd, uint64_t from,
                                     uint64_t file_size, uint64_t min_index, uint64_t *found);

/*
 * Writes the segment's index file (not synced: it can always be rebuilt):
 * its sparse index and a summary of bytes [0, s->size) (covered length,
 * last index, term, frame position and CRC, offsets), with a CRC over all
 * of it. Written for a sealed segment when it is sealed, and for the active
 * segment as a checkpoint at close (docs/protocol.md, "On-disk format").
 */
int storage_segment_write_index(const struct storage_fs *fs, const struct storage_segment *s,
                                const char *path);

/*
 * The same for a prefix only: the summary `sum` (the last frame ending at
 * sum->covered, which must be a frame boundary <= s->size) and the index
 * points at or before sum->last_pos. A periodic checkpoint of the active
 * segment, covering exactly its durable prefix (log.c). Not synced.
 */
int storage_segment_write_index_prefix(const struct storage_fs *fs,
                                       const struct storage_segment *s,
                                       const struct storage_segment_summary *sum,
                                       const char *path);

/* Bytes of the index file for a prefix holding `points` index points. */
uint64_t storage_segment_index_file_bytes(size_t points);

/*
 * Loads an index file written for this segment and checks it against the
 * segment file: its own CRC, then the last frame it describes, read whole
 * and CRC-checked, must be the frame at that position, ending exactly at
 * the covered length. With prefix 0 (a sealed segment) the covered length
 * must be file_size; with prefix 1 (the last segment) it may be less, and
 * the caller scans [*covered_out, file_size). 0 if it is usable (the
 * summary and index describe [0, covered)), 1 if it is missing or does not
 * match (then scan from 0), a negative errno on a read error.
 */
int storage_segment_load_index(const struct storage_fs *fs, struct storage_segment *s,
                               const char *path, uint64_t file_size, int prefix,
                               uint64_t *covered_out);

#endif
