#include "store.h"

#include "clock.h"
#include "common.h"
#include "errors.h"
#include "fsx.h"
#include "index.h"
#include "keytab.h"
#include "le.h"
#include "log.h"
#include "scan.h"
#include "topic.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK (1u << 20) /* bytes read at a time when scanning */

/* Zeros are written ahead of the open segment's end (cfg.prealloc bytes at a
 * time). Appends then overwrite allocated blocks, and an fdatasync writes data
 * and flushes, but never has to write the inode for a new file size: on ext4
 * that was one device round trip in three per sync. Writing them is also the
 * space reservation: disk full shows there, before a publish is accepted. A
 * crash may leave a zero tail; open drops it, a clean close and sealing trim
 * it. */

struct seg {
    uint64_t base;     /* first position it may hold (its file name) */
    int fd;            /* O_RDWR for the open segment, kept for reads */
    uint64_t size;     /* bytes: open = end of the last good record;
                          sealed = file size */
    uint64_t file_end; /* open: the file's size; the part past size is zeros
                          written ahead (cfg.prealloc) */
    struct index ix;
};

/* A type over the whole store. */
struct gtype {
    char name[256];
    uint8_t len;
    uint64_t count;
    uint64_t first_pos, last_pos;
    uint64_t first_time, last_time; /* ms */
    uint64_t payload_bytes;         /* bytes of payloads appended since open */
    uint64_t last_seq;              /* entry seq of its last event */
    uint64_t last_ms;               /* entry ms of its last event, or raised */
    int last_ms_known;              /* 0: last_ms still to be read (loaded
                                       from an index, which keeps no ms) */
};

/* One remembered client id. */
struct dd {
    uint64_t pos, time; /* its event's position and time (ms) */
    uint64_t hash;
    struct dd *next;    /* bucket chain */
    size_t len;
    char id[];
};

struct store {
    char *dir;
    struct store_config cfg;
    struct seg *segs;       /* by base; the last one is open */
    size_t nsegs, capsegs;
    uint64_t next_pos;      /* position of the next append */
    uint64_t last_time;     /* ms of the last event (times never go back) */
    struct gtype *types;
    size_t ntypes, captypes;
    uint32_t *thash;        /* open addressing: type index + 1, 0 = empty */
    size_t thash_cap;       /* power of two */
    /* dedup window */
    struct dd **dbuckets;
    size_t dbuckets_cap;    /* power of two */
    struct dd **dfifo;      /* ring of entries in time order */
    size_t dfifo_cap, dfifo_head, dfifo_n;
    /* failure state */
    int ro_err;             /* -errno of the failure that made it read-only */
    char ro_op[32];         /* "write", "fdatasync", ... */
    /* appends not yet written: records encoded back to back, written to the
     * open segment at pend_off by store_flush with one pwrite (a loop turn's
     * publishes cost one syscall, not one each) */
    uint8_t *wbuf;
    size_t wlen, wcap;
    uint64_t pend_off;      /* file offset of wbuf[0] */
    uint64_t written_pos;   /* last position whose bytes are in the file */
    uint64_t tail_bytes;    /* bytes past the last record cut at open */
    /* store_get's last window, reused when the next call passes the same
     * buffer (the bus reads runs of positions one by one): base of its
     * segment, file offset and length, and the buffer it lives in */
    uint64_t lw_base, lw_off;
    size_t lw_len;
    const uint8_t *lw_buf;
    uint64_t lw_pos, lw_after; /* the record it returned, and where it ends */
    /* entity keys (keytab.h); at open, keys_from is the last position the
     * table holds, and scan_from adds the keyed records after it */
    struct keytab *keys;
    uint64_t keys_from;
    int keys_scanned;       /* the segment being opened was scanned */
    struct gtype *keys_type; /* key_note's last type (NULL after types move) */
    /* the key table checkpoint being written by its own thread (keys_save):
     * the loop encodes it, the thread writes and fsyncs it */
    pthread_t keys_thread;
    int keys_writing;        /* a thread was started and not joined */
    atomic_int keys_written; /* ... and it is done */
    int keys_rc;
    char keys_why[300];
    uint8_t *keys_buf;
    size_t keys_len;
    struct store_stats st;
};

#define KEYS_CKPT "keys.ckpt"

/* ---- small helpers ---- */
static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void seg_name(char *out, size_t n, uint64_t base, const char *ext)
{
    snprintf(out, n, "%020" PRIu64 ".%s", base, ext);
}

static void seg_path(const struct store *s, char *out, size_t n, uint64_t base,
                     const char *ext)
{
    char name[64];
    seg_name(name, sizeof(name), base, ext);
    snprintf(out, n, "%s/%s", s->dir, name);
}

static void set_readonly(struct store *s, const char *op, int err)
{
    if (s->ro_err)
        return;
    s->ro_err = err ? err : -EIO;
    snprintf(s->ro_op, sizeof(s->ro_op), "%s", op);
    s->st.readonly = 1;
    log_error("store %s: %s failed: %s; the store is read-only until restart",
              s->dir, op, strerror(-s->ro_err));
}

int store_readonly(const struct store *s, char *err, size_t errlen)
{
    if (!s->ro_err)
        return 0;
    snprintf(err, errlen, "store is read-only after %s failed: %s", s->ro_op,
             strerror(-s->ro_err));
    return ERR_READONLY;
}

size_t store_generated_id(uint64_t pos, char *out)
{
    return (size_t)snprintf(out, 32, "tc-%" PRIu64, pos);
}

/* ---- types ---- */
static struct gtype *type_get(struct store *s, const char *t, size_t n, int create)
{
    uint64_t h = hash_bytes(t, n);
    if (s->thash_cap) {
        for (size_t i = h & (s->thash_cap - 1);; i = (i + 1) & (s->thash_cap - 1)) {
            uint32_t v = s->thash[i];
            if (!v)
                break;
            struct gtype *g = &s->types[v - 1];
            if (g->len == n && memcmp(g->name, t, n) == 0)
                return g;
        }
    }
    if (!create)
        return NULL;
    if (s->ntypes == s->captypes) {
        s->captypes = s->captypes ? s->captypes * 2 : 16;
        s->types = xrealloc(s->types, s->captypes * sizeof(*s->types));
        s->keys_type = NULL; /* pointed into the old array */
    }
    struct gtype *g = &s->types[s->ntypes++];
    memset(g, 0, sizeof(*g));
    memcpy(g->name, t, n);
    g->len = (uint8_t)n;
    if (s->ntypes * 2 > s->thash_cap) {
        free(s->thash);
        s->thash_cap = s->thash_cap ? s->thash_cap * 2 : 64;
        s->thash = xcalloc(s->thash_cap, sizeof(*s->thash));
        for (size_t k = 0; k < s->ntypes; k++) {
            uint64_t hk = hash_bytes(s->types[k].name, s->types[k].len);
            size_t i = hk & (s->thash_cap - 1);
            while (s->thash[i])
                i = (i + 1) & (s->thash_cap - 1);
            s->thash[i] = (uint32_t)(k + 1);
        }
    } else {
        size_t i = h & (s->thash_cap - 1);
        while (s->thash[i])
            i = (i + 1) & (s->thash_cap - 1);
        s->thash[i] = (uint32_t)s->ntypes;
    }
    return g;
}

/* ---- entity keys ---- */

/* Takes a stored keyed record into the key table (at open: records are
 * visited in position order). One written before versions existed counts as
 * the key's next version. */
static void key_note(struct store *s, const struct segment_record *r)
{
    struct keytab_ent *e = keytab_find(s->keys, r->key, r->key_len);
    uint64_t version = r->version ? r->version : (e ? e->version : 0) + 1;
    struct gtype *t = s->keys_type; /* runs of one type are the common case */
    if (!t || t->len != r->type_len || memcmp(t->name, r->type, r->type_len) != 0)
        t = s->keys_type = type_get(s, r->type, r->type_len, 1);
    if (e) {
        e->version = version;
        e->pos = r->position;
        e->type = (uint32_t)(t - s->types);
    } else {
        keytab_put(s->keys, r->key, r->key_len, version, r->position,
                   (uint32_t)(t - s->types));
    }
}

static const char *key_type_name(void *ctx, uint32_t id, size_t *len)
{
    struct store *s = ctx;
    *len = s->types[id].len;
    return s->types[id].name;
}

static uint32_t key_type_id(void *ctx, const char *name, size_t len)
{
    struct store *s = ctx;
    return (uint32_t)(type_get(s, name, len, 1) - s->types);
}

static void *keys_write(void *arg)
{
    struct store *s = arg;
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", s->dir, KEYS_CKPT);
    s->keys_rc = fsx_replace(s->dir, path, s->keys_buf, s->keys_len, s->keys_why,
                             sizeof(s->keys_why));
    atomic_store(&s->keys_written, 1);
    return NULL;
}

/* After a checkpoint write: its failure logged, its buffer freed. */
static void keys_written_done(struct store *s)
{
    if (s->keys_rc)
        log_warn("store: saving the key table failed: %s (rebuilt from the "
                 "events at next start)", s->keys_why);
    free(s->keys_buf);
    s->keys_buf = NULL;
}

/* Waits for the checkpoint thread (if one runs). */
static void keys_join(struct store *s)
{
    if (!s->keys_writing)
        return;
    pthread_join(s->keys_thread, NULL);
    s->keys_writing = 0;
    keys_written_done(s);
}

/* The key table as of position upto, into keys.ckpt (a cache: a failure is
 * only logged, the next start reads more records). The write and its fsync
 * (~0.2 s for 1M keys) run on a thread of their own, so a seal does not stop
 * the loop for them; while one runs, the next seal saves nothing (the one
 * after does). An empty table (a store without keyed events) is a few bytes,
 * written here: without it every start would read every segment for keys. */
static void keys_save(struct store *s, uint64_t upto)
{
    if (s->keys_writing) {
        if (!atomic_load(&s->keys_written))
            return;
        keys_join(s);
    }
    s->keys_buf = keytab_encode(s->keys, upto, key_type_name, s, &s->keys_len);
    atomic_store(&s->keys_written, 0);
    if (keytab_count(s->keys) &&
        pthread_create(&s->keys_thread, NULL, keys_write, s) == 0) {
        s->keys_writing = 1;
        return;
    }
    keys_write(s);
    keys_written_done(s);
}

int store_key(struct store *s, const char *key, size_t n, struct store_key *out)
{
    const struct keytab_ent *e = keytab_find(s->keys, key, n);
    if (!e)
        return 0;
    const struct gtype *t = &s->types[e->type];
    *out = (struct store_key){key, n, e->version, e->pos, t->name, t->len};
    return 1;
}

void store_keys(struct store *s, int (*fn)(void *ctx, const struct store_key *k),
                void *ctx)
{
    size_t n = keytab_count(s->keys);
    for (size_t i = 0; i < n; i++) {
        const char *key;
        const struct keytab_ent *e = keytab_at(s->keys, i, &key);
        const struct gtype *t = &s->types[e->type];
        struct store_key k = {key, e->klen, e->version, e->pos, t->name, t->len};
        if (fn(ctx, &k))
            return;
    }
}

void store_key_prefetch(const struct store *s, const char *key, size_t n)
{
    keytab_prefetch(s->keys, key, n);
}

void store_keys_stats(const struct store *s, uint64_t *keys, uint64_t *bytes)
{
    *keys = keytab_count(s->keys);
    *bytes = keytab_bytes(s->keys);
}

/* Folds a segment's per-type summary into the global one (segments in order). */
static void types_merge(struct store *s, const struct index *ix)
{
    for (size_t i = 0; i < ix->ntypes; i++) {
        const struct index_type *t = &ix->types[i];
        struct gtype *g = type_get(s, t->name, t->name_len, 1);
        if (!g->count) {
            g->first_pos = t->first_pos;
            g->first_time = t->first_time;
        }
        g->count += t->count;
        g->last_pos = t->last_pos;
        g->last_time = t->last_time;
        g->last_seq = t->last_seq;
        g->last_ms_known = 0;
    }
}

/* ---- dedup window ---- */
static struct dd **dd_slot(struct store *s, const char *id, size_t n, uint64_t h)
{
    struct dd **p = &s->dbuckets[h & (s->dbuckets_cap - 1)];
    while (*p && !((*p)->hash == h && (*p)->len == n && memcmp((*p)->id, id, n) == 0))
        p = &(*p)->next;
    return p;
}

static void dd_expire(struct store *s, uint64_t now)
{
    while (s->dfifo_n) {
        struct dd *e = s->dfifo[s->dfifo_head];
        if (e->time + s->cfg.dedup_window_ms > now)
            break;
        struct dd **p = dd_slot(s, e->id, e->len, e->hash);
        if (*p == e)
            *p = e->next;
        free(e);
        s->dfifo_head = (s->dfifo_head + 1) % s->dfifo_cap;
        s->dfifo_n--;
    }
}

static struct dd *dd_find(struct store *s, const char *id, size_t n)
{
    if (!s->dbuckets_cap)
        return NULL;
    return *dd_slot(s, id, n, hash_bytes(id, n));
}

static void dd_add(struct store *s, const char *id, size_t n, uint64_t pos,
                   uint64_t time)
{
    if (!s->cfg.dedup_window_ms || !n)
        return;
    if (s->dfifo_n == s->dfifo_cap) {
        size_t cap = s->dfifo_cap ? s->dfifo_cap * 2 : 1024;
        struct dd **f = xmalloc(cap * sizeof(*f));
        for (size_t i = 0; i < s->dfifo_n; i++)
            f[i] = s->dfifo[(s->dfifo_head + i) % s->dfifo_cap];
        free(s->dfifo);
        s->dfifo = f;
        s->dfifo_cap = cap;
        s->dfifo_head = 0;
        /* keep buckets at least as many as entries */
        free(s->dbuckets);
        s->dbuckets_cap = cap;
        s->dbuckets = xcalloc(cap, sizeof(*s->dbuckets));
        for (size_t i = 0; i < s->dfifo_n; i++) {
            struct dd *e = f[i];
            struct dd **b = &s->dbuckets[e->hash & (cap - 1)];
            e->next = *b;
            *b = e;
        }
    }
    struct dd *e = xmalloc(sizeof(*e) + n);
    e->pos = pos;
    e->time = time;
    e->hash = hash_bytes(id, n);
    e->len = n;
    memcpy(e->id, id, n);
    struct dd **b = &s->dbuckets[e->hash & (s->dbuckets_cap - 1)];
    e->next = *b;
    *b = e;
    s->dfifo[(s->dfifo_head + s->dfifo_n) % s->dfifo_cap] = e;
    s->dfifo_n++;
}

/* ---- reading records ---- */
static void grow(uint8_t **buf, size_t *cap, size_t want)
{
    if (*cap >= want)
        return;
    size_t c = *cap ? *cap : 4096;
    while (c < want)
        c *= 2;
    *buf = xrealloc(*buf, c);
    *cap = c;
}

/* A window of one segment's bytes kept across the reads of one request, so
 * that events close to each other cost one pread, not one each. */
struct rwin {
    struct seg *g;  /* segment the window holds, NULL = empty */
    uint64_t off;   /* file offset of buf[0] */
    size_t len;     /* valid bytes in buf */
    size_t size;    /* bytes to read per refill */
    int rev;        /* refills end at the record (reverse reads) */
    uint8_t **buf;  /* the caller's buffer (grown with realloc) */
    size_t *cap;
};

static int win_fill(struct rwin *w, struct seg *g, uint64_t off, size_t want)
{
    uint64_t start = off;
    size_t n = want > w->size ? want : w->size;
    if (w->rev && want <= 4096 && off + 4096 > n)
        start = off + 4096 - n; /* most of the window before the record */
    else if (w->rev && want <= 4096)
        start = 0;
    if (start < SEGMENT_HEADER_SIZE)
        start = off < SEGMENT_HEADER_SIZE ? off : SEGMENT_HEADER_SIZE;
    if (start + n > g->size)
        n = (size_t)(g->size - start);
    grow(w->buf, w->cap, n ? n : 1);
    w->g = NULL;
    if (fsx_pread_all(g->fd, *w->buf, n, (off_t)start))
        return ERR_IO;
    w->g = g;
    w->off = start;
    w->len = n;
    return 0;
}

/* Reads the record framed at off of g; *used = its framed size. The record's
 * pointers point into the window's buffer until the next read. */
static int read_at(struct rwin *w, struct seg *g, uint64_t off,
                   struct segment_record *r, size_t *used)
{
    if (off >= g->size)
        return ERR_NOTFOUND;
    int rc;
    if (w->g != g || off < w->off || off + SEGMENT_FRAME_SIZE > w->off + w->len) {
        rc = win_fill(w, g, off, SEGMENT_FRAME_SIZE);
        if (rc)
            return rc;
    }
    size_t at = (size_t)(off - w->off);
    rc = segment_record_decode(*w->buf + at, w->len - at, r, used);
    if (rc == SEGMENT_NEED_MORE && *used <= g->size - off) {
        int was_rev = w->rev;
        w->rev = 0;
        rc = win_fill(w, g, off, *used);
        w->rev = was_rev;
        if (rc)
            return rc;
        rc = segment_record_decode(*w->buf, w->len, r, used);
    }
    return rc == 0 ? 0 : ERR_CORRUPT;
}

static struct seg *seg_for(struct store *s, uint64_t pos)
{
    size_t lo = 0, hi = s->nsegs; /* first seg with base > pos */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->segs[mid].base <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &s->segs[lo - 1] : NULL;
}

/* Before reading the open segment: its pending appends must be in the file.
 * After a failed write nothing past written_pos can be read. */
static uint64_t readable(struct store *s)
{
    if (s->wlen) {
        char err[200];
        store_flush(s, err, sizeof(err));
    }
    return s->written_pos;
}

/* Walks from off (a record boundary at or before pos) to the record pos. */
static int get_walk(struct store *s, struct seg *g, uint64_t pos, uint64_t off,
                    struct rwin *w, struct segment_record *r, uint64_t *after)
{
    for (;;) {
        size_t used;
        uint64_t at;
        /* step over the records before pos (up to INDEX_SPARSE_EVERY) without
         * their checksums: only the one returned is verified */
        if (w->g == g && off >= w->off &&
            off + SEGMENT_FRAME_SIZE + 8 <= w->off + w->len &&
            segment_record_peek(*w->buf + (off - w->off), w->len - (size_t)(off - w->off),
                                &at, &used) == 0 &&
            at < pos) {
            off += used;
            continue;
        }
        int rc = read_at(w, g, off, r, &used);
        if (rc == ERR_CORRUPT && s->st.quarantined_bytes)
            return ERR_NOTFOUND; /* inside a range --repair skipped */
        if (rc)
            return rc;
        if (r->position == pos) {
            *after = off + used;
            return 0;
        }
        if (r->position > pos)
            return ERR_NOTFOUND;
        off += used;
    }
}

int store_get(struct store *s, uint64_t pos, struct segment_record *r,
              uint8_t **buf, size_t *cap)
{
    if (pos > readable(s))
        return ERR_NOTFOUND;
    struct seg *g = seg_for(s, pos);
    if (!g || !g->ix.count || pos < g->ix.first_pos || pos > g->ix.last_pos)
        return ERR_NOTFOUND;
    uint64_t off = index_offset_before(&g->ix, pos);
    struct rwin w = {NULL, 0, 0, 8192, 0, buf, cap};
    if (s->lw_buf && s->lw_buf == *buf && s->lw_base == g->base) {
        /* the caller's buffer still holds our last window (segment bytes
         * never change once written): the bus reads runs of positions one
         * by one, and each would otherwise read its own 8 KiB */
        w.g = g;
        w.off = s->lw_off;
        w.len = s->lw_len;
        if (s->lw_pos < pos && s->lw_after > off)
            off = s->lw_after; /* just past the record returned last */
    }
    uint64_t after = 0;
    int rc = get_walk(s, g, pos, off, &w, r, &after);
    s->lw_buf = w.g ? *buf : NULL;
    s->lw_base = g->base;
    s->lw_off = w.off;
    s->lw_len = w.len;
    s->lw_pos = rc ? 0 : pos;
    s->lw_after = rc ? 0 : after;
    return rc;
}

int store_has(struct store *s, uint64_t pos)
{
    if (pos == 0 || pos > s->written_pos) /* unwritten appends: not yet */
        return 0;
    struct seg *g = seg_for(s, pos);
    if (!g || !g->ix.count || pos < g->ix.first_pos || pos > g->ix.last_pos)
        return 0;
    /* positions only increase within a segment: count == span means none is
     * missing (gaps come from a cut tail's skipped positions or --repair) */
    if (g->ix.last_pos - g->ix.first_pos + 1 == g->ix.count)
        return 1;
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct segment_record r;
    int rc = store_get(s, pos, &r, &buf, &cap);
    if (s->lw_buf == buf)
        s->lw_buf = NULL; /* the window is freed with buf, never matched */
    free(buf);
    if (rc == ERR_NOTFOUND)
        return 0;
    return rc < 0 ? rc : 1;
}

/* ---- scanning (recovery, rebuild, dedup) ---- */

/* Adds every good record from off on to g->ix; *stop = where it stopped
 * (file_size if the data ended cleanly). */
static int scan_from(struct store *s, struct seg *g, uint64_t off,
                     uint64_t file_size, uint64_t *stop)
{
    s->keys_scanned = 1;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    uint64_t prev = g->ix.count ? g->ix.last_pos : 0;
    grow(&buf, &cap, READ_CHUNK);
    while (off < file_size) {
        size_t n = file_size - off < cap ? (size_t)(file_size - off) : cap;
        rc = fsx_pread_all(g->fd, buf, n, (off_t)off);
        if (rc)
            goto out;
        size_t at = 0;
        for (;;) {
            struct segment_record r;
            size_t used;
            int d = segment_record_decode(buf + at, n - at, &r, &used);
            if (d == SEGMENT_NEED_MORE) {
                if (off + at + used > file_size) {
                    *stop = off + at; /* torn: the record runs past the end */
                    goto out;
                }
                if (used > cap)
                    grow(&buf, &cap, used);
                break; /* re-read from this record */
            }
            if (d != 0 || r.position <= prev || r.position < g->base) {
                *stop = off + at;
                goto out;
            }
            index_add(&g->ix, &r, (uint32_t)(off + at), (uint32_t)used);
            if (r.key_len && r.position > s->keys_from)
                key_note(s, &r);
            prev = r.position;
            at += used;
            if (at == n)
                break;
        }
        off += at;
    }
    *stop = file_size;
out:
    free(buf);
    return rc;
}

/* The offset after bad where a valid record with position > after_pos starts,
 * or 0 if none: tells a torn tail (nothing valid follows) from damage inside
 * the data (valid records follow). Byte-by-byte, so only used on bad data. */
static uint64_t find_valid_after(struct seg *g, uint64_t bad, uint64_t file_size,
                                 uint64_t after_pos)
{
    const size_t win = 4u << 20;
    uint8_t *buf = xmalloc(win);
    uint8_t *rec = NULL;
    size_t reccap = 0;
    uint64_t found = 0;
    for (uint64_t base = bad + 1; base + SEGMENT_MIN_RECORD <= file_size && !found;
         base += win - SEGMENT_FRAME_SIZE) {
        size_t n = file_size - base < win ? (size_t)(file_size - base) : win;
        if (fsx_pread_all(g->fd, buf, n, (off_t)base))
            break;
        for (size_t i = 0; i + SEGMENT_FRAME_SIZE <= n; i++) {
            uint32_t len = le_get32(buf + i);
            if (len < SEGMENT_BODY_FIXED + 1 || len > SEGMENT_MAX_BODY ||
                base + i + SEGMENT_FRAME_SIZE + len > file_size)
                continue;
            size_t total = SEGMENT_FRAME_SIZE + len;
            const uint8_t *p = buf + i;
            if (i + total > n) {
                grow(&rec, &reccap, total);
                if (fsx_pread_all(g->fd, rec, total, (off_t)(base + i)))
                    continue;
                p = rec;
            }
            struct segment_record r;
            size_t used;
            if (segment_record_decode(p, total, &r, &used) == 0 &&
                r.position > after_pos) {
                found = base + i;
                break;
            }
        }
        if (n < win)
            break;
    }
    free(buf);
    free(rec);
    return found;
}

static int quarantine(struct store *s, struct seg *g, uint64_t from, uint64_t to)
{
    char path[4200];
    char name[64];
    seg_name(name, sizeof(name), g->base, "seg");
    snprintf(path, sizeof(path), "%s/%s.bad-%" PRIu64, s->dir, name, from);
    uint8_t *buf = xmalloc(to - from ? (size_t)(to - from) : 1);
    int rc = fsx_pread_all(g->fd, buf, (size_t)(to - from), (off_t)from);
    int fd = rc ? rc : fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        rc = fsx_write_all(fd, buf, (size_t)(to - from));
        if (!rc)
            rc = fsx_fsync(fd);
        fsx_close(fd);
    } else {
        rc = fd;
    }
    free(buf);
    log_warn("store: --repair: quarantined %" PRIu64 " bad bytes of segment %s "
             "at offset %" PRIu64 " into %s%s",
             to - from, name, from, path, rc ? " (copy failed)" : "");
    s->st.quarantined_bytes += to - from;
    return 0;
}

/* Bytes of [from, to) of fd up to its last byte that is not zero, in *torn. */
static int nonzero_tail(int fd, uint64_t from, uint64_t to, uint64_t *torn)
{
    uint8_t buf[64 * 1024];
    *torn = 0;
    for (uint64_t off = from; off < to;) {
        size_t k = to - off < sizeof(buf) ? (size_t)(to - off) : sizeof(buf);
        int rc = fsx_pread_all(fd, buf, k, (off_t)off);
        if (rc)
            return rc;
        size_t nz = fsx_nonzero_len(buf, k);
        if (nz)
            *torn = off + nz - from;
        off += k;
    }
    return 0;
}

/* Scans a whole segment into g->ix. Open segment: a torn tail is cut (and
 * counted in *cut); sealed segment: any bad byte is damage. */
static int scan_segment(struct store *s, struct seg *g, uint64_t file_size,
                        int is_open, uint64_t *cut, char *err, size_t errlen)
{
    char name[64];
    seg_name(name, sizeof(name), g->base, "seg");
    uint64_t off = SEGMENT_HEADER_SIZE;
    for (;;) {
        uint64_t stop;
        int rc = scan_from(s, g, off, file_size, &stop);
        if (rc) {
            snprintf(err, errlen, "segment %s: read failed: %s", name, strerror(-rc));
            return ERR_IO;
        }
        if (stop >= file_size)
            break;
        uint64_t next = find_valid_after(g, stop, file_size,
                                         g->ix.count ? g->ix.last_pos : 0);
        if (!next && is_open) {
            /* torn or zero-filled tail of the open segment: cut it; only
             * bytes other than zeros (written ahead) were a torn write */
            uint64_t torn;
            rc = nonzero_tail(g->fd, stop, file_size, &torn);
            if (!rc)
                rc = fsx_ftruncate(g->fd, (off_t)stop);
            if (!rc)
                rc = fsx_fdatasync(g->fd);
            if (rc) {
                snprintf(err, errlen, "segment %s: cutting the torn tail failed: %s",
                         name, strerror(-rc));
                return ERR_IO;
            }
            if (torn)
                log_warn("store: segment %s: cut a torn tail of %" PRIu64
                         " bytes at offset %" PRIu64 " (last good position %" PRIu64 ")",
                         name, torn, stop, g->ix.last_pos);
            *cut += torn;
            s->tail_bytes += file_size - stop;
            file_size = stop;
            break;
        }
        if (!s->cfg.repair) {
            snprintf(err, errlen,
                     "segment %s: bad record at offset %" PRIu64 " (%s); start "
                     "with --repair yes to quarantine the bad range",
                     name, stop,
                     next ? "valid records follow" : "sealed segment ends badly");
            return ERR_CORRUPT;
        }
        quarantine(s, g, stop, next ? next : file_size);
        if (!next)
            break;
        off = next;
        g->ix.sparse_next = 1; /* reads must be able to start past the hole */
    }
    g->size = is_open ? g->ix.end : file_size;
    g->file_end = file_size;
    if (!is_open)
        g->ix.end = file_size;
    return 0;
}

/* ---- open ---- */
static struct seg *seg_push(struct store *s, uint64_t base)
{
    if (s->nsegs == s->capsegs) {
        s->capsegs = s->capsegs ? s->capsegs * 2 : 16;
        s->segs = xrealloc(s->segs, s->capsegs * sizeof(*s->segs));
    }
    struct seg *g = &s->segs[s->nsegs++];
    memset(g, 0, sizeof(*g));
    g->base = base;
    g->fd = -1;
    index_init(&g->ix, base);
    return g;
}

/* Creates a new empty segment file for base and makes it the open one. */
static int seg_create(struct store *s, uint64_t base, char *err, size_t errlen)
{
    char path[4200];
    seg_path(s, path, sizeof(path), base, "seg");
    uint8_t hdr[SEGMENT_HEADER_SIZE];
    segment_header_encode(hdr, base);
    const char *op = "open";
    int fd = fsx_open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? fd : 0;
    if (!rc) {
        op = "write";
        rc = fsx_pwrite_all(fd, hdr, sizeof(hdr), 0);
    }
    if (!rc) {
        op = "fdatasync";
        rc = fsx_fdatasync(fd);
    }
    if (!rc) {
        op = "fsync(dir)";
        rc = fsx_fsync_dir(s->dir);
    }
    if (rc) {
        snprintf(err, errlen, "creating segment %s: %s failed: %s", path, op,
                 strerror(-rc));
        if (fd >= 0) {
            fsx_close(fd);
            fsx_unlink(path);
        }
        if (rc == -ENOSPC)
            return ERR_NOSPACE;
        if (strcmp(op, "open") != 0)
            set_readonly(s, op, rc);
        return ERR_IO;
    }
    struct seg *g = seg_push(s, base);
    g->fd = fd;
    g->size = g->file_end = SEGMENT_HEADER_SIZE;
    return 0;
}

/* Loads or rebuilds the index of sealed segment g. */
static int open_sealed(struct store *s, struct seg *g, uint64_t file_size, char *err,
                       size_t errlen)
{
    char path[4200], why[160], name[64];
    seg_path(s, path, sizeof(path), g->base, "idx");
    seg_name(name, sizeof(name), g->base, "idx");
    int rc = index_load(&g->ix, path, file_size, why, sizeof(why));
    if (rc == 0) {
        g->size = file_size;
        return 0;
    }
    log_warn("store: index %s %s: rebuilding it from the segment", name, why);
    index_deinit(&g->ix);
    index_init(&g->ix, g->base);
    uint64_t cut = 0;
    rc = scan_segment(s, g, file_size, 0, &cut, err, errlen);
    if (rc)
        return rc;
    s->st.rebuilt_indexes++;
    rc = index_save(&g->ix, s->dir, name);
    if (rc) {
        log_warn("store: saving index %s failed: %s (kept in memory)", name,
                 strerror(-rc));
        return 0;
    }
    struct index nix;
    index_init(&nix, g->base);
    if (index_load(&nix, path, file_size, why, sizeof(why)) == 0) {
        index_deinit(&g->ix);
        g->ix = nix;
    } else {
        index_deinit(&nix);
    }
    return 0;
}

/* Adds the keyed records of g after position after to the key table (a
 * sealed segment opened from its index, when the key table's checkpoint is
 * older than the segment). */
static int keys_catch_up(struct store *s, struct seg *g, uint64_t after)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    uint64_t off = index_offset_before(&g->ix, after + 1);
    struct rwin w = {NULL, 0, 0, READ_CHUNK, 0, &buf, &cap};
    while (off < g->size) {
        struct segment_record r;
        size_t used;
        rc = read_at(&w, g, off, &r, &used);
        if (rc == ERR_CORRUPT) { /* a quarantined range: skip to the next */
            rc = 0;
            off++;
            continue;
        }
        if (rc)
            break;
        if (r.key_len && r.position > after)
            key_note(s, &r);
        off += used;
    }
    free(buf);
    return rc;
}

static void dedup_rebuild(struct store *s, uint64_t now)
{
    if (!s->cfg.dedup_window_ms)
        return;
    uint64_t cutoff = now > s->cfg.dedup_window_ms ? now - s->cfg.dedup_window_ms : 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct seg *g = &s->segs[i];
        if (!g->ix.count || g->ix.last_time < cutoff)
            continue;
        if (g->ix.ids_known && !g->ix.ids)
            continue; /* nothing to remember: its index counted no ID */
        uint64_t off = index_offset_before(&g->ix, index_pos_for_time(&g->ix, cutoff));
        struct rwin w = {NULL, 0, 0, 1u << 20, 0, &buf, &cap};
        for (;;) {
            struct segment_record r;
            size_t used;
            int rc = read_at(&w, g, off, &r, &used);
            if (rc == ERR_CORRUPT) { /* a quarantined range: skip to the next */
                off++;
                if (off >= g->size)
                    break;
                continue;
            }
            if (rc)
                break;
            if (r.id_len && r.time_ms >= cutoff && !dd_find(s, r.id, r.id_len))
                dd_add(s, r.id, r.id_len, r.position, r.time_ms);
            off += used;
        }
    }
    free(buf);
}

int store_open(struct store **out, const struct store_config *cfg, uint64_t now_ms,
               char *err, size_t errlen)
{
    uint64_t t0 = clock_mono_ms();
    struct store *s = xcalloc(1, sizeof(*s));
    s->dir = xstrdup(cfg->dir);
    s->cfg = *cfg;
    s->cfg.dir = s->dir;
    if (s->cfg.segment_size < 4096)
        s->cfg.segment_size = 4096;
    uint64_t *bases = NULL;
    size_t nb = 0;
    int rc = fsx_mkdir(s->dir, 0755);
    if (rc && rc != -EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", s->dir, strerror(-rc));
        rc = ERR_IO;
        goto err_free;
    }
    rc = scan_list_segments(s->dir, &bases, &nb, err, errlen);
    if (rc)
        goto err_free;
    /* the key table: its checkpoint, then the keyed records after it */
    s->keys = keytab_new();
    char kpath[4200], kwhy[300];
    snprintf(kpath, sizeof(kpath), "%s/%s", s->dir, KEYS_CKPT);
    rc = keytab_load(s->keys, kpath, &s->keys_from, key_type_id, s, kwhy,
                     sizeof(kwhy));
    if (rc && rc != ERR_NOTFOUND)
        log_warn("store: %s: rebuilding the key table from the events", kwhy);
    if (rc)
        s->keys_from = 0;
    uint64_t keys_ckpt = s->keys_from;
    uint64_t cut = 0;
    for (size_t i = 0; i < nb; i++) {
        int is_open = i + 1 == nb;
        char path[4200], name[64];
        seg_path(s, path, sizeof(path), bases[i], "seg");
        seg_name(name, sizeof(name), bases[i], "seg");
        int fd = fsx_open(path, is_open ? O_RDWR : O_RDONLY, 0);
        if (fd < 0) {
            snprintf(err, errlen, "open %s: %s", path, strerror(-fd));
            rc = ERR_IO;
            goto err_free;
        }
        struct seg *g = seg_push(s, bases[i]);
        g->fd = fd;
        off_t size = fsx_size(fd);
        uint8_t hdr[SEGMENT_HEADER_SIZE];
        uint64_t hbase = 0;
        int hrc = size >= (off_t)SEGMENT_HEADER_SIZE
                      ? fsx_pread_all(fd, hdr, sizeof(hdr), 0)
                      : ERR_CORRUPT;
        if (!hrc)
            hrc = segment_header_decode(hdr, sizeof(hdr), &hbase);
        if (!hrc && hbase != bases[i])
            hrc = ERR_CORRUPT;
        if (hrc) {
            if (is_open && size <= (off_t)SEGMENT_HEADER_SIZE) {
                /* crashed while being created: nothing was in it yet */
                log_warn("store: segment %s has a torn header (%lld bytes): "
                         "rewriting it",
                         name, (long long)size);
                segment_header_encode(hdr, bases[i]);
                rc = fsx_ftruncate(fd, 0);
                if (!rc)
                    rc = fsx_pwrite_all(fd, hdr, sizeof(hdr), 0);
                if (!rc)
                    rc = fsx_fdatasync(fd);
                if (rc) {
                    snprintf(err, errlen, "rewriting header of %s: %s", path,
                             strerror(-rc));
                    rc = ERR_IO;
                    goto err_free;
                }
                cut += (uint64_t)size;
                g->size = g->file_end = SEGMENT_HEADER_SIZE;
                continue;
            }
            snprintf(err, errlen, "segment %s: bad file header", name);
            rc = ERR_CORRUPT;
            goto err_free;
        }
        s->keys_scanned = 0;
        if (is_open)
            rc = scan_segment(s, g, (uint64_t)size, 1, &cut, err, errlen);
        else
            rc = open_sealed(s, g, (uint64_t)size, err, errlen);
        if (!rc && !s->keys_scanned && g->ix.count && g->ix.last_pos > s->keys_from) {
            rc = keys_catch_up(s, g, s->keys_from);
            if (rc)
                snprintf(err, errlen, "segment %s: reading its keys failed", name);
        }
        if (rc)
            goto err_free;
        if (g->ix.count && g->ix.last_pos > s->keys_from)
            s->keys_from = g->ix.last_pos;
        if (i > 0 && g->ix.count && s->segs[i - 1].ix.count &&
            g->ix.first_pos <= s->segs[i - 1].ix.last_pos) {
            snprintf(err, errlen, "segment %s: positions overlap the previous one",
                     name);
            rc = ERR_CORRUPT;
            goto err_free;
        }
    }
    if (!nb) {
        rc = seg_create(s, 1, err, errlen);
        if (rc)
            goto err_free;
    }
    /* the position and time to continue from */
    struct seg *last = &s->segs[s->nsegs - 1];
    s->next_pos = last->base;
    for (size_t i = s->nsegs; i-- > 0;) {
        if (s->segs[i].ix.count) {
            s->next_pos = s->segs[i].ix.last_pos + 1;
            s->last_time = s->segs[i].ix.last_time;
            break;
        }
    }
    if (s->next_pos < last->base)
        s->next_pos = last->base;
    if (keys_ckpt >= s->next_pos) {
        /* a checkpoint newer than the events (they were restored from an
         * older copy): read every keyed event again */
        log_warn("store: the key table checkpoint is past the last event: "
                 "rebuilding it from the events");
        keytab_clear(s->keys);
        rc = 0;
        for (size_t i = 0; i < s->nsegs && !rc; i++)
            if (s->segs[i].ix.count)
                rc = keys_catch_up(s, &s->segs[i], 0);
        if (rc) {
            snprintf(err, errlen, "reading the keys of the events failed");
            goto err_free;
        }
    }
    /* positions that might have been handed out for the bytes cut (torn, or
     * zeros where a power loss took acknowledged --fsync everysec events)
     * are never given to other events */
    uint64_t gone = cut > s->tail_bytes ? cut : s->tail_bytes;
    if (gone)
        s->next_pos += gone / SEGMENT_MIN_RECORD + 1;
    for (size_t i = 0; i < s->nsegs; i++)
        types_merge(s, &s->segs[i].ix);
    /* whatever the last run wrote is made durable before anything builds on it */
    rc = fsx_fdatasync(last->fd);
    if (rc) {
        snprintf(err, errlen, "fdatasync of the open segment: %s", strerror(-rc));
        rc = ERR_IO;
        goto err_free;
    }
    s->st.recovered_cut_bytes = cut;
    dedup_rebuild(s, now_ms);
    s->st.open_ms = clock_mono_ms() - t0;
    free(bases);
    s->written_pos = s->next_pos - 1;
    *out = s;
    return 0;
err_free:
    free(bases);
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    char err[200];
    store_flush(s, err, sizeof(err)); /* a failure is logged by set_readonly */
    for (size_t i = 0; i < s->nsegs; i++) {
        struct seg *g = &s->segs[i];
        index_deinit(&g->ix);
        if (g->fd < 0)
            continue;
        /* a clean stop leaves no zeros behind (best effort when read-only:
         * nothing past written_pos was acknowledged) */
        if (g->file_end > g->size)
            fsx_ftruncate(g->fd, (off_t)(s->wlen ? s->pend_off : g->size));
        fsx_close(g->fd);
    }
    for (size_t i = 0; i < s->dfifo_n; i++)
        free(s->dfifo[(s->dfifo_head + i) % s->dfifo_cap]);
    free(s->dfifo);
    free(s->dbuckets);
    free(s->segs);
    free(s->types);
    free(s->thash);
    free(s->wbuf);
    keys_join(s);
    keytab_free(s->keys);
    free(s->dir);
    free(s);
}

/* ---- writing ---- */
static int seal(struct store *s, char *err, size_t errlen)
{
    struct seg *g = &s->segs[s->nsegs - 1];
    char name[64], path[4200], why[160];
    int rc = store_flush(s, err, errlen);
    if (rc)
        return rc;
    const char *op = "ftruncate";
    rc = g->file_end > g->size ? fsx_ftruncate(g->fd, (off_t)g->size) : 0;
    if (!rc) {
        g->file_end = g->size; /* a sealed segment ends with its last record */
        op = "fdatasync";
        rc = fsx_fdatasync(g->fd);
    }
    if (rc) {
        set_readonly(s, op, rc);
        return store_readonly(s, err, errlen);
    }
    uint64_t base = g->base;
    seg_name(name, sizeof(name), base, "idx");
    seg_path(s, path, sizeof(path), base, "idx");
    int saved = index_save(&g->ix, s->dir, name);
    if (saved)
        log_warn("store: saving index %s failed: %s (rebuilt at next start)", name,
                 strerror(-saved));
    if (g->ix.count)
        keys_save(s, g->ix.last_pos);
    /* the old segment stays the open one (with its in-memory index) until the
     * new one exists: a failed create (disk full) leaves everything as it was */
    rc = seg_create(s, s->next_pos, err, errlen);
    if (rc)
        return rc;
    g = &s->segs[s->nsegs - 2]; /* segs may have moved */
    if (!saved) {
        struct index nix;
        index_init(&nix, base);
        if (index_load(&nix, path, g->size, why, sizeof(why)) == 0) {
            index_deinit(&g->ix);
            g->ix = nix;
        } else {
            index_deinit(&nix);
        }
    }
    return 0;
}

/* The entry id of t's last event (or what store_type_raise_id raised it to):
 * an index keeps the seq but not the ms, so after a start the last event is
 * read once. 0 or a negative code. */
static int type_last_id(struct store *s, struct gtype *t, uint64_t *ms,
                        uint64_t *seq)
{
    if (!t->last_ms_known) {
        uint8_t *buf = NULL;
        size_t cap = 0;
        struct segment_record r;
        int rc = store_get(s, t->last_pos, &r, &buf, &cap);
        if (s->lw_buf == buf)
            s->lw_buf = NULL;
        if (rc == 0) {
            t->last_ms = r.entry_ms;
            t->last_seq = r.entry_seq;
        }
        free(buf);
        if (rc)
            return rc;
        t->last_ms_known = 1;
    }
    *ms = t->last_ms;
    *seq = t->last_seq;
    return 0;
}

int store_type_last(struct store *s, const char *type, size_t n,
                    struct store_type_last *out)
{
    memset(out, 0, sizeof(*out));
    struct gtype *t = type_get(s, type, n, 0);
    if (!t || !t->count)
        return 0;
    int rc = type_last_id(s, t, &out->ms, &out->seq);
    if (rc)
        return rc;
    out->count = t->count;
    out->last_pos = t->last_pos;
    return 1;
}

void store_type_raise_id(struct store *s, const char *type, size_t n, uint64_t ms,
                         uint64_t seq)
{
    struct gtype *t = type_get(s, type, n, 0);
    uint64_t lms, lseq;
    if (!t || !t->count || type_last_id(s, t, &lms, &lseq))
        return; /* an unknown type starts from the clock anyway */
    if (ms > lms || (ms == lms && seq > lseq)) {
        t->last_ms = ms;
        t->last_seq = seq;
    }
}

int store_type_rank(struct store *s, const char *type, size_t n, uint64_t pos,
                    uint64_t *rank)
{
    uint64_t k = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct index *ix = &s->segs[i].ix;
        if (!ix->count || ix->first_pos >= pos)
            break;
        struct index_type *t = index_type_find(ix, type, n);
        if (!t)
            continue;
        if (t->last_pos < pos) {
            k += t->count;
            continue;
        }
        uint64_t idx;
        int rc = index_postings_lower(ix, t, (uint32_t)(pos - s->segs[i].base), &idx);
        if (rc)
            return rc;
        k += idx;
        break;
    }
    *rank = k;
    return 0;
}

int store_type_nth(struct store *s, const char *type, size_t n, uint64_t k,
                   uint64_t *pos)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        struct index *ix = &s->segs[i].ix;
        struct index_type *t = ix->count ? index_type_find(ix, type, n) : NULL;
        if (!t)
            continue;
        if (k >= t->count) {
            k -= t->count;
            continue;
        }
        struct index_posting p;
        int rc = index_postings(ix, t, k, 1, &p);
        if (rc)
            return rc;
        *pos = s->segs[i].base + p.rel;
        return 0;
    }
    return ERR_NOTFOUND;
}

int store_append(struct store *s, const struct store_pub *pub, uint64_t now_ms,
                 uint64_t *pos, int *dup, char *err, size_t errlen)
{
    *dup = 0;
    int rc = store_readonly(s, err, errlen);
    if (rc)
        return rc;
    if (s->cfg.dedup_window_ms)
        dd_expire(s, now_ms);
    if (pub->id_len) {
        struct dd *e = dd_find(s, pub->id, pub->id_len);
        if (e) {
            *pos = e->pos;
            *dup = 1;
            return 0;
        }
    }
    /* the key's next version (and its optimistic check) */
    struct keytab_ent *ke =
        pub->key_len ? keytab_find(s->keys, pub->key, pub->key_len) : NULL;
    uint64_t at_version = ke ? ke->version : 0;
    if (pub->key_len && pub->expect_set && pub->expect != at_version) {
        snprintf(err, errlen, "expected %" PRIu64 ", key is at %" PRIu64,
                 pub->expect, at_version);
        return ERR_CONFLICT;
    }
    uint64_t time = now_ms > s->last_time ? now_ms : s->last_time;
    struct gtype *t = type_get(s, pub->type, pub->type_len, 0);
    uint64_t ems = time, eseq = 0;
    if (pub->entry_id_set) {
        ems = pub->entry_ms;
        eseq = pub->entry_seq;
    } else if (t && t->count) {
        uint64_t lms, lseq;
        rc = type_last_id(s, t, &lms, &lseq);
        if (rc) {
            snprintf(err, errlen, "reading the last entry of type '%.*s' failed",
                     (int)pub->type_len, pub->type);
            return rc;
        }
        if (lms >= ems) {
            ems = lms;
            eseq = lseq + 1;
            if (eseq == 0) /* the seq wrapped: the next ms */
                ems++;
        }
    }
    struct segment_record r = {
        .position = s->next_pos,
        .time_ms = time,
        .entry_ms = ems,
        .entry_seq = eseq,
        .kind = pub->kind,
        .type = pub->type,
        .type_len = pub->type_len,
        .id = pub->id,
        .id_len = pub->id_len,
        .key = pub->key,
        .key_len = pub->key_len,
        .version = pub->key_len ? at_version + 1 : 0,
        .prev = ke ? ke->pos : 0,
        .nheaders = (unsigned)pub->nhdrs,
        .payload = pub->payload,
        .payload_len = pub->payload_len,
    };
    size_t hlen = segment_headers_size(pub->hdrs, pub->nhdrs);
    r.headers_len = hlen;
    size_t size = segment_record_size(&r);
    if (size - SEGMENT_FRAME_SIZE > SEGMENT_MAX_BODY) {
        snprintf(err, errlen, "event of %zu bytes is too large", size);
        return ERR_INVAL;
    }
    struct seg *g = &s->segs[s->nsegs - 1];
    if (g->ix.count && g->size + size > s->cfg.segment_size) {
        rc = seal(s, err, errlen);
        if (rc) {
            if (rc == ERR_NOSPACE)
                s->st.nospace_errors++;
            return rc;
        }
        g = &s->segs[s->nsegs - 1];
    }
    if (!s->wlen)
        s->pend_off = g->size;
    grow(&s->wbuf, &s->wcap, s->wlen + size + hlen);
    uint8_t *rb = s->wbuf + s->wlen;
    uint8_t *hb = rb + size; /* headers encoded after the record space */
    segment_headers_encode(pub->hdrs, pub->nhdrs, hb);
    r.headers = (const char *)hb;
    segment_record_encode(&r, rb);
    rc = 0;
    uint64_t old_end = g->file_end;
    if (g->size + size > g->file_end) {
        uint64_t end = g->size + size + s->cfg.prealloc;
        if (end > s->cfg.segment_size)
            end = g->size + size > s->cfg.segment_size ? g->size + size
                                                        : s->cfg.segment_size;
        rc = fsx_zero_fill(g->fd, (off_t)g->file_end, end - g->file_end);
        if (!rc)
            g->file_end = end;
    }
    if (rc == -ENOSPC) {
        /* the zeros ahead could not be written (nothing of the record was,
         * and what is pending still fits before old_end): cut what part of
         * them made it */
        int trc = fsx_ftruncate(g->fd, (off_t)old_end);
        if (trc) {
            set_readonly(s, "ftruncate", trc);
            return store_readonly(s, err, errlen);
        }
        s->st.nospace_errors++;
        log_ratelimited(LOG_WARN, "store: disk full, publish of %zu bytes refused",
                        size);
        snprintf(err, errlen,
                 "no space left on device: event of %zu bytes not stored (writes "
                 "resume when space is freed)",
                 size);
        return ERR_NOSPACE;
    }
    if (rc) {
        set_readonly(s, "write", rc);
        return store_readonly(s, err, errlen);
    }
    s->wlen += size;
    index_add(&g->ix, &r, (uint32_t)g->size, (uint32_t)size);
    g->size += size;
    t = type_get(s, pub->type, pub->type_len, 1);
    if (!t->count) {
        t->first_pos = r.position;
        t->first_time = time;
    }
    t->count++;
    t->payload_bytes += pub->payload_len;
    t->last_pos = r.position;
    t->last_time = time;
    t->last_seq = r.entry_seq;
    t->last_ms = r.entry_ms;
    t->last_ms_known = 1;
    if (ke) { /* found above; nothing was added to the table since */
        struct keytab_ent *e = ke;
        e->version = r.version;
        e->pos = r.position;
        e->type = (uint32_t)(t - s->types);
    } else if (pub->key_len) {
        keytab_put(s->keys, pub->key, pub->key_len, r.version, r.position,
                   (uint32_t)(t - s->types));
    }
    s->last_time = time;
    s->next_pos++;
    dd_add(s, pub->id, pub->id_len, r.position, time);
    *pos = r.position;
    return 0;
}

int store_flush(struct store *s, char *err, size_t errlen)
{
    if (!s->wlen)
        return 0;
    int rc = store_readonly(s, err, errlen);
    if (rc)
        return rc;
    struct seg *g = &s->segs[s->nsegs - 1];
    rc = fsx_pwrite_all(g->fd, s->wbuf, s->wlen, (off_t)s->pend_off);
    if (rc) {
        /* the zeros ahead were written, so this is no ENOSPC but a failing
         * disk: what is pending was never acknowledged */
        set_readonly(s, "write", rc);
        return store_readonly(s, err, errlen);
    }
    s->pend_off += s->wlen;
    s->wlen = 0;
    s->written_pos = s->next_pos - 1;
    return 0;
}

uint64_t store_written_pos(const struct store *s)
{
    return s->written_pos;
}

int store_fd(const struct store *s)
{
    return s->segs[s->nsegs - 1].fd;
}

uint64_t store_last_pos(const struct store *s)
{
    return s->next_pos - 1;
}

int store_sync(struct store *s, char *err, size_t errlen)
{
    int rc = store_flush(s, err, errlen);
    if (!rc)
        rc = store_readonly(s, err, errlen);
    if (rc)
        return rc;
    rc = fsx_fdatasync(store_fd(s));
    if (rc) {
        set_readonly(s, "fdatasync", rc);
        return store_readonly(s, err, errlen);
    }
    return 0;
}

void store_sync_failed(struct store *s, int err)
{
    set_readonly(s, "fdatasync", err);
}

/* ---- range reads ---- */
struct cursor {
    struct index_type *t;
    uint64_t lo, hi;    /* posting indexes still to visit: [lo, hi) */
    struct index_posting chunk[128];
    uint64_t cstart;    /* index of chunk[0] */
    size_t cn;          /* postings in chunk */
};

static int cursor_at(const struct index *ix, struct cursor *c, uint64_t k, int rev,
                     struct index_posting *p)
{
    if (k < c->cstart || k >= c->cstart + c->cn) {
        uint64_t start = k;
        if (rev)
            start = k + 1 >= 128 ? k + 1 - 128 : 0;
        if (start < c->lo && !rev)
            start = c->lo;
        uint64_t end = start + 128 < c->t->count ? start + 128 : c->t->count;
        int rc = index_postings(ix, c->t, start, (size_t)(end - start), c->chunk);
        if (rc)
            return rc;
        c->cstart = start;
        c->cn = (size_t)(end - start);
    }
    *p = c->chunk[k - c->cstart];
    return 0;
}

static int range_segment(struct seg *g, const struct store_query *q,
                         size_t *left, int *stop, store_visit_fn *fn, void *ctx,
                         struct rwin *w)
{
    struct index *ix = &g->ix;
    uint64_t lo = q->from_pos > ix->first_pos ? q->from_pos : ix->first_pos;
    uint64_t hi = q->to_pos < ix->last_pos ? q->to_pos : ix->last_pos;
    if (q->from_time) {
        uint64_t p = index_pos_for_time(ix, q->from_time);
        if (p > lo)
            lo = p;
    }
    if (q->to_time != UINT64_MAX) {
        uint64_t p = index_pos_until_time(ix, q->to_time);
        if (p < hi)
            hi = p;
    }
    if (lo > hi)
        return 0;
    struct cursor *cs = NULL;
    size_t nc = 0;
    int rc = 0;
    for (size_t i = 0; i < ix->ntypes; i++) {
        struct index_type *t = &ix->types[i];
        if (t->last_pos < lo || t->first_pos > hi ||
            !topic_match(q->pattern, q->pattern_len, t->name, t->name_len))
            continue;
        cs = xrealloc(cs, (nc + 1) * sizeof(*cs));
        struct cursor *c = &cs[nc];
        memset(c, 0, sizeof(*c));
        c->t = t;
        rc = index_postings_lower(ix, t, (uint32_t)(lo - g->base), &c->lo);
        if (!rc)
            rc = hi - g->base + 1 > UINT32_MAX
                     ? (c->hi = t->count, 0)
                     : index_postings_lower(ix, t, (uint32_t)(hi - g->base + 1), &c->hi);
        if (rc)
            goto out;
        if (c->lo < c->hi)
            nc++;
    }
    while (nc && *left && !*stop) {
        /* the cursor with the lowest (highest when reverse) next position */
        size_t best = 0;
        struct index_posting bp = {0, 0};
        for (size_t i = 0; i < nc; i++) {
            struct index_posting p;
            uint64_t k = q->reverse ? cs[i].hi - 1 : cs[i].lo;
            rc = cursor_at(ix, &cs[i], k, q->reverse, &p);
            if (rc)
                goto out;
            if (i == 0 || (q->reverse ? p.rel > bp.rel : p.rel < bp.rel)) {
                best = i;
                bp = p;
            }
        }
        if (q->reverse)
            cs[best].hi--;
        else
            cs[best].lo++;
        if (cs[best].lo >= cs[best].hi)
            cs[best] = cs[--nc];
        struct segment_record r;
        size_t used;
        rc = read_at(w, g, bp.offset, &r, &used);
        if (rc)
            goto out;
        if (r.position != g->base + bp.rel) {
            rc = ERR_CORRUPT;
            goto out;
        }
        if (r.time_ms < q->from_time) {
            if (q->reverse)
                *stop = 1;
            continue;
        }
        if (r.time_ms > q->to_time) {
            if (!q->reverse)
                *stop = 1;
            continue;
        }
        if (q->key && (r.key_len != q->key_len || memcmp(r.key, q->key, q->key_len)))
            continue;
        (*left)--;
        if (fn(ctx, &r))
            *stop = 1;
    }
out:
    free(cs);
    return rc;
}

int store_range(struct store *s, const struct store_query *q0, store_visit_fn *fn,
                void *ctx)
{
    struct store_query qq = *q0;
    const struct store_query *q = &qq;
    uint64_t last = readable(s);
    if (qq.to_pos > last)
        qq.to_pos = last;
    if (qq.from_pos > qq.to_pos)
        return 0;
    size_t left = q->count;
    int stop = 0, rc = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct rwin w = {NULL, 0, 0, 64u << 10, q->reverse, &buf, &cap};
    for (size_t k = 0; k < s->nsegs && left && !stop; k++) {
        struct seg *g = &s->segs[q->reverse ? s->nsegs - 1 - k : k];
        struct index *ix = &g->ix;
        if (!ix->count || ix->last_pos < q->from_pos || ix->first_pos > q->to_pos ||
            ix->last_time < q->from_time || ix->first_time > q->to_time)
            continue;
        rc = range_segment(g, q, &left, &stop, fn, ctx, &w);
        if (rc)
            break;
    }
    free(buf);
    return rc;
}

int store_next_match(struct store *s, const char *const *pats, const size_t *lens,
                     size_t npats, uint64_t after, uint64_t until, uint64_t *pos)
{
    for (size_t k = 0; k < s->nsegs; k++) {
        struct seg *g = &s->segs[k];
        struct index *ix = &g->ix;
        if (!ix->count || ix->last_pos <= after)
            continue;
        if (ix->first_pos > until)
            break;
        uint64_t best = UINT64_MAX;
        uint64_t from = after + 1 > g->base ? after + 1 - g->base : 0;
        for (size_t i = 0; i < ix->ntypes; i++) {
            struct index_type *t = &ix->types[i];
            if (t->last_pos <= after || t->first_pos >= best)
                continue;
            size_t m;
            for (m = 0; m < npats; m++)
                if (topic_match(pats[m], lens[m], t->name, t->name_len))
                    break;
            if (m == npats)
                continue;
            uint64_t idx;
            int rc = index_postings_lower(ix, t, (uint32_t)from, &idx);
            if (rc)
                return rc;
            if (idx >= t->count)
                continue;
            struct index_posting p;
            rc = index_postings(ix, t, idx, 1, &p);
            if (rc)
                return rc;
            if (g->base + p.rel < best)
                best = g->base + p.rel;
        }
        if (best != UINT64_MAX) {
            if (best > until)
                break;
            *pos = best;
            return 1;
        }
    }
    *pos = until;
    return 0;
}

static int cmp_type(const void *a, const void *b)
{
    const struct gtype *x = *(const struct gtype *const *)a;
    const struct gtype *y = *(const struct gtype *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

void store_types(struct store *s, const char *pattern, size_t pattern_len,
                 void (*fn)(void *ctx, const struct store_type_info *t), void *ctx)
{
    const struct gtype **v = xmalloc((s->ntypes ? s->ntypes : 1) * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < s->ntypes; i++)
        if (!pattern ||
            topic_match(pattern, pattern_len, s->types[i].name, s->types[i].len))
            v[n++] = &s->types[i];
    qsort(v, n, sizeof(*v), cmp_type);
    for (size_t i = 0; i < n; i++) {
        struct store_type_info ti = {v[i]->name,      v[i]->len,
                                     v[i]->count,     v[i]->first_pos,
                                     v[i]->last_pos,  v[i]->first_time,
                                     v[i]->last_time, v[i]->payload_bytes};
        fn(ctx, &ti);
    }
    free(v);
}

void store_stats(const struct store *s, struct store_stats *out)
{
    *out = s->st;
    out->next_pos = s->next_pos;
    out->segments = s->nsegs;
    out->types = s->ntypes;
    out->dedup_ids = s->dfifo_n;
    out->events = 0;
    out->bytes = 0;
    out->first_pos = out->last_pos = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        const struct seg *g = &s->segs[i];
        out->events += g->ix.count;
        out->bytes += g->size;
        if (g->ix.count) {
            if (!out->first_pos)
                out->first_pos = g->ix.first_pos;
            out->last_pos = g->ix.last_pos;
        }
    }
}
