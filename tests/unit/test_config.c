/*
 * Tests of the broker configuration (broker/config.c): defaults, every key
 * through a flag and through a file, precedence, the validation rules (each
 * error must name its key), strict number parsing, node specs, help, and the
 * writer's round trip. Files are mkstemp files under /tmp, removed by each test.
 */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/blog.h"
#include "broker/config.h"
#include "broker/storage/log.h"
#include "suites.h"
#include "wire/limits.h"

#define NODES3                                                                                  \
    "--node", "1,tcp://127.0.0.1:9293,tcp://127.0.0.1:9292", "--node",                         \
        "2,tcp://127.0.0.1:9393,tcp://127.0.0.1:9392", "--node",                               \
        "3,tcp://127.0.0.1:9493,tcp://127.0.0.1:9492"

static char err[512];
static struct broker_config cfg;

/* Parses a NULL-terminated argument list (argv[0] added); help goes to a discarded stream. */
static int parse_list(const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"raftmq-broker";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        ck_assert_int_lt(argc, 63);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    FILE *sink = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(sink);
    int rc = broker_config_parse_args(&cfg, argc, argv, sink, err, sizeof err);
    fclose(sink);
    return rc;
}
#define PARSE(...) parse_list(__VA_ARGS__, (const char *)NULL)

/* Writes `text` to a new temporary file; the caller unlinks `path`. */
static void write_tmp(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/raftmq-config-test-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Parses a file given as text (plus optional further flags); removes the file. */
static int parse_file_text(const char *text, const char *extra1, const char *extra2)
{
    char path[64];
    write_tmp(path, sizeof path, text);
    int rc = extra1 != NULL ? PARSE("--config", path, extra1, extra2) : PARSE("--config", path);
    unlink(path);
    return rc;
}

static int load_text(const char *text, char *path_out, size_t cap)
{
    write_tmp(path_out, cap, text);
    broker_config_defaults(&cfg);
    err[0] = '\0';
    int rc = broker_config_load_file(&cfg, path_out, err, sizeof err);
    unlink(path_out);
    return rc;
}

#define ASSERT_ERR_HAS(s)                                                                        \
    ck_assert_msg(strstr(err, (s)) != NULL, "error \"%s\" does not contain \"%s\"", err, (s))

START_TEST(test_defaults)
{
    broker_config_defaults(&cfg);
    ck_assert_uint_eq(cfg.node_id, 1);
    ck_assert_str_eq(cfg.data_dir, "./raftmq-data");
    ck_assert_uint_eq(cfg.n_nodes, 0);
    ck_assert_int_eq(cfg.fsync_policy, STORAGE_FSYNC_ALWAYS);
    ck_assert_uint_eq(cfg.election_timeout_min_ms, 150);
    ck_assert_uint_eq(cfg.election_timeout_max_ms, 300);
    ck_assert_uint_eq(cfg.heartbeat_ms, 30);
    ck_assert_uint_eq(cfg.batch_bytes_max, WIRE_BATCH_BYTES_MAX);
    ck_assert_uint_eq(cfg.record_bytes_max, WIRE_RECORD_BYTES_MAX);
    ck_assert_uint_eq(cfg.request_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.fetch_wait_max_ms, 30000);
    ck_assert_uint_eq(cfg.client_queue_max, 1000);
    ck_assert_uint_eq(cfg.peer_queue_max, 1000);
    ck_assert_uint_eq(cfg.uncommitted_bytes_max, 64u * 1024 * 1024);
    ck_assert_uint_eq(cfg.raft_memory_bytes, 64u * 1024 * 1024);
    ck_assert_uint_eq(cfg.segment_bytes, 128u * 1024 * 1024);
    ck_assert_int_eq(cfg.retention_ms, 604800000);
    ck_assert_int_eq(cfg.retention_bytes, -1);
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 5000);
    ck_assert_int_eq(cfg.log_level, BLOG_INFO);

    /* No arguments: the default single-node cluster, listening on its own endpoints. */
    ck_assert_int_eq(PARSE(NULL), 0);
    ck_assert_uint_eq(cfg.n_nodes, 1);
    ck_assert_uint_eq(cfg.nodes[0].id, 1);
    ck_assert_str_eq(cfg.nodes[0].peer_address, "tcp://127.0.0.1:9293");
    ck_assert_str_eq(cfg.nodes[0].client_address, "tcp://127.0.0.1:9292");
    ck_assert_str_eq(cfg.client_listen, "tcp://127.0.0.1:9292");
    ck_assert_str_eq(cfg.peer_listen, "tcp://127.0.0.1:9293");
    ck_assert_ptr_eq(broker_config_node(&cfg, 1), &cfg.nodes[0]);
    ck_assert_ptr_null(broker_config_node(&cfg, 2));
}
END_TEST

/* One value for every key, distinct from its default; checked by check_all_set. */
static const char *const all_keys[][2] = {
    {"node_id", "2"},
    {"data_dir", "/tmp/raftmq d"},
    {"client_listen", "tcp://0.0.0.0:9392"},
    {"peer_listen", "tcp://0.0.0.0:9393"},
    {"peer_source_address", "127.0.0.12"},
    {"fsync", "never"},
    {"election_timeout_min_ms", "200"},
    {"election_timeout_max_ms", "400"},
    {"heartbeat_ms", "50"},
    {"max_batch_bytes", "512k"},
    {"max_record_bytes", "100000"},
    {"request_timeout_ms", "20000"},
    {"fetch_wait_max_ms", "0"},
    {"client_queue_max", "5000"},
    {"peer_queue_max", "7"},
    {"max_uncommitted_bytes", "1G"},
    {"raft_memory_bytes", "3m"},
    {"segment_bytes", "2m"},
    {"retention_ms", "-1"},
    {"retention_bytes", "10g"},
    {"shutdown_timeout_ms", "100"},
    {"log_level", "debug"},
    {"test_power_loss", "true"},
};
#define ALL_KEYS_COUNT (sizeof(all_keys) / sizeof(all_keys[0]))

static void check_all_set(void)
{
    ck_assert_uint_eq(cfg.node_id, 2);
    ck_assert_str_eq(cfg.data_dir, "/tmp/raftmq d");
    ck_assert_str_eq(cfg.client_listen, "tcp://0.0.0.0:9392");
    ck_assert_str_eq(cfg.peer_listen, "tcp://0.0.0.0:9393");
    ck_assert_str_eq(cfg.peer_source_address, "127.0.0.12");
    ck_assert_int_eq(cfg.fsync_policy, STORAGE_FSYNC_NEVER);
    ck_assert_uint_eq(cfg.election_timeout_min_ms, 200);
    ck_assert_uint_eq(cfg.election_timeout_max_ms, 400);
    ck_assert_uint_eq(cfg.heartbeat_ms, 50);
    ck_assert_uint_eq(cfg.batch_bytes_max, 512 * 1024);
    ck_assert_uint_eq(cfg.record_bytes_max, 100000);
    ck_assert_uint_eq(cfg.request_timeout_ms, 20000);
    ck_assert_uint_eq(cfg.fetch_wait_max_ms, 0);
    ck_assert_uint_eq(cfg.client_queue_max, 5000);
    ck_assert_uint_eq(cfg.peer_queue_max, 7);
    ck_assert_uint_eq(cfg.uncommitted_bytes_max, 1024u * 1024 * 1024);
    ck_assert_uint_eq(cfg.raft_memory_bytes, 3u * 1024 * 1024);
    ck_assert_uint_eq(cfg.segment_bytes, 2u * 1024 * 1024);
    ck_assert_int_eq(cfg.retention_ms, -1);
    ck_assert_int_eq(cfg.retention_bytes, INT64_C(10) * 1024 * 1024 * 1024);
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 100);
    ck_assert_int_eq(cfg.log_level, BLOG_DEBUG);
    ck_assert(cfg.test_power_loss);
    ck_assert_uint_eq(cfg.n_nodes, 3);
    ck_assert_uint_eq(cfg.nodes[1].id, 2);
    ck_assert_str_eq(cfg.nodes[1].peer_address, "tcp://127.0.0.1:9393");
    ck_assert_str_eq(cfg.nodes[1].client_address, "tcp://127.0.0.1:9392");
}

START_TEST(test_every_key_by_flag)
{
    /* Half the keys as "--key value", half as "--key=value"; nodes given out of order get sorted. */
    char *argv[2 * ALL_KEYS_COUNT + 8];
    char storage[ALL_KEYS_COUNT][128];
    int argc = 0;
    argv[argc++] = (char *)"raftmq-broker";
    for (size_t i = 0; i < ALL_KEYS_COUNT; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", all_keys[i][0]);
        for (char *p = flag; *p != '\0'; p++)
            if (*p == '_')
                *p = '-';
        if (i % 2 == 0) {
            snprintf(storage[i], sizeof storage[i], "%s", flag);
            argv[argc++] = storage[i];
            argv[argc++] = (char *)all_keys[i][1];
        } else {
            snprintf(storage[i], sizeof storage[i], "%s=%s", flag, all_keys[i][1]);
            argv[argc++] = storage[i];
        }
    }
    argv[argc++] = (char *)"--node=3,tcp://127.0.0.1:9493,tcp://127.0.0.1:9492";
    argv[argc++] = (char *)"--node";
    argv[argc++] = (char *)"2,tcp://127.0.0.1:9393,tcp://127.0.0.1:9392";
    argv[argc++] = (char *)"--node";
    argv[argc++] = (char *)"1,tcp://127.0.0.1:9293,tcp://127.0.0.1:9292";
    argv[argc] = NULL;
    int rc = broker_config_parse_args(&cfg, argc, argv, stdout, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    check_all_set();
    ck_assert_uint_eq(cfg.nodes[0].id, 1);
    ck_assert_uint_eq(cfg.nodes[2].id, 3);
}
END_TEST

START_TEST(test_every_key_by_file)
{
    char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "# a comment\n\n   # indented comment\n");
    for (size_t i = 0; i < ALL_KEYS_COUNT; i++) {
        /* Alternate spellings: dashes, no spaces around '=', a trailing comment. */
        char key[64];
        snprintf(key, sizeof key, "%s", all_keys[i][0]);
        if (i % 3 == 1)
            for (char *p = key; *p != '\0'; p++)
                if (*p == '_')
                    *p = '-';
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 i % 3 == 2 ? "%s=%s\n" : "  %s = %s   # why\n", key,
                                 all_keys[i][1]);
    }
    snprintf(text + used, sizeof text - used,
             "node = 1,tcp://127.0.0.1:9293,tcp://127.0.0.1:9292\n"
             "node = 3 , tcp://127.0.0.1:9493 , tcp://127.0.0.1:9492\r\n"
             "node = 2,tcp://127.0.0.1:9393,tcp://127.0.0.1:9392");
    int rc = parse_file_text(text, NULL, NULL);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    check_all_set();
}
END_TEST

START_TEST(test_flags_override_file)
{
    const char *text = "node_id = 2\nheartbeat_ms = 40\nlog_level = warn\n"
                       "node = 1,tcp://10.0.0.1:1,tcp://10.0.0.1:2\n"
                       "node = 2,tcp://10.0.0.2:1,tcp://10.0.0.2:2\n";
    char path[64];
    write_tmp(path, sizeof path, text);
    /* --config after the flag it is overridden by: the file still loads first. */
    int rc = PARSE("--heartbeat-ms", "20", "--config", path);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(cfg.heartbeat_ms, 20);
    ck_assert_uint_eq(cfg.node_id, 2);
    ck_assert_int_eq(cfg.log_level, BLOG_WARN);
    ck_assert_uint_eq(cfg.n_nodes, 2);

    /* A --node list replaces the file's list instead of adding to it. */
    rc = PARSE("--config=" "/dev/null", "--node-id", "1", "--node",
               "1,tcp://127.0.0.1:5000,tcp://127.0.0.1:5001");
    ck_assert_msg(rc == 0, "%s", err);
    char config_flag[96];
    snprintf(config_flag, sizeof config_flag, "--config=%s", path);
    rc = PARSE(config_flag, "--node-id", "1", "--node", "1,tcp://127.0.0.1:5000,tcp://127.0.0.1:5001");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(cfg.n_nodes, 1);
    ck_assert_str_eq(cfg.peer_listen, "tcp://127.0.0.1:5000");
    ck_assert_uint_eq(cfg.heartbeat_ms, 40);

    ck_assert_int_eq(PARSE("--config", path, "--config", path), -1);
    ASSERT_ERR_HAS("--config");
    unlink(path);

    ck_assert_int_eq(PARSE("--config", "/tmp/raftmq-config-test-no-such-file"), -1);
    ASSERT_ERR_HAS("raftmq-config-test-no-such-file");
    ck_assert_int_eq(PARSE("--config"), -1);
    ASSERT_ERR_HAS("--config");
}
END_TEST

START_TEST(test_validation_names_key)
{
    static const struct {
        const char *flag, *value, *expect;
    } cases[] = {
        {"--node-id", "0", "node_id: 0"},
        {"--peer-source-address", "127.0.0.256", "\"127.0.0.256\" is not an IPv4"},
        {"--peer-source-address", "tcp://127.0.0.1", "\"tcp://127.0.0.1\" is not an IPv4"},
        {"--heartbeat-ms", "500",
         "heartbeat_ms: 500 must be less than election_timeout_min_ms / 2 (75)"},
        {"--heartbeat-ms", "75", "heartbeat_ms: 75"},
        {"--heartbeat-ms", "0", "heartbeat_ms: 0"},
        {"--election-timeout-max-ms", "150", "election_timeout_max_ms: 150 must be greater"},
        {"--election-timeout-min-ms", "5", "election_timeout_min_ms: 5"},
        {"--election-timeout-min-ms", "700000", "election_timeout_min_ms: 700000"},
        {"--max-batch-bytes", "1023", "max_batch_bytes: 1023"},
        {"--max-batch-bytes", "2m", "max_batch_bytes: 2097152"},
        {"--max-record-bytes", "63", "max_record_bytes: 63"},
        {"--max-record-bytes", "1m", "max_record_bytes: 1048576"},
        {"--request-timeout-ms", "0", "request_timeout_ms: 0"},
        {"--request-timeout-ms", "600001", "request_timeout_ms: 600001"},
        {"--fetch-wait-max-ms", "600001", "fetch_wait_max_ms: 600001"},
        {"--client-queue-max", "0", "client_queue_max: 0"},
        {"--peer-queue-max", "1000001", "peer_queue_max: 1000001"},
        {"--max-uncommitted-bytes", "1m", "max_uncommitted_bytes: 1048576"},
        {"--max-uncommitted-bytes", "17g", "max_uncommitted_bytes"},
        {"--raft-memory-bytes", "1023k", "raft_memory_bytes: 1047552"},
        {"--raft-memory-bytes", "17g", "raft_memory_bytes"},
        {"--segment-bytes", "1023k", "segment_bytes: 1047552"},
        {"--segment-bytes", "2g", "segment_bytes"},
        {"--retention-ms", "0", "retention_ms: 0"},
        {"--retention-bytes", "0", "retention_bytes: 0"},
        {"--shutdown-timeout-ms", "0", "shutdown_timeout_ms: 0"},
        {"--data-dir", "", "data_dir"},
        {"--client-listen", "http://x:1", "client_listen: \"http://x:1\""},
        {"--peer-listen", "tcp://127.0.0.1:9292", "peer_listen"},
        {"--peer-listen", "tcp://host", "peer_listen"},
        {"--fsync", "sometimes", "--fsync: \"sometimes\""},
        {"--log-level", "loud", "--log-level: \"loud\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = PARSE(cases[i].flag, cases[i].value);
        ck_assert_msg(rc == -1, "%s %s accepted", cases[i].flag, cases[i].value);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL, "%s %s: error \"%s\" lacks \"%s\"",
                      cases[i].flag, cases[i].value, err, cases[i].expect);
    }
    /* The boundaries themselves are accepted. */
    ck_assert_int_eq(PARSE("--heartbeat-ms", "74"), 0);
    ck_assert_int_eq(PARSE("--max-batch-bytes", "1k", "--max-record-bytes", "956",
                           "--max-uncommitted-bytes", "2k", "--segment-bytes", "1g"),
                     0);
    ck_assert_int_eq(PARSE("--max-record-bytes", "1047552"), 0);

    /* validate alone catches what code (not the parser) put into the struct. */
    broker_config_defaults(&cfg);
    cfg.log_level = 7;
    ck_assert_int_eq(broker_config_validate(&cfg, err, sizeof err), -1);
    ASSERT_ERR_HAS("log_level");
    broker_config_defaults(&cfg);
    cfg.fsync_policy = 5;
    ck_assert_int_eq(broker_config_validate(&cfg, err, sizeof err), -1);
    ASSERT_ERR_HAS("fsync");
    broker_config_defaults(&cfg);
    cfg.retention_ms = -2;
    ck_assert_int_eq(broker_config_validate(&cfg, err, sizeof err), -1);
    ASSERT_ERR_HAS("retention_ms: -2");
    /* A NULL error buffer is allowed. */
    ck_assert_int_eq(broker_config_validate(&cfg, NULL, 0), -1);
}
END_TEST

START_TEST(test_unknown_flag_and_positional)
{
    ck_assert_int_eq(PARSE("--nodeid", "3"), -1);
    ck_assert_str_eq(err, "unknown flag --nodeid");
    ck_assert_int_eq(PARSE("--nodeid=3"), -1);
    ck_assert_str_eq(err, "unknown flag --nodeid");
    ck_assert_int_eq(PARSE("-x"), -1);
    ASSERT_ERR_HAS("unknown flag -x");
    ck_assert_int_eq(PARSE("dump"), -1);
    ASSERT_ERR_HAS("\"dump\"");
    ck_assert_int_eq(PARSE("--node-id"), -1);
    ASSERT_ERR_HAS("--node-id needs a value");
    /* Underscore spelling of a flag is accepted; a value may look like a flag. */
    ck_assert_int_eq(PARSE("--data_dir", "-weird-dir"), 0);
    ck_assert_str_eq(cfg.data_dir, "-weird-dir");
}
END_TEST

START_TEST(test_malformed_numbers)
{
    static const struct {
        const char *flag, *value, *expect;
    } cases[] = {
        {"--node-id", "", "--node-id: \"\" is not a whole number"},
        {"--node-id", "12x", "--node-id: \"12x\" is not a whole number"},
        {"--node-id", "-1", "--node-id: \"-1\" must not be negative"},
        {"--node-id", "+1", "--node-id: \"+1\""},
        {"--node-id", " 1", "--node-id: \" 1\""},
        {"--node-id", "0x10", "--node-id: \"0x10\""},
        {"--node-id", "4294967296", "--node-id: \"4294967296\" is too large"},
        {"--heartbeat-ms", "99999999999999999999999", "is too large"},
        {"--heartbeat-ms", "10k", "--heartbeat-ms: \"10k\" is not a whole number"},
        {"--segment-bytes", "17179869184g", "--segment-bytes: \"17179869184g\" is too large"},
        {"--segment-bytes", "1t", "--segment-bytes: \"1t\""},
        {"--segment-bytes", "1mb", "--segment-bytes: \"1mb\""},
        {"--max-batch-bytes", "4194304k", "is too large"},
        {"--retention-ms", "-2", "--retention-ms: \"-2\""},
        {"--retention-bytes", "9223372036854775808", "is too large"},
        {"--retention-ms", "", "--retention-ms: \"\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = PARSE(cases[i].flag, cases[i].value);
        ck_assert_msg(rc == -1, "%s '%s' accepted", cases[i].flag, cases[i].value);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL, "%s '%s': error \"%s\" lacks \"%s\"",
                      cases[i].flag, cases[i].value, err, cases[i].expect);
    }
    ck_assert_int_eq(PARSE("--node-id", "4294967295", "--node",
                           "4294967295,ipc:///tmp/p,inproc://c"),
                     0);
    ck_assert_uint_eq(cfg.node_id, 4294967295u);
    ck_assert_int_eq(PARSE("--retention-bytes", "9223372036854775807"), 0);
    ck_assert_int_eq(cfg.retention_bytes, INT64_MAX);
}
END_TEST

START_TEST(test_node_specs)
{
    static const struct {
        const char *spec, *expect;
    } bad[] = {
        {"1", "(3 comma-separated fields)"},
        {"1,tcp://127.0.0.1:1", "(3 comma-separated fields)"},
        {"1,tcp://127.0.0.1:1,tcp://127.0.0.1:2,x", "(3 comma-separated fields)"},
        {"x,tcp://127.0.0.1:1,tcp://127.0.0.1:2", "id \"x\" is not a whole number"},
        {"0,tcp://127.0.0.1:1,tcp://127.0.0.1:2", "id must be at least 1"},
        {"1,,tcp://127.0.0.1:2", "peer endpoint \"\" is empty"},
        {"1,tcp://127.0.0.1:1,udp://x:2", "client endpoint \"udp://x:2\" must start with"},
        {"1,tcp://127.0.0.1:1,tcp://127.0.0.1:0", "PORT 1..65535"},
        {"1,tcp://127.0.0.1:1,ipc://", "nothing after its scheme"},
        {"1,tcp://127.0.0.1:1,tcp://127.0.0.1:1", "is used twice (node 1 peer and node 1 client)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = PARSE("--node", bad[i].spec);
        ck_assert_msg(rc == -1, "'%s' accepted", bad[i].spec);
        ck_assert_msg(strstr(err, bad[i].expect) != NULL && strstr(err, "node") != NULL,
                      "'%s': error \"%s\" lacks \"%s\"", bad[i].spec, err, bad[i].expect);
    }

    /* Duplicate id, shared endpoint across nodes, this node missing, none given for node 2. */
    ck_assert_int_eq(PARSE("--node", "1,tcp://a:1,tcp://a:2", "--node", "1,tcp://b:1,tcp://b:2"),
                     -1);
    ck_assert_str_eq(err, "node: id 1 is given twice");
    ck_assert_int_eq(PARSE("--node", "1,tcp://a:1,tcp://a:2", "--node", "2,tcp://a:1,tcp://b:2"),
                     -1);
    ASSERT_ERR_HAS("node: endpoint \"tcp://a:1\" is used twice (node 1 peer and node 2 peer)");
    ck_assert_int_eq(PARSE("--node-id", "4", NODES3), -1);
    ck_assert_str_eq(err, "node_id: 4 is not in the node list (ids 1, 2, 3)");
    ck_assert_int_eq(PARSE("--node-id", "2"), -1);
    ASSERT_ERR_HAS("node: none given; node_id 2");

    /* Too long an endpoint, too many nodes. */
    char spec[600];
    memset(spec, 'a', sizeof spec);
    memcpy(spec, "1,tcp://", 8);
    spec[sizeof spec - 1] = '\0';
    ck_assert_int_eq(PARSE("--node", spec), -1);
    ASSERT_ERR_HAS("--node");
    char specs[BROKER_NODES_MAX + 1][96];
    char *argv[2 * (BROKER_NODES_MAX + 1) + 2];
    int argc = 0;
    argv[argc++] = (char *)"raftmq-broker";
    for (int i = 0; i <= BROKER_NODES_MAX; i++) {
        snprintf(specs[i], sizeof specs[i], "%d,tcp://h%d:1,tcp://h%d:2", i + 1, i, i);
        argv[argc++] = (char *)"--node";
        argv[argc++] = specs[i];
    }
    ck_assert_int_eq(broker_config_parse_args(&cfg, argc - 2, argv, stdout, err, sizeof err), 0);
    ck_assert_uint_eq(cfg.n_nodes, BROKER_NODES_MAX);
    ck_assert_int_eq(broker_config_parse_args(&cfg, argc, argv, stdout, err, sizeof err), -1);
    ASSERT_ERR_HAS("more than 9 nodes");

    /* A 3-node cluster: each broker listens on its own entry's endpoints. */
    ck_assert_int_eq(PARSE("--node-id", "3", NODES3), 0);
    ck_assert_str_eq(cfg.client_listen, "tcp://127.0.0.1:9492");
    ck_assert_str_eq(cfg.peer_listen, "tcp://127.0.0.1:9493");
    ck_assert_str_eq(broker_config_node(&cfg, 2)->client_address, "tcp://127.0.0.1:9392");
}
END_TEST

START_TEST(test_help)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(out);
    char *argv[] = {(char *)"raftmq-broker", (char *)"--node-id", (char *)"bogus", (char *)"-h",
                    NULL};
    /* Help wins even over a bad value given before it. */
    ck_assert_int_eq(broker_config_parse_args(&cfg, 4, argv, out, err, sizeof err), 1);
    fclose(out);
    const char *usage = "usage: raftmq-broker [--config FILE] [--KEY VALUE ...]\n";
    ck_assert_int_eq(strncmp(buf, usage, strlen(usage)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "raftmq-broker dump --data-dir DIR"));
    static const char *const every_key[] = {
        "node_id", "data_dir", "node", "client_listen", "peer_listen", "fsync",
        "election_timeout_min_ms", "election_timeout_max_ms", "heartbeat_ms", "max_batch_bytes",
        "max_record_bytes", "request_timeout_ms", "fetch_wait_max_ms", "client_queue_max",
        "peer_queue_max", "max_uncommitted_bytes", "raft_memory_bytes", "segment_bytes", "retention_ms",
        "retention_bytes", "shutdown_timeout_ms", "log_level",
    };
    for (size_t i = 0; i < sizeof(every_key) / sizeof(every_key[0]); i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s ", every_key[i]);
        for (char *p = flag; *p != '\0'; p++)
            if (*p == '_')
                *p = '-';
        char key[64];
        snprintf(key, sizeof key, "key %s;", every_key[i]);
        ck_assert_msg(strstr(buf, key) != NULL, "help lacks %s", key);
        ck_assert_msg(strstr(buf, flag) != NULL, "help lacks %s", flag);
    }
    ck_assert_ptr_nonnull(strstr(buf, "--help"));
    free(buf);

    char *argv2[] = {(char *)"raftmq-broker", (char *)"--help", NULL};
    FILE *sink = fopen("/dev/null", "w");
    ck_assert_int_eq(broker_config_parse_args(&cfg, 2, argv2, sink, err, sizeof err), 1);
    fclose(sink);
}
END_TEST

START_TEST(test_load_file_errors_name_line)
{
    char path[64];
    char expect[160];
    ck_assert_int_eq(load_text("node_id = 1\n\n# c\nnodeid = 3\n", path, sizeof path), -1);
    snprintf(expect, sizeof expect, "%s:4: unknown key \"nodeid\"", path);
    ck_assert_str_eq(err, expect);

    ck_assert_int_eq(load_text("fsync = always\nheartbeat_ms = 12x\n", path, sizeof path), -1);
    snprintf(expect, sizeof expect, "%s:2: heartbeat_ms: \"12x\" is not a whole number", path);
    ck_assert_str_eq(err, expect);

    ck_assert_int_eq(load_text("fsync\n", path, sizeof path), -1);
    snprintf(expect, sizeof expect, "%s:1: expected \"key = value\"", path);
    ASSERT_ERR_HAS(expect);

    ck_assert_int_eq(load_text("# x\nnode = 1,tcp://a:1\n", path, sizeof path), -1);
    snprintf(expect, sizeof expect, "%s:2: node:", path);
    ASSERT_ERR_HAS(expect);

    ck_assert_int_eq(load_text("segment_bytes = -1\n", path, sizeof path), -1);
    snprintf(expect, sizeof expect, "%s:1: segment_bytes: \"-1\" must not be negative", path);
    ck_assert_str_eq(err, expect);

    /* An over-long line is refused, not split into two. */
    char big[10000];
    memset(big, 'x', sizeof big);
    memcpy(big, "data_dir = ", 11);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(load_text(big, path, sizeof path), -1);
    snprintf(expect, sizeof expect, "%s:1: line longer than", path);
    ASSERT_ERR_HAS(expect);

    /* A '#' inside a value (not after a space) is part of it; load_file does not validate. */
    ck_assert_int_eq(load_text("data_dir = /srv/a#b\nheartbeat_ms = 100000\n", path, sizeof path),
                     0);
    ck_assert_str_eq(cfg.data_dir, "/srv/a#b");
    ck_assert_uint_eq(cfg.heartbeat_ms, 100000);

    broker_config_defaults(&cfg);
    ck_assert_int_eq(broker_config_load_file(&cfg, "/tmp/raftmq-config-test-missing", err,
                                             sizeof err),
                     -1);
    ASSERT_ERR_HAS("/tmp/raftmq-config-test-missing");
}
END_TEST

START_TEST(test_write_round_trip)
{
    ck_assert_int_eq(PARSE("--node-id", "2", NODES3, "--fsync", "never", "--segment-bytes", "3m",
                           "--retention-bytes", "1000", "--log-level", "error",
                           "--max-record-bytes", "4k"),
                     0);
    struct broker_config first = cfg;
    char path[64] = "/tmp/raftmq-config-test-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    broker_config_write(&first, f);
    fclose(f);
    int rc = PARSE("--config", path);
    unlink(path);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(cfg.node_id, 2);
    ck_assert_int_eq(cfg.fsync_policy, STORAGE_FSYNC_NEVER);
    ck_assert_uint_eq(cfg.segment_bytes, 3u * 1024 * 1024);
    ck_assert_int_eq(cfg.retention_bytes, 1000);
    ck_assert_int_eq(cfg.log_level, BLOG_ERROR);
    ck_assert_uint_eq(cfg.record_bytes_max, 4096);
    ck_assert_uint_eq(cfg.n_nodes, 3);
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(cfg.nodes[i].id, first.nodes[i].id);
        ck_assert_str_eq(cfg.nodes[i].peer_address, first.nodes[i].peer_address);
        ck_assert_str_eq(cfg.nodes[i].client_address, first.nodes[i].client_address);
    }
    ck_assert_str_eq(cfg.client_listen, first.client_listen);
    ck_assert_str_eq(cfg.data_dir, first.data_dir);
    ck_assert_uint_eq(cfg.uncommitted_bytes_max, first.uncommitted_bytes_max);
    ck_assert_int_eq(cfg.retention_ms, first.retention_ms);
    ck_assert_uint_eq(cfg.election_timeout_max_ms, first.election_timeout_max_ms);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_key_by_flag);
    tcase_add_test(tc, test_every_key_by_file);
    tcase_add_test(tc, test_flags_override_file);
    tcase_add_test(tc, test_validation_names_key);
    tcase_add_test(tc, test_unknown_flag_and_positional);
    tcase_add_test(tc, test_malformed_numbers);
    tcase_add_test(tc, test_node_specs);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_load_file_errors_name_line);
    tcase_add_test(tc, test_write_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
