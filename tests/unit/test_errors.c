/* Tests of the error-code tables: every code has a distinct number, a name and a sentence. */
#include <check.h>
#include <string.h>

#include "suites.h"
#include "wire/errors.h"

static const int all_codes[] = {
#define CODE_(name, value, text) value,
    WIRE_ERRORS(CODE_)
#undef CODE_
};
#define CODE_COUNT (sizeof(all_codes) / sizeof(all_codes[0]))

START_TEST(codes_are_distinct_and_named)
{
    for (size_t i = 0; i < CODE_COUNT; i++) {
        ck_assert(wire_err_known(all_codes[i]));
        ck_assert_str_ne(wire_err_name(all_codes[i]), "UNRECOGNIZED");
        ck_assert_str_ne(wire_strerror(all_codes[i]), "unrecognized error code");
        for (size_t j = i + 1; j < CODE_COUNT; j++)
            ck_assert_int_ne(all_codes[i], all_codes[j]);
    }
}
END_TEST

START_TEST(design_codes_exist)
{
    /* The codes DESIGN.md promises clients, with their protocol numbers. */
    ck_assert_int_eq(WIRE_ERR_NOT_LEADER, 21);
    ck_assert_int_eq(WIRE_ERR_UNKNOWN_TOPIC, 23);
    ck_assert_int_eq(WIRE_ERR_OFFSET_OUT_OF_RANGE, 29);
    ck_assert_int_eq(WIRE_ERR_RECORD_TOO_LARGE, 63);
    ck_assert_int_eq(WIRE_ERR_CORRUPT_BATCH, 60);
    ck_assert_int_eq(WIRE_ERR_INVALID_REQUEST, 20);
    ck_assert_int_eq(WIRE_ERR_TIMEOUT, 30);
    ck_assert_int_eq(WIRE_ERR_NOT_ENOUGH_REPLICAS, 31);
    ck_assert_int_eq(WIRE_ERR_DUPLICATE_SEQUENCE, 33);
    ck_assert_int_eq(WIRE_ERR_UNAUTHORIZED, 36);
    ck_assert_str_eq(wire_err_name(WIRE_ERR_NOT_LEADER), "NOT_LEADER");
    ck_assert_int_eq(WIRE_OK, 0);
}
END_TEST

START_TEST(unknown_codes_are_described)
{
    ck_assert(!wire_err_known(59));
    ck_assert(!wire_err_known(-1));
    ck_assert_str_eq(wire_err_name(59), "UNRECOGNIZED");
    ck_assert_str_eq(wire_strerror(12345), "unrecognized error code");
}
END_TEST

Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("tables");
    tcase_add_test(tc, codes_are_distinct_and_named);
    tcase_add_test(tc, design_codes_exist);
    tcase_add_test(tc, unknown_codes_are_described);
    suite_add_tcase(s, tc);
    return s;
}
