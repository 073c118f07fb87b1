/* The consumer-group coordinator: the controller answers OFFSET_COMMIT .. DESCRIBE_GROUP, membership in memory (cgroup.h), offsets through the metadata Raft group. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/blog.h"
#include "broker/broker.h"
#include "wire/validate.h"

/*
 * docs/protocol.md, "Consumer groups". The controller (metadata leader) is
 * every group's coordinator. Membership is soft state: it belongs to one
 * metadata term of this broker and is dropped when that ends (coord_sync_role),
 * after which members get UNKNOWN_MEMBER or NOT_LEADER and join the next
 * coordinator, declaring what they own. Committed offsets are metadata ops,
 * so every broker has them and a new coordinator starts with all of them.
 */

#define COORD_WHY_BYTES 512u

/* ---- topic lookups for cgroup.c ----------------------------------------------------- */

static bool topics_find(void *ctx, const char *name, size_t len, uint64_t *topic_id, uint32_t *n_partitions)
{
    const struct md_topic *t = md_find(ctx, name, len);
    if (t == NULL)
        return false;
    *topic_id = t->id;
    *n_partitions = t->n_partitions;
    return true;
}

static const char *topics_name_of(void *ctx, uint64_t topic_id)
{
    const struct md_topic *t = md_find_id(ctx, topic_id);
    return t != NULL ? t->name : NULL;
}

static void log_event(void *ctx, const struct cg_event *ev)
{
    (void)ctx;
    const char *g = ev->group->name;
    switch (ev->kind) {
    case CG_EVENT_JOIN: {
        const struct cg_member *m = cg_member_find(ev->group, ev->member_id, strlen(ev->member_id));
        blog(BLOG_INFO, "groups", "group %s: member %s joined (client id \"%s\", %u topics, session "
             "timeout %u ms, %u partitions claimed; %u members)", g, ev->member_id,
             m != NULL ? m->client_id : "", m != NULL ? m->n_topics : 0,
             m != NULL ? m->session_timeout_ms : 0, m != NULL ? m->n_owned : 0, ev->group->n_members);
        break;
    }
    case CG_EVENT_LEAVE:
        blog(BLOG_INFO, "groups", "group %s: member %s left", g, ev->member_id);
        break;
    case CG_EVENT_EXPIRE:
        blog(BLOG_INFO, "groups", "group %s: member %s expired (no heartbeat within its session "
             "timeout)", g, ev->member_id);
        break;
    case CG_EVENT_REBALANCE:
        blog(BLOG_INFO, "groups", "group %s: rebalanced to generation %" PRIu64 ", %u partitions "
             "moved, %u members", g, ev->generation, ev->moved, ev->group->n_members);
        break;
    default:
        break;
    }
}

void coord_init(struct broker *b)
{
    struct cg_topics t = {.ctx = &b->md, .find = topics_find, .name_of = topics_name_of};
    cg_registry_init(&b->coord, b->cfg.node_id, b->cfg.election_timeout_max_ms, &t);
    b->coord.on_event = log_event;
    b->coord_active = false;
}

void coord_free(struct broker *b)
{
    cg_registry_free(&b->coord);
    b->coord_active = false;
}

/* Membership belongs to one term of this broker's metadata leadership. */
static void coord_sync_role(struct broker *b)
{
    bool leader = b->meta != NULL && !b->meta->failed && group_is_leader(b->meta) && !b->stopping;
    if (!leader) {
        if (b->coord_active) {
            blog(BLOG_INFO, "groups", "no longer the coordinator: %u groups' membership dropped",
                 b->coord.n_groups);
            cg_registry_reset(&b->coord, 0, b->now_ms);
            b->coord_active = false;
        }
        return;
    }
    if (b->coord_active && b->coord.term == b->meta->term)
        return;
    if (b->coord_active)
        blog(BLOG_INFO, "groups", "new metadata term %" PRIu64 ": %u groups' membership dropped",
             b->meta->term, b->coord.n_groups);
    cg_registry_reset(&b->coord, b->meta->term, b->now_ms);
    b->coord_active = true;
    blog(BLOG_INFO, "groups", "coordinating consumer groups (metadata term %" PRIu64 ")", b->meta->term);
}

void coord_tick(struct broker *b)
{
    coord_sync_role(b);
    if (b->coord_active)
        cg_expire(&b->coord, b->now_ms);
}

void coord_topics_changed(struct broker *b)
{
    coord_sync_role(b);
    if (b->coord_active)
        cg_rebalance_all(&b->coord);
}

/*
 * A new leader's state machine may lag what was committed before its term
 * (offsets, topics). Its own election no-op is the first entry of its term:
 * once the applied entry has the current term, everything before is
 * applied too.
 */
static bool caught_up(struct broker *b)
{
    struct raft_status st;
    raft_status(b->meta->raft, &st);
    if (st.applied == 0)
        return false;
    const struct raft_entry *e = raft_entry_get(b->meta->raft, st.applied);
    return e != NULL && e->term == st.term;
}

/* ---- helpers --------------------------------------------------------------------------- */

static struct wire_frame *response(struct broker *b, const struct client_ref *c, struct wire_frame *resp)
{
    struct wire_frame fake = {.type = c->type, .correlation_id = c->correlation_id};
    wire_frame_init_response(resp, &fake, WIRE_OK, NULL);
    wire_arena_reset(&b->resp_arena);
    return resp;
}

static bool group_name_ok(struct broker *b, const struct client_ref *c, const struct wire_bytes *name)
{
    if (wire_topic_name_valid(name->ptr, name->len))
        return true;
    char why[160];
    snprintf(why, sizeof why, "invalid group name: 1..%u bytes of [A-Za-z0-9._-], not \".\" or \"..\"",
             WIRE_GROUP_NAME_BYTES_MAX);
    client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, why);
    return false;
}

static bool member_id_ok(struct broker *b, const struct client_ref *c, const struct wire_bytes *id)
{
    if (id->len <= WIRE_MEMBER_ID_BYTES_MAX)
        return true;
    char why[128];
    snprintf(why, sizeof why, "member_id is longer than %u bytes", WIRE_MEMBER_ID_BYTES_MAX);
    client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, why);
    return false;
}

/* Controller, serving, and caught up with its term (see caught_up). */
static bool coordinator_ready(struct broker *b, const struct client_ref *c, bool need_caught_up)
{
    if (!control_controller_check(b, c))
        return false;
    coord_sync_role(b);
    if (need_caught_up && !caught_up(b)) {
        client_respond_error(b, c, WIRE_ERR_LEADER_NOT_AVAILABLE,
                             "the coordinator is still catching up; retry shortly");
        return false;
    }
    return true;
}

/*
 * Partitions named in a request, as keys. Unknown topics and partitions
 * beyond a topic's count are dropped (a member's claims on what no longer
 * exists mean nothing). Returns NULL only when out of memory.
 */
static uint64_t *claims_to_keys(struct broker *b, const struct wire_topic_partition *items, uint32_t n,
                                uint32_t *out_n)
{
    uint64_t *keys = malloc((n != 0 ? n : 1) * sizeof(*keys));
    if (keys == NULL)
        return NULL;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct md_topic *t = md_find(&b->md, (const char *)items[i].topic.ptr, items[i].topic.len);
        if (t != NULL && items[i].partition < t->n_partitions)
            keys[k++] = md_group_id(t->id, items[i].partition);
    }
    *out_n = k;
    return keys;
}

/* Keys as (topic, partition) items in the response arena; keys of deleted topics are left out. */
static bool keys_to_items(struct broker *b, const uint64_t *keys, uint32_t n,
                          struct wire_topic_partition **items, uint32_t *count)
{
    *items = wire_arena_alloc(&b->resp_arena, (n != 0 ? n : 1) * sizeof(**items));
    if (*items == NULL)
        return false;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct md_topic *t = md_find_id(&b->md, md_group_topic(keys[i]));
        if (t == NULL)
            continue;
        (*items)[k].topic = (struct wire_bytes){(const uint8_t *)t->name, t->name_len};
        (*items)[k].partition = md_group_partition(keys[i]);
        k++;
    }
    *count = k;
    return true;
}

static void respond_too_big(struct broker *b, const struct client_ref *c, const char *what)
{
    char why[160];
    snprintf(why, sizeof why, "the %s does not fit one response", what);
    client_respond_error(b, c, WIRE_ERR_LIMIT_EXCEEDED, why);
}

/* JOIN and SYNC answers: generation, effective assignment, pending. */
static void respond_assignment(struct broker *b, const struct client_ref *c, const struct wire_bytes *group,
                               const struct cg_member *m)
{
    const struct cg_group *g = cg_group_find(&b->coord, (const char *)group->ptr, group->len);
    struct wire_frame resp;
    response(b, c, &resp);
    uint64_t *eff = wire_arena_alloc(&b->resp_arena, (m->n_target != 0 ? m->n_target : 1) * sizeof(*eff));
    if (g == NULL || eff == NULL) {
        respond_too_big(b, c, "assignment");
        return;
    }
    uint32_t n = cg_effective(g, m, b->now_ms, eff);
    struct wire_topic_partition *items;
    uint32_t count;
    if (!keys_to_items(b, eff, n, &items, &count)) {
        respond_too_big(b, c, "assignment");
        return;
    }
    uint32_t pending = cg_pending(g, m, b->now_ms);
    if (c->type == WIRE_JOIN_GROUP) {
        struct wire_join_group_resp *r = &resp.body.join_group_resp;
        r->member_id = wire_bytes_str(m->id);
        r->generation = m->generation_told;
        r->assigned.items = items;
        r->assigned.count = count;
        r->pending = pending;
    } else {
        struct wire_sync_group_resp *r = &resp.body.sync_group_resp;
        r->generation = m->generation_told;
        r->assigned.items = items;
        r->assigned.count = count;
        r->pending = pending;
    }
    client_respond(b, c, &resp);
}

/* ---- JOIN, SYNC, HEARTBEAT, LEAVE ------------------------------------------------------ */

static void join_group(struct broker *b, const struct client_ref *c, const struct wire_join_group_req *req)
{
    if (!group_name_ok(b, c, &req->group) || !coordinator_ready(b, c, true))
        return;
    if (req->owned.count > CG_OWNED_MAX) {
        char why[96];
        snprintf(why, sizeof why, "at most %u owned partitions, not %u", CG_OWNED_MAX, req->owned.count);
        client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, why);
        return;
    }
    uint32_t n_topics = req->topics.count;
    const char **names = calloc(n_topics != 0 ? n_topics : 1, sizeof(*names));
    size_t *lens = calloc(n_topics != 0 ? n_topics : 1, sizeof(*lens));
    uint32_t n_owned = 0;
    uint64_t *owned = claims_to_keys(b, req->owned.items, req->owned.count, &n_owned);
    if (names == NULL || lens == NULL || owned == NULL) {
        client_respond_error(b, c, WIRE_ERR_UNKNOWN, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n_topics; i++) {
        names[i] = (const char *)req->topics.items[i].ptr;
        lens[i] = req->topics.items[i].len;
    }
    struct cg_join j = {
        .group = (const char *)req->group.ptr, .group_len = req->group.len,
        .client_id = (const char *)req->client_id.ptr, .client_id_len = req->client_id.len,
        .instance_id = (const char *)req->instance_id.ptr, .instance_id_len = req->instance_id.len,
        .topics = names, .topic_lens = lens, .n_topics = n_topics,
        .owned = owned, .n_owned = n_owned,
        .session_timeout_ms = req->session_timeout_ms,
        .group_has_offsets = md_offset_group_find(&b->md, (const char *)req->group.ptr, req->group.len) != NULL,
    };
    char why[COORD_WHY_BYTES] = "";
    struct cg_member *m = NULL;
    int rc = cg_join(&b->coord, &j, b->now_ms, &m, why, sizeof why);
    if (rc != WIRE_OK)
        client_respond_error(b, c, rc, why);
    else
        respond_assignment(b, c, &req->group, m);
out:
    free(names);
    free(lens);
    free(owned);
}

static void sync_group(struct broker *b, const struct client_ref *c, const struct wire_sync_group_req *req)
{
    if (!group_name_ok(b, c, &req->group) || !member_id_ok(b, c, &req->member_id) ||
        !coordinator_ready(b, c, true))
        return;
    uint32_t n = 0;
    uint64_t *owned = claims_to_keys(b, req->owned.items, req->owned.count, &n);
    if (owned == NULL) {
        client_respond_error(b, c, WIRE_ERR_UNKNOWN, "out of memory");
        return;
    }
    char why[COORD_WHY_BYTES] = "";
    struct cg_member *m = NULL;
    int rc = req->owned.count > CG_OWNED_MAX ? WIRE_ERR_INVALID_REQUEST
             : cg_sync(&b->coord, (const char *)req->group.ptr, req->group.len,
                       (const char *)req->member_id.ptr, req->member_id.len, owned, n, b->now_ms, &m,
                       why, sizeof why);
    if (rc == WIRE_ERR_INVALID_REQUEST && why[0] == '\0')
        snprintf(why, sizeof why, "at most %u owned partitions, not %u", CG_OWNED_MAX, req->owned.count);
    free(owned);
    if (rc != WIRE_OK)
        client_respond_error(b, c, rc, why);
    else
        respond_assignment(b, c, &req->group, m);
}

static void heartbeat(struct broker *b, const struct client_ref *c, const struct wire_heartbeat_req *req)
{
    if (!group_name_ok(b, c, &req->group) || !member_id_ok(b, c, &req->member_id) ||
        !coordinator_ready(b, c, false))
        return;
    char why[COORD_WHY_BYTES] = "";
    uint64_t generation = 0;
    int rc = cg_heartbeat(&b->coord, (const char *)req->group.ptr, req->group.len,
                          (const char *)req->member_id.ptr, req->member_id.len, b->now_ms, &generation,
                          why, sizeof why);
    if (rc != WIRE_OK) {
        client_respond_error(b, c, rc, why);
        return;
    }
    struct wire_frame resp;
    response(b, c, &resp);
    resp.body.heartbeat_resp.generation = generation;
    client_respond(b, c, &resp);
}

static void leave_group(struct broker *b, const struct client_ref *c, const struct wire_leave_group_req *req)
{
    if (!group_name_ok(b, c, &req->group) || !member_id_ok(b, c, &req->member_id) ||
        !coordinator_ready(b, c, false))
        return;
    char why[COORD_WHY_BYTES] = "";
    int rc = cg_leave(&b->coord, (const char *)req->group.ptr, req->group.len,
                      (const char *)req->member_id.ptr, req->member_id.len, why, sizeof why);
    if (rc != WIRE_OK) {
        client_respond_error(b, c, rc, why);
        return;
    }
    struct wire_frame resp;
    client_respond(b, c, response(b, c, &resp));
}

/* ---- OFFSET_COMMIT, OFFSET_FETCH ---------------------------------------------------- */

static int cmp_committed(const void *a, const void *b)
{
    const struct md_committed *x = a, *y = b;
    if (x->topic_id != y->topic_id)
        return x->topic_id < y->topic_id ? -1 : 1;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static void offset_commit(struct broker *b, const struct client_ref *c, const struct wire_offset_commit_req *req)
{
    char why[COORD_WHY_BYTES] = "";
    uint32_t n = req->offsets.count;
    if (!group_name_ok(b, c, &req->group) || !member_id_ok(b, c, &req->member_id))
        return;
    if (n == 0 || n > MD_GROUP_OFFSETS_MAX) {
        snprintf(why, sizeof why, "a commit carries 1..%u offsets, not %u", MD_GROUP_OFFSETS_MAX, n);
        client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, why);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        if (req->offsets.items[i].offset < 0) {
            const struct wire_partition_offset *o = &req->offsets.items[i];
            snprintf(why, sizeof why, "%.*s/%u: offset %" PRId64 " is negative", (int)o->topic.len,
                     (const char *)o->topic.ptr, o->partition, o->offset);
            client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, why);
            return;
        }
    if (!coordinator_ready(b, c, true))
        return;
    struct md_committed *offs = malloc(n * sizeof(*offs));
    uint64_t *keys = malloc(n * sizeof(*keys));
    uint8_t *op = NULL;
    if (offs == NULL || keys == NULL) {
        client_respond_error(b, c, WIRE_ERR_UNKNOWN, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct wire_partition_offset *o = &req->offsets.items[i];
        const struct md_topic *t = md_find(&b->md, (const char *)o->topic.ptr, o->topic.len);
        if (t == NULL) {
            snprintf(why, sizeof why, "unknown topic %.*s", (int)(o->topic.len < 255 ? o->topic.len : 255),
                     (const char *)o->topic.ptr);
            client_respond_error(b, c, WIRE_ERR_UNKNOWN_TOPIC, why);
            goto out;
        }
        if (o->partition >= t->n_partitions) {
            snprintf(why, sizeof why, "%s has %u partitions; there is no partition %u", t->name,
                     t->n_partitions, o->partition);
            client_respond_error(b, c, WIRE_ERR_UNKNOWN_PARTITION, why);
            goto out;
        }
        offs[i] = (struct md_committed){.topic_id = t->id, .partition = o->partition,
                                        .offset = (uint64_t)o->offset};
        keys[i] = md_group_id(t->id, o->partition);
    }
    qsort(offs, n, sizeof(*offs), cmp_committed);
    for (uint32_t i = 1; i < n; i++)
        if (cmp_committed(&offs[i - 1], &offs[i]) == 0) {
            const struct md_topic *t = md_find_id(&b->md, offs[i].topic_id);
            snprintf(why, sizeof why, "%s/%u appears twice in one commit", t->name, offs[i].partition);
            client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, why);
            goto out;
        }
    int rc = cg_check_commit(&b->coord, (const char *)req->group.ptr, req->group.len,
                             (const char *)req->member_id.ptr, req->member_id.len, req->generation, keys,
                             n, b->now_ms, why, sizeof why);
    if (rc != WIRE_OK) {
        client_respond_error(b, c, rc, why);
        goto out;
    }
    if (!req->rewind)
        for (uint32_t i = 0; i < n; i++) {
            uint64_t committed;
            if (md_committed_offset(&b->md, (const char *)req->group.ptr, req->group.len, offs[i].topic_id,
                                    offs[i].partition, &committed) &&
                offs[i].offset < committed) {
                const struct md_topic *t = md_find_id(&b->md, offs[i].topic_id);
                snprintf(why, sizeof why, "%s/%u: %" PRIu64 " is below the committed %" PRIu64, t->name,
                         offs[i].partition, offs[i].offset, committed);
                client_respond_error(b, c, WIRE_ERR_OFFSET_BACKWARDS, why);
                goto out;
            }
        }
    size_t cap = md_commit_op_bytes_max(n), len = 0;
    op = malloc(cap);
    if (op == NULL) {
        client_respond_error(b, c, WIRE_ERR_UNKNOWN, "out of memory");
        goto out;
    }
    rc = md_encode_commit_offsets((const char *)req->group.ptr, req->group.len, req->rewind, offs, n, op, cap,
                                  &len, why, sizeof why);
    if (rc != WIRE_OK)
        client_respond_error(b, c, rc, why);
    else
        control_propose_op(b, c, op, len);
out:
    free(offs);
    free(keys);
    free(op);
}

/* Every committed offset of a group, as response items (topics deleted since are left out). */
static bool fill_group_offsets(struct broker *b, const struct md_offset_group *og,
                               struct wire_partition_offset **items, uint32_t *count)
{
    uint32_t n = og != NULL ? og->count : 0;
    *items = wire_arena_alloc(&b->resp_arena, (n != 0 ? n : 1) * sizeof(**items));
    if (*items == NULL)
        return false;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct md_topic *t = md_find_id(&b->md, og->offsets[i].topic_id);
        if (t == NULL)
            continue;
        (*items)[k++] = (struct wire_partition_offset){
            .topic = {(const uint8_t *)t->name, t->name_len},
            .partition = og->offsets[i].partition,
            .offset = (int64_t)og->offsets[i].offset};
    }
    *count = k;
    return true;
}

static void offset_fetch(struct broker *b, const struct client_ref *c, const struct wire_offset_fetch_req *req)
{
    char why[COORD_WHY_BYTES] = "";
    if (!group_name_ok(b, c, &req->group))
        return;
    if (req->topics.count > WIRE_GROUP_TOPICS_MAX) {
        snprintf(why, sizeof why, "at most %u topics per OFFSET_FETCH, not %u", WIRE_GROUP_TOPICS_MAX,
                 req->topics.count);
        client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, why);
        return;
    }
    if (!coordinator_ready(b, c, true))
        return;
    const char *group = (const char *)req->group.ptr;
    struct wire_frame resp;
    response(b, c, &resp);
    struct wire_offset_fetch_resp *r = &resp.body.offset_fetch_resp;
    if (req->topics.count == 0) {
        if (!fill_group_offsets(b, md_offset_group_find(&b->md, group, req->group.len), &r->offsets.items,
                                &r->offsets.count)) {
            respond_too_big(b, c, "offset list");
            return;
        }
        client_respond(b, c, &resp);
        return;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < req->topics.count; i++) {
        const struct wire_bytes *name = &req->topics.items[i];
        const struct md_topic *t = md_find(&b->md, (const char *)name->ptr, name->len);
        if (t == NULL) {
            snprintf(why, sizeof why, "unknown topic %.*s", (int)(name->len < 255 ? name->len : 255),
                     (const char *)name->ptr);
            client_respond_error(b, c, WIRE_ERR_UNKNOWN_TOPIC, why);
            return;
        }
        total += t->n_partitions;
    }
    if (total > WIRE_ARRAY_ITEMS_MAX) {
        respond_too_big(b, c, "offset list");
        return;
    }
    r->offsets.items = wire_arena_alloc(&b->resp_arena, (total != 0 ? total : 1) * sizeof(*r->offsets.items));
    if (r->offsets.items == NULL) {
        respond_too_big(b, c, "offset list");
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < req->topics.count; i++) {
        const struct wire_bytes *name = &req->topics.items[i];
        const struct md_topic *t = md_find(&b->md, (const char *)name->ptr, name->len);
        for (uint32_t p = 0; p < t->n_partitions; p++) {
            uint64_t committed;
            bool has = md_committed_offset(&b->md, group, req->group.len, t->id, p, &committed);
            r->offsets.items[k++] = (struct wire_partition_offset){
                .topic = {(const uint8_t *)t->name, t->name_len}, .partition = p,
                .offset = has ? (int64_t)committed : -1};
        }
    }
    r->offsets.count = k;
    client_respond(b, c, &resp);
}

/* ---- LIST_GROUPS, DESCRIBE_GROUP ------------------------------------------------------- */

static int name_cmp(const char *a, size_t alen, const char *b2, size_t blen)
{
    int c = memcmp(a, b2, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static void list_groups(struct broker *b, const struct client_ref *c)
{
    if (!coordinator_ready(b, c, true))
        return;
    struct wire_frame resp;
    response(b, c, &resp);
    struct wire_list_groups_resp *r = &resp.body.list_groups_resp;
    uint32_t nm = b->coord.n_groups, no = md_offset_group_count(&b->md);
    uint64_t cap = (uint64_t)nm + no;
    if (cap > WIRE_ARRAY_ITEMS_MAX) {
        respond_too_big(b, c, "group list");
        return;
    }
    r->groups.items = wire_arena_alloc(&b->resp_arena, (cap != 0 ? cap : 1) * sizeof(*r->groups.items));
    if (r->groups.items == NULL) {
        respond_too_big(b, c, "group list");
        return;
    }
    /* Both lists are sorted by name the same way: merge them. */
    uint32_t i = 0, j = 0, k = 0;
    while (i < nm || j < no) {
        const struct cg_group *g = i < nm ? b->coord.groups[i] : NULL;
        const struct md_offset_group *og = j < no ? md_offset_group_at(&b->md, j) : NULL;
        int cmp = g == NULL ? 1 : og == NULL ? -1 : name_cmp(g->name, g->name_len, og->name, og->name_len);
        struct wire_group_summary *s = &r->groups.items[k++];
        memset(s, 0, sizeof(*s));
        if (cmp <= 0) {
            s->group = (struct wire_bytes){(const uint8_t *)g->name, g->name_len};
            const char *state = cg_group_state(g, b->now_ms);
            s->state = wire_bytes_str(state);
            s->members = g->n_members;
            s->generation = g->generation;
            i++;
            if (cmp == 0)
                j++;
        } else {
            s->group = (struct wire_bytes){(const uint8_t *)og->name, og->name_len};
            s->state = (struct wire_bytes){(const uint8_t *)"empty", 5};
            j++;
        }
    }
    r->groups.count = k;
    client_respond(b, c, &resp);
}

static void describe_group(struct broker *b, const struct client_ref *c, const struct wire_describe_group_req *req)
{
    if (!group_name_ok(b, c, &req->group) || !coordinator_ready(b, c, true))
        return;
    const char *name = (const char *)req->group.ptr;
    const struct cg_group *g = cg_group_find(&b->coord, name, req->group.len);
    const struct md_offset_group *og = md_offset_group_find(&b->md, name, req->group.len);
    struct wire_frame resp;
    response(b, c, &resp);
    struct wire_describe_group_resp *r = &resp.body.describe_group_resp;
    r->group = req->group;
    const char *state = g != NULL ? cg_group_state(g, b->now_ms) : og != NULL ? "empty" : "dead";
    r->state = wire_bytes_str(state);
    r->generation = g != NULL ? g->generation : 0;
    uint32_t nm = g != NULL ? g->n_members : 0;
    r->members.count = nm;
    r->members.items = wire_arena_alloc(&b->resp_arena, (nm != 0 ? nm : 1) * sizeof(*r->members.items));
    bool ok = r->members.items != NULL;
    for (uint32_t i = 0; ok && i < nm; i++) {
        const struct cg_member *m = g->members[i];
        struct wire_group_member *wm = &r->members.items[i];
        memset(wm, 0, sizeof(*wm));
        wm->member_id = wire_bytes_str(m->id);
        wm->client_id = wire_bytes_str(m->client_id);
        wm->generation = m->generation_told;
        wm->session_timeout_ms = m->session_timeout_ms;
        uint64_t ago = b->now_ms > m->last_heard_ms ? b->now_ms - m->last_heard_ms : 0;
        wm->last_heard_ms_ago = ago > UINT32_MAX ? UINT32_MAX : (uint32_t)ago;
        wm->topics.count = m->n_topics;
        wm->topics.items = wire_arena_alloc(&b->resp_arena, (m->n_topics != 0 ? m->n_topics : 1) *
                                                                sizeof(*wm->topics.items));
        ok = wm->topics.items != NULL;
        for (uint32_t t = 0; ok && t < m->n_topics; t++)
            wm->topics.items[t] = wire_bytes_str(m->topics[t]);
        ok = ok && keys_to_items(b, m->target, m->n_target, &wm->assigned.items, &wm->assigned.count) &&
             keys_to_items(b, m->owned, m->n_owned, &wm->owned.items, &wm->owned.count);
    }
    ok = ok && fill_group_offsets(b, og, &r->offsets.items, &r->offsets.count);
    if (!ok) {
        respond_too_big(b, c, "group description");
        return;
    }
    client_respond(b, c, &resp);
}

void coord_request(struct broker *b, const struct client_ref *c, const struct wire_frame *f)
{
    switch (f->type) {
    case WIRE_OFFSET_COMMIT:
        offset_commit(b, c, &f->body.offset_commit_req);
        break;
    case WIRE_OFFSET_FETCH:
        offset_fetch(b, c, &f->body.offset_fetch_req);
        break;
    case WIRE_JOIN_GROUP:
        join_group(b, c, &f->body.join_group_req);
        break;
    case WIRE_SYNC_GROUP:
        sync_group(b, c, &f->body.sync_group_req);
        break;
    case WIRE_HEARTBEAT:
        heartbeat(b, c, &f->body.heartbeat_req);
        break;
    case WIRE_LEAVE_GROUP:
        leave_group(b, c, &f->body.leave_group_req);
        break;
    case WIRE_LIST_GROUPS:
        list_groups(b, c);
        break;
    case WIRE_DESCRIBE_GROUP:
        describe_group(b, c, &f->body.describe_group_req);
        break;
    default:
        client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, "not a consumer-group request");
        break;
    }
}
