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
#include "wire/validate.h"

/*
 * How it works: the tool asks the cluster how many partitions the topic
 * has (a METADATA through wire/client.h, the library has no call for it),
 * assigns them to a raftmq consumer at the -o position and prints what
 * raftmq_consumer_poll hands out. The library prefetches, checks CRCs,
 * decodes LZ4 and follows leaders; the tool formats, counts, notices the
 * end (-e) and turns the library's per-partition errors into messages and
 * the exit status.
 *
 * With -g GROUP the tool is a member of a consumer group instead: the
 * library subscribes, the group's coordinator hands out the partitions of
 * the -t topics, and they start at the group's committed offsets. The tool
 * commits itself rather than leaving it to the library's auto-commit, and
 * only after writing out what it printed: a committed record has always
 * reached stdout, so a crash can repeat records but never lose one.
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
#define CONSUME_AUTO_COMMIT_MS_DEFAULT 1000u
#define CONSUME_AUTO_COMMIT_MS_MAX 3600000u
/* An assignment change is printed on one line of at most this many bytes. */
#define CONSUME_ASSIGN_LINE_BYTES 2048u

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
    /* -g: the group and every -t (topics[0] == topic) */
    const char *group;
    const char *topics[WIRE_GROUP_TOPICS_MAX];
    size_t n_topics;
    bool has_offset;
    uint32_t session_timeout_ms; /* 0: the library's default */
    uint32_t auto_commit_ms;
    bool no_auto_commit;
    bool has_commit_every;
    uint64_t commit_every;
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
    /* -g */
    uint64_t since_commit; /* records printed since the last commit */
    int64_t last_commit_ms;
    /* An async commit is only started when none is in flight: the library would
     * send a queued one later, with positions of records not written out yet. */
    bool async_in_flight;
};

static volatile sig_atomic_t stop_requested;

static void print_help(void)
{
    printf(
        "Usage: raftmq-consume [-b BROKERS] -t TOPIC [-p PARTITION]\n"
        "                      [-o beginning|end|OFFSET|-N|@TIMESTAMP_MS] [-c COUNT] [-e]\n"
        "                      [-f FORMAT | --json] [--max-wait MS] [--timeout MS]\n"
        "       raftmq-consume [-b BROKERS] -g GROUP -t TOPIC [-t TOPIC...] [-c COUNT]\n"
        "                      [--session-timeout MS] [--auto-commit-interval MS |\n"
        "                      --no-auto-commit [--commit-every N]] [-f FORMAT | --json]\n"
        "                      [--max-wait MS] [--timeout MS]\n"
        "\n"
        "Prints the records of TOPIC, by default each record's value followed by a\n"
        "newline. Reads every partition unless -p is given (order is kept within a\n"
        "partition, not across partitions). Runs until Ctrl-C unless -c or -e says when\n"
        "to stop.\n"
        "\n"
        "With -g the tool joins consumer group GROUP: the group's members share the\n"
        "partitions of the -t topics, each partition read by one member at a time,\n"
        "starting where the group last committed (the beginning when nothing is\n"
        "committed). Assignment changes are reported on stderr (\"assigned t/0 t/3\",\n"
        "\"revoked t/3\", \"lost t/3\" when taken without a commit). Offsets are\n"
        "committed only for records already written to stdout. Ctrl-C or SIGTERM:\n"
        "commit, leave the group (its partitions move to the other members at once),\n"
        "exit 0.\n"
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
        "\n"
        "Consumer group (-g):\n"
        "  -g, --group GROUP    join GROUP; -t may be given several times; not with -p,\n"
        "                       -o or -e (the group decides the partitions and offsets)\n"
        "      --session-timeout MS\n"
        "                       the coordinator expels this member when it has not heard\n"
        "                       from it for MS ms (1000..300000, default 10000)\n"
        "      --auto-commit-interval MS\n"
        "                       commit what was printed every MS ms (default %u)\n"
        "      --no-auto-commit commit synchronously every --commit-every records instead\n"
        "      --commit-every N with --no-auto-commit: records between commits (default 1)\n"
        "  -c, --count COUNT    exit after COUNT records, committing them first\n"
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
        "  raftmq-consume -b 127.0.0.1:9292 -g billing -t orders -t refunds\n"
        "  raftmq-consume -b 127.0.0.1:9292 -g billing -t orders --no-auto-commit -c 100\n"
        "\n"
        "Exit status: 0 done (also after Ctrl-C, -c or -e), 1 an operation failed\n"
        "(unreachable brokers, unknown topic or partition, offset out of range, corrupt\n"
        "batch, a final commit refused), 2 bad command line.\n",
        CONSUME_MAX_WAIT_MS_DEFAULT, CONSUME_TIMEOUT_MS_DEFAULT, CONSUME_AUTO_COMMIT_MS_DEFAULT);
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

/* ---- consumer group (-g) ------------------------------------------------------------------ */

/* "assigned t/0 t/3" on stderr, cut short (with the count) if it would not fit one line. */
static void print_assignment(const char *what, const struct raftmq_topic_partition *parts,
                             size_t count)
{
    char line[CONSUME_ASSIGN_LINE_BYTES];
    size_t used = 0;
    size_t shown = 0;
    for (; shown < count; shown++) {
        int w = snprintf(line + used, sizeof(line) - used, " %s/%" PRId32, parts[shown].topic,
                         parts[shown].partition);
        if (w < 0 || (size_t)w >= sizeof(line) - used - 32)
            break;
        used += (size_t)w;
    }
    if (shown < count)
        snprintf(line + used, sizeof(line) - used, " ... (%zu partitions)", count);
    tool_error("%s%s", what, line);
}

static void on_group_assigned(raftmq_consumer *c, const struct raftmq_topic_partition *parts,
                              size_t count, bool lost, void *opaque)
{
    (void)c;
    (void)lost;
    (void)opaque;
    print_assignment("assigned", parts, count);
}

/*
 * The library commits revoked partitions right after this returns: what
 * was printed of them must be on stdout first. Lost partitions are not
 * committed (another member may own them already).
 */
static void on_group_revoked(raftmq_consumer *c, const struct raftmq_topic_partition *parts,
                             size_t count, bool lost, void *opaque)
{
    (void)c;
    struct consume *k = opaque;
    write_out(k);
    print_assignment(lost ? "lost" : "revoked", parts, count);
}

static void on_group_commit(raftmq_consumer *c, int error, const char *message, void *opaque)
{
    (void)c;
    struct consume *k = opaque;
    k->async_in_flight = false;
    if (error != RAFTMQ_OK)
        tool_error("commit: %s", message[0] != '\0' ? message : raftmq_strerror(error));
}

/* Writes out what was printed, then commits it (synchronously, or not waiting). */
static int group_commit(struct consume *k, bool sync)
{
    if (!sync && k->async_in_flight && tool_now_ms() - k->last_commit_ms < (int64_t)k->o.timeout_ms)
        return RAFTMQ_OK; /* the next interval will do */
    write_out(k);
    k->last_commit_ms = tool_now_ms();
    k->since_commit = 0;
    if (!sync) {
        int rc = raftmq_consumer_commit_async(k->consumer);
        if (rc != RAFTMQ_OK)
            tool_error("commit: %s", raftmq_consumer_last_error(k->consumer));
        else
            k->async_in_flight = true;
        return rc;
    }
    int rc = raftmq_consumer_commit(k->consumer, (int)k->o.timeout_ms);
    if (rc != RAFTMQ_OK) {
        const char *msg = raftmq_consumer_last_error(k->consumer);
        tool_error("commit: %s", msg[0] != '\0' ? msg : raftmq_strerror(rc));
    }
    return rc;
}

static void group_poll_error(struct consume *k, int rc, const struct raftmq_record *r)
{
    const char *msg = raftmq_consumer_last_error(k->consumer);
    tool_error("%s", msg[0] != '\0' ? msg : raftmq_strerror(rc));
    /* The library keeps trying a partition it cannot fetch; a deleted topic or a
     * corrupt batch stops the partition for good, and the tool with it. */
    if (rc == RAFTMQ_ERR_UNKNOWN_TOPIC || rc == RAFTMQ_ERR_UNKNOWN_PARTITION ||
        rc == RAFTMQ_ERR_CORRUPT_BATCH || rc == RAFTMQ_ERR_OFFSET_OUT_OF_RANGE) {
        tool_error("stopping: %s/%" PRId32 " cannot be read", r->topic != NULL ? r->topic : "?",
                   r->partition);
        k->failed = true;
    }
}

static void run_group(struct consume *k)
{
    int wait = 0;
    k->last_commit_ms = tool_now_ms();
    while (!stop_requested && !k->failed && want_more(k)) {
        struct raftmq_record r;
        int rc = raftmq_consumer_poll(k->consumer, wait, &r);
        if (rc == RAFTMQ_OK) {
            print_record(k, &r);
            k->since_commit++;
            wait = 0;
            if (k->o.no_auto_commit && k->since_commit >= k->o.commit_every)
                group_commit(k, true);
        } else if (rc == RAFTMQ_ERR_NO_RECORD) {
            write_out(k);
            wait = CONSUME_POLL_SLICE_MS;
        } else {
            group_poll_error(k, rc, &r);
        }
        if (!k->o.no_auto_commit && k->since_commit > 0 &&
            tool_now_ms() - k->last_commit_ms >= (int64_t)k->o.auto_commit_ms)
            group_commit(k, false);
    }
    /* -c, Ctrl-C or SIGTERM: commit what was printed, then leave (revoking commits too). */
    if (k->since_commit > 0 && group_commit(k, true) != RAFTMQ_OK)
        k->failed = true;
    write_out(k);
    int rc = raftmq_consumer_unsubscribe(k->consumer, (int)k->o.timeout_ms);
    if (rc != RAFTMQ_OK) {
        const char *msg = raftmq_consumer_last_error(k->consumer);
        tool_error("leaving group '%s': %s", k->o.group,
                   msg[0] != '\0' ? msg : raftmq_strerror(rc));
    }
}

/* Checks the -t topics exist (the coordinator ignores unknown names), then subscribes. */
static int subscribe_group(struct consume *k)
{
    struct wire_client *client = tool_client_open(k->o.brokers, k->o.timeout_ms, 0);
    if (client == NULL)
        return TOOL_EXIT_FAILED;
    int result = TOOL_EXIT_OK;
    for (size_t i = 0; i < k->o.n_topics && result == TOOL_EXIT_OK; i++) {
        uint32_t partitions;
        int rc = tool_topic_metadata(client, k->o.topics[i], k->o.timeout_ms, &partitions);
        if (rc == WIRE_ERR_UNKNOWN_TOPIC) {
            tool_error("unknown topic '%s'", k->o.topics[i]);
            result = TOOL_EXIT_FAILED;
        } else if (rc != WIRE_OK) {
            tool_error("cannot reach the cluster at %s: %s", k->o.brokers,
                       wire_client_error(client));
            result = TOOL_EXIT_FAILED;
        }
    }
    wire_client_close(client);
    if (result != TOOL_EXIT_OK)
        return result;
    struct raftmq_group_config g;
    raftmq_group_config_init(&g);
    if (k->o.session_timeout_ms != 0) {
        g.session_timeout_ms = k->o.session_timeout_ms;
        if (g.heartbeat_interval_ms > g.session_timeout_ms / 3)
            g.heartbeat_interval_ms = g.session_timeout_ms / 3;
    }
    /* The tool commits itself, after writing out (see the top of the file). */
    g.auto_commit = false;
    g.on_assigned = on_group_assigned;
    g.on_revoked = on_group_revoked;
    g.on_commit = on_group_commit;
    g.cb_opaque = k;
    int rc = raftmq_consumer_subscribe(k->consumer, k->o.group, k->o.topics, k->o.n_topics, &g);
    if (rc != RAFTMQ_OK) {
        tool_error("cannot join group '%s': %s", k->o.group,
                   raftmq_consumer_last_error(k->consumer));
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
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
    OPT_SESSION_TIMEOUT,
    OPT_AUTO_COMMIT_INTERVAL,
    OPT_NO_AUTO_COMMIT,
    OPT_COMMIT_EVERY,
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
        {"group", required_argument, NULL, 'g'},
        {"session-timeout", required_argument, NULL, OPT_SESSION_TIMEOUT},
        {"auto-commit-interval", required_argument, NULL, OPT_AUTO_COMMIT_INTERVAL},
        {"no-auto-commit", no_argument, NULL, OPT_NO_AUTO_COMMIT},
        {"commit-every", required_argument, NULL, OPT_COMMIT_EVERY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers_arg = NULL;
    bool has_format = false;
    bool has_auto_commit_interval = false;
    o->start = START_BEGINNING;
    o->auto_commit_ms = CONSUME_AUTO_COMMIT_MS_DEFAULT;
    o->commit_every = 1;
    o->max_wait_ms = CONSUME_MAX_WAIT_MS_DEFAULT;
    o->timeout_ms = CONSUME_TIMEOUT_MS_DEFAULT;
    o->format = CONSUME_FORMAT_DEFAULT;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":b:t:p:o:c:ef:g:h", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            brokers_arg = optarg;
            break;
        case 't':
            if (o->n_topics == WIRE_GROUP_TOPICS_MAX)
                return tool_usage_error("at most %u topics (-t)", WIRE_GROUP_TOPICS_MAX);
            if (o->topic == NULL)
                o->topic = optarg;
            o->topics[o->n_topics++] = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case OPT_SESSION_TIMEOUT:
            if (!tool_parse_u32(optarg, "--session-timeout", 1000, 300000, &o->session_timeout_ms))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_AUTO_COMMIT_INTERVAL:
            if (!tool_parse_u32(optarg, "--auto-commit-interval", 1, CONSUME_AUTO_COMMIT_MS_MAX,
                                &o->auto_commit_ms))
                return TOOL_EXIT_USAGE;
            has_auto_commit_interval = true;
            break;
        case OPT_NO_AUTO_COMMIT:
            o->no_auto_commit = true;
            break;
        case OPT_COMMIT_EVERY:
            if (!tool_parse_u64(optarg, "--commit-every", 1, UINT64_MAX, &o->commit_every))
                return TOOL_EXIT_USAGE;
            o->has_commit_every = true;
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
            o->has_offset = true;
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
    for (size_t i = 0; i < o->n_topics; i++) {
        if (!tool_check_topic_name(o->topics[i]))
            return TOOL_EXIT_USAGE;
    }
    if (o->group != NULL) {
        if (!wire_topic_name_valid(o->group, strlen(o->group))) /* the topic-name rule */
            return tool_usage_error("invalid group name '%s' (1..%u characters of A-Z a-z 0-9 . _ "
                                    "-, not '.' or '..')",
                                    o->group, WIRE_GROUP_NAME_BYTES_MAX);
        if (o->has_partition)
            return tool_usage_error(
                "-g and -p cannot be used together: the group assigns the partitions");
        if (o->has_offset)
            return tool_usage_error(
                "-g and -o cannot be used together: a group member starts at the "
                "group's committed offsets (raftmq-admin group reset moves them)");
        if (o->exit_at_end)
            return tool_usage_error("-g and -e cannot be used together (use -c COUNT to stop)");
        if (o->no_auto_commit && has_auto_commit_interval)
            return tool_usage_error(
                "--auto-commit-interval and --no-auto-commit cannot be used together");
        if (o->has_commit_every && !o->no_auto_commit)
            return tool_usage_error("--commit-every goes with --no-auto-commit");
    } else {
        if (o->n_topics > 1)
            return tool_usage_error(
                "several -t need -g GROUP (without a group, one topic is read)");
        if (o->session_timeout_ms != 0 || has_auto_commit_interval || o->no_auto_commit ||
            o->has_commit_every)
            return tool_usage_error(
                "--session-timeout, --auto-commit-interval, --no-auto-commit and "
                "--commit-every go with -g GROUP");
    }
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
    if (k->o.group == NULL) {
        if (count_partitions(k) != TOOL_EXIT_OK)
            goto done;
        k->parts = calloc(k->partitions, sizeof(*k->parts));
        if (k->parts == NULL) {
            tool_error("out of memory");
            goto done;
        }
    }
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = k->o.brokers;
    /* -e wants each partition's end at once, not after a long-poll. */
    cfg.fetch_max_wait_ms = k->o.exit_at_end ? 0 : k->o.max_wait_ms;
    cfg.request_timeout_ms = k->o.timeout_ms;
    /* Without a group the tool decides, and says so; a group member with nothing
     * committed (or a committed offset retention removed) starts at the beginning. */
    cfg.offset_reset = k->o.group != NULL ? RAFTMQ_RESET_EARLIEST : RAFTMQ_RESET_ERROR;
    char errbuf[512];
    if (raftmq_consumer_new(&cfg, &k->consumer, errbuf, sizeof(errbuf)) != RAFTMQ_OK) {
        tool_error("%s", errbuf);
        goto done;
    }
    if (k->o.group != NULL) {
        if (subscribe_group(k) != TOOL_EXIT_OK)
            goto done;
        run_group(k);
    } else {
        if (assign_all(k) != TOOL_EXIT_OK)
            goto done;
        run(k);
    }
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
