/* The tracked POSIX file system: real files plus each file's durable size, so that a test can simulate a power loss (see file.h). */
#define _GNU_SOURCE
#include "file.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Hash chains over the paths; twice the capacity keeps them short. */
#define TRACKED_BUCKETS (2 * STORAGE_TRACKED_FILES_MAX)

/*
 * One tracked file. A slot is free when !used. A used slot with path NULL
 * was unlinked or replaced by a rename while a handle was still open or a
 * fdatasync still ran on it: it is freed when both reach zero, and a power
 * loss skips it (it has no name left to cut).
 */
struct tracked_file {
    bool used;
    char *path;       /* owned; NULL once the name is gone */
    uint64_t durable; /* bytes a power loss keeps */
    /* Lowest length the file was truncated to while syncs ran (UINT64_MAX: none):
     * a sync that started before a truncation cannot make more than that durable. */
    uint64_t cut_low;
    uint32_t opens;   /* handles open on it */
    uint32_t syncs;   /* fdatasyncs running on it */
    uint32_t next;    /* next slot + 1 in its hash chain; 0 ends it */
};

/*
 * The table. Slot and chain links are stored plus one so that zero (the
 * static initial value) means "none". Everything below is guarded by
 * tracked_lock.
 */
static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked_file tracked_files[STORAGE_TRACKED_FILES_MAX];
static uint32_t tracked_buckets[TRACKED_BUCKETS];      /* first slot + 1 of each chain */
static uint32_t tracked_fd_slot[STORAGE_TRACKED_FDS_MAX]; /* slot + 1 of each open fd */
static size_t tracked_used;                            /* slots in use */
static size_t tracked_cap = STORAGE_TRACKED_FILES_MAX;
static bool tracked_lost;                              /* a power loss happened */
static pthread_t tracked_loss_thread;                  /* the thread that called it */
static pthread_cond_t tracked_reset_cond = PTHREAD_COND_INITIALIZER;
static uint64_t tracked_resets;                        /* storage_fs_tracked_reset calls */
static int tracked_stopped_threads;                    /* calls blocked in stopped_locked */

/*
 * 0 before a power loss; after it -EIO. A machine that lost power runs no
 * further code: on any thread but the one that called the power loss
 * (which must go on to exit, or in a test to clean up), the call first
 * blocks until storage_fs_tracked_reset, so that, say, the syncer thread
 * does not report an I/O error while the broker exits.
 */
static int stopped_locked(void)
{
    if (!tracked_lost)
        return 0;
    uint64_t resets = tracked_resets;
    if (!pthread_equal(pthread_self(), tracked_loss_thread)) {
        tracked_stopped_threads++;
        while (tracked_resets == resets)
            pthread_cond_wait(&tracked_reset_cond, &tracked_lock);
        tracked_stopped_threads--;
    }
    return -EIO;
}

/* FNV-1a over the path's bytes. */
static size_t bucket_of(const char *path)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)(h % TRACKED_BUCKETS);
}

/* The slot tracking path, or -1. */
static int find_locked(const char *path)
{
    for (uint32_t at = tracked_buckets[bucket_of(path)]; at != 0; at = tracked_files[at - 1].next)
        if (strcmp(tracked_files[at - 1].path, path) == 0)
            return (int)(at - 1);
    return -1;
}

static void chain_insert_locked(int slot)
{
    size_t b = bucket_of(tracked_files[slot].path);
    tracked_files[slot].next = tracked_buckets[b];
    tracked_buckets[b] = (uint32_t)slot + 1;
}

static void chain_remove_locked(int slot)
{
    uint32_t *link = &tracked_buckets[bucket_of(tracked_files[slot].path)];
    while (*link != 0 && *link != (uint32_t)slot + 1)
        link = &tracked_files[*link - 1].next;
    if (*link != 0)
        *link = tracked_files[slot].next;
    tracked_files[slot].next = 0;
}

static void free_slot_locked(int slot)
{
    free(tracked_files[slot].path);
    memset(&tracked_files[slot], 0, sizeof(tracked_files[slot]));
    tracked_used--;
}

/* The name is gone (unlinked, or replaced by a rename): forget the record, or orphan it while in use. */
static void drop_name_locked(int slot)
{
    chain_remove_locked(slot);
    free(tracked_files[slot].path);
    tracked_files[slot].path = NULL;
    if (tracked_files[slot].opens == 0 && tracked_files[slot].syncs == 0)
        free_slot_locked(slot);
}

/*
 * Frees the records a later open would rebuild exactly: closed files that
 * no longer exist, or whose size is their durable size. Returns how many.
 */
static size_t purge_locked(void)
{
    size_t freed = 0;
    for (int i = 0; i < (int)STORAGE_TRACKED_FILES_MAX; i++) {
        struct tracked_file *f = &tracked_files[i];
        if (!f->used || f->path == NULL || f->opens != 0 || f->syncs != 0)
            continue;
        struct stat st;
        bool found = stat(f->path, &st) == 0;
        bool gone = !found && errno == ENOENT;
        if (gone || (found && (uint64_t)st.st_size <= f->durable)) {
            chain_remove_locked(i);
            free_slot_locked(i);
            freed++;
        }
    }
    return freed;
}

/* A new record for path with the given durable size: its slot, or -EMFILE / -ENOMEM. */
static int insert_locked(const char *path, uint64_t durable)
{
    if (tracked_used >= tracked_cap && purge_locked() == 0)
        return -EMFILE;
    char *copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    for (int i = 0; i < (int)STORAGE_TRACKED_FILES_MAX; i++) {
        if (tracked_files[i].used)
            continue;
        tracked_files[i] = (struct tracked_file){
            .used = true, .path = copy, .durable = durable, .cut_low = UINT64_MAX};
        chain_insert_locked(i);
        tracked_used++;
        return i;
    }
    free(copy); /* unreachable: tracked_used < tracked_cap <= the array */
    return -EMFILE;
}

/* The slot of an fd opened through this file system, or -1. */
static int slot_of_fd_locked(int fd)
{
    if (fd < 0 || fd >= STORAGE_TRACKED_FDS_MAX || tracked_fd_slot[fd] == 0)
        return -1;
    return (int)tracked_fd_slot[fd] - 1;
}

/* ---- the vtable ---------------------------------------------------------------------- */

static int tracked_open(void *ctx, const char *path, int flags, int *fd_out)
{
    (void)ctx;
    const struct storage_fs *real = &storage_fs_posix;
    bool mutating = (flags & (STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNC | STORAGE_OPEN_EXCL)) != 0;
    pthread_mutex_lock(&tracked_lock);
    int rc = mutating ? stopped_locked() : 0;
    if (rc != 0)
        goto out;
    /* Room first, so that a file is never created without a record. */
    int slot = find_locked(path);
    if (slot < 0 && tracked_used >= tracked_cap && purge_locked() == 0) {
        rc = -EMFILE;
        goto out;
    }
    int fd;
    rc = real->open(real->ctx, path, flags, &fd);
    if (rc != 0)
        goto out;
    if (fd >= STORAGE_TRACKED_FDS_MAX) {
        real->close(real->ctx, fd);
        rc = -EMFILE;
        goto out;
    }
    if (slot < 0) {
        /* New, just created or truncated: 0; existing: durable as it is (file.h). */
        uint64_t size = 0;
        int64_t mtime_ms;
        if ((flags & STORAGE_OPEN_TRUNC) == 0)
            rc = real->fstat(real->ctx, fd, &size, &mtime_ms);
        if (rc == 0 && (slot = insert_locked(path, size)) < 0)
            rc = slot;
        if (rc != 0) {
            real->close(real->ctx, fd);
            goto out;
        }
    } else if (flags & STORAGE_OPEN_TRUNC) {
        tracked_files[slot].durable = 0;
        if (tracked_files[slot].syncs > 0)
            tracked_files[slot].cut_low = 0;
    }
    tracked_files[slot].opens++;
    tracked_fd_slot[fd] = (uint32_t)slot + 1;
    *fd_out = fd;
out:
    pthread_mutex_unlock(&tracked_lock);
    return rc;
}

static int tracked_close(void *ctx, int fd)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    int slot = slot_of_fd_locked(fd);
    if (slot >= 0) {
        tracked_fd_slot[fd] = 0;
        struct tracked_file *f = &tracked_files[slot];
        f->opens--;
        if (f->path == NULL && f->opens == 0 && f->syncs == 0)
            free_slot_locked(slot);
    }
    /* Closed under the lock: the number cannot be reused by an open before its slot is cleared. */
    int rc = storage_fs_posix.close(NULL, fd);
    pthread_mutex_unlock(&tracked_lock);
    return rc;
}

static int64_t tracked_pread(void *ctx, int fd, void *buf, size_t len, uint64_t pos)
{
    (void)ctx;
    return storage_fs_posix.pread(NULL, fd, buf, len, pos);
}

/* Under the lock so that no write lands after a power loss has cut the files. */
static int64_t tracked_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t pos)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    int64_t n = stopped_locked();
    if (n == 0)
        n = storage_fs_posix.pwritev(NULL, fd, iov, iovcnt, pos);
    pthread_mutex_unlock(&tracked_lock);
    return n;
}

/*
 * The durable size becomes the size at the start of the call: what is
 * written while fdatasync runs may or may not be on the disk, so it does
 * not count. The lock is not held across the real fdatasync (the broker's
 * thread keeps writing meanwhile).
 */
static int tracked_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    int rc = stopped_locked();
    if (rc != 0) {
        pthread_mutex_unlock(&tracked_lock);
        return rc;
    }
    int slot = slot_of_fd_locked(fd);
    uint64_t start_size = 0;
    int64_t mtime_ms;
    rc = storage_fs_posix.fstat(NULL, fd, &start_size, &mtime_ms);
    if (rc != 0 || slot < 0) {
        pthread_mutex_unlock(&tracked_lock);
        return rc != 0 ? rc : -EBADF; /* not opened through this file system */
    }
    struct tracked_file *f = &tracked_files[slot];
    if (f->syncs++ == 0)
        f->cut_low = UINT64_MAX;
    uint64_t resets = tracked_resets;
    pthread_mutex_unlock(&tracked_lock);

    rc = storage_fs_posix.fdatasync(NULL, fd);

    pthread_mutex_lock(&tracked_lock);
    if (tracked_lost || tracked_resets != resets) {
        /* The power went while it ran (it never returns), or the table was reset: f is not ours now. */
        rc = tracked_lost ? stopped_locked() : -EIO;
        pthread_mutex_unlock(&tracked_lock);
        return rc;
    }
    f->syncs--;
    if (rc == 0) {
        uint64_t covered = start_size < f->cut_low ? start_size : f->cut_low;
        if (covered > f->durable)
            f->durable = covered;
    }
    if (f->path == NULL && f->opens == 0 && f->syncs == 0)
        free_slot_locked(slot);
    pthread_mutex_unlock(&tracked_lock);
    return rc;
}

static int tracked_ftruncate(void *ctx, int fd, uint64_t len)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    int rc = stopped_locked();
    if (rc == 0)
        rc = storage_fs_posix.ftruncate(NULL, fd, len);
    int slot = slot_of_fd_locked(fd);
    if (rc == 0 && slot >= 0) {
        struct tracked_file *f = &tracked_files[slot];
        if (f->durable > len)
            f->durable = len;
        if (f->syncs > 0 && f->cut_low > len)
            f->cut_low = len;
    }
    pthread_mutex_unlock(&tracked_lock);
    return rc;
}

static int tracked_fstat(void *ctx, int fd, uint64_t *size, int64_t *mtime_ms)
{
    (void)ctx;
    return storage_fs_posix.fstat(NULL, fd, size, mtime_ms);
}

/*
 * The rename itself counts as durable at once (file.h, "Simplifications"):
 * `to` takes over `from`'s record, and `to`'s old record is dropped.
 */
static int tracked_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    char *copy = NULL;
    int rc = stopped_locked();
    if (rc != 0)
        goto out;
    /* Allocate before renaming, so that nothing can fail after it. */
    rc = -ENOMEM;
    if ((copy = strdup(to)) == NULL)
        goto out;
    rc = storage_fs_posix.rename(NULL, from, to);
    if (rc != 0)
        goto out;
    int src = find_locked(from);
    int dst = find_locked(to);
    if (dst >= 0 && dst != src)
        drop_name_locked(dst);
    if (src >= 0 && dst != src) {
        chain_remove_locked(src);
        free(tracked_files[src].path);
        tracked_files[src].path = copy;
        copy = NULL;
        chain_insert_locked(src);
    }
out:
    free(copy);
    pthread_mutex_unlock(&tracked_lock);
    return rc;
}

static int tracked_unlink(void *ctx, const char *path)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    int rc = stopped_locked();
    if (rc == 0)
        rc = storage_fs_posix.unlink(NULL, path);
    if (rc == 0) {
        int slot = find_locked(path);
        if (slot >= 0)
            drop_name_locked(slot);
    }
    pthread_mutex_unlock(&tracked_lock);
    return rc;
}

static int tracked_mkdir(void *ctx, const char *path)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    int rc = stopped_locked();
    pthread_mutex_unlock(&tracked_lock);
    return rc != 0 ? rc : storage_fs_posix.mkdir(NULL, path);
}

static int tracked_fsync_dir(void *ctx, const char *path)
{
    (void)ctx;
    pthread_mutex_lock(&tracked_lock);
    int rc = stopped_locked();
    pthread_mutex_unlock(&tracked_lock);
    return rc != 0 ? rc : storage_fs_posix.fsync_dir(NULL, path);
}

static int tracked_list_dir(void *ctx, const char *path, int (*fn)(void *arg, const char *name),
                            void *arg)
{
    (void)ctx;
    return storage_fs_posix.list_dir(NULL, path, fn, arg);
}

const struct storage_fs storage_fs_tracked = {
    .ctx = NULL,
    .open = tracked_open,
    .close = tracked_close,
    .pread = tracked_pread,
    .pwritev = tracked_pwritev,
    .fdatasync = tracked_fdatasync,
    .ftruncate = tracked_ftruncate,
    .fstat = tracked_fstat,
    .rename = tracked_rename,
    .unlink = tracked_unlink,
    .mkdir = tracked_mkdir,
    .fsync_dir = tracked_fsync_dir,
    .list_dir = tracked_list_dir,
};

/* ---- power loss ------------------------------------------------------------------------ */

int storage_fs_tracked_power_loss(void)
{
    pthread_mutex_lock(&tracked_lock);
    tracked_lost = true;
    tracked_loss_thread = pthread_self();
    int cut = 0, first_err = 0;
    for (size_t i = 0; i < STORAGE_TRACKED_FILES_MAX; i++) {
        const struct tracked_file *f = &tracked_files[i];
        if (!f->used || f->path == NULL)
            continue;
        struct stat st;
        int rc = 0;
        if (stat(f->path, &st) != 0)
            rc = errno == ENOENT ? 0 : -errno; /* removed behind our back: nothing to cut */
        else if ((uint64_t)st.st_size > f->durable)
            rc = truncate(f->path, (off_t)f->durable) == 0 ? 1 : -errno;
        if (rc > 0)
            cut++;
        else if (rc < 0 && first_err == 0)
            first_err = rc;
    }
    pthread_mutex_unlock(&tracked_lock);
    return first_err != 0 ? first_err : cut;
}

void storage_fs_tracked_reset(size_t files_max)
{
    pthread_mutex_lock(&tracked_lock);
    for (size_t i = 0; i < STORAGE_TRACKED_FILES_MAX; i++)
        free(tracked_files[i].path);
    memset(tracked_files, 0, sizeof(tracked_files));
    memset(tracked_buckets, 0, sizeof(tracked_buckets));
    memset(tracked_fd_slot, 0, sizeof(tracked_fd_slot));
    tracked_used = 0;
    tracked_cap = files_max == 0 || files_max > STORAGE_TRACKED_FILES_MAX
                      ? STORAGE_TRACKED_FILES_MAX
                      : files_max;
    tracked_lost = false;
    tracked_resets++;
    pthread_cond_broadcast(&tracked_reset_cond);
    pthread_mutex_unlock(&tracked_lock);
}

int64_t storage_fs_tracked_durable_size(const char *path)
{
    pthread_mutex_lock(&tracked_lock);
    int slot = find_locked(path);
    int64_t size = slot >= 0 ? (int64_t)tracked_files[slot].durable : -1;
    pthread_mutex_unlock(&tracked_lock);
    return size;
}

int storage_fs_tracked_stopped_threads(void)
{
    pthread_mutex_lock(&tracked_lock);
    int n = tracked_stopped_threads;
    pthread_mutex_unlock(&tracked_lock);
    return n;
}
