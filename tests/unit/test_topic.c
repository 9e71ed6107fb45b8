/* Topic patterns: the RabbitMQ topic-exchange table and type validation. */
#include "test.h"

#include "errors.h"
#include "topic.h"

static int m(const char *p, const char *t)
{
    return topic_match(p, strlen(p), t, strlen(t));
}

TEST(pattern_table)
{
    static const struct {
        const char *pattern, *type;
        int want;
    } rows[] = {
        {"order.created", "order.created", 1},
        {"order.created", "order.create", 0},
        {"order.created", "order.created.x", 0},
        {"order.*", "order.created", 1},
        {"order.*", "order", 0},
        {"order.*", "order.a.b", 0},
        {"*.created", "order.created", 1},
        {"*.created", "created", 0},
        {"*", "order", 1},
        {"*", "order.x", 0},
        {"#", "order", 1},
        {"#", "a.b.c.d", 1},
        {"order.#", "order", 1},
        {"order.#", "order.created", 1},
        {"order.#", "order.a.b", 1},
        {"order.#", "orders.a", 0},
        {"#.created", "created", 1},
        {"#.created", "order.created", 1},
        {"#.created", "a.b.created", 1},
        {"#.created", "a.b.created.x", 0},
        {"a.#.b", "a.b", 1},
        {"a.#.b", "a.x.y.b", 1},
        {"a.#.b", "a.x.y.c", 0},
        {"a.*.#", "a", 0},
        {"a.*.#", "a.b", 1},
        {"a.*.#", "a.b.c", 1},
        {"#.#", "a", 1},
        {"#.*", "a", 1},
        {"#.*", "a.b.c", 1},
        {"*.#.*", "a", 0},
        {"*.#.*", "a.b", 1},
        {"a.#.#.b", "a.b", 1},
        {"a.b", "a.bb", 0},
        {"a-b_c.D9", "a-b_c.D9", 1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (m(rows[i].pattern, rows[i].type) != rows[i].want) {
            fprintf(stderr, "  row %zu: '%s' vs '%s'\n", i, rows[i].pattern,
                    rows[i].type);
            ASSERT_EQ_INT(rows[i].want, m(rows[i].pattern, rows[i].type));
        }
    }
}

TEST(type_validation)
{
    char err[128];
    ASSERT_EQ_INT(0, topic_type_check("order.created", 13, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, topic_type_check("a..b", 4, err, sizeof(err)));
    ASSERT_EQ_STR("empty word", err);
    ASSERT_EQ_INT(ERR_INVAL, topic_type_check(".a", 2, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, topic_type_check("a.", 2, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, topic_type_check("", 0, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, topic_type_check("a.*", 3, err, sizeof(err)));
    ASSERT_EQ_STR("wildcard '*' not allowed in a type", err);
    ASSERT_EQ_INT(ERR_INVAL, topic_type_check("a b", 3, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, topic_pattern_check("a.b*", 4, err, sizeof(err)));
    ASSERT_EQ_STR("'*' must be a whole word", err);
    ASSERT_EQ_INT(0, topic_pattern_check("a.#.*", 5, err, sizeof(err)));
    char big[300];
    memset(big, 'a', sizeof(big));
    ASSERT_EQ_INT(0, topic_type_check(big, 255, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, topic_type_check(big, 256, err, sizeof(err)));
    ASSERT_TRUE(topic_is_literal("a.b", 3));
    ASSERT_TRUE(!topic_is_literal("a.#", 3));
    ASSERT_TRUE(!topic_is_literal("*", 1));
    ASSERT_TRUE(topic_is_literal("a*b", 3)); /* invalid, but not a wildcard word */
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(pattern_table), T(type_validation), {0}});
}
