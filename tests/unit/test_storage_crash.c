/*
 * Tests the crash safety of broker/storage: torn and bit-flipped tails,
 * corruption in the middle of the log, power loss at every point of a
 * scenario, injected ENOSPC / EIO / fdatasync failures, and hard-state
 * atomicity.
 *
 * How: everything runs on storage_memfs, which keeps each file's synced
 * bytes apart from its written bytes and the directory as of its last
 * fsync. storage_memfs_clone(m, 1) is the disk after a power loss at that
 * instant; the tests reopen the clone and require (1) that the log opens,
 * (2) that it holds everything reported durable before the loss, and
 * (3) that every entry in it is exactly one that was written (payloads are
 * a function of index and term, storage_fixture.h). storage_memfs_stop_after
 * stops the "machine" after N file-system calls, for N = 0, 1, 2, ... so
 * every prefix of a scenario's I/O is tried. Loops are bounded; the suite
 * runs in seconds.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "broker/storage/entry.h"
#include "broker/storage/file.h"
#include "broker/storage/hardstate.h"
#include "broker/storage/syncer.h"
#include "tests/unit/storage_fixture.h"
#include "tests/unit/suites.h"

#define LEN_MAX 200u

static uint64_t frame_of(uint64_t index)
{
    return STORAGE_ENTRY_HEADER_BYTES + fix_len(index, LEN_MAX);
}

/* A synced, closed log of entries 1..n in m; returns the path of its last segment. */
static void build(struct storage_memfs *m, uint64_t n, uint64_t segment_bytes, char *last_path,
                  size_t cap)
{
    struct storage_log_options o = fix_options(storage_memfs_fs(m), segment_bytes);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, n, 3, LEN_MAX);
    ck_assert_int_eq(storage_log_sync(log), 0);
    ck_assert_int_eq(storage_log_close(log), 0);
    /* The last segment is the one with the largest base. */
    uint64_t base = n;
    char path[128];
    for (;; base--) {
        snprintf(path, sizeof(path), FIX_DIR "/%020llu.log", (unsigned long long)base);
        if (storage_memfs_size(m, path) >= 0)
            break;
        ck_assert_uint_gt(base, 1);
    }
    snprintf(last_path, cap, "%s", path);
}

/* Opens the log in m and checks it holds exactly entries 1..last, all valid. */
static void expect_prefix(struct storage_memfs *m, uint64_t segment_bytes, uint64_t last)
{
    struct storage_log_options o = fix_options(storage_memfs_fs(m), segment_bytes);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    ck_assert_uint_eq(storage_log_last_index(log), last);
    if (last > 0)
        fix_check_range(log, 1, last, 3, 1u << 20);
    /* And it is usable: the next append lands and reads back. */
    fix_append(log, last + 1, last + 1, 4, LEN_MAX);
    fix_check_range(log, last + 1, last + 1, 4, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
}

static void crash_cut_every_byte(uint64_t n, uint64_t segment_bytes)
{
    struct storage_memfs *m = storage_memfs_create();
    char path[128];
    build(m, n, segment_bytes, path, sizeof(path));
    int64_t size = storage_memfs_size(m, path);
    uint8_t *file = malloc((size_t)size);
    ck_assert_int_eq(storage_memfs_get(m, path, file, (size_t)size), size);
    int64_t last_pos = size - (int64_t)frame_of(n);
    ck_assert_int_ge(last_pos, 0);
    for (int64_t cut = last_pos; cut <= size; cut++) {
        struct storage_memfs *c = storage_memfs_clone(m, 1);
        ck_assert_int_eq(storage_memfs_put(c, path, file, (size_t)cut), 0);
        expect_prefix(c, segment_bytes, cut == size ? n : n - 1);
        storage_memfs_destroy(c);
    }
    free(file);
    storage_memfs_destroy(m);
}

START_TEST(test_cut_last_entry_every_byte)
{
    crash_cut_every_byte(30, 1u << 20); /* one segment */
}
END_TEST

START_TEST(test_cut_last_entry_alone_in_its_segment)
{
    /* Segments of ~one entry: cutting the last one empties its segment, which recovery removes. */
    crash_cut_every_byte(12, STORAGE_SEGMENT_BYTES_MIN);
}
END_TEST

START_TEST(test_flip_every_bit_of_last_entry)
{
    struct storage_memfs *m = storage_memfs_create();
    char path[128];
    uint64_t n = 20;
    build(m, n, 1u << 20, path, sizeof(path));
    int64_t size = storage_memfs_size(m, path);
    uint8_t *file = malloc((size_t)size);
    ck_assert_int_eq(storage_memfs_get(m, path, file, (size_t)size), size);
    int64_t last_pos = size - (int64_t)frame_of(n);
    for (int64_t bit = last_pos * 8; bit < size * 8; bit++) {
        struct storage_memfs *c = storage_memfs_clone(m, 1);
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_int_eq(storage_memfs_put(c, path, file, (size_t)size), 0);
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        expect_prefix(c, 1u << 20, n - 1);
        storage_memfs_destroy(c);
    }
    free(file);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_mid_log_corruption_refused)
{
    struct storage_memfs *m = storage_memfs_create();
    char path[128];
    uint64_t n = 40;
    build(m, n, 1u << 20, path, sizeof(path));
    int64_t size = storage_memfs_size(m, path);
    uint8_t *file = malloc((size_t)size);
    ck_assert_int_eq(storage_memfs_get(m, path, file, (size_t)size), size);
    /* Entry k's frame position: the sum of the frames before it. */
    for (uint64_t k = 1; k < n; k += 7) {
        uint64_t pos = 0;
        for (uint64_t i = 1; i < k; i++)
            pos += frame_of(i);
        for (uint64_t at = pos; at < pos + frame_of(k); at += 13) {
            struct storage_memfs *c = storage_memfs_clone(m, 1);
            file[at] ^= 0x10;
            ck_assert_int_eq(storage_memfs_put(c, path, file, (size_t)size), 0);
            file[at] ^= 0x10;
            struct storage_log_options o = fix_options(storage_memfs_fs(c), 1u << 20);
            struct storage_log *log = NULL;
            char msg[512];
            ck_assert_serr(storage_log_open(FIX_DIR, &o, &log, NULL, msg, sizeof(msg)),
                           STORAGE_ERR_CORRUPT);
            ck_assert_ptr_null(log);
            char where[64];
            snprintf(where, sizeof(where), "byte %llu", (unsigned long long)pos);
            ck_assert_msg(strstr(msg, path) != NULL && strstr(msg, where) != NULL,
                          "message '%s' lacks '%s' or '%s'", msg, path, where);
            /* Nothing was cut: the file is as it was. */
            ck_assert_int_eq(storage_memfs_size(c, path), size);
            storage_memfs_destroy(c);
        }
    }
    free(file);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_sealed_segment_corruption)
{
    struct storage_memfs *m = storage_memfs_create();
    char path[128];
    build(m, 60, 2048, path, sizeof(path));
    const char *first = FIX_DIR "/00000000000000000001.log";
    int64_t size = storage_memfs_size(m, first);
    ck_assert_int_gt(size, 100);
    uint8_t *file = malloc((size_t)size);
    storage_memfs_get(m, first, file, (size_t)size);
    file[60] ^= 1; /* inside entry 1's payload or entry 2 */
    /*
     * With its index file (a process crash: index files are not synced, so
     * after a power loss they may be empty and are rebuilt), the damage
     * shows when the entry is read.
     */
    struct storage_memfs *c = storage_memfs_clone(m, 0);
    storage_memfs_put(c, first, file, (size_t)size);
    struct storage_log_options o = fix_options(storage_memfs_fs(c), 2048);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    struct fix_reader *r = fix_reader_new();
    ck_assert_serr(storage_log_read_index(log, 1, 60, 1u << 20, &r->rd), STORAGE_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(storage_log_errmsg(log), "00000000000000000001.log"));
    free(r);
    storage_log_close(log);
    /* Without it, recovery scans the segment and refuses to start. */
    const struct storage_fs *fs = storage_memfs_fs(c);
    ck_assert_int_eq(fs->unlink(fs->ctx, FIX_DIR "/00000000000000000001.idx"), 0);
    char msg[512];
    ck_assert_serr(storage_log_open(FIX_DIR, &o, &log, NULL, msg, sizeof(msg)),
                   STORAGE_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(msg, "sealed segment"));
    ck_assert_ptr_nonnull(strstr(msg, first));
    storage_memfs_destroy(c);
    /* A damaged (not missing) index is rebuilt from the intact segment. */
    c = storage_memfs_clone(m, 0);
    uint8_t junk[10] = {0};
    storage_memfs_put(c, FIX_DIR "/00000000000000000001.idx", junk, sizeof(junk));
    o.fs = storage_memfs_fs(c);
    struct storage_log_recovery rec;
    ck_assert_int_eq(storage_log_open(FIX_DIR, &o, &log, &rec, msg, sizeof(msg)), 0);
    /* Only the segment with the damaged index is scanned: the last one has its checkpoint. */
    ck_assert_uint_eq(rec.segments_scanned, 1);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.bytes_scanned, (uint64_t)size);
    fix_check_range(log, 1, 60, 3, 1u << 20);
    storage_log_close(log);
    storage_memfs_destroy(c);
    /* A missing segment in the middle is a gap, refused. */
    c = storage_memfs_clone(m, 1);
    fs = storage_memfs_fs(c);
    char second[128];
    for (uint64_t b = 2;; b++) {
        snprintf(second, sizeof(second), FIX_DIR "/%020llu.log", (unsigned long long)b);
        if (storage_memfs_size(c, second) >= 0)
            break;
    }
    ck_assert_str_ne(second, path);
    ck_assert_int_eq(fs->unlink(fs->ctx, second), 0);
    o.fs = fs;
    ck_assert_serr(storage_log_open(FIX_DIR, &o, &log, NULL, msg, sizeof(msg)),
                   STORAGE_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(msg, "missing"));
    storage_memfs_destroy(c);
    free(file);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- power loss ---------------------------------------------------------------- */

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/*
 * Opens the power-loss image of m and checks: it opens; it holds at least
 * `durable` entries; entries up to `durable` carry the terms in `terms`;
 * every entry is internally consistent.
 */
static void check_power_loss(struct storage_memfs *m, uint64_t segment_bytes, uint64_t durable,
                             const uint64_t *terms)
{
    struct storage_memfs *c = storage_memfs_clone(m, 1);
    struct storage_log_options o = fix_options(storage_memfs_fs(c), segment_bytes);
    struct storage_log *log = NULL;
    char msg[512];
    int rc = storage_log_open(FIX_DIR, &o, &log, NULL, msg, sizeof(msg));
    ck_assert_msg(rc == 0, "reopen after power loss: %s: %s", storage_err_name(rc), msg);
    uint64_t last = storage_log_last_index(log);
    ck_assert_msg(last >= durable, "durable %llu but only %llu survived",
                  (unsigned long long)durable, (unsigned long long)last);
    struct fix_reader *r = fix_reader_new();
    for (uint64_t i = 1; i <= last; i++) {
        ck_assert_int_eq(storage_log_read_index(log, i, i, 1, &r->rd), 0);
        fix_check(&r->rd.entries[0], i, i <= durable ? terms[i] : 0);
    }
    free(r);
    storage_log_close(log);
    storage_memfs_destroy(c);
}

/* Copies every current .idx of m whose .log survives into the power-loss image c:
 * the kernel may write an index file back before the log data it describes. */
struct idx_copy {
    struct storage_memfs *from, *to;
    unsigned copied;
};

static int copy_idx(void *arg, const char *name)
{
    struct idx_copy *ic = arg;
    size_t len = strlen(name);
    if (len != 24 || strcmp(name + 20, ".idx") != 0)
        return 0;
    char path[128], log_path[128];
    snprintf(path, sizeof(path), FIX_DIR "/%s", name);
    snprintf(log_path, sizeof(log_path), FIX_DIR "/%.20s.log", name);
    if (storage_memfs_size(ic->to, log_path) < 0)
        return 0;
    int64_t size = storage_memfs_size(ic->from, path);
    uint8_t *buf = malloc((size_t)size + 1);
    ck_assert_int_eq(storage_memfs_get(ic->from, path, buf, (size_t)size), size);
    ck_assert_int_eq(storage_memfs_put(ic->to, path, buf, (size_t)size), 0);
    free(buf);
    ic->copied++;
    return 0;
}

/*
 * check_power_loss, but the image also holds every index file as last
 * written (checkpoints included) while the logs hold only their synced
 * bytes: a checkpoint covering bytes that were not durable would be found
 * covering more than the file holds. *rec (optional) gets what recovery
 * did; without it an image with no index file to copy is not reopened.
 */
static unsigned check_power_loss_idx_written_back(struct storage_memfs *m, uint64_t segment_bytes,
                                                  uint64_t durable, const uint64_t *terms,
                                                  struct storage_log_recovery *rec)
{
    struct storage_memfs *c = storage_memfs_clone(m, 1);
    struct idx_copy ic = {m, c, 0};
    const struct storage_fs *mfs = storage_memfs_fs(m);
    /* After a stop_after the source refuses calls: nothing to copy then. */
    if (mfs->list_dir(mfs->ctx, FIX_DIR, copy_idx, &ic) != 0)
        ic.copied = 0;
    if (ic.copied == 0 && rec == NULL) {
        /* The same image check_power_loss opens: nothing more to learn. */
        storage_memfs_destroy(c);
        return 0;
    }
    struct storage_log_options o = fix_options(storage_memfs_fs(c), segment_bytes);
    struct storage_log *log = NULL;
    char msg[512];
    int rc = storage_log_open(FIX_DIR, &o, &log, rec, msg, sizeof(msg));
    ck_assert_msg(rc == 0, "reopen after power loss (index written back): %s: %s",
                  storage_err_name(rc), msg);
    uint64_t last = storage_log_last_index(log);
    ck_assert_msg(last >= durable, "durable %llu but only %llu survived",
                  (unsigned long long)durable, (unsigned long long)last);
    struct fix_reader *r = fix_reader_new();
    for (uint64_t i = 1; i <= last; i++) {
        ck_assert_int_eq(storage_log_read_index(log, i, i, 1, &r->rd), 0);
        fix_check(&r->rd.entries[0], i, i <= durable ? terms[i] : 0);
    }
    free(r);
    storage_log_close(log);
    storage_memfs_destroy(c);
    return ic.copied;
}

START_TEST(test_power_loss_random_scenarios)
{
    for (int round = 0; round < 8; round++) {
        struct storage_memfs *m = storage_memfs_create();
        uint64_t seg = round % 2 ? 1024 : 4096;
        struct storage_log_options o = fix_options(storage_memfs_fs(m), seg);
        struct storage_log *log = fix_open(&o, FIX_DIR);
        uint64_t terms[2000] = {0};
        uint64_t term = 1;
        for (int step = 0; step < 250; step++) {
            uint64_t op = next_rand() % 10;
            uint64_t last = storage_log_last_index(log);
            if (op <= 5 && last < 1900) {
                uint64_t k = 1 + next_rand() % 5;
                fix_append(log, last + 1, last + k, term, LEN_MAX);
                for (uint64_t i = last + 1; i <= last + k; i++)
                    terms[i] = term;
            } else if (op <= 7) {
                ck_assert_int_eq(storage_log_sync(log), 0);
                ck_assert_uint_eq(storage_log_durable_index(log), last);
            } else if (op == 8 && last > 0) {
                uint64_t cut = last - next_rand() % (last < 10 ? last : 10);
                ck_assert_int_eq(storage_log_truncate_suffix(log, cut), 0);
                term++;
            } else {
                check_power_loss(m, seg, storage_log_durable_index(log), terms);
            }
        }
        check_power_loss(m, seg, storage_log_durable_index(log), terms);
        storage_log_close(log);
        storage_memfs_destroy(m);
    }
}
END_TEST

/*
 * One scenario: appends, syncs, a truncation and a hard-state save. Returns
 * the durable index reached before the first failure.
 */
static uint64_t scenario(struct storage_log *log, uint64_t *terms)
{
    uint64_t durable = 0;
    for (uint64_t i = 1; i <= 40; i++) {
        uint64_t term = i > 25 ? 2 : 1;
        if (i == 26) {
            /* A new leader's entries replace 23..25. */
            if (storage_log_truncate_suffix(log, 22) != 0)
                return durable;
            if (durable > 22)
                durable = 22;
            ck_assert_uint_eq(storage_log_durable_index(log), durable);
        }
        uint64_t idx = storage_log_last_index(log) + 1;
        uint8_t buf[LEN_MAX + 1];
        struct storage_entry e = fix_entry(idx, term, storage_log_next_offset(log),
                                           fix_len(idx, LEN_MAX), buf);
        if (storage_log_append(log, &e, 1) != 0)
            return durable;
        terms[idx] = term;
        if (i % 4 == 0) {
            if (storage_log_sync(log) != 0)
                return durable;
            durable = storage_log_durable_index(log);
            ck_assert_uint_eq(durable, idx);
        }
    }
    return durable;
}

START_TEST(test_power_loss_after_every_io_call)
{
    /* How many file-system calls the whole scenario makes. */
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1024);
    /* Periodic checkpoints at (nearly) every sync: the sweep crosses them. */
    o.checkpoint_bytes = 256;
    unsigned before = storage_memfs_mutations(m);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    uint64_t terms[64] = {0};
    ck_assert_uint_eq(scenario(log, terms), storage_log_last_index(log));
    /* Before close: the active segment's .idx can only be a periodic checkpoint. */
    struct storage_log_recovery rec;
    ck_assert_uint_gt(check_power_loss_idx_written_back(m, 1024, storage_log_durable_index(log),
                                                        terms, &rec), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    storage_log_close(log);
    unsigned total = storage_memfs_mutations(m) - before;
    storage_memfs_destroy(m);
    ck_assert_uint_gt(total, 40);

    for (unsigned n = 0; n <= total; n++) {
        m = storage_memfs_create();
        o.fs = storage_memfs_fs(m);
        storage_memfs_stop_after(m, n);
        log = NULL;
        uint64_t durable = 0;
        memset(terms, 0, sizeof(terms));
        if (storage_log_open(FIX_DIR, &o, &log, NULL, NULL, 0) == 0) {
            durable = scenario(log, terms);
            /* Once the machine stops, nothing more may be claimed. */
            ck_assert_uint_eq(storage_log_durable_index(log), durable);
            storage_log_close(log);
        }
        check_power_loss(m, 1024, durable, terms);
        check_power_loss_idx_written_back(m, 1024, durable, terms, NULL);
        storage_memfs_destroy(m);
    }
}
END_TEST

START_TEST(test_fsync_never_loses_only_a_suffix)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 2048);
    o.fsync_policy = STORAGE_FSYNC_NEVER;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 100, 3, LEN_MAX);
    ck_assert_int_eq(storage_log_sync(log), 0);
    /* "Durable" here means written to the page cache: the sync made no fdatasync. */
    ck_assert_uint_eq(storage_log_durable_index(log), 100);
    ck_assert_uint_eq(storage_log_fsync_count(log), 0);
    /* A process crash (the page cache survives) loses nothing. */
    struct storage_memfs *c = storage_memfs_clone(m, 0);
    expect_prefix(c, 2048, 100);
    storage_memfs_destroy(c);
    /* A power loss keeps a valid prefix, possibly empty, never garbage. */
    c = storage_memfs_clone(m, 1);
    struct storage_log_options oc = fix_options(storage_memfs_fs(c), 2048);
    struct storage_log *lc = NULL;
    char msg[512];
    int rc = storage_log_open(FIX_DIR, &oc, &lc, NULL, msg, sizeof(msg));
    if (rc == 0) {
        uint64_t last = storage_log_last_index(lc);
        ck_assert_uint_le(last, 100);
        if (last > 0)
            fix_check_range(lc, 1, last, 3, 1u << 20);
        storage_log_close(lc);
    } else {
        ck_assert_serr(rc, STORAGE_ERR_CORRUPT); /* a hole: refused, never silently used */
    }
    storage_memfs_destroy(c);
    storage_log_close(log);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- injected errors -------------------------------------------------------------- */

START_TEST(test_enospc_reaches_caller)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    storage_memfs_set_space(m, 30000);
    uint64_t terms[4000];
    int rc = 0;
    uint64_t i = 0, durable = 0;
    while (rc == 0 && i < 3000) {
        i++;
        uint8_t buf[LEN_MAX + 1];
        struct storage_entry e = fix_entry(i, 3, storage_log_next_offset(log),
                                           fix_len(i, LEN_MAX), buf);
        terms[i] = 3;
        rc = storage_log_append(log, &e, 1);
        if (rc == 0 && i % 10 == 0) {
            rc = storage_log_sync(log);
            if (rc == 0)
                durable = storage_log_durable_index(log);
        }
    }
    ck_assert_serr(rc, STORAGE_ERR_NOSPC);
    ck_assert_serr(storage_log_failed(log), STORAGE_ERR_NOSPC);
    ck_assert_ptr_nonnull(strstr(storage_log_errmsg(log), "No space left"));
    ck_assert_uint_eq(storage_log_durable_index(log), durable);
    /* Fail-stop: later calls fail even though nothing is retried. */
    uint8_t buf[8];
    struct storage_entry e = fix_entry(storage_log_last_index(log) + 1, 3,
                                       storage_log_next_offset(log), 4, buf);
    ck_assert_serr(storage_log_append(log, &e, 1), STORAGE_ERR_FAILED);
    ck_assert_serr(storage_log_sync(log), STORAGE_ERR_FAILED);
    ck_assert_serr(storage_log_truncate_suffix(log, 1), STORAGE_ERR_FAILED);
    ck_assert_uint_eq(storage_log_durable_index(log), durable);
    check_power_loss(m, 4096, durable, terms);
    storage_log_close(log);
    storage_memfs_destroy(m);
}
END_TEST

/* A log on m with entries 1..10 durable and 11..20 appended, not synced. */
static struct storage_log *half_synced_log(struct storage_memfs *m)
{
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 10, 3, LEN_MAX);
    ck_assert_int_eq(storage_log_sync(log), 0);
    fix_append(log, 11, 20, 3, LEN_MAX);
    ck_assert_uint_eq(storage_log_durable_index(log), 10);
    return log;
}

START_TEST(test_eio_on_write)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log *log = half_synced_log(m);
    storage_memfs_fail(m, STORAGE_MEMFS_PWRITE, 0, EIO, 0);
    ck_assert_serr(storage_log_sync(log), STORAGE_ERR_IO);
    ck_assert_uint_eq(storage_log_durable_index(log), 10);
    ck_assert_serr(storage_log_sync(log), STORAGE_ERR_FAILED);
    ck_assert_ptr_nonnull(strstr(storage_log_errmsg(log), "Input/output error"));
    storage_log_close(log);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_fsync_failure_is_never_retried)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log *log = half_synced_log(m);
    storage_memfs_fail(m, STORAGE_MEMFS_FDATASYNC, 0, EIO, 0); /* one failure, then success */
    ck_assert_serr(storage_log_sync(log), STORAGE_ERR_IO);
    unsigned calls = storage_memfs_calls(m, STORAGE_MEMFS_FDATASYNC);
    ck_assert_uint_eq(storage_log_durable_index(log), 10);
    /* The next fdatasync would succeed, but the log must not try it and claim durability. */
    ck_assert_serr(storage_log_sync(log), STORAGE_ERR_FAILED);
    ck_assert_uint_eq(storage_memfs_calls(m, STORAGE_MEMFS_FDATASYNC), calls);
    ck_assert_uint_eq(storage_log_durable_index(log), 10);
    ck_assert_ptr_nonnull(strstr(storage_log_errmsg(log), "fdatasync failed"));
    storage_log_close(log);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_fsync_failure_through_syncer)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_syncer *s;
    ck_assert_int_eq(storage_syncer_create(2, &s), 0);
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 4096);
    o.syncer = s;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 1, 10, 3, LEN_MAX);
    storage_memfs_fail(m, STORAGE_MEMFS_FDATASYNC, 0, EIO, 1);
    ck_assert_int_eq(storage_log_request_sync(log), 0);
    struct storage_completion c = {0};
    size_t got = 0;
    for (int spins = 0; spins < 100000 && got == 0; spins++) {
        got = storage_syncer_poll(s, &c, 1);
        if (got == 0)
            usleep(100);
    }
    ck_assert_uint_eq(got, 1);
    ck_assert_ptr_eq(c.log, log);
    ck_assert_serr(c.err, STORAGE_ERR_IO);
    ck_assert_uint_eq(c.durable_index, 0);
    ck_assert_serr(storage_log_request_sync(log), STORAGE_ERR_FAILED);
    storage_log_close(log);
    storage_syncer_destroy(s);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_read_error_during_truncate)
{
    /* Finding the cut reads the segment; an EIO there is reported, not a hang or a cut. */
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log *log = half_synced_log(m);
    storage_memfs_fail(m, STORAGE_MEMFS_PREAD, 0, EIO, 1);
    ck_assert_serr(storage_log_truncate_suffix(log, 15), STORAGE_ERR_IO);
    ck_assert_uint_eq(storage_log_last_index(log), 20);
    ck_assert_serr(storage_log_truncate_suffix(log, 15), STORAGE_ERR_FAILED);
    ck_assert_uint_eq(storage_log_durable_index(log), 10);
    storage_log_close(log);
    storage_memfs_destroy(m);
}
END_TEST

/* ---- hard state atomicity ------------------------------------------------------- */

START_TEST(test_hardstate_crash_at_every_call)
{
    struct storage_hardstate *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)),
                             *got = calloc(1, sizeof(*got));
    a->current_term = 4;
    a->voted_for = 2;
    a->commit_index = 10;
    a->meta_len = 100;
    memset(a->meta, 0xaa, 100);
    b->current_term = 5;
    b->voted_for = 3;
    b->commit_index = 12;
    b->meta_len = 3000;
    memset(b->meta, 0xbb, 3000);
    int saw_old = 0, saw_new = 0;
    for (unsigned n = 0; n < 12; n++) {
        struct storage_memfs *m = storage_memfs_create();
        const struct storage_fs *fs = storage_memfs_fs(m);
        ck_assert_int_eq(storage_hardstate_save(fs, FIX_DIR, a, NULL), 0);
        storage_memfs_stop_after(m, n);
        int saved = storage_hardstate_save(fs, FIX_DIR, b, NULL);
        struct storage_memfs *c = storage_memfs_clone(m, 1);
        ck_assert_int_eq(storage_hardstate_load(storage_memfs_fs(c), FIX_DIR, got, NULL), 0);
        const struct storage_hardstate *want = got->current_term == 5 ? b : a;
        ck_assert_uint_eq(got->voted_for, want->voted_for);
        ck_assert_uint_eq(got->commit_index, want->commit_index);
        ck_assert_uint_eq(got->meta_len, want->meta_len);
        ck_assert_mem_eq(got->meta, want->meta, want->meta_len);
        if (saved == 0)
            ck_assert_uint_eq(got->current_term, 5); /* reported saved: must be durable */
        saw_old |= want == a;
        saw_new |= want == b;
        storage_memfs_destroy(c);
        storage_memfs_destroy(m);
    }
    ck_assert(saw_old && saw_new);
    free(a);
    free(b);
    free(got);
}
END_TEST

/* ---- checkpoints (the last segment's .idx written at close) ---------------------- */

#define SEG1_LOG FIX_DIR "/00000000000000000001.log"
#define SEG1_IDX FIX_DIR "/00000000000000000001.idx"

/* Byte position of entry k's frame in a one-segment log of LEN_MAX entries. */
static uint64_t pos_of(uint64_t k)
{
    uint64_t pos = 0;
    for (uint64_t i = 1; i < k; i++)
        pos += frame_of(i);
    return pos;
}

/* Makes a file's data and every name durable, as the kernel's writeback may do at any time. */
static void write_back(struct storage_memfs *m, const char *path)
{
    const struct storage_fs *fs = storage_memfs_fs(m);
    int fd;
    ck_assert_int_eq(fs->open(fs->ctx, path, 0, &fd), 0);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);
    ck_assert_int_eq(fs->fsync_dir(fs->ctx, FIX_DIR), 0);
}

static int open_rec(struct storage_memfs *m, struct storage_log **log,
                    struct storage_log_recovery *rec, char *msg, size_t cap)
{
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    return storage_log_open(FIX_DIR, &o, log, rec, msg, cap);
}

/*
 * Entries 1..n checkpointed at close, n+1..n+k appended after a reopen and
 * synced, then a process crash: in the returned image the checkpoint covers
 * [0, pos_of(n + 1)) and the file holds all n + k entries.
 */
static struct storage_memfs *checkpoint_then_tail(uint64_t n, uint64_t k)
{
    struct storage_memfs *m = storage_memfs_create();
    char path[128];
    build(m, n, 1u << 20, path, sizeof(path));
    ck_assert_str_eq(path, SEG1_LOG);
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, n + 1, n + k, 3, LEN_MAX);
    ck_assert_int_eq(storage_log_sync(log), 0);
    struct storage_memfs *c = storage_memfs_clone(m, 0);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(m);
    ck_assert_int_eq(storage_memfs_size(c, SEG1_LOG), (int64_t)pos_of(n + k + 1));
    return c;
}

START_TEST(test_torn_tail_past_checkpoint)
{
    uint64_t n = 30, k = 10;
    struct storage_memfs *m = checkpoint_then_tail(n, k);
    uint64_t covered = pos_of(n + 1), last_pos = pos_of(n + k), size = pos_of(n + k + 1);
    uint8_t *file = malloc(size);
    ck_assert_int_eq(storage_memfs_get(m, SEG1_LOG, file, size), (int64_t)size);
    for (uint64_t cut = last_pos; cut <= size; cut++) {
        struct storage_memfs *c = storage_memfs_clone(m, 0);
        ck_assert_int_eq(storage_memfs_put(c, SEG1_LOG, file, (size_t)cut), 0);
        struct storage_log *log = NULL;
        struct storage_log_recovery rec;
        char msg[512];
        int rc = open_rec(c, &log, &rec, msg, sizeof(msg));
        ck_assert_msg(rc == 0, "cut %llu: %s", (unsigned long long)cut, msg);
        /* Only the tail after the checkpoint was read. */
        ck_assert_uint_eq(rec.checkpoint_used, 1);
        ck_assert_uint_eq(rec.segments_scanned, 0);
        ck_assert_uint_eq(rec.bytes_scanned, (cut == size ? size : last_pos) - covered);
        ck_assert_uint_eq(rec.torn_bytes_truncated, cut == size ? 0 : cut - last_pos);
        ck_assert_uint_eq(storage_log_last_index(log), cut == size ? n + k : n + k - 1);
        ck_assert_int_eq(storage_log_close(log), 0);
        /* Truncated at the right byte, and the log is whole and usable. */
        ck_assert_int_eq(storage_memfs_size(c, SEG1_LOG), (int64_t)(cut == size ? size : last_pos));
        expect_prefix(c, 1u << 20, cut == size ? n + k : n + k - 1);
        storage_memfs_destroy(c);
    }
    /* Damage in the tail followed by valid entries is mid-log corruption: refused, file untouched. */
    for (uint64_t victim = n + 1; victim < n + k; victim += 3) {
        struct storage_memfs *c = storage_memfs_clone(m, 0);
        uint64_t at = pos_of(victim) + 20;
        file[at] ^= 0x04;
        ck_assert_int_eq(storage_memfs_put(c, SEG1_LOG, file, (size_t)size), 0);
        file[at] ^= 0x04;
        struct storage_log *log = NULL;
        char msg[512], where[64];
        ck_assert_serr(open_rec(c, &log, NULL, msg, sizeof(msg)), STORAGE_ERR_CORRUPT);
        ck_assert_ptr_null(log);
        snprintf(where, sizeof(where), "byte %llu", (unsigned long long)pos_of(victim));
        ck_assert_msg(strstr(msg, SEG1_LOG) != NULL && strstr(msg, where) != NULL,
                      "message '%s' lacks the file or '%s'", msg, where);
        ck_assert_int_eq(storage_memfs_size(c, SEG1_LOG), (int64_t)size);
        storage_memfs_destroy(c);
    }
    free(file);
    storage_memfs_destroy(m);
}
END_TEST

START_TEST(test_stale_checkpoint_falls_back_to_full_scan)
{
    uint64_t n = 30, k = 10;
    struct storage_memfs *m = checkpoint_then_tail(n, k);
    uint64_t covered = pos_of(n + 1), size = pos_of(n + k + 1);
    uint8_t *file = malloc(size);
    ck_assert_int_eq(storage_memfs_get(m, SEG1_LOG, file, size), (int64_t)size);
    struct storage_log *log = NULL;
    struct storage_log_recovery rec;
    char msg[512];

    /* The file is shorter than the checkpoint says (cut inside entry n): full scan, cut at n. */
    for (uint64_t cut = pos_of(n); cut < covered; cut += 17) {
        struct storage_memfs *c = storage_memfs_clone(m, 0);
        ck_assert_int_eq(storage_memfs_put(c, SEG1_LOG, file, (size_t)cut), 0);
        ck_assert_int_eq(open_rec(c, &log, &rec, msg, sizeof(msg)), 0);
        ck_assert_uint_eq(rec.checkpoint_used, 0);
        ck_assert_uint_eq(rec.segments_scanned, 1);
        ck_assert_uint_eq(rec.bytes_scanned, pos_of(n));
        ck_assert_uint_eq(rec.torn_bytes_truncated, cut - pos_of(n));
        ck_assert_uint_eq(storage_log_last_index(log), n - 1);
        ck_assert_int_eq(storage_log_close(log), 0);
        expect_prefix(c, 1u << 20, n - 1);
        storage_memfs_destroy(c);
    }

    /* A byte changed in the last covered entry: the checkpoint is not trusted; the full
     * scan finds an invalid entry with valid ones after it and refuses. */
    for (uint64_t at = pos_of(n); at < covered; at += 11) {
        struct storage_memfs *c = storage_memfs_clone(m, 0);
        file[at] ^= 0x20;
        ck_assert_int_eq(storage_memfs_put(c, SEG1_LOG, file, (size_t)size), 0);
        file[at] ^= 0x20;
        ck_assert_serr(open_rec(c, &log, NULL, msg, sizeof(msg)), STORAGE_ERR_CORRUPT);
        char where[64];
        snprintf(where, sizeof(where), "byte %llu", (unsigned long long)pos_of(n));
        ck_assert_msg(strstr(msg, SEG1_LOG) != NULL && strstr(msg, where) != NULL,
                      "message '%s' lacks the file or '%s'", msg, where);
        storage_memfs_destroy(c);
    }

    /* The same change with nothing after the entry (the tail cut off) is a torn tail. */
    {
        struct storage_memfs *c = storage_memfs_clone(m, 0);
        file[covered - 1] ^= 0x01;
        ck_assert_int_eq(storage_memfs_put(c, SEG1_LOG, file, (size_t)covered), 0);
        file[covered - 1] ^= 0x01;
        ck_assert_int_eq(open_rec(c, &log, &rec, msg, sizeof(msg)), 0);
        ck_assert_uint_eq(rec.checkpoint_used, 0);
        ck_assert_uint_eq(storage_log_last_index(log), n - 1);
        ck_assert_int_eq(storage_log_close(log), 0);
        storage_memfs_destroy(c);
    }

    /* A damaged checkpoint (its own CRC fails): full scan, nothing lost. */
    {
        struct storage_memfs *c = storage_memfs_clone(m, 0);
        int64_t isz = storage_memfs_size(c, SEG1_IDX);
        ck_assert_int_gt(isz, 0);
        uint8_t *idx = malloc((size_t)isz);
        storage_memfs_get(c, SEG1_IDX, idx, (size_t)isz);
        idx[isz / 2] ^= 0x01;
        storage_memfs_put(c, SEG1_IDX, idx, (size_t)isz);
        free(idx);
        ck_assert_int_eq(open_rec(c, &log, &rec, msg, sizeof(msg)), 0);
        ck_assert_uint_eq(rec.checkpoint_used, 0);
        ck_assert_uint_eq(rec.bytes_scanned, size);
        ck_assert_uint_eq(storage_log_last_index(log), n + k);
        ck_assert_int_eq(storage_log_close(log), 0);
        storage_memfs_destroy(c);
    }
    free(file);
    storage_memfs_destroy(m);
}
END_TEST

/*
 * A checkpoint older than a truncation and rewrite (as a power loss could
 * bring back if its removal were not durable): its last covered frame now
 * holds another entry, so it is not trusted and the full scan finds the
 * rewritten log.
 */
START_TEST(test_checkpoint_from_before_a_truncation)
{
    uint64_t n = 30;
    struct storage_memfs *m = storage_memfs_create();
    char path[128];
    build(m, n, 1u << 20, path, sizeof(path));
    int64_t isz = storage_memfs_size(m, SEG1_IDX);
    ck_assert_int_gt(isz, 0);
    uint8_t *idx = malloc((size_t)isz);
    storage_memfs_get(m, SEG1_IDX, idx, (size_t)isz);
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    struct storage_log *log = fix_open(&o, FIX_DIR);
    ck_assert_int_eq(storage_log_truncate_suffix(log, n - 5), 0);
    /* The removal of the checkpoint is durable at once. */
    struct storage_memfs *lost = storage_memfs_clone(m, 1);
    ck_assert_int_lt(storage_memfs_size(lost, SEG1_IDX), 0);
    storage_memfs_destroy(lost);
    fix_append(log, n - 4, n + 5, 4, LEN_MAX);
    ck_assert_int_eq(storage_log_sync(log), 0);
    struct storage_memfs *c = storage_memfs_clone(m, 0);
    ck_assert_int_eq(storage_log_close(log), 0);
    ck_assert_int_eq(storage_memfs_put(c, SEG1_IDX, idx, (size_t)isz), 0);
    struct storage_log_recovery rec;
    char msg[512];
    ck_assert_int_eq(open_rec(c, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 0);
    ck_assert_uint_eq(rec.segments_scanned, 1);
    ck_assert_uint_eq(rec.bytes_scanned, (uint64_t)storage_memfs_size(c, SEG1_LOG));
    ck_assert_uint_eq(storage_log_last_index(log), n + 5);
    ck_assert_uint_eq(storage_log_last_term(log), 4);
    fix_check_range(log, 1, n - 5, 3, 1u << 20);
    fix_check_range(log, n - 4, n + 5, 4, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    free(idx);
    storage_memfs_destroy(c);
    storage_memfs_destroy(m);
}
END_TEST

/*
 * Power loss with a checkpoint that covers bytes never made durable: with
 * fsync=never, close writes the checkpoint without syncing the data, and
 * the kernel may write back the index before the log. The checkpoint then
 * covers more than the file holds, and open scans the file whole.
 */
START_TEST(test_power_loss_checkpoint_ahead_of_data)
{
    struct storage_memfs *m = storage_memfs_create();
    char path[128];
    build(m, 20, 1u << 20, path, sizeof(path)); /* 1..20 durable (fsync=always) */
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    o.fsync_policy = STORAGE_FSYNC_NEVER;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    fix_append(log, 21, 40, 3, LEN_MAX);
    ck_assert_int_eq(storage_log_close(log), 0);
    write_back(m, SEG1_IDX); /* the index reached the disk, the log's new bytes did not */
    struct storage_memfs *c = storage_memfs_clone(m, 1);
    ck_assert_int_eq(storage_memfs_size(c, SEG1_LOG), (int64_t)pos_of(21));
    struct storage_log_recovery rec;
    char msg[512];
    ck_assert_int_eq(open_rec(c, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 0);
    ck_assert_uint_eq(rec.segments_scanned, 1);
    ck_assert_uint_eq(rec.bytes_scanned, pos_of(21));
    ck_assert_uint_eq(storage_log_last_index(log), 20);
    fix_check_range(log, 1, 20, 3, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(c);

    /* The log written back too, by power loss at every later point: what is found is a prefix. */
    write_back(m, SEG1_LOG);
    c = storage_memfs_clone(m, 1);
    ck_assert_int_eq(open_rec(c, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.bytes_scanned, 0);
    ck_assert_uint_eq(storage_log_last_index(log), 40);
    fix_check_range(log, 1, 40, 3, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_memfs_destroy(c);
    storage_memfs_destroy(m);
}
END_TEST

/*
 * Power loss after every I/O call of a scenario that reopens a log whose
 * checkpoint is on disk (written back), appends, truncates below the
 * checkpoint and syncs: every image opens and holds what was durable.
 */
START_TEST(test_power_loss_with_written_back_checkpoint)
{
    for (unsigned n = 0;; n++) {
        struct storage_memfs *m = storage_memfs_create();
        char path[128];
        build(m, 24, 1u << 20, path, sizeof(path));
        write_back(m, SEG1_IDX);
        uint64_t terms[64];
        for (uint64_t i = 1; i <= 24; i++)
            terms[i] = 3;
        struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
        unsigned before = storage_memfs_mutations(m);
        storage_memfs_stop_after(m, n);
        struct storage_log *log = NULL;
        uint64_t durable = 24;
        int finished = 0;
        if (storage_log_open(FIX_DIR, &o, &log, NULL, NULL, 0) == 0) {
            finished = 1;
            uint8_t buf[LEN_MAX + 1];
            for (uint64_t i = 25; i <= 40 && finished; i++) {
                if (i == 33) {
                    if (storage_log_truncate_suffix(log, 20) != 0) {
                        finished = 0;
                        break;
                    }
                    if (durable > 20)
                        durable = 20;
                }
                uint64_t idx = storage_log_last_index(log) + 1;
                struct storage_entry e = fix_entry(idx, 5, storage_log_next_offset(log),
                                                   fix_len(idx, LEN_MAX), buf);
                if (storage_log_append(log, &e, 1) != 0) {
                    finished = 0;
                    break;
                }
                terms[idx] = 5;
                if (i % 3 == 0) {
                    if (storage_log_sync(log) != 0) {
                        finished = 0;
                        break;
                    }
                    durable = storage_log_durable_index(log);
                }
            }
            if (storage_log_close(log) != 0)
                finished = 0;
        }
        check_power_loss(m, 1u << 20, durable, terms);
        unsigned used = storage_memfs_mutations(m) - before;
        storage_memfs_destroy(m);
        if (finished && used < n)
            break;
        ck_assert_uint_lt(n, 10000);
    }
}
END_TEST

/* ---- periodic checkpoints ---------------------------------------------------------- */

/* The covered length an index file states (0 if it is missing). */
static uint64_t idx_covered(struct storage_memfs *m, const char *path)
{
    uint8_t head[64];
    if (storage_memfs_get(m, path, head, sizeof(head)) < (int64_t)sizeof(head))
        return 0;
    uint64_t covered = 0;
    for (int b = 0; b < 8; b++)
        covered = covered << 8 | head[56 + b];
    return covered;
}

/* Polls the syncer until the log is durable to its last index. */
static void wait_durable(struct storage_syncer *syncer, struct storage_log *log)
{
    for (int spins = 0; spins < 200000; spins++) {
        struct storage_completion c[4];
        size_t got = storage_syncer_poll(syncer, c, 4);
        for (size_t i = 0; i < got; i++)
            ck_assert_int_eq(c[i].err, 0);
        if (storage_log_durable_index(log) == storage_log_last_index(log))
            return;
        usleep(100);
    }
    ck_abort_msg("sync did not complete");
}

/*
 * A periodic checkpoint never covers bytes that are not durable. Through
 * the syncer, with its fdatasync held (a slow disk): the owner thread
 * checkpoints inside storage_log_request_sync, when bytes just flushed are
 * in the file but not durable; the checkpoint must cover only what earlier
 * completed syncs made durable. After every step it covers at most the
 * log's synced bytes, and the power-loss image with the index written back
 * (the worst case) opens from it, scans only the durable bytes after it and
 * holds everything reported durable.
 */
START_TEST(test_periodic_checkpoint_covers_only_durable_bytes)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_syncer *syncer;
    ck_assert_int_eq(storage_syncer_create(1, &syncer), 0);
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    o.checkpoint_bytes = 1024;
    o.syncer = syncer;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    uint64_t terms[400] = {0};
    unsigned used = 0, checkpoints = 0;
    uint64_t covered_before = 0;
    for (uint64_t i = 1; i + 7 < 400; i += 7) {
        fix_append(log, i, i + 6, 3, LEN_MAX);
        for (uint64_t k = i; k <= i + 6; k++)
            terms[k] = 3;
        storage_memfs_hold_syncs(m, 1);
        ck_assert_int_eq(storage_log_request_sync(log), 0);
        for (int pass = 0; pass < 2; pass++) {
            struct storage_memfs *lost = storage_memfs_clone(m, 1);
            int64_t durable_size = storage_memfs_size(lost, SEG1_LOG);
            storage_memfs_destroy(lost);
            uint64_t covered = idx_covered(m, SEG1_IDX);
            ck_assert_msg(covered <= (uint64_t)(durable_size < 0 ? 0 : durable_size),
                          "checkpoint covers %llu bytes, only %lld durable",
                          (unsigned long long)covered, (long long)durable_size);
            checkpoints += covered != covered_before;
            covered_before = covered;
            struct storage_log_recovery rec;
            check_power_loss_idx_written_back(m, 1u << 20, storage_log_durable_index(log),
                                              terms, &rec);
            if (covered > 0) {
                /* After a periodic checkpoint: trusted, and only the durable bytes
                 * after it are scanned. */
                ck_assert_uint_eq(rec.checkpoint_used, 1);
                ck_assert_uint_eq(rec.bytes_scanned, (uint64_t)durable_size - covered);
                used++;
            }
            if (pass == 0) {
                storage_memfs_hold_syncs(m, 0);
                wait_durable(syncer, log);
            }
        }
    }
    ck_assert_uint_ge(checkpoints, 10);
    ck_assert_uint_ge(used, 10);
    ck_assert_int_eq(storage_log_close(log), 0);
    storage_syncer_destroy(syncer);
    storage_memfs_destroy(m);
}
END_TEST

/*
 * Truncation below a periodic checkpoint removes it (durably, before the
 * cut); a copy of it brought back over the rewritten log is not trusted,
 * and the checkpoints written after the truncation describe the new bytes.
 */
START_TEST(test_truncation_after_periodic_checkpoint)
{
    struct storage_memfs *m = storage_memfs_create();
    struct storage_log_options o = fix_options(storage_memfs_fs(m), 1u << 20);
    o.checkpoint_bytes = 1024;
    struct storage_log *log = fix_open(&o, FIX_DIR);
    for (uint64_t i = 1; i <= 40; i += 4) {
        fix_append(log, i, i + 3, 3, LEN_MAX);
        ck_assert_int_eq(storage_log_sync(log), 0);
    }
    /* A periodic checkpoint covers entries past 30. */
    uint64_t covered = idx_covered(m, SEG1_IDX);
    ck_assert_uint_gt(covered, pos_of(31));
    int64_t isz = storage_memfs_size(m, SEG1_IDX);
    uint8_t *stale = malloc((size_t)isz);
    ck_assert_int_eq(storage_memfs_get(m, SEG1_IDX, stale, (size_t)isz), isz);

    ck_assert_int_eq(storage_log_truncate_suffix(log, 25), 0);
    ck_assert_int_lt(storage_memfs_size(m, SEG1_IDX), 0);
    struct storage_memfs *lost = storage_memfs_clone(m, 1);
    ck_assert_int_lt(storage_memfs_size(lost, SEG1_IDX), 0); /* the removal is durable */
    storage_memfs_destroy(lost);
    /* The same indexes again with term 4: the same frame sizes at the same positions. */
    for (uint64_t i = 26; i <= 45; i += 4) {
        fix_append(log, i, i + 3, 4, LEN_MAX);
        ck_assert_int_eq(storage_log_sync(log), 0);
    }
    uint64_t fresh = idx_covered(m, SEG1_IDX);
    ck_assert_uint_ge(fresh, pos_of(26) + 1024);
    struct storage_memfs *c = storage_memfs_clone(m, 0); /* a process crash */
    struct storage_memfs *c_stale = storage_memfs_clone(m, 0);
    ck_assert_int_eq(storage_memfs_put(c_stale, SEG1_IDX, stale, (size_t)isz), 0);
    ck_assert_int_eq(storage_log_close(log), 0);

    struct storage_log_recovery rec;
    char msg[512];
    /* The fresh checkpoint: used, the tail after it scanned. */
    ck_assert_int_eq(open_rec(c, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 1);
    ck_assert_uint_eq(rec.bytes_scanned, pos_of(46) - fresh);
    ck_assert_uint_eq(storage_log_last_index(log), 45);
    fix_check_range(log, 1, 25, 3, 1u << 20);
    fix_check_range(log, 26, 45, 4, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    /* The stale one brought back: its last frame now holds another term; full scan. */
    ck_assert_int_eq(open_rec(c_stale, &log, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.checkpoint_used, 0);
    ck_assert_uint_eq(rec.bytes_scanned, pos_of(46));
    ck_assert_uint_eq(storage_log_last_index(log), 45);
    fix_check_range(log, 1, 25, 3, 1u << 20);
    fix_check_range(log, 26, 45, 4, 1u << 20);
    ck_assert_int_eq(storage_log_close(log), 0);
    free(stale);
    storage_memfs_destroy(c_stale);
    storage_memfs_destroy(c);
    storage_memfs_destroy(m);
}
END_TEST

Suite *storage_crash_suite(void)
{
    Suite *s = suite_create("storage_crash");

    TCase *tail = tcase_create("torn_tail");
    tcase_set_timeout(tail, 120);
    tcase_add_test(tail, test_cut_last_entry_every_byte);
    tcase_add_test(tail, test_cut_last_entry_alone_in_its_segment);
    tcase_add_test(tail, test_flip_every_bit_of_last_entry);
    tcase_add_test(tail, test_mid_log_corruption_refused);
    tcase_add_test(tail, test_sealed_segment_corruption);
    suite_add_tcase(s, tail);

    TCase *power = tcase_create("power_loss");
    tcase_set_timeout(power, 120);
    tcase_add_test(power, test_power_loss_random_scenarios);
    tcase_add_test(power, test_power_loss_after_every_io_call);
    tcase_add_test(power, test_fsync_never_loses_only_a_suffix);
    suite_add_tcase(s, power);

    TCase *checkpoint = tcase_create("checkpoint");
    tcase_set_timeout(checkpoint, 120);
    tcase_add_test(checkpoint, test_torn_tail_past_checkpoint);
    tcase_add_test(checkpoint, test_stale_checkpoint_falls_back_to_full_scan);
    tcase_add_test(checkpoint, test_checkpoint_from_before_a_truncation);
    tcase_add_test(checkpoint, test_power_loss_checkpoint_ahead_of_data);
    tcase_add_test(checkpoint, test_power_loss_with_written_back_checkpoint);
    tcase_add_test(checkpoint, test_periodic_checkpoint_covers_only_durable_bytes);
    tcase_add_test(checkpoint, test_truncation_after_periodic_checkpoint);
    suite_add_tcase(s, checkpoint);

    TCase *errors = tcase_create("disk_errors");
    tcase_add_test(errors, test_enospc_reaches_caller);
    tcase_add_test(errors, test_eio_on_write);
    tcase_add_test(errors, test_fsync_failure_is_never_retried);
    tcase_add_test(errors, test_fsync_failure_through_syncer);
    tcase_add_test(errors, test_read_error_during_truncate);
    suite_add_tcase(s, errors);

    TCase *hard = tcase_create("hardstate");
    tcase_add_test(hard, test_hardstate_crash_at_every_call);
    suite_add_tcase(s, hard);

    return s;
}
