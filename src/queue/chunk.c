#include "chunk.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/evp.h>

#include "errors.h"

int64_t chunk_hash(const void *id, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* EVP_Digest only fails on allocation failure or a missing MD5 provider;
     * neither is recoverable here, and a silent wrong bucket would be worse. */
    if (EVP_Digest(id, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16)
        abort();
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | md[i];
    /* bit(64)::bigint reinterprets the bits as two's complement; memcpy-free
     * conversion that is well defined for every value. */
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;
}

int chunk_bucket_of_hash(int64_t h, uint32_t buckets, uint32_t *out)
{
    if (buckets == 0)
        return ERR_INVAL;
    if (h == INT64_MIN)
        return ERR_LIMIT; /* PostgreSQL: abs() -> "bigint out of range" */
    uint64_t a = h < 0 ? (uint64_t)(-h) : (uint64_t)h;
    *out = (uint32_t)(a % buckets);
    return 0;
}

int chunk_bucket(const void *id, size_t len, uint32_t buckets, uint32_t *out)
{
    return chunk_bucket_of_hash(chunk_hash(id, len), buckets, out);
}

uint32_t chunk_plan_count(uint64_t total, uint32_t buckets, uint64_t target)
{
    if (buckets == 0)
        return 0;
    if (target == 0)
        target = 1;
    uint64_t n = total / target + (total % target != 0);
    if (n < 1)
        n = 1;
    if (n > buckets)
        n = buckets;
    return (uint32_t)n;
}

struct chunk_range chunk_plan_item(uint32_t i, uint32_t count, uint32_t buckets)
{
    struct chunk_range r;
    r.lo = (uint32_t)((uint64_t)i * buckets / count);
    r.hi = (uint32_t)((uint64_t)(i + 1) * buckets / count - 1);
    return r;
}

/* A whole decimal number in [1, max]; 0 on success. */
static int parse_count(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20 || p[0] == '0')
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int chunk_parse_option(const char *word, size_t wlen, const char *val,
                       size_t vlen, uint32_t *buckets, uint64_t *target,
                       char *err, size_t errlen)
{
    uint64_t v;
    if (wlen == 7 && strncasecmp(word, "buckets", 7) == 0) {
        if (parse_count(val, vlen, CHUNK_BUCKETS_MAX, &v) < 0) {
            snprintf(err, errlen, "ERR BUCKETS must be 1..%u",
                     CHUNK_BUCKETS_MAX);
            return -1;
        }
        *buckets = (uint32_t)v;
        return 1;
    }
    if (target && wlen == 6 && strncasecmp(word, "target", 6) == 0) {
        if (parse_count(val, vlen, UINT64_MAX, &v) < 0) {
            snprintf(err, errlen,
                     "ERR TARGET must be a positive whole number of rows");
            return -1;
        }
        *target = v;
        return 1;
    }
    return 0;
}
