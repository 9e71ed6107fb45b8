/* The fdatasync latency histogram: bucket edges (an upper bound is in its
 * bucket), the overflow bucket, the sum, and observations from several
 * threads at once all counted. */
#include "test.h"

#include <pthread.h>

#include "fsync_hist.h"

/* counts[i] and sum_us of after minus before */
static void delta(const struct fsync_hist *before,
                  const struct fsync_hist *after, struct fsync_hist *d)
{
    for (int i = 0; i <= FSYNC_HIST_BUCKETS; i++)
        d->counts[i] = after->counts[i] - before->counts[i];
    d->sum_us = after->sum_us - before->sum_us;
}

TEST(edges_overflow_and_sum)
{
    struct fsync_hist a, b, d;
    fsync_hist_snapshot(&a);
    fsync_hist_observe(0);       /* bucket 0 (<= 100 us) */
    fsync_hist_observe(100);     /* bucket 0: the bound is inclusive */
    fsync_hist_observe(101);     /* bucket 1 (<= 250 us) */
    fsync_hist_observe(2500000); /* the last bound */
    fsync_hist_observe(2500001); /* above every bound */
    fsync_hist_snapshot(&b);
    delta(&a, &b, &d);
    ASSERT_EQ_U64(2, d.counts[0]);
    ASSERT_EQ_U64(1, d.counts[1]);
    ASSERT_EQ_U64(1, d.counts[FSYNC_HIST_BUCKETS - 1]);
    ASSERT_EQ_U64(1, d.counts[FSYNC_HIST_BUCKETS]);
    ASSERT_EQ_U64(0 + 100 + 101 + 2500000 + 2500001, d.sum_us);
    for (int i = 1; i < FSYNC_HIST_BUCKETS; i++)
        ASSERT_TRUE(fsync_hist_bounds_us[i] > fsync_hist_bounds_us[i - 1]);
}

static void *observe_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        fsync_hist_observe((uint64_t)(i % 3000));
    return NULL;
}

TEST(threads_lose_nothing)
{
    struct fsync_hist a, b, d;
    fsync_hist_snapshot(&a);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(0, pthread_create(&t[i], NULL, observe_many, NULL));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    fsync_hist_snapshot(&b);
    delta(&a, &b, &d);
    uint64_t n = 0;
    for (int i = 0; i <= FSYNC_HIST_BUCKETS; i++)
        n += d.counts[i];
    ASSERT_EQ_U64(400000, n);
    uint64_t sum = 0;
    for (int i = 0; i < 100000; i++)
        sum += (uint64_t)(i % 3000);
    ASSERT_EQ_U64(4 * sum, d.sum_us);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(edges_overflow_and_sum),
                                     T(threads_lose_nothing),
                                     {0}});
}
