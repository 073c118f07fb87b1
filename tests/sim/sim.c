/*
 * The simulated world of one seed: an event queue over simulated time
 * (microseconds), a network that loses, duplicates, delays and reorders
 * messages and can be partitioned, and per node a host that carries out the
 * core's updates exactly as raft/raft.h prescribes: writes become durable
 * later, in order; msgs_after_persist wait for them; a crash throws away
 * everything not yet durable.
 *
 * An "event" is one item taken from the queue: a node's tick, a message
 * delivery, a storage completion, or a chaos step (the driver: client
 * proposals, crashes, restarts, partitions, transfers, membership changes,
 * compactions). After each event the touched node is inspected with
 * raft_status() and checked (check.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL) {
        fprintf(stderr, "raftmq-sim: out of memory\n");
        exit(2);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL) {
        fprintf(stderr, "raftmq-sim: out of memory\n");
        exit(2);
    }
    return q;
}

/* ---- event queue: binary heap on (time, seq) -------------------------------------- */

static bool ev_before(const struct sim_ev *a, const struct sim_ev *b)
{
    return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

static bool heap_push(struct sim *s, uint64_t t, uint8_t kind, uint32_t node, uint32_t inc,
                      struct sim_msg *msg)
{
    if (s->heap_n == SIM_QUEUE_MAX)
        return false;
    struct sim_ev ev = {t, s->heap_seq++, msg, inc, kind, (uint8_t)node};
    uint32_t i = s->heap_n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!ev_before(&ev, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = ev;
    return true;
}

static void heap_pop(struct sim *s, struct sim_ev *out)
{
    *out = s->heap[0];
    struct sim_ev last = s->heap[--s->heap_n];
    uint32_t i = 0, n = s->heap_n;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
}

/* ---- snapshot contents and messages ----------------------------------------------- */

static struct sim_content *content_new(raft_index_t last, const struct sim_smrec *recs, uint32_t n)
{
    struct sim_content *c = xmalloc(sizeof *c + (size_t)n * sizeof c->recs[0]);
    c->refs = 1;
    c->last_index = last;
    c->n = n;
    if (n > 0)
        memcpy(c->recs, recs, (size_t)n * sizeof c->recs[0]);
    return c;
}

static struct sim_content *content_ref(struct sim_content *c)
{
    if (c != NULL)
        c->refs++;
    return c;
}

static void content_put(struct sim_content *c)
{
    if (c != NULL && --c->refs == 0)
        free(c);
}

static struct sim_msg *msg_copy(const struct raft_msg *m, struct sim_content *content)
{
    size_t bytes = 0;
    for (uint32_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].len;
    struct sim_msg *c = xmalloc(sizeof *c + m->n_entries * sizeof(struct raft_entry) + bytes);
    c->m = *m;
    c->lost = false;
    c->content = content_ref(content);
    struct raft_entry *ents = (struct raft_entry *)(c + 1);
    uint8_t *p = (uint8_t *)(ents + m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        ents[i] = m->entries[i];
        if (ents[i].len > 0)
            memcpy(p, m->entries[i].data, ents[i].len);
        ents[i].data = p;
        p += ents[i].len;
    }
    c->m.entries = m->n_entries > 0 ? ents : NULL;
    return c;
}

static void msg_free(struct sim_msg *m)
{
    content_put(m->content);
    free(m);
}

/* ---- payloads ----------------------------------------------------------------------- */

static uint8_t filler(uint64_t id, uint32_t k)
{
    return (uint8_t)(id * 31u + k * 7u + (k >> 8));
}

static bool payload_ok(const struct raft_entry *e, uint64_t *id)
{
    if (e->len < 8 || e->len > SIM_BIG_PAYLOAD_MAX)
        return false;
    const uint8_t *p = e->data;
    memcpy(id, p, 8);
    for (uint32_t k = 8; k < e->len; k++)
        if (p[k] != filler(*id, k))
            return false;
    return true;
}

/* ---- storage helpers -------------------------------------------------------------------- */

static raft_index_t d_last_index(const struct sim_node *n)
{
    return n->d_snap.last_index + n->d_n;
}

static raft_term_t d_last_term(const struct sim_node *n)
{
    return n->d_n > 0 ? n->d_log[n->d_n - 1].term : n->d_snap.last_term;
}

/* Does n's durable storage hold entry (index, term)? A durable snapshot
 * covers everything up to its index (its content is checked on install). */
static bool d_has(const struct sim_node *n, raft_index_t index, raft_term_t term)
{
    if (index <= n->d_snap.last_index)
        return true;
    uint64_t k = index - n->d_snap.last_index - 1;
    return k < n->d_n && n->d_log[k].term == term;
}

static bool committed_as(const struct sim *s, raft_index_t index, raft_term_t term)
{
    const struct sim_gent *g = check_gent(s, index);
    return g != NULL && g->term == term;
}

static void free_entries(struct raft_entry *e, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free((void *)e[i].data);
}

static void batch_free(struct sim_batch *b)
{
    free_entries(b->ents, b->n_ents);
    free(b->ents);
    content_put(b->content);
    for (uint32_t i = 0; i < b->n_held; i++)
        msg_free(b->held[i]);
    free(b->held);
    free(b);
}

/* ---- state machine ------------------------------------------------------------------------ */

static void sm_push(struct sim_node *n, raft_index_t index, uint64_t id, uint32_t len)
{
    if (n->sm_n == n->sm_cap) {
        n->sm_cap = n->sm_cap ? n->sm_cap * 2 : 256;
        n->sm = xrealloc(n->sm, n->sm_cap * sizeof *n->sm);
    }
    n->sm[n->sm_n++] = (struct sim_smrec){index, id, len};
}

static void cfg_push(struct sim_node *n, raft_index_t index, const struct raft_config *c)
{
    if (n->cfg_n == n->cfg_cap) {
        n->cfg_cap = n->cfg_cap ? n->cfg_cap * 2 : 8;
        n->cfgs = xrealloc(n->cfgs, n->cfg_cap * sizeof *n->cfgs);
    }
    n->cfgs[n->cfg_n].index = index;
    n->cfgs[n->cfg_n].c = *c;
    n->cfg_n++;
}

/* The state machine becomes a snapshot's content. */
static void sm_reset(struct sim_node *n, const struct sim_content *c,
                     const struct raft_snapshot_meta *meta)
{
    n->sm_n = 0;
    for (uint32_t i = 0; i < c->n; i++)
        sm_push(n, c->recs[i].index, c->recs[i].id, c->recs[i].len);
    n->sm_applied = meta->last_index;
    n->cfg_n = 0;
    cfg_push(n, meta->last_index, &meta->config);
    content_put(n->sm_cache);
    n->sm_cache = NULL;
}

/* The content of a snapshot through `last` from the state machine. */
static struct sim_content *sm_content(struct sim_node *n, raft_index_t last)
{
    if (n->sm_cache != NULL && n->sm_cache->last_index == last)
        return n->sm_cache;
    uint32_t k = n->sm_n;
    while (k > 0 && n->sm[k - 1].index > last)
        k--;
    content_put(n->sm_cache);
    n->sm_cache = content_new(last, n->sm, k);
    return n->sm_cache;
}

/* A snapshot's content must agree with the committed log. */
static void check_content(struct sim *s, uint32_t i, const struct sim_content *c,
                          const struct raft_snapshot_meta *meta)
{
    if (c->last_index != meta->last_index) {
        sim_violation(s, "n%u: snapshot content through %" PRIu64 " for metadata %" PRIu64, i + 1,
                      c->last_index, meta->last_index);
        return;
    }
    uint32_t k = 0;
    for (raft_index_t idx = 1; idx <= meta->last_index && !s->violated; idx++) {
        const struct sim_gent *g = check_gent(s, idx);
        bool here = k < c->n && c->recs[k].index == idx;
        if (here) {
            uint64_t fp = sim_fp(RAFT_ENTRY_DATA, c->recs[k].len, &c->recs[k].id);
            if (g != NULL && g->fp != fp)
                sim_violation(s, "n%u: snapshot through %" PRIu64 " has payload #%" PRIu64
                                 " at %" PRIu64 ", which differs from the committed entry",
                              i + 1, meta->last_index, c->recs[k].id, idx);
            k++;
        } else if (g != NULL && g->type == RAFT_ENTRY_DATA) {
            sim_violation(s, "n%u: snapshot through %" PRIu64 " lacks committed entry %" PRIu64,
                          i + 1, meta->last_index, idx);
        }
    }
    if (k != c->n)
        sim_violation(s, "n%u: snapshot content is not in index order", i + 1);
    const struct sim_gent *g = check_gent(s, meta->last_index);
    if (g != NULL && g->term != meta->last_term)
        sim_violation(s, "n%u: snapshot %" PRIu64 "/%" PRIu64 " but index %" PRIu64
                         " was committed in term %" PRIu64,
                      i + 1, meta->last_index, meta->last_term, meta->last_index, g->term);
}

/* ---- network ------------------------------------------------------------------------------- */

/* The event queue is full. With at most 7 servers, max_inflight <= 64 and
 * a heartbeat or probe per round trip, correct cores keep a few thousand
 * messages in flight at the very most (duplicates, 0.5 s delay spikes and
 * stale leaders included), so 16,384 means messages breed messages. */
static void storm(struct sim *s)
{
    uint32_t count[SIM_NODES_MAX][SIM_NODES_MAX][RAFT_MSG_TIMEOUT_NOW + 1];
    memset(count, 0, sizeof count);
    uint32_t best = 0, bf = 0, bt = 0, bk = 0;
    for (uint32_t k = 0; k < s->heap_n; k++) {
        const struct sim_msg *sm = s->heap[k].msg;
        if (sm == NULL || sm->m.type > RAFT_MSG_TIMEOUT_NOW)
            continue;
        uint32_t f = (uint32_t)sm->m.from - 1, t = (uint32_t)sm->m.to - 1, ty = sm->m.type;
        if (++count[f][t][ty] > best) {
            best = count[f][t][ty];
            bf = f;
            bt = t;
            bk = ty;
        }
    }
    sim_violation(s, "message storm: %u events queued (the limit); %u of them are %s n%u -> n%u "
                     "(max_inflight %u)",
                  s->heap_n, best, sim_msg_name((uint8_t)bk), bf + 1, bt + 1,
                  s->sw.opt.max_inflight);
}

static void net_send(struct sim *s, uint32_t from, const struct raft_msg *m)
{
    struct sim_node *n = &s->node[from];
    if (m->from != n->id) {
        sim_violation(s, "n%u sent a message with from = %" PRIu64, from + 1, m->from);
        return;
    }
    /* Only a leader sends these; one leader per term. */
    if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT ||
        m->type == RAFT_MSG_TIMEOUT_NOW)
        check_leader(s, from, m->term);
    /* A granted vote leaves only once that vote is durable. */
    if (s->vote_checks && m->type == RAFT_MSG_VOTE_RESP && !m->reject &&
        (n->d_hs.term != m->term || n->d_hs.vote != m->to))
        sim_violation(s, "n%u grants its vote in term %" PRIu64 " to n%" PRIu64
                         " but its durable hard state is term %" PRIu64 " vote n%" PRIu64,
                      from + 1, m->term, m->to, n->d_hs.term, n->d_hs.vote);
    /* An acknowledgement promises the entries survive a crash. */
    if (m->type == RAFT_MSG_APPEND_RESP && !m->reject && m->index > d_last_index(n))
        sim_violation(s, "n%u acknowledges index %" PRIu64 " but only %" PRIu64
                         " is durable",
                      from + 1, m->index, d_last_index(n));
    if (s->violated)
        return;
    if (m->to == 0 || m->to > s->nn)
        return;
    struct sim_content *content = NULL;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (n->sm_applied < m->snapshot.last_index) {
            sim_violation(s, "n%u sends snapshot %" PRIu64 " but has applied only %" PRIu64,
                          from + 1, m->snapshot.last_index, n->sm_applied);
            return;
        }
        content = sm_content(n, m->snapshot.last_index);
        s->st.snapshots_sent++;
    }
    s->st.msgs++;
    uint32_t copies = 1 + (rng_ppm(&s->rng, s->sw.dup_ppm) ? 1 : 0);
    for (uint32_t c = 0; c < copies; c++) {
        bool lost = rng_ppm(&s->rng, s->sw.loss_ppm);
        if (lost) {
            s->st.lost++;
            sim_tr_msg(s, TR_DROP, m, 1);
            /* a lost snapshot transfer still "arrives", as a failure the
             * sender's host may notice (not now: we are inside its update) */
            if (m->type != RAFT_MSG_SNAPSHOT)
                continue;
        }
        uint64_t delay = rng_range(&s->rng, s->sw.delay_min_us, s->sw.delay_max_us);
        if (rng_ppm(&s->rng, s->sw.spike_ppm))
            delay += rng_below(&s->rng, s->sw.spike_max_us + 1);
        struct sim_msg *copy = msg_copy(m, content);
        copy->lost = lost;
        if (!heap_push(s, s->now + delay, EV_DELIVER, m->to - 1, 0, copy)) {
            sim_tr_msg(s, TR_DROP, m, 4);
            msg_free(copy);
            storm(s);
            return;
        }
    }
}

/* ---- the host: carrying out updates ----------------------------------------------------------- */

static void observe(struct sim *s, uint32_t i);
static void pump(struct sim *s, uint32_t i);

static raft_term_t term_at(struct sim_node *n, raft_index_t index)
{
    if (index == 0)
        return 0;
    const struct raft_entry *e = raft_entry_get(n->r, index);
    if (e != NULL)
        return e->term;
    struct raft_status st;
    raft_status(n->r, &st);
    return st.snapshot_index == index ? st.snapshot_term : UINT64_MAX;
}

static void apply(struct sim *s, uint32_t i, const struct raft_update *u)
{
    struct sim_node *n = &s->node[i];
    if (u->committed_first != n->sm_applied + 1 || u->committed_last < u->committed_first) {
        sim_violation(s, "n%u applies %" PRIu64 "..%" PRIu64 " after applying through %" PRIu64,
                      i + 1, u->committed_first, u->committed_last, n->sm_applied);
        return;
    }
    uint64_t count = u->committed_last - u->committed_first + 1;
    for (uint64_t k = 0; k < count && !s->violated; k++) {
        const struct raft_entry *e = &u->committed[k];
        if (e->index != u->committed_first + k) {
            sim_violation(s, "n%u: committed[%" PRIu64 "] has index %" PRIu64, i + 1, k, e->index);
            return;
        }
        check_committed(s, i, e->index, e->term, e->type, sim_fp(e->type, e->len, e->data),
                        UINT64_MAX);
        if (e->type == RAFT_ENTRY_DATA) {
            uint64_t id;
            if (!payload_ok(e, &id)) {
                sim_violation(s, "n%u applies a corrupted payload at index %" PRIu64, i + 1,
                              e->index);
                return;
            }
            sm_push(n, e->index, id, e->len);
            if (s->probe_id != 0 && id >= s->probe_id) {
                s->probe_applied = true;
                n->probe_seen = true;
            }
        } else if (e->type == RAFT_ENTRY_CONFIG) {
            struct raft_config c;
            if (raft_config_decode(e->data, e->len, &c) != 0) {
                sim_violation(s, "n%u applies an undecodable config at %" PRIu64, i + 1, e->index);
                return;
            }
            cfg_push(n, e->index, &c);
        } else if (e->type != RAFT_ENTRY_NOOP) {
            sim_violation(s, "n%u applies entry type %u", i + 1, e->type);
            return;
        }
        n->sm_applied = e->index;
    }
    sim_tr(s, TR_APPLY, i + 1, 0, u->committed_first, u->committed_last, 0, 0);
}

static void handle_update(struct sim *s, uint32_t i, const struct raft_update *u)
{
    struct sim_node *n = &s->node[i];

    /* Checks of what the core asks to persist. */
    if (u->snapshot != NULL) {
        const struct raft_snapshot_meta *m = u->snapshot;
        if (n->rx_content == NULL || n->rx_content->last_index != m->last_index) {
            sim_violation(s, "n%u installs snapshot %" PRIu64 " which the host never received",
                          i + 1, m->last_index);
            return;
        }
        check_content(s, i, n->rx_content, m);
        sm_reset(n, n->rx_content, m);
        sim_tr(s, TR_INSTALL, i + 1, 0, m->last_index, m->last_term, 0, 0);
        s->st.installs++;
    }
    if (u->n_entries > 0) {
        raft_term_t prev = term_at(n, u->entries[0].index - 1);
        for (uint32_t k = 0; k < u->n_entries && !s->violated; k++) {
            const struct raft_entry *e = &u->entries[k];
            if (k > 0 && e->index != u->entries[k - 1].index + 1)
                sim_violation(s, "n%u: update entries not contiguous at %" PRIu64, i + 1,
                              e->index);
            check_append(s, i, e->index, e->term, prev, sim_fp(e->type, e->len, e->data));
            prev = e->term;
        }
    }
    if (u->hard_state_changed) {
        const struct raft_hard_state *h = &u->hard_state;
        if (h->term < n->hs_term)
            sim_violation(s, "n%u: hard state term goes back from %" PRIu64 " to %" PRIu64, i + 1,
                          n->hs_term, h->term);
        else if (s->vote_checks && h->term == n->hs_term && n->hs_vote != 0 &&
                 h->vote != n->hs_vote)
            sim_violation(s, "n%u: hard state vote in term %" PRIu64 " changes from n%" PRIu64
                             " to n%" PRIu64,
                          i + 1, h->term, n->hs_vote, h->vote);
        n->hs_term = h->term;
        n->hs_vote = h->vote;
    }
    if (s->violated)
        return;

    /* 1. persist (later, in order), 3. hold msgs_after_persist. */
    bool writes = u->snapshot != NULL || u->truncate_from != 0 || u->n_entries > 0 ||
                  u->hard_state_changed;
    if (writes || (u->n_msgs_after_persist > 0 && n->pq_head != NULL)) {
        struct sim_batch *b = xmalloc(sizeof *b);
        memset(b, 0, sizeof *b);
        if (u->snapshot != NULL) {
            b->install = true;
            b->snap = *u->snapshot;
            b->content = content_ref(n->rx_content);
        }
        b->truncate_from = u->truncate_from;
        if (u->n_entries > 0) {
            b->ents = xmalloc(u->n_entries * sizeof *b->ents);
            for (uint32_t k = 0; k < u->n_entries; k++) {
                b->ents[k] = u->entries[k];
                void *data = xmalloc(u->entries[k].len);
                if (u->entries[k].len > 0)
                    memcpy(data, u->entries[k].data, u->entries[k].len);
                b->ents[k].data = data;
            }
            b->n_ents = u->n_entries;
        }
        b->hs_changed = u->hard_state_changed;
        b->hs = u->hard_state;
        if (u->n_msgs_after_persist > 0) {
            b->held = xmalloc(u->n_msgs_after_persist * sizeof *b->held);
            for (uint32_t k = 0; k < u->n_msgs_after_persist; k++)
                b->held[k] = msg_copy(&u->msgs_after_persist[k], NULL);
            b->n_held = u->n_msgs_after_persist;
        }
        uint64_t due = s->now + rng_range(&s->rng, 0, s->sw.persist_max_us);
        if (due < n->pq_last_due)
            due = n->pq_last_due;
        n->pq_last_due = due;
        b->due = due;
        if (n->pq_tail != NULL)
            n->pq_tail->next = b;
        else
            n->pq_head = b;
        n->pq_tail = b;
        if (!heap_push(s, due, EV_PERSIST, i, n->inc, NULL)) {
            storm(s);
            return;
        }
    } else {
        for (uint32_t k = 0; k < u->n_msgs_after_persist && !s->violated; k++)
            net_send(s, i, &u->msgs_after_persist[k]);
    }

    /* 2. send. */
    for (uint32_t k = 0; k < u->n_msgs && !s->violated; k++)
        net_send(s, i, &u->msgs[k]);

    /* 4. apply. */
    if (u->committed_first != 0 && !s->violated)
        apply(s, i, u);
}

static void pump(struct sim *s, uint32_t i)
{
    struct sim_node *n = &s->node[i];
    for (uint32_t rounds = 0; n->r != NULL && !s->violated && raft_has_update(n->r); rounds++) {
        if (rounds == 1000) {
            sim_violation(s, "n%u: raft_has_update stays true after 1000 updates", i + 1);
            return;
        }
        struct raft_update u;
        raft_update_get(n->r, &u);
        handle_update(s, i, &u);
    }
}

/* Writes batch b's operations to durable storage, in order: install,
 * compaction, truncation, each entry, hard state. At most *budget of them
 * (the whole batch when *budget is UINT64_MAX); a crash in the middle of a
 * group commit lands a prefix. Returns whether the stored log changed. */
static bool batch_apply(struct sim *s, uint32_t i, struct sim_batch *b, uint64_t *budget)
{
    struct sim_node *n = &s->node[i];
    bool log_changed = false;

    if (b->install) {
        if (*budget == 0)
            return log_changed;
        (*budget)--;
        b->install = false;
        for (uint32_t k = 0; k < n->d_n; k++) {
            raft_index_t idx = n->d_snap.last_index + 1 + k;
            if (idx > b->snap.last_index && committed_as(s, idx, n->d_log[k].term))
                sim_violation(s, "n%u: installing snapshot %" PRIu64 " drops committed entry %" PRIu64
                                 " (term %" PRIu64 ") from durable storage",
                              i + 1, b->snap.last_index, idx, n->d_log[k].term);
        }
        free_entries(n->d_log, n->d_n);
        n->d_n = 0;
        n->d_snap = b->snap;
        content_put(n->d_content);
        n->d_content = content_ref(b->content);
        log_changed = true;
    }
    if (b->compact) {
        if (*budget == 0)
            return log_changed;
        (*budget)--;
        b->compact = false;
    }
    if (b->compact_pending && b->snap.last_index > n->d_snap.last_index) {
        raft_index_t x = b->snap.last_index;
        if (x > d_last_index(n)) {
            sim_violation(s, "n%u: compaction through %" PRIu64 " but durable log ends at %" PRIu64,
                          i + 1, x, d_last_index(n));
        } else {
            uint32_t drop = (uint32_t)(x - n->d_snap.last_index);
            if (n->d_log[drop - 1].term != b->snap.last_term)
                sim_violation(s, "n%u: compaction through %" PRIu64 "/%" PRIu64
                                 " but durable entry has term %" PRIu64,
                              i + 1, x, b->snap.last_term, n->d_log[drop - 1].term);
            free_entries(n->d_log, drop);
            memmove(n->d_log, n->d_log + drop, (n->d_n - drop) * sizeof *n->d_log);
            n->d_n -= drop;
            n->d_snap = b->snap;
            content_put(n->d_content);
            n->d_content = content_ref(b->content);
        }
    }
    b->compact_pending = false;
    if (b->truncate_from != 0) {
        if (*budget == 0)
            return log_changed;
        (*budget)--;
        raft_index_t f = b->truncate_from;
        b->truncate_from = 0;
        if (f <= n->d_snap.last_index) {
            sim_violation(s, "n%u: truncate from %" PRIu64 " into the snapshot through %" PRIu64,
                          i + 1, f, n->d_snap.last_index);
        } else if (f <= d_last_index(n)) {
            uint32_t keep = (uint32_t)(f - n->d_snap.last_index - 1);
            s->st.truncations++;
            for (uint32_t k = keep; k < n->d_n; k++)
                if (committed_as(s, n->d_snap.last_index + 1 + k, n->d_log[k].term))
                    sim_violation(s, "n%u: truncation from %" PRIu64 " drops committed entry %" PRIu64
                                     " (term %" PRIu64 ") from durable storage",
                                  i + 1, f, n->d_snap.last_index + 1 + k, n->d_log[k].term);
            free_entries(n->d_log + keep, n->d_n - keep);
            n->d_n = keep;
        }
        log_changed = true;
    }
    if (b->n_ents > 0) {
        uint32_t m = *budget < b->n_ents ? (uint32_t)*budget : b->n_ents;
        if (m == 0)
            return log_changed;
        *budget -= m;
        if (b->ents[0].index != d_last_index(n) + 1) {
            sim_violation(s, "n%u: entries from %" PRIu64 " do not follow the stored log ending at %" PRIu64,
                          i + 1, b->ents[0].index, d_last_index(n));
            return log_changed;
        }
        if (n->d_n + m > n->d_cap) {
            while (n->d_n + m > n->d_cap)
                n->d_cap = n->d_cap ? n->d_cap * 2 : 256;
            n->d_log = xrealloc(n->d_log, n->d_cap * sizeof *n->d_log);
        }
        /* the data moves to d_log; the rest stays with the batch */
        memcpy(n->d_log + n->d_n, b->ents, m * sizeof *b->ents);
        n->d_n += m;
        memmove(b->ents, b->ents + m, (b->n_ents - m) * sizeof *b->ents);
        b->n_ents -= m;
        log_changed = true;
        if (b->n_ents > 0)
            return log_changed;
    }
    if (b->hs_changed) {
        if (*budget == 0)
            return log_changed;
        (*budget)--;
        b->hs_changed = false;
        if (b->hs.term < n->d_hs.term)
            sim_violation(s, "n%u: durable term goes back from %" PRIu64 " to %" PRIu64, i + 1,
                          n->d_hs.term, b->hs.term);
        else if (s->vote_checks && b->hs.term == n->d_hs.term && n->d_hs.vote != 0 &&
                 b->hs.vote != n->d_hs.vote)
            sim_violation(s, "n%u: durable vote in term %" PRIu64 " changes from n%" PRIu64
                             " to n%" PRIu64,
                          i + 1, b->hs.term, n->d_hs.vote, b->hs.vote);
        n->d_hs = b->hs;
        if (n->d_hs.commit > d_last_index(n))
            sim_violation(s, "n%u: durable commit index %" PRIu64 " beyond the durable log (%" PRIu64
                             "): entries must be written before the hard state that commits them",
                          i + 1, n->d_hs.commit, d_last_index(n));
    }
    return log_changed;
}

/* Operations in a batch, as batch_apply counts them. */
static uint64_t batch_ops(const struct sim_batch *b)
{
    return (uint64_t)b->install + b->compact + (b->truncate_from != 0) + b->n_ents + b->hs_changed;
}

/* The oldest pending batch of node i becomes durable. */
static void persist_done(struct sim *s, uint32_t i)
{
    struct sim_node *n = &s->node[i];
    struct sim_batch *b = n->pq_head;
    if (b == NULL) {
        sim_violation(s, "simulator bug: storage completion without a pending write");
        return;
    }
    n->pq_head = b->next;
    if (n->pq_head == NULL)
        n->pq_tail = NULL;
    uint64_t all = UINT64_MAX;
    bool log_changed = batch_apply(s, i, b, &all);
    sim_tr(s, TR_PERSIST, i + 1, 0, d_last_index(n), d_last_term(n), n->d_hs.term, n->d_hs.vote);
    for (uint32_t k = 0; k < b->n_held && !s->violated; k++)
        net_send(s, i, &b->held[k]->m);
    batch_free(b);
    if (log_changed && !s->violated) {
        raft_persisted(n->r, d_last_index(n), d_last_term(n));
        pump(s, i);
    }
}

/* ---- inspection after every event ---------------------------------------------------------- */

static void leader_complete(struct sim *s, uint32_t i, const struct raft_status *st)
{
    struct sim_node *n = &s->node[i];
    for (raft_index_t idx = st->snapshot_index; idx <= s->glog_max && !s->violated; idx++) {
        const struct sim_gent *g = check_gent(s, idx);
        if (g == NULL || g->cterm >= st->term)
            continue; /* not known committed before this leader's term */
        if (idx == st->snapshot_index) {
            if (g->term != st->snapshot_term)
                sim_violation(s, "leader completeness: n%u (term %" PRIu64 ") has snapshot %" PRIu64
                                 "/%" PRIu64 " but that index was committed in term %" PRIu64,
                              i + 1, st->term, idx, st->snapshot_term, g->term);
            continue;
        }
        const struct raft_entry *e = raft_entry_get(n->r, idx);
        if (e == NULL || e->term != g->term)
            sim_violation(s, "leader completeness: n%u became leader of term %" PRIu64
                             " without committed entry %" PRIu64 " (term %" PRIu64 "; it has %s%" PRIu64 ")",
                          i + 1, st->term, idx, g->term, e == NULL ? "nothing, last " : "term ",
                          e == NULL ? st->last_index : e->term);
    }
}

/* A leader's commit index: the entry must be durable on a majority of the
 * voters of its configuration. */
static void check_durable_quorum(struct sim *s, uint32_t i, const struct raft_status *st,
                                 raft_term_t term)
{
    uint32_t voters = 0, holders = 0;
    for (uint32_t k = 0; k < st->config.n; k++) {
        if (st->config.servers[k].role != RAFT_VOTER)
            continue;
        voters++;
        raft_id_t id = st->config.servers[k].id;
        if (id >= 1 && id <= s->nn && d_has(&s->node[id - 1], st->commit, term))
            holders++;
    }
    if (holders * 2 <= voters)
        sim_violation(s, "leader n%u commits index %" PRIu64 " (term %" PRIu64
                         ") but it is durable on only %u of %u voters",
                      i + 1, st->commit, term, holders, voters);
}

static void observe(struct sim *s, uint32_t i)
{
    struct sim_node *n = &s->node[i];
    if (n->r == NULL || s->violated)
        return;
    struct raft_status st;
    raft_status(n->r, &st);
    if (st.term < n->term) {
        sim_violation(s, "n%u: term goes back from %" PRIu64 " to %" PRIu64, i + 1, n->term, st.term);
        return;
    }
    if (s->vote_checks && st.term == n->term && n->vote != 0 && st.vote != n->vote) {
        sim_violation(s, "n%u: vote in term %" PRIu64 " changes from n%" PRIu64 " to n%" PRIu64,
                      i + 1, st.term, n->vote, st.vote);
        return;
    }
    bool changed = st.role != n->role || st.term != n->term;
    if (changed) {
        sim_tr(s, TR_ROLE, i + 1, 0, (uint64_t)st.role, st.term, st.leader, st.commit);
        s->st.leaders += st.role == RAFT_LEADER;
    }
    if (st.role == RAFT_LEADER) {
        check_leader(s, i, st.term);
        if (changed)
            leader_complete(s, i, &st);
    }
    if (st.commit < n->commit) {
        sim_violation(s, "n%u: commit index goes back from %" PRIu64 " to %" PRIu64, i + 1,
                      n->commit, st.commit);
        return;
    }
    if (st.commit > n->commit) {
        raft_term_t cterm = 0;
        for (raft_index_t idx = n->commit + 1; idx <= st.commit && !s->violated; idx++) {
            const struct raft_entry *e = raft_entry_get(n->r, idx);
            if (e != NULL) {
                check_committed(s, i, idx, e->term, e->type, sim_fp(e->type, e->len, e->data),
                                st.term);
                cterm = e->term;
            }
        }
        if (st.role == RAFT_LEADER && cterm != 0)
            check_durable_quorum(s, i, &st, cterm);
        sim_tr(s, TR_COMMIT, i + 1, 0, n->commit, st.commit, cterm, 0);
        if (st.commit > s->st.commits)
            s->st.commits = st.commit;
    }
    if (s->bench_exclude != 0 && st.role == RAFT_LEADER && n->id != s->bench_exclude) {
        if (s->bench_leader_at == 0)
            s->bench_leader_at = s->now;
        const struct raft_entry *e = raft_entry_get(n->r, st.commit);
        if (s->bench_commit_at == 0 && e != NULL && e->term == st.term)
            s->bench_commit_at = s->now;
    }
    n->role = st.role;
    n->term = st.term;
    n->vote = st.vote;
    n->commit = st.commit;
}

/* ---- crash and restart ---------------------------------------------------------------------- */

void sim_crash(struct sim *s, uint32_t i)
{
    struct sim_node *n = &s->node[i];
    if (n->r == NULL)
        return;
    uint64_t lost = 0, landed = 0;
    if (s->faults && n->pq_head != NULL && rng_ppm(&s->rng, s->sw.torn_ppm)) {
        /* torn group commit: a random prefix of the pending writes lands */
        uint64_t total = 0;
        for (struct sim_batch *b = n->pq_head; b != NULL; b = b->next)
            total += batch_ops(b);
        uint64_t budget = rng_below(&s->rng, total + 1);
        landed = budget;
        for (struct sim_batch *b = n->pq_head; b != NULL && budget > 0 && !s->violated; b = b->next)
            batch_apply(s, i, b, &budget);
        landed -= budget;
    }
    while (n->pq_head != NULL) {
        struct sim_batch *b = n->pq_head;
        n->pq_head = b->next;
        batch_free(b);
        lost++;
    }
    n->pq_tail = NULL;
    n->pq_last_due = 0;
    raft_destroy(n->r);
    n->r = NULL;
    n->inc++;
    n->sm_n = 0;
    n->cfg_n = 0;
    content_put(n->sm_cache);
    n->sm_cache = NULL;
    content_put(n->rx_content);
    n->rx_content = NULL;
    n->down_since = s->now;
    sim_tr(s, TR_CRASH, i + 1, 0, lost, landed, 0, 0);
    s->st.crashes++;
}

static void node_start(struct sim *s, uint32_t i)
{
    struct sim_node *n = &s->node[i];
    struct raft_options o = s->sw.opt;
    o.id = n->id;
    o.seed = sim_mix64(s->seed * 0x100000001b3ull + n->id * 0x9e37u + n->inc);
    struct raft_restore rs = {n->d_hs, n->d_snap, n->d_log, n->d_n};
    /* clock drift: each incarnation's tick is off by up to sw.drift_ppm */
    n->tick_us = s->sw.tick_us;
    if (s->sw.drift_ppm != 0) {
        uint64_t d = rng_below(&s->rng, 2 * (uint64_t)s->sw.drift_ppm + 1);
        n->tick_us = s->sw.tick_us * (1000000 - s->sw.drift_ppm + d) / 1000000;
    }
    int rc = raft_create(&n->r, &o, &rs);
    if (rc != 0) {
        n->r = NULL;
        sim_violation(s, "n%u: raft_create on its durable state fails: %s", i + 1, raft_strerror(rc));
        return;
    }
    sm_reset(n, n->d_content, &n->d_snap);
    struct raft_status st;
    raft_status(n->r, &st);
    n->role = st.role;
    n->term = st.term;
    n->vote = st.vote;
    n->commit = st.commit;
    n->hs_term = n->d_hs.term;
    n->hs_vote = n->d_hs.vote;
    if (st.term < n->d_hs.term || (st.term == n->d_hs.term && st.vote != n->d_hs.vote))
        sim_violation(s, "n%u restarts in term %" PRIu64 " vote n%" PRIu64
                         " but stored term %" PRIu64 " vote n%" PRIu64,
                      i + 1, st.term, st.vote, n->d_hs.term, n->d_hs.vote);
    if (!heap_push(s, s->now + 1 + rng_below(&s->rng, s->sw.tick_us), EV_TICK, i, n->inc, NULL))
        storm(s);
    pump(s, i);
    observe(s, i);
}

static void restart(struct sim *s, uint32_t i)
{
    struct sim_node *n = &s->node[i];
    sim_tr(s, TR_RESTART, i + 1, 0, n->d_hs.term, n->d_hs.vote, n->d_snap.last_index, n->d_n);
    s->st.restarts++;
    node_start(s, i);
}

/* ---- the driver: proposals and faults ----------------------------------------------------- */

/* The up leader with the highest term, or -1. */
static int find_leader(const struct sim *s)
{
    int best = -1;
    for (uint32_t i = 0; i < s->nn; i++)
        if (s->node[i].r != NULL && s->node[i].role == RAFT_LEADER &&
            (best < 0 || s->node[i].term > s->node[best].term))
            best = (int)i;
    return best;
}

static int random_up(struct sim *s)
{
    uint32_t up[SIM_NODES_MAX], k = 0;
    for (uint32_t i = 0; i < s->nn; i++)
        if (s->node[i].r != NULL)
            up[k++] = i;
    return k == 0 ? -1 : (int)up[rng_below(&s->rng, k)];
}

static void propose(struct sim *s, uint32_t i)
{
    struct sim_node *n = &s->node[i];
    uint8_t buf[SIM_BIG_PAYLOAD_MAX];
    uint64_t id = ++s->next_payload;
    uint32_t len = 8;
    if (rng_ppm(&s->rng, s->sw.big_ppm)) {
        /* mostly within the entry limit, sometimes just past it */
        uint64_t hi = s->sw.opt.max_entry_bytes + 16ull;
        len = (uint32_t)rng_range(&s->rng, 9, hi < SIM_BIG_PAYLOAD_MAX ? hi : SIM_BIG_PAYLOAD_MAX);
    }
    memcpy(buf, &id, 8);
    for (uint32_t k = 8; k < len; k++)
        buf[k] = filler(id, k);
    raft_index_t index = 0;
    int rc = raft_propose(n->r, buf, len, &index);
    sim_tr(s, TR_PROPOSE, i + 1, 0, id, len, (uint64_t)(int64_t)rc, index);
    s->st.proposals_ok += rc == 0;
    s->st.proposals_refused += rc != 0;
    s->st.busy += rc == RAFT_EBUSY;
    if (rc != 0 && rc != RAFT_ENOTLEADER && rc != RAFT_EBUSY && rc != RAFT_ETRANSFER &&
        !(rc == RAFT_ETOOBIG && len > s->sw.opt.max_entry_bytes))
        sim_violation(s, "n%u: raft_propose of %u bytes fails: %s", i + 1, len, raft_strerror(rc));
    pump(s, i);
    observe(s, i);
}

static void chaos_partition(struct sim *s)
{
    if (s->sw.asymmetric) {
        uint32_t a = (uint32_t)rng_below(&s->rng, s->nn), b = (uint32_t)rng_below(&s->rng, s->nn);
        if (a != b) {
            s->cut[a][b] = true;
            sim_tr(s, TR_CUT, a + 1, b + 1, 0, 0, 0, 0);
            s->st.partitions++;
        }
        return;
    }
    uint64_t mask = 1 + rng_below(&s->rng, (1ull << s->nn) - 2); /* neither empty nor all */
    for (uint32_t a = 0; a < s->nn; a++)
        for (uint32_t b = 0; b < s->nn; b++)
            s->cut[a][b] = ((mask >> a) & 1) != ((mask >> b) & 1);
    sim_tr(s, TR_PARTITION, 0, 0, mask, ~mask & ((1ull << s->nn) - 1), 0, 0);
    s->st.partitions++;
}

static void heal(struct sim *s)
{
    memset(s->cut, 0, sizeof s->cut);
    sim_tr(s, TR_HEAL, 0, 0, 0, 0, 0, 0);
}

static void chaos_transfer(struct sim *s)
{
    int l = find_leader(s);
    if (l < 0)
        return;
    struct raft_status st;
    raft_status(s->node[l].r, &st);
    raft_id_t cand[RAFT_SERVERS_MAX];
    uint32_t k = 0;
    for (uint32_t j = 0; j < st.config.n; j++)
        if (st.config.servers[j].role == RAFT_VOTER && st.config.servers[j].id != s->node[l].id)
            cand[k++] = st.config.servers[j].id;
    if (k == 0)
        return;
    raft_id_t to = cand[rng_below(&s->rng, k)];
    int rc = raft_transfer_leadership(s->node[l].r, to);
    sim_tr(s, TR_TRANSFER, (uint32_t)l + 1, (uint32_t)to, (uint64_t)(int64_t)rc, 0, 0, 0);
    s->st.transfers_ok += rc == 0;
    pump(s, (uint32_t)l);
    observe(s, (uint32_t)l);
}

/* One single-server change at the leader: promote a learner, add a server
 * that is not in the configuration as a learner, or remove a server (never
 * fewer than two voters). */
static void chaos_member(struct sim *s)
{
    int l = find_leader(s);
    if (l < 0)
        return;
    struct raft_status st;
    raft_status(s->node[l].r, &st);
    raft_id_t learners[RAFT_SERVERS_MAX], voters[RAFT_SERVERS_MAX], outside[SIM_NODES_MAX];
    uint32_t nl = 0, nv = 0, no = 0;
    for (uint32_t j = 0; j < st.config.n; j++) {
        if (st.config.servers[j].role == RAFT_VOTER)
            voters[nv++] = st.config.servers[j].id;
        else
            learners[nl++] = st.config.servers[j].id;
    }
    for (uint32_t j = 0; j < s->nn; j++)
        if (raft_config_find(&st.config, s->node[j].id) == NULL)
            outside[no++] = s->node[j].id;
    enum raft_change ch;
    raft_id_t who;
    uint64_t r = rng_below(&s->rng, 3);
    if (nl > 0 && r < 2) {
        ch = RAFT_PROMOTE;
        who = learners[rng_below(&s->rng, nl)];
    } else if (no > 0 && (r < 2 || nv <= 2)) {
        ch = RAFT_ADD_LEARNER;
        who = outside[rng_below(&s->rng, no)];
    } else if (nv > 2 || nl > 0) {
        ch = RAFT_REMOVE;
        who = nl > 0 && rng_below(&s->rng, 2) ? learners[rng_below(&s->rng, nl)]
                                              : voters[rng_below(&s->rng, nv)];
        if (nv <= 2 && raft_config_find(&st.config, who)->role == RAFT_VOTER)
            return;
    } else {
        return;
    }
    int rc = raft_change_membership(s->node[l].r, ch, who, NULL);
    sim_tr(s, TR_MEMBER, (uint32_t)l + 1, (uint32_t)who, (uint64_t)(int64_t)rc, ch, 0, 0);
    s->st.members_ok += rc == 0;
    if (rc != 0 && rc != RAFT_ECHANGE_PENDING && rc != RAFT_ENOT_CAUGHT_UP && rc != RAFT_ETRANSFER &&
        rc != RAFT_EBUSY)
        sim_violation(s, "n%u: membership change (%d, n%" PRIu64 ") fails: %s", l + 1, ch, who,
                      raft_strerror(rc));
    pump(s, (uint32_t)l);
    observe(s, (uint32_t)l);
}

static void chaos_compact(struct sim *s)
{
    int r = random_up(s);
    if (r < 0)
        return;
    uint32_t i = (uint32_t)r;
    struct sim_node *n = &s->node[i];
    struct raft_status st;
    raft_status(n->r, &st);
    if (n->sm_applied <= st.snapshot_index)
        return;
    raft_index_t x = rng_range(&s->rng, st.snapshot_index + 1, n->sm_applied);
    const struct raft_entry *e = raft_entry_get(n->r, x);
    if (e == NULL)
        return;
    struct raft_snapshot_meta meta = {x, e->term, {0}};
    uint32_t c = n->cfg_n;
    while (c > 1 && n->cfgs[c - 1].index > x)
        c--;
    meta.config = n->cfgs[c - 1].c;
    int rc = raft_compact(n->r, x);
    sim_tr(s, TR_COMPACT, i + 1, 0, (uint64_t)(int64_t)rc, x, 0, 0);
    s->st.compactions += rc == 0;
    if (rc != 0) {
        sim_violation(s, "n%u: raft_compact(%" PRIu64 ") with applied %" PRIu64 " fails: %s", i + 1,
                      x, n->sm_applied, raft_strerror(rc));
        return;
    }
    struct sim_batch *b = xmalloc(sizeof *b);
    memset(b, 0, sizeof *b);
    b->compact = true;
    b->compact_pending = true;
    b->snap = meta;
    b->content = content_ref(sm_content(n, x));
    b->due = n->pq_last_due > s->now ? n->pq_last_due : s->now;
    n->pq_last_due = b->due;
    if (n->pq_tail != NULL)
        n->pq_tail->next = b;
    else
        n->pq_head = b;
    n->pq_tail = b;
    if (!heap_push(s, b->due, EV_PERSIST, i, n->inc, NULL))
        storm(s);
    pump(s, i);
    observe(s, i);
}

static void chaos(struct sim *s)
{
    const struct sim_swarm *w = &s->sw;
    if (!s->faults) {
        /* Liveness phase: keep proposing at whoever leads until one commits. */
        int l = find_leader(s);
        if (l < 0 || s->probe_applied)
            return;
        /* once per leader and term, again only if it was refused */
        if (s->probe_leader == s->node[l].id && s->probe_term == s->node[l].term &&
            s->probe_ok)
            return;
        uint64_t before = s->st.proposals_ok;
        propose(s, (uint32_t)l);
        s->probe_leader = s->node[l].id;
        s->probe_term = s->node[l].term;
        s->probe_ok = s->st.proposals_ok > before;
        return;
    }
    if (rng_ppm(&s->rng, w->propose_ppm)) {
        int l = find_leader(s);
        if (l < 0 || rng_ppm(&s->rng, w->wrong_node_ppm))
            l = random_up(s);
        for (uint32_t k = 0; k < w->burst && l >= 0 && !s->violated; k++)
            if (s->node[l].r != NULL)
                propose(s, (uint32_t)l);
    }
    if (rng_ppm(&s->rng, w->crash_ppm)) {
        int l = find_leader(s);
        if (l < 0 || rng_below(&s->rng, 3) != 0)
            l = random_up(s);
        if (l >= 0)
            sim_crash(s, (uint32_t)l);
    }
    for (uint32_t i = 0; i < s->nn && !s->violated; i++)
        if (s->node[i].r == NULL && rng_ppm(&s->rng, w->restart_ppm))
            restart(s, i);
    if (rng_ppm(&s->rng, w->partition_ppm))
        chaos_partition(s);
    if (rng_ppm(&s->rng, w->heal_ppm))
        heal(s);
    if (rng_ppm(&s->rng, w->transfer_ppm))
        chaos_transfer(s);
    if (rng_ppm(&s->rng, w->member_ppm))
        chaos_member(s);
    if (rng_ppm(&s->rng, w->compact_ppm))
        chaos_compact(s);
}

/* ---- full sweep ------------------------------------------------------------------------- */

/* Every SIM_SWEEP_EVERY events: every entry each core holds in memory and
 * every entry in each durable log must be one that some update handed out
 * (same fingerprint, same predecessor term), entries up to each core's
 * commit index must equal the committed log, and every durable log must
 * contain every committed entry it has reached, with the committed term.
 * This catches a core whose memory drifts from what it told its host. */
static void sweep(struct sim *s)
{
    for (uint32_t i = 0; i < s->nn && !s->violated; i++) {
        struct sim_node *n = &s->node[i];
        if (n->r != NULL) {
            struct raft_status st;
            raft_status(n->r, &st);
            raft_term_t prev = st.first_index - 1 == st.snapshot_index ? st.snapshot_term : UINT64_MAX;
            for (raft_index_t idx = st.first_index; idx <= st.last_index && !s->violated; idx++) {
                const struct raft_entry *e = raft_entry_get(n->r, idx);
                if (e == NULL) {
                    sim_violation(s, "n%u: raft_entry_get(%" PRIu64 ") is NULL within %" PRIu64
                                     "..%" PRIu64,
                                  i + 1, idx, st.first_index, st.last_index);
                    break;
                }
                uint64_t fp = sim_fp(e->type, e->len, e->data);
                check_known(s, i, idx, e->term, prev, fp, "memory");
                const struct sim_gent *g = check_gent(s, idx);
                if (idx <= st.commit && g != NULL && (g->term != e->term || g->fp != fp))
                    sim_violation(s, "n%u: entry %" PRIu64 " (term %" PRIu64 ") is below its commit "
                                     "index %" PRIu64 " but differs from the committed entry (term %" PRIu64 ")",
                                  i + 1, idx, e->term, st.commit, g->term);
                prev = e->term;
            }
        }
        raft_term_t prev = n->d_snap.last_term;
        for (uint32_t k = 0; k < n->d_n && !s->violated; k++) {
            const struct raft_entry *e = &n->d_log[k];
            check_known(s, i, e->index, e->term, k == 0 && n->d_snap.last_index == 0 ? 0 : prev,
                        sim_fp(e->type, e->len, e->data), "durable log");
            prev = e->term;
        }
    }
}

/* ---- the event loop ------------------------------------------------------------------------ */

/* A snapshot transfer failed: half the time its sender's host notices
 * (raft_snapshot_failed), else the core must retry on its own. */
static void snapshot_lost(struct sim *s, const struct raft_msg *m)
{
    uint32_t from = (uint32_t)m->from - 1;
    if (s->node[from].r == NULL || !rng_ppm(&s->rng, 500000))
        return;
    raft_snapshot_failed(s->node[from].r, m->to);
    pump(s, from);
    observe(s, from);
}

bool sim_step(struct sim *s)
{
    if (s->heap_n == 0)
        return false;
    struct sim_ev ev;
    heap_pop(s, &ev);
    s->now = ev.t;
    struct sim_node *n = &s->node[ev.node];
    switch (ev.kind) {
    case EV_TICK:
        if (n->r == NULL || ev.inc != n->inc)
            return true; /* stale: the node crashed since */
        raft_tick(n->r);
        pump(s, ev.node);
        observe(s, ev.node);
        if (!heap_push(s, s->now + n->tick_us, EV_TICK, ev.node, n->inc, NULL))
            storm(s);
        break;
    case EV_DELIVER: {
        struct raft_msg *m = &ev.msg->m;
        if (ev.msg->lost || n->r == NULL || s->cut[m->from - 1][m->to - 1]) {
            if (!ev.msg->lost)
                sim_tr_msg(s, TR_DROP, m, n->r == NULL ? 3 : 2);
            if (m->type == RAFT_MSG_SNAPSHOT)
                snapshot_lost(s, m);
        } else {
            if (m->type == RAFT_MSG_SNAPSHOT) {
                content_put(n->rx_content);
                n->rx_content = content_ref(ev.msg->content);
            }
            int rc = raft_step(n->r, m);
            sim_tr_msg(s, TR_DELIVER, m, rc);
            if (rc == RAFT_EMALFORMED)
                sim_violation(s, "n%u rejects a well-formed message as malformed", ev.node + 1);
            pump(s, ev.node);
            observe(s, ev.node);
        }
        msg_free(ev.msg);
        break;
    }
    case EV_PERSIST:
        if (n->r == NULL || ev.inc != n->inc)
            return true;
        persist_done(s, ev.node);
        observe(s, ev.node);
        break;
    case EV_CHAOS:
        chaos(s);
        if (!heap_push(s, s->now + s->sw.tick_us, EV_CHAOS, 0, 0, NULL))
            storm(s);
        break;
    default:
        sim_violation(s, "simulator bug: event kind %u", ev.kind);
        break;
    }
    s->events++;
    if (s->events % SIM_SWEEP_EVERY == 0 && !s->violated)
        sweep(s);
    return true;
}

/* ---- swarm ------------------------------------------------------------------------------- */

static uint32_t pick_ppm(struct sim_rng *g, uint32_t on_ppm, uint32_t lo, uint32_t hi)
{
    return rng_ppm(g, on_ppm) ? (uint32_t)rng_range(g, lo, hi) : 0;
}

static void swarm(struct sim *s, uint32_t nodes)
{
    struct sim_swarm *w = &s->sw;
    struct sim_rng *g = &s->rng;
    memset(w, 0, sizeof *w);
    w->n = nodes;
    raft_options_default(&w->opt, 1, 0);
    w->tick_us = 10000; /* 10 ms */
    w->opt.election_ticks_min = (uint32_t)rng_range(g, 10, 20);
    w->opt.election_ticks_max = w->opt.election_ticks_min * 2;
    w->opt.heartbeat_ticks = (uint32_t)rng_range(g, 2, w->opt.election_ticks_min / 3);
    w->opt.pre_vote = rng_ppm(g, 850000);
    w->opt.check_quorum = rng_ppm(g, 850000);
    if (rng_ppm(g, 500000))
        w->opt.max_inflight = (uint32_t)rng_range(g, 1, 8);
    if (rng_ppm(g, 300000))
        w->opt.max_msg_bytes = (uint32_t)rng_range(g, 1, 300);
    if (rng_ppm(g, 200000))
        w->opt.max_msg_entries = (uint32_t)rng_range(g, 1, 8);
    if (rng_ppm(g, 200000)) {
        /* the core requires max_uncommitted_bytes >= max_entry_bytes */
        /* below RAFT_CONFIG_ENCODED_MAX too: the limit is for payloads only
         * (configurations once tripped over it: 8a0db44) */
        w->opt.max_entry_bytes = (uint32_t)rng_range(g, 16, 512);
        w->opt.max_uncommitted_bytes =
            rng_range(g, w->opt.max_entry_bytes, 4 * (uint64_t)w->opt.max_entry_bytes);
    }
    /* a lost snapshot is sent again after this long */
    w->opt.snapshot_timeout_ticks =
        (uint32_t)rng_range(g, w->opt.election_ticks_max, 4 * w->opt.election_ticks_max);
    w->delay_min_us = (uint32_t)rng_range(g, 0, 2000);
    static const uint32_t spread[] = {1000, 5000, 20000, 60000};
    w->delay_max_us = w->delay_min_us + spread[rng_below(g, 4)];
    w->spike_ppm = pick_ppm(g, 300000, 1000, 50000);
    w->spike_max_us = (uint32_t)rng_range(g, 100000, 500000);
    w->loss_ppm = pick_ppm(g, 600000, 10000, 200000);
    w->dup_ppm = pick_ppm(g, 400000, 10000, 50000);
    w->partition_ppm = pick_ppm(g, 500000, 2000, 20000);
    w->heal_ppm = (uint32_t)rng_range(g, 5000, 50000);
    w->asymmetric = rng_ppm(g, 300000);
    w->crash_ppm = pick_ppm(g, 500000, 2000, 15000);
    w->restart_ppm = (uint32_t)rng_range(g, 10000, 100000);
    uint64_t p = rng_below(g, 10);
    w->persist_max_us = p < 3 ? 0 : p < 7 ? (uint32_t)rng_range(g, 100, 5000)
                                          : (uint32_t)rng_range(g, 20000, 200000);
    w->propose_ppm = (uint32_t)rng_range(g, 20000, 300000);
    w->big_ppm = pick_ppm(g, 300000, 10000, 100000);
    w->burst = rng_ppm(g, 300000) ? (uint32_t)rng_range(g, 2, 8) : 1;
    w->wrong_node_ppm = 50000;
    w->transfer_ppm = pick_ppm(g, 300000, 2000, 10000);
    w->member_ppm = pick_ppm(g, 400000, 5000, 30000);
    w->spares = w->member_ppm != 0 ? (uint32_t)rng_range(g, 1, 2) : 0;
    w->compact_ppm = pick_ppm(g, 500000, 5000, 50000);
    w->drift_ppm = pick_ppm(g, 300000, 1000, 100000);
    /* On unless --no-torn-writes: a crash may land a prefix of the pending
     * writes, e.g. an update's entries without its hard state, which leaves
     * a log whose last term is above the stored term (raft_create adopts
     * it; see raft.h). */
    w->torn_ppm = pick_ppm(g, 500000, 200000, 1000000);
    if (!s->torn_writes)
        w->torn_ppm = 0;
}

void sim_describe_swarm(const struct sim *s, char *buf, size_t len)
{
    const struct sim_swarm *w = &s->sw;
    snprintf(buf, len,
             "nodes=%u+%u spares, tick=%" PRIu64 "us election=%u-%u heartbeat=%u pre_vote=%d "
             "check_quorum=%d inflight=%u msg_bytes=%u msg_entries=%u uncommitted=%" PRIu64
             "; delay=%u-%uus spike=%uppm/%uus loss=%uppm dup=%uppm partition=%uppm%s heal=%uppm "
             "crash=%uppm restart=%uppm persist<=%uus propose=%uppm x%u big=%uppm transfer=%uppm "
             "member=%uppm compact=%uppm drift=%uppm torn=%uppm",
             w->n, w->spares, w->tick_us, w->opt.election_ticks_min, w->opt.election_ticks_max,
             w->opt.heartbeat_ticks, w->opt.pre_vote, w->opt.check_quorum, w->opt.max_inflight,
             w->opt.max_msg_bytes, w->opt.max_msg_entries, w->opt.max_uncommitted_bytes,
             w->delay_min_us, w->delay_max_us, w->spike_ppm, w->spike_max_us, w->loss_ppm,
             w->dup_ppm, w->partition_ppm, w->asymmetric ? " (one-way)" : "", w->heal_ppm,
             w->crash_ppm, w->restart_ppm, w->persist_max_us, w->propose_ppm, w->burst, w->big_ppm,
             w->transfer_ppm, w->member_ppm, w->compact_ppm, w->drift_ppm, w->torn_ppm);
}

/* ---- set-up, teardown, one seed ----------------------------------------------------------- */

static void world_init(struct sim *s, uint64_t seed, bool verbose)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->rng.s = sim_mix64(seed ^ 0x5241465453494dull);
    s->verbose = verbose;
    s->vote_checks = true;
    s->heap = xmalloc(SIM_QUEUE_MAX * sizeof *s->heap);
    check_init(s);
}

static void nodes_start(struct sim *s)
{
    s->nn = s->sw.n + s->sw.spares;
    struct sim_content empty = {1, 0, 0};
    for (uint32_t i = 0; i < s->nn; i++) {
        struct sim_node *n = &s->node[i];
        n->id = i + 1;
        n->d_content = content_new(0, empty.recs, 0);
        if (i < s->sw.n) {
            n->d_snap.config.n = s->sw.n;
            for (uint32_t j = 0; j < s->sw.n; j++)
                n->d_snap.config.servers[j] = (struct raft_server){j + 1, RAFT_VOTER};
        }
    }
    for (uint32_t i = 0; i < s->nn && !s->violated; i++)
        node_start(s, i);
}

void sim_init(struct sim *s, uint64_t seed, uint32_t nodes, const struct sim_flags *f)
{
    world_init(s, seed, f->verbose);
    s->vote_checks = f->vote_checks;
    s->torn_writes = f->torn_writes;
    if (nodes == 0)
        nodes = seed % 2 == 1 ? 3 : 5;
    swarm(s, nodes);
    nodes_start(s);
    heap_push(s, 0, EV_CHAOS, 0, 0, NULL);
    s->faults = true;
}

/* The election benchmark's cluster: 1 tick = 1 ms, default timeouts, 1 ms
 * one-way delay, no faults, immediate storage, no driver. */
void sim_init_bench(struct sim *s, uint64_t seed, uint32_t nodes)
{
    world_init(s, seed, false);
    struct sim_swarm *w = &s->sw;
    w->n = nodes;
    raft_options_default(&w->opt, 1, 0);
    w->tick_us = 1000;
    w->delay_min_us = w->delay_max_us = 1000;
    nodes_start(s);
}

void sim_free(struct sim *s, bool destroy_cores)
{
    s->faults = false; /* no torn writes while tearing down */
    for (uint32_t i = 0; i < s->nn; i++) {
        struct sim_node *n = &s->node[i];
        if (n->r != NULL) {
            if (!destroy_cores)
                n->r = NULL; /* leaked on purpose: it aborted mid-call */
            sim_crash(s, i);
        }
        free_entries(n->d_log, n->d_n);
        free(n->d_log);
        content_put(n->d_content);
        free(n->sm);
        free(n->cfgs);
    }
    for (uint32_t k = 0; k < s->heap_n; k++)
        if (s->heap[k].msg != NULL)
            msg_free(s->heap[k].msg);
    free(s->heap);
    check_free(s);
}


raft_id_t sim_leader(struct sim *s, bool noop_committed)
{
    int l = find_leader(s);
    if (l < 0)
        return 0;
    struct sim_node *n = &s->node[l];
    if (noop_committed) {
        const struct raft_entry *e = raft_entry_get(n->r, n->commit);
        if (e == NULL || e->term != n->term)
            return 0;
    }
    return n->id;
}

/* The liveness phase's network and storage: no loss, duplication or spikes,
 * and message and storage delays of at most a twentieth of the shortest
 * election timeout, so that an election round trip (persist the candidate's
 * vote, send, persist the voter's vote, answer) takes at most a fifth of it:
 * Raft's timing requirement (§5.6), which no protocol can do without. */
static void liveness_network(struct sim *s)
{
    struct sim_swarm *w = &s->sw;
    uint64_t cap = w->opt.election_ticks_min * w->tick_us / 20;
    w->loss_ppm = w->dup_ppm = w->spike_ppm = 0;
    if (w->delay_max_us > cap)
        w->delay_max_us = (uint32_t)cap;
    if (w->delay_min_us > w->delay_max_us)
        w->delay_min_us = w->delay_max_us;
    if (w->persist_max_us > cap)
        w->persist_max_us = (uint32_t)cap;
}

uint64_t sim_liveness_bound_us(const struct sim *s)
{
    /* 20 election timeouts, a second for the leftovers of the fault phase
     * (queued storage writes, messages still in flight), and one
     * unpipelined replication round per entry of backlog (docs/testing.md). */
    const struct sim_swarm *w = &s->sw;
    uint64_t round = 2 * (uint64_t)w->delay_max_us + w->persist_max_us + w->tick_us;
    return 20 * (uint64_t)w->opt.election_ticks_max * w->tick_us + 1000000 +
           s->backlog * round;
}

/* At the end of a seed: every committed entry is durable, with its term, on
 * a majority of the voters of the final configuration. */
static void final_durability(struct sim *s)
{
    int l = find_leader(s);
    if (l < 0)
        return;
    struct raft_status st;
    raft_status(s->node[l].r, &st);
    for (raft_index_t idx = 1; idx <= s->glog_max && !s->violated; idx++) {
        const struct sim_gent *g = check_gent(s, idx);
        if (g == NULL)
            continue;
        uint32_t voters = 0, holders = 0;
        for (uint32_t k = 0; k < st.config.n; k++) {
            raft_id_t id = st.config.servers[k].id;
            if (st.config.servers[k].role != RAFT_VOTER)
                continue;
            voters++;
            holders += id >= 1 && id <= s->nn && d_has(&s->node[id - 1], idx, g->term);
        }
        if (holders * 2 <= voters)
            sim_violation(s, "committed entry %" PRIu64 " (term %" PRIu64 ") is durable on only %u of "
                             "the %u voters at the end of the seed",
                          idx, g->term, holders, voters);
    }
}

/* Every member of the current leader's configuration applied a probe (or
 * installed a snapshot past one). */
static bool converged(struct sim *s)
{
    int l = find_leader(s);
    if (l < 0)
        return false;
    struct raft_status st;
    raft_status(s->node[l].r, &st);
    for (uint32_t k = 0; k < st.config.n; k++) {
        raft_id_t id = st.config.servers[k].id;
        if (id < 1 || id > s->nn)
            continue;
        struct sim_node *n = &s->node[id - 1];
        if (!n->probe_seen) {
            /* a snapshot that covers a probe counts */
            for (uint32_t j = n->sm_n; j > 0 && !n->probe_seen; j--)
                if (n->sm[j - 1].id >= s->probe_id)
                    n->probe_seen = true;
                else
                    break;
        }
        if (!n->probe_seen)
            return false;
    }
    return true;
}

void sim_run_seed(struct sim *s, uint64_t steps)
{
    while (s->events < steps && !s->violated)
        if (!sim_step(s))
            break;
    if (s->violated)
        return;
    /* Liveness: faults stop, every server restarts, links heal. */
    s->faults = false;
    liveness_network(s);
    sim_tr(s, TR_PHASE, 0, 0, 1, 0, 0, 0);
    memset(s->cut, 0, sizeof s->cut);
    for (uint32_t i = 0; i < s->nn && !s->violated; i++)
        if (s->node[i].r == NULL)
            restart(s, i);
    s->probe_id = s->next_payload + 1;
    s->probe_applied = false;
    /* backlog: how far the shortest log trails the longest */
    raft_index_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < s->nn; i++) {
        struct raft_status st;
        if (s->node[i].r == NULL)
            continue;
        raft_status(s->node[i].r, &st);
        lo = st.last_index < lo ? st.last_index : lo;
        hi = st.last_index > hi ? st.last_index : hi;
    }
    s->backlog = hi >= lo ? hi - lo : 0;
    s->liveness_bound_us = sim_liveness_bound_us(s);
    uint64_t start = s->now, deadline = start + s->liveness_bound_us;
    while (!s->violated && !s->probe_applied) {
        if (s->heap_n == 0 || s->heap[0].t > deadline) {
            sim_violation(s, "liveness: no proposal committed within %" PRIu64
                             " ms of the faults stopping",
                          (deadline - start) / 1000);
            return;
        }
        sim_step(s);
    }
    s->liveness_us = s->now - start;
    /* ... and then every server in the leader's configuration applies it. */
    while (!s->violated && !converged(s)) {
        if (s->heap_n == 0 || s->heap[0].t > deadline) {
            sim_violation(s, "liveness: a proposal committed %" PRIu64 " ms after the faults "
                             "stopped, but not every server applied it within %" PRIu64 " ms",
                          s->liveness_us / 1000, (deadline - start) / 1000);
            return;
        }
        sim_step(s);
    }
    s->converged_us = s->now - start;
    final_durability(s);
}
