/* cmd_entity.c - the per-entity view of the event store: EV.KEY, snapshots
 * (EV.SNAPSHOT, EV.SNAPSHOTS), drift checks (EV.DIGEST) and schedules
 * (EV.SCHEDULE, EV.SCHEDULES).
 *
 * Versions themselves are the store's (keytab.h: every keyed event gets its
 * key's next version, EV.PUB ... EXPECT checks it). This file reads them:
 *   - a snapshot walks the key table once. A key whose latest event matches
 *     is taken as it is; otherwise the key's earlier events are followed
 *     through the previous-position chain in their records until one
 *     matches. Taking it costs O(keys) in memory, plus one read per step
 *     back; the file (snapshot.h) is written before the reply, and with
 *     an archive target the snapshot is queued for its Parquet export
 *     (archive_snapshot.h: a thread of its own, never the loop);
 *   - EV.SUB ... FROM SNAPSHOT (cmd_bus.c) asks entity_snapshot_find for the
 *     positions;
 *   - EV.DIGEST reads the events of the range, O(events).
 * Everything runs on the loop thread and blocks it for that long: these
 * are rare, operator-scale commands (docs/entity.md gives the costs). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>

#include "archive_snapshot.h"
#include "clock.h"
#include "cmd_bus.h"
#include "cmd_entity.h"
#include "cmd_store.h"
#include "cmd_timer.h"
#include "cmd_types.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "fsx.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "schedule.h"
#include "sbuf.h"
#include "snapshot.h"
#include "store.h"
#include "topic.h"

static char snap_dir[4200];
static struct snap **snaps; /* sorted by name */
static size_t nsnaps, capsnaps;

/* ---- the snapshot set ---- */

static size_t snap_index(const char *name, size_t len, int *found)
{
    size_t lo = 0, hi = nsnaps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct snap *sn = snaps[mid];
        size_t m = sn->name_len < len ? sn->name_len : len;
        int c = memcmp(sn->name, name, m);
        if (c == 0)
            c = sn->name_len < len ? -1 : sn->name_len > len;
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

const struct snap *entity_snapshot_find(const char *name, size_t len)
{
    int found;
    size_t i = snap_index(name, len, &found);
    return found ? snaps[i] : NULL;
}

/* Puts sn in the set, replacing one of the same name. */
static void snap_put(struct snap *sn)
{
    int found;
    size_t i = snap_index(sn->name, sn->name_len, &found);
    if (found) {
        snap_free(snaps[i]);
        snaps[i] = sn;
        return;
    }
    if (nsnaps == capsnaps) {
        capsnaps = capsnaps ? capsnaps * 2 : 8;
        snaps = xrealloc(snaps, capsnaps * sizeof(*snaps));
    }
    memmove(&snaps[i + 1], &snaps[i], (nsnaps - i) * sizeof(*snaps));
    snaps[i] = sn;
    nsnaps++;
}

static void snap_path(char *out, size_t n, const char *name, size_t len)
{
    snprintf(out, n, "%s/%.*s.snap", snap_dir, (int)len, name);
}

/* ---- taking a snapshot ---- */

/* What a snapshot walk knows: the types seen so far (the store's names, stable
 * during the walk) with whether they match, and the chosen events. */
struct walk {
    struct store *st;
    const char *pat;
    size_t plen;
    int state;
    uint64_t upto;          /* P */
    const char **tname;     /* distinct types seen, by the store's pointer */
    uint8_t *tlen;
    int8_t *tmatch;
    uint32_t nt, ct;
    struct pick { uint64_t pos; uint32_t type; } *picks;
    size_t n, cap;
    uint8_t *buf;           /* store_get's buffer */
    size_t bcap;
    uint64_t steps;         /* records read following chains */
    int rc;
};

static int type_matches(const struct walk *w, const char *t, size_t n)
{
    if (!topic_match(w->pat, w->plen, t, n))
        return 0;
    struct types_view v;
    return !w->state || (types_view(t, n, &v) && v.state);
}

/* The walk's index of type t (its text copied: records read back are gone
 * after the next read). */
static uint32_t walk_type(struct walk *w, const char *t, size_t n)
{
    for (uint32_t i = 0; i < w->nt; i++)
        if (w->tlen[i] == n && memcmp(w->tname[i], t, n) == 0)
            return i;
    if (w->nt == w->ct) {
        w->ct = w->ct ? w->ct * 2 : 16;
        w->tname = xrealloc(w->tname, w->ct * sizeof(*w->tname));
        w->tlen = xrealloc(w->tlen, w->ct);
        w->tmatch = xrealloc(w->tmatch, w->ct);
    }
    w->tname[w->nt] = xmemdup(t, n);
    w->tlen[w->nt] = (uint8_t)n;
    w->tmatch[w->nt] = (int8_t)type_matches(w, t, n);
    return w->nt++;
}

static int walk_key(void *ctx, const struct store_key *k)
{
    struct walk *w = ctx;
    uint64_t pos = k->pos;
    uint32_t t = walk_type(w, k->type, k->type_len);
    struct segment_record r;
    int have = 0; /* r is the event at pos */
    while (pos > w->upto || !w->tmatch[t]) {
        int rc = have ? 0 : store_get(w->st, pos, &r, &w->buf, &w->bcap);
        if (rc == 0 && r.prev == 0)
            return 0; /* the key's first event: nothing of it matches */
        if (rc == 0) {
            rc = store_get(w->st, r.prev, &r, &w->buf, &w->bcap);
            w->steps++;
        }
        if (rc == ERR_NOTFOUND)
            return 0; /* a quarantined event: the chain ends */
        if (rc) {
            w->rc = rc;
            return 1;
        }
        have = 1;
        pos = r.position;
        t = walk_type(w, r.type, r.type_len);
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->picks = xrealloc(w->picks, w->cap * sizeof(*w->picks));
    }
    w->picks[w->n++] = (struct pick){pos, t};
    return 0;
}

static int by_pos(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int entity_snapshot_take(const char *name, size_t nlen, const char *pat,
                         size_t plen, int state, const struct snap **out,
                         char *err, size_t errlen)
{
    struct store *st = store_default();
    if (!st) {
        snprintf(err, errlen, "event store not available");
        return ERR_INVAL;
    }
    struct walk w = {.st = st, .pat = pat, .plen = plen, .state = state,
                     .upto = store_visible()};
    uint64_t t0 = clock_mono_ms();
    store_keys(st, walk_key, &w);
    free(w.buf);
    int rc = w.rc;
    struct snap *sn = NULL;
    if (rc) {
        snprintf(err, errlen, "reading an event of a key failed (%s)",
                 error_text(rc));
        goto out;
    }
    if (w.n) /* picks is NULL when no key matched */
        qsort(w.picks, w.n, sizeof(*w.picks), by_pos);
    /* only the types the snapshot holds go into it */
    uint32_t *remap = xcalloc(w.nt ? w.nt : 1, sizeof(*remap));
    sn = xcalloc(1, sizeof(*sn));
    sn->name = xmemdup(name, nlen);
    sn->name_len = nlen;
    sn->pattern = xmemdup(pat, plen);
    sn->pattern_len = plen;
    sn->state = state;
    sn->position = w.upto;
    sn->time_ms = clock_wall_ms();
    sn->n = w.n;
    sn->pos = xmalloc((w.n ? w.n : 1) * sizeof(*sn->pos));
    sn->type = xmalloc((w.n ? w.n : 1) * sizeof(*sn->type));
    sn->types = xcalloc(w.nt ? w.nt : 1, sizeof(*sn->types));
    sn->type_lens = xcalloc(w.nt ? w.nt : 1, 1);
    for (size_t i = 0; i < w.n; i++) {
        uint32_t t = w.picks[i].type;
        if (!remap[t]) {
            sn->types[sn->ntypes] = xmemdup(w.tname[t], w.tlen[t]);
            sn->type_lens[sn->ntypes] = w.tlen[t];
            remap[t] = ++sn->ntypes;
        }
        sn->pos[i] = w.picks[i].pos;
        sn->type[i] = remap[t] - 1;
    }
    free(remap);
    struct sbuf b;
    sbuf_init(&b);
    snap_encode(sn, &b);
    char path[4400];
    snap_path(path, sizeof(path), name, nlen);
    rc = fsx_replace(snap_dir, path, b.data, b.len, err, errlen);
    sbuf_deinit(&b);
    if (rc) {
        rc = ERR_IO;
        snap_free(sn);
        sn = NULL;
        goto out;
    }
    log_info("entity: snapshot '%.*s' of %" PRIu64 " keys at position %" PRIu64
             " taken in %" PRIu64 " ms (%" PRIu64 " steps back)",
             (int)nlen, name, w.n, w.upto, clock_mono_ms() - t0, w.steps);
    snap_put(sn);
    archive_snapshot_export(sn->name, sn->name_len, sn->position, sn->pos,
                            sn->n);
    *out = sn;
out:
    for (uint32_t i = 0; i < w.nt; i++)
        free((char *)w.tname[i]);
    free(w.tname);
    free(w.tlen);
    free(w.tmatch);
    free(w.picks);
    return rc;
}

/* ---- replies ---- */

static void reply_snap(struct client *c, const struct snap *sn, int listing)
{
    reply_map(c, listing ? 7 : 6);
    reply_cstr(c, "name");
    reply_bulk(c, sn->name, sn->name_len);
    reply_cstr(c, "pattern");
    reply_bulk(c, sn->pattern, sn->pattern_len);
    reply_cstr(c, "state");
    reply_bool(c, sn->state);
    reply_cstr(c, "position");
    reply_uint(c, sn->position);
    reply_cstr(c, "keys");
    reply_uint(c, sn->n);
    reply_cstr(c, "time");
    reply_uint(c, sn->time_ms);
    if (listing) {
        char buf[400];
        reply_cstr(c, "archive");
        reply_cstr(c, archive_snapshot_status(sn->name, sn->name_len, buf,
                                              sizeof(buf)));
    }
}

static int check_name(struct client *c, const struct arg *a, const char *what)
{
    char why[120], pr[80];
    if (sched_name_check(a->ptr, a->len, why, sizeof(why)) == 0)
        return 0;
    reply_errorf(c, "ERR invalid %s name '%s': %s", what,
                 arg_printable(pr, sizeof(pr), a->ptr, a->len), why);
    return -1;
}

static int check_pattern(struct client *c, const struct arg *a)
{
    char why[128], pr[300];
    if (topic_pattern_check(a->ptr, a->len, why, sizeof(why)) == 0)
        return 0;
    reply_errorf(c, "ERR invalid pattern '%s': %s",
                 arg_printable(pr, sizeof(pr), a->ptr, a->len), why);
    return -1;
}

static int store_ok(struct client *c)
{
    if (store_default())
        return 0;
    reply_error(c, "ERR event store not available");
    return -1;
}

/* ---- EV.KEY key ---- */
static void cmd_ev_key(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    struct store *st = store_default();
    struct store_key k;
    if (store_ok(c) < 0 || arg_len(c, &argv[1], "key", STORE_KEY_MAX) < 0)
        return;
    if (!store_key(st, argv[1].ptr, argv[1].len, &k)) {
        reply_null(c);
        return;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct segment_record r;
    uint64_t time = 0;
    if (store_get(st, k.pos, &r, &buf, &cap) == 0)
        time = r.time_ms;
    free(buf);
    reply_map(c, 5);
    reply_cstr(c, "key");
    reply_bulk(c, argv[1].ptr, argv[1].len);
    reply_cstr(c, "version");
    reply_uint(c, k.version);
    reply_cstr(c, "position");
    reply_uint(c, k.pos);
    reply_cstr(c, "type");
    reply_bulk(c, k.type, k.type_len);
    reply_cstr(c, "time");
    reply_uint(c, time);
}

/* ---- EV.SNAPSHOT name pattern [STATE] | EV.SNAPSHOT DEL name ---- */
static void cmd_ev_snapshot(struct client *c, int argc, struct arg *argv)
{
    char err[300];
    if (store_ok(c) < 0)
        return;
    if (arg_is(&argv[1], "DEL")) {
        if (argc != 3) {
            reply_error(c, "ERR EV.SNAPSHOT DEL takes one snapshot name");
            return;
        }
        int found;
        size_t i = snap_index(argv[2].ptr, argv[2].len, &found);
        if (found) {
            char path[4400];
            snap_path(path, sizeof(path), argv[2].ptr, argv[2].len);
            int rc = fsx_unlink(path);
            if (!rc)
                rc = fsx_fsync_dir(snap_dir);
            if (rc && rc != -ENOENT) {
                reply_errorf(c, "IOERR removing snapshot file: %s", strerror(-rc));
                return;
            }
            snap_free(snaps[i]);
            memmove(&snaps[i], &snaps[i + 1], (nsnaps - i - 1) * sizeof(*snaps));
            nsnaps--;
        }
        reply_int(c, found);
        return;
    }
    if (argc > 4) {
        reply_syntax_error(c, &argv[4]);
        return;
    }
    if (check_name(c, &argv[1], "snapshot") < 0 || check_pattern(c, &argv[2]) < 0)
        return;
    int state = 0;
    if (argc == 4) {
        if (!arg_is(&argv[3], "STATE")) {
            reply_syntax_error(c, &argv[3]);
            return;
        }
        state = 1;
    }
    const struct snap *sn;
    int rc = entity_snapshot_take(argv[1].ptr, argv[1].len, argv[2].ptr,
                                  argv[2].len, state, &sn, err, sizeof(err));
    if (rc) {
        reply_error_code(c, rc, err);
        return;
    }
    reply_snap(c, sn, 0);
}

/* ---- EV.SNAPSHOTS ---- */
static void cmd_ev_snapshots(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    reply_array(c, nsnaps);
    for (size_t i = 0; i < nsnaps; i++)
        reply_snap(c, snaps[i], 1);
}

/* ---- EV.DIGEST pattern [FROM t|@pos] [TO t|@pos] [KEYS] ---- */

struct dkey {
    uint64_t count, version, pos;
    uint8_t md5[16];
    uint32_t klen;
    char key[];
};

struct digest {
    struct dkey **slots;
    size_t nslots, n;
    uint64_t events, last_pos;
    EVP_MD_CTX *md;
    int failed;
};

static uint64_t dhash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static void md5_of(struct digest *d, const void *p, size_t n, uint8_t out[16])
{
    unsigned len = 0;
    if (EVP_DigestInit_ex(d->md, EVP_md5(), NULL) != 1 ||
        EVP_DigestUpdate(d->md, p, n) != 1 || EVP_DigestFinal_ex(d->md, out, &len) != 1)
        d->failed = 1;
}

static struct dkey **dslot(struct digest *d, const char *k, size_t n)
{
    size_t mask = d->nslots - 1;
    for (size_t i = dhash(k, n) & mask;; i = (i + 1) & mask) {
        struct dkey *e = d->slots[i];
        if (!e || (e->klen == n && memcmp(e->key, k, n) == 0))
            return &d->slots[i];
    }
}

static int digest_visit(void *ctx, const struct segment_record *r)
{
    struct digest *d = ctx;
    if (!r->key_len)
        return 0;
    if ((d->n + 1) * 2 > d->nslots) {
        struct dkey **old = d->slots;
        size_t on = d->nslots;
        d->nslots = on ? on * 2 : 1024;
        d->slots = xcalloc(d->nslots, sizeof(*d->slots));
        for (size_t i = 0; i < on; i++)
            if (old[i])
                *dslot(d, old[i]->key, old[i]->klen) = old[i];
        free(old);
    }
    struct dkey **slot = dslot(d, r->key, r->key_len);
    if (!*slot) {
        *slot = xcalloc(1, sizeof(**slot) + r->key_len);
        (*slot)->klen = (uint32_t)r->key_len;
        memcpy((*slot)->key, r->key, r->key_len);
        d->n++;
    }
    struct dkey *e = *slot;
    e->count++;
    e->version = r->version;
    e->pos = r->position;
    md5_of(d, r->payload, r->payload_len, e->md5);
    d->events++;
    d->last_pos = r->position;
    return 0;
}

static int by_key(const void *a, const void *b)
{
    const struct dkey *x = *(struct dkey *const *)a, *y = *(struct dkey *const *)b;
    size_t m = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, m);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
}

/* "@123" -> a position bound; "123" -> a time bound (ms). */
static int parse_bound(struct client *c, const struct arg *a, const char *what,
                       int *is_pos, uint64_t *v)
{
    int64_t x;
    *is_pos = a->len && a->ptr[0] == '@';
    if (arg_parse_i64(a->ptr + *is_pos, a->len - (size_t)*is_pos, &x) < 0 || x < 0) {
        char pr[80];
        reply_errorf(c, "ERR invalid %s '%s': must be a time in ms or @position",
                     what, arg_printable(pr, sizeof(pr), a->ptr, a->len));
        return -1;
    }
    *v = (uint64_t)x;
    return 0;
}

static void cmd_ev_digest(struct client *c, int argc, struct arg *argv)
{
    if (store_ok(c) < 0 || check_pattern(c, &argv[1]) < 0)
        return;
    struct store_query q = {argv[1].ptr, argv[1].len, 0, UINT64_MAX, 0, UINT64_MAX,
                            NULL, 0, SIZE_MAX, 0};
    int keys = 0;
    for (int i = 2; i < argc; i++) {
        const struct arg *a = &argv[i];
        if (arg_is(a, "KEYS")) {
            keys = 1;
            continue;
        }
        int is_pos, from = arg_is(a, "FROM");
        uint64_t v;
        if ((!from && !arg_is(a, "TO")) || i + 1 >= argc) {
            reply_syntax_error(c, a);
            return;
        }
        if (parse_bound(c, &argv[++i], from ? "FROM" : "TO", &is_pos, &v) < 0)
            return;
        if (from && is_pos)
            q.from_pos = v;
        else if (from)
            q.from_time = v;
        else if (is_pos)
            q.to_pos = v;
        else
            q.to_time = v;
    }
    uint64_t visible = store_visible();
    if (q.to_pos > visible)
        q.to_pos = visible; /* only what a crash cannot take back */
    struct digest d = {.md = EVP_MD_CTX_new()};
    int rc = d.md ? 0 : ERR_IO;
    if (!rc && q.from_pos <= q.to_pos)
        rc = store_range(store_default(), &q, digest_visit, &d);
    struct dkey **rows = xmalloc((d.n ? d.n : 1) * sizeof(*rows));
    size_t n = 0;
    for (size_t i = 0; i < d.nslots; i++)
        if (d.slots[i])
            rows[n++] = d.slots[i];
    qsort(rows, n, sizeof(*rows), by_key);
    char m[33];
    m[32] = 0;
    if (rc || d.failed || !d.md) {
        reply_error_code(c, rc ? rc : ERR_IO, "reading the events failed");
    } else if (keys) {
        reply_array(c, n);
        for (size_t i = 0; i < n; i++) {
            reply_array(c, 5);
            reply_bulk(c, rows[i]->key, rows[i]->klen);
            reply_uint(c, rows[i]->count);
            if (rows[i]->version)
                reply_uint(c, rows[i]->version);
            else
                reply_null(c);
            reply_uint(c, rows[i]->pos);
            hex(rows[i]->md5, 16, m);
            reply_bulk(c, m, 32);
        }
    } else {
        /* md5 of "<key>\t<version>\t<md5>" lines joined by "\n" */
        uint8_t total[16];
        unsigned len = 0;
        int ok = EVP_DigestInit_ex(d.md, EVP_md5(), NULL) == 1;
        for (size_t i = 0; i < n && ok; i++) {
            char line[64];
            hex(rows[i]->md5, 16, m);
            int ln = snprintf(line, sizeof(line), "\t%" PRIu64 "\t%s", rows[i]->version, m);
            ok = (i == 0 || EVP_DigestUpdate(d.md, "\n", 1) == 1) &&
                 EVP_DigestUpdate(d.md, rows[i]->key, rows[i]->klen) == 1 &&
                 EVP_DigestUpdate(d.md, line, (size_t)ln) == 1;
        }
        ok = ok && EVP_DigestFinal_ex(d.md, total, &len) == 1;
        if (!ok) {
            reply_error(c, "ERR md5 failed");
        } else {
            reply_map(c, 4);
            reply_cstr(c, "events");
            reply_uint(c, d.events);
            reply_cstr(c, "keys");
            reply_uint(c, n);
            reply_cstr(c, "last_position");
            reply_uint(c, d.last_pos);
            reply_cstr(c, "digest");
            hex(total, 16, m);
            reply_bulk(c, m, 32);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(rows[i]);
    free(rows);
    free(d.slots);
    EVP_MD_CTX_free(d.md);
}

/* ---- schedules ---- */

static struct sched_set scheds;
static char sched_path[4200];
static uv_timer_t *sched_timer;
#define SCHED_TICK_MAX 60000 /* ms: the wall clock is looked at again at least this often */

static int sched_save(char *err, size_t errlen)
{
    uint8_t *p;
    size_t n;
    sched_set_encode(&scheds, &p, &n);
    int rc = fsx_replace(config_dir, sched_path, p, n, err, errlen);
    free(p);
    return rc;
}

static void on_sched(uv_timer_t *t);

/* The timer at the earliest next run (on the wall clock, so re-armed at
 * least every minute in case the clock moved). */
static void sched_arm(void)
{
    uint64_t next = sched_earliest(&scheds), now = clock_wall_ms();
    if (next == UINT64_MAX) {
        cmd_timer_arm(sched_timer, on_sched, NULL);
        return;
    }
    uint64_t wait = next > now ? next - now : 0;
    if (wait > SCHED_TICK_MAX)
        wait = SCHED_TICK_MAX;
    uint64_t deadline = clock_mono_ms() + wait;
    cmd_timer_arm(sched_timer, on_sched, &deadline);
}

/* Runs one schedule now; its outcome (NULL = ok) goes into err. */
static const char *sched_run(const struct sched *s, uint64_t now, char *err,
                             size_t errlen)
{
    int rc;
    if (s->kind == SCHED_SNAPSHOT) {
        const struct snap *sn;
        rc = entity_snapshot_take(s->name, s->name_len, s->pattern, s->pattern_len,
                                  s->state, &sn, err, errlen);
    } else {
        uint64_t from = now > s->last_ms ? now - s->last_ms : 0;
        rc = bus_replay_recent(s->into, s->into_len, s->pattern, s->pattern_len,
                               from, err, errlen);
    }
    if (!rc)
        return NULL;
    log_warn("entity: schedule '%s' failed: %s", s->name, err);
    return err;
}

static void on_sched(uv_timer_t *t)
{
    (void)t;
    uint64_t now = clock_wall_ms();
    struct sched **due = xmalloc((sched_set_count(&scheds) + 1) * sizeof(*due));
    size_t n = sched_due(&scheds, now, due);
    for (size_t i = 0; i < n; i++) {
        char err[300];
        sched_ran(due[i], now, sched_run(due[i], now, err, sizeof(err)));
    }
    free(due);
    if (n) {
        char err[300];
        if (sched_save(err, sizeof(err)))
            log_ratelimited(LOG_ERROR, "entity: saving the schedules failed: %s "
                            "(a restart may run them again)", err);
    }
    sched_arm();
}

/* EV.SCHEDULE SNAPSHOT name pattern [STATE] EVERY dur [AT hh:mm]
 * EV.SCHEDULE REPLAY name pattern LAST dur INTO sub EVERY dur [AT hh:mm]
 * EV.SCHEDULE DEL name */
static void cmd_ev_schedule(struct client *c, int argc, struct arg *argv)
{
    char why[200], pr[80], err[300];
    if (arg_is(&argv[1], "DEL")) {
        if (argc != 3) {
            reply_error(c, "ERR EV.SCHEDULE DEL takes one schedule name");
            return;
        }
        int found = sched_set_del(&scheds, argv[2].ptr, argv[2].len);
        if (found && sched_save(err, sizeof(err))) {
            reply_errorf(c, "IOERR saving the schedules: %s", err);
            return;
        }
        sched_arm();
        reply_int(c, found);
        return;
    }
    struct sched_spec sp = {.at = SCHED_AT_NONE};
    if (arg_is(&argv[1], "SNAPSHOT"))
        sp.kind = SCHED_SNAPSHOT;
    else if (arg_is(&argv[1], "REPLAY"))
        sp.kind = SCHED_REPLAY;
    else {
        reply_error(c, "ERR EV.SCHEDULE needs SNAPSHOT, REPLAY or DEL");
        return;
    }
    if (argc < 4) {
        reply_errorf(c, "ERR wrong number of arguments for 'ev.schedule' command");
        return;
    }
    if (check_name(c, &argv[2], "schedule") < 0 || check_pattern(c, &argv[3]) < 0)
        return;
    sp.name = argv[2].ptr;
    sp.name_len = argv[2].len;
    sp.pattern = argv[3].ptr;
    sp.pattern_len = argv[3].len;
    for (int i = 4; i < argc; i++) {
        const struct arg *o = &argv[i];
        if (sp.kind == SCHED_SNAPSHOT && arg_is(o, "STATE")) {
            sp.state = 1;
            continue;
        }
        int every = arg_is(o, "EVERY"), last = arg_is(o, "LAST"),
            into = arg_is(o, "INTO"), at = arg_is(o, "AT");
        if ((!every && !at && (sp.kind == SCHED_SNAPSHOT || (!last && !into))) ||
            i + 1 >= argc) {
            reply_syntax_error(c, o);
            return;
        }
        const struct arg *v = &argv[++i];
        int rc = 0;
        const char *what = every ? "EVERY" : last ? "LAST" : "AT";
        if (every)
            rc = sched_parse_dur(v->ptr, v->len, SCHED_EVERY_MIN_MS,
                                 SCHED_EVERY_MAX_MS, &sp.every_ms, why, sizeof(why));
        else if (last)
            rc = sched_parse_dur(v->ptr, v->len, SCHED_LAST_MIN_MS,
                                 SCHED_LAST_MAX_MS, &sp.last_ms, why, sizeof(why));
        else if (at)
            rc = sched_parse_at(v->ptr, v->len, &sp.at, why, sizeof(why));
        else if (!bus_sub_exists(v->ptr, v->len)) {
            reply_errorf(c, "NOSUB no such subscription '%s'",
                         arg_printable(pr, sizeof(pr), v->ptr, v->len));
            return;
        } else {
            sp.into = v->ptr;
            sp.into_len = v->len;
        }
        if (rc) {
            reply_errorf(c, "ERR invalid %s '%s': %s", what,
                         arg_printable(pr, sizeof(pr), v->ptr, v->len), why);
            return;
        }
    }
    if (!sp.every_ms || (sp.kind == SCHED_REPLAY && (!sp.last_ms || !sp.into))) {
        reply_errorf(c, "ERR EV.SCHEDULE %s needs %s", sp.kind == SCHED_REPLAY ? "REPLAY" : "SNAPSHOT",
                     sp.kind == SCHED_REPLAY ? "LAST dur, INTO subscription and EVERY dur"
                                             : "EVERY dur");
        return;
    }
    int rc = sched_set_put(&scheds, &sp, clock_wall_ms(), why, sizeof(why));
    if (rc < 0) {
        reply_error_code(c, rc, why);
        return;
    }
    if (sched_save(err, sizeof(err))) {
        reply_errorf(c, "IOERR saving the schedules: %s", err);
        return;
    }
    sched_arm();
    reply_int(c, rc);
}

static void reply_time_or_null(struct client *c, uint64_t ms)
{
    if (ms)
        reply_uint(c, ms);
    else
        reply_null(c);
}

/* EV.SCHEDULES */
static void cmd_ev_schedules(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    size_t n = sched_set_count(&scheds);
    reply_array(c, n);
    for (size_t i = 0; i < n; i++) {
        const struct sched *s = sched_set_at(&scheds, i);
        reply_map(c, 12);
        reply_cstr(c, "name");
        reply_bulk(c, s->name, s->name_len);
        reply_cstr(c, "kind");
        reply_cstr(c, s->kind == SCHED_SNAPSHOT ? "snapshot" : "replay");
        reply_cstr(c, "pattern");
        reply_bulk(c, s->pattern, s->pattern_len);
        reply_cstr(c, "state");
        reply_bool(c, s->state);
        reply_cstr(c, "last_ms");
        reply_time_or_null(c, s->kind == SCHED_REPLAY ? s->last_ms : 0);
        reply_cstr(c, "into");
        if (s->into)
            reply_bulk(c, s->into, s->into_len);
        else
            reply_null(c);
        reply_cstr(c, "every_ms");
        reply_uint(c, s->every_ms);
        reply_cstr(c, "at");
        if (s->at == SCHED_AT_NONE) {
            reply_null(c);
        } else {
            char at[6];
            sched_format_at(s->at, at);
            reply_bulk(c, at, 5);
        }
        reply_cstr(c, "last_run");
        reply_time_or_null(c, s->last_run);
        reply_cstr(c, "next_run");
        reply_uint(c, s->next_run);
        reply_cstr(c, "runs");
        reply_uint(c, s->runs);
        reply_cstr(c, "last_result");
        if (s->last_result)
            reply_cstr(c, s->last_result);
        else
            reply_null(c);
    }
}

static int load_schedules(char *err, size_t errlen)
{
    snprintf(sched_path, sizeof(sched_path), "%s/schedules", config_dir);
    int fd = fsx_open(sched_path, O_RDONLY, 0);
    if (fd == -ENOENT)
        return 0;
    off_t size = fd >= 0 ? fsx_size(fd) : -1;
    uint8_t *p = size >= 0 ? xmalloc((size_t)size + 1) : NULL;
    int rc = p ? fsx_pread_all(fd, p, (size_t)size, 0) : fd;
    if (fd >= 0)
        fsx_close(fd);
    char why[200];
    if (rc) {
        snprintf(err, errlen, "reading %s: %s", sched_path, strerror(-rc));
    } else if (sched_set_decode(&scheds, p, (size_t)size, why, sizeof(why))) {
        snprintf(err, errlen, "%s: %s", sched_path, why);
        rc = -1;
    }
    free(p);
    return rc ? -1 : 0;
}

/* ---- start, stop, INFO, metrics ---- */

static int load_snapshots(char *err, size_t errlen)
{
    DIR *dir = opendir(snap_dir);
    if (!dir) {
        snprintf(err, errlen, "opendir %s: %s", snap_dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".snap") != 0)
            continue; /* ".", "..", and *.tmp left by a crash */
        char path[4400], why[200];
        snprintf(path, sizeof(path), "%s/%s", snap_dir, de->d_name);
        int fd = fsx_open(path, O_RDONLY, 0);
        off_t size = fd >= 0 ? fsx_size(fd) : -1;
        uint8_t *p = size >= 0 ? xmalloc((size_t)size + 1) : NULL;
        int r = p ? fsx_pread_all(fd, p, (size_t)size, 0) : fd < 0 ? fd : -EIO;
        if (fd >= 0)
            fsx_close(fd);
        struct snap *sn = xcalloc(1, sizeof(*sn));
        if (r) {
            snprintf(err, errlen, "reading snapshot %s: %s", path, strerror(-r));
            rc = -1;
        } else if (snap_decode(p, (size_t)size, sn, why, sizeof(why))) {
            snprintf(err, errlen, "%s: %s", path, why);
            rc = -1;
        } else if (sn->name_len != len - 5 || memcmp(sn->name, de->d_name, len - 5)) {
            snprintf(err, errlen, "%s: holds snapshot '%.*s'", path,
                     (int)sn->name_len, sn->name);
            rc = -1;
        }
        free(p);
        if (rc) {
            snap_free(sn);
        } else {
            snap_put(sn);
            /* exports the ones a crash or a new target left out; done
             * ones are answered from their records at once */
            archive_snapshot_export(sn->name, sn->name_len, sn->position,
                                    sn->pos, sn->n);
        }
    }
    closedir(dir);
    return rc;
}

static int entity_start(char *err, size_t errlen)
{
    snprintf(snap_dir, sizeof(snap_dir), "%s/snapshots", config_dir);
    int rc = fsx_mkdir(snap_dir, 0755);
    if (rc && rc != -EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", snap_dir, strerror(-rc));
        return -1;
    }
    if (load_snapshots(err, errlen) < 0)
        return -1;
    sched_set_init(&scheds);
    if (load_schedules(err, errlen) < 0)
        return -1;
    sched_timer = cmd_timer_new();
    sched_arm(); /* runs at once what came due while the server was down */
    return 0;
}

static void entity_stop(void)
{
    cmd_timer_free(&sched_timer);
    sched_set_deinit(&scheds);
    for (size_t i = 0; i < nsnaps; i++)
        snap_free(snaps[i]);
    free(snaps);
    snaps = NULL;
    nsnaps = capsnaps = 0;
}

static void entity_info(struct sbuf *out, const char *section)
{
    if (strcmp(section, "entity") != 0)
        return;
    uint64_t keys = 0, bytes = 0;
    if (store_default())
        store_keys_stats(store_default(), &keys, &bytes);
    sbuf_addf(out, "keys:%" PRIu64 "\r\nkeys_memory_bytes:%" PRIu64 "\r\n"
                   "snapshots:%zu\r\nschedules:%zu\r\n",
              keys, bytes, nsnaps, sched_set_count(&scheds));
}

static void entity_metrics(struct metrics *m)
{
    uint64_t keys = 0, bytes = 0;
    if (store_default())
        store_keys_stats(store_default(), &keys, &bytes);
    metrics_set(m, "tincan_entity_keys", METRICS_GAUGE,
                "Distinct keys of keyed events.", (double)keys);
    metrics_set(m, "tincan_entity_keys_memory_bytes", METRICS_GAUGE,
                "Bytes the key table holds in memory.", (double)bytes);
    metrics_set(m, "tincan_entity_snapshots", METRICS_GAUGE, "Snapshots kept.",
                (double)nsnaps);
    metrics_set(m, "tincan_entity_schedules", METRICS_GAUGE,
                "Schedules (EV.SCHEDULE).", (double)sched_set_count(&scheds));
}

static const struct command_spec entity_commands[] = {
    {"ev.key", 2, CMD_READONLY | CMD_FAST, cmd_ev_key, "entity", "key",
     "The key's latest version, position and type", 0, 0, 0},
    {"ev.snapshot", -3, CMD_WRITE, cmd_ev_snapshot, "entity",
     "name pattern [STATE] | DEL name",
     "Records the latest matching event of every key, as of now", 0, 0, 0},
    {"ev.snapshots", 1, CMD_READONLY, cmd_ev_snapshots, "entity", "",
     "Lists the snapshots", 0, 0, 0},
    {"ev.schedule", -3, CMD_WRITE, cmd_ev_schedule, "entity",
     "SNAPSHOT name pattern [STATE] EVERY dur [AT hh:mm] | REPLAY name pattern "
     "LAST dur INTO subscription EVERY dur [AT hh:mm] | DEL name",
     "Takes a snapshot or replays recent events into a subscription on a "
     "schedule",
     0, 0, 0},
    {"ev.schedules", 1, CMD_READONLY, cmd_ev_schedules, "entity", "",
     "Lists the schedules with their last and next runs", 0, 0, 0},
    {"ev.digest", -2, CMD_READONLY, cmd_ev_digest, "entity",
     "pattern [FROM ms|@position] [TO ms|@position] [KEYS]",
     "Per-key (or total) count, version, position and payload md5, to check "
     "projections",
     0, 0, 0},
};

const struct module entity_module = {
    .name = "entity",
    .commands = entity_commands,
    .ncommands = ARRAY_LEN(entity_commands),
    .start = entity_start,
    .stop = entity_stop,
    .info = entity_info,
    .metrics = entity_metrics,
};
