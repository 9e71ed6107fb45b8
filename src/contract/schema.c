/* schema.c - the seam over the schema libraries: JSON Schema (jsonschema.h)
 * and Protobuf (pbschema.h). */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "jsonschema.h"
#include "pbschema.h"

struct schema {
    enum schema_kind kind;
    struct jschema *json; /* SCHEMA_JSON */
    struct pbschema *pb;  /* SCHEMA_PROTOBUF */
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
    return k == SCHEMA_PROTOBUF ? PBSCHEMA_MAX_BYTES : JSCHEMA_MAX_BYTES;
}

struct schema *schema_compile(enum schema_kind k, const uint8_t *src, size_t n,
                              const char *message, const char *const *required,
                              size_t nrequired, char *err, size_t errlen)
{
    if (k != SCHEMA_JSON && k != SCHEMA_PROTOBUF) {
        snprintf(err, errlen, "no schema language %d", (int)k);
        return NULL;
    }
    if (n > schema_max_bytes(k)) {
        snprintf(err, errlen, "schema of %zu bytes is larger than the limit of %zu",
                 n, schema_max_bytes(k));
        return NULL;
    }
    struct schema *s = xcalloc(1, sizeof(*s));
    s->kind = k;
    if (k == SCHEMA_JSON)
        s->json = jschema_compile((const char *)src, n, err, errlen);
    else
        s->pb = pbschema_compile(src, n, message ? message : "", required,
                                 nrequired, err, errlen);
    if (!s->json && !s->pb) {
        free(s);
        return NULL;
    }
    return s;
}

void schema_free(struct schema *s)
{
    if (!s)
        return;
    jschema_free(s->json);
    pbschema_free(s->pb);
    free(s);
}

int schema_validate(const struct schema *s, const uint8_t *payload, size_t n,
                    char *err, size_t errlen)
{
    if (s->kind == SCHEMA_JSON)
        return jschema_validate(s->json, (const char *)payload, n, err, errlen) ? -1
                                                                                : 0;
    return pbschema_validate(s->pb, payload, n, err, errlen) ? -1 : 0;
}

int schema_compatible(const struct schema *old_s, const struct schema *new_s,
                      char *err, size_t errlen)
{
    if (old_s->kind != new_s->kind) {
        snprintf(err, errlen, "schema language %s -> %s",
                 schema_kind_name(old_s->kind), schema_kind_name(new_s->kind));
        return -1;
    }
    if (old_s->kind == SCHEMA_JSON)
        return jschema_compatible(old_s->json, new_s->json, err, errlen) ? -1 : 0;
    return pbschema_compatible(old_s->pb, new_s->pb, err, errlen) ? -1 : 0;
}
