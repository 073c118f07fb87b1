/*
 * raftmq-consumer-check: drives the consumer API of libraftmq (wire/raftmq.h)
 * against real brokers for tests/cluster/test_library_consumer.sh.
 *
 *   roundtrip -b B -t TOPIC --partitions P --records N --seed S --acks FILE
 *             [--pause-after K --pause-file F --go-file G | --live --pause-file F --go-file G]
 *             [--fetch-bytes X] [--buffer-bytes Y] [--timeout SECONDS]
 *       Reads every partition from the beginning (data written by
 *       `raftmq-testclient produce`) until each reaches its last acknowledged
 *       offset and its high watermark. Checks that every partition's offsets
 *       run 0, 1, 2, ... with nothing skipped or repeated, that every record's
 *       key, value and headers are byte for byte those of its id
 *       (tests/cluster/records.h), and that every acknowledged record was read
 *       at its offset with its id. With --pause-after it stops polling after K
 *       records, creates F, and waits for G to exist before it goes on (so the
 *       script can kill a leader while the consumer is mid-way). With --live
 *       the topic starts empty: it creates F once its first long-polls are on
 *       the wire, reads while the script kills a leader and produces, and
 *       takes the ack file (complete once G exists) as the end.
 *   seek -b B -t TOPIC --partitions P [--timeout SECONDS]
 *       Writes its own records (distinct timestamps) to the empty TOPIC and
 *       checks every way to start: BEGINNING, an offset, TAIL(n), END (only
 *       newer records), a timestamp (the first record returned has timestamp
 *       >= T, the one before it < T), OFFSET_OUT_OF_RANGE with RESET_ERROR,
 *       the reset to EARLIEST, unassign, and bad arguments.
 *
 * Exit status: 0 every check passed, 1 a check failed (each failure is
 * printed), 2 usage.
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

#include "tests/cluster/records.h"
#include "wire/batch.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/raftmq.h"

#define PROG "raftmq-consumer-check"
#define FAILURES_SHOWN 20

struct options {
    const char *command;
    const char *brokers;
    const char *topic;
    const char *acks_path;
    const char *pause_file;
    const char *go_file;
    uint64_t records;
    uint64_t seed;
    uint64_t pause_after;
    uint32_t partitions;
    uint32_t fetch_bytes;
    uint32_t buffer_bytes;
    double timeout_s;
    bool live;
};

static unsigned failures;

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void failf(const char *fmt, ...)
{
    if (failures++ >= FAILURES_SHOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

#define CHECK(cond, ...)          \
    do {                          \
        if (!(cond))              \
            failf(__VA_ARGS__);   \
    } while (0)

static void usage_error(const char *what)
{
    fprintf(stderr, PROG ": %s (see the comment at the top of tests/cluster/consumer_check.c)\n", what);
    exit(2);
}

static uint64_t parse_u64(const char *name, const char *s)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        usage_error(name);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        usage_error(name);
    return (uint64_t)v;
}

static raftmq_consumer *open_consumer(const struct options *o, enum raftmq_offset_reset reset)
{
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = o->brokers;
    cfg.offset_reset = reset;
    if (o->fetch_bytes != 0)
        cfg.fetch_max_bytes = o->fetch_bytes;
    if (o->buffer_bytes != 0)
        cfg.partition_buffer_bytes = o->buffer_bytes;
    cfg.fetch_max_wait_ms = 200;
    cfg.request_timeout_ms = 10000;
    raftmq_consumer *c = NULL;
    char err[512];
    int rc = raftmq_consumer_new(&cfg, &c, err, sizeof(err));
    if (rc != RAFTMQ_OK) {
        fprintf(stderr, PROG ": raftmq_consumer_new: %s (%s)\n", err, raftmq_err_name(rc));
        exit(1);
    }
    return c;
}

/* The raftmq record as the wire/batch.h record the test records compare against. */
static void as_wire_record(const struct raftmq_record *r, struct wire_record *w,
                           struct wire_header *headers)
{
    memset(w, 0, sizeof(*w));
    w->offset = (uint64_t)r->offset;
    w->timestamp = r->timestamp;
    w->has_key = r->key != NULL;
    w->key = (struct wire_bytes){r->key, (uint32_t)r->key_len};
    w->value = (struct wire_bytes){r->value, (uint32_t)r->value_len};
    size_t n = r->header_count < WIRE_HEADERS_MAX ? r->header_count : WIRE_HEADERS_MAX;
    for (size_t i = 0; i < n; i++) {
        headers[i].name = (struct wire_bytes){(const uint8_t *)r->headers[i].name,
                                              (uint32_t)strlen(r->headers[i].name)};
        headers[i].value = (struct wire_bytes){r->headers[i].value, (uint32_t)r->headers[i].value_len};
    }
    w->header_count = (uint32_t)n;
    w->headers = headers;
}

/* ---- roundtrip ------------------------------------------------------------------------- */

struct rt_part {
    int64_t next;     /* offset expected next */
    int64_t target;   /* largest acknowledged offset + 1 */
    uint64_t *ids;    /* id read at each offset */
    size_t ids_cap;
    bool done;
};

static void rt_store(struct rt_part *p, int64_t offset, uint64_t id)
{
    if ((size_t)offset >= p->ids_cap) {
        size_t cap = p->ids_cap == 0 ? 1024 : p->ids_cap;
        while (cap <= (size_t)offset)
            cap *= 2;
        uint64_t *grown = realloc(p->ids, cap * sizeof(*grown));
        if (grown == NULL) {
            fprintf(stderr, PROG ": out of memory\n");
            exit(1);
        }
        for (size_t i = p->ids_cap; i < cap; i++)
            grown[i] = UINT64_MAX;
        p->ids = grown;
        p->ids_cap = cap;
    }
    p->ids[offset] = id;
}

static void touch(const char *path);

static void wait_for_go(const struct options *o, int64_t deadline)
{
    touch(o->pause_file);
    fprintf(stderr, PROG ": paused after %" PRIu64 " records; waiting for %s\n", o->pause_after,
            o->go_file);
    while (access(o->go_file, F_OK) != 0) {
        if (wire_mono_ms() >= deadline) {
            fprintf(stderr, PROG ": %s did not appear in time\n", o->go_file);
            exit(1);
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Loads the ack file and sets each partition's target (largest acknowledged offset + 1). */
static int load_targets(const struct options *o, struct testacks *acks, struct rt_part *parts,
                        uint32_t partitions)
{
    char why[512];
    if (testacks_load(o->acks_path, acks, why, sizeof(why)) != 0) {
        fprintf(stderr, PROG ": %s\n", why);
        return -1;
    }
    if (!acks->has_header || acks->header.partitions != partitions ||
        strcmp(acks->header.topic, o->topic) != 0) {
        fprintf(stderr, PROG ": %s has no header for topic %s with %u partitions\n", o->acks_path,
                o->topic, partitions);
        return -1;
    }
    for (size_t i = 0; i < acks->ack_count; i++) {
        const struct testack *a = &acks->acks[i];
        if (a->partition < partitions && (int64_t)a->offset + 1 > parts[a->partition].target)
            parts[a->partition].target = (int64_t)a->offset + 1;
    }
    return 0;
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, PROG ": cannot create %s\n", path);
        exit(1);
    }
    fclose(f);
}

static int cmd_roundtrip(const struct options *o)
{
    struct testacks acks;
    memset(&acks, 0, sizeof(acks));
    uint32_t partitions = o->partitions;
    struct rt_part *parts = calloc(partitions, sizeof(*parts));
    if (parts == NULL)
        return 1;
    /* --live: the records are produced while we read; the ack file is complete once go-file exists. */
    bool acks_loaded = false;
    if (!o->live) {
        if (load_targets(o, &acks, parts, partitions) != 0)
            return 1;
        acks_loaded = true;
    }
    raftmq_consumer *c = open_consumer(o, RAFTMQ_RESET_ERROR);
    for (uint32_t p = 0; p < partitions; p++) {
        int rc = raftmq_consumer_assign(c, o->topic, (int32_t)p, RAFTMQ_OFFSET_BEGINNING);
        if (rc != RAFTMQ_OK) {
            fprintf(stderr, PROG ": assign %s/%u: %s\n", o->topic, p, raftmq_consumer_last_error(c));
            return 1;
        }
        int64_t pos = -1;
        raftmq_consumer_position(c, o->topic, (int32_t)p, &pos);
        CHECK(pos == 0, "partition %u: BEGINNING of a fresh topic is %" PRId64 ", not 0", p, pos);
        parts[p].next = 0;
    }
    if (o->live) {
        struct raftmq_record first;
        int rc = raftmq_consumer_poll(c, 0, &first); /* puts the first long-polls on the wire */
        if (rc != RAFTMQ_ERR_NO_RECORD)
            failf("an empty topic gave %s", raftmq_err_name(rc));
        touch(o->pause_file);
    }
    int64_t deadline = wire_mono_ms() + (int64_t)(o->timeout_s * 1000);
    uint64_t consumed = 0;
    uint32_t done = 0;
    bool paused = false;
    struct testrec expected;
    struct wire_header headers[WIRE_HEADERS_MAX];
    while (done < partitions && failures < FAILURES_SHOWN) {
        if (wire_mono_ms() >= deadline) {
            failf("timed out after %.0f s with %" PRIu64 " records consumed", o->timeout_s, consumed);
            break;
        }
        if (!acks_loaded && access(o->go_file, F_OK) == 0) {
            if (load_targets(o, &acks, parts, partitions) != 0)
                return 1;
            acks_loaded = true;
        }
        if (o->pause_after > 0 && !paused && consumed >= o->pause_after) {
            paused = true;
            wait_for_go(o, deadline);
        }
        struct raftmq_record r;
        int rc = raftmq_consumer_poll(c, 100, &r);
        if (rc == RAFTMQ_ERR_NO_RECORD) {
            for (uint32_t p = 0; p < partitions; p++) {
                int64_t pos, hwm;
                if (!acks_loaded || parts[p].done || raftmq_consumer_position(c, o->topic, (int32_t)p, &pos) != RAFTMQ_OK ||
                    raftmq_consumer_high_watermark(c, o->topic, (int32_t)p, &hwm) != RAFTMQ_OK)
                    continue;
                if (pos >= parts[p].target && hwm >= 0 && pos >= hwm) {
                    parts[p].done = true;
                    done++;
                }
            }
            continue;
        }
        if (rc != RAFTMQ_OK) {
            failf("poll: %s: %s", raftmq_err_name(rc), raftmq_consumer_last_error(c));
            continue;
        }
        consumed++;
        if (strcmp(r.topic, o->topic) != 0 || r.partition < 0 || (uint32_t)r.partition >= partitions) {
            failf("a record of %s/%d", r.topic, r.partition);
            continue;
        }
        struct rt_part *pp = &parts[r.partition];
        if (r.offset != pp->next)
            failf("partition %d: offset %" PRId64 " after %" PRId64 " (%s)", r.partition, r.offset,
                  pp->next - 1, r.offset > pp->next ? "skipped" : "repeated");
        pp->next = r.offset + 1;
        struct wire_record w;
        as_wire_record(&r, &w, headers);
        uint64_t id;
        if (!testrec_read_id(&w, &id)) {
            failf("partition %d offset %" PRId64 ": no id header", r.partition, r.offset);
            continue;
        }
        testrec_make(&expected, o->seed, id, 0);
        const char *diff = testrec_compare(&expected, &w);
        if (diff != NULL)
            failf("partition %d offset %" PRId64 " id %" PRIu64 ": %s", r.partition, r.offset, id, diff);
        if (id % partitions != (uint64_t)r.partition)
            failf("id %" PRIu64 " read from partition %d", id, r.partition);
        rt_store(pp, r.offset, id);
    }
    uint64_t missing = 0;
    for (size_t i = 0; i < acks.ack_count; i++) {
        const struct testack *a = &acks.acks[i];
        if (a->partition >= partitions)
            continue;
        const struct rt_part *pp = &parts[a->partition];
        uint64_t got = a->offset < pp->ids_cap ? pp->ids[a->offset] : UINT64_MAX;
        if (got != a->id) {
            if (missing++ < 5)
                failf("acknowledged id %" PRIu64 " at %u/%" PRIu64 ": read %s", a->id, a->partition,
                      a->offset, got == UINT64_MAX ? "nothing" : "another id");
        }
    }
    CHECK(acks.ack_count == o->records, "%zu acknowledgements for %" PRIu64 " records", acks.ack_count,
          o->records);
    CHECK(missing == 0, "%" PRIu64 " acknowledged records not read at their offset", missing);
    raftmq_consumer_close(c);
    for (uint32_t p = 0; p < partitions; p++)
        free(parts[p].ids);
    free(parts);
    testacks_free(&acks);
    if (failures == 0)
        printf("roundtrip: %" PRIu64 " records in %u partitions, each once and in order, bytes exact\n",
               consumed, partitions);
    return failures == 0 ? 0 : 1;
}

/* ---- seek ------------------------------------------------------------------------------ */

#define SEEK_RECORDS 200u
#define SEEK_BATCH 20u
#define SEEK_TS_STEP 10

/* Record i of a partition: key "k<i>", value "v<i>", header i=<i>, timestamp ts0 + 10 i. */
static int produce_range(struct wire_client *wc, const char *topic, uint32_t partition, uint32_t first,
                         uint32_t count, int64_t ts0)
{
    static uint8_t buf[256 * 1024];
    char keys[SEEK_BATCH][16], values[SEEK_BATCH][16], hv[SEEK_BATCH][16];
    struct wire_header hdr[SEEK_BATCH];
    for (uint32_t done = 0; done < count;) {
        uint32_t n = count - done < SEEK_BATCH ? count - done : SEEK_BATCH;
        struct wire_batch_builder b;
        wire_batch_builder_init(&b, buf, sizeof(buf), WIRE_CODEC_NONE);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = first + done + k;
            int kl = snprintf(keys[k], sizeof(keys[k]), "k%u", i);
            int vl = snprintf(values[k], sizeof(values[k]), "v%u", i);
            int hl = snprintf(hv[k], sizeof(hv[k]), "%u", i);
            hdr[k].name = (struct wire_bytes){(const uint8_t *)"i", 1};
            hdr[k].value = (struct wire_bytes){(const uint8_t *)hv[k], (uint32_t)hl};
            struct wire_record rec = {0};
            rec.timestamp = ts0 + (int64_t)i * SEEK_TS_STEP;
            rec.has_key = true;
            rec.key = (struct wire_bytes){(const uint8_t *)keys[k], (uint32_t)kl};
            rec.value = (struct wire_bytes){(const uint8_t *)values[k], (uint32_t)vl};
            rec.header_count = 1;
            rec.headers = &hdr[k];
            if (wire_batch_builder_add(&b, &rec) != WIRE_OK)
                return -1;
        }
        struct wire_bytes batch;
        if (wire_batch_builder_finish(&b, NULL, 0, &batch) != WIRE_OK)
            return -1;
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_PRODUCE;
        req.body.produce_req.topic = (struct wire_bytes){(const uint8_t *)topic, (uint32_t)strlen(topic)};
        req.body.produce_req.partition = partition;
        req.body.produce_req.timeout_ms = 10000;
        req.body.produce_req.batches.count = 1;
        req.body.produce_req.batches.items = &batch;
        int rc = wire_client_request(wc, &req, 20000, 0, &resp);
        if (rc != WIRE_OK || resp.error != WIRE_OK) {
            fprintf(stderr, PROG ": PRODUCE to %s/%u: %s\n", topic, partition,
                    rc != WIRE_OK ? wire_client_error(wc) : wire_err_name((int)resp.error));
            return -1;
        }
        done += n;
    }
    return 0;
}

/* Polls the next record (up to `ms`); false on NO_RECORD or an error (then *rc says which). */
static bool next_record(raftmq_consumer *c, int ms, struct raftmq_record *r, int *rc)
{
    int64_t until = wire_mono_ms() + ms;
    for (;;) {
        *rc = raftmq_consumer_poll(c, 200, r);
        if (*rc == RAFTMQ_OK)
            return true;
        if (*rc != RAFTMQ_ERR_NO_RECORD || wire_mono_ms() >= until)
            return false;
    }
}

/* The index i of a seek record, from its value "v<i>" (-1 if it is not one). */
static long record_index(const struct raftmq_record *r)
{
    if (r->value_len < 2 || r->value_len > 12 || ((const char *)r->value)[0] != 'v')
        return -1;
    char tmp[16];
    memcpy(tmp, (const char *)r->value + 1, r->value_len - 1);
    tmp[r->value_len - 1] = '\0';
    return strtol(tmp, NULL, 10);
}

/* Assigns p at `start`, then reads one record and checks its offset (and that value and key match it). */
static void expect_first(raftmq_consumer *c, const char *topic, int32_t p, int64_t start,
                         int64_t want_offset, const char *what)
{
    int rc = raftmq_consumer_assign(c, topic, p, start);
    if (rc != RAFTMQ_OK) {
        failf("%s: assign: %s", what, raftmq_consumer_last_error(c));
        return;
    }
    int64_t pos = -1;
    raftmq_consumer_position(c, topic, p, &pos);
    CHECK(pos == want_offset, "%s: position %" PRId64 " after assign, want %" PRId64, what, pos,
          want_offset);
    struct raftmq_record r;
    if (!next_record(c, 10000, &r, &rc)) {
        failf("%s: no record (%s: %s)", what, raftmq_err_name(rc), raftmq_consumer_last_error(c));
        return;
    }
    CHECK(r.partition == p && strcmp(r.topic, topic) == 0, "%s: record of %s/%d", what, r.topic,
          r.partition);
    CHECK(r.offset == want_offset, "%s: first record at offset %" PRId64 ", want %" PRId64, what,
          r.offset, want_offset);
    CHECK(record_index(&r) == (long)r.offset, "%s: offset %" PRId64 " holds '%.*s'", what, r.offset,
          (int)r.value_len, (const char *)r.value);
    char key[16];
    snprintf(key, sizeof(key), "k%ld", record_index(&r));
    CHECK(r.key != NULL && r.key_len == strlen(key) && memcmp(r.key, key, r.key_len) == 0,
          "%s: the key of offset %" PRId64 " is wrong", what, r.offset);
    CHECK(r.header_count == 1 && strcmp(r.headers[0].name, "i") == 0,
          "%s: the headers of offset %" PRId64 " are wrong", what, r.offset);
    raftmq_consumer_position(c, topic, p, &pos);
    CHECK(pos == r.offset + 1, "%s: position %" PRId64 " after offset %" PRId64, what, pos, r.offset);
}

/* Reads partition p until its position reaches `end`; returns the records read (-1: error). */
static long drain(raftmq_consumer *c, const char *topic, int32_t p, int64_t end, int64_t *first)
{
    long n = 0;
    *first = -1;
    int64_t pos = -1;
    while (raftmq_consumer_position(c, topic, p, &pos) == RAFTMQ_OK && pos < end) {
        struct raftmq_record r;
        int rc;
        if (!next_record(c, 10000, &r, &rc)) {
            failf("drain %s/%d: %s: %s", topic, p, raftmq_err_name(rc), raftmq_consumer_last_error(c));
            return -1;
        }
        if (*first < 0)
            *first = r.offset;
        n++;
    }
    return n;
}

static int cmd_seek(const struct options *o)
{
    uint32_t partitions = o->partitions;
    struct wire_client_config wc_cfg = {.bootstrap = o->brokers};
    struct wire_client *wc = NULL;
    if (wire_client_open(&wc_cfg, &wc) != WIRE_OK ||
        wire_client_refresh_metadata(wc, o->topic, 10000) != WIRE_OK) {
        fprintf(stderr, PROG ": cannot reach %s\n", o->brokers);
        return 1;
    }
    /* Distinct timestamps, spaced so a T between two of them is meaningful. */
    int64_t ts0 = 1767225600000;
    for (uint32_t p = 0; p < partitions; p++) {
        if (produce_range(wc, o->topic, p, 0, SEEK_RECORDS, ts0) != 0)
            return 1;
    }
    raftmq_consumer *c = open_consumer(o, RAFTMQ_RESET_ERROR);
    const char *t = o->topic;
    int rc;

    /* Bad arguments and unknown names. */
    CHECK(raftmq_consumer_assign(c, t, 0, RAFTMQ_OFFSET_TAIL(0)) == RAFTMQ_ERR_INVALID_REQUEST,
          "TAIL(0) accepted");
    CHECK(raftmq_consumer_assign(c, t, 0, -3) == RAFTMQ_ERR_INVALID_REQUEST, "start -3 accepted");
    CHECK(raftmq_consumer_assign(c, t, -1, 0) == RAFTMQ_ERR_INVALID_REQUEST, "partition -1 accepted");
    CHECK(raftmq_consumer_assign(c, "bad name", 0, 0) == RAFTMQ_ERR_INVALID_REQUEST,
          "a bad topic name accepted");
    CHECK(raftmq_consumer_assign_timestamp(c, t, 0, -5) == RAFTMQ_ERR_INVALID_REQUEST,
          "a negative timestamp accepted");
    rc = raftmq_consumer_assign(c, "no-such-topic", 0, 0);
    CHECK(rc == RAFTMQ_ERR_UNKNOWN_TOPIC, "unknown topic: %s", raftmq_err_name(rc));
    rc = raftmq_consumer_assign(c, t, (int32_t)partitions, 0);
    CHECK(rc == RAFTMQ_ERR_UNKNOWN_PARTITION, "partition %u: %s", partitions, raftmq_err_name(rc));
    int64_t v;
    CHECK(raftmq_consumer_position(c, t, 0, &v) == RAFTMQ_ERR_NOT_ASSIGNED, "position unassigned");
    CHECK(raftmq_consumer_unassign(c, t, 0) == RAFTMQ_ERR_NOT_ASSIGNED, "unassign unassigned");
    struct raftmq_record r;
    CHECK(raftmq_consumer_poll(c, 0, &r) == RAFTMQ_ERR_NO_RECORD, "poll with nothing assigned");

    /* Every way to start, on partition 0 (seeking an assigned partition re-assigns it). */
    expect_first(c, t, 0, RAFTMQ_OFFSET_BEGINNING, 0, "BEGINNING");
    expect_first(c, t, 0, 57, 57, "offset 57");
    expect_first(c, t, 0, RAFTMQ_OFFSET_TAIL(13), SEEK_RECORDS - 13, "TAIL(13)");
    int64_t first = -1;
    long n = drain(c, t, 0, SEEK_RECORDS, &first);
    CHECK(n == 12, "TAIL(13): %ld more records to the end, want 12", n);
    CHECK(raftmq_consumer_high_watermark(c, t, 0, &v) == RAFTMQ_OK && v == SEEK_RECORDS,
          "high watermark %" PRId64 ", want %u", v, SEEK_RECORDS);
    expect_first(c, t, 0, RAFTMQ_OFFSET_TAIL(100000), 0, "TAIL(more than there is)");

    /* Timestamps: between two records, exactly on one, before all, after all. */
    int64_t ts_between = ts0 + 77 * SEEK_TS_STEP - 5;
    rc = raftmq_consumer_assign_timestamp(c, t, 0, ts_between);
    CHECK(rc == RAFTMQ_OK, "assign_timestamp: %s", raftmq_consumer_last_error(c));
    if (next_record(c, 10000, &r, &rc)) {
        CHECK(r.timestamp >= ts_between, "timestamp seek: first record's timestamp %" PRId64 " < %" PRId64,
              r.timestamp, ts_between);
        CHECK(r.offset == 77, "timestamp seek: first record at offset %" PRId64 ", want 77", r.offset);
        int64_t at = r.offset;
        expect_first(c, t, 0, at - 1, at - 1, "the record before the timestamp");
        rc = raftmq_consumer_assign(c, t, 0, at - 1);
        if (next_record(c, 10000, &r, &rc))
            CHECK(r.timestamp < ts_between, "the record before the timestamp seek has %" PRId64 " >= %" PRId64,
                  r.timestamp, ts_between);
    } else {
        failf("timestamp seek: no record (%s)", raftmq_consumer_last_error(c));
    }
    rc = raftmq_consumer_assign_timestamp(c, t, 0, ts0 + 120 * SEEK_TS_STEP);
    if (rc == RAFTMQ_OK && next_record(c, 10000, &r, &rc))
        CHECK(r.offset == 120 && r.timestamp == ts0 + 120 * SEEK_TS_STEP,
              "exact timestamp: offset %" PRId64, r.offset);
    else
        failf("exact timestamp: %s", raftmq_consumer_last_error(c));
    rc = raftmq_consumer_assign_timestamp(c, t, 0, 0);
    CHECK(rc == RAFTMQ_OK && raftmq_consumer_position(c, t, 0, &v) == RAFTMQ_OK && v == 0,
          "timestamp 0: position %" PRId64 ", want 0", v);
    rc = raftmq_consumer_assign_timestamp(c, t, 0, ts0 + 100000000);
    CHECK(rc == RAFTMQ_OK && raftmq_consumer_position(c, t, 0, &v) == RAFTMQ_OK && v == SEEK_RECORDS,
          "a timestamp after every record: position %" PRId64 ", want the end %u", v, SEEK_RECORDS);

    /* END: only records produced afterwards. */
    rc = raftmq_consumer_assign(c, t, 0, RAFTMQ_OFFSET_END);
    CHECK(rc == RAFTMQ_OK && raftmq_consumer_position(c, t, 0, &v) == RAFTMQ_OK && v == SEEK_RECORDS,
          "END: position %" PRId64 ", want %u", v, SEEK_RECORDS);
    CHECK(raftmq_consumer_poll(c, 300, &r) == RAFTMQ_ERR_NO_RECORD, "END returned an old record");
    if (produce_range(wc, t, 0, SEEK_RECORDS, 5, ts0) != 0)
        return 1;
    n = drain(c, t, 0, SEEK_RECORDS + 5, &first);
    CHECK(n == 5 && first == SEEK_RECORDS, "END: read %ld records from %" PRId64 ", want 5 from %u", n,
          first, SEEK_RECORDS);

    /* Out of range with RESET_ERROR: reported for the partition, then paused. */
    rc = raftmq_consumer_assign(c, t, 0, 100000);
    CHECK(rc == RAFTMQ_OK, "assign 100000: %s", raftmq_consumer_last_error(c));
    rc = RAFTMQ_ERR_NO_RECORD;
    for (int i = 0; i < 50 && rc == RAFTMQ_ERR_NO_RECORD; i++)
        rc = raftmq_consumer_poll(c, 200, &r);
    CHECK(rc == RAFTMQ_ERR_OFFSET_OUT_OF_RANGE, "offset 100000: poll says %s, want OFFSET_OUT_OF_RANGE",
          raftmq_err_name(rc));
    if (rc == RAFTMQ_ERR_OFFSET_OUT_OF_RANGE) {
        CHECK(r.topic != NULL && strcmp(r.topic, t) == 0 && r.partition == 0,
              "OFFSET_OUT_OF_RANGE names %s/%d", r.topic != NULL ? r.topic : "(null)", r.partition);
        CHECK(strstr(raftmq_consumer_last_error(c), "out of range") != NULL,
              "last_error: '%s'", raftmq_consumer_last_error(c));
    }
    CHECK(raftmq_consumer_poll(c, 300, &r) == RAFTMQ_ERR_NO_RECORD, "the paused partition went on");
    CHECK(raftmq_consumer_unassign(c, t, 0) == RAFTMQ_OK, "unassign");
    CHECK(raftmq_consumer_position(c, t, 0, &v) == RAFTMQ_ERR_NOT_ASSIGNED, "position after unassign");
    raftmq_consumer_close(c);

    /* RESET_EARLIEST continues at the first offset instead. */
    c = open_consumer(o, RAFTMQ_RESET_EARLIEST);
    rc = raftmq_consumer_assign(c, t, 0, 100000);
    if (next_record(c, 10000, &r, &rc))
        CHECK(r.offset == 0, "RESET_EARLIEST: first record %" PRId64 ", want 0", r.offset);
    else
        failf("RESET_EARLIEST: %s: %s", raftmq_err_name(rc), raftmq_consumer_last_error(c));
    raftmq_consumer_close(c);

    /* Every partition at once: each record once, in order per partition, all partitions served. */
    if (partitions > 1) {
        c = open_consumer(o, RAFTMQ_RESET_ERROR);
        int64_t *next = calloc(partitions, sizeof(*next));
        int64_t *end = calloc(partitions, sizeof(*end));
        for (uint32_t p = 0; p < partitions; p++) {
            end[p] = p == 0 ? SEEK_RECORDS + 5 : SEEK_RECORDS;
            raftmq_consumer_assign(c, t, (int32_t)p, RAFTMQ_OFFSET_BEGINNING);
        }
        uint64_t total = 0, want = (uint64_t)SEEK_RECORDS * partitions + 5;
        while (total < want && failures < FAILURES_SHOWN) {
            if (!next_record(c, 10000, &r, &rc)) {
                failf("all partitions: %s after %" PRIu64 " records", raftmq_consumer_last_error(c), total);
                break;
            }
            if (r.partition < 0 || (uint32_t)r.partition >= partitions) {
                failf("all partitions: partition %d", r.partition);
                break;
            }
            CHECK(r.offset == next[r.partition], "all partitions: %d/%" PRId64 " after %" PRId64,
                  r.partition, r.offset, next[r.partition] - 1);
            CHECK(record_index(&r) == (long)r.offset, "all partitions: wrong value at %d/%" PRId64,
                  r.partition, r.offset);
            next[r.partition] = r.offset + 1;
            total++;
        }
        for (uint32_t p = 0; p < partitions; p++)
            CHECK(next[p] == end[p], "all partitions: partition %u read to %" PRId64 ", want %" PRId64, p,
                  next[p], end[p]);
        CHECK(raftmq_consumer_poll(c, 300, &r) == RAFTMQ_ERR_NO_RECORD, "a record after the end");
        free(next);
        free(end);
        raftmq_consumer_close(c);
    }
    wire_client_close(wc);
    if (failures == 0)
        printf("seek: every start position checked on %u partitions\n", partitions);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage_error("no command (roundtrip or seek)");
    struct options o = {.command = argv[1], .timeout_s = 120, .partitions = 1};
    enum { O_RECORDS = 256, O_SEED, O_ACKS, O_PAUSE_AFTER, O_PAUSE_FILE, O_GO_FILE, O_PARTITIONS,
           O_FETCH_BYTES, O_BUFFER_BYTES, O_TIMEOUT, O_LIVE };
    static const struct option longs[] = {
        {"records", required_argument, NULL, O_RECORDS},
        {"seed", required_argument, NULL, O_SEED},
        {"acks", required_argument, NULL, O_ACKS},
        {"pause-after", required_argument, NULL, O_PAUSE_AFTER},
        {"pause-file", required_argument, NULL, O_PAUSE_FILE},
        {"go-file", required_argument, NULL, O_GO_FILE},
        {"partitions", required_argument, NULL, O_PARTITIONS},
        {"fetch-bytes", required_argument, NULL, O_FETCH_BYTES},
        {"buffer-bytes", required_argument, NULL, O_BUFFER_BYTES},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"live", no_argument, NULL, O_LIVE},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "b:t:", longs, NULL)) != -1) {
        switch (ch) {
        case 'b': o.brokers = optarg; break;
        case 't': o.topic = optarg; break;
        case O_RECORDS: o.records = parse_u64("--records", optarg); break;
        case O_SEED: o.seed = parse_u64("--seed", optarg); break;
        case O_ACKS: o.acks_path = optarg; break;
        case O_PAUSE_AFTER: o.pause_after = parse_u64("--pause-after", optarg); break;
        case O_PAUSE_FILE: o.pause_file = optarg; break;
        case O_GO_FILE: o.go_file = optarg; break;
        case O_PARTITIONS: o.partitions = (uint32_t)parse_u64("--partitions", optarg); break;
        case O_FETCH_BYTES: o.fetch_bytes = (uint32_t)parse_u64("--fetch-bytes", optarg); break;
        case O_BUFFER_BYTES: o.buffer_bytes = (uint32_t)parse_u64("--buffer-bytes", optarg); break;
        case O_TIMEOUT: o.timeout_s = (double)parse_u64("--timeout", optarg); break;
        case O_LIVE: o.live = true; break;
        default: usage_error("unknown option");
        }
    }
    if (o.brokers == NULL || o.topic == NULL)
        usage_error("-b and -t are required");
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (strcmp(o.command, "roundtrip") == 0) {
        if (o.acks_path == NULL || o.records == 0)
            usage_error("roundtrip needs --acks and --records");
        if ((o.pause_after > 0 || o.live) && (o.pause_file == NULL || o.go_file == NULL))
            usage_error("--pause-after and --live need --pause-file and --go-file");
        if (o.pause_after > 0 && o.live)
            usage_error("--pause-after and --live do not go together");
        return cmd_roundtrip(&o);
    }
    if (strcmp(o.command, "seek") == 0) {
        if (o.partitions == 0 || o.partitions > 64)
            usage_error("--partitions must be 1..64");
        return cmd_seek(&o);
    }
    usage_error("unknown command");
    return 2;
}
