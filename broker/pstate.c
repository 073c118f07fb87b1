/* The idempotent-producer table of a partition: a small open-addressing hash of producer id -> last batches. */
#include "broker/pstate.h"

#include <stdlib.h>
#include <string.h>

#define PSTATE_CAP_MIN 16u

void pstate_init(struct pstate_table *t)
{
    memset(t, 0, sizeof(*t));
}

void pstate_free(struct pstate_table *t)
{
    free(t->slots);
    pstate_init(t);
}

void pstate_clear(struct pstate_table *t)
{
    if (t->slots != NULL)
        memset(t->slots, 0, (size_t)t->cap * sizeof(*t->slots));
    t->count = 0;
}

static uint32_t slot_of(const struct pstate_table *t, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    return (uint32_t)(h >> 32) & (t->cap - 1);
}

const struct pstate_producer *pstate_find(const struct pstate_table *t, int64_t producer_id)
{
    if (t->cap == 0 || producer_id <= 0)
        return NULL;
    for (uint32_t i = slot_of(t, producer_id);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].id == producer_id)
            return &t->slots[i];
        if (t->slots[i].id == 0)
            return NULL;
    }
}

/* Removes slot i, shifting later members of its probe run back (no tombstones). */
static void remove_slot(struct pstate_table *t, uint32_t i)
{
    uint32_t mask = t->cap - 1;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; t->slots[j].id != 0; j = (j + 1) & mask) {
        uint32_t home = slot_of(t, t->slots[j].id);
        /* j may move into the hole if its home is not in (hole, j]. */
        bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    memset(&t->slots[hole], 0, sizeof(t->slots[hole]));
    t->count--;
}

static uint64_t newest_index(const struct pstate_producer *p)
{
    return p->n_batches == 0 ? 0 : p->batches[p->newest].index;
}

/* Forgets the producer whose newest batch is the oldest (the table is full). */
static void evict_oldest(struct pstate_table *t)
{
    uint32_t victim = UINT32_MAX;
    for (uint32_t i = 0; i < t->cap; i++)
        if (t->slots[i].id != 0 &&
            (victim == UINT32_MAX || newest_index(&t->slots[i]) < newest_index(&t->slots[victim])))
            victim = i;
    if (victim != UINT32_MAX)
        remove_slot(t, victim);
}

static bool grow(struct pstate_table *t)
{
    uint32_t cap = t->cap == 0 ? PSTATE_CAP_MIN : t->cap * 2;
    struct pstate_producer *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return false;
    struct pstate_table bigger = {.slots = slots, .cap = cap, .count = t->count};
    for (uint32_t i = 0; i < t->cap; i++) {
        if (t->slots[i].id == 0)
            continue;
        uint32_t j = slot_of(&bigger, t->slots[i].id);
        while (slots[j].id != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    *t = bigger;
    return true;
}

/* The producer's slot, added (empty) if absent; NULL when it cannot be added. */
static struct pstate_producer *find_or_add(struct pstate_table *t, int64_t id, bool may_evict)
{
    struct pstate_producer *p = (struct pstate_producer *)pstate_find(t, id);
    if (p != NULL)
        return p;
    if (t->count >= PSTATE_PRODUCERS_MAX) {
        if (!may_evict)
            return NULL;
        evict_oldest(t);
    }
    /* Load factor at most 1/2: probe runs stay short. */
    if ((t->count + 1) * 2 > t->cap && !grow(t))
        return NULL;
    uint32_t i = slot_of(t, id);
    while (t->slots[i].id != 0)
        i = (i + 1) & (t->cap - 1);
    p = &t->slots[i];
    memset(p, 0, sizeof(*p));
    p->id = id;
    t->count++;
    return p;
}

int32_t pstate_next_sequence(int32_t first, uint32_t count)
{
    return (int32_t)(((uint64_t)(uint32_t)first + count) % PSTATE_SEQUENCE_MOD);
}

int32_t pstate_expected(const struct pstate_producer *p)
{
    const struct pstate_batch *b = &p->batches[p->newest];
    return pstate_next_sequence(b->first_sequence, b->record_count);
}

bool pstate_apply(struct pstate_table *t, int64_t producer_id, int16_t epoch,
                  const struct pstate_batch *batch)
{
    if (producer_id <= 0)
        return true;
    struct pstate_producer *p = find_or_add(t, producer_id, true);
    if (p == NULL)
        return false;
    if (p->n_batches != 0 && epoch != p->epoch)
        p->n_batches = 0; /* a new epoch starts the sequence afresh */
    p->epoch = epoch;
    p->newest = p->n_batches == 0 ? 0 : (uint8_t)((p->newest + 1) % PSTATE_BATCHES_KEPT);
    p->batches[p->newest] = *batch;
    if (p->n_batches < PSTATE_BATCHES_KEPT)
        p->n_batches++;
    return true;
}

void pstate_apply_older(struct pstate_table *t, int64_t producer_id, int16_t epoch,
                        const struct pstate_batch *batch)
{
    if (producer_id <= 0)
        return;
    struct pstate_producer *p = find_or_add(t, producer_id, false);
    if (p == NULL)
        return;
    if (p->n_batches == 0) {
        p->epoch = epoch;
        p->newest = 0;
        p->batches[0] = *batch;
        p->n_batches = 1;
        return;
    }
    if (epoch != p->epoch || p->n_batches >= PSTATE_BATCHES_KEPT)
        return;
    /* The slots hold newest, newest-1, ... going backwards (mod the ring). */
    uint32_t slot = (p->newest + PSTATE_BATCHES_KEPT - p->n_batches) % PSTATE_BATCHES_KEPT;
    p->batches[slot] = *batch;
    p->n_batches++;
}

enum pstate_verdict pstate_check(const struct pstate_producer *p, int16_t epoch,
                                 int32_t first_sequence, uint32_t count, int32_t expected,
                                 struct pstate_batch *dup)
{
    if (p != NULL && p->n_batches != 0 && epoch < p->epoch)
        return PSTATE_UNKNOWN_PRODUCER; /* fenced by a newer epoch */
    bool known = p != NULL && p->n_batches != 0 && epoch == p->epoch;
    /* A kept batch again (a retry whose first attempt was appended). */
    for (uint32_t i = 0; known && i < p->n_batches; i++) {
        /* Newest first: slots newest, newest - 1, ... around the ring. */
        const struct pstate_batch *b = &p->batches[(p->newest + PSTATE_BATCHES_KEPT - i) %
                                                   PSTATE_BATCHES_KEPT];
        if (b->first_sequence == first_sequence && b->record_count == count) {
            *dup = *b;
            return PSTATE_DUPLICATE;
        }
    }
    if (expected < 0) {
        if (!known)
            return first_sequence == 0 ? PSTATE_APPEND : PSTATE_UNKNOWN_PRODUCER;
        expected = pstate_expected(p);
    }
    if (first_sequence == expected)
        return PSTATE_APPEND;
    /* Behind the expected sequence (within half the sequence space): seen before. */
    uint32_t behind = (uint32_t)(((uint64_t)(uint32_t)expected + PSTATE_SEQUENCE_MOD -
                                  (uint32_t)first_sequence) % PSTATE_SEQUENCE_MOD);
    return behind < PSTATE_SEQUENCE_MOD / 2 ? PSTATE_DUPLICATE_OLD : PSTATE_OUT_OF_ORDER;
}
