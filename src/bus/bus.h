/* bus.h - topic subscriptions with at-least-once delivery: the pure state
 * machine.
 *
 * A bus set holds named subscriptions. A subscription has bound topic
 * patterns, a live cursor (the last store position it has scanned), optional
 * replays (history re-delivered into it: a range of positions filtered by a
 * pattern, or an explicit list of positions), named consumers that share
 * its work, and a map position -> entry for every event it delivered and has
 * not been acked. An entry is in exactly one state:
 *
 *   HELD     delivered to a consumer, waiting for ACK until its deadline
 *   DELAYED  NACKed with a delay: deliverable again at its deadline
 *   READY    deliverable again now (NACK, missed deadline, consumer left)
 *   DEAD     delivered MAXDELIVER times without an ACK; kept with the last
 *            reason until REDRIVE (back to READY, deliveries reset) or UNSUB
 *
 * A read serves a consumer, in this order: READY entries (lowest position
 * first), then replays (oldest replay first, position order), then the
 * live stream after the cursor. Each delivery counts; a delivery that ends
 * without an ACK (NACK, deadline, consumer removed) moves the entry to DEAD
 * once its deliveries reached MAXDELIVER, else back to READY/DELAYED.
 *
 * The events themselves are not here: the caller passes a struct bus_source
 * that answers "the next stored position after p (up to a limit) whose type
 * matches one of these patterns" (the event store in the server, a list in
 * unit tests). Positions are all this module keeps of an event.
 *
 * Durable subscriptions report every change as a journal record through
 * hooks.record (one record per operation and subscription, so each change is
 * all or nothing after a crash); ephemeral ones are never journaled. The record
 * formats, the recovery (bus_recover) and the checkpoint walk live here as
 * plain bytes. Times are ms on the monotonic clock (`now` parameters); records
 * carry wall-clock ms (now + the set's wall offset) so deadlines survive a
 * restart.
 *
 * This module does no I/O, reads no clock, and knows nothing of clients,
 * RESP, blocking readers or the store's files. */
#ifndef TINCAN_BUS_H
#define TINCAN_BUS_H

#include <stddef.h>
#include <stdint.h>

#define BUS_ACKWAIT_DEFAULT    30000    /* ms */
#define BUS_MAXDELIVER_DEFAULT 10       /* deliveries */
#define BUS_ACKWAIT_MAX        86400000 /* ms, one day */
#define BUS_MAXDELIVER_MAX     1000000  /* deliveries */
#define BUS_NAME_MAX           256      /* bytes of a subscription name */
#define BUS_CONSUMER_MAX       256      /* bytes of a consumer name */
#define BUS_REASON_MAX         1024 /* bytes of a NACK reason (longer is cut) */
#define BUS_PATTERNS_MAX       64   /* bound patterns of one subscription */
/* positions of one positions replay (its record stays under 10.1 MB) */
#define BUS_REPLAY_POSITIONS_MAX 1000000

enum bus_state {
    BUS_HELD = 0,
    BUS_DELAYED = 1,
    BUS_READY = 2,
    BUS_DEAD = 3,
    BUS_GONE = 4, /* only in records: acked or dropped */
};

struct bus_set;
struct bus_sub;
struct bus_consumer;

/* One bound pattern (owned by whoever made it; bus copies what it keeps). */
struct bus_pattern {
    const char *p; /* a valid topic pattern (topic_pattern_check) */
    size_t len;    /* bytes */
};

/* Where events come from. */
struct bus_source {
    void *ctx;
    /* The first stored position in (after, until] whose type matches one of
     * the npats patterns: returns 1 with *pos = it; or 0 with *pos = the
     * highest position known to hold no match (after <= *pos <= until; the
     * source may stop early to bound its work, the bus then asks again from
     * *pos); or a negative code (the read stops there). */
    int (*next)(void *ctx, const struct bus_pattern *pats, size_t npats,
                uint64_t after, uint64_t until, uint64_t *pos);
    /* The highest position a live read may deliver (stored, and synced when
     * the store says replies wait for syncs). */
    uint64_t (*visible)(void *ctx);
};

/* One entry, read-only outside bus.c; valid until the next call that changes
 * the set. */
struct bus_entry {
    uint64_t pos; /* store position of the event */
    struct bus_sub *sub;
    enum bus_state state;
    uint32_t deliveries;           /* deliveries so far */
    struct bus_consumer *consumer; /* HELD: who holds it; else NULL */
    uint64_t deadline;             /* ms, monotonic: HELD ack deadline,
                                      DELAYED redelivery time */
    uint64_t delivered_at;         /* ms, monotonic: last delivery; 0 never */
    char *reason;                  /* owned, last failure reason, or NULL */
    size_t reason_len;             /* bytes */
    size_t heap_idx;               /* slot in its state's heap */
    struct bus_entry *hnext;       /* position hash chain */
    struct bus_entry *prev, *next; /* DEAD: the dead list, death order */
};

/* Settings of a new or updated subscription. */
struct bus_sub_args {
    const char *name; /* 1..BUS_NAME_MAX bytes */
    size_t name_len;
    const struct bus_pattern *pats; /* 1..BUS_PATTERNS_MAX valid patterns */
    size_t npats;
    uint64_t cursor;     /* new subscription: last position NOT to deliver
                            (0 = from the beginning) */
    uint64_t ackwait;    /* ms, >= 1; 0 = keep (update) / default (create) */
    uint32_t maxdeliver; /* >= 1; 0 = keep / default */
    int ephemeral;       /* new subscription only */
    /* New subscription only: a positions replay it starts with (a snapshot's
     * events), nboot ascending distinct positions <= cursor (copied), made
     * in the same record as the subscription so that a crash never leaves
     * one without the other. boot_id: the replay's id (0 = the next). */
    const uint64_t *boot;
    size_t nboot;
    uint64_t boot_id;
};

/* What EV.SUBS shows of one subscription. */
struct bus_sub_info {
    const char *name;
    size_t name_len;
    const struct bus_pattern *pats; /* valid until the next change */
    size_t npats;
    int ephemeral;
    uint64_t ackwait; /* ms */
    uint32_t maxdeliver;
    uint64_t cursor;  /* last position scanned by the live stream */
    uint64_t held;    /* entries HELD */
    uint64_t waiting; /* entries READY or DELAYED */
    uint64_t dead;    /* entries DEAD */
    uint64_t consumers;
    uint64_t replays;     /* replays (ranges and lists) not yet finished */
    uint64_t delivered;   /* deliveries since start (not journaled) */
    uint64_t acked;       /* acks since start */
    uint64_t redelivered; /* deliveries that were not the first */
};

/* What EV.SUBS shows of one consumer (bus_consumers). */
struct bus_consumer_info {
    const char *name;
    size_t name_len;
    uint64_t held; /* entries it holds */
    uint64_t seen; /* ms, monotonic: its last read */
};

struct bus_hooks {
    void *ctx;
    /* A durable change as one journal record (type BUS_REC_*). May be NULL.
     * The bytes are valid during the call only. */
    void (*record)(void *ctx, uint8_t type, const uint8_t *p, size_t n);
};

/* A new, empty set (free with bus_set_free). wall_offset is wall-clock ms
 * minus monotonic ms, used to write deadlines into records. */
struct bus_set *bus_set_new(const struct bus_hooks *hooks, int64_t wall_offset);
void bus_set_free(struct bus_set *s);
void bus_set_wall_offset(struct bus_set *s, int64_t wall_offset);

/* ---- subscriptions ---- */

/* Creates a subscription (returns 1) or updates an existing one: bindings
 * replaced, ackwait/maxdeliver changed when given, cursor kept (returns 0).
 * ERR_INVAL with err filled if an existing one differs in durability.
 * *out = the subscription. */
int bus_sub(struct bus_set *s, const struct bus_sub_args *a,
            struct bus_sub **out, char *err, size_t errlen);
/* Removes a subscription with its entries and consumers. 0 or ERR_NOSUB. */
int bus_unsub(struct bus_set *s, const char *name, size_t len);
struct bus_sub *bus_find(struct bus_set *s, const char *name, size_t len);
size_t bus_count(const struct bus_set *s);
/* The i-th subscription in name order (i < bus_count). */
struct bus_sub *bus_at(struct bus_set *s, size_t i);
/* Asks the CPU for every cache line of sub's record (walks over thousands
 * of subscriptions call it a few ahead). No effect on state. */
void bus_sub_prefetch(const struct bus_sub *sub);
void bus_sub_info(const struct bus_sub *sub, struct bus_sub_info *out);
/* 1 if a type matches one of the subscription's patterns. */
int bus_sub_matches(const struct bus_sub *sub, const char *type, size_t len);
/* 1 if the subscription may have something to deliver without a new event:
 * READY entries or unfinished replays. */
int bus_sub_has_backlog(const struct bus_sub *sub);

/* ---- delivery ---- */

/* Delivers up to count events to the named consumer (made if new): READY
 * first, then replays, then live events after the cursor up to
 * src->visible(). Each becomes HELD until now + ackwait. Settles due
 * deadlines first (bus_tick). Returns how many entries were written to out
 * (room for count), or a negative code from the source if none. */
int bus_read(struct bus_set *s, struct bus_sub *sub, const char *consumer,
             size_t clen, size_t count, const struct bus_source *src,
             uint64_t now, struct bus_entry **out);
/* ACK: removes each entry that is HELD, DELAYED or READY (positions not
 * pending - already acked, dead or unknown - are skipped), as one record.
 * Returns how many were removed. */
size_t bus_ack(struct bus_set *s, struct bus_sub *sub, const uint64_t *pos,
               size_t n);
/* NACK of a HELD entry: READY (delay 0), DELAYED until now + delay, or DEAD
 * if its deliveries reached maxdeliver; reason (may be NULL) kept. Returns 0
 * with *out, or ERR_NOTFOUND if the position is not HELD. */
int bus_nack(struct bus_set *s, struct bus_sub *sub, uint64_t pos,
             uint64_t delay, const char *reason, size_t rlen, uint64_t now,
             struct bus_entry **out);
/* TOUCH of a HELD entry: deadline = now + ackwait. 0 with *out, or
 * ERR_NOTFOUND if the position is not HELD. */
int bus_touch(struct bus_set *s, struct bus_sub *sub, uint64_t pos,
              uint64_t now, struct bus_entry **out);
/* The entry of a position in any state, or NULL. */
struct bus_entry *bus_entry_find(const struct bus_sub *sub, uint64_t pos);
/* REDRIVE: a DEAD entry back to READY with deliveries reset to 0 (its reason
 * kept). 0, or ERR_NOTFOUND if the position is not dead. */
int bus_redrive(struct bus_set *s, struct bus_sub *sub, uint64_t pos);
/* REDRIVE ALL: every dead entry; returns how many. */
uint64_t bus_redrive_all(struct bus_set *s, struct bus_sub *sub);
/* Adds a replay range: events in (after, to] whose type matches pattern are
 * delivered again (after READY entries, before live ones). Positions the
 * subscription already has an entry for are skipped. Returns the replay's
 * id (> 0). */
uint64_t bus_replay(struct bus_set *s, struct bus_sub *sub,
                    const struct bus_pattern *pat, uint64_t after, uint64_t to);
/* Adds a positions replay: the events at the n positions of pos (any order,
 * duplicates and 0s ignored; the array is copied) are delivered again in
 * ascending order, whatever their types, served like a range replay (after
 * READY entries, before live ones, skipping positions the subscription
 * already has an entry for). The caller checks that each is a stored event
 * (the bus knows only positions); one past src->visible() waits for it.
 * Memory: 8 bytes a distinct position until the replay is finished; the
 * record holds delta varints. *distinct (may be NULL) = how many distinct
 * positions; with none the replay is finished at once. Returns its id. */
uint64_t bus_replay_positions(struct bus_set *s, struct bus_sub *sub,
                              const uint64_t *pos, size_t n, size_t *distinct);

/* ---- listing ---- */

/* Up to count not-acked, not-dead entries (of one consumer's HELD ones when
 * consumer is not NULL), lowest position first. Returns how many. */
size_t bus_pending(const struct bus_sub *sub, const char *consumer, size_t clen,
                   size_t count, struct bus_entry **out);
/* Up to count DEAD entries, oldest death first. */
size_t bus_dead(const struct bus_sub *sub, size_t count,
                struct bus_entry **out);
/* The subscription's consumers (up to count), in the order they came. */
size_t bus_consumers(const struct bus_sub *sub, size_t count,
                     struct bus_consumer_info *out);
const char *bus_sub_name(const struct bus_sub *sub, size_t *len);
const char *bus_consumer_name(const struct bus_consumer *c, size_t *len);
const char *bus_state_name(enum bus_state st); /* "held", ... */

/* ---- consumers ---- */

/* Removes a consumer: its HELD entries end their delivery (READY, or DEAD if
 * used up; reason "consumer left"). An ephemeral subscription left with no
 * consumer is removed too: returns 1 then (sub is freed), else 0; ERR_NOTFOUND
 * if there is no such consumer. */
int bus_consumer_remove(struct bus_set *s, struct bus_sub *sub,
                        const char *name, size_t len);

/* ---- time ---- */

/* Ends HELD entries whose deadline passed (reason "ack deadline missed") and
 * makes due DELAYED entries READY. Returns how many became READY. */
uint64_t bus_tick(struct bus_set *s, uint64_t now);
/* The earliest HELD/DELAYED deadline (ms, monotonic) in *deadline; returns 1,
 * or 0 if there is none. */
int bus_next_deadline(const struct bus_set *s, uint64_t *deadline);

/* ---- journal records ----
 *
 * Record types (the journal's type byte); integers little-endian, str8 =
 * u8 len + bytes, str16 = u16 len + bytes:
 *
 *   BUS_REC_SUB     str16 name | u8 flags (1 = ephemeral, never written;
 *                   2 = a boot replay follows) | u64 ackwait | u32 maxdeliver |
 *                   u64 cursor | u8 npats | str8 pattern * npats
 *                   [u64 replay id | u32 n | varint * n]
 *                   created or updated (cursor and the boot replay, encoded
 *                   as in REPLAY_POS, are only used on create)
 *   BUS_REC_UNSUB   str16 name
 *   BUS_REC_REPLAY  str16 name | u64 id | u64 after | u64 to | str8 pattern
 *                   a new replay range
 *   BUS_REC_REPLAY_POS
 *                   str16 name | u64 id | u64 after | u32 n | varint * n
 *                   a positions replay: n >= 1 ascending distinct positions,
 *                   each the LEB128 varint of its difference from the one
 *                   before (the first from 0), so every varint is >= 1; a
 *                   checkpoint writes only the positions > after
 *   BUS_REC_STATE   str16 name | u64 cursor | u32 nrep | {u64 id, u64 after}
 *                   * nrep | u32 nent | entry * nent
 *     entry :=      u64 pos | u8 state | u32 deliveries |
 *                   u64 deadline (ms, wall) | u64 delivered_at (ms, wall) |
 *                   str16 consumer | str16 reason
 *                   the cursor, the replay cursors that moved (a replay whose
 *                   after reached its to - for a list its last position - is
 *                   finished) and the entries that changed (state GONE:
 *                   removed)
 */
enum bus_rec_type {
    BUS_REC_SUB = 1,
    BUS_REC_UNSUB = 2,
    BUS_REC_REPLAY = 3,
    BUS_REC_STATE = 4,
    BUS_REC_REPLAY_POS = 5,
};

/* Applies one record during recovery (no hooks run). 0 or ERR_CORRUPT with
 * detail in err. now and the set's wall offset convert wall times back. */
int bus_recover(struct bus_set *s, uint8_t type, const uint8_t *p, size_t n,
                uint64_t now, char *err, size_t errlen);
/* Writes records that rebuild every durable subscription through emit (each
 * under max_record bytes where possible). emit returns 0 or a negative code,
 * which stops the walk and is returned. */
int bus_checkpoint(struct bus_set *s, size_t max_record,
                   int (*emit)(void *ctx, uint8_t type, const uint8_t *p,
                               size_t n),
                   void *ctx);

#endif
