/* metrics.h - a writer of the Prometheus text exposition format (0.0.4).
 *
 * A scrape builds one struct metrics: each module's metrics hook declares the
 * families it knows (metrics_family: name, type, help) and adds samples to
 * them. A family is found by name, so two modules adding to the same family
 * (the journals of several modules, say) add to one family; its samples are
 * kept in one buffer per family, and metrics_write prints each family's
 * "# HELP" / "# TYPE" lines followed by all of its samples, families in the
 * order they were first declared. Label values are escaped (backslash,
 * double quote, newline); help text too (backslash, newline).
 *
 * Names are the caller's constants and are not checked: they follow the
 * Prometheus conventions (tincan_<what>_<unit>, counters end in _total).
 * It is not an HTTP handler and reads no server state; it does no I/O. */
#ifndef TINCAN_METRICS_H
#define TINCAN_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sbuf;
struct metrics;
struct metrics_family;

enum metrics_type {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
};

/* One label of a sample: name is a constant ([a-zA-Z_][a-zA-Z0-9_]*), the
 * value is any len bytes (escaped on output). */
struct metrics_label {
    const char *name;
    const char *value;
    size_t len; /* bytes of value */
};

/* A new, empty set of families (free with metrics_free). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* The family `name`, made if new (help and type are those of the first
 * declaration). Valid until metrics_free. Linear in the number of families:
 * look a family up once per scrape, not once per sample. */
struct metrics_family *metrics_family(struct metrics *m, const char *name,
                                      enum metrics_type type, const char *help);

/* Adds one sample (name{labels} value) to a counter or gauge family. */
void metrics_sample(struct metrics_family *f,
                    const struct metrics_label *labels, size_t nlabels,
                    double value);

/* The label block "{a=\"x\",...}" of one object, written once for the
 * several families it has a sample in (metrics_sample_set). A block longer
 * than the buffer is kept as the labels themselves and written per sample. */
#define METRICS_LABELSET_MAX 512
struct metrics_labelset {
    const struct metrics_label *labels; /* the caller's, for the long case */
    size_t nlabels;
    size_t len;                         /* bytes of text; 0: use labels */
    char text[METRICS_LABELSET_MAX];
};
void metrics_labelset(struct metrics_labelset *ls,
                      const struct metrics_label *labels, size_t nlabels);
/* metrics_sample with a label block made by metrics_labelset. */
void metrics_sample_set(struct metrics_family *f,
                        const struct metrics_labelset *ls, double value);

/* Declares the family and adds one unlabelled sample: for single values. */
void metrics_set(struct metrics *m, const char *name, enum metrics_type type,
                 const char *help, double value);

/* Adds one histogram to a histogram family: nbounds upper bounds (ascending,
 * in the family's unit) and nbounds + 1 counts, counts[i] being the
 * observations in (bounds[i-1], bounds[i]] and counts[nbounds] those above the
 * last bound. Writes the cumulative _bucket lines (le="..." after the other
 * labels, ending with le="+Inf"), then _sum and _count. */
void metrics_histogram(struct metrics_family *f,
                       const struct metrics_label *labels, size_t nlabels,
                       const double *bounds, const uint64_t *counts,
                       size_t nbounds, double sum);

/* Drops every sample but keeps the families and their buffers, so that a
 * struct metrics kept from one scrape to the next does not allocate again. */
void metrics_clear(struct metrics *m);

/* Appends the exposition text of every family to out (one allocation). */
void metrics_write(const struct metrics *m, struct sbuf *out);

/* The same text as metrics_write, as pieces instead of one copy: each
 * family's "# HELP"/"# TYPE" lines go into heads, and *parts (grown as
 * needed, *cap its size; owned by the caller) gets the pieces in order,
 * pointing into heads and into m's sample buffers. Returns how many. The
 * pieces are valid until m or heads next change. */
size_t metrics_parts(const struct metrics *m, struct sbuf *heads,
                     struct iovec **parts, size_t *cap);

/* Appends v as the format writes sample values: integers without a fraction,
 * others with the shortest "%.*g" that reads back the same, "+Inf", "-Inf",
 * "NaN". Exposed for the JSON overview, which writes numbers alike. */
void metrics_format_value(struct sbuf *out, double v);

#endif
