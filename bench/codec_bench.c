/*
 * raftmq-codec-bench: throughput of the wire codec on one core.
 *
 * Measures CRC-32C (hardware and portable), building record batches of
 * 1,000 x 100-byte records with and without LZ4, validating a batch the way
 * the broker does (header + CRC, no record decoding), iterating records the
 * way a consumer does, and encoding/decoding PRODUCE frames. Every figure is
 * the median of --runs runs; compare figures from the same run, since this
 * machine is shared.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "wire/batch.h"
#include "wire/crc32c.h"
#include "wire/frame.h"

#define RECORDS_PER_BATCH 1000
#define RECORD_VALUE_BYTES 100

static int runs = 5;
static double seconds_per_run = 0.3;

/*
 * Runs `op` repeatedly for about seconds_per_run, `runs` times, and returns
 * the median rate of units per second (op returns how many units it did).
 */
static double median_rate(double (*op)(void *), void *ctx)
{
    double rates[64];
    int n = runs < 64 ? runs : 64;
    for (int r = 0; r < n; r++) {
        double units = 0, start = bench_now_s(), elapsed;
        do {
            units += op(ctx);
            elapsed = bench_now_s() - start;
        } while (elapsed < seconds_per_run);
        rates[r] = units / elapsed;
    }
    return bench_median(rates, (size_t)n);
}

/* ---- payloads ------------------------------------------------------------ */

static uint8_t values[RECORDS_PER_BATCH][RECORD_VALUE_BYTES];
static uint8_t keys[RECORDS_PER_BATCH][16];

/* "text": JSON-like values that compress as real event payloads do; "random": they don't. */
static void make_payloads(int text)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < RECORDS_PER_BATCH; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (text) {
            char line[RECORD_VALUE_BYTES * 2]; /* cut to RECORD_VALUE_BYTES below */
            snprintf(line, sizeof(line),
                     "{\"user\":%06u,\"event\":\"page_view\",\"path\":\"/items/%05u\","
                     "\"ms\":%04u,\"ok\":true,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxx\"}",
                     (unsigned)(x % 1000000), (unsigned)((x >> 20) % 100000),
                     (unsigned)((x >> 40) % 10000));
            memcpy(values[i], line, RECORD_VALUE_BYTES);
        } else {
            for (int j = 0; j < RECORD_VALUE_BYTES; j++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                values[i][j] = (uint8_t)x;
            }
        }
        snprintf((char *)keys[i], sizeof(keys[i]), "user-%06d", i);
    }
}

/* ---- batch building --------------------------------------------------------- */

struct build_ctx {
    enum wire_codec codec;
    uint8_t *buf;
    size_t cap;
    uint8_t *lz4;
    size_t lz4_cap;
    struct wire_bytes batch; /* last built */
};

static double op_build(void *p)
{
    struct build_ctx *c = p;
    struct wire_batch_builder b;
    struct wire_header header = {{(const uint8_t *)"trace", 5}, {(const uint8_t *)"abc123", 6}};
    wire_batch_builder_init(&b, c->buf, c->cap, c->codec);
    for (int i = 0; i < RECORDS_PER_BATCH; i++) {
        struct wire_record rec = {
            .timestamp = 1767225600000LL + i,
            .has_key = true,
            .key = {keys[i], 11},
            .value = {values[i], RECORD_VALUE_BYTES},
            .header_count = 1,
            .headers = &header,
        };
        if (wire_batch_builder_add(&b, &rec) != WIRE_OK) {
            fprintf(stderr, "bench: add failed\n");
            exit(1);
        }
    }
    if (wire_batch_builder_finish(&b, c->lz4, c->lz4_cap, &c->batch) != WIRE_OK) {
        fprintf(stderr, "bench: finish failed\n");
        exit(1);
    }
    return RECORDS_PER_BATCH;
}

static double op_validate(void *p)
{
    struct build_ctx *c = p;
    struct wire_batch_header h;
    if (wire_batch_validate(c->batch.ptr, c->batch.len, &h, NULL) != WIRE_OK) {
        fprintf(stderr, "bench: validate failed\n");
        exit(1);
    }
    return c->batch.len;
}

static uint8_t scratch[WIRE_BATCH_RECORDS_BYTES_MAX];

static double op_iterate(void *p)
{
    struct build_ctx *c = p;
    struct wire_batch_header h;
    struct wire_record_iter it;
    struct wire_record rec;
    uint64_t sum = 0;
    if (wire_batch_validate(c->batch.ptr, c->batch.len, &h, NULL) != WIRE_OK ||
        wire_record_iter_init(&it, &h, scratch, sizeof(scratch), NULL) != WIRE_OK) {
        fprintf(stderr, "bench: iterate init failed\n");
        exit(1);
    }
    while (wire_record_iter_has_next(&it)) {
        if (wire_record_iter_next(&it, &rec, NULL) != WIRE_OK) {
            fprintf(stderr, "bench: iterate failed\n");
            exit(1);
        }
        sum += rec.value.len;
    }
    if (sum != (uint64_t)RECORDS_PER_BATCH * RECORD_VALUE_BYTES)
        exit(1);
    return RECORDS_PER_BATCH;
}

/* ---- CRC -------------------------------------------------------------------- */

static uint8_t crc_buf[1 << 20];

static double op_crc(void *p)
{
    (void)p;
    volatile uint32_t sink = wire_crc32c(0, crc_buf, sizeof(crc_buf));
    (void)sink;
    return sizeof(crc_buf);
}

static double op_crc_portable(void *p)
{
    (void)p;
    volatile uint32_t sink = wire_crc32c_portable(0, crc_buf, sizeof(crc_buf));
    (void)sink;
    return sizeof(crc_buf);
}

/* ---- frames ------------------------------------------------------------------ */

static uint8_t frame_buf[2 * WIRE_MIB];
static uint8_t arena_mem[64 * 1024];

static double op_frame_roundtrip(void *p)
{
    struct build_ctx *c = p;
    struct wire_bytes batches[1] = {c->batch};
    struct wire_frame f = {.version = WIRE_PROTOCOL_VERSION, .type = WIRE_PRODUCE,
                           .correlation_id = 12345};
    f.body.produce_req.topic = (struct wire_bytes){(const uint8_t *)"orders", 6};
    f.body.produce_req.partition = 3;
    f.body.produce_req.timeout_ms = 5000;
    f.body.produce_req.batches = (struct wire_bytes_array){1, batches};
    struct wire_writer w;
    wire_writer_init(&w, frame_buf, sizeof(frame_buf));
    if (wire_frame_encode(&w, &f) != WIRE_OK)
        exit(1);
    struct wire_frame g;
    struct wire_arena arena;
    size_t consumed;
    wire_arena_init(&arena, arena_mem, sizeof(arena_mem));
    if (wire_frame_decode(frame_buf, w.len, &arena, &g, &consumed, NULL, 0) != WIRE_OK)
        exit(1);
    return 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: raftmq-codec-bench [--runs N] [--seconds S]\n"
            "Measures the wire codec on one core: CRC-32C, batch build/validate/iterate of\n"
            "%d x %d-byte records (LZ4 off and on, text-like and random payloads), and PRODUCE\n"
            "frame encode+decode. Prints medians of N runs (default 5) of S seconds each\n"
            "(default 0.3) as a Markdown table.\n",
            RECORDS_PER_BATCH, RECORD_VALUE_BYTES);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"runs", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "r:s:h", options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            runs = atoi(optarg);
            break;
        case 's':
            seconds_per_run = atof(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (runs < 1 || runs > 64 || seconds_per_run <= 0 || seconds_per_run > 60) {
        fprintf(stderr, "raftmq-codec-bench: --runs must be 1..64 and --seconds in (0, 60]\n");
        return 2;
    }

    for (size_t i = 0; i < sizeof(crc_buf); i++)
        crc_buf[i] = (uint8_t)(i * 31 + 7);

    static uint8_t buf[WIRE_BATCH_HEADER_BYTES + WIRE_BATCH_RECORDS_BYTES_MAX];
    size_t lz4_cap = wire_batch_lz4_buf_bytes(WIRE_BATCH_RECORDS_BYTES_MAX);
    uint8_t *lz4 = malloc(lz4_cap);
    if (lz4 == NULL)
        return 1;

    printf("CRC-32C implementation: %s; %d runs of %.2f s, medians\n\n", wire_crc32c_impl(), runs,
           seconds_per_run);
    printf("| measurement | rate |\n|---|---|\n");
    printf("| CRC-32C (%s), 1 MiB buffer | %.2f GB/s |\n", wire_crc32c_impl(),
           median_rate(op_crc, NULL) / 1e9);
    printf("| CRC-32C (portable slicing-by-8), 1 MiB buffer | %.2f GB/s |\n",
           median_rate(op_crc_portable, NULL) / 1e9);

    for (int text = 1; text >= 0; text--) {
        make_payloads(text);
        for (int codec = WIRE_CODEC_NONE; codec <= WIRE_CODEC_LZ4; codec++) {
            struct build_ctx c = {(enum wire_codec)codec, buf, sizeof(buf), lz4, lz4_cap, {0}};
            const char *label = codec == WIRE_CODEC_LZ4 ? "lz4" : "none";
            const char *payload = text ? "text" : "random";
            double build = median_rate(op_build, &c);
            struct wire_batch_header h;
            if (wire_batch_validate(c.batch.ptr, c.batch.len, &h, NULL) != WIRE_OK)
                return 1;
            printf("| build batch, %s payload, codec %s (stored as %s, %u bytes) | %.2f M records/s |\n",
                   payload, label, h.codec == WIRE_CODEC_LZ4 ? "lz4" : "none", c.batch.len,
                   build / 1e6);
            printf("| validate batch (header + CRC), %s, %s | %.2f GB/s |\n", payload, label,
                   median_rate(op_validate, &c) / 1e9);
            printf("| iterate records (decompress + decode), %s, %s | %.2f M records/s |\n",
                   payload, label, median_rate(op_iterate, &c) / 1e6);
            if (text && codec == WIRE_CODEC_NONE)
                printf("| PRODUCE frame encode + decode, one %u-byte batch | %.2f M frames/s |\n",
                       c.batch.len, median_rate(op_frame_roundtrip, &c) / 1e6);
        }
    }
    free(lz4);
    return 0;
}
