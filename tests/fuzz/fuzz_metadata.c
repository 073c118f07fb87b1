/*
 * libFuzzer target: the metadata state machine (broker/metadata.c) applying
 * an arbitrary committed op, as every broker does with the metadata log.
 *
 * Whatever the bytes, md_apply must not crash, and when it reports an
 * error (or refuses the op) the state must be exactly as before: same
 * topics, same partitions and replicas, same committed offsets.
 */
#include <stdint.h>
#include <string.h>

#include "broker/metadata.h"

static uint64_t fingerprint(const struct md_state *s)
{
    uint64_t h = 1469598103934665603ull;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ull)
    MIX(md_topic_count(s));
    for (uint32_t i = 0; i < md_topic_count(s); i++) {
        const struct md_topic *t = md_topic_at(s, i);
        MIX(t->id);
        MIX(t->n_partitions);
        for (const char *c = t->name; *c != '\0'; c++)
            MIX(*c);
        for (uint32_t p = 0; p < t->n_partitions; p++)
            for (uint32_t r = 0; r < t->partitions[p].n_replicas; r++)
                MIX(t->partitions[p].replicas[r]);
    }
    MIX(md_offset_group_count(s));
    for (uint32_t i = 0; i < md_offset_group_count(s); i++) {
        const struct md_offset_group *g = md_offset_group_at(s, i);
        for (uint32_t k = 0; k < g->name_len; k++)
            MIX(g->name[k]);
        for (uint32_t k = 0; k < g->count; k++) {
            MIX(g->offsets[k].topic_id);
            MIX(g->offsets[k].partition);
            MIX(g->offsets[k].offset);
        }
    }
#undef MIX
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct md_state s;
    md_init(&s);
    /* A state with one topic, so deletes and duplicate creates have a target:
     * [1, 1, "t", 2, 1, -1, -1, [[1], [2]]] at index 1. */
    static const uint8_t seed_op[] = {0x98, 0x01, 0x01, 0xa1, 't', 0x02, 0x01, 0xff, 0xff,
                                      0x92, 0x91, 0x01, 0x91, 0x02};
    struct md_apply_result res;
    if (md_apply(&s, 1, seed_op, sizeof seed_op, &res) != WIRE_OK || res.error != WIRE_OK)
        __builtin_trap();
    /* ...and a committed offset, so a commit can go backwards or a delete clean up:
     * [1, 4, "g", false, [[1, 0, 5]]] at index 2. */
    static const uint8_t seed_commit[] = {0x95, 0x01, 0x04, 0xa1, 'g', 0xc2,
                                          0x91, 0x93, 0x01, 0x00, 0x05};
    if (md_apply(&s, 2, seed_commit, sizeof seed_commit, &res) != WIRE_OK || res.error != WIRE_OK)
        __builtin_trap();
    /* The input may hold several ops separated by nothing: apply it whole,
     * then again (the second time at a later index). */
    for (uint64_t index = 3; index <= 4; index++) {
        uint64_t before = fingerprint(&s);
        memset(&res, 0, sizeof res);
        int rc = md_apply(&s, index, data, size, &res);
        if (rc != WIRE_OK || res.error != WIRE_OK) {
            if (fingerprint(&s) != before)
                __builtin_trap();
            continue;
        }
        if (res.removed != NULL)
            md_topic_free(res.removed);
    }
    md_free(&s);
    return 0;
}
