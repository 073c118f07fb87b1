/* The in-memory Raft log: a ring of entries after the last snapshot. */
#include "log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define RAFT_LOG_INITIAL_CAPACITY 64

void raft_log_init(struct raft_log *l, raft_index_t snapshot_index, raft_term_t snapshot_term)
{
    memset(l, 0, sizeof(*l));
    l->snapshot_index = snapshot_index;
    l->snapshot_term = snapshot_term;
}

static void free_retired(void **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
}

void raft_log_free(struct raft_log *l)
{
    raft_log_reset(l, l->snapshot_index, l->snapshot_term);
    free_retired(l->retired_new, l->n_retired_new);
    free_retired(l->retired_old, l->n_retired_old);
    free(l->retired_new);
    free(l->retired_old);
    free(l->ring);
    memset(l, 0, sizeof(*l));
}

static struct raft_entry *slot(const struct raft_log *l, raft_index_t index)
{
    assert(index > l->snapshot_index);
    assert(index <= raft_log_last(l));
    size_t offset = (size_t)(index - l->snapshot_index - 1);
    return &l->ring[(l->head + offset) & (l->capacity - 1)];
}

const struct raft_entry *raft_log_get(const struct raft_log *l, raft_index_t index)
{
    if (index <= l->snapshot_index || index > raft_log_last(l))
        return NULL;
    const struct raft_entry *e = slot(l, index);
    assert(e->index == index);
    return e;
}

bool raft_log_term(const struct raft_log *l, raft_index_t index, raft_term_t *term)
{
    if (index == l->snapshot_index) {
        *term = l->snapshot_term;
        return true;
    }
    const struct raft_entry *e = raft_log_get(l, index);
    if (e == NULL)
        return false;
    *term = e->term;
    return true;
}

raft_term_t raft_log_last_term(const struct raft_log *l)
{
    raft_term_t t = 0;
    bool known = raft_log_term(l, raft_log_last(l), &t);
    assert(known);
    return t;
}

static int grow(struct raft_log *l)
{
    size_t capacity = l->capacity ? l->capacity * 2 : RAFT_LOG_INITIAL_CAPACITY;
    struct raft_entry *ring = malloc(capacity * sizeof(*ring));
    if (ring == NULL)
        return RAFT_ENOMEM;
    for (size_t i = 0; i < l->count; i++)
        ring[i] = l->ring[(l->head + i) & (l->capacity - 1)];
    free(l->ring);
    l->ring = ring;
    l->capacity = capacity;
    l->head = 0;
    return 0;
}

int raft_log_append(struct raft_log *l, raft_term_t term, uint8_t type, const void *data,
                    uint32_t len)
{
    assert(term >= raft_log_last_term(l));
    if (l->count == l->capacity && grow(l) != 0)
        return RAFT_ENOMEM;
    void *copy = NULL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL)
            return RAFT_ENOMEM;
        memcpy(copy, data, len);
    }
    l->count++;
    struct raft_entry *e = slot(l, raft_log_last(l));
    e->term = term;
    e->index = raft_log_last(l);
    e->type = type;
    e->len = len;
    e->data = copy;
    return 0;
}

/* Entries leaving the log may still be referenced by an update the host
 * holds: keep their payload until two reclaims later. Growth failure here
 * has no safe recovery (freeing now could leave the host a dangling
 * pointer), so it aborts. */
static void retire(struct raft_log *l, struct raft_entry *e)
{
    if (e->data == NULL)
        return;
    if (l->n_retired_new == l->cap_retired_new) {
        size_t cap = l->cap_retired_new ? l->cap_retired_new * 2 : 64;
        void **list = realloc(l->retired_new, cap * sizeof(*list));
        assert(list != NULL && "out of memory retiring a log entry");
        l->retired_new = list;
        l->cap_retired_new = cap;
    }
    l->retired_new[l->n_retired_new++] = (void *)e->data;
    e->data = NULL;
}

void raft_log_truncate(struct raft_log *l, raft_index_t index)
{
    assert(index > l->snapshot_index);
    while (raft_log_last(l) >= index) {
        retire(l, slot(l, raft_log_last(l)));
        l->count--;
    }
    assert(raft_log_last(l) < index);
}

void raft_log_compact(struct raft_log *l, raft_index_t index, raft_term_t term)
{
    assert(index >= l->snapshot_index);
    assert(index <= raft_log_last(l));
    while (l->snapshot_index < index) {
        struct raft_entry *e = slot(l, l->snapshot_index + 1);
        assert(e->index == l->snapshot_index + 1);
        retire(l, e);
        l->head = (l->head + 1) & (l->capacity - 1);
        l->count--;
        l->snapshot_index++;
    }
    l->snapshot_term = term;
}

void raft_log_reset(struct raft_log *l, raft_index_t snapshot_index, raft_term_t snapshot_term)
{
    while (l->count > 0) {
        retire(l, slot(l, raft_log_last(l)));
        l->count--;
    }
    l->head = 0;
    l->snapshot_index = snapshot_index;
    l->snapshot_term = snapshot_term;
}

void raft_log_reclaim(struct raft_log *l)
{
    free_retired(l->retired_old, l->n_retired_old);
    void **list = l->retired_old;
    size_t cap = l->cap_retired_old;
    l->retired_old = l->retired_new;
    l->n_retired_old = l->n_retired_new;
    l->cap_retired_old = l->cap_retired_new;
    l->retired_new = list;
    l->n_retired_new = 0;
    l->cap_retired_new = cap;
}
