/* msgpack reading and writing for raftmq: a strict, bounds-checked pull reader and a bounded writer. */
#ifndef RAFTMQ_WIRE_MP_H
#define RAFTMQ_WIRE_MP_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Why two halves: writing goes through msgpack-c's packer (the library the
 * project standardises on) into a caller-owned buffer of fixed capacity.
 * Reading does not use msgpack-c's unpacker: it builds an object tree in a
 * zone and sizes an array's allocation from the count the input claims, so
 * a 5-byte header claiming 4 billion elements asks for ~96 GiB before a
 * single element is read. The reader below instead pulls exactly the type
 * the schema expects, checks every length against the bytes that remain and
 * against a caller-given limit, and never allocates: strings and binaries
 * come back as pointers into the input. Tests use msgpack-c's unpacker as an
 * independent oracle for everything this reader accepts.
 */

/* A view of bytes owned by someone else (usually the frame being decoded). */
struct wire_bytes {
    const uint8_t *ptr;
    uint32_t len;
};

/* A view of a NUL-terminated string (without the NUL), for filling request fields. */
static inline struct wire_bytes wire_bytes_str(const char *s)
{
    return (struct wire_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

/* ---- Writer ------------------------------------------------------------ */

/*
 * Appends msgpack to buf[0..cap). Errors are sticky: after the first value
 * that does not fit, `err` is WIRE_ERR_BUFFER_FULL, nothing more is written
 * and `len` stays at the last complete value. So a caller may write a whole
 * frame and check `err` once.
 */
struct wire_writer {
    uint8_t *buf; /* caller-owned */
    size_t len;
    size_t cap;
    int err;
    msgpack_packer packer; /* private */
};

void wire_writer_init(struct wire_writer *w, uint8_t *buf, size_t cap);
void wire_write_nil(struct wire_writer *w);
void wire_write_bool(struct wire_writer *w, int value);
void wire_write_uint(struct wire_writer *w, uint64_t value);
void wire_write_int(struct wire_writer *w, int64_t value);
void wire_write_array(struct wire_writer *w, uint32_t count);
void wire_write_map(struct wire_writer *w, uint32_t count);
void wire_write_str(struct wire_writer *w, const void *ptr, uint32_t len);
void wire_write_bin(struct wire_writer *w, const void *ptr, uint32_t len);
void wire_write_bytes_str(struct wire_writer *w, struct wire_bytes b);
void wire_write_bytes_bin(struct wire_writer *w, struct wire_bytes b);
/* Copies bytes that are already msgpack (or raw header bytes) as they are. */
void wire_write_raw(struct wire_writer *w, const void *ptr, size_t len);

/* ---- Reader ------------------------------------------------------------ */

/*
 * Reads from [pos, end). Every function returns WIRE_OK or an error code and,
 * on error, leaves `pos` where the offending value starts and records the
 * first error with the field name that was being read (`field`, set by the
 * caller before each read) so the message can say where decoding stopped.
 */
struct wire_reader {
    const uint8_t *start; /* for error offsets */
    const uint8_t *pos;
    const uint8_t *end;
    const char *field; /* caller-set, static string */
    int err;           /* first error seen, WIRE_OK if none */
    const char *err_field;
    size_t err_offset;
};

void wire_reader_init(struct wire_reader *r, const void *buf, size_t len);
static inline size_t wire_reader_remaining(const struct wire_reader *r)
{
    return (size_t)(r->end - r->pos);
}

int wire_read_nil(struct wire_reader *r);
/* 1 if the next value is nil (nothing consumed), 0 otherwise (also at the end). */
int wire_peek_nil(const struct wire_reader *r);
int wire_read_bool(struct wire_reader *r, int *value);
/* Any msgpack integer encoding whose value is in [0, max]. */
int wire_read_uint(struct wire_reader *r, uint64_t max, uint64_t *value);
/* Any msgpack integer encoding whose value is in [min, max]. */
int wire_read_int(struct wire_reader *r, int64_t min, int64_t max, int64_t *value);
/*
 * An array or map header. The count is checked against `max` and against the
 * bytes left (each element takes at least one byte, two for a map entry), so
 * a caller may size an allocation from it.
 */
int wire_read_array(struct wire_reader *r, uint32_t max, uint32_t *count);
int wire_read_map(struct wire_reader *r, uint32_t max, uint32_t *count);
/* str family only; at most max_len bytes. The view points into the input. */
int wire_read_str(struct wire_reader *r, uint32_t max_len, struct wire_bytes *out);
/* bin family only; at most max_len bytes. The view points into the input. */
int wire_read_bin(struct wire_reader *r, uint32_t max_len, struct wire_bytes *out);
/* Skips one value of any type, following at most WIRE_NESTING_MAX levels. */
int wire_skip(struct wire_reader *r);

/* Records err for the current field unless an earlier error is recorded; returns err. */
int wire_reader_fail(struct wire_reader *r, int err);

/*
 * Writes "field 'name' at byte N: <strerror>" for the first recorded error
 * into out (always NUL-terminated). Returns the length written.
 */
size_t wire_reader_describe(const struct wire_reader *r, char *out, size_t cap);

#endif
