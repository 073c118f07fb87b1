/*
 * raftmq-storage-bench: partition storage throughput and recovery time.
 *
 * Measures, in a scratch directory (default under /tmp, removed at exit):
 *   - the disk's sequential write rate: dd bs=1M count=1024 conv=fdatasync;
 *   - append throughput with fsync=always (group commit: a window of
 *     --appenders entries in flight, each waiting for "durable", as that
 *     many producers would) and with fsync=never, for 100 B and 64 KiB
 *     entries, with the fdatasync calls per second the syncer made;
 *   - recovery (storage_log_open) of one 1 GiB partition and of 1,000
 *     partitions of 1 MiB, after a clean close (the last segment's
 *     checkpoint is used), after a crash that left the last periodic
 *     checkpoint (open scans what follows it), and after a crash with no
 *     checkpoint at all (deleted: the whole last segment is scanned, as
 *     before checkpoints), with the files in the page cache and after
 *     evicting them (posix_fadvise DONTNEED on clean pages: a cold start
 *     without dropping the whole machine's cache);
 *   - read-by-offset throughput from the page cache, as a consumer fetch
 *     reads (1 MiB per read, every payload touched).
 * Nothing here is asserted; figures go to docs/benchmarks.md.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "broker/storage/log.h"
#include "broker/storage/syncer.h"

static double seconds = 3.0;
static unsigned appenders = 256;
static const char *base_dir = "/tmp";
static int skip_dd = 0, skip_recovery = 0;
static const char *only = NULL; /* run one part: append, big, small, many */

static int want(const char *part)
{
    return only == NULL || strcmp(only, part) == 0;
}
static char scratch[512];

static void die(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "raftmq-storage-bench: %s: %s %s\n", what, storage_err_name(rc),
            msg ? msg : "");
    exit(1);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

static struct storage_log *open_log(const char *dir, enum storage_fsync_policy policy,
                                    struct storage_syncer *s, struct storage_log_recovery *rec)
{
    struct storage_log_options o = {0};
    o.fsync_policy = policy;
    o.syncer = s;
    struct storage_log *log;
    char msg[512];
    int rc = storage_log_open(dir, &o, &log, rec, msg, sizeof(msg));
    if (rc != 0)
        die(dir, rc, msg);
    return log;
}

/* ---- disk baseline ------------------------------------------------------------- */

static double dd_rate(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "dd if=/dev/zero of=%s/dd.tmp bs=1M count=1024 conv=fdatasync 2>/dev/null", scratch);
    double t = bench_now_s();
    if (system(cmd) != 0) {
        fprintf(stderr, "dd failed\n");
        return 0;
    }
    t = bench_now_s() - t;
    snprintf(cmd, sizeof(cmd), "%s/dd.tmp", scratch);
    unlink(cmd);
    return 1073741824.0 / t;
}

/* ---- appends --------------------------------------------------------------------- */

struct append_result {
    double bytes_per_s, entries_per_s, fsyncs_per_s;
};

static struct append_result run_appends(uint32_t size, enum storage_fsync_policy policy)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/append-%u-%d", scratch, size, (int)policy);
    struct storage_syncer *s;
    if (storage_syncer_create(1, &s) != 0)
        die("syncer", 1, NULL);
    struct storage_log *log = open_log(dir, policy, s, NULL);
    uint8_t *payload = malloc(size);
    for (uint32_t i = 0; i < size; i++)
        payload[i] = (uint8_t)(i * 31 + 7);
    struct storage_entry e = {.term = 1, .type = 1, .offset_count = 10, .payload = payload,
                              .payload_len = size};
    uint64_t durable = 0, start_fsyncs = storage_syncer_fsync_count(s);
    double t0 = bench_now_s(), t = t0;
    /* Stop appending after `seconds`, then count what became durable. */
    /* At most 1 GiB per run: the scratch disk is shared. */
    uint64_t entries_max = (1ull << 30) / size;
    while ((t = bench_now_s()) - t0 < seconds && durable < entries_max) {
        uint64_t last = storage_log_last_index(log);
        if (policy == STORAGE_FSYNC_NEVER || last - durable < appenders) {
            e.index = last + 1;
            e.first_offset = storage_log_next_offset(log);
            int rc = storage_log_append(log, &e, 1);
            if (rc != 0)
                die("append", rc, storage_log_errmsg(log));
            /* Each appender asks for its own sync; the syncer coalesces them. */
            if (policy == STORAGE_FSYNC_ALWAYS || e.index % 1024 == 0) {
                rc = storage_log_request_sync(log);
                if (rc != 0)
                    die("sync", rc, storage_log_errmsg(log));
            }
            if (policy == STORAGE_FSYNC_NEVER) {
                durable = e.index - (e.index % 1024);
                continue;
            }
            if (last + 1 - durable < appenders)
                continue;
        }
        struct pollfd p = {.fd = storage_syncer_fd(s), .events = POLLIN};
        poll(&p, 1, 100);
        struct storage_completion c[4];
        size_t n = storage_syncer_poll(s, c, 4);
        for (size_t i = 0; i < n; i++) {
            if (c[i].err != 0)
                die("fsync", c[i].err, storage_log_errmsg(log));
            durable = c[i].durable_index;
        }
    }
    double elapsed = t - t0;
    uint64_t fsyncs = storage_syncer_fsync_count(s) - start_fsyncs;
    storage_log_close(log);
    storage_syncer_destroy(s);
    free(payload);
    rm_rf(dir);
    struct append_result r = {
        .bytes_per_s = (double)durable * size / elapsed,
        .entries_per_s = (double)durable / elapsed,
        .fsyncs_per_s = (double)fsyncs / elapsed,
    };
    return r;
}

/* ---- recovery and reads ---------------------------------------------------------- */

/* The path of partition directory p's last segment's .idx ("" if it has no segment). */
static void last_idx_path(const char *p, char *out, size_t cap)
{
    char last[64] = "";
    DIR *d = opendir(p);
    if (d == NULL)
        die(p, 1, "opendir");
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len == 24 && strcmp(de->d_name + 20, ".log") == 0 && strcmp(de->d_name, last) > 0)
            snprintf(last, sizeof(last), "%s", de->d_name);
    }
    closedir(d);
    if (last[0] == '\0')
        out[0] = '\0';
    else
        snprintf(out, cap, "%s/%.20s.idx", p, last);
}

/* Copies file `from` to `to` (replacing it); 0 or -1. */
static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (in == NULL)
        return -1;
    FILE *out = fopen(to, "wb");
    if (out == NULL) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}

/* Where fill keeps the last periodic checkpoint, for the "crash" runs (ignored by open). */
#define PERIODIC_COPY "periodic-checkpoint.copy"

/*
 * Fills a partition with `bytes` of entries of `size` bytes (fsync=never,
 * a storage_log_sync every 64 entries as a broker's sync requests would,
 * which writes periodic checkpoints of the active segment). Before the
 * clean close, keeps a copy of the last segment's periodic checkpoint: the
 * .idx a crash at that point would have left.
 */
static void fill(const char *dir, uint64_t bytes, uint32_t size)
{
    struct storage_log *log = open_log(dir, STORAGE_FSYNC_NEVER, NULL, NULL);
    uint8_t *payload = calloc(1, size);
    struct storage_entry e = {.term = 1, .type = 1, .offset_count = 10, .payload = payload,
                              .payload_len = size};
    for (uint64_t written = 0; written + size + STORAGE_ENTRY_HEADER_BYTES <= bytes;
         written += size + STORAGE_ENTRY_HEADER_BYTES) {
        e.index = storage_log_last_index(log) + 1;
        e.first_offset = storage_log_next_offset(log);
        payload[0] = (uint8_t)e.index;
        int rc = storage_log_append(log, &e, 1);
        if (rc == 0 && e.index % 64 == 0)
            rc = storage_log_sync(log);
        if (rc != 0)
            die("fill", rc, storage_log_errmsg(log));
    }
    char idx[800], copy[800];
    last_idx_path(dir, idx, sizeof(idx));
    snprintf(copy, sizeof(copy), "%s/" PERIODIC_COPY, dir);
    unlink(copy);
    if (idx[0] != '\0')
        copy_file(idx, copy); /* absent if no periodic checkpoint was written */
    int rc = storage_log_close(log);
    if (rc != 0)
        die("close", rc, NULL);
    free(payload);
}

/*
 * Writes back every file under dir; with evict 1 drops it from the page
 * cache, with evict -1 reads it into the page cache.
 */
static int evict_pages;

static int writeback_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        if (evict_pages > 0)
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        static char buf[1 << 20];
        while (evict_pages < 0 && read(fd, buf, sizeof(buf)) > 0)
            continue;
        close(fd);
    }
    return 0;
}

static void writeback(const char *dir, int evict)
{
    evict_pages = evict;
    nftw(dir, writeback_one, 64, FTW_PHYS);
}

/*
 * Opens n partitions dir/0..n-1 (fsync=always, one syncer) and returns the
 * seconds until all are open; *durable_s gets the seconds until the syncer
 * has also made every one durable (the first sync after open covers every
 * segment and the directory: a previous process's writes may not be on disk).
 */
static uint64_t scanned_bytes; /* recovery's bytes_scanned, summed over the last time_open */

static double time_open(const char *dir, unsigned n, struct storage_log **logs,
                        double *durable_s)
{
    struct storage_syncer *s;
    if (storage_syncer_create(n, &s) != 0)
        die("syncer", 1, NULL);
    scanned_bytes = 0;
    double t0 = bench_now_s();
    for (unsigned i = 0; i < n; i++) {
        char p[700];
        snprintf(p, sizeof(p), "%s/%u", dir, i);
        struct storage_log_recovery rec;
        logs[i] = open_log(p, STORAGE_FSYNC_ALWAYS, s, &rec);
        scanned_bytes += rec.bytes_scanned;
    }
    double opened = bench_now_s() - t0;
    for (unsigned i = 0; i < n; i++)
        storage_log_request_sync(logs[i]);
    unsigned done = 0;
    while (done < n) {
        struct pollfd p = {.fd = storage_syncer_fd(s), .events = POLLIN};
        poll(&p, 1, 100);
        struct storage_completion c[64];
        size_t got = storage_syncer_poll(s, c, 64);
        for (size_t i = 0; i < got; i++) {
            if (c[i].err != 0)
                die("sync", c[i].err, NULL);
            done += c[i].durable_index == storage_log_last_index(c[i].log);
        }
    }
    *durable_s = bench_now_s() - t0;
    for (unsigned i = 0; i < n; i++)
        storage_log_close(logs[i]);
    storage_syncer_destroy(s);
    return opened;
}

/* Reads the log by offset for secs seconds (or, with secs 0, once from start to end). */
static double read_by_offset(struct storage_log *log, double secs)
{
    size_t cap = 1u << 20;
    uint8_t *buf = malloc(cap + STORAGE_ENTRY_BYTES_MAX);
    struct storage_entry *entries = malloc(65536 * sizeof(*entries));
    struct storage_read rd = {.buf = buf, .buf_cap = cap + STORAGE_ENTRY_BYTES_MAX,
                              .entries = entries, .entries_cap = 65536};
    uint64_t offset = storage_log_first_offset(log), bytes = 0, sink = 0;
    double t0 = bench_now_s(), t;
    while ((t = bench_now_s()) - t0 < secs || secs == 0) {
        int rc = storage_log_read_offset(log, offset, cap, &rd);
        if (rc == STORAGE_ERR_RANGE) {
            if (secs == 0)
                break;
            offset = storage_log_first_offset(log);
            continue;
        }
        if (rc != 0)
            die("read", rc, storage_log_errmsg(log));
        for (size_t i = 0; i < rd.count; i++) {
            /* A consumer fetch hands payload/payload_len to its frame writer. */
            sink += ((const uint8_t *)rd.entries[i].payload)[0];
            bytes += rd.entries[i].payload_len;
        }
        const struct storage_entry *last = &rd.entries[rd.count - 1];
        offset = last->first_offset + last->offset_count;
    }
    free(buf);
    free(entries);
    if (sink == 42)
        fprintf(stderr, " ");
    return (double)bytes / (t - t0);
}

static void read_bench(const char *dir, const char *what);

/*
 * Sets the last segment's .idx of partitions dir/0..n-1 to what a crash
 * leaves: with `periodic`, the last periodic checkpoint written before the
 * crash (fill's copy; no .idx if there was none); without, no checkpoint
 * at all (the state before periodic checkpoints, when the process never
 * closed the log cleanly after its last restart): open scans the whole
 * last segment.
 */
static void crash_checkpoints(const char *dir, unsigned n, int periodic)
{
    for (unsigned i = 0; i < n; i++) {
        char p[700], idx[800], copy[800];
        snprintf(p, sizeof(p), "%s/%u", dir, i);
        last_idx_path(p, idx, sizeof(idx));
        if (idx[0] == '\0')
            continue;
        snprintf(copy, sizeof(copy), "%s/" PERIODIC_COPY, p);
        if (!periodic || copy_file(copy, idx) != 0)
            unlink(idx);
    }
}

/*
 * Recovery of partitions dir/0..n-1: after a crash with no checkpoint (the
 * whole last segment is scanned, as every open did before checkpoints),
 * after a crash that left the last periodic checkpoint, and after a clean
 * close (open uses the close checkpoint), each from the page cache (every
 * file read in first) and evicted.
 */
static void recovery_bench(const char *dir, unsigned n, struct storage_log **logs,
                           const char *what)
{
    static const char *const kind[3] = {"clean close", "crash (periodic checkpoint)",
                                        "crash (no checkpoint)"};
    for (int k = 2; k >= 0; k--) {
        double warm_d, cold_d;
        if (k > 0)
            crash_checkpoints(dir, n, k == 1); /* fill's close wrote the close checkpoint */
        writeback(dir, -1);
        double warm = time_open(dir, n, logs, &warm_d);
        if (k > 0)
            crash_checkpoints(dir, n, k == 1); /* the close above wrote it again */
        writeback(dir, 1);
        double cold = time_open(dir, n, logs, &cold_d);
        printf("recovery, %s, after %s: open %.3f s (durable %.3f s) page cache, "
               "open %.3f s (durable %.3f s) evicted; %.1f MiB scanned\n",
               what, kind[k], warm, warm_d, cold, cold_d, (double)scanned_bytes / 1048576.0);
        fflush(stdout);
    }
}

/* 1 GiB in one partition: recovery, then consumer reads from the page cache. */
static void bench_big(void)
{
    char dir[700];
    struct storage_log *one[1];
    snprintf(dir, sizeof(dir), "%s/big", scratch);
    mkdir(dir, 0755);
    snprintf(dir, sizeof(dir), "%s/big/0", scratch);
    /*
     * 1 GiB whose last segment is full (2,046 frames of 65,584 bytes fit a
     * 128 MiB segment), so recovery scans a whole segment: 7 full segments +
     * 2,045 frames = 16,367 frames = 1,073,413,328 bytes.
     */
    fill(dir, 16367ull * (65536 + STORAGE_ENTRY_HEADER_BYTES), 65536);
    snprintf(dir, sizeof(dir), "%s/big", scratch);
    recovery_bench(dir, 1, one, "1 partition of 1 GiB (8 segments, last one full)");
    snprintf(dir, sizeof(dir), "%s/big/0", scratch);
    read_bench(dir, "64 KiB");
    snprintf(dir, sizeof(dir), "%s/big", scratch);
    rm_rf(dir);
}

/* 64 MiB of 100-byte entries: consumer reads from the page cache. */
static void bench_small(void)
{
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/small", scratch);
    mkdir(dir, 0755);
    snprintf(dir, sizeof(dir), "%s/small/0", scratch);
    fill(dir, 64ull << 20, 100);
    read_bench(dir, "100 B");
    snprintf(dir, sizeof(dir), "%s/small", scratch);
    rm_rf(dir);
}

/* 1,000 partitions of 1 MiB (1 KiB entries): recovery of all of them. */
static void bench_many(void)
{
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/many", scratch);
    mkdir(dir, 0755);
    struct storage_log **logs = malloc(1000 * sizeof(*logs));
    for (unsigned i = 0; i < 1000; i++) {
        snprintf(dir, sizeof(dir), "%s/many/%u", scratch, i);
        fill(dir, 1u << 20, 1024);
    }
    snprintf(dir, sizeof(dir), "%s/many", scratch);
    recovery_bench(dir, 1000, logs, "1000 partitions of 1 MiB");
    free(logs);
    rm_rf(dir);
}

static void read_bench(const char *dir, const char *what)
{
    struct storage_log *log = open_log(dir, STORAGE_FSYNC_ALWAYS, NULL, NULL);
    read_by_offset(log, 0); /* one whole pass: everything into the page cache */
    double rate = read_by_offset(log, seconds);
    printf("read by offset, %s entries, 1 MiB reads: %.2f GB/s of payload\n", what, rate / 1e9);
    fflush(stdout);
    storage_log_close(log);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: raftmq-storage-bench [--seconds S] [--appenders N] [--dir DIR] [--no-dd]\n"
            "                            [--no-recovery]\n"
            "  --seconds S     length of each append/read measurement (default 3)\n"
            "  --appenders N   entries in flight with fsync=always (default 256)\n"
            "  --dir DIR       where the scratch directory is made (default /tmp)\n"
            "  --no-dd         skip the dd baseline\n"
            "  --no-recovery   skip the recovery and read measurements (they write 2 GiB)\n"
            "  --only PART     run one part: append, big (1 GiB recovery + reads),\n"
            "                  small (100 B reads), many (1,000 partitions)\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'}, {"appenders", required_argument, NULL, 'a'},
        {"dir", required_argument, NULL, 'd'},     {"no-dd", no_argument, NULL, 'D'},
        {"no-recovery", no_argument, NULL, 'R'},   {"help", no_argument, NULL, 'h'},
        {"only", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "s:a:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            seconds = atof(optarg);
            break;
        case 'a':
            appenders = (unsigned)atoi(optarg);
            break;
        case 'd':
            base_dir = optarg;
            break;
        case 'D':
            skip_dd = 1;
            break;
        case 'R':
            skip_recovery = 1;
            break;
        case 'o':
            only = optarg;
            if (strcmp(only, "append") != 0 && strcmp(only, "big") != 0 &&
                strcmp(only, "small") != 0 && strcmp(only, "many") != 0) {
                fprintf(stderr,
                        "raftmq-storage-bench: --only takes append, big, small or many, not '%s'\n",
                        only);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (seconds <= 0 || appenders == 0) {
        usage(stderr);
        return 2;
    }
    snprintf(scratch, sizeof(scratch), "%s/raftmq-storage-bench-XXXXXX", base_dir);
    if (mkdtemp(scratch) == NULL) {
        perror(scratch);
        return 1;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    printf("scratch directory: %s\n", scratch);

    skip_dd |= only != NULL && strcmp(only, "append") != 0;
    double dd = skip_dd ? 0 : dd_rate();
    if (!skip_dd)
        printf("dd bs=1M count=1024 conv=fdatasync: %.1f MB/s\n", dd / 1e6);

    const uint32_t sizes[2] = {100, 65536};
    for (int k = 0; k < 2 && want("append"); k++) {
        for (int p = 0; p < 2; p++) {
            enum storage_fsync_policy policy = p == 0 ? STORAGE_FSYNC_ALWAYS : STORAGE_FSYNC_NEVER;
            struct append_result r = run_appends(sizes[k], policy);
            printf("append %6u B fsync=%-6s: %8.1f MB/s %10.0f entries/s %8.1f fsyncs/s",
                   sizes[k], p == 0 ? "always" : "never", r.bytes_per_s / 1e6, r.entries_per_s,
                   r.fsyncs_per_s);
            if (dd > 0 && sizes[k] == 65536 && policy == STORAGE_FSYNC_ALWAYS)
                printf("  (%.0f %% of dd)", 100.0 * r.bytes_per_s / dd);
            printf("\n");
            fflush(stdout);
        }
    }

    if (!skip_recovery) {
        if (want("big"))
            bench_big();
        if (want("small"))
            bench_small();
        if (want("many"))
            bench_many();
    }
    rm_rf(scratch);
    return 0;
}
