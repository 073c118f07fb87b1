/* Segment scanning, sparse index lookups, and index files. */
#include "segment.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "limits.h"
#include "wire/byteorder.h"
#include "wire/crc32c.h"

int storage_segment_path(char *out, size_t cap, const char *dir, uint64_t base, const char *ext)
{
    int n = snprintf(out, cap, "%s/%020" PRIu64 ".%s", dir, base, ext);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int index_push(struct storage_segment *s, uint64_t index, uint64_t offset, uint64_t pos)
{
    if (s->idx_count == s->idx_cap) {
        size_t cap = s->idx_cap ? s->idx_cap * 2 : 16;
        struct storage_index_entry *p = realloc(s->idx, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        s->idx = p;
        s->idx_cap = cap;
    }
    s->idx[s->idx_count++] = (struct storage_index_entry){index, offset, pos};
    return 0;
}

int storage_segment_note(struct storage_segment *s, uint64_t index, uint64_t term,
                         uint64_t first_offset, uint32_t offset_count, uint64_t pos,
                         uint32_t crc, uint32_t interval)
{
    if (pos == 0 || pos >= s->idx_next_pos) {
        int rc = index_push(s, index, first_offset, pos);
        if (rc != 0)
            return rc;
        s->idx_next_pos = pos + interval;
    }
    if (storage_segment_empty(s))
        s->first_offset = first_offset;
    s->last_index = index;
    s->last_term = term;
    s->end_offset = first_offset + offset_count;
    s->last_pos = pos;
    s->last_crc = crc;
    return 0;
}

/* The last index point whose key is <= want (the first point if none is). */
#define SEEK_BY(field)                                                                     \
    size_t lo = 0, hi = s->idx_count;                                                      \
    while (hi - lo > 1) {                                                                  \
        size_t mid = lo + (hi - lo) / 2;                                                   \
        if (s->idx[mid].field <= want)                                                     \
            lo = mid;                                                                      \
        else                                                                               \
            hi = mid;                                                                      \
    }                                                                                      \
    return s->idx_count ? s->idx[lo].pos : 0

uint64_t storage_segment_seek_index(const struct storage_segment *s, uint64_t want)
{
    SEEK_BY(index);
}

uint64_t storage_segment_seek_offset(const struct storage_segment *s, uint64_t want)
{
    SEEK_BY(offset);
}

void storage_segment_forget_from(struct storage_segment *s, uint64_t pos)
{
    while (s->idx_count > 0 && s->idx[s->idx_count - 1].pos >= pos)
        s->idx_count--;
    s->idx_next_pos = s->idx_count ? s->idx[s->idx_count - 1].pos : 0;
}

/*
 * A window on the file for the scanners: holds [win_pos, win_pos + have).
 * Sized for one read chunk plus the largest frame, so a frame that starts
 * inside the chunk is always whole in the window.
 */
struct window {
    uint8_t *buf;
    size_t cap;
    uint64_t win_pos;
    size_t have;
};

/* A small segment needs no more window than its size (fewer fresh pages to fault in). */
static size_t window_cap(uint64_t file_size)
{
    size_t cap = STORAGE_SCAN_CHUNK_BYTES + STORAGE_ENTRY_BYTES_MAX;
    return file_size < cap ? (size_t)file_size + 1 : cap;
}

static int window_fill(const struct storage_fs *fs, int fd, struct window *w, uint64_t pos,
                       uint64_t file_size)
{
    if (pos >= w->win_pos && pos <= w->win_pos + w->have) {
        size_t keep = (size_t)(w->win_pos + w->have - pos);
        memmove(w->buf, w->buf + (pos - w->win_pos), keep);
        w->have = keep;
    } else {
        w->have = 0;
    }
    w->win_pos = pos;
    uint64_t want_end = pos + w->cap;
    if (want_end > file_size)
        want_end = file_size;
    size_t want = want_end > pos + w->have ? (size_t)(want_end - pos - w->have) : 0;
    if (want == 0)
        return 0;
    int rc = storage_fs_pread_all(fs, fd, w->buf + w->have, want, pos + w->have);
    if (rc != 0)
        return rc;
    w->have += want;
    return 0;
}

int storage_segment_scan(const struct storage_fs *fs, struct storage_segment *s, uint64_t from,
                         uint64_t file_size, uint64_t offset_floor, uint32_t interval,
                         uint64_t *bad_pos, const char **why)
{
    if (from == 0) {
        s->last_index = s->base_index - 1;
        s->idx_count = 0;
        s->idx_next_pos = 0;
        s->end_offset = offset_floor;
    }
    struct window w = {.cap = window_cap(file_size - from)};
    w.buf = malloc(w.cap);
    if (w.buf == NULL)
        return -ENOMEM;
    uint64_t pos = from;
    int result = 0;
    while (pos < file_size) {
        uint64_t win_end = w.win_pos + w.have;
        uint64_t avail = pos < win_end ? win_end - pos : 0;
        if (avail < STORAGE_ENTRY_BYTES_MAX && win_end < file_size) {
            result = window_fill(fs, s->fd, &w, pos, file_size);
            if (result != 0)
                break;
        }
        size_t at = (size_t)(pos - w.win_pos);
        struct storage_entry e;
        size_t frame = 0;
        const char *bad = NULL;
        int d = storage_entry_decode(w.buf + at, (size_t)(w.win_pos + w.have - pos), &e, &frame,
                                     &bad);
        if (d == STORAGE_ENTRY_NEED_MORE)
            bad = "entry cut short by the end of the file";
        else if (d == STORAGE_ENTRY_DECODED && e.index != s->last_index + 1)
            bad = "entry index is not the next index";
        else if (d == STORAGE_ENTRY_DECODED && e.first_offset < s->end_offset)
            bad = "entry offsets go backwards";
        if (bad != NULL) {
            *bad_pos = pos;
            *why = bad;
            result = 1;
            break;
        }
        result = storage_segment_note(s, e.index, e.term, e.first_offset, e.offset_count, pos,
                                      (uint32_t)wire_load_be(w.buf + at + 4, 4), interval);
        if (result != 0)
            break;
        pos += frame;
    }
    free(w.buf);
    if (result == 0)
        s->size = s->flushed = s->synced = file_size;
    else if (result == 1)
        s->size = s->flushed = s->synced = *bad_pos;
    return result;
}

int storage_segment_find_valid_after(const struct storage_fs *fs, int fd, uint64_t from,
                                     uint64_t file_size, uint64_t min_index, uint64_t *found)
{
    struct window w = {.cap = STORAGE_SCAN_CHUNK_BYTES + STORAGE_ENTRY_BYTES_MAX};
    w.buf = malloc(w.cap);
    if (w.buf == NULL)
        return -ENOMEM;
    int result = 0;
    for (uint64_t chunk = from + 1; chunk + STORAGE_ENTRY_HEADER_BYTES <= file_size && result == 0;
         chunk += STORAGE_SCAN_CHUNK_BYTES) {
        result = window_fill(fs, fd, &w, chunk, file_size);
        if (result != 0)
            break;
        for (size_t at = 0; at < STORAGE_SCAN_CHUNK_BYTES && at < w.have; at++) {
            struct storage_entry e;
            size_t frame;
            const char *why;
            if (storage_entry_decode(w.buf + at, w.have - at, &e, &frame, &why) ==
                    STORAGE_ENTRY_DECODED &&
                e.index > min_index) {
                *found = chunk + at;
                result = 1;
                break;
            }
        }
    }
    free(w.buf);
    return result;
}

#define INDEX_MAGIC "RMQX"
#define INDEX_VERSION 1u
#define INDEX_FIXED_BYTES 80u
#define INDEX_POINT_BYTES 24u

uint64_t storage_segment_index_file_bytes(size_t points)
{
    return INDEX_FIXED_BYTES + (uint64_t)points * INDEX_POINT_BYTES + 4;
}

int storage_segment_write_index_prefix(const struct storage_fs *fs,
                                       const struct storage_segment *s,
                                       const struct storage_segment_summary *sum,
                                       const char *path)
{
    /* The index points inside the prefix: idx is sorted by pos. */
    size_t count = s->idx_count;
    while (count > 0 && s->idx[count - 1].pos > sum->last_pos)
        count--;
    if (count == 0 || sum->covered > s->size || sum->last_pos >= sum->covered)
        return -EINVAL;
    size_t len = (size_t)storage_segment_index_file_bytes(count);
    uint8_t *buf = malloc(len);
    if (buf == NULL)
        return -ENOMEM;
    memcpy(buf, INDEX_MAGIC, 4);
    wire_store_be(buf + 4, INDEX_VERSION, 4);
    wire_store_be(buf + 8, s->base_index, 8);
    wire_store_be(buf + 16, sum->last_index, 8);
    wire_store_be(buf + 24, sum->last_term, 8);
    wire_store_be(buf + 32, s->first_offset, 8);
    wire_store_be(buf + 40, sum->end_offset, 8);
    wire_store_be(buf + 48, sum->last_pos, 8);
    wire_store_be(buf + 56, sum->covered, 8);
    wire_store_be(buf + 64, sum->last_crc, 4);
    wire_store_be(buf + 68, count, 4);
    wire_store_be(buf + 72, 0, 8);
    uint8_t *p = buf + INDEX_FIXED_BYTES;
    for (size_t i = 0; i < count; i++, p += INDEX_POINT_BYTES) {
        wire_store_be(p, s->idx[i].index, 8);
        wire_store_be(p + 8, s->idx[i].offset, 8);
        wire_store_be(p + 16, s->idx[i].pos, 8);
    }
    wire_store_be(p, wire_crc32c(0, buf, len - 4), 4);
    int fd;
    int rc = fs->open(fs->ctx, path, STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNC, &fd);
    if (rc == 0) {
        struct iovec iov = {buf, len};
        rc = storage_fs_pwritev_all(fs, fd, &iov, 1, 0);
        fs->close(fs->ctx, fd);
    }
    free(buf);
    return rc;
}

int storage_segment_write_index(const struct storage_fs *fs, const struct storage_segment *s,
                                const char *path)
{
    struct storage_segment_summary sum = {
        .covered = s->size,
        .last_index = s->last_index,
        .last_term = s->last_term,
        .end_offset = s->end_offset,
        .last_pos = s->last_pos,
        .last_crc = s->last_crc,
    };
    return storage_segment_write_index_prefix(fs, s, &sum, path);
}

int storage_segment_load_index(const struct storage_fs *fs, struct storage_segment *s,
                               const char *path, uint64_t file_size, int prefix,
                               uint64_t *covered_out)
{
    int fd;
    int rc = fs->open(fs->ctx, path, 0, &fd);
    if (rc == -ENOENT)
        return 1;
    if (rc != 0)
        return rc;
    uint64_t size;
    int64_t mtime;
    uint8_t *buf = NULL;
    rc = fs->fstat(fs->ctx, fd, &size, &mtime);
    if (rc != 0)
        goto out;
    rc = 1;
    if (size < INDEX_FIXED_BYTES + 4 || size > INDEX_FIXED_BYTES + 4 + (uint64_t)INDEX_POINT_BYTES *
                                                                          (file_size / 8 + 1))
        goto out;
    buf = malloc((size_t)size);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    int r = storage_fs_pread_all(fs, fd, buf, (size_t)size, 0);
    if (r != 0) {
        rc = r;
        goto out;
    }
    uint32_t count = (uint32_t)wire_load_be(buf + 68, 4);
    if (memcmp(buf, INDEX_MAGIC, 4) != 0 || wire_load_be(buf + 4, 4) != INDEX_VERSION ||
        size != INDEX_FIXED_BYTES + (uint64_t)count * INDEX_POINT_BYTES + 4 ||
        wire_load_be(buf + size - 4, 4) != wire_crc32c(0, buf, (size_t)size - 4) ||
        wire_load_be(buf + 8, 8) != s->base_index || count == 0)
        goto out;
    /* The bytes the index describes: all of a sealed segment, a prefix of the last one. */
    uint64_t covered = wire_load_be(buf + 56, 8);
    if (prefix ? covered > file_size : covered != file_size)
        goto out;
    struct storage_segment t = *s;
    t.last_index = wire_load_be(buf + 16, 8);
    t.last_term = wire_load_be(buf + 24, 8);
    t.first_offset = wire_load_be(buf + 32, 8);
    t.end_offset = wire_load_be(buf + 40, 8);
    t.last_pos = wire_load_be(buf + 48, 8);
    t.last_crc = (uint32_t)wire_load_be(buf + 64, 4);
    if (t.last_index < t.base_index || t.end_offset < t.first_offset ||
        t.last_pos + STORAGE_ENTRY_HEADER_BYTES > covered ||
        covered - t.last_pos > STORAGE_ENTRY_BYTES_MAX)
        goto out;
    /*
     * The last frame must be the one the index describes, whole and intact
     * (its CRC verified): the index is not synced and may be older than a
     * segment that was truncated and rewritten, or (after a power loss)
     * describe bytes that never reached the disk.
     */
    size_t frame_len = (size_t)(covered - t.last_pos);
    uint8_t *frame = malloc(frame_len);
    if (frame == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    r = storage_fs_pread_all(fs, s->fd, frame, frame_len, t.last_pos);
    struct storage_entry e;
    size_t got = 0;
    const char *why = NULL;
    int d = r == 0 ? storage_entry_decode(frame, frame_len, &e, &got, &why) : STORAGE_ENTRY_INVALID;
    int match = d == STORAGE_ENTRY_DECODED && got == frame_len &&
                wire_load_be(frame + 4, 4) == t.last_crc && e.index == t.last_index &&
                e.term == t.last_term && e.first_offset + e.offset_count == t.end_offset;
    free(frame);
    if (r != 0) {
        rc = r;
        goto out;
    }
    if (!match)
        goto out;
    struct storage_index_entry *idx = malloc(count * sizeof(*idx));
    if (idx == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    const uint8_t *p = buf + INDEX_FIXED_BYTES;
    for (uint32_t i = 0; i < count; i++, p += INDEX_POINT_BYTES) {
        idx[i].index = wire_load_be(p, 8);
        idx[i].offset = wire_load_be(p + 8, 8);
        idx[i].pos = wire_load_be(p + 16, 8);
        int sorted = i == 0 ? idx[0].pos == 0 && idx[0].index == t.base_index
                            : idx[i].pos > idx[i - 1].pos && idx[i].index > idx[i - 1].index &&
                                  idx[i].offset >= idx[i - 1].offset;
        if (!sorted || idx[i].pos > t.last_pos || idx[i].index > t.last_index) {
            free(idx);
            goto out;
        }
    }
    free(s->idx);
    t.idx = idx;
    t.idx_count = t.idx_cap = count;
    t.idx_next_pos = t.size = t.flushed = t.synced = covered;
    *s = t;
    if (covered_out != NULL)
        *covered_out = covered;
    rc = 0;
out:
    free(buf);
    fs->close(fs->ctx, fd);
    return rc;
}
