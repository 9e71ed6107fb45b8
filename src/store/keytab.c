#include "keytab.h"

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
#include <sys/mman.h>

#define HEADER_SIZE 40u

struct keytab {
    struct keytab_ent *ents;
    size_t n, cap;
    char *arena;           /* key bytes, back to back */
    size_t alen, acap;
    uint64_t *slots;       /* hash high 32 bits << 32 | entry index + 1; 0 = empty */
    size_t nslots;         /* power of two, at most half full */
};

/* FNV-1a with a final mix, so the high bits used as the tag are spread. */
static uint64_t key_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

struct keytab *keytab_new(void)
{
    return xcalloc(1, sizeof(struct keytab));
}

void keytab_free(struct keytab *kt)
{
    if (!kt)
        return;
    free(kt->ents);
    free(kt->arena);
    free(kt->slots);
    free(kt);
}

void keytab_clear(struct keytab *kt)
{
    kt->n = kt->alen = 0;
    if (kt->slots)
        memset(kt->slots, 0, kt->nslots * sizeof(*kt->slots));
    else if (kt->nslots)
        kt->slots = xcalloc(kt->nslots, sizeof(*kt->slots)); /* a failed load */
}

size_t keytab_count(const struct keytab *kt)
{
    return kt->n;
}

uint64_t keytab_bytes(const struct keytab *kt)
{
    return kt->cap * sizeof(*kt->ents) + kt->acap + kt->nslots * sizeof(*kt->slots);
}

const struct keytab_ent *keytab_at(const struct keytab *kt, size_t i,
                                   const char **key)
{
    *key = kt->arena + kt->ents[i].koff;
    return &kt->ents[i];
}

/* The slot key k (hash h) is in, or the empty slot where it belongs. */
static size_t slot_of(const struct keytab *kt, const char *k, size_t n, uint64_t h)
{
    size_t mask = kt->nslots - 1, i = (size_t)h & mask;
    uint64_t tag = h >> 32;
    for (;; i = (i + 1) & mask) {
        uint64_t v = kt->slots[i];
        if (!v)
            return i;
        if (v >> 32 != tag)
            continue;
        const struct keytab_ent *e = &kt->ents[(uint32_t)v - 1];
        if (e->klen == n && memcmp(kt->arena + e->koff, k, n) == 0)
            return i;
    }
}

#define PREFETCH_AHEAD 8 /* keys whose slot is asked for before it is written */

static void rehash(struct keytab *kt, size_t nslots)
{
    free(kt->slots);
    kt->slots = xcalloc(nslots, sizeof(*kt->slots));
    kt->nslots = nslots;
    size_t mask = nslots - 1;
    uint64_t ring[PREFETCH_AHEAD];
    /* slots are random accesses: each key's is fetched a few keys ahead */
    for (size_t i = 0; i < kt->n + PREFETCH_AHEAD; i++) {
        if (i >= PREFETCH_AHEAD) {
            size_t k = i - PREFETCH_AHEAD;
            uint64_t h = ring[k % PREFETCH_AHEAD];
            size_t at = (size_t)h & mask;
            while (kt->slots[at])
                at = (at + 1) & mask;
            kt->slots[at] = (h >> 32) << 32 | (uint64_t)(k + 1);
        }
        if (i < kt->n) {
            const struct keytab_ent *e = &kt->ents[i];
            uint64_t h = key_hash(kt->arena + e->koff, e->klen);
            ring[i % PREFETCH_AHEAD] = h;
            __builtin_prefetch(&kt->slots[(size_t)h & mask], 1);
        }
    }
}

void keytab_prefetch(const struct keytab *kt, const char *k, size_t n)
{
    if (kt->nslots)
        __builtin_prefetch(&kt->slots[(size_t)key_hash(k, n) & (kt->nslots - 1)]);
}

struct keytab_ent *keytab_find(struct keytab *kt, const char *k, size_t n)
{
    if (!kt->n)
        return NULL;
    uint64_t v = kt->slots[slot_of(kt, k, n, key_hash(k, n))];
    return v ? &kt->ents[(uint32_t)v - 1] : NULL;
}

struct keytab_ent *keytab_put(struct keytab *kt, const char *k, size_t n,
                              uint64_t version, uint64_t pos, uint32_t type)
{
    uint64_t h = key_hash(k, n);
    if ((kt->n + 1) * 2 > kt->nslots)
        rehash(kt, kt->nslots ? kt->nslots * 2 : 1024);
    size_t at = slot_of(kt, k, n, h);
    struct keytab_ent *e;
    if (kt->slots[at]) {
        e = &kt->ents[(uint32_t)kt->slots[at] - 1];
    } else {
        if (kt->n == kt->cap) {
            kt->cap = kt->cap ? kt->cap * 2 : 1024;
            kt->ents = xrealloc(kt->ents, kt->cap * sizeof(*kt->ents));
        }
        if (kt->alen + n > kt->acap) {
            while (kt->alen + n > kt->acap)
                kt->acap = kt->acap ? kt->acap * 2 : 16384;
            kt->arena = xrealloc(kt->arena, kt->acap);
        }
        memcpy(kt->arena + kt->alen, k, n);
        e = &kt->ents[kt->n];
        e->koff = kt->alen;
        e->klen = (uint32_t)n;
        kt->alen += n;
        kt->n++;
        kt->slots[at] = (h >> 32) << 32 | (uint64_t)kt->n;
    }
    e->version = version;
    e->pos = pos;
    e->type = type;
    return e;
}

/* ---- the checkpoint ---- */

/* n bytes for a checkpoint, freed with free(). Past 2 MiB on huge pages
 * where the kernel allows it (transparent huge pages in madvise mode,
 * Debian's default): the buffer is new at each save, and faulting it in by
 * 4 KiB pages (7,300 faults for 1M keys) cost more than the encoding. */
static uint8_t *ckpt_alloc(size_t n)
{
    const size_t huge = 2u << 20;
    if (n >= huge) {
        size_t size = (n + huge - 1) & ~(huge - 1);
        void *p = aligned_alloc(huge, size);
        if (p) {
            (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: EINVAL without THP */
            return p;
        }
    }
    return xmalloc(n);
}

uint8_t *keytab_encode(const struct keytab *kt, uint64_t upto,
                       const char *(*type_name)(void *ctx, uint32_t id, size_t *len),
                       void *ctx, size_t *len)
{
    /* the types the entries use, renumbered densely in first-use order */
    uint32_t maxt = 0;
    for (size_t i = 0; i < kt->n; i++)
        if (kt->ents[i].type > maxt)
            maxt = kt->ents[i].type;
    uint32_t *remap = xcalloc((size_t)maxt + 1, sizeof(*remap)); /* id + 1 */
    uint32_t *order = xmalloc(((size_t)maxt + 1) * sizeof(*order));
    uint32_t ntypes = 0;
    size_t names = 0;
    for (size_t i = 0; i < kt->n; i++) {
        uint32_t t = kt->ents[i].type;
        if (remap[t])
            continue;
        order[ntypes] = t;
        remap[t] = ++ntypes;
        size_t l;
        type_name(ctx, t, &l);
        names += 1 + l;
    }
    size_t size = HEADER_SIZE + names + kt->n * 22 + kt->alen + 4;
    uint8_t *buf = ckpt_alloc(size), *w = buf + HEADER_SIZE;
    memset(buf, 0, HEADER_SIZE);
    memcpy(buf, KEYTAB_MAGIC, 8);
    le_put32(buf + 8, KEYTAB_VERSION);
    le_put64(buf + 16, upto);
    le_put64(buf + 24, kt->n);
    le_put32(buf + 32, ntypes);
    for (uint32_t i = 0; i < ntypes; i++) {
        size_t l;
        const char *name = type_name(ctx, order[i], &l);
        *w++ = (uint8_t)l;
        memcpy(w, name, l);
        w += l;
    }
    for (size_t i = 0; i < kt->n; i++) {
        const struct keytab_ent *e = &kt->ents[i];
        le_put64(w, e->version);
        le_put64(w + 8, e->pos);
        le_put32(w + 16, remap[e->type] - 1);
        le_put16(w + 20, (uint16_t)e->klen);
        memcpy(w + 22, kt->arena + e->koff, e->klen);
        w += 22 + e->klen;
    }
    free(order);
    free(remap);
    le_put32(w, crc32c(0, buf, (size_t)(w - buf)));
    *len = size;
    return buf;
}

int keytab_save(const struct keytab *kt, uint64_t upto, const char *dir,
                const char *path,
                const char *(*type_name)(void *ctx, uint32_t id, size_t *len),
                void *ctx, char *err, size_t errlen)
{
    size_t n;
    uint8_t *buf = keytab_encode(kt, upto, type_name, ctx, &n);
    int rc = fsx_replace(dir, path, buf, n, err, errlen);
    free(buf);
    return rc;
}

static int corrupt(char *err, size_t errlen, const char *path, const char *why)
{
    snprintf(err, errlen, "key table checkpoint %s: %s", path, why);
    return ERR_CORRUPT;
}

int keytab_load(struct keytab *kt, const char *path, uint64_t *upto,
                uint32_t (*type_id)(void *ctx, const char *name, size_t len),
                void *ctx, char *err, size_t errlen)
{
    keytab_clear(kt);
    int fd = fsx_open(path, O_RDONLY, 0);
    if (fd == -ENOENT)
        return ERR_NOTFOUND;
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(-fd));
        return ERR_IO;
    }
    off_t size = fsx_size(fd);
    if (size < (off_t)(HEADER_SIZE + 4)) {
        fsx_close(fd);
        return corrupt(err, errlen, path, "too short");
    }
    uint8_t *p = xmalloc((size_t)size);
    int rc = fsx_pread_all(fd, p, (size_t)size, 0);
    fsx_close(fd);
    if (rc) {
        free(p);
        snprintf(err, errlen, "read %s: %s", path, strerror(-rc));
        return ERR_IO;
    }
    size_t n = (size_t)size - 4;
    uint32_t *ids = NULL;
    if (crc32c(0, p, n) != le_get32(p + n) || memcmp(p, KEYTAB_MAGIC, 8) != 0 ||
        le_get32(p + 8) != KEYTAB_VERSION) {
        rc = corrupt(err, errlen, path, "bad magic, version or checksum");
        goto out;
    }
    struct le_reader r = {p, n, HEADER_SIZE, 0};
    uint64_t nkeys = le_get64(p + 24);
    uint32_t ntypes = le_get32(p + 32);
    if (nkeys > n / 22 || ntypes > n) {
        rc = corrupt(err, errlen, path, "counts do not fit the file");
        goto out;
    }
    /* room for every key at once: no regrowth while loading */
    size_t want = 1024;
    while (want < nkeys * 2)
        want *= 2;
    if (want > kt->nslots) {
        free(kt->slots);
        kt->slots = NULL;
        kt->nslots = want;
    }
    if (nkeys > kt->cap) {
        kt->cap = (size_t)nkeys;
        kt->ents = xrealloc(kt->ents, kt->cap * sizeof(*kt->ents));
    }
    if (n > kt->acap) {
        kt->acap = n;
        kt->arena = xrealloc(kt->arena, kt->acap);
    }
    ids = xmalloc((ntypes ? ntypes : 1) * sizeof(*ids));
    for (uint32_t i = 0; i < ntypes; i++) {
        size_t len;
        const char *name = le_read_str(&r, 1, &len);
        if (r.bad || len == 0) {
            rc = corrupt(err, errlen, path, "bad type name");
            goto out;
        }
        ids[i] = type_id(ctx, name, len);
    }
    for (uint64_t i = 0; i < nkeys; i++) {
        uint64_t version = le_read(&r, 8), pos = le_read(&r, 8);
        uint32_t t = (uint32_t)le_read(&r, 4);
        size_t klen;
        const char *key = le_read_str(&r, 2, &klen);
        if (r.bad || t >= ntypes || klen == 0 || version == 0) {
            keytab_clear(kt);
            rc = corrupt(err, errlen, path, "bad entry");
            goto out;
        }
        /* keys are distinct in a checkpoint: appended, indexed below */
        memcpy(kt->arena + kt->alen, key, klen);
        kt->ents[kt->n++] = (struct keytab_ent){version, pos, kt->alen,
                                                (uint32_t)klen, ids[t]};
        kt->alen += klen;
    }
    if (!r.bad)
        rehash(kt, kt->nslots);
    if (r.at != n || keytab_count(kt) != nkeys) {
        keytab_clear(kt);
        rc = corrupt(err, errlen, path, "entries do not add up");
        goto out;
    }
    *upto = le_get64(p + 16);
    rc = 0;
out:
    free(ids);
    free(p);
    return rc;
}
