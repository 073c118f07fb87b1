/*
 * Tests of CRC-32C: both implementations against the published vectors
 * (RFC 3720 B.4 and the "123456789" check value), against each other at
 * every length and alignment, and incremental use.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "suites.h"
#include "wire/crc32c.h"

/* Runs the hardware version if this CPU has it, else returns the portable result. */
static uint32_t crc_hw_or_portable(uint32_t crc, const void *buf, size_t len)
{
    uint32_t out;
    if (wire_crc32c_hw(crc, buf, len, &out))
        return out;
    return wire_crc32c_portable(crc, buf, len);
}

static void check_vector(const void *buf, size_t len, uint32_t expected)
{
    ck_assert_uint_eq(wire_crc32c_portable(0, buf, len), expected);
    ck_assert_uint_eq(crc_hw_or_portable(0, buf, len), expected);
    ck_assert_uint_eq(wire_crc32c(0, buf, len), expected);
}

START_TEST(known_vectors)
{
    uint8_t buf[32];
    check_vector("123456789", 9, 0xE3069283u);
    check_vector("", 0, 0x00000000u);
    memset(buf, 0, sizeof(buf));
    check_vector(buf, 32, 0x8A9136AAu); /* RFC 3720 B.4: 32 bytes of zeros */
    memset(buf, 0xff, sizeof(buf));
    check_vector(buf, 32, 0x62A8AB43u); /* 32 bytes of 0xff */
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    check_vector(buf, 32, 0x46DD794Eu); /* incrementing 0..31 */
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    check_vector(buf, 32, 0x113FDB5Cu); /* decrementing 31..0 */
    check_vector("a", 1, 0xC1D04330u);
}
END_TEST

START_TEST(implementations_agree_at_every_length_and_alignment)
{
    static uint8_t data[1024 + 16];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(data); i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    for (size_t align = 0; align < 16; align++)
        for (size_t len = 0; len <= 1024; len += (len < 64 ? 1 : 37))
            ck_assert_uint_eq(crc_hw_or_portable(0, data + align, len),
                              wire_crc32c_portable(0, data + align, len));
}
END_TEST

START_TEST(implementations_agree_on_long_inputs)
{
    /* Long enough for the three-chain path (3 x 1 KiB blocks) and its joins,
     * at lengths around the block boundaries and every alignment mod 8. */
    static uint8_t data[40000 + 8];
    uint32_t x = 777;
    for (size_t i = 0; i < sizeof(data); i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    static const size_t lengths[] = {3071, 3072, 3073, 3079, 3080, 6143, 6144, 6151,
                                     9216, 12345, 20000, 40000};
    for (size_t align = 0; align < 8; align++)
        for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
            ck_assert_uint_eq(crc_hw_or_portable(0x12345678u, data + align, lengths[i]),
                              wire_crc32c_portable(0x12345678u, data + align, lengths[i]));
    /* A long run of zeros and of ones, whose CRCs the joins must get exactly. */
    memset(data, 0, sizeof(data));
    ck_assert_uint_eq(crc_hw_or_portable(0, data, 40000), wire_crc32c_portable(0, data, 40000));
    memset(data, 0xff, sizeof(data));
    ck_assert_uint_eq(crc_hw_or_portable(0, data, 40000), wire_crc32c_portable(0, data, 40000));
}
END_TEST

START_TEST(incremental_equals_whole)
{
    const char *text = "the quick brown fox jumps over the lazy dog, twice over";
    size_t len = strlen(text);
    uint32_t whole = wire_crc32c(0, text, len);
    for (size_t cut = 0; cut <= len; cut++) {
        uint32_t part = wire_crc32c(0, text, cut);
        ck_assert_uint_eq(wire_crc32c(part, text + cut, len - cut), whole);
        part = wire_crc32c_portable(0, text, cut);
        ck_assert_uint_eq(wire_crc32c_portable(part, text + cut, len - cut), whole);
    }
}
END_TEST

START_TEST(detects_every_single_bit_flip)
{
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7);
    uint32_t good = wire_crc32c(0, buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(wire_crc32c(0, buf, sizeof(buf)), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ck_assert_str_ne(wire_crc32c_impl(), "");
}
END_TEST

Suite *crc32c_suite(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("crc32c");
    tcase_add_test(tc, known_vectors);
    tcase_add_test(tc, implementations_agree_at_every_length_and_alignment);
    tcase_add_test(tc, implementations_agree_on_long_inputs);
    tcase_add_test(tc, incremental_equals_whole);
    tcase_add_test(tc, detects_every_single_bit_flip);
    suite_add_tcase(s, tc);
    return s;
}
