/* The consumer-group assignor (see assignor.h): quotas, sticky revocation, greedy hand-out. */
#include "assignor.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * How it works, in terms of partition slots (the sorted distinct keys):
 *
 *   1. Filter: each member's target, in member order, keeps the keys that
 *      exist, whose topic it subscribes to and that no earlier member kept.
 *
 * Identical subscriptions (every listed topic has every member):
 *
 *   2. Quotas: a dry run hands every partition out from scratch, each to
 *      the member with the fewest so far, ties to the member that keeps
 *      more now, then to the lower index. The quotas are floor(P/M) or
 *      ceil(P/M), and the ceil slots go to the members that hold the most,
 *      so the fewest partitions have to move.
 *   3. Revoke: a member above its quota keeps its lowest keys up to it.
 *   4. Hand out every free partition in key order to the member with the
 *      fewest, ties to the larger quota, then the lower index. Every member
 *      ends at its quota; only revoked or unowned partitions moved.
 *
 * Different subscriptions:
 *
 *   2. Hand out every free partition, most constrained topics first (fewer
 *      subscribers, then lower id), each to the eligible member with the
 *      fewest, ties to the lower index.
 *   3. Balance: move single partitions from a member to an eligible member
 *      with at least two fewer until no such move is left (in bounded
 *      passes), which evens out what the greedy could not.
 *
 * Either way, running again on the result moves nothing.
 *
 * Cost: sorting (P log P), topic lookups (log), the hand-outs through a
 * heap per topic (P log M); in the different-subscriptions case each
 * balance pass costs the partitions plus the subscriber lists, plus the
 * subscriber list of a topic per move. Memory: a few arrays of P, M and
 * the subscriptions, freed before returning.
 */

#define NONE UINT32_MAX
/* Step 5 passes: each pass that moves anything makes the spread strictly better; this bounds
 * the time on pathological inputs (the result is valid either way). */
#define BALANCE_PASSES_MAX 64u

struct topic_span {
    uint64_t id;
    uint32_t first, end;  /* its partitions: keys[first..end) */
    uint32_t subs_first;  /* its subscribers: subs[subs_first..subs_first + n_subs), ascending */
    uint32_t n_subs;
};

struct work {
    uint32_t n_members;
    uint64_t *keys;          /* the partitions, sorted, distinct */
    uint32_t n_keys;
    uint32_t *owner;         /* per key: member index or NONE */
    uint32_t *filtered_owner; /* per key: the owner after step 1, for the moved count */
    struct topic_span *topics; /* by id */
    uint32_t n_topics;
    uint32_t *order;         /* topic indexes, most constrained first */
    uint32_t *subs;          /* the subscriber lists of all topics */
    uint32_t *kept;          /* per member: count after step 1 */
    uint32_t *quota;         /* per member */
    uint32_t *count;         /* per member: the current count */
    uint32_t *heap;          /* member indexes, at most n_members */
    uint32_t heap_len;
};

static int key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Index of key in w->keys, or NONE. */
static uint32_t key_index(const struct work *w, uint64_t key)
{
    uint32_t lo = 0, hi = w->n_keys;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->n_keys && w->keys[lo] == key ? lo : NONE;
}

/* Index of topic id in w->topics, or NONE. */
static uint32_t topic_index(const struct work *w, uint64_t id)
{
    uint32_t lo = 0, hi = w->n_topics;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->topics[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->n_topics && w->topics[lo].id == id ? lo : NONE;
}

static bool subscribes(const struct work *w, const struct topic_span *t, uint32_t member)
{
    const uint32_t *subs = &w->subs[t->subs_first];
    uint32_t lo = 0, hi = t->n_subs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (subs[mid] < member)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_subs && subs[lo] == member;
}

/* ---- a binary heap of members, ordered by a rule of the current step ------- */

enum heap_rule {
    HEAP_DRY_RUN,  /* fewest so far, then more kept, then lower index */
    HEAP_HAND_OUT, /* fewest, then larger quota (0 for all without quotas), then lower index */
};

static bool heap_before(const struct work *w, enum heap_rule rule, uint32_t a, uint32_t b)
{
    if (w->count[a] != w->count[b])
        return w->count[a] < w->count[b];
    const uint32_t *second = rule == HEAP_DRY_RUN ? w->kept : w->quota;
    if (second[a] != second[b])
        return second[a] > second[b];
    return a < b;
}

static void heap_sift_down(struct work *w, enum heap_rule rule, uint32_t i)
{
    for (;;) {
        uint32_t best = i, l = 2 * i + 1, r = 2 * i + 2;
        if (l < w->heap_len && heap_before(w, rule, w->heap[l], w->heap[best]))
            best = l;
        if (r < w->heap_len && heap_before(w, rule, w->heap[r], w->heap[best]))
            best = r;
        if (best == i)
            return;
        uint32_t tmp = w->heap[i];
        w->heap[i] = w->heap[best];
        w->heap[best] = tmp;
        i = best;
    }
}

static void heap_build(struct work *w, enum heap_rule rule, const struct topic_span *t)
{
    assert(t->n_subs <= w->n_members);
    memcpy(w->heap, &w->subs[t->subs_first], t->n_subs * sizeof(*w->heap));
    w->heap_len = t->n_subs;
    for (uint32_t i = w->heap_len / 2; i-- > 0;)
        heap_sift_down(w, rule, i);
}

/* Gives one partition to the member at the top (count + 1) and returns it. */
static uint32_t heap_take_top(struct work *w, enum heap_rule rule)
{
    assert(w->heap_len > 0);
    uint32_t m = w->heap[0];
    w->count[m]++;
    heap_sift_down(w, rule, 0); /* its key only grew */
    return m;
}

/* ---- setup -------------------------------------------------------------------- */

/* Topics most constrained first: fewer subscribers, then lower id. */
struct order_item {
    uint32_t n_subs;
    uint64_t id;
    uint32_t topic;
};

static int order_item_cmp(const void *a, const void *b)
{
    const struct order_item *x = a, *y = b;
    if (x->n_subs != y->n_subs)
        return x->n_subs < y->n_subs ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void work_free(struct work *w)
{
    free(w->keys);
    free(w->owner);
    free(w->filtered_owner);
    free(w->topics);
    free(w->order);
    free(w->subs);
    free(w->kept);
    free(w->quota);
    free(w->count);
    free(w->heap);
}

/* Builds the sorted keys, the topic spans and the subscriber lists. false: out of memory. */
static bool work_init(struct work *w, const struct assignor_member *members, uint32_t n_members,
                      const uint64_t *partitions, uint32_t n_partitions)
{
    memset(w, 0, sizeof(*w));
    w->n_members = n_members;
    size_t n_subs_max = 0;
    for (uint32_t i = 0; i < n_members; i++)
        n_subs_max += members[i].n_topics;
    size_t np = n_partitions, nm = n_members;
    w->keys = malloc((np ? np : 1) * sizeof(*w->keys));
    w->owner = malloc((np ? np : 1) * sizeof(*w->owner));
    w->filtered_owner = malloc((np ? np : 1) * sizeof(*w->filtered_owner));
    w->topics = malloc((np ? np : 1) * sizeof(*w->topics));
    w->order = malloc((np ? np : 1) * sizeof(*w->order));
    w->subs = malloc((n_subs_max ? n_subs_max : 1) * sizeof(*w->subs));
    w->kept = calloc(nm ? nm : 1, sizeof(*w->kept));
    w->quota = calloc(nm ? nm : 1, sizeof(*w->quota));
    w->count = calloc(nm ? nm : 1, sizeof(*w->count));
    w->heap = malloc((nm ? nm : 1) * sizeof(*w->heap));
    if (!w->keys || !w->owner || !w->filtered_owner || !w->topics || !w->order || !w->subs ||
        !w->kept || !w->quota || !w->count || !w->heap)
        return false;

    if (np > 0)
        memcpy(w->keys, partitions, np * sizeof(*w->keys));
    qsort(w->keys, np, sizeof(*w->keys), key_cmp);
    uint32_t n = 0; /* drop duplicates, should a caller pass any */
    for (uint32_t i = 0; i < n_partitions; i++)
        if (n == 0 || w->keys[n - 1] != w->keys[i])
            w->keys[n++] = w->keys[i];
    w->n_keys = n;
    for (uint32_t i = 0; i < n; i++) {
        w->owner[i] = NONE;
        uint64_t id = w->keys[i] >> 16;
        if (w->n_topics == 0 || w->topics[w->n_topics - 1].id != id)
            w->topics[w->n_topics++] = (struct topic_span){.id = id, .first = i};
        w->topics[w->n_topics - 1].end = i + 1;
    }

    /* Subscriber lists: count per topic, then fill in member order (so each list ascends). A
     * member naming a topic twice is listed once (its spare slot stays unused). */
    for (uint32_t m = 0; m < n_members; m++)
        for (uint32_t k = 0; k < members[m].n_topics; k++) {
            uint32_t t = topic_index(w, members[m].topics[k]);
            if (t != NONE)
                w->topics[t].n_subs++;
        }
    uint32_t at = 0;
    for (uint32_t t = 0; t < w->n_topics; t++) {
        w->topics[t].subs_first = at;
        at += w->topics[t].n_subs;
        w->topics[t].n_subs = 0;
    }
    for (uint32_t m = 0; m < n_members; m++)
        for (uint32_t k = 0; k < members[m].n_topics; k++) {
            uint32_t t = topic_index(w, members[m].topics[k]);
            if (t == NONE)
                continue;
            struct topic_span *span = &w->topics[t];
            if (span->n_subs > 0 && w->subs[span->subs_first + span->n_subs - 1] == m)
                continue; /* the same topic twice in one subscription */
            w->subs[span->subs_first + span->n_subs++] = m;
        }

    struct order_item *items = malloc((w->n_topics ? w->n_topics : 1) * sizeof(*items));
    if (items == NULL)
        return false;
    for (uint32_t t = 0; t < w->n_topics; t++)
        items[t] = (struct order_item){w->topics[t].n_subs, w->topics[t].id, t};
    qsort(items, w->n_topics, sizeof(*items), order_item_cmp);
    for (uint32_t t = 0; t < w->n_topics; t++)
        w->order[t] = items[t].topic;
    free(items);
    return true;
}

/* ---- the steps ---------------------------------------------------------------- */

static void filter_targets(struct work *w, const struct assignor_member *members)
{
    for (uint32_t m = 0; m < w->n_members; m++)
        for (uint32_t k = 0; k < members[m].n_target; k++) {
            uint64_t key = members[m].target[k];
            uint32_t i = key_index(w, key);
            if (i == NONE || w->owner[i] != NONE)
                continue; /* gone, or an earlier member (or this one, listing it twice) has it */
            uint32_t t = topic_index(w, key >> 16);
            assert(t != NONE);
            if (!subscribes(w, &w->topics[t], m))
                continue;
            w->owner[i] = m;
            w->kept[m]++;
        }
    memcpy(w->filtered_owner, w->owner, w->n_keys * sizeof(*w->owner));
}

static void compute_quotas(struct work *w)
{
    memset(w->count, 0, w->n_members * sizeof(*w->count));
    for (uint32_t o = 0; o < w->n_topics; o++) {
        const struct topic_span *t = &w->topics[w->order[o]];
        if (t->n_subs == 0)
            continue;
        heap_build(w, HEAP_DRY_RUN, t);
        for (uint32_t i = t->first; i < t->end; i++)
            heap_take_top(w, HEAP_DRY_RUN);
    }
    memcpy(w->quota, w->count, w->n_members * sizeof(*w->quota));
}

static void revoke_above_quota(struct work *w)
{
    memset(w->count, 0, w->n_members * sizeof(*w->count));
    for (uint32_t i = 0; i < w->n_keys; i++) {
        uint32_t m = w->owner[i];
        if (m == NONE)
            continue;
        if (w->count[m] < w->quota[m])
            w->count[m]++;
        else
            w->owner[i] = NONE;
    }
}

static void hand_out_free(struct work *w)
{
    for (uint32_t o = 0; o < w->n_topics; o++) {
        const struct topic_span *t = &w->topics[w->order[o]];
        if (t->n_subs == 0)
            continue; /* nobody may have these */
        bool built = false;
        for (uint32_t i = t->first; i < t->end; i++) {
            if (w->owner[i] != NONE)
                continue;
            if (!built) {
                heap_build(w, HEAP_HAND_OUT, t);
                built = true;
            }
            w->owner[i] = heap_take_top(w, HEAP_HAND_OUT);
        }
    }
}

static bool subscriptions_identical(const struct work *w)
{
    for (uint32_t t = 0; t < w->n_topics; t++)
        if (w->topics[t].n_subs != w->n_members)
            return false;
    return true;
}

/* The subscriber of t with the fewest, ties to the lower index. t has subscribers. */
static uint32_t least_loaded(const struct work *w, const struct topic_span *t)
{
    const uint32_t *subs = &w->subs[t->subs_first];
    uint32_t best = subs[0];
    for (uint32_t k = 1; k < t->n_subs; k++)
        if (w->count[subs[k]] < w->count[best])
            best = subs[k];
    return best;
}

static void balance(struct work *w)
{
    for (uint32_t pass = 0; pass < BALANCE_PASSES_MAX; pass++) {
        bool moved = false;
        for (uint32_t t = 0; t < w->n_topics; t++) {
            const struct topic_span *span = &w->topics[t];
            if (span->n_subs < 2)
                continue;
            uint32_t low = least_loaded(w, span);
            for (uint32_t i = span->first; i < span->end; i++) {
                uint32_t m = w->owner[i];
                assert(m != NONE);
                if (w->count[m] < w->count[low] + 2)
                    continue;
                w->owner[i] = low;
                w->count[m]--;
                w->count[low]++;
                moved = true;
                low = least_loaded(w, span);
            }
        }
        if (!moved)
            return;
    }
}

int assignor_rebalance(struct assignor_member *members, uint32_t n_members,
                       const uint64_t *partitions, uint32_t n_partitions)
{
    assert(n_members == 0 || members != NULL);
    assert(n_partitions == 0 || partitions != NULL);
    for (uint32_t m = 0; m < n_members; m++)
        if (members[m].n_target > members[m].target_cap)
            return -1;
    struct work w;
    if (!work_init(&w, members, n_members, partitions, n_partitions)) {
        work_free(&w);
        return -1;
    }
    filter_targets(&w, members);
    if (subscriptions_identical(&w)) {
        compute_quotas(&w);
        revoke_above_quota(&w);
        hand_out_free(&w);
    } else {
        memcpy(w.count, w.kept, n_members * sizeof(*w.count));
        hand_out_free(&w);
        balance(&w);
    }

    /* Fits every target? Checked before anything is written, so -1 changes nothing. */
    for (uint32_t m = 0; m < n_members; m++)
        if (w.count[m] > members[m].target_cap) {
            work_free(&w);
            return -1;
        }
    uint32_t moved = 0;
    for (uint32_t m = 0; m < n_members; m++)
        members[m].n_target = 0;
    for (uint32_t i = 0; i < w.n_keys; i++) {
        uint32_t m = w.owner[i];
        if (m == NONE)
            continue;
        struct assignor_member *member = &members[m];
        assert(member->n_target < member->target_cap);
        member->target[member->n_target++] = w.keys[i];
        moved += m != w.filtered_owner[i];
    }
    for (uint32_t m = 0; m < n_members; m++)
        assert(members[m].n_target == w.count[m]);
    work_free(&w);
    return moved > INT32_MAX ? INT32_MAX : (int)moved;
}
