/*
 * The Raft core: one Raft group as a pure state machine.
 *
 * No sockets, files, clock or threads, no global state: time arrives as
 * ticks, randomness from a PRNG seeded by the caller, messages and storage
 * requests leave as data in a `struct raft_update`. The host (the broker, or
 * the simulator in tests/sim/) carries them out. References: the Raft paper
 * (Ongaro & Ousterhout, "In Search of an Understandable Consensus
 * Algorithm", 2014), cited as §N, and Ongaro's dissertation ("Consensus:
 * Bridging Theory and Practice", 2014), cited as "diss. §N".
 *
 * ---------------------------------------------------------------------------
 * The contract: what the host must do, in which order
 * ---------------------------------------------------------------------------
 *
 * Inputs (each may produce output):
 *   raft_tick        one unit of time has passed (the broker uses 1 ms)
 *   raft_step        a message from a peer arrived
 *   raft_propose     a client wants an entry replicated (leader only)
 *   raft_persisted   the host's storage made entries durable up to an index
 *   raft_transfer_leadership, raft_change_membership, raft_compact,
 *   raft_snapshot_failed
 *
 * After any input, while raft_has_update() is true, the host calls
 * raft_update_get() and carries the update out IN THIS ORDER:
 *
 *   1. Persist, in this order:
 *      a. `snapshot` (if non-NULL): install the snapshot content the host
 *         received for it (the core carries only its metadata) and drop every
 *         stored entry; the log now starts after snapshot->last_index.
 *      b. `truncate_from` (if non-zero): drop stored entries >= that index.
 *      c. `entries`: append them (contiguous, following what is stored).
 *      d. `hard_state` (if `hard_state_changed`): store term, vote, commit.
 *      Entries and hard state may be written asynchronously (group commit),
 *      but each update's writes must become durable in update order. A
 *      crash between c and d (entries durable, hard state not) is
 *      tolerated: raft_create then adopts the log's last term, with no
 *      vote, and asks for the hard state to be stored again.
 *   2. Send `msgs` now, in any order, possibly before step 1 is durable
 *      (the leader writes its log in parallel with replicating it, diss.
 *      §10.2.1; this is safe because the leader counts its own copy only
 *      once raft_persisted() says so).
 *   3. Send `msgs_after_persist` only once everything step 1 asked for, in
 *      this update and every earlier one, is durable. These are votes,
 *      vote requests and append acknowledgements: a vote must not outlive a
 *      forgotten hard state, and an acknowledgement tells the leader the
 *      entries survive a crash.
 *   4. Apply `committed` entries to the state machine in index order (for
 *      the broker: advance the high watermark, answer producers). Committed
 *      entries are durable on a majority; they may not yet be durable
 *      locally, which is fine: they can always be re-fetched from the
 *      majority.
 *   5. When the appended entries become durable, call
 *      raft_persisted(r, last_index, last_term) with the index and term of
 *      the last durable entry (after a snapshot install, its last index and
 *      term). Reports that no longer match the log (it was truncated since)
 *      are ignored, which is safe: a later report covers them.
 *
 * Every pointer inside an update (entries, messages, their entries, payload
 * bytes) points into memory the core owns and stays valid only until the
 * next call into the core other than raft_entry_get / raft_status /
 * raft_brief_status / raft_role_name. Copy or write what you need before
 * calling again.
 *
 * Message delivery may lose, duplicate, reorder and delay messages: the core
 * tolerates all four. Messages are addressed by server id; the host maps ids
 * to peers. A message to an unknown peer may simply be dropped.
 *
 * Snapshots: the core only carries snapshot metadata. When a follower needs
 * entries the leader has compacted away (raft_compact), the leader emits a
 * RAFT_MSG_SNAPSHOT; the host transfers the snapshot content (for the
 * broker: the partition log up to last_index) however it likes, and on the
 * receiving side calls raft_step() with that message once the content is
 * complete. If the transfer fails the leader's host calls
 * raft_snapshot_failed(); a transfer that never answers is retried after an
 * election timeout.
 *
 * Errors: functions return 0 or a negative RAFT_E* code; raft_strerror()
 * names it. Invalid input from the network (a malformed message) is an
 * error, never an assertion failure. Broken internal invariants abort via
 * RAFT_ASSERT (raft/invariant.h), on in every build (TigerBeetle style).
 */
#ifndef RAFTMQ_RAFT_RAFT_H
#define RAFTMQ_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t raft_term_t;
typedef uint64_t raft_index_t;
/* Server ids are non-zero; 0 means "none" (no vote, no known leader). */
typedef uint64_t raft_id_t;

/* ---- limits -------------------------------------------------------------- */

/* Servers in one configuration (voters plus learners). */
#define RAFT_SERVERS_MAX 9
/* A single entry's payload; larger proposals fail with RAFT_ETOOBIG. */
#define RAFT_ENTRY_BYTES_MAX (8u * 1024 * 1024)

/* ---- errors -------------------------------------------------------------- */

#define RAFT_ERRORS(X)                                                          \
    X(RAFT_ENOTLEADER, -1, "this server is not the leader")                    \
    X(RAFT_EBUSY, -2, "too many uncommitted bytes; retry later")                \
    X(RAFT_ETOOBIG, -3, "entry larger than the configured limit")               \
    X(RAFT_ETRANSFER, -4, "leadership transfer in progress")                    \
    X(RAFT_EINVAL, -5, "invalid argument")                                      \
    X(RAFT_EMALFORMED, -6, "malformed message")                                 \
    X(RAFT_ECHANGE_PENDING, -7, "a membership change is still uncommitted")     \
    X(RAFT_EUNKNOWN_SERVER, -8, "no such server in the configuration")          \
    X(RAFT_ENOT_CAUGHT_UP, -9, "the learner has not caught up yet")             \
    X(RAFT_ENOMEM, -10, "out of memory")                                        \
    X(RAFT_ECOMPACTED, -11, "index already compacted away")

enum raft_error {
#define RAFT_ERROR_ENUM(name, value, text) name = value,
    RAFT_ERRORS(RAFT_ERROR_ENUM)
#undef RAFT_ERROR_ENUM
};

const char *raft_strerror(int err);

/* ---- entries, configurations, hard state --------------------------------- */

enum raft_entry_type {
    RAFT_ENTRY_NOOP = 0,   /* appended by each new leader (§5.4.2, §8) */
    RAFT_ENTRY_DATA = 1,   /* the host's payload (a record batch, a metadata op) */
    RAFT_ENTRY_CONFIG = 2, /* a configuration, encoded by raft_config_encode */
};

struct raft_entry {
    raft_term_t term;
    raft_index_t index;
    uint8_t type; /* enum raft_entry_type */
    uint32_t len;
    const void *data; /* owned by the core; see the lifetime rule above */
};

enum raft_server_role {
    RAFT_VOTER = 0,
    RAFT_LEARNER = 1, /* receives the log, does not vote or count for commit */
};

struct raft_server {
    raft_id_t id;
    uint8_t role; /* enum raft_server_role */
};

struct raft_config {
    uint32_t n;
    struct raft_server servers[RAFT_SERVERS_MAX];
};

/* Bytes raft_config_encode writes at most. */
#define RAFT_CONFIG_ENCODED_MAX (4 + RAFT_SERVERS_MAX * 9)

/* The payload of a RAFT_ENTRY_CONFIG entry (also fine for storing snapshot
 * metadata): returns bytes written. Decode returns RAFT_EMALFORMED on bad
 * input. */
size_t raft_config_encode(const struct raft_config *c, uint8_t out[RAFT_CONFIG_ENCODED_MAX]);
int raft_config_decode(const void *buf, size_t len, struct raft_config *out);
const struct raft_server *raft_config_find(const struct raft_config *c, raft_id_t id);
uint32_t raft_config_voters(const struct raft_config *c);

struct raft_hard_state {
    raft_term_t term;
    raft_id_t vote; /* 0: no vote in `term` */
    raft_index_t commit; /* optional to restore; saves re-learning it */
};

struct raft_snapshot_meta {
    raft_index_t last_index;
    raft_term_t last_term;
    struct raft_config config; /* the configuration as of last_index */
};

/* ---- messages ------------------------------------------------------------ */

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,        /* AppendEntries (§5.3); also the heartbeat */
    RAFT_MSG_APPEND_RESP = 2,
    RAFT_MSG_VOTE = 3,          /* RequestVote (§5.2) */
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_PREVOTE = 5,       /* diss. §9.6: would you vote for me? */
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_SNAPSHOT = 7,      /* InstallSnapshot (§7), metadata only */
    RAFT_MSG_TIMEOUT_NOW = 8,   /* leadership transfer (diss. §3.10) */
};

/*
 * One message. Field meaning by type:
 *   APPEND:       index = prev log index, log_term = its term, commit =
 *                 leader's commit, entries = what follows prev.
 *   APPEND_RESP:  reject = false: index = last index now known to match the
 *                 leader (answers SNAPSHOT too). reject = true: index = the
 *                 prev log index that did not match; hint_index = the
 *                 follower's largest index <= min(prev, its last) whose
 *                 term is <= the leader's prev term, hint_term = that term:
 *                 the leader retries from there (fast backtracking, §5.3).
 *   VOTE/PREVOTE: index/log_term = candidate's last log index and term;
 *                 term = the term campaigned for (for PREVOTE, the
 *                 candidate's term + 1, which it has not yet entered);
 *                 transfer = campaign caused by TimeoutNow, voters do not
 *                 apply the leader lease.
 *   *_VOTE_RESP:  reject = vote refused; for PREVOTE_RESP term is the term
 *                 asked about (granted) or the voter's term (refused).
 *   SNAPSHOT:     snapshot = metadata of the snapshot the host transfers.
 *   TIMEOUT_NOW:  no fields.
 */
struct raft_msg {
    uint8_t type; /* enum raft_msg_type */
    bool reject;
    bool transfer;
    raft_id_t from;
    raft_id_t to;
    raft_term_t term;
    raft_index_t index;
    raft_term_t log_term;
    raft_index_t commit;
    raft_index_t hint_index;
    raft_term_t hint_term;
    uint32_t n_entries;
    const struct raft_entry *entries;
    struct raft_snapshot_meta snapshot;
};

/* ---- options, restore ---------------------------------------------------- */

struct raft_options {
    raft_id_t id;
    uint64_t seed; /* seeds the election-timeout PRNG; vary it per server */
    /* Election timeout drawn uniformly from [min, max) ticks (§5.2, §9.3). */
    uint32_t election_ticks_min; /* default 150 */
    uint32_t election_ticks_max; /* default 300 */
    uint32_t heartbeat_ticks;    /* default 30; must be < election_ticks_min */
    bool pre_vote;               /* default true (set by raft_options_default) */
    bool check_quorum;           /* default true */
    /* Byte budget of the entries in one APPEND (at least one entry is sent). */
    uint32_t max_msg_bytes;      /* default 1 MiB */
    uint32_t max_msg_entries;    /* default 4096 */
    /* APPENDs in flight to one follower in replicate state. */
    uint32_t max_inflight;       /* default 64 */
    /* Payload bytes proposed but not committed; past it RAFT_EBUSY. */
    uint64_t max_uncommitted_bytes; /* default 64 MiB */
    uint32_t max_entry_bytes;    /* default RAFT_ENTRY_BYTES_MAX */
    /* A follower in snapshot state that has not answered for this long is
     * probed again (and so sent the snapshot again). */
    uint32_t snapshot_timeout_ticks; /* default 30000 */
};

void raft_options_default(struct raft_options *o, raft_id_t id, uint64_t seed);

/*
 * What the host stored before a restart (all zero for a brand-new server).
 * A new cluster is bootstrapped by giving every initial server the same
 * snapshot {last_index 0, last_term 0, config = the initial servers}. A server
 * joining later starts with an empty configuration and learns it from the
 * leader.
 */
struct raft_restore {
    struct raft_hard_state hard_state;
    struct raft_snapshot_meta snapshot;
    const struct raft_entry *entries; /* after snapshot.last_index, contiguous */
    uint32_t n_entries;
};

/* ---- lifecycle and inputs ------------------------------------------------ */

struct raft;

/* Entries given in `restore` are copied; they count as persisted. */
int raft_create(struct raft **out, const struct raft_options *o, const struct raft_restore *restore);
void raft_destroy(struct raft *r);

void raft_tick(struct raft *r);
int raft_step(struct raft *r, const struct raft_msg *m);
/* Appends a RAFT_ENTRY_DATA entry; *index (may be NULL) receives its index. */
int raft_propose(struct raft *r, const void *data, uint32_t len, raft_index_t *index);
void raft_persisted(struct raft *r, raft_index_t index, raft_term_t term);
int raft_transfer_leadership(struct raft *r, raft_id_t to);

enum raft_change {
    RAFT_ADD_LEARNER = 1, /* a new server starts as a learner and catches up */
    RAFT_PROMOTE = 2,     /* learner -> voter, refused until it has caught up */
    RAFT_REMOVE = 3,      /* voter or learner leaves (the leader may remove itself) */
};
/* Single-server change (diss. §4.1): one at a time, in effect once
 * appended. *index (may be NULL) receives the config entry's index. */
int raft_change_membership(struct raft *r, enum raft_change change, raft_id_t id, raft_index_t *index);

/* Discards entries <= index (which must be applied); followers that need
 * them afterwards are sent a snapshot with last_index = index. */
int raft_compact(struct raft *r, raft_index_t index);
/* The host could not deliver the snapshot to `to`; retry from probing. */
void raft_snapshot_failed(struct raft *r, raft_id_t to);

/* ---- output -------------------------------------------------------------- */

struct raft_update {
    /* 1. persist */
    const struct raft_snapshot_meta *snapshot; /* NULL: nothing to install */
    raft_index_t truncate_from;                /* 0: no truncation */
    const struct raft_entry *entries;
    uint32_t n_entries;
    bool hard_state_changed;
    struct raft_hard_state hard_state;
    /* 2. and 3. send */
    const struct raft_msg *msgs;
    uint32_t n_msgs;
    const struct raft_msg *msgs_after_persist;
    uint32_t n_msgs_after_persist;
    /* 4. apply: indexes committed_first..committed_last (0, 0: none) */
    raft_index_t committed_first;
    raft_index_t committed_last;
    const struct raft_entry *committed;
};

bool raft_has_update(const struct raft *r);
/* Hands everything pending to the host (see the contract above). */
void raft_update_get(struct raft *r, struct raft_update *u);

/* ---- inspection ---------------------------------------------------------- */

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

const char *raft_role_name(int role);

struct raft_progress_status {
    raft_id_t id;
    raft_index_t match;
    raft_index_t next;
    uint8_t state; /* 0 probe, 1 replicate, 2 snapshot */
    bool recent_active;
};

struct raft_status {
    raft_id_t id;
    int role;
    raft_term_t term;
    raft_id_t vote;
    raft_id_t leader; /* 0: unknown */
    raft_index_t first_index; /* first entry held in memory */
    raft_index_t last_index;
    raft_term_t last_term;
    raft_index_t commit;
    raft_index_t applied;   /* handed to the host in an update */
    raft_index_t persisted; /* reported by raft_persisted */
    raft_index_t snapshot_index;
    raft_term_t snapshot_term;
    uint64_t uncommitted_bytes;
    raft_id_t transfer_to;  /* 0: no transfer in progress */
    uint64_t msgs_dropped;  /* outbox overflow (RAFT_OUTBOX_MAX per update), like loss */
    struct raft_config config;
    uint32_t n_progress;    /* leader only */
    struct raft_progress_status progress[RAFT_SERVERS_MAX];
};

void raft_status(const struct raft *r, struct raft_status *s);

/* The part of raft_status a host looks at after every update or request,
 * without copying the configuration and progress. */
struct raft_brief_status {
    int role;
    raft_term_t term;
    raft_id_t leader;
    uint64_t uncommitted_bytes;
};
void raft_brief_status(const struct raft *r, struct raft_brief_status *s);
/* The entry at `index` if the core still holds it, else NULL. */
const struct raft_entry *raft_entry_get(const struct raft *r, raft_index_t index);

#endif
