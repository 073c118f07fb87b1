/* Helpers shared by the command-line tools (raftmq-admin, -produce, -consume): options, errors, output. */
#ifndef RAFTMQ_WIRE_TOOL_H
#define RAFTMQ_WIRE_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"

/*
 * Every tool follows the same conventions (docs/tools.md):
 *
 * - Exit status: TOOL_EXIT_OK when everything asked for was done,
 *   TOOL_EXIT_FAILED when an operation failed (unreachable brokers, unknown
 *   topic, a record not acknowledged, ...), TOOL_EXIT_USAGE for a bad
 *   command line (nothing was sent).
 * - Messages go to stderr as one line "PROGRAM: what failed", so a script
 *   can tell the tool's output (stdout) from its diagnostics.
 * - -b/--brokers takes a comma-separated list of client addresses; an item
 *   without "://" gets "tcp://" in front, so "127.0.0.1:9292" works. When
 *   -b is absent, $RAFTMQ_BROKERS, else TOOL_BROKERS_DEFAULT (the address a
 *   broker started without arguments listens on).
 * - Every wait is bounded by --timeout (milliseconds).
 */

enum tool_exit {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_FAILED = 1,
    TOOL_EXIT_USAGE = 2,
};

#define TOOL_BROKERS_DEFAULT "tcp://127.0.0.1:9292"
#define TOOL_BROKERS_ENV "RAFTMQ_BROKERS"

/* The program name used as the prefix of every message; set once by tool_init. */
void tool_init(const char *program);
const char *tool_program(void);

/* "PROGRAM: message\n" on stderr. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "PROGRAM: message\n" plus "Try 'PROGRAM --help'." on stderr; returns TOOL_EXIT_USAGE. */
int tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parses a decimal integer in [min, max] (no sign, no spaces, no suffix) for
 * option `what`. On failure prints a usage error naming the option and
 * returns false.
 */
bool tool_parse_u64(const char *text, const char *what, uint64_t min, uint64_t max,
                    uint64_t *out);
bool tool_parse_u32(const char *text, const char *what, uint32_t min, uint32_t max,
                    uint32_t *out);

/*
 * Normalises a -b list into out (at most out_cap bytes, NUL-terminated):
 * spaces dropped around items, "tcp://" added where no scheme is given.
 * NULL `list`: $RAFTMQ_BROKERS or TOOL_BROKERS_DEFAULT. False (after a
 * usage error) when the list is empty or does not fit.
 */
bool tool_brokers(const char *list, char *out, size_t out_cap);

/*
 * Opens a client on `brokers` (already normalised) whose single attempts
 * and connection waits never exceed timeout_ms. in_flight_max 0: the
 * client's default. Prints the error and returns NULL on failure.
 */
struct wire_client *tool_client_open(const char *brokers, uint32_t timeout_ms,
                                     uint32_t in_flight_max);

/*
 * Fetches the metadata of `topic` into the client's cache, within
 * timeout_ms. A broker that has not applied a just-created topic yet may
 * call it unknown, so UNKNOWN_TOPIC is only believed after a short grace of
 * asking again (at most timeout_ms in all). Returns WIRE_OK (and the
 * partition count), UNKNOWN_TOPIC or TIMEOUT; prints nothing.
 */
int tool_topic_metadata(struct wire_client *c, const char *topic, uint32_t timeout_ms,
                        uint32_t *partition_count);

/* Checks a topic name with the protocol's rule; prints a usage error when it is bad. */
bool tool_check_topic_name(const char *name);

/* Milliseconds on a monotonic clock, and since the Unix epoch. */
int64_t tool_now_ms(void);
int64_t tool_wall_ms(void);

/*
 * SIGINT and SIGTERM set *flag (no SA_RESTART, so blocking reads and polls
 * return EINTR and the tool can notice). Returns false if sigaction failed.
 */
bool tool_catch_stop_signals(volatile sig_atomic_t *flag);

/* Writes bytes as a JSON string (quotes included); invalid UTF-8 bytes become \u00XX. */
void tool_json_string(FILE *out, const void *bytes, size_t len);

/* The wire error name and the response's message, as "NAME: message" (or "NAME"). */
const char *tool_response_error(const struct wire_frame *resp, char *buf, size_t cap);

/* FNV-1a, 32 bits: the stable key hash of the producer's partitioner (docs/tools.md). */
uint32_t tool_fnv1a32(const void *bytes, size_t len);

#endif
