/* cmd_rpc.c - RPC.* commands: request/reply between services through the
 * server, and RPC.CAST onto a service's private queue.
 *
 * The state of calls and servers is rpc.c (pure). This file parses
 * arguments, calls it, replies, and owns what is around it:
 *   - RPC.CALL parks the caller (client_block) with its deadline as the
 *     block's timeout: the timeout answers -TIMEOUT and ends the call, a
 *     disconnect ends it, an answer unblocks it;
 *   - RPC.SERVE ... BLOCK parks the server; rpc.c hands it a call through
 *     the handoff hook, which writes the one-call reply and unblocks it;
 *   - a close hook tells rpc.c that a server connection went away, and a
 *     zero-delay timer then offers the calls it held to the other servers
 *     (close hooks only note: net.h).
 * Nothing here is written to disk: calls are private and die with the
 * server. RPC.CAST is Q.PUSH onto "rpc:<service>" (durable, like any job). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cmd_timer.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "metrics.h"
#include "module.h"
#include "net.h"
#include "rpc.h"
#include "sbuf.h"

#define RPC_TIMEOUT_MAX      86400000 /* ms, one day */
#define RPC_BLOCK_MAX        86400000 /* ms */
#define RPC_COUNT_MAX        1000     /* calls of one RPC.SERVE */
#define RPC_FIELD_MAX        256      /* bytes of a header field */
#define RPC_CODE_MAX         64       /* bytes of an RPC.FAIL code */
#define RPC_MESSAGE_MAX      1024     /* bytes of an RPC.FAIL message */
#define RPC_CAST_PREFIX      "rpc:"   /* RPC.CAST's queue is rpc:<service> */
#define RPC_CAST_SERVICE_MAX 252      /* so that the queue name fits 256 */
#define RPC_CAST_ARGS        16       /* Q.PUSH words RPC.CAST may pass */

static struct rpc *reg;
static uv_timer_t *dispatch_timer; /* offers requeued calls, soon */
static int64_t cfg_timeout;        /* ms (rpc-timeout) */
static int64_t cfg_max_payload;    /* bytes (rpc-max-payload) */

static struct {
    uint64_t serves;         /* RPC.SERVE commands */
    uint64_t serve_blocks;   /* of them, parked */
    uint64_t serve_timeouts; /* parked ones that got nothing */
    uint64_t late_answers;   /* answers to calls that were gone */
    uint64_t casts;          /* RPC.CAST commands */
} stats;

/* ---- replies ---- */

static void reply_call(struct client *c, const struct rpc_call *call,
                       uint64_t now)
{
    char id[RPC_ID_MAX];
    size_t idlen = rpc_call_id(call, id), svclen;
    const char *svc = rpc_call_service(call, &svclen);
    reply_map(c, 6);
    reply_cstr(c, "id");
    reply_bulk(c, id, idlen);
    reply_cstr(c, "service");
    reply_bulk(c, svc, svclen);
    reply_cstr(c, "payload");
    reply_bulk(c, call->payload, call->payload_len);
    reply_cstr(c, "headers");
    reply_map(c, call->nhdr);
    for (size_t k = 0; k < 2 * call->nhdr; k++)
        reply_bulk(c, call->hdrs[k].p, call->hdrs[k].n);
    reply_cstr(c, "deadline_ms");
    reply_int(c, call->deadline > now ? (int64_t)(call->deadline - now) : 1);
    reply_cstr(c, "delivery");
    reply_int(c, call->delivery);
}

static void on_handoff(void *ctx, void *server_ctx, struct rpc_call *call,
                       uint64_t now)
{
    (void)ctx;
    struct client *c = server_ctx;
    reply_array(c, 1);
    reply_call(c, call, now);
    client_unblock(c);
}

static const struct rpc_hooks hooks = {NULL, on_handoff};

static int payload_fits(struct client *c, size_t len)
{
    if ((int64_t)len <= cfg_max_payload)
        return 0;
    reply_errorf(c,
                 "ERR payload is %zu bytes, over the limit of %" PRId64
                 " (rpc-max-payload)",
                 len, cfg_max_payload);
    return -1;
}

static int not_running(struct client *c)
{
    if (reg)
        return 0;
    reply_error(c, "ERR rpc module is not running");
    return -1;
}

/* ---- RPC.CALL ---- */

static void on_call_timeout(struct client *c, void *ctx)
{
    struct rpc_call *call = ctx;
    size_t len;
    const char *svc = rpc_call_service(call, &len);
    char q[RPC_SERVICE_MAX * 4 + 8];
    reply_errorf(c, "TIMEOUT no reply from '%s' within %" PRIu64 " ms",
                 arg_printable(q, sizeof(q), svc, len), call->timeout);
    command_note_failed("rpc.call");
    rpc_call_end(reg, call, RPC_END_TIMEOUT, 0, clock_mono_ms(),
                 clock_mono_us());
}

static void on_call_gone(struct client *c, void *ctx)
{
    (void)c;
    rpc_call_end(reg, ctx, RPC_END_CALLER_LEFT, 0, clock_mono_ms(),
                 clock_mono_us());
}

/* RPC.CALL service payload [TIMEOUT ms] [HDR field value ...] */
static void cmd_rpc_call(struct client *c, int argc, struct arg *argv)
{
    int64_t timeout = cfg_timeout;
    struct rpc_bytes hdrs[2 * RPC_HEADERS_MAX];
    size_t nhdr = 0;
    if (not_running(c) < 0 ||
        arg_len(c, &argv[1], "service name", RPC_SERVICE_MAX) < 0 ||
        payload_fits(c, argv[2].len) < 0)
        return;
    for (int i = 3; i < argc; i++) {
        if (arg_is(&argv[i], "hdr")) {
            int left = argc - i - 1;
            if (left == 0 || left % 2) {
                reply_error(c, "ERR syntax error: HDR takes field value "
                               "pairs up to the end of the command");
                return;
            }
            if (left / 2 > RPC_HEADERS_MAX) {
                reply_errorf(c, "ERR at most %d HDR pairs (got %d)",
                             RPC_HEADERS_MAX, left / 2);
                return;
            }
            for (int k = i + 1; k < argc; k += 2) {
                if (arg_len(c, &argv[k], "header field", RPC_FIELD_MAX) < 0 ||
                    payload_fits(c, argv[k + 1].len) < 0)
                    return;
                hdrs[2 * nhdr] = (struct rpc_bytes){argv[k].ptr, argv[k].len};
                hdrs[2 * nhdr + 1] =
                    (struct rpc_bytes){argv[k + 1].ptr, argv[k + 1].len};
                nhdr++;
            }
            break;
        }
        if (arg_is(&argv[i], "timeout") && i + 1 < argc) {
            if (arg_range(c, &argv[i + 1], "TIMEOUT", 1, RPC_TIMEOUT_MAX,
                            "ms", &timeout) < 0)
                return;
            i++;
            continue;
        }
        reply_syntax_error(c, &argv[i]);
        return;
    }
    if (client_in_exec(c)) {
        reply_error(c, "ERR RPC.CALL cannot run inside MULTI");
        return;
    }
    struct rpc_service *svc = rpc_service_find(reg, argv[1].ptr, argv[1].len);
    if (!svc || rpc_service_servers(svc) == 0) {
        char q[RPC_SERVICE_MAX * 4 + 8];
        rpc_note_noserver(reg, argv[1].ptr, argv[1].len);
        reply_errorf(c, "NOSERVER no server serves '%s'",
                     arg_printable(q, sizeof(q), argv[1].ptr, argv[1].len));
        return;
    }
    uint64_t now = clock_mono_ms();
    struct rpc_call *call =
        rpc_call_new(reg, svc, c, argv[2].ptr, argv[2].len, hdrs, nhdr,
                     now + (uint64_t)timeout, now, clock_mono_us());
    client_block(c, (uint64_t)timeout, on_call_timeout, on_call_gone, call);
}

/* ---- RPC.REPLY / RPC.FAIL ---- */

/* The live call named by id, or NULL after an error reply saying why not. */
static struct rpc_call *find_call(struct client *c, const struct arg *id)
{
    enum rpc_end why;
    struct rpc_call *call = rpc_call_find(reg, id->ptr, id->len, &why);
    if (call)
        return call;
    char q[96];
    arg_printable(q, sizeof(q), id->ptr, id->len);
    stats.late_answers++;
    switch (why) {
    case RPC_END_TIMEOUT:
        reply_errorf(c, "TIMEOUT call '%s' passed its deadline before this "
                        "answer", q);
        break;
    case RPC_END_ANSWERED:
        reply_errorf(c, "NOCALL call '%s' was already answered", q);
        break;
    case RPC_END_CALLER_LEFT:
        reply_errorf(c, "NOCALL the caller of '%s' left", q);
        break;
    case RPC_END_STOPPED:
    case RPC_END_NONE:
        reply_errorf(c, "NOCALL no call '%s'", q);
        break;
    }
    return NULL;
}

/* RPC.REPLY id payload */
static void cmd_rpc_reply(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (not_running(c) < 0)
        return;
    struct rpc_call *call = find_call(c, &argv[1]);
    if (!call || payload_fits(c, argv[2].len) < 0)
        return;
    struct client *caller = call->caller;
    reply_bulk(caller, argv[2].ptr, argv[2].len);
    client_unblock(caller);
    rpc_call_end(reg, call, RPC_END_ANSWERED, 0, clock_mono_ms(),
                 clock_mono_us());
    reply_ok(c);
}

static int code_ok(const struct arg *a)
{
    if (a->len < 1 || a->len > RPC_CODE_MAX || a->ptr[0] < 'A' ||
        a->ptr[0] > 'Z')
        return 0;
    for (size_t i = 0; i < a->len; i++) {
        char ch = a->ptr[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return 0;
    }
    return 1;
}

/* RPC.FAIL id code message */
static void cmd_rpc_fail(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (not_running(c) < 0)
        return;
    const struct arg *code = &argv[2], *msg = &argv[3];
    if (!code_ok(code)) {
        char q[96];
        reply_errorf(c,
                     "ERR code must be 1 to %d of A-Z, 0-9 and _, starting "
                     "with a letter (got '%s')",
                     RPC_CODE_MAX,
                     arg_printable(q, sizeof(q), code->ptr, code->len));
        return;
    }
    if (msg->len > RPC_MESSAGE_MAX) {
        reply_errorf(c, "ERR message must be at most %d bytes (got %zu)",
                     RPC_MESSAGE_MAX, msg->len);
        return;
    }
    if (memchr(msg->ptr, '\r', msg->len) || memchr(msg->ptr, '\n', msg->len)) {
        reply_error(c, "ERR message must not contain CR or LF");
        return;
    }
    struct rpc_call *call = find_call(c, &argv[1]);
    if (!call)
        return;
    struct client *caller = call->caller;
    reply_errorf(caller, "%.*s %.*s", (int)code->len, code->ptr, (int)msg->len,
                 msg->ptr);
    command_note_failed("rpc.call");
    client_unblock(caller);
    rpc_call_end(reg, call, RPC_END_ANSWERED, 1, clock_mono_ms(),
                 clock_mono_us());
    reply_ok(c);
}

/* ---- RPC.SERVE ---- */

static void on_serve_timeout(struct client *c, void *ctx)
{
    stats.serve_timeouts++;
    rpc_unpark(reg, ctx);
    reply_array(c, 0);
}

static void on_serve_gone(struct client *c, void *ctx)
{
    (void)c;
    rpc_unpark(reg, ctx); /* the close hook forgets the server */
}

/* RPC.SERVE service [service ...] [COUNT n] [BLOCK ms] */
static void cmd_rpc_serve(struct client *c, int argc, struct arg *argv)
{
    int64_t count = 1, block = -1;
    static const char *const opts[] = {"count", "block", NULL};
    int nnames = arg_leading_names(argc, argv, opts);
    if (not_running(c) < 0)
        return;
    for (int i = 1; i <= nnames; i++)
        if (arg_len(c, &argv[i], "service name", RPC_SERVICE_MAX) < 0)
            return;
    for (int i = 1 + nnames; i < argc; i += 2) {
        const struct arg *o = &argv[i],
                         *val = i + 1 < argc ? &argv[i + 1] : NULL;
        if (!val) {
            reply_syntax_error(c, o);
            return;
        }
        if (arg_is(o, "count")) {
            if (arg_range(c, val, "COUNT", 1, RPC_COUNT_MAX, "", &count) < 0)
                return;
        } else if (arg_is(o, "block")) {
            if (arg_range(c, val, "BLOCK", 0, RPC_BLOCK_MAX, "ms", &block) <
                0)
                return;
        } else {
            reply_syntax_error(c, o);
            return;
        }
    }
    if (client_in_exec(c))
        block = -1; /* nothing blocks inside EXEC */
    const char **names = xmalloc((size_t)nnames * sizeof(*names));
    size_t *lens = xmalloc((size_t)nnames * sizeof(*lens));
    for (int i = 0; i < nnames; i++) {
        names[i] = argv[1 + i].ptr;
        lens[i] = argv[1 + i].len;
    }
    uint64_t now = clock_mono_ms();
    struct rpc_server *srv = rpc_server_get(reg, client_id(c), c, names, lens,
                                            (size_t)nnames, now);
    if (!srv) {
        reply_errorf(c, "ERR too many RPC services (at most %d)",
                     RPC_SERVICES_MAX);
        goto out;
    }
    stats.serves++;
    struct rpc_call **calls = xmalloc((size_t)count * sizeof(*calls));
    size_t n = rpc_serve(reg, srv, names, lens, (size_t)nnames, (size_t)count,
                         now, calls);
    if (n || block < 0) {
        reply_array(c, n);
        for (size_t i = 0; i < n; i++)
            reply_call(c, calls[i], now);
    } else {
        stats.serve_blocks++;
        rpc_park(reg, srv, names, lens, (size_t)nnames);
        client_block(c, (uint64_t)block, on_serve_timeout, on_serve_gone, srv);
    }
    free(calls);
out:
    free(lens);
    free(names);
}

static void on_dispatch(uv_timer_t *t)
{
    (void)t;
    if (reg)
        rpc_dispatch(reg, clock_mono_ms());
}

static void on_client_closed(void *ctx, uint64_t id)
{
    (void)ctx;
    if (reg && rpc_server_gone(reg, id) && dispatch_timer)
        uv_timer_start(dispatch_timer, on_dispatch, 0, 0);
}

/* ---- RPC.CAST ---- */

/* RPC.CAST service payload [PRIORITY p] [DELAY ms] [MAXATTEMPTS n] [ID id] */
static void cmd_rpc_cast(struct client *c, int argc, struct arg *argv)
{
    if (arg_len(c, &argv[1], "service name", RPC_CAST_SERVICE_MAX) < 0)
        return;
    if (argc > RPC_CAST_ARGS) {
        reply_syntax_error(c, &argv[RPC_CAST_ARGS]);
        return;
    }
    const struct command_spec *push = command_lookup("q.push", 6);
    if (!push) {
        reply_error(c, "ERR the queue module is not linked in");
        return;
    }
    char queue[sizeof(RPC_CAST_PREFIX) + RPC_CAST_SERVICE_MAX];
    size_t plen = strlen(RPC_CAST_PREFIX);
    memcpy(queue, RPC_CAST_PREFIX, plen);
    memcpy(queue + plen, argv[1].ptr, argv[1].len);
    queue[plen + argv[1].len] = 0;
    struct arg args[RPC_CAST_ARGS];
    memcpy(args, argv, (size_t)argc * sizeof(*args));
    args[0] = (struct arg){"q.push", 6};
    args[1] = (struct arg){queue, plen + argv[1].len};
    stats.casts++;
    push->handler(c, argc, args);
}

/* ---- RPC.INFO ---- */

static void reply_server(void *ctx, const struct rpc_server_info *s)
{
    struct client *c = ctx;
    const struct client *sc = s->ctx;
    const char *name = client_name(sc);
    reply_map(c, 5);
    reply_cstr(c, "client_id");
    reply_uint(c, s->id);
    reply_cstr(c, "name");
    if (name)
        reply_cstr(c, name);
    else
        reply_null(c);
    reply_cstr(c, "addr");
    reply_cstr(c, client_addr(sc));
    reply_cstr(c, "in_flight");
    reply_uint(c, s->in_flight);
    reply_cstr(c, "served");
    reply_uint(c, s->served);
}

static void reply_service(struct client *c, struct rpc_service *svc,
                          uint64_t now)
{
    struct rpc_service_info i;
    rpc_service_info(reg, svc, now, &i);
    reply_map(c, 15);
    reply_cstr(c, "service");
    reply_bulk(c, i.name, i.name_len);
    reply_cstr(c, "servers");
    reply_uint(c, i.servers);
    reply_cstr(c, "waiting_servers");
    reply_uint(c, i.waiting_servers);
    reply_cstr(c, "waiting_calls");
    reply_uint(c, i.waiting_calls);
    reply_cstr(c, "in_flight");
    reply_uint(c, i.in_flight);
    const struct {
        const char *k;
        uint64_t v;
    } counters[] = {
        {"calls", i.calls},
        {"replies", i.replies},
        {"failures", i.failures},
        {"timeouts", i.timeouts},
        {"callers_left", i.callers_left},
        {"redeliveries", i.redeliveries},
        {"noserver", i.noserver},
        {"latency_p50_us", i.p50_us},
        {"latency_p99_us", i.p99_us},
    };
    for (size_t k = 0; k < ARRAY_LEN(counters); k++) {
        reply_cstr(c, counters[k].k);
        reply_uint(c, counters[k].v);
    }
    reply_cstr(c, "server_list");
    reply_array(c, i.servers);
    rpc_service_servers_foreach(svc, reply_server, c);
}

/* RPC.INFO [service] */
static void cmd_rpc_info(struct client *c, int argc, struct arg *argv)
{
    if (argc > 2) {
        reply_error(c, "ERR wrong number of arguments for 'rpc.info' command");
        return;
    }
    if (not_running(c) < 0)
        return;
    uint64_t now = clock_mono_ms();
    if (argc == 2) {
        struct rpc_service *svc =
            rpc_service_find(reg, argv[1].ptr, argv[1].len);
        if (!svc) {
            char q[RPC_SERVICE_MAX * 4 + 8];
            reply_errorf(c, "ERR no such service '%s'",
                         arg_printable(q, sizeof(q), argv[1].ptr, argv[1].len));
            return;
        }
        reply_service(c, svc, now);
        return;
    }
    struct rpc_service **v;
    size_t n = rpc_services(reg, now, 1, &v);
    reply_array(c, n);
    for (size_t k = 0; k < n; k++)
        reply_service(c, v[k], now);
    free(v);
}

static const struct command_spec rpc_commands[] = {
    {"rpc.call", -3, CMD_BLOCKING, cmd_rpc_call, "rpc",
     "service payload [TIMEOUT ms] [HDR field value ...]",
     "Calls a server of the service and waits for its answer until the "
     "deadline",
     0, 0, 0},
    {"rpc.serve", -2, CMD_BLOCKING | CMD_FAST, cmd_rpc_serve, "rpc",
     "service [service ...] [COUNT n] [BLOCK ms]",
     "Takes up to COUNT waiting calls of the services, oldest first; serves "
     "them until disconnect",
     0, 0, 0},
    {"rpc.reply", 3, CMD_FAST, cmd_rpc_reply, "rpc", "id payload",
     "Answers a call: its caller's RPC.CALL returns the payload", 0, 0, 0},
    {"rpc.fail", 4, CMD_FAST, cmd_rpc_fail, "rpc", "id code message",
     "Fails a call: its caller's RPC.CALL replies -<code> <message>", 0, 0, 0},
    {"rpc.cast", -3, CMD_WRITE | CMD_FAST, cmd_rpc_cast, "rpc",
     "service payload [PRIORITY p] [DELAY ms] [MAXATTEMPTS n] [ID id]",
     "Q.PUSH onto the service's private queue rpc:<service>; replies the job "
     "id",
     0, 0, 0},
    {"rpc.info", -1, CMD_READONLY, cmd_rpc_info, "rpc", "[service]",
     "Servers, waiting calls, counters and latency of one or every service",
     0, 0, 0},
};

/* ---- config ---- */

static const struct config_spec rpc_config[] = {
    {"rpc-timeout", CONFIG_INT, &cfg_timeout, "5000", 1, RPC_TIMEOUT_MAX, NULL,
     CONFIG_MUTABLE, 0, NULL, "ms an RPC.CALL waits without a TIMEOUT"},
    {"rpc-max-payload", CONFIG_BYTES, &cfg_max_payload, "1mb", 1, 512ll << 20,
     NULL, CONFIG_MUTABLE, 0, NULL,
     "largest RPC call or reply payload (and header value) in bytes"},
};

/* ---- module ---- */

static int rpc_start(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    memset(&stats, 0, sizeof(stats));
    reg = rpc_new(&hooks, clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^
                              clock_mono_us());
    dispatch_timer = cmd_timer_new();
    net_on_close(on_client_closed, NULL);
    return 0;
}

static void end_call(void *ctx, struct rpc_call *call)
{
    (void)ctx;
    struct client *caller = call->caller;
    reply_error(caller, "ERR rpc module stopping; retry");
    client_unblock(caller);
}

static void rpc_stop(void)
{
    net_on_close_remove(on_client_closed, NULL);
    /* blocked callers were ended by their disconnect (or net_abort_blocked);
     * any call left still has a parked caller */
    rpc_end_all(reg, end_call, NULL, clock_mono_ms());
    cmd_timer_free(&dispatch_timer);
    rpc_free(reg);
    reg = NULL;
}

static void rpc_info_section(struct sbuf *out, const char *section)
{
    if (strcmp(section, "rpc") != 0 || !reg)
        return;
    struct rpc_totals t;
    rpc_totals(reg, &t);
    sbuf_addf(out,
              "rpc_services:%zu\r\nrpc_servers:%zu\r\nrpc_waiting_calls:%zu"
              "\r\nrpc_in_flight:%zu\r\nrpc_calls:%" PRIu64
              "\r\nrpc_replies:%" PRIu64 "\r\nrpc_failures:%" PRIu64
              "\r\nrpc_timeouts:%" PRIu64 "\r\nrpc_callers_left:%" PRIu64
              "\r\nrpc_redeliveries:%" PRIu64 "\r\nrpc_noserver:%" PRIu64
              "\r\nrpc_late_answers:%" PRIu64 "\r\nrpc_serves:%" PRIu64
              "\r\nrpc_serve_blocks:%" PRIu64
              "\r\nrpc_serve_timeouts:%" PRIu64 "\r\nrpc_casts:%" PRIu64
              "\r\n",
              t.services, t.servers, t.waiting_calls, t.in_flight, t.calls,
              t.replies, t.failures, t.timeouts, t.callers_left,
              t.redeliveries, t.noserver, stats.late_answers, stats.serves,
              stats.serve_blocks, stats.serve_timeouts, stats.casts);
}

static void rpc_metrics(struct metrics *m)
{
    if (!reg)
        return;
    uint64_t now = clock_mono_ms();
    struct rpc_service **v;
    size_t n = rpc_services(reg, now, 0, &v);
    if (n == 0) { /* no family without samples (a histogram needs one) */
        free(v);
        return;
    }
    struct metrics_family *calls = metrics_family(
        m, "tincan_rpc_calls_total", METRICS_COUNTER,
        "RPC.CALLs accepted by a service (since its entry was made).");
    struct metrics_family *replies =
        metrics_family(m, "tincan_rpc_replies_total", METRICS_COUNTER,
                       "Calls answered with RPC.REPLY.");
    struct metrics_family *failures =
        metrics_family(m, "tincan_rpc_failures_total", METRICS_COUNTER,
                       "Calls answered with RPC.FAIL.");
    struct metrics_family *timeouts =
        metrics_family(m, "tincan_rpc_timeouts_total", METRICS_COUNTER,
                       "Calls whose deadline passed unanswered.");
    struct metrics_family *servers = metrics_family(
        m, "tincan_rpc_servers", METRICS_GAUGE,
        "Connected servers (clients that called RPC.SERVE for it).");
    struct metrics_family *waiting =
        metrics_family(m, "tincan_rpc_waiting_calls", METRICS_GAUGE,
                       "Calls queued, not handed to a server yet.");
    struct metrics_family *in_flight =
        metrics_family(m, "tincan_rpc_in_flight_calls", METRICS_GAUGE,
                       "Calls held by a server, not answered yet.");
    struct metrics_family *dur = metrics_family(
        m, "tincan_rpc_call_duration_seconds", METRICS_HISTOGRAM,
        "Time from RPC.CALL to its answer, of answered calls.");
    double bounds[RPC_HIST_BOUNDS];
    for (int k = 0; k < RPC_HIST_BOUNDS; k++)
        bounds[k] = (double)rpc_hist_bounds_us[k] / 1e6;
    for (size_t k = 0; k < n; k++) {
        struct rpc_service_info i;
        rpc_service_info(reg, v[k], now, &i);
        struct metrics_label l = {"service", i.name, i.name_len};
        struct metrics_labelset ls;
        metrics_labelset(&ls, &l, 1);
        metrics_sample_set(calls, &ls, (double)i.calls);
        metrics_sample_set(replies, &ls, (double)i.replies);
        metrics_sample_set(failures, &ls, (double)i.failures);
        metrics_sample_set(timeouts, &ls, (double)i.timeouts);
        metrics_sample_set(servers, &ls, (double)i.servers);
        metrics_sample_set(waiting, &ls, (double)i.waiting_calls);
        metrics_sample_set(in_flight, &ls, (double)i.in_flight);
        metrics_histogram(dur, &l, 1, bounds, i.hist, RPC_HIST_BOUNDS,
                          (double)i.hist_sum_us / 1e6);
    }
    free(v);
}

const struct module rpc_module = {
    .name = "rpc",
    .commands = rpc_commands,
    .ncommands = ARRAY_LEN(rpc_commands),
    .config = rpc_config,
    .nconfig = ARRAY_LEN(rpc_config),
    .start = rpc_start,
    .stop = rpc_stop,
    .info = rpc_info_section,
    .metrics = rpc_metrics,
};
