/* cmd_server.c - the Redis basics every client expects: PING, ECHO, HELLO,
 * AUTH, SELECT, INFO, CLIENT, COMMAND, CONFIG, TIME, QUIT, RESET, SHUTDOWN,
 * DEBUG. */
#include "client.h"
#include "clock.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "multi.h"
#include "server.h"

#include <ctype.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define REDIS_COMPAT_VERSION "7.2.0"

static const struct subcommand client_subs[] = {
    {"id", 2},       {"getname", 2},  {"setname", 3},  {"setinfo", 4},
    {"list", -2},    {"info", 2},     {"kill", -3},    {"no-evict", 3},
    {"no-touch", 3}, {"help", 2},
};
static const struct subcommand command_subs[] = {
    {"count", 2}, {"info", -2},    {"docs", -2},
    {"list", -2}, {"getkeys", -3}, {"help", 2},
};
static const struct subcommand config_subs[] = {
    {"get", -3},       {"set", -4},  {"resetstat", 2},
    {"rewrite", 2},    {"help", 2},
};

static void cmd_ping(struct client *c, int argc, struct arg *argv)
{
    if (argc > 2)
        reply_error(c, "ERR wrong number of arguments for 'ping' command");
    else if (argc == 2)
        reply_bulk(c, argv[1].ptr, argv[1].len);
    else
        reply_simple(c, "PONG");
}

static void cmd_echo(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    reply_bulk(c, argv[1].ptr, argv[1].len);
}

static int password_ok(const struct arg *user, const struct arg *pass)
{
    if (user && !arg_is(user, "default"))
        return 0;
    size_t n = strlen(config_requirepass);
    /* compare without an early exit so timing says nothing of the prefix */
    unsigned diff = (unsigned)(pass->len != n);
    for (size_t i = 0; i < pass->len; i++)
        diff |= (unsigned)(pass->ptr[i] ^ (i < n ? config_requirepass[i] : 0));
    return diff == 0;
}

static void cmd_auth(struct client *c, int argc, struct arg *argv)
{
    if (argc > 3) {
        reply_error(c, "ERR syntax error");
        return;
    }
    if (!config_requirepass[0]) {
        reply_error(c, "ERR AUTH <password> called without any password "
                       "configured for the default user. Are you sure your "
                       "configuration is correct?");
        return;
    }
    if (!password_ok(argc == 3 ? &argv[1] : NULL, &argv[argc - 1])) {
        c->authenticated = 0;
        reply_error(c, "WRONGPASS invalid username-password pair or user is "
                       "disabled.");
        return;
    }
    c->authenticated = 1;
    reply_ok(c);
}

static int valid_name(const struct arg *a)
{
    for (size_t i = 0; i < a->len; i++)
        if (a->ptr[i] < '!' || a->ptr[i] > '~')
            return 0;
    return 1;
}

static void cmd_hello(struct client *c, int argc, struct arg *argv)
{
    int proto = c->resp;
    int i = 1;
    if (argc >= 2) {
        int64_t v;
        if (arg_parse_i64(argv[1].ptr, argv[1].len, &v) < 0) {
            reply_error(c, "ERR Protocol version is not an integer or out of "
                           "range");
            return;
        }
        if (v != 2 && v != 3) {
            reply_error(c, "NOPROTO unsupported protocol version");
            return;
        }
        proto = (int)v;
        i = 2;
    }
    const struct arg *setname = NULL;
    for (; i < argc; i++) {
        if (arg_is(&argv[i], "AUTH") && i + 2 < argc) {
            if (!config_requirepass[0] ||
                !password_ok(&argv[i + 1], &argv[i + 2])) {
                if (config_requirepass[0])
                    c->authenticated = 0;
                reply_error(c, config_requirepass[0]
                                   ? "WRONGPASS invalid username-password pair "
                                     "or user is disabled."
                                   : "ERR AUTH <password> called without any "
                                     "password configured for the default "
                                     "user. Are you sure your configuration "
                                     "is correct?");
                return;
            }
            c->authenticated = 1;
            i += 2;
        } else if (arg_is(&argv[i], "SETNAME") && i + 1 < argc) {
            setname = &argv[++i];
            if (!valid_name(setname)) {
                reply_error(c, "ERR Client names cannot contain spaces, "
                               "newlines or special characters.");
                return;
            }
        } else {
            reply_errorf(c, "ERR Syntax error in HELLO option '%s'",
                         argv[i].ptr);
            return;
        }
    }
    if (!c->authenticated) {
        reply_error(c, "NOAUTH HELLO must be called with the client already "
                       "authenticated, otherwise the HELLO <proto> AUTH <user> "
                       "<pass> option can be used to authenticate the client "
                       "and select the RESP protocol version at the same time");
        return;
    }
    if (setname) {
        free(c->name);
        c->name = setname->len ? xmemdup(setname->ptr, setname->len) : NULL;
    }
    c->resp = proto;
    reply_map(c, 8);
    reply_cstr(c, "server");
    reply_cstr(c, "tincan");
    reply_cstr(c, "version");
    reply_cstr(c, REDIS_COMPAT_VERSION);
    reply_cstr(c, "tincan_version");
    reply_cstr(c, TINCAN_VERSION);
    reply_cstr(c, "proto");
    reply_int(c, proto);
    reply_cstr(c, "id");
    reply_uint(c, c->id);
    reply_cstr(c, "mode");
    reply_cstr(c, "standalone");
    reply_cstr(c, "role");
    reply_cstr(c, "master");
    reply_cstr(c, "modules");
    reply_array(c, 0);
}

static void cmd_select(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    int64_t db;
    if (arg_parse_i64(argv[1].ptr, argv[1].len, &db) < 0) {
        reply_error(c, "ERR value is not an integer or out of range");
        return;
    }
    if (db < 0 || db > 15) {
        reply_error(c, "ERR DB index is out of range");
        return;
    }
    c->db = (int)db;
    reply_ok(c);
}

static void cmd_quit(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    reply_ok(c);
    client_close_after_reply(c);
}

/* RESET: the connection as new (Redis's clearClientConnectionState) */
static void cmd_reset(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    multi_reset(c);
    c->db = 0;
    c->resp = 2;
    free(c->name);
    c->name = NULL;
    c->authenticated = config_requirepass[0] == '\0';
    reply_simple(c, "RESET");
}

static void cmd_time(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    reply_array(c, 2);
    reply_bulkf(c, "%lld", (long long)ts.tv_sec);
    reply_bulkf(c, "%ld", ts.tv_nsec / 1000);
}

static void cmd_shutdown(struct client *c, int argc, struct arg *argv)
{
    for (int i = 1; i < argc; i++) {
        if (arg_is(&argv[i], "ABORT")) {
            reply_error(c, "ERR No shutdown in progress.");
            return;
        }
        if (!arg_is(&argv[i], "NOSAVE") && !arg_is(&argv[i], "SAVE") &&
            !arg_is(&argv[i], "NOW") && !arg_is(&argv[i], "FORCE")) {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    log_info("SHUTDOWN requested by client %llu (%s)",
             (unsigned long long)c->id, c->addr);
    /* like Redis: no reply on success, the connection just closes */
    client_close(c, "shutdown");
    net_stop();
}

/* ---- INFO ---- */

static void human(char *buf, size_t len, uint64_t bytes)
{
    const char *units = "BKMGT";
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 "B", bytes);
    else
        snprintf(buf, len, "%.2f%c", v, units[u]);
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t peak_memory;

static void info_server(struct sbuf *b)
{
    struct utsname u;
    uname(&u);
    uint64_t up = (clock_mono_ms() - net_stats.start_ms) / 1000;
    sbuf_addf(b,
              "redis_version:%s\r\ntincan_version:%s\r\nredis_mode:standalone\r\n"
              "os:%s %s %s\r\narch_bits:%d\r\nmultiplexing_api:epoll\r\n"
              "process_id:%d\r\ntcp_port:%d\r\nuptime_in_seconds:%" PRIu64
              "\r\nuptime_in_days:%" PRIu64 "\r\nconfig_dir:%s\r\n",
              REDIS_COMPAT_VERSION, TINCAN_VERSION, u.sysname, u.release,
              u.machine, (int)(sizeof(void *) * 8), (int)getpid(), net_port(),
              up, up / 86400, config_dir);
}

static void info_clients(struct sbuf *b)
{
    sbuf_addf(b,
              "connected_clients:%zu\r\nblocked_clients:%" PRIu64
              "\r\nmaxclients:%" PRId64 "\r\n",
              client_count(), net_stats.blocked_clients, config_maxclients);
}

static void info_memory(struct sbuf *b)
{
    struct mallinfo2 mi = mallinfo2();
    uint64_t used = mi.uordblks + mi.hblkhd;
    if (used > peak_memory)
        peak_memory = used;
    uint64_t rss = rss_bytes();
    char h1[32], h2[32], h3[32];
    human(h1, sizeof(h1), used);
    human(h2, sizeof(h2), rss);
    human(h3, sizeof(h3), peak_memory);
    sbuf_addf(b,
              "used_memory:%" PRIu64 "\r\nused_memory_human:%s\r\n"
              "used_memory_rss:%" PRIu64 "\r\nused_memory_rss_human:%s\r\n"
              "used_memory_peak:%" PRIu64 "\r\nused_memory_peak_human:%s\r\n"
              "maxmemory:0\r\nmem_allocator:libc\r\n",
              used, h1, rss, h2, peak_memory, h3);
}

static void info_stats(struct sbuf *b)
{
    sbuf_addf(b,
              "total_connections_received:%" PRIu64
              "\r\ntotal_commands_processed:%" PRIu64
              "\r\ntotal_net_input_bytes:%" PRIu64
              "\r\ntotal_net_output_bytes:%" PRIu64
              "\r\nrejected_connections:%" PRIu64
              "\r\nclient_output_buffer_limit_disconnections:%" PRIu64
              "\r\nclient_query_buffer_limit_disconnections:%" PRIu64
              "\r\ntotal_error_replies:%" PRIu64
              "\r\nprotocol_errors:%" PRIu64 "\r\n",
              net_stats.connections_received, net_stats.commands_processed,
              net_stats.net_input_bytes, net_stats.net_output_bytes,
              net_stats.rejected_connections,
              net_stats.output_limit_disconnects,
              net_stats.query_limit_disconnects, command_errors_total,
              net_stats.protocol_errors);
}

static void add_errorstat(const char *code, uint64_t count, void *ctx)
{
    sbuf_addf(ctx, "errorstat_%s:count=%" PRIu64 "\r\n", code, count);
}

static void add_cmdstat(const struct command_spec *s,
                        const struct command_stats *st, void *ctx)
{
    struct sbuf *b = ctx;
    sbuf_addf(b,
              "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64
              ",usec_per_call=%.2f,rejected_calls=%" PRIu64
              ",failed_calls=%" PRIu64 "\r\n",
              s->name, st->calls, st->usec,
              st->calls ? (double)st->usec / (double)st->calls : 0.0,
              st->rejected_calls, st->failed_calls);
}

static void add_module_lines(struct sbuf *b, const char *section)
{
    for (size_t m = 0; m < modules_count; m++)
        if (modules[m]->info)
            modules[m]->info(b, section);
}

/* Writes one section with its "# Title" header; drops an empty module one. */
static void info_section(struct sbuf *b, const char *name)
{
    size_t start = b->len;
    if (start)
        sbuf_add(b, "\r\n", 2);
    char title[64];
    snprintf(title, sizeof(title), "%s", name);
    title[0] = (char)toupper((unsigned char)title[0]);
    sbuf_addf(b, "# %s\r\n", title);
    size_t body = b->len;
    if (!strcmp(name, "server"))
        info_server(b);
    else if (!strcmp(name, "clients"))
        info_clients(b);
    else if (!strcmp(name, "memory"))
        info_memory(b);
    else if (!strcmp(name, "persistence"))
        sbuf_adds(b, "loading:0\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\n"
                     "aof_rewrite_scheduled:0\r\n");
    else if (!strcmp(name, "stats"))
        info_stats(b);
    else if (!strcmp(name, "replication"))
        sbuf_adds(b, "role:master\r\nconnected_slaves:0\r\n");
    else if (!strcmp(name, "commandstats"))
        command_foreach_stats(add_cmdstat, b);
    else if (!strcmp(name, "errorstats"))
        command_foreach_errorstat(add_errorstat, b);
    add_module_lines(b, name);
    if (b->len == body && strcmp(name, "commandstats") != 0 &&
        strcmp(name, "errorstats") != 0) {
        b->len = start;
        b->data[start] = '\0';
    }
}

static const char *const core_sections[] = {
    "server", "clients", "memory", "persistence", "stats", "replication",
};

static int is_core_section(const char *s)
{
    for (size_t i = 0; i < ARRAY_LEN(core_sections); i++)
        if (!strcmp(s, core_sections[i]))
            return 1;
    return !strcmp(s, "commandstats") || !strcmp(s, "errorstats");
}

static void cmd_info(struct client *c, int argc, struct arg *argv)
{
    struct sbuf b;
    sbuf_init(&b);
    int all = argc == 1, everything = 0;
    for (int i = 1; i < argc; i++)
        if (arg_is(&argv[i], "all") || arg_is(&argv[i], "default") ||
            arg_is(&argv[i], "everything")) {
            all = 1;
            everything |= !arg_is(&argv[i], "default");
        }
    if (all) {
        for (size_t i = 0; i < ARRAY_LEN(core_sections); i++)
            info_section(&b, core_sections[i]);
        for (size_t m = 0; m < modules_count; m++)
            if (!is_core_section(modules[m]->name))
                info_section(&b, modules[m]->name);
        if (everything) {
            info_section(&b, "commandstats");
            info_section(&b, "errorstats");
        }
    } else {
        for (int i = 1; i < argc; i++) {
            char name[64];
            size_t n = argv[i].len < sizeof(name) - 1 ? argv[i].len
                                                      : sizeof(name) - 1;
            for (size_t k = 0; k < n; k++)
                name[k] = (char)tolower((unsigned char)argv[i].ptr[k]);
            name[n] = '\0';
            int known = is_core_section(name);
            for (size_t m = 0; m < modules_count && !known; m++)
                known = !strcmp(modules[m]->name, name);
            if (known)
                info_section(&b, name);
        }
    }
    reply_verbatim(c, b.data, b.len);
    sbuf_deinit(&b);
}

/* ---- CLIENT ---- */

static void client_line(struct sbuf *b, struct client *x)
{
    uint64_t now = clock_mono_ms();
    sbuf_addf(b,
              "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64
              " idle=%" PRIu64 " flags=%s db=%d sub=0 psub=0 ssub=0 multi=-1 "
              "qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=0 "
              "obl=%zu oll=0 omem=%zu tot-mem=%zu events=r%s cmd=%s "
              "user=default redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
              x->id, x->addr, x->laddr, x->fd, x->name ? x->name : "",
              (now - x->ctime_ms) / 1000, (now - x->last_ms) / 1000,
              x->blocked ? "b" : "N", x->db, x->query.len - x->qpos,
              x->query.cap - x->query.len, x->query.cap, x->out.len,
              x->out.len + x->wbuf.len,
              sizeof(*x) + x->query.cap + x->out.cap + x->wbuf.cap,
              x->out.len ? "w" : "", x->last_cmd, x->resp,
              x->lib_name ? x->lib_name : "", x->lib_ver ? x->lib_ver : "");
}

static void list_one(struct client *x, void *ctx)
{
    client_line(ctx, x);
}

struct kill_filter {
    struct client *self;
    uint64_t id;         /* 0 = any */
    const char *addr;    /* NULL = any */
    const char *laddr;   /* NULL = any */
    int skipme;
    int killed;
};

static void kill_one(struct client *x, void *ctx)
{
    struct kill_filter *f = ctx;
    if (x->flags & CLIENT_CLOSING)
        return;
    if (f->id && x->id != f->id)
        return;
    if (f->addr && strcmp(f->addr, x->addr) != 0)
        return;
    if (f->laddr && strcmp(f->laddr, x->laddr) != 0)
        return;
    if (x == f->self && f->skipme)
        return;
    f->killed++;
    if (x == f->self)
        client_close_after_reply(x);
    else
        client_close(x, "CLIENT KILL");
}

static void client_kill(struct client *c, int argc, struct arg *argv)
{
    struct kill_filter f = {.self = c, .skipme = 1};
    if (argc == 3) { /* old form: CLIENT KILL addr:port */
        f.addr = argv[2].ptr;
        f.skipme = 0;
        client_foreach(kill_one, &f);
        if (f.killed)
            reply_ok(c);
        else
            reply_error(c, "ERR No such client");
        return;
    }
    if (argc % 2 != 0) {
        reply_error(c, "ERR syntax error");
        return;
    }
    for (int i = 2; i < argc; i += 2) {
        struct arg *v = &argv[i + 1];
        if (arg_is(&argv[i], "ID")) {
            int64_t id;
            if (arg_parse_i64(v->ptr, v->len, &id) < 0 || id <= 0) {
                reply_error(c, "ERR client-id should be greater than 0");
                return;
            }
            f.id = (uint64_t)id;
        } else if (arg_is(&argv[i], "ADDR")) {
            f.addr = v->ptr;
        } else if (arg_is(&argv[i], "LADDR")) {
            f.laddr = v->ptr;
        } else if (arg_is(&argv[i], "SKIPME")) {
            if (arg_is(v, "yes"))
                f.skipme = 1;
            else if (arg_is(v, "no"))
                f.skipme = 0;
            else {
                reply_error(c, "ERR syntax error");
                return;
            }
        } else if (arg_is(&argv[i], "USER")) {
            if (!arg_is(v, "default")) {
                reply_errorf(c, "ERR No such user '%s'", v->ptr);
                return;
            }
        } else {
            reply_error(c, "ERR syntax error");
            return;
        }
    }
    client_foreach(kill_one, &f);
    reply_int(c, f.killed);
}

static void cmd_client(struct client *c, int argc, struct arg *argv)
{
    struct arg *sub = &argv[1];
    if (command_check_subcommand(c, argc, argv, "client", client_subs,
                         ARRAY_LEN(client_subs)) < 0)
        return;
    if (arg_is(sub, "ID") && argc == 2) {
        reply_uint(c, c->id);
    } else if (arg_is(sub, "GETNAME") && argc == 2) {
        if (c->name)
            reply_cstr(c, c->name);
        else
            reply_null(c);
    } else if (arg_is(sub, "SETNAME") && argc == 3) {
        if (!valid_name(&argv[2])) {
            reply_error(c, "ERR Client names cannot contain spaces, newlines "
                           "or special characters.");
            return;
        }
        free(c->name);
        c->name = argv[2].len ? xmemdup(argv[2].ptr, argv[2].len) : NULL;
        reply_ok(c);
    } else if (arg_is(sub, "SETINFO") && argc == 4) {
        int lib_name = arg_is(&argv[2], "LIB-NAME");
        if (!lib_name && !arg_is(&argv[2], "LIB-VER")) {
            reply_errorf(c, "ERR Unrecognized option '%s'", argv[2].ptr);
            return;
        }
        if (!valid_name(&argv[3])) {
            reply_errorf(c, "ERR %s cannot contain spaces, newlines or "
                            "special characters.",
                         lib_name ? "lib-name" : "lib-ver");
            return;
        }
        char **slot = lib_name ? &c->lib_name : &c->lib_ver;
        free(*slot);
        *slot = xmemdup(argv[3].ptr, argv[3].len);
        reply_ok(c);
    } else if (arg_is(sub, "LIST")) {
        if (argc > 2 && !(arg_is(&argv[2], "TYPE") && argc == 4 &&
                          arg_is(&argv[3], "normal"))) {
            if (arg_is(&argv[2], "ID") && argc >= 4) {
                struct sbuf b;
                sbuf_init(&b);
                for (int i = 3; i < argc; i++) {
                    int64_t id;
                    if (arg_parse_i64(argv[i].ptr, argv[i].len, &id) < 0 ||
                        id <= 0) {
                        sbuf_deinit(&b);
                        reply_error(c, "ERR Invalid client ID");
                        return;
                    }
                    struct client *x = client_by_id((uint64_t)id);
                    if (x)
                        client_line(&b, x);
                }
                reply_verbatim(c, b.data, b.len);
                sbuf_deinit(&b);
                return;
            }
            reply_error(c, "ERR syntax error");
            return;
        }
        struct sbuf b;
        sbuf_init(&b);
        client_foreach(list_one, &b);
        reply_verbatim(c, b.data, b.len);
        sbuf_deinit(&b);
    } else if (arg_is(sub, "INFO") && argc == 2) {
        struct sbuf b;
        sbuf_init(&b);
        client_line(&b, c);
        reply_verbatim(c, b.data, b.len);
        sbuf_deinit(&b);
    } else if (arg_is(sub, "KILL") && argc >= 3) {
        client_kill(c, argc, argv);
    } else if ((arg_is(sub, "NO-EVICT") || arg_is(sub, "NO-TOUCH")) &&
               argc == 3 && (arg_is(&argv[2], "on") || arg_is(&argv[2], "off"))) {
        reply_ok(c); /* nothing is ever evicted or touched here */
    } else if (arg_is(sub, "HELP")) {
        static const char *const lines[] = {
            "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
            "ID", "GETNAME", "SETNAME <name>",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "LIST [TYPE normal] [ID id ...]", "INFO",
            "KILL <ip:port> | KILL [ID id] [ADDR ip:port] [LADDR ip:port] "
            "[SKIPME yes|no]",
        };
        reply_array(c, ARRAY_LEN(lines));
        for (size_t i = 0; i < ARRAY_LEN(lines); i++)
            reply_simple(c, lines[i]);
    } else {
        reply_errorf(c, "ERR syntax error in CLIENT %s", sub->ptr);
    }
}

/* ---- COMMAND ---- */

static size_t count_flags(unsigned f)
{
    size_t n = 0;
    for (; f; f &= f - 1)
        n++;
    return n;
}

static void reply_command_info(struct client *c, const struct command_spec *s)
{
    static const char *const names[] = {"write", "readonly", "no_auth",
                                        "blocking", "admin", "fast",
                                        "loading", "stale"};
    reply_array(c, 10);
    reply_cstr(c, s->name);
    reply_int(c, s->arity);
    unsigned flags = s->flags & ((1u << ARRAY_LEN(names)) - 1);
    reply_set(c, count_flags(flags));
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (flags & (1u << i))
            reply_simple(c, names[i]);
    reply_int(c, s->first_key);
    reply_int(c, s->last_key);
    reply_int(c, s->key_step);
    reply_set(c, 1);
    reply_simple(c, s->flags & CMD_WRITE ? "@write" : "@read");
    reply_array(c, 0); /* tips */
    reply_array(c, 0); /* key specs */
    reply_array(c, 0); /* subcommands */
}

static void info_each(const struct command_spec *s, void *ctx)
{
    reply_command_info(ctx, s);
}

static void reply_command_docs(struct client *c, const struct command_spec *s)
{
    reply_cstr(c, s->name);
    reply_map(c, 4);
    reply_cstr(c, "summary");
    reply_cstr(c, s->summary ? s->summary : "");
    reply_cstr(c, "since");
    reply_cstr(c, "0.1.0");
    reply_cstr(c, "group");
    reply_cstr(c, s->group ? s->group : "server");
    reply_cstr(c, "syntax");
    reply_bulkf(c, "%s%s%s", s->name, s->args && *s->args ? " " : "",
                s->args ? s->args : "");
}

static void docs_each(const struct command_spec *s, void *ctx)
{
    reply_command_docs(ctx, s);
}

struct list_ctx {
    struct client *c;
    const struct arg *pattern; /* NULL = all */
    const struct arg *group;   /* NULL = all */
    size_t n;
};

static void list_each(const struct command_spec *s, void *ctx)
{
    struct list_ctx *l = ctx;
    if (l->pattern && !config_glob_match(l->pattern->ptr, l->pattern->len,
                                         s->name, strlen(s->name), 1))
        return;
    if (l->group && !(s->group && arg_is(l->group, s->group)))
        return;
    reply_cstr(l->c, s->name);
    l->n++;
}

static void cmd_command(struct client *c, int argc, struct arg *argv)
{
    if (argc == 1) {
        reply_array(c, command_count());
        command_foreach(info_each, c);
        return;
    }
    struct arg *sub = &argv[1];
    if (command_check_subcommand(c, argc, argv, "command", command_subs,
                         ARRAY_LEN(command_subs)) < 0)
        return;
    if (arg_is(sub, "COUNT") && argc == 2) {
        reply_int(c, (int64_t)command_count());
    } else if (arg_is(sub, "INFO")) {
        if (argc == 2) {
            reply_array(c, command_count());
            command_foreach(info_each, c);
            return;
        }
        reply_array(c, (size_t)argc - 2);
        for (int i = 2; i < argc; i++) {
            const struct command_spec *s =
                command_lookup(argv[i].ptr, argv[i].len);
            if (s)
                reply_command_info(c, s);
            else
                reply_null_array(c);
        }
    } else if (arg_is(sub, "DOCS")) {
        if (argc == 2) {
            reply_map(c, command_count());
            command_foreach(docs_each, c);
            return;
        }
        size_t n = 0;
        for (int i = 2; i < argc; i++)
            n += command_lookup(argv[i].ptr, argv[i].len) != NULL;
        reply_map(c, n);
        for (int i = 2; i < argc; i++) {
            const struct command_spec *s =
                command_lookup(argv[i].ptr, argv[i].len);
            if (s)
                reply_command_docs(c, s);
        }
    } else if (arg_is(sub, "LIST")) {
        struct list_ctx l = {.c = c};
        if (argc == 5 && arg_is(&argv[2], "FILTERBY") &&
            arg_is(&argv[3], "PATTERN"))
            l.pattern = &argv[4];
        else if (argc == 5 && arg_is(&argv[2], "FILTERBY") &&
                 arg_is(&argv[3], "ACLCAT"))
            l.group = NULL;
        else if (argc == 5 && arg_is(&argv[2], "FILTERBY") &&
                 arg_is(&argv[3], "MODULE"))
            l.group = &argv[4];
        else if (argc != 2) {
            reply_error(c, "ERR syntax error");
            return;
        }
        size_t h = reply_array_begin(c);
        command_foreach(list_each, &l);
        reply_array_end(c, h, l.n);
    } else if (arg_is(sub, "GETKEYS")) {
        reply_error(c, "ERR The command has no key arguments");
    } else {
        reply_array(c, 6);
        reply_simple(c, "COMMAND <subcommand> [<arg> ...]. Subcommands are:");
        reply_simple(c, "(no subcommand): every command's details");
        reply_simple(c, "COUNT");
        reply_simple(c, "INFO [<command-name> ...]");
        reply_simple(c, "DOCS [<command-name> ...]");
        reply_simple(c, "LIST [FILTERBY (MODULE <group>|PATTERN <pattern>)]");
    }
}

/* ---- CONFIG ---- */

struct config_get_ctx {
    struct sbuf names;   /* NUL-separated names already added */
    size_t n;
    struct client *c;
    const struct config_spec *rows[256];
};

static void config_get_one(const struct config_spec *r, void *ctx)
{
    struct config_get_ctx *g = ctx;
    for (size_t i = 0; i < g->n; i++)
        if (g->rows[i] == r)
            return;
    if (g->n < ARRAY_LEN(g->rows))
        g->rows[g->n++] = r;
}

static void cmd_config(struct client *c, int argc, struct arg *argv)
{
    struct arg *sub = &argv[1];
    if (command_check_subcommand(c, argc, argv, "config", config_subs,
                         ARRAY_LEN(config_subs)) < 0)
        return;
    if (arg_is(sub, "GET") && argc >= 3) {
        struct config_get_ctx g = {.c = c};
        for (int i = 2; i < argc; i++)
            config_foreach(argv[i].ptr, config_get_one, &g);
        reply_map(c, g.n);
        for (size_t i = 0; i < g.n; i++) {
            char value[4096];
            config_format(g.rows[i], value, sizeof(value));
            reply_cstr(c, g.rows[i]->name);
            reply_cstr(c, value);
        }
    } else if (arg_is(sub, "SET") && argc % 2 != 0) {
        reply_error(c, "ERR wrong number of arguments for 'config|set' command");
    } else if (arg_is(sub, "SET")) {
        char err[600];
        for (int i = 2; i < argc; i += 2)
            if (config_set(argv[i].ptr, argv[i + 1].ptr, 1, err,
                           sizeof(err)) < 0) {
                reply_errorf(c, "ERR %s", err);
                return;
            }
        reply_ok(c);
    } else if (arg_is(sub, "RESETSTAT") && argc == 2) {
        command_stats_reset();
        reply_ok(c);
    } else if (arg_is(sub, "REWRITE") && argc == 2) {
        reply_error(c, "ERR CONFIG REWRITE is not supported: keep settings in "
                       "the config file or flags");
    } else {
        reply_array(c, 4);
        reply_simple(c, "CONFIG <subcommand> [<arg> ...]. Subcommands are:");
        reply_simple(c, "GET <pattern> [<pattern> ...]");
        reply_simple(c, "SET <name> <value> [<name> <value> ...]");
        reply_simple(c, "RESETSTAT");
    }
}

/* ---- DEBUG ---- */

/* BGREWRITEAOF: what Redis's AOF rewrite does for its log, done to every
 * journal (streams, subscriptions, queues, locks): a checkpoint of the live
 * state replaces the log. It runs before the reply (the checkpoints take a
 * few fsyncs), so when the reply says it started it has also finished. The
 * event store is never rewritten (segments are append-only). */
static void cmd_bgrewriteaof(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    for (size_t m = 0; m < modules_count; m++) {
        char err[512];
        if (modules[m]->compact && modules[m]->compact(err, sizeof(err)) < 0) {
            reply_errorf(c, "ERR rewriting the %s journal failed: %s",
                         modules[m]->name, err);
            return;
        }
    }
    reply_simple(c, "Background append only file rewriting started");
}

static void cmd_debug(struct client *c, int argc, struct arg *argv)
{
    if (!config_enable_debug_command) {
        reply_error(c, "ERR DEBUG command not allowed. Start the server with "
                       "--enable-debug-command yes to use it.");
        return;
    }
    if (arg_is(&argv[1], "SLEEP") && argc == 3) {
        char *end;
        double secs = strtod(argv[2].ptr, &end);
        if (*end || secs < 0 || secs > 3600) {
            reply_error(c, "ERR DEBUG SLEEP takes seconds between 0 and 3600");
            return;
        }
        struct timespec ts = {(time_t)secs,
                              (long)((secs - (double)(time_t)secs) * 1e9)};
        nanosleep(&ts, NULL);
        reply_ok(c);
    } else if ((arg_is(&argv[1], "RELOAD") || arg_is(&argv[1], "LOADAOF")) &&
               argc == 2) {
        /* Redis's LOADAOF reloads the data from the append-only file: here
         * every module reloads from its files, exactly as RELOAD does */
        char err[512];
        net_abort_blocked("ERR blocking command aborted by DEBUG RELOAD");
        if (server_reload(err, sizeof(err)) < 0) {
            reply_errorf(c, "ERR DEBUG RELOAD failed: %s", err);
            return;
        }
        reply_ok(c);
    } else {
        reply_errorf(c, "ERR unknown subcommand or wrong number of arguments "
                        "for '%s'. Try DEBUG SLEEP <seconds> or DEBUG RELOAD.",
                     argv[1].ptr);
    }
}

static void info_module_lines(struct sbuf *b, const char *section)
{
    (void)b;
    (void)section;
}

static const struct command_spec server_commands[] = {
    {"ping", -1, CMD_FAST, cmd_ping, "connection", "[message]",
     "Replies PONG, or the message", 0, 0, 0},
    {"echo", 2, CMD_FAST, cmd_echo, "connection", "message",
     "Replies the message", 0, 0, 0},
    {"hello", -1, CMD_NOAUTH | CMD_FAST, cmd_hello, "connection",
     "[protover [AUTH username password] [SETNAME clientname]]",
     "Selects RESP2 or RESP3, optionally authenticates and names the "
     "connection; replies the server's properties", 0, 0, 0},
    {"auth", -2, CMD_NOAUTH | CMD_FAST, cmd_auth, "connection",
     "[username] password", "Authenticates the connection", 0, 0, 0},
    {"select", 2, CMD_FAST, cmd_select, "connection", "index",
     "Selects database 0..15 (the router binds rings to databases)", 0, 0, 0},
    {"quit", -1, CMD_NOAUTH | CMD_FAST | CMD_TX, cmd_quit, "connection", "",
     "Closes the connection after replying OK", 0, 0, 0},
    {"reset", 1, CMD_NOAUTH | CMD_FAST | CMD_TX, cmd_reset, "connection", "",
     "Leaves MULTI, forgets WATCHes, selects db 0 and RESP2, drops the name "
     "and the authentication; replies RESET", 0, 0, 0},
    {"client", -2, CMD_ADMIN, cmd_client, "connection",
     "ID|GETNAME|SETNAME|SETINFO|LIST|INFO|KILL|HELP ...",
     "Inspects and manages client connections", 0, 0, 0},
    {"info", -1, 0, cmd_info, "server", "[section ...]",
     "Server information and statistics", 0, 0, 0},
    {"command", -1, 0, cmd_command, "server",
     "[COUNT|INFO [name ...]|DOCS [name ...]|LIST [FILTERBY ...]]",
     "Describes the command table", 0, 0, 0},
    {"config", -2, CMD_ADMIN, cmd_config, "server",
     "GET pattern [pattern ...]|SET name value [name value ...]|RESETSTAT",
     "Reads and changes settings", 0, 0, 0},
    {"time", 1, CMD_FAST, cmd_time, "server", "",
     "The server's wall clock: seconds and microseconds", 0, 0, 0},
    {"shutdown", -1, CMD_ADMIN, cmd_shutdown, "server",
     "[NOSAVE|SAVE] [NOW] [FORCE]",
     "Stops the server gracefully (every write is already durable)", 0, 0, 0},
    {"bgrewriteaof", 1, CMD_ADMIN, cmd_bgrewriteaof, "server", "",
     "Compacts every journal into a checkpoint (Redis's AOF rewrite)", 0, 0, 0},
    {"debug", -2, CMD_ADMIN, cmd_debug, "server", "SLEEP seconds|RELOAD|LOADAOF",
     "Debugging aid, only with --enable-debug-command yes", 0, 0, 0},
};

static void server_metrics(struct metrics *m)
{
    metrics_sample(metrics_family(m, "tincan_build_info", METRICS_GAUGE,
                                  "Always 1; the version is in the label."),
                   (struct metrics_label[]){{"version", TINCAN_VERSION,
                                             strlen(TINCAN_VERSION)}},
                   1, 1);
    metrics_set(m, "tincan_uptime_seconds", METRICS_GAUGE, "Seconds since start.",
                (double)(clock_mono_ms() - net_stats.start_ms) / 1000);
    metrics_set(m, "tincan_clients_connected", METRICS_GAUGE,
                "RESP clients connected now.", (double)client_count());
    metrics_set(m, "tincan_clients_blocked", METRICS_GAUGE,
                "Clients waiting in a blocking command.",
                (double)net_stats.blocked_clients);
    metrics_set(m, "tincan_connections_received_total", METRICS_COUNTER,
                "RESP connections accepted since start.",
                (double)net_stats.connections_received);
    metrics_set(m, "tincan_connections_rejected_total", METRICS_COUNTER,
                "RESP connections refused (maxclients) since start.",
                (double)net_stats.rejected_connections);
    metrics_set(m, "tincan_commands_processed_total", METRICS_COUNTER,
                "Commands run since start.", (double)net_stats.commands_processed);
    metrics_set(m, "tincan_command_errors_total", METRICS_COUNTER,
                "Error replies sent since start.", (double)command_errors_total);
    metrics_set(m, "tincan_protocol_errors_total", METRICS_COUNTER,
                "Connections closed for a RESP protocol error since start.",
                (double)net_stats.protocol_errors);
    metrics_set(m, "tincan_net_input_bytes_total", METRICS_COUNTER,
                "Bytes read from RESP clients since start.",
                (double)net_stats.net_input_bytes);
    metrics_set(m, "tincan_net_output_bytes_total", METRICS_COUNTER,
                "Bytes written to RESP clients since start.",
                (double)net_stats.net_output_bytes);
}

const struct module server_module = {
    .name = "server",
    .commands = server_commands,
    .ncommands = ARRAY_LEN(server_commands),
    .info = info_module_lines,
    .metrics = server_metrics,
};
