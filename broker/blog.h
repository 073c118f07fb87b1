/* The broker's log: one line per event, with time, level, node id and Raft group. */
#ifndef RAFTMQ_BROKER_BLOG_H
#define RAFTMQ_BROKER_BLOG_H

#include <stdint.h>
#include <stdio.h>

/*
 * Line format (docs/operations.md, "Logs"):
 *
 *   2026-11-26T03:41:23.123Z INFO  node=1 group=orders/0 became leader term=3
 *
 * `group` is "meta" for the metadata group, "topic/partition" for a
 * partition, "-" for events that belong to no group. Lines go to one FILE
 * (stderr by default), each written with one fputs so that lines from
 * several brokers sharing a terminal never interleave mid-line.
 */
enum blog_level {
    BLOG_ERROR = 0,
    BLOG_WARN = 1,
    BLOG_INFO = 2,
    BLOG_DEBUG = 3,
};

void blog_init(uint32_t node_id, int level, FILE *out);
int blog_level(void);
/* "error", "warn", "info", "debug"; -1 for anything else. */
int blog_level_parse(const char *name);
const char *blog_level_name(int level);

void blog(int level, const char *group, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define BLOG_ENABLED(level) ((level) <= blog_level())

#endif
