/* cmd_timer.h - the loop timers of the command modules.
 *
 * Locks, queues and subscriptions each keep one timer on the server's loop
 * that fires at the next deadline of their subsystem (a lease end, a delay, an
 * ack wait); the bus keeps one more to run work soon after a close. These are
 * their life cycle: made unreferenced (a timer never keeps the loop alive),
 * armed at a deadline on the monotonic clock, closed and freed on stop.
 *
 * Not a timer wheel and no list of deadlines: the subsystem keeps those (in
 * heap.h heaps) and says which comes next. */
#ifndef TINCAN_CMD_TIMER_H
#define TINCAN_CMD_TIMER_H

#include <stdint.h>
#include <uv.h>

/* A stopped timer on net_loop(), unreferenced. Owned by the caller: free
 * with cmd_timer_free. Aborts on OOM. */
uv_timer_t *cmd_timer_new(void);
/* Stops and closes *t (freed by the loop when the close completes) and sets
 * *t = NULL. Nothing if *t is NULL. */
void cmd_timer_free(uv_timer_t **t);
/* Starts t to call cb once at *deadline (ms, monotonic; at once if that has
 * passed), or stops it if deadline is NULL: nothing is due. */
void cmd_timer_arm(uv_timer_t *t, uv_timer_cb cb, const uint64_t *deadline);

#endif
