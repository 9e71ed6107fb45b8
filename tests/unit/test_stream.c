/* Streams: the key <-> event type mapping, stream IDs and the pending-entry
 * index (idvec). The commands are tested against the real server by Redis's
 * own suite (scripts/redis-suite.sh) and tests/integration/test_stream*.py. */
#include "test.h"

#include <stdlib.h>

#include "errors.h"
#include "stream.h"
#include "topic.h"

/* type_of then key_of_type gives the key back, and the type is a valid one */
static void round_trip(int db, const char *key, size_t n)
{
    char type[256], back[256], why[64];
    size_t tlen, blen;
    int bdb;
    ASSERT_EQ_INT(0, stream_type_of(db, key, n, type, &tlen));
    ASSERT_EQ_INT(0, topic_type_check(type, tlen, why, sizeof(why)));
    ASSERT_EQ_INT(0, stream_key_of_type(type, tlen, &bdb, back, &blen));
    ASSERT_EQ_INT(db, bdb);
    ASSERT_EQ_MEM(key, n, back, blen);
}

TEST(plain_types_are_themselves)
{
    char type[256];
    size_t tlen;
    ASSERT_EQ_INT(0, stream_type_of(0, "order.created", 13, type, &tlen));
    ASSERT_EQ_STR("order.created", type);
    ASSERT_EQ_INT(0, stream_type_of(0, "mystream", 8, type, &tlen));
    ASSERT_EQ_STR("mystream", type);
    /* not valid types, or another db: escaped */
    ASSERT_EQ_INT(0, stream_type_of(0, "mystream{t}", 11, type, &tlen));
    ASSERT_EQ_STR("_s0.mystream_7Bt_7D", type);
    ASSERT_EQ_INT(0, stream_type_of(9, "mystream", 8, type, &tlen));
    ASSERT_EQ_STR("_s9.mystream", type);
    ASSERT_EQ_INT(0, stream_type_of(0, "_x", 2, type, &tlen));
    ASSERT_EQ_STR("_s0._5Fx", type);
    ASSERT_EQ_INT(0, stream_type_of(0, "a..b", 4, type, &tlen));
    ASSERT_EQ_STR("_s0.a_2E_2Eb", type);
    ASSERT_EQ_INT(0, stream_type_of(15, "", 0, type, &tlen));
    ASSERT_EQ_STR("_s15._", type);
}

TEST(round_trips)
{
    round_trip(0, "order.created", 13);
    round_trip(0, "a.b.c", 5);
    round_trip(0, "mystream{t}", 11);
    round_trip(3, "order.created", 13);
    round_trip(9, "", 0);
    round_trip(0, "_", 1);
    round_trip(0, "_s0.x", 5);
    round_trip(0, "\0\xff\r\n _.-", 9);
    srand(7);
    for (int i = 0; i < 2000; i++) {
        char key[80];
        size_t n = (size_t)(rand() % 80);
        for (size_t k = 0; k < n; k++)
            key[k] = (char)(rand() % 256);
        round_trip(rand() % 16, key, n);
    }
}

TEST(long_keys)
{
    char key[300], type[256];
    size_t tlen;
    memset(key, 'a', sizeof(key));
    ASSERT_EQ_INT(0, stream_type_of(0, key, 255, type, &tlen)); /* a valid type */
    ASSERT_EQ_INT(255, (int)tlen);
    ASSERT_EQ_INT(-1, stream_type_of(0, key, 256, type, &tlen));
    ASSERT_EQ_INT(0, stream_type_of(1, key, 250, type, &tlen)); /* "_s1." + 250 */
    ASSERT_EQ_INT(-1, stream_type_of(1, key, 252, type, &tlen));
    memset(key, '{', 84);
    ASSERT_EQ_INT(0, stream_type_of(0, key, 83, type, &tlen)); /* 4 + 3 x 83 */
    ASSERT_EQ_INT(-1, stream_type_of(0, key, 84, type, &tlen));
}

TEST(foreign_types_are_no_keys)
{
    char key[256];
    size_t kn;
    int db;
    ASSERT_EQ_INT(-1, stream_key_of_type("_internal", 9, &db, key, &kn));
    ASSERT_EQ_INT(-1, stream_key_of_type("_s99.x", 6, &db, key, &kn));
    ASSERT_EQ_INT(-1, stream_key_of_type("_s1.x_G0", 8, &db, key, &kn));
    ASSERT_EQ_INT(-1, stream_key_of_type("_s1.x_4", 7, &db, key, &kn));
    ASSERT_EQ_INT(-1, stream_key_of_type("_s0.orders", 10, &db, key, &kn));
    ASSERT_EQ_INT(-1, stream_key_of_type("_s1.a_2d", 8, &db, key, &kn));
    ASSERT_EQ_INT(-1, stream_key_of_type("_s01.a", 6, &db, key, &kn));
    ASSERT_EQ_INT(0, stream_key_of_type("orders", 6, &db, key, &kn));
    ASSERT_EQ_INT(0, db);
    ASSERT_EQ_MEM("orders", 6, key, kn);
}

TEST(ids)
{
    char b[48];
    struct sid a = {5, 1}, z = {5, 2}, big = {UINT64_MAX, UINT64_MAX};
    ASSERT_TRUE(sid_cmp(a, z) < 0);
    ASSERT_TRUE(sid_cmp(z, a) > 0);
    ASSERT_EQ_INT(0, sid_cmp(a, a));
    ASSERT_TRUE(sid_cmp((struct sid){4, UINT64_MAX}, a) < 0);
    size_t n = sid_fmt(big, b);
    ASSERT_EQ_MEM("18446744073709551615-18446744073709551615", 41, b, n);
}

/* the sorted vector against a plain model: puts in and out of order, deletes
 * from the front (acks of the oldest), the middle and the back */
TEST(idvec_model)
{
    enum { N = 3000 };
    static struct pel pels[N];
    static int in[N];
    struct idvec v = {0};
    srand(11);
    for (int round = 0; round < 20000; round++) {
        int k = rand() % N;
        if (rand() % 3) {
            pels[k].id = (struct sid){(uint64_t)k / 10, (uint64_t)k % 10};
            idvec_put(&v, &pels[k]);
            in[k] = 1;
        } else {
            idvec_del(&v, (struct sid){(uint64_t)k / 10, (uint64_t)k % 10});
            in[k] = 0;
        }
        if (round % 1000 == 0 || round == 19999) {
            size_t live = 0;
            for (int i = 0; i < N; i++) {
                struct pel *p = idvec_get(&v, (struct sid){(uint64_t)i / 10,
                                                           (uint64_t)i % 10});
                ASSERT_TRUE(in[i] ? p == &pels[i] : p == NULL);
                live += (size_t)in[i];
            }
            ASSERT_EQ_U64(live, v.live);
            /* slots in order, live ones where the model has them */
            for (size_t i = 1; i < v.n; i++)
                ASSERT_TRUE(sid_cmp(v.keys[i - 1], v.keys[i]) < 0);
        }
    }
    idvec_free(&v);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(plain_types_are_themselves), T(round_trips),
                                     T(long_keys), T(foreign_types_are_no_keys),
                                     T(ids), T(idvec_model), {0}});
}
