/*
 * The deterministic Raft simulator: N cores of raft/ in one process, one
 * seed. Shared types of the simulator's three files:
 *
 *   sim.c    the world: event queue, network, per-node host (storage with
 *            pending writes, state machine), faults, the fault and liveness
 *            phases of one seed, the election benchmark's cluster driving
 *   check.c  the safety checkers (global committed log, log matching table,
 *            leader per term) and the trace ring
 *   main.c   the command line, the seed loop, SIGABRT capture, the election
 *            benchmark's statistics
 *
 * Nothing here reads the wall clock or libc's rand(): one seed determines
 * everything, so a failing seed replays exactly. See docs/testing.md,
 * "Raft simulator".
 */
#ifndef RAFTMQ_TESTS_SIM_SIM_H
#define RAFTMQ_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raft/raft.h"

/* ---- limits ---------------------------------------------------------------- */

/* 5 initial voters plus up to 2 spare servers for membership changes. */
#define SIM_NODES_MAX 7
/* Events queued at once (messages in flight, ticks, storage completions);
 * a message that does not fit is dropped (counted as loss). */
#define SIM_QUEUE_MAX 16384
/* Trace ring: the last events printed when a seed fails. */
#define SIM_TRACE_RING 64
/* Terms and indexes beyond these end the seed as a simulator limit error. */
#define SIM_TERM_MAX (1u << 20)
#define SIM_INDEX_MAX (1u << 22)
/* Payload sizes: 8-byte ids, sometimes padded up to this. */
#define SIM_BIG_PAYLOAD_MAX 4096
/* Events between two full sweeps of every log against the checkers' tables. */
#define SIM_SWEEP_EVERY 256

/* ---- PRNG: splitmix64 ------------------------------------------------------ */

struct sim_rng {
    uint64_t s;
};

static inline uint64_t sim_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rng_next(struct sim_rng *g)
{
    g->s += 0x9e3779b97f4a7c15ull;
    return sim_mix64(g->s);
}

/* Uniform in [0, n); n > 0. The modulo bias is irrelevant here. */
static inline uint64_t rng_below(struct sim_rng *g, uint64_t n)
{
    return rng_next(g) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(struct sim_rng *g, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(g, hi - lo + 1);
}

/* True with probability ppm / 1,000,000. */
static inline bool rng_ppm(struct sim_rng *g, uint32_t ppm)
{
    return ppm != 0 && rng_below(g, 1000000) < ppm;
}

/* ---- the fault mix of one seed ("swarm" parameters) ------------------------ */

struct sim_swarm {
    uint32_t n;             /* initial voters, ids 1..n */
    uint32_t spares;        /* extra servers n+1.. that start with no config */
    uint64_t tick_us;       /* simulated time per raft_tick */
    struct raft_options opt; /* id and seed are set per node */
    uint32_t delay_min_us, delay_max_us; /* one-way message delay */
    uint32_t spike_ppm, spike_max_us;    /* occasional long delay (reordering) */
    uint32_t loss_ppm, dup_ppm;
    uint32_t partition_ppm; /* per chaos step: start a partition */
    uint32_t heal_ppm;      /* per chaos step: heal every link */
    bool asymmetric;        /* partitions cut one direction of random links */
    uint32_t crash_ppm, restart_ppm;
    uint32_t persist_max_us; /* storage delay, uniform in [0, max] per update */
    uint32_t propose_ppm, big_ppm, wrong_node_ppm;
    uint32_t burst;         /* proposals per proposing chaos step */
    uint32_t transfer_ppm, member_ppm, compact_ppm;
    uint32_t drift_ppm;     /* each node's clock runs up to this fast or slow */
    uint32_t torn_ppm;      /* a crash lands a random prefix of the pending writes */
};

/* ---- network --------------------------------------------------------------- */

/* A snapshot's content: the DATA entries of a state machine up to last_index
 * (refcounted, immutable once built). */
struct sim_smrec {
    raft_index_t index;
    uint64_t id;  /* the payload's first 8 bytes */
    uint32_t len; /* the payload's length */
};

struct sim_content {
    uint32_t refs;
    raft_index_t last_index;
    uint32_t n;
    struct sim_smrec recs[];
};

/* A message in flight: a deep copy (entries and payload in the same block). */
struct sim_msg {
    struct raft_msg m;
    struct sim_content *content; /* SNAPSHOT only */
    bool lost; /* a lost SNAPSHOT: reported to the sender at "arrival" */
};

/* ---- storage --------------------------------------------------------------- */

/* What one update (or one host compaction) asked storage to do; durable when
 * `due` passes, in queue order. */
struct sim_batch {
    struct sim_batch *next;
    uint64_t due;
    bool install;                    /* a. snapshot received from a leader */
    bool compact;                    /* host compaction: keep entries after it */
    bool compact_pending;            /* (batch_apply's progress through it) */
    struct raft_snapshot_meta snap;  /* install or compact */
    struct sim_content *content;
    raft_index_t truncate_from;      /* b. */
    struct raft_entry *ents;         /* c. copies, data malloc'd */
    uint32_t n_ents;
    bool hs_changed;                 /* d. */
    struct raft_hard_state hs;
    struct sim_msg **held;           /* msgs_after_persist */
    uint32_t n_held;
};

struct sim_cfgrec {
    raft_index_t index;
    struct raft_config c;
};

struct sim_node {
    raft_id_t id;
    struct raft *r; /* NULL while crashed */
    uint32_t inc;   /* incarnation: bumps on crash, invalidates queued events */
    uint64_t tick_us; /* this incarnation's tick period (clock drift) */

    /* durable storage: survives crashes */
    struct raft_hard_state d_hs;
    struct raft_snapshot_meta d_snap;
    struct sim_content *d_content;
    struct raft_entry *d_log; /* d_snap.last_index + 1 ... */
    uint32_t d_n, d_cap;

    /* pending writes of this incarnation, oldest first */
    struct sim_batch *pq_head, *pq_tail;
    uint64_t pq_last_due;

    /* state machine of this incarnation: applied DATA entries, configs */
    raft_index_t sm_applied;
    bool probe_seen; /* applied a liveness probe */
    struct sim_smrec *sm;
    uint32_t sm_n, sm_cap;
    struct sim_cfgrec *cfgs;
    uint32_t cfg_n, cfg_cap;
    struct sim_content *sm_cache; /* last content built for a SNAPSHOT message */
    struct sim_content *rx_content; /* received with a SNAPSHOT, not yet installed */

    /* what the checkers last saw of this incarnation (raft_status) */
    int role;
    raft_term_t term;
    raft_id_t vote;
    raft_index_t commit;
    raft_term_t hs_term; /* last hard state handed out in this incarnation */
    raft_id_t hs_vote;
    uint64_t down_since;
};

/* ---- trace ----------------------------------------------------------------- */

enum sim_trace_kind {
    TR_SEND = 1, TR_DELIVER, TR_DROP, TR_ROLE, TR_CRASH, TR_RESTART, TR_PARTITION,
    TR_CUT, TR_HEAL, TR_PROPOSE, TR_PERSIST, TR_COMMIT, TR_APPLY, TR_TRANSFER,
    TR_MEMBER, TR_COMPACT, TR_INSTALL, TR_PHASE, TR_ERROR,
};

struct sim_trace {
    uint64_t t;
    uint8_t kind;
    uint8_t node, peer, mtype;
    int32_t err;
    uint64_t a, b, c, d, e;
};

/* ---- checkers' state --------------------------------------------------------- */

/* The one committed log all nodes must agree on, indexed by Raft index. */
struct sim_gent {
    raft_term_t term;  /* 0: not known to be committed (yet) */
    raft_term_t cterm; /* lowest term of a node that saw it committed */
    uint64_t fp;       /* entry fingerprint: type, length, payload */
    uint8_t type;
};

/* Every (index, term) ever appended anywhere: its fingerprint and the term of
 * its predecessor (the inductive form of the Log Matching Property). */
struct sim_lment {
    raft_index_t index; /* 0: empty slot */
    raft_term_t term;
    raft_term_t prev_term;
    uint64_t fp;
};

/* ---- events ---------------------------------------------------------------- */

enum sim_ev_kind {
    EV_TICK = 1,    /* node ticks */
    EV_DELIVER,     /* msg arrives at msg->m.to */
    EV_PERSIST,     /* node's oldest pending batch becomes durable */
    EV_CHAOS,       /* the driver: proposals and faults */
};

struct sim_ev {
    uint64_t t;
    uint64_t seq; /* FIFO among equal times */
    struct sim_msg *msg;
    uint32_t inc;
    uint8_t kind;
    uint8_t node; /* index into sim.node */
};

/* What a run exercised (summed over seeds by main.c). */
struct sim_stats {
    uint64_t leaders, crashes, restarts, partitions, msgs, lost, snapshots_sent, installs,
        compactions, proposals_ok, proposals_refused, busy, members_ok, transfers_ok,
        truncations, commits;
};

/* ---- the world --------------------------------------------------------------- */

struct sim {
    uint64_t seed;
    struct sim_rng rng;
    struct sim_swarm sw;
    uint32_t nn; /* nodes: sw.n + sw.spares */
    struct sim_node node[SIM_NODES_MAX];
    uint64_t now;    /* microseconds */
    uint64_t events; /* events processed in this seed */
    uint64_t next_payload;
    bool faults;     /* fault phase (chaos on) */
    bool cut[SIM_NODES_MAX][SIM_NODES_MAX]; /* cut[a][b]: a -> b is lost */
    bool verbose;
    /* --no-vote-checks: only to show that the other checkers catch a
     * double vote too (docs/testing.md) */
    bool vote_checks;
    /* --torn-writes: a crash may land a prefix of the pending writes */
    bool torn_writes;

    /* the event queue: a binary heap */
    struct sim_ev *heap;
    uint32_t heap_n;
    uint64_t heap_seq;

    /* checkers */
    struct sim_gent *glog;
    raft_index_t glog_cap, glog_max;
    struct sim_lment *lm;
    uint64_t lm_cap, lm_n;
    raft_id_t *leader_of;
    raft_term_t leader_cap;

    /* liveness / benchmark probes */
    uint64_t probe_id;    /* payload id to wait for; 0: none */
    bool probe_applied;   /* by some server */
    raft_id_t probe_leader; /* the probe was last proposed at this leader */
    raft_term_t probe_term;
    bool probe_ok;
    uint64_t backlog;     /* entries the shortest log trails the longest by */
    uint64_t converged_us; /* liveness: every member applied a probe */
    raft_id_t bench_exclude; /* benchmark: ignore this node becoming leader */
    uint64_t bench_leader_at, bench_commit_at;
    uint64_t liveness_us; /* how long the liveness phase took */
    uint64_t liveness_bound_us;

    struct sim_stats st;

    /* trace ring */
    struct sim_trace trace[SIM_TRACE_RING];
    uint64_t trace_n;

    /* first violation of the seed */
    bool violated;
    char why[512];
};

/* sim.c */
struct sim_flags {
    bool verbose;
    bool vote_checks;
    bool torn_writes;
};
void sim_init(struct sim *s, uint64_t seed, uint32_t nodes, const struct sim_flags *f);
void sim_init_bench(struct sim *s, uint64_t seed, uint32_t nodes);
/* destroy_cores false after a core aborted: its memory is left alone. */
void sim_free(struct sim *s, bool destroy_cores);
/* The fault phase for `steps` events, then the liveness phase. */
void sim_run_seed(struct sim *s, uint64_t steps);
/* Processes one event; false when the queue is empty. */
bool sim_step(struct sim *s);
void sim_describe_swarm(const struct sim *s, char *buf, size_t len);
/* Liveness bound in simulated microseconds for this seed's swarm. */
uint64_t sim_liveness_bound_us(const struct sim *s);
/* Benchmark helpers. */
raft_id_t sim_leader(struct sim *s, bool noop_committed);
void sim_crash(struct sim *s, uint32_t i);

/* check.c */
void sim_violation(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_tr(struct sim *s, uint8_t kind, uint32_t node, uint32_t peer, uint64_t a, uint64_t b,
            uint64_t c, uint64_t d);
void sim_tr_msg(struct sim *s, uint8_t kind, const struct raft_msg *m, int err);
const char *sim_msg_name(uint8_t type);
void sim_trace_print(const struct sim *s, FILE *f);
void sim_trace_print_one(const struct sim *s, const struct sim_trace *t, FILE *f);
uint64_t sim_fp(uint8_t type, uint32_t len, const void *data);
void check_init(struct sim *s);
void check_free(struct sim *s);
/* An entry (index, term, fp) appended to a log whose entry before it has
 * term prev_term (0 if index 1; UINT64_MAX if unknown). */
void check_append(struct sim *s, uint32_t node, raft_index_t index, raft_term_t term,
                  raft_term_t prev_term, uint64_t fp);
/* A log entry the core holds must be one it handed out in some update: same
 * fingerprint, same predecessor term. */
void check_known(struct sim *s, uint32_t node, raft_index_t index, raft_term_t term,
                 raft_term_t prev_term, uint64_t fp, const char *where);
/* Entry `index` is known committed, seen by a node in term obs_term. */
void check_committed(struct sim *s, uint32_t node, raft_index_t index, raft_term_t term,
                     uint8_t type, uint64_t fp, raft_term_t obs_term);
const struct sim_gent *check_gent(const struct sim *s, raft_index_t index);
void check_leader(struct sim *s, uint32_t node, raft_term_t term);

#endif
