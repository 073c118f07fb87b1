/*
 * raftmq-wire-vectors: writes the golden frame vectors from the examples.
 * Run it only when a protocol change is intended, then review the diff of
 * tests/vectors/ and update docs/protocol.md.
 *
 * Usage: raftmq-wire-vectors [DIR]   (default: tests/vectors of the source tree)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples.h"

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: raftmq-wire-vectors [DIR]\n"
               "Encodes every example frame and batch of tests/vectors/examples.c and writes DIR/<name>.hex\n"
               "(default DIR: %s/tests/vectors). Only for intended protocol changes.\n",
               RAFTMQ_SOURCE_DIR);
        return 0;
    }
    const char *dir = argc > 1 ? argv[1] : RAFTMQ_SOURCE_DIR "/tests/vectors";
    static uint8_t buf[64 * 1024];
    for (size_t i = 0; i < wire_examples_count; i++) {
        struct wire_frame f;
        struct wire_writer w;
        wire_examples[i].build(&f);
        wire_writer_init(&w, buf, sizeof(buf));
        int rc = wire_frame_encode(&w, &f);
        if (rc != WIRE_OK) {
            fprintf(stderr, "%s: encode failed: %s\n", wire_examples[i].name, wire_strerror(rc));
            return 1;
        }
        if (wire_example_write_vector(dir, wire_examples[i].name, buf, w.len) != 0) {
            fprintf(stderr, "%s: cannot write into %s\n", wire_examples[i].name, dir);
            return 1;
        }
        printf("%-28s %4zu bytes\n", wire_examples[i].name, w.len);
    }
    for (size_t i = 0; i < wire_batch_examples_count; i++) {
        struct wire_bytes batch = wire_batch_examples[i].build(buf, sizeof(buf));
        if (batch.ptr == NULL) {
            fprintf(stderr, "%s: building the batch failed\n", wire_batch_examples[i].name);
            return 1;
        }
        if (wire_example_write_vector(dir, wire_batch_examples[i].name, batch.ptr, batch.len) != 0) {
            fprintf(stderr, "%s: cannot write into %s\n", wire_batch_examples[i].name, dir);
            return 1;
        }
        printf("%-28s %4u bytes\n", wire_batch_examples[i].name, batch.len);
    }
    return 0;
}
