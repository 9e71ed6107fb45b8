/* pbschema.h - Protobuf validation of event payloads (issue 14).
 *
 * A schema is a FileDescriptorSet (what `protoc --descriptor_set_out
 * --include_imports` writes) plus the full name of the message an event's
 * payload must be. The set is parsed with protobuf-c (descriptor.proto's
 * generated code, generated at build time by protoc-c; no hand-written
 * descriptor parser). A payload is checked against the message's wire format:
 * every known field number has the wire type its declared type implies
 * (packed repeated scalars accepted), length-delimited fields are in bounds,
 * nested messages (and map entries) are checked recursively up to a depth
 * limit, enum values are known (proto2 closed enums), UTF-8 of proto3 string
 * fields is valid, required fields (proto2 `required`, and the envelope
 * fields the caller names, e.g. "id", "timestamp") are present. Unknown field
 * numbers are allowed (forward compatibility), as protobuf parsers do. The
 * rules, one by one, are in docs/contracts.md ("Protobuf").
 *
 * Compiling turns the message and every message type reachable from it into
 * flat tables (per message: fields by number with the wire type, label and
 * nested message each implies), so validating is one pass over the payload
 * with no allocation.
 *
 * Not here: decoding values for use, extensions (their numbers are unknown
 * fields), JSON mapping, editions (syntax other than proto2/proto3 is
 * refused at compile), the registry of types (that is the caller's).
 *
 * Pure: no I/O, no server state; thread-safe once compiled (a compiled
 * schema is read-only; validate may run on it from many threads). */
#ifndef TINCAN_PBSCHEMA_H
#define TINCAN_PBSCHEMA_H

#include <stddef.h>
#include <stdint.h>

#define PBSCHEMA_MAX_BYTES    (4u << 20) /* bytes of one FileDescriptorSet */
#define PBSCHEMA_MAX_DEPTH    64         /* nested messages in a payload */
#define PBSCHEMA_MAX_REQUIRED 256 /* required + envelope fields per message */

struct pbschema;

/* Compiles: fds[0..n) a serialized FileDescriptorSet, message the fully
 * qualified name ("shop.v1.OrderCreated", a leading '.' allowed), required
 * the top-level field names that must be present (the envelope; may be
 * NULL/0). Returns a schema the caller frees with pbschema_free; it keeps no
 * pointer into fds, message or required. NULL with err on failure, e.g.
 * "not a FileDescriptorSet: ...", "message 'x.Y' not in the set", "field 'id'
 * not in shop.v1.OrderCreated", "type '.x.Z' of field 'a' in x.Y is not in
 * the set". Never blocks; cost is linear in n. */
struct pbschema *pbschema_compile(const uint8_t *fds, size_t n,
                                  const char *message,
                                  const char *const *required, size_t nrequired,
                                  char *err, size_t errlen);
void pbschema_free(struct pbschema *s); /* NULL is fine */
/* The message's full name without a leading '.'; owned by s. */
const char *pbschema_message(const struct pbschema *s);

/* 0 if payload[0..n) is a valid encoding of the message; else -1 with err
 * naming the field path and the problem, e.g. "field 3 (items[1].price):
 * wire type 2 (length-delimited), declared int64 wants 0 (varint)",
 * "field 'id' (1) is required and missing", "field 'sku' (1) is required and
 * missing in items[0]", "truncated varint at byte 17". Byte offsets count
 * from the start of the payload. No allocation, bounded recursion
 * (PBSCHEMA_MAX_DEPTH), linear in n. */
int pbschema_validate(const struct pbschema *s, const uint8_t *payload,
                      size_t n, char *err, size_t errlen);

/* Schema evolution: 0 if old -> new keeps every payload valid for old valid
 * for new with the same meaning (documented rules: a field number reused with
 * another type or wire type, a field's label changed to/from required or
 * between repeated and singular, a required field added or removed, an
 * envelope field removed, added or moved, the message renamed); else -1 with
 * err naming the first change found, e.g. "field 2 'qty': int32 -> string",
 * "shop.v1.Item field 1 'sku': optional -> required". */
int pbschema_compatible(const struct pbschema *old_s,
                        const struct pbschema *new_s, char *err, size_t errlen);

/* One base-128 varint from p[0..n): returns the bytes it used (1..10) and sets
 * *v; 0 if n ran out first (truncated); -1 if it is longer than 10 bytes or
 * does not fit 64 bits (the 10th byte may only be 0 or 1). */
int pbschema_varint(const uint8_t *p, size_t n, uint64_t *v);

#endif
