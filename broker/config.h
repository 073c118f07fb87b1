/* The broker's configuration: defaults, the config file, command-line flags, validation and help. */
#ifndef RAFTMQ_BROKER_CONFIG_H
#define RAFTMQ_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Every setting has one key (the config-file name, e.g. max_batch_bytes) and
 * one flag (the key with dashes: --max-batch-bytes). docs/operations.md,
 * "Configuring a broker", lists them with defaults and limits; so does
 * broker_config_print_help, from the same table in config.c.
 *
 * Order of precedence: built-in defaults, then the file named by --config,
 * then the other flags. `node` is the one list: the file's `node` lines
 * accumulate, and the first --node flag replaces the file's list (so a file
 * can be reused with a different cluster given on the command line).
 *
 * Numbers are whole decimal numbers: no sign (except -1 where a key allows
 * it), no spaces, no hex. Byte-size keys accept a k, m or g suffix (either
 * case; powers of 1024: 64m = 67108864).
 *
 * Errors are written as one line to the caller's `err` buffer (truncated to
 * err_cap; err may be NULL when err_cap is 0) and name the key, flag or
 * file:line, and the bad value.
 */

#define BROKER_NODES_MAX 9 /* = RAFT_SERVERS_MAX */
#define BROKER_ADDRESS_BYTES_MAX 256 /* ZeroMQ endpoint strings, incl. NUL */
#define BROKER_PATH_BYTES_MAX 4096

/* The defaults of the single-node cluster started with no arguments. */
#define BROKER_DEFAULT_PEER_ADDRESS "tcp://127.0.0.1:9293"
#define BROKER_DEFAULT_CLIENT_ADDRESS "tcp://127.0.0.1:9292"
#define BROKER_DEFAULT_DATA_DIR "./raftmq-data"

struct broker_node {
    uint32_t id; /* >= 1 */
    /* ZeroMQ endpoint other brokers connect to, e.g. tcp://127.0.0.1:9293 */
    char peer_address[BROKER_ADDRESS_BYTES_MAX];
    /* endpoint clients connect to (advertised in METADATA) */
    char client_address[BROKER_ADDRESS_BYTES_MAX];
};

struct broker_config {
    uint32_t node_id;                      /* node_id; default 1 */
    char data_dir[BROKER_PATH_BYTES_MAX];  /* data_dir; default ./raftmq-data */
    /* client_listen: bind endpoint; after validate, this node's client_address unless set */
    char client_listen[BROKER_ADDRESS_BYTES_MAX];
    /* peer_listen: after validate, this node's peer_address unless set */
    char peer_listen[BROKER_ADDRESS_BYTES_MAX];
    /* peer_source_address: IP literal outgoing peer connections bind to; "" = any */
    char peer_source_address[64];
    /* Key `node`, repeatable: "ID,PEER_ENDPOINT,CLIENT_ENDPOINT". Empty after
     * broker_config_defaults; validate fills in the single node
     * {1, BROKER_DEFAULT_PEER_ADDRESS, BROKER_DEFAULT_CLIENT_ADDRESS} when
     * none was given and node_id is 1, and sorts the list by id. */
    uint32_t n_nodes;
    struct broker_node nodes[BROKER_NODES_MAX];
    int fsync_policy;                 /* fsync = always|never -> STORAGE_FSYNC_*; default always */
    uint32_t election_timeout_min_ms; /* default 150; 10..600000 */
    uint32_t election_timeout_max_ms; /* default 300; > min, <= 600000 */
    uint32_t heartbeat_ms;            /* default 30; 1 .. < election_timeout_min_ms / 2 */
    /* max_batch_bytes: default and ceiling WIRE_BATCH_BYTES_MAX; min 1024 */
    uint32_t batch_bytes_max;
    /* max_record_bytes: default and ceiling WIRE_RECORD_BYTES_MAX; min 64; at most
     * batch_bytes_max - WIRE_BATCH_HEADER_BYTES (a record fits one uncompressed batch) */
    uint32_t record_bytes_max;
    uint32_t request_timeout_ms;    /* PRODUCE wait for commit (caps client's timeout_ms); default 10000; 1..600000 */
    uint32_t fetch_wait_max_ms;     /* cap on FETCH max_wait_ms; default 30000; 0..600000 */
    uint32_t client_queue_max;      /* ZeroMQ HWM (messages) per client connection; default 1000; 1..1000000 */
    uint32_t peer_queue_max;        /* HWM per peer connection; default 1000; 1..1000000 */
    /* max_uncommitted_bytes: per partition, past it PRODUCE gets BACKPRESSURE;
     * default 64 MiB; 2 * batch_bytes_max .. 16 GiB */
    uint64_t uncommitted_bytes_max;
    uint64_t segment_bytes;         /* default 128 MiB; 1 MiB..1 GiB */
    int64_t retention_ms;           /* topics' default; default 604800000 (7 days); -1 = forever, else >= 1 */
    int64_t retention_bytes;        /* per partition default; default -1 (unlimited), else >= 1 */
    uint32_t shutdown_timeout_ms;   /* bound on a clean shutdown; default 5000; 1..600000 */
    int log_level;                  /* log_level: error|warn|info|debug -> BLOG_*; default info */
    uint64_t raft_memory_bytes;               /* raft_memory_bytes: per partition, recent entries kept in memory for followers; default 64 MiB; 1 MiB..16 GiB */
    /* test_power_loss = true|false, default false. TEST ONLY: storage goes
     * through storage_fs_tracked and SIGUSR1 simulates a power loss (cuts
     * every file to its synced size, then _exit(137)). */
    bool test_power_loss;
};

void broker_config_defaults(struct broker_config *c);

/*
 * Parses argv (argv[0] is the program), starting from broker_config_defaults.
 * Flags: --config FILE (loaded first, wherever it appears; then flags
 * override file values), --help/-h (prints help to `out`, returns 1), and
 * for every key K a flag --K VALUE or --K=VALUE where K's underscores are
 * dashes (underscores are accepted too). A true|false key's flag may also
 * stand alone (--K means --K true) when the next argument is not true or
 * false. Returns 0 on success (validated),
 * 1 if help was printed (caller exits 0), -1 on error. Positional arguments
 * are errors (the `dump` sub-command is the caller's to recognise first).
 */
int broker_config_parse_args(struct broker_config *c, int argc, char **argv, FILE *out, char *err,
                             size_t err_cap);

/*
 * Config file: lines "key = value" (keys with underscores or dashes), '#'
 * comments (a whole line, or after a space or tab), blank lines, `node` may
 * repeat (appends). Values are trimmed. An unknown key, a line without '=',
 * or a bad value is an error naming file:line. Applies on top of what `c`
 * holds; does not validate.
 */
int broker_config_load_file(struct broker_config *c, const char *path, char *err, size_t err_cap);

/*
 * Range and cross-field checks; fills derived defaults (the default
 * single-node cluster when no node was given and node_id is 1; the listen
 * endpoints from this node's entry) and sorts nodes by id. Checks node ids
 * unique and >= 1, this node_id in the list, endpoints non-empty, starting
 * with tcp:// (then HOST:PORT), ipc:// or inproc://, without spaces, and no
 * endpoint shared by two node entries. Errors name the key.
 */
int broker_config_validate(struct broker_config *c, char *err, size_t err_cap);

/* The entry with this id, or NULL. */
const struct broker_node *broker_config_node(const struct broker_config *c, uint32_t id);

/* Usage, every key with its flag, default and meaning, the dump sub-command, examples. */
void broker_config_print_help(FILE *out);

/* The configuration as a config file that broker_config_load_file reads back to the same values. */
void broker_config_write(const struct broker_config *c, FILE *out);

#endif
