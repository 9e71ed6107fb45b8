/* metrics.c - the Prometheus text exposition writer (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sbuf.h"

#define SHORT 64 /* bytes copied at once for a short name or label block */

struct metrics_family {
    const char *name; /* the caller's constant */
    size_t name_len;  /* bytes of name */
    /* name again, zero-padded: a sample line copies SHORT bytes of it and
     * of its label block in fixed-size moves the compiler inlines, instead
     * of two library calls per sample */
    char name_pad[SHORT];
    const char *help; /* the caller's constant */
    enum metrics_type type;
    struct sbuf samples; /* the family's sample lines, in the order added */
};

struct metrics {
    struct metrics_family **fams; /* in the order first declared */
    size_t n, cap;
};

static const char *const type_names[] = {
    [METRICS_COUNTER] = "counter",
    [METRICS_GAUGE] = "gauge",
    [METRICS_HISTOGRAM] = "histogram",
};

struct metrics *metrics_new(void)
{
    return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        sbuf_deinit(&m->fams[i]->samples);
        free(m->fams[i]);
    }
    free(m->fams);
    free(m);
}

struct metrics_family *metrics_family(struct metrics *m, const char *name,
                                      enum metrics_type type, const char *help)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->fams = xrealloc(m->fams, m->cap * sizeof(*m->fams));
    }
    struct metrics_family *f = xcalloc(1, sizeof(*f));
    f->name = name;
    f->name_len = strlen(name);
    if (f->name_len < SHORT)
        memcpy(f->name_pad, name, f->name_len);
    f->help = help;
    f->type = type;
    sbuf_init(&f->samples);
    m->fams[m->n++] = f;
    return f;
}

/* Help text: backslash and newline are escaped. */
static void add_help(struct sbuf *out, const char *p)
{
    for (; *p; p++) {
        if (*p == '\\')
            sbuf_adds(out, "\\\\");
        else if (*p == '\n')
            sbuf_adds(out, "\\n");
        else
            sbuf_addc(out, *p);
    }
}

/* Decimal digits of u into p; returns the end. */
static char *put_u64(char *p, uint64_t u)
{
    char digits[24], *d = digits + sizeof(digits);
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t n = (size_t)(digits + sizeof(digits) - d);
    memcpy(p, d, n);
    return p + n;
}

/* Writes v as metrics_format_value does into p (room for 32 bytes); returns
 * the end. Integers and whole milliseconds (most values: counts, ages) are
 * written without printf; "%.*g" is the slow path for the rest. */
static char *put_value(char *p, double v)
{
    if (isnan(v))
        return memcpy(p, "NaN", 3), p + 3;
    if (isinf(v))
        return memcpy(p, v > 0 ? "+Inf" : "-Inf", 4), p + 4;
    if (v < 0 && v > -9e12 && nearbyint(v * 1000) / 1000 == v)
        *p++ = '-', v = -v;
    if (v == floor(v) && v >= 0 && v < 9007199254740992.0) /* 2^53: exact */
        return put_u64(p, (uint64_t)v);
    double ms = nearbyint(v * 1000);
    if (v > 0 && v < 9e12 && ms / 1000 == v) {
        /* the text of ms/1000 reads back as the same double */
        uint64_t u = (uint64_t)ms;
        p = put_u64(p, u / 1000);
        unsigned frac = (unsigned)(u % 1000);
        *p++ = '.';
        *p++ = (char)('0' + frac / 100);
        if (frac % 100)
            *p++ = (char)('0' + frac / 10 % 10);
        if (frac % 10)
            *p++ = (char)('0' + frac % 10);
        return p;
    }
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) { /* shortest that reads back */
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            break;
    }
    size_t n = strlen(buf);
    memcpy(p, buf, n);
    return p + n;
}

void metrics_format_value(struct sbuf *out, double v)
{
    sbuf_reserve(out, 32);
    out->len = (size_t)(put_value(out->data + out->len, v) - out->data);
    out->data[out->len] = '\0';
}

/* Copies a label value with its escapes into p; returns the end. */
static char *put_label_value(char *p, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '\\' || c == '"' || c == '\n') {
            *p++ = '\\';
            c = c == '\n' ? 'n' : c;
        }
        *p++ = c;
    }
    return p;
}

/* One sample line: name suffix{labels[,le="..."]} value. The room is reserved
 * once (escaping at most doubles a value), so a line costs one check. */
static void add_line(struct metrics_family *f, const char *suffix,
                     const struct metrics_label *labels, size_t nlabels,
                     const char *le, double value)
{
    size_t slen = strlen(suffix), lelen = le ? strlen(le) : 0;
    size_t need = f->name_len + slen + lelen + 8 + 2 + 32 + 2;
    for (size_t i = 0; i < nlabels; i++)
        need += strlen(labels[i].name) + 2 * labels[i].len + 4;
    struct sbuf *b = &f->samples;
    sbuf_reserve(b, need);
    char *p = b->data + b->len;
    memcpy(p, f->name, f->name_len);
    p += f->name_len;
    memcpy(p, suffix, slen);
    p += slen;
    if (nlabels || le) {
        *p++ = '{';
        for (size_t i = 0; i < nlabels; i++) {
            size_t n = strlen(labels[i].name);
            if (i)
                *p++ = ',';
            memcpy(p, labels[i].name, n);
            p += n;
            *p++ = '=';
            *p++ = '"';
            p = put_label_value(p, labels[i].value, labels[i].len);
            *p++ = '"';
        }
        if (le) {
            if (nlabels)
                *p++ = ',';
            memcpy(p, "le=\"", 4);
            p += 4;
            memcpy(p, le, lelen);
            p += lelen;
            *p++ = '"';
        }
        *p++ = '}';
    }
    *p++ = ' ';
    p = put_value(p, value);
    *p++ = '\n';
    *p = '\0';
    b->len = (size_t)(p - b->data);
}

void metrics_sample(struct metrics_family *f,
                    const struct metrics_label *labels, size_t nlabels,
                    double value)
{
    add_line(f, "", labels, nlabels, NULL, value);
}

void metrics_labelset(struct metrics_labelset *ls,
                      const struct metrics_label *labels, size_t nlabels)
{
    ls->labels = labels;
    ls->nlabels = nlabels;
    ls->len = 0;
    size_t need = 3; /* {} and the NUL */
    for (size_t i = 0; i < nlabels; i++)
        need += strlen(labels[i].name) + 2 * labels[i].len + 4;
    if (!nlabels || need > sizeof(ls->text))
        return;
    char *p = ls->text;
    *p++ = '{';
    for (size_t i = 0; i < nlabels; i++) {
        size_t n = strlen(labels[i].name);
        if (i)
            *p++ = ',';
        memcpy(p, labels[i].name, n);
        p += n;
        *p++ = '=';
        *p++ = '"';
        p = put_label_value(p, labels[i].value, labels[i].len);
        *p++ = '"';
    }
    *p++ = '}';
    ls->len = (size_t)(p - ls->text);
}

void metrics_sample_set(struct metrics_family *f,
                        const struct metrics_labelset *ls, double value)
{
    if (!ls->len) {
        add_line(f, "", ls->labels, ls->nlabels, NULL, value);
        return;
    }
    struct sbuf *b = &f->samples;
    sbuf_reserve(b, f->name_len + ls->len + 32 + 2 + 2 * SHORT);
    char *p = b->data + b->len;
    if (f->name_len < SHORT)
        memcpy(p, f->name_pad, SHORT);
    else
        memcpy(p, f->name, f->name_len);
    p += f->name_len;
    _Static_assert(METRICS_LABELSET_MAX >= SHORT, "label blocks copy SHORT");
    if (ls->len < SHORT)
        memcpy(p, ls->text, SHORT);
    else
        memcpy(p, ls->text, ls->len);
    p += ls->len;
    *p++ = ' ';
    p = put_value(p, value);
    *p++ = '\n';
    *p = '\0';
    b->len = (size_t)(p - b->data);
}

void metrics_set(struct metrics *m, const char *name, enum metrics_type type,
                 const char *help, double value)
{
    metrics_sample(metrics_family(m, name, type, help), NULL, 0, value);
}

void metrics_histogram(struct metrics_family *f,
                       const struct metrics_label *labels, size_t nlabels,
                       const double *bounds, const uint64_t *counts,
                       size_t nbounds, double sum)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= nbounds; i++) {
        total += counts[i];
        char le[40] = "+Inf";
        if (i < nbounds)
            *put_value(le, bounds[i]) = '\0';
        add_line(f, "_bucket", labels, nlabels, le, (double)total);
    }
    add_line(f, "_sum", labels, nlabels, NULL, sum);
    add_line(f, "_count", labels, nlabels, NULL, (double)total);
}

void metrics_clear(struct metrics *m)
{
    for (size_t i = 0; i < m->n; i++)
        sbuf_clear(&m->fams[i]->samples);
}

/* The "# HELP" and "# TYPE" lines of f. */
static void add_head(struct sbuf *out, const struct metrics_family *f)
{
    sbuf_adds(out, "# HELP ");
    sbuf_add(out, f->name, f->name_len);
    sbuf_addc(out, ' ');
    add_help(out, f->help);
    sbuf_adds(out, "\n# TYPE ");
    sbuf_add(out, f->name, f->name_len);
    sbuf_addc(out, ' ');
    sbuf_adds(out, type_names[f->type]);
    sbuf_addc(out, '\n');
}

size_t metrics_parts(const struct metrics *m, struct sbuf *heads,
                     struct iovec **parts, size_t *cap)
{
    if (*cap < 2 * m->n) {
        *cap = 2 * m->n;
        *parts = xrealloc(*parts, *cap * sizeof(**parts));
    }
    sbuf_clear(heads);
    size_t *ends = xmalloc((m->n + 1) * sizeof(*ends));
    for (size_t i = 0; i < m->n; i++) {
        add_head(heads, m->fams[i]);
        ends[i] = heads->len;
    }
    /* heads is complete (no more moves): point into it */
    size_t n = 0, start = 0;
    for (size_t i = 0; i < m->n; i++) {
        (*parts)[n++] = (struct iovec){heads->data + start, ends[i] - start};
        start = ends[i];
        if (m->fams[i]->samples.len)
            (*parts)[n++] = (struct iovec){m->fams[i]->samples.data,
                                           m->fams[i]->samples.len};
    }
    free(ends);
    return n;
}

void metrics_write(const struct metrics *m, struct sbuf *out)
{
    size_t total = 0;
    for (size_t i = 0; i < m->n; i++)
        total += m->fams[i]->samples.len + 2 * m->fams[i]->name_len +
                 strlen(m->fams[i]->help) + 32;
    sbuf_reserve(out, total);
    for (size_t i = 0; i < m->n; i++) {
        const struct metrics_family *f = m->fams[i];
        add_head(out, f);
        sbuf_add(out, f->samples.data, f->samples.len);
    }
}
