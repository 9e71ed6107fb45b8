/* cmd_keyspace.c - the generic key commands: DEL, UNLINK, EXISTS, TYPE, KEYS,
 * SCAN, DBSIZE, FLUSHDB, FLUSHALL, and FUNCTION FLUSH/LIST (tincan has no
 * functions). They answer from the classes registered with keyspace.h; with
 * none registered every database is empty. Thin: parse, ask keyspace, reply. */
#include "keyspace.h"

#include "client.h"
#include "command.h"
#include "common.h"
#include "glob.h"
#include "module.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_COUNT_DEFAULT 10

/* DEL key [key ...] and UNLINK key [key ...] */
static void cmd_del(struct client *c, int argc, struct arg *argv)
{
    int64_t n = 0;
    for (int i = 1; i < argc; i++)
        n += keyspace_del(c, c->db, argv[i].ptr, argv[i].len);
    reply_int(c, n);
}

/* EXISTS key [key ...]: a key named twice counts twice */
static void cmd_exists(struct client *c, int argc, struct arg *argv)
{
    int64_t n = 0;
    for (int i = 1; i < argc; i++)
        n += keyspace_lookup(c->db, argv[i].ptr, argv[i].len) != NULL;
    reply_int(c, n);
}

/* TYPE key */
static void cmd_type(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    const struct keyspace_class *k =
        keyspace_lookup(c->db, argv[1].ptr, argv[1].len);
    reply_simple(c, k ? k->type_name : "none");
}

static int is_match_all(const struct arg *pat)
{
    return pat->len == 1 && pat->ptr[0] == '*';
}

struct keys_ctx {
    struct client *c;
    const struct arg *pat; /* NULL: every key */
    size_t n;
};

static void keys_one(void *ctx, const struct keyspace_class *k,
                     const char *key, size_t n)
{
    (void)k;
    struct keys_ctx *kc = ctx;
    if (kc->pat && !glob_match(kc->pat->ptr, kc->pat->len, key, n, 0))
        return;
    reply_bulk(kc->c, key, n);
    kc->n++;
}

/* KEYS pattern */
static void cmd_keys(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    struct keys_ctx kc = {c, is_match_all(&argv[1]) ? NULL : &argv[1], 0};
    size_t h = reply_array_begin(c);
    keyspace_foreach(c->db, keys_one, &kc);
    reply_array_end(c, h, kc.n);
}

/* Redis's parseScanCursorOrReply: strtoul, so "-1" or "+1" pass, and an
 * empty cursor is 0; a leading space, trailing junk or overflow do not. */
static int parse_cursor(const struct arg *a, uint64_t *out)
{
    if (a->len && isspace((unsigned char)a->ptr[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(a->ptr, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

struct scan_ctx {
    const struct arg *pat;  /* NULL: no MATCH */
    const struct arg *type; /* NULL: no TYPE */
    struct arg *keys;       /* copies, n of cap */
    size_t n, cap;
};

static void scan_one(void *ctx, const struct keyspace_class *k,
                     const char *key, size_t n)
{
    struct scan_ctx *s = ctx;
    if (s->type && !arg_is(s->type, k->type_name))
        return;
    if (s->pat && !glob_match(s->pat->ptr, s->pat->len, key, n, 0))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->keys = xrealloc(s->keys, s->cap * sizeof(*s->keys));
    }
    s->keys[s->n++] = (struct arg){xmemdup(key, n), n};
}

/* SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] */
static void cmd_scan(struct client *c, int argc, struct arg *argv)
{
    uint64_t cursor;
    if (parse_cursor(&argv[1], &cursor) < 0) {
        reply_error(c, "ERR invalid cursor");
        return;
    }
    int64_t count = SCAN_COUNT_DEFAULT;
    struct scan_ctx s = {0};
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) {
            reply_error(c, "ERR syntax error");
            return;
        }
        if (arg_is(&argv[i], "count")) {
            if (arg_i64(c, &argv[i + 1], NULL, INT64_MIN, INT64_MAX, &count) < 0)
                return;
            if (count < 1) {
                reply_error(c, "ERR syntax error");
                return;
            }
        } else if (arg_is(&argv[i], "match")) {
            s.pat = is_match_all(&argv[i + 1]) ? NULL : &argv[i + 1];
        } else if (arg_is(&argv[i], "type")) {
            s.type = &argv[i + 1];
        } else {
            reply_error(c, "ERR syntax error");
            return;
        }
    }
    uint64_t next = keyspace_scan(c->db, cursor, (uint64_t)count, scan_one, &s);
    reply_array(c, 2);
    reply_bulkf(c, "%" PRIu64, next);
    reply_array(c, s.n);
    for (size_t i = 0; i < s.n; i++) {
        reply_bulk(c, s.keys[i].ptr, s.keys[i].len);
        free((char *)s.keys[i].ptr);
    }
    free(s.keys);
}

/* DBSIZE */
static void cmd_dbsize(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    reply_uint(c, keyspace_count(c->db));
}

/* [ASYNC|SYNC]: both mean "done when the reply comes" here (the classes
 * hold the reply until the flush is durable). */
static int flush_mode_ok(struct client *c, int argc, struct arg *argv)
{
    if (argc > 2 ||
        (argc == 2 && !arg_is(&argv[1], "async") && !arg_is(&argv[1], "sync"))) {
        reply_error(c, "ERR syntax error");
        return 0;
    }
    return 1;
}

/* FLUSHDB [ASYNC|SYNC] */
static void cmd_flushdb(struct client *c, int argc, struct arg *argv)
{
    if (!flush_mode_ok(c, argc, argv))
        return;
    keyspace_flush(c, c->db);
    reply_ok(c);
}

/* FLUSHALL [ASYNC|SYNC] */
static void cmd_flushall(struct client *c, int argc, struct arg *argv)
{
    if (!flush_mode_ok(c, argc, argv))
        return;
    keyspace_flush(c, -1);
    reply_ok(c);
}

/* FUNCTION FLUSH|LIST|HELP: there are no functions to flush or list */
static void cmd_function(struct client *c, int argc, struct arg *argv)
{
    struct arg *sub = &argv[1];
    if (arg_is(sub, "flush")) {
        if (argc > 3) {
            reply_error(c, "ERR wrong number of arguments for 'function|flush' "
                           "command");
        } else if (argc == 3 && !arg_is(&argv[2], "async") &&
                   !arg_is(&argv[2], "sync")) {
            reply_error(c, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        } else {
            reply_ok(c);
        }
    } else if (arg_is(sub, "list")) {
        int withcode = 0, libname = 0;
        for (int i = 2; i < argc; i++) {
            if (!withcode && arg_is(&argv[i], "withcode")) {
                withcode = 1;
            } else if (!libname && arg_is(&argv[i], "libraryname")) {
                if (i >= argc - 1) {
                    reply_error(c, "ERR library name argument was not given");
                    return;
                }
                libname = 1;
                i++;
            } else {
                reply_errorf(c, "ERR Unknown argument %s", argv[i].ptr);
                return;
            }
        }
        reply_array(c, 0);
    } else if (arg_is(sub, "help") && argc == 2) {
        static const char *const lines[] = {
            "FUNCTION <subcommand> [<arg> ...]. Subcommands are:",
            "FLUSH [ASYNC|SYNC]", "    Does nothing: tincan has no functions.",
            "LIST [WITHCODE] [LIBRARYNAME <pattern>]",
            "    Replies an empty array: tincan has no functions.",
        };
        reply_array(c, ARRAY_LEN(lines));
        for (size_t i = 0; i < ARRAY_LEN(lines); i++)
            reply_simple(c, lines[i]);
    } else if (arg_is(sub, "load") || arg_is(sub, "delete") ||
               arg_is(sub, "dump") || arg_is(sub, "restore") ||
               arg_is(sub, "stats") || arg_is(sub, "kill")) {
        reply_errorf(c, "ERR FUNCTION %s is not supported: tincan has no "
                        "functions", sub->ptr);
    } else {
        reply_errorf(c, "ERR unknown subcommand '%.128s'. Try FUNCTION HELP.",
                     sub->ptr);
    }
}

static const struct command_spec keyspace_commands[] = {
    {"del", -2, CMD_WRITE, cmd_del, "keyspace", "key [key ...]",
     "Deletes keys; replies how many existed", 1, -1, 1},
    {"unlink", -2, CMD_WRITE | CMD_FAST, cmd_del, "keyspace", "key [key ...]",
     "Deletes keys, as DEL", 1, -1, 1},
    {"exists", -2, CMD_READONLY | CMD_FAST, cmd_exists, "keyspace",
     "key [key ...]", "How many of the keys exist (repeats count)", 1, -1, 1},
    {"type", 2, CMD_READONLY | CMD_FAST, cmd_type, "keyspace", "key",
     "The key's type, or none", 1, 1, 1},
    {"keys", 2, CMD_READONLY, cmd_keys, "keyspace", "pattern",
     "Every key matching a glob pattern", 0, 0, 0},
    {"scan", -2, CMD_READONLY, cmd_scan, "keyspace",
     "cursor [MATCH pattern] [COUNT count] [TYPE type]",
     "Iterates the keys a few at a time", 0, 0, 0},
    {"dbsize", 1, CMD_READONLY | CMD_FAST, cmd_dbsize, "keyspace", "",
     "Keys in the selected database", 0, 0, 0},
    {"flushdb", -1, CMD_WRITE, cmd_flushdb, "keyspace", "[ASYNC|SYNC]",
     "Deletes every key of the selected database", 0, 0, 0},
    {"flushall", -1, CMD_WRITE, cmd_flushall, "keyspace", "[ASYNC|SYNC]",
     "Deletes every key of every database", 0, 0, 0},
    {"function", -2, 0, cmd_function, "scripting",
     "FLUSH [ASYNC|SYNC]|LIST [WITHCODE] [LIBRARYNAME pattern]|HELP",
     "Redis functions: tincan has none (FLUSH is OK, LIST empty)", 0, 0, 0},
};

const struct module keyspace_module = {
    .name = "keyspace",
    .commands = keyspace_commands,
    .ncommands = ARRAY_LEN(keyspace_commands),
};
