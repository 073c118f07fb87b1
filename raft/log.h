/* The in-memory Raft log: entries after the last snapshot, in a ring. */
#ifndef RAFTMQ_RAFT_LOG_H
#define RAFTMQ_RAFT_LOG_H

#include "raft.h"

/*
 * Holds entries snapshot_index+1 .. last_index, each with a payload the log
 * owns. Payloads of entries that leave the log (truncated or compacted) are
 * not freed at once but retired: an update handed to the host may still
 * point at them, so they are freed two raft_update_get calls later (see
 * raft_log_reclaim).
 */
struct raft_log {
    struct raft_entry *ring;
    size_t capacity; /* a power of two */
    size_t head;     /* ring slot of the first entry */
    size_t count;
    raft_index_t snapshot_index; /* entries <= this are gone */
    raft_term_t snapshot_term;
    void **retired_new; /* retired since the last reclaim */
    size_t n_retired_new, cap_retired_new;
    void **retired_old; /* retired before the last reclaim */
    size_t n_retired_old, cap_retired_old;
};

void raft_log_init(struct raft_log *l, raft_index_t snapshot_index, raft_term_t snapshot_term);
void raft_log_free(struct raft_log *l);

static inline raft_index_t raft_log_first(const struct raft_log *l)
{
    return l->snapshot_index + 1;
}

static inline raft_index_t raft_log_last(const struct raft_log *l)
{
    return l->snapshot_index + l->count;
}

/* NULL if index is outside first..last. */
const struct raft_entry *raft_log_get(const struct raft_log *l, raft_index_t index);
/* Term of `index`: the snapshot's term at snapshot_index, 0 at index 0.
 * Returns false if the term is unknown (compacted, or past the end). */
bool raft_log_term(const struct raft_log *l, raft_index_t index, raft_term_t *term);
raft_term_t raft_log_last_term(const struct raft_log *l);

/* Appends at last+1 with a copy of data. RAFT_ENOMEM on failure. */
int raft_log_append(struct raft_log *l, raft_term_t term, uint8_t type, const void *data,
                    uint32_t len);
/* Removes entries >= index (index > snapshot_index). */
void raft_log_truncate(struct raft_log *l, raft_index_t index);
/* Removes entries <= index and records (index, term) as the snapshot point. */
void raft_log_compact(struct raft_log *l, raft_index_t index, raft_term_t term);
/* Drops everything and starts after a snapshot. */
void raft_log_reset(struct raft_log *l, raft_index_t snapshot_index, raft_term_t snapshot_term);
/* Frees payloads retired before the previous call (called per update). */
void raft_log_reclaim(struct raft_log *l);

#endif
