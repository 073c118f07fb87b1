/* Frame envelope and the body codecs generated from wire/schema.h. */
#include "frame.h"

#include <string.h>

/* ---- arena --------------------------------------------------------------- */

void wire_arena_init(struct wire_arena *a, void *buf, size_t cap)
{
    a->buf = buf;
    a->cap = cap;
    a->used = 0;
    a->exhausted = false;
}

void *wire_arena_alloc(struct wire_arena *a, size_t size)
{
    size_t start = (a->used + 7u) & ~(size_t)7u;
    if (start > a->cap || size > a->cap - start) {
        a->exhausted = true;
        return NULL;
    }
    a->used = start + size;
    return a->buf + start;
}

/* ---- field encoders -------------------------------------------------------- */

static void encode_str_limited(struct wire_writer *w, struct wire_bytes b, uint32_t max)
{
    if (b.len > max && w->err == WIRE_OK)
        w->err = WIRE_ERR_LIMIT_EXCEEDED;
    wire_write_bytes_str(w, b);
}

static void encode_bin_limited(struct wire_writer *w, struct wire_bytes b, uint32_t max)
{
    if (b.len > max && w->err == WIRE_OK)
        w->err = WIRE_ERR_LIMIT_EXCEEDED;
    wire_write_bytes_bin(w, b);
}

static void encode_count(struct wire_writer *w, uint32_t count, uint32_t max)
{
    if (count > max && w->err == WIRE_OK)
        w->err = WIRE_ERR_LIMIT_EXCEEDED;
    wire_write_array(w, count);
}

static void encode_u32s(struct wire_writer *w, struct wire_u32_array a, uint32_t max)
{
    encode_count(w, a.count, max);
    for (uint32_t i = 0; i < a.count && w->err == WIRE_OK; i++)
        wire_write_uint(w, a.items[i]);
}

static void encode_blobs(struct wire_writer *w, struct wire_bytes_array a, uint32_t max,
                         uint32_t item_max, bool is_str)
{
    encode_count(w, a.count, max);
    for (uint32_t i = 0; i < a.count && w->err == WIRE_OK; i++) {
        if (is_str)
            encode_str_limited(w, a.items[i], item_max);
        else
            encode_bin_limited(w, a.items[i], item_max);
    }
}

#define WIRE_ENC_U32(w, v, arg) wire_write_uint(w, v)
#define WIRE_ENC_U64(w, v, arg) wire_write_uint(w, v)
#define WIRE_ENC_I64(w, v, arg) wire_write_int(w, v)
#define WIRE_ENC_BOOL(w, v, arg) wire_write_bool(w, v)
#define WIRE_ENC_STR(w, v, arg) encode_str_limited(w, v, arg)
#define WIRE_ENC_BIN(w, v, arg) encode_bin_limited(w, v, arg)
#define WIRE_ENC_U32S(w, v, arg) encode_u32s(w, v, arg)
#define WIRE_ENC_STRS(w, v, arg) encode_blobs(w, v, arg, WIRE_STRING_BYTES_MAX, true)
#define WIRE_ENC_BINS(w, v, arg) encode_blobs(w, v, arg, WIRE_BATCH_BYTES_MAX, false)
#define WIRE_ENC_ARRAY(w, v, elem)                                         \
    do {                                                                   \
        encode_count(w, (v).count, WIRE_ARRAY_ITEMS_MAX);                  \
        for (uint32_t i_ = 0; i_ < (v).count && (w)->err == WIRE_OK; i_++) \
            encode_##elem(w, &(v).items[i_]);                              \
    } while (0)

/* ---- field decoders -------------------------------------------------------- */

static int decode_u32(struct wire_reader *r, uint32_t *out)
{
    uint64_t v;
    int rc = wire_read_uint(r, UINT32_MAX, &v);
    if (rc == WIRE_OK)
        *out = (uint32_t)v;
    return rc;
}

static int decode_u64(struct wire_reader *r, uint64_t *out)
{
    return wire_read_uint(r, UINT64_MAX, out);
}

static int decode_i64(struct wire_reader *r, int64_t *out)
{
    return wire_read_int(r, INT64_MIN, INT64_MAX, out);
}

static int decode_bool(struct wire_reader *r, bool *out)
{
    int v;
    int rc = wire_read_bool(r, &v);
    if (rc == WIRE_OK)
        *out = v != 0;
    return rc;
}

/* Reads an array header and allocates `count` items of `item_size` from the arena. */
static int decode_items(struct wire_reader *r, struct wire_arena *a, uint32_t max,
                        size_t item_size, uint32_t *count, void **items)
{
    int rc = wire_read_array(r, max, count);
    if (rc != WIRE_OK)
        return rc;
    *items = NULL;
    if (*count == 0)
        return WIRE_OK;
    *items = wire_arena_alloc(a, (size_t)*count * item_size);
    if (*items == NULL)
        return wire_reader_fail(r, WIRE_ERR_LIMIT_EXCEEDED);
    return WIRE_OK;
}

static int decode_u32s(struct wire_reader *r, struct wire_arena *a, struct wire_u32_array *out,
                       uint32_t max)
{
    void *items;
    int rc = decode_items(r, a, max, sizeof(uint32_t), &out->count, &items);
    out->items = items;
    for (uint32_t i = 0; rc == WIRE_OK && i < out->count; i++)
        rc = decode_u32(r, &out->items[i]);
    return rc;
}

static int decode_blobs(struct wire_reader *r, struct wire_arena *a, struct wire_bytes_array *out,
                        uint32_t max, uint32_t item_max, bool is_str)
{
    void *items;
    int rc = decode_items(r, a, max, sizeof(struct wire_bytes), &out->count, &items);
    out->items = items;
    for (uint32_t i = 0; rc == WIRE_OK && i < out->count; i++)
        rc = is_str ? wire_read_str(r, item_max, &out->items[i])
                    : wire_read_bin(r, item_max, &out->items[i]);
    return rc;
}

/*
 * Reads a struct's array header: at least `fields` elements; returns in
 * *extra how many trailing elements (from a later minor revision) to skip.
 */
static int decode_struct_header(struct wire_reader *r, uint32_t fields, uint32_t *extra)
{
    uint32_t count;
    int rc = wire_read_array(r, WIRE_ARRAY_ITEMS_MAX, &count);
    if (rc != WIRE_OK)
        return rc;
    if (count < fields)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    *extra = count - fields;
    return WIRE_OK;
}

static int skip_extra(struct wire_reader *r, uint32_t extra)
{
    int rc = WIRE_OK;
    for (uint32_t i = 0; rc == WIRE_OK && i < extra; i++)
        rc = wire_skip(r);
    return rc;
}

#define WIRE_DEC_U32(r, a, p, arg) decode_u32(r, p)
#define WIRE_DEC_U64(r, a, p, arg) decode_u64(r, p)
#define WIRE_DEC_I64(r, a, p, arg) decode_i64(r, p)
#define WIRE_DEC_BOOL(r, a, p, arg) decode_bool(r, p)
#define WIRE_DEC_STR(r, a, p, arg) wire_read_str(r, arg, p)
#define WIRE_DEC_BIN(r, a, p, arg) wire_read_bin(r, arg, p)
#define WIRE_DEC_U32S(r, a, p, arg) decode_u32s(r, a, p, arg)
#define WIRE_DEC_STRS(r, a, p, arg) decode_blobs(r, a, p, arg, WIRE_STRING_BYTES_MAX, true)
#define WIRE_DEC_BINS(r, a, p, arg) decode_blobs(r, a, p, arg, WIRE_BATCH_BYTES_MAX, false)
#define WIRE_DEC_ARRAY(r, a, p, elem) decode_array_##elem(r, a, &(p)->count, &(p)->items)

/* ---- generated struct codecs ------------------------------------------------ */

#define WIRE_COUNT_FIELD_(kind, name, arg) +1
#define WIRE_ENCODE_FIELD_(kind, name, arg) WIRE_ENC_##kind(w, m->name, arg);
#define WIRE_DECODE_FIELD_(kind, name, arg)                 \
    r->field = #name;                                       \
    if ((rc = WIRE_DEC_##kind(r, a, &m->name, arg)) != WIRE_OK) \
        return rc;

/*
 * For each struct: encode_<s>, decode_<s> and decode_array_<s> (an array of
 * them, allocated in the arena). Prototypes first, because structs refer to
 * each other through ARRAY fields.
 */
#define WIRE_CODEC_PROTOS_(sname, LIST)                                                     \
    static void encode_##sname(struct wire_writer *w, const struct wire_##sname *m);        \
    static int decode_##sname(struct wire_reader *r, struct wire_arena *a,                  \
                              struct wire_##sname *m);                                      \
    static int decode_array_##sname(struct wire_reader *r, struct wire_arena *a,            \
                                    uint32_t *count, struct wire_##sname **items)           \
        __attribute__((unused));
WIRE_STRUCTS(WIRE_CODEC_PROTOS_)

#define WIRE_CODEC_DEFS_(sname, LIST)                                                        \
    enum { sname##_field_count = 0 LIST##_FIELDS(WIRE_COUNT_FIELD_) };                       \
    static void encode_##sname(struct wire_writer *w, const struct wire_##sname *m)          \
    {                                                                                        \
        wire_write_array(w, sname##_field_count);                                            \
        LIST##_FIELDS(WIRE_ENCODE_FIELD_)                                                    \
    }                                                                                        \
    static int decode_##sname(struct wire_reader *r, struct wire_arena *a,                   \
                              struct wire_##sname *m)                                        \
    {                                                                                        \
        uint32_t extra = 0;                                                                  \
        int rc;                                                                              \
        (void)a; /* used only by structs with array fields */                                \
        r->field = #sname;                                                                   \
        if ((rc = decode_struct_header(r, sname##_field_count, &extra)) != WIRE_OK)          \
            return rc;                                                                       \
        LIST##_FIELDS(WIRE_DECODE_FIELD_)                                                    \
        r->field = #sname " (trailing fields)";                                              \
        return skip_extra(r, extra);                                                         \
    }                                                                                        \
    static int decode_array_##sname(struct wire_reader *r, struct wire_arena *a,             \
                                    uint32_t *count, struct wire_##sname **items)            \
    {                                                                                        \
        void *mem;                                                                           \
        int rc = decode_items(r, a, WIRE_ARRAY_ITEMS_MAX, sizeof(struct wire_##sname),       \
                              count, &mem);                                                  \
        *items = mem;                                                                        \
        for (uint32_t i = 0; rc == WIRE_OK && i < *count; i++)                               \
            rc = decode_##sname(r, a, &(*items)[i]);                                         \
        return rc;                                                                           \
    }
WIRE_STRUCTS(WIRE_CODEC_DEFS_)

static void encode_empty(struct wire_writer *w, const struct wire_empty *m)
{
    (void)m;
    wire_write_array(w, 0);
}

static int decode_empty(struct wire_reader *r, struct wire_arena *a, struct wire_empty *m)
{
    uint32_t extra = 0;
    int rc;
    (void)a;
    m->unused_ = 0;
    r->field = "body";
    if ((rc = decode_struct_header(r, 0, &extra)) != WIRE_OK)
        return rc;
    return skip_extra(r, extra);
}

/* ---- frame types ---------------------------------------------------------- */

bool wire_type_known(uint32_t type)
{
    /* Reserved: one-way messages have no response. */
#define WIRE_ONE_WAY_CHECK_(name) \
    if (type == WIRE_##name##_RESP) \
        return false;
    WIRE_ONE_WAY_MESSAGES(WIRE_ONE_WAY_CHECK_)
#undef WIRE_ONE_WAY_CHECK_
    switch (type) {
#define WIRE_TYPE_CASE_(name, number, req, resp) \
    case WIRE_##name:                            \
    case WIRE_##name##_RESP:
        WIRE_MESSAGES(WIRE_TYPE_CASE_)
#undef WIRE_TYPE_CASE_
        return true;
    }
    return false;
}

/*
 * An error response has no type-specific body (nil or the error's detail),
 * so it can be encoded and decoded for any response type, known or not:
 * that is how a receiver answers a frame type it does not know.
 */
static bool is_error_response(const struct wire_frame *f)
{
    return wire_type_is_response(f->type) && f->error != WIRE_OK;
}

const char *wire_type_name(uint32_t type)
{
    switch (type) {
#define WIRE_TYPE_NAME_(name, number, req, resp) \
    case WIRE_##name:                            \
        return #name;                            \
    case WIRE_##name##_RESP:                     \
        return #name "_RESP";
        WIRE_MESSAGES(WIRE_TYPE_NAME_)
#undef WIRE_TYPE_NAME_
    }
    return "UNKNOWN";
}

static void encode_body(struct wire_writer *w, const struct wire_frame *f)
{
    if (is_error_response(f)) {
        switch (f->error) {
#define WIRE_DETAIL_ENC_(ename, detail) \
    case WIRE_ERR_##ename:              \
        encode_##detail(w, &f->body.detail); \
        return;
            WIRE_ERROR_DETAILS(WIRE_DETAIL_ENC_)
#undef WIRE_DETAIL_ENC_
        }
        wire_write_nil(w);
        return;
    }
    switch (f->type) {
#define WIRE_BODY_ENC_(name, number, req, resp) \
    case WIRE_##name:                           \
        encode_##req(w, &f->body.req);          \
        return;                                 \
    case WIRE_##name##_RESP:                    \
        encode_##resp(w, &f->body.resp);        \
        return;
        WIRE_MESSAGES(WIRE_BODY_ENC_)
#undef WIRE_BODY_ENC_
    }
}

static int decode_body(struct wire_reader *r, struct wire_arena *a, struct wire_frame *f)
{
    if (is_error_response(f)) {
        switch (f->error) {
#define WIRE_DETAIL_DEC_(ename, detail) \
    case WIRE_ERR_##ename:              \
        return decode_##detail(r, a, &f->body.detail);
            WIRE_ERROR_DETAILS(WIRE_DETAIL_DEC_)
#undef WIRE_DETAIL_DEC_
        }
        /* No detail defined (by this build): skip whatever a newer peer sent. */
        r->field = "body (error detail)";
        return wire_skip(r);
    }
    switch (f->type) {
#define WIRE_BODY_DEC_(name, number, req, resp) \
    case WIRE_##name:                           \
        return decode_##req(r, a, &f->body.req);\
    case WIRE_##name##_RESP:                    \
        return decode_##resp(r, a, &f->body.resp);
        WIRE_MESSAGES(WIRE_BODY_DEC_)
#undef WIRE_BODY_DEC_
    }
    return wire_reader_fail(r, WIRE_ERR_UNKNOWN_TYPE);
}

/* ---- frame envelope ----------------------------------------------------------- */

enum {
    REQUEST_ENVELOPE_ELEMENTS = 4,
    RESPONSE_ENVELOPE_ELEMENTS = 6,
};

int wire_frame_encode(struct wire_writer *w, const struct wire_frame *f)
{
    if (w->err != WIRE_OK)
        return w->err;
    if (!wire_type_known(f->type) && !is_error_response(f))
        return WIRE_ERR_UNKNOWN_TYPE;
    size_t start = w->len;
    bool response = wire_type_is_response(f->type);
    wire_write_array(w, response ? RESPONSE_ENVELOPE_ELEMENTS : REQUEST_ENVELOPE_ELEMENTS);
    wire_write_uint(w, f->version);
    wire_write_uint(w, f->type);
    wire_write_uint(w, f->correlation_id);
    if (response) {
        wire_write_uint(w, f->error);
        encode_str_limited(w, f->error_message, WIRE_STRING_BYTES_MAX);
    }
    encode_body(w, f);

    int rc = w->err;
    if (rc == WIRE_OK && w->len - start > WIRE_FRAME_BYTES_MAX)
        rc = WIRE_ERR_FRAME_TOO_LARGE;
    if (rc != WIRE_OK) {
        w->len = start;
        w->err = WIRE_OK;
        /* Keep the writer usable for the frames already in it. */
    }
    return rc;
}

static int decode_envelope(struct wire_reader *r, struct wire_arena *a, struct wire_frame *f)
{
    uint32_t elements = 0;
    int rc;

    r->field = "envelope";
    if ((rc = wire_read_array(r, WIRE_ARRAY_ITEMS_MAX, &elements)) != WIRE_OK)
        return rc;
    if (elements < 3)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    r->field = "version";
    if ((rc = decode_u32(r, &f->version)) != WIRE_OK)
        return rc;
    r->field = "type";
    if ((rc = decode_u32(r, &f->type)) != WIRE_OK)
        return rc;
    r->field = "correlation_id";
    if ((rc = decode_u64(r, &f->correlation_id)) != WIRE_OK)
        return rc;
    r->field = "version";
    if (f->version != WIRE_PROTOCOL_VERSION)
        return wire_reader_fail(r, WIRE_ERR_UNSUPPORTED_VERSION);
    bool known = wire_type_known(f->type);
    bool response = wire_type_is_response(f->type);
    r->field = "type";
    if (!known && !response)
        return wire_reader_fail(r, WIRE_ERR_UNKNOWN_TYPE);

    uint32_t envelope_elements = response ? RESPONSE_ENVELOPE_ELEMENTS : REQUEST_ENVELOPE_ELEMENTS;
    r->field = "envelope";
    if (elements < envelope_elements)
        return wire_reader_fail(r, WIRE_ERR_TRUNCATED);
    if (response) {
        r->field = "error";
        if ((rc = decode_u32(r, &f->error)) != WIRE_OK)
            return rc;
        r->field = "error_message";
        if ((rc = wire_read_str(r, WIRE_STRING_BYTES_MAX, &f->error_message)) != WIRE_OK)
            return rc;
        /* A response of an unknown type is only readable as an error response. */
        r->field = "type";
        if (!known && f->error == WIRE_OK)
            return wire_reader_fail(r, WIRE_ERR_UNKNOWN_TYPE);
    }
    if ((rc = decode_body(r, a, f)) != WIRE_OK)
        return rc;
    r->field = "envelope (trailing elements)";
    return skip_extra(r, elements - envelope_elements);
}

int wire_frame_decode(const void *buf, size_t len, struct wire_arena *arena, struct wire_frame *f,
                      size_t *consumed, char *why, size_t why_cap)
{
    struct wire_reader r;
    size_t arena_used = arena->used;
    /* Never look past one maximal frame first. */
    wire_reader_init(&r, buf, len < WIRE_FRAME_BYTES_MAX ? len : WIRE_FRAME_BYTES_MAX);
    memset(f, 0, sizeof(*f));
    int rc = decode_envelope(&r, arena, f);

    /*
     * Ran out of bytes at the frame limit with more input behind it: the
     * frame is either longer than the limit or malformed. Only the error
     * path pays for telling the two apart, by decoding again unbounded.
     */
    if (rc == WIRE_ERR_TRUNCATED && len > WIRE_FRAME_BYTES_MAX) {
        struct wire_reader unbounded;
        struct wire_frame scratch;
        wire_reader_init(&unbounded, buf, len);
        arena->used = arena_used;
        memset(&scratch, 0, sizeof(scratch));
        if (decode_envelope(&unbounded, arena, &scratch) != WIRE_ERR_TRUNCATED) {
            r.err = WIRE_ERR_FRAME_TOO_LARGE;
            r.err_field = "frame";
            r.err_offset = WIRE_FRAME_BYTES_MAX;
            rc = WIRE_ERR_FRAME_TOO_LARGE;
        }
    }
    if (rc != WIRE_OK) {
        arena->used = arena_used;
        if (why != NULL)
            wire_reader_describe(&r, why, why_cap);
        return rc;
    }
    *consumed = (size_t)(r.pos - r.start);
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    return WIRE_OK;
}

void wire_frame_init_response(struct wire_frame *resp, const struct wire_frame *request,
                              int error, const char *message)
{
    memset(resp, 0, sizeof(*resp));
    resp->version = WIRE_PROTOCOL_VERSION;
    resp->type = (request->type & ~WIRE_RESPONSE_BIT) | WIRE_RESPONSE_BIT;
    resp->correlation_id = request->correlation_id;
    resp->error = (uint32_t)error;
    if (message != NULL) {
        size_t n = strlen(message);
        resp->error_message.ptr = (const uint8_t *)message;
        resp->error_message.len = (uint32_t)(n < WIRE_STRING_BYTES_MAX ? n : WIRE_STRING_BYTES_MAX);
    }
}
