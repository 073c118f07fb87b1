/* Helpers shared by the partition-storage tests: deterministic entries, logs on memfs or a temp dir. */
#ifndef RAFTMQ_TESTS_UNIT_STORAGE_FIXTURE_H
#define RAFTMQ_TESTS_UNIT_STORAGE_FIXTURE_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/storage/errors.h"
#include "broker/storage/log.h"

#define ck_assert_serr(actual, expected)                                                   \
    do {                                                                                   \
        int actual_ = (actual);                                                            \
        int expected_ = (expected);                                                        \
        ck_assert_msg(actual_ == expected_, "%s: got %s (%d), want %s (%d)", #actual,      \
                      storage_err_name(actual_), actual_, storage_err_name(expected_),     \
                      expected_);                                                          \
    } while (0)

#define FIX_DIR "/p"

/*
 * Entry i of a test log: its payload is a pure function of (index, term,
 * len), so a read can be checked without keeping what was written, and a
 * payload that matches its header cannot be a mix of two writes.
 */
static inline uint32_t fix_len(uint64_t index, uint32_t len_max)
{
    return len_max == 0 ? 0 : (uint32_t)((index * 2654435761u) % (len_max + 1));
}

static inline void fix_fill(uint8_t *p, uint32_t len, uint64_t index, uint64_t term)
{
    uint64_t x = index * 0x9e3779b97f4a7c15ull ^ term * 0xbf58476d1ce4e5b9ull;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

/* Offsets: entry i carries i % 4 records (0 for a non-record entry), starting at 10. */
static inline uint32_t fix_count(uint64_t index)
{
    return (uint32_t)(index % 4);
}

static inline struct storage_entry fix_entry(uint64_t index, uint64_t term, uint64_t first_offset,
                                             uint32_t len, uint8_t *buf)
{
    fix_fill(buf, len, index, term);
    struct storage_entry e = {
        .index = index,
        .term = term,
        .type = (uint8_t)(index % 3),
        .first_offset = first_offset,
        .offset_count = fix_count(index),
        .payload = buf,
        .payload_len = len,
    };
    return e;
}

/* Checks an entry read back: header fields against its own payload's generator. */
static inline void fix_check(const struct storage_entry *e, uint64_t index, uint64_t term)
{
    ck_assert_uint_eq(e->index, index);
    if (term != 0)
        ck_assert_uint_eq(e->term, term);
    ck_assert_uint_eq(e->type, index % 3);
    ck_assert_uint_eq(e->offset_count, fix_count(index));
    uint8_t *want = malloc(e->payload_len + 1u);
    ck_assert_ptr_nonnull(want);
    fix_fill(want, e->payload_len, e->index, e->term);
    ck_assert_msg(e->payload_len == 0 || memcmp(want, e->payload, e->payload_len) == 0,
                  "payload of entry %llu differs", (unsigned long long)index);
    free(want);
}

/*
 * Appends entries [first, last] with `term`, payload lengths in [0, len_max]
 * (fix_len), continuing the log's offsets.
 */
static inline void fix_append(struct storage_log *log, uint64_t first, uint64_t last,
                              uint64_t term, uint32_t len_max)
{
    uint8_t *buf = malloc(len_max + 1u);
    ck_assert_ptr_nonnull(buf);
    for (uint64_t i = first; i <= last; i++) {
        uint32_t len = fix_len(i, len_max);
        struct storage_entry e = fix_entry(i, term, storage_log_next_offset(log), len, buf);
        int rc = storage_log_append(log, &e, 1);
        ck_assert_msg(rc == 0, "append %llu: %s", (unsigned long long)i, storage_err_name(rc));
    }
    free(buf);
}

struct fix_reader {
    struct storage_read rd;
    uint8_t buf[1u << 20];
    struct storage_entry entries[4096];
};

static inline struct fix_reader *fix_reader_new(void)
{
    struct fix_reader *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r->rd.buf = r->buf;
    r->rd.buf_cap = sizeof(r->buf);
    r->rd.entries = r->entries;
    r->rd.entries_cap = 4096;
    return r;
}

/* Reads [first, last] in pieces of at most bytes_max and checks every entry (term 0: any). */
static inline void fix_check_range(struct storage_log *log, uint64_t first, uint64_t last,
                                   uint64_t term, size_t bytes_max)
{
    struct fix_reader *r = fix_reader_new();
    uint64_t next = first;
    while (next <= last) {
        int rc = storage_log_read_index(log, next, last, bytes_max, &r->rd);
        ck_assert_msg(rc == 0, "read from %llu: %s", (unsigned long long)next,
                      storage_err_name(rc));
        ck_assert_uint_gt(r->rd.count, 0);
        for (size_t i = 0; i < r->rd.count; i++)
            fix_check(&r->rd.entries[i], next + i, term);
        next += r->rd.count;
    }
    ck_assert_uint_eq(next, last + 1);
    free(r);
}

static inline void fix_quiet(void *user_data, const char *line)
{
    (void)user_data;
    (void)line;
}

static inline struct storage_log_options fix_options(const struct storage_fs *fs,
                                                     uint64_t segment_bytes)
{
    struct storage_log_options o = {0};
    o.fs = fs;
    o.segment_bytes = segment_bytes;
    o.index_interval_bytes = 256;
    o.message = fix_quiet;
    return o;
}

static inline struct storage_log *fix_open(const struct storage_log_options *o, const char *dir)
{
    struct storage_log *log = NULL;
    char msg[512];
    int rc = storage_log_open(dir, o, &log, NULL, msg, sizeof(msg));
    ck_assert_msg(rc == 0, "open %s: %s: %s", dir, storage_err_name(rc), msg);
    ck_assert_ptr_nonnull(log);
    return log;
}

static inline int fix_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A fresh directory under /tmp; fix_tmpdir_remove deletes it and everything in it. */
static inline void fix_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/raftmq-storage-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

static inline void fix_tmpdir_remove(const char *dir)
{
    nftw(dir, fix_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
