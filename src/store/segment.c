#include "segment.h"

#include "crc32c.h"
#include "errors.h"
#include "le.h"

#include <string.h>

void segment_header_encode(uint8_t out[SEGMENT_HEADER_SIZE], uint64_t base)
{
    memset(out, 0, SEGMENT_HEADER_SIZE);
    memcpy(out, SEGMENT_MAGIC, 8);
    le_put32(out + 8, SEGMENT_VERSION);
    le_put32(out + 12, SEGMENT_HEADER_SIZE);
    le_put64(out + 16, base);
    le_put32(out + 28, crc32c(0, out, 28));
}

int segment_header_decode(const uint8_t *p, size_t n, uint64_t *base)
{
    if (n < SEGMENT_HEADER_SIZE || memcmp(p, SEGMENT_MAGIC, 8) != 0 ||
        le_get32(p + 8) != SEGMENT_VERSION ||
        le_get32(p + 12) != SEGMENT_HEADER_SIZE ||
        le_get32(p + 28) != crc32c(0, p, 28))
        return ERR_CORRUPT;
    *base = le_get64(p + 16);
    return 0;
}

size_t segment_headers_size(const struct segment_hdr *hdrs, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += 2 + hdrs[i].field_len + 4 + hdrs[i].value_len;
    return s;
}

void segment_headers_encode(const struct segment_hdr *hdrs, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        le_put16(out, (uint16_t)hdrs[i].field_len);
        memcpy(out + 2, hdrs[i].field, hdrs[i].field_len);
        out += 2 + hdrs[i].field_len;
        le_put32(out, (uint32_t)hdrs[i].value_len);
        memcpy(out + 4, hdrs[i].value, hdrs[i].value_len);
        out += 4 + hdrs[i].value_len;
    }
}

/* Returns 1 and advances *at if a whole pair starts at *at. */
static int hdr_at(const char *block, size_t len, size_t *at, struct segment_hdr *h)
{
    const uint8_t *p = (const uint8_t *)block;
    size_t o = *at;
    if (len - o < 2)
        return 0;
    size_t fl = le_get16(p + o);
    if (len - o - 2 < fl + 4)
        return 0;
    size_t vl = le_get32(p + o + 2 + fl);
    if (len - o - 6 - fl < vl)
        return 0;
    h->field = block + o + 2;
    h->field_len = fl;
    h->value = block + o + 6 + fl;
    h->value_len = vl;
    *at = o + 6 + fl + vl;
    return 1;
}

int segment_headers_next(const char *block, size_t len, size_t *at,
                         struct segment_hdr *h)
{
    if (*at >= len)
        return 0;
    return hdr_at(block, len, at, h);
}

/* Bytes of the fixed part of r's body: 40, plus 8 when its entry id's ms part
 * differs from its time, plus 16 when it has a version and previous position
 * (written after the fixed fields). */
static size_t body_fixed(const struct segment_record *r)
{
    return SEGMENT_BODY_FIXED + (r->entry_ms != r->time_ms ? 8u : 0u) +
           (r->version ? 16u : 0u);
}

size_t segment_record_size(const struct segment_record *r)
{
    return SEGMENT_FRAME_SIZE + body_fixed(r) + r->type_len + r->id_len +
           r->key_len + r->headers_len + r->payload_len;
}

void segment_record_encode(const struct segment_record *r, uint8_t *out)
{
    size_t len = segment_record_size(r) - SEGMENT_FRAME_SIZE;
    uint8_t *b = out + SEGMENT_FRAME_SIZE;
    le_put64(b, r->position);
    le_put64(b + 8, r->time_ms);
    le_put64(b + 16, r->entry_seq);
    int own_ms = r->entry_ms != r->time_ms;
    b[24] = (uint8_t)(r->kind | (own_ms ? SEGMENT_KIND_ENTRY_MS : 0u) |
                      (r->version ? SEGMENT_KIND_VERSION : 0u));
    b[25] = (uint8_t)r->type_len;
    le_put16(b + 26, (uint16_t)r->id_len);
    le_put16(b + 28, (uint16_t)r->key_len);
    le_put16(b + 30, (uint16_t)r->nheaders);
    le_put32(b + 32, (uint32_t)r->headers_len);
    le_put32(b + 36, (uint32_t)r->payload_len);
    if (own_ms)
        le_put64(b + SEGMENT_BODY_FIXED, r->entry_ms);
    if (r->version) {
        le_put64(b + SEGMENT_BODY_FIXED + (own_ms ? 8u : 0u), r->version);
        le_put64(b + SEGMENT_BODY_FIXED + (own_ms ? 16u : 8u), r->prev);
    }
    uint8_t *v = b + body_fixed(r);
#define PUT(ptr, n)                                                            \
    do {                                                                       \
        if (n)                                                                 \
            memcpy(v, ptr, n);                                                 \
        v += n;                                                                \
    } while (0)
    PUT(r->type, r->type_len);
    PUT(r->id, r->id_len);
    PUT(r->key, r->key_len);
    PUT(r->headers, r->headers_len);
    PUT(r->payload, r->payload_len);
#undef PUT
    le_put32(out, (uint32_t)len);
    uint32_t crc = crc32c(0, out, 4);
    le_put32(out + 4, crc32c(crc, b, len));
}

int segment_record_peek(const uint8_t *p, size_t n, uint64_t *position,
                        size_t *used)
{
    *used = SEGMENT_FRAME_SIZE;
    if (n < SEGMENT_FRAME_SIZE + 8)
        return SEGMENT_NEED_MORE;
    uint32_t len = le_get32(p);
    if (len < SEGMENT_BODY_FIXED + 1 || len > SEGMENT_MAX_BODY)
        return ERR_CORRUPT;
    *used = SEGMENT_FRAME_SIZE + (size_t)len;
    *position = le_get64(p + SEGMENT_FRAME_SIZE);
    return 0;
}

int segment_record_decode(const uint8_t *p, size_t n, struct segment_record *r,
                          size_t *used)
{
    *used = SEGMENT_FRAME_SIZE;
    if (n < SEGMENT_FRAME_SIZE)
        return SEGMENT_NEED_MORE;
    uint32_t len = le_get32(p);
    if (len < SEGMENT_BODY_FIXED + 1 || len > SEGMENT_MAX_BODY)
        return ERR_CORRUPT;
    *used = SEGMENT_FRAME_SIZE + (size_t)len;
    if (n < *used)
        return SEGMENT_NEED_MORE;
    uint32_t crc = crc32c(0, p, 4);
    const uint8_t *b = p + SEGMENT_FRAME_SIZE;
    if (crc32c(crc, b, len) != le_get32(p + 4))
        return ERR_CORRUPT;
    r->position = le_get64(b);
    r->time_ms = le_get64(b + 8);
    r->entry_seq = le_get64(b + 16);
    r->kind = b[24] & ~(SEGMENT_KIND_ENTRY_MS | SEGMENT_KIND_VERSION);
    size_t fixed = SEGMENT_BODY_FIXED;
    r->entry_ms = r->time_ms;
    r->version = r->prev = 0;
    if (b[24] & SEGMENT_KIND_ENTRY_MS) {
        if (len < fixed + 8 + 1)
            return ERR_CORRUPT;
        r->entry_ms = le_get64(b + fixed);
        fixed += 8;
        if (r->entry_ms == r->time_ms)
            return ERR_CORRUPT; /* never written that way */
    }
    if (b[24] & SEGMENT_KIND_VERSION) {
        if (len < fixed + 16 + 1)
            return ERR_CORRUPT;
        r->version = le_get64(b + fixed);
        r->prev = le_get64(b + fixed + 8);
        fixed += 16;
        if (r->version == 0 || r->prev >= r->position ||
            (r->version == 1) != (r->prev == 0))
            return ERR_CORRUPT; /* never written that way */
    }
    r->type_len = b[25];
    r->id_len = le_get16(b + 26);
    r->key_len = le_get16(b + 28);
    r->nheaders = le_get16(b + 30);
    r->headers_len = le_get32(b + 32);
    r->payload_len = le_get32(b + 36);
    uint64_t total = (uint64_t)fixed + r->type_len + r->id_len +
                     r->key_len + r->headers_len + r->payload_len;
    if (total != len || r->type_len == 0 || r->kind > SEGMENT_KIND_COMMAND ||
        (r->version && !r->key_len))
        return ERR_CORRUPT;
    const char *v = (const char *)b + fixed;
    r->type = v;
    v += r->type_len;
    r->id = v;
    v += r->id_len;
    r->key = v;
    v += r->key_len;
    r->headers = v;
    v += r->headers_len;
    r->payload = v;
    /* the headers block must hold exactly nheaders pairs */
    size_t at = 0;
    struct segment_hdr h;
    for (unsigned i = 0; i < r->nheaders; i++)
        if (!hdr_at(r->headers, r->headers_len, &at, &h))
            return ERR_CORRUPT;
    if (at != r->headers_len)
        return ERR_CORRUPT;
    return 0;
}
