/* The schema of every raftmq frame body, as X-macro lists that generate the structs and codecs. */
#ifndef RAFTMQ_WIRE_SCHEMA_H
#define RAFTMQ_WIRE_SCHEMA_H

/*
 * Every body is a msgpack array whose elements are the fields below, in this
 * order. docs/protocol.md is written from this file; change both together.
 *
 * A field is F(KIND, name, ARG):
 *   U32, U64     unsigned integer (any msgpack int encoding); ARG unused (0)
 *   I64          signed integer; ARG unused
 *   BOOL         msgpack true/false; ARG unused
 *   STR          msgpack str of at most ARG bytes
 *   BIN          msgpack bin of at most ARG bytes
 *   U32S         array of at most ARG unsigned integers
 *   STRS         array of at most ARG strs, each at most WIRE_STRING_BYTES_MAX
 *   BINS         array of at most ARG bins, each at most WIRE_BATCH_BYTES_MAX
 *   ARRAY        array of at most WIRE_ARRAY_ITEMS_MAX structs of type ARG
 *
 * Compatibility: a receiver ignores elements beyond the ones it knows (in
 * a body, an entry or the envelope), so a sender may append fields that
 * older receivers can do without. A receiver requires every field it
 * knows, so appending a field that receivers rely on, or reordering,
 * removing or retyping one, needs a new WIRE_PROTOCOL_VERSION.
 *
 * Adding a request: list its request and response fields here, add one
 * M(...) line to WIRE_MESSAGES, document it in docs/protocol.md and
 * add an example to tests/vectors/examples.c. The codec, the golden vectors
 * and the malformed-input tests pick it up from these lists.
 */

/* ---- structs used inside bodies ---------------------------------------- */

#define WIRE_BROKER_FIELDS(F)                                                   \
    F(U32, node_id, 0)                                                          \
    F(STR, client_address, WIRE_STRING_BYTES_MAX)

#define WIRE_PARTITION_META_FIELDS(F)                                           \
    F(U32, partition, 0)                                                        \
    F(U32, leader_id, 0) /* 0: no leader known */                               \
    F(U64, leader_term, 0)                                                      \
    F(U32S, replicas, WIRE_REPLICAS_MAX)

#define WIRE_TOPIC_META_FIELDS(F)                                               \
    F(STR, name, WIRE_STRING_BYTES_MAX)                                         \
    F(U32, error, 0) /* WIRE_ERR_UNKNOWN_TOPIC for a requested unknown topic */ \
    F(ARRAY, partitions, partition_meta)

#define WIRE_BROKER_STATUS_FIELDS(F)                                            \
    F(U32, node_id, 0)                                                          \
    F(STR, client_address, WIRE_STRING_BYTES_MAX)                               \
    F(STR, peer_address, WIRE_STRING_BYTES_MAX)                                 \
    F(BOOL, reachable, 0)

#define WIRE_REPLICA_STATUS_FIELDS(F)                                           \
    F(U32, node_id, 0)                                                          \
    F(U64, match_index, 0)                                                      \
    F(BOOL, voter, 0)

#define WIRE_GROUP_STATUS_FIELDS(F)                                             \
    F(STR, topic, WIRE_STRING_BYTES_MAX) /* "" for the metadata group */        \
    F(U32, partition, 0)                                                        \
    F(U32, leader_id, 0)                                                        \
    F(U64, term, 0)                                                             \
    F(U64, commit_index, 0)                                                     \
    F(U64, last_index, 0)                                                       \
    F(ARRAY, replicas, replica_status)

#define WIRE_ENTRY_FIELDS(F)                                                    \
    F(U64, term, 0)                                                             \
    F(U32, type, 0) /* 1 batch, 2 config, 3 noop, 4 metadata op */              \
    F(BIN, payload, WIRE_FRAME_BYTES_MAX)

#define WIRE_MEMBER_FIELDS(F)                                                   \
    F(U32, node_id, 0)                                                          \
    F(BOOL, voter, 0)

/* A partition of a topic, by name (consumer-group assignments). */
#define WIRE_TOPIC_PARTITION_FIELDS(F)                                          \
    F(STR, topic, WIRE_TOPIC_NAME_BYTES_MAX)                                    \
    F(U32, partition, 0)

/* One offset to commit, or one committed offset. */
#define WIRE_PARTITION_OFFSET_FIELDS(F)                                         \
    F(STR, topic, WIRE_TOPIC_NAME_BYTES_MAX)                                    \
    F(U32, partition, 0)                                                        \
    F(I64, offset, 0) /* commit: >= 0; fetch answer: -1 when none is committed */

/* A member of a consumer group, as DESCRIBE_GROUP shows it. */
#define WIRE_GROUP_MEMBER_FIELDS(F)                                             \
    F(STR, member_id, WIRE_MEMBER_ID_BYTES_MAX)                                 \
    F(STR, client_id, WIRE_CLIENT_ID_BYTES_MAX)                                 \
    F(U64, generation, 0) /* the generation it was last told */                 \
    F(U32, session_timeout_ms, 0)                                               \
    F(U32, last_heard_ms_ago, 0)                                                \
    F(STRS, topics, WIRE_GROUP_TOPICS_MAX) /* its subscription */               \
    F(ARRAY, assigned, topic_partition) /* target: what the coordinator gives it */ \
    F(ARRAY, owned, topic_partition) /* what it last said it consumes */

/* One consumer group, as LIST_GROUPS shows it. */
#define WIRE_GROUP_SUMMARY_FIELDS(F)                                            \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STR, state, WIRE_STRING_BYTES_MAX) /* "empty", "stable", "rebalancing" */ \
    F(U32, members, 0)                                                          \
    F(U64, generation, 0) /* 0: no members on this coordinator */

/* ---- client requests and responses -------------------------------------- */

#define WIRE_METADATA_REQ_FIELDS(F) F(STRS, topics, WIRE_ARRAY_ITEMS_MAX) /* empty: all */

#define WIRE_METADATA_RESP_FIELDS(F)                                            \
    F(U32, controller_id, 0) /* leader of the metadata group, 0 if none */      \
    F(ARRAY, brokers, broker)                                                   \
    F(ARRAY, topics, topic_meta)

#define WIRE_CREATE_TOPIC_REQ_FIELDS(F)                                         \
    F(STR, name, WIRE_STRING_BYTES_MAX)                                         \
    F(U32, partitions, 0)                                                       \
    F(U32, replication_factor, 0)                                               \
    F(I64, retention_ms, 0) /* -1: broker default */                            \
    F(I64, retention_bytes, 0) /* -1: broker default */

#define WIRE_DELETE_TOPIC_REQ_FIELDS(F) F(STR, name, WIRE_STRING_BYTES_MAX)

#define WIRE_PRODUCE_REQ_FIELDS(F)                                              \
    F(STR, topic, WIRE_STRING_BYTES_MAX)                                        \
    F(U32, partition, 0)                                                        \
    F(U32, timeout_ms, 0)                                                       \
    F(BINS, batches, WIRE_PRODUCE_BATCHES_MAX)

#define WIRE_PRODUCE_RESP_FIELDS(F)                                             \
    F(U64, base_offset, 0) /* offset of the first record of the first batch */  \
    F(U64, last_offset, 0) /* offset of the last record of the last batch */

#define WIRE_FETCH_REQ_FIELDS(F)                                                \
    F(STR, topic, WIRE_STRING_BYTES_MAX)                                        \
    F(U32, partition, 0)                                                        \
    F(U64, offset, 0)                                                           \
    F(U32, max_bytes, 0)                                                        \
    F(U32, max_wait_ms, 0)

#define WIRE_FETCH_RESP_FIELDS(F)                                               \
    F(U64, high_watermark, 0)                                                   \
    F(U64, log_start_offset, 0)                                                 \
    F(BINS, batches, WIRE_FETCH_BATCHES_MAX)

#define WIRE_LIST_OFFSETS_REQ_FIELDS(F)                                         \
    F(STR, topic, WIRE_STRING_BYTES_MAX)                                        \
    F(U32, partition, 0)                                                        \
    F(I64, spec, 0) /* -2 earliest, -1 latest, >= 0 a timestamp in ms */

#define WIRE_LIST_OFFSETS_RESP_FIELDS(F)                                        \
    F(U64, offset, 0)                                                           \
    F(I64, timestamp, 0) /* -1 when not looked up by timestamp */

/* INIT_PRODUCER_ID has an empty request body. */
#define WIRE_INIT_PRODUCER_ID_RESP_FIELDS(F)                                    \
    F(I64, producer_id, 0) /* unique in the cluster, >= 1 */                    \
    F(U32, producer_epoch, 0) /* 0 for a new id; at most 32767 */

#define WIRE_CLUSTER_STATUS_RESP_FIELDS(F)                                      \
    F(U32, node_id, 0) /* the broker that answered */                           \
    F(ARRAY, brokers, broker_status)                                            \
    F(ARRAY, groups, group_status)

/* ---- consumer groups (docs/protocol.md, "Consumer groups") ------------------ */

/*
 * Stores committed offsets through the metadata Raft group; answered once
 * the commit is applied. member_id "" with generation 0: a commit outside
 * any membership (admin reset, a consumer that assigns partitions itself),
 * refused with GROUP_NOT_EMPTY while the group has members. All or nothing.
 */
#define WIRE_OFFSET_COMMIT_REQ_FIELDS(F)                                        \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STR, member_id, WIRE_MEMBER_ID_BYTES_MAX)                                 \
    F(U64, generation, 0)                                                       \
    F(BOOL, rewind, 0) /* allow moving an offset backwards (an explicit seek) */ \
    F(ARRAY, offsets, partition_offset)

#define WIRE_OFFSET_FETCH_REQ_FIELDS(F)                                         \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STRS, topics, WIRE_GROUP_TOPICS_MAX) /* empty: every committed offset of the group */

#define WIRE_OFFSET_FETCH_RESP_FIELDS(F) F(ARRAY, offsets, partition_offset)

#define WIRE_JOIN_GROUP_REQ_FIELDS(F)                                           \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STR, client_id, WIRE_CLIENT_ID_BYTES_MAX) /* a label for admins: host, pid */ \
    F(STRS, topics, WIRE_GROUP_TOPICS_MAX) /* the subscription, at least one */ \
    F(ARRAY, owned, topic_partition) /* what it consumes now (a rejoin) */      \
    F(U32, session_timeout_ms, 0)                                               \
    F(STR, instance_id, WIRE_MEMBER_ID_BYTES_MAX) /* random, per subscription: a JOIN \
        repeated after its answer was lost gets the same member, not a second one */

/* JOIN_GROUP and SYNC_GROUP answer with the member's assignment. */
#define WIRE_ASSIGNMENT_FIELDS(F)                                               \
    F(U64, generation, 0)                                                       \
    F(ARRAY, assigned, topic_partition) /* what it may consume now */           \
    F(U32, pending, 0) /* partitions coming to it once their owner lets go */

#define WIRE_JOIN_GROUP_RESP_FIELDS(F)                                          \
    F(STR, member_id, WIRE_MEMBER_ID_BYTES_MAX)                                 \
    WIRE_ASSIGNMENT_FIELDS(F)

#define WIRE_SYNC_GROUP_REQ_FIELDS(F)                                           \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STR, member_id, WIRE_MEMBER_ID_BYTES_MAX)                                 \
    F(U64, generation, 0)                                                       \
    F(ARRAY, owned, topic_partition)

#define WIRE_SYNC_GROUP_RESP_FIELDS(F) WIRE_ASSIGNMENT_FIELDS(F)

#define WIRE_HEARTBEAT_REQ_FIELDS(F)                                            \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STR, member_id, WIRE_MEMBER_ID_BYTES_MAX)                                 \
    F(U64, generation, 0)

/* generation != the member's: its assignment changed, SYNC_GROUP now. */
#define WIRE_HEARTBEAT_RESP_FIELDS(F) F(U64, generation, 0)

#define WIRE_LEAVE_GROUP_REQ_FIELDS(F)                                          \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STR, member_id, WIRE_MEMBER_ID_BYTES_MAX)

/* LIST_GROUPS has an empty request body. */
#define WIRE_LIST_GROUPS_RESP_FIELDS(F) F(ARRAY, groups, group_summary)

#define WIRE_DESCRIBE_GROUP_REQ_FIELDS(F) F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)

#define WIRE_DESCRIBE_GROUP_RESP_FIELDS(F)                                      \
    F(STR, group, WIRE_GROUP_NAME_BYTES_MAX)                                    \
    F(STR, state, WIRE_STRING_BYTES_MAX)                                        \
    F(U64, generation, 0)                                                       \
    F(ARRAY, members, group_member)                                             \
    F(ARRAY, offsets, partition_offset) /* every committed offset */

/* ---- peer (Raft) messages ----------------------------------------------- */

/* Every peer body starts with group, from, to, term. */
#define WIRE_PEER_HEADER_FIELDS(F)                                              \
    F(U64, group, 0) /* Raft group: 0 metadata, else a partition's group */     \
    F(U32, from, 0)                                                             \
    F(U32, to, 0)                                                               \
    F(U64, term, 0)

#define WIRE_APPEND_ENTRIES_REQ_FIELDS(F)                                       \
    WIRE_PEER_HEADER_FIELDS(F)                                                  \
    F(U64, prev_log_index, 0)                                                   \
    F(U64, prev_log_term, 0)                                                    \
    F(U64, leader_commit, 0)                                                    \
    F(ARRAY, entries, entry) /* indexes prev_log_index + 1, + 2, ... */

#define WIRE_APPEND_ENTRIES_RESP_FIELDS(F)                                      \
    WIRE_PEER_HEADER_FIELDS(F)                                                  \
    F(BOOL, success, 0)                                                         \
    F(U64, match_index, 0) /* success: last matching index; else prev index */ \
    F(U64, conflict_index, 0) /* on rejection: where the leader may retry */    \
    F(U64, conflict_term, 0) /* on rejection: term at conflict_index, or 0 */

#define WIRE_REQUEST_VOTE_REQ_FIELDS(F)                                         \
    WIRE_PEER_HEADER_FIELDS(F)                                                  \
    F(U64, last_log_index, 0)                                                   \
    F(U64, last_log_term, 0)                                                    \
    F(BOOL, pre_vote, 0)                                                        \
    F(BOOL, leadership_transfer, 0)

#define WIRE_REQUEST_VOTE_RESP_FIELDS(F)                                        \
    WIRE_PEER_HEADER_FIELDS(F)                                                  \
    F(BOOL, granted, 0)                                                         \
    F(BOOL, pre_vote, 0)

#define WIRE_INSTALL_SNAPSHOT_REQ_FIELDS(F)                                     \
    WIRE_PEER_HEADER_FIELDS(F)                                                  \
    F(U64, last_index, 0)                                                       \
    F(U64, last_term, 0)                                                        \
    F(ARRAY, configuration, member)                                             \
    F(U64, offset, 0) /* byte offset of this chunk in the snapshot */           \
    F(BIN, data, WIRE_SNAPSHOT_CHUNK_BYTES_MAX)                                 \
    F(BOOL, done, 0)

#define WIRE_INSTALL_SNAPSHOT_RESP_FIELDS(F)                                    \
    WIRE_PEER_HEADER_FIELDS(F)                                                  \
    F(U64, last_index, 0)                                                       \
    F(U64, next_offset, 0) /* bytes of the snapshot received so far */

#define WIRE_TIMEOUT_NOW_REQ_FIELDS(F) WIRE_PEER_HEADER_FIELDS(F)

/* One Raft group the sender of a PEER_STATUS leads. */
#define WIRE_GROUP_LEADER_FIELDS(F)                                             \
    F(U64, group, 0)                                                            \
    F(U64, term, 0) /* the sender's term as that group's leader */

/* Sent by every broker to every peer about every 250 ms: liveness and leaders. */
#define WIRE_PEER_STATUS_REQ_FIELDS(F)                                          \
    F(U32, from, 0) /* sender's node id */                                      \
    F(U64, metadata_applied, 0) /* last metadata-group index it has applied */  \
    F(ARRAY, leaders, group_leader) /* the groups it leads right now */      \
    F(BOOL, stopping, 0) /* shutting down: hand it no leadership */

/* ---- error details: the body of a response whose error is not OK --------- */

#define WIRE_NOT_LEADER_DETAIL_FIELDS(F)                                        \
    F(U32, leader_id, 0) /* 0: unknown */                                       \
    F(STR, leader_address, WIRE_STRING_BYTES_MAX) /* client address, "" if unknown */

#define WIRE_OFFSET_RANGE_DETAIL_FIELDS(F)                                      \
    F(U64, log_start_offset, 0)                                                 \
    F(U64, high_watermark, 0)

/*
 * Every struct, dependencies first: S(name, FIELDS-list prefix).
 * Generates struct wire_<name> with the fields above.
 */
#define WIRE_STRUCTS(S)                                    \
    S(broker, WIRE_BROKER)                                 \
    S(partition_meta, WIRE_PARTITION_META)                 \
    S(topic_meta, WIRE_TOPIC_META)                         \
    S(broker_status, WIRE_BROKER_STATUS)                   \
    S(replica_status, WIRE_REPLICA_STATUS)                 \
    S(group_status, WIRE_GROUP_STATUS)                     \
    S(entry, WIRE_ENTRY)                                   \
    S(member, WIRE_MEMBER)                                 \
    S(topic_partition, WIRE_TOPIC_PARTITION)               \
    S(partition_offset, WIRE_PARTITION_OFFSET)             \
    S(group_member, WIRE_GROUP_MEMBER)                     \
    S(group_summary, WIRE_GROUP_SUMMARY)                   \
    S(metadata_req, WIRE_METADATA_REQ)                     \
    S(metadata_resp, WIRE_METADATA_RESP)                   \
    S(create_topic_req, WIRE_CREATE_TOPIC_REQ)             \
    S(delete_topic_req, WIRE_DELETE_TOPIC_REQ)             \
    S(produce_req, WIRE_PRODUCE_REQ)                       \
    S(produce_resp, WIRE_PRODUCE_RESP)                     \
    S(fetch_req, WIRE_FETCH_REQ)                           \
    S(fetch_resp, WIRE_FETCH_RESP)                         \
    S(list_offsets_req, WIRE_LIST_OFFSETS_REQ)             \
    S(list_offsets_resp, WIRE_LIST_OFFSETS_RESP)           \
    S(cluster_status_resp, WIRE_CLUSTER_STATUS_RESP)       \
    S(init_producer_id_resp, WIRE_INIT_PRODUCER_ID_RESP)   \
    S(offset_commit_req, WIRE_OFFSET_COMMIT_REQ)           \
    S(offset_fetch_req, WIRE_OFFSET_FETCH_REQ)             \
    S(offset_fetch_resp, WIRE_OFFSET_FETCH_RESP)           \
    S(join_group_req, WIRE_JOIN_GROUP_REQ)                 \
    S(join_group_resp, WIRE_JOIN_GROUP_RESP)               \
    S(sync_group_req, WIRE_SYNC_GROUP_REQ)                 \
    S(sync_group_resp, WIRE_SYNC_GROUP_RESP)               \
    S(heartbeat_req, WIRE_HEARTBEAT_REQ)                   \
    S(heartbeat_resp, WIRE_HEARTBEAT_RESP)                 \
    S(leave_group_req, WIRE_LEAVE_GROUP_REQ)               \
    S(list_groups_resp, WIRE_LIST_GROUPS_RESP)             \
    S(describe_group_req, WIRE_DESCRIBE_GROUP_REQ)         \
    S(describe_group_resp, WIRE_DESCRIBE_GROUP_RESP)       \
    S(append_entries_req, WIRE_APPEND_ENTRIES_REQ)         \
    S(append_entries_resp, WIRE_APPEND_ENTRIES_RESP)       \
    S(request_vote_req, WIRE_REQUEST_VOTE_REQ)             \
    S(request_vote_resp, WIRE_REQUEST_VOTE_RESP)           \
    S(install_snapshot_req, WIRE_INSTALL_SNAPSHOT_REQ)     \
    S(install_snapshot_resp, WIRE_INSTALL_SNAPSHOT_RESP)   \
    S(timeout_now_req, WIRE_TIMEOUT_NOW_REQ)               \
    S(group_leader, WIRE_GROUP_LEADER)                     \
    S(peer_status_req, WIRE_PEER_STATUS_REQ)               \
    S(not_leader_detail, WIRE_NOT_LEADER_DETAIL)           \
    S(offset_range_detail, WIRE_OFFSET_RANGE_DETAIL)

/*
 * Frame types: M(NAME, number, request struct, response struct). The
 * response to type N has type N | WIRE_RESPONSE_BIT. `empty` is a body with
 * no fields (an empty array). Numbers are part of the protocol: never reuse.
 *   1..31   client requests (9..16: the consumer-group requests, kept
 *           contiguous for wire_type_is_group_request)
 *   32..63  peer (broker-to-broker) messages
 * One-way messages (WIRE_ONE_WAY_MESSAGES) have no response: their
 * response type number is reserved and no decoder accepts it.
 */
#define WIRE_MESSAGES(M)                                                            \
    M(METADATA, 1, metadata_req, metadata_resp)                                     \
    M(CREATE_TOPIC, 2, create_topic_req, empty)                                     \
    M(DELETE_TOPIC, 3, delete_topic_req, empty)                                     \
    M(PRODUCE, 4, produce_req, produce_resp)                                        \
    M(FETCH, 5, fetch_req, fetch_resp)                                              \
    M(LIST_OFFSETS, 6, list_offsets_req, list_offsets_resp)                         \
    M(CLUSTER_STATUS, 7, empty, cluster_status_resp)                                \
    M(INIT_PRODUCER_ID, 8, empty, init_producer_id_resp)                            \
    M(OFFSET_COMMIT, 9, offset_commit_req, empty)                                   \
    M(OFFSET_FETCH, 10, offset_fetch_req, offset_fetch_resp)                        \
    M(JOIN_GROUP, 11, join_group_req, join_group_resp)                              \
    M(SYNC_GROUP, 12, sync_group_req, sync_group_resp)                              \
    M(HEARTBEAT, 13, heartbeat_req, heartbeat_resp)                                 \
    M(LEAVE_GROUP, 14, leave_group_req, empty)                                      \
    M(LIST_GROUPS, 15, empty, list_groups_resp)                                     \
    M(DESCRIBE_GROUP, 16, describe_group_req, describe_group_resp)                  \
    M(APPEND_ENTRIES, 32, append_entries_req, append_entries_resp)                  \
    M(REQUEST_VOTE, 33, request_vote_req, request_vote_resp)                        \
    M(INSTALL_SNAPSHOT, 34, install_snapshot_req, install_snapshot_resp)            \
    M(TIMEOUT_NOW, 35, timeout_now_req, empty)                                      \
    M(PEER_STATUS, 36, peer_status_req, empty)

#define WIRE_ONE_WAY_MESSAGES(O) O(TIMEOUT_NOW) O(PEER_STATUS)

/*
 * Error details: E(ERROR NAME, detail struct). A response whose error has a
 * detail struct carries it as its body; any other error response has nil.
 */
#define WIRE_ERROR_DETAILS(E)                          \
    E(NOT_LEADER, not_leader_detail)                   \
    E(OFFSET_OUT_OF_RANGE, offset_range_detail)

#endif
