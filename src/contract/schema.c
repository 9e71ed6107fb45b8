/* schema.c - the seam over the schema libraries.
 *
 * Until src/contract/jsonschema.c and pbschema.c are merged this is a
 * placeholder that compiles any non-empty source and accepts every payload,
 * so the registry and its commands can be built and tested on their own. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#define JSON_MAX_BYTES     (1u << 20) /* jsonschema.h's JSCHEMA_MAX_BYTES */
#define PROTOBUF_MAX_BYTES (4u << 20) /* pbschema.h's PBSCHEMA_MAX_BYTES */

struct schema {
    enum schema_kind kind;
};

const char *schema_kind_name(enum schema_kind k)
{
    switch (k) {
    case SCHEMA_JSON:
        return "json";
    case SCHEMA_PROTOBUF:
        return "protobuf";
    case SCHEMA_NONE:
        break;
    }
    return "none";
}

size_t schema_max_bytes(enum schema_kind k)
{
    return k == SCHEMA_PROTOBUF ? PROTOBUF_MAX_BYTES : JSON_MAX_BYTES;
}

struct schema *schema_compile(enum schema_kind k, const uint8_t *src, size_t n,
                              const char *message, const char *const *required,
                              size_t nrequired, char *err, size_t errlen)
{
    (void)src;
    (void)message;
    (void)required;
    (void)nrequired;
    if (k != SCHEMA_JSON && k != SCHEMA_PROTOBUF) {
        snprintf(err, errlen, "no schema language %d", (int)k);
        return NULL;
    }
    if (n > schema_max_bytes(k)) {
        snprintf(err, errlen, "schema of %zu bytes is larger than the limit of %zu",
                 n, schema_max_bytes(k));
        return NULL;
    }
    if (n == 0) {
        snprintf(err, errlen, "empty schema");
        return NULL;
    }
    struct schema *s = xcalloc(1, sizeof(*s));
    s->kind = k;
    return s;
}

void schema_free(struct schema *s)
{
    free(s);
}

int schema_validate(const struct schema *s, const uint8_t *payload, size_t n,
                    char *err, size_t errlen)
{
    (void)s;
    (void)payload;
    (void)n;
    (void)err;
    (void)errlen;
    return 0;
}

int schema_compatible(const struct schema *old_s, const struct schema *new_s,
                      char *err, size_t errlen)
{
    if (old_s->kind != new_s->kind) {
        snprintf(err, errlen, "schema language %s -> %s",
                 schema_kind_name(old_s->kind), schema_kind_name(new_s->kind));
        return -1;
    }
    return 0;
}
