/*
 * Tests of the msgpack reader and writer (wire/mp.c): every integer
 * encoding and its range checks, str versus bin, container counts bounded
 * by the bytes left, the nesting limit, the writer's all-or-nothing values,
 * and a differential test against msgpack-c's own unpacker as an oracle.
 */
#include <check.h>
#include <msgpack.h>
#include <stdint.h>
#include <string.h>

#include "suites.h"
#include "wire/errors.h"
#include "wire/limits.h"
#include "wire/mp.h"

static struct wire_reader reader_of(const void *buf, size_t len)
{
    struct wire_reader r;
    wire_reader_init(&r, buf, len);
    return r;
}

START_TEST(uint_every_encoding)
{
    static const struct {
        const char *bytes;
        size_t len;
        uint64_t value;
    } cases[] = {
        {"\x00", 1, 0},
        {"\x7f", 1, 127},
        {"\xcc\xff", 2, 255},
        {"\xcd\x01\x00", 3, 256},
        {"\xce\xff\xff\xff\xff", 5, UINT32_MAX},
        {"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, UINT64_MAX},
        {"\xd0\x05", 2, 5},         /* a signed encoding of a non-negative value */
        {"\xd3\x00\x00\x00\x00\x00\x00\x00\x07", 9, 7},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wire_reader r = reader_of(cases[i].bytes, cases[i].len);
        uint64_t v = 0;
        ck_assert_int_eq(wire_read_uint(&r, UINT64_MAX, &v), WIRE_OK);
        ck_assert_uint_eq(v, cases[i].value);
        ck_assert_uint_eq(wire_reader_remaining(&r), 0);
    }
}
END_TEST

START_TEST(uint_rejects_negative_and_out_of_range)
{
    uint64_t v = 99;
    struct wire_reader r = reader_of("\xff", 1); /* -1 */
    ck_assert_int_eq(wire_read_uint(&r, UINT64_MAX, &v), WIRE_ERR_BAD_VALUE);
    ck_assert_uint_eq(v, 99);
    ck_assert_ptr_eq(r.pos, r.start); /* nothing consumed on error */

    r = reader_of("\xcd\x01\x00", 3); /* 256 > 255 */
    ck_assert_int_eq(wire_read_uint(&r, 255, &v), WIRE_ERR_BAD_VALUE);
    ck_assert_int_eq(r.err, WIRE_ERR_BAD_VALUE);

    r = reader_of("\xa1x", 2); /* a str */
    ck_assert_int_eq(wire_read_uint(&r, UINT64_MAX, &v), WIRE_ERR_BAD_TYPE);

    r = reader_of("\xcb\x00\x00\x00\x00\x00\x00\x00\x00", 9); /* a float */
    ck_assert_int_eq(wire_read_uint(&r, UINT64_MAX, &v), WIRE_ERR_BAD_TYPE);

    r = reader_of("\xcf\x00\x00", 3);
    ck_assert_int_eq(wire_read_uint(&r, UINT64_MAX, &v), WIRE_ERR_TRUNCATED);

    r = reader_of("", 0);
    ck_assert_int_eq(wire_read_uint(&r, UINT64_MAX, &v), WIRE_ERR_TRUNCATED);
}
END_TEST

START_TEST(int_ranges)
{
    int64_t v = 0;
    struct wire_reader r = reader_of("\xe0", 1); /* -32 */
    ck_assert_int_eq(wire_read_int(&r, INT64_MIN, INT64_MAX, &v), WIRE_OK);
    ck_assert_int_eq(v, -32);

    r = reader_of("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9);
    ck_assert_int_eq(wire_read_int(&r, INT64_MIN, INT64_MAX, &v), WIRE_OK);
    ck_assert(v == INT64_MIN);

    r = reader_of("\xd1\xff\x00", 3); /* -256 */
    ck_assert_int_eq(wire_read_int(&r, -255, 255, &v), WIRE_ERR_BAD_VALUE);

    /* A uint above INT64_MAX does not fit an int64. */
    r = reader_of("\xcf\x80\x00\x00\x00\x00\x00\x00\x00", 9);
    ck_assert_int_eq(wire_read_int(&r, INT64_MIN, INT64_MAX, &v), WIRE_ERR_BAD_VALUE);

    r = reader_of("\xd2\xff\xff\xff\xfe", 5);
    ck_assert_int_eq(wire_read_int(&r, -2, -1, &v), WIRE_OK);
    ck_assert_int_eq(v, -2);
}
END_TEST

START_TEST(str_and_bin_are_distinct_and_bounded)
{
    struct wire_bytes b;
    struct wire_reader r = reader_of("\xa3" "abc", 4);
    ck_assert_int_eq(wire_read_str(&r, 10, &b), WIRE_OK);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_int_eq(memcmp(b.ptr, "abc", 3), 0);

    r = reader_of("\xa3" "abc", 4);
    ck_assert_int_eq(wire_read_bin(&r, 10, &b), WIRE_ERR_BAD_TYPE);

    r = reader_of("\xc4\x03" "abc", 5);
    ck_assert_int_eq(wire_read_bin(&r, 10, &b), WIRE_OK);
    ck_assert_ptr_eq(b.ptr, (const uint8_t *)r.start + 2); /* zero-copy */

    r = reader_of("\xc4\x03" "abc", 5);
    ck_assert_int_eq(wire_read_str(&r, 10, &b), WIRE_ERR_BAD_TYPE);

    r = reader_of("\xc4\x03" "abc", 5);
    ck_assert_int_eq(wire_read_bin(&r, 2, &b), WIRE_ERR_LIMIT_EXCEEDED);

    /* str32 claiming 4 GiB in a 9-byte buffer. */
    r = reader_of("\xdb\xff\xff\xff\xff" "abcd", 9);
    ck_assert_int_eq(wire_read_str(&r, UINT32_MAX, &b), WIRE_ERR_TRUNCATED);
    r = reader_of("\xdb\xff\xff\xff\xff" "abcd", 9);
    ck_assert_int_eq(wire_read_str(&r, 100, &b), WIRE_ERR_LIMIT_EXCEEDED);

    r = reader_of("\xc6\x00\x00\x00", 4); /* bin32 header cut short */
    ck_assert_int_eq(wire_read_bin(&r, 100, &b), WIRE_ERR_TRUNCATED);
}
END_TEST

START_TEST(container_counts_bounded_by_remaining_bytes)
{
    uint32_t n;
    struct wire_reader r = reader_of("\x93\x01\x02\x03", 4);
    ck_assert_int_eq(wire_read_array(&r, 10, &n), WIRE_OK);
    ck_assert_uint_eq(n, 3);

    /* array32 claiming 4 billion elements, 3 bytes follow. */
    r = reader_of("\xdd\xff\xff\xff\xff\x01\x02\x03", 8);
    ck_assert_int_eq(wire_read_array(&r, UINT32_MAX, &n), WIRE_ERR_TRUNCATED);
    r = reader_of("\xdd\xff\xff\xff\xff\x01\x02\x03", 8);
    ck_assert_int_eq(wire_read_array(&r, WIRE_ARRAY_ITEMS_MAX, &n), WIRE_ERR_LIMIT_EXCEEDED);

    /* A map entry needs two bytes: 2 entries in 3 bytes cannot be. */
    r = reader_of("\x82\x01\x02\x03", 4);
    ck_assert_int_eq(wire_read_map(&r, 10, &n), WIRE_ERR_TRUNCATED);
    r = reader_of("\x82\x01\x02\x03\x04", 5);
    ck_assert_int_eq(wire_read_map(&r, 10, &n), WIRE_OK);
    ck_assert_uint_eq(n, 2);

    r = reader_of("\x82\x01\x02\x03\x04", 5);
    ck_assert_int_eq(wire_read_array(&r, 10, &n), WIRE_ERR_BAD_TYPE);
}
END_TEST

START_TEST(nil_and_bool)
{
    int v = -1;
    struct wire_reader r = reader_of("\xc0\xc3\xc2\x01", 4);
    ck_assert(wire_peek_nil(&r));
    ck_assert_int_eq(wire_read_nil(&r), WIRE_OK);
    ck_assert(!wire_peek_nil(&r));
    ck_assert_int_eq(wire_read_bool(&r, &v), WIRE_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(wire_read_bool(&r, &v), WIRE_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(wire_read_bool(&r, &v), WIRE_ERR_BAD_TYPE);
    ck_assert_int_eq(wire_read_nil(&r), WIRE_ERR_BAD_TYPE);
}
END_TEST

/* n nested one-element arrays around a 0. */
static size_t nested_arrays(uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = 0x91;
    buf[n] = 0x00;
    return n + 1;
}

START_TEST(skip_follows_at_most_the_nesting_limit)
{
    uint8_t buf[256];
    size_t len = nested_arrays(buf, WIRE_NESTING_MAX);
    struct wire_reader r = reader_of(buf, len);
    ck_assert_int_eq(wire_skip(&r), WIRE_OK);
    ck_assert_uint_eq(wire_reader_remaining(&r), 0);

    len = nested_arrays(buf, WIRE_NESTING_MAX + 1);
    r = reader_of(buf, len);
    ck_assert_int_eq(wire_skip(&r), WIRE_ERR_TOO_DEEP);
    ck_assert_ptr_eq(r.pos, r.start);

    len = nested_arrays(buf, 200);
    r = reader_of(buf, len);
    ck_assert_int_eq(wire_skip(&r), WIRE_ERR_TOO_DEEP);
}
END_TEST

START_TEST(skip_every_type)
{
    /* One of each msgpack type, concatenated; skipping must land on each boundary. */
    static const struct {
        const char *bytes;
        size_t len;
    } values[] = {
        {"\x05", 1}, {"\xe5", 1}, {"\xc0", 1}, {"\xc2", 1}, {"\xc3", 1},
        {"\xcc\x01", 2}, {"\xcd\x01\x02", 3}, {"\xce\x01\x02\x03\x04", 5},
        {"\xcf\x01\x02\x03\x04\x05\x06\x07\x08", 9}, {"\xd0\x01", 2}, {"\xd1\x01\x02", 3},
        {"\xd2\x01\x02\x03\x04", 5}, {"\xd3\x01\x02\x03\x04\x05\x06\x07\x08", 9},
        {"\xca\x01\x02\x03\x04", 5}, {"\xcb\x01\x02\x03\x04\x05\x06\x07\x08", 9},
        {"\xa2hi", 3}, {"\xd9\x02hi", 4}, {"\xda\x00\x02hi", 5}, {"\xdb\x00\x00\x00\x02hi", 7},
        {"\xc4\x02hi", 4}, {"\xc5\x00\x02hi", 5}, {"\xc6\x00\x00\x00\x02hi", 7},
        {"\xd4\x01\xaa", 3}, {"\xd5\x01\xaa\xbb", 4}, {"\xd6\x01\xaa\xbb\xcc\xdd", 6},
        {"\xd7\x01" "12345678", 10}, {"\xd8\x01" "1234567890123456", 18},
        {"\xc7\x02\x01hi", 5}, {"\xc8\x00\x02\x01hi", 6}, {"\xc9\x00\x00\x00\x02\x01hi", 8},
        {"\x92\x01\xa1x", 4}, {"\xdc\x00\x01\x01", 4}, {"\xdd\x00\x00\x00\x01\x01", 6},
        {"\x81\xa1k\x01", 4}, {"\xde\x00\x01\x01\x02", 5}, {"\xdf\x00\x00\x00\x01\x01\x02", 7},
    };
    uint8_t buf[512];
    size_t len = 0;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        memcpy(buf + len, values[i].bytes, values[i].len);
        len += values[i].len;
    }
    struct wire_reader r = reader_of(buf, len);
    size_t offset = 0;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        ck_assert_int_eq(wire_skip(&r), WIRE_OK);
        offset += values[i].len;
        ck_assert_uint_eq((size_t)(r.pos - r.start), offset);
    }
    ck_assert_uint_eq(wire_reader_remaining(&r), 0);

    r = reader_of("\xc1", 1); /* never used */
    ck_assert_int_eq(wire_skip(&r), WIRE_ERR_BAD_TYPE);
    r = reader_of("\xc9\xff\xff\xff\xff\x01", 6); /* ext32 claiming 4 GiB */
    ck_assert_int_eq(wire_skip(&r), WIRE_ERR_TRUNCATED);
}
END_TEST

START_TEST(writer_values_are_all_or_nothing)
{
    uint8_t buf[8];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_uint(&w, 1);
    ck_assert_uint_eq(w.len, 1);
    wire_write_str(&w, "abcdefghij", 10); /* does not fit */
    ck_assert_int_eq(w.err, WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(w.len, 1);
    wire_write_uint(&w, 2); /* sticky: nothing more is written */
    ck_assert_uint_eq(w.len, 1);

    /* bin8 header fits, body does not: the header must be rolled back. */
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_bin(&w, "0123456789", 7);
    ck_assert_int_eq(w.err, WIRE_ERR_BUFFER_FULL);
    ck_assert_uint_eq(w.len, 0);
}
END_TEST

START_TEST(reader_describes_the_failing_field)
{
    struct wire_reader r = reader_of("\x01\xa1x", 3);
    uint64_t v;
    r.field = "first";
    ck_assert_int_eq(wire_read_uint(&r, 10, &v), WIRE_OK);
    r.field = "partition";
    ck_assert_int_eq(wire_read_uint(&r, 10, &v), WIRE_ERR_BAD_TYPE);
    char text[128];
    wire_reader_describe(&r, text, sizeof(text));
    ck_assert_str_eq(text, "field 'partition' at byte 1: a field has the wrong msgpack type");
    /* A later error does not overwrite the first. */
    r.field = "other";
    wire_reader_fail(&r, WIRE_ERR_TOO_DEEP);
    ck_assert_int_eq(r.err, WIRE_ERR_BAD_TYPE);
    ck_assert_str_eq(r.err_field, "partition");
    ck_assert_uint_eq(wire_reader_describe(&r, text, 6), 5);
    ck_assert_str_eq(text, "field");
}
END_TEST

/* ---- differential test against msgpack-c -------------------------------- */

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Packs a random value tree with msgpack-c's packer, depth-limited. */
static void pack_random(msgpack_packer *pk, int depth)
{
    static const char payload[300] = "payload";
    unsigned kind = (unsigned)(rng_next() % (depth > 5 ? 9 : 11));
    uint32_t n;
    switch (kind) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: msgpack_pack_true(pk); break;
    case 2: msgpack_pack_uint64(pk, rng_next() >> (rng_next() % 64)); break;
    case 3: msgpack_pack_int64(pk, -(int64_t)(rng_next() >> (1 + rng_next() % 63))); break;
    case 4: msgpack_pack_double(pk, 1.5); break;
    case 5: msgpack_pack_float(pk, 2.5f); break;
    case 6: msgpack_pack_str_with_body(pk, payload, rng_next() % sizeof(payload)); break;
    case 7: msgpack_pack_bin_with_body(pk, payload, rng_next() % sizeof(payload)); break;
    case 8:
        n = (uint32_t)(rng_next() % 20);
        msgpack_pack_ext_with_body(pk, payload, n, 7);
        break;
    case 9:
        n = (uint32_t)(rng_next() % 20);
        msgpack_pack_array(pk, n);
        for (uint32_t i = 0; i < n; i++)
            pack_random(pk, depth + 1);
        break;
    default:
        n = (uint32_t)(rng_next() % 10);
        msgpack_pack_map(pk, n);
        for (uint32_t i = 0; i < 2 * n; i++)
            pack_random(pk, depth + 1);
        break;
    }
}

START_TEST(skip_agrees_with_msgpack_c)
{
    rng_state = 0x9E3779B97F4A7C15ull + (uint64_t)_i;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < 50; i++)
        pack_random(&pk, 0);

    /* Walk both parsers value by value: the boundaries must match exactly. */
    struct wire_reader r = reader_of(sb.data, sb.size);
    size_t off = 0;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    for (int i = 0; i < 50; i++) {
        msgpack_object obj;
        size_t before = off;
        /* EXTRA_BYTES: one value parsed, more follow (all but the last value). */
        msgpack_unpack_return ret = msgpack_unpack(sb.data, sb.size, &off, &zone, &obj);
        ck_assert(ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_EXTRA_BYTES);
        ck_assert_int_eq(wire_skip(&r), WIRE_OK);
        ck_assert_uint_eq((size_t)(r.pos - r.start), off);
        /* Every strict prefix of one value is TRUNCATED for our reader. */
        for (size_t cut = before; cut < off; cut += 1 + (off - before) / 17) {
            struct wire_reader p = reader_of(sb.data + before, cut - before);
            ck_assert_int_eq(wire_skip(&p), WIRE_ERR_TRUNCATED);
        }
    }
    ck_assert_uint_eq(wire_reader_remaining(&r), 0);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(writer_output_is_what_msgpack_c_reads)
{
    uint8_t buf[256];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof(buf));
    wire_write_array(&w, 5);
    wire_write_uint(&w, 300);
    wire_write_int(&w, -5);
    wire_write_str(&w, "topic", 5);
    wire_write_bin(&w, "\x00\x01", 2);
    wire_write_nil(&w);
    ck_assert_int_eq(w.err, WIRE_OK);

    msgpack_unpacked result;
    msgpack_unpacked_init(&result);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&result, (const char *)buf, w.len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, w.len);
    msgpack_object o = result.data;
    ck_assert_int_eq(o.type, MSGPACK_OBJECT_ARRAY);
    ck_assert_uint_eq(o.via.array.size, 5);
    ck_assert_uint_eq(o.via.array.ptr[0].via.u64, 300);
    ck_assert_int_eq(o.via.array.ptr[1].via.i64, -5);
    ck_assert_int_eq(o.via.array.ptr[2].type, MSGPACK_OBJECT_STR);
    ck_assert_int_eq(o.via.array.ptr[3].type, MSGPACK_OBJECT_BIN);
    ck_assert_int_eq(o.via.array.ptr[4].type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&result);
}
END_TEST

Suite *mp_suite(void)
{
    Suite *s = suite_create("mp");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, uint_every_encoding);
    tcase_add_test(tc, uint_rejects_negative_and_out_of_range);
    tcase_add_test(tc, int_ranges);
    tcase_add_test(tc, str_and_bin_are_distinct_and_bounded);
    tcase_add_test(tc, container_counts_bounded_by_remaining_bytes);
    tcase_add_test(tc, nil_and_bool);
    tcase_add_test(tc, skip_follows_at_most_the_nesting_limit);
    tcase_add_test(tc, skip_every_type);
    tcase_add_test(tc, reader_describes_the_failing_field);
    suite_add_tcase(s, tc);
    TCase *tw = tcase_create("writer");
    tcase_add_test(tw, writer_values_are_all_or_nothing);
    tcase_add_test(tw, writer_output_is_what_msgpack_c_reads);
    suite_add_tcase(s, tw);
    TCase *td = tcase_create("differential");
    tcase_add_loop_test(td, skip_agrees_with_msgpack_c, 0, 40);
    suite_add_tcase(s, td);
    return s;
}
