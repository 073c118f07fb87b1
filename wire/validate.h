/* Checks of request meaning that every broker applies after a frame decoded: names, counts, ranges. */
#ifndef RAFTMQ_WIRE_VALIDATE_H
#define RAFTMQ_WIRE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "frame.h"

/*
 * The decoder bounds every string by WIRE_STRING_BYTES_MAX so that it can
 * say "too long" without knowing what a field means; the meaning-level
 * limits live here, where the answer is a request error such as
 * INVALID_TOPIC_NAME rather than a decoding error.
 */

/* 1..WIRE_TOPIC_NAME_BYTES_MAX bytes of [A-Za-z0-9._-], and not "." or "..". */
bool wire_topic_name_valid(const void *name, size_t len);

/*
 * A CREATE_TOPIC request: valid name; 1..WIRE_PARTITIONS_MAX partitions;
 * replication factor 1..WIRE_REPLICAS_MAX (the broker also checks it against
 * the cluster size); retention -1 (broker default) or positive. Returns
 * WIRE_OK or INVALID_TOPIC_NAME, INVALID_PARTITIONS,
 * INVALID_REPLICATION_FACTOR, INVALID_REQUEST, with a sentence in `why`.
 */
int wire_validate_create_topic(const struct wire_create_topic_req *req, char *why, size_t why_cap);

#endif
