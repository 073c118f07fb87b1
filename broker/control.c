/* The cluster's control plane: topics through the metadata Raft group, partition groups opened and closed as ops apply, METADATA and CLUSTER_STATUS. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/blog.h"
#include "broker/broker.h"
#include "wire/validate.h"

/* ---- the table of hosted groups ---------------------------------------------- */

static uint32_t slot_of(uint64_t id, uint32_t cap)
{
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

struct group *broker_find_group(struct broker *b, uint64_t id)
{
    if (id == 0)
        return b->meta;
    if (b->groups_cap == 0)
        return NULL;
    for (uint32_t j = slot_of(id, b->groups_cap);; j = (j + 1) & (b->groups_cap - 1)) {
        struct group *g = b->groups[j];
        if (g == NULL)
            return NULL;
        if (g->id == id)
            return g;
    }
}

static int rehash(struct broker *b, uint32_t cap)
{
    struct group **t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return -1;
    for (uint32_t i = 0; i < b->glist_count; i++) {
        uint32_t j = slot_of(b->glist[i]->id, cap);
        while (t[j] != NULL)
            j = (j + 1) & (cap - 1);
        t[j] = b->glist[i];
    }
    free(b->groups);
    b->groups = t;
    b->groups_cap = cap;
    return 0;
}

int broker_add_group(struct broker *b, struct group *g)
{
    if (b->glist_count == b->glist_cap) {
        uint32_t cap = b->glist_cap == 0 ? 64 : b->glist_cap * 2;
        struct group **l = realloc(b->glist, cap * sizeof(*l));
        if (l == NULL)
            return -1;
        b->glist = l;
        b->glist_cap = cap;
    }
    g->list_pos = b->glist_count;
    b->glist[b->glist_count++] = g;
    uint32_t cap = b->groups_cap == 0 ? 128 : b->groups_cap;
    while (b->glist_count * 2 > cap)
        cap *= 2;
    return rehash(b, cap);
}

void broker_remove_group(struct broker *b, struct group *g)
{
    uint32_t pos = g->list_pos;
    b->glist[pos] = b->glist[--b->glist_count];
    b->glist[pos]->list_pos = pos;
    rehash(b, b->groups_cap);
    /* It may be waiting in the dirty list. */
    for (struct group **pp = &b->dirty_head; *pp != NULL; pp = &(*pp)->next_dirty)
        if (*pp == g) {
            *pp = g->next_dirty;
            break;
        }
}

/* ---- opening and closing partition groups ------------------------------------ */

static int mkdir_p(const char *path)
{
    char tmp[BROKER_PATH_BYTES_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Paths longer than the buffer are cut (and then fail to open, with a message). */
static void topic_dir(const struct broker *b, const struct md_topic *t, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/topics/", b->cfg.data_dir);
    if (n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "%s@%" PRIu64, t->name, t->id);
}

static bool is_replica(const struct md_partition *p, uint32_t node)
{
    for (uint32_t i = 0; i < p->n_replicas; i++)
        if (p->replicas[i] == node)
            return true;
    return false;
}

static void open_topic_groups(struct broker *b, const struct md_topic *t)
{
    char dir[BROKER_PATH_BYTES_MAX];
    for (uint32_t p = 0; p < t->n_partitions; p++) {
        const struct md_partition *mp = &t->partitions[p];
        if (!is_replica(mp, b->cfg.node_id))
            continue;
        uint64_t id = md_group_id(t->id, p);
        if (broker_find_group(b, id) != NULL)
            continue;
        topic_dir(b, t, dir, sizeof dir - 16);
        size_t k = strlen(dir);
        snprintf(dir + k, sizeof dir - k, "/%u", p);
        char name[BROKER_GROUP_NAME_BYTES];
        snprintf(name, sizeof name, "%s/%u", t->name, p);
        struct raft_config config = {.n = mp->n_replicas};
        for (uint32_t i = 0; i < mp->n_replicas; i++)
            config.servers[i] = (struct raft_server){.id = mp->replicas[i], .role = RAFT_VOTER};
        struct group *g;
        if (mkdir_p(dir) != 0) {
            blog(BLOG_ERROR, name, "cannot create %s: %s", dir, strerror(errno));
            continue;
        }
        if (group_open(b, id, name, dir, &config, &g) != 0)
            continue; /* logged; this replica stays down, the others serve */
        g->retention_ms = t->retention_ms;
        g->retention_bytes = t->retention_bytes;
        /* A new partition: its preferred leader campaigns first, so it is
         * not elected elsewhere and then handed over a second later (two
         * leader changes that clients feel as a stall). The others hold
         * their election timers for one maximum timeout; if the preferred
         * replica is down, the first election is that much later. */
        if (mp->replicas[0] != b->cfg.node_id && g->stored_last == 0)
            g->ticks_held_until_ms = b->now_ms + b->cfg.election_timeout_max_ms;
        if (broker_add_group(b, g) != 0) {
            group_close(g, false);
            continue;
        }
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void close_topic_groups(struct broker *b, struct md_topic *t)
{
    for (uint32_t p = 0; p < t->n_partitions; p++) {
        struct group *g = broker_find_group(b, md_group_id(t->id, p));
        if (g == NULL)
            continue;
        group_fail_waits(g, WIRE_ERR_UNKNOWN_TOPIC, "the topic was deleted");
        broker_remove_group(b, g);
        group_close(g, false);
    }
    char dir[BROKER_PATH_BYTES_MAX];
    topic_dir(b, t, dir, sizeof dir);
    if (access(dir, F_OK) == 0 && nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        blog(BLOG_ERROR, NULL, "cannot remove %s: %s", dir, strerror(errno));
}

int control_apply(struct broker *b, const struct raft_entry *e, char *why, size_t why_cap)
{
    struct md_apply_result res;
    int rc = md_apply(&b->md, e->index, e->data, e->len, &res);
    if (rc != WIRE_OK) {
        blog(BLOG_ERROR, "meta", "metadata op at index %" PRIu64 " is malformed (%s); skipped",
             e->index, wire_strerror(rc));
        snprintf(why, why_cap, "malformed metadata op");
        return rc;
    }
    if (res.error != WIRE_OK) {
        /* The refusal's own sentence ("t/3: 120 is below the committed 150") when it has one. */
        snprintf(why, why_cap, "%s", res.why[0] != '\0' ? res.why : wire_strerror(res.error));
        return res.error;
    }
    if (res.kind == MD_OP_CREATE_TOPIC && res.created != NULL) {
        blog(BLOG_INFO, "meta", "topic %s created (id %" PRIu64 ", %u partitions, replication %u)",
             res.created->name, res.created->id, res.created->n_partitions,
             res.created->replication_factor);
        open_topic_groups(b, res.created);
    } else if (res.kind == MD_OP_DELETE_TOPIC && res.removed != NULL) {
        blog(BLOG_INFO, "meta", "topic %s deleted (id %" PRIu64 ")", res.removed->name,
             res.removed->id);
        close_topic_groups(b, res.removed);
        md_topic_free(res.removed);
    }
    /* Consumer groups subscribed by name follow topics as they come and go. */
    if (res.kind == MD_OP_CREATE_TOPIC || res.kind == MD_OP_DELETE_TOPIC)
        coord_topics_changed(b);
    return WIRE_OK;
}

/* ---- CREATE_TOPIC / DELETE_TOPIC --------------------------------------------- */

void control_propose_op(struct broker *b, const struct client_ref *c, const uint8_t *op, size_t len)
{
    struct group *m = b->meta;
    raft_index_t index = 0;
    int rc = raft_propose(m->raft, op, (uint32_t)len, &index);
    if (rc != 0) {
        if (rc == RAFT_ENOTLEADER || rc == RAFT_ETRANSFER)
            client_respond_not_leader(b, c, (uint32_t)m->leader);
        else
            client_respond_error(b, c, rc == RAFT_EBUSY ? WIRE_ERR_BACKPRESSURE : WIRE_ERR_INVALID_REQUEST,
                                 raft_strerror(rc));
        return;
    }
    if (!group_add_commit_wait(m, c, index, index, m->term, 0, 0, b->now_ms + b->cfg.request_timeout_ms))
        client_respond_error(b, c, WIRE_ERR_TIMEOUT, "too many requests waiting; the outcome is unknown");
    broker_mark_dirty(m);
}

bool control_controller_check(struct broker *b, const struct client_ref *c)
{
    if (b->stopping) {
        client_respond_error(b, c, WIRE_ERR_SHUTTING_DOWN, "broker is shutting down");
        return false;
    }
    if (b->meta->failed) {
        client_respond_error(b, c, WIRE_ERR_STORAGE_ERROR, "this broker's metadata storage failed");
        return false;
    }
    if (!group_is_leader(b->meta)) {
        client_respond_not_leader(b, c, (uint32_t)b->meta->leader);
        return false;
    }
    return true;
}

/* INIT_PRODUCER_ID: the id is the Raft index of an allocation op, answered once it commits. */
void control_init_producer_id(struct broker *b, const struct client_ref *c)
{
    if (!control_controller_check(b, c))
        return;
    uint8_t op[MD_ALLOC_PRODUCER_OP_BYTES];
    size_t len = 0;
    if (md_encode_alloc_producer(op, sizeof op, &len) != WIRE_OK)
        client_respond_error(b, c, WIRE_ERR_UNKNOWN, "cannot encode the allocation op");
    else
        control_propose_op(b, c, op, len);
}

void control_create_topic(struct broker *b, const struct client_ref *c,
                          const struct wire_create_topic_req *req)
{
    char why[256] = "";
    int rc = wire_validate_create_topic(req, why, sizeof why);
    if (rc != WIRE_OK) {
        client_respond_error(b, c, rc, why);
        return;
    }
    if (!control_controller_check(b, c))
        return;
    uint32_t brokers[BROKER_NODES_MAX];
    for (uint32_t i = 0; i < b->cfg.n_nodes; i++)
        brokers[i] = b->cfg.nodes[i].id;
    size_t cap = md_op_bytes_max(req->partitions, req->replication_factor);
    uint8_t *op = malloc(cap);
    if (op == NULL) {
        client_respond_error(b, c, WIRE_ERR_UNKNOWN, "out of memory");
        return;
    }
    size_t len = 0;
    rc = md_encode_create(&b->md, req, brokers, b->cfg.n_nodes, op, cap, &len, why, sizeof why);
    if (rc != WIRE_OK)
        client_respond_error(b, c, rc, why);
    else
        control_propose_op(b, c, op, len);
    free(op);
}

void control_delete_topic(struct broker *b, const struct client_ref *c,
                          const struct wire_delete_topic_req *req)
{
    if (!control_controller_check(b, c))
        return;
    uint8_t op[WIRE_TOPIC_NAME_BYTES_MAX + 64];
    size_t len = 0;
    char why[256] = "";
    int rc = md_encode_delete(&b->md, req->name.ptr, req->name.len, op, sizeof op, &len, why, sizeof why);
    if (rc != WIRE_OK)
        client_respond_error(b, c, rc, why);
    else
        control_propose_op(b, c, op, len);
}

/* ---- METADATA ------------------------------------------------------------------- */

static int fill_topic(struct broker *b, struct wire_topic_meta *tm, const struct md_topic *t)
{
    tm->name.ptr = (const uint8_t *)t->name;
    tm->name.len = (uint32_t)strlen(t->name);
    tm->error = WIRE_OK;
    tm->partitions.count = t->n_partitions;
    tm->partitions.items = wire_arena_alloc(&b->resp_arena, t->n_partitions * sizeof(struct wire_partition_meta));
    if (tm->partitions.items == NULL)
        return -1;
    for (uint32_t p = 0; p < t->n_partitions; p++) {
        struct wire_partition_meta *pm = &tm->partitions.items[p];
        const struct md_partition *mp = &t->partitions[p];
        pm->partition = p;
        pm->leader_id = broker_group_leader(b, md_group_id(t->id, p), &pm->leader_term);
        pm->replicas.count = mp->n_replicas;
        pm->replicas.items = wire_arena_alloc(&b->resp_arena, mp->n_replicas * sizeof(uint32_t));
        if (pm->replicas.items == NULL)
            return -1;
        memcpy(pm->replicas.items, mp->replicas, mp->n_replicas * sizeof(uint32_t));
    }
    return 0;
}

void control_metadata(struct broker *b, const struct client_ref *c, const struct wire_metadata_req *req)
{
    struct wire_frame fake = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame resp;
    wire_frame_init_response(&resp, &fake, WIRE_OK, NULL);
    struct wire_metadata_resp *r = &resp.body.metadata_resp;
    wire_arena_reset(&b->resp_arena);
    r->controller_id = (uint32_t)b->meta->leader;
    r->brokers.count = b->cfg.n_nodes;
    r->brokers.items = wire_arena_alloc(&b->resp_arena, b->cfg.n_nodes * sizeof(struct wire_broker));
    for (uint32_t i = 0; r->brokers.items != NULL && i < b->cfg.n_nodes; i++) {
        r->brokers.items[i].node_id = b->cfg.nodes[i].id;
        r->brokers.items[i].client_address.ptr = (const uint8_t *)b->cfg.nodes[i].client_address;
        r->brokers.items[i].client_address.len = (uint32_t)strlen(b->cfg.nodes[i].client_address);
    }
    uint32_t n = req->topics.count != 0 ? req->topics.count : md_topic_count(&b->md);
    r->topics.count = n;
    r->topics.items = wire_arena_alloc(&b->resp_arena, (n != 0 ? n : 1) * sizeof(struct wire_topic_meta));
    bool ok = r->brokers.items != NULL && r->topics.items != NULL;
    for (uint32_t i = 0; ok && i < n; i++) {
        struct wire_topic_meta *tm = &r->topics.items[i];
        memset(tm, 0, sizeof(*tm));
        const struct md_topic *t;
        if (req->topics.count != 0) {
            const struct wire_bytes *name = &req->topics.items[i];
            t = md_find(&b->md, (const char *)name->ptr, name->len);
            if (t == NULL) {
                tm->name = *name;
                tm->error = WIRE_ERR_UNKNOWN_TOPIC;
                continue;
            }
        } else {
            t = md_topic_at(&b->md, i);
        }
        ok = fill_topic(b, tm, t) == 0;
    }
    if (!ok) {
        client_respond_error(b, c, WIRE_ERR_LIMIT_EXCEEDED,
                             "the metadata does not fit one response; ask for fewer topics");
        return;
    }
    client_respond(b, c, &resp);
}

/* ---- CLUSTER_STATUS ----------------------------------------------------------- */

static int fill_group_status(struct broker *b, struct wire_group_status *gs, struct group *g)
{
    memset(gs, 0, sizeof(*gs));
    if (!g->is_meta) {
        const struct md_topic *t = md_find_id(&b->md, g->topic_id);
        if (t != NULL) {
            gs->topic.ptr = (const uint8_t *)t->name;
            gs->topic.len = (uint32_t)strlen(t->name);
        }
        gs->partition = g->partition;
    }
    if (g->failed) {
        gs->leader_id = 0;
        return 0;
    }
    struct raft_status st;
    raft_status(g->raft, &st);
    gs->leader_id = (uint32_t)st.leader;
    gs->term = st.term;
    gs->commit_index = st.commit;
    gs->last_index = st.last_index;
    gs->replicas.count = st.config.n;
    gs->replicas.items = wire_arena_alloc(&b->resp_arena, (st.config.n + 1) * sizeof(struct wire_replica_status));
    if (gs->replicas.items == NULL)
        return -1;
    for (uint32_t i = 0; i < st.config.n; i++) {
        struct wire_replica_status *rs = &gs->replicas.items[i];
        rs->node_id = (uint32_t)st.config.servers[i].id;
        rs->voter = st.config.servers[i].role == RAFT_VOTER;
        rs->match_index = 0;
        if (st.config.servers[i].id == st.id)
            rs->match_index = st.persisted;
        for (uint32_t k = 0; k < st.n_progress; k++)
            if (st.progress[k].id == st.config.servers[i].id && st.progress[k].id != st.id)
                rs->match_index = st.progress[k].match;
    }
    return 0;
}

void control_cluster_status(struct broker *b, const struct client_ref *c)
{
    struct wire_frame fake = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame resp;
    wire_frame_init_response(&resp, &fake, WIRE_OK, NULL);
    struct wire_cluster_status_resp *r = &resp.body.cluster_status_resp;
    wire_arena_reset(&b->resp_arena);
    r->node_id = b->cfg.node_id;
    r->brokers.count = b->cfg.n_nodes;
    r->brokers.items = wire_arena_alloc(&b->resp_arena, b->cfg.n_nodes * sizeof(struct wire_broker_status));
    bool ok = r->brokers.items != NULL;
    for (uint32_t i = 0; ok && i < b->cfg.n_nodes; i++) {
        const struct broker_node *n = &b->cfg.nodes[i];
        struct wire_broker_status *bs = &r->brokers.items[i];
        bs->node_id = n->id;
        bs->client_address = (struct wire_bytes){(const uint8_t *)n->client_address,
                                                 (uint32_t)strlen(n->client_address)};
        bs->peer_address = (struct wire_bytes){(const uint8_t *)n->peer_address,
                                               (uint32_t)strlen(n->peer_address)};
        bs->reachable = peer_reachable(b, n->id);
    }
    r->groups.count = 1 + b->glist_count;
    r->groups.items = wire_arena_alloc(&b->resp_arena, r->groups.count * sizeof(struct wire_group_status));
    ok = ok && r->groups.items != NULL && fill_group_status(b, &r->groups.items[0], b->meta) == 0;
    for (uint32_t i = 0; ok && i < b->glist_count; i++)
        ok = fill_group_status(b, &r->groups.items[1 + i], b->glist[i]) == 0;
    if (!ok) {
        client_respond_error(b, c, WIRE_ERR_LIMIT_EXCEEDED, "the status does not fit one response");
        return;
    }
    client_respond(b, c, &resp);
}

/* ---- preferred leaders ---------------------------------------------------------- */

/* A partition's preferred leader is its first replica; after failures the
 * current leader hands leadership back once that replica has caught up. */
void control_rebalance_leaders(struct broker *b)
{
    if (b->stopping)
        return;
    for (uint32_t i = 0; i < b->glist_count; i++) {
        struct group *g = b->glist[i];
        if (g->failed || !group_is_leader(g))
            continue;
        const struct md_topic *t = md_find_id(&b->md, g->topic_id);
        if (t == NULL || g->partition >= t->n_partitions)
            continue;
        uint32_t preferred = t->partitions[g->partition].replicas[0];
        if (preferred == b->cfg.node_id || !peer_reachable(b, preferred) ||
            peer_stopping(b, preferred))
            continue;
        struct raft_status st;
        raft_status(g->raft, &st);
        for (uint32_t k = 0; k < st.n_progress; k++)
            if (st.progress[k].id == preferred && st.progress[k].match == st.last_index &&
                st.progress[k].recent_active) {
                if (raft_transfer_leadership(g->raft, preferred) == 0) {
                    blog(BLOG_INFO, g->name, "handing leadership back to preferred replica %u", preferred);
                    broker_mark_dirty(g);
                }
                break;
            }
    }
}
