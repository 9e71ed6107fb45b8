/* command.h - the command table, argument helpers and the reply API.
 *
 * Every command is a row of a module's table (struct command_spec). A handler
 * gets the arguments already split (argv[0] is the command name) with arity and
 * authentication already checked, and writes exactly one reply through the
 * reply_* functions below, which encode RESP2 or RESP3 as the client chose.
 * Handlers stay thin: parse, call the subsystem with plain C values, reply.
 *
 * This module does not own sockets (net does) or any subsystem state. */
#ifndef TINCAN_COMMAND_H
#define TINCAN_COMMAND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct client;
struct sbuf;

/* One argument: len bytes at ptr, followed by a NUL that is not counted. */
struct arg {
    const char *ptr;
    size_t len;
};

enum command_flag {
    CMD_WRITE = 1u << 0,    /* changes durable state */
    CMD_READONLY = 1u << 1, /* only reads */
    CMD_NOAUTH = 1u << 2,   /* allowed before AUTH (AUTH, HELLO, QUIT) */
    CMD_BLOCKING = 1u << 3, /* may block the client (BLOCK/WAIT options) */
    CMD_ADMIN = 1u << 4,    /* server administration */
    CMD_FAST = 1u << 5,     /* O(1) or O(log n) */
    CMD_LOADING = 1u << 6,  /* allowed while loading */
    CMD_STALE = 1u << 7,
    CMD_TX = 1u << 8,       /* runs at once inside MULTI, never queued (MULTI,
                               EXEC, DISCARD, WATCH, QUIT, RESET) */
};

typedef void command_fn(struct client *c, int argc, struct arg *argv);

struct command_spec {
    const char *name;    /* lower case, e.g. "ev.pub" */
    int arity;           /* >0 exactly, <0 at least -arity; counts the name */
    unsigned flags;      /* CMD_* */
    command_fn *handler;
    const char *group;   /* "connection", "server", "bus", "store", "queue", ... */
    const char *args;    /* syntax after the name, e.g. "type payload [ID id]" */
    const char *summary; /* one line, for COMMAND DOCS and HELP */
    int first_key, last_key, key_step; /* key positions for COMMAND INFO; 0s */
};

/* Looks a command up by name, case-insensitively; NULL if unknown. */
const struct command_spec *command_lookup(const char *name, size_t len);
/* Calls fn for every command of every module, in table order. */
void command_foreach(void (*fn)(const struct command_spec *, void *), void *ctx);
size_t command_count(void);
/* Builds the lookup table from every module's commands; call once at start. */
void command_table_init(void);
void command_table_free(void);
/* Runs one parsed command for c: lookup, arity, AUTH, stats, handler. Inside
 * MULTI (multi.h) a command without CMD_TX is queued instead, and a refusal
 * (unknown, arity, AUTH) dooms the transaction. */
void command_execute(struct client *c, int argc, struct arg *argv);
/* Runs one queued command inside EXEC: AUTH again (a queued AUTH may have
 * failed), stats, handler. Leaves c->cmd_start alone, so that a reply the
 * handler holds (client_hold) holds EXEC's whole reply. */
void command_call(struct client *c, const struct command_spec *spec, int argc,
                  struct arg *argv);

/* Per-command counters for INFO commandstats. */
struct command_stats {
    uint64_t calls;          /* handler invocations */
    uint64_t usec;           /* us spent in the handler */
    uint64_t rejected_calls; /* refused before the handler (arity, auth) */
    uint64_t failed_calls;   /* handler replied with an error */
};
/* Calls fn for every command that has been called or rejected. */
void command_foreach_stats(void (*fn)(const struct command_spec *,
                                      const struct command_stats *, void *),
                           void *ctx);
void command_stats_reset(void);
/* Calls fn for every error code replied since the last reset (INFO
 * errorstats: "ERR", "NOGROUP", ...). */
void command_foreach_errorstat(void (*fn)(const char *code, uint64_t count, void *),
                               void *ctx);
/* Counts a failure of command `name` whose error reply came after it
 * returned (a blocked command unblocked with an error). */
void command_note_failed(const char *name);
extern uint64_t command_errors_total; /* error replies sent (INFO stats) */

/* ---- replies: each handler writes exactly one top-level reply ---- */
void reply_ok(struct client *c);
void reply_simple(struct client *c, const char *text);   /* +text */
/* -msg: msg starts with its upper-case code, e.g. "ERR no such key". */
void reply_error(struct client *c, const char *msg);
void reply_errorf(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* -PREFIX detail: prefix from errors.h for code, detail or the default text. */
void reply_error_code(struct client *c, int code, const char *detail);
void reply_int(struct client *c, int64_t v);
void reply_uint(struct client *c, uint64_t v); /* as integer; bulk if > INT64_MAX */
void reply_bulk(struct client *c, const void *p, size_t n);
void reply_cstr(struct client *c, const char *s); /* bulk string */
void reply_bulkf(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void reply_null(struct client *c);      /* RESP3 _ ; RESP2 $-1 */
void reply_null_array(struct client *c); /* RESP3 _ ; RESP2 *-1 */
void reply_bool(struct client *c, int v); /* RESP3 #t/#f ; RESP2 :1/:0 */
void reply_double(struct client *c, double v); /* RESP3 , ; RESP2 bulk */
/* Verbatim text (INFO, CLIENT LIST): RESP3 =len txt:... ; RESP2 bulk. */
void reply_verbatim(struct client *c, const char *p, size_t n);
void reply_array(struct client *c, size_t n);  /* then n replies */
void reply_set(struct client *c, size_t n);    /* RESP3 ~ ; RESP2 array */
/* A record: RESP3 map of n pairs; RESP2 flat array of 2n. Then n key/value
 * reply pairs (keys as reply_cstr, lower_snake_case). */
void reply_map(struct client *c, size_t n);
/* A reply whose element count is known only at the end: reply_array_begin()
 * returns a handle, reply_array_end() patches the count in. */
size_t reply_array_begin(struct client *c);
void reply_array_end(struct client *c, size_t handle, size_t n);

/* ---- argument helpers: each replies with an error and returns -1 on failure ---- */
int arg_is(const struct arg *a, const char *word); /* case-insensitive equality */
/* Parses a decimal integer in [min, max]; on failure replies
 * "-ERR <what> must be an integer between <min> and <max>" (or "-ERR value is
 * not an integer or out of range" when what is NULL) and returns -1. */
int arg_i64(struct client *c, const struct arg *a, const char *what, int64_t min,
            int64_t max, int64_t *out);
int arg_u64(struct client *c, const struct arg *a, const char *what,
            uint64_t *out);
/* An option value in [min, max] (COUNT, BLOCK, TIMEOUT, ...): 0 and *out,
 * or replies "-ERR <name> must be <min>..<max>[ <unit>] (got 'x')" and
 * returns -1 (*out unchanged). unit is "" or e.g. "ms". */
/* How many arguments from argv[1] on are names before the options: the
 * first word of opts (a NULL-ended list, matched case-insensitively) that
 * has a value after it starts them. At least 1 (argc >= 2). For commands
 * like Q.POP queue [queue ...] [COUNT n] [BLOCK ms]. */
int arg_leading_names(int argc, const struct arg *argv,
                      const char *const *opts);
int arg_range(struct client *c, const struct arg *a, const char *name,
              int64_t min, int64_t max, const char *unit, int64_t *out);
/* 0 if a is 1 to max bytes long; else replies "-ERR <what> must be 1 to
 * <max> bytes (got <len>)" and returns -1. */
int arg_len(struct client *c, const struct arg *a, const char *what, size_t max);
/* Pure parser: 0 and *out on success, -1 if not a whole decimal int64. */
int arg_parse_i64(const char *p, size_t n, int64_t *out);

/* A printable, bounded copy of n bytes at p for an error message: bytes
 * outside printable ASCII (and ' and \) as \xHH, "..." when cut. Returns dst. */
const char *arg_printable(char *dst, size_t cap, const char *p, size_t n);

/* A subcommand of a container command (CLIENT, XGROUP, ...). */
struct subcommand {
    const char *name; /* lower case */
    int arity;        /* as command_spec.arity, counting the parent */
};
/* Finds argv[1] in subs and checks its arity, replying Redis 7's errors:
 * "unknown subcommand 'X'. Try CLIENT HELP." or "wrong number of arguments
 * for 'client|setname' command". parent is the lower-case command name.
 * Returns 0 when the handler may go on, -1 after an error reply. */
int command_check_subcommand(struct client *c, int argc, const struct arg *argv,
                             const char *parent, const struct subcommand *subs,
                             size_t n);

/* Replies "-ERR syntax error" style for an unexpected option word. */
void reply_syntax_error(struct client *c, const struct arg *a);

#endif
