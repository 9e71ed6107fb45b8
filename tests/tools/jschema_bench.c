/* jschema_bench - validations per second of a 10-field object payload (about
 * 300 bytes) against a 10-property schema, and the heap one compiled schema
 * takes. Not a test: a measurement for docs/contracts.md.
 *
 *     build/tools/jschema_bench [seconds]     (default 2) */
#include "jsonschema.h"

#include <jansson.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"id\",\"ts\",\"sku\",\"qty\",\"price\"],"
    "\"properties\":{"
    "\"id\":{\"type\":\"string\",\"pattern\":\"^[0-9a-f]{8}-[0-9a-f]{4}\"},"
    "\"ts\":{\"type\":\"integer\",\"minimum\":0},"
    "\"sku\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":32},"
    "\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000},"
    "\"price\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
    "\"currency\":{\"enum\":[\"EUR\",\"USD\",\"GBP\"]},"
    "\"customer\":{\"type\":\"string\",\"maxLength\":64},"
    "\"gift\":{\"type\":\"boolean\"},"
    "\"note\":{\"type\":[\"string\",\"null\"],\"maxLength\":200},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"maxItems\":8}}}";

static const char payload[] =
    "{\"id\":\"3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f\",\"ts\":1718000000123,"
    "\"sku\":\"SKU-000123-BLUE-XL\",\"qty\":3,\"price\":19.99,"
    "\"currency\":\"EUR\",\"customer\":\"customer-4711@example.com\","
    "\"gift\":false,\"note\":\"leave the parcel at the back door and ring "
    "twice, please (not before 9am)\","
    "\"tags\":[\"promo\",\"summer\",\"web\"]}";

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    char err[256];
    struct mallinfo2 m0 = mallinfo2();
    struct jschema *s =
        jschema_compile(schema, strlen(schema), err, sizeof(err));
    struct mallinfo2 m1 = mallinfo2();
    if (!s ||
        jschema_validate(s, payload, strlen(payload), err, sizeof(err)) != 0) {
        fprintf(stderr, "jschema_bench: %s\n", err);
        return 1;
    }
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++)
            n += jschema_validate(s, payload, strlen(payload), err,
                                  sizeof(err)) == 0;
        t = now();
    } while (t - t0 < secs);
    /* the same loop, parse only: what the DOM path spends in libjansson
     * (a valid payload no longer goes through it) */
    long p = 0;
    double p0 = now(), pt;
    do {
        for (int i = 0; i < 1000; i++) {
            json_t *j = json_loadb(payload, strlen(payload),
                                   JSON_REJECT_DUPLICATES, NULL);
            p += j != NULL;
            json_decref(j);
        }
        pt = now();
    } while (pt - p0 < secs);
    printf("parse only: %.0f/s (%.2f us each)\n", (double)p / (pt - p0),
           (pt - p0) / (double)p * 1e6);
    printf("schema %zu bytes, heap %zu bytes compiled; payload %zu bytes; "
           "%.0f validations/s (%.2f us each)\n",
           strlen(schema), m1.uordblks - m0.uordblks, strlen(payload),
           (double)n / (t - t0), (t - t0) / (double)n * 1e6);
    jschema_free(s);
    return 0;
}
