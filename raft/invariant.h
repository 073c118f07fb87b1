/* Invariant checks of the Raft core: on in every build, NDEBUG or not. */
#ifndef RAFTMQ_RAFT_INVARIANT_H
#define RAFTMQ_RAFT_INVARIANT_H

#include <stdio.h>
#include <stdlib.h>

/*
 * A broken invariant means the core's state can no longer be trusted, and
 * going on could acknowledge what is not replicated: stop the process
 * (TigerBeetle style). Input from the network is never checked with this;
 * it is validated and refused with RAFT_EMALFORMED instead.
 */
#define RAFT_ASSERT(cond)                                                                 \
    ((cond) ? (void)0                                                                     \
            : (fprintf(stderr, "raft: invariant failed: %s (%s:%d, %s)\n", #cond, __FILE__, \
                       __LINE__, __func__),                                               \
               abort()))

#endif
