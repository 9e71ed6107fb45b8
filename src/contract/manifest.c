/* manifest.c - the events manifest's data and its Mermaid flowchart. */
#include "manifest.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

struct mstr mstr_dup(const void *p, size_t n)
{
    struct mstr s = {xmemdup(p, n), n};
    return s;
}

static void strs_free(struct mstr *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].p);
    free(v);
}

void manifest_deinit(struct manifest *m)
{
    for (size_t i = 0; i < m->ntypes; i++) {
        struct manifest_type *t = &m->types[i];
        free(t->type.p);
        free(t->owner.p);
        for (size_t k = 0; k < t->nproducers; k++)
            free(t->producers[k].name.p);
        free(t->producers);
        free(t->subs);
        for (size_t k = 0; k < t->ngroups; k++) {
            free(t->groups[k].stream.p);
            free(t->groups[k].group.p);
            strs_free(t->groups[k].cons, t->groups[k].ncons);
        }
        free(t->groups);
    }
    free(m->types);
    for (size_t i = 0; i < m->nsubs; i++) {
        free(m->subs[i].name.p);
        strs_free(m->subs[i].pats, m->subs[i].npats);
        strs_free(m->subs[i].cons, m->subs[i].ncons);
    }
    free(m->subs);
    memset(m, 0, sizeof(*m));
}

static int plain(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || (ch && strchr(" ._:/@+=-", ch) != NULL);
}

size_t manifest_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t v, min;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, v = p[0] & 0x1f, min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, v = p[0] & 0x0f, min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, v = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

void manifest_mermaid_label(struct sbuf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    sbuf_addc(out, '"');
    for (size_t i = 0; i < n;) {
        if (plain(p[i]) && p[i] != ' ') {
            sbuf_addc(out, (char)p[i++]);
            continue;
        }
        if (p[i] == ' ' && i > 0 && i + 1 < n) { /* inner spaces stay */
            sbuf_addc(out, ' ');
            i++;
            continue;
        }
        uint32_t cp = p[i];
        size_t len = 1;
        if (p[i] >= 0x80) {
            len = manifest_utf8_decode(p + i, n - i, &cp);
            if (!len) {
                cp = 0xfffd;
                len = 1;
            }
        }
        sbuf_addf(out, "#%u;", (unsigned)cp);
        i += len;
    }
    sbuf_addc(out, '"');
}

static void node(struct sbuf *out, const char *id, size_t k, const char *open,
                 const struct mstr *label, const char *close)
{
    sbuf_addf(out, "    %s%zu%s", id, k, open);
    manifest_mermaid_label(out, label->p, label->n);
    sbuf_addf(out, "%s\n", close);
}

static size_t find_name(const struct mstr *v, size_t n, const struct mstr *s)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].n == s->n && memcmp(v[i].p, s->p, s->n) == 0)
            return i;
    return n;
}

void manifest_mermaid(const struct manifest *m, struct sbuf *out)
{
    sbuf_adds(out, "flowchart LR\n");
    /* producers: one node per name, shared by every type it publishes */
    struct mstr *prods = NULL;
    size_t nprods = 0, cap = 0;
    for (size_t i = 0; i < m->ntypes; i++) {
        const struct manifest_type *t = &m->types[i];
        for (size_t k = 0; k <= t->nproducers; k++) {
            const struct mstr *name =
                k < t->nproducers ? &t->producers[k].name : &t->owner;
            if (!name->p || find_name(prods, nprods, name) < nprods)
                continue;
            if (nprods == cap) {
                cap = cap ? cap * 2 : 16;
                prods = xrealloc(prods, cap * sizeof(*prods));
            }
            prods[nprods] = *name; /* borrowed */
            node(out, "p", ++nprods, "([", name, "])");
        }
    }
    int *sub_used = xcalloc(m->nsubs + 1, sizeof(int));
    size_t ngroups = 0, ngcons = 0;
    for (size_t i = 0; i < m->ntypes; i++) {
        const struct manifest_type *t = &m->types[i];
        node(out, "t", i + 1, "[", &t->type, "]");
        int owner_seen = 0;
        for (size_t k = 0; k < t->nproducers; k++) {
            const struct mstr *name = &t->producers[k].name;
            sbuf_addf(out, "    p%zu --> t%zu\n", find_name(prods, nprods, name) + 1,
                      i + 1);
            owner_seen |= t->owner.p && name->n == t->owner.n &&
                          memcmp(name->p, t->owner.p, name->n) == 0;
        }
        if (t->owner.p && !owner_seen)
            sbuf_addf(out, "    p%zu -.->|owner| t%zu\n",
                      find_name(prods, nprods, &t->owner) + 1, i + 1);
        for (size_t k = 0; k < t->nsubs; k++) {
            size_t s = t->subs[k];
            if (!sub_used[s]) {
                const struct manifest_sub *sub = &m->subs[s];
                sub_used[s] = 1;
                node(out, "s", s + 1, "[[", &sub->name, "]]");
                for (size_t c = 0; c < sub->ncons; c++) {
                    sbuf_addf(out, "    c%zu_%zu", s + 1, c + 1);
                    sbuf_adds(out, "((");
                    manifest_mermaid_label(out, sub->cons[c].p, sub->cons[c].n);
                    sbuf_adds(out, "))\n");
                    sbuf_addf(out, "    s%zu --> c%zu_%zu\n", s + 1, s + 1, c + 1);
                }
            }
            sbuf_addf(out, "    t%zu --> s%zu\n", i + 1, s + 1);
        }
        for (size_t k = 0; k < t->ngroups; k++) {
            const struct manifest_group *g = &t->groups[k];
            struct sbuf lb;
            sbuf_init(&lb);
            sbuf_adds(&lb, "group ");
            sbuf_add(&lb, g->group.p, g->group.n);
            struct mstr label = {lb.data, lb.len};
            node(out, "g", ++ngroups, "[[", &label, "]]");
            sbuf_deinit(&lb);
            sbuf_addf(out, "    t%zu --> g%zu\n", i + 1, ngroups);
            for (size_t c = 0; c < g->ncons; c++) {
                sbuf_addf(out, "    gc%zu", ++ngcons);
                sbuf_adds(out, "((");
                manifest_mermaid_label(out, g->cons[c].p, g->cons[c].n);
                sbuf_adds(out, "))\n");
                sbuf_addf(out, "    g%zu --> gc%zu\n", ngroups, ngcons);
            }
        }
    }
    free(sub_used);
    free(prods);
}
