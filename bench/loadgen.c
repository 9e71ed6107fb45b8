/* loadgen.c - the C load driver of the durable benchmark rows.
 *
 * The durable rows (queues, locks, bus consume) measure how many small
 * writes a server can make durable per second. Driven from Python they
 * measured the driver instead: on two cores the interpreter took most of the
 * CPU and every server looked alike. This driver is one C process speaking
 * RESP with hiredis (or beanstalk's text protocol), so it costs little and
 * costs the same for every server it drives. The cycle modes drive all their
 * connections from one epoll thread (see "cycle modes" below); publish and
 * consume use a thread per connection.
 *
 *   loadgen MODE --port N [--host H] [--clients N] [--seconds S]
 *           [--payload BYTES] [--key K] [--count N] [--pipeline N]
 *           [--publishers N] [--type T] [--payload-kind fixed|json]
 *           [--payload-file PATH]
 *           [--from POSITION] [--to POSITION] [--keys N] [--expect yes]
 *
 * Modes (one "op" is the unit the rate is given in):
 *   queue-tincan     Q.PUSH q p; Q.POP q LEASE 60000; Q.ACK id      op = cycle
 *   queue-redis      LPUSH q p; LMOVE q processing RIGHT LEFT; LREM  op = cycle
 *   queue-beanstalkd put; reserve-with-timeout 0; delete             op = cycle
 *   lock-tincan      LOCK.ACQUIRE l o 30000; LOCK.RELEASE l o token  op = cycle
 *   lock-redis       SET l o NX PX 30000; DEL l                      op = cycle
 *   ping3            PING; PING; PING (the round-trip ceiling of a
 *                    three-command cycle, for any RESP server)       op = cycle
 *   publish-tincan   EV.PUB --type p, --count of them, pipelined    op = event
 *   publish-redis    XADD --key * p p, likewise                      op = event
 *   consume-tincan   EV.READ --key cN COUNT 100; EV.ACK --key ...    op = event
 *   consume-redis    XREADGROUP GROUP g cN COUNT 100 STREAMS --key >; XACK
 *   range-tincan     one client pages EV.RANGE --type FROM @--from TO @--to
 *                    COUNT 10000 FIELDS position,payload to the end of
 *                    the range; adds "bytes" (payload bytes) to the
 *                    JSON line                                        op = event
 *   bus-e2e          --publishers threads EV.PUB --type (windows of
 *                    --pipeline) while --clients threads EV.READ --key
 *                    COUNT 100 BLOCK 100 and EV.ACK, until --count events
 *                    were consumed                                    op = event
 *
 * --keys N (publish-tincan): every event gets KEY <--key>:<client>:<i>; the
 * clients share N distinct keys (each owns N / --clients of them and writes
 * them round robin), so a run touches N entities. --expect yes adds EXPECT v
 * with the key's current version (known, since only its owner writes it:
 * the keys must be new, so give each run its own --key prefix); a CONFLICT
 * reply is an error of the run.
 * --payload-file PATH (publish modes): every event's payload is the file's
 * bytes (at most 1 MiB; binary is fine), e.g. a protobuf message.
 * --payload-kind json (publish modes): instead of --payload bytes of 'x',
 * every event gets its own JSON-like payload of exactly --payload bytes
 * (a sequence number, a user, an amount, a SKU, then random lower-case
 * letters), so that what compresses the events (Parquet's zstd, the
 * archive benchmark) sees data shaped like real events, not one repeated
 * byte.
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
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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
    bool json_payload;
    const char *payload_file;
    long long from, to;
    long keys;
    bool expect;
};

static struct opts o = {
    .host = "127.0.0.1", .clients = 32, .publishers = 4, .seconds = 5,
    .payload_len = 100, .key = "bench", .type = "bench.created", .count = 100000,
    .from = 1, .to = LONG_MAX,
    .pipeline = 100,
};

static char *payload;
static double t_start;                  /* monotonic s: all connected, go */
static double deadline;                 /* monotonic s: every loop stops here */
static double t_done;                   /* when --count events were consumed */
static pthread_barrier_t gate;          /* every client connected, and main */
static atomic_llong ops_done;           /* ops counted by every thread */
static atomic_llong published;          /* bus-e2e publishers' progress */
static atomic_llong range_bytes;       /* range-tincan: payload bytes read */
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

/* Sends n copies of argv, then reads the n replies; n < 0: the -n commands
 * are already appended, only read their replies. */
static bool resp_pipeline(redisContext *c, int n, int argc, const char **argv,
                          const size_t *lens)
{
    if (n < 0)
        n = -n;
    else
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

/* ---- cycle modes: every connection driven by one event loop ------------
 *
 * The cycle modes model --clients workers, each doing one command at a time.
 * They are driven the way redis-benchmark and memtier drive a server: every
 * connection is non-blocking and one thread waits on all of them with epoll.
 * A thread per connection sleeps in the kernel after each command and is
 * woken for each reply; on two cores that driver used as much CPU per cycle
 * as the servers it measured, so the row measured the scheduler. */

#define CMD_MAX 8

struct conn {
    int fd;
    long n;                 /* cycle number, unique across connections */
    int step;               /* which command of the cycle is in flight */
    redisReader *rd;        /* RESP replies (NULL for beanstalk) */
    char in[8192];          /* beanstalk: bytes read, not consumed */
    size_t inlen;
    char job[64 + 4096];    /* argument scratch that lives for one cycle */
    char name[32], owner[32], tok[32];
    char id[128];
    size_t idlen;
    int argc;               /* the next command, for send_cmd */
    const char *argv[CMD_MAX];
    size_t lens[CMD_MAX];
};

/* A step sees the reply to the command in flight (NULL: start a cycle) and
 * either fills c->argc/argv/lens with the next command (returns 0), ends the
 * cycle (1) or finds the reply wrong (-1, after fail()). */
typedef int (*step_fn)(struct conn *c, const redisReply *r);

static void set_cmd(struct conn *c, int argc, const char *const *argv, const size_t *lens)
{
    c->argc = argc;
    for (int i = 0; i < argc; i++) {
        c->argv[i] = argv[i];
        c->lens[i] = lens ? lens[i] : strlen(argv[i]);
    }
}

static int unexpected(const char *what, const redisReply *r)
{
    fail(what, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    return -1;
}

static int step_queue_tincan(struct conn *c, const redisReply *r)
{
    if (!r) {
        const char *push[] = {"Q.PUSH", o.key, payload};
        size_t l[] = {6, strlen(o.key), o.payload_len};
        set_cmd(c, 3, push, l);
        return 0;
    }
    if (c->step == 0) {
        if (r->type != REDIS_REPLY_STRING)
            return unexpected("Q.PUSH", r);
        const char *pop[] = {"Q.POP", o.key, "LEASE", "60000"};
        set_cmd(c, 4, pop, NULL);
        return 0;
    }
    if (c->step == 1) {
        const redisReply *id = r->type == REDIS_REPLY_ARRAY && r->elements == 1
                                   ? field(r->element[0], "id") : NULL;
        if (!id || id->type != REDIS_REPLY_STRING || id->len >= sizeof c->id)
            return unexpected("Q.POP", r);
        memcpy(c->id, id->str, id->len);
        c->idlen = id->len;
        const char *ack[] = {"Q.ACK", c->id};
        size_t l[] = {5, c->idlen};
        set_cmd(c, 2, ack, l);
        return 0;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        return unexpected("Q.ACK", r);
    return 1;
}

static int step_queue_redis(struct conn *c, const redisReply *r)
{
    if (!r) {
        /* each job unique, as a real job would be, so LREM removes exactly it */
        int hl = snprintf(c->job, 64, "%ld:", c->n);
        memcpy(c->job + hl, payload, o.payload_len);
        const char *push[] = {"LPUSH", o.key, c->job};
        size_t l[] = {5, strlen(o.key), (size_t)hl + o.payload_len};
        set_cmd(c, 3, push, l);
        return 0;
    }
    if (c->step == 0) {
        if (r->type != REDIS_REPLY_INTEGER)
            return unexpected("LPUSH", r);
        const char *mv[] = {"LMOVE", o.key, "processing", "RIGHT", "LEFT"};
        set_cmd(c, 5, mv, NULL);
        return 0;
    }
    if (c->step == 1) {
        if (r->type != REDIS_REPLY_STRING || r->len > sizeof c->job)
            return unexpected("LMOVE", r);
        memcpy(c->job, r->str, r->len); /* the job taken, maybe another's */
        const char *rem[] = {"LREM", "processing", "1", c->job};
        size_t l[] = {4, 10, 1, r->len};
        set_cmd(c, 4, rem, l);
        return 0;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        return unexpected("LREM", r);
    return 1;
}

static int step_lock_tincan(struct conn *c, const redisReply *r)
{
    if (!r) {
        snprintf(c->name, sizeof c->name, "lock:%ld", c->n);
        snprintf(c->owner, sizeof c->owner, "o%ld", c->n);
        const char *acq[] = {"LOCK.ACQUIRE", c->name, c->owner, "30000"};
        set_cmd(c, 4, acq, NULL);
        return 0;
    }
    if (c->step == 0) {
        if (r->type != REDIS_REPLY_INTEGER)
            return unexpected("LOCK.ACQUIRE", r);
        snprintf(c->tok, sizeof c->tok, "%lld", r->integer);
        const char *rel[] = {"LOCK.RELEASE", c->name, c->owner, c->tok};
        set_cmd(c, 4, rel, NULL);
        return 0;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        return unexpected("LOCK.RELEASE", r);
    return 1;
}

static int step_lock_redis(struct conn *c, const redisReply *r)
{
    if (!r) {
        snprintf(c->name, sizeof c->name, "lock:%ld", c->n);
        snprintf(c->owner, sizeof c->owner, "o%ld", c->n);
        const char *set[] = {"SET", c->name, c->owner, "NX", "PX", "30000"};
        set_cmd(c, 6, set, NULL);
        return 0;
    }
    if (c->step == 0) {
        if (!is_str(r, "OK"))
            return unexpected("SET NX", r);
        const char *del[] = {"DEL", c->name};
        set_cmd(c, 2, del, NULL);
        return 0;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        return unexpected("DEL", r);
    return 1;
}

/* The round-trip ceiling of a three-command cycle: what any server could
 * reach at best with the queue rows' three round trips and no work. */
static int step_ping3(struct conn *c, const redisReply *r)
{
    if (r && !is_str(r, "PONG"))
        return unexpected("PING", r);
    if (r && c->step == 2)
        return 1;
    const char *ping[] = {"PING"};
    set_cmd(c, 1, ping, NULL);
    return 0;
}

/* Writes all of buf (commands are small: the socket buffer takes them at
 * once, so a short write is waited out with poll, never queued). */
static bool send_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 5000) == 0) {
                fail("send", "the server read nothing for 5 s");
                return false;
            }
            continue;
        }
        if (w <= 0) {
            fail("send", strerror(errno));
            return false;
        }
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

static bool send_cmd(struct conn *c)
{
    char *cmd = NULL;
    long long len = redisFormatCommandArgv(&cmd, c->argc, c->argv, c->lens);
    if (len < 0) {
        fail("format", "out of memory");
        return false;
    }
    bool ok = send_all(c->fd, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return ok;
}

/* The beanstalk cycle: put; reserve-with-timeout 0; delete. Consumes one
 * whole reply from c->in if there is one: 1 = consumed (next command sent or
 * cycle ended, see *ended), 0 = need more bytes, -1 = failed. */
static int beanstalk_reply(struct conn *c, bool *ended)
{
    char *nl = memmem(c->in, c->inlen, "\r\n", 2);
    if (!nl)
        return c->inlen == sizeof c->in ? (fail("beanstalk reply too long", NULL), -1) : 0;
    size_t line = (size_t)(nl - c->in), used = line + 2;
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%.*s", (int)(line < 127 ? line : 127), c->in);
    char cmd[64];
    int cl = 0;
    *ended = false;
    if (c->step == 0) {
        if (strncmp(hdr, "INSERTED", 8) != 0)
            return fail("put", hdr), -1;
        cl = snprintf(cmd, sizeof cmd, "reserve-with-timeout 0\r\n");
    } else if (c->step == 1) {
        unsigned long long id;
        size_t size;
        if (sscanf(hdr, "RESERVED %llu %zu", &id, &size) != 2)
            return fail("reserve", hdr), -1;
        if (size + 2 > sizeof c->in - used)
            return fail("beanstalk job too long", NULL), -1;
        if (c->inlen < used + size + 2)
            return 0;
        used += size + 2;
        cl = snprintf(cmd, sizeof cmd, "delete %llu\r\n", id);
    } else {
        if (strncmp(hdr, "DELETED", 7) != 0)
            return fail("delete", hdr), -1;
        *ended = true;
    }
    memmove(c->in, c->in + used, c->inlen - used);
    c->inlen -= used;
    if (!*ended) {
        c->step++;
        if (!send_all(c->fd, cmd, (size_t)cl))
            return -1;
    }
    return 1;
}

static bool beanstalk_start(struct conn *c)
{
    int hl = snprintf(c->job, 64, "put 100 0 60 %zu\r\n", o.payload_len);
    memcpy(c->job + hl, payload, o.payload_len);
    memcpy(c->job + hl + o.payload_len, "\r\n", 2);
    c->step = 0;
    return send_all(c->fd, c->job, (size_t)hl + o.payload_len + 2);
}

static bool cycle_start(struct conn *c, step_fn step)
{
    c->n++;
    if (!step)
        return beanstalk_start(c);
    c->step = 0;
    return step(c, NULL) == 0 && send_cmd(c);
}

/* Takes every whole reply buffered for c; false when the connection failed
 * or the run is over for it. */
static bool conn_replies(struct conn *c, step_fn step)
{
    for (;;) {
        int rc;
        bool ended;
        if (!step) {
            rc = beanstalk_reply(c, &ended);
        } else {
            redisReply *r = NULL;
            if (redisReaderGetReply(c->rd, (void **)&r) != REDIS_OK) {
                fail("protocol", c->rd->errstr);
                return false;
            }
            if (!r)
                return true;
            rc = step(c, r);
            ended = rc == 1;
            if (rc == 0) {
                c->step++;
                rc = send_cmd(c) ? 1 : -1;
            }
            freeReplyObject(r);
        }
        if (rc < 0)
            return false;
        if (rc == 0)
            return true;
        if (ended) {
            /* a cycle is never cut in half (a lock left taken would
             * collide with the next run's names): after the deadline the
             * cycle in flight ends uncounted and the connection stops */
            if (!running())
                return false;
            atomic_fetch_add(&ops_done, 1);
            if (!cycle_start(c, step))
                return false;
        }
    }
}

static int conn_open(struct conn *c, bool resp)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    inet_pton(AF_INET, o.host, &a.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fail("connect", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    if (resp && !(c->rd = redisReaderCreate())) {
        fail("reader", "out of memory");
        return -1;
    }
    return 0;
}

/* Runs --clients connections for --seconds on the calling thread. */
static void run_event_cycles(step_fn step)
{
    static struct conn conns[MAX_CLIENTS];
    int ep = epoll_create1(0);
    for (int i = 0; i < o.clients; i++) {
        struct conn *c = &conns[i];
        c->n = (long)i * 100000000L;
        if (conn_open(c, step != NULL) < 0)
            return;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    t_start = now_s();
    deadline = t_start + o.seconds;
    int live = 0;
    for (int i = 0; i < o.clients; i++) {
        if (!cycle_start(&conns[i], step))
            break;
        live++;
    }
    struct epoll_event evs[MAX_CLIENTS];
    double drained = deadline + 10; /* cycles in flight at the deadline end */
    while (live > 0 && !atomic_load(&stop_all) && now_s() < drained) {
        int n = epoll_wait(ep, evs, MAX_CLIENTS, 100);
        for (int i = 0; i < n && !atomic_load(&stop_all); i++) {
            struct conn *c = evs[i].data.ptr;
            char buf[16384];
            ssize_t r = recv(c->fd, buf, sizeof buf, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                fail("recv", r == 0 ? "server closed the connection" : strerror(errno));
                break;
            }
            if (c->rd) {
                redisReaderFeed(c->rd, buf, (size_t)r);
            } else if ((size_t)r > sizeof c->in - c->inlen) {
                fail("beanstalk reply too long", NULL);
                break;
            } else {
                memcpy(c->in + c->inlen, buf, (size_t)r);
                c->inlen += (size_t)r;
            }
            if (!conn_replies(c, step)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                live--;
            }
        }
    }
    if (live > 0 && !atomic_load(&stop_all))
        fail("cycles still unanswered 10 s after the deadline", NULL);
    double end = now_s();
    t_done = end < deadline ? end : deadline; /* only counted cycles' time */
    for (int i = 0; i < o.clients; i++) {
        if (conns[i].rd)
            redisReaderFree(conns[i].rd);
        if (conns[i].fd > 0)
            close(conns[i].fd);
    }
    close(ep);
}

/* ---- publish and consume modes: a thread per connection --------------- */

struct client {
    pthread_t thread;
    int index;
};

/* A JSON-like payload of exactly `len` bytes for event `seq` into buf. */
static void json_payload(char *buf, size_t len, long long seq, uint64_t *rng)
{
    char head[128];
    uint64_t r = (*rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17);
    int hl = snprintf(head, sizeof head,
                      "{\"seq\":%lld,\"user\":\"u%05u\",\"amount\":%u.%02u,"
                      "\"sku\":\"%08x\",\"note\":\"",
                      seq, (unsigned)(r % 100000), (unsigned)(r >> 20) % 10000,
                      (unsigned)(r >> 40) % 100, (unsigned)(r >> 32));
    size_t n = (size_t)hl < len ? (size_t)hl : len;
    memcpy(buf, head, n);
    for (size_t i = n; i < len; i++) {
        r = (*rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17);
        buf[i] = (char)('a' + r % 26);
    }
    if (len > (size_t)hl + 2)
        memcpy(buf + len - 2, "\"}", 2);
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
    char *own = NULL;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(cl->index + 1) ^
                   (uint64_t)getpid() << 20;
    for (const char *t = o.type; *t; t++) /* other types, other payloads */
        rng = (rng ^ (unsigned char)*t) * 0x100000001b3ULL;
    long long seq = (long long)cl->index << 32;
    if (o.json_payload) {
        own = malloc(o.payload_len);
        pub[2] = own, xadd[4] = own;
    }
    /* keyed: EV.PUB type payload KEY k [EXPECT v], k and v per event */
    long per = o.keys / o.clients > 0 ? o.keys / o.clients : 1;
    char kbuf[160], vbuf[24];
    const char *kpub[] = {"EV.PUB", o.type, own ? own : payload,
                          "KEY",    kbuf,   "EXPECT", vbuf};
    size_t kpub_l[7] = {6, strlen(o.type), o.payload_len, 3, 0, 6, 0};
    int kargc = o.expect ? 7 : 5;
    long long kseq = 0; /* this client's keyed events so far */
    while (c && share > 0 && running()) {
        int n = share < o.pipeline ? (int)share : o.pipeline;
        bool ok;
        if (tincan && o.keys) {
            ok = true;
            for (int i = 0; i < n && ok; i++, kseq++) {
                if (own)
                    json_payload(own, o.payload_len, seq++, &rng);
                kpub_l[4] = (size_t)snprintf(kbuf, sizeof kbuf, "%s:%d:%lld", o.key,
                                             cl->index, kseq % per);
                kpub_l[6] = (size_t)snprintf(vbuf, sizeof vbuf, "%lld", kseq / per);
                ok = redisAppendCommandArgv(c, kargc, kpub, kpub_l) == REDIS_OK;
            }
            if (!ok)
                fail("append", c->errstr);
            ok = ok && resp_pipeline(c, -n, 0, NULL, NULL);
        } else if (own) { /* hiredis copies each command when appended */
            ok = true;
            for (int i = 0; i < n && ok; i++) {
                json_payload(own, o.payload_len, seq++, &rng);
                ok = (tincan ? redisAppendCommandArgv(c, 3, pub, pub_l)
                             : redisAppendCommandArgv(c, 5, xadd, xadd_l)) == REDIS_OK;
            }
            if (!ok)
                fail("append", c->errstr);
            ok = ok && resp_pipeline(c, -n, 0, NULL, NULL);
        } else {
            ok = tincan ? resp_pipeline(c, n, 3, pub, pub_l)
                        : resp_pipeline(c, n, 5, xadd, xadd_l);
        }
        if (!ok)
            break;
        share -= n;
        atomic_fetch_add(&published, n);
        if (strncmp(o.mode, "publish", 7) == 0)
            atomic_fetch_add(&ops_done, n);
    }
    free(own);
    if (c)
        redisFree(c);
    return NULL;
}

/* range-tincan: pages through one type's events between two positions. */
static void *run_range(void *arg)
{
    (void)arg;
    redisContext *c = resp_connect();
    start_gate();
    long long from = o.from;
    while (c && from <= o.to && running()) {
        char f[32], t[32];
        snprintf(f, sizeof f, "@%lld", from);
        snprintf(t, sizeof t, "@%lld", o.to);
        const char *argv[] = {"EV.RANGE", o.type, "FROM", f, "TO", t,
                              "COUNT", "10000", "FIELDS", "position,payload"};
        size_t lens[10];
        for (int i = 0; i < 10; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = resp_cmd(c, 10, argv, lens);
        if (!r)
            break;
        long long last = -1, bytes = 0;
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const redisReply *pos = field(r->element[i], "position");
            const redisReply *pl = field(r->element[i], "payload");
            if (!pos || pos->type != REDIS_REPLY_INTEGER || !pl) {
                fail("EV.RANGE", "a record without position or payload");
                break;
            }
            last = pos->integer;
            bytes += (long long)pl->len;
        }
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        freeReplyObject(r);
        atomic_fetch_add(&ops_done, (long long)n);
        atomic_fetch_add(&range_bytes, bytes);
        if (n < 10000 || last < 0)
            break;
        from = last + 1;
    }
    t_done = now_s();
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
                    "       [--publishers N] [--type T] [--payload-kind fixed|json]\n"
                    "       [--from POSITION] [--to POSITION] [--keys N] [--expect yes]\n"
                    "       (see bench/loadgen.c)\n");
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
        else if (!strcmp(k, "--payload-kind") && !strcmp(v, "json"))
            o.json_payload = true;
        else if (!strcmp(k, "--payload-kind") && !strcmp(v, "fixed"))
            o.json_payload = false;
        else if (!strcmp(k, "--payload-file"))
            o.payload_file = v;
        else if (!strcmp(k, "--from"))
            o.from = parse_num(v, 1, LONG_MAX);
        else if (!strcmp(k, "--to"))
            o.to = parse_num(v, 1, LONG_MAX);
        else if (!strcmp(k, "--keys"))
            o.keys = parse_num(v, 0, 1000000000L);
        else if (!strcmp(k, "--expect") && !strcmp(v, "yes"))
            o.expect = true;
        else if (!strcmp(k, "--pipeline"))
            o.pipeline = (int)parse_num(v, 1, 100000);
        else
            usage();
    }
    if (!o.port)
        usage();
}

/* Prints the JSON line; the exit status. */
static int report(void)
{
    double took = t_start <= 0 ? 0 : (t_done > 0 ? t_done : now_s()) - t_start;
    long long done = atomic_load(&ops_done);
    if (strcmp(o.mode, "bus-e2e") == 0 && done < o.count && !atomic_load(&errors))
        fail("time limit reached before every event was consumed", NULL);
    printf("{\"mode\": \"%s\", \"ops\": %lld, \"seconds\": %.3f, \"ops_per_s\": %.1f, "
           "\"errors\": %d, \"error\": \"",
           o.mode, done, took, took > 0 ? (double)done / took : 0.0, atomic_load(&errors));
    for (const char *p = first_error; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\"");
    if (strcmp(o.mode, "range-tincan") == 0)
        printf(", \"bytes\": %lld", atomic_load(&range_bytes));
    printf("}\n");
    return atomic_load(&errors) ? 1 : 0;
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    if (o.payload_file) { /* one given payload for every event (binary ok) */
        FILE *f = fopen(o.payload_file, "rb");
        if (!f)
            fail("cannot open --payload-file", o.payload_file);
        payload = malloc((1u << 20) + 1);
        o.payload_len = f ? fread(payload, 1, 1u << 20, f) : 0;
        if (f)
            fclose(f);
        if (!o.payload_len)
            fail("empty --payload-file", o.payload_file);
        payload[o.payload_len] = '\0';
    } else {
        payload = malloc(o.payload_len + 1);
        memset(payload, 'x', o.payload_len);
        payload[o.payload_len] = '\0';
    }

    void *(*fn)(void *) = NULL;
    step_fn step = NULL;
    bool cycles = true;
    int publishers = 0;
    if (!strcmp(o.mode, "queue-tincan"))
        step = step_queue_tincan;
    else if (!strcmp(o.mode, "queue-redis"))
        step = step_queue_redis;
    else if (!strcmp(o.mode, "lock-tincan"))
        step = step_lock_tincan;
    else if (!strcmp(o.mode, "lock-redis"))
        step = step_lock_redis;
    else if (!strcmp(o.mode, "ping3"))
        step = step_ping3;
    else if (!strcmp(o.mode, "queue-beanstalkd"))
        step = NULL;
    else if (cycles = false, !strcmp(o.mode, "publish-tincan") ||
                                 !strcmp(o.mode, "publish-redis"))
        fn = run_publish;
    else if (!strcmp(o.mode, "consume-tincan") || !strcmp(o.mode, "consume-redis"))
        fn = run_consume;
    else if (!strcmp(o.mode, "bus-e2e"))
        fn = run_consume, publishers = o.publishers;
    else if (!strcmp(o.mode, "range-tincan"))
        fn = run_range, o.clients = 1;
    else
        usage();

    if (cycles) {
        deadline = now_s() + o.seconds + 60; /* connecting; reset once connected */
        run_event_cycles(step);
        return report();
    }
    static struct client cl[2 * MAX_CLIENTS];
    int total = o.clients + publishers;
    pthread_barrier_init(&gate, NULL, (unsigned)total + 1);
    deadline = now_s() + o.seconds + 60; /* connecting; reset at the gate */
    for (int i = 0; i < total; i++) {
        cl[i].index = i < o.clients ? i : i - o.clients;
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
    return report();
}
