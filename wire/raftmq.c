/* The library-wide parts of raftmq.h: version, error texts, the key hash. */
#include "raftmq.h"

#include <assert.h>

#include "errors.h"

/* raftmq.h repeats the protocol's codes applications meet most; keep them equal. */
static_assert(RAFTMQ_ERR_NOT_LEADER == WIRE_ERR_NOT_LEADER, "error codes are the protocol's");
static_assert(RAFTMQ_ERR_UNKNOWN_TOPIC == WIRE_ERR_UNKNOWN_TOPIC, "error codes are the protocol's");
static_assert(RAFTMQ_ERR_OFFSET_OUT_OF_RANGE == WIRE_ERR_OFFSET_OUT_OF_RANGE, "error codes");
static_assert(RAFTMQ_ERR_TIMEOUT == WIRE_ERR_TIMEOUT, "error codes are the protocol's");
static_assert(RAFTMQ_ERR_DUPLICATE_SEQUENCE == WIRE_ERR_DUPLICATE_SEQUENCE, "error codes");
static_assert(RAFTMQ_ERR_OUT_OF_ORDER_SEQUENCE == WIRE_ERR_OUT_OF_ORDER_SEQUENCE, "error codes");
static_assert(RAFTMQ_ERR_UNKNOWN_PRODUCER == WIRE_ERR_UNKNOWN_PRODUCER, "error codes");
static_assert(RAFTMQ_ERR_CORRUPT_BATCH == WIRE_ERR_CORRUPT_BATCH, "error codes are the protocol's");
static_assert(RAFTMQ_ERR_RECORD_TOO_LARGE == WIRE_ERR_RECORD_TOO_LARGE, "error codes");
static_assert(RAFTMQ_ERR_QUEUE_FULL == WIRE_ERR_QUEUE_FULL, "library codes live in errors.h");
static_assert(RAFTMQ_ERR_NO_RECORD == WIRE_ERR_NO_RECORD, "library codes live in errors.h");
static_assert(RAFTMQ_ERR_CLOSED == WIRE_ERR_CLOSED, "library codes live in errors.h");
static_assert(RAFTMQ_ERR_NOT_ASSIGNED == WIRE_ERR_NOT_ASSIGNED, "library codes live in errors.h");

const char *raftmq_version(void)
{
    return RAFTMQ_VERSION_STRING;
}

const char *raftmq_strerror(int err)
{
    return wire_strerror(err);
}

const char *raftmq_err_name(int err)
{
    return wire_err_name(err);
}

uint32_t raftmq_key_hash(const void *key, size_t key_len)
{
    const uint8_t *p = key;
    uint32_t h = 2166136261u; /* FNV-1a offset basis */
    for (size_t i = 0; i < key_len; i++) {
        h ^= p[i];
        h *= 16777619u; /* FNV prime */
    }
    return h;
}
