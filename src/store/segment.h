/* segment.h - the bytes of a segment file: header and framed records.
 *
 * A segment is one append-only file holding events with consecutive-or-rising
 * positions. It starts with a 32-byte header and then holds records, each
 * framed by its body length and a CRC32C. Segments are named after the first
 * position they may hold ("00000000000000000001.seg") and are never rewritten
 * once sealed. All integers are little-endian.
 *
 *   file header (32 bytes)
 *   +--------+--------+--------+--------+--------+--------+--------+
 *   | magic "TINCANSG" (8) | version u32 | hdr len u32 (=32) |
 *   | base position u64    | reserved u32 (0) | crc32c u32 of bytes 0..27 |
 *
 *   record = frame (8) + body (len bytes)
 *   +-------------+-------------------------------------------+
 *   | len u32     | crc u32 = crc32c(len bytes || body)        |
 *   +-------------+-------------------------------------------+
 *   body:
 *     0  position u64      8  time_ms u64      16 entry_seq u64
 *     24 kind u8           25 type_len u8      26 id_len u16
 *     28 key_len u16       30 nheaders u16     32 headers_len u32
 *     36 payload_len u32   40 [entry_ms u64] type | id | key | headers | payload
 *   kind's top bit (SEGMENT_KIND_ENTRY_MS) says entry_ms is there: the ms part
 *   of the entry id when it is not time_ms (a Redis stream entry added with an
 *   explicit or future ID); without it the entry id is <time_ms>-<entry_seq>.
 *   The next bit (SEGMENT_KIND_VERSION) says two u64 follow (after entry_ms
 *   when both are there): the event's version within its key (1, 2, ...) and
 *   the position of the key's previous event (0 for its first), on every
 *   keyed event the store has written since keys got versions. The previous
 *   positions chain each key's events, newest to oldest.
 *   headers block: nheaders x (field_len u16, field, value_len u32, value)
 *
 * A len of 0 never occurs in a valid record, so a zero-filled tail never
 * decodes. This module only encodes and decodes bytes in memory: no I/O, no
 * indexes, no positions policy (that is store). */
#ifndef TINCAN_SEGMENT_H
#define TINCAN_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define SEGMENT_MAGIC "TINCANSG"
#define SEGMENT_VERSION 1u
#define SEGMENT_HEADER_SIZE 32u
#define SEGMENT_FRAME_SIZE 8u
#define SEGMENT_BODY_FIXED 40u
#define SEGMENT_MAX_BODY (256u << 20) /* bytes; larger len = corrupt */
#define SEGMENT_MIN_RECORD (SEGMENT_FRAME_SIZE + SEGMENT_BODY_FIXED + 1)

enum segment_kind { SEGMENT_KIND_EVENT = 0, SEGMENT_KIND_COMMAND = 1 };
#define SEGMENT_KIND_ENTRY_MS 0x80u /* flag in the kind byte, never in r->kind */
#define SEGMENT_KIND_VERSION 0x40u  /* flag in the kind byte, never in r->kind */

/* One header field/value pair (pointers borrowed). */
struct segment_hdr {
    const char *field;
    size_t field_len;
    const char *value;
    size_t value_len;
};

/* A decoded record; every pointer points into the buffer it was decoded from
 * (or, for encoding, into the caller's memory). */
struct segment_record {
    uint64_t position;  /* global, strictly increasing */
    uint64_t time_ms;   /* ms since epoch, server clock, non-decreasing */
    uint64_t entry_ms;  /* entry id is <entry_ms>-<entry_seq> within the type; */
    uint64_t entry_seq; /* entry_ms is time_ms unless a stream said otherwise */
    unsigned kind;      /* enum segment_kind */
    uint64_t version;   /* within the key: 1, 2, ...; 0 = none (no key, or
                           written before keys had versions) */
    uint64_t prev;      /* with a version: the key's previous event, 0 = none */
    const char *type;
    size_t type_len;    /* 1..255 */
    const char *id;
    size_t id_len;      /* 0 = server-generated id (derived from position) */
    const char *key;
    size_t key_len;     /* 0 = no key */
    const char *headers; /* encoded headers block (see above) */
    size_t headers_len;
    unsigned nheaders;
    const char *payload;
    size_t payload_len;
};

/* decode results besides 0 and ERR_CORRUPT */
#define SEGMENT_NEED_MORE 1

void segment_header_encode(uint8_t out[SEGMENT_HEADER_SIZE], uint64_t base);
/* 0 and *base, or ERR_CORRUPT (bad magic, version or crc). */
int segment_header_decode(const uint8_t *p, size_t n, uint64_t *base);

/* Bytes the encoded headers block of hdrs takes. */
size_t segment_headers_size(const struct segment_hdr *hdrs, size_t n);
/* Encodes hdrs into out (segment_headers_size bytes). */
void segment_headers_encode(const struct segment_hdr *hdrs, size_t n, uint8_t *out);
/* Iterates a headers block: *at starts at 0; fills h and returns 1, or 0 at
 * the end. The block must have been validated (decode does that). */
int segment_headers_next(const char *block, size_t len, size_t *at,
                         struct segment_hdr *h);

/* Framed size (frame + body) of r; r->headers must already be encoded. */
size_t segment_record_size(const struct segment_record *r);
/* Writes frame + body of r into out (segment_record_size bytes). */
void segment_record_encode(const struct segment_record *r, uint8_t *out);
/* Decodes one record from p[0..n): 0 with *used = its framed size;
 * SEGMENT_NEED_MORE (with *used = the framed size if the frame was readable,
 * else SEGMENT_FRAME_SIZE) when n is too short; ERR_CORRUPT when the len is 0
 * or too big, the crc does not match or the fields do not add up. */
int segment_record_decode(const uint8_t *p, size_t n, struct segment_record *r,
                          size_t *used);
/* The position and framed size of the record at p, from its frame and first
 * body bytes only, with no checksum: for stepping over records on the way to
 * one that is then decoded (whose checksum and position check the step). 0,
 * SEGMENT_NEED_MORE or ERR_CORRUPT (a len that cannot be) as decode. */
int segment_record_peek(const uint8_t *p, size_t n, uint64_t *position,
                        size_t *used);

#endif
