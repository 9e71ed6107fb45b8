/* The Prometheus text writer: exact text for families, label and help
 * escaping, value formatting, histograms, and samples of one family added
 * from two places staying together. */
#include "test.h"

#include <math.h>
#include <stdlib.h>

#include "metrics.h"
#include "sbuf.h"

/* The whole exposition text of m, compared with want; frees m. */
static void expect_text(struct metrics *m, const char *want)
{
    struct sbuf out;
    sbuf_init(&out);
    metrics_write(m, &out);
    /* the pieces /metrics sends say the same, in order */
    struct sbuf heads, joined;
    sbuf_init(&heads);
    sbuf_init(&joined);
    struct iovec *parts = NULL;
    size_t cap = 0, n = metrics_parts(m, &heads, &parts, &cap);
    for (size_t i = 0; i < n; i++)
        sbuf_add(&joined, parts[i].iov_base, parts[i].iov_len);
    free(parts);
    metrics_free(m);
    int same = strcmp(want, out.data) == 0;
    int same_parts = joined.len == out.len &&
                     memcmp(joined.data, out.data, out.len) == 0;
    if (!same)
        fprintf(stderr, "--- want\n%s--- got\n%s---\n", want, out.data);
    sbuf_deinit(&out);
    sbuf_deinit(&heads);
    sbuf_deinit(&joined);
    ASSERT_TRUE(same);
    ASSERT_TRUE(same_parts);
}

TEST(counter_and_gauge)
{
    struct metrics *m = metrics_new();
    metrics_set(m, "tincan_commands_total", METRICS_COUNTER, "Commands run.",
                42);
    metrics_set(m, "tincan_uptime_seconds", METRICS_GAUGE, "Since start.", 1.5);
    expect_text(m, "# HELP tincan_commands_total Commands run.\n"
                   "# TYPE tincan_commands_total counter\n"
                   "tincan_commands_total 42\n"
                   "# HELP tincan_uptime_seconds Since start.\n"
                   "# TYPE tincan_uptime_seconds gauge\n"
                   "tincan_uptime_seconds 1.5\n");
}

TEST(label_values_escaped)
{
    struct metrics *m = metrics_new();
    struct metrics_family *f =
        metrics_family(m, "tincan_x", METRICS_GAUGE, "a \\ back\nslash \"q\"");
    const char v[] = "a\\b\"c\nd";
    metrics_sample(
        f,
        (struct metrics_label[]){{"type", v, sizeof(v) - 1}, {"sub", "s", 1}},
        2, 7);
    metrics_sample(f, (struct metrics_label[]){{"type", "", 0}}, 1, 0);
    expect_text(m, "# HELP tincan_x a \\\\ back\\nslash \"q\"\n"
                   "# TYPE tincan_x gauge\n"
                   "tincan_x{type=\"a\\\\b\\\"c\\nd\",sub=\"s\"} 7\n"
                   "tincan_x{type=\"\"} 0\n");
}

/* A label block written once (metrics_labelset) gives the very lines
 * metrics_sample gives, escapes included, and one too long for its buffer
 * falls back to the labels themselves. */
TEST(labelset_same_as_per_sample_labels)
{
    static char big[METRICS_LABELSET_MAX];
    memset(big, '"', sizeof(big)); /* escaped, it doubles */
    const char v[] = "a\\b\"c\nd";
    struct metrics_label sets[][2] = {
        {{"sub", v, sizeof(v) - 1}, {"q", "x", 1}},
        {{"sub", big, sizeof(big)}, {"q", "", 0}},
    };
    for (size_t k = 0; k < 2; k++) {
        struct metrics *a = metrics_new(), *b = metrics_new();
        struct metrics_family *fa =
            metrics_family(a, "tincan_x", METRICS_GAUGE, "h");
        struct metrics_family *fb =
            metrics_family(b, "tincan_x", METRICS_GAUGE, "h");
        struct metrics_labelset ls;
        metrics_labelset(&ls, sets[k], 2);
        ASSERT_EQ_INT(k == 0, ls.len > 0);
        for (int i = 0; i < 3; i++) {
            metrics_sample(fa, sets[k], 2, i * 1.5);
            metrics_sample_set(fb, &ls, i * 1.5);
        }
        struct sbuf ta, tb;
        sbuf_init(&ta);
        sbuf_init(&tb);
        metrics_write(a, &ta);
        metrics_write(b, &tb);
        ASSERT_TRUE(ta.len > 0 && strcmp(ta.data, tb.data) == 0);
        if (k == 0)
            ASSERT_TRUE(strstr(tb.data, "tincan_x{sub=\"a\\\\b\\\"c\\nd\",q=\"x\"} 1.5\n") != NULL);
        sbuf_deinit(&ta);
        sbuf_deinit(&tb);
        metrics_free(a);
        metrics_free(b);
    }
}

TEST(label_value_bytes_counted_not_nul_ended)
{
    struct metrics *m = metrics_new();
    struct metrics_family *f =
        metrics_family(m, "tincan_y", METRICS_GAUGE, "h");
    metrics_sample(f, (struct metrics_label[]){{"queue", "emailsXXX", 6}}, 1,
                   3);
    expect_text(m, "# HELP tincan_y h\n# TYPE tincan_y gauge\n"
                   "tincan_y{queue=\"emails\"} 3\n");
}

TEST(values_formatted)
{
    const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-3, "-3"},
        {18446744073709551616.0, "1.8446744073709552e+19"},
        {9007199254740991.0, "9007199254740991"},
        {0.1, "0.1"},
        {0.001, "0.001"},
        {0.348, "0.348"},
        {0.05, "0.05"},
        {12.005, "12.005"},
        {-1.5, "-1.5"},
        {-0.25, "-0.25"},
        {1.0005, "1.0005"},
        {-1.0 / 3, "-0.3333333333333333"},
        {1e13, "10000000000000"},
        {1.0 / 3, "0.3333333333333333"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbuf b;
        sbuf_init(&b);
        metrics_format_value(&b, cases[i].v);
        int same = strcmp(cases[i].text, b.data) == 0;
        if (!same)
            fprintf(stderr, "case %zu: want %s got %s\n", i, cases[i].text,
                    b.data);
        sbuf_deinit(&b);
        ASSERT_TRUE(same);
    }
}

/* Every value written reads back as the same double: whole milliseconds (the
 * fast path) and values that are not. */
TEST(values_read_back)
{
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v = i % 2 ? (double)(x % 100000000) / 1000
                         : (double)(x >> 11) / 9007199254740992.0 * 1e6;
        if (i % 5 == 0)
            v = -v;
        struct sbuf b;
        sbuf_init(&b);
        metrics_format_value(&b, v);
        double back = strtod(b.data, NULL);
        if (back != v)
            fprintf(stderr, "%.17g written as %s\n", v, b.data);
        sbuf_deinit(&b);
        ASSERT_TRUE(back == v);
    }
}

TEST(histogram_cumulative_with_inf)
{
    struct metrics *m = metrics_new();
    struct metrics_family *f = metrics_family(
        m, "tincan_store_fsync_duration_seconds", METRICS_HISTOGRAM, "fsync.");
    const double bounds[] = {0.001, 0.01, 0.1};
    const uint64_t counts[] = {2, 0, 3, 1};
    metrics_histogram(f, NULL, 0, bounds, counts, 3, 0.25);
    metrics_histogram(f, (struct metrics_label[]){{"file", "j", 1}}, 1, bounds,
                      (const uint64_t[]){0, 0, 0, 0}, 3, 0);
    expect_text(
        m,
        "# HELP tincan_store_fsync_duration_seconds fsync.\n"
        "# TYPE tincan_store_fsync_duration_seconds histogram\n"
        "tincan_store_fsync_duration_seconds_bucket{le=\"0.001\"} 2\n"
        "tincan_store_fsync_duration_seconds_bucket{le=\"0.01\"} 2\n"
        "tincan_store_fsync_duration_seconds_bucket{le=\"0.1\"} 5\n"
        "tincan_store_fsync_duration_seconds_bucket{le=\"+Inf\"} 6\n"
        "tincan_store_fsync_duration_seconds_sum 0.25\n"
        "tincan_store_fsync_duration_seconds_count 6\n"
        "tincan_store_fsync_duration_seconds_bucket{file=\"j\",le=\"0.001\"} "
        "0\n"
        "tincan_store_fsync_duration_seconds_bucket{file=\"j\",le=\"0.01\"} 0\n"
        "tincan_store_fsync_duration_seconds_bucket{file=\"j\",le=\"0.1\"} 0\n"
        "tincan_store_fsync_duration_seconds_bucket{file=\"j\",le=\"+Inf\"} 0\n"
        "tincan_store_fsync_duration_seconds_sum{file=\"j\"} 0\n"
        "tincan_store_fsync_duration_seconds_count{file=\"j\"} 0\n");
}

/* Two modules add to one family with another family declared in between:
 * the family's samples are printed together, families in first-declared
 * order, and the second declaration's help is ignored. */
TEST(family_samples_stay_together)
{
    struct metrics *m = metrics_new();
    struct metrics_family *a = metrics_family(m, "tincan_journal_bytes",
                                              METRICS_GAUGE, "Journal size.");
    metrics_sample(a, (struct metrics_label[]){{"journal", "bus", 3}}, 1, 10);
    metrics_set(m, "tincan_clients", METRICS_GAUGE, "Clients.", 2);
    struct metrics_family *b =
        metrics_family(m, "tincan_journal_bytes", METRICS_GAUGE, "other help");
    ASSERT_TRUE(a == b);
    metrics_sample(b, (struct metrics_label[]){{"journal", "queue", 5}}, 1, 20);
    metrics_family(m, "tincan_empty_total", METRICS_COUNTER, "Nothing yet.");
    expect_text(m, "# HELP tincan_journal_bytes Journal size.\n"
                   "# TYPE tincan_journal_bytes gauge\n"
                   "tincan_journal_bytes{journal=\"bus\"} 10\n"
                   "tincan_journal_bytes{journal=\"queue\"} 20\n"
                   "# HELP tincan_clients Clients.\n"
                   "# TYPE tincan_clients gauge\n"
                   "tincan_clients 2\n"
                   "# HELP tincan_empty_total Nothing yet.\n"
                   "# TYPE tincan_empty_total counter\n");
}

/* A struct metrics kept between scrapes: clear drops the samples, keeps the
 * families (a family with no samples still prints its HELP and TYPE). */
TEST(clear_keeps_families_drops_samples)
{
    struct metrics *m = metrics_new();
    struct metrics_family *f =
        metrics_family(m, "tincan_a", METRICS_GAUGE, "A.");
    metrics_sample(f, NULL, 0, 1);
    metrics_set(m, "tincan_b", METRICS_GAUGE, "B.", 2);
    metrics_clear(m);
    ASSERT_TRUE(metrics_family(m, "tincan_a", METRICS_GAUGE, "other") == f);
    metrics_sample(f, NULL, 0, 3);
    expect_text(m, "# HELP tincan_a A.\n# TYPE tincan_a gauge\ntincan_a 3\n"
                   "# HELP tincan_b B.\n# TYPE tincan_b gauge\n");
}

TEST(many_families_and_samples)
{
    struct metrics *m = metrics_new();
    char names[100][32];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof(names[i]), "tincan_f%d", i);
        struct metrics_family *f =
            metrics_family(m, names[i], METRICS_GAUGE, "h");
        for (int k = 0; k < 100; k++)
            metrics_sample(f, NULL, 0, k);
    }
    struct sbuf out;
    sbuf_init(&out);
    metrics_write(m, &out);
    metrics_free(m);
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++)
        lines += out.data[i] == '\n';
    sbuf_deinit(&out);
    ASSERT_EQ_U64(100 * 102, lines);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(counter_and_gauge),
                                     T(label_values_escaped),
                                     T(labelset_same_as_per_sample_labels),
                                     T(label_value_bytes_counted_not_nul_ended),
                                     T(values_formatted), T(values_read_back),
                                     T(histogram_cumulative_with_inf),
                                     T(family_samples_stay_together),
                                     T(clear_keeps_families_drops_samples),
                                     T(many_families_and_samples),
                                     {0}});
}
