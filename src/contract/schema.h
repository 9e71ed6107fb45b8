/* schema.h - one compiled event schema, whatever its language.
 *
 * The registry (registry.h) holds a schema per event type and asks three
 * questions of it: does this text compile, does this payload validate, is
 * this new schema a compatible change of the old one. This seam answers them
 * for JSON Schema (jsonschema.h) and Protobuf (pbschema.h), so the registry
 * and the commands never call either library directly.
 *
 * It is not the registry (no names, owners or versions) and does no I/O.
 * Pure; a compiled schema is read-only. */
#ifndef TINCAN_SCHEMA_H
#define TINCAN_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

enum schema_kind {
    SCHEMA_NONE = 0,     /* no schema: any payload */
    SCHEMA_JSON = 1,     /* a JSON Schema document (text) */
    SCHEMA_PROTOBUF = 2, /* a FileDescriptorSet + a message name */
};

struct schema;

/* "none", "json", "protobuf". */
const char *schema_kind_name(enum schema_kind k);
/* The largest schema source accepted for kind k, in bytes. */
size_t schema_max_bytes(enum schema_kind k);

/* Compiles src[0..n) of kind k (JSON or PROTOBUF). For PROTOBUF, message is
 * the full message name and required[0..nrequired) the envelope field names
 * that must be present (the caller keeps ownership of all of these). Returns
 * a schema the caller frees with schema_free, or NULL with err filled
 * ("not JSON: ...", "message 'x.Y' not in the set", "schema of 2000000
 * bytes is larger than the limit of 1048576"). Never blocks. */
struct schema *schema_compile(enum schema_kind k, const uint8_t *src, size_t n,
                              const char *message, const char *const *required,
                              size_t nrequired, char *err, size_t errlen);
void schema_free(struct schema *s); /* NULL is fine */

/* 0 if payload[0..n) is valid; else -1 with err naming what is wrong and at
 * which field ("at /price: -1 is less than minimum 0"). No I/O. */
int schema_validate(const struct schema *s, const uint8_t *payload, size_t n,
                    char *err, size_t errlen);

/* 0 if replacing old_s by new_s keeps every payload valid under old_s valid
 * under new_s (as far as each library's documented rules tell); else -1 with
 * err naming the first incompatible change. Schemas of different kinds are
 * never compatible. */
int schema_compatible(const struct schema *old_s, const struct schema *new_s,
                      char *err, size_t errlen);

#endif
