/*
 * raftmq-group-check: one consumer-group member on libraftmq (wire/raftmq.h)
 * that logs what it does, the checker of those logs, and wire-level checks
 * of the group requests, for tests/cluster/test_group_*.sh.
 *
 *   run -b B -g GROUP -t TOPIC [-t TOPIC...] --log FILE
 *       [--session-timeout MS] [--auto-commit-interval MS | --no-auto-commit]
 *       [--commit-every N] [--commit-interval MS] [--delay-ms MS]
 *       [--records N] [--seconds S] [--client-id ID]
 *       Subscribes and polls until SIGTERM/SIGINT (then unsubscribes: revoke,
 *       commit, leave; exit 0), N records or S seconds. FILE gets one line
 *       per event, flushed at once (so it survives SIGKILL); NS is
 *       CLOCK_MONOTONIC in nanoseconds, the same clock in every process:
 *         START NS                     subscribed
 *         ASSIGN TOPIC P NS            on_assigned
 *         REVOKE TOPIC P NS LOST       on_revoked (LOST 1: taken without a commit)
 *         REC TOPIC P OFFSET NS ID     a record returned by poll (ID: its "id" header, or -1)
 *         COMMIT TOPIC P OFFSET NS     a position committed: logged after
 *                                      raftmq_consumer_commit returned OK
 *         END NS                       unsubscribed, about to exit
 *       Without --no-auto-commit the library auto-commits (those commits are
 *       not logged: only sync commits are); --no-auto-commit commits
 *       synchronously every --commit-every records (default 1), every
 *       --commit-interval ms with new records (default 0: off), in every
 *       revoke (inside on_revoked) and at exit. --delay-ms sleeps after each
 *       record (a slow handler).
 *   now
 *       Prints CLOCK_MONOTONIC in ns (a script's timestamps for the logs).
 *   owned LOG...
 *       Prints, per log, how many partitions it owns now (ASSIGN not yet
 *       followed by REVOKE), space-separated.
 *   complete --acks FILE LOG...
 *       Exit 0 when every acknowledged record (raftmq-testclient's ack file)
 *       has a REC line in some log, 1 otherwise (prints how many are missing).
 *   check --acks FILE [--killed LOG=NS]... [--quiet FROM TO] [--max-revokes FROM TO N]
 *         [--expect-committed FILE] LOG...
 *       The group's guarantees, from the logs: (1) no partition owned by two
 *       members at once (ASSIGN..REVOKE intervals; a killed member's open
 *       intervals end at its kill time NS, a clean one's at END); (2) every
 *       acknowledged record processed, with its id; (3) a record processed
 *       twice only if one of the times was by a killed member at or after
 *       that member's last COMMIT of the partition; (4) per partition, the
 *       COMMIT offsets never go backwards in time; (5) --quiet: the members
 *       that live through [FROM, TO] (not killed or ended before TO) revoke
 *       nothing in it, and every partition such a member owned at FROM has a
 *       REC in (FROM, TO] by it (it kept consuming without a pause);
 *       (6) --max-revokes: at most N REVOKE lines in [FROM, TO];
 *       (7) --expect-committed: FILE's lines "TOPIC P OFFSET" equal the
 *       last COMMIT of each partition.
 *   errors -b B -g GROUP -t TOPIC
 *       Wire-level checks of OFFSET_COMMIT and friends on a topic of at
 *       least 2 partitions and a group not used before: ILLEGAL_GENERATION
 *       (stale generation, partition not owned), UNKNOWN_MEMBER,
 *       UNKNOWN_TOPIC, UNKNOWN_PARTITION, OFFSET_BACKWARDS (and rewind),
 *       GROUP_NOT_EMPTY, INVALID_REQUEST; OFFSET_FETCH after each. Leaves
 *       the group with committed offsets 7 and 9 on partitions 0 and 1.
 *
 * Exit status: 0 ok, 1 a check failed or an error (each printed), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cluster/records.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/errors.h"
#include "wire/frame.h"
#include "wire/limits.h"
#include "wire/raftmq.h"

#define PROG "raftmq-group-check"
#define FAILURES_SHOWN 30
#define TOPICS_MAX 16
#define LOGS_MAX 16
#define COMMIT_TIMEOUT_MS 10000
#define UNSUBSCRIBE_TIMEOUT_MS 15000

static unsigned failures;

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
    if (failures++ >= FAILURES_SHOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see the comment at the top of tests/cluster/group_check.c)\n", stderr);
    va_end(ap);
    exit(2);
}

static uint64_t parse_u64(const char *name, const char *s)
{
    char *end;
    errno = 0;
    if (s == NULL || s[0] < '0' || s[0] > '9')
        usage_error("%s: '%s' is not a number", name, s != NULL ? s : "");
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        usage_error("%s: '%s' is not a number", name, s);
    return (uint64_t)v;
}

static int64_t parse_i64(const char *name, const char *s)
{
    uint64_t v = parse_u64(name, s);
    if (v > (uint64_t)INT64_MAX)
        usage_error("%s: '%s' is too large", name, s);
    return (int64_t)v;
}

/* ---- run: one member ------------------------------------------------------------------ */

struct run_opts {
    const char *brokers;
    const char *group;
    const char *topics[TOPICS_MAX];
    size_t n_topics;
    const char *log_path;
    const char *client_id;
    uint32_t session_timeout_ms;
    uint32_t auto_commit_interval_ms;
    bool no_auto_commit;
    uint64_t commit_every;
    uint32_t commit_interval_ms;
    uint32_t delay_ms;
    uint64_t records;
    uint64_t seconds;
};

struct member {
    const struct run_opts *o;
    FILE *log;
    raftmq_consumer *c;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void log_line(struct member *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(struct member *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(m->log, fmt, ap);
    va_end(ap);
    fputc('\n', m->log);
    if (fflush(m->log) != 0)
        die("cannot write %s", m->o->log_path);
}

static void log_commit_of(struct member *m, const char *topic, int32_t partition, int64_t ns)
{
    int64_t pos;
    if (raftmq_consumer_position(m->c, topic, partition, &pos) == RAFTMQ_OK && pos >= 0)
        log_line(m, "COMMIT %s %" PRId32 " %" PRId64 " %" PRId64, topic, partition, pos, ns);
}

/* A sync commit; on OK, the positions of every owned partition are what is committed. */
static int commit_now(struct member *m)
{
    int rc = raftmq_consumer_commit(m->c, COMMIT_TIMEOUT_MS);
    if (rc != RAFTMQ_OK) {
        fprintf(stderr, PROG ": commit: %s: %s\n", raftmq_err_name(rc),
                raftmq_consumer_last_error(m->c));
        return rc;
    }
    int64_t ns = wire_mono_ns();
    struct raftmq_topic_partition parts[4096];
    size_t count = 4096;
    if (raftmq_consumer_assignment(m->c, parts, &count) != RAFTMQ_OK)
        return rc;
    if (count > 4096)
        count = 4096;
    for (size_t i = 0; i < count; i++)
        log_commit_of(m, parts[i].topic, parts[i].partition, ns);
    return rc;
}

static void on_assigned(raftmq_consumer *c, const struct raftmq_topic_partition *parts,
                        size_t count, bool lost, void *opaque)
{
    (void)c;
    (void)lost;
    struct member *m = opaque;
    int64_t ns = wire_mono_ns();
    for (size_t i = 0; i < count; i++)
        log_line(m, "ASSIGN %s %" PRId32 " %" PRId64, parts[i].topic, parts[i].partition, ns);
    fprintf(stderr, PROG ": assigned %zu partitions\n", count);
}

/*
 * The revoke is logged first (consumption of these partitions stopped when
 * the callback was called), then, unless lost, committed here so the COMMIT
 * lines say exactly where the next owner starts.
 */
static void on_revoked(raftmq_consumer *c, const struct raftmq_topic_partition *parts, size_t count,
                       bool lost, void *opaque)
{
    struct member *m = opaque;
    int64_t ns = wire_mono_ns();
    for (size_t i = 0; i < count; i++)
        log_line(m, "REVOKE %s %" PRId32 " %" PRId64 " %d", parts[i].topic, parts[i].partition, ns,
                 lost ? 1 : 0);
    fprintf(stderr, PROG ": revoked %zu partitions%s\n", count, lost ? " (lost)" : "");
    if (lost || !m->o->no_auto_commit)
        return;
    int rc = raftmq_consumer_commit(c, COMMIT_TIMEOUT_MS);
    if (rc != RAFTMQ_OK) {
        fprintf(stderr, PROG ": commit on revoke: %s: %s\n", raftmq_err_name(rc),
                raftmq_consumer_last_error(c));
        return;
    }
    ns = wire_mono_ns();
    for (size_t i = 0; i < count; i++)
        log_commit_of(m, parts[i].topic, parts[i].partition, ns);
}

static int64_t record_id(const struct raftmq_record *r)
{
    for (size_t i = 0; i < r->header_count; i++) {
        if (strcmp(r->headers[i].name, "id") != 0)
            continue;
        const char *v = r->headers[i].value;
        size_t n = r->headers[i].value_len;
        if (n == 0 || n > 18)
            return -1;
        int64_t id = 0;
        for (size_t k = 0; k < n; k++) {
            if (v[k] < '0' || v[k] > '9')
                return -1;
            id = id * 10 + (v[k] - '0');
        }
        return id;
    }
    return -1;
}

static int cmd_run(struct run_opts *o)
{
    if (o->brokers == NULL || o->group == NULL || o->n_topics == 0 || o->log_path == NULL)
        usage_error("run needs -b, -g, -t and --log");
    struct member m = {.o = o};
    m.log = fopen(o->log_path, "a");
    if (m.log == NULL)
        die("cannot open %s: %s", o->log_path, strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = o->brokers;
    cfg.fetch_max_wait_ms = 200;
    cfg.offset_reset = RAFTMQ_RESET_EARLIEST;
    char err[512];
    int rc = raftmq_consumer_new(&cfg, &m.c, err, sizeof(err));
    if (rc != RAFTMQ_OK)
        die("raftmq_consumer_new: %s", err);
    struct raftmq_group_config g;
    raftmq_group_config_init(&g);
    if (o->session_timeout_ms != 0) {
        g.session_timeout_ms = o->session_timeout_ms;
        if (g.heartbeat_interval_ms > o->session_timeout_ms / 3)
            g.heartbeat_interval_ms = o->session_timeout_ms / 3;
    }
    g.auto_commit = !o->no_auto_commit;
    if (o->auto_commit_interval_ms != 0)
        g.auto_commit_interval_ms = o->auto_commit_interval_ms;
    g.client_id = o->client_id;
    g.on_assigned = on_assigned;
    g.on_revoked = on_revoked;
    g.cb_opaque = &m;
    rc = raftmq_consumer_subscribe(m.c, o->group, o->topics, o->n_topics, &g);
    if (rc != RAFTMQ_OK)
        die("subscribe: %s: %s", raftmq_err_name(rc), raftmq_consumer_last_error(m.c));
    log_line(&m, "START %" PRId64, wire_mono_ns());

    int64_t end_ns = o->seconds > 0 ? wire_mono_ns() + (int64_t)o->seconds * 1000000000 : INT64_MAX;
    uint64_t processed = 0, since_commit = 0;
    int64_t last_commit_ms = wire_mono_ms();
    int result = 0;
    while (!stop_requested && (o->records == 0 || processed < o->records) &&
           wire_mono_ns() < end_ns) {
        struct raftmq_record r;
        rc = raftmq_consumer_poll(m.c, 100, &r);
        if (rc == RAFTMQ_OK) {
            log_line(&m, "REC %s %" PRId32 " %" PRId64 " %" PRId64 " %" PRId64, r.topic,
                     r.partition, r.offset, wire_mono_ns(), record_id(&r));
            processed++;
            since_commit++;
            if (o->delay_ms > 0)
                wire_sleep_ms(o->delay_ms);
        } else if (rc != RAFTMQ_ERR_NO_RECORD) {
            fprintf(stderr, PROG ": poll: %s: %s\n", raftmq_err_name(rc),
                    raftmq_consumer_last_error(m.c));
        }
        if (o->no_auto_commit && since_commit > 0 &&
            (since_commit >= o->commit_every ||
             (o->commit_interval_ms > 0 &&
              wire_mono_ms() - last_commit_ms >= (int64_t)o->commit_interval_ms))) {
            if (commit_now(&m) == RAFTMQ_OK)
                since_commit = 0;
            last_commit_ms = wire_mono_ms();
        }
    }
    if (o->no_auto_commit && since_commit > 0 && commit_now(&m) != RAFTMQ_OK)
        result = 1;
    rc = raftmq_consumer_unsubscribe(m.c, UNSUBSCRIBE_TIMEOUT_MS);
    if (rc != RAFTMQ_OK) {
        fprintf(stderr, PROG ": unsubscribe: %s: %s\n", raftmq_err_name(rc),
                raftmq_consumer_last_error(m.c));
        result = 1;
    }
    log_line(&m, "END %" PRId64, wire_mono_ns());
    raftmq_consumer_close(m.c);
    fclose(m.log);
    fprintf(stderr, PROG ": processed %" PRIu64 " records\n", processed);
    return result;
}

/* ---- the logs ------------------------------------------------------------------------ */

enum ev_kind { EV_ASSIGN, EV_REVOKE, EV_REC, EV_COMMIT };

struct event {
    enum ev_kind kind;
    uint32_t log;   /* index of the log */
    uint32_t topic; /* index into the topic names */
    uint32_t partition;
    int64_t offset;
    int64_t ns;
    int64_t id;
    size_t seq; /* position in the files, for a stable sort */
    bool lost;
};

struct logs {
    const char *path[LOGS_MAX];
    int64_t kill_ns[LOGS_MAX]; /* 0: not killed */
    int64_t end_ns[LOGS_MAX];  /* END line; 0: none */
    uint32_t n;
    char topic[TOPICS_MAX][WIRE_TOPIC_NAME_BYTES_MAX + 1];
    uint32_t n_topics;
    struct event *ev;
    size_t n_ev, cap_ev;
};

static uint32_t topic_index(struct logs *L, const char *name)
{
    for (uint32_t i = 0; i < L->n_topics; i++) {
        if (strcmp(L->topic[i], name) == 0)
            return i;
    }
    if (L->n_topics == TOPICS_MAX || strlen(name) > WIRE_TOPIC_NAME_BYTES_MAX)
        die("too many topics in the logs");
    snprintf(L->topic[L->n_topics], sizeof(L->topic[0]), "%s", name);
    return L->n_topics++;
}

static void push_event(struct logs *L, const struct event *e)
{
    if (L->n_ev == L->cap_ev) {
        size_t cap = L->cap_ev == 0 ? 4096 : L->cap_ev * 2;
        struct event *grown = realloc(L->ev, cap * sizeof(*grown));
        if (grown == NULL)
            die("out of memory");
        L->ev = grown;
        L->cap_ev = cap;
    }
    L->ev[L->n_ev++] = *e;
}

/* Reads every log; a partial last line (a member killed mid-write) is ignored. */
static void load_logs(struct logs *L)
{
    L->n_ev = 0;
    for (uint32_t i = 0; i < L->n; i++) {
        FILE *f = fopen(L->path[i], "r");
        if (f == NULL)
            die("cannot open %s: %s", L->path[i], strerror(errno));
        char line[512], topic[WIRE_TOPIC_NAME_BYTES_MAX + 1];
        unsigned lineno = 0;
        L->end_ns[i] = 0;
        while (fgets(line, sizeof(line), f) != NULL) {
            lineno++;
            if (strchr(line, '\n') == NULL)
                continue;
            struct event e = {.log = i, .id = -1};
            uint32_t p;
            int64_t a, b, c;
            int lost;
            if (sscanf(line, "ASSIGN %200s %" SCNu32 " %" SCNd64, topic, &p, &a) == 3) {
                e.kind = EV_ASSIGN;
                e.ns = a;
            } else if (sscanf(line, "REVOKE %200s %" SCNu32 " %" SCNd64 " %d", topic, &p, &a,
                              &lost) == 4) {
                e.kind = EV_REVOKE;
                e.ns = a;
                e.lost = lost != 0;
            } else if (sscanf(line, "REC %200s %" SCNu32 " %" SCNd64 " %" SCNd64 " %" SCNd64, topic,
                              &p, &a, &b, &c) == 5) {
                e.kind = EV_REC;
                e.offset = a;
                e.ns = b;
                e.id = c;
            } else if (sscanf(line, "COMMIT %200s %" SCNu32 " %" SCNd64 " %" SCNd64, topic, &p, &a,
                              &b) == 4) {
                e.kind = EV_COMMIT;
                e.offset = a;
                e.ns = b;
            } else if (sscanf(line, "END %" SCNd64, &a) == 1) {
                L->end_ns[i] = a;
                continue;
            } else if (strncmp(line, "START ", 6) == 0) {
                continue;
            } else {
                die("%s:%u: cannot parse '%.60s'", L->path[i], lineno, line);
            }
            e.topic = topic_index(L, topic);
            e.partition = p;
            push_event(L, &e);
        }
        fclose(f);
    }
}

/* Events ordered by partition, then log, then time (file order for ties). */
static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->topic != y->topic)
        return x->topic < y->topic ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    if (x->log != y->log)
        return x->log < y->log ? -1 : 1;
    if (x->ns != y->ns)
        return x->ns < y->ns ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void sort_events(struct logs *L)
{
    for (size_t k = 0; k < L->n_ev; k++)
        L->ev[k].seq = k;
    if (L->n_ev > 1)
        qsort(L->ev, L->n_ev, sizeof(L->ev[0]), cmp_event);
}

static bool same_part(const struct event *a, const struct event *b)
{
    return a->topic == b->topic && a->partition == b->partition;
}

/* The time a log's open intervals end: its kill time, its END, or never. */
static int64_t open_end(const struct logs *L, uint32_t log)
{
    if (L->kill_ns[log] != 0)
        return L->kill_ns[log];
    if (L->end_ns[log] != 0)
        return L->end_ns[log];
    return INT64_MAX;
}

static int cmd_owned(int argc, char **argv)
{
    struct logs L;
    memset(&L, 0, sizeof(L));
    for (int i = 0; i < argc && L.n < LOGS_MAX; i++)
        L.path[L.n++] = argv[i];
    if (L.n == 0)
        usage_error("owned needs logs");
    load_logs(&L);
    for (uint32_t i = 0; i < L.n; i++) {
        long owned = 0;
        for (size_t k = 0; k < L.n_ev; k++) {
            if (L.ev[k].log != i)
                continue;
            owned += L.ev[k].kind == EV_ASSIGN;
            owned -= L.ev[k].kind == EV_REVOKE;
        }
        printf("%s%ld", i > 0 ? " " : "", owned);
    }
    printf("\n");
    free(L.ev);
    return 0;
}

/* ---- check ------------------------------------------------------------------------------- */

/* Per (topic, partition, offset): how the records were processed. */
struct seen {
    uint32_t count;
    uint32_t excusable; /* processings by a killed member after its last commit */
    int64_t id;
};

struct part_seen {
    struct seen *at; /* by offset */
    size_t cap;
};

static struct seen *seen_at(struct part_seen *ps, int64_t offset)
{
    if (offset < 0 || offset > (int64_t)1 << 32)
        die("offset %" PRId64 " out of the checker's range", offset);
    if ((size_t)offset >= ps->cap) {
        size_t cap = ps->cap == 0 ? 1024 : ps->cap;
        while (cap <= (size_t)offset)
            cap *= 2;
        struct seen *grown = realloc(ps->at, cap * sizeof(*grown));
        if (grown == NULL)
            die("out of memory");
        memset(grown + ps->cap, 0, (cap - ps->cap) * sizeof(*grown));
        ps->at = grown;
        ps->cap = cap;
    }
    return &ps->at[offset];
}

#define PARTS_MAX (TOPICS_MAX * WIRE_PARTITIONS_MAX)

static struct part_seen *part_table(void)
{
    struct part_seen *t = calloc(PARTS_MAX, sizeof(*t));
    if (t == NULL)
        die("out of memory");
    return t;
}

static size_t part_key(const struct event *e)
{
    if (e->partition >= WIRE_PARTITIONS_MAX)
        die("partition %" PRIu32 " out of range", e->partition);
    return (size_t)e->topic * WIRE_PARTITIONS_MAX + e->partition;
}

static void free_parts(struct part_seen *t)
{
    for (size_t i = 0; i < PARTS_MAX; i++)
        free(t[i].at);
    free(t);
}

/* Fills the processing counts (events sorted); returns the table. */
static struct part_seen *count_processing(struct logs *L)
{
    struct part_seen *t = part_table();
    for (size_t k = 0; k < L->n_ev;) {
        size_t end = k;
        int64_t last_commit = -1;
        while (end < L->n_ev && same_part(&L->ev[end], &L->ev[k]) &&
               L->ev[end].log == L->ev[k].log) {
            if (L->ev[end].kind == EV_COMMIT && L->ev[end].offset > last_commit)
                last_commit = L->ev[end].offset;
            end++;
        }
        bool killed = L->kill_ns[L->ev[k].log] != 0;
        for (; k < end; k++) {
            const struct event *e = &L->ev[k];
            if (e->kind != EV_REC)
                continue;
            struct seen *s = seen_at(&t[part_key(e)], e->offset);
            s->count++;
            s->id = e->id;
            /* A killed member's records at or after its last commit may be read again. */
            if (killed && e->offset >= last_commit)
                s->excusable++;
        }
    }
    return t;
}

static size_t missing_acks(struct logs *L, const struct testacks *acks, struct part_seen *t,
                           bool report)
{
    uint32_t ti = topic_index(L, acks->header.topic);
    size_t missing = 0;
    for (size_t i = 0; i < acks->ack_count; i++) {
        const struct testack *a = &acks->acks[i];
        struct event probe = {.topic = ti, .partition = a->partition};
        struct seen *s = seen_at(&t[part_key(&probe)], (int64_t)a->offset);
        if (s->count == 0) {
            if (report && missing < 5)
                failf("record id %" PRIu64 " (%s/%" PRIu32 " offset %" PRIu64
                      ") was never processed",
                      a->id, acks->header.topic, a->partition, a->offset);
            missing++;
        } else if (report && s->id != (int64_t)a->id) {
            failf("%s/%" PRIu32 " offset %" PRIu64 ": processed id %" PRId64
                  ", acknowledged id %" PRIu64,
                  acks->header.topic, a->partition, a->offset, s->id, a->id);
        }
    }
    return missing;
}

static void load_acks(const char *path, struct testacks *acks)
{
    char why[512];
    if (testacks_load(path, acks, why, sizeof(why)) != 0)
        die("%s", why);
    if (!acks->has_header)
        die("%s has no header line", path);
}

static int cmd_complete(int argc, char **argv)
{
    const char *acks_path = NULL;
    struct logs L;
    memset(&L, 0, sizeof(L));
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--acks") == 0 && i + 1 < argc)
            acks_path = argv[++i];
        else if (L.n < LOGS_MAX)
            L.path[L.n++] = argv[i];
    }
    if (acks_path == NULL || L.n == 0)
        usage_error("complete needs --acks FILE and logs");
    struct testacks acks;
    load_acks(acks_path, &acks);
    load_logs(&L);
    sort_events(&L);
    struct part_seen *t = count_processing(&L);
    size_t missing = missing_acks(&L, &acks, t, false);
    printf("%zu of %zu acknowledged records not processed yet\n", missing, acks.ack_count);
    free_parts(t);
    testacks_free(&acks);
    free(L.ev);
    return missing == 0 ? 0 : 1;
}

struct interval {
    uint32_t log;
    int64_t from, to;
};

/* (1) No partition owned by two members at once (events sorted). */
static void check_overlaps(struct logs *L)
{
    struct interval *iv = malloc(sizeof(*iv) * (L->n_ev + 1));
    if (iv == NULL)
        die("out of memory");
    size_t checked = 0;
    for (size_t k = 0; k < L->n_ev;) {
        const struct event *first = &L->ev[k];
        const char *tname = L->topic[first->topic];
        uint32_t p = first->partition;
        size_t n = 0;
        int64_t open_from = -1;
        uint32_t lg = first->log;
        for (; k < L->n_ev && same_part(&L->ev[k], first); k++) {
            const struct event *e = &L->ev[k];
            if (e->log != lg) {
                if (open_from >= 0)
                    iv[n++] = (struct interval){lg, open_from, open_end(L, lg)};
                open_from = -1;
                lg = e->log;
            }
            if (e->kind == EV_ASSIGN) {
                if (open_from >= 0)
                    failf("%s: %s/%" PRIu32 " assigned twice without a revoke", L->path[lg], tname,
                          p);
                open_from = e->ns;
            } else if (e->kind == EV_REVOKE) {
                if (open_from < 0) {
                    failf("%s: %s/%" PRIu32 " revoked while not assigned", L->path[lg], tname, p);
                    continue;
                }
                iv[n++] = (struct interval){lg, open_from, e->ns};
                open_from = -1;
            } else if (e->kind == EV_REC && open_from < 0) {
                failf("%s: %s/%" PRIu32 " offset %" PRId64 " processed while not assigned",
                      L->path[lg], tname, p, e->offset);
            }
        }
        if (open_from >= 0)
            iv[n++] = (struct interval){lg, open_from, open_end(L, lg)};
        for (size_t a = 0; a < n; a++) {
            for (size_t b = a + 1; b < n; b++) {
                checked++;
                if (iv[a].log != iv[b].log && iv[a].from < iv[b].to && iv[b].from < iv[a].to)
                    failf("%s/%" PRIu32 " owned by two members at once: %s [%" PRId64 ", %" PRId64
                          "] and %s [%" PRId64 ", %" PRId64 "]",
                          tname, p, L->path[iv[a].log], iv[a].from, iv[a].to, L->path[iv[b].log],
                          iv[b].from, iv[b].to);
            }
        }
    }
    printf("ownership: %zu interval pairs compared\n", checked);
    free(iv);
}

/* (3) Duplicates only where a killed member had not committed. */
static void check_duplicates(struct logs *L, struct part_seen *t)
{
    uint64_t dups = 0, excused = 0;
    for (size_t key = 0; key < PARTS_MAX; key++) {
        for (size_t off = 0; off < t[key].cap; off++) {
            const struct seen *s = &t[key].at[off];
            if (s->count <= 1)
                continue;
            dups += s->count - 1;
            if (s->count - 1 <= s->excusable) {
                excused += s->count - 1;
                continue;
            }
            failf("%s/%zu offset %zu processed %" PRIu32 " times (only %" PRIu32
                  " by a killed member after its last commit)",
                  L->topic[key / WIRE_PARTITIONS_MAX], key % WIRE_PARTITIONS_MAX, off, s->count,
                  s->excusable);
        }
    }
    printf("duplicates: %" PRIu64 " records processed again, %" PRIu64
           " of them after a killed member's last commit\n",
           dups, excused);
}

static int cmp_ns(const void *a, const void *b)
{
    const struct event *x = *(const struct event *const *)a, *y = *(const struct event *const *)b;
    return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/* (4) Committed offsets never go backwards; (7) and equal the expected final ones. */
static void check_commits(struct logs *L, const char *expect_path)
{
    const struct event **commits = malloc(sizeof(*commits) * (L->n_ev + 1));
    if (commits == NULL)
        die("out of memory");
    size_t checked = 0;
    for (size_t k = 0; k < L->n_ev;) {
        const struct event *first = &L->ev[k];
        size_t n = 0;
        for (; k < L->n_ev && same_part(&L->ev[k], first); k++) {
            if (L->ev[k].kind == EV_COMMIT)
                commits[n++] = &L->ev[k];
        }
        /* the members' commits of one partition, in time order across the logs */
        qsort(commits, n, sizeof(commits[0]), cmp_ns);
        int64_t high = -1;
        for (size_t i = 0; i < n; i++) {
            if (commits[i]->offset < high)
                failf("%s/%" PRIu32 ": committed offset went back from %" PRId64 " to %" PRId64
                      " (%s)",
                      L->topic[first->topic], first->partition, high, commits[i]->offset,
                      L->path[commits[i]->log]);
            if (commits[i]->offset > high)
                high = commits[i]->offset;
        }
        checked += n;
    }
    free(commits);
    printf("commits: %zu commits checked for order\n", checked);
    if (expect_path == NULL)
        return;
    FILE *f = fopen(expect_path, "r");
    if (f == NULL)
        die("cannot open %s", expect_path);
    char topic[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    uint32_t p;
    int64_t off;
    unsigned compared = 0;
    while (fscanf(f, "%200s %" SCNu32 " %" SCNd64, topic, &p, &off) == 3) {
        struct event probe = {.topic = topic_index(L, topic), .partition = p};
        int64_t last = -1;
        for (size_t k = 0; k < L->n_ev; k++) {
            if (L->ev[k].kind == EV_COMMIT && same_part(&L->ev[k], &probe) &&
                L->ev[k].offset > last)
                last = L->ev[k].offset;
        }
        if (last != off)
            failf("%s/%" PRIu32 ": the group's committed offset is %" PRId64
                  ", the members' last commit %" PRId64,
                  topic, p, off, last);
        compared++;
    }
    fclose(f);
    if (compared == 0)
        failf("%s lists no committed offsets", expect_path);
    printf("committed offsets: %u compared with the members' last commits\n", compared);
}

static bool log_lives_through(const struct logs *L, uint32_t lg, int64_t to)
{
    return !(L->kill_ns[lg] != 0 && L->kill_ns[lg] <= to) &&
           !(L->end_ns[lg] != 0 && L->end_ns[lg] <= to);
}

/* (5) In [from, to] nothing is revoked and every owned partition keeps being consumed. */
static void check_quiet(struct logs *L, int64_t from, int64_t to)
{
    unsigned owned_checked = 0;
    for (size_t k = 0; k < L->n_ev; k++) {
        const struct event *e = &L->ev[k];
        if (!log_lives_through(L, e->log, to))
            continue; /* a member that left or died in the window gives everything up */
        if (e->kind == EV_REVOKE && e->ns >= from && e->ns <= to)
            failf("%s: %s/%" PRIu32 " revoked at %" PRId64 ", inside the quiet window [%" PRId64
                  ", %" PRId64 "]",
                  L->path[e->log], L->topic[e->topic], e->partition, e->ns, from, to);
    }
    for (uint32_t lg = 0; lg < L->n; lg++) {
        if (!log_lives_through(L, lg, to))
            continue;
        for (size_t k = 0; k < L->n_ev; k++) {
            const struct event *a = &L->ev[k];
            if (a->log != lg || a->kind != EV_ASSIGN || a->ns > from)
                continue;
            bool still = true, consumed = false;
            for (size_t j = k + 1; j < L->n_ev; j++) {
                const struct event *e = &L->ev[j];
                if (e->log != lg || e->topic != a->topic || e->partition != a->partition)
                    continue;
                if (e->kind == EV_REVOKE && e->ns < from)
                    still = false;
                if (e->kind == EV_REC && e->ns > from && e->ns <= to)
                    consumed = true;
            }
            if (!still)
                continue;
            owned_checked++;
            if (!consumed)
                failf("%s: %s/%" PRIu32 " was owned at %" PRId64
                      " but no record of it was processed until %" PRId64,
                      L->path[lg], L->topic[a->topic], a->partition, from, to);
        }
    }
    printf("quiet window: %u partitions that stayed put kept being consumed\n", owned_checked);
}

static void check_max_revokes(struct logs *L, int64_t from, int64_t to, uint64_t max)
{
    uint64_t n = 0;
    for (size_t k = 0; k < L->n_ev; k++)
        n += L->ev[k].kind == EV_REVOKE && L->ev[k].ns >= from && L->ev[k].ns <= to;
    if (n > max)
        failf("%" PRIu64 " partitions revoked in [%" PRId64 ", %" PRId64 "], at most %" PRIu64
              " had to move",
              n, from, to, max);
    printf("revokes in the window: %" PRIu64 " (at most %" PRIu64 ")\n", n, max);
}

static int cmd_check(int argc, char **argv)
{
    const char *acks_path = NULL, *expect_path = NULL;
    struct logs L;
    memset(&L, 0, sizeof(L));
    int64_t quiet_from[8], quiet_to[8], rev_from[8], rev_to[8];
    uint64_t rev_max[8];
    unsigned n_quiet = 0, n_rev = 0;
    struct {
        const char *path;
        int64_t ns;
    } killed[LOGS_MAX];
    unsigned n_killed = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--acks") == 0 && i + 1 < argc) {
            acks_path = argv[++i];
        } else if (strcmp(a, "--expect-committed") == 0 && i + 1 < argc) {
            expect_path = argv[++i];
        } else if (strcmp(a, "--killed") == 0 && i + 1 < argc && n_killed < LOGS_MAX) {
            char *spec = argv[++i];
            char *eq = strrchr(spec, '=');
            if (eq == NULL)
                usage_error("--killed LOG=NS");
            *eq = '\0';
            killed[n_killed].path = spec;
            killed[n_killed++].ns = parse_i64("--killed", eq + 1);
        } else if (strcmp(a, "--quiet") == 0 && i + 2 < argc && n_quiet < 8) {
            quiet_from[n_quiet] = parse_i64("--quiet", argv[++i]);
            quiet_to[n_quiet++] = parse_i64("--quiet", argv[++i]);
        } else if (strcmp(a, "--max-revokes") == 0 && i + 3 < argc && n_rev < 8) {
            rev_from[n_rev] = parse_i64("--max-revokes", argv[++i]);
            rev_to[n_rev] = parse_i64("--max-revokes", argv[++i]);
            rev_max[n_rev++] = parse_u64("--max-revokes", argv[++i]);
        } else if (a[0] == '-') {
            usage_error("check: unknown or incomplete option '%s'", a);
        } else if (L.n < LOGS_MAX) {
            L.path[L.n++] = a;
        }
    }
    if (acks_path == NULL || L.n == 0)
        usage_error("check needs --acks FILE and logs");
    for (unsigned k = 0; k < n_killed; k++) {
        bool found = false;
        for (uint32_t i = 0; i < L.n; i++) {
            if (strcmp(L.path[i], killed[k].path) == 0) {
                L.kill_ns[i] = killed[k].ns;
                found = true;
            }
        }
        if (!found)
            usage_error("--killed %s: not one of the logs", killed[k].path);
    }
    struct testacks acks;
    load_acks(acks_path, &acks);
    load_logs(&L);
    sort_events(&L);
    size_t recs = 0;
    for (size_t k = 0; k < L.n_ev; k++)
        recs += L.ev[k].kind == EV_REC;
    printf("logs: %u members, %zu events, %zu records processed, %zu acknowledged\n", L.n, L.n_ev,
           recs, acks.ack_count);
    check_overlaps(&L);
    struct part_seen *t = count_processing(&L);
    size_t missing = missing_acks(&L, &acks, t, true);
    if (missing > 0)
        failf("%zu acknowledged records were never processed", missing);
    check_duplicates(&L, t);
    check_commits(&L, expect_path);
    for (unsigned k = 0; k < n_quiet; k++)
        check_quiet(&L, quiet_from[k], quiet_to[k]);
    for (unsigned k = 0; k < n_rev; k++)
        check_max_revokes(&L, rev_from[k], rev_to[k], rev_max[k]);
    free_parts(t);
    testacks_free(&acks);
    free(L.ev);
    printf("%s: %u failures\n", failures == 0 ? "PASS" : "FAIL", failures);
    return failures == 0 ? 0 : 1;
}

/* ---- errors: wire-level checks --------------------------------------------------------- */

struct wire_env {
    struct wire_client *c;
    const char *group;
    const char *topic;
};


/* Sends req; returns the response's error (or the client's failure) and copies the message. */
static int send_req(struct wire_env *w, struct wire_frame *req, struct wire_frame *resp, char *msg,
                    size_t cap)
{
    int rc = wire_client_request(w->c, req, 10000, 0, resp);
    if (rc != WIRE_OK) {
        snprintf(msg, cap, "%s", wire_client_error(w->c));
        return rc;
    }
    snprintf(msg, cap, "%.*s", (int)resp->error_message.len, (const char *)resp->error_message.ptr);
    return (int)resp->error;
}

struct member_state {
    char id[WIRE_MEMBER_ID_BYTES_MAX + 1];
    uint64_t generation;
    struct wire_topic_partition assigned[64];
    uint32_t n_assigned;
};

static void copy_assignment(struct member_state *m, uint64_t generation,
                            const struct wire_topic_partition *items, uint32_t count)
{
    m->generation = generation;
    m->n_assigned = 0;
    for (uint32_t i = 0; i < count && i < 64; i++) {
        /* the topic bytes live in the client's buffer: keep only partitions (one topic here) */
        m->assigned[i].topic = (struct wire_bytes){NULL, 0};
        m->assigned[i].partition = items[i].partition;
        m->n_assigned++;
    }
}

static int join(struct wire_env *w, struct member_state *m, const char *client_id)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_JOIN_GROUP;
    struct wire_join_group_req *j = &req.body.join_group_req;
    struct wire_bytes topic = wire_bytes_str(w->topic);
    j->group = wire_bytes_str(w->group);
    j->client_id = wire_bytes_str(client_id);
    j->topics.count = 1;
    j->topics.items = &topic;
    j->session_timeout_ms = 60000;
    char msg[512];
    int rc = send_req(w, &req, &resp, msg, sizeof(msg));
    if (rc != WIRE_OK) {
        failf("JOIN_GROUP %s: %s: %s", client_id, wire_err_name(rc), msg);
        return rc;
    }
    const struct wire_join_group_resp *jr = &resp.body.join_group_resp;
    snprintf(m->id, sizeof(m->id), "%.*s", (int)jr->member_id.len, (const char *)jr->member_id.ptr);
    copy_assignment(m, jr->generation, jr->assigned.items, jr->assigned.count);
    printf("joined %s: member %s, generation %" PRIu64 ", %" PRIu32 " assigned, %" PRIu32
           " pending\n",
           client_id, m->id, m->generation, m->n_assigned, jr->pending);
    return rc;
}

/* SYNC_GROUP reporting `owned` (partitions of the topic). */
static int sync_owned(struct wire_env *w, struct member_state *m, const uint32_t *owned,
                      uint32_t n_owned)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_SYNC_GROUP;
    struct wire_sync_group_req *s = &req.body.sync_group_req;
    struct wire_topic_partition tp[64];
    for (uint32_t i = 0; i < n_owned && i < 64; i++)
        tp[i] = (struct wire_topic_partition){wire_bytes_str(w->topic), owned[i]};
    s->group = wire_bytes_str(w->group);
    s->member_id = wire_bytes_str(m->id);
    s->generation = m->generation;
    s->owned.count = n_owned;
    s->owned.items = tp;
    char msg[512];
    int rc = send_req(w, &req, &resp, msg, sizeof(msg));
    if (rc != WIRE_OK) {
        failf("SYNC_GROUP %s: %s: %s", m->id, wire_err_name(rc), msg);
        return rc;
    }
    const struct wire_sync_group_resp *sr = &resp.body.sync_group_resp;
    copy_assignment(m, sr->generation, sr->assigned.items, sr->assigned.count);
    printf("synced %s: generation %" PRIu64 ", %" PRIu32 " assigned, %" PRIu32 " pending\n", m->id,
           m->generation, m->n_assigned, sr->pending);
    return rc;
}

struct commit_item {
    const char *topic;
    uint32_t partition;
    int64_t offset;
};

static int commit(struct wire_env *w, const char *member_id, uint64_t generation, bool rewind,
                  const struct commit_item *items, uint32_t n, char *msg, size_t cap)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_OFFSET_COMMIT;
    struct wire_offset_commit_req *oc = &req.body.offset_commit_req;
    struct wire_partition_offset po[8];
    for (uint32_t i = 0; i < n && i < 8; i++)
        po[i] = (struct wire_partition_offset){wire_bytes_str(items[i].topic), items[i].partition,
                                               items[i].offset};
    oc->group = wire_bytes_str(w->group);
    oc->member_id = wire_bytes_str(member_id);
    oc->generation = generation;
    oc->rewind = rewind;
    oc->offsets.count = n;
    oc->offsets.items = po;
    return send_req(w, &req, &resp, msg, cap);
}

/* The committed offset of topic/partition (-1: none); -2 when the fetch failed. */
static int64_t fetch_committed(struct wire_env *w, uint32_t partition)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_OFFSET_FETCH;
    struct wire_bytes topic = wire_bytes_str(w->topic);
    req.body.offset_fetch_req.group = wire_bytes_str(w->group);
    req.body.offset_fetch_req.topics.count = 1;
    req.body.offset_fetch_req.topics.items = &topic;
    char msg[512];
    int rc = send_req(w, &req, &resp, msg, sizeof(msg));
    if (rc != WIRE_OK) {
        failf("OFFSET_FETCH: %s: %s", wire_err_name(rc), msg);
        return -2;
    }
    const struct wire_offset_fetch_resp *f = &resp.body.offset_fetch_resp;
    for (uint32_t i = 0; i < f->offsets.count; i++) {
        if (f->offsets.items[i].partition == partition &&
            f->offsets.items[i].topic.len == strlen(w->topic) &&
            memcmp(f->offsets.items[i].topic.ptr, w->topic, strlen(w->topic)) == 0)
            return f->offsets.items[i].offset;
    }
    failf("OFFSET_FETCH did not list %s/%" PRIu32, w->topic, partition);
    return -2;
}

static void expect(const char *what, int got, int want, const char *msg)
{
    if (got != want)
        failf("%s: got %s (%s), expected %s", what, wire_err_name(got), msg, wire_err_name(want));
    else
        printf("ok: %s: %s%s%s\n", what, wire_err_name(got), msg[0] != '\0' ? ": " : "", msg);
}

static void expect_committed(struct wire_env *w, uint32_t partition, int64_t want, const char *when)
{
    int64_t got = fetch_committed(w, partition);
    if (got != want)
        failf("%s: %s/%" PRIu32 " committed %" PRId64 ", expected %" PRId64, when, w->topic,
              partition, got, want);
    else
        printf("ok: %s: %s/%" PRIu32 " committed %" PRId64 "\n", when, w->topic, partition, got);
}

static void leave(struct wire_env *w, const struct member_state *m)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_LEAVE_GROUP;
    req.body.leave_group_req.group = wire_bytes_str(w->group);
    req.body.leave_group_req.member_id = wire_bytes_str(m->id);
    char msg[512];
    int rc = send_req(w, &req, &resp, msg, sizeof(msg));
    expect("LEAVE_GROUP", rc, WIRE_OK, msg);
}

static int cmd_errors(const char *brokers, const char *group, const char *topic)
{
    if (brokers == NULL || group == NULL || topic == NULL)
        usage_error("errors needs -b, -g and -t");
    struct wire_client_config cfg = {0};
    cfg.bootstrap = brokers;
    struct wire_env w = {.group = group, .topic = topic};
    if (wire_client_open(&cfg, &w.c) != WIRE_OK)
        die("cannot open a client for %s", brokers);
    char msg[512];
    int rc;
    struct member_state m1, m2;
    memset(&m1, 0, sizeof(m1));
    memset(&m2, 0, sizeof(m2));

    expect_committed(&w, 0, -1, "a new group");
    if (join(&w, &m1, "errors-m1") != WIRE_OK)
        goto out;
    if (m1.n_assigned < 2)
        failf("the only member got %" PRIu32 " partitions, expected all (>= 2)", m1.n_assigned);
    uint32_t both[2] = {0, 1};
    sync_owned(&w, &m1, both, 2);

    struct commit_item c10[2] = {{topic, 0, 10}, {topic, 1, 10}};
    rc = commit(&w, m1.id, m1.generation, false, c10, 2, msg, sizeof(msg));
    expect("commit 10, 10 by the owner", rc, WIRE_OK, msg);
    expect_committed(&w, 0, 10, "after the commit");
    rc = commit(&w, m1.id, m1.generation, false, c10, 2, msg, sizeof(msg));
    expect("the same offsets again (a no-op)", rc, WIRE_OK, msg);

    struct commit_item back[1] = {{topic, 0, 4}};
    rc = commit(&w, m1.id, m1.generation, false, back, 1, msg, sizeof(msg));
    expect("commit below the committed offset", rc, WIRE_ERR_OFFSET_BACKWARDS, msg);
    expect_committed(&w, 0, 10, "after OFFSET_BACKWARDS");

    struct commit_item unknown_topic[1] = {{"no-such-topic", 0, 1}};
    rc = commit(&w, m1.id, m1.generation, false, unknown_topic, 1, msg, sizeof(msg));
    expect("commit to an unknown topic", rc, WIRE_ERR_UNKNOWN_TOPIC, msg);
    if (rc == WIRE_ERR_UNKNOWN_TOPIC && strstr(msg, "no-such-topic") == NULL)
        failf("the UNKNOWN_TOPIC message does not name the topic: '%s'", msg);

    struct commit_item bad_part[1] = {{topic, 4000, 1}};
    rc = commit(&w, m1.id, m1.generation, false, bad_part, 1, msg, sizeof(msg));
    expect("commit to a partition the topic lacks", rc, WIRE_ERR_UNKNOWN_PARTITION, msg);

    struct commit_item negative[1] = {{topic, 0, -5}};
    rc = commit(&w, m1.id, m1.generation, false, negative, 1, msg, sizeof(msg));
    expect("commit of a negative offset", rc, WIRE_ERR_INVALID_REQUEST, msg);

    rc = commit(&w, "no-such-member", 1, false, c10, 2, msg, sizeof(msg));
    expect("commit by an unknown member", rc, WIRE_ERR_UNKNOWN_MEMBER, msg);

    struct commit_item c12[1] = {{topic, 0, 12}};
    rc = commit(&w, "", 0, false, c12, 1, msg, sizeof(msg));
    expect("commit outside the membership while the group has a member", rc,
           WIRE_ERR_GROUP_NOT_EMPTY, msg);
    rc = commit(&w, "", 3, false, c12, 1, msg, sizeof(msg));
    expect("commit with member \"\" and a generation", rc, WIRE_ERR_INVALID_REQUEST, msg);

    /* A second member: the generation moves on; m1 learns it by SYNC, its old one is stale. */
    uint64_t old_generation = m1.generation;
    if (join(&w, &m2, "errors-m2") != WIRE_OK)
        goto out;
    sync_owned(&w, &m1, both, 2);
    if (m1.generation <= old_generation)
        failf("the generation did not move after a second member joined (%" PRIu64 " -> %" PRIu64
              ")",
              old_generation, m1.generation);
    rc = commit(&w, m1.id, old_generation, false, c10, 2, msg, sizeof(msg));
    expect("commit with a stale generation", rc, WIRE_ERR_ILLEGAL_GENERATION, msg);

    /* m1 gives up what it is no longer assigned; m2 then gets it. */
    uint32_t kept[64], n_kept = 0;
    for (uint32_t i = 0; i < m1.n_assigned; i++)
        kept[n_kept++] = m1.assigned[i].partition;
    if (n_kept != 1)
        failf("after the second join m1 is assigned %" PRIu32 " partitions, expected 1", n_kept);
    sync_owned(&w, &m1, kept, n_kept);
    sync_owned(&w, &m2, NULL, 0);
    if (m2.n_assigned != 1)
        failf("m2 is assigned %" PRIu32 " partitions after m1 let go, expected 1", m2.n_assigned);
    if (n_kept == 1 && m2.n_assigned == 1) {
        uint32_t mine = kept[0], theirs = m2.assigned[0].partition;
        struct commit_item not_mine[1] = {{topic, theirs, 11}};
        rc = commit(&w, m1.id, m1.generation, false, not_mine, 1, msg, sizeof(msg));
        expect("commit of a partition another member owns", rc, WIRE_ERR_ILLEGAL_GENERATION, msg);
        struct commit_item m1c[1] = {{topic, mine, 7}};
        struct commit_item m2c[1] = {{topic, theirs, 9}};
        /* 7 < 10: only a rewind may do it */
        rc = commit(&w, m1.id, m1.generation, false, m1c, 1, msg, sizeof(msg));
        expect("commit back without rewind", rc, WIRE_ERR_OFFSET_BACKWARDS, msg);
        rc = commit(&w, m1.id, m1.generation, true, m1c, 1, msg, sizeof(msg));
        expect("commit back with rewind (a seek)", rc, WIRE_OK, msg);
        expect_committed(&w, mine, 7, "after the rewind");
        rc = commit(&w, m2.id, m2.generation, true, m2c, 1, msg, sizeof(msg));
        expect("m2 commits its new partition", rc, WIRE_OK, msg);
        expect_committed(&w, theirs, 9, "after m2's commit");
        /* leave the offsets where the comment at the top says: 7 on 0, 9 on 1 */
        if (mine != 0) {
            struct commit_item fix1[1] = {{topic, 1, 9}}, fix0[1] = {{topic, 0, 7}};
            commit(&w, m1.id, m1.generation, true, fix1, 1, msg, sizeof(msg));
            commit(&w, m2.id, m2.generation, true, fix0, 1, msg, sizeof(msg));
        }
    }
    leave(&w, &m1);
    leave(&w, &m2);
    rc = commit(&w, m1.id, m1.generation, false, c10, 2, msg, sizeof(msg));
    expect("commit by a member that left", rc, WIRE_ERR_UNKNOWN_MEMBER, msg);
    expect_committed(&w, 0, 7, "after both left");
    expect_committed(&w, 1, 9, "after both left");
out:
    wire_client_close(w.c);
    printf("%s: %u failures\n", failures == 0 ? "PASS" : "FAIL", failures);
    return failures == 0 ? 0 : 1;
}

/* ---- command line ---------------------------------------------------------------------- */

enum {
    OPT_LOG = 256,
    OPT_SESSION,
    OPT_AUTO_INTERVAL,
    OPT_NO_AUTO,
    OPT_COMMIT_EVERY,
    OPT_COMMIT_INTERVAL,
    OPT_DELAY,
    OPT_RECORDS,
    OPT_SECONDS,
    OPT_CLIENT_ID,
};

int main(int argc, char **argv)
{
    if (argc < 2)
        usage_error("no command (run, now, owned, complete, check, errors)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "now") == 0) {
        printf("%" PRId64 "\n", wire_mono_ns());
        return 0;
    }
    if (strcmp(cmd, "owned") == 0)
        return cmd_owned(argc - 2, argv + 2);
    if (strcmp(cmd, "complete") == 0)
        return cmd_complete(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "errors") != 0)
        usage_error("unknown command '%s'", cmd);

    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"group", required_argument, NULL, 'g'},
        {"topic", required_argument, NULL, 't'},
        {"log", required_argument, NULL, OPT_LOG},
        {"session-timeout", required_argument, NULL, OPT_SESSION},
        {"auto-commit-interval", required_argument, NULL, OPT_AUTO_INTERVAL},
        {"no-auto-commit", no_argument, NULL, OPT_NO_AUTO},
        {"commit-every", required_argument, NULL, OPT_COMMIT_EVERY},
        {"commit-interval", required_argument, NULL, OPT_COMMIT_INTERVAL},
        {"delay-ms", required_argument, NULL, OPT_DELAY},
        {"records", required_argument, NULL, OPT_RECORDS},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"client-id", required_argument, NULL, OPT_CLIENT_ID},
        {NULL, 0, NULL, 0},
    };
    struct run_opts o;
    memset(&o, 0, sizeof(o));
    o.commit_every = 1;
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "b:g:t:", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o.brokers = optarg;
            break;
        case 'g':
            o.group = optarg;
            break;
        case 't':
            if (o.n_topics == TOPICS_MAX)
                usage_error("at most %d topics", TOPICS_MAX);
            o.topics[o.n_topics++] = optarg;
            break;
        case OPT_LOG:
            o.log_path = optarg;
            break;
        case OPT_SESSION:
            o.session_timeout_ms = (uint32_t)parse_u64("--session-timeout", optarg);
            break;
        case OPT_AUTO_INTERVAL:
            o.auto_commit_interval_ms = (uint32_t)parse_u64("--auto-commit-interval", optarg);
            break;
        case OPT_NO_AUTO:
            o.no_auto_commit = true;
            break;
        case OPT_COMMIT_EVERY:
            o.commit_every = parse_u64("--commit-every", optarg);
            if (o.commit_every == 0)
                usage_error("--commit-every must be at least 1");
            break;
        case OPT_COMMIT_INTERVAL:
            o.commit_interval_ms = (uint32_t)parse_u64("--commit-interval", optarg);
            break;
        case OPT_DELAY:
            o.delay_ms = (uint32_t)parse_u64("--delay-ms", optarg);
            break;
        case OPT_RECORDS:
            o.records = parse_u64("--records", optarg);
            break;
        case OPT_SECONDS:
            o.seconds = parse_u64("--seconds", optarg);
            break;
        case OPT_CLIENT_ID:
            o.client_id = optarg;
            break;
        default:
            usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (strcmp(cmd, "errors") == 0)
        return cmd_errors(o.brokers, o.group, o.n_topics > 0 ? o.topics[0] : NULL);
    return cmd_run(&o);
}
