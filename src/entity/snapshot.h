/* snapshot.h - an entity snapshot: the latest event of every key, as of one
 * store position, and the bytes of its file.
 *
 * A snapshot named N taken at position P with pattern T holds, for every key,
 * the position of the key's latest event at or before P whose type matches T
 * (and, for a STATE snapshot, whose type is registered STATE). The events are
 * in the store; a snapshot is their positions, ascending, each with its type
 * (an index into the snapshot's own type names), so a subscription
 * bootstrapped from it takes only the types it is bound to without reading
 * an event.
 *
 * File "<dir>/snapshots/<N>.snap" (little-endian, checked whole by the
 * trailing crc32c; replaced atomically by the caller):
 *   magic "TINCANSN" | version u32 | flags u32 (1 = STATE) | position u64 |
 *   time_ms u64 | n u64 | ntypes u32 | 0 u32 | name str16 | pattern str8 |
 *   ntypes x type str8 | n x (position u64, type u32) | crc32c u32
 *
 * Names follow sched_name_check (schedule.h: 1..200 bytes of [A-Za-z0-9_.:-],
 * not starting with '.', never "DEL"), so they are safe as file names and a
 * snapshot schedule is named after its snapshot.
 *
 * Memory: 12 bytes a key while the snapshot is loaded. No I/O here. */
#ifndef TINCAN_SNAPSHOT_H
#define TINCAN_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

#define SNAP_MAGIC "TINCANSN"
#define SNAP_VERSION 1u

struct snap {
    char *name;         /* owned */
    size_t name_len;
    char *pattern;      /* owned */
    size_t pattern_len;
    int state;          /* only types registered STATE */
    uint64_t position;  /* P */
    uint64_t time_ms;   /* wall clock when taken */
    uint64_t n;         /* keys */
    uint64_t *pos;      /* n positions, ascending (owned) */
    uint32_t *type;     /* n type indexes (owned) */
    char **types;       /* ntypes names (owned) */
    uint8_t *type_lens;
    uint32_t ntypes;
};

/* Appends the file's bytes. */
void snap_encode(const struct snap *sn, struct sbuf *out);
/* Decodes a file into *sn (owned: snap_free). 0 or ERR_CORRUPT with why. */
int snap_decode(const uint8_t *p, size_t n, struct snap *sn, char *why,
                size_t whylen);
void snap_free(struct snap *sn); /* frees what it owns and sn itself */

#endif
