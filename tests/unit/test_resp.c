/* Unit tests of the RESP parser and encoder (src/core/resp.c). */
#include "resp.h"

#include "test.h"

#define MAXB (512ll * 1024 * 1024)

/* Parses every command in input fed in chunks of `chunk` bytes (0 = whole),
 * the way net.c does: the unconsumed bytes plus the new ones each time.
 * Writes "arg|arg;" per command into out. Returns the parser's last result
 * (bytes used, 0 need-more, -1 error); err gets the error text. */
static long feed(const char *input, size_t n, size_t chunk, struct sbuf *out,
                 char *err)
{
    struct resp_parser p;
    resp_parser_init(&p, MAXB, 1024 * 1024);
    struct sbuf q;
    sbuf_init(&q);
    size_t fed = 0;
    long rc = 0;
    err[0] = '\0';
    while (fed < n) {
        size_t k = chunk ? chunk : n;
        if (k > n - fed)
            k = n - fed;
        sbuf_add(&q, input + fed, k);
        fed += k;
        while (q.len > 0) {
            rc = resp_parse(&p, q.data, q.len);
            if (rc <= 0)
                break;
            for (int i = 0; i < p.argc; i++) {
                sbuf_add(out, p.argv[i].ptr, p.argv[i].len);
                /* every argument is NUL-terminated in place */
                if (p.argv[i].ptr[p.argv[i].len] != '\0')
                    sbuf_adds(out, "<no NUL>");
                sbuf_addc(out, i + 1 < p.argc ? '|' : ';');
            }
            sbuf_consume(&q, (size_t)rc);
        }
        if (rc < 0) {
            snprintf(err, 200, "%s", p.err);
            break;
        }
    }
    sbuf_deinit(&q);
    resp_parser_deinit(&p);
    return rc;
}

static void expect_commands(const char *input, const char *want)
{
    size_t n = strlen(input);
    size_t chunks[] = {0, 1, 2, 3, 7, 13};
    for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
        struct sbuf out;
        sbuf_init(&out);
        char err[200];
        long rc = feed(input, n, chunks[i], &out, err);
        ASSERT_EQ_STR("", err);
        ASSERT_TRUE(rc >= 0);
        ASSERT_EQ_STR(want, out.data);
        sbuf_deinit(&out);
    }
}

static void expect_error(const char *input, const char *want_err)
{
    size_t chunks[] = {0, 1, 5};
    for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
        struct sbuf out;
        sbuf_init(&out);
        char err[200];
        long rc = feed(input, strlen(input), chunks[i], &out, err);
        ASSERT_EQ_INT(-1, rc);
        ASSERT_EQ_STR(want_err, err);
        sbuf_deinit(&out);
    }
}

TEST(parses_multibulk_whole_and_in_pieces)
{
    expect_commands("*1\r\n$4\r\nPING\r\n", "PING;");
    expect_commands("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", "SET|k|;");
    expect_commands("*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", "ECHO|a\r\nb;");
    /* pipelined */
    expect_commands("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n",
                    "PING;ECHO|hi;");
}

TEST(skips_empty_commands)
{
    expect_commands("*0\r\n*1\r\n$4\r\nPING\r\n", "PING;");
    expect_commands("*-1\r\n*1\r\n$4\r\nPING\r\n", "PING;");
    expect_commands("\r\n\r\nPING\r\n", "PING;");
}

TEST(parses_inline_commands)
{
    expect_commands("PING\r\n", "PING;");
    expect_commands("PING\n", "PING;");
    expect_commands("ECHO   hello  \r\n", "ECHO|hello;");
    expect_commands("ECHO \"a b\\n\\x41\"\r\n", "ECHO|a b\nA;");
    expect_commands("ECHO 'it\\'s'\r\n", "ECHO|it's;");
    expect_commands("ECHO \"\"\r\n", "ECHO|;");
}

TEST(random_chunks_give_the_same_commands)
{
    struct sbuf in, want;
    sbuf_init(&in);
    sbuf_init(&want);
    srand(42);
    for (int i = 0; i < 200; i++) {
        int argc = 1 + rand() % 4;
        sbuf_addf(&in, "*%d\r\n", argc);
        for (int a = 0; a < argc; a++) {
            int len = rand() % 40;
            char arg[64];
            for (int k = 0; k < len; k++)
                arg[k] = (char)('a' + rand() % 26);
            arg[len] = '\0';
            sbuf_addf(&in, "$%d\r\n%s\r\n", len, arg);
            sbuf_adds(&want, arg);
            sbuf_addc(&want, a + 1 < argc ? '|' : ';');
        }
    }
    for (int trial = 0; trial < 50; trial++) {
        struct sbuf out;
        sbuf_init(&out);
        char err[200];
        long rc = feed(in.data, in.len, 1 + (size_t)(rand() % 97), &out, err);
        ASSERT_TRUE(rc >= 0);
        ASSERT_EQ_STR(want.data, out.data);
        sbuf_deinit(&out);
    }
    sbuf_deinit(&in);
    sbuf_deinit(&want);
}

TEST(reports_need_more_for_incomplete_input)
{
    const char *full = "*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n";
    for (size_t n = 1; n < strlen(full); n++) {
        struct resp_parser p;
        resp_parser_init(&p, MAXB, 1024);
        char buf[64];
        memcpy(buf, full, n);
        ASSERT_EQ_INT(RESP_NEED_MORE, resp_parse(&p, buf, n));
        resp_parser_deinit(&p);
    }
}

TEST(rejects_every_malformed_class)
{
    expect_error("*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'");
    expect_error("*1\r\n\x01", "Protocol error: expected '$', got '\\x01'");
    expect_error("*abc\r\n", "Protocol error: invalid multibulk length");
    expect_error("*1x\r\n", "Protocol error: invalid multibulk length");
    expect_error("*2000000\r\n", "Protocol error: invalid multibulk length");
    expect_error("*9999999999999999999\r\n",
                 "Protocol error: invalid multibulk length");
    expect_error("*1\r\n$-1\r\n", "Protocol error: invalid bulk length");
    expect_error("*1\r\n$abc\r\n", "Protocol error: invalid bulk length");
    expect_error("*1\r\n$9999999999999999999\r\n",
                 "Protocol error: invalid bulk length");
    expect_error("*1\r\n$600000000\r\n", "Protocol error: invalid bulk length");
    expect_error("*1\r\n$3\r\nabcXY", "Protocol error: bulk string not "
                                      "terminated by '\\r\\n'");
    expect_error("*1\r\n$3\r\nabc\rX",
                 "Protocol error: bulk string not terminated by '\\r\\n'");
    expect_error("*1\rX", "Protocol error: expected '\\r\\n' after multibulk "
                          "length");
    expect_error("ECHO \"abc\r\n", "Protocol error: unbalanced quotes in "
                                   "request");
    expect_error("ECHO \"a\"b\r\n", "Protocol error: unbalanced quotes in "
                                    "request");
    /* nesting: an array inside a command is not a bulk */
    expect_error("*1\r\n*1\r\n$4\r\nPING\r\n",
                 "Protocol error: expected '$', got '*'");
}

TEST(rejects_huge_inline_and_headers_without_crlf)
{
    size_t n = RESP_MAX_INLINE + 10;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    expect_error(big, "Protocol error: too big inline request");
    big[0] = '*';
    expect_error(big, "Protocol error: too big mbulk count string");
    memcpy(big, "*1\r\n$", 5);
    expect_error(big, "Protocol error: invalid bulk length");
    free(big);
}

TEST(enforces_the_configured_limits)
{
    struct resp_parser p;
    resp_parser_init(&p, 10, 3);
    char a[] = "*1\r\n$11\r\nhello world\r\n";
    ASSERT_EQ_INT(-1, resp_parse(&p, a, strlen(a)));
    ASSERT_EQ_STR("Protocol error: invalid bulk length", p.err);
    resp_parser_deinit(&p);
    resp_parser_init(&p, 10, 3);
    char b[] = "*4\r\n";
    ASSERT_EQ_INT(-1, resp_parse(&p, b, strlen(b)));
    ASSERT_EQ_STR("Protocol error: invalid multibulk length", p.err);
    resp_parser_deinit(&p);
    resp_parser_init(&p, 10, 3);
    char c[] = "a b c d\r\n";
    ASSERT_EQ_INT(-1, resp_parse(&p, c, strlen(c)));
    resp_parser_deinit(&p);
}

TEST(wants_the_rest_of_a_big_bulk)
{
    struct resp_parser p;
    resp_parser_init(&p, MAXB, 1024);
    char a[] = "*1\r\n$100000\r\nabc";
    ASSERT_EQ_INT(RESP_NEED_MORE, resp_parse(&p, a, strlen(a)));
    ASSERT_EQ_U64(strlen("*1\r\n$100000\r\n") + 100000 + 2,
                  resp_parser_want(&p));
    resp_parser_deinit(&p);
}

#define ENC(expr, want)                                                        \
    do {                                                                       \
        struct sbuf b_;                                                        \
        sbuf_init(&b_);                                                        \
        expr;                                                                  \
        ASSERT_EQ_MEM(want, sizeof(want) - 1, b_.data, b_.len);                \
        sbuf_deinit(&b_);                                                      \
    } while (0)

TEST(encodes_resp2_and_resp3)
{
    ENC(resp_add_simple(&b_, "OK"), "+OK\r\n");
    ENC(resp_add_error(&b_, "ERR bad\r\nthing"), "-ERR bad  thing\r\n");
    ENC(resp_add_int(&b_, -42), ":-42\r\n");
    ENC(resp_add_int(&b_, 0), ":0\r\n");
    ENC(resp_add_int(&b_, INT64_MIN), ":-9223372036854775808\r\n");
    ENC(resp_add_int(&b_, INT64_MAX), ":9223372036854775807\r\n");
    ENC(resp_add_bulk(&b_, "a\0b", 3), "$3\r\na\0b\r\n");
    ENC(resp_add_bulk(&b_, "", 0), "$0\r\n\r\n");
    ENC(resp_add_null(&b_, 2), "$-1\r\n");
    ENC(resp_add_null(&b_, 3), "_\r\n");
    ENC(resp_add_null_array(&b_, 2), "*-1\r\n");
    ENC(resp_add_bool(&b_, 2, 1), ":1\r\n");
    ENC(resp_add_bool(&b_, 3, 0), "#f\r\n");
    ENC(resp_add_double(&b_, 3, 1.5), ",1.5\r\n");
    ENC(resp_add_double(&b_, 2, 1.5), "$3\r\n1.5\r\n");
    ENC(resp_add_double(&b_, 3, 1.0 / 0.0), ",inf\r\n");
    ENC(resp_add_verbatim(&b_, 3, "hi", 2), "=6\r\ntxt:hi\r\n");
    ENC(resp_add_verbatim(&b_, 2, "hi", 2), "$2\r\nhi\r\n");
    ENC(resp_add_map(&b_, 3, 2), "%2\r\n");
    ENC(resp_add_map(&b_, 2, 2), "*4\r\n");
    ENC(resp_add_set(&b_, 3, 1), "~1\r\n");
    ENC(resp_add_set(&b_, 2, 1), "*1\r\n");
    ENC(resp_add_push(&b_, 3, 2), ">2\r\n");
    ENC(resp_add_array(&b_, 0), "*0\r\n");
}

TEST(patches_a_deferred_array_count)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_adds(&b, "+x\r\n");
    size_t at = resp_add_array_placeholder(&b);
    resp_add_int(&b, 1);
    resp_add_int(&b, 2);
    resp_patch_array(&b, at, 2);
    ASSERT_EQ_STR("+x\r\n*2\r\n:1\r\n:2\r\n", b.data);
    sbuf_deinit(&b);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(parses_multibulk_whole_and_in_pieces),
                                     T(skips_empty_commands),
                                     T(parses_inline_commands),
                                     T(random_chunks_give_the_same_commands),
                                     T(reports_need_more_for_incomplete_input),
                                     T(rejects_every_malformed_class),
                                     T(rejects_huge_inline_and_headers_without_crlf),
                                     T(enforces_the_configured_limits),
                                     T(wants_the_rest_of_a_big_bulk),
                                     T(encodes_resp2_and_resp3),
                                     T(patches_a_deferred_array_count),
                                     {0, 0}});
}
