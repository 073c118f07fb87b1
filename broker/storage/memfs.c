/*
 * storage_memfs: an in-memory file system for tests, with the durability
 * model of POSIX (data durable after fdatasync, names after fsync_dir) and
 * fault injection. Simple over fast: fdatasync copies the whole file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "file.h"
#include "limits.h"

#define MEMFS_FILES_MAX 4096
#define MEMFS_FDS_MAX 4096

struct memfs_inode {
    int used;
    uint8_t *data;
    size_t len, cap;
    uint8_t *synced;
    size_t synced_len;
    int64_t mtime_ms;
};

struct memfs_name {
    char *path; /* NULL: free slot */
    int inode;
};

struct memfs_fault {
    int armed;
    unsigned skip;
    int err;
    int sticky;
};

struct storage_memfs {
    pthread_mutex_t lock;
    struct storage_fs fs;
    struct memfs_inode inodes[MEMFS_FILES_MAX];
    struct memfs_name names[MEMFS_FILES_MAX];
    struct memfs_name durable[MEMFS_FILES_MAX];
    int fds[MEMFS_FDS_MAX]; /* inode + 1, 0 = closed */
    struct memfs_fault faults[STORAGE_MEMFS_OPS_COUNT];
    unsigned calls[STORAGE_MEMFS_OPS_COUNT];
    uint64_t space;
    int stop_armed;
    unsigned stop_left;
    int stopped;
    unsigned mutations;
    int64_t now_ms;
    int hold_syncs; /* fdatasync waits while set (a hung disk), bounded */
    int held;       /* fdatasync calls waiting now */
};

static struct storage_memfs *M(void *ctx)
{
    return ctx;
}

/* Counts a call of op and returns the injected error for it, or 0. Lock held. */
static int fault_check(struct storage_memfs *m, enum storage_memfs_op op, int mutating)
{
    m->calls[op]++;
    if (m->stopped)
        return -EIO;
    if (mutating) {
        if (m->stop_armed) {
            if (m->stop_left == 0) {
                m->stopped = 1;
                return -EIO;
            }
            m->stop_left--;
        }
        m->mutations++;
    }
    struct memfs_fault *f = &m->faults[op];
    if (!f->armed)
        return 0;
    if (f->skip > 0) {
        f->skip--;
        return 0;
    }
    if (!f->sticky)
        f->armed = 0;
    return -f->err;
}

static int name_find(struct memfs_name *names, const char *path)
{
    for (int i = 0; i < MEMFS_FILES_MAX; i++)
        if (names[i].path != NULL && strcmp(names[i].path, path) == 0)
            return i;
    return -1;
}

static int name_free_slot(struct memfs_name *names)
{
    for (int i = 0; i < MEMFS_FILES_MAX; i++)
        if (names[i].path == NULL)
            return i;
    return -1;
}

static int inode_referenced(struct storage_memfs *m, int ino)
{
    for (int i = 0; i < MEMFS_FILES_MAX; i++) {
        if (m->names[i].path != NULL && m->names[i].inode == ino)
            return 1;
        if (m->durable[i].path != NULL && m->durable[i].inode == ino)
            return 1;
    }
    for (int i = 0; i < MEMFS_FDS_MAX; i++)
        if (m->fds[i] == ino + 1)
            return 1;
    return 0;
}

static void inode_release_if_unused(struct storage_memfs *m, int ino)
{
    if (inode_referenced(m, ino))
        return;
    struct memfs_inode *n = &m->inodes[ino];
    free(n->data);
    free(n->synced);
    memset(n, 0, sizeof(*n));
}

static int inode_alloc(struct storage_memfs *m)
{
    for (int i = 0; i < MEMFS_FILES_MAX; i++) {
        if (!m->inodes[i].used) {
            memset(&m->inodes[i], 0, sizeof(m->inodes[i]));
            m->inodes[i].used = 1;
            m->inodes[i].mtime_ms = m->now_ms;
            return i;
        }
    }
    return -1;
}

static int inode_reserve(struct memfs_inode *n, size_t len)
{
    if (len <= n->cap)
        return 0;
    size_t cap = n->cap ? n->cap : 4096;
    while (cap < len)
        cap *= 2;
    uint8_t *p = realloc(n->data, cap);
    if (p == NULL)
        return -ENOMEM;
    memset(p + n->cap, 0, cap - n->cap);
    n->data = p;
    n->cap = cap;
    return 0;
}

static uint64_t space_used(struct storage_memfs *m)
{
    uint64_t used = 0;
    for (int i = 0; i < MEMFS_FILES_MAX; i++)
        if (m->inodes[i].used)
            used += m->inodes[i].len;
    return used;
}

static int fd_inode(struct storage_memfs *m, int fd)
{
    if (fd < 0 || fd >= MEMFS_FDS_MAX || m->fds[fd] == 0)
        return -1;
    return m->fds[fd] - 1;
}

static int mem_open(void *ctx, const char *path, int flags, int *fd_out)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int rc = fault_check(m, STORAGE_MEMFS_OPEN, flags != 0);
    if (rc != 0)
        goto out;
    int slot = name_find(m->names, path);
    if (slot >= 0 && (flags & STORAGE_OPEN_EXCL)) {
        rc = -EEXIST;
        goto out;
    }
    int ino;
    if (slot < 0) {
        if (!(flags & (STORAGE_OPEN_CREATE | STORAGE_OPEN_EXCL))) {
            rc = -ENOENT;
            goto out;
        }
        slot = name_free_slot(m->names);
        ino = inode_alloc(m);
        char *copy = strdup(path);
        if (slot < 0 || ino < 0 || copy == NULL) {
            if (ino >= 0)
                m->inodes[ino].used = 0;
            free(copy);
            rc = -ENOSPC;
            goto out;
        }
        m->names[slot].path = copy;
        m->names[slot].inode = ino;
    } else {
        ino = m->names[slot].inode;
        if (flags & STORAGE_OPEN_TRUNC) {
            m->inodes[ino].len = 0;
            m->inodes[ino].mtime_ms = m->now_ms;
        }
    }
    rc = -EMFILE;
    for (int fd = 0; fd < MEMFS_FDS_MAX; fd++) {
        if (m->fds[fd] == 0) {
            m->fds[fd] = ino + 1;
            *fd_out = fd;
            rc = 0;
            break;
        }
    }
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_close(void *ctx, int fd)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int ino = fd_inode(m, fd);
    int rc = -EBADF;
    if (ino >= 0) {
        m->fds[fd] = 0;
        inode_release_if_unused(m, ino);
        rc = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int64_t mem_pread(void *ctx, int fd, void *buf, size_t len, uint64_t pos)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int64_t rc = fault_check(m, STORAGE_MEMFS_PREAD, 0);
    int ino = fd_inode(m, fd);
    if (rc == 0 && ino < 0)
        rc = -EBADF;
    if (rc == 0) {
        struct memfs_inode *n = &m->inodes[ino];
        size_t k = 0;
        if (pos < n->len) {
            k = n->len - (size_t)pos;
            if (k > len)
                k = len;
            memcpy(buf, n->data + pos, k);
        }
        rc = (int64_t)k;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int64_t mem_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t pos)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int64_t rc = fault_check(m, STORAGE_MEMFS_PWRITE, 1);
    int ino = fd_inode(m, fd);
    if (rc == 0 && ino < 0)
        rc = -EBADF;
    if (rc != 0)
        goto out;
    struct memfs_inode *n = &m->inodes[ino];
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    uint64_t end = pos + total;
    if (end > n->len) {
        uint64_t grow = end - n->len;
        uint64_t used = space_used(m);
        uint64_t avail = m->space > used ? m->space - used : 0;
        if (grow > avail) {
            if (avail == 0 || pos + 0 >= n->len + avail) {
                rc = -ENOSPC;
                goto out;
            }
            end = n->len + avail;
            total = (size_t)(end - pos);
        }
    }
    if (inode_reserve(n, (size_t)end) != 0) {
        rc = -ENOSPC;
        goto out;
    }
    if (pos > n->len)
        memset(n->data + n->len, 0, (size_t)pos - n->len);
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < total; i++) {
        size_t k = iov[i].iov_len;
        if (k > total - done)
            k = total - done;
        memcpy(n->data + pos + done, iov[i].iov_base, k);
        done += k;
    }
    if (end > n->len)
        n->len = (size_t)end;
    n->mtime_ms = m->now_ms;
    rc = (int64_t)total;
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* How long a held fdatasync waits at most before going ahead anyway. */
#define MEMFS_HOLD_MS_MAX 10000

static int mem_fdatasync(void *ctx, int fd)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    m->held++;
    for (int waited = 0; m->hold_syncs && waited < MEMFS_HOLD_MS_MAX; waited++) {
        pthread_mutex_unlock(&m->lock);
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        pthread_mutex_lock(&m->lock);
    }
    m->held--;
    int rc = fault_check(m, STORAGE_MEMFS_FDATASYNC, 1);
    int ino = fd_inode(m, fd);
    if (rc == 0 && ino < 0)
        rc = -EBADF;
    if (rc == 0) {
        struct memfs_inode *n = &m->inodes[ino];
        uint8_t *copy = malloc(n->len ? n->len : 1);
        if (copy == NULL) {
            rc = -ENOMEM;
        } else {
            if (n->len)
                memcpy(copy, n->data, n->len);
            free(n->synced);
            n->synced = copy;
            n->synced_len = n->len;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_ftruncate(void *ctx, int fd, uint64_t len)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int rc = fault_check(m, STORAGE_MEMFS_FTRUNCATE, 1);
    int ino = fd_inode(m, fd);
    if (rc == 0 && ino < 0)
        rc = -EBADF;
    if (rc == 0) {
        struct memfs_inode *n = &m->inodes[ino];
        if (len > n->len) {
            rc = inode_reserve(n, (size_t)len);
            if (rc == 0)
                memset(n->data + n->len, 0, (size_t)len - n->len);
        }
        if (rc == 0) {
            n->len = (size_t)len;
            n->mtime_ms = m->now_ms;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_fstat(void *ctx, int fd, uint64_t *size, int64_t *mtime_ms)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int ino = fd_inode(m, fd);
    int rc = m->stopped ? -EIO : ino < 0 ? -EBADF : 0;
    if (rc == 0) {
        *size = m->inodes[ino].len;
        *mtime_ms = m->inodes[ino].mtime_ms;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_rename(void *ctx, const char *from, const char *to)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int rc = fault_check(m, STORAGE_MEMFS_RENAME, 1);
    if (rc != 0)
        goto out;
    int src = name_find(m->names, from);
    if (src < 0) {
        rc = -ENOENT;
        goto out;
    }
    int dst = name_find(m->names, to);
    char *copy = strdup(to);
    if (copy == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    int ino = m->names[src].inode;
    free(m->names[src].path);
    m->names[src].path = copy;
    if (dst >= 0) {
        int old = m->names[dst].inode;
        free(m->names[dst].path);
        m->names[dst].path = NULL;
        inode_release_if_unused(m, old);
    }
    (void)ino;
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_unlink(void *ctx, const char *path)
{
    struct storage_memfs *m = M(ctx);
    pthread_mutex_lock(&m->lock);
    int rc = fault_check(m, STORAGE_MEMFS_UNLINK, 1);
    if (rc == 0) {
        int slot = name_find(m->names, path);
        if (slot < 0) {
            rc = -ENOENT;
        } else {
            int ino = m->names[slot].inode;
            free(m->names[slot].path);
            m->names[slot].path = NULL;
            inode_release_if_unused(m, ino);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Directories are implicit (any path is inside "its" directory); mkdir only counts. */
static int mem_mkdir(void *ctx, const char *path)
{
    struct storage_memfs *m = M(ctx);
    (void)path;
    pthread_mutex_lock(&m->lock);
    int rc = m->stopped ? -EIO : 0;
    if (rc == 0)
        m->mutations++;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static void names_copy(struct memfs_name *dst, const struct memfs_name *src)
{
    for (int i = 0; i < MEMFS_FILES_MAX; i++) {
        free(dst[i].path);
        dst[i].path = src[i].path ? strdup(src[i].path) : NULL;
        dst[i].inode = src[i].inode;
    }
}

static int mem_fsync_dir(void *ctx, const char *path)
{
    struct storage_memfs *m = M(ctx);
    (void)path;
    pthread_mutex_lock(&m->lock);
    int rc = fault_check(m, STORAGE_MEMFS_FSYNC_DIR, 1);
    if (rc == 0) {
        names_copy(m->durable, m->names);
        for (int i = 0; i < MEMFS_FILES_MAX; i++)
            if (m->inodes[i].used)
                inode_release_if_unused(m, i);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_list_dir(void *ctx, const char *path, int (*fn)(void *arg, const char *name),
                        void *arg)
{
    struct storage_memfs *m = M(ctx);
    size_t plen = strlen(path);
    char found[256][64];
    int count = 0;
    pthread_mutex_lock(&m->lock);
    int rc = m->stopped ? -EIO : 0;
    for (int i = 0; rc == 0 && i < MEMFS_FILES_MAX; i++) {
        const char *p = m->names[i].path;
        if (p == NULL || strncmp(p, path, plen) != 0 || p[plen] != '/')
            continue;
        const char *name = p + plen + 1;
        if (strchr(name, '/') != NULL || strlen(name) >= sizeof(found[0]))
            continue;
        if (count == 256) {
            rc = -ENOMEM;
            break;
        }
        strcpy(found[count++], name);
    }
    pthread_mutex_unlock(&m->lock);
    for (int i = 0; rc == 0 && i < count; i++)
        rc = fn(arg, found[i]);
    return rc;
}

struct storage_memfs *storage_memfs_create(void)
{
    struct storage_memfs *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->space = UINT64_MAX;
    m->now_ms = 1000000;
    m->fs = (struct storage_fs){
        .ctx = m,
        .open = mem_open,
        .close = mem_close,
        .pread = mem_pread,
        .pwritev = mem_pwritev,
        .fdatasync = mem_fdatasync,
        .ftruncate = mem_ftruncate,
        .fstat = mem_fstat,
        .rename = mem_rename,
        .unlink = mem_unlink,
        .mkdir = mem_mkdir,
        .fsync_dir = mem_fsync_dir,
        .list_dir = mem_list_dir,
    };
    return m;
}

void storage_memfs_destroy(struct storage_memfs *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < MEMFS_FILES_MAX; i++) {
        free(m->names[i].path);
        free(m->durable[i].path);
        free(m->inodes[i].data);
        free(m->inodes[i].synced);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const struct storage_fs *storage_memfs_fs(struct storage_memfs *m)
{
    return &m->fs;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    if (q != NULL && n)
        memcpy(q, p, n);
    return q;
}

struct storage_memfs *storage_memfs_clone(struct storage_memfs *m, int durable_only)
{
    struct storage_memfs *c = storage_memfs_create();
    if (c == NULL)
        return NULL;
    pthread_mutex_lock(&m->lock);
    const struct memfs_name *src = durable_only ? m->durable : m->names;
    for (int i = 0; i < MEMFS_FILES_MAX; i++) {
        if (src[i].path == NULL)
            continue;
        const struct memfs_inode *n = &m->inodes[src[i].inode];
        struct memfs_inode *d = &c->inodes[i];
        const uint8_t *bytes = durable_only ? n->synced : n->data;
        size_t len = durable_only ? n->synced_len : n->len;
        d->used = 1;
        d->data = dup_bytes(bytes, len);
        d->len = d->cap = len;
        d->synced = dup_bytes(bytes, len);
        d->synced_len = len;
        d->mtime_ms = n->mtime_ms;
        c->names[i].path = strdup(src[i].path);
        c->names[i].inode = i;
        c->durable[i].path = strdup(src[i].path);
        c->durable[i].inode = i;
    }
    c->now_ms = m->now_ms;
    pthread_mutex_unlock(&m->lock);
    return c;
}

void storage_memfs_fail(struct storage_memfs *m, enum storage_memfs_op op, unsigned skip, int err,
                        int sticky)
{
    pthread_mutex_lock(&m->lock);
    m->faults[op] = (struct memfs_fault){.armed = 1, .skip = skip, .err = err, .sticky = sticky};
    pthread_mutex_unlock(&m->lock);
}

void storage_memfs_hold_syncs(struct storage_memfs *m, int hold)
{
    pthread_mutex_lock(&m->lock);
    m->hold_syncs = hold;
    pthread_mutex_unlock(&m->lock);
}

int storage_memfs_syncs_held(struct storage_memfs *m)
{
    pthread_mutex_lock(&m->lock);
    int n = m->held;
    pthread_mutex_unlock(&m->lock);
    return n;
}

void storage_memfs_set_space(struct storage_memfs *m, uint64_t bytes)
{
    pthread_mutex_lock(&m->lock);
    m->space = bytes;
    pthread_mutex_unlock(&m->lock);
}

void storage_memfs_stop_after(struct storage_memfs *m, unsigned ops)
{
    pthread_mutex_lock(&m->lock);
    m->stop_armed = 1;
    m->stop_left = ops;
    pthread_mutex_unlock(&m->lock);
}

unsigned storage_memfs_mutations(struct storage_memfs *m)
{
    pthread_mutex_lock(&m->lock);
    unsigned n = m->mutations;
    pthread_mutex_unlock(&m->lock);
    return n;
}

unsigned storage_memfs_calls(struct storage_memfs *m, enum storage_memfs_op op)
{
    pthread_mutex_lock(&m->lock);
    unsigned n = m->calls[op];
    pthread_mutex_unlock(&m->lock);
    return n;
}

void storage_memfs_set_time(struct storage_memfs *m, int64_t now_ms)
{
    pthread_mutex_lock(&m->lock);
    m->now_ms = now_ms;
    pthread_mutex_unlock(&m->lock);
}

int64_t storage_memfs_size(struct storage_memfs *m, const char *path)
{
    pthread_mutex_lock(&m->lock);
    int slot = name_find(m->names, path);
    int64_t n = slot < 0 ? -1 : (int64_t)m->inodes[m->names[slot].inode].len;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int storage_memfs_put(struct storage_memfs *m, const char *path, const void *data, size_t len)
{
    pthread_mutex_lock(&m->lock);
    int rc = 0;
    int slot = name_find(m->names, path);
    int ino;
    if (slot < 0) {
        slot = name_free_slot(m->names);
        ino = inode_alloc(m);
        if (slot < 0 || ino < 0) {
            rc = -ENOSPC;
            goto out;
        }
        m->names[slot].path = strdup(path);
        m->names[slot].inode = ino;
    }
    ino = m->names[slot].inode;
    struct memfs_inode *n = &m->inodes[ino];
    rc = inode_reserve(n, len);
    if (rc != 0)
        goto out;
    memcpy(n->data, data, len);
    n->len = len;
    free(n->synced);
    n->synced = dup_bytes(data, len);
    n->synced_len = len;
    names_copy(m->durable, m->names);
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int64_t storage_memfs_get(struct storage_memfs *m, const char *path, void *out, size_t cap)
{
    pthread_mutex_lock(&m->lock);
    int slot = name_find(m->names, path);
    int64_t n = -1;
    if (slot >= 0) {
        const struct memfs_inode *ino = &m->inodes[m->names[slot].inode];
        memcpy(out, ino->data, ino->len < cap ? ino->len : cap);
        n = (int64_t)ino->len;
    }
    pthread_mutex_unlock(&m->lock);
    return n;
}
