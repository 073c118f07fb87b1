/* Cluster configurations: lookup and the CONFIG entry payload (diss. §4). */
#include <string.h>

#include "raft.h"

/*
 * Payload layout (all big-endian): u32 server count, then per server u64 id
 * and u8 role. Fixed-size fields keep the decoder trivial to bound.
 */
static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

size_t raft_config_encode(const struct raft_config *c, uint8_t out[RAFT_CONFIG_ENCODED_MAX])
{
    put_u32(out, c->n);
    size_t pos = 4;
    for (uint32_t i = 0; i < c->n && i < RAFT_SERVERS_MAX; i++) {
        put_u64(out + pos, c->servers[i].id);
        out[pos + 8] = c->servers[i].role;
        pos += 9;
    }
    return pos;
}

int raft_config_decode(const void *buf, size_t len, struct raft_config *out)
{
    const uint8_t *p = buf;
    if (len < 4)
        return RAFT_EMALFORMED;
    uint64_t n = get_be(p, 4);
    if (n > RAFT_SERVERS_MAX || len != 4 + n * 9)
        return RAFT_EMALFORMED;
    struct raft_config c;
    memset(&c, 0, sizeof(c));
    c.n = (uint32_t)n;
    for (uint32_t i = 0; i < c.n; i++) {
        const uint8_t *s = p + 4 + (size_t)i * 9;
        c.servers[i].id = get_be(s, 8);
        c.servers[i].role = s[8];
        if (c.servers[i].id == 0 || c.servers[i].role > RAFT_LEARNER)
            return RAFT_EMALFORMED;
        for (uint32_t j = 0; j < i; j++)
            if (c.servers[j].id == c.servers[i].id)
                return RAFT_EMALFORMED;
    }
    *out = c;
    return 0;
}

const struct raft_server *raft_config_find(const struct raft_config *c, raft_id_t id)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->servers[i].id == id)
            return &c->servers[i];
    return NULL;
}

uint32_t raft_config_voters(const struct raft_config *c)
{
    uint32_t voters = 0;
    for (uint32_t i = 0; i < c->n; i++)
        voters += c->servers[i].role == RAFT_VOTER;
    return voters;
}
