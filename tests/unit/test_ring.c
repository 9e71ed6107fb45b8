/* test_ring.c - placement properties of the pure ring module (issue 7). */
#include "ring.h"

#include <time.h>

#include "common.h"
#include "errors.h"
#include "sbuf.h"
#include "test.h"

#define KEYS 1000000

static void node_name(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "10.0.%d.%d:8080", i / 250, i % 250 + 1);
}

static void join_n(struct ring *r, int first, int count, uint32_t weight)
{
    char node[64], err[200];
    for (int i = first; i < first + count; i++) {
        node_name(node, sizeof(node), i);
        int rc = ring_join(r, node, strlen(node), weight, -1, 0, err,
                           sizeof(err));
        ASSERT_EQ_INT(RING_ADDED, rc);
    }
}

static size_t key_name(char *buf, size_t cap, int i)
{
    return (size_t)snprintf(buf, cap, "user:%d", i);
}

/* owner index (into the sorted members) of key i, or -1 */
static long owner_of(struct ring *r, int i)
{
    char key[32];
    size_t n = key_name(key, sizeof(key), i);
    const struct ring_member *m = ring_lookup(r, key, n);
    return m ? m - r->members : -1;
}

/* Records the owner node of KEYS keys (pointers into r: valid until r changes;
 * so copy the node index as a member number parsed back from the name). */
static int node_num(const char *node)
{
    int a, b;
    if (sscanf(node, "10.0.%d.%d:", &a, &b) != 2)
        return -1;
    return a * 250 + b - 1;
}

static int *owners_snapshot(struct ring *r, int nkeys)
{
    int *own = xmalloc((size_t)nkeys * sizeof(int));
    for (int i = 0; i < nkeys; i++) {
        long m = owner_of(r, i);
        own[i] = m < 0 ? -1 : node_num(r->members[m].node);
    }
    return own;
}

TEST(hash_is_fnv1a_then_splitmix)
{
    ASSERT_EQ_U64(0xcbf29ce484222325ull, ring_fnv1a64("", 0));
    ASSERT_EQ_U64(0xaf63dc4c8601ec8cull, ring_fnv1a64("a", 1));
    ASSERT_EQ_U64(0x85944171f73967e8ull, ring_fnv1a64("foobar", 6));
    /* SplitMix64 seeded with 0: its first output */
    ASSERT_EQ_U64(0xe220a8397b1dcdafull, ring_point(0, 0));
    ASSERT_EQ_U64(ring_mix64(ring_fnv1a64("foobar", 6)), ring_hash("foobar", 6));
}

TEST(ten_equal_members_balance_within_1_1)
{
    struct ring r;
    ring_init(&r, "t", 1);
    join_n(&r, 0, 10, 1);
    long count[10] = {0};
    for (int i = 0; i < KEYS; i++)
        count[owner_of(&r, i)]++;
    long max = 0, min = KEYS;
    for (int m = 0; m < 10; m++) {
        max = count[m] > max ? count[m] : max;
        min = count[m] < min ? count[m] : min;
    }
    printf("  10 members, 1M keys: max %ld (%.3fx mean), min %ld (%.3fx)\n",
           max, max / (KEYS / 10.0), min, min / (KEYS / 10.0));
    ASSERT_TRUE(max * 10 <= (long)(1.1 * KEYS));
    ring_deinit(&r);
}

static void check_add_moves(int n)
{
    struct ring r;
    ring_init(&r, "t", 1);
    join_n(&r, 0, n, 1);
    int *before = owners_snapshot(&r, KEYS);
    join_n(&r, n, 1, 1); /* member number n joins */
    int *after = owners_snapshot(&r, KEYS);
    long moved = 0, wrong = 0;
    for (int i = 0; i < KEYS; i++)
        if (before[i] != after[i]) {
            moved++;
            wrong += after[i] != n;
        }
    printf("  add 1 to %d: moved %.4f of keys (limit 1.2/N = %.4f)\n", n,
           (double)moved / KEYS, 1.2 / n);
    ASSERT_EQ_INT(0, wrong);
    ASSERT_TRUE(moved * n <= (long)(1.2 * KEYS));
    ASSERT_TRUE(moved > 0);

    /* and it leaves again: exactly the old mapping comes back */
    char node[64];
    node_name(node, sizeof(node), n);
    ASSERT_EQ_INT(0, ring_leave(&r, node, strlen(node)));
    int *back = owners_snapshot(&r, KEYS);
    ASSERT_EQ_MEM(before, (size_t)KEYS * sizeof(int), back,
                  (size_t)KEYS * sizeof(int));
    free(before);
    free(after);
    free(back);
    ring_deinit(&r);
}

TEST(adding_one_moves_at_most_1_2_over_n_only_to_it)
{
    check_add_moves(3);
    check_add_moves(10);
    check_add_moves(50);
}

static void check_remove_moves(int n)
{
    struct ring r;
    char node[64];
    ring_init(&r, "t", 1);
    join_n(&r, 0, n, 1);
    int *before = owners_snapshot(&r, KEYS);
    int victim = n / 2;
    node_name(node, sizeof(node), victim);
    ASSERT_EQ_INT(0, ring_leave(&r, node, strlen(node)));
    int *after = owners_snapshot(&r, KEYS);
    long moved = 0, wrong = 0;
    for (int i = 0; i < KEYS; i++)
        if (before[i] != after[i]) {
            moved++;
            wrong += before[i] != victim;
        } else {
            wrong += after[i] == victim;
        }
    printf("  remove 1 of %d: moved %.4f of keys (limit 1.2/N = %.4f)\n", n,
           (double)moved / KEYS, 1.2 / n);
    ASSERT_EQ_INT(0, wrong);
    ASSERT_TRUE(moved * n <= (long)(1.2 * KEYS));
    free(before);
    free(after);
    ring_deinit(&r);
}

TEST(removing_one_moves_at_most_1_2_over_n_only_from_it)
{
    check_remove_moves(3);
    check_remove_moves(10);
    check_remove_moves(50);
}

TEST(join_order_does_not_matter)
{
    struct ring a, b;
    char node[64], err[200], key[32];
    int order[20];
    ring_init(&a, "a", 1);
    ring_init(&b, "b", 1);
    for (int i = 0; i < 20; i++)
        order[i] = (i * 7 + 3) % 20; /* a permutation */
    for (int i = 0; i < 20; i++) {
        node_name(node, sizeof(node), i);
        ASSERT_EQ_INT(RING_ADDED, ring_join(&a, node, strlen(node), 1 + i % 3,
                                            -1, 0, err, sizeof(err)));
        node_name(node, sizeof(node), order[19 - i]);
        ASSERT_EQ_INT(RING_ADDED,
                      ring_join(&b, node, strlen(node), 1 + order[19 - i] % 3,
                                500, 100, err, sizeof(err)));
    }
    for (int i = 0; i < 200000; i++) {
        size_t n = key_name(key, sizeof(key), i);
        const struct ring_member *ra[3], *rb[3];
        ASSERT_EQ_INT(3, ring_lookup_n(&a, key, n, 3, ra));
        ASSERT_EQ_INT(3, ring_lookup_n(&b, key, n, 3, rb));
        for (int k = 0; k < 3; k++)
            if (strcmp(ra[k]->node, rb[k]->node) != 0)
                ASSERT_EQ_STR(ra[k]->node, rb[k]->node);
    }
    ring_deinit(&a);
    ring_deinit(&b);
}

TEST(weights_scale_shares_and_only_move_to_the_reweighted)
{
    struct ring r;
    char node[64], err[200];
    ring_init(&r, "t", 1);
    join_n(&r, 0, 4, 1);
    node_name(node, sizeof(node), 4);
    ASSERT_EQ_INT(RING_ADDED,
                  ring_join(&r, node, strlen(node), 4, -1, 0, err, sizeof(err)));
    long heavy = 0;
    int *before = owners_snapshot(&r, KEYS);
    for (int i = 0; i < KEYS; i++)
        heavy += before[i] == 4;
    /* weight 4 of a total 8: half the keys */
    printf("  weight 4 of 8: %.4f of keys\n", (double)heavy / KEYS);
    ASSERT_TRUE(heavy > 0.45 * KEYS && heavy < 0.55 * KEYS);

    /* raising weight 4 -> 6 only moves keys to that member */
    ASSERT_EQ_INT(RING_CHANGED,
                  ring_join(&r, node, strlen(node), 6, -1, 0, err, sizeof(err)));
    int *after = owners_snapshot(&r, KEYS);
    long wrong = 0, now_heavy = 0;
    for (int i = 0; i < KEYS; i++) {
        wrong += before[i] != after[i] && after[i] != 4;
        now_heavy += after[i] == 4;
    }
    ASSERT_EQ_INT(0, wrong);
    printf("  weight 6 of 10: %.4f of keys\n", (double)now_heavy / KEYS);
    ASSERT_TRUE(now_heavy > 0.55 * KEYS && now_heavy < 0.65 * KEYS);
    /* omitting the weight on a refresh keeps it */
    ASSERT_EQ_INT(RING_REFRESHED,
                  ring_join(&r, node, strlen(node), 0, -1, 0, err, sizeof(err)));
    ASSERT_EQ_INT(6, r.members[ring_find(&r, node, strlen(node))].weight);
    free(before);
    free(after);
    ring_deinit(&r);
}

TEST(ttl_expires_members_on_the_fake_clock)
{
    struct ring r;
    char err[200];
    uint64_t now = 5000;
    ring_init(&r, "t", 1);
    ASSERT_EQ_INT(RING_ADDED, ring_join(&r, "a:1", 3, 1, 1000, now, err,
                                        sizeof(err)));
    ASSERT_EQ_INT(RING_ADDED, ring_join(&r, "b:1", 3, 1, 3000, now, err,
                                        sizeof(err)));
    ASSERT_EQ_INT(RING_ADDED, ring_join(&r, "c:1", 3, 1, -1, now, err,
                                        sizeof(err)));
    ASSERT_EQ_U64(6000, r.next_expiry_ms);
    now = 5999;
    ASSERT_EQ_INT(0, ring_expire(&r, now));
    ASSERT_EQ_INT(3, r.nmembers);
    /* a heartbeat at 5500 pushes a:1 to 6500 */
    ASSERT_EQ_INT(RING_REFRESHED, ring_join(&r, "a:1", 3, 0, 1000, 5500, err,
                                            sizeof(err)));
    ASSERT_EQ_U64(6500, r.next_expiry_ms);
    now = 6500;
    ASSERT_EQ_INT(1, ring_expire(&r, now));
    ASSERT_TRUE(ring_find(&r, "a:1", 3) < 0);
    ASSERT_EQ_U64(8000, r.next_expiry_ms);
    /* TTL 0 removes b's expiry; -1 (omitted) keeps it */
    ASSERT_EQ_INT(RING_REFRESHED, ring_join(&r, "b:1", 3, 0, 0, now, err,
                                            sizeof(err)));
    ASSERT_EQ_U64(0, r.next_expiry_ms);
    now = 1000000;
    ASSERT_EQ_INT(0, ring_expire(&r, now));
    ASSERT_EQ_INT(2, r.nmembers);
    ASSERT_EQ_U64(1, r.expired);
    /* lookups never answer with an expired member once expire ran */
    ASSERT_EQ_INT(RING_REFRESHED, ring_join(&r, "b:1", 3, 0, 10, now, err,
                                            sizeof(err)));
    ASSERT_EQ_INT(RING_REFRESHED, ring_join(&r, "c:1", 3, 0, 10, now, err,
                                            sizeof(err)));
    ASSERT_TRUE(ring_lookup(&r, "k", 1) != NULL);
    ASSERT_EQ_INT(2, ring_expire(&r, now + 10));
    ASSERT_TRUE(ring_lookup(&r, "k", 1) == NULL);
    ring_deinit(&r);
}

TEST(count_gives_distinct_owners_owner_first)
{
    struct ring r;
    char key[32];
    const struct ring_member *out[20];
    ring_init(&r, "t", 1);
    ASSERT_EQ_INT(0, ring_lookup_n(&r, "k", 1, 3, out));
    ASSERT_TRUE(ring_lookup(&r, "k", 1) == NULL);
    join_n(&r, 0, 5, 1);
    for (int i = 0; i < 10000; i++) {
        size_t n = key_name(key, sizeof(key), i);
        ASSERT_EQ_INT(3, ring_lookup_n(&r, key, n, 3, out));
        ASSERT_TRUE(out[0] == ring_lookup(&r, key, n));
        ASSERT_TRUE(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
        ASSERT_EQ_INT(5, ring_lookup_n(&r, key, n, 20, out));
    }
    ring_deinit(&r);
}

TEST(unhealthy_members_are_skipped_then_return)
{
    struct ring r;
    ring_init(&r, "t", 1);
    join_n(&r, 0, 6, 1);
    int *before = owners_snapshot(&r, 200000);
    ASSERT_EQ_INT(1, ring_set_healthy(&r, 2, 0));
    ASSERT_EQ_INT(0, ring_set_healthy(&r, 2, 0));
    int down = node_num(r.members[2].node);
    int *during = owners_snapshot(&r, 200000);
    for (int i = 0; i < 200000; i++) {
        ASSERT_TRUE(during[i] != down);
        if (before[i] != down)
            ASSERT_EQ_INT(before[i], during[i]);
    }
    ASSERT_EQ_INT(1, ring_set_healthy(&r, 2, 1));
    int *after = owners_snapshot(&r, 200000);
    ASSERT_EQ_MEM(before, 200000 * sizeof(int), after, 200000 * sizeof(int));
    for (size_t i = 0; i < r.nmembers; i++)
        ring_set_healthy(&r, i, 0);
    ASSERT_TRUE(ring_lookup(&r, "x", 1) == NULL);
    free(before);
    free(during);
    free(after);
    ring_deinit(&r);
}

TEST(bounded_load_caps_the_most_loaded)
{
    struct ring r, r2;
    char node[64], err[200];
    ring_init(&r, "t", 1);
    ring_init(&r2, "t", 1);
    join_n(&r, 0, 10, 1);
    /* the same members joined in reverse order */
    for (int i = 9; i >= 0; i--) {
        node_name(node, sizeof(node), i);
        ASSERT_EQ_INT(RING_ADDED, ring_join(&r2, node, strlen(node), 1, -1, 0,
                                            err, sizeof(err)));
    }
    ring_set_load_factor(&r, 102);
    ring_set_load_factor(&r2, 102);
    long count[10] = {0}, max = 0;
    for (int i = 0; i < KEYS; i++) {
        long m = owner_of(&r, i);
        count[m]++;
        ASSERT_EQ_INT(m, owner_of(&r2, i)); /* still order-independent */
    }
    for (int m = 0; m < 10; m++)
        max = count[m] > max ? count[m] : max;
    printf("  load factor 1.02: max %.4fx mean\n", max / (KEYS / 10.0));
    ASSERT_TRUE(max <= (long)(1.03 * KEYS / 10));
    ring_deinit(&r);
    ring_deinit(&r2);
}

TEST(node_and_name_validation)
{
    char err[200];
    const char *good[] = {"a:1", "10.0.0.1:65535", "host-1.example.com:80",
                          "[::1]:6379", "my_host:8080"};
    for (size_t i = 0; i < ARRAY_LEN(good); i++)
        ASSERT_EQ_INT(0, ring_node_check(good[i], strlen(good[i]), err,
                                         sizeof(err)));
    ASSERT_EQ_INT(-1, ring_node_check("localhost", 9, err, sizeof(err)));
    ASSERT_EQ_STR("node 'localhost' must be host:port", err);
    ASSERT_EQ_INT(-1, ring_node_check("h:0", 3, err, sizeof(err)));
    ASSERT_EQ_STR("node 'h:0': port must be an integer between 1 and 65535", err);
    ASSERT_EQ_INT(-1, ring_node_check("h:65536", 7, err, sizeof(err)));
    ASSERT_EQ_INT(-1, ring_node_check("h:080", 5, err, sizeof(err)));
    ASSERT_EQ_INT(-1, ring_node_check("h:", 2, err, sizeof(err)));
    ASSERT_EQ_INT(-1, ring_node_check(":80", 3, err, sizeof(err)));
    ASSERT_EQ_STR("node ':80': empty host", err);
    ASSERT_EQ_INT(-1, ring_node_check("a b:80", 6, err, sizeof(err)));
    ASSERT_EQ_INT(-1, ring_node_check("a\r\n:80", 6, err, sizeof(err)));
    ASSERT_TRUE(strchr(err, '\r') == NULL && strchr(err, '\n') == NULL);
    ASSERT_EQ_INT(-1, ring_node_check("[zz]:80", 7, err, sizeof(err)));
    ASSERT_EQ_INT(0, ring_name_check("sessions", 8, err, sizeof(err)));
    ASSERT_EQ_INT(-1, ring_name_check("", 0, err, sizeof(err)));
    ASSERT_EQ_INT(-1, ring_name_check("a b", 3, err, sizeof(err)));
}

TEST(limits_on_weight_and_size)
{
    struct ring r;
    char err[200];
    ring_init(&r, "big", 3);
    ASSERT_EQ_INT(ERR_INVAL, ring_join(&r, "a:1", 3, RING_WEIGHT_MAX + 1, -1, 0,
                                       err, sizeof(err)));
    for (int i = 0; i < RING_TOTAL_WEIGHT_MAX / RING_WEIGHT_MAX; i++) {
        char node[32];
        snprintf(node, sizeof(node), "h%d:1", i);
        ASSERT_EQ_INT(RING_ADDED, ring_join(&r, node, strlen(node),
                                            RING_WEIGHT_MAX, -1, 0, err,
                                            sizeof(err)));
    }
    ASSERT_EQ_INT(ERR_LIMIT, ring_join(&r, "x:1", 3, 1, -1, 0, err, sizeof(err)));
    ASSERT_EQ_STR("weight 1 would bring ring 'big' to a total weight of 2001 "
                  "(max 2000)",
                  err);
    ASSERT_EQ_INT(ERR_NOTFOUND, ring_leave(&r, "x:1", 3));
    ring_deinit(&r);
}

TEST(state_round_trip_keeps_remaining_ttl_and_counts_downtime)
{
    struct ring_set s, t;
    struct sbuf buf;
    char err[200];
    ring_set_init(&s);
    ring_set_init(&t);
    sbuf_init(&buf);
    struct ring *a = ring_set_get(&s, "default", 7);
    struct ring *b = ring_set_get(&s, "sessions", 8);
    ASSERT_EQ_INT(RING_ADDED, ring_join(a, "a:1", 3, 2, -1, 1000, err, sizeof(err)));
    ASSERT_EQ_INT(RING_ADDED, ring_join(a, "b:1", 3, 1, 60000, 1000, err,
                                        sizeof(err)));
    ASSERT_EQ_INT(RING_ADDED, ring_join(b, "c:1", 3, 1, 5000, 1000, err,
                                        sizeof(err)));
    b->check_interval_ms = 250;
    /* saved at mono 2000 = wall 1e12 */
    ring_set_encode(&s, 2000, 1000000000000ull, &buf);
    /* restarted 3 s later (wall), the new process's mono clock is at 10 */
    ASSERT_EQ_INT(0, ring_set_decode(&t, buf.data, buf.len, 10,
                                     1000000003000ull, err, sizeof(err)));
    ASSERT_EQ_INT(2, t.nrings);
    struct ring *ta = ring_set_find(&t, "default", 7);
    struct ring *tb = ring_set_find(&t, "sessions", 8);
    ASSERT_TRUE(ta && tb);
    ASSERT_EQ_INT(2, ta->nmembers);
    ASSERT_EQ_INT(2, ta->members[ring_find(ta, "a:1", 3)].weight);
    ASSERT_EQ_U64(0, ta->members[ring_find(ta, "a:1", 3)].expires_ms);
    /* b had 59000 ms left at save time, 3000 passed: 56000 left */
    ASSERT_EQ_U64(10 + 56000, ta->members[ring_find(ta, "b:1", 3)].expires_ms);
    ASSERT_EQ_U64(10 + 1000, tb->members[0].expires_ms);
    ASSERT_EQ_U64(250, tb->check_interval_ms);
    /* 5 s later c:1 is gone, but the ring stays because of its check */
    ASSERT_EQ_INT(0, ring_set_decode(&t, buf.data, buf.len, 10,
                                     1000000005000ull, err, sizeof(err)));
    ASSERT_EQ_INT(0, ring_set_find(&t, "sessions", 8)->nmembers);
    /* any flipped byte or a cut is refused */
    for (size_t i = 0; i < buf.len; i += 7) {
        buf.data[i] ^= 0x01;
        ASSERT_EQ_INT(ERR_CORRUPT, ring_set_decode(&t, buf.data, buf.len, 10,
                                                   1000000003000ull, err,
                                                   sizeof(err)));
        buf.data[i] ^= 0x01;
    }
    ASSERT_EQ_INT(ERR_CORRUPT, ring_set_decode(&t, buf.data, buf.len - 5, 10, 0,
                                               err, sizeof(err)));
    /* the failed decodes left the last good content */
    ASSERT_EQ_INT(2, t.nrings);
    sbuf_deinit(&buf);
    ring_set_deinit(&s);
    ring_set_deinit(&t);
}

/* A mini fuzz of the state file decoder: random flips, cuts, insertions and
 * duplicated lines of a valid file never crash (ASan build) and never yield a
 * partial state: either ERR_CORRUPT with the old content kept, or success. */
TEST(state_decode_survives_mutations)
{
    struct ring_set s, t;
    struct sbuf good, buf;
    char err[200], node[64];
    uint64_t rnd = 0x12345678;
    ring_set_init(&s);
    ring_set_init(&t);
    sbuf_init(&good);
    sbuf_init(&buf);
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof(name), "r%d", k);
        struct ring *r = ring_set_get(&s, name, strlen(name));
        for (int i = 0; i < 5; i++) {
            node_name(node, sizeof(node), k * 10 + i);
            ASSERT_TRUE(ring_join(r, node, strlen(node), 1 + (uint32_t)i, i ? 5000 : -1,
                                  0, err, sizeof(err)) >= 0);
        }
    }
    ring_set_encode(&s, 0, 1000000, &good);
    ASSERT_EQ_INT(0, ring_set_decode(&t, good.data, good.len, 0, 1000000, err,
                                     sizeof(err)));
    int ok = 0, bad = 0;
    for (int round = 0; round < 20000; round++) {
        sbuf_clear(&buf);
        sbuf_add(&buf, good.data, good.len);
        int edits = 1 + (int)((rnd = rnd * 6364136223846793005ull + 1) >> 62);
        for (int e = 0; e < edits; e++) {
            rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = buf.len ? (size_t)(rnd >> 33) % buf.len : 0;
            switch ((rnd >> 20) % 4) {
            case 0: /* flip a bit */
                if (buf.len)
                    buf.data[at] ^= (char)(1u << ((rnd >> 8) % 8));
                break;
            case 1: /* cut */
                buf.len = at;
                break;
            case 2: { /* insert a byte */
                char ch = (char)(rnd >> 40);
                sbuf_addc(&buf, 0);
                memmove(buf.data + at + 1, buf.data + at, buf.len - at - 1);
                buf.data[at] = ch;
                break;
            }
            default: /* duplicate the tail from at */
                sbuf_add(&buf, good.data + at % good.len, good.len - at % good.len);
                break;
            }
        }
        int rc = ring_set_decode(&t, buf.data, buf.len, 0, 1000000, err, sizeof(err));
        if (rc == 0)
            ok++;
        else {
            ASSERT_EQ_INT(ERR_CORRUPT, rc);
            bad++;
        }
        ASSERT_TRUE(t.nrings <= 3);
    }
    printf("  20000 mutated files: %d decoded, %d refused\n", ok, bad);
    ASSERT_TRUE(bad > 19000);
    sbuf_deinit(&good);
    sbuf_deinit(&buf);
    ring_set_deinit(&s);
    ring_set_deinit(&t);
}

TEST(lookup_is_cheap_on_a_50_member_ring)
{
    struct ring r;
    char key[32];
    ring_init(&r, "t", 1);
    join_n(&r, 0, 50, 1);
    ring_build(&r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uintptr_t sink = 0;
    for (int i = 0; i < KEYS; i++) {
        size_t n = key_name(key, sizeof(key), i);
        sink += (uintptr_t)ring_lookup(&r, key, n);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / KEYS;
    printf("  50 members (%zu points): %.0f ns per lookup\n", r.npoints, ns);
    ASSERT_TRUE(sink != 0);
    ASSERT_TRUE(ns < 5000); /* generous: sanitizer builds are slow */
    ring_deinit(&r);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, (struct test[]){
        T(hash_is_fnv1a_then_splitmix),
        T(ten_equal_members_balance_within_1_1),
        T(adding_one_moves_at_most_1_2_over_n_only_to_it),
        T(removing_one_moves_at_most_1_2_over_n_only_from_it),
        T(join_order_does_not_matter),
        T(weights_scale_shares_and_only_move_to_the_reweighted),
        T(ttl_expires_members_on_the_fake_clock),
        T(count_gives_distinct_owners_owner_first),
        T(unhealthy_members_are_skipped_then_return),
        T(bounded_load_caps_the_most_loaded),
        T(node_and_name_validation),
        T(limits_on_weight_and_size),
        T(state_round_trip_keeps_remaining_ttl_and_counts_downtime),
        T(state_decode_survives_mutations),
        T(lookup_is_cheap_on_a_50_member_ring),
        {0}});
}
