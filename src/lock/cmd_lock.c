/* cmd_lock.c - LOCK.* commands and the lock module's I/O: the state journal,
 * the expiry timer and blocked waiters.
 *
 * The lease logic is lock.c (pure). This file parses arguments, calls it,
 * replies, and owns what is around it:
 *   - every change (grant, extend, renew, release, token reservation) is a
 *     record in the journal <dir>/locks.*.{ckpt,log}; a write's reply is held
 *     until the fdatasync covering its record (group commit), and a token
 *     reservation is always synced before a token from it leaves, whatever
 *     the fsync mode, so tokens never repeat;
 *   - one libuv timer is armed at the earliest lease deadline (nobody polls);
 *   - LOCK.ACQUIRE ... WAIT parks the client (client_block) as a FIFO waiter;
 *     a waiter that times out gets nil, one that disconnects is dropped.
 * Recovery: the journal is replayed into the table with each lease converted
 * from its wall-clock deadline (never longer than its ttl), then a
 * checkpoint compacts it. */
#include "cmd_lock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define LOCK_NAME_MAX     512      /* bytes of a lock name */
#define LOCK_OWNER_MAX    256      /* bytes of an owner */
#define LOCK_TTL_MAX      86400000 /* ms, one day */
#define LOCK_WAIT_MAX     86400000 /* ms */
#define LOCK_JOURNAL_NAME "locks"

/* A client parked in LOCK.ACQUIRE ... WAIT. */
struct waiter_ctx {
    struct client *c;
    struct lock_waiter *w;          /* the table's handle */
    struct waiter_ctx *prev, *next; /* all parked clients, for stop */
};

static struct lock_table *table;
static struct cmd_journal jm = {.what = "lock"}; /* journal + reply glue */
static uv_timer_t *timer;         /* fires at the earliest lease deadline */
static struct waiter_ctx *parked; /* list of parked clients */
static int force_sync;            /* a reservation was appended: sync it */
static uint64_t reserve_seq;      /* journal seq of the last reservation */
static uint64_t replay_now;       /* ms, monotonic, during recovery */
static uint64_t replay_wall;      /* ms, wall clock, during recovery */
static int64_t cfg_compact;       /* bytes of log before a checkpoint */
static uint64_t max_token;        /* highest token seen by on_grant */

static struct {
    uint64_t grants;   /* new tokens handed out */
    uint64_t extends;  /* re-acquires and renews */
    uint64_t releases; /* by LOCK.RELEASE */
    uint64_t expired;  /* leases that ran out */
    uint64_t waits;    /* clients that parked */
    uint64_t wait_timeouts;
    uint64_t lost; /* LOCK.RENEW answered LOCKLOST */
} stats;

/* ---- helpers ---- */

static int walk(void *ctx, struct journal_ckpt *w)
{
    (void)ctx;
    return lock_checkpoint(table, clock_mono_ms(), clock_wall_ms(),
                           cmd_journal_emit, w);
}

/* ---- hooks from the state machine ---- */

static void on_reserve(void *ctx, uint64_t limit)
{
    (void)ctx;
    uint8_t b[8];
    cmd_journal_append(&jm, LOCK_REC_RESERVE, b, lock_rec_reserve(b, limit));
    reserve_seq = journal_records(jm.j);
    force_sync = 1; /* whatever the fsync mode: tokens must never repeat */
}

static void on_grant(void *ctx, const struct lock *l, void *wctx)
{
    (void)ctx;
    struct lock_view v;
    lock_view_of(l, &v);
    size_t need = lock_rec_grant(NULL, &v, 0, 0);
    uint8_t stackbuf[1024];
    uint8_t *b = need <= sizeof(stackbuf) ? stackbuf : xmalloc(need);
    cmd_journal_append(&jm, LOCK_REC_GRANT, b,
                       lock_rec_grant(b, &v, clock_mono_ms(), clock_wall_ms()));
    if (b != stackbuf)
        free(b);
    if (v.token > max_token) {
        max_token = v.token;
        stats.grants++;
    } else {
        stats.extends++;
    }
    if (!wctx)
        return;
    /* a parked client's turn came */
    struct waiter_ctx *wc = wctx;
    if (jm.hook_err)
        cmd_journal_reply_error(&jm, wc->c);
    else {
        reply_uint(wc->c, v.token);
        cmd_journal_hold(&jm, wc->c);
    }
    if (wc->prev)
        wc->prev->next = wc->next;
    else
        parked = wc->next;
    if (wc->next)
        wc->next->prev = wc->prev;
    client_unblock(wc->c);
    free(wc);
}

static void on_release(void *ctx, const struct lock *l, int expired)
{
    (void)ctx;
    if (expired) {
        /* no record needed: the grant's deadline says it ran out */
        stats.expired++;
        return;
    }
    struct lock_view v;
    lock_view_of(l, &v);
    size_t need = lock_rec_release(NULL, &v);
    uint8_t stackbuf[1024];
    uint8_t *b = need <= sizeof(stackbuf) ? stackbuf : xmalloc(need);
    cmd_journal_append(&jm, LOCK_REC_RELEASE, b, lock_rec_release(b, &v));
    if (b != stackbuf)
        free(b);
}

static const struct lock_hooks hooks = {NULL, on_reserve, on_grant, on_release};

/* ---- expiry timer ---- */

static void arm(void);

static void on_timer(uv_timer_t *t)
{
    (void)t;
    jm.hook_err = 0;
    lock_expire(table, clock_mono_ms());
    jm.hook_err = 0;
    arm();
    cmd_journal_maybe_checkpoint(&jm);
}

static void arm(void)
{
    uint64_t deadline;
    if (timer)
        cmd_timer_arm(timer, on_timer,
                      lock_next_deadline(table, &deadline) ? &deadline : NULL);
}

/* ---- parked clients ---- */

static void unpark(struct waiter_ctx *wc)
{
    lock_wait_cancel(table, wc->w);
    if (wc->prev)
        wc->prev->next = wc->next;
    else
        parked = wc->next;
    if (wc->next)
        wc->next->prev = wc->prev;
    free(wc);
}

static void on_wait_timeout(struct client *c, void *ctx)
{
    stats.wait_timeouts++;
    unpark(ctx);
    reply_null(c);
}

static void on_wait_disconnect(struct client *c, void *ctx)
{
    (void)c;
    unpark(ctx);
}

/* ---- argument parsing ---- */

static int parse_name(struct client *c, const struct arg *a)
{
    return arg_len(c, a, "name", LOCK_NAME_MAX);
}

static int parse_owner(struct client *c, const struct arg *a)
{
    return arg_len(c, a, "owner", LOCK_OWNER_MAX);
}

static int parse_ttl(struct client *c, const struct arg *a, uint64_t *ttl)
{
    int64_t v;
    if (arg_i64(c, a, "ttl_ms", 1, LOCK_TTL_MAX, &v) < 0)
        return -1;
    *ttl = (uint64_t)v;
    return 0;
}

static int parse_token(struct client *c, const struct arg *a, uint64_t *tok)
{
    return arg_u64(c, a, "token", tok);
}

/* ---- commands ---- */

/* LOCK.ACQUIRE name owner ttl_ms [WAIT ms] */
static void cmd_lock_acquire(struct client *c, int argc, struct arg *argv)
{
    uint64_t ttl, token;
    int64_t wait = -1;
    if (parse_name(c, &argv[1]) < 0 || parse_owner(c, &argv[2]) < 0 ||
        parse_ttl(c, &argv[3], &ttl) < 0)
        return;
    for (int i = 4; i < argc; i++) {
        if (arg_is(&argv[i], "wait") && i + 1 < argc) {
            if (arg_i64(c, &argv[i + 1], "WAIT", 0, LOCK_WAIT_MAX, &wait) < 0)
                return;
            i++;
        } else if (arg_is(&argv[i], "wait")) {
            reply_error(c, "ERR WAIT needs a number of ms (0 = no limit)");
            return;
        } else {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    if (client_in_exec(c))
        wait = -1; /* nothing blocks inside EXEC: as if WAIT timed out now */
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    uint64_t now = clock_mono_ms();
    int rc = lock_acquire(table, argv[1].ptr, argv[1].len, argv[2].ptr,
                          argv[2].len, ttl, now, &token);
    if (rc == 0) {
        if (cmd_journal_check(&jm, c) == 0) {
            reply_uint(c, token);
            cmd_journal_hold(&jm, c);
        }
    } else if (wait < 0) {
        if (cmd_journal_check(&jm, c) == 0) {
            reply_null(c); /* settling may have granted a waiter: order */
            cmd_journal_hold(&jm, c);
        }
    } else {
        jm.hook_err = 0;
        struct waiter_ctx *wc = xcalloc(1, sizeof(*wc));
        wc->c = c;
        wc->w = lock_wait(table, argv[1].ptr, argv[1].len, argv[2].ptr,
                          argv[2].len, ttl, wc);
        wc->next = parked;
        if (parked)
            parked->prev = wc;
        parked = wc;
        stats.waits++;
        client_block(c, (uint64_t)wait, on_wait_timeout, on_wait_disconnect,
                     wc);
    }
    arm();
    cmd_journal_maybe_checkpoint(&jm);
}

/* LOCK.RENEW name owner token ttl_ms */
static void cmd_lock_renew(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    uint64_t token, ttl, current;
    if (parse_name(c, &argv[1]) < 0 || parse_owner(c, &argv[2]) < 0 ||
        parse_token(c, &argv[3], &token) < 0 ||
        parse_ttl(c, &argv[4], &ttl) < 0)
        return;
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    int rc = lock_renew(table, argv[1].ptr, argv[1].len, argv[2].ptr,
                        argv[2].len, token, ttl, clock_mono_ms(), &current);
    char n[160];
    arg_printable(n, sizeof(n), argv[1].ptr, argv[1].len);
    if (cmd_journal_check(&jm, c) < 0)
        goto out;
    switch (rc) {
    case LOCK_RENEWED:
        reply_ok(c);
        cmd_journal_hold(&jm, c);
        goto out;
    case LOCK_LOST_FREE:
        reply_errorf(c,
                     "LOCKLOST lock '%s' is not held: it expired or was "
                     "released (token %" PRIu64 ")",
                     n, token);
        break;
    case LOCK_LOST_REGRANTED:
        reply_errorf(c,
                     "LOCKLOST lock '%s' expired and was re-granted: token "
                     "%" PRIu64 " is older than the current token %" PRIu64,
                     n, token, current);
        break;
    case LOCK_LOST_TOKEN:
        reply_errorf(c,
                     "LOCKLOST token %" PRIu64
                     " is not the current token of lock '%s'",
                     token, n);
        break;
    default:
        reply_errorf(c,
                     "LOCKLOST lock '%s' is held by another owner under "
                     "token %" PRIu64,
                     n, token);
        break;
    }
    stats.lost++;
    cmd_journal_hold(
        &jm, c); /* settling may have journaled an expiry grant: keep order */
out:
    arm();
    cmd_journal_maybe_checkpoint(&jm);
}

/* LOCK.RELEASE name owner token */
static void cmd_lock_release(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    uint64_t token;
    if (parse_name(c, &argv[1]) < 0 || parse_owner(c, &argv[2]) < 0 ||
        parse_token(c, &argv[3], &token) < 0)
        return;
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    int released = lock_release(table, argv[1].ptr, argv[1].len, argv[2].ptr,
                                argv[2].len, token, clock_mono_ms());
    if (cmd_journal_check(&jm, c) == 0) {
        if (released)
            stats.releases++;
        reply_int(c, released);
        cmd_journal_hold(&jm, c);
    }
    arm();
    cmd_journal_maybe_checkpoint(&jm);
}

/* LOCK.CHECK name token */
static void cmd_lock_check(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    uint64_t token;
    if (parse_name(c, &argv[1]) < 0 || parse_token(c, &argv[2], &token) < 0)
        return;
    jm.hook_err = 0;
    int ok =
        lock_check(table, argv[1].ptr, argv[1].len, token, clock_mono_ms());
    jm.hook_err = 0;
    reply_int(c, ok);
    arm();
}

/* LOCK.INFO name */
static void cmd_lock_info(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (parse_name(c, &argv[1]) < 0)
        return;
    struct lock_view v;
    uint64_t now = clock_mono_ms();
    jm.hook_err = 0;
    int held = lock_info(table, argv[1].ptr, argv[1].len, now, &v);
    jm.hook_err = 0;
    arm();
    if (!held) {
        reply_null(c);
        return;
    }
    reply_map(c, 6);
    reply_cstr(c, "name");
    reply_bulk(c, v.name, v.name_len);
    reply_cstr(c, "owner");
    reply_bulk(c, v.owner, v.owner_len);
    reply_cstr(c, "token");
    reply_uint(c, v.token);
    reply_cstr(c, "ttl_ms");
    reply_uint(c, v.ttl_ms);
    reply_cstr(c, "remaining_ms");
    reply_uint(c, v.expires > now ? v.expires - now : 0);
    reply_cstr(c, "waiters");
    reply_uint(c, v.waiters);
}

struct names {
    struct lock_view *v;
    size_t n, cap;
};

static void collect(const struct lock_view *v, void *ctx)
{
    struct names *ns = ctx;
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 16;
        ns->v = xrealloc(ns->v, ns->cap * sizeof(*ns->v));
    }
    ns->v[ns->n++] = *v;
}

static int by_name(const void *a, const void *b)
{
    const struct lock_view *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int r = memcmp(x->name, y->name, n);
    if (r)
        return r;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* LOCK.LIST [pattern] */
static void cmd_lock_list(struct client *c, int argc, struct arg *argv)
{
    struct names ns = {0};
    jm.hook_err = 0;
    lock_list(table, argc > 1 ? argv[1].ptr : NULL, argc > 1 ? argv[1].len : 0,
              clock_mono_ms(), collect, &ns);
    jm.hook_err = 0;
    arm();
    if (ns.n > 1)
        qsort(ns.v, ns.n, sizeof(*ns.v), by_name);
    reply_array(c, ns.n);
    for (size_t i = 0; i < ns.n; i++)
        reply_bulk(c, ns.v[i].name, ns.v[i].name_len);
    free(ns.v);
}

static const struct command_spec lock_commands[] = {
    {"lock.acquire", -4, CMD_WRITE | CMD_FAST | CMD_BLOCKING, cmd_lock_acquire,
     "lock", "name owner ttl_ms [WAIT ms]",
     "Takes or extends a lease on name; replies its fencing token, or nil "
     "if another owner holds it (after waiting up to WAIT ms)",
     1, 1, 1},
    {"lock.renew", 5, CMD_WRITE | CMD_FAST, cmd_lock_renew, "lock",
     "name owner token ttl_ms",
     "Heartbeat: extends the lease to ttl_ms from now, or -LOCKLOST", 1, 1, 1},
    {"lock.release", 4, CMD_WRITE | CMD_FAST, cmd_lock_release, "lock",
     "name owner token",
     "Ends the lease; replies 1 if it was held by owner under token", 1, 1, 1},
    {"lock.check", 3, CMD_READONLY | CMD_FAST, cmd_lock_check, "lock",
     "name token", "Replies 1 if token is the current, unexpired grant", 1, 1,
     1},
    {"lock.info", 2, CMD_READONLY | CMD_FAST, cmd_lock_info, "lock", "name",
     "The lease on name: owner, token, ttl_ms, remaining_ms, waiters; nil if "
     "free",
     1, 1, 1},
    {"lock.list", -1, CMD_READONLY, cmd_lock_list, "lock", "[pattern]",
     "Names of held locks matching the glob pattern, sorted", 0, 0, 0},
};

/* ---- config ---- */

static const struct config_spec lock_config[] = {
    {"lock-compact-bytes", CONFIG_BYTES, &cfg_compact, "8mb", 4096,
     (int64_t)1 << 40, NULL, 0, 0, NULL,
     "checkpoint the lock journal once its log is this big (and twice the "
     "last checkpoint): disk use follows the live locks, not the history"},
};

/* ---- module ---- */

static int on_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
    (void)ctx;
    return lock_replay(table, type, p, n, replay_now, replay_wall, err, errlen);
}

static void lock_stop(void);

static int lock_start(char *err, size_t errlen)
{
    memset(&stats, 0, sizeof(stats));
    max_token = 0;
    reserve_seq = 0;
    table =
        lock_table_new(&hooks, clock_wall_ms() ^ ((uint64_t)getpid() << 32));
    replay_now = clock_mono_ms();
    replay_wall = clock_wall_ms();
    struct journal_opts o = {0};
    o.dir = config_dir;
    o.name = LOCK_JOURNAL_NAME;
    o.loop = net_loop();
    _Static_assert((int)CONFIG_FSYNC_EVERYSEC == (int)JOURNAL_FSYNC_EVERYSEC &&
                       (int)CONFIG_FSYNC_NO == (int)JOURNAL_FSYNC_NO,
                   "the fsync setting is read as an enum journal_fsync");
    o.fsync_mode = &config_fsync;
    o.compact_bytes = (uint64_t)cfg_compact;
    o.replay = on_replay;
    jm.walk = walk;
    int rc = journal_open(&jm.j, &o, err, errlen);
    if (rc < 0) {
        lock_table_free(table);
        table = NULL;
        return -1;
    }
    lock_replay_done(table);
    max_token = lock_token_next(table) - 1;
    /* the recovered state becomes the new base, the history goes */
    if (cmd_journal_checkpoint(&jm, err, errlen) < 0) {
        lock_stop();
        return -1;
    }
    timer = cmd_timer_new();
    arm();
    log_info("locks: %zu held after recovery, next token %" PRIu64,
             lock_count(table), lock_token_next(table));
    return 0;
}

static void lock_stop(void)
{
    /* clients still parked (a reload): answer them before the table goes */
    while (parked) {
        struct waiter_ctx *wc = parked;
        struct client *c = wc->c;
        unpark(wc);
        reply_error(c, "ERR lock module restarting; retry");
        client_unblock(c);
    }
    cmd_timer_free(&timer);
    journal_close(jm.j);
    jm.j = NULL;
    lock_table_free(table);
    table = NULL;
}

static void lock_info_section(struct sbuf *out, const char *section)
{
    if (strcmp(section, "lock") != 0 || !table)
        return;
    sbuf_addf(out,
              "lock_held:%zu\r\nlock_waiters:%zu\r\n"
              "lock_token_next:%" PRIu64 "\r\nlock_token_reserved:%" PRIu64
              "\r\nlock_grants:%" PRIu64 "\r\nlock_extends:%" PRIu64
              "\r\nlock_releases:%" PRIu64 "\r\nlock_expired:%" PRIu64
              "\r\nlock_waits:%" PRIu64 "\r\nlock_wait_timeouts:%" PRIu64
              "\r\nlock_lost:%" PRIu64 "\r\n",
              lock_count(table), lock_waiters(table), lock_token_next(table),
              lock_token_limit(table), stats.grants, stats.extends,
              stats.releases, stats.expired, stats.waits, stats.wait_timeouts,
              stats.lost);
    if (jm.j)
        sbuf_addf(out,
                  "lock_journal_generation:%" PRIu64
                  "\r\nlock_journal_log_bytes:%" PRIu64
                  "\r\nlock_journal_checkpoint_bytes:%" PRIu64
                  "\r\nlock_journal_checkpoints:%" PRIu64
                  "\r\nlock_journal_synced:%" PRIu64
                  "\r\nlock_journal_error:%d\r\n",
                  journal_generation(jm.j), journal_log_bytes(jm.j),
                  journal_ckpt_bytes(jm.j), jm.checkpoints,
                  journal_source(jm.j)->synced, journal_error(jm.j) != 0);
}

static int lock_compact(char *err, size_t errlen)
{
    return jm.j ? cmd_journal_checkpoint(&jm, err, errlen) : 0;
}

void lock_foreach_held(void (*fn)(const struct lock_view *v, void *ctx), void *ctx,
                       uint64_t *now)
{
    *now = clock_mono_ms();
    if (table)
        lock_list(table, NULL, 0, *now, fn, ctx);
}

struct lock_families {
    struct metrics_family *waiters, *token, *expiry;
    uint64_t now; /* ms, monotonic */
};

static void lock_sample(const struct lock_view *v, void *ctx)
{
    const struct lock_families *f = ctx;
    struct metrics_label l = {"lock", v->name, v->name_len};
    metrics_sample(f->waiters, &l, 1, (double)v->waiters);
    metrics_sample(f->token, &l, 1, (double)v->token);
    metrics_sample(f->expiry, &l, 1,
                   v->expires > f->now ? (double)(v->expires - f->now) / 1000 : 0);
}

static void lock_metrics(struct metrics *m)
{
    if (!table)
        return;
    struct lock_families f = {
        metrics_family(m, "tincan_lock_waiters", METRICS_GAUGE,
                       "Clients queued behind the holder of the lock."),
        metrics_family(m, "tincan_lock_fencing_token", METRICS_GAUGE,
                       "Fencing token of the lock's current grant."),
        metrics_family(m, "tincan_lock_expires_in_seconds", METRICS_GAUGE,
                       "Seconds until the lock's lease ends unless renewed."),
        0,
    };
    lock_foreach_held(lock_sample, &f, &f.now);
    metrics_set(m, "tincan_locks_held", METRICS_GAUGE, "Locks held now.",
                (double)lock_count(table));
    metrics_set(m, "tincan_locks_waiting_clients", METRICS_GAUGE,
                "Clients waiting for a lock, all locks.",
                (double)lock_waiters(table));
    metrics_set(m, "tincan_lock_grants_total", METRICS_COUNTER,
                "New fencing tokens handed out since start.", (double)stats.grants);
    metrics_set(m, "tincan_lock_releases_total", METRICS_COUNTER,
                "Locks released by LOCK.RELEASE since start.",
                (double)stats.releases);
    metrics_set(m, "tincan_lock_expired_total", METRICS_COUNTER,
                "Leases that ran out since start.", (double)stats.expired);
    cmd_journal_metrics(m, &jm);
}

const struct module lock_module = {
    .name = "lock",
    .commands = lock_commands,
    .ncommands = ARRAY_LEN(lock_commands),
    .config = lock_config,
    .nconfig = ARRAY_LEN(lock_config),
    .start = lock_start,
    .stop = lock_stop,
    .info = lock_info_section,
    .metrics = lock_metrics,
    .compact = lock_compact,
};
