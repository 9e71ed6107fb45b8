/* overview.c - GET /api/overview (overview.h). The JSON is written straight
 * into the body; strings are escaped here (quote, backslash, control bytes
 * as \u00XX, bytes that are not UTF-8 as U+FFFD) so any name is valid JSON. */
#include "overview.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "cmd_bus.h"
#include "cmd_lock.h"
#include "cmd_queue.h"
#include "cmd_ring.h"
#include "cmd_store.h"
#include "cmd_types.h"
#include "common.h"
#include "metrics.h"
#include "net.h"
#include "registry.h"
#include "server.h"
#include "store.h"

/* ---- JSON text ---- */

/* Bytes of the UTF-8 sequence starting at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                 : p[0] >= 0xe0              ? 3
                 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((len == 3 && p[0] == 0xe0 && p[1] < 0xa0) ||  /* overlong */
        (len == 3 && p[0] == 0xed && p[1] >= 0xa0) || /* surrogate */
        (len == 4 && p[0] == 0xf0 && p[1] < 0x90) ||  /* overlong */
        (len == 4 && p[0] == 0xf4 && p[1] >= 0x90))   /* > U+10FFFF */
        return 0;
    return len;
}

static void json_str(struct sbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    sbuf_addc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            sbuf_addc(b, '\\');
            sbuf_addc(b, (char)c);
            i++;
        } else if (c < 0x20) {
            sbuf_addf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            sbuf_addc(b, (char)c);
            i++;
        } else {
            size_t len = utf8_len(p + i, n - i);
            if (len)
                sbuf_add(b, p + i, len);
            else
                sbuf_adds(b, "\\ufffd");
            i += len ? len : 1;
        }
    }
    sbuf_addc(b, '"');
}

/* "name": (with the comma before it unless it opens the object) */
static void key(struct sbuf *b, int *first, const char *name)
{
    if (!*first)
        sbuf_addc(b, ',');
    *first = 0;
    json_str(b, name, strlen(name));
    sbuf_addc(b, ':');
}

static void key_num(struct sbuf *b, int *first, const char *name, double v)
{
    key(b, first, name);
    metrics_format_value(b, v);
}

static void key_str(struct sbuf *b, int *first, const char *name, const char *s,
                    size_t n)
{
    key(b, first, name);
    if (s)
        json_str(b, s, n);
    else
        sbuf_adds(b, "null");
}

static void item(struct sbuf *b, int *first)
{
    if (!*first)
        sbuf_addc(b, ',');
    *first = 0;
}

/* ---- server ---- */

static void add_server(struct sbuf *b)
{
    int f = 1;
    sbuf_addc(b, '{');
    key_str(b, &f, "version", TINCAN_VERSION, strlen(TINCAN_VERSION));
    key_num(b, &f, "uptime_seconds",
            (double)((clock_mono_ms() - net_stats.start_ms) / 1000));
    key_num(b, &f, "clients", (double)client_count());
    key_num(b, &f, "now_ms", (double)clock_wall_ms());
    key(b, &f, "store");
    struct store *st = store_default();
    if (!st) {
        sbuf_adds(b, "null}");
        return;
    }
    struct store_stats s;
    store_stats(st, &s);
    int g = 1;
    sbuf_addc(b, '{');
    key_num(b, &g, "events", (double)s.events);
    key_num(b, &g, "bytes", (double)s.bytes);
    key_num(b, &g, "segments", (double)s.segments);
    key_num(b, &g, "head", (double)s.last_pos);
    key_num(b, &g, "visible", (double)store_visible());
    sbuf_adds(b, "}}");
}

/* ---- types: stored and registered, merged in name order ---- */

struct stored_type {
    const char *name; /* the store's, valid during the request */
    size_t len;
    uint64_t count, bytes;
};

struct stored_types {
    struct stored_type *v;
    size_t n, cap;
};

static void collect_type(void *ctx, const struct store_type_info *t)
{
    struct stored_types *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = (struct stored_type){t->name, t->name_len, t->count,
                                        t->payload_bytes};
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static void add_producer(void *ctx, const struct type_producer *p)
{
    struct sbuf *b = ctx;
    if (b->data[b->len - 1] != '[')
        sbuf_addc(b, ',');
    int f = 1;
    sbuf_addc(b, '{');
    key_str(b, &f, "name", p->name, p->len);
    key_num(b, &f, "count", (double)p->count);
    key_num(b, &f, "last_seen_ms", (double)p->last_seen);
    sbuf_addc(b, '}');
}

static void add_type(struct sbuf *b, const char *name, size_t len,
                     const struct stored_type *t)
{
    struct types_view v;
    int registered = types_view(name, len, &v);
    int f = 1;
    sbuf_addc(b, '{');
    key_str(b, &f, "type", name, len);
    key(b, &f, "registered");
    sbuf_adds(b, registered ? "true" : "false");
    key_str(b, &f, "owner", registered ? v.owner : NULL,
            registered ? v.owner_len : 0);
    key_str(b, &f, "schema", registered ? v.schema : NULL,
            registered ? strlen(v.schema) : 0);
    key_num(b, &f, "published", t ? (double)t->count : 0);
    key_num(b, &f, "bytes", t ? (double)t->bytes : 0);
    key(b, &f, "producers");
    sbuf_addc(b, '[');
    types_foreach_producer(name, len, add_producer, b);
    sbuf_adds(b, "]}");
}

static void add_types(struct sbuf *b)
{
    struct stored_types s = {0};
    if (store_default())
        store_types(store_default(), NULL, 0, collect_type, &s);
    struct types_name *reg = NULL;
    size_t nreg = types_registered(NULL, 0, &reg);
    size_t i = 0, k = 0;
    int first = 1;
    sbuf_addc(b, '[');
    while (i < s.n || k < nreg) {
        int c = i == s.n    ? 1
                : k == nreg ? -1
                            : name_cmp(s.v[i].name, s.v[i].len, reg[k].p, reg[k].len);
        item(b, &first);
        if (c <= 0)
            add_type(b, s.v[i].name, s.v[i].len, &s.v[i]);
        else
            add_type(b, reg[k].p, reg[k].len, NULL);
        i += c <= 0;
        k += c >= 0;
    }
    sbuf_addc(b, ']');
    free(s.v);
    free(reg);
}

/* ---- subscriptions ---- */

struct subs_ctx {
    struct sbuf *b;
    int first;
    uint64_t now_wall; /* ms */
};

static void add_sub(void *ctx, const struct bus_sub_info *in,
                    const struct bus_consumer_info *cons, size_t ncons)
{
    struct subs_ctx *sc = ctx;
    struct sbuf *b = sc->b;
    struct bus_lag lag;
    bus_sub_lag(in, sc->now_wall, &lag);
    item(b, &sc->first);
    int f = 1;
    sbuf_addc(b, '{');
    key_str(b, &f, "name", in->name, in->name_len);
    key(b, &f, "patterns");
    sbuf_addc(b, '[');
    for (size_t i = 0; i < in->npats; i++) {
        if (i)
            sbuf_addc(b, ',');
        json_str(b, in->pats[i].p, in->pats[i].len);
    }
    sbuf_addc(b, ']');
    key(b, &f, "durable");
    sbuf_adds(b, in->ephemeral ? "false" : "true");
    key_num(b, &f, "held", (double)in->held);
    key_num(b, &f, "ready", (double)in->waiting);
    key_num(b, &f, "dead", (double)in->dead);
    key_num(b, &f, "delivered", (double)in->delivered);
    key_num(b, &f, "redelivered", (double)in->redelivered);
    key_num(b, &f, "acked", (double)in->acked);
    key_num(b, &f, "lag_events", (double)lag.events);
    key_num(b, &f, "lag_seconds", lag.seconds);
    key(b, &f, "consumers");
    sbuf_addc(b, '[');
    for (size_t i = 0; i < ncons; i++) {
        int g = 1;
        sbuf_adds(b, i ? ",{" : "{");
        key_str(b, &g, "name", cons[i].name, cons[i].name_len);
        key_num(b, &g, "held", (double)cons[i].held);
        sbuf_addc(b, '}');
    }
    sbuf_adds(b, "]}");
}

static void add_subs(struct sbuf *b)
{
    struct subs_ctx sc = {b, 1, clock_wall_ms()};
    sbuf_addc(b, '[');
    bus_foreach_sub(add_sub, &sc);
    sbuf_addc(b, ']');
}

/* ---- queues ---- */

static void add_queue(void *ctx, const char *name, size_t len,
                      const struct queue_info *i)
{
    struct sbuf *b = ctx;
    if (b->data[b->len - 1] != '[')
        sbuf_addc(b, ',');
    int f = 1;
    sbuf_addc(b, '{');
    key_str(b, &f, "name", name, len);
    key_num(b, &f, "ready", (double)i->ready);
    key_num(b, &f, "leased", (double)i->leased);
    key_num(b, &f, "delayed", (double)i->delayed);
    key_num(b, &f, "dead", (double)i->dead);
    key_num(b, &f, "oldest_age_seconds", (double)i->oldest_age / 1000);
    sbuf_addc(b, '}');
}

/* ---- locks ---- */

struct locks {
    struct lock_view *v; /* pointers valid during the request */
    size_t n, cap;
};

static void collect_lock(const struct lock_view *v, void *ctx)
{
    struct locks *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = *v;
}

static int cmp_lock(const void *a, const void *b)
{
    const struct lock_view *x = a, *y = b;
    return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

static void add_locks(struct sbuf *b)
{
    struct locks l = {0};
    uint64_t now;
    lock_foreach_held(collect_lock, &l, &now);
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), cmp_lock);
    sbuf_addc(b, '[');
    for (size_t i = 0; i < l.n; i++) {
        const struct lock_view *v = &l.v[i];
        int f = 1;
        sbuf_adds(b, i ? ",{" : "{");
        key_str(b, &f, "name", v->name, v->name_len);
        key_str(b, &f, "holder", v->owner, v->owner_len);
        key_num(b, &f, "fencing_token", (double)v->token);
        key_num(b, &f, "waiters", (double)v->waiters);
        key_num(b, &f, "expires_in_ms",
                v->expires > now ? (double)(v->expires - now) : 0);
        sbuf_addc(b, '}');
    }
    sbuf_addc(b, ']');
    free(l.v);
}

/* ---- ring members ---- */

struct member_ref {
    const struct ring *r;
    const struct ring_member *m;
};

struct members {
    struct member_ref *v;
    size_t n, cap;
    uint64_t now; /* ms, monotonic */
};

static void collect_member(void *ctx, const struct ring *r,
                           const struct ring_member *m, uint64_t now)
{
    struct members *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = (struct member_ref){r, m};
    s->now = now;
}

static int cmp_member(const void *a, const void *b)
{
    const struct member_ref *x = a, *y = b;
    int c = strcmp(x->r->name, y->r->name);
    return c ? c : name_cmp(x->m->node, x->m->node_len, y->m->node, y->m->node_len);
}

static void add_ring(struct sbuf *b)
{
    struct members s = {0};
    ring_foreach_member(collect_member, &s);
    if (s.n)
        qsort(s.v, s.n, sizeof(*s.v), cmp_member);
    sbuf_addc(b, '[');
    for (size_t i = 0; i < s.n; i++) {
        const struct ring_member *m = s.v[i].m;
        int f = 1;
        sbuf_adds(b, i ? ",{" : "{");
        key_str(b, &f, "ring", s.v[i].r->name, strlen(s.v[i].r->name));
        key_str(b, &f, "member", m->node, m->node_len);
        key_str(b, &f, "addr", m->node, m->node_len);
        key(b, &f, "healthy");
        sbuf_adds(b, ring_member_is_up(m, s.now) ? "true" : "false");
        key_num(b, &f, "weight", m->weight);
        key(b, &f, "expires_in_ms");
        if (m->expires_ms == 0)
            sbuf_adds(b, "null");
        else
            metrics_format_value(
                b, m->expires_ms > s.now ? (double)(m->expires_ms - s.now) : 0);
        sbuf_addc(b, '}');
    }
    sbuf_addc(b, ']');
    free(s.v);
}

void overview_handle(const struct http_request *req, struct http_response *res)
{
    (void)req;
    struct sbuf *b = &res->body;
    int f = 1;
    sbuf_addc(b, '{');
    key(b, &f, "server");
    add_server(b);
    key(b, &f, "types");
    add_types(b);
    key(b, &f, "subscriptions");
    add_subs(b);
    key(b, &f, "queues");
    sbuf_addc(b, '[');
    queue_foreach_stats(add_queue, b);
    sbuf_addc(b, ']');
    key(b, &f, "locks");
    add_locks(b);
    key(b, &f, "ring");
    add_ring(b);
    sbuf_adds(b, "}\n");
    res->content_type = "application/json";
}
