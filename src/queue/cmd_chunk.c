/* cmd_chunk.c - CHUNK.BUCKET and CHUNK.PLAN: the bucket maths of chunk.c over
 * the protocol. CHUNK.ENQUEUE lives in cmd_queue.c, beside the queue state it
 * writes. No state, no I/O of its own. */
#include "chunk.h"

#include <inttypes.h>
#include <stdio.h>

#include "command.h"
#include "common.h"
#include "errors.h"
#include "module.h"

/* Parses [BUCKETS n] [TARGET rows] (TARGET only if target is not NULL) from
 * argv[from..argc); replies and returns -1 on a bad option. */
static int parse_opts(struct client *c, int argc, struct arg *argv, int from,
                      uint32_t *buckets, uint64_t *target)
{
    *buckets = CHUNK_BUCKETS_DEFAULT;
    if (target)
        *target = CHUNK_TARGET_DEFAULT;
    for (int i = from; i < argc; i += 2) {
        char err[128];
        int rc = i + 1 < argc
                     ? chunk_parse_option(argv[i].ptr, argv[i].len,
                                          argv[i + 1].ptr, argv[i + 1].len,
                                          buckets, target, err, sizeof(err))
                     : 0;
        if (rc < 0) {
            reply_error(c, err);
            return -1;
        }
        if (rc == 0) {
            reply_syntax_error(c, &argv[i]);
            return -1;
        }
    }
    return 0;
}

/* CHUNK.BUCKET id [BUCKETS n] */
static void cmd_chunk_bucket(struct client *c, int argc, struct arg *argv)
{
    uint32_t buckets, b;
    if (parse_opts(c, argc, argv, 2, &buckets, NULL) < 0)
        return;
    int rc = chunk_bucket(argv[1].ptr, argv[1].len, buckets, &b);
    if (rc == ERR_LIMIT) {
        /* abs(INT64_MIN): PostgreSQL fails the same expression */
        reply_error(c, "ERR bigint out of range: the id's hash is "
                       "-9223372036854775808, where PostgreSQL's abs() "
                       "fails too");
        return;
    }
    reply_int(c, b);
}

/* CHUNK.PLAN total [BUCKETS n] [TARGET rows] */
static void cmd_chunk_plan(struct client *c, int argc, struct arg *argv)
{
    uint64_t total, target;
    uint32_t buckets;
    if (arg_u64(c, &argv[1], "total", &total) < 0 ||
        parse_opts(c, argc, argv, 2, &buckets, &target) < 0)
        return;
    uint32_t n = chunk_plan_count(total, buckets, target);
    reply_array(c, n);
    for (uint32_t i = 0; i < n; i++) {
        struct chunk_range r = chunk_plan_item(i, n, buckets);
        reply_bulkf(c, "%" PRIu32 "-%" PRIu32, r.lo, r.hi);
    }
}

static const struct command_spec chunk_commands[] = {
    {"chunk.bucket", -2, CMD_READONLY | CMD_FAST, cmd_chunk_bucket, "chunk",
     "id [BUCKETS n]",
     "The bucket of id: mod(abs(('x'||substr(md5(id),1,16))::bit(64)::bigint), "
     "n), as PostgreSQL computes it",
     0, 0, 0},
    {"chunk.plan", -2, CMD_READONLY, cmd_chunk_plan, "chunk",
     "total [BUCKETS n] [TARGET rows]",
     "Splits the buckets into ranges 'lo-hi' of about TARGET rows each, "
     "covering every bucket once",
     0, 0, 0},
};

const struct module chunk_module = {
    .name = "chunk",
    .commands = chunk_commands,
    .ncommands = ARRAY_LEN(chunk_commands),
};
