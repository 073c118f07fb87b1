/*
 * The simulator's safety checkers and its trace ring.
 *
 * Every check is incremental (O(1) per entry appended, committed or
 * applied), so that checking after every event stays cheap; the formulations
 * are in docs/testing.md, "Raft simulator". The first violation of a seed is
 * kept in s->why and ends the seed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

void sim_violation(struct sim *s, const char *fmt, ...)
{
    if (s->violated)
        return;
    s->violated = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    sim_tr(s, TR_ERROR, 0, 0, 0, 0, 0, 0);
}

/* ---- fingerprints ------------------------------------------------------------ */

/* DATA payloads start with a unique 8-byte id (the rest is derived from it
 * and verified on apply), so type, length and id identify one; CONFIG
 * payloads are short and hashed whole. */
uint64_t sim_fp(uint8_t type, uint32_t len, const void *data)
{
    uint64_t h = sim_mix64(((uint64_t)type << 56) ^ len);
    const uint8_t *p = data;
    if (type == RAFT_ENTRY_CONFIG) {
        for (uint32_t i = 0; i < len; i++)
            h = (h ^ p[i]) * 0x100000001b3ull;
        return sim_mix64(h);
    }
    if (len >= 8) {
        uint64_t id;
        memcpy(&id, p, 8);
        h = sim_mix64(h ^ id);
    }
    return h;
}

/* ---- trace ---------------------------------------------------------------------- */

void sim_tr(struct sim *s, uint8_t kind, uint32_t node, uint32_t peer, uint64_t a, uint64_t b,
            uint64_t c, uint64_t d)
{
    struct sim_trace *t = &s->trace[s->trace_n++ % SIM_TRACE_RING];
    t->t = s->now;
    t->kind = kind;
    t->node = (uint8_t)node;
    t->peer = (uint8_t)peer;
    t->mtype = 0;
    t->err = 0;
    t->a = a;
    t->b = b;
    t->c = c;
    t->d = d;
    t->e = 0;
    if (s->verbose)
        sim_trace_print_one(s, t, stdout);
}

void sim_tr_msg(struct sim *s, uint8_t kind, const struct raft_msg *m, int err)
{
    struct sim_trace *t = &s->trace[s->trace_n++ % SIM_TRACE_RING];
    t->t = s->now;
    t->kind = kind;
    t->node = (uint8_t)m->from;
    t->peer = (uint8_t)m->to;
    t->mtype = m->type;
    t->err = err;
    t->a = m->term;
    t->b = m->index;
    t->c = m->log_term;
    t->e = m->commit;
    t->d = m->type == RAFT_MSG_SNAPSHOT ? m->snapshot.last_index
                                        : ((uint64_t)m->n_entries | (uint64_t)m->reject << 32 |
                                           (uint64_t)m->transfer << 33);
    if (m->type == RAFT_MSG_APPEND_RESP && m->reject)
        t->c = m->hint_index;
    if (s->verbose)
        sim_trace_print_one(s, t, stdout);
}

const char *sim_msg_name(uint8_t type)
{
    switch (type) {
    case RAFT_MSG_APPEND: return "APPEND";
    case RAFT_MSG_APPEND_RESP: return "APPEND_RESP";
    case RAFT_MSG_VOTE: return "VOTE";
    case RAFT_MSG_VOTE_RESP: return "VOTE_RESP";
    case RAFT_MSG_PREVOTE: return "PREVOTE";
    case RAFT_MSG_PREVOTE_RESP: return "PREVOTE_RESP";
    case RAFT_MSG_SNAPSHOT: return "SNAPSHOT";
    case RAFT_MSG_TIMEOUT_NOW: return "TIMEOUT_NOW";
    default: return "?";
    }
}

static void print_msg(const struct sim_trace *t, FILE *f)
{
    bool reject = (t->d >> 32) & 1;
    bool transfer = (t->d >> 33) & 1;
    uint32_t n = (uint32_t)t->d;
    fprintf(f, "n%u -> n%u %s term %" PRIu64, t->node, t->peer, sim_msg_name(t->mtype), t->a);
    switch (t->mtype) {
    case RAFT_MSG_APPEND:
        fprintf(f, " prev %" PRIu64 "/%" PRIu64 " +%u commit %" PRIu64, t->b, t->c, n, t->e);
        break;
    case RAFT_MSG_APPEND_RESP:
        if (reject)
            fprintf(f, " REJECT %" PRIu64 " hint %" PRIu64, t->b, t->c);
        else
            fprintf(f, " match %" PRIu64, t->b);
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        fprintf(f, " last %" PRIu64 "/%" PRIu64 "%s", t->b, t->c, transfer ? " transfer" : "");
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        fprintf(f, reject ? " refused" : " granted");
        break;
    case RAFT_MSG_SNAPSHOT:
        fprintf(f, " last %" PRIu64, t->d);
        break;
    default:
        break;
    }
}

void sim_trace_print_one(const struct sim *s, const struct sim_trace *t, FILE *f)
{
    (void)s;
    fprintf(f, "  [t=%" PRIu64 ".%06" PRIu64 "s] ", t->t / 1000000, t->t % 1000000);
    switch (t->kind) {
    case TR_SEND:
        print_msg(t, f);
        fprintf(f, " (sent)");
        break;
    case TR_DELIVER:
        print_msg(t, f);
        if (t->err != 0)
            fprintf(f, " -> %s", raft_strerror(t->err));
        break;
    case TR_DROP:
        print_msg(t, f);
        fprintf(f, " DROPPED (%s)",
                t->err == 1 ? "lost" : t->err == 2 ? "partition" : t->err == 3 ? "down" : "full");
        break;
    case TR_ROLE:
        fprintf(f, "n%u -> %s term %" PRIu64, t->node, raft_role_name((int)t->a), t->b);
        if (t->c != 0)
            fprintf(f, " (leader n%" PRIu64 ", commit %" PRIu64 ")", t->c, t->d);
        else
            fprintf(f, " (no leader known, commit %" PRIu64 ")", t->d);
        break;
    case TR_CRASH:
        fprintf(f, "crash n%u (%" PRIu64 " pending batches lost", t->node, t->a);
        if (t->b != 0)
            fprintf(f, ", but their first %" PRIu64 " writes landed", t->b);
        fputc(')', f);
        break;
    case TR_RESTART:
        fprintf(f, "restart n%u: term %" PRIu64 " vote n%" PRIu64 " snapshot %" PRIu64
                   " + %" PRIu64 " entries",
                t->node, t->a, t->b, t->c, t->d);
        break;
    case TR_PARTITION: {
        fprintf(f, "partition {");
        bool first = true;
        for (uint32_t i = 0; i < 64; i++)
            if ((t->a >> i) & 1) {
                fprintf(f, first ? "%u" : ",%u", i + 1);
                first = false;
            }
        fprintf(f, "}|{");
        first = true;
        for (uint32_t i = 0; i < 64; i++)
            if ((t->b >> i) & 1) {
                fprintf(f, first ? "%u" : ",%u", i + 1);
                first = false;
            }
        fprintf(f, "}");
        break;
    }
    case TR_CUT:
        fprintf(f, "cut n%u -> n%u (one way)", t->node, t->peer);
        break;
    case TR_HEAL:
        fprintf(f, "heal all links");
        break;
    case TR_PROPOSE:
        fprintf(f, "propose at n%u: payload #%" PRIu64 " (%" PRIu64 " bytes) -> ", t->node,
                t->a, t->b);
        if (t->c != 0)
            fprintf(f, "%s", raft_strerror((int)(int64_t)t->c));
        else
            fprintf(f, "index %" PRIu64, t->d);
        break;
    case TR_PERSIST:
        fprintf(f, "n%u durable: last %" PRIu64 "/%" PRIu64 " hard state term %" PRIu64
                   " vote n%" PRIu64,
                t->node, t->a, t->b, t->c, t->d);
        break;
    case TR_COMMIT:
        fprintf(f, "n%u commit %" PRIu64 " -> %" PRIu64 " (term %" PRIu64 ")", t->node, t->a,
                t->b, t->c);
        break;
    case TR_APPLY:
        fprintf(f, "n%u applies %" PRIu64 "..%" PRIu64, t->node, t->a, t->b);
        break;
    case TR_TRANSFER:
        fprintf(f, "transfer leadership n%u -> n%u: %s", t->node, t->peer,
                t->a ? raft_strerror((int)(int64_t)t->a) : "ok");
        break;
    case TR_MEMBER:
        fprintf(f, "membership at n%u: %s n%u: %s", t->node,
                t->b == RAFT_ADD_LEARNER ? "add learner"
                : t->b == RAFT_PROMOTE   ? "promote"
                                         : "remove",
                t->peer, t->a ? raft_strerror((int)(int64_t)t->a) : "ok");
        break;
    case TR_COMPACT:
        fprintf(f, "n%u compacts through %" PRIu64 ": %s", t->node, t->b,
                t->a ? raft_strerror((int)(int64_t)t->a) : "ok");
        break;
    case TR_INSTALL:
        fprintf(f, "n%u installs snapshot %" PRIu64 "/%" PRIu64, t->node, t->a, t->b);
        break;
    case TR_PHASE:
        fprintf(f, "---- %s ----", t->a == 1 ? "liveness phase: faults stop, all restart, links heal"
                                             : "phase");
        break;
    case TR_ERROR:
        fprintf(f, "VIOLATION detected here");
        break;
    default:
        fprintf(f, "?");
        break;
    }
    fputc('\n', f);
}

void sim_trace_print(const struct sim *s, FILE *f)
{
    uint64_t first = s->trace_n > SIM_TRACE_RING ? s->trace_n - SIM_TRACE_RING : 0;
    fprintf(f, "last %" PRIu64 " trace records:\n", s->trace_n - first);
    for (uint64_t i = first; i < s->trace_n; i++)
        sim_trace_print_one(s, &s->trace[i % SIM_TRACE_RING], f);
}

/* ---- state ------------------------------------------------------------------------ */

void check_init(struct sim *s)
{
    s->glog_cap = 1024;
    s->glog = calloc(s->glog_cap, sizeof *s->glog);
    s->glog_max = 0;
    s->lm_cap = 4096;
    s->lm = calloc(s->lm_cap, sizeof *s->lm);
    s->lm_n = 0;
    s->leader_cap = 256;
    s->leader_of = calloc(s->leader_cap, sizeof *s->leader_of);
    if (s->glog == NULL || s->lm == NULL || s->leader_of == NULL) {
        fprintf(stderr, "raftmq-sim: out of memory\n");
        exit(2);
    }
}

void check_free(struct sim *s)
{
    free(s->glog);
    free(s->lm);
    free(s->leader_of);
    s->glog = NULL;
    s->lm = NULL;
    s->leader_of = NULL;
}

static void *grow(void *p, uint64_t *cap, uint64_t need, size_t elem)
{
    uint64_t old = *cap, n = old;
    while (n <= need)
        n *= 2;
    void *q = realloc(p, n * elem);
    if (q == NULL) {
        fprintf(stderr, "raftmq-sim: out of memory\n");
        exit(2);
    }
    memset((char *)q + old * elem, 0, (n - old) * elem);
    *cap = n;
    return q;
}

/* ---- Log Matching: one table of every (index, term) ever appended ------------------- */

static uint64_t lm_hash(raft_index_t index, raft_term_t term)
{
    return sim_mix64(index * 0x9e3779b97f4a7c15ull ^ term);
}

static void lm_grow(struct sim *s)
{
    uint64_t cap = s->lm_cap * 2;
    struct sim_lment *t = calloc(cap, sizeof *t);
    if (t == NULL) {
        fprintf(stderr, "raftmq-sim: out of memory\n");
        exit(2);
    }
    for (uint64_t i = 0; i < s->lm_cap; i++) {
        if (s->lm[i].index == 0)
            continue;
        uint64_t h = lm_hash(s->lm[i].index, s->lm[i].term) & (cap - 1);
        while (t[h].index != 0)
            h = (h + 1) & (cap - 1);
        t[h] = s->lm[i];
    }
    free(s->lm);
    s->lm = t;
    s->lm_cap = cap;
}

void check_append(struct sim *s, uint32_t node, raft_index_t index, raft_term_t term,
                  raft_term_t prev_term, uint64_t fp)
{
    if (index == 0 || term == 0) {
        sim_violation(s, "n%u appended an entry with index %" PRIu64 " term %" PRIu64, node + 1,
                      index, term);
        return;
    }
    if (prev_term != UINT64_MAX && prev_term > term) {
        sim_violation(s, "n%u log terms decrease: entry %" PRIu64 " has term %" PRIu64
                         " after term %" PRIu64,
                      node + 1, index, term, prev_term);
        return;
    }
    if (s->lm_n * 2 >= s->lm_cap)
        lm_grow(s);
    uint64_t mask = s->lm_cap - 1, h = lm_hash(index, term) & mask;
    while (s->lm[h].index != 0) {
        struct sim_lment *e = &s->lm[h];
        if (e->index == index && e->term == term) {
            if (e->fp != fp)
                sim_violation(s, "log matching: n%u has a different entry at index %" PRIu64
                                 " term %" PRIu64 " than another log had",
                              node + 1, index, term);
            else if (prev_term != UINT64_MAX && e->prev_term != UINT64_MAX &&
                     e->prev_term != prev_term)
                sim_violation(s, "log matching: n%u has entry %" PRIu64 "/%" PRIu64
                                 " after term %" PRIu64 ", another log after term %" PRIu64,
                              node + 1, index, term, prev_term, e->prev_term);
            else if (e->prev_term == UINT64_MAX)
                e->prev_term = prev_term;
            return;
        }
        h = (h + 1) & mask;
    }
    s->lm[h] = (struct sim_lment){index, term, prev_term, fp};
    s->lm_n++;
}

void check_known(struct sim *s, uint32_t node, raft_index_t index, raft_term_t term,
                 raft_term_t prev_term, uint64_t fp, const char *where)
{
    uint64_t mask = s->lm_cap - 1, h = lm_hash(index, term) & mask;
    while (s->lm[h].index != 0) {
        const struct sim_lment *e = &s->lm[h];
        if (e->index == index && e->term == term) {
            if (e->fp != fp)
                sim_violation(s, "log matching: n%u's %s holds a different entry at %" PRIu64
                                 "/%" PRIu64 " than was appended",
                              node + 1, where, index, term);
            else if (prev_term != UINT64_MAX && e->prev_term != UINT64_MAX &&
                     e->prev_term != prev_term)
                sim_violation(s, "log matching: n%u's %s has %" PRIu64 "/%" PRIu64
                                 " after term %" PRIu64 ", but it was appended after term %" PRIu64,
                              node + 1, where, index, term, prev_term, e->prev_term);
            return;
        }
        h = (h + 1) & mask;
    }
    sim_violation(s, "n%u's %s holds entry %" PRIu64 "/%" PRIu64
                     " that no update ever asked to append",
                  node + 1, where, index, term);
}

/* ---- State Machine Safety: the one committed log ------------------------------------- */

const struct sim_gent *check_gent(const struct sim *s, raft_index_t index)
{
    if (index == 0 || index > s->glog_max)
        return NULL;
    return s->glog[index].term != 0 ? &s->glog[index] : NULL;
}

void check_committed(struct sim *s, uint32_t node, raft_index_t index, raft_term_t term,
                     uint8_t type, uint64_t fp, raft_term_t obs_term)
{
    if (index == 0 || index >= SIM_INDEX_MAX) {
        sim_violation(s, "simulator limit: committed index %" PRIu64, index);
        return;
    }
    if (index >= s->glog_cap)
        s->glog = grow(s->glog, &s->glog_cap, index, sizeof *s->glog);
    struct sim_gent *g = &s->glog[index];
    if (g->term == 0) {
        g->term = term;
        g->fp = fp;
        g->type = type;
        g->cterm = obs_term;
        if (index > s->glog_max)
            s->glog_max = index;
        return;
    }
    if (g->term != term || g->fp != fp) {
        sim_violation(s, "state machine safety: n%u has committed index %" PRIu64 " = term %" PRIu64
                         " (%s payload), but it was committed as term %" PRIu64,
                      node + 1, index, term, g->fp == fp ? "same" : "different", g->term);
        return;
    }
    if (obs_term < g->cterm)
        g->cterm = obs_term;
}

/* ---- Election Safety ------------------------------------------------------------------- */

void check_leader(struct sim *s, uint32_t node, raft_term_t term)
{
    if (term >= SIM_TERM_MAX) {
        sim_violation(s, "simulator limit: term %" PRIu64, term);
        return;
    }
    if (term >= s->leader_cap)
        s->leader_of = grow(s->leader_of, &s->leader_cap, term, sizeof *s->leader_of);
    raft_id_t id = s->node[node].id;
    if (s->leader_of[term] == 0)
        s->leader_of[term] = id;
    else if (s->leader_of[term] != id)
        sim_violation(s, "election safety: two leaders in term %" PRIu64 ": n%" PRIu64
                         " and n%" PRIu64,
                      term, s->leader_of[term], id);
}
