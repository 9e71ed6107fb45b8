/* inspect.c - `tincan inspect DATA`: a read-only health report of the events
 * in a server's data directory (segments, indexes, types, checksums).
 *
 * It reads DATA/events with plain reads: every segment's header, every sealed
 * segment's index, and (unless --quick) every record through scan, decoded and
 * checksummed. It never writes, takes no lock and repairs nothing, so it may
 * run beside a live server; it then reports what the files held when it read
 * them (the open segment up to the size it had when inspect started).
 *
 * Verdicts: damaged data (a bad record, a sealed segment that ends badly, a
 * bad header, an unreadable file) is exit 1. Index trouble (missing, stale,
 * bad, or disagreeing with the segment) is a warning, exit 0: indexes are
 * caches the server rebuilds. A torn tail of the open segment is a note, exit
 * 0: the server cuts it at its next start. Bad usage is exit 2.
 *
 * Not a repair tool (that is tincan-server --repair yes), and it does not
 * decode the bus, queue or lock journals: it only lists DATA's other files. */
#include "cli.h"
#include "inspect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "errors.h"
#include "index.h"
#include "le.h"
#include "scan.h"
#include "segment.h"

#define INSPECT_MAX_INDEX ((uint64_t)1 << 34) /* bytes; larger = bad */
#define INSPECT_PROGRESS_MS 100               /* between progress updates */

/* ---- per-type statistics ---- */

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void tset_rehash(struct inspect_types *s)
{
    free(s->hash);
    s->hcap = s->hcap ? s->hcap * 2 : 16;
    s->hash = xcalloc(s->hcap, sizeof(*s->hash));
    for (size_t i = 0; i < s->n; i++) {
        size_t h = name_hash(s->v[i].name, s->v[i].len) & (s->hcap - 1);
        while (s->hash[h])
            h = (h + 1) & (s->hcap - 1);
        s->hash[h] = (uint32_t)i + 1;
    }
}

/* Adds count events of type name from first to last (position, time) that
 * come after everything added to it before. */
static void tset_add(struct inspect_types *s, const char *name, size_t len,
                     uint64_t count, uint64_t first_pos, uint64_t first_time,
                     uint64_t last_pos, uint64_t last_time)
{
    if ((s->n + 1) * 2 > s->hcap)
        tset_rehash(s);
    size_t h = name_hash(name, len) & (s->hcap - 1);
    while (s->hash[h]) {
        struct inspect_type *t = &s->v[s->hash[h] - 1];
        if (t->len == len && memcmp(t->name, name, len) == 0) {
            t->count += count;
            t->last_pos = last_pos;
            t->last_time = last_time;
            return;
        }
        h = (h + 1) & (s->hcap - 1);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    struct inspect_type *t = &s->v[s->n];
    memset(t, 0, sizeof(*t));
    memcpy(t->name, name, len);
    t->len = (uint8_t)len;
    t->count = count;
    t->first_pos = first_pos;
    t->first_time = first_time;
    t->last_pos = last_pos;
    t->last_time = last_time;
    s->hash[h] = (uint32_t)++s->n;
}

static const struct inspect_type *tset_find(const struct inspect_types *s,
                                            const char *name, size_t len)
{
    if (!s->hcap)
        return NULL;
    size_t h = name_hash(name, len) & (s->hcap - 1);
    while (s->hash[h]) {
        const struct inspect_type *t = &s->v[s->hash[h] - 1];
        if (t->len == len && memcmp(t->name, name, len) == 0)
            return t;
        h = (h + 1) & (s->hcap - 1);
    }
    return NULL;
}

static void tset_free(struct inspect_types *s)
{
    free(s->v);
    free(s->hash);
    memset(s, 0, sizeof(*s));
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 6, 7))) static void
add_problem(struct inspect *in, enum inspect_severity sev, uint64_t segment,
            int has_offset, uint64_t offset, const char *fmt, ...)
{
    if (in->nprobs == in->capprobs) {
        in->capprobs = in->capprobs ? in->capprobs * 2 : 16;
        in->probs = xrealloc(in->probs, in->capprobs * sizeof(*in->probs));
    }
    struct inspect_problem *p = &in->probs[in->nprobs++];
    p->sev = sev;
    p->segment = segment;
    p->has_offset = has_offset;
    p->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof(p->text), fmt, ap);
    va_end(ap);
}

static int read_all(int fd, uint8_t *buf, size_t n, uint64_t off, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = pread(fd, buf + *got, n - *got, (off_t)(off + *got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

/* ---- the directory: segments, quarantined ranges, other files ---- */

static size_t seg_find(const struct inspect *in, uint64_t base)
{
    size_t lo = 0, hi = in->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (in->segs[mid].base < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < in->nsegs && in->segs[lo].base == base ? lo : in->nsegs;
}

static int cmp_quar(const void *a, const void *b)
{
    const struct inspect_quarantined *x = a, *y = b;
    if (x->segment != y->segment)
        return x->segment < y->segment ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_other(const void *a, const void *b)
{
    return strcmp(((const struct inspect_other *)a)->name,
                  ((const struct inspect_other *)b)->name);
}

/* Lists the `<segment>.seg.bad-<offset>` files --repair left. */
static void list_quarantined(struct inspect *in)
{
    DIR *d = opendir(in->evdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strlen(n) < 30 || strncmp(n + 20, ".seg.bad-", 9) != 0)
            continue;
        char *end;
        uint64_t base = strtoull(n, &end, 10);
        if (end != n + 20)
            continue;
        uint64_t off = strtoull(n + 29, &end, 10);
        if (*end || end == n + 29)
            continue;
        if (in->nquar == in->capquar) {
            in->capquar = in->capquar ? in->capquar * 2 : 8;
            in->quar = xrealloc(in->quar, in->capquar * sizeof(*in->quar));
        }
        struct inspect_quarantined *q = &in->quar[in->nquar++];
        snprintf(q->name, sizeof(q->name), "%s", n);
        q->segment = base;
        q->offset = off;
        char path[4400];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", in->evdir, n);
        q->bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    closedir(d);
    if (in->nquar)
        qsort(in->quar, in->nquar, sizeof(*in->quar), cmp_quar);
}

static int is_quarantined(const struct inspect *in, uint64_t segment, uint64_t off)
{
    for (size_t i = 0; i < in->nquar; i++)
        if (in->quar[i].segment == segment && in->quar[i].offset == off)
            return 1;
    return 0;
}

/* Lists DATA's entries besides events/ (the journals), one level deep. */
static void list_others(struct inspect *in)
{
    DIR *d = opendir(in->data);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strcmp(e->d_name, "events"))
            continue;
        char path[4400];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", in->data, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (in->nothers == in->capothers) {
            in->capothers = in->capothers ? in->capothers * 2 : 8;
            in->others = xrealloc(in->others, in->capothers * sizeof(*in->others));
        }
        struct inspect_other *o = &in->others[in->nothers++];
        memset(o, 0, sizeof(*o));
        snprintf(o->name, sizeof(o->name), "%s", e->d_name);
        o->is_dir = S_ISDIR(st.st_mode);
        if (!o->is_dir) {
            o->bytes = (uint64_t)st.st_size;
            o->files = 1;
            continue;
        }
        DIR *sub = opendir(path);
        if (!sub)
            continue;
        struct dirent *f;
        while ((f = readdir(sub))) {
            char fp[4800];
            struct stat fs;
            snprintf(fp, sizeof(fp), "%s/%s", path, f->d_name);
            if (stat(fp, &fs) == 0 && S_ISREG(fs.st_mode)) {
                o->bytes += (uint64_t)fs.st_size;
                o->files++;
            }
        }
        closedir(sub);
    }
    closedir(d);
    if (in->nothers)
        qsort(in->others, in->nothers, sizeof(*in->others), cmp_other);
}

/* ---- headers and indexes ---- */

static void check_header(struct inspect *in, struct inspect_segment *g)
{
    char path[4200], name[32];
    inspect_segment_name(name, g->base);
    snprintf(path, sizeof(path), "%s/%s.seg", in->evdir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g->header_bad = 1;
        add_problem(in, INSPECT_CORRUPT, g->base, 0, 0, "segment %s: open: %s", name,
                    strerror(errno));
        return;
    }
    struct stat st;
    uint8_t hdr[SEGMENT_HEADER_SIZE];
    size_t got = 0;
    int rc = fstat(fd, &st) ? -errno : read_all(fd, hdr, sizeof(hdr), 0, &got);
    close(fd);
    if (rc) {
        g->header_bad = 1;
        add_problem(in, INSPECT_CORRUPT, g->base, 0, 0, "segment %s: read: %s", name,
                    strerror(-rc));
        return;
    }
    g->bytes = (uint64_t)st.st_size;
    uint64_t base = 0;
    if (got == sizeof(hdr) && segment_header_decode(hdr, got, &base) == 0 &&
        base == g->base)
        return;
    if (g->is_open && g->bytes <= SEGMENT_HEADER_SIZE) {
        g->header_bad = 2;
        add_problem(in, INSPECT_NOTE, g->base, 0, 0,
                    "segment %s: torn header (%" PRIu64 " bytes): the server rewrites "
                    "it at its next start",
                    name, g->bytes);
        return;
    }
    g->header_bad = 1;
    add_problem(in, INSPECT_CORRUPT, g->base, 1, 0, "segment %s: bad file header", name);
}

/* Loads a sealed segment's index: ok, missing, stale (it covers other bytes
 * than the segment has) or bad (it does not decode: index_decode's reason). */
static void load_index(struct inspect *in, struct inspect_segment *g)
{
    char path[4200], name[32];
    inspect_segment_name(name, g->base);
    snprintf(path, sizeof(path), "%s/%s.idx", in->evdir, name);
    uint8_t *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g->ix_status = errno == ENOENT ? INSPECT_IX_MISSING : INSPECT_IX_BAD;
        snprintf(g->ix_why, sizeof(g->ix_why), "%s",
                 errno == ENOENT ? "missing" : strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) || st.st_size < 0 || (uint64_t)st.st_size > INSPECT_MAX_INDEX) {
        g->ix_status = INSPECT_IX_BAD;
        snprintf(g->ix_why, sizeof(g->ix_why), "unreadable size");
        goto out_close;
    }
    size_t n = (size_t)st.st_size, got;
    buf = xmalloc(n ? n : 1);
    int rc = read_all(fd, buf, n, 0, &got);
    if (rc || got != n) {
        g->ix_status = INSPECT_IX_BAD;
        snprintf(g->ix_why, sizeof(g->ix_why), "read: %s",
                 rc ? strerror(-rc) : "short read");
        goto out_close;
    }
    /* decode against the size the index says it covers, so that a stale
     * index is told from a bad one */
    uint64_t covers = n >= 68 && !memcmp(buf, INDEX_MAGIC, 8) ? le_get64(buf + 24) : 0;
    index_init(&g->ix, g->base);
    char why[200];
    rc = index_decode(&g->ix, buf, n, covers, why, sizeof(why));
    if (rc) {
        index_deinit(&g->ix);
        g->ix_status = INSPECT_IX_BAD;
        snprintf(g->ix_why, sizeof(g->ix_why), "%s", why);
        goto out_close;
    }
    free(g->ix.sparse); /* not needed: only counts and the type directory */
    g->ix.sparse = NULL;
    g->ix.nsparse = g->ix.capsparse = 0;
    g->ix_loaded = 1;
    if (g->ix.end != g->bytes) {
        g->ix_status = INSPECT_IX_STALE;
        snprintf(g->ix_why, sizeof(g->ix_why),
                 "covers %" PRIu64 " bytes, the segment has %" PRIu64, g->ix.end,
                 g->bytes);
        /* sealed segments never shrink: the bytes the index saw are gone */
        if (g->ix.end > g->bytes)
            add_problem(in, INSPECT_CORRUPT, g->base, 1, g->bytes,
                        "segment %s: %" PRIu64 " bytes shorter than its index says it "
                        "was when sealed (%" PRIu64 " events then): the end was lost",
                        name, g->ix.end - g->bytes, g->ix.count);
    } else {
        g->ix_status = INSPECT_IX_OK;
    }
out_close:
    free(buf);
    close(fd);
}

/* Takes a segment's facts from its (ok) index instead of its records. */
static void facts_from_index(struct inspect_segment *g)
{
    const struct index *ix = &g->ix;
    g->from_index = 1;
    g->events = ix->count;
    g->first_pos = ix->first_pos;
    g->last_pos = ix->last_pos;
    g->first_time = ix->first_time;
    g->last_time = ix->last_time;
    uint64_t span = ix->count ? ix->last_pos - ix->first_pos + 1 : 0;
    g->gaps = span > ix->count ? 1 : 0;
    g->missing = span > ix->count ? span - ix->count : 0;
    g->gaps_exact = !g->gaps;
    /* in position order, so that the store's first/last of each type merge */
    struct index_type **order = xmalloc((ix->ntypes ? ix->ntypes : 1) * sizeof(*order));
    for (size_t i = 0; i < ix->ntypes; i++)
        order[i] = &ix->types[i];
    for (size_t i = 1; i < ix->ntypes; i++)
        for (size_t j = i; j > 0 && order[j]->first_pos < order[j - 1]->first_pos; j--) {
            struct index_type *t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < ix->ntypes; i++)
        tset_add(&g->types, order[i]->name, order[i]->name_len, order[i]->count,
                 order[i]->first_pos, order[i]->first_time, order[i]->last_pos,
                 order[i]->last_time);
    free(order);
}

/* Full scan: does the index of sealed g say what its records say? */
static void compare_index(struct inspect_segment *g)
{
    const struct index *ix = &g->ix;
    char *why = g->ix_why;
    size_t wl = sizeof(g->ix_why);
    if (g->ix_status != INSPECT_IX_OK || g->scan_failed || g->ncorrupt)
        return; /* damaged records: nothing to hold the index against */
    if (ix->count < g->events) {
        g->ix_status = INSPECT_IX_STALE;
        snprintf(why, wl, "covers %" PRIu64 " events, the segment has %" PRIu64,
                 ix->count, g->events);
        return;
    }
    g->ix_status = INSPECT_IX_WRONG;
    if (ix->count != g->events) {
        snprintf(why, wl, "says %" PRIu64 " events, the segment has %" PRIu64,
                 ix->count, g->events);
        return;
    }
    if (g->events && (ix->first_pos != g->first_pos || ix->last_pos != g->last_pos)) {
        snprintf(why, wl,
                 "says positions %" PRIu64 "..%" PRIu64 ", the segment has %" PRIu64
                 "..%" PRIu64,
                 ix->first_pos, ix->last_pos, g->first_pos, g->last_pos);
        return;
    }
    if (g->events &&
        (ix->first_time != g->first_time || ix->last_time != g->last_time)) {
        snprintf(why, wl, "says other first/last times than the segment's records");
        return;
    }
    if (ix->ntypes != g->types.n) {
        snprintf(why, wl, "lists %zu types, the segment has %zu", ix->ntypes,
                 g->types.n);
        return;
    }
    for (size_t i = 0; i < ix->ntypes; i++) {
        const struct index_type *t = &ix->types[i];
        const struct inspect_type *s = tset_find(&g->types, t->name, t->name_len);
        if (!s) {
            snprintf(why, wl, "lists type '%s', which the segment does not have",
                     t->name);
            return;
        }
        if (s->count != t->count || s->first_pos != t->first_pos ||
            s->last_pos != t->last_pos || s->first_time != t->first_time ||
            s->last_time != t->last_time) {
            snprintf(why, wl,
                     "type '%s': says %" PRIu64 " events at %" PRIu64 "..%" PRIu64
                     ", the segment has %" PRIu64 " at %" PRIu64 "..%" PRIu64,
                     t->name, t->count, t->first_pos, t->last_pos, s->count,
                     s->first_pos, s->last_pos);
            return;
        }
    }
    g->ix_status = INSPECT_IX_OK;
}

/* ---- the record scan ---- */

static void progress(struct inspect *in, const struct inspect_segment *g, uint64_t off,
                     int last)
{
    if (!in->progress)
        return;
    uint64_t now = mono_ms();
    if (!last && now - in->tlast < INSPECT_PROGRESS_MS)
        return;
    in->tlast = now;
    if (last) {
        if (in->progress_shown)
            fputs("\r\033[K", stderr);
        return;
    }
    uint64_t done = g->done_before + off;
    double secs = (double)(now - in->t0) / 1000.0;
    double mb = (double)done / 1e6;
    fprintf(stderr, "\r\033[Kinspect: checking %.1f / %.1f MB (%.0f%%), %.1f MB/s", mb,
            (double)in->scan_total / 1e6,
            in->scan_total ? 100.0 * (double)done / (double)in->scan_total : 100.0,
            secs > 0 ? mb / secs : 0.0);
    in->progress_shown = 1;
}

/* A range of a segment that holds no good record: damage, or a range that
 * --repair quarantined (and the server skips). */
static void bad_range(struct inspect *in, struct inspect_segment *g, uint64_t from,
                      uint64_t to, const char *how)
{
    char name[32];
    inspect_segment_name(name, g->base);
    g->nbad++;
    if (is_quarantined(in, g->base, from)) {
        add_problem(in, INSPECT_WARN, g->base, 1, from,
                    "segment %s: %" PRIu64 " bad bytes at offset %" PRIu64
                    " were quarantined by --repair (into %s.seg.bad-%" PRIu64
                    "); the server skips them",
                    name, to - from, from, name, from);
        return;
    }
    g->ncorrupt++;
    add_problem(in, INSPECT_CORRUPT, g->base, 1, from,
                "segment %s: bad record at offset %" PRIu64 " (%s): %" PRIu64
                " bytes hold no good record",
                name, from, how, to - from);
}

static void add_record(struct inspect *in, struct inspect_segment *g,
                       const struct segment_record *r, const struct scan_where *w)
{
    if (w->offset != g->end)
        bad_range(in, g, g->end, w->offset, "crc mismatch or bad frame");
    g->end = w->offset + w->size;
    if (!g->events) {
        g->first_pos = r->position;
        g->first_time = r->time_ms;
    } else if (r->position != g->last_pos + 1) {
        g->gaps++;
        g->missing += r->position - g->last_pos - 1;
    }
    g->events++;
    g->last_pos = r->position;
    g->last_time = r->time_ms;
    tset_add(&g->types, r->type, r->type_len, 1, r->position, r->time_ms,
             r->position, r->time_ms);
    in->records++;
    in->scanned_bytes += w->size;
}

/* The scan is done with g: what follows its last good record? */
static void finish_segment(struct inspect *in, struct inspect_segment *g)
{
    if (g->header_bad || g->scan_failed || g->scanned)
        return;
    g->scanned = 1;
    char name[32];
    inspect_segment_name(name, g->base);
    if (g->end >= g->bytes)
        return;
    if (!g->is_open) {
        /* sealing trims a segment to its last record */
        bad_range(in, g, g->end, g->bytes, "sealed segment ends badly");
        return;
    }
    /* the open segment: zeros written ahead, or a torn write */
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.seg", in->evdir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        add_problem(in, INSPECT_CORRUPT, g->base, 0, 0, "segment %s: open: %s", name,
                    strerror(errno));
        return;
    }
    uint8_t buf[64 * 1024];
    uint64_t torn = 0;
    for (uint64_t off = g->end; off < g->bytes;) {
        size_t k = g->bytes - off < sizeof(buf) ? (size_t)(g->bytes - off) : sizeof(buf);
        size_t got;
        int rc = read_all(fd, buf, k, off, &got);
        if (rc) {
            add_problem(in, INSPECT_CORRUPT, g->base, 1, off,
                        "segment %s: read at %" PRIu64 ": %s", name, off, strerror(-rc));
            break;
        }
        for (size_t i = got; i > 0; i--)
            if (buf[i - 1]) {
                torn = off + i - g->end;
                break;
            }
        if (got < k)
            break;
        off += got;
    }
    close(fd);
    g->torn = torn;
    g->zeros = g->bytes - g->end - torn;
    if (torn)
        add_problem(in, INSPECT_NOTE, g->base, 1, g->end,
                    "segment %s: torn tail %" PRIu64 " bytes at offset %" PRIu64
                    " (the server cuts it at its next start)",
                    name, torn, g->end);
}

static void finish_range(struct inspect *in, size_t from, size_t to)
{
    for (size_t k = from; k < to && k < in->nsegs; k++)
        if (in->segs[k].want_scan)
            finish_segment(in, &in->segs[k]);
}

static size_t next_wanted(const struct inspect *in, size_t i)
{
    while (i < in->nsegs && !in->segs[i].want_scan)
        i++;
    return i;
}

/* The segment a scan error names ("segment NNN...: ..." or "open .../NNN.seg:
 * ..."), else cur. */
static size_t failing_segment(const struct inspect *in, const char *err, size_t cur)
{
    const char *p = strstr(err, ".seg");
    uint64_t base;
    if (p && p - err >= 20 && sscanf(p - 20, "%20" SCNu64, &base) == 1) {
        size_t k = seg_find(in, base);
        if (k < in->nsegs && k >= cur)
            return k;
    }
    if (sscanf(err, "segment %20" SCNu64, &base) == 1) {
        size_t k = seg_find(in, base);
        if (k < in->nsegs && k >= cur)
            return k;
    }
    return cur;
}

/* Reads every wanted segment record by record, in order: one scan while the
 * wanted segments follow each other, a new one after a segment it could not
 * get through (bad header, positions out of order). */
static void scan_all(struct inspect *in)
{
    in->t0 = in->tlast = mono_ms();
    size_t i = next_wanted(in, 0);
    while (i < in->nsegs) {
        struct scan *sc;
        char err[512];
        int rc = scan_open(&sc, in->evdir, in->segs[i].base, SCAN_SKIP_CORRUPT, err,
                           sizeof(err));
        if (rc) {
            in->unreadable = 1;
            snprintf(in->unreadable_why, sizeof(in->unreadable_why), "%s", err);
            return;
        }
        size_t cur = i, resume = in->nsegs;
        for (;;) {
            struct segment_record r;
            struct scan_where w;
            rc = scan_next(sc, &r, &w, err, sizeof(err));
            if (rc == 1) {
                size_t k =
                    w.segment == in->segs[cur].base ? cur : seg_find(in, w.segment);
                if (k == in->nsegs || k < cur) { /* born after the listing */
                    finish_range(in, cur, in->nsegs);
                    break;
                }
                if (k != cur) {
                    finish_range(in, cur, k);
                    if (!in->segs[k].want_scan) {
                        resume = next_wanted(in, k);
                        break;
                    }
                    cur = k;
                }
                struct inspect_segment *g = &in->segs[cur];
                if (g->is_open && w.offset >= g->bytes) { /* after we started */
                    finish_range(in, cur, in->nsegs);
                    break;
                }
                add_record(in, g, &r, &w);
                if ((++in->tick & 15) == 0)
                    progress(in, g, g->end, 0);
                continue;
            }
            if (rc == 0) {
                finish_range(in, cur, in->nsegs);
                break;
            }
            size_t f = failing_segment(in, err, cur);
            finish_range(in, cur, f);
            struct inspect_segment *g = &in->segs[f];
            if (!g->header_bad && !g->scanned) {
                g->scan_failed = 1;
                add_problem(in, INSPECT_CORRUPT, g->base, 0, 0,
                            "%s (the scan of this segment stopped here)", err);
            }
            resume = next_wanted(in, f + 1);
            break;
        }
        scan_close(sc);
        i = resume;
    }
    progress(in, &in->segs[0], 0, 1);
}

/* ---- putting it together ---- */

static void gather(struct inspect *in)
{
    struct stat st;
    int rc = stat(in->data, &st) ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (rc) {
        in->unreadable = 1;
        snprintf(in->unreadable_why, sizeof(in->unreadable_why), "%s: %s", in->data,
                 strerror(-rc));
        return;
    }
    size_t n = strlen(in->data);
    while (n > 0 && in->data[n - 1] == '/')
        n--; /* "data/" reads as "data" */
    snprintf(in->evdir, sizeof(in->evdir), "%.*s/events", (int)n, in->data);
    uint64_t *bases = NULL;
    char err[600];
    if (scan_list_segments(in->evdir, &bases, &in->nsegs, err, sizeof(err))) {
        in->unreadable = 1;
        snprintf(in->unreadable_why, sizeof(in->unreadable_why),
                 "%s: no readable events directory (%s); is it a tincan-server --dir?",
                 in->data, err);
        return;
    }
    in->segs = xcalloc(in->nsegs ? in->nsegs : 1, sizeof(*in->segs));
    for (size_t i = 0; i < in->nsegs; i++) {
        struct inspect_segment *g = &in->segs[i];
        g->base = bases[i];
        g->is_open = i + 1 == in->nsegs;
        g->end = SEGMENT_HEADER_SIZE;
        g->gaps_exact = 1;
        g->ix.fd = -1;
    }
    free(bases);
    list_quarantined(in);
    list_others(in);
    for (size_t i = 0; i < in->nsegs; i++) {
        struct inspect_segment *g = &in->segs[i];
        check_header(in, g);
        if (!g->is_open && g->header_bad != 1)
            load_index(in, g);
        else
            g->ix_status = INSPECT_IX_NONE;
        g->want_scan = !g->header_bad && (!in->quick || g->ix_status != INSPECT_IX_OK);
        if (!g->want_scan && g->ix_status == INSPECT_IX_OK)
            facts_from_index(g);
        if (g->want_scan) {
            g->done_before = in->scan_total;
            in->scan_total += g->bytes;
        }
    }
    scan_all(in);
    for (size_t i = 0; i < in->nsegs; i++) {
        struct inspect_segment *g = &in->segs[i];
        if (g->want_scan && g->ix_loaded)
            compare_index(g);
        char name[32];
        inspect_segment_name(name, g->base);
        if (g->ix_status != INSPECT_IX_OK && g->ix_status != INSPECT_IX_NONE)
            add_problem(in, INSPECT_WARN, g->base, 0, 0,
                        "segment %s: index %s%s%s (a cache: the server rebuilds it%s)",
                        name, inspect_index_name(g->ix_status),
                        g->ix_status == INSPECT_IX_MISSING ? "" : ": ",
                        g->ix_status == INSPECT_IX_MISSING ? "" : g->ix_why,
                        g->ix_status == INSPECT_IX_WRONG
                            ? " only when it does not load, so delete the .idx file"
                            : " at its next start");
    }
    /* worst first, then by place; stable (insertion: problems are few) */
    for (size_t i = 1; i < in->nprobs; i++) {
        struct inspect_problem p = in->probs[i];
        size_t j = i;
        for (; j > 0; j--) {
            const struct inspect_problem *q = &in->probs[j - 1];
            if (q->sev > p.sev || (q->sev == p.sev && q->segment <= p.segment))
                break;
            in->probs[j] = in->probs[j - 1];
        }
        in->probs[j] = p;
    }
    /* store-wide types, in segment order */
    for (size_t i = 0; i < in->nsegs; i++) {
        struct inspect_segment *g = &in->segs[i];
        for (size_t k = 0; k < g->types.n; k++) {
            const struct inspect_type *t = &g->types.v[k];
            tset_add(&in->types, t->name, t->len, t->count, t->first_pos,
                     t->first_time, t->last_pos, t->last_time);
        }
    }
}

static void sum_totals(const struct inspect *in, struct inspect_totals *t)
{
    memset(t, 0, sizeof(*t));
    t->gaps_exact = 1;
    uint64_t prev = 0;
    for (size_t i = 0; i < in->nsegs; i++) {
        const struct inspect_segment *g = &in->segs[i];
        t->segments++;
        t->sealed += !g->is_open;
        t->bytes += g->bytes;
        if (!g->events)
            continue;
        if (!t->events) {
            t->first_pos = g->first_pos;
            t->first_time = g->first_time;
        }
        t->events += g->events;
        t->last_pos = g->last_pos;
        t->last_time = g->last_time;
        if (prev && g->first_pos != prev + 1) {
            t->gaps++;
            t->missing += g->first_pos > prev ? g->first_pos - prev - 1 : 0;
        }
        t->gaps += g->gaps;
        t->missing += g->missing;
        t->gaps_exact &= g->gaps_exact;
        prev = g->last_pos;
    }
    for (size_t i = 0; i < in->nprobs; i++) {
        t->corrupt += in->probs[i].sev == INSPECT_CORRUPT;
        t->warnings += in->probs[i].sev == INSPECT_WARN;
        t->notes += in->probs[i].sev == INSPECT_NOTE;
    }
}

static void inspect_free(struct inspect *in)
{
    for (size_t i = 0; i < in->nsegs; i++) {
        tset_free(&in->segs[i].types);
        if (in->segs[i].ix_loaded)
            index_deinit(&in->segs[i].ix);
    }
    free(in->segs);
    free(in->probs);
    free(in->quar);
    free(in->others);
    tset_free(&in->types);
}

static int bad_usage(void)
{
    fprintf(stderr, "usage: tincan inspect DATA [--json] [--quick]  (--help for more)\n");
    return 2;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tincan inspect DATA [--json] [--quick]\n"
            "\n"
            "Reports on the events in DATA (a tincan-server --dir): segments, indexes,\n"
            "types, positions and times, and checks every record's checksum. Read-only:\n"
            "safe on a running server's data.\n"
            "\n"
            "  --json   one JSON document instead of the text report\n"
            "  --quick  headers and indexes only; records are read only in segments\n"
            "           without a usable index (the open one, missing/stale/bad .idx)\n"
            "  --help   this text\n"
            "\n"
            "exit status: 0 healthy (index warnings and a torn tail included),\n"
            "             1 corrupt or unreadable data, 2 bad usage\n");
}

int cli_inspect(int argc, char **argv)
{
    struct inspect in;
    memset(&in, 0, sizeof(in));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            in.json = 1;
        } else if (!strcmp(a, "--quick")) {
            in.quick = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc && !in.data)
                in.data = argv[++i];
            if (i + 1 < argc) {
                fprintf(stderr, "tincan inspect: too many arguments\n");
                return bad_usage();
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "tincan inspect: unknown option '%s'\n", a);
            return bad_usage();
        } else if (in.data) {
            fprintf(stderr, "tincan inspect: one DATA directory only ('%s')\n", a);
            return bad_usage();
        } else {
            in.data = a;
        }
    }
    if (!in.data) {
        fprintf(stderr, "tincan inspect: missing DATA (a tincan-server --dir)\n");
        return bad_usage();
    }
    in.progress = isatty(STDERR_FILENO);
    gather(&in);
    if (in.unreadable) {
        fprintf(stderr, "tincan inspect: %s\n", in.unreadable_why);
        if (in.json)
            inspect_print_json(&in, NULL, stdout);
        inspect_free(&in);
        return 1;
    }
    struct inspect_totals t;
    sum_totals(&in, &t);
    if (in.json)
        inspect_print_json(&in, &t, stdout);
    else
        inspect_print_text(&in, &t, stdout);
    fflush(stdout);
    inspect_free(&in);
    return t.corrupt ? 1 : 0;
}
