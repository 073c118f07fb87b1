/* Private links between the partition log and the syncer (not part of the storage API). */
#ifndef RAFTMQ_STORAGE_INTERNAL_H
#define RAFTMQ_STORAGE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

struct storage_log;
struct storage_syncer;

/* Per-log state the syncer keeps, guarded by the syncer's lock. */
struct storage__sync_link {
    int queued;          /* in the request queue */
    int completion;      /* in the completion queue */
};

struct storage__sync_link *storage__log_link(struct storage_log *log);

/*
 * Syncs what has been flushed to the files (syncer thread). Returns the
 * number of fsync calls made in *calls; 0 or the error that failed the log.
 */
int storage__log_sync_flushed(struct storage_log *log, unsigned *calls);

/* Saves the hard state last requested with storage_log_request_hardstate,
 * if any (syncer thread, after the data sync); adds its syncs to *calls. */
int storage__log_save_pending_hardstate(struct storage_log *log, unsigned *calls);

/* Registration of a log with its syncer (open/close). Detach waits for a
 * sync of that log in progress, at most wait_ms; on timeout
 * it returns STORAGE_ERR_IO and the log stays attached (and must not be
 * freed: the syncer thread is still using it). */
int storage__syncer_attach(struct storage_syncer *s);
int storage__syncer_detach(struct storage_syncer *s, struct storage_log *log, unsigned wait_ms);

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
void storage__cond_init_monotonic(pthread_cond_t *cond);
/* The CLOCK_MONOTONIC time `ms` milliseconds from now. */
struct timespec storage__deadline_ms(unsigned ms);
/* Queues a sync request (owner thread). */
int storage__syncer_request(struct storage_syncer *s, struct storage_log *log);
/* Queues a completion (any thread). */
void storage__syncer_complete(struct storage_syncer *s, struct storage_log *log);

#endif
