/* The client-side connection core shared by producers and consumers: connections, correlation, routing, metadata. */
#ifndef RAFTMQ_WIRE_CLIENT_H
#define RAFTMQ_WIRE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "frame.h"

/*
 * What it does (docs/protocol.md, "Writing a client"):
 *
 * - One ZeroMQ DEALER per broker address, connected on first use, with
 *   ZMQ_LINGER 0 (closing never waits for a dead broker), ZMQ_IMMEDIATE 1
 *   (a request is only queued once the connection is up, so a send to a
 *   dead broker fails within its deadline instead of sitting in a queue),
 *   bounded high-water marks and ZMQ_MAXMSGSIZE = WIRE_MESSAGE_BYTES_MAX.
 *   A socket monitor reports dropped connections, so requests in flight on
 *   a connection that died fail at once instead of at their deadline.
 * - Correlation ids: one counter per handle, starting at 1, so an id is
 *   unique among all outstanding requests of the handle whatever broker
 *   they went to.
 * - A metadata cache (brokers, controller, topic -> partitions -> leader
 *   and term), filled from METADATA responses and from NOT_LEADER details.
 *   Between two METADATA answers for a partition the one with the newer
 *   leader_term wins (a lagging broker cannot move the cache backwards).
 * - Routing: PRODUCE, FETCH and LIST_OFFSETS go to the partition leader,
 *   CREATE_TOPIC, DELETE_TOPIC, INIT_PRODUCER_ID and the consumer-group
 *   requests (OFFSET_COMMIT ... DESCRIBE_GROUP) to the controller, METADATA and
 *   CLUSTER_STATUS to any broker.
 * - Every call has a deadline; nothing waits longer than the timeout it
 *   was given (plus scheduling noise).
 *
 * Two ways to talk:
 *
 * - Blocking: wire_client_call (one attempt at one broker) and
 *   wire_client_request (routed, with NOT_LEADER handling and bounded
 *   exponential backoff until the deadline).
 * - Pipelined: wire_client_send / wire_client_send_routed put a request on
 *   the wire and return; wire_client_poll hands back the next completed
 *   request (a response, a timeout or a lost connection) in whatever order
 *   they complete. At most config.in_flight_max requests are outstanding.
 *   The two may be mixed: a blocking call keeps the responses to pipelined
 *   requests that arrive while it waits, and poll returns them later.
 *
 * Errors: every function returning int returns WIRE_OK or a wire error
 * code (wire/errors.h); wire_client_error() then has a one-line message
 * saying what failed. Codes used by the client itself:
 *   INVALID_REQUEST   bad arguments (NULL, empty address list, type that cannot be routed)
 *   TIMEOUT           no answer before the deadline, or the connection could not
 *                     be made or was lost (the request's outcome is unknown)
 *   LIMIT_EXCEEDED    config.in_flight_max requests already outstanding, or too many connections
 *   LEADER_NOT_AVAILABLE  no leader (or controller) known for a routed send
 *   UNKNOWN_TOPIC, UNKNOWN_PARTITION  not in the metadata cache
 *   UNKNOWN           a ZeroMQ or allocation failure
 *   any encoder/decoder error of wire/frame.h for a request or response that does not encode/decode
 *
 * Ownership: the handle owns its sockets, buffers and cache. A response
 * frame returned by a call (its wire_bytes and arrays point into the
 * handle's receive buffer and arena) stays valid until the next call on
 * the handle other than the read-only accessors (wire_client_error,
 * wire_client_in_flight, wire_client_leader, wire_client_controller,
 * wire_client_partition_count, wire_client_broker_address). Request frames
 * are only read during the call (the caller keeps its batches); the client
 * sets their version and correlation_id.
 *
 * Threads: a handle is used by one thread at a time (it has no locks);
 * separate handles are independent and may run on separate threads.
 */

struct wire_client;

/* Bounds of the handle's tables. */
#define WIRE_CLIENT_CONNECTIONS_MAX 64u
#define WIRE_CLIENT_BOOTSTRAP_MAX 32u
#define WIRE_CLIENT_TOPICS_MAX 1024u
#define WIRE_CLIENT_IN_FLIGHT_MAX 4096u

struct wire_client_config {
    /* Comma-separated ZeroMQ endpoints, "tcp://127.0.0.1:9292,tcp://...". Required. */
    const char *bootstrap;
    /* One METADATA attempt at one broker during a refresh; 0: 1000. */
    uint32_t attempt_timeout_ms;
    /* How long a send waits for a connection to come up; 0: 1000. */
    uint32_t connect_timeout_ms;
    /* Backoff between retries: min doubles up to max; 0: 20 and 1000. */
    uint32_t backoff_ms_min;
    uint32_t backoff_ms_max;
    /* Outstanding requests per handle; 0: 256, at most WIRE_CLIENT_IN_FLIGHT_MAX. */
    uint32_t in_flight_max;
    /* ZeroMQ send and receive high-water marks (messages); 0: 1000. */
    int hwm;
};

/* Opens a handle; connects nothing yet. Errors: INVALID_REQUEST, UNKNOWN. */
int wire_client_open(const struct wire_client_config *config, struct wire_client **out);
/* Closes every socket (without lingering) and frees everything; NULL is fine. */
void wire_client_close(struct wire_client *c);

/* What the last failing call said; "" when none has failed. Valid until the next call. */
const char *wire_client_error(const struct wire_client *c);

/* ---- blocking ------------------------------------------------------------- */

/*
 * Sends `req` to the broker at `address` (NULL: the next known broker or
 * bootstrap address, round robin) and waits for its response. One attempt,
 * no retries. WIRE_OK: *resp holds the response, whose own error (resp->error)
 * the caller checks. TIMEOUT: no response in time (outcome unknown).
 */
int wire_client_call(struct wire_client *c, const char *address, struct wire_frame *req,
                     uint32_t timeout_ms, struct wire_frame *resp);

/* Retry a request whose outcome is unknown (a PRODUCE that got TIMEOUT or no answer). */
#define WIRE_CLIENT_RETRY_UNKNOWN 1u

/*
 * Routes `req` (see above), sends it and waits. Retries until the deadline:
 * NOT_LEADER (at the detail's address, else after a metadata refresh),
 * LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, BACKPRESSURE, SHUTTING_DOWN,
 * a lost connection and, except for a PRODUCE without
 * WIRE_CLIENT_RETRY_UNKNOWN, TIMEOUT and no answer, with bounded
 * exponential backoff. WIRE_OK: *resp holds the final response (success or a
 * non-retried error in resp->error). TIMEOUT: the deadline passed, or a
 * PRODUCE's outcome is unknown.
 */
int wire_client_request(struct wire_client *c, struct wire_frame *req, uint32_t timeout_ms,
                        unsigned flags, struct wire_frame *resp);

/*
 * The answers wire_client_request retries (docs/protocol.md, "Error codes"):
 * NOT_LEADER, LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, BACKPRESSURE,
 * SHUTTING_DOWN and TIMEOUT. Pipelined callers use it for the same decision.
 */
bool wire_client_error_is_transient(uint32_t error);

/* ---- pipelined ------------------------------------------------------------ */

/* A completed pipelined request, from wire_client_poll. */
struct wire_client_reply {
    uint64_t correlation_id;
    void *user;    /* as given to the send */
    uint32_t type; /* the request's type */
    /*
     * WIRE_OK: `frame` is the response (check frame.error).
     * TIMEOUT: no answer before the request's deadline, or its connection
     *   was lost (connection_lost): the outcome is unknown.
     * A decode error: the response did not decode (frame holds what could be read).
     */
    int status;
    bool connection_lost;
    const char *address; /* where the request went; valid while the handle lives */
    struct wire_frame frame;
};

/*
 * Sends `req` to `address` without waiting. The request times out
 * `timeout_ms` after the send. Waits at most config.connect_timeout_ms (and
 * at most timeout_ms) for the connection (TIMEOUT: not sent). *correlation_id
 * (if not NULL) receives the request's id.
 */
int wire_client_send(struct wire_client *c, const char *address, struct wire_frame *req,
                     uint32_t timeout_ms, void *user, uint64_t *correlation_id);

/*
 * The same, routed by the metadata cache only (no refresh, no wait for a
 * leader): LEADER_NOT_AVAILABLE when the cache has no leader or controller,
 * UNKNOWN_TOPIC / UNKNOWN_PARTITION when it does not know the partition.
 */
int wire_client_send_routed(struct wire_client *c, struct wire_frame *req, uint32_t timeout_ms,
                            void *user, uint64_t *correlation_id);

/*
 * Waits up to wait_ms for the next completed request and fills *reply.
 * WIRE_OK: *reply is filled (reply->frame valid until the next call).
 * TIMEOUT: nothing completed within wait_ms (no request was lost either).
 */
int wire_client_poll(struct wire_client *c, uint32_t wait_ms, struct wire_client_reply *reply);

/* Requests sent and not yet returned by a poll or call. */
uint32_t wire_client_in_flight(const struct wire_client *c);

/*
 * Gives up on every outstanding pipelined request sent with this `user`
 * pointer that has no answer yet (a stalled broker's): each leaves the
 * in-flight count at once and is never returned by a poll; an answer that
 * arrives for it later is discarded like one past its deadline. A request
 * whose answer has already been received (kept for a later poll) is not
 * abandoned: poll still returns it. O(requests in flight). Returns how many
 * were abandoned; 0 for user NULL (blocking calls send with NULL).
 */
uint32_t wire_client_abandon(struct wire_client *c, const void *user);

/* ---- metadata --------------------------------------------------------------- */

/*
 * Asks METADATA of the known brokers and bootstrap addresses in turn (each
 * attempt bounded by config.attempt_timeout_ms) until one answers, and
 * updates the cache. topic NULL: all topics. TIMEOUT when none answered.
 */
int wire_client_refresh_metadata(struct wire_client *c, const char *topic, uint32_t timeout_ms);

/* Applies a METADATA response to the cache (what a refresh does with the answer). */
int wire_client_apply_metadata(struct wire_client *c, const struct wire_metadata_resp *m);

/*
 * Applies a NOT_LEADER response for (topic, partition) to the cache: the
 * detail's leader and address when known, otherwise "no leader known". No-op
 * for any other response.
 */
void wire_client_note_not_leader(struct wire_client *c, const char *topic, uint32_t partition,
                                 const struct wire_frame *resp);

/* Forgets the leader of a partition (after a timeout or lost connection). */
void wire_client_forget_leader(struct wire_client *c, const char *topic, uint32_t partition);

/* Partitions of a cached topic. UNKNOWN_TOPIC when not cached. */
int wire_client_partition_count(const struct wire_client *c, const char *topic, uint32_t *count);

/*
 * The cached leader of a partition and its client address (valid until the
 * next refresh or apply). LEADER_NOT_AVAILABLE when leader_id is 0 or its
 * address unknown (*node_id still set), UNKNOWN_TOPIC, UNKNOWN_PARTITION.
 */
int wire_client_leader(const struct wire_client *c, const char *topic, uint32_t partition,
                       uint32_t *node_id, const char **address);

/*
 * How many of a topic's partitions the cache knows no usable leader for;
 * all `partitions` when the cache does not hold the topic with exactly that
 * many partitions (what "created and ready" waits for).
 */
uint32_t wire_client_leaderless(const struct wire_client *c, const char *topic, uint32_t partitions);

/* The cached controller's node id, 0 if none. */
uint32_t wire_client_controller(const struct wire_client *c);

/* The client address of a cached broker, NULL if unknown. Valid until the next refresh. */
const char *wire_client_broker_address(const struct wire_client *c, uint32_t node_id);

/* Brokers in the cache (the last METADATA's list). */
uint32_t wire_client_broker_count(const struct wire_client *c);

/*
 * Splits a comma-separated endpoint list into out[0..*count), each a
 * NUL-terminated copy of at most WIRE_STRING_BYTES_MAX bytes. Skips empty items and
 * surrounding spaces. INVALID_REQUEST: an item longer than that, more
 * than max items, or none at all.
 */
int wire_client_split_endpoints(const char *list, char (*out)[WIRE_STRING_BYTES_MAX + 1],
                                uint32_t max, uint32_t *count);

#endif
