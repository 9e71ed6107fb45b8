/* The intrusive min-heap: order, slots kept in the elements, removal from the
 * middle, re-placing after a key change, and a random run against a plain
 * array. */
#include "test.h"

#include <stddef.h>

#include "common.h"
#include "heap.h"

struct item {
    uint64_t key; /* ms, the deadline */
    uint64_t seq; /* tie-break */
    size_t slot;  /* kept by the heap */
};

static int item_before(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key;
    return x->seq < y->seq;
}

/* Every slot field matches its slot and no child comes before its parent. */
static int heap_ok(const struct heap *h)
{
    for (size_t i = 0; i < heap_count(h); i++) {
        const struct item *e = heap_at(h, i);
        if (e->slot != i)
            return 0;
        if (i > 0 && item_before(e, heap_at(h, (i - 1) / 2)))
            return 0;
    }
    return 1;
}

static struct item *pop(struct heap *h)
{
    struct item *e = heap_first(h);
    if (e)
        heap_remove(h, e, item_before);
    return e;
}

TEST(empty_heap)
{
    struct heap h;
    heap_init(&h, offsetof(struct item, slot));
    ASSERT_EQ_INT(0, heap_count(&h));
    ASSERT_TRUE(heap_first(&h) == NULL);
    heap_deinit(&h);
    heap_deinit(&h); /* twice is harmless */
}

TEST(pops_in_order_with_ties_broken)
{
    static const uint64_t keys[] = {50, 10, 40, 10, 30, 20, 50, 0, 20, 10};
    struct item it[ARRAY_LEN(keys)];
    struct heap h;
    heap_init(&h, offsetof(struct item, slot));
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        it[i] = (struct item){.key = keys[i], .seq = i};
        heap_push(&h, &it[i], item_before);
        ASSERT_TRUE(heap_ok(&h));
    }
    ASSERT_EQ_INT(ARRAY_LEN(keys), heap_count(&h));
    static const size_t want[] = {7, 1, 3, 9, 5, 8, 4, 2, 0, 6};
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        struct item *e = pop(&h);
        ASSERT_TRUE(e == &it[want[i]]);
        ASSERT_TRUE(heap_ok(&h));
    }
    ASSERT_TRUE(pop(&h) == NULL);
    heap_deinit(&h);
}

TEST(remove_from_the_middle_and_fix)
{
    struct item it[40];
    struct heap h;
    heap_init(&h, offsetof(struct item, slot));
    for (size_t i = 0; i < 40; i++) {
        it[i] = (struct item){.key = (i * 7919) % 97, .seq = i};
        heap_push(&h, &it[i], item_before);
    }
    heap_remove(&h, &it[5], item_before);
    heap_remove(&h, &it[39], item_before);
    heap_remove(&h, &it[0], item_before);
    ASSERT_EQ_INT(37, heap_count(&h));
    ASSERT_TRUE(heap_ok(&h));
    it[20].key = 0; /* earlier: moves up */
    it[20].seq = 0;
    heap_fix(&h, &it[20], item_before);
    ASSERT_TRUE(heap_ok(&h));
    ASSERT_TRUE(heap_first(&h) == &it[20]);
    it[20].key = 1000; /* later: moves down */
    heap_fix(&h, &it[20], item_before);
    ASSERT_TRUE(heap_ok(&h));
    heap_fix(&h, &it[7], item_before);
    ASSERT_TRUE(heap_ok(&h));
    uint64_t last = 0;
    struct item *e;
    size_t n = 0;
    while ((e = pop(&h))) {
        ASSERT_TRUE(e != &it[5] && e != &it[39] && e != &it[0]);
        ASSERT_TRUE(e->key >= last);
        last = e->key;
        n++;
    }
    ASSERT_EQ_INT(37, n);
    ASSERT_TRUE(last == 1000);
    heap_deinit(&h);
}

/* Random pushes, removals, key changes and pops; each pop must be the minimum
 * of the elements a plain array says are in the heap. */
TEST(random_against_an_array)
{
    enum { N = 500 };
    static struct item it[N];
    int in[N] = {0};
    struct heap h;
    heap_init(&h, offsetof(struct item, slot));
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    for (size_t i = 0; i < N; i++)
        it[i].seq = i;
    for (int step = 0; step < 20000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t k = (size_t)(x % N);
        switch ((x >> 32) % 4) {
        case 0: /* push or remove */
            if (in[k]) {
                heap_remove(&h, &it[k], item_before);
                in[k] = 0;
            } else {
                it[k].key = (x >> 40) % 1000;
                heap_push(&h, &it[k], item_before);
                in[k] = 1;
            }
            break;
        case 1: /* key change */
            if (in[k]) {
                it[k].key = (x >> 40) % 1000;
                heap_fix(&h, &it[k], item_before);
            }
            break;
        default: { /* pop, checked against the array */
            const struct item *min = NULL;
            for (size_t i = 0; i < N; i++)
                if (in[i] && (!min || item_before(&it[i], min)))
                    min = &it[i];
            struct item *e = pop(&h);
            ASSERT_TRUE(e == min);
            if (e)
                in[e - it] = 0;
            break;
        }
        }
        if (step % 97 == 0)
            ASSERT_TRUE(heap_ok(&h));
    }
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        n += (size_t)in[i];
    ASSERT_EQ_INT(n, heap_count(&h));
    ASSERT_TRUE(heap_ok(&h));
    heap_deinit(&h);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(empty_heap),
                                     T(pops_in_order_with_ties_broken),
                                     T(remove_from_the_middle_and_fix),
                                     T(random_against_an_array),
                                     {0}});
}
