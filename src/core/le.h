/* le.h - little-endian integers in byte buffers.
 *
 * Every on-disk format of tincan (segments, indexes, journals of queue, lock
 * and bus) stores its integers little-endian; these are the one copy of the
 * byte shuffling. They read and write raw bytes at p, with no alignment
 * needed and no bounds checks. On x86 and arm64 the compiler turns each into
 * one load or store. struct le_reader below is the one bounds-checked reader
 * the journals' record decoders share.
 *
 * (Named le.h, not endian.h: with -Isrc/core a src/core/endian.h would hide the C
 * library's <endian.h>, which <sys/types.h> includes.) */
#ifndef TINCAN_LE_H
#define TINCAN_LE_H

#include <stddef.h>
#include <stdint.h>

static inline void le_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void le_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void le_put64(uint8_t *p, uint64_t v)
{
    le_put32(p, (uint32_t)v);
    le_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t le_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t le_get64(const uint8_t *p)
{
    return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

/* An n-byte unsigned, 0 <= n <= 8, for readers whose field widths vary. */
static inline uint64_t le_getn(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A bounds-checked reader over one record: a read past the end sets bad
 * (and every later read fails too), so a decoder reads a whole record and
 * checks bad once. Initialise as {p, n, 0, 0}. */
struct le_reader {
    const uint8_t *p; /* the record */
    size_t n, at;     /* its bytes; the read offset */
    int bad;          /* a read ran past the end */
};

/* The next k bytes (advancing past them), or NULL with bad set. */
static inline const uint8_t *le_take(struct le_reader *r, size_t k)
{
    if (r->bad || r->n - r->at < k) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p + r->at;
    r->at += k;
    return q;
}

/* The next k-byte (1..8) little-endian integer, or 0 with bad set. */
static inline uint64_t le_read(struct le_reader *r, size_t k)
{
    const uint8_t *q = le_take(r, k);
    return q ? le_getn(q, k) : 0;
}

/* A string written as a lenbytes-byte length then its bytes: its bytes and
 * *len, or "" and 0 with bad set (never NULL, so a decoder may keep going
 * to its one check). */
static inline const char *le_read_str(struct le_reader *r, size_t lenbytes,
                                      size_t *len)
{
    size_t n = (size_t)le_read(r, lenbytes);
    const uint8_t *q = le_take(r, n);
    *len = q ? n : 0;
    return q ? (const char *)q : "";
}

#endif
