/* keyspace.h - the Redis key space: which keys exist, in which database, and
 * of which type, for the generic key commands.
 *
 * tincan's only Redis data type with keys is the stream (src/stream); the
 * router's GET answers from a ring, not from keys. A module that owns keys
 * registers one struct keyspace_class; keyspace.c then answers DEL, UNLINK,
 * EXISTS, TYPE, KEYS, SCAN, DBSIZE, FLUSHDB and FLUSHALL by asking every
 * class, and keeps the versions WATCH compares (keyspace_touch).
 *
 * Databases are 0..KEYSPACE_DBS-1 (SELECT). Keys are binary-safe byte strings.
 * Everything runs on the loop thread. */
#ifndef TINCAN_KEYSPACE_H
#define TINCAN_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#define KEYSPACE_DBS 16

struct client;

typedef void keyspace_key_fn(void *ctx, const char *key, size_t n);

struct keyspace_class {
    const char *type_name; /* TYPE's reply, e.g. "stream" */
    /* 1 if key exists in db as this class, else 0 */
    int (*exists)(int db, const char *key, size_t n);
    /* Deletes key from db: 1 if it existed, 0 if not. c is the client whose
     * reply waits for the deletion to be durable (the class holds it), or
     * NULL. */
    int (*del)(struct client *c, int db, const char *key, size_t n);
    /* Calls fn for every key of db (any order; fn must not change keys). */
    void (*foreach)(int db, keyspace_key_fn *fn, void *ctx);
    uint64_t (*count)(int db); /* keys in db */
    /* Deletes every key of db, or of every database when db is -1; c as del. */
    void (*flush)(struct client *c, int db);
};

/* Adds a class (at most 4); call from the module's start. */
void keyspace_register(const struct keyspace_class *k);
/* Removes it again (module stop). */
void keyspace_unregister(const struct keyspace_class *k);

/* The class key belongs to in db, or NULL when it does not exist. */
const struct keyspace_class *keyspace_lookup(int db, const char *key, size_t n);

/* Tells WATCH that key changed in db (every write to a key calls it, also a
 * delete and a flush: db -1 with key NULL means every key of every db, key
 * NULL alone every key of db). O(1) when nobody watches. */
void keyspace_touch(int db, const char *key, size_t n);

#endif
