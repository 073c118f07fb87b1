/* The partition log: segmented, checksummed, indexed Raft entries for one Raft group, with group-committed syncs. */
#ifndef RAFTMQ_STORAGE_LOG_H
#define RAFTMQ_STORAGE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "errors.h"
#include "file.h"
#include "hardstate.h"

/*
 * A partition directory holds:
 *
 *   <20-digit base index>.log   segment: entry frames (entry.h), the first
 *                               with index = base index
 *   <20-digit base index>.idx   sparse index and summary of a segment
 *                               (written when the segment is sealed, and for
 *                               the active segment as a checkpoint: at close,
 *                               and periodically while it grows; rebuilt by
 *                               a scan when missing or damaged)
 *   hardstate                   term, vote, commit index, metadata
 *
 * Threads: one thread owns a log (the broker's event loop) and makes every
 * call below; the only other thread that touches it is the syncer's
 * (syncer.h), which runs fdatasync on it. A call that needs the syncer to be
 * idle on this log (truncation, prefix drop, close) waits for the fdatasync
 * in flight, if any, at most sync_wait_ms (see storage_log_close).
 *
 * Checkpoints: the active segment's .idx describes a prefix [0, covered)
 * of it, so that open scans only the bytes after it. It is written at
 * close, and periodically: when storage_log_sync or
 * storage_log_request_sync (and, with fsync=never, storage_log_append) is
 * called and the bytes durable beyond the last checkpoint have reached the
 * threshold (storage_log_options.checkpoint_bytes). It covers exactly the
 * durable prefix (the last whole frame at or before it): with fsync=always
 * what a completed fdatasync covered, never more; with fsync=never what is
 * in the files (as the close checkpoint always has: after a power loss it
 * may cover bytes the disk lost, which the checks at open catch and answer
 * with a full scan). It is written on the owner thread inside those calls
 * (one index file, not synced), never by the syncer. The broker needs no
 * extra call: an idle log keeps its last checkpoint until its next sync
 * request or close, so a crash leaves at most about a threshold plus the
 * bytes appended since the last completed sync to scan.
 *
 * Durability: an append is buffered (in the log's write buffer, then in the
 * page cache). Nothing is durable until a sync has completed, and
 * storage_log_durable_index() is the only statement of what is. The broker
 * acknowledges nothing (a vote, an AppendEntries success, a producer) on an
 * index above it (persist before reply: STYLE.md (a), step 1).
 *
 * Failure: the first failed write or fdatasync puts the log in a failed
 * state: the error is returned to the caller, a line naming the file goes to
 * the log's message sink, every later append, sync, truncation and read
 * returns STORAGE_ERR_FAILED, and the durable index never advances again.
 * fdatasync is never retried: after a failure the kernel may have dropped
 * the dirty pages, and a retry could report success for data that is gone
 * ("fsyncgate", 2018). Recovery is to close and reopen the log, which
 * re-reads what is on disk.
 */

enum storage_fsync_policy {
    /* Default: durable means fdatasync returned (group commit via the syncer). */
    STORAGE_FSYNC_ALWAYS = 0,
    /*
     * Never wait for fdatasync: a sync completes as soon as the data is in
     * the page cache. A process crash loses nothing written; a power loss or
     * kernel crash loses whatever had not reached the disk, possibly leaving
     * older segments short or a hole before the tail, in which case
     * recovery refuses to start and the replica must be restored from its
     * peers. With a syncer, storage_log_request_sync also queues a
     * background fdatasync that nobody waits for (so dirty pages stay few
     * and the owner's writes are not throttled by the kernel; the loss
     * window is then about one fdatasync, not the kernel's 30 s writeback
     * delay); the blocking storage_log_sync makes none. Hard state is
     * still saved with fsync.
     */
    STORAGE_FSYNC_NEVER = 1,
};

struct storage_syncer;

struct storage_log_options {
    const struct storage_fs *fs;            /* NULL: storage_fs_posix */
    enum storage_fsync_policy fsync_policy; /* default ALWAYS */
    uint64_t segment_bytes;          /* 0: STORAGE_SEGMENT_BYTES_DEFAULT */
    uint32_t index_interval_bytes;   /* 0: STORAGE_INDEX_INTERVAL_BYTES_DEFAULT */
    /*
     * Periodic checkpoints: the active segment's .idx is rewritten once this
     * many bytes beyond its last checkpoint are durable. 0: the default,
     * max(STORAGE_CHECKPOINT_BYTES_MIN, STORAGE_CHECKPOINT_IDX_FACTOR x the
     * .idx's size) (limits.h); a small value is for tests.
     */
    uint64_t checkpoint_bytes;
    uint64_t first_index;            /* index of the first entry of a new log; 0 means 1 */
    /*
     * Syncer that serves storage_log_request_sync, or NULL (then only the
     * blocking storage_log_sync is available).
     */
    struct storage_syncer *syncer;
    void *user_data;                 /* returned in completions */
    uint32_t sync_wait_ms;           /* 0: STORAGE_SYNC_WAIT_MS; see storage_log_close */
    /*
     * Where messages go (recovery repairs, fail-stop lines); NULL: stderr.
     * Called on the owner thread, or the syncer thread for fsync failures,
     * sometimes with the log's lock held: it must not call into the log.
     */
    void (*message)(void *user_data, const char *line);
};

/* What recovery found (filled by storage_log_open). */
struct storage_log_recovery {
    uint64_t segments;
    uint64_t segments_scanned;      /* segments read entry by entry from byte 0 */
    uint64_t torn_bytes_truncated;  /* bytes cut from the tail */
    uint64_t empty_segments_removed;
    /* The last segment was resumed from its checkpoint (1) or scanned whole (0). */
    uint64_t checkpoint_used;
    /* Bytes read entry by entry with every CRC verified: full scans plus the tail after a checkpoint. */
    uint64_t bytes_scanned;
};

struct storage_log;

/*
 * Opens (creating if needed) the partition directory `dir` and recovers it.
 *
 * What is read and verified at open:
 *   - a sealed segment with a usable index file: the index file's CRC, and
 *     its last frame (read whole, CRC checked, ending exactly at the file's
 *     size, index/term/offsets as the index says). Without one: every frame.
 *   - the last segment with a usable checkpoint (its .idx, written at clean
 *     close or periodically (see "Checkpoints"), covering bytes
 *     [0, covered) with covered <= the file's size):
 *     the checkpoint's CRC and the last covered frame as above; then every
 *     frame of [covered, file size), each CRC checked. Without a usable
 *     checkpoint (missing, damaged, covering more than the file holds, or
 *     its last frame not matching, as after a power loss or a truncation):
 *     every frame from byte 0.
 * What is NOT verified at open: the frames before the last one of a
 * sealed segment's index or of a checkpoint. They were verified (or
 * written) by an earlier process, and damage to them since then is found
 * when they are read: every read checks each frame's CRC and returns
 * STORAGE_ERR_CORRUPT naming the file and byte (consumers also check batch
 * CRCs). This is Kafka's recovery point: open time is proportional to what
 * was written after the last checkpoint (the last clean close, or the last
 * periodic checkpoint before a crash), not to the log's size.
 *
 * In the scanned region a torn tail (an invalid entry with no valid entry
 * after it) is cut off at the last whole entry, and empty trailing segments
 * are removed. Corruption anywhere else that open reads (an invalid entry
 * followed by a valid one, a gap in the indexes, an entry whose index is
 * not the next one, a sealed segment that does not scan) is
 * STORAGE_ERR_CORRUPT with a message naming the file and byte offset
 * (written to errmsg), as is a log that with fsync=always ends below the
 * commit index in the hard state: committed data is never dropped
 * silently. On error *out is NULL and no file was changed except a torn
 * tail. *recovery reports what was done, including the bytes scanned.
 *
 * With fsync=always a reopened log reports durable_index = first_index - 1
 * until its first sync (storage_log_request_sync or storage_log_sync):
 * what a previous process wrote may still be in the page cache only, and
 * that sync covers every segment and the directory. With fsync=never
 * everything found is durable at once.
 *
 * An empty log (new, or reset and reopened before any append) starts its
 * offsets at 0: after storage_log_reset the broker must keep next_offset in
 * its snapshot metadata (hard state meta) and reset again on start-up if
 * the log is still empty.
 */
int storage_log_open(const char *dir, const struct storage_log_options *opts,
                     struct storage_log **out, struct storage_log_recovery *recovery,
                     char *errmsg, size_t errmsg_cap);

/*
 * Flushes, syncs (unless failed or fsync=never), writes the active
 * segment's checkpoint (its .idx, so that the next open scans only what is
 * appended after this point; not synced, and skipped on a failed log) and
 * frees. Returns the first error; the log is freed in every case but one:
 * if an fdatasync of this log on the syncer thread has not returned after
 * STORAGE_SYNC_WAIT_MS (a hung disk), close returns STORAGE_ERR_BUSY and
 * leaves the log allocated, since that thread still uses it (and will
 * still post a completion for it, with its user_data): call close again
 * later, and keep user_data valid until a close returns anything else.
 * Truncation, prefix drops, reset, retention and sync wait the same bound
 * for a running fdatasync and fail-stop the partition when it passes.
 */
int storage_log_close(struct storage_log *log);

/* ---- appending and syncing ------------------------------------------------------ */

/*
 * Appends n entries (buffered, not durable). entries[0].index must be
 * last_index + 1, indexes dense, first_offset >= the previous entry's
 * first_offset + offset_count, payload_len <= STORAGE_ENTRY_PAYLOAD_BYTES_MAX.
 * Payloads are copied or written before the call returns. On an argument
 * error (STORAGE_ERR_INVALID, TOO_LARGE) nothing is appended; on an I/O
 * error the log has failed (see above). Starts a new segment when the
 * active one would exceed segment_bytes.
 */
int storage_log_append(struct storage_log *log, const struct storage_entry *entries, size_t n);

/*
 * Asks the syncer to make everything appended so far durable; returns at
 * once. Many requests while an fdatasync runs share the next one (group
 * commit). The result arrives as a completion (storage_syncer_poll). With
 * fsync=never the completion is posted at once. Requires a syncer.
 */
int storage_log_request_sync(struct storage_log *log);

/* Flushes and syncs now, on the calling thread (no syncer needed). */
int storage_log_sync(struct storage_log *log);

/* Highest index known durable (0 when none). Never above last_index. */
uint64_t storage_log_durable_index(struct storage_log *log);

/* 0 while healthy, otherwise the error that failed the log. */
int storage_log_failed(struct storage_log *log);

/* ---- reading --------------------------------------------------------------------- */

/*
 * A read: the caller provides buf (where the stored frames are read, one
 * pread per segment run) and entries (views into buf). After a read,
 * entries[0..count) have payloads pointing into buf: a consumer fetch can
 * pass payload/payload_len to its frame writer as they are (the stored
 * batch bytes, never re-encoded). bytes is the number of frame bytes read.
 */
struct storage_read {
    uint8_t *buf;
    size_t buf_cap;
    struct storage_entry *entries;
    size_t entries_cap;
    size_t count;    /* out */
    size_t bytes;    /* out */
};

/*
 * Entries with index in [first, last], at most bytes_max frame bytes, but
 * always the first one if it fits buf (so a reader makes progress).
 * STORAGE_ERR_RANGE if first is not in [first_index, last_index];
 * STORAGE_ERR_FULL if the first entry does not fit buf.
 */
int storage_log_read_index(struct storage_log *log, uint64_t first, uint64_t last,
                           size_t bytes_max, struct storage_read *rd);

/*
 * Entries from the one holding message offset `offset` on (entries without
 * records that lie in the range come along), within bytes_max as above.
 * STORAGE_ERR_RANGE if offset is below the first stored entry's
 * first_offset or at or beyond next_offset. O(log segments + log index
 * entries) plus a scan of at most index_interval_bytes.
 */
int storage_log_read_offset(struct storage_log *log, uint64_t offset, size_t bytes_max,
                            struct storage_read *rd);

/* First and last index (last = first - 1 when empty), term of the last entry, next offset. */
uint64_t storage_log_first_index(struct storage_log *log);
uint64_t storage_log_last_index(struct storage_log *log);
uint64_t storage_log_last_term(struct storage_log *log);
uint64_t storage_log_next_offset(struct storage_log *log);
/* Offset of the first stored record (next_offset when the log holds none). */
uint64_t storage_log_first_offset(struct storage_log *log);
/* Term of entry `index` (reads it unless it is the last), 0 in *term if absent. */
int storage_log_term(struct storage_log *log, uint64_t index, uint64_t *term);

/* ---- removing entries ----------------------------------------------------------- */

/*
 * Removes every entry after `index` (a Raft log conflict; index may be
 * first_index - 1 to empty the log). The durable index drops to at most
 * `index`; the cut becomes durable with the next sync. next_offset becomes
 * the end of entry `index`'s offsets.
 */
int storage_log_truncate_suffix(struct storage_log *log, uint64_t index);

/*
 * Deletes whole segments all of whose entries are below `index` (retention
 * or a snapshot that covers them); the active segment is never deleted.
 * The caller guarantees the entries are committed and that the Raft core
 * knows they are gone (it serves InstallSnapshot for them).
 */
int storage_log_drop_prefix(struct storage_log *log, uint64_t index);

/*
 * Discards the whole log and starts it empty at `next_index` with offsets
 * from `next_offset` (after installing a snapshot that covers everything).
 */
int storage_log_reset(struct storage_log *log, uint64_t next_index, uint64_t next_offset);

/* ---- retention ------------------------------------------------------------------ */

struct storage_retention {
    int64_t age_ms_max;      /* delete sealed segments last written longer ago; <= 0: off */
    uint64_t bytes_max;      /* delete oldest sealed segments while the log is larger; 0: off */
};

/*
 * Applies retention at time now_ms (ms since the epoch): deletes sealed
 * segments, oldest first, that are over the age or size limit and whose
 * entries are all <= index_max. index_max is min(commit index, the index up
 * to which the Raft core has been told entries may go); segments above it
 * stay whatever their age or size. *dropped_below (optional) receives the
 * new first index. Stops at the first segment it must keep.
 */
int storage_log_apply_retention(struct storage_log *log, const struct storage_retention *policy,
                                int64_t now_ms, uint64_t index_max, uint64_t *first_index_out);

/* ---- hard state ----------------------------------------------------------------- */

/* Saves / loads the partition's hard state (hardstate.h), blocking. */
int storage_log_save_hardstate(struct storage_log *log, const struct storage_hardstate *hs);
int storage_log_load_hardstate(struct storage_log *log, struct storage_hardstate *hs);

/*
 * Asks the syncer to save `hs` (copied) and returns at once, so the event
 * loop never waits for the two syncs a save takes. The syncer saves it after
 * syncing the entries appended so far, so a commit index in it that is
 * durable here when requested stays so. A request that arrives before the
 * syncer took the previous one replaces it (the newest state wins).
 * *version (optional) receives the request's number; every request up to
 * storage_log_hardstate_saved() is durable (completions report it too). A
 * failed save fail-stops the log like a failed fdatasync. Requires a
 * syncer. Never mix with a concurrent storage_log_save_hardstate from
 * another thread than the owner (the two are serialised, not ordered).
 */
int storage_log_request_hardstate(struct storage_log *log, const struct storage_hardstate *hs,
                                  uint64_t *version);
uint64_t storage_log_hardstate_saved(struct storage_log *log);

/* ---- introspection -------------------------------------------------------------- */

/* The last error's sentence (file, offset, errno), "" if none. Owner thread. */
const char *storage_log_errmsg(struct storage_log *log);
/* Number of segment files, and total bytes of all segments. */
size_t storage_log_segment_count(struct storage_log *log);
uint64_t storage_log_bytes(struct storage_log *log);
/* fdatasync calls this log has made (group-commit effectiveness). */
uint64_t storage_log_fsync_count(struct storage_log *log);
void *storage_log_user_data(struct storage_log *log);

#endif
