/*
 * raftmq-producer-check: drives the libraftmq producer against real brokers
 * and reads the log back at wire level (FETCH and wire_record_iter, not the
 * consumer library) to check what the producer promises:
 *
 *   roundtrip  records with keys, nil keys, headers and explicit partitions:
 *              every report OK, every record exactly once at its reported
 *              offset with its key, value and headers, per-key order kept.
 *   ordering   the same while answers are dropped (test hook) so batches are
 *              retried with several requests in flight: per partition the log
 *              holds the records in send order; with idempotence no record is
 *              stored twice (without it, only the first copies count for order).
 *   failover   produces until --wait-file appears (the test kills the leader
 *              of partition 0, named in --ready-file), then --records more,
 *              dropping answers too; then the same checks as ordering.
 *
 * Every check failure is printed and the exit status is 1; 0 means every
 * check passed, 2 a bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "producers/producer_internal.h"
#include "wire/batch.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/raftmq.h"

#define CHECK_VALUE_PREFIX_BYTES 11u /* "i=%08u;" plus room */
#define CHECK_KEYS 17u
#define CHECK_VIOLATIONS_SHOWN 20u

enum check_mode { MODE_ROUNDTRIP, MODE_ORDERING, MODE_FAILOVER };

struct opts {
    enum check_mode mode;
    const char *brokers;
    const char *topic;
    uint32_t records;
    uint32_t value_bytes;
    uint32_t drop_every; /* 0: never */
    bool no_idempotence;
    uint32_t timeout_ms;
    const char *ready_file;
    const char *wait_file;
};

/* What was sent as record i, and what its report said. */
struct sent {
    int32_t partition; /* the report's */
    int64_t offset;    /* the report's; -1 on error */
    int error;
    uint32_t reports;
    uint32_t seen; /* copies found in the log */
    bool at_reported; /* a copy sits at the reported offset */
};

static struct opts o;
static struct sent *sent;
static uint32_t sent_count;
static uint64_t violations;
static uint32_t partition_count;
static uint32_t drops;
static uint32_t failures_printed;
/* Per partition: the last offset reported OK, to check report order. */
static int64_t *last_reported;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
    violations++;
    if (violations > CHECK_VIOLATIONS_SHOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("producer-check: VIOLATION: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("producer-check: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ---- the records: all derived from their index -------------------------------------- */

static bool record_has_key(uint32_t i)
{
    return i % 5 != 0;
}

static int record_key(uint32_t i, char *buf, size_t cap)
{
    return snprintf(buf, cap, "key-%u", i % CHECK_KEYS);
}

static uint32_t record_header_count(uint32_t i)
{
    return i % 3 == 0 ? 0u : 2u;
}

/* Nil-key records: every other one goes to an explicit partition, the rest to the sticky one. */
static int32_t record_partition(uint32_t i)
{
    if (!record_has_key(i) && i % 10 == 0)
        return (int32_t)((i / 10) % partition_count);
    return RAFTMQ_PARTITION_ANY;
}

static size_t record_value(uint32_t i, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "i=%08u;", i);
    size_t len = o.value_bytes > (size_t)n ? o.value_bytes : (size_t)n;
    if (len > cap)
        len = cap;
    for (size_t k = (size_t)n; k < len; k++)
        buf[k] = (char)('a' + (i + k) % 26);
    return len;
}

/* ---- producing --------------------------------------------------------------------- */

static void on_delivery(const struct raftmq_delivery *d, void *opaque)
{
    (void)opaque;
    uint32_t i = (uint32_t)(uintptr_t)d->opaque;
    if (i >= sent_count) {
        violation("a delivery report for record %u, which was never sent", i);
        return;
    }
    struct sent *s = &sent[i];
    s->reports++;
    if (s->reports > 1) {
        violation("record %u got %u delivery reports", i, s->reports);
        return;
    }
    s->partition = d->partition;
    s->offset = d->offset;
    s->error = d->error;
    if (d->partition < 0 || (uint32_t)d->partition >= partition_count) {
        violation("record %u reported on partition %d", i, d->partition);
        return;
    }
    if (strcmp(d->topic, o.topic) != 0)
        violation("record %u reported on topic '%s'", i, d->topic);
    if (d->error != RAFTMQ_OK) {
        if (d->offset != -1)
            violation("record %u failed (%s) with offset %" PRId64, i, raftmq_err_name(d->error),
                      d->offset);
        if (failures_printed++ < CHECK_VIOLATIONS_SHOWN)
            fprintf(stderr, "producer-check: record %u failed: %s: %s\n", i,
                    raftmq_err_name(d->error), d->error_message);
        return;
    }
    if (d->offset <= last_reported[d->partition])
        violation("partition %d: record %u reported at offset %" PRId64 " after offset %" PRId64
                  " (reports out of offset order)",
                  d->partition, i, d->offset, last_reported[d->partition]);
    last_reported[d->partition] = d->offset;
}

static void send_one(raftmq_producer *p, uint32_t i)
{
    char key[32], value[65536];
    static const char *names[2] = {"idx", "src"};
    char idx[16];
    snprintf(idx, sizeof(idx), "%u", i);
    struct raftmq_header headers[2] = {
        {names[0], idx, strlen(idx)},
        {names[1], "check", 5},
    };
    struct raftmq_message m;
    memset(&m, 0, sizeof(m));
    m.topic = o.topic;
    m.partition = record_partition(i);
    if (record_has_key(i)) {
        m.key = key;
        m.key_len = (size_t)record_key(i, key, sizeof(key));
    }
    m.value = value;
    m.value_len = record_value(i, value, sizeof(value));
    m.headers = headers;
    m.header_count = record_header_count(i);
    m.opaque = (void *)(uintptr_t)i;
    /* One drop at a time: a drop waiting for an answer is not stacked up. */
    if (o.drop_every > 0 && i % o.drop_every == o.drop_every - 1 &&
        raftmq_producer_test_drops_pending(p) == 0) {
        raftmq_producer_test_drop_responses(p, 1);
        drops++;
    }
    for (;;) {
        int rc = raftmq_producer_send(p, &m);
        if (rc == RAFTMQ_OK)
            break;
        if (rc != RAFTMQ_ERR_QUEUE_FULL)
            die("send of record %u: %s: %s", i, raftmq_err_name(rc), raftmq_producer_last_error(p));
        raftmq_producer_poll(p, 50);
    }
    /* With drops, answers are taken often so that drops spread over the whole run. */
    if (o.drop_every > 0 ? i % 100 == 0 : i % 256 == 0)
        raftmq_producer_poll(p, o.drop_every > 0 ? 1 : 0);
}

static void flush_all(raftmq_producer *p)
{
    int rc = raftmq_producer_flush(p, (int)o.timeout_ms + 10000);
    if (rc != RAFTMQ_OK)
        die("flush: %s: %s (%" PRIu64 " pending)", raftmq_err_name(rc),
            raftmq_producer_last_error(p), raftmq_producer_pending(p));
}

static uint32_t leader_of(struct wire_client *c, uint32_t partition)
{
    int64_t deadline = wire_mono_ms() + 10000;
    for (;;) {
        uint32_t node = 0;
        const char *address;
        if (wire_client_refresh_metadata(c, o.topic, 2000) == WIRE_OK &&
            wire_client_leader(c, o.topic, partition, &node, &address) == WIRE_OK && node != 0)
            return node;
        if (wire_mono_ms() > deadline)
            die("no leader known for %s/%u", o.topic, partition);
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void produce(raftmq_producer *p, struct wire_client *c)
{
    if (o.mode != MODE_FAILOVER) {
        for (uint32_t i = 0; i < o.records; i++)
            send_one(p, sent_count++);
        flush_all(p);
        return;
    }
    /* A first part while every broker is up, then the leader of partition 0 is named. */
    for (uint32_t i = 0; i < o.records / 2; i++)
        send_one(p, sent_count++);
    flush_all(p);
    uint32_t leader = leader_of(c, 0);
    FILE *f = fopen(o.ready_file, "w");
    if (f == NULL || fprintf(f, "%u\n", leader) < 0 || fclose(f) != 0)
        die("cannot write %s: %s", o.ready_file, strerror(errno));
    fprintf(stderr, "producer-check: leader of %s/0 is broker %u; producing until %s appears\n",
            o.topic, leader, o.wait_file);
    /* Keep records flowing (and answers dropped) while the leader dies. */
    int64_t give_up = wire_mono_ms() + 60000;
    while (access(o.wait_file, F_OK) != 0) {
        if (wire_mono_ms() > give_up)
            die("%s did not appear within 60 s", o.wait_file);
        if (sent_count >= 1000000u)
            die("too many records before %s appeared", o.wait_file);
        for (uint32_t k = 0; k < 50; k++)
            send_one(p, sent_count++);
        raftmq_producer_poll(p, 5);
    }
    for (uint32_t i = 0; i < o.records / 2; i++) {
        send_one(p, sent_count++);
        if (i % 50 == 0)
            raftmq_producer_poll(p, 2);
    }
    flush_all(p);
}

/* ---- reading the log back ------------------------------------------------------------ */

static bool bytes_eq(struct wire_bytes b, const void *s, size_t len)
{
    return b.len == len && (len == 0 || memcmp(b.ptr, s, len) == 0);
}

/* Checks one record of the log against what was sent; returns its index or -1. */
static int64_t check_record(uint32_t partition, const struct wire_record *rec)
{
    unsigned idx;
    if (rec->value.len < 11 || sscanf((const char *)rec->value.ptr, "i=%8u;", &idx) != 1) {
        violation("partition %u offset %" PRIu64 ": a record this check did not write", partition,
                  rec->offset);
        return -1;
    }
    if (idx >= sent_count) {
        violation("partition %u offset %" PRIu64 ": record %u was never sent", partition,
                  rec->offset, idx);
        return -1;
    }
    struct sent *s = &sent[idx];
    s->seen++;
    char buf[65536];
    size_t len = record_value(idx, buf, sizeof(buf));
    if (!bytes_eq(rec->value, buf, len))
        violation("record %u at %u/%" PRIu64 ": the value differs", idx, partition, rec->offset);
    if (rec->has_key != record_has_key(idx)) {
        violation("record %u at %u/%" PRIu64 ": key %s, want %s", idx, partition, rec->offset,
                  rec->has_key ? "present" : "nil", record_has_key(idx) ? "present" : "nil");
    } else if (rec->has_key) {
        int klen = record_key(idx, buf, sizeof(buf));
        if (!bytes_eq(rec->key, buf, (size_t)klen))
            violation("record %u: the key differs", idx);
        uint32_t want = raftmq_key_hash(buf, (size_t)klen) % partition_count;
        if (want != partition)
            violation("record %u with key %s is on partition %u, not FNV-1a %% %u = %u", idx, buf,
                      partition, partition_count, want);
    }
    int32_t explicit = record_partition(idx);
    if (explicit != RAFTMQ_PARTITION_ANY && (uint32_t)explicit != partition)
        violation("record %u sent to partition %d is on partition %u", idx, explicit, partition);
    if (rec->header_count != record_header_count(idx)) {
        violation("record %u: %u headers, want %u", idx, rec->header_count,
                  record_header_count(idx));
    } else if (rec->header_count == 2) {
        char idx_text[16];
        snprintf(idx_text, sizeof(idx_text), "%u", idx);
        if (!bytes_eq(rec->headers[0].name, "idx", 3) ||
            !bytes_eq(rec->headers[0].value, idx_text, strlen(idx_text)) ||
            !bytes_eq(rec->headers[1].name, "src", 3) ||
            !bytes_eq(rec->headers[1].value, "check", 5))
            violation("record %u: the headers differ", idx);
    }
    if (s->reports == 1 && s->error == RAFTMQ_OK) {
        if (s->partition != (int32_t)partition)
            violation("record %u reported on partition %d is on partition %u", idx, s->partition,
                      partition);
        else if ((uint64_t)s->offset == rec->offset)
            s->at_reported = true;
    }
    return idx;
}

/* Reads a partition from its start to its high watermark; checks order and duplicates. */
static uint64_t read_partition(struct wire_client *c, uint32_t partition, uint8_t *scratch)
{
    uint64_t offset = 0, count = 0;
    int64_t last_first_seen = -1; /* the last index seen for the first time */
    int64_t deadline = wire_mono_ms() + 60000;
    unsigned empty_answers = 0;
    for (;;) {
        if (wire_mono_ms() > deadline)
            die("reading partition %u: deadline passed at offset %" PRIu64, partition, offset);
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_FETCH;
        req.body.fetch_req.topic = (struct wire_bytes){(const uint8_t *)o.topic,
                                                       (uint32_t)strlen(o.topic)};
        req.body.fetch_req.partition = partition;
        req.body.fetch_req.offset = offset;
        req.body.fetch_req.max_bytes = WIRE_MIB;
        req.body.fetch_req.max_wait_ms = 0;
        int rc = wire_client_request(c, &req, 10000, 0, &resp);
        if (rc != WIRE_OK)
            die("FETCH %s/%u at %" PRIu64 ": %s", o.topic, partition, offset, wire_client_error(c));
        if (resp.error != WIRE_OK)
            die("FETCH %s/%u at %" PRIu64 ": %s", o.topic, partition, offset,
                wire_err_name((int)resp.error));
        const struct wire_fetch_resp *f = &resp.body.fetch_resp;
        if (offset >= f->high_watermark)
            return count;
        uint64_t before = offset;
        for (uint32_t b = 0; b < f->batches.count; b++) {
            struct wire_batch_header h;
            const char *why = "";
            rc = wire_batch_validate(f->batches.items[b].ptr, f->batches.items[b].len, &h, &why);
            if (rc != WIRE_OK)
                die("partition %u near %" PRIu64 ": bad batch: %s", partition, offset, why);
            if (o.no_idempotence ? h.producer_id != -1 : h.producer_id < 1)
                violation("partition %u batch at %" PRIu64 ": producer id %" PRId64
                          " (idempotence %s)", partition, h.base_offset, h.producer_id,
                          o.no_idempotence ? "off" : "on");
            struct wire_record_iter it;
            rc = wire_record_iter_init(&it, &h, scratch, WIRE_BATCH_RECORDS_BYTES_MAX, &why);
            while (rc == WIRE_OK && wire_record_iter_has_next(&it)) {
                struct wire_record rec;
                rc = wire_record_iter_next(&it, &rec, &why);
                if (rc != WIRE_OK || rec.offset < offset || rec.offset >= f->high_watermark)
                    continue;
                if (rec.offset != offset)
                    violation("partition %u: offsets jump from %" PRIu64 " to %" PRIu64, partition,
                              offset, rec.offset);
                int64_t idx = check_record(partition, &rec);
                if (idx >= 0) {
                    const struct sent *s = &sent[idx];
                    if (s->seen > 1 && !o.no_idempotence)
                        violation("record %" PRId64 " is stored %u times (again at %u/%" PRIu64 ")",
                                  idx, s->seen, partition, rec.offset);
                    if (s->seen == 1) {
                        /* Records of a partition were sent in index order. */
                        if (idx <= last_first_seen)
                            violation("partition %u offset %" PRIu64 ": record %" PRId64
                                      " after record %" PRId64 " (out of send order)",
                                      partition, rec.offset, idx, last_first_seen);
                        last_first_seen = idx;
                    }
                }
                count++;
                offset = rec.offset + 1;
            }
            if (rc != WIRE_OK)
                die("partition %u near %" PRIu64 ": bad records: %s", partition, offset, why);
        }
        if (offset == before) {
            if (++empty_answers > 50)
                die("partition %u: no records at %" PRIu64 " below the high watermark", partition,
                    offset);
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        } else {
            empty_answers = 0;
        }
    }
}

static void verify(struct wire_client *c)
{
    uint8_t *scratch = malloc(WIRE_BATCH_RECORDS_BYTES_MAX);
    if (scratch == NULL)
        die("out of memory");
    uint64_t total = 0;
    for (uint32_t k = 0; k < partition_count; k++)
        total += read_partition(c, k, scratch);
    free(scratch);
    uint32_t ok = 0, failed = 0, duplicated = 0;
    for (uint32_t i = 0; i < sent_count; i++) {
        const struct sent *s = &sent[i];
        if (s->reports != 1) {
            violation("record %u got %u delivery reports", i, s->reports);
            continue;
        }
        if (s->seen > 1)
            duplicated++;
        if (s->error == RAFTMQ_OK) {
            ok++;
            if (s->seen == 0)
                violation("record %u was acknowledged at %d/%" PRId64 " but is not in the log", i,
                          s->partition, s->offset);
            else if (!s->at_reported)
                violation("record %u was acknowledged at %d/%" PRId64
                          " but no copy is at that offset", i, s->partition, s->offset);
        } else {
            failed++;
        }
    }
    fprintf(stderr, "producer-check: %u records sent, %u acknowledged, %u failed, %u stored more "
            "than once, %" PRIu64 " records in the log\n", sent_count, ok, failed, duplicated,
            total);
    /* Faults are retried within the delivery timeout: only the failover may lose records. */
    if (o.mode != MODE_FAILOVER && failed > 0)
        violation("%u records failed", failed);
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: raftmq-producer-check roundtrip|ordering|failover -b BROKERS -t TOPIC\n"
            "       [--records N] [--value-bytes B] [--drop-every K] [--no-idempotence]\n"
            "       [--timeout MS] [--ready-file PATH --wait-file PATH]\n");
    exit(2);
}

static uint32_t number(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > 100000000ul)
        usage();
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "roundtrip") == 0)
        o.mode = MODE_ROUNDTRIP;
    else if (strcmp(argv[1], "ordering") == 0)
        o.mode = MODE_ORDERING;
    else if (strcmp(argv[1], "failover") == 0)
        o.mode = MODE_FAILOVER;
    else
        usage();
    o.records = 20000;
    o.value_bytes = 100;
    o.timeout_ms = 30000;
    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"records", required_argument, NULL, 'n'},
        {"value-bytes", required_argument, NULL, 'v'},
        {"drop-every", required_argument, NULL, 'd'},
        {"no-idempotence", no_argument, NULL, 'I'},
        {"timeout", required_argument, NULL, 'T'},
        {"ready-file", required_argument, NULL, 'r'},
        {"wait-file", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "b:t:", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'b': o.brokers = optarg; break;
        case 't': o.topic = optarg; break;
        case 'n': o.records = number(optarg); break;
        case 'v': o.value_bytes = number(optarg); break;
        case 'd': o.drop_every = number(optarg); break;
        case 'I': o.no_idempotence = true; break;
        case 'T': o.timeout_ms = number(optarg); break;
        case 'r': o.ready_file = optarg; break;
        case 'w': o.wait_file = optarg; break;
        default: usage();
        }
    }
    if (o.brokers == NULL || o.topic == NULL || o.value_bytes > 60000 || o.records < 2 ||
        (o.mode == MODE_FAILOVER && (o.ready_file == NULL || o.wait_file == NULL)))
        usage();

    struct wire_client_config cc = {.bootstrap = o.brokers};
    struct wire_client *c = NULL;
    if (wire_client_open(&cc, &c) != WIRE_OK)
        die("cannot open a client for %s", o.brokers);
    struct raftmq_producer_config cfg;
    raftmq_producer_config_init(&cfg);
    cfg.brokers = o.brokers;
    cfg.idempotence = !o.no_idempotence;
    cfg.delivery_timeout_ms = o.timeout_ms;
    /* Small batches: many requests per partition, so several are in flight. */
    cfg.batch_bytes_max = 8u * 1024u;
    cfg.linger_ms = 2;
    cfg.on_delivery = on_delivery;
    char err[256];
    raftmq_producer *p = NULL;
    int rc = raftmq_producer_new(&cfg, &p, err, sizeof(err));
    if (rc != RAFTMQ_OK)
        die("raftmq_producer_new: %s", err);
    rc = raftmq_producer_partition_count(p, o.topic, 20000, &partition_count);
    if (rc != RAFTMQ_OK)
        die("topic %s: %s", o.topic, raftmq_producer_last_error(p));
    /* Failover sends until told to stop: room for the worst case. */
    uint32_t capacity = o.mode == MODE_FAILOVER ? 1000000u + o.records : o.records;
    sent = calloc(capacity, sizeof(*sent));
    last_reported = malloc(partition_count * sizeof(*last_reported));
    if (sent == NULL || last_reported == NULL)
        die("out of memory");
    for (uint32_t k = 0; k < partition_count; k++)
        last_reported[k] = -1;

    produce(p, c);
    struct raftmq_producer_stats st;
    raftmq_producer_get_stats(p, &st);
    fprintf(stderr, "producer-check: %" PRIu64 " PRODUCE requests, %" PRIu64 " retries, %" PRIu64
            " producer id resets, producer id %" PRId64 ", %u answers dropped\n",
            st.batches_sent, st.retries, st.producer_id_resets,
            raftmq_producer_test_producer_id(p), drops);
    if (o.drop_every > 0 && st.retries == 0)
        violation("answers were dropped but no batch was retried");
    if (raftmq_producer_pending(p) != 0)
        violation("%" PRIu64 " records pending after flush", raftmq_producer_pending(p));
    raftmq_producer_close(p);
    verify(c);
    wire_client_close(c);
    free(sent);
    free(last_reported);
    if (violations > 0) {
        fprintf(stderr, "producer-check: FAIL: %" PRIu64 " violations\n", violations);
        return 1;
    }
    fprintf(stderr, "producer-check: PASS\n");
    return 0;
}
