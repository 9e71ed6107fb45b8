/* top.c - `tincan top`: a refreshing terminal view of a server: clients,
 * events and the publish rate, then per type, subscription, queue, lock and
 * ring one line each.
 *
 * Each frame comes from two samples --interval ms apart (rates are the
 * difference of counters over the time between them). A sample is a
 * handful of RESP commands parsed by hiredis: INFO, EV.INFO, EV.TYPES,
 * EV.SUBS, Q.QUEUES + Q.INFO per queue, LOCK.LIST + LOCK.INFO per lock,
 * RING.RINGS. On a terminal the screen is cleared and redrawn with ANSI
 * escapes (no curses), the keyboard put in non-canonical mode so that `q`
 * quits at once, and restored on q, Ctrl-C, SIGTERM or a lost connection.
 * --once prints one frame without any escape code and exits (scripts,
 * tests).
 *
 * Not a monitor that keeps history: nothing is stored between frames but
 * the previous sample. At most TOP_MAX_ROWS lines per section are shown
 * (the rest counted as "... N more"). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "remote.h"
#include "sbuf.h"

#define TOP_PROG             "tincan top"
#define TOP_MAX_ROWS         50      /* lines shown per section */
#define TOP_DEFAULT_INTERVAL 1000    /* ms */
#define TOP_MAX_INTERVAL     3600000 /* ms */
#define TOP_REPLY_TIMEOUT    30      /* s, for any reply */
#define TOP_NAME_WIDTH       32      /* name column, wider names are cut */

static const char usage_text[] =
    "usage: tincan top [--interval MS] [--once] [options]\n"
    "\n"
    "A refreshing view of a server: clients, stored events and the publish\n"
    "rate, then per event type its rate and count, per subscription held,\n"
    "ready, dead and lag, per queue its depths, the locks held and the "
    "rings.\n"
    "Rates are computed between two samples --interval apart. q or Ctrl-C\n"
    "quits.\n"
    "\n"
    "options:\n"
    "  --interval MS       time between samples, 10..3600000 (default 1000)\n"
    "  --once              print one frame (two samples) without escape "
    "codes\n"
    "                      and exit\n"
    "  --help              this text\n"
    "%s"
    "\n"
    "exit status: 0 done, 1 failed (unreachable, refused, connection lost),\n"
    "2 bad usage\n";

struct top_opts {
    struct remote_opts remote;
    long interval; /* ms */
    int once;
};

struct sample {
    double t; /* s, monotonic */
    long long clients, uptime, events, head;
    redisReply *types;  /* EV.TYPES */
    redisReply *subs;   /* EV.SUBS */
    redisReply *queues; /* Q.QUEUES */
    redisReply **qinfo; /* Q.INFO per shown queue */
    redisReply *locks;  /* LOCK.LIST */
    redisReply **linfo; /* LOCK.INFO per shown lock */
    redisReply *rings;  /* RING.RINGS */
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
    fprintf(stderr, TOP_PROG ": %s%s%s\n(tincan top --help for usage)\n", what,
            arg ? " " : "", arg ? arg : "");
    return 2;
}

/* 0 ok, 1 --help printed, 2 usage error printed. */
static int parse_args(int argc, char **argv, struct top_opts *o)
{
    *o = (struct top_opts){.interval = TOP_DEFAULT_INTERVAL};
    remote_opts_init(&o->remote, TOP_PROG);
    o->remote.name = "tincan-top";
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
        if (!strcmp(a, "--once")) {
            o->once = 1;
        } else if (!strcmp(a, "--interval")) {
            if (i + 1 >= argc)
                return usage_error(a, "needs a value");
            char *end;
            const char *v = argv[++i];
            errno = 0;
            o->interval = strtol(v, &end, 10);
            if (errno || end == v || *end || o->interval < 10 ||
                o->interval > TOP_MAX_INTERVAL)
                return usage_error("--interval must be 10..3600000 ms, not", v);
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The integer after "key:" at the start of a line of an INFO text, or -1. */
static long long info_int(const char *info, const char *key)
{
    size_t kl = strlen(key);
    const char *line = info;
    while (line && *line) {
        if (!strncmp(line, key, kl) && line[kl] == ':')
            return strtoll(line + kl + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

/* Runs a command built from words; NULL and printed on a lost connection
 * or an error reply (unless `err_ok`). */
static redisReply *run(redisContext *c, const struct top_opts *o, int err_ok,
                       int argc, const char **argv)
{
    redisReply *r = remote_command(c, &o->remote, argc, argv);
    if (r && r->type == REDIS_REPLY_ERROR && !err_ok) {
        fprintf(stderr, TOP_PROG ": %s refused: %s\n", argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* One reply per shown name of `names`: `cmd name`. */
static redisReply **per_name(redisContext *c, const struct top_opts *o,
                             const char *cmd, const redisReply *names)
{
    size_t n = names->elements < TOP_MAX_ROWS ? names->elements : TOP_MAX_ROWS;
    redisReply **out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        if (names->element[i]->type != REDIS_REPLY_STRING)
            continue;
        const char *argv[] = {cmd, names->element[i]->str};
        if (!(out[i] = run(c, o, 1, 2, argv)) && c->err) {
            for (size_t j = 0; j < i; j++)
                freeReplyObject(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static void sample_free(struct sample *s)
{
    size_t nq = s->queues ? s->queues->elements : 0;
    size_t nl = s->locks ? s->locks->elements : 0;
    for (size_t i = 0; s->qinfo && i < nq && i < TOP_MAX_ROWS; i++)
        freeReplyObject(s->qinfo[i]);
    for (size_t i = 0; s->linfo && i < nl && i < TOP_MAX_ROWS; i++)
        freeReplyObject(s->linfo[i]);
    free(s->qinfo);
    free(s->linfo);
    freeReplyObject(s->types);
    freeReplyObject(s->subs);
    freeReplyObject(s->queues);
    freeReplyObject(s->locks);
    freeReplyObject(s->rings);
    *s = (struct sample){0};
}

static int is_array(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY;
}

/* Takes a sample; 0, or -1 (printed). */
static int sample_take(redisContext *c, const struct top_opts *o,
                       struct sample *s)
{
    const char *info[] = {"INFO"}, *evinfo[] = {"EV.INFO"},
               *types[] = {"EV.TYPES"}, *subs[] = {"EV.SUBS"},
               *queues[] = {"Q.QUEUES"}, *locks[] = {"LOCK.LIST"},
               *rings[] = {"RING.RINGS"};
    *s = (struct sample){.t = now_s()};
    redisReply *r = run(c, o, 0, 1, info);
    if (!r)
        return -1;
    s->clients = info_int(r->str, "connected_clients");
    s->uptime = info_int(r->str, "uptime_in_seconds");
    freeReplyObject(r);
    if (!(r = run(c, o, 0, 1, evinfo)))
        return -1;
    s->events = remote_int(r, "events", 0);
    s->head = remote_int(r, "last_position", 0);
    freeReplyObject(r);
    if (!(s->types = run(c, o, 0, 1, types)) ||
        !(s->subs = run(c, o, 0, 1, subs)) ||
        !(s->queues = run(c, o, 0, 1, queues)) ||
        !(s->locks = run(c, o, 0, 1, locks)) ||
        !(s->rings = run(c, o, 0, 1, rings)) || !is_array(s->types) ||
        !is_array(s->subs) || !is_array(s->queues) || !is_array(s->locks) ||
        !is_array(s->rings) ||
        !(s->qinfo = per_name(c, o, "Q.INFO", s->queues)) ||
        !(s->linfo = per_name(c, o, "LOCK.INFO", s->locks))) {
        sample_free(s);
        return -1;
    }
    return 0;
}

/* The count of `type` in an EV.TYPES reply, or -1. */
static long long type_count(const redisReply *types, const char *type)
{
    for (size_t i = 0; i < types->elements; i++) {
        const char *t = remote_str(types->element[i], "type");
        if (t && !strcmp(t, type))
            return remote_int(types->element[i], "count", 0);
    }
    return -1;
}

static double rate(long long now, long long before, double dt)
{
    return before < 0 || now < before || dt <= 0 ? 0.0
                                                 : (double)(now - before) / dt;
}

static void more(struct sbuf *f, size_t n)
{
    if (n > TOP_MAX_ROWS)
        sbuf_addf(f, "  ... %zu more\n", n - TOP_MAX_ROWS);
}

static void frame_types(struct sbuf *f, const struct sample *a,
                        const struct sample *b, double dt)
{
    sbuf_addf(f, "\nTYPES %zu\n  %-*s %10s %12s %14s\n", b->types->elements,
              TOP_NAME_WIDTH, "type", "rate/s", "count", "last_position");
    for (size_t i = 0; i < b->types->elements && i < TOP_MAX_ROWS; i++) {
        const redisReply *t = b->types->element[i];
        const char *name = remote_str(t, "type");
        long long n = remote_int(t, "count", 0);
        sbuf_addf(f, "  %-*.*s %10.1f %12lld %14lld\n", TOP_NAME_WIDTH,
                  TOP_NAME_WIDTH, name ? name : "?",
                  rate(n, type_count(a->types, name ? name : ""), dt), n,
                  remote_int(t, "last_position", 0));
    }
    more(f, b->types->elements);
}

static void frame_subs(struct sbuf *f, const struct sample *b)
{
    sbuf_addf(f, "\nSUBSCRIPTIONS %zu\n  %-*s %8s %8s %8s %10s %9s\n",
              b->subs->elements, TOP_NAME_WIDTH, "name", "held", "ready",
              "dead", "lag", "consumers");
    for (size_t i = 0; i < b->subs->elements && i < TOP_MAX_ROWS; i++) {
        const redisReply *s = b->subs->element[i];
        const char *name = remote_str(s, "name");
        sbuf_addf(f, "  %-*.*s %8lld %8lld %8lld %10lld %9lld\n",
                  TOP_NAME_WIDTH, TOP_NAME_WIDTH, name ? name : "?",
                  remote_int(s, "delivered", 0), remote_int(s, "waiting", 0),
                  remote_int(s, "dead", 0), remote_int(s, "lag", 0),
                  remote_int(s, "consumers_count", 0));
    }
    more(f, b->subs->elements);
}

static void frame_queues(struct sbuf *f, const struct sample *b)
{
    sbuf_addf(f, "\nQUEUES %zu\n  %-*s %8s %8s %8s %8s %10s\n",
              b->queues->elements, TOP_NAME_WIDTH, "name", "ready", "leased",
              "delayed", "dead", "oldest_s");
    for (size_t i = 0; i < b->queues->elements && i < TOP_MAX_ROWS; i++) {
        const redisReply *q = b->qinfo[i];
        sbuf_addf(f, "  %-*.*s %8lld %8lld %8lld %8lld %10.1f\n",
                  TOP_NAME_WIDTH, TOP_NAME_WIDTH, b->queues->element[i]->str,
                  remote_int(q, "ready", 0), remote_int(q, "leased", 0),
                  remote_int(q, "delayed", 0), remote_int(q, "dead", 0),
                  (double)remote_int(q, "oldest_age_ms", 0) / 1000.0);
    }
    more(f, b->queues->elements);
}

static void frame_locks(struct sbuf *f, const struct sample *b)
{
    sbuf_addf(f, "\nLOCKS %zu\n  %-*s %-20s %10s %8s %12s\n",
              b->locks->elements, TOP_NAME_WIDTH, "name", "owner", "token",
              "waiters", "remaining_ms");
    for (size_t i = 0; i < b->locks->elements && i < TOP_MAX_ROWS; i++) {
        const redisReply *l = b->linfo[i];
        if (!is_array(l))
            continue; /* released between LOCK.LIST and LOCK.INFO */
        const char *owner = remote_str(l, "owner");
        sbuf_addf(f, "  %-*.*s %-20.20s %10lld %8lld %12lld\n", TOP_NAME_WIDTH,
                  TOP_NAME_WIDTH, b->locks->element[i]->str,
                  owner ? owner : "?", remote_int(l, "token", 0),
                  remote_int(l, "waiters", 0),
                  remote_int(l, "remaining_ms", 0));
    }
    more(f, b->locks->elements);
}

static void frame_rings(struct sbuf *f, const struct sample *b)
{
    sbuf_addf(f, "\nRINGS %zu\n  %-*s %8s %8s %6s\n", b->rings->elements,
              TOP_NAME_WIDTH, "name", "members", "healthy", "check");
    for (size_t i = 0; i < b->rings->elements && i < TOP_MAX_ROWS; i++) {
        const redisReply *r = b->rings->element[i];
        const char *name = remote_str(r, "name"),
                   *check = remote_str(r, "check");
        sbuf_addf(f, "  %-*.*s %8lld %8lld %6s\n", TOP_NAME_WIDTH,
                  TOP_NAME_WIDTH, name ? name : "?",
                  remote_int(r, "members", 0), remote_int(r, "healthy", 0),
                  check ? check : "?");
    }
    more(f, b->rings->elements);
}

/* The frame of sample b against the earlier sample a. */
static void frame(struct sbuf *f, const struct top_opts *o,
                  const struct sample *a, const struct sample *b)
{
    double dt = b->t - a->t;
    sbuf_addf(f,
              "tincan %s:%d  uptime %llds  clients %lld  events %lld  head "
              "@%lld  publish %.1f/s\n",
              o->remote.host, o->remote.port, b->uptime, b->clients, b->events,
              b->head, rate(b->events, a->events, dt));
    frame_types(f, a, b, dt);
    frame_subs(f, b);
    frame_queues(f, b);
    frame_locks(f, b);
    frame_rings(f, b);
}

enum wait_result { WAIT_TIMEOUT, WAIT_QUIT };

/* Waits ms, or less when q is typed (keys: stdin is a terminal) or a signal
 * comes. */
static enum wait_result wait_ms(long ms, int keys)
{
    double end = now_s() + (double)ms / 1000.0;
    for (;;) {
        double left = end - now_s();
        if (left <= 0)
            return WAIT_TIMEOUT;
        struct pollfd fds[2] = {{.fd = stop_pipe[0], .events = POLLIN},
                                {.fd = keys ? 0 : -1, .events = POLLIN}};
        int n = poll(fds, 2, (int)(left * 1000.0) + 1);
        if (n < 0 && errno != EINTR)
            return WAIT_QUIT;
        if (fds[0].revents)
            return WAIT_QUIT;
        if (fds[1].revents) {
            char ch;
            ssize_t got = read(0, &ch, 1);
            if (got <= 0 || ch == 'q' || ch == 'Q' || ch == 3)
                return WAIT_QUIT;
        }
    }
}

static int install_signals(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        fprintf(stderr, TOP_PROG ": pipe: %s\n", strerror(errno));
        return -1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Prints frames until quit; returns the exit status. */
static int run_frames(redisContext *c, const struct top_opts *o, int keys)
{
    struct sample a, b;
    struct sbuf f;
    int status = 0;
    if (sample_take(c, o, &a))
        return 1;
    sbuf_init(&f);
    for (;;) {
        if (wait_ms(o->interval, keys) == WAIT_QUIT)
            break;
        if (sample_take(c, o, &b)) {
            status = 1;
            break;
        }
        sbuf_clear(&f);
        if (!o->once)
            sbuf_adds(&f, "\033[H\033[2J");
        frame(&f, o, &a, &b);
        sample_free(&a);
        a = b;
        if (fwrite(f.data, 1, f.len, stdout) != f.len || fflush(stdout)) {
            status = errno == EPIPE ? 0 : 1;
            if (status)
                fprintf(stderr, TOP_PROG ": writing stdout failed: %s\n",
                        strerror(errno));
            break;
        }
        if (o->once)
            break;
    }
    sample_free(&a);
    sbuf_deinit(&f);
    return status;
}

int cli_top(int argc, char **argv)
{
    struct top_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (install_signals())
        return 1;
    redisContext *c = remote_connect(&o.remote, TOP_REPLY_TIMEOUT);
    if (!c)
        return 1;
    struct termios saved;
    int keys = !o.once && isatty(0) && tcgetattr(0, &saved) == 0;
    if (keys) {
        struct termios raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        tcsetattr(0, TCSANOW, &raw);
    }
    if (!o.once && isatty(1))
        fputs("\033[?25l", stdout); /* hide the cursor while redrawing */
    int status = run_frames(c, &o, keys);
    if (!o.once && isatty(1))
        fputs("\033[?25h", stdout);
    fflush(stdout);
    if (keys)
        tcsetattr(0, TCSANOW, &saved);
    redisFree(c);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return status;
}
