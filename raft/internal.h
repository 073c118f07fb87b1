/* The core's private state, shared by raft.c, election.c and replication.c. */
#ifndef RAFTMQ_RAFT_INTERNAL_H
#define RAFTMQ_RAFT_INTERNAL_H

#include "log.h"
#include "raft.h"

/* Hard bounds behind the options (which are clamped to them). */
#define RAFT_INFLIGHT_MAX 256
#define RAFT_OUTBOX_MAX 8192

enum raft_progress_state {
    RAFT_PROBE = 0,     /* one APPEND at a time until the match point is found */
    RAFT_REPLICATE = 1, /* pipelined APPENDs, up to max_inflight */
    RAFT_SNAPSHOT = 2,  /* waiting for the host to deliver a snapshot */
};

/* The leader's view of one other server (etcd's tracker.Progress). */
struct raft_progress {
    raft_id_t id;
    raft_index_t match; /* highest index known replicated (and persisted) there */
    raft_index_t next;  /* next index to send */
    uint8_t state;
    bool recent_active; /* heard from within the current check-quorum period */
    bool probe_sent;    /* probe state: an APPEND is outstanding */
    /* Last index of each pipelined APPEND in flight, in sending order. The
     * window survives probe/replicate switches, so APPENDs of an earlier
     * window still travelling count against the bound until acknowledged
     * (or until a stall shows them lost); see replication.c. */
    raft_index_t inflight[RAFT_INFLIGHT_MAX];
    uint32_t n_inflight;
    raft_index_t pending_snapshot; /* snapshot state: its last index */
    uint32_t snapshot_elapsed;     /* ticks since the snapshot was sent */
    raft_index_t match_at_heartbeat; /* match when the last heartbeat went out */
    uint32_t stalled_heartbeats;     /* heartbeats since match last moved */
};

/* Messages queued for the next update. Their entry headers sit in
 * `entries`, message after message, so each message's entries follow from
 * the counts of those before it (linked when the update is handed out). */
struct raft_outbox {
    struct raft_msg *msgs;
    size_t n, cap;
    struct raft_entry *entries;
    size_t n_entries, cap_entries;
};

struct raft_vote {
    raft_id_t id;
    bool granted;
};

struct raft {
    struct raft_options o;
    uint64_t rng;

    /* persistent state (§5, Figure 2) */
    raft_term_t term;
    raft_id_t vote;
    struct raft_log log;

    /* volatile state */
    int role;
    raft_id_t leader;
    raft_index_t commit;
    raft_index_t applied;   /* handed to the host as committed */
    raft_index_t persisted; /* durable locally, per raft_persisted */
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t randomized_timeout;

    /* configuration in effect: the latest in the log, else the snapshot's */
    struct raft_config config;
    raft_index_t config_index;
    struct raft_config snapshot_config;

    /* candidate / pre-candidate */
    uint32_t n_votes;
    struct raft_vote votes[RAFT_SERVERS_MAX];

    /* leader */
    uint32_t n_progress;
    struct raft_progress progress[RAFT_SERVERS_MAX];
    raft_id_t transfer_to;
    uint32_t transfer_elapsed;
    raft_index_t pending_config_index;
    uint64_t uncommitted_bytes;
    bool append_pending; /* proposals not yet broadcast */

    /* output not yet handed to the host */
    bool hard_state_dirty;
    bool snapshot_dirty;
    struct raft_snapshot_meta snapshot_out;
    raft_index_t truncate_from;
    raft_index_t unstable_from; /* entries >= this still have to be handed out */
    struct raft_outbox now;
    struct raft_outbox after_persist;
    struct raft_entry *scratch; /* update.entries then update.committed */
    size_t cap_scratch;
    uint64_t msgs_dropped; /* outbox overflow: counted like network loss */
};

/* raft.c */
void raft_send(struct raft *r, const struct raft_msg *m, raft_index_t first_entry,
               uint32_t n_entries);
void raft_become_follower(struct raft *r, raft_term_t term, raft_id_t leader);
void raft_reset_election_timer(struct raft *r);
bool raft_is_voter(const struct raft *r, raft_id_t id);
uint32_t raft_quorum(const struct raft *r);
int raft_append_entry(struct raft *r, raft_term_t term, uint8_t type, const void *data, uint32_t len);
void raft_recompute_config(struct raft *r);
void raft_truncate_suffix(struct raft *r, raft_index_t from);
struct raft_progress *raft_progress_find(struct raft *r, raft_id_t id);

/* election.c */
void raft_start_election(struct raft *r, bool transfer);
void raft_become_leader(struct raft *r);
int raft_step_vote(struct raft *r, const struct raft_msg *m);
int raft_step_vote_resp(struct raft *r, const struct raft_msg *m);
bool raft_in_lease(const struct raft *r);

/* replication.c */
void raft_progress_reset_all(struct raft *r);
void raft_progress_sync(struct raft *r);
void raft_sync_follower(struct raft *r, struct raft_progress *pr);
void raft_broadcast_append(struct raft *r);
void raft_broadcast_heartbeat(struct raft *r);
bool raft_maybe_commit(struct raft *r);
void raft_leader_tick_snapshots(struct raft *r);
int raft_step_append(struct raft *r, const struct raft_msg *m);
int raft_step_append_resp(struct raft *r, const struct raft_msg *m);
int raft_step_snapshot(struct raft *r, const struct raft_msg *m);
void raft_send_timeout_now(struct raft *r, raft_id_t to);

#endif
