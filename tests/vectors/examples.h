/* One canonical example frame per frame type (and per error detail): the source of the golden vectors. */
#ifndef RAFTMQ_TESTS_VECTORS_EXAMPLES_H
#define RAFTMQ_TESTS_VECTORS_EXAMPLES_H

#include <stdbool.h>
#include <stddef.h>

#include "wire/batch.h"
#include "wire/frame.h"

struct wire_example {
    const char *name; /* also the vector's file name: tests/vectors/<name>.hex */
    void (*build)(struct wire_frame *f);
};

extern const struct wire_example wire_examples[];
extern const size_t wire_examples_count;

/*
 * Example record batches, built with the batch builder into buf (cap bytes,
 * at least WIRE_EXAMPLE_BATCH_BYTES). Returns the batch or {NULL, 0}.
 */
#define WIRE_EXAMPLE_BATCH_BYTES 4096u
struct wire_batch_example {
    const char *name; /* tests/vectors/<name>.hex */
    struct wire_bytes (*build)(uint8_t *buf, size_t cap);
    /* The LZ4 library may compress differently in another version, so for
     * these the test compares the header and the records, not every byte. */
    bool compressed;
};

extern const struct wire_batch_example wire_batch_examples[];
extern const size_t wire_batch_examples_count;

/* Reads tests/vectors/<name>.hex into buf; returns the byte count or -1. */
long wire_example_read_vector(const char *dir, const char *name, unsigned char *buf, size_t cap);
/* Writes buf as lowercase hex, 32 bytes a line. Returns 0 or -1. */
int wire_example_write_vector(const char *dir, const char *name, const unsigned char *buf,
                              size_t len);

#endif
