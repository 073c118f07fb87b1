/*
 * Tests storage_fs_tracked (broker/storage/file_tracked.c), the real file
 * system with a simulated power loss that the broker's test_power_loss
 * option uses: written but unsynced bytes are cut, synced bytes are kept,
 * bytes written after a sync are not durable, truncation lowers the durable
 * size, rename moves it and unlink forgets it, a full table refuses open
 * with -EMFILE, and after the loss every mutating call fails. Then a
 * partition log written with fsync=always through a syncer thread is "power
 * lost" with unsynced entries on disk and reopened on the plain POSIX file
 * system: it opens and holds exactly the entries reported durable.
 *
 * How: real files in a mkdtemp directory under /tmp, removed at the end of
 * each test. The tracker's table is process-wide; each test starts and ends
 * with storage_fs_tracked_reset (Check also runs each test in its own
 * process). Last, the broker option that turns the mode on: its spellings
 * and its default.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "broker/config.h"
#include "broker/storage/file.h"
#include "broker/storage/hardstate.h"
#include "broker/storage/syncer.h"
#include "tests/unit/storage_fixture.h"
#include "tests/unit/suites.h"

static const struct storage_fs *const fs = &storage_fs_tracked;

static char test_dir[128];

static void setup(void)
{
    storage_fs_tracked_reset(0);
    fix_tmpdir(test_dir, sizeof(test_dir));
}

static void teardown(void)
{
    storage_fs_tracked_reset(0);
    fix_tmpdir_remove(test_dir);
}

/* test_dir/name, in a static buffer per call site (at most 4 live at once). */
static const char *path_of(const char *name)
{
    static char bufs[4][256];
    static unsigned next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof(bufs[0]), "%s/%s", test_dir, name);
    return p;
}

/* Size on disk, or -1 if the file does not exist. */
static int64_t disk_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Writes len bytes of value `fill` at pos through the tracked fs. */
static void put(int fd, uint64_t pos, size_t len, uint8_t fill)
{
    uint8_t buf[512];
    ck_assert_uint_le(len, sizeof(buf));
    memset(buf, fill, len);
    struct iovec iov = {buf, len};
    ck_assert_int_eq(storage_fs_pwritev_all(fs, fd, &iov, 1, pos), 0);
}

static int open_new(const char *path)
{
    int fd = -1;
    int rc = fs->open(fs->ctx, path, STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNC, &fd);
    ck_assert_msg(rc == 0, "open %s: %s", path, strerror(-rc));
    return fd;
}

/* ---- the durable size --------------------------------------------------------------- */

START_TEST(test_unsynced_bytes_are_cut)
{
    const char *a = path_of("a");
    int fd = open_new(a);
    put(fd, 0, 100, 1);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 0);
    ck_assert_int_eq(disk_size(a), 100);
    ck_assert_int_eq(storage_fs_tracked_power_loss(), 1);
    ck_assert_int_eq(disk_size(a), 0);
    fs->close(fs->ctx, fd);
}
END_TEST

START_TEST(test_synced_bytes_are_kept)
{
    const char *a = path_of("a"), *b = path_of("b");
    int fa = open_new(a), fb = open_new(b);
    put(fa, 0, 100, 7);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fa), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 100);
    /* Written after the sync returned: not durable. */
    put(fa, 100, 50, 8);
    /* b is wholly synced and closed: kept, and not counted as cut. */
    put(fb, 0, 30, 9);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fb), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fb), 0);

    ck_assert_int_eq(storage_fs_tracked_power_loss(), 1);
    ck_assert_int_eq(disk_size(a), 100);
    ck_assert_int_eq(disk_size(b), 30);
    uint8_t got[100], want[100];
    memset(want, 7, sizeof(want));
    ck_assert_int_eq(storage_fs_pread_all(fs, fa, got, sizeof(got), 0), 0);
    ck_assert_mem_eq(got, want, sizeof(want));
    fs->close(fs->ctx, fa);
}
END_TEST

/* Written, synced, written more, synced, written more: only the last write is cut. */
START_TEST(test_writes_after_a_sync_are_not_durable)
{
    const char *a = path_of("a");
    int fd = open_new(a);
    put(fd, 0, 10, 1);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    put(fd, 10, 20, 2);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 10);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 30);
    put(fd, 30, 40, 3);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 30);
    ck_assert_int_eq(storage_fs_tracked_power_loss(), 1);
    ck_assert_int_eq(disk_size(a), 30);
    fs->close(fs->ctx, fd);
}
END_TEST

START_TEST(test_truncation_lowers_the_durable_size)
{
    const char *a = path_of("a");
    int fd = open_new(a);
    put(fd, 0, 100, 1);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    ck_assert_int_eq(fs->ftruncate(fs->ctx, fd, 40), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 40);
    put(fd, 40, 40, 2); /* rewritten, never synced */
    ck_assert_int_eq(storage_fs_tracked_power_loss(), 1);
    ck_assert_int_eq(disk_size(a), 40);
    fs->close(fs->ctx, fd);

    /* Reopening with TRUNC empties the record too. */
    storage_fs_tracked_reset(0);
    fd = open_new(a);
    put(fd, 0, 10, 1);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);
    fd = open_new(a);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 0);
    put(fd, 0, 5, 1);
    ck_assert_int_eq(storage_fs_tracked_power_loss(), 1);
    ck_assert_int_eq(disk_size(a), 0);
    fs->close(fs->ctx, fd);
}
END_TEST

/* The record survives close, and a file that exists when first opened counts as durable. */
START_TEST(test_record_survives_close_and_existing_files_count_as_durable)
{
    const char *a = path_of("a"), *old = path_of("old");
    int fd = open_new(a);
    put(fd, 0, 20, 1);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 0);

    FILE *f = fopen(old, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite("0123456789", 1, 10, f), 10);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(old), -1);
    ck_assert_int_eq(fs->open(fs->ctx, old, 0, &fd), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(old), 10);
    put(fd, 10, 5, 2);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);

    ck_assert_int_eq(storage_fs_tracked_power_loss(), 2);
    ck_assert_int_eq(disk_size(a), 0);
    ck_assert_int_eq(disk_size(old), 10);
}
END_TEST

START_TEST(test_rename_moves_the_durable_size)
{
    const char *tmp = path_of("tmp"), *final = path_of("final");
    /* final: 100 synced bytes, to be replaced. */
    int fd = open_new(final);
    put(fd, 0, 100, 1);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);
    /* tmp: 30 synced bytes and 20 unsynced ones. */
    fd = open_new(tmp);
    put(fd, 0, 30, 2);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    put(fd, 30, 20, 3);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);

    ck_assert_int_eq(fs->rename(fs->ctx, tmp, final), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(tmp), -1);
    ck_assert_int_eq(storage_fs_tracked_durable_size(final), 30);
    /* A failed rename changes nothing. */
    ck_assert_int_eq(fs->rename(fs->ctx, tmp, final), -ENOENT);
    ck_assert_int_eq(storage_fs_tracked_durable_size(final), 30);

    ck_assert_int_eq(storage_fs_tracked_power_loss(), 1);
    ck_assert_int_eq(disk_size(final), 30);
    ck_assert_int_eq(disk_size(tmp), -1);
}
END_TEST

START_TEST(test_unlink_forgets)
{
    const char *a = path_of("a"), *b = path_of("b");
    int fd = open_new(a);
    put(fd, 0, 10, 1);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);
    ck_assert_int_eq(fs->unlink(fs->ctx, a), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), -1);
    ck_assert_int_eq(fs->unlink(fs->ctx, a), -ENOENT);

    /* Unlinked while open: forgotten at once, the handle still works. */
    fd = open_new(a);
    put(fd, 0, 10, 1);
    ck_assert_int_eq(fs->unlink(fs->ctx, a), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), -1);
    put(fd, 10, 10, 1);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);

    /* Removed behind the tracker's back (as a deleted topic's directory is): skipped. */
    fd = open_new(b);
    put(fd, 0, 10, 1);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);
    ck_assert_int_eq(remove(b), 0);

    ck_assert_int_eq(storage_fs_tracked_power_loss(), 0);
    ck_assert_int_eq(disk_size(a), -1);
    ck_assert_int_eq(disk_size(b), -1);
}
END_TEST

START_TEST(test_full_table_refuses_open)
{
    storage_fs_tracked_reset(3);
    const char *a = path_of("a"), *b = path_of("b"), *c = path_of("c"), *d = path_of("d");
    int fa = open_new(a), fb = open_new(b), fc = open_new(c);
    put(fa, 0, 10, 1);
    put(fb, 0, 10, 1);
    put(fc, 0, 10, 1);
    int fd = -1;
    ck_assert_int_eq(fs->open(fs->ctx, d, STORAGE_OPEN_CREATE, &fd), -EMFILE);
    ck_assert_int_eq(disk_size(d), -1); /* not created untracked */
    /* Closed with unsynced bytes: its record is still needed. */
    ck_assert_int_eq(fs->close(fs->ctx, fa), 0);
    ck_assert_int_eq(fs->open(fs->ctx, d, STORAGE_OPEN_CREATE, &fd), -EMFILE);
    /* Opening a tracked file needs no new record. */
    ck_assert_int_eq(fs->open(fs->ctx, a, 0, &fa), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fa), 0);
    /* Closed and wholly synced: its record can go (reopening rebuilds it exactly). */
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fb), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fb), 0);
    ck_assert_int_eq(fs->open(fs->ctx, d, STORAGE_OPEN_CREATE, &fd), 0);
    ck_assert_int_eq(storage_fs_tracked_durable_size(b), -1);
    ck_assert_int_eq(storage_fs_tracked_durable_size(a), 0);
    put(fd, 0, 10, 1);

    ck_assert_int_eq(storage_fs_tracked_power_loss(), 3); /* a, c, d */
    ck_assert_int_eq(disk_size(a), 0);
    ck_assert_int_eq(disk_size(b), 10);
    ck_assert_int_eq(disk_size(c), 0);
    ck_assert_int_eq(disk_size(d), 0);
    fs->close(fs->ctx, fc);
    fs->close(fs->ctx, fd);
}
END_TEST

START_TEST(test_everything_mutating_fails_after_the_loss)
{
    const char *a = path_of("a"), *b = path_of("b");
    int fd = open_new(a);
    put(fd, 0, 10, 1);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), 0);
    ck_assert_int_eq(storage_fs_tracked_power_loss(), 0);

    uint8_t byte = 5;
    struct iovec iov = {&byte, 1};
    ck_assert_int_eq(fs->pwritev(fs->ctx, fd, &iov, 1, 10), -EIO);
    ck_assert_int_eq(fs->fdatasync(fs->ctx, fd), -EIO);
    ck_assert_int_eq(fs->ftruncate(fs->ctx, fd, 0), -EIO);
    int other;
    ck_assert_int_eq(fs->open(fs->ctx, b, STORAGE_OPEN_CREATE, &other), -EIO);
    ck_assert_int_eq(fs->rename(fs->ctx, a, b), -EIO);
    ck_assert_int_eq(fs->unlink(fs->ctx, a), -EIO);
    ck_assert_int_eq(fs->mkdir(fs->ctx, b), -EIO);
    /* Reading and closing still work. */
    uint8_t got[10];
    ck_assert_int_eq(storage_fs_pread_all(fs, fd, got, sizeof(got), 0), 0);
    ck_assert_int_eq(fs->close(fs->ctx, fd), 0);
    ck_assert_int_eq(disk_size(a), 10);
    ck_assert_int_eq(disk_size(b), -1);
}
END_TEST

struct writer_call {
    int fd;
    int64_t result;
    int returned; /* atomic: set by the thread when its call returns */
};

static void *write_after_loss(void *arg)
{
    struct writer_call *w = arg;
    uint8_t byte = 1;
    struct iovec iov = {&byte, 1};
    w->result = fs->pwritev(fs->ctx, w->fd, &iov, 1, 0);
    __atomic_store_n(&w->returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Another thread (the syncer, in the broker) does not return from a call after the loss. */
START_TEST(test_other_threads_stop_after_the_loss)
{
    const char *a = path_of("a");
    struct writer_call w = {.fd = open_new(a)};
    ck_assert_int_eq(storage_fs_tracked_power_loss(), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, write_after_loss, &w), 0);
    for (int spins = 0; spins < 100000 && storage_fs_tracked_stopped_threads() == 0; spins++)
        usleep(100);
    ck_assert_int_eq(storage_fs_tracked_stopped_threads(), 1);
    ck_assert_int_eq(__atomic_load_n(&w.returned, __ATOMIC_SEQ_CST), 0);
    storage_fs_tracked_reset(0); /* releases it, with -EIO */
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(w.result, -EIO);
    ck_assert_int_eq(storage_fs_tracked_stopped_threads(), 0);
    ck_assert_int_eq(disk_size(a), 0);
    storage_fs_posix.close(NULL, w.fd);
}
END_TEST

/* ---- a partition log ------------------------------------------------------------------ */

#define SMALL_LEN_MAX 200u
/* Above STORAGE_WRITE_DIRECT_BYTES: written to the file by the append itself, not buffered. */
#define LARGE_LEN 70000u

/* Completions until the log is durable to its last index (bounded). */
static void wait_durable(struct storage_syncer *s, struct storage_log *log)
{
    for (int spins = 0; spins < 200000; spins++) {
        struct storage_completion c[8];
        size_t got = storage_syncer_poll(s, c, 8);
        for (size_t i = 0; i < got; i++)
            ck_assert_int_eq(c[i].err, 0);
        if (storage_log_durable_index(log) == storage_log_last_index(log))
            return;
        usleep(100);
    }
    ck_abort_msg("the sync did not complete");
}

/* Total bytes of the files in dir whose names end in suffix. */
static uint64_t dir_bytes(const char *dir, const char *suffix)
{
    uint64_t total = 0;
    char path[512];
    for (uint64_t base = 1; base <= 64; base++) {
        snprintf(path, sizeof(path), "%s/%020llu%s", dir, (unsigned long long)base, suffix);
        int64_t n = disk_size(path);
        if (n > 0)
            total += (uint64_t)n;
    }
    return total;
}

START_TEST(test_log_keeps_exactly_the_durable_entries)
{
    const uint64_t durable_last = 40, written_last = 48;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/p", test_dir);
    struct storage_syncer *syncer;
    ck_assert_int_eq(storage_syncer_create(1, &syncer), 0);
    /* Small segments: the unsynced large entries start new segment files. */
    struct storage_log_options o = fix_options(fs, 160u * 1024u);
    o.fsync_policy = STORAGE_FSYNC_ALWAYS;
    o.syncer = syncer;
    struct storage_log *log = fix_open(&o, dir);

    fix_append(log, 1, durable_last, 3, SMALL_LEN_MAX);
    ck_assert_int_eq(storage_log_request_sync(log), 0);
    wait_durable(syncer, log);
    ck_assert_uint_eq(storage_log_durable_index(log), durable_last);
    struct storage_hardstate hs = {.current_term = 3, .voted_for = 1, .commit_index = durable_last};
    ck_assert_int_eq(storage_log_save_hardstate(log, &hs), 0);

    /* More entries, on disk but never synced. */
    uint8_t *buf = malloc(LARGE_LEN);
    ck_assert_ptr_nonnull(buf);
    for (uint64_t i = durable_last + 1; i <= written_last; i++) {
        struct storage_entry e = fix_entry(i, 3, storage_log_next_offset(log), LARGE_LEN, buf);
        ck_assert_int_eq(storage_log_append(log, &e, 1), 0);
    }
    free(buf);
    ck_assert_uint_eq(storage_log_durable_index(log), durable_last);
    uint64_t before = dir_bytes(dir, ".log");
    ck_assert_uint_gt(before, (written_last - durable_last) * LARGE_LEN);

    int cut = storage_fs_tracked_power_loss();
    ck_assert_int_ge(cut, 2); /* the synced segment's tail and at least one new segment */
    ck_assert_uint_le(dir_bytes(dir, ".log") + (written_last - durable_last) * LARGE_LEN, before);
    /* The process would exit here; the log on the tracked fs can only fail now. */
    ck_assert_int_ne(storage_log_close(log), 0);
    storage_syncer_destroy(syncer);

    /* The next process: the plain POSIX file system. */
    storage_fs_tracked_reset(0);
    struct storage_log_options po = fix_options(&storage_fs_posix, 160u * 1024u);
    struct storage_log_recovery rec;
    char msg[512] = "";
    struct storage_log *again = NULL;
    int rc = storage_log_open(dir, &po, &again, &rec, msg, sizeof(msg));
    ck_assert_msg(rc == 0, "reopen: %s: %s", storage_err_name(rc), msg);
    ck_assert_uint_eq(storage_log_last_index(again), durable_last);
    fix_check_range(again, 1, durable_last, 3, 1u << 20);
    struct storage_hardstate got;
    ck_assert_int_eq(storage_log_load_hardstate(again, &got), 0);
    ck_assert_uint_eq(got.current_term, 3);
    ck_assert_uint_eq(got.commit_index, durable_last);
    /* And it is usable. */
    fix_append(again, durable_last + 1, durable_last + 1, 4, SMALL_LEN_MAX);
    ck_assert_int_eq(storage_log_sync(again), 0);
    fix_check_range(again, durable_last + 1, durable_last + 1, 4, 1u << 20);
    ck_assert_int_eq(storage_log_close(again), 0);
}
END_TEST

/* ---- the broker option ------------------------------------------------------------------ */

/* Parses the broker's arguments (argv[0] added); returns parse_args's result. */
static int parse(struct broker_config *c, char *err, size_t err_cap, const char *a1, const char *a2,
                 const char *a3)
{
    char *argv[5] = {(char *)"raftmq-broker", (char *)a1, (char *)a2, (char *)a3, NULL};
    int argc = 1;
    while (argc < 4 && argv[argc] != NULL)
        argc++;
    FILE *sink = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(sink);
    int rc = broker_config_parse_args(c, argc, argv, sink, err, err_cap);
    fclose(sink);
    return rc;
}

START_TEST(test_option_spellings)
{
    struct broker_config c;
    char err[256] = "";
    ck_assert_int_eq(parse(&c, err, sizeof(err), NULL, NULL, NULL), 0);
    ck_assert(!c.test_power_loss);
    /* The flag alone, before another flag and at the end. */
    ck_assert_msg(parse(&c, err, sizeof(err), "--test-power-loss", "--node-id", "1") == 0, "%s", err);
    ck_assert(c.test_power_loss);
    ck_assert_msg(parse(&c, err, sizeof(err), "--node-id", "1", "--test-power-loss") == 0, "%s", err);
    ck_assert(c.test_power_loss);
    /* With a value, as every other flag. */
    ck_assert_msg(parse(&c, err, sizeof(err), "--test-power-loss", "true", NULL) == 0, "%s", err);
    ck_assert(c.test_power_loss);
    ck_assert_msg(parse(&c, err, sizeof(err), "--test-power-loss", "false", NULL) == 0, "%s", err);
    ck_assert(!c.test_power_loss);
    ck_assert_msg(parse(&c, err, sizeof(err), "--test-power-loss=true", NULL, NULL) == 0, "%s", err);
    ck_assert(c.test_power_loss);
    /* A bad value names the flag. */
    ck_assert_int_eq(parse(&c, err, sizeof(err), "--test-power-loss=yes", NULL, NULL), -1);
    ck_assert_ptr_nonnull(strstr(err, "--test-power-loss"));
    ck_assert_ptr_nonnull(strstr(err, "true or false"));
    /* A stray word after the bare flag is still a positional argument (an error). */
    ck_assert_int_eq(parse(&c, err, sizeof(err), "--test-power-loss", "yes", NULL), -1);

    /* The config file key, and the writer's round trip. */
    char path[256];
    snprintf(path, sizeof(path), "%s/broker.conf", test_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("test_power_loss = true\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_msg(parse(&c, err, sizeof(err), "--config", path, NULL) == 0, "%s", err);
    ck_assert(c.test_power_loss);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    broker_config_write(&c, f);
    ck_assert_int_eq(fclose(f), 0);
    struct broker_config back;
    broker_config_defaults(&back);
    ck_assert_int_eq(broker_config_load_file(&back, path, err, sizeof(err)), 0);
    ck_assert(back.test_power_loss);
}
END_TEST

Suite *power_loss_suite(void)
{
    Suite *s = suite_create("power_loss");
    TCase *files = tcase_create("files");
    tcase_add_checked_fixture(files, setup, teardown);
    tcase_add_test(files, test_unsynced_bytes_are_cut);
    tcase_add_test(files, test_synced_bytes_are_kept);
    tcase_add_test(files, test_writes_after_a_sync_are_not_durable);
    tcase_add_test(files, test_truncation_lowers_the_durable_size);
    tcase_add_test(files, test_record_survives_close_and_existing_files_count_as_durable);
    tcase_add_test(files, test_rename_moves_the_durable_size);
    tcase_add_test(files, test_unlink_forgets);
    tcase_add_test(files, test_full_table_refuses_open);
    tcase_add_test(files, test_everything_mutating_fails_after_the_loss);
    tcase_add_test(files, test_other_threads_stop_after_the_loss);
    suite_add_tcase(s, files);
    TCase *log = tcase_create("log");
    tcase_add_checked_fixture(log, setup, teardown);
    tcase_set_timeout(log, 60);
    tcase_add_test(log, test_log_keeps_exactly_the_durable_entries);
    suite_add_tcase(s, log);
    TCase *option = tcase_create("option");
    tcase_add_checked_fixture(option, setup, teardown);
    tcase_add_test(option, test_option_spellings);
    suite_add_tcase(s, option);
    return s;
}
