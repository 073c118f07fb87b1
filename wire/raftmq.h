/* raftmq.h: the raftmq C client library (libraftmq): an asynchronous producer and a prefetching consumer. */
#ifndef RAFTMQ_H
#define RAFTMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Build with `pkg-config --cflags --libs raftmq` (or raftmq-static for the
 * static library). The protocol underneath is docs/protocol.md; this API is
 * described in docs/client.md.
 *
 * Conventions for every function here:
 *
 * - Errors: functions return int, RAFTMQ_OK (0) or a RAFTMQ_ERR_* code.
 *   The codes below 1000 are the protocol's own error codes (the numbers of
 *   docs/protocol.md, "Error codes"); 1000 and up are raised by the library
 *   itself. raftmq_strerror() turns any code into a sentence; a handle's
 *   *_last_error() has the message of its last failing call, naming what
 *   failed (topic, partition, broker address).
 * - Configuration: a config struct is filled with defaults by its *_init
 *   function, then the caller changes the fields it cares about. Always call
 *   *_init first: later versions may append fields.
 * - Ownership: the library copies every buffer it is given (topic, key,
 *   value, headers) before the call returns. Buffers the library hands out
 *   (a consumed record, a delivery report) belong to the library and stay
 *   valid only for as long as the function that hands them out says.
 * - Threads: a handle has no locks. Use each handle from one thread at a
 *   time; separate handles are independent and may be used on separate
 *   threads at the same time. Callbacks run on the thread that called
 *   poll, flush, commit, unsubscribe or close, inside that call.
 * - Time: every call that can wait takes a timeout in milliseconds and
 *   never waits longer (plus scheduling noise). The library does its
 *   network work inside the calls, so an application must call poll (or
 *   flush) regularly. The one background thread: a consumer subscribed to
 *   a group (raftmq_consumer_subscribe) runs one, which only heartbeats
 *   the group's coordinator and follows assignment changes, from subscribe
 *   to unsubscribe or close; link with -pthread (pkg-config says so).
 */

#define RAFTMQ_VERSION_MAJOR 0
#define RAFTMQ_VERSION_MINOR 1
#define RAFTMQ_VERSION_PATCH 0
#define RAFTMQ_VERSION_STRING "0.1.0"

/* "0.1.0": the version of the library actually linked. */
const char *raftmq_version(void);

/* ---- errors ----------------------------------------------------------------- */

#define RAFTMQ_OK 0
/* Protocol error codes most often seen by applications (full list: docs/protocol.md). */
#define RAFTMQ_ERR_UNKNOWN 1
#define RAFTMQ_ERR_LIMIT_EXCEEDED 5 /* e.g. more than 64 headers */
#define RAFTMQ_ERR_INVALID_REQUEST 20 /* also: a bad argument to a library call */
#define RAFTMQ_ERR_NOT_LEADER 21
#define RAFTMQ_ERR_LEADER_NOT_AVAILABLE 22
#define RAFTMQ_ERR_UNKNOWN_TOPIC 23
#define RAFTMQ_ERR_UNKNOWN_PARTITION 24
#define RAFTMQ_ERR_OFFSET_OUT_OF_RANGE 29
#define RAFTMQ_ERR_TIMEOUT 30 /* a deadline passed; for a delivery: outcome unknown */
#define RAFTMQ_ERR_DUPLICATE_SEQUENCE 33
#define RAFTMQ_ERR_OUT_OF_ORDER_SEQUENCE 34
#define RAFTMQ_ERR_UNKNOWN_PRODUCER 35
#define RAFTMQ_ERR_UNKNOWN_MEMBER 39    /* the group expelled this member (it rejoins by itself) */
#define RAFTMQ_ERR_ILLEGAL_GENERATION 40 /* commit from a stale generation, or of a partition not owned */
#define RAFTMQ_ERR_GROUP_NOT_EMPTY 41    /* the group has active members */
#define RAFTMQ_ERR_OFFSET_BACKWARDS 42   /* the commit would move a committed offset back (seek first) */
#define RAFTMQ_ERR_CORRUPT_BATCH 60
#define RAFTMQ_ERR_RECORD_TOO_LARGE 63
/* Raised by the library itself, never sent on the wire. */
#define RAFTMQ_ERR_QUEUE_FULL 1000   /* producer buffer full: poll, then send again */
#define RAFTMQ_ERR_NO_RECORD 1001    /* consumer poll: nothing arrived within the timeout */
#define RAFTMQ_ERR_CLOSED 1002       /* the producer was closed before the record was delivered */
#define RAFTMQ_ERR_NOT_ASSIGNED 1003 /* consumer: the partition is not assigned */

/* A sentence for any code (also unknown ones); never NULL, static. */
const char *raftmq_strerror(int err);
/* The code's name without prefix ("NOT_LEADER", "QUEUE_FULL"), or "UNRECOGNIZED". */
const char *raftmq_err_name(int err);

/* ---- records ---------------------------------------------------------------- */

/* A record header: name (a string) and value (bytes). */
struct raftmq_header {
    const char *name; /* NUL-terminated, at most 256 bytes */
    const void *value;
    size_t value_len; /* at most 64 KiB */
};

/*
 * Limits (docs/protocol.md, "Limits"): a record (key + value + headers) at
 * most 1 MiB, at most 64 headers, a topic name 1..200 bytes of
 * [A-Za-z0-9._-].
 */

/* ---- producer --------------------------------------------------------------- */

typedef struct raftmq_producer raftmq_producer;

/* The outcome of one record, given to the delivery callback. */
struct raftmq_delivery {
    int error;                 /* RAFTMQ_OK: committed on a majority at `offset` */
    const char *error_message; /* "" when error is RAFTMQ_OK */
    const char *topic;
    int32_t partition;         /* the partition chosen (also on error, when known; else -1) */
    int64_t offset;            /* RAFTMQ_OK: the record's offset; else -1 */
    int64_t timestamp;         /* the record's timestamp (ms) */
    void *opaque;              /* as given to raftmq_producer_send */
    /* PRODUCE requests that carried the record (0: never sent). Above 1
     * without idempotence, the record may be stored more than once. */
    uint32_t attempts;
};

/* Called once per record sent; `d` and its strings are valid during the call only. */
typedef void raftmq_delivery_cb(const struct raftmq_delivery *d, void *cb_opaque);

enum raftmq_compression {
    RAFTMQ_COMPRESSION_NONE = 0,
    RAFTMQ_COMPRESSION_LZ4 = 1, /* per batch; a batch LZ4 cannot shrink is sent uncompressed */
};

struct raftmq_producer_config {
    /* Comma-separated broker endpoints, "tcp://127.0.0.1:9292,tcp://...". Required. */
    const char *brokers;
    /* A partition's batch is sent when its records reach this many bytes
     * (encoded, before compression). Default 128 KiB, at most 1 MiB. */
    uint32_t batch_bytes_max;
    /* ...or when its first record has waited this long and the partition
     * can send it at once (a busy partition's batch keeps growing). Default
     * 5 ms (throughput); 0: as soon as the partition can (latency). */
    uint32_t linger_ms;
    /* PRODUCE requests outstanding per partition. Default 5; with
     * idempotence at most 5, without it 1 (so a retry can never reorder). */
    uint32_t in_flight_per_partition;
    enum raftmq_compression compression; /* default LZ4 */
    /* Producer id and per-partition sequence numbers: retries never
     * duplicate or reorder (docs/client.md, "Idempotence"). Default true. */
    bool idempotence;
    /* One PRODUCE attempt: the broker's commit timeout. Default 10000 ms. */
    uint32_t request_timeout_ms;
    /* A record's whole budget from send to delivery report, retries
     * included; then it fails with RAFTMQ_ERR_TIMEOUT. Default 120000 ms. */
    uint32_t delivery_timeout_ms;
    /* Bytes of records accepted by send and not yet reported. Default 64 MiB. */
    uint64_t buffer_bytes_max;
    raftmq_delivery_cb *on_delivery; /* may be NULL */
    void *cb_opaque;                 /* passed to on_delivery */
};

void raftmq_producer_config_init(struct raftmq_producer_config *config);

/*
 * Creates a producer. Connects lazily, except that with idempotence it
 * asks the cluster for a producer id (INIT_PRODUCER_ID) on the first send.
 * Errors: INVALID_REQUEST (bad config; the message says which field).
 * errbuf (may be NULL) receives the message.
 */
int raftmq_producer_new(const struct raftmq_producer_config *config, raftmq_producer **out,
                        char *errbuf, size_t errbuf_len);

/* One record to send. Zero it, then fill what applies. */
struct raftmq_message {
    const char *topic;  /* required */
    int32_t partition;  /* RAFTMQ_PARTITION_ANY: chosen by the partitioner */
    const void *key;    /* NULL: no key (nil), unlike a key of length 0 */
    size_t key_len;
    const void *value;  /* NULL only with value_len 0 */
    size_t value_len;
    const struct raftmq_header *headers;
    size_t header_count;
    int64_t timestamp;  /* ms since the epoch; 0: now */
    void *opaque;       /* handed back in the delivery report */
};

#define RAFTMQ_PARTITION_ANY (-1)

/*
 * Queues a record (copied) and returns. Also sends batches that are due;
 * that does not wait for answers, but sending to a leader whose connection
 * is down may wait up to 200 ms for it (docs/client.md lists every such
 * bounded wait). Errors, with the record not queued and no delivery report:
 *   QUEUE_FULL       buffer_bytes_max reached: call poll, then send again
 *   INVALID_REQUEST  bad argument (NULL topic, invalid topic name)
 *   RECORD_TOO_LARGE, LIMIT_EXCEEDED  the record breaks a limit
 *   UNKNOWN_TOPIC, UNKNOWN_PARTITION  the cluster says so (the first send to
 *                    a topic fetches its metadata: that one send may wait up
 *                    to request_timeout_ms for it)
 * Every record accepted (RAFTMQ_OK) gets exactly one delivery report.
 *
 * Partitioner: a record with a key goes to FNV-1a-32(key) mod partitions
 * (docs/client.md gives the function, so every client picks the same
 * partition); without a key, records stick to one partition until its
 * batch is sent, then move on to the next (round robin).
 */
int raftmq_producer_send(raftmq_producer *p, const struct raftmq_message *msg);

/*
 * Does network work for up to timeout_ms: sends due batches, reads
 * answers, retries, and calls the delivery callback for every record
 * settled. Returns the number of delivery reports made (>= 0), or a
 * negative error code for a failure of the handle itself.
 */
int raftmq_producer_poll(raftmq_producer *p, int timeout_ms);

/*
 * Sends everything queued at once (ignoring linger) and waits until every
 * record has its delivery report, or timeout_ms passes. RAFTMQ_OK: nothing
 * is left; TIMEOUT: records are still pending (they keep their reports).
 */
int raftmq_producer_flush(raftmq_producer *p, int timeout_ms);

/* Records accepted by send that have not had their delivery report yet. */
uint64_t raftmq_producer_pending(const raftmq_producer *p);

/* The message of the last failing call on this handle; "" when none. */
const char *raftmq_producer_last_error(const raftmq_producer *p);

/*
 * Frees the producer. Does not flush: call raftmq_producer_flush first.
 * Records still pending get a delivery report with RAFTMQ_ERR_CLOSED (if
 * their batch was already sent, they may still have been committed). NULL is fine.
 */
void raftmq_producer_close(raftmq_producer *p);

/* ---- consumer --------------------------------------------------------------- */

typedef struct raftmq_consumer raftmq_consumer;

/* Where to start reading a partition. */
#define RAFTMQ_OFFSET_BEGINNING (-2) /* the earliest offset still stored */
#define RAFTMQ_OFFSET_END (-1)       /* the next offset to be written */
/* N records before the end: RAFTMQ_OFFSET_TAIL(N), N >= 1. */
#define RAFTMQ_OFFSET_TAIL_BASE (-2000)
#define RAFTMQ_OFFSET_TAIL(n) (RAFTMQ_OFFSET_TAIL_BASE - (int64_t)(n))

/* When the position is outside the stored range (retention deleted it). */
enum raftmq_offset_reset {
    RAFTMQ_RESET_EARLIEST = 0, /* default: continue at the earliest stored offset */
    RAFTMQ_RESET_LATEST = 1,   /* continue at the end */
    RAFTMQ_RESET_ERROR = 2,    /* poll returns OFFSET_OUT_OF_RANGE for the partition */
};

struct raftmq_consumer_config {
    const char *brokers; /* required, as for the producer */
    /* Bytes one FETCH may return. Default 1 MiB. */
    uint32_t fetch_max_bytes;
    /* How long a broker holds a FETCH when nothing is new. Default 500 ms. */
    uint32_t fetch_max_wait_ms;
    /* Fetched bytes buffered per partition, not yet returned by poll: the
     * prefetch bound. Default 4 MiB (at least fetch_max_bytes). */
    uint32_t partition_buffer_bytes;
    /* One request attempt. Default 10000 ms. */
    uint32_t request_timeout_ms;
    enum raftmq_offset_reset offset_reset;
};

void raftmq_consumer_config_init(struct raftmq_consumer_config *config);

/* Errors: INVALID_REQUEST (bad config). errbuf (may be NULL) receives the message. */
int raftmq_consumer_new(const struct raftmq_consumer_config *config, raftmq_consumer **out,
                        char *errbuf, size_t errbuf_len);

/*
 * Starts reading a partition at `start` (an offset >= 0, BEGINNING, END or
 * TAIL(n)); assigning an assigned partition seeks it. Waits up to
 * request_timeout_ms for metadata and, for BEGINNING/END/TAIL, the offset
 * lookup. Errors: UNKNOWN_TOPIC, UNKNOWN_PARTITION, TIMEOUT, INVALID_REQUEST
 * (bad start; more than 4096 assigned partitions; the consumer is
 * subscribed to a group, which assigns its partitions itself).
 */
int raftmq_consumer_assign(raftmq_consumer *c, const char *topic, int32_t partition,
                           int64_t start);

/* The same, at the first record whose timestamp is >= timestamp_ms (the end if none);
 * also INVALID_REQUEST when subscribed. */
int raftmq_consumer_assign_timestamp(raftmq_consumer *c, const char *topic, int32_t partition,
                                     int64_t timestamp_ms);

/*
 * Stops reading a partition and drops what was prefetched for it. NOT_ASSIGNED
 * if it was not; INVALID_REQUEST when the consumer is subscribed to a group.
 */
int raftmq_consumer_unassign(raftmq_consumer *c, const char *topic, int32_t partition);

/* A consumed record. Every pointer is valid until the next poll or close. */
struct raftmq_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp; /* ms */
    const void *key;   /* NULL when the record has no key */
    size_t key_len;
    const void *value;
    size_t value_len;
    const struct raftmq_header *headers; /* names NUL-terminated */
    size_t header_count;
};

/*
 * Returns the next record of any assigned partition (records of one
 * partition in offset order, each once), waiting up to timeout_ms.
 * RAFTMQ_OK: *rec is filled. NO_RECORD: nothing within the timeout.
 * Other errors concern one partition, named in *rec (topic, partition;
 * the rest zero) and in last_error; the consumer keeps going:
 *   OFFSET_OUT_OF_RANGE (offset_reset ERROR; the partition is paused until
 *   assigned again), CORRUPT_BATCH (a fetched batch failed its CRC or did
 *   not decode; it is fetched again once, then reported, and the partition
 *   is paused until assigned again), TIMEOUT (no FETCH of the partition has
 *   succeeded for request_timeout_ms; reported once per request_timeout_ms
 *   while the consumer keeps trying), UNKNOWN_TOPIC / UNKNOWN_PARTITION
 *   (the leader said so several times in a row; paused).
 * Leader changes, lost connections and timeouts are retried inside, with
 * the position kept: nothing is skipped or returned twice.
 */
int raftmq_consumer_poll(raftmq_consumer *c, int timeout_ms, struct raftmq_record *rec);

/* The offset of the next record poll will return for the partition. */
int raftmq_consumer_position(const raftmq_consumer *c, const char *topic, int32_t partition,
                             int64_t *offset);

/*
 * The partition's end (high watermark: the offset after the last committed
 * record) as of the latest FETCH answer; -1 before the first answer.
 * position == high watermark means the consumer has read everything
 * committed so far.
 */
int raftmq_consumer_high_watermark(const raftmq_consumer *c, const char *topic,
                                   int32_t partition, int64_t *offset);

const char *raftmq_consumer_last_error(const raftmq_consumer *c);

/* ---- consumer groups ----------------------------------------------------------- */

/*
 * A consumer that subscribes joins a group: the group's coordinator (the
 * cluster's controller) spreads the partitions of the subscribed topics
 * over the group's members, each partition owned by one member at a time,
 * and the group's committed offsets say where a partition's new owner
 * starts. docs/client.md, "Consumer groups", has the full story.
 *
 * Threads: a subscribed consumer runs one background thread that only
 * heartbeats and follows assignment changes (with its own connections), so
 * a slow handler between two polls does not get the member expelled.
 * Callbacks still run on the thread that calls poll (or commit, or close),
 * inside that call, and the handle is still used from one thread at a time.
 *
 * Delivery is at least once: a record is returned by poll before its offset
 * is committed, so a record can be returned twice, to this member or to the
 * next owner of its partition, exactly when it was returned after the
 * partition's last successful commit and then either this member died or
 * was expelled (session timeout, max_poll_interval_ms), or the commit
 * failed. A partition given up normally (revoke, unsubscribe, close) is
 * committed first, so it hands over without duplicates.
 */

/* A partition of a topic, in assignment callbacks. */
struct raftmq_topic_partition {
    const char *topic;
    int32_t partition;
};

/*
 * Called on the polling thread when partitions are added to or taken from
 * this member. `parts` is valid during the call only. On revoke, the
 * callback runs before the consumer commits the revoked partitions'
 * positions and gives them up; it may call raftmq_consumer_commit. `lost`
 * is true when the partitions were taken without a chance to commit (the
 * member was expelled or could not reach the coordinator for its session
 * timeout): another member may already own them. poll and unsubscribe
 * return INVALID_REQUEST when called from a callback, and close does nothing.
 */
typedef void raftmq_assignment_cb(raftmq_consumer *c, const struct raftmq_topic_partition *parts,
                                  size_t count, bool lost, void *cb_opaque);

/* The outcome of raftmq_consumer_commit_async, on the polling thread. */
typedef void raftmq_commit_cb(raftmq_consumer *c, int error, const char *error_message,
                              void *cb_opaque);

struct raftmq_group_config {
    /* The coordinator expels a member it has not heard from for this long;
     * a member that could not reach it for this long gives its partitions
     * up as lost. Default 10000 ms; 1000..300000. */
    uint32_t session_timeout_ms;
    /* How often the background thread heartbeats. Default 500 ms; at most
     * session_timeout_ms / 3. */
    uint32_t heartbeat_interval_ms;
    /* An application that does not call poll for this long is considered
     * stuck: the member leaves the group (its partitions move, uncommitted
     * records are read again by their new owners) and rejoins at the next
     * poll. Default 300000 ms; 0: never. */
    uint32_t max_poll_interval_ms;
    /* Commit the positions of owned partitions every auto_commit_interval_ms
     * (asynchronously, inside poll). Default true, 1000 ms. */
    bool auto_commit;
    uint32_t auto_commit_interval_ms;
    /* A label the admin tool shows next to the member ("host:pid" when NULL). */
    const char *client_id;
    raftmq_assignment_cb *on_assigned; /* may be NULL */
    raftmq_assignment_cb *on_revoked;  /* may be NULL */
    raftmq_commit_cb *on_commit;       /* async commit outcomes; may be NULL */
    void *cb_opaque;
};

void raftmq_group_config_init(struct raftmq_group_config *config);

/*
 * Joins `group` (a name like a topic's) subscribed to topics[0..n_topics)
 * and returns at once; partitions arrive through poll (on_assigned), each
 * starting at the group's committed offset, or by config.offset_reset when
 * none is committed (or it is out of range). config NULL: defaults. Once
 * subscribed, assign/unassign return INVALID_REQUEST. Errors:
 * INVALID_REQUEST (bad name, no topics, more than 1024, already
 * subscribed or assigned, bad config: the message says which field).
 */
int raftmq_consumer_subscribe(raftmq_consumer *c, const char *group, const char *const *topics,
                              size_t n_topics, const struct raftmq_group_config *config);

/*
 * Commits the position (raftmq_consumer_position: the offset after the last
 * record poll returned) of every partition this member owns whose position
 * moved since its last commit, and waits up to timeout_ms for the answer.
 * RAFTMQ_OK: committed (also when nothing had moved). Errors: TIMEOUT,
 * ILLEGAL_GENERATION / UNKNOWN_MEMBER (the partitions moved; nothing is
 * committed), OFFSET_BACKWARDS, INVALID_REQUEST (not subscribed).
 */
int raftmq_consumer_commit(raftmq_consumer *c, int timeout_ms);

/* The same without waiting: the outcome goes to on_commit from a later poll. */
int raftmq_consumer_commit_async(raftmq_consumer *c);

/*
 * Moves an owned partition's position (an offset >= 0, BEGINNING or END).
 * The next commit may then move its committed offset backwards: an explicit
 * seek is the only way a committed offset goes back. NOT_ASSIGNED when this
 * member does not own it. (Without a subscription: the same as assign.)
 */
int raftmq_consumer_seek(raftmq_consumer *c, const char *topic, int32_t partition, int64_t offset);

/* The group's committed offset of a partition (-1: none), asked of the coordinator. */
int raftmq_consumer_committed(raftmq_consumer *c, const char *topic, int32_t partition,
                              int64_t *offset, int timeout_ms);

/*
 * The partitions this member owns now (what poll returns records of):
 * fills parts[0..min(*count, owned)) and sets *count to the number owned.
 * Strings valid until the next poll.
 */
int raftmq_consumer_assignment(raftmq_consumer *c, struct raftmq_topic_partition *parts,
                               size_t *count);

/* The member id and generation ("" and 0 before the first join). */
const char *raftmq_consumer_member_id(const raftmq_consumer *c);
uint64_t raftmq_consumer_generation(const raftmq_consumer *c);

/*
 * Leaves the group: revokes every partition (on_revoked, then a commit of
 * their positions), stops the background thread and tells the coordinator
 * (LEAVE), within timeout_ms plus up to heartbeat_interval_ms for the
 * thread's request in progress. The consumer may subscribe again. Returns
 * the commit's error if it failed (the member leaves anyway).
 */
int raftmq_consumer_unsubscribe(raftmq_consumer *c, int timeout_ms);

/*
 * Frees the consumer. A subscribed consumer first unsubscribes (bounded by
 * request_timeout_ms, plus up to heartbeat_interval_ms for its thread), so
 * its partitions hand over without waiting for the session timeout.
 * Otherwise no request is waited for. NULL is fine.
 */
void raftmq_consumer_close(raftmq_consumer *c);

/* ---- partitioner -------------------------------------------------------------- */

/* FNV-1a-32 of the key bytes: the partition of a keyed record is this mod the partition count. */
uint32_t raftmq_key_hash(const void *key, size_t key_len);

#ifdef __cplusplus
}
#endif

#endif
