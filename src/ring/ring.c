#include "ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "errors.h"
#include "sbuf.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ull
#define SLOT_BITS_MAX 20u
#define STATE_MAGIC "tincan-ring-state 1"

/* ---- hashing ---- */

uint64_t ring_fnv1a64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t ring_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t ring_hash(const void *p, size_t n)
{
    return ring_mix64(ring_fnv1a64(p, n));
}

uint64_t ring_point(uint64_t seed, uint64_t j)
{
    return ring_mix64(seed + (j + 1) * GOLDEN_GAMMA);
}

/* ---- validation ---- */

void ring_quote(char *dst, size_t cap, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t o = 0, shown = n > 64 ? 64 : n;
    if (cap == 0)
        return;
    for (size_t i = 0; i < shown && o + 1 < cap; i++)
        dst[o++] = (s[i] >= 32 && s[i] < 127 && s[i] != '\'') ? (char)s[i] : '?';
    if (shown < n)
        for (int k = 0; k < 3 && o + 1 < cap; k++)
            dst[o++] = '.';
    dst[o] = '\0';
}

static int is_host_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
}

static int is_ipv6_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
           (ch >= '0' && ch <= '9') || ch == ':' || ch == '.';
}

int ring_node_check(const char *node, size_t len, char *err, size_t errlen)
{
    char q[80];
    ring_quote(q, sizeof(q), node, len);
    if (len == 0 || len > RING_NODE_MAX) {
        snprintf(err, errlen, "node '%s' must be host:port of 3 to %d bytes", q,
                 RING_NODE_MAX);
        return -1;
    }
    size_t colon = len;
    while (colon > 0 && node[colon - 1] != ':')
        colon--;
    if (colon == 0) {
        snprintf(err, errlen, "node '%s' must be host:port", q);
        return -1;
    }
    colon--; /* index of the last ':' */
    const char *port = node + colon + 1;
    size_t plen = len - colon - 1;
    unsigned long pv = 0;
    int ok = plen >= 1 && plen <= 5 && port[0] != '0';
    for (size_t i = 0; ok && i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            ok = 0;
        else
            pv = pv * 10 + (unsigned long)(port[i] - '0');
    }
    if (!ok || pv < 1 || pv > 65535) {
        snprintf(err, errlen,
                 "node '%s': port must be an integer between 1 and 65535", q);
        return -1;
    }
    if (colon == 0) {
        snprintf(err, errlen, "node '%s': empty host", q);
        return -1;
    }
    if (node[0] == '[') {
        if (colon < 3 || node[colon - 1] != ']') {
            snprintf(err, errlen, "node '%s': IPv6 host must be [address]", q);
            return -1;
        }
        for (size_t i = 1; i + 1 < colon; i++)
            if (!is_ipv6_char((unsigned char)node[i])) {
                snprintf(err, errlen,
                         "node '%s': invalid character in IPv6 host", q);
                return -1;
            }
        return 0;
    }
    if (colon > 253) {
        snprintf(err, errlen, "node '%s': host longer than 253 bytes", q);
        return -1;
    }
    for (size_t i = 0; i < colon; i++)
        if (!is_host_char((unsigned char)node[i])) {
            snprintf(err, errlen,
                     "node '%s': host may hold only letters, digits, '.', "
                     "'-', '_' (or be an [IPv6] address)",
                     q);
            return -1;
        }
    return 0;
}

int ring_name_check(const char *name, size_t len, char *err, size_t errlen)
{
    char q[80];
    ring_quote(q, sizeof(q), name, len);
    if (len == 0 || len > RING_NAME_MAX) {
        snprintf(err, errlen, "ring name '%s' must be 1 to %d bytes", q,
                 RING_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!is_host_char(ch) && ch != ':') {
            snprintf(err, errlen,
                     "ring name '%s' may hold only letters, digits, '.', "
                     "'-', '_', ':'",
                     q);
            return -1;
        }
    }
    return 0;
}

/* ---- one ring ---- */

void ring_init(struct ring *r, const char *name, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->name = xmemdup(name, len);
    r->dirty = 1;
}

static void free_circle(struct ring *r)
{
    free(r->points);
    free(r->owners);
    free(r->slots);
    free(r->seen);
    r->points = NULL;
    r->owners = NULL;
    r->slots = NULL;
    r->seen = NULL;
    r->npoints = 0;
    r->nhealthy = 0;
}

void ring_deinit(struct ring *r)
{
    for (size_t i = 0; i < r->nmembers; i++)
        free(r->members[i].node);
    free(r->members);
    free_circle(r);
    free(r->name);
    memset(r, 0, sizeof(*r));
}

static int node_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Index of node if present (*found = 1), else where it would be inserted. */
static size_t member_pos(const struct ring *r, const char *node, size_t len,
                         int *found)
{
    size_t lo = 0, hi = r->nmembers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct ring_member *m = &r->members[mid];
        int c = node_cmp(m->node, m->node_len, node, len);
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

long ring_find(const struct ring *r, const char *node, size_t len)
{
    int found;
    size_t i = member_pos(r, node, len, &found);
    return found ? (long)i : -1;
}

static void recompute_expiry(struct ring *r)
{
    uint64_t next = 0;
    for (size_t i = 0; i < r->nmembers; i++) {
        uint64_t e = r->members[i].expires_ms;
        if (e && (next == 0 || e < next))
            next = e;
    }
    r->next_expiry_ms = next;
}

uint32_t ring_total_weight(const struct ring *r)
{
    uint32_t w = 0;
    for (size_t i = 0; i < r->nmembers; i++)
        w += r->members[i].weight;
    return w;
}

/* Shared by join and restore: expires is absolute, or UINT64_MAX to keep. */
static int upsert(struct ring *r, const char *node, size_t len,
                  uint32_t weight, uint64_t expires, uint64_t now, char *err,
                  size_t errlen)
{
    int found;
    size_t i = member_pos(r, node, len, &found);
    uint32_t total = ring_total_weight(r);
    uint32_t old_w = found ? r->members[i].weight : 0;
    uint32_t new_w = weight ? weight : (found ? old_w : 1);
    char q[80];

    if (new_w > RING_WEIGHT_MAX) {
        snprintf(err, errlen, "weight must be between 1 and %d",
                 RING_WEIGHT_MAX);
        return ERR_INVAL;
    }
    if (total - old_w + new_w > RING_TOTAL_WEIGHT_MAX) {
        ring_quote(q, sizeof(q), r->name, strlen(r->name));
        snprintf(err, errlen,
                 "weight %u would bring ring '%s' to a total weight of %u "
                 "(max %d)",
                 new_w, q, total - old_w + new_w, RING_TOTAL_WEIGHT_MAX);
        return ERR_LIMIT;
    }
    if (!found) {
        if (r->nmembers >= RING_MEMBERS_MAX) {
            ring_quote(q, sizeof(q), r->name, strlen(r->name));
            snprintf(err, errlen, "ring '%s' already has %d members (max)", q,
                     RING_MEMBERS_MAX);
            return ERR_LIMIT;
        }
        if (r->nmembers == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 8;
            r->members = xrealloc(r->members, r->cap * sizeof(*r->members));
        }
        memmove(&r->members[i + 1], &r->members[i],
                (r->nmembers - i) * sizeof(*r->members));
        r->nmembers++;
        struct ring_member *m = &r->members[i];
        memset(m, 0, sizeof(*m));
        m->node = xmemdup(node, len);
        m->node_len = len;
        m->weight = new_w;
        m->expires_ms = expires == UINT64_MAX ? 0 : expires;
        m->seed = ring_fnv1a64(node, len);
        m->healthy = 1;
        m->joined_ms = now;
        r->joins++;
        r->dirty = 1;
        recompute_expiry(r);
        return RING_ADDED;
    }
    struct ring_member *m = &r->members[i];
    if (expires != UINT64_MAX)
        m->expires_ms = expires;
    recompute_expiry(r);
    if (new_w != old_w) {
        m->weight = new_w;
        r->dirty = 1;
        return RING_CHANGED;
    }
    return RING_REFRESHED;
}

int ring_join(struct ring *r, const char *node, size_t len, uint32_t weight,
              int64_t ttl_ms, uint64_t now, char *err, size_t errlen)
{
    uint64_t expires = ttl_ms < 0    ? UINT64_MAX
                       : ttl_ms == 0 ? 0
                                     : now + (uint64_t)ttl_ms;
    return upsert(r, node, len, weight, expires, now, err, errlen);
}

int ring_restore(struct ring *r, const char *node, size_t len, uint32_t weight,
                 uint64_t expires_ms, uint64_t now, char *err, size_t errlen)
{
    return upsert(r, node, len, weight ? weight : 1, expires_ms, now, err,
                  errlen);
}

static void remove_at(struct ring *r, size_t i)
{
    free(r->members[i].node);
    memmove(&r->members[i], &r->members[i + 1],
            (r->nmembers - i - 1) * sizeof(*r->members));
    r->nmembers--;
    r->dirty = 1;
}

int ring_leave(struct ring *r, const char *node, size_t len)
{
    int found;
    size_t i = member_pos(r, node, len, &found);
    if (!found)
        return ERR_NOTFOUND;
    remove_at(r, i);
    r->leaves++;
    recompute_expiry(r);
    return 0;
}

int ring_set_healthy(struct ring *r, size_t i, int healthy)
{
    if (i >= r->nmembers || !r->members[i].healthy == !healthy)
        return 0;
    r->members[i].healthy = healthy ? 1 : 0;
    r->dirty = 1;
    return 1;
}

size_t ring_expire(struct ring *r, uint64_t now)
{
    if (r->next_expiry_ms == 0 || r->next_expiry_ms > now)
        return 0;
    size_t removed = 0;
    for (size_t i = r->nmembers; i-- > 0;) {
        uint64_t e = r->members[i].expires_ms;
        if (e && e <= now) {
            remove_at(r, i);
            removed++;
        }
    }
    r->expired += removed;
    recompute_expiry(r);
    return removed;
}

void ring_set_load_factor(struct ring *r, uint32_t percent)
{
    if (percent && percent < RING_LOAD_FACTOR_MIN)
        percent = RING_LOAD_FACTOR_MIN;
    if (percent > RING_LOAD_FACTOR_MAX)
        percent = RING_LOAD_FACTOR_MAX;
    if (r->load_factor != percent) {
        r->load_factor = percent;
        r->dirty = 1;
    }
}

/* ---- building the circle ---- */

struct vpoint {
    uint64_t h;     /* position on the circle */
    uint32_t owner; /* member index */
};

static int vpoint_cmp(const void *a, const void *b)
{
    const struct vpoint *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    /* ties: the member whose node sorts first (members are sorted by node) */
    return (x->owner > y->owner) - (x->owner < y->owner);
}

/* Bounded load: walks the arcs in circle order from point 0 and gives each to
 * the first member clockwise (its own owner first) still under its capacity
 * factor/100 x weight/total x 2^64. See docs/router.md. */
static void bound_load(struct ring *r, uint32_t total_weight)
{
    size_t n = r->nmembers, p = r->npoints;
    unsigned __int128 *cap = xcalloc(n, sizeof(*cap));
    unsigned __int128 *used = xcalloc(n, sizeof(*used));
    uint32_t *orig = xmalloc(p * sizeof(*orig));
    size_t nonfull = 0;
    memcpy(orig, r->owners, p * sizeof(*orig));
    for (size_t m = 0; m < n; m++) {
        if (!r->members[m].healthy)
            continue;
        cap[m] = ((unsigned __int128)1 << 64) * r->load_factor *
                 r->members[m].weight / (100u * (unsigned __int128)total_weight);
        if (cap[m] > 0)
            nonfull++;
    }
    for (size_t k = 0; k < p; k++) {
        uint64_t arc = r->points[k] - r->points[k ? k - 1 : p - 1];
        uint32_t m = orig[k];
        if (k == 0 && p == 1)
            arc = 0;
        if (nonfull > 0) {
            size_t j = k;
            for (size_t steps = 0; steps < p; steps++) {
                if (used[orig[j]] < cap[orig[j]]) {
                    m = orig[j];
                    break;
                }
                j = j + 1 == p ? 0 : j + 1;
            }
        }
        int was_open = used[m] < cap[m];
        used[m] += arc;
        if (was_open && used[m] >= cap[m])
            nonfull--;
        r->owners[k] = m;
    }
    free(orig);
    free(used);
    free(cap);
}

void ring_build(struct ring *r)
{
    if (!r->dirty)
        return;
    free_circle(r);
    r->dirty = 0;
    r->rebuilds++;
    size_t total = 0;
    uint32_t total_weight = 0;
    for (size_t i = 0; i < r->nmembers; i++)
        if (r->members[i].healthy) {
            total += (size_t)r->members[i].weight * RING_VNODES;
            total_weight += r->members[i].weight;
            r->nhealthy++;
        }
    if (total == 0)
        return;
    struct vpoint *v = xmalloc(total * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < r->nmembers; i++) {
        const struct ring_member *m = &r->members[i];
        if (!m->healthy)
            continue;
        uint64_t nv = (uint64_t)m->weight * RING_VNODES;
        for (uint64_t j = 0; j < nv; j++) {
            v[k].h = ring_point(m->seed, j);
            v[k].owner = (uint32_t)i;
            k++;
        }
    }
    qsort(v, total, sizeof(*v), vpoint_cmp);
    r->npoints = total;
    r->points = xmalloc(total * sizeof(*r->points));
    r->owners = xmalloc(total * sizeof(*r->owners));
    for (size_t i = 0; i < total; i++) {
        r->points[i] = v[i].h;
        r->owners[i] = v[i].owner;
    }
    free(v);

    unsigned bits = 1;
    while (bits < SLOT_BITS_MAX && ((size_t)1 << bits) < total)
        bits++;
    r->slot_bits = bits;
    size_t nslots = (size_t)1 << bits;
    r->slots = xmalloc((nslots + 1) * sizeof(*r->slots));
    size_t at = 0;
    for (size_t s = 0; s <= nslots; s++) {
        while (at < total && (r->points[at] >> (64 - bits)) < s)
            at++;
        r->slots[s] = (uint32_t)at;
    }
    r->seen = xcalloc(r->nmembers ? r->nmembers : 1, sizeof(*r->seen));
    r->seen_stamp = 0;
    if (r->load_factor && r->nhealthy >= 2)
        bound_load(r, total_weight);
}

/* Index of the point owning hash h (npoints > 0). */
static size_t point_of(const struct ring *r, uint64_t h)
{
    uint64_t s = h >> (64 - r->slot_bits);
    size_t lo = r->slots[s], hi = r->slots[s + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->points[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->npoints ? 0 : lo;
}

const struct ring_member *ring_lookup(struct ring *r, const void *key,
                                      size_t len)
{
    r->lookups++;
    ring_build(r);
    if (r->npoints == 0)
        return NULL;
    return &r->members[r->owners[point_of(r, ring_hash(key, len))]];
}

size_t ring_lookup_n(struct ring *r, const void *key, size_t len, size_t n,
                     const struct ring_member **out)
{
    r->lookups++;
    ring_build(r);
    if (r->npoints == 0 || n == 0)
        return 0;
    if (n > r->nhealthy)
        n = r->nhealthy;
    if (++r->seen_stamp == 0) {
        memset(r->seen, 0, r->nmembers * sizeof(*r->seen));
        r->seen_stamp = 1;
    }
    size_t k = point_of(r, ring_hash(key, len)), got = 0;
    for (size_t steps = 0; steps < r->npoints && got < n; steps++) {
        uint32_t m = r->owners[k];
        if (r->seen[m] != r->seen_stamp) {
            r->seen[m] = r->seen_stamp;
            out[got++] = &r->members[m];
        }
        k = k + 1 == r->npoints ? 0 : k + 1;
    }
    return got;
}

/* ---- ring sets ---- */

void ring_set_init(struct ring_set *s)
{
    memset(s, 0, sizeof(*s));
}

void ring_set_deinit(struct ring_set *s)
{
    for (size_t i = 0; i < s->nrings; i++) {
        ring_deinit(s->rings[i]);
        free(s->rings[i]);
    }
    free(s->rings);
    memset(s, 0, sizeof(*s));
}

static size_t ring_pos(const struct ring_set *s, const char *name, size_t len,
                       int *found)
{
    size_t lo = 0, hi = s->nrings;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *n = s->rings[mid]->name;
        int c = node_cmp(n, strlen(n), name, len);
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

struct ring *ring_set_find(const struct ring_set *s, const char *name,
                           size_t len)
{
    int found;
    size_t i = ring_pos(s, name, len, &found);
    return found ? s->rings[i] : NULL;
}

struct ring *ring_set_get(struct ring_set *s, const char *name, size_t len)
{
    int found;
    size_t i = ring_pos(s, name, len, &found);
    if (found)
        return s->rings[i];
    if (s->nrings >= RING_RINGS_MAX)
        return NULL;
    if (s->nrings == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->rings = xrealloc(s->rings, s->cap * sizeof(*s->rings));
    }
    memmove(&s->rings[i + 1], &s->rings[i], (s->nrings - i) * sizeof(*s->rings));
    s->nrings++;
    s->rings[i] = xmalloc(sizeof(struct ring));
    ring_init(s->rings[i], name, len);
    return s->rings[i];
}

void ring_set_prune(struct ring_set *s, struct ring *r)
{
    if (r->nmembers > 0 || r->check_interval_ms > 0)
        return;
    for (size_t i = 0; i < s->nrings; i++)
        if (s->rings[i] == r) {
            ring_deinit(r);
            free(r);
            memmove(&s->rings[i], &s->rings[i + 1],
                    (s->nrings - i - 1) * sizeof(*s->rings));
            s->nrings--;
            return;
        }
}

/* ---- state file ---- */

void ring_set_encode(const struct ring_set *s, uint64_t now_mono,
                     uint64_t now_wall, struct sbuf *out)
{
    size_t start = out->len;
    sbuf_addf(out, "%s\n", STATE_MAGIC);
    for (size_t i = 0; i < s->nrings; i++) {
        const struct ring *r = s->rings[i];
        sbuf_addf(out, "ring %s %llu\n", r->name,
                  (unsigned long long)r->check_interval_ms);
        for (size_t j = 0; j < r->nmembers; j++) {
            const struct ring_member *m = &r->members[j];
            uint64_t deadline = 0;
            if (m->expires_ms)
                deadline = now_wall + (m->expires_ms > now_mono
                                           ? m->expires_ms - now_mono
                                           : 0);
            if (m->expires_ms && deadline == 0)
                deadline = 1;
            sbuf_addf(out, "member %s %u %llu\n", m->node, m->weight,
                      (unsigned long long)deadline);
        }
    }
    uint64_t sum = ring_hash(out->data + start, out->len - start);
    sbuf_addf(out, "end %016llx\n", (unsigned long long)sum);
}

/* Splits line into up to max space-separated words; returns the count, or
 * max + 1 if there are more. */
static size_t split_words(const char *p, size_t n, const char **w, size_t *wl,
                          size_t max)
{
    size_t count = 0, i = 0;
    while (i < n) {
        if (p[i] == ' ') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && p[j] != ' ')
            j++;
        if (count == max)
            return max + 1;
        w[count] = p + i;
        wl[count] = j - i;
        count++;
        i = j;
    }
    return count;
}

static int parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

static int word_is(const char *w, size_t wl, const char *lit)
{
    return wl == strlen(lit) && memcmp(w, lit, wl) == 0;
}

int ring_set_decode(struct ring_set *s, const char *text, size_t len,
                    uint64_t now_mono, uint64_t now_wall, char *err,
                    size_t errlen)
{
    struct ring_set fresh;
    struct ring *cur = NULL;
    size_t pos = 0, line = 0;
    int ended = 0;
    char sub[160];

    ring_set_init(&fresh);
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) {
            snprintf(err, errlen, "line %zu: no newline at end", line + 1);
            goto err_free;
        }
        const char *p = text + pos;
        size_t n = (size_t)(nl - p), line_start = pos;
        const char *w[5];
        size_t wl[5];
        pos += n + 1;
        line++;
        if (ended) {
            snprintf(err, errlen, "line %zu: data after the end line", line);
            goto err_free;
        }
        if (line == 1) {
            if (!word_is(p, n, STATE_MAGIC)) {
                snprintf(err, errlen, "line 1: not a ring state file");
                goto err_free;
            }
            continue;
        }
        size_t nw = split_words(p, n, w, wl, 5);
        if (nw == 3 && word_is(w[0], wl[0], "ring")) {
            uint64_t interval;
            if (ring_name_check(w[1], wl[1], sub, sizeof(sub)) < 0 ||
                parse_u64(w[2], wl[2], &interval) < 0 ||
                (interval != 0 && (interval < RING_CHECK_MIN_MS ||
                                   interval > RING_CHECK_MAX_MS))) {
                snprintf(err, errlen, "line %zu: bad ring line", line);
                goto err_free;
            }
            if (ring_set_find(&fresh, w[1], wl[1])) {
                snprintf(err, errlen, "line %zu: ring listed twice", line);
                goto err_free;
            }
            cur = ring_set_get(&fresh, w[1], wl[1]);
            if (!cur) {
                snprintf(err, errlen, "line %zu: too many rings", line);
                goto err_free;
            }
            cur->check_interval_ms = interval;
        } else if (nw == 4 && word_is(w[0], wl[0], "member")) {
            uint64_t weight, deadline;
            if (!cur || ring_node_check(w[1], wl[1], sub, sizeof(sub)) < 0 ||
                parse_u64(w[2], wl[2], &weight) < 0 || weight < 1 ||
                weight > RING_WEIGHT_MAX ||
                parse_u64(w[3], wl[3], &deadline) < 0) {
                snprintf(err, errlen, "line %zu: bad member line", line);
                goto err_free;
            }
            if (ring_find(cur, w[1], wl[1]) >= 0) {
                snprintf(err, errlen, "line %zu: member listed twice", line);
                goto err_free;
            }
            uint64_t expires = 0;
            if (deadline) {
                if (deadline <= now_wall)
                    continue; /* expired while we were down */
                expires = now_mono + (deadline - now_wall);
            }
            if (ring_restore(cur, w[1], wl[1], (uint32_t)weight, expires,
                             now_mono, sub, sizeof(sub)) < 0) {
                snprintf(err, errlen, "line %zu: %s", line, sub);
                goto err_free;
            }
        } else if (nw == 2 && word_is(w[0], wl[0], "end")) {
            uint64_t want = ring_hash(text, line_start);
            char hex[17];
            snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)want);
            if (!word_is(w[1], wl[1], hex)) {
                snprintf(err, errlen, "line %zu: checksum mismatch", line);
                goto err_free;
            }
            ended = 1;
        } else {
            snprintf(err, errlen, "line %zu: unknown record", line);
            goto err_free;
        }
    }
    if (!ended) {
        snprintf(err, errlen, "no end line (file cut short)");
        goto err_free;
    }
    /* the decoded rings start with no joins counted; rings whose members
     * all expired while we were down and that have no check go away */
    for (size_t i = fresh.nrings; i-- > 0;) {
        fresh.rings[i]->joins = 0;
        ring_set_prune(&fresh, fresh.rings[i]);
    }
    ring_set_deinit(s);
    *s = fresh;
    return 0;

err_free:
    ring_set_deinit(&fresh);
    return ERR_CORRUPT;
}
