/* cmd_ring.h - what the ring module offers other modules (the overview).
 *
 * cmd_ring.c owns the server's rings and the RING.* commands. Other modules
 * may look at the members through this, on the loop thread; they never change
 * them. It is not the ring logic (ring.h) and parses nothing. */
#ifndef TINCAN_CMD_RING_H
#define TINCAN_CMD_RING_H

#include <stdint.h>

#include "ring.h"

/* Calls fn for every member of every ring (rings in the set's order, members
 * sorted by node), with now (ms, monotonic) to compare expires_ms with. A
 * member is up when it is healthy and its TTL has not run out
 * (ring_member_is_up). Pointers are valid during the call only. */
void ring_foreach_member(void (*fn)(void *ctx, const struct ring *r,
                                    const struct ring_member *m, uint64_t now),
                         void *ctx);
/* 1 if m is healthy and not past its TTL at now (ms, monotonic). */
int ring_member_is_up(const struct ring_member *m, uint64_t now);

#endif
