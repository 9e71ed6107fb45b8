/* rpcload.c - the load generator of the RPC benchmark: synchronous
 * request/reply round trips through tincan, NATS or RabbitMQ.
 *
 *   rpcload --proto tincan|nats|amqp --port P [--host 127.0.0.1]
 *           [--callers 1] [--servers 1] [--calls 100000] [--size 100]
 *           [--seconds 60]
 *
 * Every protocol is driven the same way, so that the ratio measures the
 * broker and not the client:
 *
 *   - one thread per connection, blocking sockets (TCP_NODELAY);
 *   - --servers echo servers, each on its own connection, answer every
 *     request at once with its own payload, batching what arrived together
 *     into one write;
 *   - --callers callers, each on its own connection, do --calls round trips
 *     in total (split evenly), one at a time: send a request of --size bytes,
 *     wait for its answer, check it, record the time it took.
 *
 * The three sides:
 *   tincan  caller: RPC.CALL bench <payload> TIMEOUT 10000
 *           server: RPC.SERVE bench COUNT 64 BLOCK 0, then one write with an
 *           RPC.REPLY <id> <payload> per call and the next RPC.SERVE
 *           (raw RESP2, written and parsed here: a call record is the flat
 *           array id, service, payload, headers, deadline_ms, delivery)
 *   nats    caller: SUB _INBOX.<conn>.* once, then
 *           PUB bench _INBOX.<conn>.<n> <len> per call (how nats.go's
 *           Request works); server: SUB bench workers (a queue group), PUB
 *           the answer to the reply subject. The text protocol (INFO,
 *           CONNECT, PING/PONG, SUB, PUB, MSG) is written here.
 *   amqp    RabbitMQ direct reply-to through rabbitmq-c: the caller
 *           consumes amq.rabbitmq.reply-to (no-ack) and publishes to the
 *           non-durable queue rpc.bench through the default exchange with
 *           reply_to and a correlation id; the server consumes rpc.bench
 *           with prefetch 64, publishes the answer to the reply_to routing
 *           key and acks the request (one multiple-ack when nothing more is
 *           buffered).
 *
 * Servers are registered (tincan: a first RPC.SERVE answered; NATS: SUB
 * followed by a PING answered; AMQP: basic.consume-ok) before the clock
 * starts. The clock stops when the last caller is done, or at --seconds
 * (then the callers stop after their call in flight). Prints one JSON line:
 *
 *   {"calls_per_s": ..., "p50_us": ..., "p99_us": ..., "calls": ...,
 *    "seconds": ..., ...}
 *
 * Exits 1 (reason on stderr, after the JSON line) on any protocol error,
 * error reply or wrong answer. It is a load generator only: it starts no
 * broker (bench/bench_rpc.py does) and is not part of the server. */
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SERVICE "bench"
#define AMQP_QUEUE "rpc.bench"
#define REPLY_TO "amq.rabbitmq.reply-to"
#define SERVE_COUNT 64       /* calls per RPC.SERVE; AMQP prefetch */
#define MAX_THREADS 1024
#define IO_TIMEOUT_S 30      /* a broker silent this long fails the run */

enum proto { P_TINCAN, P_NATS, P_AMQP };

static struct {
    enum proto proto;
    const char *host;
    int port;
    int callers;
    int servers;
    long calls;
    size_t size;
    double seconds;
} opt = {P_TINCAN, "127.0.0.1", 0, 1, 1, 100000, 100, 60};

static char *payload;                /* --size bytes of 'r' */
static double deadline;              /* s, monotonic: callers stop here */
static atomic_bool stopping;         /* callers done: servers leave */
static atomic_int failed;

static pthread_barrier_t start_line; /* every thread connected, and main */

/* Every thread passes the start line exactly once, ready or failed: the
 * clock starts when all are connected (connecting is not measured). */
static _Thread_local bool arrived;

static void arrive(void)
{
    if (!arrived) {
        arrived = true;
        pthread_barrier_wait(&start_line);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reports the first failure on stderr and makes everyone stop. */
static void fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&failed, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        static const char *names[] = {"tincan", "nats", "amqp"};
        fprintf(stderr, "rpcload --proto %s: ", names[opt.proto]);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
}

/* ---- a blocking socket with a read buffer (tincan and NATS) ---------- */

struct sock {
    int fd;
    char *in;      /* bytes read, in[off..len) not consumed yet */
    size_t off, len, cap;
    char *out;     /* bytes to write at the next flush */
    size_t olen, ocap;
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        abort();
    return p;
}

/* 0 when connected (fd blocking, TCP_NODELAY, I/O timeouts), else -1. */
static int sock_open(struct sock *s)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    char port[16];
    snprintf(port, sizeof port, "%d", opt.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(opt.host, port, &hints, &ai);
    if (rc != 0) {
        fail("%s: %s", opt.host, gai_strerror(rc));
        return -1;
    }
    s->fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (s->fd < 0 || connect(s->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        fail("connect %s:%d: %s", opt.host, opt.port, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    s->cap = 1 << 16;
    s->in = xrealloc(NULL, s->cap);
    return 0;
}

static void sock_close(struct sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->in);
    free(s->out);
    s->fd = -1;
}

static void put(struct sock *s, const void *p, size_t n)
{
    if (s->olen + n > s->ocap) {
        s->ocap = (s->olen + n) * 2;
        s->out = xrealloc(s->out, s->ocap);
    }
    memcpy(s->out + s->olen, p, n);
    s->olen += n;
}

static void putf(struct sock *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(s, tmp, (size_t)n);
}

/* Writes everything put so far. 0, or -1 (reported unless stopping). */
static int sock_flush(struct sock *s)
{
    size_t done = 0;
    while (done < s->olen) {
        ssize_t n = send(s->fd, s->out + done, s->olen - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!atomic_load(&stopping))
                fail("send: %s", n < 0 ? strerror(errno) : "closed");
            return -1;
        }
        done += (size_t)n;
    }
    s->olen = 0;
    return 0;
}

/* Makes at least n unconsumed bytes available at s->in + s->off.
 * 0, or -1 on EOF, error or timeout (reported unless stopping). */
static int need(struct sock *s, size_t n)
{
    while (s->len - s->off < n) {
        if (s->off > 0) {
            memmove(s->in, s->in + s->off, s->len - s->off);
            s->len -= s->off;
            s->off = 0;
        }
        if (n > s->cap) {
            s->cap = n * 2;
            s->in = xrealloc(s->in, s->cap);
        }
        ssize_t r = recv(s->fd, s->in + s->len, s->cap - s->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (!atomic_load(&stopping))
                fail("recv: %s", r < 0 ? strerror(errno) : "connection closed by the broker");
            return -1;
        }
        s->len += (size_t)r;
    }
    return 0;
}

/* The next line without its CRLF (NUL-terminated in place, valid until the
 * next read), or NULL (reported). */
static char *line(struct sock *s)
{
    size_t scanned = 0;
    for (;;) {
        char *base = s->in + s->off;
        char *lf = memchr(base + scanned, '\n', s->len - s->off - scanned);
        if (lf) {
            if (lf == base || lf[-1] != '\r') {
                fail("protocol: a line not ended by CRLF");
                return NULL;
            }
            lf[-1] = '\0';
            s->off += (size_t)(lf - base) + 1;
            return base;
        }
        scanned = s->len - s->off;
        if (need(s, scanned + 1) < 0)
            return NULL;
    }
}

/* True when data is buffered: more replies came in the same read. */
static bool buffered(const struct sock *s)
{
    return s->len > s->off;
}

/* ---- latencies ----------------------------------------------------- */

struct caller {
    pthread_t thread;
    int index;
    long todo;          /* round trips this caller makes */
    long done;
    uint32_t *lat_us;   /* [done] */
    double t_end;       /* s, monotonic: its last answer */
};

static void record(struct caller *c, double t0)
{
    double us = (now() - t0) * 1e6;
    c->lat_us[c->done++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static bool more(const struct caller *c)
{
    return c->done < c->todo && !atomic_load(&failed) && now() < deadline;
}

/* ---- tincan (RESP2) ------------------------------------------------- */

static void put_bulk(struct sock *s, const char *p, size_t n)
{
    putf(s, "$%zu\r\n", n);
    put(s, p, n);
    put(s, "\r\n", 2);
}

/* Reads one bulk string; *p points into the buffer (valid until the next
 * read). 0, or -1 (reported; an error reply is shown as is). */
static int read_bulk(struct sock *s, const char *what, char **p, size_t *n)
{
    char *l = line(s);
    if (!l)
        return -1;
    if (l[0] != '$') {
        fail("%s: expected a bulk string, got '%.200s'", what, l);
        return -1;
    }
    long len = strtol(l + 1, NULL, 10);
    if (len < 0 || need(s, (size_t)len + 2) < 0) {
        if (len < 0)
            fail("%s: nil", what);
        return -1;
    }
    *p = s->in + s->off;
    *n = (size_t)len;
    s->off += (size_t)len + 2;
    return 0;
}

/* Skips one RESP value of any type. 0 or -1 (reported). */
static int skip_value(struct sock *s)
{
    char *l = line(s);
    if (!l)
        return -1;
    long n = strtol(l + 1, NULL, 10);
    switch (l[0]) {
    case '$':
        if (n >= 0 && need(s, (size_t)n + 2) < 0)
            return -1;
        if (n >= 0)
            s->off += (size_t)n + 2;
        return 0;
    case '*':
        for (long i = 0; i < n; i++)
            if (skip_value(s) < 0)
                return -1;
        return 0;
    case ':':
    case '+':
        return 0;
    default:
        fail("RPC.SERVE: unexpected '%.200s'", l);
        return -1;
    }
}

/* Reads one call record (a flat field/value array) and puts the
 * RPC.REPLY for it: its id and the payload it carried. 0 or -1. */
static int tincan_answer(struct sock *s)
{
    char *l = line(s);
    if (!l)
        return -1;
    long fields = l[0] == '*' ? strtol(l + 1, NULL, 10) : -1;
    if (fields < 0 || fields % 2) {
        fail("RPC.SERVE: a call record is not a field/value array: '%.200s'", l);
        return -1;
    }
    char id[256];
    size_t idlen = 0;
    bool answered = false;
    for (long f = 0; f < fields; f += 2) {
        char *k, *v;
        size_t kn, vn;
        if (read_bulk(s, "RPC.SERVE field", &k, &kn) < 0)
            return -1;
        bool is_id = kn == 2 && memcmp(k, "id", 2) == 0;
        bool is_payload = kn == 7 && memcmp(k, "payload", 7) == 0;
        if (!is_id && !is_payload) {
            if (skip_value(s) < 0)
                return -1;
            continue;
        }
        if (read_bulk(s, "RPC.SERVE value", &v, &vn) < 0)
            return -1;
        if (is_id) {
            if (vn >= sizeof id) {
                fail("RPC.SERVE: call id of %zu bytes", vn);
                return -1;
            }
            memcpy(id, v, vn);
            idlen = vn;
        } else if (idlen) { /* id comes first: echo the payload as it is read */
            put(s, "*3\r\n$9\r\nRPC.REPLY\r\n", 19);
            put_bulk(s, id, idlen);
            put_bulk(s, v, vn);
            answered = true;
        } else {
            fail("RPC.SERVE: payload before id");
            return -1;
        }
    }
    if (!answered) {
        fail("RPC.SERVE: a call record without id and payload");
        return -1;
    }
    return 0;
}

static void put_serve(struct sock *s, bool block)
{
    put(s, "*", 1);
    putf(s, "%d\r\n", block ? 6 : 4);
    put_bulk(s, "RPC.SERVE", 9);
    put_bulk(s, SERVICE, strlen(SERVICE));
    put_bulk(s, "COUNT", 5);
    putf(s, "$2\r\n%d\r\n", SERVE_COUNT);
    if (block) {
        put_bulk(s, "BLOCK", 5);
        put_bulk(s, "0", 1);
    }
}

/* Reads one RPC.SERVE reply and puts an RPC.REPLY per call in it.
 * Returns the number of calls, or -1. */
static int tincan_take(struct sock *s)
{
    char *l = line(s);
    if (!l)
        return -1;
    if (l[0] != '*') {
        fail("RPC.SERVE: %.200s", l);
        return -1;
    }
    long n = strtol(l + 1, NULL, 10);
    for (long i = 0; i < n; i++)
        if (tincan_answer(s) < 0)
            return -1;
    return (int)n;
}

static int tincan_server(struct sock *s)
{
    put_serve(s, false); /* registers this connection as a server of bench */
    if (sock_flush(s) < 0 || tincan_take(s) < 0)
        return -1;
    arrive();
    int answers = 0; /* RPC.REPLYs put before the RPC.SERVE */
    for (;;) {
        put_serve(s, true);
        if (sock_flush(s) < 0)
            return -1;
        for (int i = 0; i < answers; i++) {
            char *l = line(s);
            if (!l)
                return -1;
            if (strcmp(l, "+OK") != 0) {
                fail("RPC.REPLY: %.200s", l);
                return -1;
            }
        }
        answers = tincan_take(s);
        if (answers < 0)
            return -1;
    }
}

static int tincan_caller(struct sock *s, struct caller *c)
{
    put(s, "*5\r\n", 4);
    put_bulk(s, "RPC.CALL", 8);
    put_bulk(s, SERVICE, strlen(SERVICE));
    put_bulk(s, payload, opt.size);
    put_bulk(s, "TIMEOUT", 7);
    put_bulk(s, "10000", 5);
    size_t reqlen = s->olen;
    char *req = xrealloc(NULL, reqlen);
    memcpy(req, s->out, reqlen);
    s->olen = 0;
    arrive();
    int rc = 0;
    while (more(c)) {
        double t0 = now();
        put(s, req, reqlen);
        char *p;
        size_t n;
        if (sock_flush(s) < 0 || read_bulk(s, "RPC.CALL", &p, &n) < 0) {
            rc = -1;
            break;
        }
        if (n != opt.size || memcmp(p, payload, n) != 0) {
            fail("RPC.CALL: answer of %zu bytes is not the payload sent", n);
            rc = -1;
            break;
        }
        record(c, t0);
    }
    free(req);
    return rc;
}

/* ---- NATS (text protocol) ------------------------------------------- */

/* Reads INFO, sends CONNECT and a PING, waits for the PONG. 0 or -1. */
static int nats_handshake(struct sock *s)
{
    char *l = line(s);
    if (!l)
        return -1;
    if (strncmp(l, "INFO ", 5) != 0) {
        fail("NATS: expected INFO, got '%.200s'", l);
        return -1;
    }
    putf(s, "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"c\","
            "\"version\":\"rpcload\",\"protocol\":1,\"echo\":false}\r\n");
    return 0;
}

/* Sends PING and waits for its PONG: everything sent before it (SUB) is in
 * effect on the server then. 0 or -1. */
static int nats_sync(struct sock *s)
{
    put(s, "PING\r\n", 6);
    if (sock_flush(s) < 0)
        return -1;
    for (;;) {
        char *l = line(s);
        if (!l)
            return -1;
        if (strcmp(l, "PONG") == 0)
            return 0;
        if (strncmp(l, "-ERR", 4) == 0) {
            fail("NATS: %.200s", l);
            return -1;
        }
    }
}

/* One MSG from the server: its subject, reply subject (copied) and its
 * payload (in the buffer, valid until the next read). */
struct nats_msg {
    char subject[256], reply[256]; /* reply "" if none */
    char *data;
    size_t len;
};

/* Reads the next MSG, answering PINGs on the way. 0, or -1 (reported). */
static int nats_next(struct sock *s, struct nats_msg *m)
{
    for (;;) {
        char *l = line(s);
        if (!l)
            return -1;
        if (strcmp(l, "PING") == 0) {
            put(s, "PONG\r\n", 6);
            if (sock_flush(s) < 0)
                return -1;
            continue;
        }
        if (strncmp(l, "-ERR", 4) == 0) {
            fail("NATS: %.200s", l);
            return -1;
        }
        if (strncmp(l, "MSG ", 4) != 0)
            continue; /* +OK, INFO, PONG */
        char *tok[5], *save;
        int nt = 0;
        for (char *p = strtok_r(l + 4, " ", &save); p && nt < 5; p = strtok_r(NULL, " ", &save))
            tok[nt++] = p;
        long len = nt == 3 || nt == 4 ? strtol(tok[nt - 1], NULL, 10) : -1;
        if (len < 0 || strlen(tok[0]) >= sizeof m->subject ||
            (nt == 4 && strlen(tok[2]) >= sizeof m->reply)) {
            fail("NATS: bad MSG line");
            return -1;
        }
        strcpy(m->subject, tok[0]);
        strcpy(m->reply, nt == 4 ? tok[2] : "");
        if (need(s, (size_t)len + 2) < 0)
            return -1;
        m->data = s->in + s->off;
        m->len = (size_t)len;
        s->off += (size_t)len + 2;
        return 0;
    }
}

static int nats_server(struct sock *s)
{
    if (nats_handshake(s) < 0)
        return -1;
    put(s, "SUB " SERVICE " workers 1\r\n", strlen("SUB " SERVICE " workers 1\r\n"));
    if (nats_sync(s) < 0)
        return -1;
    arrive();
    for (;;) {
        struct nats_msg m;
        if (nats_next(s, &m) < 0)
            return -1;
        if (!m.reply[0]) {
            fail("NATS: request without a reply subject");
            return -1;
        }
        putf(s, "PUB %s %zu\r\n", m.reply, m.len);
        put(s, m.data, m.len);
        put(s, "\r\n", 2);
        if (!buffered(s) && sock_flush(s) < 0) /* answer what came together at once */
            return -1;
    }
}

static int nats_caller(struct sock *s, struct caller *c)
{
    if (nats_handshake(s) < 0)
        return -1;
    putf(s, "SUB _INBOX.c%d.* 1\r\n", c->index);
    if (nats_sync(s) < 0)
        return -1;
    arrive();
    char want[64];
    while (more(c)) {
        double t0 = now();
        snprintf(want, sizeof want, "_INBOX.c%d.%ld", c->index, c->done);
        putf(s, "PUB " SERVICE " %s %zu\r\n", want, opt.size);
        put(s, payload, opt.size);
        put(s, "\r\n", 2);
        if (sock_flush(s) < 0)
            return -1;
        struct nats_msg m;
        if (nats_next(s, &m) < 0)
            return -1;
        if (strcmp(m.subject, want) != 0 || m.len != opt.size ||
            memcmp(m.data, payload, m.len) != 0) {
            fail("NATS: answer on %s (%zu bytes) is not the answer to %s", m.subject, m.len,
                 want);
            return -1;
        }
        record(c, t0);
    }
    return 0;
}

/* ---- RabbitMQ direct reply-to (rabbitmq-c) -------------------------- */

static int amqp_ok(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fail("%s: %s", what, amqp_error_string2(r.library_error));
    else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
             r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *cl = r.reply.decoded;
        fail("%s: channel closed: %u %.*s", what, cl->reply_code, (int)cl->reply_text.len,
             (char *)cl->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *cl = r.reply.decoded;
        fail("%s: connection closed: %u %.*s", what, cl->reply_code,
             (int)cl->reply_text.len, (char *)cl->reply_text.bytes);
    } else
        fail("%s: reply type %d", what, (int)r.reply_type);
    return -1;
}

/* A logged-in connection with channel 1 open, or NULL (reported). */
static amqp_connection_state_t amqp_open(void)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sk = amqp_tcp_socket_new(c);
    struct timeval tv = {IO_TIMEOUT_S, 0};
    if (!sk) {
        fail("amqp: cannot create a socket");
        goto err_free;
    }
    amqp_set_rpc_timeout(c, &tv);
    int rc = amqp_socket_open_noblock(sk, opt.host, opt.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        fail("connect %s:%d: %s", opt.host, opt.port, amqp_error_string2(rc));
        goto err_free;
    }
    int one = 1;
    setsockopt(amqp_socket_get_sockfd(sk), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (amqp_ok(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
                "login") < 0)
        goto err_close;
    amqp_channel_open(c, 1);
    if (amqp_ok(amqp_get_rpc_reply(c), "channel.open") < 0)
        goto err_close;
    return c;

err_close:
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
err_free:
    amqp_destroy_connection(c);
    return NULL;
}

static void amqp_done(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

static int amqp_server(amqp_connection_state_t c)
{
    amqp_basic_qos(c, 1, 0, SERVE_COUNT, 0);
    if (amqp_ok(amqp_get_rpc_reply(c), "basic.qos") < 0)
        return -1;
    amqp_basic_consume(c, 1, amqp_cstring_bytes(AMQP_QUEUE), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    if (amqp_ok(amqp_get_rpc_reply(c), "basic.consume") < 0)
        return -1;
    arrive();
    uint64_t unacked = 0;
    while (!atomic_load(&stopping) && !atomic_load(&failed)) {
        struct timeval tv = {0, 100000}; /* look at `stopping` now and then */
        amqp_envelope_t env;
        amqp_maybe_release_buffers(c);
        amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (amqp_ok(r, "server consume") < 0)
            return atomic_load(&stopping) ? 0 : -1;
        amqp_basic_properties_t *in = &env.message.properties;
        if (!(in->_flags & AMQP_BASIC_REPLY_TO_FLAG)) {
            fail("amqp: request without reply_to");
            amqp_destroy_envelope(&env);
            return -1;
        }
        amqp_basic_properties_t props = {._flags = 0};
        if (in->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
            props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
            props.correlation_id = in->correlation_id;
        }
        int rc = amqp_basic_publish(c, 1, amqp_empty_bytes, in->reply_to, 0, 0, &props,
                                    env.message.body);
        unacked = env.delivery_tag;
        amqp_destroy_envelope(&env);
        if (rc != AMQP_STATUS_OK) {
            fail("amqp: reply publish: %s", amqp_error_string2(rc));
            return -1;
        }
        if (!amqp_frames_enqueued(c) && !amqp_data_in_buffer(c)) {
            rc = amqp_basic_ack(c, 1, unacked, 1);
            if (rc != AMQP_STATUS_OK) {
                fail("amqp: basic.ack: %s", amqp_error_string2(rc));
                return -1;
            }
        }
    }
    return 0;
}

static int amqp_caller(amqp_connection_state_t c, struct caller *cl)
{
    amqp_basic_consume(c, 1, amqp_cstring_bytes(REPLY_TO), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    if (amqp_ok(amqp_get_rpc_reply(c), "basic.consume reply-to") < 0)
        return -1;
    arrive();
    amqp_bytes_t body = {opt.size, payload};
    char corr[32];
    while (more(cl)) {
        double t0 = now();
        int n = snprintf(corr, sizeof corr, "%ld", cl->done);
        amqp_basic_properties_t props = {
            ._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG,
            .reply_to = amqp_cstring_bytes(REPLY_TO),
            .correlation_id = {(size_t)n, corr},
        };
        int rc = amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(AMQP_QUEUE),
                                    0, 0, &props, body);
        if (rc != AMQP_STATUS_OK) {
            fail("amqp: publish: %s", amqp_error_string2(rc));
            return -1;
        }
        amqp_envelope_t env;
        struct timeval tv = {IO_TIMEOUT_S, 0};
        amqp_maybe_release_buffers(c);
        if (amqp_ok(amqp_consume_message(c, &env, &tv, 0), "caller consume") < 0)
            return -1;
        amqp_basic_properties_t *p = &env.message.properties;
        bool right = (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) &&
                     p->correlation_id.len == (size_t)n &&
                     memcmp(p->correlation_id.bytes, corr, (size_t)n) == 0 &&
                     env.message.body.len == opt.size &&
                     memcmp(env.message.body.bytes, payload, opt.size) == 0;
        amqp_destroy_envelope(&env);
        if (!right) {
            fail("amqp: an answer that is not the answer to call %s", corr);
            return -1;
        }
        record(cl, t0);
    }
    return 0;
}

/* Declares a fresh rpc.bench (non-durable). 0 or -1. */
static int amqp_setup(amqp_connection_state_t c)
{
    amqp_queue_delete(c, 1, amqp_cstring_bytes(AMQP_QUEUE), 0, 0);
    if (amqp_ok(amqp_get_rpc_reply(c), "queue.delete") < 0)
        return -1;
    amqp_queue_declare(c, 1, amqp_cstring_bytes(AMQP_QUEUE), 0, 0, 0, 0, amqp_empty_table);
    return amqp_ok(amqp_get_rpc_reply(c), "queue.declare");
}

/* ---- threads -------------------------------------------------------- */

struct server {
    pthread_t thread;
    struct sock s;       /* tincan, NATS: main shuts it down to stop it */
    atomic_bool open;
};

static void *server_main(void *arg)
{
    struct server *sv = arg;
    if (opt.proto == P_AMQP) {
        amqp_connection_state_t c = amqp_open();
        if (c) {
            amqp_server(c);
            amqp_done(c);
        }
    } else if (atomic_load(&sv->open)) {
        /* main opened the socket: it shuts it down to end the loop */
        if (opt.proto == P_TINCAN)
            tincan_server(&sv->s);
        else
            nats_server(&sv->s);
    }
    arrive();
    return NULL;
}

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    if (opt.proto == P_AMQP) {
        amqp_connection_state_t a = amqp_open();
        if (a) {
            amqp_caller(a, c);
            amqp_done(a);
        }
    } else {
        struct sock s;
        if (sock_open(&s) == 0)
            (void)(opt.proto == P_TINCAN ? tincan_caller(&s, c) : nats_caller(&s, c));
        sock_close(&s);
    }
    arrive();
    c->t_end = now();
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: rpcload --proto tincan|nats|amqp --port P [--host H]\n"
                    "       [--callers N] [--servers M] [--calls TOTAL] [--size BYTES]\n"
                    "       [--seconds MAX]\n");
    exit(2);
}

static long num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        usage();
    return v;
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--proto") == 0) {
            if (strcmp(v, "tincan") == 0)
                opt.proto = P_TINCAN;
            else if (strcmp(v, "nats") == 0)
                opt.proto = P_NATS;
            else if (strcmp(v, "amqp") == 0)
                opt.proto = P_AMQP;
            else
                usage();
        } else if (strcmp(a, "--host") == 0)
            opt.host = v;
        else if (strcmp(a, "--port") == 0)
            opt.port = (int)num(v, 1, 65535);
        else if (strcmp(a, "--callers") == 0)
            opt.callers = (int)num(v, 1, MAX_THREADS);
        else if (strcmp(a, "--servers") == 0)
            opt.servers = (int)num(v, 1, MAX_THREADS);
        else if (strcmp(a, "--calls") == 0)
            opt.calls = num(v, 1, 100000000);
        else if (strcmp(a, "--size") == 0)
            opt.size = (size_t)num(v, 0, 1 << 20);
        else if (strcmp(a, "--seconds") == 0)
            opt.seconds = (double)num(v, 1, 86400);
        else
            usage();
    }
    if (!opt.port)
        usage();
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    payload = xrealloc(NULL, opt.size + 1);
    memset(payload, 'r', opt.size);

    amqp_connection_state_t admin = NULL;
    if (opt.proto == P_AMQP) {
        admin = amqp_open();
        if (!admin || amqp_setup(admin) < 0)
            return 1;
    }
    pthread_barrier_init(&start_line, NULL, (unsigned)(opt.servers + opt.callers + 1));
    struct server *srv = calloc((size_t)opt.servers, sizeof *srv);
    struct caller *cl = calloc((size_t)opt.callers, sizeof *cl);
    if (!srv || !cl)
        abort();
    for (int i = 0; i < opt.servers; i++) {
        if (opt.proto != P_AMQP)
            atomic_store(&srv[i].open, sock_open(&srv[i].s) == 0);
        pthread_create(&srv[i].thread, NULL, server_main, &srv[i]);
    }
    for (int i = 0; i < opt.callers; i++) {
        cl[i].index = i;
        cl[i].todo = opt.calls / opt.callers + (i < opt.calls % opt.callers);
        cl[i].lat_us = calloc((size_t)cl[i].todo + 1, sizeof *cl[i].lat_us);
        if (!cl[i].lat_us)
            abort();
        pthread_create(&cl[i].thread, NULL, caller_main, &cl[i]);
    }
    deadline = now() + opt.seconds + IO_TIMEOUT_S; /* until the clock starts */
    pthread_barrier_wait(&start_line);
    double t0 = now();
    deadline = t0 + opt.seconds;
    double t_end = t0;
    long total = 0;
    for (int i = 0; i < opt.callers; i++) {
        pthread_join(cl[i].thread, NULL);
        total += cl[i].done;
        if (cl[i].t_end > t_end)
            t_end = cl[i].t_end;
    }
    atomic_store(&stopping, true);
    for (int i = 0; i < opt.servers; i++) {
        if (opt.proto != P_AMQP && atomic_load(&srv[i].open))
            shutdown(srv[i].s.fd, SHUT_RDWR);
        pthread_join(srv[i].thread, NULL);
        if (opt.proto != P_AMQP)
            sock_close(&srv[i].s);
    }

    uint32_t *all = calloc((size_t)total + 1, sizeof *all);
    if (!all)
        abort();
    size_t n = 0;
    for (int i = 0; i < opt.callers; i++) {
        memcpy(all + n, cl[i].lat_us, (size_t)cl[i].done * sizeof *all);
        n += (size_t)cl[i].done;
    }
    qsort(all, n, sizeof *all, cmp_u32);
    for (int i = 0; i < opt.callers; i++)
        free(cl[i].lat_us);
    free(cl);
    free(srv);
    double took = t_end - t0;
    static const char *names[] = {"tincan", "nats", "amqp"};
    printf("{\"calls_per_s\": %.1f, \"p50_us\": %u, \"p99_us\": %u, \"calls\": %ld, "
           "\"seconds\": %.3f, \"proto\": \"%s\", \"callers\": %d, \"servers\": %d, "
           "\"size\": %zu}\n",
           took > 0 ? (double)total / took : 0.0, n ? all[n / 2] : 0,
           n ? all[n * 99 / 100] : 0, total, took,
           names[opt.proto], opt.callers, opt.servers, opt.size);
    fflush(stdout);
    free(all);
    free(payload);
    if (admin) {
        amqp_queue_delete(admin, 1, amqp_cstring_bytes(AMQP_QUEUE), 0, 0);
        amqp_get_rpc_reply(admin);
        amqp_done(admin);
    }
    if (!atomic_load(&failed) && total < opt.calls && now() >= deadline)
        fprintf(stderr, "rpcload: --seconds %.0f passed after %ld of %ld calls\n",
                opt.seconds, total, opt.calls);
    return atomic_load(&failed) ? 1 : 0;
}
