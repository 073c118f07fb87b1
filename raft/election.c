/* Leader election: timeouts, pre-vote, votes, becoming leader (§5.2, §5.4.1,
 * diss. §9.6). */
#include "internal.h"
#include "invariant.h"

/* diss. §4.2.3 / etcd's "leader lease": while a follower hears from a leader
 * (and check-quorum makes that leader step down when it cannot), requests
 * for votes are ignored, so a server rejoining after a partition cannot
 * unseat a healthy leader. */
bool raft_in_lease(const struct raft *r)
{
    return r->o.check_quorum && r->leader != 0 && r->election_elapsed < r->o.election_ticks_min;
}

static void record_vote(struct raft *r, raft_id_t id, bool granted)
{
    for (uint32_t i = 0; i < r->n_votes; i++)
        if (r->votes[i].id == id)
            return; /* the first answer counts; duplicates are ignored */
    RAFT_ASSERT(r->n_votes < RAFT_SERVERS_MAX);
    r->votes[r->n_votes].id = id;
    r->votes[r->n_votes].granted = granted;
    r->n_votes++;
}

static void count_votes(const struct raft *r, uint32_t *granted, uint32_t *rejected)
{
    *granted = 0;
    *rejected = 0;
    for (uint32_t i = 0; i < r->n_votes; i++) {
        if (!raft_is_voter(r, r->votes[i].id))
            continue;
        if (r->votes[i].granted)
            (*granted)++;
        else
            (*rejected)++;
    }
}

static void request_votes(struct raft *r, uint8_t type, raft_term_t term, bool transfer)
{
    raft_index_t last = raft_log_last(&r->log);
    raft_term_t last_term = raft_log_last_term(&r->log);
    for (uint32_t i = 0; i < r->config.n; i++) {
        const struct raft_server *s = &r->config.servers[i];
        if (s->id == r->o.id || s->role != RAFT_VOTER)
            continue;
        struct raft_msg m = {.type = type, .from = r->o.id, .to = s->id, .term = term,
                             .index = last, .log_term = last_term, .transfer = transfer};
        raft_send(r, &m, 0, 0);
    }
}

static void become_candidate(struct raft *r, bool transfer)
{
    RAFT_ASSERT(raft_is_voter(r, r->o.id));
    r->term++;
    r->vote = r->o.id; /* persisted before any VOTE leaves (after-persist outbox) */
    r->hard_state_dirty = true;
    r->role = RAFT_CANDIDATE;
    r->leader = 0;
    r->n_votes = 0;
    raft_reset_election_timer(r);
    record_vote(r, r->o.id, true);
    if (raft_quorum(r) == 1) {
        raft_become_leader(r);
        return;
    }
    request_votes(r, RAFT_MSG_VOTE, r->term, transfer);
}

/* diss. §9.6: ask first whether an election could be won, without touching
 * the term, so a server that cannot win never disrupts the cluster. */
static void become_pre_candidate(struct raft *r)
{
    r->role = RAFT_PRE_CANDIDATE;
    r->leader = 0;
    r->n_votes = 0;
    record_vote(r, r->o.id, true);
    if (raft_quorum(r) == 1) {
        become_candidate(r, false);
        return;
    }
    request_votes(r, RAFT_MSG_PREVOTE, r->term + 1, false);
}

void raft_start_election(struct raft *r, bool transfer)
{
    RAFT_ASSERT(r->role != RAFT_LEADER);
    if (r->o.pre_vote && !transfer)
        become_pre_candidate(r);
    else
        become_candidate(r, transfer);
}

void raft_become_leader(struct raft *r)
{
    RAFT_ASSERT(r->role == RAFT_CANDIDATE);
    RAFT_ASSERT(r->vote == r->o.id);
    r->role = RAFT_LEADER;
    r->leader = r->o.id;
    r->n_votes = 0;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    r->transfer_to = 0;
    r->uncommitted_bytes = 0;
    raft_progress_reset_all(r);
    /* §5.4.2 and §8: a leader commits entries of earlier terms only by
     * committing one of its own term, so it appends a no-op at once. */
    int rc = raft_append_entry(r, r->term, RAFT_ENTRY_NOOP, NULL, 0);
    if (rc != 0) {
        /* Without the no-op this leader could never commit: give way. */
        raft_become_follower(r, r->term, 0);
        return;
    }
    /* No membership change until the no-op commits. Single-server changes
     * are safe only if a leader has committed an entry of its own term
     * first (Ongaro, raft-dev, 2015: "bug in single-server membership
     * changes"); otherwise an uncommitted configuration of an earlier term
     * and this leader's change can have disjoint majorities. The simulator
     * found exactly that (seed 4041). */
    r->pending_config_index = raft_log_last(&r->log);
    raft_broadcast_append(r);
}

/* §5.4.1: the voter's log must not be more up to date than the candidate's. */
static bool log_up_to_date(const struct raft *r, raft_index_t last_index, raft_term_t last_term)
{
    raft_term_t mine = raft_log_last_term(&r->log);
    return last_term > mine || (last_term == mine && last_index >= raft_log_last(&r->log));
}

int raft_step_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    RAFT_ASSERT(m->term >= r->term);
    RAFT_ASSERT(pre || m->term == r->term);
    /* One vote per term (§5.2): again for the same candidate is fine (a
     * retransmission), and nobody gets one while a leader is known. A
     * pre-vote for a later term promises nothing. */
    bool can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
                    (pre && m->term > r->term);
#ifdef RAFT_PLANTED_BUG_DOUBLE_VOTE
    /* Deliberately wrong, for tests/sim/expect_violation.sh only. */
    can_vote = can_vote || r->leader == 0;
#endif
    bool grant = can_vote && log_up_to_date(r, m->index, m->log_term);
    /* Two pre-candidates for the same term with equal logs would both go
     * on to vote for themselves and split the vote, costing another
     * election timeout. Break the tie by id: the lower id goes ahead, the
     * other grants and steps back. Pre-votes never affect safety, and the
     * one stepping back campaigns again on its next timeout if need be. */
    bool step_back = false;
    if (pre && grant && r->role == RAFT_PRE_CANDIDATE && m->term == r->term + 1 &&
        m->log_term == raft_log_last_term(&r->log) && m->index == raft_log_last(&r->log)) {
        if (m->from > r->o.id)
            grant = false;
        else
            step_back = true;
    }
    struct raft_msg reply = {.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
                             .from = r->o.id, .to = m->from,
                             .term = grant ? m->term : r->term, .reject = !grant};
    if (grant && !pre) {
        r->vote = m->from;
        r->hard_state_dirty = true;
        r->election_elapsed = 0; /* give the candidate time to win */
    }
    raft_send(r, &reply, 0, 0);
    if (step_back)
        raft_become_follower(r, r->term, 0);
    return 0;
}

int raft_step_vote_resp(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE_RESP;
    if (r->role != (pre ? RAFT_PRE_CANDIDATE : RAFT_CANDIDATE))
        return 0; /* a late answer to an election already decided */
    if (pre && !m->reject && m->term != r->term + 1)
        return 0; /* answers a pre-vote for another term */
    if (!pre && m->term != r->term)
        return 0;
    record_vote(r, m->from, !m->reject);
    uint32_t granted, rejected;
    count_votes(r, &granted, &rejected);
    if (granted >= raft_quorum(r)) {
        if (pre)
            become_candidate(r, false);
        else
            raft_become_leader(r);
    } else if (rejected >= raft_quorum(r)) {
        raft_become_follower(r, r->term, 0);
    }
    return 0;
}
