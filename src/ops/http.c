/* http.c - the operations HTTP listener (http.h): connections, limits, auth,
 * routing, and the module (config rows, INFO section "http").
 *
 * Each connection reads into `in`, feeds it to http_parser and answers every
 * complete request at once into `out` (handlers are synchronous). One write is
 * in flight at a time; while it is, reading stops, so a client that pipelines
 * and never reads holds at most one read's worth of answers. A request that
 * breaks a rule gets its error reply and the connection closes after it. One
 * timer per connection enforces the request deadline (from the first byte of a
 * request, or from accept, to its last byte; also bounds a stalled write) and
 * the idle keep-alive time between requests. */
#include "http.h"

#include "clock.h"
#include "common.h"
#include "config.h"
#include "log.h"
#include "module.h"
#include "net.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- config ---- */

static int64_t cfg_port;       /* 0 = no HTTP listener */
static char *cfg_bind;         /* listen address */
static int64_t cfg_max_header; /* bytes of request line + headers */
static int64_t cfg_max_url;    /* bytes of the request target */
static int64_t cfg_max_body;   /* bytes of a request body read and dropped */
static int64_t cfg_timeout_ms; /* ms to receive one whole request */
static int64_t cfg_idle_ms;    /* ms a keep-alive connection may idle */
static int64_t cfg_max_conns;  /* open HTTP connections */

/* ---- routes ---- */

struct route {
    const char *path;
    http_handler *fn;
};

static struct route routes[HTTP_ROUTES];
static size_t nroutes;

void http_route(const char *path, http_handler *fn)
{
    for (size_t i = 0; i < nroutes; i++)
        if (!strcmp(routes[i].path, path)) {
            routes[i].fn = fn;
            return;
        }
    if (nroutes == HTTP_ROUTES) {
        log_error("http: more than %d routes; %s not served", HTTP_ROUTES,
                  path);
        return;
    }
    routes[nroutes++] = (struct route){path, fn};
}

static http_handler *route_find(const char *path)
{
    for (size_t i = 0; i < nroutes; i++)
        if (!strcmp(routes[i].path, path))
            return routes[i].fn;
    return NULL;
}

/* ---- percent-decoding ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into out (cap bytes, NUL-terminated); '+' is a space when
 * plus is set (query strings). Returns the length, or -1 if it does not fit,
 * has a bad %XX or decodes to a NUL byte. */
static long pct_decode(const char *s, size_t n, int plus, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus) {
            ch = ' ';
        }
        if (ch == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = ch;
    }
    if (cap == 0)
        return -1;
    out[o] = '\0';
    return (long)o;
}

const char *http_query_param(const struct http_request *req, const char *name,
                             char *buf, size_t buflen)
{
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        char key[256];
        long k = pct_decode(p, klen, 1, key, sizeof(key));
        if (k == (long)nlen && !memcmp(key, name, nlen)) {
            const char *v = eq ? eq + 1 : p + len;
            size_t vlen = (size_t)(p + len - v);
            return pct_decode(v, vlen, 1, buf, buflen) < 0 ? NULL : buf;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return NULL;
}

/* ---- auth ---- */

/* Compares without an early exit, as AUTH does, so timing says nothing of
 * the matching prefix. */
static int password_is(const char *p, size_t len)
{
    size_t n = strlen(config_requirepass);
    unsigned diff = (unsigned)(len != n);
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned)(p[i] ^ (i < n ? config_requirepass[i] : 0));
    return diff == 0;
}

/* "Basic base64(user:password)" (any user) or "Bearer password". */
static int auth_ok(const char *h, size_t len)
{
    if (!config_requirepass[0])
        return 1;
    if (len > 7 && !strncasecmp(h, "Bearer ", 7))
        return password_is(h + 7, len - 7);
    if (len <= 6 || strncasecmp(h, "Basic ", 6) != 0)
        return 0;
    const char *b64 = h + 6;
    size_t blen = len - 6;
    if (blen % 4 != 0)
        return 0;
    unsigned char *dec = xmalloc(blen / 4 * 3 + 1);
    int n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)blen);
    int ok = 0;
    if (n >= 0) {
        /* EVP_DecodeBlock counts the padding as zero bytes */
        for (size_t i = blen; i > 0 && b64[i - 1] == '='; i--)
            n--;
        unsigned char *colon = memchr(dec, ':', (size_t)n);
        if (colon)
            ok = password_is((const char *)colon + 1,
                             (size_t)(dec + n - colon - 1));
    }
    free(dec);
    return ok;
}

/* ---- connections ---- */

/* A reply body in pieces its handler keeps (http_response.parts). */
struct parts {
    const struct iovec *v;
    size_t n;                  /* 0: none */
    void (*release)(void *ctx);
    void *ctx;
};

/* Hands parts back to their handler. */
static void parts_release(struct parts *p)
{
    if (p->n && p->release)
        p->release(p->ctx);
    *p = (struct parts){0};
}

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles; /* of tcp and timer still open */
    struct conn *prev, *next;
    http_parser parser;
    struct sbuf in;      /* bytes read, not yet parsed */
    struct sbuf out;     /* replies not yet handed to a write */
    struct sbuf url;     /* the current request's target */
    struct sbuf field;   /* the current header's name (up to 32 bytes) */
    struct sbuf auth;    /* the Authorization header's value */
    int in_value;        /* last header callback was a value */
    int field_is_auth;   /* the header being read is Authorization */
    size_t header_bytes; /* of the current request's line and headers */
    size_t body_bytes;   /* of the current request's body */
    int in_request;      /* bytes of a request arrived, reply not made */
    int error;           /* status of the rule a callback saw broken, or 0 */
    const char *why;     /* its reason, static */
    int closing;         /* the last reply is made: close after its write */
    struct sbuf big;     /* a large reply body, sent after out without a copy */
    void (*big_release)(struct sbuf *); /* its owner's release, or NULL */
    struct parts parts;  /* or a reply body in its handler's pieces */
    int writing;         /* a write is in flight */
    int closed;          /* uv_close called */
};

struct write_req {
    uv_write_t req;
    struct conn *conn;
    struct sbuf data;
    struct sbuf big;                    /* len 0 if none */
    void (*big_release)(struct sbuf *); /* NULL: freed */
    struct parts parts;                 /* n 0 if none */
};

/* A reply body at least this large goes out as its own buffer, not copied
 * after its headers. */
#define HTTP_BIG_BODY (64 * 1024)

/* Gives a body back to its handler's release, or frees it. */
static void body_release(struct sbuf *b, void (*release)(struct sbuf *))
{
    if (release)
        release(b);
    else
        sbuf_deinit(b);
    *b = (struct sbuf){0};
}

static uv_tcp_t *listener; /* NULL when off */
static int listen_port;
static struct conn *conns;
static size_t nconns;
static http_parser_settings settings;

static struct {
    uint64_t connections;  /* accepted */
    uint64_t rejected;     /* refused with 503 at the connection limit */
    uint64_t requests;     /* replies sent, any status */
    uint64_t responses[6]; /* by class: [2] = 2xx ... [5] = 5xx */
    uint64_t timeouts;     /* 408s and stalled connections dropped */
} stats;

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return status < 300   ? "OK"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles > 0)
        return;
    sbuf_deinit(&c->in);
    sbuf_deinit(&c->out);
    if (c->big.data)
        body_release(&c->big, c->big_release);
    parts_release(&c->parts);
    sbuf_deinit(&c->url);
    sbuf_deinit(&c->field);
    sbuf_deinit(&c->auth);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timer(uv_timer_t *t);

static void timer_set(struct conn *c, int64_t ms)
{
    uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
}

/* Appends one whole reply to c->out. extra: more header lines or NULL. */
static void reply(struct conn *c, int status, const char *content_type,
                  const char *cache_control, const char *extra,
                  const char *body, size_t len, int head_only)
{
    sbuf_addf(&c->out,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Cache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n"
              "%sConnection: %s\r\n\r\n",
              status, reason(status), content_type, len,
              cache_control ? cache_control : "no-store", extra ? extra : "",
              c->closing ? "close" : "keep-alive");
    if (!head_only)
        sbuf_add(&c->out, body, len);
    stats.requests++;
    stats.responses[status / 100 <= 5 ? status / 100 : 5]++;
}

/* An error reply with a one-line text body (not sent to a HEAD request); the
 * connection closes after it. */
static void reply_error(struct conn *c, int status, const char *why,
                        const char *extra)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, reason(status),
                     why);
    c->closing = 1;
    c->in_request = 0;
    reply(c, status, "text/plain; charset=utf-8", NULL, extra, body, (size_t)n,
          c->parser.method == HTTP_HEAD);
}

static void on_written(uv_write_t *req, int status);

static void flush(struct conn *c)
{
    if (c->writing || c->closed ||
        (c->out.len == 0 && !c->big.data && !c->parts.n)) {
        if (!c->writing && !c->closed && c->closing)
            conn_close(c);
        return;
    }
    struct write_req *w = xmalloc(sizeof(*w));
    w->conn = c;
    w->data = c->out;
    w->big = c->big;
    w->big_release = c->big_release;
    w->parts = c->parts;
    sbuf_init(&c->out);
    c->big = (struct sbuf){0};
    c->parts = (struct parts){0};
    /* libuv copies the buffer array: ours may go once uv_write returns */
    size_t nb = 1 + (w->big.data ? 1 : 0) + w->parts.n;
    uv_buf_t small[2], *b = nb <= 2 ? small : xmalloc(nb * sizeof(*b));
    b[0] = uv_buf_init(w->data.data, (unsigned)w->data.len);
    size_t k = 1;
    if (w->big.data)
        b[k++] = uv_buf_init(w->big.data, (unsigned)w->big.len);
    for (size_t i = 0; i < w->parts.n; i++)
        b[k++] = uv_buf_init(w->parts.v[i].iov_base,
                             (unsigned)w->parts.v[i].iov_len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, b, (unsigned)nb,
                      on_written);
    if (b != small)
        free(b);
    if (rc < 0) {
        sbuf_deinit(&w->data);
        if (w->big.data)
            body_release(&w->big, w->big_release);
        parts_release(&w->parts);
        free(w);
        conn_close(c);
        return;
    }
    c->writing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    timer_set(c, cfg_timeout_ms);
}

/* ---- parser callbacks ---- */

static int fail(struct conn *c, int status, const char *why)
{
    c->error = status;
    c->why = why;
    return -1;
}

static int count_header(struct conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > (size_t)cfg_max_header)
        return fail(c, 431, "request headers exceed http-max-header-bytes");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    c->in_request = 1;
    c->header_bytes = c->body_bytes = 0;
    c->in_value = c->field_is_auth = 0;
    sbuf_clear(&c->url);
    sbuf_clear(&c->field);
    sbuf_clear(&c->auth);
    timer_set(c, cfg_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    if (c->url.len + n > (size_t)cfg_max_url)
        return fail(c, 414, "request target exceeds http-max-url-bytes");
    sbuf_add(&c->url, at, n);
    return count_header(c, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    if (c->in_value) {
        c->in_value = 0;
        sbuf_clear(&c->field);
    }
    if (c->field.len + n <= 32)
        sbuf_add(&c->field, at, n);
    c->field_is_auth = 0;
    return count_header(c, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    if (!c->in_value) {
        c->in_value = 1;
        c->field_is_auth = !strcasecmp(c->field.data, "authorization");
        if (c->field_is_auth)
            sbuf_clear(&c->auth); /* a repeated header: the last one counts */
    }
    if (c->field_is_auth)
        sbuf_add(&c->auth, at, n);
    return count_header(c, n);
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    if ((p->flags & F_CONTENTLENGTH) &&
        p->content_length > (uint64_t)cfg_max_body)
        return fail(c, 413, "request body exceeds http-max-body-bytes");
    if (p->method != HTTP_GET && p->method != HTTP_HEAD)
        return fail(c, 405, "only GET and HEAD are served");
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    (void)at;
    struct conn *c = p->data;
    c->body_bytes += n;
    if (c->body_bytes > (size_t)cfg_max_body)
        return fail(c, 413, "request body exceeds http-max-body-bytes");
    return 0;
}

/* Splits the request target into its percent-decoded path and its raw query
 * (both heap strings the caller frees). 0, or -1 after the 400 reply. */
static int target_split(struct conn *c, char **path, char **query)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(c->url.data, c->url.len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        reply_error(c, 400, "bad request target", NULL);
        return -1;
    }
    *path = xmalloc(c->url.len + 1);
    if (pct_decode(c->url.data + u.field_data[UF_PATH].off,
                   u.field_data[UF_PATH].len, 0, *path, c->url.len + 1) < 0) {
        free(*path);
        reply_error(c, 400, "bad percent-encoding in the path", NULL);
        return -1;
    }
    *query = (u.field_set & (1 << UF_QUERY))
                 ? xmemdup(c->url.data + u.field_data[UF_QUERY].off,
                           u.field_data[UF_QUERY].len)
                 : xstrdup("");
    return 0;
}

/* Runs the route's handler and appends its reply. */
static void run_handler(struct conn *c, http_parser *p, http_handler *fn,
                        const char *path, const char *query)
{
    int head = p->method == HTTP_HEAD;
    struct http_request req = {head ? "HEAD" : "GET", path, query};
    struct http_response res = {.status = 200,
                                .content_type = "text/plain; charset=utf-8"};
    sbuf_init(&res.body);
    fn(&req, &res);
    /* no protocol switch is offered: an Upgrade request ends the connection */
    c->closing = !http_should_keep_alive(p) || p->upgrade;
    const char *type =
        res.content_type ? res.content_type : "text/plain; charset=utf-8";
    /* a large body follows its headers as a buffer of its own (the parser
     * pauses until it is written, so no later reply can pass it) */
    if (res.nparts) { /* the handler's pieces follow the headers as they are */
        size_t len = 0;
        for (size_t i = 0; i < res.nparts; i++)
            len += res.parts[i].iov_len;
        reply(c, res.status, type, res.cache_control, NULL, NULL, len, 1);
        c->parts = (struct parts){res.parts, res.nparts, res.release_parts,
                                  res.parts_ctx};
        if (head)
            parts_release(&c->parts);
        body_release(&res.body, res.release);
        return;
    }
    int big = !head && res.body.len >= HTTP_BIG_BODY;
    reply(c, res.status, type, res.cache_control, NULL, res.body.data,
          res.body.len, head || big);
    if (big) {
        c->big = res.body;
        c->big_release = res.release;
    } else {
        body_release(&res.body, res.release);
    }
}

/* Makes the reply of the complete request in c. Auth comes before routing,
 * so that without the password no path can be told apart from another. */
static void serve(struct conn *c, http_parser *p)
{
    char *path, *query;
    if (target_split(c, &path, &query) < 0)
        return;
    http_handler *fn = route_find(path);
    if (strcmp(path, "/healthz") != 0 && !auth_ok(c->auth.data, c->auth.len))
        reply_error(c, 401, "the password (requirepass) is missing or wrong",
                    "WWW-Authenticate: Basic realm=\"tincan\"\r\n");
    else if (!fn)
        reply_error(c, 404, "no such path", NULL);
    else
        run_handler(c, p, fn, path, query);
    free(query);
    free(path);
}

/* Stops the parser after each reply that is the last one, or once enough
 * replies wait to be written; the rest of `in` is parsed after the write. */
#define HTTP_OUT_PAUSE (256 * 1024) /* bytes of replies */

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->in_request = 0;
    serve(c, p);
    if (c->closing || c->big.data || c->parts.n || c->out.len >= HTTP_OUT_PAUSE)
        http_parser_pause(p, 1);
    return 0;
}

/* Parses what `in` holds, answers what is complete, starts the write. */
static void process(struct conn *c)
{
    if (c->closing || c->in.len == 0) {
        flush(c);
        return;
    }
    size_t n =
        http_parser_execute(&c->parser, &settings, c->in.data, c->in.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&c->parser, 0);
        sbuf_consume(&c->in, n);
    } else if (e != HPE_OK) {
        sbuf_clear(&c->in);
        if (c->error)
            reply_error(c, c->error, c->why,
                        c->error == 405 ? "Allow: GET, HEAD\r\n" : NULL);
        else if (e == HPE_HEADER_OVERFLOW)
            reply_error(c, 431, "request headers too large", NULL);
        else
            reply_error(c, 400, http_errno_description(e), NULL);
    } else {
        sbuf_clear(&c->in);
    }
    if (!c->writing && !c->closing && !c->in_request && c->out.len == 0 &&
        !c->big.data && !c->parts.n)
        timer_set(c, cfg_idle_ms);
    flush(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    sbuf_reserve(&c->in, 16384);
    *buf = uv_buf_init(c->in.data + c->in.len, 16384);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = '\0';
    process(c);
}

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->conn;
    sbuf_deinit(&w->data);
    if (w->big.data)
        body_release(&w->big, w->big_release);
    parts_release(&w->parts);
    free(w);
    c->writing = 0;
    if (c->closed)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->closing || c->out.len) {
        flush(c); /* the rest, or the close after the last reply */
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (c->in.len)
        process(c);
    else
        timer_set(c, c->in_request ? cfg_timeout_ms : cfg_idle_ms);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->writing || !c->in_request) {
        /* a stalled write, or a keep-alive connection idle too long */
        if (c->writing)
            stats.timeouts++;
        conn_close(c);
        return;
    }
    stats.timeouts++;
    uv_read_stop((uv_stream_t *)&c->tcp);
    sbuf_clear(&c->in);
    reply_error(c, 408, "request not complete within http-timeout-ms", NULL);
    flush(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct conn *c = xcalloc(1, sizeof(*c));
    uv_tcp_init(net_loop(), &c->tcp);
    uv_timer_init(net_loop(), &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    sbuf_init(&c->in);
    sbuf_init(&c->out);
    sbuf_init(&c->url);
    sbuf_init(&c->field);
    sbuf_init(&c->auth);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (nconns > (size_t)cfg_max_conns) {
        stats.rejected++;
        reply_error(c, 503, "too many HTTP connections (http-max-connections)",
                    NULL);
        flush(c);
        return;
    }
    stats.connections++;
    /* a connection that sends nothing is held to the request deadline */
    c->in_request = 1;
    timer_set(c, cfg_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- listener ---- */

static void on_listener_closed(uv_handle_t *h)
{
    free(h);
}

static int http_listen(char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(cfg_bind, (int)cfg_port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(cfg_bind, (int)cfg_port, (struct sockaddr_in6 *)&sa) != 0) {
        snprintf(err, errlen, "http-bind '%s' is not an IP address", cfg_bind);
        return -1;
    }
    listener = xmalloc(sizeof(*listener));
    uv_tcp_init(net_loop(), listener);
    int rc = uv_tcp_bind(listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)listener, 128, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "http: cannot listen on %s:%lld: %s", cfg_bind,
                 (long long)cfg_port, uv_strerror(rc));
        uv_close((uv_handle_t *)listener, on_listener_closed);
        listener = NULL;
        return -1;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(listener, (struct sockaddr *)&bound, &len);
    listen_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

/* ---- module ---- */

static int http_start(char *err, size_t errlen)
{
    memset(&stats, 0, sizeof(stats));
    nroutes = 0;
    http_routes_register();
    http_parser_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    if (cfg_port == 0)
        return 0;
    if (http_listen(err, errlen) < 0)
        return -1;
    log_info("http listening on %s:%d", cfg_bind, listen_port);
    printf("tincan http port=%d\n", listen_port);
    fflush(stdout);
    return 0;
}

static void http_stop(void)
{
    if (listener) {
        uv_close((uv_handle_t *)listener, on_listener_closed);
        listener = NULL;
    }
    while (conns)
        conn_close(conns);
}

static void http_info(struct sbuf *out, const char *section)
{
    if (strcmp(section, "http") != 0)
        return;
    sbuf_addf(
        out,
        "http_port:%d\r\nhttp_connections:%zu\r\n"
        "http_connections_total:%llu\r\nhttp_rejected_connections:%llu\r\n"
        "http_requests:%llu\r\nhttp_responses_2xx:%llu\r\n"
        "http_responses_3xx:%llu\r\nhttp_responses_4xx:%llu\r\n"
        "http_responses_5xx:%llu\r\nhttp_timeouts:%llu\r\n",
        listener ? listen_port : 0, nconns,
        (unsigned long long)stats.connections,
        (unsigned long long)stats.rejected, (unsigned long long)stats.requests,
        (unsigned long long)stats.responses[2],
        (unsigned long long)stats.responses[3],
        (unsigned long long)stats.responses[4],
        (unsigned long long)stats.responses[5],
        (unsigned long long)stats.timeouts);
}

static const struct config_spec http_config[] = {
    {"http-port", CONFIG_INT, &cfg_port, "0", 0, 65535, NULL, 0, 0, NULL,
     "TCP port of the operations HTTP listener (/healthz, /metrics, the "
     "console); 0 = off. The start fails if it cannot be bound"},
    {"http-bind", CONFIG_STRING, &cfg_bind, "127.0.0.1", 0, 0, NULL, 0, 0, NULL,
     "IP address the HTTP listener binds"},
    {"http-max-header-bytes", CONFIG_BYTES, &cfg_max_header, "8kb", 256, 65536,
     NULL, CONFIG_MUTABLE, 0, NULL,
     "bytes of one request's line and headers; more gets 431 and a close"},
    {"http-max-url-bytes", CONFIG_BYTES, &cfg_max_url, "2kb", 64, 65536, NULL,
     CONFIG_MUTABLE, 0, NULL,
     "bytes of one request target; a longer one gets 414 and a close"},
    {"http-max-body-bytes", CONFIG_BYTES, &cfg_max_body, "1kb", 0, 1048576,
     NULL, CONFIG_MUTABLE, 0, NULL,
     "bytes of a request body read and dropped; more gets 413 and a close"},
    {"http-timeout-ms", CONFIG_INT, &cfg_timeout_ms, "10000", 50, 3600000, NULL,
     CONFIG_MUTABLE, 0, NULL,
     "ms a client has to send one whole request (from connect or its first "
     "byte) or to take a reply; then 408 and a close"},
    {"http-idle-timeout-ms", CONFIG_INT, &cfg_idle_ms, "60000", 50, 3600000,
     NULL, CONFIG_MUTABLE, 0, NULL,
     "ms a keep-alive connection may wait between requests before it is "
     "closed"},
    {"http-max-connections", CONFIG_INT, &cfg_max_conns, "64", 1, 65536, NULL,
     CONFIG_MUTABLE, 0, NULL,
     "open HTTP connections; one more gets 503 and a close"},
};

const struct module http_module = {
    .name = "http",
    .config = http_config,
    .nconfig = ARRAY_LEN(http_config),
    .start = http_start,
    .stop = http_stop,
    .info = http_info,
};
