/* test_lock.c - the lease state machine with a fake clock. */
#include "lock.h"

#include "common.h"
#include "errors.h"
#include "test.h"

#define S(x) x, strlen(x)

/* What the hooks saw, in order. */
struct seen {
    uint64_t reserves[8];
    size_t nreserve;
    char granted_to[16][32]; /* owner of each waiter grant */
    uint64_t granted_token[16];
    void *granted_ctx[16];
    size_t ngrant_waiter;
    size_t ngrant; /* every grant/extend, waiter or not */
    size_t nrelease, nexpired;
};

static struct seen seen;

static void on_reserve(void *ctx, uint64_t limit)
{
    (void)ctx;
    seen.reserves[seen.nreserve++ % 8] = limit;
}

static void on_grant(void *ctx, const struct lock *l, void *wctx)
{
    (void)ctx;
    seen.ngrant++;
    if (!wctx)
        return;
    struct lock_view v;
    lock_view_of(l, &v);
    size_t i = seen.ngrant_waiter++ % 16;
    snprintf(seen.granted_to[i], sizeof(seen.granted_to[i]), "%.*s",
             (int)v.owner_len, v.owner);
    seen.granted_token[i] = v.token;
    seen.granted_ctx[i] = wctx;
}

static void on_release(void *ctx, const struct lock *l, int expired)
{
    (void)ctx;
    (void)l;
    if (expired)
        seen.nexpired++;
    else
        seen.nrelease++;
}

static const struct lock_hooks hooks = {NULL, on_reserve, on_grant, on_release};

static struct lock_table *fresh(void)
{
    memset(&seen, 0, sizeof(seen));
    return lock_table_new(&hooks, 42);
}

TEST(acquire_release_and_busy)
{
    struct lock_table *t = fresh();
    uint64_t tok = 0, tok2 = 0;
    ASSERT_EQ_INT(0, lock_acquire(t, S("job"), S("a"), 1000, 0, &tok));
    ASSERT_EQ_U64(1, tok);
    ASSERT_EQ_INT(ERR_BUSY, lock_acquire(t, S("job"), S("b"), 1000, 10, &tok2));
    ASSERT_EQ_INT(0, lock_release(t, S("job"), S("b"), tok, 20));
    ASSERT_EQ_INT(0, lock_release(t, S("job"), S("a"), tok + 1, 20));
    ASSERT_EQ_INT(1, lock_check(t, S("job"), tok, 20));
    ASSERT_EQ_INT(1, lock_release(t, S("job"), S("a"), tok, 20));
    ASSERT_EQ_INT(0, lock_check(t, S("job"), tok, 20));
    ASSERT_EQ_INT(0, (int)lock_count(t));
    ASSERT_EQ_INT(0, lock_acquire(t, S("job"), S("b"), 1000, 30, &tok2));
    ASSERT_TRUE(tok2 > tok);
    ASSERT_EQ_INT(1, (int)seen.nrelease);
    lock_table_free(t);
}

TEST(reacquire_by_holder_extends_same_token)
{
    struct lock_table *t = fresh();
    uint64_t tok = 0, again = 0;
    ASSERT_EQ_INT(0, lock_acquire(t, S("x"), S("a"), 100, 0, &tok));
    ASSERT_EQ_INT(0, lock_acquire(t, S("x"), S("a"), 500, 90, &again));
    ASSERT_EQ_U64(tok, again);
    struct lock_view v;
    ASSERT_EQ_INT(1, lock_info(t, S("x"), 95, &v));
    ASSERT_EQ_U64(590, v.expires);
    ASSERT_EQ_U64(500, v.ttl_ms);
    ASSERT_EQ_INT(0, (int)lock_expire(t, 589));
    ASSERT_EQ_INT(1, lock_check(t, S("x"), tok, 589));
    ASSERT_EQ_INT(0, lock_check(t, S("x"), tok, 590));
    lock_table_free(t);
}

TEST(expiry_frees_and_next_deadline)
{
    struct lock_table *t = fresh();
    uint64_t a, b, d = 0;
    ASSERT_EQ_INT(0, lock_next_deadline(t, &d));
    ASSERT_EQ_INT(0, lock_acquire(t, S("a"), S("o"), 300, 0, &a));
    ASSERT_EQ_INT(0, lock_acquire(t, S("b"), S("o"), 100, 0, &b));
    ASSERT_EQ_INT(1, lock_next_deadline(t, &d));
    ASSERT_EQ_U64(100, d);
    ASSERT_EQ_INT(0, (int)lock_expire(t, 99));
    ASSERT_EQ_INT(1, (int)lock_expire(t, 100));
    ASSERT_EQ_INT(1, lock_next_deadline(t, &d));
    ASSERT_EQ_U64(300, d);
    ASSERT_EQ_INT(1, (int)lock_count(t));
    ASSERT_EQ_INT(1, (int)seen.nexpired);
    /* a late timer: an operation settles the lease itself */
    uint64_t c;
    ASSERT_EQ_INT(0, lock_acquire(t, S("a"), S("p"), 50, 400, &c));
    ASSERT_TRUE(c > b && c > a);
    ASSERT_EQ_INT(2, (int)seen.nexpired);
    lock_table_free(t);
}

TEST(waiters_are_granted_fifo)
{
    struct lock_table *t = fresh();
    uint64_t tok, x;
    int c1, c2, c3;
    ASSERT_EQ_INT(0, lock_acquire(t, S("q"), S("h"), 100, 0, &tok));
    ASSERT_EQ_INT(ERR_BUSY, lock_acquire(t, S("q"), S("w1"), 10, 1, &x));
    ASSERT_TRUE(lock_wait(t, S("q"), S("w1"), 200, &c1) != NULL);
    ASSERT_TRUE(lock_wait(t, S("q"), S("w2"), 200, &c2) != NULL);
    struct lock_waiter *w3 = lock_wait(t, S("q"), S("w3"), 200, &c3);
    ASSERT_TRUE(w3 != NULL);
    ASSERT_EQ_INT(3, (int)lock_waiters(t));
    /* release -> w1, with a new token and a lease from the release time */
    ASSERT_EQ_INT(1, lock_release(t, S("q"), S("h"), tok, 50));
    ASSERT_EQ_INT(1, (int)seen.ngrant_waiter);
    ASSERT_EQ_STR("w1", seen.granted_to[0]);
    ASSERT_TRUE(seen.granted_ctx[0] == &c1);
    ASSERT_TRUE(seen.granted_token[0] > tok);
    struct lock_view v;
    ASSERT_EQ_INT(1, lock_info(t, S("q"), 50, &v));
    ASSERT_EQ_U64(250, v.expires);
    ASSERT_EQ_INT(2, (int)v.waiters);
    /* expiry -> w2 */
    ASSERT_EQ_INT(1, (int)lock_expire(t, 250));
    ASSERT_EQ_STR("w2", seen.granted_to[1]);
    ASSERT_TRUE(seen.granted_token[1] > seen.granted_token[0]);
    /* w3 gave up: the next release frees the lock */
    lock_wait_cancel(t, w3);
    ASSERT_EQ_INT(0, (int)lock_waiters(t));
    ASSERT_EQ_INT(1,
                  lock_release(t, S("q"), S("w2"), seen.granted_token[1], 260));
    ASSERT_EQ_INT(2, (int)seen.ngrant_waiter);
    ASSERT_EQ_INT(0, (int)lock_count(t));
    lock_table_free(t);
}

TEST(cancel_middle_waiter_keeps_order)
{
    struct lock_table *t = fresh();
    uint64_t tok;
    int c[4];
    struct lock_waiter *w[4];
    ASSERT_EQ_INT(0, lock_acquire(t, S("m"), S("h"), 100, 0, &tok));
    for (int i = 0; i < 4; i++) {
        char o[8];
        snprintf(o, sizeof(o), "w%d", i);
        w[i] = lock_wait(t, S("m"), S(o), 100, &c[i]);
    }
    lock_wait_cancel(t, w[1]);
    lock_wait_cancel(t, w[0]);
    ASSERT_EQ_INT(1, (int)lock_expire(t, 100));
    ASSERT_EQ_STR("w2", seen.granted_to[0]);
    ASSERT_EQ_INT(1, (int)lock_expire(t, 200));
    ASSERT_EQ_STR("w3", seen.granted_to[1]);
    ASSERT_EQ_INT(1, (int)lock_expire(t, 300));
    ASSERT_EQ_INT(0, (int)lock_count(t));
    lock_table_free(t);
}

TEST(renew_outcomes)
{
    struct lock_table *t = fresh();
    uint64_t tok, cur, tok2;
    ASSERT_EQ_INT(0, lock_acquire(t, S("r"), S("a"), 100, 0, &tok));
    ASSERT_EQ_INT(LOCK_RENEWED,
                  lock_renew(t, S("r"), S("a"), tok, 100, 80, &cur));
    ASSERT_EQ_U64(tok, cur);
    ASSERT_EQ_INT(LOCK_LOST_OWNER,
                  lock_renew(t, S("r"), S("b"), tok, 100, 90, &cur));
    ASSERT_EQ_INT(LOCK_LOST_TOKEN,
                  lock_renew(t, S("r"), S("a"), tok + 7, 100, 90, &cur));
    /* heartbeat kept it past the first ttl */
    ASSERT_EQ_INT(1, lock_check(t, S("r"), tok, 179));
    /* stopped heartbeat: gone at 180 */
    ASSERT_EQ_INT(LOCK_LOST_FREE,
                  lock_renew(t, S("r"), S("a"), tok, 100, 180, &cur));
    ASSERT_EQ_U64(0, cur);
    ASSERT_EQ_INT(0, lock_acquire(t, S("r"), S("b"), 100, 181, &tok2));
    ASSERT_EQ_INT(LOCK_LOST_REGRANTED,
                  lock_renew(t, S("r"), S("a"), tok, 100, 182, &cur));
    ASSERT_EQ_U64(tok2, cur);
    lock_table_free(t);
}

TEST(tokens_strictly_increase_and_reserve_first)
{
    struct lock_table *t = fresh();
    uint64_t last = 0, tok;
    ASSERT_EQ_INT(0, (int)seen.nreserve);
    for (uint64_t i = 0; i < 2500; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%u", (unsigned)(i % 7));
        ASSERT_EQ_INT(0, lock_acquire(t, S(name), S("o"), 5, i * 10, &tok));
        ASSERT_TRUE(tok > last);
        ASSERT_TRUE(tok < lock_token_limit(t)); /* reserved before use */
        last = tok;
        lock_expire(t, i * 10 + 5);
    }
    ASSERT_EQ_INT(3, (int)seen.nreserve);
    ASSERT_EQ_U64(1 + LOCK_TOKEN_BLOCK, seen.reserves[0]);
    ASSERT_EQ_U64(2001 + LOCK_TOKEN_BLOCK, seen.reserves[2]);
    lock_table_free(t);
}

TEST(many_locks_heap_and_hash)
{
    struct lock_table *t = fresh();
    uint64_t tok, d;
    /* deadlines in scrambled order */
    for (unsigned i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "k%u", i);
        uint64_t ttl = 1 + (i * 7919u) % 1000;
        ASSERT_EQ_INT(0, lock_acquire(t, S(name), S("o"), ttl, 0, &tok));
    }
    ASSERT_EQ_INT(1000, (int)lock_count(t));
    uint64_t prev = 0;
    size_t total = 0;
    while (lock_next_deadline(t, &d)) {
        ASSERT_TRUE(d >= prev);
        prev = d;
        total += lock_expire(t, d);
    }
    ASSERT_EQ_INT(1000, (int)total);
    lock_table_free(t);
}

struct collect {
    char names[8][16];
    size_t n;
};

static void collect_fn(const struct lock_view *v, void *ctx)
{
    struct collect *c = ctx;
    if (c->n < 8)
        snprintf(c->names[c->n], 16, "%.*s", (int)v->name_len, v->name);
    c->n++;
}

TEST(list_with_pattern)
{
    struct lock_table *t = fresh();
    uint64_t tok;
    lock_acquire(t, S("job:1"), S("o"), 100, 0, &tok);
    lock_acquire(t, S("job:2"), S("o"), 50, 0, &tok);
    lock_acquire(t, S("other"), S("o"), 100, 0, &tok);
    struct collect c = {0};
    ASSERT_EQ_INT(2, (int)lock_list(t, S("job:*"), 10, collect_fn, &c));
    ASSERT_EQ_INT(2, (int)c.n);
    memset(&c, 0, sizeof(c));
    ASSERT_EQ_INT(3, (int)lock_list(t, NULL, 0, 10, collect_fn, &c));
    memset(&c, 0, sizeof(c));
    ASSERT_EQ_INT(1, (int)lock_list(t, S("job:*"), 60, collect_fn, &c));
    ASSERT_EQ_STR("job:1", c.names[0]);
    lock_table_free(t);
}

/* ---- journal records ---- */

struct recs {
    uint8_t type[64];
    uint8_t data[64][128];
    size_t len[64];
    size_t n;
};

static int emit(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    struct recs *r = ctx;
    if (r->n >= 64 || n > 128)
        return ERR_LIMIT;
    r->type[r->n] = type;
    memcpy(r->data[r->n], p, n);
    r->len[r->n++] = n;
    return 0;
}

TEST(checkpoint_replay_roundtrip_and_conservative_expiry)
{
    struct lock_table *t = fresh();
    uint64_t a, b, c;
    lock_acquire(t, S("a"), S("alice"), 10000, 1000, &a);
    lock_acquire(t, S("b"), S("bob"), 500, 1000, &b);
    lock_acquire(t, S("c"), S("carol"), 100, 1000, &c);
    struct recs r = {0};
    /* mono now 1050, wall now 5,000,000 */
    ASSERT_EQ_INT(0, lock_checkpoint(t, 1050, 5000000, emit, &r));
    ASSERT_EQ_INT(4, (int)r.n);
    ASSERT_EQ_INT(LOCK_REC_RESERVE, r.type[0]);
    uint64_t limit = lock_token_limit(t);
    lock_table_free(t);

    /* restart 200 ms (wall) later, new monotonic origin 7 */
    struct lock_table *u = fresh();
    char err[128];
    for (size_t i = 0; i < r.n; i++)
        ASSERT_EQ_INT(0, lock_replay(u, r.type[i], r.data[i], r.len[i], 7,
                                     5000200, err, sizeof(err)));
    lock_replay_done(u);
    struct lock_view v;
    ASSERT_EQ_INT(1, lock_info(u, S("a"), 7, &v));
    ASSERT_EQ_U64(a, v.token);
    ASSERT_EQ_U64(7 + 10000 - 50 - 200, v.expires);
    ASSERT_EQ_INT(1, lock_info(u, S("b"), 7, &v));
    ASSERT_EQ_U64(7 + 500 - 50 - 200, v.expires);
    ASSERT_EQ_STR("bob", v.owner);                 /* NUL-terminated copy */
    ASSERT_EQ_INT(0, lock_info(u, S("c"), 7, &v)); /* ran out while down */
    /* not granted early to another owner */
    uint64_t x;
    ASSERT_EQ_INT(ERR_BUSY, lock_acquire(u, S("b"), S("eve"), 100, 256, &x));
    ASSERT_EQ_INT(0, lock_acquire(u, S("b"), S("eve"), 100, 257, &x));
    /* the rest of the old range is skipped: no token can repeat */
    ASSERT_EQ_U64(limit, x);
    lock_table_free(u);

    /* the wall clock went back an hour: never longer than the ttl */
    u = fresh();
    for (size_t i = 0; i < r.n; i++)
        ASSERT_EQ_INT(0, lock_replay(u, r.type[i], r.data[i], r.len[i], 0,
                                     5000000 - 3600000, err, sizeof(err)));
    ASSERT_EQ_INT(1, lock_info(u, S("a"), 0, &v));
    ASSERT_EQ_U64(10000, v.expires);
    lock_table_free(u);
}

TEST(replay_grant_release_sequence)
{
    struct lock_table *t = fresh();
    uint8_t buf[256];
    char err[128];
    struct lock_view v = {"n", 1, "o", 1, 5, 1000, 1000, 0};
    size_t n = lock_rec_grant(buf, &v, 0, 100);
    ASSERT_EQ_INT(
        0, lock_replay(t, LOCK_REC_GRANT, buf, n, 0, 100, err, sizeof(err)));
    ASSERT_EQ_INT(1, (int)lock_count(t));
    n = lock_rec_release(buf, &v);
    ASSERT_EQ_INT(
        0, lock_replay(t, LOCK_REC_RELEASE, buf, n, 0, 100, err, sizeof(err)));
    ASSERT_EQ_INT(0, (int)lock_count(t));
    lock_replay_done(t);
    uint64_t tok;
    ASSERT_EQ_INT(0, lock_acquire(t, S("n"), S("o"), 10, 0, &tok));
    ASSERT_TRUE(tok > 5);
    /* malformed input is refused with a reason */
    ASSERT_EQ_INT(ERR_CORRUPT, lock_replay(t, LOCK_REC_GRANT, buf, 3, 0, 0, err,
                                           sizeof(err)));
    ASSERT_TRUE(strstr(err, "malformed") != NULL);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  lock_replay(t, 99, buf, 8, 0, 0, err, sizeof(err)));
    lock_table_free(t);
}

/* ---- randomized comparison with a simple reference model ---- */

#define M_NAMES  4
#define M_OWNERS 5
#define M_WAIT   64

struct m_waiter {
    int owner;
    uint64_t ttl;
    struct lock_waiter *h; /* the table's handle */
    int id;
};

struct m_lock {
    int held;
    int owner;
    uint64_t token, expires;
    struct m_waiter q[M_WAIT];
    int nq;
};

static struct m_lock model[M_NAMES];
static uint64_t m_last_token;
/* Waiter grants reported by the hook and not yet matched by the model. */
static struct {
    int id;
    uint64_t token;
} m_events[M_NAMES * 2];
static int m_nevents;
static int m_matched; /* waiter grants checked */

static void m_on_grant(void *ctx, const struct lock *l, void *wctx)
{
    (void)ctx;
    if (!wctx)
        return;
    struct lock_view v;
    lock_view_of(l, &v);
    if (m_nevents < (int)ARRAY_LEN(m_events)) {
        m_events[m_nevents].id = *(int *)wctx;
        m_events[m_nevents].token = v.token;
    }
    m_nevents++;
}

/* Takes the hook's report for waiter id; the test fails if there is none. */
static uint64_t m_take(int id)
{
    for (int k = 0; k < m_nevents && k < (int)ARRAY_LEN(m_events); k++) {
        if (m_events[k].id != id)
            continue;
        uint64_t tok = m_events[k].token;
        memmove(m_events + k, m_events + k + 1,
                (size_t)(m_nevents - k - 1) * sizeof(m_events[0]));
        m_nevents--;
        m_matched++;
        return tok;
    }
    return 0;
}

static const char *m_name(int i)
{
    static const char *n[M_NAMES] = {"a", "b", "c", "d"};
    return n[i];
}

static const char *m_owner(int i)
{
    static const char *o[M_OWNERS] = {"o0", "o1", "o2", "o3", "o4"};
    return o[i];
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % n;
}

/* The model's view of expiry at now: hand to waiters in order. The table
 * must have reported the same grant through the hook. */
static void m_settle(int i, uint64_t now)
{
    struct m_lock *m = &model[i];
    if (!m->held || m->expires > now)
        return;
    if (m->nq == 0) {
        m->held = 0;
        return;
    }
    struct m_waiter w = m->q[0];
    memmove(m->q, m->q + 1, (size_t)(m->nq - 1) * sizeof(m->q[0]));
    m->nq--;
    uint64_t tok = m_take(w.id);
    ASSERT_TRUE(tok != 0);
    ASSERT_TRUE(tok > m->token);
    m->owner = w.owner;
    m->expires = now + w.ttl;
    m->token = tok;
    if (tok > m_last_token)
        m_last_token = tok;
}

static int ids[100000];

TEST(random_ops_match_reference_model)
{
    static const struct lock_hooks mh = {NULL, NULL, m_on_grant, NULL};
    struct lock_table *t = lock_table_new(&mh, 7);
    memset(model, 0, sizeof(model));
    m_last_token = 0;
    m_matched = 0;
    uint64_t now = 1000;
    int next_id = 1;
    for (int step = 0; step < 60000; step++) {
        int i = (int)rnd(M_NAMES), o = (int)rnd(M_OWNERS);
        struct m_lock *m = &model[i];
        uint64_t ttl = 1 + rnd(50), tok;
        m_nevents = 0;
        switch (rnd(8)) {
        case 0: /* time passes */
            now += rnd(30);
            break;
        case 1: { /* acquire, maybe wait */
            int rc =
                lock_acquire(t, m_name(i), 1, m_owner(o), 2, ttl, now, &tok);
            m_settle(i, now);
            if (!m->held) {
                ASSERT_EQ_INT(0, rc);
                ASSERT_TRUE(tok > m_last_token); /* tokens only grow */
                m->held = 1;
                m->owner = o;
                m->token = m_last_token = tok;
                m->expires = now + ttl;
            } else if (m->owner == o) {
                ASSERT_EQ_INT(0, rc);
                ASSERT_EQ_U64(m->token, tok);
                m->expires = now + ttl;
            } else {
                ASSERT_EQ_INT(ERR_BUSY, rc);
                if (m->nq < M_WAIT && rnd(2)) {
                    int id = next_id++ % 100000;
                    ids[id] = id;
                    struct m_waiter *w = &m->q[m->nq++];
                    w->owner = o;
                    w->ttl = ttl;
                    w->id = id;
                    w->h = lock_wait(t, m_name(i), 1, m_owner(o), 2, ttl,
                                     &ids[id]);
                    ASSERT_TRUE(w->h != NULL);
                }
            }
            break;
        }
        case 2: { /* a waiter gives up */
            if (m->nq == 0)
                break;
            int k = (int)rnd((uint64_t)m->nq);
            lock_wait_cancel(t, m->q[k].h);
            memmove(m->q + k, m->q + k + 1,
                    (size_t)(m->nq - k - 1) * sizeof(m->q[0]));
            m->nq--;
            break;
        }
        case 3: { /* renew with the right or a wrong token */
            uint64_t cur,
                use = m->held && rnd(3) ? m->token : rnd(m_last_token + 3);
            int rc =
                lock_renew(t, m_name(i), 1, m_owner(o), 2, use, ttl, now, &cur);
            m_settle(i, now);
            int ok = m->held && m->token == use && m->owner == o;
            ASSERT_EQ_INT(ok ? LOCK_RENEWED : 1, ok ? rc : rc != LOCK_RENEWED);
            if (ok)
                m->expires = now + ttl;
            break;
        }
        case 4: { /* release */
            uint64_t use = m->held && rnd(3) ? m->token : rnd(m_last_token + 3);
            int rc = lock_release(t, m_name(i), 1, m_owner(o), 2, use, now);
            m_settle(i,
                     now); /* settled first, then the release may hand over */
            int ok = m->held && m->token == use && m->owner == o;
            ASSERT_EQ_INT(ok, rc);
            if (ok) {
                m->expires = now; /* ends now: next waiter, if any */
                m_settle(i, now);
            }
            break;
        }
        case 5: { /* check */
            uint64_t use = rnd(2) && m->held ? m->token : rnd(m_last_token + 3);
            int rc = lock_check(t, m_name(i), 1, use, now);
            m_settle(i, now);
            ASSERT_EQ_INT(m->held && m->token == use, rc);
            break;
        }
        case 6: { /* the timer */
            lock_expire(t, now);
            for (int k = 0; k < M_NAMES; k++)
                m_settle(k, now);
            break;
        }
        default: { /* info */
            struct lock_view v;
            int held = lock_info(t, m_name(i), 1, now, &v);
            m_settle(i, now);
            ASSERT_EQ_INT(m->held, held);
            if (held) {
                ASSERT_EQ_U64(m->token, v.token);
                ASSERT_EQ_U64(m->expires, v.expires);
                ASSERT_EQ_INT(m->nq, (int)v.waiters);
                ASSERT_EQ_STR(m_owner(m->owner), v.owner);
            }
            break;
        }
        }
        ASSERT_EQ_INT(0,
                      m_nevents); /* every grant the table made is expected */
    }
    ASSERT_TRUE(m_matched > 300); /* the waiter paths really ran (709) */
    lock_table_free(t);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){
                         T(acquire_release_and_busy),
                         T(reacquire_by_holder_extends_same_token),
                         T(expiry_frees_and_next_deadline),
                         T(waiters_are_granted_fifo),
                         T(cancel_middle_waiter_keeps_order),
                         T(renew_outcomes),
                         T(tokens_strictly_increase_and_reserve_first),
                         T(many_locks_heap_and_hash),
                         T(list_with_pattern),
                         T(checkpoint_replay_roundtrip_and_conservative_expiry),
                         T(replay_grant_release_sequence),
                         T(random_ops_match_reference_model),
                         {0},
                     });
}
