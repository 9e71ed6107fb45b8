/* cmd_store.h - what the event-store module offers other modules (the bus).
 *
 * cmd_store.c owns the one open store of the server, its sync policy
 * (--fsync always|everysec|no) and the EV.PUB/GET/RANGE/REVRANGE/TYPES/INFO
 * commands. Other modules read events through these calls, on the loop thread.
 * It is not the storage engine (store.h) and does not parse anything. */
#ifndef TINCAN_CMD_STORE_H
#define TINCAN_CMD_STORE_H

#include <stddef.h>
#include <stdint.h>

struct client;
struct store;

/* The store the server opened (NULL before the module started / after stop). */
struct store *store_default(void);

/* Highest position a reader may see now: stored, and under --fsync always also
 * fdatasync'ed. 0 when empty. O(1). */
uint64_t store_visible(void);

/* Calls fn(ctx, visible) on the loop thread every time store_visible() grows.
 * Up to 4 subscribers, one per ctx: a second call with the same ctx replaces
 * its fn, fn NULL removes it. */
void store_on_visible(void (*fn)(void *ctx, uint64_t visible), void *ctx);

/* Holds c's reply until the event at pos is as durable as an EV.PUB reply
 * would wait for (fsync always: fdatasync'ed; else written). A read that
 * returns events not yet visible calls it, so nobody acts on an event a crash
 * could take back, and yet a client reads its own writes at once. */
void store_hold(struct client *c, uint64_t pos);

/* Writes the EV.GET reply of the event at pos as one reply_map of (its 9
 * fields + extra) pairs; the caller then writes `extra` key/value pairs.
 * Returns 0, or a negative ERR_* code with nothing written. */
int store_reply_event(struct client *c, uint64_t pos, size_t extra);

#endif
