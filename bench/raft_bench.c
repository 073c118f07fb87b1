/*
 * raftmq-raft-bench: throughput of the Raft core alone.
 *
 * Three cores in one process, no I/O: a message is stepped into its
 * destination as soon as the update holding it is carried out, "persisting"
 * only reports the entries durable, and applied entries are compacted away
 * so memory stays flat. What remains is the cost of the core itself: log
 * bookkeeping, payload copies (the leader's proposal and each follower's
 * append copy the bytes), message construction and commitment. The broker
 * must never wait on this.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "raft/raft.h"

#define NODES 3

static void usage(FILE *out)
{
    fprintf(out,
            "usage: raftmq-raft-bench [--entries N] [--size BYTES] [--runs R] [--batch B]\n"
            "\n"
            "Measures entries/s and bytes/s committed by a 3-node cluster of Raft cores\n"
            "in one process with no I/O. Without --size it runs 100-byte and 64 KiB\n"
            "entries. Prints each run and the median of R runs (default 5).\n"
            "  --entries N   entries per run (default: 2,000,000 small / 40,000 large)\n"
            "  --batch B     proposals per loop turn before updates are carried out\n"
            "                (default: 1 MiB worth, at most 256)\n");
}

struct cluster {
    struct raft *r[NODES + 1];
    uint64_t committed; /* entries committed at the leader */
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "raftmq-raft-bench: %s: %s\n", what, raft_strerror(rc));
    exit(1);
}

static void cluster_init(struct cluster *c)
{
    memset(c, 0, sizeof(*c));
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.snapshot.config.n = NODES;
    for (int i = 0; i < NODES; i++)
        rs.snapshot.config.servers[i].id = (raft_id_t)(i + 1);
    for (int id = 1; id <= NODES; id++) {
        struct raft_options o;
        raft_options_default(&o, (raft_id_t)id, 7);
        o.max_uncommitted_bytes = 256ull * 1024 * 1024;
        int rc = raft_create(&c->r[id], &o, &rs);
        if (rc != 0)
            die("raft_create", rc);
    }
}

static void cluster_free(struct cluster *c)
{
    for (int id = 1; id <= NODES; id++)
        raft_destroy(c->r[id]);
}

/* Carries out updates until every core is quiet. Messages are stepped
 * straight into their destination, which only queues output there. */
static void settle(struct cluster *c)
{
    for (int busy = 1; busy;) {
        busy = 0;
        for (int id = 1; id <= NODES; id++) {
            struct raft *r = c->r[id];
            if (!raft_has_update(r))
                continue;
            busy = 1;
            struct raft_update u;
            raft_update_get(r, &u);
            for (uint32_t i = 0; i < u.n_msgs; i++)
                raft_step(c->r[u.msgs[i].to], &u.msgs[i]);
            for (uint32_t i = 0; i < u.n_msgs_after_persist; i++)
                raft_step(c->r[u.msgs_after_persist[i].to], &u.msgs_after_persist[i]);
            if (u.committed_first != 0 && id == 1)
                c->committed += u.committed_last - u.committed_first + 1;
            if (u.n_entries > 0) {
                const struct raft_entry *last = &u.entries[u.n_entries - 1];
                raft_persisted(r, last->index, last->term);
            }
            struct raft_status s;
            raft_status(r, &s);
            if (s.applied > s.snapshot_index + 64)
                raft_compact(r, s.applied);
        }
    }
}

static double run(uint64_t entries, uint32_t size, uint32_t batch)
{
    struct cluster c;
    cluster_init(&c);
    for (int t = 0; t < 400; t++) { /* node 1 times out first or soon */
        raft_tick(c.r[1]);
        settle(&c);
        struct raft_status s;
        raft_status(c.r[1], &s);
        if (s.role == RAFT_LEADER)
            break;
    }
    struct raft_status s;
    raft_status(c.r[1], &s);
    if (s.role != RAFT_LEADER) {
        fprintf(stderr, "raftmq-raft-bench: no leader elected\n");
        exit(1);
    }
    uint8_t *payload = malloc(size);
    if (payload == NULL)
        die("malloc", RAFT_ENOMEM);
    memset(payload, 0xAB, size);
    uint64_t start_committed = c.committed;
    double t0 = bench_now_s();
    uint64_t proposed = 0;
    while (proposed < entries) {
        for (uint32_t i = 0; i < batch && proposed < entries; i++) {
            int rc = raft_propose(c.r[1], payload, size, NULL);
            if (rc == RAFT_EBUSY)
                break;
            if (rc != 0)
                die("raft_propose", rc);
            proposed++;
        }
        settle(&c);
    }
    settle(&c);
    double elapsed = bench_now_s() - t0;
    uint64_t committed = c.committed - start_committed;
    if (committed < entries) {
        fprintf(stderr, "raftmq-raft-bench: only %llu of %llu entries committed\n",
                (unsigned long long)committed, (unsigned long long)entries);
        exit(1);
    }
    free(payload);
    cluster_free(&c);
    return (double)entries / elapsed;
}

static void measure(uint64_t entries, uint32_t size, int runs, uint32_t batch)
{
    if (batch == 0) {
        batch = (1u << 20) / size;
        batch = batch < 1 ? 1 : batch > 256 ? 256 : batch;
    }
    double rates[64];
    printf("%u-byte entries, %llu per run, batch %u:\n", size, (unsigned long long)entries, batch);
    for (int i = 0; i < runs; i++) {
        rates[i] = run(entries, size, batch);
        printf("  run %d: %.2f M entries/s  %.2f GB/s\n", i + 1, rates[i] / 1e6,
               rates[i] * size / 1e9);
    }
    double median = bench_median(rates, (size_t)runs);
    printf("  median: %.2f M entries/s  %.2f GB/s (payload bytes committed)\n", median / 1e6,
           median * size / 1e9);
}

int main(int argc, char **argv)
{
    uint64_t entries = 0;
    uint32_t size = 0, batch = 0;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        if (*end != '\0' || n == 0) {
            fprintf(stderr, "raftmq-raft-bench: %s needs a positive number, got '%s'\n",
                    argv[i - 1], v);
            return 2;
        }
        if (strcmp(argv[i - 1], "--entries") == 0)
            entries = n;
        else if (strcmp(argv[i - 1], "--size") == 0 && n <= RAFT_ENTRY_BYTES_MAX)
            size = (uint32_t)n;
        else if (strcmp(argv[i - 1], "--runs") == 0 && n <= 64)
            runs = (int)n;
        else if (strcmp(argv[i - 1], "--batch") == 0 && n <= 1u << 20)
            batch = (uint32_t)n;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (size == 0 || size <= 1024)
        measure(entries ? entries : 2000000, size ? size : 100, runs, batch);
    if (size == 0 || size > 1024)
        measure(entries ? entries : 40000, size ? size : 64 * 1024, runs, batch);
    return 0;
}
