/* rpc.c - calls, servers and services of request/reply (see rpc.h). */
#include "rpc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define HIST_FINE   312   /* log-linear latency buckets: 8 per power of two */
#define WINDOW_MS   60000 /* ms, one latency window; p50/p99 read two */

const uint64_t rpc_hist_bounds_us[RPC_HIST_BOUNDS] = {
    100,    250,    500,     1000,    2500,    5000,    10000,    25000,   50000,
    100000, 250000, 500000,  1000000, 2500000, 5000000, 10000000, 30000000,
};

/* One (server, service) pair: the server's registration for the service and
 * its place in the service's waiting list while parked. */
struct link {
    struct rpc_server *srv;
    struct rpc_service *svc;
    struct link *rprev, *rnext; /* svc's registrations, oldest first */
    struct link *wprev, *wnext; /* svc's parked servers, oldest first */
    int parked;                 /* on the waiting list */
    struct link *snext;         /* srv's links */
};

struct rpc_server {
    uint64_t id;
    void *ctx;
    struct link *links;          /* one per service it serves */
    struct rpc_call *held;       /* calls it holds (doubly linked) */
    size_t nheld;
    uint64_t served;             /* calls handed to it */
    int parked;
    struct rpc_server *chain;    /* next in the server hash bucket */
};

struct rpc_service {
    char *name;                  /* owned, NUL-terminated */
    size_t len;                  /* bytes */
    uint64_t hash;
    struct rpc_service *chain;   /* next in the service hash bucket */
    struct rpc_call *qhead, *qtail; /* queued calls, oldest (lowest seq) first */
    size_t nqueued, nheld;
    struct link *rhead, *rtail;  /* registered servers */
    size_t nservers;
    struct link *whead, *wtail;  /* parked servers */
    size_t nwaiting;
    uint64_t last_active;        /* ms, monotonic: last call or server change */
    struct rpc_service *dirty_next; /* on r->dirty: requeued calls to offer */
    int dirty;
    uint64_t calls, replies, failures, timeouts, callers_left, redeliveries,
        noserver;
    uint32_t *win[2];            /* HIST_FINE counts: [0] this window, [1] the
                                    one before; NULL until the first answer */
    uint64_t win_idx;            /* now / WINDOW_MS of win[0] */
    uint64_t hist[RPC_HIST_BOUNDS + 1]; /* since made, not cumulative */
    uint64_t hist_sum_us;        /* us */
};

struct recent {
    uint64_t seq;
    uint32_t tag;
    uint8_t how; /* enum rpc_end */
};

struct rpc {
    struct rpc_hooks hooks;
    uint64_t seed;
    uint64_t rng;                 /* xorshift64 state for tags */
    uint64_t next_seq;
    struct rpc_call **calls;      /* hash by seq */
    size_t ncalls, ncall_buckets; /* power of two */
    struct rpc_server **servers;  /* hash by id */
    size_t nservers, nserver_buckets;
    struct rpc_service **svcs;    /* hash by name */
    size_t nsvcs, nsvc_buckets;
    struct rpc_service *dirty;
    size_t nqueued, nheld;
    uint64_t calls_total, replies, failures, timeouts, callers_left,
        redeliveries, noserver;
    struct recent *recent;        /* RPC_RECENT, by seq % RPC_RECENT */
};

/* ---- hashing ---- */

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static uint32_t next_tag(struct rpc *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (uint32_t)(r->rng >> 16);
}

/* Grows a chained table of nodes whose chain pointer is at chain_off. */
static void **rehash(void **old, size_t nold, size_t nnew, size_t chain_off,
                     uint64_t (*key)(const void *node, const struct rpc *),
                     const struct rpc *r)
{
    void **nb = xcalloc(nnew, sizeof(*nb));
    for (size_t i = 0; i < nold; i++) {
        void *e = old[i];
        while (e) {
            void **chain = (void **)((char *)e + chain_off);
            void *next = *chain;
            size_t b = key(e, r) & (nnew - 1);
            *chain = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(old);
    return nb;
}

static uint64_t call_key(const void *e, const struct rpc *r)
{
    (void)r;
    return mix(((const struct rpc_call *)e)->seq);
}

static uint64_t server_key(const void *e, const struct rpc *r)
{
    (void)r;
    return mix(((const struct rpc_server *)e)->id);
}

static uint64_t service_key(const void *e, const struct rpc *r)
{
    (void)r;
    return ((const struct rpc_service *)e)->hash;
}

/* ---- latency ---- */

static size_t fine_index(uint64_t v)
{
    if (v < 8)
        return (size_t)v;
    if (v >= (1ull << 40))
        v = (1ull << 40) - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    size_t sub = (size_t)(v >> (e - 3)) & 7;
    return 8 + (size_t)(e - 3) * 8 + sub;
}

/* The middle of fine bucket i, in us. */
static uint64_t fine_value(size_t i)
{
    if (i < 8)
        return i;
    unsigned e = (unsigned)((i - 8) / 8 + 3);
    uint64_t sub = (i - 8) % 8;
    uint64_t width = 1ull << (e - 3);
    return ((8 + sub) << (e - 3)) + width / 2;
}

/* Turns svc's two windows so that win[0] is the window of now. */
static void turn(struct rpc_service *svc, uint64_t now)
{
    uint64_t w = now / WINDOW_MS;
    if (!svc->win[0] || w == svc->win_idx)
        return;
    if (w == svc->win_idx + 1) {
        uint32_t *t = svc->win[1];
        svc->win[1] = svc->win[0];
        svc->win[0] = t;
        memset(svc->win[0], 0, HIST_FINE * sizeof(uint32_t));
    } else {
        memset(svc->win[0], 0, HIST_FINE * sizeof(uint32_t));
        memset(svc->win[1], 0, HIST_FINE * sizeof(uint32_t));
    }
    svc->win_idx = w;
}

static void observe(struct rpc_service *svc, uint64_t us, uint64_t now)
{
    if (!svc->win[0]) {
        svc->win[0] = xcalloc(HIST_FINE, sizeof(uint32_t));
        svc->win[1] = xcalloc(HIST_FINE, sizeof(uint32_t));
        svc->win_idx = now / WINDOW_MS;
    }
    turn(svc, now);
    svc->win[0][fine_index(us)]++;
    size_t b = 0;
    while (b < RPC_HIST_BOUNDS && us > rpc_hist_bounds_us[b])
        b++;
    svc->hist[b]++;
    svc->hist_sum_us += us;
}

/* The q-quantile (0 < q <= 1) of both windows, in us; 0 with no sample. */
static uint64_t quantile(const struct rpc_service *svc, double q)
{
    if (!svc->win[0])
        return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < HIST_FINE; i++)
        total += (uint64_t)svc->win[0][i] + svc->win[1][i];
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_FINE; i++) {
        seen += (uint64_t)svc->win[0][i] + svc->win[1][i];
        if (seen >= rank)
            return fine_value(i);
    }
    return fine_value(HIST_FINE - 1);
}

/* ---- services ---- */

struct rpc_service *rpc_service_find(struct rpc *r, const char *name,
                                     size_t len)
{
    uint64_t h = hash_bytes(r->seed, name, len);
    for (struct rpc_service *s = r->svcs[h & (r->nsvc_buckets - 1)]; s;
         s = s->chain)
        if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0)
            return s;
    return NULL;
}

size_t rpc_service_servers(const struct rpc_service *svc)
{
    return svc->nservers;
}

static struct rpc_service *service_add(struct rpc *r, const char *name,
                                       size_t len, uint64_t now)
{
    if (r->nsvcs + 1 > r->nsvc_buckets) {
        r->svcs = (struct rpc_service **)rehash(
            (void **)r->svcs, r->nsvc_buckets, r->nsvc_buckets * 2,
            offsetof(struct rpc_service, chain), service_key, r);
        r->nsvc_buckets *= 2;
    }
    struct rpc_service *s = xcalloc(1, sizeof(*s));
    s->name = xmemdup(name, len);
    s->len = len;
    s->hash = hash_bytes(r->seed, name, len);
    s->last_active = now;
    size_t b = s->hash & (r->nsvc_buckets - 1);
    s->chain = r->svcs[b];
    r->svcs[b] = s;
    r->nsvcs++;
    return s;
}

static int service_idle(const struct rpc_service *s, uint64_t now)
{
    return s->nservers == 0 && s->nqueued == 0 && s->nheld == 0 &&
           !s->dirty && now >= s->last_active + RPC_IDLE_KEEP_MS;
}

static void service_free(struct rpc_service *s)
{
    free(s->win[0]);
    free(s->win[1]);
    free(s->name);
    free(s);
}

/* Drops the services idle for longer than RPC_IDLE_KEEP_MS. */
static void sweep(struct rpc *r, uint64_t now)
{
    for (size_t b = 0; b < r->nsvc_buckets; b++) {
        struct rpc_service **pp = &r->svcs[b];
        while (*pp) {
            struct rpc_service *s = *pp;
            if (service_idle(s, now)) {
                *pp = s->chain;
                r->nsvcs--;
                service_free(s);
            } else {
                pp = &s->chain;
            }
        }
    }
}

/* ---- calls ---- */

static int tried_by(const struct rpc_call *call, uint64_t id)
{
    for (size_t i = 0; i < call->ntried; i++)
        if (call->tried[i] == id)
            return 1;
    return 0;
}

static int may_take(const struct rpc_call *call, const struct rpc_server *srv,
                    uint64_t now)
{
    return call->deadline > now && !tried_by(call, srv->id);
}

static void queue_unlink(struct rpc *r, struct rpc_call *call)
{
    struct rpc_service *s = call->svc;
    if (call->prev)
        call->prev->next = call->next;
    else
        s->qhead = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        s->qtail = call->prev;
    call->prev = call->next = NULL;
    s->nqueued--;
    r->nqueued--;
}

/* Puts call into its service's FIFO in seq order (a requeued call is older
 * than the calls that came after it). */
static void queue_insert(struct rpc *r, struct rpc_call *call)
{
    struct rpc_service *s = call->svc;
    struct rpc_call *after = s->qtail;
    while (after && after->seq > call->seq)
        after = after->prev;
    call->prev = after;
    call->next = after ? after->next : s->qhead;
    if (call->next)
        call->next->prev = call;
    else
        s->qtail = call;
    if (after)
        after->next = call;
    else
        s->qhead = call;
    s->nqueued++;
    r->nqueued++;
}

static void held_unlink(struct rpc *r, struct rpc_call *call)
{
    struct rpc_server *srv = call->holder;
    if (call->prev)
        call->prev->next = call->next;
    else
        srv->held = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->holder = NULL;
    srv->nheld--;
    call->svc->nheld--;
    r->nheld--;
}

/* Moves call (queued) to srv. */
static void take(struct rpc *r, struct rpc_call *call, struct rpc_server *srv)
{
    queue_unlink(r, call);
    call->holder = srv;
    call->prev = NULL;
    call->next = srv->held;
    if (srv->held)
        srv->held->prev = call;
    srv->held = call;
    srv->nheld++;
    call->svc->nheld++;
    r->nheld++;
    if (call->ntried == call->tried_cap) {
        call->tried_cap = call->tried_cap ? call->tried_cap * 2 : 2;
        call->tried = xrealloc(call->tried, call->tried_cap * sizeof(uint64_t));
    }
    call->tried[call->ntried++] = srv->id;
    call->delivery++;
    if (call->delivery > 1) {
        call->svc->redeliveries++;
        r->redeliveries++;
    }
    srv->served++;
}

/* Offers queued call to svc's parked servers; 1 if one took it. */
static int offer(struct rpc *r, struct rpc_call *call, uint64_t now)
{
    for (struct link *l = call->svc->whead; l; l = l->wnext)
        if (may_take(call, l->srv, now)) {
            struct rpc_server *srv = l->srv;
            take(r, call, srv);
            rpc_unpark(r, srv);
            r->hooks.handoff(r->hooks.ctx, srv->ctx, call, now);
            return 1;
        }
    return 0;
}

struct rpc_call *rpc_call_new(struct rpc *r, struct rpc_service *svc,
                              void *caller, const char *payload,
                              size_t payload_len, const struct rpc_bytes *hdrs,
                              size_t nhdr, uint64_t deadline, uint64_t now,
                              uint64_t now_us)
{
    size_t bytes = payload_len + 1;
    for (size_t i = 0; i < 2 * nhdr; i++)
        bytes += hdrs[i].n + 1;
    struct rpc_call *call =
        xmalloc(sizeof(*call) + 2 * nhdr * sizeof(struct rpc_bytes) + bytes);
    memset(call, 0, sizeof(*call));
    call->hdrs = (struct rpc_bytes *)(call + 1);
    char *p = (char *)(call->hdrs + 2 * nhdr);
    memcpy(p, payload, payload_len);
    p[payload_len] = 0;
    call->payload = p;
    call->payload_len = payload_len;
    p += payload_len + 1;
    for (size_t i = 0; i < 2 * nhdr; i++) {
        memcpy(p, hdrs[i].p, hdrs[i].n);
        p[hdrs[i].n] = 0;
        call->hdrs[i] = (struct rpc_bytes){p, hdrs[i].n};
        p += hdrs[i].n + 1;
    }
    call->nhdr = nhdr;
    call->seq = ++r->next_seq;
    call->tag = next_tag(r);
    call->svc = svc;
    call->caller = caller;
    call->start_us = now_us;
    call->deadline = deadline;
    call->timeout = deadline > now ? deadline - now : 0;

    if (r->ncalls + 1 > r->ncall_buckets) {
        r->calls = (struct rpc_call **)rehash(
            (void **)r->calls, r->ncall_buckets, r->ncall_buckets * 2,
            offsetof(struct rpc_call, chain), call_key, r);
        r->ncall_buckets *= 2;
    }
    size_t b = mix(call->seq) & (r->ncall_buckets - 1);
    call->chain = r->calls[b];
    r->calls[b] = call;
    r->ncalls++;
    svc->calls++;
    r->calls_total++;
    svc->last_active = now;

    queue_insert(r, call);
    offer(r, call, now);
    return call;
}

void rpc_note_noserver(struct rpc *r, const char *name, size_t len)
{
    struct rpc_service *s = rpc_service_find(r, name, len);
    if (s)
        s->noserver++;
    r->noserver++;
}

const char *rpc_call_service(const struct rpc_call *call, size_t *len)
{
    *len = call->svc->len;
    return call->svc->name;
}

size_t rpc_call_id(const struct rpc_call *call, char *buf)
{
    int n = snprintf(buf, RPC_ID_MAX, "%" PRIu64 "-%08" PRIx32, call->seq,
                     call->tag);
    return (size_t)n;
}

/* Parses "<seq>-<8 hex>"; 0 or -1. */
static int parse_id(const char *id, size_t len, uint64_t *seq, uint32_t *tag)
{
    size_t i = 0;
    uint64_t s = 0;
    while (i < len && id[i] >= '0' && id[i] <= '9') {
        if (s > (UINT64_MAX - 9) / 10)
            return -1;
        s = s * 10 + (uint64_t)(id[i] - '0');
        i++;
    }
    if (i == 0 || i + 9 != len || id[i] != '-')
        return -1;
    uint32_t t = 0;
    for (i++; i < len; i++) {
        char ch = id[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            return -1;
        t = t << 4 | d;
    }
    *seq = s;
    *tag = t;
    return 0;
}

struct rpc_call *rpc_call_find(struct rpc *r, const char *id, size_t len,
                               enum rpc_end *why)
{
    uint64_t seq;
    uint32_t tag;
    *why = RPC_END_NONE;
    if (parse_id(id, len, &seq, &tag) < 0)
        return NULL;
    for (struct rpc_call *c = r->calls[mix(seq) & (r->ncall_buckets - 1)]; c;
         c = c->chain)
        if (c->seq == seq)
            return c->tag == tag ? c : NULL;
    const struct recent *e = &r->recent[seq % RPC_RECENT];
    if (e->seq == seq && e->tag == tag)
        *why = (enum rpc_end)e->how;
    return NULL;
}

void rpc_call_end(struct rpc *r, struct rpc_call *call, enum rpc_end how,
                  int failed, uint64_t now, uint64_t now_us)
{
    struct rpc_service *s = call->svc;
    if (call->holder)
        held_unlink(r, call);
    else
        queue_unlink(r, call);
    struct rpc_call **pp = &r->calls[mix(call->seq) & (r->ncall_buckets - 1)];
    while (*pp != call)
        pp = &(*pp)->chain;
    *pp = call->chain;
    r->ncalls--;
    r->recent[call->seq % RPC_RECENT] =
        (struct recent){call->seq, call->tag, (uint8_t)how};
    switch (how) {
    case RPC_END_ANSWERED:
        if (failed) {
            s->failures++;
            r->failures++;
        } else {
            s->replies++;
            r->replies++;
        }
        observe(s, now_us > call->start_us ? now_us - call->start_us : 0, now);
        break;
    case RPC_END_TIMEOUT:
        s->timeouts++;
        r->timeouts++;
        break;
    case RPC_END_CALLER_LEFT:
        s->callers_left++;
        r->callers_left++;
        break;
    case RPC_END_NONE:
    case RPC_END_STOPPED:
        break;
    }
    s->last_active = now;
    free(call->tried);
    free(call);
}

/* ---- servers ---- */

static struct rpc_server *server_find(struct rpc *r, uint64_t id)
{
    for (struct rpc_server *s = r->servers[mix(id) & (r->nserver_buckets - 1)];
         s; s = s->chain)
        if (s->id == id)
            return s;
    return NULL;
}

static struct link *link_find(const struct rpc_server *srv,
                              const struct rpc_service *svc)
{
    for (struct link *l = srv->links; l; l = l->snext)
        if (l->svc == svc)
            return l;
    return NULL;
}

uint64_t rpc_server_id(const struct rpc_server *srv)
{
    return srv->id;
}

struct rpc_server *rpc_server_get(struct rpc *r, uint64_t id, void *ctx,
                                  const char *const *names, const size_t *lens,
                                  size_t n, uint64_t now)
{
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++)
        if (!rpc_service_find(r, names[i], lens[i]))
            fresh++;
    if (fresh && r->nsvcs + fresh > RPC_SERVICES_MAX) {
        sweep(r, now);
        if (r->nsvcs + fresh > RPC_SERVICES_MAX)
            return NULL;
    }
    struct rpc_server *srv = server_find(r, id);
    if (!srv) {
        if (r->nservers + 1 > r->nserver_buckets) {
            r->servers = (struct rpc_server **)rehash(
                (void **)r->servers, r->nserver_buckets,
                r->nserver_buckets * 2, offsetof(struct rpc_server, chain),
                server_key, r);
            r->nserver_buckets *= 2;
        }
        srv = xcalloc(1, sizeof(*srv));
        srv->id = id;
        size_t b = mix(id) & (r->nserver_buckets - 1);
        srv->chain = r->servers[b];
        r->servers[b] = srv;
        r->nservers++;
    }
    srv->ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        struct rpc_service *svc = rpc_service_find(r, names[i], lens[i]);
        if (!svc)
            svc = service_add(r, names[i], lens[i], now);
        if (link_find(srv, svc))
            continue;
        struct link *l = xcalloc(1, sizeof(*l));
        l->srv = srv;
        l->svc = svc;
        l->snext = srv->links;
        srv->links = l;
        l->rprev = svc->rtail;
        if (svc->rtail)
            svc->rtail->rnext = l;
        else
            svc->rhead = l;
        svc->rtail = l;
        svc->nservers++;
        svc->last_active = now;
    }
    return srv;
}

size_t rpc_serve(struct rpc *r, struct rpc_server *srv,
                 const char *const *names, const size_t *lens, size_t n,
                 size_t max, uint64_t now, struct rpc_call **out)
{
    struct rpc_service **svcs = xmalloc(n * sizeof(*svcs));
    for (size_t i = 0; i < n; i++)
        svcs[i] = rpc_service_find(r, names[i], lens[i]);
    size_t got = 0;
    while (got < max) {
        struct rpc_call *best = NULL;
        for (size_t i = 0; i < n; i++) {
            if (!svcs[i])
                continue;
            for (struct rpc_call *c = svcs[i]->qhead; c; c = c->next)
                if (may_take(c, srv, now)) {
                    if (!best || c->seq < best->seq)
                        best = c;
                    break;
                }
        }
        if (!best)
            break;
        take(r, best, srv);
        out[got++] = best;
    }
    free(svcs);
    return got;
}

void rpc_park(struct rpc *r, struct rpc_server *srv, const char *const *names,
              const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct rpc_service *svc = rpc_service_find(r, names[i], lens[i]);
        struct link *l = svc ? link_find(srv, svc) : NULL;
        if (!l || l->parked)
            continue;
        l->parked = 1;
        l->wnext = NULL;
        l->wprev = svc->wtail;
        if (svc->wtail)
            svc->wtail->wnext = l;
        else
            svc->whead = l;
        svc->wtail = l;
        svc->nwaiting++;
    }
    srv->parked = 1;
}

void rpc_unpark(struct rpc *r, struct rpc_server *srv)
{
    (void)r;
    for (struct link *l = srv->links; l; l = l->snext) {
        if (!l->parked)
            continue;
        struct rpc_service *svc = l->svc;
        if (l->wprev)
            l->wprev->wnext = l->wnext;
        else
            svc->whead = l->wnext;
        if (l->wnext)
            l->wnext->wprev = l->wprev;
        else
            svc->wtail = l->wprev;
        l->wprev = l->wnext = NULL;
        l->parked = 0;
        svc->nwaiting--;
    }
    srv->parked = 0;
}

static void mark_dirty(struct rpc *r, struct rpc_service *svc)
{
    if (svc->dirty)
        return;
    svc->dirty = 1;
    svc->dirty_next = r->dirty;
    r->dirty = svc;
}

size_t rpc_server_gone(struct rpc *r, uint64_t id)
{
    struct rpc_server *srv = server_find(r, id);
    if (!srv)
        return 0;
    rpc_unpark(r, srv);
    size_t back = 0;
    while (srv->held) {
        struct rpc_call *call = srv->held;
        held_unlink(r, call);
        queue_insert(r, call);
        mark_dirty(r, call->svc);
        back++;
    }
    while (srv->links) {
        struct link *l = srv->links;
        struct rpc_service *svc = l->svc;
        srv->links = l->snext;
        if (l->rprev)
            l->rprev->rnext = l->rnext;
        else
            svc->rhead = l->rnext;
        if (l->rnext)
            l->rnext->rprev = l->rprev;
        else
            svc->rtail = l->rprev;
        svc->nservers--;
        free(l);
    }
    struct rpc_server **pp = &r->servers[mix(id) & (r->nserver_buckets - 1)];
    while (*pp != srv)
        pp = &(*pp)->chain;
    *pp = srv->chain;
    r->nservers--;
    free(srv);
    return back;
}

void rpc_dispatch(struct rpc *r, uint64_t now)
{
    while (r->dirty) {
        struct rpc_service *svc = r->dirty;
        r->dirty = svc->dirty_next;
        svc->dirty = 0;
        struct rpc_call *next;
        for (struct rpc_call *c = svc->qhead; c && svc->whead; c = next) {
            next = c->next;
            offer(r, c, now);
        }
    }
}

/* ---- reading ---- */

void rpc_service_info(struct rpc *r, struct rpc_service *svc, uint64_t now,
                      struct rpc_service_info *out)
{
    (void)r;
    turn(svc, now);
    *out = (struct rpc_service_info){
        .name = svc->name,
        .name_len = svc->len,
        .servers = svc->nservers,
        .waiting_servers = svc->nwaiting,
        .waiting_calls = svc->nqueued,
        .in_flight = svc->nheld,
        .calls = svc->calls,
        .replies = svc->replies,
        .failures = svc->failures,
        .timeouts = svc->timeouts,
        .callers_left = svc->callers_left,
        .redeliveries = svc->redeliveries,
        .noserver = svc->noserver,
        .p50_us = quantile(svc, 0.50),
        .p99_us = quantile(svc, 0.99),
        .hist = svc->hist,
        .hist_sum_us = svc->hist_sum_us,
    };
}

void rpc_service_servers_foreach(const struct rpc_service *svc,
                                 void (*fn)(void *ctx,
                                            const struct rpc_server_info *),
                                 void *ctx)
{
    for (const struct link *l = svc->rhead; l; l = l->rnext) {
        size_t held = 0;
        for (const struct rpc_call *c = l->srv->held; c; c = c->next)
            held += c->svc == svc;
        struct rpc_server_info i = {l->srv->id, l->srv->ctx, held,
                                    l->srv->served};
        fn(ctx, &i);
    }
}

static int by_name(const void *a, const void *b)
{
    const struct rpc_service *x = *(struct rpc_service *const *)a;
    const struct rpc_service *y = *(struct rpc_service *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

size_t rpc_services(struct rpc *r, uint64_t now, int sorted,
                    struct rpc_service ***out)
{
    sweep(r, now);
    struct rpc_service **v = xmalloc((r->nsvcs + 1) * sizeof(*v));
    size_t n = 0;
    for (size_t b = 0; b < r->nsvc_buckets; b++)
        for (struct rpc_service *s = r->svcs[b]; s; s = s->chain)
            v[n++] = s;
    if (sorted)
        qsort(v, n, sizeof(*v), by_name);
    *out = v;
    return n;
}

void rpc_end_all(struct rpc *r, void (*fn)(void *ctx, struct rpc_call *call),
                 void *ctx, uint64_t now)
{
    for (size_t b = 0; b < r->ncall_buckets; b++)
        while (r->calls[b]) {
            struct rpc_call *call = r->calls[b];
            fn(ctx, call);
            rpc_call_end(r, call, RPC_END_STOPPED, 0, now, 0);
        }
}

void rpc_totals(const struct rpc *r, struct rpc_totals *out)
{
    *out = (struct rpc_totals){
        .services = r->nsvcs,
        .servers = r->nservers,
        .waiting_calls = r->nqueued,
        .in_flight = r->nheld,
        .live_calls = r->ncalls,
        .calls = r->calls_total,
        .replies = r->replies,
        .failures = r->failures,
        .timeouts = r->timeouts,
        .callers_left = r->callers_left,
        .redeliveries = r->redeliveries,
        .noserver = r->noserver,
    };
}

/* ---- life cycle ---- */

struct rpc *rpc_new(const struct rpc_hooks *hooks, uint64_t seed)
{
    struct rpc *r = xcalloc(1, sizeof(*r));
    r->hooks = *hooks;
    r->seed = seed;
    r->rng = mix(seed) | 1;
    r->ncall_buckets = r->nserver_buckets = r->nsvc_buckets = 16;
    r->calls = xcalloc(r->ncall_buckets, sizeof(*r->calls));
    r->servers = xcalloc(r->nserver_buckets, sizeof(*r->servers));
    r->svcs = xcalloc(r->nsvc_buckets, sizeof(*r->svcs));
    r->recent = xcalloc(RPC_RECENT, sizeof(*r->recent));
    return r;
}

void rpc_free(struct rpc *r)
{
    if (!r)
        return;
    for (size_t b = 0; b < r->ncall_buckets; b++)
        for (struct rpc_call *c = r->calls[b], *next; c; c = next) {
            next = c->chain;
            free(c->tried);
            free(c);
        }
    for (size_t b = 0; b < r->nserver_buckets; b++)
        for (struct rpc_server *s = r->servers[b], *next; s; s = next) {
            next = s->chain;
            while (s->links) {
                struct link *l = s->links;
                s->links = l->snext;
                free(l);
            }
            free(s);
        }
    for (size_t b = 0; b < r->nsvc_buckets; b++)
        for (struct rpc_service *s = r->svcs[b], *next; s; s = next) {
            next = s->chain;
            service_free(s);
        }
    free(r->calls);
    free(r->servers);
    free(r->svcs);
    free(r->recent);
    free(r);
}
