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
 * NULL alone every key of db). O(1) when nobody watches.
 *
 * keyspace_del() and keyspace_flush() touch for the class: the key a del
 * removed, and for a flush, as in Redis 7.0, only the watched keys that
 * existed (a watch on a missing key survives FLUSHALL). A class may touch
 * there too: a per-key touch of a key being deleted is harmless, and a
 * whole-db touch (key NULL) made from inside a class's flush is ignored.
 * Outside a flush a whole-db touch ends every watch on that db. */
void keyspace_touch(int db, const char *key, size_t n);

/* ---- for the generic key commands (cmd_keyspace.c) and tests ----
 * Everything below asks every registered class; with none registered each
 * behaves as an empty Redis. */

/* Deletes key from db through its class: 1 if it existed, else 0. c as in
 * keyspace_class.del (its reply may be held until the delete is durable). */
int keyspace_del(struct client *c, int db, const char *key, size_t n);
/* Deletes every key of db, or of every db when db is -1 (FLUSHDB, FLUSHALL). */
void keyspace_flush(struct client *c, int db);
uint64_t keyspace_count(int db); /* keys in db (DBSIZE) */

/* The position of a key in SCAN's cursor space: a 63-bit hash of its bytes,
 * the same in every run (FNV-1a, then a 64-bit finaliser). */
uint64_t keyspace_hash(const char *key, size_t n);
#define KEYSPACE_HASH_MAX ((UINT64_C(1) << 63) - 1)

/* Calls fn for every key of db, class by class (fn must not change keys). */
typedef void keyspace_class_key_fn(void *ctx, const struct keyspace_class *k,
                                   const char *key, size_t n);
void keyspace_foreach(int db, keyspace_class_key_fn *fn, void *ctx);

/* One SCAN step: calls fn, in hash order, for the keys of db whose hash
 * (keyspace_hash) lies in [cursor, last], where last is the smallest hash
 * that takes at least count (>= 1) keys from cursor on, or the largest hash
 * when fewer are left. Keys with equal hashes are never split between steps,
 * so a step may return more than count. Returns the next cursor, last + 1,
 * or 0 when no key lies past last. Since the steps cover [0, 2^63) in
 * contiguous pieces, a key present for a whole iteration (cursor 0 to 0) is
 * returned exactly once, and a key added or deleted meanwhile at most once.
 * A cursor past KEYSPACE_HASH_MAX returns nothing and 0. Time O(N log count)
 * for N keys in db (each step looks at every key: the classes' foreach has
 * no order); memory O(count) plus the keys returned. */
uint64_t keyspace_scan(int db, uint64_t cursor, uint64_t count,
                       keyspace_class_key_fn *fn, void *ctx);

#endif
