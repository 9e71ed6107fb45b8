/* pbschema.c - Protobuf payload validation against a FileDescriptorSet (see
 * pbschema.h; the rules are in docs/contracts.md, "Protobuf").
 *
 * Compile: protobuf-c unpacks the FileDescriptorSet (after a bounded walk
 * checks that it does not nest deeper than protobuf-c's recursion should
 * go); every message and enum of every file gets its full name (".pkg.Outer.
 * Inner") in one sorted index; then, starting from the wanted message, each
 * reachable message becomes a struct pb_msg: its fields sorted by number,
 * each with the wire type its type implies, what check its value needs, and
 * the pb_msg or pb_enum it refers to, plus a dense number -> field table
 * when the numbers are small. The root is a copy of its message with the
 * envelope fields added to its required set (the message itself may recur
 * nested, where the envelope does not apply). Everything lives in one arena
 * that pbschema_free releases at once; protobuf-c's tree is freed before
 * compile returns.
 *
 * Validate: one recursive pass over the payload (depth <= PBSCHEMA_MAX_DEPTH),
 * a bitmap of required fields seen per message on the stack. On the failure
 * path only, each level records which field (and, for repeated fields, which
 * element, counted by re-reading the already checked bytes before it) it was
 * in, so the error names a path like "items[1].price". */
#include "pbschema.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "google/protobuf/descriptor.pb-c.h"

/* Wire types. */
enum {
    WT_VARINT = 0,
    WT_I64 = 1,
    WT_LEN = 2,
    WT_SGROUP = 3,
    WT_EGROUP = 4,
    WT_I32 = 5
};
/* Labels, as descriptor.proto numbers them. */
enum { LABEL_OPTIONAL = 1, LABEL_REQUIRED = 2, LABEL_REPEATED = 3 };
/* Types, as descriptor.proto numbers them (only those we name). */
enum {
    TYPE_BOOL = 8,
    TYPE_STRING = 9,
    TYPE_GROUP = 10,
    TYPE_MESSAGE = 11,
    TYPE_BYTES = 12,
    TYPE_ENUM = 14,
};
/* What a field's value needs checked beyond its wire type. */
enum {
    K_NONE,  /* any value of the wire type (ints, floats, bytes, open enums) */
    K_BOOL,  /* varint 0 or 1 */
    K_ENUM,  /* varint, a value of a closed enum */
    K_UTF8,  /* length-delimited, valid UTF-8 (proto3 string) */
    K_MSG,   /* length-delimited, a message */
    K_GROUP, /* start group ... end group, a message */
};

#define MAX_FIELD_NUMBER 536870911u /* 2^29 - 1 */
#define REQ_WORDS        (PBSCHEMA_MAX_REQUIRED / 64)
#define DENSE_MAX        1024u /* field numbers below this always get a table */
#define FDS_MAX_DEPTH    100   /* nesting of the FileDescriptorSet itself */

static const struct {
    const char *name;
    uint8_t wire;
    uint8_t packable; /* repeated fields of it may be packed */
} TYPES[19] = {
    [1] = {"double", WT_I64, 1},     [2] = {"float", WT_I32, 1},
    [3] = {"int64", WT_VARINT, 1},   [4] = {"uint64", WT_VARINT, 1},
    [5] = {"int32", WT_VARINT, 1},   [6] = {"fixed64", WT_I64, 1},
    [7] = {"fixed32", WT_I32, 1},    [8] = {"bool", WT_VARINT, 1},
    [9] = {"string", WT_LEN, 0},     [10] = {"group", WT_SGROUP, 0},
    [11] = {"message", WT_LEN, 0},   [12] = {"bytes", WT_LEN, 0},
    [13] = {"uint32", WT_VARINT, 1}, [14] = {"enum", WT_VARINT, 1},
    [15] = {"sfixed32", WT_I32, 1},  [16] = {"sfixed64", WT_I64, 1},
    [17] = {"sint32", WT_VARINT, 1}, [18] = {"sint64", WT_VARINT, 1},
};

static const char *const WIRE_NAMES[8] = {
    "varint",    "64-bit", "length-delimited", "start group",
    "end group", "32-bit", "invalid",          "invalid",
};

static const char *const LABEL_NAMES[4] = {"?", "optional", "required",
                                           "repeated"};

struct pb_enum {
    const char *name;      /* full, no leading '.' */
    const int32_t *values; /* sorted, distinct */
    uint32_t nvalues;
    bool closed; /* proto2: a value not in values is an error */
};

struct pb_msg;

struct pb_field {
    const char *name;
    uint32_t number;
    uint8_t type;  /* descriptor.proto Type, 1..18 */
    uint8_t wire;  /* the wire type the type implies */
    uint8_t label; /* LABEL_* */
    uint8_t kind;  /* K_*: the value check */
    bool packable; /* repeated scalar: a length-delimited record is packed */
    int16_t req;   /* bit in the message's required set; -1 if not required */
    const struct pb_msg *msg; /* K_MSG, K_GROUP */
    const struct pb_enum *en; /* TYPE_ENUM (closed or open) */
};

struct pb_msg {
    const char *name;        /* full, no leading '.' */
    struct pb_field *fields; /* sorted by number */
    uint32_t nfields;
    const uint16_t
        *dense;      /* dense[number] = index + 1 (0: none), number < ndense */
    uint32_t ndense; /* 0: binary search over fields */
    uint32_t nreq;   /* bits used in the required set */
    bool proto3;
};

struct arena_blk {
    struct arena_blk *next;
    size_t used, cap; /* bytes */
    max_align_t data[];
};

struct pbschema {
    struct arena_blk *arena;
    const struct pb_msg
        *root;        /* the message with the envelope in its required set */
    const char **env; /* envelope field names */
    const uint32_t *env_num; /* their numbers */
    size_t nenv;
};

/* ---- arena ---- */

static void *arena_alloc(struct pbschema *s, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
        sizeof(max_align_t);
    struct arena_blk *b = s->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        b = xmalloc(sizeof(*b) + cap);
        b->next = s->arena;
        b->used = 0;
        b->cap = cap;
        s->arena = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static void *arena_zalloc(struct pbschema *s, size_t n)
{
    void *p = arena_alloc(s, n ? n : 1);
    memset(p, 0, n ? n : 1);
    return p;
}

static char *arena_strdup(struct pbschema *s, const char *str)
{
    size_t n = strlen(str) + 1;
    char *p = arena_alloc(s, n);
    memcpy(p, str, n);
    return p;
}

void pbschema_free(struct pbschema *s)
{
    if (!s)
        return;
    struct arena_blk *b = s->arena;
    while (b) {
        struct arena_blk *next = b->next;
        free(b);
        b = next;
    }
    free(s);
}

const char *pbschema_message(const struct pbschema *s)
{
    return s->root->name;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- wire primitives ---- */

/* pbschema_varint, inlined into the validation loop. */
static inline int varint(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == n)
            return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return -1; /* a continuation bit, or bits past 64 */
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return (int)i + 1;
        }
    }
    return -1; /* not reached: the 10th byte returned above */
}

int pbschema_varint(const uint8_t *p, size_t n, uint64_t *v)
{
    return varint(p, n, v);
}

/* Offset of the first byte of p[0..n) that is not part of valid UTF-8 (no
 * overlong forms, no surrogates, nothing above U+10FFFF), or n. */
static size_t utf8_bad(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf; /* bounds of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return i;
        }
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
        i += len;
    }
    return n;
}

/* ---- validation ---- */

struct seg {
    const struct pb_field *f;
    uint32_t index; /* element of a repeated field */
};

enum { FAIL_FIELD, FAIL_NUM, FAIL_PLAIN, FAIL_MISSING };

struct vctx {
    const uint8_t *base; /* payload start: byte offsets count from here */
    int kind;            /* FAIL_* */
    int depth;           /* segs[0..depth) hold the enclosing fields */
    uint32_t num;        /* FAIL_NUM: the field number */
    struct seg leaf;     /* FAIL_FIELD, FAIL_MISSING */
    struct seg segs[PBSCHEMA_MAX_DEPTH + 1];
    char what[192];
};

static size_t at(const struct vctx *c, const uint8_t *p)
{
    return (size_t)(p - c->base);
}

static int vfail(struct vctx *c, int kind, int depth, const struct pb_field *f,
                 uint32_t index, uint32_t num, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static int vfail(struct vctx *c, int kind, int depth, const struct pb_field *f,
                 uint32_t index, uint32_t num, const char *fmt, ...)
{
    c->kind = kind;
    c->depth = depth;
    c->leaf.f = f;
    c->leaf.index = index;
    c->num = num;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof(c->what), fmt, ap);
    va_end(ap);
    return -1;
}

static inline const struct pb_field *lookup(const struct pb_msg *m,
                                            uint32_t num)
{
    if (num < m->ndense) {
        uint16_t i = m->dense[num];
        return i ? &m->fields[i - 1] : NULL;
    }
    if (m->ndense)
        return NULL; /* the table covers every declared number */
    uint32_t lo = 0, hi = m->nfields;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t n = m->fields[mid].number;
        if (n == num)
            return &m->fields[mid];
        if (n < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Reads a tag at *pp (p < end): 0 with *num and *wt set, else -1 with the
 * problem in c (FAIL_PLAIN at depth). */
static int read_tag(struct vctx *c, int depth, const uint8_t **pp,
                    const uint8_t *end, uint32_t *num, unsigned *wt)
{
    const uint8_t *p = *pp;
    uint64_t tag;
    if (*p < 0x80) {
        tag = *p++;
    } else {
        int k = varint(p, (size_t)(end - p), &tag);
        if (k <= 0)
            return vfail(c, FAIL_PLAIN, depth, NULL, 0, 0, "%s tag at byte %zu",
                         k == 0 ? "truncated" : "overlong", at(c, p));
        p += k;
    }
    if (tag > UINT32_MAX)
        return vfail(c, FAIL_PLAIN, depth, NULL, 0, 0,
                     "tag at byte %zu does not fit 32 bits", at(c, *pp));
    if ((tag >> 3) == 0)
        return vfail(c, FAIL_PLAIN, depth, NULL, 0, 0,
                     "field number 0 at byte %zu", at(c, *pp));
    *num = (uint32_t)(tag >> 3);
    *wt = (unsigned)(tag & 7);
    *pp = p;
    return 0;
}

/* Reads a varint of bytes already checked: past it, or end (v = 0) if it
 * were bad after all, so the re-reading below can never go backwards. */
static const uint8_t *take(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    int k = varint(p, (size_t)(end - p), v);
    if (k <= 0) {
        *v = 0;
        return end;
    }
    return p + k;
}

/* p + n, at most end. */
static const uint8_t *ahead(const uint8_t *p, const uint8_t *end, uint64_t n)
{
    return n > (uint64_t)(end - p) ? end : p + n;
}

/* Skips the value of wire type wt at p (a group: its contents up to and past
 * its end tag), in bytes already checked by check_msg. */
static const uint8_t *skip_checked(const uint8_t *p, const uint8_t *end,
                                   unsigned wt)
{
    uint64_t v;
    int open = wt == WT_SGROUP;
    for (;;) {
        switch (wt) {
        case WT_VARINT:
            p = take(p, end, &v);
            break;
        case WT_I64:
            p = ahead(p, end, 8);
            break;
        case WT_I32:
            p = ahead(p, end, 4);
            break;
        case WT_LEN:
            p = take(p, end, &v);
            p = ahead(p, end, v);
            break;
        default:
            break; /* group tags: counted below */
        }
        if (open == 0 || p >= end)
            return p;
        p = take(p, end, &v);
        wt = (unsigned)(v & 7);
        if (wt == WT_SGROUP)
            open++;
        else if (wt == WT_EGROUP)
            open--;
    }
}

/* The number of elements of field f in the checked bytes [start, stop): the
 * index the element at stop has. Packed records count their elements. */
static uint32_t count_before(const struct pb_field *f, const uint8_t *start,
                             const uint8_t *stop)
{
    uint32_t count = 0;
    const uint8_t *p = start;
    while (p < stop) {
        uint64_t tag, len;
        p = take(p, stop, &tag);
        unsigned wt = (unsigned)(tag & 7);
        if ((tag >> 3) != f->number) {
            p = skip_checked(p, stop, wt);
            continue;
        }
        if (wt == WT_LEN && f->packable) {
            const uint8_t *q = take(p, stop, &len);
            p = ahead(q, stop, len);
            if (f->wire == WT_I32)
                count += (uint32_t)((size_t)(p - q) / 4);
            else if (f->wire == WT_I64)
                count += (uint32_t)((size_t)(p - q) / 8);
            else
                for (const uint8_t *x = q; x < p; x++)
                    count += *x < 0x80;
        } else {
            count++;
            p = skip_checked(p, stop, wt);
        }
    }
    return count;
}

/* The index to show for field f at tagp in a message starting at start. */
static uint32_t elem_index(const struct pb_field *f, const uint8_t *start,
                           const uint8_t *tagp)
{
    return f->label == LABEL_REPEATED ? count_before(f, start, tagp) : 0;
}

/* Checks one scalar varint value v of f (bool range, closed enum). */
static int check_varint_value(const struct pb_field *f, uint64_t v,
                              const char **why)
{
    if (f->kind == K_BOOL && v > 1) {
        *why = "bool";
        return -1;
    }
    if (f->kind == K_ENUM) {
        int32_t e = (int32_t)(uint32_t)v;
        const struct pb_enum *en = f->en;
        uint32_t lo = 0, hi = en->nvalues;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (en->values[mid] == e)
                return 0;
            if (en->values[mid] < e)
                lo = mid + 1;
            else
                hi = mid;
        }
        *why = "enum";
        return -1;
    }
    return 0;
}

static int value_fail(struct vctx *c, int depth, const struct pb_field *f,
                      uint32_t index, const char *why, uint64_t v,
                      const uint8_t *p)
{
    if (why[0] == 'b')
        return vfail(c, FAIL_FIELD, depth, f, index, 0,
                     "bool value %" PRIu64 " at byte %zu (wants 0 or 1)", v,
                     at(c, p));
    return vfail(c, FAIL_FIELD, depth, f, index, 0,
                 "value %" PRId32 " at byte %zu is not in closed enum %s",
                 (int32_t)(uint32_t)v, at(c, p), f->en->name);
}

/* A packed record p[0..e) of repeated scalar f. */
static int check_packed(struct vctx *c, int depth, const struct pb_field *f,
                        const uint8_t *mstart, const uint8_t *tagp,
                        const uint8_t *p, const uint8_t *e)
{
    size_t len = (size_t)(e - p);
    if (f->wire == WT_I32 || f->wire == WT_I64) {
        size_t w = f->wire == WT_I32 ? 4 : 8;
        if (len % w)
            return vfail(c, FAIL_FIELD, depth, f, count_before(f, mstart, tagp),
                         0,
                         "packed %s record of %zu bytes at byte %zu is not a "
                         "multiple of %zu",
                         TYPES[f->type].name, len, at(c, p), w);
        return 0;
    }
    uint32_t i = 0;
    while (p < e) {
        uint64_t v;
        const uint8_t *vp = p;
        if (*p < 0x80) {
            v = *p++;
        } else {
            int k = varint(p, (size_t)(e - p), &v);
            if (k <= 0)
                return vfail(c, FAIL_FIELD, depth, f,
                             count_before(f, mstart, tagp) + i, 0,
                             "%s varint in packed record at byte %zu",
                             k == 0 ? "truncated" : "overlong", at(c, p));
            p += k;
        }
        const char *why;
        if (f->kind != K_NONE && check_varint_value(f, v, &why) < 0)
            return value_fail(c, depth, f, count_before(f, mstart, tagp) + i,
                              why, v, vp);
        i++;
    }
    return 0;
}

static int check_msg(struct vctx *c, const struct pb_msg *m, const uint8_t *p,
                     const uint8_t *end, int depth, uint32_t group,
                     const uint8_t **group_end);

/* A nested message or group of field f starts at p; the caller's frame is at
 * depth, the tag at tagp of a message starting at mstart. */
static int nested(struct vctx *c, const struct pb_field *f,
                  const uint8_t *mstart, const uint8_t *tagp, const uint8_t *p,
                  const uint8_t *end, int depth, const uint8_t **group_end)
{
    if (depth + 1 > PBSCHEMA_MAX_DEPTH)
        return vfail(c, FAIL_FIELD, depth, f, elem_index(f, mstart, tagp), 0,
                     "nested deeper than %d messages at byte %zu",
                     PBSCHEMA_MAX_DEPTH, at(c, p));
    if (check_msg(c, f->msg, p, end, depth + 1,
                  f->kind == K_GROUP ? f->number : 0, group_end) < 0) {
        c->segs[depth].f = f;
        c->segs[depth].index = elem_index(f, mstart, tagp);
        return -1;
    }
    return 0;
}

/* Checks the message m in p[0..end) (a group: up to its end tag for field
 * number group, whose end *group_end is set). */
static int check_msg(struct vctx *c, const struct pb_msg *m, const uint8_t *p,
                     const uint8_t *end, int depth, uint32_t group,
                     const uint8_t **group_end)
{
    const uint8_t *start = p;
    uint64_t seen[REQ_WORDS];
    if (m->nreq)
        memset(seen, 0, sizeof(seen));
    while (p < end) {
        const uint8_t *tagp = p;
        uint32_t num = 0;
        unsigned wt = 0;
        if (read_tag(c, depth, &p, end, &num, &wt) < 0)
            return -1;
        if (wt == WT_EGROUP) {
            if (num == group) {
                *group_end = p;
                goto done;
            }
            return vfail(c, FAIL_NUM, depth, NULL, 0, num,
                         "end group tag at byte %zu with no open group %u",
                         at(c, tagp), num);
        }
        const struct pb_field *f = lookup(m, num);
        uint64_t v;
        int k;
        if (!f || wt != f->wire) {
            if (f && wt == WT_LEN && f->packable) {
                k = varint(p, (size_t)(end - p), &v);
                if (k <= 0)
                    return vfail(c, FAIL_FIELD, depth, f,
                                 elem_index(f, start, tagp), 0,
                                 "%s length at byte %zu",
                                 k ? "overlong" : "truncated", at(c, p));
                p += k;
                if (v > (uint64_t)(end - p))
                    return vfail(
                        c, FAIL_FIELD, depth, f, elem_index(f, start, tagp), 0,
                        "length %" PRIu64 " at byte %zu runs past the end "
                        "(%zu bytes left)",
                        v, at(c, tagp), (size_t)(end - p));
                if (check_packed(c, depth, f, start, tagp, p, p + v) < 0)
                    return -1;
                p += v;
                if (f->req >= 0)
                    seen[f->req >> 6] |= 1ull << (f->req & 63);
                continue;
            }
            if (f)
                return vfail(
                    c, FAIL_FIELD, depth, f, elem_index(f, start, tagp), 0,
                    "wire type %u (%s) at byte %zu, declared %s wants %u (%s)",
                    wt, WIRE_NAMES[wt], at(c, tagp), TYPES[f->type].name,
                    f->wire, WIRE_NAMES[f->wire]);
            /* an unknown field: skipped, but only in a form parsers skip */
            if (wt == WT_SGROUP || wt > WT_I32)
                return vfail(c, FAIL_NUM, depth, NULL, 0, num,
                             "wire type %u (%s) at byte %zu%s", wt,
                             WIRE_NAMES[wt], at(c, tagp),
                             wt == WT_SGROUP
                                 ? " but the field is not a declared group"
                                 : "");
        }
        switch (wt) {
        case WT_VARINT: {
            const uint8_t *vp = p;
            if (p < end && *p < 0x80) {
                v = *p++;
            } else {
                k = varint(p, (size_t)(end - p), &v);
                if (k <= 0) {
                    if (!f)
                        return vfail(c, FAIL_NUM, depth, NULL, 0, num,
                                     "%s varint at byte %zu",
                                     k ? "overlong" : "truncated", at(c, p));
                    return vfail(c, FAIL_FIELD, depth, f,
                                 elem_index(f, start, tagp), 0,
                                 "%s varint at byte %zu",
                                 k ? "overlong" : "truncated", at(c, p));
                }
                p += k;
            }
            const char *why;
            if (f && f->kind != K_NONE && check_varint_value(f, v, &why) < 0)
                return value_fail(c, depth, f, elem_index(f, start, tagp), why,
                                  v, vp);
            break;
        }
        case WT_I64:
        case WT_I32: {
            size_t w = wt == WT_I64 ? 8 : 4;
            if ((size_t)(end - p) < w) {
                if (!f)
                    return vfail(
                        c, FAIL_NUM, depth, NULL, 0, num,
                        "truncated at byte %zu (%zu bytes wanted, %zu left)",
                        at(c, p), w, (size_t)(end - p));
                return vfail(
                    c, FAIL_FIELD, depth, f, elem_index(f, start, tagp), 0,
                    "truncated at byte %zu (%zu bytes wanted, %zu left)",
                    at(c, p), w, (size_t)(end - p));
            }
            p += w;
            break;
        }
        case WT_LEN: {
            if (p < end && *p < 0x80) {
                v = *p;
                k = 1;
            } else {
                k = varint(p, (size_t)(end - p), &v);
            }
            if (k <= 0 || v > (uint64_t)(end - p - k)) {
                char what[96];
                if (k <= 0)
                    snprintf(what, sizeof(what), "%s length at byte %zu",
                             k ? "overlong" : "truncated", at(c, p));
                else
                    snprintf(what, sizeof(what),
                             "length %" PRIu64 " at byte %zu runs past the end "
                             "(%zu bytes left)",
                             v, at(c, tagp), (size_t)(end - p - k));
                if (!f)
                    return vfail(c, FAIL_NUM, depth, NULL, 0, num, "%s", what);
                return vfail(c, FAIL_FIELD, depth, f,
                             elem_index(f, start, tagp), 0, "%s", what);
            }
            p += k;
            if (f && f->kind == K_MSG) {
                if (nested(c, f, start, tagp, p, p + v, depth, NULL) < 0)
                    return -1;
            } else if (f && f->kind == K_UTF8) {
                size_t bad = utf8_bad(p, (size_t)v);
                if (bad < v)
                    return vfail(c, FAIL_FIELD, depth, f,
                                 elem_index(f, start, tagp), 0,
                                 "invalid UTF-8 at byte %zu (proto3 string)",
                                 at(c, p + bad));
            }
            p += v;
            break;
        }
        case WT_SGROUP: { /* only a declared group gets here */
            const uint8_t *gend = NULL;
            if (nested(c, f, start, tagp, p, end, depth, &gend) < 0)
                return -1;
            p = gend;
            break;
        }
        }
        if (f && f->req >= 0)
            seen[f->req >> 6] |= 1ull << (f->req & 63);
    }
    if (group)
        return vfail(c, FAIL_PLAIN, depth, NULL, 0, 0,
                     "group not closed before byte %zu", at(c, end));
done:
    if (m->nreq) {
        for (uint32_t i = 0; i < m->nfields; i++) {
            const struct pb_field *f = &m->fields[i];
            if (f->req >= 0 && !(seen[f->req >> 6] & (1ull << (f->req & 63))))
                return vfail(c, FAIL_MISSING, depth, f, 0, 0,
                             "is required and missing");
        }
    }
    return 0;
}

/* Appends seg's name (with [index] for repeated fields) to buf at *o. */
static void put_seg(char *buf, size_t cap, size_t *o, const struct seg *sg,
                    int dot)
{
    if (*o >= cap)
        return;
    int w;
    if (sg->f->label == LABEL_REPEATED)
        w = snprintf(buf + *o, cap - *o, "%s%s[%" PRIu32 "]", dot ? "." : "",
                     sg->f->name, sg->index);
    else
        w = snprintf(buf + *o, cap - *o, "%s%s", dot ? "." : "", sg->f->name);
    *o += w > 0 ? (size_t)w : 0;
    if (*o >= cap)
        *o = cap - 1;
}

static void report(const struct vctx *c, char *err, size_t errlen)
{
    char path[512];
    size_t o = 0;
    path[0] = '\0';
    for (int i = 0; i < c->depth; i++)
        put_seg(path, sizeof(path), &o, &c->segs[i], i > 0);
    switch (c->kind) {
    case FAIL_FIELD:
        put_seg(path, sizeof(path), &o, &c->leaf, c->depth > 0);
        seterr(err, errlen, "field %" PRIu32 " (%s): %s", c->leaf.f->number,
               path, c->what);
        break;
    case FAIL_MISSING:
        seterr(err, errlen, "field '%s' (%" PRIu32 ") %s%s%s", c->leaf.f->name,
               c->leaf.f->number, c->what, c->depth ? " in " : "", path);
        break;
    case FAIL_NUM:
        seterr(err, errlen, "field %" PRIu32 "%s%s%s: %s", c->num,
               c->depth ? " (in " : "", path, c->depth ? ")" : "", c->what);
        break;
    default:
        seterr(err, errlen, "%s%s%s%s", c->what, c->depth ? " (in " : "", path,
               c->depth ? ")" : "");
        break;
    }
}

int pbschema_validate(const struct pbschema *s, const uint8_t *payload,
                      size_t n, char *err, size_t errlen)
{
    struct vctx c;
    c.base = payload;
    static const uint8_t empty[1];
    if (!payload)
        payload = c.base = empty;
    if (check_msg(&c, s->root, payload, payload + n, 0, 0, NULL) == 0)
        return 0;
    report(&c, err, errlen);
    return -1;
}

/* ---- compile ---- */

/* Checks that the FileDescriptorSet bytes p[0..end) are walkable wire format
 * nesting no deeper than FDS_MAX_DEPTH, using protobuf-c's own tables for
 * descriptor.proto to know which fields are messages, so that protobuf-c's
 * recursive unpack never goes deep. 0 ok; -1 malformed at *bad; -2 too deep
 * at *bad. */
static int fds_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                    const uint8_t *end, int depth, const uint8_t **bad)
{
    while (p < end) {
        uint64_t tag, v;
        *bad = p;
        int k = varint(p, (size_t)(end - p), &tag);
        if (k <= 0 || tag > UINT32_MAX || (tag >> 3) == 0)
            return -1;
        p += k;
        switch (tag & 7) {
        case WT_VARINT:
            k = varint(p, (size_t)(end - p), &v);
            if (k <= 0)
                return -1;
            p += k;
            break;
        case WT_I64:
        case WT_I32: {
            size_t w = (tag & 7) == WT_I64 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return -1;
            p += w;
            break;
        }
        case WT_LEN: {
            k = varint(p, (size_t)(end - p), &v);
            if (k <= 0 || v > (uint64_t)(end - p - k))
                return -1;
            p += k;
            const ProtobufCFieldDescriptor *f =
                d ? protobuf_c_message_descriptor_get_field(
                        d, (unsigned)(tag >> 3))
                  : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 > FDS_MAX_DEPTH)
                    return -2;
                int rc = fds_walk(f->descriptor, p, p + v, depth + 1, bad);
                if (rc < 0)
                    return rc;
            }
            p += v;
            break;
        }
        default:
            return -1; /* groups: descriptor.proto has none */
        }
    }
    return 0;
}

/* One message or enum of the set, by full name. */
struct ent {
    char *name; /* ".pkg.Outer.Inner" (xmalloc'd; compile frees it) */
    const Google__Protobuf__DescriptorProto *d;     /* a message, or NULL */
    const Google__Protobuf__EnumDescriptorProto *e; /* an enum, or NULL */
    bool proto3;                                    /* its file's syntax */
    struct pb_msg *m; /* once reached: its table (filled when built) */
    struct pb_enum *en;
};

struct cctx {
    struct pbschema *s;
    struct ent *ents;
    size_t nents, cap;
    struct ent **work; /* reached messages still to build */
    size_t nwork, capwork;
    char *err;
    size_t errlen;
};

static void add_ent(struct cctx *cc, char *name,
                    const Google__Protobuf__DescriptorProto *d,
                    const Google__Protobuf__EnumDescriptorProto *e, bool proto3)
{
    if (cc->nents == cc->cap) {
        cc->cap = cc->cap ? cc->cap * 2 : 64;
        cc->ents = xrealloc(cc->ents, cc->cap * sizeof(*cc->ents));
    }
    cc->ents[cc->nents++] =
        (struct ent){.name = name, .d = d, .e = e, .proto3 = proto3};
}

static char *join(const char *scope, const char *name)
{
    size_t a = strlen(scope), b = strlen(name);
    char *r = xmalloc(a + b + 2);
    memcpy(r, scope, a);
    r[a] = '.';
    memcpy(r + a + 1, name, b + 1);
    return r;
}

/* Adds message d (named scope.name) and everything nested in it. The nesting
 * is bounded by fds_walk. */
static void collect(struct cctx *cc, const char *scope,
                    const Google__Protobuf__DescriptorProto *d, bool proto3)
{
    char *name = join(scope, d->name ? d->name : "");
    add_ent(cc, name, d, NULL, proto3);
    for (size_t i = 0; i < d->n_enum_type; i++)
        add_ent(cc,
                join(name, d->enum_type[i]->name ? d->enum_type[i]->name : ""),
                NULL, d->enum_type[i], proto3);
    for (size_t i = 0; i < d->n_nested_type; i++)
        collect(cc, name, d->nested_type[i], proto3);
}

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ent *)a)->name, ((const struct ent *)b)->name);
}

static struct ent *find(struct cctx *cc, const char *name)
{
    struct ent key = {.name = (char *)name};
    if (!cc->nents)
        return NULL;
    return bsearch(&key, cc->ents, cc->nents, sizeof(*cc->ents), ent_cmp);
}

/* type_name as protoc writes it (".pkg.Name"), or relative to scope (the
 * referring message's full name) with C++-like scoping: scope.name, then the
 * enclosing scopes outwards, then the root. */
static struct ent *resolve(struct cctx *cc, const char *scope,
                           const char *type_name)
{
    if (type_name[0] == '.')
        return find(cc, type_name);
    char *buf = xmalloc(strlen(scope) + strlen(type_name) + 2);
    size_t sl = strlen(scope);
    struct ent *t = NULL;
    for (;;) {
        memcpy(buf, scope, sl);
        buf[sl] = '.';
        strcpy(buf + sl + 1, type_name);
        if ((t = find(cc, buf)) || sl == 0)
            break;
        while (sl > 0 && scope[sl - 1] != '.')
            sl--;
        if (sl > 0)
            sl--; /* drop the '.' too */
    }
    free(buf);
    return t;
}

/* The table of message t, allocated now and queued to be built if new. */
static struct pb_msg *reach(struct cctx *cc, struct ent *t)
{
    if (t->m)
        return t->m;
    t->m = arena_zalloc(cc->s, sizeof(*t->m));
    t->m->name = arena_strdup(cc->s, t->name + 1);
    if (cc->nwork == cc->capwork) {
        cc->capwork = cc->capwork ? cc->capwork * 2 : 16;
        cc->work = xrealloc(cc->work, cc->capwork * sizeof(*cc->work));
    }
    cc->work[cc->nwork++] = t;
    return t->m;
}

static int i32_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static struct pb_enum *enum_of(struct cctx *cc, struct ent *t)
{
    if (t->en)
        return t->en;
    const Google__Protobuf__EnumDescriptorProto *e = t->e;
    struct pb_enum *en = arena_zalloc(cc->s, sizeof(*en));
    int32_t *v =
        arena_zalloc(cc->s, (e->n_value ? e->n_value : 1) * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < e->n_value; i++)
        if (e->value[i]->has_number)
            v[n++] = e->value[i]->number;
    qsort(v, n, sizeof(*v), i32_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) /* aliases share a number */
        if (u == 0 || v[u - 1] != v[i])
            v[u++] = v[i];
    en->name = arena_strdup(cc->s, t->name + 1);
    en->values = v;
    en->nvalues = (uint32_t)u;
    en->closed = !t->proto3;
    t->en = en;
    return en;
}

static int field_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct pb_field *)a)->number;
    uint32_t y = ((const struct pb_field *)b)->number;
    return (x > y) - (x < y);
}

/* Fills t->m from its DescriptorProto; messages it refers to are reached. */
static int build(struct cctx *cc, struct ent *t)
{
    const Google__Protobuf__DescriptorProto *d = t->d;
    struct pb_msg *m = t->m;
    const char *mname = m->name;
    if (d->n_field > 65535) {
        seterr(cc->err, cc->errlen, "%s has %zu fields (at most 65535)", mname,
               d->n_field);
        return -1;
    }
    m->proto3 = t->proto3;
    m->nfields = (uint32_t)d->n_field;
    m->fields =
        arena_zalloc(cc->s, (d->n_field ? d->n_field : 1) * sizeof(*m->fields));
    for (size_t i = 0; i < d->n_field; i++) {
        const Google__Protobuf__FieldDescriptorProto *fd = d->field[i];
        struct pb_field *f = &m->fields[i];
        const char *fname = fd->name ? fd->name : "";
        f->name = arena_strdup(cc->s, fname);
        f->req = -1;
        if (!fd->has_number || fd->number < 1 ||
            (uint32_t)fd->number > MAX_FIELD_NUMBER) {
            seterr(cc->err, cc->errlen,
                   "field '%s' in %s has number %d (wants 1..536870911)", fname,
                   mname, fd->has_number ? fd->number : 0);
            return -1;
        }
        f->number = (uint32_t)fd->number;
        int label = fd->has_label ? (int)fd->label : LABEL_OPTIONAL;
        if (label < LABEL_OPTIONAL || label > LABEL_REPEATED) {
            seterr(cc->err, cc->errlen, "field '%s' in %s has unknown label %d",
                   fname, mname, label);
            return -1;
        }
        f->label = (uint8_t)label;
        int type = fd->has_type ? (int)fd->type : 0;
        if (type == 0 || type == TYPE_MESSAGE || type == TYPE_GROUP ||
            type == TYPE_ENUM) {
            if (!fd->type_name || !fd->type_name[0]) {
                seterr(cc->err, cc->errlen, "field '%s' in %s has no type",
                       fname, mname);
                return -1;
            }
            struct ent *r = resolve(cc, t->name, fd->type_name);
            if (!r) {
                seterr(cc->err, cc->errlen,
                       "type '%s' of field '%s' in %s is not in the set",
                       fd->type_name, fname, mname);
                return -1;
            }
            if (type == 0)
                type = r->d ? TYPE_MESSAGE : TYPE_ENUM;
            if ((type == TYPE_ENUM) != (r->e != NULL)) {
                seterr(cc->err, cc->errlen,
                       "type '%s' of field '%s' in %s is %s, declared %s",
                       fd->type_name, fname, mname,
                       r->e ? "an enum" : "a message", TYPES[type].name);
                return -1;
            }
            if (r->e)
                f->en = enum_of(cc, r);
            else
                f->msg = reach(cc, r);
        } else if (type < 1 || type > 18) {
            seterr(cc->err, cc->errlen, "field '%s' in %s has unknown type %d",
                   fname, mname, type);
            return -1;
        }
        f->type = (uint8_t)type;
        f->wire = TYPES[type].wire;
        f->packable = label == LABEL_REPEATED && TYPES[type].packable;
        switch (type) {
        case TYPE_BOOL:
            f->kind = K_BOOL;
            break;
        case TYPE_ENUM:
            f->kind = f->en->closed ? K_ENUM : K_NONE;
            break;
        case TYPE_STRING:
            f->kind = t->proto3 ? K_UTF8 : K_NONE;
            break;
        case TYPE_MESSAGE:
            f->kind = K_MSG;
            break;
        case TYPE_GROUP:
            f->kind = K_GROUP;
            break;
        default:
            f->kind = K_NONE;
            break;
        }
    }
    qsort(m->fields, m->nfields, sizeof(*m->fields), field_cmp);
    for (uint32_t i = 0; i < m->nfields; i++) {
        struct pb_field *f = &m->fields[i];
        if (i > 0 && m->fields[i - 1].number == f->number) {
            seterr(cc->err, cc->errlen,
                   "fields '%s' and '%s' of %s share number %" PRIu32,
                   m->fields[i - 1].name, f->name, mname, f->number);
            return -1;
        }
        if (f->label == LABEL_REQUIRED) {
            if (m->nreq == PBSCHEMA_MAX_REQUIRED) {
                seterr(cc->err, cc->errlen,
                       "%s has more than %d required fields", mname,
                       PBSCHEMA_MAX_REQUIRED);
                return -1;
            }
            f->req = (int16_t)m->nreq++;
        }
    }
    uint32_t maxnum = m->nfields ? m->fields[m->nfields - 1].number : 0;
    if (m->nfields && (maxnum < DENSE_MAX || maxnum / 8 <= m->nfields)) {
        uint16_t *dense =
            arena_zalloc(cc->s, ((size_t)maxnum + 1) * sizeof(*dense));
        for (uint32_t i = 0; i < m->nfields; i++)
            dense[m->fields[i].number] = (uint16_t)(i + 1);
        m->dense = dense;
        m->ndense = maxnum + 1;
    }
    return 0;
}

/* The root: a copy of m whose required set also holds the envelope. */
static int make_root(struct cctx *cc, const struct pb_msg *m,
                     const char *const *required, size_t nrequired)
{
    struct pbschema *s = cc->s;
    struct pb_msg *r = arena_alloc(s, sizeof(*r));
    *r = *m;
    r->fields =
        arena_zalloc(s, (m->nfields ? m->nfields : 1) * sizeof(*r->fields));
    memcpy(r->fields, m->fields, m->nfields * sizeof(*r->fields));
    s->env = arena_zalloc(s, (nrequired ? nrequired : 1) * sizeof(*s->env));
    uint32_t *num = arena_zalloc(s, (nrequired ? nrequired : 1) * sizeof(*num));
    for (size_t i = 0; i < nrequired; i++) {
        const char *want = required[i] ? required[i] : "";
        struct pb_field *f = NULL;
        for (uint32_t k = 0; k < r->nfields && !f; k++)
            if (strcmp(r->fields[k].name, want) == 0)
                f = &r->fields[k];
        if (!f) {
            seterr(cc->err, cc->errlen, "field '%s' not in %s", want, r->name);
            return -1;
        }
        if (f->req < 0) {
            if (r->nreq == PBSCHEMA_MAX_REQUIRED) {
                seterr(cc->err, cc->errlen,
                       "%s has more than %d required fields", r->name,
                       PBSCHEMA_MAX_REQUIRED);
                return -1;
            }
            f->req = (int16_t)r->nreq++;
        }
        s->env[i] = arena_strdup(s, want);
        num[i] = f->number;
    }
    s->env_num = num;
    s->nenv = nrequired;
    s->root = r;
    return 0;
}

struct pbschema *pbschema_compile(const uint8_t *fds, size_t n,
                                  const char *message,
                                  const char *const *required, size_t nrequired,
                                  char *err, size_t errlen)
{
    if (n > PBSCHEMA_MAX_BYTES) {
        seterr(err, errlen,
               "FileDescriptorSet of %zu bytes is over the limit of %u bytes",
               n, PBSCHEMA_MAX_BYTES);
        return NULL;
    }
    static const uint8_t empty[1];
    if (!fds)
        fds = empty;
    const uint8_t *bad = fds;
    int rc = fds_walk(&google__protobuf__file_descriptor_set__descriptor, fds,
                      fds + n, 0, &bad);
    if (rc < 0) {
        seterr(err, errlen, "not a FileDescriptorSet: %s at byte %zu",
               rc == -1 ? "bad wire format" : "nested too deep",
               (size_t)(bad - fds));
        return NULL;
    }
    Google__Protobuf__FileDescriptorSet *set =
        google__protobuf__file_descriptor_set__unpack(NULL, n, fds);
    if (!set) {
        seterr(err, errlen,
               "not a FileDescriptorSet: protobuf-c could not unpack it");
        return NULL;
    }
    struct cctx cc = {
        .s = xcalloc(1, sizeof(struct pbschema)), .err = err, .errlen = errlen};
    struct pbschema *s = NULL;
    char *want = NULL;
    for (size_t i = 0; i < set->n_file; i++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[i];
        bool proto3 = false;
        if (f->syntax && strcmp(f->syntax, "proto3") == 0) {
            proto3 = true;
        } else if (f->syntax && f->syntax[0] &&
                   strcmp(f->syntax, "proto2") != 0) {
            seterr(err, errlen,
                   "file '%s' has syntax '%s' (only proto2 and proto3)",
                   f->name ? f->name : "", f->syntax);
            goto err_free;
        }
        /* the package scope: "" or ".a.b" */
        char *pkg = f->package && f->package[0] ? join("", f->package) : NULL;
        const char *scope = pkg ? pkg : "";
        for (size_t k = 0; k < f->n_enum_type; k++)
            add_ent(
                &cc,
                join(scope, f->enum_type[k]->name ? f->enum_type[k]->name : ""),
                NULL, f->enum_type[k], proto3);
        for (size_t k = 0; k < f->n_message_type; k++)
            collect(&cc, scope, f->message_type[k], proto3);
        free(pkg);
    }
    if (cc.nents) /* qsort and bsearch want a real array even for 0 */
        qsort(cc.ents, cc.nents, sizeof(*cc.ents), ent_cmp);
    for (size_t i = 1; i < cc.nents; i++) {
        if (strcmp(cc.ents[i - 1].name, cc.ents[i].name) == 0) {
            seterr(err, errlen, "type '%s' is defined twice in the set",
                   cc.ents[i].name);
            goto err_free;
        }
    }
    const char *mn = message ? message : "";
    want = mn[0] == '.' ? xstrdup(mn) : join("", mn);
    struct ent *root = find(&cc, want);
    if (!root || !root->d) {
        seterr(err, errlen,
               root ? "'%s' is an enum, not a message"
                    : "message '%s' not in the set",
               want + 1);
        goto err_free;
    }
    const struct pb_msg *rm = reach(&cc, root);
    while (cc.nwork > 0) {
        struct ent *t = cc.work[--cc.nwork];
        if (build(&cc, t) < 0)
            goto err_free;
    }
    if (make_root(&cc, rm, required, nrequired) < 0)
        goto err_free;
    s = cc.s;
    cc.s = NULL;
err_free:
    pbschema_free(cc.s);
    free(want);
    for (size_t i = 0; i < cc.nents; i++)
        free(cc.ents[i].name);
    free(cc.ents);
    free(cc.work);
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    return s;
}

/* ---- compatibility ---- */

struct pair {
    const struct pb_msg *o, *n;
};

struct compat {
    struct pair *pairs; /* [0, done) compared, [done, n) queued */
    size_t n, done, cap;
    char *err;
    size_t errlen;
};

static void queue_pair(struct compat *k, const struct pb_msg *o,
                       const struct pb_msg *n)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->pairs[i].o == o && k->pairs[i].n == n)
            return;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 16;
        k->pairs = xrealloc(k->pairs, k->cap * sizeof(*k->pairs));
    }
    k->pairs[k->n++] = (struct pair){o, n};
}

static bool int_type(int t)
{
    return t == 3 || t == 4 || t == 5 ||
           t == 13; /* int64 uint64 int32 uint32 */
}

/* The name of f's type for messages: "int32", "enum x.Y", "message x.Y". */
static const char *type_desc(const struct pb_field *f, char *buf, size_t cap)
{
    if (f->en)
        snprintf(buf, cap, "enum %s", f->en->name);
    else if (f->msg)
        snprintf(buf, cap, "%s %s", TYPES[f->type].name, f->msg->name);
    else
        snprintf(buf, cap, "%s", TYPES[f->type].name);
    return buf;
}

/* 0 if values of old field o are read alike as new field n; else -1 with the
 * change after prefix ("" or "x.Y "). Message pairs are queued. */
static int compat_field(struct compat *k, const char *prefix,
                        const struct pb_field *o, const struct pb_field *n)
{
    char a[160], b[160];
    const char *why = NULL;
    if ((o->label == LABEL_REQUIRED) != (n->label == LABEL_REQUIRED) ||
        (o->label == LABEL_REPEATED) != (n->label == LABEL_REPEATED)) {
        seterr(k->err, k->errlen, "%sfield %" PRIu32 " '%s': %s -> %s", prefix,
               o->number, n->name, LABEL_NAMES[o->label],
               LABEL_NAMES[n->label]);
        return -1;
    }
    int ot = o->type, nt = n->type;
    if (ot == nt && (ot == TYPE_MESSAGE || ot == TYPE_GROUP)) {
        queue_pair(k, o->msg, n->msg);
        return 0;
    }
    if (nt == TYPE_ENUM && n->en->closed) {
        if (ot != TYPE_ENUM || !o->en->closed) {
            why = "values outside the closed enum become errors";
        } else {
            for (uint32_t i = 0, j = 0; i < o->en->nvalues; i++) {
                while (j < n->en->nvalues &&
                       n->en->values[j] < o->en->values[i])
                    j++;
                if (j == n->en->nvalues ||
                    n->en->values[j] != o->en->values[i]) {
                    seterr(k->err, k->errlen,
                           "%sfield %" PRIu32 " '%s': enum value %" PRId32
                           " of %s is not in %s",
                           prefix, o->number, n->name, o->en->values[i],
                           o->en->name, n->en->name);
                    return -1;
                }
            }
            return 0;
        }
    } else if (ot == nt) {
        if (ot == TYPE_STRING && o->kind != K_UTF8 && n->kind == K_UTF8)
            why = "UTF-8 is now checked (proto2 -> proto3)";
        else
            return 0;
    } else if ((int_type(ot) || ot == TYPE_ENUM) &&
               (int_type(nt) || nt == TYPE_ENUM)) {
        return 0; /* open enums and the varint integers read each other */
    } else if ((ot == 17 && nt == 18) ||
               (ot == 18 && nt == 17) || /* sint32/64 */
               (ot == 7 && nt == 15) ||
               (ot == 15 && nt == 7) || /* fixed32/sfixed32 */
               (ot == 6 && nt == 16) ||
               (ot == 16 && nt == 6)) { /* fixed64/sfixed64 */
        return 0;
    } else if (nt == TYPE_BYTES && (ot == TYPE_STRING || ot == TYPE_MESSAGE)) {
        return 0; /* bytes take any length-delimited value */
    } else if (ot == TYPE_BYTES && nt == TYPE_STRING && n->kind != K_UTF8) {
        return 0; /* a proto2 string is not checked */
    }
    if (why)
        seterr(k->err, k->errlen, "%sfield %" PRIu32 " '%s': %s -> %s (%s)",
               prefix, o->number, n->name, type_desc(o, a, sizeof(a)),
               type_desc(n, b, sizeof(b)), why);
    else
        seterr(k->err, k->errlen, "%sfield %" PRIu32 " '%s': %s -> %s", prefix,
               o->number, n->name, type_desc(o, a, sizeof(a)),
               type_desc(n, b, sizeof(b)));
    return -1;
}

static int compat_msg(struct compat *k, const struct pb_msg *o,
                      const struct pb_msg *n, bool root)
{
    char prefix[300];
    if (root)
        prefix[0] = '\0';
    else
        snprintf(prefix, sizeof(prefix), "%s ", n->name);
    for (uint32_t i = 0; i < o->nfields; i++) {
        const struct pb_field *of = &o->fields[i];
        const struct pb_field *nf = lookup(n, of->number);
        if (!nf) {
            if (of->label == LABEL_REQUIRED) {
                seterr(k->err, k->errlen,
                       "%sfield %" PRIu32 " '%s' was required and is removed",
                       prefix, of->number, of->name);
                return -1;
            }
            continue; /* its bytes become an unknown field */
        }
        if (compat_field(k, prefix, of, nf) < 0)
            return -1;
    }
    for (uint32_t i = 0; i < n->nfields; i++) {
        const struct pb_field *nf = &n->fields[i];
        if (nf->label == LABEL_REQUIRED && !lookup(o, nf->number)) {
            seterr(k->err, k->errlen,
                   "%sfield %" PRIu32 " '%s' is added as required", prefix,
                   nf->number, nf->name);
            return -1;
        }
    }
    return 0;
}

int pbschema_compatible(const struct pbschema *old_s,
                        const struct pbschema *new_s, char *err, size_t errlen)
{
    const struct pb_msg *o = old_s->root, *n = new_s->root;
    if (strcmp(o->name, n->name) != 0) {
        seterr(err, errlen, "message renamed: %s -> %s", o->name, n->name);
        return -1;
    }
    for (size_t i = 0; i < old_s->nenv; i++) {
        size_t j = 0;
        while (j < new_s->nenv && strcmp(new_s->env[j], old_s->env[i]) != 0)
            j++;
        if (j == new_s->nenv) {
            seterr(err, errlen, "envelope field '%s' removed", old_s->env[i]);
            return -1;
        }
        if (new_s->env_num[j] != old_s->env_num[i]) {
            seterr(err, errlen,
                   "envelope field '%s': number %" PRIu32 " -> %" PRIu32,
                   old_s->env[i], old_s->env_num[i], new_s->env_num[j]);
            return -1;
        }
    }
    for (size_t j = 0; j < new_s->nenv; j++) {
        const struct pb_field *of = lookup(o, new_s->env_num[j]);
        if (!of || of->req < 0) {
            seterr(err, errlen,
                   "envelope field '%s' (%" PRIu32
                   ") added: earlier payloads may lack it",
                   new_s->env[j], new_s->env_num[j]);
            return -1;
        }
    }
    struct compat k = {.err = err, .errlen = errlen};
    int rc = compat_msg(&k, o, n, true);
    while (rc == 0 && k.done < k.n) {
        struct pair p = k.pairs[k.done++];
        rc = compat_msg(&k, p.o, p.n, false);
    }
    free(k.pairs);
    return rc < 0 ? -1 : 0;
}
