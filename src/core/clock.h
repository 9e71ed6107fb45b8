/* clock.h - the one place time is read.
 *
 * Monotonic time for leases, TTLs and timeouts; wall time only for event
 * timestamps. Tests replace both with clock_set_fake(). This module does not
 * schedule anything: timers belong to the event loop (net). */
#ifndef TINCAN_CLOCK_H
#define TINCAN_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ms(void); /* ms since an arbitrary start, never goes back */
uint64_t clock_mono_us(void); /* us, same clock */
uint64_t clock_wall_ms(void); /* ms since the Unix epoch */

/* The wall-clock time of monotonic instant mono, given one reading of both
 * clocks (now_mono, now_wall) taken together: for showing deadlines. */
uint64_t clock_mono_to_wall(uint64_t mono, uint64_t now_mono,
                            uint64_t now_wall);

/* Tests: make both clocks return the given values (pointers are read on every
 * call, so the test advances time by writing through them). NULL restores the
 * real clocks. */
void clock_set_fake(const uint64_t *mono_ms, const uint64_t *wall_ms);

#endif
