/* parquet_bench - how fast the Parquet writer turns event rows into a file.
 *
 *   parquet_bench ROWS PAYLOAD_BYTES [OUT [ZSTD_LEVEL]]
 *
 * Writes ROWS rows shaped like tincan's archive (position, id, type, time,
 * optional key, a two-pair headers map, a JSON-like payload of about
 * PAYLOAD_BYTES) to OUT, or only counts the bytes when OUT is "-" or absent,
 * and prints one line:
 *
 *   rows=N seconds=S cpu_seconds=C rows_per_cpu_s=R input_mb_per_cpu_s=I
 *   output_bytes=B
 *
 * The rates are per second of this process's CPU time (the machine is
 * shared, so wall time says more about the neighbours); input MB counts the
 * value bytes handed to the writer (MB = 10^6 bytes). The clocks cover the
 * puts, end_rows and finish, not the set-up.
 * Exits 1 with the reason on stderr on failure, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "parquet.h"

enum { C_POSITION, C_ID, C_TYPE, C_TIME, C_KEY, C_HEADERS, C_PAYLOAD, NCOLS };

static const struct parquet_column COLS[NCOLS] = {
    {"position", PARQUET_INT64, 0, 1}, {"id", PARQUET_STRING, 0, 0},
    {"type", PARQUET_STRING, 0, 0},    {"time", PARQUET_TIMESTAMP_MS, 0, 1},
    {"key", PARQUET_STRING, 1, 0},     {"headers", PARQUET_MAP_STRING, 1, 0},
    {"payload", PARQUET_BINARY, 0, 0},
};

struct out {
    FILE *f;        /* NULL: count only */
    uint64_t bytes; /* written */
};

static int out_write(void *ctx, const void *p, size_t n)
{
    struct out *o = ctx;
    o->bytes += n;
    if (o->f && fwrite(p, 1, n, o->f) != n)
        return ERR_IO;
    return 0;
}

/* Writes prefix, v in decimal, suffix at p; returns the length. The rows are
 * made with this rather than snprintf so the clock measures the writer more
 * than the row generator. */
static size_t fmt(char *p, const char *prefix, uint64_t v, const char *suffix)
{
    size_t n = strlen(prefix);
    memcpy(p, prefix, n);
    char digits[20];
    size_t k = 0;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        p[n++] = digits[--k];
    size_t sn = strlen(suffix);
    memcpy(p + n, suffix, sn);
    return n + sn;
}

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr,
                "usage: parquet_bench ROWS PAYLOAD_BYTES [OUT [ZSTD_LEVEL]]\n");
        return 2;
    }
    unsigned long rows = strtoul(argv[1], NULL, 10);
    size_t plen = strtoul(argv[2], NULL, 10);
    struct out o = {NULL, 0};
    if (argc > 3 && strcmp(argv[3], "-") != 0 &&
        !(o.f = fopen(argv[3], "wb"))) {
        perror(argv[3]);
        return 1;
    }
    struct parquet_options opt = {0, 0, argc > 4 ? atoi(argv[4]) : 0};
    static const char *const types[] = {"order.created", "order.paid",
                                        "user.signup", "cart.updated"};
    char err[512];
    struct parquet_writer *w = NULL;
    char *payload = malloc(plen + 128);
    if (!payload || parquet_writer_new(&w, COLS, NCOLS, &opt, out_write, &o,
                                       err, sizeof(err)) < 0) {
        fprintf(stderr, "parquet_bench: %s\n", payload ? err : "out of memory");
        return 1;
    }

    uint64_t in_bytes = 0;
    double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (unsigned long i = 0; i < rows; i++) {
        char id[32], key[32], trace[40];
        size_t idn = fmt(id, "", 1700000000000UL + i / 16, "-0");
        size_t keyn = fmt(key, "user-", (i * 2654435761UL) % 50000, "");
        size_t tn = fmt(trace, "", i * 0x9e3779b97f4a7c15UL, "");
        size_t n = fmt(payload, "{\"user\":", (i * 2654435761UL) % 50000,
                       ",\"amount\":");
        n += fmt(payload + n, "", i % 977, ".");
        n += fmt(payload + n, "", 10 + i % 90, ",\"sku\":\"SKU-");
        n += fmt(payload + n, "", i % 30011, "\",\"note\":\"");
        for (; n + 2 < plen; n++)
            payload[n] = (char)('a' + (i + n) % 26);
        payload[n++] = '"';
        payload[n++] = '}';
        struct parquet_kv kv[2] = {{"trace", 5, trace, tn},
                                   {"source", 6, "api", 3}};
        const char *type = types[i % 4];

        parquet_put_i64(w, C_POSITION, (int64_t)i);
        parquet_put_bytes(w, C_ID, id, idn);
        parquet_put_bytes(w, C_TYPE, type, strlen(type));
        parquet_put_i64(w, C_TIME, 1700000000000LL + (int64_t)(i / 16));
        if (i % 4 == 0)
            parquet_put_null(w, C_KEY);
        else
            parquet_put_bytes(w, C_KEY, key, keyn);
        parquet_put_map(w, C_HEADERS, kv, 2);
        parquet_put_bytes(w, C_PAYLOAD, payload, n);
        in_bytes +=
            16 + idn + strlen(type) + (i % 4 ? keyn : 0) + 5 + tn + 6 + 3 + n;
        if (parquet_end_row(w, err, sizeof(err)) < 0) {
            fprintf(stderr, "parquet_bench: %s\n", err);
            return 1;
        }
    }
    if (parquet_writer_finish(w, err, sizeof(err)) < 0) {
        fprintf(stderr, "parquet_bench: %s\n", err);
        return 1;
    }
    double dt = now(CLOCK_MONOTONIC) - t0;
    double cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("rows=%lu seconds=%.3f cpu_seconds=%.3f rows_per_cpu_s=%.0f "
           "input_mb_per_cpu_s=%.1f output_bytes=%llu\n",
           rows, dt, cpu, (double)rows / cpu, (double)in_bytes / 1e6 / cpu,
           (unsigned long long)o.bytes);
    parquet_writer_free(w);
    free(payload);
    if (o.f && fclose(o.f) != 0) {
        perror("close");
        return 1;
    }
    return 0;
}
