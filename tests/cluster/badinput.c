/*
 * raftmq-badinput: sends one running broker malformed, oversized and refused
 * requests on its client port and checks every answer against
 * docs/protocol.md and wire/errors.h.
 *
 * How: a raw ZeroMQ DEALER sends bytes this program crafts itself (the
 * wire/ encoder for well-formed frames, the msgpack writer for frames the
 * encoder refuses to write, wire/batch.h for valid batches, which are then
 * damaged on purpose). Each case prints "PASS name" or "FAIL name: why";
 * the exit status is 1 if any case failed, 2 on a usage or set-up error of
 * this program itself. Every receive has a deadline, so a broker that never
 * answers fails a case instead of hanging the test. The deadlines are
 * liveness bounds, not measurements: they are generous on purpose.
 *
 * The broker must be a fresh single-node cluster (tests/cluster/
 * test_bad_input.sh starts one): the last cases check that none of the bad
 * requests created a topic or stored a record.
 *
 *   usage: raftmq-badinput tcp://127.0.0.1:CLIENT_PORT
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "wire/batch.h"
#include "wire/byteorder.h"
#include "wire/clock.h"
#include "wire/crc32c.h"
#include "wire/errors.h"
#include "wire/frame.h"
#include "wire/limits.h"
#include "wire/mp.h"

/* ---- limits and deadlines ---------------------------------------------------- */

/* Room for the largest message this program sends: 17 MiB plus slack. */
#define TX_BYTES (18u * WIRE_MIB)
/* A request's answer; the broker may run under ASan, so be patient. */
#define ANSWER_TIMEOUT_MS 10000
/* How long the cluster may take to elect leaders after start and after CREATE_TOPIC. */
#define ELECTION_TIMEOUT_MS 30000
/* FETCH at the high watermark with max_wait_ms 200 must answer within this. */
#define LONG_POLL_ANSWER_MS 5000
/* How long to listen for an answer that must not come (a dropped connection). */
#define SILENCE_MS 1000
/* Topics remembered from METADATA. */
#define TOPICS_MAX 16
#define TOPIC_NAME_CAP (WIRE_TOPIC_NAME_BYTES_MAX + 1)

#define GOOD_TOPIC "good"
#define GOOD_PARTITIONS 2u
#define PRODUCE_TIMEOUT_MS 5000u

/* Batch header offsets, pinned by the table in wire/batch.h. */
enum {
    BATCH_CRC_VALUE_AT = 12,
    BATCH_CODEC_VALUE_AT = 17,
    BATCH_RECORDS_BYTES_VALUE_AT = 59,
};

/* ---- process state ------------------------------------------------------------ */

static void *g_zmq;
static const char *g_endpoint;
static uint8_t *g_tx; /* TX_BYTES, the outgoing message being built */
static uint64_t g_next_id = 1;
static unsigned g_passed;
static unsigned g_failed;

static void *xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "raftmq-badinput: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static struct wire_bytes bytes_of(const char *s)
{
    return (struct wire_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static bool bytes_eq(struct wire_bytes b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && memcmp(b.ptr, s, n) == 0;
}

/* ---- verdicts ------------------------------------------------------------------ */

/* One case: its name and the first reason it failed (later reasons are counted). */
struct verdict {
    const char *name;
    unsigned failures;
    char why[768];
};

static void verdict_begin(struct verdict *v, const char *name)
{
    memset(v, 0, sizeof(*v));
    v->name = name;
}

__attribute__((format(printf, 2, 3))) static void verdict_fail(struct verdict *v, const char *fmt,
                                                               ...)
{
    if (v->failures++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->why, sizeof(v->why), fmt, ap);
        va_end(ap);
    }
}

/* Prints the outcome; returns true when the case passed. */
static bool verdict_end(struct verdict *v)
{
    if (v->failures == 0) {
        printf("PASS %s\n", v->name);
        g_passed++;
    } else if (v->failures == 1) {
        printf("FAIL %s: %s\n", v->name, v->why);
        g_failed++;
    } else {
        printf("FAIL %s: %s (and %u more problems)\n", v->name, v->why, v->failures - 1);
        g_failed++;
    }
    fflush(stdout);
    return v->failures == 0;
}

/* ---- connection: a DEALER and the responses it received but nobody claimed yet ---- */

/*
 * A decoded response that owns its bytes: every wire_bytes in `f` points
 * into `raw` and every array into `arena_mem`, so it outlives the ZeroMQ
 * message it came in (several responses may share one message).
 */
struct response {
    struct response *next;
    uint8_t *raw;
    uint8_t *arena_mem;
    struct wire_arena arena;
    struct wire_frame f;
};

struct conn {
    void *sock;
    struct response *pending; /* received, not yet claimed by await */
    unsigned undecodable;     /* messages with bytes that did not decode as a response */
    char undecodable_why[256];
};

static void response_free(struct response *r)
{
    if (r == NULL)
        return;
    free(r->raw);
    free(r->arena_mem);
    free(r);
}

static int conn_open(struct conn *c)
{
    memset(c, 0, sizeof(*c));
    c->sock = zmq_socket(g_zmq, ZMQ_DEALER);
    if (c->sock == NULL)
        return -1;
    int linger = 0;
    int send_timeout = ANSWER_TIMEOUT_MS;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &send_timeout, sizeof(send_timeout));
    if (zmq_connect(c->sock, g_endpoint) != 0) {
        zmq_close(c->sock);
        c->sock = NULL;
        return -1;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    while (c->pending != NULL) {
        struct response *r = c->pending;
        c->pending = r->next;
        response_free(r);
    }
    if (c->sock != NULL)
        zmq_close(c->sock);
    c->sock = NULL;
}

static int conn_send(struct conn *c, const void *buf, size_t len)
{
    return zmq_send(c->sock, buf, len, 0) == (int)len ? 0 : -1;
}

static void note_undecodable(struct conn *c, const char *why)
{
    if (c->undecodable++ == 0)
        snprintf(c->undecodable_why, sizeof(c->undecodable_why), "%s", why);
}

/* Splits one message into responses and queues them; stops at bytes that do not decode. */
static void conn_queue_message(struct conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    struct response **tail = &c->pending;
    while (*tail != NULL)
        tail = &(*tail)->next;
    while (off < len) {
        size_t left = len - off;
        size_t arena_cap = WIRE_ARENA_BYTES_PER_INPUT_BYTE * left + 64;
        struct response *r = xmalloc(sizeof(*r));
        memset(r, 0, sizeof(*r));
        r->raw = xmalloc(left);
        memcpy(r->raw, data + off, left);
        r->arena_mem = xmalloc(arena_cap);
        wire_arena_init(&r->arena, r->arena_mem, arena_cap);
        size_t consumed = 0;
        char why[256];
        int rc = wire_frame_decode(r->raw, left, &r->arena, &r->f, &consumed, why, sizeof(why));
        if (rc != WIRE_OK || !wire_type_is_response(r->f.type)) {
            note_undecodable(c, rc != WIRE_OK ? why : "a request frame came back");
            response_free(r);
            return;
        }
        *tail = r;
        tail = &r->next;
        off += consumed;
    }
}

/* Waits up to timeout_ms for one message. Returns 1 if one arrived, 0 on timeout, -1 on error. */
static int conn_receive(struct conn *c, int timeout_ms)
{
    zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
    int n = zmq_poll(&item, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (n == 0)
        return 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return errno == EAGAIN ? 0 : -1;
    }
    bool more = zmq_msg_more(&msg);
    conn_queue_message(c, zmq_msg_data(&msg), zmq_msg_size(&msg));
    zmq_msg_close(&msg);
    /* The protocol has single-part messages only: a multipart reply is a broker bug. */
    while (more) {
        note_undecodable(c, "a multipart message (the protocol uses single-part messages)");
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
    }
    return 1;
}

/*
 * The response with this correlation id, or NULL if none came within
 * timeout_ms. The caller frees it. Responses with other ids stay queued.
 */
static struct response *conn_await(struct conn *c, uint64_t id, int timeout_ms)
{
    int64_t deadline = wire_mono_ms() + timeout_ms;
    for (;;) {
        for (struct response **p = &c->pending; *p != NULL; p = &(*p)->next) {
            if ((*p)->f.correlation_id == id) {
                struct response *r = *p;
                *p = r->next;
                r->next = NULL;
                return r;
            }
        }
        int64_t left = deadline - wire_mono_ms();
        if (left <= 0)
            return NULL;
        if (conn_receive(c, (int)left) < 0)
            return NULL;
    }
}

/* ---- building and sending requests ------------------------------------------------- */

static void request_init(struct wire_frame *f, uint32_t type)
{
    memset(f, 0, sizeof(*f));
    f->version = WIRE_PROTOCOL_VERSION;
    f->type = type;
    f->correlation_id = g_next_id++;
}

/* Appends the encoding of f to w; a failure here is a bug in this program. */
static void encode_or_die(struct wire_writer *w, const struct wire_frame *f)
{
    int rc = wire_frame_encode(w, f);
    if (rc != WIRE_OK) {
        fprintf(stderr, "raftmq-badinput: cannot encode a %s frame: %s\n",
                wire_type_name(f->type), wire_err_name(rc));
        exit(2);
    }
}

/* Sends one frame as one message and waits for its answer (NULL: none in time). */
static struct response *call(struct conn *c, const struct wire_frame *f, int timeout_ms)
{
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    encode_or_die(&w, f);
    if (conn_send(c, w.buf, w.len) != 0)
        return NULL;
    return conn_await(c, f->correlation_id, timeout_ms);
}

static void metadata_req(struct wire_frame *f, struct wire_bytes *topics, uint32_t count)
{
    request_init(f, WIRE_METADATA);
    f->body.metadata_req.topics = (struct wire_bytes_array){count, topics};
}

static void create_topic_req(struct wire_frame *f, struct wire_bytes name, uint32_t partitions,
                             uint32_t replication_factor)
{
    request_init(f, WIRE_CREATE_TOPIC);
    f->body.create_topic_req = (struct wire_create_topic_req){
        .name = name,
        .partitions = partitions,
        .replication_factor = replication_factor,
        .retention_ms = -1,
        .retention_bytes = -1,
    };
}

static void produce_req(struct wire_frame *f, const char *topic, uint32_t partition,
                        struct wire_bytes *batches, uint32_t count)
{
    request_init(f, WIRE_PRODUCE);
    f->body.produce_req = (struct wire_produce_req){
        .topic = bytes_of(topic),
        .partition = partition,
        .timeout_ms = PRODUCE_TIMEOUT_MS,
        .batches = {count, batches},
    };
}

static void fetch_req(struct wire_frame *f, const char *topic, uint32_t partition, uint64_t offset,
                      uint32_t max_wait_ms)
{
    request_init(f, WIRE_FETCH);
    f->body.fetch_req = (struct wire_fetch_req){
        .topic = bytes_of(topic),
        .partition = partition,
        .offset = offset,
        .max_bytes = WIRE_MIB,
        .max_wait_ms = max_wait_ms,
    };
}

static void list_offsets_req(struct wire_frame *f, const char *topic, uint32_t partition,
                             int64_t spec)
{
    request_init(f, WIRE_LIST_OFFSETS);
    f->body.list_offsets_req = (struct wire_list_offsets_req){
        .topic = bytes_of(topic),
        .partition = partition,
        .spec = spec,
    };
}

/* ---- checking answers ----------------------------------------------------------------- */

static const char *err_name(uint32_t code)
{
    return wire_err_name((int)code);
}

/*
 * Checks that an answer came, with the request's correlation id, the
 * response type `type` and one of the `n` accepted error codes. Returns
 * true when all of that holds.
 */
static bool check_answer(struct verdict *v, const char *what, struct conn *c,
                         const struct response *r, uint64_t id, uint32_t type, const int *accepted,
                         size_t n)
{
    if (r == NULL) {
        if (c != NULL && c->undecodable > 0)
            verdict_fail(v, "%s: no answer (id %" PRIu64 ") within the deadline; %u undecodable "
                         "message(s) came instead, first: %s",
                         what, id, c->undecodable, c->undecodable_why);
        else
            verdict_fail(v, "%s: no answer (id %" PRIu64 ") within the deadline", what, id);
        return false;
    }
    const struct wire_frame *f = &r->f;
    bool ok = true;
    if (f->type != type) {
        verdict_fail(v, "%s: response type 0x%x, want 0x%x", what, f->type, type);
        ok = false;
    }
    bool error_ok = false;
    for (size_t i = 0; i < n; i++)
        error_ok = error_ok || f->error == (uint32_t)accepted[i];
    if (!error_ok) {
        char want[128] = "";
        for (size_t i = 0; i < n; i++) {
            size_t used = strlen(want);
            snprintf(want + used, sizeof(want) - used, "%s%s", i > 0 ? " or " : "",
                     wire_err_name(accepted[i]));
        }
        verdict_fail(v, "%s: got %s (%u) \"%.*s\", want %s", what, err_name(f->error), f->error,
                     (int)(f->error_message.len < 300 ? f->error_message.len : 300),
                     (const char *)f->error_message.ptr, want);
        ok = false;
    }
    return ok;
}

#define ACCEPT(...) (const int[]){__VA_ARGS__}, sizeof((const int[]){__VA_ARGS__}) / sizeof(int)

/* A whole case: one well-formed request whose answer must be error `want`. */
static void case_request_error(const char *name, struct conn *c, const struct wire_frame *f,
                               int want)
{
    struct verdict v;
    verdict_begin(&v, name);
    struct response *r = call(c, f, ANSWER_TIMEOUT_MS);
    check_answer(&v, wire_type_name(f->type), c, r, f->correlation_id,
                 f->type | WIRE_RESPONSE_BIT, ACCEPT(want));
    response_free(r);
    verdict_end(&v);
}

/* ---- queries used by set-up and the final checks -------------------------------------- */

/* LIST_OFFSETS; returns the error code (or -1 for no answer) and the offset in *out. */
static int list_offset(struct conn *c, const char *topic, uint32_t partition, int64_t spec,
                       uint64_t *out)
{
    struct wire_frame f;
    list_offsets_req(&f, topic, partition, spec);
    struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
    if (r == NULL)
        return -1;
    int rc = (int)r->f.error;
    if (rc == WIRE_OK && r->f.type == WIRE_LIST_OFFSETS_RESP)
        *out = r->f.body.list_offsets_resp.offset;
    else if (rc == WIRE_OK)
        rc = WIRE_ERR_UNKNOWN;
    response_free(r);
    return rc;
}

/* Errors a freshly created or freshly elected partition may answer for a moment. */
static bool transient(int rc)
{
    return rc == WIRE_ERR_NOT_LEADER || rc == WIRE_ERR_LEADER_NOT_AVAILABLE ||
           rc == WIRE_ERR_BACKPRESSURE || rc == WIRE_ERR_UNKNOWN_TOPIC ||
           rc == WIRE_ERR_UNKNOWN_PARTITION;
}

/* Like list_offset, retrying transient errors until ELECTION_TIMEOUT_MS. */
static int list_offset_settled(struct conn *c, const char *topic, uint32_t partition, int64_t spec,
                               uint64_t *out)
{
    int64_t deadline = wire_mono_ms() + ELECTION_TIMEOUT_MS;
    int rc;
    while ((rc = list_offset(c, topic, partition, spec, out)) != WIRE_OK && transient(rc) &&
           wire_mono_ms() < deadline)
        wire_sleep_ms(100);
    return rc;
}

/* The topic names of a METADATA answer (all topics), sorted by nothing: compared as sets. */
struct topic_list {
    unsigned count;
    char names[TOPICS_MAX][TOPIC_NAME_CAP];
    uint32_t partitions[TOPICS_MAX];
    bool truncated;
};

static bool topic_list_has(const struct topic_list *l, const char *name, uint32_t partitions)
{
    for (unsigned i = 0; i < l->count; i++)
        if (strcmp(l->names[i], name) == 0 && l->partitions[i] == partitions)
            return true;
    return false;
}

static void topic_list_print(const struct topic_list *l, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < l->count && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s(%u)", i > 0 ? ", " : "", l->names[i],
                         l->partitions[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (l->truncated && used < cap)
        snprintf(out + used, cap - used, ", ...");
}

/* METADATA for all topics into *l; returns the error code or -1 for no answer. */
static int all_topics(struct conn *c, struct topic_list *l, uint32_t *controller_id)
{
    struct wire_frame f;
    metadata_req(&f, NULL, 0);
    struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
    if (r == NULL)
        return -1;
    int rc = (int)r->f.error;
    memset(l, 0, sizeof(*l));
    if (rc == WIRE_OK && r->f.type == WIRE_METADATA_RESP) {
        const struct wire_metadata_resp *m = &r->f.body.metadata_resp;
        if (controller_id != NULL)
            *controller_id = m->controller_id;
        for (uint32_t i = 0; i < m->topics.count; i++) {
            if (l->count == TOPICS_MAX) {
                l->truncated = true;
                break;
            }
            struct wire_bytes name = m->topics.items[i].name;
            uint32_t len = name.len < TOPIC_NAME_CAP - 1 ? name.len : TOPIC_NAME_CAP - 1;
            memcpy(l->names[l->count], name.ptr, len);
            l->names[l->count][len] = '\0';
            l->partitions[l->count] = m->topics.items[i].partitions.count;
            l->count++;
        }
    } else if (rc == WIRE_OK) {
        rc = WIRE_ERR_UNKNOWN;
    }
    response_free(r);
    return rc;
}

/* Builds a valid uncompressed batch of `records` records "<tag>-<i>" in buf. */
static struct wire_bytes build_batch(uint8_t *buf, size_t cap, const char *tag, unsigned records)
{
    struct wire_batch_builder b;
    wire_batch_builder_init(&b, buf, cap, WIRE_CODEC_NONE);
    int64_t ts = wire_wall_ms();
    char value[64];
    for (unsigned i = 0; i < records; i++) {
        int n = snprintf(value, sizeof(value), "%s-%u", tag, i);
        struct wire_record rec = {
            .timestamp = ts,
            .has_key = false,
            .value = {(const uint8_t *)value, (uint32_t)n},
        };
        if (wire_batch_builder_add(&b, &rec) != WIRE_OK) {
            fprintf(stderr, "raftmq-badinput: cannot build a batch\n");
            exit(2);
        }
    }
    struct wire_bytes out;
    if (wire_batch_builder_finish(&b, NULL, 0, &out) != WIRE_OK) {
        fprintf(stderr, "raftmq-badinput: cannot finish a batch\n");
        exit(2);
    }
    return out;
}

/* Rewrites a batch's CRC after an edit, so that only the edit is wrong. */
static void batch_fix_crc(uint8_t *batch, size_t len)
{
    uint32_t crc = wire_crc32c(0, batch + WIRE_BATCH_CRC_START, len - WIRE_BATCH_CRC_START);
    wire_store_be(batch + BATCH_CRC_VALUE_AT, crc, 4);
}

/*
 * Produces `batch` to topic/partition, retrying transient errors until the
 * election deadline. Returns the final answer (caller frees) or NULL.
 */
static struct response *produce_settled(struct conn *c, const char *topic, uint32_t partition,
                                        struct wire_bytes batch)
{
    int64_t deadline = wire_mono_ms() + ELECTION_TIMEOUT_MS;
    for (;;) {
        struct wire_frame f;
        produce_req(&f, topic, partition, &batch, 1);
        struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
        if (r == NULL || !transient((int)r->f.error) || wire_mono_ms() >= deadline)
            return r;
        response_free(r);
        wire_sleep_ms(100);
    }
}

/* ---- state recorded by set-up and compared at the end ----------------------------------- */

struct cluster_state {
    struct topic_list topics;
    uint64_t log_start[GOOD_PARTITIONS];
    uint64_t high_watermark[GOOD_PARTITIONS];
};

static struct cluster_state g_setup;

/* ---- set-up ---------------------------------------------------------------------------- */

static bool wait_for_controller(struct conn *c, struct verdict *v)
{
    int64_t deadline = wire_mono_ms() + ELECTION_TIMEOUT_MS;
    uint32_t controller = 0;
    int rc = -1;
    while (wire_mono_ms() < deadline) {
        struct topic_list l;
        rc = all_topics(c, &l, &controller);
        if (rc == WIRE_OK && controller != 0)
            return true;
        wire_sleep_ms(100);
    }
    verdict_fail(v, "no METADATA with controller_id != 0 within %d ms (last: %s, controller %u)",
                 ELECTION_TIMEOUT_MS, rc < 0 ? "no answer" : wire_err_name(rc), controller);
    return false;
}

static bool wait_for_leaders(struct conn *c, struct verdict *v)
{
    int64_t deadline = wire_mono_ms() + ELECTION_TIMEOUT_MS;
    struct wire_bytes topic = bytes_of(GOOD_TOPIC);
    char last[128] = "no answer";
    while (wire_mono_ms() < deadline) {
        struct wire_frame f;
        metadata_req(&f, &topic, 1);
        struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
        bool ready = false;
        if (r != NULL && r->f.error == WIRE_OK && r->f.type == WIRE_METADATA_RESP &&
            r->f.body.metadata_resp.topics.count == 1) {
            const struct wire_topic_meta *t = &r->f.body.metadata_resp.topics.items[0];
            unsigned led = 0;
            for (uint32_t i = 0; i < t->partitions.count; i++)
                led += t->partitions.items[i].leader_id != 0;
            ready = t->error == WIRE_OK && t->partitions.count == GOOD_PARTITIONS &&
                    led == GOOD_PARTITIONS;
            snprintf(last, sizeof(last), "topic error %s, %u partitions, %u with a leader",
                     err_name(t->error), t->partitions.count, led);
        } else if (r != NULL) {
            snprintf(last, sizeof(last), "%s", err_name(r->f.error));
        }
        response_free(r);
        if (ready)
            return true;
        wire_sleep_ms(100);
    }
    verdict_fail(v, "partitions of \"%s\" got no leaders within %d ms (last: %s)", GOOD_TOPIC,
                 ELECTION_TIMEOUT_MS, last);
    return false;
}

static bool record_offsets(struct conn *c, struct verdict *v, struct cluster_state *s)
{
    for (uint32_t p = 0; p < GOOD_PARTITIONS; p++) {
        int rc = list_offset_settled(c, GOOD_TOPIC, p, -2, &s->log_start[p]);
        if (rc == WIRE_OK)
            rc = list_offset_settled(c, GOOD_TOPIC, p, -1, &s->high_watermark[p]);
        if (rc != WIRE_OK) {
            verdict_fail(v, "LIST_OFFSETS %s/%u: %s", GOOD_TOPIC, p,
                         rc < 0 ? "no answer" : wire_err_name(rc));
            return false;
        }
    }
    return true;
}

/*
 * Waits for a controller, creates "good" (2 partitions, rf 1), waits for
 * its leaders, produces one batch of 3 records to partition 0, and records
 * the topic list, log start offsets and high watermarks.
 */
static bool setup(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "setup");
    if (!wait_for_controller(c, &v))
        return verdict_end(&v);

    struct wire_frame f;
    create_topic_req(&f, bytes_of(GOOD_TOPIC), GOOD_PARTITIONS, 1);
    struct response *r = call(c, &f, ELECTION_TIMEOUT_MS);
    bool created = check_answer(&v, "CREATE_TOPIC good", c, r, f.correlation_id,
                                WIRE_CREATE_TOPIC_RESP, ACCEPT(WIRE_OK));
    response_free(r);
    if (!created || !wait_for_leaders(c, &v))
        return verdict_end(&v);

    uint64_t before = 0;
    int rc = list_offset_settled(c, GOOD_TOPIC, 0, -1, &before);
    if (rc != WIRE_OK) {
        verdict_fail(&v, "LIST_OFFSETS before produce: %s",
                     rc < 0 ? "no answer" : wire_err_name(rc));
        return verdict_end(&v);
    }
    uint8_t buf[4096];
    struct wire_bytes batch = build_batch(buf, sizeof(buf), "setup", 3);
    r = produce_settled(c, GOOD_TOPIC, 0, batch);
    if (check_answer(&v, "PRODUCE good/0", c, r, r != NULL ? r->f.correlation_id : 0,
                     WIRE_PRODUCE_RESP, ACCEPT(WIRE_OK))) {
        const struct wire_produce_resp *p = &r->f.body.produce_resp;
        if (p->base_offset != before || p->last_offset != before + 2)
            verdict_fail(&v, "PRODUCE of 3 records at high watermark %" PRIu64
                         " answered base %" PRIu64 " last %" PRIu64,
                         before, p->base_offset, p->last_offset);
    }
    response_free(r);
    if (v.failures != 0 || !record_offsets(c, &v, &g_setup))
        return verdict_end(&v);
    if (g_setup.high_watermark[0] != before + 3)
        verdict_fail(&v, "high watermark of %s/0 is %" PRIu64 " after producing 3 records at %" PRIu64,
                     GOOD_TOPIC, g_setup.high_watermark[0], before);

    uint32_t controller = 0;
    rc = all_topics(c, &g_setup.topics, &controller);
    if (rc != WIRE_OK)
        verdict_fail(&v, "METADATA (all topics): %s", rc < 0 ? "no answer" : wire_err_name(rc));
    else if (g_setup.topics.count != 1 || !topic_list_has(&g_setup.topics, GOOD_TOPIC, 2)) {
        char list[512];
        topic_list_print(&g_setup.topics, list, sizeof(list));
        verdict_fail(&v, "a fresh broker should list only %s(2) after set-up, got [%s]",
                     GOOD_TOPIC, list);
    }
    if (v.failures == 0)
        printf("# setup: %s/0 log_start %" PRIu64 " hw %" PRIu64 ", %s/1 log_start %" PRIu64
               " hw %" PRIu64 "\n",
               GOOD_TOPIC, g_setup.log_start[0], g_setup.high_watermark[0], GOOD_TOPIC,
               g_setup.log_start[1], g_setup.high_watermark[1]);
    return verdict_end(&v);
}

/* ---- cases: frames that do not decode ---------------------------------------------------- */

/*
 * The program's own check that a crafted frame is malformed the way the case
 * intends: the local decoder must give `want`. A mismatch is a bug here, not
 * in the broker, and is reported as such.
 */
static bool local_decode_is(struct verdict *v, const uint8_t *buf, size_t len, int want)
{
    size_t arena_cap = 4096;
    uint8_t *arena_mem = xmalloc(arena_cap);
    struct wire_arena arena;
    struct wire_frame f;
    size_t consumed = 0;
    wire_arena_init(&arena, arena_mem, arena_cap);
    int rc = wire_frame_decode(buf, len, &arena, &f, &consumed, NULL, 0);
    free(arena_mem);
    if (rc != want) {
        verdict_fail(v, "test bug: the local decoder says %s for the crafted frame, not %s",
                     wire_err_name(rc), wire_err_name(want));
        return false;
    }
    return true;
}

/*
 * Sends raw bytes and checks the one answer: id, type and an accepted error.
 * local_want >= 0 first checks that the local decoder rejects the bytes
 * with that code, so the case sends what it claims to send.
 */
static void case_raw(const char *name, struct conn *c, const uint8_t *buf, size_t len,
                     int local_want, uint64_t id, uint32_t type, const int *accepted, size_t n)
{
    struct verdict v;
    verdict_begin(&v, name);
    if (local_want >= 0 && !local_decode_is(&v, buf, len, local_want)) {
        verdict_end(&v);
        return;
    }
    if (conn_send(c, buf, len) != 0) {
        verdict_fail(&v, "zmq_send of %zu bytes failed: %s", len, zmq_strerror(errno));
    } else {
        struct response *r = conn_await(c, id, ANSWER_TIMEOUT_MS);
        /* Where two codes are accepted, say which one came, for the record. */
        if (check_answer(&v, name, c, r, id, type, accepted, n) && n > 1)
            printf("# %s: answered %s\n", name, err_name(r->f.error));
        response_free(r);
    }
    verdict_end(&v);
}

static void case_garbage(struct conn *c)
{
    /* 't' is a positive fixint where the envelope array must be: nothing is readable. */
    static const char garbage[] = "this is not msgpack at all";
    const uint8_t *buf = (const uint8_t *)garbage;
    size_t len = sizeof(garbage) - 1;
    struct verdict v;
    verdict_begin(&v, "garbage_bytes");
    if (!local_decode_is(&v, buf, len, WIRE_ERR_BAD_TYPE)) {
        verdict_end(&v);
        return;
    }
    if (conn_send(c, buf, len) != 0) {
        verdict_fail(&v, "zmq_send failed");
    } else {
        struct response *r = conn_await(c, 0, ANSWER_TIMEOUT_MS);
        /* The contract asks only for an error; which decoding error it is is the decoder's. */
        if (r == NULL)
            verdict_fail(&v, "no error response (id 0) within the deadline");
        else if (r->f.error == WIRE_OK)
            verdict_fail(&v, "garbage was answered with OK (type 0x%x)", r->f.type);
        else if (r->f.type != WIRE_RESPONSE_BIT)
            verdict_fail(&v, "error response type 0x%x, want 0x80 (no type was readable)",
                         r->f.type);
        response_free(r);
    }
    verdict_end(&v);
}

static void case_truncated(struct conn *c)
{
    struct wire_bytes topics[] = {bytes_of(GOOD_TOPIC), bytes_of("another")};
    struct wire_frame f;
    metadata_req(&f, topics, 2);
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    encode_or_die(&w, &f);
    size_t cut = w.len - 4; /* inside "another": the envelope and id are whole */
    case_raw("truncated_frame", c, g_tx, cut, WIRE_ERR_TRUNCATED, f.correlation_id,
             WIRE_METADATA_RESP, ACCEPT(WIRE_ERR_TRUNCATED));
}

/* [version, type, id, body] written by hand: the encoder refuses unknown types and versions. */
static size_t raw_request(uint8_t *buf, size_t cap, uint32_t version, uint32_t type, uint64_t id)
{
    struct wire_writer w;
    wire_writer_init(&w, buf, cap);
    wire_write_array(&w, 4);
    wire_write_uint(&w, version);
    wire_write_uint(&w, type);
    wire_write_uint(&w, id);
    wire_write_array(&w, 1); /* a METADATA body: [[]] */
    wire_write_array(&w, 0);
    return w.len;
}

static void case_unknown_type(struct conn *c)
{
    uint64_t id = g_next_id++;
    size_t len = raw_request(g_tx, TX_BYTES, WIRE_PROTOCOL_VERSION, 30, id);
    case_raw("unknown_type_30", c, g_tx, len, WIRE_ERR_UNKNOWN_TYPE, id, 30u | WIRE_RESPONSE_BIT,
             ACCEPT(WIRE_ERR_UNKNOWN_TYPE));
}

static void case_version_2(struct conn *c)
{
    uint64_t id = g_next_id++;
    size_t len = raw_request(g_tx, TX_BYTES, 2, WIRE_METADATA, id);
    case_raw("protocol_version_2", c, g_tx, len, WIRE_ERR_UNSUPPORTED_VERSION, id, WIRE_METADATA_RESP,
             ACCEPT(WIRE_ERR_UNSUPPORTED_VERSION));
}

static void case_response_frame(struct conn *c)
{
    struct wire_frame f;
    request_init(&f, WIRE_METADATA_RESP); /* a well-formed METADATA response */
    case_request_error("response_frame_on_client_port", c, &f, WIRE_ERR_INVALID_REQUEST);
}

static void case_peer_frame(struct conn *c)
{
    struct wire_frame f;
    request_init(&f, WIRE_APPEND_ENTRIES);
    /* From a node that does not exist, term 1, nothing to append: harmless if misrouted. */
    f.body.append_entries_req = (struct wire_append_entries_req){
        .group = 0, .from = 9, .to = 1, .term = 1,
    };
    case_request_error("peer_frame_on_client_port", c, &f, WIRE_ERR_INVALID_REQUEST);
}

/*
 * PRODUCE "good"/0 whose batches array holds `bins` bins of `bin_bytes`
 * each, written by hand (the encoder refuses fields over their limits).
 */
static size_t raw_produce(uint64_t id, uint32_t bins, size_t bin_bytes)
{
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    wire_write_array(&w, 4);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_PRODUCE);
    wire_write_uint(&w, id);
    wire_write_array(&w, 4);
    wire_write_str(&w, GOOD_TOPIC, (uint32_t)strlen(GOOD_TOPIC));
    wire_write_uint(&w, 0);
    wire_write_uint(&w, PRODUCE_TIMEOUT_MS);
    wire_write_array(&w, bins);
    uint8_t *filler = xmalloc(bin_bytes);
    /* Starts like a batch (fixarray 12, version 1) so a batch check would see a batch. */
    memset(filler, 0, bin_bytes);
    if (bin_bytes >= 2) {
        filler[0] = 0x9c;
        filler[1] = WIRE_BATCH_VERSION;
    }
    for (uint32_t i = 0; i < bins; i++)
        wire_write_bin(&w, filler, (uint32_t)bin_bytes);
    free(filler);
    if (w.err != WIRE_OK) {
        fprintf(stderr, "raftmq-badinput: TX buffer too small for %u x %zu bytes\n", bins,
                bin_bytes);
        exit(2);
    }
    return w.len;
}

static void case_frame_over_8mib(struct conn *c)
{
    /* One 9 MiB bin: the decoder may stop at the bin's own limit first. */
    uint64_t id = g_next_id++;
    size_t len = raw_produce(id, 1, 9u * WIRE_MIB);
    case_raw("frame_over_8mib_one_9mib_bin", c, g_tx, len, -1, id, WIRE_PRODUCE_RESP,
             ACCEPT(WIRE_ERR_FRAME_TOO_LARGE, WIRE_ERR_LIMIT_EXCEEDED));

    /* Nine 1 MiB bins: every field within its limit, only the frame is too large. */
    id = g_next_id++;
    len = raw_produce(id, 9, WIRE_MIB);
    case_raw("frame_over_8mib_nine_1mib_bins", c, g_tx, len, WIRE_ERR_FRAME_TOO_LARGE, id,
             WIRE_PRODUCE_RESP, ACCEPT(WIRE_ERR_FRAME_TOO_LARGE));
}

static void case_message_over_16mib(struct conn *main_conn)
{
    struct verdict v;
    verdict_begin(&v, "message_over_16mib_drops_connection");
    struct conn big;
    if (conn_open(&big) != 0) {
        verdict_fail(&v, "cannot open a DEALER: %s", zmq_strerror(errno));
        verdict_end(&v);
        return;
    }
    /* A METADATA request at the front, then filler up to 17 MiB. */
    struct wire_frame f;
    metadata_req(&f, NULL, 0);
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    encode_or_die(&w, &f);
    size_t len = 17u * WIRE_MIB;
    memset(g_tx + w.len, 0xc0, len - w.len); /* nils */
    if (conn_send(&big, g_tx, len) != 0) {
        verdict_fail(&v, "zmq_send of 17 MiB failed: %s", zmq_strerror(errno));
    } else {
        /*
         * ZeroMQ drops the connection (ZMQ_MAXMSGSIZE), so nothing should
         * come back. Only an answer is a failure; silence is not timed.
         */
        struct response *r = conn_await(&big, f.correlation_id, SILENCE_MS);
        if (r != NULL)
            verdict_fail(&v, "the broker processed a 17 MiB message (answered %s)",
                         err_name(r->f.error));
        response_free(r);
    }
    conn_close(&big);

    struct conn fresh;
    if (conn_open(&fresh) != 0) {
        verdict_fail(&v, "cannot open a second DEALER: %s", zmq_strerror(errno));
    } else {
        metadata_req(&f, NULL, 0);
        struct response *r = call(&fresh, &f, ANSWER_TIMEOUT_MS);
        check_answer(&v, "METADATA on a new connection", &fresh, r, f.correlation_id,
                     WIRE_METADATA_RESP, ACCEPT(WIRE_OK));
        response_free(r);
        conn_close(&fresh);
    }
    metadata_req(&f, NULL, 0);
    struct response *r = call(main_conn, &f, ANSWER_TIMEOUT_MS);
    check_answer(&v, "METADATA on the first connection", main_conn, r, f.correlation_id,
                 WIRE_METADATA_RESP, ACCEPT(WIRE_OK));
    response_free(r);
    verdict_end(&v);
}

/* ---- cases: several frames in one message ------------------------------------------------ */

static void case_two_requests(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "two_requests_in_one_message");
    struct wire_frame a, b;
    metadata_req(&a, NULL, 0);
    list_offsets_req(&b, GOOD_TOPIC, 0, -1);
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    encode_or_die(&w, &a);
    encode_or_die(&w, &b);
    if (conn_send(c, w.buf, w.len) != 0) {
        verdict_fail(&v, "zmq_send failed");
    } else {
        struct response *ra = conn_await(c, a.correlation_id, ANSWER_TIMEOUT_MS);
        struct response *rb = conn_await(c, b.correlation_id, ANSWER_TIMEOUT_MS);
        check_answer(&v, "METADATA (first frame)", c, ra, a.correlation_id, WIRE_METADATA_RESP,
                     ACCEPT(WIRE_OK));
        if (check_answer(&v, "LIST_OFFSETS (second frame)", c, rb, b.correlation_id,
                         WIRE_LIST_OFFSETS_RESP, ACCEPT(WIRE_OK)) &&
            rb->f.body.list_offsets_resp.offset != g_setup.high_watermark[0])
            verdict_fail(&v, "LIST_OFFSETS latest says %" PRIu64 ", set-up saw %" PRIu64,
                         rb->f.body.list_offsets_resp.offset, g_setup.high_watermark[0]);
        response_free(ra);
        response_free(rb);
    }
    verdict_end(&v);
}

static void case_valid_then_garbage(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "valid_frame_then_garbage_in_one_message");
    struct wire_frame a;
    metadata_req(&a, NULL, 0);
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    encode_or_die(&w, &a);
    wire_write_raw(&w, "\xc1\xc1\xc1", 3); /* c1 is never valid msgpack */
    if (conn_send(c, w.buf, w.len) != 0) {
        verdict_fail(&v, "zmq_send failed");
    } else {
        struct response *ra = conn_await(c, a.correlation_id, ANSWER_TIMEOUT_MS);
        struct response *rz = conn_await(c, 0, ANSWER_TIMEOUT_MS);
        check_answer(&v, "METADATA before the garbage", c, ra, a.correlation_id,
                     WIRE_METADATA_RESP, ACCEPT(WIRE_OK));
        check_answer(&v, "the garbage after it", c, rz, 0, WIRE_RESPONSE_BIT,
                     ACCEPT(WIRE_ERR_BAD_TYPE));
        response_free(ra);
        response_free(rz);
    }
    verdict_end(&v);
}

/*
 * A bad frame in the middle of a message: the frames before it are
 * answered, it gets its error, and the frames after it are dropped (their
 * end is unknown). Silence is only listened for, not timed: an answer to
 * a dropped frame fails the case, a late one could slip by unnoticed.
 */
static void case_bad_frame_mid_message(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "bad_frame_mid_message_drops_the_rest");
    struct wire_frame before, after;
    metadata_req(&before, NULL, 0);
    uint64_t bad_id = g_next_id++;
    metadata_req(&after, NULL, 0);
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    encode_or_die(&w, &before);
    size_t bad_at = w.len;
    w.len += raw_request(g_tx + bad_at, TX_BYTES - bad_at, 2, WIRE_METADATA, bad_id);
    encode_or_die(&w, &after);
    if (conn_send(c, w.buf, w.len) != 0) {
        verdict_fail(&v, "zmq_send failed");
    } else {
        struct response *r1 = conn_await(c, before.correlation_id, ANSWER_TIMEOUT_MS);
        struct response *r2 = conn_await(c, bad_id, ANSWER_TIMEOUT_MS);
        check_answer(&v, "the frame before", c, r1, before.correlation_id, WIRE_METADATA_RESP,
                     ACCEPT(WIRE_OK));
        check_answer(&v, "the version 2 frame", c, r2, bad_id, WIRE_METADATA_RESP,
                     ACCEPT(WIRE_ERR_UNSUPPORTED_VERSION));
        struct response *r3 = conn_await(c, after.correlation_id, SILENCE_MS);
        if (r3 != NULL)
            verdict_fail(&v, "the frame after the bad one was answered (%s): it should be dropped",
                         err_name(r3->f.error));
        response_free(r1);
        response_free(r2);
        response_free(r3);
    }
    verdict_end(&v);
}

/* Many requests in one message: every one answered, matched by id. */
static void case_pipelined(struct conn *c)
{
    enum { PIPELINED = 200 };
    struct verdict v;
    verdict_begin(&v, "pipelined_200_requests_in_one_message");
    uint64_t first = g_next_id;
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    for (unsigned i = 0; i < PIPELINED; i++) {
        struct wire_frame f;
        if (i % 2 == 0)
            list_offsets_req(&f, GOOD_TOPIC, i % GOOD_PARTITIONS, -1);
        else
            fetch_req(&f, GOOD_TOPIC, 0, 0, 0);
        encode_or_die(&w, &f);
    }
    if (conn_send(c, w.buf, w.len) != 0) {
        verdict_fail(&v, "zmq_send failed");
    } else {
        unsigned answered = 0;
        for (unsigned i = 0; i < PIPELINED; i++) {
            struct response *r = conn_await(c, first + i, ANSWER_TIMEOUT_MS);
            uint32_t type = i % 2 == 0 ? WIRE_LIST_OFFSETS_RESP : WIRE_FETCH_RESP;
            if (check_answer(&v, "a pipelined request", c, r, first + i, type, ACCEPT(WIRE_OK)))
                answered++;
            response_free(r);
            if (r == NULL)
                break; /* one deadline is enough to know */
        }
        if (answered != PIPELINED)
            verdict_fail(&v, "%u of %u pipelined requests answered OK", answered,
                         (unsigned)PIPELINED);
    }
    verdict_end(&v);
}

/* Decoding errors past the envelope: each answered with its code and the request's id. */
static void case_decode_errors(struct conn *c)
{
    struct wire_writer w;

    /* A partition number of 2^32 in a U32 field. */
    uint64_t id = g_next_id++;
    wire_writer_init(&w, g_tx, TX_BYTES);
    wire_write_array(&w, 4);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_LIST_OFFSETS);
    wire_write_uint(&w, id);
    wire_write_array(&w, 3);
    wire_write_str(&w, GOOD_TOPIC, (uint32_t)strlen(GOOD_TOPIC));
    wire_write_uint(&w, (uint64_t)UINT32_MAX + 1u);
    wire_write_int(&w, -1);
    case_raw("partition_over_u32_bad_value", c, w.buf, w.len, WIRE_ERR_BAD_VALUE, id,
             WIRE_LIST_OFFSETS_RESP, ACCEPT(WIRE_ERR_BAD_VALUE));

    /* A topics array claiming 4 billion elements in a few bytes. */
    id = g_next_id++;
    wire_writer_init(&w, g_tx, TX_BYTES);
    wire_write_array(&w, 4);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_METADATA);
    wire_write_uint(&w, id);
    wire_write_array(&w, 1);
    wire_write_raw(&w, "\xdd\xff\xff\xff\xff", 5);
    case_raw("huge_array_count_limit_exceeded", c, w.buf, w.len, WIRE_ERR_LIMIT_EXCEEDED, id,
             WIRE_METADATA_RESP, ACCEPT(WIRE_ERR_LIMIT_EXCEEDED));

    /* A trailing envelope element nested 17 arrays deep: one more than may be skipped. */
    id = g_next_id++;
    wire_writer_init(&w, g_tx, TX_BYTES);
    wire_write_array(&w, 5);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_METADATA);
    wire_write_uint(&w, id);
    wire_write_array(&w, 1);
    wire_write_array(&w, 0);
    for (unsigned i = 0; i < WIRE_NESTING_MAX + 1; i++)
        wire_write_array(&w, i < WIRE_NESTING_MAX ? 1 : 0);
    case_raw("nesting_17_deep_too_deep", c, w.buf, w.len, WIRE_ERR_TOO_DEEP, id,
             WIRE_METADATA_RESP, ACCEPT(WIRE_ERR_TOO_DEEP));
}

/* ---- cases: unknown topics and partitions ------------------------------------------------- */

static void case_unknown_topic(struct conn *c)
{
    uint8_t buf[4096];
    struct wire_bytes batch = build_batch(buf, sizeof(buf), "nope", 1);
    struct wire_frame f;
    produce_req(&f, "nope", 0, &batch, 1);
    case_request_error("unknown_topic_produce", c, &f, WIRE_ERR_UNKNOWN_TOPIC);
    fetch_req(&f, "nope", 0, 0, 0);
    case_request_error("unknown_topic_fetch", c, &f, WIRE_ERR_UNKNOWN_TOPIC);
    list_offsets_req(&f, "nope", 0, -1);
    case_request_error("unknown_topic_list_offsets", c, &f, WIRE_ERR_UNKNOWN_TOPIC);

    struct verdict v;
    verdict_begin(&v, "unknown_topic_metadata");
    struct wire_bytes topic = bytes_of("nope");
    metadata_req(&f, &topic, 1);
    struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
    if (check_answer(&v, "METADATA [nope]", c, r, f.correlation_id, WIRE_METADATA_RESP,
                     ACCEPT(WIRE_OK))) {
        const struct wire_metadata_resp *m = &r->f.body.metadata_resp;
        if (m->topics.count != 1)
            verdict_fail(&v, "%u topics in the answer, want exactly 1", m->topics.count);
        else if (!bytes_eq(m->topics.items[0].name, "nope"))
            verdict_fail(&v, "the answer describes \"%.*s\", want \"nope\"",
                         (int)m->topics.items[0].name.len,
                         (const char *)m->topics.items[0].name.ptr);
        else if (m->topics.items[0].error != WIRE_ERR_UNKNOWN_TOPIC)
            verdict_fail(&v, "topic error %s, want UNKNOWN_TOPIC",
                         err_name(m->topics.items[0].error));
        else if (m->topics.items[0].partitions.count != 0)
            verdict_fail(&v, "an unknown topic with %u partitions",
                         m->topics.items[0].partitions.count);
    }
    response_free(r);
    verdict_end(&v);
}

static void case_unknown_partition(struct conn *c)
{
    uint8_t buf[4096];
    struct wire_bytes batch = build_batch(buf, sizeof(buf), "p99", 1);
    struct wire_frame f;
    produce_req(&f, GOOD_TOPIC, 99, &batch, 1);
    case_request_error("unknown_partition_produce", c, &f, WIRE_ERR_UNKNOWN_PARTITION);
    fetch_req(&f, GOOD_TOPIC, 99, 0, 0);
    case_request_error("unknown_partition_fetch", c, &f, WIRE_ERR_UNKNOWN_PARTITION);
    list_offsets_req(&f, GOOD_TOPIC, 99, -1);
    case_request_error("unknown_partition_list_offsets", c, &f, WIRE_ERR_UNKNOWN_PARTITION);
}

/* ---- cases: topic administration ------------------------------------------------------------ */

static void case_create_and_delete(struct conn *c)
{
    static char long_name[251];
    memset(long_name, 'a', 250);
    long_name[250] = '\0';
    static const struct {
        const char *case_name;
        const char *topic;
    } bad_names[] = {
        {"create_topic_name_empty", ""},
        {"create_topic_name_slash", "a/b"},
        {"create_topic_name_dotdot", ".."},
        {"create_topic_name_250_chars", NULL}, /* long_name */
    };
    struct wire_frame f;
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        const char *name = bad_names[i].topic != NULL ? bad_names[i].topic : long_name;
        create_topic_req(&f, bytes_of(name), 1, 1);
        case_request_error(bad_names[i].case_name, c, &f, WIRE_ERR_INVALID_TOPIC_NAME);
    }
    create_topic_req(&f, bytes_of("zeroparts"), 0, 1);
    case_request_error("create_topic_zero_partitions", c, &f, WIRE_ERR_INVALID_PARTITIONS);
    create_topic_req(&f, bytes_of("rftwo"), 1, 2);
    case_request_error("create_topic_rf_2_on_1_node", c, &f, WIRE_ERR_INVALID_REPLICATION_FACTOR);
    create_topic_req(&f, bytes_of("rfzero"), 1, 0);
    case_request_error("create_topic_rf_0", c, &f, WIRE_ERR_INVALID_REPLICATION_FACTOR);
    create_topic_req(&f, bytes_of(GOOD_TOPIC), GOOD_PARTITIONS, 1);
    case_request_error("create_topic_exists", c, &f, WIRE_ERR_TOPIC_EXISTS);

    request_init(&f, WIRE_DELETE_TOPIC);
    f.body.delete_topic_req.name = bytes_of("nope");
    case_request_error("delete_topic_unknown", c, &f, WIRE_ERR_UNKNOWN_TOPIC);

    /* Bounds wire_validate_create_topic knows: more partitions than allowed, a bad retention. */
    create_topic_req(&f, bytes_of("toomany"), WIRE_PARTITIONS_MAX + 1u, 1);
    case_request_error("create_topic_too_many_partitions", c, &f, WIRE_ERR_INVALID_PARTITIONS);
    create_topic_req(&f, bytes_of("badretention"), 1, 1);
    f.body.create_topic_req.retention_ms = -5;
    case_request_error("create_topic_negative_retention", c, &f, WIRE_ERR_INVALID_REQUEST);
}

/* ---- cases: bad batches ----------------------------------------------------------------------- */

static void produce_one(const char *name, struct conn *c, struct wire_bytes batch, int want)
{
    struct wire_frame f;
    produce_req(&f, GOOD_TOPIC, 0, &batch, 1);
    case_request_error(name, c, &f, want);
}

static void case_bad_batches(struct conn *c)
{
    uint8_t good_buf[4096];
    uint8_t bad[4096];
    struct wire_bytes good = build_batch(good_buf, sizeof(good_buf), "bad", 4);

    /* A records byte flipped: only the CRC can tell. */
    memcpy(bad, good.ptr, good.len);
    bad[good.len - 1] ^= 0x01;
    produce_one("produce_bad_crc", c, (struct wire_bytes){bad, good.len}, WIRE_ERR_CORRUPT_BATCH);

    /* Codec 7 with a CRC that matches: only the codec is wrong. */
    memcpy(bad, good.ptr, good.len);
    bad[BATCH_CODEC_VALUE_AT] = 7;
    batch_fix_crc(bad, good.len);
    produce_one("produce_codec_7", c, (struct wire_bytes){bad, good.len},
                WIRE_ERR_UNSUPPORTED_CODEC);

    /* Cut short: the records bin claims more bytes than the batch has. */
    produce_one("produce_truncated_batch", c, (struct wire_bytes){good.ptr, good.len - 3},
                WIRE_ERR_CORRUPT_BATCH);

    /* records_bytes over WIRE_BATCH_RECORDS_BYTES_MAX, CRC fixed: a batch-level size error. */
    memcpy(bad, good.ptr, good.len);
    wire_store_be(bad + BATCH_RECORDS_BYTES_VALUE_AT, WIRE_BATCH_RECORDS_BYTES_MAX + 1u, 4);
    batch_fix_crc(bad, good.len);
    produce_one("produce_records_bytes_over_limit", c, (struct wire_bytes){bad, good.len},
                WIRE_ERR_BATCH_TOO_LARGE);

    /* A valid batch followed by a corrupt one: the request is refused as a whole. */
    struct wire_bytes pair[2] = {good, {bad, good.len}};
    memcpy(bad, good.ptr, good.len);
    bad[good.len - 1] ^= 0x01;
    struct wire_frame f;
    produce_req(&f, GOOD_TOPIC, 0, pair, 2);
    case_request_error("produce_valid_then_corrupt_batch", c, &f, WIRE_ERR_CORRUPT_BATCH);

    produce_req(&f, GOOD_TOPIC, 0, NULL, 0);
    case_request_error("produce_zero_batches", c, &f, WIRE_ERR_INVALID_REQUEST);

    /*
     * A batch over 1 MiB. The frame decoder bounds every bin of `batches`
     * by WIRE_BATCH_BYTES_MAX (LIMIT_EXCEEDED), and the batch check says
     * BATCH_TOO_LARGE: which of the two answers depends on where the
     * broker checks first, so both are accepted.
     */
    uint64_t id = g_next_id++;
    size_t len = raw_produce(id, 1, WIRE_BATCH_BYTES_MAX + 1u);
    case_raw("produce_batch_over_1mib", c, g_tx, len, WIRE_ERR_LIMIT_EXCEEDED, id, WIRE_PRODUCE_RESP,
             ACCEPT(WIRE_ERR_BATCH_TOO_LARGE, WIRE_ERR_LIMIT_EXCEEDED));

    /* A topic name sent as bin instead of str: a decoding error with the id. */
    id = g_next_id++;
    struct wire_writer w;
    wire_writer_init(&w, g_tx, TX_BYTES);
    wire_write_array(&w, 4);
    wire_write_uint(&w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(&w, WIRE_LIST_OFFSETS);
    wire_write_uint(&w, id);
    wire_write_array(&w, 3);
    wire_write_bin(&w, GOOD_TOPIC, (uint32_t)strlen(GOOD_TOPIC));
    wire_write_uint(&w, 0);
    wire_write_int(&w, -1);
    case_raw("topic_as_bin_bad_type", c, w.buf, w.len, WIRE_ERR_BAD_TYPE, id, WIRE_LIST_OFFSETS_RESP,
             ACCEPT(WIRE_ERR_BAD_TYPE));
}

/* ---- cases: fetch ranges ------------------------------------------------------------------------ */

static void case_fetch_ranges(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "fetch_beyond_high_watermark");
    struct wire_frame f;
    fetch_req(&f, GOOD_TOPIC, 0, g_setup.high_watermark[0] + 10, 0);
    struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
    if (check_answer(&v, "FETCH hw+10", c, r, f.correlation_id, WIRE_FETCH_RESP,
                     ACCEPT(WIRE_ERR_OFFSET_OUT_OF_RANGE))) {
        const struct wire_offset_range_detail *d = &r->f.body.offset_range_detail;
        if (d->log_start_offset != g_setup.log_start[0] ||
            d->high_watermark != g_setup.high_watermark[0])
            verdict_fail(&v, "detail {log_start_offset %" PRIu64 ", high_watermark %" PRIu64
                         "}, want {%" PRIu64 ", %" PRIu64 "}",
                         d->log_start_offset, d->high_watermark, g_setup.log_start[0],
                         g_setup.high_watermark[0]);
    }
    response_free(r);
    verdict_end(&v);

    /*
     * At the high watermark the broker long-polls for max_wait_ms and then
     * answers with no batches. The bound is liveness (it must answer at
     * all), far above 200 ms so a slow machine does not fail it.
     */
    verdict_begin(&v, "fetch_at_high_watermark_returns_empty");
    fetch_req(&f, GOOD_TOPIC, 0, g_setup.high_watermark[0], 200);
    r = call(c, &f, LONG_POLL_ANSWER_MS);
    if (check_answer(&v, "FETCH at hw, max_wait_ms 200", c, r, f.correlation_id, WIRE_FETCH_RESP,
                     ACCEPT(WIRE_OK))) {
        const struct wire_fetch_resp *fr = &r->f.body.fetch_resp;
        if (fr->batches.count != 0)
            verdict_fail(&v, "%u batches at the high watermark, want 0", fr->batches.count);
        if (fr->high_watermark != g_setup.high_watermark[0])
            verdict_fail(&v, "high_watermark %" PRIu64 ", want %" PRIu64, fr->high_watermark,
                         g_setup.high_watermark[0]);
        if (fr->log_start_offset != g_setup.log_start[0])
            verdict_fail(&v, "log_start_offset %" PRIu64 ", want %" PRIu64,
                         fr->log_start_offset, g_setup.log_start[0]);
    }
    response_free(r);
    verdict_end(&v);
}

/* ---- final checks ---------------------------------------------------------------------------------- */

static void case_state_unchanged(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "state_unchanged_by_bad_requests");
    struct cluster_state now;
    memset(&now, 0, sizeof(now));
    int rc = all_topics(c, &now.topics, NULL);
    if (rc != WIRE_OK) {
        verdict_fail(&v, "METADATA (all topics): %s", rc < 0 ? "no answer" : wire_err_name(rc));
    } else {
        bool same = now.topics.count == g_setup.topics.count && !now.topics.truncated;
        for (unsigned i = 0; same && i < g_setup.topics.count; i++)
            same = topic_list_has(&now.topics, g_setup.topics.names[i],
                                  g_setup.topics.partitions[i]);
        if (!same) {
            char before[512], after[512];
            topic_list_print(&g_setup.topics, before, sizeof(before));
            topic_list_print(&now.topics, after, sizeof(after));
            verdict_fail(&v, "topics were [%s] after set-up, now [%s]", before, after);
        }
    }
    for (uint32_t p = 0; p < GOOD_PARTITIONS; p++) {
        uint64_t start = 0, hw = 0;
        rc = list_offset(c, GOOD_TOPIC, p, -2, &start);
        if (rc == WIRE_OK)
            rc = list_offset(c, GOOD_TOPIC, p, -1, &hw);
        if (rc != WIRE_OK)
            verdict_fail(&v, "LIST_OFFSETS %s/%u: %s", GOOD_TOPIC, p,
                         rc < 0 ? "no answer" : wire_err_name(rc));
        else if (hw != g_setup.high_watermark[p] || start != g_setup.log_start[p])
            verdict_fail(&v, "%s/%u offsets [%" PRIu64 ", %" PRIu64 ") after the bad requests, "
                         "[%" PRIu64 ", %" PRIu64 ") after set-up: something was stored",
                         GOOD_TOPIC, p, start, hw, g_setup.log_start[p],
                         g_setup.high_watermark[p]);
    }
    verdict_end(&v);
}

/* Finds the record at `offset` in a FETCH answer's batches and compares its value. */
static void expect_record(struct verdict *v, const struct wire_fetch_resp *fr, uint64_t offset,
                          const char *value, uint8_t *scratch, size_t scratch_cap)
{
    for (uint32_t b = 0; b < fr->batches.count; b++) {
        struct wire_batch_header h;
        const char *why = NULL;
        int rc = wire_batch_validate(fr->batches.items[b].ptr, fr->batches.items[b].len, &h, &why);
        if (rc != WIRE_OK) {
            verdict_fail(v, "fetched batch %u does not validate: %s (%s)", b, wire_err_name(rc),
                         why != NULL ? why : "");
            return;
        }
        if (offset < h.base_offset || offset - h.base_offset >= h.record_count)
            continue;
        struct wire_record_iter it;
        rc = wire_record_iter_init(&it, &h, scratch, scratch_cap, &why);
        while (rc == WIRE_OK && wire_record_iter_has_next(&it)) {
            struct wire_record rec;
            rc = wire_record_iter_next(&it, &rec, &why);
            if (rc == WIRE_OK && rec.offset == offset) {
                if (!bytes_eq(rec.value, value))
                    verdict_fail(v, "record %" PRIu64 " has value \"%.*s\", want \"%s\"", offset,
                                 (int)rec.value.len, (const char *)rec.value.ptr, value);
                return;
            }
        }
        verdict_fail(v, "record %" PRIu64 " unreadable in its batch: %s (%s)", offset,
                     wire_err_name(rc), why != NULL ? why : "");
        return;
    }
    verdict_fail(v, "record %" PRIu64 " is in none of the %u fetched batches", offset,
                 fr->batches.count);
}

static void case_final_produce_fetch(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "final_produce_and_fetch");
    uint64_t hw = g_setup.high_watermark[0];
    uint8_t buf[4096];
    struct wire_bytes batch = build_batch(buf, sizeof(buf), "final", 2);
    struct wire_frame f;
    produce_req(&f, GOOD_TOPIC, 0, &batch, 1);
    struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
    if (check_answer(&v, "PRODUCE", c, r, f.correlation_id, WIRE_PRODUCE_RESP, ACCEPT(WIRE_OK))) {
        const struct wire_produce_resp *p = &r->f.body.produce_resp;
        if (p->base_offset != hw || p->last_offset != hw + 1)
            verdict_fail(&v, "2 records at high watermark %" PRIu64 " got base %" PRIu64
                         " last %" PRIu64,
                         hw, p->base_offset, p->last_offset);
    }
    response_free(r);
    if (v.failures == 0) {
        fetch_req(&f, GOOD_TOPIC, 0, hw, 0);
        r = call(c, &f, ANSWER_TIMEOUT_MS);
        if (check_answer(&v, "FETCH", c, r, f.correlation_id, WIRE_FETCH_RESP, ACCEPT(WIRE_OK))) {
            const struct wire_fetch_resp *fr = &r->f.body.fetch_resp;
            if (fr->high_watermark != hw + 2)
                verdict_fail(&v, "high_watermark %" PRIu64 " after the final produce, want %" PRIu64,
                             fr->high_watermark, hw + 2);
            uint8_t *scratch = xmalloc(WIRE_BATCH_RECORDS_BYTES_MAX);
            expect_record(&v, fr, hw, "final-0", scratch, WIRE_BATCH_RECORDS_BYTES_MAX);
            expect_record(&v, fr, hw + 1, "final-1", scratch, WIRE_BATCH_RECORDS_BYTES_MAX);
            free(scratch);
        }
        response_free(r);
    }
    verdict_end(&v);
}

/* ---- main ------------------------------------------------------------------------------------------- */

static void case_metadata_brokers(struct conn *c)
{
    struct verdict v;
    verdict_begin(&v, "metadata_lists_this_broker");
    struct wire_frame f;
    metadata_req(&f, NULL, 0);
    struct response *r = call(c, &f, ANSWER_TIMEOUT_MS);
    if (check_answer(&v, "METADATA", c, r, f.correlation_id, WIRE_METADATA_RESP, ACCEPT(WIRE_OK))) {
        const struct wire_metadata_resp *m = &r->f.body.metadata_resp;
        if (m->controller_id != 1)
            verdict_fail(&v, "controller_id %u on a single-node cluster of node 1",
                         m->controller_id);
        if (m->brokers.count != 1)
            verdict_fail(&v, "%u brokers on a single-node cluster", m->brokers.count);
        else if (m->brokers.items[0].node_id != 1 ||
                 !bytes_eq(m->brokers.items[0].client_address, g_endpoint))
            verdict_fail(&v, "broker %u at \"%.*s\", want 1 at \"%s\"",
                         m->brokers.items[0].node_id,
                         (int)m->brokers.items[0].client_address.len,
                         (const char *)m->brokers.items[0].client_address.ptr, g_endpoint);
    }
    response_free(r);
    verdict_end(&v);
}

int main(int argc, char **argv)
{
    if (argc != 2 || strncmp(argv[1], "tcp://", 6) != 0) {
        fprintf(stderr, "usage: raftmq-badinput tcp://HOST:CLIENT_PORT\n");
        return 2;
    }
    g_endpoint = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_tx = xmalloc(TX_BYTES);
    g_zmq = zmq_ctx_new();
    struct conn c;
    if (g_zmq == NULL || conn_open(&c) != 0) {
        fprintf(stderr, "raftmq-badinput: cannot connect to %s: %s\n", g_endpoint,
                zmq_strerror(errno));
        return 2;
    }

    if (setup(&c)) {
        case_metadata_brokers(&c);
        case_garbage(&c);
        case_truncated(&c);
        case_unknown_type(&c);
        case_version_2(&c);
        case_response_frame(&c);
        case_peer_frame(&c);
        case_frame_over_8mib(&c);
        case_message_over_16mib(&c);
        case_two_requests(&c);
        case_valid_then_garbage(&c);
        case_bad_frame_mid_message(&c);
        case_pipelined(&c);
        case_decode_errors(&c);
        case_unknown_topic(&c);
        case_unknown_partition(&c);
        case_create_and_delete(&c);
        case_bad_batches(&c);
        case_fetch_ranges(&c);
        case_state_unchanged(&c);
        case_final_produce_fetch(&c);
    }
    if (c.undecodable > 0)
        printf("# %u undecodable response message(s); first: %s\n", c.undecodable,
               c.undecodable_why);

    conn_close(&c);
    zmq_ctx_term(g_zmq);
    free(g_tx);
    printf("# badinput: %u passed, %u failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
