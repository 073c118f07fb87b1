/* PRODUCE, FETCH and LIST_OFFSETS on a partition's leader. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/blog.h"
#include "broker/broker.h"
#include "wire/batch.h"

/*
 * Finds the local group of (topic, partition) and checks this broker leads
 * it. On failure answers the client and returns NULL.
 */
static struct group *leader_group(struct broker *b, const struct client_ref *c, struct wire_bytes topic,
                                  uint32_t partition)
{
    const struct md_topic *t = md_find(&b->md, (const char *)topic.ptr, topic.len);
    char msg[WIRE_TOPIC_NAME_BYTES_MAX + 96];
    if (t == NULL) {
        snprintf(msg, sizeof msg, "unknown topic '%.*s'", (int)(topic.len > 249 ? 249 : topic.len),
                 (const char *)topic.ptr);
        client_respond_error(b, c, WIRE_ERR_UNKNOWN_TOPIC, msg);
        return NULL;
    }
    if (partition >= t->n_partitions) {
        snprintf(msg, sizeof msg, "topic '%s' has partitions 0..%u, not %u", t->name,
                 t->n_partitions - 1, partition);
        client_respond_error(b, c, WIRE_ERR_UNKNOWN_PARTITION, msg);
        return NULL;
    }
    uint64_t id = md_group_id(t->id, partition);
    struct group *g = broker_find_group(b, id);
    if (g == NULL) {
        client_respond_not_leader(b, c, broker_group_leader(b, id, NULL));
        return NULL;
    }
    if (g->failed) {
        client_respond_error(b, c, WIRE_ERR_STORAGE_ERROR,
                             "this replica's storage failed; the partition is served by the others");
        return NULL;
    }
    if (!group_is_leader(g)) {
        client_respond_not_leader(b, c, (uint32_t)g->leader);
        return NULL;
    }
    return g;
}

/* ---- PRODUCE ---------------------------------------------------------------- */

/* What the sequence check decided for a request (docs/protocol.md, "Idempotent producers"). */
struct produce_plan {
    uint32_t n_duplicates;           /* leading batches already in the log */
    struct pstate_batch first_dup;   /* the originals of the first and last of them */
    struct pstate_batch last_dup;
};

/*
 * Checks the producer fields of a request's batches against the partition's
 * producer table. Every batch of one request comes from one producer (or
 * none: producer_id -1). Duplicates of kept batches may only lead the
 * request, in log order; the rest must continue the sequence. Returns
 * WIRE_OK with the plan, or an error with a sentence in msg.
 */
static int check_sequences(const struct group *g, const struct wire_batch_header *h, uint32_t n,
                           struct produce_plan *plan, char *msg, size_t msg_cap)
{
    memset(plan, 0, sizeof(*plan));
    int64_t pid = h[0].producer_id;
    int16_t epoch = h[0].producer_epoch;
    for (uint32_t i = 0; i < n; i++) {
        if (h[i].producer_id != pid || h[i].producer_epoch != epoch) {
            snprintf(msg, msg_cap, "batch %u has producer %" PRId64 " epoch %d, batch 0 producer %"
                     PRId64 " epoch %d: one PRODUCE carries one producer's batches", i,
                     h[i].producer_id, h[i].producer_epoch, pid, epoch);
            return WIRE_ERR_INVALID_REQUEST;
        }
        if (pid > 0 && (h[i].base_sequence < 0 || epoch < 0)) {
            snprintf(msg, msg_cap, "batch %u: an idempotent batch needs base_sequence >= 0 and "
                     "producer_epoch >= 0", i);
            return WIRE_ERR_INVALID_REQUEST;
        }
    }
    if (pid == -1)
        return WIRE_OK;
    if (pid <= 0) {
        snprintf(msg, msg_cap, "producer_id %" PRId64 ": must be -1 (none) or an id from "
                 "INIT_PRODUCER_ID", pid);
        return WIRE_ERR_INVALID_REQUEST;
    }
    const struct pstate_producer *p = pstate_find(&g->producers, pid);
    int32_t expected = -1; /* from the table until a batch of this request is to be appended */
    for (uint32_t i = 0; i < n; i++) {
        struct pstate_batch dup;
        int32_t seq = h[i].base_sequence;
        switch (pstate_check(p, epoch, seq, h[i].record_count, expected, &dup)) {
        case PSTATE_APPEND:
            expected = pstate_next_sequence(seq, h[i].record_count);
            break;
        case PSTATE_DUPLICATE:
            if (expected >= 0 || (plan->n_duplicates > 0 && dup.index <= plan->last_dup.index)) {
                snprintf(msg, msg_cap, "batch %u (sequence %d) repeats an appended batch out of "
                         "order within the request", i, seq);
                return WIRE_ERR_DUPLICATE_SEQUENCE;
            }
            if (plan->n_duplicates++ == 0)
                plan->first_dup = dup;
            plan->last_dup = dup;
            break;
        case PSTATE_DUPLICATE_OLD:
            snprintf(msg, msg_cap, "batch %u: producer %" PRId64 " sequence %d was appended "
                     "before (next expected %d) and is no longer remembered", i, pid, seq,
                     expected >= 0 ? expected : pstate_expected(p));
            return WIRE_ERR_DUPLICATE_SEQUENCE;
        case PSTATE_OUT_OF_ORDER:
            snprintf(msg, msg_cap, "batch %u: producer %" PRId64 " sequence %d, expected %d: an "
                     "earlier batch is missing; resend from it", i, pid, seq,
                     expected >= 0 ? expected : pstate_expected(p));
            return WIRE_ERR_OUT_OF_ORDER_SEQUENCE;
        case PSTATE_UNKNOWN_PRODUCER:
            snprintf(msg, msg_cap, "producer %" PRId64 " epoch %d is not known on this partition "
                     "(a new producer starts at sequence 0, not %d); get a new id", pid, epoch, seq);
            return WIRE_ERR_UNKNOWN_PRODUCER;
        }
    }
    return WIRE_OK;
}

/* A request made only of already appended batches: their offsets, once committed. */
static void answer_duplicates(struct group *g, const struct client_ref *c, const struct produce_plan *plan,
                              uint64_t deadline_ms)
{
    struct broker *b = g->b;
    uint64_t base = plan->first_dup.base_offset;
    uint64_t last = plan->last_dup.base_offset + plan->last_dup.record_count - 1;
    if (last < g->high_watermark) {
        struct wire_frame req = {.type = c->type, .correlation_id = c->correlation_id};
        struct wire_frame resp;
        wire_frame_init_response(&resp, &req, WIRE_OK, NULL);
        resp.body.produce_resp.base_offset = base;
        resp.body.produce_resp.last_offset = last;
        client_respond(b, c, &resp);
        return;
    }
    if (!group_add_commit_wait(g, c, plan->first_dup.index, plan->last_dup.index, plan->last_dup.term,
                               base, last, deadline_ms))
        client_respond_error(b, c, WIRE_ERR_BACKPRESSURE, "too many produce requests waiting; retry later");
}

void partition_produce(struct broker *b, const struct client_ref *c, const struct wire_produce_req *req)
{
    if (b->stopping) {
        client_respond_error(b, c, WIRE_ERR_SHUTTING_DOWN, "broker is shutting down; retry on the new leader");
        return;
    }
    struct group *g = leader_group(b, c, req->topic, req->partition);
    if (g == NULL)
        return;
    if (req->batches.count == 0) {
        client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, "PRODUCE carries no record batch");
        return;
    }
    char msg[256];
    uint64_t total = 0;
    /* Each batch's validated header (the decoder bounds the count by
     * WIRE_PRODUCE_BATCHES_MAX). */
    struct wire_batch_header hdrs[WIRE_PRODUCE_BATCHES_MAX];
    for (uint32_t i = 0; i < req->batches.count; i++) {
        const struct wire_bytes *batch = &req->batches.items[i];
        if (batch->len > b->cfg.batch_bytes_max) {
            snprintf(msg, sizeof msg, "batch %u is %u bytes; the limit (max_batch_bytes) is %u", i,
                     batch->len, b->cfg.batch_bytes_max);
            client_respond_error(b, c, WIRE_ERR_BATCH_TOO_LARGE, msg);
            return;
        }
        const char *why = NULL;
        int rc = wire_batch_validate(batch->ptr, batch->len, &hdrs[i], &why);
        if (rc != WIRE_OK) {
            snprintf(msg, sizeof msg, "batch %u: %s", i, why != NULL ? why : wire_strerror(rc));
            client_respond_error(b, c, rc, msg);
            return;
        }
        total += batch->len;
    }
    struct produce_plan plan;
    int rc = check_sequences(g, hdrs, req->batches.count, &plan, msg, sizeof msg);
    if (rc != WIRE_OK) {
        client_respond_error(b, c, rc, msg);
        return;
    }
    uint32_t timeout = req->timeout_ms != 0 && req->timeout_ms < b->cfg.request_timeout_ms
                           ? req->timeout_ms : b->cfg.request_timeout_ms;
    if (plan.n_duplicates == req->batches.count) {
        answer_duplicates(g, c, &plan, b->now_ms + timeout);
        return;
    }
    if (g->waits_count >= BROKER_PRODUCE_WAITERS_MAX) {
        client_respond_error(b, c, WIRE_ERR_BACKPRESSURE, "too many produce requests waiting; retry later");
        return;
    }
    struct raft_brief_status st;
    raft_brief_status(g->raft, &st);
    if (st.uncommitted_bytes + total > b->cfg.uncommitted_bytes_max) {
        snprintf(msg, sizeof msg, "%" PRIu64 " bytes are waiting for commit (max_uncommitted_bytes %"
                 PRIu64 "); retry later", st.uncommitted_bytes, b->cfg.uncommitted_bytes_max);
        client_respond_error(b, c, WIRE_ERR_BACKPRESSURE, msg);
        return;
    }
    uint64_t base = plan.n_duplicates > 0 ? plan.first_dup.base_offset : g->next_offset;
    raft_index_t first = 0, last = 0;
    for (uint32_t i = plan.n_duplicates; i < req->batches.count; i++) {
        const struct wire_bytes *batch = &req->batches.items[i];
        /* The leader only stamps the base offset (the CRC does not cover
         * it): the records travel to disk and consumers as sent. The bytes
         * are the received ZeroMQ message's, which this loop owns. */
        wire_batch_stamp_base_offset((void *)batch->ptr, g->next_offset);
        raft_index_t index = 0;
        rc = raft_propose(g->raft, batch->ptr, batch->len, &index);
        if (rc != 0) {
            int err = rc == RAFT_EBUSY ? WIRE_ERR_BACKPRESSURE
                      : rc == RAFT_ETOOBIG ? WIRE_ERR_BATCH_TOO_LARGE
                      : rc == RAFT_ENOTLEADER || rc == RAFT_ETRANSFER ? WIRE_ERR_NOT_LEADER
                      : WIRE_ERR_UNKNOWN;
            if (first == 0) {
                if (err == WIRE_ERR_NOT_LEADER)
                    client_respond_not_leader(b, c, (uint32_t)g->leader);
                else
                    client_respond_error(b, c, err, raft_strerror(rc));
                return;
            }
            /* Earlier batches of this request are in the log and may commit:
             * the outcome of the request is unknown. */
            snprintf(msg, sizeof msg, "batch %u was refused (%s) after earlier batches were "
                     "accepted; the outcome of the request is unknown", i, raft_strerror(rc));
            client_respond_error(b, c, WIRE_ERR_TIMEOUT, msg);
            broker_mark_dirty(g);
            return;
        }
        if (first == 0)
            first = index;
        last = index;
        if (hdrs[i].producer_id > 0) {
            struct pstate_batch pb = {hdrs[i].base_sequence, hdrs[i].record_count, g->next_offset,
                                      index, g->term};
            pstate_apply(&g->producers, hdrs[i].producer_id, hdrs[i].producer_epoch, &pb);
        }
        g->producers_applied = index;
        g->next_offset += hdrs[i].record_count;
    }
#ifdef RAFTMQ_UNSAFE_ACK_BEFORE_COMMIT
    /* Deliberately broken, for the fault suite's self-test only (make
     * faults-selftest): acknowledges on the leader's own append, before a
     * majority has the batch. A failover then loses acknowledged records. */
    struct wire_frame unsafe_req = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame unsafe_resp;
    wire_frame_init_response(&unsafe_resp, &unsafe_req, WIRE_OK, NULL);
    unsafe_resp.body.produce_resp.base_offset = base;
    unsafe_resp.body.produce_resp.last_offset = g->next_offset - 1;
    client_respond(b, c, &unsafe_resp);
    broker_mark_dirty(g);
    return;
#endif
    group_add_commit_wait(g, c, first, last, g->term, base, g->next_offset - 1, b->now_ms + timeout);
    broker_mark_dirty(g);
}

/* ---- FETCH -------------------------------------------------------------------- */

static void respond_offset_range(struct broker *b, const struct client_ref *c, struct group *g,
                                 uint64_t offset)
{
    struct wire_frame req = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame resp;
    char msg[160];
    uint64_t start = storage_log_first_offset(g->log);
    snprintf(msg, sizeof msg, "offset %" PRIu64 " is outside %" PRIu64 "..%" PRIu64
             " (log start .. high watermark)", offset, start, g->high_watermark);
    wire_frame_init_response(&resp, &req, WIRE_ERR_OFFSET_OUT_OF_RANGE, msg);
    resp.body.offset_range_detail.log_start_offset = start;
    resp.body.offset_range_detail.high_watermark = g->high_watermark;
    client_respond(b, c, &resp);
}

/* Answers with committed batches from `offset` on (none when caught up). */
static void serve_fetch(struct group *g, const struct client_ref *c, uint64_t offset, uint32_t max_bytes)
{
    struct broker *b = g->b;
    struct wire_frame req = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame resp;
    wire_frame_init_response(&resp, &req, WIRE_OK, NULL);
    struct wire_fetch_resp *fr = &resp.body.fetch_resp;
    fr->high_watermark = g->high_watermark;
    fr->log_start_offset = storage_log_first_offset(g->log);
    if (offset < g->high_watermark) {
        size_t limit = max_bytes == 0 ? 1 : max_bytes;
        if (limit > BROKER_FETCH_BYTES_MAX)
            limit = BROKER_FETCH_BYTES_MAX;
        struct storage_read rd = {.buf = b->read_buf, .buf_cap = b->read_cap,
                                  .entries = b->read_entries, .entries_cap = b->read_entries_cap};
        int rc = storage_log_read_offset(g->log, offset, limit, &rd);
        if (rc != 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "reading offset %" PRIu64 ": %s", offset,
                     storage_log_errmsg(g->log)[0] != '\0' ? storage_log_errmsg(g->log)
                                                           : storage_strerror(rc));
            client_respond_error(b, c, WIRE_ERR_STORAGE_ERROR, msg);
            return;
        }
        wire_arena_reset(&b->resp_arena);
        struct wire_bytes *items = wire_arena_alloc(&b->resp_arena, rd.count * sizeof(*items));
        uint32_t n = 0;
        for (size_t i = 0; items != NULL && i < rd.count; i++) {
            const struct storage_entry *e = &rd.entries[i];
            if (e->offset_count == 0)
                continue; /* no-op and configuration entries carry no records */
            if (e->first_offset >= g->high_watermark)
                break;    /* not committed yet */
            items[n++] = (struct wire_bytes){.ptr = e->payload, .len = e->payload_len};
        }
        fr->batches.count = n;
        fr->batches.items = items;
    }
    client_respond(b, c, &resp);
}

void partition_fetch(struct broker *b, const struct client_ref *c, const struct wire_fetch_req *req)
{
    struct group *g = leader_group(b, c, req->topic, req->partition);
    if (g == NULL)
        return;
    uint64_t start = storage_log_first_offset(g->log);
    if (req->offset > g->high_watermark || req->offset < start) {
        respond_offset_range(b, c, g, req->offset);
        return;
    }
    if (req->offset < g->high_watermark || req->max_wait_ms == 0 ||
        g->fetch_count >= BROKER_FETCH_WAITERS_MAX || b->stopping) {
        serve_fetch(g, c, req->offset, req->max_bytes);
        return;
    }
    struct fetch_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        serve_fetch(g, c, req->offset, req->max_bytes);
        return;
    }
    uint32_t wait = req->max_wait_ms < b->cfg.fetch_wait_max_ms ? req->max_wait_ms : b->cfg.fetch_wait_max_ms;
    w->client = *c;
    w->offset = req->offset;
    w->max_bytes = req->max_bytes;
    w->deadline_ms = b->now_ms + wait;
    w->next = g->fetches;
    g->fetches = w;
    g->fetch_count++;
}

void partition_wake_fetches(struct group *g, bool expire_only)
{
    struct fetch_wait **pp = &g->fetches;
    while (*pp != NULL) {
        struct fetch_wait *w = *pp;
        bool ready = !expire_only && w->offset < g->high_watermark;
        if (ready || w->deadline_ms <= g->b->now_ms || g->b->stopping) {
            serve_fetch(g, &w->client, w->offset, w->max_bytes);
            *pp = w->next;
            g->fetch_count--;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* ---- LIST_OFFSETS ------------------------------------------------------------ */

/* The first committed offset whose record timestamp is >= ts (the high
 * watermark if none), found by a scan of batch headers, then of the records
 * of the first batch whose max_timestamp reaches ts. */
static int offset_for_timestamp(struct group *g, int64_t ts, uint64_t *offset, int64_t *found_ts)
{
    struct broker *b = g->b;
    uint64_t pos = storage_log_first_offset(g->log);
    *offset = g->high_watermark;
    *found_ts = -1;
    while (pos < g->high_watermark) {
        struct storage_read rd = {.buf = b->read_buf, .buf_cap = b->read_cap,
                                  .entries = b->read_entries, .entries_cap = b->read_entries_cap};
        int rc = storage_log_read_offset(g->log, pos, WIRE_MIB, &rd);
        if (rc != 0)
            return rc;
        if (rd.count == 0)
            break;
        for (size_t i = 0; i < rd.count; i++) {
            const struct storage_entry *e = &rd.entries[i];
            if (e->offset_count == 0)
                continue;
            if (e->first_offset >= g->high_watermark)
                return 0;
            struct wire_batch_header h;
            if (wire_batch_parse_header(e->payload, e->payload_len, &h, NULL) != WIRE_OK ||
                h.max_timestamp < ts)
                continue;
            uint8_t *scratch = malloc(WIRE_BATCH_RECORDS_BYTES_MAX);
            struct wire_record_iter *it = malloc(sizeof(*it));
            int found = 0;
            if (scratch != NULL && it != NULL &&
                wire_record_iter_init(it, &h, scratch, WIRE_BATCH_RECORDS_BYTES_MAX, NULL) == WIRE_OK) {
                while (wire_record_iter_has_next(it)) {
                    struct wire_record rec;
                    if (wire_record_iter_next(it, &rec, NULL) != WIRE_OK)
                        break;
                    if (rec.timestamp >= ts) {
                        *offset = e->first_offset + (rec.offset - h.base_offset);
                        *found_ts = rec.timestamp;
                        found = 1;
                        break;
                    }
                }
            }
            free(scratch);
            free(it);
            if (!found) {
                *offset = e->first_offset;
                *found_ts = h.max_timestamp;
            }
            return 0;
        }
        const struct storage_entry *last = &rd.entries[rd.count - 1];
        uint64_t next = last->first_offset + last->offset_count;
        if (next <= pos)
            break;
        pos = next;
    }
    return 0;
}

void partition_list_offsets(struct broker *b, const struct client_ref *c,
                            const struct wire_list_offsets_req *req)
{
    struct group *g = leader_group(b, c, req->topic, req->partition);
    if (g == NULL)
        return;
    struct wire_frame fake = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame resp;
    wire_frame_init_response(&resp, &fake, WIRE_OK, NULL);
    resp.body.list_offsets_resp.timestamp = -1;
    if (req->spec == -2) {
        resp.body.list_offsets_resp.offset = storage_log_first_offset(g->log);
    } else if (req->spec == -1) {
        resp.body.list_offsets_resp.offset = g->high_watermark;
    } else if (req->spec >= 0) {
        int rc = offset_for_timestamp(g, req->spec, &resp.body.list_offsets_resp.offset,
                                      &resp.body.list_offsets_resp.timestamp);
        if (rc != 0) {
            client_respond_error(b, c, WIRE_ERR_STORAGE_ERROR, storage_log_errmsg(g->log));
            return;
        }
    } else {
        client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST,
                             "spec must be -2 (earliest), -1 (latest) or a timestamp >= 0");
        return;
    }
    client_respond(b, c, &resp);
}
