#include "config.h"

#include "common.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"

char *config_bind;
int64_t config_port;
char *config_unixsocket;
char *config_dir;
char *config_requirepass;
int64_t config_maxclients;
int64_t config_max_bulk_len;
int64_t config_max_multibulk_len;
int64_t config_client_query_buffer_limit;
int64_t config_client_output_buffer_limit;
int config_enable_debug_command;
char *config_logfile;
int config_loglevel;
int config_fsync;

static const char *const loglevels[] = {"debug", "info", "warning", "error",
                                        NULL};

static const char *const fsync_modes[] = {"always", "everysec", "no", NULL};

static int apply_loglevel(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    log_set_level((enum log_level)config_loglevel);
    return 0;
}

static int apply_logfile(char *err, size_t errlen)
{
    int rc = log_set_file(config_logfile);
    if (rc < 0) {
        snprintf(err, errlen, "cannot open log file '%s': %s", config_logfile,
                 strerror(-rc));
        return -1;
    }
    return 0;
}

#define GB (1024ll * 1024 * 1024)
#define MB (1024ll * 1024)

static int cfg_appendonly = 1, cfg_aof_preamble;

static int apply_appendonly(char *err, size_t errlen)
{
    if (!cfg_appendonly) {
        cfg_appendonly = 1;
        snprintf(err, errlen, "appendonly cannot be turned off: tincan logs every "
                              "write before its reply");
        return -1;
    }
    return 0;
}

static const struct config_spec core_rows[] = {
    {"bind", CONFIG_STRING, &config_bind, "127.0.0.1", 0, 0, NULL, 0, 0, NULL,
     "address the TCP listener binds"},
    {"port", CONFIG_INT, &config_port, "6380", 0, 65535, NULL, 0, 0, NULL,
     "TCP port; 0 picks a free one (printed in the readiness line)"},
    {"unixsocket", CONFIG_STRING, &config_unixsocket, "", 0, 0, NULL, 0, 0,
     NULL, "path of a unix socket to listen on as well; empty = none"},
    {"dir", CONFIG_STRING, &config_dir, "./data", 0, 0, NULL, 0, 0, NULL,
     "data directory (created if missing)"},
    {"requirepass", CONFIG_STRING, &config_requirepass, "", 0, 0, NULL,
     CONFIG_MUTABLE | CONFIG_SECRET, 0, NULL,
     "password clients must give with AUTH or HELLO; empty = none"},
    {"maxclients", CONFIG_INT, &config_maxclients, "10000", 1, 1000000, NULL,
     CONFIG_MUTABLE, 0, NULL, "connections accepted at once"},
    {"proto-max-bulk-len", CONFIG_BYTES, &config_max_bulk_len, "512mb", 1024,
     4 * GB, NULL, CONFIG_MUTABLE, 0, NULL,
     "bytes of one bulk string in a request"},
    {"proto-max-multibulk-len", CONFIG_INT, &config_max_multibulk_len,
     "1048576", 1, 1 << 30, NULL, CONFIG_MUTABLE, 0, NULL,
     "arguments of one request"},
    {"client-query-buffer-limit", CONFIG_BYTES,
     &config_client_query_buffer_limit, "1gb", 1024 * 1024, 16 * GB, NULL,
     CONFIG_MUTABLE, 0, NULL,
     "bytes of unprocessed input per client before it is disconnected"},
    {"client-output-buffer-limit", CONFIG_BYTES,
     &config_client_output_buffer_limit, "256mb", 0, 16 * GB, NULL,
     CONFIG_MUTABLE, 0, NULL,
     "bytes of unsent replies per client before it is disconnected; 0 = none"},
    {"fsync", CONFIG_ENUM, &config_fsync, "always", 0, 0, fsync_modes,
     CONFIG_MUTABLE, 0, NULL,
     "when acknowledged writes (events, lock/queue/subscription changes) are "
     "fdatasync'ed: always (the reply waits for it; group commit), everysec, "
     "no (see docs/durability.md)"},
    {"appendfsync", CONFIG_ENUM, &config_fsync, "always", 0, 0, fsync_modes,
     CONFIG_MUTABLE, 0, NULL,
     "Redis's name for fsync (the same setting: CONFIG SET of one changes both)"},
    {"appendonly", CONFIG_BOOL, &cfg_appendonly, "yes", 0, 0, NULL, CONFIG_MUTABLE,
     0, apply_appendonly,
     "always yes: every write is logged before its reply (Redis's name, for "
     "clients and tools that set it)"},
    {"aof-use-rdb-preamble", CONFIG_BOOL, &cfg_aof_preamble, "no", 0, 0, NULL,
     CONFIG_MUTABLE, 0, NULL,
     "accepted for Redis compatibility; tincan's journals have no RDB preamble"},
    {"enable-debug-command", CONFIG_BOOL, &config_enable_debug_command, "no",
     0, 0, NULL, 0, 0, NULL, "allow DEBUG SLEEP and DEBUG RELOAD"},
    {"logfile", CONFIG_STRING, &config_logfile, "", 0, 0, NULL, 0, 0,
     apply_logfile, "log file; empty = stderr"},
    {"loglevel", CONFIG_ENUM, &config_loglevel, "info", 0, 0, loglevels,
     CONFIG_MUTABLE, 0, apply_loglevel, "debug, info, warning or error"},
};

struct table {
    const struct config_spec *rows;
    size_t n;
};
static struct table tables[32];
static size_t ntables;
static int core_registered;

void config_register(const struct config_spec *rows, size_t n)
{
    if (ntables == ARRAY_LEN(tables)) {
        log_error("too many config tables");
        abort();
    }
    tables[ntables++] = (struct table){rows, n};
}

static void ensure_core(void)
{
    if (!core_registered) {
        core_registered = 1;
        config_register(core_rows, ARRAY_LEN(core_rows));
    }
}

const struct config_spec *config_find(const char *name)
{
    ensure_core();
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (strcasecmp(tables[t].rows[i].name, name) == 0)
                return &tables[t].rows[i];
    return NULL;
}

int config_parse_bytes(const char *s, int64_t *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    long long mul = 1;
    if (!strcasecmp(end, "") || !strcasecmp(end, "b"))
        mul = 1;
    else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb"))
        mul = 1024;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb"))
        mul = MB;
    else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb"))
        mul = GB;
    else
        return -1;
    if (v > INT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int parse_int(const char *s, int64_t *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* Stores text into row r without calling apply. */
static int store(const struct config_spec *r, const char *value, char *err,
                 size_t errlen)
{
    int64_t v;
    switch (r->type) {
    case CONFIG_BOOL:
        if (!strcasecmp(value, "yes"))
            *(int *)r->ptr = 1;
        else if (!strcasecmp(value, "no"))
            *(int *)r->ptr = 0;
        else {
            snprintf(err, errlen, "argument must be 'yes' or 'no'");
            return -1;
        }
        return 0;
    case CONFIG_INT:
    case CONFIG_BYTES:
        if ((r->type == CONFIG_INT ? parse_int(value, &v)
                                   : config_parse_bytes(value, &v)) < 0) {
            snprintf(err, errlen, "argument couldn't be parsed into an %s",
                     r->type == CONFIG_INT ? "integer" : "memory value");
            return -1;
        }
        if (v < r->min || v > r->max) {
            snprintf(err, errlen,
                     "argument must be between %" PRId64 " and %" PRId64
                     " inclusive",
                     r->min, r->max);
            return -1;
        }
        *(int64_t *)r->ptr = v;
        return 0;
    case CONFIG_STRING:
        free(*(char **)r->ptr);
        *(char **)r->ptr = xstrdup(value);
        return 0;
    case CONFIG_ENUM:
        for (int i = 0; r->enum_names[i]; i++)
            if (!strcasecmp(value, r->enum_names[i])) {
                *(int *)r->ptr = i;
                return 0;
            }
        snprintf(err, errlen, "argument must be one of:");
        for (int i = 0; r->enum_names[i]; i++) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, " '%s'", r->enum_names[i]);
        }
        return -1;
    }
    return -1;
}

void config_defaults(void)
{
    ensure_core();
    char err[256];
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (store(&tables[t].rows[i], tables[t].rows[i].def, err,
                      sizeof(err)) < 0) {
                log_error("bad default for %s: %s", tables[t].rows[i].name,
                          err);
                abort();
            }
}

void config_format(const struct config_spec *r, char *buf, size_t len)
{
    switch (r->type) {
    case CONFIG_BOOL:
        snprintf(buf, len, "%s", *(int *)r->ptr ? "yes" : "no");
        break;
    case CONFIG_INT:
    case CONFIG_BYTES:
        snprintf(buf, len, "%" PRId64, *(int64_t *)r->ptr);
        break;
    case CONFIG_STRING:
        snprintf(buf, len, "%s", *(char **)r->ptr ? *(char **)r->ptr : "");
        break;
    case CONFIG_ENUM:
        snprintf(buf, len, "%s", r->enum_names[*(int *)r->ptr]);
        break;
    }
}

/* Rows given so far by this config_load (file lines and flags): a second
 * value of a CONFIG_APPEND row is appended instead of replacing. */
static const struct config_spec *loaded_rows[64];
static size_t nloaded;
static int loading;

int config_set(const char *name, const char *value, int runtime, char *err,
               size_t errlen)
{
    if (loading && !runtime) {
        const struct config_spec *a = config_find(name);
        if (a && (a->flags & CONFIG_APPEND) && a->type == CONFIG_STRING) {
            size_t i = 0;
            while (i < nloaded && loaded_rows[i] != a)
                i++;
            if (i < nloaded) {
                const char *old = *(char **)a->ptr ? *(char **)a->ptr : "";
                size_t n = strlen(old) + strlen(value) + 2;
                char *joined = xmalloc(n);
                snprintf(joined, n, "%s\n%s", old, value);
                free(*(char **)a->ptr);
                *(char **)a->ptr = joined;
                return 0;
            }
            if (nloaded < ARRAY_LEN(loaded_rows))
                loaded_rows[nloaded++] = a;
        }
    }
    const struct config_spec *r = config_find(name);
    if (!r) {
        snprintf(err, errlen, "Unknown option or number of arguments for "
                              "CONFIG SET - '%s'", name);
        return -1;
    }
    if (runtime && !(r->flags & CONFIG_MUTABLE)) {
        snprintf(err, errlen, "CONFIG SET failed (possibly related to argument "
                              "'%s') - can't set immutable config", name);
        return -1;
    }
    char old[1024];
    config_format(r, old, sizeof(old));
    char why[512];
    if (store(r, value, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "CONFIG SET failed (possibly related to argument "
                              "'%s') - %s", name, why);
        return -1;
    }
    if (runtime && r->apply && r->apply(why, sizeof(why)) < 0) {
        store(r, old, err, errlen);
        snprintf(err, errlen, "CONFIG SET failed (possibly related to argument "
                              "'%s') - %s", name, why);
        return -1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file '%s': %s", path,
                 strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *name = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (*s)
            *s++ = '\0';
        char *value = trim(s);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        char why[512];
        if (config_set(name, value, 0, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

void config_print_help(void)
{
    ensure_core();
    printf("Usage: tincan-server [config-file] [--name value ...]\n\n"
           "Settings (config file: 'name value' lines; flags: --name value):\n");
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++) {
            const struct config_spec *r = &tables[t].rows[i];
            printf("  --%-28s %s (default: %s%s)\n", r->name, r->help,
                   r->flags & CONFIG_SECRET ? "" : r->def,
                   r->flags & CONFIG_MUTABLE ? "; CONFIG SET" : "");
        }
    printf("\n  --help                         this text\n"
           "  --version                      the version\n");
}

static int config_load_args(int argc, char **argv, char *err, size_t errlen);

int config_load(int argc, char **argv, char *err, size_t errlen)
{
    loading = 1;
    nloaded = 0;
    int rc = config_load_args(argc, argv, err, errlen);
    loading = 0;
    return rc;
}

static int config_load_args(int argc, char **argv, char *err, size_t errlen)
{
    ensure_core();
    config_defaults();
    int i = 1;
    if (i < argc && strncmp(argv[i], "--", 2) != 0) {
        if (load_file(argv[i], err, errlen) < 0)
            return -1;
        i++;
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            config_print_help();
            return 1;
        }
        if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
            printf("tincan-server v=%s\n", TINCAN_VERSION);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return -1;
        }
        const struct config_spec *r = config_find(a + 2);
        if (!r) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", a);
            return -1;
        }
        int nargs = r->nargs > 0 ? r->nargs : 1;
        if (i + nargs >= argc) {
            snprintf(err, errlen, "option '%s' needs %d value%s", a, nargs,
                     nargs > 1 ? "s" : "");
            return -1;
        }
        char value[4096] = "";
        for (int k = 1; k <= nargs; k++) {
            size_t l = strlen(value);
            snprintf(value + l, sizeof(value) - l, "%s%s", k > 1 ? " " : "",
                     argv[i + k]);
        }
        i += nargs;
        char why[512];
        if (config_set(r->name, value, 0, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "option '%s': %s", a, why);
            return -1;
        }
    }
    log_set_level((enum log_level)config_loglevel);
    if (config_logfile[0] && apply_logfile(err, errlen) < 0)
        return -1;
    return 0;
}

void config_foreach(const char *pattern,
                    void (*fn)(const struct config_spec *, void *), void *ctx)
{
    ensure_core();
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++) {
            const struct config_spec *r = &tables[t].rows[i];
            if (config_glob_match(pattern, strlen(pattern), r->name,
                                  strlen(r->name), 1))
                fn(r, ctx);
        }
}

/* Matches one pattern element at pat (not '*') against ch; sets *elen to the
 * element's length in the pattern. Returns 1 on a match. */
static int match_one(const char *pat, size_t plen, char ch, int nocase,
                     size_t *elen)
{
    char c = nocase ? (char)tolower((unsigned char)ch) : ch;
    if (*pat == '?') {
        *elen = 1;
        return 1;
    }
    if (*pat == '\\' && plen >= 2) {
        *elen = 2;
        char p = nocase ? (char)tolower((unsigned char)pat[1]) : pat[1];
        return p == c;
    }
    if (*pat != '[') {
        *elen = 1;
        char p = nocase ? (char)tolower((unsigned char)*pat) : *pat;
        return p == c;
    }
    size_t i = 1;
    int neg = i < plen && pat[i] == '^';
    if (neg)
        i++;
    int match = 0;
    while (i < plen && pat[i] != ']') {
        if (pat[i] == '\\' && i + 1 < plen) {
            char p = nocase ? (char)tolower((unsigned char)pat[i + 1])
                            : pat[i + 1];
            match |= p == c;
            i += 2;
        } else if (i + 2 < plen && pat[i + 1] == '-' && pat[i + 2] != ']') {
            char lo = pat[i], hi = pat[i + 2];
            if (nocase) {
                lo = (char)tolower((unsigned char)lo);
                hi = (char)tolower((unsigned char)hi);
            }
            if (lo > hi) {
                char t = lo;
                lo = hi;
                hi = t;
            }
            match |= c >= lo && c <= hi;
            i += 3;
        } else {
            char p = nocase ? (char)tolower((unsigned char)pat[i]) : pat[i];
            match |= p == c;
            i++;
        }
    }
    if (i >= plen) { /* unterminated class: '[' is a literal */
        *elen = 1;
        return c == '[';
    }
    *elen = i + 1;
    return neg ? !match : match;
}

/* Iterative glob: on a mismatch, retry from the last '*' one byte further.
 * Time is O(pattern * subject), so client-supplied patterns cannot explode. */
int config_glob_match(const char *pat, size_t plen, const char *s, size_t slen,
                      int nocase)
{
    size_t p = 0, k = 0;
    size_t star_p = (size_t)-1, star_k = 0;
    while (k < slen) {
        size_t elen;
        if (p < plen && pat[p] == '*') {
            star_p = ++p;
            star_k = k;
        } else if (p < plen && match_one(pat + p, plen - p, s[k], nocase,
                                         &elen)) {
            p += elen;
            k++;
        } else if (star_p != (size_t)-1) {
            p = star_p;
            k = ++star_k;
        } else {
            return 0;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}
