/* store.h - the durable event store: segments, positions, recovery, reads.
 *
 * The store appends events to the open segment of its directory, gives each a
 * global position (u64, strictly increasing, never reused for an event a
 * client could have been told about) and a per-type entry id
 * <time_ms>-<entry_seq>, keeps the indexes (index.h) and answers reads by
 * position, by topic pattern and by time. At open it loads the indexes of the
 * sealed segments (rebuilding missing or bad ones) and scans only the open
 * segment: a torn or zero-filled tail is cut, fsynced and logged; a bad record
 * inside the data refuses the open unless cfg.repair (the bad bytes are then
 * copied to "<segment>.bad-<offset>" and skipped).
 *
 * Appends are encoded into a buffer and written by store_flush (one pwrite
 * through fsx for all of a loop turn's publishes), into zeros written ahead
 * (1 MiB at a time, so that fdatasync never writes the inode). They are not
 * synced here: the caller makes them durable (syncer.h group commit, or
 * store_sync). A failed write, fsync or rename turns the store read-only for
 * good (reads go on; every write gets ERR_READONLY "store is read-only after
 * <op> failed: <why>"), except ENOSPC while writing the zeros ahead: that
 * publish gets ERR_NOSPACE, nothing is stored for it, and the next one simply
 * tries again.
 *
 * Event times are the server's wall clock, but never go backwards within the
 * store (max(now, last time)), so time order equals position order.
 *
 * Not thread-safe (the loop thread owns it); knows nothing of RESP, clients
 * or sync policy. */
#ifndef TINCAN_STORE_H
#define TINCAN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define STORE_ID_MAX 512       /* bytes of a client event id */
#define STORE_KEY_MAX 1024     /* bytes of an entity key */
#define STORE_HEADERS_MAX 64   /* header pairs per event */
#define STORE_HDR_FIELD_MAX 255 /* bytes of a header field */

struct store;

struct store_config {
    const char *dir;            /* directory of segments and indexes (created) */
    uint64_t segment_size;      /* bytes at which a segment seals */
    uint64_t dedup_window_ms;   /* ms an ID stays known; 0 = no dedup */
    int repair;                 /* quarantine bad ranges instead of refusing */
    uint64_t prealloc;          /* bytes of zeros written ahead of the open
                                   segment's end; 0 = none (every append then
                                   extends the file itself) */
};
#define STORE_PREALLOC_DEFAULT (1u << 20)

/* What a publish carries (all pointers borrowed for the call). */
struct store_pub {
    const char *type;           /* valid type (topic_type_check) */
    size_t type_len;
    const char *id;             /* NULL/0 = server-generated */
    size_t id_len;
    const char *key;            /* NULL/0 = none */
    size_t key_len;
    unsigned kind;              /* enum segment_kind */
    const struct segment_hdr *hdrs;
    size_t nhdrs;
    const char *payload;
    size_t payload_len;
    /* The entry id (Redis stream id) the caller chose, when entry_id_set; it
     * is the caller's to keep rising within the type (src/stream does). Else
     * the store picks <max(time, last ms)>-<next seq> after the type's last. */
    int entry_id_set;
    uint64_t entry_ms, entry_seq;
    /* With a key: the publish is refused with ERR_CONFLICT ("expected N, key
     * is at M") unless the key's version is expect (0 = a new key). */
    int expect_set;
    uint64_t expect;
};

struct store_stats {
    uint64_t first_pos, last_pos; /* 0 when empty */
    uint64_t next_pos;            /* what the next publish gets */
    uint64_t events;              /* stored events */
    uint64_t bytes;               /* bytes of all segment files */
    uint64_t segments;
    uint64_t types;
    uint64_t dedup_ids;           /* ids in the dedup window */
    uint64_t recovered_cut_bytes; /* tail bytes cut at the last open */
    uint64_t rebuilt_indexes;     /* indexes rebuilt at the last open */
    uint64_t quarantined_bytes;   /* bytes skipped by --repair */
    uint64_t open_ms;             /* ms the last open took */
    int readonly;                 /* 1 after a failed write/fsync */
    uint64_t nospace_errors;      /* publishes refused with ERR_NOSPACE */
};

/* Opens (creating dir if needed) and recovers. 0 with *out, or a negative
 * code with why in err (ERR_CORRUPT for bad data without repair, ERR_IO...).
 * now_ms: wall clock, for the dedup window. May block (reads, fsyncs). */
int store_open(struct store **out, const struct store_config *cfg, uint64_t now_ms,
               char *err, size_t errlen);
/* Closes every file (does not sync: call store_sync first if wanted). */
void store_close(struct store *s);

/* Appends one event at time max(now_ms, last time). On success 0, *pos, and
 * *dup = 1 if pub->id was seen within the dedup window (then *pos is the
 * original position and nothing is written, whatever expect says). A keyed
 * event gets its key's next version (keytab.h). Errors: ERR_CONFLICT,
 * ERR_READONLY, ERR_NOSPACE, ERR_IO with text in err. Does not sync. May seal the segment
 * (which fsyncs it and writes its index: blocks for that). */
int store_append(struct store *s, const struct store_pub *pub, uint64_t now_ms,
                 uint64_t *pos, int *dup, char *err, size_t errlen);
/* The fd holding the most recent appends (for syncer_request). */
/* Writes the appends made since the last flush with one pwrite (store_append
 * only encodes them). Call once per loop turn, before asking for an fdatasync
 * of store_fd() and before answering publishes. 0, or the store turns
 * read-only (ERR_READONLY with err) and the pending events are lost (they were
 * never acknowledged). Reads flush by themselves. */
int store_flush(struct store *s, char *err, size_t errlen);
/* The last position whose bytes are in the file (written, maybe not synced). */
uint64_t store_written_pos(const struct store *s);
int store_fd(const struct store *s);
/* fdatasync of the open segment, now (blocking). 0, or the store turns
 * read-only and ERR_READONLY/err is returned. */
int store_sync(struct store *s, char *err, size_t errlen);
/* Tells the store a sync done elsewhere (the syncer) failed with -errno err:
 * it turns read-only. */
void store_sync_failed(struct store *s, int err);
/* ERR_READONLY with its message, or 0. */
int store_readonly(const struct store *s, char *err, size_t errlen);
uint64_t store_last_pos(const struct store *s);

/* Reads the event at pos into *r; its pointers point into *buf (owned by the
 * caller, grown with realloc; free() it when done). 0, ERR_NOTFOUND, ERR_IO
 * or ERR_CORRUPT. */
int store_get(struct store *s, uint64_t pos, struct segment_record *r,
              uint8_t **buf, size_t *cap);

/* 1 if an event is stored at pos, 0 if not (never written, cut with a torn
 * tail, quarantined by --repair, past what is written), or a negative code
 * (I/O). Answers from the segment index alone when the segment has no gaps
 * (O(log segments)); else reads the record like store_get. Says nothing of
 * whether pos is synced (the caller compares with what is visible). */
int store_has(struct store *s, uint64_t pos);

/* A range read. Bounds are inclusive; time bounds in ms. */
struct store_query {
    const char *pattern;        /* valid topic pattern */
    size_t pattern_len;
    uint64_t from_pos, to_pos;  /* 0, UINT64_MAX = unbounded */
    uint64_t from_time, to_time;
    const char *key;            /* only events with this key; NULL = any */
    size_t key_len;
    size_t count;               /* at most this many events */
    int reverse;                /* newest first */
};
/* Called per matching event in order; r's memory is valid during the call
 * only. Return 0 to go on, 1 to stop. */
typedef int store_visit_fn(void *ctx, const struct segment_record *r);
/* 0 or a negative code (I/O). */
int store_range(struct store *s, const struct store_query *q, store_visit_fn *fn,
                void *ctx);
/* The first position in (after, until] whose type matches one of the patterns
 * (each {ptr,len} pair in pats): 1 with *pos; 0 with *pos = until when none;
 * negative on I/O error. Looks at postings only (no event bytes read). */
int store_next_match(struct store *s, const char *const *pats, const size_t *lens,
                     size_t npats, uint64_t after, uint64_t until, uint64_t *pos);

/* ---- one type's events in order: what a Redis stream reads (src/stream) ----
 * A type's events have ranks 0..count-1 in position order. */
struct store_type_last {
    uint64_t count;     /* events of the type */
    uint64_t last_pos;  /* position of the last */
    uint64_t ms, seq;   /* its entry id (or higher, store_type_raise_id) */
};
/* 1 with *out when the type has events, 0 when it has none, or a negative
 * code (the last event could not be read). */
int store_type_last(struct store *s, const char *type, size_t n,
                    struct store_type_last *out);
/* Makes the ids the store picks for the type's next events exceed ms-seq
 * (XSETID). In memory: the caller raises it again after every open. */
void store_type_raise_id(struct store *s, const char *type, size_t n, uint64_t ms,
                         uint64_t seq);
/* *rank = how many events of the type have a position < pos. 0 or negative
 * (I/O on a sealed index). O(segments + log postings). */
int store_type_rank(struct store *s, const char *type, size_t n, uint64_t pos,
                    uint64_t *rank);
/* *pos = position of the type's event of rank k: 0, ERR_NOTFOUND (k >= count)
 * or negative (I/O). */
int store_type_nth(struct store *s, const char *type, size_t n, uint64_t k,
                   uint64_t *pos);

/* ---- entity keys: every key's latest version (keytab.h) ---- */
struct store_key {
    const char *key;    /* borrowed from the store until its next append */
    size_t key_len;
    uint64_t version;   /* of the key's latest event */
    uint64_t pos;       /* its position */
    const char *type;   /* its type (store-owned) */
    size_t type_len;
};
/* 1 with *out for a key that has events, else 0. */
int store_key(struct store *s, const char *key, size_t n, struct store_key *out);
/* Calls fn for every key, in the order keys were first published; fn
 * returns 0 to go on, 1 to stop. No append may happen during the walk. */
void store_keys(struct store *s, int (*fn)(void *ctx, const struct store_key *k),
                void *ctx);
/* Keys and the bytes their table holds in memory. */
/* A hint, no effect on results: the key table's memory for key is fetched
 * ahead (EV.PUB calls it as it parses KEY, long before store_append). */
void store_key_prefetch(const struct store *s, const char *key, size_t n);
void store_keys_stats(const struct store *s, uint64_t *keys, uint64_t *bytes);

/* Summary of one type over the whole store. */
struct store_type_info {
    const char *name;
    size_t name_len;
    uint64_t count;
    uint64_t first_pos, last_pos;
    uint64_t first_time, last_time; /* ms */
    uint64_t payload_bytes;         /* bytes of payloads appended since the
                                       store was opened (not kept on disk) */
};
/* Calls fn for every type matching pattern (NULL = all), sorted by name. */
void store_types(struct store *s, const char *pattern, size_t pattern_len,
                 void (*fn)(void *ctx, const struct store_type_info *t), void *ctx);
void store_stats(const struct store *s, struct store_stats *out);

/* Writes the server-generated id of an event without a client id into out
 * ("tc-<position>"); returns its length. out must hold 32 bytes. */
size_t store_generated_id(uint64_t pos, char *out);

#endif
