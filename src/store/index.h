/* index.h - the per-segment index: sparse position/time -> offset, and per-type
 * postings.
 *
 * Every segment has one struct index. For the open segment it is built in RAM
 * as records are appended (index_add). When the segment seals, index_save
 * writes it to "<base>.idx" (temp file -> fsync -> rename -> fsync(dir)) and
 * index_load brings back only the sparse entries and the type directory; the
 * postings (8 bytes per event) stay in the file and are read with pread when a
 * query needs them, so RAM does not grow with history.
 *
 *   index file (little-endian), whole file checked by the trailing crc32c:
 *   header 64: magic "TINCANIX" | version u32 | 0 u32 | base u64 |
 *              segment bytes u64 | count u64 | nsparse u64 | ntypes u64 |
 *              ids u64 (bit 63 set: the low bits count the records with a
 *              client ID; 0: not counted, files written before)
 *   sparse:    nsparse x (position u64, time_ms u64, offset u32, 0 u32)
 *   types:     ntypes x (name_len u8, 7 x 0, count u64, first_pos u64,
 *              last_pos u64, first_time u64, last_time u64, last_seq u64,
 *              postings file offset u64, name bytes)
 *   postings:  per type, count x (position - base u32, record offset u32)
 *   trailer:   crc32c u32 of every byte before it
 *
 * Indexes are caches: if an index file is missing, stale or bad the store
 * rebuilds it from the segment. This module does not read segments. */
#ifndef TINCAN_INDEX_H
#define TINCAN_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define INDEX_MAGIC "TINCANIX"
#define INDEX_VERSION 1u
#define INDEX_SPARSE_EVERY 32 /* records between two sparse entries */

struct index_sparse {
    uint64_t position; /* of the record at offset */
    uint64_t time_ms;  /* its time */
    uint32_t offset;   /* bytes from the segment start */
};

struct index_posting {
    uint32_t rel;    /* position - segment base */
    uint32_t offset; /* bytes from the segment start */
};

/* One type within one segment. */
struct index_type {
    char name[256];        /* NUL-terminated */
    uint8_t name_len;
    uint64_t count;        /* events of this type in the segment */
    uint64_t first_pos, last_pos;
    uint64_t first_time, last_time; /* ms */
    uint64_t last_seq;     /* entry seq of the last event */
    struct index_posting *post; /* open segment: in RAM (owned); else NULL */
    size_t cap;
    uint64_t file_off;     /* sealed: where its postings start in the file */
};

struct index {
    uint64_t base;        /* first position the segment may hold */
    uint64_t end;         /* bytes of the segment covered (valid records end) */
    uint64_t count;       /* records */
    uint64_t first_pos, last_pos;   /* 0 when empty */
    uint64_t first_time, last_time; /* ms; 0 when empty */
    struct index_sparse *sparse;    /* owned */
    size_t nsparse, capsparse;
    struct index_type *types;       /* owned */
    size_t ntypes, captypes;
    int fd;               /* sealed: the index file, for postings; else -1 */
    struct index_window *win; /* sealed: postings read lately (owned) */
    int sparse_next;      /* 1: the next record gets a sparse entry (it
                             follows a skipped, quarantined range) */
    uint64_t ids;         /* records with a client ID (when ids_known) */
    int ids_known;        /* 0: from an index file that did not count them */
};

void index_init(struct index *ix, uint64_t base);
void index_deinit(struct index *ix); /* closes fd */
/* Records r, framed at offset; r->position must exceed every earlier one.
 * end becomes offset + size. */
void index_add(struct index *ix, const struct segment_record *r, uint32_t offset,
               uint32_t size);
/* The type named t in this segment, or NULL. */
struct index_type *index_type_find(const struct index *ix, const char *t, size_t n);

/* Encodes ix (with in-RAM postings) as the file bytes; caller frees *out. */
void index_encode(const struct index *ix, uint8_t **out, size_t *len);
/* Writes dir/<name> atomically (tmp, fsync, rename, fsync dir), via fsx.
 * 0 or -errno. May block. */
int index_save(const struct index *ix, const char *dir, const char *name);
/* Decodes file bytes into ix (initialised by the caller with its base):
 * sparse + types; postings stay in the bytes (file_off). 0 or ERR_CORRUPT with
 * why in err. seg_size is the segment file size the index must cover. */
int index_decode(struct index *ix, const uint8_t *p, size_t n, uint64_t seg_size,
                 char *err, size_t errlen);
/* Loads dir/<name>: 0 (ix->fd kept open for postings), ERR_NOTFOUND,
 * ERR_CORRUPT or ERR_IO with why in err. */
int index_load(struct index *ix, const char *path, uint64_t seg_size, char *err,
               size_t errlen);

/* Reads n postings of t starting at i into out; 0 or -errno/ERR_CORRUPT.
 * A sealed segment keeps the last few blocks of postings it read (a few KiB
 * per segment read), so a reader walking a type one event at a time (the
 * bus's store_next_match) costs one pread per block, not a binary search of
 * preads per event. */
int index_postings(const struct index *ix, const struct index_type *t, uint64_t i,
                   size_t n, struct index_posting *out);
/* First posting index i of t with rel >= rel (t->count if none). */
int index_postings_lower(const struct index *ix, const struct index_type *t,
                         uint32_t rel, uint64_t *i);
/* Offset of the sparse entry at or before position pos (the segment header
 * end when pos precedes every entry). */
uint32_t index_offset_before(const struct index *ix, uint64_t pos);
/* A position <= the first position whose time >= t (conservative). */
uint64_t index_pos_for_time(const struct index *ix, uint64_t t);
/* A position >= the last position whose time <= t (conservative). */
uint64_t index_pos_until_time(const struct index *ix, uint64_t t);

#endif
