/* parquet_decode.c - RLE/bit-packed hybrid and DELTA_BINARY_PACKED decoding
 * (see parquet_decode.h; the bytes are described in the Parquet format's
 * Encodings.md). */
#include "parquet_decode.h"

#include <stdio.h>

#include "errors.h"

static int corrupt(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return ERR_CORRUPT;
}

static int uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && (b & 0x7e))
            return -1;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

/* The w-bit (1..64) value starting at bit bitpos of p, LSB first. The caller
 * checked that the bits are inside the buffer. */
static uint64_t get_bits(const uint8_t *p, uint64_t bitpos, int w)
{
    const uint8_t *b = p + (bitpos >> 3);
    int shift = (int)(bitpos & 7), got = 0;
    uint64_t v = 0;
    while (got < w) {
        v |= (uint64_t)(*b++ >> shift) << got;
        got += 8 - shift;
        shift = 0;
    }
    return w < 64 ? v & ((UINT64_C(1) << w) - 1) : v;
}

/* Walks count values of the hybrid. With out, stores them; without, stops at
 * the first value that is not want and puts its index in *first_not (count
 * when every value is want). */
static int rle_walk(const uint8_t *p, size_t n, int bit_width, uint32_t *out,
                    size_t count, uint32_t want, size_t *first_not,
                    size_t *used, char *err, size_t errlen)
{
    const uint8_t *s = p, *end = p + n;
    size_t got = 0;
    if (bit_width < 0 || bit_width > 32)
        return corrupt(err, errlen, "rle: bit width above 32");
    size_t vbytes = ((size_t)bit_width + 7) / 8;
    if (first_not)
        *first_not = count;
    while (got < count) {
        uint64_t h;
        if (uvarint(&p, end, &h))
            return corrupt(err, errlen, "rle: truncated run header");
        if (h & 1) { /* bit-packed: (h >> 1) groups of 8 values */
            uint64_t groups = h >> 1;
            if (groups == 0)
                return corrupt(err, errlen, "rle: empty bit-packed run");
            size_t avail = (size_t)(end - p);
            /* values in the run, and those whose bits are present (some
             * writers cut the padding of the last run) */
            uint64_t nvals = groups > UINT64_MAX / 8 ? UINT64_MAX : groups * 8;
            uint64_t have =
                bit_width ? (uint64_t)avail * 8 / (uint64_t)bit_width : nvals;
            uint64_t take = nvals < count - got ? nvals : count - got;
            if (take > have)
                return corrupt(err, errlen, "rle: truncated bit-packed run");
            for (uint64_t i = 0; i < take; i++, got++) {
                uint32_t v =
                    bit_width ? (uint32_t)get_bits(p, i * (uint64_t)bit_width,
                                                   bit_width)
                              : 0;
                if (out) {
                    out[got] = v;
                } else if (v != want) {
                    *first_not = got;
                    return 0;
                }
            }
            /* skip the whole run, or what is left of it */
            uint64_t bytes =
                groups > UINT64_MAX / (uint64_t)(bit_width ? bit_width : 1)
                    ? UINT64_MAX
                    : groups * (uint64_t)bit_width;
            p += bytes < avail ? bytes : avail;
        } else { /* RLE: (h >> 1) repeats of one value */
            uint64_t run = h >> 1;
            if ((size_t)(end - p) < vbytes)
                return corrupt(err, errlen, "rle: truncated run value");
            uint32_t v = 0;
            for (size_t i = 0; i < vbytes; i++)
                v |= (uint32_t)p[i] << (8 * i);
            p += vbytes;
            if (bit_width < 32 && v >> bit_width)
                return corrupt(err, errlen,
                               "rle: run value wider than the bit width");
            if (run == 0)
                return corrupt(err, errlen, "rle: empty run");
            uint64_t take = run < count - got ? run : count - got;
            if (!out && v != want) {
                *first_not = got;
                return 0;
            }
            for (uint64_t i = 0; out && i < take; i++)
                out[got + i] = v;
            got += take;
        }
    }
    if (used)
        *used = (size_t)(p - s);
    return 0;
}

int parquet_decode_rle(const uint8_t *p, size_t n, int bit_width, uint32_t *out,
                       size_t count, size_t *used, char *err, size_t errlen)
{
    return rle_walk(p, n, bit_width, out, count, 0, NULL, used, err, errlen);
}

int parquet_decode_rle_find(const uint8_t *p, size_t n, int bit_width,
                            size_t count, uint32_t value, size_t *index,
                            char *err, size_t errlen)
{
    return rle_walk(p, n, bit_width, NULL, count, value, index, NULL, err,
                    errlen);
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int parquet_decode_delta(const uint8_t *p, size_t n, int int32, int64_t *out,
                         size_t count, size_t *used, char *err, size_t errlen)
{
    const uint8_t *s = p, *end = p + n;
    uint64_t block, nmini, total, first;
    if (uvarint(&p, end, &block) || uvarint(&p, end, &nmini) ||
        uvarint(&p, end, &total) || uvarint(&p, end, &first))
        return corrupt(err, errlen, "delta: truncated header");
    if (block == 0 || block % 128 || block > (1u << 20) || nmini == 0 ||
        block % nmini || (block / nmini) % 32)
        return corrupt(err, errlen,
                       "delta: impossible block size / miniblock count");
    if (total < count)
        return corrupt(err, errlen, "delta: fewer values than the page holds");
    uint64_t per_mini = block / nmini;
    uint64_t last = (uint64_t)unzigzag(first); /* wrapping arithmetic */
    size_t got = 0;
    if (count > 0)
        out[got++] = int32 ? (int64_t)(int32_t)(uint32_t)last : (int64_t)last;
    /* every value after the first belongs to a block; read blocks while values
     * of the header remain to be passed (we stop at count) */
    uint64_t remaining = total > 0 ? total - 1 : 0;
    while (remaining > 0 && got < count) {
        uint64_t mdu;
        if (uvarint(&p, end, &mdu))
            return corrupt(err, errlen, "delta: truncated block header");
        uint64_t min_delta = (uint64_t)unzigzag(mdu);
        if ((uint64_t)(end - p) < nmini)
            return corrupt(err, errlen, "delta: truncated miniblock widths");
        const uint8_t *widths = p;
        p += nmini;
        for (uint64_t m = 0; m < nmini && remaining > 0; m++) {
            int w = widths[m];
            if (w > 64)
                return corrupt(err, errlen,
                               "delta: miniblock bit width above 64");
            uint64_t in_mini = per_mini < remaining ? per_mini : remaining;
            uint64_t want = count - got < in_mini ? count - got : in_mini;
            uint64_t full = per_mini * (uint64_t)w / 8; /* padded miniblock */
            uint64_t need = (want * (uint64_t)w + 7) / 8;
            uint64_t avail = (uint64_t)(end - p);
            if (need > avail)
                return corrupt(err, errlen, "delta: truncated miniblock");
            for (uint64_t i = 0; i < want; i++) {
                uint64_t d = w ? get_bits(p, i * (uint64_t)w, w) : 0;
                last += min_delta + d;
                out[got++] =
                    int32 ? (int64_t)(int32_t)(uint32_t)last : (int64_t)last;
            }
            remaining -= in_mini;
            p += full < avail ? full : avail;
        }
    }
    if (used)
        *used = (size_t)(p - s);
    return 0;
}
