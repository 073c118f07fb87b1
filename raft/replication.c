/* Log replication: progress tracking, AppendEntries both ways, commitment,
 * snapshots and the last step of leadership transfer (§5.3, §5.4, §7). */
#include "internal.h"
#include "invariant.h"

/* ---- progress (leader) ------------------------------------------------------ */

static void progress_init(struct raft_progress *pr, raft_id_t id, raft_index_t next)
{
    pr->id = id;
    pr->match = 0;
    pr->next = next;
    pr->state = RAFT_PROBE;
    pr->recent_active = true; /* a new term or member gets one period of grace */
    pr->probe_sent = false;
    pr->n_inflight = 0;
    pr->pending_snapshot = 0;
    pr->snapshot_elapsed = 0;
    pr->match_at_heartbeat = 0;
    pr->stalled_heartbeats = 0;
}

void raft_progress_reset_all(struct raft *r)
{
    r->n_progress = 0;
    raft_index_t next = raft_log_last(&r->log) + 1;
    for (uint32_t i = 0; i < r->config.n; i++) {
        if (r->config.servers[i].id != r->o.id)
            progress_init(&r->progress[r->n_progress++], r->config.servers[i].id, next);
    }
}

/* After a membership change: drop servers that left, track new ones. */
void raft_progress_sync(struct raft *r)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < r->n_progress; i++)
        if (raft_config_find(&r->config, r->progress[i].id) != NULL)
            r->progress[kept++] = r->progress[i];
    r->n_progress = kept;
    for (uint32_t i = 0; i < r->config.n; i++) {
        raft_id_t id = r->config.servers[i].id;
        if (id != r->o.id && raft_progress_find(r, id) == NULL)
            progress_init(&r->progress[r->n_progress++], id, raft_log_last(&r->log) + 1);
    }
    if (r->transfer_to != 0 && !raft_is_voter(r, r->transfer_to))
        r->transfer_to = 0;
}

/*
 * The in-flight window is not emptied when a follower switches between
 * probing and pipelining: the APPENDs of the old window are still on the
 * wire. Emptying it let every reject/ack cycle on a reordering network send
 * a fresh window on top of the last (the simulator's "message storm", seed
 * 18607). A window entry leaves when an acknowledgement covers it, or when
 * the follower stalls for two heartbeats (then they are presumed lost).
 */
static void become_probe(struct raft_progress *pr)
{
    raft_index_t after_snapshot = pr->state == RAFT_SNAPSHOT ? pr->pending_snapshot + 1 : 0;
    pr->state = RAFT_PROBE;
    pr->next = pr->match + 1 > after_snapshot ? pr->match + 1 : after_snapshot;
    pr->probe_sent = false;
    pr->stalled_heartbeats = 0;
}

static void become_replicate(struct raft_progress *pr)
{
    pr->state = RAFT_REPLICATE;
    pr->next = pr->match + 1;
}

static void inflight_add(struct raft *r, struct raft_progress *pr, raft_index_t last)
{
    RAFT_ASSERT(pr->n_inflight < r->o.max_inflight);
    pr->inflight[pr->n_inflight++] = last;
}

/* Drops every APPEND the acknowledgement of `index` covers. Entries of an
 * earlier window may sit out of order, hence the full pass (n <= 256). */
static void inflight_free_to(struct raft_progress *pr, raft_index_t index)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < pr->n_inflight; i++)
        if (pr->inflight[i] > index)
            pr->inflight[kept++] = pr->inflight[i];
    pr->n_inflight = kept;
}

/* ---- sending (leader) ------------------------------------------------------- */

static void send_snapshot(struct raft *r, struct raft_progress *pr)
{
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = r->o.id, .to = pr->id, .term = r->term};
    m.snapshot.last_index = r->log.snapshot_index;
    m.snapshot.last_term = r->log.snapshot_term;
    m.snapshot.config = r->snapshot_config;
    RAFT_ASSERT(m.snapshot.last_index > 0);
    raft_send(r, &m, 0, 0);
    pr->state = RAFT_SNAPSHOT;
    pr->pending_snapshot = r->log.snapshot_index;
    pr->snapshot_elapsed = 0;
    pr->n_inflight = 0;
}

/* Sends the entries from pr->next on, up to the byte and count budget.
 * `force` sends even with nothing new and ignores the window (used to
 * re-synchronise after a heartbeat reveals the follower lags). */
static bool send_append(struct raft *r, struct raft_progress *pr, bool force)
{
    if (pr->state == RAFT_SNAPSHOT)
        return false;
    if (!force && pr->state == RAFT_PROBE && pr->probe_sent)
        return false;
    if (!force && pr->state == RAFT_REPLICATE && pr->n_inflight >= r->o.max_inflight)
        return false;
    raft_index_t prev = pr->next - 1;
    raft_term_t prev_term;
    if (!raft_log_term(&r->log, prev, &prev_term)) {
        /* §7: the entries it needs are compacted away. */
        send_snapshot(r, pr);
        return true;
    }
    raft_index_t last = raft_log_last(&r->log);
    /* Nothing new to pipeline; but a probe may be empty: it asks whether
     * the follower holds prev at all. */
    if (!force && pr->next > last && pr->state != RAFT_PROBE)
        return false;
    uint32_t n = 0;
    uint64_t bytes = 0;
    for (raft_index_t i = pr->next; i <= last; i++) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (n > 0 && (bytes + e->len > r->o.max_msg_bytes || n >= r->o.max_msg_entries))
            break;
        n++;
        bytes += e->len;
    }
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = r->o.id, .to = pr->id, .term = r->term,
                         .index = prev, .log_term = prev_term, .commit = r->commit};
    raft_send(r, &m, pr->next, n);
    if (n > 0 && pr->state == RAFT_REPLICATE && pr->n_inflight < r->o.max_inflight) {
        /* Pipelining: assume success and go on (etcd's optimistic next). */
        pr->next += n;
        inflight_add(r, pr, pr->next - 1);
    }
    if (pr->state == RAFT_PROBE)
        pr->probe_sent = true;
    return true;
}

/* Sends what the follower lacks now, even if the window says it is all in
 * flight: a rejection then resets it to probing at once. */
void raft_sync_follower(struct raft *r, struct raft_progress *pr)
{
    if (!send_append(r, pr, false))
        send_append(r, pr, true);
}

void raft_broadcast_append(struct raft *r)
{
    RAFT_ASSERT(r->role == RAFT_LEADER);
    for (uint32_t i = 0; i < r->n_progress; i++) {
        struct raft_progress *pr = &r->progress[i];
        /* Bounded: each send moves next on or pauses the follower. */
        for (uint32_t sent = 0; sent <= r->o.max_inflight && send_append(r, pr, false); sent++) {
            if (pr->state != RAFT_REPLICATE)
                break;
        }
    }
}

/* §5.2 heartbeats: an APPEND at the follower's known match point, so it
 * always succeeds and never resets a pipelined follower to probing. */
void raft_broadcast_heartbeat(struct raft *r)
{
    RAFT_ASSERT(r->role == RAFT_LEADER);
    raft_index_t last = raft_log_last(&r->log);
    for (uint32_t i = 0; i < r->n_progress; i++) {
        struct raft_progress *pr = &r->progress[i];
        /* A pipelined follower whose match has not moved for two heartbeats
         * while entries are outstanding lost an APPEND or its answer:
         * probe again from its match point. */
        if (pr->state == RAFT_REPLICATE && pr->match < last && pr->match == pr->match_at_heartbeat) {
            if (++pr->stalled_heartbeats >= 2) {
                become_probe(pr);
                pr->n_inflight = 0; /* presumed lost */
            }
        } else {
            pr->stalled_heartbeats = 0;
        }
        pr->match_at_heartbeat = pr->match;
        if (pr->state == RAFT_PROBE) {
            pr->probe_sent = false; /* the last probe may be lost: retry */
            if (send_append(r, pr, false))
                continue;
        }
        raft_index_t prev = pr->match;
        raft_term_t prev_term;
        if (!raft_log_term(&r->log, prev, &prev_term)) {
            prev = 0;
            prev_term = 0;
        }
        struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = r->o.id, .to = pr->id,
                             .term = r->term, .index = prev, .log_term = prev_term,
                             .commit = r->commit < prev ? r->commit : prev};
        raft_send(r, &m, 0, 0);
    }
}

void raft_send_timeout_now(struct raft *r, raft_id_t to)
{
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .from = r->o.id, .to = to, .term = r->term};
    raft_send(r, &m, 0, 0);
}

void raft_leader_tick_snapshots(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_progress; i++) {
        struct raft_progress *pr = &r->progress[i];
        if (pr->state == RAFT_SNAPSHOT && ++pr->snapshot_elapsed >= r->o.snapshot_timeout_ticks)
            become_probe(pr); /* never answered: probe again, which resends it */
    }
}

/* ---- commitment (leader) ------------------------------------------------------ */

static void commit_to(struct raft *r, raft_index_t index)
{
    RAFT_ASSERT(index > r->commit);
    RAFT_ASSERT(index <= raft_log_last(&r->log));
    if (r->role == RAFT_LEADER) {
        for (raft_index_t i = r->commit + 1; i <= index; i++) {
            const struct raft_entry *e = raft_log_get(&r->log, i);
            if (e->term == r->term && e->type == RAFT_ENTRY_DATA) {
                RAFT_ASSERT(r->uncommitted_bytes >= e->len);
                r->uncommitted_bytes -= e->len;
            }
        }
    }
    r->commit = index;
}

/*
 * §5.3/§5.4.2: the highest index stored on a majority of voters commits, but
 * only if it is of the leader's own term (Figure 8). The leader's own copy
 * counts only once persisted (raft_persisted), so an acknowledged entry is
 * durable on a majority even if this leader crashes at once.
 */
bool raft_maybe_commit(struct raft *r)
{
    RAFT_ASSERT(r->role == RAFT_LEADER);
    raft_index_t matches[RAFT_SERVERS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->config.n; i++) {
        const struct raft_server *s = &r->config.servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        if (s->id == r->o.id) {
            matches[n++] = r->persisted;
        } else {
            const struct raft_progress *pr = raft_progress_find(r, s->id);
            matches[n++] = pr != NULL ? pr->match : 0;
        }
    }
    if (n == 0)
        return false;
    for (uint32_t i = 1; i < n; i++) /* insertion sort, descending; n <= 9 */
        for (uint32_t j = i; j > 0 && matches[j] > matches[j - 1]; j--) {
            raft_index_t t = matches[j];
            matches[j] = matches[j - 1];
            matches[j - 1] = t;
        }
    raft_index_t candidate = matches[raft_quorum(r) - 1];
    raft_term_t term;
    if (candidate <= r->commit || !raft_log_term(&r->log, candidate, &term) || term != r->term)
        return false;
    commit_to(r, candidate);
    /* diss. §4.2.2: a leader removed from the configuration steps down once
     * that configuration is committed. */
    if (!raft_is_voter(r, r->o.id) && r->commit >= r->config_index) {
        raft_become_follower(r, r->term, 0);
        return false;
    }
    return true;
}

/* ---- the follower's side --------------------------------------------------------- */

static void accept_leader(struct raft *r, raft_id_t leader)
{
    if (r->role != RAFT_FOLLOWER)
        raft_become_follower(r, r->term, leader);
    r->leader = leader;
    r->election_elapsed = 0;
}

static void reply_append(struct raft *r, raft_id_t to, bool reject, raft_index_t index,
                         raft_index_t hint_index, raft_term_t hint_term)
{
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .from = r->o.id, .to = to, .term = r->term,
                         .reject = reject, .index = index, .hint_index = hint_index,
                         .hint_term = hint_term};
    raft_send(r, &m, 0, 0);
}

/* The largest index <= index whose term is <= term (or the snapshot point):
 * entries after it certainly conflict, so probing can skip them (§5.3's
 * optimisation, as etcd's findConflictByTerm). */
static raft_index_t find_conflict_by_term(const struct raft *r, raft_index_t index, raft_term_t term)
{
    raft_term_t t;
    if (index < r->log.snapshot_index)
        return index; /* terms unknown here: no skipping */
    for (; index > r->log.snapshot_index; index--) {
        bool known = raft_log_term(&r->log, index, &t);
        RAFT_ASSERT(known);
        if (t <= term)
            return index;
    }
    return r->log.snapshot_index;
}

int raft_step_append(struct raft *r, const struct raft_msg *m)
{
    RAFT_ASSERT(m->term == r->term);
    if (r->role == RAFT_LEADER)
        return RAFT_EMALFORMED; /* two leaders in one term cannot exist */
    accept_leader(r, m->from);

    if (m->index < r->commit) {
        /* Everything up to commit matches already; say so. */
        reply_append(r, m->from, false, r->commit, 0, 0);
        return 0;
    }
    raft_term_t prev_term;
    if (!raft_log_term(&r->log, m->index, &prev_term) || prev_term != m->log_term) {
        raft_index_t last = raft_log_last(&r->log);
        raft_index_t hint = find_conflict_by_term(r, m->index < last ? m->index : last, m->log_term);
        raft_term_t hint_term;
        bool known = raft_log_term(&r->log, hint, &hint_term);
        RAFT_ASSERT(known);
        reply_append(r, m->from, true, m->index, hint, hint_term);
        return 0;
    }
    /* §5.3: delete a conflicting suffix, append what is new, keep the rest
     * (a delayed APPEND must not truncate entries a later one added). */
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index <= raft_log_last(&r->log)) {
            raft_term_t t;
            bool known = raft_log_term(&r->log, e->index, &t);
            RAFT_ASSERT(known);
            if (t == e->term)
                continue;
            raft_truncate_suffix(r, e->index);
        }
        int rc = raft_append_entry(r, e->term, e->type, e->data, e->len);
        if (rc != 0)
            return rc;
    }
    raft_index_t last_new = m->index + m->n_entries;
    raft_index_t commit = m->commit < last_new ? m->commit : last_new;
    if (commit > r->commit)
        commit_to(r, commit);
    reply_append(r, m->from, false, last_new, 0, 0);
    return 0;
}

int raft_step_snapshot(struct raft *r, const struct raft_msg *m)
{
    RAFT_ASSERT(m->term == r->term);
    if (r->role == RAFT_LEADER)
        return RAFT_EMALFORMED;
    accept_leader(r, m->from);
    const struct raft_snapshot_meta *s = &m->snapshot;
    if (s->last_index <= r->commit) {
        reply_append(r, m->from, false, r->commit, 0, 0);
        return 0;
    }
    raft_term_t t;
    if (raft_log_term(&r->log, s->last_index, &t) && t == s->last_term) {
        /* We hold that prefix already (§7: "retain the entries following
         * it"); it is committed, so just move the commit point. */
        commit_to(r, s->last_index);
        reply_append(r, m->from, false, s->last_index, 0, 0);
        return 0;
    }
    /* §7: discard the entire log and start after the snapshot. */
    raft_log_reset(&r->log, s->last_index, s->last_term);
    r->snapshot_config = s->config;
    raft_recompute_config(r);
    r->commit = s->last_index;
    r->applied = s->last_index; /* the host installs the state with it */
    r->persisted = 0;
    r->snapshot_dirty = true;
    r->snapshot_out = *s;
    r->truncate_from = 0;
    r->unstable_from = s->last_index + 1;
    reply_append(r, m->from, false, s->last_index, 0, 0);
    return 0;
}

/* ---- the leader hears back ---------------------------------------------------------- */

/* A rejection: move next back using the follower's hint; false if the
 * rejection answers an APPEND older than what we know (reordered). */
static bool maybe_decrease(struct raft *r, struct raft_progress *pr, const struct raft_msg *m)
{
    if (pr->state == RAFT_REPLICATE) {
        if (m->index <= pr->match)
            return false;
        become_probe(pr);
        return true;
    }
    if (pr->next == 0 || m->index != pr->next - 1)
        return false;
    raft_index_t match_hint = m->hint_index;
    if (m->hint_term > 0 && match_hint <= raft_log_last(&r->log))
        match_hint = find_conflict_by_term(r, match_hint, m->hint_term);
    raft_index_t next = match_hint + 1 < m->index ? match_hint + 1 : m->index;
    pr->next = next > pr->match + 1 ? next : pr->match + 1;
    pr->probe_sent = false;
    return true;
}

int raft_step_append_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER)
        return 0;
    struct raft_progress *pr = raft_progress_find(r, m->from);
    if (pr == NULL)
        return 0;
    raft_index_t last = raft_log_last(&r->log);
    pr->recent_active = true;

    if (m->reject) {
        /* Every APPEND of this leader had prev <= last: a rejection beyond
         * it answers a former leader's APPEND that reached the follower
         * after it moved to our term (found by the simulator, seed 37446). */
        if (m->index <= last && maybe_decrease(r, pr, m))
            send_append(r, pr, false);
        return 0;
    }
    if (m->index > last)
        return RAFT_EMALFORMED; /* acknowledges entries this leader never had */
    bool updated = false;
    if (m->index > pr->match) {
        pr->match = m->index;
        updated = true;
    }
    if (pr->next < m->index + 1)
        pr->next = m->index + 1;
    /* A probe is answered by an acknowledgement at or past its prev index;
     * an older one (a duplicate, or from an earlier window) must not start
     * a fresh pipelined window over the one still travelling. */
    bool answers_probe = pr->state == RAFT_PROBE && m->index == pr->match && m->index + 1 >= pr->next;
    if (updated || answers_probe) {
        inflight_free_to(pr, m->index);
        if (pr->state == RAFT_PROBE) {
            become_replicate(pr);
        } else if (pr->state == RAFT_SNAPSHOT && pr->match >= pr->pending_snapshot) {
            become_probe(pr);
            become_replicate(pr);
        }
        if (raft_maybe_commit(r))
            raft_broadcast_append(r);
        if (r->role != RAFT_LEADER)
            return 0;
        for (uint32_t sent = 0; sent <= r->o.max_inflight && send_append(r, pr, false); sent++)
            if (pr->state != RAFT_REPLICATE)
                break;
    }
    if (r->transfer_to == pr->id && pr->match == raft_log_last(&r->log))
        raft_send_timeout_now(r, pr->id);
    return 0;
}
