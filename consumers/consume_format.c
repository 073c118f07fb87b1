/* raftmq-consume's output formats (consume_format.h). */
#include "consume_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void consume_out_free(struct consume_out *o)
{
    free(o->buf);
    o->buf = NULL;
    o->len = o->cap = 0;
}

static bool out_reserve(struct consume_out *o, size_t more)
{
    if (o->failed)
        return false;
    if (o->cap - o->len >= more)
        return true;
    size_t cap = o->cap == 0 ? 64u * 1024u : o->cap;
    while (cap - o->len < more) {
        if (cap > SIZE_MAX / 2) {
            o->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *grown = realloc(o->buf, cap);
    if (grown == NULL) {
        o->failed = true;
        return false;
    }
    o->buf = grown;
    o->cap = cap;
    return true;
}

void consume_out_bytes(struct consume_out *o, const void *bytes, size_t len)
{
    if (len == 0 || !out_reserve(o, len))
        return;
    memcpy(o->buf + o->len, bytes, len);
    o->len += len;
}

static void out_char(struct consume_out *o, char ch)
{
    if (!out_reserve(o, 1))
        return;
    o->buf[o->len++] = ch;
}

static void out_i64(struct consume_out *o, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
    consume_out_bytes(o, tmp, (size_t)n);
}

static void out_str(struct consume_out *o, const char *s)
{
    consume_out_bytes(o, s, strlen(s));
}

/* ---- -f FORMAT ----------------------------------------------------------------------- */

bool consume_format_compile(const char *fmt, struct consume_format *f, char *why, size_t why_cap)
{
    memset(f, 0, sizeof(*f));
    size_t n = strlen(fmt);
    f->text = malloc(n + 1);
    if (f->text == NULL) {
        snprintf(why, why_cap, "out of memory");
        return false;
    }
    uint32_t text_len = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = fmt[i];
        enum consume_op_kind kind = CONSUME_OP_TEXT;
        if (ch == '%') {
            char d = fmt[++i];
            switch (d) {
            case 's': kind = CONSUME_OP_VALUE; break;
            case 'k': kind = CONSUME_OP_KEY; break;
            case 't': kind = CONSUME_OP_TOPIC; break;
            case 'p': kind = CONSUME_OP_PARTITION; break;
            case 'o': kind = CONSUME_OP_OFFSET; break;
            case 'T': kind = CONSUME_OP_TIMESTAMP; break;
            case 'h': kind = CONSUME_OP_HEADERS; break;
            case 'S': kind = CONSUME_OP_VALUE_SIZE; break;
            case '%': ch = '%'; break;
            default:
                snprintf(why, why_cap,
                         "unknown directive '%%%.1s' (use %%s %%k %%t %%p %%o %%T %%h %%S %%%%)",
                         d == '\0' ? "" : &fmt[i]);
                consume_format_free(f);
                return false;
            }
            if (d == '\0')
                i--;
        } else if (ch == '\\') {
            char e = fmt[++i];
            if (e == 'n') {
                ch = '\n';
            } else if (e == 't') {
                ch = '\t';
            } else if (e == '\\') {
                ch = '\\';
            } else {
                snprintf(why, why_cap, "unknown escape '\\%.1s' (use \\n \\t \\\\)",
                         e == '\0' ? "" : &fmt[i]);
                consume_format_free(f);
                return false;
            }
        }
        if (kind == CONSUME_OP_TEXT) {
            struct consume_op *last = f->op_count > 0 ? &f->ops[f->op_count - 1] : NULL;
            if (last == NULL || last->kind != CONSUME_OP_TEXT) {
                if (f->op_count >= CONSUME_FORMAT_OPS_MAX)
                    goto too_long;
                f->ops[f->op_count++] = (struct consume_op){CONSUME_OP_TEXT, text_len, 0};
                last = &f->ops[f->op_count - 1];
            }
            f->text[text_len++] = ch;
            last->len++;
        } else {
            if (f->op_count >= CONSUME_FORMAT_OPS_MAX)
                goto too_long;
            f->ops[f->op_count++] = (struct consume_op){kind, 0, 0};
        }
    }
    return true;
too_long:
    snprintf(why, why_cap, "the format has more than %u parts", CONSUME_FORMAT_OPS_MAX);
    consume_format_free(f);
    return false;
}

void consume_format_free(struct consume_format *f)
{
    free(f->text);
    f->text = NULL;
    f->op_count = 0;
}

void consume_format_record(const struct consume_format *f, const struct raftmq_record *r,
                           struct consume_out *o)
{
    for (uint32_t i = 0; i < f->op_count; i++) {
        const struct consume_op *op = &f->ops[i];
        switch (op->kind) {
        case CONSUME_OP_TEXT:
            consume_out_bytes(o, f->text + op->start, op->len);
            break;
        case CONSUME_OP_VALUE:
            consume_out_bytes(o, r->value, r->value_len);
            break;
        case CONSUME_OP_KEY:
            if (r->key != NULL)
                consume_out_bytes(o, r->key, r->key_len);
            break;
        case CONSUME_OP_TOPIC:
            out_str(o, r->topic);
            break;
        case CONSUME_OP_PARTITION:
            out_i64(o, r->partition);
            break;
        case CONSUME_OP_OFFSET:
            out_i64(o, r->offset);
            break;
        case CONSUME_OP_TIMESTAMP:
            out_i64(o, r->timestamp);
            break;
        case CONSUME_OP_HEADERS:
            for (size_t h = 0; h < r->header_count; h++) {
                if (h > 0)
                    out_char(o, ',');
                out_str(o, r->headers[h].name);
                out_char(o, '=');
                consume_out_bytes(o, r->headers[h].value, r->headers[h].value_len);
            }
            break;
        case CONSUME_OP_VALUE_SIZE:
            out_i64(o, (int64_t)r->value_len);
            break;
        }
    }
}

/* ---- JSON ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static size_t utf8_valid_len(const uint8_t *p, size_t left)
{
    uint8_t b = p[0];
    size_t n;
    uint32_t min;
    uint32_t cp;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
        min = 0x80;
        cp = b & 0x1fu;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        min = 0x800;
        cp = b & 0x0fu;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        min = 0x10000;
        cp = b & 0x07u;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0u) != 0x80u)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, beyond Unicode, or a surrogate */
    return n;
}

void consume_json_string(struct consume_out *o, const void *bytes, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = bytes;
    out_char(o, '"');
    size_t i = 0;
    while (i < len) {
        /* Copy the longest run that needs no escaping in one go. */
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            consume_out_bytes(o, p + i, run - i);
            i = run;
            continue;
        }
        uint8_t ch = p[i];
        char esc[7];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            consume_out_bytes(o, esc, 2);
            i++;
        } else if (ch == '\n') {
            consume_out_bytes(o, "\\n", 2);
            i++;
        } else if (ch == '\t') {
            consume_out_bytes(o, "\\t", 2);
            i++;
        } else if (ch == '\r') {
            consume_out_bytes(o, "\\r", 2);
            i++;
        } else {
            size_t n = ch < 0x20 || ch == 0x7f ? 0 : utf8_valid_len(p + i, len - i);
            if (n == 0) {
                /* A control character, or a byte that is not text: its value. */
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[ch >> 4];
                esc[5] = hex[ch & 15];
                consume_out_bytes(o, esc, 6);
                i++;
            } else {
                consume_out_bytes(o, p + i, n);
                i += n;
            }
        }
    }
    out_char(o, '"');
}

void consume_json_record(const struct raftmq_record *r, struct consume_out *o)
{
    out_str(o, "{\"topic\":");
    consume_json_string(o, r->topic, strlen(r->topic));
    out_str(o, ",\"partition\":");
    out_i64(o, r->partition);
    out_str(o, ",\"offset\":");
    out_i64(o, r->offset);
    out_str(o, ",\"timestamp\":");
    out_i64(o, r->timestamp);
    out_str(o, ",\"key\":");
    if (r->key == NULL)
        out_str(o, "null");
    else
        consume_json_string(o, r->key, r->key_len);
    out_str(o, ",\"value\":");
    consume_json_string(o, r->value, r->value_len);
    out_str(o, ",\"headers\":[");
    for (size_t h = 0; h < r->header_count; h++) {
        out_str(o, h > 0 ? ",{\"name\":" : "{\"name\":");
        consume_json_string(o, r->headers[h].name, strlen(r->headers[h].name));
        out_str(o, ",\"value\":");
        consume_json_string(o, r->headers[h].value, r->headers[h].value_len);
        out_char(o, '}');
    }
    out_str(o, "]}\n");
}
