/* fsync_hist.c - the fdatasync latency histogram (fsync_hist.h). */
#include "fsync_hist.h"

#include <stdatomic.h>

const uint64_t fsync_hist_bounds_us[FSYNC_HIST_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 500000, 1000000, 2500000,
};

static _Atomic uint64_t counts[FSYNC_HIST_BUCKETS + 1];
static _Atomic uint64_t sum_us;

void fsync_hist_observe(uint64_t us)
{
    int i = 0;
    while (i < FSYNC_HIST_BUCKETS && us > fsync_hist_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sum_us, us, memory_order_relaxed);
}

void fsync_hist_snapshot(struct fsync_hist *out)
{
    for (int i = 0; i <= FSYNC_HIST_BUCKETS; i++)
        out->counts[i] = atomic_load_explicit(&counts[i], memory_order_relaxed);
    out->sum_us = atomic_load_explicit(&sum_us, memory_order_relaxed);
}
