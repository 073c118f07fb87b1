/* raftmq-consume: prints the records of a topic's partitions, following leaders, until told to stop. */
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire/batch.h"
#include "wire/client.h"
#include "wire/tool.h"

/*
 * How it works: every partition being read has at most one FETCH on the
 * wire, a long-poll (the broker answers when records arrive or after
 * --max-wait). Replies are taken in whatever order they come; each batch's
 * CRC is checked (wire_batch_validate), its records decoded with
 * wire_record_iter (which decompresses LZ4), records below the wanted
 * offset skipped (a batch may start before it) and the rest printed. The
 * partition then asks again from the offset after the last record.
 */

#define CONSUME_TIMEOUT_MS_DEFAULT 30000u
#define CONSUME_TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define CONSUME_MAX_WAIT_MS_DEFAULT 500u
#define CONSUME_MAX_WAIT_MS_MAX 60000u
#define CONSUME_FETCH_BYTES (1u * WIRE_MIB)
/* Long-polls outstanding at once (partitions beyond it take turns). */
#define CONSUME_FETCHES_IN_FLIGHT 64u
/* Beyond the broker's wait, how long to wait for a FETCH answer. */
#define CONSUME_ANSWER_MARGIN_MS 5000u
#define CONSUME_BACKOFF_MS_MIN 50u
#define CONSUME_BACKOFF_MS_MAX 1000u
/* How often a blocked wait looks at the Ctrl-C flag. */
#define CONSUME_POLL_SLICE_MS 100u
#define CONSUME_BROKERS_BYTES (16u * 1024u)
#define CONSUME_FORMAT_DEFAULT "%s\\n"

enum start_kind {
    START_BEGINNING,
    START_END,
    START_OFFSET,
};

struct consume_opts {
    char brokers[CONSUME_BROKERS_BYTES];
    const char *topic;
    bool has_partition;
    uint32_t partition;
    enum start_kind start;
    uint64_t start_offset;
    bool has_count;
    uint64_t count;
    bool exit_at_end;
    uint32_t max_wait_ms;
    uint32_t timeout_ms;
    const char *format;
};

struct partition_state {
    uint32_t partition;
    uint64_t next_offset;
    bool first_fetch; /* no answer yet at the start offset */
    bool done;        /* -e: reached the high watermark */
    bool in_flight;
    uint32_t failures; /* in a row */
    int64_t retry_at_ms;
    int64_t last_ok_ms; /* last successful FETCH (or start) */
    char last_error[300];
};

struct consumer {
    struct consume_opts o;
    struct wire_client *client;
    struct partition_state *parts;
    uint32_t part_count;
    uint32_t cursor; /* round robin over parts when fetches are limited */
    uint32_t in_flight;
    uint64_t printed;
    bool refresh_wanted;
    int64_t last_refresh_ms;
    uint8_t *scratch; /* decompressed records of one batch */
    struct wire_record_iter iter;
    bool failed; /* a fatal error was reported */
};

static volatile sig_atomic_t stop_requested;

static void print_help(void)
{
    printf(
        "Usage: raftmq-consume [-b BROKERS] -t TOPIC [-p PARTITION] [-o beginning|end|OFFSET]\n"
        "                      [-c COUNT] [-e] [-f FORMAT] [--max-wait MS] [--timeout MS]\n"
        "\n"
        "Prints the records of TOPIC, by default each record's value followed by a\n"
        "newline. Reads every partition unless -p is given (order is kept within a\n"
        "partition, not across partitions). Runs until Ctrl-C unless -c or -e says when\n"
        "to stop.\n"
        "\n"
        "Options:\n"
        "  -b, --brokers LIST   comma-separated client addresses (\"tcp://\" may be left out);\n"
        "                       default $" TOOL_BROKERS_ENV " or " TOOL_BROKERS_DEFAULT "\n"
        "  -t, --topic TOPIC    the topic\n"
        "  -p, --partition N    read only partition N\n"
        "  -o, --offset WHERE   where to start in each partition: beginning (the oldest\n"
        "                       retained record, the default), end (only records produced\n"
        "                       from now on), or an offset number\n"
        "  -c, --count COUNT    exit after printing COUNT records\n"
        "  -e, --exit-at-end    exit once every partition is read up to its end (its high\n"
        "                       watermark when reached)\n"
        "  -f, --format FORMAT  how to print a record (default '%%s\\n'):\n"
        "                         %%s value   %%k key (empty when it has none)   %%t topic\n"
        "                         %%p partition   %%o offset   %%T timestamp (ms since the epoch)\n"
        "                         %%%% a percent sign   \\n newline   \\t tab   \\\\ backslash\n"
        "      --max-wait MS    how long the broker may hold a FETCH waiting for new\n"
        "                       records (default %u)\n"
        "      --timeout MS     give up when a partition's leader cannot be reached for MS\n"
        "                       ms, and bounds the start-up (default %u)\n"
        "  -h, --help           this help\n"
        "\n"
        "Every batch's CRC-32C is checked and its records decoded (LZ4 included); a\n"
        "corrupt batch stops the tool with an error.\n"
        "\n"
        "Examples:\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -e\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -o end            # follow new records\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -p 1 -o 100 -c 10\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -e -f '%%p:%%o %%k=%%s\\n'\n"
        "\n"
        "Exit status: 0 done (also after Ctrl-C, -c or -e), 1 an operation failed\n"
        "(unreachable brokers, unknown topic or partition, offset out of range, corrupt\n"
        "batch), 2 bad command line.\n",
        CONSUME_MAX_WAIT_MS_DEFAULT, CONSUME_TIMEOUT_MS_DEFAULT);
}

/* ---- output format --------------------------------------------------------------------- */

/* Checks FORMAT once, so printing never meets a bad directive. */
static bool format_valid(const char *fmt)
{
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f == '%') {
            f++;
            if (*f == '\0' || strchr("skptoT%", *f) == NULL) {
                tool_usage_error("-f: unknown directive '%%%s' (use %%s %%k %%t %%p %%o %%T %%%%)",
                                 *f == '\0' ? "" : (char[]){*f, '\0'});
                return false;
            }
        } else if (*f == '\\') {
            f++;
            if (*f == '\0' || strchr("nt\\", *f) == NULL) {
                tool_usage_error("-f: unknown escape '\\%s' (use \\n \\t \\\\)",
                                 *f == '\0' ? "" : (char[]){*f, '\0'});
                return false;
            }
        }
    }
    return true;
}

static void print_record(const struct consumer *k, uint32_t partition,
                         const struct wire_record *r)
{
    FILE *out = stdout;
    for (const char *f = k->o.format; *f != '\0'; f++) {
        if (*f == '%') {
            f++;
            switch (*f) {
            case 's':
                fwrite(r->value.ptr, 1, r->value.len, out);
                break;
            case 'k':
                if (r->has_key)
                    fwrite(r->key.ptr, 1, r->key.len, out);
                break;
            case 't':
                fputs(k->o.topic, out);
                break;
            case 'p':
                fprintf(out, "%" PRIu32, partition);
                break;
            case 'o':
                fprintf(out, "%" PRIu64, r->offset);
                break;
            case 'T':
                fprintf(out, "%" PRId64, r->timestamp);
                break;
            default:
                fputc('%', out);
                break;
            }
        } else if (*f == '\\') {
            f++;
            fputc(*f == 'n' ? '\n' : *f == 't' ? '\t' : '\\', out);
        } else {
            fputc(*f, out);
        }
    }
}

/* ---- fetch replies -------------------------------------------------------------------- */

static void fatal(struct consumer *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fatal(struct consumer *k, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tool_error("%s", msg);
    k->failed = true;
}

static bool want_more(const struct consumer *k)
{
    return !(k->o.has_count && k->printed >= k->o.count);
}

/* Prints the records of one FETCH answer at or after the partition's next offset. */
static void take_batches(struct consumer *k, struct partition_state *ps,
                         const struct wire_fetch_resp *fr)
{
    for (uint32_t i = 0; i < fr->batches.count && want_more(k); i++) {
        const struct wire_bytes *bb = &fr->batches.items[i];
        struct wire_batch_header h;
        const char *why = NULL;
        int rc = wire_batch_validate(bb->ptr, bb->len, &h, &why);
        if (rc == WIRE_OK)
            rc = wire_record_iter_init(&k->iter, &h, k->scratch, WIRE_BATCH_RECORDS_BYTES_MAX, &why);
        while (rc == WIRE_OK && wire_record_iter_has_next(&k->iter) && want_more(k)) {
            struct wire_record rec;
            rc = wire_record_iter_next(&k->iter, &rec, &why);
            if (rc != WIRE_OK)
                break;
            if (rec.offset < ps->next_offset)
                continue; /* the batch began before the offset asked for */
            print_record(k, ps->partition, &rec);
            k->printed++;
            ps->next_offset = rec.offset + 1;
        }
        if (rc != WIRE_OK) {
            fatal(k, "partition %" PRIu32 ": the batch at offset %" PRIu64 " is bad: %s (%s)",
                  ps->partition, ps->next_offset, why != NULL ? why : wire_strerror(rc),
                  wire_err_name(rc));
            return;
        }
        /* Every record of the batch was taken (or skipped): continue after it. */
        if (want_more(k) && h.base_offset + h.record_count > ps->next_offset)
            ps->next_offset = h.base_offset + h.record_count;
    }
}

static uint32_t backoff_ms(uint32_t failures)
{
    uint32_t ms = CONSUME_BACKOFF_MS_MIN;
    for (uint32_t i = 1; i < failures && ms < CONSUME_BACKOFF_MS_MAX; i++)
        ms *= 2;
    return ms < CONSUME_BACKOFF_MS_MAX ? ms : CONSUME_BACKOFF_MS_MAX;
}

/* A transient failure: try again after a backoff, unless the partition has been unreachable too long. */
static void retry_later(struct consumer *k, struct partition_state *ps, bool at_once,
                        const char *why)
{
    snprintf(ps->last_error, sizeof(ps->last_error), "%s", why);
    ps->failures++;
    int64_t now = tool_now_ms();
    if (now - ps->last_ok_ms >= k->o.timeout_ms) {
        fatal(k, "partition %" PRIu32 ": no answer from its leader for %" PRIu32
                 " ms (last: %s)",
              ps->partition, k->o.timeout_ms, ps->last_error);
        return;
    }
    ps->retry_at_ms = at_once ? now : now + backoff_ms(ps->failures);
}

static void on_out_of_range(struct consumer *k, struct partition_state *ps,
                            const struct wire_frame *f)
{
    const struct wire_offset_range_detail *d = &f->body.offset_range_detail;
    if (ps->first_fetch && k->o.start == START_OFFSET) {
        fatal(k, "partition %" PRIu32 ": offset %" PRIu64 " is out of range: the partition holds [%" PRIu64
                 ", %" PRIu64 ")",
              ps->partition, ps->next_offset, d->log_start_offset, d->high_watermark);
        return;
    }
    /* Retention removed what we were about to read, or the log is shorter than we thought. */
    uint64_t to = ps->next_offset < d->log_start_offset ? d->log_start_offset : d->high_watermark;
    tool_error("partition %" PRIu32 ": offset %" PRIu64 " is no longer available; continuing at %" PRIu64,
               ps->partition, ps->next_offset, to);
    ps->next_offset = to;
    ps->retry_at_ms = tool_now_ms();
}

static void on_reply(struct consumer *k, struct wire_client_reply *reply)
{
    struct partition_state *ps = reply->user;
    ps->in_flight = false;
    k->in_flight--;
    if (reply->status != WIRE_OK) {
        wire_client_forget_leader(k->client, k->o.topic, ps->partition);
        k->refresh_wanted = true;
        if (reply->status == WIRE_ERR_TIMEOUT)
            retry_later(k, ps, false, wire_client_error(k->client));
        else
            fatal(k, "partition %" PRIu32 ": %s", ps->partition, wire_client_error(k->client));
        return;
    }
    const struct wire_frame *f = &reply->frame;
    char why[400];
    switch (f->error) {
    case WIRE_OK: {
        const struct wire_fetch_resp *fr = &f->body.fetch_resp;
        ps->first_fetch = false;
        ps->failures = 0;
        ps->last_ok_ms = tool_now_ms();
        take_batches(k, ps, fr);
        if (k->o.exit_at_end && ps->next_offset >= fr->high_watermark)
            ps->done = true;
        return;
    }
    case WIRE_ERR_NOT_LEADER: {
        wire_client_note_not_leader(k->client, k->o.topic, ps->partition, f);
        bool named = f->body.not_leader_detail.leader_id != 0;
        if (!named)
            k->refresh_wanted = true;
        retry_later(k, ps, named && ps->failures == 0, tool_response_error(f, why, sizeof(why)));
        return;
    }
    case WIRE_ERR_LEADER_NOT_AVAILABLE:
    case WIRE_ERR_SHUTTING_DOWN:
        wire_client_forget_leader(k->client, k->o.topic, ps->partition);
        k->refresh_wanted = true;
        retry_later(k, ps, false, tool_response_error(f, why, sizeof(why)));
        return;
    case WIRE_ERR_TIMEOUT:
    case WIRE_ERR_BACKPRESSURE:
    case WIRE_ERR_NOT_ENOUGH_REPLICAS:
        retry_later(k, ps, false, tool_response_error(f, why, sizeof(why)));
        return;
    case WIRE_ERR_OFFSET_OUT_OF_RANGE:
        on_out_of_range(k, ps, f);
        return;
    case WIRE_ERR_UNKNOWN_TOPIC:
        fatal(k, "unknown topic '%s' (deleted?)", k->o.topic);
        return;
    default:
        fatal(k, "partition %" PRIu32 ": FETCH failed: %s", ps->partition,
              tool_response_error(f, why, sizeof(why)));
        return;
    }
}

/* ---- the loop --------------------------------------------------------------------------- */

static void send_fetches(struct consumer *k)
{
    int64_t now = tool_now_ms();
    for (uint32_t n = 0; n < k->part_count && k->in_flight < CONSUME_FETCHES_IN_FLIGHT; n++) {
        struct partition_state *ps = &k->parts[(k->cursor + n) % k->part_count];
        if (ps->in_flight || ps->done || ps->retry_at_ms > now)
            continue;
        uint32_t wait = k->o.exit_at_end ? 0 : k->o.max_wait_ms;
        struct wire_frame req;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_FETCH;
        struct wire_fetch_req *fq = &req.body.fetch_req;
        fq->topic = (struct wire_bytes){(const uint8_t *)k->o.topic, (uint32_t)strlen(k->o.topic)};
        fq->partition = ps->partition;
        fq->offset = ps->next_offset;
        fq->max_bytes = CONSUME_FETCH_BYTES;
        fq->max_wait_ms = wait;
        /* A dead leader must not hold the partition much longer than --timeout. */
        uint32_t margin = k->o.timeout_ms < CONSUME_ANSWER_MARGIN_MS ? k->o.timeout_ms
                                                                     : CONSUME_ANSWER_MARGIN_MS;
        int rc = wire_client_send_routed(k->client, &req, wait + margin, ps, NULL);
        if (rc == WIRE_OK) {
            ps->in_flight = true;
            k->in_flight++;
            continue;
        }
        if (rc == WIRE_ERR_LIMIT_EXCEEDED)
            break;
        /* Not routable from the cache, or the leader did not take the connection. */
        if (rc == WIRE_ERR_TIMEOUT)
            wire_client_forget_leader(k->client, k->o.topic, ps->partition);
        k->refresh_wanted = true;
        retry_later(k, ps, false, wire_client_error(k->client));
        if (k->failed)
            return;
    }
    k->cursor++;
}

static void refresh_metadata(struct consumer *k)
{
    int64_t now = tool_now_ms();
    if (!k->refresh_wanted || now - k->last_refresh_ms < 100)
        return;
    k->last_refresh_ms = now;
    k->refresh_wanted = false;
    uint32_t count = 0;
    if (wire_client_refresh_metadata(k->client, k->o.topic, 1000) == WIRE_OK &&
        wire_client_partition_count(k->client, k->o.topic, &count) == WIRE_ERR_UNKNOWN_TOPIC)
        fatal(k, "unknown topic '%s' (deleted?)", k->o.topic);
}

static bool all_done(const struct consumer *k)
{
    if (!want_more(k))
        return true;
    for (uint32_t i = 0; i < k->part_count; i++) {
        if (!k->parts[i].done)
            return false;
    }
    return true;
}

static void run(struct consumer *k)
{
    while (!stop_requested && !k->failed && !all_done(k)) {
        refresh_metadata(k);
        if (k->failed)
            break;
        send_fetches(k);
        if (k->failed)
            break;
        struct wire_client_reply reply;
        if (k->in_flight == 0) {
            /* Everything is backing off: sleep a slice. */
            struct timespec ts = {0, (long)CONSUME_BACKOFF_MS_MIN * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (wire_client_poll(k->client, CONSUME_POLL_SLICE_MS, &reply) != WIRE_OK)
            continue;
        on_reply(k, &reply);
        while (!k->failed && wire_client_poll(k->client, 0, &reply) == WIRE_OK)
            on_reply(k, &reply);
        fflush(stdout);
    }
    fflush(stdout);
}

/* LIST_OFFSETS for every partition: where -o beginning / end starts. */
static int resolve_start(struct consumer *k)
{
    int64_t deadline = tool_now_ms() + k->o.timeout_ms;
    for (uint32_t i = 0; i < k->part_count; i++) {
        struct partition_state *ps = &k->parts[i];
        ps->first_fetch = true;
        ps->last_ok_ms = tool_now_ms();
        if (k->o.start == START_OFFSET) {
            ps->next_offset = k->o.start_offset;
            continue;
        }
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_LIST_OFFSETS;
        req.body.list_offsets_req.topic =
            (struct wire_bytes){(const uint8_t *)k->o.topic, (uint32_t)strlen(k->o.topic)};
        req.body.list_offsets_req.partition = ps->partition;
        req.body.list_offsets_req.spec = k->o.start == START_BEGINNING ? -2 : -1;
        int64_t left = deadline - tool_now_ms();
        int rc = wire_client_request(k->client, &req, left > 0 ? (uint32_t)left : 1u, 0, &resp);
        if (rc != WIRE_OK) {
            tool_error("partition %" PRIu32 ": cannot find the %s offset: %s", ps->partition,
                       k->o.start == START_BEGINNING ? "first" : "last",
                       wire_client_error(k->client));
            return TOOL_EXIT_FAILED;
        }
        if (resp.error != WIRE_OK) {
            char why[400];
            tool_error("partition %" PRIu32 ": LIST_OFFSETS: %s", ps->partition,
                       tool_response_error(&resp, why, sizeof(why)));
            return TOOL_EXIT_FAILED;
        }
        ps->next_offset = resp.body.list_offsets_resp.offset;
    }
    return TOOL_EXIT_OK;
}

/* ---- command line ------------------------------------------------------------------------- */

enum {
    OPT_MAX_WAIT = 256,
    OPT_TIMEOUT,
};

static int parse_args(int argc, char **argv, struct consume_opts *o)
{
    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"offset", required_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'c'},
        {"exit-at-end", no_argument, NULL, 'e'},
        {"format", required_argument, NULL, 'f'},
        {"max-wait", required_argument, NULL, OPT_MAX_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers_arg = NULL;
    o->start = START_BEGINNING;
    o->max_wait_ms = CONSUME_MAX_WAIT_MS_DEFAULT;
    o->timeout_ms = CONSUME_TIMEOUT_MS_DEFAULT;
    o->format = CONSUME_FORMAT_DEFAULT;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":b:t:p:o:c:ef:h", long_opts, NULL)) != -1) {
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
        case 'o':
            if (strcmp(optarg, "beginning") == 0) {
                o->start = START_BEGINNING;
            } else if (strcmp(optarg, "end") == 0) {
                o->start = START_END;
            } else {
                if (optarg[0] < '0' || optarg[0] > '9')
                    return tool_usage_error("-o: expected beginning, end or an offset, not '%s'",
                                            optarg);
                if (!tool_parse_u64(optarg, "-o", 0, (uint64_t)INT64_MAX, &o->start_offset))
                    return TOOL_EXIT_USAGE;
                o->start = START_OFFSET;
            }
            break;
        case 'c':
            if (!tool_parse_u64(optarg, "-c", 1, UINT64_MAX, &o->count))
                return TOOL_EXIT_USAGE;
            o->has_count = true;
            break;
        case 'e':
            o->exit_at_end = true;
            break;
        case 'f':
            o->format = optarg;
            break;
        case OPT_MAX_WAIT:
            if (!tool_parse_u32(optarg, "--max-wait", 0, CONSUME_MAX_WAIT_MS_MAX, &o->max_wait_ms))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_TIMEOUT:
            if (!tool_parse_u32(optarg, "--timeout", 1, CONSUME_TIMEOUT_MS_MAX, &o->timeout_ms))
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
        return tool_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->topic == NULL)
        return tool_usage_error("no topic given (-t TOPIC)");
    if (!tool_check_topic_name(o->topic) || !format_valid(o->format))
        return TOOL_EXIT_USAGE;
    if (!tool_brokers(brokers_arg, o->brokers, sizeof(o->brokers)))
        return TOOL_EXIT_USAGE;
    return TOOL_EXIT_OK;
}

int main(int argc, char **argv)
{
    tool_init("raftmq-consume");
    struct consumer *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_FAILED;
    }
    int result = parse_args(argc, argv, &k->o);
    if (result != TOOL_EXIT_OK) {
        free(k);
        return result;
    }
    result = TOOL_EXIT_FAILED;
    if (!tool_catch_stop_signals(&stop_requested)) {
        tool_error("cannot install signal handlers");
        goto done;
    }
    k->scratch = malloc(WIRE_BATCH_RECORDS_BYTES_MAX);
    if (k->scratch == NULL) {
        tool_error("out of memory");
        goto done;
    }
    k->client = tool_client_open(k->o.brokers, k->o.timeout_ms, CONSUME_FETCHES_IN_FLIGHT + 8);
    if (k->client == NULL)
        goto done;
    uint32_t partitions = 0;
    int rc = tool_topic_metadata(k->client, k->o.topic, k->o.timeout_ms, &partitions);
    if (rc == WIRE_ERR_UNKNOWN_TOPIC) {
        tool_error("unknown topic '%s'", k->o.topic);
        goto done;
    }
    if (rc != WIRE_OK) {
        tool_error("cannot reach the cluster at %s: %s", k->o.brokers, wire_client_error(k->client));
        goto done;
    }
    if (k->o.has_partition && k->o.partition >= partitions) {
        tool_error("topic '%s' has %" PRIu32 " partitions: -p %" PRIu32 " does not exist",
                   k->o.topic, partitions, k->o.partition);
        goto done;
    }
    k->part_count = k->o.has_partition ? 1 : partitions;
    k->parts = calloc(k->part_count, sizeof(*k->parts));
    if (k->parts == NULL) {
        tool_error("out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < k->part_count; i++)
        k->parts[i].partition = k->o.has_partition ? k->o.partition : i;
    if (resolve_start(k) != TOOL_EXIT_OK)
        goto done;
    run(k);
    result = k->failed ? TOOL_EXIT_FAILED : TOOL_EXIT_OK;
    if (ferror(stdout)) {
        tool_error("cannot write the output");
        result = TOOL_EXIT_FAILED;
    }
done:
    wire_client_close(k->client);
    free(k->parts);
    free(k->scratch);
    free(k);
    return result;
}
