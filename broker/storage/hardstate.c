/* Hard state save/load: write-temp, fdatasync, rename, fsync-dir. */
#include "hardstate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "wire/byteorder.h"
#include "wire/crc32c.h"

static int err_from_errno(int neg, int *sys_err)
{
    if (sys_err != NULL)
        *sys_err = -neg;
    return neg == -ENOSPC ? STORAGE_ERR_NOSPC : STORAGE_ERR_IO;
}

static int join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int storage_hardstate_save(const struct storage_fs *fs, const char *dir,
                           const struct storage_hardstate *hs, int *sys_err)
{
    if (hs->meta_len > STORAGE_HARDSTATE_META_BYTES_MAX)
        return STORAGE_ERR_INVALID;
    char tmp[STORAGE_PATH_BYTES_MAX], final[STORAGE_PATH_BYTES_MAX];
    if (join(tmp, sizeof(tmp), dir, STORAGE_HARDSTATE_TMP_FILE) != 0 ||
        join(final, sizeof(final), dir, STORAGE_HARDSTATE_FILE) != 0)
        return STORAGE_ERR_INVALID;

    uint8_t buf[STORAGE_HARDSTATE_FIXED_BYTES + STORAGE_HARDSTATE_META_BYTES_MAX + 4];
    memcpy(buf, "RMQH", 4);
    wire_store_be(buf + 4, STORAGE_HARDSTATE_VERSION, 4);
    wire_store_be(buf + 8, hs->current_term, 8);
    wire_store_be(buf + 16, hs->voted_for, 8);
    wire_store_be(buf + 24, hs->commit_index, 8);
    wire_store_be(buf + 32, hs->meta_len, 4);
    memcpy(buf + 36, hs->meta, hs->meta_len);
    size_t len = 36 + hs->meta_len;
    wire_store_be(buf + len, wire_crc32c(0, buf, len), 4);
    len += 4;

    int fd;
    int rc = fs->open(fs->ctx, tmp, STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNC, &fd);
    if (rc != 0)
        return err_from_errno(rc, sys_err);
    struct iovec iov = {buf, len};
    rc = storage_fs_pwritev_all(fs, fd, &iov, 1, 0);
    if (rc == 0)
        rc = fs->fdatasync(fs->ctx, fd);
    int crc = fs->close(fs->ctx, fd);
    if (rc == 0)
        rc = crc;
    if (rc == 0)
        rc = fs->rename(fs->ctx, tmp, final);
    if (rc == 0)
        rc = fs->fsync_dir(fs->ctx, dir);
    return rc == 0 ? STORAGE_OK : err_from_errno(rc, sys_err);
}

int storage_hardstate_load(const struct storage_fs *fs, const char *dir,
                           struct storage_hardstate *hs, int *sys_err)
{
    memset(hs, 0, sizeof(*hs));
    char path[STORAGE_PATH_BYTES_MAX];
    if (join(path, sizeof(path), dir, STORAGE_HARDSTATE_FILE) != 0)
        return STORAGE_ERR_INVALID;
    int fd;
    int rc = fs->open(fs->ctx, path, 0, &fd);
    if (rc == -ENOENT)
        return STORAGE_OK;
    if (rc != 0)
        return err_from_errno(rc, sys_err);
    uint8_t buf[STORAGE_HARDSTATE_FIXED_BYTES + STORAGE_HARDSTATE_META_BYTES_MAX + 1];
    uint64_t size;
    int64_t mtime;
    rc = fs->fstat(fs->ctx, fd, &size, &mtime);
    int result = STORAGE_OK;
    if (rc != 0) {
        result = err_from_errno(rc, sys_err);
    } else if (size < STORAGE_HARDSTATE_FIXED_BYTES || size > sizeof(buf) - 1) {
        result = STORAGE_ERR_CORRUPT;
    } else if ((rc = storage_fs_pread_all(fs, fd, buf, (size_t)size, 0)) != 0) {
        result = err_from_errno(rc, sys_err);
    } else {
        uint32_t meta_len = (uint32_t)wire_load_be(buf + 32, 4);
        if (memcmp(buf, "RMQH", 4) != 0 ||
            wire_load_be(buf + 4, 4) != STORAGE_HARDSTATE_VERSION ||
            meta_len > STORAGE_HARDSTATE_META_BYTES_MAX ||
            size != STORAGE_HARDSTATE_FIXED_BYTES + meta_len ||
            wire_load_be(buf + 36 + meta_len, 4) != wire_crc32c(0, buf, 36 + meta_len)) {
            result = STORAGE_ERR_CORRUPT;
        } else {
            hs->current_term = wire_load_be(buf + 8, 8);
            hs->voted_for = wire_load_be(buf + 16, 8);
            hs->commit_index = wire_load_be(buf + 24, 8);
            hs->meta_len = meta_len;
            memcpy(hs->meta, buf + 36, meta_len);
        }
    }
    fs->close(fs->ctx, fd);
    return result;
}
