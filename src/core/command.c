#include "command.h"

#include "client.h"
#include "clock.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "module.h"
#include "multi.h"
#include "resp.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct entry {
    const struct command_spec *spec;
    struct command_stats stats;
};

static struct entry *entries; /* every command, in module order */
static size_t nentries;
static struct entry **slots;  /* open-addressing hash of entries by name */
static size_t nslots;
uint64_t command_errors_total;
/* Error replies by code (the upper-case word they start with), for INFO
 * errorstats; like Redis, at most ERRORSTATS_MAX codes are tracked. */
#define ERRORSTATS_MAX 128
static struct {
    char code[32];
    uint64_t count;
} errorstats[ERRORSTATS_MAX];
static size_t nerrorstats;

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over lower-cased bytes */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 1099511628211ull;
    }
    return h;
}

void command_table_init(void)
{
    nentries = 0;
    for (size_t m = 0; m < modules_count; m++)
        nentries += modules[m]->ncommands;
    entries = xcalloc(nentries, sizeof(*entries));
    size_t k = 0;
    for (size_t m = 0; m < modules_count; m++)
        for (size_t i = 0; i < modules[m]->ncommands; i++)
            entries[k++].spec = &modules[m]->commands[i];
    nslots = 16;
    while (nslots < nentries * 3)
        nslots *= 2;
    slots = xcalloc(nslots, sizeof(*slots));
    for (size_t i = 0; i < nentries; i++) {
        const char *name = entries[i].spec->name;
        size_t j = hash_name(name, strlen(name)) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = &entries[i];
    }
}

void command_table_free(void)
{
    free(entries);
    free(slots);
    entries = NULL;
    slots = NULL;
    nentries = nslots = 0;
}

static struct entry *lookup(const char *name, size_t len)
{
    if (!slots)
        return NULL;
    size_t j = hash_name(name, len) & (nslots - 1);
    for (; slots[j]; j = (j + 1) & (nslots - 1)) {
        const char *n = slots[j]->spec->name;
        if (strlen(n) == len && strncasecmp(n, name, len) == 0)
            return slots[j];
    }
    return NULL;
}

const struct command_spec *command_lookup(const char *name, size_t len)
{
    struct entry *e = lookup(name, len);
    return e ? e->spec : NULL;
}

void command_foreach(void (*fn)(const struct command_spec *, void *), void *ctx)
{
    for (size_t i = 0; i < nentries; i++)
        fn(entries[i].spec, ctx);
}

size_t command_count(void)
{
    return nentries;
}

void command_foreach_stats(void (*fn)(const struct command_spec *,
                                      const struct command_stats *, void *),
                           void *ctx)
{
    for (size_t i = 0; i < nentries; i++)
        if (entries[i].stats.calls || entries[i].stats.rejected_calls)
            fn(entries[i].spec, &entries[i].stats, ctx);
}

void command_stats_reset(void)
{
    for (size_t i = 0; i < nentries; i++)
        memset(&entries[i].stats, 0, sizeof(entries[i].stats));
    command_errors_total = 0;
    nerrorstats = 0;
}

const char *arg_printable(char *dst, size_t cap, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 32 && ch < 127 && ch != '\'' && ch != '\\')
            dst[o++] = (char)ch;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
        if (i + 1 < n && o + 8 >= cap) {
            o += (size_t)snprintf(dst + o, cap - o, "...");
            break;
        }
    }
    dst[o] = '\0';
    return dst;
}

static void quoted(char *dst, size_t cap, const struct arg *a)
{
    arg_printable(dst, cap, a->ptr, a->len);
}

/* The handler and its stats; the checks are done. */
static void run(struct entry *e, struct client *c, int argc, struct arg *argv,
                uint64_t t0)
{
    const struct command_spec *spec = e->spec;
    c->last_cmd = spec->name;
    c->commands++;
    uint64_t errors_before = c->errors; /* not another client's, woken by it */
    spec->handler(c, argc, argv);
    e->stats.usec += clock_mono_us() - t0;
    e->stats.calls++;
    if (c->errors != errors_before)
        e->stats.failed_calls++;
}

void command_execute(struct client *c, int argc, struct arg *argv)
{
    struct entry *e = lookup(argv[0].ptr, argv[0].len);
    uint64_t t0 = clock_mono_us(); /* one clock read: idle time and stats */
    c->cmd_start = c->out.len;
    c->last_ms = t0 / 1000;
    net_stats.commands_processed++;
    if (!e) {
        char name[600], args[600];
        quoted(name, sizeof(name), &argv[0]);
        size_t o = 0;
        args[0] = '\0';
        for (int i = 1; i < argc && o + 8 < 400; i++) {
            char q[300];
            quoted(q, sizeof(q), &argv[i]);
            o += (size_t)snprintf(args + o, sizeof(args) - o, "'%s' ", q);
        }
        reply_errorf(c, "ERR unknown command '%s', with args beginning with: %s",
                     name, args);
        multi_flag_error(c);
        return;
    }
    const struct command_spec *spec = e->spec;
    if ((spec->arity > 0 && argc != spec->arity) ||
        (spec->arity < 0 && argc < -spec->arity)) {
        e->stats.rejected_calls++;
        reply_errorf(c, "ERR wrong number of arguments for '%s' command",
                     spec->name);
        multi_flag_error(c);
        return;
    }
    if (!c->authenticated && !(spec->flags & CMD_NOAUTH)) {
        e->stats.rejected_calls++;
        reply_error(c, "NOAUTH Authentication required.");
        multi_flag_error(c);
        return;
    }
    if (multi_is_queuing(c) && !(spec->flags & CMD_TX)) {
        multi_queue(c, spec, argc, argv);
        return;
    }
    run(e, c, argc, argv, t0);
}

void command_call(struct client *c, const struct command_spec *spec, int argc,
                  struct arg *argv)
{
    struct entry *e = lookup(spec->name, strlen(spec->name));
    uint64_t t0 = clock_mono_us();
    net_stats.commands_processed++;
    if (!c->authenticated && !(spec->flags & CMD_NOAUTH)) {
        e->stats.rejected_calls++;
        reply_error(c, "NOAUTH Authentication required.");
        return;
    }
    run(e, c, argc, argv, t0);
}

/* ---- replies ---- */

void reply_ok(struct client *c)
{
    sbuf_add(&c->out, "+OK\r\n", 5);
}

void reply_simple(struct client *c, const char *text)
{
    resp_add_simple(&c->out, text);
}


static void count_error(const char *msg)
{
    size_t n = 0;
    while (n < sizeof(errorstats[0].code) - 1 && msg[n] && msg[n] != ' ')
        n++;
    for (size_t i = 0; i < nerrorstats; i++)
        if (strlen(errorstats[i].code) == n && !memcmp(errorstats[i].code, msg, n)) {
            errorstats[i].count++;
            return;
        }
    if (nerrorstats == ERRORSTATS_MAX)
        return;
    memcpy(errorstats[nerrorstats].code, msg, n);
    errorstats[nerrorstats].code[n] = 0;
    errorstats[nerrorstats++].count = 1;
}

void command_foreach_errorstat(void (*fn)(const char *code, uint64_t count, void *),
                               void *ctx)
{
    for (size_t i = 0; i < nerrorstats; i++)
        fn(errorstats[i].code, errorstats[i].count, ctx);
}

void command_note_failed(const char *name)
{
    struct entry *e = lookup(name, strlen(name));
    if (e)
        e->stats.failed_calls++;
}

void reply_error(struct client *c, const char *msg)
{
    command_errors_total++;
    c->errors++;
    count_error(msg);
    resp_add_error(&c->out, msg);
}

void reply_errorf(struct client *c, const char *fmt, ...)
{
    struct sbuf b;
    sbuf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    sbuf_vaddf(&b, fmt, ap);
    va_end(ap);
    reply_error(c, b.data);
    sbuf_deinit(&b);
}

void reply_error_code(struct client *c, int code, const char *detail)
{
    reply_errorf(c, "%s %s", error_prefix(code),
                 detail && *detail ? detail : error_text(code));
}

void reply_int(struct client *c, int64_t v)
{
    resp_add_int(&c->out, v);
}

void reply_uint(struct client *c, uint64_t v)
{
    if (v <= INT64_MAX) {
        resp_add_int(&c->out, (int64_t)v);
    } else {
        char tmp[24];
        int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
        resp_add_bulk(&c->out, tmp, (size_t)n);
    }
}

void reply_bulk(struct client *c, const void *p, size_t n)
{
    resp_add_bulk(&c->out, p, n);
}

void reply_cstr(struct client *c, const char *s)
{
    resp_add_bulk(&c->out, s, strlen(s));
}

void reply_bulkf(struct client *c, const char *fmt, ...)
{
    struct sbuf b;
    sbuf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    sbuf_vaddf(&b, fmt, ap);
    va_end(ap);
    resp_add_bulk(&c->out, b.data, b.len);
    sbuf_deinit(&b);
}

void reply_null(struct client *c)
{
    resp_add_null(&c->out, c->resp);
}

void reply_null_array(struct client *c)
{
    resp_add_null_array(&c->out, c->resp);
}

void reply_bool(struct client *c, int v)
{
    resp_add_bool(&c->out, c->resp, v);
}

void reply_double(struct client *c, double v)
{
    resp_add_double(&c->out, c->resp, v);
}

void reply_verbatim(struct client *c, const char *p, size_t n)
{
    resp_add_verbatim(&c->out, c->resp, p, n);
}

void reply_array(struct client *c, size_t n)
{
    resp_add_array(&c->out, n);
}

void reply_set(struct client *c, size_t n)
{
    resp_add_set(&c->out, c->resp, n);
}

void reply_map(struct client *c, size_t n)
{
    resp_add_map(&c->out, c->resp, n);
}

size_t reply_array_begin(struct client *c)
{
    return resp_add_array_placeholder(&c->out);
}

void reply_array_end(struct client *c, size_t handle, size_t n)
{
    resp_patch_array(&c->out, handle, n);
}

/* ---- arguments ---- */

int arg_is(const struct arg *a, const char *word)
{
    size_t n = strlen(word);
    return a->len == n && strncasecmp(a->ptr, word, n) == 0;
}

int arg_parse_i64(const char *p, size_t n, int64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    char tmp[24];
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    /* no leading '+', spaces or leading zeros, like Redis's string2ll */
    if (!(isdigit((unsigned char)tmp[0]) || (tmp[0] == '-' && n > 1)))
        return -1;
    if ((tmp[0] == '0' && n > 1) || (tmp[0] == '-' && tmp[1] == '0'))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int arg_i64(struct client *c, const struct arg *a, const char *what, int64_t min,
            int64_t max, int64_t *out)
{
    int64_t v;
    if (arg_parse_i64(a->ptr, a->len, &v) == 0 && v >= min && v <= max) {
        *out = v;
        return 0;
    }
    if (what)
        reply_errorf(c, "ERR %s must be an integer between %" PRId64
                        " and %" PRId64, what, min, max);
    else
        reply_error(c, "ERR value is not an integer or out of range");
    return -1;
}

int arg_len(struct client *c, const struct arg *a, const char *what, size_t max)
{
    if (a->len == 0 || a->len > max) {
        reply_errorf(c, "ERR %s must be 1 to %zu bytes (got %zu)", what, max,
                     a->len);
        return -1;
    }
    return 0;
}

int arg_leading_names(int argc, const struct arg *argv,
                      const char *const *opts)
{
    int n = 1;
    for (; 2 + n < argc; n++)
        for (const char *const *o = opts; *o; o++)
            if (arg_is(&argv[1 + n], *o))
                return n;
    return argc - 1;
}

int arg_range(struct client *c, const struct arg *a, const char *name,
              int64_t min, int64_t max, const char *unit, int64_t *out)
{
    int64_t v;
    if (arg_parse_i64(a->ptr, a->len, &v) == 0 && v >= min && v <= max) {
        *out = v;
        return 0;
    }
    char q[64];
    reply_errorf(c, "ERR %s must be %" PRId64 "..%" PRId64 "%s%s (got '%s')",
                 name, min, max, unit[0] ? " " : "", unit,
                 arg_printable(q, sizeof(q), a->ptr, a->len));
    return -1;
}

int arg_u64(struct client *c, const struct arg *a, const char *what,
            uint64_t *out)
{
    char tmp[24];
    if (a->len > 0 && a->len < sizeof(tmp) && isdigit((unsigned char)a->ptr[0])) {
        memcpy(tmp, a->ptr, a->len);
        tmp[a->len] = '\0';
        errno = 0;
        char *end;
        unsigned long long v = strtoull(tmp, &end, 10);
        if (!errno && !*end && !(tmp[0] == '0' && a->len > 1)) {
            *out = v;
            return 0;
        }
    }
    reply_errorf(c, "ERR %s must be a non-negative integer",
                 what ? what : "value");
    return -1;
}

void reply_syntax_error(struct client *c, const struct arg *a)
{
    char q[600];
    quoted(q, sizeof(q), a);
    reply_errorf(c, "ERR syntax error near '%s'", q);
}

int command_check_subcommand(struct client *c, int argc, const struct arg *argv,
                             const char *parent, const struct subcommand *subs,
                             size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!arg_is(&argv[1], subs[i].name))
            continue;
        int a = subs[i].arity;
        if ((a > 0 && argc != a) || (a < 0 && argc < -a)) {
            reply_errorf(c, "ERR wrong number of arguments for '%s|%s' command",
                         parent, subs[i].name);
            return -1;
        }
        return 0;
    }
    char upper[16], sp[128];
    size_t k = 0;
    for (; parent[k] && k + 1 < sizeof(upper); k++)
        upper[k] = (char)toupper((unsigned char)parent[k]);
    upper[k] = '\0';
    reply_errorf(c, "ERR unknown subcommand '%s'. Try %s HELP.",
                 arg_printable(sp, sizeof(sp), argv[1].ptr, argv[1].len), upper);
    return -1;
}
