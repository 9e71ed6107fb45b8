/* cmd_bus.c - EV.SUB ... EV.SUBS: topic subscriptions over the event store,
 * and the bus module's I/O: the state journal, the deadline timer, blocked
 * readers and the link to the store.
 *
 * The subscription logic is bus.c (pure). This file parses arguments, calls
 * it, replies, and owns what is around it:
 *   - every change of a durable subscription is a record in the journal
 *     <dir>/bus.*.{ckpt,log}; the replies of EV.SUB, EV.UNSUB, EV.ACK,
 *     EV.NACK, EV.REDRIVE and EV.REPLAY are held until the fdatasync covering
 *     their records (group commit), so an acked event never comes back after
 *     a crash. Deliveries (cursor moves + new pending entries, one record per
 *     read) and expiries are written at once (they survive kill -9) but ask
 *     for no fdatasync of their own: the next held reply's sync covers them,
 *     and losing one to a power cut only means a redelivery;
 *   - one libuv timer is armed at the earliest ack deadline or NACK delay, so
 *     missed deadlines redeliver by themselves (nobody polls);
 *   - EV.READ ... BLOCK parks the client (client_block) in one FIFO list;
 *     parked readers are served, oldest first, whenever the store says new
 *     events are visible (after their fsync under --fsync always) and after
 *     every change that made entries deliverable again;
 *   - ephemeral subscriptions are never journaled and vanish when the last
 *     connection that created or read them is gone.
 * Events are read through the store adapter below (store.h, cmd_store.h);
 * replies show each event exactly as EV.GET does, plus fields.
 * Recovery: the journal is replayed (deliveries that were held keep their
 * consumer and wall-clock deadline), then a checkpoint compacts it. */
#include "cmd_bus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h" /* client_by_id(): is a linked connection still open */
#include "clock.h"
#include "cmd_entity.h"
#include "cmd_store.h"
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
#include "snapshot.h"
#include "store.h"
#include "topic.h"

#define BUS_JOURNAL_NAME "bus"
#define BUS_DELAY_MAX    86400000LL /* ms, one day */
#define BUS_BLOCK_MAX    86400000LL /* ms */
#define BUS_COUNT_MAX    10000      /* events of one READ/PENDING/DEAD */
#define BUS_LIST_DEFAULT 100        /* PENDING/DEAD without COUNT */

/* ---- the store adapter ----
 * The only place that calls the store. The storage engine (store.h) answers
 * pattern and time queries; the store module (cmd_store.h) owns the one open
 * store, knows what is synced, wakes us on publish and writes EV.GET replies.
 */

static int store_linked(void)
{
    return store_default() != NULL;
}

static int src_next(void *ctx, const struct bus_pattern *pats, size_t npats,
                    uint64_t after, uint64_t until, uint64_t *pos)
{
    (void)ctx;
    const char *p[BUS_PATTERNS_MAX];
    size_t l[BUS_PATTERNS_MAX];
    for (size_t i = 0; i < npats && i < BUS_PATTERNS_MAX; i++) {
        p[i] = pats[i].p;
        l[i] = pats[i].len;
    }
    return store_next_match(store_default(), p, l, npats, after, until, pos);
}

static uint64_t src_visible(void *ctx)
{
    (void)ctx;
    return store_visible();
}

static int first_visit(void *ctx, const struct segment_record *r)
{
    *(uint64_t *)ctx = r->position;
    return 1;
}

/* The last position whose event time is < time_ms (ms, wall clock). */
static uint64_t position_before(uint64_t time_ms)
{
    struct store_query q = {0};
    uint64_t first = 0;
    q.pattern = "#";
    q.pattern_len = 1;
    q.to_pos = UINT64_MAX;
    q.from_time = time_ms;
    q.to_time = UINT64_MAX;
    q.count = 1;
    if (store_range(store_default(), &q, first_visit, &first) < 0 || !first)
        return store_visible(); /* nothing at or after that time */
    return first - 1;
}

static const struct bus_source source = {NULL, src_next, src_visible};

/* ---- state ---- */

/* A client parked in EV.READ ... BLOCK. */
struct waiter {
    struct client *c;
    char *sub;                  /* owned name of the subscription */
    size_t sub_len;             /* bytes */
    char *consumer;             /* owned consumer name */
    size_t consumer_len;        /* bytes */
    size_t count;               /* events wanted */
    struct waiter *prev, *next; /* FIFO: oldest first */
};

/* A connection that created or read an ephemeral subscription. */
struct eph_link {
    uint64_t client; /* client_id() */
    char *sub;       /* owned subscription name */
    size_t sub_len;
    char *consumer; /* owned consumer name, NULL for the creator */
    size_t consumer_len;
    struct eph_link *next;
};

static struct bus_set *set;
static struct cmd_journal jm = {.what = "bus"}; /* journal + reply glue */
static uv_timer_t *timer;                       /* fires at the next deadline */
static uv_timer_t *gc_timer; /* runs gc() on the loop after a close */
static struct waiter *wait_head, *wait_tail;
static size_t nwaiters;
static struct eph_link *links;
static int wake;            /* something may have become deliverable
                               since parked readers were last served */
static uint64_t replay_now; /* ms, monotonic, during recovery */

static struct {
    uint64_t delivered; /* events handed to consumers */
    uint64_t acks;
    uint64_t nacks;
    uint64_t redriven;
    uint64_t replays; /* EV.REPLAY ranges and position lists added */
    uint64_t blocked; /* clients that parked */
    uint64_t block_timeouts;
    uint64_t wakeups;     /* visibility callbacks from the store */
    uint64_t read_errors; /* events that could not be read for a reply */
} stats;

/* ---- helpers ---- */

static void update_wall_offset(void)
{
    bus_set_wall_offset(set,
                        (int64_t)clock_wall_ms() - (int64_t)clock_mono_ms());
}

/* Settles due deadlines; parked readers are worth serving if any entry
 * became deliverable. Every bus_read settles deadlines itself too, so call
 * this first wherever readers are served from. */
static void tick(uint64_t now)
{
    if (bus_tick(set, now))
        wake = 1;
}

static int store_ok(struct client *c)
{
    if (store_linked())
        return 0;
    reply_error(c, "ERR event store not available");
    return -1;
}

static int walk(void *ctx, struct journal_ckpt *w)
{
    (void)ctx;
    update_wall_offset();
    return bus_checkpoint(set, JOURNAL_MAX_RECORD / 4, cmd_journal_emit, w);
}

static void on_record(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    (void)ctx;
    cmd_journal_append(&jm, type, p, n);
}

static const struct bus_hooks hooks = {NULL, on_record};

static void reply_nosub(struct client *c, const char *name, size_t len)
{
    char q[300];
    reply_errorf(c, "NOSUB no such subscription '%s'",
                 arg_printable(q, sizeof(q), name, len));
}

/* "-ERR position 42 is not pending in 'x'", plus what the position is when
 * the subscription knows it (e.g. "(it is ready for redelivery)"). */
static void reply_not_pending(struct client *c, uint64_t pos,
                              const struct bus_sub *sub, const char *what)
{
    size_t len;
    const char *name = bus_sub_name(sub, &len);
    const struct bus_entry *e = bus_entry_find(sub, pos);
    const char *state = "";
    if (e && e->state == BUS_READY)
        state = " (it is ready for redelivery)";
    else if (e && e->state == BUS_DELAYED)
        state = " (it is delayed after a NACK)";
    else if (e && e->state == BUS_DEAD)
        state = " (it is a dead letter)";
    else if (e && e->state == BUS_HELD)
        state = " (it is delivered)";
    char q[300];
    reply_errorf(c, "ERR position %" PRIu64 " is not %s in '%s'%s", pos, what,
                 arg_printable(q, sizeof(q), name, len), state);
}

/* ---- replies ---- */

/* Writes one event as EV.GET gives it plus deliveries (and reason if
 * with_reason); returns 0, or -1 if the event could not be read. */
static int reply_event(struct client *c, const struct bus_entry *e,
                       int with_reason)
{
    int rc = store_reply_event(c, e->pos, with_reason ? 2 : 1);
    if (rc < 0) {
        stats.read_errors++;
        log_ratelimited(LOG_WARN,
                        "bus: event %" PRIu64 " could not be read: %s", e->pos,
                        error_text(rc));
        return -1;
    }
    reply_cstr(c, "deliveries");
    reply_uint(c, e->deliveries);
    if (with_reason) {
        reply_cstr(c, "reason");
        if (e->reason)
            reply_bulk(c, e->reason, e->reason_len);
        else
            reply_null(c);
    }
    return 0;
}

static void reply_events(struct client *c, struct bus_entry **es, size_t n,
                         int with_reason)
{
    size_t h = reply_array_begin(c);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += reply_event(c, es[i], with_reason) == 0;
    reply_array_end(c, h, ok);
}

/* ---- ephemeral links ---- */

static void link_add(uint64_t client, const char *sub, size_t sub_len,
                     const char *consumer, size_t consumer_len)
{
    for (struct eph_link *l = links; l; l = l->next)
        if (l->client == client && l->sub_len == sub_len &&
            memcmp(l->sub, sub, sub_len) == 0 &&
            (consumer ? l->consumer && l->consumer_len == consumer_len &&
                            memcmp(l->consumer, consumer, consumer_len) == 0
                      : !l->consumer))
            return;
    struct eph_link *l = xcalloc(1, sizeof(*l));
    l->client = client;
    l->sub = xmemdup(sub, sub_len);
    l->sub_len = sub_len;
    if (consumer) {
        l->consumer = xmemdup(consumer, consumer_len);
        l->consumer_len = consumer_len;
    }
    l->next = links;
    links = l;
}

static void link_free(struct eph_link *l)
{
    free(l->sub);
    free(l->consumer);
    free(l);
}

/* Drops every link of a subscription (it was removed). */
static void links_drop_sub(const char *sub, size_t sub_len)
{
    struct eph_link **pp = &links;
    while (*pp) {
        struct eph_link *l = *pp;
        if (l->sub_len == sub_len && memcmp(l->sub, sub, sub_len) == 0) {
            *pp = l->next;
            link_free(l);
        } else {
            pp = &l->next;
        }
    }
}

/* ---- parked readers ---- */

static void waiter_unlink(struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        wait_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        wait_tail = w->prev;
    nwaiters--;
    free(w->sub);
    free(w->consumer);
    free(w);
}

/* Ends the block of every reader of a removed subscription with -NOSUB. */
static void fail_waiters(const char *name, size_t len)
{
    struct waiter *next;
    for (struct waiter *w = wait_head; w; w = next) {
        next = w->next;
        if (w->sub_len != len || memcmp(w->sub, name, len) != 0)
            continue;
        struct client *c = w->c;
        reply_nosub(c, name, len);
        waiter_unlink(w);
        client_unblock(c);
    }
}

/* Reads for one parked client; 1 if it was answered. */
static int serve_one(struct waiter *w, struct bus_sub *sub, uint64_t now)
{
    struct bus_entry **es = xmalloc(w->count * sizeof(*es));
    int n = bus_read(set, sub, w->consumer, w->consumer_len, w->count, &source,
                     now, es);
    if (n > 0) {
        struct client *c = w->c;
        stats.delivered += (uint64_t)n;
        reply_events(c, es, (size_t)n, 0);
        waiter_unlink(w);
        client_unblock(c);
    }
    free(es);
    return n > 0;
}

/* Serves parked readers, oldest first. A subscription found with nothing to
 * deliver is skipped for the rest of the pass. */
static void serve(void)
{
    if (!wait_head || !wake || !store_linked())
        return;
    uint64_t now = clock_mono_ms();
    jm.hook_err = 0;
    tick(now);
    wake = 0; /* this pass serves whatever is deliverable now */
    struct bus_sub *dry[32];
    size_t ndry = 0;
    struct waiter *next;
    for (struct waiter *w = wait_head; w; w = next) {
        next = w->next;
        struct bus_sub *sub = bus_find(set, w->sub, w->sub_len);
        int skip = !sub;
        for (size_t i = 0; i < ndry && !skip; i++)
            skip = dry[i] == sub;
        if (skip)
            continue;
        if (!serve_one(w, sub, now) && ndry < ARRAY_LEN(dry))
            dry[ndry++] = sub;
    }
    jm.hook_err = 0;
    /* no sync requested for deliveries: the next held reply's fdatasync
     * covers them (a power cut before that only means a redelivery) */
}

static void on_block_timeout(struct client *c, void *ctx)
{
    stats.block_timeouts++;
    waiter_unlink(ctx);
    reply_array(c, 0);
}

static void on_block_disconnect(struct client *c, void *ctx)
{
    (void)c;
    waiter_unlink(ctx);
}

/* ---- timers ---- */

static void arm(void);

static void on_timer(uv_timer_t *t)
{
    (void)t;
    update_wall_offset();
    jm.hook_err = 0;
    wake = 1;
    tick(clock_mono_ms());
    serve();
    jm.hook_err = 0;
    arm();
    cmd_journal_maybe_checkpoint(&jm);
}

static void arm(void)
{
    uint64_t deadline;
    if (timer)
        cmd_timer_arm(timer, on_timer,
                      bus_next_deadline(set, &deadline) ? &deadline : NULL);
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

/* Removes links of clients that are gone: their consumers leave (an
 * ephemeral subscription with no consumer left vanishes), and an ephemeral
 * subscription no live connection created or read is removed. */
static void gc(void)
{
    int changed = 0;
    struct eph_link **pp = &links;
    while (*pp) {
        struct eph_link *l = *pp;
        if (client_by_id(l->client)) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        changed = 1;
        struct bus_sub *sub = bus_find(set, l->sub, l->sub_len);
        int shared = 0;
        for (struct eph_link *o = links; o && l->consumer; o = o->next)
            shared |= o->consumer && o->sub_len == l->sub_len &&
                      memcmp(o->sub, l->sub, l->sub_len) == 0 &&
                      o->consumer_len == l->consumer_len &&
                      memcmp(o->consumer, l->consumer, l->consumer_len) == 0;
        if (sub && l->consumer && !shared &&
            bus_consumer_remove(set, sub, l->consumer, l->consumer_len) == 1) {
            fail_waiters(l->sub, l->sub_len);
            links_drop_sub(l->sub, l->sub_len);
            link_free(l);
            pp = &links; /* the list changed under us */
            continue;
        }
        link_free(l);
    }
    /* ephemeral subscriptions nobody alive is linked to */
    for (size_t i = 0; i < bus_count(set);) {
        struct bus_sub *sub = bus_at(set, i);
        struct bus_sub_info in;
        bus_sub_info(sub, &in);
        int linked = 0;
        for (struct eph_link *l = links; l && !linked; l = l->next)
            linked = l->sub_len == in.name_len &&
                     memcmp(l->sub, in.name, in.name_len) == 0;
        if (!in.ephemeral || linked) {
            i++;
            continue;
        }
        char *name = xmemdup(in.name, in.name_len);
        size_t len = in.name_len;
        bus_unsub(set, name, len);
        fail_waiters(name, len);
        free(name);
        changed = 1;
    }
    if (changed) {
        wake = 1;
        after_change();
    }
}

static void on_gc_timer(uv_timer_t *t)
{
    (void)t;
    gc();
}

/* A connection closed (net hook): if it was linked to an ephemeral
 * subscription, collect on the next loop turn, outside the close. */
static void on_client_closed(void *ctx, uint64_t id)
{
    (void)ctx;
    for (struct eph_link *l = links; l; l = l->next)
        if (l->client == id) {
            if (gc_timer)
                uv_timer_start(gc_timer, on_gc_timer, 0, 0);
            return;
        }
}

/* ---- store visibility ---- */

static void on_visible(void *ctx, uint64_t visible)
{
    (void)ctx;
    (void)visible;
    stats.wakeups++;
    if (!set)
        return;
    wake = 1;
    serve();
    arm();
}

/* ---- argument parsing ---- */

static int parse_pos(struct client *c, const struct arg *a, uint64_t *out)
{
    int64_t v;
    if (arg_parse_i64(a->ptr, a->len, &v) == 0 && v >= 1) {
        *out = (uint64_t)v;
        return 0;
    }
    char q[64];
    reply_errorf(c, "ERR position must be a positive integer (got '%s')",
                 arg_printable(q, sizeof(q), a->ptr, a->len));
    return -1;
}

static int parse_pattern(struct client *c, const struct arg *a)
{
    char why[128], q[300];
    if (topic_pattern_check(a->ptr, a->len, why, sizeof(why)) == 0)
        return 0;
    reply_errorf(c, "ERR invalid pattern '%s': %s",
                 arg_printable(q, sizeof(q), a->ptr, a->len), why);
    return -1;
}

enum point_kind { POINT_FROM, POINT_TO };

/* A start or end point: BEGINNING (FROM only), NOW, <ms> (wall-clock time)
 * or @<position>. FROM gives the last position NOT included, TO the last
 * position included (never past what is visible). */
static int parse_point(struct client *c, const struct arg *a,
                       enum point_kind kind, uint64_t *out)
{
    uint64_t visible = store_visible();
    int64_t v;
    char q[64];
    if (kind == POINT_FROM && arg_is(a, "beginning")) {
        *out = 0;
        return 0;
    }
    if (arg_is(a, "now")) {
        *out = visible;
        return 0;
    }
    if (a->len > 1 && a->ptr[0] == '@') {
        if (arg_parse_i64(a->ptr + 1, a->len - 1, &v) == 0 && v >= 1) {
            uint64_t p = (uint64_t)v;
            if (kind == POINT_FROM)
                *out = p - 1;
            else
                *out = p < visible ? p : visible;
            return 0;
        }
    } else if (arg_parse_i64(a->ptr, a->len, &v) == 0 && v >= 0) {
        uint64_t t = (uint64_t)v;
        if (kind == POINT_FROM)
            *out = position_before(t);
        else
            *out = t == UINT64_MAX ? visible : position_before(t + 1);
        if (*out > visible)
            *out = visible;
        return 0;
    }
    reply_errorf(c, "ERR %s must be %s a time in ms or @position (got '%s')",
                 kind == POINT_FROM ? "FROM" : "TO",
                 kind == POINT_FROM ? "BEGINNING, NOW," : "NOW,",
                 arg_printable(q, sizeof(q), a->ptr, a->len));
    return -1;
}

/* The subscription named by argv[i]; replies -NOSUB and returns NULL if
 * there is none. */
static struct bus_sub *find_sub(struct client *c, const struct arg *a)
{
    if (arg_len(c, a, "subscription name", BUS_NAME_MAX) < 0)
        return NULL;
    struct bus_sub *sub = bus_find(set, a->ptr, a->len);
    if (!sub)
        reply_nosub(c, a->ptr, a->len);
    return sub;
}

static int is_sub_option(const struct arg *a)
{
    return arg_is(a, "from") || arg_is(a, "ackwait") ||
           arg_is(a, "maxdeliver") || arg_is(a, "ephemeral");
}

/* FROM SNAPSHOT name: the subscription starts after the snapshot's position
 * with the snapshot's events of the types it is bound to as its first replay
 * (*boot, the caller's to free). Replies the error and returns -1 if there is
 * no such snapshot or its part would not fit one journal record. */
static int snapshot_part(struct client *c, const struct arg *name,
                         struct bus_sub_args *a, uint64_t **boot)
{
    char pr[80];
    const struct snap *sn = entity_snapshot_find(name->ptr, name->len);
    if (!sn) {
        reply_errorf(c, "ERR no snapshot '%s'",
                     arg_printable(pr, sizeof(pr), name->ptr, name->len));
        return -1;
    }
    uint8_t *take = xcalloc(sn->ntypes ? sn->ntypes : 1, 1);
    for (uint32_t t = 0; t < sn->ntypes; t++)
        for (size_t k = 0; k < a->npats && !take[t]; k++)
            take[t] = (uint8_t)topic_match(a->pats[k].p, a->pats[k].len,
                                           sn->types[t], sn->type_lens[t]);
    uint64_t *pos = xmalloc((sn->n ? sn->n : 1) * sizeof(*pos)), prev = 0;
    size_t n = 0, bytes = 0;
    for (uint64_t i = 0; i < sn->n; i++) {
        if (!take[sn->type[i]])
            continue;
        for (uint64_t d = sn->pos[i] - prev; d; d >>= 7)
            bytes++; /* its varint in the subscription's record */
        prev = pos[n++] = sn->pos[i];
    }
    free(take);
    if (bytes + 65536 > JOURNAL_MAX_RECORD) {
        free(pos);
        reply_errorf(c,
                     "ERR snapshot '%s' has %zu events for this subscription: more "
                     "than one journal record holds (take it with a narrower pattern)",
                     arg_printable(pr, sizeof(pr), name->ptr, name->len), n);
        return -1;
    }
    a->cursor = sn->position;
    a->boot = pos;
    a->nboot = n;
    *boot = pos;
    return 0;
}

/* ---- commands ---- */

/* EV.SUB name pattern [pattern ...] [FROM ...] [ACKWAIT ms] [MAXDELIVER n]
 * [EPHEMERAL] */
static void cmd_ev_sub(struct client *c, int argc, struct arg *argv)
{
    struct bus_pattern pats[BUS_PATTERNS_MAX];
    struct bus_sub_args a = {0};
    const struct arg *snap_name = NULL;
    int64_t v;
    if (store_ok(c) < 0 ||
        arg_len(c, &argv[1], "subscription name", BUS_NAME_MAX) < 0)
        return;
    int i = 2;
    for (; i < argc && !is_sub_option(&argv[i]); i++) {
        if (parse_pattern(c, &argv[i]) < 0)
            return;
        if (a.npats == BUS_PATTERNS_MAX) {
            reply_errorf(c, "ERR too many patterns (at most %d)",
                         BUS_PATTERNS_MAX);
            return;
        }
        pats[a.npats].p = argv[i].ptr;
        pats[a.npats].len = argv[i].len;
        a.npats++;
    }
    if (a.npats == 0) {
        reply_error(c, "ERR EV.SUB needs at least one pattern");
        return;
    }
    a.cursor = store_visible(); /* FROM NOW */
    for (; i < argc; i++) {
        const struct arg *o = &argv[i];
        const struct arg *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (arg_is(o, "ephemeral")) {
            a.ephemeral = 1;
            continue;
        }
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        i++;
        if (arg_is(o, "from") && arg_is(val, "snapshot")) {
            if (i + 1 >= argc) {
                reply_error(c, "ERR FROM SNAPSHOT needs a snapshot name");
                return;
            }
            snap_name = &argv[++i];
        } else if (arg_is(o, "from")) {
            if (parse_point(c, val, POINT_FROM, &a.cursor) < 0)
                return;
        } else if (arg_is(o, "ackwait")) {
            if (arg_range(c, val, "ACKWAIT", 1, BUS_ACKWAIT_MAX, "ms", &v) <
                0)
                return;
            a.ackwait = (uint64_t)v;
        } else if (arg_is(o, "maxdeliver")) {
            if (arg_range(c, val, "MAXDELIVER", 1, BUS_MAXDELIVER_MAX, "",
                            &v) < 0)
                return;
            a.maxdeliver = (uint32_t)v;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    if (!a.ephemeral && cmd_journal_writable(&jm, c) < 0)
        return;
    a.name = argv[1].ptr;
    a.name_len = argv[1].len;
    a.pats = pats;
    uint64_t *boot = NULL;
    if (snap_name && snapshot_part(c, snap_name, &a, &boot) < 0)
        return;
    struct bus_sub *sub;
    char err[300];
    jm.hook_err = 0;
    int rc = bus_sub(set, &a, &sub, err, sizeof(err));
    free(boot);
    if (rc < 0) {
        reply_errorf(c, "ERR %s", err);
        return;
    }
    wake = 1; /* new bindings may match stored events */
    if (cmd_journal_check(&jm, c) == 0) {
        if (a.ephemeral)
            link_add(client_id(c), a.name, a.name_len, NULL, 0);
        reply_int(c, rc);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

/* EV.UNSUB name */
static void cmd_ev_unsub(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (!find_sub(c, &argv[1]) || cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    bus_unsub(set, argv[1].ptr, argv[1].len);
    links_drop_sub(argv[1].ptr, argv[1].len);
    fail_waiters(argv[1].ptr, argv[1].len);
    if (cmd_journal_check(&jm, c) == 0) {
        reply_int(c, 1);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

/* EV.READ name consumer [COUNT n] [BLOCK ms] */
static void cmd_ev_read(struct client *c, int argc, struct arg *argv)
{
    int64_t count = 1, block = -1;
    if (store_ok(c) < 0 ||
        arg_len(c, &argv[2], "consumer name", BUS_CONSUMER_MAX) < 0)
        return;
    struct bus_sub *sub = find_sub(c, &argv[1]);
    if (!sub)
        return;
    for (int i = 3; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        if (arg_is(o, "count")) {
            if (arg_range(c, val, "COUNT", 1, BUS_COUNT_MAX, "", &count) < 0)
                return;
        } else if (arg_is(o, "block")) {
            if (arg_range(c, val, "BLOCK", 0, BUS_BLOCK_MAX, "ms", &block) <
                0)
                return;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    if (client_in_exec(c))
        block = -1; /* nothing blocks inside EXEC: as if BLOCK timed out now */
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    if (!in.ephemeral && cmd_journal_writable(&jm, c) < 0)
        return;
    if (in.ephemeral)
        link_add(client_id(c), argv[1].ptr, argv[1].len, argv[2].ptr,
                 argv[2].len);
    struct bus_entry **es = xmalloc((size_t)count * sizeof(*es));
    uint64_t now = clock_mono_ms();
    jm.hook_err = 0;
    tick(now);
    int n = bus_read(set, sub, argv[2].ptr, argv[2].len, (size_t)count, &source,
                     now, es);
    if (n < 0) {
        reply_errorf(c, "IOERR reading the event store: %s", error_text(n));
    } else if (cmd_journal_check(&jm, c) < 0) {
        /* the deliveries stand in memory; their records are missing */
    } else if (n > 0 || block < 0) {
        stats.delivered += (uint64_t)n;
        reply_events(c, es, (size_t)n, 0);
    } else {
        struct waiter *w = xcalloc(1, sizeof(*w));
        w->c = c;
        w->sub = xmemdup(argv[1].ptr, argv[1].len);
        w->sub_len = argv[1].len;
        w->consumer = xmemdup(argv[2].ptr, argv[2].len);
        w->consumer_len = argv[2].len;
        w->count = (size_t)count;
        w->prev = wait_tail;
        if (wait_tail)
            wait_tail->next = w;
        else
            wait_head = w;
        wait_tail = w;
        nwaiters++;
        stats.blocked++;
        client_block(c, (uint64_t)block, on_block_timeout, on_block_disconnect,
                     w);
    }
    free(es);
    after_change();
}

/* Parses positions argv[from..argc) into a new array (*out, caller frees). */
static int parse_positions(struct client *c, int argc, struct arg *argv,
                           int from, uint64_t **out)
{
    uint64_t *p = xmalloc((size_t)(argc - from + 1) * sizeof(*p));
    for (int i = from; i < argc; i++)
        if (parse_pos(c, &argv[i], &p[i - from]) < 0) {
            free(p);
            return -1;
        }
    *out = p;
    return 0;
}

/* EV.ACK name position [position ...] */
static void cmd_ev_ack(struct client *c, int argc, struct arg *argv)
{
    struct bus_sub *sub = find_sub(c, &argv[1]);
    uint64_t *pos;
    if (!sub || parse_positions(c, argc, argv, 2, &pos) < 0)
        return;
    if (cmd_journal_writable(&jm, c) < 0) {
        free(pos);
        return;
    }
    jm.hook_err = 0;
    size_t n = bus_ack(set, sub, pos, (size_t)(argc - 2));
    stats.acks += n;
    free(pos);
    if (cmd_journal_check(&jm, c) == 0) {
        reply_uint(c, n);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

/* EV.NACK name position [DELAY ms] [REASON text] */
static void cmd_ev_nack(struct client *c, int argc, struct arg *argv)
{
    int64_t delay = 0;
    uint64_t pos;
    const struct arg *reason = NULL;
    struct bus_sub *sub = find_sub(c, &argv[1]);
    if (!sub || parse_pos(c, &argv[2], &pos) < 0)
        return;
    for (int i = 3; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        if (arg_is(o, "delay")) {
            if (arg_range(c, val, "DELAY", 0, BUS_DELAY_MAX, "ms", &delay) <
                0)
                return;
        } else if (arg_is(o, "reason")) {
            reason = val;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    if (cmd_journal_writable(&jm, c) < 0)
        return;
    jm.hook_err = 0;
    uint64_t now = clock_mono_ms();
    tick(now); /* a deadline that passed is lost, timer or not */
    struct bus_entry *e;
    int rc =
        bus_nack(set, sub, pos, (uint64_t)delay, reason ? reason->ptr : NULL,
                 reason ? reason->len : 0, now, &e);
    if (cmd_journal_check(&jm, c) == 0) {
        if (rc < 0) {
            reply_not_pending(c, pos, sub, "pending");
        } else {
            stats.nacks++;
            wake = 1;
            reply_cstr(c, bus_state_name(e->state));
        }
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

/* EV.TOUCH name position [position ...] */
static void cmd_ev_touch(struct client *c, int argc, struct arg *argv)
{
    struct bus_sub *sub = find_sub(c, &argv[1]);
    uint64_t *pos;
    if (!sub || parse_positions(c, argc, argv, 2, &pos) < 0)
        return;
    jm.hook_err = 0;
    uint64_t now = clock_mono_ms();
    tick(now);
    int n = argc - 2;
    for (int i = 0; i < n; i++) {
        const struct bus_entry *e = bus_entry_find(sub, pos[i]);
        if (!e || e->state != BUS_HELD) {
            reply_not_pending(c, pos[i], sub, "pending");
            goto out;
        }
    }
    for (int i = 0; i < n; i++) {
        struct bus_entry *e;
        bus_touch(set, sub, pos[i], now, &e);
    }
    if (cmd_journal_check(&jm, c) == 0)
        reply_int(c, n);
out:
    free(pos);
    after_change();
}

/* EV.PENDING name [consumer] [COUNT n] */
static void cmd_ev_pending(struct client *c, int argc, struct arg *argv)
{
    int64_t count = BUS_LIST_DEFAULT;
    const struct arg *consumer = NULL;
    struct bus_sub *sub = find_sub(c, &argv[1]);
    if (!sub)
        return;
    int i = 2;
    if (i < argc && !(arg_is(&argv[i], "count") && i + 1 < argc)) {
        consumer = &argv[i++];
        if (arg_len(c, consumer, "consumer name", BUS_CONSUMER_MAX) < 0)
            return;
    }
    for (; i < argc; i += 2) {
        if (i + 1 < argc && arg_is(&argv[i], "count")) {
            if (arg_range(c, &argv[i + 1], "COUNT", 1, BUS_COUNT_MAX, "",
                            &count) < 0)
                return;
        } else {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    uint64_t now = clock_mono_ms(), wall = clock_wall_ms();
    jm.hook_err = 0;
    tick(now);
    struct bus_entry **es = xmalloc((size_t)count * sizeof(*es));
    size_t n = bus_pending(sub, consumer ? consumer->ptr : NULL,
                           consumer ? consumer->len : 0, (size_t)count, es);
    reply_array(c, n);
    for (size_t k = 0; k < n; k++) {
        const struct bus_entry *e = es[k];
        reply_map(c, 7);
        reply_cstr(c, "position");
        reply_uint(c, e->pos);
        reply_cstr(c, "consumer");
        if (e->consumer) {
            size_t cl;
            const char *cn = bus_consumer_name(e->consumer, &cl);
            reply_bulk(c, cn, cl);
        } else {
            reply_null(c);
        }
        reply_cstr(c, "state");
        reply_cstr(c, bus_state_name(e->state));
        reply_cstr(c, "deliveries");
        reply_uint(c, e->deliveries);
        reply_cstr(c, "idle_ms");
        reply_uint(c, e->delivered_at && now > e->delivered_at
                          ? now - e->delivered_at
                          : 0);
        reply_cstr(c, "deadline");
        if (e->state == BUS_READY)
            reply_null(c);
        else
            reply_uint(c, clock_mono_to_wall(e->deadline, now, wall));
        reply_cstr(c, "reason");
        if (e->reason)
            reply_bulk(c, e->reason, e->reason_len);
        else
            reply_null(c);
    }
    free(es);
    after_change();
}

/* EV.DEAD name [COUNT n] */
static void cmd_ev_dead(struct client *c, int argc, struct arg *argv)
{
    int64_t count = BUS_LIST_DEFAULT;
    struct bus_sub *sub = find_sub(c, &argv[1]);
    if (!sub || store_ok(c) < 0)
        return;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 < argc && arg_is(&argv[i], "count")) {
            if (arg_range(c, &argv[i + 1], "COUNT", 1, BUS_COUNT_MAX, "",
                            &count) < 0)
                return;
        } else {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    struct bus_entry **es = xmalloc((size_t)count * sizeof(*es));
    size_t n = bus_dead(sub, (size_t)count, es);
    reply_events(c, es, n, 1);
    free(es);
}

/* EV.REDRIVE name [position ...|ALL] */
static void cmd_ev_redrive(struct client *c, int argc, struct arg *argv)
{
    struct bus_sub *sub = find_sub(c, &argv[1]);
    if (!sub)
        return;
    int all = argc == 2 || (argc == 3 && arg_is(&argv[2], "all"));
    uint64_t *pos = NULL;
    if (!all) {
        if (parse_positions(c, argc, argv, 2, &pos) < 0)
            return;
        for (int i = 0; i < argc - 2; i++) {
            const struct bus_entry *e = bus_entry_find(sub, pos[i]);
            if (!e || e->state != BUS_DEAD) {
                reply_not_pending(c, pos[i], sub, "a dead letter");
                free(pos);
                return;
            }
        }
    }
    if (cmd_journal_writable(&jm, c) < 0) {
        free(pos);
        return;
    }
    jm.hook_err = 0;
    uint64_t n = 0;
    if (all) {
        n = bus_redrive_all(set, sub);
    } else {
        for (int i = 0; i < argc - 2; i++)
            n += bus_redrive(set, sub, pos[i]) == 0;
    }
    free(pos);
    stats.redriven += n;
    wake = 1;
    if (cmd_journal_check(&jm, c) == 0) {
        reply_uint(c, n);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

/* The largest BUS_REC_REPLAY_POS record: name, id, after, count and a varint
 * of at most 10 bytes per position. */
_Static_assert(
    2 + BUS_NAME_MAX + 8 + 8 + 4 + 10ull * BUS_REPLAY_POSITIONS_MAX <=
        JOURNAL_MAX_RECORD,
    "a positions replay of the maximum size fits one journal record");

/* A whole decimal u64 (digits only). 0 and *out, or -1. */
static int parse_u64(const struct arg *a, uint64_t *out)
{
    uint64_t v = 0;
    if (a->len == 0)
        return -1;
    for (size_t i = 0; i < a->len; i++) {
        unsigned d = (unsigned)(unsigned char)a->ptr[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* EV.REPLAY name POSITIONS position [position ...]: all or nothing; every
 * position must be a stored event that is visible (synced under fsync
 * always), checked in argument order so the error names the first bad one. */
static void replay_positions(struct client *c, struct bus_sub *sub, int argc,
                             struct arg *argv)
{
    size_t n = argc > 3 ? (size_t)(argc - 3) : 0;
    if (n == 0) {
        reply_error(c, "ERR POSITIONS needs at least one position");
        return;
    }
    if (n > BUS_REPLAY_POSITIONS_MAX) {
        reply_errorf(c, "ERR too many positions (at most %d, got %zu)",
                     BUS_REPLAY_POSITIONS_MAX, n);
        return;
    }
    uint64_t visible = store_visible(), lo = UINT64_MAX, hi = 0;
    uint64_t *pos = xmalloc(n * sizeof(*pos));
    for (size_t i = 0; i < n; i++) {
        const struct arg *a = &argv[3 + i];
        uint64_t p;
        if (parse_u64(a, &p) < 0 || p == 0) {
            char q[64];
            reply_errorf(c,
                         "ERR position must be a positive integer (got '%s')",
                         arg_printable(q, sizeof(q), a->ptr, a->len));
            goto out;
        }
        int rc = p <= visible ? store_has(store_default(), p) : 0;
        if (rc < 0) {
            reply_errorf(c, "IOERR reading the event store: %s",
                         error_text(rc));
            goto out;
        }
        if (rc == 0) {
            reply_errorf(c, "ERR position %" PRIu64 " is not a stored event",
                         p);
            goto out;
        }
        pos[i] = p;
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
    }
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    if (!in.ephemeral && cmd_journal_writable(&jm, c) < 0)
        goto out;
    jm.hook_err = 0;
    size_t distinct = 0;
    uint64_t id = bus_replay_positions(set, sub, pos, n, &distinct);
    stats.replays++;
    wake = 1;
    if (cmd_journal_check(&jm, c) == 0) {
        reply_map(c, 4);
        reply_cstr(c, "replay_id");
        reply_uint(c, id);
        reply_cstr(c, "from_position");
        reply_uint(c, lo);
        reply_cstr(c, "to_position");
        reply_uint(c, hi);
        reply_cstr(c, "count");
        reply_uint(c, distinct);
        cmd_journal_hold(&jm, c);
    }
    free(pos);
    after_change();
    return;
out:
    free(pos);
}

/* EV.REPLAY name pattern [FROM point] [TO point]
 * EV.REPLAY name POSITIONS position [position ...] */
static void cmd_ev_replay(struct client *c, int argc, struct arg *argv)
{
    uint64_t after = 0, to;
    if (store_ok(c) < 0)
        return;
    struct bus_sub *sub = find_sub(c, &argv[1]);
    if (!sub)
        return;
    if (arg_is(&argv[2], "positions")) {
        replay_positions(c, sub, argc, argv);
        return;
    }
    if (parse_pattern(c, &argv[2]) < 0)
        return;
    to = store_visible();
    for (int i = 3; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        if (arg_is(o, "from")) {
            if (parse_point(c, val, POINT_FROM, &after) < 0)
                return;
        } else if (arg_is(o, "to")) {
            if (parse_point(c, val, POINT_TO, &to) < 0)
                return;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    if (!in.ephemeral && cmd_journal_writable(&jm, c) < 0)
        return;
    if (to < after)
        to = after; /* an empty range */
    struct bus_pattern p = {argv[2].ptr, argv[2].len};
    jm.hook_err = 0;
    uint64_t id = bus_replay(set, sub, &p, after, to);
    stats.replays++;
    wake = 1;
    if (cmd_journal_check(&jm, c) == 0) {
        reply_map(c, 3);
        reply_cstr(c, "replay_id");
        reply_uint(c, id);
        reply_cstr(c, "from_position");
        reply_uint(c, after + 1);
        reply_cstr(c, "to_position");
        reply_uint(c, to);
        cmd_journal_hold(&jm, c);
    }
    after_change();
}

int bus_sub_exists(const char *name, size_t len)
{
    return set && bus_find(set, name, len) != NULL;
}

int bus_replay_recent(const char *name, size_t len, const char *pat, size_t plen,
                      uint64_t from_ms, char *err, size_t errlen)
{
    struct bus_sub *sub = set ? bus_find(set, name, len) : NULL;
    if (!sub) {
        snprintf(err, errlen, "no such subscription '%.*s'",
                 (int)(len > 200 ? 200 : len), name);
        return ERR_NOSUB;
    }
    int rc = journal_error(jm.j);
    if (rc) {
        snprintf(err, errlen, "bus journal is read-only (%s)", error_text(rc));
        return rc;
    }
    uint64_t visible = store_visible(), after = position_before(from_ms);
    if (after > visible)
        after = visible;
    struct bus_pattern p = {pat, plen};
    jm.hook_err = 0;
    bus_replay(set, sub, &p, after, visible);
    stats.replays++;
    wake = 1;
    rc = jm.hook_err;
    if (rc)
        snprintf(err, errlen, "bus journal append failed (%s)", error_text(rc));
    after_change();
    return rc;
}

static size_t waiters_of(const char *name, size_t len)
{
    size_t n = 0;
    for (struct waiter *w = wait_head; w; w = w->next)
        n += w->sub_len == len && memcmp(w->sub, name, len) == 0;
    return n;
}

static void reply_sub(struct client *c, struct bus_sub *sub, uint64_t visible,
                      uint64_t now)
{
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    reply_map(c, 15);
    reply_cstr(c, "name");
    reply_bulk(c, in.name, in.name_len);
    reply_cstr(c, "patterns");
    reply_array(c, in.npats);
    for (size_t i = 0; i < in.npats; i++)
        reply_bulk(c, in.pats[i].p, in.pats[i].len);
    reply_cstr(c, "durable");
    reply_bool(c, !in.ephemeral);
    reply_cstr(c, "ackwait_ms");
    reply_uint(c, in.ackwait);
    reply_cstr(c, "maxdeliver");
    reply_uint(c, in.maxdeliver);
    reply_cstr(c, "cursor");
    reply_uint(c, in.cursor);
    reply_cstr(c, "lag");
    reply_uint(c, visible > in.cursor ? visible - in.cursor : 0);
    reply_cstr(c, "pending");
    reply_uint(c, in.held + in.waiting);
    reply_cstr(c, "delivered");
    reply_uint(c, in.held);
    reply_cstr(c, "waiting");
    reply_uint(c, in.waiting);
    reply_cstr(c, "dead");
    reply_uint(c, in.dead);
    reply_cstr(c, "replays");
    reply_uint(c, in.replays);
    reply_cstr(c, "blocked");
    reply_uint(c, waiters_of(in.name, in.name_len));
    reply_cstr(c, "consumers_count");
    reply_uint(c, in.consumers);
    reply_cstr(c, "consumers");
    size_t nc = in.consumers;
    struct bus_consumer_info *ci = xmalloc((nc ? nc : 1) * sizeof(*ci));
    nc = bus_consumers(sub, nc, ci);
    reply_array(c, nc);
    for (size_t i = 0; i < nc; i++) {
        reply_map(c, 3);
        reply_cstr(c, "name");
        reply_bulk(c, ci[i].name, ci[i].name_len);
        reply_cstr(c, "delivered");
        reply_uint(c, ci[i].held);
        reply_cstr(c, "idle_ms");
        reply_uint(c, ci[i].seen && now > ci[i].seen ? now - ci[i].seen : 0);
    }
    free(ci);
}

void bus_foreach_sub(void (*fn)(void *ctx, const struct bus_sub_info *info,
                                const struct bus_consumer_info *cons, size_t ncons),
                     void *ctx)
{
    if (!set)
        return;
    for (size_t i = 0; i < bus_count(set); i++) {
        struct bus_sub *sub = bus_at(set, i);
        struct bus_sub_info in;
        bus_sub_info(sub, &in);
        size_t nc = in.consumers;
        struct bus_consumer_info *ci = xmalloc((nc ? nc : 1) * sizeof(*ci));
        nc = bus_consumers(sub, nc, ci);
        fn(ctx, &in, ci, nc);
        free(ci);
    }
}

/* The time (ms) of the event at pos, 0 if there is none: remembered for the
 * last position asked (an event's time never changes). */
static uint8_t *lag_buf; /* event_time's read buffer (freed at stop) */
static size_t lag_cap;

static uint64_t event_time(uint64_t pos)
{
    static uint64_t last_pos, last_time;
    if (pos == last_pos && last_time)
        return last_time;
    struct segment_record r;
    if (store_get(store_default(), pos, &r, &lag_buf, &lag_cap) != 0)
        return 0;
    last_pos = pos;
    last_time = r.time_ms;
    return last_time;
}

void bus_sub_lag(const struct bus_sub_info *info, uint64_t now_wall_ms,
                 struct bus_lag *out)
{
    uint64_t visible = store_linked() ? store_visible() : 0;
    out->events = visible > info->cursor ? visible - info->cursor : 0;
    out->seconds = 0;
    if (!out->events)
        return;
    uint64_t t = event_time(info->cursor + 1);
    if (t && now_wall_ms > t)
        out->seconds = (double)(now_wall_ms - t) / 1000;
}

/* EV.SUBS [pattern] */
static void cmd_ev_subs(struct client *c, int argc, struct arg *argv)
{
    if (argc > 2) {
        reply_syntax_error(c, &argv[2]);
        return;
    }
    uint64_t visible = store_linked() ? store_visible() : 0;
    uint64_t now = clock_mono_ms();
    size_t h = reply_array_begin(c), n = 0;
    for (size_t i = 0; i < bus_count(set); i++) {
        struct bus_sub *sub = bus_at(set, i);
        size_t len;
        const char *name = bus_sub_name(sub, &len);
        if (argc == 2 &&
            !config_glob_match(argv[1].ptr, argv[1].len, name, len, 0))
            continue;
        reply_sub(c, sub, visible, now);
        n++;
    }
    reply_array_end(c, h, n);
}

static const struct command_spec bus_commands[] = {
    {"ev.sub", -3, CMD_WRITE, cmd_ev_sub, "bus",
     "name pattern [pattern ...] [FROM BEGINNING|NOW|ms|@position|SNAPSHOT name] "
     "[ACKWAIT ms] [MAXDELIVER n] [EPHEMERAL]",
     "Creates a subscription (1) or replaces its bindings and settings (0)", 1,
     1, 1},
    {"ev.unsub", 2, CMD_WRITE, cmd_ev_unsub, "bus", "name",
     "Removes a subscription with its pending events and dead letters", 1, 1,
     1},
    {"ev.read", -3, CMD_WRITE | CMD_BLOCKING, cmd_ev_read, "bus",
     "name consumer [COUNT n] [BLOCK ms]",
     "Delivers up to COUNT events (as EV.GET plus deliveries) to a consumer", 1,
     1, 1},
    {"ev.ack", -3, CMD_WRITE | CMD_FAST, cmd_ev_ack, "bus",
     "name position [position ...]",
     "Marks delivered events done; replies how many were pending", 1, 1, 1},
    {"ev.nack", -3, CMD_WRITE | CMD_FAST, cmd_ev_nack, "bus",
     "name position [DELAY ms] [REASON text]",
     "Gives a delivered event back: ready again after DELAY, or dead; replies "
     "its new state",
     1, 1, 1},
    {"ev.touch", -3, CMD_WRITE | CMD_FAST, cmd_ev_touch, "bus",
     "name position [position ...]",
     "Restarts the ack deadline of delivered events", 1, 1, 1},
    {"ev.pending", -2, CMD_READONLY, cmd_ev_pending, "bus",
     "name [consumer] [COUNT n]",
     "Events delivered or waiting for redelivery, lowest position first", 1, 1,
     1},
    {"ev.dead", -2, CMD_READONLY, cmd_ev_dead, "bus", "name [COUNT n]",
     "Dead letters (as EV.GET plus deliveries and reason), oldest first", 1, 1,
     1},
    {"ev.redrive", -2, CMD_WRITE, cmd_ev_redrive, "bus",
     "name [position ...|ALL]",
     "Moves dead letters back to delivery with fresh counts; replies how many",
     1, 1, 1},
    {"ev.replay", -3, CMD_WRITE, cmd_ev_replay, "bus",
     "name pattern [FROM BEGINNING|NOW|ms|@position] [TO NOW|ms|@position] | "
     "name POSITIONS position [position ...]",
     "Delivers matching history, or the events at the positions given, into "
     "a subscription again",
     1, 1, 1},
    {"ev.subs", -1, CMD_READONLY, cmd_ev_subs, "bus", "[pattern]",
     "Every subscription (name glob) with bindings, lag, pending, consumers, "
     "dead letters",
     0, 0, 0},
};

/* ---- config ---- */

/* ---- module ---- */

static int on_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
    (void)ctx;
    return bus_recover(set, type, p, n, replay_now, err, errlen);
}

static void bus_stop(void);

static int bus_start(char *err, size_t errlen)
{
    memset(&stats, 0, sizeof(stats));
    set = bus_set_new(&hooks,
                      (int64_t)clock_wall_ms() - (int64_t)clock_mono_ms());
    replay_now = clock_mono_ms();
    struct journal_opts o = {0};
    o.dir = config_dir;
    o.name = BUS_JOURNAL_NAME;
    o.loop = net_loop();
    _Static_assert((int)CONFIG_FSYNC_EVERYSEC == (int)JOURNAL_FSYNC_EVERYSEC &&
                       (int)CONFIG_FSYNC_NO == (int)JOURNAL_FSYNC_NO,
                   "the fsync setting is read as an enum journal_fsync");
    o.fsync_mode = &config_fsync;
    o.replay = on_replay;
    jm.walk = walk;
    if (journal_open(&jm.j, &o, err, errlen) < 0) {
        bus_set_free(set);
        set = NULL;
        return -1;
    }
    if (cmd_journal_checkpoint(&jm, err, errlen) < 0) {
        bus_stop();
        return -1;
    }
    timer = cmd_timer_new();
    gc_timer = cmd_timer_new();
    net_on_close(on_client_closed, NULL);
    arm();
    if (store_linked())
        store_on_visible(on_visible, NULL);
    else
        log_warn("bus: the event store is not linked in; EV.* subscription "
                 "commands will fail");
    log_info("bus: %zu subscriptions after recovery", bus_count(set));
    return 0;
}

static void bus_stop(void)
{
    while (wait_head) {
        struct client *c = wait_head->c;
        waiter_unlink(wait_head);
        reply_error(c, "ERR bus module stopping; retry");
        client_unblock(c);
    }
    while (links) {
        struct eph_link *l = links;
        links = l->next;
        link_free(l);
    }
    if (store_linked())
        store_on_visible(NULL, NULL);
    cmd_timer_free(&timer);
    net_on_close_remove(on_client_closed, NULL);
    cmd_timer_free(&gc_timer);
    journal_close(jm.j);
    jm.j = NULL;
    bus_set_free(set);
    set = NULL;
    free(lag_buf);
    lag_buf = NULL;
    lag_cap = 0;
}

static void bus_info_section(struct sbuf *out, const char *section)
{
    if (strcmp(section, "bus") != 0 || !set)
        return;
    uint64_t held = 0, waiting = 0, dead = 0, eph = 0, consumers = 0;
    uint64_t visible = store_linked() ? store_visible() : 0;
    for (size_t i = 0; i < bus_count(set); i++) {
        struct bus_sub_info in;
        bus_sub_info(bus_at(set, i), &in);
        held += in.held;
        waiting += in.waiting;
        dead += in.dead;
        eph += in.ephemeral != 0;
        consumers += in.consumers;
    }
    sbuf_addf(out,
              "bus_subscriptions:%zu\r\nbus_ephemeral:%" PRIu64
              "\r\nbus_consumers:%" PRIu64 "\r\nbus_delivered_pending:%" PRIu64
              "\r\nbus_waiting:%" PRIu64 "\r\nbus_dead:%" PRIu64
              "\r\nbus_blocked_clients:%zu\r\nbus_deliveries:%" PRIu64
              "\r\nbus_acks:%" PRIu64 "\r\nbus_nacks:%" PRIu64
              "\r\nbus_redriven:%" PRIu64 "\r\nbus_replays:%" PRIu64
              "\r\nbus_blocks:%" PRIu64 "\r\nbus_block_timeouts:%" PRIu64
              "\r\nbus_wakeups:%" PRIu64 "\r\nbus_read_errors:%" PRIu64 "\r\n",
              bus_count(set), eph, consumers, held, waiting, dead, nwaiters,
              stats.delivered, stats.acks, stats.nacks, stats.redriven,
              stats.replays, stats.blocked, stats.block_timeouts, stats.wakeups,
              stats.read_errors);
    if (jm.j)
        sbuf_addf(out,
                  "bus_journal_generation:%" PRIu64
                  "\r\nbus_journal_log_bytes:%" PRIu64
                  "\r\nbus_journal_checkpoint_bytes:%" PRIu64
                  "\r\nbus_journal_checkpoints:%" PRIu64
                  "\r\nbus_journal_error:%d\r\n",
                  journal_generation(jm.j), journal_log_bytes(jm.j),
                  journal_ckpt_bytes(jm.j), jm.checkpoints,
                  journal_error(jm.j) != 0);
    /* one line per subscription (first 100), like Redis's keyspace lines */
    for (size_t i = 0; i < bus_count(set) && i < 100; i++) {
        struct bus_sub_info in;
        bus_sub_info(bus_at(set, i), &in);
        char q[300];
        sbuf_addf(out,
                  "bus_sub%zu:name=%s,durable=%d,lag=%" PRIu64
                  ",pending=%" PRIu64 ",consumers=%" PRIu64 ",dead=%" PRIu64
                  ",replays=%" PRIu64 "\r\n",
                  i, arg_printable(q, sizeof(q), in.name, in.name_len),
                  !in.ephemeral, visible > in.cursor ? visible - in.cursor : 0,
                  in.held + in.waiting, in.consumers, in.dead, in.replays);
    }
}

static int bus_compact(char *err, size_t errlen)
{
    return jm.j ? cmd_journal_checkpoint(&jm, err, errlen) : 0;
}

struct sub_families {
    struct metrics_family *pending, *held, *ready, *dead, *delivered,
        *redelivered, *lag_events, *lag_seconds;
};

static void sub_families_init(struct sub_families *f, struct metrics *m)
{
    f->pending =
        metrics_family(m, "tincan_subscription_pending", METRICS_GAUGE,
                       "Entries held by consumers or waiting for redelivery.");
    f->held = metrics_family(m, "tincan_subscription_held", METRICS_GAUGE,
                             "Entries delivered and not acked yet (HELD).");
    f->ready =
        metrics_family(m, "tincan_subscription_ready", METRICS_GAUGE,
                       "Entries waiting for redelivery (READY or DELAYED).");
    f->dead = metrics_family(m, "tincan_subscription_dead", METRICS_GAUGE,
                             "Dead letters: entries that used up maxdeliver.");
    f->delivered = metrics_family(m, "tincan_subscription_delivered_total",
                                  METRICS_COUNTER, "Deliveries since start.");
    f->redelivered = metrics_family(
        m, "tincan_subscription_redelivered_total", METRICS_COUNTER,
        "Deliveries since start that were not the first.");
    f->lag_events =
        metrics_family(m, "tincan_subscription_lag_events", METRICS_GAUGE,
                       "Store positions (any type) between the "
                       "subscription's cursor and the visible head.");
    f->lag_seconds =
        metrics_family(m, "tincan_subscription_lag_seconds", METRICS_GAUGE,
                       "Age of the oldest event the subscription's "
                       "cursor has not reached (0 when caught up).");
}

static void sub_metrics(const struct sub_families *f, struct bus_sub *sub,
                        uint64_t now_wall)
{
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    struct bus_lag lag;
    bus_sub_lag(&in, now_wall, &lag);
    struct metrics_label l[] = {{"subscription", in.name, in.name_len}};
    struct metrics_labelset ls;
    metrics_labelset(&ls, l, 1);
    metrics_sample_set(f->pending, &ls, (double)(in.held + in.waiting));
    metrics_sample_set(f->held, &ls, (double)in.held);
    metrics_sample_set(f->ready, &ls, (double)in.waiting);
    metrics_sample_set(f->dead, &ls, (double)in.dead);
    metrics_sample_set(f->delivered, &ls, (double)in.delivered);
    metrics_sample_set(f->redelivered, &ls, (double)in.redelivered);
    metrics_sample_set(f->lag_events, &ls, (double)lag.events);
    metrics_sample_set(f->lag_seconds, &ls, lag.seconds);
}

static void bus_metrics(struct metrics *m)
{
    if (!set)
        return;
    metrics_set(m, "tincan_subscriptions", METRICS_GAUGE,
                "Subscriptions (durable and ephemeral).",
                (double)bus_count(set));
    metrics_set(m, "tincan_bus_deliveries_total", METRICS_COUNTER,
                "Events handed to consumers since start.",
                (double)stats.delivered);
    metrics_set(m, "tincan_bus_acks_total", METRICS_COUNTER,
                "Entries acked since start.", (double)stats.acks);
    metrics_set(m, "tincan_bus_nacks_total", METRICS_COUNTER,
                "EV.NACK calls since start.", (double)stats.nacks);
    metrics_set(m, "tincan_bus_blocked_clients", METRICS_GAUGE,
                "Clients parked in a blocking EV.READ.", (double)nwaiters);
    struct sub_families f;
    sub_families_init(&f, m);
    uint64_t now_wall = clock_wall_ms();
    size_t n = bus_count(set);
    for (size_t i = 0; i < n; i++) {
        /* thousands of subscriptions: ask for the next ones ahead (the
         * record's cache lines, then its name), or each costs its cache
         * misses in turn */
        if (i + 8 < n)
            bus_sub_prefetch(bus_at(set, i + 8));
        if (i + 4 < n) {
            size_t len;
            __builtin_prefetch(bus_sub_name(bus_at(set, i + 4), &len));
        }
        sub_metrics(&f, bus_at(set, i), now_wall);
    }
    cmd_journal_metrics(m, &jm);
}

const struct module bus_module = {
    .name = "bus",
    .commands = bus_commands,
    .ncommands = ARRAY_LEN(bus_commands),
    .start = bus_start,
    .stop = bus_stop,
    .info = bus_info_section,
    .metrics = bus_metrics,
    .compact = bus_compact,
};
