/* registry.c - the event type registry: hash table, producer counts and the
 * journal records (registry.h). */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "errors.h"
#include "le.h"

struct registry {
    struct type_entry **buckets; /* power of two */
    size_t nbuckets;
    size_t count;      /* entries */
    size_t registered; /* entries with registered = 1 */
    struct type_entry *dirty; /* entries with producer counts to write */
};

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct registry *registry_new(void)
{
    struct registry *r = xcalloc(1, sizeof(*r));
    r->nbuckets = 64;
    r->buckets = xcalloc(r->nbuckets, sizeof(*r->buckets));
    return r;
}

static void clear_registration(struct type_entry *e)
{
    free(e->owner);
    free(e->doc);
    free(e->schema_src);
    free(e->message);
    for (size_t i = 0; i < e->nrequire; i++)
        free(e->require[i]);
    free(e->require);
    schema_free(e->schema);
    free(e->schema_error);
    e->owner = e->doc = e->message = e->schema_error = NULL;
    e->schema_src = NULL;
    e->require = NULL;
    e->schema = NULL;
    e->owner_len = e->doc_len = e->schema_len = e->nrequire = 0;
    e->schema_kind = SCHEMA_NONE;
    e->kind = TYPE_OCCURRENCE;
    e->version = 0;
    e->created_ms = e->updated_ms = 0;
    e->registered = 0;
}

static void entry_free(struct type_entry *e)
{
    clear_registration(e);
    for (size_t i = 0; i < e->nproducers; i++)
        free(e->producers[i].name);
    free(e->producers);
    free(e->type);
    free(e);
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    for (size_t b = 0; b < r->nbuckets; b++) {
        struct type_entry *e = r->buckets[b], *next;
        for (; e; e = next) {
            next = e->hnext;
            entry_free(e);
        }
    }
    free(r->buckets);
    free(r);
}

struct type_entry *registry_find(struct registry *r, const char *type, size_t len)
{
    struct type_entry *e = r->buckets[hash(type, len) & (r->nbuckets - 1)];
    for (; e; e = e->hnext)
        if (e->tlen == len && memcmp(e->type, type, len) == 0)
            return e;
    return NULL;
}

size_t registry_registered(const struct registry *r)
{
    return r->registered;
}

size_t registry_count(const struct registry *r)
{
    return r->count;
}

static void grow(struct registry *r)
{
    size_t nb = r->nbuckets * 2;
    struct type_entry **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct type_entry *e = r->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            size_t k = hash(e->type, e->tlen) & (nb - 1);
            e->hnext = b[k];
            b[k] = e;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = nb;
}

static struct type_entry *get_or_add(struct registry *r, const char *type,
                                     size_t len)
{
    struct type_entry *e = registry_find(r, type, len);
    if (e)
        return e;
    if (r->count >= r->nbuckets)
        grow(r);
    e = xcalloc(1, sizeof(*e));
    e->type = xmemdup(type, len);
    e->tlen = len;
    size_t k = hash(type, len) & (r->nbuckets - 1);
    e->hnext = r->buckets[k];
    r->buckets[k] = e;
    r->count++;
    return e;
}

static void unlink_entry(struct registry *r, struct type_entry *e)
{
    struct type_entry **pp = &r->buckets[hash(e->type, e->tlen) & (r->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    r->count--;
}

static int same_bytes(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static int same_schema(const struct type_entry *e, const struct type_def *d)
{
    if (e->schema_kind != d->schema_kind)
        return 0;
    if (d->schema_kind == SCHEMA_NONE)
        return 1;
    if (!same_bytes(e->schema_src, e->schema_len, d->schema_src, d->schema_len))
        return 0;
    const char *m = d->message ? d->message : "";
    if (strcmp(e->message ? e->message : "", m) != 0 || e->nrequire != d->nrequire)
        return 0;
    for (size_t i = 0; i < d->nrequire; i++)
        if (strcmp(e->require[i], d->require[i]) != 0)
            return 0;
    return e->schema != NULL; /* an uncompiled one is replaced by a good one */
}

static int replace_str(char **dst, size_t *dlen, const char *src, size_t n)
{
    if (!src)
        return 0;
    if (*dst ? same_bytes(*dst, *dlen, src, n) : n == 0)
        return 0;
    free(*dst);
    *dst = n ? xmemdup(src, n) : NULL;
    *dlen = n;
    return 1;
}

struct type_entry *registry_set(struct registry *r, const char *type, size_t len,
                                const struct type_def *d, uint64_t now,
                                int *changed)
{
    struct type_entry *e = get_or_add(r, type, len);
    int ch = 0;
    if (!e->registered) {
        e->registered = 1;
        e->created_ms = now;
        r->registered++;
        ch = 1;
    }
    ch |= replace_str(&e->owner, &e->owner_len, d->owner, d->owner_len);
    ch |= replace_str(&e->doc, &e->doc_len, d->doc, d->doc_len);
    if (d->kind >= 0 && (enum type_kind)d->kind != e->kind) {
        e->kind = (enum type_kind)d->kind;
        ch = 1;
    }
    if (d->set_schema && same_schema(e, d)) {
        schema_free(d->schema); /* the same contract again */
    } else if (d->set_schema) {
        int had = e->schema_kind != SCHEMA_NONE;
        free(e->schema_src);
        free(e->message);
        for (size_t i = 0; i < e->nrequire; i++)
            free(e->require[i]);
        free(e->require);
        schema_free(e->schema);
        free(e->schema_error);
        e->schema_error = NULL;
        e->schema_kind = d->schema_kind;
        e->schema = d->schema;
        e->schema_src = d->schema_len ? xmemdup(d->schema_src, d->schema_len) : NULL;
        e->schema_len = d->schema_len;
        e->message = d->message ? xstrdup(d->message) : NULL;
        e->nrequire = d->nrequire;
        e->require = d->nrequire ? xcalloc(d->nrequire, sizeof(char *)) : NULL;
        for (size_t i = 0; i < d->nrequire; i++)
            e->require[i] = xstrdup(d->require[i]);
        if (had || d->schema_kind != SCHEMA_NONE)
            e->version++;
        ch = 1;
    }
    if (ch)
        e->updated_ms = now;
    *changed = ch;
    return e;
}

int registry_del(struct registry *r, const char *type, size_t len)
{
    struct type_entry *e = registry_find(r, type, len);
    if (!e || !e->registered)
        return 0;
    clear_registration(e);
    r->registered--;
    if (e->nproducers == 0) {
        unlink_entry(r, e);
        entry_free(e);
    }
    return 1;
}

static void mark_dirty(struct registry *r, struct type_entry *e)
{
    if (e->dirty)
        return;
    e->dirty = 1;
    e->dirty_next = r->dirty;
    r->dirty = e;
}

static struct type_producer *producer_add(struct type_entry *e, const char *name,
                                          size_t len)
{
    if (e->nproducers == e->capproducers) {
        e->capproducers = e->capproducers ? e->capproducers * 2 : 2;
        e->producers = xrealloc(e->producers, e->capproducers * sizeof(*e->producers));
    }
    struct type_producer *p = &e->producers[e->nproducers++];
    memset(p, 0, sizeof(*p));
    p->name = xmemdup(name, len);
    p->len = len;
    return p;
}

static struct type_producer *producer_find(struct type_entry *e, const char *name,
                                           size_t len)
{
    if (e->last_producer < e->nproducers) {
        struct type_producer *p = &e->producers[e->last_producer];
        if (same_bytes(p->name, p->len, name, len))
            return p;
    }
    for (size_t i = 0; i < e->nproducers; i++) {
        struct type_producer *p = &e->producers[i];
        if (same_bytes(p->name, p->len, name, len)) {
            e->last_producer = i;
            return p;
        }
    }
    return NULL;
}

void registry_note(struct registry *r, struct type_entry *e, const char *type,
                   size_t tlen, const char *name, size_t len, uint64_t now)
{
    if (!e)
        e = get_or_add(r, type, tlen);
    if (!name) {
        name = REGISTRY_UNNAMED;
        len = strlen(REGISTRY_UNNAMED);
    }
    struct type_producer *p = producer_find(e, name, len);
    if (!p && e->nproducers >= REGISTRY_PRODUCERS_MAX) {
        name = REGISTRY_OTHER;
        len = strlen(REGISTRY_OTHER);
        p = producer_find(e, name, len);
    }
    if (!p) {
        p = producer_add(e, name, len);
        p->first_seen = now;
        e->last_producer = e->nproducers - 1;
    }
    p->count++;
    if (now > p->last_seen)
        p->last_seen = now;
    mark_dirty(r, e);
}

void registry_foreach(struct registry *r,
                      void (*fn)(void *ctx, struct type_entry *e), void *ctx)
{
    for (size_t b = 0; b < r->nbuckets; b++)
        for (struct type_entry *e = r->buckets[b]; e; e = e->hnext)
            fn(ctx, e);
}

struct type_entry *registry_dirty(struct registry *r)
{
    return r->dirty;
}

void registry_dirty_clear(struct registry *r)
{
    struct type_entry *e = r->dirty, *next;
    for (; e; e = next) {
        next = e->dirty_next;
        e->dirty = 0;
        e->dirty_next = NULL;
    }
    r->dirty = NULL;
}

/* ---- records ---- */

static void put8(struct sbuf *b, uint8_t v)
{
    sbuf_add(b, &v, 1);
}

static void put16(struct sbuf *b, uint16_t v)
{
    uint8_t x[2];
    le_put16(x, v);
    sbuf_add(b, x, 2);
}

static void put32(struct sbuf *b, uint32_t v)
{
    uint8_t x[4];
    le_put32(x, v);
    sbuf_add(b, x, 4);
}

static void put64(struct sbuf *b, uint64_t v)
{
    uint8_t x[8];
    le_put64(x, v);
    sbuf_add(b, x, 8);
}

/* Callers keep every str16 under 64 KiB (the argument limits). */
static void str16(struct sbuf *b, const void *p, size_t n)
{
    put16(b, (uint16_t)n);
    if (n)
        sbuf_add(b, p, n);
}

static void str32(struct sbuf *b, const void *p, size_t n)
{
    put32(b, (uint32_t)n);
    if (n)
        sbuf_add(b, p, n);
}

void registry_rec_set(struct sbuf *out, const struct type_entry *e)
{
    sbuf_clear(out);
    str16(out, e->type, e->tlen);
    put8(out, (uint8_t)e->kind);
    put8(out, (uint8_t)e->schema_kind);
    put32(out, e->version);
    put64(out, e->created_ms);
    put64(out, e->updated_ms);
    put8(out, e->owner != NULL);
    str16(out, e->owner, e->owner_len);
    str32(out, e->doc, e->doc_len);
    str16(out, e->message, e->message ? strlen(e->message) : 0);
    put16(out, (uint16_t)e->nrequire);
    for (size_t i = 0; i < e->nrequire; i++)
        str16(out, e->require[i], strlen(e->require[i]));
    str32(out, e->schema_src, e->schema_len);
}

void registry_rec_del(struct sbuf *out, const char *type, size_t len)
{
    sbuf_clear(out);
    str16(out, type, len);
}

void registry_rec_producers(struct sbuf *out, const struct type_entry *e)
{
    sbuf_clear(out);
    str16(out, e->type, e->tlen);
    put16(out, (uint16_t)e->nproducers);
    for (size_t i = 0; i < e->nproducers; i++) {
        const struct type_producer *p = &e->producers[i];
        str16(out, p->name, p->len);
        put64(out, p->first_seen);
        put64(out, p->last_seen);
        put64(out, p->count);
    }
}

static int corrupt(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "types record: %s", what);
    return ERR_CORRUPT;
}

static int recover_set(struct registry *r, struct le_reader *d,
                       size_t *bad_schemas, char *err, size_t errlen)
{
    size_t tl, ol, dl, ml, sl;
    const char *t = le_read_str(d, 2, &tl);
    uint8_t kind = (uint8_t)le_read(d, 1), sk = (uint8_t)le_read(d, 1);
    uint32_t version = (uint32_t)le_read(d, 4);
    uint64_t created = le_read(d, 8), updated = le_read(d, 8);
    uint8_t has_owner = (uint8_t)le_read(d, 1);
    const char *owner = le_read_str(d, 2, &ol);
    const char *doc = le_read_str(d, 4, &dl);
    const char *msg = le_read_str(d, 2, &ml);
    size_t nreq = (size_t)le_read(d, 2);
    if (d->bad || tl == 0 || kind > TYPE_STATE || sk > SCHEMA_PROTOBUF ||
        nreq > REGISTRY_REQUIRE_MAX)
        return corrupt(err, errlen, "bad SET record");
    char *req[REGISTRY_REQUIRE_MAX];
    size_t nr = 0;
    int rc = 0;
    for (; nr < nreq; nr++) {
        size_t fl;
        const char *f = le_read_str(d, 2, &fl);
        if (d->bad) {
            rc = corrupt(err, errlen, "bad SET record");
            goto out_free_req;
        }
        req[nr] = xmemdup(f, fl);
    }
    const char *src = le_read_str(d, 4, &sl);
    if (d->bad || d->at != d->n) {
        rc = corrupt(err, errlen, "bad SET record");
        goto out_free_req;
    }
    struct type_entry *e = get_or_add(r, t, tl);
    if (e->registered)
        r->registered--;
    clear_registration(e);
    e->registered = 1;
    r->registered++;
    e->kind = (enum type_kind)kind;
    e->schema_kind = (enum schema_kind)sk;
    e->version = version;
    e->created_ms = created;
    e->updated_ms = updated;
    if (has_owner) {
        e->owner = xmemdup(owner, ol);
        e->owner_len = ol;
    }
    if (dl) {
        e->doc = xmemdup(doc, dl);
        e->doc_len = dl;
    }
    if (ml)
        e->message = xmemdup(msg, ml);
    e->require = nr ? xcalloc(nr, sizeof(char *)) : NULL;
    for (size_t i = 0; i < nr; i++)
        e->require[i] = req[i];
    e->nrequire = nr;
    nr = 0; /* moved into e */
    if (sk != SCHEMA_NONE) {
        e->schema_src = xmemdup(src, sl);
        e->schema_len = sl;
        char why[512];
        e->schema = schema_compile(e->schema_kind, e->schema_src, sl, e->message,
                                   (const char *const *)e->require, e->nrequire,
                                   why, sizeof(why));
        if (!e->schema) {
            e->schema_error = xstrdup(why);
            (*bad_schemas)++;
        }
    }
out_free_req:
    for (size_t i = 0; i < nr; i++)
        free(req[i]);
    return rc;
}

static int recover_producers(struct registry *r, struct le_reader *d,
                             char *err, size_t errlen)
{
    size_t tl;
    const char *t = le_read_str(d, 2, &tl);
    size_t n = (size_t)le_read(d, 2);
    if (d->bad || tl == 0)
        return corrupt(err, errlen, "bad PRODUCERS record");
    struct type_entry *e = get_or_add(r, t, tl);
    for (size_t i = 0; i < e->nproducers; i++)
        free(e->producers[i].name);
    e->nproducers = 0;
    e->last_producer = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nl;
        const char *name = le_read_str(d, 2, &nl);
        uint64_t first = le_read(d, 8), last = le_read(d, 8);
        uint64_t count = le_read(d, 8);
        if (d->bad || nl == 0)
            return corrupt(err, errlen, "bad PRODUCERS record");
        struct type_producer *p = producer_add(e, name, nl);
        p->first_seen = first;
        p->last_seen = last;
        p->count = count;
    }
    if (d->at != d->n)
        return corrupt(err, errlen, "bad PRODUCERS record");
    return 0;
}

int registry_recover(struct registry *r, uint8_t type, const uint8_t *p, size_t n,
                     size_t *bad_schemas, char *err, size_t errlen)
{
    struct le_reader d = {p, n, 0, 0};
    switch (type) {
    case REGISTRY_REC_SET:
        return recover_set(r, &d, bad_schemas, err, errlen);
    case REGISTRY_REC_DEL: {
        size_t tl;
        const char *t = le_read_str(&d, 2, &tl);
        if (d.bad || d.at != d.n)
            return corrupt(err, errlen, "bad DEL record");
        registry_del(r, t, tl);
        return 0;
    }
    case REGISTRY_REC_PRODUCERS:
        return recover_producers(r, &d, err, errlen);
    default:
        snprintf(err, errlen, "types record: unknown type %u", type);
        return ERR_CORRUPT;
    }
}
