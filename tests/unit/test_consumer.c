/*
 * Tests of the consumer without a real broker: configuration and argument
 * checks, raftmq-consume's formats, and the fetch path against a fake broker
 * in a thread (one ROUTER socket on loopback answering METADATA,
 * LIST_OFFSETS and FETCH from three stored batches, one of which it can
 * corrupt): skipping records below the position, and a corrupt batch fetched
 * again once, then reported. Assertions are on results, never on time.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "consumers/consume_format.h"
#include "fake_broker.h"
#include "suites.h"
#include "wire/batch.h"
#include "wire/frame.h"
#include "wire/raftmq.h"

/* ---- configuration ------------------------------------------------------------------------ */

static int new_with(const struct raftmq_consumer_config *cfg, char *err, size_t cap)
{
    raftmq_consumer *c = NULL;
    int rc = raftmq_consumer_new(cfg, &c, err, cap);
    if (rc == RAFTMQ_OK)
        ck_assert_ptr_nonnull(c);
    else
        ck_assert_ptr_null(c);
    raftmq_consumer_close(c);
    return rc;
}

START_TEST(config_defaults_are_documented_values)
{
    struct raftmq_consumer_config cfg;
    memset(&cfg, 0xab, sizeof(cfg));
    raftmq_consumer_config_init(&cfg);
    ck_assert_ptr_null(cfg.brokers);
    ck_assert_uint_eq(cfg.fetch_max_bytes, 1024u * 1024u);
    ck_assert_uint_eq(cfg.fetch_max_wait_ms, 500);
    ck_assert_uint_eq(cfg.partition_buffer_bytes, 4u * 1024u * 1024u);
    ck_assert_uint_eq(cfg.request_timeout_ms, 10000);
    ck_assert_int_eq(cfg.offset_reset, RAFTMQ_RESET_EARLIEST);
}
END_TEST

START_TEST(config_errors_name_the_field)
{
    struct raftmq_consumer_config cfg;
    char err[512];
    raftmq_consumer_config_init(&cfg);
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "brokers"));

    cfg.brokers = "tcp://127.0.0.1:1";
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_OK);

    cfg.fetch_max_bytes = 0;
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "fetch_max_bytes"));
    cfg.fetch_max_bytes = 64u * 1024u * 1024u;
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);

    raftmq_consumer_config_init(&cfg);
    cfg.brokers = "tcp://127.0.0.1:1";
    cfg.partition_buffer_bytes = cfg.fetch_max_bytes - 1;
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "partition_buffer_bytes"));

    raftmq_consumer_config_init(&cfg);
    cfg.brokers = "tcp://127.0.0.1:1";
    cfg.request_timeout_ms = 0;
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "request_timeout_ms"));

    raftmq_consumer_config_init(&cfg);
    cfg.brokers = "tcp://127.0.0.1:1";
    cfg.offset_reset = (enum raftmq_offset_reset)7;
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "offset_reset"));

    raftmq_consumer_config_init(&cfg);
    cfg.brokers = " , ";
    ck_assert_int_eq(new_with(&cfg, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "brokers"));

    /* NULLs are refused, and a NULL errbuf is fine. */
    raftmq_consumer *c = (raftmq_consumer *)&cfg;
    ck_assert_int_eq(raftmq_consumer_new(NULL, &c, NULL, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(raftmq_consumer_new(&cfg, NULL, err, sizeof(err)), RAFTMQ_ERR_INVALID_REQUEST);
    raftmq_consumer_close(NULL);
    ck_assert_str_eq(raftmq_consumer_last_error(NULL), "");
}
END_TEST

static raftmq_consumer *dead_consumer(uint32_t timeout_ms)
{
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = "tcp://127.0.0.1:1"; /* nothing listens on port 1 */
    cfg.request_timeout_ms = timeout_ms;
    raftmq_consumer *c = NULL;
    ck_assert_int_eq(raftmq_consumer_new(&cfg, &c, NULL, 0), RAFTMQ_OK);
    return c;
}

START_TEST(bad_arguments_are_refused_before_any_network)
{
    raftmq_consumer *c = dead_consumer(200);
    ck_assert_int_eq(raftmq_consumer_assign(c, "no spaces", 0, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "topic"));
    ck_assert_int_eq(raftmq_consumer_assign(c, NULL, 0, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", -1, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, RAFTMQ_OFFSET_TAIL(0)), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, -3), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, RAFTMQ_OFFSET_TAIL_BASE), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_assign_timestamp(c, "t", 0, -1), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_assign(NULL, "t", 0, 0), RAFTMQ_ERR_INVALID_REQUEST);

    int64_t v = 42;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_ERR_NOT_ASSIGNED);
    ck_assert_int_eq(raftmq_consumer_high_watermark(c, "t", 0, &v), RAFTMQ_ERR_NOT_ASSIGNED);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(raftmq_consumer_unassign(c, "t", 0), RAFTMQ_ERR_NOT_ASSIGNED);
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, NULL), RAFTMQ_ERR_INVALID_REQUEST);

    struct raftmq_record r;
    ck_assert_int_eq(raftmq_consumer_poll(c, 0, &r), RAFTMQ_ERR_NO_RECORD);
    ck_assert_int_eq(raftmq_consumer_poll(c, 0, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    raftmq_consumer_close(c);
}
END_TEST

START_TEST(assign_to_an_unreachable_cluster_times_out_with_the_address)
{
    raftmq_consumer *c = dead_consumer(300);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, RAFTMQ_OFFSET_BEGINNING), RAFTMQ_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "127.0.0.1:1"));
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_ERR_NOT_ASSIGNED);
    raftmq_consumer_close(c);
}
END_TEST

/* ---- raftmq-consume's formats ------------------------------------------------------------------ */

static const struct raftmq_header two_headers[] = {
    {"id", "17", 2},
    {"h", "x=y", 3},
};

static struct raftmq_record sample(void)
{
    struct raftmq_record r = {0};
    r.topic = "orders";
    r.partition = 2;
    r.offset = 1234567890123;
    r.timestamp = 1767225600000;
    r.key = "user1";
    r.key_len = 5;
    r.value = "hello";
    r.value_len = 5;
    r.headers = two_headers;
    r.header_count = 2;
    return r;
}

/* Renders r with fmt into a NUL-terminated string (caller frees), or NULL when fmt is refused. */
static char *render(const char *fmt, const struct raftmq_record *r, char *why, size_t why_cap)
{
    struct consume_format f;
    if (!consume_format_compile(fmt, &f, why, why_cap))
        return NULL;
    struct consume_out o = {0};
    consume_format_record(&f, r, &o);
    consume_out_bytes(&o, "", 0);
    char *s = malloc(o.len + 1);
    ck_assert_ptr_nonnull(s);
    if (o.len > 0)
        memcpy(s, o.buf, o.len);
    s[o.len] = '\0';
    consume_out_free(&o);
    consume_format_free(&f);
    return s;
}

START_TEST(format_prints_every_directive)
{
    struct raftmq_record r = sample();
    char why[200];
    char *s = render("%t/%p@%o %T k=%k v=%s n=%S [%h] 100%%\\t|\\\\|\\n", &r, why, sizeof(why));
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "orders/2@1234567890123 1767225600000 k=user1 v=hello n=5 [id=17,h=x=y] 100%\t|\\|\n");
    free(s);

    /* A nil key and no headers print nothing; an empty value has size 0. */
    r.key = NULL;
    r.key_len = 0;
    r.header_count = 0;
    r.headers = NULL;
    r.value = "";
    r.value_len = 0;
    s = render("<%k><%h><%s><%S>", &r, why, sizeof(why));
    ck_assert_str_eq(s, "<><><><0>");
    free(s);

    /* Values are bytes: an embedded NUL is printed. */
    r.value = "a\0b";
    r.value_len = 3;
    struct consume_format f;
    ck_assert(consume_format_compile("%s", &f, why, sizeof(why)));
    struct consume_out o = {0};
    consume_format_record(&f, &r, &o);
    ck_assert_uint_eq(o.len, 3);
    ck_assert_int_eq(memcmp(o.buf, "a\0b", 3), 0);
    consume_out_free(&o);
    consume_format_free(&f);

    s = render("", &r, why, sizeof(why));
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(format_refuses_unknown_directives_and_escapes)
{
    struct raftmq_record r = sample();
    char why[200];
    ck_assert_ptr_null(render("%q", &r, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "%q"));
    ck_assert_ptr_null(render("value %", &r, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "directive"));
    ck_assert_ptr_null(render("\\x", &r, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "\\x"));
    ck_assert_ptr_null(render("end\\", &r, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "escape"));
    /* Too many parts is an error, not an overflow. */
    char *big = malloc(4 * CONSUME_FORMAT_OPS_MAX + 1);
    ck_assert_ptr_nonnull(big);
    big[0] = '\0';
    for (unsigned i = 0; i < CONSUME_FORMAT_OPS_MAX; i++)
        strcat(big, "%sx");
    ck_assert_ptr_null(render(big, &r, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "parts"));
    free(big);
}
END_TEST

static char *json_of(const void *bytes, size_t len)
{
    struct consume_out o = {0};
    consume_json_string(&o, bytes, len);
    char *s = malloc(o.len + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, o.buf, o.len);
    s[o.len] = '\0';
    consume_out_free(&o);
    return s;
}

START_TEST(json_strings_escape_and_survive_binary)
{
    char *s = json_of("a\"b\\c\nd\te\r\x01\x7f/", 13);
    ck_assert_str_eq(s, "\"a\\\"b\\\\c\\nd\\te\\r\\u0001\\u007f/\"");
    free(s);
    s = json_of("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14); /* valid UTF-8 passes through */
    ck_assert_str_eq(s, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    free(s);
    s = json_of("\xff\xc3", 2); /* invalid and truncated sequences become their byte values */
    ck_assert_str_eq(s, "\"\\u00ff\\u00c3\"");
    free(s);
    s = json_of("\xc0\xaf", 2); /* an overlong '/' */
    ck_assert_str_eq(s, "\"\\u00c0\\u00af\"");
    free(s);
    s = json_of("\xed\xa0\x80", 3); /* a UTF-16 surrogate is not UTF-8 */
    ck_assert_str_eq(s, "\"\\u00ed\\u00a0\\u0080\"");
    free(s);
    s = json_of("\xf4\x90\x80\x80", 4); /* beyond U+10FFFF */
    ck_assert_str_eq(s, "\"\\u00f4\\u0090\\u0080\\u0080\"");
    free(s);
    s = json_of("x\0y", 3);
    ck_assert_str_eq(s, "\"x\\u0000y\"");
    free(s);
    s = json_of("", 0);
    ck_assert_str_eq(s, "\"\"");
    free(s);
}
END_TEST

START_TEST(json_record_is_one_line_with_every_field)
{
    struct raftmq_record r = sample();
    struct consume_out o = {0};
    consume_json_record(&r, &o);
    r.key = NULL;
    r.key_len = 0;
    r.header_count = 0;
    r.value = "\xff";
    r.value_len = 1;
    consume_json_record(&r, &o);
    consume_out_bytes(&o, "", 0);
    char *s = malloc(o.len + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, o.buf, o.len);
    s[o.len] = '\0';
    ck_assert_str_eq(s,
                     "{\"topic\":\"orders\",\"partition\":2,\"offset\":1234567890123,"
                     "\"timestamp\":1767225600000,\"key\":\"user1\",\"value\":\"hello\","
                     "\"headers\":[{\"name\":\"id\",\"value\":\"17\"},{\"name\":\"h\",\"value\":\"x=y\"}]}\n"
                     "{\"topic\":\"orders\",\"partition\":2,\"offset\":1234567890123,"
                     "\"timestamp\":1767225600000,\"key\":null,\"value\":\"\\u00ff\",\"headers\":[]}\n");
    free(s);
    consume_out_free(&o);
}
END_TEST

START_TEST(output_buffer_grows_past_its_first_size)
{
    struct consume_out o = {0};
    char block[1000];
    memset(block, 'z', sizeof(block));
    for (int i = 0; i < 1000; i++)
        consume_out_bytes(&o, block, sizeof(block));
    ck_assert(!o.failed);
    ck_assert_uint_eq(o.len, 1000u * 1000u);
    ck_assert_uint_ge(o.cap, o.len);
    ck_assert_int_eq(o.buf[o.len - 1], 'z');
    consume_out_free(&o);
}
END_TEST


/* ---- the fetch path against a fake broker ------------------------------------------------ */

#define FAKE_BATCHES 3
#define FAKE_PER_BATCH 10

struct fake {
    struct fake_broker fb;
    uint8_t batch_buf[FAKE_BATCHES][4096];
    struct wire_bytes batches[FAKE_BATCHES];
    uint64_t hwm;
    /* script: serve batch 1 corrupted this many times (-1: always) */
    volatile int corrupt_serves;
    volatile int corrupt_served;
    /* script: FETCH answered with this error (0: served), or never answered */
    uint32_t fetch_error;
    bool fetch_silent;
    volatile int fetches; /* FETCH requests seen */
};

/* Batch b holds offsets 10 b .. 10 b + 9: value "v<offset>", key "k<offset>". */
static void fake_build(struct fake *f)
{
    for (int b = 0; b < FAKE_BATCHES; b++) {
        struct wire_batch_builder bb;
        wire_batch_builder_init(&bb, f->batch_buf[b], sizeof(f->batch_buf[b]), WIRE_CODEC_NONE);
        char keys[FAKE_PER_BATCH][16], values[FAKE_PER_BATCH][16];
        for (int i = 0; i < FAKE_PER_BATCH; i++) {
            int off = b * FAKE_PER_BATCH + i;
            struct wire_record r = {0};
            r.timestamp = 1000 + off;
            r.has_key = true;
            r.key.len = (uint32_t)snprintf(keys[i], sizeof(keys[i]), "k%d", off);
            r.key.ptr = (const uint8_t *)keys[i];
            r.value.len = (uint32_t)snprintf(values[i], sizeof(values[i]), "v%d", off);
            r.value.ptr = (const uint8_t *)values[i];
            ck_assert_int_eq(wire_batch_builder_add(&bb, &r), WIRE_OK);
        }
        struct wire_bytes out;
        ck_assert_int_eq(wire_batch_builder_finish(&bb, NULL, 0, &out), WIRE_OK);
        wire_batch_stamp_base_offset((void *)out.ptr, (uint64_t)b * FAKE_PER_BATCH);
        f->batches[b] = out;
    }
    f->hwm = FAKE_BATCHES * FAKE_PER_BATCH;
}

/* Leaves a FETCH at the end unanswered (a long-poll that never ends). */
static void fake_answer(void *user, const struct wire_frame *req, struct wire_writer *w)
{
    struct fake *f = user;
    static uint8_t corrupt[4096];
    struct wire_frame resp;
    struct wire_bytes served[FAKE_BATCHES];
    switch (req->type) {
    case WIRE_METADATA:
        fake_broker_answer_metadata(&f->fb, req, "t", w);
        return;
    case WIRE_LIST_OFFSETS:
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.list_offsets_resp.offset = req->body.list_offsets_req.spec == -2 ? 0 : f->hwm;
        resp.body.list_offsets_resp.timestamp = -1;
        break;
    case WIRE_FETCH: {
        f->fetches++;
        if (f->fetch_silent)
            return;
        if (f->fetch_error != 0) {
            wire_frame_init_response(&resp, req, f->fetch_error, "fake: scripted error");
            break;
        }
        uint64_t at = req->body.fetch_req.offset;
        if (at > f->hwm) {
            wire_frame_init_response(&resp, req, WIRE_ERR_OFFSET_OUT_OF_RANGE, "out of range");
            resp.body.offset_range_detail.log_start_offset = 0;
            resp.body.offset_range_detail.high_watermark = f->hwm;
            break;
        }
        if (at == f->hwm)
            return; /* a long-poll at the end: never answered */
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        uint32_t n = 0;
        /* Whole batches from the one holding `at`: the first may begin before it. */
        for (uint64_t b = at / FAKE_PER_BATCH; b < FAKE_BATCHES; b++) {
            served[n] = f->batches[b];
            if (b == 1 && (f->corrupt_serves < 0 || f->corrupt_served < f->corrupt_serves)) {
                f->corrupt_served++;
                memcpy(corrupt, served[n].ptr, served[n].len);
                corrupt[served[n].len - 1] ^= 0x55; /* a value byte: the CRC no longer matches */
                served[n].ptr = corrupt;
            }
            n++;
        }
        resp.body.fetch_resp.high_watermark = f->hwm;
        resp.body.fetch_resp.log_start_offset = 0;
        resp.body.fetch_resp.batches.count = n;
        resp.body.fetch_resp.batches.items = served;
        break;
    }
    default:
        wire_frame_init_response(&resp, req, WIRE_ERR_INVALID_REQUEST, "fake broker");
        break;
    }
    ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
}

static void fake_start(struct fake *f, int corrupt_serves)
{
    memset(f, 0, sizeof(*f));
    fake_build(f);
    f->corrupt_serves = corrupt_serves;
    fake_broker_start(&f->fb, fake_answer, f);
}

static void fake_stop(struct fake *f)
{
    fake_broker_stop(&f->fb);
}

static raftmq_consumer *fake_consumer(const struct fake *f, enum raftmq_offset_reset reset)
{
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = f->fb.endpoint;
    cfg.fetch_max_wait_ms = 50;
    cfg.request_timeout_ms = 500; /* the unanswered long-poll at the end comes back soon */
    cfg.offset_reset = reset;
    raftmq_consumer *c = NULL;
    ck_assert_int_eq(raftmq_consumer_new(&cfg, &c, NULL, 0), RAFTMQ_OK);
    return c;
}

/* The next poll result, waiting through NO_RECORD up to 100 polls of 100 ms. */
static int poll_next(raftmq_consumer *c, struct raftmq_record *r)
{
    int rc = RAFTMQ_ERR_NO_RECORD;
    for (int i = 0; i < 100 && rc == RAFTMQ_ERR_NO_RECORD; i++)
        rc = raftmq_consumer_poll(c, 100, r);
    return rc;
}

static void expect_record(raftmq_consumer *c, int64_t offset)
{
    struct raftmq_record r;
    int rc = poll_next(c, &r);
    ck_assert_msg(rc == RAFTMQ_OK, "offset %lld: %s (%s)", (long long)offset, raftmq_err_name(rc),
                  raftmq_consumer_last_error(c));
    ck_assert_str_eq(r.topic, "t");
    ck_assert_int_eq(r.partition, 0);
    ck_assert_int_eq(r.offset, offset);
    ck_assert_int_eq(r.timestamp, 1000 + offset);
    char want[16];
    int n = snprintf(want, sizeof(want), "v%lld", (long long)offset);
    ck_assert_uint_eq(r.value_len, (size_t)n);
    ck_assert_int_eq(memcmp(r.value, want, (size_t)n), 0);
    ck_assert_ptr_nonnull(r.key);
    ck_assert_uint_eq(r.header_count, 0);
}

START_TEST(records_below_the_position_are_skipped)
{
    struct fake f;
    fake_start(&f, 0);
    raftmq_consumer *c = fake_consumer(&f, RAFTMQ_RESET_ERROR);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 15), RAFTMQ_OK);
    for (int64_t off = 15; off < 30; off++)
        expect_record(c, off);
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_OK);
    ck_assert_int_eq(v, 30);
    ck_assert_int_eq(raftmq_consumer_high_watermark(c, "t", 0, &v), RAFTMQ_OK);
    ck_assert_int_eq(v, 30);
    /* TAIL and BEGINNING through LIST_OFFSETS. */
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, RAFTMQ_OFFSET_TAIL(3)), RAFTMQ_OK);
    for (int64_t off = 27; off < 30; off++)
        expect_record(c, off);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, RAFTMQ_OFFSET_BEGINNING), RAFTMQ_OK);
    expect_record(c, 0);
    raftmq_consumer_close(c);
    fake_stop(&f);
}
END_TEST

/* Polls until something other than NO_RECORD, at most `polls` polls of 100 ms. */
static int poll_until_report(raftmq_consumer *c, struct raftmq_record *r, int polls)
{
    int rc = RAFTMQ_ERR_NO_RECORD;
    for (int i = 0; i < polls && rc == RAFTMQ_ERR_NO_RECORD; i++)
        rc = raftmq_consumer_poll(c, 100, r);
    return rc;
}

/* A leader that keeps saying UNKNOWN_TOPIC (the topic was deleted): reported for the partition, which then rests. */
START_TEST(an_unknown_topic_from_the_leader_is_reported_and_pauses)
{
    struct fake f;
    fake_start(&f, 0);
    f.fetch_error = WIRE_ERR_UNKNOWN_TOPIC;
    raftmq_consumer *c = fake_consumer(&f, RAFTMQ_RESET_ERROR);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 0), RAFTMQ_OK);
    struct raftmq_record r;
    int rc = poll_until_report(c, &r, 100);
    ck_assert_msg(rc == RAFTMQ_ERR_UNKNOWN_TOPIC, "got %s", raftmq_err_name(rc));
    ck_assert_str_eq(r.topic, "t");
    ck_assert_int_eq(r.partition, 0);
    int seen = f.fetches;
    ck_assert_int_eq(raftmq_consumer_poll(c, 300, &r), RAFTMQ_ERR_NO_RECORD);
    ck_assert_int_eq(f.fetches, seen); /* paused: no more fetches */
    raftmq_consumer_close(c);
    fake_stop(&f);
}
END_TEST

/* A leader that never answers: TIMEOUT is reported for the partition, and again while it lasts. */
START_TEST(an_unanswered_partition_reports_timeout_and_keeps_trying)
{
    struct fake f;
    fake_start(&f, 0);
    f.fetch_silent = true;
    raftmq_consumer *c = fake_consumer(&f, RAFTMQ_RESET_ERROR);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 0), RAFTMQ_OK);
    struct raftmq_record r;
    for (int round = 0; round < 2; round++) {
        int rc = poll_until_report(c, &r, 100);
        ck_assert_msg(rc == RAFTMQ_ERR_TIMEOUT, "round %d: got %s", round, raftmq_err_name(rc));
        ck_assert_str_eq(r.topic, "t");
        ck_assert_int_eq(r.partition, 0);
    }
    ck_assert_int_ge(f.fetches, 2); /* it kept asking */
    raftmq_consumer_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(a_batch_corrupt_once_is_fetched_again)
{
    struct fake f;
    fake_start(&f, 1);
    raftmq_consumer *c = fake_consumer(&f, RAFTMQ_RESET_ERROR);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 0), RAFTMQ_OK);
    for (int64_t off = 0; off < 30; off++)
        expect_record(c, off);
    ck_assert_int_eq(f.corrupt_served, 1);
    raftmq_consumer_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(a_batch_corrupt_twice_is_reported_and_pauses_the_partition)
{
    struct fake f;
    fake_start(&f, -1);
    raftmq_consumer *c = fake_consumer(&f, RAFTMQ_RESET_ERROR);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 0), RAFTMQ_OK);
    for (int64_t off = 0; off < 10; off++)
        expect_record(c, off);
    struct raftmq_record r;
    int rc = poll_next(c, &r);
    ck_assert_msg(rc == RAFTMQ_ERR_CORRUPT_BATCH, "got %s", raftmq_err_name(rc));
    ck_assert_str_eq(r.topic, "t");
    ck_assert_int_eq(r.partition, 0);
    ck_assert_int_eq(r.offset, 0);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "t/0"));
    ck_assert_int_eq(f.corrupt_served, 2); /* the first serve and exactly one refetch */
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_OK);
    ck_assert_int_eq(v, 10);
    /* Paused: nothing more, and no more FETCHes of the bad batch. */
    ck_assert_int_eq(raftmq_consumer_poll(c, 200, &r), RAFTMQ_ERR_NO_RECORD);
    ck_assert_int_eq(f.corrupt_served, 2);
    /* Assigning past the batch goes on. */
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 20), RAFTMQ_OK);
    for (int64_t off = 20; off < 30; off++)
        expect_record(c, off);
    raftmq_consumer_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(out_of_range_follows_offset_reset)
{
    struct fake f;
    fake_start(&f, 0);
    raftmq_consumer *c = fake_consumer(&f, RAFTMQ_RESET_ERROR);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 31), RAFTMQ_OK);
    struct raftmq_record r;
    int rc = poll_next(c, &r);
    ck_assert_msg(rc == RAFTMQ_ERR_OFFSET_OUT_OF_RANGE, "got %s", raftmq_err_name(rc));
    ck_assert_int_eq(r.partition, 0);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "[0, 30)"));
    raftmq_consumer_close(c);

    c = fake_consumer(&f, RAFTMQ_RESET_EARLIEST);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 31), RAFTMQ_OK);
    expect_record(c, 0);
    raftmq_consumer_close(c);

    c = fake_consumer(&f, RAFTMQ_RESET_LATEST);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 31), RAFTMQ_OK);
    ck_assert_int_eq(raftmq_consumer_poll(c, 300, &r), RAFTMQ_ERR_NO_RECORD);
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_OK);
    ck_assert_int_eq(v, 30);
    raftmq_consumer_close(c);
    fake_stop(&f);
}
END_TEST

Suite *consumer_suite(void)
{
    Suite *s = suite_create("consumer");
    TCase *tc = tcase_create("library");
    tcase_add_test(tc, config_defaults_are_documented_values);
    tcase_add_test(tc, config_errors_name_the_field);
    tcase_add_test(tc, bad_arguments_are_refused_before_any_network);
    tcase_add_test(tc, assign_to_an_unreachable_cluster_times_out_with_the_address);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("fetching");
    tcase_add_test(tc, records_below_the_position_are_skipped);
    tcase_add_test(tc, a_batch_corrupt_once_is_fetched_again);
    tcase_add_test(tc, a_batch_corrupt_twice_is_reported_and_pauses_the_partition);
    tcase_add_test(tc, an_unknown_topic_from_the_leader_is_reported_and_pauses);
    tcase_add_test(tc, an_unanswered_partition_reports_timeout_and_keeps_trying);
    tcase_add_test(tc, out_of_range_follows_offset_reset);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("formats");
    tcase_add_test(tc, format_prints_every_directive);
    tcase_add_test(tc, format_refuses_unknown_directives_and_escapes);
    tcase_add_test(tc, json_strings_escape_and_survive_binary);
    tcase_add_test(tc, json_record_is_one_line_with_every_field);
    tcase_add_test(tc, output_buffer_grows_past_its_first_size);
    suite_add_tcase(s, tc);
    return s;
}
