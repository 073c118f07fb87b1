/* The in-memory Raft log: a ring of entries after the last snapshot, their
 * payloads in reference-counted chunks. */
#include "log.h"

#include <stdlib.h>
#include <string.h>

#include "invariant.h"

#define RAFT_LOG_INITIAL_CAPACITY 64
/* Payloads above this get a chunk of their own. */
#define RAFT_CHUNK_SHARED_MAX (RAFT_CHUNK_BYTES / 4)

void raft_log_init(struct raft_log *l, raft_index_t snapshot_index, raft_term_t snapshot_term)
{
    memset(l, 0, sizeof(*l));
    l->snapshot_index = snapshot_index;
    l->snapshot_term = snapshot_term;
}

/* ---- chunks ------------------------------------------------------------------ */

static struct raft_chunk *chunk_new(struct raft_log *l, size_t cap)
{
    struct raft_chunk *c;
    if (cap == RAFT_CHUNK_BYTES && l->spares != NULL) {
        c = l->spares;
        l->spares = c->next;
        l->n_spares--;
    } else {
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
    }
    c->refs = 0;
    c->used = 0;
    c->next = NULL;
    return c;
}

static void chunk_release(struct raft_log *l, struct raft_chunk *c)
{
    RAFT_ASSERT(c->refs == 0);
    if (c->cap == RAFT_CHUNK_BYTES && l->n_spares < RAFT_CHUNK_SPARES) {
        c->next = l->spares;
        l->spares = c;
        l->n_spares++;
    } else {
        free(c);
    }
}

static void chunk_unref(struct raft_log *l, struct raft_chunk *c)
{
    RAFT_ASSERT(c->refs > 0);
    if (--c->refs == 0 && c != l->current)
        chunk_release(l, c);
}

/* Room for len bytes: the current chunk, a fresh one, or a private one. */
static void *payload_alloc(struct raft_log *l, uint32_t len, struct raft_chunk **chunk)
{
    if (len > RAFT_CHUNK_SHARED_MAX) {
        struct raft_chunk *c = chunk_new(l, len);
        if (c == NULL)
            return NULL;
        c->used = len;
        c->refs = 1;
        *chunk = c;
        return c->data;
    }
    if (l->current == NULL || l->current->cap - l->current->used < len) {
        struct raft_chunk *c = chunk_new(l, RAFT_CHUNK_BYTES);
        if (c == NULL)
            return NULL;
        struct raft_chunk *old = l->current;
        l->current = c;
        if (old != NULL && old->refs == 0)
            chunk_release(l, old);
    }
    struct raft_chunk *c = l->current;
    void *p = c->data + c->used;
    c->used += (len + 7u) & ~7u; /* keep payloads 8-byte aligned */
    if (c->used > c->cap)
        c->used = c->cap;
    c->refs++;
    *chunk = c;
    return p;
}

/* ---- the ring ---------------------------------------------------------------- */

static void drop_refs(struct raft_log *l, struct raft_chunk **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        chunk_unref(l, list[i]);
}

void raft_log_free(struct raft_log *l)
{
    raft_log_reset(l, l->snapshot_index, l->snapshot_term);
    drop_refs(l, l->retired_old, l->n_retired_old);
    drop_refs(l, l->retired_new, l->n_retired_new);
    free(l->retired_new);
    free(l->retired_old);
    if (l->current != NULL) {
        RAFT_ASSERT(l->current->refs == 0);
        free(l->current);
    }
    while (l->spares != NULL) {
        struct raft_chunk *c = l->spares;
        l->spares = c->next;
        free(c);
    }
    free(l->ring);
    memset(l, 0, sizeof(*l));
}

static struct raft_log_slot *slot(const struct raft_log *l, raft_index_t index)
{
    RAFT_ASSERT(index > l->snapshot_index);
    RAFT_ASSERT(index <= raft_log_last(l));
    size_t offset = (size_t)(index - l->snapshot_index - 1);
    return &l->ring[(l->head + offset) & (l->capacity - 1)];
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
    RAFT_ASSERT(known);
    return t;
}

static int grow(struct raft_log *l)
{
    size_t capacity = l->capacity ? l->capacity * 2 : RAFT_LOG_INITIAL_CAPACITY;
    struct raft_log_slot *ring = malloc(capacity * sizeof(*ring));
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
    RAFT_ASSERT(term >= raft_log_last_term(l));
    if (l->count == l->capacity && grow(l) != 0)
        return RAFT_ENOMEM;
    struct raft_chunk *chunk = NULL;
    void *copy = NULL;
    if (len > 0) {
        copy = payload_alloc(l, len, &chunk);
        if (copy == NULL)
            return RAFT_ENOMEM;
        memcpy(copy, data, len);
    }
    l->count++;
    struct raft_log_slot *s = slot(l, raft_log_last(l));
    s->entry.term = term;
    s->entry.index = raft_log_last(l);
    s->entry.type = type;
    s->entry.len = len;
    s->entry.data = copy;
    s->chunk = chunk;
    return 0;
}

/* An entry leaving the log may still be referenced by an update the host
 * holds: its chunk reference is dropped two reclaims later. Growth failure
 * here has no safe recovery (dropping now could leave the host a dangling
 * pointer), so it aborts. */
static void retire(struct raft_log *l, struct raft_log_slot *s)
{
    if (s->chunk == NULL)
        return;
    if (l->n_retired_new == l->cap_retired_new) {
        size_t cap = l->cap_retired_new ? l->cap_retired_new * 2 : 64;
        struct raft_chunk **list = realloc(l->retired_new, cap * sizeof(*list));
        if (list == NULL)
            abort();
        l->retired_new = list;
        l->cap_retired_new = cap;
    }
    l->retired_new[l->n_retired_new++] = s->chunk;
    s->chunk = NULL;
    s->entry.data = NULL;
}

void raft_log_truncate(struct raft_log *l, raft_index_t index)
{
    RAFT_ASSERT(index > l->snapshot_index);
    while (raft_log_last(l) >= index) {
        retire(l, slot(l, raft_log_last(l)));
        l->count--;
    }
    RAFT_ASSERT(raft_log_last(l) < index);
}

void raft_log_compact(struct raft_log *l, raft_index_t index, raft_term_t term)
{
    RAFT_ASSERT(index >= l->snapshot_index);
    RAFT_ASSERT(index <= raft_log_last(l));
    while (l->snapshot_index < index) {
        struct raft_log_slot *s = slot(l, l->snapshot_index + 1);
        RAFT_ASSERT(s->entry.index == l->snapshot_index + 1);
        retire(l, s);
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
    drop_refs(l, l->retired_old, l->n_retired_old);
    struct raft_chunk **list = l->retired_old;
    size_t cap = l->cap_retired_old;
    l->retired_old = l->retired_new;
    l->n_retired_old = l->n_retired_new;
    l->cap_retired_old = l->cap_retired_new;
    l->retired_new = list;
    l->n_retired_new = 0;
    l->cap_retired_new = cap;
}
