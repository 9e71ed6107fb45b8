/* cmd_queue.h - what the queue module offers other modules (the overview).
 *
 * cmd_queue.c owns the server's one queue set and the Q.* commands. Other
 * modules may look at the queues through this, on the loop thread; they never
 * change them. It is not the queue logic (queue.h) and parses nothing. */
#ifndef TINCAN_CMD_QUEUE_H
#define TINCAN_CMD_QUEUE_H

#include <stddef.h>

#include "queue.h"

/* Calls fn with the counters of every queue that has jobs, in name order
 * (queue_foreach_info on the server's set, settled at the current time).
 * Nothing when the module is not started. */
void queue_foreach_stats(void (*fn)(void *ctx, const char *name, size_t len,
                                    const struct queue_info *info),
                         void *ctx);

#endif
