/* amqpload.c - the RabbitMQ side of the bus benchmark, driven by rabbitmq-c.
 *
 *   amqpload --port PORT [--host 127.0.0.1] [--publishers 4] [--consumers 4]
 *            [--events 200000] [--size 100] [--window 100] [--prefetch 100]
 *            [--queue bench.q] [--queue-type classic|classic-v2|quorum]
 *            [--timeout 120]
 *
 * End-to-end throughput of persistent events through a topic exchange, the way
 * RabbitMQ's own guides say to do it fast and safely:
 *
 *   - one connection per thread (a channel is not shared between threads);
 *   - P publisher threads publish --events in total, --size bytes each,
 *     delivery_mode 2 (persistent), routing key "bench.created", to the
 *     durable topic exchange "bench.topic", with publisher confirms on and a
 *     sliding window of at most --window unconfirmed messages per publisher;
 *   - C consumer threads consume the durable queue --queue (bound with
 *     "bench.#", created fresh and deleted at the end) with basic.qos
 *     prefetch --prefetch and manual acks, one multiple-ack per batch: when
 *     half the prefetch is unacked or nothing more is buffered.
 *
 * --queue-type picks the durable queue: classic (the default queue type of
 * RabbitMQ 3.10), classic-v2 (x-queue-version 2) or quorum (x-queue-type
 * quorum, the replicated type RabbitMQ recommends for durable data; the
 * fastest of the three here, so bench_bus.py's row uses it).
 *
 * The clock starts when every connection is open and consuming, and stops
 * when the last of the --events messages has been acked and every publisher
 * holds its last confirm (the consumer that takes the last message then does
 * one synchronous round trip, so that its channel has processed the ack).
 * Prints one JSON line on stdout:
 *
 *   {"events_per_s": ..., "published": ..., "consumed": ..., "seconds": ...}
 *
 * Exits 1 (with the reason on stderr, after the JSON line if it got that
 * far) on any AMQP error, a nack, or when --timeout seconds pass first.
 *
 * It is a load generator only: it does not start RabbitMQ (bench_bus.py
 * does), and it is not part of the server. */
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define EXCHANGE "bench.topic"
#define ROUTING_KEY "bench.created"
#define BINDING "bench.#"

static struct {
    const char *host;
    int port;
    int publishers;
    int consumers;
    long events;
    int size;
    int window;     /* unconfirmed messages per publisher */
    int prefetch;   /* basic.qos prefetch_count per consumer */
    const char *queue;
    const char *queue_type;
    double timeout; /* s, whole run */
} opt = {"127.0.0.1", 0, 4, 4, 200000, 100, 100, 100, "bench.q", "classic", 120};

static double deadline;            /* s, monotonic */
static atomic_long consumed;       /* messages delivered to any consumer */
static atomic_long published;      /* messages confirmed by the broker */
static atomic_int done;            /* every message consumed and acked */
static atomic_int failed;          /* an error was reported: everyone stops */
static pthread_mutex_t end_mu = PTHREAD_MUTEX_INITIALIZER;
static double t_end;               /* s, monotonic: last ack or confirm */
static pthread_barrier_t start_line;
static char *body;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "amqpload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    atomic_store(&failed, 1);
}

/* Moves the end of the measured interval to now if that is later. */
static void mark_end(void)
{
    double t = now();
    pthread_mutex_lock(&end_mu);
    if (t > t_end)
        t_end = t;
    pthread_mutex_unlock(&end_mu);
}

/* 0 if r is a normal reply, else -1 after reporting it. */
static int rpc_ok(amqp_rpc_reply_t r, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_NONE:
        fail("%s: missing RPC reply", what);
        return -1;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        fail("%s: %s", what, amqp_error_string2(r.library_error));
        return -1;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *c = r.reply.decoded;
            fail("%s: connection closed by server: %u %.*s", what, c->reply_code,
                 (int)c->reply_text.len, (char *)c->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *c = r.reply.decoded;
            fail("%s: channel closed by server: %u %.*s", what, c->reply_code,
                 (int)c->reply_text.len, (char *)c->reply_text.bytes);
        } else {
            fail("%s: server method 0x%08x", what, r.reply.id);
        }
        return -1;
    }
    fail("%s: reply type %d", what, (int)r.reply_type);
    return -1;
}

/* A logged-in connection with channel 1 open, or NULL (reported). */
static amqp_connection_state_t connect_amqp(const char *who)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    if (!s) {
        fail("%s: cannot create socket", who);
        goto err_free;
    }
    struct timeval tv = {10, 0};
    amqp_set_rpc_timeout(c, &tv); /* a broker that stops answering fails the run */
    int rc = amqp_socket_open_noblock(s, opt.host, opt.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        fail("%s: connect %s:%d: %s", who, opt.host, opt.port, amqp_error_string2(rc));
        goto err_free;
    }
    /* no heartbeats: a run is short and nothing else would service them */
    if (rpc_ok(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
               who) < 0)
        goto err_close;
    amqp_channel_open(c, 1);
    if (rpc_ok(amqp_get_rpc_reply(c), who) < 0)
        goto err_close;
    return c;

err_close:
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
err_free:
    amqp_destroy_connection(c);
    return NULL;
}

static void disconnect(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* ---- publishers ---- */

struct publisher {
    pthread_t thread;
    long count;        /* messages this publisher sends */
    unsigned char *acked; /* [1..count]: confirmed */
    long low;          /* every tag below low is confirmed */
    long confirmed;
};

static void confirm(struct publisher *p, uint64_t tag, int multiple)
{
    if ((long)tag > p->count || tag == 0)
        return;
    long from = multiple ? p->low : (long)tag;
    for (long t = from; t <= (long)tag; t++) {
        if (!p->acked[t]) {
            p->acked[t] = 1;
            p->confirmed++;
            atomic_fetch_add(&published, 1);
        }
    }
    while (p->low <= p->count && p->acked[p->low])
        p->low++;
}

/* Reads one frame (waiting up to 100 ms) and applies a confirm in it.
 * Returns 0, or -1 on a nack or an error (reported). */
static int read_confirm(amqp_connection_state_t c, struct publisher *p)
{
    amqp_frame_t f;
    struct timeval tv = {0, 100000};
    if (!amqp_frames_enqueued(c) && !amqp_data_in_buffer(c))
        amqp_maybe_release_buffers(c);
    int rc = amqp_simple_wait_frame_noblock(c, &f, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return 0;
    if (rc != AMQP_STATUS_OK) {
        fail("publisher: %s", amqp_error_string2(rc));
        return -1;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0;
    switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *a = f.payload.method.decoded;
        confirm(p, a->delivery_tag, a->multiple);
        return 0;
    }
    case AMQP_BASIC_NACK_METHOD:
        fail("publisher: broker nacked a message");
        return -1;
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *cl = f.payload.method.decoded;
        fail("publisher: channel closed by server: %u %.*s", cl->reply_code,
             (int)cl->reply_text.len, (char *)cl->reply_text.bytes);
        return -1;
    }
    default:
        return 0;
    }
}

static void *publisher_main(void *arg)
{
    struct publisher *p = arg;
    amqp_connection_state_t c = connect_amqp("publisher");
    if (c) {
        amqp_confirm_select(c, 1);
        if (rpc_ok(amqp_get_rpc_reply(c), "confirm.select") < 0) {
            disconnect(c);
            c = NULL;
        }
    }
    pthread_barrier_wait(&start_line);
    if (!c)
        return NULL;
    amqp_basic_properties_t props = {
        ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
        .delivery_mode = 2, /* persistent */
    };
    amqp_bytes_t msg = {(size_t)opt.size, body};
    long sent = 0;
    while (!atomic_load(&failed) && (sent < p->count || p->confirmed < p->count)) {
        if (now() > deadline) {
            fail("publisher: timeout after %.0f s (%ld of %ld confirmed)", opt.timeout,
                 p->confirmed, p->count);
            break;
        }
        if (sent < p->count && sent - p->confirmed < opt.window) {
            int rc = amqp_basic_publish(c, 1, amqp_cstring_bytes(EXCHANGE),
                                        amqp_cstring_bytes(ROUTING_KEY), 0, 0, &props, msg);
            if (rc != AMQP_STATUS_OK) {
                fail("publisher: basic.publish: %s", amqp_error_string2(rc));
                break;
            }
            sent++;
            /* take confirms already here without waiting for them */
            while (amqp_frames_enqueued(c) || amqp_data_in_buffer(c))
                if (read_confirm(c, p) < 0)
                    goto out;
            continue;
        }
        if (read_confirm(c, p) < 0)
            break;
    }
    if (p->confirmed == p->count)
        mark_end();
out:
    disconnect(c);
    return NULL;
}

/* ---- consumers ---- */

static void ack(amqp_connection_state_t c, uint64_t tag, int *pending)
{
    if (!*pending)
        return;
    int rc = amqp_basic_ack(c, 1, tag, 1);
    if (rc != AMQP_STATUS_OK)
        fail("consumer: basic.ack: %s", amqp_error_string2(rc));
    *pending = 0;
    mark_end();
}

static void *consumer_main(void *arg)
{
    (void)arg;
    amqp_connection_state_t c = connect_amqp("consumer");
    if (c) {
        amqp_basic_qos(c, 1, 0, (uint16_t)opt.prefetch, 0);
        if (rpc_ok(amqp_get_rpc_reply(c), "basic.qos") == 0) {
            amqp_basic_consume(c, 1, amqp_cstring_bytes(opt.queue), amqp_empty_bytes, 0, 0,
                               0, amqp_empty_table);
            if (rpc_ok(amqp_get_rpc_reply(c), "basic.consume") < 0) {
                disconnect(c);
                c = NULL;
            }
        } else {
            disconnect(c);
            c = NULL;
        }
    }
    pthread_barrier_wait(&start_line);
    if (!c)
        return NULL;
    int pending = 0, ack_every = opt.prefetch / 2 > 0 ? opt.prefetch / 2 : 1;
    uint64_t last = 0;
    while (!atomic_load(&failed) && !atomic_load(&done)) {
        if (now() > deadline) {
            fail("consumer: timeout after %.0f s (%ld of %ld consumed)", opt.timeout,
                 atomic_load(&consumed), opt.events);
            break;
        }
        amqp_envelope_t env;
        struct timeval tv = {0, 100000};
        amqp_maybe_release_buffers(c);
        amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT) {
            ack(c, last, &pending);
            continue;
        }
        if (rpc_ok(r, "consumer") < 0)
            break;
        last = env.delivery_tag;
        pending++;
        amqp_destroy_envelope(&env);
        long total = atomic_fetch_add(&consumed, 1) + 1;
        if (pending >= ack_every || total >= opt.events ||
            (!amqp_frames_enqueued(c) && !amqp_data_in_buffer(c)))
            ack(c, last, &pending);
        if (total >= opt.events) {
            /* a synchronous round trip: the channel has taken our acks */
            amqp_basic_qos(c, 1, 0, (uint16_t)opt.prefetch, 0);
            if (rpc_ok(amqp_get_rpc_reply(c), "final basic.qos") == 0)
                mark_end();
            atomic_store(&done, 1);
        }
    }
    ack(c, last, &pending);
    disconnect(c);
    return NULL;
}

/* ---- setup ---- */

/* Declares the exchange and a fresh queue bound to it. 0 or -1 (reported). */
static int setup(amqp_connection_state_t c)
{
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(EXCHANGE), amqp_cstring_bytes("topic"), 0,
                          1, 0, 0, amqp_empty_table);
    if (rpc_ok(amqp_get_rpc_reply(c), "exchange.declare") < 0)
        return -1;
    amqp_queue_delete(c, 1, amqp_cstring_bytes(opt.queue), 0, 0);
    if (rpc_ok(amqp_get_rpc_reply(c), "queue.delete") < 0)
        return -1;
    amqp_table_entry_t arg;
    amqp_table_t args = amqp_empty_table;
    if (strcmp(opt.queue_type, "quorum") == 0) {
        arg.key = amqp_cstring_bytes("x-queue-type");
        arg.value.kind = AMQP_FIELD_KIND_UTF8;
        arg.value.value.bytes = amqp_cstring_bytes("quorum");
        args = (amqp_table_t){1, &arg};
    } else if (strcmp(opt.queue_type, "classic-v2") == 0) {
        arg.key = amqp_cstring_bytes("x-queue-version");
        arg.value.kind = AMQP_FIELD_KIND_I32;
        arg.value.value.i32 = 2;
        args = (amqp_table_t){1, &arg};
    } else if (strcmp(opt.queue_type, "classic") != 0) {
        fail("unknown --queue-type %s", opt.queue_type);
        return -1;
    }
    amqp_queue_declare(c, 1, amqp_cstring_bytes(opt.queue), 0, 1, 0, 0, args);
    if (rpc_ok(amqp_get_rpc_reply(c), "queue.declare") < 0)
        return -1;
    amqp_queue_bind(c, 1, amqp_cstring_bytes(opt.queue), amqp_cstring_bytes(EXCHANGE),
                    amqp_cstring_bytes(BINDING), amqp_empty_table);
    if (rpc_ok(amqp_get_rpc_reply(c), "queue.bind") < 0)
        return -1;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: amqpload --port PORT [--host H] [--publishers P] [--consumers C]\n"
                    "       [--events N] [--size BYTES] [--window W] [--prefetch N]\n"
                    "       [--queue NAME] [--queue-type classic|classic-v2|quorum]\n"
                    "       [--timeout S]\n");
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

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--host") == 0)
            opt.host = v;
        else if (strcmp(a, "--port") == 0)
            opt.port = (int)num(v, 1, 65535);
        else if (strcmp(a, "--publishers") == 0)
            opt.publishers = (int)num(v, 1, 1024);
        else if (strcmp(a, "--consumers") == 0)
            opt.consumers = (int)num(v, 1, 1024);
        else if (strcmp(a, "--events") == 0)
            opt.events = num(v, 1, 1000000000);
        else if (strcmp(a, "--size") == 0)
            opt.size = (int)num(v, 0, 1 << 20);
        else if (strcmp(a, "--window") == 0)
            opt.window = (int)num(v, 1, 1000000);
        else if (strcmp(a, "--prefetch") == 0)
            opt.prefetch = (int)num(v, 1, 65535);
        else if (strcmp(a, "--queue") == 0)
            opt.queue = v;
        else if (strcmp(a, "--queue-type") == 0)
            opt.queue_type = v;
        else if (strcmp(a, "--timeout") == 0)
            opt.timeout = (double)num(v, 1, 86400);
        else
            usage();
        i++;
    }
    if (!opt.port)
        usage();
    body = malloc((size_t)opt.size + 1);
    if (!body)
        abort();
    memset(body, 'e', (size_t)opt.size);
    deadline = now() + opt.timeout;

    amqp_connection_state_t admin = connect_amqp("setup");
    if (!admin || setup(admin) < 0)
        return 1;

    int nthreads = opt.publishers + opt.consumers;
    pthread_barrier_init(&start_line, NULL, (unsigned)nthreads + 1);
    struct publisher *pubs = calloc((size_t)opt.publishers, sizeof(*pubs));
    pthread_t *cons = calloc((size_t)opt.consumers, sizeof(*cons));
    if (!pubs || !cons)
        abort();
    for (int i = 0; i < opt.consumers; i++)
        pthread_create(&cons[i], NULL, consumer_main, NULL);
    for (int i = 0; i < opt.publishers; i++) {
        struct publisher *p = &pubs[i];
        p->count = opt.events / opt.publishers + (i < opt.events % opt.publishers);
        p->acked = calloc((size_t)p->count + 2, 1);
        if (!p->acked)
            abort();
        p->low = 1;
        pthread_create(&p->thread, NULL, publisher_main, p);
    }
    pthread_barrier_wait(&start_line); /* everyone connected (or failed) */
    double t0 = now();
    for (int i = 0; i < opt.publishers; i++)
        pthread_join(pubs[i].thread, NULL);
    for (int i = 0; i < opt.consumers; i++)
        pthread_join(cons[i], NULL);

    long got = atomic_load(&consumed), conf = atomic_load(&published);
    double took = t_end > t0 ? t_end - t0 : now() - t0;
    printf("{\"events_per_s\": %.1f, \"published\": %ld, \"consumed\": %ld, "
           "\"seconds\": %.3f, \"publishers\": %d, \"consumers\": %d, \"size\": %d, "
           "\"window\": %d, \"prefetch\": %d, \"queue_type\": \"%s\"}\n",
           got >= opt.events ? (double)opt.events / took : 0.0, conf, got, took,
           opt.publishers, opt.consumers, opt.size, opt.window, opt.prefetch,
           opt.queue_type);
    fflush(stdout);
    if (!atomic_load(&failed) && (got < opt.events || conf < opt.events))
        fail("incomplete: %ld published, %ld consumed of %ld", conf, got, opt.events);
    amqp_queue_delete(admin, 1, amqp_cstring_bytes(opt.queue), 0, 0);
    amqp_get_rpc_reply(admin);
    disconnect(admin);
    return atomic_load(&failed) ? 1 : 0;
}
