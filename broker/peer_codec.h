/* The peer codec: Raft core messages (struct raft_msg) to and from peer wire frames. */
#ifndef RAFTMQ_BROKER_PEER_CODEC_H
#define RAFTMQ_BROKER_PEER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "wire/frame.h"

/*
 * The mapping is the table in docs/raft.md ("Mapping to the wire"):
 *
 *   APPEND                 APPEND_ENTRIES (32)          request
 *   APPEND_RESP            APPEND_ENTRIES_RESP (160)    response; also answers SNAPSHOT
 *   VOTE, PREVOTE          REQUEST_VOTE (33)            request, pre_vote = (PREVOTE)
 *   VOTE_RESP, PREVOTE_RESP REQUEST_VOTE_RESP (161)     response, pre_vote = (PREVOTE_RESP)
 *   SNAPSHOT               INSTALL_SNAPSHOT (34)        request, one per chunk
 *   TIMEOUT_NOW            TIMEOUT_NOW (35)             request, one-way
 *
 * Requests carry correlation_id 0 and responses error OK with an empty
 * error_message: Raft matches answers by term and index, not by id, and a
 * lost message is simply resent by the core.
 *
 * Raft group kinds: group 0 is the metadata group, every other group is a
 * partition. A RAFT_ENTRY_DATA entry is wire type 4 (metadata operation) in
 * group 0 and type 1 (record batch) elsewhere; NOOP is 3, CONFIG is 2.
 *
 * Server ids: the core's ids are 64-bit, the wire's `from`/`to` and member
 * ids 32-bit and non-zero, so the broker's node ids must fit in 1..2^32-1;
 * the encoder refuses others (WIRE_ERR_BAD_VALUE).
 */

/* Wire entry types (the `type` of an `entry`, docs/protocol.md). */
enum peer_entry_type {
    PEER_ENTRY_BATCH = 1,       /* RAFT_ENTRY_DATA in a partition's group */
    PEER_ENTRY_CONFIG = 2,      /* RAFT_ENTRY_CONFIG */
    PEER_ENTRY_NOOP = 3,        /* RAFT_ENTRY_NOOP */
    PEER_ENTRY_METADATA_OP = 4, /* RAFT_ENTRY_DATA in the metadata group (0) */
};

/* A snapshot chunk travelling with RAFT_MSG_SNAPSHOT (install_snapshot_req offset/data/done). */
struct peer_snapshot_chunk {
    uint64_t offset; /* byte offset of `data` in the snapshot */
    struct wire_bytes data;
    bool done; /* the last chunk */
};

/*
 * Appends one frame for m, addressed to Raft group `group`, to w. Several
 * frames share one ZeroMQ message: the broker coalesces everything for the
 * same peer per loop turn (docs/protocol.md, "Peer traffic").
 *
 * metadata_group must equal (group == 0): it selects the wire type of
 * RAFT_ENTRY_DATA entries, and a frame whose entry types do not fit its
 * group would be refused by every receiver. For RAFT_MSG_SNAPSHOT, chunk
 * (may be NULL: offset 0, no data, done) is the piece of snapshot content
 * to send with the metadata in m->snapshot.
 *
 * Returns WIRE_OK, or:
 *   WIRE_ERR_BUFFER_FULL      w cannot hold the frame
 *   WIRE_ERR_FRAME_TOO_LARGE  the frame would exceed WIRE_FRAME_BYTES_MAX
 *   WIRE_ERR_LIMIT_EXCEEDED   more than WIRE_ARRAY_ITEMS_MAX entries, a chunk over
 *                             WIRE_SNAPSHOT_CHUNK_BYTES_MAX
 *   WIRE_ERR_BAD_VALUE        m cannot be expressed on the wire: unknown type,
 *                             from/to or a member id outside 1..UINT32_MAX,
 *                             unknown entry type, entries not at index+1, +2, ...,
 *                             more than RAFT_SERVERS_MAX members, metadata_group
 *                             != (group == 0)
 * On any error w is as it was before the call (its earlier frames intact).
 */
int peer_encode(struct wire_writer *w, uint64_t group, bool metadata_group, const struct raft_msg *m,
                const struct peer_snapshot_chunk *chunk);

/*
 * Converts a decoded peer frame (wire_frame_decode) into m for raft_step.
 *
 * Entries go into the caller's array entries[0..entries_cap): entry i gets
 * index prev_log_index + 1 + i, and its data points into the buffer the
 * frame was decoded from, so that buffer must outlive m (raft_step copies
 * what it keeps). For INSTALL_SNAPSHOT, *chunk (if not NULL) receives the
 * chunk; its data points into the same buffer. *group receives the Raft group.
 *
 * Checks beyond what the frame decoder checked, each a WIRE_ERR_BAD_VALUE
 * unless noted:
 *   - the type is one peer_frame_is_raft accepts (else WIRE_ERR_UNKNOWN_TYPE);
 *   - a response frame has error OK (an error response carries no Raft message);
 *   - from and to are non-zero;
 *   - entry types fit the group: 4 only in group 0, 1 only in other groups,
 *     2 and 3 anywhere; a no-op (3) has an empty payload; a config (2)
 *     payload decodes (raft_config_decode);
 *   - more entries than entries_cap: WIRE_ERR_LIMIT_EXCEEDED;
 *   - prev_log_index + entries and snapshot offset + chunk length do not
 *     overflow 64 bits;
 *   - a snapshot configuration has at most RAFT_SERVERS_MAX members
 *     (WIRE_ERR_LIMIT_EXCEEDED), with non-zero, distinct ids.
 * The Raft core still validates the message's Raft meaning (terms, its own
 * id, entry sizes against its options) in raft_step.
 *
 * Returns WIRE_OK (why, if not NULL, is set to "") or an error with a
 * one-sentence reason in why (always NUL-terminated when why_cap > 0). On
 * error, *m, *group and *chunk hold nothing usable.
 */
int peer_decode(const struct wire_frame *f, struct raft_msg *m, struct raft_entry *entries, size_t entries_cap,
                uint64_t *group, struct peer_snapshot_chunk *chunk, char *why, size_t why_cap);

/*
 * True for the frame types peer_decode accepts: APPEND_ENTRIES and its
 * response, REQUEST_VOTE and its response, INSTALL_SNAPSHOT, TIMEOUT_NOW.
 * INSTALL_SNAPSHOT_RESP and PEER_STATUS are peer frames the broker handles
 * itself (the core answers a snapshot with APPEND_RESP).
 */
bool peer_frame_is_raft(uint32_t type);

/*
 * Appends a PEER_STATUS frame (docs/protocol.md): `from` (non-zero, else
 * WIRE_ERR_BAD_VALUE), the sender's applied metadata-group index, and the n
 * groups it leads with its term in each. Errors as wire_frame_encode; w is
 * unchanged on error.
 */
int peer_encode_status(struct wire_writer *w, uint32_t from, uint64_t metadata_applied,
                       const struct wire_group_leader *leaders, uint32_t n, bool stopping);

#endif
