/* The consumer-group half of libraftmq (wire/raftmq.h, "consumer groups"): membership thread, reconcile, commits. */
#include "wire/raftmq.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "consumers/consumer_internal.h"
#include "wire/client.h"
#include "wire/clock.h"
#include "wire/errors.h"
#include "wire/limits.h"
#include "wire/validate.h"

/*
 * How it works (docs/client.md, "Consumer groups"):
 *
 * - A background thread, with its own wire_client, is the group member:
 *   JOIN, then HEARTBEAT every heartbeat_interval_ms, SYNC when the
 *   heartbeat's generation differs from its own, when the main thread
 *   published a new `owned` set, when a commit was refused as stale, and
 *   every 100 ms while partitions are pending. It never touches the
 *   consumer's handle: it only writes the shared state below (under `mu`).
 * - The main thread (inside poll, commit, close) reconciles what it owns
 *   with what the coordinator last assigned: revoked partitions get
 *   on_revoked, a synchronous commit and are released (then published, so
 *   the thread SYNCs and the coordinator can hand them on); new ones get
 *   their committed offsets (one OFFSET_FETCH), are assigned there and get
 *   on_assigned.
 * - Session: when no JOIN/SYNC/HEARTBEAT has succeeded for
 *   session_timeout_ms, counted from the send time of the last one that
 *   did, the coordinator has expelled the member or is about to: the thread
 *   marks everything lost (revoked without a commit) and joins again.
 * - Every wait is bounded: the thread's requests by heartbeat_interval_ms,
 *   the main thread's by request_timeout_ms or the caller's timeout.
 */

#define GROUP_ERROR_BYTES 256u
#define GROUP_SYNC_PENDING_MS 20
#define GROUP_ERROR_BACKOFF_MS 1000
#define GROUP_SESSION_MIN_MS 1000u
#define GROUP_SESSION_MAX_MS 300000u
#define GROUP_POLL_INTERVAL_MAX_MS (24u * 3600u * 1000u)
#define GROUP_AUTO_COMMIT_MAX_MS (24u * 3600u * 1000u)
#define GROUP_ADD_RETRY_MS 500
#define GROUP_ASYNC_BACKOFF_MS 100

/* A partition by name, with an offset where one is needed. */
struct tp {
    char topic[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    int32_t partition;
    int64_t offset; /* owned: last committed (-1 none); commit lists: the offset sent */
    bool rewind;    /* owned: seeked since the last commit */
};

struct tplist {
    struct tp *items;
    uint32_t count, cap;
};

struct async_commit {
    bool in_flight;         /* a request is on the wire or waiting for a resend */
    bool on_wire;
    struct tplist offsets;  /* what it commits */
    bool rewind;
    uint32_t calls;         /* commit_async calls it answers (0: an auto-commit) */
    bool is_auto;
    int64_t first_sent_ms;
    int64_t resend_at_ms;   /* 0: none scheduled */
    uint32_t failures;
    bool stale_retried;     /* ILLEGAL_GENERATION: retried once after a SYNC */
    uint64_t wait_syncs;    /* resend once the thread's sync count passes this */
    bool waiting_sync;
    uint32_t queued_calls;  /* commit_async calls made while this one was in flight */
    bool done;              /* answered for good: reported by after_network */
    int done_error;
    char done_message[GROUP_ERROR_BYTES + WIRE_GROUP_NAME_BYTES_MAX + 64];
};

struct group {
    /* fixed at subscribe */
    raftmq_consumer *c;
    char name[WIRE_GROUP_NAME_BYTES_MAX + 1];
    char client_id[WIRE_CLIENT_ID_BYTES_MAX + 1];
    /* Random, one per subscription: a JOIN repeated after its answer was lost
     * (a timeout) gets the member the first one created, not a second one. */
    char instance_id[33];
    char **topics;
    uint32_t topic_count;
    struct raftmq_group_config cfg;
    struct wire_client *wc; /* the thread's own */
    pthread_t thread;
    bool thread_started;

    /* shared with the thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char member_id[WIRE_MEMBER_ID_BYTES_MAX + 1];
    uint64_t generation;
    struct tplist assigned; /* from the last JOIN/SYNC answer */
    uint64_t assigned_version;
    uint32_t pending;
    struct tplist owned_pub; /* published by the main thread */
    bool owned_changed;
    bool sync_wanted;
    bool lost;
    bool stop;
    bool poll_expired; /* left for max_poll_interval_ms; rejoin at the next poll */
    int64_t last_poll_ms; /* atomic (written at every poll without the mutex) */
    uint64_t syncs; /* successful JOIN/SYNC answers */
    char thread_error[GROUP_ERROR_BYTES];
    bool thread_error_new;
    int attention; /* atomic: the main thread should reconcile */

    /* main thread only */
    struct tplist owned;
    struct tplist target;
    uint64_t seen_version;
    char member_copy[WIRE_MEMBER_ID_BYTES_MAX + 1];
    uint64_t generation_copy;
    bool in_callback;
    int64_t next_auto_commit_ms;
    int64_t add_retry_at_ms;
    bool adds_left; /* assigned partitions that could not be started yet */
    struct async_commit async;
    uint32_t ok_callbacks_due; /* commit_async calls with nothing to commit */
    struct raftmq_topic_partition *cb_parts;
    uint32_t cb_cap;
};

/* Marks an async OFFSET_COMMIT among the consumer's pipelined requests. */
static char commit_marker;

/* ---- small helpers ----------------------------------------------------------------- */

static int64_t now_ms(void)
{
    return wire_mono_ms();
}

static int tplist_reserve(struct tplist *l, uint32_t n)
{
    if (n <= l->cap)
        return RAFTMQ_OK;
    uint32_t cap = l->cap < 8 ? 8 : l->cap;
    while (cap < n)
        cap *= 2;
    struct tp *items = realloc(l->items, (size_t)cap * sizeof(*items));
    if (items == NULL)
        return RAFTMQ_ERR_UNKNOWN;
    l->items = items;
    l->cap = cap;
    return RAFTMQ_OK;
}

static int tplist_add(struct tplist *l, const char *topic, size_t len, int32_t partition,
                      int64_t offset)
{
    if (len > WIRE_TOPIC_NAME_BYTES_MAX)
        return RAFTMQ_ERR_INVALID_REQUEST;
    if (tplist_reserve(l, l->count + 1) != RAFTMQ_OK)
        return RAFTMQ_ERR_UNKNOWN;
    struct tp *t = &l->items[l->count++];
    memcpy(t->topic, topic, len);
    t->topic[len] = '\0';
    t->partition = partition;
    t->offset = offset;
    t->rewind = false;
    return RAFTMQ_OK;
}

static int tplist_find(const struct tplist *l, const char *topic, int32_t partition)
{
    for (uint32_t i = 0; i < l->count; i++) {
        if (l->items[i].partition == partition && strcmp(l->items[i].topic, topic) == 0)
            return (int)i;
    }
    return -1;
}

static int tplist_copy(struct tplist *dst, const struct tplist *src)
{
    if (tplist_reserve(dst, src->count) != RAFTMQ_OK)
        return RAFTMQ_ERR_UNKNOWN;
    if (src->count > 0)
        memcpy(dst->items, src->items, (size_t)src->count * sizeof(*src->items));
    dst->count = src->count;
    return RAFTMQ_OK;
}

static void tplist_remove_at(struct tplist *l, uint32_t i)
{
    l->items[i] = l->items[--l->count];
}

static void tplist_free(struct tplist *l)
{
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Copies a wire assignment (topic_partition array) into l; false on bad input or memory. */
static bool tplist_from_wire(struct tplist *l, uint32_t count, const struct wire_topic_partition *items)
{
    l->count = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (items[i].partition > INT32_MAX ||
            tplist_add(l, (const char *)items[i].topic.ptr, items[i].topic.len,
                       (int32_t)items[i].partition, -1) != RAFTMQ_OK)
            return false;
    }
    return true;
}

/* The wire topic_partition array of l (caller frees). NULL for an empty list. */
static struct wire_topic_partition *wire_tps(const struct tplist *l)
{
    if (l->count == 0)
        return NULL;
    struct wire_topic_partition *w = calloc(l->count, sizeof(*w));
    if (w == NULL)
        return NULL;
    for (uint32_t i = 0; i < l->count; i++) {
        w[i].topic = wire_bytes_str(l->items[i].topic);
        w[i].partition = (uint32_t)l->items[i].partition;
    }
    return w;
}

static void abs_deadline(struct timespec *ts, int64_t wait_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += wait_ms / 1000;
    ts->tv_nsec += (wait_ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Waits on the condition for at most wait_ms (mu held). */
static void cv_wait_ms(struct group *g, int64_t wait_ms)
{
    if (wait_ms <= 0)
        return;
    struct timespec ts;
    abs_deadline(&ts, wait_ms);
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
}

static void set_attention(struct group *g)
{
    __atomic_store_n(&g->attention, 1, __ATOMIC_RELEASE);
}

static void thread_fail(struct group *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void thread_fail(struct group *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->thread_error, sizeof(g->thread_error), fmt, ap);
    va_end(ap);
    g->thread_error_new = true;
    set_attention(g);
}

static int resp_error_text(const struct wire_frame *f, char *buf, size_t cap)
{
    return snprintf(buf, cap, "%s: %.*s", wire_err_name((int)f->error),
                    (int)(f->error_message.len > 180 ? 180 : f->error_message.len),
                    f->error_message.ptr != NULL ? (const char *)f->error_message.ptr : "");
}

/* ---- the background thread ------------------------------------------------------------ */

/* Everything the member had is gone (mu held): the main thread revokes it as lost. */
static void mark_lost(struct group *g)
{
    if (g->owned_pub.count > 0 || g->assigned.count > 0)
        g->lost = true;
    g->member_id[0] = '\0';
    g->assigned.count = 0;
    g->owned_pub.count = 0; /* the main thread revokes all before it owns anything again */
    g->pending = 0;
    g->assigned_version++;
    set_attention(g);
}

enum group_action { ACT_NONE, ACT_JOIN, ACT_SYNC, ACT_HEARTBEAT };

struct thread_state {
    int64_t last_ok_send_ms; /* send time of the last JOIN/SYNC/HEARTBEAT that succeeded */
    int64_t next_heartbeat_ms;
    int64_t last_sync_ms;
    uint64_t heartbeat_generation;
    struct tplist owned; /* the snapshot a JOIN/SYNC declares */
};

/* Applies a JOIN/SYNC answer (mu held). */
static void apply_assignment(struct group *g, struct thread_state *ts,
                             const struct wire_sync_group_resp *a, int64_t sent_ms)
{
    struct tplist fresh = {0};
    if (!tplist_from_wire(&fresh, a->assigned.count, a->assigned.items)) {
        tplist_free(&fresh);
        thread_fail(g, "group '%s': an assignment did not fit in memory", g->name);
        return;
    }
    tplist_free(&g->assigned);
    g->assigned = fresh;
    g->assigned_version++;
    g->generation = a->generation;
    g->pending = a->pending;
    g->syncs++;
    ts->last_ok_send_ms = sent_ms;
    ts->next_heartbeat_ms = sent_ms + g->cfg.heartbeat_interval_ms;
    ts->heartbeat_generation = a->generation;
    ts->last_sync_ms = now_ms();
    set_attention(g);
    pthread_cond_broadcast(&g->cv);
}

static void send_leave(struct group *g, const char *member_id, uint32_t timeout_ms,
                       struct wire_client *wc)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_LEAVE_GROUP;
    req.body.leave_group_req.group = wire_bytes_str(g->name);
    req.body.leave_group_req.member_id = wire_bytes_str(member_id);
    (void)wire_client_request(wc, &req, timeout_ms > 0 ? timeout_ms : 1u, 0, &resp);
}

/*
 * One JOIN, SYNC or HEARTBEAT (mu held on entry and exit; released while
 * the request is on the wire).
 */
static void run_action(struct group *g, struct thread_state *ts, enum group_action act, int64_t now)
{
    char member[WIRE_MEMBER_ID_BYTES_MAX + 1];
    snprintf(member, sizeof(member), "%s", g->member_id);
    uint64_t generation = g->generation;
    bool had_owned_change = g->owned_changed, had_sync_wanted = g->sync_wanted;
    if (act != ACT_HEARTBEAT) {
        if (tplist_copy(&ts->owned, &g->owned_pub) != RAFTMQ_OK) {
            thread_fail(g, "group '%s': out of memory", g->name);
            return;
        }
        g->owned_changed = false;
        g->sync_wanted = false;
    }
    /* Each request is bounded by the heartbeat interval, and by what is left of the session. */
    int64_t left = ts->last_ok_send_ms + g->cfg.session_timeout_ms - now;
    uint32_t timeout = g->cfg.heartbeat_interval_ms;
    if (left > 50 && left < (int64_t)timeout)
        timeout = (uint32_t)left;
    pthread_mutex_unlock(&g->mu);

    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    struct wire_bytes *topics = NULL;
    struct wire_topic_partition *owned = NULL;
    bool oom = false;
    switch (act) {
    case ACT_JOIN: {
        req.type = WIRE_JOIN_GROUP;
        struct wire_join_group_req *j = &req.body.join_group_req;
        j->group = wire_bytes_str(g->name);
        j->client_id = wire_bytes_str(g->client_id);
        j->instance_id = wire_bytes_str(g->instance_id);
        topics = calloc(g->topic_count, sizeof(*topics));
        owned = wire_tps(&ts->owned);
        oom = topics == NULL || (ts->owned.count > 0 && owned == NULL);
        for (uint32_t i = 0; !oom && i < g->topic_count; i++)
            topics[i] = wire_bytes_str(g->topics[i]);
        j->topics.count = g->topic_count;
        j->topics.items = topics;
        j->owned.count = ts->owned.count;
        j->owned.items = owned;
        j->session_timeout_ms = g->cfg.session_timeout_ms;
        break;
    }
    case ACT_SYNC: {
        req.type = WIRE_SYNC_GROUP;
        struct wire_sync_group_req *s = &req.body.sync_group_req;
        s->group = wire_bytes_str(g->name);
        s->member_id = wire_bytes_str(member);
        s->generation = generation;
        owned = wire_tps(&ts->owned);
        oom = ts->owned.count > 0 && owned == NULL;
        s->owned.count = ts->owned.count;
        s->owned.items = owned;
        break;
    }
    default:
        req.type = WIRE_HEARTBEAT;
        req.body.heartbeat_req.group = wire_bytes_str(g->name);
        req.body.heartbeat_req.member_id = wire_bytes_str(member);
        req.body.heartbeat_req.generation = generation;
        break;
    }
    int64_t sent_ms = now_ms();
    int rc = oom ? WIRE_ERR_UNKNOWN : wire_client_request(g->wc, &req, timeout, 0, &resp);
    char why[GROUP_ERROR_BYTES];
    if (rc != WIRE_OK)
        snprintf(why, sizeof(why), "%s", oom ? "out of memory" : wire_client_error(g->wc));
    else if (resp.error != WIRE_OK)
        resp_error_text(&resp, why, sizeof(why));

    pthread_mutex_lock(&g->mu);
    if (rc == WIRE_OK && resp.error == WIRE_OK && strcmp(member, g->member_id) == 0) {
        switch (act) {
        case ACT_JOIN:
            snprintf(g->member_id, sizeof(g->member_id), "%.*s",
                     (int)resp.body.join_group_resp.member_id.len,
                     (const char *)resp.body.join_group_resp.member_id.ptr);
            apply_assignment(g, ts,
                             &(struct wire_sync_group_resp){
                                 .generation = resp.body.join_group_resp.generation,
                                 .assigned = {resp.body.join_group_resp.assigned.count,
                                              resp.body.join_group_resp.assigned.items},
                                 .pending = resp.body.join_group_resp.pending},
                             sent_ms);
            break;
        case ACT_SYNC:
            apply_assignment(g, ts, &resp.body.sync_group_resp, sent_ms);
            break;
        default:
            ts->last_ok_send_ms = sent_ms;
            ts->next_heartbeat_ms = sent_ms + g->cfg.heartbeat_interval_ms;
            ts->heartbeat_generation = resp.body.heartbeat_resp.generation;
            break;
        }
    } else if (rc == WIRE_OK && resp.error == WIRE_ERR_UNKNOWN_MEMBER && act != ACT_JOIN) {
        /* Expelled (or a new coordinator): join again at once, declaring what it owns. */
        if (strcmp(member, g->member_id) == 0)
            g->member_id[0] = '\0';
        g->owned_changed = false;
    } else {
        if (act != ACT_HEARTBEAT) {
            g->owned_changed = g->owned_changed || had_owned_change;
            g->sync_wanted = g->sync_wanted || had_sync_wanted;
        }
        if (rc != WIRE_OK || wire_client_error_is_transient(resp.error)) {
            /* Retried at the next turn; the session clock decides when it is lost. */
            if (!g->stop)
                cv_wait_ms(g, 20);
        } else {
            thread_fail(g, "group '%s': %s: %s", g->name, wire_type_name(req.type), why);
            if (!g->stop)
                cv_wait_ms(g, GROUP_ERROR_BACKOFF_MS);
        }
    }
    free(topics);
    free(owned);
}

static void *group_thread(void *arg)
{
    struct group *g = arg;
    struct thread_state ts;
    memset(&ts, 0, sizeof(ts));
    pthread_mutex_lock(&g->mu);
    ts.last_ok_send_ms = now_ms();
    while (!g->stop) {
        int64_t now = now_ms();
        uint32_t max_poll = g->cfg.max_poll_interval_ms;
        if (max_poll > 0 && !g->poll_expired &&
            now - __atomic_load_n(&g->last_poll_ms, __ATOMIC_ACQUIRE) > (int64_t)max_poll) {
            /* The application is stuck: let the group move its partitions. */
            char member[WIRE_MEMBER_ID_BYTES_MAX + 1];
            snprintf(member, sizeof(member), "%s", g->member_id);
            mark_lost(g);
            g->poll_expired = true;
            thread_fail(g, "group '%s': no poll for %" PRIu32 " ms (max_poll_interval_ms): left the group",
                        g->name, max_poll);
            if (member[0] != '\0') {
                pthread_mutex_unlock(&g->mu);
                send_leave(g, member, g->cfg.heartbeat_interval_ms, g->wc);
                pthread_mutex_lock(&g->mu);
            }
            continue;
        }
        if (g->poll_expired) {
            ts.last_ok_send_ms = now; /* nothing owned until the next poll */
            cv_wait_ms(g, g->cfg.heartbeat_interval_ms);
            continue;
        }
        bool holding = g->member_id[0] != '\0' || g->owned_pub.count > 0 || g->assigned.count > 0;
        if (holding && now - ts.last_ok_send_ms >= (int64_t)g->cfg.session_timeout_ms) {
            mark_lost(g);
            thread_fail(g, "group '%s': no answer from the coordinator for the session timeout "
                        "(%" PRIu32 " ms): partitions lost, joining again",
                        g->name, g->cfg.session_timeout_ms);
            ts.last_ok_send_ms = now;
            continue;
        }
        if (!holding)
            ts.last_ok_send_ms = now; /* nothing to lose yet */
        enum group_action act = ACT_NONE;
        int64_t wait = INT64_MAX;
        if (g->member_id[0] == '\0') {
            act = ACT_JOIN;
        } else if (g->sync_wanted || g->owned_changed || ts.heartbeat_generation != g->generation) {
            act = ACT_SYNC;
        } else if (g->pending > 0 && now - ts.last_sync_ms >= GROUP_SYNC_PENDING_MS) {
            act = ACT_SYNC;
        } else if (now >= ts.next_heartbeat_ms) {
            act = ACT_HEARTBEAT;
        } else {
            wait = ts.next_heartbeat_ms - now;
            if (g->pending > 0 && ts.last_sync_ms + GROUP_SYNC_PENDING_MS - now < wait)
                wait = ts.last_sync_ms + GROUP_SYNC_PENDING_MS - now;
        }
        if (act == ACT_NONE) {
            cv_wait_ms(g, wait > 0 ? wait : 1);
            continue;
        }
        run_action(g, &ts, act, now);
    }
    pthread_mutex_unlock(&g->mu);
    tplist_free(&ts.owned);
    return NULL;
}

/* ---- configuration ---------------------------------------------------------------------- */

/* 32 hex digits from the kernel's random source (the clock and pid if it fails). */
static void new_instance_id(char *out, size_t cap)
{
    uint64_t r[2];
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        r[0] = (uint64_t)wire_mono_ns() ^ (uint64_t)wire_wall_ms() << 20;
        r[1] = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)out;
    }
    snprintf(out, cap, "%016" PRIx64 "%016" PRIx64, r[0], r[1]);
}

void raftmq_group_config_init(struct raftmq_group_config *config)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof(*config));
    config->session_timeout_ms = 10000;
    config->heartbeat_interval_ms = 250;
    config->max_poll_interval_ms = 300000;
    config->auto_commit = true;
    config->auto_commit_interval_ms = 1000;
}

static bool group_config_valid(const struct raftmq_group_config *cfg, char *why, size_t cap)
{
    if (cfg->session_timeout_ms < GROUP_SESSION_MIN_MS || cfg->session_timeout_ms > GROUP_SESSION_MAX_MS) {
        snprintf(why, cap, "session_timeout_ms: %" PRIu32 " is outside [%u, %u]",
                 cfg->session_timeout_ms, GROUP_SESSION_MIN_MS, GROUP_SESSION_MAX_MS);
        return false;
    }
    if (cfg->heartbeat_interval_ms == 0 || cfg->heartbeat_interval_ms > cfg->session_timeout_ms / 3) {
        snprintf(why, cap, "heartbeat_interval_ms: %" PRIu32 " is outside [1, session_timeout_ms / 3 = %" PRIu32 "]",
                 cfg->heartbeat_interval_ms, cfg->session_timeout_ms / 3);
        return false;
    }
    if (cfg->max_poll_interval_ms != 0 &&
        (cfg->max_poll_interval_ms < cfg->heartbeat_interval_ms ||
         cfg->max_poll_interval_ms > GROUP_POLL_INTERVAL_MAX_MS)) {
        snprintf(why, cap, "max_poll_interval_ms: %" PRIu32 " is neither 0 nor in [heartbeat_interval_ms, %u]",
                 cfg->max_poll_interval_ms, GROUP_POLL_INTERVAL_MAX_MS);
        return false;
    }
    if (cfg->auto_commit &&
        (cfg->auto_commit_interval_ms == 0 || cfg->auto_commit_interval_ms > GROUP_AUTO_COMMIT_MAX_MS)) {
        snprintf(why, cap, "auto_commit_interval_ms: %" PRIu32 " is outside [1, %u]",
                 cfg->auto_commit_interval_ms, GROUP_AUTO_COMMIT_MAX_MS);
        return false;
    }
    if (cfg->client_id != NULL && strlen(cfg->client_id) > WIRE_CLIENT_ID_BYTES_MAX) {
        snprintf(why, cap, "client_id: longer than %u bytes", WIRE_CLIENT_ID_BYTES_MAX);
        return false;
    }
    return true;
}

/* ---- callbacks ----------------------------------------------------------------------------- */

static void call_assignment_cb(raftmq_consumer *c, struct group *g, raftmq_assignment_cb *cb,
                               const struct tplist *parts, bool lost)
{
    if (cb == NULL || parts->count == 0)
        return;
    if (g->cb_cap < parts->count) {
        struct raftmq_topic_partition *grown = realloc(g->cb_parts, parts->count * sizeof(*grown));
        if (grown == NULL) {
            rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "out of memory for an assignment callback");
            return;
        }
        g->cb_parts = grown;
        g->cb_cap = parts->count;
    }
    for (uint32_t i = 0; i < parts->count; i++) {
        g->cb_parts[i].topic = parts->items[i].topic;
        g->cb_parts[i].partition = parts->items[i].partition;
    }
    g->in_callback = true;
    cb(c, g->cb_parts, parts->count, lost, g->cfg.cb_opaque);
    g->in_callback = false;
}

static void call_commit_cb(raftmq_consumer *c, struct group *g, int error, const char *message)
{
    if (g->cfg.on_commit == NULL)
        return;
    g->in_callback = true;
    g->cfg.on_commit(c, error, message, g->cfg.cb_opaque);
    g->in_callback = false;
}

/* ---- commits -------------------------------------------------------------------------------- */

/* Owned partitions (those in `only`, if given) whose position moved since their last commit. */
static int moved_positions(raftmq_consumer *c, struct group *g, const struct tplist *only,
                           struct tplist *out, bool *rewind)
{
    out->count = 0;
    *rewind = false;
    for (uint32_t i = 0; i < g->owned.count; i++) {
        const struct tp *o = &g->owned.items[i];
        if (only != NULL && tplist_find(only, o->topic, o->partition) < 0)
            continue;
        int64_t pos;
        if (raftmq_consumer_position(c, o->topic, o->partition, &pos) != RAFTMQ_OK || pos < 0)
            continue;
        if (pos == o->offset && !o->rewind)
            continue;
        if (tplist_add(out, o->topic, strlen(o->topic), o->partition, pos) != RAFTMQ_OK)
            return RAFTMQ_ERR_UNKNOWN;
        *rewind = *rewind || o->rewind;
    }
    return RAFTMQ_OK;
}

/* Builds an OFFSET_COMMIT of `offsets` (items freed by the caller). */
static struct wire_partition_offset *commit_request(struct group *g, struct wire_frame *req,
                                                    const struct tplist *offsets, bool rewind,
                                                    const char *member, uint64_t generation)
{
    struct wire_partition_offset *items = calloc(offsets->count, sizeof(*items));
    if (items == NULL)
        return NULL;
    for (uint32_t i = 0; i < offsets->count; i++) {
        items[i].topic = wire_bytes_str(offsets->items[i].topic);
        items[i].partition = (uint32_t)offsets->items[i].partition;
        items[i].offset = offsets->items[i].offset;
    }
    memset(req, 0, sizeof(*req));
    req->type = WIRE_OFFSET_COMMIT;
    struct wire_offset_commit_req *oc = &req->body.offset_commit_req;
    oc->group = wire_bytes_str(g->name);
    oc->member_id = wire_bytes_str(member);
    oc->generation = generation;
    oc->rewind = rewind;
    oc->offsets.count = offsets->count;
    oc->offsets.items = items;
    return items;
}

/* A commit succeeded: the owned partitions it covered remember the offsets. */
static void note_committed(struct group *g, const struct tplist *offsets)
{
    for (uint32_t i = 0; i < offsets->count; i++) {
        int k = tplist_find(&g->owned, offsets->items[i].topic, offsets->items[i].partition);
        if (k < 0)
            continue;
        struct tp *o = &g->owned.items[k];
        o->offset = offsets->items[i].offset;
        o->rewind = false;
    }
}

static void snapshot_member(struct group *g, char *member, uint64_t *generation, uint64_t *syncs)
{
    pthread_mutex_lock(&g->mu);
    snprintf(member, WIRE_MEMBER_ID_BYTES_MAX + 1, "%s", g->member_id);
    *generation = g->generation;
    if (syncs != NULL)
        *syncs = g->syncs;
    pthread_mutex_unlock(&g->mu);
}

/* Asks the thread for a SYNC and waits (up to deadline) until one more JOIN/SYNC has succeeded. */
static bool wait_next_sync(struct group *g, uint64_t syncs_before, int64_t deadline)
{
    pthread_mutex_lock(&g->mu);
    g->sync_wanted = true;
    pthread_cond_broadcast(&g->cv);
    while (g->syncs == syncs_before && !g->stop) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        cv_wait_ms(g, left);
    }
    bool synced = g->syncs != syncs_before;
    pthread_mutex_unlock(&g->mu);
    return synced;
}

/*
 * Every partition of `offsets` is still owned (not released: a partition
 * being revoked is still owned until its commit is over, and the
 * coordinator accepts commits of what the member last said it owns).
 */
static bool still_owned(const struct group *g, const struct tplist *offsets)
{
    for (uint32_t i = 0; i < offsets->count; i++) {
        if (tplist_find(&g->owned, offsets->items[i].topic, offsets->items[i].partition) < 0)
            return false;
    }
    return true;
}

/*
 * Commits the moved positions of owned partitions (those in `only`, if
 * given), waiting until `deadline`. ILLEGAL_GENERATION / UNKNOWN_MEMBER are
 * retried once after the thread's next SYNC if the partitions are still owned.
 */
static int commit_sync(raftmq_consumer *c, struct group *g, const struct tplist *only, int64_t deadline)
{
    struct tplist offsets = {0};
    bool rewind = false;
    int rc = moved_positions(c, g, only, &offsets, &rewind);
    if (rc != RAFTMQ_OK || offsets.count == 0) {
        tplist_free(&offsets);
        return rc == RAFTMQ_OK ? RAFTMQ_OK : rmq_consumer_fail(c, rc, "out of memory for a commit");
    }
    struct wire_client *wc = rmq_consumer_client(c);
    for (int attempt = 0;; attempt++) {
        char member[WIRE_MEMBER_ID_BYTES_MAX + 1];
        uint64_t generation, syncs;
        snapshot_member(g, member, &generation, &syncs);
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            rc = rmq_consumer_fail(c, RAFTMQ_ERR_TIMEOUT, "group '%s': commit: no time left", g->name);
            break;
        }
        if (member[0] == '\0') {
            /* Between two memberships: wait for the JOIN, then commit. */
            if (attempt == 0 && wait_next_sync(g, syncs, deadline))
                continue;
            rc = rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN_MEMBER,
                                   "group '%s': commit: the consumer is not a member right now", g->name);
            break;
        }
        struct wire_frame req, resp;
        struct wire_partition_offset *items = commit_request(g, &req, &offsets, rewind, member, generation);
        if (items == NULL) {
            rc = rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "out of memory for a commit");
            break;
        }
        int wrc = wire_client_request(wc, &req, (uint32_t)left, 0, &resp);
        free(items);
        if (wrc != WIRE_OK) {
            rc = rmq_consumer_fail(c, wrc == WIRE_ERR_TIMEOUT ? RAFTMQ_ERR_TIMEOUT : wrc,
                                   "group '%s': OFFSET_COMMIT: %s", g->name, wire_client_error(wc));
            break;
        }
        if (resp.error == WIRE_OK) {
            note_committed(g, &offsets);
            rc = RAFTMQ_OK;
            break;
        }
        char why[GROUP_ERROR_BYTES];
        resp_error_text(&resp, why, sizeof(why));
        rc = rmq_consumer_fail(c, (int)resp.error, "group '%s': OFFSET_COMMIT: %s", g->name, why);
        if ((resp.error == WIRE_ERR_ILLEGAL_GENERATION || resp.error == WIRE_ERR_UNKNOWN_MEMBER) &&
            attempt == 0 && wait_next_sync(g, syncs, deadline) && still_owned(g, &offsets))
            continue;
        break;
    }
    tplist_free(&offsets);
    return rc;
}

/* Sends (or resends) the async commit; false when it could not go out now. */
static bool async_send(raftmq_consumer *c, struct group *g)
{
    struct async_commit *a = &g->async;
    char member[WIRE_MEMBER_ID_BYTES_MAX + 1];
    uint64_t generation;
    snapshot_member(g, member, &generation, NULL);
    if (member[0] == '\0')
        return false;
    struct wire_frame req;
    struct wire_partition_offset *items = commit_request(g, &req, &a->offsets, a->rewind, member, generation);
    if (items == NULL)
        return false;
    uint32_t timeout = rmq_consumer_config(c)->request_timeout_ms;
    int rc = wire_client_send_routed(rmq_consumer_client(c), &req, timeout, &commit_marker, NULL);
    free(items);
    if (rc != WIRE_OK) {
        if (rc == WIRE_ERR_LEADER_NOT_AVAILABLE || rc == WIRE_ERR_TIMEOUT)
            rmq_consumer_want_refresh(c); /* the answer names the controller */
        return false;
    }
    a->on_wire = true;
    a->resend_at_ms = 0;
    return true;
}

/* Starts an async commit of the moved positions; `calls` commit_async calls wait for it. */
static void async_start(raftmq_consumer *c, struct group *g, uint32_t calls, bool is_auto)
{
    struct async_commit *a = &g->async;
    bool rewind = false;
    if (moved_positions(c, g, NULL, &a->offsets, &rewind) != RAFTMQ_OK || a->offsets.count == 0) {
        g->ok_callbacks_due += calls;
        return;
    }
    a->in_flight = true;
    a->on_wire = false;
    a->rewind = rewind;
    a->calls = calls;
    a->is_auto = is_auto;
    a->first_sent_ms = now_ms();
    a->failures = 0;
    a->stale_retried = false;
    a->waiting_sync = false;
    a->done = false;
    if (!async_send(c, g))
        a->resend_at_ms = now_ms() + GROUP_ASYNC_BACKOFF_MS;
}

/* The async commit is over: report it (once per commit_async call; once for an auto-commit). */
static void async_finish(raftmq_consumer *c, struct group *g, int error, const char *message)
{
    struct async_commit *a = &g->async;
    uint32_t reports = a->calls > 0 ? a->calls : 1;
    a->in_flight = false;
    a->on_wire = false;
    a->waiting_sync = false;
    a->done = false;
    if (error != RAFTMQ_OK)
        rmq_consumer_fail(c, error, "%s", message);
    for (uint32_t i = 0; i < reports; i++)
        call_commit_cb(c, g, error, message);
    if (a->queued_calls > 0 && g->c != NULL) {
        uint32_t queued = a->queued_calls;
        a->queued_calls = 0;
        async_start(c, g, queued, false);
    }
}

void rmq_group_on_reply(raftmq_consumer *c, struct group *g, const struct wire_client_reply *r)
{
    struct async_commit *a = &g->async;
    if (!a->in_flight || !a->on_wire)
        return;
    a->on_wire = false;
    int64_t now = now_ms();
    uint32_t budget = rmq_consumer_config(c)->request_timeout_ms;
    char msg[GROUP_ERROR_BYTES + WIRE_GROUP_NAME_BYTES_MAX + 64];
    uint32_t error = r->status != WIRE_OK ? WIRE_ERR_TIMEOUT : r->frame.error;
    if (error == WIRE_OK) {
        note_committed(g, &a->offsets);
        a->done = true; /* reported by after_network, where a callback may run */
        a->done_error = RAFTMQ_OK;
        a->done_message[0] = '\0';
        return;
    }
    if (r->status != WIRE_OK)
        snprintf(msg, sizeof(msg), "group '%s': OFFSET_COMMIT: no answer from %s", g->name, r->address);
    else {
        char why[GROUP_ERROR_BYTES];
        resp_error_text(&r->frame, why, sizeof(why));
        snprintf(msg, sizeof(msg), "group '%s': OFFSET_COMMIT: %s", g->name, why);
    }
    if (r->status != WIRE_OK || wire_client_error_is_transient(error)) {
        /* The controller moved or did not answer: learn it again and resend, within the budget. */
        rmq_consumer_want_refresh(c);
        if (now - a->first_sent_ms < (int64_t)budget) {
            a->failures++;
            a->resend_at_ms = now + GROUP_ASYNC_BACKOFF_MS * (a->failures < 8 ? a->failures : 8);
            return;
        }
    } else if ((error == WIRE_ERR_ILLEGAL_GENERATION || error == WIRE_ERR_UNKNOWN_MEMBER) &&
               !a->stale_retried) {
        a->stale_retried = true;
        pthread_mutex_lock(&g->mu);
        a->wait_syncs = g->syncs;
        g->sync_wanted = true;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        a->waiting_sync = true;
        a->resend_at_ms = now + budget; /* give up then, if no SYNC came */
        return;
    }
    /* Final: remembered for after_network, where the callback may run. */
    a->done = true;
    a->done_error = (int)error;
    snprintf(a->done_message, sizeof(a->done_message), "%s", msg);
}

bool rmq_group_owns_reply(const struct wire_client_reply *r)
{
    return r->user == &commit_marker;
}

/* ---- reconcile --------------------------------------------------------------------------------- */

static void publish_owned(struct group *g)
{
    pthread_mutex_lock(&g->mu);
    if (tplist_copy(&g->owned_pub, &g->owned) == RAFTMQ_OK) {
        g->owned_changed = true;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
}

static void release(raftmq_consumer *c, struct group *g, const struct tplist *parts)
{
    for (uint32_t i = 0; i < parts->count; i++) {
        rmq_consumer_unassign_any(c, parts->items[i].topic, parts->items[i].partition);
        int k = tplist_find(&g->owned, parts->items[i].topic, parts->items[i].partition);
        if (k >= 0)
            tplist_remove_at(&g->owned, (uint32_t)k);
    }
}

/* OFFSET_FETCH of the topics of `parts`: fills parts->items[i].offset (-1: none). */
static int fetch_committed(raftmq_consumer *c, struct group *g, struct tplist *parts, int64_t deadline)
{
    struct wire_bytes *topics = calloc(parts->count, sizeof(*topics));
    if (topics == NULL)
        return rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "out of memory");
    uint32_t n = 0;
    for (uint32_t i = 0; i < parts->count; i++) {
        bool seen = false;
        for (uint32_t k = 0; k < i && !seen; k++)
            seen = strcmp(parts->items[k].topic, parts->items[i].topic) == 0;
        if (!seen)
            topics[n++] = wire_bytes_str(parts->items[i].topic);
        parts->items[i].offset = -1;
    }
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_OFFSET_FETCH;
    req.body.offset_fetch_req.group = wire_bytes_str(g->name);
    req.body.offset_fetch_req.topics.count = n;
    req.body.offset_fetch_req.topics.items = topics;
    int64_t left = deadline - now_ms();
    struct wire_client *wc = rmq_consumer_client(c);
    int rc = wire_client_request(wc, &req, left > 0 ? (uint32_t)left : 1u, 0, &resp);
    free(topics);
    if (rc != WIRE_OK)
        return rmq_consumer_fail(c, rc == WIRE_ERR_TIMEOUT ? RAFTMQ_ERR_TIMEOUT : rc,
                                 "group '%s': OFFSET_FETCH: %s", g->name, wire_client_error(wc));
    if (resp.error != WIRE_OK) {
        char why[GROUP_ERROR_BYTES];
        resp_error_text(&resp, why, sizeof(why));
        return rmq_consumer_fail(c, (int)resp.error, "group '%s': OFFSET_FETCH: %s", g->name, why);
    }
    const struct wire_offset_fetch_resp *fr = &resp.body.offset_fetch_resp;
    for (uint32_t i = 0; i < fr->offsets.count; i++) {
        const struct wire_partition_offset *po = &fr->offsets.items[i];
        for (uint32_t k = 0; k < parts->count; k++) {
            struct tp *t = &parts->items[k];
            if ((uint32_t)t->partition == po->partition && strlen(t->topic) == po->topic.len &&
                memcmp(t->topic, po->topic.ptr, po->topic.len) == 0)
                t->offset = po->offset;
        }
    }
    return RAFTMQ_OK;
}

static int64_t reset_start(const raftmq_consumer *c)
{
    switch (rmq_consumer_config(c)->offset_reset) {
    case RAFTMQ_RESET_LATEST:
        return RAFTMQ_OFFSET_END;
    case RAFTMQ_RESET_EARLIEST:
        return RAFTMQ_OFFSET_BEGINNING;
    default:
        return 0; /* ERROR: from 0, reported OFFSET_OUT_OF_RANGE if that is gone */
    }
}

/* Starts the partitions the coordinator gave that are not owned yet. */
static void take_added(raftmq_consumer *c, struct group *g)
{
    struct tplist added = {0};
    for (uint32_t i = 0; i < g->target.count; i++) {
        const struct tp *t = &g->target.items[i];
        if (tplist_find(&g->owned, t->topic, t->partition) < 0 &&
            tplist_add(&added, t->topic, strlen(t->topic), t->partition, -1) != RAFTMQ_OK)
            break;
    }
    g->adds_left = added.count > 0;
    if (added.count == 0 || now_ms() < g->add_retry_at_ms) {
        tplist_free(&added);
        return;
    }
    int64_t deadline = now_ms() + rmq_consumer_config(c)->request_timeout_ms;
    if (fetch_committed(c, g, &added, deadline) != RAFTMQ_OK) {
        g->add_retry_at_ms = now_ms() + GROUP_ADD_RETRY_MS;
        tplist_free(&added);
        return;
    }
    struct tplist started = {0};
    for (uint32_t i = 0; i < added.count; i++) {
        struct tp *t = &added.items[i];
        int64_t start = t->offset >= 0 ? t->offset : reset_start(c);
        if (rmq_consumer_assign_at(c, t->topic, t->partition, start) != RAFTMQ_OK) {
            g->add_retry_at_ms = now_ms() + GROUP_ADD_RETRY_MS; /* last_error says why */
            continue;
        }
        if (tplist_add(&g->owned, t->topic, strlen(t->topic), t->partition, t->offset) != RAFTMQ_OK ||
            tplist_add(&started, t->topic, strlen(t->topic), t->partition, t->offset) != RAFTMQ_OK) {
            rmq_consumer_unassign_any(c, t->topic, t->partition);
            continue;
        }
    }
    g->adds_left = started.count < added.count;
    if (started.count > 0) {
        publish_owned(g);
        call_assignment_cb(c, g, g->cfg.on_assigned, &started, false);
    }
    tplist_free(&started);
    tplist_free(&added);
}

/*
 * Brings what the main thread owns in line with the coordinator's last
 * assignment. `polling`: called from poll, which (only) ends a
 * max_poll_interval_ms absence.
 */
static void reconcile(raftmq_consumer *c, struct group *g, bool polling)
{
    if (g->in_callback)
        return;
    __atomic_store_n(&g->attention, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&g->mu);
    if (g->poll_expired && polling) {
        g->poll_expired = false; /* polling again: rejoin now */
        pthread_cond_broadcast(&g->cv);
    } else if (g->poll_expired) {
        set_attention(g); /* the next poll still has to end it */
    }
    bool lost = g->lost;
    g->lost = false;
    if (g->assigned_version != g->seen_version) {
        if (tplist_copy(&g->target, &g->assigned) == RAFTMQ_OK)
            g->seen_version = g->assigned_version;
        else
            set_attention(g);
    }
    snprintf(g->member_copy, sizeof(g->member_copy), "%s", g->member_id);
    g->generation_copy = g->generation;
    char error[GROUP_ERROR_BYTES] = "";
    if (g->thread_error_new) {
        snprintf(error, sizeof(error), "%s", g->thread_error);
        g->thread_error_new = false;
    }
    pthread_mutex_unlock(&g->mu);
    if (error[0] != '\0')
        rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "%s", error);

    if (lost && g->owned.count > 0) {
        struct tplist all = {0};
        if (tplist_copy(&all, &g->owned) == RAFTMQ_OK) {
            call_assignment_cb(c, g, g->cfg.on_revoked, &all, true);
            release(c, g, &all);
            publish_owned(g);
        }
        tplist_free(&all);
    }
    struct tplist revoked = {0};
    for (uint32_t i = 0; i < g->owned.count; i++) {
        const struct tp *o = &g->owned.items[i];
        if (tplist_find(&g->target, o->topic, o->partition) < 0)
            (void)tplist_add(&revoked, o->topic, strlen(o->topic), o->partition, -1);
    }
    if (revoked.count > 0) {
        call_assignment_cb(c, g, g->cfg.on_revoked, &revoked, false);
        int64_t deadline = now_ms() + rmq_consumer_config(c)->request_timeout_ms;
        (void)commit_sync(c, g, &revoked, deadline); /* a failure stays in last_error */
        release(c, g, &revoked);
        publish_owned(g);
    }
    tplist_free(&revoked);
    take_added(c, g);
}

bool rmq_group_attention(struct group *g)
{
    return __atomic_load_n(&g->attention, __ATOMIC_ACQUIRE) != 0 && !g->in_callback;
}

bool rmq_group_in_callback(const struct group *g)
{
    return g->in_callback;
}

void rmq_group_after_network(raftmq_consumer *c, struct group *g)
{
    struct async_commit *a = &g->async;
    int64_t now = now_ms();
    /* A long poll is still a poll: max_poll_interval_ms counts from its last step. */
    __atomic_store_n(&g->last_poll_ms, now, __ATOMIC_RELEASE);
    if (a->in_flight && !a->on_wire) {
        /* (the common case, nothing in flight, costs two loads) */
        if (a->done) {
            char message[sizeof(a->done_message)];
            snprintf(message, sizeof(message), "%s", a->done_message);
            async_finish(c, g, a->done_error, message);
        } else if (a->waiting_sync) {
            pthread_mutex_lock(&g->mu);
            bool synced = g->syncs != a->wait_syncs;
            pthread_mutex_unlock(&g->mu);
            if (synced && still_owned(g, &a->offsets)) {
                a->waiting_sync = false;
                if (!async_send(c, g))
                    a->resend_at_ms = now + GROUP_ASYNC_BACKOFF_MS;
            } else if (synced || now >= a->resend_at_ms) {
                async_finish(c, g, RAFTMQ_ERR_ILLEGAL_GENERATION,
                             "OFFSET_COMMIT: refused as stale, and the partitions moved");
            }
        } else if (a->resend_at_ms > 0 && now >= a->resend_at_ms) {
            if (now - a->first_sent_ms >= (int64_t)rmq_consumer_config(c)->request_timeout_ms)
                async_finish(c, g, RAFTMQ_ERR_TIMEOUT, "OFFSET_COMMIT: no coordinator answered in time");
            else if (!async_send(c, g))
                a->resend_at_ms = now + GROUP_ASYNC_BACKOFF_MS;
        }
    }
    while (g->ok_callbacks_due > 0) {
        g->ok_callbacks_due--;
        call_commit_cb(c, g, RAFTMQ_OK, "");
    }
}

void rmq_group_poll_begin(raftmq_consumer *c, struct group *g)
{
    /* Called for every record: only loads unless something changed. */
    int64_t now = now_ms();
    __atomic_store_n(&g->last_poll_ms, now, __ATOMIC_RELEASE);
    if (__atomic_load_n(&g->attention, __ATOMIC_ACQUIRE) != 0 ||
        (g->adds_left && now >= g->add_retry_at_ms))
        reconcile(c, g, true);
    if (g->cfg.auto_commit && now >= g->next_auto_commit_ms && !g->async.in_flight) {
        g->next_auto_commit_ms = now + g->cfg.auto_commit_interval_ms;
        async_start(c, g, 0, true);
    }
    rmq_group_after_network(c, g);
}

/* ---- public API ------------------------------------------------------------------------------ */

static void group_free(struct group *g)
{
    if (g == NULL)
        return;
    for (uint32_t i = 0; i < g->topic_count; i++)
        free(g->topics[i]);
    free(g->topics);
    tplist_free(&g->assigned);
    tplist_free(&g->owned_pub);
    tplist_free(&g->owned);
    tplist_free(&g->target);
    tplist_free(&g->async.offsets);
    free(g->cb_parts);
    wire_client_close(g->wc);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

int raftmq_consumer_subscribe(raftmq_consumer *c, const char *group, const char *const *topics,
                              size_t n_topics, const struct raftmq_group_config *config)
{
    if (c == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    if (rmq_consumer_group(c) != NULL)
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST, "subscribe: already subscribed");
    if (rmq_consumer_assigned_count(c) > 0)
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST,
                                 "subscribe: partitions are assigned; unassign them first");
    if (group == NULL || !wire_topic_name_valid(group, strlen(group)))
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST,
                                 "subscribe: invalid group name '%.250s' (1..%u bytes of [A-Za-z0-9._-])",
                                 group != NULL ? group : "(null)", WIRE_GROUP_NAME_BYTES_MAX);
    if (topics == NULL || n_topics == 0 || n_topics > WIRE_GROUP_TOPICS_MAX)
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST, "subscribe: %zu topics (1..%u)",
                                 topics == NULL ? (size_t)0 : n_topics, WIRE_GROUP_TOPICS_MAX);
    for (size_t i = 0; i < n_topics; i++) {
        if (topics[i] == NULL || !wire_topic_name_valid(topics[i], strlen(topics[i])))
            return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST, "subscribe: invalid topic name '%.250s'",
                                     topics[i] != NULL ? topics[i] : "(null)");
    }
    struct raftmq_group_config cfg;
    if (config != NULL)
        cfg = *config;
    else
        raftmq_group_config_init(&cfg);
    char why[GROUP_ERROR_BYTES];
    if (!group_config_valid(&cfg, why, sizeof(why)))
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST, "subscribe: %s", why);

    struct group *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "out of memory");
    g->c = c;
    g->cfg = cfg;
    g->cfg.client_id = NULL; /* copied below */
    snprintf(g->name, sizeof(g->name), "%s", group);
    if (cfg.client_id != NULL) {
        snprintf(g->client_id, sizeof(g->client_id), "%s", cfg.client_id);
    } else {
        char host[128] = "";
        if (gethostname(host, sizeof(host) - 1) != 0)
            snprintf(host, sizeof(host), "unknown");
        snprintf(g->client_id, sizeof(g->client_id), "%s:%ld", host, (long)getpid());
    }
    new_instance_id(g->instance_id, sizeof(g->instance_id));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&g->mu, NULL);
    g->topics = calloc(n_topics, sizeof(*g->topics));
    bool ok = g->topics != NULL;
    for (size_t i = 0; ok && i < n_topics; i++) {
        g->topics[i] = strdup(topics[i]);
        ok = g->topics[i] != NULL;
        g->topic_count = (uint32_t)i + (ok ? 1u : 0u);
    }
    if (!ok) {
        group_free(g);
        return rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "out of memory");
    }
    const struct raftmq_consumer_config *cc = rmq_consumer_config(c);
    struct wire_client_config wcc = {0};
    wcc.bootstrap = cc->brokers;
    wcc.attempt_timeout_ms = cfg.heartbeat_interval_ms < 1000 ? cfg.heartbeat_interval_ms : 1000;
    wcc.connect_timeout_ms = cfg.heartbeat_interval_ms < 200 ? cfg.heartbeat_interval_ms : 200;
    wcc.backoff_ms_max = cfg.heartbeat_interval_ms < 1000 ? cfg.heartbeat_interval_ms : 1000;
    wcc.in_flight_max = 4;
    if (wire_client_open(&wcc, &g->wc) != WIRE_OK) {
        group_free(g);
        return rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "subscribe: cannot open the group's connections");
    }
    g->last_poll_ms = now_ms();
    g->next_auto_commit_ms = now_ms() + cfg.auto_commit_interval_ms;
    if (pthread_create(&g->thread, NULL, group_thread, g) != 0) {
        group_free(g);
        return rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "subscribe: cannot start the group thread");
    }
    g->thread_started = true;
    rmq_consumer_set_group(c, g);
    return RAFTMQ_OK;
}

static struct group *subscribed(raftmq_consumer *c, const char *what, int *rc)
{
    struct group *g = c != NULL ? rmq_consumer_group(c) : NULL;
    if (c == NULL)
        *rc = RAFTMQ_ERR_INVALID_REQUEST;
    else if (g == NULL)
        *rc = rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST, "%s: the consumer is not subscribed", what);
    return g;
}

int raftmq_consumer_commit(raftmq_consumer *c, int timeout_ms)
{
    int rc = RAFTMQ_OK;
    struct group *g = subscribed(c, "commit", &rc);
    if (g == NULL)
        return rc;
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    reconcile(c, g, false); /* no-op inside a callback */
    return commit_sync(c, g, NULL, deadline);
}

int raftmq_consumer_commit_async(raftmq_consumer *c)
{
    int rc = RAFTMQ_OK;
    struct group *g = subscribed(c, "commit_async", &rc);
    if (g == NULL)
        return rc;
    if (g->async.in_flight)
        g->async.queued_calls++;
    else
        async_start(c, g, 1, false);
    return RAFTMQ_OK;
}

int raftmq_consumer_seek(raftmq_consumer *c, const char *topic, int32_t partition, int64_t offset)
{
    if (c == NULL)
        return RAFTMQ_ERR_INVALID_REQUEST;
    struct group *g = rmq_consumer_group(c);
    if (g == NULL)
        return raftmq_consumer_assign(c, topic, partition, offset);
    if (!(offset >= 0 || offset == RAFTMQ_OFFSET_BEGINNING || offset == RAFTMQ_OFFSET_END))
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST,
                                 "seek: invalid offset %" PRId64 " (an offset >= 0, BEGINNING or END)", offset);
    int k = topic != NULL ? tplist_find(&g->owned, topic, partition) : -1;
    if (k < 0)
        return rmq_consumer_fail(c, RAFTMQ_ERR_NOT_ASSIGNED, "seek: %s/%" PRId32 " is not owned by this member",
                                 topic != NULL ? topic : "(null)", partition);
    int rc = rmq_consumer_assign_at(c, topic, partition, offset);
    if (rc == RAFTMQ_OK)
        g->owned.items[k].rewind = true;
    return rc;
}

int raftmq_consumer_committed(raftmq_consumer *c, const char *topic, int32_t partition,
                              int64_t *offset, int timeout_ms)
{
    int rc = RAFTMQ_OK;
    struct group *g = subscribed(c, "committed", &rc);
    if (g == NULL)
        return rc;
    if (offset == NULL || topic == NULL || !wire_topic_name_valid(topic, strlen(topic)) || partition < 0)
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST, "committed: bad topic, partition or offset pointer");
    struct tplist one = {0};
    if (tplist_add(&one, topic, strlen(topic), partition, -1) != RAFTMQ_OK)
        return rmq_consumer_fail(c, RAFTMQ_ERR_UNKNOWN, "out of memory");
    rc = fetch_committed(c, g, &one, now_ms() + (timeout_ms > 0 ? timeout_ms : 0));
    if (rc == RAFTMQ_OK)
        *offset = one.items[0].offset;
    tplist_free(&one);
    return rc;
}

int raftmq_consumer_assignment(raftmq_consumer *c, struct raftmq_topic_partition *parts, size_t *count)
{
    if (c == NULL || count == NULL || (parts == NULL && *count > 0))
        return RAFTMQ_ERR_INVALID_REQUEST;
    struct group *g = rmq_consumer_group(c);
    uint32_t owned = g != NULL ? g->owned.count : 0;
    for (size_t i = 0; i < owned && i < *count; i++) {
        parts[i].topic = g->owned.items[i].topic;
        parts[i].partition = g->owned.items[i].partition;
    }
    *count = owned;
    return RAFTMQ_OK;
}

const char *raftmq_consumer_member_id(const raftmq_consumer *c)
{
    struct group *g = c != NULL ? rmq_consumer_group(c) : NULL;
    if (g == NULL)
        return "";
    pthread_mutex_lock(&g->mu);
    snprintf(g->member_copy, sizeof(g->member_copy), "%s", g->member_id);
    pthread_mutex_unlock(&g->mu);
    return g->member_copy;
}

uint64_t raftmq_consumer_generation(const raftmq_consumer *c)
{
    struct group *g = c != NULL ? rmq_consumer_group(c) : NULL;
    if (g == NULL)
        return 0;
    pthread_mutex_lock(&g->mu);
    uint64_t gen = g->generation;
    pthread_mutex_unlock(&g->mu);
    return gen;
}

int raftmq_consumer_unsubscribe(raftmq_consumer *c, int timeout_ms)
{
    int rc = RAFTMQ_OK;
    struct group *g = subscribed(c, "unsubscribe", &rc);
    if (g == NULL)
        return rc;
    if (g->in_callback)
        return rmq_consumer_fail(c, RAFTMQ_ERR_INVALID_REQUEST, "unsubscribe called from a callback");
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    /* Revoke everything: the callback, then a commit of the positions. */
    if (g->owned.count > 0) {
        struct tplist all = {0};
        if (tplist_copy(&all, &g->owned) == RAFTMQ_OK) {
            call_assignment_cb(c, g, g->cfg.on_revoked, &all, false);
            rc = commit_sync(c, g, &all, deadline);
            release(c, g, &all);
        }
        tplist_free(&all);
    }
    if (g->async.in_flight) {
        /* Its answer will not be read: report it as not known. */
        wire_client_abandon(rmq_consumer_client(c), &commit_marker);
        /* Calls queued behind it get the same report, and nothing new is sent. */
        g->async.calls += g->async.queued_calls;
        g->async.queued_calls = 0;
        async_finish(c, g, RAFTMQ_ERR_TIMEOUT, "unsubscribed before the async commit was answered");
    }
    while (g->ok_callbacks_due > 0) {
        g->ok_callbacks_due--;
        call_commit_cb(c, g, RAFTMQ_OK, "");
    }
    /* Stop the thread first, so nothing heartbeats (and rejoins) after the LEAVE. */
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->thread_started)
        pthread_join(g->thread, NULL); /* its request in progress ends within heartbeat_interval_ms */
    g->thread_started = false;
    char member[WIRE_MEMBER_ID_BYTES_MAX + 1];
    snprintf(member, sizeof(member), "%s", g->member_id);
    if (member[0] != '\0') {
        int64_t left = deadline - now_ms();
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_LEAVE_GROUP;
        req.body.leave_group_req.group = wire_bytes_str(g->name);
        req.body.leave_group_req.member_id = wire_bytes_str(member);
        struct wire_client *wc = rmq_consumer_client(c);
        int lrc = wire_client_request(wc, &req, left > 0 ? (uint32_t)left : 1u, 0, &resp);
        if (lrc != WIRE_OK && rc == RAFTMQ_OK)
            rc = rmq_consumer_fail(c, lrc == WIRE_ERR_TIMEOUT ? RAFTMQ_ERR_TIMEOUT : lrc,
                                   "group '%s': LEAVE_GROUP: %s (the coordinator expels the member "
                                   "after the session timeout)", g->name, wire_client_error(wc));
        else if (lrc == WIRE_OK && resp.error != WIRE_OK && resp.error != WIRE_ERR_UNKNOWN_MEMBER &&
                 rc == RAFTMQ_OK) {
            char why[GROUP_ERROR_BYTES];
            resp_error_text(&resp, why, sizeof(why));
            rc = rmq_consumer_fail(c, (int)resp.error, "group '%s': LEAVE_GROUP: %s", g->name, why);
        }
    }
    /* Anything still assigned by the group (e.g. a revoke the coordinator never completed). */
    for (uint32_t i = 0; i < g->owned.count; i++)
        rmq_consumer_unassign_any(c, g->owned.items[i].topic, g->owned.items[i].partition);
    rmq_consumer_set_group(c, NULL);
    group_free(g);
    return rc;
}
