/* jsonschema.h - JSON Schema validation of event payloads (issue 14).
 *
 * A documented subset of JSON Schema draft 2020-12 (docs/contracts.md lists
 * the keywords and the compatibility rules): type, properties, required,
 * additionalProperties, items, prefixItems, enum, const, minimum/maximum (and
 * exclusive*), minLength/maxLength (code points), pattern (PCRE2 in UTF mode,
 * unanchored), min/maxItems, min/maxProperties, uniqueItems, allOf, anyOf,
 * oneOf, not, $ref to "#..." JSON pointers within the document, $defs and
 * definitions, boolean schemas; annotations ($schema, $id at the root, title,
 * description, default, examples, $comment, deprecated, readOnly, writeOnly)
 * are ignored on purpose. A schema using a keyword outside the subset is
 * refused at compile time with its name, never silently ignored.
 *
 * It is not a general JSON Schema implementation: no remote or $id-based
 * references, no anchors, no format, no draft-7 tuple "items" (use
 * prefixItems), no dynamic references; integers beyond 64 bits and reals
 * beyond a double are refused as "not JSON" by the parser (libjansson).
 *
 * The schema is compiled once into a tree of C structs (regexes compiled and
 * JIT-ed then). Validation reads the payload once, without allocating, and
 * walks that tree as it goes (jsonschema_fast.c); a payload that path does
 * not find valid, or a schema part it cannot check in one pass (allOf, anyOf,
 * oneOf, not, uniqueItems, enum/const of objects or arrays), is parsed with
 * libjansson and checked against the tree (the DOM path), which alone
 * writes error messages. Pure: no I/O, no server state. A compiled schema is
 * immutable, so any number of threads may validate against it at once (each
 * thread keeps one small PCRE2 match block of its own, made on its first
 * pattern check and freed when the thread ends). */
#ifndef TINCAN_JSONSCHEMA_H
#define TINCAN_JSONSCHEMA_H

#include <stddef.h>

#define JSCHEMA_MAX_BYTES  (1u << 20) /* bytes of one schema document */
#define JSCHEMA_MAX_DEPTH  128 /* schema nesting; $ref/allOf/... chains */
#define JSCHEMA_MAX_VDEPTH 512 /* schema steps while validating one value */

struct jschema;

/* Compiles the schema document text[0..n) (at most JSCHEMA_MAX_BYTES).
 * Returns a schema the caller frees with jschema_free, or NULL with err
 * ("not JSON: line 3 column 5: ...", "unsupported keyword 'format' at
 * /properties/a", "invalid regex at /pattern: ... at offset 3", "$ref cycle
 * at /$defs/a: ..."). Never blocks. */
struct jschema *jschema_compile(const char *text, size_t n, char *err,
                                size_t errlen);
void jschema_free(struct jschema *s);

/* 0 if the JSON document json[0..n) is valid; else -1 (ERR_INVAL) with err
 * naming where and what, e.g. "at /items/2/price: -1 is less than minimum
 * 0", "not JSON: line 1 column 7: ...". The first error found is reported.
 * Duplicate object keys are "not JSON". Allocates nothing for a valid
 * payload the one-pass path can check; else what libjansson's parse needs
 * (plus a sort buffer for uniqueItems on arrays of more than 32 items).
 * Thread-safe. */
int jschema_validate(const struct jschema *s, const char *json, size_t n,
                     char *err, size_t errlen);

/* The two paths of jschema_validate, apart, for tests and fuzzing (each
 * must agree with the other). jschema_validate_fast returns one of these,
 * never writes a message and never allocates; jschema_validate_dom is
 * jschema_validate without the one-pass path. */
#define JSCHEMA_FAST_VALID   0
#define JSCHEMA_FAST_INVALID 1
#define JSCHEMA_FAST_UNSURE  2 /* outside what one pass can check */
int jschema_validate_fast(const struct jschema *s, const char *json, size_t n);
int jschema_validate_dom(const struct jschema *s, const char *json, size_t n,
                         char *err, size_t errlen);

/* Schema evolution: 0 if moving from old to new breaks no producer that was
 * valid, as far as the documented rules can tell (docs/contracts.md: a
 * property made required that was optional, a type narrowed, an enum value
 * removed, additionalProperties closed, bounds tightened or added, a pattern
 * added or changed, ...); else -1 with err naming the first incompatible
 * change with its schema path, e.g. "/properties/sku: made required". The
 * check is conservative: it may call a change incompatible that in fact
 * accepts the same documents (e.g. a rewritten regex), never the reverse,
 * except for the one documented leniency (a new property under an open
 * additionalProperties). */
int jschema_compatible(const struct jschema *old_s, const struct jschema *new_s,
                       char *err, size_t errlen);

#endif
