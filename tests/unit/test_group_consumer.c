/*
 * Tests of the group consumer (raftmq_consumer_subscribe and friends)
 * against a fake coordinator in a thread: one ROUTER on loopback that is
 * controller, coordinator and leader of topic "t" (2 partitions of 30
 * records each), answering JOIN/SYNC/HEARTBEAT/LEAVE, OFFSET_FETCH/
 * OFFSET_COMMIT, METADATA, LIST_OFFSETS and FETCH from a scripted state,
 * and logging the group requests in arrival order. Assertions are on
 * results and on that order, never on time: every wait is a bounded loop
 * of polls with a generous limit.
 */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_broker.h"
#include "suites.h"
#include "wire/batch.h"
#include "wire/frame.h"
#include "wire/raftmq.h"

#define GF_PARTS 2
#define GF_BATCHES 3
#define GF_PER_BATCH 10
#define GF_RECORDS (GF_BATCHES * GF_PER_BATCH)
#define GF_LOG_MAX 512
#define GF_LINE 160

struct gfake {
    struct fake_broker fb;
    pthread_mutex_t mu;
    uint8_t batch_buf[GF_PARTS][GF_BATCHES][2048];
    struct wire_bytes batches[GF_PARTS][GF_BATCHES];
    /* the coordinator's state, under mu */
    bool target[GF_PARTS]; /* what JOIN/SYNC answer as assigned */
    uint64_t generation;
    char member_id[32];
    int joins;
    int64_t committed[GF_PARTS];
    /* scripts, under mu */
    uint32_t commit_error;     /* OFFSET_COMMIT answered with this (0: applied) */
    bool heartbeat_unknown;    /* the next HEARTBEAT is answered UNKNOWN_MEMBER */
    bool group_silent;         /* group requests get no answer */
    /* what it saw, under mu */
    int heartbeats;
    int commits;
    char log[GF_LOG_MAX][GF_LINE];
    int log_count;
};

static void gf_log(struct gfake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void gf_log(struct gfake *f, const char *fmt, ...)
{
    if (f->log_count >= GF_LOG_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->log[f->log_count++], GF_LINE, fmt, ap);
    va_end(ap);
}

/* "t/0,t/1" of a topic_partition array. */
static void tps_text(char *out, size_t cap, uint32_t count, const struct wire_topic_partition *items)
{
    out[0] = '\0';
    for (uint32_t i = 0; i < count; i++) {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%.*s/%u", i > 0 ? "," : "", (int)items[i].topic.len,
                 (const char *)items[i].topic.ptr, items[i].partition);
    }
}

static const struct wire_bytes topic_t = {(const uint8_t *)"t", 1};

static void gf_build(struct gfake *f)
{
    for (int p = 0; p < GF_PARTS; p++) {
        for (int b = 0; b < GF_BATCHES; b++) {
            struct wire_batch_builder bb;
            wire_batch_builder_init(&bb, f->batch_buf[p][b], sizeof(f->batch_buf[p][b]), WIRE_CODEC_NONE);
            char values[GF_PER_BATCH][16];
            for (int i = 0; i < GF_PER_BATCH; i++) {
                int off = b * GF_PER_BATCH + i;
                struct wire_record r = {0};
                r.timestamp = 1000 + off;
                r.value.len = (uint32_t)snprintf(values[i], sizeof(values[i]), "p%dv%d", p, off);
                r.value.ptr = (const uint8_t *)values[i];
                ck_assert_int_eq(wire_batch_builder_add(&bb, &r), WIRE_OK);
            }
            struct wire_bytes out;
            ck_assert_int_eq(wire_batch_builder_finish(&bb, NULL, 0, &out), WIRE_OK);
            wire_batch_stamp_base_offset((void *)out.ptr, (uint64_t)b * GF_PER_BATCH);
            f->batches[p][b] = out;
        }
    }
}

/* The answer to a JOIN or SYNC: the target set (mu held). */
static void gf_assignment(struct gfake *f, struct wire_topic_partition *items, uint32_t *count)
{
    *count = 0;
    for (uint32_t p = 0; p < GF_PARTS; p++) {
        if (f->target[p])
            items[(*count)++] = (struct wire_topic_partition){topic_t, p};
    }
}

static void gf_answer(void *user, const struct wire_frame *req, struct wire_writer *w)
{
    struct gfake *f = user;
    struct wire_frame resp;
    struct wire_bytes served[GF_BATCHES];
    struct wire_topic_partition tps[GF_PARTS];
    struct wire_partition_offset offsets[GF_PARTS];
    char text[GF_LINE];
    bool group_request = req->type >= WIRE_OFFSET_COMMIT && req->type <= WIRE_DESCRIBE_GROUP;
    pthread_mutex_lock(&f->mu);
    if (group_request && f->group_silent) {
        pthread_mutex_unlock(&f->mu);
        return;
    }
    switch (req->type) {
    case WIRE_METADATA:
        fake_broker_answer_metadata_n(&f->fb, req, "t", GF_PARTS, w);
        pthread_mutex_unlock(&f->mu);
        return;
    case WIRE_LIST_OFFSETS:
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.list_offsets_resp.offset = req->body.list_offsets_req.spec == -2 ? 0 : GF_RECORDS;
        resp.body.list_offsets_resp.timestamp = -1;
        break;
    case WIRE_FETCH: {
        uint32_t p = req->body.fetch_req.partition;
        uint64_t at = req->body.fetch_req.offset;
        if (p >= GF_PARTS || at >= GF_RECORDS) {
            pthread_mutex_unlock(&f->mu);
            return; /* a long-poll at the end: never answered */
        }
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        uint32_t n = 0;
        for (uint64_t b = at / GF_PER_BATCH; b < GF_BATCHES; b++)
            served[n++] = f->batches[p][b];
        resp.body.fetch_resp.high_watermark = GF_RECORDS;
        resp.body.fetch_resp.batches.count = n;
        resp.body.fetch_resp.batches.items = served;
        break;
    }
    case WIRE_JOIN_GROUP: {
        const struct wire_join_group_req *j = &req->body.join_group_req;
        f->joins++;
        snprintf(f->member_id, sizeof(f->member_id), "m-%d", f->joins);
        tps_text(text, sizeof(text), j->owned.count, j->owned.items);
        gf_log(f, "JOIN owned=%s", text);
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.join_group_resp.member_id =
            (struct wire_bytes){(const uint8_t *)f->member_id, (uint32_t)strlen(f->member_id)};
        resp.body.join_group_resp.generation = f->generation;
        gf_assignment(f, tps, &resp.body.join_group_resp.assigned.count);
        resp.body.join_group_resp.assigned.items = tps;
        break;
    }
    case WIRE_SYNC_GROUP: {
        const struct wire_sync_group_req *s = &req->body.sync_group_req;
        tps_text(text, sizeof(text), s->owned.count, s->owned.items);
        gf_log(f, "SYNC owned=%s", text);
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.sync_group_resp.generation = f->generation;
        gf_assignment(f, tps, &resp.body.sync_group_resp.assigned.count);
        resp.body.sync_group_resp.assigned.items = tps;
        break;
    }
    case WIRE_HEARTBEAT:
        f->heartbeats++;
        if (f->heartbeat_unknown) {
            f->heartbeat_unknown = false;
            gf_log(f, "HEARTBEAT -> UNKNOWN_MEMBER");
            wire_frame_init_response(&resp, req, WIRE_ERR_UNKNOWN_MEMBER, "fake: expelled");
            break;
        }
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.heartbeat_resp.generation = f->generation;
        break;
    case WIRE_LEAVE_GROUP:
        gf_log(f, "LEAVE %.*s", (int)req->body.leave_group_req.member_id.len,
               (const char *)req->body.leave_group_req.member_id.ptr);
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        break;
    case WIRE_OFFSET_COMMIT: {
        const struct wire_offset_commit_req *oc = &req->body.offset_commit_req;
        f->commits++;
        text[0] = '\0';
        for (uint32_t i = 0; i < oc->offsets.count; i++) {
            size_t used = strlen(text);
            snprintf(text + used, sizeof(text) - used, "%s%.*s/%u=%lld", i > 0 ? "," : "",
                     (int)oc->offsets.items[i].topic.len, (const char *)oc->offsets.items[i].topic.ptr,
                     oc->offsets.items[i].partition, (long long)oc->offsets.items[i].offset);
        }
        gf_log(f, "COMMIT %s gen=%llu%s", text, (unsigned long long)oc->generation,
               oc->rewind ? " rewind" : "");
        if (f->commit_error != 0) {
            wire_frame_init_response(&resp, req, f->commit_error, "fake: scripted commit error");
            break;
        }
        for (uint32_t i = 0; i < oc->offsets.count; i++) {
            if (oc->offsets.items[i].partition < GF_PARTS)
                f->committed[oc->offsets.items[i].partition] = oc->offsets.items[i].offset;
        }
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        break;
    }
    case WIRE_OFFSET_FETCH:
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        for (uint32_t p = 0; p < GF_PARTS; p++)
            offsets[p] = (struct wire_partition_offset){topic_t, p, f->committed[p]};
        resp.body.offset_fetch_resp.offsets.count = GF_PARTS;
        resp.body.offset_fetch_resp.offsets.items = offsets;
        break;
    default:
        wire_frame_init_response(&resp, req, WIRE_ERR_INVALID_REQUEST, "fake broker");
        break;
    }
    pthread_mutex_unlock(&f->mu);
    ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
}

static void gf_start(struct gfake *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    gf_build(f);
    f->generation = 1;
    for (int p = 0; p < GF_PARTS; p++) {
        f->target[p] = true;
        f->committed[p] = -1;
    }
    fake_broker_start(&f->fb, gf_answer, f);
}

static void gf_stop(struct gfake *f)
{
    fake_broker_stop(&f->fb);
    pthread_mutex_destroy(&f->mu);
}

/* Index of the first log line at or after `from` that starts with `prefix` (-1: none). */
static int gf_find(struct gfake *f, int from, const char *prefix)
{
    pthread_mutex_lock(&f->mu);
    int found = -1;
    for (int i = from; i < f->log_count && found < 0; i++) {
        if (strncmp(f->log[i], prefix, strlen(prefix)) == 0)
            found = i;
    }
    pthread_mutex_unlock(&f->mu);
    return found;
}

/* Index of the first log line at or after `from` equal to `line` (-1: none). */
static int gf_find_exact(struct gfake *f, int from, const char *line)
{
    pthread_mutex_lock(&f->mu);
    int found = -1;
    for (int i = from; i < f->log_count && found < 0; i++) {
        if (strcmp(f->log[i], line) == 0)
            found = i;
    }
    pthread_mutex_unlock(&f->mu);
    return found;
}

static void gf_dump(struct gfake *f)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->log_count; i++)
        fprintf(stderr, "  fake log %d: %s\n", i, f->log[i]);
    pthread_mutex_unlock(&f->mu);
}

/* ---- the application side -------------------------------------------------------------- */

struct app {
    int assigned_calls, revoked_calls, lost_calls, commit_calls;
    int last_commit_error;
    char assigned[GF_LINE];
    char revoked[GF_LINE];
    int64_t revoked_position[GF_PARTS]; /* positions seen inside on_revoked */
    int64_t next[GF_PARTS];             /* the next offset expected per partition (-1: none seen) */
    int64_t first[GF_PARTS];            /* the first offset returned per partition */
    int records;
};

static void parts_text(char *out, size_t cap, const struct raftmq_topic_partition *parts, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%s/%d", i > 0 ? "," : "", parts[i].topic, (int)parts[i].partition);
    }
}

static void on_assigned(raftmq_consumer *c, const struct raftmq_topic_partition *parts, size_t n,
                        bool lost, void *opaque)
{
    (void)c;
    struct app *a = opaque;
    ck_assert(!lost);
    a->assigned_calls++;
    parts_text(a->assigned, sizeof(a->assigned), parts, n);
    /* A partition (re)starts wherever its committed offset says. */
    for (size_t i = 0; i < n; i++) {
        if (parts[i].partition >= 0 && parts[i].partition < GF_PARTS)
            a->first[parts[i].partition] = a->next[parts[i].partition] = -1;
    }
}

static void on_revoked(raftmq_consumer *c, const struct raftmq_topic_partition *parts, size_t n,
                       bool lost, void *opaque)
{
    struct app *a = opaque;
    a->revoked_calls++;
    if (lost)
        a->lost_calls++;
    parts_text(a->revoked, sizeof(a->revoked), parts, n);
    for (size_t i = 0; i < n; i++) {
        int64_t pos = -1;
        /* The partitions are still owned during the callback: their positions are there. */
        ck_assert_int_eq(raftmq_consumer_position(c, parts[i].topic, parts[i].partition, &pos), RAFTMQ_OK);
        if (parts[i].partition >= 0 && parts[i].partition < GF_PARTS)
            a->revoked_position[parts[i].partition] = pos;
    }
}

static void on_commit(raftmq_consumer *c, int error, const char *message, void *opaque)
{
    (void)c;
    (void)message;
    struct app *a = opaque;
    a->commit_calls++;
    a->last_commit_error = error;
}

static raftmq_consumer *group_consumer(struct gfake *f, struct app *a, bool auto_commit,
                                       uint32_t session_ms)
{
    memset(a, 0, sizeof(*a));
    for (int p = 0; p < GF_PARTS; p++)
        a->next[p] = a->first[p] = -1;
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = f->fb.endpoint;
    cfg.fetch_max_wait_ms = 50;
    cfg.request_timeout_ms = 2000;
    raftmq_consumer *c = NULL;
    ck_assert_int_eq(raftmq_consumer_new(&cfg, &c, NULL, 0), RAFTMQ_OK);
    struct raftmq_group_config g;
    raftmq_group_config_init(&g);
    g.session_timeout_ms = session_ms;
    g.heartbeat_interval_ms = session_ms / 10;
    g.auto_commit = auto_commit;
    g.auto_commit_interval_ms = 100;
    g.client_id = "unit-test";
    g.on_assigned = on_assigned;
    g.on_revoked = on_revoked;
    g.on_commit = on_commit;
    g.cb_opaque = a;
    const char *topics[] = {"t"};
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g1", topics, 1, &g), RAFTMQ_OK);
    return c;
}

/* One poll of up to 50 ms; a record is checked to continue its partition in order. */
static void poll_once(raftmq_consumer *c, struct app *a)
{
    struct raftmq_record r;
    int rc = raftmq_consumer_poll(c, 50, &r);
    if (rc == RAFTMQ_ERR_NO_RECORD)
        return;
    ck_assert_msg(rc == RAFTMQ_OK, "poll: %s (%s)", raftmq_err_name(rc), raftmq_consumer_last_error(c));
    ck_assert_str_eq(r.topic, "t");
    ck_assert(r.partition >= 0 && r.partition < GF_PARTS);
    int p = r.partition;
    if (a->first[p] < 0)
        a->first[p] = r.offset;
    else
        ck_assert_int_eq(r.offset, a->next[p]);
    a->next[p] = r.offset + 1;
    char want[16];
    int n = snprintf(want, sizeof(want), "p%dv%lld", p, (long long)r.offset);
    ck_assert_uint_eq(r.value_len, (size_t)n);
    ck_assert_int_eq(memcmp(r.value, want, (size_t)n), 0);
    a->records++;
}

/* Polls until cond holds, at most 400 polls (about 20 s). */
#define POLL_UNTIL(c, a, cond)                                                        \
    do {                                                                              \
        for (int i_ = 0; i_ < 400 && !(cond); i_++)                                   \
            poll_once((c), (a));                                                      \
        ck_assert_msg((cond), "never happened: %s (last error: %s)", #cond,           \
                      raftmq_consumer_last_error(c));                                 \
    } while (0)

static int64_t committed_of(struct gfake *f, int p)
{
    pthread_mutex_lock(&f->mu);
    int64_t v = f->committed[p];
    pthread_mutex_unlock(&f->mu);
    return v;
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(subscribe_checks_its_arguments)
{
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = "tcp://127.0.0.1:1"; /* nothing listens there */
    cfg.request_timeout_ms = 300;
    raftmq_consumer *c = NULL;
    ck_assert_int_eq(raftmq_consumer_new(&cfg, &c, NULL, 0), RAFTMQ_OK);
    const char *topics[] = {"t", "u"};
    const char *bad_topics[] = {"t", "no spaces"};
    struct raftmq_group_config g;
    raftmq_group_config_init(&g);
    ck_assert_uint_eq(g.session_timeout_ms, 10000);
    ck_assert_uint_eq(g.heartbeat_interval_ms, 500);
    ck_assert_uint_eq(g.max_poll_interval_ms, 300000);
    ck_assert(g.auto_commit);
    ck_assert_uint_eq(g.auto_commit_interval_ms, 1000);

    ck_assert_int_eq(raftmq_consumer_subscribe(c, "bad name", topics, 1, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "group"));
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g", topics, 0, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g", bad_topics, 2, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "no spaces"));
    g.session_timeout_ms = 999;
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g", topics, 2, &g), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "session_timeout_ms"));
    raftmq_group_config_init(&g);
    g.heartbeat_interval_ms = 4000;
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g", topics, 2, &g), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "heartbeat_interval_ms"));

    /* Not subscribed: the group calls refuse. */
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_commit(c, 100), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_commit_async(c), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_committed(c, "t", 0, &v, 100), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_unsubscribe(c, 100), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_str_eq(raftmq_consumer_member_id(c), "");
    ck_assert_uint_eq(raftmq_consumer_generation(c), 0);

    /* Subscribed (to a cluster that is not there): assign and a second subscribe refuse. */
    raftmq_group_config_init(&g);
    g.session_timeout_ms = 1000;
    g.heartbeat_interval_ms = 100;
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g", topics, 2, &g), RAFTMQ_OK);
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g", topics, 2, &g), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "subscribed"));
    ck_assert_int_eq(raftmq_consumer_unassign(c, "t", 0), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_seek(c, "t", 0, 5), RAFTMQ_ERR_NOT_ASSIGNED);
    size_t n = 7;
    ck_assert_int_eq(raftmq_consumer_assignment(c, NULL, &n), RAFTMQ_ERR_INVALID_REQUEST);
    n = 0;
    ck_assert_int_eq(raftmq_consumer_assignment(c, NULL, &n), RAFTMQ_OK);
    ck_assert_uint_eq(n, 0);
    struct raftmq_record r;
    ck_assert_int_eq(raftmq_consumer_poll(c, 50, &r), RAFTMQ_ERR_NO_RECORD);
    /* Nothing owned, never joined: unsubscribe has nothing to commit or leave. */
    ck_assert_int_eq(raftmq_consumer_unsubscribe(c, 300), RAFTMQ_OK);
    /* ...and the consumer may subscribe again. */
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g", topics, 2, &g), RAFTMQ_OK);
    raftmq_consumer_close(c); /* unsubscribes, bounded */

    c = NULL;
    ck_assert_int_eq(raftmq_consumer_new(&cfg, &c, NULL, 0), RAFTMQ_OK);
    ck_assert_int_eq(raftmq_consumer_subscribe(NULL, "g", topics, 1, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    raftmq_consumer_close(c);
}
END_TEST

/* Partitions come through on_assigned and start at the committed offset (or offset_reset). */
START_TEST(subscribe_starts_assigned_partitions_at_the_committed_offset)
{
    struct gfake f;
    gf_start(&f);
    f.committed[0] = 7; /* partition 1 has none: EARLIEST, so 0 */
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 3000);
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS && a.next[1] == GF_RECORDS);
    ck_assert_int_eq(a.assigned_calls, 1);
    ck_assert_str_eq(a.assigned, "t/0,t/1");
    ck_assert_int_eq(a.first[0], 7);
    ck_assert_int_eq(a.first[1], 0);
    ck_assert_int_eq(a.records, (GF_RECORDS - 7) + GF_RECORDS);
    ck_assert_str_eq(raftmq_consumer_member_id(c), "m-1");
    ck_assert_uint_eq(raftmq_consumer_generation(c), 1);
    struct raftmq_topic_partition parts[4];
    size_t n = 4;
    ck_assert_int_eq(raftmq_consumer_assignment(c, parts, &n), RAFTMQ_OK);
    ck_assert_uint_eq(n, 2);
    int64_t v = -5;
    ck_assert_int_eq(raftmq_consumer_committed(c, "t", 0, &v, 2000), RAFTMQ_OK);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(raftmq_consumer_committed(c, "t", 1, &v, 2000), RAFTMQ_OK);
    ck_assert_int_eq(v, -1);
    /* A manual commit sends the positions; committed() then reads them back. */
    ck_assert_int_eq(raftmq_consumer_commit(c, 2000), RAFTMQ_OK);
    ck_assert_int_eq(committed_of(&f, 0), GF_RECORDS);
    ck_assert_int_eq(committed_of(&f, 1), GF_RECORDS);
    ck_assert_int_eq(raftmq_consumer_committed(c, "t", 1, &v, 2000), RAFTMQ_OK);
    ck_assert_int_eq(v, GF_RECORDS);
    /* Nothing moved since: no request at all. */
    pthread_mutex_lock(&f.mu);
    int commits = f.commits;
    pthread_mutex_unlock(&f.mu);
    ck_assert_int_eq(raftmq_consumer_commit(c, 2000), RAFTMQ_OK);
    pthread_mutex_lock(&f.mu);
    ck_assert_int_eq(f.commits, commits);
    pthread_mutex_unlock(&f.mu);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* A SYNC answer without a partition: on_revoked, a commit of its position, then the SYNC that gives it up. */
START_TEST(a_revoked_partition_is_committed_before_it_is_released)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 3000);
    POLL_UNTIL(c, &a, a.next[1] >= 12);
    int from = gf_find(&f, 0, "JOIN");
    ck_assert_int_ge(from, 0);
    pthread_mutex_lock(&f.mu);
    f.target[1] = false;
    f.generation = 2; /* the next heartbeat sees it and SYNCs */
    pthread_mutex_unlock(&f.mu);
    POLL_UNTIL(c, &a, a.revoked_calls == 1 && gf_find_exact(&f, from + 1, "SYNC owned=t/0") >= 0);
    ck_assert_str_eq(a.revoked, "t/1");
    ck_assert_int_eq(a.lost_calls, 0);
    char want[64];
    snprintf(want, sizeof(want), "COMMIT t/1=%lld", (long long)a.revoked_position[1]);
    int commit = gf_find(&f, from, want);
    int release = gf_find_exact(&f, from + 1, "SYNC owned=t/0");
    if (commit < 0 || commit > release)
        gf_dump(&f);
    ck_assert_int_ge(a.revoked_position[1], 12);
    ck_assert_int_ge(commit, 0);
    ck_assert_int_lt(commit, release);
    ck_assert_int_eq(committed_of(&f, 1), a.revoked_position[1]);
    size_t n = 0;
    ck_assert_int_eq(raftmq_consumer_assignment(c, NULL, &n), RAFTMQ_OK);
    ck_assert_uint_eq(n, 1);
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 1, &v), RAFTMQ_ERR_NOT_ASSIGNED);
    /* Partition 0 goes on. */
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS);
    ck_assert_uint_eq(raftmq_consumer_generation(c), 2);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* A revoke whose commit is refused still gives the partition up (the failure is in last_error). */
START_TEST(a_refused_revoke_commit_still_releases_the_partition)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 3000);
    POLL_UNTIL(c, &a, a.next[1] >= 3 && gf_find(&f, 0, "SYNC owned=t/0,t/1") >= 0);
    pthread_mutex_lock(&f.mu);
    f.commit_error = WIRE_ERR_ILLEGAL_GENERATION;
    f.target[1] = false;
    f.generation = 2;
    int commits = f.commits;
    pthread_mutex_unlock(&f.mu);
    POLL_UNTIL(c, &a, a.revoked_calls == 1 && gf_find_exact(&f, 0, "SYNC owned=t/0") >= 0);
    ck_assert_str_eq(a.revoked, "t/1");
    pthread_mutex_lock(&f.mu);
    ck_assert_int_eq(f.commits, commits + 2); /* refused, retried once after a SYNC, refused */
    ck_assert_int_eq(f.committed[1], -1);
    f.commit_error = 0;
    pthread_mutex_unlock(&f.mu);
    size_t n = 0;
    ck_assert_int_eq(raftmq_consumer_assignment(c, NULL, &n), RAFTMQ_OK);
    ck_assert_uint_eq(n, 1);
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

START_TEST(auto_commit_sends_the_positions)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, true, 3000);
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS && a.next[1] == GF_RECORDS);
    POLL_UNTIL(c, &a, committed_of(&f, 0) == GF_RECORDS && committed_of(&f, 1) == GF_RECORDS);
    ck_assert_int_ge(a.commit_calls, 1); /* auto-commit outcomes reach on_commit */
    ck_assert_int_eq(a.last_commit_error, RAFTMQ_OK);
    /* commit_async: its own outcome, even with nothing to send. */
    int calls = a.commit_calls;
    ck_assert_int_eq(raftmq_consumer_commit_async(c), RAFTMQ_OK);
    POLL_UNTIL(c, &a, a.commit_calls > calls);
    ck_assert_int_eq(a.last_commit_error, RAFTMQ_OK);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* A commit refused as stale is retried once after a SYNC, then the error is returned. */
START_TEST(a_sync_commit_returns_the_coordinators_error)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 3000);
    POLL_UNTIL(c, &a, a.next[0] >= 5);
    pthread_mutex_lock(&f.mu);
    f.commit_error = WIRE_ERR_ILLEGAL_GENERATION;
    int commits = f.commits;
    pthread_mutex_unlock(&f.mu);
    ck_assert_int_eq(raftmq_consumer_commit(c, 5000), RAFTMQ_ERR_ILLEGAL_GENERATION);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "ILLEGAL_GENERATION"));
    pthread_mutex_lock(&f.mu);
    ck_assert_int_eq(f.commits, commits + 2); /* the first try and one retry */
    f.commit_error = 0;
    pthread_mutex_unlock(&f.mu);
    ck_assert_int_eq(raftmq_consumer_commit(c, 5000), RAFTMQ_OK);
    ck_assert_int_ge(committed_of(&f, 0), 5);
    /* An async commit reports the error through on_commit. */
    pthread_mutex_lock(&f.mu);
    f.commit_error = WIRE_ERR_OFFSET_BACKWARDS;
    pthread_mutex_unlock(&f.mu);
    POLL_UNTIL(c, &a, a.next[0] > committed_of(&f, 0));
    int calls = a.commit_calls;
    ck_assert_int_eq(raftmq_consumer_commit_async(c), RAFTMQ_OK);
    POLL_UNTIL(c, &a, a.commit_calls > calls);
    ck_assert_int_eq(a.last_commit_error, RAFTMQ_ERR_OFFSET_BACKWARDS);
    pthread_mutex_lock(&f.mu);
    f.commit_error = 0;
    pthread_mutex_unlock(&f.mu);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* UNKNOWN_MEMBER on a heartbeat: a new JOIN that declares what the member owns; nothing revoked. */
START_TEST(an_expelled_member_joins_again_declaring_what_it_owns)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 3000);
    POLL_UNTIL(c, &a, a.next[0] >= 3 && a.next[1] >= 3 && gf_find(&f, 0, "SYNC owned=t/0,t/1") >= 0);
    pthread_mutex_lock(&f.mu);
    f.heartbeat_unknown = true;
    pthread_mutex_unlock(&f.mu);
    POLL_UNTIL(c, &a, strcmp(raftmq_consumer_member_id(c), "m-2") == 0);
    int expelled = gf_find(&f, 0, "HEARTBEAT -> UNKNOWN_MEMBER");
    ck_assert_int_ge(expelled, 0);
    int rejoin = gf_find(&f, expelled, "JOIN");
    if (rejoin < 0)
        gf_dump(&f);
    ck_assert_int_ge(rejoin, 0);
    pthread_mutex_lock(&f.mu);
    ck_assert_str_eq(f.log[rejoin], "JOIN owned=t/0,t/1");
    pthread_mutex_unlock(&f.mu);
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS && a.next[1] == GF_RECORDS);
    ck_assert_int_eq(a.revoked_calls, 0);
    ck_assert_int_eq(a.assigned_calls, 1);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* close: on_revoked, a commit of the positions, then LEAVE. */
START_TEST(close_commits_then_leaves)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 3000);
    POLL_UNTIL(c, &a, a.next[0] >= 4 && a.next[1] >= 4);
    raftmq_consumer_close(c);
    ck_assert_int_eq(a.revoked_calls, 1);
    ck_assert_int_eq(a.lost_calls, 0);
    ck_assert_str_eq(a.revoked, "t/0,t/1");
    int commit = gf_find(&f, 0, "COMMIT");
    int leave = gf_find(&f, 0, "LEAVE m-1");
    if (commit < 0 || leave < 0 || commit > leave)
        gf_dump(&f);
    ck_assert_int_ge(commit, 0);
    ck_assert_int_gt(leave, commit);
    ck_assert_int_eq(committed_of(&f, 0), a.revoked_position[0]);
    ck_assert_int_eq(committed_of(&f, 1), a.revoked_position[1]);
    ck_assert_int_ge(a.revoked_position[0], 4);
    gf_stop(&f);
}
END_TEST

/* A coordinator that stops answering: after the session timeout everything is revoked as lost. */
START_TEST(a_silent_coordinator_loses_the_partitions_after_the_session_timeout)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 1000);
    POLL_UNTIL(c, &a, a.assigned_calls == 1);
    pthread_mutex_lock(&f.mu);
    f.group_silent = true;
    int commits = f.commits;
    pthread_mutex_unlock(&f.mu);
    POLL_UNTIL(c, &a, a.lost_calls == 1);
    ck_assert_int_eq(a.revoked_calls, 1);
    ck_assert_str_eq(a.revoked, "t/0,t/1");
    size_t n = 0;
    ck_assert_int_eq(raftmq_consumer_assignment(c, NULL, &n), RAFTMQ_OK);
    ck_assert_uint_eq(n, 0);
    pthread_mutex_lock(&f.mu);
    ck_assert_int_eq(f.commits, commits); /* lost: nothing was committed */
    /* The coordinator is back: the member joins again and gets them back. */
    f.group_silent = false;
    pthread_mutex_unlock(&f.mu);
    POLL_UNTIL(c, &a, a.assigned_calls == 2);
    ck_assert_str_eq(a.assigned, "t/0,t/1");
    /* Nothing was committed: read again from the beginning (at least once). */
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS && a.next[1] == GF_RECORDS);
    ck_assert_int_eq(a.first[0], 0);
    ck_assert_int_eq(a.first[1], 0);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* A seek moves the position back, and the next commit may move the committed offset back. */
START_TEST(a_seek_makes_the_next_commit_a_rewind)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    raftmq_consumer *c = group_consumer(&f, &a, false, 3000);
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS && a.next[1] == GF_RECORDS);
    ck_assert_int_eq(raftmq_consumer_commit(c, 2000), RAFTMQ_OK);
    ck_assert_int_eq(raftmq_consumer_seek(c, "t", 0, 5), RAFTMQ_OK);
    ck_assert_int_eq(raftmq_consumer_seek(c, "t", 0, -7), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_int_eq(raftmq_consumer_seek(c, "t", 9, 5), RAFTMQ_ERR_NOT_ASSIGNED);
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(raftmq_consumer_commit(c, 2000), RAFTMQ_OK);
    ck_assert_int_eq(committed_of(&f, 0), 5);
    ck_assert_int_ge(gf_find_exact(&f, 0, "COMMIT t/0=5 gen=1 rewind"), 0);
    /* Records from 5 again, in order. */
    a.first[0] = a.next[0] = -1;
    POLL_UNTIL(c, &a, a.next[0] == GF_RECORDS);
    ck_assert_int_eq(a.first[0], 5);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* Partitions assigned by hand must be unassigned before subscribing; unsubscribe gives assign back. */
START_TEST(subscribe_refuses_while_partitions_are_assigned)
{
    struct gfake f;
    gf_start(&f);
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = f.fb.endpoint;
    cfg.fetch_max_wait_ms = 50;
    cfg.request_timeout_ms = 2000;
    raftmq_consumer *c = NULL;
    ck_assert_int_eq(raftmq_consumer_new(&cfg, &c, NULL, 0), RAFTMQ_OK);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 0, 3), RAFTMQ_OK);
    const char *topics[] = {"t"};
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g1", topics, 1, NULL), RAFTMQ_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(raftmq_consumer_last_error(c), "assigned"));
    /* Without a subscription, seek is assign. */
    ck_assert_int_eq(raftmq_consumer_seek(c, "t", 0, 9), RAFTMQ_OK);
    int64_t v;
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_OK);
    ck_assert_int_eq(v, 9);
    ck_assert_int_eq(raftmq_consumer_unassign(c, "t", 0), RAFTMQ_OK);
    struct app a;
    memset(&a, 0, sizeof(a));
    for (int p = 0; p < GF_PARTS; p++)
        a.next[p] = a.first[p] = -1;
    struct raftmq_group_config g;
    raftmq_group_config_init(&g);
    g.session_timeout_ms = 3000;
    g.heartbeat_interval_ms = 100;
    g.auto_commit = false;
    g.on_assigned = on_assigned;
    g.on_revoked = on_revoked;
    g.cb_opaque = &a;
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g1", topics, 1, &g), RAFTMQ_OK);
    POLL_UNTIL(c, &a, a.assigned_calls == 1 && a.next[0] >= 2);
    ck_assert_int_eq(raftmq_consumer_unsubscribe(c, 3000), RAFTMQ_OK);
    ck_assert_int_eq(a.revoked_calls, 1);
    ck_assert_int_ge(gf_find_exact(&f, 0, "LEAVE m-1"), 0);
    ck_assert_str_eq(raftmq_consumer_member_id(c), "");
    size_t n = 0;
    ck_assert_int_eq(raftmq_consumer_assignment(c, NULL, &n), RAFTMQ_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(raftmq_consumer_position(c, "t", 0, &v), RAFTMQ_ERR_NOT_ASSIGNED);
    ck_assert_int_eq(raftmq_consumer_assign(c, "t", 1, 0), RAFTMQ_OK);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

/* An application that does not poll for max_poll_interval_ms: LEAVE, lost, and a new JOIN at the next poll. */
START_TEST(no_poll_for_max_poll_interval_leaves_the_group)
{
    struct gfake f;
    gf_start(&f);
    struct app a;
    memset(&a, 0, sizeof(a));
    for (int p = 0; p < GF_PARTS; p++)
        a.next[p] = a.first[p] = -1;
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = f.fb.endpoint;
    cfg.fetch_max_wait_ms = 50;
    cfg.request_timeout_ms = 2000;
    raftmq_consumer *c = NULL;
    ck_assert_int_eq(raftmq_consumer_new(&cfg, &c, NULL, 0), RAFTMQ_OK);
    struct raftmq_group_config g;
    raftmq_group_config_init(&g);
    g.session_timeout_ms = 3000;
    g.heartbeat_interval_ms = 100;
    g.max_poll_interval_ms = 300;
    g.auto_commit = false;
    g.on_assigned = on_assigned;
    g.on_revoked = on_revoked;
    g.cb_opaque = &a;
    const char *topics[] = {"t"};
    ck_assert_int_eq(raftmq_consumer_subscribe(c, "g1", topics, 1, &g), RAFTMQ_OK);
    POLL_UNTIL(c, &a, a.assigned_calls == 1);
    /* Stop polling until the member has left (waited for, not timed). */
    for (int i = 0; i < 200 && gf_find_exact(&f, 0, "LEAVE m-1") < 0; i++)
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    ck_assert_int_ge(gf_find_exact(&f, 0, "LEAVE m-1"), 0);
    ck_assert_int_lt(gf_find(&f, gf_find_exact(&f, 0, "LEAVE m-1"), "JOIN"), 0); /* no rejoin before a poll */
    POLL_UNTIL(c, &a, a.lost_calls == 1 && a.assigned_calls == 2);
    ck_assert_str_eq(a.revoked, "t/0,t/1");
    ck_assert_int_ge(gf_find(&f, gf_find_exact(&f, 0, "LEAVE m-1"), "JOIN owned="), 0);
    POLL_UNTIL(c, &a, strcmp(raftmq_consumer_member_id(c), "m-2") == 0);
    raftmq_consumer_close(c);
    gf_stop(&f);
}
END_TEST

Suite *group_consumer_suite(void)
{
    Suite *s = suite_create("group_consumer");
    TCase *tc = tcase_create("arguments");
    tcase_add_test(tc, subscribe_checks_its_arguments);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("fake_coordinator");
    tcase_add_test(tc, subscribe_starts_assigned_partitions_at_the_committed_offset);
    tcase_add_test(tc, a_revoked_partition_is_committed_before_it_is_released);
    tcase_add_test(tc, a_refused_revoke_commit_still_releases_the_partition);
    tcase_add_test(tc, auto_commit_sends_the_positions);
    tcase_add_test(tc, a_sync_commit_returns_the_coordinators_error);
    tcase_add_test(tc, an_expelled_member_joins_again_declaring_what_it_owns);
    tcase_add_test(tc, close_commits_then_leaves);
    tcase_add_test(tc, a_silent_coordinator_loses_the_partitions_after_the_session_timeout);
    tcase_add_test(tc, a_seek_makes_the_next_commit_a_rewind);
    tcase_add_test(tc, no_poll_for_max_poll_interval_leaves_the_group);
    tcase_add_test(tc, subscribe_refuses_while_partitions_are_assigned);
    tcase_set_timeout(tc, 90);
    suite_add_tcase(s, tc);
    return s;
}
