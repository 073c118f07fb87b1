/*
 * libFuzzer target: the msgpack reader's generic skip, differentially
 * against msgpack-c's unpacker. Where our reader accepts a value, msgpack-c
 * must parse exactly the same number of bytes. (The other way round is not
 * required: our reader refuses nesting deeper than WIRE_NESTING_MAX, which
 * msgpack-c may accept.) msgpack-c only runs on input our reader accepted,
 * whose counts are bounded by the input size, so its allocations stay small.
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>

#include "wire/errors.h"
#include "wire/mp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_reader r;
    wire_reader_init(&r, data, size);
    int rc = wire_skip(&r);
    if (rc != WIRE_OK) {
        if (r.pos != r.start || !wire_err_known(rc))
            __builtin_trap(); /* a failed skip consumes nothing */
        return 0;
    }
    size_t ours = (size_t)(r.pos - r.start);

    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    msgpack_object obj;
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack((const char *)data, size, &off, &zone, &obj);
    if ((ret != MSGPACK_UNPACK_SUCCESS && ret != MSGPACK_UNPACK_EXTRA_BYTES) || off != ours)
        __builtin_trap();
    msgpack_zone_destroy(&zone);

    /* The typed readers must never read past the end either. */
    wire_reader_init(&r, data, size);
    uint64_t u;
    int64_t i;
    uint32_t n;
    struct wire_bytes b;
    (void)wire_read_uint(&r, UINT64_MAX, &u);
    (void)wire_read_int(&r, INT64_MIN, INT64_MAX, &i);
    (void)wire_read_array(&r, UINT32_MAX, &n);
    (void)wire_read_map(&r, UINT32_MAX, &n);
    (void)wire_read_str(&r, UINT32_MAX, &b);
    (void)wire_read_bin(&r, UINT32_MAX, &b);
    return 0;
}
