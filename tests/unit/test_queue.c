/* test_queue.c - the queue state machine on a fake clock, and its journal
 * records (every change replayed into a fresh set gives the same state). */
#include "queue.h"

#include <sys/stat.h>

#include "common.h"
#include "errors.h"
#include "fsx.h"
#include "journal.h"
#include "sbuf.h"
#include "test.h"

/* ---- a journal in memory: every hook change appended as a record ---- */
struct mem_journal {
    struct sbuf buf; /* u8 type | u32 len | payload, repeated */
    uint64_t *now;   /* ms, the fake monotonic clock */
    uint64_t wall;   /* ms, wall clock at mono 0 */
    size_t records;
};

static void mem_add(struct mem_journal *m, uint8_t type, const uint8_t *p,
                    size_t n)
{
    uint8_t h[5] = {type, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                    (uint8_t)(n >> 24)};
    sbuf_add(&m->buf, h, 5);
    sbuf_add(&m->buf, p, n);
    m->records++;
}

static void on_change(void *ctx, const struct queue_job *j,
                      enum queue_change what)
{
    struct mem_journal *m = ctx;
    size_t n = queue_rec_size(j, what);
    uint8_t *b = xmalloc(n);
    uint8_t type = queue_rec_encode(b, j, what, *m->now, m->wall + *m->now);
    mem_add(m, type, b, n);
    free(b);
}

static int emit(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    mem_add(ctx, type, p, n);
    return 0;
}

/* Replays m into a new set at monotonic time now (wall = m->wall + wall_off +
 * now: a restart later in wall time, clock restarted). */
static struct queue_set *replay_all(struct mem_journal *m, uint64_t now,
                                    uint64_t wall_now)
{
    struct queue_set *s = queue_set_new(NULL, 7, 1);
    size_t o = 0;
    while (o < m->buf.len) {
        const uint8_t *h = (const uint8_t *)m->buf.data + o;
        size_t n = h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 |
                   (size_t)h[4] << 24;
        char err[128];
        ASSERT_EQ_INT(0, queue_replay(s, h[0], h + 5, n, now, wall_now, err,
                                      sizeof(err)));
        o += 5 + n;
    }
    queue_replay_done(s, now);
    return s;
}

static uint64_t now;
static struct mem_journal mj;

static struct queue_set *fresh(void)
{
    now = 1000;
    sbuf_init(&mj.buf);
    mj.now = &now;
    mj.wall = 1700000000000ull;
    mj.records = 0;
    struct queue_hooks h = {&mj, on_change};
    return queue_set_new(&h, 42, 1);
}

static void done(struct queue_set *s)
{
    queue_set_free(s);
    sbuf_deinit(&mj.buf);
}

static struct queue_job *push(struct queue_set *s, const char *q,
                              const char *id, const char *payload,
                              int64_t prio, uint64_t delay, uint32_t maxa)
{
    struct queue_push_args a = {q, strlen(q), id, id ? strlen(id) : 0,
                                payload, strlen(payload), prio, delay, maxa};
    struct queue_job *j = NULL;
    ASSERT_EQ_INT(1, queue_push(s, &a, now, &j));
    return j;
}

/* Pops one job from q with lease; returns its id (static buffer) or "". */
static const char *pop1(struct queue_set *s, const char *q, uint64_t lease)
{
    static char id[QUEUE_ID_MAX + 1];
    const char *names[1] = {q};
    size_t lens[1] = {strlen(q)};
    struct queue_job *j[1];
    if (queue_pop(s, names, lens, 1, 1, lease, now, j) != 1)
        return "";
    memcpy(id, j[0]->id, j[0]->id_len + 1);
    return id;
}

TEST(priority_then_fifo)
{
    struct queue_set *s = fresh();
    push(s, "q", "a", "1", 0, 0, 10);
    push(s, "q", "b", "2", 5, 0, 10);
    push(s, "q", "c", "3", 0, 0, 10);
    push(s, "q", "d", "4", 5, 0, 10);
    push(s, "q", "e", "5", -3, 0, 10);
    ASSERT_EQ_STR("b", pop1(s, "q", 1000));
    ASSERT_EQ_STR("d", pop1(s, "q", 1000));
    ASSERT_EQ_STR("a", pop1(s, "q", 1000));
    ASSERT_EQ_STR("c", pop1(s, "q", 1000));
    ASSERT_EQ_STR("e", pop1(s, "q", 1000));
    ASSERT_EQ_STR("", pop1(s, "q", 1000));
    done(s);
}

TEST(generated_ids_and_payload)
{
    struct queue_set *s = fresh();
    struct queue_job *a = push(s, "q", NULL, "hello", 0, 0, 10);
    struct queue_job *b = push(s, "q", NULL, "world", 0, 0, 10);
    ASSERT_EQ_STR("1", a->id);
    ASSERT_EQ_STR("2", b->id);
    ASSERT_EQ_MEM("hello", 5, a->payload, a->payload_len);
    ASSERT_TRUE(queue_find(s, "2", 1) == b);
    /* a client id that looks generated is skipped by the generator */
    push(s, "q", "3", "x", 0, 0, 10);
    struct queue_job *d = push(s, "q", NULL, "y", 0, 0, 10);
    ASSERT_EQ_STR("4", d->id);
    done(s);
}

TEST(idempotent_push)
{
    struct queue_set *s = fresh();
    struct queue_job *a = push(s, "q", "job-1", "one", 0, 0, 10);
    struct queue_push_args again = {"other", 5, "job-1", 5, "two", 3, 9, 0, 3};
    struct queue_job *b = NULL;
    ASSERT_EQ_INT(0, queue_push(s, &again, now, &b));
    ASSERT_TRUE(a == b);
    ASSERT_EQ_MEM("one", 3, b->payload, b->payload_len);
    ASSERT_EQ_INT(1, queue_job_count(s));
    ASSERT_EQ_INT(1, queue_count(s)); /* "other" was not created */
    /* once acked, the id may be used again */
    ASSERT_EQ_INT(0, queue_ack(s, "job-1", 5));
    ASSERT_EQ_INT(0, queue_count(s));
    ASSERT_EQ_INT(1, queue_push(s, &again, now, &b));
    ASSERT_EQ_MEM("two", 3, b->payload, b->payload_len);
    done(s);
}

TEST(earlier_queue_wins_ties)
{
    struct queue_set *s = fresh();
    push(s, "b", "b1", "x", 1, 0, 10);
    push(s, "a", "a1", "x", 1, 0, 10);
    push(s, "a", "a2", "x", 0, 0, 10);
    push(s, "b", "b2", "x", 2, 0, 10);
    const char *names[3] = {"a", "nosuch", "b"};
    size_t lens[3] = {1, 6, 1};
    struct queue_job *j[8];
    ASSERT_EQ_INT(4, queue_pop(s, names, lens, 3, 8, 1000, now, j));
    ASSERT_EQ_STR("b2", j[0]->id); /* highest priority first */
    ASSERT_EQ_STR("a1", j[1]->id); /* tie at 1: "a" is named first */
    ASSERT_EQ_STR("b1", j[2]->id);
    ASSERT_EQ_STR("a2", j[3]->id);
    ASSERT_EQ_STR("a", j[3]->q ? queue_name(j[3]->q, &lens[0]) : "");
    done(s);
}

TEST(count_limits_pop)
{
    struct queue_set *s = fresh();
    for (int i = 0; i < 5; i++)
        push(s, "q", NULL, "x", 0, 0, 10);
    const char *names[1] = {"q"};
    size_t lens[1] = {1};
    struct queue_job *j[5];
    ASSERT_EQ_INT(2, queue_pop(s, names, lens, 1, 2, 1000, now, j));
    ASSERT_EQ_STR("1", j[0]->id);
    ASSERT_EQ_STR("2", j[1]->id);
    ASSERT_EQ_INT(1, j[0]->attempts);
    ASSERT_EQ_U64(now + 1000, j[0]->lease_deadline);
    struct queue_info info;
    queue_info(s, "q", 1, now, &info);
    ASSERT_EQ_INT(3, info.ready);
    ASSERT_EQ_INT(2, info.leased);
    done(s);
}

TEST(delay_makes_ready_later)
{
    struct queue_set *s = fresh();
    push(s, "q", "late", "x", 9, 500, 10);
    push(s, "q", "now", "x", 0, 0, 10);
    uint64_t d = 0;
    ASSERT_EQ_INT(1, queue_next_deadline(s, &d));
    ASSERT_EQ_U64(now + 500, d);
    ASSERT_EQ_STR("now", pop1(s, "q", 10000));
    ASSERT_EQ_STR("", pop1(s, "q", 10000));
    now += 499;
    ASSERT_EQ_STR("", pop1(s, "q", 10000));
    now += 1;
    ASSERT_EQ_STR("late", pop1(s, "q", 10000));
    done(s);
}

TEST(expired_lease_goes_to_next_worker)
{
    struct queue_set *s = fresh();
    push(s, "q", "j", "x", 0, 0, 10);
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    now += 99;
    ASSERT_EQ_INT(0, queue_tick(s, now));
    ASSERT_EQ_STR("", pop1(s, "q", 100));
    now += 1;
    ASSERT_EQ_INT(1, queue_tick(s, now));
    struct queue_job *j = queue_find(s, "j", 1);
    ASSERT_EQ_INT(QUEUE_READY, j->state);
    ASSERT_EQ_MEM("lease expired", 13, j->reason, j->reason_len);
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    ASSERT_EQ_INT(2, queue_find(s, "j", 1)->attempts);
    done(s);
}

TEST(expiry_without_tick_is_settled_by_pop)
{
    struct queue_set *s = fresh();
    push(s, "q", "j", "x", 0, 0, 10);
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    now += 150; /* the timer did not run */
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    done(s);
}

TEST(max_attempts_then_dead_then_kick)
{
    struct queue_set *s = fresh();
    push(s, "q", "j", "x", 0, 0, 3);
    push(s, "q", "k", "x", -1, 0, 1);
    struct queue_job *out;
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    ASSERT_EQ_INT(0, queue_nack(s, "j", 1, 0, "boom", 4, now, &out));
    ASSERT_EQ_INT(QUEUE_READY, out->state);
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    now += 100; /* expiry counts as an attempt */
    queue_tick(s, now);
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    ASSERT_EQ_INT(3, queue_find(s, "j", 1)->attempts);
    ASSERT_EQ_INT(0, queue_nack(s, "j", 1, 0, "final", 5, now, &out));
    ASSERT_EQ_INT(QUEUE_DEAD, out->state);
    ASSERT_EQ_MEM("final", 5, out->reason, out->reason_len);
    ASSERT_EQ_STR("k", pop1(s, "q", 100));
    now += 100;
    queue_tick(s, now);
    ASSERT_EQ_INT(QUEUE_DEAD, queue_find(s, "k", 1)->state);
    ASSERT_EQ_STR("", pop1(s, "q", 100));

    struct queue_job *d[4];
    ASSERT_EQ_INT(2, queue_dead(s, "q", 1, 4, d));
    ASSERT_EQ_STR("j", d[0]->id); /* oldest death first */
    ASSERT_EQ_STR("k", d[1]->id);
    ASSERT_EQ_INT(1, queue_dead(s, "q", 1, 1, d));
    struct queue_info info;
    queue_info(s, "q", 1, now, &info);
    ASSERT_EQ_INT(2, info.dead);
    ASSERT_EQ_INT(0, info.ready);

    ASSERT_EQ_INT(1, queue_kick(s, "q", 1, 1, now));
    struct queue_job *j = queue_find(s, "j", 1);
    ASSERT_EQ_INT(QUEUE_READY, j->state);
    ASSERT_EQ_INT(0, j->attempts);
    ASSERT_EQ_MEM("final", 5, j->reason, j->reason_len);
    ASSERT_EQ_INT(1, queue_kick(s, "q", 1, UINT64_MAX, now));
    ASSERT_EQ_INT(0, queue_kick(s, "q", 1, UINT64_MAX, now));
    ASSERT_EQ_INT(0, queue_kick(s, "none", 4, UINT64_MAX, now));
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    ASSERT_EQ_INT(1, queue_find(s, "j", 1)->attempts);
    done(s);
}

TEST(nack_with_delay)
{
    struct queue_set *s = fresh();
    push(s, "q", "j", "x", 0, 0, 10);
    struct queue_job *out;
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    ASSERT_EQ_INT(0, queue_nack(s, "j", 1, 300, NULL, 0, now, &out));
    ASSERT_EQ_INT(QUEUE_DELAYED, out->state);
    ASSERT_TRUE(out->reason == NULL);
    now += 299;
    ASSERT_EQ_STR("", pop1(s, "q", 100));
    now += 1;
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    done(s);
}

TEST(nack_touch_errors)
{
    struct queue_set *s = fresh();
    struct queue_job *out = NULL;
    ASSERT_EQ_INT(ERR_NOJOB, queue_nack(s, "x", 1, 0, NULL, 0, now, &out));
    ASSERT_EQ_INT(ERR_NOJOB, queue_touch(s, "x", 1, 0, now, &out));
    ASSERT_EQ_INT(ERR_NOJOB, queue_ack(s, "x", 1));
    ASSERT_EQ_INT(ERR_NOJOB, queue_del(s, "x", 1));
    push(s, "q", "j", "x", 0, 0, 10);
    ASSERT_EQ_INT(ERR_INVAL, queue_nack(s, "j", 1, 0, NULL, 0, now, &out));
    ASSERT_TRUE(out == queue_find(s, "j", 1));
    ASSERT_EQ_INT(ERR_INVAL, queue_touch(s, "j", 1, 0, now, &out));
    ASSERT_EQ_INT(QUEUE_READY, out->state); /* unchanged */
    done(s);
}

TEST(touch_extends_lease)
{
    struct queue_set *s = fresh();
    push(s, "q", "j", "x", 0, 0, 10);
    push(s, "q", "k", "x", 0, 0, 10);
    ASSERT_EQ_STR("j", pop1(s, "q", 100));
    ASSERT_EQ_STR("k", pop1(s, "q", 200));
    struct queue_job *out;
    now += 90;
    ASSERT_EQ_INT(0, queue_touch(s, "j", 1, 0, now, &out));
    ASSERT_EQ_U64(now + 100, out->lease_deadline);
    uint64_t d;
    ASSERT_EQ_INT(1, queue_next_deadline(s, &d));
    ASSERT_EQ_U64(now + 100, d); /* j (1190) now ends before k (1200) */
    now += 90;
    ASSERT_EQ_INT(0, queue_touch(s, "j", 1, 5000, now, &out));
    ASSERT_EQ_U64(now + 5000, out->lease_deadline);
    ASSERT_EQ_INT(1, queue_next_deadline(s, &d));
    ASSERT_EQ_U64(1000 + 200, d); /* k is next to end */
    now = 1000 + 200;
    ASSERT_EQ_INT(1, queue_tick(s, now)); /* k expired, j still leased */
    ASSERT_EQ_INT(QUEUE_LEASED, queue_find(s, "j", 1)->state);
    ASSERT_EQ_INT(QUEUE_READY, queue_find(s, "k", 1)->state);
    now += 5000;
    /* past its deadline (timer late): touching a lost lease fails */
    ASSERT_EQ_INT(ERR_INVAL, queue_touch(s, "j", 1, 0, now, &out));
    done(s);
}

TEST(peek_in_pop_order_without_change)
{
    struct queue_set *s = fresh();
    static const int prios[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
    char id[16];
    for (unsigned i = 0; i < 11; i++) {
        snprintf(id, sizeof(id), "j%02u", i);
        push(s, "q", id, "x", prios[i], 0, 10);
    }
    push(s, "q", "later", "x", 100, 1000, 10);
    struct queue_job *p[20];
    size_t n = queue_peek(s, "q", 1, 20, now, p);
    ASSERT_EQ_INT(11, n);
    char seen[11][8];
    for (size_t i = 0; i < n; i++)
        memcpy(seen[i], p[i]->id, 4);
    ASSERT_EQ_INT(4, queue_peek(s, "q", 1, 4, now, p));
    ASSERT_EQ_STR("j05", p[0]->id);
    ASSERT_EQ_STR("j07", p[1]->id);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ_STR(seen[i], pop1(s, "q", 100)); /* pop order == peek order */
    ASSERT_EQ_INT(0, queue_peek(s, "q", 1, 20, now, p));
    ASSERT_EQ_INT(0, queue_peek(s, "none", 4, 20, now, p));
    done(s);
}

TEST(ack_and_del_any_state)
{
    struct queue_set *s = fresh();
    push(s, "q", "r", "x", 0, 0, 10);
    push(s, "q", "d", "x", 0, 100, 10);
    push(s, "q", "l", "x", 1, 0, 10);
    ASSERT_EQ_STR("l", pop1(s, "q", 100));
    ASSERT_EQ_INT(0, queue_ack(s, "l", 1));
    ASSERT_EQ_INT(0, queue_del(s, "d", 1));
    ASSERT_EQ_INT(0, queue_ack(s, "r", 1));
    ASSERT_EQ_INT(0, queue_job_count(s));
    ASSERT_EQ_INT(0, queue_count(s));
    uint64_t d;
    ASSERT_EQ_INT(0, queue_next_deadline(s, &d));
    done(s);
}

static void collect(void *ctx, const char *name, size_t len)
{
    struct sbuf *b = ctx;
    sbuf_add(b, name, len);
    sbuf_addc(b, ',');
}

TEST(info_and_queue_list)
{
    struct queue_set *s = fresh();
    push(s, "zz", "1", "x", 0, 0, 10);
    now += 50;
    push(s, "aa", "2", "x", 0, 0, 10);
    push(s, "aa", "3", "x", 0, 10, 10);
    push(s, "mm", "4", "x", 0, 0, 1);
    ASSERT_EQ_STR("4", pop1(s, "mm", 10));
    now += 10; /* 3 ready, 4 dead */
    struct queue_info i;
    queue_info(s, NULL, 0, now, &i);
    ASSERT_EQ_INT(3, i.ready);
    ASSERT_EQ_INT(0, i.delayed);
    ASSERT_EQ_INT(0, i.leased);
    ASSERT_EQ_INT(1, i.dead);
    ASSERT_EQ_INT(60, i.oldest_age);
    queue_info(s, "aa", 2, now, &i);
    ASSERT_EQ_INT(2, i.ready);
    ASSERT_EQ_INT(10, i.oldest_age);
    queue_info(s, "mm", 2, now, &i);
    ASSERT_EQ_INT(1, i.dead);
    ASSERT_EQ_INT(0, i.oldest_age); /* only dead jobs */
    queue_info(s, "nope", 4, now, &i);
    ASSERT_EQ_INT(0, i.ready + i.dead + i.leased + i.delayed);
    struct sbuf b;
    sbuf_init(&b);
    queue_foreach(s, collect, &b);
    ASSERT_EQ_STR("aa,mm,zz,", b.data);
    sbuf_deinit(&b);
    ASSERT_EQ_INT(3, queue_count(s));
    done(s);
}

/* Compares two sets job by job (state, attempts, payload, reason). */
static void assert_same(struct queue_set *a, struct queue_set *b,
                        const char *const *ids, size_t nids)
{
    ASSERT_EQ_INT(queue_job_count(a), queue_job_count(b));
    for (size_t i = 0; i < nids; i++) {
        struct queue_job *x = queue_find(a, ids[i], strlen(ids[i]));
        struct queue_job *y = queue_find(b, ids[i], strlen(ids[i]));
        ASSERT_TRUE((x == NULL) == (y == NULL));
        if (!x)
            continue;
        enum queue_state want = x->state;
        ASSERT_EQ_INT(want, y->state);
        ASSERT_EQ_INT(x->attempts, y->attempts);
        ASSERT_EQ_INT(x->max_attempts, y->max_attempts);
        ASSERT_EQ_INT(x->priority, y->priority);
        ASSERT_EQ_MEM(x->payload, x->payload_len, y->payload, y->payload_len);
        ASSERT_EQ_MEM(x->reason ? x->reason : "", x->reason_len,
                      y->reason ? y->reason : "", y->reason_len);
        size_t l1, l2;
        const char *n1 = queue_name(x->q, &l1), *n2 = queue_name(y->q, &l2);
        ASSERT_EQ_MEM(n1, l1, n2, l2);
    }
}

TEST(journal_replay_rebuilds_state)
{
    struct queue_set *s = fresh();
    push(s, "q", "ready", "payload-r", 2, 0, 10);
    push(s, "q", "delayed", "payload-d", 0, 5000, 10);
    push(s, "q", "gone", "x", 0, 0, 10);
    push(s, "q2", "dead", "payload-x", 7, 0, 1);
    push(s, "q", "leased", "payload-l", 9, 0, 10);
    struct queue_job *out;
    ASSERT_EQ_STR("leased", pop1(s, "q", 60000));
    ASSERT_EQ_STR("dead", pop1(s, "q2", 60000));
    ASSERT_EQ_INT(0, queue_nack(s, "dead", 4, 0, "bad input", 9, now, &out));
    ASSERT_EQ_INT(0, queue_ack(s, "gone", 4));
    /* "leased" differs on purpose (checked below) */
    static const char *const ids[] = {"ready", "delayed", "gone", "dead"};
    /* restart 1000 ms later in wall time; the monotonic clock started over */
    uint64_t wall_now = mj.wall + now + 1000;
    struct queue_set *r = replay_all(&mj, 5, wall_now);
    /* the leased job ended its attempt: ready again, attempt kept */
    struct queue_job *l = queue_find(r, "leased", 6);
    ASSERT_EQ_INT(QUEUE_READY, l->state);
    ASSERT_EQ_INT(1, l->attempts);
    ASSERT_EQ_MEM("lease lost in a restart", 23, l->reason, l->reason_len);
    ASSERT_EQ_MEM("payload-l", 9, l->payload, l->payload_len);
    assert_same(s, r, ids, 4);
    /* the delay keeps its wall-clock end: 5000 - 1000 ms left */
    uint64_t d = 0;
    ASSERT_EQ_INT(1, queue_next_deadline(r, &d));
    ASSERT_EQ_U64(5 + 4000, d);
    /* pop order survives */
    const char *names[2] = {"q", "q2"};
    size_t lens[2] = {1, 2};
    struct queue_job *j[4];
    ASSERT_EQ_INT(2, queue_pop(r, names, lens, 2, 4, 100, 5, j));
    ASSERT_EQ_STR("leased", j[0]->id);
    ASSERT_EQ_INT(2, j[0]->attempts);
    ASSERT_EQ_STR("ready", j[1]->id);
    queue_set_free(r);

    /* a checkpoint of the live state replays to the same state */
    struct mem_journal ck = {.now = &now, .wall = mj.wall};
    sbuf_init(&ck.buf);
    ASSERT_EQ_INT(0, queue_checkpoint(s, now, mj.wall + now, emit, &ck));
    ASSERT_EQ_INT(4, ck.records);
    r = replay_all(&ck, 5, wall_now);
    assert_same(s, r, ids, 4);
    ASSERT_EQ_INT(QUEUE_READY, queue_find(r, "leased", 6)->state);
    queue_set_free(r);
    sbuf_deinit(&ck.buf);
    done(s);
}

TEST(replay_kills_leased_job_out_of_attempts)
{
    struct queue_set *s = fresh();
    push(s, "q", "once", "x", 0, 0, 1);
    ASSERT_EQ_STR("once", pop1(s, "q", 60000));
    struct queue_set *r = replay_all(&mj, 0, mj.wall + now);
    ASSERT_EQ_INT(QUEUE_DEAD, queue_find(r, "once", 4)->state);
    queue_set_free(r);
    done(s);
}

TEST(generated_ids_continue_after_replay)
{
    struct queue_set *s = fresh();
    push(s, "q", NULL, "x", 0, 0, 10);
    push(s, "q", NULL, "x", 0, 0, 10);
    push(s, "q", "777", "x", 0, 0, 10);
    push(s, "q", "0999", "x", 0, 0, 10);
    struct queue_set *r = replay_all(&mj, 0, mj.wall + now);
    struct queue_push_args a = {"q", 1, NULL, 0, "y", 1, 0, 0, 10};
    struct queue_job *j;
    ASSERT_EQ_INT(1, queue_push(r, &a, 0, &j));
    ASSERT_EQ_STR("778", j->id);
    queue_set_free(r);
    done(s);
}

TEST(corrupt_records_are_refused)
{
    struct queue_set *s = queue_set_new(NULL, 1, 1);
    char err[128] = "";
    uint8_t junk[3] = {1, 2, 3};
    ASSERT_EQ_INT(ERR_CORRUPT, queue_replay(s, QUEUE_REC_JOB, junk, 3, 0, 0,
                                            err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "bad job record") != NULL);
    ASSERT_EQ_INT(ERR_CORRUPT, queue_replay(s, 99, junk, 3, 0, 0, err,
                                            sizeof(err)));
    ASSERT_EQ_INT(ERR_CORRUPT, queue_replay(s, QUEUE_REC_GONE, junk, 3, 0, 0,
                                            err, sizeof(err)));
    /* a length that runs past the end */
    uint8_t gone[6] = {200, 0, 0, 0, 'a', 'b'};
    ASSERT_EQ_INT(ERR_CORRUPT, queue_replay(s, QUEUE_REC_GONE, gone, 6, 0, 0,
                                            err, sizeof(err)));
    /* a state change of an unknown job is ignored (compacted away) */
    uint8_t st[1 + 4 + 8 + 4 + 1 + 4] = {0};
    st[13] = 1;
    st[17] = 'z';
    ASSERT_EQ_INT(0, queue_replay(s, QUEUE_REC_STATE, st, sizeof(st), 0, 0,
                                  err, sizeof(err)));
    ASSERT_EQ_INT(0, queue_job_count(s));
    queue_set_free(s);
}

/* A batch record applies all its records, and a malformed one applies none. */
TEST(batch_records_apply_together)
{
    struct queue_set *s = fresh();
    push(s, "q", "b1", "one", 0, 0, 10);
    push(s, "q", "b2", "two", 0, 0, 10);
    /* wrap both JOB records of the in-memory journal in one batch */
    struct sbuf batch;
    sbuf_init(&batch);
    size_t o = 0;
    while (o < mj.buf.len) {
        const uint8_t *h = (const uint8_t *)mj.buf.data + o;
        size_t n = h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 |
                   (size_t)h[4] << 24;
        uint8_t hdr[QUEUE_BATCH_HDR];
        queue_rec_batch_header(hdr, h[0], n);
        sbuf_add(&batch, hdr, sizeof(hdr));
        sbuf_add(&batch, h + 5, n);
        o += 5 + n;
    }
    struct queue_set *r = queue_set_new(NULL, 3, 1);
    char err[128];
    /* cut short: nothing applied */
    ASSERT_EQ_INT(ERR_CORRUPT, queue_replay(r, QUEUE_REC_BATCH,
                                            (const uint8_t *)batch.data,
                                            batch.len - 1, 0, 0, err,
                                            sizeof(err)));
    ASSERT_EQ_INT(0, queue_job_count(r));
    ASSERT_EQ_INT(0, queue_replay(r, QUEUE_REC_BATCH,
                                  (const uint8_t *)batch.data, batch.len, 0,
                                  0, err, sizeof(err)));
    ASSERT_EQ_INT(2, queue_job_count(r));
    ASSERT_EQ_MEM("two", 3, queue_find(r, "b2", 2)->payload, 3);
    queue_set_free(r);
    sbuf_deinit(&batch);
    done(s);
}

/* Random operations on many jobs: counters always add up, every hook change
 * replays to the same state, nothing leaks (ASan build). */
TEST(random_operations_keep_invariants)
{
    struct queue_set *s = fresh();
    uint64_t rnd = 12345;
    char id[16];
    static const char *const qs[3] = {"a", "b", "c"};
    for (int step = 0; step < 20000; step++) {
        rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(rnd >> 33);
        snprintf(id, sizeof(id), "j%u", r % 500);
        size_t idl = strlen(id);
        struct queue_job *out;
        switch (r % 8) {
        case 0:
        case 1:
            push(s, qs[r % 3], NULL, "p", (int64_t)(r % 5), (r >> 8) % 2 ? 0 : r % 50, 1 + r % 4);
            break;
        case 2: {
            struct queue_push_args a = {qs[r % 3], 1, id, idl, "q", 1, 0, 0, 3};
            queue_push(s, &a, now, &out);
            break;
        }
        case 3: {
            struct queue_job *j[3];
            size_t lens[3] = {1, 1, 1};
            queue_pop(s, (const char *const *)qs, lens, 3, 1 + r % 3, 1 + r % 40, now, j);
            break;
        }
        case 4:
            queue_ack(s, id, idl);
            break;
        case 5:
            queue_nack(s, id, idl, r % 2 ? 0 : 20, "n", 1, now, &out);
            break;
        case 6:
            queue_kick(s, qs[r % 3], 1, r % 3, now);
            break;
        case 7:
            now += r % 7;
            queue_tick(s, now);
            break;
        }
        if (step % 1000 == 0) {
            struct queue_info i;
            queue_info(s, NULL, 0, now, &i);
            ASSERT_EQ_U64(queue_job_count(s), i.ready + i.delayed + i.leased + i.dead);
        }
    }
    /* replay everything; leased jobs end their attempt in both */
    struct queue_set *r = replay_all(&mj, now, mj.wall + now);
    queue_replay_done(s, now); /* same treatment for the compare */
    ASSERT_EQ_INT(queue_job_count(s), queue_job_count(r));
    struct queue_info a, b;
    queue_info(s, NULL, 0, now, &a);
    queue_info(r, NULL, 0, now, &b);
    ASSERT_EQ_U64(a.ready, b.ready);
    ASSERT_EQ_U64(a.delayed, b.delayed);
    ASSERT_EQ_U64(a.dead, b.dead);
    ASSERT_EQ_U64(0, b.leased);
    queue_set_free(r);
    done(s);
}

/* ---- the queue over the real journal, as cmd_queue.c wires it ---- */

static struct journal *pl_jnl;
static struct queue_set *pl_set;
static uint64_t pl_wall = 1800000000000ull;

static void pl_change(void *ctx, const struct queue_job *j,
                      enum queue_change what)
{
    (void)ctx;
    uint8_t b[512];
    size_t n = queue_rec_size(j, what);
    ASSERT_TRUE(n <= sizeof(b));
    uint8_t type = queue_rec_encode(b, j, what, now, pl_wall + now);
    ASSERT_EQ_INT(0, journal_append(pl_jnl, type, b, n, NULL, 0));
}

static int pl_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
    (void)ctx;
    return queue_replay(pl_set, type, p, n, now, pl_wall + now, err, errlen);
}

static void pl_open(void)
{
    struct queue_hooks h = {NULL, pl_change};
    pl_set = queue_set_new(&h, 9, 1);
    struct journal_opts o = {0};
    o.dir = test_dir();
    o.name = "queues";
    o.replay = pl_replay;
    char err[256];
    ASSERT_EQ_INT(0, journal_open(&pl_jnl, &o, err, sizeof(err)));
    queue_replay_done(pl_set, now);
}

static void pl_close(void)
{
    journal_close(pl_jnl);
    queue_set_free(pl_set);
    pl_jnl = NULL;
    pl_set = NULL;
}

/* What was committed (the replies that would have been sent) survives a
 * power cut; what was not may vanish but never half-applies. */
static void queue_power_loss(enum fsx_loss mode)
{
    now = 1000;
    fsx_powerloss_track(1);
    pl_open();
    char id[16];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        push(pl_set, "q", id, "committed", i % 3, 0, 5);
    }
    ASSERT_EQ_STR("c2", pop1(pl_set, "q", 60000));
    ASSERT_EQ_INT(0, queue_ack(pl_set, "c2", 2));
    ASSERT_EQ_STR("c5", pop1(pl_set, "q", 60000));
    struct queue_job *out;
    ASSERT_EQ_INT(0, queue_nack(pl_set, "c5", 2, 0, "r", 1, now, &out));
    ASSERT_TRUE(journal_commit(pl_jnl, 0) > 0); /* inline fdatasync */
    /* not committed: may be lost */
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        push(pl_set, "q", id, "uncommitted", 0, 0, 5);
    }
    ASSERT_EQ_INT(0, queue_ack(pl_set, "c0", 2));
    pl_close();
    ASSERT_TRUE(fsx_powerloss_apply(mode) > 0);
    fsx_powerloss_track(0);
    pl_open();
    ASSERT_TRUE(queue_find(pl_set, "c2", 2) == NULL); /* acked stays acked */
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        if (i == 2 || i == 0)
            continue;
        struct queue_job *j = queue_find(pl_set, id, strlen(id));
        ASSERT_TRUE(j != NULL);
        ASSERT_EQ_MEM("committed", 9, j->payload, j->payload_len);
        ASSERT_EQ_INT(QUEUE_READY, j->state);
    }
    ASSERT_EQ_INT(1, queue_find(pl_set, "c5", 2)->attempts);
    /* unsynced records all went (DROP) or were cut at the last good one */
    size_t u = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        u += queue_find(pl_set, id, strlen(id)) != NULL;
    }
    if (mode == FSX_LOSS_DROP)
        ASSERT_EQ_INT(0, u);
    ASSERT_TRUE(queue_job_count(pl_set) == 19 - (queue_find(pl_set, "c0", 2) == NULL) + u);
    pl_close();
}

TEST(power_loss_keeps_committed_queue_state)
{
    queue_power_loss(FSX_LOSS_DROP);
    test_rm_rf_(test_dir());
    ASSERT_EQ_INT(0, mkdir(test_dir(), 0700));
    queue_power_loss(FSX_LOSS_HALF);
    test_rm_rf_(test_dir());
    ASSERT_EQ_INT(0, mkdir(test_dir(), 0700));
    queue_power_loss(FSX_LOSS_ZERO);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(priority_then_fifo),
                                     T(generated_ids_and_payload),
                                     T(idempotent_push),
                                     T(earlier_queue_wins_ties),
                                     T(count_limits_pop),
                                     T(delay_makes_ready_later),
                                     T(expired_lease_goes_to_next_worker),
                                     T(expiry_without_tick_is_settled_by_pop),
                                     T(max_attempts_then_dead_then_kick),
                                     T(nack_with_delay),
                                     T(nack_touch_errors),
                                     T(touch_extends_lease),
                                     T(peek_in_pop_order_without_change),
                                     T(ack_and_del_any_state),
                                     T(info_and_queue_list),
                                     T(journal_replay_rebuilds_state),
                                     T(replay_kills_leased_job_out_of_attempts),
                                     T(generated_ids_continue_after_replay),
                                     T(corrupt_records_are_refused),
                                     T(batch_records_apply_together),
                                     T(random_operations_keep_invariants),
                                     T(power_loss_keeps_committed_queue_state),
                                     {0}});
}
