/* thrift_read.h - a decoder for the Thrift compact protocol, as Parquet
 * metadata (FileMetaData, PageHeader) is written.
 *
 * A cursor over a caller's bytes: read a struct's field headers one by one,
 * read the values of the fields the caller knows, skip the others (any type,
 * nested structs, lists, sets, maps). Every read is bounds-checked against the
 * end of the bytes and nesting is limited to THRIFT_READ_MAX_DEPTH, so hostile
 * input gives an error, never a read past the end or a deep recursion.
 *
 * Not an encoder, not a generic Thrift library (no binary protocol, no IDL,
 * no allocation: strings point into the caller's bytes). */
#ifndef TINCAN_THRIFT_READ_H
#define TINCAN_THRIFT_READ_H

#include <stddef.h>
#include <stdint.h>

#define THRIFT_READ_MAX_DEPTH 32 /* nested structs/containers */

/* Compact protocol type ids (the low nibble of a field header). */
enum thrift_type {
    THRIFT_STOP = 0,
    THRIFT_TRUE = 1, /* a bool field's value is its type: TRUE or FALSE */
    THRIFT_FALSE = 2,
    THRIFT_I8 = 3,
    THRIFT_I16 = 4,
    THRIFT_I32 = 5,
    THRIFT_I64 = 6,
    THRIFT_DOUBLE = 7,
    THRIFT_BINARY = 8,
    THRIFT_LIST = 9,
    THRIFT_SET = 10,
    THRIFT_MAP = 11,
    THRIFT_STRUCT = 12,
};

struct thrift_read {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
    int depth;          /* structs/containers entered, for the skip limit */
};

/* A struct being read: remembers the last field id (ids are delta-coded). */
struct thrift_struct {
    int16_t last_id; /* id of the previous field, 0 at the start */
};

void thrift_read_init(struct thrift_read *r, const void *p, size_t n);

/* The next field header of struct s. 0 with *id and *type set, 1 at the
 * struct's STOP, or ERR_CORRUPT with err filled. A bool field's value is in
 * *type (THRIFT_TRUE / THRIFT_FALSE). */
int thrift_read_field(struct thrift_read *r, struct thrift_struct *s,
                      int16_t *id, int *type, char *err, size_t errlen);

/* Values. Each returns 0 or ERR_CORRUPT (truncated, overlong varint, a value
 * out of the type's range) with err filled. */
int thrift_read_varint(struct thrift_read *r, uint64_t *v, char *err,
                       size_t errlen);
int thrift_read_i64(struct thrift_read *r, int64_t *v, char *err,
                    size_t errlen);
int thrift_read_i32(struct thrift_read *r, int32_t *v, char *err,
                    size_t errlen);
/* A binary/string: *p points into the input (not NUL-terminated), *n bytes. */
int thrift_read_binary(struct thrift_read *r, const uint8_t **p, size_t *n,
                       char *err, size_t errlen);
/* A list or set header: element type and count. The count is checked to be at
 * most the bytes left (every element takes at least one byte, bools included),
 * so a caller may allocate count elements. */
int thrift_read_list(struct thrift_read *r, int *elem_type, size_t *count,
                     char *err, size_t errlen);

/* Reads a field's value as an i32 whatever its integer type (I8/I16/I32);
 * ERR_CORRUPT for another type. For enums and counts of Parquet metadata. */
int thrift_read_int_field(struct thrift_read *r, int type, int32_t *v,
                          char *err, size_t errlen);
/* Same for an i64 field (I8..I64). */
int thrift_read_long_field(struct thrift_read *r, int type, int64_t *v,
                           char *err, size_t errlen);

/* Skips one value of type (a field's value, or a list element: in a list a
 * bool is one byte). 0 or ERR_CORRUPT (also for nesting deeper than
 * THRIFT_READ_MAX_DEPTH). */
int thrift_read_skip(struct thrift_read *r, int type, char *err, size_t errlen);

/* Struct nesting: call enter before reading a nested struct's fields and
 * leave after its STOP; enter fails past THRIFT_READ_MAX_DEPTH. */
int thrift_read_enter(struct thrift_read *r, char *err, size_t errlen);
void thrift_read_leave(struct thrift_read *r);

/* Bytes consumed since p (for a caller that needs a header's length). */
static inline size_t thrift_read_used(const struct thrift_read *r,
                                      const void *start)
{
    return (size_t)(r->p - (const uint8_t *)start);
}

#endif
