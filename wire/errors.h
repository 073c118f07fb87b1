/* Error codes of the raftmq protocol: one enum for every library, sent on the wire as-is. */
#ifndef RAFTMQ_WIRE_ERRORS_H
#define RAFTMQ_WIRE_ERRORS_H

/*
 * X(NAME, code, text). The numbers are part of the protocol (docs/protocol.md):
 * never renumber or reuse one; add new codes at the end of their range.
 * The ranges say where a code was introduced, not who may return it (a
 * batch decoder answers LIMIT_EXCEEDED for too many headers, too):
 *
 *   0        success
 *   1..19    general and decoding problems (the frame or value is rejected)
 *   20..59   request-level problems (the frame was understood, the request refused)
 *   60..999  record-batch problems
 *   1000..   raised by the client library itself (wire/raftmq.h), never sent on the wire
 *
 * Functions of wire/ return int: 0 (WIRE_OK) on success, otherwise one of these.
 */
#define WIRE_ERRORS(X)                                                                     \
    X(OK, 0, "success")                                                                    \
    X(UNKNOWN, 1, "unexpected server error")                                               \
    X(TRUNCATED, 2, "input ends before the value it announced")                            \
    X(BAD_TYPE, 3, "a field has the wrong msgpack type")                                   \
    X(BAD_VALUE, 4, "a field's value is outside its allowed range")                        \
    X(LIMIT_EXCEEDED, 5, "a length or count exceeds its limit")                            \
    X(TOO_DEEP, 6, "msgpack nesting is too deep")                                          \
    X(UNSUPPORTED_VERSION, 7, "unsupported protocol version")                              \
    X(UNKNOWN_TYPE, 8, "unknown frame type")                                               \
    X(FRAME_TOO_LARGE, 9, "frame exceeds the maximum frame size")                          \
    X(BUFFER_FULL, 10, "output buffer too small")                                          \
    X(INVALID_REQUEST, 20, "invalid request")                                              \
    X(NOT_LEADER, 21, "this broker is not the partition leader")                           \
    X(LEADER_NOT_AVAILABLE, 22, "the partition has no leader at the moment")               \
    X(UNKNOWN_TOPIC, 23, "unknown topic")                                                  \
    X(UNKNOWN_PARTITION, 24, "unknown partition")                                          \
    X(TOPIC_EXISTS, 25, "topic already exists")                                            \
    X(INVALID_TOPIC_NAME, 26, "invalid topic name")                                        \
    X(INVALID_PARTITIONS, 27, "invalid partition count")                                   \
    X(INVALID_REPLICATION_FACTOR, 28, "invalid replication factor")                        \
    X(OFFSET_OUT_OF_RANGE, 29, "offset out of range")                                      \
    X(TIMEOUT, 30, "request timed out; its outcome is unknown")                            \
    X(NOT_ENOUGH_REPLICAS, 31, "not enough replicas available")                            \
    X(BACKPRESSURE, 32, "too much uncommitted data; retry later")                          \
    X(DUPLICATE_SEQUENCE, 33, "duplicate producer sequence")                               \
    X(OUT_OF_ORDER_SEQUENCE, 34, "out-of-order producer sequence")                         \
    X(UNKNOWN_PRODUCER, 35, "unknown producer id")                                         \
    X(UNAUTHORIZED, 36, "not authorized")                                                  \
    X(STORAGE_ERROR, 37, "storage error")                                                  \
    X(SHUTTING_DOWN, 38, "broker is shutting down")                                        \
    X(UNKNOWN_MEMBER, 39, "the group does not know this member; join again")               \
    X(ILLEGAL_GENERATION, 40, "stale group generation, or a partition not owned in it")    \
    X(GROUP_NOT_EMPTY, 41, "the group has active members")                                 \
    X(OFFSET_BACKWARDS, 42, "the commit would move a committed offset backwards")          \
    X(CORRUPT_BATCH, 60, "record batch is corrupt (bad CRC or framing)")                   \
    X(UNSUPPORTED_CODEC, 61, "unsupported compression codec")                              \
    X(BATCH_TOO_LARGE, 62, "record batch exceeds the maximum batch size")                  \
    X(RECORD_TOO_LARGE, 63, "record exceeds the maximum record size")                     \
    X(QUEUE_FULL, 1000, "producer buffer is full; poll, then send again")                  \
    X(NO_RECORD, 1001, "no record arrived within the timeout")                             \
    X(CLOSED, 1002, "the handle was closed before the record was delivered")               \
    X(NOT_ASSIGNED, 1003, "the partition is not assigned to this consumer")

enum wire_err {
#define WIRE_ERR_ENUM_(name, code, text) WIRE_ERR_##name = code,
    WIRE_ERRORS(WIRE_ERR_ENUM_)
#undef WIRE_ERR_ENUM_
};

#define WIRE_OK WIRE_ERR_OK

/* A sentence describing `code`; never NULL, also for codes this build does not know. */
const char *wire_strerror(int code);

/* The code's symbolic name without prefix ("NOT_LEADER"), or "UNRECOGNIZED". */
const char *wire_err_name(int code);

/* True when `code` is one this build defines. */
int wire_err_known(int code);

#endif
