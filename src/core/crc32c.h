/* crc32c.h - CRC-32C (Castagnoli), the checksum of every framed record,
 * index file and checkpoint.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
 * time), else a slice-by-8 table. Pure computation: no I/O, no allocation,
 * thread-safe. Not a cryptographic hash. */
#ifndef TINCAN_CRC32C_H
#define TINCAN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: crc32c(0, p, n) for a fresh one; crc32c(crc32c(0, a, x), b, y)
 * equals the CRC of a||b. Known value: crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
/* The table implementation only (tests compare both). */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);

#endif
