/* keytab.h - the key table: every entity key's version, latest position and
 * latest type, in memory, and its checkpoint file.
 *
 * An event published with a KEY gets the key's next version (1, 2, ...): the
 * store asks this table, writes the version into the record and tells the
 * table. The table is what EXPECT checks and what snapshots walk.
 *
 * Memory: one 32-byte entry per key in one array, the key bytes in one arena
 * (no allocation per key), and an open-addressing table of 8-byte slots kept
 * at most half full: about 48 bytes + the key's length per key.
 *
 * Checkpoint ("keys.ckpt" in the store's directory, replaced durably with
 * fsx_replace; little-endian, checked whole by the trailing crc32c):
 *   header 40: magic "TINCANKT" | version u32 | 0 u32 | upto u64 (the last
 *              position it covers) | nkeys u64 | ntypes u32 | 0 u32
 *   types:     ntypes x (u8 len, name)     the names entries refer to
 *   entries:   nkeys x (u64 version, u64 position, u32 type, u16 key_len, key)
 *   trailer:   crc32c u32 of every byte before it
 * The file is a cache of what the records say: missing or bad, the store
 * rebuilds the table from the records themselves.
 *
 * Types are the caller's small integer ids (the store's type index); the
 * checkpoint stores names, and load maps them back through a callback.
 * No I/O except keytab_save/keytab_load; not thread-safe. */
#ifndef TINCAN_KEYTAB_H
#define TINCAN_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#define KEYTAB_MAGIC "TINCANKT"
#define KEYTAB_VERSION 1u

/* One key's state. */
struct keytab_ent {
    uint64_t version; /* of its latest event; >= 1 */
    uint64_t pos;     /* position of its latest event */
    uint64_t koff;    /* where its bytes start in the arena (internal) */
    uint32_t klen;    /* bytes of the key */
    uint32_t type;    /* caller's id of its latest event's type */
};

struct keytab;

struct keytab *keytab_new(void);
void keytab_free(struct keytab *kt);

/* The entry of key k, or NULL. Valid until the next keytab_put. */
/* Starts loading the cache line keytab_find(k) reads first: called as soon
 * as a key is known, the miss overlaps the work before the lookup. */
void keytab_prefetch(const struct keytab *kt, const char *k, size_t n);
struct keytab_ent *keytab_find(struct keytab *kt, const char *k, size_t n);
/* Records an event of key k: its version, position and type (a new key is
 * added). Returns the entry. */
struct keytab_ent *keytab_put(struct keytab *kt, const char *k, size_t n,
                              uint64_t version, uint64_t pos, uint32_t type);
size_t keytab_count(const struct keytab *kt);
/* The i-th key (i < keytab_count, in the order keys were first seen) and its
 * bytes in *key. */
const struct keytab_ent *keytab_at(const struct keytab *kt, size_t i,
                                   const char **key);
/* Bytes the table holds in memory. */
uint64_t keytab_bytes(const struct keytab *kt);

/* Writes the table, as it is after every event up to position upto, as path
 * (durably: fsx_replace into dir). type_name(ctx, id, &len) gives the name
 * of a type id (1..255 bytes). 0 or -errno with why in err. Blocks. */
/* The checkpoint's bytes (what keytab_save writes), *len of them, to free();
 * no I/O, so a caller can write them from another thread. */
uint8_t *keytab_encode(const struct keytab *kt, uint64_t upto,
                       const char *(*type_name)(void *ctx, uint32_t id, size_t *len),
                       void *ctx, size_t *len);
int keytab_save(const struct keytab *kt, uint64_t upto, const char *dir,
                const char *path,
                const char *(*type_name)(void *ctx, uint32_t id, size_t *len),
                void *ctx, char *err, size_t errlen);
/* Replaces kt's contents with the checkpoint at path and sets *upto;
 * type_id(ctx, name, len) maps a name to the caller's id. 0; ERR_NOTFOUND if
 * there is no file; ERR_CORRUPT (why in err, kt left empty) if it does not
 * check out; ERR_IO. Blocks. */
int keytab_load(struct keytab *kt, const char *path, uint64_t *upto,
                uint32_t (*type_id)(void *ctx, const char *name, size_t len),
                void *ctx, char *err, size_t errlen);
/* Empties the table. */
void keytab_clear(struct keytab *kt);

#endif
