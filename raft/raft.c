/* The Raft core's entry points: lifecycle, inputs, the update hand-off. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "invariant.h"

/* ---- small helpers --------------------------------------------------------- */

const char *raft_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
#define RAFT_ERROR_TEXT(name, value, text) \
    case name:                             \
        return text;
        RAFT_ERRORS(RAFT_ERROR_TEXT)
#undef RAFT_ERROR_TEXT
    }
    return "unknown error";
}

const char *raft_role_name(int role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "unknown";
}

/* splitmix64: small, fast, and good enough for election jitter. */
static uint64_t next_random(struct raft *r)
{
    uint64_t z = (r->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* §5.2: each server draws its timeout anew from [min, max) to split votes
 * rarely; §9.3 measures the effect of the range. */
void raft_reset_election_timer(struct raft *r)
{
    uint32_t span = r->o.election_ticks_max - r->o.election_ticks_min;
    r->election_elapsed = 0;
    r->randomized_timeout = r->o.election_ticks_min + (uint32_t)(next_random(r) % span);
    RAFT_ASSERT(r->randomized_timeout >= r->o.election_ticks_min);
    RAFT_ASSERT(r->randomized_timeout < r->o.election_ticks_max);
}

bool raft_is_voter(const struct raft *r, raft_id_t id)
{
    const struct raft_server *s = raft_config_find(&r->config, id);
    return s != NULL && s->role == RAFT_VOTER;
}

uint32_t raft_quorum(const struct raft *r)
{
    return raft_config_voters(&r->config) / 2 + 1;
}

struct raft_progress *raft_progress_find(struct raft *r, raft_id_t id)
{
    for (uint32_t i = 0; i < r->n_progress; i++)
        if (r->progress[i].id == id)
            return &r->progress[i];
    return NULL;
}

/* ---- options, lifecycle ------------------------------------------------------ */

void raft_options_default(struct raft_options *o, raft_id_t id, uint64_t seed)
{
    memset(o, 0, sizeof(*o));
    o->id = id;
    o->seed = seed;
    o->election_ticks_min = 150;
    o->election_ticks_max = 300;
    o->heartbeat_ticks = 30;
    o->pre_vote = true;
    o->check_quorum = true;
    o->max_msg_bytes = 1024 * 1024;
    o->max_msg_entries = 4096;
    o->max_inflight = 64;
    o->max_uncommitted_bytes = 64ull * 1024 * 1024;
    o->max_entry_bytes = RAFT_ENTRY_BYTES_MAX;
    o->snapshot_timeout_ticks = 30000;
}

/* Configuration entries are the core's own and may exceed a small
 * max_entry_bytes meant for client payloads. */
static uint32_t entry_limit(const struct raft_options *o, uint8_t type)
{
    return type == RAFT_ENTRY_CONFIG ? RAFT_CONFIG_ENCODED_MAX : o->max_entry_bytes;
}

static int validate_options(const struct raft_options *o)
{
    if (o->id == 0 || o->election_ticks_min < 2 || o->election_ticks_max <= o->election_ticks_min)
        return RAFT_EINVAL;
    if (o->heartbeat_ticks == 0 || o->heartbeat_ticks >= o->election_ticks_min)
        return RAFT_EINVAL;
    if (o->max_msg_bytes == 0 || o->max_msg_entries == 0 || o->max_inflight == 0)
        return RAFT_EINVAL;
    if (o->max_entry_bytes == 0 || o->max_entry_bytes > RAFT_ENTRY_BYTES_MAX)
        return RAFT_EINVAL;
    if (o->max_uncommitted_bytes < o->max_entry_bytes || o->snapshot_timeout_ticks == 0)
        return RAFT_EINVAL;
    return 0;
}

/* The configuration in effect at `index`: the last CONFIG entry at or
 * before it, else the snapshot's (diss. §4.1: a server uses the latest
 * configuration in its log, committed or not). *from gets the entry's
 * index (the snapshot index for the snapshot's). */
static void config_at(const struct raft *r, raft_index_t index, struct raft_config *out,
                      raft_index_t *from)
{
    for (raft_index_t i = index; i > r->log.snapshot_index; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (e->type != RAFT_ENTRY_CONFIG)
            continue;
        int rc = raft_config_decode(e->data, e->len, out);
        RAFT_ASSERT(rc == 0 && "CONFIG entries are validated before they enter the log");
        *from = i;
        return;
    }
    *out = r->snapshot_config;
    *from = r->log.snapshot_index;
}

/* After the log was restored or cut. */
void raft_recompute_config(struct raft *r)
{
    config_at(r, raft_log_last(&r->log), &r->config, &r->config_index);
}

int raft_create(struct raft **out, const struct raft_options *o, const struct raft_restore *restore)
{
    int rc = validate_options(o);
    if (rc != 0)
        return rc;
    const struct raft_snapshot_meta *snap = &restore->snapshot;
    raft_term_t last_term = snap->last_term;
    for (uint32_t i = 0; i < restore->n_entries; i++) {
        const struct raft_entry *e = &restore->entries[i];
        struct raft_config ignored;
        if (e->index != snap->last_index + 1 + i || e->term < last_term ||
            e->len > entry_limit(o, e->type))
            return RAFT_EINVAL;
        if (e->type > RAFT_ENTRY_CONFIG)
            return RAFT_EINVAL;
        if (e->type == RAFT_ENTRY_CONFIG && raft_config_decode(e->data, e->len, &ignored) != 0)
            return RAFT_EINVAL;
        last_term = e->term;
    }
    if (snap->config.n > RAFT_SERVERS_MAX)
        return RAFT_EINVAL;

    struct raft *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return RAFT_ENOMEM;
    r->o = *o;
    if (r->o.max_inflight > RAFT_INFLIGHT_MAX)
        r->o.max_inflight = RAFT_INFLIGHT_MAX;
    r->rng = o->seed ^ (o->id * 0xD6E8FEB86659FD93ull);
    raft_log_init(&r->log, snap->last_index, snap->last_term);
    for (uint32_t i = 0; i < restore->n_entries; i++) {
        const struct raft_entry *e = &restore->entries[i];
        if (raft_log_append(&r->log, e->term, e->type, e->data, e->len) != 0) {
            raft_destroy(r);
            return RAFT_ENOMEM;
        }
    }
    r->snapshot_config = snap->config;
    raft_recompute_config(r);
    r->term = restore->hard_state.term;
    r->vote = restore->hard_state.vote;
    if (r->term < last_term) {
        /* A crash landed an update's entries but not its hard state (the
         * contract allows it). Those entries came from a leader of
         * last_term, so this server had entered that term; any vote it cast
         * in it was never sent, since votes leave only after the whole
         * update is durable. Entering the term with no vote is safe. */
        r->term = last_term;
        r->vote = 0;
        r->hard_state_dirty = true;
    }
    raft_index_t last = raft_log_last(&r->log);
    r->commit = restore->hard_state.commit;
    if (r->commit > last)
        r->commit = last;
    if (r->commit < snap->last_index)
        r->commit = snap->last_index;
    r->applied = snap->last_index;
    r->persisted = last;
    r->unstable_from = last + 1;
    r->role = RAFT_FOLLOWER;
    raft_reset_election_timer(r);
    *out = r;
    return 0;
}

static void outbox_free(struct raft_outbox *b)
{
    free(b->msgs);
    free(b->entries);
}

void raft_destroy(struct raft *r)
{
    if (r == NULL)
        return;
    raft_log_free(&r->log);
    outbox_free(&r->now);
    outbox_free(&r->after_persist);
    free(r->scratch);
    free(r);
}

/* ---- sending ------------------------------------------------------------------ */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t cap2 = *cap ? *cap : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (q == NULL)
        return false;
    *p = q;
    *cap = cap2;
    return true;
}

/* Messages that promise durable state (votes, vote requests, append
 * acknowledgements) wait for the persist; the rest may go at once. */
static bool needs_persist(uint8_t type)
{
    return type == RAFT_MSG_VOTE || type == RAFT_MSG_VOTE_RESP || type == RAFT_MSG_APPEND_RESP;
}

/* Queues a message. When the outbox is full the message is dropped and
 * counted: Raft already tolerates loss, and memory stays bounded. */
void raft_send(struct raft *r, const struct raft_msg *m, raft_index_t first_entry,
               uint32_t n_entries)
{
    RAFT_ASSERT(m->to != 0 && m->to != r->o.id);
    RAFT_ASSERT(m->from == r->o.id);
    struct raft_outbox *b = needs_persist(m->type) ? &r->after_persist : &r->now;
    if (b->n >= RAFT_OUTBOX_MAX) {
        r->msgs_dropped++;
        return;
    }
    if (!grow((void **)&b->msgs, &b->cap, b->n + 1, sizeof(*b->msgs)) ||
        !grow((void **)&b->entries, &b->cap_entries, b->n_entries + n_entries,
              sizeof(*b->entries))) {
        r->msgs_dropped++;
        return;
    }
    b->msgs[b->n] = *m;
    b->msgs[b->n].n_entries = n_entries;
    b->msgs[b->n].entries = NULL;
    /* Entries are consecutive in the log but the log is a ring: copy the
     * (small) entry headers; payloads stay where they are. */
    for (uint32_t i = 0; i < n_entries; i++) {
        const struct raft_entry *e = raft_log_get(&r->log, first_entry + i);
        RAFT_ASSERT(e != NULL);
        b->entries[b->n_entries++] = *e;
    }
    b->n++;
}

/* ---- roles -------------------------------------------------------------------- */

void raft_become_follower(struct raft *r, raft_term_t term, raft_id_t leader)
{
    RAFT_ASSERT(term >= r->term);
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
        r->hard_state_dirty = true;
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->n_progress = 0;
    r->transfer_to = 0;
    r->uncommitted_bytes = 0;
    r->n_votes = 0;
    raft_reset_election_timer(r);
}

/* ---- the log, seen from the core ---------------------------------------------- */

/* Appends one entry (a leader's own, or one received from the leader). */
int raft_append_entry(struct raft *r, raft_term_t term, uint8_t type, const void *data, uint32_t len)
{
    int rc = raft_log_append(&r->log, term, type, data, len);
    if (rc != 0)
        return rc;
    if (type == RAFT_ENTRY_CONFIG) {
        /* diss. §4.1: a server uses the latest configuration in its log,
         * committed or not. */
        int decoded = raft_config_decode(data, len, &r->config);
        RAFT_ASSERT(decoded == 0);
        r->config_index = raft_log_last(&r->log);
    }
    return 0;
}

/* Cuts entries >= from (a conflict with the leader's log, §5.3). */
void raft_truncate_suffix(struct raft *r, raft_index_t from)
{
    RAFT_ASSERT(from > r->commit && "committed entries are never truncated (§5.4)");
    RAFT_ASSERT(from > r->log.snapshot_index);
    RAFT_ASSERT(from <= raft_log_last(&r->log));
    raft_log_truncate(&r->log, from);
    if (from < r->unstable_from) {
        /* The host already has (or is writing) entries from `from` on. */
        if (r->truncate_from == 0 || from < r->truncate_from)
            r->truncate_from = from;
        r->unstable_from = from;
    }
    if (r->persisted >= from)
        r->persisted = from - 1;
    if (r->config_index >= from)
        raft_recompute_config(r);
}

/* ---- inputs ----------------------------------------------------------------------- */

void raft_tick(struct raft *r)
{
    if (r->role == RAFT_LEADER) {
        r->heartbeat_elapsed++;
        r->election_elapsed++;
        if (r->transfer_to != 0 && ++r->transfer_elapsed >= r->o.election_ticks_min)
            r->transfer_to = 0; /* diss. §3.10: abort a transfer that does not finish */
        raft_leader_tick_snapshots(r);
        if (r->election_elapsed >= r->o.election_ticks_min) {
            r->election_elapsed = 0;
            if (r->o.check_quorum) {
                /* diss. §6.2: a leader that has not heard from a majority in
                 * an election timeout steps down, so clients go elsewhere. */
                uint32_t active = raft_is_voter(r, r->o.id) ? 1 : 0;
                for (uint32_t i = 0; i < r->n_progress; i++) {
                    if (r->progress[i].recent_active && raft_is_voter(r, r->progress[i].id))
                        active++;
                    r->progress[i].recent_active = false;
                }
                if (active < raft_quorum(r)) {
                    raft_become_follower(r, r->term, 0);
                    return;
                }
            }
        }
        if (r->heartbeat_elapsed >= r->o.heartbeat_ticks) {
            r->heartbeat_elapsed = 0;
            raft_broadcast_heartbeat(r);
        }
        return;
    }
    r->election_elapsed++;
    if (r->election_elapsed >= r->randomized_timeout) {
        raft_reset_election_timer(r);
        if (raft_is_voter(r, r->o.id))
            raft_start_election(r, false);
    }
}

/* Checks a message from the network before it touches any state. */
static int validate_msg(const struct raft *r, const struct raft_msg *m)
{
    if (m->from == 0 || m->from == r->o.id || m->to != r->o.id)
        return RAFT_EMALFORMED;
    if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TIMEOUT_NOW)
        return RAFT_EMALFORMED;
    if (m->type != RAFT_MSG_APPEND && m->n_entries != 0)
        return RAFT_EMALFORMED;
    if (m->type == RAFT_MSG_APPEND) {
        if (m->n_entries > 0 && m->entries == NULL)
            return RAFT_EMALFORMED;
        raft_term_t prev_term = m->log_term;
        if (prev_term > m->term || (m->index == 0 && prev_term != 0))
            return RAFT_EMALFORMED;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            struct raft_config ignored;
            if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term)
                return RAFT_EMALFORMED;
            if (e->type > RAFT_ENTRY_CONFIG || e->len > entry_limit(&r->o, e->type))
                return RAFT_EMALFORMED;
            if (e->len > 0 && e->data == NULL)
                return RAFT_EMALFORMED;
            if (e->type == RAFT_ENTRY_CONFIG && raft_config_decode(e->data, e->len, &ignored) != 0)
                return RAFT_EMALFORMED;
            prev_term = e->term;
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (m->snapshot.last_index == 0 || m->snapshot.last_term == 0 ||
            m->snapshot.last_term > m->term || m->snapshot.config.n > RAFT_SERVERS_MAX)
            return RAFT_EMALFORMED;
    }
    return 0;
}

static void reply_stale(struct raft *r, const struct raft_msg *m)
{
    /* A stale leader (or pre-candidate) learns our term and steps down;
     * with check-quorum and pre-vote this is what frees a partitioned old
     * leader, since nobody else will raise its term (etcd raft.go). */
    struct raft_msg reply = {.from = r->o.id, .to = m->from, .term = r->term};
    if (m->type == RAFT_MSG_APPEND) {
        reply.type = RAFT_MSG_APPEND_RESP;
        reply.reject = true;
        reply.index = m->index;
        raft_send(r, &reply, 0, 0);
    } else if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) {
        /* A candidate behind in terms learns ours; otherwise one whose
         * configuration reaches only servers of higher terms could keep
         * campaigning at terms nobody answers (found by the simulator). */
        reply.type = m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PREVOTE_RESP;
        reply.reject = true;
        raft_send(r, &reply, 0, 0);
    }
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    int rc = validate_msg(r, m);
    if (rc != 0)
        return rc;

    if (m->term > r->term) {
        bool is_vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
        if (is_vote && !m->transfer && raft_in_lease(r))
            return 0; /* diss. §4.2.3: a live leader is not disrupted */
        if (m->type == RAFT_MSG_PREVOTE || (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject)) {
            /* diss. §9.6: pre-votes never change terms. */
        } else {
            bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT ||
                               m->type == RAFT_MSG_TIMEOUT_NOW;
            raft_become_follower(r, m->term, from_leader ? m->from : 0);
        }
    } else if (m->term < r->term) {
        /* §5.1: a request with a stale term is rejected with ours. */
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE)
            reply_stale(r, m);
        return 0;
    }

    switch (m->type) {
    case RAFT_MSG_APPEND:
        return raft_step_append(r, m);
    case RAFT_MSG_SNAPSHOT:
        return raft_step_snapshot(r, m);
    case RAFT_MSG_APPEND_RESP:
        return raft_step_append_resp(r, m);
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        return raft_step_vote(r, m);
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        return raft_step_vote_resp(r, m);
    case RAFT_MSG_TIMEOUT_NOW:
        /* diss. §3.10: start an election at once, skipping pre-vote. */
        if (r->role != RAFT_LEADER && raft_is_voter(r, r->o.id))
            raft_start_election(r, true);
        return 0;
    }
    return RAFT_EMALFORMED;
}

int raft_propose(struct raft *r, const void *data, uint32_t len, raft_index_t *index)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (r->transfer_to != 0)
        return RAFT_ETRANSFER; /* diss. §3.10: stop accepting during transfer */
    if (len > r->o.max_entry_bytes)
        return RAFT_ETOOBIG;
    if (len > 0 && data == NULL)
        return RAFT_EINVAL;
    if (r->uncommitted_bytes + len > r->o.max_uncommitted_bytes)
        return RAFT_EBUSY;
    int rc = raft_append_entry(r, r->term, RAFT_ENTRY_DATA, data, len);
    if (rc != 0)
        return rc;
    r->uncommitted_bytes += len;
    if (index != NULL)
        *index = raft_log_last(&r->log);
    /* Sent when the host next takes an update, so that proposals made in
     * one loop turn travel in one APPEND per follower. */
    r->append_pending = true;
    return 0;
}

void raft_persisted(struct raft *r, raft_index_t index, raft_term_t term)
{
    raft_term_t actual;
    if (index <= r->persisted || index >= r->unstable_from)
        return; /* old news, or entries not even handed out yet */
    if (!raft_log_term(&r->log, index, &actual) || actual != term)
        return; /* the log was cut since: a later report covers it */
    r->persisted = index;
    if (r->role == RAFT_LEADER && raft_maybe_commit(r))
        raft_broadcast_append(r);
}

int raft_transfer_leadership(struct raft *r, raft_id_t to)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (to == r->o.id)
        return RAFT_EINVAL;
    if (!raft_is_voter(r, to))
        return RAFT_EUNKNOWN_SERVER;
    struct raft_progress *pr = raft_progress_find(r, to);
    RAFT_ASSERT(pr != NULL);
    r->transfer_to = to;
    r->transfer_elapsed = 0;
    /* diss. §3.10: bring the target up to date, then tell it to time out. */
    if (pr->match == raft_log_last(&r->log))
        raft_send_timeout_now(r, to);
    else
        raft_sync_follower(r, pr);
    return 0;
}

int raft_change_membership(struct raft *r, enum raft_change change, raft_id_t id, raft_index_t *index)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (r->transfer_to != 0)
        return RAFT_ETRANSFER;
    if (id == 0)
        return RAFT_EINVAL;
    /* diss. §4.1: one change at a time, each committed before the next. */
    if (r->pending_config_index > r->commit)
        return RAFT_ECHANGE_PENDING;
    struct raft_config next = r->config;
    struct raft_server *s = NULL;
    for (uint32_t i = 0; i < next.n; i++)
        if (next.servers[i].id == id)
            s = &next.servers[i];
    switch (change) {
    case RAFT_ADD_LEARNER:
        if (s != NULL || next.n == RAFT_SERVERS_MAX)
            return RAFT_EINVAL;
        next.servers[next.n].id = id;
        next.servers[next.n].role = RAFT_LEARNER;
        next.n++;
        break;
    case RAFT_PROMOTE: {
        if (s == NULL)
            return RAFT_EUNKNOWN_SERVER;
        if (s->role != RAFT_LEARNER)
            return RAFT_EINVAL;
        /* diss. §4.2.1: a server joins the majority only once it holds the
         * log, or it could stall commitment. */
        struct raft_progress *pr = raft_progress_find(r, id);
        if (pr == NULL || pr->match < r->commit)
            return RAFT_ENOT_CAUGHT_UP;
        s->role = RAFT_VOTER;
        break;
    }
    case RAFT_REMOVE:
        if (s == NULL)
            return RAFT_EUNKNOWN_SERVER;
        if (s->role == RAFT_VOTER && raft_config_voters(&next) == 1)
            return RAFT_EINVAL;
        *s = next.servers[next.n - 1];
        next.n--;
        break;
    default:
        return RAFT_EINVAL;
    }
    uint8_t buf[RAFT_CONFIG_ENCODED_MAX];
    size_t len = raft_config_encode(&next, buf);
    int rc = raft_append_entry(r, r->term, RAFT_ENTRY_CONFIG, buf, (uint32_t)len);
    if (rc != 0)
        return rc;
    r->pending_config_index = raft_log_last(&r->log);
    if (index != NULL)
        *index = r->pending_config_index;
    raft_progress_sync(r);
    if (raft_maybe_commit(r))
        raft_broadcast_append(r);
    raft_broadcast_append(r);
    return 0;
}

int raft_compact(struct raft *r, raft_index_t index)
{
    if (index > r->applied)
        return RAFT_EINVAL;
    if (index <= r->log.snapshot_index)
        return index == r->log.snapshot_index ? 0 : RAFT_ECOMPACTED;
    RAFT_ASSERT(index < r->unstable_from);
    raft_term_t term;
    bool known = raft_log_term(&r->log, index, &term);
    RAFT_ASSERT(known);
    /* The snapshot carries the configuration as of `index`. */
    struct raft_config at;
    raft_index_t from;
    config_at(r, index, &at, &from);
    r->snapshot_config = at;
    raft_log_compact(&r->log, index, term);
    return 0;
}

void raft_snapshot_failed(struct raft *r, raft_id_t to)
{
    if (r->role != RAFT_LEADER)
        return;
    struct raft_progress *pr = raft_progress_find(r, to);
    if (pr == NULL || pr->state != RAFT_SNAPSHOT)
        return;
    pr->state = RAFT_PROBE;
    pr->next = pr->match + 1;
    pr->probe_sent = false;
    pr->n_inflight = 0;
}

/* ---- output ------------------------------------------------------------------------- */

bool raft_has_update(const struct raft *r)
{
    return r->append_pending || r->now.n > 0 || r->after_persist.n > 0 || r->hard_state_dirty || r->snapshot_dirty ||
           r->truncate_from != 0 || r->unstable_from <= raft_log_last(&r->log) ||
           r->commit > r->applied;
}

static void link_entries(struct raft_outbox *b)
{
    size_t at = 0;
    for (size_t i = 0; i < b->n; i++) {
        b->msgs[i].entries = b->msgs[i].n_entries ? b->entries + at : NULL;
        at += b->msgs[i].n_entries;
    }
    RAFT_ASSERT(at == b->n_entries);
}

void raft_update_get(struct raft *r, struct raft_update *u)
{
    memset(u, 0, sizeof(*u));
    if (r->append_pending && r->role == RAFT_LEADER)
        raft_broadcast_append(r);
    r->append_pending = false;
    /* Payloads retired before the previous update are unreachable now. */
    raft_log_reclaim(&r->log);

    raft_index_t last = raft_log_last(&r->log);
    size_t n_new = r->unstable_from <= last ? (size_t)(last - r->unstable_from + 1) : 0;
    size_t n_committed = (size_t)(r->commit - r->applied);
    if (!grow((void **)&r->scratch, &r->cap_scratch, n_new + n_committed, sizeof(*r->scratch)))
        abort(); /* no way to hand out the update without its entries */
    for (size_t i = 0; i < n_new; i++)
        r->scratch[i] = *raft_log_get(&r->log, r->unstable_from + i);
    for (size_t i = 0; i < n_committed; i++) {
        const struct raft_entry *e = raft_log_get(&r->log, r->applied + 1 + i);
        RAFT_ASSERT(e != NULL && "committed entries are compacted only once applied");
        r->scratch[n_new + i] = *e;
    }

    if (r->snapshot_dirty)
        u->snapshot = &r->snapshot_out;
    u->truncate_from = r->truncate_from;
    u->entries = n_new ? r->scratch : NULL;
    u->n_entries = (uint32_t)n_new;
    u->hard_state_changed = r->hard_state_dirty;
    u->hard_state.term = r->term;
    u->hard_state.vote = r->vote;
    u->hard_state.commit = r->commit;
    link_entries(&r->now);
    link_entries(&r->after_persist);
    u->msgs = r->now.msgs;
    u->n_msgs = (uint32_t)r->now.n;
    u->msgs_after_persist = r->after_persist.msgs;
    u->n_msgs_after_persist = (uint32_t)r->after_persist.n;
    if (n_committed > 0) {
        u->committed_first = r->applied + 1;
        u->committed_last = r->commit;
        u->committed = r->scratch + n_new;
    }

    r->snapshot_dirty = false;
    r->truncate_from = 0;
    r->unstable_from = last + 1;
    r->hard_state_dirty = false;
    r->applied = r->commit;
    r->now.n = r->now.n_entries = 0;
    r->after_persist.n = r->after_persist.n_entries = 0;
}

/* ---- inspection --------------------------------------------------------------------- */

void raft_status(const struct raft *r, struct raft_status *s)
{
    memset(s, 0, sizeof(*s));
    s->id = r->o.id;
    s->role = r->role;
    s->term = r->term;
    s->vote = r->vote;
    s->leader = r->leader;
    s->first_index = raft_log_first(&r->log);
    s->last_index = raft_log_last(&r->log);
    s->last_term = raft_log_last_term(&r->log);
    s->commit = r->commit;
    s->applied = r->applied;
    s->persisted = r->persisted;
    s->snapshot_index = r->log.snapshot_index;
    s->snapshot_term = r->log.snapshot_term;
    s->uncommitted_bytes = r->uncommitted_bytes;
    s->transfer_to = r->transfer_to;
    s->msgs_dropped = r->msgs_dropped;
    s->config = r->config;
    s->n_progress = r->n_progress;
    for (uint32_t i = 0; i < r->n_progress; i++) {
        const struct raft_progress *pr = &r->progress[i];
        s->progress[i].id = pr->id;
        s->progress[i].match = pr->match;
        s->progress[i].next = pr->next;
        s->progress[i].state = pr->state;
        s->progress[i].recent_active = pr->recent_active;
    }
}

void raft_brief_status(const struct raft *r, struct raft_brief_status *s)
{
    s->role = r->role;
    s->term = r->term;
    s->leader = r->leader;
    s->uncommitted_bytes = r->uncommitted_bytes;
}

const struct raft_entry *raft_entry_get(const struct raft *r, raft_index_t index)
{
    return raft_log_get(&r->log, index);
}
