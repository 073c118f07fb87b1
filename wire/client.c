/* The client connection core: DEALER per broker, correlation, deadlines, metadata cache and routing. */
#include "client.h"
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define CLIENT_DEFAULT_ATTEMPT_MS 1000u
#define CLIENT_DEFAULT_CONNECT_MS 1000u
#define CLIENT_DEFAULT_BACKOFF_MIN_MS 20u
#define CLIENT_DEFAULT_BACKOFF_MAX_MS 1000u
#define CLIENT_DEFAULT_IN_FLIGHT 256u
#define CLIENT_DEFAULT_HWM 1000
/* The decode arena starts here and grows on demand up to
 * WIRE_ARENA_BYTES_PER_INPUT_BYTE times the frame (which always suffices). */
#define CLIENT_ARENA_BYTES_INITIAL (256u * WIRE_KIB)
#define CLIENT_ERROR_BYTES 512u
/* How long UNKNOWN_TOPIC must persist before a routed request believes it:
 * a broker applies a new topic a few milliseconds after the controller. */
#define CLIENT_UNKNOWN_TOPIC_GRACE_MS 500

struct client_conn {
    char address[WIRE_STRING_BYTES_MAX + 1];
    void *socket;  /* DEALER; NULL until first use */
    void *monitor; /* PAIR receiving the DEALER's disconnect events */
};

/* One outstanding request. */
struct client_slot {
    bool in_use;
    bool connection_lost; /* its connection dropped: completes as lost */
    uint64_t correlation_id;
    uint32_t conn;
    uint32_t type;
    int64_t deadline_ns;
    void *user;
    /* A response that arrived while a blocking call waited for another id:
     * a copy of its frame bytes, decoded when it is handed out. */
    uint8_t *stored;
    size_t stored_len;
};

struct client_broker {
    uint32_t node_id;
    char *address;
};

struct client_partition {
    uint32_t leader_id;
    uint64_t leader_term;
};

struct client_topic {
    char *name;
    uint32_t partition_count;
    struct client_partition *partitions;
};

struct wire_client {
    struct wire_client_config config;
    void *zmq_context;
    char error[CLIENT_ERROR_BYTES];
    /* The last send failed before the request left (no connection within
     * the connect timeout): a TIMEOUT that is known not to have been sent,
     * so even a PRODUCE may be retried. */
    bool last_not_sent;

    char (*bootstrap)[WIRE_STRING_BYTES_MAX + 1];
    uint32_t bootstrap_count;
    uint32_t any_cursor; /* round robin over bootstrap + brokers */

    struct client_conn conns[WIRE_CLIENT_CONNECTIONS_MAX];
    uint32_t conn_count;
    uint32_t poll_cursor;

    struct client_slot *slots;
    uint32_t in_flight;
    /* Slots are taken lowest index first, so the ones in use lie below
     * slots_end: scans stop there instead of at in_flight_max (which may
     * be thousands) on every poll. */
    uint32_t slots_end;
    uint64_t next_correlation_id;

    uint8_t *send_buf; /* one encoded request */

    /* The message being taken apart: frames are decoded one at a time. */
    zmq_msg_t in_msg;
    bool in_msg_open;
    size_t in_pos;
    /* The stored copy behind the frame last handed out, freed on the next call. */
    uint8_t *handed_stored;
    uint8_t *arena_buf;
    size_t arena_cap;
    struct wire_arena arena;

    /* Metadata cache. */
    uint32_t controller_id;
    struct client_broker *brokers;
    uint32_t broker_count;
    struct client_topic *topics;
    uint32_t topic_count;
};

/* ---- small helpers ------------------------------------------------------------ */

static int64_t deadline_after_ms(uint32_t ms)
{
    return wire_mono_ns() + (int64_t)ms * 1000000;
}

/* Milliseconds from now until `deadline`, rounded up, 0 when past. */
static long ms_until(int64_t deadline)
{
    int64_t left = deadline - wire_mono_ns();
    if (left <= 0)
        return 0;
    return (long)((left + 999999) / 1000000);
}

static int fail(struct wire_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct wire_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return code;
}

/* Sleeps the attempt's backoff, never past the deadline. */
static void backoff(const struct wire_client *c, unsigned attempt, int64_t deadline)
{
    uint64_t ms = c->config.backoff_ms_min;
    for (unsigned i = 0; i < attempt && ms < c->config.backoff_ms_max; i++)
        ms *= 2;
    if (ms > c->config.backoff_ms_max)
        ms = c->config.backoff_ms_max;
    long left = ms_until(deadline);
    wire_sleep_ms((long)ms < left ? (long)ms : left);
}

static bool bytes_equal_cstr(struct wire_bytes b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && (n == 0 || memcmp(b.ptr, s, n) == 0);
}

static char *dup_bytes(struct wire_bytes b)
{
    char *s = malloc((size_t)b.len + 1);
    if (s == NULL)
        return NULL;
    if (b.len > 0)
        memcpy(s, b.ptr, b.len);
    s[b.len] = '\0';
    return s;
}

/* ---- endpoints ---------------------------------------------------------------- */

int wire_client_split_endpoints(const char *list, char (*out)[WIRE_STRING_BYTES_MAX + 1],
                                uint32_t max, uint32_t *count)
{
    *count = 0;
    if (list == NULL)
        return WIRE_ERR_INVALID_REQUEST;
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            size_t n = (size_t)(b - a);
            if (n > WIRE_STRING_BYTES_MAX || *count >= max)
                return WIRE_ERR_INVALID_REQUEST;
            memcpy(out[*count], a, n);
            out[*count][n] = '\0';
            (*count)++;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return *count > 0 ? WIRE_OK : WIRE_ERR_INVALID_REQUEST;
}

/* ---- open / close ------------------------------------------------------------- */

int wire_client_open(const struct wire_client_config *config, struct wire_client **out)
{
    *out = NULL;
    if (config == NULL || config->bootstrap == NULL)
        return WIRE_ERR_INVALID_REQUEST;
    struct wire_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return WIRE_ERR_UNKNOWN;
    c->config = *config;
    c->config.bootstrap = NULL; /* not kept: the caller's string may go away */
    if (c->config.attempt_timeout_ms == 0)
        c->config.attempt_timeout_ms = CLIENT_DEFAULT_ATTEMPT_MS;
    if (c->config.connect_timeout_ms == 0)
        c->config.connect_timeout_ms = CLIENT_DEFAULT_CONNECT_MS;
    if (c->config.backoff_ms_min == 0)
        c->config.backoff_ms_min = CLIENT_DEFAULT_BACKOFF_MIN_MS;
    if (c->config.backoff_ms_max == 0)
        c->config.backoff_ms_max = CLIENT_DEFAULT_BACKOFF_MAX_MS;
    if (c->config.backoff_ms_max < c->config.backoff_ms_min)
        c->config.backoff_ms_max = c->config.backoff_ms_min;
    if (c->config.in_flight_max == 0)
        c->config.in_flight_max = CLIENT_DEFAULT_IN_FLIGHT;
    if (c->config.in_flight_max > WIRE_CLIENT_IN_FLIGHT_MAX)
        c->config.in_flight_max = WIRE_CLIENT_IN_FLIGHT_MAX;
    if (c->config.hwm <= 0)
        c->config.hwm = CLIENT_DEFAULT_HWM;
    c->next_correlation_id = 1;

    c->bootstrap = calloc(WIRE_CLIENT_BOOTSTRAP_MAX, sizeof(*c->bootstrap));
    c->slots = calloc(c->config.in_flight_max, sizeof(*c->slots));
    c->send_buf = malloc(WIRE_FRAME_BYTES_MAX);
    c->arena_cap = CLIENT_ARENA_BYTES_INITIAL;
    c->arena_buf = malloc(c->arena_cap);
    c->zmq_context = zmq_ctx_new();
    if (c->bootstrap == NULL || c->slots == NULL || c->send_buf == NULL ||
        c->arena_buf == NULL || c->zmq_context == NULL) {
        wire_client_close(c);
        return WIRE_ERR_UNKNOWN;
    }
    if (wire_client_split_endpoints(config->bootstrap, c->bootstrap, WIRE_CLIENT_BOOTSTRAP_MAX,
                                    &c->bootstrap_count) != WIRE_OK) {
        wire_client_close(c);
        return WIRE_ERR_INVALID_REQUEST;
    }
    *out = c;
    return WIRE_OK;
}

static void cache_clear_topics(struct wire_client *c)
{
    for (uint32_t i = 0; i < c->topic_count; i++) {
        free(c->topics[i].name);
        free(c->topics[i].partitions);
    }
    free(c->topics);
    c->topics = NULL;
    c->topic_count = 0;
}

static void cache_clear_brokers(struct wire_client *c)
{
    for (uint32_t i = 0; i < c->broker_count; i++)
        free(c->brokers[i].address);
    free(c->brokers);
    c->brokers = NULL;
    c->broker_count = 0;
}

void wire_client_close(struct wire_client *c)
{
    if (c == NULL)
        return;
    for (uint32_t i = 0; i < c->conn_count; i++) {
        if (c->conns[i].monitor != NULL)
            zmq_close(c->conns[i].monitor);
        if (c->conns[i].socket != NULL)
            zmq_close(c->conns[i].socket);
    }
    if (c->in_msg_open)
        zmq_msg_close(&c->in_msg);
    if (c->slots != NULL) {
        for (uint32_t i = 0; i < c->config.in_flight_max; i++)
            free(c->slots[i].stored);
    }
    if (c->zmq_context != NULL)
        zmq_ctx_term(c->zmq_context);
    cache_clear_topics(c);
    cache_clear_brokers(c);
    free(c->handed_stored);
    free(c->slots);
    free(c->bootstrap);
    free(c->send_buf);
    free(c->arena_buf);
    free(c);
}

const char *wire_client_error(const struct wire_client *c)
{
    return c->error;
}

uint32_t wire_client_in_flight(const struct wire_client *c)
{
    return c->in_flight;
}

/* Start of every call that may hand out a frame: the previous one expires. */
static void begin_call(struct wire_client *c)
{
    free(c->handed_stored);
    c->handed_stored = NULL;
    c->error[0] = '\0';
}

/* ---- connections ----------------------------------------------------------------- */

static int conn_find(const struct wire_client *c, const char *address)
{
    for (uint32_t i = 0; i < c->conn_count; i++) {
        if (strcmp(c->conns[i].address, address) == 0)
            return (int)i;
    }
    return -1;
}

/*
 * Dead connections: behind a network that silently drops packets the TCP
 * connection to a broker looks open and every request on it would wait
 * for its deadline. The kernel aborts a connection whose sent data stays
 * unacknowledged this long (TCP_USER_TIMEOUT, ZMQ_TCP_MAXRT), which fails
 * the requests on it at once (a lost connection: outcome unknown, retried
 * elsewhere); a connect that gets no answer is abandoned and retried.
 * (Not ZeroMQ heartbeats: libzmq 4.3.4 can abort the process when one
 * fires on a connection whose receive queue is full; broker/peer.c.)
 * A frozen broker's kernel still acknowledges: the producer's stall check
 * covers that case.
 */
#define CLIENT_UNACKED_TIMEOUT_MS 2000
#define CLIENT_CONNECT_TIMEOUT_MS 2000

static int conn_open_socket(struct wire_client *c, struct client_conn *conn, uint32_t index)
{
    void *s = zmq_socket(c->zmq_context, ZMQ_DEALER);
    if (s == NULL)
        return fail(c, WIRE_ERR_UNKNOWN, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0, one = 1, hwm = c->config.hwm;
    int64_t max_msg = WIRE_MESSAGE_BYTES_MAX;
    int reconnect_max_ms = 1000;
    int unacked_ms = CLIENT_UNACKED_TIMEOUT_MS, connect_ms = CLIENT_CONNECT_TIMEOUT_MS;
    if (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
        zmq_setsockopt(s, ZMQ_TCP_MAXRT, &unacked_ms, sizeof(unacked_ms)) != 0 ||
        zmq_setsockopt(s, ZMQ_CONNECT_TIMEOUT, &connect_ms, sizeof(connect_ms)) != 0 ||
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg)) != 0 ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &reconnect_max_ms, sizeof(reconnect_max_ms)) != 0) {
        int e = zmq_errno();
        zmq_close(s);
        return fail(c, WIRE_ERR_UNKNOWN, "zmq_setsockopt: %s", zmq_strerror(e));
    }
    /* The monitor must be attached before connect so no event is missed. */
    char monitor_endpoint[96];
    snprintf(monitor_endpoint, sizeof(monitor_endpoint), "inproc://raftmq-client-%p-%" PRIu32,
             (void *)c, index);
    void *m = NULL;
    if (zmq_socket_monitor(s, monitor_endpoint, ZMQ_EVENT_DISCONNECTED) == 0) {
        m = zmq_socket(c->zmq_context, ZMQ_PAIR);
        if (m != NULL && (zmq_setsockopt(m, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
                          zmq_connect(m, monitor_endpoint) != 0)) {
            zmq_close(m);
            m = NULL;
        }
    }
    /* Without a monitor a lost connection is only noticed at the deadline. */
    if (zmq_connect(s, conn->address) != 0) {
        int e = zmq_errno();
        if (m != NULL)
            zmq_close(m);
        zmq_close(s);
        return fail(c, WIRE_ERR_INVALID_REQUEST, "cannot connect to '%s': %s", conn->address,
                    zmq_strerror(e));
    }
    conn->socket = s;
    conn->monitor = m;
    return WIRE_OK;
}

/* The connection for `address`, created (and connected) on first use. */
static int conn_get(struct wire_client *c, const char *address, uint32_t *index)
{
    if (address == NULL || address[0] == '\0')
        return fail(c, WIRE_ERR_INVALID_REQUEST, "empty broker address");
    if (strlen(address) > WIRE_STRING_BYTES_MAX)
        return fail(c, WIRE_ERR_INVALID_REQUEST, "broker address too long");
    int found = conn_find(c, address);
    if (found < 0) {
        if (c->conn_count >= WIRE_CLIENT_CONNECTIONS_MAX)
            return fail(c, WIRE_ERR_LIMIT_EXCEEDED, "more than %u broker connections",
                        WIRE_CLIENT_CONNECTIONS_MAX);
        found = (int)c->conn_count;
        struct client_conn *conn = &c->conns[found];
        memset(conn, 0, sizeof(*conn));
        strcpy(conn->address, address);
        int rc = conn_open_socket(c, conn, (uint32_t)found);
        if (rc != WIRE_OK)
            return rc;
        c->conn_count++;
    }
    *index = (uint32_t)found;
    return WIRE_OK;
}

/* ---- slots -------------------------------------------------------------------------- */

static struct client_slot *slot_find(struct wire_client *c, uint64_t id)
{
    if (id == 0)
        return NULL;
    for (uint32_t i = 0; i < c->slots_end; i++) {
        if (c->slots[i].in_use && c->slots[i].correlation_id == id)
            return &c->slots[i];
    }
    return NULL;
}

static void slot_release(struct wire_client *c, struct client_slot *s)
{
    free(s->stored);
    memset(s, 0, sizeof(*s));
    c->in_flight--;
    while (c->slots_end > 0 && !c->slots[c->slots_end - 1].in_use)
        c->slots_end--;
}

/* ---- sending ------------------------------------------------------------------------ */

/* Encodes and sends `req` on connection `ci`, registering an outstanding slot. */
static int send_on(struct wire_client *c, uint32_t ci, struct wire_frame *req, uint32_t timeout_ms,
                   void *user, uint64_t *correlation_id)
{
    if (req == NULL || wire_type_is_response(req->type) || !wire_type_known(req->type))
        return fail(c, WIRE_ERR_INVALID_REQUEST, "not a request type");
    if (c->in_flight >= c->config.in_flight_max)
        return fail(c, WIRE_ERR_LIMIT_EXCEEDED, "%u requests already in flight",
                    c->config.in_flight_max);
    struct client_slot *slot = NULL;
    for (uint32_t i = 0; i < c->config.in_flight_max; i++) {
        if (!c->slots[i].in_use) {
            slot = &c->slots[i];
            break;
        }
    }
    if (slot == NULL)
        return fail(c, WIRE_ERR_UNKNOWN, "in-flight count and slots disagree");

    req->version = WIRE_PROTOCOL_VERSION;
    req->correlation_id = c->next_correlation_id++;
    if (c->next_correlation_id == 0) /* 0 means "unreadable" in error responses */
        c->next_correlation_id = 1;
    struct wire_writer w;
    wire_writer_init(&w, c->send_buf, WIRE_FRAME_BYTES_MAX);
    int rc = wire_frame_encode(&w, req);
    if (rc != WIRE_OK)
        return fail(c, rc, "cannot encode %s: %s", wire_type_name(req->type), wire_strerror(rc));

    struct client_conn *conn = &c->conns[ci];
    uint32_t wait_ms = timeout_ms < c->config.connect_timeout_ms ? timeout_ms
                                                                  : c->config.connect_timeout_ms;
    int64_t send_deadline = deadline_after_ms(wait_ms);
    for (;;) {
        if (zmq_send(conn->socket, c->send_buf, w.len, ZMQ_DONTWAIT) >= 0)
            break;
        int e = zmq_errno();
        if (e == EINTR)
            continue;
        if (e != EAGAIN)
            return fail(c, WIRE_ERR_UNKNOWN, "send to %s: %s", conn->address, zmq_strerror(e));
        /* ZMQ_IMMEDIATE: EAGAIN while the connection is not up (or the HWM is full). */
        long left = ms_until(send_deadline);
        if (left <= 0) {
            c->last_not_sent = true;
            return fail(c, WIRE_ERR_TIMEOUT, "could not send to %s within %" PRIu32
                        " ms (broker down or not reachable?)", conn->address, wait_ms);
        }
        zmq_pollitem_t item = {conn->socket, 0, ZMQ_POLLOUT, 0};
        if (zmq_poll(&item, 1, left) < 0 && zmq_errno() != EINTR)
            return fail(c, WIRE_ERR_UNKNOWN, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    }
    slot->in_use = true;
    if ((uint32_t)(slot - c->slots) >= c->slots_end)
        c->slots_end = (uint32_t)(slot - c->slots) + 1;
    slot->connection_lost = false;
    slot->correlation_id = req->correlation_id;
    slot->conn = ci;
    slot->type = req->type;
    slot->deadline_ns = deadline_after_ms(timeout_ms);
    slot->user = user;
    c->in_flight++;
    if (correlation_id != NULL)
        *correlation_id = req->correlation_id;
    return WIRE_OK;
}

/* ---- receiving ---------------------------------------------------------------------- */

/*
 * Decodes one frame from buf into *f using the handle's arena, growing the
 * arena when it ran out (up to the size that always suffices).
 */
static int decode_frame(struct wire_client *c, const uint8_t *buf, size_t len,
                        struct wire_frame *f, size_t *consumed, char *why, size_t why_cap)
{
    for (;;) {
        wire_arena_init(&c->arena, c->arena_buf, c->arena_cap);
        int rc = wire_frame_decode(buf, len, &c->arena, f, consumed, why, why_cap);
        if (rc != WIRE_ERR_LIMIT_EXCEEDED || !c->arena.exhausted)
            return rc;
        size_t enough = (len < WIRE_FRAME_BYTES_MAX ? len : WIRE_FRAME_BYTES_MAX) *
                        WIRE_ARENA_BYTES_PER_INPUT_BYTE;
        if (c->arena_cap >= enough)
            return rc;
        size_t cap = c->arena_cap * 2 < enough ? c->arena_cap * 2 : enough;
        uint8_t *grown = realloc(c->arena_buf, cap);
        if (grown == NULL)
            return rc;
        c->arena_buf = grown;
        c->arena_cap = cap;
    }
}

static void close_in_msg(struct wire_client *c)
{
    if (c->in_msg_open) {
        zmq_msg_close(&c->in_msg);
        c->in_msg_open = false;
    }
}

/* Fills *out for slot s, completed with `status`, and frees the slot. */
static void complete(struct wire_client *c, struct client_slot *s, int status,
                     struct wire_client_reply *out)
{
    out->correlation_id = s->correlation_id;
    out->user = s->user;
    out->type = s->type;
    out->status = status;
    out->connection_lost = s->connection_lost;
    out->address = c->conns[s->conn].address;
    slot_release(c, s);
}

/* Hands out a response kept in a slot's stored copy. */
static void complete_stored(struct wire_client *c, struct client_slot *s,
                            struct wire_client_reply *out)
{
    c->handed_stored = s->stored;
    size_t len = s->stored_len;
    s->stored = NULL;
    size_t consumed;
    char why[160];
    memset(&out->frame, 0, sizeof(out->frame));
    int rc = decode_frame(c, c->handed_stored, len, &out->frame, &consumed, why, sizeof(why));
    if (rc != WIRE_OK)
        fail(c, rc, "response from %s does not decode: %s", c->conns[s->conn].address, why);
    complete(c, s, rc, out);
}

/* Reads the monitor's pending events; a disconnect fails the connection's outstanding requests. */
static void drain_monitor(struct wire_client *c, uint32_t ci)
{
    void *m = c->conns[ci].monitor;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, m, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&part) >= 2)
            memcpy(&event, zmq_msg_data(&part), sizeof(event));
        bool more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        while (more) { /* the endpoint part */
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, m, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                break;
            }
            more = zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
        if (event & ZMQ_EVENT_DISCONNECTED) {
            for (uint32_t i = 0; i < c->slots_end; i++) {
                struct client_slot *s = &c->slots[i];
                if (s->in_use && s->conn == ci && s->stored == NULL)
                    s->connection_lost = true;
            }
        }
    }
}

/*
 * The heart of both modes: returns the next completed request (want_id 0)
 * or the completion of want_id, waiting until `until`. Responses for other
 * outstanding ids met while waiting for want_id are copied into their slots.
 * Returns WIRE_OK with *out filled, or TIMEOUT when `until` passed first.
 */
static int next_completion(struct wire_client *c, uint64_t want_id, int64_t until,
                           struct wire_client_reply *out)
{
    /* Even a call with no time left looks at the sockets once (wait 0), so a
     * poll with wait 0 returns answers that have arrived. */
    bool polled = false;
    for (;;) {
        /* 1. Completions already known: a stored response or a lost connection. */
        for (uint32_t i = 0; i < c->slots_end; i++) {
            struct client_slot *s = &c->slots[i];
            if (!s->in_use || (want_id != 0 && s->correlation_id != want_id))
                continue;
            if (s->stored != NULL) {
                complete_stored(c, s, out);
                return WIRE_OK;
            }
            if (s->connection_lost) {
                memset(&out->frame, 0, sizeof(out->frame));
                fail(c, WIRE_ERR_TIMEOUT, "connection to %s lost; outcome unknown",
                     c->conns[s->conn].address);
                complete(c, s, WIRE_ERR_TIMEOUT, out);
                return WIRE_OK;
            }
        }
        /* 2. Frames left in the current message. */
        while (c->in_msg_open && c->in_pos < zmq_msg_size(&c->in_msg)) {
            const uint8_t *base = zmq_msg_data(&c->in_msg);
            size_t len = zmq_msg_size(&c->in_msg) - c->in_pos;
            struct wire_frame f;
            size_t consumed = 0;
            char why[160];
            memset(&f, 0, sizeof(f));
            int rc = decode_frame(c, base + c->in_pos, len, &f, &consumed, why, sizeof(why));
            struct client_slot *s = slot_find(c, f.correlation_id);
            if (rc != WIRE_OK) {
                /* The frame's end is unknown: the rest of the message is lost. */
                close_in_msg(c);
                if (s != NULL && (want_id == 0 || s->correlation_id == want_id)) {
                    out->frame = f;
                    fail(c, rc, "response does not decode: %s", why);
                    complete(c, s, rc, out);
                    return WIRE_OK;
                }
                break;
            }
            const uint8_t *frame_start = base + c->in_pos;
            c->in_pos += consumed;
            if (s == NULL || s->stored != NULL)
                continue; /* a late answer to a request that already timed out */
            if (f.type != (s->type | WIRE_RESPONSE_BIT) && f.error == WIRE_OK) {
                out->frame = f;
                fail(c, WIRE_ERR_BAD_VALUE, "response type %s to a %s request",
                     wire_type_name(f.type), wire_type_name(s->type));
                complete(c, s, WIRE_ERR_BAD_VALUE, out);
                return WIRE_OK;
            }
            if (want_id != 0 && s->correlation_id != want_id) {
                s->stored = malloc(consumed);
                if (s->stored != NULL) {
                    memcpy(s->stored, frame_start, consumed);
                    s->stored_len = consumed;
                }
                continue;
            }
            out->frame = f;
            complete(c, s, WIRE_OK, out);
            return WIRE_OK;
        }
        close_in_msg(c);

        /* 3. Deadlines. */
        int64_t now = wire_mono_ns();
        int64_t nearest = until;
        for (uint32_t i = 0; i < c->slots_end; i++) {
            struct client_slot *s = &c->slots[i];
            if (!s->in_use || (want_id != 0 && s->correlation_id != want_id))
                continue;
            if (s->deadline_ns <= now) {
                memset(&out->frame, 0, sizeof(out->frame));
                fail(c, WIRE_ERR_TIMEOUT, "no answer from %s in time; outcome unknown",
                     c->conns[s->conn].address);
                complete(c, s, WIRE_ERR_TIMEOUT, out);
                return WIRE_OK;
            }
            if (s->deadline_ns < nearest)
                nearest = s->deadline_ns;
        }
        if (now >= until && polled)
            return WIRE_ERR_TIMEOUT;

        /* 4. Wait for a message or a monitor event. */
        zmq_pollitem_t items[2 * WIRE_CLIENT_CONNECTIONS_MAX];
        uint32_t owner[2 * WIRE_CLIENT_CONNECTIONS_MAX];
        int n = 0;
        for (uint32_t k = 0; k < c->conn_count; k++) {
            uint32_t i = (c->poll_cursor + k) % c->conn_count;
            items[n] = (zmq_pollitem_t){c->conns[i].socket, 0, ZMQ_POLLIN, 0};
            owner[n++] = i;
            if (c->conns[i].monitor != NULL) {
                items[n] = (zmq_pollitem_t){c->conns[i].monitor, 0, ZMQ_POLLIN, 0};
                owner[n++] = i;
            }
        }
        c->poll_cursor++;
        long wait = now >= until ? 0 : ms_until(nearest);
        polled = true;
        if (n == 0) {
            wire_sleep_ms(wait);
            continue;
        }
        int ready = zmq_poll(items, n, wait);
        if (ready < 0) {
            if (zmq_errno() == EINTR)
                continue;
            return fail(c, WIRE_ERR_UNKNOWN, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        }
        for (int k = 0; k < n; k++) {
            if (!(items[k].revents & ZMQ_POLLIN))
                continue;
            if (items[k].socket == c->conns[owner[k]].monitor) {
                drain_monitor(c, owner[k]);
                continue;
            }
            if (c->in_msg_open)
                continue; /* one message at a time; the rest stay queued */
            zmq_msg_init(&c->in_msg);
            if (zmq_msg_recv(&c->in_msg, items[k].socket, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&c->in_msg);
                continue;
            }
            c->in_msg_open = true;
            c->in_pos = 0;
        }
    }
}

/* ---- public: pipelined ------------------------------------------------------------ */

int wire_client_send(struct wire_client *c, const char *address, struct wire_frame *req,
                     uint32_t timeout_ms, void *user, uint64_t *correlation_id)
{
    begin_call(c);
    uint32_t ci;
    int rc = conn_get(c, address, &ci);
    if (rc != WIRE_OK)
        return rc;
    return send_on(c, ci, req, timeout_ms, user, correlation_id);
}

int wire_client_poll(struct wire_client *c, uint32_t wait_ms, struct wire_client_reply *reply)
{
    begin_call(c);
    return next_completion(c, 0, deadline_after_ms(wait_ms), reply);
}

uint32_t wire_client_abandon(struct wire_client *c, const void *user)
{
    if (user == NULL)
        return 0;
    uint32_t abandoned = 0;
    /* slot_release may lower slots_end below i: the loop condition is read each time. */
    for (uint32_t i = 0; i < c->slots_end; i++) {
        struct client_slot *s = &c->slots[i];
        if (s->in_use && s->user == user && s->stored == NULL) {
            slot_release(c, s);
            abandoned++;
        }
    }
    return abandoned;
}

/* ---- metadata cache ---------------------------------------------------------------- */

static struct client_topic *topic_find(const struct wire_client *c, const char *name)
{
    for (uint32_t i = 0; i < c->topic_count; i++) {
        if (strcmp(c->topics[i].name, name) == 0)
            return &c->topics[i];
    }
    return NULL;
}

static void topic_remove(struct wire_client *c, struct client_topic *t)
{
    free(t->name);
    free(t->partitions);
    *t = c->topics[c->topic_count - 1];
    c->topic_count--;
}

static const char *broker_address(const struct wire_client *c, uint32_t node_id)
{
    for (uint32_t i = 0; i < c->broker_count; i++) {
        if (c->brokers[i].node_id == node_id)
            return c->brokers[i].address;
    }
    return NULL;
}

const char *wire_client_broker_address(const struct wire_client *c, uint32_t node_id)
{
    return node_id == 0 ? NULL : broker_address(c, node_id);
}

uint32_t wire_client_broker_count(const struct wire_client *c)
{
    return c->broker_count;
}

uint32_t wire_client_controller(const struct wire_client *c)
{
    return c->controller_id;
}

/* Records that node_id listens at address (from a NOT_LEADER detail). */
static void broker_learn(struct wire_client *c, uint32_t node_id, struct wire_bytes address)
{
    if (node_id == 0 || address.len == 0 || address.len > WIRE_STRING_BYTES_MAX)
        return;
    for (uint32_t i = 0; i < c->broker_count; i++) {
        if (c->brokers[i].node_id == node_id) {
            if (bytes_equal_cstr(address, c->brokers[i].address))
                return;
            char *copy = dup_bytes(address);
            if (copy != NULL) {
                free(c->brokers[i].address);
                c->brokers[i].address = copy;
            }
            return;
        }
    }
    if (c->broker_count >= WIRE_CLIENT_CONNECTIONS_MAX)
        return;
    struct client_broker *grown = realloc(c->brokers, (c->broker_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return;
    c->brokers = grown;
    char *copy = dup_bytes(address);
    if (copy == NULL)
        return;
    c->brokers[c->broker_count].node_id = node_id;
    c->brokers[c->broker_count].address = copy;
    c->broker_count++;
}

int wire_client_apply_metadata(struct wire_client *c, const struct wire_metadata_resp *m)
{
    /* Brokers: the answer's list replaces ours (it is every configured node). */
    if (m->brokers.count > 0) {
        uint32_t n = m->brokers.count < WIRE_CLIENT_CONNECTIONS_MAX ? m->brokers.count
                                                                    : WIRE_CLIENT_CONNECTIONS_MAX;
        struct client_broker *fresh = calloc(n, sizeof(*fresh));
        if (fresh == NULL)
            return fail(c, WIRE_ERR_UNKNOWN, "out of memory");
        uint32_t kept = 0;
        for (uint32_t i = 0; i < n; i++) {
            const struct wire_broker *b = &m->brokers.items[i];
            if (b->node_id == 0 || b->client_address.len == 0)
                continue;
            fresh[kept].node_id = b->node_id;
            fresh[kept].address = dup_bytes(b->client_address);
            if (fresh[kept].address == NULL) {
                for (uint32_t j = 0; j < kept; j++)
                    free(fresh[j].address);
                free(fresh);
                return fail(c, WIRE_ERR_UNKNOWN, "out of memory");
            }
            kept++;
        }
        cache_clear_brokers(c);
        c->brokers = fresh;
        c->broker_count = kept;
    }
    c->controller_id = m->controller_id;

    for (uint32_t i = 0; i < m->topics.count; i++) {
        const struct wire_topic_meta *tm = &m->topics.items[i];
        char *name = dup_bytes(tm->name);
        if (name == NULL)
            return fail(c, WIRE_ERR_UNKNOWN, "out of memory");
        struct client_topic *t = topic_find(c, name);
        if (tm->error != WIRE_OK || tm->partitions.count == 0) {
            if (t != NULL)
                topic_remove(c, t);
            free(name);
            continue;
        }
        /* Partition numbers index the array; the highest one sizes it. */
        uint32_t count = 0;
        for (uint32_t k = 0; k < tm->partitions.count; k++) {
            uint32_t p = tm->partitions.items[k].partition;
            if (p < WIRE_PARTITIONS_MAX && p + 1 > count)
                count = p + 1;
        }
        if (t != NULL && t->partition_count != count) {
            topic_remove(c, t);
            t = NULL;
        }
        if (t == NULL) {
            if (c->topic_count >= WIRE_CLIENT_TOPICS_MAX) {
                free(name);
                continue;
            }
            struct client_topic *grown =
                realloc(c->topics, (c->topic_count + 1) * sizeof(*grown));
            struct client_partition *parts = calloc(count, sizeof(*parts));
            if (grown != NULL)
                c->topics = grown;
            if (grown == NULL || parts == NULL) {
                free(parts);
                free(name);
                return fail(c, WIRE_ERR_UNKNOWN, "out of memory");
            }
            t = &c->topics[c->topic_count++];
            t->name = name;
            name = NULL;
            t->partition_count = count;
            t->partitions = parts;
        }
        free(name);
        for (uint32_t k = 0; k < tm->partitions.count; k++) {
            const struct wire_partition_meta *pm = &tm->partitions.items[k];
            if (pm->partition >= t->partition_count)
                continue;
            struct client_partition *cp = &t->partitions[pm->partition];
            /* The newer term wins: a lagging broker must not undo what we know. */
            if (pm->leader_term >= cp->leader_term) {
                cp->leader_term = pm->leader_term;
                cp->leader_id = pm->leader_id;
            }
        }
    }
    return WIRE_OK;
}

int wire_client_partition_count(const struct wire_client *c, const char *topic, uint32_t *count)
{
    const struct client_topic *t = topic_find(c, topic);
    *count = t != NULL ? t->partition_count : 0;
    return t != NULL ? WIRE_OK : WIRE_ERR_UNKNOWN_TOPIC;
}

int wire_client_leader(const struct wire_client *c, const char *topic, uint32_t partition,
                       uint32_t *node_id, const char **address)
{
    *node_id = 0;
    *address = NULL;
    const struct client_topic *t = topic_find(c, topic);
    if (t == NULL)
        return WIRE_ERR_UNKNOWN_TOPIC;
    if (partition >= t->partition_count)
        return WIRE_ERR_UNKNOWN_PARTITION;
    *node_id = t->partitions[partition].leader_id;
    if (*node_id == 0)
        return WIRE_ERR_LEADER_NOT_AVAILABLE;
    *address = broker_address(c, *node_id);
    return *address != NULL ? WIRE_OK : WIRE_ERR_LEADER_NOT_AVAILABLE;
}

uint32_t wire_client_leaderless(const struct wire_client *c, const char *topic, uint32_t partitions)
{
    uint32_t count = 0;
    if (wire_client_partition_count(c, topic, &count) != WIRE_OK || count != partitions)
        return partitions;
    uint32_t leaderless = 0;
    for (uint32_t p = 0; p < count; p++) {
        uint32_t node;
        const char *address;
        if (wire_client_leader(c, topic, p, &node, &address) != WIRE_OK)
            leaderless++;
    }
    return leaderless;
}

void wire_client_forget_leader(struct wire_client *c, const char *topic, uint32_t partition)
{
    struct client_topic *t = topic_find(c, topic);
    if (t != NULL && partition < t->partition_count)
        t->partitions[partition].leader_id = 0;
}

void wire_client_note_not_leader(struct wire_client *c, const char *topic, uint32_t partition,
                                 const struct wire_frame *resp)
{
    if (resp == NULL || resp->error != WIRE_ERR_NOT_LEADER)
        return;
    const struct wire_not_leader_detail *d = &resp->body.not_leader_detail;
    struct client_topic *t = topic_find(c, topic);
    if (t == NULL || partition >= t->partition_count)
        return;
    struct client_partition *cp = &t->partitions[partition];
    if (d->leader_id == 0 || d->leader_address.len == 0) {
        cp->leader_id = 0;
        return;
    }
    broker_learn(c, d->leader_id, d->leader_address);
    /* The term is not in the detail: keep ours, so the next METADATA with a
     * newer term still replaces this. */
    cp->leader_id = d->leader_id;
}

/* ---- routing ---------------------------------------------------------------------------- */

/* Topic and partition of a partition-routed request; false for other types. */
static bool request_partition(const struct wire_frame *req, struct wire_bytes *topic,
                              uint32_t *partition)
{
    switch (req->type) {
    case WIRE_PRODUCE:
        *topic = req->body.produce_req.topic;
        *partition = req->body.produce_req.partition;
        return true;
    case WIRE_FETCH:
        *topic = req->body.fetch_req.topic;
        *partition = req->body.fetch_req.partition;
        return true;
    case WIRE_LIST_OFFSETS:
        *topic = req->body.list_offsets_req.topic;
        *partition = req->body.list_offsets_req.partition;
        return true;
    default:
        return false;
    }
}

static bool request_to_controller(uint32_t type)
{
    /* The controller is every group's coordinator (docs/protocol.md, "Consumer groups"). */
    return type == WIRE_CREATE_TOPIC || type == WIRE_DELETE_TOPIC ||
           type == WIRE_INIT_PRODUCER_ID || wire_type_is_group_request(type);
}

/* The next address to try for a request any broker answers (round robin). */
static const char *any_address(struct wire_client *c)
{
    uint32_t total = c->bootstrap_count + c->broker_count;
    uint32_t i = c->any_cursor++ % total;
    return i < c->broker_count ? c->brokers[i].address : c->bootstrap[i - c->broker_count];
}

/*
 * Where a request goes according to the cache: *address NULL for "any
 * broker". LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC or UNKNOWN_PARTITION when the
 * cache cannot tell.
 */
static int route(struct wire_client *c, const struct wire_frame *req, char *topic_buf,
                 const char **address)
{
    *address = NULL;
    struct wire_bytes topic;
    uint32_t partition;
    if (request_partition(req, &topic, &partition)) {
        if (topic.len == 0 || topic.len > WIRE_STRING_BYTES_MAX)
            return fail(c, WIRE_ERR_INVALID_REQUEST, "request without a topic");
        memcpy(topic_buf, topic.ptr, topic.len);
        topic_buf[topic.len] = '\0';
        uint32_t node;
        int rc = wire_client_leader(c, topic_buf, partition, &node, address);
        if (rc != WIRE_OK)
            return fail(c, rc, "%s/%" PRIu32 ": %s", topic_buf, partition, wire_strerror(rc));
        return WIRE_OK;
    }
    if (request_to_controller(req->type)) {
        *address = broker_address(c, c->controller_id);
        if (c->controller_id == 0 || *address == NULL)
            return fail(c, WIRE_ERR_LEADER_NOT_AVAILABLE, "no controller known");
        return WIRE_OK;
    }
    if (req->type == WIRE_METADATA || req->type == WIRE_CLUSTER_STATUS)
        return WIRE_OK;
    return fail(c, WIRE_ERR_INVALID_REQUEST, "%s cannot be routed", wire_type_name(req->type));
}

int wire_client_send_routed(struct wire_client *c, struct wire_frame *req, uint32_t timeout_ms,
                            void *user, uint64_t *correlation_id)
{
    begin_call(c);
    if (req == NULL)
        return fail(c, WIRE_ERR_INVALID_REQUEST, "no request");
    char topic[WIRE_STRING_BYTES_MAX + 1];
    const char *address;
    int rc = route(c, req, topic, &address);
    if (rc != WIRE_OK)
        return rc;
    if (address == NULL)
        address = any_address(c);
    uint32_t ci;
    rc = conn_get(c, address, &ci);
    if (rc != WIRE_OK)
        return rc;
    return send_on(c, ci, req, timeout_ms, user, correlation_id);
}

/* ---- public: blocking ---------------------------------------------------------------- */

/* One attempt: send, then wait for this request only, until `deadline`. */
static int call_once(struct wire_client *c, const char *address, struct wire_frame *req,
                     int64_t deadline, struct wire_frame *resp)
{
    c->last_not_sent = false;
    long left = ms_until(deadline);
    if (left <= 0)
        return fail(c, WIRE_ERR_TIMEOUT, "deadline passed before the request was sent");
    uint32_t ci;
    int rc = conn_get(c, address, &ci);
    if (rc != WIRE_OK)
        return rc;
    uint64_t id;
    rc = send_on(c, ci, req, (uint32_t)left, NULL, &id);
    if (rc != WIRE_OK)
        return rc;
    struct wire_client_reply reply;
    rc = next_completion(c, id, deadline, &reply);
    if (rc != WIRE_OK) {
        /* Cannot happen: the slot's own deadline is `deadline`. Free it anyway. */
        struct client_slot *s = slot_find(c, id);
        if (s != NULL)
            slot_release(c, s);
        return fail(c, WIRE_ERR_TIMEOUT, "no answer from %s in time; outcome unknown", address);
    }
    if (reply.status != WIRE_OK)
        return reply.status; /* fail() already said why */
    *resp = reply.frame;
    return WIRE_OK;
}

int wire_client_call(struct wire_client *c, const char *address, struct wire_frame *req,
                     uint32_t timeout_ms, struct wire_frame *resp)
{
    begin_call(c);
    if (req == NULL || resp == NULL)
        return fail(c, WIRE_ERR_INVALID_REQUEST, "no request or response");
    if (address == NULL)
        address = any_address(c);
    return call_once(c, address, req, deadline_after_ms(timeout_ms), resp);
}

static int refresh_until(struct wire_client *c, const char *topic, int64_t deadline)
{
    struct wire_frame req;
    memset(&req, 0, sizeof(req));
    req.type = WIRE_METADATA;
    struct wire_bytes name;
    if (topic != NULL) {
        name.ptr = (const uint8_t *)topic;
        name.len = (uint32_t)strlen(topic);
        req.body.metadata_req.topics.count = 1;
        req.body.metadata_req.topics.items = &name;
    }
    char last[CLIENT_ERROR_BYTES] = "no broker tried";
    for (unsigned attempt = 0;; attempt++) {
        /* One pass over every known address, then back off. */
        uint32_t total = c->bootstrap_count + c->broker_count;
        for (uint32_t k = 0; k < total; k++) {
            long left = ms_until(deadline);
            if (left <= 0)
                return fail(c, WIRE_ERR_TIMEOUT, "no broker answered METADATA in time (%s)", last);
            if ((uint32_t)left > c->config.attempt_timeout_ms)
                left = c->config.attempt_timeout_ms;
            const char *address = any_address(c);
            struct wire_frame resp;
            int rc = call_once(c, address, &req, deadline_after_ms((uint32_t)left), &resp);
            if (rc == WIRE_OK && resp.error == WIRE_OK)
                return wire_client_apply_metadata(c, &resp.body.metadata_resp);
            if (rc == WIRE_OK)
                snprintf(last, sizeof(last), "%s: %s", address, wire_err_name((int)resp.error));
            else
                snprintf(last, sizeof(last), "%s", c->error);
            total = c->bootstrap_count + c->broker_count; /* never grows inside a failed pass */
        }
        if (ms_until(deadline) <= 0)
            return fail(c, WIRE_ERR_TIMEOUT, "no broker answered METADATA in time (%s)", last);
        backoff(c, attempt, deadline);
    }
}

int wire_client_refresh_metadata(struct wire_client *c, const char *topic, uint32_t timeout_ms)
{
    begin_call(c);
    if (topic != NULL && (topic[0] == '\0' || strlen(topic) > WIRE_STRING_BYTES_MAX))
        return fail(c, WIRE_ERR_INVALID_REQUEST, "bad topic name");
    return refresh_until(c, topic, deadline_after_ms(timeout_ms));
}

bool wire_client_error_is_transient(uint32_t error)
{
    switch (error) {
    case WIRE_ERR_NOT_LEADER:
    case WIRE_ERR_LEADER_NOT_AVAILABLE:
    case WIRE_ERR_NOT_ENOUGH_REPLICAS:
    case WIRE_ERR_BACKPRESSURE:
    case WIRE_ERR_SHUTTING_DOWN:
    case WIRE_ERR_TIMEOUT:
        return true;
    default:
        return false;
    }
}

int wire_client_request(struct wire_client *c, struct wire_frame *req, uint32_t timeout_ms,
                        unsigned flags, struct wire_frame *resp)
{
    begin_call(c);
    if (req == NULL || resp == NULL)
        return fail(c, WIRE_ERR_INVALID_REQUEST, "no request or response");
    int64_t deadline = deadline_after_ms(timeout_ms);
    bool unknown_is_final = req->type == WIRE_PRODUCE && !(flags & WIRE_CLIENT_RETRY_UNKNOWN);
    struct wire_bytes topic_bytes = {NULL, 0};
    uint32_t partition = 0;
    bool by_partition = request_partition(req, &topic_bytes, &partition);
    char topic[WIRE_STRING_BYTES_MAX + 1] = "";
    char last[CLIENT_ERROR_BYTES] = "";
    unsigned attempt = 0;
    /* A NOT_LEADER that names the leader is followed at once, a few times
     * per request; past that (brokers with stale views naming each other)
     * the backoff grows as for any other retry. */
    unsigned redirects_left = 3;
    bool skip_backoff = false;
    /* A broker that has not applied a new topic yet says UNKNOWN_TOPIC:
     * believe it only once the cluster has said so for a while. */
    int64_t unknown_since = -1;
    for (;; attempt++) {
        if (attempt > 0 && !skip_backoff)
            backoff(c, attempt - 1, deadline);
        skip_backoff = false;
        if (ms_until(deadline) <= 0)
            return fail(c, WIRE_ERR_TIMEOUT, "%s: deadline passed after %u attempts (last: %s)",
                        wire_type_name(req->type), attempt, last[0] ? last : "none");
        const char *address;
        int rc = route(c, req, topic, &address);
        if (rc == WIRE_ERR_UNKNOWN_TOPIC || rc == WIRE_ERR_UNKNOWN_PARTITION ||
            rc == WIRE_ERR_LEADER_NOT_AVAILABLE) {
            snprintf(last, sizeof(last), "%s", c->error);
            /* The cache cannot route it: ask the cluster, then route again. */
            rc = refresh_until(c, by_partition ? topic : NULL, deadline);
            if (rc != WIRE_OK) {
                snprintf(last, sizeof(last), "%s", c->error);
                continue;
            }
            rc = route(c, req, topic, &address);
            if (rc == WIRE_ERR_UNKNOWN_TOPIC || rc == WIRE_ERR_UNKNOWN_PARTITION) {
                /* The cluster says so too: final, unless it is news. */
                int64_t now = wire_mono_ns() / 1000000;
                if (unknown_since < 0)
                    unknown_since = now;
                if (now - unknown_since >= CLIENT_UNKNOWN_TOPIC_GRACE_MS)
                    return rc;
                snprintf(last, sizeof(last), "%s", c->error);
                continue;
            }
            if (rc != WIRE_OK) {
                snprintf(last, sizeof(last), "%s", c->error);
                continue;
            }
        } else if (rc != WIRE_OK) {
            return rc;
        }
        if (address == NULL)
            address = any_address(c);
        rc = call_once(c, address, req, deadline, resp);
        if (rc == WIRE_ERR_TIMEOUT) {
            snprintf(last, sizeof(last), "%s", c->error);
            /* The broker it went to may be dead: route by fresh metadata next time. */
            if (by_partition)
                wire_client_forget_leader(c, topic, partition);
            else if (request_to_controller(req->type))
                c->controller_id = 0;
            if (unknown_is_final && !c->last_not_sent)
                return rc;
            continue;
        }
        if (rc != WIRE_OK)
            return rc;
        if (!wire_client_error_is_transient(resp->error))
            return WIRE_OK;
        if (resp->error == WIRE_ERR_TIMEOUT && unknown_is_final)
            return WIRE_OK;
        snprintf(last, sizeof(last), "%s from %s: %.*s", wire_err_name((int)resp->error), address,
                 (int)(resp->error_message.len < 200 ? resp->error_message.len : 200),
                 (const char *)resp->error_message.ptr);
        if (resp->error == WIRE_ERR_NOT_LEADER) {
            const struct wire_not_leader_detail *d = &resp->body.not_leader_detail;
            if (by_partition) {
                wire_client_note_not_leader(c, topic, partition, resp);
            } else if (request_to_controller(req->type)) {
                broker_learn(c, d->leader_id, d->leader_address);
                c->controller_id = d->leader_id;
            }
            /* A named leader is worth trying at once. */
            if (d->leader_id != 0 && d->leader_address.len != 0 && redirects_left > 0) {
                redirects_left--;
                skip_backoff = true;
            }
        } else if (by_partition && resp->error == WIRE_ERR_SHUTTING_DOWN) {
            wire_client_forget_leader(c, topic, partition);
        }
    }
}
