/* pub.c - `tincan pub TYPE [PAYLOAD]`: publishes events (EV.PUB) and prints
 * the position each was stored at.
 *
 * The payload is the argument, or the standard input (absent or "-"), whole
 * or, with --lines, one event per line (the newline dropped, empty lines
 * skipped). Lines are sent pipelined, PUB_WINDOW at a time, so a file of
 * events costs a few group-commit fsyncs rather than one per line. Headers
 * (-H field=value), KEY, ID and KIND are EV.PUB's own options.
 *
 * Not a retrying producer: a refused event (-INVALID, -NOPERM, ...) is
 * reported on stderr with its line number, the other lines are still
 * published, and the exit status is 1. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "remote.h"
#include "sbuf.h"

#define PUB_PROG          "tincan pub"
#define PUB_MAX_HEADERS   64                 /* EV.PUB's limit */
#define PUB_MAX_INPUT     ((size_t)64 << 20) /* max-payload's upper bound */
#define PUB_REPLY_TIMEOUT 300 /* s: a reply waits for its fsync, not longer */
#define PUB_WINDOW        256 /* EV.PUBs in flight */
#define PUB_FIXED_ARGS    10  /* EV.PUB type payload + options */

static const char usage_text[] =
    "usage: tincan pub TYPE [PAYLOAD|-] [options]\n"
    "\n"
    "Publishes an event of TYPE (EV.PUB) and prints the position it was "
    "stored\n"
    "at. Without PAYLOAD, or with '-', the payload is the standard input.\n"
    "\n"
    "options:\n"
    "  --lines             each line of the standard input is one event "
    "(the\n"
    "                      newline dropped, empty lines skipped); one "
    "position\n"
    "                      printed per event, in order\n"
    "  -H FIELD=VALUE      a header (repeatable, at most 64)\n"
    "  --key KEY           the entity key\n"
    "  --id ID             idempotency id (a re-send stores nothing new)\n"
    "  --kind K            event (default) or command\n"
    "  --help              this text\n"
    "%s"
    "\n"
    "The standard input is read whole first (at most 64 MiB).\n"
    "exit status: 0 all stored, 1 failed (unreachable, an event refused:\n"
    "the server's error on stderr), 2 bad usage\n";

struct pub_opts {
    struct remote_opts remote;
    const char *type;
    const char *payload; /* NULL: stdin */
    int lines;
    const char *key, *id, *kind;
    const char *hdr[PUB_MAX_HEADERS * 2];
    size_t hdr_len[PUB_MAX_HEADERS * 2];
    int nhdr; /* fields + values */
};

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, PUB_PROG ": %s%s%s\n(tincan pub --help for usage)\n", what,
            arg ? " " : "", arg ? arg : "");
    return 2;
}

static int add_header(struct pub_opts *o, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return usage_error("-H needs FIELD=VALUE, not", kv);
    if (o->nhdr == PUB_MAX_HEADERS * 2)
        return usage_error("too many headers (at most 64)", NULL);
    o->hdr[o->nhdr] = kv;
    o->hdr_len[o->nhdr++] = (size_t)(eq - kv);
    o->hdr[o->nhdr] = eq + 1;
    o->hdr_len[o->nhdr++] = strlen(eq + 1);
    return 0;
}

/* The value option argv[*i] takes (--key, --id, --kind, -H), or NULL. */
static const char **value_slot(struct pub_opts *o, const char *a)
{
    if (!strcmp(a, "--key"))
        return &o->key;
    if (!strcmp(a, "--id"))
        return &o->id;
    if (!strcmp(a, "--kind"))
        return &o->kind;
    return NULL;
}

/* 0 ok, 1 --help printed, 2 usage error printed. */
static int parse_args(int argc, char **argv, struct pub_opts *o)
{
    *o = (struct pub_opts){0};
    remote_opts_init(&o->remote, PUB_PROG);
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot;
        int r = remote_opt(&o->remote, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help")) {
            printf(usage_text, remote_usage);
            return 1;
        }
        if (!strcmp(a, "--lines")) {
            o->lines = 1;
        } else if (!strcmp(a, "-H") || (slot = value_slot(o, a))) {
            if (i + 1 >= argc)
                return usage_error(a, "needs a value");
            if (!strcmp(a, "-H")) {
                if (add_header(o, argv[++i]))
                    return 2;
            } else {
                *slot = argv[++i];
            }
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option", a);
        } else if (npos == 0) {
            o->type = a;
            npos++;
        } else if (npos == 1) {
            o->payload = strcmp(a, "-") ? a : NULL;
            npos++;
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    if (!o->type)
        return usage_error("needs a TYPE", NULL);
    if (o->lines && o->payload)
        return usage_error("--lines reads the standard input: no PAYLOAD",
                           NULL);
    return 0;
}

/* Reads all of stdin into b; 0, or -1 (printed). */
static int read_stdin(struct sbuf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (b->len + n > PUB_MAX_INPUT) {
            fprintf(stderr, PUB_PROG ": the standard input is over 64 MiB (the "
                                     "largest max-payload)\n");
            return -1;
        }
        sbuf_add(b, chunk, n);
    }
    if (ferror(stdin)) {
        fprintf(stderr, PUB_PROG ": reading the standard input: %s\n",
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends one EV.PUB of payload[0..len) to the output buffer. */
static void append_pub(redisContext *c, const struct pub_opts *o,
                       const char *payload, size_t len)
{
    const char *argv[PUB_FIXED_ARGS + PUB_MAX_HEADERS * 2];
    size_t lens[PUB_FIXED_ARGS + PUB_MAX_HEADERS * 2];
    int n = 0;
#define ARG(s, l) (argv[n] = (s), lens[n++] = (l))
    ARG("EV.PUB", 6);
    ARG(o->type, strlen(o->type));
    ARG(payload, len);
    if (o->key)
        ARG("KEY", 3), ARG(o->key, strlen(o->key));
    if (o->id)
        ARG("ID", 2), ARG(o->id, strlen(o->id));
    if (o->kind)
        ARG("KIND", 4), ARG(o->kind, strlen(o->kind));
    if (o->nhdr) {
        ARG("HDR", 3);
        for (int i = 0; i < o->nhdr; i++)
            ARG(o->hdr[i], o->hdr_len[i]);
    }
#undef ARG
    redisAppendCommandArgv(c, n, argv, lens);
}

/* Reads one EV.PUB reply: prints the position, or the error with `line`
 * (0: no line number). Returns 0 stored, 1 refused, -1 connection lost. */
static int take_reply(redisContext *c, const struct pub_opts *o, size_t line)
{
    void *v = NULL;
    if (redisGetReply(c, &v) != REDIS_OK) {
        fprintf(stderr, PUB_PROG ": connection to %s:%d lost: %s\n",
                o->remote.host, o->remote.port,
                c->errstr[0] ? c->errstr : "closed");
        return -1;
    }
    redisReply *r = v;
    int status = 0;
    if (r->type == REDIS_REPLY_INTEGER) {
        printf("%lld\n", r->integer);
    } else {
        if (line)
            fprintf(stderr, PUB_PROG ": line %zu: %s\n", line,
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        else
            fprintf(stderr, PUB_PROG ": %s\n",
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        status = 1;
    }
    freeReplyObject(r);
    return status;
}

/* Publishes every non-empty line of input, PUB_WINDOW in flight. */
static int publish_lines(redisContext *c, const struct pub_opts *o,
                         const struct sbuf *in)
{
    size_t *lineno = xcalloc(PUB_WINDOW, sizeof(*lineno));
    size_t sent = 0, got = 0, line = 0, at = 0;
    int status = 0, lost = 0;
    while (!lost && at < in->len) {
        const char *start = in->data + at;
        const char *nl = memchr(start, '\n', in->len - at);
        size_t len = nl ? (size_t)(nl - start) : in->len - at;
        at += len + 1;
        line++;
        if (!len)
            continue;
        append_pub(c, o, start, len);
        lineno[sent++ % PUB_WINDOW] = line;
        while (!lost && sent - got >= PUB_WINDOW) {
            int r = take_reply(c, o, lineno[got++ % PUB_WINDOW]);
            lost = r < 0;
            status |= r != 0;
        }
    }
    while (!lost && got < sent) {
        int r = take_reply(c, o, lineno[got++ % PUB_WINDOW]);
        lost = r < 0;
        status |= r != 0;
    }
    free(lineno);
    return status;
}

int cli_pub(int argc, char **argv)
{
    struct pub_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    struct sbuf in;
    sbuf_init(&in);
    int status = 1;
    if (!o.payload && read_stdin(&in))
        goto out;
    redisContext *c = remote_connect(&o.remote, PUB_REPLY_TIMEOUT);
    if (!c)
        goto out;
    if (o.lines) {
        status = publish_lines(c, &o, &in);
    } else {
        if (o.payload)
            append_pub(c, &o, o.payload, strlen(o.payload));
        else
            append_pub(c, &o, in.data ? in.data : "", in.len);
        status = take_reply(c, &o, 0) != 0;
    }
    redisFree(c);
    if (fflush(stdout) != 0) {
        fprintf(stderr, PUB_PROG ": writing stdout failed: %s\n",
                strerror(errno));
        status = 1;
    }
out:
    sbuf_deinit(&in);
    return status;
}
