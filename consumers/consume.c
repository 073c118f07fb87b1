/* raftmq-consume: prints the records of a topic's partitions through libraftmq's consumer, until told to stop. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumers/consume_format.h"
#include "wire/client.h"
#include "wire/raftmq.h"
#include "wire/tool.h"

/*
 * How it works: the tool asks the cluster how many partitions the topic
 * has (a METADATA through wire/client.h, the library has no call for it),
 * assigns them to a raftmq consumer at the -o position and prints what
 * raftmq_consumer_poll hands out. The library prefetches, checks CRCs,
 * decodes LZ4 and follows leaders; the tool formats, counts, notices the
 * end (-e) and turns the library's per-partition errors into messages and
 * the exit status.
 */

#define CONSUME_TIMEOUT_MS_DEFAULT 30000u
#define CONSUME_TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define CONSUME_MAX_WAIT_MS_DEFAULT 500u
#define CONSUME_MAX_WAIT_MS_MAX 60000u
/* How long one wait for records lasts before the tool looks at Ctrl-C and -e again. */
#define CONSUME_POLL_SLICE_MS 100
/* Output is written out in pieces of about this size (and whenever poll runs dry). */
#define CONSUME_OUT_FLUSH_BYTES (256u * 1024u)
/* Records between two -e checks of every partition while records keep coming. */
#define CONSUME_END_CHECK_RECORDS 4096u
#define CONSUME_BROKERS_BYTES (16u * 1024u)
#define CONSUME_FORMAT_DEFAULT "%s\\n"

enum start_kind {
    START_BEGINNING,
    START_END,
    START_OFFSET,
    START_TAIL,
    START_TIMESTAMP,
};

struct consume_opts {
    char brokers[CONSUME_BROKERS_BYTES];
    const char *topic;
    bool has_partition;
    uint32_t partition;
    enum start_kind start;
    uint64_t start_value; /* the offset, N of -N, or the timestamp */
    bool has_count;
    uint64_t count;
    bool exit_at_end;
    bool json;
    uint32_t max_wait_ms;
    uint32_t timeout_ms;
    const char *format;
};

struct tool_part {
    bool assigned;
    bool done;         /* -e: read up to its end */
    bool any;          /* a record was printed */
    int64_t next_expected;
    int64_t hwm_cache; /* the library's high watermark when last asked */
};

struct consume {
    struct consume_opts o;
    struct consume_format format;
    struct consume_out out;
    raftmq_consumer *consumer;
    struct tool_part *parts; /* by partition number */
    uint32_t partitions;
    uint32_t assigned;
    uint32_t done;
    uint64_t printed;
    bool failed;
};

static volatile sig_atomic_t stop_requested;

static void print_help(void)
{
    printf(
        "Usage: raftmq-consume [-b BROKERS] -t TOPIC [-p PARTITION]\n"
        "                      [-o beginning|end|OFFSET|-N|@TIMESTAMP_MS] [-c COUNT] [-e]\n"
        "                      [-f FORMAT | --json] [--max-wait MS] [--timeout MS]\n"
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
        "                       from now on), an offset number, -N (the last N records of\n"
        "                       each partition) or @TIMESTAMP_MS (the first record whose\n"
        "                       timestamp is at least TIMESTAMP_MS, ms since the epoch)\n"
        "  -c, --count COUNT    exit after printing COUNT records\n"
        "  -e, --exit-at-end    exit once every partition is read up to its end (its high\n"
        "                       watermark when reached)\n"
        "  -f, --format FORMAT  how to print a record (default '%%s\\n'):\n"
        "                         %%s value   %%k key (empty when it has none)   %%t topic\n"
        "                         %%p partition   %%o offset   %%T timestamp (ms since the epoch)\n"
        "                         %%h headers as name=value,name=value   %%S value size (bytes)\n"
        "                         %%%% a percent sign   \\n newline   \\t tab   \\\\ backslash\n"
        "      --json           print each record as one JSON object per line: topic,\n"
        "                       partition, offset, timestamp, key (null when none), value,\n"
        "                       headers ([{\"name\":..,\"value\":..}]); bytes that are not\n"
        "                       UTF-8 appear as \\u00XX\n"
        "      --max-wait MS    how long the broker may hold a FETCH waiting for new\n"
        "                       records (default %u)\n"
        "      --timeout MS     give up when a partition's leader cannot be reached for MS\n"
        "                       ms, and bounds the start-up (default %u)\n"
        "  -h, --help           this help\n"
        "\n"
        "Every batch's CRC-32C is checked and its records decoded (LZ4 included); a\n"
        "corrupt batch is fetched once more, then stops the tool with an error.\n"
        "\n"
        "Examples:\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -e\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -o end            # follow new records\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -p 1 -o 100 -c 10\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -o -5 -e          # the last 5 of each\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -o @1767225600000 -e --json\n"
        "  raftmq-consume -b 127.0.0.1:9292 -t orders -e -f '%%p:%%o %%k=%%s [%%h]\\n'\n"
        "\n"
        "Exit status: 0 done (also after Ctrl-C, -c or -e), 1 an operation failed\n"
        "(unreachable brokers, unknown topic or partition, offset out of range, corrupt\n"
        "batch), 2 bad command line.\n",
        CONSUME_MAX_WAIT_MS_DEFAULT, CONSUME_TIMEOUT_MS_DEFAULT);
}

/* ---- output ------------------------------------------------------------------------------ */

static void write_out(struct consume *k)
{
    if (k->out.len > 0) {
        if (fwrite(k->out.buf, 1, k->out.len, stdout) != k->out.len)
            k->failed = true;
        k->out.len = 0;
    }
    fflush(stdout);
}

static bool want_more(const struct consume *k)
{
    return !(k->o.has_count && k->printed >= k->o.count);
}

/* -e: a partition read up to its high watermark is done; it is unassigned. */
static void mark_done(struct consume *k, uint32_t partition)
{
    struct tool_part *tp = &k->parts[partition];
    if (tp->done)
        return;
    tp->done = true;
    k->done++;
    raftmq_consumer_unassign(k->consumer, k->o.topic, (int32_t)partition);
}

static void check_end(struct consume *k, uint32_t partition)
{
    int64_t pos, hwm;
    if (raftmq_consumer_position(k->consumer, k->o.topic, (int32_t)partition, &pos) == RAFTMQ_OK &&
        raftmq_consumer_high_watermark(k->consumer, k->o.topic, (int32_t)partition, &hwm) ==
            RAFTMQ_OK) {
        k->parts[partition].hwm_cache = hwm;
        if (hwm >= 0 && pos >= hwm)
            mark_done(k, partition);
    }
}

static void check_every_end(struct consume *k)
{
    for (uint32_t p = 0; p < k->partitions; p++) {
        if (k->parts[p].assigned && !k->parts[p].done)
            check_end(k, p);
    }
}

static void print_record(struct consume *k, const struct raftmq_record *r)
{
    uint32_t p = (uint32_t)r->partition;
    struct tool_part *tp = p < k->partitions ? &k->parts[p] : NULL;
    if (tp != NULL && tp->any && r->offset > tp->next_expected)
        tool_error("partition %" PRIu32 ": offsets %" PRId64 "..%" PRId64
                   " are no longer available; continued at %" PRId64,
                   p, tp->next_expected, r->offset - 1, r->offset);
    if (k->o.json)
        consume_json_record(r, &k->out);
    else
        consume_format_record(&k->format, r, &k->out);
    k->printed++;
    if (k->out.len >= CONSUME_OUT_FLUSH_BYTES)
        write_out(k);
    if (tp == NULL)
        return;
    tp->any = true;
    tp->next_expected = r->offset + 1;
    if (k->o.exit_at_end && r->offset + 1 >= tp->hwm_cache)
        check_end(k, p);
}

/* ---- errors from poll ------------------------------------------------------------------------ */

static void on_poll_error(struct consume *k, int rc, const struct raftmq_record *r)
{
    uint32_t p = (uint32_t)r->partition;
    const char *msg = raftmq_consumer_last_error(k->consumer);
    if (rc == RAFTMQ_ERR_OFFSET_OUT_OF_RANGE && p < k->partitions &&
        !(k->o.start == START_OFFSET && !k->parts[p].any)) {
        /* Retention removed what was next, or the log is shorter than thought: go on
         * from the oldest record left (or the end, if that would go back). */
        int64_t old = 0, now = 0;
        raftmq_consumer_position(k->consumer, k->o.topic, (int32_t)p, &old);
        int arc = raftmq_consumer_assign(k->consumer, k->o.topic, (int32_t)p, RAFTMQ_OFFSET_BEGINNING);
        if (arc == RAFTMQ_OK)
            raftmq_consumer_position(k->consumer, k->o.topic, (int32_t)p, &now);
        if (arc == RAFTMQ_OK && now < old)
            arc = raftmq_consumer_assign(k->consumer, k->o.topic, (int32_t)p, RAFTMQ_OFFSET_END);
        if (arc == RAFTMQ_OK) {
            raftmq_consumer_position(k->consumer, k->o.topic, (int32_t)p, &now);
            tool_error("partition %" PRIu32 ": offset %" PRId64
                       " is no longer available; continuing at %" PRId64,
                       p, old, now);
            return;
        }
        msg = raftmq_consumer_last_error(k->consumer);
    }
    if (rc == RAFTMQ_ERR_UNKNOWN_TOPIC)
        tool_error("unknown topic '%s' (deleted?)", k->o.topic);
    else
        tool_error("%s", msg[0] != '\0' ? msg : raftmq_strerror(rc));
    k->failed = true;
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void run(struct consume *k)
{
    int wait = 0;
    uint32_t since_check = 0;
    while (!stop_requested && !k->failed && want_more(k) &&
           !(k->o.exit_at_end && k->done == k->assigned)) {
        struct raftmq_record r;
        int rc = raftmq_consumer_poll(k->consumer, wait, &r);
        if (rc == RAFTMQ_OK) {
            print_record(k, &r);
            wait = 0;
            if (k->o.exit_at_end && ++since_check >= CONSUME_END_CHECK_RECORDS) {
                since_check = 0;
                check_every_end(k);
            }
            continue;
        }
        if (rc == RAFTMQ_ERR_NO_RECORD) {
            /* Ran dry: show what we have, then wait a slice. */
            write_out(k);
            if (k->o.exit_at_end)
                check_every_end(k);
            wait = CONSUME_POLL_SLICE_MS;
            continue;
        }
        on_poll_error(k, rc, &r);
    }
    write_out(k);
}

/* Assigns every partition read at the -o position. */
static int assign_all(struct consume *k)
{
    for (uint32_t p = 0; p < k->partitions; p++) {
        if (k->o.has_partition && p != k->o.partition)
            continue;
        int rc;
        switch (k->o.start) {
        case START_BEGINNING:
            rc = raftmq_consumer_assign(k->consumer, k->o.topic, (int32_t)p, RAFTMQ_OFFSET_BEGINNING);
            break;
        case START_END:
            rc = raftmq_consumer_assign(k->consumer, k->o.topic, (int32_t)p, RAFTMQ_OFFSET_END);
            break;
        case START_OFFSET:
            rc = raftmq_consumer_assign(k->consumer, k->o.topic, (int32_t)p, (int64_t)k->o.start_value);
            break;
        case START_TAIL:
            rc = raftmq_consumer_assign(k->consumer, k->o.topic, (int32_t)p,
                                        RAFTMQ_OFFSET_TAIL(k->o.start_value));
            break;
        default:
            rc = raftmq_consumer_assign_timestamp(k->consumer, k->o.topic, (int32_t)p,
                                                  (int64_t)k->o.start_value);
            break;
        }
        if (rc != RAFTMQ_OK) {
            tool_error("partition %" PRIu32 ": cannot start reading: %s", p,
                       raftmq_consumer_last_error(k->consumer));
            return TOOL_EXIT_FAILED;
        }
        k->parts[p].assigned = true;
        k->parts[p].hwm_cache = -1;
        k->assigned++;
    }
    return TOOL_EXIT_OK;
}

/* The topic's partition count, from METADATA (the library has no call for it). */
static int count_partitions(struct consume *k)
{
    struct wire_client *client = tool_client_open(k->o.brokers, k->o.timeout_ms, 0);
    if (client == NULL)
        return TOOL_EXIT_FAILED;
    int result = TOOL_EXIT_FAILED;
    int rc = tool_topic_metadata(client, k->o.topic, k->o.timeout_ms, &k->partitions);
    if (rc == WIRE_ERR_UNKNOWN_TOPIC)
        tool_error("unknown topic '%s'", k->o.topic);
    else if (rc != WIRE_OK)
        tool_error("cannot reach the cluster at %s: %s", k->o.brokers, wire_client_error(client));
    else if (k->o.has_partition && k->o.partition >= k->partitions)
        tool_error("topic '%s' has %" PRIu32 " partitions: -p %" PRIu32 " does not exist",
                   k->o.topic, k->partitions, k->o.partition);
    else
        result = TOOL_EXIT_OK;
    wire_client_close(client);
    return result;
}

/* ---- command line ------------------------------------------------------------------------- */

enum {
    OPT_MAX_WAIT = 256,
    OPT_TIMEOUT,
    OPT_JSON,
};

static int parse_offset(const char *arg, struct consume_opts *o)
{
    if (strcmp(arg, "beginning") == 0) {
        o->start = START_BEGINNING;
    } else if (strcmp(arg, "end") == 0) {
        o->start = START_END;
    } else if (arg[0] == '-') {
        if (!tool_parse_u64(arg + 1, "-o -N", 1, (uint64_t)INT64_MAX / 2, &o->start_value))
            return TOOL_EXIT_USAGE;
        o->start = START_TAIL;
    } else if (arg[0] == '@') {
        if (!tool_parse_u64(arg + 1, "-o @TIMESTAMP_MS", 0, (uint64_t)INT64_MAX, &o->start_value))
            return TOOL_EXIT_USAGE;
        o->start = START_TIMESTAMP;
    } else {
        if (arg[0] < '0' || arg[0] > '9')
            return tool_usage_error(
                "-o: expected beginning, end, an offset, -N or @TIMESTAMP_MS, not '%s'", arg);
        if (!tool_parse_u64(arg, "-o", 0, (uint64_t)INT64_MAX, &o->start_value))
            return TOOL_EXIT_USAGE;
        o->start = START_OFFSET;
    }
    return TOOL_EXIT_OK;
}

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
        {"json", no_argument, NULL, OPT_JSON},
        {"max-wait", required_argument, NULL, OPT_MAX_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers_arg = NULL;
    bool has_format = false;
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
        case 'o': {
            int rc = parse_offset(optarg, o);
            if (rc != TOOL_EXIT_OK)
                return rc;
            break;
        }
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
            has_format = true;
            break;
        case OPT_JSON:
            o->json = true;
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
    if (o->json && has_format)
        return tool_usage_error("-f and --json cannot be used together");
    if (!tool_check_topic_name(o->topic))
        return TOOL_EXIT_USAGE;
    if (!tool_brokers(brokers_arg, o->brokers, sizeof(o->brokers)))
        return TOOL_EXIT_USAGE;
    return TOOL_EXIT_OK;
}

int main(int argc, char **argv)
{
    tool_init("raftmq-consume");
    struct consume *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_FAILED;
    }
    int result = parse_args(argc, argv, &k->o);
    if (result == TOOL_EXIT_OK && !k->o.json) {
        char why[200];
        if (!consume_format_compile(k->o.format, &k->format, why, sizeof(why)))
            result = tool_usage_error("-f: %s", why);
    }
    if (result != TOOL_EXIT_OK) {
        free(k);
        return result;
    }
    result = TOOL_EXIT_FAILED;
    if (!tool_catch_stop_signals(&stop_requested)) {
        tool_error("cannot install signal handlers");
        goto done;
    }
    if (count_partitions(k) != TOOL_EXIT_OK)
        goto done;
    k->parts = calloc(k->partitions, sizeof(*k->parts));
    if (k->parts == NULL) {
        tool_error("out of memory");
        goto done;
    }
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = k->o.brokers;
    /* -e wants each partition's end at once, not after a long-poll. */
    cfg.fetch_max_wait_ms = k->o.exit_at_end ? 0 : k->o.max_wait_ms;
    cfg.request_timeout_ms = k->o.timeout_ms;
    cfg.offset_reset = RAFTMQ_RESET_ERROR; /* the tool decides, and says so */
    char errbuf[512];
    if (raftmq_consumer_new(&cfg, &k->consumer, errbuf, sizeof(errbuf)) != RAFTMQ_OK) {
        tool_error("%s", errbuf);
        goto done;
    }
    if (assign_all(k) != TOOL_EXIT_OK)
        goto done;
    run(k);
    result = k->failed ? TOOL_EXIT_FAILED : TOOL_EXIT_OK;
    if (k->out.failed) {
        tool_error("out of memory for the output");
        result = TOOL_EXIT_FAILED;
    }
    if (ferror(stdout)) {
        tool_error("cannot write the output");
        result = TOOL_EXIT_FAILED;
    }
done:
    raftmq_consumer_close(k->consumer);
    consume_format_free(&k->format);
    consume_out_free(&k->out);
    free(k->parts);
    free(k);
    return result;
}
