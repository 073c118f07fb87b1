/* Client traffic: a ROUTER on the client port, requests decoded and dispatched, one response frame per request. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "broker/blog.h"
#include "broker/broker.h"

/*
 * Bounds (docs/operations.md, "Limits"): ZMQ_MAXMSGSIZE drops a client
 * that sends a message over WIRE_MESSAGE_BYTES_MAX; ZMQ_SNDHWM/RCVHWM
 * (client_queue_max) bound what is queued per client; ZMQ_ROUTER_MANDATORY
 * makes a response to a client that is gone (or whose queue is full) fail at
 * once instead of being queued or silently dropped by ZeroMQ, so the broker
 * counts it. A response that cannot be delivered is dropped: the client's
 * own request timeout covers it.
 */

int clients_open(struct broker *b)
{
    b->client_sock = zmq_socket(b->zctx, ZMQ_ROUTER);
    if (b->client_sock == NULL)
        return -1;
    int64_t maxmsg = WIRE_MESSAGE_BYTES_MAX;
    zmq_setsockopt(b->client_sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    broker_set_sockopt_int(b->client_sock, ZMQ_SNDHWM, (int)b->cfg.client_queue_max);
    broker_set_sockopt_int(b->client_sock, ZMQ_RCVHWM, (int)b->cfg.client_queue_max);
    broker_set_sockopt_int(b->client_sock, ZMQ_ROUTER_MANDATORY, 1);
    broker_set_sockopt_int(b->client_sock, ZMQ_LINGER, 0);
    if (zmq_bind(b->client_sock, b->cfg.client_listen) != 0) {
        blog(BLOG_ERROR, NULL, "client_listen: cannot bind %s: %s", b->cfg.client_listen,
             zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

void client_respond(struct broker *b, const struct client_ref *c, const struct wire_frame *resp)
{
    struct wire_writer w;
    wire_writer_init(&w, b->resp_buf, WIRE_FRAME_BYTES_MAX);
    int rc = wire_frame_encode(&w, resp);
    if (rc != WIRE_OK) {
        /* Only a response too large for a frame gets here: say so instead. */
        blog(BLOG_WARN, NULL, "cannot encode a %s response: %s", wire_type_name(resp->type),
             wire_strerror(rc));
        struct wire_frame req = {.type = c->type, .correlation_id = c->correlation_id};
        struct wire_frame err;
        wire_frame_init_response(&err, &req, WIRE_ERR_LIMIT_EXCEEDED,
                                 "the response would exceed the frame limit; ask for less");
        wire_writer_init(&w, b->resp_buf, WIRE_FRAME_BYTES_MAX);
        if (wire_frame_encode(&w, &err) != WIRE_OK)
            return;
    }
    if (zmq_send(b->client_sock, c->id, c->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(b->client_sock, b->resp_buf, w.len, ZMQ_DONTWAIT) < 0) {
        b->responses_dropped++;
        if (BLOG_ENABLED(BLOG_DEBUG))
            blog(BLOG_DEBUG, NULL, "dropped a response: %s", zmq_strerror(zmq_errno()));
    }
}

void client_respond_error(struct broker *b, const struct client_ref *c, int err, const char *msg)
{
    struct wire_frame req = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame resp;
    wire_frame_init_response(&resp, &req, err, msg != NULL ? msg : wire_strerror(err));
    client_respond(b, c, &resp);
}

void client_respond_not_leader(struct broker *b, const struct client_ref *c, uint32_t leader_id)
{
    struct wire_frame req = {.type = c->type, .correlation_id = c->correlation_id};
    struct wire_frame resp;
    const struct broker_node *n = leader_id != 0 ? broker_node(b, leader_id) : NULL;
    char msg[WIRE_STRING_BYTES_MAX];
    if (n != NULL)
        snprintf(msg, sizeof msg, "not the leader; node %u at %s is", n->id, n->client_address);
    else
        snprintf(msg, sizeof msg, "not the leader, and no leader is known yet; retry shortly");
    wire_frame_init_response(&resp, &req, WIRE_ERR_NOT_LEADER, msg);
    resp.body.not_leader_detail.leader_id = n != NULL ? n->id : 0;
    if (n != NULL) {
        resp.body.not_leader_detail.leader_address.ptr = (const uint8_t *)n->client_address;
        resp.body.not_leader_detail.leader_address.len = (uint32_t)strlen(n->client_address);
    }
    client_respond(b, c, &resp);
}

static void dispatch(struct broker *b, const struct client_ref *c, const struct wire_frame *f)
{
    switch (f->type) {
    case WIRE_METADATA:
        control_metadata(b, c, &f->body.metadata_req);
        break;
    case WIRE_CREATE_TOPIC:
        control_create_topic(b, c, &f->body.create_topic_req);
        break;
    case WIRE_DELETE_TOPIC:
        control_delete_topic(b, c, &f->body.delete_topic_req);
        break;
    case WIRE_PRODUCE:
        partition_produce(b, c, &f->body.produce_req);
        break;
    case WIRE_FETCH:
        partition_fetch(b, c, &f->body.fetch_req);
        break;
    case WIRE_LIST_OFFSETS:
        partition_list_offsets(b, c, &f->body.list_offsets_req);
        break;
    case WIRE_INIT_PRODUCER_ID:
        control_init_producer_id(b, c);
        break;
    case WIRE_CLUSTER_STATUS:
        control_cluster_status(b, c);
        break;
    default: {
        if (wire_type_is_group_request(f->type)) {
            coord_request(b, c, f);
            break;
        }
        char msg[128];
        snprintf(msg, sizeof msg, "%s (type %u) is not a client request",
                 wire_type_name(f->type), f->type);
        client_respond_error(b, c, WIRE_ERR_INVALID_REQUEST, msg);
        break;
    }
    }
}

/* Decodes every frame of one client message; a frame that does not decode
 * is answered with its error and ends the message (its end is unknown). */
static void on_client_message(struct broker *b, const uint8_t *id, size_t id_len,
                              const uint8_t *data, size_t len)
{
    struct client_ref c = {.id_len = (uint8_t)id_len};
    memcpy(c.id, id, id_len);
    size_t pos = 0;
    if (len == 0) {
        c.type = 0;
        client_respond_error(b, &c, WIRE_ERR_TRUNCATED, "empty message");
        return;
    }
    while (pos < len) {
        struct wire_frame f;
        size_t used = 0;
        char why[256] = "";
        wire_arena_reset(&b->arena);
        int rc = wire_frame_decode(data + pos, len - pos, &b->arena, &f, &used, why, sizeof why);
        c.type = f.type & ~WIRE_RESPONSE_BIT;
        c.correlation_id = f.correlation_id;
        if (rc != WIRE_OK) {
            client_respond_error(b, &c, rc, why[0] != '\0' ? why : wire_strerror(rc));
            return;
        }
        pos += used;
        if (wire_type_is_response(f.type)) {
            client_respond_error(b, &c, WIRE_ERR_INVALID_REQUEST,
                                 "a response frame was sent to the broker's client port");
            continue;
        }
        dispatch(b, &c, &f);
    }
}

void clients_receive(struct broker *b)
{
    for (uint32_t n = 0; n < BROKER_RECV_BATCH; n++) {
        zmq_msg_t id, body;
        int got = broker_recv_routed(b->client_sock, &id, &body);
        if (got > 0)
            on_client_message(b, zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_data(&body),
                              zmq_msg_size(&body));
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        if (got == 0)
            return;
    }
}
