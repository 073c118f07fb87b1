/* What consumer.c (fetching, polling) and group.c (consumer groups) of libraftmq call in each other; not public. */
#ifndef RAFTMQ_CONSUMERS_CONSUMER_INTERNAL_H
#define RAFTMQ_CONSUMERS_CONSUMER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "wire/client.h"
#include "wire/raftmq.h"

/*
 * Names start with rmq_: the shared library keeps them local (its version
 * script exports raftmq_* only), and they stay out of the way of an
 * application's names in the static one.
 */

struct group;

/* ---- consumer.c, for group.c (main thread only) ---- */

struct group *rmq_consumer_group(const raftmq_consumer *c);
void rmq_consumer_set_group(raftmq_consumer *c, struct group *g);
struct wire_client *rmq_consumer_client(raftmq_consumer *c);
const struct raftmq_consumer_config *rmq_consumer_config(const raftmq_consumer *c);
int rmq_consumer_fail(raftmq_consumer *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Partitions assigned at all (by assign or by the group). */
uint32_t rmq_consumer_assigned_count(const raftmq_consumer *c);
/* assign / unassign without the "subscribed" refusal: what the group uses. */
int rmq_consumer_assign_at(raftmq_consumer *c, const char *topic, int32_t partition, int64_t start);
int rmq_consumer_unassign_any(raftmq_consumer *c, const char *topic, int32_t partition);
/* Asks for a METADATA refresh at the next network step (it names the controller). */
void rmq_consumer_want_refresh(raftmq_consumer *c);

/* ---- group.c, for consumer.c ---- */

/* Inside a callback: poll, unsubscribe and close refuse. */
bool rmq_group_in_callback(const struct group *g);
/* At the start of poll: notes the poll time, reconciles the assignment, auto-commits. */
void rmq_group_poll_begin(raftmq_consumer *c, struct group *g);
/* The background thread changed something the main thread must act on. */
bool rmq_group_attention(struct group *g);
/* After a network step: async commits due to be (re)sent, outcomes to report. */
void rmq_group_after_network(raftmq_consumer *c, struct group *g);
/* True for a pipelined reply that belongs to the group (an async OFFSET_COMMIT). */
bool rmq_group_owns_reply(const struct wire_client_reply *r);
void rmq_group_on_reply(raftmq_consumer *c, struct group *g, const struct wire_client_reply *r);

#endif
