/*
 * Tests broker/storage: the stored entry frame, the partition log's
 * append/read/truncate/reopen cycle across segment boundaries, lookups by
 * Raft index and by message offset, prefix drops and retention by age and
 * size, hard state, and group commit through the syncer.
 *
 * How: most tests run on storage_memfs (segment sizes of a few KiB, so a
 * few hundred entries cross many boundaries); the round trips also run on
 * the real file system in a mkdtemp directory. Every payload is generated
 * from its entry's index and term (storage_fixture.h), so each read is
 * checked byte for byte. The frame layout is cross-checked with msgpack-c's
 * unpacker as an independent decoder.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <msgpack.h>

#include "broker/storage/entry.h"
#include "broker/storage/file.h"
#include "broker/storage/hardstate.h"
#include "broker/storage/syncer.h"
#include "tests/unit/storage_fixture.h"
#include "tests/unit/suites.h"

/* ---- entry frames ---------------------------------------------------------------- */

START_TEST(test_entry_layout)
{
    uint8_t payload[5] = {1, 2, 3, 4, 5};
    struct storage_entry e = {.index = 7, .term = 3, .type = 1, .first_offset = 1000,
                              .offset_count = 12, .payload = payload, .payload_len = 5};
    uint8_t frame[STORAGE_ENTRY_HEADER_BYTES + 5];
    storage_entry_encode_header(&e, frame);
    memcpy(frame + STORAGE_ENTRY_HEADER_BYTES, payload, 5);
    /* Fixed positions: length 45, payload at byte 48. */
    ck_assert_uint_eq(frame[0], 0);
    ck_assert_uint_eq(frame[3], 45);
    ck_assert_uint_eq(frame[8], 0x96);
    ck_assert_uint_eq(frame[17], 7);
    ck_assert_uint_eq(frame[43], 0xc6);
    ck_assert_uint_eq(frame[47], 5);

    /* msgpack-c reads bytes [8, end) as one array of six, payload as bin. */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&u, (const char *)frame + 8, sizeof(frame) - 8, &off),
                     MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, sizeof(frame) - 8);
    msgpack_object o = u.data;
    ck_assert_int_eq(o.type, MSGPACK_OBJECT_ARRAY);
    ck_assert_uint_eq(o.via.array.size, 6);
    ck_assert_uint_eq(o.via.array.ptr[0].via.u64, 7);
    ck_assert_uint_eq(o.via.array.ptr[1].via.u64, 3);
    ck_assert_uint_eq(o.via.array.ptr[2].via.u64, 1);
    ck_assert_uint_eq(o.via.array.ptr[3].via.u64, 1000);
    ck_assert_uint_eq(o.via.array.ptr[4].via.u64, 12);
    ck_assert_int_eq(o.via.array.ptr[5].type, MSGPACK_OBJECT_BIN);
    ck_assert_uint_eq(o.via.array.ptr[5].via.bin.size, 5);
    ck_assert_mem_eq(o.via.array.ptr[5].via.bin.ptr, payload, 5);
    msgpack_unpacked_destroy(&u);

    struct storage_entry d;
    size_t n = 0;
    const char *why = NULL;
    ck_assert_int_eq(storage_entry_decode(frame, sizeof(frame), &d, &n, &why),
                     STORAGE_ENTRY_DECODED);
    ck_assert_uint_eq(n, sizeof(frame));
    ck_assert_uint_eq(d.first_offset, 1000);
    ck_assert_ptr_eq(d.payload, frame + 48);
    /* Every strict prefix asks for more; never decodes. */
    for (size_t cut = 0; cut < sizeof(frame); cut++)
        ck_assert_int_eq(storage_entry_decode(frame, cut, &d, &n, &why),
                         STORAGE_ENTRY_NEED_MORE);
}
END_TEST

START_TEST(test_entry_every_bit_flip_rejected)
{
    uint8_t payload[40];
    for (int i = 0; i < 40; i++)
        payload[i] = (uint8_t)(i * 7);
    struct storage_entry e = {.index = 99, .term = 4, .type = 0, .first_offset = 5,
                              .offset_count = 1, .payload = payload, .payload_len = 40};
    uint8_t frame[STORAGE_ENTRY_HEADER_BYTES + 40];
    storage_entry_encode_header(&e, frame);
    memcpy(frame + STORAGE_ENTRY_HEADER_BYTES, payload, 40);
    for (size_t bit = 0; bit < sizeof(frame) * 8; bit++) {
        frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        struct storage_entry d;
        size_t n;
        const char *why = NULL;
        int r = storage_entry_decode(frame, sizeof(frame), &d, &n, &why);
        ck_assert_msg(r != STORAGE_ENTRY_DECODED, "bit %zu flipped still decodes", bit);
        frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
END_TEST

/* ---- round trips ----------------------------------------------------------------- */

START_TEST(test_round_trip_memfs)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    ck_assert_uint_eq(storage_log_first_index(log), 1);
    ck_assert_uint_eq(storage_log_last_index(log), 0);
    fix_append(log, 1, 600, 2, 300);
    ck_assert_uint_eq(storage_log_last_index(log), 600);
    ck_assert_uint_eq(storage_log_last_term(log), 2);
    ck_assert_uint_gt(storage_log_segment_count(log), 20);
    fix_check_range(log, 1, 600, 2, 1000);
    fix_check_range(log, 1, 600, 2, 1u << 20);
    uint64_t next_offset = storage_log_next_offset(log);
    ck_assert_int_eq(storage_log_sync(log), 0);
    ck_assert_uint_eq(storage_log_durable_index(log), 600);
    ck_assert_int_eq(storage_log_close(log), 0);

    struct storage_log_recovery rec;
    char msg[256];
    ck_assert_int_eq(storage_log_open(FIX_DIR, &o, &log, &rec, msg, sizeof(msg)), 0);
    /* Sealed segments came from their index, the last one from its checkpoint: nothing scanned. */
    ck_assert_uint_eq(rec.segments_scanned, 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.bytes_scanned, 0);
    ck_assert_uint_eq(rec.torn_bytes_truncated, 0);
    ck_assert_uint_eq(storage_log_last_index(log), 600);
    ck_assert_uint_eq(storage_log_next_offset(log), next_offset);
    /* Not durable until synced: a previous process's writes may be in the page cache only. */
    ck_assert_uint_eq(storage_log_durable_index(log), 0);
    unsigned syncs = storage_memfs_calls(m, STORAGE_MEMFS_FDATASYNC);
    ck_assert_int_eq(storage_log_sync(log), 0);
    ck_assert_uint_eq(storage_log_durable_index(log), 600);
    ck_assert_uint_eq(storage_memfs_calls(m, STORAGE_MEMFS_FDATASYNC) - syncs,
                      storage_log_segment_count(log));
    fix_check_range(log, 1, 600, 2, 3000);
    /* Appending continues the reopened log. */
    fix_append(log, 601, 700, 3, 300);
    fix_check_range(log, 590, 700, 0, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_round_trip_posix)
{
    char dir[64], part[96];
    fix_tmpdir(dir, sizeof(dir));
    snprintf(part, sizeof(part), "%s/topic-0", dir);
    struct storage_log_options o = fix_options(NULL, 64 * 1024);
    o.fs = NULL;
    struct storage_log *log = fix_open(&o, part);
    /* Large entries (direct writes) and small ones (buffered) interleaved. */
    uint8_t *buf = malloc(70000);
    for (uint64_t i = 1; i <= 300; i++) {
        uint32_t len = i % 10 == 0 ? 65536 : fix_len(i, 500);
        struct storage_entry e = fix_entry(i, 1, storage_log_next_offset(log), len, buf);
        ck_assert_int_eq(storage_log_append(log, &e, 1), 0);
    }
    free(buf);
    fix_check_range(log, 1, 300, 1, 200000);
    ck_assert_int_eq(storage_log_close(log), 0);
    char idx[160];
    snprintf(idx, sizeof(idx), "%s/%020d.idx", part, 1);
    ck_assert_int_eq(access(idx, F_OK), 0);
    snprintf(idx, sizeof(idx), "%s/%020d.log", part, 1);
    ck_assert_int_eq(access(idx, F_OK), 0);

    log = fix_open(&o, part);
    ck_assert_uint_eq(storage_log_last_index(log), 300);
    ck_assert_uint_gt(storage_log_segment_count(log), 10);
    fix_check_range(log, 1, 300, 1, 1u << 20);
    ck_assert_int_eq(storage_log_truncate_suffix(log, 150), 0);
    fix_append(log, 151, 160, 2, 100);
    ck_assert_int_eq(storage_log_close(log), 0);
    log = fix_open(&o, part);
    ck_assert_uint_eq(storage_log_last_index(log), 160);
    fix_check_range(log, 1, 150, 1, 1u << 20);
    fix_check_range(log, 151, 160, 2, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    fix_tmpdir_remove(dir);
    ck_assert_int_ne(access(dir, F_OK), 0);
}
END_TEST

START_TEST(test_append_rejects_bad_entries)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 5, 1, 10);
    uint8_t buf[16];
    struct storage_entry e = fix_entry(7, 1, storage_log_next_offset(log), 4, buf);
    ck_assert_serr(storage_log_append(log, &e, 1), STORAGE_ERR_INVALID); /* gap */
    e = fix_entry(5, 1, storage_log_next_offset(log), 4, buf);
    ck_assert_serr(storage_log_append(log, &e, 1), STORAGE_ERR_INVALID); /* repeat */
    e = fix_entry(6, 1, storage_log_next_offset(log) - 1, 4, buf);
    ck_assert_serr(storage_log_append(log, &e, 1), STORAGE_ERR_INVALID); /* offsets back */
    e = fix_entry(6, 1, storage_log_next_offset(log), 4, buf);
    e.payload_len = STORAGE_ENTRY_PAYLOAD_BYTES_MAX + 1;
    ck_assert_serr(storage_log_append(log, &e, 1), STORAGE_ERR_TOO_LARGE);
    /* A batch with a bad second entry appends nothing. */
    struct storage_entry two[2] = {fix_entry(6, 1, storage_log_next_offset(log), 4, buf),
                                   fix_entry(8, 1, storage_log_next_offset(log) + 9, 4, buf)};
    ck_assert_serr(storage_log_append(log, two, 2), STORAGE_ERR_INVALID);
    ck_assert_uint_eq(storage_log_last_index(log), 5);
    ck_assert_int_eq(storage_log_failed(log), 0);
    ck_assert_serr(storage_log_request_sync(log), STORAGE_ERR_INVALID); /* no syncer */
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- lookups --------------------------------------------------------------------- */

START_TEST(test_lookup_by_index_every_entry)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 8192);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 800, 5, 200);
    struct fix_reader *r = fix_reader_new();
    for (uint64_t i = 1; i <= 800; i++) {
        ck_assert_int_eq(storage_log_read_index(log, i, i, 1u << 20, &r->rd), 0);
        ck_assert_uint_eq(r->rd.count, 1);
        fix_check(&r->rd.entries[0], i, 5);
        uint64_t term;
        ck_assert_int_eq(storage_log_term(log, i, &term), 0);
        ck_assert_uint_eq(term, 5);
    }
    ck_assert_serr(storage_log_read_index(log, 0, 3, 100, &r->rd), STORAGE_ERR_RANGE);
    ck_assert_serr(storage_log_read_index(log, 801, 900, 100, &r->rd), STORAGE_ERR_RANGE);
    ck_assert_uint_eq(r->rd.count, 0);
    /* A byte limit below one entry still returns that entry; a buffer too small is FULL. */
    ck_assert_int_eq(storage_log_read_index(log, 10, 800, 1, &r->rd), 0);
    ck_assert_uint_eq(r->rd.count, 1);
    r->rd.buf_cap = 47;
    ck_assert_serr(storage_log_read_index(log, 10, 800, 1, &r->rd), STORAGE_ERR_FULL);
    r->rd.buf_cap = sizeof(r->buf);
    /* The byte limit is respected beyond the first entry. */
    ck_assert_int_eq(storage_log_read_index(log, 1, 800, 2000, &r->rd), 0);
    ck_assert_uint_le(r->rd.bytes, 2000);
    ck_assert_uint_gt(r->rd.count, 1);
    free(r);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_lookup_by_offset_every_offset)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 700, 1, 150);
    uint64_t end = storage_log_next_offset(log);
    ck_assert_uint_gt(end, 700); /* i % 4 records each: about 1.5 per entry */
    struct fix_reader *r = fix_reader_new();
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t off = 0; off < end; off++) {
            int rc = storage_log_read_offset(log, off, 600, &r->rd);
            ck_assert_msg(rc == 0, "offset %llu: %s", (unsigned long long)off,
                          storage_err_name(rc));
            ck_assert_uint_ge(r->rd.count, 1);
            const struct storage_entry *e = &r->rd.entries[0];
            ck_assert_uint_le(e->first_offset, off);
            ck_assert_uint_gt(e->first_offset + e->offset_count, off);
            fix_check(e, e->index, 1);
            for (size_t i = 1; i < r->rd.count; i++)
                ck_assert_uint_eq(r->rd.entries[i].index, e->index + i);
        }
        ck_assert_serr(storage_log_read_offset(log, end, 600, &r->rd), STORAGE_ERR_RANGE);
        /* Again after a reopen: lookups through index files. */
        ck_assert_int_eq(storage_log_close(log), 0);
        log = fix_open(&o, FIX_DIR);
    }
    /* After dropping a prefix, offsets below the log are out of range. */
    ck_assert_int_eq(storage_log_drop_prefix(log, 300), 0);
    uint64_t first = storage_log_first_offset(log);
    ck_assert_uint_gt(first, 0);
    ck_assert_serr(storage_log_read_offset(log, first - 1, 600, &r->rd), STORAGE_ERR_RANGE);
    ck_assert_int_eq(storage_log_read_offset(log, first, 600, &r->rd), 0);
    ck_assert_uint_eq(r->rd.entries[0].index, storage_log_first_index(log) +
                                                  (fix_count(storage_log_first_index(log)) ? 0 : 1));
    free(r);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- truncation, prefix drops, reset ------------------------------------------ */

START_TEST(test_truncate_suffix_everywhere)
{
    /* Cut at many points: mid-segment, at a segment's first entry, the whole log. */
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 2048);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 200, 1, 120);
    uint64_t cuts[] = {199, 150, 151, 100, 60, 1, 0};
    uint64_t term = 1;
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        uint64_t at = cuts[c];
        uint64_t offset_at = 0;
        if (at > 0) {
            struct fix_reader *r = fix_reader_new();
            ck_assert_int_eq(storage_log_read_index(log, at, at, 1, &r->rd), 0);
            offset_at = r->rd.entries[0].first_offset + r->rd.entries[0].offset_count;
            free(r);
        } else {
            offset_at = storage_log_first_offset(log);
        }
        ck_assert_int_eq(storage_log_truncate_suffix(log, at), 0);
        ck_assert_uint_eq(storage_log_last_index(log), at);
        ck_assert_uint_eq(storage_log_next_offset(log), offset_at);
        ck_assert_uint_le(storage_log_durable_index(log), at);
        term++;
        fix_append(log, at + 1, at + 30, term, 120);
        ck_assert_int_eq(storage_log_sync(log), 0);
        ck_assert_uint_eq(storage_log_durable_index(log), at + 30);
        fix_check_range(log, at + 1, at + 30, term, 4096);
        ck_assert_int_eq(storage_log_close(log), 0);
        log = fix_open(&o, FIX_DIR);
        ck_assert_uint_eq(storage_log_last_index(log), at + 30);
        fix_check_range(log, at + 1, at + 30, term, 4096);
        if (at > 0)
            fix_check_range(log, 1, at, 0, 4096);
    }
    ck_assert_serr(storage_log_truncate_suffix(log, 1000), STORAGE_ERR_RANGE);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_drop_prefix_and_reset)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 2048);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 300, 1, 100);
    size_t segs = storage_log_segment_count(log);
    ck_assert_int_eq(storage_log_drop_prefix(log, 150), 0);
    uint64_t first = storage_log_first_index(log);
    ck_assert_uint_le(first, 150);
    ck_assert_uint_gt(first, 100);
    ck_assert_uint_lt(storage_log_segment_count(log), segs);
    struct fix_reader *r = fix_reader_new();
    ck_assert_serr(storage_log_read_index(log, first - 1, first, 100, &r->rd), STORAGE_ERR_RANGE);
    free(r);
    fix_check_range(log, first, 300, 1, 5000);
    /* The active segment is never dropped, whatever the index. */
    ck_assert_int_eq(storage_log_drop_prefix(log, 100000), 0);
    ck_assert_uint_eq(storage_log_segment_count(log), 1);
    ck_assert_uint_eq(storage_log_last_index(log), 300);
    ck_assert_int_eq(storage_log_close(log), 0);
    log = fix_open(&o, FIX_DIR);
    ck_assert_uint_eq(storage_log_last_index(log), 300);
    ck_assert_uint_gt(storage_log_first_index(log), 150);
    /* Reset after a snapshot: empty, continuing at 1000 with offsets from 5000. */
    ck_assert_int_eq(storage_log_reset(log, 1000, 5000), 0);
    ck_assert_uint_eq(storage_log_first_index(log), 1000);
    ck_assert_uint_eq(storage_log_last_index(log), 999);
    ck_assert_uint_eq(storage_log_next_offset(log), 5000);
    fix_append(log, 1000, 1010, 7, 50);
    ck_assert_int_eq(storage_log_close(log), 0);
    log = fix_open(&o, FIX_DIR);
    ck_assert_uint_eq(storage_log_first_index(log), 1000);
    ck_assert_uint_eq(storage_log_first_offset(log), 5000);
    fix_check_range(log, 1000, 1010, 7, 5000);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- retention ----------------------------------------------------------------- */

START_TEST(test_retention_by_age)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 2048);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    /* Segments written one minute apart. */
    int64_t t0 = 1700000000000;
    for (int k = 0; k < 10; k++) {
        storage_memfs_set_time(m, t0 + k * 60000);
        fix_append(log, (uint64_t)k * 40 + 1, (uint64_t)k * 40 + 40, 1, 100);
    }
    size_t segs = storage_log_segment_count(log);
    ck_assert_uint_gt(segs, 10);
    struct storage_retention keep5min = {.age_ms_max = 5 * 60000};
    int64_t now = t0 + 10 * 60000;
    /* Nothing committed: nothing goes, however old. */
    uint64_t first = 0;
    ck_assert_int_eq(storage_log_apply_retention(log, &keep5min, now, 0, &first), 0);
    ck_assert_uint_eq(first, 1);
    ck_assert_uint_eq(storage_log_segment_count(log), segs);
    /* Committed up to 100: only segments entirely <= 100 may go. */
    ck_assert_int_eq(storage_log_apply_retention(log, &keep5min, now, 100, &first), 0);
    ck_assert_uint_le(first, 101);
    ck_assert_uint_gt(first, 1);
    /* All committed: segments last written more than 5 minutes ago go. */
    ck_assert_int_eq(storage_log_apply_retention(log, &keep5min, now, 400, &first), 0);
    ck_assert_uint_gt(first, 160);
    ck_assert_uint_le(first, 241);
    fix_check_range(log, first, 400, 1, 4096);
    /* Disabled policy keeps everything. */
    struct storage_retention off = {0};
    size_t left = storage_log_segment_count(log);
    ck_assert_int_eq(storage_log_apply_retention(log, &off, now + 1000000000, 400, &first), 0);
    ck_assert_uint_eq(storage_log_segment_count(log), left);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_retention_by_size)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 1000, 1, 100);
    uint64_t total = storage_log_bytes(log);
    ck_assert_uint_gt(total, 40000);
    struct storage_retention cap = {.bytes_max = 20000};
    uint64_t first;
    ck_assert_int_eq(storage_log_apply_retention(log, &cap, 0, 1000, &first), 0);
    ck_assert_uint_le(storage_log_bytes(log), 20000);
    ck_assert_uint_gt(storage_log_bytes(log), 20000 - 4096);
    ck_assert_uint_gt(first, 1);
    fix_check_range(log, first, 1000, 1, 8192);
    /* Never past what the Raft group still needs. */
    cap.bytes_max = 1;
    ck_assert_int_eq(storage_log_apply_retention(log, &cap, 0, first + 50, &first), 0);
    ck_assert_uint_le(storage_log_first_index(log), first);
    ck_assert_int_eq(storage_log_apply_retention(log, &cap, 0, 1000, &first), 0);
    ck_assert_uint_eq(storage_log_segment_count(log), 1); /* the active segment stays */
    ck_assert_uint_eq(storage_log_last_index(log), 1000);
    ck_assert_int_eq(storage_log_close(log), 0);
    /* The deletions are durable: a power loss now does not bring segments back. */
    struct storage_memfs *lost = storage_memfs_clone(m, 1);
    o.fs = storage_memfs_fs(lost);
    log = fix_open(&o, FIX_DIR);
    ck_assert_uint_eq(storage_log_segment_count(log), 1);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(lost);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- hard state ---------------------------------------------------------------- */

START_TEST(test_hardstate_round_trip)
{
    struct storage_memfs *m = storage_memfs_create();
    const struct storage_fs *fs = storage_memfs_fs(m);
    struct storage_hardstate *hs = calloc(1, sizeof(*hs)), *got = calloc(1, sizeof(*got));
    ck_assert_int_eq(storage_hardstate_load(fs, FIX_DIR, got, NULL), 0);
    ck_assert_uint_eq(got->current_term, 0);
    ck_assert_uint_eq(got->meta_len, 0);
    hs->current_term = 9;
    hs->voted_for = 3;
    hs->commit_index = 77;
    hs->meta_len = STORAGE_HARDSTATE_META_BYTES_MAX;
    for (uint32_t i = 0; i < hs->meta_len; i++)
        hs->meta[i] = (uint8_t)(i * 13);
    ck_assert_int_eq(storage_hardstate_save(fs, FIX_DIR, hs, NULL), 0);
    ck_assert_int_eq(storage_hardstate_load(fs, FIX_DIR, got, NULL), 0);
    ck_assert_uint_eq(got->current_term, 9);
    ck_assert_uint_eq(got->voted_for, 3);
    ck_assert_uint_eq(got->commit_index, 77);
    ck_assert_uint_eq(got->meta_len, hs->meta_len);
    ck_assert_mem_eq(got->meta, hs->meta, hs->meta_len);
    hs->meta_len = STORAGE_HARDSTATE_META_BYTES_MAX + 1;
    ck_assert_serr(storage_hardstate_save(fs, FIX_DIR, hs, NULL), STORAGE_ERR_INVALID);
    /* Every bit flip and every truncation of the file is detected. */
    hs->meta_len = 10;
    ck_assert_int_eq(storage_hardstate_save(fs, FIX_DIR, hs, NULL), 0);
    uint8_t file[128];
    int64_t len = storage_memfs_get(m, FIX_DIR "/hardstate", file, sizeof(file));
    ck_assert_int_eq(len, STORAGE_HARDSTATE_FIXED_BYTES + 10);
    for (int64_t bit = 0; bit < len * 8; bit++) {
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        storage_memfs_put(m, FIX_DIR "/hardstate", file, (size_t)len);
        ck_assert_serr(storage_hardstate_load(fs, FIX_DIR, got, NULL), STORAGE_ERR_CORRUPT);
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (int64_t cut = 0; cut < len; cut++) {
        storage_memfs_put(m, FIX_DIR "/hardstate", file, (size_t)cut);
        ck_assert_serr(storage_hardstate_load(fs, FIX_DIR, got, NULL), STORAGE_ERR_CORRUPT);
    }
    free(hs);
    free(got);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_log_refuses_log_below_commit)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 40, 1, 50);
    struct storage_hardstate *hs = calloc(1, sizeof(*hs));
    hs->current_term = 1;
    hs->commit_index = 40;
    ck_assert_int_eq(storage_log_save_hardstate(log, hs), 0);
    ck_assert_int_eq(storage_log_close(log), 0);
    log = fix_open(&o, FIX_DIR);
    struct storage_hardstate *got = calloc(1, sizeof(*got));
    ck_assert_int_eq(storage_log_load_hardstate(log, got), 0);
    ck_assert_uint_eq(got->commit_index, 40);
    ck_assert_int_eq(storage_log_truncate_suffix(log, 30), 0); /* a broker bug, for the test */
    ck_assert_int_eq(storage_log_close(log), 0);
    char msg[512];
    ck_assert_serr(storage_log_open(FIX_DIR, &o, &log, NULL, msg, sizeof(msg)),
                   STORAGE_ERR_CORRUPT);
    ck_assert_ptr_null(log);
    ck_assert_ptr_nonnull(strstr(msg, "commit index 40"));
    ck_assert_ptr_nonnull(strstr(msg, "ends at index 30"));
    free(hs);
    free(got);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- group commit ---------------------------------------------------------------- */

static void drain(struct storage_syncer *s, struct storage_log **logs, size_t n)
{
    /* Poll until every log is durable to its last index; bounded by a generous count. */
    for (int spins = 0; spins < 200000; spins++) {
        struct storage_completion c[8];
        size_t got = storage_syncer_poll(s, c, 8);
        for (size_t i = 0; i < got; i++)
            ck_assert_int_eq(c[i].err, 0);
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += storage_log_durable_index(logs[i]) == storage_log_last_index(logs[i]);
        if (done == n)
            return;
        usleep(100);
    }
    ck_abort_msg("syncs did not complete");
}

/* Polls completions until the syncer reports hard state `version` saved or
 * the log failed; returns the error seen (0 if none). */
static int drain_hardstate(struct storage_syncer *s, uint64_t version)
{
    for (int spins = 0; spins < 200000; spins++) {
        struct storage_completion c[8];
        size_t got = storage_syncer_poll(s, c, 8);
        for (size_t i = 0; i < got; i++) {
            if (c[i].err != 0)
                return c[i].err;
            if (c[i].hardstate_saved >= version)
                return 0;
        }
        usleep(100);
    }
    ck_abort_msg("the hard state save did not complete");
    return -1;
}

/*
 * Hard state saved by the syncer: nothing is durable before the completion
 * says so; a request made before the syncer took the previous one replaces
 * it; the data appended before a request is durable when its save is; a
 * failed save fail-stops the log (never retried).
 */
START_TEST(test_hardstate_saved_by_syncer)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    struct storage_syncer *syncer;
    ck_assert_int_eq(storage_syncer_create(1, &syncer), 0);
    o.syncer = syncer;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 20, 3, 100);

    struct storage_hardstate a = {.current_term = 3, .voted_for = 2, .commit_index = 10, .meta_len = 1};
    a.meta[0] = 0xaa;
    struct storage_hardstate b = a;
    b.voted_for = 0;
    b.current_term = 4;
    uint64_t va = 0, vb = 0;
    storage_memfs_hold_syncs(m, 1); /* the syncer blocks in its data sync */
    ck_assert_int_eq(storage_log_request_hardstate(log, &a, &va), 0);
    ck_assert_int_eq(storage_log_request_hardstate(log, &b, &vb), 0);
    ck_assert_uint_gt(vb, va);
    ck_assert_uint_lt(storage_log_hardstate_saved(log), va);
    struct storage_memfs *before = storage_memfs_clone(m, 1);
    storage_memfs_hold_syncs(m, 0);
    ck_assert_int_eq(drain_hardstate(syncer, vb), 0);
    ck_assert_uint_ge(storage_log_hardstate_saved(log), vb);
    ck_assert_uint_eq(storage_log_durable_index(log), 20);

    /* What a power loss leaves: nothing before the completion, b after it. */
    struct storage_hardstate got;
    int sys = 0;
    ck_assert_int_eq(storage_hardstate_load(storage_memfs_fs(before), FIX_DIR, &got, &sys), 0);
    ck_assert_uint_eq(got.current_term, 0);
    struct storage_memfs *after = storage_memfs_clone(m, 1);
    ck_assert_int_eq(storage_hardstate_load(storage_memfs_fs(after), FIX_DIR, &got, &sys), 0);
    ck_assert_uint_eq(got.current_term, 4);
    ck_assert_uint_eq(got.voted_for, 0);
    ck_assert_uint_eq(got.commit_index, 10);
    ck_assert_uint_eq(got.meta[0], 0xaa);

    /* A failed save (the rename) stops the log. */
    storage_memfs_fail(m, STORAGE_MEMFS_RENAME, 0, EIO, 0);
    uint64_t vc = 0;
    ck_assert_int_eq(storage_log_request_hardstate(log, &a, &vc), 0);
    ck_assert_int_ne(drain_hardstate(syncer, vc), 0);
    ck_assert_uint_lt(storage_log_hardstate_saved(log), vc);
    ck_assert_int_ne(storage_log_failed(log), 0);
    ck_assert_int_eq(storage_log_request_hardstate(log, &a, NULL), STORAGE_ERR_FAILED);

    storage_log_close(log);
    storage_syncer_destroy(syncer);
    storage_memfs_destroy(before);
    storage_memfs_destroy(after);
    storage_memfs_destroy(m);
}
END_TEST

/*
 * fsync=never with a syncer: a sync request completes at once (nobody waits
 * for the disk), and the syncer still writes the data back in the
 * background, so a power loss after it loses nothing.
 */
START_TEST(test_fsync_never_writes_back_in_background)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    o.fsync_policy = STORAGE_FSYNC_NEVER;
    struct storage_syncer *syncer;
    ck_assert_int_eq(storage_syncer_create(1, &syncer), 0);
    o.syncer = syncer;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 50, 2, 200);
    storage_memfs_hold_syncs(m, 1); /* the disk does not answer yet */
    ck_assert_int_eq(storage_log_request_sync(log), 0);
    ck_assert_uint_eq(storage_log_durable_index(log), 50); /* not waiting for it */
    for (int spins = 0; spins < 100000 && storage_memfs_syncs_held(m) == 0; spins++)
        usleep(100);
    ck_assert_int_eq(storage_memfs_syncs_held(m), 1); /* the background fdatasync runs */
    storage_memfs_hold_syncs(m, 0);
    for (int spins = 0; spins < 100000 && storage_log_fsync_count(log) == 0; spins++)
        usleep(100);
    ck_assert_uint_gt(storage_log_fsync_count(log), 0);
    drain(syncer, &log, 1);
    /* Power loss now: everything is there. */
    struct storage_memfs *c = storage_memfs_clone(m, 1);
    struct storage_log_options oc = fix_options(storage_memfs_fs(c), 1u << 20);
    struct storage_log *lc = fix_open(&oc, FIX_DIR);
    ck_assert_uint_eq(storage_log_last_index(lc), 50);
    ck_assert_int_eq(storage_log_close(lc), 0);
    storage_memfs_destroy(c);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_syncer_destroy(syncer);
    storage_memfs_destroy(m);
}
END_TEST

/*
 * Periodic checkpoints: appends and syncs well past the threshold, then a
 * process crash (no close): reopen resumes from the last periodic
 * checkpoint and scans less than one threshold of bytes, not the segment.
 * Through the blocking sync, through the syncer (the checkpoint is written
 * by the owner thread when it next asks for a sync), and with fsync=never.
 */
static void crash_after_periodic_checkpoints(int mode)
{
    enum { BLOCKING, SYNCER, NEVER };
    const uint64_t threshold = 4096;
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    o.checkpoint_bytes = threshold;
    struct storage_syncer *syncer = NULL;
    if (mode == SYNCER) {
        ck_assert_int_eq(storage_syncer_create(1, &syncer), 0);
        o.syncer = syncer;
    }
    if (mode == NEVER)
        o.fsync_policy = STORAGE_FSYNC_NEVER;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    for (uint64_t i = 1; i <= 1000; i += 10) {
        fix_append(log, i, i + 9, 2, 300);
        if (mode == SYNCER) {
            ck_assert_int_eq(storage_log_request_sync(log), 0);
            drain(syncer, &log, 1);
        } else {
            ck_assert_int_eq(storage_log_sync(log), 0);
        }
    }
    if (mode == SYNCER) /* the owner thread looks at what the last completion made durable */
        ck_assert_int_eq(storage_log_request_sync(log), 0);
    const char *seg = FIX_DIR "/00000000000000000001.log";
    int64_t size = storage_memfs_size(m, seg);
    ck_assert_int_gt(size, 100000); /* ~150 KB: dozens of thresholds */
    struct storage_memfs *c = storage_memfs_clone(m, 0); /* the process dies here */
    if (mode == SYNCER)
        drain(syncer, &log, 1);
    ck_assert_int_eq(storage_log_close(log), 0);
    if (syncer != NULL)
        storage_syncer_destroy(syncer);

    struct storage_log_recovery rec;
    char msg[256];
    struct storage_log_options oc = fix_options(storage_memfs_fs(c), 1u << 20);
    oc.fsync_policy = o.fsync_policy;
    ck_assert_int_eq(storage_log_open(FIX_DIR, &oc, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.segments_scanned, 0);
    ck_assert_uint_lt(rec.bytes_scanned, threshold);
    ck_assert_uint_eq(rec.torn_bytes_truncated, 0);
    ck_assert_uint_eq(storage_log_last_index(log), 1000);
    fix_check_range(log, 1, 1000, 2, 1000);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(c);
    storage_memfs_destroy(m);
}

START_TEST(test_crash_after_periodic_checkpoints)
{
    crash_after_periodic_checkpoints(_i);
}
END_TEST

/*
 * The default threshold: max(256 KiB, 8 x the .idx's size) of new durable
 * bytes between two periodic checkpoints (a dense index, one point per
 * 256 bytes, makes the second term win after the first checkpoint).
 */
START_TEST(test_periodic_checkpoint_default_threshold)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 64u << 20);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    const char *idx = FIX_DIR "/00000000000000000001.idx";
    const char *seg = FIX_DIR "/00000000000000000001.log";
    uint64_t last = 0;
    int64_t covered_before = 0;
    unsigned writes = 0, by_factor = 0;
    while (storage_memfs_size(m, seg) < (int64_t)(3u << 20)) {
        fix_append(log, last + 1, last + 50, 1, 300);
        last += 50;
        ck_assert_int_eq(storage_log_sync(log), 0);
        int64_t isz = storage_memfs_size(m, idx);
        if (isz < 0)
            continue;
        uint8_t head[64];
        ck_assert_int_ge(storage_memfs_get(m, idx, head, sizeof(head)), (int64_t)sizeof(head));
        int64_t covered = 0;
        for (int b = 0; b < 8; b++)
            covered = covered << 8 | head[56 + b];
        if (covered == covered_before)
            continue;
        /* A new checkpoint: the gap since the last one is max(256 KiB, 8 x the .idx). */
        int64_t want = 8 * isz > 256 * 1024 ? 8 * isz : 256 * 1024;
        by_factor += want > 256 * 1024;
        ck_assert_int_ge(covered - covered_before, want);
        ck_assert_int_lt(covered - covered_before, want + 50 * 400);
        covered_before = covered;
        writes++;
    }
    ck_assert_uint_ge(writes, 3);
    ck_assert_uint_ge(by_factor, 1);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_hung_fdatasync_is_bounded)
{
    /* A disk that stops answering must not hang the broker's loop: calls
     * that wait for a running fdatasync give up after sync_wait_ms and the
     * partition fail-stops; close refuses to free a log the syncer thread
     * still uses, and succeeds once the disk answers. */
    struct storage_memfs *m = storage_memfs_create();
    struct storage_syncer *s;
    ck_assert_int_eq(storage_syncer_create(1, &s), 0);
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 16384);
    o.syncer = s;
    o.sync_wait_ms = 50;
    struct storage_log *log = fix_open(&o, "/p");
    fix_append(log, 1, 10, 1, 64);
    storage_memfs_hold_syncs(m, 1);
    ck_assert_int_eq(storage_log_request_sync(log), 0);
    for (int spins = 0; spins < 100000 && storage_memfs_syncs_held(m) == 0; spins++)
        usleep(100);
    ck_assert_int_eq(storage_memfs_syncs_held(m), 1);
    ck_assert_serr(storage_log_truncate_suffix(log, 5), STORAGE_ERR_IO);
    ck_assert_int_ne(storage_log_failed(log), 0);
    ck_assert_uint_eq(storage_log_durable_index(log), 0);
    ck_assert_serr(storage_log_close(log), STORAGE_ERR_BUSY); /* still in use */
    storage_memfs_hold_syncs(m, 0);
    /* Once the disk answers, close frees the log (retried: each attempt
     * waits at most 50 ms for the syncer thread to let go of it). */
    int rc = STORAGE_ERR_BUSY;
    for (int tries = 0; tries < 200 && rc == STORAGE_ERR_BUSY; tries++)
        rc = storage_log_close(log);
    ck_assert_int_eq(rc, 0);
    storage_syncer_destroy(s);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_group_commit)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_syncer *s;
    ck_assert_int_eq(storage_syncer_create(4, &s), 0);
    ck_assert_int_ge(storage_syncer_fd(s), 0);
    struct storage_log *logs[4];
    for (int i = 0; i < 4; i++) {
        struct storage_log_options o = fix_options(storage_memfs_fs(m), 16384);
        o.syncer = s;
        o.user_data = &logs[i];
        char dir[16];
        snprintf(dir, sizeof(dir), "/p%d", i);
        logs[i] = fix_open(&o, dir);
    }
    /* A fifth log does not fit the syncer. */
    struct storage_log_options o5 = fix_options(storage_memfs_fs(m), 16384);
    o5.syncer = s;
    struct storage_log *fifth = NULL;
    ck_assert_serr(storage_log_open("/p4", &o5, &fifth, NULL, NULL, 0), STORAGE_ERR_FULL);
    unsigned before = storage_memfs_calls(m, STORAGE_MEMFS_FDATASYNC);
    for (uint64_t i = 1; i <= 2000; i++) {
        struct storage_log *log = logs[i % 4];
        uint64_t idx = storage_log_last_index(log) + 1;
        fix_append(log, idx, idx, 1, 64);
        ck_assert_int_eq(storage_log_request_sync(log), 0);
        ck_assert_uint_le(storage_log_durable_index(log), storage_log_last_index(log));
    }
    drain(s, logs, 4);
    unsigned syncs = storage_memfs_calls(m, STORAGE_MEMFS_FDATASYNC) - before;
    ck_assert_uint_gt(syncs, 0);
    ck_assert_uint_le(syncs, storage_syncer_fsync_count(s));
    /* A completion names the log and its user data. */
    fix_append(logs[2], 501, 501, 1, 10);
    ck_assert_int_eq(storage_log_request_sync(logs[2]), 0);
    int seen = 0;
    for (int spins = 0; spins < 100000 && !seen; spins++) {
        struct storage_completion c[4];
        size_t got = storage_syncer_poll(s, c, 4);
        for (size_t i = 0; i < got; i++)
            if (c[i].log == logs[2] && c[i].durable_index == 501) {
                ck_assert_ptr_eq(c[i].user_data, &logs[2]);
                seen = 1;
            }
        if (!seen)
            usleep(100);
    }
    ck_assert(seen);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(storage_log_durable_index(logs[i]), storage_log_last_index(logs[i]));
        ck_assert_int_eq(storage_log_close(logs[i]), 0);
    }
    storage_syncer_destroy(s);
    /* Everything completed as durable survives a power loss. */
    struct storage_memfs *lost = storage_memfs_clone(m, 1);
    struct storage_log_options o = fix_options(storage_memfs_fs(lost), 16384);
    struct storage_log *log = fix_open(&o, "/p2");
    ck_assert_uint_eq(storage_log_last_index(log), 501);
    fix_check_range(log, 1, 501, 1, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(lost);
    storage_memfs_destroy(m);
}
END_TEST

/*
 * The checkpoint written at close: the next open scans nothing of the last
 * segment, and after appends and a process crash (the checkpoint is older
 * than the file) it scans exactly the bytes appended since.
 */
START_TEST(test_reopen_scans_only_the_tail)
{
    struct storage_memfs *m = storage_memfs_create();
    const char *seg = FIX_DIR "/00000000000000000001.log";
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 500, 2, 300);
    ck_assert_int_eq(storage_log_close(log), 0);
    int64_t at_close = storage_memfs_size(m, seg);
    ck_assert_int_gt(at_close, 50000);
    ck_assert_int_gt(storage_memfs_size(m, FIX_DIR "/00000000000000000001.idx"), 0);

    struct storage_log_recovery rec;
    char msg[256];
    ck_assert_int_eq(storage_log_open(FIX_DIR, &o, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.bytes_scanned, 0);
    ck_assert_uint_eq(rec.segments_scanned, 0);
    ck_assert_uint_eq(storage_log_last_index(log), 500);
    ck_assert_uint_eq(storage_log_last_term(log), 2);
    uint64_t next_offset = storage_log_next_offset(log);
    /* The loaded sparse index serves lookups (every entry by index and by offset). */
    fix_check_range(log, 1, 500, 2, 1000);
    fix_append(log, 501, 530, 3, 300);
    ck_assert_int_eq(storage_log_sync(log), 0);
    int64_t now = storage_memfs_size(m, seg);
    /* A process crash: files as written, the checkpoint from the first close. */
    struct storage_memfs *c = storage_memfs_clone(m, 0);
    ck_assert_int_eq(storage_log_close(log), 0);

    struct storage_log_options oc = fix_options(storage_memfs_fs(c), 1u << 20);
    ck_assert_int_eq(storage_log_open(FIX_DIR, &oc, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.bytes_scanned, (uint64_t)(now - at_close));
    ck_assert_uint_eq(rec.torn_bytes_truncated, 0);
    ck_assert_uint_eq(storage_log_last_index(log), 530);
    ck_assert_uint_eq(storage_log_last_term(log), 3);
    ck_assert_uint_gt(storage_log_next_offset(log), next_offset);
    fix_check_range(log, 1, 500, 2, 1u << 20);
    fix_check_range(log, 501, 530, 3, 1000);
    struct fix_reader *r = fix_reader_new();
    for (uint64_t off = 0; off < storage_log_next_offset(log); off += 7) {
        ck_assert_int_eq(storage_log_read_offset(log, off, 1, &r->rd), 0);
        const struct storage_entry *e = &r->rd.entries[0];
        ck_assert_msg(e->first_offset <= off && off < e->first_offset + e->offset_count,
                      "offset %llu", (unsigned long long)off);
    }
    free(r);
    ck_assert_int_eq(storage_log_close(log), 0);
    /* That close checkpoints everything again. */
    ck_assert_int_eq(storage_log_open(FIX_DIR, &oc, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.bytes_scanned, 0);
    ck_assert_uint_eq(storage_log_last_index(log), 530);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(c);
    storage_memfs_destroy(m);
}
END_TEST

Suite *storage_suite(void)
{
    Suite *s = suite_create("storage");

    TCase *entry = tcase_create("entry");
    tcase_add_test(entry, test_entry_layout);
    tcase_add_test(entry, test_entry_every_bit_flip_rejected);
    suite_add_tcase(s, entry);

    TCase *log = tcase_create("log");
    tcase_set_timeout(log, 60);
    tcase_add_test(log, test_round_trip_memfs);
    tcase_add_test(log, test_round_trip_posix);
    tcase_add_test(log, test_reopen_scans_only_the_tail);
    tcase_add_test(log, test_append_rejects_bad_entries);
    tcase_add_test(log, test_lookup_by_index_every_entry);
    tcase_add_test(log, test_lookup_by_offset_every_offset);
    tcase_add_test(log, test_truncate_suffix_everywhere);
    tcase_add_test(log, test_drop_prefix_and_reset);
    suite_add_tcase(s, log);

    TCase *retention = tcase_create("retention");
    tcase_add_test(retention, test_retention_by_age);
    tcase_add_test(retention, test_retention_by_size);
    suite_add_tcase(s, retention);

    TCase *hard = tcase_create("hardstate");
    tcase_add_test(hard, test_hardstate_round_trip);
    tcase_add_test(hard, test_log_refuses_log_below_commit);
    suite_add_tcase(s, hard);

    TCase *sync = tcase_create("group_commit");
    tcase_set_timeout(sync, 60);
    tcase_add_test(sync, test_group_commit);
    tcase_add_test(sync, test_hardstate_saved_by_syncer);
    tcase_add_test(sync, test_fsync_never_writes_back_in_background);
    tcase_add_test(sync, test_hung_fdatasync_is_bounded);
    tcase_add_loop_test(sync, test_crash_after_periodic_checkpoints, 0, 3);
    tcase_add_test(sync, test_periodic_checkpoint_default_threshold);
    suite_add_tcase(s, sync);

    return s;
}
