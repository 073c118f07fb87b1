/* The in-memory Raft log: entries after the last snapshot, in a ring. */
#ifndef RAFTMQ_RAFT_LOG_H
#define RAFTMQ_RAFT_LOG_H

#include "raft.h"

/*
 * Payload bytes live in chunks (1 MiB, or one chunk per large payload) so
 * that appending an entry costs a memcpy, not a malloc, and memory is
 * reused instead of being returned to the kernel and faulted back in. A
 * chunk counts the entries that point into it and is recycled when the
 * last of them leaves the log.
 */
#define RAFT_CHUNK_BYTES (1u << 20)
#define RAFT_CHUNK_SPARES 4

struct raft_chunk {
    size_t refs; /* entries pointing into data (live or retired) */
    size_t used;
    size_t cap;
    struct raft_chunk *next; /* in the spare list */
    uint8_t data[];
};

struct raft_log_slot {
    struct raft_entry entry; /* first: raft_log_get hands out &slot->entry */
    struct raft_chunk *chunk;
};

/*
 * Holds entries snapshot_index+1 .. last_index. Entries that leave the log
 * (truncated or compacted) keep their payload alive a little longer: an
 * update handed to the host may still point at them, so their chunk
 * references are dropped two raft_update_get calls later (raft_log_reclaim).
 */
struct raft_log {
    struct raft_log_slot *ring;
    size_t capacity; /* a power of two */
    size_t head;     /* ring slot of the first entry */
    size_t count;
    raft_index_t snapshot_index; /* entries <= this are gone */
    raft_term_t snapshot_term;
    struct raft_chunk *current; /* where small payloads are appended */
    struct raft_chunk *spares;  /* empty standard chunks kept for reuse */
    size_t n_spares;
    struct raft_chunk **retired_new; /* retired since the last reclaim */
    size_t n_retired_new, cap_retired_new;
    struct raft_chunk **retired_old; /* retired before the last reclaim */
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

/* NULL if index is outside first..last. Inline: it is on every path that
 * touches an entry (sending, appending, handing out updates). */
static inline const struct raft_entry *raft_log_get(const struct raft_log *l, raft_index_t index)
{
    if (index <= l->snapshot_index || index > l->snapshot_index + l->count)
        return NULL;
    size_t offset = (size_t)(index - l->snapshot_index - 1);
    return &l->ring[(l->head + offset) & (l->capacity - 1)].entry;
}
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
