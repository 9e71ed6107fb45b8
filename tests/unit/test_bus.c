/* test_bus.c - the subscription state machine on a fake clock with a fake
 * event source, and its journal records (every change replayed into a fresh
 * set, or a checkpoint of it, gives the same state). */
#include "bus.h"

#include <sys/stat.h>

#include "common.h"
#include "errors.h"
#include "fsx.h"
#include "journal.h"
#include "sbuf.h"
#include "test.h"
#include "topic.h"

/* ---- a fake event store: positions 1..n with a type each ---- */
struct fake_src {
    const char **types; /* types[pos - 1] */
    uint64_t n;         /* events stored */
    uint64_t visible;   /* highest position a live read may see */
    uint64_t budget;    /* positions looked at per next() call; 0 = all */
    uint64_t calls;     /* next() calls */
};

static int fake_next(void *ctx, const struct bus_pattern *pats, size_t npats,
                     uint64_t after, uint64_t until, uint64_t *pos)
{
    struct fake_src *f = ctx;
    uint64_t looked = 0;
    f->calls++;
    if (until > f->n)
        until = f->n;
    for (uint64_t p = after + 1; p <= until; p++) {
        const char *t = f->types[p - 1];
        for (size_t i = 0; i < npats; i++)
            if (topic_match(pats[i].p, pats[i].len, t, strlen(t))) {
                *pos = p;
                return 1;
            }
        if (f->budget && ++looked >= f->budget) {
            *pos = p;
            return 0;
        }
    }
    *pos = until > after ? until : after;
    return 0;
}

static uint64_t fake_visible(void *ctx)
{
    struct fake_src *f = ctx;
    return f->visible;
}

static const char *types10[] = {
    "order.created", "payment.taken",       "order.shipped", "user.signup",
    "order.created", "payment.refund.full", "order",         "audit",
    "order.created", "payment.taken",
};

static struct fake_src fake10(void)
{
    struct fake_src f = {types10, 10, 10, 0, 0};
    return f;
}

static struct bus_source source(struct fake_src *f)
{
    struct bus_source s = {f, fake_next, fake_visible};
    return s;
}

/* ---- a journal in memory ---- */
struct mem_journal {
    struct sbuf buf; /* u8 type | u32 len | payload, repeated */
    size_t records;
};

static void mem_add(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    struct mem_journal *m = ctx;
    uint8_t h[5] = {type, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                    (uint8_t)(n >> 24)};
    sbuf_add(&m->buf, h, 5);
    sbuf_add(&m->buf, p, n);
    m->records++;
}

static int mem_emit(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    mem_add(ctx, type, p, n);
    return 0;
}

#define WALL 1700000000000LL /* wall-clock ms at monotonic 0 */

static struct bus_set *recover_all(const struct mem_journal *m, uint64_t now,
                                   int64_t offset)
{
    struct bus_set *s = bus_set_new(NULL, offset);
    size_t o = 0;
    while (o < m->buf.len) {
        const uint8_t *h = (const uint8_t *)m->buf.data + o;
        size_t n =
            h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
        char err[256] = "";
        int rc = bus_recover(s, h[0], h + 5, n, now, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "  recover: %s\n", err);
        ASSERT_EQ_INT(0, rc);
        o += 5 + n;
    }
    return s;
}

/* A text picture of the whole durable state, for comparisons. */
static void dump(struct bus_set *s, struct sbuf *out)
{
    sbuf_clear(out);
    for (size_t i = 0; i < bus_count(s); i++) {
        struct bus_sub *sub = bus_at(s, i);
        struct bus_sub_info in;
        bus_sub_info(sub, &in);
        if (in.ephemeral)
            continue;
        sbuf_addf(out, "sub %.*s ack=%llu max=%u cur=%llu rep=%llu pats=",
                  (int)in.name_len, in.name, (unsigned long long)in.ackwait,
                  in.maxdeliver, (unsigned long long)in.cursor,
                  (unsigned long long)in.replays);
        for (size_t k = 0; k < in.npats; k++)
            sbuf_addf(out, "%.*s,", (int)in.pats[k].len, in.pats[k].p);
        sbuf_addc(out, '\n');
        struct bus_entry **es = xmalloc(100000 * sizeof(*es));
        size_t n = bus_pending(sub, NULL, 0, 100000, es);
        for (size_t k = 0; k < n; k++) {
            const struct bus_entry *e = es[k];
            size_t cl = 0;
            const char *cn =
                e->consumer ? bus_consumer_name(e->consumer, &cl) : "";
            sbuf_addf(
                out, " %llu %s d=%u dl=%llu c=%.*s r=%.*s\n",
                (unsigned long long)e->pos, bus_state_name(e->state),
                e->deliveries,
                (unsigned long long)(e->state == BUS_READY ? 0 : e->deadline),
                (int)cl, cn, (int)e->reason_len, e->reason ? e->reason : "");
        }
        n = bus_dead(sub, 100000, es);
        for (size_t k = 0; k < n; k++)
            sbuf_addf(out, " dead %llu d=%u r=%.*s\n",
                      (unsigned long long)es[k]->pos, es[k]->deliveries,
                      (int)es[k]->reason_len, es[k]->reason);
        free(es);
    }
}

/* Fails with the first line that differs. */
#define ASSERT_SAME_DUMP(want, got)                                            \
    assert_same_dump_(__FILE__, __LINE__, want, got)
static void assert_same_dump_(const char *file, int line, const char *w,
                              const char *g)
{
    size_t i = 0, ls = 0;
    while (w[i] && w[i] == g[i]) {
        if (w[i] == '\n')
            ls = i + 1;
        i++;
    }
    if (!w[i] && !g[i])
        return;
    char m[600];
    snprintf(m, sizeof(m),
             "state differs at line: want \"%.200s\" got \"%.200s\"", w + ls,
             g + ls);
    test_fail_(file, line, m);
}

static struct bus_pattern pat(const char *p)
{
    struct bus_pattern b = {p, strlen(p)};
    return b;
}

static struct bus_sub *mksub(struct bus_set *s, const char *name,
                             const char *p1, const char *p2, uint64_t cursor)
{
    struct bus_pattern pats[2] = {pat(p1), pat(p2 ? p2 : "")};
    struct bus_sub_args a = {0};
    a.name = name;
    a.name_len = strlen(name);
    a.pats = pats;
    a.npats = p2 ? 2 : 1;
    a.cursor = cursor;
    struct bus_sub *sub = NULL;
    char err[128];
    ASSERT_EQ_INT(1, bus_sub(s, &a, &sub, err, sizeof(err)));
    return sub;
}

static size_t rd(struct bus_set *s, struct bus_sub *sub, const char *consumer,
                 size_t count, struct fake_src *f, uint64_t now,
                 struct bus_entry **out)
{
    struct bus_source src = source(f);
    int n = bus_read(s, sub, consumer, strlen(consumer), count, &src, now, out);
    ASSERT_TRUE(n >= 0);
    return (size_t)n;
}

/* ---- tests ---- */

TEST(fanout_each_subscription_gets_its_matches_in_order)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *orders = mksub(s, "orders", "order.*", NULL, 0);
    struct bus_sub *money = mksub(s, "money", "payment.#", "audit", 0);
    struct bus_entry *out[20];
    size_t n = rd(s, orders, "a", 20, &f, 100, out);
    ASSERT_EQ_INT(4, n);
    uint64_t want[] = {1, 3, 5, 9};
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ_U64(want[i], out[i]->pos);
        ASSERT_EQ_INT(1, out[i]->deliveries);
        ASSERT_EQ_INT(BUS_HELD, out[i]->state);
        ASSERT_EQ_U64(100 + BUS_ACKWAIT_DEFAULT, out[i]->deadline);
    }
    n = rd(s, money, "a", 20, &f, 100, out);
    uint64_t want2[] = {2, 6, 8, 10};
    ASSERT_EQ_INT(4, n);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ_U64(want2[i], out[i]->pos);
    /* nothing more until something is stored */
    ASSERT_EQ_INT(0, rd(s, orders, "a", 20, &f, 100, out));
    struct bus_sub_info in;
    bus_sub_info(orders, &in);
    ASSERT_EQ_U64(10, in.cursor);
    ASSERT_EQ_U64(4, in.held);
    ASSERT_EQ_U64(1, in.consumers);
    bus_set_free(s);
}

TEST(pattern_table_through_subscriptions)
{
    struct fake_src f = fake10();
    struct {
        const char *pattern;
        uint64_t count;
    } rows[] = {
        {"#", 10},        {"order", 1},     {"order.#", 5},  {"*.created", 3},
        {"payment.*", 2}, {"payment.#", 3}, {"*.*.full", 1}, {"#.full", 1},
        {"nothing", 0},   {"*", 2},         {"#.taken", 2},  {"order.*.x", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct bus_set *s = bus_set_new(NULL, WALL);
        struct bus_sub *sub = mksub(s, "t", rows[i].pattern, NULL, 0);
        struct bus_entry *out[20];
        size_t n = rd(s, sub, "c", 20, &f, 1, out);
        if (n != rows[i].count)
            fprintf(stderr, "  pattern %s\n", rows[i].pattern);
        ASSERT_EQ_U64(rows[i].count, n);
        bus_set_free(s);
    }
}

TEST(consumers_share_the_work)
{
    const char *types[300];
    for (int i = 0; i < 300; i++)
        types[i] = "job.x";
    struct fake_src f = {types, 300, 300, 0, 0};
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "w", "job.*", NULL, 0);
    int seen[301] = {0};
    const char *names[3] = {"c1", "c2", "c3"};
    uint64_t got[3] = {0};
    struct bus_entry *out[7];
    for (int round = 0; round < 200; round++) {
        int c = round % 3;
        size_t n = rd(s, sub, names[c], 7, &f, 10, out);
        for (size_t i = 0; i < n; i++) {
            seen[out[i]->pos]++;
            got[c]++;
            ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){out[i]->pos}, 1));
        }
    }
    for (int p = 1; p <= 300; p++)
        ASSERT_EQ_INT(1, seen[p]);
    ASSERT_TRUE(got[0] >= 90 && got[1] >= 90 && got[2] >= 90);
    struct bus_consumer_info ci[4];
    ASSERT_EQ_INT(3, bus_consumers(sub, 4, ci));
    ASSERT_EQ_STR("c2", ci[1].name);
    bus_set_free(s);
}

TEST(start_points_and_visible_limit)
{
    struct fake_src f = fake10();
    f.visible = 6;
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *all = mksub(s, "all", "#", NULL, 0);
    struct bus_sub *late = mksub(s, "late", "#", NULL, 4); /* FROM @5 */
    struct bus_sub *now = mksub(s, "now", "#", NULL, f.visible);
    struct bus_entry *out[20];
    ASSERT_EQ_INT(6, rd(s, all, "c", 20, &f, 1, out));
    size_t n = rd(s, late, "c", 20, &f, 1, out);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(5, out[0]->pos);
    ASSERT_EQ_INT(0, rd(s, now, "c", 20, &f, 1, out));
    f.visible = 10; /* stored and synced */
    ASSERT_EQ_INT(4, rd(s, all, "c", 20, &f, 2, out));
    n = rd(s, now, "c", 20, &f, 2, out);
    ASSERT_EQ_INT(4, n);
    ASSERT_EQ_U64(7, out[0]->pos);
    bus_set_free(s);
}

TEST(source_that_stops_early_is_asked_again)
{
    const char *types[1000];
    for (int i = 0; i < 1000; i++)
        types[i] = i % 100 == 99 ? "rare.one" : "common.thing";
    struct fake_src f = {types, 1000, 1000, 7, 0};
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "rare", "rare.*", NULL, 0);
    struct bus_entry *out[20];
    size_t n = rd(s, sub, "c", 20, &f, 1, out);
    ASSERT_EQ_INT(10, n);
    ASSERT_EQ_U64(100, out[0]->pos);
    ASSERT_EQ_U64(1000, out[9]->pos);
    ASSERT_TRUE(f.calls > 100); /* it really was asked in small steps */
    bus_set_free(s);
}

TEST(ack_removes_and_is_idempotent)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "x", "#", NULL, 0);
    struct bus_entry *out[3];
    ASSERT_EQ_INT(3, rd(s, sub, "c", 3, &f, 1, out));
    ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){2}, 1));
    ASSERT_EQ_INT(0, bus_ack(s, sub, &(uint64_t){2}, 1));
    ASSERT_EQ_INT(0, bus_ack(s, sub, &(uint64_t){9}, 1)); /* never delivered */
    ASSERT_TRUE(bus_entry_find(sub, 2) == NULL);
    struct bus_entry *p[10];
    ASSERT_EQ_INT(2, bus_pending(sub, NULL, 0, 10, p));
    ASSERT_EQ_U64(1, p[0]->pos);
    ASSERT_EQ_U64(3, p[1]->pos);
    /* the acked one never comes back, even after every deadline */
    bus_tick(s, 1000000);
    ASSERT_EQ_INT(3, rd(s, sub, "d", 3, &f, 1000000, out));
    ASSERT_EQ_U64(1, out[0]->pos);
    ASSERT_EQ_U64(3, out[1]->pos);
    ASSERT_EQ_U64(4, out[2]->pos);
    bus_set_free(s);
}

TEST(missed_deadline_goes_to_another_consumer)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "x", "order.created", NULL, 0);
    struct bus_entry *out[5];
    ASSERT_EQ_INT(3, rd(s, sub, "dies", 5, &f, 1000, out));
    uint64_t dl;
    ASSERT_EQ_INT(1, bus_next_deadline(s, &dl));
    ASSERT_EQ_U64(1000 + BUS_ACKWAIT_DEFAULT, dl);
    ASSERT_EQ_INT(0, bus_tick(s, dl - 1));
    ASSERT_EQ_INT(0, rd(s, sub, "alive", 5, &f, dl - 1, out));
    ASSERT_EQ_INT(3, bus_tick(s, dl));
    ASSERT_EQ_INT(0, bus_next_deadline(s, &dl));
    size_t n = rd(s, sub, "alive", 5, &f, dl + 5, out);
    ASSERT_EQ_INT(3, n);
    ASSERT_EQ_U64(1, out[0]->pos);
    ASSERT_EQ_INT(2, out[0]->deliveries);
    ASSERT_EQ_STR("ack deadline missed", out[0]->reason);
    size_t cl;
    ASSERT_EQ_STR("alive", bus_consumer_name(out[0]->consumer, &cl));
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    ASSERT_EQ_U64(3, in.redelivered);
    bus_set_free(s);
}

TEST(read_settles_deadlines_without_a_tick)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "x", "audit", NULL, 0);
    struct bus_entry *out[5];
    ASSERT_EQ_INT(1, rd(s, sub, "a", 5, &f, 0, out));
    ASSERT_EQ_INT(1, rd(s, sub, "b", 5, &f, BUS_ACKWAIT_DEFAULT, out));
    ASSERT_EQ_U64(8, out[0]->pos);
    bus_set_free(s);
}

TEST(nack_with_delay_then_redelivery)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "x", "user.*", NULL, 0);
    struct bus_entry *out[5], *e;
    ASSERT_EQ_INT(1, rd(s, sub, "a", 5, &f, 100, out));
    ASSERT_EQ_INT(0, bus_nack(s, sub, 4, 500, "db down", 7, 200, &e));
    ASSERT_EQ_INT(BUS_DELAYED, e->state);
    ASSERT_EQ_U64(700, e->deadline);
    ASSERT_EQ_INT(0, rd(s, sub, "a", 5, &f, 699, out));
    uint64_t dl;
    ASSERT_EQ_INT(1, bus_next_deadline(s, &dl));
    ASSERT_EQ_U64(700, dl);
    ASSERT_EQ_INT(1, rd(s, sub, "b", 5, &f, 700, out));
    ASSERT_EQ_INT(2, out[0]->deliveries);
    ASSERT_EQ_STR("db down", out[0]->reason);
    /* no delay: ready at once; default reason */
    ASSERT_EQ_INT(0, bus_nack(s, sub, 4, 0, NULL, 0, 800, &e));
    ASSERT_EQ_INT(BUS_READY, e->state);
    ASSERT_EQ_STR("nacked", e->reason);
    ASSERT_TRUE(bus_sub_has_backlog(sub));
    ASSERT_EQ_INT(1, rd(s, sub, "b", 5, &f, 800, out));
    ASSERT_EQ_INT(3, out[0]->deliveries);
    /* errors: not held */
    ASSERT_EQ_INT(ERR_NOTFOUND, bus_nack(s, sub, 5, 0, NULL, 0, 900, &e));
    ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){4}, 1));
    ASSERT_EQ_INT(ERR_NOTFOUND, bus_nack(s, sub, 4, 0, NULL, 0, 900, &e));
    ASSERT_EQ_INT(ERR_NOTFOUND, bus_touch(s, sub, 4, 900, &e));
    bus_set_free(s);
}

TEST(touch_keeps_an_event_from_redelivery)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub_args a = {0};
    struct bus_pattern p = pat("order");
    a.name = "x";
    a.name_len = 1;
    a.pats = &p;
    a.npats = 1;
    a.ackwait = 1000;
    struct bus_sub *sub;
    char err[64];
    ASSERT_EQ_INT(1, bus_sub(s, &a, &sub, err, sizeof(err)));
    struct bus_entry *out[5], *e;
    ASSERT_EQ_INT(1, rd(s, sub, "slow", 5, &f, 0, out));
    for (uint64_t t = 900; t < 5000; t += 900) {
        ASSERT_EQ_INT(0, bus_tick(s, t));
        ASSERT_EQ_INT(0, bus_touch(s, sub, 7, t, &e));
        ASSERT_EQ_U64(t + 1000, e->deadline);
    }
    ASSERT_EQ_INT(0, rd(s, sub, "other", 5, &f, 5399, out));
    ASSERT_EQ_INT(1, bus_tick(s, 5500 + 1000));
    bus_set_free(s);
}

TEST(maxdeliver_then_dead_then_redrive)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub_args a = {0};
    struct bus_pattern p = pat("payment.*");
    a.name = "pay";
    a.name_len = 3;
    a.pats = &p;
    a.npats = 1;
    a.maxdeliver = 3;
    a.ackwait = 100;
    struct bus_sub *sub;
    char err[64];
    ASSERT_EQ_INT(1, bus_sub(s, &a, &sub, err, sizeof(err)));
    struct bus_entry *out[5], *e;
    uint64_t t = 0;
    ASSERT_EQ_INT(2, rd(s, sub, "c", 5, &f, t, out));
    ASSERT_EQ_INT(0, bus_nack(s, sub, 2, 0, "bad card", 8, t, &e));
    ASSERT_EQ_INT(0, bus_nack(s, sub, 10, 0, "x", 1, t, &e));
    ASSERT_EQ_INT(2, rd(s, sub, "c", 5, &f, t, out));
    ASSERT_EQ_INT(0, bus_nack(s, sub, 2, 0, "bad card", 8, t, &e));
    ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){10}, 1));
    ASSERT_EQ_INT(1, rd(s, sub, "c", 5, &f, t, out));
    ASSERT_EQ_INT(3, out[0]->deliveries);
    /* the third delivery ends by its deadline: dead with that reason */
    t += 100;
    ASSERT_EQ_INT(0, bus_tick(s, t));
    struct bus_entry *d[5];
    ASSERT_EQ_INT(1, bus_dead(sub, 5, d));
    ASSERT_EQ_U64(2, d[0]->pos);
    ASSERT_EQ_INT(3, d[0]->deliveries);
    ASSERT_EQ_STR("ack deadline missed", d[0]->reason);
    ASSERT_EQ_INT(0, rd(s, sub, "c", 5, &f, t, out));
    ASSERT_EQ_INT(0,
                  bus_ack(s, sub, &(uint64_t){2}, 1)); /* dead is not pending */
    ASSERT_EQ_INT(ERR_NOTFOUND, bus_redrive(s, sub, 10));
    ASSERT_EQ_INT(0, bus_redrive(s, sub, 2));
    ASSERT_EQ_INT(0, bus_dead(sub, 5, d));
    ASSERT_EQ_INT(1, rd(s, sub, "c", 5, &f, t, out));
    ASSERT_EQ_INT(1, out[0]->deliveries);
    /* a NACK on the last delivery is the reason kept */
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ_INT(0, bus_nack(s, sub, 2, 0, "still bad", 9, t, &e));
        ASSERT_EQ_INT(1, rd(s, sub, "c", 5, &f, t, out));
    }
    ASSERT_EQ_INT(0, bus_nack(s, sub, 2, 0, "final", 5, t, &e));
    ASSERT_EQ_INT(BUS_DEAD, e->state);
    ASSERT_EQ_STR("final", e->reason);
    ASSERT_EQ_U64(1, bus_redrive_all(s, sub));
    ASSERT_EQ_U64(0, bus_redrive_all(s, sub));
    bus_set_free(s);
}

TEST(consumer_removed_returns_its_events_and_ephemeral_vanishes)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *dur = mksub(s, "dur", "#", NULL, 0);
    struct bus_entry *out[5];
    ASSERT_EQ_INT(3, rd(s, dur, "a", 3, &f, 0, out));
    ASSERT_EQ_INT(2, rd(s, dur, "b", 2, &f, 0, out));
    ASSERT_EQ_INT(0, bus_consumer_remove(s, dur, "a", 1));
    ASSERT_EQ_INT(ERR_NOTFOUND, bus_consumer_remove(s, dur, "a", 1));
    size_t n = rd(s, dur, "b", 5, &f, 1, out);
    ASSERT_EQ_INT(5, n);
    ASSERT_EQ_U64(1, out[0]->pos);
    ASSERT_EQ_STR("consumer left", out[0]->reason);
    ASSERT_EQ_U64(6, out[3]->pos);

    struct bus_pattern p = pat("#");
    struct bus_sub_args a = {0};
    a.name = "eph";
    a.name_len = 3;
    a.pats = &p;
    a.npats = 1;
    a.ephemeral = 1;
    struct bus_sub *eph;
    char err[128];
    ASSERT_EQ_INT(1, bus_sub(s, &a, &eph, err, sizeof(err)));
    a.ephemeral = 0;
    ASSERT_EQ_INT(ERR_INVAL, bus_sub(s, &a, &eph, err, sizeof(err)));
    ASSERT_EQ_STR("subscription 'eph' exists and is ephemeral", err);
    ASSERT_EQ_INT(2, rd(s, eph, "x", 2, &f, 0, out));
    ASSERT_EQ_INT(1, rd(s, eph, "y", 1, &f, 0, out));
    ASSERT_EQ_INT(0, bus_consumer_remove(s, eph, "x", 1));
    ASSERT_TRUE(bus_find(s, "eph", 3) != NULL);
    ASSERT_EQ_INT(1, bus_consumer_remove(s, eph, "y", 1));
    ASSERT_TRUE(bus_find(s, "eph", 3) == NULL);
    ASSERT_EQ_INT(1, (int)bus_count(s));
    bus_set_free(s);
}

TEST(update_replaces_bindings_keeps_cursor)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "x", "order.*", NULL, 0);
    struct bus_entry *out[10];
    ASSERT_EQ_INT(2, rd(s, sub, "c", 2, &f, 0, out)); /* 1, 3 */
    struct bus_pattern p[3] = {pat("audit"), pat("user.*"), pat("audit")};
    struct bus_sub_args a = {0};
    a.name = "x";
    a.name_len = 1;
    a.pats = p;
    a.npats = 3;
    a.cursor = 0; /* ignored for an existing subscription */
    a.maxdeliver = 4;
    struct bus_sub *again;
    char err[64];
    ASSERT_EQ_INT(0, bus_sub(s, &a, &again, err, sizeof(err)));
    ASSERT_TRUE(again == sub);
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    ASSERT_EQ_INT(2, in.npats); /* duplicates folded */
    ASSERT_EQ_INT(4, in.maxdeliver);
    ASSERT_EQ_U64(BUS_ACKWAIT_DEFAULT, in.ackwait);
    size_t n = rd(s, sub, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(4, out[0]->pos);
    ASSERT_EQ_U64(8, out[1]->pos);
    ASSERT_EQ_INT(0, bus_unsub(s, "x", 1));
    ASSERT_EQ_INT(ERR_NOSUB, bus_unsub(s, "x", 1));
    ASSERT_EQ_INT(0, bus_next_deadline(s, &(uint64_t){0}));
    bus_set_free(s);
}

TEST(replay_streams_history_before_live_events)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "billing.replay", "payment.#", NULL, 10);
    struct bus_entry *out[10];
    ASSERT_EQ_INT(0, rd(s, sub, "c", 10, &f, 0, out));
    struct bus_pattern p = pat("order.#");
    ASSERT_TRUE(bus_replay(s, sub, &p, 2, 9) > 0); /* (2, 9] */
    ASSERT_TRUE(bus_sub_has_backlog(sub));
    size_t n = rd(s, sub, "c", 2, &f, 0, out);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(3, out[0]->pos);
    ASSERT_EQ_U64(5, out[1]->pos);
    n = rd(s, sub, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(7, out[0]->pos);
    ASSERT_EQ_U64(9, out[1]->pos);
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    ASSERT_EQ_U64(0, in.replays);
    /* a replay skips positions the subscription already holds */
    ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){3}, 1));
    p = pat("#");
    bus_replay(s, sub, &p, 0, 5);
    n = rd(s, sub, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(4, n); /* 1 2 3 4; 5 is still held */
    ASSERT_EQ_U64(3, out[2]->pos);
    /* live events come after the replay */
    f.n = 10;
    bus_replay(s, sub, &p, 5, 6);
    const char *more[11];
    memcpy(more, types10, sizeof(types10));
    more[10] = "payment.taken";
    f.types = more;
    f.n = 11;
    f.visible = 11;
    n = rd(s, sub, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(6, out[0]->pos);
    ASSERT_EQ_U64(11, out[1]->pos);
    /* an empty range finishes at once */
    bus_replay(s, sub, &p, 7, 7);
    bus_sub_info(sub, &in);
    ASSERT_EQ_U64(0, in.replays);
    bus_set_free(s);
}

TEST(positions_replay_delivers_exactly_the_list_in_order)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    /* its own binding matches nothing before the cursor at 10 */
    struct bus_sub *sub = mksub(s, "copy", "payment.#", NULL, 10);
    struct bus_entry *out[10];
    uint64_t list[] = {9, 2, 7, 2, 0, 4, 9};
    size_t distinct = 0;
    ASSERT_TRUE(bus_replay_positions(s, sub, list, 7, &distinct) > 0);
    ASSERT_EQ_INT(4, distinct); /* 2 4 7 9: duplicates and 0 dropped */
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    ASSERT_EQ_U64(1, in.replays);
    ASSERT_TRUE(bus_sub_has_backlog(sub));
    size_t n = rd(s, sub, "c", 2, &f, 0, out);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(2, out[0]->pos);
    ASSERT_EQ_U64(4, out[1]->pos);
    n = rd(s, sub, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(7, out[0]->pos);
    ASSERT_EQ_U64(9, out[1]->pos);
    bus_sub_info(sub, &in);
    ASSERT_EQ_U64(0, in.replays);
    ASSERT_EQ_INT(0, rd(s, sub, "c", 10, &f, 0, out));
    /* positions the subscription holds (pending or dead) are skipped */
    ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){2}, 1));
    uint64_t again[] = {4, 3, 2, 7};
    bus_replay_positions(s, sub, again, 4, NULL);
    n = rd(s, sub, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(2, n); /* 4 and 7 are still held */
    ASSERT_EQ_U64(2, out[0]->pos);
    ASSERT_EQ_U64(3, out[1]->pos);
    /* served after READY entries, before live events, oldest replay first */
    struct bus_entry *e;
    ASSERT_EQ_INT(0, bus_nack(s, sub, 9, 0, NULL, 0, 0, &e));
    uint64_t one[] = {6}, two[] = {5, 1};
    bus_replay_positions(s, sub, one, 1, NULL);
    bus_replay_positions(s, sub, two, 2, NULL);
    const char *more[11];
    memcpy(more, types10, sizeof(types10));
    more[10] = "payment.taken";
    f.types = more;
    f.n = 11;
    f.visible = 11;
    n = rd(s, sub, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(5, n);
    ASSERT_EQ_U64(9, out[0]->pos); /* ready again */
    ASSERT_EQ_U64(6, out[1]->pos); /* the older replay */
    ASSERT_EQ_U64(1, out[2]->pos); /* the newer one, in order */
    ASSERT_EQ_U64(5, out[3]->pos);
    ASSERT_EQ_U64(11, out[4]->pos); /* live */
    /* a position past what is visible waits for it */
    struct bus_sub *w = mksub(s, "wait", "nothing", NULL, 11);
    f.visible = 5;
    uint64_t late[] = {8, 3};
    bus_replay_positions(s, w, late, 2, NULL);
    n = rd(s, w, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(1, n);
    ASSERT_EQ_U64(3, out[0]->pos);
    ASSERT_EQ_INT(0, rd(s, w, "c", 10, &f, 0, out));
    bus_sub_info(w, &in);
    ASSERT_EQ_U64(1, in.replays);
    f.visible = 11;
    n = rd(s, w, "c", 10, &f, 0, out);
    ASSERT_EQ_INT(1, n);
    ASSERT_EQ_U64(8, out[0]->pos);
    /* nothing distinct: finished at once */
    uint64_t zero = 0;
    bus_replay_positions(s, w, &zero, 1, &distinct);
    ASSERT_EQ_INT(0, distinct);
    bus_sub_info(w, &in);
    ASSERT_EQ_U64(0, in.replays);
    bus_set_free(s);
}

/* The records of a journal, in order. */
static size_t records_of(const struct mem_journal *m, uint8_t type,
                         size_t *biggest)
{
    size_t o = 0, count = 0;
    *biggest = 0;
    while (o < m->buf.len) {
        const uint8_t *h = (const uint8_t *)m->buf.data + o;
        size_t n =
            h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
        if (h[0] == type) {
            count++;
            *biggest = n > *biggest ? n : *biggest;
        }
        o += 5 + n;
    }
    return count;
}

/* Progress is journaled like a range's: after a restart only what was not
 * scanned comes again; a checkpoint keeps only the positions still to come. */
TEST(positions_replay_survives_recovery_and_checkpoint)
{
    const char *types[3000];
    for (int i = 0; i < 3000; i++)
        types[i] = types10[i % 10];
    struct fake_src f = {types, 3000, 3000, 0, 0};
    struct mem_journal m;
    sbuf_init(&m.buf);
    m.records = 0;
    struct bus_hooks h = {&m, mem_add};
    struct bus_set *s = bus_set_new(&h, WALL);
    struct bus_sub *sub = mksub(s, "d", "nothing", NULL, 3000);
    uint64_t list[1000];
    for (int i = 0; i < 1000; i++)
        list[i] = 3000 - 3 * (uint64_t)i; /* descending, every third */
    ASSERT_TRUE(bus_replay_positions(s, sub, list, 1000, NULL) > 0);
    size_t biggest;
    ASSERT_EQ_INT(1, records_of(&m, BUS_REC_REPLAY_POS, &biggest));
    ASSERT_TRUE(biggest < 2 + 1 + 8 + 8 + 4 + 2 + 1000); /* 1-byte deltas */
    struct bus_entry *out[400];
    ASSERT_EQ_INT(400, rd(s, sub, "c", 400, &f, 0, out));
    ASSERT_EQ_U64(3, out[0]->pos);
    ASSERT_EQ_U64(3 + 3 * 399, out[399]->pos);
    /* the log: 400 delivered and pending, 600 to come */
    struct bus_set *r = recover_all(&m, 0, WALL);
    struct bus_sub *rs = bus_find(r, "d", 1);
    struct bus_sub_info in;
    bus_sub_info(rs, &in);
    ASSERT_EQ_U64(1, in.replays);
    ASSERT_EQ_U64(400, in.held);
    /* a checkpoint of it holds the 600 only */
    struct mem_journal ck;
    sbuf_init(&ck.buf);
    ck.records = 0;
    ASSERT_EQ_INT(0, bus_checkpoint(r, 1 << 16, mem_emit, &ck));
    ASSERT_EQ_INT(1, records_of(&ck, BUS_REC_REPLAY_POS, &biggest));
    ASSERT_TRUE(biggest < 2 + 1 + 8 + 8 + 4 + 600 + 2);
    struct bus_set *r2 = recover_all(&ck, 0, WALL);
    struct bus_sub *subs[3] = {sub, rs, bus_find(r2, "d", 1)};
    struct bus_set *sets[3] = {s, r, r2};
    for (int k = 0; k < 3; k++) {
        uint64_t want = 3 + 3 * 400;
        size_t got = 0, n;
        while ((n = rd(sets[k], subs[k], "z", 400, &f, 1, out)) > 0)
            for (size_t i = 0; i < n; i++, got++, want += 3)
                ASSERT_EQ_U64(want, out[i]->pos);
        ASSERT_EQ_INT(600, got);
        bus_sub_info(subs[k], &in);
        ASSERT_EQ_U64(0, in.replays);
    }
    /* finished: recovery and checkpoint agree there is no replay left */
    sbuf_clear(&ck.buf);
    ASSERT_EQ_INT(0, bus_checkpoint(s, 1 << 16, mem_emit, &ck));
    ASSERT_EQ_INT(0, records_of(&ck, BUS_REC_REPLAY_POS, &biggest));
    struct bus_set *r3 = recover_all(&m, 0, WALL);
    bus_sub_info(bus_find(r3, "d", 1), &in);
    ASSERT_EQ_U64(0, in.replays);
    bus_set_free(s);
    bus_set_free(r);
    bus_set_free(r2);
    bus_set_free(r3);
    sbuf_deinit(&m.buf);
    sbuf_deinit(&ck.buf);
}

/* The largest list one command may give, with big gaps between positions,
 * is one record under the journal's limit and comes back intact. */
TEST(positions_replay_of_the_maximum_fits_one_record)
{
    size_t n = BUS_REPLAY_POSITIONS_MAX;
    uint64_t *list = xmalloc(n * sizeof(*list));
    uint64_t x = 99;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        /* ascending with gaps of 2^40..2^41 (6-byte varints), shuffled by
         * swapping with an earlier slot */
        list[i] = (uint64_t)(i + 1) << 40 | (x >> 40);
        size_t j = (size_t)(x >> 20) % (i + 1);
        uint64_t t = list[i];
        list[i] = list[j];
        list[j] = t;
    }
    struct mem_journal m;
    sbuf_init(&m.buf);
    m.records = 0;
    struct bus_hooks h = {&m, mem_add};
    struct bus_set *s = bus_set_new(&h, WALL);
    struct bus_sub *sub = mksub(s, "big", "nothing", NULL, 0);
    size_t distinct;
    bus_replay_positions(s, sub, list, n, &distinct);
    ASSERT_EQ_U64(n, distinct);
    size_t biggest;
    ASSERT_EQ_INT(1, records_of(&m, BUS_REC_REPLAY_POS, &biggest));
    ASSERT_TRUE(biggest < JOURNAL_MAX_RECORD);
    ASSERT_TRUE(biggest <= 10 * n + 300);
    struct bus_set *r = recover_all(&m, 0, WALL);
    struct mem_journal ck;
    sbuf_init(&ck.buf);
    ck.records = 0;
    ASSERT_EQ_INT(0, bus_checkpoint(r, 1 << 16, mem_emit, &ck));
    size_t again;
    ASSERT_EQ_INT(1, records_of(&ck, BUS_REC_REPLAY_POS, &again));
    ASSERT_EQ_U64(biggest, again); /* same bytes: same positions */
    /* it is the last record of both */
    ASSERT_TRUE(memcmp(m.buf.data + m.buf.len - biggest,
                       ck.buf.data + ck.buf.len - again, biggest) == 0);
    free(list);
    bus_set_free(s);
    bus_set_free(r);
    sbuf_deinit(&m.buf);
    sbuf_deinit(&ck.buf);
}

TEST(bad_positions_replay_records_are_refused)
{
    struct bus_set *s = bus_set_new(NULL, WALL);
    mksub(s, "x", "#", NULL, 0);
    /* str16 "x" | id 7 | after 0 | n 3 | 5, +1, +300 */
    /* clang-format off */
    static const uint8_t good[] = {1, 0, 'x',
                                   7, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0,
                                   3, 0, 0, 0,
                                   5, 1, 0xac, 0x02};
    /* clang-format on */
    char err[256];
    for (size_t cut = 0; cut < sizeof(good); cut++) {
        struct bus_set *r = bus_set_new(NULL, WALL);
        mksub(r, "x", "#", NULL, 0);
        ASSERT_EQ_INT(ERR_CORRUPT, bus_recover(r, BUS_REC_REPLAY_POS, good, cut,
                                               0, err, sizeof(err)));
        ASSERT_TRUE(strstr(err, "bus record") != NULL);
        bus_set_free(r);
    }
    uint8_t bad[sizeof(good) + 11];
    memcpy(bad, good, sizeof(good));
    bad[24] = 0; /* a zero delta: not ascending */
    ASSERT_EQ_INT(ERR_CORRUPT, bus_recover(s, BUS_REC_REPLAY_POS, bad,
                                           sizeof(good), 0, err, sizeof(err)));
    memcpy(bad, good, sizeof(good));
    bad[19] = 4; /* one more position than the record holds */
    ASSERT_EQ_INT(ERR_CORRUPT, bus_recover(s, BUS_REC_REPLAY_POS, bad,
                                           sizeof(good), 0, err, sizeof(err)));
    /* a delta that runs past 2^64 */
    memcpy(bad, good, 23);
    bad[19] = 2;
    memset(bad + 23, 0xff, 9);
    bad[32] = 0x01; /* 2^64 - 1 */
    bad[33] = 5;
    ASSERT_EQ_INT(ERR_CORRUPT, bus_recover(s, BUS_REC_REPLAY_POS, bad, 34, 0,
                                           err, sizeof(err)));
    /* an 11-byte varint */
    memset(bad + 23, 0x80, 10);
    bad[33] = 0;
    bad[19] = 1;
    ASSERT_EQ_INT(ERR_CORRUPT, bus_recover(s, BUS_REC_REPLAY_POS, bad, 34, 0,
                                           err, sizeof(err)));
    /* an unknown subscription */
    memcpy(bad, good, sizeof(good));
    bad[2] = 'y';
    ASSERT_EQ_INT(ERR_CORRUPT, bus_recover(s, BUS_REC_REPLAY_POS, bad,
                                           sizeof(good), 0, err, sizeof(err)));
    struct bus_sub_info in;
    bus_sub_info(bus_find(s, "x", 1), &in);
    ASSERT_EQ_U64(0, in.replays);
    /* the good one applies: positions 5 6 306 */
    ASSERT_EQ_INT(0, bus_recover(s, BUS_REC_REPLAY_POS, good, sizeof(good), 0,
                                 err, sizeof(err)));
    bus_sub_info(bus_find(s, "x", 1), &in);
    ASSERT_EQ_U64(1, in.replays);
    const char *types[400];
    for (int i = 0; i < 400; i++)
        types[i] = "t";
    struct fake_src f = {types, 400, 400, 0, 0};
    struct bus_entry *out[10];
    struct bus_sub *sub = bus_find(s, "x", 1);
    ASSERT_EQ_INT(3, rd(s, sub, "c", 3, &f, 0, out));
    ASSERT_EQ_U64(5, out[0]->pos);
    ASSERT_EQ_U64(6, out[1]->pos);
    ASSERT_EQ_U64(306, out[2]->pos);
    /* ids go on after the recovered one */
    uint64_t p = 9;
    ASSERT_EQ_U64(8, bus_replay_positions(s, sub, &p, 1, NULL));
    bus_set_free(s);
}

TEST(pending_lists_by_position_and_consumer)
{
    struct fake_src f = fake10();
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_sub *sub = mksub(s, "x", "#", NULL, 0);
    struct bus_entry *out[10], *e;
    ASSERT_EQ_INT(3, rd(s, sub, "a", 3, &f, 5, out));
    ASSERT_EQ_INT(3, rd(s, sub, "b", 3, &f, 6, out));
    ASSERT_EQ_INT(0, bus_nack(s, sub, 2, 1000, NULL, 0, 7, &e));
    struct bus_entry *p[10];
    size_t n = bus_pending(sub, NULL, 0, 10, p);
    ASSERT_EQ_INT(6, n);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ_U64(i + 1, p[i]->pos);
    ASSERT_EQ_INT(BUS_DELAYED, p[1]->state);
    n = bus_pending(sub, "a", 1, 10, p);
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_U64(3, p[1]->pos);
    ASSERT_EQ_INT(0, bus_pending(sub, "nobody", 6, 10, p));
    ASSERT_EQ_INT(2, bus_pending(sub, NULL, 0, 2, p));
    bus_set_free(s);
}

/* Runs a mixed workload with a journal hook; returns the set. */
static struct bus_set *workload(struct mem_journal *m, struct fake_src *f,
                                uint64_t *now, unsigned seed, int steps)
{
    struct bus_hooks h = {m, mem_add};
    struct bus_set *s = bus_set_new(&h, WALL);
    mksub(s, "a", "order.*", "audit", 0);
    mksub(s, "b", "#", NULL, 3);
    struct bus_pattern ep = pat("#");
    struct bus_sub_args ea = {0};
    ea.name = "eph";
    ea.name_len = 3;
    ea.pats = &ep;
    ea.npats = 1;
    ea.ephemeral = 1;
    struct bus_sub *eph;
    char err[64];
    bus_sub(s, &ea, &eph, err, sizeof(err));
    struct bus_sub_args ca = {0};
    struct bus_pattern cp = pat("payment.#");
    ca.name = "c";
    ca.name_len = 1;
    ca.pats = &cp;
    ca.npats = 1;
    ca.maxdeliver = 2;
    ca.ackwait = 50;
    struct bus_sub *csub;
    bus_sub(s, &ca, &csub, err, sizeof(err));
    unsigned r = seed;
    struct bus_entry *out[8], *e;
    const char *cons[] = {"w1", "w2", "w3"};
    for (int i = 0; i < steps; i++) {
        r = r * 1103515245u + 12345u;
        unsigned op = (r >> 16) % 10;
        struct bus_sub *sub = bus_at(s, (r >> 8) % bus_count(s));
        *now += (r >> 20) % 40;
        if (f->visible < f->n && op == 9)
            f->visible++;
        size_t n;
        switch (op) {
        case 0:
        case 1:
        case 2:
            n = rd(s, sub, cons[(r >> 4) % 3], 1 + (r >> 12) % 4, f, *now, out);
            for (size_t k = 0; k < n; k++)
                if ((r >> (k + 3)) & 1)
                    bus_ack(s, sub, &(uint64_t){out[k]->pos}, 1);
            break;
        case 3:
            bus_nack(s, sub, 1 + (r >> 10) % f->n, (r >> 14) % 3 ? 0 : 30,
                     "why", 3, *now, &e);
            break;
        case 4:
            bus_touch(s, sub, 1 + (r >> 10) % f->n, *now, &e);
            break;
        case 5:
            bus_tick(s, *now);
            break;
        case 6:
            if ((r >> 12) % 4 == 0)
                bus_redrive_all(s, sub);
            else
                bus_redrive(s, sub, 1 + (r >> 10) % f->n);
            break;
        case 7: {
            struct bus_pattern p = pat((r >> 12) % 2 ? "#" : "order.#");
            uint64_t a = (r >> 3) % f->n;
            if ((r >> 9) % 3 == 0) {
                bus_replay(s, sub, &p, a, a + (r >> 5) % 5);
            } else if ((r >> 9) % 3 == 1) {
                uint64_t list[4] = {1 + a, 1 + (r >> 13) % f->n,
                                    1 + (r >> 17) % f->n, 1 + a};
                bus_replay_positions(s, sub, list, 1 + (r >> 21) % 4, NULL);
            }
            break;
        }
        case 8:
            if ((r >> 11) % 5 == 0)
                bus_consumer_remove(s, sub, cons[(r >> 4) % 3], 2);
            break;
        default:
            break;
        }
        if (!bus_find(s, "eph", 3))
            bus_sub(s, &ea, &eph, err, sizeof(err));
    }
    return s;
}

TEST(journal_records_rebuild_the_same_state)
{
    const char *types[60];
    for (int i = 0; i < 60; i++)
        types[i] = types10[i % 10];
    for (unsigned seed = 1; seed <= 40; seed++) {
        struct fake_src f = {types, 60, 20, 0, 0};
        struct mem_journal m;
        sbuf_init(&m.buf);
        m.records = 0;
        uint64_t now = 1000;
        struct bus_set *s = workload(&m, &f, &now, seed, 400);
        struct sbuf want, got;
        sbuf_init(&want);
        sbuf_init(&got);
        dump(s, &want);
        ASSERT_TRUE(m.records > 10);
        /* the log replayed, same clock */
        struct bus_set *r = recover_all(&m, now, WALL);
        dump(r, &got);
        ASSERT_SAME_DUMP(want.data, got.data);
        /* a checkpoint of the recovered state, replayed */
        struct mem_journal ck;
        sbuf_init(&ck.buf);
        ck.records = 0;
        ASSERT_EQ_INT(0, bus_checkpoint(r, 1 << 16, mem_emit, &ck));
        struct bus_set *r2 = recover_all(&ck, now, WALL);
        dump(r2, &got);
        ASSERT_SAME_DUMP(want.data, got.data);
        /* and the recovered sets keep working alike */
        struct bus_entry *o1[50], *o2[50];
        f.visible = 60;
        size_t n1 = rd(s, bus_find(s, "b", 1), "z", 50, &f, now + 100000, o1);
        size_t n2 = rd(r2, bus_find(r2, "b", 1), "z", 50, &f, now + 100000, o2);
        ASSERT_EQ_INT(n1, n2);
        for (size_t k = 0; k < n1; k++)
            ASSERT_EQ_U64(o1[k]->pos, o2[k]->pos);
        bus_set_free(s);
        bus_set_free(r);
        bus_set_free(r2);
        sbuf_deinit(&want);
        sbuf_deinit(&got);
        sbuf_deinit(&m.buf);
        sbuf_deinit(&ck.buf);
    }
}

TEST(recovery_after_restart_converts_deadlines)
{
    struct fake_src f = fake10();
    struct mem_journal m;
    sbuf_init(&m.buf);
    m.records = 0;
    struct bus_hooks h = {&m, mem_add};
    struct bus_set *s = bus_set_new(&h, WALL);
    struct bus_sub *sub = mksub(s, "x", "#", NULL, 0);
    struct bus_entry *out[5], *e;
    ASSERT_EQ_INT(2, rd(s, sub, "c", 2, &f, 1000, out)); /* deadline 31000 */
    ASSERT_EQ_INT(0, bus_nack(s, sub, 2, 5000, "later", 5, 2000, &e));
    ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){1}, 1));
    ASSERT_EQ_INT(1, rd(s, sub, "c", 1, &f, 3000, out)); /* 3, dl 33000 */
    bus_set_free(s);
    /* restart: monotonic clock restarted at 0 when wall was WALL + 10000 */
    int64_t off = WALL + 10000;
    struct bus_set *r = recover_all(&m, 0, off);
    sub = bus_find(r, "x", 1);
    e = bus_entry_find(sub, 3);
    ASSERT_TRUE(e != NULL);
    ASSERT_EQ_INT(BUS_HELD, e->state);
    ASSERT_EQ_U64(33000 - 10000, e->deadline);
    e = bus_entry_find(sub, 2);
    ASSERT_EQ_INT(BUS_DELAYED, e->state);
    ASSERT_EQ_U64(1, e->deadline); /* 7000 - 10000: overdue */
    ASSERT_TRUE(bus_entry_find(sub, 1) == NULL);
    /* the overdue delay is settled by the first tick */
    ASSERT_EQ_INT(1, bus_tick(r, 1));
    ASSERT_EQ_INT(2, rd(r, sub, "d", 2, &f, 1, out));
    ASSERT_EQ_U64(2, out[0]->pos);
    ASSERT_EQ_U64(4, out[1]->pos);
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    ASSERT_EQ_U64(2, in.consumers); /* c (from its held entry) and d */
    bus_set_free(r);
    sbuf_deinit(&m.buf);
}

TEST(ephemeral_subscriptions_write_no_records)
{
    struct fake_src f = fake10();
    struct mem_journal m;
    sbuf_init(&m.buf);
    m.records = 0;
    struct bus_hooks h = {&m, mem_add};
    struct bus_set *s = bus_set_new(&h, WALL);
    struct bus_pattern p = pat("#");
    struct bus_sub_args a = {0};
    a.name = "e";
    a.name_len = 1;
    a.pats = &p;
    a.npats = 1;
    a.ephemeral = 1;
    struct bus_sub *sub;
    char err[64];
    ASSERT_EQ_INT(1, bus_sub(s, &a, &sub, err, sizeof(err)));
    struct bus_entry *out[5];
    ASSERT_EQ_INT(5, rd(s, sub, "c", 5, &f, 0, out));
    ASSERT_EQ_INT(1, bus_ack(s, sub, &(uint64_t){1}, 1));
    bus_tick(s, 100000);
    ASSERT_EQ_INT(1, bus_consumer_remove(s, sub, "c", 1));
    ASSERT_EQ_INT(0, m.records);
    bus_set_free(s);
    sbuf_deinit(&m.buf);
}

TEST(big_operations_are_split_into_bounded_records)
{
    const char *types[30000];
    for (int i = 0; i < 30000; i++)
        types[i] = "t";
    struct fake_src f = {types, 30000, 30000, 0, 0};
    struct mem_journal m;
    sbuf_init(&m.buf);
    m.records = 0;
    struct bus_hooks h = {&m, mem_add};
    struct bus_set *s = bus_set_new(&h, WALL);
    struct bus_sub *sub = mksub(s, "x", "#", NULL, 0);
    struct bus_entry **out = xmalloc(30000 * sizeof(*out));
    ASSERT_EQ_INT(30000, rd(s, sub, "c", 30000, &f, 0, out));
    size_t before = m.records;
    ASSERT_EQ_U64(30000, bus_tick(s, BUS_ACKWAIT_DEFAULT)); /* ~1.4 MB */
    ASSERT_TRUE(m.records >= before + 2);
    size_t o = 0, biggest = 0;
    while (o < m.buf.len) {
        const uint8_t *hd = (const uint8_t *)m.buf.data + o;
        size_t n = hd[1] | (size_t)hd[2] << 8 | (size_t)hd[3] << 16 |
                   (size_t)hd[4] << 24;
        biggest = n > biggest ? n : biggest;
        o += 5 + n;
    }
    ASSERT_TRUE(biggest < (2u << 20));
    struct bus_set *r = recover_all(&m, BUS_ACKWAIT_DEFAULT, WALL);
    struct bus_sub_info in;
    bus_sub_info(bus_find(r, "x", 1), &in);
    ASSERT_EQ_U64(30000, in.waiting);
    ASSERT_EQ_U64(30000, in.cursor);
    free(out);
    bus_set_free(s);
    bus_set_free(r);
    sbuf_deinit(&m.buf);
}

TEST(corrupt_records_are_refused)
{
    struct fake_src f = fake10();
    struct mem_journal m;
    sbuf_init(&m.buf);
    m.records = 0;
    struct bus_hooks h = {&m, mem_add};
    struct bus_set *s = bus_set_new(&h, WALL);
    struct bus_sub *sub = mksub(s, "x", "#", NULL, 0);
    struct bus_entry *out[5];
    ASSERT_EQ_INT(2, rd(s, sub, "c", 2, &f, 0, out));
    bus_set_free(s);
    /* every truncation of every record is refused, never a crash */
    size_t o = 0;
    int refused = 0;
    while (o < m.buf.len) {
        const uint8_t *hd = (const uint8_t *)m.buf.data + o;
        size_t n = hd[1] | (size_t)hd[2] << 8 | (size_t)hd[3] << 16 |
                   (size_t)hd[4] << 24;
        for (size_t cut = 0; cut < n; cut++) {
            struct bus_set *r = bus_set_new(NULL, WALL);
            char err[256];
            if (hd[0] != BUS_REC_SUB) {
                /* the subscription must exist for the later records */
                const uint8_t *h0 = (const uint8_t *)m.buf.data;
                size_t n0 = h0[1] | (size_t)h0[2] << 8;
                ASSERT_EQ_INT(
                    0, bus_recover(r, h0[0], h0 + 5, n0, 0, err, sizeof(err)));
            }
            int rc = bus_recover(r, hd[0], hd + 5, cut, 0, err, sizeof(err));
            ASSERT_EQ_INT(ERR_CORRUPT, rc);
            ASSERT_TRUE(strstr(err, "bus record") != NULL);
            refused++;
            bus_set_free(r);
        }
        o += 5 + n;
    }
    ASSERT_TRUE(refused > 50);
    struct bus_set *r = bus_set_new(NULL, WALL);
    char err[256];
    ASSERT_EQ_INT(ERR_CORRUPT, bus_recover(r, 99, (const uint8_t *)"", 0, 0,
                                           err, sizeof(err)));
    ASSERT_EQ_STR("bus record: unknown type 99", err);
    /* a STATE for a subscription that does not exist */
    o = 0;
    const uint8_t *hd = (const uint8_t *)m.buf.data;
    size_t n0 = hd[1] | (size_t)hd[2] << 8;
    hd += 5 + n0;
    size_t n1 = hd[1] | (size_t)hd[2] << 8;
    ASSERT_EQ_INT(BUS_REC_STATE, hd[0]);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  bus_recover(r, hd[0], hd + 5, n1, 0, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "unknown subscription") != NULL);
    bus_set_free(r);
    sbuf_deinit(&m.buf);
}

/* ---- the real journal under a simulated power loss ---- */

static struct bus_set *pl_set;
static struct journal *pl_jnl;

static void pl_record(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    (void)ctx;
    char err[256];
    ASSERT_EQ_INT(0, journal_append(pl_jnl, type, p, n, err, sizeof(err)));
}

static int pl_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
    (void)ctx;
    return bus_recover(pl_set, type, p, n, 0, err, errlen);
}

static void pl_open(void)
{
    static const struct bus_hooks h = {NULL, pl_record};
    pl_set = bus_set_new(&h, WALL);
    struct journal_opts o = {0};
    o.dir = test_dir();
    o.name = "bus";
    o.replay = pl_replay;
    char err[256] = "";
    int rc = journal_open(&pl_jnl, &o, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  journal_open: %s\n", err);
    ASSERT_EQ_INT(0, rc);
}

static void pl_close(void)
{
    journal_close(pl_jnl);
    pl_jnl = NULL;
    bus_set_free(pl_set);
    pl_set = NULL;
}

static void bus_power_loss(enum fsx_loss mode)
{
    struct fake_src f = fake10();
    struct bus_entry *out[10], *e;
    fsx_powerloss_track(1);
    pl_open();
    struct bus_sub *sub = mksub(pl_set, "x", "#", NULL, 0);
    ASSERT_EQ_INT(5, rd(pl_set, sub, "c", 5, &f, 100, out));
    uint64_t acked[2] = {1, 3};
    ASSERT_EQ_INT(2, bus_ack(pl_set, sub, acked, 2));
    ASSERT_EQ_INT(0, bus_nack(pl_set, sub, 2, 0, "bad", 3, 100, &e));
    ASSERT_TRUE(journal_commit(pl_jnl, 0) > 0); /* inline fdatasync */
    /* not committed: may be lost */
    ASSERT_EQ_INT(3, rd(pl_set, sub, "d", 3, &f, 200, out)); /* 2, 6, 7 */
    ASSERT_EQ_INT(1, bus_ack(pl_set, sub, &(uint64_t){4}, 1));
    pl_close();
    ASSERT_TRUE(fsx_powerloss_apply(mode) > 0);
    fsx_powerloss_track(0);
    pl_open();
    sub = bus_find(pl_set, "x", 1);
    ASSERT_TRUE(sub != NULL);
    /* committed acks stay acked; committed deliveries stay pending */
    ASSERT_TRUE(bus_entry_find(sub, 1) == NULL);
    ASSERT_TRUE(bus_entry_find(sub, 3) == NULL);
    ASSERT_TRUE(bus_entry_find(sub, 5) != NULL);
    e = bus_entry_find(sub, 2);
    ASSERT_TRUE(e != NULL);
    ASSERT_EQ_STR("bad", e->reason);
    struct bus_sub_info in;
    bus_sub_info(sub, &in);
    ASSERT_TRUE(in.cursor >= 5);
    if (mode == FSX_LOSS_DROP) {
        /* the uncommitted read and ack are gone: 4 is pending again, 6 and
         * 7 are delivered again (at least once), 2 is ready again */
        ASSERT_EQ_U64(5, in.cursor);
        ASSERT_TRUE(bus_entry_find(sub, 4) != NULL);
        ASSERT_EQ_INT(BUS_READY, bus_entry_find(sub, 2)->state);
    }
    /* nothing acked-and-committed is ever delivered again */
    size_t n = rd(pl_set, sub, "z", 10, &f, 1000000, out);
    for (size_t i = 0; i < n; i++)
        ASSERT_TRUE(out[i]->pos != 1 && out[i]->pos != 3);
    pl_close();
}

TEST(power_loss_keeps_committed_bus_state)
{
    bus_power_loss(FSX_LOSS_DROP);
    test_rm_rf_(test_dir());
    ASSERT_EQ_INT(0, mkdir(test_dir(), 0700));
    bus_power_loss(FSX_LOSS_HALF);
    test_rm_rf_(test_dir());
    ASSERT_EQ_INT(0, mkdir(test_dir(), 0700));
    bus_power_loss(FSX_LOSS_ZERO);
}

/* Mutated records (flipped, cut, inserted bytes) are applied or refused,
 * never a crash or an inconsistent set; run under ASan in make check. */
TEST(mutated_records_never_crash)
{
    const char *types[60];
    for (int i = 0; i < 60; i++)
        types[i] = types10[i % 10];
    struct fake_src f = {types, 60, 40, 0, 0};
    struct mem_journal m;
    sbuf_init(&m.buf);
    m.records = 0;
    uint64_t now = 1000;
    struct bus_set *live = workload(&m, &f, &now, 77, 300);
    bus_set_free(live);
    /* index the records */
    size_t offs[4096], nrec = 0, o = 0;
    while (o < m.buf.len && nrec < 4096) {
        const uint8_t *h = (const uint8_t *)m.buf.data + o;
        size_t n =
            h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
        offs[nrec++] = o;
        o += 5 + n;
    }
    unsigned r = 12345;
    size_t refused = 0, applied = 0;
    for (int round = 0; round < 3000; round++) {
        struct bus_set *s = bus_set_new(NULL, WALL);
        r = r * 1103515245u + 12345u;
        size_t victim = (r >> 8) % nrec;
        for (size_t k = 0; k <= victim; k++) {
            const uint8_t *h = (const uint8_t *)m.buf.data + offs[k];
            size_t n = h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 |
                       (size_t)h[4] << 24;
            uint8_t *copy = xmalloc(n + 16);
            memcpy(copy, h + 5, n);
            uint8_t type = h[0];
            if (k == victim) {
                r = r * 1103515245u + 12345u;
                switch ((r >> 16) % 4) {
                case 0: /* flip bits */
                    for (int b = 0; b < 3 && n; b++) {
                        r = r * 1103515245u + 12345u;
                        copy[(r >> 8) % n] ^= (uint8_t)(1u << ((r >> 4) % 8));
                    }
                    break;
                case 1: /* cut */
                    n = n ? (r >> 8) % n : 0;
                    break;
                case 2: /* insert a byte */
                    if (n) {
                        size_t at = (r >> 8) % n;
                        memmove(copy + at + 1, copy + at, n - at);
                        copy[at] = (uint8_t)(r >> 3);
                        n++;
                    }
                    break;
                default: /* another type byte */
                    type = (uint8_t)(1 + (r >> 8) % 5);
                }
            }
            char err[256];
            int rc = bus_recover(s, type, copy, n, now, err, sizeof(err));
            free(copy);
            if (k == victim) {
                ASSERT_TRUE(rc == 0 || rc == ERR_CORRUPT);
                refused += rc != 0;
                applied += rc == 0;
            } else if (rc != 0) {
                break; /* an earlier victim's subscription went missing */
            }
        }
        /* whatever was applied is usable */
        for (size_t i = 0; i < bus_count(s); i++) {
            struct bus_sub *sub = bus_at(s, i);
            struct bus_entry *out[8];
            struct bus_sub_info in;
            bus_sub_info(sub, &in);
            if (in.npats == 0)
                continue;
            rd(s, sub, "fz", 8, &f, now, out);
            bus_tick(s, now + 10000000);
        }
        struct sbuf d;
        sbuf_init(&d);
        dump(s, &d);
        sbuf_deinit(&d);
        bus_set_free(s);
    }
    ASSERT_TRUE(refused > 100);
    ASSERT_TRUE(applied > 100);
    sbuf_deinit(&m.buf);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){
            T(fanout_each_subscription_gets_its_matches_in_order),
            T(pattern_table_through_subscriptions),
            T(consumers_share_the_work),
            T(start_points_and_visible_limit),
            T(source_that_stops_early_is_asked_again),
            T(ack_removes_and_is_idempotent),
            T(missed_deadline_goes_to_another_consumer),
            T(read_settles_deadlines_without_a_tick),
            T(nack_with_delay_then_redelivery),
            T(touch_keeps_an_event_from_redelivery),
            T(maxdeliver_then_dead_then_redrive),
            T(consumer_removed_returns_its_events_and_ephemeral_vanishes),
            T(update_replaces_bindings_keeps_cursor),
            T(replay_streams_history_before_live_events),
            T(positions_replay_delivers_exactly_the_list_in_order),
            T(positions_replay_survives_recovery_and_checkpoint),
            T(positions_replay_of_the_maximum_fits_one_record),
            T(bad_positions_replay_records_are_refused),
            T(pending_lists_by_position_and_consumer),
            T(journal_records_rebuild_the_same_state),
            T(recovery_after_restart_converts_deadlines),
            T(ephemeral_subscriptions_write_no_records),
            T(big_operations_are_split_into_bounded_records),
            T(corrupt_records_are_refused),
            T(power_loss_keeps_committed_bus_state),
            T(mutated_records_never_crash),
            {0}});
}
