/* libFuzzer target: src/contract/jsonschema.c and jsonschema_fast.c, the two
 * paths of jschema_validate held to each other. The first byte picks the
 * mode:
 *   even: the rest is a payload, validated against one of four fixed schemas
 *         (byte >> 1 & 3: the benchmark's 10-property object, a recursive
 *         one with $ref/prefixItems/additionalProperties, scalar enums and
 *         bounds, and true);
 *   odd:  the rest is "schema\n\npayload"; a schema that compiles then
 *         validates the payload.
 * The one-pass path must never disagree with the DOM path (unless it says it
 * cannot tell), and jschema_validate must answer exactly as the DOM path,
 * message included; else the target aborts. Any input must end quickly,
 * without a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed[] = {
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
    "\"maxItems\":8}}}",
    "{\"$defs\":{\"n\":{\"type\":[\"object\",\"array\",\"string\"],"
    "\"properties\":{\"a\":{\"$ref\":\"#/$defs/n\"},\"\\u00e9\":"
    "{\"maxLength\":2}},\"required\":[\"a\",\"zz\"],\"minProperties\":1,"
    "\"additionalProperties\":{\"$ref\":\"#\"},\"prefixItems\":[{\"type\":"
    "\"integer\"},true],\"items\":{\"$ref\":\"#/$defs/n\"},\"maxItems\":4,"
    "\"pattern\":\"^\\\\w*$\"}},\"$ref\":\"#/$defs/n\"}",
    "{\"enum\":[1,2.5,\"a\\u0000b\",\"\\ud83d\\ude00\",true,null,"
    "-9223372036854775808],\"minimum\":-1e300,\"exclusiveMaximum\":3}",
    "true",
};

static struct jschema *schemas[4];

static void check(const struct jschema *s, const char *doc, size_t n)
{
    char derr[256] = "", verr[256] = "";
    int dom = jschema_validate_dom(s, doc, n, derr, sizeof(derr));
    int fast = jschema_validate_fast(s, doc, n);
    int v = jschema_validate(s, doc, n, verr, sizeof(verr));
    if ((v == 0) != (dom == 0) || strcmp(verr, derr) != 0 ||
        (fast != JSCHEMA_FAST_UNSURE &&
         (fast == JSCHEMA_FAST_VALID) != (dom == 0))) {
        fprintf(stderr,
                "paths disagree: dom %d (%s) fast %d validate %d (%s)\n", dom,
                derr, fast, v, verr);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    if (!(data[0] & 1)) {
        int k = (data[0] >> 1) & 3;
        char err[256];
        if (!schemas[k] &&
            !(schemas[k] = jschema_compile(fixed[k], strlen(fixed[k]), err,
                                           sizeof(err)))) {
            fprintf(stderr, "fixed schema %d: %s\n", k, err);
            abort();
        }
        check(schemas[k], rest, n);
        return 0;
    }
    const char *sep = memmem(rest, n, "\n\n", 2);
    if (!sep)
        return 0;
    char err[256];
    struct jschema *s =
        jschema_compile(rest, (size_t)(sep - rest), err, sizeof(err));
    if (s) {
        check(s, sep + 2, n - (size_t)(sep + 2 - rest));
        jschema_free(s);
    }
    return 0;
}
