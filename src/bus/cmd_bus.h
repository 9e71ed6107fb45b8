/* cmd_bus.h - what the bus module offers other modules (the type manifest,
 * the entity schedules).
 *
 * cmd_bus.c owns the server's one set of subscriptions. Other modules may
 * look at them through this, on the loop thread; they change them only
 * through bus_replay_recent.
 * It is not the subscription logic (bus.h) and parses nothing. */
#ifndef TINCAN_CMD_BUS_H
#define TINCAN_CMD_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

/* Calls fn once per subscription, in name order, with its settings (info:
 * name, patterns, durability, counts) and its consumers (ncons of them, in
 * the order they came). Everything passed is valid during the call only.
 * Nothing when the bus is not started. Allocates a small consumer array. */
void bus_foreach_sub(void (*fn)(void *ctx, const struct bus_sub_info *info,
                                const struct bus_consumer_info *cons, size_t ncons),
                     void *ctx);

/* How far a subscription is behind the store (docs/operations.md, "lag"):
 * events = visible - cursor, the store positions (of any type) its live
 * stream has not scanned yet; seconds = wall-clock now minus the time of the
 * first of them (position cursor + 1), 0 when events is 0. O(1) plus at most
 * one event read (remembered, so subscriptions at the same cursor share it). */
struct bus_lag {
    uint64_t events; /* store positions */
    double seconds;  /* s */
};
void bus_sub_lag(const struct bus_sub_info *info, uint64_t now_wall_ms,
                 struct bus_lag *out);

/* 1 if a subscription of that name exists. */
int bus_sub_exists(const char *name, size_t len);
/* What EV.REPLAY name pattern FROM from_ms does, for a scheduled replay:
 * events matching pattern with time >= from_ms, up to what is visible now,
 * are delivered again into the subscription (durably, journaled like the
 * command; no reply waits for it). 0, ERR_NOSUB, or the journal's error
 * with why in err. */
int bus_replay_recent(const char *name, size_t len, const char *pat, size_t plen,
                      uint64_t from_ms, char *err, size_t errlen);

#endif
