#include "snapshot.h"

#include "common.h"
#include "crc32c.h"
#include "errors.h"
#include "le.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXED 48u /* bytes before the name */

static void put(struct sbuf *b, uint64_t v, size_t k)
{
    uint8_t t[8];
    for (size_t i = 0; i < k; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    sbuf_add(b, t, k);
}

void snap_encode(const struct snap *sn, struct sbuf *out)
{
    size_t start = out->len;
    sbuf_reserve(out, FIXED + sn->name_len + sn->pattern_len + 8 + sn->n * 12);
    sbuf_add(out, SNAP_MAGIC, 8);
    put(out, SNAP_VERSION, 4);
    put(out, sn->state ? 1 : 0, 4);
    put(out, sn->position, 8);
    put(out, sn->time_ms, 8);
    put(out, sn->n, 8);
    put(out, sn->ntypes, 4);
    put(out, 0, 4);
    put(out, sn->name_len, 2);
    sbuf_add(out, sn->name, sn->name_len);
    put(out, sn->pattern_len, 1);
    sbuf_add(out, sn->pattern, sn->pattern_len);
    for (uint32_t i = 0; i < sn->ntypes; i++) {
        put(out, sn->type_lens[i], 1);
        sbuf_add(out, sn->types[i], sn->type_lens[i]);
    }
    for (uint64_t i = 0; i < sn->n; i++) {
        put(out, sn->pos[i], 8);
        put(out, sn->type[i], 4);
    }
    put(out, crc32c(0, out->data + start, out->len - start), 4);
}

static int bad(char *why, size_t whylen, const char *what)
{
    snprintf(why, whylen, "snapshot file: %s", what);
    return ERR_CORRUPT;
}

void snap_free(struct snap *sn)
{
    if (!sn)
        return;
    for (uint32_t i = 0; i < sn->ntypes; i++)
        free(sn->types[i]);
    free(sn->types);
    free(sn->type_lens);
    free(sn->pos);
    free(sn->type);
    free(sn->name);
    free(sn->pattern);
    free(sn);
}

int snap_decode(const uint8_t *p, size_t n, struct snap *sn, char *why,
                size_t whylen)
{
    memset(sn, 0, sizeof(*sn));
    if (n < FIXED + 4 || memcmp(p, SNAP_MAGIC, 8) != 0)
        return bad(why, whylen, "bad magic or too short");
    n -= 4;
    if (crc32c(0, p, n) != le_get32(p + n))
        return bad(why, whylen, "checksum mismatch");
    if (le_get32(p + 8) != SNAP_VERSION)
        return bad(why, whylen, "unknown version");
    sn->state = le_get32(p + 12) & 1;
    sn->position = le_get64(p + 16);
    sn->time_ms = le_get64(p + 24);
    uint64_t keys = le_get64(p + 32);
    uint32_t ntypes = le_get32(p + 40);
    if (keys > n / 12 || ntypes > n)
        return bad(why, whylen, "counts do not fit the file");
    struct le_reader r = {p, n, FIXED, 0};
    size_t len;
    const char *s = le_read_str(&r, 2, &len);
    sn->name = xmemdup(s, len);
    sn->name_len = len;
    s = le_read_str(&r, 1, &len);
    sn->pattern = xmemdup(s, len);
    sn->pattern_len = len;
    sn->types = xcalloc(ntypes ? ntypes : 1, sizeof(*sn->types));
    sn->type_lens = xcalloc(ntypes ? ntypes : 1, 1);
    for (; sn->ntypes < ntypes; sn->ntypes++) {
        s = le_read_str(&r, 1, &len);
        sn->types[sn->ntypes] = xmemdup(s, len);
        sn->type_lens[sn->ntypes] = (uint8_t)len;
    }
    sn->pos = xmalloc((keys ? keys : 1) * sizeof(*sn->pos));
    sn->type = xmalloc((keys ? keys : 1) * sizeof(*sn->type));
    for (sn->n = 0; sn->n < keys && !r.bad; sn->n++) {
        sn->pos[sn->n] = le_read(&r, 8);
        sn->type[sn->n] = (uint32_t)le_read(&r, 4);
        if (sn->type[sn->n] >= ntypes || sn->pos[sn->n] > sn->position ||
            (sn->n && sn->pos[sn->n] <= sn->pos[sn->n - 1]))
            r.bad = 1;
    }
    if (r.bad || r.at != n || sn->name_len == 0 || sn->pattern_len == 0)
        return bad(why, whylen, "fields do not add up");
    return 0;
}
