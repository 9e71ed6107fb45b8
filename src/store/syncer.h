/* syncer.h - group commit: one thread that fdatasyncs on behalf of the loop.
 *
 * A durable writer (the event store, a journal) writes bytes on the loop
 * thread, numbers each write with its own increasing seq, and calls
 * syncer_request(fd, seq). The sync thread runs fdatasync (through fsx) on
 * every fd requested since its last round, then calls done(ctx, seq, 0) back on
 * the loop thread with the highest seq that round covered. While one
 * fdatasync runs, new requests accumulate and the next round covers them all,
 * so many clients share one fsync. The loop never blocks on a sync.
 *
 * A failed fdatasync is never retried (after a failure the kernel may have
 * dropped the dirty pages and a retry could falsely succeed): done(ctx, seq,
 * -errno) is called once, the syncer stays failed, and every later request is
 * answered with the same error. The writer should turn read-only.
 *
 * This module does not write, own or close fds, and does not know what the
 * seqs mean. The fd given must stay open until done() covered its seq (or
 * until syncer_wait_idle() returned). */
#ifndef TINCAN_SYNCER_H
#define TINCAN_SYNCER_H

#include <stdint.h>

#include <uv.h>

struct syncer;

/* Called on the loop thread: every seq <= seq is durable (err 0), or the sync
 * failed (err = -errno, e.g. -EIO) and nothing after the last success is. */
typedef void syncer_done_fn(void *ctx, uint64_t seq, int err);

/* Starts the thread. done may be NULL (fire-and-forget syncs). Never NULL;
 * aborts if the thread cannot start. */
struct syncer *syncer_new(uv_loop_t *loop, syncer_done_fn *done, void *ctx);
/* Loop thread: the bytes of write #seq are in fd; make them durable. seqs
 * must not decrease. Several fds may be pending at once. Never blocks. */
void syncer_request(struct syncer *s, int fd, uint64_t seq);
/* Blocks until every request made so far has been synced (or failed); returns
 * 0 or the failure's -errno. done() for them still comes later via the loop.
 * Use before closing an fd that had requests (e.g. when sealing a segment). */
int syncer_wait_idle(struct syncer *s);
/* Highest seq synced so far (any thread). */
uint64_t syncer_synced(struct syncer *s);
/* Duration of the last completed fdatasync round, in us. */
uint64_t syncer_last_latency_us(struct syncer *s);
uint64_t syncer_rounds(struct syncer *s); /* completed rounds */
/* Finishes the pending round, joins the thread and closes the uv handle
 * (memory is released by the loop's close callback: the loop must run or be
 * walked/closed afterwards, as net_close does). done() is not called again. */
void syncer_free(struct syncer *s);

#endif
