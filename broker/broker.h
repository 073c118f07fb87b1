/* The broker's internal state: the event loop, its sockets, and one Raft group per partition plus the metadata group. */
#ifndef RAFTMQ_BROKER_BROKER_H
#define RAFTMQ_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "broker/cgroup.h"
#include "broker/config.h"
#include "broker/metadata.h"
#include "broker/pstate.h"
#include "broker/storage/log.h"
#include "broker/storage/syncer.h"
#include "raft/raft.h"
#include "wire/batch.h"
#include "wire/frame.h"

/*
 * Threads: one event loop thread does everything below; the storage
 * syncer thread (broker/storage/syncer.h) runs fdatasync and reports back
 * through an eventfd in the poll set. See docs/operations.md for the
 * operator's view and docs/raft.md for how a group drives its Raft core.
 */

/* Every broker must give the core the same entry limit (docs/raft.md). */
static_assert(WIRE_BATCH_BYTES_MAX <= STORAGE_ENTRY_PAYLOAD_BYTES_MAX,
              "a maximal batch fits one stored entry");

#define BROKER_ROUTING_ID_BYTES_MAX 255u
/* Group names in logs: "meta" or "topic/partition". */
#define BROKER_GROUP_NAME_BYTES (WIRE_TOPIC_NAME_BYTES_MAX + 16u)
/* Frames a group may park (votes, acknowledgements waiting for fsync) before
 * the oldest are dropped (Raft tolerates lost messages). */
#define BROKER_PARKED_MAX 4096u
/* Produce requests waiting for commit in one group; past it BACKPRESSURE. */
#define BROKER_PRODUCE_WAITERS_MAX 65536u
/* Long-polling fetches waiting in one group; past it the fetch returns at once. */
#define BROKER_FETCH_WAITERS_MAX 4096u
/* Biggest FETCH response body; the frame limit is 8 MiB. */
#define BROKER_FETCH_BYTES_MAX (4u * WIRE_MIB)
/* Bytes of stored entries in one catch-up APPEND, and how long a chunk may
 * go unacknowledged before it is sent again. */
#define BROKER_CATCHUP_CHUNK_BYTES (1u * WIRE_MIB)
#define BROKER_CATCHUP_RESEND_MS 1000u
/* How often a group's hard state is saved when only its commit index moved. */
#define BROKER_COMMIT_SAVE_INTERVAL_MS 1000u
/* Leader gossip (PEER_STATUS) interval and how long a silent peer counts as reachable. */
#define BROKER_STATUS_INTERVAL_MS 250u
#define BROKER_PEER_ALIVE_MS 1000u
/* Preferred-leader check interval. */
#define BROKER_REBALANCE_INTERVAL_MS 2000u
/* Messages drained from one socket per loop turn, for fairness. */
#define BROKER_RECV_BATCH 512u
/* Entries in one APPEND (the core's max_msg_entries, the same on every broker). */
#define BROKER_STEP_ENTRIES_MAX 4096u
/* Arena for decoding one frame: enough for any legitimate request. */
#define BROKER_ARENA_BYTES (4u * WIRE_MIB)

struct broker;
struct group;

/* Who asked: a client's ROUTER routing id and the request's correlation id. */
struct client_ref {
    uint8_t id[BROKER_ROUTING_ID_BYTES_MAX];
    uint8_t id_len;
    uint32_t type; /* request type, for the response */
    uint64_t correlation_id;
};

/* A PRODUCE (or a metadata request) waiting for its entries to commit. */
struct commit_wait {
    struct commit_wait *next;
    struct client_ref client;
    raft_index_t first_index;
    raft_index_t last_index;
    raft_term_t term;
    uint64_t base_offset;
    uint64_t last_offset;
    uint64_t deadline_ms;
    /* This broker stopped being the leader while the wait was open: its
     * deadline was shortened (group.c, note_role). */
    bool leadership_lost;
};

/* A FETCH waiting for new commits (long poll). */
struct fetch_wait {
    struct fetch_wait *next;
    struct client_ref client;
    uint64_t offset;
    uint32_t max_bytes;
    uint64_t deadline_ms;
};

/* An encoded peer frame that may leave only once `required` is durable. */
struct parked_frame {
    struct parked_frame *next;
    raft_index_t required;
    uint64_t required_hardstate; /* and this hard state save (storage version) */
    raft_id_t to;
    uint32_t len;
    uint8_t bytes[];
};

/*
 * Catching up a follower that needs entries the leader's core no longer
 * holds in memory (the core asked for a snapshot): the leader's host
 * streams them from partition storage as ordinary APPENDs of its current
 * term, one chunk in flight, until the follower acknowledges `target`.
 * The follower handles them like any APPEND, so nothing special happens on
 * its side, and its core and storage never disagree.
 */
struct catchup {
    raft_id_t to;          /* 0: slot unused */
    raft_index_t target;   /* the core's snapshot index: done once acked */
    raft_index_t next;     /* first index of the next chunk */
    raft_index_t acked;
    uint64_t sent_ms;
};

struct group {
    struct broker *b;
    uint64_t id;     /* 0: metadata group; else md_group_id(topic, partition) */
    bool is_meta;
    uint64_t topic_id;
    uint32_t partition;
    char name[BROKER_GROUP_NAME_BYTES];
    char dir[BROKER_PATH_BYTES_MAX];
    struct raft *raft;
    struct storage_log *log;
    struct raft_config config;
    int failed;      /* storage error that stopped this group (fail-stop), else 0 */
    bool dirty;      /* has input since its updates were last processed */
    uint32_t list_pos; /* index in broker.glist */
    struct group *next_dirty;

    uint64_t next_offset;     /* offset after the last entry in the Raft log */
    /* Idempotent producers of this partition, as of the log up to
     * producers_applied (pstate.h): a leader adds its proposals at once,
     * every replica the entries it appends. */
    struct pstate_table producers;
    raft_index_t producers_applied;
    uint64_t high_watermark;  /* offset after the last committed record */
    raft_index_t stored_last; /* last index appended to storage */
    raft_index_t reported_durable; /* last raft_persisted index */
    bool sync_requested;

    /* Hard state: what the last completed save holds (saved, saved_base:
     * the log's base index), and the last request to the syncer. */
    struct raft_hard_state saved;
    raft_index_t saved_base;
    struct raft_hard_state hs_requested;
    raft_index_t hs_requested_base;
    uint64_t hs_requested_version;
    uint64_t hs_saved_version;
    uint64_t saved_at_ms; /* when the last save was requested */

    uint64_t ticks_held_until_ms; /* no ticks before (a new partition's non-preferred replica) */
    raft_id_t leader;   /* as last seen from the core */
    raft_term_t term;
    int role;

    struct parked_frame *parked_head, *parked_tail;
    uint32_t parked_count;
    struct commit_wait *waits_head, *waits_tail; /* in index order */
    uint32_t waits_count;
    struct fetch_wait *fetches;
    uint32_t fetch_count;

    int64_t retention_ms;
    int64_t retention_bytes;

    struct catchup catchups[RAFT_SERVERS_MAX];
    uint32_t catchups_active;
    bool memory_overrun; /* compacted past a follower's match (logged once) */
    struct group *next_zombie; /* closed, but its log is still held by a hung fdatasync */
};

struct peer {
    uint32_t id;
    void *dealer;            /* our connection to its peer socket */
    uint8_t *out;            /* frames coalesced this loop turn */
    struct wire_writer w;
    uint64_t last_heard_ms;  /* any frame from it */
    uint64_t dropped;        /* messages dropped at the high-water mark */
    bool was_reachable;
    bool stopping;           /* its last PEER_STATUS said it is shutting down */
};

/* Leadership learned from PEER_STATUS, for groups this broker is not in. */
struct leader_hint {
    uint64_t group;
    uint32_t leader;
    uint64_t term;
    uint64_t seen_ms;
};

struct broker {
    struct broker_config cfg;
    void *zctx;
    void *client_sock;  /* ROUTER */
    void *peer_sock;    /* ROUTER: other brokers' DEALERs connect here */
    int signal_fd;
    struct storage_syncer *syncer;

    uint32_t n_peers;
    struct peer peers[BROKER_NODES_MAX];

    struct group *meta;
    struct md_state md;
    /* partition groups hosted here: a dense list to iterate, and a hash
     * (open addressing, linear probing) to find one by id */
    struct group **glist;
    uint32_t glist_count;
    uint32_t glist_cap;
    struct group **groups;
    uint32_t groups_cap;
    struct group *dirty_head;
    /* Closed groups whose storage a hung fdatasync still holds (group_close). */
    struct group *zombies;

    struct leader_hint *hints;
    uint32_t hints_cap;
    uint32_t hints_count;

    uint64_t now_ms;       /* CLOCK_MONOTONIC */
    uint64_t last_tick_ms;
    uint64_t next_status_ms;
    uint64_t next_rebalance_ms;

    bool stopping;
    uint64_t stop_deadline_ms;

    /* scratch */
    uint8_t *arena_buf;
    struct wire_arena arena;
    uint8_t *resp_buf;      /* one response frame */
    uint8_t *read_buf;      /* storage reads */
    size_t read_cap;
    struct storage_entry *read_entries;
    size_t read_entries_cap;
    struct raft_entry *step_entries;
    uint8_t *resp_arena_buf;
    struct wire_arena resp_arena;

    /* Consumer groups (coordinator.c): membership, kept only while this
     * broker is metadata leader, for the term in coord.term. */
    struct cg_registry coord;
    bool coord_active;
    uint64_t coord_next_tick_ms;

    uint64_t responses_dropped; /* client responses ZeroMQ could not queue */
    uint64_t stalls; /* loop turns over STALL_WARN_MS (server.c) */
};

/* ---- server.c ------------------------------------------------------------ */
/* One [routing id, body] message from a ROUTER, without waiting: 1 got one,
 * 0 none waiting, -1 a malformed one (skipped). Close both msgs after. */
int broker_recv_routed(void *router, zmq_msg_t *id, zmq_msg_t *body);
int broker_set_sockopt_int(void *sock, int option, int value);
int broker_run(const struct broker_config *cfg);
uint64_t broker_now_ms(void);
int64_t broker_wall_ms(void);
void broker_mark_dirty(struct group *g);
struct peer *broker_peer(struct broker *b, uint32_t id);
const struct broker_node *broker_node(const struct broker *b, uint32_t id);

/* ---- group.c ------------------------------------------------------------- */
/* Opens (creating if new) a group's storage and Raft core. */
int group_open(struct broker *b, uint64_t id, const char *name, const char *dir,
               const struct raft_config *config, struct group **out);
void group_close(struct group *g, bool save_state);
void group_tick(struct group *g);
void group_process(struct group *g);
void group_on_durable(struct group *g, raft_index_t durable, uint64_t hardstate_saved, int err);
void group_expire_waits(struct group *g, uint64_t now_ms);
void group_fail_waits(struct group *g, int err, const char *why);
void group_housekeeping(struct group *g, uint64_t now_ms);
/* Asks the storage syncer to save the group's hard state (asynchronous). */
void group_request_hardstate(struct group *g);
bool group_is_leader(const struct group *g);
/*
 * Adds a waiter for entries first..last, whose last entry has `term` (the
 * answer is NOT_LEADER if another entry commits at that index); false when
 * the queue is full.
 */
bool group_add_commit_wait(struct group *g, const struct client_ref *c, raft_index_t first,
                           raft_index_t last, raft_term_t term, uint64_t base_offset,
                           uint64_t last_offset, uint64_t deadline_ms);

/* Follower `to` needs entries up to `target` from storage (RAFT_MSG_SNAPSHOT). */
void group_start_catchup(struct group *g, raft_id_t to, raft_index_t target);
/* An APPEND_RESP from `m->from` arrived: moves its catch-up along. */
void group_catchup_on_resp(struct group *g, const struct raft_msg *m);
/* Resends chunks that were not acknowledged in time; stops on leadership loss. */
void group_catchup_tick(struct group *g);

/* ---- peer.c -------------------------------------------------------------- */
int peers_open(struct broker *b);
void peers_close(struct broker *b);
void peer_queue_msg(struct broker *b, struct group *g, const struct raft_msg *m);
void peer_queue_frame(struct broker *b, uint32_t to, const uint8_t *bytes, size_t len);
void peers_flush(struct broker *b);
void peers_receive(struct broker *b);
void peers_send_status(struct broker *b);
bool peer_reachable(const struct broker *b, uint32_t id);
/* The peer announced it is shutting down (PEER_STATUS): hand it no leadership. */
bool peer_stopping(const struct broker *b, uint32_t id);
/* The leader of a group as this broker knows it (local core or gossip); 0 if unknown. */
uint32_t broker_group_leader(struct broker *b, uint64_t group, uint64_t *term);

/* ---- client.c ------------------------------------------------------------ */
int clients_open(struct broker *b);
void clients_receive(struct broker *b);
/* Sends one response frame to a client; drops it (counted) when the client is gone or full. */
void client_respond(struct broker *b, const struct client_ref *c, const struct wire_frame *resp);
void client_respond_error(struct broker *b, const struct client_ref *c, int err, const char *msg);
void client_respond_not_leader(struct broker *b, const struct client_ref *c, uint32_t leader_id);

/* ---- partition.c --------------------------------------------------------- */
void partition_produce(struct broker *b, const struct client_ref *c, const struct wire_produce_req *req);
void partition_fetch(struct broker *b, const struct client_ref *c, const struct wire_fetch_req *req);
void partition_list_offsets(struct broker *b, const struct client_ref *c,
                            const struct wire_list_offsets_req *req);
/* Answers fetch waiters whose offset is now below the high watermark, or expired. */
void partition_wake_fetches(struct group *g, bool expire_only);
/* The record offsets an entry carries: its batch's base offset and record
 * count (count 0, *base_offset untouched, for no-ops, configurations and
 * metadata ops), and the whole batch header in *h if not NULL; -1 if a
 * batch header does not parse. */
int partition_entry_offsets(const struct group *g, uint8_t type, const void *payload, uint32_t len,
                            uint64_t *base_offset, uint32_t *count, struct wire_batch_header *h);

/* ---- control.c ----------------------------------------------------------- */
void control_init_producer_id(struct broker *b, const struct client_ref *c);
void control_create_topic(struct broker *b, const struct client_ref *c,
                          const struct wire_create_topic_req *req);
void control_delete_topic(struct broker *b, const struct client_ref *c,
                          const struct wire_delete_topic_req *req);
void control_metadata(struct broker *b, const struct client_ref *c, const struct wire_metadata_req *req);
void control_cluster_status(struct broker *b, const struct client_ref *c);
/* Proposes a metadata op on the controller; the client is answered once it
 * applies (group.c, respond_commit), or with the refusal apply gave. */
void control_propose_op(struct broker *b, const struct client_ref *c, const uint8_t *op, size_t len);
/* False (and the client answered: SHUTTING_DOWN, STORAGE_ERROR, NOT_LEADER)
 * unless this broker is the controller and can serve. */
bool control_controller_check(struct broker *b, const struct client_ref *c);
/* A committed metadata op: applies it and opens/closes partition groups. */
int control_apply(struct broker *b, const struct raft_entry *e, char *why, size_t why_cap);
/* Hands each partition this broker leads back to its preferred (first)
 * replica once that replica is reachable and caught up. */
void control_rebalance_leaders(struct broker *b);
struct group *broker_find_group(struct broker *b, uint64_t id);
int broker_add_group(struct broker *b, struct group *g);
void broker_remove_group(struct broker *b, struct group *g);

/* ---- coordinator.c -------------------------------------------------------- */
/* Consumer-group coordination on the controller (docs/protocol.md, "Consumer groups"). */
void coord_init(struct broker *b);
void coord_free(struct broker *b);
/* The 8 group requests, OFFSET_COMMIT .. DESCRIBE_GROUP. */
void coord_request(struct broker *b, const struct client_ref *c, const struct wire_frame *f);
/* Every ~100 ms: drops membership after a leadership or term change, expires members. */
void coord_tick(struct broker *b);
/* A topic was created or deleted (applied): rebalances every group. */
void coord_topics_changed(struct broker *b);

#endif
