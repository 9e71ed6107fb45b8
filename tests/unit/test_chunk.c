/* test_chunk.c - bucket maths and plans. Expected hashes were computed by
 * PostgreSQL 15 with ('x'||substr(md5(id),1,16))::bit(64)::bigint. */
#include "chunk.h"

#include "errors.h"
#include "test.h"

static uint32_t bucket(const char *id, uint32_t n)
{
    uint32_t b = 0xffffffffu;
    ASSERT_EQ_INT(0, chunk_bucket(id, strlen(id), n, &b));
    return b;
}

TEST(hash_matches_postgresql)
{
    ASSERT_EQ_INT(-3162216497309240828LL, chunk_hash("", 0));
    ASSERT_EQ_INT(919145239626757800LL, chunk_hash("a", 1));
    ASSERT_EQ_INT(6719722671305337462LL, chunk_hash("hello", 5));
    ASSERT_EQ_INT(-6786705937655499993LL, chunk_hash("42", 2));
    const char *u = "00000000-0000-0000-0000-000000000000";
    ASSERT_EQ_INT(-6950804328280008906LL, chunk_hash(u, strlen(u)));
    const char *utf = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* é€😀 */
    ASSERT_EQ_INT(4253548280380310999LL, chunk_hash(utf, strlen(utf)));
    char big[1000];
    memset(big, 'x', sizeof(big));
    ASSERT_EQ_INT(4144776019855927798LL, chunk_hash(big, sizeof(big)));
}

TEST(bucket_matches_postgresql)
{
    ASSERT_EQ_INT(828, bucket("", 1000));
    ASSERT_EQ_INT(800, bucket("a", 1000));
    ASSERT_EQ_INT(462, bucket("hello", 1000));
    ASSERT_EQ_INT(993, bucket("42", 1000)); /* negative hash: abs() first */
    ASSERT_EQ_INT(906, bucket("00000000-0000-0000-0000-000000000000", 1000));
    ASSERT_EQ_INT(999, bucket("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 1000));
    ASSERT_EQ_INT(6, bucket("a", 7));
    ASSERT_EQ_INT(6, bucket("hello", 7));
    ASSERT_EQ_INT(4, bucket("42", 7));
    ASSERT_EQ_INT(3, bucket("00000000-0000-0000-0000-000000000000", 7));
    ASSERT_EQ_INT(0, bucket("anything", 1));
}

TEST(sign_edges_match_postgresql)
{
    uint32_t b = 12345;
    /* x'8000000000000001'::bit(64)::bigint = INT64_MIN + 1 -> 807 */
    ASSERT_EQ_INT(0, chunk_bucket_of_hash(INT64_MIN + 1, 1000, &b));
    ASSERT_EQ_INT(807, b);
    ASSERT_EQ_INT(0, chunk_bucket_of_hash(INT64_MAX, 1000, &b));
    ASSERT_EQ_INT(807, b);
    ASSERT_EQ_INT(0, chunk_bucket_of_hash(-1, 1000, &b));
    ASSERT_EQ_INT(1, b);
    ASSERT_EQ_INT(0, chunk_bucket_of_hash(0, 1000, &b));
    ASSERT_EQ_INT(0, b);
    /* PostgreSQL: abs(x'8000000000000000'::bit(64)::bigint) -> ERROR bigint
     * out of range; we refuse as well and leave *out alone. */
    b = 12345;
    ASSERT_EQ_INT(ERR_LIMIT, chunk_bucket_of_hash(INT64_MIN, 1000, &b));
    ASSERT_EQ_INT(12345, b);
    ASSERT_EQ_INT(ERR_INVAL, chunk_bucket_of_hash(5, 0, &b));
    ASSERT_EQ_INT(ERR_INVAL, chunk_bucket("a", 1, 0, &b));
}

TEST(plan_counts)
{
    ASSERT_EQ_INT(1, chunk_plan_count(1000, 1000, 10000));
    ASSERT_EQ_INT(1, chunk_plan_count(0, 1000, 10000));
    ASSERT_EQ_INT(1, chunk_plan_count(10000, 1000, 10000));
    ASSERT_EQ_INT(2, chunk_plan_count(10001, 1000, 10000));
    ASSERT_EQ_INT(100, chunk_plan_count(1000000, 1000, 10000));
    ASSERT_EQ_INT(1000, chunk_plan_count(UINT64_MAX, 1000, 1));
    ASSERT_EQ_INT(1000, chunk_plan_count(1000000000, 1000, 10000));
    ASSERT_EQ_INT(3, chunk_plan_count(3, 1000, 1));
    ASSERT_EQ_INT(1, chunk_plan_count(UINT64_MAX, 1, 1));
}

TEST(plan_one_item_for_small_table)
{
    uint32_t n = chunk_plan_count(1000, 1000, 10000);
    struct chunk_range r = chunk_plan_item(0, n, 1000);
    ASSERT_EQ_INT(0, r.lo);
    ASSERT_EQ_INT(999, r.hi);
}

TEST(plan_million_rows_is_100_items_of_10)
{
    uint32_t n = chunk_plan_count(1000000, 1000, 10000);
    ASSERT_EQ_INT(100, n);
    for (uint32_t i = 0; i < n; i++) {
        struct chunk_range r = chunk_plan_item(i, n, 1000);
        ASSERT_EQ_INT(i * 10, r.lo);
        ASSERT_EQ_INT(i * 10 + 9, r.hi);
    }
}

/* For many (buckets, count) pairs: ranges are in order, contiguous, non-empty,
 * start at 0, end at buckets-1, and sizes differ by at most one. */
TEST(plan_covers_every_bucket_once)
{
    static const uint32_t bs[] = {1, 2, 3, 7, 10, 999, 1000, 1001, 4096, 1000000};
    for (size_t k = 0; k < sizeof(bs) / sizeof(bs[0]); k++) {
        uint32_t b = bs[k];
        static const uint64_t totals[] = {0, 1, 9999, 10000, 12345, 333333,
                                          1000000, 77777777, UINT64_MAX};
        for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
            uint32_t n = chunk_plan_count(totals[t], b, 10000);
            ASSERT_TRUE(n >= 1 && n <= b);
            uint32_t next = 0, minsz = UINT32_MAX, maxsz = 0;
            for (uint32_t i = 0; i < n; i++) {
                struct chunk_range r = chunk_plan_item(i, n, b);
                ASSERT_EQ_INT(next, r.lo);
                ASSERT_TRUE(r.hi >= r.lo);
                uint32_t sz = r.hi - r.lo + 1;
                minsz = sz < minsz ? sz : minsz;
                maxsz = sz > maxsz ? sz : maxsz;
                next = r.hi + 1;
            }
            ASSERT_EQ_INT(b, next);
            ASSERT_TRUE(maxsz - minsz <= 1);
        }
    }
}

TEST(plan_uneven_split)
{
    struct chunk_range r0 = chunk_plan_item(0, 3, 1000);
    struct chunk_range r1 = chunk_plan_item(1, 3, 1000);
    struct chunk_range r2 = chunk_plan_item(2, 3, 1000);
    ASSERT_EQ_INT(0, r0.lo);
    ASSERT_EQ_INT(332, r0.hi);
    ASSERT_EQ_INT(333, r1.lo);
    ASSERT_EQ_INT(665, r1.hi);
    ASSERT_EQ_INT(666, r2.lo);
    ASSERT_EQ_INT(999, r2.hi);
}

/* Buckets spread evenly: 100k ids over 1000 buckets, each bucket well within
 * 50..150 (expected 100, sd 10). */
TEST(buckets_are_uniform)
{
    static uint32_t counts[1000];
    memset(counts, 0, sizeof(counts));
    char id[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(id, sizeof(id), "row-%d", i);
        uint32_t b;
        ASSERT_EQ_INT(0, chunk_bucket(id, (size_t)n, 1000, &b));
        ASSERT_TRUE(b < 1000);
        counts[b]++;
    }
    for (int i = 0; i < 1000; i++)
        ASSERT_TRUE(counts[i] > 50 && counts[i] < 150);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(hash_matches_postgresql),
                                     T(bucket_matches_postgresql),
                                     T(sign_edges_match_postgresql),
                                     T(plan_counts),
                                     T(plan_one_item_for_small_table),
                                     T(plan_million_rows_is_100_items_of_10),
                                     T(plan_covers_every_bucket_once),
                                     T(plan_uneven_split),
                                     T(buckets_are_uniform),
                                     {0}});
}
