/* schedule.c - EV.SCHEDULE's pure logic: argument parsing, slot arithmetic,
 * the sorted set and its state file. See schedule.h; no I/O here. */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "crc32c.h"
#include "errors.h"
#include "le.h"
#include "topic.h"

#define HDR         16 /* magic, version, count */
#define REC_FIXED   64 /* one schedule before its strings */
#define AT_NONE_U16 0xffffu
#define FLAG_STATE  1u
#define FLAG_RESULT 2u
#define MINUTE_MS   60000ull

static int inval(char *why, size_t whylen, const char *text)
{
    snprintf(why, whylen, "%s", text);
    return ERR_INVAL;
}

/* ---- parsing ---- */

static const struct {
    const char *name;
    uint64_t ms;
} units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static void range_why(uint64_t min_ms, uint64_t max_ms, char *why,
                      size_t whylen)
{
    char lo[24], hi[24];
    sched_format_dur(min_ms, lo, sizeof(lo));
    sched_format_dur(max_ms, hi, sizeof(hi));
    snprintf(why, whylen, "out of range (%s..%s)", lo, hi);
}

int sched_parse_dur(const char *p, size_t n, uint64_t min_ms, uint64_t max_ms,
                    uint64_t *ms, char *why, size_t whylen)
{
    static const char shape[] = "must be a positive integer with a unit ms, s, "
                                "m, h or d (e.g. 30s, 24h)";
    size_t i = 0;
    uint64_t v = 0;
    int big = 0; /* the number alone passed UINT64_MAX */
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            big = 1;
        else
            v = v * 10 + d;
    }
    if (i == 0)
        return inval(why, whylen, shape);
    uint64_t mult = 0;
    for (size_t u = 0; u < ARRAY_LEN(units); u++)
        if (n - i == strlen(units[u].name) &&
            memcmp(p + i, units[u].name, n - i) == 0)
            mult = units[u].ms;
    if (!mult)
        return inval(why, whylen, shape);
    if (!big && v == 0)
        return inval(why, whylen, "must be positive");
    if (big || v > UINT64_MAX / mult || v * mult < min_ms ||
        v * mult > max_ms) {
        range_why(min_ms, max_ms, why, whylen);
        return ERR_INVAL;
    }
    *ms = v * mult;
    return 0;
}

static int digit2(const char *p)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

int sched_parse_at(const char *p, size_t n, int *minute_of_day, char *why,
                   size_t whylen)
{
    int hh = n == 5 && p[2] == ':' ? digit2(p) : -1;
    int mm = hh >= 0 ? digit2(p + 3) : -1;
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
        return inval(why, whylen, "must be hh:mm (UTC)");
    *minute_of_day = hh * 60 + mm;
    return 0;
}

static int name_byte_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
           c == '-';
}

int sched_name_check(const char *p, size_t n, char *why, size_t whylen)
{
    if (n == 0 || n > SCHED_NAME_MAX)
        return inval(why, whylen, "must be 1..200 bytes");
    for (size_t i = 0; i < n; i++)
        if (!name_byte_ok(p[i]))
            return inval(why, whylen, "only A-Z a-z 0-9 _ . : - are allowed");
    if (p[0] == '.')
        return inval(why, whylen, "must not start with '.'");
    if (n == 3 && (p[0] | 0x20) == 'd' && (p[1] | 0x20) == 'e' &&
        (p[2] | 0x20) == 'l')
        return inval(why, whylen, "DEL is reserved");
    return 0;
}

void sched_format_dur(uint64_t ms, char *out, size_t outlen)
{
    size_t u = ARRAY_LEN(units) - 1;
    while (u > 0 && (ms == 0 || ms % units[u].ms != 0))
        u--;
    snprintf(out, outlen, "%llu%s", (unsigned long long)(ms / units[u].ms),
             units[u].name);
}

void sched_format_at(int minute_of_day, char out[6])
{
    int m = minute_of_day >= 0 && minute_of_day < 1440 ? minute_of_day : 0;
    out[0] = (char)('0' + m / 600);
    out[1] = (char)('0' + m / 60 % 10);
    out[2] = ':';
    out[3] = (char)('0' + m % 60 / 10);
    out[4] = (char)('0' + m % 10);
    out[5] = '\0';
}

/* ---- run times ---- */

uint64_t sched_next_after(const struct sched *s, uint64_t t)
{
    if (t < s->anchor_ms)
        return s->anchor_ms;
    uint64_t k = (t - s->anchor_ms) / s->every_ms + 1;
    if (k > (UINT64_MAX - s->anchor_ms) / s->every_ms)
        return UINT64_MAX;
    return s->anchor_ms + k * s->every_ms;
}

void sched_ran(struct sched *s, uint64_t now, const char *result)
{
    const char *r = result ? result : "ok";
    size_t n = strlen(r);
    free(s->last_result);
    s->last_result = xmemdup(r, n < SCHED_RESULT_MAX ? n : SCHED_RESULT_MAX);
    s->last_run = now;
    s->runs++;
    s->next_run = sched_next_after(s, now);
}

/* ---- the set ---- */

void sched_set_init(struct sched_set *set)
{
    *set = (struct sched_set){0};
}

static void sched_free(struct sched *s)
{
    free(s->name);
    free(s->pattern);
    free(s->into);
    free(s->last_result);
    free(s);
}

void sched_set_deinit(struct sched_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        sched_free(set->a[i]);
    free(set->a);
    sched_set_init(set);
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* The slot of the named schedule, or where it would go; *found says which. */
static size_t lower(const struct sched_set *set, const char *name, size_t len,
                    int *found)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct sched *s = set->a[mid];
        if (name_cmp(s->name, s->name_len, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < set->n &&
             name_cmp(set->a[lo]->name, set->a[lo]->name_len, name, len) == 0;
    return lo;
}

/* 0 if spec describes a schedule this module can run; else ERR_INVAL. */
static int spec_check(const struct sched_spec *sp, char *why, size_t whylen)
{
    char sub[256];
    if (sched_name_check(sp->name, sp->name_len, sub, sizeof(sub))) {
        snprintf(why, whylen, "invalid name: %s", sub);
        return ERR_INVAL;
    }
    if (topic_pattern_check(sp->pattern, sp->pattern_len, sub, sizeof(sub))) {
        snprintf(why, whylen, "invalid pattern: %s", sub);
        return ERR_INVAL;
    }
    if (sp->every_ms < SCHED_EVERY_MIN_MS || sp->every_ms > SCHED_EVERY_MAX_MS)
        return inval(why, whylen, "EVERY out of range (1s..366d)");
    if (sp->at != SCHED_AT_NONE && (sp->at < 0 || sp->at >= 1440))
        return inval(why, whylen, "AT out of range (00:00..23:59)");
    if (sp->state != 0 && sp->state != 1)
        return inval(why, whylen, "bad STATE flag");
    if (sp->kind == SCHED_SNAPSHOT) {
        if (sp->into_len || sp->last_ms)
            return inval(why, whylen,
                         "a snapshot schedule has no LAST or INTO");
        return 0;
    }
    if (sp->kind != SCHED_REPLAY)
        return inval(why, whylen, "unknown kind");
    if (sp->state)
        return inval(why, whylen, "a replay schedule has no STATE");
    if (sp->last_ms < SCHED_LAST_MIN_MS || sp->last_ms > SCHED_LAST_MAX_MS)
        return inval(why, whylen, "LAST out of range (1ms..3660d)");
    if (sp->into_len == 0 || sp->into_len > SCHED_INTO_MAX)
        return inval(why, whylen, "INTO must be 1..256 bytes");
    return 0;
}

/* A new schedule from a checked spec, with nothing run yet. */
static struct sched *sched_from(const struct sched_spec *sp)
{
    struct sched *s = xcalloc(1, sizeof(*s));
    s->name = xmemdup(sp->name, sp->name_len);
    s->name_len = sp->name_len;
    s->kind = sp->kind;
    s->pattern = xmemdup(sp->pattern, sp->pattern_len);
    s->pattern_len = sp->pattern_len;
    s->state = sp->state;
    s->last_ms = sp->last_ms;
    if (sp->kind == SCHED_REPLAY) {
        s->into = xmemdup(sp->into, sp->into_len);
        s->into_len = sp->into_len;
    }
    s->every_ms = sp->every_ms;
    s->at = sp->at;
    return s;
}

/* Puts s (not in set) at slot i, the place of its name. */
static void insert_at(struct sched_set *set, size_t i, struct sched *s)
{
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 8;
        set->a = xrealloc(set->a, set->cap * sizeof(*set->a));
    }
    memmove(set->a + i + 1, set->a + i, (set->n - i) * sizeof(*set->a));
    set->a[i] = s;
    set->n++;
}

int sched_set_put(struct sched_set *set, const struct sched_spec *spec,
                  uint64_t now, char *why, size_t whylen)
{
    int rc = spec_check(spec, why, whylen);
    if (rc)
        return rc;
    int found;
    size_t i = lower(set, spec->name, spec->name_len, &found);
    if (!found && set->n >= SCHED_MAX) {
        snprintf(why, whylen, "too many schedules (at most %d)", SCHED_MAX);
        return ERR_LIMIT;
    }
    struct sched *s = sched_from(spec);
    s->anchor_ms =
        spec->at == SCHED_AT_NONE ? now : (uint64_t)spec->at * MINUTE_MS;
    s->next_run = sched_next_after(s, now);
    if (found) {
        sched_free(set->a[i]);
        set->a[i] = s;
        return 0;
    }
    insert_at(set, i, s);
    return 1;
}

int sched_set_del(struct sched_set *set, const char *name, size_t len)
{
    int found;
    size_t i = lower(set, name, len, &found);
    if (!found)
        return 0;
    sched_free(set->a[i]);
    memmove(set->a + i, set->a + i + 1, (set->n - i - 1) * sizeof(*set->a));
    set->n--;
    return 1;
}

struct sched *sched_set_find(const struct sched_set *set, const char *name,
                             size_t len)
{
    int found;
    size_t i = lower(set, name, len, &found);
    return found ? set->a[i] : NULL;
}

size_t sched_due(const struct sched_set *set, uint64_t now, struct sched **out)
{
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++)
        if (set->a[i]->next_run <= now)
            out[k++] = set->a[i];
    return k;
}

uint64_t sched_earliest(const struct sched_set *set)
{
    uint64_t t = UINT64_MAX;
    for (size_t i = 0; i < set->n; i++)
        if (set->a[i]->next_run < t)
            t = set->a[i]->next_run;
    return t;
}

/* ---- the state file ---- */

static size_t result_len(const struct sched *s)
{
    return s->last_result ? strlen(s->last_result) : 0;
}

void sched_set_encode(const struct sched_set *set, uint8_t **out, size_t *len)
{
    size_t n = HDR + 4;
    for (size_t i = 0; i < set->n; i++) {
        const struct sched *s = set->a[i];
        n += REC_FIXED + s->name_len + s->pattern_len + s->into_len +
             result_len(s);
    }
    uint8_t *p = xcalloc(1, n);
    memcpy(p, SCHED_MAGIC, 8);
    le_put32(p + 8, SCHED_VERSION);
    le_put32(p + 12, (uint32_t)set->n);
    size_t o = HDR;
    for (size_t i = 0; i < set->n; i++) {
        const struct sched *s = set->a[i];
        size_t rl = result_len(s);
        p[o] = (uint8_t)s->kind;
        p[o + 1] = (uint8_t)((s->state ? FLAG_STATE : 0) |
                             (s->last_result ? FLAG_RESULT : 0));
        le_put16(p + o + 2,
                 s->at == SCHED_AT_NONE ? AT_NONE_U16 : (uint16_t)s->at);
        le_put16(p + o + 4, (uint16_t)s->name_len);
        le_put16(p + o + 6, (uint16_t)s->pattern_len);
        le_put16(p + o + 8, (uint16_t)s->into_len);
        le_put16(p + o + 10, (uint16_t)rl);
        le_put64(p + o + 16, s->last_ms);
        le_put64(p + o + 24, s->every_ms);
        le_put64(p + o + 32, s->anchor_ms);
        le_put64(p + o + 40, s->last_run);
        le_put64(p + o + 48, s->next_run);
        le_put64(p + o + 56, s->runs);
        o += REC_FIXED;
        memcpy(p + o, s->name, s->name_len);
        o += s->name_len;
        memcpy(p + o, s->pattern, s->pattern_len);
        o += s->pattern_len;
        if (s->into_len)
            memcpy(p + o, s->into, s->into_len);
        o += s->into_len;
        if (rl)
            memcpy(p + o, s->last_result, rl);
        o += rl;
    }
    le_put32(p + n - 4, crc32c(0, p, n - 4));
    *out = p;
    *len = n;
}

static int corrupt(char *why, size_t whylen, size_t i, const char *text)
{
    snprintf(why, whylen, "schedule %zu: %s", i, text);
    return ERR_CORRUPT;
}

/* Decodes schedule i from r into *out; 0 or ERR_CORRUPT. */
static int decode_one(struct le_reader *r, size_t i, struct sched **out,
                      char *why, size_t whylen)
{
    struct sched_spec sp = {0};
    sp.kind = (enum sched_kind)le_read(r, 1);
    unsigned flags = (unsigned)le_read(r, 1);
    unsigned at = (unsigned)le_read(r, 2);
    size_t nl = (size_t)le_read(r, 2), pl = (size_t)le_read(r, 2);
    size_t il = (size_t)le_read(r, 2), rl = (size_t)le_read(r, 2);
    uint64_t reserved = le_read(r, 4);
    sp.last_ms = le_read(r, 8);
    sp.every_ms = le_read(r, 8);
    uint64_t anchor = le_read(r, 8), last_run = le_read(r, 8);
    uint64_t next_run = le_read(r, 8), runs = le_read(r, 8);
    sp.name = (const char *)le_take(r, nl);
    sp.name_len = nl;
    sp.pattern = (const char *)le_take(r, pl);
    sp.pattern_len = pl;
    sp.into = (const char *)le_take(r, il);
    sp.into_len = il;
    const char *res = (const char *)le_take(r, rl);
    if (r->bad)
        return corrupt(why, whylen, i, "truncated");
    if (reserved || flags & ~(FLAG_STATE | FLAG_RESULT) ||
        (!(flags & FLAG_RESULT) && rl) || rl > SCHED_RESULT_MAX ||
        (at != AT_NONE_U16 && at >= 1440))
        return corrupt(why, whylen, i, "bad flags, AT or result");
    sp.state = (flags & FLAG_STATE) != 0;
    sp.at = at == AT_NONE_U16 ? SCHED_AT_NONE : (int)at;
    char sub[300];
    if (spec_check(&sp, sub, sizeof(sub)))
        return corrupt(why, whylen, i, sub);
    if (sp.at != SCHED_AT_NONE && anchor != (uint64_t)sp.at * MINUTE_MS)
        return corrupt(why, whylen, i, "anchor does not match AT");
    if (next_run != UINT64_MAX &&
        (next_run < anchor || (next_run - anchor) % sp.every_ms != 0))
        return corrupt(why, whylen, i, "next run is not a slot");
    if (memchr(res ? res : "", '\0', rl))
        return corrupt(why, whylen, i, "NUL in the result");
    struct sched *s = sched_from(&sp);
    s->anchor_ms = anchor;
    s->last_run = last_run;
    s->next_run = next_run;
    s->runs = runs;
    if (flags & FLAG_RESULT)
        s->last_result = xmemdup(rl ? res : "", rl);
    *out = s;
    return 0;
}

int sched_set_decode(struct sched_set *set, const uint8_t *p, size_t n,
                     char *why, size_t whylen)
{
    if (n < HDR + 4 || memcmp(p, SCHED_MAGIC, 8) != 0) {
        snprintf(why, whylen, "bad magic or too short");
        return ERR_CORRUPT;
    }
    if (le_get32(p + 8) != SCHED_VERSION) {
        snprintf(why, whylen, "unknown version %u", (unsigned)le_get32(p + 8));
        return ERR_CORRUPT;
    }
    if (le_get32(p + n - 4) != crc32c(0, p, n - 4)) {
        snprintf(why, whylen, "checksum mismatch");
        return ERR_CORRUPT;
    }
    uint32_t count = le_get32(p + 12);
    if (count > SCHED_MAX || count > (n - HDR - 4) / REC_FIXED) {
        snprintf(why, whylen, "count %u exceeds the file", (unsigned)count);
        return ERR_CORRUPT;
    }
    struct sched_set got;
    sched_set_init(&got);
    struct le_reader r = {p + HDR, n - HDR - 4, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        struct sched *s;
        rc = decode_one(&r, i, &s, why, whylen);
        if (rc)
            goto err_free_got;
        struct sched *prev = got.n ? got.a[got.n - 1] : NULL;
        insert_at(&got, got.n, s);
        if (prev &&
            name_cmp(prev->name, prev->name_len, s->name, s->name_len) >= 0) {
            rc = corrupt(why, whylen, i, "names out of order");
            goto err_free_got;
        }
    }
    if (r.at != r.n) {
        snprintf(why, whylen, "%zu bytes after the last schedule", r.n - r.at);
        rc = ERR_CORRUPT;
        goto err_free_got;
    }
    sched_set_deinit(set);
    *set = got;
    return 0;
err_free_got:
    sched_set_deinit(&got);
    return rc;
}
