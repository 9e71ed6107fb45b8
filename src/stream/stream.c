/* stream.c - the stream model: key <-> type, entries by rank, deletions,
 * trims, groups, pending entries, and their journal. See stream.h. */
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmd_journal.h"
#include "cmd_store.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "journal.h"
#include "keyspace.h"
#include "le.h"
#include "log.h"
#include "net.h"
#include "store.h"
#include "topic.h"

#define STREAM_JOURNAL_NAME "streams"

enum rec {
    REC_META = 1,    /* a stream's own fields */
    REC_DELS = 2,    /* positions XDEL'd */
    REC_GROUP = 3,   /* a group's last_id and entries_read (create/setid) */
    REC_GROUP_DEL = 4,
    REC_CONSUMER = 5,     /* a consumer exists */
    REC_CONSUMER_DEL = 6, /* and its pending entries go */
    REC_PEL = 7,     /* pending entries set (owner, time, count) */
    REC_ACK = 8,     /* pending entries gone */
};

static struct cmd_journal jm = {.what = "stream"};
static struct stream **table;
static size_t table_cap, table_n;
static uint8_t *rbuf; /* record reads */
static size_t rcap;

static const struct sid SID_ZERO = {0, 0};

/* ---- ids ---- */
int sid_cmp(struct sid a, struct sid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

size_t sid_fmt(struct sid id, char *out)
{
    return (size_t)snprintf(out, 48, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

static struct sid rec_id(const struct segment_record *r)
{
    return (struct sid){r->entry_ms, r->entry_seq};
}

/* ---- idvec ---- */
size_t idvec_lower(const struct idvec *v, struct sid id)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sid_cmp(v->keys[mid], id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct pel *idvec_get(const struct idvec *v, struct sid id)
{
    size_t i = idvec_lower(v, id);
    if (i < v->n && sid_cmp(v->keys[i], id) == 0)
        return v->vals[i];
    return NULL;
}

static void idvec_compact(struct idvec *v)
{
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->vals[i]) {
            v->keys[k] = v->keys[i];
            v->vals[k++] = v->vals[i];
        }
    v->n = k;
}

void idvec_put(struct idvec *v, struct pel *p)
{
    size_t i = idvec_lower(v, p->id);
    if (i < v->n && sid_cmp(v->keys[i], p->id) == 0) {
        if (!v->vals[i])
            v->live++;
        v->vals[i] = p;
        return;
    }
    if (v->n == v->cap) {
        if (v->live * 2 < v->n) {
            idvec_compact(v);
            i = idvec_lower(v, p->id);
        } else {
            v->cap = v->cap ? v->cap * 2 : 16;
            v->keys = xrealloc(v->keys, v->cap * sizeof(*v->keys));
            v->vals = xrealloc(v->vals, v->cap * sizeof(*v->vals));
        }
    }
    memmove(v->keys + i + 1, v->keys + i, (v->n - i) * sizeof(*v->keys));
    memmove(v->vals + i + 1, v->vals + i, (v->n - i) * sizeof(*v->vals));
    v->keys[i] = p->id;
    v->vals[i] = p;
    v->n++;
    v->live++;
}

void idvec_del(struct idvec *v, struct sid id)
{
    size_t i = idvec_lower(v, id);
    if (i < v->n && sid_cmp(v->keys[i], id) == 0 && v->vals[i]) {
        v->vals[i] = NULL;
        v->live--;
        if (!v->live)
            v->n = 0;
        else if (v->live * 4 < v->n && v->n > 64)
            idvec_compact(v);
    }
}

void idvec_free(struct idvec *v)
{
    free(v->keys);
    free(v->vals);
    memset(v, 0, sizeof(*v));
}

/* ---- key <-> type ---- */
static int plain_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '-';
}

int stream_type_of(int db, const char *key, size_t n, char *type, size_t *tlen)
{
    char why[64];
    if (db == 0 && n && key[0] != '_' && n <= TOPIC_MAX_LEN &&
        topic_type_check(key, n, why, sizeof(why)) == 0) {
        memcpy(type, key, n);
        type[n] = 0;
        *tlen = n;
        return 0;
    }
    int k = snprintf(type, 256, "_s%d.", db);
    size_t at = (size_t)k;
    static const char hex[] = "0123456789ABCDEF";
    if (n == 0) {
        if (at + 3 > TOPIC_MAX_LEN)
            return -1;
        type[at++] = '_';
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)key[i];
        size_t need = plain_char(ch) ? 1 : 3;
        if (at + need > TOPIC_MAX_LEN)
            return -1;
        if (need == 1) {
            type[at++] = (char)ch;
        } else {
            type[at++] = '_';
            type[at++] = hex[ch >> 4];
            type[at++] = hex[ch & 15];
        }
    }
    type[at] = 0;
    *tlen = at;
    return 0;
}

static int unhex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int key_of_type(const char *t, size_t n, int *db, char *key, size_t *klen)
{
    if (n && t[0] != '_') {
        memcpy(key, t, n);
        *db = 0;
        *klen = n;
        return 0;
    }
    if (n < 4 || t[1] != 's')
        return -1;
    size_t i = 2;
    int d = 0, digits = 0;
    while (i < n && t[i] >= '0' && t[i] <= '9' && digits < 3) {
        d = d * 10 + (t[i++] - '0');
        digits++;
    }
    if (!digits || d >= KEYSPACE_DBS || i >= n || t[i] != '.')
        return -1;
    i++;
    size_t k = 0;
    if (n - i == 1 && t[i] == '_') {
        *db = d;
        *klen = 0;
        return 0;
    }
    while (i < n) {
        if (t[i] == '_') {
            if (i + 2 >= n)
                return -1;
            int hi = unhex(t[i + 1]), lo = unhex(t[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            key[k++] = (char)(hi << 4 | lo);
            i += 3;
        } else {
            key[k++] = t[i++];
        }
    }
    *db = d;
    *klen = k;
    return 0;
}

int stream_key_of_type(const char *t, size_t n, int *db, char *key, size_t *klen)
{
    char canon[256];
    size_t cn;
    if (key_of_type(t, n, db, key, klen) < 0 ||
        stream_type_of(*db, key, *klen, canon, &cn) < 0 || cn != n ||
        memcmp(canon, t, n) != 0)
        return -1; /* not the one spelling of any key (e.g. "_s0.orders") */
    return 0;
}

/* ---- registry ---- */
static uint64_t key_hash(int db, const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)db;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct stream **slot(int db, const char *key, size_t n)
{
    if (!table_cap)
        return NULL;
    struct stream **p = &table[key_hash(db, key, n) & (table_cap - 1)];
    while (*p && !((*p)->db == db && (*p)->klen == n && memcmp((*p)->key, key, n) == 0))
        p = &(*p)->hnext;
    return p;
}

static void table_insert(struct stream *s)
{
    if (table_n * 2 >= table_cap) {
        size_t ncap = table_cap ? table_cap * 2 : 64;
        struct stream **nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < table_cap; i++) {
            struct stream *x = table[i], *next;
            for (; x; x = next) {
                next = x->hnext;
                size_t b = key_hash(x->db, x->key, x->klen) & (ncap - 1);
                x->hnext = nt[b];
                nt[b] = x;
            }
        }
        free(table);
        table = nt;
        table_cap = ncap;
    }
    size_t b = key_hash(s->db, s->key, s->klen) & (table_cap - 1);
    s->hnext = table[b];
    table[b] = s;
    table_n++;
}

struct store *stream_store(void)
{
    return store_default();
}

static struct stream *stream_new(int db, const char *key, size_t n,
                                 const char *type, size_t tlen)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    s->db = db;
    s->key = xmalloc(n ? n : 1);
    if (n)
        memcpy(s->key, key, n);
    s->klen = n;
    memcpy(s->type, type, tlen);
    s->type[tlen] = 0;
    s->tlen = tlen;
    table_insert(s);
    return s;
}

struct stream *stream_lookup(int db, const char *key, size_t n)
{
    struct stream **p = slot(db, key, n);
    if (p && *p)
        return stream_exists(*p) ? *p : NULL;
    /* an event type nobody touched with a stream command yet */
    char type[256];
    size_t tlen;
    if (stream_type_of(db, key, n, type, &tlen) < 0)
        return NULL;
    struct store_type_last tl;
    if (store_type_last(stream_store(), type, tlen, &tl) <= 0)
        return NULL;
    return stream_new(db, key, n, type, tlen);
}

struct stream *stream_get_or_new(int db, const char *key, size_t n,
                                 const char **err)
{
    struct stream **p = slot(db, key, n);
    if (p && *p)
        return *p;
    char type[256];
    size_t tlen;
    if (stream_type_of(db, key, n, type, &tlen) < 0) {
        *err = "ERR stream key too long: its event type would exceed 255 bytes";
        return NULL;
    }
    return stream_new(db, key, n, type, tlen);
}

static uint64_t type_count(struct stream *s, struct store_type_last *tl)
{
    struct store_type_last x;
    if (!tl)
        tl = &x;
    if (store_type_last(stream_store(), s->type, s->tlen, tl) <= 0)
        return 0;
    return tl->count;
}

uint64_t stream_total(struct stream *s)
{
    uint64_t c = type_count(s, NULL);
    return c > s->rank0 ? c - s->rank0 : 0;
}

uint64_t stream_len(struct stream *s)
{
    uint64_t t = stream_total(s);
    uint64_t gone = s->trimmed + s->ndels;
    return t > gone ? t - gone : 0;
}

int stream_exists(struct stream *s)
{
    return s->created || stream_total(s) > 0;
}

uint64_t stream_entries_added(struct stream *s)
{
    return s->added_base + stream_total(s);
}

struct sid stream_last_id(struct stream *s)
{
    struct store_type_last tl;
    struct sid top = s->last_id;
    if (type_count(s, &tl) > s->rank0 && tl.last_pos >= s->setid_pos) {
        struct sid l = {tl.ms, tl.seq};
        if (sid_cmp(l, top) > 0 || s->setid_pos)
            top = l; /* an entry came after the XSETID: it is the top */
    }
    return top;
}

uint64_t stream_head_rank(const struct stream *s)
{
    return s->rank0 + s->trimmed;
}

int stream_is_deleted(const struct stream *s, uint64_t pos)
{
    size_t lo = 0, hi = s->ndels;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->dels[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->ndels && s->dels[lo] == pos;
}

/* Reads the event of rank k: 0 with *r (in rbuf), or negative. */
static int read_rank(struct stream *s, uint64_t k, uint64_t *pos,
                     struct segment_record *r)
{
    int rc = store_type_nth(stream_store(), s->type, s->tlen, k, pos);
    if (rc)
        return rc;
    return store_get(stream_store(), *pos, r, &rbuf, &rcap);
}

int stream_seek(struct stream *s, struct sid id, uint64_t *rank)
{
    uint64_t lo = stream_head_rank(s), hi = s->rank0 + stream_total(s);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, pos;
        struct segment_record r;
        int rc = read_rank(s, mid, &pos, &r);
        if (rc)
            return rc;
        if (sid_cmp(rec_id(&r), id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *rank = lo;
    return 0;
}

int stream_find(struct stream *s, struct sid id, struct stream_entry *e)
{
    uint64_t k;
    int rc = stream_seek(s, id, &k);
    if (rc)
        return rc;
    if (k >= s->rank0 + stream_total(s))
        return 0;
    static struct segment_record r;
    uint64_t pos;
    rc = read_rank(s, k, &pos, &r);
    if (rc)
        return rc;
    if (sid_cmp(rec_id(&r), id) != 0 || stream_is_deleted(s, pos))
        return 0;
    *e = (struct stream_entry){id, pos, k, &r};
    return 1;
}

/* The first (dir 1) or last (dir -1) live entry. */
static int edge(struct stream *s, int dir, struct stream_entry *e)
{
    static struct segment_record r;
    uint64_t head = stream_head_rank(s), end = s->rank0 + stream_total(s);
    if (stream_len(s) == 0)
        return 0;
    for (uint64_t k = dir > 0 ? head : end - 1;; k += (uint64_t)(int64_t)dir) {
        if (k < head || k >= end)
            return 0;
        uint64_t pos;
        int rc = read_rank(s, k, &pos, &r);
        if (rc)
            return rc;
        if (!stream_is_deleted(s, pos)) {
            *e = (struct stream_entry){rec_id(&r), pos, k, &r};
            return 1;
        }
    }
}

int stream_first(struct stream *s, struct stream_entry *e)
{
    return edge(s, 1, e);
}

int stream_last(struct stream *s, struct stream_entry *e)
{
    return edge(s, -1, e);
}

struct range_ctx {
    struct stream *s;
    struct sid start, end;
    int rev;
    size_t count, seen;
    stream_visit_fn *fn;
    void *ctx;
    uint64_t rank, maxpos;
    int stop;
};

static int range_visit(void *vctx, const struct segment_record *r)
{
    struct range_ctx *x = vctx;
    struct sid id = rec_id(r);
    if (x->rev ? sid_cmp(id, x->start) < 0 : sid_cmp(id, x->end) > 0)
        return 1;
    uint64_t rank = x->rank;
    x->rank += x->rev ? (uint64_t)-1 : 1;
    if (x->rev ? sid_cmp(id, x->end) > 0 : sid_cmp(id, x->start) < 0)
        return 0;
    if (stream_is_deleted(x->s, r->position))
        return 0;
    struct stream_entry e = {id, r->position, rank, r};
    if (r->position > x->maxpos)
        x->maxpos = r->position;
    x->seen++;
    if (x->fn(x->ctx, &e)) {
        x->stop = 1;
        return 1;
    }
    return x->count && x->seen >= x->count;
}

int64_t stream_range_from(struct stream *s, uint64_t rank, struct sid end,
                          size_t count, stream_visit_fn *fn, void *ctx,
                          uint64_t *maxpos)
{
    struct range_ctx x = {s, SID_ZERO, end, 0, count, 0, fn, ctx, 0, 0, 0};
    *maxpos = 0;
    uint64_t head = stream_head_rank(s), end_rank = s->rank0 + stream_total(s);
    if (rank < head)
        rank = head;
    if (rank >= end_rank || stream_len(s) == 0)
        return 0;
    struct store_query q = {0};
    q.pattern = s->type;
    q.pattern_len = s->tlen;
    q.to_pos = UINT64_MAX;
    q.to_time = UINT64_MAX;
    q.count = SIZE_MAX;
    int rc = store_type_nth(stream_store(), s->type, s->tlen, rank, &q.from_pos);
    if (rc)
        return rc;
    x.rank = rank;
    rc = store_range(stream_store(), &q, range_visit, &x);
    if (rc < 0)
        return rc;
    *maxpos = x.maxpos;
    return (int64_t)x.seen;
}

int stream_has_from(struct stream *s, uint64_t rank)
{
    uint64_t head = stream_head_rank(s), end_rank = s->rank0 + stream_total(s);
    if (rank < head)
        rank = head;
    if (rank >= end_rank)
        return 0;
    if (!s->ndels)
        return 1;
    uint64_t pos;
    if (store_type_nth(stream_store(), s->type, s->tlen, rank, &pos))
        return 1; /* unsure: let the read find out */
    size_t lo = 0, hi = s->ndels; /* dels at or after pos */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->dels[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return end_rank - rank > s->ndels - lo;
}

int64_t stream_range(struct stream *s, struct sid start, struct sid end,
                     size_t count, int rev, stream_visit_fn *fn, void *ctx,
                     uint64_t *maxpos)
{
    struct range_ctx x = {s, start, end, rev, count, 0, fn, ctx, 0, 0, 0};
    *maxpos = 0;
    if (sid_cmp(start, end) > 0 || stream_len(s) == 0)
        return 0;
    uint64_t head = stream_head_rank(s), end_rank = s->rank0 + stream_total(s);
    uint64_t k;
    int rc;
    struct store_query q = {0};
    q.pattern = s->type;
    q.pattern_len = s->tlen;
    q.to_pos = UINT64_MAX;
    q.to_time = UINT64_MAX;
    q.count = SIZE_MAX;
    if (!rev) {
        rc = stream_seek(s, start, &k);
        if (rc)
            return rc;
        if (k >= end_rank)
            return 0;
        rc = store_type_nth(stream_store(), s->type, s->tlen, k, &q.from_pos);
        x.rank = k;
    } else {
        struct sid after = end;
        if (after.seq == UINT64_MAX) {
            after.seq = 0;
            after.ms++;
        } else {
            after.seq++;
        }
        if (end.ms == UINT64_MAX && end.seq == UINT64_MAX)
            k = end_rank;
        else if ((rc = stream_seek(s, after, &k)))
            return rc;
        if (k <= head)
            return 0;
        k--;
        rc = store_type_nth(stream_store(), s->type, s->tlen, k, &q.to_pos);
        uint64_t hpos;
        if (!rc)
            rc = store_type_nth(stream_store(), s->type, s->tlen, head, &hpos);
        q.from_pos = hpos;
        q.reverse = 1;
        x.rank = k;
    }
    if (rc)
        return rc;
    rc = store_range(stream_store(), &q, range_visit, &x);
    if (rc < 0)
        return rc;
    *maxpos = x.maxpos;
    return (int64_t)x.seen;
}

/* ---- fields ---- */
size_t stream_field_count(const struct segment_record *r)
{
    return r->nheaders + (r->payload_len ? 1 : 0);
}

void stream_reply_fields(struct client *c, const struct segment_record *r)
{
    reply_array(c, 2 * stream_field_count(r));
    size_t at = 0;
    struct segment_hdr h;
    while (segment_headers_next(r->headers, r->headers_len, &at, &h)) {
        reply_bulk(c, h.field, h.field_len);
        reply_bulk(c, h.value, h.value_len);
    }
    if (r->payload_len) {
        reply_cstr(c, "payload");
        reply_bulk(c, r->payload, r->payload_len);
    }
}

/* ---- journal records ----
 * Every record starts with the stream: db u8 | key_len u32 | key. */
struct wbuf {
    uint8_t *p;
    size_t n, cap;
};

static void wb_need(struct wbuf *b, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}
static void wb_u8(struct wbuf *b, uint8_t v)
{
    wb_need(b, 1);
    b->p[b->n++] = v;
}
static void wb_u32(struct wbuf *b, uint32_t v)
{
    wb_need(b, 4);
    le_put32(b->p + b->n, v);
    b->n += 4;
}
static void wb_u64(struct wbuf *b, uint64_t v)
{
    wb_need(b, 8);
    le_put64(b->p + b->n, v);
    b->n += 8;
}
static void wb_bytes(struct wbuf *b, const void *p, size_t n)
{
    wb_u32(b, (uint32_t)n);
    wb_need(b, n);
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void wb_key(struct wbuf *b, const struct stream *s)
{
    b->n = 0;
    wb_u8(b, (uint8_t)s->db);
    wb_bytes(b, s->key, s->klen);
}
static void wb_sid(struct wbuf *b, struct sid id)
{
    wb_u64(b, id.ms);
    wb_u64(b, id.seq);
}

static struct sid rd_sid(struct le_reader *r)
{
    struct sid id;
    id.ms = le_read(r, 8);
    id.seq = le_read(r, 8);
    return id;
}

typedef int emit_fn(void *ctx, uint8_t type, const uint8_t *p, size_t n);

static int emit_live(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    (void)ctx;
    cmd_journal_append(&jm, type, p, n);
    return 0;
}

static struct wbuf wb;

/* The first position of the incarnation that is not trimmed. */
static uint64_t head_position(struct stream *s)
{
    if (!s->trimmed)
        return s->inc_start;
    uint64_t head = stream_head_rank(s), pos;
    if (head < s->rank0 + stream_total(s) &&
        store_type_nth(stream_store(), s->type, s->tlen, head, &pos) == 0)
        return pos;
    if (store_type_nth(stream_store(), s->type, s->tlen, head - 1, &pos) == 0)
        return pos + 1; /* everything is trimmed */
    return s->inc_start;
}

static int put_meta(struct stream *s, emit_fn *emit, void *ctx)
{
    wb_key(&wb, s);
    wb_u8(&wb, (uint8_t)s->created);
    /* positions, never counts of events: a power loss can take back events
     * that were counted but not yet synced, while this record was synced */
    wb_u64(&wb, s->inc_start);
    wb_u64(&wb, head_position(s));
    wb_u64(&wb, s->trimmed ? 1 : 0); /* only whether anything was trimmed */
    wb_sid(&wb, s->last_id);
    wb_sid(&wb, s->max_deleted);
    wb_u64(&wb, s->added_base);
    wb_u64(&wb, s->setid_pos);
    return emit(ctx, REC_META, wb.p, wb.n);
}

void stream_journal_meta(struct stream *s)
{
    put_meta(s, emit_live, NULL);
}

static int put_group(struct stream *s, struct group *g, emit_fn *emit, void *ctx)
{
    wb_key(&wb, s);
    wb_bytes(&wb, g->name, g->len);
    wb_sid(&wb, g->last_id);
    wb_u64(&wb, (uint64_t)g->entries_read);
    return emit(ctx, REC_GROUP, wb.p, wb.n);
}

void stream_group_journal(struct stream *s, struct group *g)
{
    put_group(s, g, emit_live, NULL);
}

static int put_consumer(struct stream *s, struct group *g, struct consumer *cn,
                        emit_fn *emit, void *ctx)
{
    wb_key(&wb, s);
    wb_bytes(&wb, g->name, g->len);
    wb_bytes(&wb, cn->name, cn->len);
    wb_u64(&wb, cn->seen_ms);
    wb_u64(&wb, cn->active_ms);
    return emit(ctx, REC_CONSUMER, wb.p, wb.n);
}

static void pel_head(struct stream *s, struct group *g, struct consumer *cn)
{
    wb_key(&wb, s);
    wb_bytes(&wb, g->name, g->len);
    wb_bytes(&wb, cn->name, cn->len);
    wb_sid(&wb, g->last_id);
    wb_u64(&wb, (uint64_t)g->entries_read);
}

static void pel_item(struct pel *p)
{
    wb_sid(&wb, p->id);
    wb_u64(&wb, p->pos);
    wb_u64(&wb, p->delivery_ms);
    wb_u64(&wb, p->count);
}

void stream_pel_journal(struct stream *s, struct group *g, struct consumer *cn,
                        struct pel **ps, size_t n)
{
    pel_head(s, g, cn);
    for (size_t i = 0; i < n; i++)
        pel_item(ps[i]);
    cmd_journal_append(&jm, REC_PEL, wb.p, wb.n);
}

void stream_ack_journal(struct stream *s, struct group *g, const struct sid *ids,
                        size_t n)
{
    wb_key(&wb, s);
    wb_bytes(&wb, g->name, g->len);
    for (size_t i = 0; i < n; i++)
        wb_sid(&wb, ids[i]);
    cmd_journal_append(&jm, REC_ACK, wb.p, wb.n);
}

/* ---- changes ---- */
static void free_group(struct group *g)
{
    for (size_t i = 0; i < g->pel.n; i++)
        free(g->pel.vals[i]);
    idvec_free(&g->pel);
    struct consumer *cn = g->consumers, *next;
    for (; cn; cn = next) {
        next = cn->next;
        idvec_free(&cn->pel);
        free(cn->name);
        free(cn);
    }
    free(g->name);
    free(g);
}

static void drop_groups(struct stream *s)
{
    struct group *g = s->groups, *next;
    for (; g; g = next) {
        next = g->next;
        free_group(g);
    }
    s->groups = NULL;
}

/* Makes s empty and absent: a new incarnation from the next position. */
static void reset(struct stream *s)
{
    struct store_stats st;
    store_stats(stream_store(), &st);
    s->inc_start = st.next_pos;
    s->rank0 = type_count(s, NULL);
    s->trimmed = 0;
    s->created = 0;
    s->last_id = (struct sid){0, 0};
    s->max_deleted = (struct sid){0, 0};
    s->added_base = 0;
    s->setid_pos = 0;
    s->ndels = 0;
    drop_groups(s);
}

void stream_delete_key(struct stream *s)
{
    reset(s);
    stream_journal_meta(s);
    stream_signal(s);
}

static void dels_insert(struct stream *s, uint64_t pos)
{
    size_t lo = 0, hi = s->ndels;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->dels[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->ndels && s->dels[lo] == pos)
        return;
    if (s->ndels == s->capdels) {
        s->capdels = s->capdels ? s->capdels * 2 : 16;
        s->dels = xrealloc(s->dels, s->capdels * sizeof(*s->dels));
    }
    memmove(s->dels + lo + 1, s->dels + lo, (s->ndels - lo) * sizeof(*s->dels));
    s->dels[lo] = pos;
    s->ndels++;
}

int stream_xdel(struct stream *s, uint64_t pos, struct sid id)
{
    if (stream_is_deleted(s, pos))
        return 0;
    dels_insert(s, pos);
    if (sid_cmp(id, s->max_deleted) > 0)
        s->max_deleted = id;
    wb_key(&wb, s);
    wb_u64(&wb, pos);
    cmd_journal_append(&jm, REC_DELS, wb.p, wb.n);
    return 1;
}

/* Drops the dels before the trim point (they are counted in trimmed). */
static void prune_dels(struct stream *s)
{
    uint64_t head = stream_head_rank(s), hpos = UINT64_MAX;
    if (head < s->rank0 + stream_total(s) &&
        store_type_nth(stream_store(), s->type, s->tlen, head, &hpos))
        return;
    size_t k = 0;
    while (k < s->ndels && s->dels[k] < hpos)
        k++;
    if (!k)
        return;
    memmove(s->dels, s->dels + k, (s->ndels - k) * sizeof(*s->dels));
    s->ndels -= k;
}

/* Live entries in the ranks [a, b): b - a minus the dels among them. */
static int64_t live_between(struct stream *s, uint64_t a, uint64_t b)
{
    if (b <= a)
        return 0;
    uint64_t pa, pb = UINT64_MAX;
    if (store_type_nth(stream_store(), s->type, s->tlen, a, &pa))
        return -1;
    if (b < s->rank0 + stream_total(s) &&
        store_type_nth(stream_store(), s->type, s->tlen, b, &pb))
        return -1;
    uint64_t d = 0;
    for (size_t i = 0; i < s->ndels; i++)
        if (s->dels[i] >= pa && s->dels[i] < pb)
            d++;
    return (int64_t)(b - a - d);
}

/* Redis's trim, over "nodes" of stream-node-max-entries consecutive entries
 * counted from the incarnation's first (Redis keeps entries in nodes of that
 * many; '~' only ever drops whole nodes). */
int64_t stream_trim(struct stream *s, uint64_t maxlen, const struct sid *minid,
                    int approx, int64_t limit)
{
    uint64_t node = stream_node_entries();
    if (!node)
        node = 1;
    uint64_t end = s->rank0 + stream_total(s);
    int64_t deleted = 0;
    int changed = 0;
    while (stream_head_rank(s) < end) {
        uint64_t len = stream_len(s);
        if (!minid && len <= maxlen)
            break;
        uint64_t head = stream_head_rank(s);
        uint64_t rel = head - s->rank0;
        uint64_t nend = s->rank0 + (rel / node + 1) * node; /* node's end rank */
        if (nend > end)
            nend = end;
        int64_t entries = live_between(s, head, nend);
        if (entries < 0)
            return -1;
        if (limit && deleted + entries > limit)
            break;
        int remove_node;
        if (!minid) {
            remove_node = len - (uint64_t)entries >= maxlen;
        } else {
            uint64_t pos;
            struct segment_record r;
            if (read_rank(s, nend - 1, &pos, &r))
                return -1;
            remove_node = sid_cmp(rec_id(&r), *minid) < 0;
        }
        if (remove_node) {
            s->trimmed = nend - s->rank0;
            prune_dels(s);
            deleted += entries;
            changed = 1;
            continue;
        }
        if (approx)
            break;
        /* entry by entry within the node */
        for (uint64_t k = head; k < nend; k++) {
            uint64_t pos;
            struct segment_record r;
            if (read_rank(s, k, &pos, &r))
                return -1;
            if (minid ? sid_cmp(rec_id(&r), *minid) >= 0 : stream_len(s) <= maxlen)
                break;
            int was_live = !stream_is_deleted(s, pos);
            s->trimmed = k + 1 - s->rank0;
            prune_dels(s);
            if (was_live)
                deleted++;
            changed = 1;
        }
        break;
    }
    if (changed)
        stream_journal_meta(s);
    return deleted;
}

struct group *stream_group(struct stream *s, const char *name, size_t n)
{
    for (struct group *g = s->groups; g; g = g->next)
        if (g->len == n && memcmp(g->name, name, n) == 0)
            return g;
    return NULL;
}

/* Redis keeps groups and consumers in radix trees, so XINFO GROUPS,
 * XINFO CONSUMERS, XPENDING and XINFO STREAM FULL list them by name in byte
 * order (a prefix first): the lists here are kept in that order. */
static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (an > bn) - (an < bn);
}

static uint64_t rank_after(struct stream *s, struct sid id)
{
    uint64_t k = 0;
    if (id.seq == UINT64_MAX) {
        id.seq = 0;
        if (id.ms == UINT64_MAX)
            return s->rank0 + stream_total(s);
        id.ms++;
    } else {
        id.seq++;
    }
    if (stream_seek(s, id, &k))
        k = stream_head_rank(s);
    return k;
}

static struct group *group_new(struct stream *s, const char *name, size_t n,
                               struct sid last_id, int64_t entries_read)
{
    struct group *g = xcalloc(1, sizeof(*g));
    g->name = xmalloc(n ? n : 1);
    if (n)
        memcpy(g->name, name, n);
    g->len = n;
    g->last_id = last_id;
    g->entries_read = entries_read;
    g->next_rank = rank_after(s, last_id);
    struct group **at = &s->groups; /* by name, bytewise, as Redis lists them */
    while (*at && name_cmp((*at)->name, (*at)->len, name, n) < 0)
        at = &(*at)->next;
    g->next = *at;
    *at = g;
    return g;
}

struct group *stream_group_create(struct stream *s, const char *name, size_t n,
                                  struct sid last_id, int64_t entries_read)
{
    struct group *g = group_new(s, name, n, last_id, entries_read);
    stream_group_journal(s, g);
    return g;
}

void stream_group_destroy(struct stream *s, struct group *g)
{
    struct group **p = &s->groups;
    while (*p && *p != g)
        p = &(*p)->next;
    if (*p)
        *p = g->next;
    wb_key(&wb, s);
    wb_bytes(&wb, g->name, g->len);
    cmd_journal_append(&jm, REC_GROUP_DEL, wb.p, wb.n);
    free_group(g);
    stream_signal(s);
}

void stream_group_raise(struct stream *s, struct group *g, struct sid id)
{
    if (sid_cmp(id, g->last_id) > 0) {
        g->last_id = id;
        g->next_rank = rank_after(s, id);
    }
}

int stream_setid(struct stream *s, struct sid id, const char **err)
{
    uint64_t head = stream_head_rank(s), end_rank = s->rank0 + stream_total(s);
    if (end_rank > head) {
        /* entries are found by binary search over their ranks, so IDs must
         * keep rising with rank: an ID below a deleted entry at the end is
         * refused while live entries remain, and else everything before is
         * trimmed (it is all deleted) */
        uint64_t pos;
        struct segment_record r;
        if (read_rank(s, end_rank - 1, &pos, &r)) {
            *err = "ERR reading the stream's last entry failed";
            return -1;
        }
        if (sid_cmp(id, rec_id(&r)) < 0) {
            if (stream_len(s)) {
                *err = "ERR The ID specified in XSETID is smaller than the target "
                       "stream top item";
                return -1;
            }
            s->trimmed = end_rank - s->rank0;
            s->ndels = 0;
        }
    }
    struct store_stats st;
    store_stats(stream_store(), &st);
    s->last_id = id;
    s->setid_pos = st.next_pos;
    store_type_raise_id(stream_store(), s->type, s->tlen, id.ms, id.seq);
    return 0;
}

void stream_group_setid(struct stream *s, struct group *g, struct sid id,
                        int64_t entries_read)
{
    g->last_id = id;
    g->entries_read = entries_read;
    g->next_rank = rank_after(s, id);
    stream_group_journal(s, g);
}

struct consumer *stream_consumer(struct group *g, const char *name, size_t n)
{
    for (struct consumer *c = g->consumers; c; c = c->next)
        if (c->len == n && memcmp(c->name, name, n) == 0)
            return c;
    return NULL;
}

static struct consumer *consumer_new(struct group *g, const char *name, size_t n)
{
    struct consumer *cn = xcalloc(1, sizeof(*cn));
    cn->name = xmalloc(n ? n : 1);
    if (n)
        memcpy(cn->name, name, n);
    cn->len = n;
    struct consumer **at = &g->consumers;
    while (*at && name_cmp((*at)->name, (*at)->len, name, n) < 0)
        at = &(*at)->next;
    cn->next = *at;
    *at = cn;
    return cn;
}

struct consumer *stream_consumer_create(struct stream *s, struct group *g,
                                        const char *name, size_t n, int journal)
{
    struct consumer *cn = consumer_new(g, name, n);
    cn->seen_ms = clock_wall_ms();
    if (journal)
        put_consumer(s, g, cn, emit_live, NULL);
    return cn;
}

static uint64_t consumer_drop(struct group *g, struct consumer *cn)
{
    uint64_t had = cn->pel.live;
    for (size_t i = 0; i < cn->pel.n; i++) {
        struct pel *p = cn->pel.vals[i];
        if (!p)
            continue;
        idvec_del(&g->pel, p->id);
        free(p);
    }
    struct consumer **pp = &g->consumers;
    while (*pp && *pp != cn)
        pp = &(*pp)->next;
    if (*pp)
        *pp = cn->next;
    idvec_free(&cn->pel);
    free(cn->name);
    free(cn);
    return had;
}

uint64_t stream_consumer_delete(struct stream *s, struct group *g,
                                struct consumer *cn)
{
    wb_key(&wb, s);
    wb_bytes(&wb, g->name, g->len);
    wb_bytes(&wb, cn->name, cn->len);
    cmd_journal_append(&jm, REC_CONSUMER_DEL, wb.p, wb.n);
    return consumer_drop(g, cn);
}

struct pel *stream_pel_deliver(struct stream *s, struct group *g,
                               struct consumer *cn, struct sid id, uint64_t pos,
                               uint64_t now_ms, uint64_t count)
{
    (void)s;
    struct pel *p = idvec_get(&g->pel, id);
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        p->id = id;
        p->pos = pos;
        idvec_put(&g->pel, p);
    } else if (p->owner != cn) {
        idvec_del(&p->owner->pel, id);
    }
    if (p->owner != cn) {
        p->owner = cn;
        idvec_put(&cn->pel, p);
    }
    p->delivery_ms = now_ms;
    p->count = count;
    return p;
}

int stream_pel_ack(struct group *g, struct sid id)
{
    struct pel *p = idvec_get(&g->pel, id);
    if (!p)
        return 0;
    idvec_del(&p->owner->pel, id);
    idvec_del(&g->pel, id);
    free(p);
    return 1;
}

/* ---- entries_read and lag (Redis 7.0's estimates) ---- */
static int range_has_tombstones(struct stream *s, const struct sid *start)
{
    if (stream_len(s) == 0 || (s->max_deleted.ms == 0 && s->max_deleted.seq == 0))
        return 0;
    struct stream_entry e;
    struct sid first = {0, 0};
    if (stream_first(s, &e) == 1)
        first = e.id;
    if (sid_cmp(first, s->max_deleted) > 0)
        return 0;
    struct sid st = start ? *start : (struct sid){0, 0};
    return sid_cmp(st, s->max_deleted) <= 0;
}

#define ENTRIES_READ_INVALID (-1)

static int64_t estimate_distance(struct stream *s, struct sid id)
{
    uint64_t added = stream_entries_added(s);
    if (!added)
        return 0;
    uint64_t len = stream_len(s);
    struct sid last = stream_last_id(s);
    if (!len && sid_cmp(id, last) < 1)
        return (int64_t)added;
    int cl = sid_cmp(id, last);
    if (cl == 0)
        return (int64_t)added;
    if (cl > 0)
        return ENTRIES_READ_INVALID;
    struct stream_entry e;
    struct sid first = {0, 0};
    if (stream_first(s, &e) == 1)
        first = e.id;
    int cf = sid_cmp(id, first);
    if ((s->max_deleted.ms == 0 && s->max_deleted.seq == 0) ||
        sid_cmp(s->max_deleted, first) < 0) {
        if (cf < 0)
            return (int64_t)(added - len);
        if (cf == 0)
            return (int64_t)(added - len + 1);
    }
    return ENTRIES_READ_INVALID;
}

void stream_group_read_advance(struct stream *s, struct group *g, struct sid id)
{
    if (sid_cmp(id, g->last_id) <= 0)
        return;
    if (g->entries_read != ENTRIES_READ_INVALID && !range_has_tombstones(s, &id))
        g->entries_read++;
    else if (stream_entries_added(s))
        g->entries_read = estimate_distance(s, id);
    g->last_id = id;
}

int stream_group_lag(struct stream *s, struct group *g, uint64_t *lag)
{
    uint64_t added = stream_entries_added(s);
    if (!added) {
        *lag = 0;
        return 1;
    }
    if (g->entries_read != ENTRIES_READ_INVALID &&
        !range_has_tombstones(s, &g->last_id)) {
        *lag = added - (uint64_t)g->entries_read;
        return 1;
    }
    int64_t er = estimate_distance(s, g->last_id);
    if (er == ENTRIES_READ_INVALID)
        return 0;
    *lag = added - (uint64_t)er;
    return 1;
}

/* ---- recovery ---- */
static struct stream *replay_stream(struct le_reader *r)
{
    int db = (uint8_t)le_read(r, 1);
    size_t kn;
    const char *k = le_read_str(r, 4, &kn);
    if (r->bad || db >= KEYSPACE_DBS)
        return NULL;
    const char *err = NULL;
    return stream_get_or_new(db, k, kn, &err);
}

static struct group *replay_group(struct stream *s, struct le_reader *r)
{
    size_t gn;
    const char *gname = le_read_str(r, 4, &gn);
    if (r->bad)
        return NULL;
    struct group *g = stream_group(s, gname, gn);
    if (!g)
        g = group_new(s, gname, gn, (struct sid){0, 0}, ENTRIES_READ_INVALID);
    return g;
}

static int on_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
    (void)ctx;
    struct le_reader r = {p, n, 0, 0};
    struct stream *s = replay_stream(&r);
    if (!s)
        goto bad;
    switch (type) {
    case REC_META: {
        int created = (uint8_t)le_read(&r, 1);
        uint64_t inc = le_read(&r, 8);
        uint64_t rank0 = le_read(&r, 8), trimmed = le_read(&r, 8);
        struct sid last_id = rd_sid(&r), max_deleted = rd_sid(&r);
        uint64_t added_base = le_read(&r, 8), setid_pos = le_read(&r, 8);
        if (r.bad)
            goto bad;
        /* A DEL (reset) starts a new incarnation: its groups and deletions
         * go. inc_start alone does not tell: two DELs with no event stored
         * between them (XGROUP CREATE ... MKSTREAM, DEL, again) have the same
         * one. But a DEL's record is the only META in the reset state (every
         * other change sets created, trimmed or max_deleted), and in a
         * checkpoint a stream's META comes before its dels and groups. */
        int reset_state = !created && !trimmed && !max_deleted.ms &&
                          !max_deleted.seq && !last_id.ms && !last_id.seq &&
                          !added_base && !setid_pos;
        if (inc != s->inc_start || reset_state) {
            drop_groups(s);
            s->ndels = 0;
        }
        s->created = created;
        s->inc_start = inc;
        s->load_head = rank0; /* the slot holds the head position */
        s->trimmed = trimmed; /* 0 or 1 until the ranks are counted */
        s->last_id = last_id;
        s->max_deleted = max_deleted;
        s->added_base = added_base;
        s->setid_pos = setid_pos;
        break;
    }
    case REC_DELS:
        while (r.at < r.n && !r.bad)
            dels_insert(s, le_read(&r, 8));
        break;
    case REC_GROUP: {
        struct group *g = replay_group(s, &r);
        if (!g)
            goto bad;
        g->last_id = rd_sid(&r);
        g->entries_read = (int64_t)le_read(&r, 8);
        break;
    }
    case REC_GROUP_DEL: {
        struct group *g = replay_group(s, &r);
        if (!g)
            goto bad;
        struct group **pp = &s->groups;
        while (*pp && *pp != g)
            pp = &(*pp)->next;
        if (*pp)
            *pp = g->next;
        free_group(g);
        break;
    }
    case REC_CONSUMER:
    case REC_CONSUMER_DEL:
    case REC_PEL: {
        struct group *g = replay_group(s, &r);
        size_t cnl;
        const char *cname = le_read_str(&r, 4, &cnl);
        if (!g || r.bad)
            goto bad;
        struct consumer *cn = stream_consumer(g, cname, cnl);
        if (!cn)
            cn = consumer_new(g, cname, cnl);
        if (type == REC_CONSUMER) {
            cn->seen_ms = le_read(&r, 8);
            cn->active_ms = le_read(&r, 8);
        } else if (type == REC_CONSUMER_DEL) {
            consumer_drop(g, cn);
        } else {
            g->last_id = rd_sid(&r);
            g->entries_read = (int64_t)le_read(&r, 8);
            while (r.at < r.n && !r.bad) {
                struct sid id = rd_sid(&r);
                uint64_t pos = le_read(&r, 8), t = le_read(&r, 8);
                uint64_t cnt = le_read(&r, 8);
                if (r.bad)
                    break;
                stream_pel_deliver(s, g, cn, id, pos, t, cnt);
                if (t > cn->seen_ms)
                    cn->seen_ms = cn->active_ms = t;
            }
        }
        break;
    }
    case REC_ACK: {
        struct group *g = replay_group(s, &r);
        if (!g)
            goto bad;
        while (r.at < r.n && !r.bad)
            stream_pel_ack(g, rd_sid(&r));
        break;
    }
    default:
        snprintf(err, errlen, "unknown record type %u", type);
        return ERR_CORRUPT;
    }
    if (r.bad)
        goto bad;
    return 0;
bad:
    snprintf(err, errlen, "bad record of type %u (%zu bytes)", type, n);
    return ERR_CORRUPT;
}

/* ---- checkpoint ---- */
static int walk(void *ctx, struct journal_ckpt *w)
{
    (void)ctx;
    for (size_t b = 0; b < table_cap; b++)
        for (struct stream *s = table[b]; s; s = s->hnext) {
            if (!s->created && !s->inc_start && !s->trimmed && !s->ndels &&
                !s->groups && !s->last_id.ms && !s->last_id.seq && !s->added_base &&
                !s->setid_pos)
                continue; /* a plain type: nothing to remember */
            if (put_meta(s, cmd_journal_emit, w))
                return -1;
            for (size_t i = 0; i < s->ndels; i++) {
                wb_key(&wb, s);
                wb_u64(&wb, s->dels[i]);
                if (cmd_journal_emit(w, REC_DELS, wb.p, wb.n))
                    return -1;
            }
            for (struct group *g = s->groups; g; g = g->next) {
                if (put_group(s, g, cmd_journal_emit, w))
                    return -1;
                for (struct consumer *cn = g->consumers; cn; cn = cn->next) {
                    if (put_consumer(s, g, cn, cmd_journal_emit, w))
                        return -1;
                    size_t k = 0;
                    pel_head(s, g, cn);
                    for (size_t i = 0; i < cn->pel.n; i++) {
                        if (!cn->pel.vals[i])
                            continue;
                        pel_item(cn->pel.vals[i]);
                        if (++k == 4096 || wb.n > (1u << 20)) {
                            if (cmd_journal_emit(w, REC_PEL, wb.p, wb.n))
                                return -1;
                            pel_head(s, g, cn);
                            k = 0;
                        }
                    }
                    if (k && cmd_journal_emit(w, REC_PEL, wb.p, wb.n))
                        return -1;
                }
            }
        }
    return 0;
}

struct cmd_journal *stream_journal(void)
{
    return &jm;
}

void stream_foreach(void (*fn)(void *ctx, struct stream *s), void *ctx)
{
    for (size_t b = 0; b < table_cap; b++) {
        struct stream *s = table[b], *next;
        for (; s; s = next) {
            next = s->hnext;
            fn(ctx, s);
        }
    }
}

static void discover(void *ctx, const struct store_type_info *t)
{
    (void)ctx;
    char key[256];
    size_t kn;
    int db;
    if (t->name_len < 2 || t->name[0] != '_' ||
        stream_key_of_type(t->name, t->name_len, &db, key, &kn) < 0)
        return; /* db 0's plain types are found when asked for */
    struct stream **p = slot(db, key, kn);
    if (p && *p)
        return;
    char type[256];
    size_t tlen;
    if (stream_type_of(db, key, kn, type, &tlen) < 0 || tlen != t->name_len ||
        memcmp(type, t->name, tlen) != 0)
        return; /* not the canonical spelling of any key */
    stream_new(db, key, kn, type, tlen);
}

/* After the replay: the ranks from the positions the journal keeps, and the
 * deletions of events that are not there (lost with the power before their
 * sync, though the XDEL's record was synced) dropped. */
static void recount(struct stream *s)
{
    uint64_t r0 = 0, rh = 0;
    if (store_type_rank(stream_store(), s->type, s->tlen, s->inc_start, &r0) < 0)
        return;
    s->rank0 = r0;
    if (s->trimmed && s->load_head > s->inc_start &&
        store_type_rank(stream_store(), s->type, s->tlen, s->load_head, &rh) == 0 &&
        rh >= r0)
        s->trimmed = rh - r0;
    else
        s->trimmed = 0;
    size_t k = 0;
    for (size_t i = 0; i < s->ndels; i++)
        if (store_has(stream_store(), s->dels[i]) == 1)
            s->dels[k++] = s->dels[i];
    s->ndels = k;
}

int stream_registry_start(char *err, size_t errlen)
{
    struct journal_opts o = {0};
    o.dir = config_dir;
    o.name = STREAM_JOURNAL_NAME;
    o.loop = net_loop();
    o.fsync_mode = &config_fsync;
    o.replay = on_replay;
    jm.walk = walk;
    int rc = journal_open(&jm.j, &o, err, errlen);
    if (rc < 0)
        return -1;
    /* every stream key of another db lives in a type of its own */
    store_types(stream_store(), NULL, 0, discover, NULL);
    for (size_t b = 0; b < table_cap; b++)
        for (struct stream *s = table[b]; s; s = s->hnext) {
            recount(s);
            prune_dels(s);
            store_type_raise_id(stream_store(), s->type, s->tlen, s->last_id.ms,
                                s->last_id.seq);
            for (struct group *g = s->groups; g; g = g->next)
                g->next_rank = rank_after(s, g->last_id);
        }
    if (cmd_journal_checkpoint(&jm, err, errlen) < 0)
        return -1;
    return 0;
}

void stream_registry_stop(void)
{
    for (size_t b = 0; b < table_cap; b++) {
        struct stream *s = table[b], *next;
        for (; s; s = next) {
            next = s->hnext;
            drop_groups(s);
            free(s->dels);
            free(s->key);
            free(s);
        }
    }
    free(table);
    table = NULL;
    table_cap = table_n = 0;
    journal_close(jm.j);
    jm.j = NULL;
    free(rbuf);
    rbuf = NULL;
    rcap = 0;
    free(wb.p);
    memset(&wb, 0, sizeof(wb));
}

struct flush_ctx {
    int db;
};

static void flush_type(void *ctx, const struct store_type_info *t)
{
    struct flush_ctx *x = ctx;
    char key[256];
    size_t kn;
    int db;
    if (stream_key_of_type(t->name, t->name_len, &db, key, &kn) < 0 ||
        (x->db >= 0 && db != x->db))
        return;
    struct stream *s = stream_lookup(db, key, kn);
    if (s)
        stream_delete_key(s);
}

void stream_flush_db(int db)
{
    for (size_t b = 0; b < table_cap; b++)
        for (struct stream *s = table[b]; s; s = s->hnext)
            if ((db < 0 || s->db == db) && stream_exists(s))
                stream_delete_key(s);
    /* db 0's event types nobody touched with a stream command yet */
    struct flush_ctx x = {db};
    if (db <= 0)
        store_types(stream_store(), NULL, 0, flush_type, &x);
}

struct keys_ctx {
    int db;
    keyspace_key_fn *fn;
    void *ctx;
};

static void key_of(void *ctx, const struct store_type_info *t)
{
    struct keys_ctx *x = ctx;
    char key[256];
    size_t kn;
    int db;
    if (stream_key_of_type(t->name, t->name_len, &db, key, &kn) < 0 || db != x->db)
        return;
    struct stream *s = stream_lookup(db, key, kn);
    if (s)
        x->fn(x->ctx, s->key, s->klen);
}

void stream_keys(int db, keyspace_key_fn *fn, void *ctx)
{
    struct keys_ctx x = {db, fn, ctx};
    /* streams created empty (MKSTREAM) have no type yet */
    for (size_t b = 0; b < table_cap; b++)
        for (struct stream *s = table[b]; s; s = s->hnext)
            if (s->db == db && stream_total(s) == 0 && s->created)
                fn(ctx, s->key, s->klen);
    store_types(stream_store(), NULL, 0, key_of, &x);
}
