/* registry.h - the event type registry: what each type is, who may publish
 * it, who did.
 *
 * A registry maps an event type (topic.h) to its entry: whether it is
 * registered (EV.TYPE SET) and with what contract - owner (the one producer
 * allowed to publish it), doc text, STATE or OCCURRENCE, a schema (schema.h)
 * with its source bytes and a version that counts schema changes - and the
 * producers observed publishing it (name, first/last seen, count), kept for
 * registered and unregistered types alike. Lookups are one hash probe, so
 * asking about a type nobody registered costs next to nothing.
 *
 * Durability is the caller's: every registration change is one journal
 * record built here (registry_rec_*), producer counts are written as records
 * of the types whose counts changed (registry_dirty_*), and registry_recover
 * applies records back. Times are wall-clock ms passed in by the caller.
 *
 * This module does no I/O, reads no clock and knows nothing of clients or
 * RESP. Loop thread only. */
#ifndef TINCAN_REGISTRY_H
#define TINCAN_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"
#include "sbuf.h"

#define REGISTRY_OWNER_MAX     256   /* bytes of an owner / producer name */
#define REGISTRY_DOC_MAX       65536 /* bytes of a DOC text */
#define REGISTRY_MESSAGE_MAX   1024  /* bytes of a protobuf message name */
#define REGISTRY_REQUIRE_MAX   256   /* envelope fields of REQUIRE */
#define REGISTRY_PRODUCERS_MAX 64    /* names kept per type; more are counted
                                        under REGISTRY_OTHER */
#define REGISTRY_UNNAMED "(unnamed)" /* producer name of a client without one */
#define REGISTRY_OTHER   "(other)"   /* producers past REGISTRY_PRODUCERS_MAX */

enum type_kind {
    TYPE_OCCURRENCE = 0, /* something happened (the default) */
    TYPE_STATE = 1,      /* the latest state of an entity */
};

struct type_producer {
    char *name;          /* owned, NUL-terminated */
    size_t len;          /* bytes */
    uint64_t first_seen; /* ms, wall clock */
    uint64_t last_seen;  /* ms, wall clock */
    uint64_t count;      /* events published */
};

/* One type. Read-only outside registry.c. */
struct type_entry {
    char *type;              /* owned, NUL-terminated */
    size_t tlen;             /* bytes */
    int registered;          /* EV.TYPE SET and not DEL'd since */
    char *owner;             /* owned or NULL: anyone may publish */
    size_t owner_len;        /* bytes */
    char *doc;               /* owned or NULL */
    size_t doc_len;          /* bytes */
    enum type_kind kind;
    enum schema_kind schema_kind;
    uint8_t *schema_src;     /* owned source bytes, NULL for SCHEMA_NONE */
    size_t schema_len;       /* bytes */
    char *message;           /* protobuf message name, owned, or NULL */
    char **require;          /* protobuf envelope fields, owned */
    size_t nrequire;
    struct schema *schema;   /* compiled; NULL with a schema_kind set only
                                when recovery could not compile it */
    char *schema_error;      /* why recovery could not compile, or NULL */
    uint32_t version;        /* schema changes so far (0 = never had one) */
    uint64_t created_ms;     /* ms, wall clock: first SET */
    uint64_t updated_ms;     /* ms, wall clock: last SET that changed it */
    struct type_producer *producers; /* in the order first seen */
    size_t nproducers, capproducers;
    size_t last_producer;    /* index of the last one noted (fast path) */
    int dirty;               /* producer counts changed since written */
    struct type_entry *dirty_next;
    struct type_entry *hnext; /* hash chain */
};

/* What EV.TYPE SET asks for. Strings are not owned; NULL = keep as it is. */
struct type_def {
    const char *owner;   /* "" removes the owner */
    size_t owner_len;
    const char *doc;     /* "" removes the doc */
    size_t doc_len;
    int kind;            /* enum type_kind, or -1 = keep */
    int set_schema;      /* 1: the schema fields below replace the current */
    enum schema_kind schema_kind; /* SCHEMA_NONE removes the schema */
    const uint8_t *schema_src;
    size_t schema_len;
    const char *message; /* NUL-terminated, protobuf only */
    const char *const *require;
    size_t nrequire;
    struct schema *schema; /* compiled by the caller; ownership passes on
                              registry_set success */
};

struct registry;

struct registry *registry_new(void);
void registry_free(struct registry *r);

/* The entry of a type (registered or only observed), or NULL. O(1). */
struct type_entry *registry_find(struct registry *r, const char *type, size_t len);
size_t registry_registered(const struct registry *r); /* registered types */
size_t registry_count(const struct registry *r);      /* entries */

/* Registers or updates type with d (taking d->schema); version grows when
 * the schema changed. Returns the entry. *changed = 1 if anything changed
 * (then the caller journals registry_rec_set). */
struct type_entry *registry_set(struct registry *r, const char *type, size_t len,
                                const struct type_def *d, uint64_t now,
                                int *changed);
/* Unregisters type (its producer stats stay). 1 if it was registered. */
int registry_del(struct registry *r, const char *type, size_t len);

/* Counts one publish of e's type (e NULL: the entry is made) by the producer
 * name[0..len) (NULL: REGISTRY_UNNAMED) at now. */
void registry_note(struct registry *r, struct type_entry *e, const char *type,
                   size_t tlen, const char *name, size_t len, uint64_t now);

/* Calls fn for every entry, in no order. */
void registry_foreach(struct registry *r,
                      void (*fn)(void *ctx, struct type_entry *e), void *ctx);

/* ---- journal records ----
 * Integers little-endian; str16 = u16 len + bytes, str32 = u32 len + bytes.
 *
 *   REGISTRY_REC_SET   str16 type | u8 kind | u8 schema_kind | u32 version |
 *                      u64 created_ms | u64 updated_ms | u8 has_owner |
 *                      str16 owner | str32 doc | str16 message |
 *                      u16 nrequire | str16 field * nrequire | str32 schema
 *                      the whole registration (replaces what was there)
 *   REGISTRY_REC_DEL   str16 type
 *   REGISTRY_REC_PRODUCERS
 *                      str16 type | u16 n | (str16 name | u64 first_seen |
 *                      u64 last_seen | u64 count) * n
 *                      every producer of the type as it is now (absolute
 *                      values, so replaying twice is harmless)
 */
enum registry_rec_type {
    REGISTRY_REC_SET = 1,
    REGISTRY_REC_DEL = 2,
    REGISTRY_REC_PRODUCERS = 3,
};

/* Each clears out and writes one record's bytes into it. */
void registry_rec_set(struct sbuf *out, const struct type_entry *e);
void registry_rec_del(struct sbuf *out, const char *type, size_t len);
void registry_rec_producers(struct sbuf *out, const struct type_entry *e);

/* Applies one record during recovery. A SET record's schema is compiled
 * again; if that fails the entry is kept with schema NULL and schema_error
 * set (publishes of the type are then refused, never let through), and
 * *bad_schemas counts it. 0, or ERR_CORRUPT with err filled. */
int registry_recover(struct registry *r, uint8_t type, const uint8_t *p, size_t n,
                     size_t *bad_schemas, char *err, size_t errlen);

/* Producer counts not yet written: the first changed entry (follow
 * dirty_next), and clearing after they were written. */
struct type_entry *registry_dirty(struct registry *r);
void registry_dirty_clear(struct registry *r);

#endif
