/* remote.c - connection options, connect/auth/setname and record readers
 * for the subcommands that talk to a server (remote.h). */
#include "remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char remote_usage[] =
    "connection:\n"
    "  -h, --host HOST     server address (default: 127.0.0.1)\n"
    "  -p, --port PORT     server port (default: 6380)\n"
    "  -a, --password PW   AUTH password (default: $TINCAN_PASSWORD, else\n"
    "                      $REDISCLI_AUTH)\n"
    "  --name NAME         client name (CLIENT SETNAME): the producer name a\n"
    "                      type's OWNER checks\n";

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void remote_opts_init(struct remote_opts *o, const char *prog)
{
    *o = (struct remote_opts){.prog = prog,
                              .host = "127.0.0.1",
                              .port = REMOTE_DEFAULT_PORT,
                              .password = env_nonempty("TINCAN_PASSWORD")};
    if (!o->password)
        o->password = env_nonempty("REDISCLI_AUTH");
}

/* The value of option `shortname`/`longname` at argv[*i], in the forms
 * "-p 1", "--port 1" and "--port=1"; NULL when argv[*i] is not it. *missing
 * is set when it is but has no value. */
static const char *opt_value(int argc, char **argv, int *i,
                             const char *shortname, const char *longname,
                             int *missing)
{
    const char *a = argv[*i];
    size_t ll = strlen(longname);
    if (!strncmp(a, longname, ll) && a[ll] == '=')
        return a + ll + 1;
    if (strcmp(a, longname) && (!shortname || strcmp(a, shortname)))
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

int remote_opt(struct remote_opts *o, int argc, char **argv, int *i)
{
    int missing = 0;
    const char *v;
    if ((v = opt_value(argc, argv, i, "-h", "--host", &missing))) {
        o->host = v;
    } else if ((v = opt_value(argc, argv, i, "-p", "--port", &missing))) {
        char *end;
        errno = 0;
        long p = strtol(v, &end, 10);
        if (errno || end == v || *end || p < 1 || p > 65535) {
            fprintf(stderr, "%s: --port must be 1..65535 (got '%s')\n", o->prog,
                    v);
            return -1;
        }
        o->port = (int)p;
    } else if ((v = opt_value(argc, argv, i, "-a", "--password", &missing))) {
        o->password = *v ? v : NULL;
    } else if ((v = opt_value(argc, argv, i, NULL, "--name", &missing))) {
        if (!*v || strchr(v, ' ')) {
            fprintf(stderr, "%s: --name must be non-empty, without spaces\n",
                    o->prog);
            return -1;
        }
        o->name = v;
    } else if (missing) {
        fprintf(stderr, "%s: %s needs a value\n", o->prog, argv[*i]);
        return -1;
    } else {
        return 0;
    }
    return 1;
}

redisReply *remote_command(redisContext *c, const struct remote_opts *o,
                           int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r)
        fprintf(stderr, "%s: connection to %s:%d lost: %s\n", o->prog, o->host,
                o->port, c->errstr[0] ? c->errstr : "closed");
    return r;
}

/* Runs argv and checks that the reply is not an error; 0 or -1 (printed,
 * with `what` naming the step). */
static int setup_step(redisContext *c, const struct remote_opts *o,
                      const char *what, int argc, const char **argv)
{
    redisReply *r = remote_command(c, o, argc, argv);
    if (!r)
        return -1;
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        fprintf(stderr, "%s: %s refused by %s:%d: %s\n", o->prog, what, o->host,
                o->port, r->str);
    freeReplyObject(r);
    return bad ? -1 : 0;
}

redisContext *remote_connect(const struct remote_opts *o, int read_timeout_s)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(o->host, o->port, tv);
    if (!c || c->err) {
        fprintf(stderr, "%s: cannot connect to %s:%d: %s\n", o->prog, o->host,
                o->port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    struct timeval rw = {read_timeout_s, 0};
    redisSetTimeout(c, rw);
    const char *auth[] = {"AUTH", o->password};
    const char *setname[] = {"CLIENT", "SETNAME", o->name};
    const char *ping[] = {"PING"};
    if ((o->password && setup_step(c, o, "AUTH", 2, auth)) ||
        (o->name && setup_step(c, o, "CLIENT SETNAME", 3, setname)) ||
        setup_step(c, o, "PING", 1, ping)) {
        redisFree(c);
        return NULL;
    }
    return c;
}

const redisReply *remote_field(const redisReply *rec, const char *name)
{
    if (!rec || rec->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < rec->elements; i += 2) {
        const redisReply *k = rec->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
            !strcmp(k->str, name))
            return rec->element[i + 1];
    }
    return NULL;
}

long long remote_int(const redisReply *rec, const char *name, long long dflt)
{
    const redisReply *v = remote_field(rec, name);
    if (!v)
        return dflt;
    if (v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_STATUS)
        return dflt;
    char *end;
    errno = 0;
    long long x = strtoll(v->str, &end, 10);
    return errno || end == v->str || *end ? dflt : x;
}

const char *remote_str(const redisReply *rec, const char *name)
{
    const redisReply *v = remote_field(rec, name);
    if (v && (v->type == REDIS_REPLY_STRING || v->type == REDIS_REPLY_STATUS))
        return v->str;
    return NULL;
}
