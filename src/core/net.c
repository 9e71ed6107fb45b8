#include "net.h"

#include "client.h"
#include "clock.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NET_READ_CHUNK (64 * 1024)        /* bytes asked for per read */
#define NET_READ_CHUNK_MAX (16u << 20)    /* bytes reserved at most per read */

struct net_stats net_stats;

static uv_loop_t *loop;
static uv_tcp_t tcp_listener;
static uv_pipe_t unix_listener;
static int tcp_live, unix_live;
static int bound_port;
static uv_prepare_t before_sleep; /* flushes replies, resumes unblocked */
static uv_idle_t no_sleep;        /* active: the next poll does not block */
static uv_signal_t sig_term, sig_int;
static int signals_live;

static struct client *clients;       /* all clients, newest first */
static size_t nclients;
static uint64_t next_client_id = 1;
static struct client *pending_write; /* clients with output to flush */
static struct client *held;          /* clients with held replies: what a
                                        sync completion has to look at */
static struct client *unblocked;     /* clients to resume parsing */

static struct close_hook {
    net_close_fn *fn;
    void *ctx;
} close_hooks[NET_CLOSE_HOOKS];

static void process_input(struct client *c);
static void flush_client(struct client *c);

uv_loop_t *net_loop(void)
{
    if (!loop) {
        loop = xmalloc(sizeof(*loop));
        uv_loop_init(loop);
    }
    return loop;
}

size_t client_count(void)
{
    return nclients;
}

uint64_t client_id(const struct client *c)
{
    return c->id;
}

int client_resp(const struct client *c)
{
    return c->resp;
}

int client_db(const struct client *c)
{
    return c->db;
}

const char *client_name(const struct client *c)
{
    return c->name;
}

const char *client_addr(const struct client *c)
{
    return c->addr;
}

int client_is_blocked(const struct client *c)
{
    return c->blocked;
}

int client_in_exec(const struct client *c)
{
    return (c->flags & CLIENT_IN_EXEC) != 0;
}

void client_foreach(void (*fn)(struct client *c, void *ctx), void *ctx)
{
    struct client *next;
    for (struct client *c = clients; c; c = next) {
        next = c->next;
        fn(c, ctx);
    }
}

struct client *client_by_id(uint64_t id)
{
    for (struct client *c = clients; c; c = c->next)
        if (c->id == id && !(c->flags & CLIENT_CLOSING))
            return c;
    return NULL;
}

void client_want_write(struct client *c)
{
    if (c->flags & (CLIENT_PENDING_WRITE | CLIENT_CLOSING))
        return;
    c->flags |= CLIENT_PENDING_WRITE;
    c->pw_next = pending_write;
    pending_write = c;
}

/* ---- close ---- */

void net_on_close(net_close_fn *fn, void *ctx)
{
    struct close_hook *free_slot = NULL;
    for (size_t i = 0; i < NET_CLOSE_HOOKS; i++) {
        if (close_hooks[i].fn == fn && close_hooks[i].ctx == ctx)
            return;
        if (!close_hooks[i].fn && !free_slot)
            free_slot = &close_hooks[i];
    }
    if (!free_slot) {
        log_error("net: more than %d close hooks", NET_CLOSE_HOOKS);
        abort();
    }
    *free_slot = (struct close_hook){fn, ctx};
}

void net_on_close_remove(net_close_fn *fn, void *ctx)
{
    for (size_t i = 0; i < NET_CLOSE_HOOKS; i++)
        if (close_hooks[i].fn == fn && close_hooks[i].ctx == ctx)
            close_hooks[i] = (struct close_hook){NULL, NULL};
}

static void on_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    if (c->timer_live) {
        /* the timer's own close callback frees the client */
        c->timer_live = 0;
        uv_close((uv_handle_t *)&c->block_timer, on_closed);
        return;
    }
    resp_parser_deinit(&c->parser);
    sbuf_deinit(&c->query);
    sbuf_deinit(&c->out);
    sbuf_deinit(&c->wbuf);
    free(c->marks);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    free(c);
}

static void held_add(struct client *c)
{
    if (c->on_held)
        return;
    c->on_held = 1;
    c->held_prev = NULL;
    c->held_next = held;
    if (held)
        held->held_prev = c;
    held = c;
}

static void held_remove(struct client *c)
{
    if (!c->on_held)
        return;
    c->on_held = 0;
    if (c->held_prev)
        c->held_prev->held_next = c->held_next;
    else
        held = c->held_next;
    if (c->held_next)
        c->held_next->held_prev = c->held_prev;
}

static void unlink_lists(struct client *c)
{
    held_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nclients--;
    if (c->flags & CLIENT_PENDING_WRITE) {
        for (struct client **pp = &pending_write; *pp; pp = &(*pp)->pw_next)
            if (*pp == c) {
                *pp = c->pw_next;
                break;
            }
        c->flags &= ~CLIENT_PENDING_WRITE;
    }
    if (c->on_unblocked) {
        for (struct client **pp = &unblocked; *pp; pp = &(*pp)->ub_next)
            if (*pp == c) {
                *pp = c->ub_next;
                break;
            }
        c->on_unblocked = 0;
    }
}

void client_close(struct client *c, const char *why)
{
    if (c->flags & CLIENT_CLOSING)
        return;
    c->flags |= CLIENT_CLOSING;
    if (why)
        log_debug("client %llu (%s) closed: %s", (unsigned long long)c->id,
                  c->addr, why);
    if (c->blocked) {
        c->blocked = 0;
        net_stats.blocked_clients--;
        if (c->timer_live)
            uv_timer_stop(&c->block_timer);
        if (c->on_disconnect)
            c->on_disconnect(c, c->block_ctx);
    }
    for (size_t i = 0; i < NET_CLOSE_HOOKS; i++)
        if (close_hooks[i].fn)
            close_hooks[i].fn(close_hooks[i].ctx, c->id);
    unlink_lists(c);
    uv_read_stop(&c->h.stream);
    /* uv_close cancels an in-flight write; its callback sees UV_ECANCELED */
    uv_close(&c->h.handle, on_closed);
}

void client_close_after_reply(struct client *c)
{
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
    client_want_write(c);
}

/* ---- output ---- */

/* Bytes of out that may leave now: up to the first reply still held. */
static size_t flushable(struct client *c)
{
    size_t i = 0;
    while (i < c->nmarks && c->marks[i].src->synced >= c->marks[i].seq)
        i++;
    if (i) {
        memmove(c->marks, c->marks + i, (c->nmarks - i) * sizeof(*c->marks));
        c->nmarks -= i;
        if (c->nmarks == 0)
            held_remove(c);
    }
    return c->nmarks ? c->marks[0].off : c->out.len;
}

static void consume_out(struct client *c, size_t n)
{
    sbuf_consume(&c->out, n);
    for (size_t i = 0; i < c->nmarks; i++)
        c->marks[i].off -= n;
    if (c->cmd_start >= n)
        c->cmd_start -= n;
    else
        c->cmd_start = 0;
}

/* Bytes of buffer capacity a client keeps between replies; a bigger buffer
 * (after a large reply) is given back once it is empty. */
#define NET_KEEP_BUFFER (1u << 20)

static void on_written(uv_write_t *req, int status)
{
    struct client *c = req->data;
    c->writing = 0;
    if (c->wbuf.cap > NET_KEEP_BUFFER) {
        sbuf_deinit(&c->wbuf);
        sbuf_init(&c->wbuf);
    } else {
        sbuf_clear(&c->wbuf);
    }
    if (c->flags & CLIENT_CLOSING)
        return;
    if (status < 0) {
        client_close(c, uv_strerror(status));
        return;
    }
    client_want_write(c);
}

static int over_output_limit(struct client *c)
{
    return config_client_output_buffer_limit > 0 &&
           c->out.len + c->wbuf.len >
               (size_t)config_client_output_buffer_limit;
}

/* Closes c if its unsent replies passed the limit; returns 1 if it did. */
static int enforce_output_limit(struct client *c)
{
    if (!over_output_limit(c))
        return 0;
    net_stats.output_limit_disconnects++;
    log_ratelimited(LOG_WARN,
                    "client %llu (%s) closed: output buffer of %zu bytes "
                    "over client-output-buffer-limit %lld",
                    (unsigned long long)c->id, c->addr,
                    c->out.len + c->wbuf.len,
                    (long long)config_client_output_buffer_limit);
    client_close(c, "output buffer limit");
    return 1;
}

static void flush_client(struct client *c)
{
    if (c->flags & CLIENT_CLOSING)
        return;
    if (enforce_output_limit(c))
        return;
    if (c->writing)
        return; /* on_written schedules the next flush */
    size_t n = flushable(c);
    if (n > 0) {
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)n);
        int w = uv_try_write(&c->h.stream, &b, 1);
        if (w < 0 && w != UV_EAGAIN) {
            client_close(c, uv_strerror(w));
            return;
        }
        size_t done = w > 0 ? (size_t)w : 0;
        net_stats.net_output_bytes += done;
        if (done < n) {
            /* the kernel is full: hand the rest to an async write. When all
             * of out may go (no held reply), the buffer itself changes hands
             * instead of being copied: big replies are not copied twice. */
            size_t off = 0;
            if (n == c->out.len) {
                struct sbuf t = c->wbuf; /* empty: no write in flight */
                c->wbuf = c->out;
                c->out = t;
                c->cmd_start = 0;
                off = done;
            } else {
                sbuf_add(&c->wbuf, c->out.data + done, n - done);
                consume_out(c, n);
            }
            net_stats.net_output_bytes += n - done;
            c->writing = 1;
            c->wreq.data = c;
            uv_buf_t wb = uv_buf_init(c->wbuf.data + off,
                                      (unsigned)(c->wbuf.len - off));
            int rc = uv_write(&c->wreq, &c->h.stream, &wb, 1, on_written);
            if (rc < 0) {
                c->writing = 0;
                client_close(c, uv_strerror(rc));
            }
            return;
        }
        consume_out(c, n);
    }
    if ((c->flags & CLIENT_CLOSE_AFTER_REPLY) && c->out.len == 0 &&
        !c->blocked)
        client_close(c, "closed after reply");
}

static void on_no_sleep(uv_idle_t *h)
{
    uv_idle_stop(h);
}

static void on_before_sleep(uv_prepare_t *h)
{
    (void)h;
    if (unblocked) {
        /* their commands run here, after this turn's uv_check handles (the
         * store's write and sync request, the journals' sync requests): the
         * poll must not sleep before those run again, or a durable reply of
         * a command pipelined behind a blocking one waits for the next
         * timer */
        uv_idle_start(&no_sleep, on_no_sleep);
    }
    while (unblocked) {
        struct client *c = unblocked;
        unblocked = c->ub_next;
        c->on_unblocked = 0;
        process_input(c);
    }
    while (pending_write) {
        struct client *c = pending_write;
        pending_write = c->pw_next;
        c->flags &= ~CLIENT_PENDING_WRITE;
        flush_client(c);
    }
}

/* ---- durable replies ---- */

void client_hold(struct client *c, struct sync_source *src, uint64_t seq)
{
    if (src->synced >= seq)
        return;
    if (c->nmarks == c->marks_cap) {
        c->marks_cap = c->marks_cap ? c->marks_cap * 2 : 4;
        c->marks = xrealloc(c->marks, c->marks_cap * sizeof(*c->marks));
    }
    /* a later command's hold never starts before an earlier one's */
    c->marks[c->nmarks++] = (struct hold_mark){c->cmd_start, src, seq};
    held_add(c);
}

void net_synced(struct sync_source *src, uint64_t seq)
{
    if (seq <= src->synced)
        return;
    src->synced = seq;
    /* only clients holding replies: this runs once per fsync round */
    for (struct client *c = held; c; c = c->held_next)
        client_want_write(c);
}

void net_sync_failed(struct sync_source *src)
{
    src->failed = 1;
    struct client *next;
    for (struct client *c = held; c; c = next) {
        next = c->held_next;
        for (size_t i = 0; i < c->nmarks; i++)
            if (c->marks[i].src == src && c->marks[i].seq > src->synced) {
                client_close(c, "sync failed: write outcome unknown");
                break;
            }
    }
}

/* ---- blocking ---- */

static void on_block_timeout(uv_timer_t *t)
{
    struct client *c = t->data;
    if (!c->blocked)
        return;
    client_block_fn *fn = c->on_timeout;
    void *ctx = c->block_ctx;
    if (fn)
        fn(c, ctx);
    if (c->blocked)
        client_unblock(c);
}

void client_block(struct client *c, uint64_t timeout_ms,
                  client_block_fn *on_timeout, client_block_fn *on_disconnect,
                  void *ctx)
{
    c->blocked = 1;
    net_stats.blocked_clients++;
    c->on_timeout = on_timeout;
    c->on_disconnect = on_disconnect;
    c->block_ctx = ctx;
    if (timeout_ms > 0) {
        if (!c->timer_live) {
            uv_timer_init(loop, &c->block_timer);
            c->block_timer.data = c;
            c->timer_live = 1;
        }
        uv_timer_start(&c->block_timer, on_block_timeout, timeout_ms, 0);
    }
}

void client_unblock(struct client *c)
{
    if (!c->blocked)
        return;
    c->blocked = 0;
    net_stats.blocked_clients--;
    if (c->timer_live)
        uv_timer_stop(&c->block_timer);
    c->on_timeout = c->on_disconnect = NULL;
    c->block_ctx = NULL;
    client_want_write(c);
    if (!c->on_unblocked && !(c->flags & CLIENT_CLOSING)) {
        c->on_unblocked = 1;
        c->ub_next = unblocked;
        unblocked = c;
    }
}

void net_abort_blocked(const char *err)
{
    for (struct client *c = clients; c; c = c->next) {
        if (!c->blocked || (c->flags & CLIENT_CLOSING))
            continue;
        if (c->on_disconnect)
            c->on_disconnect(c, c->block_ctx);
        resp_add_error(&c->out, err);
        client_unblock(c);
    }
}

/* ---- input ---- */

static void protocol_error(struct client *c, const char *msg)
{
    net_stats.protocol_errors++;
    log_ratelimited(LOG_INFO, "client %llu (%s): %s",
                    (unsigned long long)c->id, c->addr, msg);
    char line[RESP_ERR_LEN + 8];
    snprintf(line, sizeof(line), "ERR %s", msg);
    resp_add_error(&c->out, line);
    client_close_after_reply(c);
}

static void process_input(struct client *c)
{
    while (!(c->flags & (CLIENT_CLOSING | CLIENT_CLOSE_AFTER_REPLY)) &&
           !c->blocked && c->qpos < c->query.len) {
        long used = resp_parse(&c->parser, c->query.data + c->qpos,
                               c->query.len - c->qpos);
        if (used == RESP_NEED_MORE)
            break;
        if (used < 0) {
            protocol_error(c, c->parser.err);
            break;
        }
        c->qpos += (size_t)used;
        if (c->parser.argc == 0)
            continue;
        c->flags |= CLIENT_IN_COMMAND;
        command_execute(c, c->parser.argc, c->parser.argv);
        c->flags &= ~CLIENT_IN_COMMAND;
        /* checked per reply, so one read of small requests with big replies
         * cannot make the server allocate far past the limit */
        if (enforce_output_limit(c))
            return;
        if (c->out.len || c->nmarks)
            client_want_write(c);
    }
    if (c->flags & CLIENT_CLOSING)
        return;
    /* drop consumed bytes once, not per command */
    if (c->qpos) {
        sbuf_consume(&c->query, c->qpos);
        c->qpos = 0;
    }
    if (c->out.len > 0)
        client_want_write(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct client *c = h->data;
    (void)suggested;
    size_t want = NET_READ_CHUNK;
    size_t need = resp_parser_want(&c->parser);
    size_t have = c->query.len - c->qpos;
    if (need > have && need - have > want)
        want = need - have > NET_READ_CHUNK_MAX ? NET_READ_CHUNK_MAX
                                                : need - have;
    sbuf_reserve(&c->query, want);
    *buf = uv_buf_init(c->query.data + c->query.len,
                       (unsigned)(c->query.cap - c->query.len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = s->data;
    (void)buf;
    if (n < 0) {
        client_close(c, n == UV_EOF ? "connection closed by peer"
                                    : uv_strerror((int)n));
        return;
    }
    if (n == 0)
        return;
    c->query.len += (size_t)n;
    c->query.data[c->query.len] = '\0';
    net_stats.net_input_bytes += (uint64_t)n;
    if (config_client_query_buffer_limit > 0 &&
        c->query.len - c->qpos > (size_t)config_client_query_buffer_limit) {
        net_stats.query_limit_disconnects++;
        log_ratelimited(LOG_WARN,
                        "client %llu (%s) closed: query buffer of %zu bytes "
                        "over client-query-buffer-limit %lld",
                        (unsigned long long)c->id, c->addr,
                        c->query.len - c->qpos,
                        (long long)config_client_query_buffer_limit);
        client_close(c, "query buffer limit");
        return;
    }
    process_input(c);
}

/* ---- accept ---- */

static void name_of(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, len, "%s:%d", ip, port);
}

static void free_unaccepted(uv_handle_t *h)
{
    free(h->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        log_ratelimited(LOG_WARN, "accept failed: %s", uv_strerror(status));
        return;
    }
    struct client *c = xcalloc(1, sizeof(*c));
    int is_unix = server == (uv_stream_t *)&unix_listener;
    if (is_unix)
        uv_pipe_init(loop, &c->h.pipe, 0);
    else
        uv_tcp_init(loop, &c->h.tcp);
    c->h.handle.data = c;
    if (uv_accept(server, &c->h.stream) < 0) {
        uv_close(&c->h.handle, free_unaccepted);
        return;
    }
    net_stats.connections_received++;
    c->id = next_client_id++;
    c->resp = 2;
    c->authenticated = config_requirepass[0] == '\0';
    c->ctime_ms = c->last_ms = clock_mono_ms();
    c->last_cmd = "NULL";
    sbuf_init(&c->query);
    sbuf_init(&c->out);
    sbuf_init(&c->wbuf);
    resp_parser_init(&c->parser, config_max_bulk_len, config_max_multibulk_len);
    uv_os_fd_t fd = -1;
    uv_fileno(&c->h.handle, &fd);
    c->fd = fd;
    if (is_unix) {
        c->flags |= CLIENT_UNIX;
        snprintf(c->addr, sizeof(c->addr), "%s:0", config_unixsocket);
        snprintf(c->laddr, sizeof(c->laddr), "%s:0", config_unixsocket);
    } else {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
            name_of(&ss, c->addr, sizeof(c->addr));
        len = sizeof(ss);
        if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
            name_of(&ss, c->laddr, sizeof(c->laddr));
        uv_tcp_nodelay(&c->h.tcp, 1);
    }
    c->next = clients;
    if (clients)
        clients->prev = c;
    clients = c;
    nclients++;
    if ((int64_t)nclients > config_maxclients) {
        net_stats.rejected_connections++;
        resp_add_error(&c->out, "ERR max number of clients reached");
        client_close_after_reply(c);
        return;
    }
    uv_read_start(&c->h.stream, on_alloc, on_read);
}

/* ---- listen / run / stop ---- */

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    log_info("received %s, shutting down", signum == SIGINT ? "SIGINT"
                                                            : "SIGTERM");
    net_stop();
}

int net_listen(char *err, size_t errlen)
{
    net_loop();
    uv_prepare_init(loop, &before_sleep);
    uv_prepare_start(&before_sleep, on_before_sleep);
    uv_unref((uv_handle_t *)&before_sleep);
    uv_idle_init(loop, &no_sleep);
    uv_unref((uv_handle_t *)&no_sleep);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    signals_live = 1;

    struct sockaddr_storage ss;
    int rc = uv_ip4_addr(config_bind, (int)config_port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        rc = uv_ip6_addr(config_bind, (int)config_port,
                         (struct sockaddr_in6 *)&ss);
    if (rc < 0) {
        snprintf(err, errlen, "invalid bind address '%s'", config_bind);
        return -1;
    }
    uv_tcp_init(loop, &tcp_listener);
    tcp_live = 1;
    rc = uv_tcp_bind(&tcp_listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&tcp_listener, 511, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s:%lld: %s", config_bind,
                 (long long)config_port, uv_strerror(rc));
        return -1;
    }
    int len = sizeof(ss);
    uv_tcp_getsockname(&tcp_listener, (struct sockaddr *)&ss, &len);
    bound_port = ss.ss_family == AF_INET
                     ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                     : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    if (config_unixsocket[0]) {
        unlink(config_unixsocket);
        uv_pipe_init(loop, &unix_listener, 0);
        unix_live = 1;
        rc = uv_pipe_bind(&unix_listener, config_unixsocket);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&unix_listener, 511, on_connection);
        if (rc < 0) {
            snprintf(err, errlen, "cannot listen on unix socket %s: %s",
                     config_unixsocket, uv_strerror(rc));
            return -1;
        }
    }
    return 0;
}

int net_port(void)
{
    return bound_port;
}

void net_run(void)
{
    uv_run(loop, UV_RUN_DEFAULT);
}

void net_stop(void)
{
    uv_stop(loop);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int replies_pending(void)
{
    for (struct client *c = clients; c; c = c->next)
        if (c->nmarks || c->writing || (c->out.len && !c->blocked))
            return 1;
    return 0;
}

void net_close_clients(void)
{
    /* No new connections or commands; replies already computed still go out,
     * including those held for an fsync that is in flight (bounded wait). */
    if (tcp_live) {
        uv_close((uv_handle_t *)&tcp_listener, NULL);
        tcp_live = 0;
    }
    if (unix_live) {
        uv_close((uv_handle_t *)&unix_listener, NULL);
        unlink(config_unixsocket);
        unix_live = 0;
    }
    for (struct client *c = clients; c; c = c->next)
        uv_read_stop(&c->h.stream);
    uint64_t deadline = clock_mono_ms() + 2000;
    for (;;) {
        on_before_sleep(&before_sleep);
        uv_run(loop, UV_RUN_NOWAIT);
        if (!replies_pending() || clock_mono_ms() > deadline)
            break;
        uv_sleep(1);
    }
    struct client *next;
    for (struct client *c = clients; c; c = next) {
        next = c->next;
        client_close(c, "server shutting down");
    }
    uv_run(loop, UV_RUN_NOWAIT);
}

void net_close(void)
{
    if (tcp_live)
        uv_close((uv_handle_t *)&tcp_listener, NULL);
    if (unix_live) {
        uv_close((uv_handle_t *)&unix_listener, NULL);
        unlink(config_unixsocket);
    }
    tcp_live = unix_live = 0;
    if (signals_live) {
        uv_close((uv_handle_t *)&sig_term, NULL);
        uv_close((uv_handle_t *)&sig_int, NULL);
    }
    uv_close((uv_handle_t *)&before_sleep, NULL);
    uv_close((uv_handle_t *)&no_sleep, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    /* handles owned by modules that forgot to close are closed here */
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    if (uv_loop_close(loop) != 0)
        log_warn("event loop closed with handles still open");
    free(loop);
    loop = NULL;
}
