/*
 * libFuzzer target: the broker's peer codec (broker/peer_codec.c) on
 * arbitrary bytes, as a broker reads one peer message.
 *
 * Every frame that decodes and converts to a struct raft_msg must convert
 * back to a frame (peer_encode) that decodes and converts to the same
 * message: what the codec accepts, it can also send.
 */
#include <stdint.h>
#include <string.h>

#include "broker/peer_codec.h"
#include "wire/frame.h"

static uint8_t arena_mem[65536 * WIRE_ARENA_BYTES_PER_INPUT_BYTE];
static uint8_t arena_mem2[65536 * WIRE_ARENA_BYTES_PER_INPUT_BYTE];
static uint8_t out[1 << 20];
static struct raft_entry entries[4096];
static struct raft_entry entries2[4096];

static void same_msg(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->type != b->type || a->reject != b->reject || a->from != b->from || a->to != b->to ||
        a->term != b->term || a->n_entries != b->n_entries)
        __builtin_trap();
    for (uint32_t i = 0; i < a->n_entries; i++)
        if (a->entries[i].index != b->entries[i].index || a->entries[i].term != b->entries[i].term ||
            a->entries[i].type != b->entries[i].type || a->entries[i].len != b->entries[i].len ||
            memcmp(a->entries[i].data, b->entries[i].data, a->entries[i].len) != 0)
            __builtin_trap();
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
        wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
        if (wire_frame_decode(data + off, size - off, &arena, &f, &consumed, NULL, 0) != WIRE_OK)
            return 0;
        off += consumed;
        if (!peer_frame_is_raft(f.type))
            continue;
        struct raft_msg m;
        uint64_t group = 0;
        struct peer_snapshot_chunk chunk;
        char why[256];
        if (peer_decode(&f, &m, entries, 4096, &group, &chunk, why, sizeof why) != WIRE_OK)
            continue;
        struct wire_writer w;
        wire_writer_init(&w, out, sizeof out);
        int rc = peer_encode(&w, group, group == 0, &m, m.type == RAFT_MSG_SNAPSHOT ? &chunk : NULL);
        if (rc != WIRE_OK)
            __builtin_trap(); /* accepted on input, so it must be sendable */
        struct wire_arena arena2;
        struct wire_frame f2;
        size_t consumed2 = 0;
        wire_arena_init(&arena2, arena_mem2, sizeof(arena_mem2));
        if (wire_frame_decode(out, w.len, &arena2, &f2, &consumed2, NULL, 0) != WIRE_OK ||
            consumed2 != w.len)
            __builtin_trap();
        struct raft_msg m2;
        uint64_t group2 = 0;
        if (peer_decode(&f2, &m2, entries2, 4096, &group2, NULL, why, sizeof why) != WIRE_OK ||
            group2 != group)
            __builtin_trap();
        same_msg(&m, &m2);
    }
    return 0;
}
