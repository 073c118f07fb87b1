/* The producer half of libraftmq (wire/raftmq.h): per-partition batching, pipelining, retries, idempotence. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "producer_internal.h"
#include "wire/batch.h"
#include "wire/byteorder.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/crc32c.h"
#include "wire/raftmq.h"
#include "wire/tool.h"
#include "wire/validate.h"

/*
 * How a record travels (docs/client.md, "Producer"):
 *
 *   send -> the partition's open batch (encoded straight into the batch
 *   builder's buffer) -> sealed (full, linger expired, flush) -> queued in
 *   the partition's batch queue -> PRODUCE (one batch per request) ->
 *   done -> delivery reports, from the head of the queue only.
 *
 * Ordering. A partition's queue is in sequence order and a batch is only
 * ever sent when every batch before it is in flight or done (`cursor` is
 * the earliest batch waiting to be sent). A batch whose attempt fails in a
 * retriable way goes back to waiting and the cursor moves back to it, so
 * k is resent before k+1, k+2, ... With idempotence the broker refuses a
 * batch whose predecessor is missing (OUT_OF_ORDER_SEQUENCE), which sends
 * it back to waiting too: up to 5 requests in flight never reorder. Without
 * idempotence only one request per partition is in flight.
 *
 * Reports are made from the head of the queue while its batch is done, so
 * a partition's reports come in offset order even when a later batch's
 * answer arrives first (a dropped answer to k, then k+1's OK).
 *
 * Producer id resets (UNKNOWN_PRODUCER, or OUT_OF_ORDER_SEQUENCE for the
 * earliest unfinished batch: a gap left by a batch that failed for good):
 * sending stops, the answers in flight are collected, a new id is asked
 * for and every unfinished batch is renumbered from 0, in queue order.
 *
 * Memory: batch buffers come from a small pool of equal-sized buffers;
 * per-record state is one {opaque, timestamp} slot in a per-partition ring.
 * Nothing is allocated per record.
 */

#define PRODUCER_BATCH_BYTES_DEFAULT (128u * WIRE_KIB)
#define PRODUCER_BATCH_BYTES_MIN 1024u
#define PRODUCER_LINGER_MS_DEFAULT 5u
#define PRODUCER_LINGER_MS_MAX 600000u
#define PRODUCER_IN_FLIGHT_DEFAULT 5u
#define PRODUCER_IN_FLIGHT_MAX 5u
#define PRODUCER_REQUEST_TIMEOUT_MS_DEFAULT 10000u
#define PRODUCER_DELIVERY_TIMEOUT_MS_DEFAULT 120000u
#define PRODUCER_TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define PRODUCER_BUFFER_BYTES_DEFAULT (64ull * WIRE_MIB)
/* Extra wait for an answer beyond the broker's own commit timeout. */
#define PRODUCER_ANSWER_MARGIN_MS 2000u
#define PRODUCER_BACKOFF_MS_MIN 50u
#define PRODUCER_BACKOFF_MS_MAX 1000u
/* Metadata refreshes after failures: at most this often. */
#define PRODUCER_REFRESH_INTERVAL_MS 100
/* One refresh waits at most this long (it runs inside poll). */
#define PRODUCER_REFRESH_MS_MAX 1000u
/*
 * A partition whose earliest request in flight has had no answer for this
 * long may have a stalled leader (a frozen process or VM): the producer
 * refreshes the topic's metadata and, if another broker leads the partition
 * now, abandons the requests and resends them there (docs/client.md,
 * "A stalled leader"). A commit normally takes milliseconds and rarely more
 * than a few hundred under load, while the replicas elect a new leader
 * about half a second after the leader froze: at one second a healthy but
 * slow leader costs only a metadata refresh (nothing is abandoned while
 * the metadata still names it), and a frozen one is left soon after its
 * successor is known, instead of at request_timeout_ms.
 */
#define PRODUCER_STALL_MS 1000
/* While a partition stays stalled under the same leader, its topic's
 * metadata is asked again at most this often. */
#define PRODUCER_STALL_RECHECK_MS 250
/* How often the partitions are scanned for a stall: off the per-poll path,
 * fine enough for a one-second threshold. */
#define PRODUCER_STALL_SCAN_MS 100
/* A topic the cluster calls unknown for this long is believed gone. */
#define PRODUCER_UNKNOWN_TOPIC_GRACE_MS 500
/* Requests outstanding on the connection core, all partitions together. */
#define PRODUCER_CLIENT_IN_FLIGHT 1024u
/* A send waits at most this long for a connection to come up (it then counts as a retriable failure). */
#define PRODUCER_CONNECT_MS 200u
#define PRODUCER_POOL_MAX 64u
#define PRODUCER_TOPICS_MAX WIRE_CLIENT_TOPICS_MAX
#define PRODUCER_MESSAGE_BYTES 320u
#define PRODUCER_ERROR_BYTES 512u

/* Batch header offsets of the producer fields and the CRC (wire/batch.h): the value follows the marker byte. */
#define BATCH_AT_CRC 12u
#define BATCH_AT_PRODUCER_ID 42u
#define BATCH_AT_PRODUCER_EPOCH 51u
#define BATCH_AT_BASE_SEQUENCE 54u

enum batch_state {
    BATCH_WAITING,   /* to be sent (first time or again) once the cursor reaches it */
    BATCH_IN_FLIGHT, /* one PRODUCE outstanding */
    BATCH_DONE,      /* final: error and base_offset set; reported when at the head */
};

/* What a delivery report needs of a record besides its batch. */
struct record_slot {
    void *opaque;
    int64_t timestamp;
};

struct ppart;

struct pbatch {
    struct pbatch *next; /* in the partition's queue */
    struct ppart *part;
    uint64_t index; /* position in the partition's queue: increasing */
    uint8_t *mem;   /* the batch lives at mem[0..bytes.len) */
    bool mem_pooled;
    struct wire_bytes bytes;
    uint32_t record_count;
    uint64_t buffer_bytes; /* counted against buffer_bytes_max */
    uint64_t kv_bytes;
    int64_t deadline_ms; /* delivery timeout of its first record */
    int64_t retry_at_ms;
    uint32_t failures; /* attempts that failed: the backoff exponent */
    uint32_t sends;
    int64_t sent_at_ms; /* the attempt in flight: when it was sent */
    uint32_t sent_to;   /* ...and the node the cache named leader then (0: none known) */
    enum batch_state state;
    bool outcome_unknown; /* some attempt may have been committed */
    int32_t base_sequence;
    int error;
    int64_t base_offset;
    char message[PRODUCER_MESSAGE_BYTES];
};

struct ptopic;

struct ppart {
    struct ptopic *topic;
    uint32_t id;
    /* The open batch: records are encoded into open_mem by the builder,
     * which points into itself and therefore never moves (parts arrays
     * are allocated once per topic). */
    struct wire_batch_builder builder;
    uint8_t *open_mem; /* NULL: no open batch */
    size_t open_mem_cap;
    bool open_pooled;
    uint64_t open_buffer_bytes, open_kv_bytes;
    int64_t open_since_ms;
    /* Sealed batches, in sequence order. */
    struct pbatch *head, *tail;
    struct pbatch *cursor; /* earliest batch that may be waiting; NULL: none */
    uint64_t next_index;
    uint32_t in_flight;
    int32_t next_sequence;
    /* Records accepted and not yet reported, oldest first (sealed batches, then the open one). */
    struct record_slot *ring;
    uint32_t ring_cap; /* a power of two */
    uint32_t ring_head, ring_len;
};

struct ptopic {
    char *name;
    struct wire_bytes name_bytes;
    uint32_t partition_count;
    struct ppart *parts;
    uint32_t sticky; /* partition of records without a key */
    bool refresh_wanted;
    bool gone; /* the cluster says it does not exist (any more) */
    int64_t unknown_since_ms;
    int64_t stall_refresh_ms; /* when a stalled partition last asked for a refresh */
};

struct raftmq_producer {
    struct raftmq_producer_config cfg;
    char *brokers;
    uint32_t in_flight_limit;
    enum wire_codec codec;
    size_t open_cap;    /* builder capacity of a pooled buffer */
    size_t pool_bytes;  /* size of every pooled buffer */
    struct wire_client *client;

    struct ptopic **topics;
    uint32_t topic_count;
    struct ptopic *last_topic;

    int64_t producer_id; /* -1: none yet */
    int16_t producer_epoch;
    bool pid_reset;      /* a new id is needed: sending stops until it is in place */
    /* ...because a partition forgot this producer (UNKNOWN_PRODUCER): an
     * attempt whose outcome is unknown may be in its log, unrecognisable. */
    bool pid_forgotten;
    int64_t pid_retry_at_ms;
    uint32_t pid_failures;

    uint64_t pending_records;
    uint64_t pending_bytes;
    uint32_t in_flight_total;
    bool refresh_wanted;
    int64_t last_refresh_ms;
    int64_t stall_scan_at_ms; /* the next watch_stalls scan, while requests are in flight */
    bool reports_ready;
    bool in_callback;
    bool closing; /* inside close: sends are refused */
    uint32_t drop_responses;

    uint8_t *pool[PRODUCER_POOL_MAX];
    uint32_t pool_count;

    struct raftmq_producer_stats stats;
    char last_error[PRODUCER_ERROR_BYTES];
};

/* ---- small helpers ------------------------------------------------------------------ */

static int set_error(raftmq_producer *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(raftmq_producer *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
    va_end(ap);
    return code;
}

static void config_error(char *errbuf, size_t errbuf_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void config_error(char *errbuf, size_t errbuf_len, const char *fmt, ...)
{
    if (errbuf == NULL || errbuf_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errbuf_len, fmt, ap);
    va_end(ap);
}

/* snprintf for messages that may be cut short on purpose (they are bounded, and only read by people). */
static void msgf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void msgf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static uint32_t backoff_ms(uint32_t failures)
{
    uint32_t ms = PRODUCER_BACKOFF_MS_MIN;
    for (uint32_t i = 1; i < failures && ms < PRODUCER_BACKOFF_MS_MAX; i++)
        ms *= 2;
    return ms < PRODUCER_BACKOFF_MS_MAX ? ms : PRODUCER_BACKOFF_MS_MAX;
}

/* "NAME: message" of a response error. */
static void response_error(const struct wire_frame *f, char *buf, size_t cap)
{
    uint32_t len = f->error_message.len < 200 ? f->error_message.len : 200;
    if (len > 0)
        msgf(buf, cap, "%s: %.*s", wire_err_name((int)f->error), (int)len,
                 (const char *)f->error_message.ptr);
    else
        msgf(buf, cap, "%s", wire_err_name((int)f->error));
}

/* ---- buffers ------------------------------------------------------------------------ */

static uint8_t *pool_get(raftmq_producer *p)
{
    if (p->pool_count > 0)
        return p->pool[--p->pool_count];
    return malloc(p->pool_bytes);
}

static void pool_put(raftmq_producer *p, uint8_t *mem)
{
    if (mem == NULL)
        return;
    if (p->pool_count < PRODUCER_POOL_MAX)
        p->pool[p->pool_count++] = mem;
    else
        free(mem);
}

static void mem_release(raftmq_producer *p, uint8_t *mem, bool pooled)
{
    if (pooled)
        pool_put(p, mem);
    else
        free(mem);
}

/* ---- config ------------------------------------------------------------------------- */

void raftmq_producer_config_init(struct raftmq_producer_config *config)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof(*config));
    config->batch_bytes_max = PRODUCER_BATCH_BYTES_DEFAULT;
    config->linger_ms = PRODUCER_LINGER_MS_DEFAULT;
    config->in_flight_per_partition = PRODUCER_IN_FLIGHT_DEFAULT;
    config->compression = RAFTMQ_COMPRESSION_LZ4;
    config->idempotence = true;
    config->request_timeout_ms = PRODUCER_REQUEST_TIMEOUT_MS_DEFAULT;
    config->delivery_timeout_ms = PRODUCER_DELIVERY_TIMEOUT_MS_DEFAULT;
    config->buffer_bytes_max = PRODUCER_BUFFER_BYTES_DEFAULT;
}

/* Checks every field; on error fills errbuf with the field's name and what is wrong. */
static int config_check(const struct raftmq_producer_config *c, char *errbuf, size_t errbuf_len)
{
    char endpoints[WIRE_CLIENT_BOOTSTRAP_MAX][WIRE_STRING_BYTES_MAX + 1];
    uint32_t endpoint_count;
    if (c->brokers == NULL || c->brokers[0] == '\0') {
        config_error(errbuf, errbuf_len, "brokers: no broker address given");
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (wire_client_split_endpoints(c->brokers, endpoints, WIRE_CLIENT_BOOTSTRAP_MAX,
                                    &endpoint_count) != WIRE_OK) {
        config_error(errbuf, errbuf_len,
                     "brokers: '%.100s' is not a list of at most %u endpoints of at most %u bytes",
                     c->brokers, WIRE_CLIENT_BOOTSTRAP_MAX, WIRE_STRING_BYTES_MAX);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (c->batch_bytes_max < PRODUCER_BATCH_BYTES_MIN || c->batch_bytes_max > WIRE_BATCH_BYTES_MAX) {
        config_error(errbuf, errbuf_len, "batch_bytes_max: %" PRIu32 " is outside %u..%u",
                     c->batch_bytes_max, PRODUCER_BATCH_BYTES_MIN, WIRE_BATCH_BYTES_MAX);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (c->linger_ms > PRODUCER_LINGER_MS_MAX) {
        config_error(errbuf, errbuf_len, "linger_ms: %" PRIu32 " is over %u", c->linger_ms,
                     PRODUCER_LINGER_MS_MAX);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (c->in_flight_per_partition < 1 || c->in_flight_per_partition > PRODUCER_IN_FLIGHT_MAX) {
        config_error(errbuf, errbuf_len, "in_flight_per_partition: %" PRIu32 " is outside 1..%u",
                     c->in_flight_per_partition, PRODUCER_IN_FLIGHT_MAX);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (c->compression != RAFTMQ_COMPRESSION_NONE && c->compression != RAFTMQ_COMPRESSION_LZ4) {
        config_error(errbuf, errbuf_len, "compression: %d is neither NONE nor LZ4",
                     (int)c->compression);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (c->request_timeout_ms < 1 || c->request_timeout_ms > PRODUCER_TIMEOUT_MS_MAX) {
        config_error(errbuf, errbuf_len, "request_timeout_ms: %" PRIu32 " is outside 1..%u",
                     c->request_timeout_ms, PRODUCER_TIMEOUT_MS_MAX);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (c->delivery_timeout_ms < 1 || c->delivery_timeout_ms > PRODUCER_TIMEOUT_MS_MAX) {
        config_error(errbuf, errbuf_len, "delivery_timeout_ms: %" PRIu32 " is outside 1..%u",
                     c->delivery_timeout_ms, PRODUCER_TIMEOUT_MS_MAX);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (c->buffer_bytes_max < c->batch_bytes_max) {
        config_error(errbuf, errbuf_len,
                     "buffer_bytes_max: %" PRIu64 " is smaller than batch_bytes_max (%" PRIu32 ")",
                     c->buffer_bytes_max, c->batch_bytes_max);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    return RAFTMQ_OK;
}

int raftmq_producer_new(const struct raftmq_producer_config *config, raftmq_producer **out,
                        char *errbuf, size_t errbuf_len)
{
    if (errbuf != NULL && errbuf_len > 0)
        errbuf[0] = '\0';
    if (out == NULL) {
        config_error(errbuf, errbuf_len, "out: NULL");
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    *out = NULL;
    if (config == NULL) {
        config_error(errbuf, errbuf_len, "config: NULL");
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    int rc = config_check(config, errbuf, errbuf_len);
    if (rc != RAFTMQ_OK)
        return rc;
    raftmq_producer *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        config_error(errbuf, errbuf_len, "out of memory");
        return RAFTMQ_ERR_UNKNOWN;
    }
    p->cfg = *config;
    p->brokers = strdup(config->brokers);
    p->cfg.brokers = p->brokers;
    p->in_flight_limit = config->idempotence ? config->in_flight_per_partition : 1u;
    p->codec = config->compression == RAFTMQ_COMPRESSION_LZ4 ? WIRE_CODEC_LZ4 : WIRE_CODEC_NONE;
    /* A batch holds batch_bytes_max of records; uncompressed it must still fit the batch limit. */
    p->open_cap = WIRE_BATCH_HEADER_BYTES + (size_t)config->batch_bytes_max;
    if (p->open_cap > WIRE_BATCH_BYTES_MAX)
        p->open_cap = WIRE_BATCH_BYTES_MAX;
    /* One size serves both the builder's buffer and LZ4's output. */
    p->pool_bytes = wire_batch_lz4_buf_bytes(p->open_cap - WIRE_BATCH_HEADER_BYTES);
    p->producer_id = -1;
    p->producer_epoch = -1;
    struct wire_client_config cc = {
        .bootstrap = config->brokers,
        .attempt_timeout_ms = config->request_timeout_ms < PRODUCER_REFRESH_MS_MAX
                                  ? config->request_timeout_ms
                                  : PRODUCER_REFRESH_MS_MAX,
        .connect_timeout_ms = PRODUCER_CONNECT_MS,
        .in_flight_max = PRODUCER_CLIENT_IN_FLIGHT,
    };
    rc = p->brokers != NULL ? wire_client_open(&cc, &p->client) : WIRE_ERR_UNKNOWN;
    if (rc != WIRE_OK) {
        config_error(errbuf, errbuf_len, "cannot open the connection core: %s", wire_strerror(rc));
        free(p->brokers);
        free(p);
        return rc == WIRE_ERR_INVALID_REQUEST ? RAFTMQ_ERR_INVALID_REQUEST : RAFTMQ_ERR_UNKNOWN;
    }
    *out = p;
    return RAFTMQ_OK;
}

/* ---- topics ---------------------------------------------------------------------------- */

static struct ptopic *topic_find(raftmq_producer *p, const char *name)
{
    if (p->last_topic != NULL && strcmp(p->last_topic->name, name) == 0)
        return p->last_topic;
    for (uint32_t i = 0; i < p->topic_count; i++) {
        if (strcmp(p->topics[i]->name, name) == 0) {
            p->last_topic = p->topics[i];
            return p->topics[i];
        }
    }
    return NULL;
}

static struct ptopic *topic_add(raftmq_producer *p, const char *name, uint32_t partitions)
{
    if (p->topic_count >= PRODUCER_TOPICS_MAX || partitions == 0)
        return NULL;
    struct ptopic **grown = realloc(p->topics, (p->topic_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    p->topics = grown;
    struct ptopic *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->name = strdup(name);
    t->parts = calloc(partitions, sizeof(*t->parts));
    if (t->name == NULL || t->parts == NULL) {
        free(t->name);
        free(t->parts);
        free(t);
        return NULL;
    }
    t->name_bytes = (struct wire_bytes){(const uint8_t *)t->name, (uint32_t)strlen(t->name)};
    t->partition_count = partitions;
    t->unknown_since_ms = -1;
    t->stall_refresh_ms = INT64_MIN / 2; /* long ago */
    for (uint32_t i = 0; i < partitions; i++) {
        t->parts[i].topic = t;
        t->parts[i].id = i;
    }
    p->topics[p->topic_count++] = t;
    p->last_topic = t;
    return t;
}

/* The topic's local state, looking it up in the cluster on first use (may wait). */
static int topic_get(raftmq_producer *p, const char *name, struct ptopic **out)
{
    *out = topic_find(p, name);
    if (*out != NULL) {
        if ((*out)->gone)
            return set_error(p, RAFTMQ_ERR_UNKNOWN_TOPIC, "topic '%s' does not exist (any more)",
                             name);
        return RAFTMQ_OK;
    }
    size_t len = strlen(name);
    if (!wire_topic_name_valid(name, len))
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST,
                         "invalid topic name '%.*s' (1..%u characters of A-Z a-z 0-9 . _ -)",
                         (int)(len < 64 ? len : 64), name, WIRE_TOPIC_NAME_BYTES_MAX);
    uint32_t count = 0;
    if (wire_client_partition_count(p->client, name, &count) != WIRE_OK || count == 0) {
        int rc = tool_topic_metadata(p->client, name, p->cfg.request_timeout_ms, &count);
        if (rc == WIRE_ERR_UNKNOWN_TOPIC)
            return set_error(p, RAFTMQ_ERR_UNKNOWN_TOPIC, "unknown topic '%s'", name);
        if (rc != WIRE_OK)
            return set_error(p, rc, "metadata of topic '%s': %s", name,
                             wire_client_error(p->client));
    }
    *out = topic_add(p, name, count);
    if (*out == NULL)
        return set_error(p, RAFTMQ_ERR_UNKNOWN, "out of memory (topic '%s')", name);
    return RAFTMQ_OK;
}

/* ---- producer id ------------------------------------------------------------------------ */

/* INIT_PRODUCER_ID, blocking for up to timeout_ms (routed to the controller). */
static int init_producer_id(raftmq_producer *p, uint32_t timeout_ms)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.type = WIRE_INIT_PRODUCER_ID;
    int rc = wire_client_request(p->client, &req, timeout_ms, 0, &resp);
    if (rc != WIRE_OK)
        return set_error(p, rc, "INIT_PRODUCER_ID: %s", wire_client_error(p->client));
    if (resp.error != WIRE_OK) {
        char why[256];
        response_error(&resp, why, sizeof(why));
        return set_error(p, (int)resp.error, "INIT_PRODUCER_ID refused: %s", why);
    }
    const struct wire_init_producer_id_resp *r = &resp.body.init_producer_id_resp;
    if (r->producer_id < 1 || r->producer_epoch > INT16_MAX)
        return set_error(p, RAFTMQ_ERR_UNKNOWN,
                         "INIT_PRODUCER_ID answered an impossible id %" PRId64 " epoch %" PRIu32,
                         r->producer_id, r->producer_epoch);
    p->producer_id = r->producer_id;
    p->producer_epoch = (int16_t)r->producer_epoch;
    return RAFTMQ_OK;
}

static int32_t sequence_after(int32_t base, uint32_t count)
{
    return (int32_t)(((uint32_t)base + count) & (uint32_t)INT32_MAX);
}

/* Rewrites a finished batch's producer fields and its CRC (they sit at fixed offsets). */
static void batch_restamp(struct pbatch *b, int64_t producer_id, int16_t epoch, int32_t sequence)
{
    uint8_t *m = b->mem;
    wire_store_be(m + BATCH_AT_PRODUCER_ID, (uint64_t)producer_id, 8);
    wire_store_be(m + BATCH_AT_PRODUCER_EPOCH, (uint16_t)epoch, 2);
    wire_store_be(m + BATCH_AT_BASE_SEQUENCE, (uint32_t)sequence, 4);
    uint32_t crc = wire_crc32c(0, m + WIRE_BATCH_CRC_START, b->bytes.len - WIRE_BATCH_CRC_START);
    wire_store_be(m + BATCH_AT_CRC, crc, 4);
    b->base_sequence = sequence;
}

/* ---- the batch queue --------------------------------------------------------------------- */

static void batch_done(raftmq_producer *p, struct pbatch *b, int error, int64_t base_offset,
                       const char *message)
{
    b->state = BATCH_DONE;
    b->error = error;
    b->base_offset = error == RAFTMQ_OK ? base_offset : -1;
    if (message != NULL)
        msgf(b->message, sizeof(b->message), "%s", message);
    else if (error == RAFTMQ_OK)
        b->message[0] = '\0';
    p->reports_ready = true;
}

/* Gives up on a batch whose delivery timeout passed. */
static void batch_expire(raftmq_producer *p, struct pbatch *b)
{
    char why[PRODUCER_MESSAGE_BYTES];
    msgf(why, sizeof(why), "%.60s/%" PRIu32 ": delivery timeout after %" PRIu32 " attempts%s (last: %.200s)",
             b->part->topic->name, b->part->id, b->sends,
             b->outcome_unknown ? ", outcome unknown" : "",
             b->message[0] != '\0' ? b->message : "never sent");
    batch_done(p, b, RAFTMQ_ERR_TIMEOUT, -1, why);
}

/* A retriable failure: back to waiting (resent in queue order), after a backoff unless at_once. */
static void batch_retry(raftmq_producer *p, struct pbatch *b, bool at_once, const char *why)
{
    struct ppart *pp = b->part;
    int64_t now = wire_mono_ms();
    b->failures++;
    msgf(b->message, sizeof(b->message), "%s", why);
    if (now >= b->deadline_ms) {
        batch_expire(p, b);
        return;
    }
    b->state = BATCH_WAITING;
    b->retry_at_ms = at_once ? now : now + backoff_ms(b->failures);
    if (b->retry_at_ms > b->deadline_ms)
        b->retry_at_ms = b->deadline_ms;
    if (pp->cursor == NULL || b->index < pp->cursor->index)
        pp->cursor = b;
}

/* The earliest batch of the partition that is not done, or NULL. */
static struct pbatch *first_unfinished(const struct ppart *pp)
{
    for (struct pbatch *b = pp->head; b != NULL; b = b->next)
        if (b->state != BATCH_DONE)
            return b;
    return NULL;
}

static void ring_push(struct ppart *pp, void *opaque, int64_t timestamp)
{
    uint32_t at = (pp->ring_head + pp->ring_len) & (pp->ring_cap - 1);
    pp->ring[at].opaque = opaque;
    pp->ring[at].timestamp = timestamp;
    pp->ring_len++;
}

/* Room for one more record slot; doubles the ring (amortised: no per-record allocation). */
static bool ring_reserve(struct ppart *pp)
{
    if (pp->ring_len < pp->ring_cap)
        return true;
    uint32_t cap = pp->ring_cap == 0 ? 256u : pp->ring_cap * 2u;
    if (cap == 0)
        return false;
    struct record_slot *grown = malloc((size_t)cap * sizeof(*grown));
    if (grown == NULL)
        return false;
    for (uint32_t i = 0; i < pp->ring_len; i++)
        grown[i] = pp->ring[(pp->ring_head + i) & (pp->ring_cap - 1)];
    free(pp->ring);
    pp->ring = grown;
    pp->ring_cap = cap;
    pp->ring_head = 0;
    return true;
}

/*
 * Seals the partition's open batch into its queue. With idempotence it gets
 * the next sequence number here, so a batch's bytes never change between
 * attempts (except when a producer id reset renumbers it).
 */
static int seal(raftmq_producer *p, struct ppart *pp)
{
    if (pp->open_mem == NULL)
        return RAFTMQ_OK;
    uint32_t count = wire_batch_builder_count(&pp->builder);
    if (count == 0)
        return RAFTMQ_OK;
    struct pbatch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return set_error(p, RAFTMQ_ERR_UNKNOWN, "out of memory sealing a batch");
    b->part = pp;
    b->record_count = count;
    b->buffer_bytes = pp->open_buffer_bytes;
    b->kv_bytes = pp->open_kv_bytes;
    b->deadline_ms = pp->open_since_ms + p->cfg.delivery_timeout_ms;
    b->base_sequence = -1;
    if (p->cfg.idempotence && p->producer_id >= 1) {
        b->base_sequence = pp->next_sequence;
        pp->next_sequence = sequence_after(pp->next_sequence, count);
        wire_batch_builder_set_producer(&pp->builder, p->producer_id, p->producer_epoch,
                                        b->base_sequence);
    }

    uint8_t *lz4_mem = NULL;
    size_t lz4_cap = 0;
    bool lz4_pooled = false;
    if (p->codec == WIRE_CODEC_LZ4) {
        size_t need = wire_batch_lz4_buf_bytes(pp->builder.records.len);
        lz4_pooled = need <= p->pool_bytes;
        lz4_mem = lz4_pooled ? pool_get(p) : malloc(need);
        lz4_cap = lz4_pooled ? p->pool_bytes : need;
        /* Without the buffer the batch simply goes out uncompressed. */
        if (lz4_mem == NULL)
            lz4_cap = 0;
    }
    struct wire_bytes out;
    int rc;
    if (p->codec == WIRE_CODEC_LZ4 && lz4_mem == NULL) {
        pp->builder.header.codec = WIRE_CODEC_NONE;
        rc = wire_batch_builder_finish(&pp->builder, NULL, 0, &out);
    } else {
        rc = wire_batch_builder_finish(&pp->builder, lz4_mem, lz4_cap, &out);
    }
    if (rc == WIRE_OK && lz4_mem != NULL && out.ptr == lz4_mem) {
        mem_release(p, pp->open_mem, pp->open_pooled);
        b->mem = lz4_mem;
        b->mem_pooled = lz4_pooled;
    } else {
        if (lz4_mem != NULL)
            mem_release(p, lz4_mem, lz4_pooled);
        b->mem = pp->open_mem;
        b->mem_pooled = pp->open_pooled;
    }
    pp->open_mem = NULL;
    pp->open_buffer_bytes = 0;
    pp->open_kv_bytes = 0;
    b->index = pp->next_index++;
    if (pp->tail != NULL)
        pp->tail->next = b;
    else
        pp->head = b;
    pp->tail = b;
    if (rc == WIRE_OK) {
        b->bytes = out;
        b->state = BATCH_WAITING;
        if (pp->cursor == NULL)
            pp->cursor = b;
    } else {
        char why[PRODUCER_MESSAGE_BYTES];
        msgf(why, sizeof(why), "%s/%" PRIu32 ": the batch could not be finished: %s",
                 pp->topic->name, pp->id, wire_strerror(rc));
        batch_done(p, b, rc, -1, why);
    }
    /* Records without a key move on once their partition's batch is sealed. */
    struct ptopic *t = pp->topic;
    if (t->sticky == pp->id)
        t->sticky = (t->sticky + 1) % t->partition_count;
    return RAFTMQ_OK;
}

static void seal_all(raftmq_producer *p)
{
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        for (uint32_t k = 0; k < t->partition_count; k++)
            seal(p, &t->parts[k]);
    }
}

/* ---- sending ----------------------------------------------------------------------------- */

static void want_refresh(raftmq_producer *p, struct ptopic *t)
{
    t->refresh_wanted = true;
    p->refresh_wanted = true;
}

/* One PRODUCE attempt for b. WIRE_OK: in flight. Otherwise the request did not leave. */
static int send_batch(raftmq_producer *p, struct pbatch *b, int64_t now)
{
    struct ppart *pp = b->part;
    int64_t left = b->deadline_ms - now;
    assert(left > 0);
    uint32_t broker_ms = (uint64_t)left < p->cfg.request_timeout_ms ? (uint32_t)left
                                                                     : p->cfg.request_timeout_ms;
    uint64_t answer_ms = (uint64_t)broker_ms + PRODUCER_ANSWER_MARGIN_MS;
    if ((int64_t)answer_ms > left)
        answer_ms = (uint64_t)left;
    struct wire_frame req;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_PRODUCE;
    req.body.produce_req.topic = pp->topic->name_bytes;
    req.body.produce_req.partition = pp->id;
    req.body.produce_req.timeout_ms = broker_ms;
    req.body.produce_req.batches.count = 1;
    req.body.produce_req.batches.items = &b->bytes;
    return wire_client_send_routed(p->client, &req, (uint32_t)answer_ms, b, NULL);
}

/* Sends what the partition may send now, in queue order; expires batches past their deadline. */
static void partition_send(raftmq_producer *p, struct ppart *pp, int64_t now)
{
    for (;;) {
        struct pbatch *b = pp->cursor;
        while (b != NULL && b->state != BATCH_WAITING)
            b = b->next;
        pp->cursor = b;
        if (b == NULL)
            return;
        if (now >= b->deadline_ms) {
            batch_expire(p, b);
            continue;
        }
        if (pp->topic->gone) {
            char why[PRODUCER_MESSAGE_BYTES];
            msgf(why, sizeof(why), "topic '%s' does not exist (any more)", pp->topic->name);
            batch_done(p, b, RAFTMQ_ERR_UNKNOWN_TOPIC, -1, why);
            continue;
        }
        if (p->pid_reset || pp->in_flight >= p->in_flight_limit || b->retry_at_ms > now)
            return;
        /*
         * Not more than in_flight_limit batches past the earliest unfinished
         * one: the broker remembers a producer's last 5 batches, so a batch
         * whose outcome is unknown must still be among them when it is
         * resent (else it would come back DUPLICATE_SEQUENCE, offsets lost).
         */
        const struct pbatch *first = first_unfinished(pp);
        if (first != NULL && b->index >= first->index + p->in_flight_limit)
            return;
        int rc = send_batch(p, b, now);
        if (rc == WIRE_OK) {
            if (b->sends > 0)
                p->stats.retries++;
            b->sends++;
            b->state = BATCH_IN_FLIGHT;
            /* The send was routed by this very cache entry. */
            const char *address;
            b->sent_at_ms = wire_mono_ms(); /* `now` may predate a refresh that blocked */
            wire_client_leader(p->client, pp->topic->name, pp->id, &b->sent_to, &address);
            pp->in_flight++;
            p->in_flight_total++;
            p->stats.batches_sent++;
            pp->cursor = b->next;
            continue;
        }
        char why[PRODUCER_MESSAGE_BYTES];
        msgf(why, sizeof(why), "%s/%" PRIu32 ": %s", pp->topic->name, pp->id,
                 wire_client_error(p->client));
        switch (rc) {
        case WIRE_ERR_LIMIT_EXCEEDED: /* the connection core is full: the next poll frees room */
            return;
        case WIRE_ERR_TIMEOUT: /* no connection to the leader: not sent */
            wire_client_forget_leader(p->client, pp->topic->name, pp->id);
            want_refresh(p, pp->topic);
            batch_retry(p, b, false, why);
            if (b->state == BATCH_WAITING)
                return;
            continue;
        case WIRE_ERR_LEADER_NOT_AVAILABLE:
        case WIRE_ERR_UNKNOWN_TOPIC:
        case WIRE_ERR_UNKNOWN_PARTITION:
            /* The cache cannot route it: try again right after the next refresh
             * (a refresh, not the broker, is what is being waited for). */
            want_refresh(p, pp->topic);
            msgf(b->message, sizeof(b->message), "%s", why);
            b->retry_at_ms = p->last_refresh_ms + PRODUCER_REFRESH_INTERVAL_MS;
            if (b->retry_at_ms < now + 1)
                b->retry_at_ms = now + 1;
            return;
        default:
            batch_done(p, b, rc, -1, why);
            continue;
        }
    }
}

static void send_all(raftmq_producer *p, int64_t now)
{
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        for (uint32_t k = 0; k < t->partition_count; k++) {
            struct ppart *pp = &t->parts[k];
            if (pp->cursor != NULL)
                partition_send(p, pp, now);
        }
    }
}

/* ---- answers ----------------------------------------------------------------------------- */

/* The client core's transient answers, and an unknown topic or partition
 * (metadata may lag a create; the topic's grace period decides when it is final). */
static bool answer_is_retriable(uint32_t error)
{
    return wire_client_error_is_transient(error) || error == WIRE_ERR_UNKNOWN_TOPIC ||
           error == WIRE_ERR_UNKNOWN_PARTITION;
}

static void on_reply(raftmq_producer *p, struct wire_client_reply *reply)
{
    struct pbatch *b = reply->user;
    if (reply->type != WIRE_PRODUCE || b == NULL)
        return;
    struct ppart *pp = b->part;
    struct ptopic *t = pp->topic;
    assert(b->state == BATCH_IN_FLIGHT);
    assert(pp->in_flight > 0 && p->in_flight_total > 0);
    pp->in_flight--;
    p->in_flight_total--;
    char why[PRODUCER_MESSAGE_BYTES];

    int status = reply->status;
    bool dropped = false;
    if (status == WIRE_OK && p->drop_responses > 0) {
        dropped = true;
        p->drop_responses--;
        status = WIRE_ERR_TIMEOUT;
        msgf(why, sizeof(why), "%s/%" PRIu32 ": answer from %s dropped by the test hook; outcome unknown",
                 t->name, pp->id, reply->address);
    } else if (status != WIRE_OK) {
        msgf(why, sizeof(why), "%s/%" PRIu32 ": %s", t->name, pp->id,
                 wire_client_error(p->client));
    }
    if (status != WIRE_OK) {
        /* No answer, a lost connection or an answer that does not decode: outcome unknown. */
        b->outcome_unknown = true;
        /* The leader may be gone: ask again (a dropped answer says nothing about the leader). */
        if (status == WIRE_ERR_TIMEOUT && !dropped) {
            wire_client_forget_leader(p->client, t->name, pp->id);
            want_refresh(p, t);
        }
        batch_retry(p, b, false, why);
        return;
    }

    const struct wire_frame *f = &reply->frame;
    if (f->error == WIRE_OK) {
        const struct wire_produce_resp *r = &f->body.produce_resp;
        if (r->last_offset < r->base_offset || r->last_offset - r->base_offset + 1 != b->record_count) {
            msgf(why, sizeof(why),
                     "%s/%" PRIu32 ": the answer's offsets %" PRIu64 "..%" PRIu64
                     " do not match the batch's %" PRIu32 " records",
                     t->name, pp->id, r->base_offset, r->last_offset, b->record_count);
            batch_done(p, b, RAFTMQ_ERR_UNKNOWN, -1, why);
            return;
        }
        t->unknown_since_ms = -1;
        batch_done(p, b, RAFTMQ_OK, (int64_t)r->base_offset, NULL);
        return;
    }

    char answer[256];
    response_error(f, answer, sizeof(answer));
    msgf(why, sizeof(why), "%s/%" PRIu32 ": %s from %s", t->name, pp->id, answer, reply->address);
    switch (f->error) {
    case WIRE_ERR_OUT_OF_ORDER_SEQUENCE: {
        /* An earlier batch is missing. If one of ours is still unfinished it is
         * resent first; otherwise the gap is permanent (an earlier batch
         * failed for good) and only a new producer id closes it. */
        struct pbatch *first = first_unfinished(pp);
        if (first == b) {
            p->pid_reset = true;
            b->failures = 0;
        }
        batch_retry(p, b, true, why);
        return;
    }
    case WIRE_ERR_UNKNOWN_PRODUCER:
        /* A partition that never stored our earlier batches (a failover
         * lost them) does not know us: those are resent first, from 0. Only
         * for the earliest unfinished batch does it mean we were forgotten. */
        if (first_unfinished(pp) == b) {
            p->pid_reset = true;
            p->pid_forgotten = true;
        }
        batch_retry(p, b, true, why);
        return;
    case WIRE_ERR_DUPLICATE_SEQUENCE:
        msgf(why, sizeof(why),
                 "%s/%" PRIu32 ": an earlier attempt of this batch was committed; its offsets "
                 "are unknown (%s)", t->name, pp->id, answer);
        batch_done(p, b, RAFTMQ_ERR_DUPLICATE_SEQUENCE, -1, why);
        return;
    default:
        break;
    }
    if (!answer_is_retriable(f->error)) {
        batch_done(p, b, (int)f->error, -1, why);
        return;
    }
    bool at_once = false;
    switch (f->error) {
    case WIRE_ERR_NOT_LEADER:
        wire_client_note_not_leader(p->client, t->name, pp->id, f);
        /* A named leader is worth trying at once, but only on the first miss. */
        at_once = f->body.not_leader_detail.leader_id != 0 && b->failures == 0;
        if (!at_once)
            want_refresh(p, t);
        break;
    case WIRE_ERR_TIMEOUT:
        b->outcome_unknown = true;
        break;
    case WIRE_ERR_LEADER_NOT_AVAILABLE:
    case WIRE_ERR_SHUTTING_DOWN:
        wire_client_forget_leader(p->client, t->name, pp->id);
        want_refresh(p, t);
        break;
    case WIRE_ERR_UNKNOWN_TOPIC:
    case WIRE_ERR_UNKNOWN_PARTITION:
        want_refresh(p, t);
        break;
    default:
        break;
    }
    batch_retry(p, b, at_once, why);
}

/*
 * Takes the answers that have arrived. wait_ms bounds the wait for the
 * first one; the rest are taken only if already there.
 */
static void collect_replies(raftmq_producer *p, uint32_t wait_ms)
{
    struct wire_client_reply reply;
    if (wire_client_poll(p->client, wait_ms, &reply) != WIRE_OK)
        return;
    on_reply(p, &reply);
    while (wire_client_poll(p->client, 0, &reply) == WIRE_OK)
        on_reply(p, &reply);
}

/* ---- stalled leaders ------------------------------------------------------------------------- */

/* The partition's earliest batch in flight, or NULL. */
static struct pbatch *earliest_in_flight(const struct ppart *pp)
{
    if (pp->in_flight == 0)
        return NULL;
    for (struct pbatch *b = pp->head; b != NULL; b = b->next)
        if (b->state == BATCH_IN_FLIGHT)
            return b;
    return NULL;
}

/* When the partition's stall check is due, INT64_MAX when nothing is in flight. */
static int64_t stall_check_at(const struct ppart *pp)
{
    const struct pbatch *b = earliest_in_flight(pp);
    if (b == NULL)
        return INT64_MAX;
    int64_t at = b->sent_at_ms + PRODUCER_STALL_MS;
    int64_t again = pp->topic->stall_refresh_ms + PRODUCER_STALL_RECHECK_MS;
    return at > again ? at : again;
}

/* Asks for a metadata refresh of every topic with a partition stalled for PRODUCER_STALL_MS. */
static void watch_stalls(raftmq_producer *p, int64_t now)
{
    if (p->in_flight_total == 0 || now < p->stall_scan_at_ms)
        return;
    p->stall_scan_at_ms = now + PRODUCER_STALL_SCAN_MS;
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        if (t->gone)
            continue;
        for (uint32_t k = 0; k < t->partition_count; k++) {
            if (stall_check_at(&t->parts[k]) <= now) {
                t->stall_refresh_ms = now;
                want_refresh(p, t);
                break;
            }
        }
    }
}

/*
 * The partition's requests in flight go back to waiting, in queue order,
 * outcome unknown (as after a timeout), to be resent at once to the leader
 * the cache names now. The client core forgets them, so a late answer from
 * the stalled broker is dropped there. A request already answered is left
 * to its answer.
 */
static void abandon_in_flight(raftmq_producer *p, struct ppart *pp, uint32_t stalled,
                              uint32_t leader, int64_t now)
{
    for (struct pbatch *b = pp->head; b != NULL && pp->in_flight > 0; b = b->next) {
        if (b->state != BATCH_IN_FLIGHT || wire_client_abandon(p->client, b) == 0)
            continue;
        assert(p->in_flight_total > 0);
        pp->in_flight--;
        p->in_flight_total--;
        p->stats.requests_abandoned++;
        b->outcome_unknown = true;
        char why[PRODUCER_MESSAGE_BYTES];
        msgf(why, sizeof(why), "%.60s/%" PRIu32 ": no answer from node %" PRIu32 " for %" PRId64
             " ms and node %" PRIu32 " leads now; outcome unknown", pp->topic->name, pp->id,
             stalled, now - b->sent_at_ms, leader);
        batch_retry(p, b, true, why);
    }
}

/* After a refresh of t: leaves every stalled partition whose leader changed. */
static void leave_stalled_leaders(raftmq_producer *p, struct ptopic *t, int64_t now)
{
    for (uint32_t k = 0; k < t->partition_count; k++) {
        struct ppart *pp = &t->parts[k];
        const struct pbatch *b = earliest_in_flight(pp);
        if (b == NULL || now - b->sent_at_ms < PRODUCER_STALL_MS)
            continue;
        uint32_t leader;
        const char *address;
        /* No leader known (an election still running): keep waiting for the old one. */
        if (wire_client_leader(p->client, t->name, pp->id, &leader, &address) != WIRE_OK ||
            leader == b->sent_to)
            continue;
        abandon_in_flight(p, pp, b->sent_to, leader, now);
    }
}

/* ---- metadata and producer id upkeep --------------------------------------------------------- */

static void refresh_metadata(raftmq_producer *p, int64_t now)
{
    if (!p->refresh_wanted || now - p->last_refresh_ms < PRODUCER_REFRESH_INTERVAL_MS)
        return;
    p->last_refresh_ms = now;
    p->refresh_wanted = false;
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        if (!t->refresh_wanted || t->gone)
            continue;
        t->refresh_wanted = false;
        if (wire_client_refresh_metadata(p->client, t->name, p->cfg.request_timeout_ms <
                                                                     PRODUCER_REFRESH_MS_MAX
                                                                 ? p->cfg.request_timeout_ms
                                                                 : PRODUCER_REFRESH_MS_MAX) !=
            WIRE_OK) {
            /* Nobody answered: ask again on the next round. */
            want_refresh(p, t);
            continue;
        }
        uint32_t count = 0;
        int64_t at = wire_mono_ms();
        if (wire_client_partition_count(p->client, t->name, &count) == WIRE_OK && count > 0) {
            t->unknown_since_ms = -1;
            leave_stalled_leaders(p, t, at);
            continue;
        }
        /* The cluster says the topic does not exist: believe it after a grace period. */
        if (t->unknown_since_ms < 0)
            t->unknown_since_ms = at;
        if (at - t->unknown_since_ms >= PRODUCER_UNKNOWN_TOPIC_GRACE_MS)
            t->gone = true;
        else
            want_refresh(p, t);
    }
}

/*
 * Renumbers every unfinished batch under the new producer id, partition by
 * partition, in order. After UNKNOWN_PRODUCER a batch whose earlier attempt
 * has an unknown outcome is failed with TIMEOUT instead: it may be in the
 * log already, and under a new id a resend would store it twice. (After
 * OUT_OF_ORDER_SEQUENCE nothing from the gap on is in the log: the broker
 * appends in sequence order only.)
 */
static void renumber_all(raftmq_producer *p)
{
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        for (uint32_t k = 0; k < t->partition_count; k++) {
            struct ppart *pp = &t->parts[k];
            assert(pp->in_flight == 0);
            pp->next_sequence = 0;
            pp->cursor = NULL;
            for (struct pbatch *b = pp->head; b != NULL; b = b->next) {
                if (b->state == BATCH_DONE)
                    continue;
                if (p->pid_forgotten && b->outcome_unknown) {
                    char why[PRODUCER_MESSAGE_BYTES];
                    msgf(why, sizeof(why), "%.60s/%" PRIu32 ": outcome unknown: the partition "
                         "forgot this producer, so a resend could duplicate the records", t->name,
                         pp->id);
                    batch_done(p, b, RAFTMQ_ERR_TIMEOUT, -1, why);
                    continue;
                }
                batch_restamp(b, p->producer_id, p->producer_epoch, pp->next_sequence);
                pp->next_sequence = sequence_after(pp->next_sequence, b->record_count);
                b->state = BATCH_WAITING;
                if (pp->cursor == NULL)
                    pp->cursor = b;
            }
        }
    }
}

static void reset_producer_id(raftmq_producer *p, int64_t now)
{
    if (!p->pid_reset || p->in_flight_total > 0 || now < p->pid_retry_at_ms)
        return;
    uint32_t timeout = p->cfg.request_timeout_ms;
    int rc = init_producer_id(p, timeout);
    if (rc != RAFTMQ_OK) {
        p->pid_failures++;
        p->pid_retry_at_ms = wire_mono_ms() + backoff_ms(p->pid_failures);
        return;
    }
    p->pid_failures = 0;
    p->pid_reset = false;
    p->stats.producer_id_resets++;
    renumber_all(p);
    p->pid_forgotten = false;
}

/* ---- delivery reports ------------------------------------------------------------------------ */

static void report_batch(raftmq_producer *p, struct pbatch *b, int error, const char *message)
{
    struct ppart *pp = b->part;
    struct raftmq_delivery d = {
        .error = error,
        .error_message = error == RAFTMQ_OK ? "" : message,
        .topic = pp->topic->name,
        .partition = (int32_t)pp->id,
        .attempts = b->sends,
    };
    assert(pp->ring_len >= b->record_count);
    p->in_callback = true;
    for (uint32_t i = 0; i < b->record_count; i++) {
        const struct record_slot *s = &pp->ring[pp->ring_head];
        pp->ring_head = (pp->ring_head + 1) & (pp->ring_cap - 1);
        pp->ring_len--;
        d.offset = error == RAFTMQ_OK ? b->base_offset + (int64_t)i : -1;
        d.timestamp = s->timestamp;
        d.opaque = s->opaque;
        p->pending_records--;
        if (p->cfg.on_delivery != NULL)
            p->cfg.on_delivery(&d, p->cfg.cb_opaque);
    }
    p->in_callback = false;
    p->pending_bytes -= b->buffer_bytes;
    if (error == RAFTMQ_OK) {
        p->stats.records_acked += b->record_count;
        p->stats.kv_bytes_acked += b->kv_bytes;
    } else {
        p->stats.records_failed += b->record_count;
    }
}

static void batch_free(raftmq_producer *p, struct pbatch *b)
{
    mem_release(p, b->mem, b->mem_pooled);
    free(b);
}

/* Reports every finished batch at the head of a queue; returns the number of reports. */
static int emit_reports(raftmq_producer *p)
{
    if (!p->reports_ready)
        return 0;
    p->reports_ready = false;
    int made = 0;
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        for (uint32_t k = 0; k < t->partition_count; k++) {
            struct ppart *pp = &t->parts[k];
            while (pp->head != NULL && pp->head->state == BATCH_DONE) {
                struct pbatch *b = pp->head;
                pp->head = b->next;
                if (pp->head == NULL)
                    pp->tail = NULL;
                if (pp->cursor == b)
                    pp->cursor = b->next;
                report_batch(p, b, b->error, b->message);
                made += (int)b->record_count;
                batch_free(p, b);
            }
        }
    }
    return made;
}

/* ---- the event loop -------------------------------------------------------------------------- */

/*
 * True when a batch sealed now would be sent at once: nothing sealed is
 * waiting and an in-flight slot is free. While a partition is busy its open
 * batch keeps growing instead (up to batch_bytes_max): linger is the least
 * time a record waits for company, and a busy partition batches by itself,
 * so linger 0 means "send as soon as the partition can", not "one record
 * per request".
 */
static bool partition_idle(const raftmq_producer *p, const struct ppart *pp)
{
    const struct pbatch *b = pp->cursor;
    while (b != NULL && b->state != BATCH_WAITING)
        b = b->next;
    return b == NULL && pp->in_flight < p->in_flight_limit && !p->pid_reset;
}

/* Seals open batches whose linger (or delivery timeout) ran out. */
static void seal_lingering(raftmq_producer *p, int64_t now)
{
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        for (uint32_t k = 0; k < t->partition_count; k++) {
            struct ppart *pp = &t->parts[k];
            if (pp->open_mem != NULL && wire_batch_builder_count(&pp->builder) > 0 &&
                now - pp->open_since_ms >= (int64_t)p->cfg.linger_ms && partition_idle(p, pp))
                seal(p, pp);
        }
    }
}

/* When something must happen next without an answer arriving. */
static int64_t next_timer(const raftmq_producer *p, int64_t now)
{
    int64_t t_next = INT64_MAX;
    for (uint32_t i = 0; i < p->topic_count; i++) {
        const struct ptopic *t = p->topics[i];
        for (uint32_t k = 0; k < t->partition_count; k++) {
            const struct ppart *pp = &t->parts[k];
            /* A busy partition's open batch waits for an answer, not a timer. */
            if (pp->open_mem != NULL && wire_batch_builder_count(&pp->builder) > 0 &&
                pp->open_since_ms + p->cfg.linger_ms < t_next && partition_idle(p, pp))
                t_next = pp->open_since_ms + p->cfg.linger_ms;
            const struct pbatch *b = pp->cursor;
            if (b != NULL && b->state == BATCH_WAITING) {
                if (b->deadline_ms < t_next)
                    t_next = b->deadline_ms;
                /* A batch held back by the in-flight bound or the window waits for an answer. */
                const struct pbatch *first = first_unfinished(pp);
                bool window_open = first == NULL || b->index < first->index + p->in_flight_limit;
                if (!p->pid_reset && pp->in_flight < p->in_flight_limit && window_open &&
                    b->retry_at_ms < t_next)
                    t_next = b->retry_at_ms;
            }
        }
    }
    if (p->in_flight_total > 0 && p->stall_scan_at_ms < t_next)
        t_next = p->stall_scan_at_ms;
    if (p->refresh_wanted && p->last_refresh_ms + PRODUCER_REFRESH_INTERVAL_MS < t_next)
        t_next = p->last_refresh_ms + PRODUCER_REFRESH_INTERVAL_MS;
    if (p->pid_reset && p->in_flight_total == 0 && p->pid_retry_at_ms < t_next)
        t_next = p->pid_retry_at_ms;
    return t_next < now ? now : t_next;
}

/* Everything due now that needs no answer: linger, refresh, producer id, sends. */
static void service(raftmq_producer *p, int64_t now)
{
    seal_lingering(p, now);
    watch_stalls(p, now);
    refresh_metadata(p, now);
    reset_producer_id(p, now);
    send_all(p, now);
}

int raftmq_producer_poll(raftmq_producer *p, int timeout_ms)
{
    if (p == NULL)
        return -RAFTMQ_ERR_INVALID_REQUEST;
    if (p->in_callback)
        return -set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "poll called from the delivery callback");
    if (timeout_ms < 0)
        timeout_ms = 0;
    int64_t deadline = wire_mono_ms() + timeout_ms;
    int made = 0;
    for (;;) {
        int64_t now = wire_mono_ms();
        service(p, now);
        made += emit_reports(p);
        if (made > 0)
            return made;
        now = wire_mono_ms();
        int64_t until = next_timer(p, now);
        if (until > deadline)
            until = deadline;
        int64_t wait = until - now;
        if (p->in_flight_total > 0) {
            /* A wait of 0 still reads answers that already arrived. */
            collect_replies(p, wait < 0 ? 0u : (uint32_t)wait);
            /* Answers free in-flight slots: what waited for one goes out now. */
            service(p, wire_mono_ms());
        } else {
            wire_sleep_ms(wait);
        }
        made += emit_reports(p);
        if (made > 0 || wire_mono_ms() >= deadline) {
            if (made == 0)
                service(p, wire_mono_ms());
            return made + emit_reports(p);
        }
    }
}

int raftmq_producer_flush(raftmq_producer *p, int timeout_ms)
{
    if (p == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    if (p->in_callback)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "flush called from the delivery callback");
    if (timeout_ms < 0)
        timeout_ms = 0;
    int64_t deadline = wire_mono_ms() + timeout_ms;
    seal_all(p);
    for (;;) {
        if (p->pending_records == 0)
            return RAFTMQ_OK;
        int64_t left = deadline - wire_mono_ms();
        if (left <= 0)
            break;
        /* Records sent by callbacks during the flush are flushed too. */
        seal_all(p);
        int rc = raftmq_producer_poll(p, (int)left);
        if (rc < 0)
            return -rc;
    }
    if (p->pending_records == 0)
        return RAFTMQ_OK;
    return set_error(p, RAFTMQ_ERR_TIMEOUT,
                     "flush: %" PRIu64 " records still without a delivery report after %d ms",
                     p->pending_records, timeout_ms);
}

uint64_t raftmq_producer_pending(const raftmq_producer *p)
{
    return p != NULL ? p->pending_records : 0;
}

const char *raftmq_producer_last_error(const raftmq_producer *p)
{
    return p != NULL ? p->last_error : "";
}

/* ---- send -------------------------------------------------------------------------------------- */

/* Starts an open batch in the partition: a pooled buffer, or a larger one for one large record. */
static int open_batch(raftmq_producer *p, struct ppart *pp, bool large)
{
    assert(pp->open_mem == NULL);
    size_t cap = large ? WIRE_BATCH_BYTES_MAX : p->open_cap;
    uint8_t *mem = large ? malloc(WIRE_BATCH_BYTES_MAX) : pool_get(p);
    if (mem == NULL)
        return set_error(p, RAFTMQ_ERR_UNKNOWN, "out of memory for a batch buffer");
    pp->open_mem = mem;
    pp->open_mem_cap = cap;
    pp->open_pooled = !large;
    pp->open_buffer_bytes = 0;
    pp->open_kv_bytes = 0;
    wire_batch_builder_init(&pp->builder, mem, cap, p->codec);
    return RAFTMQ_OK;
}

/*
 * Adds a record to the partition's open batch. BUFFER_FULL: the open batch
 * has records and this one does not fit beside them (seal, then add again).
 */
static int partition_add(raftmq_producer *p, struct ppart *pp, const struct wire_record *rec)
{
    if (pp->open_mem == NULL) {
        int rc = open_batch(p, pp, false);
        if (rc != RAFTMQ_OK)
            return rc;
    }
    uint32_t count = wire_batch_builder_count(&pp->builder);
    if (count >= WIRE_BATCH_RECORDS_MAX)
        return WIRE_ERR_BUFFER_FULL;
    int rc = wire_batch_builder_add(&pp->builder, rec);
    if (rc == WIRE_ERR_BUFFER_FULL && count == 0 && pp->open_pooled) {
        /* Larger than batch_bytes_max on its own: it gets a batch of its own size. */
        mem_release(p, pp->open_mem, true);
        pp->open_mem = NULL;
        rc = open_batch(p, pp, true);
        if (rc != RAFTMQ_OK)
            return rc;
        rc = wire_batch_builder_add(&pp->builder, rec);
    }
    if (rc == WIRE_OK && count == 0)
        pp->open_since_ms = wire_mono_ms();
    return rc;
}

static int send_error(raftmq_producer *p, int rc, const char *topic)
{
    switch (rc) {
    case WIRE_ERR_RECORD_TOO_LARGE:
        return set_error(p, rc, "%s: the record is over a size limit (record %u bytes, key %u, "
                         "header name %u, header value %u)", topic, WIRE_RECORD_BYTES_MAX,
                         WIRE_KEY_BYTES_MAX, WIRE_HEADER_NAME_BYTES_MAX, WIRE_HEADER_VALUE_BYTES_MAX);
    case WIRE_ERR_LIMIT_EXCEEDED:
        return set_error(p, rc, "%s: more than %u headers", topic, WIRE_HEADERS_MAX);
    case WIRE_ERR_BAD_VALUE:
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST,
                         "%s: the timestamp is too far from the batch's first record", topic);
    default:
        return set_error(p, rc, "%s: cannot add the record: %s", topic, wire_strerror(rc));
    }
}

int raftmq_producer_send(raftmq_producer *p, const struct raftmq_message *msg)
{
    if (p == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    if (msg == NULL)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: no message");
    if (p->closing)
        return set_error(p, RAFTMQ_ERR_CLOSED, "send: the producer is being closed");
    if (msg->topic == NULL)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: no topic");
    if (msg->value == NULL && msg->value_len > 0)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: value NULL with value_len %zu",
                         msg->value_len);
    if (msg->key == NULL && msg->key_len > 0)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: key NULL with key_len %zu",
                         msg->key_len);
    if (msg->headers == NULL && msg->header_count > 0)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: headers NULL with header_count %zu",
                         msg->header_count);
    if (msg->partition < RAFTMQ_PARTITION_ANY)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: partition %" PRId32 " is negative",
                         msg->partition);
    if (msg->timestamp < 0)
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: timestamp %" PRId64 " is negative",
                         msg->timestamp);
    if (msg->header_count > WIRE_HEADERS_MAX)
        return set_error(p, WIRE_ERR_LIMIT_EXCEEDED, "%s: %zu headers, at most %u", msg->topic,
                         msg->header_count, WIRE_HEADERS_MAX);
    if (msg->value_len > WIRE_RECORD_BYTES_MAX || msg->key_len > WIRE_KEY_BYTES_MAX)
        return send_error(p, WIRE_ERR_RECORD_TOO_LARGE, msg->topic);

    struct wire_header headers[WIRE_HEADERS_MAX];
    uint64_t header_bytes = 0;
    for (size_t i = 0; i < msg->header_count; i++) {
        const struct raftmq_header *h = &msg->headers[i];
        if (h->name == NULL || (h->value == NULL && h->value_len > 0))
            return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "send: header %zu has a NULL %s", i,
                             h->name == NULL ? "name" : "value");
        size_t name_len = strnlen(h->name, WIRE_HEADER_NAME_BYTES_MAX + 1);
        if (name_len > WIRE_HEADER_NAME_BYTES_MAX || h->value_len > WIRE_HEADER_VALUE_BYTES_MAX)
            return send_error(p, WIRE_ERR_RECORD_TOO_LARGE, msg->topic);
        headers[i].name = (struct wire_bytes){(const uint8_t *)h->name, (uint32_t)name_len};
        headers[i].value = (struct wire_bytes){h->value, (uint32_t)h->value_len};
        header_bytes += name_len + h->value_len;
    }

    struct ptopic *t;
    int rc = topic_get(p, msg->topic, &t);
    if (rc != RAFTMQ_OK)
        return rc;
    if (msg->partition != RAFTMQ_PARTITION_ANY && (uint32_t)msg->partition >= t->partition_count)
        return set_error(p, RAFTMQ_ERR_UNKNOWN_PARTITION,
                         "topic '%s' has %" PRIu32 " partitions: partition %" PRId32 " does not exist",
                         t->name, t->partition_count, msg->partition);
    if (p->cfg.idempotence && p->producer_id < 1) {
        rc = init_producer_id(p, p->cfg.request_timeout_ms);
        if (rc != RAFTMQ_OK)
            return rc;
    }

    uint64_t kv_bytes = (uint64_t)msg->key_len + msg->value_len;
    uint64_t bytes = kv_bytes + header_bytes;
    if (p->pending_bytes > 0 && p->pending_bytes + bytes > p->cfg.buffer_bytes_max)
        return set_error(p, RAFTMQ_ERR_QUEUE_FULL,
                         "%" PRIu64 " bytes of records are waiting for delivery reports "
                         "(buffer_bytes_max %" PRIu64 "): poll, then send again",
                         p->pending_bytes, p->cfg.buffer_bytes_max);

    struct wire_record rec = {
        .timestamp = msg->timestamp != 0 ? msg->timestamp : wire_wall_ms(),
        .has_key = msg->key != NULL,
        .key = {msg->key, (uint32_t)msg->key_len},
        .value = {msg->value, (uint32_t)msg->value_len},
        .header_count = (uint32_t)msg->header_count,
        .headers = headers,
    };
    bool sticky = msg->partition == RAFTMQ_PARTITION_ANY && msg->key == NULL;
    uint32_t partition;
    if (msg->partition != RAFTMQ_PARTITION_ANY)
        partition = (uint32_t)msg->partition;
    else if (msg->key != NULL)
        partition = raftmq_key_hash(msg->key, msg->key_len) % t->partition_count;
    else
        partition = t->sticky;
    struct ppart *pp = &t->parts[partition];
    if (!ring_reserve(pp))
        return set_error(p, RAFTMQ_ERR_UNKNOWN, "out of memory");

    bool sealed = false;
    struct ppart *first_pp = pp;
    rc = partition_add(p, pp, &rec);
    if (rc == WIRE_ERR_BUFFER_FULL) {
        seal(p, pp);
        sealed = true;
        if (sticky && t->sticky != pp->id) {
            pp = &t->parts[t->sticky];
            if (!ring_reserve(pp))
                return set_error(p, RAFTMQ_ERR_UNKNOWN, "out of memory");
        }
        rc = partition_add(p, pp, &rec);
        if (rc == WIRE_ERR_BUFFER_FULL) {
            /* The next sticky partition's batch is full too: seal it as well (no-op for the
             * partition sealed above, whose batch is empty now). */
            seal(p, pp);
            rc = partition_add(p, pp, &rec);
        }
    }
    if (rc != WIRE_OK)
        return send_error(p, rc, t->name);
    ring_push(pp, msg->opaque, rec.timestamp);
    pp->open_buffer_bytes += bytes;
    pp->open_kv_bytes += kv_bytes;
    p->pending_bytes += bytes;
    p->pending_records++;
    if (pp->builder.records.len + WIRE_BATCH_HEADER_BYTES >= pp->open_mem_cap ||
        (p->cfg.linger_ms == 0 && partition_idle(p, pp))) {
        seal(p, pp);
        sealed = true;
    }
    if (sealed) {
        /* Only the partitions that sealed a batch can have something new to send. */
        int64_t now = wire_mono_ms();
        partition_send(p, first_pp, now);
        if (pp != first_pp)
            partition_send(p, pp, now);
    }
    return RAFTMQ_OK;
}

/* ---- close --------------------------------------------------------------------------------------- */

void raftmq_producer_close(raftmq_producer *p)
{
    if (p == NULL)
        return;
    if (p->in_callback)
        return; /* documented misuse; leaking beats freeing under the caller's feet */
    p->closing = true;
    seal_all(p);
    for (uint32_t i = 0; i < p->topic_count; i++) {
        struct ptopic *t = p->topics[i];
        for (uint32_t k = 0; k < t->partition_count; k++) {
            struct ppart *pp = &t->parts[k];
            while (pp->head != NULL) {
                struct pbatch *b = pp->head;
                pp->head = b->next;
                if (b->state == BATCH_DONE) {
                    report_batch(p, b, b->error, b->message);
                } else {
                    char why[PRODUCER_MESSAGE_BYTES];
                    msgf(why, sizeof(why), "%s/%" PRIu32 ": the producer was closed%s",
                             t->name, pp->id,
                             b->state == BATCH_IN_FLIGHT || b->outcome_unknown
                                 ? " (the batch was sent: it may have been committed)"
                                 : "");
                    report_batch(p, b, RAFTMQ_ERR_CLOSED, why);
                }
                batch_free(p, b);
            }
            mem_release(p, pp->open_mem, pp->open_pooled);
            free(pp->ring);
        }
        free(t->parts);
        free(t->name);
        free(t);
    }
    free(p->topics);
    for (uint32_t i = 0; i < p->pool_count; i++)
        free(p->pool[i]);
    wire_client_close(p->client);
    free(p->brokers);
    free(p);
}

/* ---- in-tree extras (producer_internal.h) ---------------------------------------------------------- */

void raftmq_producer_get_stats(const raftmq_producer *p, struct raftmq_producer_stats *out)
{
    if (p == NULL || out == NULL)
        return;
    *out = p->stats;
}

int raftmq_producer_partition_count(raftmq_producer *p, const char *topic, uint32_t timeout_ms,
                                    uint32_t *count)
{
    if (p == NULL || topic == NULL || count == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    *count = 0;
    if (!wire_topic_name_valid(topic, strlen(topic)))
        return set_error(p, RAFTMQ_ERR_INVALID_REQUEST, "invalid topic name");
    int rc = tool_topic_metadata(p->client, topic, timeout_ms, count);
    if (rc == WIRE_ERR_UNKNOWN_TOPIC)
        return set_error(p, rc, "unknown topic '%s'", topic);
    if (rc != WIRE_OK)
        return set_error(p, rc, "%s", wire_client_error(p->client));
    return RAFTMQ_OK;
}

int64_t raftmq_producer_test_producer_id(const raftmq_producer *p)
{
    return p != NULL ? p->producer_id : -1;
}

void raftmq_producer_test_drop_responses(raftmq_producer *p, uint32_t count)
{
    if (p != NULL)
        p->drop_responses += count;
}

uint32_t raftmq_producer_test_drops_pending(const raftmq_producer *p)
{
    return p != NULL ? p->drop_responses : 0;
}

int raftmq_producer_test_add_topic(raftmq_producer *p, const char *topic, uint32_t partitions)
{
    if (p == NULL || topic == NULL || partitions == 0 || partitions > WIRE_PARTITIONS_MAX ||
        topic_find(p, topic) != NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    struct wire_partition_meta *parts = calloc(partitions, sizeof(*parts));
    if (parts == NULL)
        return RAFTMQ_ERR_UNKNOWN;
    for (uint32_t i = 0; i < partitions; i++)
        parts[i].partition = i;
    struct wire_topic_meta tm;
    memset(&tm, 0, sizeof(tm));
    tm.name = (struct wire_bytes){(const uint8_t *)topic, (uint32_t)strlen(topic)};
    tm.partitions.count = partitions;
    tm.partitions.items = parts;
    struct wire_metadata_resp m;
    memset(&m, 0, sizeof(m));
    m.topics.count = 1;
    m.topics.items = &tm;
    int rc = wire_client_apply_metadata(p->client, &m);
    free(parts);
    if (rc != WIRE_OK)
        return rc;
    if (topic_add(p, topic, partitions) == NULL)
        return RAFTMQ_ERR_UNKNOWN;
    if (p->cfg.idempotence && p->producer_id < 1) {
        p->producer_id = 1;
        p->producer_epoch = 0;
    }
    return RAFTMQ_OK;
}
