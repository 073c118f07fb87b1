/*
 * libFuzzer target: the frame decoder on arbitrary bytes.
 *
 * Decodes every frame of the input the way a broker reads one ZeroMQ
 * message. Whatever decodes must re-encode, and that encoding must decode
 * and re-encode to itself byte for byte (the codec is a bijection on what it
 * accepts, up to msgpack's choice of integer widths and trailing fields).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/frame.h"

/* -max_len is 65536 in the Makefile; the arena covers inputs up to that. */
static uint8_t arena_mem[65536 * WIRE_ARENA_BYTES_PER_INPUT_BYTE];
static uint8_t first[1 << 20];
static uint8_t second[1 << 20];

static size_t reencode(const struct wire_frame *f, uint8_t *out, size_t cap, int *rc)
{
    struct wire_writer w;
    wire_writer_init(&w, out, cap);
    *rc = wire_frame_encode(&w, f);
    return w.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    if (size > 65536)
        return 0;
    for (int frames = 0; frames < 64 && off < size; frames++) {
        struct wire_arena arena;
        struct wire_frame f;
        size_t consumed = 0;
        char why[256];
        wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
        int rc = wire_frame_decode(data + off, size - off, &arena, &f, &consumed, why, sizeof(why));
        if (rc != WIRE_OK) {
            if (!wire_err_known(rc) || why[0] == '\0')
                __builtin_trap();
            /* The arena is WIRE_ARENA_BYTES_PER_INPUT_BYTE times any input: never short. */
            if (arena.exhausted)
                __builtin_trap();
            return 0;
        }
        if (consumed == 0 || consumed > size - off)
            __builtin_trap();
        off += consumed;

        int enc_rc;
        size_t len1 = reencode(&f, first, sizeof(first), &enc_rc);
        if (enc_rc != WIRE_OK)
            __builtin_trap(); /* what decodes within limits must encode */
        struct wire_frame g;
        wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
        if (wire_frame_decode(first, len1, &arena, &g, &consumed, NULL, 0) != WIRE_OK ||
            consumed != len1)
            __builtin_trap();
        size_t len2 = reencode(&g, second, sizeof(second), &enc_rc);
        if (enc_rc != WIRE_OK || len2 != len1 || memcmp(first, second, len1) != 0)
            __builtin_trap();
    }
    return 0;
}
