/* The broker's configuration: one table of keys drives the file parser, the flags, the help and the writer. */
#include "broker/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "broker/blog.h"
#include "broker/storage/limits.h"
#include "broker/storage/log.h"
#include "raft/raft.h"
#include "wire/batch.h"
#include "wire/limits.h"

static_assert(BROKER_NODES_MAX == RAFT_SERVERS_MAX, "a cluster is one Raft configuration");
static_assert(sizeof(BROKER_DEFAULT_PEER_ADDRESS) <= BROKER_ADDRESS_BYTES_MAX, "default fits");
static_assert(WIRE_RECORD_BYTES_MAX + WIRE_BATCH_HEADER_BYTES <= WIRE_BATCH_BYTES_MAX,
              "the default record limit passes the record-fits-a-batch check");

#define KIB UINT64_C(1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

/* Ranges (docs/operations.md, "Configuring a broker"). */
#define TIMEOUT_MS_MAX 600000u
#define ELECTION_TIMEOUT_MS_MIN 10u
#define BATCH_BYTES_MIN 1024u
#define RECORD_BYTES_MIN 64u
#define QUEUE_MAX 1000000u
#define UNCOMMITTED_BYTES_MAX (16 * GIB)
#define SEGMENT_BYTES_MIN MIB
#define SEGMENT_BYTES_MAX ((uint64_t)STORAGE_SEGMENT_BYTES_MAX)

/* A config-file line, and the longest value quoted back in an error. */
#define LINE_BYTES_MAX 8192
#define QUOTE "%.80s"

enum key_kind {
    KEY_U32,
    KEY_U64,
    KEY_I64, /* -1 or a whole number */
    KEY_PATH,
    KEY_ENDPOINT,
    KEY_IP, /* an IPv4 or IPv6 literal, or empty */
    KEY_NODE,
    KEY_FSYNC,
    KEY_LOG_LEVEL,
    KEY_BOOL, /* true|false; the flag alone means true */
};

struct key {
    const char *name; /* the file key; the flag is "--" + name with dashes */
    enum key_kind kind;
    size_t offset;
    size_t size;     /* of the field */
    bool sizes;      /* accepts a k/m/g suffix */
    const char *arg; /* the value's name in help */
    const char *default_text; /* help's default when not the default value itself */
    const char *meaning;
};

#define FIELD(f) offsetof(struct broker_config, f), sizeof(((struct broker_config *)0)->f)

static const struct key keys[] = {
    {"node_id", KEY_U32, FIELD(node_id), false, "ID", NULL,
     "this broker's id (>= 1); it must be one of the `node` entries"},
    {"data_dir", KEY_PATH, FIELD(data_dir), false, "DIR", NULL,
     "directory for this broker's Raft logs and state"},
    {"node", KEY_NODE, FIELD(nodes), false, "ID,PEER,CLIENT",
     "1," BROKER_DEFAULT_PEER_ADDRESS "," BROKER_DEFAULT_CLIENT_ADDRESS " when node_id is 1",
     "one broker of the cluster: its id, the endpoint other brokers connect to and the endpoint "
     "clients connect to (advertised in METADATA); repeat once per broker, at most 9, the same "
     "list on every broker; endpoints are tcp://HOST:PORT, ipc://PATH or inproc://NAME"},
    {"client_listen", KEY_ENDPOINT, FIELD(client_listen), false, "ENDPOINT",
     "this node's client endpoint",
     "endpoint to bind for clients (e.g. tcp://0.0.0.0:9292 behind NAT)"},
    {"peer_listen", KEY_ENDPOINT, FIELD(peer_listen), false, "ENDPOINT",
     "this node's peer endpoint", "endpoint to bind for other brokers"},
    {"peer_source_address", KEY_IP, FIELD(peer_source_address), false, "IP", "the system's choice",
     "local address this broker's connections to other brokers come from (tcp peers only), "
     "e.g. to pick an interface, or one loopback address per broker in a test"},
    {"fsync", KEY_FSYNC, FIELD(fsync_policy), false, "always|never", NULL,
     "always: nothing is acknowledged before fdatasync; never: durable once in the page cache "
     "(a power loss can lose recent writes)"},
    {"election_timeout_min_ms", KEY_U32, FIELD(election_timeout_min_ms), false, "MS", NULL,
     "shortest randomised election timeout; 10..600000"},
    {"election_timeout_max_ms", KEY_U32, FIELD(election_timeout_max_ms), false, "MS", NULL,
     "longest randomised election timeout; greater than election_timeout_min_ms, <= 600000"},
    {"heartbeat_ms", KEY_U32, FIELD(heartbeat_ms), false, "MS", NULL,
     "leader heartbeat interval; >= 1 and less than election_timeout_min_ms / 2"},
    {"max_batch_bytes", KEY_U32, FIELD(batch_bytes_max), true, "BYTES", NULL,
     "largest record batch accepted (encoded); 1k..1m"},
    {"max_record_bytes", KEY_U32, FIELD(record_bytes_max), true, "BYTES", NULL,
     "largest record accepted; 64 .. max_batch_bytes - 68 (a record fits one batch)"},
    {"request_timeout_ms", KEY_U32, FIELD(request_timeout_ms), false, "MS", NULL,
     "longest a PRODUCE waits for commit (caps the client's timeout_ms); 1..600000"},
    {"fetch_wait_max_ms", KEY_U32, FIELD(fetch_wait_max_ms), false, "MS", NULL,
     "cap on a FETCH's max_wait_ms; 0..600000"},
    {"client_queue_max", KEY_U32, FIELD(client_queue_max), false, "N", NULL,
     "ZeroMQ high-water mark (messages) per client connection; 1..1000000"},
    {"peer_queue_max", KEY_U32, FIELD(peer_queue_max), false, "N", NULL,
     "ZeroMQ high-water mark (messages) per peer connection; 1..1000000"},
    {"max_uncommitted_bytes", KEY_U64, FIELD(uncommitted_bytes_max), true, "BYTES", NULL,
     "per partition: past this many appended but uncommitted bytes PRODUCE gets BACKPRESSURE; "
     "2 x max_batch_bytes .. 16g"},
    {"raft_memory_bytes", KEY_U64, FIELD(raft_memory_bytes), true, "BYTES", NULL,
     "per partition: recent log entries kept in memory to replicate from; a follower further "
     "behind is caught up from the segment files; 1m..16g"},
    {"segment_bytes", KEY_U64, FIELD(segment_bytes), true, "BYTES", NULL,
     "log segment size; 1m..1g"},
    {"retention_ms", KEY_I64, FIELD(retention_ms), false, "MS", NULL,
     "default retention by age for topics that set none; -1 = forever"},
    {"retention_bytes", KEY_I64, FIELD(retention_bytes), true, "BYTES", NULL,
     "default retention by size per partition; -1 = unlimited"},
    {"shutdown_timeout_ms", KEY_U32, FIELD(shutdown_timeout_ms), false, "MS", NULL,
     "bound on a clean shutdown; 1..600000"},
    {"log_level", KEY_LOG_LEVEL, FIELD(log_level), false, "error|warn|info|debug", NULL,
     "least severe log lines written (to stderr)"},
    {"test_power_loss", KEY_BOOL, FIELD(test_power_loss), false, "true|false", NULL,
     "TEST ONLY, never in production: storage records what each file holds durably, and "
     "SIGUSR1 then simulates a power loss (every file is cut to what fdatasync made durable "
     "and the broker exits at once with status 137)"},
};
#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))

static int fail(char *err, size_t err_cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_cap, const char *fmt, ...)
{
    if (err != NULL && err_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void broker_config_defaults(struct broker_config *c)
{
    memset(c, 0, sizeof *c);
    c->node_id = 1;
    snprintf(c->data_dir, sizeof c->data_dir, "%s", BROKER_DEFAULT_DATA_DIR);
    c->fsync_policy = STORAGE_FSYNC_ALWAYS;
    c->election_timeout_min_ms = 150;
    c->election_timeout_max_ms = 300;
    c->heartbeat_ms = 30;
    c->batch_bytes_max = WIRE_BATCH_BYTES_MAX;
    c->record_bytes_max = WIRE_RECORD_BYTES_MAX;
    c->request_timeout_ms = 10000;
    c->fetch_wait_max_ms = 30000;
    c->client_queue_max = 1000;
    c->peer_queue_max = 1000;
    c->uncommitted_bytes_max = 64 * MIB;
    c->raft_memory_bytes = 64 * MIB;
    c->segment_bytes = STORAGE_SEGMENT_BYTES_DEFAULT;
    c->retention_ms = INT64_C(604800000);
    c->retention_bytes = -1;
    c->shutdown_timeout_ms = 5000;
    c->log_level = BLOG_INFO;
}

/* ---- values ------------------------------------------------------------- */

/*
 * A whole decimal number, optionally with a k/m/g suffix: digits only (no
 * sign, space or base prefix, which strtoull would otherwise accept), at
 * most `max`. On error sets *why to the reason.
 */
static int parse_unsigned(const char *s, bool sizes, uint64_t max, uint64_t *out, const char **why)
{
    if (s[0] == '-') {
        *why = "must not be negative";
        return -1;
    }
    if (!isdigit((unsigned char)s[0])) {
        *why = sizes ? "is not a whole number (digits, optionally followed by k, m or g)"
                     : "is not a whole number";
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE) {
        *why = "is too large";
        return -1;
    }
    uint64_t unit = 1;
    if (sizes && *end != '\0' && end[1] == '\0') {
        switch (*end) {
        case 'k': case 'K': unit = KIB; end++; break;
        case 'm': case 'M': unit = MIB; end++; break;
        case 'g': case 'G': unit = GIB; end++; break;
        default: break;
        }
    }
    if (*end != '\0') {
        *why = sizes ? "is not a whole number (digits, optionally followed by k, m or g)"
                     : "is not a whole number";
        return -1;
    }
    if (v > max / unit) {
        *why = "is too large";
        return -1;
    }
    *out = (uint64_t)v * unit;
    return 0;
}

/* Copies a string value into a field, refusing what does not fit. */
static int set_string(char *dst, size_t cap, const char *value, const char *label, char *err,
                      size_t err_cap)
{
    size_t len = strlen(value);
    if (len >= cap)
        return fail(err, err_cap, "%s: value is %zu bytes long, at most %zu allowed", label, len,
                    cap - 1);
    memcpy(dst, value, len + 1);
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* "ID,PEER_ENDPOINT,CLIENT_ENDPOINT", appended to the node list. */
static int add_node(struct broker_config *c, const char *spec, const char *label, char *err,
                    size_t err_cap)
{
    char buf[2 * BROKER_ADDRESS_BYTES_MAX + 32];
    if (strlen(spec) >= sizeof buf)
        return fail(err, err_cap, "%s: \"" QUOTE "...\" is too long", label, spec);
    memcpy(buf, spec, strlen(spec) + 1);
    char *fields[3];
    size_t n_fields = 0;
    char *rest = buf;
    for (;;) {
        char *comma = strchr(rest, ',');
        if (n_fields == 3 || (comma == NULL && n_fields < 2) || (comma != NULL && n_fields == 2))
            return fail(err, err_cap,
                        "%s: \"" QUOTE "\" must be ID,PEER_ENDPOINT,CLIENT_ENDPOINT "
                        "(3 comma-separated fields)",
                        label, spec);
        if (comma != NULL)
            *comma = '\0';
        fields[n_fields++] = trim(rest);
        if (comma == NULL)
            break;
        rest = comma + 1;
    }
    if (c->n_nodes == BROKER_NODES_MAX)
        return fail(err, err_cap, "%s: \"" QUOTE "\": more than %d nodes", label, spec,
                    BROKER_NODES_MAX);
    uint64_t id = 0;
    const char *why = NULL;
    if (parse_unsigned(fields[0], false, UINT32_MAX, &id, &why) != 0)
        return fail(err, err_cap, "%s: \"" QUOTE "\": id \"" QUOTE "\" %s", label, spec,
                    fields[0], why);
    if (id == 0)
        return fail(err, err_cap, "%s: \"" QUOTE "\": id must be at least 1", label, spec);
    struct broker_node *node = &c->nodes[c->n_nodes];
    memset(node, 0, sizeof *node);
    node->id = (uint32_t)id;
    if (set_string(node->peer_address, sizeof node->peer_address, fields[1], label, err,
                   err_cap) != 0 ||
        set_string(node->client_address, sizeof node->client_address, fields[2], label, err,
                   err_cap) != 0)
        return -1;
    c->n_nodes++;
    return 0;
}

/* Sets one key from its text; `label` ("--node-id", "f.conf:3: node_id") starts any error. */
static int set_value(struct broker_config *c, const struct key *k, const char *value,
                     const char *label, char *err, size_t err_cap)
{
    char *field = (char *)c + k->offset;
    uint64_t u = 0;
    const char *why = NULL;
    switch (k->kind) {
    case KEY_U32:
    case KEY_U64: {
        uint64_t max = k->kind == KEY_U32 ? UINT32_MAX : UINT64_MAX;
        if (parse_unsigned(value, k->sizes, max, &u, &why) != 0)
            return fail(err, err_cap, "%s: \"" QUOTE "\" %s%s", label, value, why,
                        strcmp(why, "is too large") == 0 && k->kind == KEY_U32
                            ? " (at most 4294967295)"
                            : "");
        if (k->kind == KEY_U32) {
            uint32_t v32 = (uint32_t)u;
            memcpy(field, &v32, sizeof v32);
        } else {
            memcpy(field, &u, sizeof u);
        }
        return 0;
    }
    case KEY_I64: {
        int64_t v;
        if (strcmp(value, "-1") == 0) {
            v = -1;
        } else if (value[0] == '-') {
            return fail(err, err_cap, "%s: \"" QUOTE "\" must be -1 or a whole number >= 0", label,
                        value);
        } else {
            if (parse_unsigned(value, k->sizes, INT64_MAX, &u, &why) != 0)
                return fail(err, err_cap, "%s: \"" QUOTE "\" %s", label, value, why);
            v = (int64_t)u;
        }
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case KEY_PATH:
    case KEY_ENDPOINT:
        return set_string(field, k->size, value, label, err, err_cap);
    case KEY_IP: {
        unsigned char addr[sizeof(struct in6_addr)];
        if (value[0] != '\0' && inet_pton(AF_INET, value, addr) != 1 &&
            inet_pton(AF_INET6, value, addr) != 1)
            return fail(err, err_cap, "%s: \"" QUOTE "\" is not an IPv4 or IPv6 address", label,
                        value);
        return set_string(field, k->size, value, label, err, err_cap);
    }
    case KEY_NODE:
        return add_node(c, value, label, err, err_cap);
    case KEY_FSYNC:
        if (strcmp(value, "always") == 0)
            c->fsync_policy = STORAGE_FSYNC_ALWAYS;
        else if (strcmp(value, "never") == 0)
            c->fsync_policy = STORAGE_FSYNC_NEVER;
        else
            return fail(err, err_cap, "%s: \"" QUOTE "\" must be always or never", label, value);
        return 0;
    case KEY_BOOL: {
        bool v = strcmp(value, "true") == 0;
        if (!v && strcmp(value, "false") != 0)
            return fail(err, err_cap, "%s: \"" QUOTE "\" must be true or false", label, value);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case KEY_LOG_LEVEL: {
        int level = blog_level_parse(value);
        if (level < 0)
            return fail(err, err_cap, "%s: \"" QUOTE "\" must be error, warn, info or debug",
                        label, value);
        c->log_level = level;
        return 0;
    }
    }
    return fail(err, err_cap, "%s: unhandled key kind", label);
}

/* The key named by name[0..len), with '-' and '_' interchangeable; NULL if none. */
static const struct key *key_find(const char *name, size_t len)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *k = keys[i].name;
        if (strlen(k) != len)
            continue;
        size_t j = 0;
        while (j < len && (name[j] == k[j] || (name[j] == '-' && k[j] == '_')))
            j++;
        if (j == len)
            return &keys[i];
    }
    return NULL;
}

static void flag_name(const struct key *k, char *out, size_t cap)
{
    snprintf(out, cap, "--%s", k->name);
    for (char *p = out; *p != '\0'; p++)
        if (*p == '_')
            *p = '-';
}

/* Sizes print with the largest suffix that divides them: 134217728 -> 128m. */
static void format_size(uint64_t v, char *out, size_t cap)
{
    if (v != 0 && v % GIB == 0)
        snprintf(out, cap, "%" PRIu64 "g", v / GIB);
    else if (v != 0 && v % MIB == 0)
        snprintf(out, cap, "%" PRIu64 "m", v / MIB);
    else if (v != 0 && v % KIB == 0)
        snprintf(out, cap, "%" PRIu64 "k", v / KIB);
    else
        snprintf(out, cap, "%" PRIu64, v);
}

/* A single-valued key's value as the config file writes it. */
static void format_value(const struct broker_config *c, const struct key *k, char *out, size_t cap)
{
    const char *field = (const char *)c + k->offset;
    switch (k->kind) {
    case KEY_U32: {
        uint32_t v;
        memcpy(&v, field, sizeof v);
        if (k->sizes)
            format_size(v, out, cap);
        else
            snprintf(out, cap, "%" PRIu32, v);
        return;
    }
    case KEY_U64: {
        uint64_t v;
        memcpy(&v, field, sizeof v);
        format_size(v, out, cap);
        return;
    }
    case KEY_I64: {
        int64_t v;
        memcpy(&v, field, sizeof v);
        if (v > 0 && k->sizes)
            format_size((uint64_t)v, out, cap);
        else
            snprintf(out, cap, "%" PRId64, v);
        return;
    }
    case KEY_PATH:
    case KEY_ENDPOINT:
    case KEY_IP:
        snprintf(out, cap, "%s", field);
        return;
    case KEY_FSYNC:
        snprintf(out, cap, "%s", c->fsync_policy == STORAGE_FSYNC_NEVER ? "never" : "always");
        return;
    case KEY_LOG_LEVEL:
        snprintf(out, cap, "%s", blog_level_name(c->log_level));
        return;
    case KEY_BOOL: {
        bool v;
        memcpy(&v, field, sizeof v);
        snprintf(out, cap, "%s", v ? "true" : "false");
        return;
    }
    case KEY_NODE:
        break;
    }
    snprintf(out, cap, "?");
}

/* ---- the config file ------------------------------------------------------ */

int broker_config_load_file(struct broker_config *c, const char *path, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, err_cap, "--config: cannot open %s: %s", path, strerror(errno));
    char line[LINE_BYTES_MAX];
    unsigned line_no = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        line_no++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
            rc = fail(err, err_cap, "%s:%u: line longer than %d bytes", path, line_no,
                      LINE_BYTES_MAX - 2);
            break;
        }
        /* A '#' at the start, or after a space or tab, starts a comment. */
        for (size_t i = 0; line[i] != '\0'; i++) {
            if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
                line[i] = '\0';
                break;
            }
        }
        char *text = trim(line);
        if (text[0] == '\0')
            continue;
        char *eq = strchr(text, '=');
        if (eq == NULL) {
            rc = fail(err, err_cap, "%s:%u: expected \"key = value\", got \"" QUOTE "\"", path,
                      line_no, text);
            break;
        }
        *eq = '\0';
        char *name = trim(text);
        char *value = trim(eq + 1);
        const struct key *k = key_find(name, strlen(name));
        if (k == NULL) {
            rc = fail(err, err_cap, "%s:%u: unknown key \"" QUOTE "\"", path, line_no, name);
            break;
        }
        char label[LINE_BYTES_MAX];
        snprintf(label, sizeof label, "%s:%u: %s", path, line_no, k->name);
        rc = set_value(c, k, value, label, err, err_cap);
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, err_cap, "--config: reading %s failed: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

/* ---- flags ---------------------------------------------------------------- */

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Whether a flag of key k given without "=VALUE" takes the next argument as its value. */
static bool takes_next(const struct key *k, int i, int argc, char **argv)
{
    if (k->kind != KEY_BOOL)
        return true;
    return i + 1 < argc && (strcmp(argv[i + 1], "true") == 0 || strcmp(argv[i + 1], "false") == 0);
}

int broker_config_parse_args(struct broker_config *c, int argc, char **argv, FILE *out, char *err,
                             size_t err_cap)
{
    broker_config_defaults(c);

    /* First pass: --help wins over everything, and the file loads before any flag applies. */
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            broker_config_print_help(out);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || strchr(a, '=') != NULL) {
            if (strncmp(a, "--config=", 9) == 0) {
                if (config_path != NULL)
                    return fail(err, err_cap, "--config: given more than once");
                config_path = a + 9;
            }
            continue;
        }
        if (strcmp(a, "--config") == 0) {
            if (config_path != NULL)
                return fail(err, err_cap, "--config: given more than once");
            if (i + 1 >= argc)
                return fail(err, err_cap, "--config needs a value (a file name)");
            config_path = argv[++i];
        } else {
            const struct key *k = key_find(a + 2, strlen(a + 2));
            if (k != NULL && takes_next(k, i, argc, argv))
                i++; /* its value, which may look like a flag */
        }
    }
    if (config_path != NULL && broker_config_load_file(c, config_path, err, err_cap) != 0)
        return -1;

    bool nodes_from_flags = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (a[0] == '-' && a[1] != '\0')
                return fail(err, err_cap, "unknown flag " QUOTE, a);
            return fail(err, err_cap,
                        "unexpected argument \"" QUOTE "\" (settings are --KEY VALUE flags)", a);
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const char *value = eq != NULL ? eq + 1 : NULL;
        if (name_len == 6 && strncmp(name, "config", 6) == 0) {
            if (value == NULL)
                i++;
            continue;
        }
        const struct key *k = key_find(name, name_len);
        if (k == NULL)
            return fail(err, err_cap, "unknown flag --%.*s", (int)(name_len > 80 ? 80 : name_len),
                        name);
        char flag[64];
        flag_name(k, flag, sizeof flag);
        if (value == NULL && !takes_next(k, i, argc, argv))
            value = "true"; /* a true|false flag on its own */
        if (value == NULL) {
            if (i + 1 >= argc)
                return fail(err, err_cap, "%s needs a value (%s)", flag, k->arg);
            value = argv[++i];
        }
        if (k->kind == KEY_NODE && !nodes_from_flags) {
            c->n_nodes = 0; /* the command line's node list replaces the file's */
            nodes_from_flags = true;
        }
        if (set_value(c, k, value, flag, err, err_cap) != 0)
            return -1;
    }
    return broker_config_validate(c, err, err_cap);
}

/* ---- validation ----------------------------------------------------------- */

/* tcp://HOST:PORT (PORT digits or *), ipc://PATH, inproc://NAME; no spaces. NULL if fine. */
static const char *endpoint_problem(const char *e)
{
    if (e[0] == '\0')
        return "is empty";
    for (const char *p = e; *p != '\0'; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return "contains a space or control character";
    const char *rest;
    if (strncmp(e, "tcp://", 6) == 0) {
        rest = e + 6;
        const char *colon = strrchr(rest, ':');
        if (colon == NULL || colon == rest)
            return "must be tcp://HOST:PORT";
        const char *port = colon + 1;
        if (strcmp(port, "*") == 0)
            return NULL;
        uint64_t n = 0;
        const char *why = NULL;
        if (parse_unsigned(port, false, 65535, &n, &why) != 0 || n == 0)
            return "must be tcp://HOST:PORT with PORT 1..65535 or *";
        return NULL;
    }
    if (strncmp(e, "ipc://", 6) == 0)
        rest = e + 6;
    else if (strncmp(e, "inproc://", 9) == 0)
        rest = e + 9;
    else
        return "must start with tcp://, ipc:// or inproc://";
    if (rest[0] == '\0')
        return "has nothing after its scheme";
    return NULL;
}

static int check_u32_range(const char *key, uint32_t v, uint32_t lo, uint32_t hi, char *err,
                           size_t err_cap)
{
    if (v < lo || v > hi)
        return fail(err, err_cap, "%s: %" PRIu32 " must be between %" PRIu32 " and %" PRIu32, key,
                    v, lo, hi);
    return 0;
}

static int check_nodes(struct broker_config *c, char *err, size_t err_cap)
{
    if (c->n_nodes > BROKER_NODES_MAX)
        return fail(err, err_cap, "node: %" PRIu32 " nodes, at most %d", c->n_nodes,
                    BROKER_NODES_MAX);
    if (c->n_nodes == 0) {
        if (c->node_id != 1)
            return fail(err, err_cap,
                        "node: none given; node_id %" PRIu32 " needs the cluster's node list "
                        "(a --node ID,PEER_ENDPOINT,CLIENT_ENDPOINT for every broker)",
                        c->node_id);
        struct broker_node *n = &c->nodes[0];
        memset(n, 0, sizeof *n);
        n->id = 1;
        snprintf(n->peer_address, sizeof n->peer_address, "%s", BROKER_DEFAULT_PEER_ADDRESS);
        snprintf(n->client_address, sizeof n->client_address, "%s",
                 BROKER_DEFAULT_CLIENT_ADDRESS);
        c->n_nodes = 1;
    }
    /* Insertion sort by id: at most 9 entries. */
    for (uint32_t i = 1; i < c->n_nodes; i++) {
        struct broker_node moving = c->nodes[i];
        uint32_t j = i;
        while (j > 0 && c->nodes[j - 1].id > moving.id) {
            c->nodes[j] = c->nodes[j - 1];
            j--;
        }
        c->nodes[j] = moving;
    }
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        struct broker_node *n = &c->nodes[i];
        if (n->id == 0)
            return fail(err, err_cap, "node: id 0; node ids start at 1");
        if (i > 0 && c->nodes[i - 1].id == n->id)
            return fail(err, err_cap, "node: id %" PRIu32 " is given twice", n->id);
        const char *addresses[2] = {n->peer_address, n->client_address};
        const char *roles[2] = {"peer", "client"};
        for (int r = 0; r < 2; r++) {
            if (memchr(addresses[r], '\0', BROKER_ADDRESS_BYTES_MAX) == NULL)
                return fail(err, err_cap, "node: node %" PRIu32 "'s %s endpoint is not terminated",
                            n->id, roles[r]);
            const char *problem = endpoint_problem(addresses[r]);
            if (problem != NULL)
                return fail(err, err_cap, "node: node %" PRIu32 "'s %s endpoint \"" QUOTE "\" %s",
                            n->id, roles[r], addresses[r], problem);
        }
    }
    /* No endpoint twice: two brokers cannot bind one, and a broker's peer and client sockets differ. */
    for (uint32_t i = 0; i < 2 * c->n_nodes; i++) {
        const struct broker_node *a = &c->nodes[i / 2];
        const char *ea = i % 2 == 0 ? a->peer_address : a->client_address;
        for (uint32_t j = i + 1; j < 2 * c->n_nodes; j++) {
            const struct broker_node *b = &c->nodes[j / 2];
            const char *eb = j % 2 == 0 ? b->peer_address : b->client_address;
            if (strcmp(ea, eb) == 0)
                return fail(err, err_cap,
                            "node: endpoint \"" QUOTE "\" is used twice (node %" PRIu32
                            " %s and node %" PRIu32 " %s)",
                            ea, a->id, i % 2 == 0 ? "peer" : "client", b->id,
                            j % 2 == 0 ? "peer" : "client");
        }
    }
    const struct broker_node *self = broker_config_node(c, c->node_id);
    if (self == NULL) {
        char ids[BROKER_NODES_MAX * 12] = "";
        size_t used = 0;
        for (uint32_t i = 0; i < c->n_nodes && used < sizeof ids; i++)
            used += (size_t)snprintf(ids + used, sizeof ids - used, "%s%" PRIu32,
                                     i == 0 ? "" : ", ", c->nodes[i].id);
        return fail(err, err_cap, "node_id: %" PRIu32 " is not in the node list (ids %s)",
                    c->node_id, ids);
    }
    if (c->client_listen[0] == '\0')
        snprintf(c->client_listen, sizeof c->client_listen, "%s", self->client_address);
    if (c->peer_listen[0] == '\0')
        snprintf(c->peer_listen, sizeof c->peer_listen, "%s", self->peer_address);
    const char *problem = endpoint_problem(c->client_listen);
    if (problem != NULL)
        return fail(err, err_cap, "client_listen: \"" QUOTE "\" %s", c->client_listen, problem);
    problem = endpoint_problem(c->peer_listen);
    if (problem != NULL)
        return fail(err, err_cap, "peer_listen: \"" QUOTE "\" %s", c->peer_listen, problem);
    if (strcmp(c->client_listen, c->peer_listen) == 0)
        return fail(err, err_cap, "peer_listen: \"" QUOTE "\" is also client_listen",
                    c->peer_listen);
    return 0;
}

int broker_config_validate(struct broker_config *c, char *err, size_t err_cap)
{
    if (c->node_id == 0)
        return fail(err, err_cap, "node_id: 0 must be at least 1");
    if (memchr(c->data_dir, '\0', sizeof c->data_dir) == NULL || c->data_dir[0] == '\0')
        return fail(err, err_cap, "data_dir: must not be empty");
    if (memchr(c->client_listen, '\0', sizeof c->client_listen) == NULL)
        return fail(err, err_cap, "client_listen: not terminated");
    if (memchr(c->peer_listen, '\0', sizeof c->peer_listen) == NULL)
        return fail(err, err_cap, "peer_listen: not terminated");
    if (c->fsync_policy != STORAGE_FSYNC_ALWAYS && c->fsync_policy != STORAGE_FSYNC_NEVER)
        return fail(err, err_cap, "fsync: %d must be always (%d) or never (%d)", c->fsync_policy,
                    STORAGE_FSYNC_ALWAYS, STORAGE_FSYNC_NEVER);
    if (check_u32_range("election_timeout_min_ms", c->election_timeout_min_ms,
                        ELECTION_TIMEOUT_MS_MIN, TIMEOUT_MS_MAX, err, err_cap) != 0)
        return -1;
    if (c->election_timeout_max_ms <= c->election_timeout_min_ms)
        return fail(err, err_cap,
                    "election_timeout_max_ms: %" PRIu32
                    " must be greater than election_timeout_min_ms (%" PRIu32 ")",
                    c->election_timeout_max_ms, c->election_timeout_min_ms);
    if (check_u32_range("election_timeout_max_ms", c->election_timeout_max_ms, 1, TIMEOUT_MS_MAX,
                        err, err_cap) != 0)
        return -1;
    if (c->heartbeat_ms == 0)
        return fail(err, err_cap, "heartbeat_ms: 0 must be at least 1");
    /* Several heartbeats per election timeout, so that one lost heartbeat does not start an election. */
    if (c->heartbeat_ms >= c->election_timeout_min_ms / 2)
        return fail(err, err_cap,
                    "heartbeat_ms: %" PRIu32 " must be less than election_timeout_min_ms / 2 (%" PRIu32
                    ")",
                    c->heartbeat_ms, c->election_timeout_min_ms / 2);
    if (check_u32_range("max_batch_bytes", c->batch_bytes_max, BATCH_BYTES_MIN,
                        WIRE_BATCH_BYTES_MAX, err, err_cap) != 0)
        return -1;
    if (check_u32_range("max_record_bytes", c->record_bytes_max, RECORD_BYTES_MIN,
                        WIRE_RECORD_BYTES_MAX, err, err_cap) != 0)
        return -1;
    /* A record that passes the limit must fit one uncompressed batch with its header. */
    if (c->record_bytes_max > c->batch_bytes_max - WIRE_BATCH_HEADER_BYTES)
        return fail(err, err_cap,
                    "max_record_bytes: %" PRIu32
                    " must be at most max_batch_bytes - %u (%" PRIu32 ")",
                    c->record_bytes_max, WIRE_BATCH_HEADER_BYTES,
                    c->batch_bytes_max - WIRE_BATCH_HEADER_BYTES);
    if (check_u32_range("request_timeout_ms", c->request_timeout_ms, 1, TIMEOUT_MS_MAX, err,
                        err_cap) != 0 ||
        check_u32_range("fetch_wait_max_ms", c->fetch_wait_max_ms, 0, TIMEOUT_MS_MAX, err,
                        err_cap) != 0 ||
        check_u32_range("client_queue_max", c->client_queue_max, 1, QUEUE_MAX, err, err_cap) != 0 ||
        check_u32_range("peer_queue_max", c->peer_queue_max, 1, QUEUE_MAX, err, err_cap) != 0 ||
        check_u32_range("shutdown_timeout_ms", c->shutdown_timeout_ms, 1, TIMEOUT_MS_MAX, err,
                        err_cap) != 0)
        return -1;
    /* Room for at least two maximal batches, or one large produce would stall a partition. */
    uint64_t uncommitted_min = 2 * (uint64_t)c->batch_bytes_max;
    if (c->uncommitted_bytes_max < uncommitted_min || c->uncommitted_bytes_max > UNCOMMITTED_BYTES_MAX)
        return fail(err, err_cap,
                    "max_uncommitted_bytes: %" PRIu64 " must be between 2 * max_batch_bytes (%" PRIu64
                    ") and %" PRIu64,
                    c->uncommitted_bytes_max, uncommitted_min, UNCOMMITTED_BYTES_MAX);
    if (c->raft_memory_bytes < MIB || c->raft_memory_bytes > UNCOMMITTED_BYTES_MAX)
        return fail(err, err_cap, "raft_memory_bytes: %" PRIu64 " must be between %" PRIu64 " and %" PRIu64,
                    c->raft_memory_bytes, (uint64_t)MIB, UNCOMMITTED_BYTES_MAX);
    if (c->segment_bytes < SEGMENT_BYTES_MIN || c->segment_bytes > SEGMENT_BYTES_MAX)
        return fail(err, err_cap, "segment_bytes: %" PRIu64 " must be between %" PRIu64 " and %" PRIu64,
                    c->segment_bytes, SEGMENT_BYTES_MIN, SEGMENT_BYTES_MAX);
    if (c->retention_ms == 0 || c->retention_ms < -1)
        return fail(err, err_cap, "retention_ms: %" PRId64 " must be -1 (forever) or at least 1",
                    c->retention_ms);
    if (c->retention_bytes == 0 || c->retention_bytes < -1)
        return fail(err, err_cap,
                    "retention_bytes: %" PRId64 " must be -1 (unlimited) or at least 1",
                    c->retention_bytes);
    if (c->log_level < BLOG_ERROR || c->log_level > BLOG_DEBUG)
        return fail(err, err_cap, "log_level: %d must be error, warn, info or debug", c->log_level);
    return check_nodes(c, err, err_cap);
}

const struct broker_node *broker_config_node(const struct broker_config *c, uint32_t id)
{
    for (uint32_t i = 0; i < c->n_nodes && i < BROKER_NODES_MAX; i++)
        if (c->nodes[i].id == id)
            return &c->nodes[i];
    return NULL;
}

/* ---- output --------------------------------------------------------------- */

void broker_config_write(const struct broker_config *c, FILE *out)
{
    fprintf(out, "# raftmq-broker configuration\n");
    char value[BROKER_PATH_BYTES_MAX + 64];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const struct key *k = &keys[i];
        if (k->kind == KEY_NODE) {
            for (uint32_t n = 0; n < c->n_nodes && n < BROKER_NODES_MAX; n++)
                fprintf(out, "node = %" PRIu32 ",%s,%s\n", c->nodes[n].id,
                        c->nodes[n].peer_address, c->nodes[n].client_address);
            continue;
        }
        format_value(c, k, value, sizeof value);
        /* An unset listen endpoint (before validate) is left out: it defaults again on reading. */
        if ((k->kind == KEY_ENDPOINT || k->kind == KEY_IP) && value[0] == '\0')
            continue;
        fprintf(out, "%s = %s\n", k->name, value);
    }
}

/* Prints text word-wrapped to lines of at most `width` columns, each starting with `indent`. */
static void print_wrapped(FILE *out, const char *indent, const char *text, size_t width)
{
    size_t column = 0;
    while (*text != '\0') {
        while (*text == ' ')
            text++;
        size_t word = strcspn(text, " ");
        if (word == 0)
            break;
        if (column > 0 && column + 1 + word > width) {
            fputc('\n', out);
            column = 0;
        }
        if (column == 0) {
            fputs(indent, out);
            column = strlen(indent);
        } else {
            fputc(' ', out);
            column++;
        }
        fwrite(text, 1, word, out);
        column += word;
        text += word;
    }
    fputc('\n', out);
}

void broker_config_print_help(FILE *out)
{
    struct broker_config d;
    broker_config_defaults(&d);
    fputs("usage: raftmq-broker [--config FILE] [--KEY VALUE ...]\n"
          "       raftmq-broker dump --data-dir DIR\n"
          "\n"
          "Runs one broker of a raftmq cluster. Every setting below is a key of the config file\n"
          "(\"key = value\" lines) and a flag (--key VALUE or --key=VALUE, the key's underscores\n"
          "written as dashes). The file named by --config is read first, wherever the flag is;\n"
          "the other flags override it. The first --node flag replaces the file's node list.\n"
          "Byte sizes take a k, m or g suffix (powers of 1024: 64m = 67108864).\n"
          "\n"
          "  --config FILE   read settings from FILE ('#' starts a comment; `node` may repeat)\n"
          "  -h, --help      print this help and exit\n"
          "\n"
          "settings:\n",
          out);
    char flag[64];
    char value[BROKER_PATH_BYTES_MAX + 64];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const struct key *k = &keys[i];
        flag_name(k, flag, sizeof flag);
        if (k->default_text != NULL)
            snprintf(value, sizeof value, "%s", k->default_text);
        else
            format_value(&d, k, value, sizeof value);
        fprintf(out, "  %s %s   (key %s; default %s)\n", flag, k->arg, k->name, value);
        print_wrapped(out, "      ", k->meaning, 80);
    }
    fputs("\n"
          "sub-command:\n"
          "  raftmq-broker dump --data-dir DIR\n"
          "      prints every stored entry's index, term, offsets and CRC per Raft group, to\n"
          "      compare replicas offline (run it on a stopped broker's data directory)\n"
          "\n"
          "examples:\n"
          "  A single-node cluster on 127.0.0.1 (clients: tcp://127.0.0.1:9292), data in\n"
          "  ./raftmq-data:\n"
          "    raftmq-broker\n"
          "\n"
          "  A 3-node cluster on one host (one line per terminal; only --node-id and --data-dir\n"
          "  differ):\n"
          "    N='--node 1,tcp://127.0.0.1:9293,tcp://127.0.0.1:9292\n"
          "       --node 2,tcp://127.0.0.1:9393,tcp://127.0.0.1:9392\n"
          "       --node 3,tcp://127.0.0.1:9493,tcp://127.0.0.1:9492'\n"
          "    raftmq-broker --node-id 1 --data-dir /var/lib/raftmq/1 $N\n"
          "    raftmq-broker --node-id 2 --data-dir /var/lib/raftmq/2 $N\n"
          "    raftmq-broker --node-id 3 --data-dir /var/lib/raftmq/3 $N\n"
          "\n"
          "  The same with a config file per broker (here broker 1's, /etc/raftmq/broker-1.conf):\n"
          "    node_id = 1\n"
          "    data_dir = /var/lib/raftmq/1\n"
          "    node = 1,tcp://127.0.0.1:9293,tcp://127.0.0.1:9292\n"
          "    node = 2,tcp://127.0.0.1:9393,tcp://127.0.0.1:9392\n"
          "    node = 3,tcp://127.0.0.1:9493,tcp://127.0.0.1:9492\n"
          "    fsync = always   # the default\n"
          "  started as\n"
          "    raftmq-broker --config /etc/raftmq/broker-1.conf\n"
          "  and with a setting overridden for one run:\n"
          "    raftmq-broker --config /etc/raftmq/broker-1.conf --log-level debug\n",
          out);
}
