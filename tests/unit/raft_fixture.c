/* An in-process Raft cluster for unit tests; see raft_fixture.h. */
#include "raft_fixture.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *msg_name(uint8_t type)
{
    static const char *names[] = {"?", "APPEND", "APPEND_RESP", "VOTE", "VOTE_RESP",
                                  "PREVOTE", "PREVOTE_RESP", "SNAPSHOT", "TIMEOUT_NOW"};
    return type <= RAFT_MSG_TIMEOUT_NOW ? names[type] : "?";
}

static void trace(struct fx *f, const char *fmt, ...)
{
    if (!f->trace_on || f->trace_len >= FX_TRACE_BYTES - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->trace + f->trace_len, FX_TRACE_BYTES - f->trace_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        f->trace_len += (size_t)n < FX_TRACE_BYTES - f->trace_len ? (size_t)n
                                                                   : FX_TRACE_BYTES - f->trace_len - 1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert(p != NULL);
    return p;
}

static void copy_entry(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    if (src->len > 0) {
        void *data = xmalloc(src->len);
        memcpy(data, src->data, src->len);
        dst->data = data;
    } else {
        dst->data = NULL;
    }
}

static void free_entries(struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)e[i].data);
    free(e);
}

static void disk_truncate(struct fx_disk *d, raft_index_t from)
{
    while (d->n_entries > 0 && d->entries[d->n_entries - 1].index >= from) {
        d->n_entries--;
        free((void *)d->entries[d->n_entries].data);
    }
}

static void disk_append(struct fx_disk *d, const struct raft_entry *e)
{
    if (d->n_entries == d->cap_entries) {
        d->cap_entries = d->cap_entries ? d->cap_entries * 2 : 16;
        d->entries = realloc(d->entries, d->cap_entries * sizeof(*d->entries));
        assert(d->entries != NULL);
    }
    assert(e->index == d->snapshot.last_index + d->n_entries + 1);
    copy_entry(&d->entries[d->n_entries++], e);
}

static void start(struct fx *f, int id)
{
    struct fx_disk *d = &f->disk[id];
    struct raft_restore rs = {.hard_state = d->hs, .snapshot = d->snapshot,
                              .entries = d->entries, .n_entries = (uint32_t)d->n_entries};
    int rc = raft_create(&f->r[id], &f->opts[id], &rs);
    assert(rc == 0);
    f->applied_last[id] = d->snapshot.last_index;
}

void fx_init(struct fx *f, int n, bool pre_vote, bool check_quorum)
{
    assert(n >= 1 && n <= FX_SERVERS_MAX);
    memset(f, 0, sizeof(*f));
    f->n = n;
    struct raft_config config = {.n = (uint32_t)n};
    for (int i = 0; i < n; i++)
        config.servers[i].id = (raft_id_t)(i + 1);
    for (int id = 1; id <= n; id++) {
        struct raft_options *o = &f->opts[id];
        raft_options_default(o, (raft_id_t)id, 42);
        o->election_ticks_min = 10;
        o->election_ticks_max = 20;
        o->heartbeat_ticks = 2;
        o->pre_vote = pre_vote;
        o->check_quorum = check_quorum;
        f->disk[id].snapshot.config = config;
        start(f, id);
    }
}

void fx_set_log(struct fx *f, int id, const raft_term_t *terms, int n_terms, raft_term_t term)
{
    raft_destroy(f->r[id]);
    struct fx_disk *d = &f->disk[id];
    disk_truncate(d, 1);
    for (int i = 0; i < n_terms; i++) {
        uint64_t payload = (uint64_t)(i + 1) * 1000 + terms[i];
        struct raft_entry e = {.term = terms[i], .index = (raft_index_t)(i + 1),
                               .type = RAFT_ENTRY_DATA, .len = sizeof(payload), .data = &payload};
        disk_append(d, &e);
    }
    d->hs.term = term;
    d->hs.vote = 0;
    d->hs.commit = 0;
    start(f, id);
}

void fx_free(struct fx *f)
{
    for (int id = 1; id <= f->n; id++) {
        raft_destroy(f->r[id]);
        free_entries(f->disk[id].entries, f->disk[id].n_entries);
    }
    for (size_t i = 0; i < f->n_queue; i++)
        free_entries(f->queue[i].entries, f->queue[i].m.n_entries);
    memset(f, 0, sizeof(*f));
}

static void enqueue(struct fx *f, const struct raft_msg *m)
{
    assert(m->to >= 1 && (int)m->to <= f->n);
    if (f->cut[m->from][m->to] || f->n_queue == FX_QUEUE_MAX)
        return;
    struct fx_msg *q = &f->queue[f->n_queue++];
    q->m = *m;
    q->entries = NULL;
    if (m->n_entries > 0) {
        q->entries = xmalloc(m->n_entries * sizeof(*q->entries));
        for (uint32_t i = 0; i < m->n_entries; i++)
            copy_entry(&q->entries[i], &m->entries[i]);
    }
    q->m.entries = q->entries;
}

void fx_process(struct fx *f, int id)
{
    struct fx_disk *d = &f->disk[id];
    for (int rounds = 0; rounds < 100 && raft_has_update(f->r[id]); rounds++) {
        struct raft_update u;
        raft_update_get(f->r[id], &u);
        if (u.snapshot != NULL) {
            disk_truncate(d, 0);
            d->snapshot = *u.snapshot;
            f->applied_last[id] = u.snapshot->last_index;
            f->snapshots_installed[id]++;
        }
        if (u.truncate_from != 0)
            disk_truncate(d, u.truncate_from);
        for (uint32_t i = 0; i < u.n_entries; i++)
            disk_append(d, &u.entries[i]);
        if (u.hard_state_changed)
            d->hs = u.hard_state;
        d->hs.commit = u.hard_state.commit;
        for (uint32_t i = 0; i < u.n_msgs; i++)
            enqueue(f, &u.msgs[i]);
        for (uint32_t i = 0; i < u.n_msgs_after_persist; i++)
            enqueue(f, &u.msgs_after_persist[i]);
        if (u.committed_first != 0) {
            assert(u.committed_first == f->applied_last[id] + 1);
            f->applied_last[id] = u.committed_last;
        }
        if (!f->manual_persist[id]) {
            raft_index_t last = d->snapshot.last_index + d->n_entries;
            raft_term_t term = d->n_entries ? d->entries[d->n_entries - 1].term : d->snapshot.last_term;
            if (last > 0)
                raft_persisted(f->r[id], last, term);
        }
    }
}

void fx_process_all(struct fx *f)
{
    for (int id = 1; id <= f->n; id++)
        fx_process(f, id);
}

void fx_tick(struct fx *f, int id, int ticks)
{
    for (int i = 0; i < ticks; i++) {
        raft_tick(f->r[id]);
        fx_process(f, id);
    }
}

bool fx_deliver_one(struct fx *f)
{
    fx_process_all(f);
    if (f->n_queue == 0)
        return false;
    struct fx_msg q = f->queue[0];
    memmove(&f->queue[0], &f->queue[1], (f->n_queue - 1) * sizeof(f->queue[0]));
    f->n_queue--;
    const struct raft_msg *m = &q.m;
    if (!f->cut[m->from][m->to]) {
        trace(f, "%d>%d %s t%llu i%llu%s\n", (int)m->from, (int)m->to, msg_name(m->type),
              (unsigned long long)m->term, (unsigned long long)m->index,
              m->reject ? " reject" : (m->n_entries ? " +entries" : ""));
        int rc = raft_step(f->r[m->to], m);
        assert(rc == 0);
        f->delivered++;
        fx_process(f, (int)m->to);
    }
    free_entries(q.entries, m->n_entries);
    return true;
}

size_t fx_deliver_all(struct fx *f)
{
    size_t n = 0;
    while (n < 100000 && fx_deliver_one(f))
        n++;
    return n;
}

bool fx_elect(struct fx *f, int id)
{
    for (int i = 0; i < 200; i++) {
        fx_tick(f, id, 1);
        fx_deliver_all(f);
        if (fx_role(f, id) == RAFT_LEADER)
            return true;
    }
    return false;
}

void fx_isolate(struct fx *f, int id, bool isolated)
{
    for (int other = 1; other <= f->n; other++) {
        f->cut[id][other] = isolated && other != id;
        f->cut[other][id] = isolated && other != id;
    }
}

void fx_crash_restart(struct fx *f, int id)
{
    /* The fixture persists synchronously, so nothing is lost but volatile state. */
    raft_destroy(f->r[id]);
    start(f, id);
}

void fx_drop_queue(struct fx *f)
{
    for (size_t i = 0; i < f->n_queue; i++)
        free_entries(f->queue[i].entries, f->queue[i].m.n_entries);
    f->n_queue = 0;
}

struct raft_status fx_status(struct fx *f, int id)
{
    struct raft_status s;
    raft_status(f->r[id], &s);
    return s;
}

int fx_role(struct fx *f, int id)
{
    return fx_status(f, id).role;
}

int fx_leader(struct fx *f)
{
    int leader = 0;
    raft_term_t best = 0;
    for (int id = 1; id <= f->n; id++) {
        struct raft_status s = fx_status(f, id);
        if (s.role == RAFT_LEADER && s.term >= best) {
            leader = id;
            best = s.term;
        }
    }
    return leader;
}

const char *fx_log_terms(struct fx *f, int id, char *buf, size_t cap)
{
    struct raft_status s = fx_status(f, id);
    size_t len = 0;
    buf[0] = '\0';
    for (raft_index_t i = s.first_index; i <= s.last_index && len + 24 < cap; i++) {
        const struct raft_entry *e = raft_entry_get(f->r[id], i);
        len += (size_t)snprintf(buf + len, cap - len, "%s%llu", len ? " " : "",
                                (unsigned long long)e->term);
    }
    return buf;
}
