/* The unit tests' fake broker (fake_broker.h). */
#include "fake_broker.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define FAKE_ARENA_BYTES (1024u * 1024u)
#define FAKE_OUT_BYTES (64u * 1024u)

static void *fake_run(void *arg)
{
    struct fake_broker *fb = arg;
    while (!fb->stop) {
        zmq_pollitem_t item = {fb->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) <= 0)
            continue;
        zmq_msg_t identity, payload;
        zmq_msg_init(&identity);
        zmq_msg_init(&payload);
        zmq_msg_recv(&identity, fb->router, 0);
        zmq_msg_recv(&payload, fb->router, 0);
        struct wire_writer w;
        wire_writer_init(&w, fb->out, FAKE_OUT_BYTES);
        const uint8_t *p = zmq_msg_data(&payload);
        size_t left = zmq_msg_size(&payload);
        while (left > 0) {
            struct wire_arena arena;
            wire_arena_init(&arena, fb->arena, FAKE_ARENA_BYTES);
            struct wire_frame req;
            size_t consumed;
            if (wire_frame_decode(p, left, &arena, &req, &consumed, NULL, 0) != WIRE_OK)
                break;
            fb->answer(fb->user, &req, &w);
            p += consumed;
            left -= consumed;
        }
        if (w.len > 0) {
            zmq_send(fb->router, zmq_msg_data(&identity), zmq_msg_size(&identity), ZMQ_SNDMORE);
            zmq_send(fb->router, fb->out, w.len, 0);
        }
        zmq_msg_close(&identity);
        zmq_msg_close(&payload);
    }
    return NULL;
}

void fake_broker_answer_metadata_n(const struct fake_broker *fb, const struct wire_frame *req,
                                   const char *topic, uint32_t partitions, struct wire_writer *w)
{
    static const uint32_t replicas[1] = {1};
    struct wire_partition_meta parts[64];
    ck_assert_uint_le(partitions, 64);
    for (uint32_t i = 0; i < partitions; i++)
        parts[i] = (struct wire_partition_meta){.partition = i, .leader_id = 1, .leader_term = 1,
                                                .replicas = {1, (uint32_t *)replicas}};
    struct wire_broker broker = {1, {(const uint8_t *)fb->endpoint, (uint32_t)strlen(fb->endpoint)}};
    struct wire_topic_meta meta = {.name = {(const uint8_t *)topic, (uint32_t)strlen(topic)},
                                   .partitions = {partitions, parts}};
    struct wire_frame resp;
    wire_frame_init_response(&resp, req, WIRE_OK, NULL);
    resp.body.metadata_resp.controller_id = 1;
    resp.body.metadata_resp.brokers.count = 1;
    resp.body.metadata_resp.brokers.items = &broker;
    resp.body.metadata_resp.topics.count = 1;
    resp.body.metadata_resp.topics.items = &meta;
    ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
}

void fake_broker_answer_metadata(const struct fake_broker *fb, const struct wire_frame *req,
                                 const char *topic, struct wire_writer *w)
{
    uint32_t replicas[1] = {1};
    struct wire_broker broker = {1, {(const uint8_t *)fb->endpoint, (uint32_t)strlen(fb->endpoint)}};
    struct wire_partition_meta part = {.partition = 0, .leader_id = 1, .leader_term = 1,
                                       .replicas = {1, replicas}};
    struct wire_topic_meta meta = {.name = {(const uint8_t *)topic, (uint32_t)strlen(topic)},
                                   .partitions = {1, &part}};
    struct wire_frame resp;
    wire_frame_init_response(&resp, req, WIRE_OK, NULL);
    resp.body.metadata_resp.controller_id = 1;
    resp.body.metadata_resp.brokers.count = 1;
    resp.body.metadata_resp.brokers.items = &broker;
    resp.body.metadata_resp.topics.count = 1;
    resp.body.metadata_resp.topics.items = &meta;
    ck_assert_int_eq(wire_frame_encode(w, &resp), WIRE_OK);
}

void fake_broker_start(struct fake_broker *fb, fake_broker_answer_fn *answer, void *user)
{
    fb->answer = answer;
    fb->user = user;
    fb->stop = 0;
    fb->arena = malloc(FAKE_ARENA_BYTES);
    fb->out = malloc(FAKE_OUT_BYTES);
    ck_assert_ptr_nonnull(fb->arena);
    ck_assert_ptr_nonnull(fb->out);
    fb->ctx = zmq_ctx_new();
    ck_assert_ptr_nonnull(fb->ctx);
    fb->router = zmq_socket(fb->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(fb->router, ZMQ_LINGER, &zero, sizeof(zero));
    ck_assert_int_eq(zmq_bind(fb->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof(fb->endpoint);
    ck_assert_int_eq(zmq_getsockopt(fb->router, ZMQ_LAST_ENDPOINT, fb->endpoint, &len), 0);
    ck_assert_int_eq(pthread_create(&fb->thread, NULL, fake_run, fb), 0);
}

void fake_broker_stop(struct fake_broker *fb)
{
    fb->stop = 1;
    pthread_join(fb->thread, NULL);
    zmq_close(fb->router);
    zmq_ctx_term(fb->ctx);
    free(fb->arena);
    free(fb->out);
}
