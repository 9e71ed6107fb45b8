#include "jsonschema.h"

#include "common.h"
#include "errors.h"
#include "jsonschema_tree.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PCRE2 limits per pattern check: bounded time and memory on hostile input
 * (a catastrophic-backtracking regex fails the payload, never hangs). */
#define RE_MATCH_LIMIT 1000000u
#define RE_HEAP_KIB    4096u
#define UNIQUE_SMALL   32 /* uniqueItems: pairwise up to this many items */

/* ---------------------------------------------------------------- values */

static struct jnum num_of(const json_t *j)
{
    struct jnum n = {0};
    if (json_is_integer(j)) {
        n.is_int = true;
        n.i = json_integer_value(j);
    } else {
        n.d = json_real_value(j);
    }
    return n;
}

/* long double holds every int64 and every double exactly on the targets we
 * build for (x86-64: 64-bit mantissa; aarch64: binary128). */
int jschema_num_cmp(struct jnum a, struct jnum b)
{
    if (a.is_int && b.is_int)
        return (a.i > b.i) - (a.i < b.i);
    long double x = a.is_int ? (long double)a.i : (long double)a.d;
    long double y = b.is_int ? (long double)b.i : (long double)b.d;
    return (x > y) - (x < y);
}

static bool num_is_integral(const json_t *j)
{
    if (json_is_integer(j))
        return true;
    double d = json_real_value(j);
    return d == trunc(d);
}

bool jschema_json_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return jschema_num_cmp(num_of(a), num_of(b)) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b),
                      json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!jschema_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, k, kl, v)
        {
            json_t *w = json_object_getn(b, k, kl);
            if (!w || !jschema_json_equal(v, w))
                return false;
        }
        return true;
    }
    default: /* true, false, null */
        return true;
    }
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t bytes_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* A hash that agrees with jschema_json_equal: equal values, equal hashes
 * (numbers hash by value: 1 and 1.0 alike; object members in any order). */
static uint64_t json_hash(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_INTEGER:
        return mix((uint64_t)json_integer_value(j) ^ 0x11);
    case JSON_REAL: {
        double d = json_real_value(j);
        if (d == trunc(d) && d >= -9223372036854775808.0 &&
            d < 9223372036854775808.0)
            return mix((uint64_t)(json_int_t)d ^ 0x11);
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        return mix(bits ^ 0x12);
    }
    case JSON_STRING:
        return mix(bytes_hash(json_string_value(j), json_string_length(j)));
    case JSON_ARRAY: {
        uint64_t h = 0x21;
        for (size_t i = 0; i < json_array_size(j); i++)
            h = mix(h * 31 + json_hash(json_array_get(j, i)));
        return h;
    }
    case JSON_OBJECT: {
        uint64_t h = 0x31;
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, k, kl, v)
        {
            h += mix(bytes_hash(k, kl) ^ json_hash(v));
        }
        return mix(h);
    }
    case JSON_TRUE:
        return 0x41;
    case JSON_FALSE:
        return 0x42;
    default:
        return 0x43;
    }
}

static unsigned type_bit(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return JT_OBJECT;
    case JSON_ARRAY:
        return JT_ARRAY;
    case JSON_STRING:
        return JT_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return JT_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return JT_BOOLEAN;
    default:
        return JT_NULL;
    }
}

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

/* Code points of valid UTF-8 (libjansson checks strings on parse). */
static size_t utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static void num_str(char *buf, size_t cap, struct jnum n)
{
    if (n.is_int)
        snprintf(buf, cap, "%lld", (long long)n.i);
    else
        snprintf(buf, cap, "%.17g", n.d);
}

/* JSON-pointer token escaping: '~' -> "~0", '/' -> "~1". */
static char *path_join(const char *base, const char *tok, size_t tlen)
{
    size_t bl = strlen(base), extra = 0;
    for (size_t i = 0; i < tlen; i++)
        extra += tok[i] == '~' || tok[i] == '/';
    char *p = xmalloc(bl + 1 + tlen + extra + 1), *o = p + bl;
    memcpy(p, base, bl);
    *o++ = '/';
    for (size_t i = 0; i < tlen; i++) {
        if (tok[i] == '~' || tok[i] == '/') {
            *o++ = '~';
            *o++ = tok[i] == '~' ? '0' : '1';
        } else {
            *o++ = tok[i] ? tok[i] : '?'; /* keep the path a C string */
        }
    }
    *o = '\0';
    return p;
}

static char *path_index(const char *base, size_t i)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "%zu", i);
    return path_join(base, t, (size_t)n);
}

static const char *where(const char *path)
{
    return path[0] ? path : "(root)";
}

/* -------------------------------------------------------------- compile */

struct pending {
    struct jnode *from; /* node holding the $ref */
    const char *ref;    /* its value */
};

struct cc {
    struct jschema *s;
    char *err;
    size_t errlen;
    bool failed;
    struct { /* schema value -> node, open addressing */
        const json_t *k;
        struct jnode *v;
    } * map;
    size_t mapcap, mapn;
    struct pending *pend;
    size_t npend, cappend;
};

__attribute__((format(printf, 2, 3))) static struct jnode *
cfail(struct cc *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
        c->failed = true;
    }
    return NULL;
}

static size_t ptr_slot(const void *p, size_t cap)
{
    return (size_t)mix((uint64_t)(uintptr_t)p) & (cap - 1);
}

static struct jnode *map_get(struct cc *c, const json_t *k)
{
    if (!c->mapcap)
        return NULL;
    for (size_t i = ptr_slot(k, c->mapcap);; i = (i + 1) & (c->mapcap - 1)) {
        if (!c->map[i].k)
            return NULL;
        if (c->map[i].k == k)
            return c->map[i].v;
    }
}

static void map_put(struct cc *c, const json_t *k, struct jnode *v)
{
    if ((c->mapn + 1) * 2 > c->mapcap) {
        size_t ocap = c->mapcap, ncap = ocap ? ocap * 2 : 64;
        __typeof__(c->map) old = c->map;
        c->map = xcalloc(ncap, sizeof(*c->map));
        c->mapcap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (!old[i].k)
                continue;
            size_t j = ptr_slot(old[i].k, ncap);
            while (c->map[j].k)
                j = (j + 1) & (ncap - 1);
            c->map[j] = old[i];
        }
        free(old);
    }
    size_t i = ptr_slot(k, c->mapcap);
    while (c->map[i].k)
        i = (i + 1) & (c->mapcap - 1);
    c->map[i].k = k;
    c->map[i].v = v;
    c->mapn++;
}

static struct jnode *node_new(struct cc *c, const json_t *src, char *path)
{
    struct jschema *s = c->s;
    if (s->nnodes == s->capnodes) {
        s->capnodes = s->capnodes ? s->capnodes * 2 : 16;
        s->nodes = xrealloc(s->nodes, s->capnodes * sizeof(*s->nodes));
    }
    struct jnode *n = xcalloc(1, sizeof(*n));
    n->src = src;
    n->path = path;
    s->nodes[s->nnodes++] = n;
    if (!json_is_boolean(src))
        map_put(c, src, n);
    return n;
}

static struct jnode *compile(struct cc *c, const json_t *j, const char *path,
                             int depth);

/* Compiles j found at base/tok (the path is built here). */
static struct jnode *sub(struct cc *c, const json_t *j, const char *base,
                         const char *tok, int depth)
{
    char *p = path_join(base, tok, strlen(tok));
    struct jnode *n = compile(c, j, p, depth);
    free(p);
    return n;
}

/* An array of schemas at base/kw; non-empty unless may_be_empty. */
static struct jnode **sub_array(struct cc *c, const json_t *j, const char *base,
                                const char *kw, int depth, size_t *count,
                                bool may_be_empty)
{
    char *p = path_join(base, kw, strlen(kw));
    struct jnode **v = NULL;
    if (!json_is_array(j) || (!may_be_empty && json_array_size(j) == 0)) {
        cfail(c, "'%s' at %s must be a%s array of schemas", kw, where(base),
              may_be_empty ? "n" : " non-empty");
        goto out;
    }
    *count = json_array_size(j);
    v = xcalloc(*count, sizeof(*v));
    for (size_t i = 0; i < *count && !c->failed; i++) {
        char *pi = path_index(p, i);
        v[i] = compile(c, json_array_get(j, i), pi, depth);
        free(pi);
    }
out:
    free(p);
    return v;
}

static int prop_cmp(const void *a, const void *b)
{
    const struct jprop *x = a, *y = b;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return memcmp(x->key, y->key, x->klen);
}

static bool get_limit(struct cc *c, const json_t *v, const char *kw,
                      const char *path, size_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (size_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v) && json_real_value(v) >= 0 && num_is_integral(v)) {
        double d = json_real_value(v);
        *out = d >= 1.8e19 ? SIZE_MAX : (size_t)d;
        return true;
    }
    cfail(c, "'%s' at %s must be a non-negative integer", kw, where(path));
    return false;
}

static void compile_pattern(struct cc *c, struct jnode *n, const json_t *v,
                            const char *path)
{
    if (!json_is_string(v)) {
        cfail(c, "'pattern' at %s must be a string", where(path));
        return;
    }
    int code;
    PCRE2_SIZE off;
    /* UTF (the payload is UTF-8), $ only at the very end and \uHHHH as in
     * ECMA-262; no UCP, so \d and \w stay ASCII as in ECMA-262. */
    n->re = pcre2_compile(
        (PCRE2_SPTR)json_string_value(v), json_string_length(v),
        PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &code, &off, NULL);
    if (!n->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        cfail(c, "invalid regex at %s/pattern: %s at offset %zu", path,
              (const char *)msg, (size_t)off);
        return;
    }
    (void)pcre2_jit_compile(n->re, PCRE2_JIT_COMPLETE); /* else interpreted */
    n->re_src = json_string_value(v);
}

/* Keywords that only annotate: accepted and ignored. */
static bool is_annotation(const char *k)
{
    static const char *const names[] = {
        "$schema",  "$comment",   "title",    "description", "default",
        "examples", "deprecated", "readOnly", "writeOnly",
    };
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcmp(k, names[i]) == 0)
            return true;
    return false;
}

static void bound(struct cc *c, struct jnode *n, int which, const json_t *v,
                  const char *kw, const char *path)
{
    if (!json_is_number(v)) {
        cfail(c, "'%s' at %s must be a number", kw, where(path));
        return;
    }
    n->bound[which] = num_of(v);
    n->has_bound |= 1u << which;
}

static void limit(struct cc *c, struct jnode *n, int which, const json_t *v,
                  const char *kw, const char *path)
{
    if (get_limit(c, v, kw, path, &n->lim[which]))
        n->has_lim |= 1u << which;
}

static void compile_type(struct cc *c, struct jnode *n, const json_t *v,
                         const char *path)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if ((!json_is_string(v) && !json_is_array(v)) || count == 0) {
        cfail(c,
              "'type' at %s must be a type name or a non-empty array of "
              "them",
              where(path));
        return;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
        size_t k = 0;
        while (k < ARRAY_LEN(type_names) && json_is_string(t) &&
               strcmp(json_string_value(t), type_names[k]) != 0)
            k++;
        if (!json_is_string(t) || k == ARRAY_LEN(type_names)) {
            cfail(c, "unknown type %s%s%s at %s/type",
                  json_is_string(t) ? "'" : "",
                  json_is_string(t) ? json_string_value(t) : "(not a string)",
                  json_is_string(t) ? "'" : "", path);
            return;
        }
        n->types |= 1u << k;
    }
}

static void compile_props(struct cc *c, struct jnode *n, const json_t *v,
                          const char *path, int depth)
{
    if (!json_is_object(v)) {
        cfail(c, "'properties' at %s must be an object", where(path));
        return;
    }
    char *pp = path_join(path, "properties", 10);
    n->props = xcalloc(json_object_size(v), sizeof(*n->props));
    const char *k;
    size_t kl;
    json_t *e;
    json_object_keylen_foreach((json_t *)v, k, kl, e)
    {
        char *p = path_join(pp, k, kl);
        struct jprop *pr = &n->props[n->nprops];
        pr->doc = (uint32_t)n->nprops++;
        pr->key = k;
        pr->klen = kl;
        pr->node = compile(c, e, p, depth);
        free(p);
        if (c->failed)
            break;
    }
    free(pp);
    qsort(n->props, n->nprops, sizeof(*n->props), prop_cmp);
}

static void compile_required(struct cc *c, struct jnode *n, const json_t *v,
                             const char *path)
{
    if (!json_is_array(v)) {
        cfail(c, "'required' at %s must be an array of strings", where(path));
        return;
    }
    n->req = xcalloc(json_array_size(v), sizeof(*n->req));
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            cfail(c, "'required' at %s must be an array of strings",
                  where(path));
            return;
        }
        n->req[n->nreq].key = json_string_value(e);
        n->req[n->nreq++].klen = json_string_length(e);
    }
}

static void compile_defs(struct cc *c, const json_t *v, const char *path,
                         const char *kw, int depth)
{
    if (!json_is_object(v)) {
        cfail(c, "'%s' at %s must be an object", kw, where(path));
        return;
    }
    char *dp = path_join(path, kw, strlen(kw));
    const char *k;
    size_t kl;
    json_t *e;
    json_object_keylen_foreach((json_t *)v, k, kl, e)
    {
        char *p = path_join(dp, k, kl);
        compile(c, e, p, depth);
        free(p);
        if (c->failed)
            break;
    }
    free(dp);
}

/* One keyword of an object schema. */
static void keyword(struct cc *c, struct jnode *n, const char *k, json_t *v,
                    const char *path, int depth)
{
    if (strcmp(k, "type") == 0) {
        compile_type(c, n, v, path);
    } else if (strcmp(k, "properties") == 0) {
        compile_props(c, n, v, path, depth);
    } else if (strcmp(k, "required") == 0) {
        compile_required(c, n, v, path);
    } else if (strcmp(k, "additionalProperties") == 0) {
        n->additional = sub(c, v, path, k, depth);
    } else if (strcmp(k, "items") == 0) {
        if (json_is_array(v))
            cfail(c,
                  "'items' at %s is an array (the draft-7 tuple form): "
                  "use prefixItems",
                  where(path));
        else
            n->items = sub(c, v, path, k, depth);
    } else if (strcmp(k, "prefixItems") == 0) {
        n->prefix = sub_array(c, v, path, k, depth, &n->nprefix, false);
    } else if (strcmp(k, "enum") == 0) {
        if (!json_is_array(v))
            cfail(c, "'enum' at %s must be an array", where(path));
        n->enum_v = v;
    } else if (strcmp(k, "const") == 0) {
        n->const_v = v;
    } else if (strcmp(k, "minimum") == 0) {
        bound(c, n, JB_MIN, v, k, path);
    } else if (strcmp(k, "maximum") == 0) {
        bound(c, n, JB_MAX, v, k, path);
    } else if (strcmp(k, "exclusiveMinimum") == 0) {
        bound(c, n, JB_XMIN, v, k, path);
    } else if (strcmp(k, "exclusiveMaximum") == 0) {
        bound(c, n, JB_XMAX, v, k, path);
    } else if (strcmp(k, "minLength") == 0) {
        limit(c, n, JL_MINLEN, v, k, path);
    } else if (strcmp(k, "maxLength") == 0) {
        limit(c, n, JL_MAXLEN, v, k, path);
    } else if (strcmp(k, "minItems") == 0) {
        limit(c, n, JL_MINITEMS, v, k, path);
    } else if (strcmp(k, "maxItems") == 0) {
        limit(c, n, JL_MAXITEMS, v, k, path);
    } else if (strcmp(k, "minProperties") == 0) {
        limit(c, n, JL_MINPROPS, v, k, path);
    } else if (strcmp(k, "maxProperties") == 0) {
        limit(c, n, JL_MAXPROPS, v, k, path);
    } else if (strcmp(k, "uniqueItems") == 0) {
        if (!json_is_boolean(v))
            cfail(c, "'uniqueItems' at %s must be a boolean", where(path));
        n->unique = json_is_true(v);
    } else if (strcmp(k, "pattern") == 0) {
        compile_pattern(c, n, v, path);
    } else if (strcmp(k, "allOf") == 0) {
        n->all = sub_array(c, v, path, k, depth, &n->nall, false);
    } else if (strcmp(k, "anyOf") == 0) {
        n->any = sub_array(c, v, path, k, depth, &n->nany, false);
    } else if (strcmp(k, "oneOf") == 0) {
        n->one = sub_array(c, v, path, k, depth, &n->none, false);
    } else if (strcmp(k, "not") == 0) {
        n->not_ = sub(c, v, path, k, depth);
    } else if (strcmp(k, "$defs") == 0 || strcmp(k, "definitions") == 0) {
        compile_defs(c, v, path, k, depth);
    } else if (strcmp(k, "$ref") == 0) {
        if (!json_is_string(v)) {
            cfail(c, "'$ref' at %s must be a string", where(path));
            return;
        }
        if (c->npend == c->cappend) {
            c->cappend = c->cappend ? c->cappend * 2 : 8;
            c->pend = xrealloc(c->pend, c->cappend * sizeof(*c->pend));
        }
        c->pend[c->npend].from = n;
        c->pend[c->npend++].ref = json_string_value(v);
        n->ref_src = json_string_value(v);
    } else if (strcmp(k, "$id") == 0) {
        if (path[0])
            cfail(c,
                  "'$id' at %s: $id below the root is not supported "
                  "(no $id-based references)",
                  where(path));
    } else if (!is_annotation(k)) {
        cfail(c, "unsupported keyword '%s' at %s", k, where(path));
    }
}

/* Keywords allowed beside $ref: the ones that assert nothing here. */
static bool ref_sibling_ok(const char *k)
{
    return is_annotation(k) || strcmp(k, "$ref") == 0 ||
           strcmp(k, "$defs") == 0 || strcmp(k, "definitions") == 0 ||
           strcmp(k, "$id") == 0;
}

static struct jnode *compile(struct cc *c, const json_t *j, const char *path,
                             int depth)
{
    if (c->failed)
        return NULL;
    /* true and false are one shared value each in libjansson: they get a
     * node per location (for the paths in messages), the rest one per value
     * (what a $ref to an already compiled location finds) */
    struct jnode *n = json_is_boolean(j) ? NULL : map_get(c, j);
    if (n)
        return n;
    if (depth > JSCHEMA_MAX_DEPTH)
        return cfail(c, "schema nested deeper than %d levels at %s",
                     JSCHEMA_MAX_DEPTH, where(path));
    if (!json_is_object(j) && !json_is_boolean(j))
        return cfail(c, "schema at %s must be an object or a boolean",
                     where(path));
    n = node_new(c, j, xstrdup(path));
    if (json_is_boolean(j)) {
        n->never = json_is_false(j);
        n->trivial = !n->never;
        return n;
    }
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach((json_t *)j, k, kl, v)
    {
        if (strlen(k) != kl) /* libjansson refuses these; never "type" */
            return cfail(c, "unsupported keyword '%s\\u0000...' at %s", k,
                         where(path));
        keyword(c, n, k, v, path, depth + 1);
        if (c->failed)
            return NULL;
    }
    if (n->ref_src) {
        json_object_foreach((json_t *)j, k, v)
        {
            if (!ref_sibling_ok(k))
                return cfail(c,
                             "'$ref' beside '%s' at %s: drafts disagree on "
                             "whether siblings of $ref apply; put both in an "
                             "allOf",
                             k, where(path));
        }
    }
    n->trivial = !n->ref_src && !n->types && !n->nprops && !n->nreq &&
                 !n->additional && !n->nprefix && !n->items && !n->enum_v &&
                 !n->const_v && !n->has_bound && !n->has_lim && !n->unique &&
                 !n->re && !n->nall && !n->nany && !n->none && !n->not_;
    return n;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Resolves "#", "#/a/b~1c/%25" against the document. NULL with err. */
static const json_t *resolve(struct cc *c, const struct jnode *from,
                             const char *ref, char **ptr_out)
{
    if (ref[0] != '#' || (ref[1] && ref[1] != '/')) {
        cfail(c,
              "$ref '%s' at %s: only references within the document (\"#\" "
              "or \"#/json/pointer\") are supported",
              ref, where(from->path));
        return NULL;
    }
    /* %-decode the fragment first (it is a URI fragment), then walk the
     * JSON pointer token by token. */
    size_t rl = strlen(ref + 1);
    char *dec = xmalloc(rl + 1);
    size_t dl = 0;
    for (const char *p = ref + 1; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            dec[dl++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            dec[dl++] = *p;
        }
    }
    dec[dl] = '\0';
    const json_t *cur = c->s->doc;
    char *tok = xmalloc(dl + 1);
    size_t i = 0;
    while (cur && i < dl) {
        i++; /* the '/' */
        size_t tl = 0;
        while (i < dl && dec[i] != '/') {
            if (dec[i] == '~' && i + 1 < dl &&
                (dec[i + 1] == '0' || dec[i + 1] == '1')) {
                tok[tl++] = dec[i + 1] == '0' ? '~' : '/';
                i += 2;
            } else if (dec[i] == '~') {
                cur = NULL; /* a bad escape */
                break;
            } else {
                tok[tl++] = dec[i++];
            }
        }
        if (!cur)
            break;
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok, tl);
        } else if (json_is_array(cur)) {
            size_t idx = 0;
            bool ok = tl > 0 && tl < 19 && (tl == 1 || tok[0] != '0');
            for (size_t k = 0; ok && k < tl; k++) {
                ok = tok[k] >= '0' && tok[k] <= '9';
                idx = idx * 10 + (size_t)(tok[k] - '0');
            }
            cur = ok ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    free(tok);
    if (!cur) {
        cfail(c, "$ref '%s' at %s does not resolve within the document", ref,
              where(from->path));
        free(dec);
        return NULL;
    }
    *ptr_out = dec;
    return cur;
}

/* Refuses loops that never descend into the instance ($ref to itself,
 * allOf [{$ref: "#"}] at the root, ...): validation would not end. */
static bool no_cycle(struct cc *c, struct jnode *n, int depth)
{
    if (!n || n->mark == 2)
        return true;
    if (n->mark == 1) {
        cfail(c,
              "$ref cycle at %s: the schema refers to itself without "
              "descending into the value",
              where(n->path));
        return false;
    }
    if (depth > JSCHEMA_MAX_DEPTH) {
        cfail(c, "chain of $ref/allOf/anyOf/oneOf/not longer than %d at %s",
              JSCHEMA_MAX_DEPTH, where(n->path));
        return false;
    }
    n->mark = 1;
    bool ok = no_cycle(c, n->ref, depth + 1) && no_cycle(c, n->not_, depth + 1);
    for (size_t i = 0; ok && i < n->nall; i++)
        ok = no_cycle(c, n->all[i], depth + 1);
    for (size_t i = 0; ok && i < n->nany; i++)
        ok = no_cycle(c, n->any[i], depth + 1);
    for (size_t i = 0; ok && i < n->none; i++)
        ok = no_cycle(c, n->one[i], depth + 1);
    n->mark = 2;
    return ok;
}

struct jschema *jschema_compile(const char *text, size_t n, char *err,
                                size_t errlen)
{
    if (n > JSCHEMA_MAX_BYTES) {
        snprintf(err, errlen, "schema of %zu bytes is larger than %u", n,
                 JSCHEMA_MAX_BYTES);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(
        text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
        &jerr);
    if (!doc) {
        snprintf(err, errlen, "not JSON: line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return NULL;
    }
    struct jschema *s = xcalloc(1, sizeof(*s));
    s->doc = doc;
    struct cc c = {.s = s, .err = err, .errlen = errlen};
    compile(&c, doc, "", 0);
    /* $ref targets: usually already compiled (a $defs entry); else the
     * pointer names some other schema location, compiled now. */
    for (size_t i = 0; i < c.npend && !c.failed; i++) {
        char *ptr = NULL;
        const json_t *t = resolve(&c, c.pend[i].from, c.pend[i].ref, &ptr);
        if (t)
            c.pend[i].from->ref = compile(&c, t, ptr, 0);
        free(ptr);
    }
    for (size_t i = 0; i < s->nnodes && !c.failed; i++)
        no_cycle(&c, s->nodes[i], 0);
    free(c.map);
    free(c.pend);
    if (c.failed) {
        jschema_free(s);
        return NULL;
    }
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->mctx) {
        snprintf(err, errlen, "out of memory");
        jschema_free(s);
        return NULL;
    }
    pcre2_set_match_limit(s->mctx, RE_MATCH_LIMIT);
    pcre2_set_heap_limit(s->mctx, RE_HEAP_KIB);
    jschema_fast_prepare(s);
    return s;
}

void jschema_free(struct jschema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++) {
        struct jnode *n = s->nodes[i];
        free(n->path);
        free(n->props);
        free(n->ptab);
        free(n->lits);
        free(n->req);
        free(n->prefix);
        free(n->all);
        free(n->any);
        free(n->one);
        pcre2_code_free(n->re);
        free(n);
    }
    free(s->nodes);
    pcre2_match_context_free(s->mctx);
    json_decref(s->doc);
    free(s);
}

/* ------------------------------------------------------------- validate */

struct seg {
    const char *key; /* NULL: an array index */
    size_t klen;
    size_t idx;
};

struct vc {
    const struct jschema *s;
    int quiet; /* inside anyOf/oneOf/not: no messages, just the answer */
    int depth;
    int npath;
    char *err;
    size_t errlen;
    struct seg path[JSCHEMA_MAX_VDEPTH];
};

/* One PCRE2 match block per thread, made on its first pattern check and
 * freed when the thread ends (pthread key destructor). */
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void md_key_make(void)
{
    if (pthread_key_create(&md_key, md_free) != 0)
        abort(); /* only when out of keys or memory */
}

pcre2_match_data *jschema_thread_md(void)
{
    pthread_once(&md_once, md_key_make);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md && (md = pcre2_match_data_create(1, NULL)) != NULL &&
        pthread_setspecific(md_key, md) != 0) {
        pcre2_match_data_free(md);
        md = NULL;
    }
    return md;
}

/* "at <path>: <what>"; a path too long for err keeps its two ends. */
__attribute__((format(printf, 2, 3))) static int vfail(struct vc *v,
                                                       const char *fmt, ...)
{
    if (v->quiet || !v->errlen)
        return -1;
    char msg[256], path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t o = 0, cap = sizeof(path);
    for (int i = 0; i < v->npath && o + 24 < cap; i++) {
        const struct seg *g = &v->path[i];
        path[o++] = '/';
        if (!g->key) {
            o += (size_t)snprintf(path + o, cap - o, "%zu", g->idx);
            continue;
        }
        for (size_t k = 0; k < g->klen && o + 3 < cap; k++) {
            char ch = g->key[k];
            if (ch == '~' || ch == '/') {
                path[o++] = '~';
                path[o++] = ch == '~' ? '0' : '1';
            } else {
                path[o++] = ch ? ch : '?';
            }
        }
    }
    path[o] = '\0';
    const char *shown = v->npath ? path : "(root)";
    size_t room =
        v->errlen > strlen(msg) + 8 ? v->errlen - strlen(msg) - 8 : 16;
    if (strlen(shown) > room && room >= 16) {
        size_t head = room / 3, tail = room - head - 3;
        memmove(path + head + 3, path + o - tail, tail + 1);
        memcpy(path + head, "...", 3);
    }
    snprintf(v->err, v->errlen, "at %s: %s", shown, msg);
    return -1;
}

static int vnode(struct vc *v, const struct jnode *n, const json_t *j);

/* Validates j, found under key / index of the current value. */
static int vchild(struct vc *v, const struct jnode *n, const json_t *j,
                  const char *key, size_t klen, size_t idx)
{
    if (n->trivial)
        return 0;
    if (v->npath >= JSCHEMA_MAX_VDEPTH)
        return vfail(v, "nested deeper than %d levels", JSCHEMA_MAX_VDEPTH);
    v->path[v->npath].key = key;
    v->path[v->npath].klen = klen;
    v->path[v->npath].idx = idx;
    v->npath++;
    int r = vnode(v, n, j);
    v->npath--;
    return r;
}

static void types_str(char *buf, size_t cap, unsigned mask)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < ARRAY_LEN(type_names); k++) {
        if (!(mask & (1u << k)) || o >= cap)
            continue;
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? " or " : "",
                              type_names[k]);
    }
}

static int vnumber(struct vc *v, const struct jnode *n, const json_t *j)
{
    static const char *const what[JB_N] = {
        "less than minimum", "greater than maximum",
        "not greater than exclusiveMinimum", "not less than exclusiveMaximum"};
    struct jnum x = num_of(j);
    for (int b = 0; b < JB_N; b++) {
        if (!(n->has_bound & (1u << b)))
            continue;
        int cmp = jschema_num_cmp(x, n->bound[b]);
        bool bad = b == JB_MIN    ? cmp < 0
                   : b == JB_MAX  ? cmp > 0
                   : b == JB_XMIN ? cmp <= 0
                                  : cmp >= 0;
        if (bad) {
            char a[40], bb[40];
            num_str(a, sizeof(a), x);
            num_str(bb, sizeof(bb), n->bound[b]);
            return vfail(v, "%s is %s %s", a, what[b], bb);
        }
    }
    return 0;
}

static int vstring(struct vc *v, const struct jnode *n, const json_t *j)
{
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    if (n->has_lim & ((1u << JL_MINLEN) | (1u << JL_MAXLEN))) {
        size_t cp = utf8_len(s, len);
        if ((n->has_lim & (1u << JL_MINLEN)) && cp < n->lim[JL_MINLEN])
            return vfail(v,
                         "string of %zu characters is shorter than "
                         "minLength %zu",
                         cp, n->lim[JL_MINLEN]);
        if ((n->has_lim & (1u << JL_MAXLEN)) && cp > n->lim[JL_MAXLEN])
            return vfail(v,
                         "string of %zu characters is longer than "
                         "maxLength %zu",
                         cp, n->lim[JL_MAXLEN]);
    }
    if (n->re) {
        pcre2_match_data *md = jschema_thread_md();
        if (!md)
            return vfail(v, "out of memory for the pattern check");
        int rc = pcre2_match(n->re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_UTF_CHECK,
                             md, v->s->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            return vfail(v, "string does not match pattern '%s'", n->re_src);
        if (rc < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(rc, msg, sizeof(msg));
            return vfail(v, "pattern '%s' could not be checked: %s", n->re_src,
                         (const char *)msg);
        }
    }
    return 0;
}

struct hashed {
    uint64_t h;
    size_t i;
};

static int hashed_cmp(const void *a, const void *b)
{
    const struct hashed *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int vunique(struct vc *v, const json_t *j)
{
    size_t n = json_array_size(j);
    if (n <= UNIQUE_SMALL) {
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++)
                if (jschema_json_equal(json_array_get(j, a),
                                       json_array_get(j, b)))
                    return vfail(v,
                                 "items %zu and %zu are equal "
                                 "(uniqueItems)",
                                 a, b);
        return 0;
    }
    struct hashed *hs = xmalloc(n * sizeof(*hs));
    for (size_t i = 0; i < n; i++) {
        hs[i].h = json_hash(json_array_get(j, i));
        hs[i].i = i;
    }
    qsort(hs, n, sizeof(*hs), hashed_cmp);
    int r = 0;
    for (size_t a = 0; a < n && !r; a++)
        for (size_t b = a + 1; b < n && hs[b].h == hs[a].h && !r; b++)
            if (jschema_json_equal(json_array_get(j, hs[a].i),
                                   json_array_get(j, hs[b].i)))
                r = vfail(v, "items %zu and %zu are equal (uniqueItems)",
                          hs[a].i, hs[b].i);
    free(hs);
    return r;
}

static int varray(struct vc *v, const struct jnode *n, const json_t *j)
{
    size_t len = json_array_size(j);
    if ((n->has_lim & (1u << JL_MINITEMS)) && len < n->lim[JL_MINITEMS])
        return vfail(v, "array of %zu items has fewer than minItems %zu", len,
                     n->lim[JL_MINITEMS]);
    if ((n->has_lim & (1u << JL_MAXITEMS)) && len > n->lim[JL_MAXITEMS])
        return vfail(v, "array of %zu items has more than maxItems %zu", len,
                     n->lim[JL_MAXITEMS]);
    for (size_t i = 0; i < len && i < n->nprefix; i++)
        if (vchild(v, n->prefix[i], json_array_get(j, i), NULL, 0, i))
            return -1;
    if (n->items) {
        if (n->items->never && len > n->nprefix)
            return vfail(v,
                         "array of %zu items: no items allowed after the "
                         "first %zu",
                         len, n->nprefix);
        for (size_t i = n->nprefix; i < len; i++)
            if (vchild(v, n->items, json_array_get(j, i), NULL, 0, i))
                return -1;
    }
    if (n->unique && len > 1)
        return vunique(v, j);
    return 0;
}

static const struct jprop *find_prop(const struct jnode *n, const char *k,
                                     size_t kl)
{
    struct jprop key = {.key = k, .klen = kl};
    if (n->nprops <= 8) {
        for (size_t i = 0; i < n->nprops; i++)
            if (!prop_cmp(&key, &n->props[i]))
                return &n->props[i];
        return NULL;
    }
    return bsearch(&key, n->props, n->nprops, sizeof(*n->props), prop_cmp);
}

static int vobject(struct vc *v, const struct jnode *n, const json_t *j)
{
    size_t size = json_object_size(j);
    if ((n->has_lim & (1u << JL_MINPROPS)) && size < n->lim[JL_MINPROPS])
        return vfail(v,
                     "object of %zu properties has fewer than "
                     "minProperties %zu",
                     size, n->lim[JL_MINPROPS]);
    if ((n->has_lim & (1u << JL_MAXPROPS)) && size > n->lim[JL_MAXPROPS])
        return vfail(v,
                     "object of %zu properties has more than "
                     "maxProperties %zu",
                     size, n->lim[JL_MAXPROPS]);
    for (size_t i = 0; i < n->nreq; i++)
        if (!json_object_getn(j, n->req[i].key, n->req[i].klen))
            return vfail(v, "required property '%.*s' is missing",
                         (int)n->req[i].klen, n->req[i].key);
    size_t seen = 0;
    for (size_t i = 0; i < n->nprops; i++) {
        const struct jprop *p = &n->props[i];
        const json_t *e = json_object_getn(j, p->key, p->klen);
        if (!e)
            continue;
        seen++;
        if (vchild(v, p->node, e, p->key, p->klen, 0))
            return -1;
    }
    /* Every member was a declared property: nothing is "additional". */
    if (!n->additional || n->additional->trivial || seen == size)
        return 0;
    const char *k;
    size_t kl;
    json_t *e;
    json_object_keylen_foreach((json_t *)j, k, kl, e)
    {
        if (find_prop(n, k, kl))
            continue;
        if (n->additional->never)
            return vfail(v,
                         "property '%.*s' is not allowed "
                         "(additionalProperties is false)",
                         (int)kl, k);
        if (vchild(v, n->additional, e, k, kl, 0))
            return -1;
    }
    return 0;
}

static int vbody(struct vc *v, const struct jnode *n, const json_t *j)
{
    if (n->trivial)
        return 0;
    if (n->never)
        return vfail(v, "no value is allowed here (the schema is false)");
    if (n->ref)
        return vnode(v, n->ref, j);
    if (n->types) {
        unsigned t = type_bit(j);
        bool ok =
            (n->types & t) ||
            (t == JT_NUMBER && (n->types & JT_INTEGER) && num_is_integral(j));
        if (!ok) {
            char want[80];
            types_str(want, sizeof(want), n->types);
            const char *got = t == JT_NUMBER && num_is_integral(j)
                                  ? "integer"
                                  : type_names[__builtin_ctz(t)];
            return vfail(v, "expected %s, got %s", want, got);
        }
    }
    if (n->const_v && !jschema_json_equal(n->const_v, j))
        return vfail(v, "value does not equal the const");
    if (n->enum_v) {
        size_t i = 0, count = json_array_size(n->enum_v);
        while (i < count &&
               !jschema_json_equal(json_array_get(n->enum_v, i), j))
            i++;
        if (i == count)
            return vfail(v, "value is not one of the %zu enum values", count);
    }
    int r = 0;
    switch (json_typeof(j)) {
    case JSON_INTEGER:
    case JSON_REAL:
        r = n->has_bound ? vnumber(v, n, j) : 0;
        break;
    case JSON_STRING:
        r = vstring(v, n, j);
        break;
    case JSON_ARRAY:
        r = varray(v, n, j);
        break;
    case JSON_OBJECT:
        r = vobject(v, n, j);
        break;
    default:
        break;
    }
    if (r)
        return r;
    for (size_t i = 0; i < n->nall; i++)
        if (vnode(v, n->all[i], j))
            return -1;
    if (n->nany) {
        size_t i = 0;
        v->quiet++;
        while (i < n->nany && vnode(v, n->any[i], j))
            i++;
        v->quiet--;
        if (i == n->nany)
            return vfail(v, "value matches none of the %zu anyOf schemas",
                         n->nany);
    }
    if (n->none) {
        size_t hits = 0, first = 0, second = 0;
        v->quiet++;
        for (size_t i = 0; i < n->none && hits < 2; i++) {
            if (vnode(v, n->one[i], j) == 0) {
                if (hits++ == 0)
                    first = i;
                else
                    second = i;
            }
        }
        v->quiet--;
        if (hits == 0)
            return vfail(v, "value matches none of the %zu oneOf schemas",
                         n->none);
        if (hits > 1)
            return vfail(v,
                         "value matches oneOf schemas %zu and %zu, "
                         "exactly one is allowed",
                         first, second);
    }
    if (n->not_) {
        v->quiet++;
        int ok = vnode(v, n->not_, j) == 0;
        v->quiet--;
        if (ok)
            return vfail(v, "value matches the schema under 'not'");
    }
    return 0;
}

static int vnode(struct vc *v, const struct jnode *n, const json_t *j)
{
    if (v->depth >= JSCHEMA_MAX_VDEPTH)
        return vfail(v, "more than %d schema levels deep", JSCHEMA_MAX_VDEPTH);
    v->depth++;
    int r = vbody(v, n, j);
    v->depth--;
    return r;
}

int jschema_validate(const struct jschema *s, const char *json, size_t n,
                     char *err, size_t errlen)
{
    /* the one-pass path answers most payloads; whatever it cannot call
     * valid is checked again here, which writes the message */
    if (jschema_validate_fast(s, json, n) == JSCHEMA_FAST_VALID)
        return 0;
    return jschema_validate_dom(s, json, n, err, errlen);
}

int jschema_validate_dom(const struct jschema *s, const char *json, size_t n,
                         char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *j = json_loadb(
        json, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
        &jerr);
    if (!j) {
        snprintf(err, errlen, "not JSON: line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return ERR_INVAL;
    }
    /* about 12 KiB of stack: the path of the value being checked */
    struct vc v; /* not zeroed: path[] is written before it is read */
    v.s = s;
    v.quiet = 0;
    v.depth = 0;
    v.npath = 0;
    v.err = err;
    v.errlen = errlen;
    int r = vnode(&v, s->nodes[0], j) ? ERR_INVAL : 0;
    json_decref(j);
    return r;
}
