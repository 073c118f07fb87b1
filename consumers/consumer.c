/* The consumer half of libraftmq (wire/raftmq.h): explicit assignment, prefetching long-poll FETCHes, lazy decoding. */
#include "wire/raftmq.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumers/consumer_internal.h"
#include "wire/batch.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/errors.h"
#include "wire/limits.h"
#include "wire/validate.h"

/*
 * How it works (docs/client.md, "Consumer"):
 *
 * - Every assigned partition has at most one FETCH on the wire, a long-poll
 *   at the offset after what is already buffered. Its answer's batches are
 *   copied (one block per answer) onto the partition's queue of chunks and
 *   the next FETCH goes out at once while the partition buffers fewer than
 *   partition_buffer_bytes: so poll mostly finds records already there.
 * - poll hands out records batch by batch: a batch is CRC-checked and
 *   decoded (LZ4 into one shared scratch) only when poll reaches it; its
 *   records come one per call straight out of the iterator, and records
 *   below the position (a batch may begin before the offset asked for) are
 *   skipped. After a batch, its partition goes to the back of the ready
 *   queue, so partitions with data take turns batch by batch.
 * - Errors that belong at a place in the stream (offset out of range,
 *   corrupt data) are queued as an empty "error chunk" behind the data
 *   before them, so they are reported in order.
 * - Network work (reading answers, sending FETCHes and METADATA) happens
 *   inside poll: when nothing is buffered, and otherwise about once a
 *   millisecond between batches. A failed FETCH (NOT_LEADER, lost
 *   connection, timeout) is sent again at the same offset after a metadata
 *   refresh and a backoff: the position never moves because of it.
 */

#define CONSUMER_ASSIGNED_MAX 4096u
#define CONSUMER_TOPICS_MAX 1024u
#define CONSUMER_IN_FLIGHT_MAX 512u
#define CONSUMER_ERROR_BYTES 512u
#define CONSUMER_BACKOFF_MS_MIN 20
#define CONSUMER_BACKOFF_MS_MAX 1000
/* Between two METADATA requests. */
#define CONSUMER_REFRESH_GAP_MS 100
/* One METADATA attempt, and at most how long a send waits for a connection. */
#define CONSUMER_METADATA_TIMEOUT_MS 1000u
#define CONSUMER_CONNECT_TIMEOUT_MS 200u
/* Network work between batches when records are buffered. */
#define CONSUMER_NETWORK_GAP_NS 1000000
/* Answers handled in one network step before records are handed out again. */
#define CONSUMER_REPLIES_PER_STEP 64u
/* With fetch_max_wait_ms 0, the gap before asking a caught-up partition again. */
#define CONSUMER_EMPTY_REFETCH_MS 5
/* Free chunks kept for reuse; none in AddressSanitizer builds, so a record
 * read after its chunk was given back is caught there. */
#if defined(__SANITIZE_ADDRESS__)
#define CONSUMER_CHUNK_POOL 0u
#else
#define CONSUMER_CHUNK_POOL 8u
#endif
/* Consecutive UNKNOWN_TOPIC / UNKNOWN_PARTITION answers before they are believed. */
#define CONSUMER_UNKNOWN_BELIEVED 5u
/* A subscribed consumer's poll checks for assignment changes and due commits this often. */
#define CONSUMER_GROUP_LOOK_MS 100
/* How long assign keeps asking when a just-created topic is not known yet. */
#define CONSUMER_UNKNOWN_TOPIC_GRACE_MS 500

/* Fetched batches of one FETCH answer: [u32 length][batch bytes]... */
struct chunk {
    struct chunk *next;
    size_t cap;  /* bytes of data[] */
    size_t len;  /* bytes used */
    size_t pos;  /* next batch */
    int error;   /* an error chunk (no data): the error to report here */
    char *error_message;
    uint8_t data[];
};

struct ctopic {
    char name[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    uint32_t partition_count;
    struct cpart **by_partition; /* partition_count entries, NULL when unassigned */
};

struct cpart {
    struct ctopic *topic;
    int32_t partition;
    int64_t position;     /* next offset poll returns */
    int64_t fetch_offset; /* next offset to fetch (after what is buffered) */
    int64_t hwm;          /* -1 before the first answer */
    uint32_t epoch;       /* bumped by a seek: answers to older FETCHes are dropped */
    uint32_t fetch_epoch; /* epoch of the FETCH in flight */
    bool in_flight;
    bool paused;          /* an error stopped fetching until the next assign */
    bool queued;          /* in the ready queue */
    bool removed;         /* unassigned; freed once its FETCH has come back */
    uint32_t failures;    /* in a row */
    int64_t failing_since_ms; /* the first failure of the current row */
    uint32_t unknown_answers; /* UNKNOWN_TOPIC / UNKNOWN_PARTITION in a row */
    int64_t retry_at_ms;
    int64_t corrupt_at;   /* offset whose batch failed once and was fetched again; -1 */
    struct chunk *head, *tail;
    size_t buffered;      /* batch bytes queued and not yet decoded */
    struct cpart *next_ready;
    char last_failure[256];
};

struct raftmq_consumer {
    struct raftmq_consumer_config config;
    char *brokers;
    struct wire_client *client;
    char error[CONSUMER_ERROR_BYTES];

    struct ctopic *topics[CONSUMER_TOPICS_MAX];
    uint32_t topic_count;
    struct cpart **parts; /* assigned, CONSUMER_ASSIGNED_MAX slots */
    uint32_t part_count;
    uint32_t send_cursor;
    struct cpart **removed; /* unassigned with a FETCH still in flight (at most one per slot) */
    uint32_t removed_count;

    struct cpart *ready_head, *ready_tail;

    /* The batch being handed out, and the chunk holding it. */
    struct cpart *cur;
    struct chunk *cur_chunk;
    uint32_t cur_epoch;
    bool iter_active;
    struct wire_record_iter iter;
    uint8_t *scratch; /* LZ4 output, WIRE_BATCH_RECORDS_BYTES_MAX, allocated on first use */
    struct raftmq_header headers[WIRE_HEADERS_MAX];
    char header_names[WIRE_HEADERS_MAX * (WIRE_HEADER_NAME_BYTES_MAX + 1)];

    /* Chunks whose batches were all started: freed at the next poll (records point into them). */
    struct chunk *retired;
    struct chunk *pool[CONSUMER_CHUNK_POOL + 1];
    uint32_t pool_count;
    uint32_t pool_max; /* CONSUMER_CHUNK_POOL */

    char dead_address[WIRE_STRING_BYTES_MAX + 1]; /* see send_fetch */
    bool refresh_wanted;
    bool refresh_in_flight;
    int64_t last_refresh_ms;
    int64_t last_network_ns;

    struct group *group; /* consumer groups (group.c); NULL when not subscribed */
};

/* Marks the METADATA request among the FETCHes. */
static char metadata_marker;

/* ---- small helpers ----------------------------------------------------------------- */

static int set_error(raftmq_consumer *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(raftmq_consumer *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return code;
}

static void copy_error(char *errbuf, size_t errbuf_len, const char *msg)
{
    if (errbuf != NULL && errbuf_len > 0)
        snprintf(errbuf, errbuf_len, "%s", msg);
}

static int64_t backoff_ms(uint32_t failures)
{
    int64_t ms = CONSUMER_BACKOFF_MS_MIN;
    for (uint32_t i = 1; i < failures && ms < CONSUMER_BACKOFF_MS_MAX; i++)
        ms *= 2;
    return ms < CONSUMER_BACKOFF_MS_MAX ? ms : CONSUMER_BACKOFF_MS_MAX;
}

/* ---- configuration ----------------------------------------------------------------- */

void raftmq_consumer_config_init(struct raftmq_consumer_config *config)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof(*config));
    config->fetch_max_bytes = 1u * WIRE_MIB;
    config->fetch_max_wait_ms = 500;
    config->partition_buffer_bytes = 4u * WIRE_MIB;
    config->request_timeout_ms = 10000;
    config->offset_reset = RAFTMQ_RESET_EARLIEST;
}

#define CONSUMER_FETCH_BYTES_MIN 1024u
#define CONSUMER_FETCH_BYTES_MAX (4u * WIRE_MIB)
#define CONSUMER_FETCH_WAIT_MS_MAX 300000u
#define CONSUMER_BUFFER_BYTES_MAX (1024u * WIRE_MIB)
#define CONSUMER_REQUEST_TIMEOUT_MS_MAX (24u * 3600u * 1000u)

static bool config_valid(const struct raftmq_consumer_config *cfg, char *why, size_t why_cap)
{
    if (cfg->brokers == NULL || cfg->brokers[0] == '\0') {
        snprintf(why, why_cap, "brokers: no broker address given");
        return false;
    }
    if (cfg->fetch_max_bytes < CONSUMER_FETCH_BYTES_MIN ||
        cfg->fetch_max_bytes > CONSUMER_FETCH_BYTES_MAX) {
        snprintf(why, why_cap, "fetch_max_bytes: %" PRIu32 " is outside [%u, %u]",
                 cfg->fetch_max_bytes, CONSUMER_FETCH_BYTES_MIN, CONSUMER_FETCH_BYTES_MAX);
        return false;
    }
    if (cfg->fetch_max_wait_ms > CONSUMER_FETCH_WAIT_MS_MAX) {
        snprintf(why, why_cap, "fetch_max_wait_ms: %" PRIu32 " is more than %u",
                 cfg->fetch_max_wait_ms, CONSUMER_FETCH_WAIT_MS_MAX);
        return false;
    }
    if (cfg->partition_buffer_bytes < cfg->fetch_max_bytes ||
        cfg->partition_buffer_bytes > CONSUMER_BUFFER_BYTES_MAX) {
        snprintf(why, why_cap,
                 "partition_buffer_bytes: %" PRIu32 " must be at least fetch_max_bytes (%" PRIu32
                 ") and at most %u",
                 cfg->partition_buffer_bytes, cfg->fetch_max_bytes, CONSUMER_BUFFER_BYTES_MAX);
        return false;
    }
    if (cfg->request_timeout_ms == 0 || cfg->request_timeout_ms > CONSUMER_REQUEST_TIMEOUT_MS_MAX) {
        snprintf(why, why_cap, "request_timeout_ms: %" PRIu32 " is outside [1, %u]",
                 cfg->request_timeout_ms, CONSUMER_REQUEST_TIMEOUT_MS_MAX);
        return false;
    }
    if (cfg->offset_reset != RAFTMQ_RESET_EARLIEST && cfg->offset_reset != RAFTMQ_RESET_LATEST &&
        cfg->offset_reset != RAFTMQ_RESET_ERROR) {
        snprintf(why, why_cap, "offset_reset: %d is not EARLIEST, LATEST or ERROR",
                 (int)cfg->offset_reset);
        return false;
    }
    return true;
}

int raftmq_consumer_new(const struct raftmq_consumer_config *config, raftmq_consumer **out,
                        char *errbuf, size_t errbuf_len)
{
    char why[CONSUMER_ERROR_BYTES];
    if (out != NULL)
        *out = NULL;
    if (config == NULL || out == NULL) {
        copy_error(errbuf, errbuf_len, "raftmq_consumer_new: config and out must not be NULL");
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    if (!config_valid(config, why, sizeof(why))) {
        copy_error(errbuf, errbuf_len, why);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    /* The list must split into endpoints (the client would say so only at the first request). */
    char (*endpoints)[WIRE_STRING_BYTES_MAX + 1] =
        malloc(WIRE_CLIENT_BOOTSTRAP_MAX * sizeof(*endpoints));
    if (endpoints == NULL) {
        copy_error(errbuf, errbuf_len, "out of memory");
        return RAFTMQ_ERR_UNKNOWN;
    }
    uint32_t endpoint_count = 0;
    int split = wire_client_split_endpoints(config->brokers, endpoints, WIRE_CLIENT_BOOTSTRAP_MAX,
                                            &endpoint_count);
    free(endpoints);
    if (split != WIRE_OK) {
        snprintf(why, sizeof(why), "brokers: '%.200s' is not a list of at most %u endpoints",
                 config->brokers, WIRE_CLIENT_BOOTSTRAP_MAX);
        copy_error(errbuf, errbuf_len, why);
        return RAFTMQ_ERR_INVALID_REQUEST;
    }
    raftmq_consumer *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->brokers = strdup(config->brokers);
        c->parts = calloc(CONSUMER_ASSIGNED_MAX, sizeof(*c->parts));
        c->removed = calloc(CONSUMER_IN_FLIGHT_MAX, sizeof(*c->removed));
    }
    if (c == NULL || c->brokers == NULL || c->parts == NULL || c->removed == NULL) {
        if (c != NULL) {
            free(c->brokers);
            free(c->parts);
            free(c->removed);
            free(c);
        }
        copy_error(errbuf, errbuf_len, "out of memory");
        return RAFTMQ_ERR_UNKNOWN;
    }
    c->config = *config;
    c->config.brokers = c->brokers;
    c->pool_max = CONSUMER_CHUNK_POOL;
    struct wire_client_config cc = {0};
    cc.bootstrap = c->brokers;
    uint32_t t = config->request_timeout_ms;
    cc.attempt_timeout_ms = t < CONSUMER_METADATA_TIMEOUT_MS ? t : CONSUMER_METADATA_TIMEOUT_MS;
    cc.connect_timeout_ms = t < CONSUMER_CONNECT_TIMEOUT_MS ? t : CONSUMER_CONNECT_TIMEOUT_MS;
    cc.in_flight_max = CONSUMER_IN_FLIGHT_MAX;
    int rc = wire_client_open(&cc, &c->client);
    if (rc != WIRE_OK) {
        snprintf(why, sizeof(why), "cannot open the connection core: %s", wire_strerror(rc));
        copy_error(errbuf, errbuf_len, why);
        free(c->brokers);
        free(c->parts);
        free(c->removed);
        free(c);
        return rc == WIRE_ERR_INVALID_REQUEST ? RAFTMQ_ERR_INVALID_REQUEST : RAFTMQ_ERR_UNKNOWN;
    }
    *out = c;
    return RAFTMQ_OK;
}

const char *raftmq_consumer_last_error(const raftmq_consumer *c)
{
    return c == NULL ? "" : c->error;
}

/* ---- chunks ------------------------------------------------------------------------ */

static struct chunk *chunk_get(raftmq_consumer *c, size_t need)
{
    for (uint32_t i = 0; i < c->pool_count; i++) {
        if (c->pool[i]->cap >= need) {
            struct chunk *k = c->pool[i];
            c->pool[i] = c->pool[--c->pool_count];
            k->next = NULL;
            k->len = k->pos = 0;
            k->error = 0;
            k->error_message = NULL;
            return k;
        }
    }
    size_t cap = need > c->config.fetch_max_bytes + 4096u ? need : c->config.fetch_max_bytes + 4096u;
    struct chunk *k = malloc(sizeof(*k) + cap);
    if (k == NULL)
        return NULL;
    memset(k, 0, sizeof(*k));
    k->cap = cap;
    return k;
}

static void chunk_put(raftmq_consumer *c, struct chunk *k)
{
    free(k->error_message);
    k->error_message = NULL;
    if (k->error == 0 && c->pool_count < c->pool_max) {
        c->pool[c->pool_count++] = k;
        return;
    }
    free(k);
}

/* Frees the retired chunks, except the one the batch being handed out lives in. */
static void free_retired(raftmq_consumer *c)
{
    struct chunk *keep = NULL;
    while (c->retired != NULL) {
        struct chunk *k = c->retired;
        c->retired = k->next;
        if (c->iter_active && k == c->cur_chunk) {
            keep = k;
            continue;
        }
        chunk_put(c, k);
    }
    if (keep != NULL) {
        keep->next = NULL;
        c->retired = keep;
    }
}

static void ready_push(raftmq_consumer *c, struct cpart *p)
{
    if (p->queued || p == c->cur)
        return;
    p->queued = true;
    p->next_ready = NULL;
    if (c->ready_tail == NULL)
        c->ready_head = p;
    else
        c->ready_tail->next_ready = p;
    c->ready_tail = p;
}

static struct cpart *ready_pop(raftmq_consumer *c)
{
    struct cpart *p = c->ready_head;
    if (p == NULL)
        return NULL;
    c->ready_head = p->next_ready;
    if (c->ready_head == NULL)
        c->ready_tail = NULL;
    p->queued = false;
    p->next_ready = NULL;
    return p;
}

static void ready_remove(raftmq_consumer *c, struct cpart *p)
{
    if (!p->queued)
        return;
    struct cpart *prev = NULL;
    for (struct cpart *q = c->ready_head; q != NULL; prev = q, q = q->next_ready) {
        if (q != p)
            continue;
        if (prev == NULL)
            c->ready_head = q->next_ready;
        else
            prev->next_ready = q->next_ready;
        if (c->ready_tail == q)
            c->ready_tail = prev;
        break;
    }
    p->queued = false;
    p->next_ready = NULL;
}

static void chunk_append(raftmq_consumer *c, struct cpart *p, struct chunk *k)
{
    k->next = NULL;
    if (p->tail == NULL)
        p->head = k;
    else
        p->tail->next = k;
    p->tail = k;
    ready_push(c, p);
}

/* Queues an error to be reported after the records buffered before it. */
static void queue_error(raftmq_consumer *c, struct cpart *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void queue_error(raftmq_consumer *c, struct cpart *p, int code, const char *fmt, ...)
{
    struct chunk *k = calloc(1, sizeof(*k));
    char msg[CONSUMER_ERROR_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (k == NULL) {
        /* No memory for the report: say it through last_error at least. */
        set_error(c, code, "%s", msg);
        return;
    }
    k->error = code;
    k->error_message = strdup(msg);
    chunk_append(c, p, k);
}

/* Drops everything buffered for a partition (a seek, an unassign, corrupt data). */
static void drop_buffered(raftmq_consumer *c, struct cpart *p)
{
    /* The last record handed out may point into them: freed at the next poll. */
    while (p->head != NULL) {
        struct chunk *k = p->head;
        p->head = k->next;
        k->next = c->retired;
        c->retired = k;
    }
    p->tail = NULL;
    p->buffered = 0;
    ready_remove(c, p);
    if (c->cur == p) {
        c->cur = NULL;
        c->iter_active = false;
    }
}

/* ---- topics and partitions --------------------------------------------------------- */

static struct ctopic *topic_find(const raftmq_consumer *c, const char *name)
{
    for (uint32_t i = 0; i < c->topic_count; i++) {
        if (strcmp(c->topics[i]->name, name) == 0)
            return c->topics[i];
    }
    return NULL;
}

static struct cpart *part_find(const raftmq_consumer *c, const char *topic, int32_t partition)
{
    if (topic == NULL || partition < 0)
        return NULL;
    const struct ctopic *t = topic_find(c, topic);
    if (t == NULL || (uint32_t)partition >= t->partition_count)
        return NULL;
    return t->by_partition[partition];
}

static void part_free(raftmq_consumer *c, struct cpart *p)
{
    drop_buffered(c, p);
    free(p);
}

/* ---- network ------------------------------------------------------------------------- */

static void want_refresh(raftmq_consumer *c)
{
    c->refresh_wanted = true;
}

static void retry_later(struct cpart *p, int64_t now, bool at_once)
{
    if (p->failures++ == 0)
        p->failing_since_ms = now;
    p->retry_at_ms = at_once ? now : now + backoff_ms(p->failures);
}

static void send_metadata(raftmq_consumer *c, int64_t now)
{
    if (!c->refresh_wanted || c->refresh_in_flight ||
        now - c->last_refresh_ms < CONSUMER_REFRESH_GAP_MS)
        return;
    struct wire_frame req;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_METADATA; /* every topic: the answer is small next to the records */
    c->last_refresh_ms = now;
    uint32_t timeout = c->config.request_timeout_ms < CONSUMER_METADATA_TIMEOUT_MS
                           ? c->config.request_timeout_ms : CONSUMER_METADATA_TIMEOUT_MS;
    if (wire_client_send_routed(c->client, &req, timeout, &metadata_marker, NULL) == WIRE_OK) {
        c->refresh_in_flight = true;
        c->refresh_wanted = false;
    }
}

static bool fetchable(const raftmq_consumer *c, const struct cpart *p, int64_t now)
{
    return !p->in_flight && !p->paused && p->retry_at_ms <= now &&
           p->buffered < c->config.partition_buffer_bytes;
}

/*
 * Sends one FETCH; false when no more can go out right now (the in-flight
 * limit). `dead` (WIRE_STRING_BYTES_MAX + 1 bytes) holds an address that did
 * not take a connection during this round: partitions it leads are not sent
 * there again in the same round, so one dead broker costs a poll one
 * connect timeout, not one per partition.
 */
static bool send_fetch(raftmq_consumer *c, struct cpart *p, int64_t now, char *dead)
{
    uint32_t node;
    const char *leader = NULL;
    if (dead[0] != '\0' &&
        wire_client_leader(c->client, p->topic->name, (uint32_t)p->partition, &node, &leader) ==
            WIRE_OK &&
        strcmp(leader, dead) == 0) {
        snprintf(p->last_failure, sizeof(p->last_failure), "%.200s did not take the connection", dead);
        wire_client_forget_leader(c->client, p->topic->name, (uint32_t)p->partition);
        want_refresh(c);
        retry_later(p, now, false);
        return true;
    }
    struct wire_frame req;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_FETCH;
    struct wire_fetch_req *fq = &req.body.fetch_req;
    fq->topic = (struct wire_bytes){(const uint8_t *)p->topic->name, (uint32_t)strlen(p->topic->name)};
    fq->partition = (uint32_t)p->partition;
    fq->offset = (uint64_t)p->fetch_offset;
    fq->max_bytes = c->config.fetch_max_bytes;
    fq->max_wait_ms = c->config.fetch_max_wait_ms;
    uint32_t timeout = c->config.fetch_max_wait_ms + c->config.request_timeout_ms;
    int rc = wire_client_send_routed(c->client, &req, timeout, p, NULL);
    if (rc == WIRE_OK) {
        p->in_flight = true;
        p->fetch_epoch = p->epoch;
        return true;
    }
    if (rc == WIRE_ERR_LIMIT_EXCEEDED)
        return false;
    snprintf(p->last_failure, sizeof(p->last_failure), "%s", wire_client_error(c->client));
    if (rc == WIRE_ERR_TIMEOUT) { /* the leader did not take the connection */
        if (wire_client_leader(c->client, p->topic->name, (uint32_t)p->partition, &node, &leader) ==
            WIRE_OK)
            snprintf(dead, WIRE_STRING_BYTES_MAX + 1, "%s", leader);
        wire_client_forget_leader(c->client, p->topic->name, (uint32_t)p->partition);
    }
    want_refresh(c);
    retry_later(p, now, false);
    return true;
}

/* Reports TIMEOUT for a partition whose FETCHes failed for request_timeout_ms (and keeps trying). */
static void check_stalled(raftmq_consumer *c, struct cpart *p, int64_t now)
{
    if (p->paused || p->failures == 0 ||
        now - p->failing_since_ms < (int64_t)c->config.request_timeout_ms)
        return;
    p->failing_since_ms = now; /* once per request_timeout_ms */
    queue_error(c, p, RAFTMQ_ERR_TIMEOUT,
                "%s/%" PRId32 ": no FETCH answer from its leader for %" PRIu32
                " ms (last: %s); still trying",
                p->topic->name, p->partition, c->config.request_timeout_ms,
                p->last_failure[0] != '\0' ? p->last_failure : "no answer");
}

static void send_fetches(raftmq_consumer *c, int64_t now)
{
    uint32_t n = c->part_count;
    c->dead_address[0] = '\0';
    for (uint32_t k = 0; k < n; k++) {
        struct cpart *p = c->parts[(c->send_cursor + k) % n];
        if (!p->in_flight)
            check_stalled(c, p, now);
        if (fetchable(c, p, now) && !send_fetch(c, p, now, c->dead_address))
            break;
    }
    c->send_cursor++;
}

/* The earliest retry time of a partition waiting for one (INT64_MAX if none). */
static int64_t next_retry_ms(const raftmq_consumer *c)
{
    int64_t at = INT64_MAX;
    for (uint32_t i = 0; i < c->part_count; i++) {
        const struct cpart *p = c->parts[i];
        if (!p->in_flight && !p->paused && p->buffered < c->config.partition_buffer_bytes &&
            p->retry_at_ms < at)
            at = p->retry_at_ms;
    }
    return at;
}

/* Reads the base offset and record count at their fixed places; false if the header is bad. */
static bool batch_span(const uint8_t *b, size_t len, uint64_t *base, uint32_t *count)
{
    struct wire_batch_header h;
    if (wire_batch_parse_header(b, len, &h, NULL) != WIRE_OK)
        return false;
    *base = h.base_offset;
    *count = h.record_count;
    return true;
}

static void on_fetch_ok(raftmq_consumer *c, struct cpart *p, const struct wire_fetch_resp *fr,
                        int64_t now)
{
    p->failures = 0;
    p->unknown_answers = 0;
    p->last_failure[0] = '\0';
    if ((int64_t)fr->high_watermark > p->hwm)
        p->hwm = (int64_t)fr->high_watermark;
    if (fr->batches.count == 0) {
        if (c->config.fetch_max_wait_ms == 0 && p->fetch_offset >= p->hwm)
            p->retry_at_ms = now + CONSUMER_EMPTY_REFETCH_MS;
        return;
    }
    size_t need = 0;
    for (uint32_t i = 0; i < fr->batches.count; i++)
        need += 4u + fr->batches.items[i].len;
    struct chunk *k = chunk_get(c, need);
    if (k == NULL) {
        snprintf(p->last_failure, sizeof(p->last_failure), "out of memory for a FETCH answer");
        retry_later(p, now, false);
        return;
    }
    int64_t end = p->fetch_offset;
    bool bad = false;
    for (uint32_t i = 0; i < fr->batches.count; i++) {
        const struct wire_bytes *bb = &fr->batches.items[i];
        uint64_t base;
        uint32_t count;
        if (!batch_span(bb->ptr, bb->len, &base, &count)) {
            bad = true; /* its end is unknown: stop before it */
            break;
        }
        if ((int64_t)(base + count) <= end)
            continue; /* entirely before what we asked for */
        uint32_t len = bb->len;
        memcpy(k->data + k->len, &len, 4);
        memcpy(k->data + k->len + 4, bb->ptr, len);
        k->len += 4u + len;
        p->buffered += len;
        end = (int64_t)(base + count);
    }
    p->fetch_offset = end;
    if (k->len > 0)
        chunk_append(c, p, k);
    else
        chunk_put(c, k);
    if (bad) {
        if (p->corrupt_at == end) {
            p->paused = true;
            queue_error(c, p, RAFTMQ_ERR_CORRUPT_BATCH,
                        "%s/%" PRId32 ": the batch at offset %" PRId64
                        " has a bad header, twice; the partition is paused",
                        p->topic->name, p->partition, end);
        } else {
            p->corrupt_at = end;
        }
    }
}

static void on_out_of_range(raftmq_consumer *c, struct cpart *p, const struct wire_frame *f,
                            int64_t now)
{
    const struct wire_offset_range_detail *d = &f->body.offset_range_detail;
    int64_t start = (int64_t)d->log_start_offset, hw = (int64_t)d->high_watermark;
    if (p->fetch_offset > hw && p->fetch_offset <= p->hwm) {
        /* A new leader that has not learnt the commit index yet: it will. */
        snprintf(p->last_failure, sizeof(p->last_failure), "leader's high watermark %" PRId64
                 " behind %" PRId64, hw, p->fetch_offset);
        retry_later(p, now, false);
        return;
    }
    switch (c->config.offset_reset) {
    case RAFTMQ_RESET_EARLIEST:
        p->fetch_offset = start;
        break;
    case RAFTMQ_RESET_LATEST:
        p->fetch_offset = hw;
        break;
    default:
        p->paused = true;
        queue_error(c, p, RAFTMQ_ERR_OFFSET_OUT_OF_RANGE,
                    "%s/%" PRId32 ": offset %" PRId64 " is out of range: the partition holds [%" PRId64
                    ", %" PRId64 ")",
                    p->topic->name, p->partition, p->fetch_offset, start, hw);
        return;
    }
    /* Records already buffered come first, then poll jumps forward to the new
     * offset; going back means nothing buffered is wanted. */
    if (p->fetch_offset < p->position || (p->head == NULL && c->cur != p)) {
        drop_buffered(c, p);
        p->position = p->fetch_offset;
    }
    p->retry_at_ms = now;
}

static void on_fetch_reply(raftmq_consumer *c, struct cpart *p, struct wire_client_reply *r,
                           int64_t now)
{
    p->in_flight = false;
    if (p->fetch_epoch != p->epoch) {
        p->retry_at_ms = now; /* an answer from before a seek: ask again at the new offset */
        return;
    }
    if (r->status != WIRE_OK) {
        snprintf(p->last_failure, sizeof(p->last_failure), "%s", wire_client_error(c->client));
        wire_client_forget_leader(c->client, p->topic->name, (uint32_t)p->partition);
        want_refresh(c);
        retry_later(p, now, false);
        return;
    }
    const struct wire_frame *f = &r->frame;
    if (f->error != WIRE_OK) {
        snprintf(p->last_failure, sizeof(p->last_failure), "%s from %s: %.*s",
                 wire_err_name((int)f->error), r->address,
                 (int)(f->error_message.len > 150 ? 150 : f->error_message.len),
                 f->error_message.ptr != NULL ? (const char *)f->error_message.ptr : "");
    }
    switch (f->error) {
    case WIRE_OK:
        on_fetch_ok(c, p, &f->body.fetch_resp, now);
        return;
    case WIRE_ERR_NOT_LEADER: {
        wire_client_note_not_leader(c->client, p->topic->name, (uint32_t)p->partition, f);
        bool named = f->body.not_leader_detail.leader_id != 0;
        want_refresh(c);
        retry_later(p, now, named && p->failures == 0);
        return;
    }
    case WIRE_ERR_OFFSET_OUT_OF_RANGE:
        on_out_of_range(c, p, f, now);
        return;
    case WIRE_ERR_UNKNOWN_TOPIC:
    case WIRE_ERR_UNKNOWN_PARTITION:
        want_refresh(c);
        if (++p->unknown_answers >= CONSUMER_UNKNOWN_BELIEVED) {
            p->paused = true;
            queue_error(c, p, (int)f->error, "%s/%" PRId32 ": %s (deleted?); the partition is paused",
                        p->topic->name, p->partition, p->last_failure);
            return;
        }
        retry_later(p, now, false);
        return;
    case WIRE_ERR_LEADER_NOT_AVAILABLE:
    case WIRE_ERR_SHUTTING_DOWN:
    case WIRE_ERR_STORAGE_ERROR:
        wire_client_forget_leader(c->client, p->topic->name, (uint32_t)p->partition);
        want_refresh(c);
        retry_later(p, now, false);
        return;
    default: /* TIMEOUT, BACKPRESSURE, anything else: back off and ask again */
        retry_later(p, now, false);
        return;
    }
}

static void on_reply(raftmq_consumer *c, struct wire_client_reply *r, int64_t now)
{
    if (rmq_group_owns_reply(r)) {
        if (c->group != NULL)
            rmq_group_on_reply(c, c->group, r);
        return;
    }
    if (r->user == &metadata_marker) {
        c->refresh_in_flight = false;
        if (r->status == WIRE_OK && r->frame.error == WIRE_OK &&
            wire_client_apply_metadata(c->client, &r->frame.body.metadata_resp) == WIRE_OK) {
            /* Partitions waiting for a leader may try the one just learnt. */
            for (uint32_t i = 0; i < c->part_count; i++) {
                struct cpart *p = c->parts[i];
                if (!p->in_flight && p->failures > 0 && p->retry_at_ms > now + CONSUMER_BACKOFF_MS_MIN)
                    p->retry_at_ms = now + CONSUMER_BACKOFF_MS_MIN;
            }
        } else {
            c->refresh_wanted = true;
        }
        return;
    }
    struct cpart *p = r->user;
    if (p->removed) {
        for (uint32_t i = 0; i < c->removed_count; i++) {
            if (c->removed[i] == p) {
                c->removed[i] = c->removed[--c->removed_count];
                break;
            }
        }
        part_free(c, p);
        return;
    }
    on_fetch_reply(c, p, r, now);
}

/*
 * One round of network work: answers that arrived (waiting up to wait_ms
 * for the first), then the FETCHes and METADATA that are due.
 */
static void network_step(raftmq_consumer *c, int64_t wait_ms)
{
    int64_t now = wire_mono_ms();
    send_metadata(c, now);
    send_fetches(c, now);
    if (wait_ms > 0) {
        int64_t retry = next_retry_ms(c);
        if (retry != INT64_MAX && retry - now < wait_ms)
            wait_ms = retry > now ? retry - now : 0;
        if (c->refresh_wanted && !c->refresh_in_flight) {
            int64_t gap = c->last_refresh_ms + CONSUMER_REFRESH_GAP_MS - now;
            if (gap < wait_ms)
                wait_ms = gap > 0 ? gap : 0;
        }
    }
    struct wire_client_reply reply;
    uint32_t handled = 0;
    uint32_t wait = wait_ms > 0 ? (uint32_t)wait_ms : 0;
    while (handled < CONSUMER_REPLIES_PER_STEP &&
           wire_client_poll(c->client, handled == 0 ? wait : 0, &reply) == WIRE_OK) {
        handled++;
        now = wire_mono_ms();
        on_reply(c, &reply, now);
    }
    if (handled > 0) {
        now = wire_mono_ms();
        send_metadata(c, now);
        send_fetches(c, now);
    }
    c->last_network_ns = wire_mono_ns();
}

/* ---- decoding ------------------------------------------------------------------------ */

/*
 * A batch failed its CRC or did not decode: drop what is buffered and fetch
 * it again once; the second time report CORRUPT_BATCH (returned) and pause.
 */
static int on_corrupt(raftmq_consumer *c, struct cpart *p, int rc, const char *why,
                      struct raftmq_record *rec)
{
    drop_buffered(c, p);
    p->fetch_offset = p->position;
    p->epoch++; /* the FETCH in flight asked for data after the bad batch */
    p->retry_at_ms = 0;
    if (p->corrupt_at != p->position) {
        p->corrupt_at = p->position;
        return RAFTMQ_OK;
    }
    p->paused = true;
    memset(rec, 0, sizeof(*rec));
    rec->topic = p->topic->name;
    rec->partition = p->partition;
    return set_error(c, RAFTMQ_ERR_CORRUPT_BATCH,
                     "%s/%" PRId32 ": the batch holding offset %" PRId64
                     " is corrupt (%s: %s), also when fetched again; the partition is paused",
                     p->topic->name, p->partition, p->position, wire_err_name(rc),
                     why != NULL ? why : wire_strerror(rc));
}

/* Takes the next batch off a partition's queue. RAFTMQ_OK with iter_active, or an error to return. */
static int start_batch(raftmq_consumer *c, struct cpart *p, struct raftmq_record *rec)
{
    struct chunk *k = p->head;
    if (k == NULL)
        return RAFTMQ_OK;
    if (k->error != 0) {
        p->head = k->next;
        if (p->head == NULL)
            p->tail = NULL;
        memset(rec, 0, sizeof(*rec));
        rec->topic = p->topic->name;
        rec->partition = p->partition;
        int code = set_error(c, k->error, "%s", k->error_message != NULL ? k->error_message : "");
        chunk_put(c, k);
        if (p->head != NULL)
            ready_push(c, p);
        return code;
    }
    c->cur_chunk = k;
    uint32_t len;
    memcpy(&len, k->data + k->pos, 4);
    const uint8_t *batch = k->data + k->pos + 4;
    k->pos += 4u + len;
    p->buffered -= len;
    if (k->pos >= k->len) {
        /* Its records may be handed out until the next poll: free it then. */
        p->head = k->next;
        if (p->head == NULL)
            p->tail = NULL;
        k->next = c->retired;
        c->retired = k;
    }
    uint64_t base;
    uint32_t count;
    if (batch_span(batch, len, &base, &count) && (int64_t)(base + count) <= p->position) {
        if (p->head != NULL)
            ready_push(c, p);
        return RAFTMQ_OK; /* nothing new in it: no need to check it */
    }
    struct wire_batch_header h;
    const char *why = NULL;
    int rc = wire_batch_validate(batch, len, &h, &why);
    if (rc == WIRE_OK && h.codec != WIRE_CODEC_NONE && c->scratch == NULL) {
        c->scratch = malloc(WIRE_BATCH_RECORDS_BYTES_MAX);
        if (c->scratch == NULL) {
            rc = WIRE_ERR_UNKNOWN;
            why = "out of memory for the decompression buffer";
        }
    }
    if (rc == WIRE_OK)
        rc = wire_record_iter_init(&c->iter, &h, c->scratch,
                                   c->scratch != NULL ? WIRE_BATCH_RECORDS_BYTES_MAX : 0, &why);
    if (rc != WIRE_OK)
        return on_corrupt(c, p, rc, why, rec);
    c->cur = p;
    c->cur_epoch = p->epoch;
    c->iter_active = true;
    return RAFTMQ_OK;
}

/* The batch is done (or abandoned): its partition goes to the back of the queue. */
static void finish_batch(raftmq_consumer *c)
{
    struct cpart *p = c->cur;
    c->cur = NULL;
    c->iter_active = false;
    if (p != NULL && p->head != NULL)
        ready_push(c, p);
}

/* The next record of the current batch: RAFTMQ_OK, NO_RECORD at its end, or an error. */
static int next_record(raftmq_consumer *c, struct raftmq_record *rec)
{
    struct cpart *p = c->cur;
    while (wire_record_iter_has_next(&c->iter)) {
        struct wire_record r;
        const char *why = NULL;
        int rc = wire_record_iter_next(&c->iter, &r, &why);
        if (rc != WIRE_OK) {
            c->iter_active = false;
            c->cur = NULL;
            rc = on_corrupt(c, p, rc, why, rec);
            return rc == RAFTMQ_OK ? RAFTMQ_ERR_NO_RECORD : rc;
        }
        if ((int64_t)r.offset < p->position)
            continue; /* the batch began before the position */
        rec->topic = p->topic->name;
        rec->partition = p->partition;
        rec->offset = (int64_t)r.offset;
        rec->timestamp = r.timestamp;
        rec->key = r.has_key ? (r.key.len > 0 ? (const void *)r.key.ptr : (const void *)"") : NULL;
        rec->key_len = r.has_key ? r.key.len : 0;
        rec->value = r.value.len > 0 ? (const void *)r.value.ptr : (const void *)"";
        rec->value_len = r.value.len;
        rec->header_count = r.header_count;
        if (r.header_count > 0) {
            char *names = c->header_names;
            for (uint32_t i = 0; i < r.header_count; i++) {
                const struct wire_header *h = &r.headers[i];
                uint32_t n = h->name.len <= WIRE_HEADER_NAME_BYTES_MAX ? h->name.len
                                                                        : WIRE_HEADER_NAME_BYTES_MAX;
                if (n > 0)
                    memcpy(names, h->name.ptr, n);
                names[n] = '\0';
                c->headers[i].name = names;
                names += n + 1;
                c->headers[i].value = h->value.len > 0 ? (const void *)h->value.ptr : (const void *)"";
                c->headers[i].value_len = h->value.len;
            }
            rec->headers = c->headers;
        } else {
            rec->headers = NULL;
        }
        p->position = (int64_t)r.offset + 1;
        if (p->corrupt_at >= 0 && p->position > p->corrupt_at)
            p->corrupt_at = -1;
        return RAFTMQ_OK;
    }
    finish_batch(c);
    return RAFTMQ_ERR_NO_RECORD;
}

int raftmq_consumer_poll(raftmq_consumer *c, int timeout_ms, struct raftmq_record *rec)
{
    if (c == NULL || rec == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    if (c->group != NULL && rmq_group_in_callback(c->group))
        return set_error(c, RAFTMQ_ERR_INVALID_REQUEST, "poll called from an assignment callback");
    free_retired(c);
    int64_t deadline_ns = wire_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    if (c->group != NULL)
        rmq_group_poll_begin(c, c->group);
    for (;;) {
        if (c->group != NULL && rmq_group_attention(c->group))
            rmq_group_poll_begin(c, c->group);
        if (c->iter_active) {
            if (c->cur == NULL || c->cur->epoch != c->cur_epoch) {
                finish_batch(c);
            } else {
                int rc = next_record(c, rec);
                if (rc != RAFTMQ_ERR_NO_RECORD)
                    return rc;
                continue;
            }
        }
        int64_t now_ns = wire_mono_ns();
        if (c->ready_head != NULL) {
            /* Keep the pipeline moving while records are handed out. */
            if (now_ns - c->last_network_ns >= CONSUMER_NETWORK_GAP_NS)
                network_step(c, 0);
            struct cpart *p = ready_pop(c);
            if (p == NULL)
                continue;
            int rc = start_batch(c, p, rec);
            if (rc != RAFTMQ_OK)
                return rc;
            continue;
        }
        int64_t left_ms = (deadline_ns - now_ns + 999999) / 1000000;
        /* A subscribed consumer looks at its group at least every 100 ms. */
        if (c->group != NULL && left_ms > CONSUMER_GROUP_LOOK_MS)
            left_ms = CONSUMER_GROUP_LOOK_MS;
        network_step(c, left_ms > 0 ? left_ms : 0);
        if (c->group != NULL)
            rmq_group_after_network(c, c->group);
        if (c->ready_head == NULL && wire_mono_ns() >= deadline_ns)
            return set_error(c, RAFTMQ_ERR_NO_RECORD, "no record within %d ms", timeout_ms);
    }
}

/* ---- assignment ---------------------------------------------------------------------- */

/* Metadata for `topic` (asking again briefly when a just-created topic is not known yet). */
static int topic_partitions(raftmq_consumer *c, const char *topic, int64_t deadline,
                            uint32_t *count)
{
    if (wire_client_partition_count(c->client, topic, count) == WIRE_OK && *count > 0)
        return RAFTMQ_OK;
    int64_t grace_end = wire_mono_ms() + CONSUMER_UNKNOWN_TOPIC_GRACE_MS;
    for (;;) {
        int64_t left = deadline - wire_mono_ms();
        if (left <= 0)
            left = 1;
        int rc = wire_client_refresh_metadata(c->client, topic, (uint32_t)left);
        if (rc != WIRE_OK)
            return set_error(c, RAFTMQ_ERR_TIMEOUT, "cannot reach the cluster at %s: %s",
                             c->brokers, wire_client_error(c->client));
        if (wire_client_partition_count(c->client, topic, count) == WIRE_OK && *count > 0)
            return RAFTMQ_OK;
        int64_t now = wire_mono_ms();
        if (now >= grace_end || now >= deadline)
            return set_error(c, RAFTMQ_ERR_UNKNOWN_TOPIC, "unknown topic '%s'", topic);
        wire_sleep_ms(50);
    }
}

/* LIST_OFFSETS with spec -2 (earliest), -1 (latest) or a timestamp. */
static int list_offset(raftmq_consumer *c, const char *topic, int32_t partition, int64_t spec,
                       int64_t deadline, int64_t *offset)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_LIST_OFFSETS;
    req.body.list_offsets_req.topic =
        (struct wire_bytes){(const uint8_t *)topic, (uint32_t)strlen(topic)};
    req.body.list_offsets_req.partition = (uint32_t)partition;
    req.body.list_offsets_req.spec = spec;
    int64_t left = deadline - wire_mono_ms();
    int rc = wire_client_request(c->client, &req, left > 0 ? (uint32_t)left : 1u, 0, &resp);
    if (rc != WIRE_OK)
        return set_error(c, rc == WIRE_ERR_TIMEOUT ? RAFTMQ_ERR_TIMEOUT : rc,
                         "%s/%" PRId32 ": LIST_OFFSETS: %s", topic, partition,
                         wire_client_error(c->client));
    if (resp.error != WIRE_OK)
        return set_error(c, (int)resp.error, "%s/%" PRId32 ": LIST_OFFSETS: %s: %.*s", topic,
                         partition, wire_err_name((int)resp.error),
                         (int)(resp.error_message.len > 200 ? 200 : resp.error_message.len),
                         resp.error_message.ptr != NULL ? (const char *)resp.error_message.ptr : "");
    *offset = (int64_t)resp.body.list_offsets_resp.offset;
    return RAFTMQ_OK;
}

static struct ctopic *topic_add(raftmq_consumer *c, const char *name, uint32_t count)
{
    if (c->topic_count >= CONSUMER_TOPICS_MAX)
        return NULL;
    struct ctopic *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->by_partition = calloc(count, sizeof(*t->by_partition));
    if (t->by_partition == NULL) {
        free(t);
        return NULL;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->partition_count = count;
    c->topics[c->topic_count++] = t;
    return t;
}

/* kind: 0 an offset spec of raftmq.h, 1 a timestamp. */
static int assign(raftmq_consumer *c, const char *topic, int32_t partition, int64_t start,
                  bool by_timestamp)
{
    if (c == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    if (topic == NULL || !wire_topic_name_valid(topic, strlen(topic)))
        return set_error(c, RAFTMQ_ERR_INVALID_REQUEST, "invalid topic name '%.250s'",
                         topic != NULL ? topic : "(null)");
    if (partition < 0 || (uint32_t)partition >= WIRE_PARTITIONS_MAX)
        return set_error(c, RAFTMQ_ERR_INVALID_REQUEST, "%s: invalid partition %" PRId32, topic,
                         partition);
    if (by_timestamp ? start < 0
                     : !(start >= 0 || start == RAFTMQ_OFFSET_BEGINNING ||
                         start == RAFTMQ_OFFSET_END || start < RAFTMQ_OFFSET_TAIL_BASE))
        return set_error(c, RAFTMQ_ERR_INVALID_REQUEST,
                         "%s/%" PRId32 ": invalid start %" PRId64
                         " (an offset >= 0, BEGINNING, END or TAIL(n) with n >= 1)",
                         topic, partition, start);
    struct cpart *existing = part_find(c, topic, partition);
    if (existing == NULL && c->part_count >= CONSUMER_ASSIGNED_MAX)
        return set_error(c, RAFTMQ_ERR_INVALID_REQUEST, "more than %u partitions assigned",
                         CONSUMER_ASSIGNED_MAX);
    int64_t deadline = wire_mono_ms() + c->config.request_timeout_ms;
    uint32_t count = 0;
    int rc = topic_partitions(c, topic, deadline, &count);
    if (rc != RAFTMQ_OK)
        return rc;
    if ((uint32_t)partition >= count)
        return set_error(c, RAFTMQ_ERR_UNKNOWN_PARTITION,
                         "topic '%s' has %" PRIu32 " partitions: %" PRId32 " does not exist", topic,
                         count, partition);
    int64_t offset = start;
    if (by_timestamp) {
        rc = list_offset(c, topic, partition, start, deadline, &offset);
    } else if (start == RAFTMQ_OFFSET_BEGINNING || start == RAFTMQ_OFFSET_END) {
        rc = list_offset(c, topic, partition, start, deadline, &offset);
    } else if (start < RAFTMQ_OFFSET_TAIL_BASE) {
        int64_t n = RAFTMQ_OFFSET_TAIL_BASE - start, first = 0, end = 0;
        rc = list_offset(c, topic, partition, RAFTMQ_OFFSET_BEGINNING, deadline, &first);
        if (rc == RAFTMQ_OK)
            rc = list_offset(c, topic, partition, RAFTMQ_OFFSET_END, deadline, &end);
        offset = end - n > first ? end - n : first;
    }
    if (rc != RAFTMQ_OK)
        return rc;

    struct ctopic *t = topic_find(c, topic);
    if (t != NULL && t->partition_count < count) {
        struct cpart **grown = realloc(t->by_partition, count * sizeof(*grown));
        if (grown == NULL)
            return set_error(c, RAFTMQ_ERR_UNKNOWN, "out of memory");
        memset(grown + t->partition_count, 0, (count - t->partition_count) * sizeof(*grown));
        t->by_partition = grown;
        t->partition_count = count;
    }
    if (t == NULL && (t = topic_add(c, topic, count)) == NULL)
        return set_error(c, RAFTMQ_ERR_UNKNOWN, "out of memory (or more than %u topics)",
                         CONSUMER_TOPICS_MAX);
    struct cpart *p = t->by_partition[partition];
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            return set_error(c, RAFTMQ_ERR_UNKNOWN, "out of memory");
        p->topic = t;
        p->partition = partition;
        p->hwm = -1;
        t->by_partition[partition] = p;
        c->parts[c->part_count++] = p;
    } else {
        drop_buffered(c, p);
    }
    p->epoch++;
    p->position = p->fetch_offset = offset;
    p->paused = false;
    p->failures = 0;
    p->unknown_answers = 0;
    p->retry_at_ms = 0;
    p->corrupt_at = -1;
    p->last_failure[0] = '\0';
    c->error[0] = '\0';
    return RAFTMQ_OK;
}

static int refuse_when_subscribed(raftmq_consumer *c, const char *what)
{
    return set_error(c, RAFTMQ_ERR_INVALID_REQUEST,
                     "%s: the consumer is subscribed to a group, which assigns its partitions", what);
}

int raftmq_consumer_assign(raftmq_consumer *c, const char *topic, int32_t partition, int64_t start)
{
    if (c != NULL && c->group != NULL)
        return refuse_when_subscribed(c, "assign");
    return assign(c, topic, partition, start, false);
}

int raftmq_consumer_assign_timestamp(raftmq_consumer *c, const char *topic, int32_t partition,
                                     int64_t timestamp_ms)
{
    if (c != NULL && c->group != NULL)
        return refuse_when_subscribed(c, "assign_timestamp");
    return assign(c, topic, partition, timestamp_ms, true);
}

int rmq_consumer_assign_at(raftmq_consumer *c, const char *topic, int32_t partition, int64_t start)
{
    return assign(c, topic, partition, start, false);
}

int raftmq_consumer_unassign(raftmq_consumer *c, const char *topic, int32_t partition)
{
    if (c != NULL && c->group != NULL)
        return refuse_when_subscribed(c, "unassign");
    return rmq_consumer_unassign_any(c, topic, partition);
}

int rmq_consumer_unassign_any(raftmq_consumer *c, const char *topic, int32_t partition)
{
    if (c == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    struct cpart *p = part_find(c, topic, partition);
    if (p == NULL)
        return set_error(c, RAFTMQ_ERR_NOT_ASSIGNED, "%s/%" PRId32 " is not assigned",
                         topic != NULL ? topic : "(null)", partition);
    p->topic->by_partition[partition] = NULL;
    for (uint32_t i = 0; i < c->part_count; i++) {
        if (c->parts[i] == p) {
            c->parts[i] = c->parts[--c->part_count];
            break;
        }
    }
    drop_buffered(c, p);
    if (p->in_flight && c->removed_count < CONSUMER_IN_FLIGHT_MAX) {
        /* Its FETCH answer still names it: free it when that comes back. */
        p->removed = true;
        c->removed[c->removed_count++] = p;
        return RAFTMQ_OK;
    }
    free(p);
    return RAFTMQ_OK;
}

int raftmq_consumer_position(const raftmq_consumer *c, const char *topic, int32_t partition,
                             int64_t *offset)
{
    if (c == NULL || offset == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    const struct cpart *p = part_find(c, topic, partition);
    if (p == NULL)
        return RAFTMQ_ERR_NOT_ASSIGNED;
    *offset = p->position;
    return RAFTMQ_OK;
}

int raftmq_consumer_high_watermark(const raftmq_consumer *c, const char *topic,
                                   int32_t partition, int64_t *offset)
{
    if (c == NULL || offset == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    const struct cpart *p = part_find(c, topic, partition);
    if (p == NULL)
        return RAFTMQ_ERR_NOT_ASSIGNED;
    *offset = p->hwm;
    return RAFTMQ_OK;
}

/* ---- for group.c (consumer_internal.h) -------------------------------------------------- */

struct group *rmq_consumer_group(const raftmq_consumer *c)
{
    return c->group;
}

void rmq_consumer_set_group(raftmq_consumer *c, struct group *g)
{
    c->group = g;
}

struct wire_client *rmq_consumer_client(raftmq_consumer *c)
{
    return c->client;
}

const struct raftmq_consumer_config *rmq_consumer_config(const raftmq_consumer *c)
{
    return &c->config;
}

int rmq_consumer_fail(raftmq_consumer *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return code;
}

uint32_t rmq_consumer_assigned_count(const raftmq_consumer *c)
{
    return c->part_count;
}

void rmq_consumer_want_refresh(raftmq_consumer *c)
{
    want_refresh(c);
}

void raftmq_consumer_close(raftmq_consumer *c)
{
    if (c == NULL)
        return;
    if (c->group != NULL) {
        if (rmq_group_in_callback(c->group))
            return; /* refused: a callback cannot free the consumer it runs in */
        /* Hands the partitions over now rather than at the session timeout. */
        raftmq_consumer_unsubscribe(c, (int)(c->config.request_timeout_ms > INT32_MAX
                                                 ? INT32_MAX
                                                 : c->config.request_timeout_ms));
    }
    wire_client_close(c->client); /* drops every request in flight */
    c->cur = NULL;
    c->iter_active = false;
    for (uint32_t i = 0; i < c->part_count; i++)
        part_free(c, c->parts[i]);
    for (uint32_t i = 0; i < c->removed_count; i++)
        part_free(c, c->removed[i]);
    free_retired(c);
    for (uint32_t i = 0; i < c->pool_count; i++)
        free(c->pool[i]);
    for (uint32_t i = 0; i < c->topic_count; i++) {
        free(c->topics[i]->by_partition);
        free(c->topics[i]);
    }
    free(c->removed);
    free(c->parts);
    free(c->scratch);
    free(c->brokers);
    free(c);
}
