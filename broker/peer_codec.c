/* The peer codec: struct raft_msg <-> peer frames; see peer_codec.h and docs/raft.md "Mapping to the wire". */
#include "peer_codec.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- shared ------------------------------------------------------------------ */

/* The four fields every Raft peer body starts with (WIRE_PEER_HEADER_FIELDS). */
struct peer_header {
    uint64_t group;
    uint32_t from;
    uint32_t to;
    uint64_t term;
};

#define PEER_HEADER_OF(body) ((struct peer_header){(body).group, (body).from, (body).to, (body).term})
#define PEER_HEADER_SET(body, h)  \
    do {                          \
        (body).group = (h).group; \
        (body).from = (h).from;   \
        (body).to = (h).to;       \
        (body).term = (h).term;   \
    } while (0)

static bool id_fits_wire(raft_id_t id)
{
    return id != 0 && id <= UINT32_MAX;
}

bool peer_frame_is_raft(uint32_t type)
{
    switch (type) {
    case WIRE_APPEND_ENTRIES:
    case WIRE_APPEND_ENTRIES_RESP:
    case WIRE_REQUEST_VOTE:
    case WIRE_REQUEST_VOTE_RESP:
    case WIRE_INSTALL_SNAPSHOT:
    case WIRE_TIMEOUT_NOW:
        return true;
    }
    return false;
}

/* ---- encoding ------------------------------------------------------------------ */

/*
 * APPEND is written field by field instead of through wire_frame_encode:
 * that would need a struct wire_entry array as long as the message (up to
 * WIRE_ARRAY_ITEMS_MAX), allocated per message on the replication hot path.
 * The field counts below break the build if the schema changes under this
 * writer; the unit tests compare its bytes with wire_frame_encode's.
 */
#define PEER_COUNT_FIELD_(kind, name, arg) +1
enum {
    APPEND_REQ_FIELD_COUNT = 0 WIRE_APPEND_ENTRIES_REQ_FIELDS(PEER_COUNT_FIELD_),
    ENTRY_FIELD_COUNT = 0 WIRE_ENTRY_FIELDS(PEER_COUNT_FIELD_),
};
#undef PEER_COUNT_FIELD_
static_assert(APPEND_REQ_FIELD_COUNT == 8,
              "append_entries_req changed: update encode_append (group, from, to, term, prev_log_index, "
              "prev_log_term, leader_commit, entries)");
static_assert(ENTRY_FIELD_COUNT == 3, "entry changed: update encode_append (term, type, payload)");

/* The wire type of a core entry, or 0 for a type the wire cannot carry. */
static uint32_t wire_entry_type(uint8_t raft_type, bool metadata_group)
{
    switch (raft_type) {
    case RAFT_ENTRY_NOOP:
        return PEER_ENTRY_NOOP;
    case RAFT_ENTRY_CONFIG:
        return PEER_ENTRY_CONFIG;
    case RAFT_ENTRY_DATA:
        return metadata_group ? PEER_ENTRY_METADATA_OP : PEER_ENTRY_BATCH;
    }
    return 0;
}

static int encode_append(struct wire_writer *w, uint64_t group, bool metadata_group, const struct raft_msg *m)
{
    if (m->n_entries > WIRE_ARRAY_ITEMS_MAX)
        return WIRE_ERR_LIMIT_EXCEEDED;
    if (m->n_entries > 0 && m->entries == NULL)
        return WIRE_ERR_BAD_VALUE;
    /* Validate everything first, so that only the writer can fail below. */
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        /* The receiver derives indexes from the position: they must be contiguous. */
        if (m->index > UINT64_MAX - 1 - i || e->index != m->index + 1 + i)
            return WIRE_ERR_BAD_VALUE;
        if (wire_entry_type(e->type, metadata_group) == 0)
            return WIRE_ERR_BAD_VALUE;
        if (e->len > 0 && e->data == NULL)
            return WIRE_ERR_BAD_VALUE;
    }

    size_t start = w->len;
    wire_write_array(w, 4); /* request envelope */
    wire_write_uint(w, WIRE_PROTOCOL_VERSION);
    wire_write_uint(w, WIRE_APPEND_ENTRIES);
    wire_write_uint(w, 0);
    wire_write_array(w, APPEND_REQ_FIELD_COUNT);
    wire_write_uint(w, group);
    wire_write_uint(w, m->from);
    wire_write_uint(w, m->to);
    wire_write_uint(w, m->term);
    wire_write_uint(w, m->index);
    wire_write_uint(w, m->log_term);
    wire_write_uint(w, m->commit);
    wire_write_array(w, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries && w->err == WIRE_OK; i++) {
        const struct raft_entry *e = &m->entries[i];
        wire_write_array(w, ENTRY_FIELD_COUNT);
        wire_write_uint(w, e->term);
        wire_write_uint(w, wire_entry_type(e->type, metadata_group));
        wire_write_bin(w, e->data, e->len);
    }
    int rc = w->err;
    if (rc == WIRE_OK && w->len - start > WIRE_FRAME_BYTES_MAX)
        rc = WIRE_ERR_FRAME_TOO_LARGE;
    if (rc != WIRE_OK) {
        /* Drop the partial frame; the frames before it stay usable. */
        w->len = start;
        w->err = WIRE_OK;
    }
    return rc;
}

static void init_request(struct wire_frame *f, uint32_t type)
{
    memset(f, 0, sizeof(*f));
    f->version = WIRE_PROTOCOL_VERSION;
    f->type = type;
    f->correlation_id = 0;
}

static void init_response(struct wire_frame *f, uint32_t request_type)
{
    init_request(f, request_type | WIRE_RESPONSE_BIT);
    f->error = WIRE_OK;
    f->error_message = (struct wire_bytes){NULL, 0};
}

int peer_encode(struct wire_writer *w, uint64_t group, bool metadata_group, const struct raft_msg *m,
                const struct peer_snapshot_chunk *chunk)
{
    if (w->err != WIRE_OK)
        return w->err;
    if (metadata_group != (group == 0))
        return WIRE_ERR_BAD_VALUE;
    if (!id_fits_wire(m->from) || !id_fits_wire(m->to))
        return WIRE_ERR_BAD_VALUE;
    if (m->type == RAFT_MSG_APPEND)
        return encode_append(w, group, metadata_group, m);

    struct peer_header h = {group, (uint32_t)m->from, (uint32_t)m->to, m->term};
    struct wire_member members[RAFT_SERVERS_MAX];
    struct wire_frame f;
    switch (m->type) {
    case RAFT_MSG_APPEND_RESP:
        init_response(&f, WIRE_APPEND_ENTRIES);
        PEER_HEADER_SET(f.body.append_entries_resp, h);
        f.body.append_entries_resp.success = !m->reject;
        f.body.append_entries_resp.match_index = m->index;
        f.body.append_entries_resp.conflict_index = m->hint_index;
        f.body.append_entries_resp.conflict_term = m->hint_term;
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        init_request(&f, WIRE_REQUEST_VOTE);
        PEER_HEADER_SET(f.body.request_vote_req, h);
        f.body.request_vote_req.last_log_index = m->index;
        f.body.request_vote_req.last_log_term = m->log_term;
        f.body.request_vote_req.pre_vote = m->type == RAFT_MSG_PREVOTE;
        f.body.request_vote_req.leadership_transfer = m->transfer;
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        init_response(&f, WIRE_REQUEST_VOTE);
        PEER_HEADER_SET(f.body.request_vote_resp, h);
        f.body.request_vote_resp.granted = !m->reject;
        f.body.request_vote_resp.pre_vote = m->type == RAFT_MSG_PREVOTE_RESP;
        break;
    case RAFT_MSG_SNAPSHOT: {
        const struct raft_config *c = &m->snapshot.config;
        if (c->n > RAFT_SERVERS_MAX)
            return WIRE_ERR_BAD_VALUE;
        for (uint32_t i = 0; i < c->n; i++) {
            if (!id_fits_wire(c->servers[i].id) || c->servers[i].role > RAFT_LEARNER)
                return WIRE_ERR_BAD_VALUE;
            members[i].node_id = (uint32_t)c->servers[i].id;
            members[i].voter = c->servers[i].role == RAFT_VOTER;
        }
        init_request(&f, WIRE_INSTALL_SNAPSHOT);
        struct wire_install_snapshot_req *s = &f.body.install_snapshot_req;
        PEER_HEADER_SET(*s, h);
        s->last_index = m->snapshot.last_index;
        s->last_term = m->snapshot.last_term;
        s->configuration.count = c->n;
        s->configuration.items = members;
        s->offset = chunk != NULL ? chunk->offset : 0;
        s->data = chunk != NULL ? chunk->data : (struct wire_bytes){NULL, 0};
        s->done = chunk != NULL ? chunk->done : true;
        break;
    }
    case RAFT_MSG_TIMEOUT_NOW:
        init_request(&f, WIRE_TIMEOUT_NOW);
        PEER_HEADER_SET(f.body.timeout_now_req, h);
        break;
    default:
        return WIRE_ERR_BAD_VALUE;
    }
    return wire_frame_encode(w, &f);
}

int peer_encode_status(struct wire_writer *w, uint32_t from, uint64_t metadata_applied,
                       const struct wire_group_leader *leaders, uint32_t n, bool stopping)
{
    if (w->err != WIRE_OK)
        return w->err;
    if (from == 0 || (n > 0 && leaders == NULL))
        return WIRE_ERR_BAD_VALUE;
    struct wire_frame f;
    init_request(&f, WIRE_PEER_STATUS);
    f.body.peer_status_req.from = from;
    f.body.peer_status_req.metadata_applied = metadata_applied;
    f.body.peer_status_req.leaders.count = n;
    /* The frame struct serves decoding too, hence non-const; encoding only reads. */
    f.body.peer_status_req.leaders.items = (struct wire_group_leader *)(uintptr_t)leaders;
    f.body.peer_status_req.stopping = stopping;
    return wire_frame_encode(w, &f);
}

/* ---- decoding ------------------------------------------------------------------ */

static int fail(char *why, size_t why_cap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t why_cap, int rc, const char *fmt, ...)
{
    if (why != NULL && why_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const char *wire_entry_type_name(uint32_t type)
{
    switch (type) {
    case PEER_ENTRY_BATCH:
        return "record batch";
    case PEER_ENTRY_CONFIG:
        return "configuration";
    case PEER_ENTRY_NOOP:
        return "no-op";
    case PEER_ENTRY_METADATA_OP:
        return "metadata operation";
    }
    return "unknown";
}

static int decode_entries(const struct wire_append_entries_req *a, struct raft_msg *m, struct raft_entry *entries,
                          size_t entries_cap, char *why, size_t why_cap)
{
    uint32_t n = a->entries.count;
    bool metadata_group = a->group == 0;
    if (n > entries_cap)
        return fail(why, why_cap, WIRE_ERR_LIMIT_EXCEEDED,
                    "APPEND_ENTRIES for group %llu carries %u entries, more than the %zu this broker takes at once",
                    (unsigned long long)a->group, n, entries_cap);
    if (a->prev_log_index > UINT64_MAX - n)
        return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                    "APPEND_ENTRIES for group %llu: prev_log_index %llu + %u entries overflows the index",
                    (unsigned long long)a->group, (unsigned long long)a->prev_log_index, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct wire_entry *we = &a->entries.items[i];
        struct raft_entry *e = &entries[i];
        bool type_fits;
        switch (we->type) {
        case PEER_ENTRY_BATCH:
            type_fits = !metadata_group;
            e->type = RAFT_ENTRY_DATA;
            break;
        case PEER_ENTRY_METADATA_OP:
            type_fits = metadata_group;
            e->type = RAFT_ENTRY_DATA;
            break;
        case PEER_ENTRY_CONFIG:
            type_fits = true;
            e->type = RAFT_ENTRY_CONFIG;
            break;
        case PEER_ENTRY_NOOP:
            type_fits = true;
            e->type = RAFT_ENTRY_NOOP;
            break;
        default:
            return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                        "APPEND_ENTRIES for group %llu: entry %u has unknown type %u",
                        (unsigned long long)a->group, i, we->type);
        }
        if (!type_fits)
            return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                        "APPEND_ENTRIES for group %llu: entry %u has type %u (%s), which a %s group cannot hold",
                        (unsigned long long)a->group, i, we->type, wire_entry_type_name(we->type),
                        metadata_group ? "metadata" : "partition");
        if (we->type == PEER_ENTRY_NOOP && we->payload.len != 0)
            return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                        "APPEND_ENTRIES for group %llu: no-op entry %u has a %u-byte payload; it must be empty",
                        (unsigned long long)a->group, i, we->payload.len);
        struct raft_config ignored;
        if (we->type == PEER_ENTRY_CONFIG && raft_config_decode(we->payload.ptr, we->payload.len, &ignored) != 0)
            return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                        "APPEND_ENTRIES for group %llu: configuration entry %u (%u bytes) is malformed",
                        (unsigned long long)a->group, i, we->payload.len);
        e->term = we->term;
        e->index = a->prev_log_index + 1 + i;
        e->len = we->payload.len;
        e->data = we->payload.ptr;
    }
    m->n_entries = n;
    m->entries = n > 0 ? entries : NULL;
    return WIRE_OK;
}

static int decode_snapshot(const struct wire_install_snapshot_req *s, struct raft_msg *m,
                           struct peer_snapshot_chunk *chunk, char *why, size_t why_cap)
{
    uint32_t n = s->configuration.count;
    if (n > RAFT_SERVERS_MAX)
        return fail(why, why_cap, WIRE_ERR_LIMIT_EXCEEDED,
                    "INSTALL_SNAPSHOT for group %llu: configuration has %u members, more than %d",
                    (unsigned long long)s->group, n, RAFT_SERVERS_MAX);
    if (s->offset > UINT64_MAX - s->data.len)
        return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                    "INSTALL_SNAPSHOT for group %llu: chunk offset %llu + %u bytes overflows",
                    (unsigned long long)s->group, (unsigned long long)s->offset, s->data.len);
    struct raft_config *c = &m->snapshot.config;
    for (uint32_t i = 0; i < n; i++) {
        const struct wire_member *mb = &s->configuration.items[i];
        if (mb->node_id == 0)
            return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                        "INSTALL_SNAPSHOT for group %llu: configuration member %u has node id 0",
                        (unsigned long long)s->group, i);
        for (uint32_t j = 0; j < i; j++)
            if (c->servers[j].id == mb->node_id)
                return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                            "INSTALL_SNAPSHOT for group %llu: node %u appears twice in the configuration",
                            (unsigned long long)s->group, mb->node_id);
        c->servers[i].id = mb->node_id;
        c->servers[i].role = mb->voter ? RAFT_VOTER : RAFT_LEARNER;
    }
    c->n = n;
    m->snapshot.last_index = s->last_index;
    m->snapshot.last_term = s->last_term;
    if (chunk != NULL) {
        chunk->offset = s->offset;
        chunk->data = s->data;
        chunk->done = s->done;
    }
    return WIRE_OK;
}

int peer_decode(const struct wire_frame *f, struct raft_msg *m, struct raft_entry *entries, size_t entries_cap,
                uint64_t *group, struct peer_snapshot_chunk *chunk, char *why, size_t why_cap)
{
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (!peer_frame_is_raft(f->type))
        return fail(why, why_cap, WIRE_ERR_UNKNOWN_TYPE, "frame type %u (%s) is not a Raft message", f->type,
                    wire_type_name(f->type));
    if (wire_type_is_response(f->type) && f->error != WIRE_OK)
        return fail(why, why_cap, WIRE_ERR_BAD_VALUE,
                    "%s with error %u (%s): peers answer Raft messages with Raft messages, never errors",
                    wire_type_name(f->type), f->error, wire_err_name((int)f->error));

    struct peer_header h;
    switch (f->type) {
    case WIRE_APPEND_ENTRIES:
        h = PEER_HEADER_OF(f->body.append_entries_req);
        break;
    case WIRE_APPEND_ENTRIES_RESP:
        h = PEER_HEADER_OF(f->body.append_entries_resp);
        break;
    case WIRE_REQUEST_VOTE:
        h = PEER_HEADER_OF(f->body.request_vote_req);
        break;
    case WIRE_REQUEST_VOTE_RESP:
        h = PEER_HEADER_OF(f->body.request_vote_resp);
        break;
    case WIRE_INSTALL_SNAPSHOT:
        h = PEER_HEADER_OF(f->body.install_snapshot_req);
        break;
    default: /* WIRE_TIMEOUT_NOW, the last type peer_frame_is_raft accepts */
        h = PEER_HEADER_OF(f->body.timeout_now_req);
        break;
    }
    if (h.from == 0 || h.to == 0)
        return fail(why, why_cap, WIRE_ERR_BAD_VALUE, "%s for group %llu has %s 0; node ids are non-zero",
                    wire_type_name(f->type), (unsigned long long)h.group, h.from == 0 ? "from" : "to");

    memset(m, 0, sizeof(*m));
    m->from = h.from;
    m->to = h.to;
    m->term = h.term;
    *group = h.group;

    int rc = WIRE_OK;
    switch (f->type) {
    case WIRE_APPEND_ENTRIES: {
        const struct wire_append_entries_req *a = &f->body.append_entries_req;
        m->type = RAFT_MSG_APPEND;
        m->index = a->prev_log_index;
        m->log_term = a->prev_log_term;
        m->commit = a->leader_commit;
        rc = decode_entries(a, m, entries, entries_cap, why, why_cap);
        break;
    }
    case WIRE_APPEND_ENTRIES_RESP: {
        const struct wire_append_entries_resp *a = &f->body.append_entries_resp;
        m->type = RAFT_MSG_APPEND_RESP;
        m->reject = !a->success;
        m->index = a->match_index;
        m->hint_index = a->conflict_index;
        m->hint_term = a->conflict_term;
        break;
    }
    case WIRE_REQUEST_VOTE: {
        const struct wire_request_vote_req *v = &f->body.request_vote_req;
        m->type = v->pre_vote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
        m->index = v->last_log_index;
        m->log_term = v->last_log_term;
        m->transfer = v->leadership_transfer;
        break;
    }
    case WIRE_REQUEST_VOTE_RESP: {
        const struct wire_request_vote_resp *v = &f->body.request_vote_resp;
        m->type = v->pre_vote ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
        m->reject = !v->granted;
        break;
    }
    case WIRE_INSTALL_SNAPSHOT:
        m->type = RAFT_MSG_SNAPSHOT;
        rc = decode_snapshot(&f->body.install_snapshot_req, m, chunk, why, why_cap);
        break;
    default:
        m->type = RAFT_MSG_TIMEOUT_NOW;
        break;
    }
    return rc;
}
