/* test_rpc.c - calls, servers and re-offers of rpc.c with a fake clock. */
#include "rpc.h"

#include <stdio.h>

#include "common.h"
#include "test.h"

#define S(x) x, strlen(x)

/* Hand-offs the registry reported, in order. */
static struct {
    void *server[64];
    struct rpc_call *call[64];
    size_t n;
} seen;

static void on_handoff(void *ctx, void *server_ctx, struct rpc_call *call,
                       uint64_t now)
{
    (void)ctx;
    (void)now;
    seen.server[seen.n % 64] = server_ctx;
    seen.call[seen.n % 64] = call;
    seen.n++;
}

static const struct rpc_hooks hooks = {NULL, on_handoff};

static struct rpc *fresh(void)
{
    memset(&seen, 0, sizeof(seen));
    return rpc_new(&hooks, 7);
}

static struct rpc_server *serve_on(struct rpc *r, uint64_t id, void *ctx,
                                   const char *svc, uint64_t now)
{
    const char *names[] = {svc};
    size_t lens[] = {strlen(svc)};
    return rpc_server_get(r, id, ctx, names, lens, 1, now);
}

static struct rpc_call *call(struct rpc *r, const char *svc, const char *p,
                             uint64_t deadline, uint64_t now)
{
    struct rpc_service *s = rpc_service_find(r, S(svc));
    return rpc_call_new(r, s, NULL, S(p), NULL, 0, deadline, now, now * 1000);
}

static size_t take(struct rpc *r, struct rpc_server *srv, const char *svc,
                   size_t max, uint64_t now, struct rpc_call **out)
{
    const char *names[] = {svc};
    size_t lens[] = {strlen(svc)};
    return rpc_serve(r, srv, names, lens, 1, max, now, out);
}

static void park(struct rpc *r, struct rpc_server *srv, const char *svc)
{
    const char *names[] = {svc};
    size_t lens[] = {strlen(svc)};
    rpc_park(r, srv, names, lens, 1);
}

TEST(queued_call_is_served_fifo_and_answered)
{
    struct rpc *r = fresh();
    int sctx;
    struct rpc_server *srv = serve_on(r, 10, &sctx, "math", 0);
    ASSERT_TRUE(srv != NULL);
    struct rpc_service *svc = rpc_service_find(r, S("math"));
    ASSERT_EQ_INT(1, (int)rpc_service_servers(svc));
    struct rpc_call *a = call(r, "math", "1+1", 1000, 0);
    struct rpc_call *b = call(r, "math", "2+2", 1000, 1);
    ASSERT_EQ_INT(0, (int)seen.n); /* nobody parked: queued */
    struct rpc_call *got[4];
    ASSERT_EQ_INT(2, (int)take(r, srv, "math", 4, 2, got));
    ASSERT_TRUE(got[0] == a && got[1] == b);
    ASSERT_EQ_INT(1, (int)a->delivery);
    char id[RPC_ID_MAX];
    size_t n = rpc_call_id(a, id);
    enum rpc_end why;
    ASSERT_TRUE(rpc_call_find(r, id, n, &why) == a);
    rpc_call_end(r, a, RPC_END_ANSWERED, 0, 5, 5000 + 250);
    ASSERT_TRUE(rpc_call_find(r, id, n, &why) == NULL);
    ASSERT_EQ_INT(RPC_END_ANSWERED, why);
    rpc_call_end(r, b, RPC_END_ANSWERED, 1, 5, 5000);
    struct rpc_service_info i;
    rpc_service_info(r, svc, 5, &i);
    ASSERT_EQ_U64(2, i.calls);
    ASSERT_EQ_U64(1, i.replies);
    ASSERT_EQ_U64(1, i.failures);
    ASSERT_EQ_INT(0, (int)i.in_flight);
    /* 5250 us and 4000 us: p50 within an eighth of 4000, p99 of 5250 */
    ASSERT_TRUE(i.p50_us >= 3500 && i.p50_us <= 4500);
    ASSERT_TRUE(i.p99_us >= 4600 && i.p99_us <= 5900);
    rpc_free(r);
}

TEST(parked_servers_take_new_calls_oldest_first)
{
    struct rpc *r = fresh();
    int c1, c2;
    struct rpc_server *s1 = serve_on(r, 1, &c1, "svc", 0);
    struct rpc_server *s2 = serve_on(r, 2, &c2, "svc", 0);
    park(r, s1, "svc");
    park(r, s2, "svc");
    call(r, "svc", "x", 100, 0);
    ASSERT_EQ_INT(1, (int)seen.n);
    ASSERT_TRUE(seen.server[0] == &c1);
    call(r, "svc", "y", 100, 0);
    ASSERT_EQ_INT(2, (int)seen.n);
    ASSERT_TRUE(seen.server[1] == &c2);
    call(r, "svc", "z", 100, 0); /* nobody parked now: queued */
    ASSERT_EQ_INT(2, (int)seen.n);
    struct rpc_service_info i;
    rpc_service_info(r, rpc_service_find(r, S("svc")), 0, &i);
    ASSERT_EQ_INT(1, (int)i.waiting_calls);
    ASSERT_EQ_INT(2, (int)i.in_flight);
    ASSERT_EQ_INT(0, (int)i.waiting_servers);
    rpc_free(r);
}

TEST(expired_call_is_never_handed_out)
{
    struct rpc *r = fresh();
    int c1;
    struct rpc_server *s1 = serve_on(r, 1, &c1, "svc", 0);
    struct rpc_call *old = call(r, "svc", "late", 10, 0);
    struct rpc_call *got[2];
    ASSERT_EQ_INT(0, (int)take(r, s1, "svc", 2, 10, got));
    /* parked servers do not get it either */
    park(r, s1, "svc");
    rpc_server_gone(r, 1);
    serve_on(r, 2, &c1, "svc", 10);
    rpc_dispatch(r, 10);
    ASSERT_EQ_INT(0, (int)seen.n);
    rpc_call_end(r, old, RPC_END_TIMEOUT, 0, 11, 11000);
    rpc_free(r);
}

TEST(dead_server_calls_go_to_another_once_each)
{
    struct rpc *r = fresh();
    int c1, c2;
    struct rpc_server *s1 = serve_on(r, 1, &c1, "svc", 0);
    struct rpc_call *a = call(r, "svc", "a", 1000, 0);
    struct rpc_call *b = call(r, "svc", "b", 1000, 0);
    struct rpc_call *got[4];
    ASSERT_EQ_INT(2, (int)take(r, s1, "svc", 4, 1, got));
    struct rpc_server *s2 = serve_on(r, 2, &c2, "svc", 1);
    park(r, s2, "svc");
    ASSERT_EQ_INT(2, (int)rpc_server_gone(r, 1));
    rpc_dispatch(r, 2);
    /* s2 was parked: it takes the oldest, a, with delivery 2 */
    ASSERT_EQ_INT(1, (int)seen.n);
    ASSERT_TRUE(seen.call[0] == a && seen.server[0] == &c2);
    ASSERT_EQ_INT(2, (int)a->delivery);
    /* s2 takes b on its next serve; after s2 dies too, nobody may have them
     * twice: a third server gets both, s2 (back with the same id) none */
    ASSERT_EQ_INT(1, (int)take(r, s2, "svc", 4, 3, got));
    ASSERT_TRUE(got[0] == b);
    ASSERT_EQ_INT(2, (int)b->delivery);
    ASSERT_EQ_INT(2, (int)rpc_server_gone(r, 2));
    rpc_dispatch(r, 4);
    ASSERT_EQ_INT(1, (int)seen.n); /* nobody parked */
    /* each call had servers 1 and 2: those ids never get them again */
    struct rpc_server *again = serve_on(r, 2, &c2, "svc", 4);
    ASSERT_EQ_INT(0, (int)take(r, again, "svc", 4, 4, got));
    int c3;
    struct rpc_server *s3 = serve_on(r, 3, &c3, "svc", 4);
    ASSERT_EQ_INT(2, (int)take(r, s3, "svc", 4, 5, got));
    ASSERT_TRUE(got[0] == a && got[1] == b); /* requeued in their old order */
    ASSERT_EQ_INT(3, (int)a->delivery);
    struct rpc_service_info i;
    rpc_service_info(r, rpc_service_find(r, S("svc")), 5, &i);
    ASSERT_EQ_U64(4, i.redeliveries);
    ASSERT_EQ_INT(2, (int)i.servers); /* 2 (again) and 3 */
    rpc_free(r);
}

TEST(ended_calls_tell_why_and_ids_are_checked)
{
    struct rpc *r = fresh();
    int c1;
    serve_on(r, 1, &c1, "svc", 0);
    struct rpc_call *t = call(r, "svc", "t", 10, 0);
    struct rpc_call *l = call(r, "svc", "l", 10, 0);
    char tid[RPC_ID_MAX], lid[RPC_ID_MAX];
    size_t tn = rpc_call_id(t, tid), ln = rpc_call_id(l, lid);
    enum rpc_end why;
    /* a wrong tag is not the call */
    char forged[RPC_ID_MAX];
    memcpy(forged, tid, tn + 1);
    forged[tn - 1] = forged[tn - 1] == '0' ? '1' : '0';
    ASSERT_TRUE(rpc_call_find(r, forged, tn, &why) == NULL);
    ASSERT_EQ_INT(RPC_END_NONE, why);
    rpc_call_end(r, t, RPC_END_TIMEOUT, 0, 10, 10000);
    rpc_call_end(r, l, RPC_END_CALLER_LEFT, 0, 3, 3000);
    ASSERT_TRUE(rpc_call_find(r, tid, tn, &why) == NULL);
    ASSERT_EQ_INT(RPC_END_TIMEOUT, why);
    ASSERT_TRUE(rpc_call_find(r, lid, ln, &why) == NULL);
    ASSERT_EQ_INT(RPC_END_CALLER_LEFT, why);
    ASSERT_TRUE(rpc_call_find(r, forged, tn, &why) == NULL);
    ASSERT_EQ_INT(RPC_END_NONE, why);
    const char *bad[] = {"", "-", "1-", "x-00000000", "1-0000000g",
                         "1-000000000", "99999999999999999999999-00000000"};
    for (size_t k = 0; k < ARRAY_LEN(bad); k++) {
        ASSERT_TRUE(rpc_call_find(r, bad[k], strlen(bad[k]), &why) == NULL);
        ASSERT_EQ_INT(RPC_END_NONE, why);
    }
    struct rpc_totals tt;
    rpc_totals(r, &tt);
    ASSERT_EQ_U64(1, tt.timeouts);
    ASSERT_EQ_U64(1, tt.callers_left);
    ASSERT_EQ_INT(0, (int)tt.live_calls);
    ASSERT_EQ_INT(0, (int)tt.waiting_calls);
    rpc_free(r);
}

TEST(serve_over_services_takes_oldest_and_skips_its_own)
{
    struct rpc *r = fresh();
    int c1;
    const char *names[] = {"a", "b"};
    size_t lens[] = {1, 1};
    struct rpc_server *s1 = rpc_server_get(r, 1, &c1, names, lens, 2, 0);
    struct rpc_call *b1 = call(r, "b", "1", 100, 0);
    struct rpc_call *a2 = call(r, "a", "2", 100, 0);
    struct rpc_call *b3 = call(r, "b", "3", 100, 0);
    struct rpc_call *got[4];
    ASSERT_EQ_INT(2, (int)rpc_serve(r, s1, names, lens, 2, 2, 1, got));
    ASSERT_TRUE(got[0] == b1 && got[1] == a2);
    ASSERT_EQ_INT(1, (int)rpc_serve(r, s1, names, lens, 2, 4, 1, got));
    ASSERT_TRUE(got[0] == b3);
    /* parked on both: a call to either wakes it, and it leaves both lists */
    rpc_park(r, s1, names, lens, 2);
    call(r, "b", "4", 100, 1);
    ASSERT_EQ_INT(1, (int)seen.n);
    struct rpc_service_info i;
    rpc_service_info(r, rpc_service_find(r, S("a")), 1, &i);
    ASSERT_EQ_INT(0, (int)i.waiting_servers);
    rpc_free(r);
}

TEST(idle_services_are_swept_and_latency_windows_turn)
{
    struct rpc *r = fresh();
    int c1;
    serve_on(r, 1, &c1, "old", 0);
    struct rpc_call *x = call(r, "old", "x", 100, 0);
    rpc_call_end(r, x, RPC_END_ANSWERED, 0, 1, 800);
    struct rpc_service_info i;
    rpc_service_info(r, rpc_service_find(r, S("old")), 1, &i);
    ASSERT_TRUE(i.p50_us >= 700 && i.p50_us <= 900);
    /* two windows later the sample is gone from p50, kept in the histogram */
    rpc_service_info(r, rpc_service_find(r, S("old")), 130000, &i);
    ASSERT_EQ_U64(0, i.p50_us);
    ASSERT_EQ_U64(1, i.hist[3]); /* 800 us: the (500, 1000] bucket */
    ASSERT_EQ_INT(0, (int)rpc_server_gone(r, 1));
    struct rpc_service **v;
    ASSERT_EQ_INT(1, (int)rpc_services(r, 2000, 1, &v)); /* not idle long */
    free(v);
    ASSERT_EQ_INT(0, (int)rpc_services(r, 2000 + RPC_IDLE_KEEP_MS, 1, &v));
    free(v);
    ASSERT_TRUE(rpc_service_find(r, S("old")) == NULL);
    rpc_free(r);
}

TEST(many_calls_and_servers_match_a_model)
{
    /* 20000 random steps over 3 services and 6 servers: every call ends
     * exactly once, no server gets a call twice, no call is handed out past
     * its deadline, and the gauges agree with a count of the live calls */
    struct rpc *r = fresh();
    int ctx[6];
    struct rpc_server *srv[6] = {0};
    const char *svcs[] = {"s0", "s1", "s2"};
    struct rpc_call *live[512];
    size_t nlive = 0;
    uint64_t now = 1, rng = 12345, ended = 0, made = 0;
    for (int k = 0; k < 6; k++)
        srv[k] = serve_on(r, (uint64_t)k + 1, &ctx[k], svcs[k % 3], 0);
    uint64_t next_id = 7;
    for (int step = 0; step < 20000; step++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int op = (int)(rng % 10);
        now += rng % 3;
        if (op < 4 && nlive < ARRAY_LEN(live)) {
            const char *s = svcs[rng / 10 % 3];
            if (rpc_service_servers(rpc_service_find(r, S(s))) == 0)
                continue;
            size_t before = seen.n;
            live[nlive++] = call(r, s, "p", now + 1 + rng / 100 % 50, now);
            made++;
            if (seen.n > before)
                ASSERT_TRUE(seen.call[before % 64] == live[nlive - 1]);
        } else if (op < 6) {
            int k = (int)(rng / 10 % 6);
            struct rpc_call *got[8];
            size_t n = take(r, srv[k], svcs[k % 3], 8, now, got);
            for (size_t g = 0; g < n; g++) {
                ASSERT_TRUE(got[g]->deadline > now);
                size_t seen_self = 0;
                for (size_t t = 0; t < got[g]->ntried; t++)
                    seen_self += got[g]->tried[t] == rpc_server_id(srv[k]);
                ASSERT_EQ_INT(1, (int)seen_self);
            }
            if (rng / 60 % 2)
                park(r, srv[k], svcs[k % 3]);
        } else if (op < 8 && nlive) {
            size_t v = (size_t)(rng / 10 % nlive);
            struct rpc_call *c = live[v];
            enum rpc_end how = c->deadline <= now ? RPC_END_TIMEOUT
                               : c->holder       ? RPC_END_ANSWERED
                                                 : RPC_END_CALLER_LEFT;
            rpc_call_end(r, c, how, 0, now, now * 1000);
            live[v] = live[--nlive];
            ended++;
        } else if (op == 8) {
            int k = (int)(rng / 10 % 6);
            rpc_server_gone(r, rpc_server_id(srv[k]));
            srv[k] = serve_on(r, next_id++, &ctx[k], svcs[k % 3], now);
            rpc_dispatch(r, now);
        }
        struct rpc_totals t;
        rpc_totals(r, &t);
        ASSERT_EQ_INT((int)nlive, (int)t.live_calls);
        ASSERT_EQ_INT((int)nlive, (int)(t.waiting_calls + t.in_flight));
    }
    ASSERT_TRUE(made > 3000 && ended > 2000);
    rpc_free(r);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){
                         T(queued_call_is_served_fifo_and_answered),
                         T(parked_servers_take_new_calls_oldest_first),
                         T(expired_call_is_never_handed_out),
                         T(dead_server_calls_go_to_another_once_each),
                         T(ended_calls_tell_why_and_ids_are_checked),
                         T(serve_over_services_takes_oldest_and_skips_its_own),
                         T(idle_services_are_swept_and_latency_windows_turn),
                         T(many_calls_and_servers_match_a_model),
                         {0},
                     });
}
