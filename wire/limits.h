/* Every protocol limit of raftmq in one place, with the relations between them checked at compile time. */
#ifndef RAFTMQ_WIRE_LIMITS_H
#define RAFTMQ_WIRE_LIMITS_H

#include <assert.h>

/* The protocol version this build speaks (the first element of every frame). */
#define WIRE_PROTOCOL_VERSION 1u

/* Record-batch format version (the second byte of every batch). */
#define WIRE_BATCH_VERSION 1u

/*
 * Sizes. A decoder checks a claimed length against these limits and against
 * the bytes that remain before it allocates or copies anything.
 */
#define WIRE_KIB 1024u
#define WIRE_MIB (1024u * 1024u)

/* One ZeroMQ message may carry several concatenated frames (pipelining,
 * peer coalescing); the whole message is bounded too. */
#define WIRE_MESSAGE_BYTES_MAX (16u * WIRE_MIB)
#define WIRE_FRAME_BYTES_MAX (8u * WIRE_MIB)

/* A record batch as produced, replicated, stored and fetched (its encoded,
 * possibly compressed, size). */
#define WIRE_BATCH_BYTES_MAX (1u * WIRE_MIB)
/* The records of one batch once decompressed: bounds the LZ4 output buffer. */
#define WIRE_BATCH_RECORDS_BYTES_MAX (4u * WIRE_MIB)
/* Records in one batch. A record encodes in 7 bytes at the least (11 once
 * its offset delta needs 5 bytes), so only a compressed batch of empty
 * records reaches this. */
#define WIRE_BATCH_RECORDS_MAX 131072u

/* One record, encoded (key + value + headers + framing). 1 KiB below the
 * batch limit, so a record that passes this limit always fits one batch,
 * uncompressed, with its header: a producer never holds a record it can
 * send in no batch at all. */
#define WIRE_RECORD_BYTES_MAX (WIRE_BATCH_BYTES_MAX - 1u * WIRE_KIB)
#define WIRE_KEY_BYTES_MAX (64u * WIRE_KIB)
#define WIRE_HEADERS_MAX 64u
#define WIRE_HEADER_NAME_BYTES_MAX 255u
#define WIRE_HEADER_VALUE_BYTES_MAX (64u * WIRE_KIB)

/* Topic names: 1..249 bytes of [A-Za-z0-9._-], not "." or "..". */
#define WIRE_TOPIC_NAME_BYTES_MAX 249u

/* Consumer groups: a group name follows the topic-name rules; member ids
 * are made by the coordinator; a client id is a free-form label. */
#define WIRE_GROUP_NAME_BYTES_MAX WIRE_TOPIC_NAME_BYTES_MAX
#define WIRE_MEMBER_ID_BYTES_MAX 64u
#define WIRE_CLIENT_ID_BYTES_MAX 255u
/* Topics one member subscribes to (and one OFFSET_FETCH names). */
#define WIRE_GROUP_TOPICS_MAX 1024u

/* Strings in frames that are not topic names: addresses, error messages. */
#define WIRE_STRING_BYTES_MAX 4096u

/* Elements of any one array inside a frame (topics, partitions, batches, replicas...). */
#define WIRE_ARRAY_ITEMS_MAX 65536u

/* Nesting a decoder follows when it skips a value it does not know. */
#define WIRE_NESTING_MAX 16u

/* Partitions of one topic, and replicas (brokers) of one partition. */
#define WIRE_PARTITIONS_MAX 10000u
#define WIRE_REPLICAS_MAX 7u

/* Record batches in one PRODUCE request and in one FETCH response. */
#define WIRE_PRODUCE_BATCHES_MAX 256u
#define WIRE_FETCH_BATCHES_MAX WIRE_ARRAY_ITEMS_MAX

/* A Raft snapshot chunk sent in one InstallSnapshot frame. */
#define WIRE_SNAPSHOT_CHUNK_BYTES_MAX (4u * WIRE_MIB)

static_assert(WIRE_FRAME_BYTES_MAX <= WIRE_MESSAGE_BYTES_MAX, "a frame fits in a message");
static_assert(WIRE_BATCH_BYTES_MAX + 64u * WIRE_KIB <= WIRE_FRAME_BYTES_MAX,
              "a produce request with one maximal batch fits in a frame");
static_assert(WIRE_BATCH_BYTES_MAX <= WIRE_BATCH_RECORDS_BYTES_MAX,
              "an uncompressed batch body fits the decompression bound");
static_assert(WIRE_RECORD_BYTES_MAX + 128u <= WIRE_BATCH_BYTES_MAX,
              "a maximal record fits an uncompressed batch with its 68-byte header");
static_assert(WIRE_KEY_BYTES_MAX < WIRE_RECORD_BYTES_MAX, "a key fits in a record");
static_assert(WIRE_HEADER_VALUE_BYTES_MAX < WIRE_RECORD_BYTES_MAX, "a header fits in a record");
static_assert(WIRE_SNAPSHOT_CHUNK_BYTES_MAX + 64u * WIRE_KIB <= WIRE_FRAME_BYTES_MAX,
              "a snapshot chunk fits in a frame");
static_assert(WIRE_PARTITIONS_MAX <= WIRE_ARRAY_ITEMS_MAX, "partition arrays are arrays");

#endif
