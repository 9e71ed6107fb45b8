/* test_s3.c - the parts of the S3 client that need no server: archive URL
 * parsing and the handle's checks of its configuration. Requests are tested
 * against s3rver in tests/integration/test_s3.py. */
#include "errors.h"
#include "s3.h"
#include "test.h"

TEST(url_with_prefix)
{
    char b[64], p[64], err[256];
    ASSERT_EQ_INT(0, s3_url_parse("s3://tincan-archive/events/prod/", b, sizeof(b), p,
                                  sizeof(p), err, sizeof(err)));
    ASSERT_EQ_STR("tincan-archive", b);
    ASSERT_EQ_STR("events/prod", p);
}

TEST(url_without_prefix)
{
    char b[64], p[64], err[256];
    ASSERT_EQ_INT(0, s3_url_parse("s3://bkt", b, sizeof(b), p, sizeof(p), err,
                                  sizeof(err)));
    ASSERT_EQ_STR("bkt", b);
    ASSERT_EQ_STR("", p);
    ASSERT_EQ_INT(0, s3_url_parse("s3://bkt//", b, sizeof(b), p, sizeof(p), err,
                                  sizeof(err)));
    ASSERT_EQ_STR("", p);
}

TEST(bad_urls_are_refused)
{
    char b[8], p[8], err[256];
    const char *bad[] = {"", "http://bkt/x", "s3://", "s3:///x",
                         "s3://a-bucket-name-too-long/x", "s3://b/a-prefix-too-long"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ASSERT_EQ_INT(ERR_INVAL, s3_url_parse(bad[i], b, sizeof(b), p, sizeof(p), err,
                                              sizeof(err)));
        ASSERT_TRUE(strstr(err, "s3://bucket/prefix") != NULL);
    }
    ASSERT_EQ_INT(ERR_INVAL, s3_url_parse(NULL, b, sizeof(b), p, sizeof(p), err,
                                          sizeof(err)));
}

TEST(new_needs_bucket_and_credentials)
{
    char err[256];
    struct s3 *s = (struct s3 *)1;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    struct s3_config cfg = {.endpoint = "http://127.0.0.1:1", .bucket = "b"};
    ASSERT_EQ_INT(ERR_INVAL, s3_new(&s, &cfg, err, sizeof(err)));
    ASSERT_TRUE(s == NULL);
    ASSERT_TRUE(strstr(err, "no credentials") != NULL);

    cfg.access_key = "A";
    cfg.secret_key = "S";
    cfg.bucket = NULL;
    ASSERT_EQ_INT(ERR_INVAL, s3_new(&s, &cfg, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "no bucket") != NULL);

    cfg.bucket = "b";
    cfg.part_bytes = 1 << 20;
    ASSERT_EQ_INT(ERR_INVAL, s3_new(&s, &cfg, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "5 MiB") != NULL);

    setenv("AWS_ACCESS_KEY_ID", "envA", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envS", 1);
    cfg.access_key = cfg.secret_key = NULL;
    cfg.part_bytes = 0;
    ASSERT_EQ_INT(0, s3_new(&s, &cfg, err, sizeof(err)));
    ASSERT_TRUE(s != NULL);
    s3_free(s);
    s3_free(NULL);
}

TEST(bad_keys_are_refused_before_any_request)
{
    char err[256];
    struct s3 *s = NULL;
    struct s3_config cfg = {.endpoint = "http://127.0.0.1:1", .bucket = "b",
                            .access_key = "A", .secret_key = "S"};
    ASSERT_EQ_INT(0, s3_new(&s, &cfg, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, s3_put(s, "", "x", 1, NULL, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "key must be 1 to 1024 bytes") != NULL);
    char longkey[1100];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    uint64_t size;
    ASSERT_EQ_INT(ERR_INVAL, s3_head(s, longkey, &size, NULL, 0, err, sizeof(err)));
    s3_free(s);
}

TEST(unreachable_endpoint_is_retryable)
{
    char err[512];
    struct s3 *s = NULL;
    struct s3_config cfg = {.endpoint = "http://127.0.0.1:1", .bucket = "b",
                            .access_key = "A", .secret_key = "S"};
    ASSERT_EQ_INT(0, s3_new(&s, &cfg, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_IO, s3_check(s, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "s3: check bucket b: ") != NULL);
    s3_free(s);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(url_with_prefix),
                                     T(url_without_prefix),
                                     T(bad_urls_are_refused),
                                     T(new_needs_bucket_and_credentials),
                                     T(bad_keys_are_refused_before_any_request),
                                     T(unreachable_endpoint_is_retryable),
                                     {0}});
}
