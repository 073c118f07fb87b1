/*
 * A small in-process Raft cluster for unit tests (canonical/raft's fixture,
 * etcd's network in raft_test.go): every server's update is carried out at
 * once (persist, send, apply), messages wait in one queue that the test
 * delivers explicitly, and links can be cut. Each delivered message is
 * appended to a text trace so tests can compare against golden transcripts.
 */
#ifndef RAFTMQ_TESTS_UNIT_RAFT_FIXTURE_H
#define RAFTMQ_TESTS_UNIT_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "raft/raft.h"

#define FX_SERVERS_MAX 6
#define FX_QUEUE_MAX 4096
#define FX_TRACE_BYTES 16384

/* A message owned by the fixture (entries and payloads deep-copied). */
struct fx_msg {
    struct raft_msg m;
    struct raft_entry *entries;
};

/* What a server's host stored durably (survives fx_restart). */
struct fx_disk {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snapshot;
    struct raft_entry *entries; /* after snapshot.last_index */
    size_t n_entries, cap_entries;
};

struct fx {
    int n; /* servers 1..n */
    struct raft *r[FX_SERVERS_MAX + 1];
    struct raft_options opts[FX_SERVERS_MAX + 1];
    struct fx_disk disk[FX_SERVERS_MAX + 1];
    bool cut[FX_SERVERS_MAX + 1][FX_SERVERS_MAX + 1]; /* cut[a][b]: a -> b dropped */
    bool manual_persist[FX_SERVERS_MAX + 1]; /* don't call raft_persisted */
    struct fx_msg queue[FX_QUEUE_MAX];
    size_t n_queue;
    size_t delivered;
    raft_index_t applied_last[FX_SERVERS_MAX + 1];
    int snapshots_installed[FX_SERVERS_MAX + 1];
    bool trace_on;
    char trace[FX_TRACE_BYTES];
    size_t trace_len;
};

/* Servers 1..n, all voters of the bootstrap configuration; pre-vote and
 * check-quorum as given; election timeout 10..20 ticks, heartbeat 2. */
void fx_init(struct fx *f, int n, bool pre_vote, bool check_quorum);
/* Like fx_init but server `id` starts from the given log (terms of entries
 * 1..n_terms as DATA entries) and hard-state term. Call before anything else
 * happens, once per server that needs it. */
void fx_set_log(struct fx *f, int id, const raft_term_t *terms, int n_terms, raft_term_t term);
void fx_free(struct fx *f);

/* Carries out every pending update of server id (persist, queue, apply). */
void fx_process(struct fx *f, int id);
void fx_process_all(struct fx *f);
void fx_tick(struct fx *f, int id, int ticks);
/* Delivers the oldest queued message; false if the queue is empty. */
bool fx_deliver_one(struct fx *f);
/* Delivers until the queue is empty (bounded); returns messages delivered. */
size_t fx_deliver_all(struct fx *f);
/* Ticks `id` until it leads (bounded), delivering everything in between. */
bool fx_elect(struct fx *f, int id);
void fx_isolate(struct fx *f, int id, bool isolated);
void fx_crash_restart(struct fx *f, int id);
/* Drops queued messages (a partition taking effect mid-flight). */
void fx_drop_queue(struct fx *f);

int fx_role(struct fx *f, int id);
struct raft_status fx_status(struct fx *f, int id);
int fx_leader(struct fx *f); /* 0 if none, the id if exactly one */
/* Terms of entries first..last of server id, as "1 1 4 5" (into buf). */
const char *fx_log_terms(struct fx *f, int id, char *buf, size_t cap);

#endif
