/* loadgen.c - the C load driver of the durable benchmark rows.
 *
 * The durable rows (queues, locks, bus consume) measure how many small
 * writes a server can make durable per second. Driven from Python they
 * measured the driver instead: on two cores the interpreter took most of the
 * CPU and every server looked alike. This driver is one process with one
 * thread per client, each on its own blocking connection, speaking RESP with
 * hiredis (or beanstalk's text protocol), so it costs little and costs the
 * same for every server it drives.
 *
 *   loadgen MODE --port N [--host H] [--clients N] [--seconds S]
 *           [--payload BYTES] [--key K] [--count N] [--pipeline N]
 *           [--publishers N] [--type T]
 *
 * Modes (one "op" is the unit the rate is given in):
 *   queue-tincan     Q.PUSH q p; Q.POP q LEASE 60000; Q.ACK id      op = cycle
 *   queue-redis      LPUSH q p; LMOVE q processing RIGHT LEFT; LREM  op = cycle
 *   queue-beanstalkd put; reserve-with-timeout 0; delete             op = cycle
 *   lock-tincan      LOCK.ACQUIRE l o 30000; LOCK.RELEASE l o token  op = cycle
 *   lock-redis       SET l o NX PX 30000; DEL l                      op = cycle
 *   publish-tincan   EV.PUB --type p, --count of them, pipelined    op = event
 *   publish-redis    XADD --key * p p, likewise                      op = event
 *   consume-tincan   EV.READ --key cN COUNT 100; EV.ACK --key ...    op = event
 *   consume-redis    XREADGROUP GROUP g cN COUNT 100 STREAMS --key >; XACK
 *   bus-e2e          --publishers threads EV.PUB --type (windows of
 *                    --pipeline) while --clients threads EV.READ --key
 *                    COUNT 100 BLOCK 100 and EV.ACK, until --count events
 *                    were consumed                                    op = event
 *
 * Cycle modes run for --seconds; the others until --count events are done
 * (consume modes: until the subscription or group is empty), bounded by
 * --seconds as a time limit. The clock starts once every client is connected
 * and stops when the work is done (bus-e2e: when the last event of --count
 * is acked, not when idle consumers notice). Prints one JSON line:
 *   {"mode": ..., "ops": N, "seconds": S, "ops_per_s": R, "errors": E,
 *    "error": "first error text"}
 * Exit status 1 when any client failed (the JSON line still comes first).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define BATCH 100

struct opts {
    const char *mode;
    const char *host;
    int port;
    int clients;
    int publishers;
    double seconds;
    size_t payload_len;
    const char *key;
    const char *type;
    long long count;
    int pipeline;
};

static struct opts o = {
    .host = "127.0.0.1", .clients = 32, .publishers = 4, .seconds = 5,
    .payload_len = 100, .key = "bench", .type = "bench.created", .count = 100000,
    .pipeline = 100,
};

static char *payload;
static double t_start;                  /* monotonic s: all connected, go */
static double deadline;                 /* monotonic s: every loop stops here */
static double t_done;                   /* when --count events were consumed */
static pthread_barrier_t gate;          /* every client connected, and main */
static atomic_llong ops_done;           /* ops counted by every thread */
static atomic_llong published;          /* bus-e2e publishers' progress */
static atomic_int errors;
static atomic_bool stop_all;
static char first_error[256];
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records a failure ("what: detail") and stops every client. */
static void fail(const char *what, const char *detail)
{
    if (atomic_fetch_add(&errors, 1) == 0) {
        pthread_mutex_lock(&error_lock);
        snprintf(first_error, sizeof first_error, "%s%s%s", what, detail ? ": " : "",
                 detail ? detail : "");
        pthread_mutex_unlock(&error_lock);
    }
    atomic_store(&stop_all, true);
}

/* Every client calls this once, connected or not: the clock starts when all
 * are connected (connecting is not what is measured). */
static void start_gate(void)
{
    pthread_barrier_wait(&gate); /* all connected; main sets the clock */
    pthread_barrier_wait(&gate); /* clock set */
}

static bool running(void)
{
    return !atomic_load(&stop_all) && now_s() < deadline;
}

/* ---- RESP through hiredis ---------------------------------------------- */

static redisContext *resp_connect(void)
{
    struct timeval tv = {.tv_sec = 30};
    redisContext *c = redisConnectWithTimeout(o.host, o.port, tv);
    if (!c || c->err) {
        fail("connect", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
}

/* Runs argv; returns the reply, or NULL after recording why (a transport
 * error or an error reply both count as failures of the run). */
static redisReply *resp_cmd(redisContext *c, int argc, const char **argv,
                            const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        fail("transport", c->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fail("error reply", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Sends n copies of argv pipelined and reads the n replies. */
static bool resp_pipeline(redisContext *c, int n, int argc, const char **argv,
                          const size_t *lens)
{
    for (int i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK) {
            fail("append", c->errstr);
            return false;
        }
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            fail("transport", c->errstr);
            return false;
        }
        bool bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            fail("error reply", r->str);
        freeReplyObject(r);
        if (bad)
            return false;
    }
    return true;
}

static bool is_str(const redisReply *r, const char *s)
{
    return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* The value of field `name` in a flat field/value array (an event in
 * RESP2, a Q.POP job record), or NULL. */
static const redisReply *field(const redisReply *rec, const char *name)
{
    if (rec->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < rec->elements; i += 2)
        if (is_str(rec->element[i], name))
            return rec->element[i + 1];
    return NULL;
}

/* ---- beanstalk's text protocol ----------------------------------------- */

struct line_conn {
    int fd;
    char buf[4096];
    size_t len;
};

static bool line_connect(struct line_conn *lc)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    inet_pton(AF_INET, o.host, &a.sin_addr);
    lc->len = 0;
    lc->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (lc->fd < 0 || connect(lc->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fail("connect", strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(lc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
}

static bool line_send(struct line_conn *lc, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send(lc->fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fail("send", strerror(errno));
            return false;
        }
        data += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads until buf holds `need` bytes, or (need == 0) a whole line. Returns
 * the length of the line without CRLF (need == 0) or need. */
static long line_read(struct line_conn *lc, size_t need)
{
    for (;;) {
        if (need == 0) {
            char *nl = memmem(lc->buf, lc->len, "\r\n", 2);
            if (nl)
                return nl - lc->buf;
        } else if (lc->len >= need) {
            return (long)need;
        }
        if (lc->len == sizeof lc->buf) {
            fail("beanstalk reply too long", NULL);
            return -1;
        }
        ssize_t r = recv(lc->fd, lc->buf + lc->len, sizeof lc->buf - lc->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fail("recv", r == 0 ? "server closed the connection" : strerror(errno));
            return -1;
        }
        lc->len += (size_t)r;
    }
}

static void line_consume(struct line_conn *lc, size_t n)
{
    memmove(lc->buf, lc->buf + n, lc->len - n);
    lc->len -= n;
}

/* ---- the modes ---------------------------------------------------------- */

static bool cycle_queue_tincan(redisContext *c, long n)
{
    (void)n;
    const char *push[] = {"Q.PUSH", o.key, payload};
    size_t push_l[] = {6, strlen(o.key), o.payload_len};
    redisReply *r = resp_cmd(c, 3, push, push_l);
    if (!r)
        return false;
    freeReplyObject(r);
    const char *pop[] = {"Q.POP", o.key, "LEASE", "60000"};
    r = resp_cmd(c, 4, pop, NULL);
    if (!r)
        return false;
    const redisReply *id = r->elements == 1 ? field(r->element[0], "id") : NULL;
    bool ok = id && id->type == REDIS_REPLY_STRING;
    if (ok) {
        const char *ack[] = {"Q.ACK", id->str};
        size_t ack_l[] = {5, id->len};
        redisReply *a = resp_cmd(c, 2, ack, ack_l);
        ok = a && a->type == REDIS_REPLY_INTEGER && a->integer == 1;
        if (a)
            freeReplyObject(a);
    }
    freeReplyObject(r);
    return ok;
}

static bool cycle_queue_redis(redisContext *c, long n)
{
    /* each job unique, as a real job would be, so LREM removes exactly it */
    char job[64 + 4096];
    int hl = snprintf(job, 64, "%ld:", n);
    size_t jl = (size_t)hl + o.payload_len;
    memcpy(job + hl, payload, o.payload_len);
    const char *push[] = {"LPUSH", o.key, job};
    size_t push_l[] = {5, strlen(o.key), jl};
    redisReply *r = resp_cmd(c, 3, push, push_l);
    if (!r)
        return false;
    freeReplyObject(r);
    const char *mv[] = {"LMOVE", o.key, "processing", "RIGHT", "LEFT"};
    r = resp_cmd(c, 5, mv, NULL);
    if (!r)
        return false;
    bool ok = r->type == REDIS_REPLY_STRING;
    if (ok) {
        const char *rem[] = {"LREM", "processing", "1", r->str};
        size_t rem_l[] = {4, 10, 1, r->len};
        redisReply *a = resp_cmd(c, 4, rem, rem_l);
        ok = a && a->type == REDIS_REPLY_INTEGER && a->integer == 1;
        if (a)
            freeReplyObject(a);
    }
    freeReplyObject(r);
    return ok;
}

static bool cycle_lock_tincan(redisContext *c, long n)
{
    char name[32], owner[32];
    int nl = snprintf(name, sizeof name, "lock:%ld", n);
    int ol = snprintf(owner, sizeof owner, "o%ld", n);
    const char *acq[] = {"LOCK.ACQUIRE", name, owner, "30000"};
    size_t acq_l[] = {12, (size_t)nl, (size_t)ol, 5};
    redisReply *r = resp_cmd(c, 4, acq, acq_l);
    if (!r)
        return false;
    bool ok = r->type == REDIS_REPLY_INTEGER;
    if (ok) {
        char tok[32];
        int tl = snprintf(tok, sizeof tok, "%lld", r->integer);
        const char *rel[] = {"LOCK.RELEASE", name, owner, tok};
        size_t rel_l[] = {12, (size_t)nl, (size_t)ol, (size_t)tl};
        redisReply *a = resp_cmd(c, 4, rel, rel_l);
        ok = a && a->type == REDIS_REPLY_INTEGER && a->integer == 1;
        if (a)
            freeReplyObject(a);
    }
    freeReplyObject(r);
    return ok;
}

static bool cycle_lock_redis(redisContext *c, long n)
{
    char name[32], owner[32];
    int nl = snprintf(name, sizeof name, "lock:%ld", n);
    int ol = snprintf(owner, sizeof owner, "o%ld", n);
    const char *set[] = {"SET", name, owner, "NX", "PX", "30000"};
    size_t set_l[] = {3, (size_t)nl, (size_t)ol, 2, 2, 5};
    redisReply *r = resp_cmd(c, 6, set, set_l);
    if (!r)
        return false;
    bool ok = is_str(r, "OK");
    freeReplyObject(r);
    if (!ok)
        return false;
    const char *del[] = {"DEL", name};
    size_t del_l[] = {3, (size_t)nl};
    r = resp_cmd(c, 2, del, del_l);
    ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
        freeReplyObject(r);
    return ok;
}

typedef bool (*cycle_fn)(redisContext *c, long n);

struct client {
    pthread_t thread;
    int index;
    cycle_fn cycle;
};

static void *run_cycles(void *arg)
{
    struct client *cl = arg;
    redisContext *c = resp_connect();
    start_gate();
    long n = (long)cl->index * 100000000L;
    while (c && running()) {
        if (!cl->cycle(c, ++n)) {
            if (!atomic_load(&errors))
                fail("a cycle got an unexpected reply", o.mode);
            break;
        }
        atomic_fetch_add(&ops_done, 1);
    }
    if (c)
        redisFree(c);
    return NULL;
}

static void *run_beanstalkd(void *arg)
{
    (void)arg;
    struct line_conn lc;
    bool ok = line_connect(&lc);
    start_gate();
    if (!ok)
        return NULL;
    char put[64 + 4096];
    int hl = snprintf(put, 64, "put 100 0 60 %zu\r\n", o.payload_len);
    memcpy(put + hl, payload, o.payload_len);
    memcpy(put + hl + o.payload_len, "\r\n", 2);
    size_t put_len = (size_t)hl + o.payload_len + 2;
    while (running()) {
        long n;
        if (!line_send(&lc, put, put_len) || (n = line_read(&lc, 0)) < 0)
            break;
        if (strncmp(lc.buf, "INSERTED", 8) != 0) {
            fail("put", "not INSERTED");
            break;
        }
        line_consume(&lc, (size_t)n + 2);
        if (!line_send(&lc, "reserve-with-timeout 0\r\n", 24) || (n = line_read(&lc, 0)) < 0)
            break;
        unsigned long long id;
        size_t size;
        char hdr[128];
        snprintf(hdr, sizeof hdr, "%.*s", (int)n, lc.buf);
        if (sscanf(hdr, "RESERVED %llu %zu", &id, &size) != 2) {
            fail("reserve", hdr);
            break;
        }
        line_consume(&lc, (size_t)n + 2);
        if (line_read(&lc, size + 2) < 0)
            break;
        line_consume(&lc, size + 2);
        char del[64];
        int dl = snprintf(del, sizeof del, "delete %llu\r\n", id);
        if (!line_send(&lc, del, (size_t)dl) || (n = line_read(&lc, 0)) < 0)
            break;
        if (strncmp(lc.buf, "DELETED", 7) != 0) {
            fail("delete", "not DELETED");
            break;
        }
        line_consume(&lc, (size_t)n + 2);
        atomic_fetch_add(&ops_done, 1);
    }
    close(lc.fd);
    return NULL;
}

/* Publishes its share of --count events in windows of --pipeline. */
static void *run_publish(void *arg)
{
    struct client *cl = arg;
    redisContext *c = resp_connect();
    start_gate();
    bool tincan = strcmp(o.mode, "publish-redis") != 0;
    int share_of = strcmp(o.mode, "bus-e2e") == 0 ? o.publishers : o.clients;
    long long share = o.count / share_of + (cl->index < o.count % share_of);
    const char *pub[] = {"EV.PUB", o.type, payload};
    size_t pub_l[] = {6, strlen(o.type), o.payload_len};
    const char *xadd[] = {"XADD", o.key, "*", "p", payload};
    size_t xadd_l[] = {4, strlen(o.key), 1, 1, o.payload_len};
    while (c && share > 0 && running()) {
        int n = share < o.pipeline ? (int)share : o.pipeline;
        bool ok = tincan ? resp_pipeline(c, n, 3, pub, pub_l)
                         : resp_pipeline(c, n, 5, xadd, xadd_l);
        if (!ok)
            break;
        share -= n;
        atomic_fetch_add(&published, n);
        if (strncmp(o.mode, "publish", 7) == 0)
            atomic_fetch_add(&ops_done, n);
    }
    if (c)
        redisFree(c);
    return NULL;
}

/* Reads and acks batches until the subscription (group) is empty, or, in
 * bus-e2e, until every published event was consumed. */
static void *run_consume(void *arg)
{
    struct client *cl = arg;
    redisContext *c = resp_connect();
    start_gate();
    bool tincan = strcmp(o.mode, "consume-redis") != 0;
    bool e2e = strcmp(o.mode, "bus-e2e") == 0;
    char name[32];
    snprintf(name, sizeof name, "c%d", cl->index);
    const char *argv[2 + 2 * BATCH + 8];
    size_t lens[2 + 2 * BATCH + 8];
    char num[BATCH][24];
    while (c && running()) {
        redisReply *r;
        if (tincan) {
            const char *rd[] = {"EV.READ", o.key, name, "COUNT", "100", "BLOCK", "100"};
            r = resp_cmd(c, e2e ? 7 : 5, rd, NULL);
        } else {
            const char *rd[] = {"XREADGROUP", "GROUP", "g", name, "COUNT", "100",
                                "STREAMS", o.key, ">"};
            r = resp_cmd(c, 9, rd, NULL);
        }
        if (!r)
            break;
        const redisReply *evs = r;
        if (!tincan)    /* [[key, [[id, fields], ...]]] or nil */
            evs = r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? r->element[0]->element[1]
                                                                    : NULL;
        size_t n = evs && evs->type == REDIS_REPLY_ARRAY ? evs->elements : 0;
        if (n == 0) {
            freeReplyObject(r);
            if (!e2e)
                break;
            if (atomic_load(&ops_done) >= o.count)
                break;
            continue;
        }
        int argc = 0;
        if (tincan) {
            argv[argc] = "EV.ACK", lens[argc++] = 6;
            argv[argc] = o.key, lens[argc++] = strlen(o.key);
        } else {
            argv[argc] = "XACK", lens[argc++] = 4;
            argv[argc] = o.key, lens[argc++] = strlen(o.key);
            argv[argc] = "g", lens[argc++] = 1;
        }
        bool ok = true;
        for (size_t i = 0; i < n && i < BATCH; i++) {
            const redisReply *id = tincan ? field(evs->element[i], "position")
                                          : evs->element[i]->element[0];
            if (!id) {
                fail("reply without a position", NULL);
                ok = false;
                break;
            }
            if (id->type == REDIS_REPLY_INTEGER) {
                lens[argc] = (size_t)snprintf(num[i], sizeof num[i], "%lld", id->integer);
                argv[argc++] = num[i];
            } else {
                argv[argc] = id->str, lens[argc++] = id->len;
            }
        }
        redisReply *a = ok ? resp_cmd(c, argc, argv, lens) : NULL;
        ok = a && a->type == REDIS_REPLY_INTEGER && a->integer == (long long)n;
        if (a && !ok)
            fail("ack did not remove every event", NULL);
        if (a)
            freeReplyObject(a);
        freeReplyObject(r);
        if (!ok)
            break;
        long long before = atomic_fetch_add(&ops_done, (long long)n);
        if (e2e && before + (long long)n >= o.count) {
            if (before < o.count)
                t_done = now_s(); /* this batch completed the count */
            break;
        }
    }
    if (c)
        redisFree(c);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen MODE --port N [--host H] [--clients N] [--seconds S]\n"
                    "       [--payload BYTES] [--key K] [--count N] [--pipeline N]\n"
                    "       [--publishers N] [--type T]   (see bench/loadgen.c)\n");
    exit(2);
}

static long parse_num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        usage();
    return v;
}

static void parse(int argc, char **argv)
{
    if (argc < 2)
        usage();
    o.mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--host"))
            o.host = v;
        else if (!strcmp(k, "--port"))
            o.port = (int)parse_num(v, 1, 65535);
        else if (!strcmp(k, "--clients"))
            o.clients = (int)parse_num(v, 1, MAX_CLIENTS);
        else if (!strcmp(k, "--publishers"))
            o.publishers = (int)parse_num(v, 1, MAX_CLIENTS);
        else if (!strcmp(k, "--seconds"))
            o.seconds = (double)parse_num(v, 1, 3600);
        else if (!strcmp(k, "--payload"))
            o.payload_len = (size_t)parse_num(v, 1, 4096);
        else if (!strcmp(k, "--key"))
            o.key = v;
        else if (!strcmp(k, "--type"))
            o.type = v;
        else if (!strcmp(k, "--count"))
            o.count = parse_num(v, 1, 1000000000L);
        else if (!strcmp(k, "--pipeline"))
            o.pipeline = (int)parse_num(v, 1, 100000);
        else
            usage();
    }
    if (!o.port)
        usage();
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    payload = malloc(o.payload_len + 1);
    memset(payload, 'x', o.payload_len);
    payload[o.payload_len] = '\0';

    void *(*fn)(void *) = run_cycles;
    cycle_fn cycle = NULL;
    int publishers = 0;
    if (!strcmp(o.mode, "queue-tincan"))
        cycle = cycle_queue_tincan;
    else if (!strcmp(o.mode, "queue-redis"))
        cycle = cycle_queue_redis;
    else if (!strcmp(o.mode, "lock-tincan"))
        cycle = cycle_lock_tincan;
    else if (!strcmp(o.mode, "lock-redis"))
        cycle = cycle_lock_redis;
    else if (!strcmp(o.mode, "queue-beanstalkd"))
        fn = run_beanstalkd;
    else if (!strcmp(o.mode, "publish-tincan") || !strcmp(o.mode, "publish-redis"))
        fn = run_publish;
    else if (!strcmp(o.mode, "consume-tincan") || !strcmp(o.mode, "consume-redis"))
        fn = run_consume;
    else if (!strcmp(o.mode, "bus-e2e"))
        fn = run_consume, publishers = o.publishers;
    else
        usage();

    static struct client cl[2 * MAX_CLIENTS];
    int total = o.clients + publishers;
    pthread_barrier_init(&gate, NULL, (unsigned)total + 1);
    deadline = now_s() + o.seconds + 60; /* connecting; reset at the gate */
    for (int i = 0; i < total; i++) {
        cl[i].index = i < o.clients ? i : i - o.clients;
        cl[i].cycle = cycle;
        void *(*f)(void *) = i < o.clients ? fn : run_publish;
        if (pthread_create(&cl[i].thread, NULL, f, &cl[i]) != 0) {
            fprintf(stderr, "loadgen: pthread_create failed\n");
            return 1;
        }
    }
    pthread_barrier_wait(&gate);
    t_start = now_s();
    deadline = t_start + o.seconds;
    pthread_barrier_wait(&gate);
    for (int i = 0; i < total; i++)
        pthread_join(cl[i].thread, NULL);
    double took = (t_done > 0 ? t_done : now_s()) - t_start;
    long long done = atomic_load(&ops_done);
    if (strcmp(o.mode, "bus-e2e") == 0 && done < o.count && !atomic_load(&errors))
        fail("time limit reached before every event was consumed", NULL);
    printf("{\"mode\": \"%s\", \"ops\": %lld, \"seconds\": %.3f, \"ops_per_s\": %.1f, "
           "\"errors\": %d, \"error\": \"",
           o.mode, done, took, took > 0 ? (double)done / took : 0.0, atomic_load(&errors));
    for (const char *p = first_error; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\"}\n");
    free(payload);
    return atomic_load(&errors) ? 1 : 0;
}
