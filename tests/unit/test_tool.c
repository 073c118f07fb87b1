/* Tests of wire/tool.c, the command-line tools' helpers: the partitioner hash, -b lists, numbers, JSON strings. */
#define _GNU_SOURCE /* open_memstream */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "wire/tool.h"

/* Published FNV-1a 32-bit vectors: the producer's partitioner must never change. */
START_TEST(fnv1a32_known_vectors)
{
    ck_assert_uint_eq(tool_fnv1a32("", 0), 0x811c9dc5u);
    ck_assert_uint_eq(tool_fnv1a32("a", 1), 0xe40c292cu);
    ck_assert_uint_eq(tool_fnv1a32("foobar", 6), 0xbf9cf968u);
    /* Bytes, not C strings: an embedded NUL counts. */
    ck_assert_uint_ne(tool_fnv1a32("a\0b", 3), tool_fnv1a32("a", 1));
}
END_TEST

START_TEST(brokers_get_a_scheme_and_lose_spaces)
{
    char out[256];
    ck_assert(tool_brokers(" 127.0.0.1:9292 ,tcp://10.0.0.1:1,, ipc:///tmp/x ", out, sizeof(out)));
    ck_assert_str_eq(out, "tcp://127.0.0.1:9292,tcp://10.0.0.1:1,ipc:///tmp/x");
}
END_TEST

START_TEST(brokers_refuse_empty_and_too_long_lists)
{
    char out[32];
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w"); /* the usage errors are expected */
    bool empty = tool_brokers(" , ", out, sizeof(out));
    bool too_long = tool_brokers("127.0.0.1:9292,127.0.0.1:9293,127.0.0.1:9294", out, sizeof(out));
    fclose(stderr);
    stderr = saved;
    ck_assert(!empty);
    ck_assert(!too_long);
}
END_TEST

START_TEST(numbers_are_plain_decimals_in_range)
{
    uint64_t v = 0;
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    ck_assert(tool_parse_u64("42", "x", 1, 100, &v));
    ck_assert_uint_eq(v, 42);
    ck_assert(!tool_parse_u64("0", "x", 1, 100, &v));
    ck_assert(!tool_parse_u64("101", "x", 1, 100, &v));
    ck_assert(!tool_parse_u64("-1", "x", 0, 100, &v));
    ck_assert(!tool_parse_u64(" 5", "x", 0, 100, &v));
    ck_assert(!tool_parse_u64("5ms", "x", 0, 100, &v));
    ck_assert(!tool_parse_u64("", "x", 0, 100, &v));
    ck_assert(!tool_parse_u64("99999999999999999999999", "x", 0, UINT64_MAX, &v));
    uint32_t w = 0;
    ck_assert(!tool_parse_u32("4294967296", "x", 0, UINT32_MAX, &w));
    fclose(stderr);
    stderr = saved;
    ck_assert_uint_eq(v, 42); /* failures leave the output alone */
}
END_TEST

static char *json_of(const void *bytes, size_t len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    tool_json_string(f, bytes, len);
    fclose(f);
    return text;
}

START_TEST(json_strings_escape_and_survive_binary)
{
    char *s = json_of("a\"b\\c\nd\te\x01", 10);
    ck_assert_str_eq(s, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
    free(s);
    s = json_of("caf\xc3\xa9", 5); /* valid UTF-8 passes through */
    ck_assert_str_eq(s, "\"caf\xc3\xa9\"");
    free(s);
    s = json_of("\xff\xc3", 2); /* invalid and truncated sequences become escapes */
    ck_assert_str_eq(s, "\"\\u00ff\\u00c3\"");
    free(s);
    s = json_of("\xc0\xaf", 2); /* an overlong '/' is not UTF-8 */
    ck_assert_str_eq(s, "\"\\u00c0\\u00af\"");
    free(s);
}
END_TEST

Suite *tool_suite(void)
{
    Suite *s = suite_create("tool");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, fnv1a32_known_vectors);
    tcase_add_test(tc, brokers_get_a_scheme_and_lose_spaces);
    tcase_add_test(tc, brokers_refuse_empty_and_too_long_lists);
    tcase_add_test(tc, numbers_are_plain_decimals_in_range);
    tcase_add_test(tc, json_strings_escape_and_survive_binary);
    suite_add_tcase(s, tc);
    return s;
}
