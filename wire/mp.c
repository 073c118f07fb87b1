/* msgpack reading and writing: see mp.h for why reading does not use msgpack-c's unpacker. */
#include "mp.h"

#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "errors.h"
#include "limits.h"

/* ---- Writer ------------------------------------------------------------ */

static int writer_append(void *data, const char *bytes, size_t len)
{
    struct wire_writer *w = data;
    if (w->err != WIRE_OK)
        return -1;
    if (len > w->cap - w->len) {
        w->err = WIRE_ERR_BUFFER_FULL;
        return -1;
    }
    if (len == 0) /* an empty str or bin may come with a NULL pointer */
        return 0;
    memcpy(w->buf + w->len, bytes, len);
    w->len += len;
    return 0;
}

void wire_writer_init(struct wire_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->len = 0;
    w->cap = cap;
    w->err = WIRE_OK;
    msgpack_packer_init(&w->packer, w, writer_append);
}

/*
 * msgpack-c's packer may emit a value in two appends (marker, then body); if
 * the second does not fit, roll back to the last complete value so `len`
 * never covers half a value.
 */
#define WRITE_ATOMIC(w, expr)          \
    do {                               \
        size_t len_before_ = (w)->len; \
        (void)(expr);                  \
        if ((w)->err != WIRE_OK)       \
            (w)->len = len_before_;    \
    } while (0)

void wire_write_nil(struct wire_writer *w)
{
    WRITE_ATOMIC(w, msgpack_pack_nil(&w->packer));
}

void wire_write_bool(struct wire_writer *w, int value)
{
    WRITE_ATOMIC(w, value ? msgpack_pack_true(&w->packer) : msgpack_pack_false(&w->packer));
}

void wire_write_uint(struct wire_writer *w, uint64_t value)
{
    WRITE_ATOMIC(w, msgpack_pack_uint64(&w->packer, value));
}

void wire_write_int(struct wire_writer *w, int64_t value)
{
    WRITE_ATOMIC(w, msgpack_pack_int64(&w->packer, value));
}

void wire_write_array(struct wire_writer *w, uint32_t count)
{
    WRITE_ATOMIC(w, msgpack_pack_array(&w->packer, count));
}

void wire_write_map(struct wire_writer *w, uint32_t count)
{
    WRITE_ATOMIC(w, msgpack_pack_map(&w->packer, count));
}

void wire_write_str(struct wire_writer *w, const void *ptr, uint32_t len)
{
    WRITE_ATOMIC(w, msgpack_pack_str_with_body(&w->packer, ptr, len));
}

void wire_write_bin(struct wire_writer *w, const void *ptr, uint32_t len)
{
    WRITE_ATOMIC(w, msgpack_pack_bin_with_body(&w->packer, ptr, len));
}

void wire_write_bytes_str(struct wire_writer *w, struct wire_bytes b)
{
    wire_write_str(w, b.ptr, b.len);
}

void wire_write_bytes_bin(struct wire_writer *w, struct wire_bytes b)
{
    wire_write_bin(w, b.ptr, b.len);
}

void wire_write_raw(struct wire_writer *w, const void *ptr, size_t len)
{
    writer_append(w, ptr, len);
}

/* ---- Reader ------------------------------------------------------------ */

void wire_reader_init(struct wire_reader *r, const void *buf, size_t len)
{
    r->start = buf;
    r->pos = buf;
    r->end = r->pos + len;
    r->field = "frame";
    r->err = WIRE_OK;
    r->err_field = NULL;
    r->err_offset = 0;
}

int wire_reader_fail(struct wire_reader *r, int err)
{
    if (r->err == WIRE_OK) {
        r->err = err;
        r->err_field = r->field;
        r->err_offset = (size_t)(r->pos - r->start);
    }
    return err;
}

size_t wire_reader_describe(const struct wire_reader *r, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    int n = snprintf(out, cap, "field '%s' at byte %zu: %s",
                     r->err_field ? r->err_field : "?", r->err_offset, wire_strerror(r->err));
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Reads `width` big-endian bytes after a one-byte marker; consumes both. */
static int read_marker_and_be(struct wire_reader *r, unsigned width, uint64_t *value)
{
    if (wire_reader_remaining(r) < 1u + width)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    *value = wire_load_be(r->pos + 1, width);
    r->pos += 1u + width;
    return WIRE_OK;
}

int wire_read_nil(struct wire_reader *r)
{
    if (r->pos >= r->end)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    if (*r->pos != 0xc0)
        return wire_reader_fail(r, WIRE_ERR_BAD_TYPE);
    r->pos++;
    return WIRE_OK;
}

int wire_peek_nil(const struct wire_reader *r)
{
    return r->pos < r->end && *r->pos == 0xc0;
}

int wire_read_bool(struct wire_reader *r, int *value)
{
    if (r->pos >= r->end)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    if (*r->pos != 0xc2 && *r->pos != 0xc3)
        return wire_reader_fail(r, WIRE_ERR_BAD_TYPE);
    *value = *r->pos == 0xc3;
    r->pos++;
    return WIRE_OK;
}

/* An integer as read: its sign decides which of `u` and `s` holds it. */
struct mp_integer {
    const uint8_t *at; /* where its encoding starts, to rewind on a range error */
    int negative;
    uint64_t u; /* when !negative */
    int64_t s;  /* when negative */
};

/* Reads any integer encoding; consumes nothing on error. */
static int read_integer(struct wire_reader *r, struct mp_integer *v)
{
    if (r->pos >= r->end)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    uint8_t m = *r->pos;
    uint64_t raw;
    int rc;
    v->at = r->pos;
    v->negative = 0;
    if (m <= 0x7f) {
        v->u = m;
        r->pos++;
        return WIRE_OK;
    }
    if (m >= 0xe0) {
        v->negative = 1;
        v->s = (int8_t)m;
        r->pos++;
        return WIRE_OK;
    }
    switch (m) {
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        if ((rc = read_marker_and_be(r, 1u << (m - 0xcc), &raw)) != WIRE_OK)
            return rc;
        v->u = raw;
        return WIRE_OK;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        unsigned width = 1u << (m - 0xd0);
        if ((rc = read_marker_and_be(r, width, &raw)) != WIRE_OK)
            return rc;
        /* Sign-extend from `width` bytes. */
        unsigned shift = 64u - 8u * width;
        int64_t value = (int64_t)(raw << shift) >> shift;
        if (value < 0) {
            v->negative = 1;
            v->s = value;
        } else {
            v->u = (uint64_t)value;
        }
        return WIRE_OK;
    }
    default:
        return wire_reader_fail(r, WIRE_ERR_BAD_TYPE);
    }
}

static int integer_out_of_range(struct wire_reader *r, const struct mp_integer *v)
{
    r->pos = v->at;
    return wire_reader_fail(r, WIRE_ERR_BAD_VALUE);
}

int wire_read_uint(struct wire_reader *r, uint64_t max, uint64_t *value)
{
    struct mp_integer v;
    int rc = read_integer(r, &v);
    if (rc != WIRE_OK)
        return rc;
    if (v.negative || v.u > max)
        return integer_out_of_range(r, &v);
    *value = v.u;
    return WIRE_OK;
}

int wire_read_int(struct wire_reader *r, int64_t min, int64_t max, int64_t *value)
{
    struct mp_integer v;
    int rc = read_integer(r, &v);
    if (rc != WIRE_OK)
        return rc;
    if (v.negative ? (v.s < min || v.s > max)
                   : (v.u > (uint64_t)INT64_MAX || (int64_t)v.u < min || (int64_t)v.u > max))
        return integer_out_of_range(r, &v);
    *value = v.negative ? v.s : (int64_t)v.u;
    return WIRE_OK;
}

/*
 * Reads a container header: fix range [fix_lo, fix_lo + 15], then 16- and
 * 32-bit forms at marker16/marker16 + 1. Each element occupies at least
 * `element_bytes_min` bytes, which bounds the count by what remains.
 */
static int read_container(struct wire_reader *r, uint8_t fix_lo, uint8_t marker16,
                          uint32_t element_bytes_min, uint32_t max, uint32_t *count)
{
    if (r->pos >= r->end)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    const uint8_t *at = r->pos;
    uint8_t m = *r->pos;
    uint64_t n;
    int rc;
    if (m >= fix_lo && m <= fix_lo + 15) {
        n = m - fix_lo;
        r->pos++;
    } else if (m == marker16) {
        if ((rc = read_marker_and_be(r, 2, &n)) != WIRE_OK)
            return rc;
    } else if (m == marker16 + 1) {
        if ((rc = read_marker_and_be(r, 4, &n)) != WIRE_OK)
            return rc;
    } else {
        return wire_reader_fail(r, WIRE_ERR_BAD_TYPE);
    }
    if (n > max) {
        r->pos = at;
        return wire_reader_fail(r, WIRE_ERR_LIMIT_EXCEEDED);
    }
    if (n * element_bytes_min > wire_reader_remaining(r)) {
        r->pos = at;
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    }
    *count = (uint32_t)n;
    return WIRE_OK;
}

int wire_read_array(struct wire_reader *r, uint32_t max, uint32_t *count)
{
    return read_container(r, 0x90, 0xdc, 1, max, count);
}

int wire_read_map(struct wire_reader *r, uint32_t max, uint32_t *count)
{
    return read_container(r, 0x80, 0xde, 2, max, count);
}

/* Reads a str (is_str) or bin payload; the markers differ, the checks do not. */
static int read_blob(struct wire_reader *r, int is_str, uint32_t max_len, struct wire_bytes *out)
{
    if (r->pos >= r->end)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    const uint8_t *at = r->pos;
    uint8_t m = *r->pos;
    uint64_t n;
    int rc;
    if (is_str && m >= 0xa0 && m <= 0xbf) {
        n = m - 0xa0u;
        r->pos++;
    } else if ((is_str && m >= 0xd9 && m <= 0xdb) || (!is_str && m >= 0xc4 && m <= 0xc6)) {
        unsigned width = 1u << (m - (is_str ? 0xd9 : 0xc4));
        if ((rc = read_marker_and_be(r, width, &n)) != WIRE_OK)
            return rc;
    } else {
        return wire_reader_fail(r, WIRE_ERR_BAD_TYPE);
    }
    if (n > max_len) {
        r->pos = at;
        return wire_reader_fail(r, WIRE_ERR_LIMIT_EXCEEDED);
    }
    if (n > wire_reader_remaining(r)) {
        r->pos = at;
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    }
    out->ptr = r->pos;
    out->len = (uint32_t)n;
    r->pos += n;
    return WIRE_OK;
}

int wire_read_str(struct wire_reader *r, uint32_t max_len, struct wire_bytes *out)
{
    return read_blob(r, 1, max_len, out);
}

int wire_read_bin(struct wire_reader *r, uint32_t max_len, struct wire_bytes *out)
{
    return read_blob(r, 0, max_len, out);
}

/* Consumes `n` bytes of payload that follow a header already consumed. */
static int skip_payload(struct wire_reader *r, uint64_t n)
{
    if (n > wire_reader_remaining(r))
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    r->pos += n;
    return WIRE_OK;
}

static int skip_value(struct wire_reader *r, unsigned depth)
{
    if (r->pos >= r->end)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    uint8_t m = *r->pos;
    uint64_t n;
    uint32_t count;
    int rc;

    if (m <= 0x7f || m >= 0xe0 || m == 0xc0 || m == 0xc2 || m == 0xc3) {
        r->pos++;
        return WIRE_OK;
    }
    if ((m >= 0x80 && m <= 0x9f) || (m >= 0xdc && m <= 0xdf)) {
        int is_map = (m >= 0x80 && m <= 0x8f) || m == 0xde || m == 0xdf;
        if (depth >= WIRE_NESTING_MAX)
            return wire_reader_fail(r, WIRE_ERR_TOO_DEEP);
        rc = is_map ? wire_read_map(r, UINT32_MAX, &count) : wire_read_array(r, UINT32_MAX, &count);
        if (rc != WIRE_OK)
            return rc;
        uint64_t items = is_map ? 2ull * count : count;
        for (uint64_t i = 0; i < items; i++)
            if ((rc = skip_value(r, depth + 1)) != WIRE_OK)
                return rc;
        return WIRE_OK;
    }
    if (m >= 0xa0 && m <= 0xbf) {
        r->pos++;
        return skip_payload(r, m - 0xa0u);
    }
    switch (m) {
    case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
        if ((rc = read_marker_and_be(r, 1u << (m - 0xc4), &n)) != WIRE_OK)
            return rc;
        return skip_payload(r, n);
    case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
        if ((rc = read_marker_and_be(r, 1u << (m - 0xd9), &n)) != WIRE_OK)
            return rc;
        return skip_payload(r, n);
    case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, then a type byte */
        if ((rc = read_marker_and_be(r, 1u << (m - 0xc7), &n)) != WIRE_OK)
            return rc;
        return skip_payload(r, n + 1);
    case 0xca: /* float 32 */
        return skip_payload(r, 5);
    case 0xcb: /* float 64 */
        return skip_payload(r, 9);
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        return skip_payload(r, 1u + (1u << (m - 0xcc)));
    case 0xd0: case 0xd1: case 0xd2: case 0xd3:
        return skip_payload(r, 1u + (1u << (m - 0xd0)));
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext: type byte + 1..16 */
        return skip_payload(r, 2u + (1u << (m - 0xd4)));
    default: /* 0xc1 is never used */
        return wire_reader_fail(r, WIRE_ERR_BAD_TYPE);
    }
}

int wire_skip(struct wire_reader *r)
{
    const uint8_t *at = r->pos;
    int rc = skip_value(r, 0);
    if (rc != WIRE_OK)
        r->pos = at;
    return rc;
}
