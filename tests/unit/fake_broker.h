/* A fake broker for unit tests: a ROUTER on a free 127.0.0.1 port whose thread decodes each request frame and lets the test answer it. */
#ifndef RAFTMQ_TESTS_FAKE_BROKER_H
#define RAFTMQ_TESTS_FAKE_BROKER_H

#include <pthread.h>
#include <stdint.h>

#include "wire/frame.h"
#include "wire/mp.h"

/* Encodes the answer to `req` into `w` (or nothing: no answer). Runs on the fake's thread. */
typedef void fake_broker_answer_fn(void *user, const struct wire_frame *req, struct wire_writer *w);

struct fake_broker {
    char endpoint[128]; /* "tcp://127.0.0.1:PORT", set by fake_broker_start */
    /* private */
    void *ctx;
    void *router;
    pthread_t thread;
    volatile int stop;
    fake_broker_answer_fn *answer;
    void *user;
    uint8_t *arena; /* decoded request frames */
    uint8_t *out;   /* one answer message */
};

/*
 * Encodes into `w` the METADATA answer of a one-broker cluster: this fake
 * (node 1) is controller and leader (term 1) of `topic`'s one partition.
 */
void fake_broker_answer_metadata(const struct fake_broker *fb, const struct wire_frame *req,
                                 const char *topic, struct wire_writer *w);

/* The same with `partitions` partitions (at most 64), all led by this fake. */
void fake_broker_answer_metadata_n(const struct fake_broker *fb, const struct wire_frame *req,
                                   const char *topic, uint32_t partitions, struct wire_writer *w);

/* Binds, then answers every message's frames in one message, until fake_broker_stop. */
void fake_broker_start(struct fake_broker *fb, fake_broker_answer_fn *answer, void *user);
void fake_broker_stop(struct fake_broker *fb);

#endif
