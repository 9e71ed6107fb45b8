/* cmd_queue.c - Q.* commands, CHUNK.ENQUEUE, and the queue module's I/O: the
 * state journal, the deadline timer and blocked poppers.
 *
 * The queue logic is queue.c (pure). This file parses arguments, calls it,
 * replies, and owns what is around it:
 *   - every change the state machine reports (push, lease, nack, death, kick,
 *     ack, delete) is a record in the journal <dir>/queues.*.{ckpt,log};
 *     the reply of a push, ack, nack, kick, delete or CHUNK.ENQUEUE is held
 *     until the fdatasync covering its records (group commit). Pops and
 *     expiries are written at once (they survive kill -9) and synced with the
 *     next group, but no reply waits for them: losing one to a power cut only
 *     loses an attempt count;
 *   - one libuv timer is armed at the earliest delay end or lease end, so
 *     delayed jobs become ready and expired leases return by themselves;
 *   - Q.POP ... BLOCK parks the client (client_block) in one FIFO list; after
 *     every change that made jobs ready, parked clients are served in the
 *     order they came;
 *   - CHUNK.ENQUEUE writes its jobs as one batch record: all or none.
 * Recovery: the journal is replayed (leases that were running end as failed
 * attempts), then a checkpoint compacts it to the live jobs. */
#include "cmd_queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk.h"
#include "clock.h"
#include "cmd_journal.h"
#include "cmd_timer.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "net.h"
#include "sbuf.h"

#define QUEUE_JOURNAL_NAME  "queues"
#define QUEUE_LEASE_DEFAULT 30000         /* ms */
#define QUEUE_LEASE_MAX     86400000      /* ms, one day */
#define QUEUE_DELAY_MAX     31536000000LL /* ms, 365 days */
#define QUEUE_BLOCK_MAX     86400000      /* ms */
#define QUEUE_COUNT_MAX     1000          /* jobs of one POP/PEEK/DEAD */
#define QUEUE_LIST_DEFAULT  10            /* PEEK/DEAD without COUNT */
#define QUEUE_ATTEMPTS_MAX  1000000
#define QUEUE_PRIORITY_MIN  (-2147483647LL - 1)
#define QUEUE_PRIORITY_MAX  2147483647LL

/* A client parked in Q.POP ... BLOCK. */
struct popper {
    struct client *c;
    char **names; /* owned copies of the queue names */
    size_t *lens; /* bytes of each name */
    size_t nnames;
    size_t count;               /* jobs wanted */
    uint64_t lease_ms;          /* ms */
    struct popper *prev, *next; /* FIFO: oldest first */
};

static struct queue_set *set;
static struct cmd_journal jm = {.what = "queue"}; /* journal + reply glue */
static uv_timer_t *timer; /* fires at the next delay or lease end */
static struct popper *pop_head, *pop_tail;
static size_t npoppers;
static uint64_t served_events;  /* queue_ready_events() at the last serve */
static struct sbuf *batch;      /* records of a CHUNK.ENQUEUE, or NULL */
static uint64_t replay_now;     /* ms, monotonic, during recovery */
static uint64_t replay_wall;    /* ms, wall clock, during recovery */
static int64_t cfg_max_payload; /* bytes (queue-max-payload) */

static struct {
    uint64_t pushes; /* new jobs */
    uint64_t pops;   /* jobs delivered */
    uint64_t acks;
    uint64_t nacks;
    uint64_t kicks;   /* dead jobs re-driven */
    uint64_t blocked; /* clients that parked */
    uint64_t block_timeouts;
} stats;

/* ---- helpers ---- */

static int walk(void *ctx, struct journal_ckpt *w)
{
    (void)ctx;
    return queue_checkpoint(set, clock_mono_ms(), clock_wall_ms(),
                            cmd_journal_emit, w);
}

/* ---- the hook: every change becomes a record ---- */

static void on_change(void *ctx, const struct queue_job *j,
                      enum queue_change what)
{
    (void)ctx;
    size_t n = queue_rec_size(j, what);
    uint8_t stackbuf[1024];
    uint8_t *b = n <= sizeof(stackbuf) ? stackbuf : xmalloc(n);
    uint8_t type =
        queue_rec_encode(b, j, what, clock_mono_ms(), clock_wall_ms());
    if (batch) {
        uint8_t hdr[QUEUE_BATCH_HDR];
        queue_rec_batch_header(hdr, type, n);
        sbuf_add(batch, hdr, sizeof(hdr));
        sbuf_add(batch, b, n);
    } else {
        cmd_journal_append(&jm, type, b, n);
    }
    if (b != stackbuf)
        free(b);
}

static const struct queue_hooks hooks = {NULL, on_change};

/* ---- replies ---- */

/* A popped job: id, queue, payload, attempt, lease_deadline (ms, wall). */
static void reply_popped(struct client *c, const struct queue_job *j,
                         uint64_t now, uint64_t wall)
{
    size_t qlen;
    const char *qn = queue_name(j->q, &qlen);
    reply_map(c, 5);
    reply_cstr(c, "id");
    reply_bulk(c, j->id, j->id_len);
    reply_cstr(c, "queue");
    reply_bulk(c, qn, qlen);
    reply_cstr(c, "payload");
    reply_bulk(c, j->payload, j->payload_len);
    reply_cstr(c, "attempt");
    reply_uint(c, j->attempts);
    reply_cstr(c, "lease_deadline");
    reply_uint(c, clock_mono_to_wall(j->lease_deadline, now, wall));
}

/* A job seen by PEEK/DEAD: every field but the lease. */
static void reply_full(struct client *c, const struct queue_job *j)
{
    size_t qlen;
    const char *qn = queue_name(j->q, &qlen);
    reply_map(c, 8);
    reply_cstr(c, "id");
    reply_bulk(c, j->id, j->id_len);
    reply_cstr(c, "queue");
    reply_bulk(c, qn, qlen);
    reply_cstr(c, "payload");
    reply_bulk(c, j->payload, j->payload_len);
    reply_cstr(c, "state");
    reply_cstr(c, queue_state_name(j->state));
    reply_cstr(c, "priority");
    reply_int(c, j->priority);
    reply_cstr(c, "attempt");
    reply_uint(c, j->attempts);
    reply_cstr(c, "max_attempts");
    reply_uint(c, j->max_attempts);
    reply_cstr(c, "reason");
    if (j->reason)
        reply_bulk(c, j->reason, j->reason_len);
    else
        reply_null(c);
}

static void reply_popped_list(struct client *c, struct queue_job **jobs,
                              size_t n, uint64_t now)
{
    uint64_t wall = clock_wall_ms();
    reply_array(c, n);
    for (size_t i = 0; i < n; i++)
        reply_popped(c, jobs[i], now, wall);
}

/* ---- parked poppers ---- */

static void popper_unlink(struct popper *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        pop_head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        pop_tail = p->prev;
    npoppers--;
    for (size_t i = 0; i < p->nnames; i++)
        free(p->names[i]);
    free(p->names);
    free(p->lens);
    free(p);
}

/* Pops for one parked client from its queue list; 1 if it was answered. */
static int serve_one(struct popper *p, uint64_t now)
{
    struct queue_job **jobs = xmalloc(p->count * sizeof(*jobs));
    size_t n = queue_pop(set, (const char *const *)p->names, p->lens, p->nnames,
                         p->count, p->lease_ms, now, jobs);
    if (n) {
        struct client *c = p->c;
        stats.pops += n;
        reply_popped_list(c, jobs, n, now);
        popper_unlink(p);
        client_unblock(c);
    }
    free(jobs);
    return n != 0;
}

/* Serves parked clients, oldest first, while jobs became ready since the
 * last time. */
static void serve(void)
{
    if (!pop_head || queue_ready_events(set) == served_events)
        return;
    uint64_t now = clock_mono_ms();
    queue_tick(set, now);
    struct popper *next;
    for (struct popper *p = pop_head; p; p = next) {
        next = p->next;
        serve_one(p, now);
    }
    served_events = queue_ready_events(set);
}

static void on_block_timeout(struct client *c, void *ctx)
{
    stats.block_timeouts++;
    popper_unlink(ctx);
    reply_array(c, 0);
}

static void on_block_disconnect(struct client *c, void *ctx)
{
    (void)c;
    popper_unlink(ctx);
}

/* ---- deadline timer ---- */

static void arm(void);

static void on_timer(uv_timer_t *t)
{
    (void)t;
    jm.hook_err = 0;
    queue_tick(set, clock_mono_ms());
    jm.hook_err = 0;
    serve();
    journal_commit(jm.j, 0);
    arm();
    cmd_journal_maybe_checkpoint(&jm);
}

static void arm(void)
{
    uint64_t deadline;
    if (timer)
        cmd_timer_arm(timer, on_timer,
                      queue_next_deadline(set, &deadline) ? &deadline : NULL);
}

/* The common tail of every command that may have changed the set. */
static void after_change(void)
{
    jm.hook_err = 0;
    serve();
    jm.hook_err = 0;
    arm();
    cmd_journal_maybe_checkpoint(&jm);
}

/* ---- argument parsing ---- */

static int parse_queue(struct client *c, const struct arg *a)
{
    return arg_len(c, a, "queue name", QUEUE_NAME_MAX);
}

static int parse_id(struct client *c, const struct arg *a)
{
    return arg_len(c, a, "job id", QUEUE_ID_MAX);
}

static int payload_fits(struct client *c, size_t len)
{
    if ((int64_t)len <= cfg_max_payload)
        return 0;
    reply_errorf(c,
                 "ERR payload is %zu bytes, over the limit of %" PRId64
                 " (queue-max-payload)",
                 len, cfg_max_payload);
    return -1;
}

static void reply_nojob(struct client *c, const struct arg *id)
{
    char q[160];
    reply_errorf(c, "NOJOB no such job '%s'",
                 arg_printable(q, sizeof(q), id->ptr, id->len));
}

/* ---- commands ---- */

/* Q.PUSH queue payload [PRIORITY p] [DELAY ms] [MAXATTEMPTS n] [ID id] */
static void cmd_q_push(struct client *c, int argc, struct arg *argv)
{
    struct queue_push_args a = {0};
    int64_t v;
    if (parse_queue(c, &argv[1]) < 0 || payload_fits(c, argv[2].len) < 0)
        return;
    a.queue = argv[1].ptr;
    a.queue_len = argv[1].len;
    a.payload = argv[2].ptr;
    a.payload_len = argv[2].len;
    a.max_attempts = QUEUE_MAX_ATTEMPTS_DEFAULT;
    for (int i = 3; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        if (arg_is(o, "priority")) {
            if (arg_range(c, val, "PRIORITY", QUEUE_PRIORITY_MIN,
                            QUEUE_PRIORITY_MAX, "", &v) < 0)
                return;
            a.priority = v;
        } else if (arg_is(o, "delay")) {
            if (arg_range(c, val, "DELAY", 0, QUEUE_DELAY_MAX, "ms", &v) < 0)
                return;
            a.delay_ms = (uint64_t)v;
        } else if (arg_is(o, "maxattempts")) {
            if (arg_range(c, val, "MAXATTEMPTS", 1, QUEUE_ATTEMPTS_MAX, "",
                            &v) < 0)
                return;
            a.max_attempts = (uint32_t)v;
        } else if (arg_is(o, "id")) {
            if (parse_id(c, val) < 0)
                return;
            a.id = val->ptr;
            a.id_len = val->len;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    struct queue_job *j;
    if (queue_push(set, &a, clock_mono_ms(), &j))
        stats.pushes++;
    if (cmd_journal_check(&jm, c) == 0) {
        reply_bulk(c, j->id, j->id_len);
        cmd_journal_hold(
            &jm,
            c); /* also for a repeat: the first push may not be synced yet */
    }
    after_change();
}

/* Q.POP queue [queue ...] [COUNT n] [LEASE ms] [BLOCK ms] */
static void cmd_q_pop(struct client *c, int argc, struct arg *argv)
{
    int64_t count = 1, lease = QUEUE_LEASE_DEFAULT, block = -1;
    static const char *const opts[] = {"count", "lease", "block", NULL};
    int nnames = arg_leading_names(argc, argv, opts);
    for (int i = 1; i <= nnames; i++)
        if (parse_queue(c, &argv[i]) < 0)
            return;
    for (int i = 1 + nnames; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        if (arg_is(o, "count")) {
            if (arg_range(c, val, "COUNT", 1, QUEUE_COUNT_MAX, "", &count) <
                0)
                return;
        } else if (arg_is(o, "lease")) {
            if (arg_range(c, val, "LEASE", 1, QUEUE_LEASE_MAX, "ms", &lease) <
                0)
                return;
        } else if (arg_is(o, "block")) {
            if (arg_range(c, val, "BLOCK", 0, QUEUE_BLOCK_MAX, "ms", &block) <
                0)
                return;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    if (client_in_exec(c))
        block = -1; /* nothing blocks inside EXEC: as if BLOCK timed out now */
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    const char **names = xmalloc((size_t)nnames * sizeof(*names));
    size_t *lens = xmalloc((size_t)nnames * sizeof(*lens));
    for (int i = 0; i < nnames; i++) {
        names[i] = argv[1 + i].ptr;
        lens[i] = argv[1 + i].len;
    }
    struct queue_job **jobs = xmalloc((size_t)count * sizeof(*jobs));
    uint64_t now = clock_mono_ms();
    jm.hook_err = 0;
    size_t n = queue_pop(set, names, lens, (size_t)nnames, (size_t)count,
                         (uint64_t)lease, now, jobs);
    stats.pops += n;
    if (cmd_journal_check(&jm, c) < 0) {
        /* the pops stand in memory; the records will be missing */
    } else if (n || block < 0) {
        reply_popped_list(c, jobs, n, now);
    } else {
        struct popper *p = xcalloc(1, sizeof(*p));
        p->c = c;
        p->nnames = (size_t)nnames;
        p->names = xmalloc((size_t)nnames * sizeof(*p->names));
        p->lens = xmalloc((size_t)nnames * sizeof(*p->lens));
        for (int i = 0; i < nnames; i++) {
            p->names[i] = xmemdup(names[i], lens[i]);
            p->lens[i] = lens[i];
        }
        p->count = (size_t)count;
        p->lease_ms = (uint64_t)lease;
        p->prev = pop_tail;
        if (pop_tail)
            pop_tail->next = p;
        else
            pop_head = p;
        pop_tail = p;
        npoppers++;
        stats.blocked++;
        client_block(c, (uint64_t)block, on_block_timeout, on_block_disconnect,
                     p);
    }
    free(jobs);
    free(lens);
    free(names);
    after_change();
}

/* Q.ACK id [id ...] */
static void cmd_q_ack(struct client *c, int argc, struct arg *argv)
{
    for (int i = 1; i < argc; i++)
        if (parse_id(c, &argv[i]) < 0)
            return;
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    int64_t n = 0;
    for (int i = 1; i < argc; i++)
        if (queue_ack(set, argv[i].ptr, argv[i].len) == 0)
            n++;
    stats.acks += (uint64_t)n;
    if (cmd_journal_check(&jm, c) == 0) {
        reply_int(c, n);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

static void reply_not_leased(struct client *c, const struct arg *id,
                             const struct queue_job *j)
{
    char q[160];
    reply_errorf(c, "ERR job '%s' is not leased (it is %s)",
                 arg_printable(q, sizeof(q), id->ptr, id->len),
                 queue_state_name(j->state));
}

/* With ATTEMPT n: 0 if the job is leased under attempt n, else replies that
 * the worker's lease is over (it expired and the job moved on) and returns
 * -1. Without (attempt 0): 0. */
static int check_attempt(struct client *c, const struct arg *id,
                         int64_t attempt)
{
    if (!attempt)
        return 0;
    struct queue_job *j = queue_find(set, id->ptr, id->len);
    if (!j || (j->state == QUEUE_LEASED && j->attempts == (uint64_t)attempt))
        return 0; /* NOJOB (or success) is reported by the operation */
    char q[160];
    reply_errorf(c,
                 "ERR job '%s' is not leased under attempt %" PRId64
                 " (it is %s, attempt %" PRIu32 ")",
                 arg_printable(q, sizeof(q), id->ptr, id->len), attempt,
                 queue_state_name(j->state), j->attempts);
    return -1;
}

/* Q.NACK id [DELAY ms] [REASON text] [ATTEMPT n] */
static void cmd_q_nack(struct client *c, int argc, struct arg *argv)
{
    int64_t delay = 0, attempt = 0;
    const struct arg *reason = NULL;
    if (parse_id(c, &argv[1]) < 0)
        return;
    for (int i = 2; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        if (arg_is(o, "delay")) {
            if (arg_range(c, val, "DELAY", 0, QUEUE_DELAY_MAX, "ms", &delay) <
                0)
                return;
        } else if (arg_is(o, "reason")) {
            reason = val;
        } else if (arg_is(o, "attempt")) {
            if (arg_range(c, val, "ATTEMPT", 1, UINT32_MAX, "", &attempt) < 0)
                return;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    uint64_t now = clock_mono_ms();
    queue_tick(set, now); /* a lease that ran out is lost, timer or not */
    struct queue_job *j = NULL;
    int rc = 0;
    if (check_attempt(c, &argv[1], attempt) < 0) {
        cmd_journal_hold(
            &jm, c); /* the tick may have journaled changes: keep order */
        goto out;
    }
    rc = queue_nack(set, argv[1].ptr, argv[1].len, (uint64_t)delay,
                    reason ? reason->ptr : NULL, reason ? reason->len : 0, now,
                    &j);
    if (cmd_journal_check(&jm, c) < 0)
        goto out;
    if (rc == ERR_NOJOB) {
        reply_nojob(c, &argv[1]);
    } else if (rc < 0) {
        reply_not_leased(c, &argv[1], j);
    } else {
        stats.nacks++;
        reply_cstr(c, queue_state_name(j->state));
    }
    cmd_journal_hold(&jm, c);
out:
    after_change();
}

/* Q.TOUCH id [LEASE ms] [ATTEMPT n] */
static void cmd_q_touch(struct client *c, int argc, struct arg *argv)
{
    int64_t lease = 0, attempt = 0;
    if (parse_id(c, &argv[1]) < 0)
        return;
    for (int i = 2; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (val && arg_is(o, "lease")) {
            if (arg_range(c, val, "LEASE", 1, QUEUE_LEASE_MAX, "ms", &lease) <
                0)
                return;
        } else if (val && arg_is(o, "attempt")) {
            if (arg_range(c, val, "ATTEMPT", 1, UINT32_MAX, "", &attempt) < 0)
                return;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    jm.hook_err = 0;
    uint64_t now = clock_mono_ms();
    queue_tick(set, now); /* a lease that ran out is lost, timer or not */
    struct queue_job *j = NULL;
    if (check_attempt(c, &argv[1], attempt) < 0)
        goto out;
    int rc =
        queue_touch(set, argv[1].ptr, argv[1].len, (uint64_t)lease, now, &j);
    if (cmd_journal_check(&jm, c) < 0)
        goto out;
    if (rc == ERR_NOJOB)
        reply_nojob(c, &argv[1]);
    else if (rc < 0)
        reply_not_leased(c, &argv[1], j);
    else
        reply_uint(c,
                   clock_mono_to_wall(j->lease_deadline, now, clock_wall_ms()));
out:
    after_change();
}

/* Q.DEL id */
static void cmd_q_del(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (parse_id(c, &argv[1]) < 0 || cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    int rc = queue_del(set, argv[1].ptr, argv[1].len);
    if (cmd_journal_check(&jm, c) == 0) {
        if (rc == ERR_NOJOB)
            reply_nojob(c, &argv[1]);
        else
            reply_int(c, 1);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

/* Parses [COUNT n] at argv[2..); -1 after replying an error. */
static int parse_count_opt(struct client *c, int argc, struct arg *argv,
                           int64_t *count)
{
    *count = QUEUE_LIST_DEFAULT;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 < argc && arg_is(&argv[i], "count")) {
            if (arg_range(c, &argv[i + 1], "COUNT", 1, QUEUE_COUNT_MAX, "",
                            count) < 0)
                return -1;
        } else {
            reply_syntax_error(c, &argv[i]);
            return -1;
        }
    }
    return 0;
}

/* Q.PEEK queue [COUNT n] and Q.DEAD queue [COUNT n] */
static void list_jobs(struct client *c, int argc, struct arg *argv, int dead)
{
    int64_t count;
    if (parse_queue(c, &argv[1]) < 0 ||
        parse_count_opt(c, argc, argv, &count) < 0)
        return;
    struct queue_job **jobs = xmalloc((size_t)count * sizeof(*jobs));
    jm.hook_err = 0;
    size_t n =
        dead ? queue_dead(set, argv[1].ptr, argv[1].len, (size_t)count, jobs)
             : queue_peek(set, argv[1].ptr, argv[1].len, (size_t)count,
                          clock_mono_ms(), jobs);
    reply_array(c, n);
    for (size_t i = 0; i < n; i++)
        reply_full(c, jobs[i]);
    free(jobs);
    after_change();
}

static void cmd_q_peek(struct client *c, int argc, struct arg *argv)
{
    list_jobs(c, argc, argv, 0);
}

static void cmd_q_dead(struct client *c, int argc, struct arg *argv)
{
    list_jobs(c, argc, argv, 1);
}

/* Q.KICK queue [n|ALL] */
static void cmd_q_kick(struct client *c, int argc, struct arg *argv)
{
    uint64_t n = UINT64_MAX;
    if (parse_queue(c, &argv[1]) < 0)
        return;
    if (argc > 3) {
        reply_syntax_error(c, &argv[3]);
        return;
    }
    if (argc == 3 && !arg_is(&argv[2], "all")) {
        int64_t v;
        if (arg_range(c, &argv[2], "KICK count", 1, INT64_MAX, "(or ALL)",
                        &v) < 0)
            return;
        n = (uint64_t)v;
    }
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    size_t moved =
        queue_kick(set, argv[1].ptr, argv[1].len, n, clock_mono_ms());
    stats.kicks += moved;
    if (cmd_journal_check(&jm, c) == 0) {
        reply_uint(c, moved);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

/* Q.INFO [queue] */
static void cmd_q_info(struct client *c, int argc, struct arg *argv)
{
    if (argc > 2) {
        reply_syntax_error(c, &argv[2]);
        return;
    }
    if (argc == 2 && parse_queue(c, &argv[1]) < 0)
        return;
    struct queue_info i;
    jm.hook_err = 0;
    queue_info(set, argc == 2 ? argv[1].ptr : NULL, argc == 2 ? argv[1].len : 0,
               clock_mono_ms(), &i);
    reply_map(c, argc == 2 ? 6 : 8);
    if (argc == 2) {
        reply_cstr(c, "queue");
        reply_bulk(c, argv[1].ptr, argv[1].len);
    } else {
        reply_cstr(c, "queues");
        reply_uint(c, queue_count(set));
        reply_cstr(c, "jobs");
        reply_uint(c, queue_job_count(set));
        reply_cstr(c, "blocked_clients");
        reply_uint(c, npoppers);
    }
    reply_cstr(c, "ready");
    reply_uint(c, i.ready);
    reply_cstr(c, "delayed");
    reply_uint(c, i.delayed);
    reply_cstr(c, "leased");
    reply_uint(c, i.leased);
    reply_cstr(c, "dead");
    reply_uint(c, i.dead);
    reply_cstr(c, "oldest_age_ms");
    reply_uint(c, i.oldest_age);
    after_change();
}

static void reply_name(void *ctx, const char *name, size_t len)
{
    reply_bulk(ctx, name, len);
}

/* Q.QUEUES */
static void cmd_q_queues(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    reply_array(c, queue_count(set));
    queue_foreach(set, reply_name, c);
}

/* CHUNK.ENQUEUE queue total payload [BUCKETS n] [TARGET rows] */
static void cmd_chunk_enqueue(struct client *c, int argc, struct arg *argv)
{
    uint64_t total, target = CHUNK_TARGET_DEFAULT;
    uint32_t buckets = CHUNK_BUCKETS_DEFAULT;
    if (parse_queue(c, &argv[1]) < 0 ||
        arg_u64(c, &argv[2], "total", &total) < 0)
        return;
    for (int i = 4; i < argc; i += 2) {
        char err[128];
        int rc = i + 1 < argc
                     ? chunk_parse_option(argv[i].ptr, argv[i].len,
                                          argv[i + 1].ptr, argv[i + 1].len,
                                          &buckets, &target, err, sizeof(err))
                     : 0;
        if (rc < 0) {
            reply_error(c, err);
            return;
        }
        if (rc == 0) {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    uint32_t n = chunk_plan_count(total, buckets, target);
    /* each job: "lo hi payload"; its record adds the fixed fields and ids */
    size_t job_payload = 24 + argv[3].len;
    if (payload_fits(c, job_payload) < 0)
        return;
    uint64_t need = (uint64_t)n * (job_payload + argv[1].len + 128);
    if (need > JOURNAL_MAX_RECORD) {
        reply_errorf(c,
                     "ERR CHUNK.ENQUEUE of %" PRIu32 " jobs would need about "
                     "%" PRIu64 " bytes in one journal record, over %u; raise "
                     "TARGET or shorten the payload",
                     n, need, JOURNAL_MAX_RECORD);
        return;
    }
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    struct sbuf recs, pl;
    sbuf_init(&recs);
    sbuf_init(&pl);
    uint64_t now = clock_mono_ms();
    jm.hook_err = 0;
    batch = &recs;
    for (uint32_t i = 0; i < n; i++) {
        struct chunk_range r = chunk_plan_item(i, n, buckets);
        sbuf_clear(&pl);
        sbuf_addf(&pl, "%" PRIu32 " %" PRIu32 " ", r.lo, r.hi);
        sbuf_add(&pl, argv[3].ptr, argv[3].len);
        struct queue_push_args a = {0};
        a.queue = argv[1].ptr;
        a.queue_len = argv[1].len;
        a.payload = pl.data;
        a.payload_len = pl.len;
        a.max_attempts = QUEUE_MAX_ATTEMPTS_DEFAULT;
        struct queue_job *j;
        queue_push(set, &a, now, &j);
    }
    batch = NULL;
    stats.pushes += n;
    cmd_journal_append(&jm, QUEUE_REC_BATCH, recs.data, recs.len);
    sbuf_deinit(&recs);
    sbuf_deinit(&pl);
    if (cmd_journal_check(&jm, c) == 0) {
        reply_uint(c, n);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

static const struct command_spec queue_commands[] = {
    {"q.push", -3, CMD_WRITE | CMD_FAST, cmd_q_push, "queue",
     "queue payload [PRIORITY p] [DELAY ms] [MAXATTEMPTS n] [ID id]",
     "Adds a job; replies its id (a live job with the same ID is returned "
     "instead)",
     1, 1, 1},
    {"q.pop", -2, CMD_WRITE | CMD_FAST | CMD_BLOCKING, cmd_q_pop, "queue",
     "queue [queue ...] [COUNT n] [LEASE ms] [BLOCK ms]",
     "Leases up to COUNT ready jobs, highest priority first, FIFO within a "
     "priority, earlier queues winning ties",
     1, -1, 1},
    {"q.ack", -2, CMD_WRITE | CMD_FAST, cmd_q_ack, "queue", "id [id ...]",
     "Marks jobs done (removes them); replies how many existed", 0, 0, 0},
    {"q.nack", -2, CMD_WRITE | CMD_FAST, cmd_q_nack, "queue",
     "id [DELAY ms] [REASON text] [ATTEMPT n]",
     "Fails the attempt of a leased job: ready again after DELAY, or dead; "
     "replies its new state",
     0, 0, 0},
    {"q.touch", -2, CMD_WRITE | CMD_FAST, cmd_q_touch, "queue",
     "id [LEASE ms] [ATTEMPT n]",
     "Extends the lease of a leased job; replies the new lease deadline (ms, "
     "wall clock)",
     0, 0, 0},
    {"q.del", 2, CMD_WRITE | CMD_FAST, cmd_q_del, "queue", "id",
     "Deletes a job in any state", 0, 0, 0},
    {"q.peek", -2, CMD_READONLY, cmd_q_peek, "queue", "queue [COUNT n]",
     "The next ready jobs in pop order, unchanged", 1, 1, 1},
    {"q.dead", -2, CMD_READONLY, cmd_q_dead, "queue", "queue [COUNT n]",
     "Dead jobs, oldest death first", 1, 1, 1},
    {"q.kick", -2, CMD_WRITE, cmd_q_kick, "queue", "queue [n|ALL]",
     "Moves dead jobs back to ready with fresh attempts; replies how many", 1,
     1, 1},
    {"q.info", -1, CMD_READONLY | CMD_FAST, cmd_q_info, "queue", "[queue]",
     "Counts of ready, delayed, leased and dead jobs and the oldest job's age",
     1, 1, 1},
    {"q.queues", 1, CMD_READONLY, cmd_q_queues, "queue", "",
     "Names of the queues that have jobs, sorted", 0, 0, 0},
    {"chunk.enqueue", -4, CMD_WRITE, cmd_chunk_enqueue, "chunk",
     "queue total payload [BUCKETS n] [TARGET rows]",
     "Pushes one job per CHUNK.PLAN range ('lo hi payload'), all or none; "
     "replies how many",
     1, 1, 1},
};

/* ---- config ---- */

static const struct config_spec queue_config[] = {
    {"queue-max-payload", CONFIG_BYTES, &cfg_max_payload, "1mb", 0,
     JOURNAL_MAX_RECORD - 4096, NULL, CONFIG_MUTABLE, 0, NULL,
     "largest job payload in bytes"},
};

/* ---- module ---- */

static int on_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
    (void)ctx;
    return queue_replay(set, type, p, n, replay_now, replay_wall, err, errlen);
}

static void queue_stop(void);

static int queue_start(char *err, size_t errlen)
{
    memset(&stats, 0, sizeof(stats));
    uint64_t wall = clock_wall_ms();
    /* generated ids start at wall ms * 1000, so they do not repeat across
     * restarts even for jobs acked long ago */
    set = queue_set_new(&hooks, wall ^ ((uint64_t)getpid() << 32), wall * 1000);
    replay_now = clock_mono_ms();
    replay_wall = wall;
    struct journal_opts o = {0};
    o.dir = config_dir;
    o.name = QUEUE_JOURNAL_NAME;
    o.loop = net_loop();
    _Static_assert((int)CONFIG_FSYNC_EVERYSEC == (int)JOURNAL_FSYNC_EVERYSEC &&
                       (int)CONFIG_FSYNC_NO == (int)JOURNAL_FSYNC_NO,
                   "the fsync setting is read as an enum journal_fsync");
    o.fsync_mode = &config_fsync;
    o.replay = on_replay;
    jm.walk = walk;
    if (journal_open(&jm.j, &o, err, errlen) < 0) {
        queue_set_free(set);
        set = NULL;
        return -1;
    }
    queue_replay_done(set, clock_mono_ms());
    served_events = queue_ready_events(set);
    /* the recovered state becomes the new base, the history goes */
    if (cmd_journal_checkpoint(&jm, err, errlen) < 0) {
        queue_stop();
        return -1;
    }
    timer = cmd_timer_new();
    arm();
    log_info("queues: %zu jobs in %zu queues after recovery",
             queue_job_count(set), queue_count(set));
    return 0;
}

static void queue_stop(void)
{
    while (pop_head) {
        struct client *c = pop_head->c;
        popper_unlink(pop_head);
        reply_error(c, "ERR queue module stopping; retry");
        client_unblock(c);
    }
    cmd_timer_free(&timer);
    journal_close(jm.j);
    jm.j = NULL;
    queue_set_free(set);
    set = NULL;
}

static void queue_info_section(struct sbuf *out, const char *section)
{
    if (strcmp(section, "queue") != 0 || !set)
        return;
    struct queue_info i;
    queue_info(set, NULL, 0, clock_mono_ms(), &i);
    sbuf_addf(out,
              "queue_queues:%zu\r\nqueue_jobs:%zu\r\nqueue_ready:%" PRIu64
              "\r\nqueue_delayed:%" PRIu64 "\r\nqueue_leased:%" PRIu64
              "\r\nqueue_dead:%" PRIu64 "\r\nqueue_blocked_clients:%zu"
              "\r\nqueue_pushes:%" PRIu64 "\r\nqueue_pops:%" PRIu64
              "\r\nqueue_acks:%" PRIu64 "\r\nqueue_nacks:%" PRIu64
              "\r\nqueue_kicks:%" PRIu64 "\r\nqueue_blocks:%" PRIu64
              "\r\nqueue_block_timeouts:%" PRIu64 "\r\n",
              queue_count(set), queue_job_count(set), i.ready, i.delayed,
              i.leased, i.dead, npoppers, stats.pushes, stats.pops, stats.acks,
              stats.nacks, stats.kicks, stats.blocked, stats.block_timeouts);
    if (jm.j)
        sbuf_addf(out,
                  "queue_journal_generation:%" PRIu64
                  "\r\nqueue_journal_log_bytes:%" PRIu64
                  "\r\nqueue_journal_checkpoint_bytes:%" PRIu64
                  "\r\nqueue_journal_checkpoints:%" PRIu64
                  "\r\nqueue_journal_synced:%" PRIu64
                  "\r\nqueue_journal_error:%d\r\n",
                  journal_generation(jm.j), journal_log_bytes(jm.j),
                  journal_ckpt_bytes(jm.j), jm.checkpoints,
                  journal_source(jm.j)->synced, journal_error(jm.j) != 0);
}

static int queue_compact(char *err, size_t errlen)
{
    return jm.j ? cmd_journal_checkpoint(&jm, err, errlen) : 0;
}

void queue_foreach_stats(void (*fn)(void *ctx, const char *name, size_t len,
                                    const struct queue_info *info),
                         void *ctx)
{
    if (set)
        queue_foreach_info(set, clock_mono_ms(), 1, fn, ctx);
}

struct queue_families {
    struct metrics_family *ready, *delayed, *leased, *dead, *age;
};

static void queue_sample(void *ctx, const char *name, size_t len,
                         const struct queue_info *i)
{
    const struct queue_families *f = ctx;
    struct metrics_label l = {"queue", name, len};
    struct metrics_labelset ls;
    metrics_labelset(&ls, &l, 1);
    metrics_sample_set(f->ready, &ls, (double)i->ready);
    metrics_sample_set(f->delayed, &ls, (double)i->delayed);
    metrics_sample_set(f->leased, &ls, (double)i->leased);
    metrics_sample_set(f->dead, &ls, (double)i->dead);
    metrics_sample_set(f->age, &ls, (double)i->oldest_age / 1000);
}

static void queue_metrics(struct metrics *m)
{
    if (!set)
        return;
    metrics_set(m, "tincan_queues", METRICS_GAUGE, "Queues that have jobs.",
                (double)queue_count(set));
    metrics_set(m, "tincan_queue_blocked_clients", METRICS_GAUGE,
                "Clients parked in a blocking Q.POP.", (double)npoppers);
    metrics_set(m, "tincan_queue_pushes_total", METRICS_COUNTER,
                "New jobs since start.", (double)stats.pushes);
    metrics_set(m, "tincan_queue_pops_total", METRICS_COUNTER,
                "Jobs leased to workers since start.", (double)stats.pops);
    metrics_set(m, "tincan_queue_acks_total", METRICS_COUNTER,
                "Jobs acked since start.", (double)stats.acks);
    metrics_set(m, "tincan_queue_nacks_total", METRICS_COUNTER,
                "Jobs nacked since start.", (double)stats.nacks);
    struct queue_families f = {
        metrics_family(m, "tincan_queue_ready_jobs", METRICS_GAUGE,
                       "Jobs waiting to be popped."),
        metrics_family(m, "tincan_queue_delayed_jobs", METRICS_GAUGE,
                       "Jobs waiting for their delay to end."),
        metrics_family(m, "tincan_queue_leased_jobs", METRICS_GAUGE,
                       "Jobs leased to a worker, not acked yet."),
        metrics_family(m, "tincan_queue_dead_jobs", METRICS_GAUGE,
                       "Jobs that used up their attempts."),
        metrics_family(m, "tincan_queue_oldest_job_age_seconds", METRICS_GAUGE,
                       "Age of the oldest job that is not dead (0 if none)."),
    };
    queue_foreach_info(set, clock_mono_ms(), 0, queue_sample, &f);
    cmd_journal_metrics(m, &jm);
}

const struct module queue_module = {
    .name = "queue",
    .commands = queue_commands,
    .ncommands = ARRAY_LEN(queue_commands),
    .config = queue_config,
    .nconfig = ARRAY_LEN(queue_config),
    .start = queue_start,
    .stop = queue_stop,
    .info = queue_info_section,
    .metrics = queue_metrics,
    .compact = queue_compact,
};
