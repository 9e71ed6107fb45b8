/* mapsvg.c - the events map as SVG: the graph of a manifest, its crossing
 * reduction, its layout and its drawing. */
#include "mapsvg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

enum { COL_PRODUCER, COL_TYPE, COL_SUB, COL_CONSUMER, NCOLS };

#define BOX_H   24 /* px */
#define BOX_GAP 10 /* px between the boxes of a column */
#define COL_GAP 96 /* px between columns: the curves' room */
#define PAD     10 /* px of box left and right of its label */
#define MARGIN  16 /* px around the picture */
#define HEAD_H  30 /* px of the column headings */
#define SWEEPS  4  /* rounds of barycenter ordering, each down then up */

static const char *const heads[NCOLS] = {"producers", "types", "subscriptions",
                                         "consumers"};

struct node {
    const char *prefix; /* static text drawn before the name */
    const char *p;    /* name, borrowed from the manifest; NULL: a "more" box */
    size_t n;         /* bytes of the name */
    const char *kind; /* CSS class (static) */
    int col;
    size_t pos;  /* index within its column */
    size_t more; /* a "more" box: how many nodes it stands for */
};

struct edge {
    size_t from, to; /* node indices; to's column is from's + 1 */
    int owner;       /* a declared owner never seen publishing: dashed */
};

struct graph {
    struct node *nodes;
    size_t nnodes;
    struct edge *edges;
    size_t nedges, ecap;
    size_t *col[NCOLS]; /* node indices, in drawing order */
    size_t ncol[NCOLS];
    size_t hidden[NCOLS]; /* nodes left out past MAPSVG_COLUMN_MAX */
    int colx[NCOLS];      /* px, left edge of the column's boxes */
    int colw[NCOLS];      /* px, width of the column's boxes */
    int height;           /* px, of the tallest column */
};

/* ---- names as XML text ---- */

/* The character at p[0..n) (n >= 1) into *cp, U+FFFD for bad UTF-8 and for
 * what XML 1.0 cannot carry or would not show (controls, U+FFFE, U+FFFF);
 * returns its length in bytes (>= 1). */
static size_t next_char(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len = 1;
    *cp = p[0];
    if (p[0] >= 0x80) {
        len = manifest_utf8_decode(p, n, cp);
        if (!len) {
            *cp = 0xfffd;
            return 1;
        }
    }
    if (*cp < 0x20 || *cp == 0x7f || *cp == 0xfffe || *cp == 0xffff)
        *cp = 0xfffd;
    return len;
}

static size_t count_chars(const unsigned char *p, size_t n)
{
    size_t chars = 0;
    uint32_t cp;
    for (size_t i = 0; i < n; chars++)
        i += next_char(p + i, n - i, &cp);
    return chars;
}

static void put_char(struct sbuf *out, const unsigned char *p, size_t len,
                     uint32_t cp)
{
    switch (cp) {
    case '&':
        sbuf_adds(out, "&amp;");
        break;
    case '<':
        sbuf_adds(out, "&lt;");
        break;
    case '>':
        sbuf_adds(out, "&gt;");
        break;
    case '"':
        sbuf_adds(out, "&quot;");
        break;
    case '\'':
        sbuf_adds(out, "&#39;");
        break;
    case 0xfffd:
        sbuf_adds(out, "\xef\xbf\xbd");
        break;
    default:
        sbuf_add(out, p, len); /* well-formed UTF-8 or plain ASCII */
    }
}

size_t mapsvg_escape(struct sbuf *out, const char *s, size_t n, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t total = count_chars(p, n);
    size_t keep = max && total > max ? max - 1 : total;
    uint32_t cp;
    for (size_t i = 0, k = 0; k < keep; k++) {
        size_t len = next_char(p + i, n - i, &cp);
        put_char(out, p + i, len, cp);
        i += len;
    }
    if (keep == total)
        return total;
    sbuf_adds(out, "\xe2\x80\xa6"); /* U+2026 ellipsis */
    return keep + 1;
}

/* ---- the graph ---- */

static size_t add_node(struct graph *g, int col, const char *kind,
                       const char *prefix, const struct mstr *name)
{
    if (g->ncol[col] == MAPSVG_COLUMN_MAX) {
        g->hidden[col]++;
        return SIZE_MAX;
    }
    size_t i = g->nnodes++;
    g->nodes = xrealloc(g->nodes, g->nnodes * sizeof(*g->nodes));
    g->nodes[i] =
        (struct node){prefix, name->p, name->n, kind, col, g->ncol[col], 0};
    g->col[col][g->ncol[col]++] = i;
    return i;
}

static void add_edge(struct graph *g, size_t from, size_t to, int owner)
{
    if (from == SIZE_MAX || to == SIZE_MAX)
        return;
    if (g->nedges == g->ecap) {
        g->ecap = g->ecap ? g->ecap * 2 : 32;
        g->edges = xrealloc(g->edges, g->ecap * sizeof(*g->edges));
    }
    g->edges[g->nedges++] = (struct edge){from, to, owner};
}

static int same(const struct mstr *a, const struct mstr *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/* Producers are one node per name, shared by every type it publishes or
 * owns: names[] and nodes[] are parallel, *n long. */
struct producers {
    const struct mstr **names;
    size_t *nodes;
    size_t n, cap;
};

static size_t producer(struct graph *g, struct producers *ps,
                       const struct mstr *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (same(ps->names[i], name))
            return ps->nodes[i];
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->names = xrealloc(ps->names, ps->cap * sizeof(*ps->names));
        ps->nodes = xrealloc(ps->nodes, ps->cap * sizeof(*ps->nodes));
    }
    ps->names[ps->n] = name;
    ps->nodes[ps->n] = add_node(g, COL_PRODUCER, "producer", "", name);
    return ps->nodes[ps->n++];
}

static void add_consumers(struct graph *g, size_t from, const struct mstr *cons,
                          size_t ncons)
{
    for (size_t c = 0; c < ncons; c++)
        add_edge(g, from, add_node(g, COL_CONSUMER, "consumer", "", &cons[c]),
                 0);
}

static size_t sub_node(struct graph *g, const struct manifest *m, size_t *subs,
                       size_t s)
{
    if (subs[s] != SIZE_MAX - 1)
        return subs[s];
    const struct manifest_sub *sub = &m->subs[s];
    subs[s] = add_node(g, COL_SUB, sub->durable ? "sub" : "sub ephemeral", "",
                       &sub->name);
    if (subs[s] != SIZE_MAX)
        add_consumers(g, subs[s], sub->cons, sub->ncons);
    return subs[s];
}

static void add_type(struct graph *g, const struct manifest *m,
                     struct producers *ps, size_t *subs,
                     const struct manifest_type *t)
{
    size_t tn = add_node(g, COL_TYPE, "type", "", &t->type);
    int owner_seen = 0;
    for (size_t k = 0; k < t->nproducers; k++) {
        add_edge(g, producer(g, ps, &t->producers[k].name), tn, 0);
        owner_seen |= t->owner.p && same(&t->producers[k].name, &t->owner);
    }
    if (t->owner.p && !owner_seen)
        add_edge(g, producer(g, ps, &t->owner), tn, 1);
    for (size_t k = 0; k < t->nsubs; k++)
        add_edge(g, tn, sub_node(g, m, subs, t->subs[k]), 0);
    for (size_t k = 0; k < t->ngroups; k++) {
        const struct manifest_group *gr = &t->groups[k];
        size_t gn = add_node(g, COL_SUB, "group", "group ", &gr->group);
        add_edge(g, tn, gn, 0);
        if (gn != SIZE_MAX)
            add_consumers(g, gn, gr->cons, gr->ncons);
    }
}

static void build(struct graph *g, const struct manifest *m)
{
    memset(g, 0, sizeof(*g));
    for (int c = 0; c < NCOLS; c++)
        g->col[c] = xcalloc(MAPSVG_COLUMN_MAX, sizeof(size_t));
    struct producers ps = {0};
    /* producers first, in the order the types name them, so that the
     * producer column starts in the types' order */
    for (size_t i = 0; i < m->ntypes; i++) {
        const struct manifest_type *t = &m->types[i];
        for (size_t k = 0; k < t->nproducers; k++)
            producer(g, &ps, &t->producers[k].name);
        if (t->owner.p)
            producer(g, &ps, &t->owner);
    }
    size_t *subs = xcalloc(m->nsubs + 1, sizeof(size_t));
    for (size_t s = 0; s < m->nsubs; s++)
        subs[s] = SIZE_MAX - 1; /* not made yet */
    for (size_t i = 0; i < m->ntypes; i++)
        add_type(g, m, &ps, subs, &m->types[i]);
    free(subs);
    free(ps.names);
    free(ps.nodes);
}

static void graph_deinit(struct graph *g)
{
    for (int c = 0; c < NCOLS; c++)
        free(g->col[c]);
    free(g->nodes);
    free(g->edges);
}

/* ---- crossing reduction ---- */

struct rank {
    double key; /* barycenter of the neighbours' positions, or own position */
    size_t pos; /* position before this sweep: the tie-break */
    size_t node;
};

static int rank_cmp(const void *a, const void *b)
{
    const struct rank *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Reorders column c by the mean position of each node's neighbours in
 * column nb (c - 1 or c + 1); a node with none there keeps its position as
 * its key. Stable and total, so the result is deterministic. */
static void sweep(struct graph *g, int c, int nb)
{
    size_t n = g->ncol[c];
    if (n < 2)
        return;
    double *sum = xcalloc(n, sizeof(double));
    size_t *cnt = xcalloc(n, sizeof(size_t));
    for (size_t i = 0; i < g->nedges; i++) {
        const struct node *a = &g->nodes[g->edges[i].from],
                          *b = &g->nodes[g->edges[i].to];
        if (a->col == nb && b->col == c) {
            sum[b->pos] += (double)a->pos;
            cnt[b->pos]++;
        } else if (a->col == c && b->col == nb) {
            sum[a->pos] += (double)b->pos;
            cnt[a->pos]++;
        }
    }
    struct rank *r = xcalloc(n, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        r[i] = (struct rank){cnt[i] ? sum[i] / (double)cnt[i] : (double)i, i,
                             g->col[c][i]};
    qsort(r, n, sizeof(*r), rank_cmp);
    for (size_t i = 0; i < n; i++) {
        g->col[c][i] = r[i].node;
        g->nodes[r[i].node].pos = i;
    }
    free(r);
    free(cnt);
    free(sum);
}

static void order(struct graph *g)
{
    for (int s = 0; s < SWEEPS; s++) {
        for (int c = 1; c < NCOLS; c++)
            sweep(g, c, c - 1);
        for (int c = NCOLS - 2; c >= 0; c--)
            sweep(g, c, c + 1);
    }
}

/* ---- layout ---- */

static int text_w(size_t chars)
{
    return (int)((chars * 29 + 3) /
                 4); /* 7.25 px a character, 12 px monospace */
}

static size_t label_chars(const struct node *nd)
{
    if (!nd->p)
        return (size_t)snprintf(NULL, 0, "+%zu more", nd->more);
    size_t chars = count_chars((const unsigned char *)nd->p, nd->n);
    return strlen(nd->prefix) +
           (chars > MAPSVG_LABEL_MAX ? MAPSVG_LABEL_MAX : chars);
}

static void add_more_boxes(struct graph *g)
{
    for (int c = 0; c < NCOLS; c++) {
        if (!g->hidden[c])
            continue;
        size_t i = g->nnodes++;
        g->nodes = xrealloc(g->nodes, g->nnodes * sizeof(*g->nodes));
        g->nodes[i] =
            (struct node){"", NULL, 0, "more", c, g->ncol[c], g->hidden[c]};
        g->col[c] = xrealloc(g->col[c], (g->ncol[c] + 1) * sizeof(size_t));
        g->col[c][g->ncol[c]++] = i;
    }
}

static void layout(struct graph *g)
{
    int x = MARGIN;
    g->height = 0;
    for (int c = 0; c < NCOLS; c++) {
        int w = text_w(strlen(heads[c]));
        for (size_t i = 0; i < g->ncol[c]; i++) {
            int bw = 2 * PAD + text_w(label_chars(&g->nodes[g->col[c][i]]));
            w = bw > w ? bw : w;
        }
        g->colx[c] = x;
        g->colw[c] = w;
        x += w + COL_GAP;
        int h = (int)g->ncol[c] * (BOX_H + BOX_GAP) - BOX_GAP;
        g->height = h > g->height ? h : g->height;
    }
}

/* px, the top of node nd's box: each column is centred on the tallest */
static int node_y(const struct graph *g, const struct node *nd)
{
    int h = (int)g->ncol[nd->col] * (BOX_H + BOX_GAP) - BOX_GAP;
    return MARGIN + HEAD_H + (g->height - h) / 2 +
           (int)nd->pos * (BOX_H + BOX_GAP);
}

/* ---- drawing ---- */

/* Every rule is under .tmap, the root's class, so that the page that puts
 * the SVG inline keeps its own styles. */
static const char style[] =
    "<style>"
    ".tmap text{font:12px ui-monospace,'DejaVu Sans "
    "Mono',Menlo,monospace;fill:#1f2933}"
    ".tmap .head{font-weight:bold;fill:#52606d;font-size:11px}"
    ".tmap .edge{fill:none;stroke:#9aa5b1;stroke-width:1.3}"
    ".tmap .edge.owner{stroke:#c17d11;stroke-dasharray:5 4}"
    ".tmap rect{stroke-width:1.2}"
    ".tmap .producer rect{fill:#e3f8ff;stroke:#2bb0ed}"
    ".tmap .type rect{fill:#fff8e1;stroke:#f0b429}"
    ".tmap .sub rect{fill:#e8f5e9;stroke:#3ebd93}"
    ".tmap .sub.ephemeral rect{stroke-dasharray:3 3}"
    ".tmap .group rect{fill:#f0f4ff;stroke:#647acb}"
    ".tmap .consumer rect{fill:#f5f7fa;stroke:#9aa5b1}"
    ".tmap .more rect{fill:#fff;stroke:#cbd2d9;stroke-dasharray:2 2}"
    ".tmap .more text,.tmap .empty{fill:#7b8794;font-style:italic}"
    "</style>\n";

static void draw_edge(struct sbuf *out, const struct graph *g,
                      const struct edge *e)
{
    const struct node *a = &g->nodes[e->from], *b = &g->nodes[e->to];
    int x1 = g->colx[a->col] + g->colw[a->col], y1 = node_y(g, a) + BOX_H / 2;
    int x2 = g->colx[b->col], y2 = node_y(g, b) + BOX_H / 2;
    int dx = (x2 - x1) / 2;
    sbuf_addf(out,
              "<path class=\"edge%s\" data-from=\"n%zu\" data-to=\"n%zu\" "
              "d=\"M%d %d C%d %d %d %d %d %d\"/>\n",
              e->owner ? " owner" : "", e->from, e->to, x1, y1, x1 + dx, y1,
              x2 - dx, y2, x2, y2);
}

static void draw_node(struct sbuf *out, const struct graph *g, size_t i)
{
    const struct node *nd = &g->nodes[i];
    int x = g->colx[nd->col], y = node_y(g, nd);
    sbuf_addf(out, "<g class=\"node %s\" id=\"n%zu\"><title>", nd->kind, i);
    if (nd->p) {
        sbuf_adds(out, nd->prefix);
        mapsvg_escape(out, nd->p, nd->n, 0);
    } else {
        sbuf_addf(out, "%zu more not drawn (at most %d a column)", nd->more,
                  MAPSVG_COLUMN_MAX);
    }
    sbuf_addf(
        out,
        "</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"5\"/>",
        x, y, g->colw[nd->col], BOX_H);
    sbuf_addf(out, "<text x=\"%d\" y=\"%d\">", x + PAD, y + 16);
    if (nd->p) {
        sbuf_adds(out, nd->prefix);
        mapsvg_escape(out, nd->p, nd->n, MAPSVG_LABEL_MAX);
    } else {
        sbuf_addf(out, "+%zu more", nd->more);
    }
    sbuf_adds(out, "</text></g>\n");
}

void mapsvg_render(const struct manifest *m, struct sbuf *out)
{
    struct graph g;
    build(&g, m);
    order(&g);
    add_more_boxes(&g);
    layout(&g);
    int w = g.colx[NCOLS - 1] + g.colw[NCOLS - 1] + MARGIN;
    int h = MARGIN + HEAD_H + (g.height > BOX_H ? g.height : BOX_H) + MARGIN;
    sbuf_addf(out,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tmap\" "
              "width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"tincan events "
              "map\">\n",
              w, h, w, h);
    sbuf_adds(out, style);
    for (int c = 0; c < NCOLS; c++)
        sbuf_addf(out, "<text class=\"head\" x=\"%d\" y=\"%d\">%s</text>\n",
                  g.colx[c], MARGIN + 12, heads[c]);
    if (!m->ntypes)
        sbuf_addf(out,
                  "<text class=\"empty\" x=\"%d\" y=\"%d\">no event types "
                  "yet</text>\n",
                  g.colx[COL_TYPE], MARGIN + HEAD_H + 16);
    sbuf_adds(out, "<g class=\"edges\">\n");
    for (size_t i = 0; i < g.nedges; i++)
        draw_edge(out, &g, &g.edges[i]);
    sbuf_adds(out, "</g>\n<g class=\"nodes\">\n");
    for (int c = 0; c < NCOLS; c++)
        for (size_t i = 0; i < g.ncol[c]; i++)
            draw_node(out, &g, g.col[c][i]);
    sbuf_adds(out, "</g>\n</svg>\n");
    graph_deinit(&g);
}
