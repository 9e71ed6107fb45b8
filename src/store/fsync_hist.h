/* fsync_hist.h - the latency histogram of the durable writers' fdatasyncs.
 *
 * One process-wide histogram: the syncer thread (every fdatasync of a group
 * commit round, per fd) and a journal syncing inline on the loop thread both
 * add to it, so it is kept in relaxed atomics (no lock, one atomic add per
 * observation). /metrics reads it as tincan_store_fsync_duration_seconds.
 * The buckets are fixed (FSYNC_HIST_BOUNDS_US). A snapshot taken while
 * observations land may be off by the ones in flight; each bucket and the
 * sum are exact on their own. It is not a timer: callers measure. */
#ifndef TINCAN_FSYNC_HIST_H
#define TINCAN_FSYNC_HIST_H

#include <stdint.h>

#define FSYNC_HIST_BUCKETS 14 /* upper bounds; one more bucket above them */

/* Upper bounds of the buckets, in us, ascending. */
extern const uint64_t fsync_hist_bounds_us[FSYNC_HIST_BUCKETS];

struct fsync_hist {
    uint64_t counts[FSYNC_HIST_BUCKETS + 1]; /* per bucket, not cumulative */
    uint64_t sum_us;                         /* us, all observations */
};

/* Counts one fdatasync that took us microseconds. Any thread; never blocks. */
void fsync_hist_observe(uint64_t us);
/* Copies the histogram into *out. Any thread. */
void fsync_hist_snapshot(struct fsync_hist *out);

#endif
