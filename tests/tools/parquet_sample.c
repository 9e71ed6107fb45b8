/* parquet_sample - writes a deterministic Parquet file with every column type
 * the writer has, for tests that read it back with other engines.
 *
 *   parquet_sample OUT ROWS [ROW_GROUP_BYTES [PAGE_BYTES]]
 *
 * Every value is a function of the row number i alone (the integration test
 * recomputes them; keep tests/integration/test_parquet_duckdb.py in step):
 *
 *   position  INT64 required, stats   (i * 7919) % 1000003 - 500000
 *   id        STRING required         "id-%08u" i
 *   type      STRING required         TYPES[i % 4]  (one is not ASCII)
 *   kind      STRING required         "kind%u" i % 5
 *   time      TIMESTAMP_MS required,  1700000000000 + (i * 104729) % 86400000
 *             stats
 *   key       STRING optional         null if i % 3 == 0, else "key-%u" i
 *   headers   MAP_STRING optional     i % 5 == 0: null; 1: empty; else i % 5
 *                                     pairs "h<j>" -> "v<j>-<i>", the value
 *                                     null when (i + j) % 4 == 0
 *   payload   BINARY required         length 0 if i % 10 == 0, 200 KiB if
 *                                     i % 97 == 13, else (i * 37) % 300; byte j
 *                                     is (i * 31 + j * 7 + (j >> 8)) & 0xff
 *
 * Prints "rows=N bytes=M" on success; exits 1 with the reason on
 * stderr otherwise, 2 on bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "parquet.h"

enum {
    C_POSITION,
    C_ID,
    C_TYPE,
    C_KIND,
    C_TIME,
    C_KEY,
    C_HEADERS,
    C_PAYLOAD,
    NCOLS
};

static const struct parquet_column COLS[NCOLS] = {
    {"position", PARQUET_INT64, 0, 1},     {"id", PARQUET_STRING, 0, 0},
    {"type", PARQUET_STRING, 0, 0},        {"kind", PARQUET_STRING, 0, 0},
    {"time", PARQUET_TIMESTAMP_MS, 0, 1},  {"key", PARQUET_STRING, 1, 0},
    {"headers", PARQUET_MAP_STRING, 1, 0}, {"payload", PARQUET_BINARY, 0, 0},
};

static const char *const TYPES[4] = {"order.created", "order.paid",
                                     "user.signup",
                                     "\xc3\xa9v\xc3\xa9nement.\xe2\x9c\x93"};

#define BIG_PAYLOAD (200u * 1024u) /* bytes */

static int file_write(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : ERR_IO;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(
            stderr,
            "usage: parquet_sample OUT ROWS [ROW_GROUP_BYTES [PAGE_BYTES]]\n");
        return 2;
    }
    unsigned long rows = strtoul(argv[2], NULL, 10);
    struct parquet_options opt = {0};
    if (argc > 3)
        opt.row_group_bytes = strtoull(argv[3], NULL, 10);
    if (argc > 4)
        opt.page_bytes = strtoull(argv[4], NULL, 10);

    FILE *f = fopen(argv[1], "wb");
    if (!f) {
        fprintf(stderr, "parquet_sample: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char err[512];
    struct parquet_writer *w = NULL;
    unsigned char *payload = malloc(BIG_PAYLOAD);
    int rc = parquet_writer_new(&w, COLS, NCOLS, &opt, file_write, f, err,
                                sizeof(err));
    if (rc < 0 || !payload)
        goto fail;

    for (unsigned long i = 0; i < rows; i++) {
        char id[32], kind[16], key[32], hk[4][8], hv[4][32];
        struct parquet_kv kv[4];
        parquet_put_i64(w, C_POSITION,
                        (long long)((i * 7919) % 1000003) - 500000);
        parquet_put_bytes(w, C_ID, id,
                          (size_t)snprintf(id, sizeof(id), "id-%08lu", i));
        parquet_put_bytes(w, C_TYPE, TYPES[i % 4], strlen(TYPES[i % 4]));
        parquet_put_bytes(
            w, C_KIND, kind,
            (size_t)snprintf(kind, sizeof(kind), "kind%lu", i % 5));
        parquet_put_i64(w, C_TIME,
                        1700000000000LL + (long long)((i * 104729) % 86400000));
        if (i % 3 == 0)
            parquet_put_null(w, C_KEY);
        else
            parquet_put_bytes(w, C_KEY, key,
                              (size_t)snprintf(key, sizeof(key), "key-%lu", i));
        size_t npairs = i % 5;
        if (npairs == 0) {
            parquet_put_null(w, C_HEADERS);
        } else {
            if (npairs == 1)
                npairs = 0;
            for (size_t j = 0; j < npairs; j++) {
                kv[j].key = hk[j];
                kv[j].key_len =
                    (size_t)snprintf(hk[j], sizeof(hk[j]), "h%zu", j);
                kv[j].value = (i + j) % 4 == 0 ? NULL : hv[j];
                kv[j].value_len =
                    (size_t)snprintf(hv[j], sizeof(hv[j]), "v%zu-%lu", j, i);
            }
            parquet_put_map(w, C_HEADERS, kv, npairs);
        }
        size_t plen = i % 10 == 0    ? 0
                      : i % 97 == 13 ? BIG_PAYLOAD
                                     : (i * 37) % 300;
        for (size_t j = 0; j < plen; j++)
            payload[j] = (unsigned char)((i * 31 + j * 7 + (j >> 8)) & 0xff);
        parquet_put_bytes(w, C_PAYLOAD, payload, plen);
        rc = parquet_end_row(w, err, sizeof(err));
        if (rc < 0)
            goto fail;
    }
    rc = parquet_writer_finish(w, err, sizeof(err));
    if (rc < 0)
        goto fail;
    if (fclose(f) != 0) {
        f = NULL;
        snprintf(err, sizeof(err), "close: %s", strerror(errno));
        goto fail;
    }
    printf("rows=%lu bytes=%llu\n", rows,
           (unsigned long long)parquet_bytes_written(w));
    parquet_writer_free(w);
    free(payload);
    return 0;

fail:
    fprintf(stderr, "parquet_sample: %s\n", payload ? err : "out of memory");
    parquet_writer_free(w);
    free(payload);
    if (f)
        fclose(f);
    return 1;
}
