/* CRC-32C: SSE4.2 instruction when available, slicing-by-8 tables otherwise. */
#include "crc32c.h"

#include <string.h>

#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* table[k][b]: CRC of byte b followed by k zero bytes; built once, then read-only. */
static uint32_t crc_table[8][256];
static int crc_table_ready;

static void crc_table_build(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (CRC32C_POLY_REFLECTED & (0u - (c & 1u)));
        crc_table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xff];
    __atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t wire_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
    /* Building twice from two threads writes the same values: harmless. */
    if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE))
        crc_table_build();
    const uint8_t *p = buf;
    crc = ~crc;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8); /* little-endian hosts only: asserted below */
        word ^= crc;
        crc = crc_table[7][word & 0xff] ^ crc_table[6][(word >> 8) & 0xff] ^
              crc_table[5][(word >> 16) & 0xff] ^ crc_table[4][(word >> 24) & 0xff] ^
              crc_table[3][(word >> 32) & 0xff] ^ crc_table[2][(word >> 40) & 0xff] ^
              crc_table[1][(word >> 48) & 0xff] ^ crc_table[0][word >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the slicing-by-8 loop reads words little-endian");

#if defined(__x86_64__)
/*
 * The crc32 instruction has a latency of 3 cycles and a throughput of 1, so
 * a single dependency chain runs at a third of its peak. Long inputs are
 * therefore cut into blocks of 3 x STRIPE_BYTES processed as three
 * independent chains, which are then joined: by linearity of the CRC, the
 * register after A||B is shift(reg after A, |B|) ^ (reg over B from 0),
 * where shift appends |B| zero bytes. That shift is a fixed GF(2)-linear map
 * of the 32-bit register, tabulated per byte position at first use.
 */
#define STRIPE_BYTES 1024u

/* stripe_shift[k][b]: the register b << 8k, advanced over STRIPE_BYTES zero bytes. */
static uint32_t stripe_shift[4][256];
static int stripe_shift_ready;

/* 32x32 GF(2) matrices as 32 column images: m[i] is the image of bit i. */
static uint32_t gf2_apply(const uint32_t m[32], uint32_t v)
{
    uint32_t out = 0;
    for (int i = 0; v != 0; i++, v >>= 1)
        if (v & 1u)
            out ^= m[i];
    return out;
}

static void gf2_square(uint32_t out[32], const uint32_t m[32])
{
    for (int i = 0; i < 32; i++)
        out[i] = gf2_apply(m, m[i]);
}

static void stripe_shift_build(void)
{
    /* One zero byte: reg -> (reg >> 8) ^ T[reg & 0xff], i.e. eight zero bits. */
    uint32_t op[32], sq[32];
    for (int i = 0; i < 32; i++) {
        uint32_t c = 1u << i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (CRC32C_POLY_REFLECTED & (0u - (c & 1u)));
        op[i] = c;
    }
    /* STRIPE_BYTES is a power of two: square the one-byte operator log2 times. */
    _Static_assert((STRIPE_BYTES & (STRIPE_BYTES - 1)) == 0, "stripe is a power of two");
    for (uint32_t n = 1; n < STRIPE_BYTES; n <<= 1) {
        gf2_square(sq, op);
        memcpy(op, sq, sizeof(op));
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++)
            stripe_shift[k][b] = gf2_apply(op, b << (8 * k));
    __atomic_store_n(&stripe_shift_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t stripe_shift_apply(uint32_t c)
{
    return stripe_shift[0][c & 0xff] ^ stripe_shift[1][(c >> 8) & 0xff] ^
           stripe_shift[2][(c >> 16) & 0xff] ^ stripe_shift[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
                                                               size_t len)
{
    uint64_t c = ~crc;
    while (len > 0 && ((uintptr_t)p & 7u) != 0) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    if (len >= 3 * STRIPE_BYTES) {
        /* Building twice from two threads writes the same values: harmless. */
        if (!__atomic_load_n(&stripe_shift_ready, __ATOMIC_ACQUIRE))
            stripe_shift_build();
        do {
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < STRIPE_BYTES; i += 8) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p + i, 8);
                memcpy(&w1, p + STRIPE_BYTES + i, 8);
                memcpy(&w2, p + 2 * STRIPE_BYTES + i, 8);
                c = __builtin_ia32_crc32di(c, w0);
                c1 = __builtin_ia32_crc32di(c1, w1);
                c2 = __builtin_ia32_crc32di(c2, w2);
            }
            c = stripe_shift_apply((uint32_t)c) ^ (uint32_t)c1;
            c = stripe_shift_apply((uint32_t)c) ^ (uint32_t)c2;
            p += 3 * STRIPE_BYTES;
            len -= 3 * STRIPE_BYTES;
        } while (len >= 3 * STRIPE_BYTES);
    }
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

static int cpu_has_sse42(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
    return wire_crc32c_portable(crc, p, len);
}
static int cpu_has_sse42(void)
{
    return 0;
}
#endif

/* -1 unknown, 0 portable, 1 SSE4.2; decided once. */
static int hw_state = -1;

static int use_hw(void)
{
    int s = __atomic_load_n(&hw_state, __ATOMIC_RELAXED);
    if (s < 0) {
        s = cpu_has_sse42();
        __atomic_store_n(&hw_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

int wire_crc32c_hw(uint32_t crc, const void *buf, size_t len, uint32_t *crc_out)
{
    if (!use_hw())
        return 0;
    *crc_out = crc32c_sse42(crc, buf, len);
    return 1;
}

uint32_t wire_crc32c(uint32_t crc, const void *buf, size_t len)
{
    if (use_hw())
        return crc32c_sse42(crc, buf, len);
    return wire_crc32c_portable(crc, buf, len);
}

const char *wire_crc32c_impl(void)
{
    return use_hw() ? "sse4.2" : "portable";
}
