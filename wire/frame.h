/* raftmq frames: the envelope shared by client and peer traffic, and its encoder and decoder. */
#ifndef RAFTMQ_WIRE_FRAME_H
#define RAFTMQ_WIRE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "limits.h"
#include "mp.h"
#include "schema.h"

/*
 * A frame is one msgpack array (docs/protocol.md, "Frames"):
 *
 *   request  [version, type, correlation_id, body]
 *   response [version, type | 0x80, correlation_id, error, error_message, body]
 *
 * Elements 0..2 mean the same in every protocol version, so a receiver can
 * answer a frame of a version it does not speak with the right correlation
 * id. One ZeroMQ message carries one or more frames back to back.
 */

#define WIRE_RESPONSE_BIT 0x80u

enum wire_type {
#define WIRE_TYPE_ENUM_(name, number, req, resp) \
    WIRE_##name = number, WIRE_##name##_RESP = (number) | WIRE_RESPONSE_BIT,
    WIRE_MESSAGES(WIRE_TYPE_ENUM_)
#undef WIRE_TYPE_ENUM_
};

/* Arrays inside decoded frames. `items` live in the decode arena. */
struct wire_u32_array {
    uint32_t count;
    uint32_t *items;
};
struct wire_bytes_array {
    uint32_t count;
    struct wire_bytes *items;
};

/* A body with no fields. */
struct wire_empty {
    char unused_;
};

/* One struct per schema entry: struct wire_broker, struct wire_produce_req, ... */
#define WIRE_FIELD_DECL_U32(name, arg) uint32_t name;
#define WIRE_FIELD_DECL_U64(name, arg) uint64_t name;
#define WIRE_FIELD_DECL_I64(name, arg) int64_t name;
#define WIRE_FIELD_DECL_BOOL(name, arg) bool name;
#define WIRE_FIELD_DECL_STR(name, arg) struct wire_bytes name;
#define WIRE_FIELD_DECL_BIN(name, arg) struct wire_bytes name;
#define WIRE_FIELD_DECL_U32S(name, arg) struct wire_u32_array name;
#define WIRE_FIELD_DECL_STRS(name, arg) struct wire_bytes_array name;
#define WIRE_FIELD_DECL_BINS(name, arg) struct wire_bytes_array name;
#define WIRE_FIELD_DECL_ARRAY(name, elem) \
    struct {                              \
        uint32_t count;                   \
        struct wire_##elem *items;        \
    } name;
#define WIRE_FIELD_DECL_(kind, name, arg) WIRE_FIELD_DECL_##kind(name, arg)
#define WIRE_STRUCT_DECL_(sname, LIST) \
    struct wire_##sname {              \
        LIST##_FIELDS(WIRE_FIELD_DECL_)\
    };
WIRE_STRUCTS(WIRE_STRUCT_DECL_)
#undef WIRE_STRUCT_DECL_

/*
 * A decoded or to-be-encoded frame. For a request, `body` holds the member
 * named after its request struct (body.produce_req for WIRE_PRODUCE); for a
 * successful response, the member named after its response struct; for a
 * failed response, the error's detail struct if it has one (body.not_leader_detail),
 * otherwise nothing.
 *
 * Ownership: every wire_bytes in a decoded frame points into the buffer that
 * was decoded, and every array into the arena: both must outlive the frame.
 */
struct wire_frame {
    uint32_t version;
    uint32_t type; /* enum wire_type */
    uint64_t correlation_id;
    uint32_t error;                   /* responses only; enum wire_err */
    struct wire_bytes error_message;  /* responses only; may be empty */
    union {
        struct wire_empty empty;
#define WIRE_BODY_MEMBER_(sname, LIST) struct wire_##sname sname;
        WIRE_STRUCTS(WIRE_BODY_MEMBER_)
#undef WIRE_BODY_MEMBER_
    } body;
};

/*
 * Bump allocator for the arrays of decoded frames; caller-owned memory.
 * Decoding n bytes never needs more than WIRE_ARENA_BYTES_PER_INPUT_BYTE * n
 * bytes of arena (each array element costs at least one input byte and at
 * most about ten bytes of struct), so an arena of that size never runs out;
 * a smaller one turns large frames into LIMIT_EXCEEDED. fuzz_frame checks it.
 */
#define WIRE_ARENA_BYTES_PER_INPUT_BYTE 16u

struct wire_arena {
    uint8_t *buf;
    size_t cap;
    size_t used;
    bool exhausted; /* set when an allocation did not fit */
};

void wire_arena_init(struct wire_arena *a, void *buf, size_t cap);
static inline void wire_arena_reset(struct wire_arena *a)
{
    a->used = 0;
}
/* 8-byte aligned; NULL when the arena cannot hold `size` more bytes. */
void *wire_arena_alloc(struct wire_arena *a, size_t size);

/* True for types this build knows (requests and responses). */
bool wire_type_known(uint32_t type);
static inline bool wire_type_is_response(uint32_t type)
{
    return (type & WIRE_RESPONSE_BIT) != 0;
}
/* OFFSET_COMMIT .. DESCRIBE_GROUP: the requests every group's coordinator (the controller) answers. */
static inline bool wire_type_is_group_request(uint32_t type)
{
    return type >= WIRE_OFFSET_COMMIT && type <= WIRE_DESCRIBE_GROUP;
}

/* "PRODUCE", "PRODUCE_RESP", or "UNKNOWN". */
const char *wire_type_name(uint32_t type);

/*
 * Encodes `f` at the end of w (so several frames can share one message).
 * Returns WIRE_OK, WIRE_ERR_UNKNOWN_TYPE, WIRE_ERR_LIMIT_EXCEEDED (a field
 * over its limit: the same check the decoder makes), WIRE_ERR_FRAME_TOO_LARGE
 * or WIRE_ERR_BUFFER_FULL. On error nothing of this frame remains in w.
 */
int wire_frame_encode(struct wire_writer *w, const struct wire_frame *f);

/*
 * Decodes the first frame in buf[0..len). On success *consumed is its size
 * and the caller may decode the next one from buf + *consumed.
 *
 * On error, what could be read of version, type and correlation_id is left
 * in *f (zero otherwise) so the caller can answer with the right id, and
 * `why` (if not NULL) receives a one-line description naming the field and
 * byte offset. Errors: WIRE_ERR_TRUNCATED, BAD_TYPE, BAD_VALUE,
 * LIMIT_EXCEEDED (also when the arena is full), TOO_DEEP,
 * UNSUPPORTED_VERSION, UNKNOWN_TYPE, FRAME_TOO_LARGE.
 */
int wire_frame_decode(const void *buf, size_t len, struct wire_arena *arena, struct wire_frame *f,
                      size_t *consumed, char *why, size_t why_cap);

/* Fills the envelope of a response to `request` with `error` and a message. */
void wire_frame_init_response(struct wire_frame *resp, const struct wire_frame *request,
                              int error, const char *message);

#endif
