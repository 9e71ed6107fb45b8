#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "errors.h"
#include "heap.h"
#include "le.h"
#include "sbuf.h"
#include "topic.h"

#define TX_FLUSH_BYTES                                                         \
    (1u << 20) /* bytes of entries before a STATE record                       \
                  is written mid-operation */

struct bus_consumer {
    char *name;                /* owned, NUL-terminated */
    size_t len;                /* bytes */
    uint64_t held;             /* entries HELD by it */
    uint64_t seen;             /* ms, monotonic: last read */
    struct bus_consumer *next; /* the subscription's list, arrival order */
};

/* A replay is a range (a pattern over (after, to]) or a list of positions
 * (pat NULL: pos[at..npos) are still to come). Either way after is its
 * progress, the last position scanned, which is all a STATE record carries. */
struct bus_replay {
    uint64_t id;             /* set-wide, from 1 */
    char *pat;               /* owned pattern; NULL for a positions replay */
    size_t pat_len;          /* bytes */
    uint64_t *pos;           /* positions replay: owned, ascending, distinct,
                                all >= 1 */
    size_t npos;             /* entries in pos */
    size_t at;               /* index of the first entry of pos > after */
    uint64_t after;          /* last position scanned */
    uint64_t to;             /* last position of the range (pos[npos - 1]) */
    struct bus_replay *next; /* oldest first */
};

struct bus_sub {
    char *name;               /* owned, NUL-terminated */
    size_t name_len;          /* bytes */
    struct bus_pattern *pats; /* owned patterns (each p owned) */
    size_t npats;
    int ephemeral;
    uint64_t ackwait;                        /* ms */
    uint32_t maxdeliver;                     /* deliveries */
    uint64_t cursor;                         /* last position scanned live */
    struct bus_entry **buckets;              /* position hash */
    size_t nbuckets;                         /* power of two */
    size_t nentries;                         /* entries of any state */
    struct heap ready;                       /* READY entries */
    struct bus_entry *dead_head, *dead_tail; /* DEAD, death order */
    uint64_t nheld, ndelayed, ndead;
    struct bus_consumer *consumers; /* arrival order */
    struct bus_consumer *consumers_tail;
    uint64_t nconsumers;
    struct bus_replay *replays, *replays_tail;
    uint64_t nreplays;
    uint64_t delivered, acked, redelivered; /* counters since start */
};

struct bus_set {
    struct bus_hooks hooks;
    int64_t wall_offset;   /* ms: wall minus monotonic */
    struct bus_sub **subs; /* sorted by name */
    size_t nsubs, cap;
    struct heap deadlines; /* HELD and DELAYED entries of every sub */
    uint64_t next_replay_id;
    int quiet; /* recovering: no records */
    /* the record being built for one subscription (BUS_REC_STATE) */
    struct bus_sub *tx_sub;
    struct sbuf tx_reps; /* {u64 id, u64 after} of finished replays */
    uint32_t tx_nrep;
    struct sbuf tx_ents; /* entries */
    uint32_t tx_nent;
};

/* ---- byte encoding ---- */

static void put_u8(struct sbuf *b, uint8_t v)
{
    sbuf_addc(b, (char)v);
}

static void put_u16(struct sbuf *b, uint16_t v)
{
    uint8_t x[2];
    le_put16(x, v);
    sbuf_add(b, x, 2);
}

static void put_u32(struct sbuf *b, uint32_t v)
{
    uint8_t x[4];
    le_put32(x, v);
    sbuf_add(b, x, 4);
}

static void put_u64(struct sbuf *b, uint64_t v)
{
    uint8_t x[8];
    le_put64(x, v);
    sbuf_add(b, x, 8);
}

/* LEB128: 7 bits a byte, low bits first; 1..10 bytes. */
static void put_varint(struct sbuf *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (uint8_t)v;
    sbuf_add(b, x, n);
}

static void put_str8(struct sbuf *b, const char *p, size_t n)
{
    if (n > 255)
        n = 255;
    put_u8(b, (uint8_t)n);
    sbuf_add(b, p, n);
}

static void put_str16(struct sbuf *b, const char *p, size_t n)
{
    if (n > 65535)
        n = 65535;
    put_u16(b, (uint16_t)n);
    if (n)
        sbuf_add(b, p, n);
}

/* A varint of at most 10 bytes that fits in 64 bits, else bad. */
static uint64_t get_varint(struct le_reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        const uint8_t *q = le_take(r, 1);
        if (!q)
            return 0;
        if (shift == 63 && *q > 1)
            break;
        v |= (uint64_t)(*q & 0x7f) << shift;
        if (!(*q & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

/* ---- heap orders ---- */

/* Each entry is in at most one heap (its state's) and keeps its slot in
 * heap_idx. */

/* READY: by position only. */
static int ready_before(const void *pa, const void *pb)
{
    const struct bus_entry *a = pa, *b = pb;
    return a->pos < b->pos;
}

/* HELD and DELAYED: by (deadline, position). */
static int deadline_before(const void *pa, const void *pb)
{
    const struct bus_entry *a = pa, *b = pb;
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->pos < b->pos;
}

#define ENTRY_SLOT offsetof(struct bus_entry, heap_idx)

/* ---- the record of one operation ---- */

static uint64_t to_wall(const struct bus_set *s, uint64_t mono)
{
    if (!mono)
        return 0;
    int64_t w;
    if (mono > INT64_MAX || __builtin_add_overflow((int64_t)mono, s->wall_offset, &w))
        return UINT64_MAX;
    return w > 0 ? (uint64_t)w : 1;
}

static uint64_t to_mono(const struct bus_set *s, uint64_t wall)
{
    if (!wall)
        return 0;
    /* a journal's times are data: one far out of range saturates */
    int64_t m;
    if (wall > INT64_MAX || __builtin_sub_overflow((int64_t)wall, s->wall_offset, &m))
        return UINT64_MAX;
    return m > 0 ? (uint64_t)m : 1;
}

static int journaled(const struct bus_set *s, const struct bus_sub *sub)
{
    return !s->quiet && !sub->ephemeral && s->hooks.record;
}

static void encode_entry(const struct bus_set *s, struct sbuf *b,
                         const struct bus_entry *e, enum bus_state st)
{
    put_u64(b, e->pos);
    put_u8(b, (uint8_t)st);
    put_u32(b, e->deliveries);
    put_u64(b,
            st == BUS_HELD || st == BUS_DELAYED ? to_wall(s, e->deadline) : 0);
    put_u64(b, to_wall(s, e->delivered_at));
    if (st == BUS_HELD && e->consumer)
        put_str16(b, e->consumer->name, e->consumer->len);
    else
        put_str16(b, "", 0);
    put_str16(b, e->reason ? e->reason : "", e->reason ? e->reason_len : 0);
}

static void tx_flush(struct bus_set *s)
{
    struct bus_sub *sub = s->tx_sub;
    if (sub && journaled(s, sub)) {
        struct sbuf b;
        sbuf_init(&b);
        put_str16(&b, sub->name, sub->name_len);
        put_u64(&b, sub->cursor);
        uint32_t nrep = s->tx_nrep;
        for (struct bus_replay *r = sub->replays; r; r = r->next)
            nrep++;
        put_u32(&b, nrep);
        sbuf_add(&b, s->tx_reps.data, s->tx_reps.len);
        for (struct bus_replay *r = sub->replays; r; r = r->next) {
            put_u64(&b, r->id);
            put_u64(&b, r->after);
        }
        put_u32(&b, s->tx_nent);
        sbuf_add(&b, s->tx_ents.data, s->tx_ents.len);
        s->hooks.record(s->hooks.ctx, BUS_REC_STATE, (const uint8_t *)b.data,
                        b.len);
        sbuf_deinit(&b);
    }
    s->tx_sub = NULL;
    sbuf_clear(&s->tx_reps);
    sbuf_clear(&s->tx_ents);
    s->tx_nrep = s->tx_nent = 0;
}

/* The operation changes sub (its cursor or replays at least). */
static void tx_touch(struct bus_set *s, struct bus_sub *sub)
{
    if (s->tx_sub != sub)
        tx_flush(s);
    s->tx_sub = sub;
}

static void tx_entry(struct bus_set *s, const struct bus_entry *e,
                     enum bus_state st)
{
    tx_touch(s, e->sub);
    if (!journaled(s, e->sub))
        return;
    encode_entry(s, &s->tx_ents, e, st);
    s->tx_nent++;
    /* entries are written as they happen, so any prefix of them matches the
     * cursor at that moment: a big operation may be split */
    if (s->tx_ents.len >= TX_FLUSH_BYTES) {
        tx_flush(s);
        s->tx_sub = e->sub;
    }
}

/* ---- entries ---- */

static size_t slot(const struct bus_sub *sub, uint64_t pos)
{
    uint64_t h = pos * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17) & (sub->nbuckets - 1);
}

struct bus_entry *bus_entry_find(const struct bus_sub *sub, uint64_t pos)
{
    for (struct bus_entry *e = sub->buckets[slot(sub, pos)]; e; e = e->hnext)
        if (e->pos == pos)
            return e;
    return NULL;
}

/* Rehashes into n buckets (a power of two): doubled when full, halved when
 * under 1/8 full, so memory follows the live entries. */
static void rehash(struct bus_sub *sub, size_t n)
{
    size_t old = sub->nbuckets;
    struct bus_entry **ob = sub->buckets;
    sub->nbuckets = n;
    sub->buckets = xcalloc(n, sizeof(*sub->buckets));
    for (size_t i = 0; i < old; i++) {
        struct bus_entry *e = ob[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            size_t k = slot(sub, e->pos);
            e->hnext = sub->buckets[k];
            sub->buckets[k] = e;
        }
    }
    free(ob);
}

/* A new entry in no state yet (the caller attaches it). */
static struct bus_entry *entry_new(struct bus_sub *sub, uint64_t pos)
{
    if (sub->nentries + 1 > sub->nbuckets)
        rehash(sub, sub->nbuckets * 2);
    struct bus_entry *e = xcalloc(1, sizeof(*e));
    e->pos = pos;
    e->sub = sub;
    e->state = BUS_GONE;
    size_t k = slot(sub, pos);
    e->hnext = sub->buckets[k];
    sub->buckets[k] = e;
    sub->nentries++;
    return e;
}

/* Takes e out of its state's structure (state becomes GONE). */
static void detach(struct bus_set *s, struct bus_entry *e)
{
    struct bus_sub *sub = e->sub;
    switch (e->state) {
    case BUS_HELD:
        heap_remove(&s->deadlines, e, deadline_before);
        sub->nheld--;
        if (e->consumer)
            e->consumer->held--;
        e->consumer = NULL;
        break;
    case BUS_DELAYED:
        heap_remove(&s->deadlines, e, deadline_before);
        sub->ndelayed--;
        break;
    case BUS_READY:
        heap_remove(&sub->ready, e, ready_before);
        break;
    case BUS_DEAD:
        if (e->prev)
            e->prev->next = e->next;
        else
            sub->dead_head = e->next;
        if (e->next)
            e->next->prev = e->prev;
        else
            sub->dead_tail = e->prev;
        e->prev = e->next = NULL;
        sub->ndead--;
        break;
    case BUS_GONE:
        break;
    }
    e->state = BUS_GONE;
}

/* Puts a detached e into state st (HELD needs e->consumer set by the caller
 * after; deadline must be set for HELD/DELAYED). */
static void attach(struct bus_set *s, struct bus_entry *e, enum bus_state st,
                   struct bus_consumer *c)
{
    struct bus_sub *sub = e->sub;
    e->state = st;
    switch (st) {
    case BUS_HELD:
        e->consumer = c;
        if (c)
            c->held++;
        sub->nheld++;
        heap_push(&s->deadlines, e, deadline_before);
        break;
    case BUS_DELAYED:
        sub->ndelayed++;
        heap_push(&s->deadlines, e, deadline_before);
        break;
    case BUS_READY:
        heap_push(&sub->ready, e, ready_before);
        break;
    case BUS_DEAD:
        e->prev = sub->dead_tail;
        e->next = NULL;
        if (sub->dead_tail)
            sub->dead_tail->next = e;
        else
            sub->dead_head = e;
        sub->dead_tail = e;
        sub->ndead++;
        break;
    case BUS_GONE:
        break;
    }
}

/* Detaches, unhashes and frees e. */
static void entry_free(struct bus_set *s, struct bus_entry *e)
{
    struct bus_sub *sub = e->sub;
    detach(s, e);
    struct bus_entry **pp = &sub->buckets[slot(sub, e->pos)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    sub->nentries--;
    free(e->reason);
    free(e);
    if (sub->nbuckets > 64 && sub->nentries * 8 < sub->nbuckets)
        rehash(sub, sub->nbuckets / 2);
}

static void set_reason(struct bus_entry *e, const char *r, size_t n)
{
    if (!r)
        return;
    if (n > BUS_REASON_MAX)
        n = BUS_REASON_MAX;
    free(e->reason);
    e->reason = xmemdup(r, n);
    e->reason_len = n;
}

static void deliver(struct bus_set *s, struct bus_entry *e,
                    struct bus_consumer *c, uint64_t now)
{
    struct bus_sub *sub = e->sub;
    detach(s, e);
    if (e->deliveries)
        sub->redelivered++;
    if (e->deliveries < UINT32_MAX)
        e->deliveries++;
    e->deadline = now + sub->ackwait;
    e->delivered_at = now ? now : 1;
    attach(s, e, BUS_HELD, c);
    sub->delivered++;
    tx_entry(s, e, BUS_HELD);
}

/* A delivery of a HELD entry ended without an ACK. */
static void end_delivery(struct bus_set *s, struct bus_entry *e,
                         const char *reason, size_t rlen, uint64_t delay,
                         uint64_t now)
{
    detach(s, e);
    set_reason(e, reason, rlen);
    if (e->deliveries >= e->sub->maxdeliver) {
        attach(s, e, BUS_DEAD, NULL);
    } else if (delay) {
        e->deadline = now + delay;
        attach(s, e, BUS_DELAYED, NULL);
    } else {
        attach(s, e, BUS_READY, NULL);
    }
    tx_entry(s, e, e->state);
}

/* ---- subscriptions ---- */

struct bus_set *bus_set_new(const struct bus_hooks *hooks, int64_t wall_offset)
{
    struct bus_set *s = xcalloc(1, sizeof(*s));
    if (hooks)
        s->hooks = *hooks;
    s->wall_offset = wall_offset;
    s->next_replay_id = 1;
    heap_init(&s->deadlines, ENTRY_SLOT);
    sbuf_init(&s->tx_reps);
    sbuf_init(&s->tx_ents);
    return s;
}

void bus_set_wall_offset(struct bus_set *s, int64_t wall_offset)
{
    s->wall_offset = wall_offset;
}

static void sub_free(struct bus_set *s, struct bus_sub *sub)
{
    for (size_t i = 0; i < sub->nbuckets; i++) {
        struct bus_entry *e = sub->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            if (e->state == BUS_HELD || e->state == BUS_DELAYED)
                heap_remove(&s->deadlines, e, deadline_before);
            free(e->reason);
            free(e);
        }
    }
    free(sub->buckets);
    heap_deinit(&sub->ready);
    for (size_t i = 0; i < sub->npats; i++)
        free((char *)sub->pats[i].p);
    free(sub->pats);
    struct bus_consumer *c = sub->consumers, *cn;
    for (; c; c = cn) {
        cn = c->next;
        free(c->name);
        free(c);
    }
    struct bus_replay *r = sub->replays, *rn;
    for (; r; r = rn) {
        rn = r->next;
        free(r->pat);
        free(r->pos);
        free(r);
    }
    free(sub->name);
    free(sub);
}

void bus_set_free(struct bus_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nsubs; i++)
        sub_free(s, s->subs[i]);
    free(s->subs);
    heap_deinit(&s->deadlines);
    sbuf_deinit(&s->tx_reps);
    sbuf_deinit(&s->tx_ents);
    free(s);
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* Index of name in subs, or where it would go (*found = 0). */
static size_t sub_index(const struct bus_set *s, const char *name, size_t len,
                        int *found)
{
    size_t lo = 0, hi = s->nsubs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = name_cmp(s->subs[mid]->name, s->subs[mid]->name_len, name, len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

struct bus_sub *bus_find(struct bus_set *s, const char *name, size_t len)
{
    int found;
    size_t i = sub_index(s, name, len, &found);
    return found ? s->subs[i] : NULL;
}

size_t bus_count(const struct bus_set *s)
{
    return s->nsubs;
}

struct bus_sub *bus_at(struct bus_set *s, size_t i)
{
    return i < s->nsubs ? s->subs[i] : NULL;
}

static void set_patterns(struct bus_sub *sub, const struct bus_pattern *pats,
                         size_t npats)
{
    for (size_t i = 0; i < sub->npats; i++)
        free((char *)sub->pats[i].p);
    free(sub->pats);
    sub->pats = xcalloc(npats ? npats : 1, sizeof(*sub->pats));
    sub->npats = 0;
    for (size_t i = 0; i < npats; i++) {
        int dup = 0;
        for (size_t k = 0; k < sub->npats && !dup; k++)
            dup = name_cmp(sub->pats[k].p, sub->pats[k].len, pats[i].p,
                           pats[i].len) == 0;
        if (dup)
            continue;
        sub->pats[sub->npats].p = xmemdup(pats[i].p, pats[i].len);
        sub->pats[sub->npats].len = pats[i].len;
        sub->npats++;
    }
}

static struct bus_replay *replay_add_positions(struct bus_sub *sub, uint64_t id,
                                               uint64_t *pos, size_t npos,
                                               uint64_t after);

/* boot: the positions replay made with the subscription, or NULL. */
static void record_sub(struct bus_set *s, const struct bus_sub *sub,
                       const struct bus_replay *boot)
{
    if (!journaled(s, sub))
        return;
    struct sbuf b;
    sbuf_init(&b);
    put_str16(&b, sub->name, sub->name_len);
    put_u8(&b, boot ? 2 : 0);
    put_u64(&b, sub->ackwait);
    put_u32(&b, sub->maxdeliver);
    put_u64(&b, sub->cursor);
    put_u8(&b, (uint8_t)sub->npats);
    for (size_t i = 0; i < sub->npats; i++)
        put_str8(&b, sub->pats[i].p, sub->pats[i].len);
    if (boot) {
        put_u64(&b, boot->id);
        put_u32(&b, (uint32_t)boot->npos);
        uint64_t prev = 0;
        for (size_t i = 0; i < boot->npos; i++) {
            put_varint(&b, boot->pos[i] - prev);
            prev = boot->pos[i];
        }
    }
    s->hooks.record(s->hooks.ctx, BUS_REC_SUB, (const uint8_t *)b.data, b.len);
    sbuf_deinit(&b);
}

int bus_sub(struct bus_set *s, const struct bus_sub_args *a,
            struct bus_sub **out, char *err, size_t errlen)
{
    int found;
    size_t i = sub_index(s, a->name, a->name_len, &found);
    tx_flush(s);
    if (found) {
        struct bus_sub *sub = s->subs[i];
        if (!sub->ephemeral != !a->ephemeral) {
            snprintf(err, errlen, "subscription '%.*s' exists and is %s",
                     (int)(sub->name_len > 200 ? 200 : sub->name_len),
                     sub->name, sub->ephemeral ? "ephemeral" : "durable");
            return ERR_INVAL;
        }
        set_patterns(sub, a->pats, a->npats);
        if (a->ackwait)
            sub->ackwait = a->ackwait;
        if (a->maxdeliver)
            sub->maxdeliver = a->maxdeliver;
        record_sub(s, sub, NULL);
        *out = sub;
        return 0;
    }
    struct bus_sub *sub = xcalloc(1, sizeof(*sub));
    sub->name = xmemdup(a->name, a->name_len);
    sub->name_len = a->name_len;
    sub->ephemeral = a->ephemeral != 0;
    sub->ackwait = a->ackwait ? a->ackwait : BUS_ACKWAIT_DEFAULT;
    sub->maxdeliver = a->maxdeliver ? a->maxdeliver : BUS_MAXDELIVER_DEFAULT;
    sub->cursor = a->cursor;
    sub->nbuckets = 16;
    sub->buckets = xcalloc(sub->nbuckets, sizeof(*sub->buckets));
    heap_init(&sub->ready, ENTRY_SLOT);
    set_patterns(sub, a->pats, a->npats);
    if (s->nsubs == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->subs = xrealloc(s->subs, s->cap * sizeof(*s->subs));
    }
    memmove(&s->subs[i + 1], &s->subs[i], (s->nsubs - i) * sizeof(*s->subs));
    s->subs[i] = sub;
    s->nsubs++;
    struct bus_replay *boot = NULL;
    if (a->nboot) {
        uint64_t *pos = xmalloc(a->nboot * sizeof(*pos));
        memcpy(pos, a->boot, a->nboot * sizeof(*pos));
        uint64_t id = a->boot_id ? a->boot_id : s->next_replay_id;
        if (id >= s->next_replay_id)
            s->next_replay_id = id + 1;
        boot = replay_add_positions(sub, id, pos, a->nboot, 0);
    }
    record_sub(s, sub, boot);
    *out = sub;
    return 1;
}

static void sub_remove(struct bus_set *s, struct bus_sub *sub, int record)
{
    int found;
    size_t i = sub_index(s, sub->name, sub->name_len, &found);
    if (s->tx_sub == sub)
        tx_flush(s);
    if (record && journaled(s, sub)) {
        struct sbuf b;
        sbuf_init(&b);
        put_str16(&b, sub->name, sub->name_len);
        s->hooks.record(s->hooks.ctx, BUS_REC_UNSUB, (const uint8_t *)b.data,
                        b.len);
        sbuf_deinit(&b);
    }
    memmove(&s->subs[i], &s->subs[i + 1],
            (s->nsubs - i - 1) * sizeof(*s->subs));
    s->nsubs--;
    sub_free(s, sub);
}

int bus_unsub(struct bus_set *s, const char *name, size_t len)
{
    struct bus_sub *sub = bus_find(s, name, len);
    if (!sub)
        return ERR_NOSUB;
    tx_flush(s);
    sub_remove(s, sub, 1);
    return 0;
}

void bus_sub_prefetch(const struct bus_sub *sub)
{
    for (size_t off = 0; off < sizeof(*sub); off += 64)
        __builtin_prefetch((const char *)sub + off);
}

void bus_sub_info(const struct bus_sub *sub, struct bus_sub_info *o)
{
    memset(o, 0, sizeof(*o));
    o->name = sub->name;
    o->name_len = sub->name_len;
    o->pats = sub->pats;
    o->npats = sub->npats;
    o->ephemeral = sub->ephemeral;
    o->ackwait = sub->ackwait;
    o->maxdeliver = sub->maxdeliver;
    o->cursor = sub->cursor;
    o->held = sub->nheld;
    o->waiting = heap_count(&sub->ready) + sub->ndelayed;
    o->dead = sub->ndead;
    o->consumers = sub->nconsumers;
    o->replays = sub->nreplays;
    o->delivered = sub->delivered;
    o->acked = sub->acked;
    o->redelivered = sub->redelivered;
}

int bus_sub_matches(const struct bus_sub *sub, const char *type, size_t len)
{
    for (size_t i = 0; i < sub->npats; i++)
        if (topic_match(sub->pats[i].p, sub->pats[i].len, type, len))
            return 1;
    return 0;
}

int bus_sub_has_backlog(const struct bus_sub *sub)
{
    return heap_count(&sub->ready) > 0 || sub->replays != NULL;
}

const char *bus_sub_name(const struct bus_sub *sub, size_t *len)
{
    if (len)
        *len = sub->name_len;
    return sub->name;
}

const char *bus_consumer_name(const struct bus_consumer *c, size_t *len)
{
    if (len)
        *len = c->len;
    return c->name;
}

const char *bus_state_name(enum bus_state st)
{
    switch (st) {
    case BUS_HELD:
        return "delivered";
    case BUS_DELAYED:
        return "delayed";
    case BUS_READY:
        return "ready";
    case BUS_DEAD:
        return "dead";
    case BUS_GONE:
        break;
    }
    return "gone";
}

/* ---- consumers ---- */

static struct bus_consumer *consumer_find(const struct bus_sub *sub,
                                          const char *name, size_t len)
{
    for (struct bus_consumer *c = sub->consumers; c; c = c->next)
        if (c->len == len && memcmp(c->name, name, len) == 0)
            return c;
    return NULL;
}

static struct bus_consumer *consumer_get(struct bus_sub *sub, const char *name,
                                         size_t len)
{
    struct bus_consumer *c = consumer_find(sub, name, len);
    if (c)
        return c;
    c = xcalloc(1, sizeof(*c));
    c->name = xmemdup(name, len);
    c->len = len;
    if (sub->consumers_tail)
        sub->consumers_tail->next = c;
    else
        sub->consumers = c;
    sub->consumers_tail = c;
    sub->nconsumers++;
    return c;
}

int bus_consumer_remove(struct bus_set *s, struct bus_sub *sub,
                        const char *name, size_t len)
{
    struct bus_consumer *c = consumer_find(sub, name, len);
    if (!c)
        return ERR_NOTFOUND;
    static const char why[] = "consumer left";
    for (size_t i = 0; i < sub->nbuckets && c->held; i++)
        for (struct bus_entry *e = sub->buckets[i]; e; e = e->hnext)
            if (e->state == BUS_HELD && e->consumer == c)
                end_delivery(s, e, why, sizeof(why) - 1, 0, 0);
    struct bus_consumer **pp = &sub->consumers, *prev = NULL;
    while (*pp != c) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = c->next;
    if (sub->consumers_tail == c)
        sub->consumers_tail = prev;
    sub->nconsumers--;
    free(c->name);
    free(c);
    if (sub->ephemeral && sub->nconsumers == 0) {
        sub_remove(s, sub, 1);
        return 1;
    }
    tx_flush(s);
    return 0;
}

size_t bus_consumers(const struct bus_sub *sub, size_t count,
                     struct bus_consumer_info *out)
{
    size_t n = 0;
    for (struct bus_consumer *c = sub->consumers; c && n < count; c = c->next) {
        out[n].name = c->name;
        out[n].name_len = c->len;
        out[n].held = c->held;
        out[n].seen = c->seen;
        n++;
    }
    return n;
}

/* ---- delivery ---- */

static void replay_finish(struct bus_set *s, struct bus_sub *sub,
                          struct bus_replay *r)
{
    struct bus_replay **pp = &sub->replays, *prev = NULL;
    while (*pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = r->next;
    if (sub->replays_tail == r)
        sub->replays_tail = prev;
    sub->nreplays--;
    tx_touch(s, sub);
    put_u64(&s->tx_reps, r->id);
    put_u64(&s->tx_reps, r->to);
    s->tx_nrep++;
    free(r->pat);
    free(r->pos);
    free(r);
}

/* Moves r->at past the positions <= r->after (a no-op for a range). */
static void replay_seek(struct bus_replay *r)
{
    while (r->at < r->npos && r->pos[r->at] <= r->after)
        r->at++;
}

/* Delivers new events of one stream ((*after, until] matching pats) until
 * *n reaches count. Returns 0, or the source's negative code. */
static int drain(struct bus_set *s, struct bus_sub *sub,
                 const struct bus_source *src, const struct bus_pattern *pats,
                 size_t npats, uint64_t *after, uint64_t until,
                 struct bus_consumer *c, size_t count, uint64_t now,
                 struct bus_entry **out, size_t *n)
{
    while (*n < count && *after < until) {
        uint64_t pos = *after;
        int rc = src->next(src->ctx, pats, npats, *after, until, &pos);
        if (rc < 0)
            return rc;
        if (pos <= *after || pos > until)
            return 0; /* no progress: ask again later */
        *after = pos;
        tx_touch(s, sub);
        if (rc == 0 || bus_entry_find(sub, pos))
            continue;
        struct bus_entry *e = entry_new(sub, pos);
        deliver(s, e, c, now);
        out[(*n)++] = e;
    }
    return 0;
}

/* Delivers the next positions of a positions replay until *n reaches count.
 * A position past src->visible() waits (the caller checked each was stored
 * and visible when the replay was made; only a store that lost unsynced
 * events in a crash can be behind it). */
static void drain_positions(struct bus_set *s, struct bus_sub *sub,
                            const struct bus_source *src, struct bus_replay *r,
                            struct bus_consumer *c, size_t count, uint64_t now,
                            struct bus_entry **out, size_t *n)
{
    uint64_t visible = src->visible(src->ctx);
    while (*n < count && r->at < r->npos) {
        uint64_t pos = r->pos[r->at];
        if (pos > visible)
            return;
        r->after = pos;
        r->at++;
        tx_touch(s, sub);
        if (bus_entry_find(sub, pos))
            continue; /* pending or dead already */
        struct bus_entry *e = entry_new(sub, pos);
        deliver(s, e, c, now);
        out[(*n)++] = e;
    }
}

int bus_read(struct bus_set *s, struct bus_sub *sub, const char *consumer,
             size_t clen, size_t count, const struct bus_source *src,
             uint64_t now, struct bus_entry **out)
{
    bus_tick(s, now);
    struct bus_consumer *c = consumer_get(sub, consumer, clen);
    c->seen = now;
    size_t n = 0;
    int rc = 0;
    struct bus_entry *e;
    while (n < count && (e = heap_first(&sub->ready))) {
        deliver(s, e, c, now);
        out[n++] = e;
    }
    struct bus_replay *r = sub->replays, *rn;
    for (; r && n < count && rc == 0; r = rn) {
        rn = r->next;
        if (r->pat) {
            struct bus_pattern p = {r->pat, r->pat_len};
            rc = drain(s, sub, src, &p, 1, &r->after, r->to, c, count, now, out,
                       &n);
        } else {
            drain_positions(s, sub, src, r, c, count, now, out, &n);
        }
        if (r->after >= r->to)
            replay_finish(s, sub, r);
    }
    if (n < count && rc == 0)
        rc = drain(s, sub, src, sub->pats, sub->npats, &sub->cursor,
                   src->visible(src->ctx), c, count, now, out, &n);
    tx_flush(s);
    if (n == 0 && rc < 0)
        return rc;
    return (int)n;
}

size_t bus_ack(struct bus_set *s, struct bus_sub *sub, const uint64_t *pos,
               size_t n)
{
    size_t acked = 0;
    for (size_t i = 0; i < n; i++) {
        struct bus_entry *e = bus_entry_find(sub, pos[i]);
        if (!e || e->state == BUS_DEAD)
            continue;
        tx_entry(s, e, BUS_GONE);
        sub->acked++;
        entry_free(s, e);
        acked++;
    }
    tx_flush(s);
    return acked;
}

int bus_nack(struct bus_set *s, struct bus_sub *sub, uint64_t pos,
             uint64_t delay, const char *reason, size_t rlen, uint64_t now,
             struct bus_entry **out)
{
    struct bus_entry *e = bus_entry_find(sub, pos);
    if (!e || e->state != BUS_HELD)
        return ERR_NOTFOUND;
    static const char nacked[] = "nacked";
    if (!reason) {
        reason = nacked;
        rlen = sizeof(nacked) - 1;
    }
    end_delivery(s, e, reason, rlen, delay, now);
    tx_flush(s);
    *out = e;
    return 0;
}

int bus_touch(struct bus_set *s, struct bus_sub *sub, uint64_t pos,
              uint64_t now, struct bus_entry **out)
{
    struct bus_entry *e = bus_entry_find(sub, pos);
    if (!e || e->state != BUS_HELD)
        return ERR_NOTFOUND;
    heap_remove(&s->deadlines, e, deadline_before);
    e->deadline = now + sub->ackwait;
    heap_push(&s->deadlines, e, deadline_before);
    tx_entry(s, e, BUS_HELD);
    tx_flush(s);
    *out = e;
    return 0;
}

static void redrive_one(struct bus_set *s, struct bus_entry *e)
{
    detach(s, e);
    e->deliveries = 0;
    attach(s, e, BUS_READY, NULL);
    tx_entry(s, e, BUS_READY);
}

int bus_redrive(struct bus_set *s, struct bus_sub *sub, uint64_t pos)
{
    struct bus_entry *e = bus_entry_find(sub, pos);
    if (!e || e->state != BUS_DEAD)
        return ERR_NOTFOUND;
    redrive_one(s, e);
    tx_flush(s);
    return 0;
}

uint64_t bus_redrive_all(struct bus_set *s, struct bus_sub *sub)
{
    uint64_t n = 0;
    while (sub->dead_head) {
        redrive_one(s, sub->dead_head);
        n++;
    }
    tx_flush(s);
    return n;
}

/* A range as BUS_REC_REPLAY; a positions replay as BUS_REC_REPLAY_POS with
 * only the positions still to come (after r->after): a checkpoint keeps what
 * is left, not the whole list. */
static void record_replay(struct bus_set *s, const struct bus_sub *sub,
                          const struct bus_replay *r)
{
    if (!journaled(s, sub))
        return;
    struct sbuf b;
    sbuf_init(&b);
    put_str16(&b, sub->name, sub->name_len);
    put_u64(&b, r->id);
    put_u64(&b, r->after);
    uint8_t type = BUS_REC_REPLAY;
    if (r->pat) {
        put_u64(&b, r->to);
        put_str8(&b, r->pat, r->pat_len);
    } else {
        type = BUS_REC_REPLAY_POS;
        put_u32(&b, (uint32_t)(r->npos - r->at));
        uint64_t prev = 0;
        for (size_t i = r->at; i < r->npos; i++) {
            put_varint(&b, r->pos[i] - prev);
            prev = r->pos[i];
        }
    }
    s->hooks.record(s->hooks.ctx, type, (const uint8_t *)b.data, b.len);
    sbuf_deinit(&b);
}

static void replay_link(struct bus_sub *sub, struct bus_replay *r)
{
    if (sub->replays_tail)
        sub->replays_tail->next = r;
    else
        sub->replays = r;
    sub->replays_tail = r;
    sub->nreplays++;
}

static struct bus_replay *replay_add(struct bus_sub *sub, uint64_t id,
                                     const char *pat, size_t plen,
                                     uint64_t after, uint64_t to)
{
    struct bus_replay *r = xcalloc(1, sizeof(*r));
    r->id = id;
    r->pat = xmemdup(pat, plen);
    r->pat_len = plen;
    r->after = after;
    r->to = to;
    replay_link(sub, r);
    return r;
}

/* pos: owned from now on, npos >= 1 entries, ascending and distinct. */
static struct bus_replay *replay_add_positions(struct bus_sub *sub, uint64_t id,
                                               uint64_t *pos, size_t npos,
                                               uint64_t after)
{
    struct bus_replay *r = xcalloc(1, sizeof(*r));
    r->id = id;
    r->pos = pos;
    r->npos = npos;
    r->after = after;
    r->to = pos[npos - 1];
    replay_seek(r);
    replay_link(sub, r);
    return r;
}

uint64_t bus_replay(struct bus_set *s, struct bus_sub *sub,
                    const struct bus_pattern *pat, uint64_t after, uint64_t to)
{
    tx_flush(s);
    struct bus_replay *r =
        replay_add(sub, s->next_replay_id++, pat->p, pat->len, after, to);
    record_replay(s, sub, r);
    if (r->after >= r->to) {
        replay_finish(s, sub, r);
        tx_flush(s);
        return s->next_replay_id - 1;
    }
    return r->id;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t bus_replay_positions(struct bus_set *s, struct bus_sub *sub,
                              const uint64_t *pos, size_t n, size_t *distinct)
{
    tx_flush(s);
    uint64_t *p = xmalloc((n ? n : 1) * sizeof(*p));
    if (n)
        memcpy(p, pos, n * sizeof(*p));
    qsort(p, n, sizeof(*p), cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] && (k == 0 || p[i] != p[k - 1]))
            p[k++] = p[i];
    if (distinct)
        *distinct = k;
    uint64_t id = s->next_replay_id++;
    if (k == 0) {
        free(p); /* nothing to deliver: finished before it began */
        return id;
    }
    if (k < n)
        p = xrealloc(p, k * sizeof(*p));
    struct bus_replay *r = replay_add_positions(sub, id, p, k, 0);
    record_replay(s, sub, r);
    return id;
}

/* ---- listing ---- */

static int by_pos(const void *a, const void *b)
{
    const struct bus_entry *x = *(struct bus_entry *const *)a;
    const struct bus_entry *y = *(struct bus_entry *const *)b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

size_t bus_pending(const struct bus_sub *sub, const char *consumer, size_t clen,
                   size_t count, struct bus_entry **out)
{
    const struct bus_consumer *c = NULL;
    if (consumer) {
        c = consumer_find(sub, consumer, clen);
        if (!c)
            return 0;
    }
    size_t cap = sub->nentries, n = 0;
    struct bus_entry **all = xmalloc((cap ? cap : 1) * sizeof(*all));
    for (size_t i = 0; i < sub->nbuckets; i++)
        for (struct bus_entry *e = sub->buckets[i]; e; e = e->hnext) {
            if (e->state == BUS_DEAD)
                continue;
            if (c && (e->state != BUS_HELD || e->consumer != c))
                continue;
            all[n++] = e;
        }
    qsort(all, n, sizeof(*all), by_pos);
    if (n > count)
        n = count;
    if (n)
        memcpy(out, all, n * sizeof(*out));
    free(all);
    return n;
}

size_t bus_dead(const struct bus_sub *sub, size_t count, struct bus_entry **out)
{
    size_t n = 0;
    for (struct bus_entry *e = sub->dead_head; e && n < count; e = e->next)
        out[n++] = e;
    return n;
}

/* ---- time ---- */

uint64_t bus_tick(struct bus_set *s, uint64_t now)
{
    static const char missed[] = "ack deadline missed";
    uint64_t ready = 0;
    struct bus_entry *e;
    while ((e = heap_first(&s->deadlines)) && e->deadline <= now) {
        if (e->state == BUS_HELD) {
            end_delivery(s, e, missed, sizeof(missed) - 1, 0, now);
        } else {
            detach(s, e);
            attach(s, e, BUS_READY, NULL);
            tx_entry(s, e, BUS_READY);
        }
        if (e->state == BUS_READY)
            ready++;
    }
    tx_flush(s);
    return ready;
}

int bus_next_deadline(const struct bus_set *s, uint64_t *deadline)
{
    const struct bus_entry *e = heap_first(&s->deadlines);
    if (!e)
        return 0;
    *deadline = e->deadline;
    return 1;
}

/* ---- recovery ---- */

static int corrupt(char *err, size_t errlen, const char *what, const char *name,
                   size_t len)
{
    snprintf(err, errlen, "bus record: %s (subscription '%.*s')", what,
             (int)(len > 100 ? 100 : len), name);
    return ERR_CORRUPT;
}

/* Creates the subscription of a SUB record read into *ap. */
static int recover_sub_args(struct bus_set *s, struct le_reader *r,
                            struct bus_sub_args *ap, struct bus_pattern *pats,
                            char *err, size_t errlen)
{
    struct bus_sub_args a = *ap;
    if (r->bad || r->at != r->n || a.name_len == 0 || a.npats == 0 ||
        !a.ackwait || a.ackwait > BUS_ACKWAIT_MAX || !a.maxdeliver ||
        a.maxdeliver > BUS_MAXDELIVER_MAX)
        return corrupt(err, errlen, "bad SUB", a.name, a.name_len);
    for (size_t i = 0; i < a.npats; i++)
        if (topic_pattern_check(pats[i].p, pats[i].len, err, errlen) < 0)
            return corrupt(err, errlen, "bad pattern in SUB", a.name,
                           a.name_len);
    a.pats = pats;
    struct bus_sub *sub;
    if (bus_sub(s, &a, &sub, err, errlen) < 0)
        return corrupt(err, errlen, "SUB changes durability", a.name,
                       a.name_len);
    return 0;
}

static int recover_sub(struct bus_set *s, struct le_reader *r, char *err,
                       size_t errlen)
{
    struct bus_sub_args a = {0};
    struct bus_pattern pats[BUS_PATTERNS_MAX];
    a.name = le_read_str(r, 2, &a.name_len);
    uint8_t flags = (uint8_t)le_read(r, 1);
    a.ackwait = le_read(r, 8);
    a.maxdeliver = (uint32_t)le_read(r, 4);
    a.cursor = le_read(r, 8);
    a.npats = (size_t)le_read(r, 1);
    a.ephemeral = flags & 1;
    if (a.npats > BUS_PATTERNS_MAX)
        r->bad = 1;
    for (size_t i = 0; i < a.npats && !r->bad; i++)
        pats[i].p = le_read_str(r, 1, &pats[i].len);
    uint64_t *boot = NULL;
    if ((flags & 2) && !r->bad) {
        a.boot_id = le_read(r, 8);
        a.nboot = (size_t)le_read(r, 4);
        /* every position takes at least one byte: n is bounded by the record */
        if (a.nboot == 0 || a.nboot > r->n - r->at || a.boot_id == 0)
            r->bad = 1;
        else
            boot = xmalloc(a.nboot * sizeof(*boot));
        uint64_t prev = 0;
        for (size_t i = 0; i < a.nboot && !r->bad; i++) {
            uint64_t d = get_varint(r);
            if (d == 0 || prev + d < prev)
                r->bad = 1; /* not ascending, or past 2^64 */
            prev += d;
            boot[i] = prev;
        }
        a.boot = boot;
    }
    int rc = recover_sub_args(s, r, &a, pats, err, errlen);
    free(boot);
    return rc;
}

static int recover_state(struct bus_set *s, struct le_reader *r, uint64_t now,
                         char *err, size_t errlen)
{
    size_t nlen;
    const char *name = le_read_str(r, 2, &nlen);
    struct bus_sub *sub = r->bad ? NULL : bus_find(s, name, nlen);
    if (!sub)
        return corrupt(err, errlen, "STATE of an unknown subscription", name,
                       r->bad ? 0 : nlen);
    uint64_t cursor = le_read(r, 8);
    if (cursor > sub->cursor)
        sub->cursor = cursor;
    uint32_t nrep = (uint32_t)le_read(r, 4);
    for (uint32_t i = 0; i < nrep && !r->bad; i++) {
        uint64_t id = le_read(r, 8), after = le_read(r, 8);
        struct bus_replay *rp = sub->replays;
        while (rp && rp->id != id)
            rp = rp->next;
        if (!rp)
            continue; /* finished in an earlier record */
        if (after > rp->after) {
            rp->after = after;
            replay_seek(rp);
        }
        if (rp->after >= rp->to)
            replay_finish(s, sub, rp);
    }
    uint32_t nent = (uint32_t)le_read(r, 4);
    for (uint32_t i = 0; i < nent && !r->bad; i++) {
        uint64_t pos = le_read(r, 8);
        uint8_t st = (uint8_t)le_read(r, 1);
        uint32_t deliveries = (uint32_t)le_read(r, 4);
        uint64_t deadline = le_read(r, 8), delivered = le_read(r, 8);
        size_t clen, rlen;
        const char *cname = le_read_str(r, 2, &clen);
        const char *reason = le_read_str(r, 2, &rlen);
        if (r->bad || st > BUS_GONE || (st == BUS_HELD && clen == 0))
            return corrupt(err, errlen, "bad STATE entry", name, nlen);
        struct bus_entry *e = bus_entry_find(sub, pos);
        if (st == BUS_GONE) {
            if (e)
                entry_free(s, e);
            continue;
        }
        if (!e)
            e = entry_new(sub, pos);
        detach(s, e);
        e->deliveries = deliveries;
        e->delivered_at = to_mono(s, delivered);
        e->deadline = to_mono(s, deadline);
        if ((st == BUS_HELD || st == BUS_DELAYED) && e->deadline == 0)
            e->deadline = now;
        free(e->reason);
        e->reason = NULL;
        e->reason_len = 0;
        if (rlen)
            set_reason(e, reason, rlen);
        attach(s, e, (enum bus_state)st,
               st == BUS_HELD ? consumer_get(sub, cname, clen) : NULL);
    }
    if (r->bad || r->at != r->n)
        return corrupt(err, errlen, "bad STATE", name, nlen);
    return 0;
}

static int recover_replay_pos(struct bus_set *s, struct le_reader *r, char *err,
                              size_t errlen)
{
    size_t len;
    const char *name = le_read_str(r, 2, &len);
    uint64_t id = le_read(r, 8), after = le_read(r, 8);
    uint32_t n = (uint32_t)le_read(r, 4);
    struct bus_sub *sub = r->bad ? NULL : bus_find(s, name, len);
    /* every position takes at least one byte: n is bounded by the record */
    if (!sub || n == 0 || n > r->n - r->at)
        return corrupt(err, errlen, "bad REPLAY_POS", name, r->bad ? 0 : len);
    uint64_t *pos = xmalloc((size_t)n * sizeof(*pos)), prev = 0;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t d = get_varint(r);
        if (d == 0 || prev + d < prev)
            r->bad = 1; /* not ascending, or past 2^64 */
        prev += d;
        pos[i] = prev;
    }
    if (r->bad || r->at != r->n) {
        free(pos);
        return corrupt(err, errlen, "bad REPLAY_POS", name, len);
    }
    if (id >= s->next_replay_id)
        s->next_replay_id = id + 1;
    if (after >= pos[n - 1]) {
        free(pos); /* finished */
        return 0;
    }
    replay_add_positions(sub, id, pos, n, after);
    return 0;
}

int bus_recover(struct bus_set *s, uint8_t type, const uint8_t *p, size_t n,
                uint64_t now, char *err, size_t errlen)
{
    struct le_reader r = {p, n, 0, 0};
    int rc = 0;
    s->quiet = 1;
    switch (type) {
    case BUS_REC_SUB:
        rc = recover_sub(s, &r, err, errlen);
        break;
    case BUS_REC_UNSUB: {
        size_t len;
        const char *name = le_read_str(&r, 2, &len);
        struct bus_sub *sub = r.bad ? NULL : bus_find(s, name, len);
        if (!sub || r.at != r.n)
            rc = corrupt(err, errlen, "UNSUB of an unknown subscription", name,
                         r.bad ? 0 : len);
        else
            sub_remove(s, sub, 0);
        break;
    }
    case BUS_REC_REPLAY: {
        size_t len, plen;
        const char *name = le_read_str(&r, 2, &len);
        uint64_t id = le_read(&r, 8), after = le_read(&r, 8),
                 to = le_read(&r, 8);
        const char *pat = le_read_str(&r, 1, &plen);
        struct bus_sub *sub = r.bad ? NULL : bus_find(s, name, len);
        if (!sub || r.at != r.n || plen == 0)
            rc = corrupt(err, errlen, "bad REPLAY", name, r.bad ? 0 : len);
        else if (after < to)
            replay_add(sub, id, pat, plen, after, to);
        if (id >= s->next_replay_id)
            s->next_replay_id = id + 1;
        break;
    }
    case BUS_REC_STATE:
        rc = recover_state(s, &r, now, err, errlen);
        break;
    case BUS_REC_REPLAY_POS:
        rc = recover_replay_pos(s, &r, err, errlen);
        break;
    default:
        snprintf(err, errlen, "bus record: unknown type %u", type);
        rc = ERR_CORRUPT;
    }
    /* a recovered record is never written again */
    s->tx_sub = NULL;
    sbuf_clear(&s->tx_reps);
    sbuf_clear(&s->tx_ents);
    s->tx_nrep = s->tx_nent = 0;
    s->quiet = 0;
    return rc;
}

/* ---- checkpoint ---- */

struct ckpt {
    struct bus_set *s;
    struct bus_sub *sub;
    int (*emit)(void *ctx, uint8_t type, const uint8_t *p, size_t n);
    void *ctx;
    size_t max;
    struct sbuf ents;
    uint32_t nent;
    int rc;
};

static void ckpt_flush(struct ckpt *k)
{
    if (k->rc || !k->nent)
        return;
    struct sbuf b;
    sbuf_init(&b);
    put_str16(&b, k->sub->name, k->sub->name_len);
    put_u64(&b, k->sub->cursor);
    put_u32(&b, 0);
    put_u32(&b, k->nent);
    sbuf_add(&b, k->ents.data, k->ents.len);
    k->rc = k->emit(k->ctx, BUS_REC_STATE, (const uint8_t *)b.data, b.len);
    sbuf_deinit(&b);
    sbuf_clear(&k->ents);
    k->nent = 0;
}

static void ckpt_entry(struct ckpt *k, const struct bus_entry *e)
{
    encode_entry(k->s, &k->ents, e, e->state);
    k->nent++;
    if (k->ents.len + 2 * (BUS_REASON_MAX + BUS_CONSUMER_MAX + 64) >= k->max)
        ckpt_flush(k);
}

static int rec_emit(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    struct ckpt *k = ctx;
    if (!k->rc)
        k->rc = k->emit(k->ctx, type, p, n);
    return k->rc;
}

static void ckpt_record(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    rec_emit(ctx, type, p, n);
}

int bus_checkpoint(struct bus_set *s, size_t max_record,
                   int (*emit)(void *ctx, uint8_t type, const uint8_t *p,
                               size_t n),
                   void *ctx)
{
    struct ckpt k = {0};
    k.s = s;
    k.emit = emit;
    k.ctx = ctx;
    k.max = max_record > 65536 ? max_record : 65536;
    sbuf_init(&k.ents);
    tx_flush(s);
    struct bus_hooks saved = s->hooks;
    s->hooks.record = ckpt_record;
    s->hooks.ctx = &k;
    for (size_t i = 0; i < s->nsubs && !k.rc; i++) {
        struct bus_sub *sub = s->subs[i];
        if (sub->ephemeral)
            continue;
        k.sub = sub;
        record_sub(s, sub, NULL);
        for (struct bus_replay *r = sub->replays; r && !k.rc; r = r->next)
            record_replay(s, sub, r);
        for (size_t b = 0; b < sub->nbuckets && !k.rc; b++)
            for (struct bus_entry *e = sub->buckets[b]; e; e = e->hnext)
                if (e->state != BUS_DEAD)
                    ckpt_entry(&k, e);
        for (struct bus_entry *e = sub->dead_head; e && !k.rc; e = e->next)
            ckpt_entry(&k, e);
        ckpt_flush(&k);
    }
    s->hooks = saved;
    sbuf_deinit(&k.ents);
    return k.rc;
}
