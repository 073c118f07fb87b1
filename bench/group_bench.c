/* raftmq-bench group: how fast a consumer group hands partitions over, and how fast a group reads. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/group_bench.h"
#include "bench/histogram.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/raftmq.h"
#include "wire/tool.h"

/*
 * Two phases, one cluster, one topic of P partitions (docs/benchmarks.md,
 * "Consumer groups"):
 *
 * 1. Throughput: --records records are produced first; then one consumer
 *    assigned every partition reads them all, and then a fresh group of
 *    --members members (one thread and one handle each) reads them all. The
 *    figures are records / (first subscribe .. last record), the group's
 *    first rebalances included, and records / (first record .. last record).
 * 2. Rebalances: a producer writes --rate records/s throughout; a group of
 *    --members members is stable; then --trials times a member joins and, once
 *    the group has settled, leaves again (clean unsubscribe). One trial is timed
 *    from the subscribe (or unsubscribe) call until every partition has exactly
 *    one owner, every member holds its even share, and every partition that
 *    changed owner has delivered a record to its new owner: the group consumes
 *    again with the new assignment. Partitions that did not move are watched
 *    too: the longest gap between two of their records during a trial is
 *    reported (incremental rebalancing should not pause them).
 */

#define GB_MEMBERS_MAX 16u
#define GB_PARTITIONS_MAX 256u
#define GB_TRIALS_MAX 1000u
#define GB_POOL_BYTES (1u << 20)
#define GB_SETTLE_TIMEOUT_NS (30LL * 1000000000)

struct gb_opts {
    char brokers[4096];
    const char *topic;
    uint32_t members;
    uint32_t trials;
    uint64_t records;
    uint32_t size;
    uint32_t rate;
    uint32_t session_timeout_ms;
    uint32_t heartbeat_ms;
    bool json;
};

/* What the group looks like, from the members' callbacks and records. */
struct gb_partition {
    int owners;           /* members that own it now (must be 0 or 1) */
    int owner;            /* the last member that was given it */
    bool awaiting_record; /* given to a new owner that has not returned a record of it yet */
    bool moved;           /* changed owner during the current trial */
    int64_t last_record_ns;
    int64_t max_gap_ns;   /* during the current trial */
};

struct gb_state {
    pthread_mutex_t lock;
    uint32_t partitions;
    struct gb_partition part[GB_PARTITIONS_MAX];
    uint32_t owned[GB_MEMBERS_MAX + 1];
    uint64_t double_owned; /* times a partition was given to a member while another owned it */
    atomic_uint_fast64_t records;
    atomic_int_fast64_t first_record_ns; /* phase 1: when the group returned its first record */
};

struct gb_member {
    struct gb_state *st;
    const struct gb_opts *o;
    int index;
    const char *group;
    bool track; /* phase 2: keep the partition table */
    pthread_t thread;
    atomic_bool running;
    atomic_bool leave;   /* unsubscribe, then stop */
    atomic_bool stop;
    atomic_bool failed;
    char error[512];
};

static void member_assignment(raftmq_consumer *c, const struct raftmq_topic_partition *parts,
                              size_t count, bool lost, void *opaque, bool assigned)
{
    (void)c;
    (void)lost;
    struct gb_member *m = opaque;
    struct gb_state *st = m->st;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < count; i++) {
        uint32_t p = (uint32_t)parts[i].partition;
        if (p >= st->partitions)
            continue;
        struct gb_partition *gp = &st->part[p];
        if (assigned) {
            if (gp->owners > 0)
                st->double_owned++;
            gp->owners++;
            if (gp->owner != m->index)
                gp->moved = true;
            gp->owner = m->index;
            gp->awaiting_record = true;
            st->owned[m->index]++;
        } else {
            gp->owners--;
            st->owned[m->index]--;
        }
    }
    pthread_mutex_unlock(&st->lock);
}

static void on_assigned(raftmq_consumer *c, const struct raftmq_topic_partition *parts,
                        size_t count, bool lost, void *opaque)
{
    member_assignment(c, parts, count, lost, opaque, true);
}

static void on_revoked(raftmq_consumer *c, const struct raftmq_topic_partition *parts,
                       size_t count, bool lost, void *opaque)
{
    member_assignment(c, parts, count, lost, opaque, false);
}

static void note_record(struct gb_member *m, uint32_t p)
{
    struct gb_state *st = m->st;
    atomic_fetch_add(&st->records, 1);
    int64_t now = wire_mono_ns();
    int_fast64_t none = 0;
    if (atomic_load(&st->first_record_ns) == 0)
        atomic_compare_exchange_strong(&st->first_record_ns, &none, now);
    if (!m->track || p >= st->partitions)
        return;
    pthread_mutex_lock(&st->lock);
    struct gb_partition *gp = &st->part[p];
    if (gp->owner == m->index)
        gp->awaiting_record = false;
    if (gp->last_record_ns != 0 && now - gp->last_record_ns > gp->max_gap_ns)
        gp->max_gap_ns = now - gp->last_record_ns;
    gp->last_record_ns = now;
    pthread_mutex_unlock(&st->lock);
}

static void *member_main(void *arg)
{
    struct gb_member *m = arg;
    struct raftmq_consumer_config cc;
    raftmq_consumer_config_init(&cc);
    cc.brokers = m->o->brokers;
    cc.offset_reset = m->track ? RAFTMQ_RESET_LATEST : RAFTMQ_RESET_EARLIEST;
    raftmq_consumer *c = NULL;
    if (raftmq_consumer_new(&cc, &c, m->error, sizeof(m->error)) != RAFTMQ_OK) {
        atomic_store(&m->failed, true);
        atomic_store(&m->running, false);
        return NULL;
    }
    struct raftmq_group_config gc;
    raftmq_group_config_init(&gc);
    gc.session_timeout_ms = m->o->session_timeout_ms;
    if (m->o->heartbeat_ms != 0)
        gc.heartbeat_interval_ms = m->o->heartbeat_ms;
    gc.on_assigned = on_assigned;
    gc.on_revoked = on_revoked;
    gc.cb_opaque = m;
    char label[64];
    snprintf(label, sizeof label, "raftmq-bench-%d", m->index);
    gc.client_id = label;
    const char *topics[1] = {m->o->topic};
    if (raftmq_consumer_subscribe(c, m->group, topics, 1, &gc) != RAFTMQ_OK) {
        snprintf(m->error, sizeof m->error, "%s", raftmq_consumer_last_error(c));
        atomic_store(&m->failed, true);
        goto done;
    }
    while (!atomic_load(&m->stop)) {
        if (atomic_load(&m->leave)) {
            int rc = raftmq_consumer_unsubscribe(c, 10000);
            if (rc != RAFTMQ_OK) {
                snprintf(m->error, sizeof m->error, "unsubscribe: %s",
                         raftmq_consumer_last_error(c));
                atomic_store(&m->failed, true);
            }
            break;
        }
        struct raftmq_record rec;
        int rc = raftmq_consumer_poll(c, 20, &rec);
        if (rc == RAFTMQ_OK)
            note_record(m, (uint32_t)rec.partition);
    }
done:
    raftmq_consumer_close(c);
    atomic_store(&m->running, false);
    return NULL;
}

static bool member_start(struct gb_member *m)
{
    atomic_store(&m->running, true);
    atomic_store(&m->leave, false);
    atomic_store(&m->stop, false);
    atomic_store(&m->failed, false);
    m->error[0] = '\0';
    if (pthread_create(&m->thread, NULL, member_main, m) != 0) {
        atomic_store(&m->running, false);
        return false;
    }
    return true;
}

static void member_join(struct gb_member *m)
{
    pthread_join(m->thread, NULL);
}

/* ---- producing ----------------------------------------------------------------------------- */

struct gb_producer {
    const struct gb_opts *o;
    pthread_t thread;
    atomic_bool stop;
    uint64_t sent;
    uint64_t failed;
};

static void count_failure(const struct raftmq_delivery *d, void *opaque)
{
    struct gb_producer *gp = opaque;
    if (d->error != RAFTMQ_OK)
        gp->failed++;
}

/* Produces `count` records as fast as it can (count > 0) or o->rate per second until stopped. */
static void produce(struct gb_producer *gp, uint64_t count)
{
    struct raftmq_producer_config pc;
    raftmq_producer_config_init(&pc);
    pc.brokers = gp->o->brokers;
    pc.on_delivery = count_failure;
    pc.cb_opaque = gp;
    raftmq_producer *p = NULL;
    char err[256];
    if (raftmq_producer_new(&pc, &p, err, sizeof err) != RAFTMQ_OK) {
        tool_error("producer: %s", err);
        gp->failed++;
        return;
    }
    /* Values are slices of a pseudo-random pool, so LZ4 does not shrink them to nothing. */
    size_t pool_len = (size_t)gp->o->size + GB_POOL_BYTES;
    uint8_t *pool = malloc(pool_len);
    if (pool == NULL) {
        gp->failed++;
        raftmq_producer_close(p);
        return;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < pool_len; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        pool[i] = (uint8_t)(rng >> 56);
    }
    struct raftmq_message msg = {.topic = gp->o->topic, .partition = RAFTMQ_PARTITION_ANY,
                                 .value_len = gp->o->size};
    int64_t start = wire_mono_ns();
    while (count > 0 ? gp->sent < count : !atomic_load(&gp->stop)) {
        if (count == 0) {
            int64_t due = start + (int64_t)(gp->sent * 1000000000ull / gp->o->rate);
            if (wire_mono_ns() < due) {
                raftmq_producer_poll(p, 1);
                continue;
            }
        }
        msg.value = pool + (gp->sent * 7919u) % GB_POOL_BYTES;
        int rc = raftmq_producer_send(p, &msg);
        if (rc == RAFTMQ_ERR_QUEUE_FULL) {
            raftmq_producer_poll(p, 10);
            continue;
        }
        if (rc != RAFTMQ_OK) {
            tool_error("send: %s", raftmq_producer_last_error(p));
            gp->failed++;
            break;
        }
        gp->sent++;
        raftmq_producer_poll(p, 0);
    }
    if (raftmq_producer_flush(p, 60000) != RAFTMQ_OK)
        gp->failed++;
    raftmq_producer_close(p);
    free(pool);
}

static void *producer_main(void *arg)
{
    produce(arg, 0);
    return NULL;
}

/* ---- phase 1: throughput ----------------------------------------------------------------- */

/* False (after saying why) when a member failed. */
static bool members_ok(struct gb_member *members, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (atomic_load(&members[i].failed)) {
            tool_error("member %u: %s", i, members[i].error);
            return false;
        }
    return true;
}

static bool wait_records(struct gb_state *st, struct gb_member *members, uint32_t n,
                         uint64_t want, int64_t deadline_ns)
{
    while (atomic_load(&st->records) < want) {
        if (wire_mono_ns() > deadline_ns || !members_ok(members, n))
            return false;
        wire_sleep_ms(1);
    }
    return true;
}

/* One consumer assigned every partition from the beginning: records/s. */
static double single_consumer_rate(const struct gb_opts *o, uint32_t partitions)
{
    struct raftmq_consumer_config cc;
    raftmq_consumer_config_init(&cc);
    cc.brokers = o->brokers;
    raftmq_consumer *c = NULL;
    char err[256];
    if (raftmq_consumer_new(&cc, &c, err, sizeof err) != RAFTMQ_OK)
        return -1;
    int64_t start = wire_mono_ns();
    for (uint32_t p = 0; p < partitions; p++)
        if (raftmq_consumer_assign(c, o->topic, (int32_t)p, RAFTMQ_OFFSET_BEGINNING) != RAFTMQ_OK) {
            tool_error("assign %s/%u: %s", o->topic, p, raftmq_consumer_last_error(c));
            raftmq_consumer_close(c);
            return -1;
        }
    uint64_t got = 0;
    int64_t deadline = start + 600LL * 1000000000;
    while (got < o->records && wire_mono_ns() < deadline) {
        struct raftmq_record rec;
        if (raftmq_consumer_poll(c, 100, &rec) == RAFTMQ_OK)
            got++;
    }
    double secs = (double)(wire_mono_ns() - start) / 1e9;
    raftmq_consumer_close(c);
    return got < o->records ? -1 : (double)got / secs;
}

static double group_rate(const struct gb_opts *o, struct gb_state *st, struct gb_member *members,
                         const char *group, uint64_t *duplicates, double *from_first_record)
{
    atomic_store(&st->records, 0);
    atomic_store(&st->first_record_ns, 0);
    int64_t start = wire_mono_ns();
    for (uint32_t i = 0; i < o->members; i++) {
        members[i] = (struct gb_member){.st = st, .o = o, .index = (int)i, .group = group};
        if (!member_start(&members[i]))
            return -1;
    }
    bool ok = wait_records(st, members, o->members, o->records, start + 600LL * 1000000000);
    int64_t end = wire_mono_ns();
    double secs = (double)(end - start) / 1e9;
    *from_first_record = (double)o->records / ((double)(end - atomic_load(&st->first_record_ns)) / 1e9);
    wire_sleep_ms(500); /* a duplicate would arrive now */
    *duplicates = atomic_load(&st->records) - o->records;
    for (uint32_t i = 0; i < o->members; i++)
        atomic_store(&members[i].stop, true);
    for (uint32_t i = 0; i < o->members; i++)
        member_join(&members[i]);
    return ok ? (double)o->records / secs : -1;
}

/* ---- phase 2: rebalances ----------------------------------------------------------------- */

/* Every partition owned once, each of the `active` members at its share, moved ones reading. */
static bool settled(struct gb_state *st, const struct gb_member *members, uint32_t n)
{
    uint32_t lo = st->partitions / n, hi = (st->partitions + n - 1) / n;
    pthread_mutex_lock(&st->lock);
    bool ok = true;
    for (uint32_t p = 0; ok && p < st->partitions; p++)
        ok = st->part[p].owners == 1 && !st->part[p].awaiting_record;
    for (uint32_t i = 0; ok && i < n; i++) {
        uint32_t owned = st->owned[members[i].index];
        ok = owned >= lo && owned <= hi;
    }
    pthread_mutex_unlock(&st->lock);
    return ok;
}

static void trial_begin(struct gb_state *st)
{
    pthread_mutex_lock(&st->lock);
    for (uint32_t p = 0; p < st->partitions; p++) {
        st->part[p].moved = false;
        st->part[p].max_gap_ns = 0;
    }
    pthread_mutex_unlock(&st->lock);
}

/* The longest gap between records of partitions that kept their owner in this trial. */
static int64_t unmoved_gap(struct gb_state *st)
{
    int64_t gap = 0;
    pthread_mutex_lock(&st->lock);
    for (uint32_t p = 0; p < st->partitions; p++)
        if (!st->part[p].moved && st->part[p].max_gap_ns > gap)
            gap = st->part[p].max_gap_ns;
    pthread_mutex_unlock(&st->lock);
    return gap;
}

/* Waits until the group has settled; the time it took, or -1. */
static int64_t wait_settled(struct gb_state *st, const struct gb_member *members, uint32_t n,
                            int64_t start)
{
    while (!settled(st, members, n)) {
        if (wire_mono_ns() - start > GB_SETTLE_TIMEOUT_NS || !members_ok((struct gb_member *)members, n))
            return -1;
        wire_sleep_ms(1);
    }
    return wire_mono_ns() - start;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_ms_stats(const char *what, int64_t *v, uint32_t n, bool json, bool last)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    double median = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
    if (json)
        printf("\"%s_ms\":{\"median\":%.1f,\"max\":%.1f,\"min\":%.1f}%s", what, median / 1e6,
               (double)v[n - 1] / 1e6, (double)v[0] / 1e6, last ? "" : ",");
    else
        printf("  %-28s median %8.1f ms   max %8.1f ms   min %8.1f ms\n", what, median / 1e6,
               (double)v[n - 1] / 1e6, (double)v[0] / 1e6);
}

/* ---- options and main -------------------------------------------------------------------- */

static void print_help(void)
{
    printf("Usage: raftmq-bench group -t TOPIC [options]\n"
           "\n"
           "Measures a consumer group against a running cluster, on a topic that exists\n"
           "(create it first, e.g. raftmq-admin topic create T --partitions 6):\n"
           "  1. throughput: --records records are produced, then read by one consumer\n"
           "     assigned every partition, then by a new group of --members members\n"
           "  2. rebalances: with a producer at --rate records/s, a member joins a stable\n"
           "     group of --members and leaves again, --trials times; each is timed until\n"
           "     every partition has one owner, every member its even share, and every\n"
           "     partition that moved has delivered a record to its new owner\n"
           "\n"
           "Options:\n"
           "  -b, --brokers LIST       client addresses (default $" TOOL_BROKERS_ENV " or "
           TOOL_BROKERS_DEFAULT ")\n"
           "  -t, --topic NAME         the topic (required; at most %u partitions)\n"
           "      --members N          members of the group (default 3, at most %u)\n"
           "      --trials N           join/leave trials (default 20; 0: skip phase 2)\n"
           "      --records N          records for phase 1 (default 1000000; 0: skip it)\n"
           "      --size BYTES         value bytes per record (default 100)\n"
           "      --rate R             records/s produced during phase 2 (default 2000)\n"
           "      --session-timeout MS the members' session timeout (default 10000)\n"
           "      --heartbeat MS       the members' heartbeat interval (default: the library's)\n"
           "      --json               one JSON object on stdout\n"
           "  -h, --help               this help\n"
           "\n"
           "Exit status: 0 done, 1 a failure (a trial that did not settle within 30 s,\n"
           "records missing, a partition owned by two members at once), 2 bad command line.\n",
           GB_PARTITIONS_MAX, GB_MEMBERS_MAX);
}

static int parse(int argc, char **argv, struct gb_opts *o)
{
    enum { OPT_MEMBERS = 256, OPT_TRIALS, OPT_RECORDS, OPT_SIZE, OPT_RATE, OPT_SESSION,
           OPT_HEARTBEAT, OPT_JSON };
    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"members", required_argument, NULL, OPT_MEMBERS},
        {"trials", required_argument, NULL, OPT_TRIALS},
        {"records", required_argument, NULL, OPT_RECORDS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"rate", required_argument, NULL, OPT_RATE},
        {"session-timeout", required_argument, NULL, OPT_SESSION},
        {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct gb_opts){.members = 3, .trials = 20, .records = 1000000, .size = 100,
                          .rate = 2000, .session_timeout_ms = 10000};
    const char *brokers = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":b:t:h", long_opts, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 't': o->topic = optarg; break;
        case 'h': print_help(); return -1;
        case OPT_MEMBERS: ok = tool_parse_u32(optarg, "--members", 1, GB_MEMBERS_MAX - 1, &o->members); break;
        case OPT_TRIALS: ok = tool_parse_u32(optarg, "--trials", 0, GB_TRIALS_MAX, &o->trials); break;
        case OPT_RECORDS: ok = tool_parse_u64(optarg, "--records", 0, UINT64_C(1) << 40, &o->records); break;
        case OPT_SIZE: ok = tool_parse_u32(optarg, "--size", 0, 1024 * 1024 - 1024, &o->size); break;
        case OPT_RATE: ok = tool_parse_u32(optarg, "--rate", 1, 10000000, &o->rate); break;
        case OPT_SESSION: ok = tool_parse_u32(optarg, "--session-timeout", 1000, 300000, &o->session_timeout_ms); break;
        case OPT_HEARTBEAT: ok = tool_parse_u32(optarg, "--heartbeat", 1, 100000, &o->heartbeat_ms); break;
        case OPT_JSON: o->json = true; break;
        case ':': return tool_usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
        if (!ok)
            return TOOL_EXIT_USAGE;
    }
    if (optind < argc)
        return tool_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->topic == NULL)
        return tool_usage_error("-t TOPIC is required");
    if (!tool_check_topic_name(o->topic) || !tool_brokers(brokers, o->brokers, sizeof o->brokers))
        return TOOL_EXIT_USAGE;
    return TOOL_EXIT_OK;
}

static int partition_count(const struct gb_opts *o, uint32_t *count)
{
    struct wire_client *c = tool_client_open(o->brokers, 10000, 0);
    if (c == NULL)
        return TOOL_EXIT_FAILED;
    int rc = tool_topic_metadata(c, o->topic, 10000, count);
    if (rc != WIRE_OK)
        tool_error("topic '%s': %s", o->topic, rc == WIRE_ERR_UNKNOWN_TOPIC
                                                    ? "does not exist (create it first)"
                                                    : wire_client_error(c));
    wire_client_close(c);
    if (rc == WIRE_OK && *count > GB_PARTITIONS_MAX) {
        tool_error("topic '%s' has %u partitions; at most %u", o->topic, *count, GB_PARTITIONS_MAX);
        return TOOL_EXIT_FAILED;
    }
    return rc == WIRE_OK ? TOOL_EXIT_OK : TOOL_EXIT_FAILED;
}

/* 200..1199 ms. */
static int64_t random_pause_ms(uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    return 200 + (int64_t)((*rng >> 33) % 1000);
}

/* Phase 2; fills join/leave times (ns) and the longest unmoved gap. */
static int rebalance_trials(const struct gb_opts *o, struct gb_state *st, struct gb_member *members,
                            const char *group, int64_t *join_ns, int64_t *leave_ns,
                            int64_t *gap_ns)
{
    int status = TOOL_EXIT_FAILED;
    struct gb_producer prod = {.o = o};
    if (pthread_create(&prod.thread, NULL, producer_main, &prod) != 0)
        return TOOL_EXIT_FAILED;
    uint32_t started = 0;
    for (uint32_t i = 0; i < o->members; i++, started++) {
        members[i] = (struct gb_member){.st = st, .o = o, .index = (int)i, .group = group,
                                        .track = true};
        if (!member_start(&members[i]))
            goto out;
    }
    if (wait_settled(st, members, o->members, wire_mono_ns()) < 0) {
        tool_error("the group of %u did not settle within 30 s", o->members);
        goto out;
    }
    struct gb_member *extra = &members[o->members];
    *gap_ns = 0;
    /* A random pause before every join and leave, so that trials do not fall
     * at the same phase of the members' heartbeats every time. */
    uint64_t rng = (uint64_t)wire_mono_ns() | 1;
    for (uint32_t t = 0; t < o->trials; t++) {
        *extra = (struct gb_member){.st = st, .o = o, .index = (int)o->members, .group = group,
                                    .track = true};
        wire_sleep_ms(random_pause_ms(&rng));
        trial_begin(st);
        int64_t start = wire_mono_ns();
        if (!member_start(extra))
            goto out;
        join_ns[t] = wait_settled(st, members, o->members + 1, start);
        int64_t gap = unmoved_gap(st);
        if (gap > *gap_ns)
            *gap_ns = gap;
        if (join_ns[t] < 0) {
            tool_error("trial %u: the group did not settle within 30 s after a join", t + 1);
            atomic_store(&extra->stop, true);
            member_join(extra);
            goto out;
        }
        wire_sleep_ms(random_pause_ms(&rng));
        trial_begin(st);
        start = wire_mono_ns();
        atomic_store(&extra->leave, true);
        leave_ns[t] = wait_settled(st, members, o->members, start);
        gap = unmoved_gap(st);
        if (gap > *gap_ns)
            *gap_ns = gap;
        member_join(extra);
        if (leave_ns[t] < 0 || atomic_load(&extra->failed)) {
            tool_error("trial %u: the group did not settle within 30 s after a leave (%s)", t + 1,
                       extra->error);
            goto out;
        }
    }
    status = TOOL_EXIT_OK;
out:
    for (uint32_t i = 0; i < started; i++)
        atomic_store(&members[i].stop, true);
    for (uint32_t i = 0; i < started; i++)
        member_join(&members[i]);
    atomic_store(&prod.stop, true);
    pthread_join(prod.thread, NULL);
    return status;
}

int group_bench_main(int argc, char **argv)
{
    struct gb_opts o;
    int status = parse(argc, argv, &o);
    if (status != TOOL_EXIT_OK)
        return status < 0 ? TOOL_EXIT_OK : status;
    uint32_t partitions = 0;
    if ((status = partition_count(&o, &partitions)) != TOOL_EXIT_OK)
        return status;
    struct gb_state *st = calloc(1, sizeof(*st));
    struct gb_member *members = calloc(GB_MEMBERS_MAX + 1, sizeof(*members));
    int64_t *join_ns = calloc(o.trials + 1, sizeof(int64_t));
    int64_t *leave_ns = calloc(o.trials + 1, sizeof(int64_t));
    if (st == NULL || members == NULL || join_ns == NULL || leave_ns == NULL) {
        tool_error("out of memory");
        status = TOOL_EXIT_FAILED;
        goto done;
    }
    pthread_mutex_init(&st->lock, NULL);
    st->partitions = partitions;
    for (uint32_t p = 0; p < partitions; p++)
        st->part[p].owner = -1;
    char group[128];
    int64_t tag = wire_wall_ms();

    double single = 0, grouped = 0, grouped_steady = 0;
    uint64_t duplicates = 0;
    if (o.records > 0) {
        struct gb_producer prod = {.o = &o};
        produce(&prod, o.records);
        if (prod.failed > 0) {
            tool_error("producing %" PRIu64 " records: %" PRIu64 " failed", o.records, prod.failed);
            status = TOOL_EXIT_FAILED;
            goto done;
        }
        /* Both readers start at the beginning: the topic must hold these records only. */
        single = single_consumer_rate(&o, partitions);
        snprintf(group, sizeof group, "bench-read-%" PRId64, tag);
        grouped = group_rate(&o, st, members, group, &duplicates, &grouped_steady);
        if (single < 0 || grouped < 0) {
            tool_error("phase 1: records missing (is the topic empty before the run?)");
            status = TOOL_EXIT_FAILED;
            goto done;
        }
    }
    int64_t gap_ns = 0;
    if (o.trials > 0) {
        snprintf(group, sizeof group, "bench-rebalance-%" PRId64, tag);
        memset(st->part, 0, sizeof(st->part));
        memset(st->owned, 0, sizeof(st->owned));
        for (uint32_t p = 0; p < partitions; p++)
            st->part[p].owner = -1;
        status = rebalance_trials(&o, st, members, group, join_ns, leave_ns, &gap_ns);
        if (status != TOOL_EXIT_OK)
            goto done;
    }
    if (st->double_owned > 0) {
        tool_error("a partition was given to a member while another owned it (%" PRIu64 " times)",
                   st->double_owned);
        status = TOOL_EXIT_FAILED;
    }
    if (o.json) {
        printf("{\"topic\":\"%s\",\"partitions\":%u,\"members\":%u", o.topic, partitions, o.members);
        if (o.records > 0)
            printf(",\"records\":%" PRIu64 ",\"single_consumer_rps\":%.0f,\"group_rps\":%.0f,"
                   "\"group_rps_from_first_record\":%.0f,\"group_duplicates\":%" PRIu64,
                   o.records, single, grouped, grouped_steady, duplicates);
        if (o.trials > 0) {
            printf(",\"trials\":%u,", o.trials);
            print_ms_stats("join", join_ns, o.trials, true, false);
            print_ms_stats("leave", leave_ns, o.trials, true, false);
            printf("\"unmoved_max_gap_ms\":%.1f", (double)gap_ns / 1e6);
        }
        printf(",\"double_owned\":%" PRIu64 "}\n", st->double_owned);
    } else {
        printf("group: topic %s (%u partitions), %u members\n", o.topic, partitions, o.members);
        if (o.records > 0)
            printf("  read %" PRIu64 " records:  one consumer %.0f records/s,  group of %u %.0f "
                   "records/s from subscribe (%.0f from its first record), %" PRIu64
                   " read twice\n",
                   o.records, single, o.members, grouped, grouped_steady, duplicates);
        if (o.trials > 0) {
            printf("  %u trials, a member joining/leaving a group of %u, until consuming again:\n",
                   o.trials, o.members);
            print_ms_stats("join", join_ns, o.trials, false, false);
            print_ms_stats("leave", leave_ns, o.trials, false, false);
            printf("  longest gap on partitions that did not move: %.1f ms\n", (double)gap_ns / 1e6);
        }
    }
done:
    free(join_ns);
    free(leave_ns);
    free(members);
    free(st);
    return status;
}
