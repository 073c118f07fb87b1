/* CRC-32C (Castagnoli), the checksum of record batches and stored entries. */
#ifndef RAFTMQ_WIRE_CRC32C_H
#define RAFTMQ_WIRE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C as in RFC 3720 (iSCSI) appendix B.4: polynomial 0x1EDC6F41
 * (reflected 0x82F63B78), initial value 0xFFFFFFFF, input and output
 * reflected, final XOR 0xFFFFFFFF. crc32c("123456789") == 0xE3069283.
 *
 * `crc` is the value returned for the preceding bytes (0 to start), so a
 * checksum can be computed in pieces: crc32c(crc32c(0, a, n), b, m) equals
 * the checksum of a followed by b.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * first use), otherwise a portable slicing-by-8 table.
 */
uint32_t wire_crc32c(uint32_t crc, const void *buf, size_t len);

/* The two implementations, exposed so tests can compare them. */
uint32_t wire_crc32c_portable(uint32_t crc, const void *buf, size_t len);
/* Returns 0 if the CPU lacks SSE4.2 (then *crc_out is untouched). */
int wire_crc32c_hw(uint32_t crc, const void *buf, size_t len, uint32_t *crc_out);
/* "sse4.2" or "portable": which one wire_crc32c uses on this CPU. */
const char *wire_crc32c_impl(void);

#endif
