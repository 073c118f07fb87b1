/*
 * Tests of tests/faults/checker.c, the fault-injection suite's history
 * checker. Each check gets a tiny history that breaks exactly that check:
 * the test asserts its counter, that every other failure counter stays 0,
 * that the verdict is not ok, and that the reported line names the record.
 * A clean history with retries, failed-but-stored records and explained
 * duplicates must be ok. Also: the id format and its parser (malformed ids,
 * extremes), every misuse error, the bounds, and the line budget.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "tests/faults/checker.h"

/* The lines checker_run reported, one per "\n". */
struct lines {
    char text[8192];
    size_t len;
    unsigned count;
};

static void collect_line(void *arg, const char *line)
{
    struct lines *l = arg;
    ck_assert_ptr_nonnull(line);
    ck_assert_uint_lt(strlen(line), CHECKER_LINE_BYTES_MAX);
    int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", line);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_lt((size_t)n, sizeof(l->text) - l->len);
    l->len += (size_t)n;
    l->count++;
}

/* A value as the harness makes it: the id, then filler that depends on `filler`. */
static size_t make_value(uint8_t *buf, size_t cap, uint32_t producer, uint64_t seq, int filler)
{
    size_t n = checker_format_id((char *)buf, cap, producer, seq);
    ck_assert_uint_gt(n, 0);
    int more = snprintf((char *)buf + n, cap - n, "filler-%d", filler);
    ck_assert_int_gt(more, 0);
    return n + (size_t)more;
}

static void read_final(struct checker *c, uint32_t partition, uint64_t offset, uint32_t producer,
                       uint64_t seq)
{
    uint8_t v[64];
    size_t n = make_value(v, sizeof(v), producer, seq, 0);
    ck_assert_int_eq(checker_read_final(c, partition, offset, v, n), CHECKER_OK);
}

static void read_live(struct checker *c, uint32_t partition, uint64_t offset, uint32_t producer,
                      uint64_t seq, int filler)
{
    uint8_t v[64];
    size_t n = make_value(v, sizeof(v), producer, seq, filler);
    ck_assert_int_eq(checker_read_live(c, partition, offset, v, n), CHECKER_OK);
}

static void sent_acked(struct checker *c, uint32_t producer, uint64_t seq, uint32_t partition,
                       int64_t offset, uint32_t attempts)
{
    ck_assert_int_eq(checker_sent(c, producer, seq, partition), CHECKER_OK);
    ck_assert_int_eq(checker_outcome(c, producer, seq, 0, offset, attempts), CHECKER_OK);
}

static void sent_failed(struct checker *c, uint32_t producer, uint64_t seq, uint32_t partition,
                        int error, uint32_t attempts)
{
    ck_assert_int_eq(checker_sent(c, producer, seq, partition), CHECKER_OK);
    ck_assert_int_eq(checker_outcome(c, producer, seq, error, -1, attempts), CHECKER_OK);
}

static void end_all(struct checker *c, uint32_t partitions, const uint64_t *ends)
{
    for (uint32_t p = 0; p < partitions; p++)
        ck_assert_int_eq(checker_final_end(c, p, ends[p]), CHECKER_OK);
}

static void run(struct checker *c, struct checker_result *r, struct lines *l)
{
    memset(l, 0, sizeof(*l));
    ck_assert_int_eq(checker_run(c, r, 5, collect_line, l), CHECKER_OK);
}

/* Asserts that every failure counter but `except` is 0 (NULL: all of them). */
static void assert_other_failures_zero(const struct checker_result *r, const uint64_t *except)
{
    const uint64_t *failures[] = {&r->lost,          &r->wrong_offset,
                                  &r->unexpected,    &r->duplicates_idempotent,
                                  &r->duplicates_unexplained, &r->gaps,
                                  &r->order_violations, &r->live_mismatch,
                                  &r->unreported};
    for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
        if (failures[i] != except)
            ck_assert_uint_eq(*failures[i], 0);
}

/* ---- ids ------------------------------------------------------------------------ */

static bool parse_text(const char *text, uint32_t *producer, uint64_t *seq)
{
    return checker_parse_id((const uint8_t *)text, strlen(text), producer, seq);
}

START_TEST(test_id_round_trip)
{
    static const struct {
        uint32_t producer;
        uint64_t seq;
        const char *text;
    } cases[] = {
        {0, 0, "rmq:0:0:"},
        {7, 123456789, "rmq:7:123456789:"},
        {UINT32_MAX, UINT64_MAX, "rmq:4294967295:18446744073709551615:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[CHECKER_ID_BYTES_MAX + 16];
        memset(buf, 'x', sizeof(buf));
        size_t n = checker_format_id(buf, sizeof(buf), cases[i].producer, cases[i].seq);
        ck_assert_uint_eq(n, strlen(cases[i].text));
        ck_assert_int_eq(memcmp(buf, cases[i].text, n), 0);
        ck_assert_int_eq(buf[n], 'x'); /* no NUL written */
        /* With filler after it, and with nothing after it. */
        memcpy(buf + n, "tail:9:", 7);
        uint32_t p = 1;
        uint64_t s = 1;
        ck_assert(checker_parse_id((const uint8_t *)buf, n + 7, &p, &s));
        ck_assert_uint_eq(p, cases[i].producer);
        ck_assert_uint_eq(s, cases[i].seq);
        p = 1;
        s = 1;
        ck_assert(checker_parse_id((const uint8_t *)buf, n, &p, &s));
        ck_assert_uint_eq(p, cases[i].producer);
        ck_assert_uint_eq(s, cases[i].seq);
        /* One byte short of the final colon is malformed. */
        ck_assert(!checker_parse_id((const uint8_t *)buf, n - 1, &p, &s));
    }
    ck_assert_uint_eq(strlen("rmq:4294967295:18446744073709551615:"), CHECKER_ID_BYTES_MAX);
}
END_TEST

START_TEST(test_format_id_too_small)
{
    char buf[CHECKER_ID_BYTES_MAX];
    memset(buf, 'x', sizeof(buf));
    /* "rmq:12:345:" is 11 bytes: 10 do not fit and leave buf untouched, 11 do. */
    ck_assert_uint_eq(checker_format_id(buf, 10, 12, 345), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        ck_assert_int_eq(buf[i], 'x');
    ck_assert_uint_eq(checker_format_id(buf, 0, 0, 0), 0);
    ck_assert_uint_eq(checker_format_id(NULL, 64, 0, 0), 0);
    ck_assert_uint_eq(checker_format_id(buf, 11, 12, 345), 11);
    ck_assert_int_eq(memcmp(buf, "rmq:12:345:", 11), 0);
    ck_assert_uint_eq(checker_format_id(buf, CHECKER_ID_BYTES_MAX, UINT32_MAX, UINT64_MAX),
                      CHECKER_ID_BYTES_MAX);
}
END_TEST

START_TEST(test_parse_id_malformed)
{
    static const char *const bad[] = {
        "",
        "r",
        "rmq",
        "rmq:",
        "rmq:1",
        "rmq:1:",
        "rmq:1:2",                     /* missing final colon */
        "rmq:1:2x",                    /* missing final colon, junk */
        "rmq::2:",                     /* empty producer */
        "rmq:1::",                     /* empty seq */
        "rmq:a:2:",                    /* non-digits */
        "rmq:1:b:",
        "rmq:1a:2:",
        "rmq:1:2b:",
        "rmq:-1:2:",
        "rmq:+1:2:",
        "rmq: 1:2:",
        "rmq:1:2 :",
        "rmq:01:2:",                   /* leading zeros: one id, one spelling */
        "rmq:1:02:",
        "rmq:4294967296:2:",           /* UINT32_MAX + 1 */
        "rmq:99999999999:2:",
        "rmq:00000000001:2:",
        "rmq:1:18446744073709551616:", /* UINT64_MAX + 1 */
        "rmq:1:99999999999999999999:",
        "rmq:1:184467440737095516150:",
        "RMQ:1:2:",
        "xrmq:1:2:",
        "rmq;1:2:",
        "rmq:1;2:",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t p = 77;
        uint64_t s = 77;
        ck_assert_msg(!parse_text(bad[i], &p, &s), "accepted '%s'", bad[i]);
        ck_assert_uint_eq(p, 77); /* untouched on failure */
        ck_assert_uint_eq(s, 77);
    }
    uint32_t p;
    uint64_t s;
    ck_assert(!checker_parse_id(NULL, 0, &p, &s));
    ck_assert(!checker_parse_id(NULL, 8, &p, &s));
    /* A NUL inside is just a byte that is not a digit. */
    ck_assert(!checker_parse_id((const uint8_t *)"rmq:1\0:2:", 9, &p, &s));
    /* Well-formed, whatever follows. */
    ck_assert(parse_text("rmq:0:0:", &p, &s));
    ck_assert(parse_text("rmq:3:10:rmq:4:5:", &p, &s));
    ck_assert_uint_eq(p, 3);
    ck_assert_uint_eq(s, 10);
    ck_assert(parse_text("rmq:4294967295:0:", &p, &s));
    ck_assert_uint_eq(p, UINT32_MAX);
}
END_TEST

/* ---- a clean history ------------------------------------------------------------ */

/*
 * Producer 0 idempotent, producer 1 not, producer 2 idempotent, 2 partitions.
 * Retried records, a failure that was stored anyway, a failure that was not,
 * duplicates of producer 1 after a retry and after a failure, live reads
 * that all match: ok.
 */
START_TEST(test_clean_history_ok)
{
    struct checker *c = checker_create(3, 100, 2);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(checker_producer(c, 1, false), CHECKER_OK);

    /* Partition 0: p0s0 p1s0 p0s1 p1s0(dup, attempts 2) p0s2(failed, stored) p2s0 p1s1 p1s1(dup, failed) */
    sent_acked(c, 0, 0, 0, 0, 1);
    sent_acked(c, 1, 0, 0, 1, 2);
    sent_acked(c, 0, 1, 0, 2, 3);
    sent_failed(c, 0, 2, 0, 5 /* a TIMEOUT-like code */, 4);
    sent_acked(c, 2, 0, 0, 5, 1);
    sent_failed(c, 1, 1, 0, 5, 2);
    /* Partition 1: p0s3 p2s1; p0s4 failed and absent. */
    sent_acked(c, 0, 3, 1, 0, 1);
    sent_acked(c, 2, 1, 1, 1, 2);
    sent_failed(c, 0, 4, 1, 7, 1);

    read_live(c, 0, 0, 0, 0, 0);
    read_live(c, 0, 3, 1, 0, 0);
    read_live(c, 0, 3, 1, 0, 0); /* read twice (a consumer restart) */
    read_live(c, 1, 1, 2, 1, 0);

    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 1, 0);
    read_final(c, 0, 2, 0, 1);
    read_final(c, 0, 3, 1, 0);
    read_final(c, 0, 4, 0, 2);
    read_final(c, 0, 5, 2, 0);
    read_final(c, 0, 6, 1, 1);
    read_final(c, 0, 7, 1, 1);
    read_final(c, 1, 0, 0, 3);
    read_final(c, 1, 1, 2, 1);
    end_all(c, 2, (const uint64_t[]){8, 2});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert_msg(r.ok, "not ok: %s", l.text);
    assert_other_failures_zero(&r, NULL);
    ck_assert_uint_eq(l.count, 0);
    ck_assert_uint_eq(r.sent, 9);
    ck_assert_uint_eq(r.acked, 6);
    ck_assert_uint_eq(r.failed, 3);
    ck_assert_uint_eq(r.read_final, 10);
    ck_assert_uint_eq(r.read_live, 4);
    ck_assert_uint_eq(r.duplicates_explained, 2);
    ck_assert_uint_eq(r.duplicate_copies, 2);
    ck_assert_uint_eq(r.failed_but_present, 2);

    char summary[512];
    int n = checker_result_format(&r, summary, sizeof(summary));
    ck_assert_int_gt(n, 0);
    ck_assert_uint_lt((size_t)n, sizeof(summary));
    ck_assert_str_eq(strtok(summary, " "), "ok");
    checker_destroy(c);
}
END_TEST

/* ---- one test per check --------------------------------------------------------- */

START_TEST(test_lost)
{
    struct checker *c = checker_create(1, 10, 1);
    ck_assert_ptr_nonnull(c);
    /* seq 1 and seq 2 both acked at offset 1 (a broker bug): 1 holds seq 2,
     * seq 1 is nowhere. seq 3 acked at offset 5, past the drain's end. */
    sent_acked(c, 0, 0, 0, 0, 1);
    sent_acked(c, 0, 1, 0, 1, 1);
    sent_acked(c, 0, 2, 0, 1, 1);
    sent_acked(c, 0, 3, 0, 5, 1);
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 0, 2);
    end_all(c, 1, (const uint64_t[]){2});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.lost, 2);
    assert_other_failures_zero(&r, &r.lost);
    ck_assert_uint_eq(l.count, 2);
    ck_assert_ptr_nonnull(strstr(l.text, "lost: producer 0 seq 1 acked at partition 0 offset 1"));
    ck_assert_ptr_nonnull(strstr(l.text, "offset 1 holds producer 0 seq 2"));
    ck_assert_ptr_nonnull(strstr(l.text, "lost: producer 0 seq 3 acked at partition 0 offset 5"));
    ck_assert_ptr_nonnull(strstr(l.text, "the drain ends at 2"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_wrong_offset)
{
    struct checker *c = checker_create(2, 10, 1);
    ck_assert_ptr_nonnull(c);
    sent_acked(c, 0, 0, 0, 0, 1);
    sent_acked(c, 1, 0, 0, 1, 1);
    read_final(c, 0, 0, 1, 0); /* swapped: each is present, elsewhere */
    read_final(c, 0, 1, 0, 0);
    end_all(c, 1, (const uint64_t[]){2});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.wrong_offset, 2);
    assert_other_failures_zero(&r, &r.wrong_offset);
    ck_assert_uint_eq(l.count, 2);
    ck_assert_ptr_nonnull(strstr(l.text, "wrong_offset: producer 0 seq 0 acked at partition 0 "
                                         "offset 0 is at offset 1; offset 0 holds producer 1 seq 0"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_unexpected)
{
    struct checker *c = checker_create(2, 10, 2);
    ck_assert_ptr_nonnull(c);
    sent_acked(c, 0, 0, 1, 0, 1);
    sent_acked(c, 0, 1, 0, 0, 1);
    read_final(c, 1, 0, 0, 0);
    read_final(c, 0, 0, 0, 1);
    read_final(c, 0, 1, 0, 0); /* sent to partition 1 */
    static const char garbage[] = "no id here";
    ck_assert_int_eq(checker_read_final(c, 0, 2, (const uint8_t *)garbage, strlen(garbage)),
                     CHECKER_OK);
    ck_assert_int_eq(checker_read_final(c, 0, 3, NULL, 0), CHECKER_OK); /* empty value */
    read_final(c, 0, 4, 0, 7); /* seq never sent */
    read_final(c, 0, 5, 1, 0); /* producer 1 never sent */
    read_final(c, 0, 6, 9, 0); /* producer out of range */
    end_all(c, 2, (const uint64_t[]){7, 1});

    struct checker_result r;
    struct lines l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(checker_run(c, &r, 10, collect_line, &l), CHECKER_OK);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.unexpected, 6);
    assert_other_failures_zero(&r, &r.unexpected);
    ck_assert_uint_eq(r.read_final, 8);
    ck_assert_uint_eq(l.count, 6);
    ck_assert_ptr_nonnull(strstr(l.text, "partition 0 offset 1 holds producer 0 seq 0, sent to "
                                         "partition 1"));
    ck_assert_ptr_nonnull(strstr(l.text, "partition 0 offset 2 holds a value without an id"));
    ck_assert_ptr_nonnull(strstr(l.text, "partition 0 offset 3 holds a value without an id"));
    ck_assert_ptr_nonnull(strstr(l.text, "offset 4 holds producer 0 seq 7, never sent"));
    ck_assert_ptr_nonnull(strstr(l.text, "offset 5 holds producer 1 seq 0, never sent"));
    ck_assert_ptr_nonnull(strstr(l.text, "offset 6 holds producer 9 seq 0, never sent"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_duplicate_idempotent)
{
    struct checker *c = checker_create(1, 10, 1);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(checker_producer(c, 0, true), CHECKER_OK);
    /* Retried, but idempotence promises a retry is stored once. */
    sent_acked(c, 0, 0, 0, 0, 3);
    sent_acked(c, 0, 1, 0, 3, 1);
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 0, 0);
    read_final(c, 0, 2, 0, 0);
    read_final(c, 0, 3, 0, 1);
    end_all(c, 1, (const uint64_t[]){4});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.duplicates_idempotent, 1);
    ck_assert_uint_eq(r.duplicate_copies, 2);
    ck_assert_uint_eq(r.duplicates_explained, 0);
    assert_other_failures_zero(&r, &r.duplicates_idempotent);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_ptr_nonnull(strstr(l.text, "duplicate: producer 0 seq 0 appears 3 times in "
                                         "partition 0 (offsets 0, 1, ...): idempotent producer"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_duplicate_unexplained)
{
    struct checker *c = checker_create(1, 10, 1);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(checker_producer(c, 0, false), CHECKER_OK);
    /* One attempt, acknowledged: no retry could have stored it twice. */
    sent_acked(c, 0, 0, 0, 0, 1);
    sent_acked(c, 0, 1, 0, 1, 2); /* retried and stored twice: explained */
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 0, 1);
    read_final(c, 0, 2, 0, 0);
    read_final(c, 0, 3, 0, 1);
    end_all(c, 1, (const uint64_t[]){4});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.duplicates_unexplained, 1);
    ck_assert_uint_eq(r.duplicates_explained, 1);
    ck_assert_uint_eq(r.duplicate_copies, 2);
    assert_other_failures_zero(&r, &r.duplicates_unexplained);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_ptr_nonnull(strstr(l.text, "duplicate: producer 0 seq 0 appears 2 times in "
                                         "partition 0 (offsets 0, 2, ...): one attempt"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_gaps)
{
    struct checker *c = checker_create(1, 10, 2);
    ck_assert_ptr_nonnull(c);
    sent_acked(c, 0, 0, 0, 0, 1);
    sent_acked(c, 0, 1, 0, 3, 1);
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 3, 0, 1); /* offsets 1 and 2 skipped */
    /* Partition 1 is empty, but its end says 2 records exist. */
    end_all(c, 2, (const uint64_t[]){4, 2});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.gaps, 4);
    assert_other_failures_zero(&r, &r.gaps);
    ck_assert_uint_eq(r.read_final, 2);
    ck_assert_uint_eq(l.count, 2);
    ck_assert_ptr_nonnull(strstr(l.text, "gap: partition 0 offsets 1..2 are missing"));
    ck_assert_ptr_nonnull(strstr(l.text, "gap: partition 1 offsets 0..1 are missing: the final "
                                         "drain stopped before its end 2"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_order_violation)
{
    struct checker *c = checker_create(2, 10, 2);
    ck_assert_ptr_nonnull(c);
    /* Partition 0: producer 0's seq 2 lands before its seq 1. */
    sent_acked(c, 0, 0, 0, 0, 1);
    sent_acked(c, 0, 1, 0, 2, 1);
    sent_acked(c, 0, 2, 0, 1, 1);
    /* Not violations: producers interleave, a partition has its own order, and a
     * duplicate's later copy is not a first occurrence. */
    ck_assert_int_eq(checker_producer(c, 1, false), CHECKER_OK);
    sent_acked(c, 1, 0, 1, 0, 2);
    sent_acked(c, 1, 1, 0, 3, 1);
    sent_acked(c, 1, 2, 1, 1, 1);
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 0, 2);
    read_final(c, 0, 2, 0, 1);
    read_final(c, 0, 3, 1, 1);
    read_final(c, 1, 0, 1, 0);
    read_final(c, 1, 1, 1, 2);
    read_final(c, 1, 2, 1, 0);
    end_all(c, 2, (const uint64_t[]){4, 3});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.order_violations, 1);
    ck_assert_uint_eq(r.duplicates_explained, 1);
    assert_other_failures_zero(&r, &r.order_violations);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_ptr_nonnull(strstr(l.text, "order: partition 0 offset 2: producer 0 seq 1 first "
                                         "appears after seq 2 of that producer"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_live_mismatch)
{
    struct checker *c = checker_create(1, 10, 1);
    ck_assert_ptr_nonnull(c);
    sent_acked(c, 0, 0, 0, 0, 1);
    sent_acked(c, 0, 1, 0, 1, 1);
    read_live(c, 0, 0, 0, 0, 0); /* matches */
    read_live(c, 0, 1, 0, 0, 0); /* another record at offset 1 */
    read_live(c, 0, 0, 0, 0, 1); /* the same id, other bytes */
    read_live(c, 0, 2, 0, 1, 0); /* an offset the final log does not have */
    static const char garbage[] = "garbage";
    ck_assert_int_eq(checker_read_live(c, 0, 1, (const uint8_t *)garbage, strlen(garbage)),
                     CHECKER_OK);
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 0, 1);
    end_all(c, 1, (const uint64_t[]){2});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.live_mismatch, 4);
    ck_assert_uint_eq(r.read_live, 5);
    assert_other_failures_zero(&r, &r.live_mismatch);
    ck_assert_uint_eq(l.count, 4);
    ck_assert_ptr_nonnull(strstr(l.text, "live_mismatch: partition 0 offset 1 was read live as "
                                         "producer 0 seq 0; the final drain holds producer 0 seq 1"));
    ck_assert_ptr_nonnull(strstr(l.text, "offset 0 was read live as producer 0 seq 0; the final "
                                         "drain holds the same id with other bytes"));
    ck_assert_ptr_nonnull(strstr(l.text, "offset 2 was read live as producer 0 seq 1; the final "
                                         "drain holds nothing (the drain ends at 2)"));
    ck_assert_ptr_nonnull(strstr(l.text, "offset 1 was read live as a value without an id"));
    checker_destroy(c);
}
END_TEST

START_TEST(test_unreported)
{
    struct checker *c = checker_create(1, 10, 1);
    ck_assert_ptr_nonnull(c);
    sent_acked(c, 0, 0, 0, 0, 1);
    ck_assert_int_eq(checker_sent(c, 0, 1, 0), CHECKER_OK); /* no outcome */
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 0, 1);
    end_all(c, 1, (const uint64_t[]){2});

    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.unreported, 1);
    ck_assert_uint_eq(r.sent, 2);
    ck_assert_uint_eq(r.acked, 1);
    ck_assert_uint_eq(r.failed, 0);
    assert_other_failures_zero(&r, &r.unreported);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_ptr_nonnull(strstr(l.text, "unreported: producer 0 seq 1 (partition 0)"));
    checker_destroy(c);
}
END_TEST

/* An unreported record stored twice: its duplicate is explained for a non-idempotent producer. */
START_TEST(test_unreported_duplicate_explained)
{
    struct checker *c = checker_create(1, 10, 1);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(checker_producer(c, 0, false), CHECKER_OK);
    ck_assert_int_eq(checker_sent(c, 0, 0, 0), CHECKER_OK);
    read_final(c, 0, 0, 0, 0);
    read_final(c, 0, 1, 0, 0);
    end_all(c, 1, (const uint64_t[]){2});
    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert_uint_eq(r.duplicates_explained, 1);
    ck_assert_uint_eq(r.duplicates_unexplained, 0);
    assert_other_failures_zero(&r, &r.unreported);
    ck_assert_uint_eq(r.unreported, 1);
    ck_assert(!r.ok);
    checker_destroy(c);
}
END_TEST

/* ---- lines, reruns, misuse, bounds ------------------------------------------------ */

START_TEST(test_lines_budget_and_rerun)
{
    struct checker *c = checker_create(1, 100, 1);
    ck_assert_ptr_nonnull(c);
    for (uint64_t s = 0; s < 10; s++)
        sent_acked(c, 0, s, 0, (int64_t)s, 1);
    end_all(c, 1, (const uint64_t[]){0}); /* an empty drain: all 10 lost */

    struct checker_result r;
    struct lines l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(checker_run(c, &r, 3, collect_line, &l), CHECKER_OK);
    ck_assert_uint_eq(r.lost, 10);
    ck_assert_uint_eq(l.count, 3);
    ck_assert_ptr_nonnull(strstr(l.text, "seq 0 acked"));
    ck_assert_ptr_null(strstr(l.text, "seq 3 acked"));

    /* No callback, no lines: the same counts, and a rerun recomputes (nothing doubles). */
    struct checker_result again;
    ck_assert_int_eq(checker_run(c, &again, 3, NULL, NULL), CHECKER_OK);
    ck_assert_int_eq(memcmp(&r, &again, sizeof(r)), 0);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(checker_run(c, &again, 0, collect_line, &l), CHECKER_OK);
    ck_assert_uint_eq(l.count, 0);
    ck_assert_uint_eq(again.lost, 10);

    char summary[512];
    ck_assert_int_gt(checker_result_format(&r, summary, sizeof(summary)), 0);
    ck_assert_ptr_nonnull(strstr(summary, "FAILED lost=10 "));
    checker_destroy(c);
}
END_TEST

START_TEST(test_create_arguments)
{
    ck_assert_ptr_null(checker_create(0, 10, 1));
    ck_assert_ptr_null(checker_create(1, 0, 1));
    ck_assert_ptr_null(checker_create(1, 10, 0));
    /* producers * sends * CHECKER_READS_PER_SEND_MAX would overflow. */
    ck_assert_ptr_null(checker_create(2, UINT64_MAX / 4, 1));
    ck_assert_ptr_null(checker_create(UINT32_MAX, UINT64_MAX / UINT32_MAX, 1));
    /* Large bounds cost nothing until used. */
    struct checker *c = checker_create(1000, UINT64_C(1) << 40, 1000);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(checker_last_error(c), "");
    checker_destroy(c);
    checker_destroy(NULL);
    ck_assert_str_eq(checker_last_error(NULL), "");
}
END_TEST

START_TEST(test_misuse_errors)
{
    struct checker *c = checker_create(2, 10, 2);
    ck_assert_ptr_nonnull(c);
    static const uint8_t v[] = "rmq:0:0:";

    ck_assert_int_eq(checker_producer(c, 2, false), CHECKER_E_ARG);
    ck_assert_int_eq(checker_sent(c, 2, 0, 0), CHECKER_E_ARG);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "producer 2"));
    ck_assert_int_eq(checker_sent(c, 0, 0, 2), CHECKER_E_ARG);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "partition 2"));
    ck_assert_int_eq(checker_sent(c, 0, 10, 0), CHECKER_E_BOUND);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "seq 10"));
    ck_assert_int_eq(checker_sent(c, 0, UINT64_MAX, 0), CHECKER_E_BOUND);
    ck_assert_int_eq(checker_sent(c, 0, 9, 0), CHECKER_OK); /* the last seq allowed */
    ck_assert_int_eq(checker_sent(c, 0, 0, 0), CHECKER_OK);
    ck_assert_int_eq(checker_sent(c, 0, 0, 1), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "sent twice"));

    ck_assert_int_eq(checker_outcome(c, 0, 1, 0, 0, 1), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "never sent"));
    ck_assert_int_eq(checker_outcome(c, 1, 0, 0, 0, 1), CHECKER_E_SEQUENCE);
    ck_assert_int_eq(checker_outcome(c, 0, 10, 0, 0, 1), CHECKER_E_BOUND);
    ck_assert_int_eq(checker_outcome(c, 5, 0, 0, 0, 1), CHECKER_E_ARG);
    ck_assert_int_eq(checker_outcome(c, 0, 0, 0, 0, 0), CHECKER_E_ARG);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "attempts 0"));
    ck_assert_int_eq(checker_outcome(c, 0, 9, 5, -1, 0), CHECKER_OK); /* failed, never sent */
    ck_assert_int_eq(checker_outcome(c, 0, 0, 0, -1, 1), CHECKER_E_ARG);
    ck_assert_int_eq(checker_outcome(c, 0, 0, 0, 0, 1), CHECKER_OK);
    ck_assert_int_eq(checker_outcome(c, 0, 0, 3, -1, 1), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "reported twice"));

    ck_assert_int_eq(checker_read_live(c, 2, 0, v, sizeof(v) - 1), CHECKER_E_ARG);
    ck_assert_int_eq(checker_read_live(c, 0, 0, NULL, 3), CHECKER_E_ARG);
    ck_assert_int_eq(checker_read_final(c, 2, 0, v, sizeof(v) - 1), CHECKER_E_ARG);
    ck_assert_int_eq(checker_read_final(c, 0, 0, NULL, 3), CHECKER_E_ARG);

    ck_assert_int_eq(checker_read_final(c, 0, 0, v, sizeof(v) - 1), CHECKER_OK);
    ck_assert_int_eq(checker_read_final(c, 0, 0, v, sizeof(v) - 1), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "partition 0 offset 0 is not the next"));
    ck_assert_int_eq(checker_read_final(c, 0, 1, v, sizeof(v) - 1), CHECKER_OK);

    /* checker_run refuses while a drain has not ended. */
    struct checker_result r;
    ck_assert_int_eq(checker_run(c, &r, 1, NULL, NULL), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "partition 0"));

    ck_assert_int_eq(checker_final_end(c, 2, 0), CHECKER_E_ARG);
    ck_assert_int_eq(checker_final_end(c, 0, 1), CHECKER_E_SEQUENCE); /* offset 1 was read */
    ck_assert_int_eq(checker_final_end(c, 0, 2), CHECKER_OK);
    ck_assert_int_eq(checker_final_end(c, 0, 2), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "ended twice"));
    ck_assert_int_eq(checker_read_final(c, 0, 2, v, sizeof(v) - 1), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "after the drain's end"));
    ck_assert_int_eq(checker_run(c, &r, 1, NULL, NULL), CHECKER_E_SEQUENCE);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "partition 1"));
    ck_assert_int_eq(checker_final_end(c, 1, 0), CHECKER_OK);
    ck_assert_int_eq(checker_run(c, &r, 1, NULL, NULL), CHECKER_OK);

    ck_assert_str_eq(checker_strerror(CHECKER_E_BOUND), "CHECKER_E_BOUND");
    ck_assert_str_eq(checker_strerror(CHECKER_OK), "CHECKER_OK");
    ck_assert_str_eq(checker_strerror(12345), "unknown");
    checker_destroy(c);
}
END_TEST

START_TEST(test_read_bounds)
{
    /* 1 producer x 2 sends: at most 8 final offsets and 8 live reads. */
    struct checker *c = checker_create(1, 2, 2);
    ck_assert_ptr_nonnull(c);
    static const uint8_t v[] = "rmq:0:0:";
    for (uint64_t i = 0; i < 8; i++)
        ck_assert_int_eq(checker_read_live(c, 0, i, v, sizeof(v) - 1), CHECKER_OK);
    ck_assert_int_eq(checker_read_live(c, 1, 8, v, sizeof(v) - 1), CHECKER_E_BOUND);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "live reads"));

    /* A gap too wide to hold is refused without allocating it. */
    ck_assert_int_eq(checker_read_final(c, 0, UINT64_C(1) << 40, v, sizeof(v) - 1),
                     CHECKER_E_BOUND);
    ck_assert_int_eq(checker_read_final(c, 0, UINT64_MAX, v, sizeof(v) - 1), CHECKER_E_BOUND);
    /* Offsets 0..4 in partition 0 (a gap of 3 included), 5..7 in partition 1: 8 in all. */
    ck_assert_int_eq(checker_read_final(c, 0, 0, v, sizeof(v) - 1), CHECKER_OK);
    ck_assert_int_eq(checker_read_final(c, 0, 4, v, sizeof(v) - 1), CHECKER_OK);
    ck_assert_int_eq(checker_read_final(c, 1, 2, v, sizeof(v) - 1), CHECKER_OK);
    ck_assert_int_eq(checker_read_final(c, 1, 3, v, sizeof(v) - 1), CHECKER_E_BOUND);
    ck_assert_ptr_nonnull(strstr(checker_last_error(c), "partition 1 offset 3"));
    ck_assert_int_eq(checker_read_final(c, 0, 5, v, sizeof(v) - 1), CHECKER_E_BOUND);
    /* A trailing gap costs nothing. */
    ck_assert_int_eq(checker_final_end(c, 0, UINT64_C(1) << 50), CHECKER_OK);
    ck_assert_int_eq(checker_final_end(c, 1, 3), CHECKER_OK);
    struct checker_result r;
    ck_assert_int_eq(checker_run(c, &r, 0, NULL, NULL), CHECKER_OK);
    ck_assert_uint_eq(r.gaps, 3 + ((UINT64_C(1) << 50) - 5) + 2);
    ck_assert_uint_eq(r.unexpected, 3); /* rmq:0:0: was never sent */
    ck_assert(!r.ok);
    checker_destroy(c);
}
END_TEST

/*
 * A larger clean history: 4 producers x 20000 records over 3 partitions,
 * every record acked and drained, half the producers non-idempotent with
 * every 100th record retried and stored twice. Checks the arrays grow
 * correctly and that the verdict scales.
 */
START_TEST(test_large_clean_history)
{
    enum { PRODUCERS = 4, SENDS = 20000, PARTITIONS = 3 };
    struct checker *c = checker_create(PRODUCERS, SENDS, PARTITIONS);
    ck_assert_ptr_nonnull(c);
    uint64_t next[PARTITIONS] = {0};
    uint64_t dups = 0;
    for (uint64_t s = 0; s < SENDS; s++) {
        for (uint32_t p = 0; p < PRODUCERS; p++) {
            bool idempotent = p % 2 == 0;
            if (s == 0)
                ck_assert_int_eq(checker_producer(c, p, idempotent), CHECKER_OK);
            uint32_t part = (uint32_t)((s + p) % PARTITIONS);
            bool retried = !idempotent && s % 100 == 0;
            sent_acked(c, p, s, part, (int64_t)next[part], retried ? 2 : 1);
            read_final(c, part, next[part]++, p, s);
            if (retried) {
                read_final(c, part, next[part]++, p, s);
                dups++;
            }
            if (s % 7 == 0)
                read_live(c, part, next[part] - 1, p, s, 0);
        }
    }
    end_all(c, PARTITIONS, next);
    struct checker_result r;
    struct lines l;
    run(c, &r, &l);
    ck_assert_msg(r.ok, "not ok: %s", l.text);
    assert_other_failures_zero(&r, NULL);
    ck_assert_uint_eq(r.sent, PRODUCERS * SENDS);
    ck_assert_uint_eq(r.acked, PRODUCERS * SENDS);
    ck_assert_uint_eq(r.read_final, PRODUCERS * SENDS + dups);
    ck_assert_uint_eq(r.duplicates_explained, dups);
    ck_assert_uint_eq(dups, 2 * SENDS / 100);
    checker_destroy(c);
}
END_TEST

Suite *checker_suite(void)
{
    Suite *s = suite_create("checker");
    TCase *ids = tcase_create("ids");
    tcase_add_test(ids, test_id_round_trip);
    tcase_add_test(ids, test_format_id_too_small);
    tcase_add_test(ids, test_parse_id_malformed);
    suite_add_tcase(s, ids);

    TCase *checks = tcase_create("checks");
    tcase_add_test(checks, test_clean_history_ok);
    tcase_add_test(checks, test_lost);
    tcase_add_test(checks, test_wrong_offset);
    tcase_add_test(checks, test_unexpected);
    tcase_add_test(checks, test_duplicate_idempotent);
    tcase_add_test(checks, test_duplicate_unexplained);
    tcase_add_test(checks, test_gaps);
    tcase_add_test(checks, test_order_violation);
    tcase_add_test(checks, test_live_mismatch);
    tcase_add_test(checks, test_unreported);
    tcase_add_test(checks, test_unreported_duplicate_explained);
    tcase_add_test(checks, test_lines_budget_and_rerun);
    tcase_add_test(checks, test_large_clean_history);
    suite_add_tcase(s, checks);

    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_create_arguments);
    tcase_add_test(errors, test_misuse_errors);
    tcase_add_test(errors, test_read_bounds);
    suite_add_tcase(s, errors);
    return s;
}
