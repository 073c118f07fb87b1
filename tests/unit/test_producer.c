/*
 * Tests of producers/producer.c that need no broker: configuration checks,
 * the partitioner (key hash, sticky partition for nil keys), the errors of
 * send, the buffer bound (QUEUE_FULL), the delivery timeout, and that close
 * reports every accepted record exactly once, in order. A test hook
 * (producer_internal.h) stands in for the cluster's metadata: the topic
 * "exists" but has no leader, so records stay queued until close or their
 * delivery timeout reports them.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "fake_broker.h"
#include "producers/producer_internal.h"
#include "suites.h"
#include "wire/batch.h"
#include "wire/frame.h"
#include "wire/limits.h"
#include "wire/raftmq.h"

/* Nothing listens here; the tests never need an answer. */
#define NOWHERE "tcp://127.0.0.1:1"
#define REPORTS_MAX 4096

struct report {
    int error;
    int32_t partition;
    int64_t offset;
    uintptr_t opaque;
    uint32_t attempts;
};

static struct report reports[REPORTS_MAX];
static size_t report_count;

static void record_report(const struct raftmq_delivery *d, void *cb_opaque)
{
    ck_assert_ptr_eq(cb_opaque, (void *)reports);
    ck_assert_uint_lt(report_count, REPORTS_MAX);
    ck_assert_ptr_nonnull(d->error_message);
    ck_assert_ptr_nonnull(d->topic);
    reports[report_count++] = (struct report){d->error, d->partition, d->offset,
                                              (uintptr_t)d->opaque, d->attempts};
}

static void config_for_tests(struct raftmq_producer_config *c)
{
    raftmq_producer_config_init(c);
    c->brokers = NOWHERE;
    c->on_delivery = record_report;
    c->cb_opaque = reports;
    report_count = 0;
}

static raftmq_producer *open_producer(const struct raftmq_producer_config *c)
{
    raftmq_producer *p = NULL;
    char err[256];
    ck_assert_int_eq(raftmq_producer_new(c, &p, err, sizeof(err)), RAFTMQ_OK);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(err, "");
    return p;
}

static int send_value(raftmq_producer *p, const char *topic, int32_t partition, const char *key,
                      size_t value_len, uintptr_t opaque)
{
    static char value[WIRE_RECORD_BYTES_MAX + 2];
    memset(value, 'v', value_len < sizeof(value) ? value_len : sizeof(value));
    struct raftmq_message m;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.partition = partition;
    m.key = key;
    m.key_len = key != NULL ? strlen(key) : 0;
    m.value = value;
    m.value_len = value_len;
    m.opaque = (void *)opaque;
    return raftmq_producer_send(p, &m);
}

/* ---- configuration ------------------------------------------------------------------- */

START_TEST(config_defaults_are_documented_values)
{
    struct raftmq_producer_config c;
    memset(&c, 0xab, sizeof(c));
    raftmq_producer_config_init(&c);
    ck_assert_ptr_null(c.brokers);
    ck_assert_uint_eq(c.batch_bytes_max, 128u * 1024u);
    ck_assert_uint_eq(c.linger_ms, 5);
    ck_assert_uint_eq(c.in_flight_per_partition, 5);
    ck_assert_int_eq(c.compression, RAFTMQ_COMPRESSION_LZ4);
    ck_assert(c.idempotence);
    ck_assert_uint_eq(c.request_timeout_ms, 10000);
    ck_assert_uint_eq(c.delivery_timeout_ms, 120000);
    ck_assert_uint_eq(c.buffer_bytes_max, 64ull * 1024 * 1024);
    ck_assert_ptr_null(c.on_delivery);
}
END_TEST

/* Each bad field is refused with INVALID_REQUEST and a message naming it. */
static void expect_bad(const struct raftmq_producer_config *c, const char *field)
{
    raftmq_producer *p = (raftmq_producer *)1;
    char err[256] = "";
    ck_assert_int_eq(raftmq_producer_new(c, &p, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err, field) != NULL, "'%s' does not name %s", err, field);
}

START_TEST(config_errors_name_the_field)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    c.brokers = NULL;
    expect_bad(&c, "brokers");
    c.brokers = " , ";
    expect_bad(&c, "brokers");
    config_for_tests(&c);
    c.batch_bytes_max = 0;
    expect_bad(&c, "batch_bytes_max");
    c.batch_bytes_max = WIRE_BATCH_BYTES_MAX + 1;
    expect_bad(&c, "batch_bytes_max");
    config_for_tests(&c);
    c.in_flight_per_partition = 0;
    expect_bad(&c, "in_flight_per_partition");
    c.in_flight_per_partition = 6;
    expect_bad(&c, "in_flight_per_partition");
    config_for_tests(&c);
    c.compression = (enum raftmq_compression)7;
    expect_bad(&c, "compression");
    config_for_tests(&c);
    c.request_timeout_ms = 0;
    expect_bad(&c, "request_timeout_ms");
    config_for_tests(&c);
    c.delivery_timeout_ms = 0;
    expect_bad(&c, "delivery_timeout_ms");
    config_for_tests(&c);
    c.buffer_bytes_max = c.batch_bytes_max - 1;
    expect_bad(&c, "buffer_bytes_max");
    config_for_tests(&c);
    c.linger_ms = 3600u * 1000u;
    expect_bad(&c, "linger_ms");
    /* NULL config and NULL out, with or without an error buffer. */
    raftmq_producer *p = NULL;
    ck_assert_int_eq(raftmq_producer_new(NULL, &p, NULL, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_producer_new(&c, NULL, NULL, 0), RAFTMQ_ERR_INVALID_REQUEST);
    /* And the boundaries that are allowed. */
    config_for_tests(&c);
    c.batch_bytes_max = WIRE_BATCH_BYTES_MAX;
    c.buffer_bytes_max = WIRE_BATCH_BYTES_MAX;
    c.in_flight_per_partition = 1;
    c.linger_ms = 0;
    c.compression = RAFTMQ_COMPRESSION_NONE;
    raftmq_producer_close(open_producer(&c));
}
END_TEST

START_TEST(null_handles_are_harmless)
{
    raftmq_producer_close(NULL);
    ck_assert_uint_eq(raftmq_producer_pending(NULL), 0);
    ck_assert_str_eq(raftmq_producer_last_error(NULL), "");
    ck_assert_int_eq(raftmq_producer_send(NULL, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_lt(raftmq_producer_poll(NULL, 0), 0);
    ck_assert_int_eq(raftmq_producer_flush(NULL, 0), RAFTMQ_ERR_INVALID_REQUEST);
}
END_TEST

START_TEST(an_idle_producer_flushes_and_closes_at_once)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    raftmq_producer *p = open_producer(&c);
    ck_assert_int_eq(raftmq_producer_poll(p, 0), 0);
    ck_assert_int_eq(raftmq_producer_flush(p, 0), RAFTMQ_OK);
    ck_assert_uint_eq(raftmq_producer_pending(p), 0);
    ck_assert_str_eq(raftmq_producer_last_error(p), "");
    raftmq_producer_close(p);
    ck_assert_uint_eq(report_count, 0);
}
END_TEST

/* ---- send errors ---------------------------------------------------------------------- */

START_TEST(send_refuses_bad_arguments_without_a_report)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    raftmq_producer *p = open_producer(&c);
    ck_assert_int_eq(raftmq_producer_test_add_topic(p, "t", 3), RAFTMQ_OK);
    struct raftmq_message m;
    memset(&m, 0, sizeof(m));
    ck_assert_int_eq(raftmq_producer_send(p, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_ERR_INVALID_REQUEST); /* no topic */
    ck_assert_ptr_nonnull(strstr(raftmq_producer_last_error(p), "topic"));
    ck_assert_int_eq(send_value(p, "bad name", RAFTMQ_PARTITION_ANY, NULL, 1, 0),
                     RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_producer_last_error(p), "bad name"));
    ck_assert_int_eq(send_value(p, "", RAFTMQ_PARTITION_ANY, NULL, 1, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(send_value(p, "t", -2, NULL, 1, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(send_value(p, "t", 3, NULL, 1, 0), RAFTMQ_ERR_UNKNOWN_PARTITION);
    /* A value of NULL with a length, a key of NULL with a length. */
    m.topic = "t";
    m.partition = RAFTMQ_PARTITION_ANY;
    m.value_len = 3;
    ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_ERR_INVALID_REQUEST);
    m.value_len = 0;
    m.key_len = 2;
    ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_ERR_INVALID_REQUEST);
    m.key_len = 0;
    m.timestamp = -1;
    ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_uint_eq(raftmq_producer_pending(p), 0);
    raftmq_producer_close(p);
    ck_assert_uint_eq(report_count, 0);
}
END_TEST

START_TEST(send_refuses_records_over_the_limits)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    raftmq_producer *p = open_producer(&c);
    ck_assert_int_eq(raftmq_producer_test_add_topic(p, "t", 1), RAFTMQ_OK);
    ck_assert_int_eq(send_value(p, "t", 0, NULL, WIRE_RECORD_BYTES_MAX + 1, 0),
                     RAFTMQ_ERR_RECORD_TOO_LARGE);
    /* The value alone fits, its framing does not. */
    ck_assert_int_eq(send_value(p, "t", 0, NULL, WIRE_RECORD_BYTES_MAX, 0),
                     RAFTMQ_ERR_RECORD_TOO_LARGE);
    static char key[WIRE_KEY_BYTES_MAX + 2];
    memset(key, 'k', WIRE_KEY_BYTES_MAX + 1);
    ck_assert_int_eq(send_value(p, "t", 0, key, 1, 0), RAFTMQ_ERR_RECORD_TOO_LARGE);
    /* 65 headers; a header name of 256 bytes. */
    struct raftmq_header headers[WIRE_HEADERS_MAX + 1];
    for (size_t i = 0; i < WIRE_HEADERS_MAX + 1; i++)
        headers[i] = (struct raftmq_header){"h", "v", 1};
    struct raftmq_message m;
    memset(&m, 0, sizeof(m));
    m.topic = "t";
    m.headers = headers;
    m.header_count = WIRE_HEADERS_MAX + 1;
    ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_ERR_LIMIT_EXCEEDED);
    char long_name[WIRE_HEADER_NAME_BYTES_MAX + 2];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    headers[0].name = long_name;
    m.header_count = 1;
    ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_ERR_RECORD_TOO_LARGE);
    ck_assert_uint_eq(raftmq_producer_pending(p), 0);
    /* The largest value that fits a batch of its own is accepted (above batch_bytes_max). */
    ck_assert_int_eq(send_value(p, "t", 0, NULL, WIRE_RECORD_BYTES_MAX - 64, 7), RAFTMQ_OK);
    ck_assert_uint_eq(raftmq_producer_pending(p), 1);
    raftmq_producer_close(p);
    ck_assert_uint_eq(report_count, 1);
    ck_assert_int_eq(reports[0].error, RAFTMQ_ERR_CLOSED);
    ck_assert_uint_eq(reports[0].opaque, 7);
    ck_assert_int_eq(reports[0].offset, -1);
}
END_TEST

/* ---- partitioner -------------------------------------------------------------------- */

START_TEST(key_hash_is_fnv1a_32)
{
    ck_assert_uint_eq(raftmq_key_hash("", 0), 0x811c9dc5u);
    ck_assert_uint_eq(raftmq_key_hash("a", 1), 0xe40c292cu);
    ck_assert_uint_eq(raftmq_key_hash("foobar", 6), 0xbf9cf968u);
}
END_TEST

START_TEST(keyed_records_go_to_hash_mod_partitions)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    raftmq_producer *p = open_producer(&c);
    ck_assert_int_eq(raftmq_producer_test_add_topic(p, "keyed", 7), RAFTMQ_OK);
    char key[32];
    for (uintptr_t i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "user-%u", (unsigned)(i % 31));
        ck_assert_int_eq(send_value(p, "keyed", RAFTMQ_PARTITION_ANY, key, 10, i), RAFTMQ_OK);
    }
    /* An explicit partition wins over the key. */
    ck_assert_int_eq(send_value(p, "keyed", 6, "user-0", 10, 1000), RAFTMQ_OK);
    ck_assert_uint_eq(raftmq_producer_pending(p), 201);
    raftmq_producer_close(p);
    ck_assert_uint_eq(report_count, 201);
    bool seen[201] = {false};
    for (size_t r = 0; r < report_count; r++) {
        uintptr_t i = reports[r].opaque;
        ck_assert_int_eq(reports[r].error, RAFTMQ_ERR_CLOSED);
        if (i == 1000) {
            ck_assert_int_eq(reports[r].partition, 6);
            continue;
        }
        ck_assert_uint_lt(i, 200);
        ck_assert(!seen[i]);
        seen[i] = true;
        snprintf(key, sizeof(key), "user-%u", (unsigned)(i % 31));
        ck_assert_int_eq(reports[r].partition, (int32_t)(raftmq_key_hash(key, strlen(key)) % 7));
    }
}
END_TEST

/* Reports of one partition come in send order (close reports partition by partition). */
static void assert_in_order_per_partition(uint32_t partitions)
{
    for (uint32_t k = 0; k < partitions; k++) {
        bool any = false;
        uintptr_t last = 0;
        for (size_t r = 0; r < report_count; r++) {
            if (reports[r].partition != (int32_t)k)
                continue;
            if (any)
                ck_assert_uint_gt(reports[r].opaque, last);
            any = true;
            last = reports[r].opaque;
        }
    }
}

START_TEST(nil_keys_stick_to_a_partition_until_its_batch_is_sealed)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    c.batch_bytes_max = 1024;
    c.linger_ms = 60000; /* only a full batch is sealed */
    raftmq_producer *p = open_producer(&c);
    ck_assert_int_eq(raftmq_producer_test_add_topic(p, "sticky", 3), RAFTMQ_OK);
    for (uintptr_t i = 0; i < 60; i++)
        ck_assert_int_eq(send_value(p, "sticky", RAFTMQ_PARTITION_ANY, NULL, 100, i), RAFTMQ_OK);
    raftmq_producer_close(p);
    ck_assert_uint_eq(report_count, 60);
    /* Runs of about 1024 / ~110 bytes per record: the partition changes only between runs. */
    int32_t partition_of[60];
    for (size_t r = 0; r < report_count; r++)
        partition_of[reports[r].opaque] = reports[r].partition;
    ck_assert_int_eq(partition_of[0], 0);
    uint32_t runs = 1, run_length = 1, longest = 1;
    for (size_t i = 1; i < 60; i++) {
        if (partition_of[i] != partition_of[i - 1]) {
            ck_assert_int_eq(partition_of[i], (partition_of[i - 1] + 1) % 3); /* round robin */
            ck_assert_uint_ge(run_length, 8); /* the batch was full, not cut short */
            runs++;
            run_length = 0;
        }
        run_length++;
        if (run_length > longest)
            longest = run_length;
    }
    ck_assert_uint_ge(runs, 5);
    ck_assert_uint_le(longest, 10);
    assert_in_order_per_partition(3);
}
END_TEST

/* ---- the buffer bound and reports ----------------------------------------------------- */

START_TEST(queue_full_bounds_the_buffer_and_every_record_gets_one_report)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    c.batch_bytes_max = 1024;
    c.buffer_bytes_max = 4096;
    raftmq_producer *p = open_producer(&c);
    ck_assert_int_eq(raftmq_producer_test_add_topic(p, "q", 2), RAFTMQ_OK);
    uintptr_t accepted = 0;
    int rc;
    while ((rc = send_value(p, "q", RAFTMQ_PARTITION_ANY, "k", 99, accepted)) == RAFTMQ_OK)
        accepted++;
    ck_assert_int_eq(rc, RAFTMQ_ERR_QUEUE_FULL);
    ck_assert_ptr_nonnull(strstr(raftmq_producer_last_error(p), "buffer_bytes_max"));
    /* 100 bytes (key and value) a record: 40 fit 4096, the 41st does not. */
    ck_assert_uint_eq(accepted, 40);
    ck_assert_uint_eq(raftmq_producer_pending(p), accepted);
    /* Refused again, and nothing changed. */
    ck_assert_int_eq(send_value(p, "q", RAFTMQ_PARTITION_ANY, "k", 99, 999), RAFTMQ_ERR_QUEUE_FULL);
    ck_assert_uint_eq(raftmq_producer_pending(p), accepted);
    raftmq_producer_close(p);
    ck_assert_uint_eq(report_count, accepted);
    for (size_t r = 0; r < report_count; r++) {
        ck_assert_int_eq(reports[r].error, RAFTMQ_ERR_CLOSED);
        ck_assert_uint_eq(reports[r].opaque, r); /* one key: one partition, send order */
        ck_assert_int_eq(reports[r].partition, (int32_t)(raftmq_key_hash("k", 1) % 2));
    }
}
END_TEST

START_TEST(delivery_timeout_fails_records_in_order)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    c.delivery_timeout_ms = 30;
    c.request_timeout_ms = 20;
    c.linger_ms = 0;
    raftmq_producer *p = open_producer(&c);
    ck_assert_int_eq(raftmq_producer_test_add_topic(p, "slow", 2), RAFTMQ_OK);
    for (uintptr_t i = 0; i < 20; i++)
        ck_assert_int_eq(send_value(p, "slow", (int32_t)(i % 2), NULL, 10, i), RAFTMQ_OK);
    /* Polls until every record is reported (the brokers do not exist: no leader, ever). */
    for (int round = 0; round < 500 && raftmq_producer_pending(p) > 0; round++)
        ck_assert_int_ge(raftmq_producer_poll(p, 20), 0);
    ck_assert_uint_eq(raftmq_producer_pending(p), 0);
    ck_assert_uint_eq(report_count, 20);
    for (size_t r = 0; r < report_count; r++) {
        ck_assert_int_eq(reports[r].error, RAFTMQ_ERR_TIMEOUT);
        ck_assert_int_eq(reports[r].offset, -1);
        ck_assert_int_eq(reports[r].partition, (int32_t)(reports[r].opaque % 2));
        ck_assert_uint_eq(reports[r].attempts, 0); /* no leader: never sent */
    }
    assert_in_order_per_partition(2);
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(p, &s);
    ck_assert_uint_eq(s.records_failed, 20);
    ck_assert_uint_eq(s.records_acked, 0);
    raftmq_producer_close(p);
    ck_assert_uint_eq(report_count, 20); /* nothing reported twice */
}
END_TEST


/* ---- a fake broker with a producer table ------------------------------------------------ */

#define FAKE_LOG_MAX 4096u
#define FAKE_KEPT 5u

struct fake_batch {
    int64_t pid;
    int32_t seq;
    uint32_t count;
    uint64_t base_offset;
};

struct fake {
    struct fake_broker fb;
    /* script: 1-based PRODUCE request numbers, 0 for never */
    uint32_t unknown_producer_at;
    uint32_t not_leader_at;
    bool forget_on_retry; /* a retry of an appended batch finds the producer forgotten */
    /* state */
    int64_t next_pid;
    int64_t known_pid; /* the one producer the table knows; -1 none */
    int32_t expected;
    struct fake_batch kept[FAKE_KEPT]; /* newest last */
    uint32_t kept_count;
    uint32_t log[FAKE_LOG_MAX]; /* record values, by offset */
    uint32_t log_len;
    /* counters */
    uint32_t produce_requests, init_requests, duplicates_answered, unknown_answered, ooo_answered;
};

static struct wire_bytes bytes_of(const char *s)
{
    return (struct wire_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static void fake_append(struct fake *f, const struct wire_batch_header *h, struct wire_frame *resp)
{
    static uint8_t scratch[WIRE_BATCH_RECORDS_BYTES_MAX];
    struct wire_record_iter it;
    const char *why;
    uint64_t base = f->log_len;
    ck_assert_int_eq(wire_record_iter_init(&it, h, scratch, sizeof(scratch), &why), WIRE_OK);
    while (wire_record_iter_has_next(&it)) {
        struct wire_record rec;
        ck_assert_int_eq(wire_record_iter_next(&it, &rec, &why), WIRE_OK);
        char text[16] = "";
        memcpy(text, rec.value.ptr, rec.value.len < 15 ? rec.value.len : 15);
        ck_assert_uint_lt(f->log_len, FAKE_LOG_MAX);
        f->log[f->log_len++] = (uint32_t)strtoul(text, NULL, 10);
    }
    if (f->kept_count == FAKE_KEPT) {
        memmove(&f->kept[0], &f->kept[1], (FAKE_KEPT - 1) * sizeof(f->kept[0]));
        f->kept_count--;
    }
    f->kept[f->kept_count++] = (struct fake_batch){h->producer_id, h->base_sequence,
                                                   h->record_count, base};
    f->known_pid = h->producer_id;
    f->expected = (int32_t)(((uint32_t)h->base_sequence + h->record_count) & INT32_MAX);
    resp->body.produce_resp.base_offset = base;
    resp->body.produce_resp.last_offset = f->log_len - 1;
}

static void fake_produce(struct fake *f, const struct wire_frame *req, struct wire_frame *resp)
{
    uint32_t n = ++f->produce_requests;
    if (n == f->not_leader_at) {
        wire_frame_init_response(resp, req, WIRE_ERR_NOT_LEADER, "fake: try me again");
        resp->body.not_leader_detail.leader_id = 1;
        resp->body.not_leader_detail.leader_address = bytes_of(f->fb.endpoint);
        return;
    }
    if (n == f->unknown_producer_at) {
        /* The table forgets every producer (as after a long pause). */
        f->known_pid = -1;
        f->kept_count = 0;
        f->unknown_answered++;
        wire_frame_init_response(resp, req, WIRE_ERR_UNKNOWN_PRODUCER, "fake: forgotten");
        return;
    }
    ck_assert_uint_eq(req->body.produce_req.batches.count, 1);
    struct wire_batch_header h;
    const char *why;
    const struct wire_bytes *b = &req->body.produce_req.batches.items[0];
    ck_assert_int_eq(wire_batch_validate(b->ptr, b->len, &h, &why), WIRE_OK);
    ck_assert_int_ge(h.producer_id, 1);
    wire_frame_init_response(resp, req, WIRE_OK, NULL);
    if (h.producer_id != f->known_pid) {
        if (h.base_sequence != 0) {
            f->unknown_answered++;
            wire_frame_init_response(resp, req, WIRE_ERR_UNKNOWN_PRODUCER, "fake: who?");
            return;
        }
        f->kept_count = 0;
        fake_append(f, &h, resp);
        return;
    }
    if (h.base_sequence == f->expected) {
        fake_append(f, &h, resp);
        return;
    }
    for (uint32_t i = 0; i < f->kept_count; i++) {
        const struct fake_batch *k = &f->kept[i];
        if (k->seq == h.base_sequence && k->count == h.record_count && f->forget_on_retry) {
            f->forget_on_retry = false;
            f->known_pid = -1;
            f->kept_count = 0;
            f->unknown_answered++;
            wire_frame_init_response(resp, req, WIRE_ERR_UNKNOWN_PRODUCER, "fake: forgotten");
            return;
        }
        if (k->seq == h.base_sequence && k->count == h.record_count) {
            f->duplicates_answered++;
            resp->body.produce_resp.base_offset = k->base_offset;
            resp->body.produce_resp.last_offset = k->base_offset + k->count - 1;
            return;
        }
    }
    if (h.base_sequence > f->expected) {
        f->ooo_answered++;
        wire_frame_init_response(resp, req, WIRE_ERR_OUT_OF_ORDER_SEQUENCE, "fake: gap");
        return;
    }
    wire_frame_init_response(resp, req, WIRE_ERR_DUPLICATE_SEQUENCE, "fake: too old");
}

static void fake_answer(void *user, const struct wire_frame *req, struct wire_writer *w)
{
    struct fake *f = user;
    struct wire_frame resp;
    switch (req->type) {
    case WIRE_METADATA:
        fake_broker_answer_metadata(&f->fb, req, "f", w);
        return;
    case WIRE_INIT_PRODUCER_ID:
        f->init_requests++;
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.init_producer_id_resp.producer_id = f->next_pid++;
        resp.body.init_producer_id_resp.producer_epoch = 0;
        break;
    case WIRE_PRODUCE:
        fake_produce(f, req, &resp);
        break;
    default:
        wire_frame_init_response(&resp, req, WIRE_ERR_INVALID_REQUEST, "fake broker");
        break;
    }
    ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
}

static void fake_start(struct fake *f)
{
    f->next_pid = 100;
    f->known_pid = -1;
    fake_broker_start(&f->fb, fake_answer, f);
}

static void fake_stop(struct fake *f)
{
    fake_broker_stop(&f->fb);
}

/* Sends `count` records ("0", "1", ...) to the fake's topic and flushes; every report must be OK. */
static raftmq_producer *produce_to_fake(struct fake *f, uint32_t count, uint32_t drop_at_record)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    c.brokers = f->fb.endpoint;
    c.batch_bytes_max = 1024; /* about 60 small records a batch: several batches in flight */
    c.linger_ms = 1;
    c.request_timeout_ms = 2000;
    raftmq_producer *p = open_producer(&c);
    for (uint32_t i = 0; i < count; i++) {
        char value[16];
        int len = snprintf(value, sizeof(value), "%u", i);
        struct raftmq_message m;
        memset(&m, 0, sizeof(m));
        m.topic = "f";
        m.partition = RAFTMQ_PARTITION_ANY;
        m.value = value;
        m.value_len = (size_t)len;
        m.opaque = (void *)(uintptr_t)i;
        if (i == drop_at_record)
            raftmq_producer_test_drop_responses(p, 1);
        ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_OK);
    }
    ck_assert_int_eq(raftmq_producer_flush(p, 20000), RAFTMQ_OK);
    ck_assert_uint_eq(report_count, count);
    for (size_t r = 0; r < report_count; r++) {
        ck_assert_msg(reports[r].error == RAFTMQ_OK, "record %zu: %s", r,
                      raftmq_err_name(reports[r].error));
        ck_assert_uint_eq(reports[r].opaque, r); /* one partition: reports in send order */
        ck_assert_int_eq(reports[r].offset, (int64_t)r);
    }
    return p;
}

/* The fake's log holds records 0..count-1, each once, in order. */
static void assert_log_exactly_once(const struct fake *f, uint32_t count)
{
    ck_assert_uint_eq(f->log_len, count);
    for (uint32_t i = 0; i < count; i++)
        ck_assert_uint_eq(f->log[i], i);
}

START_TEST(unknown_producer_gets_a_new_id_and_renumbers_from_zero)
{
    static struct fake f;
    memset(&f, 0, sizeof(f));
    f.unknown_producer_at = 3;
    fake_start(&f);
    raftmq_producer *p = produce_to_fake(&f, 600, UINT32_MAX);
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(p, &s);
    ck_assert_int_eq(raftmq_producer_test_producer_id(p), 101);
    raftmq_producer_close(p);
    fake_stop(&f);
    ck_assert_uint_eq(s.producer_id_resets, 1);
    ck_assert_uint_eq(f.init_requests, 2);
    ck_assert_uint_ge(f.unknown_answered, 1);
    assert_log_exactly_once(&f, 600);
}
END_TEST

/*
 * A batch is appended but its answer is lost (outcome unknown); then the
 * partition forgets the producer. The retry gets UNKNOWN_PRODUCER, and
 * under a new id the broker could not recognise it: the batch must be
 * reported TIMEOUT (outcome unknown), never resent, so no record is stored
 * twice. The other records are delivered once, in order.
 */
START_TEST(a_forgotten_producer_never_resends_an_unknown_outcome)
{
    static struct fake f;
    memset(&f, 0, sizeof(f));
    f.forget_on_retry = true;
    fake_start(&f);
    struct raftmq_producer_config c;
    config_for_tests(&c);
    c.brokers = f.fb.endpoint;
    c.batch_bytes_max = 1024;
    c.linger_ms = 1;
    c.request_timeout_ms = 2000;
    raftmq_producer *p = open_producer(&c);
    for (uint32_t i = 0; i < 600; i++) {
        char value[16];
        int len = snprintf(value, sizeof(value), "%u", i);
        struct raftmq_message m;
        memset(&m, 0, sizeof(m));
        m.topic = "f";
        m.partition = RAFTMQ_PARTITION_ANY;
        m.value = value;
        m.value_len = (size_t)len;
        m.opaque = (void *)(uintptr_t)i;
        if (i == 100) {
            /* Records 0..99 settled first, so the lost answer is a batch after sequence 0. */
            ck_assert_int_eq(raftmq_producer_flush(p, 20000), RAFTMQ_OK);
            raftmq_producer_test_drop_responses(p, 1);
        }
        ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_OK);
    }
    ck_assert_int_eq(raftmq_producer_flush(p, 20000), RAFTMQ_OK);
    raftmq_producer_close(p);
    fake_stop(&f);
    ck_assert_uint_eq(report_count, 600);
    uint32_t timed_out = 0;
    bool delivered[600] = {false};
    for (size_t r = 0; r < report_count; r++) {
        if (reports[r].error == RAFTMQ_ERR_TIMEOUT) {
            timed_out++;
            continue;
        }
        ck_assert_msg(reports[r].error == RAFTMQ_OK, "record %zu: %s", r,
                      raftmq_err_name(reports[r].error));
        ck_assert_int_ge(reports[r].offset, 0);
        ck_assert_int_lt(reports[r].offset, (int64_t)f.log_len);
        /* Delivered at the offset that holds it. */
        ck_assert_uint_eq(f.log[reports[r].offset], (uint32_t)(uintptr_t)reports[r].opaque);
        delivered[(uintptr_t)reports[r].opaque] = true;
    }
    ck_assert_uint_gt(timed_out, 0);
    ck_assert(!delivered[100]);
    /* Nothing stored twice: the forgotten batch is in the log once, from its first attempt. */
    assert_log_exactly_once(&f, 600);
}
END_TEST

START_TEST(dropped_answers_and_not_leader_neither_duplicate_nor_reorder)
{
    static struct fake f;
    memset(&f, 0, sizeof(f));
    f.not_leader_at = 5;
    fake_start(&f);
    /* The answer to the batch holding record 100 (or a later one) is lost: it is resent. */
    raftmq_producer *p = produce_to_fake(&f, 600, 100);
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(p, &s);
    raftmq_producer_close(p);
    fake_stop(&f);
    ck_assert_uint_ge(s.retries, 2);
    ck_assert_uint_eq(s.producer_id_resets, 0);
    ck_assert_uint_eq(f.init_requests, 1);
    ck_assert_uint_ge(f.duplicates_answered, 1); /* the dropped batch came back as a duplicate */
    assert_log_exactly_once(&f, 600);
    /* Each report counts the requests that carried its record: the resent
     * batches (the dropped answer, NOT_LEADER) more than once. */
    uint32_t resent = 0;
    for (size_t r = 0; r < report_count; r++) {
        ck_assert_uint_ge(reports[r].attempts, 1);
        resent += reports[r].attempts > 1;
    }
    ck_assert_uint_ge(resent, 2);
}
END_TEST

/* ---- a stalled leader: two fake brokers --------------------------------------------------- */

/*
 * Nodes 1 (A) and 2 (B), each a fake broker with its own producer table and
 * log, sharing one view of the cluster: who leads partition 0 of "f" (the
 * leader's id is also its term, so B's leadership is the newer one). A
 * freezes on its first PRODUCE for stall_ms (its thread sleeps: it answers
 * nothing, METADATA included, as a SIGSTOPped broker), and then answers
 * everything it holds, OK included. With move_on_stall, B becomes leader
 * the moment A freezes (the other replicas elect it).
 */
struct stall_cluster {
    struct fake node[2];
    uint32_t stall_ms;
    bool move_on_stall;
    bool plain; /* the producer is not idempotent: every batch is appended */
    /* shared between the fakes' threads and the test: __atomic */
    uint32_t leader;
    uint32_t metadata_requests;
    uint32_t woke; /* A's freeze is over */
    uint32_t late_answers; /* PRODUCE answers A gave (all after its freeze) */
    /* A's thread only */
    bool frozen_once;
};

struct stall_node {
    struct stall_cluster *cl;
    uint32_t which; /* 0: A, 1: B */
};

static void stall_answer_metadata(struct stall_cluster *cl, const struct wire_frame *req,
                                  struct wire_writer *w)
{
    uint32_t leader = __atomic_load_n(&cl->leader, __ATOMIC_SEQ_CST);
    uint32_t replicas[2] = {1, 2};
    struct wire_broker brokers[2];
    for (uint32_t i = 0; i < 2; i++) {
        brokers[i].node_id = i + 1;
        brokers[i].client_address = bytes_of(cl->node[i].fb.endpoint);
    }
    struct wire_partition_meta part = {.partition = 0, .leader_id = leader, .leader_term = leader,
                                       .replicas = {2, replicas}};
    struct wire_topic_meta meta = {.name = bytes_of("f"), .partitions = {1, &part}};
    struct wire_frame resp;
    wire_frame_init_response(&resp, req, WIRE_OK, NULL);
    resp.body.metadata_resp.controller_id = leader;
    resp.body.metadata_resp.brokers.count = 2;
    resp.body.metadata_resp.brokers.items = brokers;
    resp.body.metadata_resp.topics.count = 1;
    resp.body.metadata_resp.topics.items = &meta;
    ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
}

static void stall_answer(void *user, const struct wire_frame *req, struct wire_writer *w)
{
    struct stall_node *n = user;
    struct stall_cluster *cl = n->cl;
    struct fake *f = &cl->node[n->which];
    struct wire_frame resp;
    switch (req->type) {
    case WIRE_METADATA:
        __atomic_add_fetch(&cl->metadata_requests, 1, __ATOMIC_SEQ_CST);
        stall_answer_metadata(cl, req, w);
        return;
    case WIRE_INIT_PRODUCER_ID:
        f->init_requests++;
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.init_producer_id_resp.producer_id = 100;
        resp.body.init_producer_id_resp.producer_epoch = 0;
        break;
    case WIRE_PRODUCE:
        if (n->which == 0 && !cl->frozen_once) {
            cl->frozen_once = true;
            if (cl->move_on_stall)
                __atomic_store_n(&cl->leader, 2, __ATOMIC_SEQ_CST);
            usleep(cl->stall_ms * 1000u);
            __atomic_store_n(&cl->woke, 1, __ATOMIC_SEQ_CST);
        }
        if (cl->plain) {
            struct wire_batch_header h;
            const char *why;
            const struct wire_bytes *b = &req->body.produce_req.batches.items[0];
            ck_assert_int_eq(wire_batch_validate(b->ptr, b->len, &h, &why), WIRE_OK);
            ck_assert_int_lt(h.producer_id, 1);
            wire_frame_init_response(&resp, req, WIRE_OK, NULL);
            fake_append(f, &h, &resp);
        } else {
            fake_produce(f, req, &resp);
        }
        ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
        if (n->which == 0)
            __atomic_add_fetch(&cl->late_answers, 1, __ATOMIC_SEQ_CST);
        return;
    default:
        wire_frame_init_response(&resp, req, WIRE_ERR_INVALID_REQUEST, "fake broker");
        break;
    }
    ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
}

static void stall_start(struct stall_cluster *cl, struct stall_node nodes[2], uint32_t stall_ms,
                        bool move_on_stall, bool plain)
{
    memset(cl, 0, sizeof(*cl));
    cl->stall_ms = stall_ms;
    cl->move_on_stall = move_on_stall;
    cl->plain = plain;
    cl->leader = 1;
    for (uint32_t i = 0; i < 2; i++) {
        cl->node[i].known_pid = -1;
        nodes[i] = (struct stall_node){cl, i};
        fake_broker_start(&cl->node[i].fb, stall_answer, &nodes[i]);
    }
}

static void stall_stop(struct stall_cluster *cl)
{
    for (uint32_t i = 0; i < 2; i++)
        fake_broker_stop(&cl->node[i].fb);
}

/*
 * A producer that could wait a minute for any answer: only leaving the
 * stalled leader makes its records reach B.
 */
static raftmq_producer *open_patient_producer(const struct stall_cluster *cl)
{
    struct raftmq_producer_config c;
    config_for_tests(&c);
    c.idempotence = !cl->plain;
    c.brokers = cl->node[0].fb.endpoint;
    c.batch_bytes_max = 1024; /* several batches in flight */
    c.linger_ms = 1;
    c.request_timeout_ms = 60000;
    c.delivery_timeout_ms = 120000;
    return open_producer(&c);
}

/* Sends records first..first+count-1 (values "first", ...) to "f" and flushes. */
static void send_range_and_flush(raftmq_producer *p, uint32_t first, uint32_t count)
{
    for (uint32_t i = first; i < first + count; i++) {
        char value[16];
        int len = snprintf(value, sizeof(value), "%u", i);
        struct raftmq_message m;
        memset(&m, 0, sizeof(m));
        m.topic = "f";
        m.partition = 0;
        m.value = value;
        m.value_len = (size_t)len;
        m.opaque = (void *)(uintptr_t)i;
        ck_assert_int_eq(raftmq_producer_send(p, &m), RAFTMQ_OK);
    }
    ck_assert_int_eq(raftmq_producer_flush(p, 90000), RAFTMQ_OK);
}

/* Every report so far is OK, once, in send order, at the offset `f`'s log holds it at. */
static void assert_reports_match_log(const struct fake *f, uint32_t count)
{
    ck_assert_uint_eq(report_count, count);
    for (size_t r = 0; r < report_count; r++) {
        ck_assert_msg(reports[r].error == RAFTMQ_OK, "record %zu: %s", r,
                      raftmq_err_name(reports[r].error));
        ck_assert_uint_eq(reports[r].opaque, r);
        ck_assert_int_eq(reports[r].offset, (int64_t)r);
    }
    assert_log_exactly_once(f, count);
}

START_TEST(a_stalled_leader_is_left_for_the_new_one)
{
    static struct stall_cluster cl;
    struct stall_node nodes[2];
    /* A freezes far longer than the producer needs to notice (1 s) and find B. */
    stall_start(&cl, nodes, 8000, true, false);
    raftmq_producer *p = open_patient_producer(&cl);
    send_range_and_flush(p, 0, 300);
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(p, &s);
    /* Everything reached B; A's stalled requests were abandoned and resent there. */
    assert_reports_match_log(&cl.node[1], 300);
    ck_assert_uint_ge(s.requests_abandoned, 1);
    ck_assert_uint_ge(s.retries, s.requests_abandoned);
    /* The records of the abandoned requests say they were sent more than once. */
    ck_assert_uint_gt(reports[0].attempts, 1);
    ck_assert_msg(!__atomic_load_n(&cl.woke, __ATOMIC_SEQ_CST),
                  "everything waited for A to wake up");

    /* A wakes and answers what it held (OK, from its own log): the producer
     * must drop those answers while it sends more. */
    for (int i = 0; i < 2000 && __atomic_load_n(&cl.late_answers, __ATOMIC_SEQ_CST) == 0; i++)
        usleep(10000);
    ck_assert_uint_ge(__atomic_load_n(&cl.late_answers, __ATOMIC_SEQ_CST), 1);
    usleep(200000); /* A's answers are on their way */
    send_range_and_flush(p, 300, 100);
    assert_reports_match_log(&cl.node[1], 400);
    struct raftmq_producer_stats after;
    raftmq_producer_get_stats(p, &after);
    ck_assert_uint_eq(after.requests_abandoned, s.requests_abandoned);
    ck_assert_uint_eq(after.records_acked, 400);
    ck_assert_uint_eq(after.records_failed, 0);
    raftmq_producer_close(p);
    stall_stop(&cl);
    ck_assert_uint_eq(report_count, 400);
}
END_TEST

/* Without idempotence one request is in flight: it is abandoned and resent once. */
START_TEST(a_stalled_leader_is_left_without_idempotence_too)
{
    static struct stall_cluster cl;
    struct stall_node nodes[2];
    stall_start(&cl, nodes, 8000, true, true);
    raftmq_producer *p = open_patient_producer(&cl);
    send_range_and_flush(p, 0, 300);
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(p, &s);
    assert_reports_match_log(&cl.node[1], 300);
    ck_assert_uint_eq(s.requests_abandoned, 1);
    ck_assert_uint_eq(s.retries, 1);
    ck_assert_uint_eq(reports[0].attempts, 2);
    ck_assert_uint_eq(reports[report_count - 1].attempts, 1);
    /* A's late OK for the first batch changes nothing. */
    for (int i = 0; i < 2000 && __atomic_load_n(&cl.late_answers, __ATOMIC_SEQ_CST) == 0; i++)
        usleep(10000);
    ck_assert_uint_ge(__atomic_load_n(&cl.late_answers, __ATOMIC_SEQ_CST), 1);
    usleep(200000);
    send_range_and_flush(p, 300, 50);
    assert_reports_match_log(&cl.node[1], 350);
    raftmq_producer_close(p);
    stall_stop(&cl);
}
END_TEST

START_TEST(a_slow_leader_that_still_leads_is_waited_for)
{
    static struct stall_cluster cl;
    struct stall_node nodes[2];
    stall_start(&cl, nodes, 3000, false, false);
    raftmq_producer *p = open_patient_producer(&cl);
    send_range_and_flush(p, 0, 300);
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(p, &s);
    assert_reports_match_log(&cl.node[0], 300);
    ck_assert_uint_eq(cl.node[1].log_len, 0);
    ck_assert_uint_eq(cl.node[1].produce_requests, 0);
    ck_assert_uint_eq(s.requests_abandoned, 0);
    ck_assert_uint_eq(s.retries, 0);
    for (size_t r = 0; r < report_count; r++)
        ck_assert_uint_eq(reports[r].attempts, 1);
    /* The stall was looked at: a metadata request beyond the first lookup
     * (A takes the ones sent to it once it wakes). */
    for (int i = 0; i < 1000 && __atomic_load_n(&cl.metadata_requests, __ATOMIC_SEQ_CST) < 2; i++)
        usleep(10000);
    ck_assert_uint_ge(__atomic_load_n(&cl.metadata_requests, __ATOMIC_SEQ_CST), 2);
    raftmq_producer_close(p);
    stall_stop(&cl);
}
END_TEST

Suite *producer_suite(void)
{
    Suite *s = suite_create("producer");
    TCase *tc = tcase_create("offline");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, config_defaults_are_documented_values);
    tcase_add_test(tc, config_errors_name_the_field);
    tcase_add_test(tc, null_handles_are_harmless);
    tcase_add_test(tc, an_idle_producer_flushes_and_closes_at_once);
    tcase_add_test(tc, send_refuses_bad_arguments_without_a_report);
    tcase_add_test(tc, send_refuses_records_over_the_limits);
    tcase_add_test(tc, key_hash_is_fnv1a_32);
    tcase_add_test(tc, keyed_records_go_to_hash_mod_partitions);
    tcase_add_test(tc, nil_keys_stick_to_a_partition_until_its_batch_is_sealed);
    tcase_add_test(tc, queue_full_bounds_the_buffer_and_every_record_gets_one_report);
    tcase_add_test(tc, delivery_timeout_fails_records_in_order);
    suite_add_tcase(s, tc);
    TCase *idem = tcase_create("idempotence");
    tcase_set_timeout(idem, 60);
    tcase_add_test(idem, unknown_producer_gets_a_new_id_and_renumbers_from_zero);
    tcase_add_test(idem, a_forgotten_producer_never_resends_an_unknown_outcome);
    tcase_add_test(idem, dropped_answers_and_not_leader_neither_duplicate_nor_reorder);
    suite_add_tcase(s, idem);
    TCase *stall = tcase_create("stall");
    tcase_set_timeout(stall, 90);
    tcase_add_test(stall, a_stalled_leader_is_left_for_the_new_one);
    tcase_add_test(stall, a_stalled_leader_is_left_without_idempotence_too);
    tcase_add_test(stall, a_slow_leader_that_still_leads_is_waited_for);
    suite_add_tcase(s, stall);
    return s;
}
