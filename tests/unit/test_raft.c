/*
 * The Raft core against the paper's cases, each citing its section: the
 * Raft paper (Ongaro & Ousterhout 2014) as §N, the dissertation as diss. §N.
 * The deterministic simulator (tests/sim/) covers the random interleavings;
 * these tests pin the named scenarios down exactly.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft_fixture.h"
#include "suites.h"

static raft_index_t propose_u64(struct fx *f, int id, uint64_t v)
{
    raft_index_t index = 0;
    ck_assert_int_eq(raft_propose(f->r[id], &v, sizeof(v), &index), 0);
    fx_process(f, id);
    return index;
}

/* ---- election (§5.2) ------------------------------------------------------ */

START_TEST(election_golden_trace)
{
    /* The messages of one pre-vote election and the first heartbeat round,
     * as a golden transcript (etcd testdata/campaign.txt style). */
    struct fx f;
    fx_init(&f, 3, true, true);
    f.trace_on = true;
    fx_tick(&f, 1, 20); /* its timeout is < 20 ticks: it starts a pre-vote */
    fx_deliver_all(&f);
    ck_assert_int_eq(fx_role(&f, 1), RAFT_LEADER);
    ck_assert_str_eq(f.trace, "1>2 PREVOTE t1 i0\n"
                              "1>3 PREVOTE t1 i0\n"
                              "2>1 PREVOTE_RESP t1 i0\n"
                              "3>1 PREVOTE_RESP t1 i0\n"
                              "1>2 VOTE t1 i0\n"
                              "1>3 VOTE t1 i0\n"
                              "2>1 VOTE_RESP t1 i0\n"
                              "3>1 VOTE_RESP t1 i0\n"
                              "1>2 APPEND t1 i0 +entries\n"
                              "1>3 APPEND t1 i0 +entries\n"
                              "2>1 APPEND_RESP t1 i1\n"
                              "3>1 APPEND_RESP t1 i1\n");
    struct raft_status s = fx_status(&f, 1);
    ck_assert_uint_eq(s.term, 1);
    ck_assert_uint_eq(s.commit, 1); /* the no-op of term 1 (§8) */
    for (int id = 1; id <= 3; id++) { /* the brief status says the same */
        struct raft_status full = fx_status(&f, id);
        struct raft_brief_status brief;
        raft_brief_status(f.r[id], &brief);
        ck_assert_int_eq(brief.role, full.role);
        ck_assert_uint_eq(brief.term, full.term);
        ck_assert_uint_eq(brief.leader, full.leader);
        ck_assert_uint_eq(brief.uncommitted_bytes, full.uncommitted_bytes);
    }
    ck_assert_uint_eq(fx_status(&f, 2).leader, 1);
    ck_assert_uint_eq(fx_status(&f, 3).vote, 1);
    fx_free(&f);
}
END_TEST

START_TEST(election_single_server_leads_itself)
{
    struct fx f;
    fx_init(&f, 1, true, true);
    ck_assert(fx_elect(&f, 1));
    ck_assert_uint_eq(fx_status(&f, 1).commit, 1);
    raft_index_t i = propose_u64(&f, 1, 7);
    ck_assert_uint_eq(fx_status(&f, 1).commit, i);
    fx_free(&f);
}
END_TEST

START_TEST(election_follower_not_in_config_never_campaigns)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    /* Server 3 restarted as a fresh joiner: empty configuration. */
    memset(&f.disk[3].snapshot.config, 0, sizeof(f.disk[3].snapshot.config));
    fx_crash_restart(&f, 3);
    fx_tick(&f, 3, 500);
    ck_assert_int_eq(f.n_queue, 0);
    ck_assert_int_eq(fx_role(&f, 3), RAFT_FOLLOWER);
    ck_assert_uint_eq(fx_status(&f, 3).term, 0);
    fx_free(&f);
}
END_TEST

/* ---- vote restrictions (§5.2, §5.4.1) ------------------------------------- */

static struct raft_msg vote_req(raft_id_t from, raft_id_t to, raft_term_t term, raft_index_t last,
                                raft_term_t last_term)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = from, .to = to, .term = term,
                         .index = last, .log_term = last_term};
    return m;
}

/* Steps a vote request into server `to` and returns its single answer. */
static struct raft_msg answer(struct fx *f, int to, const struct raft_msg *req, bool *after_persist)
{
    ck_assert_int_eq(raft_step(f->r[to], req), 0);
    struct raft_update u;
    raft_update_get(f->r[to], &u);
    ck_assert_uint_eq(u.n_msgs + u.n_msgs_after_persist, 1);
    *after_persist = u.n_msgs_after_persist == 1;
    struct raft_msg reply = *after_persist ? u.msgs_after_persist[0] : u.msgs[0];
    if (!reply.reject && reply.type == RAFT_MSG_VOTE_RESP) {
        /* §5.2 persistence: the vote is in the same update, to be stored
         * before the reply leaves. */
        ck_assert(u.hard_state_changed);
        ck_assert_uint_eq(u.hard_state.vote, req->from);
        ck_assert_uint_eq(u.hard_state.term, req->term);
    }
    return reply;
}

START_TEST(vote_one_per_term_and_persisted_first)
{
    struct fx f;
    fx_init(&f, 3, false, false);
    bool after;
    struct raft_msg m = vote_req(2, 1, 5, 0, 0);
    struct raft_msg r = answer(&f, 1, &m, &after);
    ck_assert(!r.reject);
    ck_assert(after); /* a grant waits for the persist */
    m = vote_req(3, 1, 5, 0, 0);
    r = answer(&f, 1, &m, &after);
    ck_assert(r.reject); /* already voted for 2 in term 5 */
    m = vote_req(2, 1, 5, 0, 0);
    r = answer(&f, 1, &m, &after);
    ck_assert(!r.reject); /* the same candidate again: a retransmission */
    fx_free(&f);
}
END_TEST

START_TEST(vote_refused_to_stale_term)
{
    struct fx f;
    fx_init(&f, 3, false, false);
    bool after;
    struct raft_msg m = vote_req(2, 1, 5, 0, 0);
    answer(&f, 1, &m, &after);
    m = vote_req(3, 1, 4, 0, 0);
    struct raft_msg r = answer(&f, 1, &m, &after);
    /* §5.1: refused, and the reply carries the newer term so the stale
     * candidate catches up; no vote and no term change here. */
    ck_assert(r.reject);
    ck_assert_uint_eq(r.term, 5);
    ck_assert_uint_eq(fx_status(&f, 1).term, 5);
    ck_assert_uint_eq(fx_status(&f, 1).vote, 2);
    fx_free(&f);
}
END_TEST

START_TEST(vote_refused_to_less_up_to_date_log)
{
    struct fx f;
    fx_init(&f, 3, false, false);
    raft_term_t terms[] = {1, 1, 2};
    fx_set_log(&f, 1, terms, 3, 2);
    bool after;
    /* lower last term, longer log: refused (§5.4.1 compares terms first) */
    struct raft_msg m = vote_req(2, 1, 3, 9, 1);
    ck_assert(answer(&f, 1, &m, &after).reject);
    /* same last term, shorter log: refused */
    m = vote_req(2, 1, 4, 2, 2);
    ck_assert(answer(&f, 1, &m, &after).reject);
    /* same last term, same length: granted */
    m = vote_req(3, 1, 5, 3, 2);
    ck_assert(!answer(&f, 1, &m, &after).reject);
    fx_free(&f);
}
END_TEST

START_TEST(vote_survives_restart)
{
    struct fx f;
    fx_init(&f, 3, false, false);
    bool after;
    struct raft_msg m = vote_req(2, 1, 5, 0, 0);
    fx_process(&f, 1);
    answer(&f, 1, &m, &after);
    /* the fixture stores the hard state from the update */
    raft_update_get(f.r[1], &(struct raft_update){0});
    f.disk[1].hs.term = 5;
    f.disk[1].hs.vote = 2;
    fx_crash_restart(&f, 1);
    m = vote_req(3, 1, 5, 0, 0);
    ck_assert(answer(&f, 1, &m, &after).reject);
    fx_free(&f);
}
END_TEST

/* ---- pre-vote and check-quorum (diss. §9.6, §6.2) -------------------------- */

START_TEST(prevote_partitioned_server_keeps_its_term)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    raft_term_t term = fx_status(&f, 1).term;
    fx_isolate(&f, 3, true);
    fx_tick(&f, 3, 200); /* many election timeouts alone */
    fx_drop_queue(&f);
    ck_assert_uint_eq(fx_status(&f, 3).term, term); /* pre-votes never bump it */
    ck_assert_int_eq(fx_role(&f, 3), RAFT_PRE_CANDIDATE);
    /* Rejoining does not disrupt the leader (who kept its followers). */
    fx_isolate(&f, 3, false);
    for (int round = 0; round < 10; round++) {
        fx_tick(&f, 1, 1);
        fx_tick(&f, 2, 1);
        fx_tick(&f, 3, 1);
        fx_deliver_all(&f);
    }
    ck_assert_int_eq(fx_leader(&f), 1);
    ck_assert_uint_eq(fx_status(&f, 1).term, term);
    ck_assert_uint_eq(fx_status(&f, 3).leader, 1);
    fx_free(&f);
}
END_TEST

START_TEST(without_prevote_partitioned_server_disrupts)
{
    /* The control experiment: without pre-vote the rejoining server's higher
     * term forces a new election (the problem diss. §9.6 solves). */
    struct fx f;
    fx_init(&f, 3, false, false);
    ck_assert(fx_elect(&f, 1));
    raft_term_t term = fx_status(&f, 1).term;
    fx_isolate(&f, 3, true);
    fx_tick(&f, 3, 100);
    fx_drop_queue(&f);
    ck_assert_uint_gt(fx_status(&f, 3).term, term + 1);
    fx_isolate(&f, 3, false);
    fx_tick(&f, 1, 2); /* a heartbeat to 3 */
    fx_deliver_all(&f);
    ck_assert_uint_gt(fx_status(&f, 1).term, term);
    fx_free(&f);
}
END_TEST

START_TEST(prevote_denied_while_leader_lease_holds)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    struct raft_msg m = {.type = RAFT_MSG_PREVOTE, .from = 3, .to = 2, .term = 9, .index = 99,
                         .log_term = 9};
    ck_assert_int_eq(raft_step(f.r[2], &m), 0);
    ck_assert(!raft_has_update(f.r[2])); /* ignored: 2 heard from 1 recently */
    fx_free(&f);
}
END_TEST

START_TEST(prevote_tie_between_equal_logs_goes_to_lower_id)
{
    /* Both survivors of a leader crash time out together: without a tie
     * break both would become candidates and split the vote. */
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    raft_term_t term = fx_status(&f, 1).term;
    fx_isolate(&f, 1, true);
    for (int i = 0; i < 40 && fx_role(&f, 2) != RAFT_PRE_CANDIDATE; i++)
        fx_tick(&f, 2, 1);
    for (int i = 0; i < 40 && fx_role(&f, 3) != RAFT_PRE_CANDIDATE; i++)
        fx_tick(&f, 3, 1);
    ck_assert_int_eq(fx_role(&f, 2), RAFT_PRE_CANDIDATE);
    ck_assert_int_eq(fx_role(&f, 3), RAFT_PRE_CANDIDATE);
    fx_deliver_all(&f);
    ck_assert_int_eq(fx_role(&f, 2), RAFT_LEADER);
    ck_assert_int_eq(fx_role(&f, 3), RAFT_FOLLOWER);
    ck_assert_uint_eq(fx_status(&f, 2).term, term + 1); /* no split round */
    fx_free(&f);
}
END_TEST

START_TEST(check_quorum_leader_steps_down)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    fx_isolate(&f, 1, true);
    /* Two check-quorum periods: the first still counts the grace period. */
    fx_tick(&f, 1, 2 * 10);
    fx_drop_queue(&f);
    ck_assert_int_eq(fx_role(&f, 1), RAFT_FOLLOWER);
    ck_assert_uint_eq(fx_status(&f, 1).leader, 0);
    ck_assert_int_eq(raft_propose(f.r[1], "x", 1, NULL), RAFT_ENOTLEADER);
    fx_free(&f);
}
END_TEST

START_TEST(check_quorum_leader_with_majority_stays)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    fx_isolate(&f, 3, true);
    for (int i = 0; i < 60; i++) {
        fx_tick(&f, 1, 1);
        fx_tick(&f, 2, 1);
        fx_deliver_all(&f);
    }
    ck_assert_int_eq(fx_role(&f, 1), RAFT_LEADER);
    fx_free(&f);
}
END_TEST

/* ---- log replication: Figure 7 (§5.3) --------------------------------------- */

/* Figure 7: the leader of term 8 and followers (a)-(f). */
static const raft_term_t fig7_leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
static const struct {
    raft_term_t terms[12];
    int n;
} fig7_followers[] = {
    {{1, 1, 1, 4, 4, 5, 5, 6, 6}, 9},             /* (a) missing entries */
    {{1, 1, 1, 4}, 4},                            /* (b) missing more */
    {{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}, 11},      /* (c) an extra entry */
    {{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}, 12},   /* (d) extra entries of term 7 */
    {{1, 1, 1, 4, 4, 4, 4}, 7},                   /* (e) missing and extra */
    {{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}, 11},      /* (f) a leader of terms 2, 3 */
};

START_TEST(figure7_follower_logs_reconciled)
{
    struct fx f;
    fx_init(&f, 3, false, false);
    fx_set_log(&f, 1, fig7_leader, 10, 7);
    fx_set_log(&f, 2, fig7_followers[_i].terms, fig7_followers[_i].n, 7);
    fx_isolate(&f, 3, true);
    /* Server 1 campaigns for term 8; server 3's vote is forged (as etcd's
     * TestLeaderSyncFollowerLog does) because (d) may refuse, rightly. */
    fx_tick(&f, 1, 20);
    struct raft_msg grant = {.type = RAFT_MSG_VOTE_RESP, .from = 3, .to = 1, .term = 8};
    ck_assert_int_eq(raft_step(f.r[1], &grant), 0);
    fx_process(&f, 1);
    ck_assert_int_eq(fx_role(&f, 1), RAFT_LEADER);
    ck_assert_uint_eq(fx_status(&f, 1).term, 8);
    size_t delivered = fx_deliver_all(&f);
    fx_tick(&f, 1, 2); /* a heartbeat carries the final commit index */
    fx_deliver_all(&f);
    char want[128], got[128];
    ck_assert_str_eq(fx_log_terms(&f, 2, got, sizeof(got)), fx_log_terms(&f, 1, want, sizeof(want)));
    ck_assert_str_eq(want, "1 1 1 4 4 5 5 6 6 6 8");
    ck_assert_uint_eq(fx_status(&f, 2).commit, 11);
    /* Fast backtracking: a handful of round trips, not one per entry. */
    ck_assert_uint_le(delivered, 12);
    fx_free(&f);
}
END_TEST

/* ---- commitment: Figure 8 (§5.4.2) --------------------------------------------- */

START_TEST(figure8_no_commit_by_counting_old_term_replicas)
{
    struct fx f;
    fx_init(&f, 5, false, false);
    /* (c) of Figure 8: S1 and S2 hold index 2 of term 2, S5 index 2 of
     * term 3; S1 is about to lead term 4. */
    raft_term_t s1[] = {1, 2}, s3[] = {1}, s5[] = {1, 3};
    fx_set_log(&f, 1, s1, 2, 3);
    fx_set_log(&f, 2, s1, 2, 3);
    fx_set_log(&f, 3, s3, 1, 3);
    fx_set_log(&f, 4, s3, 1, 3);
    fx_set_log(&f, 5, s5, 2, 3);
    for (int id = 1; id <= 5; id++)
        f.opts[id].max_msg_entries = 1;
    for (int id = 1; id <= 5; id++)
        fx_crash_restart(&f, id);
    fx_isolate(&f, 4, true);
    fx_isolate(&f, 5, true);
    fx_tick(&f, 1, 20);
    for (int steps = 0; steps < 100 && fx_role(&f, 1) != RAFT_LEADER && fx_deliver_one(&f); steps++)
        continue;
    ck_assert_int_eq(fx_role(&f, 1), RAFT_LEADER);
    ck_assert_uint_eq(fx_status(&f, 1).term, 4);
    /* Replicate step by step; S3 first receives index 2 alone (one entry per
     * APPEND), which puts it on a majority (S1, S2, S3) without making it
     * committable. */
    bool seen_old_on_majority = false;
    for (int steps = 0; steps < 1000 && fx_deliver_one(&f); steps++) {
        struct raft_status s = fx_status(&f, 1);
        raft_index_t s3_match = 0;
        for (uint32_t i = 0; i < s.n_progress; i++)
            if (s.progress[i].id == 3)
                s3_match = s.progress[i].match;
        if (s3_match == 2) {
            seen_old_on_majority = true;
            ck_assert_uint_eq(s.commit, 0);
        }
        if (s.commit > 0)
            ck_assert_uint_ge(s3_match, 3); /* only the term-4 entry commits */
    }
    ck_assert(seen_old_on_majority);
    ck_assert_uint_eq(fx_status(&f, 1).commit, 3);
    fx_free(&f);
}
END_TEST

/* ---- persistence contract ---------------------------------------------------------- */

START_TEST(membership_change_waits_for_the_leaders_first_commit)
{
    /* Ongaro's 2015 correction to single-server changes: a new leader may
     * change the configuration only once an entry of its own term (the
     * no-op) is committed. */
    struct fx f;
    fx_init(&f, 1, true, true);
    f.manual_persist[1] = true;
    ck_assert(fx_elect(&f, 1));
    struct raft_status s = fx_status(&f, 1);
    ck_assert_uint_lt(s.commit, s.last_index); /* the no-op is not durable yet */
    ck_assert_int_eq(raft_change_membership(f.r[1], RAFT_ADD_LEARNER, 2, NULL),
                     RAFT_ECHANGE_PENDING);
    raft_persisted(f.r[1], s.last_index, s.term);
    ck_assert_uint_eq(fx_status(&f, 1).commit, s.last_index);
    ck_assert_int_eq(raft_change_membership(f.r[1], RAFT_ADD_LEARNER, 2, NULL), 0);
    fx_free(&f);
}
END_TEST

START_TEST(leader_counts_own_copy_only_once_persisted)
{
    struct fx f;
    fx_init(&f, 1, false, false);
    ck_assert(fx_elect(&f, 1));
    f.manual_persist[1] = true;
    raft_index_t i = propose_u64(&f, 1, 5);
    ck_assert_uint_lt(fx_status(&f, 1).commit, i);
    raft_persisted(f.r[1], i, 999); /* a report for another term is ignored */
    ck_assert_uint_lt(fx_status(&f, 1).commit, i);
    raft_persisted(f.r[1], i, fx_status(&f, 1).term);
    ck_assert_uint_eq(fx_status(&f, 1).commit, i);
    fx_free(&f);
}
END_TEST

START_TEST(follower_acknowledges_only_after_persist)
{
    struct fx f;
    fx_init(&f, 3, false, false);
    ck_assert(fx_elect(&f, 1));
    propose_u64(&f, 1, 5);
    /* The leader's APPENDs may leave before its own write is durable... */
    ck_assert_uint_gt(f.n_queue, 0);
    struct raft_msg append = f.queue[0].m;
    ck_assert_int_eq(append.type, RAFT_MSG_APPEND);
    ck_assert_int_eq(raft_step(f.r[append.to], &append), 0);
    struct raft_update u;
    raft_update_get(f.r[append.to], &u);
    /* ...but the follower's acknowledgement waits for its persist. */
    ck_assert_uint_eq(u.n_entries, 1);
    ck_assert_uint_eq(u.n_msgs, 0);
    ck_assert_uint_eq(u.n_msgs_after_persist, 1);
    ck_assert_int_eq(u.msgs_after_persist[0].type, RAFT_MSG_APPEND_RESP);
    fx_drop_queue(&f);
    fx_free(&f);
}
END_TEST

/* ---- leadership transfer (diss. §3.10) ------------------------------------------- */

START_TEST(transfer_moves_leadership)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    raft_term_t term = fx_status(&f, 1).term;
    fx_isolate(&f, 2, true);
    propose_u64(&f, 1, 1); /* 2 now lags: the transfer must catch it up */
    fx_deliver_all(&f);
    fx_isolate(&f, 2, false);
    ck_assert_int_eq(raft_transfer_leadership(f.r[1], 2), 0);
    ck_assert_int_eq(raft_propose(f.r[1], "x", 1, NULL), RAFT_ETRANSFER);
    fx_process(&f, 1);
    fx_deliver_all(&f);
    ck_assert_int_eq(fx_leader(&f), 2);
    ck_assert_uint_eq(fx_status(&f, 2).term, term + 1);
    ck_assert_int_eq(fx_role(&f, 1), RAFT_FOLLOWER);
    ck_assert_uint_eq(fx_status(&f, 1).leader, 2);
    fx_free(&f);
}
END_TEST

START_TEST(transfer_to_unreachable_server_times_out)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    fx_isolate(&f, 2, true);
    ck_assert_int_eq(raft_transfer_leadership(f.r[1], 2), 0);
    ck_assert_int_eq(raft_transfer_leadership(f.r[1], 9), RAFT_EUNKNOWN_SERVER);
    for (int i = 0; i < 12; i++) {
        fx_tick(&f, 1, 1);
        fx_tick(&f, 3, 1);
        fx_deliver_all(&f);
    }
    ck_assert_int_eq(fx_role(&f, 1), RAFT_LEADER);
    ck_assert_uint_eq(fx_status(&f, 1).transfer_to, 0); /* aborted */
    ck_assert_int_eq(raft_propose(f.r[1], "x", 1, NULL), 0);
    fx_process(&f, 1);
    fx_drop_queue(&f);
    fx_free(&f);
}
END_TEST

/* ---- membership changes (diss. §4) ------------------------------------------------ */

static int config_role(struct fx *f, int at, raft_id_t id)
{
    struct raft_status s = fx_status(f, at);
    const struct raft_server *srv = raft_config_find(&s.config, id);
    return srv == NULL ? -1 : srv->role;
}

START_TEST(membership_learner_catch_up_promote_remove)
{
    struct fx f;
    fx_init(&f, 4, true, true);
    /* Server 4 is a new machine: not in the bootstrap configuration. */
    memset(&f.disk[4].snapshot.config, 0, sizeof(f.disk[4].snapshot.config));
    struct raft_config three = f.disk[1].snapshot.config;
    three.n = 3;
    for (int id = 1; id <= 3; id++)
        f.disk[id].snapshot.config = three;
    for (int id = 1; id <= 4; id++)
        fx_crash_restart(&f, id);
    ck_assert(fx_elect(&f, 1));
    for (uint64_t v = 0; v < 5; v++)
        propose_u64(&f, 1, v);
    fx_deliver_all(&f);

    fx_isolate(&f, 4, true);
    raft_index_t at;
    ck_assert_int_eq(raft_change_membership(f.r[1], RAFT_ADD_LEARNER, 4, &at), 0);
    ck_assert_int_eq(config_role(&f, 1, 4), RAFT_LEARNER); /* in effect on append */
    ck_assert_int_eq(raft_change_membership(f.r[1], RAFT_REMOVE, 3, NULL), RAFT_ECHANGE_PENDING);
    fx_process(&f, 1);
    fx_deliver_all(&f);
    ck_assert_uint_ge(fx_status(&f, 1).commit, at);
    /* Still cut off: promotion must wait for the catch-up (diss. §4.2.1). */
    ck_assert_int_eq(raft_change_membership(f.r[1], RAFT_PROMOTE, 4, NULL), RAFT_ENOT_CAUGHT_UP);
    fx_isolate(&f, 4, false);
    fx_tick(&f, 1, 2);
    fx_deliver_all(&f);
    ck_assert_uint_eq(fx_status(&f, 4).last_index, fx_status(&f, 1).last_index);
    ck_assert_int_eq(config_role(&f, 4, 4), RAFT_LEARNER);
    /* A learner never campaigns. */
    fx_tick(&f, 4, 100);
    ck_assert_int_eq(fx_role(&f, 4), RAFT_FOLLOWER);
    fx_drop_queue(&f);

    ck_assert_int_eq(raft_change_membership(f.r[1], RAFT_PROMOTE, 4, &at), 0);
    fx_process(&f, 1);
    fx_deliver_all(&f);
    fx_tick(&f, 1, 2);
    fx_deliver_all(&f);
    ck_assert_int_eq(config_role(&f, 4, 4), RAFT_VOTER);
    ck_assert_uint_ge(fx_status(&f, 1).commit, at);

    /* Remove the leader itself: it steps down once that commits (§4.2.2). */
    ck_assert_int_eq(raft_change_membership(f.r[1], RAFT_REMOVE, 1, &at), 0);
    fx_process(&f, 1);
    fx_deliver_all(&f);
    ck_assert_int_eq(fx_role(&f, 1), RAFT_FOLLOWER);
    ck_assert_int_eq(config_role(&f, 2, 1), -1);
    /* The three remaining voters elect a leader among themselves. */
    int leader = 0;
    for (int i = 0; i < 200 && (leader = fx_leader(&f)) == 0; i++) {
        for (int id = 1; id <= 4; id++)
            fx_tick(&f, id, 1);
        fx_deliver_all(&f);
    }
    ck_assert_int_ge(leader, 2);
    ck_assert_int_eq(raft_propose(f.r[leader], "y", 1, NULL), 0);
    fx_process(&f, leader);
    fx_deliver_all(&f);
    ck_assert_int_eq(config_role(&f, leader, 1), -1);
    fx_free(&f);
}
END_TEST

/* ---- compaction and snapshots (§7) --------------------------------------------------- */

START_TEST(snapshot_sent_to_follower_behind_compaction)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    ck_assert(fx_elect(&f, 1));
    fx_isolate(&f, 3, true);
    for (uint64_t v = 0; v < 20; v++)
        propose_u64(&f, 1, v);
    fx_deliver_all(&f);
    struct raft_status s = fx_status(&f, 1);
    ck_assert_int_eq(raft_compact(f.r[1], s.applied + 1), RAFT_EINVAL); /* not applied yet */
    ck_assert_int_eq(raft_compact(f.r[1], s.applied - 2), 0);
    ck_assert_ptr_null(raft_entry_get(f.r[1], 5));
    fx_isolate(&f, 3, false);
    /* The leader notices 3's match stalled (two heartbeats), probes, and
     * finds the entries 3 needs compacted away. */
    for (int hb = 0; hb < 4; hb++) {
        fx_tick(&f, 1, 2);
        fx_deliver_all(&f);
    }
    ck_assert_int_eq(f.snapshots_installed[3], 1);
    struct raft_status s3 = fx_status(&f, 3);
    ck_assert_uint_eq(s3.snapshot_index, s.applied - 2);
    ck_assert_uint_eq(s3.last_index, fx_status(&f, 1).last_index);
    ck_assert_uint_eq(s3.commit, fx_status(&f, 1).commit);
    ck_assert_uint_eq(s3.config.n, 3);
    fx_free(&f);
}
END_TEST

/* ---- limits ---------------------------------------------------------------------------- */

START_TEST(uncommitted_budget_refuses_proposals)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    for (int id = 1; id <= 3; id++) {
        f.opts[id].max_uncommitted_bytes = 64;
        f.opts[id].max_entry_bytes = 16;
        fx_crash_restart(&f, id);
    }
    ck_assert(fx_elect(&f, 1));
    fx_isolate(&f, 1, true);
    int accepted = 0, rc = 0;
    for (int i = 0; i < 100 && (rc = raft_propose(f.r[1], "12345678", 8, NULL)) == 0; i++)
        accepted++;
    ck_assert_int_eq(rc, RAFT_EBUSY);
    ck_assert_int_eq(accepted, 8);
    ck_assert_int_eq(raft_propose(f.r[1], "0123456789abcdefX", 17, NULL), RAFT_ETOOBIG);
    /* Commitment frees the budget. */
    fx_process(&f, 1);
    fx_drop_queue(&f);
    fx_isolate(&f, 1, false);
    for (int hb = 0; hb < 3; hb++) {
        fx_tick(&f, 1, 2);
        fx_deliver_all(&f);
    }
    ck_assert_uint_eq(fx_status(&f, 1).uncommitted_bytes, 0);
    ck_assert_int_eq(raft_propose(f.r[1], "12345678", 8, NULL), 0);
    fx_process(&f, 1);
    fx_drop_queue(&f);
    fx_free(&f);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------------ */

START_TEST(malformed_messages_are_refused)
{
    struct fx f;
    fx_init(&f, 3, true, true);
    uint64_t v = 1;
    struct raft_entry e[2] = {{.term = 1, .index = 1, .type = RAFT_ENTRY_DATA, .len = 8, .data = &v},
                              {.term = 1, .index = 3, .type = RAFT_ENTRY_DATA, .len = 8, .data = &v}};
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 1, .index = 0,
                         .n_entries = 2, .entries = e};
    ck_assert_int_eq(raft_step(f.r[1], &m), RAFT_EMALFORMED); /* gap at index 2 */
    e[1].index = 2;
    e[1].term = 0;
    ck_assert_int_eq(raft_step(f.r[1], &m), RAFT_EMALFORMED); /* terms go down */
    e[1].term = 1;
    e[1].type = RAFT_ENTRY_CONFIG; /* not a valid configuration payload */
    ck_assert_int_eq(raft_step(f.r[1], &m), RAFT_EMALFORMED);
    e[1].type = 9;
    ck_assert_int_eq(raft_step(f.r[1], &m), RAFT_EMALFORMED);
    struct raft_msg bad = {.type = 42, .from = 2, .to = 1, .term = 1};
    ck_assert_int_eq(raft_step(f.r[1], &bad), RAFT_EMALFORMED);
    bad.type = RAFT_MSG_VOTE;
    bad.from = 0;
    ck_assert_int_eq(raft_step(f.r[1], &bad), RAFT_EMALFORMED);
    bad.from = 2;
    bad.to = 3;
    ck_assert_int_eq(raft_step(f.r[1], &bad), RAFT_EMALFORMED);
    /* Nothing changed. */
    struct raft_status s = fx_status(&f, 1);
    ck_assert_uint_eq(s.term, 0);
    ck_assert_uint_eq(s.last_index, 0);
    ck_assert(!raft_has_update(f.r[1]));
    fx_free(&f);
}
END_TEST

START_TEST(config_codec_round_trip_and_rejects)
{
    struct raft_config c = {.n = 3, .servers = {{1, RAFT_VOTER}, {7, RAFT_LEARNER}, {1ull << 40, 0}}};
    uint8_t buf[RAFT_CONFIG_ENCODED_MAX];
    size_t len = raft_config_encode(&c, buf);
    ck_assert_uint_eq(len, 4 + 3 * 9);
    struct raft_config d;
    ck_assert_int_eq(raft_config_decode(buf, len, &d), 0);
    ck_assert_mem_eq(&c, &d, sizeof(c));
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_eq(raft_config_decode(buf, cut, &d), RAFT_EMALFORMED);
    buf[4 + 9 + 8] = 2; /* unknown role */
    ck_assert_int_eq(raft_config_decode(buf, len, &d), RAFT_EMALFORMED);
    c.servers[1].id = 1; /* duplicate id */
    len = raft_config_encode(&c, buf);
    ck_assert_int_eq(raft_config_decode(buf, len, &d), RAFT_EMALFORMED);
    ck_assert_str_eq(raft_strerror(RAFT_EBUSY), "too many uncommitted bytes; retry later");
}
END_TEST

START_TEST(options_and_restore_validated)
{
    struct raft_options o;
    raft_options_default(&o, 1, 1);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    struct raft *r = NULL;
    o.heartbeat_ticks = o.election_ticks_min;
    ck_assert_int_eq(raft_create(&r, &o, &rs), RAFT_EINVAL);
    raft_options_default(&o, 0, 1);
    ck_assert_int_eq(raft_create(&r, &o, &rs), RAFT_EINVAL);
    raft_options_default(&o, 1, 1);
    struct raft_entry e = {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP};
    rs.entries = &e;
    rs.n_entries = 1;
    rs.hard_state.term = 2;
    ck_assert_int_eq(raft_create(&r, &o, &rs), RAFT_EINVAL); /* index 2 after snapshot 0 */
    e.index = 1;
    rs.hard_state.term = 1;
    rs.hard_state.vote = 3;
    rs.hard_state.commit = 5;
    /* The hard state lost in a crash after the entries landed: the server
     * adopts the log's term with no vote, and says so in its first update. */
    ck_assert_int_eq(raft_create(&r, &o, &rs), 0);
    struct raft_status s;
    raft_status(r, &s);
    ck_assert_uint_eq(s.term, 2);
    ck_assert_uint_eq(s.vote, 0);
    ck_assert_uint_eq(s.commit, 1); /* clamped to the log */
    ck_assert_uint_eq(s.persisted, 1);
    ck_assert(raft_has_update(r));
    struct raft_update u;
    raft_update_get(r, &u);
    ck_assert(u.hard_state_changed);
    ck_assert_uint_eq(u.hard_state.term, 2);
    ck_assert_uint_eq(u.hard_state.vote, 0);
    raft_destroy(r);
}
END_TEST

Suite *raft_suite(void)
{
    Suite *s = suite_create("raft");
    TCase *tc = tcase_create("paper");
    tcase_add_test(tc, election_golden_trace);
    tcase_add_test(tc, election_single_server_leads_itself);
    tcase_add_test(tc, election_follower_not_in_config_never_campaigns);
    tcase_add_test(tc, vote_one_per_term_and_persisted_first);
    tcase_add_test(tc, vote_refused_to_stale_term);
    tcase_add_test(tc, vote_refused_to_less_up_to_date_log);
    tcase_add_test(tc, vote_survives_restart);
    tcase_add_test(tc, prevote_partitioned_server_keeps_its_term);
    tcase_add_test(tc, without_prevote_partitioned_server_disrupts);
    tcase_add_test(tc, prevote_denied_while_leader_lease_holds);
    tcase_add_test(tc, prevote_tie_between_equal_logs_goes_to_lower_id);
    tcase_add_test(tc, check_quorum_leader_steps_down);
    tcase_add_test(tc, check_quorum_leader_with_majority_stays);
    tcase_add_loop_test(tc, figure7_follower_logs_reconciled, 0, 6);
    tcase_add_test(tc, figure8_no_commit_by_counting_old_term_replicas);
    tcase_add_test(tc, membership_change_waits_for_the_leaders_first_commit);
    tcase_add_test(tc, leader_counts_own_copy_only_once_persisted);
    tcase_add_test(tc, follower_acknowledges_only_after_persist);
    tcase_add_test(tc, transfer_moves_leadership);
    tcase_add_test(tc, transfer_to_unreachable_server_times_out);
    tcase_add_test(tc, membership_learner_catch_up_promote_remove);
    tcase_add_test(tc, snapshot_sent_to_follower_behind_compaction);
    tcase_add_test(tc, uncommitted_budget_refuses_proposals);
    tcase_add_test(tc, malformed_messages_are_refused);
    tcase_add_test(tc, config_codec_round_trip_and_rejects);
    tcase_add_test(tc, options_and_restore_validated);
    suite_add_tcase(s, tc);
    return s;
}
