/*
 * The fault-injection suite's history checker (checker.h).
 *
 * Layout: one array of records per producer, indexed by seq, holding what
 * the harness said about each send; one array of entries per partition,
 * indexed by offset, holding the final drain (a gap is an entry of kind
 * HOLE, so an offset is always an index); one flat array of live reads.
 * Entries keep only the parsed id and a 30-bit hash of the value's bytes,
 * so a history of millions of records needs no per-record allocation.
 * Every check runs in checker_run, over these arrays, in a fixed order.
 */
#include "tests/faults/checker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_PREFIX "rmq:"
#define ID_PREFIX_BYTES 4u
#define PRODUCER_DIGITS_MAX 10u
#define SEQ_DIGITS_MAX 20u

_Static_assert(CHECKER_ID_BYTES_MAX == ID_PREFIX_BYTES + PRODUCER_DIGITS_MAX + 1u +
                                           SEQ_DIGITS_MAX + 1u,
               "CHECKER_ID_BYTES_MAX is the longest prefix");

enum record_state {
    RECORD_UNSENT = 0, /* zeroed memory: no checker_sent for this seq */
    RECORD_SENT,       /* sent, no outcome yet */
    RECORD_ACKED,
    RECORD_FAILED,
};

/* What the harness said about one (producer, seq). */
struct record {
    uint64_t ack_offset; /* RECORD_ACKED only */
    uint32_t partition;
    uint32_t attempts; /* 0 until the outcome */
    int32_t error;     /* RECORD_FAILED only */
    /* Scratch of checker_run: occurrences in its own partition's final drain (saturating). */
    uint16_t final_count;
    uint8_t state; /* enum record_state */
    uint8_t unused;
};

struct producer_log {
    struct record *records; /* [0, capacity), zeroed past the seqs sent */
    uint64_t capacity;
    uint64_t seq_end; /* one past the highest seq sent */
    bool idempotent;
};

enum entry_kind {
    ENTRY_HOLE = 0, /* an offset the drain skipped (zeroed memory) */
    ENTRY_NO_ID,    /* a value without a well-formed id */
    ENTRY_ID,
};

/* A value read at some offset: its id and a hash of all its bytes. */
struct entry {
    uint64_t seq;      /* ENTRY_ID */
    uint32_t producer; /* ENTRY_ID */
    uint32_t tag;      /* hash << 2 | kind */
};
_Static_assert(sizeof(struct entry) == 16, "an entry stays compact");

struct partition_log {
    struct entry *entries; /* [0, count) by offset */
    uint64_t count;        /* one past the last offset read (holes included) */
    uint64_t capacity;
    uint64_t end_offset; /* from checker_final_end */
    bool ended;
};

struct live_read {
    struct entry entry;
    uint64_t offset;
    uint32_t partition;
};

struct checker {
    uint32_t producer_count;
    uint32_t partition_count;
    uint64_t sends_per_producer_max;
    uint64_t reads_max; /* final entries (holes included) and live reads, each */
    uint64_t final_entries; /* sum of the partitions' count */
    struct producer_log *producers;
    struct partition_log *partitions;
    struct live_read *live;
    uint64_t live_count;
    uint64_t live_capacity;
    char error[CHECKER_LINE_BYTES_MAX];
};

/* ---- ids ---------------------------------------------------------------------- */

size_t checker_format_id(char *buf, size_t cap, uint32_t producer, uint64_t seq)
{
    char text[CHECKER_ID_BYTES_MAX + 1];
    int n = snprintf(text, sizeof(text), ID_PREFIX "%" PRIu32 ":%" PRIu64 ":", producer, seq);
    if (n <= 0 || (size_t)n > CHECKER_ID_BYTES_MAX || (size_t)n > cap || buf == NULL)
        return 0;
    memcpy(buf, text, (size_t)n);
    return (size_t)n;
}

/*
 * Strict decimal from value[*at] up to a ':' : at least one digit, no
 * leading zero (but "0"), at most digits_max digits, at most max.
 */
static bool parse_decimal(const uint8_t *value, size_t len, size_t *at, unsigned digits_max,
                          uint64_t max, uint64_t *out)
{
    size_t start = *at;
    uint64_t v = 0;
    size_t i = start;
    while (i < len && value[i] >= '0' && value[i] <= '9') {
        if (i - start >= digits_max)
            return false;
        uint64_t digit = (uint64_t)(value[i] - '0');
        if (v > (max - digit) / 10u)
            return false;
        v = v * 10u + digit;
        i++;
    }
    size_t digits = i - start;
    if (digits == 0 || (digits > 1 && value[start] == '0'))
        return false;
    if (i >= len || value[i] != ':')
        return false;
    *at = i + 1;
    *out = v;
    return true;
}

bool checker_parse_id(const uint8_t *value, size_t len, uint32_t *producer, uint64_t *seq)
{
    if (value == NULL || len < ID_PREFIX_BYTES || memcmp(value, ID_PREFIX, ID_PREFIX_BYTES) != 0)
        return false;
    size_t at = ID_PREFIX_BYTES;
    uint64_t p, s;
    if (!parse_decimal(value, len, &at, PRODUCER_DIGITS_MAX, UINT32_MAX, &p))
        return false;
    if (!parse_decimal(value, len, &at, SEQ_DIGITS_MAX, UINT64_MAX, &s))
        return false;
    if (producer != NULL)
        *producer = (uint32_t)p;
    if (seq != NULL)
        *seq = s;
    return true;
}

/* FNV-1a 32: a cheap fingerprint of the value, to tell two values with one id apart. */
static uint32_t value_hash(const uint8_t *value, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= value[i];
        h *= 16777619u;
    }
    return h;
}

static struct entry entry_of(const uint8_t *value, size_t len)
{
    struct entry e = {0};
    if (checker_parse_id(value, len, &e.producer, &e.seq)) {
        e.tag = value_hash(value, len) << 2 | ENTRY_ID;
    } else {
        e.producer = 0;
        e.seq = 0;
        e.tag = value_hash(value, len) << 2 | ENTRY_NO_ID;
    }
    return e;
}

static enum entry_kind entry_kind(const struct entry *e)
{
    return (enum entry_kind)(e->tag & 3u);
}

static bool entry_same(const struct entry *a, const struct entry *b)
{
    return a->tag == b->tag && a->producer == b->producer && a->seq == b->seq;
}

/* "producer 2 seq 17", "a value without an id", "no record (a gap)". */
static void entry_describe(const struct entry *e, char *buf, size_t cap)
{
    switch (entry_kind(e)) {
    case ENTRY_ID:
        snprintf(buf, cap, "producer %" PRIu32 " seq %" PRIu64, e->producer, e->seq);
        break;
    case ENTRY_NO_ID:
        snprintf(buf, cap, "a value without an id");
        break;
    default:
        snprintf(buf, cap, "no record (a gap)");
        break;
    }
}

/* ---- errors --------------------------------------------------------------------- */

const char *checker_strerror(int code)
{
    switch (code) {
    case CHECKER_OK:
        return "CHECKER_OK";
    case CHECKER_E_ARG:
        return "CHECKER_E_ARG";
    case CHECKER_E_BOUND:
        return "CHECKER_E_BOUND";
    case CHECKER_E_SEQUENCE:
        return "CHECKER_E_SEQUENCE";
    case CHECKER_E_NOMEM:
        return "CHECKER_E_NOMEM";
    default:
        return "unknown";
    }
}

const char *checker_last_error(const struct checker *c)
{
    return c == NULL ? "" : c->error;
}

__attribute__((format(printf, 3, 4))) static int fail(struct checker *c, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return code;
}

/*
 * Makes *array hold at least `need` elements of `size` bytes (doubling,
 * never past max), zeroing the new ones. false when max or memory is short.
 */
static bool grow(void **array, uint64_t *capacity, uint64_t need, size_t size, uint64_t max)
{
    if (need <= *capacity)
        return true;
    if (need > max || need > SIZE_MAX / size)
        return false;
    uint64_t cap = *capacity < 64 ? 64 : *capacity;
    while (cap < need)
        cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
    if (cap > max)
        cap = max;
    if (cap > SIZE_MAX / size)
        cap = need;
    void *bigger = realloc(*array, (size_t)cap * size);
    if (bigger == NULL)
        return false;
    memset((char *)bigger + (size_t)*capacity * size, 0, (size_t)(cap - *capacity) * size);
    *array = bigger;
    *capacity = cap;
    return true;
}

/* ---- building the history ------------------------------------------------------- */

struct checker *checker_create(uint32_t producers, uint64_t sends_per_producer_max,
                               uint32_t partitions)
{
    if (producers == 0 || partitions == 0 || sends_per_producer_max == 0)
        return NULL;
    if (sends_per_producer_max > UINT64_MAX / producers / CHECKER_READS_PER_SEND_MAX)
        return NULL;
    struct checker *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->producer_count = producers;
    c->partition_count = partitions;
    c->sends_per_producer_max = sends_per_producer_max;
    c->reads_max = (uint64_t)producers * sends_per_producer_max * CHECKER_READS_PER_SEND_MAX;
    c->producers = calloc(producers, sizeof(*c->producers));
    c->partitions = calloc(partitions, sizeof(*c->partitions));
    if (c->producers == NULL || c->partitions == NULL) {
        checker_destroy(c);
        return NULL;
    }
    for (uint32_t p = 0; p < producers; p++)
        c->producers[p].idempotent = true;
    return c;
}

void checker_destroy(struct checker *c)
{
    if (c == NULL)
        return;
    if (c->producers != NULL)
        for (uint32_t p = 0; p < c->producer_count; p++)
            free(c->producers[p].records);
    if (c->partitions != NULL)
        for (uint32_t p = 0; p < c->partition_count; p++)
            free(c->partitions[p].entries);
    free(c->producers);
    free(c->partitions);
    free(c->live);
    free(c);
}

int checker_producer(struct checker *c, uint32_t producer, bool idempotent)
{
    if (producer >= c->producer_count)
        return fail(c, CHECKER_E_ARG, "checker_producer: producer %" PRIu32 " >= %" PRIu32,
                    producer, c->producer_count);
    c->producers[producer].idempotent = idempotent;
    return CHECKER_OK;
}

int checker_sent(struct checker *c, uint32_t producer, uint64_t seq, uint32_t partition)
{
    if (producer >= c->producer_count)
        return fail(c, CHECKER_E_ARG, "checker_sent: producer %" PRIu32 " >= %" PRIu32,
                    producer, c->producer_count);
    if (partition >= c->partition_count)
        return fail(c, CHECKER_E_ARG,
                    "checker_sent: producer %" PRIu32 " seq %" PRIu64 ": partition %" PRIu32
                    " >= %" PRIu32,
                    producer, seq, partition, c->partition_count);
    if (seq >= c->sends_per_producer_max)
        return fail(c, CHECKER_E_BOUND,
                    "checker_sent: producer %" PRIu32 " seq %" PRIu64
                    " >= sends_per_producer_max %" PRIu64,
                    producer, seq, c->sends_per_producer_max);
    struct producer_log *pl = &c->producers[producer];
    if (!grow((void **)&pl->records, &pl->capacity, seq + 1, sizeof(struct record),
              c->sends_per_producer_max))
        return fail(c, CHECKER_E_NOMEM, "checker_sent: producer %" PRIu32 " seq %" PRIu64
                    ": out of memory", producer, seq);
    struct record *r = &pl->records[seq];
    if (r->state != RECORD_UNSENT)
        return fail(c, CHECKER_E_SEQUENCE,
                    "checker_sent: producer %" PRIu32 " seq %" PRIu64 " sent twice", producer,
                    seq);
    r->state = RECORD_SENT;
    r->partition = partition;
    if (seq + 1 > pl->seq_end)
        pl->seq_end = seq + 1;
    return CHECKER_OK;
}

/* The record of (producer, seq) if it was sent; NULL otherwise. */
static struct record *record_find(const struct checker *c, uint32_t producer, uint64_t seq)
{
    if (producer >= c->producer_count)
        return NULL;
    const struct producer_log *pl = &c->producers[producer];
    if (seq >= pl->seq_end || pl->records[seq].state == RECORD_UNSENT)
        return NULL;
    return &pl->records[seq];
}

int checker_outcome(struct checker *c, uint32_t producer, uint64_t seq, int error,
                    int64_t offset, uint32_t attempts)
{
    if (producer >= c->producer_count)
        return fail(c, CHECKER_E_ARG, "checker_outcome: producer %" PRIu32 " >= %" PRIu32,
                    producer, c->producer_count);
    if (seq >= c->sends_per_producer_max)
        return fail(c, CHECKER_E_BOUND,
                    "checker_outcome: producer %" PRIu32 " seq %" PRIu64
                    " >= sends_per_producer_max %" PRIu64,
                    producer, seq, c->sends_per_producer_max);
    /* A record can fail without ever being sent (no leader), never succeed so. */
    if (attempts == 0 && error == 0)
        return fail(c, CHECKER_E_ARG,
                    "checker_outcome: producer %" PRIu32 " seq %" PRIu64 ": attempts 0",
                    producer, seq);
    if (error == 0 && offset < 0)
        return fail(c, CHECKER_E_ARG,
                    "checker_outcome: producer %" PRIu32 " seq %" PRIu64
                    ": acknowledged at offset %" PRId64,
                    producer, seq, offset);
    struct record *r = record_find(c, producer, seq);
    if (r == NULL)
        return fail(c, CHECKER_E_SEQUENCE,
                    "checker_outcome: producer %" PRIu32 " seq %" PRIu64 " was never sent",
                    producer, seq);
    if (r->state != RECORD_SENT)
        return fail(c, CHECKER_E_SEQUENCE,
                    "checker_outcome: producer %" PRIu32 " seq %" PRIu64 " reported twice",
                    producer, seq);
    r->attempts = attempts;
    if (error == 0) {
        r->state = RECORD_ACKED;
        r->ack_offset = (uint64_t)offset;
    } else {
        r->state = RECORD_FAILED;
        r->error = (int32_t)error;
    }
    return CHECKER_OK;
}

int checker_read_live(struct checker *c, uint32_t partition, uint64_t offset,
                      const uint8_t *value, size_t len)
{
    if (partition >= c->partition_count)
        return fail(c, CHECKER_E_ARG, "checker_read_live: partition %" PRIu32 " >= %" PRIu32,
                    partition, c->partition_count);
    if (value == NULL && len > 0)
        return fail(c, CHECKER_E_ARG, "checker_read_live: NULL value of %zu bytes", len);
    if (!grow((void **)&c->live, &c->live_capacity, c->live_count + 1,
              sizeof(struct live_read), c->reads_max))
        return fail(c, c->live_count + 1 > c->reads_max ? CHECKER_E_BOUND : CHECKER_E_NOMEM,
                    "checker_read_live: partition %" PRIu32 " offset %" PRIu64
                    ": cannot hold more than %" PRIu64 " live reads",
                    partition, offset, c->live_count);
    struct live_read *l = &c->live[c->live_count++];
    l->entry = entry_of(value, len);
    l->offset = offset;
    l->partition = partition;
    return CHECKER_OK;
}

int checker_read_final(struct checker *c, uint32_t partition, uint64_t offset,
                       const uint8_t *value, size_t len)
{
    if (partition >= c->partition_count)
        return fail(c, CHECKER_E_ARG, "checker_read_final: partition %" PRIu32 " >= %" PRIu32,
                    partition, c->partition_count);
    if (value == NULL && len > 0)
        return fail(c, CHECKER_E_ARG, "checker_read_final: NULL value of %zu bytes", len);
    struct partition_log *pl = &c->partitions[partition];
    if (pl->ended)
        return fail(c, CHECKER_E_SEQUENCE,
                    "checker_read_final: partition %" PRIu32 " offset %" PRIu64
                    ": read after the drain's end (%" PRIu64 ")",
                    partition, offset, pl->end_offset);
    if (offset < pl->count)
        return fail(c, CHECKER_E_SEQUENCE,
                    "checker_read_final: partition %" PRIu32 " offset %" PRIu64
                    " is not the next one (%" PRIu64 "): the drain must move forward",
                    partition, offset, pl->count);
    /* Skipped offsets become holes: this read adds offset - count + 1 entries
     * (compared without the + 1, which could overflow). */
    if (offset - pl->count >= c->reads_max - c->final_entries)
        return fail(c, CHECKER_E_BOUND,
                    "checker_read_final: partition %" PRIu32 " offset %" PRIu64
                    ": past the bound of %" PRIu64 " final offsets over all partitions",
                    partition, offset, c->reads_max);
    if (!grow((void **)&pl->entries, &pl->capacity, offset + 1, sizeof(struct entry),
              c->reads_max))
        return fail(c, CHECKER_E_NOMEM,
                    "checker_read_final: partition %" PRIu32 " offset %" PRIu64
                    ": out of memory",
                    partition, offset);
    pl->entries[offset] = entry_of(value, len);
    c->final_entries += offset - pl->count + 1;
    pl->count = offset + 1;
    return CHECKER_OK;
}

int checker_final_end(struct checker *c, uint32_t partition, uint64_t end_offset)
{
    if (partition >= c->partition_count)
        return fail(c, CHECKER_E_ARG, "checker_final_end: partition %" PRIu32 " >= %" PRIu32,
                    partition, c->partition_count);
    struct partition_log *pl = &c->partitions[partition];
    if (pl->ended)
        return fail(c, CHECKER_E_SEQUENCE, "checker_final_end: partition %" PRIu32
                    " ended twice", partition);
    if (end_offset < pl->count)
        return fail(c, CHECKER_E_SEQUENCE,
                    "checker_final_end: partition %" PRIu32 ": end %" PRIu64
                    " is below offset %" PRIu64 " already read",
                    partition, end_offset, pl->count - 1);
    pl->ended = true;
    pl->end_offset = end_offset;
    return CHECKER_OK;
}

/* ---- the checks ---------------------------------------------------------------- */

enum check {
    CHECK_LOST,
    CHECK_WRONG_OFFSET,
    CHECK_UNEXPECTED,
    CHECK_DUPLICATE,
    CHECK_GAP,
    CHECK_ORDER,
    CHECK_LIVE,
    CHECK_UNREPORTED,
    CHECK_COUNT,
};

struct run {
    struct checker *c;
    struct checker_result *r;
    uint32_t lines_per_check;
    uint32_t lines[CHECK_COUNT];
    void (*report)(void *arg, const char *line);
    void *arg;
};

/* Hands one line to the report callback, unless its check has had its share. */
__attribute__((format(printf, 3, 4))) static void line(struct run *run, enum check check,
                                                       const char *fmt, ...)
{
    if (run->report == NULL || run->lines[check] >= run->lines_per_check)
        return;
    run->lines[check]++;
    char text[CHECKER_LINE_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    run->report(run->arg, text);
}

static bool line_wanted(const struct run *run, enum check check)
{
    return run->report != NULL && run->lines[check] < run->lines_per_check;
}

/*
 * Offsets of the final drain of partition that hold (producer, seq): the
 * first `max` of them into offsets; returns how many were found. Only used
 * to word report lines, so a linear scan is fine.
 */
static size_t find_offsets(const struct checker *c, uint32_t partition, uint32_t producer,
                           uint64_t seq, uint64_t *offsets, size_t max)
{
    const struct partition_log *pl = &c->partitions[partition];
    size_t found = 0;
    for (uint64_t o = 0; o < pl->count && found < max; o++) {
        const struct entry *e = &pl->entries[o];
        if (entry_kind(e) == ENTRY_ID && e->producer == producer && e->seq == seq)
            offsets[found++] = o;
    }
    return found;
}

static void check_outcomes(struct run *run)
{
    struct checker_result *r = run->r;
    for (uint32_t p = 0; p < run->c->producer_count; p++) {
        const struct producer_log *pl = &run->c->producers[p];
        for (uint64_t s = 0; s < pl->seq_end; s++) {
            const struct record *rec = &pl->records[s];
            switch (rec->state) {
            case RECORD_SENT:
                r->sent++;
                r->unreported++;
                line(run, CHECK_UNREPORTED,
                     "unreported: producer %" PRIu32 " seq %" PRIu64 " (partition %" PRIu32
                     ") was sent and never given an outcome",
                     p, s, rec->partition);
                break;
            case RECORD_ACKED:
                r->sent++;
                r->acked++;
                break;
            case RECORD_FAILED:
                r->sent++;
                r->failed++;
                break;
            default:
                break;
            }
        }
    }
}

/*
 * One pass over every partition's final drain: gaps, unexpected records,
 * occurrence counts and per-(producer, partition) order. seq_top holds,
 * per producer, one past the highest seq whose first occurrence this
 * partition has shown so far.
 */
static void check_final(struct run *run, uint64_t *seq_top)
{
    struct checker *c = run->c;
    struct checker_result *r = run->r;
    for (uint32_t part = 0; part < c->partition_count; part++) {
        const struct partition_log *pl = &c->partitions[part];
        memset(seq_top, 0, (size_t)c->producer_count * sizeof(*seq_top));
        uint64_t o = 0;
        while (o < pl->count) {
            const struct entry *e = &pl->entries[o];
            char what[96];
            if (entry_kind(e) == ENTRY_HOLE) {
                uint64_t first = o;
                while (o < pl->count && entry_kind(&pl->entries[o]) == ENTRY_HOLE)
                    o++;
                r->gaps += o - first;
                line(run, CHECK_GAP,
                     "gap: partition %" PRIu32 " offsets %" PRIu64 "..%" PRIu64
                     " are missing from the final drain (%" PRIu64 " offsets)",
                     part, first, o - 1, o - first);
                continue;
            }
            r->read_final++;
            if (entry_kind(e) == ENTRY_NO_ID) {
                r->unexpected++;
                line(run, CHECK_UNEXPECTED,
                     "unexpected: partition %" PRIu32 " offset %" PRIu64
                     " holds a value without an id",
                     part, o);
                o++;
                continue;
            }
            struct record *rec = record_find(c, e->producer, e->seq);
            entry_describe(e, what, sizeof(what));
            if (rec == NULL) {
                r->unexpected++;
                line(run, CHECK_UNEXPECTED,
                     "unexpected: partition %" PRIu32 " offset %" PRIu64 " holds %s, never sent",
                     part, o, what);
                o++;
                continue;
            }
            if (rec->partition != part) {
                r->unexpected++;
                line(run, CHECK_UNEXPECTED,
                     "unexpected: partition %" PRIu32 " offset %" PRIu64
                     " holds %s, sent to partition %" PRIu32,
                     part, o, what, rec->partition);
                o++;
                continue;
            }
            if (rec->final_count == 0) {
                /* Its first occurrence: the producer's order within this partition. */
                if (e->seq + 1 < seq_top[e->producer]) {
                    r->order_violations++;
                    line(run, CHECK_ORDER,
                         "order: partition %" PRIu32 " offset %" PRIu64
                         ": %s first appears after seq %" PRIu64 " of that producer",
                         part, o, what, seq_top[e->producer] - 1);
                } else {
                    seq_top[e->producer] = e->seq + 1;
                }
            }
            if (rec->final_count < UINT16_MAX)
                rec->final_count++;
            o++;
        }
        if (pl->end_offset > pl->count) {
            r->gaps += pl->end_offset - pl->count;
            line(run, CHECK_GAP,
                 "gap: partition %" PRIu32 " offsets %" PRIu64 "..%" PRIu64
                 " are missing: the final drain stopped before its end %" PRIu64,
                 part, pl->count, pl->end_offset - 1, pl->end_offset);
        }
    }
}

/* An acknowledged record: at its offset, somewhere else, or nowhere? */
static void check_acked(struct run *run, uint32_t producer, uint64_t seq,
                        const struct record *rec)
{
    const struct partition_log *pl = &run->c->partitions[rec->partition];
    if (rec->ack_offset < pl->count) {
        const struct entry *e = &pl->entries[rec->ack_offset];
        if (entry_kind(e) == ENTRY_ID && e->producer == producer && e->seq == seq)
            return;
    }
    char there[96];
    if (rec->ack_offset < pl->count)
        entry_describe(&pl->entries[rec->ack_offset], there, sizeof(there));
    else
        snprintf(there, sizeof(there), "nothing (the drain ends at %" PRIu64 ")", pl->count);
    if (rec->final_count > 0) {
        run->r->wrong_offset++;
        if (line_wanted(run, CHECK_WRONG_OFFSET)) {
            uint64_t found = 0;
            find_offsets(run->c, rec->partition, producer, seq, &found, 1);
            line(run, CHECK_WRONG_OFFSET,
                 "wrong_offset: producer %" PRIu32 " seq %" PRIu64 " acked at partition %" PRIu32
                 " offset %" PRIu64 " is at offset %" PRIu64 "; offset %" PRIu64 " holds %s",
                 producer, seq, rec->partition, rec->ack_offset, found, rec->ack_offset, there);
        }
    } else {
        run->r->lost++;
        line(run, CHECK_LOST,
             "lost: producer %" PRIu32 " seq %" PRIu64 " acked at partition %" PRIu32
             " offset %" PRIu64 " is not in the final drain; offset %" PRIu64 " holds %s",
             producer, seq, rec->partition, rec->ack_offset, rec->ack_offset, there);
    }
}

static void check_duplicate(struct run *run, uint32_t producer, uint64_t seq,
                            const struct record *rec, bool idempotent)
{
    struct checker_result *r = run->r;
    r->duplicate_copies += (uint64_t)rec->final_count - 1u;
    const char *verdict;
    if (idempotent) {
        r->duplicates_idempotent++;
        verdict = "idempotent producer";
    } else if (rec->attempts > 1 || rec->state != RECORD_ACKED) {
        r->duplicates_explained++;
        return; /* allowed: a retry of a non-idempotent producer may store twice */
    } else {
        r->duplicates_unexplained++;
        verdict = "one attempt, acknowledged";
    }
    if (line_wanted(run, CHECK_DUPLICATE)) {
        uint64_t at[2] = {0, 0};
        find_offsets(run->c, rec->partition, producer, seq, at, 2);
        line(run, CHECK_DUPLICATE,
             "duplicate: producer %" PRIu32 " seq %" PRIu64 " appears %u times in partition %" PRIu32
             " (offsets %" PRIu64 ", %" PRIu64 ", ...): %s",
             producer, seq, (unsigned)rec->final_count, rec->partition, at[0], at[1], verdict);
    }
}

static void check_records(struct run *run)
{
    for (uint32_t p = 0; p < run->c->producer_count; p++) {
        const struct producer_log *pl = &run->c->producers[p];
        for (uint64_t s = 0; s < pl->seq_end; s++) {
            const struct record *rec = &pl->records[s];
            if (rec->state == RECORD_ACKED)
                check_acked(run, p, s, rec);
            if (rec->state == RECORD_FAILED && rec->final_count > 0)
                run->r->failed_but_present++;
            if (rec->final_count > 1)
                check_duplicate(run, p, s, rec, pl->idempotent);
        }
    }
}

/* A live consumer must never have seen what the final log does not hold at that offset. */
static void check_live(struct run *run)
{
    const struct checker *c = run->c;
    for (uint64_t i = 0; i < c->live_count; i++) {
        const struct live_read *l = &c->live[i];
        const struct partition_log *pl = &c->partitions[l->partition];
        run->r->read_live++;
        const struct entry *final = l->offset < pl->count ? &pl->entries[l->offset] : NULL;
        if (final != NULL && entry_same(&l->entry, final))
            continue;
        run->r->live_mismatch++;
        if (!line_wanted(run, CHECK_LIVE))
            continue;
        char seen[96], there[96];
        entry_describe(&l->entry, seen, sizeof(seen));
        if (final == NULL)
            snprintf(there, sizeof(there), "nothing (the drain ends at %" PRIu64 ")", pl->count);
        else if (entry_kind(final) == ENTRY_ID && entry_kind(&l->entry) == ENTRY_ID &&
                 final->producer == l->entry.producer && final->seq == l->entry.seq)
            snprintf(there, sizeof(there), "the same id with other bytes");
        else if (entry_kind(final) == ENTRY_NO_ID && entry_kind(&l->entry) == ENTRY_NO_ID)
            snprintf(there, sizeof(there), "another value without an id");
        else
            entry_describe(final, there, sizeof(there));
        line(run, CHECK_LIVE,
             "live_mismatch: partition %" PRIu32 " offset %" PRIu64
             " was read live as %s; the final drain holds %s",
             l->partition, l->offset, seen, there);
    }
}

int checker_run(struct checker *c, struct checker_result *r, uint32_t lines_per_check,
                void (*report)(void *arg, const char *line), void *arg)
{
    for (uint32_t part = 0; part < c->partition_count; part++)
        if (!c->partitions[part].ended)
            return fail(c, CHECKER_E_SEQUENCE,
                        "checker_run: the final drain of partition %" PRIu32
                        " was never ended (checker_final_end)",
                        part);
    uint64_t *seq_top = calloc(c->producer_count, sizeof(*seq_top));
    if (seq_top == NULL)
        return fail(c, CHECKER_E_NOMEM, "checker_run: out of memory");
    for (uint32_t p = 0; p < c->producer_count; p++) {
        struct producer_log *pl = &c->producers[p];
        for (uint64_t s = 0; s < pl->seq_end; s++)
            pl->records[s].final_count = 0;
    }
    memset(r, 0, sizeof(*r));
    struct run run = {
        .c = c, .r = r, .lines_per_check = lines_per_check, .report = report, .arg = arg};

    check_outcomes(&run);
    check_final(&run, seq_top);
    check_records(&run);
    check_live(&run);
    free(seq_top);

    r->ok = r->lost == 0 && r->wrong_offset == 0 && r->unexpected == 0 &&
            r->duplicates_idempotent == 0 && r->duplicates_unexplained == 0 && r->gaps == 0 &&
            r->order_violations == 0 && r->live_mismatch == 0 && r->unreported == 0;
    return CHECKER_OK;
}

int checker_result_format(const struct checker_result *r, char *buf, size_t cap)
{
    return snprintf(buf, cap,
                    "%s lost=%" PRIu64 " wrong_offset=%" PRIu64 " unexpected=%" PRIu64
                    " duplicates_idempotent=%" PRIu64 " duplicates_unexplained=%" PRIu64
                    " gaps=%" PRIu64 " order_violations=%" PRIu64 " live_mismatch=%" PRIu64
                    " unreported=%" PRIu64 " | sent=%" PRIu64 " acked=%" PRIu64
                    " failed=%" PRIu64 " read_final=%" PRIu64 " read_live=%" PRIu64
                    " duplicates_explained=%" PRIu64 " duplicate_copies=%" PRIu64
                    " failed_but_present=%" PRIu64,
                    r->ok ? "ok" : "FAILED", r->lost, r->wrong_offset, r->unexpected,
                    r->duplicates_idempotent, r->duplicates_unexplained, r->gaps,
                    r->order_violations, r->live_mismatch, r->unreported, r->sent, r->acked,
                    r->failed, r->read_final, r->read_live, r->duplicates_explained,
                    r->duplicate_copies, r->failed_but_present);
}
