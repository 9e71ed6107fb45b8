#include "index.h"

#include "common.h"
#include "crc32c.h"
#include "errors.h"
#include "fsx.h"
#include "le.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 64u
#define SPARSE_SZ 24u
#define TYPE_FIXED 64u

void index_init(struct index *ix, uint64_t base)
{
    memset(ix, 0, sizeof(*ix));
    ix->base = base;
    ix->end = SEGMENT_HEADER_SIZE;
    ix->fd = -1;
    ix->ids_known = 1; /* index_add counts them from here */
}

/* Blocks of one type's postings read from a sealed segment's file, aligned
 * to WIN_POSTINGS; the least recently used of WIN_SLOTS is replaced. */
#define WIN_POSTINGS 256
#define WIN_SLOTS 4

struct index_window {
    struct {
        const struct index_type *t; /* NULL: empty */
        uint64_t i0;                /* first posting held */
        uint32_t n;                 /* postings held */
        uint32_t used;              /* clock of the last use */
        uint32_t before;            /* rel of posting i0 - 1 (i0 > 0) */
        struct index_posting p[WIN_POSTINGS];
    } b[WIN_SLOTS];
    uint32_t clock;
};

void index_deinit(struct index *ix)
{
    free(ix->win);
    for (size_t i = 0; i < ix->ntypes; i++)
        free(ix->types[i].post);
    free(ix->types);
    free(ix->sparse);
    if (ix->fd >= 0)
        fsx_close(ix->fd);
    memset(ix, 0, sizeof(*ix));
    ix->fd = -1;
}

struct index_type *index_type_find(const struct index *ix, const char *t, size_t n)
{
    for (size_t i = 0; i < ix->ntypes; i++)
        if (ix->types[i].name_len == n && memcmp(ix->types[i].name, t, n) == 0)
            return &ix->types[i];
    return NULL;
}

void index_add(struct index *ix, const struct segment_record *r, uint32_t offset,
               uint32_t size)
{
    if (ix->count % INDEX_SPARSE_EVERY == 0 || ix->sparse_next) {
        ix->sparse_next = 0;
        if (ix->nsparse == ix->capsparse) {
            ix->capsparse = ix->capsparse ? ix->capsparse * 2 : 64;
            ix->sparse = xrealloc(ix->sparse, ix->capsparse * sizeof(*ix->sparse));
        }
        ix->sparse[ix->nsparse++] =
            (struct index_sparse){r->position, r->time_ms, offset};
    }
    if (!ix->count) {
        ix->first_pos = r->position;
        ix->first_time = r->time_ms;
    }
    ix->count++;
    ix->ids += r->id_len > 0;
    ix->last_pos = r->position;
    ix->last_time = r->time_ms;
    ix->end = (uint64_t)offset + size;
    struct index_type *t = index_type_find(ix, r->type, r->type_len);
    if (!t) {
        if (ix->ntypes == ix->captypes) {
            ix->captypes = ix->captypes ? ix->captypes * 2 : 8;
            ix->types = xrealloc(ix->types, ix->captypes * sizeof(*ix->types));
        }
        t = &ix->types[ix->ntypes++];
        memset(t, 0, sizeof(*t));
        memcpy(t->name, r->type, r->type_len);
        t->name_len = (uint8_t)r->type_len;
        t->first_pos = r->position;
        t->first_time = r->time_ms;
    }
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->post = xrealloc(t->post, t->cap * sizeof(*t->post));
    }
    t->post[t->count++] =
        (struct index_posting){(uint32_t)(r->position - ix->base), offset};
    t->last_pos = r->position;
    t->last_time = r->time_ms;
    t->last_seq = r->entry_seq;
}

void index_encode(const struct index *ix, uint8_t **out, size_t *len)
{
    size_t n = HDR + ix->nsparse * SPARSE_SZ;
    for (size_t i = 0; i < ix->ntypes; i++)
        n += TYPE_FIXED + ix->types[i].name_len + ix->types[i].count * 8;
    n += 4;
    uint8_t *p = xcalloc(1, n);
    memcpy(p, INDEX_MAGIC, 8);
    le_put32(p + 8, INDEX_VERSION);
    le_put64(p + 16, ix->base);
    le_put64(p + 24, ix->end);
    le_put64(p + 32, ix->count);
    le_put64(p + 40, ix->nsparse);
    le_put64(p + 48, ix->ntypes);
    le_put64(p + 56, ix->ids_known ? 1ull << 63 | ix->ids : 0);
    size_t o = HDR;
    for (size_t i = 0; i < ix->nsparse; i++, o += SPARSE_SZ) {
        le_put64(p + o, ix->sparse[i].position);
        le_put64(p + o + 8, ix->sparse[i].time_ms);
        le_put32(p + o + 16, ix->sparse[i].offset);
    }
    size_t post = o;
    for (size_t i = 0; i < ix->ntypes; i++)
        post += TYPE_FIXED + ix->types[i].name_len;
    for (size_t i = 0; i < ix->ntypes; i++) {
        const struct index_type *t = &ix->types[i];
        p[o] = t->name_len;
        le_put64(p + o + 8, t->count);
        le_put64(p + o + 16, t->first_pos);
        le_put64(p + o + 24, t->last_pos);
        le_put64(p + o + 32, t->first_time);
        le_put64(p + o + 40, t->last_time);
        le_put64(p + o + 48, t->last_seq);
        le_put64(p + o + 56, post);
        memcpy(p + o + TYPE_FIXED, t->name, t->name_len);
        o += TYPE_FIXED + t->name_len;
        for (uint64_t k = 0; k < t->count; k++, post += 8) {
            le_put32(p + post, t->post[k].rel);
            le_put32(p + post + 4, t->post[k].offset);
        }
    }
    le_put32(p + n - 4, crc32c(0, p, n - 4));
    *out = p;
    *len = n;
}

int index_save(const struct index *ix, const char *dir, const char *name)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    uint8_t *buf;
    size_t len;
    index_encode(ix, &buf, &len);
    int rc = 0;
    int fd = fsx_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = fd;
        goto out_free;
    }
    rc = fsx_write_all(fd, buf, len);
    if (!rc)
        rc = fsx_fsync(fd);
    int crc = fsx_close(fd);
    if (!rc)
        rc = crc;
    if (!rc)
        rc = fsx_rename(tmp, path);
    if (!rc)
        rc = fsx_fsync_dir(dir);
    if (rc)
        fsx_unlink(tmp);
out_free:
    free(buf);
    return rc;
}

static int bad(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return ERR_CORRUPT;
}

int index_decode(struct index *ix, const uint8_t *p, size_t n, uint64_t seg_size,
                 char *err, size_t errlen)
{
    if (n < HDR + 4 || memcmp(p, INDEX_MAGIC, 8) != 0)
        return bad(err, errlen, "bad magic or too short");
    if (le_get32(p + 8) != INDEX_VERSION)
        return bad(err, errlen, "unknown version");
    if (le_get32(p + n - 4) != crc32c(0, p, n - 4))
        return bad(err, errlen, "checksum mismatch");
    if (le_get64(p + 16) != ix->base)
        return bad(err, errlen, "base position does not match the segment");
    uint64_t end = le_get64(p + 24);
    if (end != seg_size)
        return bad(err, errlen, "stale: segment size differs");
    uint64_t count = le_get64(p + 32);
    uint64_t nsparse = le_get64(p + 40);
    uint64_t ntypes = le_get64(p + 48);
    uint64_t ids = le_get64(p + 56);
    ix->ids_known = (int)(ids >> 63);
    ix->ids = ids & ~(1ull << 63);
    size_t body = n - 4;
    if (nsparse > (body - HDR) / SPARSE_SZ || ntypes > body / TYPE_FIXED ||
        count > body / 8)
        return bad(err, errlen, "counts exceed the file");
    size_t o = HDR;
    ix->sparse = xmalloc((nsparse ? nsparse : 1) * sizeof(*ix->sparse));
    ix->nsparse = ix->capsparse = nsparse;
    uint64_t prev = 0;
    for (size_t i = 0; i < nsparse; i++, o += SPARSE_SZ) {
        struct index_sparse *s = &ix->sparse[i];
        s->position = le_get64(p + o);
        s->time_ms = le_get64(p + o + 8);
        s->offset = le_get32(p + o + 16);
        if (s->position <= prev || s->position < ix->base ||
            s->offset < SEGMENT_HEADER_SIZE || s->offset >= end)
            return bad(err, errlen, "sparse entry out of order");
        prev = s->position;
    }
    ix->types = xcalloc(ntypes ? ntypes : 1, sizeof(*ix->types));
    ix->captypes = ntypes;
    uint64_t total = 0;
    for (size_t i = 0; i < ntypes; i++) {
        if (body - o < TYPE_FIXED)
            return bad(err, errlen, "type directory truncated");
        struct index_type *t = &ix->types[i];
        t->name_len = p[o];
        t->count = le_get64(p + o + 8);
        t->first_pos = le_get64(p + o + 16);
        t->last_pos = le_get64(p + o + 24);
        t->first_time = le_get64(p + o + 32);
        t->last_time = le_get64(p + o + 40);
        t->last_seq = le_get64(p + o + 48);
        t->file_off = le_get64(p + o + 56);
        o += TYPE_FIXED;
        if (t->name_len == 0 || body - o < t->name_len)
            return bad(err, errlen, "type name truncated");
        memcpy(t->name, p + o, t->name_len);
        o += t->name_len;
        ix->ntypes++;
        if (t->count == 0 || t->count > count || t->file_off > body ||
            (body - t->file_off) / 8 < t->count || t->first_pos > t->last_pos)
            return bad(err, errlen, "type postings out of range");
        total += t->count;
    }
    if (total != count)
        return bad(err, errlen, "type counts do not add up");
    ix->count = count;
    ix->end = end;
    if (count) {
        if (!nsparse)
            return bad(err, errlen, "no sparse entries");
        ix->first_pos = ix->sparse[0].position;
        ix->first_time = ix->sparse[0].time_ms;
        ix->last_pos = 0;
        for (size_t i = 0; i < ntypes; i++) {
            if (ix->types[i].last_pos > ix->last_pos) {
                ix->last_pos = ix->types[i].last_pos;
                ix->last_time = ix->types[i].last_time;
            }
        }
    }
    return 0;
}

int index_load(struct index *ix, const char *path, uint64_t seg_size, char *err,
               size_t errlen)
{
    int fd = fsx_open(path, O_RDONLY, 0);
    if (fd == -ENOENT) {
        snprintf(err, errlen, "missing");
        return ERR_NOTFOUND;
    }
    if (fd < 0) {
        snprintf(err, errlen, "open: %s", strerror(-fd));
        return ERR_IO;
    }
    off_t size = fsx_size(fd);
    int rc;
    if (size < 0 || size > (off_t)1 << 34) {
        rc = bad(err, errlen, "unreadable size");
        goto err_close;
    }
    uint8_t *buf = xmalloc((size_t)size + 1);
    rc = fsx_pread_all(fd, buf, (size_t)size, 0);
    if (rc) {
        snprintf(err, errlen, "read: %s", strerror(-rc));
        rc = ERR_IO;
    } else {
        rc = index_decode(ix, buf, (size_t)size, seg_size, err, errlen);
    }
    free(buf);
    if (rc)
        goto err_close;
    ix->fd = fd;
    ix->win = xcalloc(1, sizeof(*ix->win));
    return 0;
err_close:
    fsx_close(fd);
    return rc;
}

static int read_postings(const struct index *ix, const struct index_type *t, uint64_t i,
                         size_t n, struct index_posting *out)
{
    uint8_t raw[8 * (WIN_POSTINGS + 1)]; /* a block and the posting before it */
    while (n) {
        size_t k = n < WIN_POSTINGS + 1 ? n : WIN_POSTINGS + 1;
        int rc = fsx_pread_all(ix->fd, raw, k * 8, (off_t)(t->file_off + i * 8));
        if (rc)
            return rc;
        for (size_t j = 0; j < k; j++) {
            out[j].rel = le_get32(raw + j * 8);
            out[j].offset = le_get32(raw + j * 8 + 4);
        }
        out += k;
        i += k;
        n -= k;
    }
    return 0;
}

/* The slot of the block of t's postings holding posting i (i < t->count),
 * read if it is not held; 0 or the read's error. */
static int block_of(const struct index *ix, const struct index_type *t, uint64_t i,
                    unsigned *slot)
{
    struct index_window *w = ix->win;
    uint64_t i0 = i - i % WIN_POSTINGS;
    unsigned old = 0;
    for (unsigned k = 0; k < WIN_SLOTS; k++) {
        if (w->b[k].t == t && w->b[k].i0 == i0) {
            w->b[k].used = ++w->clock;
            *slot = k;
            return 0;
        }
        if (w->b[k].used < w->b[old].used)
            old = k;
    }
    uint32_t n = (uint32_t)(t->count - i0 < WIN_POSTINGS ? t->count - i0 : WIN_POSTINGS);
    w->b[old].t = NULL;
    /* with the posting before the block: whether a rel below the block's
     * first is answered by it (the one before is below rel) */
    struct index_posting buf[WIN_POSTINGS + 1];
    int rc = read_postings(ix, t, i0 ? i0 - 1 : 0, n + (i0 > 0), buf);
    if (rc)
        return rc;
    memcpy(w->b[old].p, buf + (i0 > 0), n * sizeof(*buf));
    w->b[old].before = i0 ? buf[0].rel : 0;
    w->b[old].t = t;
    w->b[old].i0 = i0;
    w->b[old].n = n;
    w->b[old].used = ++w->clock;
    *slot = old;
    return 0;
}

int index_postings(const struct index *ix, const struct index_type *t, uint64_t i,
                   size_t n, struct index_posting *out)
{
    if (i + n > t->count)
        return ERR_CORRUPT;
    if (t->post) {
        memcpy(out, t->post + i, n * sizeof(*out));
        return 0;
    }
    if (n == 1 && ix->win) {
        unsigned k;
        int rc = block_of(ix, t, i, &k);
        if (!rc)
            *out = ix->win->b[k].p[i - ix->win->b[k].i0];
        return rc;
    }
    return read_postings(ix, t, i, n, out);
}

/* First i in [lo, hi) of p with p[i].rel >= rel (hi if none). */
static uint64_t lower_in(const struct index_posting *p, uint64_t lo, uint64_t hi,
                         uint32_t rel)
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (p[mid].rel < rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether block k of w answers the lower bound of rel in t: 0 with *i; 1 if
 * the answer lies after it (the block is wholly below rel); -1 if it is not
 * t's or the answer lies before it. */
static int block_answers(struct index_window *w, unsigned k, const struct index_type *t,
                         uint32_t rel, uint64_t *i)
{
    if (w->b[k].t != t || !w->b[k].n)
        return -1;
    uint64_t i0 = w->b[k].i0, n = w->b[k].n;
    if (i0 > 0 && rel <= w->b[k].before)
        return -1;
    if (rel > w->b[k].p[n - 1].rel && i0 + n < t->count)
        return 1;
    w->b[k].used = ++w->clock;
    *i = i0 + lower_in(w->b[k].p, 0, n, rel);
    return 0;
}

int index_postings_lower(const struct index *ix, const struct index_type *t,
                         uint32_t rel, uint64_t *i)
{
    if (t->post) {
        *i = lower_in(t->post, 0, t->count, rel);
        return 0;
    }
    if (!t->count) {
        *i = 0;
        return 0;
    }
    struct index_window *w = ix->win;
    if (w) {
        /* a block of t already held that answers it, else the block after
         * the nearest one wholly below rel (one read: a walk forward) */
        int below = -1;
        for (unsigned k = 0; k < WIN_SLOTS; k++) {
            int at = block_answers(w, k, t, rel, i);
            if (at == 0)
                return 0;
            if (at > 0 && (below < 0 || w->b[below].i0 < w->b[k].i0))
                below = (int)k;
        }
        if (below >= 0) {
            unsigned next;
            int rc = block_of(ix, t, w->b[below].i0 + w->b[below].n, &next);
            if (rc)
                return rc;
            if (block_answers(w, next, t, rel, i) == 0)
                return 0;
        }
    }
    uint64_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        struct index_posting p;
        int rc = read_postings(ix, t, mid, 1, &p);
        if (rc)
            return rc;
        if (p.rel < rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    *i = lo;
    if (w && lo < t->count) { /* hold its block for the next call */
        unsigned k;
        return block_of(ix, t, lo, &k);
    }
    return 0;
}

uint32_t index_offset_before(const struct index *ix, uint64_t pos)
{
    size_t lo = 0, hi = ix->nsparse; /* first entry with position > pos */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->sparse[mid].position <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? ix->sparse[lo - 1].offset : SEGMENT_HEADER_SIZE;
}

uint64_t index_pos_for_time(const struct index *ix, uint64_t t)
{
    size_t lo = 0, hi = ix->nsparse; /* first entry with time >= t */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->sparse[mid].time_ms < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? ix->sparse[lo - 1].position : ix->base;
}

uint64_t index_pos_until_time(const struct index *ix, uint64_t t)
{
    size_t lo = 0, hi = ix->nsparse; /* first entry with time > t */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->sparse[mid].time_ms <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == ix->nsparse)
        return UINT64_MAX;
    return ix->sparse[lo].position ? ix->sparse[lo].position - 1 : 0;
}
