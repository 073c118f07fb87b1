/* The metadata state machine (see metadata.h): topic tables, op encoding, deterministic apply. */
#include "metadata.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/validate.h"

/*
 * Op layout (docs/protocol.md, "Metadata operations"): one msgpack array
 *
 *   [format_version = 1, kind, ...fields of the kind, ...ignored extras]
 *
 *   create: [1, 1, name, partitions, replication_factor, retention_ms,
 *            retention_bytes, assignment = [[replica ids] x partitions]]
 *   delete: [1, 2, name, topic_id]
 *   commit offsets: [1, 4, group, rewind, [[topic_id, partition, offset] x n]]
 */
#define MD_CREATE_FIELDS 8u
#define MD_DELETE_FIELDS 4u
#define MD_COMMIT_FIELDS 5u
/* Elements of one committed offset: topic_id, partition, offset. */
#define MD_COMMIT_ENTRY_FIELDS 3u
/* Fields a reader needs before it knows the kind. */
#define MD_HEADER_FIELDS 2u

/* ---- small helpers ---------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int fail(int code, char *why, size_t why_cap,
                                                      const char *format, ...)
{
    if (why != NULL && why_cap > 0) {
        va_list ap;
        va_start(ap, format);
        vsnprintf(why, why_cap, format, ap);
        va_end(ap);
    }
    return code;
}

static int ok(char *why, size_t why_cap)
{
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    return WIRE_OK;
}

/* Byte order of names: memcmp over the common prefix, then the shorter first. */
static int name_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
    size_t common = a_len < b_len ? a_len : b_len;
    int c = common > 0 ? memcmp(a, b, common) : 0;
    if (c != 0)
        return c;
    return (a_len > b_len) - (a_len < b_len);
}

/* Index of the first topic whose name is >= name (the insertion point). */
static uint32_t lower_bound_name(const struct md_state *s, const void *name, size_t len)
{
    uint32_t lo = 0, hi = s->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct md_topic *t = s->by_name[mid];
        if (name_cmp(t->name, t->name_len, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t lower_bound_id(const struct md_state *s, uint64_t id)
{
    uint32_t lo = 0, hi = s->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->by_id[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- state and lookups ------------------------------------------------------ */

void md_init(struct md_state *s)
{
    memset(s, 0, sizeof(*s));
}

void md_topic_free(struct md_topic *t)
{
    if (t == NULL)
        return;
    free(t->partitions);
    free(t);
}

static void offset_group_free(struct md_offset_group *g)
{
    if (g == NULL)
        return;
    free(g->offsets);
    free(g);
}

void md_free(struct md_state *s)
{
    for (uint32_t i = 0; i < s->count; i++)
        md_topic_free(s->by_name[i]);
    free(s->by_name);
    free(s->by_id);
    for (uint32_t i = 0; i < s->group_count; i++)
        offset_group_free(s->groups[i]);
    free(s->groups);
    memset(s, 0, sizeof(*s));
}

const struct md_topic *md_find(const struct md_state *s, const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > WIRE_TOPIC_NAME_BYTES_MAX)
        return NULL;
    uint32_t i = lower_bound_name(s, name, len);
    if (i < s->count && name_cmp(s->by_name[i]->name, s->by_name[i]->name_len, name, len) == 0)
        return s->by_name[i];
    return NULL;
}

const struct md_topic *md_find_id(const struct md_state *s, uint64_t topic_id)
{
    uint32_t i = lower_bound_id(s, topic_id);
    if (i < s->count && s->by_id[i]->id == topic_id)
        return s->by_id[i];
    return NULL;
}

uint32_t md_topic_count(const struct md_state *s)
{
    return s->count;
}

const struct md_topic *md_topic_at(const struct md_state *s, uint32_t i)
{
    return i < s->count ? s->by_name[i] : NULL;
}

/* ---- the offset table ------------------------------------------------------- */

/* Index of the first group whose name is >= name (the insertion point). */
static uint32_t lower_bound_group(const struct md_state *s, const void *name, size_t len)
{
    uint32_t lo = 0, hi = s->group_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct md_offset_group *g = s->groups[mid];
        if (name_cmp(g->name, g->name_len, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Order of committed offsets: by topic id, then partition. */
static int committed_cmp(uint64_t a_topic, uint32_t a_partition, uint64_t b_topic,
                         uint32_t b_partition)
{
    if (a_topic != b_topic)
        return a_topic < b_topic ? -1 : 1;
    return (a_partition > b_partition) - (a_partition < b_partition);
}

static int committed_qsort_cmp(const void *a, const void *b)
{
    const struct md_committed *x = a, *y = b;
    return committed_cmp(x->topic_id, x->partition, y->topic_id, y->partition);
}

/* Index of the first offset of g at or after (topic_id, partition). */
static uint32_t lower_bound_committed(const struct md_offset_group *g, uint64_t topic_id,
                                      uint32_t partition)
{
    uint32_t lo = 0, hi = g->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct md_committed *c = &g->offsets[mid];
        if (committed_cmp(c->topic_id, c->partition, topic_id, partition) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The committed offset of (topic_id, partition) in g, or NULL. */
static struct md_committed *find_committed(const struct md_offset_group *g, uint64_t topic_id,
                                           uint32_t partition)
{
    uint32_t i = lower_bound_committed(g, topic_id, partition);
    if (i < g->count && g->offsets[i].topic_id == topic_id && g->offsets[i].partition == partition)
        return &g->offsets[i];
    return NULL;
}

const struct md_offset_group *md_offset_group_find(const struct md_state *s, const char *group,
                                                   size_t group_len)
{
    if (group == NULL || group_len == 0 || group_len > WIRE_GROUP_NAME_BYTES_MAX)
        return NULL;
    uint32_t i = lower_bound_group(s, group, group_len);
    if (i < s->group_count &&
        name_cmp(s->groups[i]->name, s->groups[i]->name_len, group, group_len) == 0)
        return s->groups[i];
    return NULL;
}

uint32_t md_offset_group_count(const struct md_state *s)
{
    return s->group_count;
}

const struct md_offset_group *md_offset_group_at(const struct md_state *s, uint32_t i)
{
    return i < s->group_count ? s->groups[i] : NULL;
}

bool md_committed_offset(const struct md_state *s, const char *group, size_t group_len,
                         uint64_t topic_id, uint32_t partition, uint64_t *offset)
{
    const struct md_offset_group *g = md_offset_group_find(s, group, group_len);
    const struct md_committed *c = g != NULL ? find_committed(g, topic_id, partition) : NULL;
    if (c == NULL)
        return false;
    *offset = c->offset;
    return true;
}

/*
 * Drops every committed offset of topic_id from every group (the topic was
 * deleted: its id is never reused, so they could never be read again), and
 * the groups left with none. Offsets are sorted by topic id, so each group's
 * are one run found by binary search.
 */
static void drop_topic_offsets(struct md_state *s, uint64_t topic_id)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < s->group_count; i++) {
        struct md_offset_group *g = s->groups[i];
        uint32_t from = lower_bound_committed(g, topic_id, 0);
        uint32_t to = from;
        while (to < g->count && g->offsets[to].topic_id == topic_id)
            to++;
        if (to > from) {
            memmove(&g->offsets[from], &g->offsets[to], (g->count - to) * sizeof(*g->offsets));
            g->count -= to - from;
        }
        if (g->count == 0)
            offset_group_free(g);
        else
            s->groups[kept++] = g;
    }
    s->group_count = kept;
}

void md_set_applied(struct md_state *s, uint64_t index)
{
    assert(index > s->applied_index && "the metadata log is applied in order, once");
    s->applied_index = index;
}

/* ---- placement -------------------------------------------------------------- */

static bool brokers_well_formed(const uint32_t *brokers, uint32_t n_brokers)
{
    if (brokers == NULL || n_brokers == 0 || brokers[0] == 0)
        return false;
    for (uint32_t i = 1; i < n_brokers; i++)
        if (brokers[i] <= brokers[i - 1])
            return false;
    return true;
}

/* Index of id in the sorted brokers[], or n_brokers if absent. */
static uint32_t broker_index(const uint32_t *brokers, uint32_t n_brokers, uint32_t id)
{
    uint32_t lo = 0, hi = n_brokers;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (brokers[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n_brokers && brokers[lo] == id ? lo : n_brokers;
}

/*
 * The broker index where a new topic's preferred leaders start: the broker
 * leading the fewest partitions, ties to the lowest id. If the count array
 * cannot be allocated it returns 0: still a valid placement (followers apply
 * whatever the leader chose), only less balanced.
 */
static uint32_t placement_start(const struct md_state *s, const uint32_t *brokers,
                                uint32_t n_brokers)
{
    uint64_t *led = calloc(n_brokers, sizeof(*led));
    if (led == NULL)
        return 0;
    for (uint32_t t = 0; t < s->count; t++) {
        const struct md_topic *topic = s->by_id[t];
        for (uint32_t p = 0; p < topic->n_partitions; p++) {
            uint32_t b = broker_index(brokers, n_brokers, topic->partitions[p].replicas[0]);
            if (b < n_brokers)
                led[b]++;
        }
    }
    uint32_t start = 0;
    for (uint32_t b = 1; b < n_brokers; b++)
        if (led[b] < led[start])
            start = b;
    free(led);
    return start;
}

/* ---- encoding --------------------------------------------------------------- */

size_t md_op_bytes_max(uint32_t partitions, uint32_t replication_factor)
{
    /* Array headers at most 5 bytes, integers at most 9, a name at most 5 + its bytes. */
    size_t fixed = 5 + 9 + 9 + (5 + WIRE_TOPIC_NAME_BYTES_MAX) + 9 + 9 + 9 + 9 + 5;
    return fixed + (size_t)partitions * (5 + (size_t)replication_factor * 5);
}

int md_encode_create(const struct md_state *s, const struct wire_create_topic_req *req,
                     const uint32_t *brokers, uint32_t n_brokers, uint8_t *out, size_t cap,
                     size_t *len, char *why, size_t why_cap)
{
    assert(brokers_well_formed(brokers, n_brokers) &&
           "brokers: non-zero ids, strictly increasing, at least one");
    *len = 0;
    int err = wire_validate_create_topic(req, why, why_cap);
    if (err != WIRE_OK)
        return err;
    uint32_t rf = req->replication_factor;
    if (rf > n_brokers)
        return fail(WIRE_ERR_INVALID_REPLICATION_FACTOR, why, why_cap,
                    "replication factor %u exceeds the %u broker%s in the cluster", rf, n_brokers,
                    n_brokers == 1 ? "" : "s");
    if (md_find(s, (const char *)req->name.ptr, req->name.len) != NULL)
        return fail(WIRE_ERR_TOPIC_EXISTS, why, why_cap, "topic '%.*s' already exists",
                    (int)req->name.len, (const char *)req->name.ptr);

    uint32_t start = placement_start(s, brokers, n_brokers);
    struct wire_writer w;
    wire_writer_init(&w, out, cap);
    wire_write_array(&w, MD_CREATE_FIELDS);
    wire_write_uint(&w, MD_OP_FORMAT_VERSION);
    wire_write_uint(&w, MD_OP_CREATE_TOPIC);
    wire_write_bytes_str(&w, req->name);
    wire_write_uint(&w, req->partitions);
    wire_write_uint(&w, rf);
    wire_write_int(&w, req->retention_ms);
    wire_write_int(&w, req->retention_bytes);
    wire_write_array(&w, req->partitions);
    for (uint32_t p = 0; p < req->partitions && w.err == WIRE_OK; p++) {
        wire_write_array(&w, rf);
        for (uint32_t j = 0; j < rf; j++) {
            /* Offsets floor(j*n/rf): distinct and evenly spread (see metadata.h). */
            uint64_t offset = (uint64_t)j * n_brokers / rf;
            uint64_t b = ((uint64_t)start + p + offset) % n_brokers;
            wire_write_uint(&w, brokers[b]);
        }
    }
    if (w.err != WIRE_OK)
        return fail(WIRE_ERR_BUFFER_FULL, why, why_cap,
                    "the op for %u partitions does not fit in %zu bytes", req->partitions, cap);
    *len = w.len;
    return ok(why, why_cap);
}

int md_encode_delete(const struct md_state *s, const void *name, size_t name_len, uint8_t *out,
                     size_t cap, size_t *len, char *why, size_t why_cap)
{
    *len = 0;
    if (!wire_topic_name_valid(name, name_len))
        return fail(WIRE_ERR_INVALID_TOPIC_NAME, why, why_cap,
                    "no topic has that name: names are 1 to %u characters of A-Z a-z 0-9 . _ -",
                    WIRE_TOPIC_NAME_BYTES_MAX);
    const struct md_topic *t = md_find(s, name, name_len);
    if (t == NULL)
        return fail(WIRE_ERR_UNKNOWN_TOPIC, why, why_cap, "topic '%.*s' does not exist",
                    (int)name_len, (const char *)name);
    struct wire_writer w;
    wire_writer_init(&w, out, cap);
    wire_write_array(&w, MD_DELETE_FIELDS);
    wire_write_uint(&w, MD_OP_FORMAT_VERSION);
    wire_write_uint(&w, MD_OP_DELETE_TOPIC);
    wire_write_str(&w, t->name, t->name_len);
    wire_write_uint(&w, t->id);
    if (w.err != WIRE_OK)
        return fail(WIRE_ERR_BUFFER_FULL, why, why_cap, "the delete op does not fit in %zu bytes",
                    cap);
    *len = w.len;
    return ok(why, why_cap);
}

int md_encode_alloc_producer(uint8_t *out, size_t cap, size_t *len)
{
    struct wire_writer w;
    wire_writer_init(&w, out, cap);
    wire_write_array(&w, MD_HEADER_FIELDS);
    wire_write_uint(&w, MD_OP_FORMAT_VERSION);
    wire_write_uint(&w, MD_OP_ALLOC_PRODUCER);
    *len = w.err == WIRE_OK ? w.len : 0;
    return w.err == WIRE_OK ? WIRE_OK : WIRE_ERR_BUFFER_FULL;
}

size_t md_commit_op_bytes_max(uint32_t n)
{
    /* The op array header, version, kind, group (header + bytes), rewind, the list header; then
     * per offset a 1-byte array header and three integers of at most 9 bytes. */
    size_t fixed = 5 + 9 + 9 + (5 + WIRE_GROUP_NAME_BYTES_MAX) + 1 + 5;
    return fixed + (size_t)n * (1 + 9 + 9 + 9);
}

/*
 * True if two offsets name the same partition. Sorted input (the usual case)
 * is checked in place; otherwise a sorted copy. *oom is set if that copy
 * could not be allocated.
 */
static bool has_duplicate(const struct md_committed *offsets, uint32_t n, bool *oom)
{
    *oom = false;
    bool sorted = true;
    for (uint32_t i = 1; i < n && sorted; i++)
        sorted = committed_cmp(offsets[i - 1].topic_id, offsets[i - 1].partition,
                               offsets[i].topic_id, offsets[i].partition) < 0;
    if (sorted)
        return false;
    struct md_committed *copy = malloc((size_t)n * sizeof(*copy));
    if (copy == NULL) {
        *oom = true;
        return false;
    }
    memcpy(copy, offsets, (size_t)n * sizeof(*copy));
    qsort(copy, n, sizeof(*copy), committed_qsort_cmp);
    bool duplicate = false;
    for (uint32_t i = 1; i < n && !duplicate; i++)
        duplicate = copy[i - 1].topic_id == copy[i].topic_id &&
                    copy[i - 1].partition == copy[i].partition;
    free(copy);
    return duplicate;
}

int md_encode_commit_offsets(const char *group, size_t group_len, bool rewind,
                             const struct md_committed *offsets, uint32_t n, uint8_t *out,
                             size_t cap, size_t *len, char *why, size_t why_cap)
{
    *len = 0;
    if (group == NULL || !wire_topic_name_valid(group, group_len))
        return fail(WIRE_ERR_INVALID_REQUEST, why, why_cap,
                    "invalid group name: names are 1 to %u characters of A-Z a-z 0-9 . _ -",
                    WIRE_GROUP_NAME_BYTES_MAX);
    if (n == 0 || n > MD_GROUP_OFFSETS_MAX || offsets == NULL)
        return fail(WIRE_ERR_INVALID_REQUEST, why, why_cap,
                    "a commit carries 1 to %u offsets, not %u", MD_GROUP_OFFSETS_MAX, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct md_committed *c = &offsets[i];
        if (c->topic_id == 0 || c->topic_id > MD_TOPIC_ID_MAX)
            return fail(WIRE_ERR_INVALID_REQUEST, why, why_cap, "%llu is not a topic id",
                        (unsigned long long)c->topic_id);
        if (c->offset > (uint64_t)INT64_MAX)
            return fail(WIRE_ERR_INVALID_REQUEST, why, why_cap,
                        "offset %llu of partition %u is above the largest offset",
                        (unsigned long long)c->offset, c->partition);
    }
    /* Apply refuses duplicates as malformed: they must never reach the log. */
    bool oom;
    if (has_duplicate(offsets, n, &oom))
        return fail(WIRE_ERR_INVALID_REQUEST, why, why_cap,
                    "a partition appears twice in one commit");
    if (oom)
        return fail(WIRE_ERR_UNKNOWN, why, why_cap, "out of memory");

    struct wire_writer w;
    wire_writer_init(&w, out, cap);
    wire_write_array(&w, MD_COMMIT_FIELDS);
    wire_write_uint(&w, MD_OP_FORMAT_VERSION);
    wire_write_uint(&w, MD_OP_COMMIT_OFFSETS);
    wire_write_str(&w, group, (uint32_t)group_len);
    wire_write_bool(&w, rewind);
    wire_write_array(&w, n);
    for (uint32_t i = 0; i < n && w.err == WIRE_OK; i++) {
        wire_write_array(&w, MD_COMMIT_ENTRY_FIELDS);
        wire_write_uint(&w, offsets[i].topic_id);
        wire_write_uint(&w, offsets[i].partition);
        wire_write_uint(&w, offsets[i].offset);
    }
    if (w.err != WIRE_OK)
        return fail(WIRE_ERR_BUFFER_FULL, why, why_cap,
                    "the commit of %u offsets does not fit in %zu bytes", n, cap);
    *len = w.len;
    return ok(why, why_cap);
}

/* ---- decoding and apply ----------------------------------------------------- */

/* An op decoded but not yet applied. A create's topic is owned here until it is inserted. */
struct md_op {
    int kind;
    struct md_topic *topic;          /* create */
    struct wire_bytes name;          /* delete, commit (the group): points into the payload */
    uint64_t topic_id;               /* delete */
    bool rewind;                     /* commit */
    struct md_committed *offsets;    /* commit: sorted by (topic_id, partition), distinct */
    uint32_t n_offsets;              /* commit: >= 1 */
};

/* Frees what a decoded op owns. */
static void op_release(struct md_op *op)
{
    md_topic_free(op->topic);
    op->topic = NULL;
    free(op->offsets);
    op->offsets = NULL;
}

static int read_retention(struct wire_reader *r, const char *field, int64_t *value)
{
    r->field = field;
    int err = wire_read_int(r, -1, INT64_MAX, value);
    if (err == WIRE_OK && *value == 0)
        err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
    return err;
}

/* The fields of a create op after the kind. On success op->topic is complete but for its id. */
static int decode_create(struct wire_reader *r, struct md_op *op)
{
    struct md_topic *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return WIRE_ERR_UNKNOWN;
    struct wire_bytes name;
    uint64_t partitions, rf;
    uint32_t n_assigned;
    int err;

    r->field = "name";
    if ((err = wire_read_str(r, WIRE_TOPIC_NAME_BYTES_MAX, &name)) != WIRE_OK)
        goto err_after_topic;
    if (!wire_topic_name_valid(name.ptr, name.len)) {
        err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
        goto err_after_topic;
    }
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = '\0';
    t->name_len = name.len;

    r->field = "partitions";
    if ((err = wire_read_uint(r, WIRE_PARTITIONS_MAX, &partitions)) != WIRE_OK)
        goto err_after_topic;
    if (partitions == 0) {
        err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
        goto err_after_topic;
    }
    r->field = "replication_factor";
    if ((err = wire_read_uint(r, WIRE_REPLICAS_MAX, &rf)) != WIRE_OK)
        goto err_after_topic;
    if (rf == 0) {
        err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
        goto err_after_topic;
    }
    t->n_partitions = (uint32_t)partitions;
    t->replication_factor = (uint32_t)rf;
    if ((err = read_retention(r, "retention_ms", &t->retention_ms)) != WIRE_OK)
        goto err_after_topic;
    if ((err = read_retention(r, "retention_bytes", &t->retention_bytes)) != WIRE_OK)
        goto err_after_topic;

    r->field = "assignment";
    if ((err = wire_read_array(r, WIRE_PARTITIONS_MAX, &n_assigned)) != WIRE_OK)
        goto err_after_topic;
    if (n_assigned != t->n_partitions) {
        err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
        goto err_after_topic;
    }
    /* Sized by a count checked against the limit, the declared partitions and the bytes left. */
    t->partitions = calloc(t->n_partitions, sizeof(*t->partitions));
    if (t->partitions == NULL) {
        err = WIRE_ERR_UNKNOWN;
        goto err_after_topic;
    }
    for (uint32_t p = 0; p < t->n_partitions; p++) {
        struct md_partition *part = &t->partitions[p];
        uint32_t n_replicas;
        r->field = "assignment";
        if ((err = wire_read_array(r, WIRE_REPLICAS_MAX, &n_replicas)) != WIRE_OK)
            goto err_after_topic;
        if (n_replicas != t->replication_factor) {
            err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
            goto err_after_topic;
        }
        r->field = "replica";
        for (uint32_t j = 0; j < n_replicas; j++) {
            uint64_t id;
            if ((err = wire_read_uint(r, UINT32_MAX, &id)) != WIRE_OK)
                goto err_after_topic;
            bool repeated = false;
            for (uint32_t k = 0; k < j; k++)
                repeated = repeated || part->replicas[k] == id;
            if (id == 0 || repeated) {
                err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
                goto err_after_topic;
            }
            part->replicas[j] = (uint32_t)id;
        }
        part->n_replicas = n_replicas;
    }
    op->topic = t;
    return WIRE_OK;

err_after_topic:
    md_topic_free(t);
    return err;
}

static int decode_delete(struct wire_reader *r, struct md_op *op)
{
    int err;
    r->field = "name";
    if ((err = wire_read_str(r, WIRE_TOPIC_NAME_BYTES_MAX, &op->name)) != WIRE_OK)
        return err;
    if (!wire_topic_name_valid(op->name.ptr, op->name.len))
        return wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
    r->field = "topic_id";
    if ((err = wire_read_uint(r, MD_TOPIC_ID_MAX, &op->topic_id)) != WIRE_OK)
        return err;
    if (op->topic_id == 0)
        return wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
    return WIRE_OK;
}

/* The fields of a commit op after the kind. On success op->offsets is sorted and distinct. */
static int decode_commit(struct wire_reader *r, struct md_op *op)
{
    int err, rewind;
    uint32_t n;
    r->field = "group";
    if ((err = wire_read_str(r, WIRE_GROUP_NAME_BYTES_MAX, &op->name)) != WIRE_OK)
        return err;
    if (!wire_topic_name_valid(op->name.ptr, op->name.len))
        return wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
    r->field = "rewind";
    if ((err = wire_read_bool(r, &rewind)) != WIRE_OK)
        return err;
    op->rewind = rewind != 0;
    r->field = "offsets";
    if ((err = wire_read_array(r, MD_GROUP_OFFSETS_MAX, &n)) != WIRE_OK)
        return err;
    if (n == 0) /* a group without offsets does not exist: nothing to commit is malformed */
        return wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
    /* Sized by a count checked against the limit and the bytes left. */
    op->offsets = malloc((size_t)n * sizeof(*op->offsets));
    if (op->offsets == NULL)
        return WIRE_ERR_UNKNOWN;
    for (uint32_t i = 0; i < n; i++) {
        struct md_committed *c = &op->offsets[i];
        uint32_t fields;
        uint64_t partition;
        r->field = "offsets";
        if ((err = wire_read_array(r, WIRE_ARRAY_ITEMS_MAX, &fields)) != WIRE_OK)
            return err;
        if (fields < MD_COMMIT_ENTRY_FIELDS)
            return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
        r->field = "topic_id";
        if ((err = wire_read_uint(r, MD_TOPIC_ID_MAX, &c->topic_id)) != WIRE_OK)
            return err;
        if (c->topic_id == 0)
            return wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
        r->field = "partition";
        if ((err = wire_read_uint(r, UINT32_MAX, &partition)) != WIRE_OK)
            return err;
        c->partition = (uint32_t)partition;
        r->field = "offset";
        if ((err = wire_read_uint(r, (uint64_t)INT64_MAX, &c->offset)) != WIRE_OK)
            return err;
        r->field = "extra element";
        for (uint32_t k = MD_COMMIT_ENTRY_FIELDS; k < fields; k++)
            if ((err = wire_skip(r)) != WIRE_OK)
                return err;
    }
    op->n_offsets = n;
    /* Apply works in key order, whatever order the op lists them in. */
    qsort(op->offsets, n, sizeof(*op->offsets), committed_qsort_cmp);
    for (uint32_t i = 1; i < n; i++)
        if (op->offsets[i - 1].topic_id == op->offsets[i].topic_id &&
            op->offsets[i - 1].partition == op->offsets[i].partition) {
            r->field = "offsets"; /* the same partition twice */
            return wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
        }
    return WIRE_OK;
}

/*
 * Decodes a whole op: the array, the version, the kind, its fields, any extra
 * elements (skipped), and nothing after the array. On error the op owns nothing.
 */
static int decode_op(struct wire_reader *r, struct md_op *op)
{
    uint32_t count;
    uint64_t version, kind;
    int err;

    memset(op, 0, sizeof(*op));
    r->field = "op";
    if ((err = wire_read_array(r, WIRE_ARRAY_ITEMS_MAX, &count)) != WIRE_OK)
        return err;
    if (count < MD_HEADER_FIELDS)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    r->field = "format_version";
    if ((err = wire_read_uint(r, UINT32_MAX, &version)) != WIRE_OK)
        return err;
    if (version != MD_OP_FORMAT_VERSION)
        return wire_reader_fail(r, WIRE_ERR_UNSUPPORTED_VERSION);
    r->field = "kind";
    if ((err = wire_read_uint(r, UINT32_MAX, &kind)) != WIRE_OK)
        return err;

    uint32_t known;
    if (kind == MD_OP_CREATE_TOPIC)
        known = MD_CREATE_FIELDS;
    else if (kind == MD_OP_DELETE_TOPIC)
        known = MD_DELETE_FIELDS;
    else if (kind == MD_OP_ALLOC_PRODUCER)
        known = MD_HEADER_FIELDS;
    else if (kind == MD_OP_COMMIT_OFFSETS)
        known = MD_COMMIT_FIELDS;
    else
        return wire_reader_fail(r, WIRE_ERR_UNKNOWN_TYPE);
    r->field = "op";
    if (count < known)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);

    op->kind = (int)kind;
    if (kind == MD_OP_CREATE_TOPIC)
        err = decode_create(r, op);
    else if (kind == MD_OP_DELETE_TOPIC)
        err = decode_delete(r, op);
    else if (kind == MD_OP_COMMIT_OFFSETS)
        err = decode_commit(r, op);
    if (err != WIRE_OK) {
        op_release(op);
        return err;
    }
    r->field = "extra element";
    for (uint32_t i = known; i < count && err == WIRE_OK; i++)
        err = wire_skip(r);
    if (err == WIRE_OK && wire_reader_remaining(r) != 0) {
        r->field = "end of op";
        err = wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
    }
    if (err != WIRE_OK)
        op_release(op);
    return err;
}

/* Makes room for one more topic in both tables; false (nothing lost) if memory ran out. */
static bool reserve_one(struct md_state *s)
{
    if (s->count < s->cap)
        return true;
    if (s->cap > UINT32_MAX / 2)
        return false;
    uint32_t cap = s->cap == 0 ? 16 : s->cap * 2;
    struct md_topic **by_name = realloc(s->by_name, cap * sizeof(*by_name));
    if (by_name == NULL)
        return false;
    s->by_name = by_name;
    struct md_topic **by_id = realloc(s->by_id, cap * sizeof(*by_id));
    if (by_id == NULL)
        return false; /* by_name is merely larger than cap says */
    s->by_id = by_id;
    s->cap = cap;
    return true;
}

static void insert_topic(struct md_state *s, struct md_topic *t)
{
    assert(s->count < s->cap);
    uint32_t at_name = lower_bound_name(s, t->name, t->name_len);
    uint32_t at_id = lower_bound_id(s, t->id);
    assert(at_id == s->count && "ids grow with the Raft index");
    memmove(&s->by_name[at_name + 1], &s->by_name[at_name],
            (s->count - at_name) * sizeof(*s->by_name));
    s->by_name[at_name] = t;
    s->by_id[at_id] = t;
    s->count++;
}

static void remove_topic(struct md_state *s, const struct md_topic *t)
{
    uint32_t at_name = lower_bound_name(s, t->name, t->name_len);
    uint32_t at_id = lower_bound_id(s, t->id);
    assert(at_name < s->count && s->by_name[at_name] == t);
    assert(at_id < s->count && s->by_id[at_id] == t);
    memmove(&s->by_name[at_name], &s->by_name[at_name + 1],
            (s->count - at_name - 1) * sizeof(*s->by_name));
    memmove(&s->by_id[at_id], &s->by_id[at_id + 1], (s->count - at_id - 1) * sizeof(*s->by_id));
    s->count--;
}

static int apply_create(struct md_state *s, uint64_t index, struct md_topic *t,
                        struct md_apply_result *res)
{
    if (index > MD_TOPIC_ID_MAX) {
        md_topic_free(t);
        res->error = fail(WIRE_ERR_LIMIT_EXCEEDED, res->why, sizeof(res->why),
                          "index %llu is above the largest topic id", (unsigned long long)index);
        return WIRE_OK;
    }
    if (md_find(s, t->name, t->name_len) != NULL) {
        res->error = fail(WIRE_ERR_TOPIC_EXISTS, res->why, sizeof(res->why),
                          "topic '%s' already exists", t->name);
        md_topic_free(t);
        return WIRE_OK;
    }
    if (!reserve_one(s)) {
        md_topic_free(t);
        return fail(WIRE_ERR_UNKNOWN, res->why, sizeof(res->why), "out of memory");
    }
    t->id = index;
    insert_topic(s, t);
    res->created = t;
    return WIRE_OK;
}

static int apply_delete(struct md_state *s, const struct md_op *op, struct md_apply_result *res)
{
    const struct md_topic *found = md_find(s, (const char *)op->name.ptr, op->name.len);
    if (found == NULL || found->id != op->topic_id) {
        res->error = fail(WIRE_ERR_UNKNOWN_TOPIC, res->why, sizeof(res->why),
                          "topic '%.*s' with id %llu does not exist", (int)op->name.len,
                          (const char *)op->name.ptr, (unsigned long long)op->topic_id);
        return WIRE_OK;
    }
    struct md_topic *t = (struct md_topic *)found; /* the state owns it; handed to the caller */
    remove_topic(s, t);
    drop_topic_offsets(s, t->id);
    res->removed = t;
    return WIRE_OK;
}

/* Makes room for one more offset group; false (nothing lost) if memory ran out. */
static bool reserve_group(struct md_state *s)
{
    if (s->group_count < s->group_cap)
        return true;
    uint32_t cap = s->group_cap == 0 ? 16 : s->group_cap * 2;
    struct md_offset_group **groups = realloc(s->groups, cap * sizeof(*groups));
    if (groups == NULL)
        return false;
    s->groups = groups;
    s->group_cap = cap;
    return true;
}

/*
 * Every refusal is decided before anything changes, and every allocation is
 * made before anything changes too, so the op takes effect whole or not at
 * all. Checks in order: every topic exists and has the partition (in key
 * order); then, unless rewind, no offset below the committed one; then the
 * limits. Takes op->offsets when it makes a new group.
 */
static int apply_commit(struct md_state *s, struct md_op *op, struct md_apply_result *res)
{
    const struct md_topic *t = NULL;
    for (uint32_t i = 0; i < op->n_offsets; i++) {
        const struct md_committed *c = &op->offsets[i];
        if (t == NULL || t->id != c->topic_id)
            t = md_find_id(s, c->topic_id);
        if (t == NULL) {
            res->error = fail(WIRE_ERR_UNKNOWN_TOPIC, res->why, sizeof(res->why),
                              "topic id %llu does not exist", (unsigned long long)c->topic_id);
            return WIRE_OK;
        }
        if (c->partition >= t->n_partitions) {
            res->error = fail(WIRE_ERR_UNKNOWN_PARTITION, res->why, sizeof(res->why),
                              "topic '%s' has no partition %u", t->name, c->partition);
            return WIRE_OK;
        }
    }

    uint32_t at = lower_bound_group(s, op->name.ptr, op->name.len);
    struct md_offset_group *g = NULL;
    if (at < s->group_count &&
        name_cmp(s->groups[at]->name, s->groups[at]->name_len, op->name.ptr, op->name.len) == 0)
        g = s->groups[at];

    uint32_t missing = 0; /* offsets new to the group */
    for (uint32_t i = 0; i < op->n_offsets; i++) {
        const struct md_committed *c = &op->offsets[i];
        const struct md_committed *old = g != NULL ? find_committed(g, c->topic_id, c->partition)
                                                   : NULL;
        if (old == NULL) {
            missing++;
        } else if (!op->rewind && c->offset < old->offset) {
            t = md_find_id(s, c->topic_id);
            res->error = fail(WIRE_ERR_OFFSET_BACKWARDS, res->why, sizeof(res->why),
                              "%s/%u: %llu is below the committed %llu", t->name, c->partition,
                              (unsigned long long)c->offset, (unsigned long long)old->offset);
            return WIRE_OK;
        }
    }
    if (g == NULL && s->group_count >= MD_OFFSET_GROUPS_MAX) {
        res->error = fail(WIRE_ERR_LIMIT_EXCEEDED, res->why, sizeof(res->why),
                          "%u groups already have committed offsets", s->group_count);
        return WIRE_OK;
    }
    if (g != NULL && (uint64_t)g->count + missing > MD_GROUP_OFFSETS_MAX) {
        res->error = fail(WIRE_ERR_LIMIT_EXCEEDED, res->why, sizeof(res->why),
                          "group '%s' would have %llu committed offsets, above %u", g->name,
                          (unsigned long long)g->count + missing, MD_GROUP_OFFSETS_MAX);
        return WIRE_OK;
    }

    if (g == NULL) {
        /* A new group takes the decoded offsets as they are: sorted and distinct. */
        if (!reserve_group(s))
            return fail(WIRE_ERR_UNKNOWN, res->why, sizeof(res->why), "out of memory");
        g = calloc(1, sizeof(*g));
        if (g == NULL)
            return fail(WIRE_ERR_UNKNOWN, res->why, sizeof(res->why), "out of memory");
        memcpy(g->name, op->name.ptr, op->name.len);
        g->name[op->name.len] = '\0';
        g->name_len = op->name.len;
        g->offsets = op->offsets;
        g->count = g->cap = op->n_offsets;
        op->offsets = NULL;
        memmove(&s->groups[at + 1], &s->groups[at], (s->group_count - at) * sizeof(*s->groups));
        s->groups[at] = g;
        s->group_count++;
        return WIRE_OK;
    }
    if (missing == 0) {
        /* The usual commit: partitions the group has committed before, updated in place. */
        for (uint32_t i = 0; i < op->n_offsets; i++)
            find_committed(g, op->offsets[i].topic_id, op->offsets[i].partition)->offset =
                op->offsets[i].offset;
        return WIRE_OK;
    }
    /* Some partitions are new: merge the two sorted lists into a new array. */
    uint32_t count = g->count + missing;
    struct md_committed *merged = malloc((size_t)count * sizeof(*merged));
    if (merged == NULL)
        return fail(WIRE_ERR_UNKNOWN, res->why, sizeof(res->why), "out of memory");
    uint32_t i = 0, j = 0, k = 0;
    while (i < g->count || j < op->n_offsets) {
        int c;
        if (i == g->count)
            c = 1;
        else if (j == op->n_offsets)
            c = -1;
        else
            c = committed_cmp(g->offsets[i].topic_id, g->offsets[i].partition,
                              op->offsets[j].topic_id, op->offsets[j].partition);
        assert(k < count);
        if (c < 0) {
            merged[k++] = g->offsets[i++];
        } else {
            merged[k++] = op->offsets[j++];
            if (c == 0)
                i++;
        }
    }
    assert(k == count);
    free(g->offsets);
    g->offsets = merged;
    g->count = g->cap = count;
    return WIRE_OK;
}

int md_apply(struct md_state *s, uint64_t index, const void *payload, size_t len,
             struct md_apply_result *res)
{
    assert(index > s->applied_index && "the metadata log is applied in order, once");
    memset(res, 0, sizeof(*res));

    struct wire_reader r;
    struct md_op op;
    wire_reader_init(&r, payload, len);
    int err = decode_op(&r, &op);
    if (err != WIRE_OK) {
        if (r.err != WIRE_OK)
            wire_reader_describe(&r, res->why, sizeof(res->why));
        else
            fail(err, res->why, sizeof(res->why), "out of memory");
        return err;
    }

    res->kind = op.kind;
    if (op.kind == MD_OP_CREATE_TOPIC)
        err = apply_create(s, index, op.topic, res);
    else if (op.kind == MD_OP_DELETE_TOPIC)
        err = apply_delete(s, &op, res);
    else if (op.kind == MD_OP_COMMIT_OFFSETS)
        err = apply_commit(s, &op, res);
    free(op.offsets); /* a create's topic went to apply_create, which keeps or frees it */
    /* MD_OP_ALLOC_PRODUCER changes no state: its index is the id. */
    if (err != WIRE_OK) {
        res->kind = 0;
        return err;
    }
    s->applied_index = index;
    return WIRE_OK;
}
