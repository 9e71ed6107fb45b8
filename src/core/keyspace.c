#include "keyspace.h"

#include "common.h"
#include "log.h"
#include "multi.h"

#include <stdlib.h>
#include <string.h>

#define KEYSPACE_CLASSES 4

static const struct keyspace_class *classes[KEYSPACE_CLASSES];
static size_t nclasses;
static int flushing; /* inside keyspace_flush: whole-db touches are done */

void keyspace_register(const struct keyspace_class *k)
{
    for (size_t i = 0; i < nclasses; i++)
        if (classes[i] == k)
            return;
    if (nclasses == KEYSPACE_CLASSES) {
        log_error("keyspace: more than %d key classes", KEYSPACE_CLASSES);
        abort();
    }
    classes[nclasses++] = k;
}

void keyspace_unregister(const struct keyspace_class *k)
{
    for (size_t i = 0; i < nclasses; i++)
        if (classes[i] == k) {
            memmove(&classes[i], &classes[i + 1],
                    (nclasses - i - 1) * sizeof(classes[0]));
            nclasses--;
            return;
        }
}

const struct keyspace_class *keyspace_lookup(int db, const char *key, size_t n)
{
    for (size_t i = 0; i < nclasses; i++)
        if (classes[i]->exists(db, key, n))
            return classes[i];
    return NULL;
}

void keyspace_touch(int db, const char *key, size_t n)
{
    if (!multi_watching())
        return;
    if (key)
        multi_touch_key(db, key, n);
    else if (!flushing)
        multi_touch_db(db);
}

int keyspace_del(struct client *c, int db, const char *key, size_t n)
{
    const struct keyspace_class *k = keyspace_lookup(db, key, n);
    if (!k || !k->del(c, db, key, n))
        return 0;
    keyspace_touch(db, key, n);
    return 1;
}

void keyspace_flush(struct client *c, int db)
{
    /* before the classes run: a watched key counts as touched only if it
     * exists now (Redis 7.0) */
    if (multi_watching())
        multi_touch_flush(db);
    flushing = 1;
    for (size_t i = 0; i < nclasses; i++)
        classes[i]->flush(c, db);
    flushing = 0;
}

uint64_t keyspace_count(int db)
{
    uint64_t n = 0;
    for (size_t i = 0; i < nclasses; i++)
        n += classes[i]->count(db);
    return n;
}

uint64_t keyspace_hash(const char *key, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33; /* murmur3's fmix64: every input bit moves the top bits */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h & KEYSPACE_HASH_MAX;
}

struct each_ctx {
    const struct keyspace_class *k;
    keyspace_class_key_fn *fn;
    void *ctx;
};

static void each_key(void *ctx, const char *key, size_t n)
{
    struct each_ctx *e = ctx;
    e->fn(e->ctx, e->k, key, n);
}

void keyspace_foreach(int db, keyspace_class_key_fn *fn, void *ctx)
{
    for (size_t i = 0; i < nclasses; i++) {
        struct each_ctx e = {classes[i], fn, ctx};
        classes[i]->foreach(db, each_key, &e);
    }
}

/* ---- SCAN ---- */

/* Pass 1: a max-heap of the `want` smallest hashes >= from, so its top is
 * the last hash of this step. */
struct threshold {
    uint64_t from;
    uint64_t want;   /* count */
    uint64_t *heap;  /* max-heap, n of cap */
    size_t n, cap;
    uint64_t seen;   /* keys with hash >= from */
};

static void heap_down(uint64_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l] > h[m])
            m = l;
        if (r < n && h[r] > h[m])
            m = r;
        if (m == i)
            return;
        uint64_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void threshold_key(void *ctx, const struct keyspace_class *k,
                          const char *key, size_t n)
{
    (void)k;
    struct threshold *t = ctx;
    uint64_t h = keyspace_hash(key, n);
    if (h < t->from)
        return;
    t->seen++;
    if (t->n < t->want) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 16;
            t->heap = xrealloc(t->heap, t->cap * sizeof(*t->heap));
        }
        size_t i = t->n++;
        t->heap[i] = h;
        while (i > 0 && t->heap[(i - 1) / 2] < t->heap[i]) {
            uint64_t x = t->heap[i];
            t->heap[i] = t->heap[(i - 1) / 2];
            t->heap[(i - 1) / 2] = x;
            i = (i - 1) / 2;
        }
    } else if (h < t->heap[0]) {
        t->heap[0] = h;
        heap_down(t->heap, t->n, 0);
    }
}

struct found {
    uint64_t hash;
    const struct keyspace_class *k;
    char *key;
    size_t n;
};

/* Pass 2: copies of the keys with hash in [from, last]. */
struct collect {
    uint64_t from, last;
    struct found *v;
    size_t n, cap;
};

static void collect_key(void *ctx, const struct keyspace_class *k,
                        const char *key, size_t n)
{
    struct collect *c = ctx;
    uint64_t h = keyspace_hash(key, n);
    if (h < c->from || h > c->last)
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = (struct found){h, k, xmemdup(key, n), n};
}

static int by_hash(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->n != y->n) /* equal hashes: any fixed order */
        return x->n < y->n ? -1 : 1;
    return memcmp(x->key, y->key, x->n);
}

uint64_t keyspace_scan(int db, uint64_t cursor, uint64_t count,
                       keyspace_class_key_fn *fn, void *ctx)
{
    if (cursor > KEYSPACE_HASH_MAX)
        return 0;
    if (count == 0)
        count = 1;
    struct threshold t = {.from = cursor, .want = count};
    keyspace_foreach(db, threshold_key, &t);
    uint64_t last = KEYSPACE_HASH_MAX, next = 0;
    if (t.seen > t.n) { /* more keys past this step's */
        last = t.heap[0];
        next = last == KEYSPACE_HASH_MAX ? 0 : last + 1;
    }
    free(t.heap);
    if (t.seen == 0)
        return 0;
    struct collect c = {.from = cursor, .last = last};
    keyspace_foreach(db, collect_key, &c);
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), by_hash);
    for (size_t i = 0; i < c.n; i++) {
        fn(ctx, c.v[i].k, c.v[i].key, c.v[i].n);
        free(c.v[i].key);
    }
    free(c.v);
    return next;
}
