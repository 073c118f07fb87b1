/* Helpers shared by the command-line tools: options, errors, client set-up, JSON strings. */
#include "tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "raftmq.h"
#include "validate.h"

static const char *tool_name = "raftmq";

void tool_init(const char *program)
{
    if (program != NULL && program[0] != '\0')
        tool_name = program;
}

const char *tool_program(void)
{
    return tool_name;
}

void tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int tool_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Try '%s --help'.\n", tool_name);
    return TOOL_EXIT_USAGE;
}

bool tool_parse_u64(const char *text, const char *what, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    /* strtoull accepts signs and leading spaces: refuse them first. */
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        tool_usage_error("%s: '%s' is not a number", what, text != NULL ? text : "");
        return false;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        tool_usage_error("%s: '%s' is not a number", what, text);
        return false;
    }
    if (v < min || v > max) {
        tool_usage_error("%s: %llu is out of range [%llu, %llu]", what, v,
                         (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool tool_parse_u32(const char *text, const char *what, uint32_t min, uint32_t max,
                    uint32_t *out)
{
    uint64_t v;
    if (!tool_parse_u64(text, what, min, max, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

bool tool_brokers(const char *list, char *out, size_t out_cap)
{
    if (list == NULL) {
        list = getenv(TOOL_BROKERS_ENV);
        if (list == NULL || list[0] == '\0')
            list = TOOL_BROKERS_DEFAULT;
    }
    if (list[strspn(list, " \t,")] == '\0') {
        tool_usage_error("--brokers: no broker address given");
        return false;
    }
    /* Split as the client will (wire_client_split_endpoints), then give
     * each address without a scheme "tcp://". */
    char(*items)[WIRE_STRING_BYTES_MAX + 1] = malloc(WIRE_CLIENT_BOOTSTRAP_MAX * sizeof(*items));
    uint32_t count = 0;
    bool ok = items != NULL &&
              wire_client_split_endpoints(list, items, WIRE_CLIENT_BOOTSTRAP_MAX, &count) == WIRE_OK;
    size_t used = 0;
    for (uint32_t i = 0; ok && i < count; i++) {
        const char *prefix = strstr(items[i], "://") != NULL ? "" : "tcp://";
        int w = snprintf(out + used, out_cap - used, "%s%s%s", i > 0 ? "," : "", prefix, items[i]);
        ok = w >= 0 && (size_t)w < out_cap - used;
        used += ok ? (size_t)w : 0;
    }
    free(items);
    if (!ok)
        tool_usage_error("--brokers: the list is too long (at most %u addresses)",
                         WIRE_CLIENT_BOOTSTRAP_MAX);
    return ok;
}

struct wire_client *tool_client_open(const char *brokers, uint32_t timeout_ms,
                                     uint32_t in_flight_max)
{
    /* One attempt or connection wait is at most a second, and never longer
     * than the whole timeout, so a dead first broker leaves time for the next. */
    uint32_t attempt = timeout_ms < 1000u ? timeout_ms : 1000u;
    if (attempt == 0)
        attempt = 1;
    struct wire_client_config cfg = {
        .bootstrap = brokers,
        .attempt_timeout_ms = attempt,
        .connect_timeout_ms = attempt,
        .backoff_ms_min = 20,
        .backoff_ms_max = 500,
        .in_flight_max = in_flight_max,
    };
    struct wire_client *c = NULL;
    int rc = wire_client_open(&cfg, &c);
    if (rc != WIRE_OK) {
        tool_error("cannot set up a client for '%s': %s", brokers, wire_strerror(rc));
        return NULL;
    }
    return c;
}

int tool_topic_metadata(struct wire_client *c, const char *topic, uint32_t timeout_ms,
                        uint32_t *partition_count)
{
    int64_t deadline = tool_now_ms() + timeout_ms;
    /* Brokers apply a new topic a few heartbeats apart; half a second of
     * asking again (other brokers in turn) covers that without hiding a
     * real typo for long. */
    int64_t grace_end = tool_now_ms() + (timeout_ms < 500u ? timeout_ms : 500u);
    for (;;) {
        int64_t left = deadline - tool_now_ms();
        if (left <= 0)
            left = 1;
        int rc = wire_client_refresh_metadata(c, topic, (uint32_t)left);
        if (rc != WIRE_OK)
            return rc;
        rc = wire_client_partition_count(c, topic, partition_count);
        if (rc == WIRE_OK && *partition_count > 0)
            return WIRE_OK;
        if (tool_now_ms() >= grace_end)
            return WIRE_ERR_UNKNOWN_TOPIC;
        wire_sleep_ms(50);
    }
}

bool tool_check_topic_name(const char *name)
{
    if (!wire_topic_name_valid(name, strlen(name))) {
        tool_usage_error("invalid topic name '%s' (1..%u characters of A-Z a-z 0-9 . _ -, "
                         "not '.' or '..')",
                         name, WIRE_TOPIC_NAME_BYTES_MAX);
        return false;
    }
    return true;
}

int64_t tool_now_ms(void)
{
    return wire_mono_ms();
}

int64_t tool_wall_ms(void)
{
    return wire_wall_ms();
}

static volatile sig_atomic_t *stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_flag != NULL)
        *stop_flag = 1;
}

bool tool_catch_stop_signals(volatile sig_atomic_t *flag)
{
    stop_flag = flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking calls return EINTR */
    return sigaction(SIGINT, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_sequence(const uint8_t *p, size_t n)
{
    size_t len;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1fu;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0fu;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void tool_json_string(FILE *out, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    fputc('"', out);
    size_t i = 0;
    while (i < len) {
        uint8_t ch = p[i];
        if (ch == '"' || ch == '\\') {
            fputc('\\', out);
            fputc(ch, out);
            i++;
        } else if (ch == '\n') {
            fputs("\\n", out);
            i++;
        } else if (ch == '\t') {
            fputs("\\t", out);
            i++;
        } else if (ch == '\r') {
            fputs("\\r", out);
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            fprintf(out, "\\u%04x", ch);
            i++;
        } else {
            size_t n = utf8_sequence(p + i, len - i);
            if (n == 0) {
                /* Not text: show the byte's value rather than emit invalid JSON. */
                fprintf(out, "\\u%04x", ch);
                i++;
            } else {
                fwrite(p + i, 1, n, out);
                i += n;
            }
        }
    }
    fputc('"', out);
}

const char *tool_response_error(const struct wire_frame *resp, char *buf, size_t cap)
{
    uint32_t n = resp->error_message.len;
    if (n > 300)
        n = 300;
    if (n == 0)
        snprintf(buf, cap, "%s", wire_err_name((int)resp->error));
    else
        snprintf(buf, cap, "%s: %.*s", wire_err_name((int)resp->error), (int)n,
                 (const char *)resp->error_message.ptr);
    return buf;
}

uint32_t tool_fnv1a32(const void *bytes, size_t len)
{
    return raftmq_key_hash(bytes, len);
}
