/* Big-endian loads and stores of 1..8 bytes: msgpack's byte order, shared by the reader and the batch header. */
#ifndef RAFTMQ_WIRE_BYTEORDER_H
#define RAFTMQ_WIRE_BYTEORDER_H

#include <stdint.h>

static inline uint64_t wire_load_be(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline void wire_store_be(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned i = width; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

#endif
