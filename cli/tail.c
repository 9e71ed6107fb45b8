/* tail.c - `tincan tail PATTERN...`: follows the events whose type matches
 * the patterns, live, one line each (like `nats sub` or `kcat -C`).
 *
 * It makes an EPHEMERAL subscription with a generated unique name
 * (tail-<pid>-<random>), reads it with EV.READ ... BLOCK 0, prints and
 * flushes each event, and acks a batch once it is printed. SIGINT and SIGTERM
 * remove the subscription (EV.UNSUB, from a second connection when the first
 * is blocked in EV.READ) and exit 0; so do --count N events and a closed
 * stdout. The wait for a reply is a poll() on the socket and a self-pipe the
 * signal handler writes, so a signal is served at once; hiredis parses every
 * reply.
 *
 * Not a durable consumer: no reconnection. A lost connection exits 1, and
 * the server drops an ephemeral subscription when its connection closes. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "event_format.h"
#include "remote.h"

#define TAIL_PROG          "tincan tail"
#define TAIL_MAX_BATCH     100 /* events per EV.READ */
#define TAIL_MAX_PATTERNS  64  /* EV.SUB's limit */
#define TAIL_UNSUB_TIMEOUT 30  /* s, for the EV.UNSUB at exit */

static const char usage_text[] =
    "usage: tincan tail PATTERN [PATTERN...] [options]\n"
    "\n"
    "Prints the events whose type matches a topic PATTERN ('order.*', "
    "'billing.#',\n"
    "'#' for all) as they are stored, one line each, flushed at once. An\n"
    "ephemeral subscription with a unique name carries them; it is removed "
    "when\n"
    "tail exits (Ctrl-C, SIGTERM, --count reached, stdout closed).\n"
    "\n"
    "options:\n"
    "  --from WHERE        now (default), beginning, a time in ms since the "
    "epoch,\n"
    "                      or @POSITION\n"
    "  --format F          text (default): TIME @POSITION TYPE PAYLOAD, "
    "escaped;\n"
    "                      json: one object a line (payload, or "
    "payload_base64\n"
    "                      when it is not UTF-8); raw: payload bytes only\n"
    "  --count N           exit after N events\n"
    "  --help              this text\n"
    "%s"
    "\n"
    "exit status: 0 done (or interrupted), 1 failed (unreachable, refused,\n"
    "connection lost), 2 bad usage\n";

struct tail_opts {
    struct remote_opts remote;
    const char *patterns[TAIL_MAX_PATTERNS];
    int npatterns;
    const char *from; /* EV.SUB FROM value */
    enum event_format format;
    long long count; /* events to print, 0 = no limit */
};

static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    char ch = (char)sig;
    if (write(stop_pipe[1], &ch, 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, TAIL_PROG ": %s%s%s\n(tincan tail --help for usage)\n",
            what, arg ? " " : "", arg ? arg : "");
    return 2;
}

/* The EV.SUB FROM value of --from, or NULL if it is none. */
static const char *from_value(const char *s)
{
    if (!strcmp(s, "now"))
        return "NOW";
    if (!strcmp(s, "beginning"))
        return "BEGINNING";
    const char *digits = s[0] == '@' ? s + 1 : s;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits))
        return NULL;
    return s;
}

/* Takes the value of --from, --format or --count (option `a`); 0, or 2
 * (usage error printed). */
static int take_value(struct tail_opts *o, const char *a, const char *v)
{
    if (!strcmp(a, "--from")) {
        if (!(o->from = from_value(v)))
            return usage_error(
                "--from must be now, beginning, ms or @position, not", v);
    } else if (!strcmp(a, "--format")) {
        if (event_format_parse(v, &o->format))
            return usage_error("--format must be text, json or raw, not", v);
    } else {
        char *end;
        errno = 0;
        o->count = strtoll(v, &end, 10);
        if (errno || end == v || *end || o->count < 1)
            return usage_error("--count must be a positive integer, not", v);
    }
    return 0;
}

/* 0 ok, 1 --help printed, 2 usage error printed. */
static int parse_args(int argc, char **argv, struct tail_opts *o)
{
    *o = (struct tail_opts){.from = "NOW", .format = EVENT_FORMAT_TEXT};
    remote_opts_init(&o->remote, TAIL_PROG);
    o->remote.name = "tincan-tail";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = remote_opt(&o->remote, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help")) {
            printf(usage_text, remote_usage);
            return 1;
        }
        if (!strcmp(a, "--from") || !strcmp(a, "--format") ||
            !strcmp(a, "--count")) {
            if (i + 1 >= argc)
                return usage_error(a, "needs a value");
            if (take_value(o, a, argv[++i]))
                return 2;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option", a);
        } else if (o->npatterns == TAIL_MAX_PATTERNS) {
            return usage_error("too many patterns (at most 64)", NULL);
        } else {
            o->patterns[o->npatterns++] = a;
        }
    }
    if (!o->npatterns)
        return usage_error("needs at least one PATTERN ('#' for all)", NULL);
    return 0;
}

static void make_name(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long r = (unsigned long long)ts.tv_nsec ^
                           ((unsigned long long)ts.tv_sec << 20) ^
                           ((unsigned long long)getpid() << 40);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
            /* keep the clock-based value */
        }
        close(fd);
    }
    snprintf(buf, len, "tail-%ld-%016llx", (long)getpid(), r);
}

static int subscribe(redisContext *c, const struct tail_opts *o,
                     const char *name)
{
    const char *argv[TAIL_MAX_PATTERNS + 5];
    int n = 0;
    argv[n++] = "EV.SUB";
    argv[n++] = name;
    for (int i = 0; i < o->npatterns; i++)
        argv[n++] = o->patterns[i];
    argv[n++] = "FROM";
    argv[n++] = o->from;
    argv[n++] = "EPHEMERAL";
    redisReply *r = remote_command(c, &o->remote, n, argv);
    if (!r)
        return -1;
    int bad = r->type != REDIS_REPLY_INTEGER || r->integer != 1;
    if (bad)
        fprintf(stderr, TAIL_PROG ": EV.SUB refused: %s\n",
                r->type == REDIS_REPLY_ERROR ? r->str
                                             : "subscription name taken");
    freeReplyObject(r);
    return bad ? -1 : 0;
}

/* Removes the subscription; over `c` if it is idle, else over a new
 * connection (the blocked EV.READ on `c` then gets -NOSUB). */
static void unsubscribe(redisContext *c, int c_busy, const struct tail_opts *o,
                        const char *name)
{
    redisContext *other = NULL;
    if (c_busy || !c) {
        other = remote_connect(&o->remote, TAIL_UNSUB_TIMEOUT);
        if (!other)
            return;
        c = other;
    }
    const char *argv[] = {"EV.UNSUB", name};
    redisReply *r = remote_command(c, &o->remote, 2, argv);
    if (r && r->type == REDIS_REPLY_ERROR)
        fprintf(stderr, TAIL_PROG ": EV.UNSUB %s: %s\n", name, r->str);
    freeReplyObject(r);
    redisFree(other);
}

enum wait_result { WAIT_REPLY, WAIT_STOP, WAIT_LOST };

/* Sends the command appended to c and waits for its reply or a stop
 * signal, whichever comes first. */
static enum wait_result wait_reply(redisContext *c, redisReply **reply)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return WAIT_LOST;
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(c, &r) != REDIS_OK)
            return WAIT_LOST;
        if (r) {
            *reply = r;
            return WAIT_REPLY;
        }
        struct pollfd fds[2] = {{.fd = c->fd, .events = POLLIN},
                                {.fd = stop_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return WAIT_LOST;
        if (fds[1].revents)
            return WAIT_STOP;
        if (fds[0].revents && redisBufferRead(c) != REDIS_OK)
            return WAIT_LOST;
    }
}

/* Writes the lines of a batch and acks them. Returns the events printed, or
 * -1 when stdout failed (errno set) or the ack did. */
static long long print_batch(redisContext *c, const struct tail_opts *o,
                             const char *name, const redisReply *events)
{
    const char **ack = xcalloc(events->elements + 2, sizeof(*ack));
    char *nums = xmalloc(events->elements * 21 + 1);
    struct sbuf line;
    sbuf_init(&line);
    int nack = 0;
    long long printed = 0;
    ack[nack++] = "EV.ACK";
    ack[nack++] = name;
    for (size_t i = 0; i < events->elements; i++) {
        const redisReply *ev = events->element[i];
        sbuf_clear(&line);
        if (event_format_line(o->format, ev, &line)) {
            fprintf(stderr, TAIL_PROG ": skipped a reply that is no event\n");
            continue;
        }
        if (fwrite(line.data, 1, line.len, stdout) != line.len ||
            fflush(stdout) != 0) {
            printed = -1;
            break;
        }
        char *num = nums + i * 21;
        snprintf(num, 21, "%lld", remote_int(ev, "position", 0));
        ack[nack++] = num;
        printed++;
    }
    int saved = errno;
    if (nack > 2) {
        redisReply *r = remote_command(c, &o->remote, nack, ack);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            if (r)
                fprintf(stderr, TAIL_PROG ": EV.ACK refused: %s\n", r->str);
            printed = -2;
        }
        freeReplyObject(r);
    }
    sbuf_deinit(&line);
    free(nums);
    free(ack);
    errno = saved;
    return printed;
}

/* Reads and prints until --count, a signal or a failure. Returns the exit
 * status; *busy tells whether an EV.READ was left unanswered. */
static int follow(redisContext *c, const struct tail_opts *o, const char *name,
                  int *busy)
{
    long long seen = 0;
    char count[24];
    for (;;) {
        long long want = TAIL_MAX_BATCH;
        if (o->count && o->count - seen < want)
            want = o->count - seen;
        snprintf(count, sizeof(count), "%lld", want);
        const char *argv[] = {"EV.READ", name, o->remote.name, "COUNT", count,
                              "BLOCK",   "0"};
        redisAppendCommandArgv(c, 7, argv, NULL);
        *busy = 1;
        redisReply *r = NULL;
        enum wait_result w = wait_reply(c, &r);
        if (w == WAIT_STOP)
            return 0;
        if (w == WAIT_LOST) {
            fprintf(stderr, TAIL_PROG ": connection to %s:%d lost: %s\n",
                    o->remote.host, o->remote.port,
                    c->errstr[0] ? c->errstr : "closed");
            return 1;
        }
        *busy = 0;
        if (r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, TAIL_PROG ": EV.READ refused: %s\n",
                    r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
            freeReplyObject(r);
            return 1;
        }
        long long n = print_batch(c, o, name, r);
        freeReplyObject(r);
        if (n == -1 && errno == EPIPE)
            return 0; /* the reader went away: done */
        if (n == -1)
            fprintf(stderr, TAIL_PROG ": writing stdout failed: %s\n",
                    strerror(errno));
        if (n < 0)
            return 1;
        seen += n;
        if (o->count && seen >= o->count)
            return 0;
    }
}

static int install_signals(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        fprintf(stderr, TAIL_PROG ": pipe: %s\n", strerror(errno));
        return -1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int cli_tail(int argc, char **argv)
{
    struct tail_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (install_signals())
        return 1;
    redisContext *c = remote_connect(&o.remote, 0); /* BLOCK 0 */
    if (!c)
        return 1;
    char name[64];
    make_name(name, sizeof(name));
    int status = 1, busy = 0;
    if (subscribe(c, &o, name) == 0) {
        status = follow(c, &o, name, &busy);
        if (!c->err) /* a lost connection took the subscription with it */
            unsubscribe(c, busy, &o, name);
    }
    redisFree(c);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return status;
}
