/* raftmq-produce: one record per input line, batched per partition, pipelined, retried until acknowledged. */
#define _GNU_SOURCE /* memmem */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wire/batch.h"
#include "wire/client.h"
#include "wire/tool.h"

/*
 * How it works:
 *
 *   input lines -> per-partition buffer -> sealed batch -> PRODUCE -> ack
 *
 * A partition's buffer is sealed into a record batch when it holds
 * PRODUCE_BATCH_BYTES of keys and values or PRODUCE_BATCH_RECORDS records,
 * when its oldest record has waited --linger ms, or at the end of the input.
 * Sealed batches keep their encoded bytes until acknowledged, so a retry
 * resends exactly the same batch. Up to --in-flight PRODUCE requests are on
 * the wire at once (--sync: one record at a time, each acknowledged before
 * the next line is read).
 *
 * The main loop never blocks on one thing for long: it alternates between
 * the input (poll on its descriptor) and the broker replies
 * (wire_client_poll), and every wait is bounded by the next timer (a
 * linger expiry or a retry).
 */

#define PRODUCE_BATCH_BYTES (64u * WIRE_KIB)
#define PRODUCE_BATCH_RECORDS 1000u
#define PRODUCE_IN_FLIGHT_DEFAULT 16u
#define PRODUCE_IN_FLIGHT_MAX 256u
#define PRODUCE_TIMEOUT_MS_DEFAULT 30000u
#define PRODUCE_TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define PRODUCE_LINGER_MS_DEFAULT 5u
#define PRODUCE_LINGER_MS_MAX 60000u
/* Input is not read while this much is buffered, sealed or in flight. */
#define PRODUCE_BUFFERED_BYTES_MAX (32u * WIRE_MIB)
/* What the broker may take to commit one request before answering TIMEOUT. */
#define PRODUCE_REQUEST_TIMEOUT_MS 10000u
/* Extra wait for the answer beyond the broker's own timeout. */
#define PRODUCE_ANSWER_MARGIN_MS 2000u
#define PRODUCE_BACKOFF_MS_MIN 50u
#define PRODUCE_BACKOFF_MS_MAX 1000u
#define PRODUCE_LINE_LINES_SHOWN 8u
#define PRODUCE_BROKERS_BYTES (16u * 1024u)
/* The longest input line: a record's value can never be larger. */
#define PRODUCE_LINE_BYTES_MAX WIRE_RECORD_BYTES_MAX
#define PRODUCE_READ_CHUNK (64u * WIRE_KIB)

struct produce_opts {
    char brokers[PRODUCE_BROKERS_BYTES];
    const char *topic;
    bool has_partition;
    uint32_t partition;
    const char *key;       /* -k: every record's key */
    const char *delimiter; /* -K: key is the part of the line before it */
    const char *file;      /* NULL: stdin */
    bool sync;
    uint32_t linger_ms;
    uint32_t timeout_ms;
    uint32_t in_flight;
    uint32_t header_count;
    struct wire_header headers[WIRE_HEADERS_MAX];
};

/* A record waiting in a partition buffer; key and value are offsets into the buffer's data. */
struct pending_record {
    uint64_t line;
    int64_t timestamp;
    bool has_key;
    uint32_t key_off, key_len;
    uint32_t value_off, value_len;
};

struct partition_buffer {
    uint8_t *data;
    size_t data_len, data_cap;
    struct pending_record *records;
    uint32_t count, records_cap;
    int64_t oldest_ms; /* arrival of records[0] (the linger clock) */
};

/* A sealed batch, waiting to be sent, in flight, or waiting for a retry. */
struct sealed_batch {
    struct sealed_batch *next; /* in the send queue */
    uint32_t partition;
    uint8_t *bytes;
    size_t len;
    uint32_t record_count;
    uint64_t *lines;        /* input line of each record */
    uint64_t payload_bytes; /* keys and values */
    int64_t deadline_ms;    /* give up after this */
    int64_t retry_at_ms;
    uint32_t attempts;
    char last_error[256];
};

struct producer {
    struct produce_opts o;
    struct wire_client *client;
    uint32_t partition_count;
    struct partition_buffer *buffers;
    uint32_t round_robin;
    /* The send queue: oldest first; a retry goes back to the front. */
    struct sealed_batch *queue_head, *queue_tail;
    uint32_t in_flight;
    size_t buffered_bytes; /* in buffers, queued and in flight */
    /* Encoding scratch: one maximal batch. */
    uint8_t *scratch;
    bool refresh_wanted;
    int64_t last_refresh_ms;
    bool topic_gone;
    /* Counters for the summary. */
    uint64_t records_acked;
    uint64_t bytes_acked;
    uint64_t records_failed;
};

static volatile sig_atomic_t stop_requested;

static void print_help(void)
{
    printf(
        "Usage: raftmq-produce [-b BROKERS] -t TOPIC [-p PARTITION] [-k KEY | -K DELIM]\n"
        "                      [-H NAME=VALUE ...] [--file PATH] [--sync] [--linger MS]\n"
        "                      [--timeout MS] [--in-flight N]\n"
        "\n"
        "Sends one record per input line (standard input, or --file) to TOPIC. The\n"
        "newline is not part of the record; every line, empty ones included, is a record.\n"
        "\n"
        "Options:\n"
        "  -b, --brokers LIST   comma-separated client addresses (\"tcp://\" may be left out);\n"
        "                       default $" TOOL_BROKERS_ENV " or " TOOL_BROKERS_DEFAULT "\n"
        "  -t, --topic TOPIC    the topic (must exist: see raftmq-admin topic create)\n"
        "  -p, --partition N    send every record to partition N\n"
        "  -k, --key KEY        every record gets key KEY\n"
        "  -K, --key-delimiter DELIM\n"
        "                       the key is the part of the line before the first DELIM and\n"
        "                       the value the part after it; a line without DELIM has no key\n"
        "  -H, --header NAME=VALUE\n"
        "                       add this header to every record (repeatable, at most %u)\n"
        "      --file PATH      read lines from PATH instead of standard input\n"
        "      --sync           send each record alone and wait for its acknowledgement\n"
        "                       before reading the next line (slow; keeps order across retries)\n"
        "      --linger MS      wait up to MS ms for more records before sending a partial\n"
        "                       batch (default %u); a batch is sent at once when it reaches\n"
        "                       %u KiB of keys and values or %u records\n"
        "      --timeout MS     give up on a record not acknowledged MS ms after it was read,\n"
        "                       retries included (default %u); also bounds the start-up\n"
        "      --in-flight N    PRODUCE requests on the wire at once (default %u, max %u)\n"
        "  -h, --help           this help\n"
        "\n"
        "Partitioner (without -p): a record with a key goes to partition\n"
        "  FNV-1a-32(key bytes) mod partition-count\n"
        "(32-bit FNV-1a: offset basis 2166136261, prime 16777619). This hash is stable:\n"
        "the same key always lands on the same partition while the partition count stays\n"
        "the same, so its records stay in order. Records without a key go round robin.\n"
        "\n"
        "Delivery: a record counts as sent once the partition's leader has committed it\n"
        "on a majority of replicas. NOT_LEADER, LEADER_NOT_AVAILABLE, TIMEOUT,\n"
        "BACKPRESSURE and lost connections are retried with backoff until --timeout. A\n"
        "retry after a TIMEOUT or a lost connection may store a record twice, and with\n"
        "several requests in flight a retried batch may land after later ones.\n"
        "Failures are reported on stderr with their input line numbers; at the end a\n"
        "summary line (records acknowledged, bytes of keys and values, seconds) goes to\n"
        "stderr.\n"
        "\n"
        "Examples:\n"
        "  echo hello | raftmq-produce -b 127.0.0.1:9292 -t orders\n"
        "  printf 'user1:login\\nuser2:logout\\n' | raftmq-produce -b 127.0.0.1:9292 -t orders -K :\n"
        "  raftmq-produce -b 127.0.0.1:9292 -t orders -p 0 -H source=batch --file events.txt\n"
        "\n"
        "Exit status: 0 every record acknowledged, 1 some record was not (or the brokers\n"
        "were unreachable, the topic or partition unknown), 2 bad command line.\n",
        WIRE_HEADERS_MAX, PRODUCE_LINGER_MS_DEFAULT, PRODUCE_BATCH_BYTES / WIRE_KIB,
        PRODUCE_BATCH_RECORDS, PRODUCE_TIMEOUT_MS_DEFAULT, PRODUCE_IN_FLIGHT_DEFAULT,
        PRODUCE_IN_FLIGHT_MAX);
}

/* ---- failures -------------------------------------------------------------------- */

/* "lines 3, 5, 9 and 120 more" for a batch's records. */
static void describe_lines(const uint64_t *lines, uint32_t count, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "%s ", count == 1 ? "line" : "lines");
    for (uint32_t i = 0; i < count && i < PRODUCE_LINE_LINES_SHOWN && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%" PRIu64, i > 0 ? ", " : "", lines[i]);
        if (w > 0)
            used += (size_t)w;
    }
    if (count > PRODUCE_LINE_LINES_SHOWN && used < cap)
        snprintf(buf + used, cap - used, " and %" PRIu32 " more",
                 count - PRODUCE_LINE_LINES_SHOWN);
}

static void fail_lines(struct producer *p, const uint64_t *lines, uint32_t count,
                       uint32_t partition, const char *why)
{
    char which[256];
    describe_lines(lines, count, which, sizeof(which));
    tool_error("%s (partition %" PRIu32 "): not acknowledged: %s", which, partition, why);
    p->records_failed += count;
}

/* ---- the send queue ---------------------------------------------------------------- */

static void queue_push_back(struct producer *p, struct sealed_batch *b)
{
    b->next = NULL;
    if (p->queue_tail != NULL)
        p->queue_tail->next = b;
    else
        p->queue_head = b;
    p->queue_tail = b;
}

static void queue_push_front(struct producer *p, struct sealed_batch *b)
{
    b->next = p->queue_head;
    p->queue_head = b;
    if (p->queue_tail == NULL)
        p->queue_tail = b;
}

static void batch_free(struct producer *p, struct sealed_batch *b)
{
    p->buffered_bytes -= b->len;
    free(b->bytes);
    free(b->lines);
    free(b);
}

/* ---- sealing ------------------------------------------------------------------------- */

/* Copies the builder's finished batch into a new sealed batch and queues it. */
static int queue_built(struct producer *p, struct wire_batch_builder *bld, uint32_t partition,
                       const uint64_t *lines, uint64_t payload_bytes)
{
    struct wire_bytes out;
    int rc = wire_batch_builder_finish(bld, NULL, 0, &out);
    if (rc != WIRE_OK)
        return rc;
    struct sealed_batch *b = calloc(1, sizeof(*b));
    uint32_t count = wire_batch_builder_count(bld);
    if (b != NULL) {
        b->bytes = malloc(out.len);
        b->lines = malloc(count * sizeof(*b->lines));
    }
    if (b == NULL || b->bytes == NULL || b->lines == NULL) {
        if (b != NULL) {
            free(b->bytes);
            free(b->lines);
        }
        free(b);
        return WIRE_ERR_UNKNOWN;
    }
    memcpy(b->bytes, out.ptr, out.len);
    memcpy(b->lines, lines, count * sizeof(*lines));
    b->len = out.len;
    b->partition = partition;
    b->record_count = count;
    b->payload_bytes = payload_bytes;
    b->deadline_ms = tool_now_ms() + p->o.timeout_ms;
    b->retry_at_ms = 0;
    p->buffered_bytes += b->len;
    queue_push_back(p, b);
    return WIRE_OK;
}

/*
 * Turns a partition's buffered records into one or more batches (more only
 * when a large record does not fit beside the others). A record the
 * builder refuses (too large) fails on its own with its line number.
 */
static void seal_partition(struct producer *p, uint32_t partition)
{
    struct partition_buffer *buf = &p->buffers[partition];
    if (buf->count == 0)
        return;
    /* add_line seals at PRODUCE_BATCH_RECORDS, so the line numbers fit. */
    assert(buf->count <= PRODUCE_BATCH_RECORDS);
    uint64_t lines[PRODUCE_BATCH_RECORDS];
    uint32_t in_batch = 0;
    uint64_t payload = 0;
    struct wire_batch_builder bld;
    wire_batch_builder_init(&bld, p->scratch, WIRE_BATCH_BYTES_MAX, WIRE_CODEC_NONE);
    for (uint32_t i = 0; i < buf->count; i++) {
        const struct pending_record *r = &buf->records[i];
        struct wire_record rec = {
            .timestamp = r->timestamp,
            .has_key = r->has_key,
            .key = {buf->data + r->key_off, r->key_len},
            .value = {buf->data + r->value_off, r->value_len},
            .header_count = p->o.header_count,
            .headers = p->o.headers,
        };
        int rc = wire_batch_builder_add(&bld, &rec);
        if (rc == WIRE_ERR_BUFFER_FULL && in_batch > 0) {
            rc = queue_built(p, &bld, partition, lines, payload);
            if (rc != WIRE_OK)
                fail_lines(p, lines, in_batch, partition, wire_strerror(rc));
            in_batch = 0;
            payload = 0;
            wire_batch_builder_init(&bld, p->scratch, WIRE_BATCH_BYTES_MAX, WIRE_CODEC_NONE);
            rc = wire_batch_builder_add(&bld, &rec);
        }
        if (rc != WIRE_OK) {
            char why[160];
            snprintf(why, sizeof(why), "%s (%s)", wire_strerror(rc), wire_err_name(rc));
            fail_lines(p, &r->line, 1, partition, why);
            continue;
        }
        lines[in_batch++] = r->line;
        payload += r->key_len + r->value_len;
    }
    if (in_batch > 0) {
        int rc = queue_built(p, &bld, partition, lines, payload);
        if (rc != WIRE_OK)
            fail_lines(p, lines, in_batch, partition, wire_strerror(rc));
    }
    p->buffered_bytes -= buf->data_len;
    buf->count = 0;
    buf->data_len = 0;
}

static void seal_all(struct producer *p)
{
    for (uint32_t i = 0; i < p->partition_count; i++)
        seal_partition(p, i);
}

/* ---- adding records ------------------------------------------------------------------- */

static uint32_t choose_partition(struct producer *p, bool has_key, const uint8_t *key,
                                 size_t key_len)
{
    if (p->o.has_partition)
        return p->o.partition;
    if (has_key)
        return tool_fnv1a32(key, key_len) % p->partition_count;
    return p->round_robin++ % p->partition_count;
}

static bool buffer_reserve(struct partition_buffer *buf, size_t more_bytes)
{
    if (buf->count == buf->records_cap) {
        uint32_t cap = buf->records_cap == 0 ? 64 : buf->records_cap * 2;
        struct pending_record *grown = realloc(buf->records, cap * sizeof(*grown));
        if (grown == NULL)
            return false;
        buf->records = grown;
        buf->records_cap = cap;
    }
    if (buf->data_len + more_bytes > buf->data_cap) {
        size_t cap = buf->data_cap == 0 ? 4096 : buf->data_cap;
        while (cap < buf->data_len + more_bytes)
            cap *= 2;
        uint8_t *grown = realloc(buf->data, cap);
        if (grown == NULL)
            return false;
        buf->data = grown;
        buf->data_cap = cap;
    }
    return true;
}

/* One input line (without its newline) becomes a record in its partition's buffer. */
static void add_line(struct producer *p, uint64_t line_no, const uint8_t *line, size_t len)
{
    bool has_key = false;
    const uint8_t *key = NULL, *value = line;
    size_t key_len = 0, value_len = len;
    if (p->o.key != NULL) {
        has_key = true;
        key = (const uint8_t *)p->o.key;
        key_len = strlen(p->o.key);
    } else if (p->o.delimiter != NULL) {
        size_t dl = strlen(p->o.delimiter);
        const uint8_t *at = dl <= len ? memmem(line, len, p->o.delimiter, dl) : NULL;
        if (at != NULL) {
            has_key = true;
            key = line;
            key_len = (size_t)(at - line);
            value = at + dl;
            value_len = len - key_len - dl;
        }
    }
    if (key_len > WIRE_KEY_BYTES_MAX) {
        char why[96];
        snprintf(why, sizeof(why), "the key is longer than %u bytes", WIRE_KEY_BYTES_MAX);
        fail_lines(p, &line_no, 1, p->o.has_partition ? p->o.partition : 0, why);
        return;
    }
    uint32_t partition = choose_partition(p, has_key, key, key_len);
    struct partition_buffer *buf = &p->buffers[partition];
    size_t bytes = key_len + value_len;
    /* A record that would push the batch past its size goes into the next one. */
    if (buf->count > 0 && buf->data_len + bytes > PRODUCE_BATCH_BYTES)
        seal_partition(p, partition);
    if (!buffer_reserve(buf, bytes)) {
        fail_lines(p, &line_no, 1, partition, "out of memory");
        return;
    }
    struct pending_record *r = &buf->records[buf->count];
    r->line = line_no;
    r->timestamp = tool_wall_ms();
    r->has_key = has_key;
    r->key_off = (uint32_t)buf->data_len;
    r->key_len = (uint32_t)key_len;
    if (key_len > 0)
        memcpy(buf->data + buf->data_len, key, key_len);
    buf->data_len += key_len;
    r->value_off = (uint32_t)buf->data_len;
    r->value_len = (uint32_t)value_len;
    if (value_len > 0)
        memcpy(buf->data + buf->data_len, value, value_len);
    buf->data_len += value_len;
    p->buffered_bytes += bytes;
    if (buf->count == 0)
        buf->oldest_ms = tool_now_ms();
    buf->count++;
    if (p->o.sync || buf->count >= PRODUCE_BATCH_RECORDS || buf->data_len >= PRODUCE_BATCH_BYTES)
        seal_partition(p, partition);
}

/* ---- input ------------------------------------------------------------------------------ */

struct line_reader {
    int fd;
    bool eof;
    uint8_t *buf;
    size_t len, cap;
    bool skipping; /* inside a line that was too long: drop bytes up to its newline */
    uint64_t line_no;
};

/*
 * Reads what is available (one read) and hands every complete line to
 * add_line; at EOF a last line without a newline counts too. Returns false
 * on a read error (reported).
 */
static bool read_input(struct producer *p, struct line_reader *lr)
{
    if (lr->cap - lr->len < PRODUCE_READ_CHUNK) {
        size_t cap = lr->cap == 0 ? 2 * PRODUCE_READ_CHUNK : lr->cap * 2;
        if (cap > PRODUCE_LINE_BYTES_MAX + 2 * PRODUCE_READ_CHUNK)
            cap = PRODUCE_LINE_BYTES_MAX + 2 * PRODUCE_READ_CHUNK;
        if (cap > lr->cap) {
            uint8_t *grown = realloc(lr->buf, cap);
            if (grown == NULL) {
                tool_error("out of memory reading the input");
                return false;
            }
            lr->buf = grown;
            lr->cap = cap;
        }
    }
    ssize_t n = read(lr->fd, lr->buf + lr->len, lr->cap - lr->len);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return true;
        tool_error("reading %s: %s", p->o.file != NULL ? p->o.file : "standard input",
                   strerror(errno));
        return false;
    }
    if (n == 0)
        lr->eof = true;
    lr->len += (size_t)n;
    size_t start = 0;
    for (;;) {
        uint8_t *nl = memchr(lr->buf + start, '\n', lr->len - start);
        if (nl == NULL)
            break;
        size_t line_len = (size_t)(nl - (lr->buf + start));
        lr->line_no++;
        if (lr->skipping) {
            lr->skipping = false;
        } else {
            add_line(p, lr->line_no, lr->buf + start, line_len);
        }
        start += line_len + 1;
    }
    memmove(lr->buf, lr->buf + start, lr->len - start);
    lr->len -= start;
    if (lr->len > PRODUCE_LINE_BYTES_MAX && !lr->skipping) {
        uint64_t line_no = lr->line_no + 1;
        char why[96];
        snprintf(why, sizeof(why), "the line is longer than %u bytes", PRODUCE_LINE_BYTES_MAX);
        fail_lines(p, &line_no, 1, p->o.has_partition ? p->o.partition : 0, why);
        lr->skipping = true;
    }
    if (lr->skipping)
        lr->len = 0; /* the rest of the long line is dropped as it arrives */
    if (lr->eof && lr->len > 0) {
        lr->line_no++;
        add_line(p, lr->line_no, lr->buf, lr->len);
        lr->len = 0;
    } else if (lr->eof && lr->skipping) {
        lr->line_no++;
        lr->skipping = false;
    }
    return true;
}

/* ---- sending and acknowledgements ------------------------------------------------------- */

static uint32_t backoff_ms(uint32_t attempts)
{
    uint32_t ms = PRODUCE_BACKOFF_MS_MIN;
    for (uint32_t i = 1; i < attempts && ms < PRODUCE_BACKOFF_MS_MAX; i++)
        ms *= 2;
    return ms < PRODUCE_BACKOFF_MS_MAX ? ms : PRODUCE_BACKOFF_MS_MAX;
}

/* Schedules a retry, or fails the batch when its deadline has passed. */
static void retry_later(struct producer *p, struct sealed_batch *b, bool at_once, const char *why)
{
    snprintf(b->last_error, sizeof(b->last_error), "%s", why);
    int64_t now = tool_now_ms();
    if (now >= b->deadline_ms) {
        char msg[400];
        snprintf(msg, sizeof(msg), "gave up after %" PRIu32 " attempts within --timeout (last: %s)",
                 b->attempts, b->last_error);
        fail_lines(p, b->lines, b->record_count, b->partition, msg);
        batch_free(p, b);
        return;
    }
    b->retry_at_ms = at_once ? now : now + backoff_ms(b->attempts);
    if (b->retry_at_ms > b->deadline_ms)
        b->retry_at_ms = b->deadline_ms;
    queue_push_front(p, b);
}

static bool error_is_retriable(uint32_t error)
{
    switch (error) {
    case WIRE_ERR_NOT_LEADER:
    case WIRE_ERR_LEADER_NOT_AVAILABLE:
    case WIRE_ERR_TIMEOUT:
    case WIRE_ERR_BACKPRESSURE:
    case WIRE_ERR_NOT_ENOUGH_REPLICAS:
    case WIRE_ERR_SHUTTING_DOWN:
        return true;
    default:
        return false;
    }
}

static void on_reply(struct producer *p, struct wire_client_reply *reply)
{
    struct sealed_batch *b = reply->user;
    p->in_flight--;
    if (reply->status != WIRE_OK) {
        /* No answer in time or the connection dropped: the outcome is unknown. */
        wire_client_forget_leader(p->client, p->o.topic, b->partition);
        p->refresh_wanted = true;
        char why[300];
        snprintf(why, sizeof(why), "%s", wire_client_error(p->client));
        if (reply->status != WIRE_ERR_TIMEOUT) {
            fail_lines(p, b->lines, b->record_count, b->partition, why);
            batch_free(p, b);
            return;
        }
        retry_later(p, b, false, why);
        return;
    }
    const struct wire_frame *f = &reply->frame;
    if (f->error == WIRE_OK) {
        p->records_acked += b->record_count;
        p->bytes_acked += b->payload_bytes;
        batch_free(p, b);
        return;
    }
    char why[400];
    tool_response_error(f, why, sizeof(why));
    if (!error_is_retriable(f->error)) {
        if (f->error == WIRE_ERR_UNKNOWN_TOPIC)
            p->topic_gone = true;
        fail_lines(p, b->lines, b->record_count, b->partition, why);
        batch_free(p, b);
        return;
    }
    bool at_once = false;
    if (f->error == WIRE_ERR_NOT_LEADER) {
        wire_client_note_not_leader(p->client, p->o.topic, b->partition, f);
        /* A named leader is worth trying at once, but only on the first miss. */
        at_once = f->body.not_leader_detail.leader_id != 0 && b->attempts <= 1;
        if (!at_once)
            p->refresh_wanted = true;
    } else if (f->error == WIRE_ERR_SHUTTING_DOWN || f->error == WIRE_ERR_LEADER_NOT_AVAILABLE) {
        wire_client_forget_leader(p->client, p->o.topic, b->partition);
        p->refresh_wanted = true;
    }
    retry_later(p, b, at_once, why);
}

/* Takes every completed request without waiting (wait_ms 0) or waits up to wait_ms for one. */
static void collect_replies(struct producer *p, uint32_t wait_ms)
{
    struct wire_client_reply reply;
    if (wire_client_poll(p->client, wait_ms, &reply) != WIRE_OK)
        return;
    on_reply(p, &reply);
    while (wire_client_poll(p->client, 0, &reply) == WIRE_OK)
        on_reply(p, &reply);
}

static void refresh_metadata(struct producer *p)
{
    int64_t now = tool_now_ms();
    if (!p->refresh_wanted || now - p->last_refresh_ms < 100)
        return;
    p->last_refresh_ms = now;
    p->refresh_wanted = false;
    uint32_t count = 0;
    if (wire_client_refresh_metadata(p->client, p->o.topic, 1000) == WIRE_OK &&
        wire_client_partition_count(p->client, p->o.topic, &count) == WIRE_ERR_UNKNOWN_TOPIC)
        p->topic_gone = true;
}

/* Sends queued batches that are due, as long as the in-flight limit allows. */
static void send_due(struct producer *p)
{
    int64_t now = tool_now_ms();
    struct sealed_batch **link = &p->queue_head;
    struct sealed_batch *prev = NULL;
    while (*link != NULL && p->in_flight < p->o.in_flight) {
        struct sealed_batch *b = *link;
        if (p->topic_gone) {
            *link = b->next;
            if (p->queue_tail == b)
                p->queue_tail = prev;
            fail_lines(p, b->lines, b->record_count, b->partition, "the topic no longer exists");
            batch_free(p, b);
            continue;
        }
        if (b->retry_at_ms > now) {
            prev = b;
            link = &b->next;
            continue;
        }
        /* Out of the queue: it is either sent or scheduled again. */
        *link = b->next;
        if (p->queue_tail == b)
            p->queue_tail = prev;
        b->next = NULL;
        int64_t left = b->deadline_ms - now;
        if (left <= 0) {
            retry_later(p, b, false, b->attempts == 0 ? "never sent" : b->last_error);
            continue;
        }
        uint32_t broker_ms = (uint64_t)left < PRODUCE_REQUEST_TIMEOUT_MS ? (uint32_t)left
                                                                         : PRODUCE_REQUEST_TIMEOUT_MS;
        struct wire_bytes batch_bytes = {b->bytes, (uint32_t)b->len};
        struct wire_frame req;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_PRODUCE;
        req.body.produce_req.topic = (struct wire_bytes){(const uint8_t *)p->o.topic,
                                                         (uint32_t)strlen(p->o.topic)};
        req.body.produce_req.partition = b->partition;
        req.body.produce_req.timeout_ms = broker_ms;
        req.body.produce_req.batches.count = 1;
        req.body.produce_req.batches.items = &batch_bytes;
        b->attempts++;
        /* The answer may take the broker's timeout plus a margin, but not past the deadline. */
        uint32_t answer_ms = broker_ms + PRODUCE_ANSWER_MARGIN_MS;
        if ((int64_t)answer_ms > left)
            answer_ms = (uint32_t)left;
        int rc = wire_client_send_routed(p->client, &req, answer_ms, b, NULL);
        if (rc == WIRE_OK) {
            p->in_flight++;
            continue;
        }
        char why[400];
        snprintf(why, sizeof(why), "%s", wire_client_error(p->client));
        if (rc == WIRE_ERR_LIMIT_EXCEEDED) {
            b->attempts--;
            queue_push_front(p, b);
            return;
        }
        if (rc == WIRE_ERR_LEADER_NOT_AVAILABLE || rc == WIRE_ERR_UNKNOWN_TOPIC ||
            rc == WIRE_ERR_UNKNOWN_PARTITION || rc == WIRE_ERR_TIMEOUT) {
            /* The cache cannot route it, or the leader did not take the connection. */
            if (rc == WIRE_ERR_TIMEOUT)
                wire_client_forget_leader(p->client, p->o.topic, b->partition);
            p->refresh_wanted = true;
            retry_later(p, b, false, why);
        } else {
            fail_lines(p, b->lines, b->record_count, b->partition, why);
            batch_free(p, b);
        }
        /* The queue changed under us (retry_later pushes to the front): start over. */
        link = &p->queue_head;
        prev = NULL;
        now = tool_now_ms();
    }
}

/* The earliest moment something must happen without new input: a linger or a retry. */
static int64_t next_timer(const struct producer *p)
{
    int64_t t = INT64_MAX;
    for (uint32_t i = 0; i < p->partition_count; i++) {
        const struct partition_buffer *buf = &p->buffers[i];
        if (buf->count > 0 && buf->oldest_ms + p->o.linger_ms < t)
            t = buf->oldest_ms + p->o.linger_ms;
    }
    if (p->in_flight < p->o.in_flight) {
        for (const struct sealed_batch *b = p->queue_head; b != NULL; b = b->next) {
            if (b->retry_at_ms < t)
                t = b->retry_at_ms;
        }
    }
    return t;
}

static void seal_lingering(struct producer *p)
{
    int64_t now = tool_now_ms();
    for (uint32_t i = 0; i < p->partition_count; i++) {
        if (p->buffers[i].count > 0 && p->buffers[i].oldest_ms + p->o.linger_ms <= now)
            seal_partition(p, i);
    }
}

static bool nothing_left(const struct producer *p)
{
    if (p->in_flight > 0 || p->queue_head != NULL)
        return false;
    for (uint32_t i = 0; i < p->partition_count; i++) {
        if (p->buffers[i].count > 0)
            return false;
    }
    return true;
}

static void run(struct producer *p, struct line_reader *lr)
{
    bool input_open = true;
    for (;;) {
        if (stop_requested && input_open) {
            /* Ctrl-C: read no more, deliver what was read. */
            input_open = false;
            tool_error("interrupted: sending what was read so far");
        }
        if (!input_open)
            seal_all(p);
        seal_lingering(p);
        refresh_metadata(p);
        send_due(p);
        if (!input_open && nothing_left(p))
            return;

        int64_t now = tool_now_ms();
        int64_t timer = next_timer(p);
        long until_timer = timer == INT64_MAX ? 1000 : (long)(timer - now);
        if (until_timer < 0)
            until_timer = 0;
        if (until_timer > 1000)
            until_timer = 1000;
        /* --sync reads the next line only once everything before it is acknowledged. */
        bool may_read = input_open && p->buffered_bytes < PRODUCE_BUFFERED_BYTES_MAX &&
                        (!p->o.sync || nothing_left(p));
        if (may_read) {
            struct pollfd pfd = {lr->fd, POLLIN, 0};
            int ready = poll(&pfd, 1, p->in_flight > 0 ? 0 : (int)until_timer);
            if (ready > 0) {
                if (!read_input(p, lr))
                    input_open = false;
                else if (lr->eof)
                    input_open = false;
                collect_replies(p, 0);
                continue;
            }
            if (p->in_flight > 0)
                collect_replies(p, until_timer < 10 ? (uint32_t)until_timer : 10u);
            continue;
        }
        if (p->in_flight > 0) {
            collect_replies(p, (uint32_t)until_timer);
        } else if (until_timer > 0) {
            struct timespec ts = {until_timer / 1000, (until_timer % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

/* ---- command line ---------------------------------------------------------------------- */

enum {
    OPT_FILE = 256,
    OPT_SYNC,
    OPT_LINGER,
    OPT_TIMEOUT,
    OPT_IN_FLIGHT,
};

static int parse_header(struct produce_opts *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return tool_usage_error("-H '%s': expected NAME=VALUE", arg);
    size_t name_len = (size_t)(eq - arg);
    size_t value_len = strlen(eq + 1);
    if (name_len > WIRE_HEADER_NAME_BYTES_MAX)
        return tool_usage_error("-H: header name longer than %u bytes", WIRE_HEADER_NAME_BYTES_MAX);
    if (value_len > WIRE_HEADER_VALUE_BYTES_MAX)
        return tool_usage_error("-H: header value longer than %u bytes",
                                WIRE_HEADER_VALUE_BYTES_MAX);
    if (o->header_count >= WIRE_HEADERS_MAX)
        return tool_usage_error("-H: more than %u headers", WIRE_HEADERS_MAX);
    struct wire_header *h = &o->headers[o->header_count++];
    h->name = (struct wire_bytes){(const uint8_t *)arg, (uint32_t)name_len};
    h->value = (struct wire_bytes){(const uint8_t *)eq + 1, (uint32_t)value_len};
    return TOOL_EXIT_OK;
}

static int parse_args(int argc, char **argv, struct produce_opts *o)
{
    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"key", required_argument, NULL, 'k'},
        {"key-delimiter", required_argument, NULL, 'K'},
        {"header", required_argument, NULL, 'H'},
        {"file", required_argument, NULL, OPT_FILE},
        {"sync", no_argument, NULL, OPT_SYNC},
        {"linger", required_argument, NULL, OPT_LINGER},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"in-flight", required_argument, NULL, OPT_IN_FLIGHT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers_arg = NULL;
    o->linger_ms = PRODUCE_LINGER_MS_DEFAULT;
    o->timeout_ms = PRODUCE_TIMEOUT_MS_DEFAULT;
    o->in_flight = PRODUCE_IN_FLIGHT_DEFAULT;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":b:t:p:k:K:H:h", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            brokers_arg = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'p':
            if (!tool_parse_u32(optarg, "-p", 0, WIRE_PARTITIONS_MAX - 1, &o->partition))
                return TOOL_EXIT_USAGE;
            o->has_partition = true;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'K':
            if (optarg[0] == '\0')
                return tool_usage_error("-K: the delimiter must not be empty");
            o->delimiter = optarg;
            break;
        case 'H':
            if (parse_header(o, optarg) != TOOL_EXIT_OK)
                return TOOL_EXIT_USAGE;
            break;
        case OPT_FILE:
            o->file = optarg;
            break;
        case OPT_SYNC:
            o->sync = true;
            break;
        case OPT_LINGER:
            if (!tool_parse_u32(optarg, "--linger", 0, PRODUCE_LINGER_MS_MAX, &o->linger_ms))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_TIMEOUT:
            if (!tool_parse_u32(optarg, "--timeout", 1, PRODUCE_TIMEOUT_MS_MAX, &o->timeout_ms))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_IN_FLIGHT:
            if (!tool_parse_u32(optarg, "--in-flight", 1, PRODUCE_IN_FLIGHT_MAX, &o->in_flight))
                return TOOL_EXIT_USAGE;
            break;
        case 'h':
            print_help();
            exit(TOOL_EXIT_OK);
        case ':':
            return tool_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tool_usage_error("unexpected argument '%s' (lines come from standard input or --file)",
                                argv[optind]);
    if (o->topic == NULL)
        return tool_usage_error("no topic given (-t TOPIC)");
    if (!tool_check_topic_name(o->topic))
        return TOOL_EXIT_USAGE;
    if (o->key != NULL && o->delimiter != NULL)
        return tool_usage_error("-k and -K exclude each other");
    if (o->key != NULL && strlen(o->key) > WIRE_KEY_BYTES_MAX)
        return tool_usage_error("-k: the key is longer than %u bytes", WIRE_KEY_BYTES_MAX);
    if (o->sync)
        o->in_flight = 1;
    if (!tool_brokers(brokers_arg, o->brokers, sizeof(o->brokers)))
        return TOOL_EXIT_USAGE;
    return TOOL_EXIT_OK;
}

static void producer_free(struct producer *p)
{
    while (p->queue_head != NULL) {
        struct sealed_batch *b = p->queue_head;
        p->queue_head = b->next;
        batch_free(p, b);
    }
    if (p->buffers != NULL) {
        for (uint32_t i = 0; i < p->partition_count; i++) {
            free(p->buffers[i].data);
            free(p->buffers[i].records);
        }
    }
    free(p->buffers);
    free(p->scratch);
    wire_client_close(p->client);
}

int main(int argc, char **argv)
{
    tool_init("raftmq-produce");
    struct producer p;
    memset(&p, 0, sizeof(p));
    int rc = parse_args(argc, argv, &p.o);
    if (rc != TOOL_EXIT_OK)
        return rc;
    struct line_reader lr = {.fd = STDIN_FILENO};
    if (p.o.file != NULL) {
        lr.fd = open(p.o.file, O_RDONLY | O_CLOEXEC);
        if (lr.fd < 0) {
            tool_error("cannot open '%s': %s", p.o.file, strerror(errno));
            return TOOL_EXIT_FAILED;
        }
    }
    if (!tool_catch_stop_signals(&stop_requested)) {
        tool_error("cannot install signal handlers");
        return TOOL_EXIT_FAILED;
    }
    int64_t start = tool_now_ms();
    int result = TOOL_EXIT_FAILED;
    p.client = tool_client_open(p.o.brokers, p.o.timeout_ms, p.o.in_flight);
    if (p.client == NULL)
        goto done;
    rc = tool_topic_metadata(p.client, p.o.topic, p.o.timeout_ms, &p.partition_count);
    if (rc == WIRE_ERR_UNKNOWN_TOPIC) {
        tool_error("unknown topic '%s' (create it with raftmq-admin topic create)", p.o.topic);
        goto done;
    }
    if (rc != WIRE_OK) {
        tool_error("cannot reach the cluster at %s: %s", p.o.brokers, wire_client_error(p.client));
        goto done;
    }
    if (p.o.has_partition && p.o.partition >= p.partition_count) {
        tool_error("topic '%s' has %" PRIu32 " partitions: -p %" PRIu32 " does not exist",
                   p.o.topic, p.partition_count, p.o.partition);
        goto done;
    }
    p.buffers = calloc(p.partition_count, sizeof(*p.buffers));
    p.scratch = malloc(WIRE_BATCH_BYTES_MAX);
    if (p.buffers == NULL || p.scratch == NULL) {
        tool_error("out of memory");
        goto done;
    }
    run(&p, &lr);
    double seconds = (double)(tool_now_ms() - start) / 1000.0;
    fprintf(stderr,
            "%s: %" PRIu64 " records acknowledged (%" PRIu64 " bytes of keys and values) in %.2f s"
            "%s",
            tool_program(), p.records_acked, p.bytes_acked, seconds,
            p.records_failed > 0 ? "" : "\n");
    if (p.records_failed > 0)
        fprintf(stderr, "; %" PRIu64 " records FAILED\n", p.records_failed);
    result = p.records_failed == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAILED;
done:
    producer_free(&p);
    free(lr.buf);
    if (p.o.file != NULL && lr.fd >= 0)
        close(lr.fd);
    return result;
}
