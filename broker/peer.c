/* Broker-to-broker traffic: one DEALER to every other broker, one ROUTER for what they send, frames coalesced per loop turn. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "broker/blog.h"
#include "broker/broker.h"
#include "broker/peer_codec.h"

/*
 * Why this shape (DESIGN.md, "Processes and sockets"): messages for many
 * Raft groups to the same peer are appended to that peer's buffer during a
 * loop turn and leave as one ZeroMQ message at its end, so hundreds of
 * partitions' heartbeats cost one send per peer per turn.
 *
 * A peer that is down or slow never blocks the loop or grows memory:
 *   - ZMQ_IMMEDIATE: nothing is queued for a peer whose connection is not
 *     up; the send fails with EAGAIN and the message is dropped.
 *   - ZMQ_SNDHWM = peer_queue_max messages queued per peer; past it, EAGAIN,
 *     and the message is dropped (Raft retransmits: heartbeats, probes).
 *   - sends never wait (ZMQ_DONTWAIT), and ZMQ_LINGER 0 on close.
 * Dropped messages are counted per peer and logged when a peer's state changes.
 */

/* A coalesced message never exceeds this (a frame is at most 8 MiB, and an
 * APPEND carries at most max_msg_bytes = 1 MiB of entries). */
#define PEER_MESSAGE_BYTES (WIRE_MESSAGE_BYTES_MAX)

/*
 * Dead links. A network that silently drops packets leaves a TCP connection
 * looking open while its retransmission timer backs off to seconds, so
 * after the network heals a peer could stay unheard for many seconds and
 * then receive a backlog of stale messages (the fault suite saw 30 s). So a
 * connection whose sent data stays unacknowledged this long is aborted by
 * the kernel (TCP_USER_TIMEOUT, ZMQ_TCP_MAXRT) and ZeroMQ reconnects, and a
 * connect that gets no answer is abandoned and retried: a healed link is
 * back within a second or two, and while it is down the DEALER holds no
 * connection, so ZMQ_IMMEDIATE drops new messages instead of queueing them.
 * A paused peer's kernel still acknowledges, so pausing drops nothing.
 * Not ZeroMQ's own heartbeats (ZMQ_HEARTBEAT_*): libzmq 4.3.4 (Debian 12)
 * aborts on "!_io_error (stream_engine_base.cpp:331)" when a heartbeat
 * timer fires on a connection whose input is stopped by a full receive
 * queue, which the fault suite hit within minutes.
 */
#define PEER_UNACKED_TIMEOUT_MS 2000
#define PEER_CONNECT_TIMEOUT_MS 1000

struct peer *broker_peer(struct broker *b, uint32_t id)
{
    for (uint32_t i = 0; i < b->n_peers; i++)
        if (b->peers[i].id == id)
            return &b->peers[i];
    return NULL;
}

/* The endpoint to connect to a peer: with peer_source_address set, ZeroMQ's
 * "tcp://SOURCE:0;HOST:PORT" form makes the connection come from that
 * address (a fault test cuts the network between per-broker addresses). */
static int peer_endpoint(const struct broker *b, const char *address, char *out, size_t cap)
{
    const char *src = b->cfg.peer_source_address;
    int k;
    if (src[0] == '\0' || strncmp(address, "tcp://", 6) != 0)
        k = snprintf(out, cap, "%s", address);
    else if (strchr(src, ':') != NULL)
        k = snprintf(out, cap, "tcp://[%s]:0;%s", src, address + 6);
    else
        k = snprintf(out, cap, "tcp://%s:0;%s", src, address + 6);
    if (k < 0 || (size_t)k >= cap) {
        snprintf(out, cap, "%s", address);
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int peers_open(struct broker *b)
{
    b->peer_sock = zmq_socket(b->zctx, ZMQ_ROUTER);
    if (b->peer_sock == NULL)
        return -1;
    int64_t maxmsg = WIRE_MESSAGE_BYTES_MAX;
    zmq_setsockopt(b->peer_sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    broker_set_sockopt_int(b->peer_sock, ZMQ_RCVHWM, (int)b->cfg.peer_queue_max);
    broker_set_sockopt_int(b->peer_sock, ZMQ_LINGER, 0);
    /* A peer that reconnects (after a drop for silence, a restart) comes
     * back under the same routing id while its old connection may still be
     * open here: the new connection must take over, not be refused. */
    broker_set_sockopt_int(b->peer_sock, ZMQ_ROUTER_HANDOVER, 1);
    broker_set_sockopt_int(b->peer_sock, ZMQ_TCP_MAXRT, PEER_UNACKED_TIMEOUT_MS);
    if (zmq_bind(b->peer_sock, b->cfg.peer_listen) != 0) {
        blog(BLOG_ERROR, NULL, "peer_listen: cannot bind %s: %s", b->cfg.peer_listen,
             zmq_strerror(zmq_errno()));
        return -1;
    }
    for (uint32_t i = 0; i < b->cfg.n_nodes; i++) {
        const struct broker_node *n = &b->cfg.nodes[i];
        if (n->id == b->cfg.node_id)
            continue;
        struct peer *p = &b->peers[b->n_peers++];
        p->id = n->id;
        p->out = malloc(PEER_MESSAGE_BYTES);
        if (p->out == NULL)
            return -1;
        wire_writer_init(&p->w, p->out, PEER_MESSAGE_BYTES);
        p->dealer = zmq_socket(b->zctx, ZMQ_DEALER);
        if (p->dealer == NULL)
            return -1;
        char rid[32];
        int k = snprintf(rid, sizeof rid, "broker-%u", b->cfg.node_id);
        zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, rid, (size_t)k);
        broker_set_sockopt_int(p->dealer, ZMQ_SNDHWM, (int)b->cfg.peer_queue_max);
        broker_set_sockopt_int(p->dealer, ZMQ_IMMEDIATE, 1);
        broker_set_sockopt_int(p->dealer, ZMQ_LINGER, 0);
        broker_set_sockopt_int(p->dealer, ZMQ_RECONNECT_IVL, 50);
        broker_set_sockopt_int(p->dealer, ZMQ_RECONNECT_IVL_MAX, 500);
        broker_set_sockopt_int(p->dealer, ZMQ_CONNECT_TIMEOUT, PEER_CONNECT_TIMEOUT_MS);
        broker_set_sockopt_int(p->dealer, ZMQ_TCP_MAXRT, PEER_UNACKED_TIMEOUT_MS);
        char endpoint[2 * BROKER_ADDRESS_BYTES_MAX];
        if (peer_endpoint(b, n->peer_address, endpoint, sizeof endpoint) != 0 ||
            zmq_connect(p->dealer, endpoint) != 0) {
            blog(BLOG_ERROR, NULL, "node %u: cannot connect to %s: %s", n->id, endpoint,
                 zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

void peers_close(struct broker *b)
{
    for (uint32_t i = 0; i < b->n_peers; i++) {
        if (b->peers[i].dealer != NULL)
            zmq_close(b->peers[i].dealer);
        free(b->peers[i].out);
    }
    if (b->peer_sock != NULL)
        zmq_close(b->peer_sock);
}

static void peer_send(struct broker *b, struct peer *p)
{
    if (p->w.len == 0)
        return;
    if (zmq_send(p->dealer, p->out, p->w.len, ZMQ_DONTWAIT) < 0) {
        p->dropped++;
        if (BLOG_ENABLED(BLOG_DEBUG))
            blog(BLOG_DEBUG, NULL, "dropped %zu bytes to node %u: %s", p->w.len, p->id,
                 zmq_strerror(zmq_errno()));
    }
    (void)b;
    wire_writer_init(&p->w, p->out, PEER_MESSAGE_BYTES);
}

void peers_flush(struct broker *b)
{
    for (uint32_t i = 0; i < b->n_peers; i++)
        peer_send(b, &b->peers[i]);
}

void peer_queue_frame(struct broker *b, uint32_t to, const uint8_t *bytes, size_t len)
{
    struct peer *p = broker_peer(b, to);
    if (p == NULL)
        return;
    if (p->w.len + len > PEER_MESSAGE_BYTES)
        peer_send(b, p);
    if (len > PEER_MESSAGE_BYTES)
        return;
    memcpy(p->out + p->w.len, bytes, len);
    p->w.len += len;
}

void peer_queue_msg(struct broker *b, struct group *g, const struct raft_msg *m)
{
    struct peer *p = broker_peer(b, (uint32_t)m->to);
    if (p == NULL)
        return; /* not a broker of this cluster: like a lost message */
    if (m->type == RAFT_MSG_SNAPSHOT) {
        /* A partition's snapshot is its stored log: stream it (group.c). */
        group_start_catchup(g, m->to, m->snapshot.last_index);
        return;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t before = p->w.len;
        int rc = peer_encode(&p->w, g->id, g->is_meta, m, NULL);
        if (rc == WIRE_OK)
            return;
        p->w.len = before;
        p->w.err = WIRE_OK;
        if (rc != WIRE_ERR_BUFFER_FULL || attempt == 1) {
            blog(BLOG_WARN, g->name, "cannot encode a message to node %u: %s", p->id,
                 wire_strerror(rc));
            return;
        }
        peer_send(b, p);
    }
}

/* ---- leadership gossip ------------------------------------------------------ */

static struct leader_hint *hint_slot(struct broker *b, uint64_t group, bool create)
{
    if (b->hints_cap == 0) {
        if (!create)
            return NULL;
        b->hints_cap = 1024;
        b->hints = calloc(b->hints_cap, sizeof(*b->hints));
        if (b->hints == NULL) {
            b->hints_cap = 0;
            return NULL;
        }
    }
    if (create && (b->hints_count + 1) * 2 > b->hints_cap) {
        uint32_t cap = b->hints_cap * 2;
        struct leader_hint *nh = calloc(cap, sizeof(*nh));
        if (nh == NULL)
            return NULL;
        for (uint32_t i = 0; i < b->hints_cap; i++) {
            if (b->hints[i].group == 0)
                continue;
            uint32_t j = (uint32_t)(b->hints[i].group * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
            while (nh[j].group != 0)
                j = (j + 1) & (cap - 1);
            nh[j] = b->hints[i];
        }
        free(b->hints);
        b->hints = nh;
        b->hints_cap = cap;
    }
    uint32_t mask = b->hints_cap - 1;
    uint32_t j = (uint32_t)(group * 0x9E3779B97F4A7C15ull >> 32) & mask;
    while (b->hints[j].group != 0 && b->hints[j].group != group)
        j = (j + 1) & mask;
    if (b->hints[j].group == 0) {
        if (!create)
            return NULL;
        b->hints[j].group = group;
        b->hints_count++;
    }
    return &b->hints[j];
}

uint32_t broker_group_leader(struct broker *b, uint64_t group, uint64_t *term)
{
    struct group *g = group == 0 ? b->meta : broker_find_group(b, group);
    if (g != NULL && !g->failed) {
        if (term != NULL)
            *term = g->term;
        return (uint32_t)g->leader;
    }
    /* Group 0 is never a hint key; the metadata group is always local. */
    struct leader_hint *h = hint_slot(b, group, false);
    if (h == NULL || h->leader == 0 || b->now_ms - h->seen_ms > 4 * BROKER_PEER_ALIVE_MS ||
        !peer_reachable(b, h->leader)) {
        if (term != NULL)
            *term = h != NULL ? h->term : 0;
        return 0;
    }
    if (term != NULL)
        *term = h->term;
    return h->leader;
}

bool peer_stopping(const struct broker *b, uint32_t id)
{
    for (uint32_t i = 0; i < b->n_peers; i++)
        if (b->peers[i].id == id)
            return b->peers[i].stopping;
    return false;
}

bool peer_reachable(const struct broker *b, uint32_t id)
{
    if (id == b->cfg.node_id)
        return true;
    for (uint32_t i = 0; i < b->n_peers; i++)
        if (b->peers[i].id == id)
            return b->peers[i].last_heard_ms != 0 &&
                   b->now_ms - b->peers[i].last_heard_ms <= BROKER_PEER_ALIVE_MS;
    return false;
}

void peers_send_status(struct broker *b)
{
    /* Leaders of this broker's groups, in frames of at most STATUS_CHUNK. */
    enum { STATUS_CHUNK = 4096 };
    static struct wire_group_leader leaders[STATUS_CHUNK];
    uint32_t n = 0;
    uint8_t *buf = b->resp_buf;
    bool sent_any = false;
    for (uint32_t i = 0; i <= b->glist_count; i++) {
        struct group *g = i < b->glist_count ? b->glist[i] : NULL;
        bool last = i == b->glist_count;
        if (g != NULL && g->role == RAFT_LEADER && !g->failed)
            leaders[n++] = (struct wire_group_leader){.group = g->id, .term = g->term};
        if (n == STATUS_CHUNK || (last && (n > 0 || !sent_any))) {
            struct wire_writer w;
            wire_writer_init(&w, buf, WIRE_FRAME_BYTES_MAX);
            if (peer_encode_status(&w, b->cfg.node_id, b->md.applied_index, leaders, n, b->stopping) == WIRE_OK)
                for (uint32_t k = 0; k < b->n_peers; k++)
                    peer_queue_frame(b, b->peers[k].id, buf, w.len);
            n = 0;
            sent_any = true;
        }
    }
}

static void on_status(struct broker *b, const struct wire_peer_status_req *s)
{
    struct peer *p = broker_peer(b, s->from);
    if (p != NULL) {
        p->last_heard_ms = b->now_ms;
        p->stopping = s->stopping;
    }
    for (uint32_t i = 0; i < s->leaders.count; i++) {
        const struct wire_group_leader *gl = &s->leaders.items[i];
        if (gl->group == 0 || broker_find_group(b, gl->group) != NULL)
            continue; /* local groups know their own leader */
        struct leader_hint *h = hint_slot(b, gl->group, true);
        if (h == NULL)
            return;
        if (gl->term >= h->term || b->now_ms - h->seen_ms > 4 * BROKER_PEER_ALIVE_MS) {
            h->leader = s->from;
            h->term = gl->term;
            h->seen_ms = b->now_ms;
        }
    }
}

/* ---- receiving ---------------------------------------------------------------- */

static void on_peer_message(struct broker *b, const uint8_t *data, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        struct wire_frame f;
        size_t used = 0;
        char why[256];
        wire_arena_reset(&b->arena);
        int rc = wire_frame_decode(data + pos, len - pos, &b->arena, &f, &used, why, sizeof why);
        if (rc != WIRE_OK) {
            blog(BLOG_WARN, NULL, "dropped a malformed peer message: %s (%s)", wire_strerror(rc), why);
            return; /* the rest of the message cannot be framed */
        }
        pos += used;
        if (f.type == WIRE_PEER_STATUS) {
            on_status(b, &f.body.peer_status_req);
            continue;
        }
        if (!peer_frame_is_raft(f.type)) {
            blog(BLOG_WARN, NULL, "dropped a %s frame on the peer socket", wire_type_name(f.type));
            continue;
        }
        struct raft_msg m;
        uint64_t group = 0;
        rc = peer_decode(&f, &m, b->step_entries, BROKER_STEP_ENTRIES_MAX, &group, NULL, why,
                         sizeof why);
        if (rc != WIRE_OK) {
            blog(BLOG_WARN, NULL, "dropped a malformed %s: %s", wire_type_name(f.type), why);
            continue;
        }
        struct peer *p = broker_peer(b, (uint32_t)m.from);
        if (p != NULL)
            p->last_heard_ms = b->now_ms;
        if (m.to != b->cfg.node_id)
            continue;
        struct group *g = group == 0 ? b->meta : broker_find_group(b, group);
        if (g == NULL || g->failed)
            continue; /* a group this broker does not host (yet): like a lost message */
        if (m.type == RAFT_MSG_APPEND_RESP && g->catchups_active != 0)
            group_catchup_on_resp(g, &m);
        rc = raft_step(g->raft, &m);
        if (rc != 0 && rc != RAFT_EMALFORMED)
            blog(BLOG_DEBUG, g->name, "step: %s", raft_strerror(rc));
        else if (rc == RAFT_EMALFORMED)
            blog(BLOG_WARN, g->name, "refused a malformed message from node %" PRIu64, m.from);
        broker_mark_dirty(g);
    }
}

void peers_receive(struct broker *b)
{
    for (uint32_t n = 0; n < BROKER_RECV_BATCH; n++) {
        zmq_msg_t id, body;
        int got = broker_recv_routed(b->peer_sock, &id, &body);
        if (got > 0)
            on_peer_message(b, zmq_msg_data(&body), zmq_msg_size(&body));
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        if (got == 0)
            return;
    }
}
