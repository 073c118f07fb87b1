/* raftmq-admin: create, delete, list and describe topics, and show the cluster's Raft groups. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire/client.h"
#include "wire/clock.h"
#include "wire/tool.h"

#define ADMIN_TIMEOUT_MS_DEFAULT 10000u
#define ADMIN_TIMEOUT_MS_MAX (24u * 3600u * 1000u)
#define ADMIN_BROKERS_BYTES (16u * 1024u)

static void print_help(void)
{
    printf(
        "Usage: raftmq-admin [-b BROKERS] [--timeout MS] [--json] COMMAND\n"
        "\n"
        "Commands:\n"
        "  topic create NAME --partitions N --replicas R [--retention-ms MS] [--retention-bytes B]\n"
        "                       create a topic, then wait until every partition has a leader\n"
        "  topic delete NAME    delete a topic and its data\n"
        "  topic list           every topic with its partition count and replication factor\n"
        "  topic describe NAME  each partition's leader, leader term and replicas\n"
        "  cluster status       brokers, and each Raft group's leader, term, commit index,\n"
        "                       last index and the replicas' match index and lag\n"
        "\n"
        "Options:\n"
        "  -b, --brokers LIST   comma-separated client addresses, e.g.\n"
        "                       tcp://127.0.0.1:9292,tcp://127.0.0.1:9392 (\"tcp://\" may be\n"
        "                       left out); default $" TOOL_BROKERS_ENV " or " TOOL_BROKERS_DEFAULT "\n"
        "      --timeout MS     give up after MS milliseconds (default %u), retries and the\n"
        "                       wait for partition leaders included\n"
        "      --json           list, describe, status: print one JSON object instead of a table\n"
        "      --partitions N   create: number of partitions (1..%u)\n"
        "      --replicas R     create: replicas per partition (1..%u, at most the brokers)\n"
        "      --retention-ms MS, --retention-bytes B\n"
        "                       create: retention by age / by size per partition\n"
        "                       (default: the broker's setting)\n"
        "  -h, --help           this help\n"
        "\n"
        "Create and delete go to the controller (the metadata group's leader); any broker\n"
        "given in -b will do, the tool follows NOT_LEADER to the controller.\n"
        "\n"
        "Examples:\n"
        "  raftmq-admin -b 127.0.0.1:9292 topic create orders --partitions 3 --replicas 3\n"
        "  raftmq-admin -b 127.0.0.1:9292 topic list\n"
        "  raftmq-admin -b 127.0.0.1:9292 --json topic describe orders\n"
        "  raftmq-admin -b 127.0.0.1:9292 cluster status\n"
        "  raftmq-admin -b 127.0.0.1:9292 topic delete orders\n"
        "\n"
        "Exit status: 0 done, 1 the operation failed (unreachable brokers, unknown topic,\n"
        "refused request, no leader in time), 2 bad command line.\n",
        ADMIN_TIMEOUT_MS_DEFAULT, WIRE_PARTITIONS_MAX, WIRE_REPLICAS_MAX);
}

struct admin_opts {
    char brokers[ADMIN_BROKERS_BYTES];
    uint32_t timeout_ms;
    bool json;
    bool has_partitions, has_replicas, has_retention_ms, has_retention_bytes;
    uint32_t partitions;
    uint32_t replicas;
    int64_t retention_ms;    /* -1: broker default */
    int64_t retention_bytes; /* -1: broker default */
};

/* Milliseconds left until `deadline` (monotonic ms), at least 1. */
static uint32_t left_ms(int64_t deadline)
{
    int64_t left = deadline - tool_now_ms();
    return left > 0 ? (uint32_t)left : 1u;
}

static void print_bytes(FILE *out, struct wire_bytes b)
{
    fwrite(b.ptr, 1, b.len, out);
}

/* ---- topic create / delete ------------------------------------------------------ */

/*
 * Polls METADATA until every partition of `name` has a leader, or the
 * deadline. CREATE_TOPIC returns once the controller applied the topic;
 * the partitions' Raft groups elect their leaders a moment later.
 */
static int wait_for_leaders(struct wire_client *c, const char *name, uint32_t partitions,
                            int64_t deadline)
{
    uint32_t leaderless = partitions;
    for (;;) {
        if (wire_client_refresh_metadata(c, name, left_ms(deadline)) == WIRE_OK &&
            (leaderless = wire_client_leaderless(c, name, partitions)) == 0)
            return WIRE_OK;
        if (tool_now_ms() >= deadline) {
            tool_error("topic '%s' was created but %" PRIu32 " of %" PRIu32
                       " partitions have no leader yet (gave up after --timeout)",
                       name, leaderless, partitions);
            return WIRE_ERR_TIMEOUT;
        }
        wire_sleep_ms(50);
    }
}

static int topic_create(struct wire_client *c, const struct admin_opts *o, const char *name)
{
    int64_t deadline = tool_now_ms() + o->timeout_ms;
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_CREATE_TOPIC;
    struct wire_create_topic_req *ct = &req.body.create_topic_req;
    ct->name = (struct wire_bytes){(const uint8_t *)name, (uint32_t)strlen(name)};
    ct->partitions = o->partitions;
    ct->replication_factor = o->replicas;
    ct->retention_ms = o->has_retention_ms ? o->retention_ms : -1;
    ct->retention_bytes = o->has_retention_bytes ? o->retention_bytes : -1;
    int rc = wire_client_request(c, &req, o->timeout_ms, 0, &resp);
    if (rc != WIRE_OK) {
        tool_error("create topic '%s': %s", name, wire_client_error(c));
        return TOOL_EXIT_FAILED;
    }
    if (resp.error != WIRE_OK) {
        char why[512];
        tool_error("create topic '%s': %s", name, tool_response_error(&resp, why, sizeof(why)));
        return TOOL_EXIT_FAILED;
    }
    if (wait_for_leaders(c, name, o->partitions, deadline) != WIRE_OK)
        return TOOL_EXIT_FAILED;
    printf("created topic %s: %" PRIu32 " partitions, replication factor %" PRIu32
           "; every partition has a leader\n",
           name, o->partitions, o->replicas);
    return TOOL_EXIT_OK;
}

static int topic_delete(struct wire_client *c, const struct admin_opts *o, const char *name)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_DELETE_TOPIC;
    req.body.delete_topic_req.name = (struct wire_bytes){(const uint8_t *)name,
                                                         (uint32_t)strlen(name)};
    int rc = wire_client_request(c, &req, o->timeout_ms, 0, &resp);
    if (rc != WIRE_OK) {
        tool_error("delete topic '%s': %s", name, wire_client_error(c));
        return TOOL_EXIT_FAILED;
    }
    if (resp.error != WIRE_OK) {
        char why[512];
        tool_error("delete topic '%s': %s", name, tool_response_error(&resp, why, sizeof(why)));
        return TOOL_EXIT_FAILED;
    }
    printf("deleted topic %s\n", name);
    return TOOL_EXIT_OK;
}

/* ---- topic list / describe ---------------------------------------------------------- */

/* METADATA for one topic (name) or all (NULL), with retries, into *resp. */
static int metadata(struct wire_client *c, const struct admin_opts *o, const char *name,
                    struct wire_frame *resp)
{
    struct wire_frame req;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_METADATA;
    struct wire_bytes topic = {(const uint8_t *)name, name != NULL ? (uint32_t)strlen(name) : 0};
    if (name != NULL) {
        req.body.metadata_req.topics.count = 1;
        req.body.metadata_req.topics.items = &topic;
    }
    int rc = wire_client_request(c, &req, o->timeout_ms, 0, resp);
    if (rc != WIRE_OK) {
        tool_error("%s", wire_client_error(c));
        return TOOL_EXIT_FAILED;
    }
    if (resp->error != WIRE_OK) {
        char why[512];
        tool_error("METADATA: %s", tool_response_error(resp, why, sizeof(why)));
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}

static uint32_t topic_leaderless(const struct wire_topic_meta *t)
{
    uint32_t n = 0;
    for (uint32_t p = 0; p < t->partitions.count; p++)
        n += t->partitions.items[p].leader_id == 0;
    return n;
}

/* The replication factor as placed: the replicas of the first partition. */
static uint32_t topic_replication(const struct wire_topic_meta *t)
{
    return t->partitions.count > 0 ? t->partitions.items[0].replicas.count : 0;
}

static int cmp_topic_name(const void *a, const void *b)
{
    const struct wire_topic_meta *x = a, *y = b;
    uint32_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int d = n > 0 ? memcmp(x->name.ptr, y->name.ptr, n) : 0;
    if (d != 0)
        return d;
    return x->name.len < y->name.len ? -1 : x->name.len > y->name.len;
}

static int topic_list(struct wire_client *c, const struct admin_opts *o)
{
    struct wire_frame resp;
    int rc = metadata(c, o, NULL, &resp);
    if (rc != TOOL_EXIT_OK)
        return rc;
    struct wire_metadata_resp *m = &resp.body.metadata_resp;
    /* The topics live in the client's arena until the next call: sorting in place is fine. */
    if (m->topics.count > 1)
        qsort(m->topics.items, m->topics.count, sizeof(m->topics.items[0]), cmp_topic_name);
    if (o->json) {
        printf("{\"controller_id\":%" PRIu32 ",\"topics\":[", m->controller_id);
        for (uint32_t i = 0; i < m->topics.count; i++) {
            const struct wire_topic_meta *t = &m->topics.items[i];
            printf("%s{\"name\":", i > 0 ? "," : "");
            tool_json_string(stdout, t->name.ptr, t->name.len);
            printf(",\"partitions\":%" PRIu32 ",\"replication_factor\":%" PRIu32
                   ",\"leaderless_partitions\":%" PRIu32 "}",
                   t->partitions.count, topic_replication(t), topic_leaderless(t));
        }
        printf("]}\n");
        return TOOL_EXIT_OK;
    }
    int width = 5;
    for (uint32_t i = 0; i < m->topics.count; i++) {
        if ((int)m->topics.items[i].name.len > width)
            width = (int)m->topics.items[i].name.len;
    }
    printf("%-*s  %10s  %8s  %10s\n", width, "TOPIC", "PARTITIONS", "REPLICAS", "LEADERLESS");
    for (uint32_t i = 0; i < m->topics.count; i++) {
        const struct wire_topic_meta *t = &m->topics.items[i];
        printf("%-*.*s  %10" PRIu32 "  %8" PRIu32 "  %10" PRIu32 "\n", width, (int)t->name.len,
               (const char *)t->name.ptr, t->partitions.count, topic_replication(t),
               topic_leaderless(t));
    }
    if (m->topics.count == 0)
        printf("(no topics)\n");
    return TOOL_EXIT_OK;
}

static const char *broker_address_in(const struct wire_metadata_resp *m, uint32_t node_id,
                                     char *buf, size_t cap)
{
    for (uint32_t i = 0; i < m->brokers.count; i++) {
        if (m->brokers.items[i].node_id == node_id) {
            snprintf(buf, cap, "%.*s", (int)m->brokers.items[i].client_address.len,
                     (const char *)m->brokers.items[i].client_address.ptr);
            return buf;
        }
    }
    return "";
}

static int cmp_partition(const void *a, const void *b)
{
    const struct wire_partition_meta *x = a, *y = b;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int topic_describe(struct wire_client *c, const struct admin_opts *o, const char *name)
{
    struct wire_frame resp;
    int rc = metadata(c, o, name, &resp);
    if (rc != TOOL_EXIT_OK)
        return rc;
    const struct wire_metadata_resp *m = &resp.body.metadata_resp;
    const struct wire_topic_meta *t = NULL;
    for (uint32_t i = 0; i < m->topics.count; i++) {
        if (m->topics.items[i].name.len == strlen(name) &&
            memcmp(m->topics.items[i].name.ptr, name, strlen(name)) == 0)
            t = &m->topics.items[i];
    }
    if (t == NULL || t->error == WIRE_ERR_UNKNOWN_TOPIC) {
        tool_error("unknown topic '%s'", name);
        return TOOL_EXIT_FAILED;
    }
    if (t->error != WIRE_OK) {
        tool_error("topic '%s': %s", name, wire_err_name((int)t->error));
        return TOOL_EXIT_FAILED;
    }
    if (t->partitions.count > 1)
        qsort(t->partitions.items, t->partitions.count, sizeof(t->partitions.items[0]),
              cmp_partition);
    char addr[WIRE_STRING_BYTES_MAX + 1];
    if (o->json) {
        printf("{\"name\":");
        tool_json_string(stdout, t->name.ptr, t->name.len);
        printf(",\"partitions\":[");
        for (uint32_t i = 0; i < t->partitions.count; i++) {
            const struct wire_partition_meta *p = &t->partitions.items[i];
            printf("%s{\"partition\":%" PRIu32 ",\"leader\":%" PRIu32 ",\"leader_term\":%" PRIu64
                   ",\"leader_address\":",
                   i > 0 ? "," : "", p->partition, p->leader_id, p->leader_term);
            const char *a = broker_address_in(m, p->leader_id, addr, sizeof(addr));
            tool_json_string(stdout, a, strlen(a));
            printf(",\"replicas\":[");
            for (uint32_t r = 0; r < p->replicas.count; r++)
                printf("%s%" PRIu32, r > 0 ? "," : "", p->replicas.items[r]);
            printf("]}");
        }
        printf("]}\n");
        return TOOL_EXIT_OK;
    }
    printf("topic ");
    print_bytes(stdout, t->name);
    printf(": %" PRIu32 " partitions, replication factor %" PRIu32 "\n", t->partitions.count,
           topic_replication(t));
    printf("%9s  %6s  %11s  %-20s  %s\n", "PARTITION", "LEADER", "LEADER_TERM", "REPLICAS",
           "LEADER_ADDRESS");
    for (uint32_t i = 0; i < t->partitions.count; i++) {
        const struct wire_partition_meta *p = &t->partitions.items[i];
        char replicas[128] = "";
        size_t used = 0;
        for (uint32_t r = 0; r < p->replicas.count && used < sizeof(replicas); r++) {
            int w = snprintf(replicas + used, sizeof(replicas) - used, "%s%" PRIu32,
                             r > 0 ? "," : "", p->replicas.items[r]);
            if (w > 0)
                used += (size_t)w;
        }
        char leader[16];
        if (p->leader_id == 0)
            snprintf(leader, sizeof(leader), "none");
        else
            snprintf(leader, sizeof(leader), "%" PRIu32, p->leader_id);
        printf("%9" PRIu32 "  %6s  %11" PRIu64 "  %-20s  %s\n", p->partition, leader,
               p->leader_term, replicas, broker_address_in(m, p->leader_id, addr, sizeof(addr)));
    }
    return TOOL_EXIT_OK;
}

/* ---- cluster status ---------------------------------------------------------------- */

/*
 * Each broker reports only the Raft groups it hosts, and only a group's
 * leader knows its replicas' match indexes. So the tool asks every broker
 * and keeps, per group, the leader's own view (else the view with the
 * highest term).
 */
struct status_replica {
    uint32_t node_id;
    uint64_t match_index;
    bool voter;
};

struct status_group {
    char topic[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    uint32_t partition;
    uint32_t leader_id;
    uint64_t term;
    uint64_t commit_index;
    uint64_t last_index;
    uint32_t source;   /* the broker this view came from */
    bool from_leader;  /* source == leader_id */
    uint32_t replica_count;
    struct status_replica replicas[WIRE_REPLICAS_MAX + 1];
};

struct status_broker {
    uint32_t node_id;
    char address[WIRE_STRING_BYTES_MAX + 1];
    bool answered;       /* answered this tool's CLUSTER_STATUS */
    uint32_t seen_by;    /* peers that report it reachable */
    uint32_t asked_peers; /* peers that answered and report on it */
};

struct status {
    struct status_broker *brokers;
    uint32_t broker_count;
    struct status_group *groups;
    uint32_t group_count;
    uint32_t group_cap;
    uint32_t answered;
};

static int status_add_group(struct status *s, uint32_t source, const struct wire_group_status *g)
{
    if (g->topic.len > WIRE_TOPIC_NAME_BYTES_MAX)
        return 0; /* not a topic name: ignore rather than truncate into a collision */
    struct status_group *slot = NULL;
    for (uint32_t i = 0; i < s->group_count; i++) {
        struct status_group *e = &s->groups[i];
        if (e->partition == g->partition && strlen(e->topic) == g->topic.len &&
            memcmp(e->topic, g->topic.ptr, g->topic.len) == 0) {
            slot = e;
            break;
        }
    }
    bool from_leader = g->leader_id != 0 && g->leader_id == source;
    if (slot != NULL) {
        /* Keep the leader's view; between non-leaders, the newer term. */
        if (slot->from_leader && (!from_leader || g->term <= slot->term))
            return 0;
        if (!from_leader && g->term <= slot->term)
            return 0;
    } else {
        if (s->group_count == s->group_cap) {
            uint32_t cap = s->group_cap == 0 ? 64 : s->group_cap * 2;
            struct status_group *grown = realloc(s->groups, cap * sizeof(*grown));
            if (grown == NULL)
                return -1;
            s->groups = grown;
            s->group_cap = cap;
        }
        slot = &s->groups[s->group_count++];
    }
    memset(slot, 0, sizeof(*slot));
    memcpy(slot->topic, g->topic.ptr, g->topic.len);
    slot->partition = g->partition;
    slot->leader_id = g->leader_id;
    slot->term = g->term;
    slot->commit_index = g->commit_index;
    slot->last_index = g->last_index;
    slot->source = source;
    slot->from_leader = from_leader;
    for (uint32_t r = 0; r < g->replicas.count && r < WIRE_REPLICAS_MAX + 1; r++) {
        slot->replicas[r].node_id = g->replicas.items[r].node_id;
        slot->replicas[r].match_index = g->replicas.items[r].match_index;
        slot->replicas[r].voter = g->replicas.items[r].voter;
        slot->replica_count = r + 1;
    }
    return 0;
}

static struct status_broker *status_broker(struct status *s, uint32_t node_id)
{
    for (uint32_t i = 0; i < s->broker_count; i++) {
        if (s->brokers[i].node_id == node_id)
            return &s->brokers[i];
    }
    return NULL;
}

static int cmp_group(const void *a, const void *b)
{
    const struct status_group *x = a, *y = b;
    int d = strcmp(x->topic, y->topic);
    if (d != 0)
        return d;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static void status_print_json(const struct status *s)
{
    printf("{\"brokers\":[");
    for (uint32_t i = 0; i < s->broker_count; i++) {
        const struct status_broker *b = &s->brokers[i];
        printf("%s{\"node_id\":%" PRIu32 ",\"address\":", i > 0 ? "," : "", b->node_id);
        tool_json_string(stdout, b->address, strlen(b->address));
        printf(",\"answered\":%s,\"reachable_from_peers\":%" PRIu32 ",\"peers_reporting\":%" PRIu32
               "}",
               b->answered ? "true" : "false", b->seen_by, b->asked_peers);
    }
    printf("],\"groups\":[");
    for (uint32_t i = 0; i < s->group_count; i++) {
        const struct status_group *g = &s->groups[i];
        printf("%s{\"topic\":", i > 0 ? "," : "");
        tool_json_string(stdout, g->topic, strlen(g->topic));
        printf(",\"partition\":%" PRIu32 ",\"leader\":%" PRIu32 ",\"term\":%" PRIu64
               ",\"commit_index\":%" PRIu64 ",\"last_index\":%" PRIu64 ",\"reported_by\":%" PRIu32
               ",\"replicas\":[",
               g->partition, g->leader_id, g->term, g->commit_index, g->last_index, g->source);
        for (uint32_t r = 0; r < g->replica_count; r++) {
            const struct status_replica *rep = &g->replicas[r];
            uint64_t lag = g->last_index > rep->match_index ? g->last_index - rep->match_index : 0;
            printf("%s{\"node_id\":%" PRIu32 ",\"match_index\":%" PRIu64 ",\"lag\":%" PRIu64
                   ",\"voter\":%s}",
                   r > 0 ? "," : "", rep->node_id, rep->match_index, lag,
                   rep->voter ? "true" : "false");
        }
        printf("]}");
    }
    printf("]}\n");
}

static void status_print_table(const struct status *s)
{
    printf("%7s  %-30s  %-9s  %s\n", "BROKER", "ADDRESS", "ANSWERED", "REACHABLE_FROM_PEERS");
    for (uint32_t i = 0; i < s->broker_count; i++) {
        const struct status_broker *b = &s->brokers[i];
        printf("%7" PRIu32 "  %-30s  %-9s  %" PRIu32 "/%" PRIu32 "\n", b->node_id, b->address,
               b->answered ? "yes" : "NO", b->seen_by, b->asked_peers);
    }
    printf("\n%-24s  %9s  %6s  %6s  %12s  %12s  %s\n", "GROUP", "PARTITION", "LEADER", "TERM",
           "COMMIT_INDEX", "LAST_INDEX", "REPLICAS (node:match/lag)");
    for (uint32_t i = 0; i < s->group_count; i++) {
        const struct status_group *g = &s->groups[i];
        char leader[16];
        if (g->leader_id == 0)
            snprintf(leader, sizeof(leader), "none");
        else
            snprintf(leader, sizeof(leader), "%" PRIu32, g->leader_id);
        printf("%-24s  %9" PRIu32 "  %6s  %6" PRIu64 "  %12" PRIu64 "  %12" PRIu64 "  ",
               g->topic[0] != '\0' ? g->topic : "(metadata)", g->partition, leader, g->term,
               g->commit_index, g->last_index);
        if (!g->from_leader) {
            printf("(leader did not answer)");
        } else {
            for (uint32_t r = 0; r < g->replica_count; r++) {
                const struct status_replica *rep = &g->replicas[r];
                uint64_t lag =
                    g->last_index > rep->match_index ? g->last_index - rep->match_index : 0;
                printf("%s%" PRIu32 ":%" PRIu64 "/%" PRIu64 "%s", r > 0 ? " " : "", rep->node_id,
                       rep->match_index, lag, rep->voter ? "" : "(learner)");
            }
        }
        printf("\n");
    }
}

static int cluster_status(struct wire_client *c, const struct admin_opts *o)
{
    int64_t deadline = tool_now_ms() + o->timeout_ms;
    /* The broker list comes from the metadata; copy it (the cache changes on refresh). */
    struct wire_frame resp;
    if (metadata(c, o, NULL, &resp) != TOOL_EXIT_OK)
        return TOOL_EXIT_FAILED;
    const struct wire_metadata_resp *m = &resp.body.metadata_resp;
    struct status s;
    memset(&s, 0, sizeof(s));
    s.broker_count = m->brokers.count;
    s.brokers = calloc(s.broker_count > 0 ? s.broker_count : 1, sizeof(*s.brokers));
    if (s.brokers == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_FAILED;
    }
    for (uint32_t i = 0; i < s.broker_count; i++) {
        s.brokers[i].node_id = m->brokers.items[i].node_id;
        snprintf(s.brokers[i].address, sizeof(s.brokers[i].address), "%.*s",
                 (int)m->brokers.items[i].client_address.len,
                 (const char *)m->brokers.items[i].client_address.ptr);
    }
    /* Ask every broker at once; a dead one costs one timeout, not one each. */
    uint32_t per_broker_ms = left_ms(deadline) < 2000u ? left_ms(deadline) : 2000u;
    struct wire_frame req;
    for (uint32_t i = 0; i < s.broker_count; i++) {
        memset(&req, 0, sizeof(req));
        req.type = WIRE_CLUSTER_STATUS;
        if (wire_client_send(c, s.brokers[i].address, &req, per_broker_ms, &s.brokers[i],
                             NULL) != WIRE_OK) {
            /* Not sent (the connection did not come up): it did not answer. */
            continue;
        }
    }
    int result = TOOL_EXIT_OK;
    while (wire_client_in_flight(c) > 0) {
        struct wire_client_reply reply;
        if (wire_client_poll(c, left_ms(deadline) + 100u, &reply) != WIRE_OK)
            break;
        struct status_broker *b = reply.user;
        if (reply.status != WIRE_OK || reply.frame.error != WIRE_OK)
            continue;
        const struct wire_cluster_status_resp *cs = &reply.frame.body.cluster_status_resp;
        b->answered = true;
        s.answered++;
        for (uint32_t k = 0; k < cs->brokers.count; k++) {
            if (cs->brokers.items[k].node_id == cs->node_id)
                continue; /* a broker's opinion of itself says nothing */
            struct status_broker *peer = status_broker(&s, cs->brokers.items[k].node_id);
            if (peer == NULL)
                continue;
            peer->asked_peers++;
            peer->seen_by += cs->brokers.items[k].reachable;
        }
        for (uint32_t k = 0; k < cs->groups.count; k++) {
            if (status_add_group(&s, cs->node_id, &cs->groups.items[k]) != 0) {
                tool_error("out of memory");
                result = TOOL_EXIT_FAILED;
            }
        }
    }
    if (result == TOOL_EXIT_OK) {
        if (s.group_count > 1)
            qsort(s.groups, s.group_count, sizeof(s.groups[0]), cmp_group);
        if (o->json)
            status_print_json(&s);
        else
            status_print_table(&s);
        if (s.answered == 0) {
            tool_error("no broker answered CLUSTER_STATUS");
            result = TOOL_EXIT_FAILED;
        }
    }
    free(s.brokers);
    free(s.groups);
    return result;
}

/* ---- command line ------------------------------------------------------------------ */

enum {
    OPT_TIMEOUT = 256,
    OPT_JSON,
    OPT_PARTITIONS,
    OPT_REPLICAS,
    OPT_RETENTION_MS,
    OPT_RETENTION_BYTES,
};

static int parse_i64_positive(const char *text, const char *what, int64_t *out)
{
    uint64_t v;
    if (!tool_parse_u64(text, what, 1, (uint64_t)INT64_MAX, &v))
        return -1;
    *out = (int64_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    tool_init("raftmq-admin");
    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"replicas", required_argument, NULL, OPT_REPLICAS},
        {"retention-ms", required_argument, NULL, OPT_RETENTION_MS},
        {"retention-bytes", required_argument, NULL, OPT_RETENTION_BYTES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct admin_opts o;
    memset(&o, 0, sizeof(o));
    o.timeout_ms = ADMIN_TIMEOUT_MS_DEFAULT;
    const char *brokers_arg = NULL;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":b:h", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            brokers_arg = optarg;
            break;
        case 'h':
            print_help();
            return TOOL_EXIT_OK;
        case OPT_TIMEOUT:
            if (!tool_parse_u32(optarg, "--timeout", 1, ADMIN_TIMEOUT_MS_MAX, &o.timeout_ms))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_JSON:
            o.json = true;
            break;
        case OPT_PARTITIONS:
            if (!tool_parse_u32(optarg, "--partitions", 1, WIRE_PARTITIONS_MAX, &o.partitions))
                return TOOL_EXIT_USAGE;
            o.has_partitions = true;
            break;
        case OPT_REPLICAS:
            if (!tool_parse_u32(optarg, "--replicas", 1, WIRE_REPLICAS_MAX, &o.replicas))
                return TOOL_EXIT_USAGE;
            o.has_replicas = true;
            break;
        case OPT_RETENTION_MS:
            if (parse_i64_positive(optarg, "--retention-ms", &o.retention_ms) != 0)
                return TOOL_EXIT_USAGE;
            o.has_retention_ms = true;
            break;
        case OPT_RETENTION_BYTES:
            if (parse_i64_positive(optarg, "--retention-bytes", &o.retention_bytes) != 0)
                return TOOL_EXIT_USAGE;
            o.has_retention_bytes = true;
            break;
        case ':':
            return tool_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    if (nargs == 0)
        return tool_usage_error("no command given (topic create|delete|list|describe, cluster status)");

    enum { CMD_CREATE, CMD_DELETE, CMD_LIST, CMD_DESCRIBE, CMD_STATUS } cmd;
    const char *name = NULL;
    int want_args;
    if (strcmp(args[0], "topic") == 0 && nargs >= 2 && strcmp(args[1], "create") == 0) {
        cmd = CMD_CREATE;
        want_args = 3;
    } else if (strcmp(args[0], "topic") == 0 && nargs >= 2 && strcmp(args[1], "delete") == 0) {
        cmd = CMD_DELETE;
        want_args = 3;
    } else if (strcmp(args[0], "topic") == 0 && nargs >= 2 && strcmp(args[1], "list") == 0) {
        cmd = CMD_LIST;
        want_args = 2;
    } else if (strcmp(args[0], "topic") == 0 && nargs >= 2 && strcmp(args[1], "describe") == 0) {
        cmd = CMD_DESCRIBE;
        want_args = 3;
    } else if (strcmp(args[0], "cluster") == 0 && nargs >= 2 && strcmp(args[1], "status") == 0) {
        cmd = CMD_STATUS;
        want_args = 2;
    } else {
        return tool_usage_error("unknown command '%s%s%s'", args[0], nargs >= 2 ? " " : "",
                                nargs >= 2 ? args[1] : "");
    }
    if (nargs < want_args)
        return tool_usage_error("'%s %s' needs a topic name", args[0], args[1]);
    if (nargs > want_args)
        return tool_usage_error("unexpected argument '%s'", args[want_args]);
    if (want_args == 3) {
        name = args[2];
        if (!tool_check_topic_name(name))
            return TOOL_EXIT_USAGE;
    }
    if (cmd == CMD_CREATE) {
        if (!o.has_partitions || !o.has_replicas)
            return tool_usage_error("topic create needs --partitions N and --replicas R");
    } else if (o.has_partitions || o.has_replicas || o.has_retention_ms || o.has_retention_bytes) {
        return tool_usage_error("--partitions, --replicas and --retention-* go with 'topic create'");
    }
    if (o.json && (cmd == CMD_CREATE || cmd == CMD_DELETE))
        return tool_usage_error("--json goes with topic list, topic describe and cluster status");
    if (!tool_brokers(brokers_arg, o.brokers, sizeof(o.brokers)))
        return TOOL_EXIT_USAGE;

    struct wire_client *c = tool_client_open(o.brokers, o.timeout_ms, 0);
    if (c == NULL)
        return TOOL_EXIT_FAILED;
    int result;
    switch (cmd) {
    case CMD_CREATE:
        result = topic_create(c, &o, name);
        break;
    case CMD_DELETE:
        result = topic_delete(c, &o, name);
        break;
    case CMD_LIST:
        result = topic_list(c, &o);
        break;
    case CMD_DESCRIBE:
        result = topic_describe(c, &o, name);
        break;
    case CMD_STATUS:
    default:
        result = cluster_status(c, &o);
        break;
    }
    wire_client_close(c);
    if (fflush(stdout) != 0) {
        tool_error("cannot write the output");
        result = TOOL_EXIT_FAILED;
    }
    return result;
}
