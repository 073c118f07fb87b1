/*
 * Tests of the client connection core (wire/client.c) and of the cluster
 * test client's records and ack file (tests/cluster/records.c), without a
 * real broker.
 *
 * How: the metadata cache and routing are fed canned METADATA responses
 * (one of them encoded and decoded first, as it would arrive) and NOT_LEADER
 * responses. The wire paths run against a fake broker in a thread: two
 * ROUTER sockets on loopback that answer METADATA, PRODUCE and LIST_OFFSETS
 * from a script (broker 1 sends PRODUCE on to broker 2 with NOT_LEADER), so
 * routing, redirects, pipelining, coalesced answers, correlation and
 * deadlines are exercised over real ZeroMQ. Assertions are on results,
 * never on how long something took.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "suites.h"
#include "tests/cluster/records.h"
#include "wire/batch.h"
#include "wire/client.h"
#include "wire/frame.h"

#define ck_assert_err(actual, expected)                                                      \
    do {                                                                                     \
        int actual_ = (actual);                                                              \
        int expected_ = (expected);                                                          \
        ck_assert_msg(actual_ == expected_, "%s: got %s (%d), want %s (%d)", #actual,        \
                      wire_err_name(actual_), actual_, wire_err_name(expected_), expected_); \
    } while (0)

static struct wire_bytes bytes_of(const char *s)
{
    return (struct wire_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static struct wire_client *open_with(const char *bootstrap)
{
    struct wire_client_config cfg = {0};
    cfg.bootstrap = bootstrap;
    cfg.backoff_ms_min = 5;
    cfg.backoff_ms_max = 20;
    struct wire_client *c = NULL;
    ck_assert_err(wire_client_open(&cfg, &c), WIRE_OK);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* ---- endpoints and open ------------------------------------------------------ */

START_TEST(split_endpoints_trims_and_skips_empty_items)
{
    static char out[4][WIRE_STRING_BYTES_MAX + 1];
    uint32_t n = 99;
    ck_assert_err(wire_client_split_endpoints(" tcp://a:1 ,,tcp://b:2,", out, 4, &n), WIRE_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(out[0], "tcp://a:1");
    ck_assert_str_eq(out[1], "tcp://b:2");
}
END_TEST

START_TEST(split_endpoints_rejects_empty_long_and_too_many)
{
    static char out[2][WIRE_STRING_BYTES_MAX + 1];
    uint32_t n;
    ck_assert_err(wire_client_split_endpoints("", out, 2, &n), WIRE_ERR_INVALID_REQUEST);
    ck_assert_err(wire_client_split_endpoints(" , ,", out, 2, &n), WIRE_ERR_INVALID_REQUEST);
    ck_assert_err(wire_client_split_endpoints(NULL, out, 2, &n), WIRE_ERR_INVALID_REQUEST);
    ck_assert_err(wire_client_split_endpoints("a,b,c", out, 2, &n), WIRE_ERR_INVALID_REQUEST);
    char *longer = malloc(WIRE_STRING_BYTES_MAX + 2);
    memset(longer, 'x', WIRE_STRING_BYTES_MAX + 1);
    longer[WIRE_STRING_BYTES_MAX + 1] = '\0';
    ck_assert_err(wire_client_split_endpoints(longer, out, 2, &n), WIRE_ERR_INVALID_REQUEST);
    longer[WIRE_STRING_BYTES_MAX] = '\0'; /* exactly at the limit: fine */
    ck_assert_err(wire_client_split_endpoints(longer, out, 2, &n), WIRE_OK);
    ck_assert_uint_eq(strlen(out[0]), WIRE_STRING_BYTES_MAX);
    free(longer);
}
END_TEST

START_TEST(open_needs_a_bootstrap_list_and_connects_nothing)
{
    struct wire_client_config cfg = {0};
    struct wire_client *c = (struct wire_client *)&cfg; /* must be reset to NULL */
    ck_assert_err(wire_client_open(&cfg, &c), WIRE_ERR_INVALID_REQUEST);
    ck_assert_ptr_null(c);
    cfg.bootstrap = " , ";
    ck_assert_err(wire_client_open(&cfg, &c), WIRE_ERR_INVALID_REQUEST);
    ck_assert_ptr_null(c);
    c = open_with("tcp://127.0.0.1:1");
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    ck_assert_uint_eq(wire_client_controller(c), 0);
    ck_assert_str_eq(wire_client_error(c), "");
    wire_client_close(c);
    wire_client_close(NULL);
}
END_TEST

/* ---- metadata cache and routing ------------------------------------------------ */

/* A METADATA answer: brokers 1..3, controller `controller`, topic "t" with
 * 3 partitions led by leaders[p] in term terms[p]. */
struct canned_metadata {
    struct wire_broker brokers[3];
    struct wire_partition_meta parts[3];
    uint32_t replicas[3];
    struct wire_topic_meta topics[2];
    struct wire_metadata_resp resp;
};

static void canned_init(struct canned_metadata *m, uint32_t controller, const uint32_t leaders[3],
                        const uint64_t terms[3])
{
    memset(m, 0, sizeof(*m));
    static const char *addr[3] = {"tcp://127.0.0.1:9001", "tcp://127.0.0.1:9002",
                                  "tcp://127.0.0.1:9003"};
    for (uint32_t i = 0; i < 3; i++) {
        m->brokers[i].node_id = i + 1;
        m->brokers[i].client_address = bytes_of(addr[i]);
        m->replicas[i] = i + 1;
    }
    for (uint32_t p = 0; p < 3; p++) {
        m->parts[p].partition = p;
        m->parts[p].leader_id = leaders[p];
        m->parts[p].leader_term = terms[p];
        m->parts[p].replicas.count = 3;
        m->parts[p].replicas.items = m->replicas;
    }
    m->topics[0].name = bytes_of("t");
    m->topics[0].partitions.count = 3;
    m->topics[0].partitions.items = m->parts;
    m->resp.controller_id = controller;
    m->resp.brokers.count = 3;
    m->resp.brokers.items = m->brokers;
    m->resp.topics.count = 1;
    m->resp.topics.items = m->topics;
}

START_TEST(metadata_from_the_wire_fills_the_cache)
{
    struct canned_metadata m;
    canned_init(&m, 2, (const uint32_t[]){1, 2, 0}, (const uint64_t[]){3, 3, 3});
    /* Through the codec, as a broker would send it. */
    struct wire_frame out;
    memset(&out, 0, sizeof(out));
    out.version = WIRE_PROTOCOL_VERSION;
    out.type = WIRE_METADATA_RESP;
    out.correlation_id = 5;
    out.body.metadata_resp = m.resp;
    static uint8_t buf[4096];
    static uint8_t arena_mem[64 * 1024];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    ck_assert_err(wire_frame_encode(&w, &out), WIRE_OK);
    struct wire_arena arena;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    struct wire_frame in;
    size_t consumed;
    ck_assert_err(wire_frame_decode(buf, w.len, &arena, &in, &consumed, NULL, 0), WIRE_OK);

    struct wire_client *c = open_with("tcp://127.0.0.1:1");
    ck_assert_err(wire_client_apply_metadata(c, &in.body.metadata_resp), WIRE_OK);
    memset(buf, 0, sizeof(buf)); /* the cache must hold copies, not views */
    memset(arena_mem, 0, sizeof(arena_mem));

    uint32_t count, node;
    const char *address;
    ck_assert_err(wire_client_partition_count(c, "t", &count), WIRE_OK);
    ck_assert_uint_eq(count, 3);
    ck_assert_uint_eq(wire_client_controller(c), 2);
    ck_assert_uint_eq(wire_client_broker_count(c), 3);
    ck_assert_str_eq(wire_client_broker_address(c, 3), "tcp://127.0.0.1:9003");
    ck_assert_ptr_null(wire_client_broker_address(c, 4));
    ck_assert_ptr_null(wire_client_broker_address(c, 0));
    ck_assert_err(wire_client_leader(c, "t", 0, &node, &address), WIRE_OK);
    ck_assert_uint_eq(node, 1);
    ck_assert_str_eq(address, "tcp://127.0.0.1:9001");
    ck_assert_err(wire_client_leader(c, "t", 1, &node, &address), WIRE_OK);
    ck_assert_str_eq(address, "tcp://127.0.0.1:9002");
    /* No leader, no such partition, no such topic. */
    ck_assert_err(wire_client_leader(c, "t", 2, &node, &address), WIRE_ERR_LEADER_NOT_AVAILABLE);
    ck_assert_uint_eq(node, 0);
    ck_assert_ptr_null(address);
    ck_assert_err(wire_client_leader(c, "t", 3, &node, &address), WIRE_ERR_UNKNOWN_PARTITION);
    ck_assert_err(wire_client_leader(c, "u", 0, &node, &address), WIRE_ERR_UNKNOWN_TOPIC);
    ck_assert_err(wire_client_partition_count(c, "u", &count), WIRE_ERR_UNKNOWN_TOPIC);
    /* Partition 2 has no leader; a wrong partition count or topic counts all as leaderless. */
    ck_assert_uint_eq(wire_client_leaderless(c, "t", 3), 1);
    ck_assert_uint_eq(wire_client_leaderless(c, "t", 4), 4);
    ck_assert_uint_eq(wire_client_leaderless(c, "u", 2), 2);
    wire_client_close(c);
}
END_TEST

START_TEST(an_older_term_never_replaces_a_newer_leader)
{
    struct wire_client *c = open_with("tcp://127.0.0.1:1");
    struct canned_metadata m;
    canned_init(&m, 1, (const uint32_t[]){2, 2, 2}, (const uint64_t[]){5, 5, 5});
    ck_assert_err(wire_client_apply_metadata(c, &m.resp), WIRE_OK);
    /* A lagging broker still believes in term 4's leader for p0; p1 moved on. */
    canned_init(&m, 1, (const uint32_t[]){1, 3, 2}, (const uint64_t[]){4, 6, 5});
    ck_assert_err(wire_client_apply_metadata(c, &m.resp), WIRE_OK);
    uint32_t node;
    const char *address;
    ck_assert_err(wire_client_leader(c, "t", 0, &node, &address), WIRE_OK);
    ck_assert_uint_eq(node, 2);
    ck_assert_err(wire_client_leader(c, "t", 1, &node, &address), WIRE_OK);
    ck_assert_uint_eq(node, 3);
    wire_client_close(c);
}
END_TEST

START_TEST(not_leader_details_and_unknown_topics_update_the_cache)
{
    struct wire_client *c = open_with("tcp://127.0.0.1:1");
    struct canned_metadata m;
    canned_init(&m, 1, (const uint32_t[]){1, 1, 1}, (const uint64_t[]){2, 2, 2});
    ck_assert_err(wire_client_apply_metadata(c, &m.resp), WIRE_OK);
    uint32_t node;
    const char *address;

    /* Redirect to a node the cache does not know yet: it learns the address. */
    struct wire_frame nl;
    memset(&nl, 0, sizeof(nl));
    nl.type = WIRE_PRODUCE_RESP;
    nl.error = WIRE_ERR_NOT_LEADER;
    nl.body.not_leader_detail.leader_id = 7;
    nl.body.not_leader_detail.leader_address = bytes_of("tcp://127.0.0.1:9007");
    wire_client_note_not_leader(c, "t", 0, &nl);
    ck_assert_err(wire_client_leader(c, "t", 0, &node, &address), WIRE_OK);
    ck_assert_uint_eq(node, 7);
    ck_assert_str_eq(address, "tcp://127.0.0.1:9007");
    /* Unknown leader: the partition has none until the next METADATA. */
    nl.body.not_leader_detail.leader_id = 0;
    nl.body.not_leader_detail.leader_address = bytes_of("");
    wire_client_note_not_leader(c, "t", 1, &nl);
    ck_assert_err(wire_client_leader(c, "t", 1, &node, &address), WIRE_ERR_LEADER_NOT_AVAILABLE);
    /* Another error, or an unknown partition: no change, no crash. */
    nl.error = WIRE_ERR_TIMEOUT;
    wire_client_note_not_leader(c, "t", 2, &nl);
    wire_client_note_not_leader(c, "t", 99, NULL);
    ck_assert_err(wire_client_leader(c, "t", 2, &node, &address), WIRE_OK);
    ck_assert_uint_eq(node, 1);
    wire_client_forget_leader(c, "t", 2);
    ck_assert_err(wire_client_leader(c, "t", 2, &node, &address), WIRE_ERR_LEADER_NOT_AVAILABLE);

    /* The cluster says the topic is gone: it leaves the cache. */
    m.topics[0].error = WIRE_ERR_UNKNOWN_TOPIC;
    m.topics[0].partitions.count = 0;
    ck_assert_err(wire_client_apply_metadata(c, &m.resp), WIRE_OK);
    ck_assert_err(wire_client_leader(c, "t", 0, &node, &address), WIRE_ERR_UNKNOWN_TOPIC);
    wire_client_close(c);
}
END_TEST

START_TEST(routed_send_without_a_leader_is_refused_not_hung)
{
    struct wire_client *c = open_with("tcp://127.0.0.1:1");
    struct canned_metadata m;
    canned_init(&m, 0, (const uint32_t[]){0, 0, 0}, (const uint64_t[]){1, 1, 1});
    ck_assert_err(wire_client_apply_metadata(c, &m.resp), WIRE_OK);
    struct wire_frame req;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_FETCH;
    req.body.fetch_req.topic = bytes_of("t");
    ck_assert_err(wire_client_send_routed(c, &req, 1000, NULL, NULL), WIRE_ERR_LEADER_NOT_AVAILABLE);
    req.body.fetch_req.topic = bytes_of("nope");
    ck_assert_err(wire_client_send_routed(c, &req, 1000, NULL, NULL), WIRE_ERR_UNKNOWN_TOPIC);
    memset(&req, 0, sizeof(req));
    req.type = WIRE_CREATE_TOPIC;
    ck_assert_err(wire_client_send_routed(c, &req, 1000, NULL, NULL), WIRE_ERR_LEADER_NOT_AVAILABLE);
    req.type = WIRE_APPEND_ENTRIES; /* a peer message: a client never routes it */
    ck_assert_err(wire_client_send_routed(c, &req, 1000, NULL, NULL), WIRE_ERR_INVALID_REQUEST);
    req.type = WIRE_PRODUCE_RESP;
    ck_assert_err(wire_client_send(c, "tcp://127.0.0.1:1", &req, 1000, NULL, NULL),
                  WIRE_ERR_INVALID_REQUEST);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    wire_client_close(c);
}
END_TEST

START_TEST(a_dead_broker_gives_timeout_within_the_deadline)
{
    /* Nothing listens on port 1 of loopback: the connection never comes up. */
    struct wire_client *c = open_with("tcp://127.0.0.1:1");
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_METADATA;
    ck_assert_err(wire_client_call(c, NULL, &req, 200, &resp), WIRE_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(wire_client_error(c), "tcp://127.0.0.1:1"));
    ck_assert_err(wire_client_refresh_metadata(c, NULL, 300), WIRE_ERR_TIMEOUT);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    wire_client_close(c);
}
END_TEST

/* ---- the fake broker -------------------------------------------------------------- */

struct fake {
    void *ctx;
    void *router[2];
    char endpoint[2][128];
    pthread_t thread;
    volatile int stop;
    /* script */
    bool ignore_produce; /* broker 2 never answers PRODUCE */
    /* The first METADATA answer names broker 3, which is dead (nothing
     * listens at its address), as the controller; later ones name 2. */
    bool dead_controller_first;
    int produce_seen[2];
    int metadata_seen;
    int init_producer_id_seen[2];
};

static void fake_answer(struct fake *f, int which, const struct wire_frame *req,
                        struct wire_writer *w)
{
    struct wire_frame resp;
    struct wire_broker brokers[3];
    struct wire_partition_meta part;
    struct wire_topic_meta topic;
    uint32_t replicas[2] = {1, 2};
    switch (req->type) {
    case WIRE_METADATA:
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        memset(&part, 0, sizeof(part));
        memset(&topic, 0, sizeof(topic));
        for (int i = 0; i < 2; i++) {
            brokers[i].node_id = (uint32_t)i + 1;
            brokers[i].client_address = bytes_of(f->endpoint[i]);
        }
        part.partition = 0;
        part.leader_id = 1; /* stale on purpose: broker 1 redirects PRODUCE to 2 */
        part.leader_term = 1;
        part.replicas.count = 2;
        part.replicas.items = replicas;
        topic.name = bytes_of("t");
        topic.partitions.count = 1;
        topic.partitions.items = &part;
        resp.body.metadata_resp.controller_id = 1;
        resp.body.metadata_resp.brokers.count = 2;
        if (f->dead_controller_first) {
            brokers[2].node_id = 3;
            brokers[2].client_address = bytes_of("tcp://127.0.0.1:1");
            resp.body.metadata_resp.brokers.count = 3;
            resp.body.metadata_resp.controller_id = f->metadata_seen == 0 ? 3 : 2;
        }
        f->metadata_seen++;
        resp.body.metadata_resp.brokers.items = brokers;
        resp.body.metadata_resp.topics.count = 1;
        resp.body.metadata_resp.topics.items = &topic;
        break;
    case WIRE_PRODUCE:
        f->produce_seen[which]++;
        if (which == 0) {
            wire_frame_init_response(&resp, req, WIRE_ERR_NOT_LEADER, "not me");
            resp.body.not_leader_detail.leader_id = 2;
            resp.body.not_leader_detail.leader_address = bytes_of(f->endpoint[1]);
        } else if (f->ignore_produce) {
            return;
        } else {
            wire_frame_init_response(&resp, req, WIRE_OK, NULL);
            resp.body.produce_resp.base_offset = 42;
            resp.body.produce_resp.last_offset = 42;
        }
        break;
    case WIRE_INIT_PRODUCER_ID:
        f->init_producer_id_seen[which]++;
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.init_producer_id_resp.producer_id = 7;
        break;
    case WIRE_LIST_OFFSETS:
        wire_frame_init_response(&resp, req, WIRE_OK, NULL);
        resp.body.list_offsets_resp.offset = 1000 + req->correlation_id;
        resp.body.list_offsets_resp.timestamp = -1;
        break;
    default:
        wire_frame_init_response(&resp, req, WIRE_ERR_INVALID_REQUEST, "fake broker");
        break;
    }
    ck_assert_err(wire_frame_encode(w, &resp), WIRE_OK);
}

/*
 * Answers every frame of a message. LIST_OFFSETS requests are held back and
 * answered together, in reverse order and in one message, when a request
 * arrives with a different type or three are pending (to test correlation of
 * coalesced, reordered answers).
 */
static void *fake_run(void *arg)
{
    struct fake *f = arg;
    static uint8_t in_arena[64 * 1024];
    static uint8_t out[64 * 1024];
    struct wire_frame held[3];
    int held_count = 0;
    zmq_msg_t held_identity;
    zmq_msg_init(&held_identity);
    while (!f->stop) {
        zmq_pollitem_t items[2] = {{f->router[0], 0, ZMQ_POLLIN, 0},
                                   {f->router[1], 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 20) <= 0)
            continue;
        for (int which = 0; which < 2; which++) {
            if (!(items[which].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_t identity, payload;
            zmq_msg_init(&identity);
            zmq_msg_init(&payload);
            zmq_msg_recv(&identity, f->router[which], 0);
            zmq_msg_recv(&payload, f->router[which], 0);
            struct wire_writer w;
            wire_writer_init(&w, out, sizeof(out));
            const uint8_t *p = zmq_msg_data(&payload);
            size_t left = zmq_msg_size(&payload);
            while (left > 0) {
                struct wire_arena arena;
                wire_arena_init(&arena, in_arena, sizeof(in_arena));
                struct wire_frame req;
                size_t consumed;
                if (wire_frame_decode(p, left, &arena, &req, &consumed, NULL, 0) != WIRE_OK)
                    break;
                if (req.type == WIRE_LIST_OFFSETS) {
                    held[held_count++] = req;
                    zmq_msg_close(&held_identity);
                    zmq_msg_init(&held_identity);
                    zmq_msg_copy(&held_identity, &identity);
                    if (held_count == 3) {
                        for (int k = held_count - 1; k >= 0; k--)
                            fake_answer(f, which, &held[k], &w);
                        held_count = 0;
                    }
                } else {
                    fake_answer(f, which, &req, &w);
                }
                p += consumed;
                left -= consumed;
            }
            if (w.len > 0) {
                zmq_send(f->router[which], zmq_msg_data(&identity), zmq_msg_size(&identity),
                         ZMQ_SNDMORE);
                zmq_send(f->router[which], out, w.len, 0);
            }
            zmq_msg_close(&identity);
            zmq_msg_close(&payload);
        }
    }
    zmq_msg_close(&held_identity);
    return NULL;
}

static void fake_start(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->ctx = zmq_ctx_new();
    ck_assert_ptr_nonnull(f->ctx);
    for (int i = 0; i < 2; i++) {
        f->router[i] = zmq_socket(f->ctx, ZMQ_ROUTER);
        int zero = 0;
        zmq_setsockopt(f->router[i], ZMQ_LINGER, &zero, sizeof(zero));
        ck_assert_int_eq(zmq_bind(f->router[i], "tcp://127.0.0.1:*"), 0);
        size_t len = sizeof(f->endpoint[i]);
        ck_assert_int_eq(zmq_getsockopt(f->router[i], ZMQ_LAST_ENDPOINT, f->endpoint[i], &len), 0);
    }
    ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

static void fake_stop(struct fake *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    for (int i = 0; i < 2; i++)
        zmq_close(f->router[i]);
    zmq_ctx_term(f->ctx);
}

static void produce_request(struct wire_frame *req, struct wire_bytes *batch)
{
    memset(req, 0, sizeof(*req));
    req->type = WIRE_PRODUCE;
    req->body.produce_req.topic = bytes_of("t");
    req->body.produce_req.partition = 0;
    req->body.produce_req.timeout_ms = 1000;
    req->body.produce_req.batches.count = 1;
    req->body.produce_req.batches.items = batch;
}

START_TEST(request_follows_metadata_then_not_leader_to_the_leader)
{
    struct fake f;
    fake_start(&f);
    struct wire_client *c = open_with(f.endpoint[0]);
    static uint8_t batch_buf[4096];
    struct wire_batch_builder b;
    wire_batch_builder_init(&b, batch_buf, sizeof(batch_buf), WIRE_CODEC_NONE);
    struct wire_record rec = {0};
    rec.value = bytes_of("v");
    ck_assert_err(wire_batch_builder_add(&b, &rec), WIRE_OK);
    struct wire_bytes batch;
    ck_assert_err(wire_batch_builder_finish(&b, NULL, 0, &batch), WIRE_OK);

    struct wire_frame req, resp;
    produce_request(&req, &batch);
    ck_assert_err(wire_client_request(c, &req, 5000, 0, &resp), WIRE_OK);
    ck_assert_uint_eq(resp.error, WIRE_OK);
    ck_assert_uint_eq(resp.type, WIRE_PRODUCE_RESP);
    ck_assert_uint_eq(resp.body.produce_resp.base_offset, 42);
    ck_assert_uint_eq(resp.correlation_id, req.correlation_id);
    /* First at the stale leader (1), then at the one its answer named (2). */
    ck_assert_int_eq(f.produce_seen[0], 1);
    ck_assert_int_eq(f.produce_seen[1], 1);
    uint32_t node;
    const char *address;
    ck_assert_err(wire_client_leader(c, "t", 0, &node, &address), WIRE_OK);
    ck_assert_uint_eq(node, 2);
    ck_assert_str_eq(address, f.endpoint[1]);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    wire_client_close(c);
    fake_stop(&f);
}
END_TEST

/*
 * The controller dies: a request for it that cannot be sent makes the
 * client forget it and ask the cluster again, instead of trying the dead
 * broker until the deadline (a CI run of test_tools: INIT_PRODUCER_ID right
 * after the controller was killed failed after 13 attempts at it).
 */
START_TEST(a_dead_controller_is_forgotten_and_the_new_one_found)
{
    struct fake f;
    fake_start(&f);
    f.dead_controller_first = true;
    struct wire_client *c = open_with(f.endpoint[0]);
    ck_assert_err(wire_client_refresh_metadata(c, NULL, 5000), WIRE_OK);
    ck_assert_uint_eq(wire_client_controller(c), 3);

    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_INIT_PRODUCER_ID;
    ck_assert_err(wire_client_request(c, &req, 5000, 0, &resp), WIRE_OK);
    ck_assert_uint_eq(resp.error, WIRE_OK);
    ck_assert_int_eq(resp.body.init_producer_id_resp.producer_id, 7);
    ck_assert_uint_eq(wire_client_controller(c), 2);
    ck_assert_int_eq(f.init_producer_id_seen[1], 1);
    ck_assert_int_ge(f.metadata_seen, 2);
    wire_client_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(pipelined_answers_match_by_correlation_id)
{
    struct fake f;
    fake_start(&f);
    struct wire_client *c = open_with(f.endpoint[1]);
    int users[3];
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        struct wire_frame req;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_LIST_OFFSETS;
        req.body.list_offsets_req.topic = bytes_of("t");
        req.body.list_offsets_req.spec = -1;
        ck_assert_err(wire_client_send(c, f.endpoint[1], &req, 5000, &users[i], &ids[i]), WIRE_OK);
        ck_assert_uint_eq(ids[i], req.correlation_id);
    }
    ck_assert_uint_eq(wire_client_in_flight(c), 3);
    ck_assert(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    /* One message with the three answers, last request first. */
    bool got[3] = {false, false, false};
    for (int n = 0; n < 3; n++) {
        struct wire_client_reply r;
        ck_assert_err(wire_client_poll(c, 5000, &r), WIRE_OK);
        ck_assert_err(r.status, WIRE_OK);
        int i = (int)((int *)r.user - users);
        ck_assert_int_ge(i, 0);
        ck_assert_int_lt(i, 3);
        ck_assert(!got[i]);
        got[i] = true;
        ck_assert_uint_eq(r.correlation_id, ids[i]);
        ck_assert_uint_eq(r.type, WIRE_LIST_OFFSETS);
        ck_assert_uint_eq(r.frame.type, WIRE_LIST_OFFSETS_RESP);
        ck_assert_uint_eq(r.frame.body.list_offsets_resp.offset, 1000 + ids[i]);
        ck_assert_str_eq(r.address, f.endpoint[1]);
    }
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    struct wire_client_reply none;
    ck_assert_err(wire_client_poll(c, 10, &none), WIRE_ERR_TIMEOUT);
    wire_client_close(c);
    fake_stop(&f);
}
END_TEST

/* poll with no time to wait still reads answers that have arrived (no busy 1 ms waits in callers). */
START_TEST(a_poll_without_waiting_reads_arrived_answers)
{
    struct fake f;
    fake_start(&f);
    struct wire_client *c = open_with(f.endpoint[1]);
    for (int i = 0; i < 3; i++) {
        struct wire_frame req;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_LIST_OFFSETS;
        req.body.list_offsets_req.topic = bytes_of("t");
        req.body.list_offsets_req.spec = -1;
        ck_assert_err(wire_client_send(c, f.endpoint[1], &req, 5000, NULL, NULL), WIRE_OK);
    }
    int got = 0;
    for (int attempt = 0; attempt < 5000 && got < 3; attempt++) {
        struct wire_client_reply r;
        if (wire_client_poll(c, 0, &r) == WIRE_OK) {
            ck_assert_err(r.status, WIRE_OK);
            got++;
        } else {
            usleep(1000);
        }
    }
    ck_assert_int_eq(got, 3);
    wire_client_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(a_blocking_call_keeps_pipelined_answers_for_poll)
{
    struct fake f;
    fake_start(&f);
    struct wire_client *c = open_with(f.endpoint[1]);
    /* Two pipelined LIST_OFFSETS that the fake holds back (it answers them
     * only once a third arrives), then a blocking METADATA answered first. */
    int users[3];
    uint64_t ids[3];
    for (int i = 0; i < 2; i++) {
        struct wire_frame req;
        memset(&req, 0, sizeof(req));
        req.type = WIRE_LIST_OFFSETS;
        req.body.list_offsets_req.topic = bytes_of("t");
        ck_assert_err(wire_client_send(c, f.endpoint[1], &req, 5000, &users[i], &ids[i]), WIRE_OK);
    }
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_METADATA;
    ck_assert_err(wire_client_call(c, f.endpoint[1], &req, 5000, &resp), WIRE_OK);
    ck_assert_uint_eq(resp.type, WIRE_METADATA_RESP);
    ck_assert_uint_eq(resp.body.metadata_resp.brokers.count, 2);
    ck_assert_uint_eq(wire_client_in_flight(c), 2);

    memset(&req, 0, sizeof(req));
    req.type = WIRE_LIST_OFFSETS;
    req.body.list_offsets_req.topic = bytes_of("t");
    ck_assert_err(wire_client_send(c, f.endpoint[1], &req, 5000, &users[2], &ids[2]), WIRE_OK);
    /* A blocking call now waits while the three answers arrive first. */
    memset(&req, 0, sizeof(req));
    req.type = WIRE_METADATA;
    ck_assert_err(wire_client_call(c, f.endpoint[1], &req, 5000, &resp), WIRE_OK);
    ck_assert_uint_eq(resp.type, WIRE_METADATA_RESP);
    int seen = 0;
    for (int n = 0; n < 3; n++) {
        struct wire_client_reply r;
        ck_assert_err(wire_client_poll(c, 5000, &r), WIRE_OK);
        ck_assert_err(r.status, WIRE_OK);
        int i = (int)((int *)r.user - users);
        ck_assert_uint_eq(r.frame.body.list_offsets_resp.offset, 1000 + ids[i]);
        seen |= 1 << i;
    }
    ck_assert_int_eq(seen, 7);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    wire_client_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(an_unanswered_request_completes_as_timeout)
{
    struct fake f;
    fake_start(&f);
    f.ignore_produce = true;
    struct wire_client *c = open_with(f.endpoint[1]);
    static uint8_t batch_buf[4096];
    struct wire_batch_builder b;
    wire_batch_builder_init(&b, batch_buf, sizeof(batch_buf), WIRE_CODEC_NONE);
    struct wire_record rec = {0};
    rec.value = bytes_of("v");
    ck_assert_err(wire_batch_builder_add(&b, &rec), WIRE_OK);
    struct wire_bytes batch;
    ck_assert_err(wire_batch_builder_finish(&b, NULL, 0, &batch), WIRE_OK);
    struct wire_frame req, resp;
    produce_request(&req, &batch);
    int user;
    ck_assert_err(wire_client_send(c, f.endpoint[1], &req, 100, &user, NULL), WIRE_OK);
    struct wire_client_reply r;
    ck_assert_err(wire_client_poll(c, 5000, &r), WIRE_OK);
    ck_assert_err(r.status, WIRE_ERR_TIMEOUT);
    ck_assert_ptr_eq(r.user, &user);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    /* Routed and blocking: a PRODUCE whose outcome is unknown is not retried. */
    struct canned_metadata m;
    canned_init(&m, 1, (const uint32_t[]){2, 2, 2}, (const uint64_t[]){1, 1, 1});
    m.brokers[1].client_address = bytes_of(f.endpoint[1]);
    ck_assert_err(wire_client_apply_metadata(c, &m.resp), WIRE_OK);
    produce_request(&req, &batch);
    int before = f.produce_seen[1];
    ck_assert_err(wire_client_request(c, &req, 300, 0, &resp), WIRE_ERR_TIMEOUT);
    ck_assert_int_eq(f.produce_seen[1], before + 1);
    wire_client_close(c);
    fake_stop(&f);
}
END_TEST

static void send_list_offsets(struct wire_client *c, const char *address, void *user)
{
    struct wire_frame req;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_LIST_OFFSETS;
    req.body.list_offsets_req.topic = bytes_of("t");
    req.body.list_offsets_req.spec = -1;
    ck_assert_err(wire_client_send(c, address, &req, 5000, user, NULL), WIRE_OK);
}

/*
 * Abandoned requests leave the in-flight count at once, and their answers,
 * when they come, are dropped: poll only returns the others. A request
 * whose answer already arrived (kept by a blocking call) is not abandoned.
 */
START_TEST(abandoned_requests_never_come_back)
{
    struct fake f;
    fake_start(&f);
    struct wire_client *c = open_with(f.endpoint[1]);
    int stalled, other;
    /* The fake holds LIST_OFFSETS back until three are pending. */
    send_list_offsets(c, f.endpoint[1], &stalled);
    send_list_offsets(c, f.endpoint[1], &stalled);
    ck_assert_uint_eq(wire_client_in_flight(c), 2);
    ck_assert_uint_eq(wire_client_abandon(c, NULL), 0);
    ck_assert_uint_eq(wire_client_abandon(c, &other), 0);
    ck_assert_uint_eq(wire_client_in_flight(c), 2);
    ck_assert_uint_eq(wire_client_abandon(c, &stalled), 2);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    ck_assert_uint_eq(wire_client_abandon(c, &stalled), 0);
    /* The third makes the fake answer all three, in one message. */
    send_list_offsets(c, f.endpoint[1], &other);
    ck_assert_uint_eq(wire_client_in_flight(c), 1);
    struct wire_client_reply r;
    ck_assert_err(wire_client_poll(c, 5000, &r), WIRE_OK);
    ck_assert_err(r.status, WIRE_OK);
    ck_assert_ptr_eq(r.user, &other);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    ck_assert_err(wire_client_poll(c, 300, &r), WIRE_ERR_TIMEOUT);

    /* Answered while a blocking call waited: kept, and handed out by poll. */
    int kept[3];
    for (int i = 0; i < 3; i++)
        send_list_offsets(c, f.endpoint[1], &kept[i]);
    struct wire_frame req, resp;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_METADATA;
    ck_assert_err(wire_client_call(c, f.endpoint[1], &req, 5000, &resp), WIRE_OK);
    ck_assert_uint_eq(wire_client_abandon(c, &kept[1]), 0);
    ck_assert_uint_eq(wire_client_in_flight(c), 3);
    int seen = 0;
    for (int n = 0; n < 3; n++) {
        ck_assert_err(wire_client_poll(c, 5000, &r), WIRE_OK);
        ck_assert_err(r.status, WIRE_OK);
        seen |= 1 << (int)((int *)r.user - kept);
    }
    ck_assert_int_eq(seen, 7);
    ck_assert_uint_eq(wire_client_in_flight(c), 0);
    wire_client_close(c);
    fake_stop(&f);
}
END_TEST

/* ---- records and the ack file ------------------------------------------------------ */

START_TEST(records_are_a_function_of_seed_and_id)
{
    struct testrec a, b;
    testrec_make(&a, 7, 12345, 1);
    testrec_make(&b, 7, 12345, 999); /* the timestamp is not part of the identity */
    ck_assert_ptr_null(testrec_compare(&a, &b.record));
    ck_assert_str_eq(a.key, "k12345");
    ck_assert_uint_ge(a.record.value.len, 1);
    ck_assert_uint_le(a.record.value.len, TESTREC_VALUE_BYTES_MAX);
    uint64_t id;
    ck_assert(testrec_read_id(&a.record, &id));
    ck_assert_uint_eq(id, 12345);
    testrec_make(&b, 8, 12345, 1);
    ck_assert_ptr_nonnull(testrec_compare(&a, &b.record)); /* another seed */
    testrec_make(&b, 7, 12346, 1);
    ck_assert_ptr_nonnull(testrec_compare(&a, &b.record)); /* another id */
    /* Lengths cover the range. */
    uint32_t shortest = 1000, longest = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        testrec_make(&a, 1, i, 0);
        uint32_t n = a.record.value.len;
        shortest = n < shortest ? n : shortest;
        longest = n > longest ? n : longest;
    }
    ck_assert_uint_eq(shortest, 1);
    ck_assert_uint_eq(longest, TESTREC_VALUE_BYTES_MAX);
}
END_TEST

START_TEST(records_survive_a_batch_and_flipped_bytes_are_caught)
{
    static uint8_t buf[64 * 1024], lz4[80 * 1024], scratch[WIRE_BATCH_RECORDS_BYTES_MAX];
    struct wire_batch_builder b;
    wire_batch_builder_init(&b, buf, sizeof(buf), WIRE_CODEC_LZ4);
    for (uint64_t id = 0; id < 100; id++) {
        struct testrec r;
        testrec_make(&r, 3, id, 1000);
        ck_assert_err(wire_batch_builder_add(&b, &r.record), WIRE_OK);
    }
    struct wire_bytes batch;
    ck_assert_err(wire_batch_builder_finish(&b, lz4, sizeof(lz4), &batch), WIRE_OK);
    ck_assert_uint_le(100 * TESTREC_ENCODED_BYTES_MAX, sizeof(buf));
    struct wire_batch_header h;
    ck_assert_err(wire_batch_validate(batch.ptr, batch.len, &h, NULL), WIRE_OK);
    struct wire_record_iter it;
    ck_assert_err(wire_record_iter_init(&it, &h, scratch, sizeof(scratch), NULL), WIRE_OK);
    for (uint64_t id = 0; id < 100; id++) {
        struct wire_record got;
        ck_assert_err(wire_record_iter_next(&it, &got, NULL), WIRE_OK);
        struct testrec want;
        testrec_make(&want, 3, id, 0);
        ck_assert_ptr_null(testrec_compare(&want, &got));
        uint64_t read_id;
        ck_assert(testrec_read_id(&got, &read_id));
        ck_assert_uint_eq(read_id, id);
        /* One flipped value byte is a difference. */
        uint8_t copy[TESTREC_VALUE_BYTES_MAX];
        memcpy(copy, got.value.ptr, got.value.len);
        copy[got.value.len - 1] ^= 1;
        got.value.ptr = copy;
        ck_assert_str_eq(testrec_compare(&want, &got), "value differs");
        got.has_key = false;
        ck_assert_str_eq(testrec_compare(&want, &got), "key is nil");
    }
}
END_TEST

START_TEST(a_bad_id_header_is_no_id)
{
    struct testrec r;
    testrec_make(&r, 1, 5, 0);
    static const char *bad[] = {"", "x", "01", "12a", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r.headers[0].value = bytes_of(bad[i]);
        uint64_t id;
        ck_assert_msg(!testrec_read_id(&r.record, &id), "'%s' read as an id", bad[i]);
    }
    r.headers[0].value = bytes_of("18446744073709551615");
    uint64_t id;
    ck_assert(testrec_read_id(&r.record, &id));
    ck_assert_uint_eq(id, UINT64_MAX);
    r.record.header_count = 0;
    ck_assert(!testrec_read_id(&r.record, &id));
}
END_TEST

START_TEST(ack_lines_parse_and_bad_ones_are_rejected)
{
    struct testacks_header h;
    struct testack a;
    struct testretry r;
    char why[160];
    ck_assert_int_eq(testacks_parse_line("2 17 905\n", &h, &a, &r, why, sizeof(why)), TESTACKS_ACK);
    ck_assert_uint_eq(a.partition, 2);
    ck_assert_uint_eq(a.offset, 17);
    ck_assert_uint_eq(a.id, 905);
    ck_assert_int_eq(testacks_parse_line("# retry 1 4 304\n", &h, &a, &r, why, sizeof(why)),
                     TESTACKS_RETRY);
    ck_assert_uint_eq(r.partition, 1);
    ck_assert_uint_eq(r.first_id, 4);
    ck_assert_uint_eq(r.last_id, 304);
    ck_assert_int_eq(testacks_parse_line("# produce topic=a.b partitions=3 records=10 seed=9\n", &h,
                                         &a, &r, why, sizeof(why)),
                     TESTACKS_HEADER);
    ck_assert_str_eq(h.topic, "a.b");
    ck_assert_uint_eq(h.partitions, 3);
    ck_assert_uint_eq(h.records, 10);
    ck_assert_uint_eq(h.seed, 9);
    ck_assert_int_eq(testacks_parse_line("\n", &h, &a, &r, why, sizeof(why)), TESTACKS_BLANK);
    ck_assert_int_eq(testacks_parse_line("# a comment\n", &h, &a, &r, why, sizeof(why)),
                     TESTACKS_BLANK);
    static const char *bad[] = {
        "1 2\n", "1 2 3 4\n", "-1 2 3\n", "a b c\n", "1 2 99999999999999999999999\n",
        "4294967296 0 0\n", "# retry 1 5 4\n", "# retry 1 5\n",
        "# produce topic=a partitions=0 records=1 seed=1\n", "# produce topic=a records=1\n",
        "# produce topic=a partitions=1 records=1 seed=1 colour=red\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(testacks_parse_line(bad[i], &h, &a, &r, why, sizeof(why)) == -1,
                      "accepted '%s'", bad[i]);
        ck_assert_msg(why[0] != '\0', "no reason for '%s'", bad[i]);
    }
}
END_TEST

START_TEST(an_ack_file_loads_and_a_broken_one_names_its_line)
{
    char path[] = "/tmp/raftmq-acks-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("# produce topic=t partitions=2 records=4 seed=1\n0 0 0\n1 0 1\n# retry 0 2 2\n0 1 2\n",
          f);
    fclose(f);
    struct testacks acks;
    char why[300];
    ck_assert_int_eq(testacks_load(path, &acks, why, sizeof(why)), 0);
    ck_assert(acks.has_header);
    ck_assert_uint_eq(acks.ack_count, 3);
    ck_assert_uint_eq(acks.retry_count, 1);
    ck_assert_uint_eq(acks.acks[2].id, 2);
    ck_assert_uint_eq(acks.acks[2].offset, 1);
    testacks_free(&acks);

    f = fopen(path, "a");
    fputs("1 1\n", f);
    fclose(f);
    ck_assert_int_eq(testacks_load(path, &acks, why, sizeof(why)), -1);
    ck_assert_ptr_nonnull(strstr(why, ":6:"));
    ck_assert_ptr_null(acks.acks);
    unlink(path);
    ck_assert_int_eq(testacks_load(path, &acks, why, sizeof(why)), -1);
}
END_TEST

Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, split_endpoints_trims_and_skips_empty_items);
    tcase_add_test(tc, split_endpoints_rejects_empty_long_and_too_many);
    tcase_add_test(tc, open_needs_a_bootstrap_list_and_connects_nothing);
    tcase_add_test(tc, metadata_from_the_wire_fills_the_cache);
    tcase_add_test(tc, an_older_term_never_replaces_a_newer_leader);
    tcase_add_test(tc, not_leader_details_and_unknown_topics_update_the_cache);
    tcase_add_test(tc, routed_send_without_a_leader_is_refused_not_hung);
    suite_add_tcase(s, tc);

    TCase *wire = tcase_create("wire");
    tcase_set_timeout(wire, 30);
    tcase_add_test(wire, a_dead_broker_gives_timeout_within_the_deadline);
    tcase_add_test(wire, request_follows_metadata_then_not_leader_to_the_leader);
    tcase_add_test(wire, a_dead_controller_is_forgotten_and_the_new_one_found);
    tcase_add_test(wire, pipelined_answers_match_by_correlation_id);
    tcase_add_test(wire, a_poll_without_waiting_reads_arrived_answers);
    tcase_add_test(wire, a_blocking_call_keeps_pipelined_answers_for_poll);
    tcase_add_test(wire, an_unanswered_request_completes_as_timeout);
    tcase_add_test(wire, abandoned_requests_never_come_back);
    suite_add_tcase(s, wire);

    TCase *rec = tcase_create("records");
    tcase_add_test(rec, records_are_a_function_of_seed_and_id);
    tcase_add_test(rec, records_survive_a_batch_and_flipped_bytes_are_caught);
    tcase_add_test(rec, a_bad_id_header_is_no_id);
    tcase_add_test(rec, ack_lines_parse_and_bad_ones_are_rejected);
    tcase_add_test(rec, an_ack_file_loads_and_a_broken_one_names_its_line);
    suite_add_tcase(s, rec);
    return s;
}
