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
