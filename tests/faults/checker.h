/* The fault-injection suite's history checker: was anything lost, invented, duplicated or reordered? */
#ifndef RAFTMQ_TESTS_FAULTS_CHECKER_H
#define RAFTMQ_TESTS_FAULTS_CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The harness (tests/faults/faults.c) runs a cluster under faults, records
 * every send, every delivery report and every record a live consumer read,
 * then drains every partition from offset 0 to its high watermark. This
 * module judges that history. It does no I/O, starts no thread and reads no
 * clock, so the same history always gives the same verdict.
 *
 * Record identity: every value the harness sends starts with
 *
 *     rmq:<producer>:<seq>:          then any filler bytes
 *
 * producer a uint32 and seq a uint64, both strict decimal (digits only, no
 * sign, no leading zero except "0" itself, so one id has one spelling).
 */

/* The longest id prefix: "rmq:" + 10 digits + ":" + 20 digits + ":". */
#define CHECKER_ID_BYTES_MAX 36u

/*
 * Writes the id prefix into buf (cap bytes, no terminating NUL); returns
 * its length, or 0 if it does not fit (buf is then untouched).
 */
size_t checker_format_id(char *buf, size_t cap, uint32_t producer, uint64_t seq);

/* Parses a value's prefix; false if the value does not start with a well-formed id. */
bool checker_parse_id(const uint8_t *value, size_t len, uint32_t *producer, uint64_t *seq);

/*
 * Return codes of every int-returning call: 0, or one of these (negative).
 * A non-zero code means the history itself is unusable (a harness bug or a
 * bound too small), never that the cluster misbehaved: that is what the
 * counters of checker_result are for. checker_last_error() says what and where.
 */
enum {
    CHECKER_OK = 0,
    CHECKER_E_ARG = -1,      /* producer, partition or value out of range; acked with attempts 0 */
    CHECKER_E_BOUND = -2,    /* seq >= sends_per_producer_max, or reads past their bound */
    CHECKER_E_SEQUENCE = -3, /* calls out of order: see each function */
    CHECKER_E_NOMEM = -4,
};

/* A name for a return code ("CHECKER_E_BOUND"); "unknown" for others. */
const char *checker_strerror(int code);

/*
 * The reads of the final drain (all partitions together, offsets skipped
 * over by a gap included) and the live reads may each number at most this
 * many times producers * sends_per_producer_max.
 */
#define CHECKER_READS_PER_SEND_MAX 4u

struct checker; /* opaque; one thread at a time */

/*
 * Memory grows with the history (about 24 bytes per seq, 16 per final
 * offset and 32 per live read), never past the bounds given here.
 * NULL when an argument is 0, producers * sends_per_producer_max overflows,
 * or memory runs out.
 */
struct checker *checker_create(uint32_t producers, uint64_t sends_per_producer_max,
                               uint32_t partitions);
void checker_destroy(struct checker *c); /* NULL is fine */

/* The last error's message (names the call, producer/seq or partition/offset); "" if none. */
const char *checker_last_error(const struct checker *c);

/*
 * A producer's properties. Producers default to idempotent (the stricter
 * verdict on duplicates); may be called at any time before checker_run.
 */
int checker_producer(struct checker *c, uint32_t producer, bool idempotent);

/*
 * The harness sent record (producer, seq) to partition. Call it for every
 * record the producer accepted; seqs of one producer count 0, 1, 2, ... in
 * the order of its sends (any order of calls is accepted, each seq once).
 * Errors: E_ARG (producer/partition), E_BOUND (seq), E_SEQUENCE (sent twice).
 */
int checker_sent(struct checker *c, uint32_t producer, uint64_t seq, uint32_t partition);

/*
 * Its delivery report: error 0 means committed at offset (>= 0); any other
 * error means it failed (offset ignored). attempts = PRODUCE requests that
 * carried it (>= 1 when acknowledged; 0 for a failure never sent). Errors:
 * E_ARG (producer, attempts 0 when acknowledged, negative offset
 * with error 0), E_BOUND (seq), E_SEQUENCE (never sent, or reported twice).
 */
int checker_outcome(struct checker *c, uint32_t producer, uint64_t seq, int error,
                    int64_t offset, uint32_t attempts);

/*
 * A record the live consumer read while faults ran: any partition, offset
 * and order, repeats allowed. Only its id and a hash of its bytes are kept.
 * Errors: E_ARG (partition), E_BOUND (too many live reads).
 */
int checker_read_live(struct checker *c, uint32_t partition, uint64_t offset,
                      const uint8_t *value, size_t len);

/*
 * The final drain: every record of the partition in order from offset 0.
 * Each offset must be above the previous one (the first one >= 0): offsets
 * skipped over are counted as gaps. Errors: E_ARG (partition), E_SEQUENCE
 * (an offset not above the previous one, or a read after checker_final_end),
 * E_BOUND (too many final reads, gaps included).
 */
int checker_read_final(struct checker *c, uint32_t partition, uint64_t offset,
                       const uint8_t *value, size_t len);

/*
 * The final drain of partition reached its end at end_offset (the high
 * watermark): offsets between the last one read and end_offset are gaps.
 * Errors: E_ARG (partition), E_SEQUENCE (called twice, or end_offset not
 * above every offset already read).
 */
int checker_final_end(struct checker *c, uint32_t partition, uint64_t end_offset);

/*
 * The verdict. Failures (each must be 0 for ok):
 *   lost                 acknowledged OK, in no offset of its partition's final drain
 *   wrong_offset         acknowledged OK at one offset, found at another (not at the acked one)
 *   unexpected           a final record whose value has no id, an id never sent,
 *                        or sent to another partition
 *   duplicates_idempotent   ids of idempotent producers that appear more than once
 *   duplicates_unexplained  ids of other producers that appear more than once although
 *                        their one attempt was acknowledged OK
 *   gaps                 offsets missing from the final drain (below its end_offset)
 *   order_violations     per (producer, partition), a record whose first occurrence
 *                        follows that of a higher seq
 *   live_mismatch        live reads that differ (id or bytes) from the final record
 *                        at that offset, or whose offset the final drain lacks
 *   unreported           sent, never given an outcome
 * Information:
 *   sent, acked, failed  records sent / reported OK / reported failed
 *   read_final           records in the final drain (gaps not included)
 *   read_live            live reads
 *   duplicates_explained  ids of non-idempotent producers that appear more than once,
 *                        tried more than once or not acknowledged OK (a retry may store twice)
 *   duplicate_copies     extra copies over all duplicated ids (a record twice: 1)
 *   failed_but_present   reported failed, yet in its partition's log (allowed)
 * A duplicate is counted once per id; a record found in the wrong partition
 * counts as unexpected there and as absent from its own.
 */
struct checker_result {
    bool ok;
    uint64_t lost;
    uint64_t wrong_offset;
    uint64_t unexpected;
    uint64_t duplicates_idempotent;
    uint64_t duplicates_unexplained;
    uint64_t gaps;
    uint64_t order_violations;
    uint64_t live_mismatch;
    uint64_t unreported;

    uint64_t sent;
    uint64_t acked;
    uint64_t failed;
    uint64_t read_final;
    uint64_t read_live;
    uint64_t duplicates_explained;
    uint64_t duplicate_copies;
    uint64_t failed_but_present;
};

/* The longest line checker_run hands to report (NUL included). */
#define CHECKER_LINE_BYTES_MAX 256u

/*
 * Runs every check and fills *r. For each check, its first
 * lines_per_check instances are passed to report (may be NULL) as one
 * line each, without a newline, naming partition/offset and producer/seq
 * ("lost: producer 2 seq 17 acked at partition 1 offset 40 is not in the
 * final drain; offset 40 holds producer 0 seq 9"). Both duplicate counters
 * share one budget; a run of missing offsets is one gap line. Each line
 * starts with its counter's name (duplicates: "duplicate:"). Lines are
 * valid during the call only.
 * May be called again (it recomputes everything).
 * Errors: E_SEQUENCE (a partition's drain was never ended by
 * checker_final_end), E_NOMEM.
 */
int checker_run(struct checker *c, struct checker_result *r, uint32_t lines_per_check,
                void (*report)(void *arg, const char *line), void *arg);

/*
 * One summary line of *r: "ok" or "FAILED", every failure counter, " | ",
 * every information counter ("FAILED lost=1 wrong_offset=0 ... | sent=9 ...").
 * Returns snprintf's value; 700 bytes always hold it.
 */
int checker_result_format(const struct checker_result *r, char *buf, size_t cap);

#endif
