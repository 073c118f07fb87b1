/* `raftmq-broker dump`: every stored entry of every Raft group in a data directory, for comparing replicas offline. */
#define _GNU_SOURCE
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/dump.h"
#include "broker/metadata.h"
#include "broker/storage/log.h"
#include "wire/crc32c.h"

/*
 * Output (docs/operations.md, "Comparing replicas"):
 *   group GROUP_ID NAME first=F last=L commit=C
 *   entry GROUP_ID INDEX TERM TYPE FIRST_OFFSET OFFSET_COUNT PAYLOAD_CRC32C
 * Two replicas of a group agree when their entry lines up to the smaller
 * commit index are identical.
 */

static int dump_group(const char *dir, uint64_t group, const char *name, FILE *out)
{
    struct storage_log_options o = {.fsync_policy = STORAGE_FSYNC_NEVER};
    struct storage_log *log;
    struct storage_log_recovery rec;
    char err[512];
    if (storage_log_open(dir, &o, &log, &rec, err, sizeof err) != 0) {
        fprintf(stderr, "raftmq-broker dump: %s: %s\n", dir, err);
        return 1;
    }
    struct storage_hardstate hs;
    if (storage_log_load_hardstate(log, &hs) != 0) {
        fprintf(stderr, "raftmq-broker dump: %s: cannot load the hard state\n", dir);
        storage_log_close(log);
        return 1;
    }
    uint64_t first = storage_log_first_index(log), last = storage_log_last_index(log);
    fprintf(out, "group %" PRIu64 " %s first=%" PRIu64 " last=%" PRIu64 " commit=%" PRIu64 "\n",
            group, name, first, last, hs.commit_index);
    size_t cap = 8u << 20;
    uint8_t *buf = malloc(cap);
    struct storage_entry *entries = calloc(65536, sizeof(*entries));
    int rc = 0;
    uint64_t next = first;
    while (buf != NULL && entries != NULL && next <= last) {
        struct storage_read rd = {.buf = buf, .buf_cap = cap, .entries = entries, .entries_cap = 65536};
        if (storage_log_read_index(log, next, last, cap / 2, &rd) != 0 || rd.count == 0) {
            fprintf(stderr, "raftmq-broker dump: %s: cannot read entry %" PRIu64 ": %s\n", dir, next,
                    storage_log_errmsg(log));
            rc = 1;
            break;
        }
        for (size_t i = 0; i < rd.count; i++) {
            const struct storage_entry *e = &rd.entries[i];
            fprintf(out, "entry %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %" PRIu64 " %u %08x\n", group,
                    e->index, e->term, e->type, e->first_offset, e->offset_count,
                    wire_crc32c(0, e->payload, e->payload_len));
            next = e->index + 1;
        }
    }
    free(buf);
    free(entries);
    storage_log_close(log);
    return rc;
}

int broker_dump(const char *data_dir, FILE *out)
{
    char path[8192 + 512];
    snprintf(path, sizeof path, "%s/meta", data_dir);
    int rc = dump_group(path, 0, "meta", out);
    snprintf(path, sizeof path, "%s/topics", data_dir);
    DIR *topics = opendir(path);
    if (topics == NULL)
        return rc;
    struct dirent *t;
    while ((t = readdir(topics)) != NULL) {
        const char *at = strrchr(t->d_name, '@');
        if (t->d_name[0] == '.' || at == NULL)
            continue;
        uint64_t topic_id = strtoull(at + 1, NULL, 10);
        char tpath[8192];
        snprintf(tpath, sizeof tpath, "%s/topics/%s", data_dir, t->d_name);
        DIR *parts = opendir(tpath);
        if (parts == NULL)
            continue;
        struct dirent *p;
        while ((p = readdir(parts)) != NULL) {
            if (p->d_name[0] < '0' || p->d_name[0] > '9')
                continue;
            uint32_t partition = (uint32_t)strtoul(p->d_name, NULL, 10);
            char name[512];
            snprintf(name, sizeof name, "%.*s/%u", (int)(at - t->d_name), t->d_name, partition);
            snprintf(path, sizeof path, "%s/%s", tpath, p->d_name);
            rc |= dump_group(path, md_group_id(topic_id, partition), name, out);
        }
        closedir(parts);
    }
    closedir(topics);
    return rc;
}
