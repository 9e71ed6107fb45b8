/* chunk.h - coordination-free chunking of a big query into bucket ranges.
 *
 * Every row id belongs to one of N buckets (default 1000) by the hash that
 * PostgreSQL computes in a functional index:
 *
 *     mod(abs(('x'||substr(md5(id::text),1,16))::bit(64)::bigint), N)
 *
 * i.e. the first 8 bytes of the MD5 of the id's text, read big-endian as a
 * two's complement int64, made non-negative with abs(), reduced mod N. A plan
 * splits the N buckets into contiguous ranges [lo, hi] sized so that each range
 * holds about `target` rows; workers each take one range and query
 * `... WHERE <expr> BETWEEN lo AND hi`. Ranges cover every bucket exactly once.
 *
 * Sign handling: PostgreSQL's abs(bigint) raises "bigint out of range" for
 * INT64_MIN (hash bytes 80 00 00 00 00 00 00 00), so the SQL expression fails for
 * such an id; chunk_bucket() fails with ERR_LIMIT for it too rather than invent
 * a bucket PostgreSQL would never compute. (No such id is known: it needs a
 * 64-bit MD5 prefix preimage.)
 *
 * Pure functions: no I/O, no state, no allocation. This module does not know
 * about queues, commands or PostgreSQL connections. */
#ifndef TINCAN_CHUNK_H
#define TINCAN_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_BUCKETS_DEFAULT 1000u
#define CHUNK_BUCKETS_MAX 1000000u    /* buckets of one plan */
#define CHUNK_TARGET_DEFAULT 10000u   /* rows per planned item */

/* A planned item: buckets lo..hi inclusive. */
struct chunk_range {
    uint32_t lo; /* first bucket */
    uint32_t hi; /* last bucket, >= lo */
};

/* The signed 64-bit value ('x'||substr(md5(id),1,16))::bit(64)::bigint of the
 * id's bytes (its text as PostgreSQL prints it, UTF-8). */
int64_t chunk_hash(const void *id, size_t len);

/* mod(abs(h), buckets) exactly as PostgreSQL computes it. Returns 0 with *out
 * set, ERR_INVAL if buckets is 0, ERR_LIMIT if h is INT64_MIN (PostgreSQL:
 * "bigint out of range"). */
int chunk_bucket_of_hash(int64_t h, uint32_t buckets, uint32_t *out);

/* The bucket of an id: chunk_bucket_of_hash(chunk_hash(id, len), ...). */
int chunk_bucket(const void *id, size_t len, uint32_t buckets, uint32_t *out);

/* How many items a plan of `total` rows over `buckets` buckets has with about
 * `target` rows per item: ceil(total / target) clamped to [1, buckets] (an empty
 * table still gets one item, so rows inserted meanwhile are not orphaned).
 * buckets and target must be >= 1. */
uint32_t chunk_plan_count(uint64_t total, uint32_t buckets, uint64_t target);

/* Item i (0 <= i < count) of a plan of count items over buckets buckets: the
 * buckets are split as evenly as possible, in order, so items 0..count-1
 * together cover 0..buckets-1 exactly once. count must be in [1, buckets]. */
struct chunk_range chunk_plan_item(uint32_t i, uint32_t count, uint32_t buckets);

/* The options shared by CHUNK.BUCKET, CHUNK.PLAN and CHUNK.ENQUEUE: if
 * word is BUCKETS (or TARGET, when target is not NULL), any case, parses val
 * into *buckets / *target and returns 1, or returns -1 with a message in err
 * ("ERR BUCKETS must be 1..1000000"). Returns 0 if word is neither. */
int chunk_parse_option(const char *word, size_t wlen, const char *val,
                       size_t vlen, uint32_t *buckets, uint64_t *target,
                       char *err, size_t errlen);

#endif
