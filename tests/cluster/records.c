/* Deterministic test records and the ack file format of raftmq-testclient. */
#include "tests/cluster/records.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

uint64_t testrec_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void testrec_make(struct testrec *r, uint64_t seed, uint64_t id, int64_t timestamp_ms)
{
    /* Two rounds so neighbouring (seed, id) pairs share nothing. */
    uint64_t state = testrec_mix(seed ^ testrec_mix(id ^ 0x5bd1e995ull));
    int key_len = snprintf(r->key, sizeof(r->key), "k%" PRIu64, id);
    int id_len = snprintf(r->id_text, sizeof(r->id_text), "%" PRIu64, id);
    uint32_t value_len = 1u + (uint32_t)(state % TESTREC_VALUE_BYTES_MAX);
    for (uint32_t i = 0; i < value_len; i += 8) {
        state = testrec_mix(state);
        for (uint32_t k = 0; k < 8 && i + k < value_len; k++)
            r->value[i + k] = (uint8_t)(state >> (8 * k));
    }
    state = testrec_mix(state);
    r->h[0] = (uint8_t)state;
    r->h[1] = (uint8_t)(state >> 8);
    r->h[2] = (uint8_t)(state >> 16);

    r->headers[0].name = (struct wire_bytes){(const uint8_t *)"id", 2};
    r->headers[0].value = (struct wire_bytes){(const uint8_t *)r->id_text, (uint32_t)id_len};
    r->headers[1].name = (struct wire_bytes){(const uint8_t *)"h", 1};
    r->headers[1].value = (struct wire_bytes){r->h, 3};
    memset(&r->record, 0, sizeof(r->record));
    r->record.timestamp = timestamp_ms;
    r->record.has_key = true;
    r->record.key = (struct wire_bytes){(const uint8_t *)r->key, (uint32_t)key_len};
    r->record.value = (struct wire_bytes){r->value, value_len};
    r->record.header_count = 2;
    r->record.headers = r->headers;
}

static bool bytes_eq(struct wire_bytes a, struct wire_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool testrec_read_id(const struct wire_record *got, uint64_t *id)
{
    for (uint32_t i = 0; i < got->header_count; i++) {
        const struct wire_header *h = &got->headers[i];
        if (h->name.len != 2 || memcmp(h->name.ptr, "id", 2) != 0)
            continue;
        if (h->value.len == 0 || h->value.len > 20)
            return false;
        uint64_t v = 0;
        for (uint32_t k = 0; k < h->value.len; k++) {
            uint8_t ch = h->value.ptr[k];
            if (ch < '0' || ch > '9' || (k == 0 && ch == '0' && h->value.len > 1))
                return false;
            if (v > (UINT64_MAX - (uint64_t)(ch - '0')) / 10)
                return false;
            v = v * 10 + (uint64_t)(ch - '0');
        }
        *id = v;
        return true;
    }
    return false;
}

const char *testrec_compare(const struct testrec *expected, const struct wire_record *got)
{
    const struct wire_record *e = &expected->record;
    if (!got->has_key)
        return "key is nil";
    if (!bytes_eq(e->key, got->key))
        return "key differs";
    if (!bytes_eq(e->value, got->value))
        return "value differs";
    if (got->header_count != e->header_count)
        return "header count differs";
    for (uint32_t i = 0; i < e->header_count; i++) {
        if (!bytes_eq(e->headers[i].name, got->headers[i].name))
            return "a header name differs";
        if (!bytes_eq(e->headers[i].value, got->headers[i].value))
            return "a header value differs";
    }
    return NULL;
}

/* ---- ack file -------------------------------------------------------------------- */

static int parse_u64(const char **p, uint64_t *out)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
    if (**p < '0' || **p > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(*p, &end, 10);
    if (errno != 0)
        return -1;
    *p = end;
    *out = (uint64_t)v;
    return 0;
}

static bool at_line_end(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return *p == '\0';
}

/* "name=value" items of the header line, in any order. */
static int parse_header(const char *p, struct testacks_header *h, char *why, size_t why_cap)
{
    memset(h, 0, sizeof(*h));
    bool have_topic = false, have_partitions = false, have_records = false, have_seed = false;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (at_line_end(p))
            break;
        const char *eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(why, why_cap, "header item without '='");
            return -1;
        }
        size_t name_len = (size_t)(eq - p);
        const char *v = eq + 1;
        size_t value_len = strcspn(v, " \t\r\n");
        if (name_len == 5 && memcmp(p, "topic", 5) == 0) {
            if (value_len == 0 || value_len >= sizeof(h->topic)) {
                snprintf(why, why_cap, "bad topic in header");
                return -1;
            }
            memcpy(h->topic, v, value_len);
            h->topic[value_len] = '\0';
            have_topic = true;
        } else {
            uint64_t n;
            const char *q = v;
            if (parse_u64(&q, &n) != 0 || q != v + value_len) {
                snprintf(why, why_cap, "bad number in header item '%.*s'", (int)name_len, p);
                return -1;
            }
            if (name_len == 10 && memcmp(p, "partitions", 10) == 0 && n > 0 && n <= UINT32_MAX) {
                h->partitions = (uint32_t)n;
                have_partitions = true;
            } else if (name_len == 7 && memcmp(p, "records", 7) == 0) {
                h->records = n;
                have_records = true;
            } else if (name_len == 4 && memcmp(p, "seed", 4) == 0) {
                h->seed = n;
                have_seed = true;
            } else {
                snprintf(why, why_cap, "unknown or bad header item '%.*s'", (int)name_len, p);
                return -1;
            }
        }
        p = v + value_len;
    }
    if (!have_topic || !have_partitions || !have_records || !have_seed) {
        snprintf(why, why_cap, "header needs topic=, partitions=, records= and seed=");
        return -1;
    }
    return 0;
}

int testacks_parse_line(const char *line, struct testacks_header *header, struct testack *ack,
                        struct testretry *retry, char *why, size_t why_cap)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (at_line_end(p))
        return TESTACKS_BLANK;
    if (*p == '#') {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "produce ", 8) == 0)
            return parse_header(p + 8, header, why, why_cap) == 0 ? TESTACKS_HEADER : -1;
        if (strncmp(p, "retry ", 6) == 0) {
            p += 6;
            uint64_t part, first, last;
            if (parse_u64(&p, &part) != 0 || parse_u64(&p, &first) != 0 ||
                parse_u64(&p, &last) != 0 || !at_line_end(p) || part > UINT32_MAX ||
                last < first) {
                snprintf(why, why_cap, "malformed retry line");
                return -1;
            }
            retry->partition = (uint32_t)part;
            retry->first_id = first;
            retry->last_id = last;
            return TESTACKS_RETRY;
        }
        return TESTACKS_BLANK;
    }
    uint64_t part, offset, id;
    if (parse_u64(&p, &part) != 0 || parse_u64(&p, &offset) != 0 || parse_u64(&p, &id) != 0 ||
        !at_line_end(p) || part > UINT32_MAX) {
        snprintf(why, why_cap, "expected 'partition offset id'");
        return -1;
    }
    ack->partition = (uint32_t)part;
    ack->offset = offset;
    ack->id = id;
    return TESTACKS_ACK;
}

/* Appends one element to a growable array. */
static int push(void **items, size_t *count, size_t *cap, size_t size, const void *item)
{
    if (*count == *cap) {
        size_t grown_cap = *cap == 0 ? 1024 : *cap * 2;
        void *grown = realloc(*items, grown_cap * size);
        if (grown == NULL)
            return -1;
        *items = grown;
        *cap = grown_cap;
    }
    memcpy((char *)*items + *count * size, item, size);
    (*count)++;
    return 0;
}

int testacks_load(const char *path, struct testacks *a, char *why, size_t why_cap)
{
    memset(a, 0, sizeof(*a));
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, why_cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    size_t line_no = 0, ack_cap = 0, retry_cap = 0;
    int rc = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        line_no++;
        size_t n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            snprintf(why, why_cap, "%s:%zu: line too long", path, line_no);
            rc = -1;
            break;
        }
        struct testack ack;
        struct testretry retry;
        struct testacks_header header;
        char reason[160];
        int kind = testacks_parse_line(line, &header, &ack, &retry, reason, sizeof(reason));
        if (kind < 0) {
            snprintf(why, why_cap, "%s:%zu: %s", path, line_no, reason);
            rc = -1;
            break;
        }
        if (kind == TESTACKS_HEADER) {
            if (a->has_header) {
                snprintf(why, why_cap, "%s:%zu: a second header", path, line_no);
                rc = -1;
                break;
            }
            a->has_header = true;
            a->header = header;
        } else if (kind == TESTACKS_ACK) {
            if (push((void **)&a->acks, &a->ack_count, &ack_cap, sizeof(ack), &ack) != 0) {
                snprintf(why, why_cap, "out of memory");
                rc = -1;
                break;
            }
        } else if (kind == TESTACKS_RETRY) {
            if (push((void **)&a->retries, &a->retry_count, &retry_cap, sizeof(retry), &retry) != 0) {
                snprintf(why, why_cap, "out of memory");
                rc = -1;
                break;
            }
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(why, why_cap, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    if (rc != 0)
        testacks_free(a);
    return rc;
}

void testacks_free(struct testacks *a)
{
    free(a->acks);
    free(a->retries);
    memset(a, 0, sizeof(*a));
}
