/* inspect_report.c - prints what tincan inspect found (inspect.h): an aligned
 * text report or one JSON document. Formatting only: no I/O but the stream. */
#include "inspect.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

static const char *const index_names[] = {"none", "ok", "missing", "stale", "bad",
                                          "wrong"};
static const char *const severity_names[] = {"note", "warning", "corrupt"};

const char *inspect_index_name(enum inspect_index s)
{
    return (size_t)s < ARRAY_LEN(index_names) ? index_names[s] : "?";
}

const char *inspect_severity_name(enum inspect_severity s)
{
    return (size_t)s < ARRAY_LEN(severity_names) ? severity_names[s] : "?";
}

static void iso_time(char *out, size_t n, uint64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(ms % 1000));
}

static int cmp_type(const void *a, const void *b)
{
    return strcmp(((const struct inspect_type *)a)->name,
                  ((const struct inspect_type *)b)->name);
}

/* ---- human output ---- */

/* A plain text table: columns padded to their widest cell; numeric columns
 * ('r' in align) are right-aligned. */
struct table {
    size_t ncols;
    const char *align;
    char **cells; /* rows x ncols, owned */
    size_t nrows, cap;
};

static void table_row(struct table *t, ...)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(*t->cells));
    }
    va_list ap;
    va_start(ap, t);
    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->nrows * t->ncols + c] = xstrdup(s ? s : "-");
    }
    va_end(ap);
    t->nrows++;
}

static void table_print(struct table *t, FILE *f)
{
    size_t *w = xcalloc(t->ncols, sizeof(*w));
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    size_t linecap = 2;
    for (size_t c = 0; c < t->ncols; c++)
        linecap += w[c] + 2;
    char *line = xmalloc(linecap + 1);
    for (size_t r = 0; r < t->nrows; r++) {
        size_t n = (size_t)snprintf(line, linecap + 1, "  ");
        for (size_t c = 0; c < t->ncols; c++) {
            char *s = t->cells[r * t->ncols + c];
            n += (size_t)snprintf(line + n, linecap + 1 - n,
                                  t->align[c] == 'r' ? "%*s  " : "%-*s  ", (int)w[c], s);
            free(s);
        }
        while (n > 0 && line[n - 1] == ' ')
            n--; /* no trailing blanks */
        line[n] = 0;
        fprintf(f, "%s\n", line);
    }
    free(line);
    free(w);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

static const char *u64s(char *buf, size_t n, uint64_t v)
{
    snprintf(buf, n, "%" PRIu64, v);
    return buf;
}

static void human_size(char *buf, size_t n, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)v;
    size_t u = 0;
    while (x >= 1024 && u + 1 < ARRAY_LEN(units)) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%" PRIu64 " B", v);
    else
        snprintf(buf, n, "%.1f %s", x, units[u]);
}

void inspect_print_text(const struct inspect *in, const struct inspect_totals *t,
                        FILE *f)
{
    char a[64], b[64], c[64], d[64], e[64], g1[64], g2[64], g3[320];
    fprintf(f, "tincan inspect %s%s\n", in->data, in->quick ? " (--quick)" : "");
    fprintf(f, "\nsegments (%s)\n", in->evdir);
    struct table tb = {10, "llrrrrllll", NULL, 0, 0};
    table_row(&tb, "segment", "state", "bytes", "events", "first pos", "last pos",
              "first time", "last time", "index", "crc");
    for (size_t i = 0; i < in->nsegs; i++) {
        const struct inspect_segment *g = &in->segs[i];
        int known = g->from_index || g->scanned || g->scan_failed;
        inspect_segment_name(a, g->base);
        const char *crc = g->header_bad == 1   ? "bad header"
                          : g->header_bad == 2 ? "torn header"
                          : g->scan_failed     ? "failed"
                          : !g->scanned        ? "not checked"
                          : g->ncorrupt        ? "bad"
                          : g->nbad            ? "ok, quarantined"
                          : g->torn            ? "ok, torn tail"
                                               : "ok";
        snprintf(g3, sizeof(g3), "%s", inspect_index_name(g->ix_status));
        if (g->ix_status == INSPECT_IX_NONE)
            snprintf(g3, sizeof(g3), "%s", g->is_open ? "none (open)" : "-");
        if (known && g->events) {
            iso_time(g1, sizeof(g1), g->first_time);
            iso_time(g2, sizeof(g2), g->last_time);
        }
        table_row(&tb, a, g->is_open ? "open" : "sealed", u64s(b, sizeof(b), g->bytes),
                  known ? u64s(c, sizeof(c), g->events) : "?",
                  known && g->events ? u64s(d, sizeof(d), g->first_pos) : "-",
                  known && g->events ? u64s(e, sizeof(e), g->last_pos) : "-",
                  known && g->events ? g1 : "-", known && g->events ? g2 : "-", g3, crc);
    }
    table_print(&tb, f);
    const struct inspect_segment *open_seg = in->nsegs ? &in->segs[in->nsegs - 1] : NULL;
    if (open_seg && open_seg->scanned)
        fprintf(f, "  open segment: %" PRIu64 " bytes of records, %" PRIu64
                   " zero bytes written ahead, %" PRIu64 " torn\n",
                open_seg->end, open_seg->zeros, open_seg->torn);

    fprintf(f, "\ntotals\n");
    struct table tt = {2, "ll", NULL, 0, 0};
    snprintf(g3, sizeof(g3), "%" PRIu64 " (%" PRIu64 " sealed, 1 open)", t->segments,
             t->sealed);
    table_row(&tt, "segments", t->segments ? g3 : "0");
    table_row(&tt, "events", u64s(a, sizeof(a), t->events));
    human_size(b, sizeof(b), t->bytes);
    snprintf(g3, sizeof(g3), "%" PRIu64 " (%s)", t->bytes, b);
    table_row(&tt, "bytes", g3);
    if (t->events) {
        snprintf(g3, sizeof(g3),
                 "%" PRIu64 " .. %" PRIu64 " (span %" PRIu64 "; gaps %s%" PRIu64
                 ", unused positions %s%" PRIu64 ")",
                 t->first_pos, t->last_pos, t->last_pos - t->first_pos + 1,
                 t->gaps_exact ? "" : ">= ", t->gaps, t->gaps_exact ? "" : ">= ",
                 t->missing);
        table_row(&tt, "positions", g3);
        iso_time(g1, sizeof(g1), t->first_time);
        iso_time(g2, sizeof(g2), t->last_time);
        snprintf(g3, sizeof(g3), "%s .. %s (span %.3f s)", g1, g2,
                 (double)(t->last_time - t->first_time) / 1000.0);
        table_row(&tt, "time", g3);
    } else {
        table_row(&tt, "positions", "-");
        table_row(&tt, "time", "-");
    }
    table_print(&tt, f);

    fprintf(f, "\ntypes (%zu)\n", in->types.n);
    if (in->types.n) {
        struct table ty = {6, "lrrrll", NULL, 0, 0};
        table_row(&ty, "type", "events", "first pos", "last pos", "first time",
                  "last time");
        struct inspect_type *v = xmalloc(in->types.n * sizeof(*v));
        memcpy(v, in->types.v, in->types.n * sizeof(*v));
        qsort(v, in->types.n, sizeof(*v), cmp_type);
        for (size_t i = 0; i < in->types.n; i++) {
            iso_time(g1, sizeof(g1), v[i].first_time);
            iso_time(g2, sizeof(g2), v[i].last_time);
            table_row(&ty, v[i].name, u64s(a, sizeof(a), v[i].count),
                      u64s(b, sizeof(b), v[i].first_pos),
                      u64s(c, sizeof(c), v[i].last_pos), g1, g2);
        }
        free(v);
        table_print(&ty, f);
    }

    fprintf(f, "\ncrc\n");
    uint64_t bad = 0, failed = 0, checked = 0;
    for (size_t i = 0; i < in->nsegs; i++) {
        bad += in->segs[i].nbad;
        failed += in->segs[i].scan_failed;
        checked += in->segs[i].scanned;
    }
    human_size(b, sizeof(b), in->scanned_bytes);
    fprintf(f, "  %s: %" PRIu64 " records (%s) in %" PRIu64 " of %zu segments decoded "
               "and checksummed",
            t->corrupt ? "CORRUPT" : checked == in->nsegs ? "ok" : "partial", in->records, b,
            checked, in->nsegs);
    if (in->quick)
        fprintf(f, " (--quick: only segments without a usable index)");
    fputc('\n', f);
    if (bad || failed)
        fprintf(f, "  %" PRIu64 " bad ranges, %" PRIu64 " segments not read to the end\n",
                bad, failed);

    if (in->nquar) {
        fprintf(f, "\nquarantined by --repair\n");
        struct table tq = {4, "llrr", NULL, 0, 0};
        table_row(&tq, "file", "segment", "offset", "bytes");
        for (size_t i = 0; i < in->nquar; i++) {
            inspect_segment_name(a, in->quar[i].segment);
            table_row(&tq, in->quar[i].name, a, u64s(b, sizeof(b), in->quar[i].offset),
                      u64s(c, sizeof(c), in->quar[i].bytes));
        }
        table_print(&tq, f);
    }

    if (in->nothers) {
        fprintf(f, "\nother files in %s\n", in->data);
        struct table to = {3, "lrl", NULL, 0, 0};
        for (size_t i = 0; i < in->nothers; i++) {
            const struct inspect_other *o = &in->others[i];
            snprintf(g3, sizeof(g3), "%s%s", o->name, o->is_dir ? "/" : "");
            c[0] = 0;
            if (o->is_dir)
                snprintf(c, sizeof(c), "%" PRIu64 " files", o->files);
            table_row(&to, g3, u64s(b, sizeof(b), o->bytes), c);
        }
        table_print(&to, f);
    }

    if (in->nprobs) {
        fprintf(f, "\nproblems\n");
        for (size_t i = 0; i < in->nprobs; i++)
            fprintf(f, "  %-7s  %s\n", inspect_severity_name(in->probs[i].sev),
                    in->probs[i].text);
    }
    fprintf(f, "\nresult: %s\n",
            t->corrupt    ? "CORRUPT (exit 1)"
            : t->warnings ? "healthy data, with warnings (exit 0)"
                          : "healthy (exit 0)");
}

/* ---- JSON output ---- */

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch < 0x20 || ch == 0x7f) /* other bytes pass: UTF-8 stays */
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_cstr(FILE *f, const char *s)
{
    json_str(f, s, strlen(s));
}

static void json_time(FILE *f, const char *key, uint64_t ms, int have)
{
    char t[64];
    if (!have) {
        fprintf(f, "\"%s\": null, \"%s_ms\": null", key, key);
        return;
    }
    iso_time(t, sizeof(t), ms);
    fprintf(f, "\"%s\": \"%s\", \"%s_ms\": %" PRIu64, key, t, key, ms);
}

static void json_pos(FILE *f, const char *key, uint64_t v, int have)
{
    if (have)
        fprintf(f, "\"%s\": %" PRIu64, key, v);
    else
        fprintf(f, "\"%s\": null", key);
}

void inspect_print_json(const struct inspect *in, const struct inspect_totals *t,
                        FILE *f)
{
    char name[32];
    fprintf(f, "{\"data\": ");
    json_cstr(f, in->data);
    if (in->unreadable || !t) {
        fprintf(f, ", \"status\": 1, \"healthy\": false, \"error\": ");
        json_cstr(f, in->unreadable_why);
        fputs("}\n", f);
        return;
    }
    fprintf(f, ", \"events_dir\": ");
    json_cstr(f, in->evdir);
    fprintf(f, ", \"mode\": \"%s\", \"status\": %d, \"healthy\": %s,\n",
            in->quick ? "quick" : "full", t->corrupt ? 1 : 0,
            t->corrupt ? "false" : "true");
    fprintf(f, " \"segments\": [");
    uint64_t checked = 0, bad = 0, failed = 0;
    for (size_t i = 0; i < in->nsegs; i++) {
        const struct inspect_segment *g = &in->segs[i];
        int known = g->from_index || g->scanned || g->scan_failed;
        checked += g->scanned;
        bad += g->nbad;
        failed += g->scan_failed;
        inspect_segment_name(name, g->base);
        fprintf(f,
                "%s\n  {\"base\": %" PRIu64 ", \"file\": \"%s.seg\", \"state\": \"%s\", "
                "\"bytes\": %" PRIu64 ", ",
                i ? "," : "", g->base, name, g->is_open ? "open" : "sealed", g->bytes);
        if (known)
            fprintf(f, "\"events\": %" PRIu64 ", ", g->events);
        else
            fprintf(f, "\"events\": null, ");
        json_pos(f, "first_position", g->first_pos, known && g->events);
        fputs(", ", f);
        json_pos(f, "last_position", g->last_pos, known && g->events);
        fputs(", ", f);
        json_time(f, "first_time", g->first_time, known && g->events);
        fputs(", ", f);
        json_time(f, "last_time", g->last_time, known && g->events);
        fprintf(f, ", \"facts_from\": \"%s\"",
                g->from_index ? "index" : known ? "scan" : "none");
        fprintf(f, ", \"header\": \"%s\"",
                g->header_bad == 1 ? "bad" : g->header_bad == 2 ? "torn" : "ok");
        fprintf(f, ", \"crc\": \"%s\"",
                g->header_bad      ? "not checked"
                : g->scan_failed   ? "failed"
                : !g->scanned      ? "not checked"
                : g->ncorrupt      ? "bad"
                : g->nbad          ? "quarantined"
                                   : "ok");
        fprintf(f, ", \"bad_ranges\": %" PRIu64, g->nbad);
        if (g->is_open)
            fprintf(f, ", \"data_bytes\": %" PRIu64 ", \"torn_tail_bytes\": %" PRIu64
                       ", \"zero_tail_bytes\": %" PRIu64,
                    g->scanned ? g->end : g->bytes, g->torn, g->zeros);
        fprintf(f, ", \"index\": {\"status\": \"%s\", \"detail\": ",
                inspect_index_name(g->ix_status));
        if (g->ix_status == INSPECT_IX_OK || g->ix_status == INSPECT_IX_NONE)
            fputs("null", f);
        else
            json_cstr(f, g->ix_why);
        if (g->ix_loaded)
            fprintf(f, ", \"events\": %" PRIu64 ", \"bytes\": %" PRIu64, g->ix.count,
                    g->ix.end);
        fprintf(f, "}, \"types\": {");
        for (size_t k = 0; k < g->types.n; k++) {
            fputs(k ? ", " : "", f);
            json_str(f, g->types.v[k].name, g->types.v[k].len);
            fprintf(f, ": %" PRIu64, g->types.v[k].count);
        }
        fputs("}}", f);
    }
    fprintf(f, "],\n \"totals\": {\"segments\": %" PRIu64 ", \"sealed\": %" PRIu64
               ", \"events\": %" PRIu64 ", \"bytes\": %" PRIu64 ", ",
            t->segments, t->sealed, t->events, t->bytes);
    json_pos(f, "first_position", t->first_pos, t->events != 0);
    fputs(", ", f);
    json_pos(f, "last_position", t->last_pos, t->events != 0);
    fprintf(f, ", \"positions_span\": %" PRIu64,
            t->events ? t->last_pos - t->first_pos + 1 : 0);
    fprintf(f, ", \"gaps\": %" PRIu64 ", \"unused_positions\": %" PRIu64
               ", \"gaps_exact\": %s, ",
            t->gaps, t->missing, t->gaps_exact ? "true" : "false");
    json_time(f, "first_time", t->first_time, t->events != 0);
    fputs(", ", f);
    json_time(f, "last_time", t->last_time, t->events != 0);
    fprintf(f, ", \"time_span_ms\": %" PRIu64 "},\n",
            t->events ? t->last_time - t->first_time : 0);

    fprintf(f, " \"types\": [");
    struct inspect_type *v = xmalloc((in->types.n ? in->types.n : 1) * sizeof(*v));
    if (in->types.n)
        memcpy(v, in->types.v, in->types.n * sizeof(*v));
    if (in->types.n)
        qsort(v, in->types.n, sizeof(*v), cmp_type);
    for (size_t i = 0; i < in->types.n; i++) {
        fprintf(f, "%s\n  {\"type\": ", i ? "," : "");
        json_str(f, v[i].name, v[i].len);
        fprintf(f, ", \"events\": %" PRIu64 ", \"first_position\": %" PRIu64
                   ", \"last_position\": %" PRIu64 ", ",
                v[i].count, v[i].first_pos, v[i].last_pos);
        json_time(f, "first_time", v[i].first_time, 1);
        fputs(", ", f);
        json_time(f, "last_time", v[i].last_time, 1);
        fputc('}', f);
    }
    free(v);
    fprintf(f,
            "],\n \"crc\": {\"result\": \"%s\", \"records\": %" PRIu64
            ", \"bytes\": %" PRIu64 ", \"segments_checked\": %" PRIu64
            ", \"segments_failed\": %" PRIu64 ", \"bad_ranges\": %" PRIu64
            ", \"complete\": %s},\n",
            t->corrupt ? "corrupt" : checked == in->nsegs ? "ok" : "partial", in->records,
            in->scanned_bytes, checked, failed, bad, checked == in->nsegs ? "true" : "false");

    fputs(" \"torn_tail\": ", f);
    const struct inspect_segment *last = in->nsegs ? &in->segs[in->nsegs - 1] : NULL;
    if (last && last->torn)
        fprintf(f, "{\"segment\": %" PRIu64 ", \"offset\": %" PRIu64
                   ", \"bytes\": %" PRIu64 "}",
                last->base, last->end, last->torn);
    else
        fputs("null", f);

    fputs(",\n \"quarantined\": [", f);
    for (size_t i = 0; i < in->nquar; i++) {
        fprintf(f, "%s{\"file\": ", i ? ", " : "");
        json_cstr(f, in->quar[i].name);
        fprintf(f, ", \"segment\": %" PRIu64 ", \"offset\": %" PRIu64
                   ", \"bytes\": %" PRIu64 "}",
                in->quar[i].segment, in->quar[i].offset, in->quar[i].bytes);
    }
    fputs("],\n \"other_files\": [", f);
    for (size_t i = 0; i < in->nothers; i++) {
        const struct inspect_other *o = &in->others[i];
        fprintf(f, "%s{\"name\": ", i ? ", " : "");
        json_cstr(f, o->name);
        fprintf(f, ", \"dir\": %s, \"files\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
                o->is_dir ? "true" : "false", o->files, o->bytes);
    }
    fputs("],\n \"problems\": [", f);
    for (size_t i = 0; i < in->nprobs; i++) {
        const struct inspect_problem *p = &in->probs[i];
        fprintf(f, "%s\n  {\"severity\": \"%s\", ", i ? "," : "",
                inspect_severity_name(p->sev));
        json_pos(f, "segment", p->segment, p->segment != 0);
        fputs(", ", f);
        json_pos(f, "offset", p->offset, p->has_offset);
        fputs(", \"text\": ", f);
        json_cstr(f, p->text);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

