/* jsonschema_compat.c - jschema_compatible: does every document the old
 * schema accepted still pass the new one?
 *
 * A structural walk of the two compiled trees side by side, location by
 * location, each rule a sufficient condition (docs/contracts.md lists them).
 * Recursive schemas are walked once per (old, new) pair of nodes: a pair met
 * again is assumed compatible, which is sound for this kind of containment
 * (any counterexample would show up at a pair walked for the first time). */
#include "jsonschema.h"

#include "common.h"
#include "errors.h"
#include "jsonschema_tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPAT_MAX_PAIRS 10000 /* pairs of nodes met through $ref */

struct pair {
    const struct jnode *o, *n;
};

struct cx {
    char *err;
    size_t errlen;
    struct pair *seen;
    size_t nseen, capseen;
    int depth;
};

static const struct jnode true_node = {.path = "", .trivial = true};

static const char *where(const char *path)
{
    return path[0] ? path : "(root)";
}

__attribute__((format(printf, 3, 4))) static int
bad(struct cx *x, const char *path, const char *fmt, ...)
{
    size_t o = (size_t)snprintf(x->err, x->errlen, "%s: ", where(path));
    if (o < x->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err + o, x->errlen - o, fmt, ap);
        va_end(ap);
    }
    return ERR_INVAL;
}

static const struct jnode *deref(const struct jnode *n)
{
    if (!n)
        return &true_node;
    while (n->ref) /* no cycles: compile refused them */
        n = n->ref;
    return n;
}

static void num_str(char *buf, size_t cap, struct jnum n)
{
    if (n.is_int)
        snprintf(buf, cap, "%lld", (long long)n.i);
    else
        snprintf(buf, cap, "%.17g", n.d);
}

static void value_str(char *buf, size_t cap, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, cap, "%s", s ? s : "?");
    if (s && strlen(s) >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
    free(s);
}

static int compat(struct cx *x, const struct jnode *o, const struct jnode *n);

static bool in_enum(const json_t *arr, const json_t *v)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (jschema_json_equal(json_array_get(arr, i), v))
            return true;
    return false;
}

static int types_rule(struct cx *x, const struct jnode *o,
                      const struct jnode *n)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    unsigned om = o->types ? o->types : JT_ALL;
    unsigned nm = n->types ? n->types : JT_ALL;
    if (nm & JT_NUMBER)
        nm |= JT_INTEGER; /* integers are numbers */
    for (unsigned k = 0; k < ARRAY_LEN(names); k++)
        if ((om & (1u << k)) && !(nm & (1u << k)))
            return bad(x, n->path, "type narrowed: %s no longer allowed",
                       names[k]);
    return 0;
}

static int values_rule(struct cx *x, const struct jnode *o,
                       const struct jnode *n)
{
    char buf[80];
    if (n->enum_v) {
        if (o->enum_v) {
            for (size_t i = 0; i < json_array_size(o->enum_v); i++) {
                const json_t *v = json_array_get(o->enum_v, i);
                if (!in_enum(n->enum_v, v)) {
                    value_str(buf, sizeof(buf), v);
                    return bad(x, n->path, "enum value %s removed", buf);
                }
            }
        } else if (!o->const_v) {
            return bad(x, n->path, "enum added");
        } else if (!in_enum(n->enum_v, o->const_v)) {
            value_str(buf, sizeof(buf), o->const_v);
            return bad(x, n->path, "enum leaves out the old const %s", buf);
        }
    }
    if (n->const_v) {
        if (o->const_v) {
            if (!jschema_json_equal(o->const_v, n->const_v))
                return bad(x, n->path, "const changed");
        } else if (!o->enum_v) {
            return bad(x, n->path, "const added");
        } else {
            for (size_t i = 0; i < json_array_size(o->enum_v); i++)
                if (!jschema_json_equal(json_array_get(o->enum_v, i),
                                        n->const_v))
                    return bad(x, n->path, "const replaces a wider enum");
        }
    }
    return 0;
}

/* New lower bound b (exclusive if xb) is no stricter than old's. */
static bool lower_ok(const struct jnode *o, struct jnum b, bool xb)
{
    if (o->has_bound & (1u << JB_MIN)) {
        int c = jschema_num_cmp(o->bound[JB_MIN], b);
        if (c > 0 || (c == 0 && !xb))
            return true;
    }
    if (o->has_bound & (1u << JB_XMIN))
        if (jschema_num_cmp(o->bound[JB_XMIN], b) >= 0)
            return true;
    return false;
}

static bool upper_ok(const struct jnode *o, struct jnum b, bool xb)
{
    if (o->has_bound & (1u << JB_MAX)) {
        int c = jschema_num_cmp(o->bound[JB_MAX], b);
        if (c < 0 || (c == 0 && !xb))
            return true;
    }
    if (o->has_bound & (1u << JB_XMAX))
        if (jschema_num_cmp(o->bound[JB_XMAX], b) <= 0)
            return true;
    return false;
}

static int bounds_rule(struct cx *x, const struct jnode *o,
                       const struct jnode *n)
{
    static const char *const kw[JB_N] = {
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    static const char *const lk[JL_N] = {"minLength",     "maxLength",
                                         "minItems",      "maxItems",
                                         "minProperties", "maxProperties"};
    for (int b = 0; b < JB_N; b++) {
        if (!(n->has_bound & (1u << b)))
            continue;
        bool xb = b == JB_XMIN || b == JB_XMAX;
        bool lower = b == JB_MIN || b == JB_XMIN;
        if (lower ? lower_ok(o, n->bound[b], xb) : upper_ok(o, n->bound[b], xb))
            continue;
        char nb[40];
        num_str(nb, sizeof(nb), n->bound[b]);
        if (o->has_bound & (1u << b)) {
            char ob[40];
            num_str(ob, sizeof(ob), o->bound[b]);
            return bad(x, n->path, "%s tightened (%s -> %s)", kw[b], ob, nb);
        }
        return bad(x, n->path, "%s added (%s)", kw[b], nb);
    }
    for (int l = 0; l < JL_N; l++) {
        if (!(n->has_lim & (1u << l)))
            continue;
        bool lower = (l % 2) == 0;
        if (o->has_lim & (1u << l)) {
            size_t ov = o->lim[l], nv = n->lim[l];
            if (lower ? nv > ov : nv < ov)
                return bad(x, n->path, "%s tightened (%zu -> %zu)", lk[l], ov,
                           nv);
        } else if (lower ? n->lim[l] > 0 : true) {
            return bad(x, n->path, "%s added (%zu)", lk[l], n->lim[l]);
        }
    }
    if (n->re && !(o->re && strcmp(o->re_src, n->re_src) == 0))
        return bad(x, n->path, o->re ? "pattern changed" : "pattern added");
    if (n->unique && !o->unique)
        return bad(x, n->path, "uniqueItems added");
    return 0;
}

static const struct jnode *prop_of(const struct jnode *n, const char *k,
                                   size_t kl)
{
    for (size_t i = 0; i < n->nprops; i++)
        if (n->props[i].klen == kl && memcmp(n->props[i].key, k, kl) == 0)
            return n->props[i].node;
    return NULL;
}

static bool is_required(const struct jnode *n, const char *k, size_t kl)
{
    for (size_t i = 0; i < n->nreq; i++)
        if (n->req[i].klen == kl && memcmp(n->req[i].key, k, kl) == 0)
            return true;
    return false;
}

static int object_rule(struct cx *x, const struct jnode *o,
                       const struct jnode *n)
{
    for (size_t i = 0; i < n->nreq; i++) {
        const struct jprop *r = &n->req[i];
        if (!is_required(o, r->key, r->klen)) {
            char path[300];
            snprintf(path, sizeof(path), "%s/properties/%.*s", n->path,
                     (int)r->klen, r->key);
            return bad(x, path, "made required");
        }
    }
    for (size_t i = 0; i < n->nprops; i++) {
        const struct jprop *p = &n->props[i];
        const struct jnode *op = prop_of(o, p->key, p->klen);
        if (op) {
            if (compat(x, op, p->node))
                return ERR_INVAL;
        } else if (o->additional) {
            /* old sent it as an additional property */
            if (compat(x, o->additional, p->node))
                return ERR_INVAL;
        }
        /* else: a new property under an open additionalProperties is
         * accepted (the documented leniency) */
    }
    for (size_t i = 0; i < o->nprops; i++) {
        const struct jprop *p = &o->props[i];
        if (prop_of(n, p->key, p->klen) || !n->additional)
            continue;
        if (deref(n->additional)->never && !deref(p->node)->never)
            return bad(x, o->path,
                       "property '%.*s' removed while additionalProperties "
                       "is false",
                       (int)p->klen, p->key);
        if (compat(x, p->node, n->additional))
            return ERR_INVAL;
    }
    if (n->additional && !deref(n->additional)->trivial) {
        if (!o->additional)
            return bad(x, n->path,
                       deref(n->additional)->never
                           ? "additionalProperties closed"
                           : "additionalProperties constrained");
        if (compat(x, o->additional, n->additional))
            return ERR_INVAL;
    }
    return 0;
}

static const struct jnode *item_at(const struct jnode *n, size_t i)
{
    return i < n->nprefix ? n->prefix[i] : n->items;
}

static int array_rule(struct cx *x, const struct jnode *o,
                      const struct jnode *n)
{
    size_t k = o->nprefix > n->nprefix ? o->nprefix : n->nprefix;
    for (size_t i = 0; i < k; i++)
        if (compat(x, item_at(o, i), item_at(n, i)))
            return ERR_INVAL;
    return compat(x, o->items, n->items);
}

static int logic_rule(struct cx *x, const struct jnode *o,
                      const struct jnode *n)
{
    if (n->nall) {
        if (o->nall != n->nall)
            return bad(x, n->path, o->nall ? "allOf changed" : "allOf added");
        for (size_t i = 0; i < n->nall; i++)
            if (compat(x, o->all[i], n->all[i]))
                return ERR_INVAL;
    }
    if (n->nany) {
        if (!o->nany)
            return bad(x, n->path, "anyOf added");
        if (n->nany < o->nany)
            return bad(x, n->path, "anyOf alternative removed");
        for (size_t i = 0; i < o->nany; i++)
            if (compat(x, o->any[i], n->any[i]))
                return ERR_INVAL;
    }
    if (n->none) {
        if (o->none != n->none)
            return bad(x, n->path, o->none ? "oneOf changed" : "oneOf added");
        /* widening one branch can make a value match two: only an
         * unchanged (mutually compatible) list is safe */
        for (size_t i = 0; i < n->none; i++)
            if (compat(x, o->one[i], n->one[i]) ||
                compat(x, n->one[i], o->one[i]))
                return bad(x, n->one[i]->path, "oneOf branch changed");
    }
    if (n->not_) {
        if (!o->not_)
            return bad(x, n->path, "not added");
        if (compat(x, n->not_, o->not_)) /* reversed: not shrinks */
            return bad(x, n->not_->path, "schema under 'not' widened");
    }
    return 0;
}

static int compat(struct cx *x, const struct jnode *o, const struct jnode *n)
{
    /* only a $ref can lead back to a pair already on the way: those pairs
     * are remembered, the plain tree is walked without bookkeeping */
    bool via_ref = (o && o->ref) || (n && n->ref);
    o = deref(o);
    n = deref(n);
    if (o->never || n->trivial)
        return 0;
    if (n->never)
        return bad(x, n->path, "schema is now false (nothing is valid)");
    if (x->depth >= JSCHEMA_MAX_VDEPTH)
        return bad(x, n->path, "schemas too deep to compare");
    if (via_ref) {
        for (size_t i = 0; i < x->nseen; i++)
            if (x->seen[i].o == o && x->seen[i].n == n)
                return 0;
        if (x->nseen >= COMPAT_MAX_PAIRS)
            return bad(x, n->path, "schemas too large to compare");
        if (x->nseen == x->capseen) {
            x->capseen = x->capseen ? x->capseen * 2 : 32;
            x->seen = xrealloc(x->seen, x->capseen * sizeof(*x->seen));
        }
        x->seen[x->nseen].o = o;
        x->seen[x->nseen++].n = n;
    }
    x->depth++;
    int r = types_rule(x, o, n);
    if (!r)
        r = values_rule(x, o, n);
    if (!r)
        r = bounds_rule(x, o, n);
    if (!r)
        r = object_rule(x, o, n);
    if (!r)
        r = array_rule(x, o, n);
    if (!r)
        r = logic_rule(x, o, n);
    x->depth--;
    return r;
}

int jschema_compatible(const struct jschema *old_s, const struct jschema *new_s,
                       char *err, size_t errlen)
{
    struct cx x = {.err = err, .errlen = errlen};
    int r = compat(&x, old_s->nodes[0], new_s->nodes[0]);
    free(x.seen);
    return r;
}
