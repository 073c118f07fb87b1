/* raftmq-admin: manages topics and consumer groups, and shows the cluster's Raft groups. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire/client.h"
#include "wire/clock.h"
#include "wire/tool.h"
#include "wire/validate.h"

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
        "  group list           every consumer group: state, members, generation\n"
        "  group describe GROUP its members and, per partition, committed offset, end, lag\n"
        "                       and owner\n"
        "  group reset GROUP --to earliest|latest|OFFSET [--topic T]\n"
        "                       move the group's committed offsets (only when it has no\n"
        "                       members); 'raftmq-admin group --help' has the details\n"
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
        "  raftmq-admin -b 127.0.0.1:9292 group describe billing\n"
        "\n"
        "Exit status: 0 done, 1 the operation failed (unreachable brokers, unknown topic,\n"
        "refused request, no leader in time), 2 bad command line.\n",
        ADMIN_TIMEOUT_MS_DEFAULT, WIRE_PARTITIONS_MAX, WIRE_REPLICAS_MAX);
}

enum reset_to {
    RESET_TO_NONE,
    RESET_TO_EARLIEST,
    RESET_TO_LATEST,
    RESET_TO_OFFSET,
};

static void print_group_help(const char *sub)
{
    bool all = sub == NULL;
    printf("Usage: raftmq-admin [-b BROKERS] [--timeout MS] [--json] group COMMAND\n\n");
    printf("Consumer groups: every group's coordinator is the controller; any broker in -b\n"
           "will do. Committed offsets live in the metadata Raft group.\n\n");
    if (all || strcmp(sub, "list") == 0)
        printf("  group list\n"
               "      Every group with members or committed offsets, by name: STATE (empty: no\n"
               "      members; rebalancing: partitions are moving; stable), MEMBERS, GENERATION\n"
               "      (0 when it has no members). --json: one object.\n\n");
    if (all || strcmp(sub, "describe") == 0)
        printf("  group describe GROUP\n"
               "      The state and generation, each member (member id, client id, generation it\n"
               "      was last told, ms since the coordinator last heard from it, session\n"
               "      timeout, partitions assigned and owned), and each partition the group has\n"
               "      an offset for or hands out: COMMITTED (- when none), END (the partition's\n"
               "      end offset, from its leader), LAG = END - COMMITTED (END when nothing is\n"
               "      committed), OWNER (the member consuming it) and ASSIGNED_TO (the member it\n"
               "      goes to; differs from OWNER while it moves). A group with no members and\n"
               "      no committed offsets is an error (exit 1). --json: one object.\n\n");
    if (all || strcmp(sub, "reset") == 0)
        printf("  group reset GROUP --to earliest|latest|OFFSET [--topic T]\n"
               "      Sets the group's committed offset of every partition it has one for (or\n"
               "      of every partition of T) to the partition's earliest retained offset,\n"
               "      its end, or OFFSET (moved into the partition's range if outside it). The\n"
               "      only way besides a member's seek to move offsets back. Refused while the\n"
               "      group has members: stop them first (raftmq-consume exits cleanly on\n"
               "      Ctrl-C). Prints each partition's old and new offset.\n\n");
    printf("Examples:\n"
           "  raftmq-admin group list\n"
           "  raftmq-admin group describe billing\n"
           "  raftmq-admin group reset billing --to earliest\n"
           "  raftmq-admin group reset billing --to 1200 --topic orders\n");
}

struct admin_opts {
    char brokers[ADMIN_BROKERS_BYTES];
    enum reset_to reset_to;  /* group reset --to */
    int64_t reset_offset;    /* --to OFFSET */
    const char *reset_topic; /* group reset --topic; NULL: every topic with offsets */
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
    ct->name = wire_bytes_str(name);
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
    req.body.delete_topic_req.name = wire_bytes_str(name);
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

/* ---- consumer groups ------------------------------------------------------------------ */

/*
 * Every group request goes to the controller, the coordinator of every
 * group (wire_client_request follows NOT_LEADER to it). A response lives
 * in the client's buffers until the next call, so what is needed across
 * calls is copied into the structs below.
 */

struct group_part {
    char topic[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    uint32_t partition;
    int64_t committed; /* -1: none */
    int64_t end;       /* -1: unknown */
    int owner;         /* index of the member that owns it, -1: none */
    int target;        /* index of the member it is assigned to, -1: none */
};

struct group_member_view {
    char member_id[WIRE_MEMBER_ID_BYTES_MAX + 1];
    char client_id[WIRE_CLIENT_ID_BYTES_MAX + 1];
    uint64_t generation;
    uint32_t session_timeout_ms;
    uint32_t last_heard_ms_ago;
    uint32_t assigned;
    uint32_t owned;
    uint32_t topics;
};

struct group_view {
    char state[32];
    uint64_t generation;
    struct group_member_view *members;
    uint32_t member_count;
    struct group_part *parts;
    uint32_t part_count;
    uint32_t part_cap;
};

static void group_view_free(struct group_view *v)
{
    free(v->members);
    free(v->parts);
    memset(v, 0, sizeof(*v));
}

static bool bytes_eq(struct wire_bytes b, const char *s)
{
    return b.len == strlen(s) && (b.len == 0 || memcmp(b.ptr, s, b.len) == 0);
}

static void copy_str(char *dst, size_t cap, struct wire_bytes b)
{
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n > 0)
        memcpy(dst, b.ptr, n);
    dst[n] = '\0';
}

/* The partition (topic, p) of the view, added when absent; NULL when out of memory. */
static struct group_part *group_part(struct group_view *v, struct wire_bytes topic, uint32_t p)
{
    for (uint32_t i = 0; i < v->part_count; i++) {
        if (v->parts[i].partition == p && bytes_eq(topic, v->parts[i].topic))
            return &v->parts[i];
    }
    if (topic.len > WIRE_TOPIC_NAME_BYTES_MAX)
        return NULL;
    if (v->part_count == v->part_cap) {
        uint32_t cap = v->part_cap == 0 ? 64 : v->part_cap * 2;
        struct group_part *grown = realloc(v->parts, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        v->parts = grown;
        v->part_cap = cap;
    }
    struct group_part *gp = &v->parts[v->part_count++];
    memset(gp, 0, sizeof(*gp));
    copy_str(gp->topic, sizeof(gp->topic), topic);
    gp->partition = p;
    gp->committed = -1;
    gp->end = -1;
    gp->owner = -1;
    gp->target = -1;
    return gp;
}

static int cmp_group_part(const void *a, const void *b)
{
    const struct group_part *x = a, *y = b;
    int d = strcmp(x->topic, y->topic);
    if (d != 0)
        return d;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* Sends a group request; prints the failure (prefixed by `what`) and returns TOOL_EXIT_FAILED. */
static int group_request(struct wire_client *c, const struct admin_opts *o, struct wire_frame *req,
                         struct wire_frame *resp, const char *what)
{
    int rc = wire_client_request(c, req, o->timeout_ms, 0, resp);
    if (rc != WIRE_OK) {
        tool_error("%s: %s", what, wire_client_error(c));
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}

/* DESCRIBE_GROUP into *v (members, committed offsets, who owns and is assigned what). */
static int group_fetch_view(struct wire_client *c, const struct admin_opts *o, const char *group,
                            struct group_view *v)
{
    memset(v, 0, sizeof(*v));
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_DESCRIBE_GROUP;
    req.body.describe_group_req.group =
        wire_bytes_str(group);
    if (group_request(c, o, &req, &resp, "describe group") != TOOL_EXIT_OK)
        return TOOL_EXIT_FAILED;
    if (resp.error != WIRE_OK) {
        char why[512];
        tool_error("describe group '%s': %s", group, tool_response_error(&resp, why, sizeof(why)));
        return TOOL_EXIT_FAILED;
    }
    const struct wire_describe_group_resp *d = &resp.body.describe_group_resp;
    copy_str(v->state, sizeof(v->state), d->state);
    v->generation = d->generation;
    v->member_count = d->members.count;
    v->members = calloc(d->members.count > 0 ? d->members.count : 1, sizeof(*v->members));
    if (v->members == NULL)
        goto oom;
    for (uint32_t i = 0; i < d->members.count; i++) {
        const struct wire_group_member *m = &d->members.items[i];
        struct group_member_view *mv = &v->members[i];
        copy_str(mv->member_id, sizeof(mv->member_id), m->member_id);
        copy_str(mv->client_id, sizeof(mv->client_id), m->client_id);
        mv->generation = m->generation;
        mv->session_timeout_ms = m->session_timeout_ms;
        mv->last_heard_ms_ago = m->last_heard_ms_ago;
        mv->assigned = m->assigned.count;
        mv->owned = m->owned.count;
        mv->topics = m->topics.count;
        for (uint32_t k = 0; k < m->assigned.count; k++) {
            struct group_part *gp =
                group_part(v, m->assigned.items[k].topic, m->assigned.items[k].partition);
            if (gp == NULL)
                goto oom;
            gp->target = (int)i;
        }
        for (uint32_t k = 0; k < m->owned.count; k++) {
            struct group_part *gp =
                group_part(v, m->owned.items[k].topic, m->owned.items[k].partition);
            if (gp == NULL)
                goto oom;
            gp->owner = (int)i;
        }
    }
    for (uint32_t i = 0; i < d->offsets.count; i++) {
        struct group_part *gp =
            group_part(v, d->offsets.items[i].topic, d->offsets.items[i].partition);
        if (gp == NULL)
            goto oom;
        gp->committed = d->offsets.items[i].offset;
    }
    if (v->part_count > 1)
        qsort(v->parts, v->part_count, sizeof(v->parts[0]), cmp_group_part);
    return TOOL_EXIT_OK;
oom:
    tool_error("out of memory");
    group_view_free(v);
    return TOOL_EXIT_FAILED;
}

/* LIST_OFFSETS of a partition (spec -2 earliest, -1 latest); -1 when it cannot be had. */
static int64_t list_offset(struct wire_client *c, const struct admin_opts *o, const char *topic,
                           uint32_t partition, int64_t spec, int64_t deadline, char *why,
                           size_t cap)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_LIST_OFFSETS;
    req.body.list_offsets_req.topic =
        wire_bytes_str(topic);
    req.body.list_offsets_req.partition = partition;
    req.body.list_offsets_req.spec = spec;
    (void)o;
    int rc = wire_client_request(c, &req, left_ms(deadline), 0, &resp);
    if (rc != WIRE_OK) {
        snprintf(why, cap, "%s", wire_client_error(c));
        return -1;
    }
    if (resp.error != WIRE_OK) {
        tool_response_error(&resp, why, cap);
        return -1;
    }
    return (int64_t)resp.body.list_offsets_resp.offset;
}

static const char *member_label(const struct group_view *v, int index)
{
    return index >= 0 ? v->members[index].member_id : "-";
}

static bool group_is_unknown(const struct group_view *v)
{
    return v->member_count == 0 && v->part_count == 0;
}

static int group_describe(struct wire_client *c, const struct admin_opts *o, const char *group)
{
    int64_t deadline = tool_now_ms() + o->timeout_ms;
    struct group_view v;
    if (group_fetch_view(c, o, group, &v) != TOOL_EXIT_OK)
        return TOOL_EXIT_FAILED;
    if (group_is_unknown(&v)) {
        tool_error("group '%s' has no members and no committed offsets", group);
        group_view_free(&v);
        return TOOL_EXIT_FAILED;
    }
    /* End offsets, from each partition's leader. */
    unsigned unknown_ends = 0;
    char why[512] = "";
    for (uint32_t i = 0; i < v.part_count; i++) {
        v.parts[i].end = list_offset(c, o, v.parts[i].topic, v.parts[i].partition, -1, deadline,
                                     why, sizeof(why));
        unknown_ends += v.parts[i].end < 0;
    }
    if (o->json) {
        printf("{\"group\":");
        tool_json_string(stdout, group, strlen(group));
        printf(",\"state\":");
        tool_json_string(stdout, v.state, strlen(v.state));
        printf(",\"generation\":%" PRIu64 ",\"members\":[", v.generation);
        for (uint32_t i = 0; i < v.member_count; i++) {
            const struct group_member_view *m = &v.members[i];
            printf("%s{\"member_id\":", i > 0 ? "," : "");
            tool_json_string(stdout, m->member_id, strlen(m->member_id));
            printf(",\"client_id\":");
            tool_json_string(stdout, m->client_id, strlen(m->client_id));
            printf(",\"generation\":%" PRIu64 ",\"session_timeout_ms\":%" PRIu32
                   ",\"last_heard_ms_ago\":%" PRIu32 ",\"assigned\":%" PRIu32 ",\"owned\":%" PRIu32
                   "}",
                   m->generation, m->session_timeout_ms, m->last_heard_ms_ago, m->assigned,
                   m->owned);
        }
        printf("],\"partitions\":[");
        for (uint32_t i = 0; i < v.part_count; i++) {
            const struct group_part *p = &v.parts[i];
            printf("%s{\"topic\":", i > 0 ? "," : "");
            tool_json_string(stdout, p->topic, strlen(p->topic));
            printf(",\"partition\":%" PRIu32 ",\"committed\":%" PRId64 ",\"end\":%" PRId64,
                   p->partition, p->committed, p->end);
            if (p->end >= 0)
                printf(",\"lag\":%" PRId64, p->end - (p->committed >= 0 ? p->committed : 0));
            else
                printf(",\"lag\":null");
            printf(",\"owner\":");
            const char *owner = p->owner >= 0 ? v.members[p->owner].member_id : "";
            tool_json_string(stdout, owner, strlen(owner));
            printf(",\"assigned_to\":");
            const char *target = p->target >= 0 ? v.members[p->target].member_id : "";
            tool_json_string(stdout, target, strlen(target));
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("group %s: %s, generation %" PRIu64 ", %" PRIu32 " member%s\n", group, v.state,
               v.generation, v.member_count, v.member_count == 1 ? "" : "s");
        if (v.member_count > 0) {
            int idw = 9, cw = 9;
            for (uint32_t i = 0; i < v.member_count; i++) {
                if ((int)strlen(v.members[i].member_id) > idw)
                    idw = (int)strlen(v.members[i].member_id);
                if ((int)strlen(v.members[i].client_id) > cw)
                    cw = (int)strlen(v.members[i].client_id);
            }
            printf("\n%-*s  %-*s  %10s  %13s  %10s  %8s  %5s\n", idw, "MEMBER_ID", cw, "CLIENT_ID",
                   "GENERATION", "LAST_HEARD_MS", "SESSION_MS", "ASSIGNED", "OWNED");
            for (uint32_t i = 0; i < v.member_count; i++) {
                const struct group_member_view *m = &v.members[i];
                printf("%-*s  %-*s  %10" PRIu64 "  %13" PRIu32 "  %10" PRIu32 "  %8" PRIu32
                       "  %5" PRIu32 "\n",
                       idw, m->member_id, cw, m->client_id[0] != '\0' ? m->client_id : "-",
                       m->generation, m->last_heard_ms_ago, m->session_timeout_ms, m->assigned,
                       m->owned);
            }
        }
        if (v.part_count > 0) {
            int tw = 5, ow = 5;
            for (uint32_t i = 0; i < v.part_count; i++) {
                if ((int)strlen(v.parts[i].topic) > tw)
                    tw = (int)strlen(v.parts[i].topic);
                if ((int)strlen(member_label(&v, v.parts[i].owner)) > ow)
                    ow = (int)strlen(member_label(&v, v.parts[i].owner));
            }
            printf("\n%-*s  %9s  %12s  %12s  %12s  %-*s  %s\n", tw, "TOPIC", "PARTITION",
                   "COMMITTED", "END", "LAG", ow, "OWNER", "ASSIGNED_TO");
            for (uint32_t i = 0; i < v.part_count; i++) {
                const struct group_part *p = &v.parts[i];
                char committed[24], end[24], lag[24];
                if (p->committed >= 0)
                    snprintf(committed, sizeof(committed), "%" PRId64, p->committed);
                else
                    snprintf(committed, sizeof(committed), "-");
                if (p->end >= 0) {
                    snprintf(end, sizeof(end), "%" PRId64, p->end);
                    /* nothing committed: the whole partition is still to be read */
                    snprintf(lag, sizeof(lag), "%" PRId64,
                             p->end - (p->committed >= 0 ? p->committed : 0));
                } else {
                    snprintf(end, sizeof(end), "?");
                    snprintf(lag, sizeof(lag), "?");
                }
                printf("%-*s  %9" PRIu32 "  %12s  %12s  %12s  %-*s  %s\n", tw, p->topic,
                       p->partition, committed, end, lag, ow, member_label(&v, p->owner),
                       member_label(&v, p->target));
            }
        }
    }
    if (unknown_ends > 0)
        tool_error("the end offset of %u partition%s is unknown (shown as ?): %s", unknown_ends,
                   unknown_ends == 1 ? "" : "s", why);
    group_view_free(&v);
    return TOOL_EXIT_OK;
}

static int cmp_summary(const void *a, const void *b)
{
    const struct wire_group_summary *x = a, *y = b;
    uint32_t n = x->group.len < y->group.len ? x->group.len : y->group.len;
    int d = n > 0 ? memcmp(x->group.ptr, y->group.ptr, n) : 0;
    if (d != 0)
        return d;
    return x->group.len < y->group.len ? -1 : x->group.len > y->group.len;
}

static int group_list(struct wire_client *c, const struct admin_opts *o)
{
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_LIST_GROUPS;
    if (group_request(c, o, &req, &resp, "list groups") != TOOL_EXIT_OK)
        return TOOL_EXIT_FAILED;
    if (resp.error != WIRE_OK) {
        char why[512];
        tool_error("list groups: %s", tool_response_error(&resp, why, sizeof(why)));
        return TOOL_EXIT_FAILED;
    }
    struct wire_list_groups_resp *l = &resp.body.list_groups_resp;
    if (l->groups.count > 1)
        qsort(l->groups.items, l->groups.count, sizeof(l->groups.items[0]), cmp_summary);
    if (o->json) {
        printf("{\"groups\":[");
        for (uint32_t i = 0; i < l->groups.count; i++) {
            const struct wire_group_summary *g = &l->groups.items[i];
            printf("%s{\"group\":", i > 0 ? "," : "");
            tool_json_string(stdout, g->group.ptr, g->group.len);
            printf(",\"state\":");
            tool_json_string(stdout, g->state.ptr, g->state.len);
            printf(",\"members\":%" PRIu32 ",\"generation\":%" PRIu64 "}", g->members,
                   g->generation);
        }
        printf("]}\n");
        return TOOL_EXIT_OK;
    }
    int width = 5, sw = 5;
    for (uint32_t i = 0; i < l->groups.count; i++) {
        if ((int)l->groups.items[i].group.len > width)
            width = (int)l->groups.items[i].group.len;
        if ((int)l->groups.items[i].state.len > sw && l->groups.items[i].state.len < 64)
            sw = (int)l->groups.items[i].state.len;
    }
    printf("%-*s  %-*s  %7s  %10s\n", width, "GROUP", sw, "STATE", "MEMBERS", "GENERATION");
    for (uint32_t i = 0; i < l->groups.count; i++) {
        const struct wire_group_summary *g = &l->groups.items[i];
        printf("%-*.*s  %-*.*s  %7" PRIu32 "  %10" PRIu64 "\n", width, (int)g->group.len,
               (const char *)g->group.ptr, sw, (int)(g->state.len < 64 ? g->state.len : 64),
               (const char *)g->state.ptr, g->members, g->generation);
    }
    if (l->groups.count == 0)
        printf("(no groups)\n");
    return TOOL_EXIT_OK;
}

/* One partition of a reset: where it was and where it goes. */
struct reset_item {
    char topic[WIRE_TOPIC_NAME_BYTES_MAX + 1];
    uint32_t partition;
    int64_t old_offset; /* -1: none committed */
    int64_t new_offset;
    bool clamped;
};

/* Commits every item with member "" and rewind, in requests of at most this many. */
#define RESET_BATCH_ITEMS 4096u

static int reset_commit(struct wire_client *c, const struct admin_opts *o, const char *group,
                        const struct reset_item *items, uint32_t count, const struct group_view *v)
{
    struct wire_partition_offset *po = calloc(RESET_BATCH_ITEMS, sizeof(*po));
    if (po == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_FAILED;
    }
    int result = TOOL_EXIT_OK;
    for (uint32_t from = 0; from < count && result == TOOL_EXIT_OK; from += RESET_BATCH_ITEMS) {
        uint32_t n = count - from < RESET_BATCH_ITEMS ? count - from : RESET_BATCH_ITEMS;
        for (uint32_t i = 0; i < n; i++) {
            const struct reset_item *it = &items[from + i];
            po[i].topic =
                wire_bytes_str(it->topic);
            po[i].partition = it->partition;
            po[i].offset = it->new_offset;
        }
        struct wire_frame req, resp;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_OFFSET_COMMIT;
        struct wire_offset_commit_req *oc = &req.body.offset_commit_req;
        oc->group = wire_bytes_str(group);
        oc->member_id = (struct wire_bytes){(const uint8_t *)"", 0};
        oc->generation = 0;
        oc->rewind = true; /* a reset is the explicit seek that may move offsets back */
        oc->offsets.count = n;
        oc->offsets.items = po;
        if (group_request(c, o, &req, &resp, "reset group") != TOOL_EXIT_OK) {
            result = TOOL_EXIT_FAILED;
        } else if (resp.error == WIRE_ERR_GROUP_NOT_EMPTY) {
            /* The view may predate a member that joined since: ask again for the count. */
            struct group_view now;
            uint32_t members = v->member_count;
            if (group_fetch_view(c, o, group, &now) == TOOL_EXIT_OK) {
                members = now.member_count;
                group_view_free(&now);
            }
            if (members > 0)
                tool_error("group %s has %" PRIu32 " member%s; stop %s before resetting it", group,
                           members, members == 1 ? "" : "s", members == 1 ? "it" : "them");
            else
                tool_error("group %s has members; stop them before resetting it", group);
            result = TOOL_EXIT_FAILED;
        } else if (resp.error != WIRE_OK) {
            char why[512];
            tool_error("reset group '%s': %s", group, tool_response_error(&resp, why, sizeof(why)));
            result = TOOL_EXIT_FAILED;
        }
    }
    free(po);
    return result;
}

static int group_reset(struct wire_client *c, const struct admin_opts *o, const char *group)
{
    int64_t deadline = tool_now_ms() + o->timeout_ms;
    struct group_view v;
    if (group_fetch_view(c, o, group, &v) != TOOL_EXIT_OK)
        return TOOL_EXIT_FAILED;
    int result = TOOL_EXIT_FAILED;
    struct reset_item *items = NULL;
    uint32_t count = 0;
    if (v.member_count > 0) {
        /* The coordinator refuses it too (GROUP_NOT_EMPTY); saying so here costs nothing. */
        tool_error("group %s has %" PRIu32 " member%s; stop %s before resetting it", group,
                   v.member_count, v.member_count == 1 ? "" : "s",
                   v.member_count == 1 ? "it" : "them");
        goto done;
    }
    if (o->reset_topic != NULL) {
        uint32_t partitions;
        int rc = tool_topic_metadata(c, o->reset_topic, left_ms(deadline), &partitions);
        if (rc == WIRE_ERR_UNKNOWN_TOPIC) {
            tool_error("unknown topic '%s'", o->reset_topic);
            goto done;
        }
        if (rc != WIRE_OK) {
            tool_error("%s", wire_client_error(c));
            goto done;
        }
        items = calloc(partitions > 0 ? partitions : 1, sizeof(*items));
        if (items == NULL)
            goto oom;
        for (uint32_t p = 0; p < partitions; p++) {
            snprintf(items[count].topic, sizeof(items[count].topic), "%s", o->reset_topic);
            items[count].partition = p;
            items[count].old_offset = -1;
            for (uint32_t i = 0; i < v.part_count; i++) {
                if (v.parts[i].partition == p && strcmp(v.parts[i].topic, o->reset_topic) == 0)
                    items[count].old_offset = v.parts[i].committed;
            }
            count++;
        }
    } else {
        items = calloc(v.part_count > 0 ? v.part_count : 1, sizeof(*items));
        if (items == NULL)
            goto oom;
        for (uint32_t i = 0; i < v.part_count; i++) {
            if (v.parts[i].committed < 0)
                continue;
            snprintf(items[count].topic, sizeof(items[count].topic), "%s", v.parts[i].topic);
            items[count].partition = v.parts[i].partition;
            items[count].old_offset = v.parts[i].committed;
            count++;
        }
        if (count == 0) {
            tool_error("group '%s' has no members and no committed offsets: nothing to reset "
                       "(name a topic with --topic to set offsets for it)",
                       group);
            goto done;
        }
    }
    /* Where each partition goes: its earliest or latest offset, or the number, kept in range. */
    for (uint32_t i = 0; i < count; i++) {
        struct reset_item *it = &items[i];
        char why[512];
        int64_t earliest =
            list_offset(c, o, it->topic, it->partition, -2, deadline, why, sizeof(why));
        int64_t latest = earliest >= 0 ? list_offset(c, o, it->topic, it->partition, -1, deadline,
                                                     why, sizeof(why))
                                       : -1;
        if (earliest < 0 || latest < 0) {
            tool_error("%s/%" PRIu32 ": cannot read its offsets: %s", it->topic, it->partition,
                       why);
            goto done;
        }
        if (o->reset_to == RESET_TO_EARLIEST)
            it->new_offset = earliest;
        else if (o->reset_to == RESET_TO_LATEST)
            it->new_offset = latest;
        else {
            it->new_offset = o->reset_offset;
            if (it->new_offset < earliest || it->new_offset > latest) {
                it->new_offset = it->new_offset < earliest ? earliest : latest;
                it->clamped = true;
            }
        }
    }
    if (reset_commit(c, o, group, items, count, &v) != TOOL_EXIT_OK)
        goto done;
    int tw = 5;
    for (uint32_t i = 0; i < count; i++) {
        if ((int)strlen(items[i].topic) > tw)
            tw = (int)strlen(items[i].topic);
    }
    printf("reset group %s: %" PRIu32 " partition%s\n", group, count, count == 1 ? "" : "s");
    printf("%-*s  %9s  %12s  %12s\n", tw, "TOPIC", "PARTITION", "OLD", "NEW");
    for (uint32_t i = 0; i < count; i++) {
        char old[24];
        if (items[i].old_offset >= 0)
            snprintf(old, sizeof(old), "%" PRId64, items[i].old_offset);
        else
            snprintf(old, sizeof(old), "-");
        printf("%-*s  %9" PRIu32 "  %12s  %12" PRId64 "%s\n", tw, items[i].topic,
               items[i].partition, old, items[i].new_offset,
               items[i].clamped ? "  (out of range: moved to the nearest end)" : "");
    }
    result = TOOL_EXIT_OK;
    goto done;
oom:
    tool_error("out of memory");
done:
    free(items);
    group_view_free(&v);
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
    OPT_TO,
    OPT_TOPIC,
};

static int parse_reset_to(const char *arg, struct admin_opts *o)
{
    if (strcmp(arg, "earliest") == 0) {
        o->reset_to = RESET_TO_EARLIEST;
    } else if (strcmp(arg, "latest") == 0) {
        o->reset_to = RESET_TO_LATEST;
    } else {
        uint64_t v;
        if (arg[0] < '0' || arg[0] > '9')
            return tool_usage_error("--to: expected earliest, latest or an offset, not '%s'", arg);
        if (!tool_parse_u64(arg, "--to", 0, (uint64_t)INT64_MAX, &v))
            return TOOL_EXIT_USAGE;
        o->reset_offset = (int64_t)v;
        o->reset_to = RESET_TO_OFFSET;
    }
    return TOOL_EXIT_OK;
}

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
        {"to", required_argument, NULL, OPT_TO},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct admin_opts o;
    memset(&o, 0, sizeof(o));
    o.timeout_ms = ADMIN_TIMEOUT_MS_DEFAULT;
    const char *brokers_arg = NULL;
    bool want_help = false;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":b:h", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            brokers_arg = optarg;
            break;
        case 'h':
            want_help = true; /* which help depends on the command, parsed below */
            break;
        case OPT_TO: {
            int rc = parse_reset_to(optarg, &o);
            if (rc != TOOL_EXIT_OK)
                return rc;
            break;
        }
        case OPT_TOPIC:
            o.reset_topic = optarg;
            break;
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
    if (want_help) {
        if (nargs >= 1 && strcmp(args[0], "group") == 0)
            print_group_help(nargs >= 2 ? args[1] : NULL);
        else
            print_help();
        return TOOL_EXIT_OK;
    }
    if (nargs == 0)
        return tool_usage_error(
            "no command given (topic create|delete|list|describe, cluster status, "
            "group list|describe|reset)");

    enum {
        CMD_CREATE,
        CMD_DELETE,
        CMD_LIST,
        CMD_DESCRIBE,
        CMD_STATUS,
        CMD_GROUP_LIST,
        CMD_GROUP_DESCRIBE,
        CMD_GROUP_RESET,
    } cmd;
    bool group_cmd = strcmp(args[0], "group") == 0;
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
    } else if (group_cmd && nargs >= 2 && strcmp(args[1], "list") == 0) {
        cmd = CMD_GROUP_LIST;
        want_args = 2;
    } else if (group_cmd && nargs >= 2 && strcmp(args[1], "describe") == 0) {
        cmd = CMD_GROUP_DESCRIBE;
        want_args = 3;
    } else if (group_cmd && nargs >= 2 && strcmp(args[1], "reset") == 0) {
        cmd = CMD_GROUP_RESET;
        want_args = 3;
    } else if (group_cmd) {
        return tool_usage_error("unknown command 'group%s%s' (group list|describe|reset)",
                                nargs >= 2 ? " " : "", nargs >= 2 ? args[1] : "");
    } else {
        return tool_usage_error("unknown command '%s%s%s'", args[0], nargs >= 2 ? " " : "",
                                nargs >= 2 ? args[1] : "");
    }
    if (nargs < want_args)
        return tool_usage_error("'%s %s' needs a %s name", args[0], args[1],
                                group_cmd ? "group" : "topic");
    if (nargs > want_args)
        return tool_usage_error("unexpected argument '%s'", args[want_args]);
    if (want_args == 3) {
        name = args[2];
        if (group_cmd && !wire_topic_name_valid(name, strlen(name)))
            return tool_usage_error(
                "invalid group name '%s' (1..%u characters of A-Z a-z 0-9 . _ -, "
                "not '.' or '..')",
                name, WIRE_GROUP_NAME_BYTES_MAX);
        if (!group_cmd && !tool_check_topic_name(name))
            return TOOL_EXIT_USAGE;
    }
    if (cmd == CMD_GROUP_RESET) {
        if (o.reset_to == RESET_TO_NONE)
            return tool_usage_error("group reset needs --to earliest|latest|OFFSET");
        if (o.reset_topic != NULL && !tool_check_topic_name(o.reset_topic))
            return TOOL_EXIT_USAGE;
        if (o.json)
            return tool_usage_error("--json goes with list, describe and cluster status");
    } else if (o.reset_to != RESET_TO_NONE || o.reset_topic != NULL) {
        return tool_usage_error("--to and --topic go with 'group reset'");
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
    case CMD_GROUP_LIST:
        result = group_list(c, &o);
        break;
    case CMD_GROUP_DESCRIBE:
        result = group_describe(c, &o, name);
        break;
    case CMD_GROUP_RESET:
        result = group_reset(c, &o, name);
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
