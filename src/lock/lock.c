#include "lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "errors.h"
#include "heap.h"
#include "le.h"

struct lock_waiter {
    struct lock *lock;        /* the lock waited for */
    char *owner;              /* owned copy, NUL-terminated */
    size_t owner_len;         /* bytes */
    uint64_t ttl_ms;          /* ms, lease to grant when its turn comes */
    void *ctx;                /* caller's handle (the blocked client) */
    struct lock_waiter *next; /* FIFO: towards the tail */
    struct lock_waiter *prev; /* FIFO: towards the head */
};

struct lock {
    char *name;               /* owned, NUL-terminated */
    size_t name_len;          /* bytes */
    char *owner;              /* owned, NUL-terminated */
    size_t owner_len;         /* bytes */
    uint64_t token;           /* fencing token of the current grant */
    uint64_t ttl_ms;          /* ms, last granted/renewed lease length */
    uint64_t expires;         /* ms, monotonic */
    uint64_t hash;            /* of name */
    size_t heap_idx;          /* position in the deadline heap */
    struct lock *chain;       /* next in the hash bucket */
    struct lock_waiter *head; /* first waiter (granted next) */
    struct lock_waiter *tail; /* last waiter */
    size_t nwaiters;
};

struct lock_table {
    struct lock_hooks hooks;
    uint64_t seed;         /* hash seed */
    struct lock **buckets; /* chained hash table */
    size_t nbuckets;       /* power of two */
    size_t nwaiters;       /* waiters over all locks */
    struct heap deadlines; /* held locks, earliest expires first */
    uint64_t token_next;  /* next token to hand out (>= 1) */
    uint64_t token_limit; /* tokens < limit are reserved durably */
};

/* ---- hashing ---- */

static uint64_t hash_name(const struct lock_table *t, const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ t->seed; /* FNV-1a, seeded */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    return h;
}

static struct lock *find(const struct lock_table *t, const char *name,
                         size_t len, uint64_t h)
{
    for (struct lock *l = t->buckets[h & (t->nbuckets - 1)]; l; l = l->chain)
        if (l->hash == h && l->name_len == len &&
            memcmp(l->name, name, len) == 0)
            return l;
    return NULL;
}

static void rehash(struct lock_table *t, size_t nb)
{
    struct lock **nbk = xcalloc(nb, sizeof(*nbk));
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct lock *l = t->buckets[i];
        while (l) {
            struct lock *next = l->chain;
            l->chain = nbk[l->hash & (nb - 1)];
            nbk[l->hash & (nb - 1)] = l;
            l = next;
        }
    }
    free(t->buckets);
    t->buckets = nbk;
    t->nbuckets = nb;
}

static void unlink_hash(struct lock_table *t, struct lock *l)
{
    struct lock **pp = &t->buckets[l->hash & (t->nbuckets - 1)];
    while (*pp != l)
        pp = &(*pp)->chain;
    *pp = l->chain;
}

/* ---- deadline heap ---- */

static int expires_before(const void *pa, const void *pb)
{
    const struct lock *a = pa, *b = pb;
    return a->expires < b->expires;
}

/* ---- lock entries ---- */

static void set_owner(struct lock *l, const char *owner, size_t len)
{
    free(l->owner);
    l->owner = xmemdup(owner, len);
    l->owner_len = len;
}

/* Adds a held lock (heap and hash updated). */
static struct lock *insert(struct lock_table *t, const char *name, size_t len,
                           uint64_t h, const char *owner, size_t olen,
                           uint64_t token, uint64_t ttl_ms, uint64_t expires)
{
    if (heap_count(&t->deadlines) + 1 > t->nbuckets)
        rehash(t, t->nbuckets * 2);
    struct lock *l = xcalloc(1, sizeof(*l));
    l->name = xmemdup(name, len);
    l->name_len = len;
    set_owner(l, owner, olen);
    l->token = token;
    l->ttl_ms = ttl_ms;
    l->expires = expires;
    l->hash = h;
    size_t b = h & (t->nbuckets - 1);
    l->chain = t->buckets[b];
    t->buckets[b] = l;
    heap_push(&t->deadlines, l, expires_before);
    return l;
}

/* Removes a lock that has no waiters and frees it. */
static void remove_lock(struct lock_table *t, struct lock *l)
{
    unlink_hash(t, l);
    heap_remove(&t->deadlines, l, expires_before);
    free(l->name);
    free(l->owner);
    free(l);
}

static uint64_t new_token(struct lock_table *t)
{
    if (t->token_next >= t->token_limit) {
        t->token_limit = t->token_next + LOCK_TOKEN_BLOCK;
        if (t->hooks.reserve)
            t->hooks.reserve(t->hooks.ctx, t->token_limit);
    }
    return t->token_next++;
}

static void waiter_unlink(struct lock_table *t, struct lock_waiter *w)
{
    struct lock *l = w->lock;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    l->nwaiters--;
    t->nwaiters--;
}

/* The lease of l ended (released or expired): hand it to the first waiter,
 * or drop the entry. */
static void end_lease(struct lock_table *t, struct lock *l, int expired,
                      uint64_t now)
{
    if (t->hooks.release)
        t->hooks.release(t->hooks.ctx, l, expired);
    struct lock_waiter *w = l->head;
    if (!w) {
        remove_lock(t, l);
        return;
    }
    waiter_unlink(t, w);
    free(l->owner);
    l->owner = w->owner; /* ownership moves */
    l->owner_len = w->owner_len;
    l->token = new_token(t);
    l->ttl_ms = w->ttl_ms;
    l->expires = now + w->ttl_ms;
    heap_fix(&t->deadlines, l, expires_before);
    if (t->hooks.grant)
        t->hooks.grant(t->hooks.ctx, l, w->ctx);
    free(w);
}

/* Finds name and settles it: a lease that ran out is ended first (possibly
 * granting it to a waiter). Returns the held lock or NULL. */
static struct lock *settle(struct lock_table *t, const char *name, size_t len,
                           uint64_t now, uint64_t *hash_out)
{
    uint64_t h = hash_name(t, name, len);
    if (hash_out)
        *hash_out = h;
    struct lock *l = find(t, name, len, h);
    /* a waiter granted here gets a fresh lease from now, so one pass is
     * enough (ttl_ms >= 1) */
    if (l && l->expires <= now) {
        end_lease(t, l, 1, now);
        l = find(t, name, len, h);
    }
    return l;
}

/* ---- public API ---- */

struct lock_table *lock_table_new(const struct lock_hooks *hooks, uint64_t seed)
{
    struct lock_table *t = xcalloc(1, sizeof(*t));
    if (hooks)
        t->hooks = *hooks;
    t->seed = seed;
    t->nbuckets = 16;
    t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
    heap_init(&t->deadlines, offsetof(struct lock, heap_idx));
    t->token_next = 1;
    t->token_limit = 1;
    return t;
}

void lock_table_free(struct lock_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < heap_count(&t->deadlines); i++) {
        struct lock *l = heap_at(&t->deadlines, i);
        struct lock_waiter *w = l->head;
        while (w) {
            struct lock_waiter *next = w->next;
            free(w->owner);
            free(w);
            w = next;
        }
        free(l->name);
        free(l->owner);
        free(l);
    }
    heap_deinit(&t->deadlines);
    free(t->buckets);
    free(t);
}

int lock_acquire(struct lock_table *t, const char *name, size_t name_len,
                 const char *owner, size_t owner_len, uint64_t ttl_ms,
                 uint64_t now, uint64_t *token)
{
    uint64_t h;
    struct lock *l = settle(t, name, name_len, now, &h);
    if (l) {
        if (l->owner_len != owner_len ||
            memcmp(l->owner, owner, owner_len) != 0)
            return ERR_BUSY;
        l->ttl_ms = ttl_ms; /* re-acquire by the holder: extend */
        l->expires = now + ttl_ms;
        heap_fix(&t->deadlines, l, expires_before);
        if (t->hooks.grant)
            t->hooks.grant(t->hooks.ctx, l, NULL);
        *token = l->token;
        return 0;
    }
    uint64_t tok = new_token(t);
    l = insert(t, name, name_len, h, owner, owner_len, tok, ttl_ms,
               now + ttl_ms);
    if (t->hooks.grant)
        t->hooks.grant(t->hooks.ctx, l, NULL);
    *token = tok;
    return 0;
}

struct lock_waiter *lock_wait(struct lock_table *t, const char *name,
                              size_t name_len, const char *owner,
                              size_t owner_len, uint64_t ttl_ms, void *ctx)
{
    struct lock *l = find(t, name, name_len, hash_name(t, name, name_len));
    if (!l)
        return NULL; /* caller broke the contract: it is free */
    struct lock_waiter *w = xcalloc(1, sizeof(*w));
    w->lock = l;
    w->owner = xmemdup(owner, owner_len);
    w->owner_len = owner_len;
    w->ttl_ms = ttl_ms;
    w->ctx = ctx;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    l->nwaiters++;
    t->nwaiters++;
    return w;
}

void lock_wait_cancel(struct lock_table *t, struct lock_waiter *w)
{
    if (!w)
        return;
    waiter_unlink(t, w);
    free(w->owner);
    free(w);
}

int lock_renew(struct lock_table *t, const char *name, size_t name_len,
               const char *owner, size_t owner_len, uint64_t token,
               uint64_t ttl_ms, uint64_t now, uint64_t *current)
{
    struct lock *l = settle(t, name, name_len, now, NULL);
    *current = l ? l->token : 0;
    if (!l)
        return LOCK_LOST_FREE;
    if (token < l->token)
        return LOCK_LOST_REGRANTED;
    if (token > l->token)
        return LOCK_LOST_TOKEN;
    if (l->owner_len != owner_len || memcmp(l->owner, owner, owner_len) != 0)
        return LOCK_LOST_OWNER;
    l->ttl_ms = ttl_ms;
    l->expires = now + ttl_ms;
    heap_fix(&t->deadlines, l, expires_before);
    if (t->hooks.grant)
        t->hooks.grant(t->hooks.ctx, l, NULL);
    return LOCK_RENEWED;
}

int lock_release(struct lock_table *t, const char *name, size_t name_len,
                 const char *owner, size_t owner_len, uint64_t token,
                 uint64_t now)
{
    struct lock *l = settle(t, name, name_len, now, NULL);
    if (!l || l->token != token || l->owner_len != owner_len ||
        memcmp(l->owner, owner, owner_len) != 0)
        return 0;
    end_lease(t, l, 0, now);
    return 1;
}

int lock_check(struct lock_table *t, const char *name, size_t name_len,
               uint64_t token, uint64_t now)
{
    struct lock *l = settle(t, name, name_len, now, NULL);
    return l && l->token == token;
}

void lock_view_of(const struct lock *l, struct lock_view *v)
{
    v->name = l->name;
    v->name_len = l->name_len;
    v->owner = l->owner;
    v->owner_len = l->owner_len;
    v->token = l->token;
    v->ttl_ms = l->ttl_ms;
    v->expires = l->expires;
    v->waiters = l->nwaiters;
}

int lock_info(struct lock_table *t, const char *name, size_t name_len,
              uint64_t now, struct lock_view *v)
{
    struct lock *l = settle(t, name, name_len, now, NULL);
    if (!l)
        return 0;
    lock_view_of(l, v);
    return 1;
}

size_t lock_expire(struct lock_table *t, uint64_t now)
{
    size_t n = 0;
    /* a waiter granted here gets expires = now + ttl > now: no loop */
    struct lock *l;
    while ((l = heap_first(&t->deadlines)) && l->expires <= now) {
        end_lease(t, l, 1, now);
        n++;
    }
    return n;
}

int lock_next_deadline(const struct lock_table *t, uint64_t *deadline)
{
    const struct lock *l = heap_first(&t->deadlines);
    if (!l)
        return 0;
    *deadline = l->expires;
    return 1;
}

size_t lock_list(struct lock_table *t, const char *pattern, size_t plen,
                 uint64_t now, void (*fn)(const struct lock_view *, void *),
                 void *ctx)
{
    lock_expire(t, now);
    size_t n = 0;
    for (size_t i = 0; i < heap_count(&t->deadlines); i++) {
        const struct lock *l = heap_at(&t->deadlines, i);
        if (pattern &&
            !config_glob_match(pattern, plen, l->name, l->name_len, 0))
            continue;
        struct lock_view v;
        lock_view_of(l, &v);
        fn(&v, ctx);
        n++;
    }
    return n;
}

size_t lock_count(const struct lock_table *t)
{
    return heap_count(&t->deadlines);
}

size_t lock_waiters(const struct lock_table *t)
{
    return t->nwaiters;
}

uint64_t lock_token_next(const struct lock_table *t)
{
    return t->token_next;
}

uint64_t lock_token_limit(const struct lock_table *t)
{
    return t->token_limit;
}

/* ---- journal records ---- */

static size_t put64(uint8_t *b, size_t o, uint64_t v)
{
    if (b)
        le_put64(b + o, v);
    return o + 8;
}

static size_t putstr(uint8_t *b, size_t o, const char *s, size_t n)
{
    if (n > 65535)
        n = 65535; /* callers bound names and owners far below this */
    if (b) {
        le_put16(b + o, (uint16_t)n);
        if (n)
            memcpy(b + o + 2, s, n);
    }
    return o + 2 + n;
}

size_t lock_rec_reserve(uint8_t *buf, uint64_t limit)
{
    return put64(buf, 0, limit);
}

size_t lock_rec_grant(uint8_t *buf, const struct lock_view *v, uint64_t now,
                      uint64_t wall_now)
{
    uint64_t left = v->expires > now ? v->expires - now : 0;
    size_t o = put64(buf, 0, v->token);
    o = put64(buf, o, v->ttl_ms);
    o = put64(buf, o, wall_now + left);
    o = putstr(buf, o, v->name, v->name_len);
    return putstr(buf, o, v->owner, v->owner_len);
}

size_t lock_rec_release(uint8_t *buf, const struct lock_view *v)
{
    size_t o = put64(buf, 0, v->token);
    return putstr(buf, o, v->name, v->name_len);
}

static void note_token(struct lock_table *t, uint64_t token)
{
    if (token >= t->token_next)
        t->token_next = token + 1;
    if (t->token_next > t->token_limit)
        t->token_limit = t->token_next;
}

int lock_replay(struct lock_table *t, uint8_t type, const uint8_t *p, size_t n,
                uint64_t now, uint64_t wall_now, char *err, size_t errlen)
{
    struct le_reader r = {p, n, 0, 0};
    switch (type) {
    case LOCK_REC_RESERVE: {
        uint64_t limit = le_read(&r, 8);
        if (r.bad || r.at != n)
            goto bad;
        if (limit > t->token_limit)
            t->token_limit = limit;
        return 0;
    }
    case LOCK_REC_GRANT: {
        uint64_t token = le_read(&r, 8), ttl = le_read(&r, 8);
        uint64_t deadline = le_read(&r, 8);
        size_t nlen = 0, olen = 0;
        const char *name = le_read_str(&r, 2, &nlen);
        const char *owner = le_read_str(&r, 2, &olen);
        if (r.bad || r.at != n || token == 0)
            goto bad;
        note_token(t, token);
        uint64_t h = hash_name(t, name, nlen);
        struct lock *l = find(t, name, nlen, h);
        uint64_t left = deadline > wall_now ? deadline - wall_now : 0;
        if (left > ttl)
            left = ttl; /* the wall clock went back: never longer than ttl */
        if (left == 0) {
            if (l)
                remove_lock(t, l);
            return 0;
        }
        if (!l) {
            insert(t, name, nlen, h, owner, olen, token, ttl, now + left);
            return 0;
        }
        set_owner(l, owner, olen);
        l->token = token;
        l->ttl_ms = ttl;
        l->expires = now + left;
        heap_fix(&t->deadlines, l, expires_before);
        return 0;
    }
    case LOCK_REC_RELEASE: {
        uint64_t token = le_read(&r, 8);
        size_t nlen = 0;
        const char *name = le_read_str(&r, 2, &nlen);
        if (r.bad || r.at != n)
            goto bad;
        note_token(t, token);
        struct lock *l = find(t, name, nlen, hash_name(t, name, nlen));
        if (l && l->token == token)
            remove_lock(t, l);
        return 0;
    }
    default:
        snprintf(err, errlen, "unknown lock record type %u", type);
        return ERR_CORRUPT;
    }
bad:
    snprintf(err, errlen, "malformed lock record (type %u, %zu bytes)", type,
             n);
    return ERR_CORRUPT;
}

void lock_replay_done(struct lock_table *t)
{
    if (t->token_next < t->token_limit)
        t->token_next = t->token_limit;
}

int lock_checkpoint(struct lock_table *t, uint64_t now, uint64_t wall_now,
                    int (*emit)(void *ctx, uint8_t type, const uint8_t *p,
                                size_t n),
                    void *ctx)
{
    uint8_t small[8];
    size_t n = lock_rec_reserve(small, t->token_limit);
    int rc = emit(ctx, LOCK_REC_RESERVE, small, n);
    if (rc < 0)
        return rc;
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < heap_count(&t->deadlines); i++) {
        struct lock_view v;
        lock_view_of(heap_at(&t->deadlines, i), &v);
        size_t need = lock_rec_grant(NULL, &v, now, wall_now);
        if (need > cap) {
            cap = need;
            buf = xrealloc(buf, cap);
        }
        n = lock_rec_grant(buf, &v, now, wall_now);
        rc = emit(ctx, LOCK_REC_GRANT, buf, n);
        if (rc < 0)
            break;
    }
    free(buf);
    return rc < 0 ? rc : 0;
}
