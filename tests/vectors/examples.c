/*
 * Canonical example frames. Each builds one frame from static data; the
 * golden vectors in this folder are their encodings. Changing an example or
 * the encoder changes a vector, and tests/unit/test_vectors.c fails until the
 * vectors are regenerated on purpose (build/bin/raftmq-wire-vectors).
 */
#include "examples.h"

#include <stdio.h>
#include <string.h>

#define BYTES(s) ((struct wire_bytes){(const uint8_t *)(s), (uint32_t)(sizeof(s) - 1)})
#define ARRAY_LEN(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static void request(struct wire_frame *f, uint32_t type, uint64_t correlation_id)
{
    memset(f, 0, sizeof(*f));
    f->version = WIRE_PROTOCOL_VERSION;
    f->type = type;
    f->correlation_id = correlation_id;
}

static void response(struct wire_frame *f, uint32_t type, uint64_t correlation_id, int error,
                     struct wire_bytes message)
{
    request(f, type | WIRE_RESPONSE_BIT, correlation_id);
    f->error = (uint32_t)error;
    f->error_message = message;
}

static struct wire_bytes topic_names[] = {BYTES("orders"), BYTES("payments")};

static void metadata_req(struct wire_frame *f)
{
    request(f, WIRE_METADATA, 1);
    f->body.metadata_req.topics = (struct wire_bytes_array){ARRAY_LEN(topic_names), topic_names};
}

static uint32_t replicas_a[] = {1, 2, 3};
static uint32_t replicas_b[] = {2, 3, 1};
static struct wire_partition_meta orders_partitions[] = {
    {.partition = 0, .leader_id = 1, .leader_term = 4, .replicas = {3, replicas_a}},
    {.partition = 1, .leader_id = 2, .leader_term = 7, .replicas = {3, replicas_b}},
};
static struct wire_topic_meta topics_meta[] = {
    {.name = BYTES("orders"), .error = WIRE_OK, .partitions = {2, orders_partitions}},
    {.name = BYTES("payments"), .error = WIRE_ERR_UNKNOWN_TOPIC, .partitions = {0, NULL}},
};
static struct wire_broker brokers[] = {
    {.node_id = 1, .client_address = BYTES("tcp://127.0.0.1:9092")},
    {.node_id = 2, .client_address = BYTES("tcp://127.0.0.1:9093")},
    {.node_id = 3, .client_address = BYTES("tcp://127.0.0.1:9094")},
};

static void metadata_resp(struct wire_frame *f)
{
    response(f, WIRE_METADATA, 1, WIRE_OK, BYTES(""));
    f->body.metadata_resp.controller_id = 1;
    f->body.metadata_resp.brokers.count = ARRAY_LEN(brokers);
    f->body.metadata_resp.brokers.items = brokers;
    f->body.metadata_resp.topics.count = ARRAY_LEN(topics_meta);
    f->body.metadata_resp.topics.items = topics_meta;
}

static void create_topic_req(struct wire_frame *f)
{
    request(f, WIRE_CREATE_TOPIC, 2);
    f->body.create_topic_req = (struct wire_create_topic_req){
        .name = BYTES("orders"),
        .partitions = 3,
        .replication_factor = 3,
        .retention_ms = 7 * 24 * 3600 * 1000LL,
        .retention_bytes = -1,
    };
}

static void create_topic_resp(struct wire_frame *f)
{
    response(f, WIRE_CREATE_TOPIC, 2, WIRE_OK, BYTES(""));
}

static void create_topic_resp_exists(struct wire_frame *f)
{
    response(f, WIRE_CREATE_TOPIC, 2, WIRE_ERR_TOPIC_EXISTS, BYTES("topic 'orders' already exists"));
}

static void delete_topic_req(struct wire_frame *f)
{
    request(f, WIRE_DELETE_TOPIC, 3);
    f->body.delete_topic_req.name = BYTES("orders");
}

static void delete_topic_resp(struct wire_frame *f)
{
    response(f, WIRE_DELETE_TOPIC, 3, WIRE_OK, BYTES(""));
}

/*
 * The batch bytes inside PRODUCE and FETCH are opaque to the frame codec (a
 * bin); the record-batch format has vectors of its own in the batch tests.
 */
static struct wire_bytes produce_batches[] = {BYTES("\x9c\x01 opaque batch bytes")};

static void produce_req(struct wire_frame *f)
{
    request(f, WIRE_PRODUCE, 4);
    f->body.produce_req = (struct wire_produce_req){
        .topic = BYTES("orders"),
        .partition = 1,
        .timeout_ms = 5000,
        .batches = {ARRAY_LEN(produce_batches), produce_batches},
    };
}

static void produce_resp(struct wire_frame *f)
{
    response(f, WIRE_PRODUCE, 4, WIRE_OK, BYTES(""));
    f->body.produce_resp.base_offset = 1000;
    f->body.produce_resp.last_offset = 1099;
}

static void produce_resp_not_leader(struct wire_frame *f)
{
    response(f, WIRE_PRODUCE, 4, WIRE_ERR_NOT_LEADER,
             BYTES("broker 1 is not the leader of orders/1; the leader is broker 2"));
    f->body.not_leader_detail.leader_id = 2;
    f->body.not_leader_detail.leader_address = BYTES("tcp://127.0.0.1:9093");
}

static void fetch_req(struct wire_frame *f)
{
    request(f, WIRE_FETCH, 5);
    f->body.fetch_req = (struct wire_fetch_req){
        .topic = BYTES("orders"),
        .partition = 1,
        .offset = 1000,
        .max_bytes = 1048576,
        .max_wait_ms = 500,
    };
}

static struct wire_bytes fetch_batches[] = {BYTES("batch one"), BYTES("batch two")};

static void fetch_resp(struct wire_frame *f)
{
    response(f, WIRE_FETCH, 5, WIRE_OK, BYTES(""));
    f->body.fetch_resp.high_watermark = 1100;
    f->body.fetch_resp.log_start_offset = 0;
    f->body.fetch_resp.batches = (struct wire_bytes_array){ARRAY_LEN(fetch_batches), fetch_batches};
}

static void fetch_resp_out_of_range(struct wire_frame *f)
{
    response(f, WIRE_FETCH, 5, WIRE_ERR_OFFSET_OUT_OF_RANGE,
             BYTES("offset 5000 is outside [0, 1100)"));
    f->body.offset_range_detail.log_start_offset = 0;
    f->body.offset_range_detail.high_watermark = 1100;
}

static void list_offsets_req(struct wire_frame *f)
{
    request(f, WIRE_LIST_OFFSETS, 6);
    f->body.list_offsets_req = (struct wire_list_offsets_req){
        .topic = BYTES("orders"), .partition = 0, .spec = 1767225600000LL};
}

static void list_offsets_resp(struct wire_frame *f)
{
    response(f, WIRE_LIST_OFFSETS, 6, WIRE_OK, BYTES(""));
    f->body.list_offsets_resp.offset = 42;
    f->body.list_offsets_resp.timestamp = 1767225600123LL;
}

static void cluster_status_req(struct wire_frame *f)
{
    request(f, WIRE_CLUSTER_STATUS, 7);
}

static void init_producer_id_req(struct wire_frame *f)
{
    request(f, WIRE_INIT_PRODUCER_ID, 8);
}

static void init_producer_id_resp(struct wire_frame *f)
{
    response(f, WIRE_INIT_PRODUCER_ID, 8, WIRE_OK, BYTES(""));
    f->body.init_producer_id_resp.producer_id = 1041;
    f->body.init_producer_id_resp.producer_epoch = 0;
}

static struct wire_broker_status broker_statuses[] = {
    {1, BYTES("tcp://127.0.0.1:9092"), BYTES("tcp://127.0.0.1:9192"), true},
    {2, BYTES("tcp://127.0.0.1:9093"), BYTES("tcp://127.0.0.1:9193"), true},
    {3, BYTES("tcp://127.0.0.1:9094"), BYTES("tcp://127.0.0.1:9194"), false},
};
static struct wire_replica_status replica_statuses[] = {
    {1, 120, true}, {2, 120, true}, {3, 97, true}};
static struct wire_group_status group_statuses[] = {
    {BYTES(""), 0, 1, 3, 18, 18, {0, NULL}},
    {BYTES("orders"), 0, 1, 4, 120, 120, {3, replica_statuses}},
};

static void cluster_status_resp(struct wire_frame *f)
{
    response(f, WIRE_CLUSTER_STATUS, 7, WIRE_OK, BYTES(""));
    f->body.cluster_status_resp.node_id = 1;
    f->body.cluster_status_resp.brokers.count = ARRAY_LEN(broker_statuses);
    f->body.cluster_status_resp.brokers.items = broker_statuses;
    f->body.cluster_status_resp.groups.count = ARRAY_LEN(group_statuses);
    f->body.cluster_status_resp.groups.items = group_statuses;
}

/* ---- consumer groups ---------------------------------------------------------- */

static struct wire_partition_offset commit_offsets[] = {
    {BYTES("orders"), 0, 150},
    {BYTES("orders"), 3, 7},
};

static void offset_commit_req(struct wire_frame *f)
{
    request(f, WIRE_OFFSET_COMMIT, 9);
    f->body.offset_commit_req = (struct wire_offset_commit_req){
        .group = BYTES("billing"), .member_id = BYTES("1-4-17"), .generation = 7, .rewind = false,
        .offsets = {ARRAY_LEN(commit_offsets), commit_offsets}};
}

static void offset_commit_resp(struct wire_frame *f)
{
    response(f, WIRE_OFFSET_COMMIT, 9, WIRE_OK, BYTES(""));
}

static void offset_commit_resp_stale(struct wire_frame *f)
{
    response(f, WIRE_OFFSET_COMMIT, 9, WIRE_ERR_ILLEGAL_GENERATION,
             BYTES("generation 6 is stale; the member is at 7"));
}

static struct wire_bytes fetch_topics[] = {BYTES("orders")};

static void offset_fetch_req(struct wire_frame *f)
{
    request(f, WIRE_OFFSET_FETCH, 10);
    f->body.offset_fetch_req.group = BYTES("billing");
    f->body.offset_fetch_req.topics = (struct wire_bytes_array){ARRAY_LEN(fetch_topics), fetch_topics};
}

static struct wire_partition_offset fetched_offsets[] = {
    {BYTES("orders"), 0, 150},
    {BYTES("orders"), 1, -1},
};

static void offset_fetch_resp(struct wire_frame *f)
{
    response(f, WIRE_OFFSET_FETCH, 10, WIRE_OK, BYTES(""));
    f->body.offset_fetch_resp.offsets.count = ARRAY_LEN(fetched_offsets);
    f->body.offset_fetch_resp.offsets.items = fetched_offsets;
}

static struct wire_bytes subscription[] = {BYTES("orders"), BYTES("payments")};
static struct wire_topic_partition owned_partitions[] = {{BYTES("orders"), 0}};
static struct wire_topic_partition assigned_partitions[] = {{BYTES("orders"), 0}, {BYTES("payments"), 1}};

static void join_group_req(struct wire_frame *f)
{
    request(f, WIRE_JOIN_GROUP, 11);
    f->body.join_group_req = (struct wire_join_group_req){
        .group = BYTES("billing"), .client_id = BYTES("host-a/4711"),
        .topics = {ARRAY_LEN(subscription), subscription},
        .owned = {ARRAY_LEN(owned_partitions), owned_partitions},
        .session_timeout_ms = 10000, .instance_id = BYTES("5f0c9e2a41d7b386e1a4c07d92b5f318")};
}

static void join_group_resp(struct wire_frame *f)
{
    response(f, WIRE_JOIN_GROUP, 11, WIRE_OK, BYTES(""));
    f->body.join_group_resp = (struct wire_join_group_resp){
        .member_id = BYTES("1-4-17"), .generation = 7,
        .assigned = {ARRAY_LEN(assigned_partitions), assigned_partitions}, .pending = 1};
}

static void sync_group_req(struct wire_frame *f)
{
    request(f, WIRE_SYNC_GROUP, 12);
    f->body.sync_group_req = (struct wire_sync_group_req){
        .group = BYTES("billing"), .member_id = BYTES("1-4-17"), .generation = 7,
        .owned = {ARRAY_LEN(assigned_partitions), assigned_partitions}};
}

static void sync_group_resp(struct wire_frame *f)
{
    response(f, WIRE_SYNC_GROUP, 12, WIRE_OK, BYTES(""));
    f->body.sync_group_resp = (struct wire_sync_group_resp){
        .generation = 8, .assigned = {1, owned_partitions}, .pending = 0};
}

static void heartbeat_req(struct wire_frame *f)
{
    request(f, WIRE_HEARTBEAT, 13);
    f->body.heartbeat_req = (struct wire_heartbeat_req){
        .group = BYTES("billing"), .member_id = BYTES("1-4-17"), .generation = 7};
}

static void heartbeat_resp(struct wire_frame *f)
{
    response(f, WIRE_HEARTBEAT, 13, WIRE_OK, BYTES(""));
    f->body.heartbeat_resp.generation = 8;
}

static void leave_group_req(struct wire_frame *f)
{
    request(f, WIRE_LEAVE_GROUP, 14);
    f->body.leave_group_req = (struct wire_leave_group_req){.group = BYTES("billing"),
                                                            .member_id = BYTES("1-4-17")};
}

static void leave_group_resp(struct wire_frame *f)
{
    response(f, WIRE_LEAVE_GROUP, 14, WIRE_OK, BYTES(""));
}

static void list_groups_req(struct wire_frame *f)
{
    request(f, WIRE_LIST_GROUPS, 15);
}

static struct wire_group_summary group_summaries[] = {
    {BYTES("audit"), BYTES("empty"), 0, 0},
    {BYTES("billing"), BYTES("stable"), 2, 8},
};

static void list_groups_resp(struct wire_frame *f)
{
    response(f, WIRE_LIST_GROUPS, 15, WIRE_OK, BYTES(""));
    f->body.list_groups_resp.groups.count = ARRAY_LEN(group_summaries);
    f->body.list_groups_resp.groups.items = group_summaries;
}

static void describe_group_req(struct wire_frame *f)
{
    request(f, WIRE_DESCRIBE_GROUP, 16);
    f->body.describe_group_req.group = BYTES("billing");
}

static struct wire_bytes member_topics[] = {BYTES("orders")};
static struct wire_group_member group_members[] = {
    {.member_id = BYTES("1-4-17"), .client_id = BYTES("host-a/4711"), .generation = 8,
     .session_timeout_ms = 10000, .last_heard_ms_ago = 1200,
     .topics = {ARRAY_LEN(member_topics), member_topics},
     .assigned = {1, owned_partitions}, .owned = {1, owned_partitions}},
};

static void describe_group_resp(struct wire_frame *f)
{
    response(f, WIRE_DESCRIBE_GROUP, 16, WIRE_OK, BYTES(""));
    f->body.describe_group_resp = (struct wire_describe_group_resp){
        .group = BYTES("billing"), .state = BYTES("stable"), .generation = 8,
        .members = {ARRAY_LEN(group_members), group_members},
        .offsets = {1, commit_offsets}};
}

static struct wire_entry entries[] = {
    {.term = 4, .type = 3, .payload = BYTES("")},
    {.term = 4, .type = 1, .payload = BYTES("\x9c\x01 batch")},
};

static void append_entries_req(struct wire_frame *f)
{
    request(f, WIRE_APPEND_ENTRIES, 100);
    f->body.append_entries_req = (struct wire_append_entries_req){
        .group = 7,
        .from = 1,
        .to = 2,
        .term = 4,
        .prev_log_index = 10,
        .prev_log_term = 3,
        .leader_commit = 9,
        .entries = {ARRAY_LEN(entries), entries},
    };
}

static void append_entries_resp(struct wire_frame *f)
{
    response(f, WIRE_APPEND_ENTRIES, 100, WIRE_OK, BYTES(""));
    f->body.append_entries_resp = (struct wire_append_entries_resp){
        .group = 7, .from = 2, .to = 1, .term = 4, .success = false,
        .match_index = 0, .conflict_index = 8, .conflict_term = 2};
}

static void request_vote_req(struct wire_frame *f)
{
    request(f, WIRE_REQUEST_VOTE, 101);
    f->body.request_vote_req = (struct wire_request_vote_req){
        .group = 0, .from = 3, .to = 1, .term = 5, .last_log_index = 12,
        .last_log_term = 4, .pre_vote = true, .leadership_transfer = false};
}

static void request_vote_resp(struct wire_frame *f)
{
    response(f, WIRE_REQUEST_VOTE, 101, WIRE_OK, BYTES(""));
    f->body.request_vote_resp = (struct wire_request_vote_resp){
        .group = 0, .from = 1, .to = 3, .term = 5, .granted = true, .pre_vote = true};
}

static struct wire_member members[] = {{1, true}, {2, true}, {3, true}, {4, false}};

static void install_snapshot_req(struct wire_frame *f)
{
    request(f, WIRE_INSTALL_SNAPSHOT, 102);
    f->body.install_snapshot_req = (struct wire_install_snapshot_req){
        .group = 7,
        .from = 1,
        .to = 3,
        .term = 4,
        .last_index = 500,
        .last_term = 4,
        .configuration = {ARRAY_LEN(members), members},
        .offset = 0,
        .data = BYTES("snapshot chunk"),
        .done = true,
    };
}

static void install_snapshot_resp(struct wire_frame *f)
{
    response(f, WIRE_INSTALL_SNAPSHOT, 102, WIRE_OK, BYTES(""));
    f->body.install_snapshot_resp = (struct wire_install_snapshot_resp){
        .group = 7, .from = 3, .to = 1, .term = 4, .last_index = 500, .next_offset = 14};
}

static void timeout_now_req(struct wire_frame *f)
{
    request(f, WIRE_TIMEOUT_NOW, 103);
    f->body.timeout_now_req = (struct wire_timeout_now_req){.group = 7, .from = 1, .to = 2, .term = 4};
}

/* Broker 2 leads partition groups 7 (term 4) and 12 (term 9), not the metadata group. */
static struct wire_group_leader led_groups[] = {{.group = 7, .term = 4}, {.group = 12, .term = 9}};

static void peer_status_req(struct wire_frame *f)
{
    request(f, WIRE_PEER_STATUS, 0);
    f->body.peer_status_req.from = 2;
    f->body.peer_status_req.metadata_applied = 18;
    f->body.peer_status_req.leaders.count = ARRAY_LEN(led_groups);
    f->body.peer_status_req.leaders.items = led_groups;
    f->body.peer_status_req.stopping = false;
}

static void unknown_topic_resp(struct wire_frame *f)
{
    response(f, WIRE_FETCH, 9, WIRE_ERR_UNKNOWN_TOPIC, BYTES("unknown topic 'nope'"));
}

const struct wire_example wire_examples[] = {
    {"metadata_req", metadata_req},
    {"metadata_resp", metadata_resp},
    {"create_topic_req", create_topic_req},
    {"create_topic_resp", create_topic_resp},
    {"create_topic_resp_exists", create_topic_resp_exists},
    {"delete_topic_req", delete_topic_req},
    {"delete_topic_resp", delete_topic_resp},
    {"produce_req", produce_req},
    {"produce_resp", produce_resp},
    {"produce_resp_not_leader", produce_resp_not_leader},
    {"fetch_req", fetch_req},
    {"fetch_resp", fetch_resp},
    {"fetch_resp_out_of_range", fetch_resp_out_of_range},
    {"fetch_resp_unknown_topic", unknown_topic_resp},
    {"list_offsets_req", list_offsets_req},
    {"list_offsets_resp", list_offsets_resp},
    {"cluster_status_req", cluster_status_req},
    {"cluster_status_resp", cluster_status_resp},
    {"init_producer_id_req", init_producer_id_req},
    {"init_producer_id_resp", init_producer_id_resp},
    {"offset_commit_req", offset_commit_req},
    {"offset_commit_resp", offset_commit_resp},
    {"offset_commit_resp_stale", offset_commit_resp_stale},
    {"offset_fetch_req", offset_fetch_req},
    {"offset_fetch_resp", offset_fetch_resp},
    {"join_group_req", join_group_req},
    {"join_group_resp", join_group_resp},
    {"sync_group_req", sync_group_req},
    {"sync_group_resp", sync_group_resp},
    {"heartbeat_req", heartbeat_req},
    {"heartbeat_resp", heartbeat_resp},
    {"leave_group_req", leave_group_req},
    {"leave_group_resp", leave_group_resp},
    {"list_groups_req", list_groups_req},
    {"list_groups_resp", list_groups_resp},
    {"describe_group_req", describe_group_req},
    {"describe_group_resp", describe_group_resp},
    {"append_entries_req", append_entries_req},
    {"append_entries_resp", append_entries_resp},
    {"request_vote_req", request_vote_req},
    {"request_vote_resp", request_vote_resp},
    {"install_snapshot_req", install_snapshot_req},
    {"install_snapshot_resp", install_snapshot_resp},
    {"timeout_now_req", timeout_now_req},
    {"peer_status_req", peer_status_req},
};
const size_t wire_examples_count = sizeof(wire_examples) / sizeof(wire_examples[0]);

/*
 * The record batch worked through byte by byte in docs/protocol.md: one
 * record, key "k", value "hello", no headers, 2026-01-01T00:00:00Z, no
 * producer, uncompressed.
 */
static struct wire_bytes batch_one_record(uint8_t *buf, size_t cap)
{
    struct wire_batch_builder b;
    struct wire_bytes out = {NULL, 0};
    struct wire_record rec = {
        .timestamp = 1767225600000LL,
        .has_key = true,
        .key = BYTES("k"),
        .value = BYTES("hello"),
    };
    wire_batch_builder_init(&b, buf, cap, WIRE_CODEC_NONE);
    if (wire_batch_builder_add(&b, &rec) != WIRE_OK ||
        wire_batch_builder_finish(&b, NULL, 0, &out) != WIRE_OK)
        return (struct wire_bytes){NULL, 0};
    return out;
}

/*
 * Three records behind LZ4, from an idempotent producer, with a nil key,
 * an empty key, headers (one name twice) and an out-of-order timestamp;
 * stamped with base offset 1000 as a leader would.
 */
static struct wire_bytes batch_lz4_headers(uint8_t *buf, size_t cap)
{
    static const struct wire_header headers[] = {
        {BYTES("trace-id"), BYTES("4bf92f3577b34da6")},
        {BYTES("retry"), BYTES("1")},
        {BYTES("retry"), BYTES("2")},
    };
    static uint8_t lz4[WIRE_EXAMPLE_BATCH_BYTES];
    const char *value = "order created: {\"id\":1,\"items\":[\"apple\",\"apple\",\"apple\"]}";
    struct wire_record recs[3] = {
        {.timestamp = 1767225600000LL, .has_key = false, .value = BYTES("")},
        {.timestamp = 1767225600005LL, .has_key = true, .key = BYTES(""),
         .header_count = 3, .headers = headers},
        {.timestamp = 1767225599990LL, .has_key = true, .key = BYTES("customer-17")},
    };
    recs[0].value = (struct wire_bytes){(const uint8_t *)value, (uint32_t)strlen(value)};
    recs[1].value = recs[0].value;
    recs[2].value = recs[0].value;
    struct wire_batch_builder b;
    struct wire_bytes out = {NULL, 0};
    wire_batch_builder_init(&b, buf, cap, WIRE_CODEC_LZ4);
    wire_batch_builder_set_producer(&b, 4242, 3, 100);
    for (size_t i = 0; i < 3; i++)
        if (wire_batch_builder_add(&b, &recs[i]) != WIRE_OK)
            return (struct wire_bytes){NULL, 0};
    if (wire_batch_builder_finish(&b, lz4, sizeof(lz4), &out) != WIRE_OK || out.len > cap)
        return (struct wire_bytes){NULL, 0};
    /* Return it in buf, stamped, whichever buffer finish used. */
    memmove(buf, out.ptr, out.len);
    wire_batch_stamp_base_offset(buf, 1000);
    return (struct wire_bytes){buf, out.len};
}

const struct wire_batch_example wire_batch_examples[] = {
    {"batch_one_record", batch_one_record, false},
    {"batch_lz4_headers", batch_lz4_headers, true},
};
const size_t wire_batch_examples_count = sizeof(wire_batch_examples) / sizeof(wire_batch_examples[0]);

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long wire_example_read_vector(const char *dir, const char *name, unsigned char *buf, size_t cap)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.hex", dir, name);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    long n = 0;
    int high = -1;
    int c;
    while ((c = fgetc(fp)) != EOF) {
        int v = hex_value(c);
        if (v < 0)
            continue; /* whitespace and newlines */
        if (high < 0) {
            high = v;
            continue;
        }
        if ((size_t)n >= cap) {
            n = -1;
            break;
        }
        buf[n++] = (unsigned char)(high << 4 | v);
        high = -1;
    }
    fclose(fp);
    return high >= 0 ? -1 : n;
}

int wire_example_write_vector(const char *dir, const char *name, const unsigned char *buf,
                              size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.hex", dir, name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        return -1;
    for (size_t i = 0; i < len; i++)
        fprintf(fp, "%02x%s", buf[i], (i % 32 == 31 || i + 1 == len) ? "\n" : "");
    return fclose(fp) == 0 ? 0 : -1;
}
