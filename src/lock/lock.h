/* lock.h - named lease locks with fencing tokens: the pure state machine.
 *
 * A lock table maps names to leases. A lease has an owner (opaque bytes), a
 * fencing token and an expiry on the monotonic clock; a held lock also keeps
 * a FIFO of waiters. Tokens come from one table-wide counter that only grows,
 * so they strictly increase per name as well (a re-acquire by the holder keeps
 * its token). Every operation takes `now` (ms, monotonic) and first settles
 * the lock it touches: a lease past its expiry is treated as gone even if the
 * owner's timer has not fired yet, so a late timer never lets two holders
 * coexist.
 *
 * Invariant: a name has an entry iff it is held; waiters only exist on held
 * locks (a freed lock goes straight to its first waiter).
 *
 * Tokens are handed out from a reserved range [token_next, token_limit): when
 * the range runs out the table widens it by LOCK_TOKEN_BLOCK and tells the
 * owner through hooks.reserve() *before* the grant that uses it, so the owner
 * can make the new limit durable first. After a crash the owner restarts from
 * the persisted limit, so no token is ever handed out twice.
 *
 * Also here: the lock's journal records (encode/decode, replay, checkpoint),
 * which are plain byte arrays. This module does no I/O, reads no clock, knows
 * nothing of clients, RESP or files. */
#ifndef TINCAN_LOCK_H
#define TINCAN_LOCK_H

#include <stddef.h>
#include <stdint.h>

#define LOCK_TOKEN_BLOCK 1000 /* tokens reserved per durable reserve record */

struct lock;
struct lock_waiter;

struct lock_hooks {
    void *ctx; /* passed to every hook */
    /* Tokens below limit may now be handed out. The owner must make the new
     * limit durable before any reply carrying a token >= the old limit
     * leaves. Called just before the grant that needs it. May be NULL. */
    void (*reserve)(void *ctx, uint64_t limit);
    /* l was granted (new token) or extended (same token, new expiry).
     * waiter_ctx is the ctx given to lock_wait() when a waiter got it (the
     * waiter is freed when the hook returns), else NULL. May be NULL. */
    void (*grant)(void *ctx, const struct lock *l, void *waiter_ctx);
    /* l's lease ended: released (expired == 0) or ran out (expired == 1).
     * Called before any waiter is granted. May be NULL. */
    void (*release)(void *ctx, const struct lock *l, int expired);
};

/* A read-only view of one held lock (pointers valid until the next call that
 * changes the table). */
struct lock_view {
    const char *name;  /* not NUL-terminated */
    size_t name_len;   /* bytes */
    const char *owner; /* not NUL-terminated */
    size_t owner_len;  /* bytes */
    uint64_t token;    /* fencing token of the current grant */
    uint64_t ttl_ms;   /* ms, the lease length last granted or renewed */
    uint64_t expires;  /* ms, monotonic: the lease ends at this instant */
    size_t waiters;    /* clients queued behind the holder */
};

struct lock_table;

/* A new, empty table (free with lock_table_free). seed varies the hash. */
struct lock_table *lock_table_new(const struct lock_hooks *hooks,
                                  uint64_t seed);
/* Frees every lock and waiter (no hooks run). */
void lock_table_free(struct lock_table *t);

/* ---- operations (all pure; `now` is ms on the monotonic clock) ---- */

/* Grants name to owner for ttl_ms if it is free (new token), or extends it if
 * owner already holds it (same token). Returns 0 with *token set, or ERR_BUSY
 * if another owner holds it (*token untouched). */
int lock_acquire(struct lock_table *t, const char *name, size_t name_len,
                 const char *owner, size_t owner_len, uint64_t ttl_ms,
                 uint64_t now, uint64_t *token);

/* Queues owner behind the holder of name (call after lock_acquire returned
 * ERR_BUSY at the same `now`). Returns the waiter handle, owned by the table
 * until it is granted (hooks.grant with ctx) or cancelled. */
struct lock_waiter *lock_wait(struct lock_table *t, const char *name,
                              size_t name_len, const char *owner,
                              size_t owner_len, uint64_t ttl_ms, void *ctx);
/* Removes a waiter that was not granted (timeout, disconnect); frees it. */
void lock_wait_cancel(struct lock_table *t, struct lock_waiter *w);

enum lock_renew_result {
    LOCK_RENEWED = 0,
    LOCK_LOST_FREE = 1,      /* nobody holds it: expired or released */
    LOCK_LOST_REGRANTED = 2, /* held now under a newer token */
    LOCK_LOST_TOKEN = 3,     /* token is not (and never was) the current one */
    LOCK_LOST_OWNER = 4,     /* token is current but the owner differs */
};
/* Heartbeat: extends the lease to now + ttl_ms if owner holds name under
 * token. Returns an enum lock_renew_result; *current gets the current token
 * (0 if free). */
int lock_renew(struct lock_table *t, const char *name, size_t name_len,
               const char *owner, size_t owner_len, uint64_t token,
               uint64_t ttl_ms, uint64_t now, uint64_t *current);

/* Releases name if owner holds it under token; the first waiter (if any) is
 * granted. Returns 1 if released, 0 if not held by that owner/token. */
int lock_release(struct lock_table *t, const char *name, size_t name_len,
                 const char *owner, size_t owner_len, uint64_t token,
                 uint64_t now);

/* 1 if token is the current, unexpired grant of name, else 0. */
int lock_check(struct lock_table *t, const char *name, size_t name_len,
               uint64_t token, uint64_t now);

/* Fills *v for name and returns 1 if it is held, else returns 0. */
int lock_info(struct lock_table *t, const char *name, size_t name_len,
              uint64_t now, struct lock_view *v);

/* Expires every lease that ended at or before now (in deadline order),
 * granting each to its first waiter. Returns how many leases expired. */
size_t lock_expire(struct lock_table *t, uint64_t now);
/* The earliest expiry among held locks (ms, monotonic) in *deadline; returns
 * 1, or 0 if nothing is held. */
int lock_next_deadline(const struct lock_table *t, uint64_t *deadline);

/* Calls fn for every held lock whose name matches the glob pattern (NULL =
 * all), in no particular order; expired leases are settled first. Returns
 * the number of matches. Do not change the table from fn. */
size_t lock_list(struct lock_table *t, const char *pattern, size_t plen,
                 uint64_t now, void (*fn)(const struct lock_view *, void *),
                 void *ctx);

size_t lock_count(const struct lock_table *t);         /* held locks */
size_t lock_waiters(const struct lock_table *t);       /* waiters, all locks */
uint64_t lock_token_next(const struct lock_table *t);  /* next token to hand */
uint64_t lock_token_limit(const struct lock_table *t); /* reserved, exclusive */

/* The view of a lock passed to a hook. */
void lock_view_of(const struct lock *l, struct lock_view *v);

/* ---- journal records ----
 *
 * Record types (the journal's type byte) and their little-endian payloads:
 *
 *   LOCK_REC_RESERVE  u64 limit                  tokens < limit may be used
 *   LOCK_REC_GRANT    u64 token, u64 ttl_ms, u64 deadline (ms, wall clock),
 *                     u16 name_len, name, u16 owner_len, owner
 *                                                name is held until deadline
 *   LOCK_REC_RELEASE  u64 token, u16 name_len, name
 *                                                the grant `token` ended
 *
 * A GRANT replaces whatever was known about the name. Waiters are never
 * recorded: they are connections, gone after a restart. */
enum lock_rec_type {
    LOCK_REC_RESERVE = 1,
    LOCK_REC_GRANT = 2,
    LOCK_REC_RELEASE = 3,
};

#define LOCK_REC_MAX (8 * 3 + 2 + 65535 + 2 + 65535) /* bytes, upper bound */

/* Each writes a record payload into buf (at least LOCK_REC_MAX bytes, or the
 * exact size returned by a NULL-buf call) and returns its length. */
size_t lock_rec_reserve(uint8_t *buf, uint64_t limit);
/* wall_now/now give the wall-clock deadline of the lease. */
size_t lock_rec_grant(uint8_t *buf, const struct lock_view *v, uint64_t now,
                      uint64_t wall_now);
size_t lock_rec_release(uint8_t *buf, const struct lock_view *v);

/* Applies one record during recovery (no hooks run). A grant's remaining
 * lease is min(ttl_ms, deadline - wall_now) clamped at 0 (conservative when
 * the wall clock went back; a lease that already ran out leaves the name
 * free). Returns 0 or ERR_CORRUPT with detail in err. */
int lock_replay(struct lock_table *t, uint8_t type, const uint8_t *p, size_t n,
                uint64_t now, uint64_t wall_now, char *err, size_t errlen);
/* After replay: skips the rest of the last reserved range (any of it may
 * have been handed out before the crash), so the next grant reserves anew. */
void lock_replay_done(struct lock_table *t);

/* Writes the table's whole live state as records through emit (a reserve of
 * the current limit, then one grant per held lock). emit returns 0 or a
 * negative code, which stops the walk and is returned. */
int lock_checkpoint(struct lock_table *t, uint64_t now, uint64_t wall_now,
                    int (*emit)(void *ctx, uint8_t type, const uint8_t *p,
                                size_t n),
                    void *ctx);

#endif
