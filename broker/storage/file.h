/* The file operations partition storage uses, as a vtable: the real POSIX one and, for tests, an in-memory one with fault injection. */
#ifndef RAFTMQ_STORAGE_FILE_H
#define RAFTMQ_STORAGE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Why a vtable: crash safety cannot be tested on a real disk without pulling
 * the plug. Every byte storage reads or writes goes through one of these
 * functions, so a test can run the same code on storage_memfs, which keeps
 * what was synced apart from what was only written, fails a chosen call with
 * ENOSPC or EIO, and "loses power" by keeping only the synced part.
 *
 * Conventions: an int result is 0 on success or a negative errno; pread and
 * pwritev return the byte count (possibly short) or a negative errno. A file
 * is named by a small non-negative integer handle. Paths are at most
 * STORAGE_PATH_BYTES_MAX bytes. All functions are thread-safe (the syncer
 * thread calls fdatasync while the broker's thread writes).
 */

#define STORAGE_OPEN_CREATE 1 /* create if missing */
#define STORAGE_OPEN_TRUNC 2  /* empty the file */
#define STORAGE_OPEN_EXCL 4   /* fail with -EEXIST if it exists */

struct storage_fs {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, int *fd_out);
    int (*close)(void *ctx, int fd);
    int64_t (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t pos);
    int64_t (*pwritev)(void *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t pos);
    /* Makes the file's data (and size) durable. */
    int (*fdatasync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    /* Size in bytes and last modification time in ms since the epoch. */
    int (*fstat)(void *ctx, int fd, uint64_t *size, int64_t *mtime_ms);
    /* Atomically replaces `to` with `from` (durable after fsync_dir). */
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    /* -EEXIST if it exists. */
    int (*mkdir)(void *ctx, const char *path);
    /* Makes the directory's entries (creations, renames, unlinks) durable. */
    int (*fsync_dir)(void *ctx, const char *path);
    /* Calls fn for each entry's name (not "." or ".."); stops at fn's first non-zero result and returns it. */
    int (*list_dir)(void *ctx, const char *path, int (*fn)(void *arg, const char *name), void *arg);
};

/* The real file system (open(2), pwritev(2), fdatasync(2)...). Stateless. */
extern const struct storage_fs storage_fs_posix;

/* ---- storage_fs_tracked: the real file system, with power loss, for fault tests ------ */

/*
 * TEST ONLY (the broker's test_power_loss option). The POSIX operations,
 * plus a record, per path, of each file's durable size: the size it had
 * when the last fdatasync that returned successfully started (bytes written
 * during or after that call are not durable). A file never synced since it
 * was created or truncated has durable size 0. A file that already exists
 * when first opened counts as durable at its size then: the tracker cannot
 * know what an earlier process synced (the broker syncs every log once at
 * start, which covers what an earlier process left in the page cache).
 * ftruncate below the durable size lowers it; the record survives close,
 * moves on rename and is dropped on unlink.
 *
 * storage_fs_tracked_power_loss() then cuts every tracked file to its
 * durable size with truncate(2): the disk as a power loss would leave it,
 * for a process that exits at once afterwards.
 *
 * Simplifications (a real power loss can lose more): directory entries
 * are durable at once (a created, renamed or unlinked name survives
 * without fsync_dir), and only a file's length is modelled, so an
 * unsynced overwrite inside the durable size is kept. Neither matters to
 * partition storage, which only appends, truncates, and replaces the hard
 * state by rename after fdatasync of the new file.
 *
 * Bounded: at most STORAGE_TRACKED_FILES_MAX paths (a broker has a few
 * thousand files) and file descriptors below STORAGE_TRACKED_FDS_MAX. When
 * the table is full, records of closed files that are gone or whose size is
 * their durable size are forgotten (opening such a file again gives the
 * same record back); if that frees nothing, open fails with -EMFILE rather
 * than leave a file untracked. Thread-safe: one mutex, held across each
 * mutating call but not across fdatasync itself. Process-wide: one table.
 */
#define STORAGE_TRACKED_FILES_MAX 8192u
#define STORAGE_TRACKED_FDS_MAX 65536

extern const struct storage_fs storage_fs_tracked;

/*
 * Cuts every tracked file longer than its durable size to that size;
 * returns how many were cut, or the first -errno (files that no longer
 * exist are skipped; the others are still cut). Afterwards the machine has
 * stopped: every mutating call (writes, syncs, truncations, renames,
 * unlinks, mkdir, fsync_dir, opens that create or truncate), and every
 * fdatasync that was running, fails with -EIO on the calling thread and
 * blocks on any other thread until storage_fs_tracked_reset (then -EIO),
 * so that no other thread acts on an error before the process exits.
 */
int storage_fs_tracked_power_loss(void);

/*
 * Forgets every record and the power loss, and sets the table's capacity
 * (0 or more than STORAGE_TRACKED_FILES_MAX: STORAGE_TRACKED_FILES_MAX).
 * For tests; call with no tracked file open.
 */
void storage_fs_tracked_reset(size_t files_max);

/* The durable size recorded for path, or -1 if it is not tracked. */
int64_t storage_fs_tracked_durable_size(const char *path);
/* Calls blocked on other threads since the power loss (for tests). */
int storage_fs_tracked_stopped_threads(void);

/* pread/pwritev until done: 0, or a negative errno (-EIO for an unexpected end of file). */
int storage_fs_pread_all(const struct storage_fs *fs, int fd, void *buf, size_t len, uint64_t pos);
int storage_fs_pwritev_all(const struct storage_fs *fs, int fd, const struct iovec *iov, int iovcnt,
                           uint64_t pos);

/* ---- storage_memfs: in-memory file system for tests ------------------------------ */

/*
 * Keeps, per file, the current bytes and the bytes as of its last fdatasync,
 * and per file system the current names and the names as of the last
 * fsync_dir (one durability domain for all directories: a test uses one
 * partition directory). storage_memfs_clone(fs, 1) is what a disk would hold
 * after a power loss at this instant: synced names pointing at synced bytes.
 */
enum storage_memfs_op {
    STORAGE_MEMFS_OPEN,
    STORAGE_MEMFS_PREAD,
    STORAGE_MEMFS_PWRITE,
    STORAGE_MEMFS_FDATASYNC,
    STORAGE_MEMFS_FTRUNCATE,
    STORAGE_MEMFS_RENAME,
    STORAGE_MEMFS_UNLINK,
    STORAGE_MEMFS_FSYNC_DIR,
    STORAGE_MEMFS_OPS_COUNT
};

struct storage_memfs;

struct storage_memfs *storage_memfs_create(void);
void storage_memfs_destroy(struct storage_memfs *m);
/* The vtable for m (valid until destroy). */
const struct storage_fs *storage_memfs_fs(struct storage_memfs *m);
/*
 * A new, independent memfs holding m's current state, or with durable_only
 * the state a power loss would leave now. No handles are open in the copy.
 */
struct storage_memfs *storage_memfs_clone(struct storage_memfs *m, int durable_only);

/* The `skip`-th next call of op (0 = the next one) fails with -err; with sticky, so do all after it. */
void storage_memfs_fail(struct storage_memfs *m, enum storage_memfs_op op, unsigned skip, int err,
                        int sticky);
/* Writes beyond this many stored bytes in total fail with -ENOSPC (a write that straddles it is short). */
void storage_memfs_set_space(struct storage_memfs *m, uint64_t bytes);
/* While hold is set, fdatasync blocks (a hung disk; at most 10 s). */
void storage_memfs_hold_syncs(struct storage_memfs *m, int hold);
/* fdatasync calls currently held. */
int storage_memfs_syncs_held(struct storage_memfs *m);
/*
 * After `ops` more mutating calls (open with create/trunc, pwritev,
 * fdatasync, ftruncate, rename, unlink, mkdir, fsync_dir) every call fails
 * with -EIO, as if the machine had stopped there; clone(m, 1) then shows
 * what survives.
 */
void storage_memfs_stop_after(struct storage_memfs *m, unsigned ops);
/* Mutating calls so far (to size a stop_after sweep). */
unsigned storage_memfs_mutations(struct storage_memfs *m);
/* Calls of op so far. */
unsigned storage_memfs_calls(struct storage_memfs *m, enum storage_memfs_op op);
/* The clock for mtimes (ms). */
void storage_memfs_set_time(struct storage_memfs *m, int64_t now_ms);
/* Direct access for tests that damage files: size, or -1 if missing. */
int64_t storage_memfs_size(struct storage_memfs *m, const char *path);
/* Replaces a file's current and synced content (creating it, durably). */
int storage_memfs_put(struct storage_memfs *m, const char *path, const void *data, size_t len);
/* Copies up to cap bytes of a file's current content; returns its size or -1. */
int64_t storage_memfs_get(struct storage_memfs *m, const char *path, void *out, size_t cap);

#endif
