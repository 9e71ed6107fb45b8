/* replay.c - `tincan replay`: replays the events at the positions a query
 * wrote to a file into a subscription.
 *
 * Loads the positions (positions.c: Parquet or CSV, sorted, deduplicated),
 * then sends them to the server as EV.REPLAY name POSITIONS p1 p2 ... in
 * batches of --batch positions, in ascending order, so that the replays,
 * which the server serves oldest first, deliver the events in position order.
 * With --dry-run it prints the positions instead and connects to nothing.
 *
 * Not a consumer: it queues the replays and exits; the subscription's readers
 * (EV.READ) get the events. It never retries a batch: a failed batch stops
 * the run, and the batches before it stay queued (the message says how far it
 * got). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "positions.h"

#define REPLAY_DEFAULT_BATCH 100000
#define REPLAY_MAX_BATCH                                                       \
    1000000 /* the server takes 1048576 arguments a request */

static const char usage_text[] =
    "usage: tincan replay --sub NAME --positions FILE [options]\n"
    "\n"
    "Replays the stored events at the positions listed in FILE into the\n"
    "subscription NAME (EV.REPLAY NAME POSITIONS ...), in position order.\n"
    "FILE is Parquet (any engine: DuckDB, Spark, Athena) or CSV (maybe "
    "gzip'ed)\n"
    "with a header naming the column, or a headerless single column of "
    "numbers;\n"
    "the type is told by the content. A directory: every file under it (names\n"
    "starting with '_' or '.' skipped). Positions are sorted and deduplicated\n"
    "first. Nulls and values that are not positive integers are errors.\n"
    "FILE - reads the standard input (CSV or Parquet).\n"
    "\n"
    "options:\n"
    "  --sub NAME          subscription to replay into (required)\n"
    "  --positions FILE    Parquet or CSV file (or directory) of positions\n"
    "                      (required)\n"
    "  --column NAME       column holding the positions (default: position)\n"
    "  --host HOST         server address (default: 127.0.0.1)\n"
    "  --port PORT         server port (default: 6380)\n"
    "  --password PW       AUTH password (default: $TINCAN_PASSWORD, if set)\n"
    "  --batch N           positions per EV.REPLAY command, 1..1000000\n"
    "                      (default: 100000)\n"
    "  --dry-run           print the sorted positions, one a line, and exit;\n"
    "                      connects to nothing\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 done, 1 failed (unreadable file, bad value, server "
    "error),\n"
    "2 bad usage\n";

struct replay_opts {
    const char *sub;
    const char *file;
    const char *column;
    const char *host;
    int port;
    const char *password;
    size_t batch;
    int dry_run;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tincan replay: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(tincan replay --help for usage)\n");
    va_end(ap);
    return 2;
}

static int parse_uint(const char *s, unsigned long long lo,
                      unsigned long long hi, unsigned long long *v)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* 0 ok, 1 --help printed, 2 usage error printed. */
static int parse_args(int argc, char **argv, struct replay_opts *o)
{
    static const struct option longopts[] = {
        {"sub", required_argument, NULL, 's'},
        {"positions", required_argument, NULL, 'f'},
        {"column", required_argument, NULL, 'c'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"password", required_argument, NULL, 'a'},
        {"batch", required_argument, NULL, 'b'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct replay_opts){.column = "position",
                              .host = "127.0.0.1",
                              .port = 6380,
                              .batch = REPLAY_DEFAULT_BATCH,
                              .password = getenv("TINCAN_PASSWORD")};
    if (o->password && !*o->password)
        o->password = NULL;
    opterr = 0;
    optind = 1;
    int ch;
    unsigned long long v;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->sub = optarg;
            break;
        case 'f':
            o->file = optarg;
            break;
        case 'c':
            o->column = optarg;
            break;
        case 'H':
            o->host = optarg;
            break;
        case 'a':
            o->password = optarg;
            break;
        case 'n':
            o->dry_run = 1;
            break;
        case 'p':
            if (parse_uint(optarg, 1, 65535, &v))
                return usage_error("--port must be 1..65535 (got '%s')",
                                   optarg);
            o->port = (int)v;
            break;
        case 'b':
            if (parse_uint(optarg, 1, REPLAY_MAX_BATCH, &v))
                return usage_error("--batch must be 1..1000000 (got '%s')",
                                   optarg);
            o->batch = (size_t)v;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->sub || !*o->sub)
        return usage_error("%s", "--sub NAME is required");
    if (!o->file || !*o->file)
        return usage_error("%s", "--positions FILE is required");
    if (!*o->column)
        return usage_error("%s", "--column must not be empty");
    return 0;
}

/* The integer field name of a record reply (RESP2: a flat array of field,
 * value; this hiredis speaks only RESP2); -1 when absent. */
static long long record_int(const redisReply *r, const char *name)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *val = r->element[i + 1];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
            strcmp(k->str, name) == 0 && val->type == REDIS_REPLY_INTEGER)
            return val->integer;
    }
    return -1;
}

static redisContext *connect_server(const struct replay_opts *o)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(o->host, o->port, tv);
    if (!c || c->err) {
        fprintf(stderr, "tincan replay: cannot connect to %s:%d: %s\n", o->host,
                o->port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    struct timeval rw = {300, 0}; /* a batch waits for its fsync, not longer */
    redisSetTimeout(c, rw);
    if (o->password) {
        redisReply *r = redisCommand(c, "AUTH %s", o->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "tincan replay: AUTH failed: %s\n",
                    r ? r->str : c->errstr);
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}

/* Sends every batch; prints the summary. Returns the exit status. */
static int send_batches(const struct replay_opts *o, const struct positions *ps)
{
    redisContext *c = connect_server(o);
    if (!c)
        return 1;
    size_t cap = 3 + (o->batch < ps->n ? o->batch : ps->n);
    const char **argv = xcalloc(cap, sizeof(*argv));
    size_t *lens = xcalloc(cap, sizeof(*lens));
    char *nums = xmalloc((cap - 3) * 21);
    size_t nbatches = (ps->n + o->batch - 1) / o->batch, done = 0, replays = 0;
    long long events = 0, first_id = -1, last_id = -1;
    int status = 0, counted = 1;
    for (size_t b = 0; b < nbatches; b++) {
        size_t from = b * o->batch,
               k = ps->n - from < o->batch ? ps->n - from : o->batch;
        argv[0] = "EV.REPLAY";
        argv[1] = o->sub;
        argv[2] = "POSITIONS";
        lens[0] = 9;
        lens[1] = strlen(o->sub);
        lens[2] = 9;
        for (size_t i = 0; i < k; i++) {
            char *s = nums + i * 21;
            int w = snprintf(s, 21, "%" PRIu64, ps->v[from + i]);
            argv[3 + i] = s;
            lens[3 + i] = (size_t)w;
        }
        redisReply *r = redisCommandArgv(c, (int)(3 + k), argv, lens);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr,
                    "tincan replay: EV.REPLAY failed for batch %zu of %zu (%zu "
                    "position%s from %" PRIu64 "): %s\n",
                    b + 1, nbatches, k, k == 1 ? "" : "s", ps->v[from],
                    r ? r->str : c->errstr);
            if (done)
                fprintf(
                    stderr,
                    "tincan replay: the %zu batch%s before it (%zu position%s, "
                    "up to %" PRIu64 ") stay%s queued in '%s'\n",
                    b, b == 1 ? "" : "es", done, done == 1 ? "" : "s",
                    ps->v[done - 1], b == 1 ? "s" : "", o->sub);
            if (!r)
                fprintf(stderr,
                        "tincan replay: the connection failed during the "
                        "batch: it may or may not be queued (EV.SUBS shows "
                        "the subscription's replays)\n");
            freeReplyObject(r);
            status = 1;
            break;
        }
        long long id = record_int(r, "replay_id"), cnt = record_int(r, "count");
        if (first_id < 0)
            first_id = id;
        last_id = id;
        if (cnt >= 0)
            events += cnt;
        else
            counted = 0;
        freeReplyObject(r);
        done += k;
        replays++;
    }
    if (status == 0) {
        printf("tincan replay: %zu positions (%zu rows in %s, %zu duplicates) "
               "into '%s': %zu replay%s",
               ps->n, ps->rows, ps->format, ps->rows - ps->n, o->sub, replays,
               replays == 1 ? "" : "s");
        if (first_id >= 0 && first_id == last_id)
            printf(" (id %lld)", first_id);
        else if (first_id >= 0)
            printf(" (ids %lld..%lld)", first_id, last_id);
        if (counted)
            printf(", %lld events queued", events);
        printf("\n");
    }
    free(nums);
    free(lens);
    free(argv);
    redisFree(c);
    return status;
}

int cli_replay(int argc, char **argv)
{
    struct replay_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    struct positions ps;
    char err[1024] = "";
    if (positions_load(o.file, o.column, &ps, err, sizeof(err)) != 0) {
        fprintf(stderr, "tincan replay: %s\n", err);
        return 1;
    }
    int status = 0;
    if (o.dry_run) {
        for (size_t i = 0; i < ps.n; i++)
            printf("%" PRIu64 "\n", ps.v[i]);
        fprintf(stderr,
                "tincan replay: %zu positions (%zu rows in %s%s%s, %zu "
                "duplicates); "
                "dry run, nothing sent\n",
                ps.n, ps.rows, ps.format, ps.detail[0] ? ": " : "", ps.detail,
                ps.rows - ps.n);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "tincan replay: writing the positions failed\n");
            status = 1;
        }
    } else if (ps.n == 0) {
        printf("tincan replay: %s holds no positions: nothing replayed into "
               "'%s'\n",
               o.file, o.sub);
    } else {
        status = send_batches(&o, &ps);
    }
    positions_free(&ps);
    return status;
}
