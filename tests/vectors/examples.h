/* One canonical example frame per frame type (and per error detail): the source of the golden vectors. */
#ifndef RAFTMQ_TESTS_VECTORS_EXAMPLES_H
#define RAFTMQ_TESTS_VECTORS_EXAMPLES_H

#include <stddef.h>

#include "wire/frame.h"

struct wire_example {
    const char *name; /* also the vector's file name: tests/vectors/<name>.hex */
    void (*build)(struct wire_frame *f);
};

extern const struct wire_example wire_examples[];
extern const size_t wire_examples_count;

/* Reads tests/vectors/<name>.hex into buf; returns the byte count or -1. */
long wire_example_read_vector(const char *dir, const char *name, unsigned char *buf, size_t cap);
/* Writes buf as lowercase hex, 32 bytes a line. Returns 0 or -1. */
int wire_example_write_vector(const char *dir, const char *name, const unsigned char *buf,
                              size_t len);

#endif
