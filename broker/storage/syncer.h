/* The group-commit thread: runs fdatasync for many partition logs and reports "durable up to index I" back to the event loop. */
#ifndef RAFTMQ_STORAGE_SYNCER_H
#define RAFTMQ_STORAGE_SYNCER_H

#include <stddef.h>
#include <stdint.h>

struct storage_log;

/*
 * Why a thread: fdatasync takes from tens of microseconds to tens of
 * milliseconds and the event loop must not block (DESIGN.md, "Processes and
 * sockets"). Why group commit: every request that arrives while an
 * fdatasync runs is served by the next one, so the number of syncs per
 * second is bounded by the disk, not by the number of appends.
 *
 * Protocol, from the owner thread of the logs:
 *   1. storage_log_append(...)            buffered
 *   2. storage_log_request_sync(log)      queues the log (once) and returns
 *   3. poll storage_syncer_fd() for POLLIN, e.g. as a zmq_pollitem_t with
 *      .socket = NULL, .fd = storage_syncer_fd(s), .events = ZMQ_POLLIN
 *   4. storage_syncer_poll(s, out, cap)   drains the fd and returns one
 *      completion per log whose durable index moved or that failed
 *   5. acknowledge what is <= completion.durable_index.
 *
 * Bounded: a log is in the request queue at most once and in the
 * completion queue at most once, and a syncer serves at most logs_max logs,
 * so both queues have logs_max slots and can never overflow.
 *
 * One thread runs the fdatasyncs of all its logs one after another. A
 * broker with many partitions on several disks can run one syncer per disk.
 */
struct storage_syncer;

struct storage_completion {
    struct storage_log *log;
    void *user_data;        /* the log's options.user_data */
    uint64_t durable_index; /* storage_log_durable_index at poll time */
    uint64_t hardstate_saved; /* storage_log_hardstate_saved at poll time */
    int err;                /* 0, or the error that failed the log */
};

/* Starts the thread. logs_max in [1, STORAGE_SYNCER_LOGS_MAX]. */
int storage_syncer_create(size_t logs_max, struct storage_syncer **out);

/*
 * Finishes the requests already queued, stops the thread, frees. Every log
 * opened with this syncer must be closed first (asserted).
 */
void storage_syncer_destroy(struct storage_syncer *s);

/* A file descriptor that is readable while completions are waiting. */
int storage_syncer_fd(struct storage_syncer *s);

/* Returns up to cap completions without blocking (0 when none). */
size_t storage_syncer_poll(struct storage_syncer *s, struct storage_completion *out, size_t cap);

/* Total fdatasync + directory fsync calls made by this syncer's thread. */
uint64_t storage_syncer_fsync_count(struct storage_syncer *s);

#endif
