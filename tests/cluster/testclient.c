/*
 * raftmq-testclient: the client the multi-process cluster tests drive.
 *
 * Sub-commands (every one bounded by --timeout, exit 0 on success, 1 on a
 * failed check or error, 2 on a usage error):
 *   wait-ready, create, produce, verify, bench, leader, status, wait-converged,
 *   probe
 * See usage() for the options. It is built on wire/client.h (routing,
 * NOT_LEADER handling, pipelining) and the deterministic records of
 * tests/cluster/records.h, so `verify` can recompute every byte `produce` sent.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/cluster/records.h"
#include "wire/batch.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/errors.h"
#include "wire/frame.h"
#include "wire/limits.h"

#define EXIT_USAGE 2
#define REPORT_MAX 20 /* violations printed in full; the rest are counted */

struct options {
    const char *command;
    const char *bootstrap;
    const char *topic;
    const char *acks_path;
    const char *partitions_arg; /* create: a count; produce: all | p */
    double timeout_s;
    uint32_t brokers;
    uint32_t replicas;
    uint32_t partition;
    bool have_partition;
    uint64_t records;
    uint64_t seed;
    uint32_t in_flight;
    uint32_t batch_records;
    uint32_t size;
    uint32_t request_timeout_ms;
    double rate;
    bool sync;
    enum wire_codec codec;
    uint32_t attempt_ms; /* probe: bound of one PRODUCE attempt */
};

static uint32_t ms_left(int64_t deadline)
{
    int64_t left = deadline - wire_mono_ns();
    if (left <= 0)
        return 0;
    left = (left + 999999) / 1000000;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("raftmq-testclient: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_FAILURE);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("raftmq-testclient: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    exit(EXIT_USAGE);
}

static void usage(FILE *out)
{
    fputs(
        "usage: raftmq-testclient COMMAND -b BROKERS [options]\n"
        "\n"
        "BROKERS is a comma-separated list of client addresses, e.g.\n"
        "tcp://127.0.0.1:9292,tcp://127.0.0.1:9294. Every command gives up after\n"
        "--timeout seconds (default 60) and exits 1 with a message saying why.\n"
        "\n"
        "commands:\n"
        "  wait-ready -b B --brokers N\n"
        "      until METADATA from every listed broker shows a controller and N brokers\n"
        "  create -b B -t TOPIC --partitions P --replicas R\n"
        "      creates the topic and waits until every partition has a leader\n"
        "  produce -b B -t TOPIC --records N --seed S --acks FILE [--inflight K]\n"
        "          [--batch-records M] [--partitions all|p] [--rate R] [--codec none|lz4]\n"
        "      record id i (0..N-1) goes to partition i % P with key \"k<id>\", a value of\n"
        "      1..200 bytes derived from (S, i) and headers {id, h}; up to K requests of one\n"
        "      batch of M records in flight per partition (default 8, 100); batches that get\n"
        "      NOT_LEADER, TIMEOUT or lose their connection are retried at the new leader.\n"
        "      FILE gets \"partition offset id\" per acknowledged record (flushed per ack)\n"
        "      and \"# retry P FIRST LAST\" before a batch is sent again. --rate caps the\n"
        "      records sent per second. Exit 1 unless every record was acknowledged.\n"
        "  verify -b B -t TOPIC --records N --seed S --acks FILE\n"
        "      reads every partition from 0 to the high watermark and checks every record's\n"
        "      bytes, that every acknowledged record is at its offset, and the id order\n"
        "      (only retried batches may repeat or come late)\n"
        "  bench -b B -t TOPIC --records N --size BYTES [--inflight K] [--batch-records M]\n"
        "        [--sync]\n"
        "      throughput of acknowledged (committed) records; --sync: one request of one\n"
        "      record in flight, and latency percentiles\n"
        "  leader -b B -t TOPIC -p P        prints the node id of the partition's leader\n"
        "  status -b B                      prints CLUSTER_STATUS of the first broker that answers\n"
        "  wait-converged -b B              until every listed broker reports the same commit\n"
        "                                   index for every Raft group it hosts\n"
        "  probe -b B -t TOPIC -p P [--attempt-ms MS] [--size BYTES] [--records N]\n"
        "      one-record PRODUCEs to partition P back to back, each attempt bounded by MS\n"
        "      (default 100; also the broker's commit timeout), following NOT_LEADER and\n"
        "      metadata; prints \"ack WALL_MS NODE OFFSET LATENCY_US\" per acknowledgement\n"
        "      and \"miss WALL_MS NODE WHY\" per failed attempt (WALL_MS: CLOCK_REALTIME\n"
        "      in ms, NODE: the broker asked). Runs until N acks (default: no limit),\n"
        "      --timeout, SIGTERM or SIGINT, then prints a summary; exit 0 if any ack\n"
        "\n"
        "  rtt -b B [-t TOPIC] [--records N]\n"
        "      N (default 10000) METADATA round trips to the first broker of B, one at a\n"
        "      time; prints the round-trip percentiles in microseconds\n"
        "  idem-first -b B -t TOPIC -p P --acks FILE\n"
        "      idempotent producer checks: resends get the original offsets, a sequence gap\n"
        "      gets OUT_OF_ORDER_SEQUENCE, an unknown producer UNKNOWN_PRODUCER; FILE gets the\n"
        "      producer id and offsets\n"
        "  idem-resend -b B -t TOPIC -p P --acks FILE\n"
        "      (after a failover) the same batches again: original offsets, each record once\n"
        "\n"
        "other options:\n"
        "  --timeout SECONDS          overall bound (default 60)\n"
        "  --request-timeout MS       per request (default 5000)\n"
        "  --help\n",
        out);
}

static uint64_t parse_u64_arg(const char *name, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        usage_error("%s: '%s' is not a number", name, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        usage_error("%s: '%s' is not a number in [%" PRIu64 ", %" PRIu64 "]", name, s, min, max);
    return (uint64_t)v;
}

static double parse_double_arg(const char *name, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v > 0) || v > 1e9)
        usage_error("%s: '%s' is not a positive number", name, s);
    return v;
}

static struct wire_bytes bytes_of(const char *s)
{
    return (struct wire_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static struct wire_client *open_client(const struct options *o, uint32_t in_flight_max)
{
    struct wire_client_config cfg = {0};
    cfg.bootstrap = o->bootstrap;
    cfg.in_flight_max = in_flight_max;
    struct wire_client *c;
    int rc = wire_client_open(&cfg, &c);
    if (rc != WIRE_OK)
        die("cannot open a client for '%s': %s", o->bootstrap, wire_strerror(rc));
    return c;
}

static void require(bool ok, const char *what)
{
    if (!ok)
        usage_error("this command needs %s", what);
}

/* ---- wait-ready ---------------------------------------------------------------- */

static int cmd_wait_ready(const struct options *o, int64_t deadline)
{
    require(o->brokers > 0, "--brokers N");
    char(*addresses)[WIRE_STRING_BYTES_MAX + 1] =
        calloc(WIRE_CLIENT_BOOTSTRAP_MAX, sizeof(*addresses));
    uint32_t count;
    if (addresses == NULL ||
        wire_client_split_endpoints(o->bootstrap, addresses, WIRE_CLIENT_BOOTSTRAP_MAX, &count) != WIRE_OK)
        usage_error("-b: bad broker list '%s'", o->bootstrap);
    struct wire_client *c = open_client(o, 0);
    for (uint32_t i = 0; i < count; i++) {
        char state[300] = "no answer yet";
        for (;;) {
            if (ms_left(deadline) == 0) {
                wire_client_close(c);
                die("wait-ready: %s not ready within %.0f s (%s)", addresses[i], o->timeout_s, state);
            }
            struct wire_frame req, resp;
            memset(&req, 0, sizeof(req));
            req.type = WIRE_METADATA;
            uint32_t t = ms_left(deadline);
            int rc = wire_client_call(c, addresses[i], &req, t < 1000 ? t : 1000, &resp);
            if (rc != WIRE_OK) {
                snprintf(state, sizeof(state), "%s", wire_client_error(c));
            } else if (resp.error != WIRE_OK) {
                snprintf(state, sizeof(state), "METADATA error %s", wire_err_name((int)resp.error));
            } else {
                const struct wire_metadata_resp *m = &resp.body.metadata_resp;
                if (m->controller_id != 0 && m->brokers.count >= o->brokers) {
                    printf("ready: %s: controller %" PRIu32 ", %" PRIu32 " brokers\n",
                           addresses[i], m->controller_id, m->brokers.count);
                    break;
                }
                snprintf(state, sizeof(state), "controller %" PRIu32 ", %" PRIu32 " brokers",
                         m->controller_id, m->brokers.count);
            }
            wire_sleep_ms(100);
        }
    }
    wire_client_close(c);
    free(addresses);
    return EXIT_SUCCESS;
}

/* ---- create ------------------------------------------------------------------- */

/* Refreshes until every partition of the topic has a leader; false at the deadline. */
static bool wait_leaders(struct wire_client *c, const char *topic, uint32_t expect_partitions,
                         int64_t deadline, char *state, size_t state_cap)
{
    for (;;) {
        uint32_t t = ms_left(deadline);
        if (t == 0)
            return false;
        int rc = wire_client_refresh_metadata(c, topic, t < 2000 ? t : 2000);
        uint32_t count = 0;
        if (rc != WIRE_OK) {
            snprintf(state, state_cap, "%s", wire_client_error(c));
        } else if (wire_client_partition_count(c, topic, &count) != WIRE_OK) {
            snprintf(state, state_cap, "topic not in METADATA yet");
        } else if (expect_partitions != 0 && count != expect_partitions) {
            snprintf(state, state_cap, "%" PRIu32 " partitions, want %" PRIu32, count,
                     expect_partitions);
        } else {
            uint32_t missing = wire_client_leaderless(c, topic, count);
            if (missing == 0)
                return true;
            snprintf(state, state_cap, "%" PRIu32 " of %" PRIu32 " partitions without a leader",
                     missing, count);
        }
        wire_sleep_ms(50);
    }
}

static int cmd_create(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL, "-t TOPIC");
    require(o->partitions_arg != NULL, "--partitions P");
    uint32_t partitions =
        (uint32_t)parse_u64_arg("--partitions", o->partitions_arg, 1, WIRE_PARTITIONS_MAX);
    require(o->replicas > 0, "--replicas R");
    struct wire_client *c = open_client(o, 0);
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_CREATE_TOPIC;
    req.body.create_topic_req.name = bytes_of(o->topic);
    req.body.create_topic_req.partitions = partitions;
    req.body.create_topic_req.replication_factor = o->replicas;
    req.body.create_topic_req.retention_ms = -1;
    req.body.create_topic_req.retention_bytes = -1;
    int rc = wire_client_request(c, &req, ms_left(deadline), 0, &resp);
    if (rc != WIRE_OK) {
        fprintf(stderr, "raftmq-testclient: create %s: %s\n", o->topic, wire_client_error(c));
        wire_client_close(c);
        return EXIT_FAILURE;
    }
    if (resp.error != WIRE_OK) {
        fprintf(stderr, "raftmq-testclient: create %s: %s: %.*s\n", o->topic,
                wire_err_name((int)resp.error), (int)resp.error_message.len,
                (const char *)resp.error_message.ptr);
        wire_client_close(c);
        return EXIT_FAILURE;
    }
    char state[300] = "";
    if (!wait_leaders(c, o->topic, partitions, deadline, state, sizeof(state))) {
        fprintf(stderr, "raftmq-testclient: create %s: partitions without leaders after %.0f s (%s)\n",
                o->topic, o->timeout_s, state);
        wire_client_close(c);
        return EXIT_FAILURE;
    }
    printf("created %s: %" PRIu32 " partitions, replication factor %" PRIu32 "; leaders:", o->topic,
           partitions, o->replicas);
    for (uint32_t p = 0; p < partitions; p++) {
        uint32_t node;
        const char *address;
        wire_client_leader(c, o->topic, p, &node, &address);
        printf(" %" PRIu32, node);
    }
    printf("\n");
    wire_client_close(c);
    return EXIT_SUCCESS;
}

/* ---- leader ------------------------------------------------------------------- */

static int cmd_leader(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL, "-t TOPIC");
    require(o->have_partition, "-p PARTITION");
    struct wire_client *c = open_client(o, 0);
    char state[300] = "";
    for (;;) {
        uint32_t t = ms_left(deadline);
        if (t == 0) {
            fprintf(stderr, "raftmq-testclient: leader %s/%" PRIu32 ": none within %.0f s (%s)\n",
                    o->topic, o->partition, o->timeout_s, state);
            wire_client_close(c);
            return EXIT_FAILURE;
        }
        int rc = wire_client_refresh_metadata(c, o->topic, t < 2000 ? t : 2000);
        uint32_t node = 0;
        const char *address;
        if (rc == WIRE_OK)
            rc = wire_client_leader(c, o->topic, o->partition, &node, &address);
        if (rc == WIRE_OK) {
            printf("%" PRIu32 "\n", node);
            wire_client_close(c);
            return EXIT_SUCCESS;
        }
        if (rc == WIRE_ERR_UNKNOWN_PARTITION) {
            fprintf(stderr, "raftmq-testclient: leader: %s has no partition %" PRIu32 "\n",
                    o->topic, o->partition);
            wire_client_close(c);
            return EXIT_FAILURE;
        }
        snprintf(state, sizeof(state), "%s",
                 wire_client_error(c)[0] != '\0' ? wire_client_error(c) : wire_strerror(rc));
        wire_sleep_ms(50);
    }
}

/* ---- status and wait-converged -------------------------------------------------------- */

static void print_status(const struct wire_cluster_status_resp *s)
{
    printf("node %" PRIu32 "\n", s->node_id);
    for (uint32_t i = 0; i < s->brokers.count; i++) {
        const struct wire_broker_status *b = &s->brokers.items[i];
        printf("broker %" PRIu32 " client=%.*s peer=%.*s reachable=%s\n", b->node_id,
               (int)b->client_address.len, (const char *)b->client_address.ptr,
               (int)b->peer_address.len, (const char *)b->peer_address.ptr,
               b->reachable ? "yes" : "no");
    }
    for (uint32_t i = 0; i < s->groups.count; i++) {
        const struct wire_group_status *g = &s->groups.items[i];
        printf("group topic=\"%.*s\" partition=%" PRIu32 " leader=%" PRIu32 " term=%" PRIu64
               " commit=%" PRIu64 " last=%" PRIu64,
               (int)g->topic.len, (const char *)g->topic.ptr, g->partition, g->leader_id, g->term,
               g->commit_index, g->last_index);
        for (uint32_t k = 0; k < g->replicas.count; k++) {
            const struct wire_replica_status *r = &g->replicas.items[k];
            printf("%s%" PRIu32 ":%" PRIu64 "%s", k == 0 ? " match=" : ",", r->node_id,
                   r->match_index, r->voter ? "" : "(learner)");
        }
        printf("\n");
    }
}

static int cmd_status(const struct options *o, int64_t deadline)
{
    char(*addresses)[WIRE_STRING_BYTES_MAX + 1] =
        calloc(WIRE_CLIENT_BOOTSTRAP_MAX, sizeof(*addresses));
    uint32_t count;
    if (addresses == NULL ||
        wire_client_split_endpoints(o->bootstrap, addresses, WIRE_CLIENT_BOOTSTRAP_MAX, &count) != WIRE_OK)
        usage_error("-b: bad broker list '%s'", o->bootstrap);
    struct wire_client *c = open_client(o, 0);
    char state[300] = "";
    for (uint32_t attempt = 0;; attempt++) {
        uint32_t t = ms_left(deadline);
        if (t == 0)
            break;
        const char *address = addresses[attempt % count];
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_CLUSTER_STATUS;
        int rc = wire_client_call(c, address, &req, t < 2000 ? t : 2000, &resp);
        if (rc == WIRE_OK && resp.error == WIRE_OK) {
            print_status(&resp.body.cluster_status_resp);
            wire_client_close(c);
            free(addresses);
            return EXIT_SUCCESS;
        }
        snprintf(state, sizeof(state), "%s: %s", address,
                 rc != WIRE_OK ? wire_client_error(c) : wire_err_name((int)resp.error));
        if (attempt % count == count - 1)
            wire_sleep_ms(100);
    }
    fprintf(stderr, "raftmq-testclient: status: no CLUSTER_STATUS within %.0f s (%s)\n",
            o->timeout_s, state);
    wire_client_close(c);
    free(addresses);
    return EXIT_FAILURE;
}

/* One Raft group as one broker reports it. */
struct group_seen {
    char topic[256];
    uint32_t partition;
    uint64_t commit_index;
    uint32_t reporters;
    bool differs;
};

static int cmd_wait_converged(const struct options *o, int64_t deadline)
{
    char(*addresses)[WIRE_STRING_BYTES_MAX + 1] =
        calloc(WIRE_CLIENT_BOOTSTRAP_MAX, sizeof(*addresses));
    uint32_t count;
    if (addresses == NULL ||
        wire_client_split_endpoints(o->bootstrap, addresses, WIRE_CLIENT_BOOTSTRAP_MAX, &count) != WIRE_OK)
        usage_error("-b: bad broker list '%s'", o->bootstrap);
    struct wire_client *c = open_client(o, 0);
    size_t cap = 4096;
    struct group_seen *groups = calloc(cap, sizeof(*groups));
    if (groups == NULL)
        die("out of memory");
    char state[400] = "no answer yet";
    for (;;) {
        if (ms_left(deadline) == 0) {
            fprintf(stderr, "raftmq-testclient: wait-converged: not converged within %.0f s (%s)\n",
                    o->timeout_s, state);
            free(groups);
            free(addresses);
            wire_client_close(c);
            return EXIT_FAILURE;
        }
        size_t n = 0;
        bool ok = true;
        for (uint32_t i = 0; i < count && ok; i++) {
            struct wire_frame req, resp;
            memset(&req, 0, sizeof(req));
            req.type = WIRE_CLUSTER_STATUS;
            uint32_t t = ms_left(deadline);
            int rc = wire_client_call(c, addresses[i], &req, t < 2000 ? t : 2000, &resp);
            if (rc != WIRE_OK || resp.error != WIRE_OK) {
                snprintf(state, sizeof(state), "%s: %s", addresses[i],
                         rc != WIRE_OK ? wire_client_error(c) : wire_err_name((int)resp.error));
                ok = false;
                break;
            }
            const struct wire_cluster_status_resp *s = &resp.body.cluster_status_resp;
            for (uint32_t k = 0; k < s->groups.count; k++) {
                const struct wire_group_status *g = &s->groups.items[k];
                if (g->topic.len >= sizeof(groups[0].topic))
                    continue;
                if (g->leader_id == 0) {
                    snprintf(state, sizeof(state), "%s: group %.*s/%" PRIu32 " has no leader",
                             addresses[i], (int)g->topic.len, (const char *)g->topic.ptr,
                             g->partition);
                    ok = false;
                    break;
                }
                size_t j = 0;
                while (j < n && !(groups[j].partition == g->partition &&
                                  strlen(groups[j].topic) == g->topic.len &&
                                  memcmp(groups[j].topic, g->topic.ptr, g->topic.len) == 0))
                    j++;
                if (j == n) {
                    if (n == cap)
                        die("wait-converged: more than %zu groups", cap);
                    memcpy(groups[n].topic, g->topic.ptr, g->topic.len);
                    groups[n].topic[g->topic.len] = '\0';
                    groups[n].partition = g->partition;
                    groups[n].commit_index = g->commit_index;
                    groups[n].reporters = 0;
                    groups[n].differs = false;
                    n++;
                }
                groups[j].reporters++;
                if (groups[j].commit_index != g->commit_index) {
                    snprintf(state, sizeof(state),
                             "group \"%s\"/%" PRIu32 ": commit %" PRIu64 " vs %" PRIu64 " at %s",
                             groups[j].topic, groups[j].partition, groups[j].commit_index,
                             g->commit_index, addresses[i]);
                    groups[j].differs = true;
                    ok = false;
                }
            }
        }
        if (ok && n > 0) {
            printf("converged: %zu groups agree on their commit index across %" PRIu32 " brokers\n",
                   n, count);
            free(groups);
            free(addresses);
            wire_client_close(c);
            return EXIT_SUCCESS;
        }
        if (ok)
            snprintf(state, sizeof(state), "no groups reported");
        wire_sleep_ms(100);
    }
}

/* ---- the produce engine (produce and bench) --------------------------------------------- */

/*
 * Records are numbered per partition by a sequence s = 0, 1, 2, ...; in
 * produce mode record id = partition + s * partitions. A batch is a run of
 * sequences [first_seq, first_seq + count). Failed batches wait in a list
 * sorted by first_seq, so resends keep id order as far as possible.
 */
struct pbatch {
    uint32_t partition;
    uint64_t first_seq;
    uint32_t count;
    uint32_t attempts;
    int64_t sent_ns;
    int64_t not_before_ns;
    struct pbatch *next;
};

struct ppart {
    uint64_t next_seq;
    uint64_t seq_end;
    uint32_t in_flight;
    struct pbatch *retry; /* sorted by first_seq */
};

struct engine {
    const struct options *o;
    struct wire_client *c;
    const char *topic;
    uint32_t partitions;
    struct ppart *parts;
    uint32_t in_flight_per_partition;
    uint32_t in_flight_total_max;
    uint32_t in_flight_total;
    uint32_t batch_records;
    bool bench;         /* fixed-size values, no keys or headers, no ack file */
    uint8_t *bench_value;
    FILE *acks;
    /* buffers */
    uint8_t *batch_buf;
    size_t batch_cap;
    uint8_t *lz4_buf;
    size_t lz4_cap;
    /* counters */
    uint64_t total;
    uint64_t acked;
    uint64_t failed;
    uint64_t sent_new;
    uint64_t retried_batches;
    uint64_t reported;
    bool needs_refresh;
    int64_t next_refresh_ns;
    /* latencies of acknowledged requests, microseconds */
    double *latency_us;
    size_t latency_count;
    size_t latency_cap;
};

static uint64_t record_id(const struct engine *e, uint32_t partition, uint64_t seq)
{
    return (uint64_t)partition + seq * e->partitions;
}

static void retry_insert(struct ppart *part, struct pbatch *b)
{
    struct pbatch **at = &part->retry;
    while (*at != NULL && (*at)->first_seq < b->first_seq)
        at = &(*at)->next;
    b->next = *at;
    *at = b;
}

/* Builds the batch for b into e->batch_buf; *out is the finished batch. */
static int build_batch(struct engine *e, const struct pbatch *b, struct wire_bytes *out)
{
    struct wire_batch_builder builder;
    wire_batch_builder_init(&builder, e->batch_buf, e->batch_cap, e->o->codec);
    int64_t ts = wire_wall_ms();
    for (uint32_t k = 0; k < b->count; k++) {
        int rc;
        if (e->bench) {
            struct wire_record rec = {0};
            rec.timestamp = ts;
            rec.value = (struct wire_bytes){e->bench_value, e->o->size};
            rc = wire_batch_builder_add(&builder, &rec);
        } else {
            struct testrec tr;
            testrec_make(&tr, e->o->seed, record_id(e, b->partition, b->first_seq + k), ts);
            rc = wire_batch_builder_add(&builder, &tr.record);
        }
        if (rc != WIRE_OK)
            return rc;
    }
    return wire_batch_builder_finish(&builder, e->lz4_buf, e->lz4_cap, out);
}

static void note_failure(struct engine *e, const struct pbatch *b, const char *what)
{
    if (e->reported++ < REPORT_MAX)
        fprintf(stderr, "raftmq-testclient: partition %" PRIu32 " batch at seq %" PRIu64 ": %s\n",
                b->partition, b->first_seq, what);
}

/* Sends what the windows allow. */
static void engine_send(struct engine *e, int64_t start_ns)
{
    int64_t now = wire_mono_ns();
    for (uint32_t p = 0; p < e->partitions; p++) {
        struct ppart *part = &e->parts[p];
        while (part->in_flight < e->in_flight_per_partition &&
               e->in_flight_total < e->in_flight_total_max) {
            struct pbatch *b = NULL;
            bool fresh = false;
            if (part->retry != NULL && part->retry->not_before_ns <= now) {
                b = part->retry;
                part->retry = b->next;
            } else if (part->retry == NULL && part->next_seq < part->seq_end) {
                /* New batches wait while a retry is pending, to keep the order. */
                if (e->o->rate > 0) {
                    double allowed = e->o->rate * (double)(now - start_ns) / 1e9;
                    if ((double)e->sent_new >= allowed)
                        break;
                }
                b = calloc(1, sizeof(*b));
                if (b == NULL)
                    die("out of memory");
                b->partition = p;
                b->first_seq = part->next_seq;
                uint64_t left = part->seq_end - part->next_seq;
                b->count = left < e->batch_records ? (uint32_t)left : e->batch_records;
                fresh = true;
            } else {
                break;
            }
            struct wire_bytes batch;
            int rc = build_batch(e, b, &batch);
            if (rc != WIRE_OK)
                die("cannot build a batch: %s", wire_strerror(rc));
            struct wire_frame req;
            memset(&req, 0, sizeof(req));
            req.type = WIRE_PRODUCE;
            req.body.produce_req.topic = bytes_of(e->topic);
            req.body.produce_req.partition = p;
            req.body.produce_req.timeout_ms = e->o->request_timeout_ms;
            req.body.produce_req.batches.count = 1;
            req.body.produce_req.batches.items = &batch;
            b->sent_ns = wire_mono_ns();
            /* The client's deadline leaves the broker its own timeout plus a margin. */
            rc = wire_client_send_routed(e->c, &req, e->o->request_timeout_ms + 2000, b, NULL);
            if (rc == WIRE_OK) {
                if (fresh) {
                    part->next_seq += b->count;
                    e->sent_new += b->count;
                }
                part->in_flight++;
                e->in_flight_total++;
                continue;
            }
            /* Not sent: no leader known or it cannot be reached. Back off and ask again. */
            if (rc != WIRE_ERR_LEADER_NOT_AVAILABLE && rc != WIRE_ERR_TIMEOUT &&
                rc != WIRE_ERR_UNKNOWN_TOPIC && rc != WIRE_ERR_UNKNOWN_PARTITION)
                die("cannot send to partition %" PRIu32 ": %s", p, wire_client_error(e->c));
            if (rc == WIRE_ERR_TIMEOUT)
                wire_client_forget_leader(e->c, e->topic, p);
            e->needs_refresh = true;
            if (fresh) {
                free(b);
            } else {
                b->not_before_ns = wire_mono_ns() + 100 * 1000000ll;
                retry_insert(part, b);
            }
            break;
        }
    }
}

static void record_latency(struct engine *e, double us)
{
    if (e->latency_count == e->latency_cap) {
        size_t cap = e->latency_cap == 0 ? 4096 : e->latency_cap * 2;
        double *grown = realloc(e->latency_us, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        e->latency_us = grown;
        e->latency_cap = cap;
    }
    e->latency_us[e->latency_count++] = us;
}

static void engine_complete(struct engine *e, const struct wire_client_reply *r)
{
    struct pbatch *b = r->user;
    struct ppart *part = &e->parts[b->partition];
    part->in_flight--;
    e->in_flight_total--;
    char what[400];
    if (r->status == WIRE_OK && r->frame.error == WIRE_OK) {
        const struct wire_produce_resp *pr = &r->frame.body.produce_resp;
        if (pr->last_offset < pr->base_offset || pr->last_offset - pr->base_offset + 1 != b->count) {
            snprintf(what, sizeof(what), "acknowledged offsets %" PRIu64 "..%" PRIu64
                     " for %" PRIu32 " records", pr->base_offset, pr->last_offset, b->count);
            note_failure(e, b, what);
            e->failed += b->count;
            free(b);
            return;
        }
        if (e->acks != NULL) {
            for (uint32_t k = 0; k < b->count; k++)
                fprintf(e->acks, "%" PRIu32 " %" PRIu64 " %" PRIu64 "\n", b->partition,
                        pr->base_offset + k, record_id(e, b->partition, b->first_seq + k));
            if (fflush(e->acks) != 0)
                die("writing the ack file: %s", strerror(errno));
        }
        record_latency(e, (double)(wire_mono_ns() - b->sent_ns) / 1000.0);
        e->acked += b->count;
        free(b);
        return;
    }
    uint32_t error = r->status == WIRE_OK ? r->frame.error : WIRE_ERR_TIMEOUT;
    bool lost = r->status != WIRE_OK;
    if (r->status != WIRE_OK && r->status != WIRE_ERR_TIMEOUT) {
        snprintf(what, sizeof(what), "response from %s: %s", r->address,
                 wire_client_error(e->c));
        note_failure(e, b, what);
        e->failed += b->count;
        free(b);
        return;
    }
    if (!wire_client_error_is_transient(error)) {
        snprintf(what, sizeof(what), "%s from %s: %.*s", wire_err_name((int)error), r->address,
                 (int)r->frame.error_message.len, (const char *)r->frame.error_message.ptr);
        note_failure(e, b, what);
        e->failed += b->count;
        free(b);
        return;
    }
    if (error == WIRE_ERR_NOT_LEADER) {
        wire_client_note_not_leader(e->c, e->topic, b->partition, &r->frame);
        if (r->frame.body.not_leader_detail.leader_address.len == 0)
            e->needs_refresh = true;
    } else if (lost || error == WIRE_ERR_SHUTTING_DOWN) {
        wire_client_forget_leader(e->c, e->topic, b->partition);
        e->needs_refresh = true;
    }
    b->attempts++;
    e->retried_batches++;
    if (e->acks != NULL) {
        fprintf(e->acks, "# retry %" PRIu32 " %" PRIu64 " %" PRIu64 "\n", b->partition,
                record_id(e, b->partition, b->first_seq),
                record_id(e, b->partition, b->first_seq + b->count - 1));
        if (fflush(e->acks) != 0)
            die("writing the ack file: %s", strerror(errno));
    }
    if (e->retried_batches <= 5 || e->retried_batches % 100 == 0)
        fprintf(stderr, "raftmq-testclient: retrying partition %" PRIu32 " batch at seq %" PRIu64
                " after %s%s (retry #%" PRIu64 ")\n", b->partition, b->first_seq,
                wire_err_name((int)error), r->connection_lost ? " (connection lost)" : "",
                e->retried_batches);
    uint32_t backoff_ms = 20u << (b->attempts < 6 ? b->attempts : 6);
    b->not_before_ns = wire_mono_ns() + (int64_t)backoff_ms * 1000000;
    retry_insert(part, b);
}

static bool engine_done(const struct engine *e)
{
    return e->acked + e->failed >= e->total && e->in_flight_total == 0;
}

/* Runs until every record is acknowledged or failed, or the deadline. */
static void engine_run(struct engine *e, int64_t deadline)
{
    int64_t start = wire_mono_ns();
    while (!engine_done(e)) {
        if (wire_mono_ns() >= deadline)
            break;
        engine_send(e, start);
        if (e->needs_refresh && wire_mono_ns() >= e->next_refresh_ns) {
            /* A blocking refresh keeps the answers to requests in flight for the next poll. */
            uint32_t t = ms_left(deadline);
            wire_client_refresh_metadata(e->c, e->topic, t < 2000 ? t : 2000);
            e->needs_refresh = false;
            e->next_refresh_ns = wire_mono_ns() + 100 * 1000000ll;
            continue;
        }
        struct wire_client_reply reply;
        uint32_t wait = e->in_flight_total > 0 ? 50 : 10;
        if (wire_client_poll(e->c, wait, &reply) == WIRE_OK)
            engine_complete(e, &reply);
    }
}

static void engine_init(struct engine *e, const struct options *o, struct wire_client *c,
                        uint32_t partitions, int only_partition)
{
    memset(e, 0, sizeof(*e));
    e->o = o;
    e->c = c;
    e->topic = o->topic;
    e->partitions = partitions;
    e->parts = calloc(partitions, sizeof(*e->parts));
    if (e->parts == NULL)
        die("out of memory");
    for (uint32_t p = 0; p < partitions; p++) {
        if (only_partition >= 0 && (uint32_t)only_partition != p)
            continue;
        /* ids p, p + P, ... below N */
        uint64_t n = o->records > p ? (o->records - p + partitions - 1) / partitions : 0;
        e->parts[p].seq_end = n;
        e->total += n;
    }
    e->batch_cap = WIRE_BATCH_HEADER_BYTES + WIRE_BATCH_RECORDS_BYTES_MAX;
    e->batch_buf = malloc(e->batch_cap);
    e->lz4_cap = wire_batch_lz4_buf_bytes(WIRE_BATCH_RECORDS_BYTES_MAX);
    e->lz4_buf = malloc(e->lz4_cap);
    if (e->batch_buf == NULL || e->lz4_buf == NULL)
        die("out of memory");
}

static void engine_free(struct engine *e)
{
    for (uint32_t p = 0; p < e->partitions; p++) {
        while (e->parts[p].retry != NULL) {
            struct pbatch *b = e->parts[p].retry;
            e->parts[p].retry = b->next;
            free(b);
        }
    }
    free(e->parts);
    free(e->batch_buf);
    free(e->lz4_buf);
    free(e->latency_us);
    free(e->bench_value);
}

/* Opens the client and learns the topic's partitions (and leaders). */
static struct wire_client *open_for_topic(const struct options *o, uint32_t in_flight_max,
                                          int64_t deadline, uint32_t *partitions)
{
    struct wire_client *c = open_client(o, in_flight_max);
    char state[300] = "";
    if (!wait_leaders(c, o->topic, 0, deadline, state, sizeof(state)))
        die("topic %s: not ready within %.0f s (%s)", o->topic, o->timeout_s, state);
    wire_client_partition_count(c, o->topic, partitions);
    return c;
}

static uint32_t in_flight_total_for(uint32_t partitions, uint32_t per_partition)
{
    uint64_t total = (uint64_t)partitions * per_partition;
    return total > WIRE_CLIENT_IN_FLIGHT_MAX ? WIRE_CLIENT_IN_FLIGHT_MAX : (uint32_t)total;
}

static int cmd_produce(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL, "-t TOPIC");
    require(o->records > 0, "--records N");
    require(o->acks_path != NULL, "--acks FILE");
    if ((uint64_t)o->batch_records * TESTREC_ENCODED_BYTES_MAX + WIRE_BATCH_HEADER_BYTES >
        WIRE_BATCH_BYTES_MAX)
        usage_error("--batch-records %" PRIu32 ": a batch could exceed %u bytes", o->batch_records,
                    WIRE_BATCH_BYTES_MAX);
    uint32_t partitions;
    struct wire_client *c = open_for_topic(o, WIRE_CLIENT_IN_FLIGHT_MAX, deadline, &partitions);
    int only = -1;
    if (o->partitions_arg != NULL && strcmp(o->partitions_arg, "all") != 0)
        only = (int)parse_u64_arg("--partitions", o->partitions_arg, 0, partitions - 1);
    FILE *acks = fopen(o->acks_path, "w");
    if (acks == NULL)
        die("cannot write %s: %s", o->acks_path, strerror(errno));
    fprintf(acks, "# produce topic=%s partitions=%" PRIu32 " records=%" PRIu64 " seed=%" PRIu64 "\n",
            o->topic, partitions, o->records, o->seed);
    fflush(acks);

    struct engine e;
    engine_init(&e, o, c, partitions, only);
    e.acks = acks;
    e.in_flight_per_partition = o->in_flight;
    e.in_flight_total_max = in_flight_total_for(partitions, o->in_flight);
    e.batch_records = o->batch_records;
    int64_t start = wire_mono_ns();
    engine_run(&e, deadline);
    double elapsed = (double)(wire_mono_ns() - start) / 1e9;
    uint64_t unfinished = e.total - e.acked - e.failed;
    printf("produce: %" PRIu64 " records, acked %" PRIu64 ", failed %" PRIu64
           ", unfinished %" PRIu64 ", retried batches %" PRIu64 ", %.1f s, %.0f records/s\n",
           e.total, e.acked, e.failed, unfinished, e.retried_batches, elapsed,
           elapsed > 0 ? (double)e.acked / elapsed : 0.0);
    if (unfinished > 0)
        fprintf(stderr, "raftmq-testclient: produce: deadline (%.0f s) passed with %" PRIu64
                " records not acknowledged (%" PRIu32 " requests in flight)\n",
                o->timeout_s, unfinished, e.in_flight_total);
    bool ok = e.acked == e.total;
    if (fclose(acks) != 0)
        die("closing %s: %s", o->acks_path, strerror(errno));
    engine_free(&e);
    wire_client_close(c);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- bench ----------------------------------------------------------------------------- */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmd_bench(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL, "-t TOPIC");
    require(o->records > 0, "--records N");
    require(o->size > 0, "--size BYTES");
    if (o->size > WIRE_RECORD_BYTES_MAX - 64)
        usage_error("--size: at most %u bytes", WIRE_RECORD_BYTES_MAX - 64);
    uint32_t per_partition = o->sync ? 1 : o->in_flight;
    uint32_t batch_records = o->sync ? 1 : o->batch_records;
    /* Keep each batch within the batch limit. */
    uint64_t record_bytes = (uint64_t)o->size + 32;
    uint64_t fit = (WIRE_BATCH_BYTES_MAX - WIRE_BATCH_HEADER_BYTES) / record_bytes;
    if (batch_records > fit)
        batch_records = (uint32_t)fit;
    uint32_t partitions;
    struct wire_client *c = open_for_topic(o, WIRE_CLIENT_IN_FLIGHT_MAX, deadline, &partitions);
    struct engine e;
    engine_init(&e, o, c, partitions, -1);
    e.bench = true;
    e.bench_value = malloc(o->size);
    if (e.bench_value == NULL)
        die("out of memory");
    uint64_t x = 42;
    for (uint32_t i = 0; i < o->size; i++) {
        x = testrec_mix(x);
        e.bench_value[i] = (uint8_t)x;
    }
    e.in_flight_per_partition = per_partition;
    e.in_flight_total_max = o->sync ? 1 : in_flight_total_for(partitions, per_partition);
    e.batch_records = batch_records;
    int64_t start = wire_mono_ns();
    engine_run(&e, deadline);
    double elapsed = (double)(wire_mono_ns() - start) / 1e9;
    printf("bench mode %s partitions %" PRIu32 " inflight %" PRIu32 " batch_records %" PRIu32
           " size %" PRIu32 "\n", o->sync ? "sync" : "pipelined", partitions,
           e.in_flight_total_max, batch_records, o->size);
    printf("records_acked %" PRIu64 "\n", e.acked);
    printf("records_failed %" PRIu64 "\n", e.failed + (e.total - e.acked - e.failed));
    printf("retried_batches %" PRIu64 "\n", e.retried_batches);
    printf("elapsed_s %.3f\n", elapsed);
    printf("records_per_s %.0f\n", elapsed > 0 ? (double)e.acked / elapsed : 0.0);
    printf("mb_per_s %.2f\n", elapsed > 0 ? (double)e.acked * o->size / elapsed / 1e6 : 0.0);
    if (o->sync && e.latency_count > 0) {
        qsort(e.latency_us, e.latency_count, sizeof(double), compare_double);
        size_t n = e.latency_count;
        printf("latency_us_p50 %.0f\n", e.latency_us[n / 2]);
        printf("latency_us_p99 %.0f\n", e.latency_us[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
        printf("latency_us_max %.0f\n", e.latency_us[n - 1]);
    }
    bool ok = e.acked == e.total;
    if (!ok)
        fprintf(stderr, "raftmq-testclient: bench: %" PRIu64 " of %" PRIu64
                " records not acknowledged\n", e.total - e.acked, e.total);
    engine_free(&e);
    wire_client_close(c);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- rtt: the request path without Raft or a disk ------------------------------------------ */

/*
 * --records METADATA requests for one topic to the first broker of -b, one
 * at a time: two ZeroMQ hops and one broker loop turn each. Prints the
 * round-trip percentiles (docs/benchmarks.md, "Where the synchronous time goes").
 */
static int cmd_rtt(const struct options *o, int64_t deadline)
{
    char(*addresses)[WIRE_STRING_BYTES_MAX + 1] =
        calloc(WIRE_CLIENT_BOOTSTRAP_MAX, sizeof(*addresses));
    uint32_t count;
    if (addresses == NULL ||
        wire_client_split_endpoints(o->bootstrap, addresses, WIRE_CLIENT_BOOTSTRAP_MAX, &count) != WIRE_OK)
        usage_error("-b: bad broker list '%s'", o->bootstrap);
    uint64_t n = o->records != 0 ? o->records : 10000;
    double *us = malloc(n * sizeof(*us));
    require(us != NULL, "memory for the samples");
    struct wire_client *c = open_client(o, 0);
    struct wire_bytes topic = bytes_of(o->topic != NULL ? o->topic : "rtt");
    uint64_t done = 0;
    while (done < n && ms_left(deadline) > 0) {
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_METADATA;
        req.body.metadata_req.topics = (struct wire_bytes_array){1, &topic};
        int64_t t0 = wire_mono_ns();
        int rc = wire_client_call(c, addresses[0], &req, o->request_timeout_ms, &resp);
        int64_t t1 = wire_mono_ns();
        if (rc != WIRE_OK)
            die("METADATA to %s: %s", addresses[0], wire_client_error(c));
        us[done++] = (double)(t1 - t0) / 1e3;
    }
    wire_client_close(c);
    free(addresses);
    if (done < n)
        die("rtt: only %" PRIu64 " of %" PRIu64 " round trips before --timeout", done, n);
    qsort(us, n, sizeof(double), compare_double);
    printf("round_trips %" PRIu64 "\n", n);
    printf("rtt_us_p50 %.0f\n", us[n / 2]);
    printf("rtt_us_p99 %.0f\n", us[(n * 99) / 100]);
    printf("rtt_us_max %.0f\n", us[n - 1]);
    free(us);
    return EXIT_SUCCESS;
}

/* ---- verify ---------------------------------------------------------------------------- */

struct verifier {
    const struct options *o;
    uint32_t partitions;
    uint64_t violations;
    uint64_t records_read;
    uint64_t duplicates;
    uint64_t late;     /* retried records that came after a higher id */
    uint8_t *seen;     /* per id */
    uint8_t *retried;  /* per id */
    uint64_t *found;   /* this partition: id at each offset (UINT64_MAX: none) */
    size_t found_cap;
};

static void violation(struct verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct verifier *v, const char *fmt, ...)
{
    if (v->violations++ < REPORT_MAX) {
        va_list ap;
        va_start(ap, fmt);
        fputs("VIOLATION: ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
}

static void found_set(struct verifier *v, uint64_t offset, uint64_t id)
{
    if (offset >= v->found_cap) {
        size_t cap = v->found_cap == 0 ? 65536 : v->found_cap;
        while (cap <= offset)
            cap *= 2;
        uint64_t *grown = realloc(v->found, cap * sizeof(*grown));
        if (grown == NULL)
            die("out of memory");
        for (size_t i = v->found_cap; i < cap; i++)
            grown[i] = UINT64_MAX;
        v->found = grown;
        v->found_cap = cap;
    }
    v->found[offset] = id;
}

/* Checks one record read at `offset` of partition p. */
static void check_record(struct verifier *v, uint32_t p, const struct wire_record *rec,
                         uint64_t *max_id, bool *have_max)
{
    uint64_t id;
    if (!testrec_read_id(rec, &id)) {
        violation(v, "partition %" PRIu32 " offset %" PRIu64 ": record without a valid id header",
                  p, rec->offset);
        return;
    }
    found_set(v, rec->offset, id);
    if (id >= v->o->records) {
        violation(v, "partition %" PRIu32 " offset %" PRIu64 ": id %" PRIu64
                  " was never produced (records %" PRIu64 ")", p, rec->offset, id, v->o->records);
        return;
    }
    if (id % v->partitions != p) {
        violation(v, "partition %" PRIu32 " offset %" PRIu64 ": id %" PRIu64
                  " belongs to partition %" PRIu64, p, rec->offset, id, id % v->partitions);
        return;
    }
    struct testrec expected;
    testrec_make(&expected, v->o->seed, id, 0);
    const char *diff = testrec_compare(&expected, rec);
    if (diff != NULL) {
        violation(v, "partition %" PRIu32 " offset %" PRIu64 ": id %" PRIu64 ": %s", p,
                  rec->offset, id, diff);
        return;
    }
    if (v->seen[id]) {
        v->duplicates++;
        if (!v->retried[id])
            violation(v, "partition %" PRIu32 " offset %" PRIu64 ": id %" PRIu64
                      " appears twice but was never retried", p, rec->offset, id);
        return;
    }
    v->seen[id] = 1;
    if (*have_max && id < *max_id) {
        if (v->retried[id])
            v->late++;
        else
            violation(v, "partition %" PRIu32 " offset %" PRIu64 ": id %" PRIu64
                      " after id %" PRIu64 " (out of order, never retried)", p, rec->offset, id,
                      *max_id);
    }
    if (!*have_max || id > *max_id) {
        *max_id = id;
        *have_max = true;
    }
}

/* Reads partition p from offset 0 to its high watermark. Returns records read. */
static uint64_t verify_partition(struct verifier *v, struct wire_client *c, uint32_t p,
                                 int64_t deadline, uint8_t *scratch, uint64_t *hw_out)
{
    uint64_t offset = 0, read = 0, max_id = 0;
    bool have_max = false;
    unsigned empty_answers = 0;
    for (;;) {
        uint32_t t = ms_left(deadline);
        if (t == 0)
            die("verify: partition %" PRIu32 ": deadline passed at offset %" PRIu64, p, offset);
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_FETCH;
        req.body.fetch_req.topic = bytes_of(v->o->topic);
        req.body.fetch_req.partition = p;
        req.body.fetch_req.offset = offset;
        req.body.fetch_req.max_bytes = WIRE_MIB;
        req.body.fetch_req.max_wait_ms = 0;
        int rc = wire_client_request(c, &req, t, 0, &resp);
        if (rc != WIRE_OK)
            die("verify: FETCH %s/%" PRIu32 " at %" PRIu64 ": %s", v->o->topic, p, offset,
                wire_client_error(c));
        if (resp.error == WIRE_ERR_OFFSET_OUT_OF_RANGE) {
            violation(v, "partition %" PRIu32 ": offset %" PRIu64
                      " out of range (log start %" PRIu64 ", high watermark %" PRIu64 ")",
                      p, offset, resp.body.offset_range_detail.log_start_offset,
                      resp.body.offset_range_detail.high_watermark);
            *hw_out = offset;
            return read;
        }
        if (resp.error != WIRE_OK)
            die("verify: FETCH %s/%" PRIu32 " at %" PRIu64 ": %s: %.*s", v->o->topic, p, offset,
                wire_err_name((int)resp.error), (int)resp.error_message.len,
                (const char *)resp.error_message.ptr);
        const struct wire_fetch_resp *f = &resp.body.fetch_resp;
        uint64_t hw = f->high_watermark;
        if (offset >= hw) {
            *hw_out = hw;
            return read;
        }
        uint64_t before = offset;
        for (uint32_t i = 0; i < f->batches.count; i++) {
            struct wire_bytes bb = f->batches.items[i];
            struct wire_batch_header h;
            const char *why = "";
            rc = wire_batch_validate(bb.ptr, bb.len, &h, &why);
            if (rc != WIRE_OK) {
                violation(v, "partition %" PRIu32 " near offset %" PRIu64 ": bad batch: %s (%s)",
                          p, offset, wire_err_name(rc), why);
                *hw_out = hw;
                return read;
            }
            struct wire_record_iter it;
            rc = wire_record_iter_init(&it, &h, scratch, WIRE_BATCH_RECORDS_BYTES_MAX, &why);
            while (rc == WIRE_OK && wire_record_iter_has_next(&it)) {
                struct wire_record rec;
                rc = wire_record_iter_next(&it, &rec, &why);
                if (rc != WIRE_OK)
                    break;
                if (rec.offset < offset)
                    continue; /* the batch began before what we asked for */
                if (rec.offset >= hw) {
                    violation(v, "partition %" PRIu32 ": record at offset %" PRIu64
                              " at or beyond the high watermark %" PRIu64, p, rec.offset, hw);
                    break;
                }
                if (rec.offset != offset)
                    violation(v, "partition %" PRIu32 ": offsets jump from %" PRIu64 " to %" PRIu64,
                              p, offset, rec.offset);
                check_record(v, p, &rec, &max_id, &have_max);
                read++;
                offset = rec.offset + 1;
            }
            if (rc != WIRE_OK) {
                violation(v, "partition %" PRIu32 " near offset %" PRIu64 ": bad records: %s (%s)",
                          p, offset, wire_err_name(rc), why);
                *hw_out = hw;
                return read;
            }
        }
        if (offset == before) {
            if (++empty_answers > 50) {
                violation(v, "partition %" PRIu32 ": no records at offset %" PRIu64
                          " below the high watermark %" PRIu64, p, offset, hw);
                *hw_out = hw;
                return read;
            }
            wire_sleep_ms(20);
        } else {
            empty_answers = 0;
        }
    }
}

static int cmd_verify(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL, "-t TOPIC");
    require(o->records > 0, "--records N");
    require(o->acks_path != NULL, "--acks FILE");
    struct testacks acks;
    char why[600];
    if (testacks_load(o->acks_path, &acks, why, sizeof(why)) != 0)
        die("verify: %s", why);
    uint32_t partitions;
    struct wire_client *c = open_for_topic(o, 0, deadline, &partitions);
    if (acks.has_header) {
        if (acks.header.partitions != partitions || acks.header.records != o->records ||
            acks.header.seed != o->seed || strcmp(acks.header.topic, o->topic) != 0)
            die("verify: %s was written for topic=%s partitions=%" PRIu32 " records=%" PRIu64
                " seed=%" PRIu64 ", not topic=%s partitions=%" PRIu32 " records=%" PRIu64
                " seed=%" PRIu64, o->acks_path, acks.header.topic, acks.header.partitions,
                acks.header.records, acks.header.seed, o->topic, partitions, o->records, o->seed);
    }
    struct verifier v = {0};
    v.o = o;
    v.partitions = partitions;
    v.seen = calloc(o->records, 1);
    v.retried = calloc(o->records, 1);
    uint8_t *scratch = malloc(WIRE_BATCH_RECORDS_BYTES_MAX);
    if (v.seen == NULL || v.retried == NULL || scratch == NULL)
        die("out of memory");
    for (size_t i = 0; i < acks.retry_count; i++) {
        const struct testretry *r = &acks.retries[i];
        for (uint64_t id = r->first_id; id <= r->last_id && id < o->records; id += partitions)
            v.retried[id] = 1;
    }
    uint64_t acked_ok = 0, acked_total = 0, high_watermarks = 0;
    for (uint32_t p = 0; p < partitions; p++) {
        v.found_cap = 0;
        free(v.found);
        v.found = NULL;
        uint64_t hw = 0;
        v.records_read += verify_partition(&v, c, p, deadline, scratch, &hw);
        high_watermarks += hw;
        for (size_t i = 0; i < acks.ack_count; i++) {
            const struct testack *a = &acks.acks[i];
            if (a->partition != p)
                continue;
            acked_total++;
            uint64_t got = a->offset < v.found_cap ? v.found[a->offset] : UINT64_MAX;
            if (got == a->id) {
                acked_ok++;
            } else if (got == UINT64_MAX) {
                violation(&v, "acknowledged record lost: partition %" PRIu32 " offset %" PRIu64
                          " id %" PRIu64 " (high watermark %" PRIu64 ")", p, a->offset, a->id, hw);
            } else {
                violation(&v, "acknowledged record replaced: partition %" PRIu32 " offset %" PRIu64
                          " should hold id %" PRIu64 " but holds id %" PRIu64, p, a->offset, a->id,
                          got);
            }
        }
    }
    for (size_t i = 0; i < acks.ack_count; i++) {
        if (acks.acks[i].partition >= partitions)
            violation(&v, "ack for partition %" PRIu32 " of a %" PRIu32 "-partition topic",
                      acks.acks[i].partition, partitions);
    }
    uint64_t distinct = 0;
    for (uint64_t id = 0; id < o->records; id++)
        distinct += v.seen[id];
    printf("verify: %" PRIu32 " partitions, %" PRIu64 " records read (high watermarks sum %" PRIu64
           "), %" PRIu64 " distinct ids, %" PRIu64 "/%" PRIu64 " acknowledged records present, %"
           PRIu64 " unacknowledged present, %" PRIu64 " duplicates, %" PRIu64
           " retried records late, %zu retried batches, %" PRIu64 " violations\n",
           partitions, v.records_read, high_watermarks, distinct, acked_ok, acked_total,
           distinct >= acked_ok ? distinct - acked_ok : 0, v.duplicates, v.late,
           acks.retry_count, v.violations);
    if (v.violations > REPORT_MAX)
        printf("(only the first %d violations were printed)\n", REPORT_MAX);
    free(v.found);
    free(v.seen);
    free(v.retried);
    free(scratch);
    testacks_free(&acks);
    wire_client_close(c);
    return v.violations == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- probe ------------------------------------------------------------------------------- */

/*
 * Measures availability from a client's side, for the failover benchmark
 * (bench/cluster_bench.sh): one record at a time to one partition, each
 * attempt bounded by --attempt-ms, every acknowledgement stamped with the
 * wall clock so a script can compare it with the moment it killed a broker.
 *
 * After an attempt's transport failure (no answer in time, connection
 * lost) the broker asked is "suspect" for one attempt period: while the
 * metadata still names it leader the probe asks METADATA again every few
 * milliseconds instead of sending into a dead connection, so it notices a
 * new leader within a few ms of a surviving broker knowing it. After that
 * period the suspect is tried again (it may only have been slow).
 */

static volatile sig_atomic_t probe_stop;

static void probe_on_signal(int sig)
{
    (void)sig;
    probe_stop = 1;
}

static int cmd_probe(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL, "-t TOPIC");
    require(o->have_partition, "-p PARTITION");
    uint32_t attempt_ms = o->attempt_ms != 0 ? o->attempt_ms : 100;
    uint32_t size = o->size != 0 ? o->size : 100;
    if (size > WIRE_RECORD_BYTES_MAX - 64)
        usage_error("--size: at most %u bytes", WIRE_RECORD_BYTES_MAX - 64);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = probe_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct wire_client_config cfg = {0};
    cfg.bootstrap = o->bootstrap;
    cfg.attempt_timeout_ms = attempt_ms;
    cfg.connect_timeout_ms = attempt_ms / 2 > 10 ? attempt_ms / 2 : 10;
    cfg.in_flight_max = 4;
    struct wire_client *c;
    int rc = wire_client_open(&cfg, &c);
    if (rc != WIRE_OK)
        die("cannot open a client for '%s': %s", o->bootstrap, wire_strerror(rc));

    uint8_t *value = malloc(size);
    size_t batch_cap = WIRE_BATCH_HEADER_BYTES + size + 256;
    uint8_t *batch_buf = malloc(batch_cap);
    size_t lz4_cap = wire_batch_lz4_buf_bytes((uint32_t)batch_cap);
    uint8_t *lz4_buf = malloc(lz4_cap);
    if (value == NULL || batch_buf == NULL || lz4_buf == NULL)
        die("out of memory");
    uint64_t x = 7;
    for (uint32_t i = 0; i < size; i++) {
        x = testrec_mix(x);
        value[i] = (uint8_t)x;
    }

    uint64_t acked = 0, missed = 0;
    uint32_t suspect = 0;
    int64_t suspect_until_ns = 0;
    int64_t start = wire_mono_ns();
    while (!probe_stop && ms_left(deadline) > 0 && (o->records == 0 || acked < o->records)) {
        uint32_t node = 0;
        const char *address = NULL;
        rc = wire_client_leader(c, o->topic, o->partition, &node, &address);
        if (rc == WIRE_OK && node == suspect && wire_mono_ns() < suspect_until_ns) {
            /* Still named leader by the cache: ask again rather than send into the void. */
            wire_client_forget_leader(c, o->topic, o->partition);
            rc = WIRE_ERR_LEADER_NOT_AVAILABLE;
        }
        if (rc != WIRE_OK) {
            uint32_t t = ms_left(deadline);
            wire_client_refresh_metadata(c, o->topic, t < 3 * attempt_ms ? t : 3 * attempt_ms);
            rc = wire_client_leader(c, o->topic, o->partition, &node, &address);
            if (rc == WIRE_ERR_UNKNOWN_PARTITION)
                die("probe: %s has no partition %" PRIu32, o->topic, o->partition);
            if (rc != WIRE_OK || (node == suspect && wire_mono_ns() < suspect_until_ns)) {
                wire_sleep_ms(3);
                continue;
            }
        }
        struct wire_batch_builder builder;
        wire_batch_builder_init(&builder, batch_buf, batch_cap, WIRE_CODEC_NONE);
        struct wire_record rec = {0};
        rec.timestamp = wire_wall_ms();
        rec.value = (struct wire_bytes){value, size};
        struct wire_bytes batch;
        rc = wire_batch_builder_add(&builder, &rec);
        if (rc == WIRE_OK)
            rc = wire_batch_builder_finish(&builder, lz4_buf, lz4_cap, &batch);
        if (rc != WIRE_OK)
            die("probe: cannot build a batch: %s", wire_strerror(rc));
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_PRODUCE;
        req.body.produce_req.topic = bytes_of(o->topic);
        req.body.produce_req.partition = o->partition;
        req.body.produce_req.timeout_ms = attempt_ms;
        req.body.produce_req.batches.count = 1;
        req.body.produce_req.batches.items = &batch;
        /* The copy: the cache's address is only valid until the next refresh. */
        char asked[WIRE_STRING_BYTES_MAX + 1];
        snprintf(asked, sizeof(asked), "%s", address);
        uint32_t asked_node = node;
        int64_t sent = wire_mono_ns();
        rc = wire_client_call(c, asked, &req, attempt_ms, &resp);
        if (rc == WIRE_OK && resp.error == WIRE_OK) {
            printf("ack %" PRId64 " %" PRIu32 " %" PRIu64 " %.0f\n", wire_wall_ms(), asked_node,
                   resp.body.produce_resp.base_offset, (double)(wire_mono_ns() - sent) / 1000.0);
            acked++;
            suspect = 0;
            continue;
        }
        missed++;
        if (rc != WIRE_OK) {
            /* No answer in time or connection lost: the outcome is unknown, the broker suspect. */
            printf("miss %" PRId64 " %" PRIu32 " %s\n", wire_wall_ms(), asked_node,
                   wire_client_error(c));
            suspect = asked_node;
            suspect_until_ns = wire_mono_ns() + (int64_t)attempt_ms * 1000000;
            wire_client_forget_leader(c, o->topic, o->partition);
            continue;
        }
        printf("miss %" PRId64 " %" PRIu32 " %s: %.*s\n", wire_wall_ms(), asked_node,
               wire_err_name((int)resp.error), (int)resp.error_message.len,
               (const char *)resp.error_message.ptr);
        if (resp.error == WIRE_ERR_NOT_LEADER) {
            wire_client_note_not_leader(c, o->topic, o->partition, &resp);
        } else if (resp.error == WIRE_ERR_UNKNOWN_TOPIC || resp.error == WIRE_ERR_UNKNOWN_PARTITION ||
                   resp.error == WIRE_ERR_LEADER_NOT_AVAILABLE ||
                   resp.error == WIRE_ERR_SHUTTING_DOWN) {
            wire_client_forget_leader(c, o->topic, o->partition);
            wire_sleep_ms(2);
        } else if (wire_client_error_is_transient(resp.error)) {
            wire_sleep_ms(2); /* TIMEOUT, BACKPRESSURE, NOT_ENOUGH_REPLICAS: same leader, again */
        } else {
            die("probe: PRODUCE to %s: %s", asked, wire_err_name((int)resp.error));
        }
    }
    double elapsed = (double)(wire_mono_ns() - start) / 1e9;
    printf("probe: %" PRIu64 " acknowledged, %" PRIu64 " failed attempts, %.1f s\n", acked, missed,
           elapsed);
    free(value);
    free(batch_buf);
    free(lz4_buf);
    wire_client_close(c);
    return acked > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- main ------------------------------------------------------------------------------- */

enum {
    OPT_BROKERS = 256,
    OPT_PARTITIONS,
    OPT_REPLICAS,
    OPT_RECORDS,
    OPT_SEED,
    OPT_ACKS,
    OPT_INFLIGHT,
    OPT_BATCH_RECORDS,
    OPT_SIZE,
    OPT_SYNC,
    OPT_TIMEOUT,
    OPT_REQUEST_TIMEOUT,
    OPT_RATE,
    OPT_CODEC,
    OPT_ATTEMPT_MS,
    OPT_HELP,
};


/* ---- idempotent producers at the wire level (test_idempotence.sh) ---------------- */

#define IDEM_BATCHES 3u

/* Batch k of the idempotence check: records 3k..3k+2 of producer pid, sequence 3k, fixed bytes. */
static struct wire_bytes idem_batch(uint8_t *buf, size_t cap, int64_t pid, uint32_t k)
{
    struct wire_batch_builder bld;
    wire_batch_builder_init(&bld, buf, cap, WIRE_CODEC_NONE);
    wire_batch_builder_set_producer(&bld, pid, 0, (int32_t)(3 * k));
    char value[32];
    for (uint32_t i = 0; i < 3; i++) {
        int n = snprintf(value, sizeof value, "idem-%u", 3 * k + i);
        struct wire_record rec = {.timestamp = 1767225600000LL + 3 * k + i,
                                  .value = {(const uint8_t *)value, (uint32_t)n}};
        require(wire_batch_builder_add(&bld, &rec) == WIRE_OK, "building an idempotent batch");
    }
    struct wire_bytes out;
    require(wire_batch_builder_finish(&bld, NULL, 0, &out) == WIRE_OK, "finishing a batch");
    return out;
}

/* PRODUCE one batch to o->partition (routed, NOT_LEADER followed); returns the response error. */
static uint32_t idem_send(struct wire_client *c, const struct options *o, struct wire_bytes batch,
                          int64_t deadline, uint64_t *base, uint64_t *last)
{
    struct wire_frame req = {.type = WIRE_PRODUCE}, resp;
    req.body.produce_req.topic = bytes_of(o->topic);
    req.body.produce_req.partition = o->partition;
    req.body.produce_req.timeout_ms = o->request_timeout_ms;
    req.body.produce_req.batches = (struct wire_bytes_array){1, &batch};
    int rc = wire_client_request(c, &req, ms_left(deadline), WIRE_CLIENT_RETRY_UNKNOWN, &resp);
    if (rc != WIRE_OK)
        die("PRODUCE: %s", wire_client_error(c));
    *base = resp.body.produce_resp.base_offset;
    *last = resp.body.produce_resp.last_offset;
    return resp.error;
}

static int64_t idem_init_producer(struct wire_client *c, int64_t deadline)
{
    struct wire_frame req = {.type = WIRE_INIT_PRODUCER_ID}, resp;
    if (wire_client_request(c, &req, ms_left(deadline), 0, &resp) != WIRE_OK)
        die("INIT_PRODUCER_ID: %s", wire_client_error(c));
    if (resp.error != WIRE_OK)
        die("INIT_PRODUCER_ID answered %s", wire_err_name((int)resp.error));
    return resp.body.init_producer_id_resp.producer_id;
}

static void idem_expect(uint32_t got, uint32_t want, const char *what)
{
    if (got != want)
        die("%s: got %s, expected %s", what, wire_err_name((int)got), wire_err_name((int)want));
}

/*
 * idem-first: gets two producer ids (distinct), sends batches 0..2 of the
 * first, each twice (the second time must be answered with the same
 * offsets), checks OUT_OF_ORDER_SEQUENCE and UNKNOWN_PRODUCER, and writes
 * "pid base0 base1 base2" to --acks FILE.
 */
static int cmd_idem_first(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL && o->have_partition && o->acks_path != NULL, "-t, -p and --acks");
    struct wire_client *c = open_client(o, 4);
    int64_t pid = idem_init_producer(c, deadline);
    int64_t other = idem_init_producer(c, deadline);
    if (pid < 1 || other == pid)
        die("INIT_PRODUCER_ID gave ids %" PRId64 " and %" PRId64, pid, other);
    static uint8_t buf[4096];
    uint64_t base[IDEM_BATCHES], last, again_base, again_last;
    for (uint32_t k = 0; k < IDEM_BATCHES; k++) {
        struct wire_bytes b = idem_batch(buf, sizeof buf, pid, k);
        idem_expect(idem_send(c, o, b, deadline, &base[k], &last), WIRE_OK, "first send");
        if (last != base[k] + 2 || (k > 0 && base[k] != base[k - 1] + 3))
            die("batch %u got offsets %" PRIu64 "..%" PRIu64, k, base[k], last);
        idem_expect(idem_send(c, o, b, deadline, &again_base, &again_last), WIRE_OK, "resend");
        if (again_base != base[k] || again_last != last)
            die("resent batch %u got %" PRIu64 "..%" PRIu64 ", first %" PRIu64 "..%" PRIu64, k,
                again_base, again_last, base[k], last);
    }
    /* Sequence 12 skips batch 3 (sequence 9). */
    struct wire_bytes gap = idem_batch(buf, sizeof buf, pid, 4);
    idem_expect(idem_send(c, o, gap, deadline, &again_base, &again_last),
                WIRE_ERR_OUT_OF_ORDER_SEQUENCE, "a sequence gap");
    struct wire_bytes stranger = idem_batch(buf, sizeof buf, other, 1);
    idem_expect(idem_send(c, o, stranger, deadline, &again_base, &again_last),
                WIRE_ERR_UNKNOWN_PRODUCER, "a producer's first batch at sequence 3");
    FILE *f = fopen(o->acks_path, "w");
    require(f != NULL, "opening --acks");
    fprintf(f, "%" PRId64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", pid, base[0], base[1], base[2]);
    fclose(f);
    wire_client_close(c);
    printf("idempotent producer %" PRId64 ": batches at %" PRIu64 ", %" PRIu64 ", %" PRIu64
           ", resends deduplicated\n", pid, base[0], base[1], base[2]);
    return EXIT_SUCCESS;
}

/*
 * idem-resend (after the leader changed): sends the same three batches
 * again; each must get its original offsets, and the partition must hold
 * each of the 9 records exactly once.
 */
static int cmd_idem_resend(const struct options *o, int64_t deadline)
{
    require(o->topic != NULL && o->have_partition && o->acks_path != NULL, "-t, -p and --acks");
    FILE *f = fopen(o->acks_path, "r");
    require(f != NULL, "opening --acks");
    int64_t pid;
    uint64_t want[IDEM_BATCHES];
    require(fscanf(f, "%" SCNd64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &pid, &want[0], &want[1],
                   &want[2]) == 4, "reading --acks");
    fclose(f);
    struct wire_client *c = open_client(o, 4);
    static uint8_t buf[4096];
    for (uint32_t k = 0; k < IDEM_BATCHES; k++) {
        uint64_t base, last;
        struct wire_bytes b = idem_batch(buf, sizeof buf, pid, k);
        idem_expect(idem_send(c, o, b, deadline, &base, &last), WIRE_OK, "resend after failover");
        if (base != want[k])
            die("batch %u resent after failover got offset %" PRIu64 ", first %" PRIu64, k, base,
                want[k]);
    }
    /* Read the partition: each idem-N value once. */
    uint32_t seen[3 * IDEM_BATCHES] = {0};
    uint64_t offset = 0, high = 1;
    while (offset < high) {
        struct wire_frame req = {.type = WIRE_FETCH}, resp;
        req.body.fetch_req = (struct wire_fetch_req){.topic = bytes_of(o->topic),
                                                     .partition = o->partition, .offset = offset,
                                                     .max_bytes = WIRE_MIB};
        if (wire_client_request(c, &req, ms_left(deadline), 0, &resp) != WIRE_OK || resp.error != WIRE_OK)
            die("FETCH at %" PRIu64 ": %s", offset, wire_client_error(c));
        high = resp.body.fetch_resp.high_watermark;
        for (uint32_t i = 0; i < resp.body.fetch_resp.batches.count; i++) {
            const struct wire_bytes *bb = &resp.body.fetch_resp.batches.items[i];
            struct wire_batch_header h;
            struct wire_record_iter it;
            static uint8_t scratch[WIRE_BATCH_RECORDS_BYTES_MAX];
            require(wire_batch_validate(bb->ptr, bb->len, &h, NULL) == WIRE_OK &&
                    wire_record_iter_init(&it, &h, scratch, sizeof scratch, NULL) == WIRE_OK,
                    "a fetched batch");
            while (wire_record_iter_has_next(&it)) {
                struct wire_record r;
                require(wire_record_iter_next(&it, &r, NULL) == WIRE_OK, "a fetched record");
                unsigned n;
                if (r.offset >= offset && r.value.len > 5 && r.value.len < 16 &&
                    sscanf((const char *)r.value.ptr, "idem-%u", &n) == 1 && n < 3 * IDEM_BATCHES)
                    seen[n]++;
                offset = r.offset + 1 > offset ? r.offset + 1 : offset;
            }
        }
        if (resp.body.fetch_resp.batches.count == 0)
            break;
    }
    for (uint32_t n = 0; n < 3 * IDEM_BATCHES; n++)
        if (seen[n] != 1)
            die("record idem-%u is in the log %u times", n, seen[n]);
    wire_client_close(c);
    printf("after failover: resends got their original offsets, every record once\n");
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    o.timeout_s = 60;
    o.in_flight = 8;
    o.batch_records = 100;
    o.request_timeout_ms = 5000;
    o.codec = WIRE_CODEC_LZ4;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        return EXIT_USAGE;
    }
    o.command = argv[1];
    static const struct option longs[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"replicas", required_argument, NULL, OPT_REPLICAS},
        {"records", required_argument, NULL, OPT_RECORDS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"inflight", required_argument, NULL, OPT_INFLIGHT},
        {"batch-records", required_argument, NULL, OPT_BATCH_RECORDS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"sync", no_argument, NULL, OPT_SYNC},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
        {"rate", required_argument, NULL, OPT_RATE},
        {"codec", required_argument, NULL, OPT_CODEC},
        {"attempt-ms", required_argument, NULL, OPT_ATTEMPT_MS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "b:t:p:", longs, NULL)) != -1) {
        switch (ch) {
        case 'b': o.bootstrap = optarg; break;
        case 't':
            if (optarg[0] == '\0' || strlen(optarg) > WIRE_TOPIC_NAME_BYTES_MAX)
                usage_error("-t: bad topic name");
            o.topic = optarg;
            break;
        case 'p':
            o.partition = (uint32_t)parse_u64_arg("-p", optarg, 0, WIRE_PARTITIONS_MAX - 1);
            o.have_partition = true;
            break;
        case OPT_BROKERS:
            o.brokers = (uint32_t)parse_u64_arg("--brokers", optarg, 1, WIRE_CLIENT_CONNECTIONS_MAX);
            break;
        case OPT_PARTITIONS: o.partitions_arg = optarg; break;
        case OPT_REPLICAS:
            o.replicas = (uint32_t)parse_u64_arg("--replicas", optarg, 1, WIRE_REPLICAS_MAX);
            break;
        case OPT_RECORDS:
            o.records = parse_u64_arg("--records", optarg, 1, 1000000000);
            break;
        case OPT_SEED: o.seed = parse_u64_arg("--seed", optarg, 0, UINT64_MAX); break;
        case OPT_ACKS: o.acks_path = optarg; break;
        case OPT_INFLIGHT:
            o.in_flight = (uint32_t)parse_u64_arg("--inflight", optarg, 1, 1024);
            break;
        case OPT_BATCH_RECORDS:
            o.batch_records = (uint32_t)parse_u64_arg("--batch-records", optarg, 1, 100000);
            break;
        case OPT_SIZE:
            o.size = (uint32_t)parse_u64_arg("--size", optarg, 1, WIRE_RECORD_BYTES_MAX);
            break;
        case OPT_SYNC: o.sync = true; break;
        case OPT_TIMEOUT: o.timeout_s = parse_double_arg("--timeout", optarg); break;
        case OPT_REQUEST_TIMEOUT:
            o.request_timeout_ms =
                (uint32_t)parse_u64_arg("--request-timeout", optarg, 1, 600000);
            break;
        case OPT_RATE: o.rate = parse_double_arg("--rate", optarg); break;
        case OPT_CODEC:
            if (strcmp(optarg, "none") == 0)
                o.codec = WIRE_CODEC_NONE;
            else if (strcmp(optarg, "lz4") == 0)
                o.codec = WIRE_CODEC_LZ4;
            else
                usage_error("--codec: none or lz4, not '%s'", optarg);
            break;
        case OPT_ATTEMPT_MS:
            o.attempt_ms = (uint32_t)parse_u64_arg("--attempt-ms", optarg, 1, 600000);
            break;
        case OPT_HELP: usage(stdout); return EXIT_SUCCESS;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (o.bootstrap == NULL)
        usage_error("-b BROKERS is required");
    int64_t deadline = wire_mono_ns() + (int64_t)(o.timeout_s * 1e9);
    /* stdout may be a pipe or file that a test reads while we run. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    static const struct {
        const char *name;
        int (*run)(const struct options *, int64_t);
    } commands[] = {
        {"wait-ready", cmd_wait_ready}, {"create", cmd_create},   {"produce", cmd_produce},
        {"verify", cmd_verify},         {"bench", cmd_bench},     {"leader", cmd_leader},
        {"status", cmd_status},         {"wait-converged", cmd_wait_converged},
        {"probe", cmd_probe},           {"idem-first", cmd_idem_first},
        {"idem-resend", cmd_idem_resend}, {"rtt", cmd_rtt},
    };
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(o.command, commands[i].name) == 0)
            return commands[i].run(&o, deadline);
    }
    usage_error("unknown command '%s'", o.command);
}
