/* raftmq-bench: produce, consume and end-to-end benchmarks of libraftmq against a running cluster. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/group_bench.h"
#include "bench/histogram.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/raftmq.h"
#include "wire/tool.h"

#define BENCH_BROKERS_BYTES (16u * 1024u)
#define BENCH_TIMEOUT_MS_DEFAULT 10000u
#define BENCH_TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define BENCH_RECORDS_DEFAULT 1000000u
#define BENCH_SIZE_DEFAULT 100u
#define BENCH_SIZE_MAX (1024u * 1024u)
#define BENCH_PRODUCERS_MAX 256u
#define BENCH_KEYS_MAX 1000000000u
#define BENCH_DURATION_S_MAX (7.0 * 24 * 3600)
/* Values are slices of one shared pool at pseudo-random offsets, so no two are alike. */
#define BENCH_POOL_BYTES (4u * 1024u * 1024u)
/* A producer thread hands its latencies to the shared histogram this often (progress lines). */
#define BENCH_MERGE_NS (200 * 1000000LL)
#define BENCH_PROGRESS_NS (1000 * 1000000LL)
/* e2e: the send time travels in this header (8 bytes, little-endian ns of CLOCK_MONOTONIC). */
#define BENCH_STAMP_HEADER "raftmq-bench-t"

enum bench_mode { MODE_PRODUCE, MODE_CONSUME, MODE_E2E };
enum bench_payload { PAYLOAD_RANDOM, PAYLOAD_TEXT };

struct bench_opts {
    enum bench_mode mode;
    char brokers[BENCH_BROKERS_BYTES];
    const char *topic;
    bool create;
    bool has_partitions, has_replicas;
    uint32_t partitions, replicas;
    bool has_records, has_duration;
    uint64_t records;
    double duration_s;
    uint32_t size;
    uint32_t producers;
    bool has_batch_bytes, has_linger, has_inflight, has_compression;
    uint32_t batch_bytes, linger_ms, inflight;
    enum raftmq_compression compression;
    bool idempotence;
    enum bench_payload payload;
    uint32_t key_count; /* 0: records have no key */
    uint64_t rate;      /* records/s in all; 0: as fast as possible */
    bool sync;
    bool json;
    bool quiet;
    uint32_t timeout_ms;
};

static void print_help(void)
{
    printf(
        "Usage: raftmq-bench produce|consume|e2e -t TOPIC [options]\n"
        "       raftmq-bench group -t TOPIC [options]   (consumer groups: group --help)\n"
        "\n"
        "Modes:\n"
        "  produce   P producers (one thread and one libraftmq handle each) send records;\n"
        "            latency = send (or, with --rate, the intended send time) to the\n"
        "            delivery report, i.e. to commit on a majority of the replicas\n"
        "  consume   one consumer reads every partition from the beginning until\n"
        "            --records records were read (or --duration passed)\n"
        "  e2e       producers and a consumer in one process; the consumer starts at the\n"
        "            end of every partition; latency = consume time - send time (carried\n"
        "            in the record's header \"" BENCH_STAMP_HEADER "\"); use --rate\n"
        "\n"
        "Options:\n"
        "  -b, --brokers LIST     comma-separated client addresses (\"tcp://\" may be left\n"
        "                         out); default $" TOOL_BROKERS_ENV " or " TOOL_BROKERS_DEFAULT "\n"
        "  -t, --topic NAME       the topic (required)\n"
        "      --create           create the topic if it does not exist\n"
        "      --partitions N     with --create (default 3)\n"
        "      --replicas R       with --create (default 3, at most the brokers)\n"
        "      --records N        records to send or read in all (default %u)\n"
        "      --duration S       instead of --records: send (or read) for S seconds\n"
        "      --size BYTES       value bytes per record (default %u)\n"
        "      --producers P      producer threads (default 1)\n"
        "      --batch-bytes B    producer batch_bytes_max (default: the library's, 128 KiB)\n"
        "      --linger MS        producer linger_ms (default: the library's, 5)\n"
        "      --inflight K       PRODUCE requests in flight per partition (default 5)\n"
        "      --compression none|lz4   (default: the library's, lz4)\n"
        "      --no-idempotence   producers without idempotence (then --inflight 1)\n"
        "      --payload random|text    values that do not / do compress (default random)\n"
        "      --keys none|random:N     no key, or one of N keys at random (default none)\n"
        "      --rate R           send R records/s in all, on a fixed schedule; latency is\n"
        "                         counted from each record's scheduled time, so a stall\n"
        "                         shows in the latency instead of slowing the schedule\n"
        "      --sync             one record in flight per producer: send, flush, next\n"
        "      --timeout MS       bound on reaching the cluster, creating the topic and on\n"
        "                         waiting for a record that does not come (default %u)\n"
        "      --json             print the summary as one JSON object on stdout\n"
        "  -q, --quiet            no progress lines on stderr\n"
        "  -h, --help             this help\n"
        "\n"
        "Progress (records/s, MB/s, p99 so far) goes to stderr every second, the summary\n"
        "to stdout: records/s, MB/s (10^6 bytes of values per second; consume and e2e\n"
        "count the keys too), latency p50/p90/p99/p99.9/max and errors.\n"
        "\n"
        "Examples:\n"
        "  raftmq-bench produce -b 127.0.0.1:9292 -t bench --create --partitions 3 --replicas 3 \\\n"
        "      --records 10000000 --size 100 --compression none\n"
        "  raftmq-bench produce -t lat --sync --records 20000 --size 100\n"
        "  raftmq-bench consume -t bench --records 10000000 --json\n"
        "  raftmq-bench e2e -t e2e --create --rate 200000 --duration 10 --size 100\n"
        "  raftmq-bench produce -t bench --producers 2 --duration 30 --payload text --keys random:1000\n"
        "\n"
        "Exit status: 0 every record done without error, 1 errors (unreachable brokers,\n"
        "unknown topic, failed deliveries, records missing), 2 bad command line.\n",
        BENCH_RECORDS_DEFAULT, BENCH_SIZE_DEFAULT, BENCH_TIMEOUT_MS_DEFAULT);
}

/* ---- time and the stop flag ------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    nanosleep(&ts, NULL); /* EINTR (a stop signal) ends it early: fine */
}

/* ---- shared state ------------------------------------------------------------------- */

struct bench_shared {
    const struct bench_opts *o;
    uint32_t partition_count;
    const uint8_t *pool;
    size_t pool_len;
    int64_t start_ns;
    /* produce: records delivered OK; consume, e2e: records consumed. */
    atomic_uint_fast64_t done;
    atomic_uint_fast64_t bytes;
    atomic_uint_fast64_t errors;
    atomic_int_fast64_t last_done_ns; /* when `done` last grew */
    /* e2e: records the producers had acknowledged (final once producers_running is 0). */
    atomic_uint_fast64_t acked;
    atomic_int producers_running;
    atomic_int threads_running;
    pthread_mutex_t lock;
    struct histogram *latency;     /* produce: send to ack; e2e: send to consume (under lock) */
    struct histogram *ack_latency; /* e2e: send to ack (under lock) */
    char first_error[512];         /* under lock */
    bool failed;                   /* under lock: a thread could not do its part */
};

static void note_error(struct bench_shared *sh, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps the first error's message for the summary; a fatal one also marks the run failed. */
static void note_error(struct bench_shared *sh, bool fatal, const char *fmt, ...)
{
    pthread_mutex_lock(&sh->lock);
    if (sh->first_error[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->first_error, sizeof(sh->first_error), fmt, ap);
        va_end(ap);
    }
    if (fatal)
        sh->failed = true;
    pthread_mutex_unlock(&sh->lock);
}

static void merge_into_shared(struct bench_shared *sh, struct histogram *shared,
                              struct histogram *local)
{
    if (local->count == 0)
        return;
    pthread_mutex_lock(&sh->lock);
    histogram_merge(shared, local);
    pthread_mutex_unlock(&sh->lock);
    histogram_init(local);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/*
 * The value pool. "random": bytes from the generator (LZ4 cannot shrink
 * them). "text": JSON-like event lines drawn from small vocabularies, which
 * LZ4 compresses several times over, as real payloads often are.
 */
static uint8_t *make_pool(enum bench_payload kind, size_t len)
{
    uint8_t *pool = malloc(len);
    if (pool == NULL)
        return NULL;
    uint64_t s = UINT64_C(0x9e3779b97f4a7c15);
    if (kind == PAYLOAD_RANDOM) {
        for (size_t i = 0; i < len; i += 8) {
            uint64_t r = rng_next(&s);
            size_t n = len - i < 8 ? len - i : 8;
            memcpy(pool + i, &r, n);
        }
        return pool;
    }
    static const char *const users[] = {"alice", "bob", "carol", "dave", "erin", "frank",
                                        "grace", "heidi", "ivan", "judy"};
    static const char *const actions[] = {"view", "click", "add_to_cart", "purchase", "search",
                                          "login", "logout"};
    static const char *const pages[] = {"/", "/products", "/products/shoes", "/cart",
                                        "/checkout", "/account", "/search?q=boots"};
    size_t used = 0;
    char line[256];
    while (used < len) {
        uint64_t r = rng_next(&s);
        int n = snprintf(line, sizeof(line),
                         "{\"id\":%" PRIu64 ",\"user\":\"%s\",\"action\":\"%s\",\"page\":\"%s\","
                         "\"ms\":%" PRIu64 ",\"ok\":%s}\n",
                         r % 100000000u, users[r % 10], actions[(r >> 8) % 7],
                         pages[(r >> 16) % 7], (r >> 24) % 5000, (r >> 40) % 10 ? "true" : "false");
        size_t take = (size_t)n < len - used ? (size_t)n : len - used;
        memcpy(pool + used, line, take);
        used += take;
    }
    return pool;
}

/* ---- producers ---------------------------------------------------------------------------- */

struct producer_thread {
    struct bench_shared *sh;
    uint32_t index;
    uint64_t records; /* to send (records mode) */
    raftmq_producer *p;
    struct histogram *local;
    struct histogram *target; /* the shared histogram this thread's latencies go to */
    int64_t last_merge_ns;
    uint64_t rng;
    pthread_t thread;
    bool started;
};

static void on_delivery(const struct raftmq_delivery *d, void *cb_opaque)
{
    struct producer_thread *t = cb_opaque;
    struct bench_shared *sh = t->sh;
    int64_t now = wire_mono_ns();
    if (d->error == RAFTMQ_OK) {
        int64_t stamp = (int64_t)(uintptr_t)d->opaque;
        histogram_record(t->local, now > stamp ? (uint64_t)(now - stamp) : 0u);
        if (sh->o->mode == MODE_PRODUCE) {
            atomic_fetch_add_explicit(&sh->done, 1, memory_order_relaxed);
            atomic_store_explicit(&sh->last_done_ns, now, memory_order_relaxed);
        } else {
            atomic_fetch_add_explicit(&sh->acked, 1, memory_order_relaxed);
        }
    } else {
        atomic_fetch_add_explicit(&sh->errors, 1, memory_order_relaxed);
        note_error(sh, false, "delivery to %s partition %" PRId32 " failed: %s: %s", d->topic,
                   d->partition, raftmq_err_name(d->error), d->error_message);
    }
    if (now - t->last_merge_ns >= BENCH_MERGE_NS) {
        merge_into_shared(sh, t->target, t->local);
        t->last_merge_ns = now;
    }
}

/*
 * Waits until `when` (monotonic ns) doing the producer's work: whole
 * milliseconds inside poll, a shorter rest asleep after a poll that does
 * not wait. Spinning on poll instead would take a whole core from the
 * brokers on a small machine; oversleeping (timer slack, ~50 us) only sends
 * the records due meanwhile together, and their latency still counts from
 * their scheduled times.
 */
static void wait_until(struct producer_thread *t, int64_t when)
{
    for (;;) {
        int64_t left = when - wire_mono_ns();
        if (left <= 0 || stop_requested)
            return;
        int ms = (int)(left / 1000000LL);
        if (ms > 100)
            ms = 100;
        int rc = raftmq_producer_poll(t->p, ms);
        if (rc < 0) {
            note_error(t->sh, true, "producer %" PRIu32 ": poll failed: %s", t->index,
                       raftmq_producer_last_error(t->p));
            return;
        }
        if (ms == 0)
            sleep_ns(when - wire_mono_ns());
    }
}

static void *producer_main(void *arg)
{
    struct producer_thread *t = arg;
    struct bench_shared *sh = t->sh;
    const struct bench_opts *o = sh->o;
    int64_t start = sh->start_ns;
    int64_t end = o->has_duration ? start + (int64_t)(o->duration_s * 1e9) : INT64_MAX;
    /* This thread's share of the rate: its records are interval_ns apart. */
    double interval_ns = o->rate > 0 ? 1e9 * (double)o->producers / (double)o->rate : 0.0;
    uint8_t stamp_bytes[8];
    struct raftmq_header stamp_header = {BENCH_STAMP_HEADER, stamp_bytes, sizeof(stamp_bytes)};
    char key[24];
    struct raftmq_message m;
    memset(&m, 0, sizeof(m));
    m.topic = o->topic;
    m.partition = RAFTMQ_PARTITION_ANY;
    m.value_len = o->size;
    if (o->mode == MODE_E2E) {
        m.headers = &stamp_header;
        m.header_count = 1;
    }
    size_t offsets = sh->pool_len - o->size + 1;
    bool fatal = false;
    uint64_t i = 0;
    while (!stop_requested && !fatal) {
        if (o->has_records && i >= t->records)
            break;
        /* clock_gettime was 13 % of this process's samples in perf (records
         * mode): read it here only when a deadline or a schedule needs it. */
        int64_t now = o->has_duration || interval_ns > 0 ? wire_mono_ns() : 0;
        if (now >= end)
            break;
        int64_t intended = 0;
        if (interval_ns > 0) {
            intended = start + (int64_t)((double)i * interval_ns);
            if (now < intended) {
                wait_until(t, intended);
                continue;
            }
        }
        m.value = sh->pool + rng_next(&t->rng) % offsets;
        if (o->key_count > 0) {
            int n = snprintf(key, sizeof(key), "key-%" PRIu64, rng_next(&t->rng) % o->key_count);
            m.key = key;
            m.key_len = (size_t)n;
        }
        for (;;) {
            int64_t stamp = interval_ns > 0 ? intended : wire_mono_ns();
            m.opaque = (void *)(uintptr_t)stamp;
            for (int b = 0; b < 8; b++)
                stamp_bytes[b] = (uint8_t)((uint64_t)stamp >> (8 * b));
            int rc = raftmq_producer_send(t->p, &m);
            if (rc == RAFTMQ_OK)
                break;
            if (rc == RAFTMQ_ERR_QUEUE_FULL && !stop_requested) {
                if (raftmq_producer_poll(t->p, 1) < 0) {
                    note_error(sh, true, "producer %" PRIu32 ": poll failed: %s", t->index,
                               raftmq_producer_last_error(t->p));
                    fatal = true;
                    break;
                }
                continue;
            }
            if (rc != RAFTMQ_ERR_QUEUE_FULL) {
                /* Refused before queueing (unknown topic, too large, ...): every
                 * following record would be refused the same way. */
                atomic_fetch_add_explicit(&sh->errors, 1, memory_order_relaxed);
                note_error(sh, true, "producer %" PRIu32 ": send refused: %s: %s", t->index,
                           raftmq_err_name(rc), raftmq_producer_last_error(t->p));
            }
            fatal = true;
            break;
        }
        if (fatal)
            break;
        i++;
        if (o->sync) {
            int rc = raftmq_producer_flush(t->p, (int)o->timeout_ms);
            if (rc != RAFTMQ_OK) {
                note_error(sh, true, "producer %" PRIu32 ": flush: %s: %s", t->index,
                           raftmq_err_name(rc), raftmq_producer_last_error(t->p));
                fatal = true;
            }
        } else if ((i & 63u) == 0 && raftmq_producer_poll(t->p, 0) < 0) {
            note_error(sh, true, "producer %" PRIu32 ": poll failed: %s", t->index,
                       raftmq_producer_last_error(t->p));
            fatal = true;
        }
    }
    /* Every accepted record gets its report within the delivery timeout
     * (120 s by default); after a stop signal, wait less. */
    int flush_ms = stop_requested ? (int)o->timeout_ms : 125000;
    if (raftmq_producer_flush(t->p, flush_ms) != RAFTMQ_OK) {
        uint64_t pending = raftmq_producer_pending(t->p);
        note_error(sh, true, "producer %" PRIu32 ": %" PRIu64 " records without a delivery report after %d ms",
                   t->index, pending, flush_ms);
    }
    merge_into_shared(sh, t->target, t->local);
    atomic_fetch_sub(&sh->producers_running, 1);
    atomic_fetch_sub(&sh->threads_running, 1);
    return NULL;
}

/* ---- consumer ------------------------------------------------------------------------------ */

struct consumer_thread {
    struct bench_shared *sh;
    raftmq_consumer *c;
    struct histogram *local;
    int64_t last_merge_ns;
    uint64_t foreign; /* e2e: records without this run's stamp header */
    pthread_t thread;
    bool started;
};

static bool record_stamp(const struct raftmq_record *rec, int64_t *stamp)
{
    for (size_t h = 0; h < rec->header_count; h++) {
        const struct raftmq_header *hd = &rec->headers[h];
        if (hd->value_len == 8 && strcmp(hd->name, BENCH_STAMP_HEADER) == 0) {
            const uint8_t *b = hd->value;
            uint64_t v = 0;
            for (int i = 7; i >= 0; i--)
                v = (v << 8) | b[i];
            *stamp = (int64_t)v;
            return true;
        }
    }
    return false;
}

static void *consumer_main(void *arg)
{
    struct consumer_thread *t = arg;
    struct bench_shared *sh = t->sh;
    const struct bench_opts *o = sh->o;
    int64_t end = o->has_duration && o->mode == MODE_CONSUME
                      ? sh->start_ns + (int64_t)(o->duration_s * 1e9)
                      : INT64_MAX;
    int64_t idle_limit = (int64_t)o->timeout_ms * 1000000LL;
    int64_t last_record = wire_mono_ns();
    uint64_t got = 0;
    while (!stop_requested) {
        if (o->has_records && got >= o->records)
            break;
        int64_t now = wire_mono_ns();
        if (now >= end)
            break;
        bool producers_done = atomic_load(&sh->producers_running) == 0;
        if (o->mode == MODE_E2E && producers_done && got >= atomic_load(&sh->acked))
            break;
        /* Consume: the topic holds fewer records than asked. e2e: records acknowledged
         * but not arriving. Only once nothing came for --timeout. */
        if ((o->mode == MODE_CONSUME || producers_done) && now - last_record > idle_limit) {
            note_error(sh, true, "read %" PRIu64 " records, then nothing for %" PRIu32 " ms%s", got,
                       o->timeout_ms,
                       o->mode == MODE_CONSUME ? " (does the topic hold --records records?)"
                                               : " (acknowledged records missing)");
            break;
        }
        struct raftmq_record rec;
        int rc = raftmq_consumer_poll(t->c, 100, &rec);
        if (rc == RAFTMQ_ERR_NO_RECORD)
            continue;
        now = wire_mono_ns();
        if (rc != RAFTMQ_OK) {
            atomic_fetch_add_explicit(&sh->errors, 1, memory_order_relaxed);
            note_error(sh, false, "consume %s partition %" PRId32 ": %s: %s",
                       rec.topic != NULL ? rec.topic : o->topic, rec.partition,
                       raftmq_err_name(rc), raftmq_consumer_last_error(t->c));
            continue;
        }
        last_record = now;
        if (o->mode == MODE_E2E) {
            int64_t stamp;
            if (!record_stamp(&rec, &stamp)) {
                t->foreign++;
                continue;
            }
            histogram_record(t->local, now > stamp ? (uint64_t)(now - stamp) : 0u);
            if (now - t->last_merge_ns >= BENCH_MERGE_NS) {
                merge_into_shared(sh, sh->latency, t->local);
                t->last_merge_ns = now;
            }
        }
        got++;
        atomic_fetch_add_explicit(&sh->done, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sh->bytes, rec.key_len + rec.value_len, memory_order_relaxed);
        atomic_store_explicit(&sh->last_done_ns, now, memory_order_relaxed);
    }
    merge_into_shared(sh, sh->latency, t->local);
    atomic_fetch_sub(&sh->threads_running, 1);
    return NULL;
}

/* ---- set-up: the topic ------------------------------------------------------------------- */

/* Polls METADATA until every partition of the new topic has a leader (what admin create does). */
static bool wait_for_leaders(struct wire_client *c, const char *topic, uint32_t partitions,
                             int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - tool_now_ms();
        uint32_t leaderless = partitions;
        if (wire_client_refresh_metadata(c, topic, left > 0 ? (uint32_t)left : 1u) == WIRE_OK &&
            (leaderless = wire_client_leaderless(c, topic, partitions)) == 0)
            return true;
        if (tool_now_ms() >= deadline_ms) {
            tool_error("topic '%s': %" PRIu32 " of %" PRIu32
                       " partitions have no leader after --timeout",
                       topic, leaderless, partitions);
            return false;
        }
        sleep_ns(50 * 1000000LL);
    }
}

/*
 * Reaches the cluster, checks the topic (creating it with --create) and
 * returns its partition count; TOOL_EXIT_* on failure (message printed).
 */
static int prepare_topic(const struct bench_opts *o, uint32_t *partition_count)
{
    struct wire_client *c = tool_client_open(o->brokers, o->timeout_ms, 0);
    if (c == NULL)
        return TOOL_EXIT_FAILED;
    int64_t deadline = tool_now_ms() + o->timeout_ms;
    int result = TOOL_EXIT_FAILED;
    int rc = tool_topic_metadata(c, o->topic, o->timeout_ms, partition_count);
    if (rc == WIRE_ERR_TIMEOUT) {
        tool_error("no broker answered at %s within %" PRIu32 " ms", o->brokers, o->timeout_ms);
        goto done;
    }
    if (rc == WIRE_OK) {
        if (o->create && !o->quiet)
            fprintf(stderr, "%s: topic '%s' exists (%" PRIu32 " partitions): using it\n",
                    tool_program(), o->topic, *partition_count);
        result = TOOL_EXIT_OK;
        goto done;
    }
    if (rc != WIRE_ERR_UNKNOWN_TOPIC) {
        tool_error("metadata of '%s': %s", o->topic, wire_client_error(c));
        goto done;
    }
    if (!o->create) {
        tool_error("topic '%s' does not exist (add --create [--partitions N --replicas R])",
                   o->topic);
        goto done;
    }
    uint32_t partitions = o->has_partitions ? o->partitions : 3u;
    uint32_t replicas = o->replicas;
    if (!o->has_replicas) {
        uint32_t brokers = wire_client_broker_count(c);
        replicas = brokers == 0 ? 1u : (brokers < 3u ? brokers : 3u);
    }
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_CREATE_TOPIC;
    struct wire_create_topic_req *ct = &req.body.create_topic_req;
    ct->name = (struct wire_bytes){(const uint8_t *)o->topic, (uint32_t)strlen(o->topic)};
    ct->partitions = partitions;
    ct->replication_factor = replicas;
    ct->retention_ms = -1;
    ct->retention_bytes = -1;
    rc = wire_client_request(c, &req, o->timeout_ms, 0, &resp);
    if (rc != WIRE_OK) {
        tool_error("create topic '%s': %s", o->topic, wire_client_error(c));
        goto done;
    }
    if (resp.error == WIRE_ERR_TOPIC_EXISTS) {
        /* Created meanwhile by someone else: use it as it is. */
        rc = tool_topic_metadata(c, o->topic, o->timeout_ms, partition_count);
        if (rc != WIRE_OK) {
            tool_error("topic '%s' exists but its metadata did not come: %s", o->topic,
                       wire_strerror(rc));
            goto done;
        }
        partitions = *partition_count;
    } else if (resp.error != WIRE_OK) {
        char why[512];
        tool_error("create topic '%s': %s", o->topic, tool_response_error(&resp, why, sizeof(why)));
        goto done;
    }
    if (!wait_for_leaders(c, o->topic, partitions, deadline))
        goto done;
    *partition_count = partitions;
    if (!o->quiet)
        fprintf(stderr, "%s: created topic '%s': %" PRIu32 " partitions, %" PRIu32 " replicas\n",
                tool_program(), o->topic, partitions, replicas);
    result = TOOL_EXIT_OK;
done:
    wire_client_close(c);
    return result;
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *mode_name(enum bench_mode m)
{
    return m == MODE_PRODUCE ? "produce" : m == MODE_CONSUME ? "consume" : "e2e";
}

/* A latency in ns as "523 us", "2.31 ms" or "1.20 s". */
static const char *fmt_latency(uint64_t ns, char *buf, size_t cap)
{
    if (ns < 1000000u)
        snprintf(buf, cap, "%.0f us", (double)ns / 1e3);
    else if (ns < 1000000000u)
        snprintf(buf, cap, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(buf, cap, "%.2f s", (double)ns / 1e9);
    return buf;
}

static void print_latency_line(FILE *out, const char *what, const struct histogram *h)
{
    char a[32], b[32], c[32], d[32], e[32];
    fprintf(out, "latency (%s): p50 %s, p90 %s, p99 %s, p99.9 %s, max %s (%" PRIu64 " records)\n",
            what, fmt_latency(histogram_percentile(h, 50), a, sizeof(a)),
            fmt_latency(histogram_percentile(h, 90), b, sizeof(b)),
            fmt_latency(histogram_percentile(h, 99), c, sizeof(c)),
            fmt_latency(histogram_percentile(h, 99.9), d, sizeof(d)),
            fmt_latency(h->max, e, sizeof(e)), h->count);
}

static void print_latency_json(FILE *out, const char *prefix, const struct histogram *h)
{
    fprintf(out,
            ",\"%s_us_p50\":%.1f,\"%s_us_p90\":%.1f,\"%s_us_p99\":%.1f,\"%s_us_p99_9\":%.1f,"
            "\"%s_us_max\":%.1f,\"%s_us_mean\":%.1f,\"%s_count\":%" PRIu64,
            prefix, (double)histogram_percentile(h, 50) / 1e3, prefix,
            (double)histogram_percentile(h, 90) / 1e3, prefix,
            (double)histogram_percentile(h, 99) / 1e3, prefix,
            (double)histogram_percentile(h, 99.9) / 1e3, prefix, (double)h->max / 1e3, prefix,
            histogram_mean(h) / 1e3, prefix, h->count);
}

struct bench_summary {
    uint64_t records, bytes, errors, acked, foreign;
    double elapsed_s, records_per_s, mb_per_s;
    bool complete; /* every record asked for was done */
};

static void print_summary(const struct bench_opts *o, const struct bench_shared *sh,
                          const struct raftmq_producer_config *pc, const struct bench_summary *s)
{
    const char *compression = pc->compression == RAFTMQ_COMPRESSION_LZ4 ? "lz4" : "none";
    const char *payload = o->payload == PAYLOAD_TEXT ? "text" : "random";
    if (o->json) {
        printf("{\"mode\":\"%s\",\"topic\":", mode_name(o->mode));
        tool_json_string(stdout, o->topic, strlen(o->topic));
        printf(",\"partitions\":%" PRIu32 ",\"size\":%" PRIu32 ",\"payload\":\"%s\",\"keys\":%" PRIu32,
               sh->partition_count, o->size, payload, o->key_count);
        if (o->mode != MODE_CONSUME)
            printf(",\"producers\":%" PRIu32 ",\"batch_bytes\":%" PRIu32 ",\"linger_ms\":%" PRIu32
                   ",\"inflight\":%" PRIu32 ",\"compression\":\"%s\",\"idempotence\":%s"
                   ",\"rate\":%" PRIu64 ",\"sync\":%s",
                   o->producers, pc->batch_bytes_max, pc->linger_ms, pc->in_flight_per_partition,
                   compression, pc->idempotence ? "true" : "false", o->rate,
                   o->sync ? "true" : "false");
        printf(",\"records\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"elapsed_s\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f,\"complete\":%s",
               s->records, s->errors, s->bytes, s->elapsed_s, s->records_per_s, s->mb_per_s,
               s->complete ? "true" : "false");
        if (o->mode == MODE_PRODUCE)
            print_latency_json(stdout, "latency", sh->latency);
        if (o->mode == MODE_E2E) {
            printf(",\"acked\":%" PRIu64 ",\"foreign\":%" PRIu64, s->acked, s->foreign);
            print_latency_json(stdout, "latency", sh->latency);
            print_latency_json(stdout, "ack_latency", sh->ack_latency);
        }
        printf(",\"first_error\":");
        tool_json_string(stdout, sh->first_error, strlen(sh->first_error));
        printf("}\n");
        return;
    }
    printf("%s: topic %s (%" PRIu32 " partitions), %" PRIu32 " B values (%s)", mode_name(o->mode),
           o->topic, sh->partition_count, o->size, payload);
    if (o->key_count > 0)
        printf(", %" PRIu32 " keys", o->key_count);
    if (o->mode != MODE_CONSUME) {
        printf(", %" PRIu32 " producer%s, batch %" PRIu32 " B, linger %" PRIu32
               " ms, %" PRIu32 " in flight/partition, compression %s, idempotence %s",
               o->producers, o->producers == 1 ? "" : "s", pc->batch_bytes_max, pc->linger_ms,
               pc->in_flight_per_partition, compression, pc->idempotence ? "on" : "off");
        if (o->rate > 0)
            printf(", rate %" PRIu64 "/s", o->rate);
        if (o->sync)
            printf(", sync");
    }
    printf("\n");
    printf("records: %" PRIu64 " in %.3f s: %.0f records/s, %.2f MB/s\n", s->records, s->elapsed_s,
           s->records_per_s, s->mb_per_s);
    if (o->mode == MODE_PRODUCE)
        print_latency_line(stdout, "send to delivery report", sh->latency);
    if (o->mode == MODE_E2E) {
        print_latency_line(stdout, "send to consume", sh->latency);
        print_latency_line(stdout, "send to delivery report", sh->ack_latency);
        if (s->foreign > 0)
            printf("records from elsewhere (no stamp, not counted): %" PRIu64 "\n", s->foreign);
    }
    printf("errors: %" PRIu64 "\n", s->errors);
    if (sh->first_error[0] != '\0')
        printf("first problem: %s\n", sh->first_error);
    if (!s->complete)
        printf("incomplete: not every record asked for was done\n");
}

/* One progress line on stderr. */
static void print_progress(struct bench_shared *sh, int64_t now, uint64_t done_delta,
                           uint64_t bytes_delta, int64_t dt_ns)
{
    double dt = (double)dt_ns / 1e9;
    char p99[32] = "-";
    pthread_mutex_lock(&sh->lock);
    if (sh->latency->count > 0)
        fmt_latency(histogram_percentile(sh->latency, 99), p99, sizeof(p99));
    pthread_mutex_unlock(&sh->lock);
    fprintf(stderr,
            "%s: %5.1f s: %.0f records/s, %.2f MB/s, p99 so far %s, total %" PRIu64
            ", errors %" PRIu64 "\n",
            tool_program(), (double)(now - sh->start_ns) / 1e9, (double)done_delta / dt,
            (double)bytes_delta / dt / 1e6, sh->o->mode == MODE_CONSUME ? "-" : p99,
            (uint64_t)atomic_load(&sh->done), (uint64_t)atomic_load(&sh->errors));
}

/* ---- command line ---------------------------------------------------------------------------- */

enum {
    OPT_CREATE = 1000,
    OPT_PARTITIONS,
    OPT_REPLICAS,
    OPT_RECORDS,
    OPT_DURATION,
    OPT_SIZE,
    OPT_PRODUCERS,
    OPT_BATCH_BYTES,
    OPT_LINGER,
    OPT_INFLIGHT,
    OPT_COMPRESSION,
    OPT_NO_IDEMPOTENCE,
    OPT_PAYLOAD,
    OPT_KEYS,
    OPT_RATE,
    OPT_SYNC,
    OPT_TIMEOUT,
    OPT_JSON,
};

static bool parse_seconds(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || errno != 0 || !(v > 0) || v > BENCH_DURATION_S_MAX) {
        tool_usage_error("--duration: '%s' is not a number of seconds in (0, %.0f]", text,
                         BENCH_DURATION_S_MAX);
        return false;
    }
    *out = v;
    return true;
}

/* Parses argv into *o; TOOL_EXIT_OK, or the exit status to leave with (help printed: -1). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"create", no_argument, NULL, OPT_CREATE},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"replicas", required_argument, NULL, OPT_REPLICAS},
        {"records", required_argument, NULL, OPT_RECORDS},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"size", required_argument, NULL, OPT_SIZE},
        {"producers", required_argument, NULL, OPT_PRODUCERS},
        {"batch-bytes", required_argument, NULL, OPT_BATCH_BYTES},
        {"linger", required_argument, NULL, OPT_LINGER},
        {"inflight", required_argument, NULL, OPT_INFLIGHT},
        {"compression", required_argument, NULL, OPT_COMPRESSION},
        {"no-idempotence", no_argument, NULL, OPT_NO_IDEMPOTENCE},
        {"payload", required_argument, NULL, OPT_PAYLOAD},
        {"keys", required_argument, NULL, OPT_KEYS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"sync", no_argument, NULL, OPT_SYNC},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->size = BENCH_SIZE_DEFAULT;
    o->producers = 1;
    o->idempotence = true;
    o->timeout_ms = BENCH_TIMEOUT_MS_DEFAULT;
    const char *brokers_arg = NULL;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":b:t:qh", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            brokers_arg = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            print_help();
            return -1;
        case OPT_CREATE:
            o->create = true;
            break;
        case OPT_PARTITIONS:
            if (!tool_parse_u32(optarg, "--partitions", 1, WIRE_PARTITIONS_MAX, &o->partitions))
                return TOOL_EXIT_USAGE;
            o->has_partitions = true;
            break;
        case OPT_REPLICAS:
            if (!tool_parse_u32(optarg, "--replicas", 1, WIRE_REPLICAS_MAX, &o->replicas))
                return TOOL_EXIT_USAGE;
            o->has_replicas = true;
            break;
        case OPT_RECORDS:
            if (!tool_parse_u64(optarg, "--records", 1, UINT64_C(1) << 48, &o->records))
                return TOOL_EXIT_USAGE;
            o->has_records = true;
            break;
        case OPT_DURATION:
            if (!parse_seconds(optarg, &o->duration_s))
                return TOOL_EXIT_USAGE;
            o->has_duration = true;
            break;
        case OPT_SIZE:
            if (!tool_parse_u32(optarg, "--size", 0, BENCH_SIZE_MAX, &o->size))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_PRODUCERS:
            if (!tool_parse_u32(optarg, "--producers", 1, BENCH_PRODUCERS_MAX, &o->producers))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_BATCH_BYTES:
            if (!tool_parse_u32(optarg, "--batch-bytes", 1, 1024u * 1024u, &o->batch_bytes))
                return TOOL_EXIT_USAGE;
            o->has_batch_bytes = true;
            break;
        case OPT_LINGER:
            if (!tool_parse_u32(optarg, "--linger", 0, 60000u, &o->linger_ms))
                return TOOL_EXIT_USAGE;
            o->has_linger = true;
            break;
        case OPT_INFLIGHT:
            if (!tool_parse_u32(optarg, "--inflight", 1, 1024u, &o->inflight))
                return TOOL_EXIT_USAGE;
            o->has_inflight = true;
            break;
        case OPT_COMPRESSION:
            if (strcmp(optarg, "none") == 0)
                o->compression = RAFTMQ_COMPRESSION_NONE;
            else if (strcmp(optarg, "lz4") == 0)
                o->compression = RAFTMQ_COMPRESSION_LZ4;
            else
                return tool_usage_error("--compression: '%s' is not none or lz4", optarg);
            o->has_compression = true;
            break;
        case OPT_NO_IDEMPOTENCE:
            o->idempotence = false;
            break;
        case OPT_PAYLOAD:
            if (strcmp(optarg, "random") == 0)
                o->payload = PAYLOAD_RANDOM;
            else if (strcmp(optarg, "text") == 0)
                o->payload = PAYLOAD_TEXT;
            else
                return tool_usage_error("--payload: '%s' is not random or text", optarg);
            break;
        case OPT_KEYS:
            if (strcmp(optarg, "none") == 0) {
                o->key_count = 0;
            } else if (strncmp(optarg, "random:", 7) == 0) {
                if (!tool_parse_u32(optarg + 7, "--keys random:N", 1, BENCH_KEYS_MAX, &o->key_count))
                    return TOOL_EXIT_USAGE;
            } else {
                return tool_usage_error("--keys: '%s' is not none or random:N", optarg);
            }
            break;
        case OPT_RATE:
            if (!tool_parse_u64(optarg, "--rate", 1, UINT64_C(1000000000), &o->rate))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_SYNC:
            o->sync = true;
            break;
        case OPT_TIMEOUT:
            if (!tool_parse_u32(optarg, "--timeout", 1, BENCH_TIMEOUT_MS_MAX, &o->timeout_ms))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case ':':
            return tool_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tool_usage_error("no mode given (produce, consume or e2e)");
    const char *mode = argv[optind];
    if (strcmp(mode, "produce") == 0)
        o->mode = MODE_PRODUCE;
    else if (strcmp(mode, "consume") == 0)
        o->mode = MODE_CONSUME;
    else if (strcmp(mode, "e2e") == 0)
        o->mode = MODE_E2E;
    else
        return tool_usage_error("unknown mode '%s' (produce, consume or e2e)", mode);
    if (optind + 1 < argc)
        return tool_usage_error("unexpected argument '%s'", argv[optind + 1]);
    if (o->topic == NULL)
        return tool_usage_error("-t TOPIC is required");
    if (!tool_check_topic_name(o->topic))
        return TOOL_EXIT_USAGE;
    if (o->has_records && o->has_duration)
        return tool_usage_error("--records and --duration exclude each other");
    if (!o->has_records && !o->has_duration) {
        o->has_records = true;
        o->records = BENCH_RECORDS_DEFAULT;
    }
    if ((o->has_partitions || o->has_replicas) && !o->create)
        return tool_usage_error("--partitions and --replicas go with --create");
    if (o->mode == MODE_CONSUME) {
        if (o->producers != 1 || o->has_batch_bytes || o->has_linger || o->has_inflight ||
            o->has_compression || o->rate > 0 || o->sync || !o->idempotence)
            return tool_usage_error("producer options (--producers, --batch-bytes, --linger, "
                                    "--inflight, --compression, --no-idempotence, --rate, --sync) "
                                    "do not go with consume");
    }
    if (o->sync && o->rate > 0)
        return tool_usage_error("--sync and --rate exclude each other");
    if (o->has_records && o->records < o->producers)
        return tool_usage_error("--records %" PRIu64 " is fewer than --producers %" PRIu32,
                                o->records, o->producers);
    if (!tool_brokers(brokers_arg, o->brokers, sizeof(o->brokers)))
        return TOOL_EXIT_USAGE;
    return TOOL_EXIT_OK;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void producer_config(const struct bench_opts *o, struct raftmq_producer_config *pc)
{
    raftmq_producer_config_init(pc);
    pc->brokers = o->brokers;
    if (o->has_batch_bytes)
        pc->batch_bytes_max = o->batch_bytes;
    if (o->has_linger)
        pc->linger_ms = o->linger_ms;
    if (o->sync)
        pc->linger_ms = 0; /* flush sends at once anyway; say so in the summary */
    if (o->has_inflight)
        pc->in_flight_per_partition = o->inflight;
    else if (!o->idempotence)
        pc->in_flight_per_partition = 1;
    if (o->has_compression)
        pc->compression = o->compression;
    pc->idempotence = o->idempotence;
    pc->on_delivery = on_delivery;
}

int main(int argc, char **argv)
{
    tool_init("raftmq-bench");
    if (argc > 1 && strcmp(argv[1], "group") == 0)
        return group_bench_main(argc - 1, argv + 1);
    struct bench_opts *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_FAILED;
    }
    int status = parse_args(argc, argv, o);
    if (status != TOOL_EXIT_OK) {
        free(o);
        return status < 0 ? TOOL_EXIT_OK : status;
    }

    struct bench_shared sh;
    memset(&sh, 0, sizeof(sh));
    sh.o = o;
    pthread_mutex_init(&sh.lock, NULL);
    struct producer_thread *producers = NULL;
    struct consumer_thread consumer;
    memset(&consumer, 0, sizeof(consumer));
    struct raftmq_producer_config pc;
    producer_config(o, &pc);
    uint8_t *pool = NULL;
    status = TOOL_EXIT_FAILED;

    sh.latency = malloc(sizeof(*sh.latency));
    sh.ack_latency = malloc(sizeof(*sh.ack_latency));
    size_t pool_len = (size_t)BENCH_POOL_BYTES + o->size;
    pool = make_pool(o->payload, pool_len);
    if (sh.latency == NULL || sh.ack_latency == NULL || pool == NULL) {
        tool_error("out of memory");
        goto out;
    }
    histogram_init(sh.latency);
    histogram_init(sh.ack_latency);
    sh.pool = pool;
    sh.pool_len = pool_len;

    if (!tool_catch_stop_signals(&stop_requested)) {
        tool_error("cannot install signal handlers");
        goto out;
    }
    status = prepare_topic(o, &sh.partition_count);
    if (status != TOOL_EXIT_OK)
        goto out;
    status = TOOL_EXIT_FAILED;

    /* Handles first, on this thread: a bad configuration fails before anything runs. */
    uint32_t producer_count = o->mode == MODE_CONSUME ? 0 : o->producers;
    if (producer_count > 0) {
        producers = calloc(producer_count, sizeof(*producers));
        if (producers == NULL) {
            tool_error("out of memory");
            goto out;
        }
    }
    for (uint32_t i = 0; i < producer_count; i++) {
        struct producer_thread *t = &producers[i];
        t->sh = &sh;
        t->index = i;
        t->rng = UINT64_C(0x2545f4914f6cdd1d) * (i + 1u);
        t->records = o->has_records ? o->records / producer_count +
                                          (i < o->records % producer_count ? 1u : 0u)
                                    : 0;
        t->target = o->mode == MODE_E2E ? sh.ack_latency : sh.latency;
        t->local = malloc(sizeof(*t->local));
        if (t->local == NULL) {
            tool_error("out of memory");
            goto out;
        }
        histogram_init(t->local);
        pc.cb_opaque = t;
        char err[512] = "";
        int rc = raftmq_producer_new(&pc, &t->p, err, sizeof(err));
        if (rc != RAFTMQ_OK) {
            tool_error("producer: %s", err[0] != '\0' ? err : raftmq_strerror(rc));
            status = rc == RAFTMQ_ERR_INVALID_REQUEST ? TOOL_EXIT_USAGE : TOOL_EXIT_FAILED;
            goto out;
        }
    }
    if (o->mode != MODE_PRODUCE) {
        struct raftmq_consumer_config cc;
        raftmq_consumer_config_init(&cc);
        cc.brokers = o->brokers;
        char err[512] = "";
        int rc = raftmq_consumer_new(&cc, &consumer.c, err, sizeof(err));
        if (rc != RAFTMQ_OK) {
            tool_error("consumer: %s", err[0] != '\0' ? err : raftmq_strerror(rc));
            goto out;
        }
        consumer.sh = &sh;
        consumer.local = malloc(sizeof(*consumer.local));
        if (consumer.local == NULL) {
            tool_error("out of memory");
            goto out;
        }
        histogram_init(consumer.local);
        /* e2e reads only what this run sends: every partition from its end. */
        int64_t start = o->mode == MODE_E2E ? RAFTMQ_OFFSET_END : RAFTMQ_OFFSET_BEGINNING;
        for (uint32_t p = 0; p < sh.partition_count; p++) {
            rc = raftmq_consumer_assign(consumer.c, o->topic, (int32_t)p, start);
            if (rc != RAFTMQ_OK) {
                tool_error("consumer: assign %s partition %" PRIu32 ": %s", o->topic, p,
                           raftmq_consumer_last_error(consumer.c));
                goto out;
            }
        }
    }

    /* Worker threads do not take the stop signals: this thread's sleep notices them. */
    sigset_t stop_signals, previous;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
    sh.start_ns = wire_mono_ns();
    atomic_store(&sh.last_done_ns, sh.start_ns);
    atomic_store(&sh.producers_running, 0);
    atomic_store(&sh.threads_running, 0);
    bool spawn_failed = false;
    /* The counters go up before each start, so a thread that ends at once cannot
     * bring them to 0 while others are still to start. */
    atomic_fetch_add(&sh.producers_running, (int)producer_count);
    if (o->mode != MODE_PRODUCE) {
        atomic_fetch_add(&sh.threads_running, 1);
        if (pthread_create(&consumer.thread, NULL, consumer_main, &consumer) == 0) {
            consumer.started = true;
        } else {
            atomic_fetch_sub(&sh.threads_running, 1);
            spawn_failed = true;
        }
    }
    for (uint32_t i = 0; i < producer_count; i++) {
        if (!spawn_failed) {
            atomic_fetch_add(&sh.threads_running, 1);
            if (pthread_create(&producers[i].thread, NULL, producer_main, &producers[i]) == 0) {
                producers[i].started = true;
                continue;
            }
            atomic_fetch_sub(&sh.threads_running, 1);
            spawn_failed = true;
        }
        atomic_fetch_sub(&sh.producers_running, 1); /* never started */
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (spawn_failed) {
        tool_error("cannot start a thread");
        stop_requested = 1;
    }

    /* Progress once a second until every thread is done. */
    int64_t last_tick = sh.start_ns;
    uint64_t last_done = 0, last_bytes = 0;
    while (atomic_load(&sh.threads_running) > 0) {
        sleep_ns(50 * 1000000LL);
        int64_t now = wire_mono_ns();
        if (now - last_tick >= BENCH_PROGRESS_NS) {
            uint64_t done = atomic_load(&sh.done);
            uint64_t bytes = o->mode == MODE_PRODUCE ? done * o->size : atomic_load(&sh.bytes);
            if (!o->quiet)
                print_progress(&sh, now, done - last_done, bytes - last_bytes, now - last_tick);
            last_tick = now;
            last_done = done;
            last_bytes = bytes;
        }
    }
    for (uint32_t i = 0; i < producer_count; i++)
        if (producers[i].started)
            pthread_join(producers[i].thread, NULL);
    if (consumer.started)
        pthread_join(consumer.thread, NULL);

    struct bench_summary s;
    memset(&s, 0, sizeof(s));
    s.records = atomic_load(&sh.done);
    s.errors = atomic_load(&sh.errors);
    s.acked = atomic_load(&sh.acked);
    s.foreign = consumer.foreign;
    if (o->mode == MODE_PRODUCE) {
        /* Keys are counted too when there are any (their text length varies). */
        s.bytes = s.records * o->size;
    } else {
        s.bytes = atomic_load(&sh.bytes);
    }
    int64_t last = atomic_load(&sh.last_done_ns);
    s.elapsed_s = (double)(last - sh.start_ns) / 1e9;
    if (s.elapsed_s > 0) {
        s.records_per_s = (double)s.records / s.elapsed_s;
        s.mb_per_s = (double)s.bytes / s.elapsed_s / 1e6;
    }
    bool failed;
    pthread_mutex_lock(&sh.lock);
    failed = sh.failed;
    pthread_mutex_unlock(&sh.lock);
    s.complete = !failed && !stop_requested && !spawn_failed &&
                 (!o->has_records || s.records >= o->records);
    if (o->mode == MODE_E2E && s.records < s.acked)
        s.complete = false;
    print_summary(o, &sh, &pc, &s);
    if (stop_requested)
        tool_error("stopped by a signal: the figures cover the records done until then");
    status = s.complete && s.errors == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAILED;
    if (fflush(stdout) != 0) {
        tool_error("cannot write the output");
        status = TOOL_EXIT_FAILED;
    }

out:
    if (producers != NULL) {
        for (uint32_t i = 0; i < producer_count; i++) {
            /* Flushed by their threads; a handle that never ran reports CLOSED here. */
            raftmq_producer_close(producers[i].p);
            free(producers[i].local);
        }
        free(producers);
    }
    raftmq_consumer_close(consumer.c);
    free(consumer.local);
    free(sh.latency);
    free(sh.ack_latency);
    free(pool);
    pthread_mutex_destroy(&sh.lock);
    free(o);
    return status;
}
