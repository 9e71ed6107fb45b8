/* The HTTP listener's pure part: query parameters (http_query_param). */
#include "test.h"

#include "http.h"

static const char *param(const char *query, const char *name, char *buf,
                         size_t len)
{
    struct http_request req = {"GET", "/", query};
    return http_query_param(&req, name, buf, len);
}

TEST(finds_each_parameter)
{
    char b[64];
    ASSERT_EQ_STR("1", param("a=1&b=2&c=3", "a", b, sizeof(b)));
    ASSERT_EQ_STR("2", param("a=1&b=2&c=3", "b", b, sizeof(b)));
    ASSERT_EQ_STR("3", param("a=1&b=2&c=3", "c", b, sizeof(b)));
    ASSERT_TRUE(param("a=1&b=2", "d", b, sizeof(b)) == NULL);
    ASSERT_TRUE(param("", "a", b, sizeof(b)) == NULL);
    ASSERT_TRUE(param("ab=1", "a", b, sizeof(b)) == NULL);
    ASSERT_TRUE(param("a=1", "ab", b, sizeof(b)) == NULL);
}

TEST(first_occurrence_wins)
{
    char b[64];
    ASSERT_EQ_STR("x", param("k=x&k=y", "k", b, sizeof(b)));
}

TEST(empty_and_valueless)
{
    char b[64];
    ASSERT_EQ_STR("", param("flag&x=1", "flag", b, sizeof(b)));
    ASSERT_EQ_STR("", param("x=1&flag=", "flag", b, sizeof(b)));
    ASSERT_EQ_STR("1", param("&&x=1&", "x", b, sizeof(b)));
}

TEST(percent_and_plus_decoded)
{
    char b[64];
    ASSERT_EQ_STR("order.*",
                  param("pattern=order.%2A", "pattern", b, sizeof(b)));
    ASSERT_EQ_STR("a b c", param("q=a+b%20c", "q", b, sizeof(b)));
    ASSERT_EQ_STR("&=", param("q=%26%3d", "q", b, sizeof(b)));
    /* the name is decoded too */
    ASSERT_EQ_STR("v", param("my%20key=v", "my key", b, sizeof(b)));
    ASSERT_EQ_STR("\xc3\xa9", param("e=%C3%A9", "e", b, sizeof(b)));
}

TEST(bad_escapes_are_absent)
{
    char b[64];
    ASSERT_TRUE(param("q=%zz", "q", b, sizeof(b)) == NULL);
    ASSERT_TRUE(param("q=%2", "q", b, sizeof(b)) == NULL);
    ASSERT_TRUE(param("q=abc%", "q", b, sizeof(b)) == NULL);
    ASSERT_TRUE(param("q=a%00b", "q", b, sizeof(b)) == NULL);
}

TEST(too_long_for_the_buffer_is_absent)
{
    char b[4];
    ASSERT_EQ_STR("abc", param("q=abc", "q", b, sizeof(b)));
    ASSERT_TRUE(param("q=abcd", "q", b, sizeof(b)) == NULL);
    ASSERT_TRUE(param("q=abc", "q", b, 0) == NULL);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(finds_each_parameter),
                                     T(first_occurrence_wins),
                                     T(empty_and_valueless),
                                     T(percent_and_plus_decoded),
                                     T(bad_escapes_are_absent),
                                     T(too_long_for_the_buffer_is_absent),
                                     {0}});
}
