/* cmd_lock.h - what the lock module offers other modules (the overview).
 *
 * cmd_lock.c owns the server's one lock table and the LOCK.* commands. Other
 * modules may look at the held locks through this, on the loop thread; they
 * never change them. It is not the lock logic (lock.h) and parses nothing. */
#ifndef TINCAN_CMD_LOCK_H
#define TINCAN_CMD_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lock.h"

/* Calls fn for every held lock, in no particular order, after settling the
 * leases that ran out (lock_list at the current time); now is the monotonic
 * ms the views' expires compare with. The view is valid during the call.
 * Nothing when the module is not started. */
void lock_foreach_held(void (*fn)(const struct lock_view *v, void *ctx), void *ctx,
                       uint64_t *now);

#endif
