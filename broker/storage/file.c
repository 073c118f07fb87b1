/* The POSIX implementation of the storage file vtable, and the read/write-all helpers. */
#define _GNU_SOURCE
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int posix_open(void *ctx, const char *path, int flags, int *fd_out)
{
    (void)ctx;
    int oflags = O_RDWR | O_CLOEXEC;
    if (flags & STORAGE_OPEN_CREATE)
        oflags |= O_CREAT;
    if (flags & STORAGE_OPEN_TRUNC)
        oflags |= O_TRUNC;
    if (flags & STORAGE_OPEN_EXCL)
        oflags |= O_EXCL | O_CREAT;
    int fd = open(path, oflags, 0644);
    if (fd < 0)
        return -errno;
    *fd_out = fd;
    return 0;
}

static int posix_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd) == 0 ? 0 : -errno;
}

static int64_t posix_pread(void *ctx, int fd, void *buf, size_t len, uint64_t pos)
{
    (void)ctx;
    ssize_t n;
    do
        n = pread(fd, buf, len, (off_t)pos);
    while (n < 0 && errno == EINTR);
    return n >= 0 ? (int64_t)n : -errno;
}

static int64_t posix_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t pos)
{
    (void)ctx;
    ssize_t n;
    do
        n = pwritev(fd, iov, iovcnt, (off_t)pos);
    while (n < 0 && errno == EINTR);
    return n >= 0 ? (int64_t)n : -errno;
}

/*
 * No retry on failure: after a failed fdatasync Linux may already have
 * marked the dirty pages clean, so a second call can succeed although the
 * data never reached the disk ("fsyncgate", 2018). The caller fail-stops.
 */
static int posix_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static int posix_ftruncate(void *ctx, int fd, uint64_t len)
{
    (void)ctx;
    return ftruncate(fd, (off_t)len) == 0 ? 0 : -errno;
}

static int posix_fstat(void *ctx, int fd, uint64_t *size, int64_t *mtime_ms)
{
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    *mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    return 0;
}

static int posix_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) == 0 ? 0 : -errno;
}

static int posix_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) == 0 ? 0 : -errno;
}

static int posix_mkdir(void *ctx, const char *path)
{
    (void)ctx;
    return mkdir(path, 0755) == 0 ? 0 : -errno;
}

static int posix_fsync_dir(void *ctx, const char *path)
{
    (void)ctx;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int posix_list_dir(void *ctx, const char *path, int (*fn)(void *arg, const char *name),
                          void *arg)
{
    (void)ctx;
    DIR *d = opendir(path);
    if (d == NULL)
        return -errno;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0)
                rc = -errno;
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        rc = fn(arg, e->d_name);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}

const struct storage_fs storage_fs_posix = {
    .ctx = NULL,
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwritev = posix_pwritev,
    .fdatasync = posix_fdatasync,
    .ftruncate = posix_ftruncate,
    .fstat = posix_fstat,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .fsync_dir = posix_fsync_dir,
    .list_dir = posix_list_dir,
};

int storage_fs_pread_all(const struct storage_fs *fs, int fd, void *buf, size_t len, uint64_t pos)
{
    uint8_t *p = buf;
    while (len > 0) {
        int64_t n = fs->pread(fs->ctx, fd, p, len, pos);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        pos += (uint64_t)n;
    }
    return 0;
}

int storage_fs_pwritev_all(const struct storage_fs *fs, int fd, const struct iovec *iov, int iovcnt,
                           uint64_t pos)
{
    struct iovec local[8];
    if (iovcnt < 1 || iovcnt > 8)
        return -EINVAL;
    memcpy(local, iov, sizeof(local[0]) * (size_t)iovcnt);
    struct iovec *v = local;
    int left = iovcnt;
    while (left > 0) {
        int64_t n = fs->pwritev(fs->ctx, fd, v, left, pos);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        pos += (uint64_t)n;
        while (left > 0 && (size_t)n >= v->iov_len) {
            n -= (int64_t)v->iov_len;
            v++;
            left--;
        }
        if (left > 0) {
            v->iov_base = (uint8_t *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    return 0;
}
