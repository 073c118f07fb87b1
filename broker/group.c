/* One Raft group on this broker: its core, its partition storage, and the host side of the core's contract (raft/raft.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/blog.h"
#include "broker/broker.h"
#include "broker/peer_codec.h"
#include "broker/storage/file.h"
#include "wire/batch.h"
#include "wire/byteorder.h"

/*
 * Hard-state metadata (storage_hardstate.meta), big-endian: u64 index and
 * u64 term of the entry just before the first stored entry, once retention
 * has dropped a prefix (so a restart knows the term of the log's base).
 */
#define GROUP_META_BYTES 16u

static void fail_group(struct group *g, int rc, const char *what);

static void storage_message(void *user_data, const char *line)
{
    struct group *g = user_data;
    blog(BLOG_ERROR, g->name, "storage: %s", line);
}

bool group_is_leader(const struct group *g)
{
    return g->role == RAFT_LEADER;
}

/* Term of a stored or in-memory entry; 0 if unknown. */
static raft_term_t group_term_at(struct group *g, raft_index_t index)
{
    if (index == 0)
        return 0;
    /* During group_open the core does not exist yet: storage only. */
    const struct raft_entry *e = g->raft != NULL ? raft_entry_get(g->raft, index) : NULL;
    if (e != NULL)
        return e->term;
    uint64_t term = 0;
    if (storage_log_term(g->log, index, &term) != 0)
        return 0;
    return term;
}

/* Offset after entry `index` as stored (0 for index 0). */
static int stored_offset_end(struct group *g, raft_index_t index, uint64_t *end)
{
    struct broker *b = g->b;
    struct storage_read rd = {.buf = b->read_buf, .buf_cap = b->read_cap,
                              .entries = b->read_entries, .entries_cap = 1};
    int rc = storage_log_read_index(g->log, index, index, 1, &rd);
    if (rc != 0 || rd.count != 1)
        return rc != 0 ? rc : -1;
    *end = rd.entries[0].first_offset + rd.entries[0].offset_count;
    return 0;
}

/* Stored bytes read backwards at open (or after a truncation) to rebuild the
 * producer table: a producer whose last batch is older than that is
 * forgotten (docs/protocol.md, "Idempotent producers"). */
#define GROUP_PRODUCER_SCAN_BYTES (64u * WIRE_MIB)
#define GROUP_PRODUCER_SCAN_WINDOW 512u

struct scanned_batch {
    int64_t producer_id;
    int16_t epoch;
    struct pstate_batch batch;
};

/*
 * Rebuilds g->producers from the newest stored entries backwards, window by
 * window (each window read forwards, then applied newest first), until
 * GROUP_PRODUCER_SCAN_BYTES were read or the log's start. A read error
 * stops the scan with what was found (logged): deduplication then knows
 * fewer producers, which never stores anything wrongly.
 */
static void rebuild_producers(struct group *g)
{
    struct broker *b = g->b;
    pstate_clear(&g->producers);
    g->producers_applied = storage_log_last_index(g->log);
    if (g->is_meta)
        return;
    struct scanned_batch *found = malloc(GROUP_PRODUCER_SCAN_WINDOW * sizeof(*found));
    if (found == NULL)
        return;
    raft_index_t first = storage_log_first_index(g->log);
    raft_index_t hi = storage_log_last_index(g->log);
    uint64_t scanned = 0;
    while (hi >= first && hi != 0 && scanned < GROUP_PRODUCER_SCAN_BYTES) {
        raft_index_t lo = hi - first >= GROUP_PRODUCER_SCAN_WINDOW - 1 ? hi - (GROUP_PRODUCER_SCAN_WINDOW - 1)
                                                                    : first;
        uint32_t n = 0;
        for (raft_index_t next = lo; next <= hi;) {
            struct storage_read rd = {.buf = b->read_buf, .buf_cap = b->read_cap,
                                      .entries = b->read_entries, .entries_cap = b->read_entries_cap};
            int rc = storage_log_read_index(g->log, next, hi, b->read_cap, &rd);
            if (rc != 0 || rd.count == 0) {
                blog(BLOG_WARN, g->name, "producer table rebuilt partially: reading entry %" PRIu64
                     ": %s", next, storage_log_errmsg(g->log));
                hi = first - 1;
                break;
            }
            for (size_t i = 0; i < rd.count; i++) {
                const struct storage_entry *e = &rd.entries[i];
                struct wire_batch_header h;
                if (e->offset_count == 0 ||
                    wire_batch_parse_header(e->payload, e->payload_len, &h, NULL) != WIRE_OK ||
                    h.producer_id <= 0 || n >= GROUP_PRODUCER_SCAN_WINDOW)
                    continue;
                found[n++] = (struct scanned_batch){
                    h.producer_id, h.producer_epoch,
                    {h.base_sequence, h.record_count, e->first_offset, e->index, e->term}};
            }
            scanned += rd.bytes;
            next = rd.entries[rd.count - 1].index + 1;
        }
        while (n > 0) {
            n--;
            pstate_apply_older(&g->producers, found[n].producer_id, found[n].epoch, &found[n].batch);
        }
        if (lo <= first)
            break;
        hi = lo - 1;
    }
    free(found);
}

/* A batch (header h, checked to start at the log's next offset) appended on
 * this replica: a follower's, or a leader's from an earlier term. */
static void record_producer_batch(struct group *g, const struct raft_entry *e,
                                  const struct wire_batch_header *h)
{
    if (e->index <= g->producers_applied)
        return;
    g->producers_applied = e->index;
    if (h->producer_id <= 0)
        return;
    struct pstate_batch pb = {h->base_sequence, h->record_count, h->base_offset, e->index, e->term};
    if (!pstate_apply(&g->producers, h->producer_id, h->producer_epoch, &pb))
        blog(BLOG_WARN, g->name, "out of memory: producer %" PRId64 " forgotten", h->producer_id);
}

/* Reads entries (from, last] of storage into one buffer for raft_create. */
static int load_entries(struct group *g, raft_index_t after, struct raft_entry **out_entries,
                        uint32_t *out_n, uint8_t **out_buf)
{
    struct broker *b = g->b;
    raft_index_t last = storage_log_last_index(g->log);
    *out_entries = NULL;
    *out_n = 0;
    *out_buf = NULL;
    if (last <= after)
        return 0;
    uint64_t n = last - after;
    if (n > UINT32_MAX / 2)
        return -1;
    struct raft_entry *entries = calloc(n, sizeof(*entries));
    size_t buf_cap = 1u << 20, buf_len = 0;
    uint8_t *buf = malloc(buf_cap);
    uint32_t *offsets = calloc(n, sizeof(*offsets));
    if (entries == NULL || buf == NULL || offsets == NULL)
        goto fail;
    raft_index_t next = after + 1;
    uint32_t count = 0;
    while (next <= last) {
        struct storage_read rd = {.buf = b->read_buf, .buf_cap = b->read_cap,
                                  .entries = b->read_entries, .entries_cap = b->read_entries_cap};
        if (storage_log_read_index(g->log, next, last, b->read_cap / 2, &rd) != 0 || rd.count == 0)
            goto fail;
        for (size_t i = 0; i < rd.count; i++) {
            const struct storage_entry *se = &rd.entries[i];
            if (buf_len + se->payload_len > buf_cap) {
                size_t cap = buf_cap;
                while (buf_len + se->payload_len > cap)
                    cap *= 2;
                uint8_t *nb = realloc(buf, cap);
                if (nb == NULL)
                    goto fail;
                buf = nb;
                buf_cap = cap;
            }
            memcpy(buf + buf_len, se->payload, se->payload_len);
            offsets[count] = (uint32_t)buf_len;
            entries[count] = (struct raft_entry){.term = se->term, .index = se->index,
                                                 .type = se->type, .len = se->payload_len};
            buf_len += se->payload_len;
            count++;
            next = se->index + 1;
        }
    }
    for (uint32_t i = 0; i < count; i++)
        entries[i].data = buf + offsets[i];
    free(offsets);
    *out_entries = entries;
    *out_n = count;
    *out_buf = buf;
    return 0;
fail:
    free(entries);
    free(buf);
    free(offsets);
    return -1;
}

int group_open(struct broker *b, uint64_t id, const char *name, const char *dir,
               const struct raft_config *config, struct group **out)
{
    *out = NULL;
    struct group *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -1;
    g->b = b;
    g->id = id;
    g->is_meta = id == 0;
    g->topic_id = md_group_topic(id);
    g->partition = md_group_partition(id);
    g->config = *config;
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(g->dir, sizeof g->dir, "%s", dir);
    g->retention_ms = -1;
    g->retention_bytes = -1;

    struct storage_log_options so = {
        /* test_power_loss: the tracked fs, which SIGUSR1 cuts back to what was synced. */
        .fs = b->cfg.test_power_loss ? &storage_fs_tracked : NULL,
        .fsync_policy = (enum storage_fsync_policy)b->cfg.fsync_policy,
        .segment_bytes = b->cfg.segment_bytes,
        .syncer = b->syncer,
        .user_data = g,
        .message = storage_message,
    };
    struct storage_log_recovery rec;
    char err[512] = "";
    if (storage_log_open(dir, &so, &g->log, &rec, err, sizeof err) != 0) {
        blog(BLOG_ERROR, g->name, "cannot open storage in %s: %s", dir, err);
        free(g);
        return -1;
    }
    if (rec.torn_bytes_truncated != 0 || rec.segments_scanned != 0)
        blog(BLOG_INFO, g->name, "recovered storage: %" PRIu64 " segments, %" PRIu64
             " scanned, %" PRIu64 " torn bytes cut", rec.segments, rec.segments_scanned,
             rec.torn_bytes_truncated);
    /* What an earlier process wrote may be in the page cache only: make it
     * durable before the core counts it as persisted (it does for restored
     * entries). One fdatasync per group at start. */
    if (storage_log_sync(g->log) != 0) {
        blog(BLOG_ERROR, g->name, "cannot sync storage in %s: %s", dir, storage_log_errmsg(g->log));
        storage_log_close(g->log);
        free(g);
        return -1;
    }
    struct storage_hardstate hs;
    if (storage_log_load_hardstate(g->log, &hs) != 0) {
        blog(BLOG_ERROR, g->name, "cannot load hard state in %s: %s", dir, storage_log_errmsg(g->log));
        storage_log_close(g->log);
        free(g);
        return -1;
    }
    raft_index_t first = storage_log_first_index(g->log);
    raft_index_t last = storage_log_last_index(g->log);
    raft_index_t prefix_index = 0;
    raft_term_t prefix_term = 0;
    if (hs.meta_len >= GROUP_META_BYTES) {
        prefix_index = wire_load_be(hs.meta, 8);
        prefix_term = wire_load_be(hs.meta + 8, 8);
    }

    /* The restored snapshot point: entries up to the saved commit index are
     * committed, so the core may start from there (older entries stay in
     * the segment files only). The metadata group restores its whole log:
     * its state is rebuilt by applying it. */
    struct raft_restore restore = {0};
    restore.hard_state = (struct raft_hard_state){hs.current_term, hs.voted_for, hs.commit_index};
    raft_index_t snap = g->is_meta ? first - 1 : hs.commit_index;
    if (snap < first - 1)
        snap = first - 1;
    if (snap > last)
        snap = last;
    restore.snapshot.last_index = snap;
    restore.snapshot.config = *config;
    if (snap == 0)
        restore.snapshot.last_term = 0;
    else if (snap == prefix_index)
        restore.snapshot.last_term = prefix_term;
    else
        restore.snapshot.last_term = group_term_at(g, snap);
    if (snap != 0 && restore.snapshot.last_term == 0) {
        blog(BLOG_ERROR, g->name, "cannot find the term of entry %" PRIu64 " in %s", snap, dir);
        storage_log_close(g->log);
        free(g);
        return -1;
    }
    struct raft_entry *entries = NULL;
    uint8_t *entry_buf = NULL;
    if (load_entries(g, snap, &entries, &restore.n_entries, &entry_buf) != 0) {
        blog(BLOG_ERROR, g->name, "cannot read the log in %s: %s", dir, storage_log_errmsg(g->log));
        storage_log_close(g->log);
        free(g);
        return -1;
    }
    restore.entries = entries;

    struct raft_options o;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = broker_now_ms();
    raft_options_default(&o, b->cfg.node_id, seed ^ (id * 0x9E3779B97F4A7C15ull));
    o.election_ticks_min = b->cfg.election_timeout_min_ms;
    o.election_ticks_max = b->cfg.election_timeout_max_ms;
    o.heartbeat_ticks = b->cfg.heartbeat_ms;
    o.max_entry_bytes = WIRE_BATCH_BYTES_MAX;
    o.max_msg_entries = BROKER_STEP_ENTRIES_MAX;
    o.max_uncommitted_bytes = b->cfg.uncommitted_bytes_max;
    int rc = raft_create(&g->raft, &o, &restore);
    free(entries);
    free(entry_buf);
    if (rc != 0) {
        blog(BLOG_ERROR, g->name, "cannot start the Raft core: %s", raft_strerror(rc));
        storage_log_close(g->log);
        free(g);
        return -1;
    }
    g->saved = g->hs_requested = restore.hard_state;
    g->saved_base = g->hs_requested_base = snap;
    g->saved_at_ms = b->now_ms;
    g->stored_last = last;
    g->reported_durable = last;
    g->next_offset = storage_log_next_offset(g->log);
    rebuild_producers(g);
    if (snap >= first) {
        if (stored_offset_end(g, snap, &g->high_watermark) != 0) {
            blog(BLOG_ERROR, g->name, "cannot read entry %" PRIu64 " in %s", snap, dir);
            group_close(g, false);
            return -1;
        }
    } else {
        g->high_watermark = storage_log_first_offset(g->log);
    }
    g->role = RAFT_FOLLOWER;
    blog(BLOG_INFO, g->name, "opened: log %" PRIu64 "..%" PRIu64 ", term %" PRIu64
         ", commit %" PRIu64 ", high watermark %" PRIu64, first, last, hs.current_term,
         hs.commit_index, g->high_watermark);
    *out = g;
    return 0;
}

/* The hard state to save now: term and vote from the core, the commit index
 * capped at what is durable here (storage refuses at open a log that ends
 * below the saved commit index), and the log's base (GROUP_META_BYTES). */
static void current_hardstate(struct group *g, struct storage_hardstate *hs, raft_index_t *base)
{
    struct raft_status st;
    raft_status(g->raft, &st);
    raft_index_t durable = storage_log_durable_index(g->log);
    *hs = (struct storage_hardstate){.current_term = st.term, .voted_for = st.vote,
                                     .commit_index = st.commit < durable ? st.commit : durable,
                                     .meta_len = GROUP_META_BYTES};
    wire_store_be(hs->meta, st.snapshot_index, 8);
    wire_store_be(hs->meta + 8, st.snapshot_term, 8);
    *base = st.snapshot_index;
}

void group_request_hardstate(struct group *g)
{
    if (g->failed)
        return;
    struct storage_hardstate hs;
    raft_index_t base;
    current_hardstate(g, &hs, &base);
    uint64_t version = 0;
    int rc = storage_log_request_hardstate(g->log, &hs, &version);
    if (rc != 0) {
        fail_group(g, rc, "cannot request a hard state save");
        return;
    }
    g->hs_requested = (struct raft_hard_state){hs.current_term, hs.voted_for, hs.commit_index};
    g->hs_requested_base = base;
    g->hs_requested_version = version;
    g->saved_at_ms = g->b->now_ms;
}

/* Blocking save (at close only: the loop is ending anyway). */
static void save_hardstate_now(struct group *g)
{
    struct storage_hardstate hs;
    raft_index_t base;
    current_hardstate(g, &hs, &base);
    if (storage_log_save_hardstate(g->log, &hs) != 0)
        blog(BLOG_ERROR, g->name, "cannot save hard state at close: %s", storage_log_errmsg(g->log));
}

static void fail_group(struct group *g, int rc, const char *what)
{
    g->failed = rc != 0 ? rc : -1;
    blog(BLOG_ERROR, g->name, "%s, group stopped (fail-stop): %s", what, storage_log_errmsg(g->log));
    group_fail_waits(g, WIRE_ERR_STORAGE_ERROR, "storage failed on this broker");
}

/* ---- waiters ------------------------------------------------------------- */

/* Inserts a waiter keeping the list in index order (a duplicate's wait may be for an earlier entry). */
static void insert_wait(struct group *g, struct commit_wait *w)
{
    struct commit_wait **pp = &g->waits_head;
    if (g->waits_tail != NULL && g->waits_tail->last_index <= w->last_index)
        pp = &g->waits_tail->next;
    else
        while (*pp != NULL && (*pp)->last_index <= w->last_index)
            pp = &(*pp)->next;
    w->next = *pp;
    *pp = w;
    if (w->next == NULL)
        g->waits_tail = w;
    g->waits_count++;
}

bool group_add_commit_wait(struct group *g, const struct client_ref *c, raft_index_t first,
                           raft_index_t last, raft_term_t term, uint64_t base_offset,
                           uint64_t last_offset, uint64_t deadline_ms)
{
    if (g->waits_count >= BROKER_PRODUCE_WAITERS_MAX)
        return false;
    struct commit_wait *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return false;
    w->client = *c;
    w->first_index = first;
    w->last_index = last;
    w->term = term;
    w->base_offset = base_offset;
    w->last_offset = last_offset;
    w->deadline_ms = deadline_ms;
    insert_wait(g, w);
    return true;
}

static void respond_commit(struct group *g, struct commit_wait *w, int err, const char *msg)
{
    struct broker *b = g->b;
    if (err != WIRE_OK) {
        if (err == WIRE_ERR_NOT_LEADER)
            client_respond_not_leader(b, &w->client, g->leader);
        else
            client_respond_error(b, &w->client, err, msg);
        return;
    }
    struct wire_frame req = {.type = w->client.type, .correlation_id = w->client.correlation_id};
    struct wire_frame resp;
    wire_frame_init_response(&resp, &req, WIRE_OK, NULL);
    if (w->client.type == WIRE_PRODUCE) {
        resp.body.produce_resp.base_offset = w->base_offset;
        resp.body.produce_resp.last_offset = w->last_offset;
    } else if (w->client.type == WIRE_INIT_PRODUCER_ID) {
        resp.body.init_producer_id_resp.producer_id = (int64_t)w->last_index;
        resp.body.init_producer_id_resp.producer_epoch = 0;
    }
    client_respond(b, &w->client, &resp);
}

static void pop_wait(struct group *g)
{
    struct commit_wait *w = g->waits_head;
    g->waits_head = w->next;
    if (g->waits_head == NULL)
        g->waits_tail = NULL;
    g->waits_count--;
    free(w);
}

void group_fail_waits(struct group *g, int err, const char *why)
{
    while (g->waits_head != NULL) {
        respond_commit(g, g->waits_head, err, why);
        pop_wait(g);
    }
    while (g->fetches != NULL) {
        struct fetch_wait *f = g->fetches;
        g->fetches = f->next;
        if (err == WIRE_ERR_NOT_LEADER)
            client_respond_not_leader(g->b, &f->client, g->leader);
        else
            client_respond_error(g->b, &f->client, err, why);
        free(f);
    }
    g->fetch_count = 0;
}

/* Waiters whose entries were cut from the log: they were never committed. */
static void fail_truncated_waits(struct group *g, raft_index_t from)
{
    /* Waits are in index order: the truncated ones are a suffix. */
    struct commit_wait **pp = &g->waits_head;
    g->waits_tail = NULL;
    while (*pp != NULL) {
        struct commit_wait *w = *pp;
        if (w->last_index >= from) {
            respond_commit(g, w, WIRE_ERR_NOT_LEADER, NULL);
            *pp = w->next;
            g->waits_count--;
            free(w);
        } else {
            g->waits_tail = w;
            pp = &w->next;
        }
    }
}

void group_expire_waits(struct group *g, uint64_t now_ms)
{
    struct commit_wait **pp = &g->waits_head;
    g->waits_tail = NULL;
    while (*pp != NULL) {
        struct commit_wait *w = *pp;
        if (w->deadline_ms <= now_ms) {
            respond_commit(g, w, WIRE_ERR_TIMEOUT,
                           w->leadership_lost
                               ? "this broker lost the leadership before the records were known "
                                 "to be committed; the outcome is unknown (they may still be "
                                 "committed): retry with the new leader"
                               : "not committed within the request timeout; the outcome is "
                                 "unknown (the records may still be committed)");
            *pp = w->next;
            g->waits_count--;
            free(w);
        } else {
            g->waits_tail = w;
            pp = &w->next;
        }
    }
    partition_wake_fetches(g, true);
}

/* Answers the waiters of entries up to `index`, now committed. */
static void resolve_waits(struct group *g, raft_index_t index, const struct raft_update *u,
                          int meta_error, const char *meta_why)
{
    while (g->waits_head != NULL && g->waits_head->last_index <= index) {
        struct commit_wait *w = g->waits_head;
        raft_term_t term;
        if (w->last_index >= u->committed_first && w->last_index <= u->committed_last)
            term = u->committed[w->last_index - u->committed_first].term;
        else
            term = group_term_at(g, w->last_index);
        /* Another leader's entry took this index: ours was never committed. */
        if (term != w->term)
            respond_commit(g, w, WIRE_ERR_NOT_LEADER, NULL);
        else
            respond_commit(g, w, meta_error, meta_why);
        pop_wait(g);
    }
}

/* ---- the update loop ------------------------------------------------------ */

int partition_entry_offsets(const struct group *g, uint8_t type, const void *payload, uint32_t len,
                            uint64_t *base_offset, uint32_t *count, struct wire_batch_header *h)
{
    if (g->is_meta || type != RAFT_ENTRY_DATA) {
        *count = 0; /* *base_offset left as the caller set it */
        return 0;
    }
    struct wire_batch_header own;
    if (h == NULL)
        h = &own;
    if (wire_batch_parse_header(payload, len, h, NULL) != WIRE_OK)
        return -1;
    *base_offset = h->base_offset;
    *count = h->record_count;
    return 0;
}

/*
 * Appends entries to storage with their offset ranges. A batch's stamped
 * base offset must be the log's next offset (the leader stamped it so);
 * anything else means the replicas disagree, and this group stops rather
 * than store it.
 */
static int append_entries(struct group *g, const struct raft_entry *entries, uint32_t n)
{
    enum { CHUNK = 256 };
    struct storage_entry se[CHUNK];
    uint64_t cursor = storage_log_next_offset(g->log);
    uint32_t done = 0;
    while (done < n) {
        uint32_t k = n - done < CHUNK ? n - done : CHUNK;
        for (uint32_t i = 0; i < k; i++) {
            const struct raft_entry *e = &entries[done + i];
            uint64_t base = cursor;
            uint32_t count = 0;
            struct wire_batch_header h;
            if (partition_entry_offsets(g, e->type, e->data, e->len, &base, &count, &h) != 0 ||
                (count != 0 && base != cursor)) {
                blog(BLOG_ERROR, g->name, "entry %" PRIu64 " (term %" PRIu64 ") has base offset %"
                     PRIu64 ", expected %" PRIu64 ": refusing to store it", e->index, e->term,
                     base, cursor);
                g->failed = -1;
                group_fail_waits(g, WIRE_ERR_STORAGE_ERROR, "inconsistent log on this broker");
                return -1;
            }
            se[i] = (struct storage_entry){.index = e->index, .term = e->term, .type = e->type,
                                           .first_offset = cursor, .offset_count = count,
                                           .payload = e->data, .payload_len = e->len};
            if (count != 0)
                record_producer_batch(g, e, &h);
            cursor += count;
        }
        int rc = storage_log_append(g->log, se, k);
        if (rc != 0) {
            fail_group(g, rc, "cannot append to storage");
            return -1;
        }
        done += k;
    }
    g->stored_last = entries[n - 1].index;
    /* A leader's cursor runs ahead of storage by what it proposed since. */
    if (g->role != RAFT_LEADER || g->next_offset < cursor)
        g->next_offset = cursor;
    return 0;
}

static void park_frame(struct group *g, const struct raft_msg *m)
{
    uint8_t buf[1024];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof buf);
    if (peer_encode(&w, g->id, g->is_meta, m, NULL) != WIRE_OK) {
        blog(BLOG_WARN, g->name, "dropped an unencodable message to %" PRIu64, m->to);
        return;
    }
    if (g->parked_count >= BROKER_PARKED_MAX) {
        struct parked_frame *old = g->parked_head;
        g->parked_head = old->next;
        if (g->parked_head == NULL)
            g->parked_tail = NULL;
        free(old);
        g->parked_count--;
    }
    struct parked_frame *p = malloc(sizeof(*p) + w.len);
    if (p == NULL)
        return;
    p->next = NULL;
    p->required = g->stored_last;
    p->required_hardstate = g->hs_requested_version;
    p->to = m->to;
    p->len = (uint32_t)w.len;
    memcpy(p->bytes, buf, w.len);
    if (g->parked_tail != NULL)
        g->parked_tail->next = p;
    else
        g->parked_head = p;
    g->parked_tail = p;
    g->parked_count++;
}

static void release_parked(struct group *g, raft_index_t durable)
{
    while (g->parked_head != NULL && g->parked_head->required <= durable &&
           g->parked_head->required_hardstate <= g->hs_saved_version) {
        struct parked_frame *p = g->parked_head;
        peer_queue_frame(g->b, (uint32_t)p->to, p->bytes, p->len);
        g->parked_head = p->next;
        if (g->parked_head == NULL)
            g->parked_tail = NULL;
        g->parked_count--;
        free(p);
    }
}

static void apply_committed(struct group *g, const struct raft_update *u)
{
    for (raft_index_t i = u->committed_first; i <= u->committed_last && i != 0; i++) {
        const struct raft_entry *e = &u->committed[i - u->committed_first];
        if (g->is_meta) {
            int err = WIRE_OK;
            char why[256] = "";
            if (e->type == RAFT_ENTRY_DATA)
                err = control_apply(g->b, e, why, sizeof why);
            resolve_waits(g, i, u, err, why[0] != '\0' ? why : NULL);
        } else if (e->type == RAFT_ENTRY_DATA) {
            uint64_t base = 0;
            uint32_t count = 0;
            if (partition_entry_offsets(g, e->type, e->data, e->len, &base, &count, NULL) == 0)
                g->high_watermark = base + count;
        }
    }
    if (!g->is_meta && u->committed_last != 0) {
        resolve_waits(g, u->committed_last, u, WIRE_OK, NULL);
        partition_wake_fetches(g, false);
    }
}

static void note_role(struct group *g)
{
    struct raft_brief_status st;
    raft_brief_status(g->raft, &st);
    if (st.role == g->role && st.leader == g->leader && st.term == g->term)
        return;
    bool was_leader = g->role == RAFT_LEADER;
    if (st.role == RAFT_LEADER && !was_leader) {
        /* Every entry of the log is in storage by now (updates are
         * processed whole), so proposals continue from storage's end. */
        g->next_offset = storage_log_next_offset(g->log);
        blog(BLOG_INFO, g->name, "became leader, term %" PRIu64, st.term);
    }
    else if (st.leader != g->leader && st.role != RAFT_LEADER)
        blog(BLOG_INFO, g->name, "leader is now %" PRIu64 " (term %" PRIu64 ")", st.leader, st.term);
    g->role = st.role;
    g->leader = (raft_id_t)st.leader;
    g->term = st.term;
    /* Fetches are served by the leader: waiting ones go elsewhere. Produce
     * waiters stay a little: their entries may still commit under the new
     * leader, which this broker learns as a follower if it can reach it. A
     * deposed leader cut off from the others would learn nothing until the
     * request timeout, holding its producers that long: after a grace of
     * two election timeouts they get TIMEOUT (outcome unknown) and retry
     * with the new leader (docs/operations.md, "Failures"). */
    if (!was_leader || st.role == RAFT_LEADER)
        return;
    uint64_t grace_until = g->b->now_ms + 2u * g->b->cfg.election_timeout_max_ms;
    for (struct commit_wait *w = g->waits_head; w != NULL; w = w->next)
        if (w->deadline_ms > grace_until) {
            w->deadline_ms = grace_until;
            w->leadership_lost = true;
        }
    while (g->fetches != NULL) {
        struct fetch_wait *f = g->fetches;
        g->fetches = f->next;
        client_respond_not_leader(g->b, &f->client, g->leader);
        free(f);
        g->fetch_count--;
    }
}

void group_process(struct group *g)
{
    g->dirty = false;
    if (g->failed)
        return;
    bool appended = false;
    while (raft_has_update(g->raft)) {
        struct raft_update u;
        raft_update_get(g->raft, &u);
        if (u.snapshot != NULL) {
            /* Unreachable: brokers never send INSTALL_SNAPSHOT (a partition
             * follower is caught up with APPENDs from storage, and the
             * metadata group is never compacted), so no core installs one. */
            blog(BLOG_ERROR, g->name, "unexpected snapshot install at %" PRIu64 " ignored",
                 u.snapshot->last_index);
        }
        if (u.truncate_from != 0) {
            fail_truncated_waits(g, u.truncate_from);
            int rc = storage_log_truncate_suffix(g->log, u.truncate_from - 1);
            if (rc != 0) {
                fail_group(g, rc, "cannot truncate the log");
                return;
            }
            g->stored_last = storage_log_last_index(g->log);
            g->next_offset = storage_log_next_offset(g->log);
            /* The cut entries' batches leave the producer table too. */
            if (u.truncate_from <= g->producers_applied)
                rebuild_producers(g);
            if (g->reported_durable > g->stored_last)
                g->reported_durable = g->stored_last;
            appended = true;
        }
        if (u.n_entries != 0) {
            if (append_entries(g, u.entries, u.n_entries) != 0)
                return;
            appended = true;
        }
        /* A vote or a new term must be durable before any message that
         * depends on it leaves (msgs_after_persist, parked below until the
         * syncer reports this save). The commit index alone is saved lazily
         * (housekeeping). */
        if (u.hard_state_changed && (u.hard_state.term != g->hs_requested.term ||
                                     u.hard_state.vote != g->hs_requested.vote)) {
            group_request_hardstate(g);
            if (g->failed)
                return;
        }
        for (uint32_t i = 0; i < u.n_msgs; i++)
            peer_queue_msg(g->b, g, &u.msgs[i]);
        bool durable_now = storage_log_durable_index(g->log) >= g->stored_last && !appended &&
                           g->hs_saved_version >= g->hs_requested_version;
        for (uint32_t i = 0; i < u.n_msgs_after_persist; i++) {
            if (durable_now && g->parked_head == NULL)
                peer_queue_msg(g->b, g, &u.msgs_after_persist[i]);
            else
                park_frame(g, &u.msgs_after_persist[i]);
        }
        if (u.committed_last != 0)
            apply_committed(g, &u);
        if (g->failed)
            return;
    }
    if (appended) {
        /* Also while a sync is in flight: the next one covers these entries. */
        int rc = storage_log_request_sync(g->log);
        if (rc != 0) {
            fail_group(g, rc, "cannot request a sync");
            return;
        }
        g->sync_requested = true;
        /* With fsync=never the request made them durable at once: act on it
         * now rather than on the completion a loop turn later (one hop of
         * latency less per broker). */
        raft_index_t durable = storage_log_durable_index(g->log);
        if (durable >= g->stored_last && durable > g->reported_durable)
            group_on_durable(g, durable, storage_log_hardstate_saved(g->log), 0);
    }
    note_role(g);
}

void group_on_durable(struct group *g, raft_index_t durable, uint64_t hardstate_saved, int err)
{
    g->sync_requested = false;
    if (g->failed)
        return;
    if (err != 0) {
        fail_group(g, err, "fdatasync or hard state save failed");
        return;
    }
    if (hardstate_saved > g->hs_saved_version) {
        g->hs_saved_version = hardstate_saved;
        if (hardstate_saved >= g->hs_requested_version) {
            g->saved = g->hs_requested;
            g->saved_base = g->hs_requested_base;
        }
    }
    if (durable > g->stored_last)
        durable = g->stored_last;
    if (durable > g->reported_durable) {
        raft_persisted(g->raft, durable, group_term_at(g, durable));
        g->reported_durable = durable;
        broker_mark_dirty(g);
    }
    if (g->parked_head != NULL) {
        release_parked(g, durable);
        broker_mark_dirty(g);
    }
    if (storage_log_durable_index(g->log) < g->stored_last && !g->sync_requested) {
        if (storage_log_request_sync(g->log) == 0)
            g->sync_requested = true;
    }
}

void group_tick(struct group *g)
{
    if (g->failed || g->b->now_ms < g->ticks_held_until_ms)
        return;
    raft_tick(g->raft);
    if (raft_has_update(g->raft))
        broker_mark_dirty(g);
}

/* ---- catching up followers from storage ----------------------------------------- */

static struct catchup *catchup_find(struct group *g, raft_id_t to)
{
    for (uint32_t i = 0; i < RAFT_SERVERS_MAX; i++)
        if (g->catchups[i].to == to)
            return &g->catchups[i];
    return NULL;
}

static void catchup_stop(struct group *g, struct catchup *c)
{
    c->to = 0;
    g->catchups_active--;
}

/* Sends the next chunk: stored entries [next, ...] after prev = next - 1. */
static void catchup_send(struct group *g, struct catchup *c)
{
    struct broker *b = g->b;
    raft_index_t first = storage_log_first_index(g->log);
    if (c->next < first || c->next > c->target) {
        /* Below the stored log (retention removed it): this replica needs
         * a rebuild, which the broker cannot do yet. Let the core retry. */
        blog(BLOG_ERROR, g->name, "node %" PRIu64 " needs entry %" PRIu64 " but the log starts at %"
             PRIu64 "; it cannot catch up (see docs/operations.md, \"Replacing a replica\")",
             c->to, c->next, first);
        raft_snapshot_failed(g->raft, c->to);
        catchup_stop(g, c);
        broker_mark_dirty(g);
        return;
    }
    struct storage_read rd = {.buf = b->read_buf, .buf_cap = b->read_cap, .entries = b->read_entries,
                              .entries_cap = b->read_entries_cap < BROKER_STEP_ENTRIES_MAX
                                                 ? b->read_entries_cap : BROKER_STEP_ENTRIES_MAX};
    int rc = storage_log_read_index(g->log, c->next, c->target, BROKER_CATCHUP_CHUNK_BYTES, &rd);
    if (rc != 0 || rd.count == 0) {
        fail_group(g, rc, "cannot read the log to catch a follower up");
        return;
    }
    struct raft_entry *entries = b->step_entries;
    for (size_t i = 0; i < rd.count; i++)
        entries[i] = (struct raft_entry){.term = rd.entries[i].term, .index = rd.entries[i].index,
                                         .type = rd.entries[i].type, .len = rd.entries[i].payload_len,
                                         .data = rd.entries[i].payload};
    struct raft_status st;
    raft_status(g->raft, &st);
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = st.id, .to = c->to, .term = st.term,
                         .index = c->next - 1, .log_term = group_term_at(g, c->next - 1),
                         .commit = st.commit, .n_entries = (uint32_t)rd.count, .entries = entries};
    peer_queue_msg(b, g, &m);
    c->next = entries[rd.count - 1].index + 1;
    c->sent_ms = b->now_ms;
}

void group_start_catchup(struct group *g, raft_id_t to, raft_index_t target)
{
    struct catchup *c = catchup_find(g, to);
    if (c != NULL) {
        if (target > c->target)
            c->target = target;
        return;
    }
    c = catchup_find(g, 0);
    if (c == NULL)
        return;
    struct raft_status st;
    raft_status(g->raft, &st);
    raft_index_t match = 0;
    for (uint32_t i = 0; i < st.n_progress; i++)
        if (st.progress[i].id == to)
            match = st.progress[i].match;
    *c = (struct catchup){.to = to, .target = target, .next = match + 1, .acked = match};
    g->catchups_active++;
    blog(BLOG_INFO, g->name, "catching node %" PRIu64 " up from storage: entries %" PRIu64 "..%" PRIu64,
         to, match + 1, target);
    /* The first chunk leaves from the loop (group_catchup_tick), outside
     * the core's update processing. */
    c->sent_ms = 0;
}

void group_catchup_on_resp(struct group *g, const struct raft_msg *m)
{
    struct catchup *c = catchup_find(g, m->from);
    if (c == NULL || m->term != g->term)
        return;
    if (m->reject) {
        /* Its log does not hold what the leader thought it matched: hand
         * the follower back to the core, which probes it again. */
        raft_snapshot_failed(g->raft, c->to);
        catchup_stop(g, c);
        return;
    }
    if (m->index > c->acked)
        c->acked = m->index;
    if (c->acked >= c->target) {
        blog(BLOG_INFO, g->name, "node %" PRIu64 " caught up to %" PRIu64, c->to, c->acked);
        catchup_stop(g, c);
    } else if (c->acked + 1 >= c->next) {
        catchup_send(g, c);
    }
}

void group_catchup_tick(struct group *g)
{
    if (g->catchups_active == 0 || g->failed)
        return;
    for (uint32_t i = 0; i < RAFT_SERVERS_MAX; i++) {
        struct catchup *c = &g->catchups[i];
        if (c->to == 0)
            continue;
        if (!group_is_leader(g)) {
            catchup_stop(g, c);
            continue;
        }
        if (c->sent_ms == 0 || g->b->now_ms - c->sent_ms >= BROKER_CATCHUP_RESEND_MS) {
            c->next = c->acked + 1;
            catchup_send(g, c);
        }
    }
}

/* ---- housekeeping: compaction, lazy hard-state saves, retention, timeouts ---- */

static void compact(struct group *g)
{
    if (g->is_meta)
        return; /* the metadata log is small and rebuilt by replay at start */
    struct raft_status st;
    raft_status(g->raft, &st);
    raft_index_t limit = st.applied < g->reported_durable ? st.applied : g->reported_durable;
    if (limit <= st.snapshot_index)
        return;
    /* Keep what followers still need, within the memory budget. */
    raft_index_t keep_for_followers = limit;
    bool match_unknown = false;
    if (st.role == RAFT_LEADER)
        for (uint32_t i = 0; i < st.n_progress; i++) {
            const struct raft_progress_status *p = &st.progress[i];
            if (p->id == st.id)
                continue;
            if (p->match < keep_for_followers)
                keep_for_followers = p->match;
            /* A new leader learns its followers' positions from their first
             * answers: until then do not push a live one to storage. */
            if (p->match == 0 && p->recent_active)
                match_unknown = true;
        }
    raft_index_t target = keep_for_followers;
    uint64_t bytes = 0;
    for (raft_index_t i = st.last_index; i > st.snapshot_index; i--) {
        const struct raft_entry *e = raft_entry_get(g->raft, i);
        if (e == NULL)
            break;
        bytes += e->len + 64u;
        if (bytes > g->b->cfg.raft_memory_bytes && !match_unknown) {
            if (i > target)
                target = i;
            break;
        }
    }
    if (target > limit)
        target = limit;
    if (target > st.snapshot_index) {
        int rc = raft_compact(g->raft, target);
        if (rc != 0)
            blog(BLOG_WARN, g->name, "compaction to %" PRIu64 " failed: %s", target, raft_strerror(rc));
    }
    /* Said once per episode: a follower now needs entries from storage. */
    bool behind = target > keep_for_followers;
    if (behind && !g->memory_overrun)
        blog(BLOG_INFO, g->name, "raft_memory_bytes reached: entries up to %" PRIu64
             " now live in storage only; followers below it (at %" PRIu64 ") will be caught up from storage",
             target, keep_for_followers);
    g->memory_overrun = behind;
}

static void apply_retention(struct group *g, uint64_t now_ms)
{
    (void)now_ms;
    if (g->is_meta)
        return;
    int64_t age = g->retention_ms >= 0 ? g->retention_ms : g->b->cfg.retention_ms;
    int64_t bytes = g->retention_bytes >= 0 ? g->retention_bytes : g->b->cfg.retention_bytes;
    if (age <= 0 && bytes <= 0)
        return;
    struct raft_status st;
    raft_status(g->raft, &st);
    if (st.snapshot_index < storage_log_first_index(g->log))
        return;
    /* The new log base must be known at restart: have it saved first (the
     * next pass, once the syncer reports the save, removes segments). */
    if (g->saved_base < st.snapshot_index || g->saved.commit < st.snapshot_index) {
        if (g->hs_requested_base < st.snapshot_index || g->hs_saved_version < g->hs_requested_version)
            group_request_hardstate(g);
        return;
    }
    struct storage_retention policy = {.age_ms_max = age > 0 ? age : 0,
                                       .bytes_max = bytes > 0 ? (uint64_t)bytes : 0};
    uint64_t before = storage_log_first_index(g->log), first = before;
    int rc = storage_log_apply_retention(g->log, &policy, broker_wall_ms(), st.snapshot_index, &first);
    if (rc != 0) {
        fail_group(g, rc, "retention failed");
        return;
    }
    if (first != before)
        blog(BLOG_INFO, g->name, "retention removed entries %" PRIu64 "..%" PRIu64, before, first - 1);
}

void group_housekeeping(struct group *g, uint64_t now_ms)
{
    if (g->failed)
        return;
    compact(g);
    if (now_ms - g->saved_at_ms >= BROKER_COMMIT_SAVE_INTERVAL_MS &&
        g->hs_saved_version >= g->hs_requested_version) {
        struct raft_status st;
        raft_status(g->raft, &st);
        raft_index_t durable = storage_log_durable_index(g->log);
        raft_index_t commit = st.commit < durable ? st.commit : durable;
        if (commit > g->hs_requested.commit)
            group_request_hardstate(g);
    }
    apply_retention(g, now_ms);
}

void group_close(struct group *g, bool save_state)
{
    if (g == NULL)
        return;
    group_fail_waits(g, WIRE_ERR_SHUTTING_DOWN, "broker is shutting down");
    if (save_state && !g->failed) {
        storage_log_sync(g->log);
        save_hardstate_now(g);
    }
    while (g->parked_head != NULL) {
        struct parked_frame *p = g->parked_head;
        g->parked_head = p->next;
        free(p);
    }
    pstate_free(&g->producers);
    int rc = g->log != NULL ? storage_log_close(g->log) : 0;
    if (g->raft != NULL)
        raft_destroy(g->raft);
    g->raft = NULL;
    if (rc == STORAGE_ERR_BUSY) {
        /* A hung fdatasync still holds the log, and the storage thread will
         * report on it with this group as user_data: keep the group (failed,
         * so the report is ignored) instead of freeing it under that thread. */
        g->failed = rc;
        g->next_zombie = g->b->zombies;
        g->b->zombies = g;
        blog(BLOG_ERROR, g->name, "storage close gave up on a hung fdatasync; the group's "
             "memory is kept until the broker exits");
        return;
    }
    if (rc != 0)
        blog(BLOG_WARN, g->name, "storage close reported an error: %s", storage_strerror(rc));
    free(g);
}
