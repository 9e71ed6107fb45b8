/* hiredis_client.c - tincan through hiredis, the C client most tools embed.
 *
 *   cc -std=c17 -o hiredis_client tests/clients/hiredis_client.c -lhiredis
 *   ./hiredis_client HOST PORT
 *
 * Connects with the Debian libhiredis (RESP2), then checks: PING, ECHO of
 * binary data (NUL, CR, LF, 0xff) and of 1 MiB, integer and array replies,
 * CLIENT SETNAME/GETNAME, 1000 pipelined commands answered in order, error
 * replies (unknown command, wrong arity) that leave the connection usable.
 * Prints one line per check and "N passed, N failed"; exits 1 on failure.
 *
 * It is a client test only: it does not start the server (scripts/check.sh
 * does). */
#include <hiredis/hiredis.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
static redisContext *ctx;

static void result(const char *name, int ok, const char *detail)
{
    if (ok) {
        passed++;
        printf("ok %s\n", name);
    } else {
        failed++;
        printf("not ok %s: %s\n", name, detail);
    }
}

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (!r) {
        printf("connection error: %s\n", ctx->errstr);
        printf("%d passed, %d failed\n", passed, failed + 1);
        exit(1);
    }
    return r;
}

static void check_reply(const char *name, redisReply *r, int type,
                        const char *want, size_t wlen)
{
    char detail[256];
    int ok = r->type == type &&
             (!want || (r->len == wlen && memcmp(r->str, want, wlen) == 0));
    snprintf(detail, sizeof(detail), "want type %d \"%.*s\", got type %d \"%.*s\"",
             type, want ? (int)(wlen > 80 ? 80 : wlen) : 0, want ? want : "",
             r->type, r->str ? (int)(r->len > 80 ? 80 : r->len) : 0,
             r->str ? r->str : "");
    result(name, ok, detail);
}

static void test_ping(void)
{
    redisReply *r = cmd("PING");
    check_reply("ping", r, REDIS_REPLY_STATUS, "PONG", 4);
    freeReplyObject(r);
}

static void test_echo_binary(void)
{
    const char bin[] = "a\0b\r\nc\xff\xfe\r\n\0";
    size_t n = sizeof(bin) - 1;
    redisReply *r = cmd("ECHO %b", bin, n);
    check_reply("echo-binary", r, REDIS_REPLY_STRING, bin, n);
    freeReplyObject(r);

    size_t big = 1024 * 1024;
    char *p = malloc(big);
    for (size_t i = 0; i < big; i++)
        p[i] = (char)(i * 7 + (i >> 10));
    r = cmd("ECHO %b", p, big);
    check_reply("echo-1mib", r, REDIS_REPLY_STRING, p, big);
    freeReplyObject(r);
    free(p);
}

static void test_types(void)
{
    redisReply *r = cmd("CLIENT ID");
    result("client-id-integer", r->type == REDIS_REPLY_INTEGER && r->integer > 0,
           "want a positive integer");
    freeReplyObject(r);

    r = cmd("TIME");
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_STRING &&
             atoll(r->element[0]->str) > 1600000000LL;
    result("time-array", ok, "want [seconds, microseconds]");
    freeReplyObject(r);

    r = cmd("INFO server");
    ok = r->type == REDIS_REPLY_STRING && strstr(r->str, "redis_version:") &&
         strstr(r->str, "tincan_version:");
    result("info-server", ok, "want redis_version and tincan_version lines");
    freeReplyObject(r);

    r = cmd("CLIENT SETNAME %s", "hiredis-test");
    check_reply("client-setname", r, REDIS_REPLY_STATUS, "OK", 2);
    freeReplyObject(r);
    r = cmd("CLIENT GETNAME");
    check_reply("client-getname", r, REDIS_REPLY_STRING, "hiredis-test", 12);
    freeReplyObject(r);
}

static void test_pipeline(void)
{
    enum { N = 1000 };
    for (int i = 0; i < N; i++)
        redisAppendCommand(ctx, "ECHO %d", i);
    int in_order = 1;
    char detail[256] = "";
    for (int i = 0; i < N; i++) {
        void *v = NULL;
        if (redisGetReply(ctx, &v) != REDIS_OK || !v) {
            snprintf(detail, sizeof(detail), "reply %d missing: %s", i, ctx->errstr);
            in_order = 0;
            break;
        }
        redisReply *r = v;
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        if (in_order && (r->type != REDIS_REPLY_STRING || strcmp(r->str, want))) {
            snprintf(detail, sizeof(detail), "reply %d is \"%s\"", i,
                     r->str ? r->str : "(not a string)");
            in_order = 0;
        }
        freeReplyObject(r);
    }
    result("pipeline-1000-in-order", in_order, detail);
}

static void test_errors(void)
{
    redisReply *r = cmd("FOO bar");
    int ok = r->type == REDIS_REPLY_ERROR &&
             strncmp(r->str, "ERR unknown command 'FOO'", 25) == 0;
    result("unknown-command-error", ok, r->str ? r->str : "(no text)");
    freeReplyObject(r);

    r = cmd("PING a b c");
    ok = r->type == REDIS_REPLY_ERROR &&
         strcmp(r->str, "ERR wrong number of arguments for 'ping' command") == 0;
    result("wrong-arity-error", ok, r->str ? r->str : "(no text)");
    freeReplyObject(r);

    r = cmd("PING");
    check_reply("usable-after-errors", r, REDIS_REPLY_STATUS, "PONG", 4);
    freeReplyObject(r);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    struct timeval tv = {10, 0};
    ctx = redisConnectWithTimeout(argv[1], atoi(argv[2]), tv);
    if (!ctx || ctx->err) {
        printf("not ok connect: %s\n", ctx ? ctx->errstr : "out of memory");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    redisSetTimeout(ctx, tv);
    result("connect", 1, "");
    test_ping();
    test_echo_binary();
    test_types();
    test_pipeline();
    test_errors();
    redisFree(ctx);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
