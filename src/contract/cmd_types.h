/* cmd_types.h - what the type registry module offers the publishing
 * commands (EV.PUB, XADD) and EV.TYPES.
 *
 * cmd_types.c owns the server's one registry (registry.h), its journal
 * "types" and the EV.TYPE, EV.MANIFEST and EV.MAP commands. A publishing
 * command asks types_publish_check before it stores anything and calls
 * types_publish_note once the event is stored. Loop thread only. It is not
 * the registry itself and never touches the store. */
#ifndef TINCAN_CMD_TYPES_H
#define TINCAN_CMD_TYPES_H

#include <stddef.h>
#include <stdint.h>

struct client;
struct manifest;
struct type_entry;
struct type_producer;

/* May c publish an event of type[0..tlen) with payload[0..n)? 0 if so;
 * else ERR_NOTYPE (not registered under types-required yes), ERR_NOPERM
 * (the type has an OWNER and c's name is another or none) or ERR_INVALID
 * (the payload does not validate against the type's schema; has_payload 0
 * says an XADD entry has no 'payload' field), with the reply's detail in err
 * (reply_error_code(c, rc, err)). One hash lookup for a type nobody
 * registered; a schema check otherwise. Never blocks. *entry is the
 * type's registry entry (NULL if it has none) for types_publish_note, so a
 * publish looks the type up once. */
int types_publish_check(struct client *c, const char *type, size_t tlen,
                        const void *payload, size_t n, int has_payload,
                        struct type_entry **entry, char *err, size_t errlen);
/* Counts one stored event of type by c's name as producer (in memory; the
 * counts reach the journal within a second). entry: what the check gave. */
void types_publish_note(struct client *c, struct type_entry *entry,
                        const char *type, size_t tlen);

/* The registration of type, for EV.TYPES: 1 with the fields set, 0 if it is
 * not registered. Strings are owned by the registry, valid until the next
 * registry change. */
struct types_view {
    const char *schema; /* "none", "json", "protobuf" */
    uint32_t version;   /* schema changes */
    const char *owner;  /* NULL if none */
    size_t owner_len;   /* bytes */
    int state;          /* registered STATE (the latest state of an entity) */
};
int types_view(const char *type, size_t len, struct types_view *out);

/* The registered types matching the topic pattern (NULL: all), sorted
 * bytewise: *out is an array the caller frees (the names in it are the
 * registry's, valid until the next registry change). Returns the count. */
struct types_name {
    const char *p;
    size_t len;
};
size_t types_registered(const char *pat, size_t plen, struct types_name **out);

/* Fills m (the caller's, uninitialised; free with manifest_deinit) with every
 * type registered, seen publishing or stored whose name matches the topic
 * pattern pat[0..plen) (NULL: all), each with its owner, producers, matching
 * subscriptions and stream groups: EV.MANIFEST's and EV.MAP's data, and the
 * console's map. pat must have passed topic_pattern_check. Reads the
 * registry, the bus, the streams and the store's type index; never blocks.
 * Empty if the types module has not started. */
void types_manifest(struct manifest *m, const char *pat, size_t plen);

/* Calls fn for each producer seen publishing type (registered or not), in
 * the order first seen (registry.h: counts since the registry was created,
 * kept in its journal). The producer is valid during the call. Nothing for a
 * type never published. */
void types_foreach_producer(const char *type, size_t len,
                            void (*fn)(void *ctx,
                                       const struct type_producer *p),
                            void *ctx);

#endif
