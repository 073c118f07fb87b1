/* raftmq-consume's output: the -f FORMAT directives and --json lines, written into a byte buffer. */
#ifndef RAFTMQ_CONSUMERS_CONSUME_FORMAT_H
#define RAFTMQ_CONSUMERS_CONSUME_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/raftmq.h"

/*
 * An output buffer that grows as needed; the tool writes it out when it
 * holds enough. On allocation failure `failed` is set and bytes are
 * dropped (the tool then reports the error).
 */
struct consume_out {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

void consume_out_free(struct consume_out *o);
void consume_out_bytes(struct consume_out *o, const void *bytes, size_t len);

/*
 * A compiled -f FORMAT:
 *   %s value   %k key (nothing for a nil key)   %t topic   %p partition
 *   %o offset  %T timestamp (ms)   %h headers as name=value,name=value
 *   %S the value's size in bytes   %% a percent sign
 *   \n newline   \t tab   \\ backslash
 * Everything else is copied as it is.
 */
#define CONSUME_FORMAT_OPS_MAX 256u

enum consume_op_kind {
    CONSUME_OP_TEXT, /* literal bytes fmt[start, start + len) (escapes already resolved) */
    CONSUME_OP_VALUE,
    CONSUME_OP_KEY,
    CONSUME_OP_TOPIC,
    CONSUME_OP_PARTITION,
    CONSUME_OP_OFFSET,
    CONSUME_OP_TIMESTAMP,
    CONSUME_OP_HEADERS,
    CONSUME_OP_VALUE_SIZE,
};

struct consume_op {
    enum consume_op_kind kind;
    uint32_t start; /* TEXT: into consume_format.text */
    uint32_t len;
};

struct consume_format {
    struct consume_op ops[CONSUME_FORMAT_OPS_MAX];
    uint32_t op_count;
    char *text; /* the literal bytes, escapes resolved */
};

/*
 * Compiles fmt. false with a sentence in why (naming the bad directive or
 * escape, or a format too long) when it is not valid.
 */
bool consume_format_compile(const char *fmt, struct consume_format *f, char *why, size_t why_cap);
void consume_format_free(struct consume_format *f);

/* Appends one record as the format says. */
void consume_format_record(const struct consume_format *f, const struct raftmq_record *r,
                           struct consume_out *o);

/*
 * Appends bytes as a JSON string, quotes included: valid UTF-8 as it is,
 * '"' '\\' and control characters escaped, and every byte that is not part
 * of valid UTF-8 as \u00XX (its value), so the output always parses.
 */
void consume_json_string(struct consume_out *o, const void *bytes, size_t len);

/*
 * Appends one record as one JSON object and a newline:
 * {"topic":..,"partition":..,"offset":..,"timestamp":..,"key":..|null,
 *  "value":..,"headers":[{"name":..,"value":..},...]}
 */
void consume_json_record(const struct raftmq_record *r, struct consume_out *o);

#endif
