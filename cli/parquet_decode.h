/* parquet_decode.h - Parquet's value and level encodings, decoded.
 *
 * Pure functions over a caller's bytes, no I/O, no allocation: the
 * RLE/bit-packed hybrid (definition levels, dictionary indices), and
 * DELTA_BINARY_PACKED (integers). Each decodes exactly the count of values the
 * caller asks for and fails, with err filled, when the bytes run out first or
 * a header is impossible: a hostile page gives an error, never a read past
 * its end.
 *
 * Not the file structure (parquet_read.c), not PLAIN (a memcpy there), and no
 * encodings tincan never reads (byte arrays, BYTE_STREAM_SPLIT). */
#ifndef TINCAN_PARQUET_DECODE_H
#define TINCAN_PARQUET_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* Decodes count values of bit_width (0..32) bits from the RLE/bit-packed
 * hybrid in p[0..n) (no length prefix: the caller strips it) into out.
 * *used (may be NULL) gets the bytes consumed. 0 or ERR_CORRUPT. */
int parquet_decode_rle(const uint8_t *p, size_t n, int bit_width, uint32_t *out,
                       size_t count, size_t *used, char *err, size_t errlen);

/* Scans count values of the hybrid without storing them (definition levels:
 * is any row null?). *index gets the index of the first value that is not
 * value, or count when all are. 0 or ERR_CORRUPT (as parquet_decode_rle,
 * for the values before *index). */
int parquet_decode_rle_find(const uint8_t *p, size_t n, int bit_width,
                            size_t count, uint32_t value, size_t *index,
                            char *err, size_t errlen);

/* Decodes count values of DELTA_BINARY_PACKED from p[0..n) into out (values
 * of an INT32 column come out sign-extended: pass int32 = 1 so that the
 * arithmetic wraps at 32 bits as the writer's did). The header's total must
 * be at least count. *used (may be NULL) gets the bytes consumed when every
 * value of the header was read, else the bytes up to the last value read.
 * 0 or ERR_CORRUPT. */
int parquet_decode_delta(const uint8_t *p, size_t n, int int32, int64_t *out,
                         size_t count, size_t *used, char *err, size_t errlen);

#endif
