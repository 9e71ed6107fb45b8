/* jsonschema_tree.h - the compiled form of a JSON Schema, shared by the
 * validator (jsonschema.c) and the compatibility check (jsonschema_compat.c).
 *
 * Private to src/contract: callers use jsonschema.h. One struct jnode per
 * schema location; $ref is resolved at compile time into a pointer, so the
 * tree is a graph (cycles only through keywords that descend into the
 * instance: properties, items, ...; compile refuses the others). Everything
 * hangs off struct jschema and is freed with it. */
#ifndef TINCAN_JSONSCHEMA_TREE_H
#define TINCAN_JSONSCHEMA_TREE_H

#include "jsonschema.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Instance types (bit mask); JT_INTEGER is "number with no fraction". */
enum {
    JT_NULL = 1,
    JT_BOOLEAN = 2,
    JT_OBJECT = 4,
    JT_ARRAY = 8,
    JT_NUMBER = 16,
    JT_STRING = 32,
    JT_INTEGER = 64,
    JT_ALL = 127,
};

/* Numeric bounds, in jnode.bound[] / has_bound bits. */
enum { JB_MIN, JB_MAX, JB_XMIN, JB_XMAX, JB_N };
/* Size limits, in jnode.lim[] / has_lim bits; even = lower, odd = upper. */
enum {
    JL_MINLEN,
    JL_MAXLEN,
    JL_MINITEMS,
    JL_MAXITEMS,
    JL_MINPROPS,
    JL_MAXPROPS,
    JL_N
};

struct jnum {
    bool is_int;  /* i holds the value, else d */
    json_int_t i; /* exact 64-bit integer */
    double d;
};

struct jprop {
    const char *key; /* in the schema document; may hold NULs */
    size_t klen;     /* bytes */
    struct jnode *node;
    uint64_t reqbits; /* bits of jnode.req[] naming this key (fast path) */
    uint64_t kword;   /* its first 8 bytes, zero-padded (fast path) */
    uint32_t doc;     /* its place in the schema document's "properties" */
    uint32_t next;    /* fast path: index + 1 of the next one in document
                       * order, 0 after the last */
    bool plain_key;   /* fast path: the key is only bytes JSON writes as
                       * themselves (so the payload spells it one way) */
};

/* A scalar enum or const value, flattened for the fast path. */
struct jlit {
    unsigned t;       /* JT_STRING, JT_NUMBER, JT_BOOLEAN or JT_NULL */
    bool b;           /* JT_BOOLEAN */
    struct jnum num;  /* JT_NUMBER */
    const char *s;    /* JT_STRING: the schema's bytes */
    size_t len;
};

struct jnode {
    const json_t *src;   /* the schema value (owned by jschema.doc) */
    char *path;          /* JSON pointer of this location, "" = root */
    bool never;          /* the false schema: nothing is valid */
    bool trivial;        /* no constraint at all (true, {}, annotations) */
    unsigned types;      /* JT_* mask; 0 = any type */
    struct jnode *ref;   /* $ref target (no assertion siblings) */
    const char *ref_src; /* the $ref string as written */
    struct jprop *props; /* properties, sorted by (klen, bytes) */
    size_t nprops;
    struct jprop *req; /* required names (node unused) */
    size_t nreq;
    struct jnode *additional; /* additionalProperties; NULL = any */
    struct jnode **prefix;    /* prefixItems */
    size_t nprefix;
    struct jnode *items;   /* items after the prefix; NULL = any */
    const json_t *enum_v;  /* array of allowed values, or NULL */
    const json_t *const_v; /* the const value, or NULL */
    struct jnum bound[JB_N];
    unsigned has_bound; /* 1 << JB_* */
    size_t lim[JL_N];   /* code points, items or properties */
    unsigned has_lim;   /* 1 << JL_* */
    bool unique;        /* uniqueItems */
    pcre2_code *re;     /* pattern, compiled (JIT where available) */
    const char *re_src; /* pattern as written */
    struct jnode **all, **any, **one;
    size_t nall, nany, none;
    struct jnode *not_;
    int mark; /* compile-time cycle search: 0 new, 1 on path, 2 done */
    /* for the one-pass path (jsonschema_fast.c), set by jschema_fast_prepare */
    bool slow;           /* needs the DOM: allOf/anyOf/oneOf/not, ... */
    bool req_undeclared; /* a required name is not among props */
    uint64_t reqall;     /* a bit per req[] entry (nreq <= 64) */
    uint32_t *ptab;      /* open addressing: props index + 1, 0 = empty */
    size_t pmask;        /* slots of ptab - 1 */
    uint32_t first;      /* index + 1 of the first property in document order */
    struct jlit *lits;   /* the const (if any) then the enum values */
    size_t nlits;
};

struct jschema {
    json_t *doc;          /* the parsed schema document */
    struct jnode **nodes; /* every node, for jschema_free */
    size_t nnodes, capnodes;
    pcre2_match_context *mctx; /* match and heap limits; read-only */
};

/* Deep equality of two JSON values, numbers by value (1 == 1.0). */
bool jschema_json_equal(const json_t *a, const json_t *b);
/* -1, 0, 1 as a < b, a == b, a > b (exact for 64-bit integers). */
int jschema_num_cmp(struct jnum a, struct jnum b);
/* This thread's PCRE2 match block (made on first use), or NULL if out of
 * memory; freed when the thread ends. */
pcre2_match_data *jschema_thread_md(void);
/* Marks the nodes the one-pass path cannot check (slow) and fills the
 * required bits; called once by jschema_compile. */
void jschema_fast_prepare(struct jschema *s);

#endif
