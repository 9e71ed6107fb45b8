/* metrics.c - the Prometheus text exposition writer (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sbuf.h"

struct metrics_family {
    const char *name;       /* the caller's constant */
    const char *help;       /* the caller's constant */
    enum metrics_type type;
    struct sbuf samples;    /* the family's sample lines, in the order added */
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
    f->help = help;
    f->type = type;
    sbuf_init(&f->samples);
    m->fams[m->n++] = f;
    return f;
}

/* Label values: \ " and newline are escaped; help: \ and newline. */
static void add_escaped(struct sbuf *out, const char *p, size_t n, int quote)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        const char *esc = c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                          : c == '"' && quote ? "\\\"" : NULL;
        if (!esc)
            continue;
        sbuf_add(out, p + start, i - start);
        sbuf_adds(out, esc);
        start = i + 1;
    }
    sbuf_add(out, p + start, n - start);
}

void metrics_format_value(struct sbuf *out, double v)
{
    if (isnan(v)) {
        sbuf_adds(out, "NaN");
        return;
    }
    if (isinf(v)) {
        sbuf_adds(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char buf[32];
    if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* 2^53: exact */
        uint64_t u = (uint64_t)fabs(v);
        char *p = buf + sizeof(buf);
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--p = '-';
        sbuf_add(out, p, (size_t)(buf + sizeof(buf) - p));
        return;
    }
    for (int prec = 15; prec <= 17; prec++) { /* shortest that reads back */
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            break;
    }
    sbuf_adds(out, buf);
}

/* name + suffix {labels[, le="..."]} */
static void add_series(struct sbuf *out, const char *name, const char *suffix,
                       const struct metrics_label *labels, size_t nlabels,
                       const char *le)
{
    sbuf_adds(out, name);
    sbuf_adds(out, suffix);
    if (!nlabels && !le)
        return;
    sbuf_addc(out, '{');
    for (size_t i = 0; i < nlabels; i++) {
        if (i)
            sbuf_addc(out, ',');
        sbuf_adds(out, labels[i].name);
        sbuf_add(out, "=\"", 2);
        add_escaped(out, labels[i].value, labels[i].len, 1);
        sbuf_addc(out, '"');
    }
    if (le) {
        sbuf_adds(out, nlabels ? ",le=\"" : "le=\"");
        sbuf_adds(out, le);
        sbuf_addc(out, '"');
    }
    sbuf_addc(out, '}');
}

static void add_line(struct sbuf *out, double value)
{
    sbuf_addc(out, ' ');
    metrics_format_value(out, value);
    sbuf_addc(out, '\n');
}

void metrics_sample(struct metrics_family *f, const struct metrics_label *labels,
                    size_t nlabels, double value)
{
    add_series(&f->samples, f->name, "", labels, nlabels, NULL);
    add_line(&f->samples, value);
}

void metrics_set(struct metrics *m, const char *name, enum metrics_type type,
                 const char *help, double value)
{
    metrics_sample(metrics_family(m, name, type, help), NULL, 0, value);
}

void metrics_histogram(struct metrics_family *f, const struct metrics_label *labels,
                       size_t nlabels, const double *bounds, const uint64_t *counts,
                       size_t nbounds, double sum)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= nbounds; i++) {
        total += counts[i];
        struct sbuf le;
        sbuf_init(&le);
        if (i < nbounds)
            metrics_format_value(&le, bounds[i]);
        else
            sbuf_adds(&le, "+Inf");
        add_series(&f->samples, f->name, "_bucket", labels, nlabels, le.data);
        add_line(&f->samples, (double)total);
        sbuf_deinit(&le);
    }
    add_series(&f->samples, f->name, "_sum", labels, nlabels, NULL);
    add_line(&f->samples, sum);
    add_series(&f->samples, f->name, "_count", labels, nlabels, NULL);
    add_line(&f->samples, (double)total);
}

void metrics_write(const struct metrics *m, struct sbuf *out)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct metrics_family *f = m->fams[i];
        sbuf_adds(out, "# HELP ");
        sbuf_adds(out, f->name);
        sbuf_addc(out, ' ');
        add_escaped(out, f->help, strlen(f->help), 0);
        sbuf_adds(out, "\n# TYPE ");
        sbuf_adds(out, f->name);
        sbuf_addc(out, ' ');
        sbuf_adds(out, type_names[f->type]);
        sbuf_addc(out, '\n');
        sbuf_add(out, f->samples.data, f->samples.len);
    }
}
