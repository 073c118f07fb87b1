/* raftmq-produce: one record per input line, sent through the libraftmq producer. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "producers/producer_internal.h"
#include "wire/limits.h"
#include "wire/raftmq.h"
#include "wire/tool.h"

/*
 * The library does the batching, pipelining, retries and idempotence
 * (docs/client.md, "Producer"); this tool turns lines into records, gives
 * each record its input line number as the delivery report's opaque, and
 * reports failures by line number. The main loop alternates between the
 * input (poll on its descriptor) and raftmq_producer_poll, so linger and
 * retries keep running while the input is quiet.
 */

#define PRODUCE_IN_FLIGHT_DEFAULT 5u
#define PRODUCE_IN_FLIGHT_MAX 256u
#define PRODUCE_IN_FLIGHT_LIBRARY_MAX 5u
#define PRODUCE_TIMEOUT_MS_DEFAULT 30000u
#define PRODUCE_TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define PRODUCE_LINGER_MS_DEFAULT 5u
#define PRODUCE_LINGER_MS_MAX 60000u
/* What the broker may take to commit one request before answering TIMEOUT. */
#define PRODUCE_REQUEST_TIMEOUT_MS 10000u
#define PRODUCE_LINE_LINES_SHOWN 8u
#define PRODUCE_BROKERS_BYTES (16u * 1024u)
/* The longest input line: a record's value can never be larger. */
#define PRODUCE_LINE_BYTES_MAX WIRE_RECORD_BYTES_MAX
#define PRODUCE_READ_CHUNK (64u * WIRE_KIB)
#define PRODUCE_PROGRESS_MS 250
#define PRODUCE_MESSAGE_BYTES 400u

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
    bool compression_none;
    bool no_idempotence;
    bool progress;
    size_t header_count;
    struct raftmq_header headers[WIRE_HEADERS_MAX];
    char header_names[WIRE_HEADERS_MAX][WIRE_HEADER_NAME_BYTES_MAX + 1];
};

/* Consecutive failed records with the same partition and reason, printed as one line. */
struct failure_group {
    uint32_t count;
    int32_t partition;
    uint64_t lines[PRODUCE_LINE_LINES_SHOWN];
    char why[PRODUCE_MESSAGE_BYTES];
};

struct produce {
    struct produce_opts o;
    raftmq_producer *producer;
    uint32_t partition_count;
    uint32_t round_robin;
    uint64_t records_failed; /* delivery reports with an error, and lines never sent */
    struct failure_group group;
    bool show_progress;
    int64_t last_progress_ms;
    int64_t start_ms;
};

static volatile sig_atomic_t stop_requested;

static void print_help(void)
{
    printf(
        "Usage: raftmq-produce [-b BROKERS] -t TOPIC [-p PARTITION] [-k KEY | -K DELIM]\n"
        "                      [-H NAME=VALUE ...] [--file PATH] [--sync] [--linger MS]\n"
        "                      [--timeout MS] [--in-flight N] [--compression none|lz4]\n"
        "                      [--no-idempotence] [--progress]\n"
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
        "                       before sending the next line (slow)\n"
        "      --linger MS      wait up to MS ms for more records before sending a partial\n"
        "                       batch (default %u); a batch is sent at once when it holds\n"
        "                       128 KiB of encoded records\n"
        "      --timeout MS     give up on a record not acknowledged MS ms after it was read,\n"
        "                       retries included (default %u); also bounds the start-up\n"
        "      --in-flight N    PRODUCE requests on the wire per partition (default %u;\n"
        "                       values above %u mean %u; 1 without idempotence)\n"
        "      --compression none|lz4\n"
        "                       compress each batch with LZ4 (default) or not at all; a\n"
        "                       batch LZ4 cannot shrink is sent uncompressed\n"
        "      --no-idempotence do not use a producer id: a retry after a lost answer may\n"
        "                       then store a record twice\n"
        "      --progress       a live progress line on stderr (only when it is a terminal)\n"
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
        "BACKPRESSURE and lost connections are retried with backoff until --timeout.\n"
        "The producer is idempotent: retries neither duplicate nor reorder records\n"
        "(with --no-idempotence one request per partition is in flight, so order is\n"
        "kept, but a retry after a lost answer may store a record twice).\n"
        "Failures are reported on stderr with their input line numbers; at the end a\n"
        "summary line (records acknowledged, bytes of keys and values, seconds,\n"
        "records per second) goes to stderr.\n"
        "\n"
        "Examples:\n"
        "  echo hello | raftmq-produce -b 127.0.0.1:9292 -t orders\n"
        "  printf 'user1:login\\nuser2:logout\\n' | raftmq-produce -b 127.0.0.1:9292 -t orders -K :\n"
        "  raftmq-produce -b 127.0.0.1:9292 -t orders -p 0 -H source=batch --file events.txt\n"
        "  raftmq-produce -t orders --progress --file big.txt\n"
        "\n"
        "Exit status: 0 every record acknowledged, 1 some record was not (or the brokers\n"
        "were unreachable, the topic or partition unknown), 2 bad command line.\n",
        WIRE_HEADERS_MAX, PRODUCE_LINGER_MS_DEFAULT, PRODUCE_TIMEOUT_MS_DEFAULT,
        PRODUCE_IN_FLIGHT_DEFAULT, PRODUCE_IN_FLIGHT_LIBRARY_MAX, PRODUCE_IN_FLIGHT_LIBRARY_MAX);
}

/* ---- failures -------------------------------------------------------------------- */

static void group_print(struct produce *pr)
{
    struct failure_group *g = &pr->group;
    if (g->count == 0)
        return;
    char which[256];
    size_t used = (size_t)snprintf(which, sizeof(which), "%s ", g->count == 1 ? "line" : "lines");
    uint32_t shown = g->count < PRODUCE_LINE_LINES_SHOWN ? g->count : PRODUCE_LINE_LINES_SHOWN;
    for (uint32_t i = 0; i < shown && used < sizeof(which); i++) {
        int w = snprintf(which + used, sizeof(which) - used, "%s%" PRIu64, i > 0 ? ", " : "",
                         g->lines[i]);
        if (w > 0)
            used += (size_t)w;
    }
    if (g->count > PRODUCE_LINE_LINES_SHOWN && used < sizeof(which))
        snprintf(which + used, sizeof(which) - used, " and %" PRIu32 " more",
                 g->count - PRODUCE_LINE_LINES_SHOWN);
    if (pr->show_progress)
        fputs("\r\033[K", stderr);
    if (g->partition >= 0)
        tool_error("%s (partition %" PRId32 "): not acknowledged: %s", which, g->partition, g->why);
    else
        tool_error("%s: not sent: %s", which, g->why);
    g->count = 0;
}

/* Counts a failed line and groups it with the previous one when partition and reason match. */
static void fail_line(struct produce *pr, uint64_t line, int32_t partition, const char *why)
{
    struct failure_group *g = &pr->group;
    pr->records_failed++;
    if (g->count > 0 && (g->partition != partition || strcmp(g->why, why) != 0))
        group_print(pr);
    if (g->count == 0) {
        g->partition = partition;
        snprintf(g->why, sizeof(g->why), "%s", why);
    }
    if (g->count < PRODUCE_LINE_LINES_SHOWN)
        g->lines[g->count] = line;
    g->count++;
}

static void on_delivery(const struct raftmq_delivery *d, void *opaque)
{
    struct produce *pr = opaque;
    if (d->error == RAFTMQ_OK)
        return;
    char why[PRODUCE_MESSAGE_BYTES];
    snprintf(why, sizeof(why), "%s (%s)", d->error_message, raftmq_err_name(d->error));
    fail_line(pr, (uint64_t)(uintptr_t)d->opaque, d->partition, why);
}

static void progress(struct produce *pr, bool force)
{
    if (!pr->show_progress)
        return;
    int64_t now = tool_now_ms();
    if (!force && now - pr->last_progress_ms < PRODUCE_PROGRESS_MS)
        return;
    pr->last_progress_ms = now;
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(pr->producer, &s);
    double seconds = (double)(now - pr->start_ms) / 1000.0;
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " acknowledged, %" PRIu64 " pending, %" PRIu64
            " failed, %.0f records/s",
            tool_program(), s.records_acked, raftmq_producer_pending(pr->producer),
            pr->records_failed, seconds > 0 ? (double)s.records_acked / seconds : 0.0);
}

/* Serves the producer for up to wait_ms (delivery reports come back through on_delivery). */
static void serve(struct produce *pr, int wait_ms)
{
    raftmq_producer_poll(pr->producer, wait_ms);
    group_print(pr);
    progress(pr, false);
}

/* ---- sending lines ---------------------------------------------------------------------- */

/* Why a send failed: final for this line only (true) or for the whole run (false). */
static bool error_is_per_record(int rc)
{
    return rc == RAFTMQ_ERR_RECORD_TOO_LARGE || rc == RAFTMQ_ERR_LIMIT_EXCEEDED;
}

/*
 * One input line (without its newline) becomes a record. Returns false when
 * the producer cannot take records any more (the cluster is unreachable, the
 * topic is gone): the caller stops reading.
 */
static bool send_line(struct produce *pr, uint64_t line_no, const uint8_t *line, size_t len)
{
    const struct produce_opts *o = &pr->o;
    struct raftmq_message m;
    memset(&m, 0, sizeof(m));
    m.topic = o->topic;
    m.partition = RAFTMQ_PARTITION_ANY;
    m.value = line;
    m.value_len = len;
    m.headers = o->headers;
    m.header_count = o->header_count;
    m.opaque = (void *)(uintptr_t)line_no;
    if (o->key != NULL) {
        m.key = o->key;
        m.key_len = strlen(o->key);
    } else if (o->delimiter != NULL) {
        size_t dl = strlen(o->delimiter);
        const uint8_t *at = dl <= len ? memmem(line, len, o->delimiter, dl) : NULL;
        if (at != NULL) {
            m.key = line;
            m.key_len = (size_t)(at - line);
            m.value = at + dl;
            m.value_len = len - m.key_len - dl;
        }
    }
    if (o->has_partition)
        m.partition = (int32_t)o->partition;
    else if (m.key == NULL)
        m.partition = (int32_t)(pr->round_robin++ % pr->partition_count);
    /* An empty value still needs a non-NULL pointer only when it has bytes. */
    if (m.value_len == 0)
        m.value = NULL;
    for (;;) {
        int rc = raftmq_producer_send(pr->producer, &m);
        if (rc == RAFTMQ_OK)
            break;
        if (rc == RAFTMQ_ERR_QUEUE_FULL) {
            serve(pr, 100);
            continue;
        }
        char why[PRODUCE_MESSAGE_BYTES];
        snprintf(why, sizeof(why), "%s (%s)", raftmq_producer_last_error(pr->producer),
                 raftmq_err_name(rc));
        fail_line(pr, line_no, -1, why);
        return error_is_per_record(rc);
    }
    if (o->sync) {
        int rc = raftmq_producer_flush(pr->producer, (int)o->timeout_ms + 5000);
        group_print(pr);
        if (rc != RAFTMQ_OK)
            return false;
    }
    return true;
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

static void fail_long_line(struct produce *pr, uint64_t line_no)
{
    char why[96];
    snprintf(why, sizeof(why), "the line is longer than %u bytes", PRODUCE_LINE_BYTES_MAX);
    fail_line(pr, line_no, -1, why);
}

/*
 * Reads what is available (one read) and sends every complete line; at EOF
 * a last line without a newline counts too. Returns false on a read error
 * (reported) or when the producer gave up.
 */
static bool read_input(struct produce *pr, struct line_reader *lr)
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
        tool_error("reading %s: %s", pr->o.file != NULL ? pr->o.file : "standard input",
                   strerror(errno));
        return false;
    }
    if (n == 0)
        lr->eof = true;
    lr->len += (size_t)n;
    size_t start = 0;
    bool ok = true;
    for (;;) {
        uint8_t *nl = memchr(lr->buf + start, '\n', lr->len - start);
        if (nl == NULL)
            break;
        size_t line_len = (size_t)(nl - (lr->buf + start));
        lr->line_no++;
        if (lr->skipping)
            lr->skipping = false;
        else if (ok)
            ok = send_line(pr, lr->line_no, lr->buf + start, line_len);
        start += line_len + 1;
    }
    memmove(lr->buf, lr->buf + start, lr->len - start);
    lr->len -= start;
    if (!ok)
        return false;
    if (lr->len > PRODUCE_LINE_BYTES_MAX && !lr->skipping) {
        fail_long_line(pr, lr->line_no + 1);
        lr->skipping = true;
    }
    if (lr->skipping)
        lr->len = 0; /* the rest of the long line is dropped as it arrives */
    if (lr->eof && lr->len > 0) {
        lr->line_no++;
        ok = send_line(pr, lr->line_no, lr->buf, lr->len);
        lr->len = 0;
    } else if (lr->eof && lr->skipping) {
        lr->line_no++;
        lr->skipping = false;
    }
    return ok;
}

static void run(struct produce *pr, struct line_reader *lr)
{
    for (;;) {
        if (stop_requested) {
            /* Ctrl-C: read no more, deliver what was read. */
            if (pr->show_progress)
                fputs("\r\033[K", stderr);
            tool_error("interrupted: sending what was read so far");
            return;
        }
        /* With records pending, do not sit in the input's poll: the producer needs serving. */
        bool busy = raftmq_producer_pending(pr->producer) > 0;
        struct pollfd pfd = {lr->fd, POLLIN, 0};
        int ready = poll(&pfd, 1, busy ? 0 : 100);
        if (ready > 0) {
            if (!read_input(pr, lr) || lr->eof)
                return;
            if (busy)
                serve(pr, 0);
            continue;
        }
        if (ready < 0 && errno != EINTR) {
            tool_error("waiting for input: %s", strerror(errno));
            return;
        }
        if (busy)
            serve(pr, 10);
        else
            progress(pr, false);
    }
}

/* ---- command line ---------------------------------------------------------------------- */

enum {
    OPT_FILE = 256,
    OPT_SYNC,
    OPT_LINGER,
    OPT_TIMEOUT,
    OPT_IN_FLIGHT,
    OPT_COMPRESSION,
    OPT_NO_IDEMPOTENCE,
    OPT_PROGRESS,
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
    char *name = o->header_names[o->header_count];
    memcpy(name, arg, name_len);
    name[name_len] = '\0';
    struct raftmq_header *h = &o->headers[o->header_count++];
    h->name = name;
    h->value = eq + 1;
    h->value_len = value_len;
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
        {"compression", required_argument, NULL, OPT_COMPRESSION},
        {"no-idempotence", no_argument, NULL, OPT_NO_IDEMPOTENCE},
        {"progress", no_argument, NULL, OPT_PROGRESS},
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
        case OPT_COMPRESSION:
            if (strcmp(optarg, "none") == 0)
                o->compression_none = true;
            else if (strcmp(optarg, "lz4") == 0)
                o->compression_none = false;
            else
                return tool_usage_error("--compression: '%s' is neither none nor lz4", optarg);
            break;
        case OPT_NO_IDEMPOTENCE:
            o->no_idempotence = true;
            break;
        case OPT_PROGRESS:
            o->progress = true;
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
    if (o->in_flight > PRODUCE_IN_FLIGHT_LIBRARY_MAX)
        o->in_flight = PRODUCE_IN_FLIGHT_LIBRARY_MAX;
    if (o->sync || o->no_idempotence)
        o->in_flight = 1;
    if (!tool_brokers(brokers_arg, o->brokers, sizeof(o->brokers)))
        return TOOL_EXIT_USAGE;
    return TOOL_EXIT_OK;
}

static int open_producer(struct produce *pr)
{
    const struct produce_opts *o = &pr->o;
    struct raftmq_producer_config cfg;
    raftmq_producer_config_init(&cfg);
    cfg.brokers = o->brokers;
    cfg.linger_ms = o->sync ? 0 : o->linger_ms;
    cfg.in_flight_per_partition = o->in_flight;
    cfg.compression = o->compression_none ? RAFTMQ_COMPRESSION_NONE : RAFTMQ_COMPRESSION_LZ4;
    cfg.idempotence = !o->no_idempotence;
    cfg.delivery_timeout_ms = o->timeout_ms;
    cfg.request_timeout_ms = o->timeout_ms < PRODUCE_REQUEST_TIMEOUT_MS ? o->timeout_ms
                                                                        : PRODUCE_REQUEST_TIMEOUT_MS;
    cfg.on_delivery = on_delivery;
    cfg.cb_opaque = pr;
    char err[256];
    int rc = raftmq_producer_new(&cfg, &pr->producer, err, sizeof(err));
    if (rc != RAFTMQ_OK)
        tool_error("cannot set up the producer: %s", err);
    return rc;
}

int main(int argc, char **argv)
{
    tool_init("raftmq-produce");
    static struct produce pr; /* large (the header names): not on the stack */
    int rc = parse_args(argc, argv, &pr.o);
    if (rc != TOOL_EXIT_OK)
        return rc;
    struct line_reader lr = {.fd = STDIN_FILENO};
    if (pr.o.file != NULL) {
        lr.fd = open(pr.o.file, O_RDONLY | O_CLOEXEC);
        if (lr.fd < 0) {
            tool_error("cannot open '%s': %s", pr.o.file, strerror(errno));
            return TOOL_EXIT_FAILED;
        }
    }
    if (!tool_catch_stop_signals(&stop_requested)) {
        tool_error("cannot install signal handlers");
        return TOOL_EXIT_FAILED;
    }
    pr.start_ms = tool_now_ms();
    pr.show_progress = pr.o.progress && isatty(STDERR_FILENO);
    int result = TOOL_EXIT_FAILED;
    if (open_producer(&pr) != RAFTMQ_OK)
        goto done;
    rc = raftmq_producer_partition_count(pr.producer, pr.o.topic, pr.o.timeout_ms,
                                         &pr.partition_count);
    if (rc == RAFTMQ_ERR_UNKNOWN_TOPIC) {
        tool_error("unknown topic '%s' (create it with raftmq-admin topic create)", pr.o.topic);
        goto done;
    }
    if (rc != RAFTMQ_OK) {
        tool_error("cannot reach the cluster at %s: %s", pr.o.brokers,
                   raftmq_producer_last_error(pr.producer));
        goto done;
    }
    if (pr.o.has_partition && pr.o.partition >= pr.partition_count) {
        tool_error("topic '%s' has %" PRIu32 " partitions: -p %" PRIu32 " does not exist",
                   pr.o.topic, pr.partition_count, pr.o.partition);
        goto done;
    }
    run(&pr, &lr);
    /* Every record read gets its report: the library gives up on each at --timeout. */
    while (raftmq_producer_pending(pr.producer) > 0) {
        raftmq_producer_flush(pr.producer, 250);
        group_print(&pr);
        progress(&pr, false);
    }
    struct raftmq_producer_stats s;
    raftmq_producer_get_stats(pr.producer, &s);
    if (pr.show_progress)
        fputs("\r\033[K", stderr);
    double seconds = (double)(tool_now_ms() - pr.start_ms) / 1000.0;
    fprintf(stderr,
            "%s: %" PRIu64 " records acknowledged (%" PRIu64 " bytes of keys and values) in %.2f s"
            " (%.0f records/s)%s",
            tool_program(), s.records_acked, s.kv_bytes_acked, seconds,
            seconds > 0 ? (double)s.records_acked / seconds : 0.0,
            pr.records_failed > 0 ? "" : "\n");
    if (pr.records_failed > 0)
        fprintf(stderr, "; %" PRIu64 " records FAILED\n", pr.records_failed);
    result = pr.records_failed == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAILED;
done:
    raftmq_producer_close(pr.producer);
    group_print(&pr);
    free(lr.buf);
    if (pr.o.file != NULL && lr.fd >= 0)
        close(lr.fd);
    return result;
}
