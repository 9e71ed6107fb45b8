/* stream.h - Redis streams on the event store: the model the X* commands use.
 *
 * A stream key is an event type (store.h): every entry of the stream is an
 * event of that type, its stream ID the event's entry id <ms>-<seq>, its
 * fields the event's headers in order (an event published with EV.PUB also
 * shows its payload as a last field named "payload"). In database 0 a key
 * that is a valid type not starting with '_' is that type itself, so
 * `XRANGE order.created - +` reads what EV.PUB order.created published and an
 * XADD to order.created reaches the bus's subscribers; any other key (another
 * database, a key that is no valid type) is the type "_s<db>." followed by the
 * key with every byte outside [A-Za-z0-9-] written as _HH.
 *
 * The store never forgets an event, so what the stream commands delete is
 * hidden, not erased: a stream is its type's events from `inc_start` (the
 * position after its last DEL) on, minus the `trimmed` oldest (XTRIM, MAXLEN,
 * MINID) and minus the XDEL'd positions (`dels`). Events are found by rank in
 * the type's postings (store_type_nth), so memory is O(streams + deleted
 * entries + pending entries), never O(entries).
 *
 * The stream's own state (deletions, trims, XSETID, groups, consumers,
 * pending entries) is kept in the "streams" journal (journal.h); XADD itself
 * writes only the event. Loop thread only. */
#ifndef TINCAN_STREAM_H
#define TINCAN_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

struct client;
struct store;

struct sid {
    uint64_t ms, seq;
};

int sid_cmp(struct sid a, struct sid b);
/* "ms-seq" into out (48 bytes); returns the length. */
size_t sid_fmt(struct sid id, char *out);

struct consumer;

/* One pending entry of a group: delivered, not acknowledged. */
struct pel {
    struct sid id;
    uint64_t pos;         /* its event's position */
    uint64_t delivery_ms; /* wall clock of the last delivery */
    uint64_t count;       /* deliveries */
    struct consumer *owner;
};

/* An ordered set of pending entries by ID: a sorted array whose removed
 * slots stay (val NULL) until they are half of it, so that acks of the oldest
 * entries and deliveries of the newest are both O(1) amortised. */
struct idvec {
    struct sid *keys;
    struct pel **vals;
    size_t n, cap, live;
};
/* First slot with key >= id (n if none). */
size_t idvec_lower(const struct idvec *v, struct sid id);
struct pel *idvec_get(const struct idvec *v, struct sid id);
void idvec_put(struct idvec *v, struct pel *p); /* adds or replaces by p->id */
void idvec_del(struct idvec *v, struct sid id); /* no-op when absent */
void idvec_free(struct idvec *v);               /* the array, not the pels */

struct consumer {
    char *name;
    size_t len;
    uint64_t seen_ms;   /* last attempted interaction */
    uint64_t active_ms; /* last successful interaction (0 = never) */
    struct idvec pel;   /* its pending entries (shared with the group's) */
    struct consumer *next;
};

struct group {
    char *name;
    size_t len;
    struct sid last_id;     /* last delivered */
    int64_t entries_read;   /* -1 = unknown */
    uint64_t next_rank;     /* rank of the first event after last_id (cache) */
    struct idvec pel;       /* owns the struct pel */
    struct consumer *consumers;
    struct group *next;
};

struct stream {
    int db;
    char *key;
    size_t klen;
    char type[256];
    size_t tlen;
    int created;            /* exists even with no entries (MKSTREAM, XADD) */
    uint64_t inc_start;     /* first position of the current incarnation */
    uint64_t rank0;         /* events of the type before inc_start */
    uint64_t trimmed;       /* oldest entries of the incarnation trimmed */
    uint64_t load_head;     /* recovery: the first position not trimmed */
    struct sid last_id;     /* XSETID's ID: the top unless an event of the
                               type came after setid_pos */
    uint64_t setid_pos;     /* the store's next position at that XSETID */
    struct sid max_deleted; /* highest ID ever deleted */
    uint64_t added_base;    /* entries_added = added_base + events since */
    uint64_t *dels;         /* XDEL'd positions after the trim point, sorted */
    size_t ndels, capdels;
    struct group *groups;
    struct stream *hnext;
};

/* ---- the registry ---- */
/* 0 with *type filled (NUL-terminated, 256 bytes), or -1: too long. */
int stream_type_of(int db, const char *key, size_t n, char *type, size_t *tlen);
/* The db and key (256 bytes) a type stands for: 0, or -1 when the type is no
 * stream key's (a '_' type not of the form "_s<db>."). */
int stream_key_of_type(const char *t, size_t n, int *db, char *key, size_t *klen);
/* The stream db/key, or NULL when the key holds no stream. */
struct stream *stream_lookup(int db, const char *key, size_t n);
/* The stream db/key, created (empty, not yet `created`) when absent; NULL
 * with *err when the key cannot be a stream (too long). */
struct stream *stream_get_or_new(int db, const char *key, size_t n,
                                 const char **err);
int stream_exists(struct stream *s); /* the key exists (has entries or created) */
/* Entries now. */
uint64_t stream_len(struct stream *s);
uint64_t stream_total(struct stream *s);  /* events of the incarnation */
uint64_t stream_entries_added(struct stream *s);
/* The top ID (last entry's, or higher after XSETID/XDEL of the last). */
struct sid stream_last_id(struct stream *s);

/* ---- entries ---- */
struct stream_entry {
    struct sid id;
    uint64_t pos;
    uint64_t rank;
    const struct segment_record *r; /* valid during the visit only */
};
/* Called per live entry; return 0 to go on, 1 to stop. */
typedef int stream_visit_fn(void *ctx, const struct stream_entry *e);
/* Visits live entries with start <= id <= end, oldest first (or newest first
 * when rev), at most count (0 = all). Returns the number visited or a
 * negative code. *maxpos = highest position returned (for store_hold). */
int64_t stream_range(struct stream *s, struct sid start, struct sid end,
                     size_t count, int rev, stream_visit_fn *fn, void *ctx,
                     uint64_t *maxpos);
/* The same forward from the event of rank `rank` on (a group's next_rank),
 * with no lookup of a start ID. */
int64_t stream_range_from(struct stream *s, uint64_t rank, struct sid end,
                          size_t count, stream_visit_fn *fn, void *ctx,
                          uint64_t *maxpos);
/* 1 if a live entry has a rank >= rank. */
int stream_has_from(struct stream *s, uint64_t rank);
/* The rank of the first event (live or deleted) of the incarnation with ID >=
 * id (stream_total + rank0 when none). */
int stream_seek(struct stream *s, struct sid id, uint64_t *rank);
/* Reads the live entry with ID id: 1 and *e (e->r valid until the next read),
 * 0 if there is none, negative on I/O. */
int stream_find(struct stream *s, struct sid id, struct stream_entry *e);
/* First and last live entries (1, 0 if empty, or negative). */
int stream_first(struct stream *s, struct stream_entry *e);
int stream_last(struct stream *s, struct stream_entry *e);
int stream_is_deleted(const struct stream *s, uint64_t pos);
uint64_t stream_head_rank(const struct stream *s); /* rank0 + trimmed */

/* Writes fields of an entry as Redis does: [f1 v1 f2 v2 ...]. */
void stream_reply_fields(struct client *c, const struct segment_record *r);
size_t stream_field_count(const struct segment_record *r); /* pairs */

/* ---- changes (each journals itself) ---- */
void stream_journal_meta(struct stream *s);
void stream_delete_key(struct stream *s);         /* DEL */
int stream_xdel(struct stream *s, uint64_t pos, struct sid id); /* 1 if deleted */
/* Trims by MAXLEN (maxlen, minid NULL) or MINID; approx like '~', limit 0 =
 * none. Returns entries removed or negative. */
int64_t stream_trim(struct stream *s, uint64_t maxlen, const struct sid *minid,
                    int approx, int64_t limit);
struct group *stream_group(struct stream *s, const char *name, size_t n);
struct group *stream_group_create(struct stream *s, const char *name, size_t n,
                                  struct sid last_id, int64_t entries_read);
void stream_group_destroy(struct stream *s, struct group *g);
/* XSETID's change of the top ID (the caller checked Redis's rules): 0, or -1
 * with *err when the ID is below a deleted entry that live ones precede. */
int stream_setid(struct stream *s, struct sid id, const char **err);
/* Raises the group's last delivered ID (XCLAIM LASTID). */
void stream_group_raise(struct stream *s, struct group *g, struct sid id);
void stream_group_setid(struct stream *s, struct group *g, struct sid id,
                        int64_t entries_read);
struct consumer *stream_consumer(struct group *g, const char *name, size_t n);
struct consumer *stream_consumer_create(struct stream *s, struct group *g,
                                        const char *name, size_t n, int journal);
/* Deletes a consumer and its pending entries; returns how many it had. */
uint64_t stream_consumer_delete(struct stream *s, struct group *g,
                                struct consumer *cn);
/* Records that cn got entries: for each, a new pending entry or a
 * redelivery (count+1, owner cn, time now); with NOACK nothing pends. Then
 * the group's last_id / entries_read as they are now (journaled with it). */
struct pel *stream_pel_deliver(struct stream *s, struct group *g,
                               struct consumer *cn, struct sid id, uint64_t pos,
                               uint64_t now_ms, uint64_t count);
void stream_pel_journal(struct stream *s, struct group *g, struct consumer *cn,
                        struct pel **ps, size_t n);
/* Acks one ID: 1 if it was pending. Journals nothing: see stream_ack_journal. */
int stream_pel_ack(struct group *g, struct sid id);
void stream_ack_journal(struct stream *s, struct group *g, const struct sid *ids,
                        size_t n);
void stream_group_journal(struct stream *s, struct group *g);
/* The lag of a group and its entries_read as Redis 7.0 estimates them: 1
 * with *lag, or 0 when the lag is unknown (nil). */
int stream_group_lag(struct stream *s, struct group *g, uint64_t *lag);
/* Updates entries_read after a `>` read delivered id. */
void stream_group_read_advance(struct stream *s, struct group *g, struct sid id);

/* Wakes blocked readers of s (a new entry, a delete). */
void stream_signal(struct stream *s);
/* The journal glue (cmd_journal.h) the commands hold replies on. */
struct cmd_journal *stream_journal(void);
struct store *stream_store(void);
uint64_t stream_node_entries(void); /* stream-node-max-entries */
/* Calls fn for every stream (checkpoint, keys). */
void stream_foreach(void (*fn)(void *ctx, struct stream *s), void *ctx);
int stream_registry_start(char *err, size_t errlen);
void stream_registry_stop(void);
void stream_flush_db(int db); /* -1 = all */
/* Every stream key of db (keyspace foreach). */
void stream_keys(int db, void (*fn)(void *ctx, const char *key, size_t n), void *ctx);

#endif
