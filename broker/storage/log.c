/* The partition log: recovery, buffered appends, syncs, reads, truncation and retention (API in log.h). */
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "segment.h"
#include "syncer.h"
#include "wire/byteorder.h"

/* fdatasyncs of one sync round at most; more unsynced segments take more rounds. */
#define SYNC_SEGMENTS_MAX 16

struct storage_log {
    /* Set at open, read-only after. */
    const struct storage_fs *fs;
    char dir[STORAGE_PATH_BYTES_MAX];
    struct storage_log_options opts;

    /*
     * Guards segs/nsegs (the array; the owner thread is the only writer),
     * each segment's flushed and synced, and the fields below it. The owner
     * holds it across truncation, prefix drops and close, after waiting for
     * `syncing` to drop, so the syncer never sees a segment go away.
     */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    struct storage_segment **segs; /* segs[nsegs - 1] is the active segment */
    size_t nsegs, segs_cap;
    uint64_t flushed_index; /* every entry <= this is in the files */
    uint64_t durable_index; /* every entry <= this is durable; <= flushed_index */
    uint64_t fsyncs;
    int failed;    /* 0, or the error that failed the log */
    int dir_dirty; /* a segment was created or removed since the last directory fsync */
    int syncing;   /* an fdatasync round runs without the lock */

    /* Owner thread only. */
    uint8_t *wbuf; /* frames not yet written, which belong at the active segment's `flushed` */
    size_t wbuf_len;
    uint64_t wbuf_last_index;
    uint64_t next_offset;
    char errmsg[512];

    struct storage__sync_link link; /* the syncer's, under its lock */

    /* Hard state saves. hs_lock serialises the saves themselves (the owner
     * thread's blocking ones and the syncer's), which share hardstate.tmp;
     * the request fields below are guarded by `lock`. */
    pthread_mutex_t hs_lock;
    int hs_pending;              /* a request waits for the syncer */
    struct storage_hardstate hs_next;
    uint64_t hs_next_version;
    uint64_t hs_requested_version; /* the last version handed out */
    uint64_t hs_saved_version;     /* every request <= this is durable */
};

/* ---- messages and failure ---------------------------------------------------------- */

static void say(struct storage_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct storage_log *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->errmsg, sizeof(log->errmsg), fmt, ap);
    va_end(ap);
    if (log->opts.message != NULL)
        log->opts.message(log->opts.user_data, log->errmsg);
    else
        fprintf(stderr, "raftmq storage: %s\n", log->errmsg);
}

static int code_of(int neg_errno)
{
    if (neg_errno == -ENOSPC)
        return STORAGE_ERR_NOSPC;
    if (neg_errno == -ENOMEM)
        return STORAGE_ERR_NOMEM;
    return STORAGE_ERR_IO;
}

/*
 * Fail-stop (log.h, "Failure"). The lock must be held. Returns the code for
 * the call that failed; every later call gets STORAGE_ERR_FAILED.
 */
static int fail_locked(struct storage_log *log, int neg_errno, const char *what, uint64_t base,
                       uint64_t pos)
{
    int code = code_of(neg_errno);
    if (log->failed == 0) {
        log->failed = code;
        say(log,
            "partition %s: %s failed on segment %020" PRIu64 ".log at byte %" PRIu64
            ": %s; partition storage stopped, nothing after index %" PRIu64
            " will be acknowledged (reopen to recover)",
            log->dir, what, base, pos, strerror(-neg_errno), log->durable_index);
    }
    return code;
}

static int fail(struct storage_log *log, int neg_errno, const char *what, uint64_t base,
                uint64_t pos)
{
    pthread_mutex_lock(&log->lock);
    int code = fail_locked(log, neg_errno, what, base, pos);
    pthread_mutex_unlock(&log->lock);
    return code;
}

static int failed_code(struct storage_log *log)
{
    pthread_mutex_lock(&log->lock);
    int f = log->failed;
    pthread_mutex_unlock(&log->lock);
    return f ? STORAGE_ERR_FAILED : 0;
}

static struct storage_segment *active(struct storage_log *log)
{
    return log->segs[log->nsegs - 1];
}

static int seg_path(struct storage_log *log, uint64_t base, const char *ext, char *out)
{
    return storage_segment_path(out, STORAGE_PATH_BYTES_MAX, log->dir, base, ext);
}

/* ---- segments: create, free, remove ------------------------------------------------ */

/* Makes room for one more element in a growing array: 0 or -ENOMEM. */
static int grow(void **array, size_t count, size_t *cap, size_t elem_size)
{
    if (count < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 8;
    void *p = realloc(*array, n * elem_size);
    if (p == NULL)
        return -ENOMEM;
    *array = p;
    *cap = n;
    return 0;
}

static int segs_push(struct storage_log *log, struct storage_segment *s)
{
    int rc = grow((void **)&log->segs, log->nsegs, &log->segs_cap, sizeof(log->segs[0]));
    if (rc == 0)
        log->segs[log->nsegs++] = s;
    return rc;
}

static void seg_free(struct storage_log *log, struct storage_segment *s)
{
    if (s->fd >= 0)
        log->fs->close(log->fs->ctx, s->fd);
    free(s->idx);
    free(s);
}

static struct storage_segment *seg_new(uint64_t base, uint64_t offset)
{
    struct storage_segment *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->base_index = base;
    s->last_index = base - 1;
    s->first_offset = s->end_offset = offset;
    s->fd = -1;
    return s;
}

/* Creates an empty segment file and makes it the active segment (dir fsync deferred to the next sync). */
static int seg_create(struct storage_log *log, uint64_t base, uint64_t offset)
{
    char path[STORAGE_PATH_BYTES_MAX];
    if (seg_path(log, base, "log", path) != 0)
        return -ENAMETOOLONG;
    struct storage_segment *s = seg_new(base, offset);
    if (s == NULL)
        return -ENOMEM;
    int rc = log->fs->open(log->fs->ctx, path, STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNC, &s->fd);
    uint64_t size;
    if (rc == 0)
        rc = log->fs->fstat(log->fs->ctx, s->fd, &size, &s->mtime_ms);
    if (rc == 0) {
        pthread_mutex_lock(&log->lock);
        rc = segs_push(log, s);
        log->dir_dirty = 1;
        pthread_mutex_unlock(&log->lock);
    }
    if (rc != 0)
        seg_free(log, s);
    return rc;
}

/*
 * Unlinks a segment's files and frees it; with `durable`, fsyncs the
 * directory at once, so that removals of several segments reach the disk in
 * the order made (a crash must leave a contiguous log, never one with a
 * hole). Lock held, syncer idle.
 */
static int seg_remove(struct storage_log *log, struct storage_segment *s, int durable)
{
    char path[STORAGE_PATH_BYTES_MAX];
    uint64_t base = s->base_index;
    seg_free(log, s);
    seg_path(log, base, "idx", path);
    int rc = log->fs->unlink(log->fs->ctx, path);
    if (rc != 0 && rc != -ENOENT)
        return fail_locked(log, rc, "unlink of the index", base, 0);
    seg_path(log, base, "log", path);
    rc = log->fs->unlink(log->fs->ctx, path);
    if (rc != 0)
        return fail_locked(log, rc, "unlink", base, 0);
    log->dir_dirty = 1;
    if (durable) {
        rc = log->fs->fsync_dir(log->fs->ctx, log->dir);
        if (rc != 0)
            return fail_locked(log, rc, "directory fsync", base, 0);
        log->dir_dirty = 0;
        log->fsyncs++;
    }
    return 0;
}

/* Waits (lock held) until no fdatasync of this log is running on the
 * syncer thread, at most STORAGE_SYNC_WAIT_MS. A sync that takes longer
 * means a hung disk: the partition fail-stops instead of the caller (the
 * broker's loop) hanging with it. */
static int wait_idle_locked(struct storage_log *log)
{
    if (!log->syncing)
        return 0;
    struct timespec deadline = storage__deadline_ms(log->opts.sync_wait_ms);
    while (log->syncing) {
        int rc = pthread_cond_timedwait(&log->idle, &log->lock, &deadline);
        if (rc == ETIMEDOUT && log->syncing)
            return fail_locked(log, -ETIMEDOUT, "waiting for a running fdatasync", 0, 0);
    }
    return 0;
}

/* ---- writing ----------------------------------------------------------------------- */

static int flush(struct storage_log *log)
{
    if (log->wbuf_len == 0)
        return 0;
    struct storage_segment *s = active(log);
    struct iovec iov = {log->wbuf, log->wbuf_len};
    int rc = storage_fs_pwritev_all(log->fs, s->fd, &iov, 1, s->flushed);
    if (rc != 0)
        return fail(log, rc, "write", s->base_index, s->flushed);
    pthread_mutex_lock(&log->lock);
    s->flushed += log->wbuf_len;
    log->flushed_index = log->wbuf_last_index;
    pthread_mutex_unlock(&log->lock);
    log->wbuf_len = 0;
    return 0;
}

/* Seals the active segment (its index file is written, not synced) and starts a new one. */
static int roll(struct storage_log *log, uint64_t base)
{
    int rc = flush(log);
    if (rc != 0)
        return rc;
    struct storage_segment *s = active(log);
    uint64_t size;
    int64_t mtime;
    if (log->fs->fstat(log->fs->ctx, s->fd, &size, &mtime) == 0)
        s->mtime_ms = mtime;
    char path[STORAGE_PATH_BYTES_MAX];
    /* An index file that fails to write is rebuilt by the next recovery. */
    if (seg_path(log, s->base_index, "idx", path) == 0 &&
        storage_segment_write_index(log->fs, s, path) != 0)
        log->fs->unlink(log->fs->ctx, path);
    rc = seg_create(log, base, s->end_offset);
    if (rc != 0)
        return fail(log, rc, "creating a segment", base, 0);
    return 0;
}

static int check_entry(struct storage_log *log, const struct storage_entry *e, uint64_t index,
                       uint64_t offset)
{
    if (e->payload_len > STORAGE_ENTRY_PAYLOAD_BYTES_MAX)
        return STORAGE_ERR_TOO_LARGE;
    if (e->index != index || e->first_offset < offset ||
        (e->payload == NULL && e->payload_len != 0) ||
        e->first_offset > UINT64_MAX - e->offset_count)
        return STORAGE_ERR_INVALID;
    (void)log;
    return 0;
}

/*
 * The summary of the prefix [0, upto) of the active segment: its last frame
 * is found from the sparse index point before it and a walk over frame
 * headers (bytes this process wrote; at most an index interval plus a
 * frame). 0, or -1 if upto is not a frame boundary or a read fails.
 */
static int summary_at(struct storage_log *log, struct storage_segment *s, uint64_t upto,
                      struct storage_segment_summary *sum)
{
    if (upto == s->size) {
        *sum = (struct storage_segment_summary){upto, s->last_index, s->last_term,
                                                s->end_offset, s->last_pos, s->last_crc};
        return 0;
    }
    size_t lo = 0, hi = s->idx_count; /* the last index point before upto */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid].pos < upto)
            lo = mid;
        else
            hi = mid;
    }
    if (s->idx_count == 0 || s->idx[lo].pos >= upto)
        return -1;
    for (uint64_t pos = s->idx[lo].pos; pos < upto;) {
        uint8_t h[STORAGE_ENTRY_HEADER_BYTES];
        struct storage_entry e;
        size_t frame = 0;
        if (storage_fs_pread_all(log->fs, s->fd, h, sizeof(h), pos) != 0 ||
            storage_entry_peek(h, &e, &frame) != 0)
            return -1;
        if (pos + frame == upto) {
            *sum = (struct storage_segment_summary){upto, e.index, e.term,
                                                    e.first_offset + e.offset_count, pos,
                                                    (uint32_t)wire_load_be(h + 4, 4)};
            return 0;
        }
        pos += frame;
    }
    return -1;
}

/*
 * Periodic checkpoint (owner thread): once the durable bytes of the active
 * segment beyond its last checkpoint reach the threshold (limits.h, or
 * opts.checkpoint_bytes), rewrites its .idx to cover exactly the durable
 * prefix: with fsync=always what a completed fdatasync covered (`synced`),
 * with fsync=never what is in the file (`flushed`, what the close
 * checkpoint has always covered). Not synced; a failure only costs a longer
 * scan at the next open, so it is not a log failure.
 */
static void maybe_checkpoint(struct storage_log *log)
{
    struct storage_segment *s = active(log);
    /* flushed is written only by this thread: the cheap test needs no lock. */
    if (storage_segment_empty(s) || s->flushed <= s->ckpt_at)
        return;
    uint64_t threshold = log->opts.checkpoint_bytes;
    if (threshold == 0) {
        threshold = STORAGE_CHECKPOINT_IDX_FACTOR * storage_segment_index_file_bytes(s->idx_count);
        if (threshold < STORAGE_CHECKPOINT_BYTES_MIN)
            threshold = STORAGE_CHECKPOINT_BYTES_MIN;
    }
    if (s->flushed - s->ckpt_at < threshold)
        return;
    uint64_t upto = s->flushed;
    if (log->opts.fsync_policy == STORAGE_FSYNC_ALWAYS) {
        pthread_mutex_lock(&log->lock);
        upto = log->failed ? 0 : s->synced;
        pthread_mutex_unlock(&log->lock);
    } else if (storage_log_failed(log)) {
        return;
    }
    if (upto <= s->ckpt_at || upto - s->ckpt_at < threshold)
        return;
    struct storage_segment_summary sum;
    char path[STORAGE_PATH_BYTES_MAX];
    s->ckpt_at = upto;
    if (summary_at(log, s, upto, &sum) != 0 ||
        seg_path(log, s->base_index, "idx", path) != 0)
        return;
    if (storage_segment_write_index_prefix(log->fs, s, &sum, path) == 0) {
        s->ckpt = upto;
    } else {
        log->fs->unlink(log->fs->ctx, path);
        s->ckpt = 0;
    }
}

int storage_log_append(struct storage_log *log, const struct storage_entry *entries, size_t n)
{
    int rc = failed_code(log);
    if (rc != 0)
        return rc;
    /* Check all first: an argument error appends nothing. */
    uint64_t index = active(log)->last_index + 1, offset = log->next_offset;
    for (size_t i = 0; i < n; i++) {
        rc = check_entry(log, &entries[i], index, offset);
        if (rc != 0)
            return rc;
        index++;
        offset = entries[i].first_offset + entries[i].offset_count;
    }
    for (size_t i = 0; i < n; i++) {
        const struct storage_entry *e = &entries[i];
        uint64_t frame = storage_entry_frame_bytes(e->payload_len);
        struct storage_segment *s = active(log);
        if (!storage_segment_empty(s) && s->size + frame > log->opts.segment_bytes) {
            rc = roll(log, e->index);
            if (rc != 0)
                return rc;
            s = active(log);
        }
        uint8_t header[STORAGE_ENTRY_HEADER_BYTES];
        storage_entry_encode_header(e, header);
        uint64_t pos = s->size;
        if (frame >= STORAGE_WRITE_DIRECT_BYTES) {
            /* Large: straight from the caller's memory, no copy. */
            rc = flush(log);
            if (rc != 0)
                return rc;
            struct iovec iov[2] = {{header, sizeof(header)}, {(void *)e->payload, e->payload_len}};
            rc = storage_fs_pwritev_all(log->fs, s->fd, iov, 2, pos);
            if (rc != 0)
                return fail(log, rc, "write", s->base_index, pos);
            pthread_mutex_lock(&log->lock);
            s->flushed = pos + frame;
            log->flushed_index = e->index;
            pthread_mutex_unlock(&log->lock);
        } else {
            /* Allocated at the first small append: an idle partition holds no buffer. */
            if (log->wbuf == NULL && (log->wbuf = malloc(STORAGE_WRITE_BUFFER_BYTES)) == NULL)
                return STORAGE_ERR_NOMEM;
            if (log->wbuf_len + frame > STORAGE_WRITE_BUFFER_BYTES) {
                rc = flush(log);
                if (rc != 0)
                    return rc;
            }
            memcpy(log->wbuf + log->wbuf_len, header, sizeof(header));
            if (e->payload_len)
                memcpy(log->wbuf + log->wbuf_len + sizeof(header), e->payload, e->payload_len);
            log->wbuf_len += (size_t)frame;
            log->wbuf_last_index = e->index;
        }
        rc = storage_segment_note(s, e->index, e->term, e->first_offset, e->offset_count, pos,
                                  (uint32_t)wire_load_be(header + 4, 4),
                                  log->opts.index_interval_bytes);
        if (rc != 0)
            return fail(log, rc, "index", s->base_index, pos);
        s->size = pos + frame;
        log->next_offset = e->first_offset + e->offset_count;
    }
    /* With fsync=always only a completed sync moves the checkpoint's bound:
     * storage_log_sync and storage_log_request_sync look. */
    if (log->opts.fsync_policy == STORAGE_FSYNC_NEVER)
        maybe_checkpoint(log);
    return 0;
}

/* ---- syncing ----------------------------------------------------------------------- */

/*
 * One round: fdatasync up to SYNC_SEGMENTS_MAX segments with unsynced
 * bytes (oldest first), then the directory if a segment was created or
 * removed; *more says whether segments are left for another round.
 */
static int sync_round(struct storage_log *log, unsigned *calls, int *more, int writeback)
{
    struct {
        struct storage_segment *seg;
        int fd;
        uint64_t upto;
    } todo[SYNC_SEGMENTS_MAX];
    size_t n = 0;
    *more = 0;
    pthread_mutex_lock(&log->lock);
    if (wait_idle_locked(log) != 0 || log->failed) {
        pthread_mutex_unlock(&log->lock);
        return STORAGE_ERR_FAILED;
    }
    if (log->opts.fsync_policy == STORAGE_FSYNC_NEVER) {
        log->durable_index = log->flushed_index;
        if (!writeback) {
            pthread_mutex_unlock(&log->lock);
            return 0;
        }
    }
    uint64_t target = log->flushed_index;
    /* Segments are synced in order, so the unsynced ones are a suffix (empty ones aside). */
    size_t first = log->nsegs;
    while (first > 0 && (log->segs[first - 1]->synced < log->segs[first - 1]->flushed ||
                         log->segs[first - 1]->flushed == 0))
        first--;
    for (size_t i = first; i < log->nsegs; i++) {
        struct storage_segment *s = log->segs[i];
        if (s->synced == s->flushed)
            continue;
        if (n == SYNC_SEGMENTS_MAX) {
            *more = 1;
            target = todo[n - 1].seg->last_index; /* a sealed segment: all of it is flushed */
            break;
        }
        todo[n].seg = s;
        todo[n].fd = s->fd;
        todo[n].upto = s->flushed;
        n++;
    }
    int dir_pending = log->dir_dirty;
    int dir = dir_pending && !*more;
    if (dir)
        log->dir_dirty = 0;
    log->syncing = 1;
    pthread_mutex_unlock(&log->lock);

    /* The ordering that matters: data first, then the directory entries that name it. */
    int rc = 0;
    unsigned made = 0;
    const char *what = "fdatasync";
    struct storage_segment *at = n > 0 ? todo[0].seg : NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        at = todo[i].seg;
        rc = log->fs->fdatasync(log->fs->ctx, todo[i].fd);
        made++;
    }
    if (rc == 0 && dir) {
        what = "directory fsync";
        rc = log->fs->fsync_dir(log->fs->ctx, log->dir);
        made++;
    }

    pthread_mutex_lock(&log->lock);
    log->syncing = 0;
    log->fsyncs += made;
    *calls += made;
    int result = 0;
    if (rc != 0) {
        if (at == NULL)
            at = active(log);
        log->dir_dirty |= dir;
        result = fail_locked(log, rc, what, at->base_index, at->flushed);
    } else {
        for (size_t i = 0; i < n; i++)
            if (todo[i].seg->synced < todo[i].upto)
                todo[i].seg->synced = todo[i].upto;
        /* Entries count once the directory names every segment that holds them. */
        if ((dir || !dir_pending) && target > log->durable_index)
            log->durable_index = target;
    }
    pthread_cond_broadcast(&log->idle);
    pthread_mutex_unlock(&log->lock);
    return result;
}

int storage__log_sync_flushed(struct storage_log *log, unsigned *calls)
{
    *calls = 0;
    int more = 0, rc;
    /* With fsync=never the syncer still writes the data back (nobody waits
     * for it): dirty pages stay few, so the owner's write() is never
     * throttled by the kernel's writeback, and a power loss loses less. */
    int writeback = log->opts.fsync_policy == STORAGE_FSYNC_NEVER;
    do
        rc = sync_round(log, calls, &more, writeback);
    while (rc == 0 && more);
    return rc;
}

int storage_log_sync(struct storage_log *log)
{
    int rc = failed_code(log);
    if (rc == 0)
        rc = flush(log);
    unsigned calls = 0;
    int more = 0;
    while (rc == 0) {
        rc = sync_round(log, &calls, &more, 0);
        if (!more)
            break;
    }
    if (rc == 0)
        maybe_checkpoint(log);
    return rc;
}

int storage_log_request_sync(struct storage_log *log)
{
    if (log->opts.syncer == NULL)
        return STORAGE_ERR_INVALID;
    int rc = failed_code(log);
    if (rc == 0)
        rc = flush(log);
    if (rc != 0)
        return rc;
    /* What earlier completions made durable (the syncer never writes index files). */
    maybe_checkpoint(log);
    if (log->opts.fsync_policy == STORAGE_FSYNC_NEVER) {
        pthread_mutex_lock(&log->lock);
        log->durable_index = log->flushed_index;
        pthread_mutex_unlock(&log->lock);
        storage__syncer_complete(log->opts.syncer, log);
        /* and the background writeback (storage__log_sync_flushed) */
        return storage__syncer_request(log->opts.syncer, log);
    }
    return storage__syncer_request(log->opts.syncer, log);
}

uint64_t storage_log_durable_index(struct storage_log *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t d = log->durable_index;
    pthread_mutex_unlock(&log->lock);
    return d;
}

int storage_log_failed(struct storage_log *log)
{
    pthread_mutex_lock(&log->lock);
    int f = log->failed;
    pthread_mutex_unlock(&log->lock);
    return f;
}

struct storage__sync_link *storage__log_link(struct storage_log *log)
{
    return &log->link;
}

/* ---- reading ----------------------------------------------------------------------- */

/* Reads the header of the frame at pos of segment s. */
static int peek_at(struct storage_log *log, struct storage_segment *s, uint64_t pos,
                   struct storage_entry *e, size_t *frame)
{
    uint8_t h[STORAGE_ENTRY_HEADER_BYTES];
    int rc = storage_fs_pread_all(log->fs, s->fd, h, sizeof(h), pos);
    if (rc != 0)
        return fail(log, rc, "read", s->base_index, pos);
    if (storage_entry_peek(h, e, frame) != 0) {
        say(log, "partition %s: segment %020" PRIu64 ".log: bad entry header at byte %" PRIu64,
            log->dir, s->base_index, pos);
        return STORAGE_ERR_CORRUPT;
    }
    return 0;
}

/*
 * Reads frames from segment si at pos onward (across segments) up to entry
 * `last`, one pread per segment run. The first entry is read whatever
 * bytes_max says (a reader must make progress); the rest only within it.
 */
static int read_from(struct storage_log *log, size_t si, uint64_t pos, uint64_t last,
                     size_t bytes_max, struct storage_read *rd)
{
    rd->count = 0;
    rd->bytes = 0;
    size_t first_need = STORAGE_ENTRY_HEADER_BYTES; /* grows to the first frame's size */
    while (si < log->nsegs && rd->count < rd->entries_cap) {
        struct storage_segment *s = log->segs[si];
        if (pos >= s->size) {
            si++;
            pos = 0;
            continue;
        }
        size_t room = rd->buf_cap - rd->bytes;
        size_t budget = bytes_max > rd->bytes ? bytes_max - rd->bytes : 0;
        if (rd->count == 0 && budget < first_need)
            budget = first_need;
        if (budget > room) {
            if (rd->count == 0 && room < first_need)
                return STORAGE_ERR_FULL; /* the first frame is larger than buf */
            budget = room;
        }
        if (budget < STORAGE_ENTRY_HEADER_BYTES)
            break;
        size_t want = s->size - pos < budget ? (size_t)(s->size - pos) : budget;
        uint8_t *p = rd->buf + rd->bytes;
        int rc = storage_fs_pread_all(log->fs, s->fd, p, want, pos);
        if (rc != 0)
            return fail(log, rc, "read", s->base_index, pos);
        size_t at = 0;
        int stop = 0;
        while (at < want && rd->count < rd->entries_cap) {
            struct storage_entry e;
            size_t frame = 0;
            const char *why = NULL;
            int d = storage_entry_decode(p + at, want - at, &e, &frame, &why);
            if (d == STORAGE_ENTRY_NEED_MORE && pos + at + frame > s->size) {
                d = STORAGE_ENTRY_INVALID;
                why = "entry runs past the end of the segment";
            }
            if (d == STORAGE_ENTRY_NEED_MORE) {
                if (rd->count == 0)
                    first_need = frame; /* read again, the whole first frame */
                else
                    stop = 1;
                break;
            }
            if (d == STORAGE_ENTRY_INVALID) {
                say(log, "partition %s: segment %020" PRIu64 ".log: %s at byte %" PRIu64,
                    log->dir, s->base_index, why, pos + at);
                return STORAGE_ERR_CORRUPT;
            }
            if (e.index > last || (rd->count > 0 && rd->bytes + at + frame > bytes_max)) {
                stop = 1;
                break;
            }
            rd->entries[rd->count++] = e;
            at += frame;
        }
        rd->bytes += at;
        pos += at;
        if (stop)
            break;
    }
    return 0;
}

/* The segment holding index i: the last one whose base is <= i. */
static size_t seg_of_index(struct storage_log *log, uint64_t i)
{
    size_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_index <= i)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Position of entry i in segment si, from the sparse index plus a short walk. */
static int pos_of_index(struct storage_log *log, size_t si, uint64_t i, uint64_t *pos_out,
                        struct storage_entry *before)
{
    struct storage_segment *s = log->segs[si];
    uint64_t pos = storage_segment_seek_index(s, i);
    for (;;) {
        struct storage_entry e;
        size_t frame;
        int rc = peek_at(log, s, pos, &e, &frame);
        if (rc != 0)
            return rc;
        if (e.index == i)
            break;
        if (before != NULL)
            *before = e;
        pos += frame;
    }
    *pos_out = pos;
    return 0;
}

int storage_log_read_index(struct storage_log *log, uint64_t first, uint64_t last,
                           size_t bytes_max, struct storage_read *rd)
{
    rd->count = rd->bytes = 0;
    int rc = failed_code(log);
    if (rc == 0)
        rc = flush(log);
    if (rc != 0)
        return rc;
    if (first < storage_log_first_index(log) || first > active(log)->last_index || last < first)
        return STORAGE_ERR_RANGE;
    size_t si = seg_of_index(log, first);
    uint64_t pos;
    rc = pos_of_index(log, si, first, &pos, NULL);
    if (rc != 0)
        return rc;
    return read_from(log, si, pos, last, bytes_max, rd);
}

int storage_log_read_offset(struct storage_log *log, uint64_t offset, size_t bytes_max,
                            struct storage_read *rd)
{
    rd->count = rd->bytes = 0;
    int rc = failed_code(log);
    if (rc == 0)
        rc = flush(log);
    if (rc != 0)
        return rc;
    if (offset < storage_log_first_offset(log) || offset >= log->next_offset)
        return STORAGE_ERR_RANGE;
    /* The first segment whose offsets end above `offset`. */
    size_t lo = 0, hi = log->nsegs - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->end_offset > offset)
            hi = mid;
        else
            lo = mid + 1;
    }
    struct storage_segment *s = log->segs[lo];
    uint64_t pos = storage_segment_seek_offset(s, offset);
    for (;;) {
        struct storage_entry e;
        size_t frame;
        rc = peek_at(log, s, pos, &e, &frame);
        if (rc != 0)
            return rc;
        if (e.first_offset + e.offset_count > offset)
            break;
        pos += frame;
        if (pos >= s->size) {
            say(log, "partition %s: offset %" PRIu64 " not found in segment %020" PRIu64 ".log",
                log->dir, offset, s->base_index);
            return STORAGE_ERR_CORRUPT;
        }
    }
    return read_from(log, lo, pos, UINT64_MAX, bytes_max, rd);
}

uint64_t storage_log_first_index(struct storage_log *log)
{
    return log->segs[0]->base_index;
}

uint64_t storage_log_last_index(struct storage_log *log)
{
    return active(log)->last_index;
}

uint64_t storage_log_last_term(struct storage_log *log)
{
    for (size_t i = log->nsegs; i > 0; i--)
        if (!storage_segment_empty(log->segs[i - 1]))
            return log->segs[i - 1]->last_term;
    return 0;
}

uint64_t storage_log_next_offset(struct storage_log *log)
{
    return log->next_offset;
}

uint64_t storage_log_first_offset(struct storage_log *log)
{
    return log->segs[0]->first_offset;
}

int storage_log_term(struct storage_log *log, uint64_t index, uint64_t *term)
{
    *term = 0;
    if (index < storage_log_first_index(log) || index > storage_log_last_index(log))
        return STORAGE_ERR_RANGE;
    size_t si = seg_of_index(log, index);
    if (index == log->segs[si]->last_index) {
        *term = log->segs[si]->last_term;
        return 0;
    }
    int rc = flush(log);
    uint64_t pos;
    if (rc == 0)
        rc = pos_of_index(log, si, index, &pos, NULL);
    struct storage_entry e;
    size_t frame;
    if (rc == 0)
        rc = peek_at(log, log->segs[si], pos, &e, &frame);
    if (rc == 0)
        *term = e.term;
    return rc;
}

/* ---- removing entries -------------------------------------------------------------- */

int storage_log_truncate_suffix(struct storage_log *log, uint64_t index)
{
    int rc = failed_code(log);
    if (rc == 0)
        rc = flush(log);
    if (rc != 0)
        return rc;
    if (index + 1 < storage_log_first_index(log) || index > storage_log_last_index(log))
        return STORAGE_ERR_RANGE;
    if (index == storage_log_last_index(log))
        return 0;
    /*
     * Where to cut, found before taking the lock (reads may fail, and
     * failing takes the lock): segment si keeps entries up to `index`, and
     * everything from byte `cut` on goes; `keep` is entry `index` itself.
     */
    size_t si = index < storage_log_first_index(log) ? 0 : seg_of_index(log, index);
    struct storage_segment *s = log->segs[si];
    uint64_t cut = 0;
    struct storage_entry keep = {.index = 0};
    uint32_t keep_crc = 0;
    if (index >= s->base_index && index < s->last_index) {
        rc = pos_of_index(log, si, index, &cut, NULL);
        uint8_t h[STORAGE_ENTRY_HEADER_BYTES];
        if (rc == 0 && (rc = storage_fs_pread_all(log->fs, s->fd, h, sizeof(h), cut)) != 0)
            rc = fail(log, rc, "read", s->base_index, cut);
        size_t frame = 0;
        if (rc == 0 && storage_entry_peek(h, &keep, &frame) != 0)
            rc = STORAGE_ERR_CORRUPT;
        if (rc != 0)
            return rc;
        keep_crc = (uint32_t)wire_load_be(h + 4, 4);
        s->last_pos = cut;
        cut += frame;
    }

    pthread_mutex_lock(&log->lock);
    rc = wait_idle_locked(log);
    if (rc != 0)
        goto out;
    /* Newest first, each removal durable before the next: a crash leaves a prefix. */
    while (log->nsegs > si + 1) {
        struct storage_segment *gone = active(log);
        log->nsegs--;
        rc = seg_remove(log, gone, log->nsegs > si + 1);
        if (rc != 0)
            goto out;
    }
    /*
     * The index file (a sealed index or a checkpoint) is stale once the
     * segment changes. Its removal is made durable before the cut: else a
     * power loss could bring it back over bytes rewritten since, and the
     * next open would trust a prefix that no longer holds what it says (the
     * check of its last frame catches most such cases, not all of them).
     * Truncations are rare (a Raft log conflict), so the fsync is cheap.
     */
    char path[STORAGE_PATH_BYTES_MAX];
    seg_path(log, s->base_index, "idx", path);
    rc = log->fs->unlink(log->fs->ctx, path);
    s->ckpt = s->ckpt_at = 0;
    if (rc == 0 && log->opts.fsync_policy == STORAGE_FSYNC_ALWAYS) {
        rc = log->fs->fsync_dir(log->fs->ctx, log->dir);
        if (rc != 0) {
            rc = fail_locked(log, rc, "directory fsync", s->base_index, 0);
            goto out;
        }
        log->fsyncs++;
    }
    rc = 0;
    if (s->last_index > index) {
        rc = log->fs->ftruncate(log->fs->ctx, s->fd, cut);
        if (rc != 0) {
            rc = fail_locked(log, rc, "ftruncate", s->base_index, cut);
            goto out;
        }
        s->size = s->flushed = cut;
        if (s->synced > cut)
            s->synced = cut;
        storage_segment_forget_from(s, cut);
        if (cut > 0) {
            s->last_index = index;
            s->last_term = keep.term;
            s->last_crc = keep_crc;
            s->end_offset = keep.first_offset + keep.offset_count;
        } else {
            s->last_index = s->base_index - 1;
            s->end_offset = s->first_offset;
        }
    }
    if (log->durable_index > index)
        log->durable_index = index;
    log->flushed_index = index;
    log->next_offset = s->end_offset;
out:
    pthread_mutex_unlock(&log->lock);
    return rc;
}

int storage_log_drop_prefix(struct storage_log *log, uint64_t index)
{
    int rc = failed_code(log);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&log->lock);
    rc = wait_idle_locked(log);
    /* Oldest first, each durable before the next: a crash leaves a suffix. */
    while (rc == 0 && log->nsegs > 1 && log->segs[0]->last_index < index) {
        struct storage_segment *s = log->segs[0];
        memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(log->segs[0]));
        log->nsegs--;
        rc = seg_remove(log, s, 1);
    }
    pthread_mutex_unlock(&log->lock);
    return rc;
}

int storage_log_reset(struct storage_log *log, uint64_t next_index, uint64_t next_offset)
{
    int rc = failed_code(log);
    if (rc != 0)
        return rc;
    if (next_index == 0)
        return STORAGE_ERR_INVALID;
    pthread_mutex_lock(&log->lock);
    rc = wait_idle_locked(log);
    if (rc != 0) {
        pthread_mutex_unlock(&log->lock);
        return rc;
    }
    log->wbuf_len = 0;
    while (rc == 0 && log->nsegs > 0) {
        struct storage_segment *s = log->segs[0];
        memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(log->segs[0]));
        log->nsegs--;
        rc = seg_remove(log, s, 1);
    }
    log->durable_index = log->flushed_index = next_index - 1;
    pthread_mutex_unlock(&log->lock);
    if (rc != 0)
        return rc;
    rc = seg_create(log, next_index, next_offset);
    if (rc != 0)
        return fail(log, rc, "creating a segment", next_index, 0);
    log->next_offset = next_offset;
    return 0;
}

int storage_log_apply_retention(struct storage_log *log, const struct storage_retention *policy,
                                int64_t now_ms, uint64_t index_max, uint64_t *first_index_out)
{
    int rc = failed_code(log);
    if (rc == 0)
        rc = flush(log);
    pthread_mutex_lock(&log->lock);
    if (rc == 0)
        rc = wait_idle_locked(log);
    uint64_t total = storage_log_bytes(log);
    while (rc == 0 && log->nsegs > 1) {
        struct storage_segment *s = log->segs[0];
        if (s->last_index > index_max)
            break;
        int old = policy->age_ms_max > 0 && now_ms - s->mtime_ms > policy->age_ms_max;
        int big = policy->bytes_max > 0 && total > policy->bytes_max;
        if (!old && !big)
            break;
        total -= s->size;
        memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(log->segs[0]));
        log->nsegs--;
        rc = seg_remove(log, s, 1);
    }
    pthread_mutex_unlock(&log->lock);
    if (first_index_out != NULL)
        *first_index_out = storage_log_first_index(log);
    return rc;
}

/* ---- hard state -------------------------------------------------------------------- */

int storage_log_save_hardstate(struct storage_log *log, const struct storage_hardstate *hs)
{
    int sys = 0;
    pthread_mutex_lock(&log->hs_lock);
    int rc = storage_hardstate_save(log->fs, log->dir, hs, &sys);
    pthread_mutex_unlock(&log->hs_lock);
    if (rc == STORAGE_ERR_IO || rc == STORAGE_ERR_NOSPC)
        say(log, "partition %s: saving hard state failed: %s", log->dir, strerror(sys));
    return rc;
}

int storage_log_request_hardstate(struct storage_log *log, const struct storage_hardstate *hs,
                                  uint64_t *version)
{
    if (log->opts.syncer == NULL)
        return STORAGE_ERR_INVALID;
    if (hs->meta_len > STORAGE_HARDSTATE_META_BYTES_MAX)
        return STORAGE_ERR_INVALID;
    int rc = failed_code(log);
    if (rc == 0)
        rc = flush(log); /* so the syncer's data sync covers what is appended */
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&log->lock);
    log->hs_next = *hs;
    log->hs_next_version = ++log->hs_requested_version;
    log->hs_pending = 1;
    if (version != NULL)
        *version = log->hs_next_version;
    pthread_mutex_unlock(&log->lock);
    return storage__syncer_request(log->opts.syncer, log);
}

uint64_t storage_log_hardstate_saved(struct storage_log *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t v = log->hs_saved_version;
    pthread_mutex_unlock(&log->lock);
    return v;
}

int storage__log_save_pending_hardstate(struct storage_log *log, unsigned *calls)
{
    pthread_mutex_lock(&log->lock);
    if (!log->hs_pending || log->failed) {
        pthread_mutex_unlock(&log->lock);
        return 0;
    }
    struct storage_hardstate hs = log->hs_next;
    uint64_t version = log->hs_next_version;
    log->hs_pending = 0;
    pthread_mutex_unlock(&log->lock);

    int sys = 0;
    pthread_mutex_lock(&log->hs_lock);
    int rc = storage_hardstate_save(log->fs, log->dir, &hs, &sys);
    pthread_mutex_unlock(&log->hs_lock);
    *calls += 2;
    pthread_mutex_lock(&log->lock);
    if (rc == 0) {
        if (version > log->hs_saved_version)
            log->hs_saved_version = version;
    } else if (log->failed == 0) {
        /* Like a failed fdatasync: stop, never retry (log.h, "Failure"). */
        log->failed = rc == STORAGE_ERR_NOSPC ? STORAGE_ERR_NOSPC : STORAGE_ERR_IO;
        say(log, "partition %s: saving hard state failed: %s; partition storage stopped "
            "(reopen to recover)", log->dir, strerror(sys != 0 ? sys : EIO));
    }
    pthread_mutex_unlock(&log->lock);
    return rc;
}

int storage_log_load_hardstate(struct storage_log *log, struct storage_hardstate *hs)
{
    int sys = 0;
    int rc = storage_hardstate_load(log->fs, log->dir, hs, &sys);
    if (rc == STORAGE_ERR_CORRUPT)
        say(log, "partition %s: file %s fails its checks", log->dir, STORAGE_HARDSTATE_FILE);
    else if (rc != 0)
        say(log, "partition %s: loading hard state failed: %s", log->dir, strerror(sys));
    return rc;
}

/* ---- introspection ----------------------------------------------------------------- */

const char *storage_log_errmsg(struct storage_log *log)
{
    return log->errmsg;
}

size_t storage_log_segment_count(struct storage_log *log)
{
    return log->nsegs;
}

uint64_t storage_log_bytes(struct storage_log *log)
{
    uint64_t total = 0;
    for (size_t i = 0; i < log->nsegs; i++)
        total += log->segs[i]->size;
    return total;
}

uint64_t storage_log_fsync_count(struct storage_log *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t n = log->fsyncs;
    pthread_mutex_unlock(&log->lock);
    return n;
}

void *storage_log_user_data(struct storage_log *log)
{
    return log->opts.user_data;
}

/* ---- open and close ---------------------------------------------------------------- */

struct listing {
    uint64_t *bases;
    size_t count, cap;
};

static int list_segment(void *arg, const char *name)
{
    struct listing *l = arg;
    size_t len = strlen(name);
    if (len != 24 || strcmp(name + 20, ".log") != 0)
        return 0;
    uint64_t base = 0;
    for (size_t i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        if (base > (UINT64_MAX - 9) / 10)
            return 0;
        base = base * 10 + (uint64_t)(name[i] - '0');
    }
    int rc = grow((void **)&l->bases, l->count, &l->cap, sizeof(l->bases[0]));
    if (rc == 0)
        l->bases[l->count++] = base;
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int open_errmsg(char *errmsg, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int open_errmsg(char *errmsg, size_t cap, int code, const char *fmt, ...)
{
    if (errmsg != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The parent of dir, for the fsync that makes a new partition directory durable. */
static void parent_of(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s", dir);
    char *slash = strrchr(out, '/');
    if (slash == NULL)
        snprintf(out, cap, ".");
    else if (slash == out)
        out[1] = '\0';
    else
        *slash = '\0';
}

/*
 * Recovers the last segment: resume from its checkpoint if it has a usable
 * one (else from byte 0), scan the rest, and cut a torn tail. An invalid
 * entry with a valid one after it is not a torn write but damage in the
 * middle of the log, and is refused.
 */
static int recover_tail(struct storage_log *log, struct storage_segment *s, uint64_t file_size,
                        struct storage_log_recovery *rec, char *errmsg, size_t cap)
{
    uint64_t bad = 0;
    const char *why = NULL;
    char path[STORAGE_PATH_BYTES_MAX];
    uint64_t from = 0;
    seg_path(log, s->base_index, "idx", path);
    int rc = storage_segment_load_index(log->fs, s, path, file_size, 1, &from);
    if (rc < 0)
        return open_errmsg(errmsg, cap, code_of(rc), "%s: read failed: %s", path, strerror(-rc));
    if (rc == 0) {
        rec->checkpoint_used = 1;
        s->ckpt = s->ckpt_at = from;
        s->idx_next_pos = s->idx[s->idx_count - 1].pos + log->opts.index_interval_bytes;
    } else {
        from = 0;
        rec->checkpoint_used = 0;
        rec->segments_scanned++;
    }
    seg_path(log, s->base_index, "log", path);
    rc = storage_segment_scan(log->fs, s, from, file_size, 0, log->opts.index_interval_bytes,
                              &bad, &why);
    rec->bytes_scanned += (rc == 1 ? bad : file_size) - from;
    if (rc < 0)
        return open_errmsg(errmsg, cap, code_of(rc), "%s: read failed: %s", path, strerror(-rc));
    if (rc == 0)
        return 0;
    uint64_t found = 0;
    rc = storage_segment_find_valid_after(log->fs, s->fd, bad, file_size, s->last_index, &found);
    if (rc < 0)
        return open_errmsg(errmsg, cap, code_of(rc), "%s: read failed: %s", path, strerror(-rc));
    if (rc == 1)
        return open_errmsg(errmsg, cap, STORAGE_ERR_CORRUPT,
                           "%s: invalid entry at byte %" PRIu64 " (%s) but a valid entry follows "
                           "at byte %" PRIu64 ": corruption in the middle of the log; refusing "
                           "to start rather than drop data",
                           path, bad, why, found);
    rc = log->fs->ftruncate(log->fs->ctx, s->fd, bad);
    if (rc == 0 && log->opts.fsync_policy == STORAGE_FSYNC_ALWAYS)
        rc = log->fs->fdatasync(log->fs->ctx, s->fd);
    if (rc != 0)
        return open_errmsg(errmsg, cap, code_of(rc), "%s: cutting the torn tail at byte %" PRIu64
                           " failed: %s", path, bad, strerror(-rc));
    rec->torn_bytes_truncated += file_size - bad;
    say(log, "%s: torn tail cut at byte %" PRIu64 " (%" PRIu64 " bytes: %s); last index %" PRIu64,
        path, bad, file_size - bad, why, s->last_index);
    return 0;
}

static int open_segments(struct storage_log *log, struct listing *l,
                         struct storage_log_recovery *rec, char *errmsg, size_t cap)
{
    char path[STORAGE_PATH_BYTES_MAX];
    uint64_t *sizes = calloc(l->count, sizeof(*sizes));
    if (sizes == NULL)
        return STORAGE_ERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < l->count && rc == 0; i++) {
        struct storage_segment *s = seg_new(l->bases[i], 0);
        if (s == NULL || segs_push(log, s) != 0) {
            free(s);
            rc = STORAGE_ERR_NOMEM;
            break;
        }
        seg_path(log, s->base_index, "log", path);
        int r = log->fs->open(log->fs->ctx, path, 0, &s->fd);
        if (r == 0)
            r = log->fs->fstat(log->fs->ctx, s->fd, &sizes[i], &s->mtime_ms);
        if (r != 0)
            rc = open_errmsg(errmsg, cap, code_of(r), "%s: %s", path, strerror(-r));
    }
    /* The tail: the last segment, and any that repair to empty before it. */
    while (rc == 0) {
        struct storage_segment *s = active(log);
        rc = recover_tail(log, s, sizes[log->nsegs - 1], rec, errmsg, cap);
        if (rc != 0 || !storage_segment_empty(s) || log->nsegs == 1)
            break;
        log->nsegs--;
        rc = seg_remove(log, s, 1);
        if (rc != 0)
            rc = open_errmsg(errmsg, cap, rc, "removing empty segment %020" PRIu64 ".log: %s",
                             s->base_index, log->errmsg);
        rec->empty_segments_removed++;
    }
    /* Sealed segments: their index, or a strict scan. */
    for (size_t i = 0; rc == 0 && i + 1 < log->nsegs; i++) {
        struct storage_segment *s = log->segs[i];
        seg_path(log, s->base_index, "idx", path);
        int r = storage_segment_load_index(log->fs, s, path, sizes[i], 0, NULL);
        if (r == 1) {
            uint64_t bad = 0;
            const char *why = NULL;
            r = storage_segment_scan(log->fs, s, 0, sizes[i], 0, log->opts.index_interval_bytes,
                                     &bad, &why);
            rec->segments_scanned++;
            rec->bytes_scanned += r == 1 ? bad : sizes[i];
            seg_path(log, s->base_index, "log", path);
            if (r == 1) {
                rc = open_errmsg(errmsg, cap, STORAGE_ERR_CORRUPT,
                                 "%s: invalid entry at byte %" PRIu64 " (%s) in a sealed "
                                 "segment: corruption in the middle of the log; refusing to "
                                 "start rather than drop data",
                                 path, bad, why);
                break;
            }
            if (r == 0 && storage_segment_empty(s)) {
                rc = open_errmsg(errmsg, cap, STORAGE_ERR_CORRUPT,
                                 "%s: sealed segment is empty", path);
                break;
            }
        }
        if (r < 0)
            rc = open_errmsg(errmsg, cap, code_of(r), "%s: %s", path, strerror(-r));
    }
    /* The segments must chain: indexes contiguous, offsets never going back. */
    for (size_t i = 1; rc == 0 && i < log->nsegs; i++) {
        const struct storage_segment *p = log->segs[i - 1];
        struct storage_segment *s = log->segs[i];
        seg_path(log, s->base_index, "log", path);
        if (s->base_index != p->last_index + 1)
            rc = open_errmsg(errmsg, cap, STORAGE_ERR_CORRUPT,
                             "%s: starts at index %" PRIu64 " but the previous segment ends at "
                             "%" PRIu64 ": entries are missing in the middle of the log",
                             path, s->base_index, p->last_index);
        else if (!storage_segment_empty(s) && s->first_offset < p->end_offset)
            rc = open_errmsg(errmsg, cap, STORAGE_ERR_CORRUPT,
                             "%s: offsets start at %" PRIu64 ", below the previous segment's "
                             "end %" PRIu64, path, s->first_offset, p->end_offset);
        else if (storage_segment_empty(s))
            s->first_offset = s->end_offset = p->end_offset;
    }
    free(sizes);
    return rc;
}

int storage_log_open(const char *dir, const struct storage_log_options *opts,
                     struct storage_log **out, struct storage_log_recovery *recovery,
                     char *errmsg, size_t cap)
{
    *out = NULL;
    struct storage_log_recovery rec_local;
    struct storage_log_recovery *rec = recovery != NULL ? recovery : &rec_local;
    memset(rec, 0, sizeof(*rec));
    if (errmsg != NULL && cap > 0)
        errmsg[0] = '\0';
    struct storage_log *log = calloc(1, sizeof(*log));
    if (log == NULL)
        return open_errmsg(errmsg, cap, STORAGE_ERR_NOMEM, "out of memory");
    log->opts = *opts;
    log->fs = opts->fs != NULL ? opts->fs : &storage_fs_posix;
    if (log->opts.segment_bytes == 0)
        log->opts.segment_bytes = STORAGE_SEGMENT_BYTES_DEFAULT;
    if (log->opts.index_interval_bytes == 0)
        log->opts.index_interval_bytes = STORAGE_INDEX_INTERVAL_BYTES_DEFAULT;
    if (log->opts.sync_wait_ms == 0)
        log->opts.sync_wait_ms = STORAGE_SYNC_WAIT_MS;
    if (log->opts.first_index == 0)
        log->opts.first_index = 1;
    pthread_mutex_init(&log->lock, NULL);
    pthread_mutex_init(&log->hs_lock, NULL);
    storage__cond_init_monotonic(&log->idle);
    struct listing l = {0};
    int rc = 0;
    if (strlen(dir) + 32 >= sizeof(log->dir) ||
        log->opts.segment_bytes < STORAGE_SEGMENT_BYTES_MIN ||
        log->opts.segment_bytes > STORAGE_SEGMENT_BYTES_MAX ||
        log->opts.index_interval_bytes < STORAGE_INDEX_INTERVAL_BYTES_MIN ||
        (log->opts.fsync_policy != STORAGE_FSYNC_ALWAYS &&
         log->opts.fsync_policy != STORAGE_FSYNC_NEVER)) {
        rc = open_errmsg(errmsg, cap, STORAGE_ERR_INVALID, "invalid options or path");
        goto fail;
    }
    snprintf(log->dir, sizeof(log->dir), "%s", dir);
    const struct storage_fs *fs = log->fs;
    int r = fs->mkdir(fs->ctx, dir);
    if (r == 0) {
        char parent[STORAGE_PATH_BYTES_MAX];
        parent_of(dir, parent, sizeof(parent));
        r = fs->fsync_dir(fs->ctx, parent);
    } else if (r == -EEXIST) {
        r = 0;
    }
    if (r != 0) {
        rc = open_errmsg(errmsg, cap, code_of(r), "%s: %s", dir, strerror(-r));
        goto fail;
    }
    char path[STORAGE_PATH_BYTES_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, STORAGE_HARDSTATE_TMP_FILE);
    fs->unlink(fs->ctx, path); /* a save that never reached its rename */
    r = fs->list_dir(fs->ctx, dir, list_segment, &l);
    if (r != 0) {
        rc = open_errmsg(errmsg, cap, code_of(r), "%s: listing failed: %s", dir, strerror(-r));
        goto fail;
    }
    if (l.count > 1)
        qsort(l.bases, l.count, sizeof(l.bases[0]), cmp_u64);
    if (l.count == 0) {
        r = seg_create(log, log->opts.first_index, 0);
        if (r == 0)
            r = fs->fsync_dir(fs->ctx, dir);
        if (r != 0) {
            rc = open_errmsg(errmsg, cap, code_of(r), "%s: creating the first segment: %s", dir,
                             strerror(-r));
            goto fail;
        }
        log->dir_dirty = 0;
    } else {
        rc = open_segments(log, &l, rec, errmsg, cap);
        if (rc != 0)
            goto fail;
    }
    rec->segments = log->nsegs;
    log->next_offset = active(log)->end_offset;
    log->flushed_index = log->durable_index = active(log)->last_index;

    /*
     * What a previous process wrote may still sit in the page cache, not on
     * disk: nothing counts as durable until the first sync has run over
     * every segment and the directory. That sync is left to the caller (the
     * syncer), so that opening a thousand partitions is not a thousand
     * device flushes on the start-up path.
     */
    if (log->opts.fsync_policy == STORAGE_FSYNC_ALWAYS) {
        for (size_t i = 0; i < log->nsegs; i++)
            log->segs[i]->synced = 0;
        log->dir_dirty = 1;
        log->durable_index = storage_log_first_index(log) - 1;
    }

    struct storage_hardstate *hs = malloc(sizeof(*hs));
    int sys = 0;
    r = hs == NULL ? STORAGE_ERR_NOMEM : storage_hardstate_load(fs, dir, hs, &sys);
    if (r == 0 && log->opts.fsync_policy == STORAGE_FSYNC_ALWAYS &&
        hs->commit_index > active(log)->last_index)
        r = open_errmsg(errmsg, cap, STORAGE_ERR_CORRUPT,
                        "%s: the log ends at index %" PRIu64 " but %s records commit index "
                        "%" PRIu64 ": committed entries are missing; refusing to start",
                        dir, active(log)->last_index, STORAGE_HARDSTATE_FILE, hs->commit_index);
    else if (r == STORAGE_ERR_CORRUPT)
        r = open_errmsg(errmsg, cap, r, "%s/%s: fails its checks", dir, STORAGE_HARDSTATE_FILE);
    else if (r != 0)
        r = open_errmsg(errmsg, cap, r, "%s/%s: %s", dir, STORAGE_HARDSTATE_FILE,
                        sys ? strerror(sys) : storage_strerror(r));
    free(hs);
    if (r != 0) {
        rc = r;
        goto fail;
    }
    if (log->opts.syncer != NULL) {
        rc = storage__syncer_attach(log->opts.syncer);
        if (rc != 0) {
            open_errmsg(errmsg, cap, rc, "the syncer serves its maximum number of logs");
            goto fail;
        }
    }
    free(l.bases);
    *out = log;
    return 0;
fail:
    free(l.bases);
    for (size_t i = 0; i < log->nsegs; i++)
        seg_free(log, log->segs[i]);
    free(log->segs);
    free(log->wbuf);
    pthread_mutex_destroy(&log->lock);
    pthread_mutex_destroy(&log->hs_lock);
    pthread_cond_destroy(&log->idle);
    free(log);
    return rc;
}

int storage_log_close(struct storage_log *log)
{
    if (log == NULL)
        return 0;
    int rc = storage_log_failed(log) ? 0 : flush(log);
    if (rc == 0 && !storage_log_failed(log) && log->opts.fsync_policy == STORAGE_FSYNC_ALWAYS) {
        unsigned calls;
        rc = storage__log_sync_flushed(log, &calls);
    }
    /*
     * The checkpoint: the active segment's index and summary, so that the
     * next open scans only what is appended after it. Written after the
     * sync, so with fsync=always it never covers bytes that are not
     * durable. Not synced: if it is lost the next open scans the segment.
     */
    if (rc == 0 && !storage_log_failed(log) && !storage_segment_empty(active(log)) &&
        active(log)->ckpt != active(log)->size) {
        char path[STORAGE_PATH_BYTES_MAX];
        struct storage_segment *s = active(log);
        if (seg_path(log, s->base_index, "idx", path) == 0 &&
            storage_segment_write_index(log->fs, s, path) != 0)
            log->fs->unlink(log->fs->ctx, path);
    }
    /* A sync hung for STORAGE_SYNC_WAIT_MS: the syncer thread still uses
     * this log, so it is left allocated (a deliberate leak, logged) rather
     * than freed under that thread. */
    int hung = log->opts.syncer != NULL &&
               storage__syncer_detach(log->opts.syncer, log, log->opts.sync_wait_ms) != 0;
    pthread_mutex_lock(&log->lock);
    hung = hung || wait_idle_locked(log) != 0;
    pthread_mutex_unlock(&log->lock);
    if (hung) {
        say(log, "partition %s: close gave up waiting %u ms for a running fdatasync; "
                 "the log stays allocated (call close again once the disk answers)",
            log->dir, (unsigned)log->opts.sync_wait_ms);
        return STORAGE_ERR_BUSY;
    }
    for (size_t i = 0; i < log->nsegs; i++)
        seg_free(log, log->segs[i]);
    free(log->segs);
    free(log->wbuf);
    pthread_mutex_destroy(&log->lock);
    pthread_mutex_destroy(&log->hs_lock);
    pthread_cond_destroy(&log->idle);
    free(log);
    return rc;
}
