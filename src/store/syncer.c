#include "syncer.h"

#include "clock.h"
#include "common.h"
#include "fsx.h"
#include "fsync_hist.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct syncer {
    uv_async_t async;       /* wakes the loop when a round finished */
    uv_loop_t *loop;
    syncer_done_fn *done;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* thread waits for requests / stop */
    pthread_cond_t idle;    /* wait_idle waits for rounds */
    /* guarded by mu */
    int *fds;               /* fds requested since the last round began */
    size_t nfds, capfds;
    uint64_t requested;     /* highest seq requested */
    uint64_t synced;        /* highest seq synced */
    uint64_t reported;      /* highest seq/err handed to done() (loop side) */
    int err;                /* first failure, -errno; sticky */
    int err_reported;       /* done() saw the failure */
    int stop;
    uint64_t latency_us;    /* us, last round */
    uint64_t rounds;
    int closing;            /* loop side: syncer_free called */
};

static void *run(void *arg)
{
    struct syncer *s = arg;
    int *batch = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && (s->requested <= s->synced || s->err))
            pthread_cond_wait(&s->wake, &s->mu);
        if (s->requested <= s->synced || s->err)
            break; /* stopping with nothing to do */
        uint64_t target = s->requested;
        size_t n = s->nfds;
        if (n > cap) {
            cap = n;
            batch = xrealloc(batch, cap * sizeof(*batch));
        }
        for (size_t i = 0; i < n; i++)
            batch[i] = s->fds[i];
        s->nfds = 0;
        pthread_mutex_unlock(&s->mu);

        uint64_t t0 = clock_mono_us(), t = t0;
        int err = 0;
        for (size_t i = 0; i < n && !err; i++) {
            err = fsx_fdatasync(batch[i]);
            uint64_t t1 = clock_mono_us();
            fsync_hist_observe(t1 - t);
            t = t1;
        }
        uint64_t dt = t - t0;

        pthread_mutex_lock(&s->mu);
        s->latency_us = dt;
        s->rounds++;
        if (err)
            s->err = err;
        else
            s->synced = target;
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        pthread_mutex_lock(&s->mu);
    }
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
    free(batch);
    return NULL;
}

static void on_async(uv_async_t *h)
{
    struct syncer *s = h->data;
    pthread_mutex_lock(&s->mu);
    uint64_t synced = s->synced;
    int err = s->err;
    int call_err = err && !s->err_reported;
    if (call_err)
        s->err_reported = 1;
    int call_ok = synced > s->reported;
    if (call_ok)
        s->reported = synced;
    uint64_t requested = s->requested;
    pthread_mutex_unlock(&s->mu);
    if (s->closing || !s->done)
        return;
    if (call_ok)
        s->done(s->ctx, synced, 0);
    if (call_err)
        s->done(s->ctx, requested, err);
}

struct syncer *syncer_new(uv_loop_t *loop, syncer_done_fn *done, void *ctx)
{
    struct syncer *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->done = done;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->idle, NULL);
    if (uv_async_init(loop, &s->async, on_async) != 0)
        abort();
    s->async.data = s;
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        fprintf(stderr, "tincan: cannot start the sync thread\n");
        abort();
    }
    return s;
}

void syncer_request(struct syncer *s, int fd, uint64_t seq)
{
    pthread_mutex_lock(&s->mu);
    if (s->err) {
        /* failed for good: answer through the loop, never sync again */
        if (seq > s->requested)
            s->requested = seq;
        s->err_reported = 0;
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        return;
    }
    size_t i;
    for (i = 0; i < s->nfds && s->fds[i] != fd; i++)
        ;
    if (i == s->nfds) {
        if (s->nfds == s->capfds) {
            s->capfds = s->capfds ? s->capfds * 2 : 4;
            s->fds = xrealloc(s->fds, s->capfds * sizeof(*s->fds));
        }
        s->fds[s->nfds++] = fd;
    }
    if (seq > s->requested)
        s->requested = seq;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

int syncer_wait_idle(struct syncer *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t want = s->requested;
    while (s->synced < want && !s->err && !s->stop)
        pthread_cond_wait(&s->idle, &s->mu);
    int err = s->err;
    pthread_mutex_unlock(&s->mu);
    return err;
}

uint64_t syncer_synced(struct syncer *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->synced;
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t syncer_last_latency_us(struct syncer *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->latency_us;
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t syncer_rounds(struct syncer *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->rounds;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static void on_closed(uv_handle_t *h)
{
    struct syncer *s = h->data;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->idle);
    free(s->fds);
    free(s);
}

void syncer_free(struct syncer *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->closing = 1;
    uv_close((uv_handle_t *)&s->async, on_closed);
}
